// Baton as visitors and agents use it, in Debian's Chromium, against the whole local Baton:
// the demo page, widget.js, the inbox, the webhook, triage, the router, the agent API, the survey.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { ADMIN_TOKEN, AGENT_ID, AGENT_TOKEN, BASE, api, browser, eventually, inboxAs, openFromQueue, savedConversation, screenshotPath, visitorSays, visitorThread } from "./support.mjs";

let chrome;

before(async () => {
  // The demo tenant's widget accepts this page's origin, and Ann (support) is online.
  await api(ADMIN_TOKEN, "PUT", "/v1/channels/widget", { allowed_origins: [BASE] });
  const ann = await api(ADMIN_TOKEN, "GET", `/v1/agents/${AGENT_ID}`);
  await api(ADMIN_TOKEN, "PUT", `/v1/agents/${AGENT_ID}`, {
    name: "Ann Agent",
    email: ann.email,
    role: "agent",
    teams: ["support"],
    max_open: 20,
    presence: "online",
  });
  // Routing picks among a team's members.
  await api(ADMIN_TOKEN, "PUT", "/v1/teams/support", { name: "Support", members: [AGENT_ID], strategy: "balanced" });
  chrome = await browser();
});

after(async () => {
  await chrome?.close();
});

async function openWidget() {
  const context = await chrome.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && errors.push(m.text()));
  page.on("response", (r) => r.status() >= 400 && errors.push(`${r.status()} ${r.url()}`));
  await page.goto(BASE + "/");
  await page.locator("#baton-widget .launcher").click();
  return { context, page, errors, widget: page.locator("#baton-widget") };
}

async function send(page, text) {
  const input = page.locator("#baton-widget textarea");
  await input.fill(text);
  await input.press("Enter");
}

