// Baton as visitors and agents use it, in Debian's Chromium, against the whole local Baton:
// the demo page, widget.js, the inbox, the webhook, triage, the router, the agent API, the survey.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ADMIN_TOKEN, AGENT_ID, AGENT_TOKEN, BASE, address, api, browser, eventually, graphRequests, inboxAs, mailArrives, openFromQueue, savedConversation, screenshotPath, sentMail, visitorSays, visitorThread, whatsappSays, whatsappStatus } from "./support.mjs";

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

test("a WhatsApp customer asks for a person; the agent's reply from the inbox reaches the Graph API", async () => {
  await whatsappSays("16505551234", "Sheena Nelson", `wamid.e2e-${Date.now()}`, "I need to speak to a person about my order please");
  const number = await eventually("the WhatsApp ticket in Ann's queue", async () => {
    const q = await api(AGENT_TOKEN, "GET", "/v1/tickets?assignee=me&channel=whatsapp");
    return q.items.find((t) => t.customer.name === "Sheena Nelson")?.number;
  });
  const ann = await inboxAs(chrome, "ann@demo.example");
  await ann.page.getByLabel("Channel").selectOption("whatsapp");
  await openFromQueue(ann.page, number);
  await ann.page.locator(".facts .customer", { hasText: "16505551234" }).waitFor();
  await ann.page.getByLabel("Reply to the customer").fill("Hi Sheena, Ann here: your order #1001 is with DHL.");
  await ann.page.keyboard.press("Control+Enter");
  await ann.page.locator(".thread .entry.agent", { hasText: "is with DHL" }).waitFor();
  const sent = await eventually("the reply at the Graph API", async () =>
    (await graphRequests()).find((r) => r.channel === "whatsapp" && JSON.stringify(r.body).includes("your order #1001 is with DHL")),
  );
  assert.equal(sent.body.to, "16505551234");
  assert.equal(sent.body.type, "text");
  assert.match(sent.path, /\/100000000000001\/messages$/);
  // The thread shows it went, and the facts that the 24-hour window is open.
  const reply = ann.page.locator(".thread .entry.agent", { hasText: "is with DHL" });
  await reply.locator(".delivery", { hasText: "Sent" }).waitFor();
  // Meta reports it read: the thread says so without a reload.
  await whatsappStatus(sent.answer.messages[0].id, "read", "16505551234");
  await reply.locator(".delivery.read", { hasText: "Read" }).waitFor({ timeout: 20000 });
  // Her first ticket: no others yet.
  assert.match(await ann.page.getByLabel("Past tickets").innerText(), /first/);
  assert.match(await ann.page.getByLabel("Reply window").innerText(), /Reply window: open[\s\S]*closes in 2[34] h/i);
  assert.deepEqual(ann.errors, []);
  await ann.context.close();
});

test("an SLA breach the sweep finds shows in the inbox", async () => {
  // Urgent tickets: one minute to a first response (the demo's other policies stay).
  const sla = await api(ADMIN_TOKEN, "GET", "/v1/sla");
  sla.policies = [
    { id: "e2e-urgent", name: "Urgent (e2e)", conditions: [{ field: "priority", any: ["urgent"] }], targets: { first_response_minutes: 1 } },
    ...sla.policies.filter((p) => p.id !== "e2e-urgent"),
  ];
  await api(ADMIN_TOKEN, "PUT", "/v1/sla", sla);
  await visitorSays("Please get me a human, this is urgent");
  const number = await eventually("the ticket in Ann's queue", async () => {
    const q = await api(AGENT_TOKEN, "GET", "/v1/tickets?assignee=me&sort=last_activity");
    return q.items.find((t) => t.customer.name === "Quinn" && t.status === "open")?.number;
  });
  const t = await api(ADMIN_TOKEN, "GET", `/v1/tickets/${number}`);
  await api(ADMIN_TOKEN, "PATCH", `/v1/tickets/${number}`, { version: t.ticket.version, priority: "urgent" });

  // The sweep runs every two seconds here; the target falls due a minute after the handoff.
  const mark = await eventually(
    "the sweep's breach mark",
    async () => (await api(AGENT_TOKEN, "GET", `/v1/tickets/${number}`)).thread.find((e) => e.event === "sla_breached"),
    150,
    2000,
  );
  assert.equal(mark.detail.target, "first_response");

  const ann = await inboxAs(chrome, "ann@demo.example");
  await ann.page.getByLabel("SLA").selectOption("breached");
  const row = ann.page.locator(`.rows [data-ticket="${number}"]`, { hasText: "breached" });
  await row.waitFor({ timeout: 30000 });
  assert.match(await row.innerText(), /breached/);
  // Only breached tickets are listed under that filter (once the filtered queue has loaded).
  await eventually("a queue of breached tickets only", async () =>
    (await ann.page.locator(".rows .sla").allInnerTexts()).every((text) => /^breached/.test(text)),
  );
  await openFromQueue(ann.page, number);
  await ann.page.locator(".thread .event.sla_breached", { hasText: "First response target breached" }).waitFor();
  assert.match(await ann.page.locator(".facts .sla").innerText(), /First response: breached/);
  await ann.page.screenshot({ path: screenshotPath("inbox-sla-breach.png") });
  assert.deepEqual(ann.errors, []);
  await ann.context.close();
});

