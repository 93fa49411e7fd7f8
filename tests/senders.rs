//! Outbound delivery by e-mail: real customer mail through the inbound-email function and
//! triage, an agent's reply through the agent API, and the e-mail sender's handler sending
//! through SES on the local endpoint; the mail is read back from the endpoint's record of
//! what SES sent and parsed as the customer's mail client would. SES's throttling and
//! refusals are its own error responses, injected by a proxy in front of the endpoint.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use baton_app::email_out::SenderConfig;
use baton_aws::ses::SesMailer;
use baton_aws::S3Bucket;
use baton_domain::conversation::{DeliveryStatus, Direction, Message};
use baton_domain::email::ticket_alias_token;
use baton_domain::ports::{ConversationStore, PageRequest, TicketStore};
use baton_domain::Clock as _;
use baton_domain::{TenantId, TicketNumber};
use baton_tests::ddb_proxy::{DdbProxy, QueryError};
use baton_tests::{
    agent_api_deps, agent_call, agent_token, deliver_email, inbound_email_deps, local_secret, message_texts,
    seeded_env, survey_call, timeline, timeline_events, triage_deps, TestEnv,
};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use std::sync::Arc;

const SUPPORT: &str = "support+demo@inbound.baton.local";
const DOMAIN: &str = "inbound.baton.local";

fn demo() -> TenantId {
    TenantId::new("demo").unwrap()
}

struct World {
    env: TestEnv,
    inbound: inbound_email::Deps,
    bucket: S3Bucket,
    triage: triage::Deps,
    api: agent_api::Deps,
    sender: email_sender::Deps,
    token: String,
}

/// The sender as `infra/local/env.json` configures it, sending through `ses`.
fn sender_deps(env: &TestEnv, ses: aws_sdk_ses::Client) -> email_sender::Deps {
    email_sender::Deps {
        store: Arc::new(env.store.clone()),
        mailer: Arc::new(SesMailer::new(ses, None)),
        clock: Arc::new(baton_domain::SystemClock),
        config: SenderConfig {
            from_address: local_secret("SUPPORT_FROM_EMAIL"),
            inbound_domain: DOMAIN.into(),
            alias_secret: local_secret("EMAIL_ALIAS_SECRET"),
            region: "us-east-1".into(),
        },
        notify_queue: Arc::new(baton_tests::queue(env, "NotifyQueue")),
        inbox_url: Some("http://127.0.0.1:3000/inbox".into()),
    }
}

/// The functions over `env`, the e-mail sender sending through `ses`.
async fn world_on(env: TestEnv, ses: aws_sdk_ses::Client) -> World {
    let (inbound, bucket) = inbound_email_deps(&env, &local_secret("EMAIL_ALIAS_SECRET"));
    let store: Arc<dyn baton_domain::ports::Store> = Arc::new(env.store.clone());
    let triage = triage_deps(&env, store.clone());
    let api = agent_api_deps(&env, store);
    let sender = sender_deps(&env, ses);
    let token = agent_token(&env, "demo", "alex@demo.example", "agent").await;
    World {
        env,
        inbound,
        bucket,
        triage,
        api,
        sender,
        token,
    }
}

async fn world() -> World {
    let env = seeded_env().await;
    let ses = aws_sdk_ses::Client::new(&env.sdk);
    world_on(env, ses).await
}

/// A world whose SES calls go through a proxy that can answer with SES's errors.
async fn world_behind_proxy() -> (World, DdbProxy) {
    let env = seeded_env().await;
    let proxy = DdbProxy::start(&env.endpoint.url).await;
    let ses = proxy.ses(&env.sdk);
    (world_on(env, ses).await, proxy)
}

