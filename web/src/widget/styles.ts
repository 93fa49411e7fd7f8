// The widget's own styles, inside its shadow root: nothing from the host page reaches
// them (`:host { all: initial }`), and nothing here reaches the host page.

export const CSS = `
:host { all: initial; position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d2330; }
* { box-sizing: border-box; }
button { font: inherit; cursor: pointer; }
.launcher { width: 56px; height: 56px; border-radius: 50%; border: 0; background: #2f5bea; color: #fff;
  box-shadow: 0 4px 14px rgba(0,0,0,.25); position: relative; display: grid; place-items: center; }
.launcher:focus-visible, .panel button:focus-visible, textarea:focus-visible { outline: 3px solid #9db4ff; outline-offset: 2px; }
.badge { position: absolute; top: -2px; right: -2px; min-width: 20px; height: 20px; border-radius: 10px;
  background: #e5484d; color: #fff; font-size: 12px; line-height: 20px; padding: 0 5px; }
.badge[hidden] { display: none; }
.panel { position: absolute; right: 0; bottom: 72px; width: 360px; max-width: calc(100vw - 40px);
  height: 520px; max-height: calc(100vh - 120px); background: #fff; border-radius: 12px;
  box-shadow: 0 8px 30px rgba(0,0,0,.25); display: flex; flex-direction: column; overflow: hidden; }
.panel[hidden] { display: none; }
header { background: #2f5bea; color: #fff; padding: 12px 14px; display: flex; align-items: center; justify-content: space-between; }
header h2 { font-size: 15px; margin: 0; font-weight: 600; }
header button { background: transparent; border: 0; color: #fff; font-size: 20px; line-height: 1; }
.status { font-size: 12px; padding: 6px 14px; background: #fff4d6; color: #6b4e00; }
.status[hidden] { display: none; }
.thread { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 8px; background: #f6f7fb; }
.msg { max-width: 85%; padding: 8px 10px; border-radius: 10px; white-space: pre-wrap; overflow-wrap: anywhere; }
.msg .who { display: block; font-size: 11px; font-weight: 600; opacity: .75; margin-bottom: 2px; }
.msg .state { display: block; font-size: 11px; opacity: .7; margin-top: 2px; text-align: right; }
.msg.visitor { align-self: flex-end; background: #2f5bea; color: #fff; }
.msg.visitor.failed { background: #b42318; }
.msg.assistant { align-self: flex-start; background: #fff; border: 1px solid #dfe3ee; }
.msg.agent { align-self: flex-start; background: #e8f5ec; border: 1px solid #b9e0c5; }
.msg.system { align-self: center; max-width: 95%; background: transparent; font-size: 12px; color: #4a5366; text-align: center; }
.survey { align-self: stretch; background: #fff; border: 1px solid #dfe3ee; border-radius: 10px; padding: 10px; }
.survey p { margin: 0 0 8px; }
.survey .ratings { display: flex; gap: 6px; }
.survey .ratings button { flex: 1; padding: 6px 0; border: 1px solid #c6cde0; background: #fff; border-radius: 6px; }
.survey .ratings button[aria-pressed="true"] { background: #2f5bea; color: #fff; border-color: #2f5bea; }
.survey .thanks { margin-top: 6px; font-size: 12px; color: #2b6b3f; }
.typing { align-self: flex-start; font-size: 12px; color: #4a5366; padding: 4px 10px; }
.typing[hidden] { display: none; }
.typing span { display: inline-block; width: 6px; height: 6px; margin-right: 3px; border-radius: 50%; background: #8a93a8;
  animation: blink 1.2s infinite ease-in-out; }
.typing span:nth-child(2) { animation-delay: .2s; } .typing span:nth-child(3) { animation-delay: .4s; }
@keyframes blink { 0%, 80%, 100% { opacity: .3 } 40% { opacity: 1 } }
form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e3e6ef; background: #fff; }
textarea { flex: 1; resize: none; height: 40px; border: 1px solid #c6cde0; border-radius: 8px; padding: 9px 10px; font: inherit; }
form button { border: 0; background: #2f5bea; color: #fff; border-radius: 8px; padding: 0 14px; }
@media (max-width: 480px) {
  :host { right: 12px; bottom: 12px; }
  .panel { position: fixed; inset: 0; width: auto; max-width: none; height: auto; max-height: none; border-radius: 0; }
}
`;