test("an e-mail to the support alias becomes a ticket; the customer's answer to the agent's reply lands on it", async () => {
  const stamp = Date.now();
  const first = [
    "From: Mira Jensen <mira.jensen@example.net>",
    "To: Demo Shop Support <support+demo@inbound.baton.local>",
    "Subject: Zipper broke on my jacket",
    `Message-ID: <e2e-${stamp}-1@mail.example.net>`,
    `Date: ${new Date().toUTCString().replace("GMT", "+0000")}`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=UTF-8",
    "",
    "Hello, the zipper of the jacket from order #1002 broke after two days.",
    "I would like to talk to a person about a replacement please.",
    "",
    "Mira",
    "",
  ].join("\r\n");
  const got = await mailArrives("support+demo@inbound.baton.local", first);
  assert.equal(got.outcome, "queued", JSON.stringify(got));
  const number = await eventually("the e-mail ticket in Ann's queue", async () => {
    const q = await api(AGENT_TOKEN, "GET", "/v1/tickets?assignee=me&channel=email");
    return q.items.find((t) => t.customer.name === "Mira Jensen")?.number;
  });

  const ann = await inboxAs(chrome, "ann@demo.example");
  await ann.page.getByLabel("Channel").selectOption("email");
  await openFromQueue(ann.page, number);
  await ann.page.locator(".thread .entry.customer", { hasText: "zipper of the jacket" }).waitFor();
  await ann.page.getByLabel("Reply to the customer").fill("Hi Mira, sorry about that: a new jacket is on its way today.");
  await ann.page.getByRole("button", { name: "Send reply" }).click();
  await ann.page.locator(".thread .entry.agent", { hasText: "new jacket is on its way" }).waitFor();

  // The reply leaves through SES with the ticket's own reply address.
  const reply = await eventually("the reply handed to SES", async () =>
    (await sentMail()).find((m) => address(m.headers.to) === "mira.jensen@example.net" && m.raw.includes("new jacket"))
  );
  const alias = address(reply.headers["reply-to"]);
  assert.match(alias, /@inbound\.baton\.local$/);
  assert.notEqual(alias, "support+demo@inbound.baton.local", "a ticket's own alias, not the support address");
  assert.match(reply.headers["in-reply-to"] ?? "", new RegExp(`e2e-${stamp}-1@mail\\.example\\.net`));

  const answer = [
    "From: Mira Jensen <mira.jensen@example.net>",
    `To: ${reply.headers["reply-to"]}`,
    "Subject: Re: Zipper broke on my jacket",
    `Message-ID: <e2e-${stamp}-2@mail.example.net>`,
    `In-Reply-To: ${reply.headers["message-id"]}`,
    `References: <e2e-${stamp}-1@mail.example.net> ${reply.headers["message-id"]}`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=UTF-8",
    "",
    "Wonderful, thank you! Should I send the broken one back?",
    "",
    "On Mon, Ann wrote:",
    "> Hi Mira, sorry about that: a new jacket is on its way today.",
    "",
  ].join("\r\n");
  const back = await mailArrives(alias, answer);
  assert.equal(back.outcome, "queued", JSON.stringify(back));
  // The open ticket says it changed (the pane polls); shown, the answer is on this ticket.
  await ann.page.locator(".changed", { hasText: "This ticket changed" }).waitFor({ timeout: 30000 });
  await ann.page.getByRole("button", { name: "Show the changes" }).click();
  await ann.page.locator(".thread .entry.customer", { hasText: "Should I send the broken one back?" }).waitFor();
  // No other ticket was opened for it.
  const mine = await api(AGENT_TOKEN, "GET", "/v1/tickets?assignee=me&channel=email");
  assert.deepEqual(mine.items.filter((t) => t.customer.name === "Mira Jensen").map((t) => t.number), [number]);
  const detail = await api(AGENT_TOKEN, "GET", `/v1/tickets/${number}`);
  const said = detail.thread.filter((e) => e.actor === "customer" && e.kind === "message").map((e) => e.text);
  assert.equal(said.length, 2, JSON.stringify(said));
  assert.ok(!said[1].includes("> Hi Mira"), "the quoted history is not part of the new message");
  assert.deepEqual(ann.errors, []);
  await ann.context.close();
});