fn mail(from: &str, to: &str, message_id: &str, subject: &str, extra_headers: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Ana Lima <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n{extra_headers}\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

impl World {
    /// The customer's mail arrives through SES and is triaged.
    async fn customer_writes(&self, id: &str, raw: &[u8], to: &str) {
        let results = deliver_email(&self.inbound, &self.bucket, id, raw, &[to], "PASS").await;
        assert_eq!(results[0]["outcome"], "queued", "{results:?}");
        let queued = baton_tests::drain_inbound(&self.env).await;
        baton_tests::triage_records(&self.triage, &queued).await;
    }

    /// Everything on the e-mail queue now, as one SQS batch.
    async fn take_email_batch(&self) -> SqsEvent {
        baton_tests::take_batch(&self.env, "EmailQueue").await
    }

    async fn send(&self, batch: &SqsEvent) -> SqsBatchResponse {
        send_with(&self.sender, batch).await.unwrap()
    }

    /// Every raw message SES has sent so far, parsed.
    async fn sent(&self) -> Vec<Vec<u8>> {
        let data: Value = reqwest::get(format!("{}/moto-api/data.json", self.env.endpoint.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        data["ses"]["RawMessage"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|m| m["raw_data"].as_str().unwrap_or_default().as_bytes().to_vec())
            .collect()
    }

    async fn ticket_version(&self, n: u64) -> u64 {
        self.env
            .store
            .get_ticket(&demo(), TicketNumber(n))
            .await
            .unwrap()
            .version
    }

    async fn reply(&self, n: u64, text: &str) -> Value {
        let version = self.ticket_version(n).await;
        let (status, _, body) = agent_call(
            &self.api,
            &self.token,
            "POST",
            &format!("/v1/tickets/{n}/replies"),
            Some(json!({ "version": version, "text": text })),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    async fn messages(&self, n: u64) -> Vec<Message> {
        let ticket = self.env.store.get_ticket(&demo(), TicketNumber(n)).await.unwrap();
        self.env
            .store
            .list_messages(&demo(), ticket.source.conversation_id, &PageRequest::first(100))
            .await
            .unwrap()
            .items
    }
}

/// The e-mail sender's handler on a queue batch, as Lambda hands it over.
async fn send_with(deps: &email_sender::Deps, batch: &SqsEvent) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let out = email_sender::handler(deps, LambdaEvent::new(serde_json::to_value(batch)?, Context::default())).await?;
    Ok(serde_json::from_value(out)?)
}

fn parse(raw: &[u8]) -> mail_parser::Message<'_> {
    mail_parser::MessageParser::default()
        .parse(raw)
        .expect("SES sent a parsable message")
}

fn header<'a>(raw: &'a [u8], name: &str) -> Option<&'a str> {
    let text = std::str::from_utf8(raw).ok()?;
    let head = &text[..text.find("\r\n\r\n")?];
    head.split("\r\n").find_map(|l| l.strip_prefix(&format!("{name}: ")))
}

/// A customer asks for a person: ticket 1, and the handoff notice by e-mail.
async fn ticket_from_email(w: &World, customer: &str) {
    let raw = mail(
        customer,
        SUPPORT,
        "c1@customer.example",
        "Where is my parcel?",
        "",
        "Hello, I want to talk to a human about my parcel.",
    );
    w.customer_writes("ses-c1", &raw, SUPPORT).await;
    let ticket = w.env.store.get_ticket(&demo(), TicketNumber(1)).await.unwrap();
    assert_eq!(ticket.source.channel, baton_domain::Channel::Email);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reply_is_sent_once_threaded_and_the_customer_answer_returns_to_the_ticket() {
    let w = world().await;
    ticket_from_email(&w, "ana@customer.example").await;

    // The handoff notice: written by Baton, so marked automatic.
    let notice = w.take_email_batch().await;
    assert_eq!(notice.records.len(), 1);
    assert!(w.send(&notice).await.batch_item_failures.is_empty());
    let sent = w.sent().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(header(&sent[0], "Auto-Submitted"), Some("auto-replied"));

    // The agent's reply.
    w.reply(1, "Hi Ana,\n\nyour parcel <left> the depot today & arrives tomorrow.")
        .await;
    let reply = w.take_email_batch().await;
    assert_eq!(reply.records.len(), 1);
    assert!(w.send(&reply).await.batch_item_failures.is_empty());
    let sent = w.sent().await;
    assert_eq!(sent.len(), 2, "one mail per reply");
    let raw = &sent[1];
    let m = parse(raw);
    let from = m.from().unwrap().first().unwrap();
    assert_eq!(
        (from.name(), from.address()),
        (Some("Demo Shop"), Some("support@baton.local"))
    );
    assert_eq!(m.to().unwrap().first().unwrap().address(), Some("ana@customer.example"));
    let alias = format!(
        "ticket+{}@{DOMAIN}",
        ticket_alias_token(&local_secret("EMAIL_ALIAS_SECRET"), &demo(), TicketNumber(1))
    );
    assert_eq!(m.reply_to().unwrap().first().unwrap().address(), Some(alias.as_str()));
    assert_eq!(m.subject(), Some("Re: Where is my parcel? [#1]"));
    assert_eq!(m.in_reply_to().as_text(), Some("c1@customer.example"));
    assert_eq!(header(raw, "X-Baton-Ticket"), Some("1"));
    assert_eq!(header(raw, "Auto-Submitted"), None, "a person wrote it");
    assert_eq!(
        m.body_text(0).unwrap().replace("\r\n", "\n").trim_end(),
        "Hi Ana,\n\nyour parcel <left> the depot today & arrives tomorrow."
    );
    let html = m.body_html(0).unwrap();
    assert!(
        html.contains("your parcel &lt;left&gt; the depot today &amp; arrives tomorrow."),
        "{html}"
    );

    // The message carries the Message-ID SES gave it; the thread references hold the
    // customer's first message, the notice's SES id and Baton's own id for this reply.
    let messages = w.messages(1).await;
    let outbound: Vec<&Message> = messages.iter().filter(|m| m.direction == Direction::Outbound).collect();
    assert_eq!(outbound.len(), 2);
    for o in &outbound {
        assert_eq!(o.delivery, Some(DeliveryStatus::Sent));
        assert!(o
            .channel_message_id
            .as_deref()
            .unwrap()
            .ends_with("@email.amazonses.com"));
    }
    let reply_ses_id = outbound[1].channel_message_id.clone().unwrap();
    let refs: Vec<String> = m
        .references()
        .as_text_list()
        .unwrap()
        .iter()
        .map(|r| r.to_string())
        .collect();
    assert_eq!(refs[0], "c1@customer.example");
    assert_eq!(refs[1], outbound[0].channel_message_id.clone().unwrap());
    assert!(refs[2].starts_with("baton.") && refs[2].ends_with(DOMAIN), "{refs:?}");

    // A redelivered queue message sends nothing.
    assert!(w.send(&reply).await.batch_item_failures.is_empty());
    assert!(w.send(&notice).await.batch_item_failures.is_empty());
    assert_eq!(w.sent().await.len(), 2);

    // The customer answers from their mail client: to the alias, In-Reply-To the
    // Message-ID SES gave the reply. It lands on ticket 1.
    let answer = mail(
        "ana@customer.example",
        &alias,
        "c2@customer.example",
        "Re: Where is my parcel? [#1]",
        &format!("In-Reply-To: <{reply_ses_id}>\r\nReferences: <c1@customer.example> <{reply_ses_id}>\r\n"),
        "Great, thank you!\r\n\r\nOn Tue, Dec 1, 2026, Demo Shop wrote:\r\n> Hi Ana,",
    );
    w.customer_writes("ses-c2", &answer, &alias).await;
    // And once more, to the support address with only the SES Message-ID to go by
    // (a client that replied to From).
    let again = mail(
        "ana@customer.example",
        SUPPORT,
        "c3@customer.example",
        "Re: Where is my parcel?",
        &format!("In-Reply-To: <{reply_ses_id}>\r\n"),
        "One more thing: can you leave it with a neighbour?",
    );
    w.customer_writes("ses-c3", &again, SUPPORT).await;
    // A client that kept neither header: the subject's tag finds the ticket, for its own
    // customer only.
    let tagged = mail(
        "ana@customer.example",
        SUPPORT,
        "c4@customer.example",
        "Re: Where is my parcel? [#1]",
        "",
        "Also, the door code is 4411.",
    );
    w.customer_writes("ses-c4", &tagged, SUPPORT).await;
    assert!(
        w.env.store.get_ticket(&demo(), TicketNumber(2)).await.is_err(),
        "the customer's replies open no second ticket"
    );
    let stranger = mail(
        "eve@elsewhere.example",
        SUPPORT,
        "e1@elsewhere.example",
        "Re: Where is my parcel? [#1]",
        "",
        "Please send it to my address instead.",
    );
    w.customer_writes("ses-e1", &stranger, SUPPORT).await;
    let texts = message_texts(&timeline(&w.env, TicketNumber(1)).await);
    assert!(texts.contains(&"Also, the door code is 4411.".to_owned()), "{texts:?}");
    assert!(
        !texts.iter().any(|t| t.contains("send it to my address")),
        "a stranger typing the tag does not join: {texts:?}"
    );
    assert!(texts.contains(&"Great, thank you!".to_owned()), "{texts:?}");
    assert!(
        texts.contains(&"One more thing: can you leave it with a neighbour?".to_owned()),
        "{texts:?}"
    );
    // The stranger's message is a conversation of its own (here handed off: an address
    // change), never part of ticket 1's.
    let first = w.env.store.get_ticket(&demo(), TicketNumber(1)).await.unwrap();
    if let Ok(other) = w.env.store.get_ticket(&demo(), TicketNumber(2)).await {
        assert_ne!(other.source.conversation_id, first.source.conversation_id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_send_fails_only_its_record_and_is_sent_once_on_retry() {
    let (w, proxy) = world_behind_proxy().await;
    ticket_from_email(&w, "bo@customer.example").await;
    // The SDK backs off and tries three times within the invocation; throttled all three
    // times, the record fails alone and SQS hands it back later.
    proxy.fail("SendRawEmail", 3, QueryError::ses_throttling());
    let batch = w.take_email_batch().await;
    let first = w.send(&batch).await;
    assert_eq!(first.batch_item_failures.len(), 1, "the throttled record is retried");
    assert_eq!(proxy.injected(), ["SendRawEmail"; 3]);
    assert!(w.sent().await.is_empty());
    // SQS hands it back after the visibility timeout.
    let second = w.send(&batch).await;
    assert!(second.batch_item_failures.is_empty());
    assert!(w.send(&batch).await.batch_item_failures.is_empty());
    assert_eq!(w.sent().await.len(), 1, "sent once");
    let outbound: Vec<Message> = w
        .messages(1)
        .await
        .into_iter()
        .filter(|m| m.direction == Direction::Outbound)
        .collect();
    assert_eq!(outbound[0].delivery, Some(DeliveryStatus::Sent));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_address_shows_on_the_timeline_and_is_not_retried() {
    let (w, proxy) = world_behind_proxy().await;
    ticket_from_email(&w, "cy@customer.example").await;
    w.send(&w.take_email_batch().await).await;
    let reason = "Address blacklisted.";
    proxy.fail("SendRawEmail", 1, QueryError::ses_message_rejected(reason));
    let entry = w.reply(1, "Your refund is on its way.").await;
    let batch = w.take_email_batch().await;
    assert!(
        w.send(&batch).await.batch_item_failures.is_empty(),
        "a refusal is not retried"
    );
    assert!(w.send(&batch).await.batch_item_failures.is_empty());
    assert_eq!(proxy.injected(), ["SendRawEmail"], "SES was asked once");
    assert_eq!(w.sent().await.len(), 1, "only the notice left");
    let events = timeline_events(&timeline(&w.env, TicketNumber(1)).await);
    let failed: Vec<&Value> = events
        .iter()
        .filter(|(n, _)| n == "delivery_failed")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(failed.len(), 1, "{events:?}");
    assert_eq!(failed[0]["reason"], reason);
    assert_eq!(failed[0]["message_id"], entry["entry_id"]);
    let reply = w
        .messages(1)
        .await
        .into_iter()
        .find(|m| m.id.to_string() == entry["entry_id"].as_str().unwrap())
        .unwrap();
    assert_eq!(reply.delivery, Some(DeliveryStatus::Failed));
    assert_eq!(reply.delivery_error.as_deref(), Some(reason));
}

/// The agent's reply is sent once whatever call of the sender fails or crashes: with an
/// error at any call, the redelivery sends exactly one mail; with a crash, never two, and
/// a crash in the middle of the SES call is marked "not confirmed" on the ticket instead
/// of mailing the customer again.
/// The e-mail sender with its store and mailer behind `faults`, on the test's clock.
fn faulty_sender(
    w: &World,
    faults: &Arc<baton_tests::faults::Faults>,
    clock: &baton_tests::faults::SharedClock,
) -> email_sender::Deps {
    use baton_tests::faults::Faulty;
    email_sender::Deps {
        store: Arc::new(Faulty::new(w.env.store.clone(), faults)),
        mailer: Arc::new(Faulty::new(
            SesMailer::new(aws_sdk_ses::Client::new(&w.env.sdk), None),
            faults,
        )),
        clock: Arc::new(clock.clone()),
        config: w.sender.config.clone(),
        notify_queue: w.sender.notify_queue.clone(),
        inbox_url: None,
    }
}

/// `batch` through the faulty sender with `fault` at call `k`, then redelivered after
/// the visibility timeout, past the dead claim's expiry; whether call `k` was reached.
async fn send_with_fault(
    faults: &baton_tests::faults::Faults,
    clock: &baton_tests::faults::SharedClock,
    faulty: &email_sender::Deps,
    batch: &SqsEvent,
    k: u64,
    fault: baton_tests::faults::Fault,
) -> bool {
    faults.arm(k, fault);
    let run = || send_with(faulty, batch);
    faults.run(run()).await;
    let fired = faults.fired();
    faults.disarm();
    baton_tests::faults::redeliver(faults, clock, run).await;
    fired
}

/// A fault case's own customer asks for a person by e-mail (`tag` and the case name
/// its addresses); returns the customer's address.
async fn case_customer(w: &World, tag: &str, k: u64, fault: baton_tests::faults::Fault) -> String {
    let customer = format!("{tag}{k}-{}@customer.example", fault as u8);
    let raw = mail(
        &customer,
        SUPPORT,
        &format!("{tag}-k{k}-{}@customer.example", fault as u8),
        "Help",
        "",
        "I want to talk to a human.",
    );
    w.customer_writes(&format!("ses-{tag}-k{k}-{}", fault as u8), &raw, SUPPORT)
        .await;
    customer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_survives_a_fault_at_every_call_of_the_sender_and_is_never_sent_twice() {
    use baton_tests::faults::{assert_sent_at_most_once, every_call, Faults, SharedClock};
    let w = world().await;
    let faults = Faults::new();
    let clock = SharedClock::now_system();
    let faulty = faulty_sender(&w, &faults, &clock);
    let mut number = 0;
    every_call("the e-mail sender", 12, |k, fault| {
        number += 1;
        let (w, faults, faulty, clock) = (&w, &faults, &faulty, &clock);
        let n = number;
        async move {
            case_customer(w, "case", k, fault).await;
            w.send(&w.take_email_batch().await).await;
            let text = format!("Reply for case {k} {fault:?}.");
            w.reply(n, &text).await;
            let batch = w.take_email_batch().await;
            let fired = send_with_fault(faults, clock, faulty, &batch, k, fault).await;
            let mails = w
                .sent()
                .await
                .iter()
                .filter(|m| String::from_utf8_lossy(m).contains(&text))
                .count();
            let reply = w.messages(n).await.into_iter().find(|m| m.text == text).unwrap();
            let unconfirmed = timeline_events(&timeline(&w.env, TicketNumber(n)).await)
                .iter()
                .any(|(name, d)| name == "delivery_failed" && d["kind"] == "unconfirmed");
            assert_sent_at_most_once(fault, k, reply.delivery, mails, unconfirmed);
            fired
        }
    })
    .await;
}

/// SES's report through SNS (`events/ses-bounce.json`'s shape) for SES message `ses_id`.
fn ses_report(ses_id: &str, notification: Value) -> Value {
    let mut ev: Value =
        serde_json::from_str(&std::fs::read_to_string(baton_tests::root().join("events/ses-bounce.json")).unwrap())
            .unwrap();
    let mut message = notification;
    message["mail"]["messageId"] = ses_id.into();
    ev["Records"][0]["Sns"]["Message"] = message.to_string().into();
    ev
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_bounce_marks_the_address_undeliverable_and_later_replies_are_not_sent() {
    let w = world().await;
    ticket_from_email(&w, "gone@customer.example").await;
    w.send(&w.take_email_batch().await).await;
    let entry = w.reply(1, "Your parcel is on its way.").await;
    w.send(&w.take_email_batch().await).await;
    assert_eq!(w.sent().await.len(), 2);
    let id = entry["entry_id"].as_str().unwrap().to_owned();
    let find = |messages: Vec<Message>| messages.into_iter().find(|m| m.id.to_string() == id).unwrap();
    let sent = find(w.messages(1).await);
    let ses_id = sent.channel_message_id.unwrap().split('@').next().unwrap().to_owned();

    // SES reports the bounce through SNS.
    let bounce = json!({ "notificationType": "Bounce", "bounce": { "bounceType": "Permanent", "bounceSubType": "General",
        "bouncedRecipients": [{ "emailAddress": "gone@customer.example", "status": "5.1.1",
            "diagnosticCode": "smtp; 550 5.1.1 user unknown" }] }, "mail": {} });
    let out = email_sender::handler(
        &w.sender,
        LambdaEvent::new(ses_report(&ses_id, bounce), Context::default()),
    )
    .await
    .unwrap();
    assert_eq!(out["applied"], json!(["failed"]));
    let bounced = find(w.messages(1).await);
    assert_eq!(bounced.delivery, Some(DeliveryStatus::Failed));
    assert!(bounced.delivery_error.unwrap().contains("550 5.1.1 user unknown"));
    let failed: Vec<Value> = timeline_events(&timeline(&w.env, TicketNumber(1)).await)
        .into_iter()
        .filter(|(n, _)| n == "delivery_failed")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["kind"], "bounced");
    let ticket = w.env.store.get_ticket(&demo(), TicketNumber(1)).await.unwrap();
    let customer = baton_domain::ports::CustomerStore::get_customer(&w.env.store, &demo(), ticket.customer_id)
        .await
        .unwrap();
    let mark = customer
        .undeliverable("gone@customer.example")
        .expect("marked undeliverable");
    assert_eq!(mark.kind, "bounced");
    // The agent sees it on the ticket's customer.
    let (status, _, detail) = agent_call(&w.api, &w.token, "GET", "/v1/tickets/1", None).await;
    assert_eq!(status, 200);
    assert!(detail.to_string().contains("undeliverable"), "{detail}");

    // The next reply is not sent, and the ticket says why.
    let next = w.reply(1, "Did it arrive?").await;
    assert!(w.send(&w.take_email_batch().await).await.batch_item_failures.is_empty());
    assert_eq!(w.sent().await.len(), 2, "nothing more to a bounced address");
    let next_id = next["entry_id"].as_str().unwrap().to_owned();
    let refused = w
        .messages(1)
        .await
        .into_iter()
        .find(|m| m.id.to_string() == next_id)
        .unwrap();
    assert_eq!(refused.delivery, Some(DeliveryStatus::Failed));
    assert!(refused
        .delivery_error
        .unwrap()
        .starts_with("Not sent: mail to gone@customer.example bounced"));

    // A report for a message Baton never sent changes nothing.
    let delivery = json!({ "eventType": "Delivery", "delivery": {}, "mail": {} });
    let out = email_sender::handler(
        &w.sender,
        LambdaEvent::new(ses_report("0100-unknown", delivery), Context::default()),
    )
    .await
    .unwrap();
    assert_eq!(out["applied"], json!(["unknown"]));
}

/// The notification queue's records, as one batch (taken off the queue).
async fn notify_records(w: &World) -> Vec<baton_domain::notify::NotifyRecord> {
    baton_tests::take_batch(&w.env, "NotifyQueue")
        .await
        .records
        .iter()
        .map(|r| serde_json::from_str(r.body.as_deref().unwrap()).unwrap())
        .collect()
}

fn mail_to<'a>(sent: &'a [Vec<u8>], address: &str) -> Vec<&'a Vec<u8>> {
    sent.iter()
        .filter(|raw| parse(raw).to().and_then(|t| t.first()).and_then(|a| a.address()) == Some(address))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_are_emailed_about_their_tickets_once_and_a_burst_becomes_one_digest() {
    use baton_app::notify::{handle, NotifyPorts, Outcome};
    use baton_domain::notify::{NotifyRecord, DIGEST_WINDOW_SECS};
    use baton_tests::faults::SharedClock;
    let w = world().await;
    let sam_token = agent_token(&w.env, "demo", "sam@demo.example", "agent").await;
    let sam = agent_api::auth::agent_id_for_email("sam@demo.example");
    let alex = agent_api::auth::agent_id_for_email("alex@demo.example");
    ticket_from_email(&w, "ana@customer.example").await;
    notify_records(&w).await;

    // Alex assigns the ticket to Sam: Sam hears of it, once.
    let version = w.ticket_version(1).await;
    let (status, _, body) = agent_call(
        &w.api,
        &w.token,
        "POST",
        "/v1/tickets/1/assign",
        Some(json!({ "version": version, "agent_id": sam.as_str() })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let batch = baton_tests::take_batch(&w.env, "NotifyQueue").await;
    assert_eq!(batch.records.len(), 1);
    assert!(w.send(&batch).await.batch_item_failures.is_empty());
    assert!(w.send(&batch).await.batch_item_failures.is_empty(), "a redelivery");
    let sent = w.sent().await;
    let to_sam = mail_to(&sent, "sam@demo.example");
    assert_eq!(
        to_sam.len(),
        1,
        "one e-mail for the assignment, however often delivered"
    );
    let m = parse(to_sam[0]);
    assert_eq!(m.subject(), Some("[#1] Assigned to you: Where is my parcel?"));
    assert_eq!(header(to_sam[0], "Auto-Submitted"), Some("auto-generated"));
    assert_eq!(header(to_sam[0], "X-Baton-Ticket"), Some("1"));
    assert!(m
        .body_text(0)
        .unwrap()
        .contains("http://127.0.0.1:3000/inbox/tickets/1"));

    // The customer writes twice more within Sam's window: nothing yet, a flush is
    // scheduled for the window's end, then both go in one digest.
    let clock = SharedClock::now_system();
    let ports = NotifyPorts {
        store: &w.env.store,
        mailer: w.sender.mailer.as_ref(),
        queue: w.sender.notify_queue.as_ref(),
        clock: &clock,
        from_address: &w.sender.config.from_address,
        message_domain: DOMAIN,
        inbox_url: None,
    };
    for (i, text) in ["Any news about my parcel?", "Hello? It has been a week."]
        .iter()
        .enumerate()
    {
        let id = format!("c{}@customer.example", i + 2);
        let raw = mail(
            "ana@customer.example",
            SUPPORT,
            &id,
            "Re: Where is my parcel? [#1]",
            "",
            text,
        );
        w.customer_writes(&format!("ses-c{}", i + 2), &raw, SUPPORT).await;
    }
    let records = notify_records(&w).await;
    assert_eq!(records.len(), 2, "one notification per customer message");
    for r in &records {
        assert!(matches!(handle(&ports, r).await.unwrap(), Outcome::Scheduled(_)));
    }
    assert_eq!(
        mail_to(&w.sent().await, "sam@demo.example").len(),
        1,
        "folded, not sent"
    );
    // The scheduled flushes are on the queue, delayed to the window's end (SQS holds them
    // back); the flush record they carry:
    let flushes = vec![
        NotifyRecord::Flush {
            tenant_id: demo(),
            agent_id: sam.clone(),
        };
        2
    ];
    clock.advance(time::Duration::seconds(DIGEST_WINDOW_SECS + 1));
    assert_eq!(handle(&ports, &flushes[0]).await.unwrap(), Outcome::Sent(2));
    for f in &flushes {
        assert_eq!(
            handle(&ports, f).await.unwrap(),
            Outcome::Nothing,
            "later flushes find nothing"
        );
    }
    let to_sam = mail_to(&w.sent().await, "sam@demo.example")
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(to_sam.len(), 2);
    let digest = parse(&to_sam[1]);
    assert_eq!(digest.subject(), Some("2 updates on 1 of your tickets"));
    let text = digest.body_text(0).unwrap();
    assert!(text.contains("2 updates on your tickets:"), "{text}");
    assert_eq!(text.matches("- #1 Where is my parcel? — ").count(), 2, "{text}");
    assert_eq!(text.matches("Ana Lima replied").count(), 2, "{text}");
    assert_eq!(header(&to_sam[1], "X-Baton-Ticket"), None, "a digest is about several");

    // Sam turns customer replies off: the next one is not stored, not sent.
    let (status, _, me) = agent_call(
        &w.api,
        &sam_token,
        "PUT",
        &format!("/v1/agents/{sam}/notifications"),
        Some(json!({ "customer_replied": false })),
    )
    .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        me["notifications"],
        json!({ "email": true, "assigned": true, "customer_replied": false, "sla": true })
    );
    let (status, _, _) = agent_call(
        &w.api,
        &sam_token,
        "PUT",
        &format!("/v1/agents/{alex}/notifications"),
        Some(json!({ "email": false })),
    )
    .await;
    assert_eq!(status, 403, "agents set their own only");
    let raw = mail(
        "ana@customer.example",
        SUPPORT,
        "c4@customer.example",
        "Re: Where is my parcel? [#1]",
        "",
        "Still nothing.",
    );
    w.customer_writes("ses-c4", &raw, SUPPORT).await;
    clock.advance(time::Duration::seconds(DIGEST_WINDOW_SECS + 1));
    for r in notify_records(&w).await {
        assert_eq!(handle(&ports, &r).await.unwrap(), Outcome::Nothing);
    }
    assert_eq!(mail_to(&w.sent().await, "sam@demo.example").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_survives_a_fault_at_every_call_and_each_notification_is_sent_at_most_once() {
    use baton_app::notify::{handle, NotifyPorts};
    use baton_domain::notify::{AgentNotification, NotificationKind, NotifyRecord, DIGEST_WINDOW_SECS};
    use baton_domain::ports::NotifyStore;
    use baton_domain::Clock;
    use baton_tests::faults::{every_call, Fault, Faults, Faulty, SharedClock};
    let w = world().await;
    agent_token(&w.env, "demo", "sam@demo.example", "agent").await;
    let sam = agent_api::auth::agent_id_for_email("sam@demo.example");
    let faults = Faults::new();
    let clock = SharedClock::now_system();
    let store = Faulty::new(w.env.store.clone(), &faults);
    let mailer = Faulty::new(SesMailer::new(aws_sdk_ses::Client::new(&w.env.sdk), None), &faults);
    let ports = NotifyPorts {
        store: &store,
        mailer: &mailer,
        queue: w.sender.notify_queue.as_ref(),
        clock: &clock,
        from_address: &w.sender.config.from_address,
        message_domain: DOMAIN,
        inbox_url: None,
    };
    let mut round = 0u64;
    every_call("the notifier", 10, |k, fault| {
        round += 1;
        let (w, faults, ports, clock, sam) = (&w, &faults, &ports, &clock, &sam);
        let r = round;
        async move {
            let note = |i: u64| {
                NotifyRecord::Notification(AgentNotification {
                    id: format!("notify-{r}-{i}"),
                    tenant_id: demo(),
                    agent_id: sam.clone(),
                    kind: NotificationKind::SlaAtRisk,
                    ticket: TicketNumber(100 * r + i),
                    subject: format!("Case {r}-{i} subject"),
                    customer: "Ana".into(),
                    excerpt: None,
                    sla_target: Some("first response".into()),
                    due_at: None,
                    happened_at: clock.now(),
                })
            };
            let flush = NotifyRecord::Flush {
                tenant_id: demo(),
                agent_id: sam.clone(),
            };
            // A clean run: the first goes at once, the second waits for the window, then
            // the flush sends it.
            let steps = || async {
                handle(ports, &note(1)).await?;
                handle(ports, &note(2)).await?;
                clock.advance(time::Duration::seconds(DIGEST_WINDOW_SECS + 1));
                handle(ports, &flush).await
            };
            clock.advance(time::Duration::seconds(DIGEST_WINDOW_SECS + 1));
            faults.arm(k, fault);
            let _ = faults.run(steps()).await;
            let fired = faults.fired();
            let calls = faults.log();
            faults.disarm();
            // SQS redelivers what did not finish; scheduled flushes arrive later.
            for _ in 0..3 {
                clock.advance(time::Duration::seconds(DIGEST_WINDOW_SECS + 1));
                if steps().await.is_ok() {
                    break;
                }
            }
            clock.advance(time::Duration::seconds(DIGEST_WINDOW_SECS + 1));
            handle(ports, &flush).await.unwrap();
            let sent = w.sent().await;
            for i in [1, 2] {
                let tag = format!("Case {r}-{i} subject");
                let mails = mail_to(&sent, "sam@demo.example")
                    .iter()
                    .filter(|m| String::from_utf8_lossy(m).contains(&tag))
                    .count();
                match fault {
                    Fault::Error => assert_eq!(
                        mails, 1,
                        "fault at {k} ({fault:?}): notification {i} in {mails} e-mails; {calls:?}"
                    ),
                    Fault::Crash => assert!(
                        mails <= 1,
                        "fault at {k} ({fault:?}): notification {i} in {mails} e-mails"
                    ),
                }
            }
            // Nothing is left behind: no digest open, nothing pending.
            let state = w.env.store.get_notify_state(&demo(), sam).await.unwrap();
            assert_eq!(state.open_digest, None, "fault at {k} ({fault:?})");
            let pending = w.env.store.list_pending_notifications(&demo(), sam, 50).await.unwrap();
            assert!(pending.is_empty(), "fault at {k} ({fault:?}): {pending:?}");
            fired
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emailed_survey_goes_once_per_cycle_takes_a_changed_answer_and_counts_for_the_agent() {
    let mut w = world().await;
    ticket_from_email(&w, "ana@customer.example").await;
    w.reply(1, "Your parcel arrives tomorrow.").await;
    let resolve = json!({ "version": w.ticket_version(1).await, "status": "resolved" });
    let (status, _, body) = agent_call(&w.api, &w.token, "PATCH", "/v1/tickets/1", Some(resolve.clone())).await;
    assert_eq!(status, 200, "{body}");
    // The same resolve again, as a retried request delivers it: refused, no second survey.
    let (status, _, _) = agent_call(&w.api, &w.token, "PATCH", "/v1/tickets/1", Some(resolve)).await;
    assert_eq!(status, 409);
    let surveys = || async {
        w.env
            .store
            .list_surveys(&demo(), TicketNumber(1), &PageRequest::first(10))
            .await
            .unwrap()
            .items
    };
    assert_eq!(surveys().await.len(), 1);
    // The notice, the reply and the survey; the batch delivered twice sends each once.
    let batch = w.take_email_batch().await;
    assert_eq!(batch.records.len(), 3);
    assert!(w.send(&batch).await.batch_item_failures.is_empty());
    assert!(w.send(&batch).await.batch_item_failures.is_empty());
    let sent = w.sent().await;
    assert_eq!(sent.len(), 3);
    let mail = parse(&sent[2]);
    let text = mail.body_text(0).unwrap().into_owned();
    assert!(text.starts_with("How would you rate the help you received?"), "{text}");
    let link = text
        .split_whitespace()
        .find(|t| t.starts_with("https://api.baton.test/v1/surveys/"))
        .expect("the survey link");
    let path = link.trim_start_matches("https://api.baton.test");
    let survey = &surveys().await[0];
    let kept = w
        .messages(1)
        .await
        .into_iter()
        .find(|m| m.id == survey.message_id)
        .unwrap();
    assert!(
        !kept.text.contains("/v1/surveys/"),
        "the link is the customer's, not in the agents' thread: {}",
        kept.text
    );
    assert_eq!(survey.offer, baton_domain::csat::Offer::Sent { how: "link".into() });
    let alex = agent_api::auth::agent_id_for_email("alex@demo.example");
    assert_eq!(
        (survey.of.cycle(), survey.agent.as_ref(), &survey.resolved_by),
        (1, Some(&alex), &baton_domain::csat::ResolvedBy::Human)
    );

    // The page asks; a bad rating is named; a first answer, then a changed one.
    let (status, page) = survey_call(&w.api, "GET", path, None).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("How would you rate the help you received?") && page.contains("Demo Shop"));
    let (status, page) = survey_call(&w.api, "POST", path, Some("rating=9")).await;
    assert_eq!(status, 422, "{page}");
    assert!(page.contains("from 1 to 5"));
    let (status, page) = survey_call(&w.api, "POST", path, Some("rating=2&reason=Took+%3Cthree%3E+days")).await;
    assert_eq!(status, 200, "{page}");
    let (status, page) = survey_call(&w.api, "GET", path, None).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Took &lt;three&gt; days"),
        "the reason shown as text: {page}"
    );
    let (status, page) = survey_call(&w.api, "POST", path, Some("rating=4&comment=Solved+in+the+end")).await;
    assert_eq!(status, 200);
    assert!(page.contains("updated your earlier answer"), "{page}");
    let r = surveys().await[0].response.clone().unwrap();
    assert_eq!(
        (r.rating, r.answers, r.reason, r.comment.as_deref()),
        (4, 2, None, Some("Solved in the end"))
    );
    let (_, _, detail) = agent_call(&w.api, &w.token, "GET", "/v1/tickets/1", None).await;
    assert_eq!(detail["surveys"][0]["rating"], 4);
    assert_eq!(detail["surveys"][0]["offer"], json!({ "state": "sent", "how": "link" }));

    // Counted once, as it stands now (4: satisfied), for Alex and the whole tenant; the
    // AI's answer CSAT stays apart.
    baton_tests::count_analytics(&w.env).await;
    let admin = agent_token(&w.env, "demo", "lead@demo.example", "admin").await;
    let (status, _, team) = agent_call(&w.api, &admin, "GET", "/v1/reports/team?by=agent", None).await;
    assert_eq!(status, 200, "{team}");
    let csat = json!({ "responses": 1, "average": 4.0, "satisfied": 1, "score": 1.0 });
    assert_eq!(team["total"]["csat"], csat);
    let row = team["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["slice"] == format!("agent:{alex}"))
        .unwrap_or_else(|| panic!("Alex's row: {team}"));
    assert_eq!(row["csat"], csat);
    let (_, _, ai) = agent_call(&w.api, &admin, "GET", "/v1/reports/ai", None).await;
    assert_eq!(ai["total"]["human_csat"], csat);
    assert_eq!(ai["total"]["answer_csat"]["responses"], 0);

    // A tampered link is not valid; past its days the link says the survey has closed.
    let (status, _) = survey_call(&w.api, "GET", &format!("{path}x"), None).await;
    assert_eq!(status, 404);
    w.api.clock = Box::new(baton_domain::FixedClock::new(
        baton_domain::SystemClock.now().plus(time::Duration::days(8)),
    ));
    let (status, page) = survey_call(&w.api, "POST", path, Some("rating=1")).await;
    assert_eq!(status, 410, "{page}");
    assert!(page.contains("This survey has closed"), "{page}");
    assert_eq!(
        surveys().await[0].response.as_ref().unwrap().rating,
        4,
        "nothing changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_survey_waits_for_its_time_and_a_reopen_before_then_withdraws_it() {
    use baton_domain::ports::TenantStore;
    let w = world().await;
    let mut reports = baton_domain::tenant::ReportSettings::default();
    reports.survey.delay_minutes = 30;
    w.env.store.set_report_settings(&demo(), "UTC", &reports).await.unwrap();
    ticket_from_email(&w, "ana@customer.example").await;
    w.reply(1, "Your parcel arrives tomorrow.").await;
    let resolve = json!({ "version": w.ticket_version(1).await, "status": "resolved" });
    let (status, _, body) = agent_call(&w.api, &w.token, "PATCH", "/v1/tickets/1", Some(resolve)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        w.take_email_batch().await.records.len(),
        2,
        "the notice and the reply only"
    );
    let queues = baton_app::Queues {
        email: Some(Arc::new(baton_tests::queue(&w.env, "EmailQueue"))),
        ..Default::default()
    };
    let now = baton_domain::SystemClock.now();
    let swept = baton_app::relay::sweep(&w.env.store, &queues, now.plus(time::Duration::minutes(29)), 50)
        .await
        .unwrap();
    assert_eq!(swept.relayed, 0, "not due yet");
    let swept = baton_app::relay::sweep(&w.env.store, &queues, now.plus(time::Duration::minutes(31)), 50)
        .await
        .unwrap();
    assert_eq!(swept.relayed, 1);
    let survey_mail = w.take_email_batch().await;
    assert_eq!(survey_mail.records.len(), 1);

    // The customer wrote again meanwhile and the agent reopened: the survey is withdrawn.
    let reopen = json!({ "version": w.ticket_version(1).await });
    let (status, _, body) = agent_call(&w.api, &w.token, "POST", "/v1/tickets/1/reopen", Some(reopen)).await;
    assert_eq!(status, 200, "{body}");
    let before = w.sent().await.len();
    assert!(w.send(&survey_mail).await.batch_item_failures.is_empty());
    assert_eq!(w.sent().await.len(), before, "nothing mailed");
    let survey = baton_tests::cycle_survey(&w.env, 1, 1).await;
    assert_eq!(survey.offer, baton_domain::csat::Offer::Withdrawn);
    let message = w
        .messages(1)
        .await
        .into_iter()
        .find(|m| m.id == survey.message_id)
        .unwrap();
    assert_eq!(message.delivery, Some(DeliveryStatus::Failed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_survey_survives_a_fault_at_every_call_of_its_send_and_of_its_answer() {
    use baton_domain::csat::{Answer, Offer, Survey};
    use baton_domain::outbound::SurveyRef;
    use baton_domain::outbox::Effect;
    use baton_domain::ports::OutboxStore;
    use baton_tests::faults::{assert_sent_at_most_once, every_call, Faults, Faulty, SharedClock};
    let w = world().await;
    let faults = Faults::new();
    let clock = SharedClock::now_system();
    let store = Arc::new(Faulty::new(w.env.store.clone(), &faults));
    let faulty = faulty_sender(&w, &faults, &clock);
    // The send: the survey's mail goes at most once, and the survey says so when it went.
    let mut number = 0;
    every_call("the survey's send", 8, |k, fault| {
        number += 1;
        let (w, faults, faulty, clock) = (&w, &faults, &faulty, &clock);
        let n = number;
        async move {
            let customer = case_customer(w, "survey", k, fault).await;
            w.reply(n, "Done.").await;
            w.send(&w.take_email_batch().await).await;
            let resolve = json!({ "version": w.ticket_version(n).await, "status": "resolved" });
            let path = format!("/v1/tickets/{n}");
            let (status, _, body) = agent_call(&w.api, &w.token, "PATCH", &path, Some(resolve)).await;
            assert_eq!(status, 200, "{body}");
            let batch = w.take_email_batch().await;
            assert_eq!(batch.records.len(), 1, "the survey");
            let fired = send_with_fault(faults, clock, faulty, &batch, k, fault).await;
            let mails = w
                .sent()
                .await
                .iter()
                .filter(|m| {
                    let m = String::from_utf8_lossy(m);
                    m.contains(&customer) && m.contains("/v1/surveys/")
                })
                .count();
            let survey = baton_tests::cycle_survey(&w.env, n, 1).await;
            let message = w
                .messages(n)
                .await
                .into_iter()
                .find(|m| m.id == survey.message_id)
                .unwrap();
            let unconfirmed = timeline_events(&timeline(&w.env, TicketNumber(n)).await)
                .iter()
                .any(|(name, d)| name == "delivery_failed" && d["kind"] == "unconfirmed");
            assert_sent_at_most_once(fault, k, message.delivery, mails, unconfirmed);
            // Sent: the survey says so; unconfirmed: not offered, saying why.
            match (message.delivery, &survey.offer) {
                (Some(DeliveryStatus::Sent), Offer::Sent { how }) => assert_eq!(how, "link"),
                (Some(DeliveryStatus::Failed), Offer::NotOffered { reason }) => {
                    assert_eq!(reason, baton_app::delivery::UNCONFIRMED)
                }
                (d, o) => panic!("fault {fault:?} at {k}: message {d:?}, survey {o:?}"),
            }
            fired
        }
    })
    .await;

    // The answer: recorded once with its event, whichever call failed, after a retry.
    let at = SurveyRef::Cycle {
        ticket: TicketNumber(1),
        cycle: 1,
    };
    let mut rating = 0u8;
    let queues = baton_app::Queues {
        analytics: Some(Arc::new(Faulty::new(
            baton_tests::queue(&w.env, "AnalyticsQueue"),
            &faults,
        ))),
        ..Default::default()
    };
    every_call("a survey answer", 4, |k, fault| {
        rating = rating % 5 + 1;
        let (w, faults, store, queues) = (&w, &faults, &store, &queues);
        let answer = Answer::new(&rating.to_string(), None, None).unwrap();
        async move {
            let before = w.env.store.get_survey(&demo(), &at).await.unwrap();
            let answers = before.response.map_or(0, |r| r.answers);
            let now = baton_domain::SystemClock.now();
            faults.arm(k, fault);
            let _ = faults
                .run(baton_app::csat::answer(
                    store.as_ref(),
                    queues,
                    &demo(),
                    at,
                    None,
                    &answer,
                    now,
                ))
                .await;
            let fired = faults.fired();
            faults.disarm();
            baton_app::csat::answer(&w.env.store, queues, &demo(), at, None, &answer, now)
                .await
                .unwrap();
            let after = w.env.store.get_survey(&demo(), &at).await.unwrap();
            let r = after.response.unwrap();
            assert_eq!(
                (r.rating, r.answers),
                (answer.rating, answers + 1),
                "fault {fault:?} at {k}"
            );
            let key = format!("{}:answer:{}", Survey::key(&demo(), &at), answers + 1);
            let effect = w
                .env
                .store
                .get_effect(&Effect::id_for("analytics", &key))
                .await
                .unwrap();
            assert!(effect.is_some(), "its event is in the outbox (fault {fault:?} at {k})");
            fired
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ai_resolution_by_email_is_surveyed_by_a_link_whose_page_takes_the_answer() {
    let w = world().await;
    let raw = mail(
        "ben@customer.example",
        SUPPORT,
        "ai1@customer.example",
        "Delivery",
        "",
        "How long does delivery take?",
    );
    w.customer_writes("ses-ai1", &raw, SUPPORT).await;
    let answer = w.take_email_batch().await;
    assert_eq!(answer.records.len(), 1, "the AI's answer");
    assert!(w.send(&answer).await.batch_item_failures.is_empty());

    // Due an hour later: the mail carries the link, the agents' thread does not.
    let queues = baton_app::Queues {
        email: Some(Arc::new(baton_tests::queue(&w.env, "EmailQueue"))),
        ..Default::default()
    };
    let at = baton_domain::SystemClock.now().plus(time::Duration::minutes(61));
    baton_app::relay::sweep(&w.env.store, &queues, at, 50).await.unwrap();
    let batch = w.take_email_batch().await;
    assert_eq!(batch.records.len(), 1, "the survey");
    assert!(w.send(&batch).await.batch_item_failures.is_empty());
    let sent = w.sent().await;
    assert_eq!(sent.len(), 2);
    let mail = parse(&sent[1]);
    assert_eq!(
        mail.to().unwrap().first().unwrap().address(),
        Some("ben@customer.example")
    );
    let text = mail.body_text(0).unwrap().into_owned();
    let link = text
        .split_whitespace()
        .find(|t| t.starts_with("https://api.baton.test/v1/surveys/"))
        .expect("the survey link");
    let path = link.trim_start_matches("https://api.baton.test");
    let out: baton_domain::outbound::OutboundMessage =
        serde_json::from_str(batch.records[0].body.as_deref().unwrap()).unwrap();
    let of = out.survey.expect("a survey");
    assert!(matches!(of, baton_domain::outbound::SurveyRef::Answer { .. }));
    let survey = w.env.store.get_survey(&demo(), &of).await.unwrap();
    assert_eq!(survey.offer, baton_domain::csat::Offer::Sent { how: "link".into() });
    assert_eq!(survey.resolved_by, baton_domain::csat::ResolvedBy::Ai);
    let thread = w
        .env
        .store
        .list_messages(&demo(), out.conversation_id, &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    let kept = thread.iter().find(|m| m.id == survey.message_id).unwrap();
    assert!(!kept.text.contains("/v1/surveys/"), "{}", kept.text);

    // The page asks and records the answer on the AI's survey.
    let (status, page) = survey_call(&w.api, "GET", path, None).await;
    assert_eq!(status, 200, "{page}");
    let (status, page) = survey_call(&w.api, "POST", path, Some("rating=2&reason=Too+vague")).await;
    assert_eq!(status, 200, "{page}");
    let r = w.env.store.get_survey(&demo(), &of).await.unwrap().response.unwrap();
    assert_eq!((r.rating, r.reason.as_deref()), (2, Some("Too vague")));
}
