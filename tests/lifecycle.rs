//! The conversation lifecycle around a ticket: a closed (or force-closed) ticket gives its
//! conversation back to the AI, so the customer's next message is answered instead of
//! landing on a ticket nobody watches; a new handoff then opens a follow-up ticket linked
//! both ways; a customer reply reopens a resolved ticket and its assignee counts it again;
//! WhatsApp and Instagram customers start a new conversation after a close or a silence.
//! Every transition is walked on every channel.

use agent_api::auth::agent_id_for_email;
use baton_domain::conversation::Owner;
use baton_domain::conversation::DEFAULT_INACTIVITY;
use baton_domain::intake::InboundMessage;
use baton_domain::outbound::{OutboundMessage, RouterMessage, RoutingRequest};
use baton_domain::ports::{ConversationStore, DirectoryStore, TicketStore};
use baton_domain::ticket::Status;
use baton_domain::Channel;
use baton_domain::{TenantId, TicketNumber};
use baton_tests::{
    agent_call, agent_token, drain_queue, intake_onto_after, message_texts, seeded_env, timeline, timeline_events,
    whatsapp_text, TestEnv,
};
use serde_json::{json, Value};
use std::sync::Arc;

fn demo() -> TenantId {
    TenantId::new("demo").unwrap()
}

struct World {
    env: TestEnv,
    api: agent_api::Deps,
    triage: triage::Deps,
    token: String,
    sent: std::sync::atomic::AtomicU32,
}

async fn world() -> World {
    let env = seeded_env().await;
    let token = agent_token(&env, "demo", "ada@demo.example", "admin").await;
    let api = baton_tests::agent_api_deps(&env, Arc::new(env.store.clone()));
    let triage = baton_tests::triage_deps(&env, Arc::new(env.store.clone()));
    World {
        env,
        api,
        triage,
        token,
        sent: Default::default(),
    }
}

impl World {
    /// The customer writes on `channel`; triage handles it.
    async fn says_on(&self, channel: Channel, sender: &str, text: &str, inactivity: time::Duration) -> InboundMessage {
        let n = self.sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let mut message = whatsapp_text(sender, &format!("{channel}.{sender}.{n}"), text);
        message.channel = channel;
        message.account_id = match channel {
            Channel::Instagram => "17841400000000001".into(),
            Channel::Widget => "wk_demo".into(),
            Channel::Email => "demo".into(),
            _ => message.account_id,
        };
        let m = intake_onto_after(&self.env, "InboundQueue", message, inactivity).await;
        baton_tests::triage_records(&self.triage, std::slice::from_ref(&m)).await;
        m
    }

    async fn act(&self, number: TicketNumber, action: &str, body: Value) -> Value {
        let version = self.env.store.get_ticket(&demo(), number).await.unwrap().version;
        let mut body = body;
        body["version"] = version.into();
        let (method, path) = match action {
            "patch" => ("PATCH", format!("/v1/tickets/{}", number.0)),
            a => ("POST", format!("/v1/tickets/{}/{a}", number.0)),
        };
        let (status, _, out) = agent_call(&self.api, &self.token, method, &path, Some(body)).await;
        assert!(status < 300, "{action}: {status} {out}");
        out
    }

    async fn conversation(&self, id: baton_domain::ConversationId) -> baton_domain::conversation::Conversation {
        self.env.store.get_conversation(&demo(), id).await.unwrap()
    }

    async fn events(&self, number: TicketNumber) -> Vec<(String, Value)> {
        timeline_events(&timeline(&self.env, number).await)
    }

