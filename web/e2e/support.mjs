// What the browser tests share: Debian's Chromium under Playwright, the running Baton
// (tests/browser.rs starts it and passes its address and tokens), and polling helpers.
import { chromium } from "playwright-core";
import { createHmac } from "node:crypto";
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

/** An agent signed in to the inbox with the local sign-in, in a context of their own. */
export async function inboxAs(chrome, email, role = "agent") {
  const context = await chrome.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("response", (r) => r.status() >= 400 && r.status() !== 409 && errors.push(`${r.status()} ${r.url()}`));
  await page.goto(BASE + "/inbox/");
  await page.getByLabel("E-mail").fill(email);
  await page.getByLabel("Role").selectOption(role);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Get next ticket" }).waitFor();
  return { context, page, errors };
}

/** Opens ticket `number` from the inbox queue (it appears there by polling). */
export async function openFromQueue(page, number) {
  const row = page.locator(`.rows [data-ticket="${number}"]`);
  await row.waitFor({ timeout: 30000 });
  await row.click();
  try {
    await page.locator(".ticket-head h1", { hasText: `#${number}` }).waitFor({ timeout: 15000 });
  } catch (e) {
    await page.screenshot({ path: screenshotPath(`failed-open-${number}.png`) });
    throw new Error(`ticket #${number} did not open; the page says: ${(await page.locator("main.ticket").innerText()).slice(0, 400)}`);
  }
}

/** A widget conversation started and written to through the widget API, as a visitor's browser would. */
export async function visitorSays(text) {
  const headers = { "content-type": "application/json", origin: BASE };
  const start = await fetch(`${BASE}/widget/v1/conversations`, { method: "POST", headers, body: JSON.stringify({ widget_key: "wk_demo", name: "Quinn" }) });
  if (start.status !== 201) throw new Error(`start: ${start.status}`);
  const c = await start.json();
  const sent = await fetch(`${BASE}/widget/v1/conversations/${c.conversation_id}/messages`, {
    method: "POST",
    headers: { ...headers, authorization: `Bearer ${c.visitor_token}` },
    body: JSON.stringify({ client_message_id: "q-1", text }),
  });
  if (sent.status !== 202) throw new Error(`send: ${sent.status}`);
  return c;
}

/** A WhatsApp customer's text as Meta delivers it to the webhook, signed with the app secret. */
export async function whatsappSays(from, name, id, text) {
  const now = Math.floor(Date.now() / 1000);
  await whatsappWebhook({
    contacts: [{ profile: { name }, wa_id: from }],
    messages: [{ from, id, timestamp: String(now), type: "text", text: { body: text } }],
  });
}

/** Meta's status update for a message Baton sent (`sent`, `delivered`, `read`, `failed`). */
export async function whatsappStatus(id, status, recipient) {
  const now = Math.floor(Date.now() / 1000);
  await whatsappWebhook({ statuses: [{ id, status, timestamp: String(now), recipient_id: recipient }] });
}

async function whatsappWebhook(value) {
  const body = JSON.stringify({
    object: "whatsapp_business_account",
    entry: [{ id: "102290129340398", changes: [{ field: "messages", value: {
      messaging_product: "whatsapp",
      metadata: { display_phone_number: "15550783881", phone_number_id: "100000000000001" },
      ...value,
    } }] }],
  });
  const signature = createHmac("sha256", required("BATON_WHATSAPP_APP_SECRET")).update(body).digest("hex");
  const res = await fetch(`${BASE}/webhooks/whatsapp`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-hub-signature-256": `sha256=${signature}` },
    body,
  });
  if (res.status !== 200) throw new Error(`webhook: ${res.status} ${await res.text()}`);
}

/** What the Graph API stand-in was sent (the senders' requests, oldest first). */
export async function graphRequests() {
  const res = await fetch(`${required("BATON_GRAPH_URL")}/_baton/requests`);
  return (await res.json()).requests;
}

/**
 * A raw message through the runner's local mail drop, as SES's receipt rule hands mail for
 * the inbound domain to the inbound-email function; what the function made of it
 * (`{ outcome: "queued" | "duplicate" | "quarantined" | "ignored", … }`).
 */
export async function mailArrives(to, raw) {
  const res = await fetch(`${BASE}/_baton/mail?to=${encodeURIComponent(to)}`, {
    method: "POST",
    headers: { "content-type": "message/rfc822" },
    body: raw,
  });
  if (res.status !== 202) throw new Error(`mail drop: ${res.status} ${await res.text()}`);
  return (await res.json()).result.results[0];
}

/** The messages the local endpoint's SES was given to send, parsed into headers and raw text. */
export async function sentMail() {
  const res = await fetch(`${required("BATON_AWS_URL")}/moto-api/data.json`);
  const data = await res.json();
  return (data.ses?.RawMessage ?? []).map((m) => {
    const raw = m.raw_data;
    const head = raw.split(/\r?\n\r?\n/)[0].replace(/\r?\n[ \t]+/g, " ");
    const headers = {};
    for (const line of head.split(/\r?\n/)) {
      const at = line.indexOf(":");
      if (at > 0) headers[line.slice(0, at).trim().toLowerCase()] = line.slice(at + 1).trim();
    }
    return { headers, raw };
  });
}

/** The bare address in a header value such as `"Demo Shop" <support+x@…>`. */
export function address(header) {
  return (/<([^>]+)>/.exec(header ?? "")?.[1] ?? header ?? "").trim();
}
