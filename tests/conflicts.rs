//! Contention keeps its kind. DynamoDB cancels a transaction when another writer holds
//! one of its items (`TransactionConflict`) and pushes back under load (throttling); the
//! local endpoint never does either, so a proxy answers chosen calls with DynamoDB's own
//! error bodies. An agent gets `503` with `Retry-After` (nothing was written; the same
//! request will pass) or `409` (the ticket moved on), never a `500`; a consumer fails
//! only the record that met the conflict, and its redelivery lands.

use aws_lambda_events::event::sqs::SqsEvent;
use baton_domain::conversation::Author;
use baton_domain::intake::InboundMessage;
use baton_domain::outbound::OutboundMessage;
use baton_domain::ports::{ConversationStore, PageRequest, ParkingStore, TicketStore};
use baton_domain::ticket::TimelineKind;
use baton_domain::{TenantId, TicketNumber};
use baton_tests::ddb_proxy::{DdbError, DdbProxy};
use baton_tests::{agent_call, agent_token, drain_queue, intake_onto, seeded_env, whatsapp_text, TestEnv};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;
use std::sync::Arc;

fn demo() -> TenantId {
    TenantId::new("demo").unwrap()
}

async fn inbound(env: &TestEnv, sender: &str, text: &str) -> InboundMessage {
    let message = whatsapp_text(sender, &format!("wamid.{sender}.{}", text.len()), text);
    intake_onto(env, "InboundQueue", message).await
}

