// What the browser tests share: Debian's Chromium under Playwright, the running Baton
// (tests/browser.rs starts it and passes its address and tokens), and polling helpers.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

export const BASE = required("BATON_URL");
export const ADMIN_TOKEN = required("BATON_ADMIN_TOKEN");
export const AGENT_TOKEN = required("BATON_AGENT_TOKEN");
export const AGENT_ID = required("BATON_AGENT_ID");
export const ARTIFACTS = process.env.BATON_ARTIFACTS || "e2e-artifacts";

function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (tests/browser.rs sets it)`);
  return v;
}

/** Headless Chromium from /usr/bin/chromium: no browser download, no background traffic. */
export async function browser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

export function screenshotPath(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}

/** One agent-API call; throws with the body on an unexpected status. */
export async function api(token, method, path, body, expect = [200, 201, 202, 204]) {
  const res = await fetch(BASE + path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!expect.includes(res.status)) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** `check()` until it returns something truthy, or fail after `seconds`. */
export async function eventually(what, check, seconds = 30, everyMs = 500) {
  const until = Date.now() + seconds * 1000;
  let last;
  while (Date.now() < until) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

/** The widget's saved conversation in this page (what localStorage holds). */
export async function savedConversation(page) {
  return page.evaluate(() => JSON.parse(localStorage.getItem("baton.widget.wk_demo") || "null")?.conversation);
}

/** The thread as the widget API returns it to this visitor. */
export async function visitorThread(conversation) {
  const res = await fetch(`${BASE}/widget/v1/conversations/${conversation.conversation_id}/messages?limit=100`, {
    headers: { authorization: `Bearer ${conversation.visitor_token}`, origin: BASE },
  });
  if (!res.ok) throw new Error(`poll: ${res.status}`);
  return (await res.json()).messages;
}
