// Entry point of widget.js: `<script src=".../widget.js" data-widget-key="wk_…" async>`.
// Optional: `data-api` (the Baton API's base URL; default the script's own origin) and
// `data-title` (the panel's heading).

import { Widget } from "./widget";

function storage(): Storage | null {
  try {
    const s = window.localStorage;
    s.getItem("baton.probe");
    return s;
  } catch {
    return null;
  }
}

function mount(script: HTMLScriptElement): void {
  const widgetKey = script.dataset.widgetKey;
  if (!widgetKey) {
    console.error("Baton widget: the script tag needs data-widget-key");
    return;
  }
  const api = script.dataset.api || new URL(script.src, document.baseURI).origin;
  const host = document.createElement("div");
  host.id = "baton-widget";
  document.body.append(host);
  new Widget(host, { api, widgetKey, title: script.dataset.title || "Chat with us", storage: storage() });
}

const script = document.currentScript as HTMLScriptElement | null;
if (script) {
  if (document.body) mount(script);
  else document.addEventListener("DOMContentLoaded", () => mount(script), { once: true });
} else {
  console.error("Baton widget: load widget.js with a plain <script> tag");
}