test("an admin reads the reports, exports the team CSV with the API's totals, and drafts an article from a knowledge gap", async () => {
  // Two customers ask a question the knowledge base does not cover, in their own words.
  const stamp = Date.now();
  await whatsappSays("16505550101", "Gwen Park", `wamid.gap-${stamp}-1`, "Do you offer gift wrapping?");
  await whatsappSays("16505550102", "Omar Haddad", `wamid.gap-${stamp}-2`, "Can you gift wrap my order please?");
  const gifts = await eventually("both gift-wrapping tickets", async () => {
    const q = await api(ADMIN_TOKEN, "GET", "/v1/tickets?channel=whatsapp");
    const found = q.items.filter((t) => ["Gwen Park", "Omar Haddad"].includes(t.customer.name));
    return found.length === 2 && found;
  });
  const gwen = gifts.find((t) => t.customer.name === "Gwen Park");
  const t = await api(ADMIN_TOKEN, "GET", `/v1/tickets/${gwen.number}`);
  await api(ADMIN_TOKEN, "POST", `/v1/tickets/${gwen.number}/takeover`, { version: t.ticket.version });
  const taken = await api(ADMIN_TOKEN, "GET", `/v1/tickets/${gwen.number}`);
  await api(ADMIN_TOKEN, "POST", `/v1/tickets/${gwen.number}/replies`, {
    version: taken.ticket.version,
    text: "Yes: gift wrapping is 3 EUR per order; tick gift wrap at checkout.",
  });
  const gap = await eventually(
    "the gift-wrapping knowledge gap",
    async () => (await api(ADMIN_TOKEN, "GET", "/v1/reports/gaps")).items.find((g) => /gift wrap/i.test(g.label) && g.conversations >= 2),
    60,
    1000,
  );

  const admin = await inboxAs(chrome, "admin@demo.example", "admin");
  const page = admin.page;
  await page.getByRole("link", { name: "Admin" }).click();
  await page.getByRole("heading", { name: "AI", exact: true }).waitFor();
  // The AI report's numbers are the API's, and its charts are drawn.
  const ai = await api(ADMIN_TOKEN, "GET", "/v1/reports/ai?by=channel");
  assert.equal(await page.locator('[data-kpi="conversations"]').innerText(), String(ai.total.conversations));
  assert.ok(ai.total.conversations >= 4, JSON.stringify(ai.total));
  await page.getByRole("img", { name: "Handoffs by reason" }).waitFor();
  assert.ok((await page.locator('svg[aria-label="Handoffs by reason"] .bar').count()) >= 1);

  // The team CSV's last row is the total the API reports.
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Export team CSV" }).click()]);
  const csv = readFileSync(await download.path(), "utf8").trim().split(/\r?\n/).map((l) => l.split(","));
  const team = await api(ADMIN_TOKEN, "GET", "/v1/reports/team?by=agent");
  const total = csv.at(-1);
  assert.equal(total[0], "all");
  for (const column of ["resolved", "human_replies", "assignments"]) {
    assert.equal(Number(total[csv[0].indexOf(column)]), team.total[column], column);
  }

  // "Draft an article" on the gap: the article starts from its questions and the reply.
  const row = page.locator(`tr[data-gap="${gap.id}"]`);
  await row.waitFor();
  await page.screenshot({ path: screenshotPath("reports.png"), fullPage: true });
  await row.getByRole("button", { name: "Draft an article" }).click();
  await page.locator(".notice-inline", { hasText: "Drafted from the knowledge gap" }).waitFor();
  assert.match(await page.getByLabel("Body").inputValue(), /gift wrapping is 3 EUR/);
  assert.match(await page.getByLabel("Questions it answers (one per line)").inputValue(), /gift wrap/i);
  await page.getByLabel("Title").fill("Gift wrapping");
  await page.getByRole("button", { name: "Create article" }).click();
  await page.getByText("Gift wrapping: saved.").waitFor();
  await page.locator(".list strong", { hasText: "Gift wrapping" }).waitFor();
  const covered = await eventually("the gap covered by the article", async () =>
    (await api(ADMIN_TOKEN, "GET", "/v1/reports/gaps")).items.find((g) => g.id === gap.id && g.covered),
  );
  assert.ok(covered.covered.article_id);
  assert.deepEqual(admin.errors, []);
  await admin.context.close();
});

