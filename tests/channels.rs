//! Outbound delivery on WhatsApp and Instagram: customer messages through intake and
//! triage, agents' replies through the agent API, and the channel sender's handler
//! sending to the local Graph API stand-in (`baton_local::graph_standin`), which answers
//! with Meta's success and error bodies. Delivery reports come back through the signed
//! WhatsApp webhook.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use baton_aws::graph::{EnvTokens, GraphSender};
use baton_domain::conversation::{DeliveryStatus, Message};
use baton_domain::meta_send::WhatsAppTemplate;
use baton_domain::ports::{ConversationStore, PageRequest, ParkingStore, TenantStore, TicketStore};
use baton_domain::tenant::{InstagramSettings, WhatsAppSettings};
use baton_domain::{Channel, TenantId, TicketNumber, Timestamp};
use baton_local::graph_standin::{meta_error, GraphStandin};
use baton_tests::{
    agent_api_deps, agent_call, agent_token, intake_onto, local_secret, post, seeded_env, signed, take_batch, timeline,
    timeline_events, triage_deps, triage_records, whatsapp_text, whatsapp_webhook, TestEnv,
};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, OnceLock};

const WA_TOKEN: &str = "EAAG-whatsapp-system-user-token-0123456789";
const IG_TOKEN: &str = "IGQW-instagram-user-token-0123456789";
const PHONE_NUMBER_ID: &str = "100000000000001";

fn demo() -> TenantId {
    TenantId::new("demo").unwrap()
}

/// Every log line of this test binary, as the functions write them (JSON, debug and
/// up), so a test can search them.
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "info,baton_app=debug,baton_aws=debug,channel_sender=debug",
            ))
            .with_writer(move || LogWriter(writer.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buf
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct World {
    env: TestEnv,
    graph: GraphStandin,
    triage: triage::Deps,
    api: agent_api::Deps,
    sender: channel_sender::Deps,
    token: String,
}

async fn world() -> World {
    logs();
    let env = seeded_env().await;
    let graph = GraphStandin::start(0).await.unwrap();
    let store: Arc<dyn baton_domain::ports::Store> = Arc::new(env.store.clone());
    let sender = channel_sender::Deps {
        store: store.clone(),
        api: Arc::new(GraphSender::new(format!("{}/v21.0", graph.url))),
        tokens: Arc::new(EnvTokens {
            whatsapp: Some(WA_TOKEN.into()),
            instagram: Some(IG_TOKEN.into()),
        }),
        clock: Arc::new(baton_domain::SystemClock),
    };
    let token = agent_token(&env, "demo", "alex@demo.example", "agent").await;
    World {
        triage: triage_deps(&env, store.clone()),
        api: agent_api_deps(&env, store),
        env,
        graph,
        sender,
        token,
    }
}

fn hours_ago(h: i64) -> Timestamp {
    Timestamp::from_unix_millis(time::OffsetDateTime::now_utc().unix_timestamp() * 1000 - h * 3_600_000).unwrap()
}

impl World {
    /// A customer message (sent `hours` ago by the channel's clock) through intake and
    /// triage.
    async fn customer_says(&self, mut message: baton_domain::channels::ChannelMessage, hours: i64) {
        message.sent_at = Some(hours_ago(hours));
        let inbound = intake_onto(&self.env, "InboundQueue", message).await;
        triage_records(&self.triage, &[inbound]).await;
    }

    async fn send(&self, batch: &SqsEvent) -> SqsBatchResponse {
        channel_sender::handler(&self.sender, LambdaEvent::new(batch.clone(), Context::default()))
            .await
            .unwrap()
    }

    /// Sends everything queued now; the batch, to redeliver.
    async fn send_queued(&self) -> (SqsEvent, SqsBatchResponse) {
        let batch = take_batch(&self.env, "OutboundQueue").await;
        let out = self.send(&batch).await;
        (batch, out)
    }

    async fn reply(&self, n: u64, text: &str) -> String {
        let version = self
            .env
            .store
            .get_ticket(&demo(), TicketNumber(n))
            .await
            .unwrap()
            .version;
        let (status, _, body) = agent_call(
            &self.api,
            &self.token,
            "POST",
            &format!("/v1/tickets/{n}/replies"),
            Some(json!({ "version": version, "text": text })),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        body["entry_id"].as_str().unwrap().to_owned()
    }

    async fn message(&self, n: u64, id: &str) -> Message {
        let ticket = self.env.store.get_ticket(&demo(), TicketNumber(n)).await.unwrap();
        self.env
            .store
            .list_messages(&demo(), ticket.source.conversation_id, &PageRequest::first(100))
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|m| m.id.to_string() == id)
            .unwrap()
    }

    /// An agent's call on ticket `n` at the version it has now.
    async fn act(&self, n: u64, method: &str, path: &str, mut body: Value) {
        let ticket = self.env.store.get_ticket(&demo(), TicketNumber(n)).await.unwrap();
        body["version"] = ticket.version.into();
        let path = format!("/v1/tickets/{n}{path}");
        let (status, _, out) = agent_call(&self.api, &self.token, method, &path, Some(body)).await;
        assert!(status < 300, "{method} {path}: {status} {out}");
    }

    async fn survey(&self, n: u64, cycle: u32) -> baton_domain::csat::Survey {
        baton_tests::cycle_survey(&self.env, n, cycle).await
    }

    async fn events(&self, n: u64, name: &str) -> Vec<Value> {
        timeline_events(&timeline(&self.env, TicketNumber(n)).await)
            .into_iter()
            .filter(|(e, _)| e == name)
            .map(|(_, d)| d)
            .collect()
    }

    /// Meta's WhatsApp delivery report for `statuses`, signed, through the webhook.
    async fn status_report(&self, statuses: Value) {
        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID },
                "statuses": statuses,
            }}]}]
        })
        .to_string();
        let wh = whatsapp_webhook(&self.env);
        let (status, text) = post(
            &wh,
            &signed("/webhooks/whatsapp", &body, &local_secret("WHATSAPP_APP_SECRET")),
        )
        .await;
        assert_eq!(status, 200, "{text}");
    }
}

