// The widget: a launcher and one thread per visitor, in a shadow root of its own.
//
// Sending: every typed message goes to the outbox first (kept in localStorage with its
// client id), then the outbox is sent oldest first, one at a time. A message that gets
// no answer stays first in line and is sent again (same client id: the server takes it
// once) when the connection returns, so messages typed offline arrive once and in order.
//
// Receiving: the thread is polled with the server's cursor; AI answers, people's replies
// and Baton's notices are shown apart, a survey as buttons. Everything from the server
// is shown as text, never as HTML.

import { ApiError, type Started, type ThreadMessage, WidgetApi } from "./api";
import { type Pending, type Storage, WidgetState } from "./state";
import { CSS } from "./styles";

export interface WidgetOptions {
  api: string;
  widgetKey: string;
  title: string;
  storage: Storage | null;
}

const POLL_OPEN_MS = 1500;
const POLL_CLOSED_MS = 5000;
/** How long the typing indicator waits for the AI before giving up on it. */
const TYPING_MAX_MS = 30000;

const WHO: Record<ThreadMessage["from"], string> = {
  visitor: "You",
  assistant: "AI assistant",
  agent: "Support team",
  system: "",
};

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A speech bubble, drawn (no icon font or emoji needed on the visitor's machine). */
function chatIcon(): SVGSVGElement {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "26");
  svg.setAttribute("height", "26");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z");
  path.setAttribute("fill", "currentColor");
  svg.append(path);
  return svg;
}

export class Widget {
  private readonly api: WidgetApi;
  private readonly state: WidgetState;
  private readonly thread: HTMLElement;
  private readonly panel: HTMLElement;
  private readonly status: HTMLElement;
  private readonly typing: HTMLElement;
  private readonly badge: HTMLElement;
  private readonly input: HTMLTextAreaElement;
  private readonly launcher: HTMLButtonElement;
  /** Bubbles by server message id, and the visitor's not yet confirmed ones by client id. */
  private readonly shown = new Map<string, HTMLElement>();
  private readonly pending = new Map<string, HTMLElement>();
  private cursor: string | null = null;
  private flushing = false;
  private polling = false;
  private retryTimer: number | undefined;
  private pollTimer: number | undefined;
  /** Whether the AI answers the next message (until a handoff notice or a person's reply). */
  private aiAnswers = true;
  private waitingSince: number | null = null;
  private unread = 0;