    async fn messages_on(&self, number: TicketNumber) -> Vec<String> {
        message_texts(&timeline(&self.env, number).await)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_close_the_ai_answers_again_and_a_new_handoff_opens_a_linked_follow_up() {
    for channel in [Channel::Whatsapp, Channel::Instagram, Channel::Widget, Channel::Email] {
        closed_then_follow_up(channel).await;
    }
}

/// Messaging channels start a new conversation after the close, which the follow-up
/// ticket links to the closed one; the widget stays on its one visible thread, and an
/// e-mail thread stays one conversation (the inbound e-mail tests cover its threading).
async fn closed_then_follow_up(channel: Channel) {
    let w = world().await;
    let says = |text: &'static str| w.says_on(channel, "31680000001", text, DEFAULT_INACTIVITY);
    let first = says("I want to talk to a human").await;
    let c = w.conversation(first.conversation_id).await;
    let one = c.ticket.unwrap();
    w.act(one, "replies", json!({ "text": "Your parcel left today." }))
        .await;
    w.act(one, "close", json!({})).await;
    let c = w.conversation(first.conversation_id).await;
    assert_eq!(
        (c.owner, c.ticket),
        (Owner::Ai, Some(one)),
        "closing gives the conversation back to the AI"
    );
    // E-mail replies have a sender, and a queue, of their own.
    let replies = if channel == Channel::Email {
        "EmailQueue"
    } else {
        "OutboundQueue"
    };
    drain_queue::<OutboundMessage>(&w.env, replies).await;
    // The routing requests so far, and the backfill the closed ticket's freed place sent.
    drain_queue::<RouterMessage>(&w.env, "RoutingQueue").await;

    // The customer's next question is answered, not swallowed by the closed ticket.
    let next = says("How long does delivery take?").await;
    let messaging = matches!(channel, Channel::Whatsapp | Channel::Instagram);
    assert_eq!(
        next.conversation_id != first.conversation_id,
        messaging,
        "{channel}: a new conversation after close on messaging channels only"
    );
    let out: Vec<OutboundMessage> = drain_queue(&w.env, replies).await;
    assert_eq!(out.len(), 1);
    assert!(out[0].text.contains("3 to 5 business days"), "{}", out[0].text);
    assert!(!w
        .messages_on(one)
        .await
        .contains(&"How long does delivery take?".to_string()));

    // Needing a human again opens a follow-up, linked both ways.
    says("I need to speak to a person about a refund").await;
    let routed: Vec<RoutingRequest> = drain_queue(&w.env, "RoutingQueue").await;
    assert_eq!(routed.len(), 1);
    let two = routed[0].ticket;
    assert_ne!(two, one);
    let follow_up = w.env.store.get_ticket(&demo(), two).await.unwrap();
    assert_eq!((follow_up.status, follow_up.follows), (Status::Open, Some(one)));
    assert!(w
        .events(one)
        .await
        .iter()
        .any(|(name, d)| name == "follow_up_opened" && d["ticket"] == two.0));
    let (status, _, detail) = agent_call(&w.api, &w.token, "GET", &format!("/v1/tickets/{}", two.0), None).await;
    assert_eq!(
        (status, detail["ticket"]["follows"].as_u64()),
        (200, Some(one.0)),
        "{detail}"
    );
    let c = w.conversation(next.conversation_id).await;
    assert_eq!((c.owner, c.ticket), (Owner::Human, Some(two)), "{channel}");
    if messaging {
        let old = w.conversation(first.conversation_id).await;
        assert_eq!(
            (old.owner, old.ticket),
            (Owner::Ai, Some(one)),
            "{channel}: the closed one stays as it was"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_close_and_return_to_ai_give_the_conversation_back_but_never_take_a_follow_ups() {
    // On the widget: one conversation throughout, so the follow-up shares it.
    let w = world().await;
    let says = |text: &'static str| w.says_on(Channel::Widget, "visitor-2", text, DEFAULT_INACTIVITY);
    let m = says("I want to talk to a human").await;
    let one = w.conversation(m.conversation_id).await.ticket.unwrap();
    w.act(one, "force-close", json!({})).await;
    let c = w.conversation(m.conversation_id).await;
    assert_eq!(c.owner, Owner::Ai, "force close gives the conversation back to the AI");

    // A follow-up takes the conversation; returning the old ticket to the AI afterwards
    // must not take it away from the humans on the new one.
    says("Please, a human agent").await;
    let two = w.conversation(m.conversation_id).await.ticket.unwrap();
    assert_ne!(two, one);
    w.act(one, "reopen", json!({})).await;
    w.act(one, "return-to-ai", json!({})).await;
    let c = w.conversation(m.conversation_id).await;
    assert_eq!((c.owner, c.ticket), (Owner::Human, Some(two)));
    w.act(two, "return-to-ai", json!({})).await;
    let c = w.conversation(m.conversation_id).await;
    assert_eq!((c.owner, c.ticket), (Owner::Ai, Some(two)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_reply_reopens_a_resolved_ticket_and_its_assignee_counts_it_again() {
    for channel in [Channel::Whatsapp, Channel::Instagram, Channel::Widget, Channel::Email] {
        resolved_then_reopened(channel).await;
    }
}

async fn resolved_then_reopened(channel: Channel) {
    let w = world().await;
    let says = |text: &'static str| w.says_on(channel, "31680000003", text, DEFAULT_INACTIVITY);
    let ada = agent_id_for_email("ada@demo.example");
    let m = says("I want to talk to a human").await;
    let n = w.conversation(m.conversation_id).await.ticket.unwrap();
    w.act(n, "takeover", json!({})).await;
    assert_eq!(w.env.store.get_agent(&demo(), &ada).await.unwrap().open_count, 1);
    w.act(n, "replies", json!({ "text": "Refund issued." })).await;
    w.act(n, "patch", json!({ "status": "resolved" })).await;
    assert_eq!(w.env.store.get_agent(&demo(), &ada).await.unwrap().open_count, 0);

    let again = says("It has not arrived, actually").await;
    assert_eq!(
        again.conversation_id, m.conversation_id,
        "{channel}: a resolved case continues"
    );
    let t = w.env.store.get_ticket(&demo(), n).await.unwrap();
    assert_eq!((t.status, t.assignee.as_ref()), (Status::Open, Some(&ada)));
    assert_eq!(
        w.env.store.get_agent(&demo(), &ada).await.unwrap().open_count,
        1,
        "the reopened ticket is Ada's again"
    );
    assert!(w
        .messages_on(n)
        .await
        .contains(&"It has not arrived, actually".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messaging_conversations_end_after_the_inactivity_period_and_the_widget_keeps_its_thread() {
    let w = world().await;
    for channel in [Channel::Whatsapp, Channel::Instagram, Channel::Widget] {
        let sender = format!("idle-{channel}");
        let first = w
            .says_on(channel, &sender, "How long does delivery take?", DEFAULT_INACTIVITY)
            .await;
        let same = w
            .says_on(channel, &sender, "How long does delivery take?", DEFAULT_INACTIVITY)
            .await;
        assert_eq!(
            same.conversation_id, first.conversation_id,
            "{channel}: within the period, one conversation"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        // A period of 10 ms has passed since the last message.
        let later = w
            .says_on(channel, &sender, "Where is my order?", time::Duration::milliseconds(10))
            .await;
        assert_eq!(
            later.conversation_id != first.conversation_id,
            channel != Channel::Widget,
            "{channel}: after the period, a new conversation on messaging channels only"
        );
        assert_eq!(later.customer_id, first.customer_id, "{channel}: the same customer");
    }
}
