//! Channel intake over Meta webhooks (WhatsApp, Instagram): real payloads from `events/`,
//! through the function's handler, onto the real inbound queue, exactly once.

use baton_app::intake::{accept, IntakeOutcome, IntakePorts};
use baton_domain::channels::{ChannelMessage, ContentKind};
use baton_domain::conversation::{Author, DeliveryStatus, Direction, Message};
use baton_domain::ports::{ConversationStore, CustomerStore, PageRequest};
use baton_domain::{Channel, Clock, SystemClock, TenantId};
use baton_tests::{
    drain_inbound, event, inbound_queue, instagram_webhook, local_secret, post, seeded_env, signed, whatsapp_webhook,
};
use std::sync::Arc;

fn demo() -> TenantId {
    TenantId::new("demo").unwrap()
}

#[tokio::test]
async fn whatsapp_text_becomes_one_queued_message_with_tenant_customer_and_conversation() {
    let env = seeded_env().await;
    let wh = whatsapp_webhook(&env);
    assert_eq!(post(&wh, &event("whatsapp-text.json")).await.0, 200);
    // Meta retries the same delivery: still one message.
    assert_eq!(post(&wh, &event("whatsapp-text.json")).await.0, 200);
    let queued = drain_inbound(&env).await;
    assert_eq!(queued.len(), 1);
    let m = &queued[0];
    assert_eq!(m.tenant_id, demo());
    assert_eq!(m.message.channel, Channel::Whatsapp);
    assert_eq!(m.message.text, "Hi! Where is my order #4411? It was due yesterday.");
    assert_eq!(m.message.sender_id, "16505551234");

    let identity = env
        .store
        .find_identity(&demo(), Channel::Whatsapp, "16505551234")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(identity.customer_id, m.customer_id);
    assert_eq!(identity.active_conversation, Some(m.conversation_id));
    let customer = env.store.get_customer(&demo(), m.customer_id).await.unwrap();
    assert_eq!(customer.name.as_deref(), Some("Sheena Nelson"));
    let conversation = env.store.get_conversation(&demo(), m.conversation_id).await.unwrap();
    assert_eq!(conversation.customer_id, m.customer_id);

    // The next message from the same person joins the same conversation, media kept.
    assert_eq!(post(&wh, &event("whatsapp-image.json")).await.0, 200);
    let queued = drain_inbound(&env).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].conversation_id, m.conversation_id);
    assert_eq!(queued[0].customer_id, m.customer_id);
    assert_eq!(queued[0].message.kind, ContentKind::Media);
    assert_eq!(queued[0].message.text, "The box arrived crushed");
    assert_eq!(queued[0].message.attachments[0].reference, "1003383421387256");
}