test("a visitor gets the AI's answer, then a person in the same thread, then the survey", async () => {
  const { context, page, errors, widget } = await openWidget();
  assert.equal(await page.title(), "Demo Shop · Baton");

  // The shop's loud button and header styles stay outside the shadow root.
  const launcherBg = await widget.locator(".launcher").evaluate((b) => getComputedStyle(b).backgroundColor);
  assert.equal(launcherBg, "rgb(47, 91, 234)");
  const headerCase = await widget.locator("header h2").evaluate((h) => getComputedStyle(h.parentElement).textTransform);
  assert.equal(headerCase, "none");

  // The typing indicator shows between the accepted message and the AI's answer.
  await widget.locator(".typing").evaluate((t) => {
    new MutationObserver(() => {
      if (!t.hidden) window.__typingSeen = true;
    }).observe(t, { attributes: true });
  });
  await send(page, "How long does delivery take?");
  const answer = widget.locator(".msg.assistant").first();
  await answer.waitFor({ timeout: 30000 });
  assert.match(await answer.innerText(), /3 to 5 business days/);
  assert.match(await answer.innerText(), /^AI assistant/);
  assert.equal(await page.evaluate(() => window.__typingSeen === true), true, "typing indicator shown");
  assert.equal(await widget.locator(".typing").isHidden(), true);
  // The visitor's own bubble was matched to the stored message: no copy, no "Sending…".
  await eventually("the visitor's message confirmed", async () => (await widget.locator(".msg.visitor .state").count()) === 0);
  assert.equal(await widget.locator(".msg.visitor").count(), 1);

  // A person, please: the handoff notice names the ticket.
  await send(page, "I would like to talk to a human please");
  const notice = widget.locator(".msg.system").first();
  await notice.waitFor({ timeout: 30000 });
  const number = Number(/#(\d+)/.exec(await notice.innerText())?.[1]);
  assert.ok(number > 0, "the notice names the ticket");

  // The router gives it to Ann, the online member of Support.
  const mine = await eventually("the ticket in Ann's queue", async () => {
    const q = await api(AGENT_TOKEN, "GET", "/v1/tickets?assignee=me");
    return q.items.find((t) => t.number === number);
  });
  assert.equal(mine.source, "widget");
  assert.equal(mine.team, "support");

  // Ann works in the inbox: the ticket is in her queue; she reads the thread and replies.
  const inbox = await inboxAs(chrome, "ann@demo.example");
  await openFromQueue(inbox.page, number);
  await inbox.page.locator(".thread .entry.customer", { hasText: "talk to a human" }).waitFor();
  await inbox.page.locator(".facts .customer").waitFor();
  await inbox.page.getByLabel("Reply to the customer").fill("Hi, Ann here. <b>Standard</b> delivery is 3 to 5 days.");
  await inbox.page.getByRole("button", { name: "Send reply" }).click();
  await inbox.page.locator(".thread .entry.agent", { hasText: "Ann here" }).waitFor();

  // The visitor sees it in the same thread, marked as a person's.
  const reply = widget.locator(".msg.agent").first();
  await reply.waitFor({ timeout: 30000 });
  assert.match(await reply.innerText(), /^Support team/);
  // Shown as text, never as markup.
  assert.match(await reply.innerText(), /<b>Standard<\/b>/);
  assert.equal(await reply.locator("b").count(), 0);
  const order = await widget.locator(".thread > .msg, .thread > .survey").evaluateAll((els) => els.map((e) => e.className));
  assert.deepEqual(order.slice(0, 5), ["msg visitor", "msg assistant", "msg visitor", "msg system", "msg agent"]);

  // Ann resolves in the inbox; the survey appears in the visitor's thread and takes the rating.
  await inbox.page.screenshot({ path: screenshotPath("inbox.png") });
  await inbox.page.getByRole("button", { name: "Resolve" }).click();
  await inbox.page.locator(".ticket-head .status", { hasText: "Resolved" }).waitFor();
  assert.deepEqual(inbox.errors, []);
  await inbox.context.close();
  const survey = widget.locator(".survey");
  await survey.waitFor({ timeout: 30000 });
  await survey.getByRole("button", { name: "Rate 5 of 5" }).click();
  await survey.locator(".thanks", { hasText: "You rated us 5 of 5" }).waitFor();
  const rated = await eventually("the rating on the ticket", async () => {
    const t = await api(AGENT_TOKEN, "GET", `/v1/tickets/${number}`);
    return t.surveys?.find((s) => s.rating === 5);
  });
  assert.equal(rated.channel, "widget");
  await page.screenshot({ path: screenshotPath("widget.png") });
  assert.deepEqual(errors, []);
  await context.close();
});

test("messages typed offline are sent once, in order, when the connection returns", async () => {
  const { context, page, errors, widget } = await openWidget();
  await send(page, "Hello, a question about returns");
  await eventually("the first message accepted", async () => (await savedConversation(page)) && (await widget.locator(".msg.visitor .state", { hasText: "Sending" }).count()) === 0);

  await context.setOffline(true);
  for (const t of ["offline one", "offline two", "offline three"]) await send(page, t);
  await widget.locator(".status", { hasText: "offline" }).waitFor();
  assert.equal(await widget.locator(".msg.visitor .state", { hasText: "Waiting for connection" }).count(), 3);

  // Back online, the first replay reaches the server but its answer is lost: the widget
  // sends it again under the same client id, and the server keeps one.
  let dropped = false;
  await page.route("**/widget/v1/conversations/*/messages", async (route) => {
    if (!dropped && route.request().method() === "POST") {
      dropped = true;
      await route.fetch();
      await route.abort("connectionreset");
      return;
    }
    await route.continue();
  });
  await context.setOffline(false);
  const conversation = await savedConversation(page);
  const mine = await eventually("all four messages stored", async () => {
    const thread = await visitorThread(conversation);
    const visitor = thread.filter((m) => m.from === "visitor");
    return visitor.length >= 4 && visitor;
  });
  await new Promise((r) => setTimeout(r, 4000)); // a late duplicate would show by now
  const visitor = (await visitorThread(conversation)).filter((m) => m.from === "visitor");
  assert.equal(dropped, true);
  assert.deepEqual(
    visitor.map((m) => m.text),
    ["Hello, a question about returns", "offline one", "offline two", "offline three"],
  );
  assert.equal(new Set(visitor.map((m) => m.client_message_id)).size, 4);
  assert.equal(mine.length, 4);
  await eventually("no message left pending", async () => (await widget.locator(".msg.visitor .state").count()) === 0);
  assert.equal(await widget.locator(".status").isHidden(), true);
  assert.equal(await widget.locator(".msg.visitor").count(), 4);
  assert.deepEqual(errors.filter((e) => !/ERR_INTERNET_DISCONNECTED|ERR_CONNECTION_RESET/.test(e)), []);
  await context.close();
});

test("two agents on one ticket: the second is shown the first's reply before hers goes out", async () => {
  await visitorSays("Please let me talk to a human about my parcel");
  const number = await eventually("the ticket in Ann's queue", async () => {
    const q = await api(AGENT_TOKEN, "GET", "/v1/tickets?assignee=me&sort=last_activity");
    return q.items.find((t) => t.customer.name === "Quinn")?.number;
  });
  const ann = await inboxAs(chrome, "ann@demo.example");
  await openFromQueue(ann.page, number);
  await ann.page.getByLabel("Reply to the customer").fill("Ann: I am looking into it now.");

  // Meanwhile the admin answers the same ticket.
  const t = await api(ADMIN_TOKEN, "GET", `/v1/tickets/${number}`);
  await api(ADMIN_TOKEN, "POST", `/v1/tickets/${number}/replies`, { version: t.ticket.version, text: "Admin: your parcel left today." });

  // Ann sends on the version she read: she is shown the admin's reply first.
  await ann.page.getByRole("button", { name: "Send reply" }).click();
  const dialog = ann.page.getByRole("alertdialog");
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /your parcel left today/);
  let replies = (await api(AGENT_TOKEN, "GET", `/v1/tickets/${number}`)).thread.filter((e) => e.kind === "message" && e.actor === "agent");
  assert.deepEqual(replies.map((e) => e.text), ["Admin: your parcel left today."], "nothing of Ann's went out unconfirmed");

  // She confirms: hers goes out after it, once.
  await dialog.getByRole("button", { name: "Send anyway" }).click();
  await ann.page.locator(".thread .entry.agent", { hasText: "I am looking into it now" }).waitFor();
  replies = (await api(AGENT_TOKEN, "GET", `/v1/tickets/${number}`)).thread.filter((e) => e.kind === "message" && e.actor === "agent");
  assert.deepEqual(replies.map((e) => e.text), ["Admin: your parcel left today.", "Ann: I am looking into it now."]);
  assert.equal(await ann.page.getByLabel("Reply to the customer").inputValue(), "");
  assert.deepEqual(ann.errors, []);
  await ann.context.close();
});