fn instagram_text(sender: &str, id: &str, text: &str) -> baton_domain::channels::ChannelMessage {
    baton_domain::channels::ChannelMessage {
        channel: Channel::Instagram,
        account_id: "17841400000000001".into(),
        kind: baton_domain::channels::ContentKind::Text,
        ..whatsapp_text(sender, id, text)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whatsapp_reply_is_sent_once_in_order_and_delivery_reports_update_it() {
    let w = world().await;
    w.customer_says(
        whatsapp_text("16505550101", "wamid.in1", "I want to talk to a human"),
        1,
    )
    .await;
    let long = format!(
        "{}\n\n{}",
        "Your parcel is at the depot. ".repeat(100).trim(),
        "x ".repeat(1500).trim()
    );
    let reply = w.reply(1, &long).await;
    let (batch, out) = w.send_queued().await;
    assert_eq!(batch.records.len(), 2, "the handoff notice and the reply");
    assert!(out.batch_item_failures.is_empty());
    let sent = w.graph.requests();
    assert_eq!(sent.len(), 3, "the notice, then the reply in two parts");
    for r in &sent {
        assert_eq!(r.path, format!("/v21.0/{PHONE_NUMBER_ID}/messages"));
        assert_eq!(r.token, WA_TOKEN);
        assert_eq!(r.body["messaging_product"], "whatsapp");
        assert_eq!(r.body["to"], "16505550101");
        assert_eq!(r.body["type"], "text");
        assert!(r.body["text"]["body"].as_str().unwrap().chars().count() <= 4096);
    }
    let parts: Vec<&str> = sent[1..]
        .iter()
        .map(|r| r.body["text"]["body"].as_str().unwrap())
        .collect();
    assert_eq!(parts.join("\n\n"), long, "in order, nothing lost");

    // A redelivered batch sends nothing.
    assert!(w.send(&batch).await.batch_item_failures.is_empty());
    assert_eq!(w.graph.requests().len(), 3);

    // The reply carries its wamid; Meta's reports move it on.
    let stored = w.message(1, &reply).await;
    assert_eq!(stored.delivery, Some(DeliveryStatus::Sent));
    // The message names its first part; every part's wamid leads back to it.
    let first_wamid = sent[1].answer["messages"][0]["id"].as_str().unwrap();
    let last_wamid = sent[2].answer["messages"][0]["id"].as_str().unwrap();
    assert_eq!(stored.channel_message_id.as_deref(), Some(first_wamid));
    w.status_report(json!([
        { "id": first_wamid, "status": "delivered", "timestamp": "1796117400", "recipient_id": "16505550101" },
        { "id": last_wamid, "status": "read", "timestamp": "1796117460", "recipient_id": "16505550101" },
    ]))
    .await;
    assert_eq!(w.message(1, &reply).await.delivery, Some(DeliveryStatus::Read));

    // A failure reported later is shown on the ticket in words.
    let notice_wamid = sent[0].answer["messages"][0]["id"].as_str().unwrap();
    w.status_report(json!([{ "id": notice_wamid, "status": "failed", "timestamp": "1796117500",
        "recipient_id": "16505550101",
        "errors": [{ "code": 131049, "title": "This message was not delivered to maintain healthy ecosystem engagement." }] }]))
    .await;
    let failed = w.events(1, "delivery_failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("WhatsApp did not deliver it"),
        "{failed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_the_window_a_whatsapp_reply_goes_as_the_template_or_needs_follow_up() {
    let w = world().await;
    w.customer_says(
        whatsapp_text("16505550102", "wamid.in2", "I want to talk to a human"),
        26,
    )
    .await;
    let first = w.reply(1, "Sorry for the wait, your refund is approved.").await;
    let (_, out) = w.send_queued().await;
    assert!(out.batch_item_failures.is_empty());
    assert!(w.graph.requests().is_empty(), "no plain message outside the window");
    let follow_ups = w.events(1, "needs_follow_up").await;
    assert_eq!(follow_ups.len(), 2, "the notice and the reply: {follow_ups:?}");
    assert!(follow_ups.iter().any(|f| f["message_id"] == first.as_str()));
    let stored = w.message(1, &first).await;
    assert_eq!(stored.delivery, Some(DeliveryStatus::Failed));
    assert!(stored.delivery_error.unwrap().contains("24 hours"));

    // With an approved template configured, the next reply goes as the template.
    let template = WhatsAppTemplate {
        name: "case_update".into(),
        language: "en_US".into(),
        body_parameters: vec!["{ticket}".into(), "{text}".into()],
    };
    w.env
        .store
        .set_sending_settings(
            &demo(),
            &WhatsAppSettings {
                outside_window_template: Some(template),
                ..Default::default()
            },
            &InstagramSettings::default(),
        )
        .await
        .unwrap();
    let second = w.reply(1, "Your refund\nis approved.").await;
    let (_, out) = w.send_queued().await;
    assert!(out.batch_item_failures.is_empty());
    let sent = w.graph.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["type"], "template");
    assert_eq!(sent[0].body["template"]["name"], "case_update");
    assert_eq!(sent[0].body["template"]["language"]["code"], "en_US");
    let params = &sent[0].body["template"]["components"][0]["parameters"];
    assert_eq!(params[0]["text"], "1");
    assert_eq!(params[1]["text"], "Your refund is approved.");
    assert_eq!(w.message(1, &second).await.delivery, Some(DeliveryStatus::Sent));

    // Meta says the window is closed though our clock thought it open: the template.
    w.customer_says(whatsapp_text("16505550102", "wamid.in3", "Thanks, and the invoice?"), 0)
        .await;
    w.graph
        .fail_next("/messages", 1, 400, meta_error(131047, None, "Re-engagement message"));
    let third = w.reply(1, "The invoice is attached to your account.").await;
    let (_, out) = w.send_queued().await;
    assert!(out.batch_item_failures.is_empty());
    let sent = w.graph.requests();
    assert_eq!(sent.len(), 3);
    assert_eq!((sent[1].status, sent[1].body["type"].as_str()), (400, Some("text")));
    assert_eq!((sent[2].status, sent[2].body["type"].as_str()), (200, Some("template")));
    assert_eq!(w.message(1, &third).await.delivery, Some(DeliveryStatus::Sent));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_retried_and_a_refused_token_disconnects_the_channel_without_leaking_it() {
    let w = world().await;
    w.customer_says(
        whatsapp_text("16505550103", "wamid.in4", "I want to talk to a human"),
        1,
    )
    .await;
    // The pair rate limit for this recipient: the record fails alone, then goes.
    w.graph.fail_next(
        "/messages",
        1,
        400,
        meta_error(
            131056,
            None,
            "(#131056) (Business Account, Consumer Account) pair rate limit hit",
        ),
    );
    let (batch, out) = w.send_queued().await;
    assert_eq!(out.batch_item_failures.len(), 1, "retried later");
    assert!(w.send(&batch).await.batch_item_failures.is_empty());
    let accepted = |w: &World| w.graph.requests().iter().filter(|r| r.status == 200).count();
    assert_eq!(accepted(&w), 1);

    // The account's throughput limit, likewise.
    w.reply(1, "Checking now.").await;
    w.graph.fail_next(
        "/messages",
        1,
        400,
        meta_error(130429, None, "(#130429) Rate limit hit"),
    );
    let (batch, out) = w.send_queued().await;
    assert_eq!(out.batch_item_failures.len(), 1);
    assert!(w.send(&batch).await.batch_item_failures.is_empty());
    assert_eq!(accepted(&w), 2);

    // An expired token: the channel is disconnected, the reply waits (parked, not failed).
    let waiting = w.reply(1, "Here is what I found.").await;
    w.graph.fail_next(
        "/messages",
        1,
        401,
        meta_error(190, Some(463), "Error validating access token: Session has expired."),
    );
    let (_, out) = w.send_queued().await;
    assert!(
        out.batch_item_failures.is_empty(),
        "parked, so the conversation's group is not held up"
    );
    let tenant = w.env.store.get_tenant(&demo()).await.unwrap();
    let health = tenant.whatsapp_health.expect("health recorded");
    assert!(health.disconnected);
    assert!(health.last_error.unwrap().contains("access token"));
    assert_eq!(w.message(1, &waiting).await.delivery, Some(DeliveryStatus::Queued));
    let parked = w
        .env
        .store
        .list_parked(channel_sender::CONSUMER, &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(parked.len(), 1);
    assert!(parked[0].reason.contains("disconnected"));

    // The token appears in no API answer and no log line.
    let (status, _, detail) = agent_call(&w.api, &w.token, "GET", "/v1/tickets/1", None).await;
    assert_eq!(status, 200);
    let listing = reqwest::get(format!("{}/_baton/requests", w.graph.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let logs = String::from_utf8(logs().lock().unwrap().clone()).unwrap();
    assert!(logs.contains("channel disconnected"), "the logs were captured");
    for (what, text) in [
        ("ticket detail", detail.to_string()),
        ("stand-in listing", listing),
        ("logs", logs),
    ] {
        assert!(!text.contains(WA_TOKEN), "the token leaked into the {what}");
        assert!(!text.contains(IG_TOKEN), "the token leaked into the {what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instagram_reply_is_tagged_human_agent_only_for_a_person_within_seven_days() {
    let w = world().await;
    // Inside the window: a plain message, no tag.
    w.customer_says(
        instagram_text("1780000000000001", "mid.in1", "I want to talk to a human"),
        1,
    )
    .await;
    w.send_queued().await;
    let sent = w.graph.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/v21.0/me/messages");
    assert_eq!(sent[0].token, IG_TOKEN);
    assert_eq!(sent[0].body["recipient"]["id"], "1780000000000001");
    assert!(sent[0].body.get("tag").is_none());

    // Two days later: without Meta's permission, a follow-up; with it, the tag.
    w.customer_says(
        instagram_text("1780000000000002", "mid.in2", "I want to talk to a human"),
        48,
    )
    .await;
    let (_, out) = w.send_queued().await;
    assert!(out.batch_item_failures.is_empty());
    assert_eq!(w.graph.requests().len(), 1, "the AI's notice is never tagged");
    let refused = w.reply(2, "Hello again, a person here.").await;
    w.send_queued().await;
    assert_eq!(w.graph.requests().len(), 1);
    assert_eq!(w.message(2, &refused).await.delivery, Some(DeliveryStatus::Failed));
    w.env
        .store
        .set_sending_settings(
            &demo(),
            &WhatsAppSettings::default(),
            &InstagramSettings {
                human_agent_allowed: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let tagged = w.reply(2, "A person here: your exchange is booked.").await;
    w.send_queued().await;
    let sent = w.graph.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].body["tag"], "HUMAN_AGENT");
    assert_eq!(sent[1].body["messaging_type"], "MESSAGE_TAG");
    assert_eq!(
        sent[1].body["message"]["text"],
        "A person here: your exchange is booked."
    );
    let stored = w.message(2, &tagged).await;
    assert_eq!(stored.delivery, Some(DeliveryStatus::Sent));
    assert!(stored.channel_message_id.unwrap().starts_with("mid."));
    assert_eq!(
        w.events(2, "needs_follow_up").await.len(),
        2,
        "the notice and the refused reply are marked for follow-up"
    );
}

/// The agent's reply goes once whatever call of the sender fails or crashes: with an
/// error at any call, the redelivery sends exactly one message; with a crash, never two,
/// and a crash in the middle of the Graph call is marked "not confirmed" on the ticket.
/// `batch` through `faulty` with `fault` at call `k`, then redelivered without faults
/// until it is done; whether the fault was reached.
async fn send_with_fault(
    faults: &Arc<baton_tests::faults::Faults>,
    clock: &baton_tests::faults::SharedClock,
    faulty: &channel_sender::Deps,
    batch: &SqsEvent,
    k: u64,
    fault: baton_tests::faults::Fault,
) -> bool {
    faults.arm(k, fault);
    let run = || channel_sender::handler(faulty, LambdaEvent::new(batch.clone(), Context::default()));
    faults.run(run()).await;
    let fired = faults.fired();
    faults.disarm();
    baton_tests::faults::redeliver(faults, clock, run).await;
    fired
}

/// The channel sender with every store and Graph API call open to `faults`.
fn faulty_sender(
    w: &World,
    faults: &Arc<baton_tests::faults::Faults>,
    clock: &baton_tests::faults::SharedClock,
) -> channel_sender::Deps {
    use baton_tests::faults::Faulty;
    channel_sender::Deps {
        store: Arc::new(Faulty::new(w.env.store.clone(), faults)),
        api: Arc::new(Faulty::new(GraphSender::new(format!("{}/v21.0", w.graph.url)), faults)),
        tokens: w.sender.tokens.clone(),
        clock: Arc::new(clock.clone()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_survives_a_fault_at_every_call_of_the_channel_sender_and_is_never_sent_twice() {
    use baton_tests::faults::{assert_sent_at_most_once, every_call, Faults, SharedClock};
    let w = world().await;
    let faults = Faults::new();
    let clock = SharedClock::now_system();
    let faulty = faulty_sender(&w, &faults, &clock);
    let mut number = 0;
    every_call("the channel sender", 8, |k, fault| {
        number += 1;
        let (w, faults, faulty, clock) = (&w, &faults, &faulty, &clock);
        let n = number;
        async move {
            let customer = format!("1650555{k:02}{}", fault as u8);
            w.customer_says(
                whatsapp_text(
                    &customer,
                    &format!("wamid.k{k}-{}", fault as u8),
                    "I want to talk to a human",
                ),
                1,
            )
            .await;
            w.send_queued().await;
            let text = format!("Reply for case {k} {fault:?}.");
            let id = w.reply(n, &text).await;
            let batch = take_batch(&w.env, "OutboundQueue").await;
            let fired = send_with_fault(faults, clock, faulty, &batch, k, fault).await;
            let sends = w
                .graph
                .requests()
                .iter()
                .filter(|r| r.status == 200 && r.body["text"]["body"] == text.as_str())
                .count();
            let reply = w.message(n, &id).await;
            let unconfirmed = w
                .events(n, "delivery_failed")
                .await
                .iter()
                .any(|d| d["kind"] == "unconfirmed");
            assert_sent_at_most_once(fault, k, reply.delivery, sends, unconfirmed);
            fired
        }
    })
    .await;
}

const CONNECTED_TOKEN: &str = "EAAG-tenant-connected-token-first-0001";
const RECONNECTED_TOKEN: &str = "EAAG-tenant-connected-token-second-0002";

/// The sender as deployed: the tenant's sealed token (local KMS), else the deployment's.
fn stored_tokens(env: &TestEnv) -> Arc<dyn baton_domain::ports::ChannelTokens> {
    Arc::new(baton_app::tokens::StoredTokens::new(
        Arc::new(env.store.clone()),
        Arc::new(baton_tests::secret_box(env)),
        Arc::new(EnvTokens {
            whatsapp: Some(WA_TOKEN.into()),
            instagram: None,
        }),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_connects_whatsapp_with_a_sealed_token_and_reconnecting_sends_what_waited() {
    let mut w = world().await;
    w.sender.tokens = stored_tokens(&w.env);
    let admin = agent_token(&w.env, "demo", "ana@demo.example", "admin").await;
    w.customer_says(
        whatsapp_text("16505550109", "wamid.in9", "I want to talk to a human"),
        1,
    )
    .await;
    w.send_queued().await;
    assert_eq!(
        w.graph.requests()[0].token,
        WA_TOKEN,
        "no token of its own yet: the deployment's"
    );

    // Agents may not see or change connections.
    let (status, _, _) = agent_call(&w.api, &w.token, "GET", "/v1/channels", None).await;
    assert_eq!(status, 403);

    // Connect: the number stays claimed, a second is added, the token is sealed.
    let (status, _, before) = agent_call(&w.api, &admin, "GET", "/v1/channels", None).await;
    assert_eq!(status, 200, "{before}");
    let revision = before["revision"].as_u64().unwrap();
    let body = |token: &str, revision: u64| {
        json!({
            "phone_number_ids": [PHONE_NUMBER_ID, "100000000000002"],
            "business_account_id": "102290129340398",
            "access_token": token,
            "outside_window_template": { "name": "case_update", "language": "en_US", "body_parameters": ["{ticket}", "{text}"] },
            "expected_revision": revision,
        })
    };
    let connect = |token: &'static str, revision: u64| {
        let (api, admin) = (&w.api, admin.clone());
        async move { agent_call(api, &admin, "PUT", "/v1/channels/whatsapp", Some(body(token, revision))).await }
    };
    let (status, _, connected) = connect(CONNECTED_TOKEN, revision).await;
    assert_eq!(status, 200, "{connected}");
    assert_eq!(connected["whatsapp"]["token_stored"], true);
    assert_eq!(connected["whatsapp"]["outside_window_template"]["name"], "case_update");
    assert_eq!(connected["revision"].as_u64(), Some(revision + 1));
    for id in [PHONE_NUMBER_ID, "100000000000002"] {
        let b = w.env.store.resolve_channel(Channel::Whatsapp, id).await.unwrap();
        assert_eq!(b.map(|b| b.tenant_id), Some(demo()), "{id} leads to the tenant");
    }
    // The same revision again: someone changed it meanwhile.
    let (status, _, stale) = connect(CONNECTED_TOKEN, revision).await;
    assert_eq!(status, 409, "{stale}");

    // Another tenant cannot take the number: nothing of theirs changes.
    let other = agent_token(&w.env, "other", "root@other.example", "admin").await;
    let (status, _, taken) = agent_call(
        &w.api,
        &other,
        "PUT",
        "/v1/channels/whatsapp",
        Some(json!({ "phone_number_ids": [PHONE_NUMBER_ID], "business_account_id": "55555", "access_token": "EAAG-someone-elses-token-0000" })),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(taken["error"]["code"], "endpoint_taken");
    let other_tenant = w.env.store.get_tenant(&TenantId::new("other").unwrap()).await.unwrap();
    assert!(other_tenant.channels.whatsapp_phone_number_ids.is_empty());
    assert!(w
        .env
        .store
        .get_channel_secret(&other_tenant.id, Channel::Whatsapp)
        .await
        .unwrap()
        .is_none());

    // A sealed token does not open for another tenant (the scope is authenticated).
    let sealed = w
        .env
        .store
        .get_channel_secret(&demo(), Channel::Whatsapp)
        .await
        .unwrap()
        .unwrap();
    let secrets = baton_tests::secret_box(&w.env);
    use baton_domain::ports::SecretBox;
    use baton_domain::secrets::{SecretError, SecretScope};
    let opened = secrets
        .open(SecretScope::channel(&demo(), Channel::Whatsapp), &sealed)
        .await
        .unwrap();
    assert_eq!(opened.expose(), CONNECTED_TOKEN);
    let elsewhere = secrets
        .open(SecretScope::channel(&other_tenant.id, Channel::Whatsapp), &sealed)
        .await;
    assert!(matches!(elsewhere, Err(SecretError::Corrupt(_))), "{elsewhere:?}");

    // The next reply goes with the tenant's own token.
    w.reply(1, "Looking into it.").await;
    w.send_queued().await;
    assert_eq!(w.graph.requests().last().unwrap().token, CONNECTED_TOKEN);

    // Meta refuses it: the channel is disconnected and the reply waits.
    let waiting = w.reply(1, "Found it: the parcel is at the depot.").await;
    w.graph.fail_next(
        "/messages",
        1,
        401,
        meta_error(
            190,
            Some(460),
            "Error validating access token: The session has been invalidated.",
        ),
    );
    w.send_queued().await;
    let (_, _, shown) = agent_call(&w.api, &admin, "GET", "/v1/channels", None).await;
    assert_eq!(shown["whatsapp"]["health"]["disconnected"], true, "{shown}");
    assert_eq!(w.message(1, &waiting).await.delivery, Some(DeliveryStatus::Queued));

    // Reconnecting with a new token sends what waited, once, with the new token.
    let revision = shown["revision"].as_u64().unwrap();
    let (status, _, reconnected) = connect(RECONNECTED_TOKEN, revision).await;
    assert_eq!(status, 200, "{reconnected}");
    assert_eq!(reconnected["replayed"], 1);
    assert_eq!(reconnected["whatsapp"]["health"]["disconnected"], false);
    let (batch, out) = w.send_queued().await;
    assert!(out.batch_item_failures.is_empty());
    assert!(
        w.send(&batch).await.batch_item_failures.is_empty(),
        "a redelivery sends nothing"
    );
    let last = w.graph.requests().last().unwrap().clone();
    assert_eq!(last.token, RECONNECTED_TOKEN);
    assert_eq!(last.status, 200);
    assert_eq!(w.message(1, &waiting).await.delivery, Some(DeliveryStatus::Sent));
    let sent_with_new = w
        .graph
        .requests()
        .iter()
        .filter(|r| r.token == RECONNECTED_TOKEN)
        .count();
    assert_eq!(sent_with_new, 1, "sent once");

    // No token in any answer, log line or stored item.
    let raw_items = w
        .env
        .store
        .client()
        .scan()
        .table_name(w.env.store.table())
        .send()
        .await
        .unwrap();
    let logs = String::from_utf8(logs().lock().unwrap().clone()).unwrap();
    assert!(logs.contains("channel connections changed"), "the logs were captured");
    for (what, text) in [
        ("connect answer", connected.to_string()),
        ("reconnect answer", reconnected.to_string()),
        ("channels view", shown.to_string()),
        ("table", format!("{:?}", raw_items.items())),
        ("logs", logs),
    ] {
        for t in [CONNECTED_TOKEN, RECONNECTED_TOKEN, "EAAG-someone-elses-token-0000"] {
            assert!(!text.contains(t), "a token leaked into the {what}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_and_widget_connections_move_their_lookup_items_with_them() {
    let w = world().await;
    let admin = agent_token(&w.env, "demo", "ana@demo.example", "admin").await;
    let put = |path: &'static str, body: Value| {
        let api = &w.api;
        let admin = admin.clone();
        async move { agent_call(api, &admin, "PUT", path, Some(body)).await }
    };
    let (status, _, email) = put(
        "/v1/channels/email",
        json!({ "slug": "demo-help", "from_address": "help@demo.example", "display_name": "Demo Help" }),
    )
    .await;
    assert_eq!(status, 200, "{email}");
    assert_eq!(
        email["email"]["inbound_address"],
        "support+demo-help@inbound.baton.local"
    );
    assert_eq!(email["email"]["display_name"], "Demo Help");
    let slug = |s: &'static str| {
        let store = w.env.store.clone();
        async move {
            store
                .resolve_channel(Channel::Email, s)
                .await
                .unwrap()
                .map(|b| b.tenant_id)
        }
    };
    assert_eq!(slug("demo-help").await, Some(demo()));
    assert_eq!(slug("demo").await, None, "the old slug is released");

    // Bad input names every field.
    let (status, _, bad) = put(
        "/v1/channels/widget",
        json!({ "allowed_origins": ["http://shop.example", "https://ok.example"] }),
    )
    .await;
    assert_eq!(status, 422, "{bad}");
    assert!(bad["error"]["fields"]["allowed_origins[0]"].is_string(), "{bad}");

    let (status, _, widget) = put(
        "/v1/channels/widget",
        json!({ "allowed_origins": ["https://Shop.Example/", "http://localhost:5173"] }),
    )
    .await;
    assert_eq!(status, 200, "{widget}");
    let old_key = widget["widget"]["key"].as_str().unwrap().to_owned();
    assert_eq!(
        widget["widget"]["allowed_origins"],
        json!(["https://shop.example", "http://localhost:5173"])
    );
    let (status, _, rotated) = agent_call(&w.api, &admin, "POST", "/v1/channels/widget/rotate-key", None).await;
    assert_eq!(status, 200, "{rotated}");
    let new_key = rotated["widget"]["key"].as_str().unwrap();
    assert_ne!(new_key, old_key);
    assert!(new_key.starts_with("wk_"));
    let key = |k: String| {
        let store = w.env.store.clone();
        async move {
            store
                .resolve_channel(Channel::Widget, &k)
                .await
                .unwrap()
                .map(|b| b.tenant_id)
        }
    };
    assert_eq!(key(new_key.to_owned()).await, Some(demo()));
    assert_eq!(key(old_key).await, None, "the old key stops working");

    // Disconnecting releases the endpoint.
    let (status, _, gone) = agent_call(&w.api, &admin, "DELETE", "/v1/channels/email", None).await;
    assert_eq!(status, 200, "{gone}");
    assert!(gone["email"].is_null());
    assert_eq!(slug("demo-help").await, None);
    let (status, _, _) = agent_call(&w.api, &admin, "DELETE", "/v1/channels/fax", None).await;
    assert_eq!(status, 404);
}

/// The customer's tap on a survey choice carrying `payload`, as the webhook parses it.
fn tap(sender: &str, id: &str, title: &str, payload: &str) -> baton_domain::channels::ChannelMessage {
    let mut m = whatsapp_text(sender, id, title);
    m.kind = baton_domain::channels::ContentKind::InteractiveReply;
    m.attachments = vec![baton_domain::conversation::Attachment {
        kind: "reply".into(),
        reference: payload.into(),
        ..Default::default()
    }];
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whatsapp_survey_is_buttons_in_the_window_a_template_or_not_offered_outside_and_a_tap_answers_it() {
    use baton_domain::csat::Offer;
    let w = world().await;
    w.customer_says(whatsapp_text("16505550110", "wamid.s1", "I want to talk to a human"), 1)
        .await;
    w.reply(1, "Done, your refund is on its way.").await;
    w.send_queued().await;
    let before = w.graph.requests().len();
    w.act(1, "PATCH", "", json!({ "status": "resolved" })).await;
    let (batch, out) = w.send_queued().await;
    assert!(out.batch_item_failures.is_empty());
    let sent = w.graph.requests();
    assert_eq!(sent.len(), before + 1);
    let body = &sent[before].body;
    assert_eq!(body["type"], "interactive");
    assert_eq!(
        body["interactive"]["body"]["text"],
        "How would you rate the help you received?"
    );
    let buttons: Vec<(&str, &str)> = body["interactive"]["action"]["buttons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["reply"]["id"].as_str().unwrap(),
                b["reply"]["title"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        buttons,
        [("csat:1:1:5", "Great"), ("csat:1:1:3", "Okay"), ("csat:1:1:1", "Poor")]
    );
    assert_eq!(w.survey(1, 1).await.offer, Offer::Sent { how: "buttons".into() });
    // Delivered again: not sent again.
    assert!(w.send(&batch).await.batch_item_failures.is_empty());
    assert_eq!(w.graph.requests().len(), before + 1);

    // The customer taps "Okay": the answer, and the ticket stays resolved with the AI quiet.
    w.customer_says(tap("16505550110", "wamid.s2", "Okay", "csat:1:1:3"), 0)
        .await;
    assert_eq!(w.survey(1, 1).await.response.unwrap().rating, 3);
    let t = w.env.store.get_ticket(&demo(), TicketNumber(1)).await.unwrap();
    assert_eq!(t.status, baton_domain::ticket::Status::Resolved);
    assert!(
        take_batch(&w.env, "OutboundQueue").await.records.is_empty(),
        "nothing said back"
    );

    // Outside the 24-hour window and no survey template: recorded as not offered, and the
    // agent is not asked to follow up on it.
    w.customer_says(
        whatsapp_text("16505550111", "wamid.t1", "I want to talk to a human"),
        26,
    )
    .await;
    w.reply(2, "Sorry for the wait.").await;
    w.send_queued().await;
    let follow_ups = w.events(2, "needs_follow_up").await.len();
    w.act(2, "PATCH", "", json!({ "status": "resolved" })).await;
    let count = w.graph.requests().len();
    let (_, out) = w.send_queued().await;
    assert!(out.batch_item_failures.is_empty());
    assert_eq!(w.graph.requests().len(), count, "nothing sent");
    match w.survey(2, 1).await.offer {
        Offer::NotOffered { reason } => assert!(reason.contains("24 hours"), "{reason}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.events(2, "needs_follow_up").await.len(), follow_ups);

    // With a survey template, the next cycle's survey goes as the template, its
    // quick-reply buttons carrying the choices.
    let admin = agent_token(&w.env, "demo", "lead@demo.example", "admin").await;
    let settings = json!({ "time_zone": "UTC", "ai_resolution_window_hours": 24, "survey": {
        "whatsapp_template": { "name": "csat_followup", "language": "en_US", "body_parameters": ["{ticket}"] } } });
    let (status, _, body) = agent_call(&w.api, &admin, "PUT", "/v1/reports/settings", Some(settings)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["survey"]["question"], "How would you rate the help you received?");
    w.act(2, "POST", "/reopen", json!({})).await;
    w.act(2, "PATCH", "", json!({ "status": "resolved" })).await;
    let (_, out) = w.send_queued().await;
    assert!(out.batch_item_failures.is_empty());
    let sent = w.graph.requests();
    assert_eq!(sent.len(), count + 1);
    let t = &sent[count].body["template"];
    assert_eq!(t["name"], "csat_followup");
    assert_eq!(t["components"][0]["parameters"][0]["text"], "2");
    let quick: Vec<&str> = t["components"].as_array().unwrap()[1..]
        .iter()
        .map(|c| c["parameters"][0]["payload"].as_str().unwrap())
        .collect();
    assert_eq!(quick, ["csat:2:2:5", "csat:2:2:3", "csat:2:2:1"]);
    assert_eq!(w.survey(2, 2).await.offer, Offer::Sent { how: "template".into() });

    // A payload naming someone else's survey is just a message of this conversation.
    w.customer_says(tap("16505550112", "wamid.x1", "Poor", "csat:1:1:1"), 0)
        .await;
    assert_eq!(w.survey(1, 1).await.response.unwrap().rating, 3, "not theirs to answer");

    // Meta refuses the survey for good: not offered, with Meta's reason.
    w.customer_says(whatsapp_text("16505550113", "wamid.y1", "I want to talk to a human"), 0)
        .await;
    let open = w
        .env
        .store
        .list_by_status(&demo(), baton_domain::ticket::Status::Open, &PageRequest::first(10))
        .await
        .unwrap()
        .items;
    let n = open.iter().map(|t| t.number.0).max().unwrap();
    w.send_queued().await;
    w.act(n, "PATCH", "", json!({ "status": "resolved" })).await;
    w.graph
        .fail_next("/messages", 1, 400, meta_error(131026, None, "Message undeliverable"));
    let (_, out) = w.send_queued().await;
    assert!(out.batch_item_failures.is_empty());
    match w.survey(n, 1).await.offer {
        Offer::NotOffered { reason } => assert!(!reason.is_empty()),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instagram_survey_is_quick_replies_in_the_window_and_a_tap_answers_it() {
    use baton_domain::csat::Offer;
    let w = world().await;
    w.customer_says(
        instagram_text("1780000000000009", "mid.s1", "I want to talk to a human"),
        1,
    )
    .await;
    w.send_queued().await;
    w.reply(1, "Your exchange is booked.").await;
    w.send_queued().await;
    let before = w.graph.requests().len();
    w.act(1, "PATCH", "", json!({ "status": "resolved" })).await;
    let (_, out) = w.send_queued().await;
    assert!(out.batch_item_failures.is_empty());
    let sent = w.graph.requests();
    assert_eq!(sent.len(), before + 1);
    let body = &sent[before].body;
    assert_eq!(sent[before].path, "/v21.0/me/messages");
    assert!(body.get("tag").is_none(), "a survey is never tagged HUMAN_AGENT");
    let payloads: Vec<&str> = body["message"]["quick_replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["payload"].as_str().unwrap())
        .collect();
    assert_eq!(
        payloads,
        ["csat:1:1:5", "csat:1:1:4", "csat:1:1:3", "csat:1:1:2", "csat:1:1:1"]
    );
    assert_eq!(
        w.survey(1, 1).await.offer,
        Offer::Sent {
            how: "quick_replies".into()
        }
    );
    let mut tap = instagram_text("1780000000000009", "mid.s2", "4 Good");
    tap.kind = baton_domain::channels::ContentKind::InteractiveReply;
    tap.attachments = vec![baton_domain::conversation::Attachment {
        kind: "reply".into(),
        reference: "csat:1:1:4".into(),
        ..Default::default()
    }];
    w.customer_says(tap, 0).await;
    assert_eq!(w.survey(1, 1).await.response.unwrap().rating, 4);
    let t = w.env.store.get_ticket(&demo(), TicketNumber(1)).await.unwrap();
    assert_eq!(t.status, baton_domain::ticket::Status::Resolved);
}

/// The first reply in `batch` to each customer: their conversation and the message.
fn first_replies(batch: &SqsEvent) -> std::collections::HashMap<String, (baton_domain::ConversationId, ulid::Ulid)> {
    let mut first = std::collections::HashMap::new();
    for r in &batch.records {
        let out: baton_domain::outbound::OutboundMessage = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
        first.entry(out.to).or_insert((out.conversation_id, out.message_id));
    }
    first
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ai_resolution_is_surveyed_after_the_delay_unless_the_customer_came_back() {
    use baton_domain::csat::{Offer, ResolvedBy};
    use baton_domain::outbound::SurveyRef;
    let w = world().await;
    let question = "How long does delivery take?";
    // Helped: asks, gets the AI's answer, says nothing more.
    w.customer_says(whatsapp_text("16505550120", "wamid.ai1", question), 0)
        .await;
    // Helped: asks, thanks for the answer (a confirmation, not a return).
    w.customer_says(whatsapp_text("16505550121", "wamid.ai2", question), 0)
        .await;
    w.customer_says(whatsapp_text("16505550121", "wamid.ai3", "Thanks, that helped!"), 0)
        .await;
    // Not helped: asks, then wants a person.
    w.customer_says(whatsapp_text("16505550122", "wamid.ai4", question), 0)
        .await;
    w.customer_says(
        whatsapp_text("16505550122", "wamid.ai5", "I want to talk to a human"),
        0,
    )
    .await;
    let (batch, out) = w.send_queued().await;
    assert!(out.batch_item_failures.is_empty());
    assert_eq!(
        batch.records.len(),
        4,
        "three answers and the handoff notice, no survey yet"
    );
    let answers = first_replies(&batch);
    let answered = w.graph.requests().len();

    // Not due before the tenant's AI delay (60 minutes).
    let sweep = |minutes: i64| {
        let at = baton_domain::Clock::now(&baton_domain::SystemClock).plus(time::Duration::minutes(minutes));
        let queues = w.triage.queues.clone();
        let store = w.env.store.clone();
        async move { baton_app::relay::sweep(&store, &queues, at, 50).await.unwrap() }
    };
    sweep(50).await;
    assert!(take_batch(&w.env, "OutboundQueue").await.records.is_empty());
    sweep(61).await;
    let (batch, out) = w.send_queued().await;
    assert!(out.batch_item_failures.is_empty());
    assert_eq!(batch.records.len(), 3, "each answer's survey falls due");
    let sent = w.graph.requests();
    // Conversations are sent in parallel: in any order.
    let mut to: Vec<&str> = sent[answered..]
        .iter()
        .map(|r| r.body["to"].as_str().unwrap())
        .collect();
    to.sort_unstable();
    assert_eq!(to, ["16505550120", "16505550121"], "not to the customer who came back");

    // Buttons naming the answer, the survey stored as the AI's resolution.
    let (conversation, answer) = answers["16505550120"];
    let body = &sent[answered..]
        .iter()
        .find(|r| r.body["to"] == "16505550120")
        .unwrap()
        .body;
    assert_eq!(body["type"], "interactive");
    let ids: Vec<&str> = body["interactive"]["action"]["buttons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["reply"]["id"].as_str().unwrap())
        .collect();
    let great = format!("csat:ai:{answer}:5");
    assert_eq!(
        ids,
        [
            great.as_str(),
            &format!("csat:ai:{answer}:3"),
            &format!("csat:ai:{answer}:1")
        ]
    );
    let of = SurveyRef::Answer { conversation, answer };
    let survey = w.env.store.get_survey(&demo(), &of).await.unwrap();
    assert_eq!(survey.offer, Offer::Sent { how: "buttons".into() });
    assert_eq!(
        (survey.resolved_by, survey.agent, survey.of.ticket()),
        (ResolvedBy::Ai, None, None)
    );
    let shown = w
        .env
        .store
        .list_messages(&demo(), conversation, &PageRequest::first(100))
        .await
        .unwrap()
        .items;
    let message = shown.iter().find(|m| m.id == survey.message_id).expect("in the thread");
    assert_eq!(
        (message.survey, message.delivery),
        (Some(of), Some(DeliveryStatus::Sent))
    );
    let (conversation_back, answer_back) = answers["16505550122"];
    let not_offered = SurveyRef::Answer {
        conversation: conversation_back,
        answer: answer_back,
    };
    assert!(matches!(
        w.env.store.get_survey(&demo(), &not_offered).await,
        Err(baton_domain::StoreError::NotFound { .. })
    ));

    // Delivered again: nothing sent again, one survey message.
    assert!(w.send(&batch).await.batch_item_failures.is_empty());
    assert_eq!(w.graph.requests().len(), answered + 2);

    // The tap answers it, quietly; the AI report counts it as answer CSAT only.
    w.customer_says(tap("16505550120", "wamid.ai6", "Great", &great), 0)
        .await;
    let survey = w.env.store.get_survey(&demo(), &of).await.unwrap();
    assert_eq!(survey.response.unwrap().rating, 5);
    assert!(
        take_batch(&w.env, "OutboundQueue").await.records.is_empty(),
        "nothing said back"
    );
    baton_tests::count_analytics(&w.env).await;
    let admin = agent_token(&w.env, "demo", "lead@demo.example", "admin").await;
    let (status, _, ai) = agent_call(&w.api, &admin, "GET", "/v1/reports/ai", None).await;
    assert_eq!(status, 200, "{ai}");
    assert_eq!(
        ai["total"]["answer_csat"],
        json!({ "responses": 1, "average": 5.0, "satisfied": 1, "score": 1.0 })
    );
    assert_eq!(ai["total"]["human_csat"]["responses"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ai_resolutions_survey_survives_a_fault_at_every_call_of_its_send() {
    use baton_domain::csat::Offer;
    use baton_domain::outbound::SurveyRef;
    use baton_tests::faults::{assert_sent_at_most_once, every_call, Faults, SharedClock};
    let w = world().await;
    let faults = Faults::new();
    let clock = SharedClock::now_system();
    let faulty = faulty_sender(&w, &faults, &clock);
    every_call("the AI survey's send", 8, |k, fault| {
        let (w, faults, faulty, clock) = (&w, &faults, &faulty, &clock);
        async move {
            let customer = format!("1650556{k:02}{}", fault as u8);
            let id = format!("wamid.ai-k{k}-{}", fault as u8);
            w.customer_says(whatsapp_text(&customer, &id, "How long does delivery take?"), 0)
                .await;
            let (answered, _) = w.send_queued().await;
            let (conversation, answer) = first_replies(&answered)[&customer];
            let at = baton_domain::Clock::now(&baton_domain::SystemClock).plus(time::Duration::minutes(61));
            baton_app::relay::sweep(&w.env.store, &w.triage.queues, at, 50)
                .await
                .unwrap();
            let batch = take_batch(&w.env, "OutboundQueue").await;
            assert_eq!(batch.records.len(), 1, "the survey (fault {fault:?} at call {k})");
            let fired = send_with_fault(faults, clock, faulty, &batch, k, fault).await;
            let sends = w
                .graph
                .requests()
                .iter()
                .filter(|r| r.status == 200 && r.body["to"] == customer.as_str() && r.body["type"] == "interactive")
                .count();
            let of = SurveyRef::Answer { conversation, answer };
            let survey = w.env.store.get_survey(&demo(), &of).await.unwrap();
            let messages = w
                .env
                .store
                .list_messages(&demo(), conversation, &PageRequest::first(100))
                .await
                .unwrap()
                .items;
            let asked: Vec<&Message> = messages.iter().filter(|m| m.survey == Some(of)).collect();
            assert_eq!(asked.len(), 1, "one survey message (fault {fault:?} at call {k})");
            let unconfirmed = asked[0].delivery_error.as_deref() == Some(baton_app::delivery::UNCONFIRMED);
            assert_sent_at_most_once(fault, k, asked[0].delivery, sends, unconfirmed);
            match (&survey.offer, asked[0].delivery) {
                (Offer::Sent { how }, Some(DeliveryStatus::Sent)) => assert_eq!(how, "buttons"),
                (Offer::NotOffered { .. }, Some(DeliveryStatus::Failed)) => assert!(unconfirmed),
                (o, d) => panic!("fault {fault:?} at call {k}: survey {o:?}, message {d:?}"),
            }
            fired
        }
    })
    .await;
}
