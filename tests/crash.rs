//! Crash safety, proven the hard way: every call a step makes through its ports is failed
//! in turn, and every call is also made to "crash" (it takes effect, then the invocation
//! dies). After each fault the message is redelivered (or the agent retries), the outbox
//! sweep runs, and the end state must be the one a single clean run leaves: the
//! customer's message stored once, exactly one reply or notice relayed, one ticket with
//! its whole story, one routing request, conversation owner and ticket agreeing, no
//! duplicate timeline entries.
//!
//! The adapters are the real ones against the local endpoint, wrapped in
//! `baton_tests::faults::Faulty`; nothing here is a mock of DynamoDB or SQS.

use aws_lambda_events::event::sqs::SqsEvent;
use baton_app::Queues;
use baton_domain::conversation::{Author, Owner};
use baton_domain::idempotency::{ClaimOutcome, IdempotencyPolicy};
use baton_domain::intake::InboundMessage;
use baton_domain::outbound::{OutboundMessage, RouterMessage, RoutingRequest};
use baton_domain::ports::{
    ConversationStore, DirectoryStore, IdempotencyStore, PageRequest, Queue, Store, TicketStore,
};
use baton_domain::ticket::{Status, TimelineEntry, TimelineKind};
use baton_domain::triage::DeterministicAnswerer;
use baton_domain::{Clock, ConversationId, FixedClock, SystemClock, TenantId, TicketNumber};
use baton_tests::faults::{every_call, Fault, Faults, Faulty, SharedClock};
use baton_tests::{
    agent_call, agent_token, drain_queue, intake_onto, message_texts, queue, seeded_env, timeline, timeline_events,
    whatsapp_text, TestEnv,
};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use std::sync::Arc;

struct World {
    env: TestEnv,
    faults: Arc<Faults>,
    store: Arc<dyn Store>,
    outbound: Arc<dyn Queue>,
    routing: Arc<dyn Queue>,
    /// The functions' clock: moved on before a redelivery, so a crashed invocation's
    /// claim has expired, and before the sweep, past the relay's grace period.
    clock: Arc<FixedClock>,
    cases: std::sync::atomic::AtomicU32,
    /// The tenant's shop, when the world has one connected.
    shop: Option<baton_local::shop_standin::ShopStandin>,
}

async fn world() -> World {
    let env = seeded_env().await;
    let faults = Faults::new();
    World {
        store: Arc::new(Faulty::new(env.store.clone(), &faults)),
        outbound: Arc::new(Faulty::new(queue(&env, "OutboundQueue"), &faults)),
        routing: Arc::new(Faulty::new(queue(&env, "RoutingQueue"), &faults)),
        clock: Arc::new(FixedClock::new(SystemClock.now())),
        faults,
        env,
        cases: Default::default(),
        shop: None,
    }
}

const SHOP_TOKEN: &str = "shpat_local_crash_0123456789";

/// The world with the shop stand-in connected to the demo tenant (Shopify).
async fn world_with_shop() -> World {
    let mut w = world().await;
    let shop = baton_local::shop_standin::ShopStandin::start(0, "Demo shop", SHOP_TOKEN, "unused", vec![])
        .await
        .unwrap();
    let shops = baton_app::shop::Shops::new(
        Arc::new(w.env.store.clone()),
        Arc::new(baton_tests::secret_box(&w.env)),
        Arc::new(baton_aws::shop::HttpCommerce::default()),
    );
    let connection = baton_domain::commerce::ShopConnection::Shopify {
        domain: shop.shopify_domain(),
        api_version: "2025-10".into(),
    };
    shops
        .connect(
            &demo(),
            connection,
            &baton_domain::secrets::Secret::new(SHOP_TOKEN),
            SystemClock.now(),
        )
        .await
        .unwrap();
    w.shop = Some(shop);
    w
}

fn demo() -> TenantId {
    TenantId::new("demo").unwrap()
}