test("an admin previews where a ticket would be routed and what the AI would answer", async () => {
  const admin = await inboxAs(chrome, "admin@demo.example", "admin");
  const page = admin.page;
  await page.goto(BASE + "/inbox/#/admin/routing");
  await page.getByLabel("Sample message").fill("I want a refund for my broken order");
  await page.getByRole("button", { name: "Explain" }).click();
  const explained = page.getByLabel("Routing explanation");
  await explained.waitFor();
  const expected = await api(ADMIN_TOKEN, "POST", "/v1/routing/preview", { text: "I want a refund for my broken order", tags: [] });
  assert.match(await explained.innerText(), new RegExp(expected.team_reason.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")));

  // A rule made in the form, moved to the top, saved whole: the API holds it and the
  // preview applies it.
  const rulesBefore = await api(ADMIN_TOKEN, "GET", "/v1/routing/rules");
  await page.getByRole("button", { name: "Add rule" }).click();
  const rule = page.getByRole("listitem", { name: "Rule New rule" });
  await rule.getByLabel("Rule name").fill("Zipper repairs");
  const zipper = page.getByRole("listitem", { name: "Rule Zipper repairs" });
  await zipper.getByLabel("Values of Zipper repairs").fill("zipper, zip");
  await zipper.getByLabel("Team of Zipper repairs").selectOption({ label: "Product specialists" });
  await zipper.getByLabel("Priority of Zipper repairs").selectOption("high");
  await zipper.getByLabel("Tags of Zipper repairs").fill("repair");
  for (let i = 0; i < (rulesBefore.rules ?? []).length; i++) await zipper.getByRole("button", { name: "Move Zipper repairs up" }).click();
  await page.getByRole("button", { name: "Save rules" }).click();
  await page.getByText("Routing rules: saved.").waitFor();
  const saved = await api(ADMIN_TOKEN, "GET", "/v1/routing/rules");
  assert.equal(saved.rules.length, (rulesBefore.rules ?? []).length + 1);
  assert.deepEqual(
    { name: saved.rules[0].name, conditions: saved.rules[0].conditions, actions: saved.rules[0].actions },
    { name: "Zipper repairs", conditions: [{ field: "words", any: ["zipper", "zip"] }], actions: { team: "product-specialists", priority: "high", add_tags: ["repair"] } },
  );
  await page.getByLabel("Sample message").fill("The zipper of my jacket broke");
  await page.getByRole("button", { name: "Explain" }).click();
  await explained.getByText("Rule: Zipper repairs").waitFor();
  await page.screenshot({ path: screenshotPath("routing.png"), fullPage: true });
  assert.match(await explained.innerText(), /Team: Product specialists/);

  // An SLA policy's target and a holiday set in the form reach the API as typed.
  const slaBefore = await api(ADMIN_TOKEN, "GET", "/v1/sla");
  const policy = slaBefore.policies[0];
  await page.getByRole("link", { name: "SLA", exact: true }).click();
  await page.getByLabel(`First response minutes of ${policy.name}`, { exact: true }).fill("45");
  const calendar = slaBefore.calendars?.[0];
  if (calendar) {
    await page.getByRole("listitem", { name: `Calendar ${calendar.name}` }).getByRole("button", { name: "Add holiday" }).click();
    const n = (calendar.holidays ?? []).length + 1;
    await page.getByLabel(`Holiday ${n} of ${calendar.name}`, { exact: true }).fill("2026-12-25");
    await page.getByLabel(`Holiday ${n} name of ${calendar.name}`, { exact: true }).fill("Christmas");
  }
  await page.getByRole("button", { name: "Save SLA" }).click();
  await page.getByText("SLA: saved.").waitFor();
  await page.screenshot({ path: screenshotPath("sla.png"), fullPage: true });
  const slaAfter = await api(ADMIN_TOKEN, "GET", "/v1/sla");
  assert.equal(slaAfter.policies[0].targets.first_response_minutes, 45);
  assert.deepEqual({ ...slaAfter.policies[0], targets: undefined }, { ...policy, targets: undefined });
  if (calendar) assert.deepEqual(slaAfter.calendars[0].holidays.at(-1), { date: "2026-12-25", name: "Christmas" });

  await page.getByRole("link", { name: "AI", exact: true }).click();
  await page.getByLabel("Preview question").fill("How long does delivery take?");
  await page.getByRole("button", { name: "Preview" }).click();
  const result = page.getByLabel("Preview result");
  await result.waitFor();
  assert.match(await result.innerText(), /^Answer/);
  assert.ok((await result.locator(".citations li").count()) >= 1, "the answer cites an article");

  // A new agent, then their skills: the API holds what the page set.
  await page.getByRole("link", { name: "Agents & teams" }).click();
  await page.locator('tr[data-agent="ann@demo.example"]').waitFor();
  await page.getByLabel("New agent's e-mail").fill("bo.lind@demo.example");
  await page.getByLabel("New agent's name").fill("Bo Lind");
  await page.getByRole("button", { name: "Add agent" }).click();
  const skills = page.getByLabel("Skills of Bo Lind");
  await skills.fill("returns, refunds");
  await skills.blur();
  await page.getByText("Bo Lind: saved.").waitFor();
  const bo = await eventually("Bo's skills in the directory", async () =>
    (await api(ADMIN_TOKEN, "GET", "/v1/agents?limit=100")).items.find((a) => a.email === "bo.lind@demo.example" && a.skills.length === 2),
  );
  assert.deepEqual(bo.skills, ["returns", "refunds"]);
  assert.equal(bo.name, "Bo Lind");
  // A team's strategy changed in the page: the rest of the team (its name) stays.
  const finance = (await api(ADMIN_TOKEN, "GET", "/v1/teams/finance"));
  await page.getByLabel(`Strategy of ${finance.name}`).selectOption("round_robin");
  await page.getByText(`${finance.name}: saved.`).waitFor();
  const financeAfter = await api(ADMIN_TOKEN, "GET", "/v1/teams/finance");
  assert.deepEqual(
    { name: financeAfter.name, strategy: financeAfter.strategy, version: financeAfter.version },
    { name: finance.name, strategy: "round_robin", version: finance.version + 1 },
  );
  await page.getByRole("link", { name: "Channels" }).click();
  await page.getByRole("heading", { name: "Website widget" }).waitFor();
  assert.match(await page.locator(".snippet").innerText(), /data-widget-key="wk_demo"/);

  // A channel changed in the page names the revision it read: a change made meanwhile
  // is refused and shown, and the second try (on what is stored now) lands.
  const instagram = page.getByRole("region", { name: "Instagram" });
  await instagram.getByRole("button", { name: /Change|Connect/ }).click();
  const form = instagram.getByRole("form", { name: "Instagram connection" });
  await form.getByLabel("Professional account id").fill("17841400000000001");
  await form.getByLabel(/Access token/).fill("IGAA-test-token-from-the-page");
  await form.getByLabel(/Human Agent permission/).check();
  const before = await api(ADMIN_TOKEN, "GET", "/v1/channels");
  await api(ADMIN_TOKEN, "PUT", "/v1/channels/email", { slug: before.email.slug, display_name: "Demo Shop Support", expected_revision: before.revision });
  await form.getByRole("button", { name: "Save" }).click();
  await page.getByRole("alert").filter({ hasText: /^Instagram: / }).waitFor();
  assert.equal((await api(ADMIN_TOKEN, "GET", "/v1/channels")).instagram.human_agent_allowed, before.instagram?.human_agent_allowed ?? false);
  await page.getByRole("region", { name: "E-mail" }).getByText("Demo Shop Support").waitFor();
  await form.getByRole("button", { name: "Save" }).click();
  await page.getByText("Instagram: saved.").waitFor();
  const after = await api(ADMIN_TOKEN, "GET", "/v1/channels");
  assert.equal(after.instagram.human_agent_allowed, true);
  assert.equal(after.instagram.token_stored, true);
  assert.equal(after.instagram.account_id, "17841400000000001");
  assert.match(await instagram.innerText(), /Human Agent permission: people may answer for 7 days/);
  assert.doesNotMatch(await page.content(), /IGAA-test-token-from-the-page/, "a token is never shown again");
  assert.deepEqual(admin.errors.filter((e) => !e.startsWith("409 ")), []);
  await admin.context.close();
});