  constructor(host: HTMLElement, opts: WidgetOptions) {
    this.api = new WidgetApi(opts.api.replace(/\/+$/, ""), opts.widgetKey);
    this.state = new WidgetState(opts.storage, `baton.widget.${opts.widgetKey}`);
    const root = host.attachShadow({ mode: "open" });
    if ("adoptedStyleSheets" in Document.prototype && "replaceSync" in CSSStyleSheet.prototype) {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } else {
      root.append(el("style", undefined, CSS));
    }

    this.launcher = el("button", "launcher");
    this.launcher.append(chatIcon());
    this.launcher.type = "button";
    this.launcher.setAttribute("aria-label", `Open chat: ${opts.title}`);
    this.launcher.setAttribute("aria-expanded", "false");
    this.badge = el("span", "badge");
    this.badge.hidden = true;
    this.launcher.append(this.badge);

    this.panel = el("section", "panel");
    this.panel.hidden = true;
    this.panel.setAttribute("role", "dialog");
    this.panel.setAttribute("aria-label", opts.title);
    const header = el("header");
    const close = el("button", undefined, "×");
    close.type = "button";
    close.setAttribute("aria-label", "Close chat");
    header.append(el("h2", undefined, opts.title), close);
    this.status = el("div", "status");
    this.status.hidden = true;
    this.status.setAttribute("role", "status");
    this.thread = el("div", "thread");
    this.thread.setAttribute("aria-live", "polite");
    this.typing = el("div", "typing");
    this.typing.hidden = true;
    this.typing.setAttribute("aria-label", "The assistant is typing");
    this.typing.append(el("span"), el("span"), el("span"));
    const form = el("form");
    this.input = el("textarea");
    this.input.placeholder = "Write a message…";
    this.input.setAttribute("aria-label", "Message");
    this.input.maxLength = 4000;
    const send = el("button", undefined, "Send");
    send.type = "submit";
    form.append(this.input, send);
    this.panel.append(header, this.status, this.thread, form);
    this.thread.append(this.typing);
    root.append(this.panel, this.launcher);

    this.launcher.addEventListener("click", () => this.toggle());
    close.addEventListener("click", () => this.toggle(false));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.submit();
    });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.submit();
      } else if (e.key === "Escape") {
        this.toggle(false);
      }
    });
    window.addEventListener("online", () => {
      this.flush();
      this.poll();
    });
    window.addEventListener("offline", () => this.setOffline(true));

    for (const p of this.state.outbox) this.renderPending(p);
    this.flush();
    this.poll();
  }

  private toggle(open = this.panel.hidden): void {
    this.panel.hidden = !open;
    this.launcher.setAttribute("aria-expanded", String(open));
    if (open) {
      this.unread = 0;
      this.badge.hidden = true;
      this.input.focus();
      this.scrollDown();
    }
    this.schedulePoll();
  }

  private submit(): void {
    const text = this.input.value.trim();
    if (!text) return;
    this.input.value = "";
    this.renderPending(this.state.enqueue(text, Date.now()));
    this.flush();
  }

  private async ensureConversation(): Promise<Started> {
    const existing = this.state.conversation;
    if (existing) return existing;
    const started = await this.api.start();
    this.state.conversation = started;
    this.cursor = null;
    return started;
  }

  /** Sends the outbox, oldest first; stops at the first message that got no answer. */
  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    window.clearTimeout(this.retryTimer);
    let restarts = 0;
    try {
      for (;;) {
        const next = this.state.outbox[0];
        if (!next) break;
        try {
          const conversation = await this.ensureConversation();
          await this.api.send(conversation, next.client_message_id, next.text);
          this.state.settle(next.client_message_id);
          this.setOffline(false);
          this.markPending(next.client_message_id, "Sent");
          if (this.aiAnswers) this.startTyping();
          this.schedulePoll(0);
        } catch (e) {
          if (!(e instanceof ApiError)) throw e;
          const f = e.failure;
          if (f.kind === "rejected") {
            // Never accepted, whatever we do: say so, and go on with the rest.
            this.state.settle(next.client_message_id);
            this.markPending(next.client_message_id, `Not sent: ${f.message}`, true);
            continue;
          }
          if (f.kind === "session" && restarts === 0) {
            // The token expired: a new conversation carries the rest of the outbox.
            restarts += 1;
            this.state.conversation = null;
            continue;
          }
          this.setOffline(f.kind === "network");
          this.retryTimer = window.setTimeout(() => this.flush(), f.kind === "later" ? f.retryAfter * 1000 : 3000);
          break;
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private schedulePoll(delay = this.panel.hidden ? POLL_CLOSED_MS : POLL_OPEN_MS): void {
    window.clearTimeout(this.pollTimer);
    this.pollTimer = window.setTimeout(() => this.poll(), delay);
  }

  private async poll(): Promise<void> {
    const conversation = this.state.conversation;
    if (this.polling || !conversation) {
      if (!conversation) this.schedulePoll();
      return;
    }
    this.polling = true;
    let more = false;
    try {
      const page = await this.api.poll(conversation, this.cursor);
      if (this.state.conversation !== conversation) return;
      for (const m of page.messages) this.render(m);
      this.cursor = page.cursor ?? this.cursor;
      more = page.messages.length >= 100;
      this.setOffline(false);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      if (e.failure.kind === "session") this.state.conversation = null;
      if (e.failure.kind === "network") this.setOffline(true);
    } finally {
      this.polling = false;
      this.updateTyping();
      this.schedulePoll(more ? 0 : undefined);
    }
  }

  private render(m: ThreadMessage): void {
    if (this.shown.has(m.id)) return;
    if (m.from === "visitor" && m.client_message_id) {
      const mine = this.pending.get(m.client_message_id);
      if (mine) {
        this.pending.delete(m.client_message_id);
        this.shown.set(m.id, mine);
        mine.querySelector(".state")?.remove();
        return;
      }
    }
    const bubble = m.survey ? this.surveyBubble(m) : this.bubble(m.from, m.text);
    this.shown.set(m.id, bubble);
    // Before the visitor's messages still on their way: those are the newest.
    const firstPending = this.pending.values().next().value;
    this.append(bubble, firstPending);
    if (m.from !== "visitor") {
      this.waitingSince = null;
      // A handoff notice or a person's reply: people answer from here on, until a
      // survey says the case is resolved.
      if (m.survey) this.aiAnswers = true;
      else if (m.from !== "assistant") this.aiAnswers = false;
      if (this.panel.hidden) {
        this.unread += 1;
        this.badge.textContent = String(this.unread);
        this.badge.hidden = false;
      }
    }
  }

  private bubble(from: ThreadMessage["from"], text: string): HTMLElement {
    const b = el("div", `msg ${from}`);
    if (WHO[from]) b.append(el("span", "who", WHO[from]));
    b.append(document.createTextNode(text));
    return b;
  }

  private surveyBubble(m: ThreadMessage): HTMLElement {
    const ask = m.survey!;
    const box = el("div", "survey");
    box.append(el("p", undefined, m.text));
    const row = el("div", "ratings");
    row.setAttribute("role", "group");
    row.setAttribute("aria-label", "Rating from 1 (poor) to 5 (great)");
    const thanks = el("div", "thanks");
    const buttons = ask.ratings.map((r) => {
      const b = el("button", undefined, String(r));
      b.type = "button";
      b.setAttribute("aria-pressed", "false");
      b.setAttribute("aria-label", `Rate ${r} of 5`);
      b.addEventListener("click", async () => {
        const conversation = this.state.conversation;
        if (!conversation) return;
        try {
          await this.api.answerSurvey(conversation, ask, r);
          for (const o of buttons) o.setAttribute("aria-pressed", String(o === b));
          thanks.textContent = `Thank you! You rated us ${r} of 5.`;
        } catch (e) {
          thanks.textContent =
            e instanceof ApiError && e.failure.kind === "rejected"
              ? `Your rating was not recorded: ${e.failure.message}`
              : "Your rating could not be sent; please try again.";
        }
      });
      return b;
    });
    row.append(...buttons);
    box.append(row, thanks);
    return box;
  }

  private renderPending(p: Pending): void {
    const b = this.bubble("visitor", p.text);
    b.append(el("span", "state", navigator.onLine ? "Sending…" : "Waiting for connection…"));
    this.pending.set(p.client_message_id, b);
    this.append(b);
  }

  private markPending(clientMessageId: string, state: string, failed = false): void {
    const b = this.pending.get(clientMessageId);
    if (!b) return;
    const s = b.querySelector(".state") ?? b.appendChild(el("span", "state"));
    s.textContent = state;
    if (failed) {
      b.classList.add("failed");
      this.pending.delete(clientMessageId);
    }
  }

  private append(node: HTMLElement, before: HTMLElement = this.typing): void {
    this.thread.insertBefore(node, before);
    this.scrollDown();
  }

  private scrollDown(): void {
    this.thread.scrollTop = this.thread.scrollHeight;
  }

  private startTyping(): void {
    this.waitingSince = Date.now();
    this.updateTyping();
  }

  private updateTyping(): void {
    const on = this.waitingSince !== null && this.aiAnswers && Date.now() - this.waitingSince < TYPING_MAX_MS;
    if (!on) this.waitingSince = null;
    this.typing.hidden = !on;
    if (on) this.scrollDown();
  }

  private setOffline(offline: boolean): void {
    this.status.hidden = !offline;
    this.status.textContent = offline ? "You are offline. Your messages will be sent when the connection is back." : "";
    for (const b of this.pending.values()) {
      const s = b.querySelector(".state");
      if (s && !b.classList.contains("failed") && s.textContent !== "Sent") {
        s.textContent = offline ? "Waiting for connection…" : "Sending…";
      }
    }
  }
}