impl World {
    /// A fresh triage sandbox (cold: empty KB cache) over the decorated ports.
    fn triage(&self) -> triage::Deps {
        let mut deps = triage::deps(
            self.store.clone(),
            self.outbound.clone(),
            self.routing.clone(),
            Box::new(DeterministicAnswerer),
        );
        deps.clock = self.clock.clone();
        // Cold like the KB cache: the shop's credential is opened again (through KMS).
        deps.shops = self.shop.as_ref().map(|_| {
            Arc::new(baton_app::shop::Shops::new(
                self.store.clone(),
                Arc::new(Faulty::new(baton_tests::secret_box(&self.env), &self.faults)),
                Arc::new(Faulty::new(baton_aws::shop::HttpCommerce::default(), &self.faults)),
            ))
        });
        deps
    }

    fn agent_api(&self) -> agent_api::Deps {
        agent_api_deps(self, self.store.clone())
    }

    /// A new WhatsApp customer's message, through intake (no faults), as triage receives it.
    async fn customer_says(&self, sender: &str, text: &str) -> InboundMessage {
        let n = self.cases.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let message = whatsapp_text(sender, &format!("wamid.{sender}.{n}"), text);
        intake_onto(&self.env, "InboundQueue", message).await
    }

    /// Triage with the fault armed, then redelivery until the record is done, then the
    /// outbox sweep. Returns whether the fault was reached.
    async fn triage_with_fault(&self, inbound: &InboundMessage, k: u64, fault: Fault) -> bool {
        self.faults.arm(k, fault);
        let deps = self.triage();
        let first = self
            .faults
            .run(triage::handler(
                &deps,
                LambdaEvent::new(sqs_event(inbound), Context::default()),
            ))
            .await;
        let fired = self.faults.fired();
        self.faults.disarm();
        if let Some(resp) = first {
            assert!(
                fired || resp.unwrap().batch_item_failures.is_empty(),
                "a clean run handles the record"
            );
        }
        let mut done = false;
        for _ in 0..3 {
            self.clock.advance(time::Duration::minutes(2));
            let deps = self.triage();
            let resp = triage::handler(&deps, LambdaEvent::new(sqs_event(inbound), Context::default()))
                .await
                .unwrap();
            if resp.batch_item_failures.is_empty() {
                done = true;
                break;
            }
        }
        assert!(done, "the redelivered message is handled (fault {fault:?} at call {k})");
        self.sweep().await;
        fired
    }

    async fn sweep(&self) {
        self.clock.advance(time::Duration::minutes(1));
        let mut relay = outbox_relay::Deps::new(self.store.clone(), self.outbound.clone(), self.routing.clone());
        relay.clock = self.clock.clone();
        outbox_relay::handler(
            &relay,
            LambdaEvent::new(baton_tests::scheduled_event(), Context::default()),
        )
        .await
        .unwrap();
    }

    /// The replies relayed (the surveys of earlier cases' AI answers, which fall due as
    /// the shared clock moves on, left out).
    async fn outbound(&self) -> Vec<OutboundMessage> {
        let all: Vec<OutboundMessage> = drain_queue(&self.env, "OutboundQueue").await;
        all.into_iter()
            .filter(|m| !matches!(m.survey, Some(baton_domain::outbound::SurveyRef::Answer { .. })))
            .collect()
    }

    /// The tickets sent to the router (backfills, which freed places send, are dropped).
    async fn routed(&self) -> Vec<RoutingRequest> {
        drain_queue::<RouterMessage>(&self.env, "RoutingQueue")
            .await
            .into_iter()
            .filter_map(|m| match m {
                RouterMessage::Ticket(r) => Some(r),
                RouterMessage::Backfill(_) => None,
            })
            .collect()
    }

    async fn thread(&self, conversation: ConversationId) -> Vec<(Author, String)> {
        self.env
            .store
            .list_messages(&demo(), conversation, &PageRequest::first(100))
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|m| (m.author, m.text))
            .collect()
    }

    async fn timeline(&self, number: TicketNumber) -> Vec<TimelineEntry> {
        timeline(&self.env, number).await
    }

    async fn assert_triage_completed(&self, inbound: &InboundMessage) {
        let outcome = self
            .env
            .store
            .claim(
                baton_app::triage::SCOPE,
                &inbound.dedup_key(),
                "-",
                self.clock.now(),
                IdempotencyPolicy::default(),
            )
            .await
            .unwrap();
        assert!(
            matches!(
                outcome,
                ClaimOutcome::AlreadyCompleted(_) | ClaimOutcome::PayloadMismatch
            ),
            "{outcome:?}"
        );
    }
}