#[tokio::test]
async fn bad_signature_or_wrong_verify_token_is_refused_and_nothing_is_queued() {
    let env = seeded_env().await;
    let wh = whatsapp_webhook(&env);
    assert_eq!(post(&wh, &event("whatsapp-text-bad-signature.json")).await.0, 401);
    let mut unsigned: serde_json::Value = serde_json::from_str(&event("whatsapp-text.json")).unwrap();
    unsigned["headers"]
        .as_object_mut()
        .unwrap()
        .remove("x-hub-signature-256");
    assert_eq!(post(&wh, &unsigned.to_string()).await.0, 401);
    // A body changed after signing fails too.
    let mut tampered: serde_json::Value = serde_json::from_str(&event("whatsapp-text.json")).unwrap();
    tampered["body"] = tampered["body"].as_str().unwrap().replace("#4411", "#9999").into();
    assert_eq!(post(&wh, &tampered.to_string()).await.0, 401);

    let (status, body) = post(&wh, &event("whatsapp-verify.json")).await;
    assert_eq!((status, body.as_str()), (200, "1158201444"));
    assert_eq!(post(&wh, &event("whatsapp-verify-wrong-token.json")).await.0, 403);
    assert!(drain_inbound(&env).await.is_empty());
    assert!(env
        .store
        .find_identity(&demo(), Channel::Whatsapp, "16505551234")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn bad_payloads_get_a_clear_4xx_and_unknown_accounts_are_acknowledged() {
    let env = seeded_env().await;
    let wh = whatsapp_webhook(&env);
    let s = local_secret("WHATSAPP_APP_SECRET");
    assert_eq!(post(&wh, &signed("/webhooks/whatsapp", "{not json", &s)).await.0, 400);
    assert_eq!(
        post(
            &wh,
            &signed("/webhooks/whatsapp", r#"{"object":"page","entry":[]}"#, &s)
        )
        .await
        .0,
        400
    );
    let huge = format!(
        r#"{{"object":"whatsapp_business_account","entry":[],"pad":"{}"}}"#,
        "x".repeat(1_100_000)
    );
    assert_eq!(post(&wh, &signed("/webhooks/whatsapp", &huge, &s)).await.0, 413);
    // A number that belongs to nobody: acknowledged (Meta would retry for days), dropped.
    let other = event("whatsapp-text.json");
    let mut ev: serde_json::Value = serde_json::from_str(&other).unwrap();
    let body = ev["body"]
        .as_str()
        .unwrap()
        .replace("100000000000001", "199999999999999");
    ev["body"] = body.clone().into();
    ev["headers"]["x-hub-signature-256"] = baton_domain::meta::sign(&s, body.as_bytes()).into();
    assert_eq!(post(&wh, &ev.to_string()).await.0, 200);
    assert!(drain_inbound(&env).await.is_empty());
}

#[tokio::test]
async fn whatsapp_statuses_update_the_stored_outbound_message_and_create_nothing() {
    let env = seeded_env().await;
    let wh = whatsapp_webhook(&env);
    let conv = baton_domain::ConversationId::generate();
    let sent = Message {
        tenant_id: demo(),
        conversation_id: conv,
        id: ulid::Ulid::new(),
        direction: Direction::Outbound,
        author: Author::Ai,
        text: "Your order ships tomorrow.".into(),
        attachments: vec![],
        channel_message_id: Some("wamid.HBgLMTY1MDU1NTEyMzQVAgARGBI1RUY1QzE4QkQ3QzA3M0ZBMUEA".into()),
        delivery: Some(DeliveryStatus::Sent),
        delivery_error: None,
        sender: None,
        original: None,
        choices: vec![],
        survey: None,
        created_at: SystemClock.now(),
        sent_at: None,
    };
    env.store.append_message(&sent).await.unwrap();
    assert_eq!(post(&wh, &event("whatsapp-status.json")).await.0, 200);
    let stored = env
        .store
        .list_messages(&demo(), conv, &PageRequest::first(5))
        .await
        .unwrap()
        .items;
    assert_eq!(stored[0].delivery, Some(DeliveryStatus::Read));
    assert!(
        drain_inbound(&env).await.is_empty(),
        "statuses do not create conversations"
    );
}

#[tokio::test]
async fn instagram_message_is_queued_once_and_echoes_are_not_customer_messages() {
    let env = seeded_env().await;
    let ig = instagram_webhook(&env);
    let (status, body) = post(&ig, &event("instagram-verify.json")).await;
    assert_eq!((status, body.as_str()), (200, "1158201444"));
    assert_eq!(post(&ig, &event("instagram-text.json")).await.0, 200);
    assert_eq!(post(&ig, &event("instagram-text.json")).await.0, 200);
    let queued = drain_inbound(&env).await;
    assert_eq!(queued.len(), 1, "one customer message; the echo is ours");
    assert_eq!(queued[0].message.channel, Channel::Instagram);
    assert_eq!(queued[0].message.text, "hey, can I change my delivery address?");
    assert_eq!(queued[0].tenant_id, demo());
    // The WhatsApp secret does not sign Instagram deliveries.
    let mut ev: serde_json::Value = serde_json::from_str(&event("instagram-text.json")).unwrap();
    let body = ev["body"].as_str().unwrap().to_owned();
    ev["headers"]["x-hub-signature-256"] =
        baton_domain::meta::sign(&local_secret("WHATSAPP_APP_SECRET"), body.as_bytes()).into();
    assert_eq!(post(&ig, &ev.to_string()).await.0, 401);
}

fn text_from(sender: &str, id: &str) -> ChannelMessage {
    ChannelMessage {
        channel: Channel::Whatsapp,
        account_id: "100000000000001".into(),
        sender_id: sender.into(),
        sender_name: Some("New Customer".into()),
        channel_message_id: id.into(),
        kind: ContentKind::Text,
        text: format!("message {id}"),
        attachments: vec![],
        reply_to: None,
        sent_at: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_messages_share_one_customer_and_one_conversation() {
    let env = seeded_env().await;
    let store = Arc::new(env.store.clone());
    let queue = Arc::new(inbound_queue(&env));
    let mut tasks = Vec::new();
    for i in 0..5 {
        let (store, queue) = (store.clone(), queue.clone());
        tasks.push(tokio::spawn(async move {
            let ports = IntakePorts::new(store.as_ref(), queue.as_ref(), &SystemClock);
            accept(
                &ports,
                &demo(),
                text_from("15557770000", &format!("wamid.c{i}")),
                None,
                None,
            )
            .await
            .unwrap()
        }));
    }
    let outcomes: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let conversations: std::collections::HashSet<_> = outcomes
        .iter()
        .map(|o| match o {
            IntakeOutcome::Queued {
                conversation_id,
                customer_id,
            } => (*conversation_id, *customer_id),
            IntakeOutcome::Duplicate | IntakeOutcome::ReusedId => panic!("distinct messages are not duplicates"),
        })
        .collect();
    assert_eq!(conversations.len(), 1, "{outcomes:?}");
    assert_eq!(drain_inbound(&env).await.len(), 5);

    // A redelivery after the queue's five-minute dedup window is still caught.
    let ports = IntakePorts::new(store.as_ref(), queue.as_ref(), &SystemClock);
    assert_eq!(
        accept(&ports, &demo(), text_from("15557770000", "wamid.c0"), None, None)
            .await
            .unwrap(),
        IntakeOutcome::Duplicate
    );
}

#[test]
fn sample_events_are_signed_with_the_local_secrets() {
    for (file, var) in [
        ("whatsapp-text.json", "WHATSAPP_APP_SECRET"),
        ("whatsapp-image.json", "WHATSAPP_APP_SECRET"),
        ("whatsapp-status.json", "WHATSAPP_APP_SECRET"),
        ("instagram-text.json", "INSTAGRAM_APP_SECRET"),
    ] {
        let ev: serde_json::Value = serde_json::from_str(&event(file)).unwrap();
        let body = ev["body"].as_str().unwrap();
        let header = ev["headers"]["x-hub-signature-256"].as_str();
        assert_eq!(
            baton_domain::meta::verify_signature(&local_secret(var), body.as_bytes(), header),
            Ok(()),
            "{file}"
        );
    }
}

#[tokio::test]
async fn a_large_batch_is_handled_whole_and_each_senders_order_is_kept() {
    let env = seeded_env().await;
    let wh = whatsapp_webhook(&env);
    let mut entries = Vec::new();
    for e in 0..3 {
        let mut messages = Vec::new();
        for k in 0..8 {
            let sender = 4_915_550_000u64 + (k % 4);
            messages.push(serde_json::json!({
                "from": sender.to_string(), "id": format!("wamid.batch.{e}.{k}"), "timestamp": "1795253390",
                "type": "text", "text": { "body": format!("{sender} says {e}.{k}") }
            }));
        }
        entries.push(
            serde_json::json!({ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": "100000000000001" },
            "contacts": [], "messages": messages } }] }),
        );
    }
    let body = serde_json::json!({ "object": "whatsapp_business_account", "entry": entries }).to_string();
    let (status, _) = post(
        &wh,
        &signed("/webhooks/whatsapp", &body, &local_secret("WHATSAPP_APP_SECRET")),
    )
    .await;
    assert_eq!(status, 200);
    let queued = drain_inbound(&env).await;
    assert_eq!(queued.len(), 24);
    let mut by_sender: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for m in &queued {
        by_sender
            .entry(m.message.sender_id.clone())
            .or_default()
            .push(m.message.text.clone());
    }
    assert_eq!(by_sender.len(), 4);
    for texts in by_sender.values() {
        let mut sorted = texts.clone();
        sorted.sort();
        assert_eq!(texts, &sorted, "one sender's messages stay in order");
    }
}