fn event(messages: &[&InboundMessage]) -> SqsEvent {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            json!({ "messageId": m.dedup_key(), "receiptHandle": "rh", "body": serde_json::to_string(m).unwrap(),
            "attributes": { "ApproximateReceiveCount": "1", "MessageGroupId": m.conversation_id.to_string() },
            "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:inbound.fifo", "awsRegion": "us-east-1" })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn triage_over(env: &TestEnv, store: baton_aws::DynamoStore) -> triage::Deps {
    baton_tests::triage_deps(env, Arc::new(store))
}

/// A ticket handed off by triage (no proxy), and its version.
async fn handed_off(env: &TestEnv, sender: &str) -> (TicketNumber, u64) {
    let m = inbound(env, sender, "I want to talk to a human").await;
    let deps = triage_over(env, env.store.clone());
    let resp = triage::handler(&deps, LambdaEvent::new(event(&[&m]), Context::default()))
        .await
        .unwrap();
    assert!(resp.batch_item_failures.is_empty());
    let number = env
        .store
        .get_conversation(&demo(), m.conversation_id)
        .await
        .unwrap()
        .ticket
        .unwrap();
    (number, env.store.get_ticket(&demo(), number).await.unwrap().version)
}

fn agent_api_over(env: &TestEnv, proxy: &DdbProxy) -> agent_api::Deps {
    baton_tests::agent_api_deps(env, Arc::new(proxy.store(&env.sdk, env.store.table())))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_meeting_a_transaction_conflict_get_503_with_retry_after_and_201_never_500() {
    let env = seeded_env().await;
    let proxy = DdbProxy::start(&env.endpoint.url).await;
    let deps = agent_api_over(&env, &proxy);
    let ada = agent_token(&env, "demo", "ada@demo.example", "agent").await;
    let bo = agent_token(&env, "demo", "bo@demo.example", "agent").await;
    let (number, version) = handed_off(&env, "31650000001").await;
    let path = |what: &str| format!("/v1/tickets/{}/{what}", number.0);

    // Both act on the version they read; DynamoDB cancels the first transaction it sees.
    proxy.fail(
        "TransactWriteItems",
        1,
        DdbError::transaction_cancelled(&["None", "TransactionConflict", "None"]),
    );
    let reply_path = path("replies");
    let note_path = path("notes");
    let (a, b) = tokio::join!(
        agent_call(
            &deps,
            &ada,
            "POST",
            &reply_path,
            Some(json!({ "version": version, "text": "On it." }))
        ),
        agent_call(
            &deps,
            &bo,
            "POST",
            &note_path,
            Some(json!({ "version": version, "text": "Courier called." }))
        ),
    );
    assert_eq!(proxy.injected(), vec!["TransactWriteItems"]);
    let mut statuses = vec![a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, vec![201, 503], "{a:?} {b:?}");
    let (busy, winner) = if a.0 == 503 { (&a, &b) } else { (&b, &a) };
    assert_eq!(busy.1.as_deref(), Some("1"), "Retry-After tells when to try again");
    assert_eq!(busy.2["error"]["code"], "unavailable");
    assert_eq!(winner.2["ticket"]["version"], version + 1);

    // The one that met the conflict retries the same request: the ticket moved on, so it
    // gets 409 with the ticket as it is now, and replays against that version.
    let (retried_token, retried_path, retried_body) = if a.0 == 503 {
        (&ada, &reply_path, json!({ "text": "On it." }))
    } else {
        (&bo, &note_path, json!({ "text": "Courier called." }))
    };
    let mut body = retried_body.clone();
    body["version"] = version.into();
    let (status, _, stale) = agent_call(&deps, retried_token, "POST", retried_path, Some(body.clone())).await;
    assert_eq!(status, 409, "{stale}");
    assert_eq!(stale["current"]["version"], version + 1);
    body["version"] = (version + 1).into();
    let (status, _, _) = agent_call(&deps, retried_token, "POST", retried_path, Some(body)).await;
    assert_eq!(status, 201);

    let timeline = baton_tests::timeline(&env, number).await;
    let texts: Vec<String> = timeline
        .iter()
        .filter_map(|e| match &e.entry {
            TimelineKind::Message { text, .. } | TimelineKind::Note { text } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(texts.iter().filter(|t| *t == "On it.").count(), 1);
    assert_eq!(texts.iter().filter(|t| *t == "Courier called.").count(), 1);
    let out: Vec<OutboundMessage> = drain_queue(&env, "OutboundQueue").await;
    assert_eq!(
        out.iter().filter(|o| o.text == "On it.").count(),
        1,
        "one reply delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_single_item_conflicts_answer_503_never_500() {
    let env = seeded_env().await;
    let proxy = DdbProxy::start(&env.endpoint.url).await;
    let deps = agent_api_over(&env, &proxy);
    let ada = agent_token(&env, "demo", "ada@demo.example", "agent").await;
    let (number, version) = handed_off(&env, "31650000002").await;

    // The SDK retries throughput errors itself; past its attempts the agent gets 503.
    proxy.fail("TransactWriteItems", 10, DdbError::throughput_exceeded());
    let (status, retry_after, body) = agent_call(
        &deps,
        &ada,
        "POST",
        &format!("/v1/tickets/{}/notes", number.0),
        Some(json!({ "version": version, "text": "Checking with the courier." })),
    )
    .await;
    assert_eq!((status, retry_after.as_deref()), (503, Some("1")), "{body}");
    assert!(proxy.injected().len() > 1, "the SDK retried before giving up");

    // A single-item write that met a transaction in flight.
    let me = agent_api::auth::agent_id_for_email("ada@demo.example");
    proxy.fail("UpdateItem", 1, DdbError::transaction_conflict());
    let (status, retry_after, body) = agent_call(
        &deps,
        &ada,
        "PUT",
        &format!("/v1/agents/{me}/presence"),
        Some(json!({ "presence": "online" })),
    )
    .await;
    assert_eq!((status, retry_after.as_deref()), (503, Some("1")), "{body}");
    let (status, _, _) = agent_call(
        &deps,
        &ada,
        "PUT",
        &format!("/v1/agents/{me}/presence"),
        Some(json!({ "presence": "online" })),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_conflict_in_triage_fails_only_that_record_and_its_redelivery_lands() {
    let env = seeded_env().await;
    let proxy = DdbProxy::start(&env.endpoint.url).await;
    let first = inbound(&env, "31650000003", "How long does delivery take?").await;
    let second = inbound(&env, "31650000004", "How long does delivery take?").await;
    let deps = triage_over(&env, proxy.store(&env.sdk, env.store.table()));

    proxy.fail(
        "TransactWriteItems",
        1,
        DdbError::transaction_cancelled(&["TransactionConflict", "None"]),
    );
    let resp = triage::handler(&deps, LambdaEvent::new(event(&[&first, &second]), Context::default()))
        .await
        .unwrap();
    assert_eq!(
        resp.batch_item_failures.len(),
        1,
        "only the record that met the conflict fails"
    );
    let failed = &resp.batch_item_failures[0].item_identifier;
    let again = if *failed == first.dedup_key() { &first } else { &second };
    assert!(
        env.store
            .list_parked(triage::CONSUMER, &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty(),
        "a conflict is retried, never parked"
    );

    let resp = triage::handler(&deps, LambdaEvent::new(event(&[again]), Context::default()))
        .await
        .unwrap();
    assert!(resp.batch_item_failures.is_empty());
    for m in [&first, &second] {
        let thread = env
            .store
            .list_messages(&demo(), m.conversation_id, &PageRequest::first(10))
            .await
            .unwrap()
            .items;
        let authors: Vec<Author> = thread.into_iter().map(|m| m.author).collect();
        assert_eq!(authors, vec![Author::Customer, Author::Ai]);
    }
    let out: Vec<OutboundMessage> = drain_queue(&env, "OutboundQueue").await;
    assert_eq!(out.len(), 2, "one answer each");
}