/// The agent API over `store` (decorated, or the plain one for clean set-up steps), with
/// the world's decorated outbound queue and its clock.
fn agent_api_deps(w: &World, store: Arc<dyn Store>) -> agent_api::Deps {
    agent_api::Deps {
        queues: Queues {
            outbound: Some(w.outbound.clone()),
            routing: None,
            email: None,
            notify: None,
            index: None,
            analytics: None,
        },
        clock: Box::new(SharedClock(w.clock.clone())),
        ..baton_tests::agent_api_deps(&w.env, store)
    }
}

fn sqs_event(m: &InboundMessage) -> SqsEvent {
    serde_json::from_value(json!({ "Records": [{
        "messageId": format!("sqs-{}", m.dedup_key()), "receiptHandle": "rh", "body": serde_json::to_string(m).unwrap(),
        "attributes": { "ApproximateReceiveCount": "1", "MessageGroupId": m.conversation_id.to_string() },
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:inbound.fifo", "awsRegion": "us-east-1" }] }))
    .unwrap()
}

fn events(timeline: &[TimelineEntry], name: &str) -> usize {
    timeline_events(timeline).iter().filter(|(n, _)| n == name).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_survives_a_fault_at_every_call_and_is_sent_once() {
    let w = world().await;
    every_call("the answer path", 8, |k, fault| {
        let w = &w;
        async move {
            let sender = format!("3160{k:03}{}", fault as u8);
            let inbound = w.customer_says(&sender, "How long does delivery take?").await;
            let fired = w.triage_with_fault(&inbound, k, fault).await;
            let thread = w.thread(inbound.conversation_id).await;
            let authors: Vec<&Author> = thread.iter().map(|(a, _)| a).collect();
            assert_eq!(
                authors,
                vec![&Author::Customer, &Author::Ai],
                "{fault:?} at {k}: {thread:?}"
            );
            let out = w.outbound().await;
            assert_eq!(out.len(), 1, "{fault:?} at {k}: exactly one answer relayed");
            assert_eq!(out[0].to, sender);
            assert_eq!(out[0].text, thread[1].1);
            assert!(w.routed().await.is_empty(), "{fault:?} at {k}: no ticket to route");
            let c = w
                .env
                .store
                .get_conversation(&demo(), inbound.conversation_id)
                .await
                .unwrap();
            assert_eq!((c.owner, c.ticket), (Owner::Ai, None));
            w.assert_triage_completed(&inbound).await;
            fired
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thanks_for_an_answer_survive_a_fault_at_every_call_and_neither_reply_nor_open_a_ticket() {
    let w = world().await;
    every_call("the thanks path", 4, |k, fault| {
        let w = &w;
        async move {
            let sender = format!("3164{k:03}{}", fault as u8);
            let asked = w.customer_says(&sender, "How long does delivery take?").await;
            w.faults.disarm();
            let clean = triage::handler(&w.triage(), LambdaEvent::new(sqs_event(&asked), Context::default()))
                .await
                .unwrap();
            assert!(clean.batch_item_failures.is_empty());
            assert_eq!(w.outbound().await.len(), 1, "the answer");
            let thanks = w.customer_says(&sender, "Thanks, that helped!").await;
            let fired = w.triage_with_fault(&thanks, k, fault).await;
            let thread = w.thread(thanks.conversation_id).await;
            let authors: Vec<&Author> = thread.iter().map(|(a, _)| a).collect();
            assert_eq!(
                authors,
                vec![&Author::Customer, &Author::Ai, &Author::Customer],
                "{fault:?} at {k}: {thread:?}"
            );
            assert!(w.outbound().await.is_empty(), "{fault:?} at {k}: no reply to thanks");
            assert!(w.routed().await.is_empty(), "{fault:?} at {k}: no ticket");
            let c = w
                .env
                .store
                .get_conversation(&demo(), thanks.conversation_id)
                .await
                .unwrap();
            assert_eq!((c.owner, c.ticket), (Owner::Ai, None));
            w.assert_triage_completed(&thanks).await;
            fired
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_answer_survives_a_fault_at_every_call_and_a_failing_shop_hands_off_once() {
    let w = world_with_shop().await;
    let shop = w.shop.as_ref().unwrap();
    // Each case's customer owns order #1001 (the channel verified their number).
    let owned_by = |sender: &str| {
        let mut orders = baton_local::shop_standin::demo_orders();
        orders[0].phone = Some(format!("+{sender}"));
        orders
    };
    let text = "Where is my order #1001?";
    // The calls a clean run makes, by name: a failed shop call hands off instead.
    shop.set_orders(owned_by("31629999"));
    let probe = w.customer_says("31629999", text).await;
    w.faults.disarm();
    let clean = triage::handler(&w.triage(), LambdaEvent::new(sqs_event(&probe), Context::default()))
        .await
        .unwrap();
    assert!(clean.batch_item_failures.is_empty());
    let calls = w.faults.log();
    assert!(calls.contains(&"find_orders") && calls.contains(&"open"), "{calls:?}");
    w.outbound().await;
    every_call("the order answer path", 10, |k, fault| {
        let w = &w;
        let calls = &calls;
        async move {
            let sender = format!("3162{k:03}{}", fault as u8);
            w.shop.as_ref().unwrap().set_orders(owned_by(&sender));
            let inbound = w.customer_says(&sender, text).await;
            let fired = w.triage_with_fault(&inbound, k, fault).await;
            let shop_failed = fault == Fault::Error && calls.get(k as usize - 1) == Some(&"find_orders");
            let thread = w.thread(inbound.conversation_id).await;
            let c = w
                .env
                .store
                .get_conversation(&demo(), inbound.conversation_id)
                .await
                .unwrap();
            let out = w.outbound().await;
            let routed = w.routed().await;
            assert_eq!(out.len(), 1, "{fault:?} at {k}: exactly one reply relayed");
            if shop_failed {
                // The shop failed: a person takes over, once, with the reason.
                assert_eq!(c.owner, Owner::Human, "{fault:?} at {k}");
                let ticket = w.env.store.get_ticket(&demo(), c.ticket.unwrap()).await.unwrap();
                assert!(
                    ticket.tags.contains(&"handoff:shop_unavailable".to_owned()),
                    "{:?}",
                    ticket.tags
                );
                assert_eq!(routed.len(), 1, "{fault:?} at {k}: one routing request");
                assert_eq!(thread[1].0, Author::System, "{fault:?} at {k}: {thread:?}");
            } else {
                let authors: Vec<&Author> = thread.iter().map(|(a, _)| a).collect();
                assert_eq!(
                    authors,
                    vec![&Author::Customer, &Author::Ai],
                    "{fault:?} at {k}: {thread:?}"
                );
                assert!(thread[1].1.contains("JD0142"), "{fault:?} at {k}: {}", thread[1].1);
                assert_eq!(out[0].text, thread[1].1);
                assert!(routed.is_empty(), "{fault:?} at {k}: no ticket");
                assert_eq!((c.owner, c.ticket), (Owner::Ai, None));
            }
            w.assert_triage_completed(&inbound).await;
            fired
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handoff_survives_a_fault_at_every_call_with_one_ticket_one_notice_one_route() {
    let w = world().await;
    every_call("the handoff path", 12, |k, fault| {
        let w = &w;
        async move {
            let sender = format!("3161{k:03}{}", fault as u8);
            let text = "I want to talk to a human please";
            let inbound = w.customer_says(&sender, text).await;
            let fired = w.triage_with_fault(&inbound, k, fault).await;
            let c = w
                .env
                .store
                .get_conversation(&demo(), inbound.conversation_id)
                .await
                .unwrap();
            assert_eq!(c.owner, Owner::Human, "{fault:?} at {k}");
            let number = c.ticket.expect("the conversation names its ticket");
            let ticket = w.env.store.get_ticket(&demo(), number).await.unwrap();
            assert_eq!(ticket.status, Status::Open);
            assert_eq!(ticket.source.conversation_id, inbound.conversation_id);
            assert!(
                ticket.tags.contains(&"handoff:asked_for_human".to_string()),
                "{fault:?} at {k}: the handoff happened once, for the customer's reason: {:?}",
                ticket.tags
            );
            let timeline = w.timeline(number).await;
            assert_eq!(message_texts(&timeline), vec![text.to_string()], "{fault:?} at {k}");
            assert_eq!(events(&timeline, "handed_off"), 1, "{fault:?} at {k}");
            let thread = w.thread(inbound.conversation_id).await;
            let authors: Vec<&Author> = thread.iter().map(|(a, _)| a).collect();
            assert_eq!(authors, vec![&Author::Customer, &Author::System], "{fault:?} at {k}");
            let out = w.outbound().await;
            assert_eq!(out.len(), 1, "{fault:?} at {k}: exactly one notice");
            assert_eq!(out[0].ticket, Some(number));
            let routed = w.routed().await;
            assert_eq!(routed.len(), 1, "{fault:?} at {k}: exactly one routing request");
            assert_eq!(routed[0].ticket, number);
            // Exactly one ticket belongs to this conversation.
            let open = w
                .env
                .store
                .list_by_status(&demo(), Status::Open, &PageRequest::first(100))
                .await
                .unwrap()
                .items;
            assert_eq!(
                open.iter()
                    .filter(|t| t.source.conversation_id == inbound.conversation_id)
                    .count(),
                1
            );
            w.assert_triage_completed(&inbound).await;
            fired
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_a_human_owned_ticket_survives_a_fault_at_every_call_and_lands_once() {
    let w = world().await;
    every_call("adding to a ticket", 6, |k, fault| {
        let w = &w;
        async move {
            let sender = format!("3162{k:03}{}", fault as u8);
            let first = w.customer_says(&sender, "I want to talk to a human").await;
            w.triage_with_fault(&first, 0, Fault::Error).await;
            w.outbound().await;
            w.routed().await;
            let number = w
                .env
                .store
                .get_conversation(&demo(), first.conversation_id)
                .await
                .unwrap()
                .ticket
                .unwrap();
            let version = w.env.store.get_ticket(&demo(), number).await.unwrap().version;

            let second = w.customer_says(&sender, "Any news on my parcel?").await;
            let fired = w.triage_with_fault(&second, k, fault).await;
            let timeline = w.timeline(number).await;
            assert_eq!(
                message_texts(&timeline),
                vec![
                    "I want to talk to a human".to_string(),
                    "Any news on my parcel?".to_string()
                ],
                "{fault:?} at {k}"
            );
            let ticket = w.env.store.get_ticket(&demo(), number).await.unwrap();
            assert_eq!(ticket.version, version + 1, "{fault:?} at {k}: one ticket update");
            let c = w
                .env
                .store
                .get_conversation(&demo(), second.conversation_id)
                .await
                .unwrap();
            assert_eq!((c.owner, c.ticket), (Owner::Human, Some(number)));
            assert!(w.outbound().await.is_empty(), "{fault:?} at {k}: the AI stays silent");
            assert!(w.routed().await.is_empty());
            let customer_messages = w
                .thread(second.conversation_id)
                .await
                .into_iter()
                .filter(|(a, _)| *a == Author::Customer)
                .count();
            assert_eq!(customer_messages, 2, "{fault:?} at {k}");
            w.assert_triage_completed(&second).await;
            fired
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_waiting_on_a_missing_ticket_is_healed_by_the_next_message() {
    let w = world().await;
    // The state an older version left when it crashed mid-handoff: the conversation is
    // human-owned and names a ticket number that was never written.
    let first = w.customer_says("31630000001", "Where is my order?").await;
    w.triage_with_fault(&first, 0, Fault::Error).await;
    w.outbound().await;
    let mut c = w
        .env
        .store
        .get_conversation(&demo(), first.conversation_id)
        .await
        .unwrap();
    let lost = w.env.store.next_ticket_number(&demo()).await.unwrap();
    let expected = c.version;
    c.owner = Owner::Human;
    c.ticket = Some(lost);
    w.env.store.update_conversation(&c, expected).await.unwrap();

    let next = w.customer_says("31630000001", "Hello? Is anyone there?").await;
    assert!(!w.triage_with_fault(&next, 0, Fault::Error).await);
    let ticket = w
        .env
        .store
        .get_ticket(&demo(), lost)
        .await
        .expect("the lost ticket now exists");
    assert_eq!(ticket.status, Status::Open);
    assert!(
        ticket.tags.contains(&"handoff:recovered".to_string()),
        "{:?}",
        ticket.tags
    );
    let texts = message_texts(&w.timeline(lost).await);
    assert!(
        texts.contains(&"Where is my order?".to_string()) && texts.contains(&"Hello? Is anyone there?".to_string()),
        "the whole story: {texts:?}"
    );
    let routed = w.routed().await;
    assert_eq!(routed.len(), 1);
    assert_eq!(routed[0].ticket, lost);
    let out = w.outbound().await;
    assert_eq!(out.len(), 1, "the customer is told a human will answer");
    assert_eq!(out[0].ticket, Some(lost));
    // And from here on the conversation behaves: the next message joins the ticket.
    let later = w.customer_says("31630000001", "Thanks").await;
    w.triage_with_fault(&later, 0, Fault::Error).await;
    assert!(message_texts(&w.timeline(lost).await).contains(&"Thanks".to_string()));
}

/// One agent action, and what it must leave behind exactly once.
struct ActionCase {
    name: &'static str,
    method: &'static str,
    /// After `/v1/tickets/{number}`.
    path: &'static str,
    body: Value,
    /// Done cleanly first (path, body without version).
    prepare: Option<(&'static str, Value)>,
    /// The timeline entry that proves the action: an event name, or a message/note text.
    proof: &'static str,
    owner: Owner,
    status: Status,
    capacity: u32,
}

fn actions() -> Vec<ActionCase> {
    let text = "On it: a courier is on the way.";
    vec![
        ActionCase {
            name: "reply",
            method: "POST",
            path: "/replies",
            body: json!({ "text": text }),
            prepare: None,
            proof: text,
            owner: Owner::Human,
            status: Status::WaitingOnCustomer,
            capacity: 0,
        },
        ActionCase {
            name: "note",
            method: "POST",
            path: "/notes",
            body: json!({ "text": "Courier confirmed the address." }),
            prepare: None,
            proof: "Courier confirmed the address.",
            owner: Owner::Human,
            status: Status::Open,
            capacity: 0,
        },
        ActionCase {
            name: "assign",
            method: "POST",
            path: "/assign",
            body: json!({ "agent_id": agent_api::auth::agent_id_for_email("ada@demo.example").to_string() }),
            prepare: None,
            proof: "assigned",
            owner: Owner::Human,
            status: Status::Open,
            capacity: 1,
        },
        ActionCase {
            name: "takeover",
            method: "POST",
            path: "/takeover",
            body: json!({}),
            prepare: None,
            proof: "taken_over",
            owner: Owner::Human,
            status: Status::Open,
            capacity: 1,
        },
        ActionCase {
            name: "patch",
            method: "PATCH",
            path: "",
            body: json!({ "priority": "urgent" }),
            prepare: None,
            proof: "priority_changed",
            owner: Owner::Human,
            status: Status::Open,
            capacity: 0,
        },
        ActionCase {
            name: "close",
            method: "POST",
            path: "/close",
            body: json!({}),
            prepare: Some(("/replies", json!({ "text": "Here is your tracking link." }))),
            proof: "closed",
            owner: Owner::Ai,
            status: Status::Closed,
            capacity: 0,
        },
        ActionCase {
            name: "force-close",
            method: "POST",
            path: "/force-close",
            body: json!({}),
            prepare: None,
            proof: "force_closed",
            owner: Owner::Ai,
            status: Status::Closed,
            capacity: 0,
        },
        ActionCase {
            name: "reopen",
            method: "POST",
            path: "/reopen",
            body: json!({}),
            prepare: Some(("/force-close", json!({}))),
            proof: "reopened",
            owner: Owner::Ai,
            status: Status::Open,
            capacity: 0,
        },
        ActionCase {
            name: "return-to-ai",
            method: "POST",
            path: "/return-to-ai",
            body: json!({}),
            prepare: None,
            proof: "returned_to_ai",
            owner: Owner::Ai,
            status: Status::Resolved,
            capacity: 0,
        },
    ]
}

fn with_version(body: &Value, version: u64) -> Value {
    let mut b = body.clone();
    b["version"] = version.into();
    b
}

/// How many timeline entries prove the action: events by name, messages and notes by text.
fn proofs(timeline: &[TimelineEntry], proof: &str) -> usize {
    timeline
        .iter()
        .filter(|e| match &e.entry {
            TimelineKind::Event { name, .. } => name == proof,
            TimelineKind::Message { text, .. } | TimelineKind::Note { text } => text == proof,
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_agent_action_survives_a_fault_at_every_call_and_takes_effect_once() {
    let w = world().await;
    let token = agent_token(&w.env, "demo", "ada@demo.example", "admin").await;
    let me = agent_api::auth::agent_id_for_email("ada@demo.example");
    // Every assign and takeover case leaves Ada one more open ticket.
    let mut ada = w.env.store.get_agent(&demo(), &me).await.unwrap();
    ada.max_open = 200;
    w.env.store.update_agent(&ada).await.unwrap();
    let clean = agent_api_deps(&w, Arc::new(w.env.store.clone()));
    for (i, action) in actions().into_iter().enumerate() {
        every_call(action.name, 2, |k, fault| {
            let w = &w;
            let token = token.clone();
            let action = &action;
            let clean = &clean;
            let me = &me;
            async move {
                let sender = format!("3164{i:02}{k:03}{}", fault as u8);
                let first = w.customer_says(&sender, "I want to talk to a human").await;
                w.triage_with_fault(&first, 0, Fault::Error).await;
                let c = w
                    .env
                    .store
                    .get_conversation(&demo(), first.conversation_id)
                    .await
                    .unwrap();
                let number = c.ticket.unwrap();
                let at = |path: &str| format!("/v1/tickets/{}{path}", number.0);
                if let Some((path, body)) = &action.prepare {
                    let v = w.env.store.get_ticket(&demo(), number).await.unwrap().version;
                    let (status, _, body) =
                        agent_call(clean, &token, "POST", &at(path), Some(with_version(body, v))).await;
                    assert!(status < 300, "{}: prepare: {status} {body}", action.name);
                }
                w.outbound().await;
                w.routed().await;
                let version = w.env.store.get_ticket(&demo(), number).await.unwrap().version;
                let open_before = w.env.store.get_agent(&demo(), me).await.unwrap().open_count;
                let body = with_version(&action.body, version);

                w.faults.arm(k, fault);
                let deps = w.agent_api();
                let first_try = w
                    .faults
                    .run(agent_call(
                        &deps,
                        &token,
                        action.method,
                        &at(action.path),
                        Some(body.clone()),
                    ))
                    .await;
                let fired = w.faults.fired();
                w.faults.disarm();
                if let Some((status, retry_after, body)) = &first_try {
                    assert!(
                        matches!(status, 200 | 201 | 409 | 503),
                        "{} {fault:?} at {k}: a failure is never a 500: {status} {body}",
                        action.name
                    );
                    if *status == 503 {
                        assert_eq!(retry_after.as_deref(), Some("1"));
                    }
                }
                // The agent's client retries what it sent, against the version it read.
                let (status, _, body) =
                    agent_call(&w.agent_api(), &token, action.method, &at(action.path), Some(body)).await;
                assert!(
                    matches!(status, 200 | 201 | 409),
                    "{} {fault:?} at {k}: {status} {body}",
                    action.name
                );
                w.sweep().await;

                let timeline = w.timeline(number).await;
                assert_eq!(
                    proofs(&timeline, action.proof),
                    1,
                    "{} {fault:?} at {k}: done once",
                    action.name
                );
                let ticket = w.env.store.get_ticket(&demo(), number).await.unwrap();
                assert_eq!(ticket.version, version + 1, "{} {fault:?} at {k}", action.name);
                assert_eq!(ticket.status, action.status, "{} {fault:?} at {k}", action.name);
                let c = w
                    .env
                    .store
                    .get_conversation(&demo(), first.conversation_id)
                    .await
                    .unwrap();
                assert_eq!(
                    (c.owner, c.ticket),
                    (action.owner, Some(number)),
                    "{} {fault:?} at {k}",
                    action.name
                );
                let open_after = w.env.store.get_agent(&demo(), me).await.unwrap().open_count;
                assert_eq!(
                    open_after,
                    open_before + action.capacity,
                    "{} {fault:?} at {k}: capacity",
                    action.name
                );
                let out = w.outbound().await;
                let expected_out = usize::from(action.name == "reply");
                assert_eq!(
                    out.len(),
                    expected_out,
                    "{} {fault:?} at {k}: delivered once: {out:?}",
                    action.name
                );
                if expected_out == 1 {
                    assert_eq!(out[0].text, action.proof);
                    let in_thread = w
                        .thread(first.conversation_id)
                        .await
                        .into_iter()
                        .filter(|(a, t)| matches!(a, Author::Agent { .. }) && t == action.proof)
                        .count();
                    assert_eq!(in_thread, 1, "{fault:?} at {k}: one message in the conversation");
                }
                fired
            }
        })
        .await;
    }
}

/// An admin puts Cy in a team while a colleague changes that team: the colleague's write
/// lands between the agent write's read of the team and its own write of it. The agent
/// write's conditional put is refused, it reads the team again and applies the
/// membership to what is stored now: both changes are kept, neither is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_membership_change_racing_a_colleagues_team_edit_keeps_both() {
    let w = world().await;
    let token = agent_token(&w.env, "demo", "ada@demo.example", "admin").await;
    let clean = agent_api_deps(&w, Arc::new(w.env.store.clone()));
    let cy = json!({ "name": "Cy", "email": "cy@demo.example", "role": "agent" });
    let (status, _, body) = agent_call(&clean, &token, "POST", "/v1/agents", Some(cy.clone())).await;
    assert_eq!(status, 201, "{body}");
    let finance = baton_domain::TeamId::new("finance").unwrap();
    let before = w.env.store.get_team(&demo(), &finance).await.unwrap();

    // Where the agent write writes the team: its call number, from a run that changes nothing.
    let mut joins = cy.clone();
    joins["teams"] = json!(["finance"]);
    w.faults.disarm();
    let mut stays = cy.clone();
    stays["teams"] = json!([]);
    agent_call(&w.agent_api(), &token, "PUT", "/v1/agents/cy-demo-example", Some(stays)).await;
    let reads = w.faults.log().len() as u64;
    // The same request that joins makes those reads, then writes the team next.
    let store = w.env.store.clone();
    let colleague = before.clone();
    w.faults.interleave(reads + 1, async move {
        let mut team = colleague;
        team.strategy = baton_domain::directory::RoutingStrategy::RoundRobin;
        team.members
            .push(baton_domain::AgentId::new("ada-demo-example").unwrap());
        store
            .update_team(&team)
            .await
            .expect("the colleague's edit lands first");
    });
    let (status, _, body) = agent_call(&w.agent_api(), &token, "PUT", "/v1/agents/cy-demo-example", Some(joins)).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        w.faults.log().iter().filter(|c| **c == "update_team").count() == 2,
        "refused once, then written: {:?}",
        w.faults.log()
    );
    assert_eq!(body["teams"], json!(["finance"]), "{body}");

    let after = w.env.store.get_team(&demo(), &finance).await.unwrap();
    assert_eq!(
        after.version,
        before.version + 2,
        "the colleague's write, then the retry"
    );
    assert_eq!(after.strategy, baton_domain::directory::RoutingStrategy::RoundRobin);
    let mut members: Vec<&str> = after.members.iter().map(|m| m.as_str()).collect();
    members.sort();
    let mut expected: Vec<&str> = before.members.iter().map(|m| m.as_str()).collect();
    expected.extend(["ada-demo-example", "cy-demo-example"]);
    expected.sort();
    assert_eq!(members, expected);
}
