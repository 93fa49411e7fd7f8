//! The Bedrock path of triage against a local HTTP server that speaks the Converse wire
//! format (the SDK pointed at it by endpoint override): an answer with citations, a model
//! error, a timeout, an uncited answer, a model that asks for a human, an answer citing an
//! article retrieval did not agree on, and a clarifying question through the model's tool.

use aws_lambda_events::event::sqs::SqsEvent;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;

use baton_domain::outbound::{OutboundMessage, RoutingRequest};
use baton_domain::ports::TicketStore;
use baton_domain::TenantId;
use baton_tests::{bedrock_at, converse_tool_use, drain_queue, intake_onto, queue, seeded_env, whatsapp_text, TestEnv};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Copy)]
enum Mode {
    Answer,
    Uncited,
    NeedsHuman,
    Error,
    Slow,
    /// Sure of itself, citing a retrieved article that is not the one retrieval chose.
    OtherArticle,
    /// Asks which of the close candidates applies.
    Clarify,
}

#[derive(Clone)]
struct Fake {
    mode: Arc<Mutex<Mode>>,
    last_request: Arc<Mutex<Option<Value>>>,
    last_path: Arc<Mutex<String>>,
}

fn tool_reply(input: Value) -> Value {
    converse_tool_use("answer_customer", input)
}

async fn converse(State(f): State<Fake>, uri: axum::http::Uri, body: axum::body::Bytes) -> axum::response::Response {
    *f.last_path.lock().unwrap() = uri.path().to_owned();
    *f.last_request.lock().unwrap() = serde_json::from_slice(&body).ok();
    let mode = *f.mode.lock().unwrap();
    let json = |v: Value| ([("content-type", "application/json")], v.to_string()).into_response();
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    if request["toolConfig"]["tools"][0]["toolSpec"]["name"] == "summarize_case" {
        return json(converse_tool_use(
            "summarize_case",
            json!({ "summary": "Customer wants an exception to the 30-day returns window for worn shoes." }),
        ));
    }
    match mode {
        Mode::Answer => json(tool_reply(json!({
            "answer": "Standard delivery takes 3 to 5 business days; express takes 1 to 2.",
            "confidence": 0.93, "cited_article_ids": ["delivery-times"], "needs_human": false
        }))),
        Mode::Uncited => json(tool_reply(json!({
            "answer": "Probably next week.", "confidence": 0.9, "cited_article_ids": [], "needs_human": false
        }))),
        Mode::NeedsHuman => json(tool_reply(json!({
            "answer": "", "confidence": 0.2, "cited_article_ids": [], "needs_human": true,
            "reason": "the customer wants an exception to the returns policy"
        }))),
        Mode::Error => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [
                ("content-type", "application/json"),
                ("x-amzn-errortype", "ModelErrorException"),
            ],
            json!({ "message": "The model failed to process the request" }).to_string(),
        )
            .into_response(),
        Mode::OtherArticle => json(tool_reply(json!({
            "answer": "You can return unused items within 30 days.",
            "confidence": 0.99, "cited_article_ids": ["returns"], "needs_human": false
        }))),
        Mode::Clarify => json(converse_tool_use(
            "ask_which_article",
            json!({ "question": "Was your card declined, or is it blocked?", "article_ids": ["card-declined", "card-blocked"] }),
        )),
        Mode::Slow => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            json(tool_reply(
                json!({ "answer": "late", "confidence": 1.0, "cited_article_ids": ["delivery-times"], "needs_human": false }),
            ))
        }
    }
}

struct Harness {
    env: TestEnv,
    fake: Fake,
    triage: triage::Deps,
}

async fn harness() -> Harness {
    let env = seeded_env().await;
    let fake = Fake {
        mode: Arc::new(Mutex::new(Mode::Answer)),
        last_request: Arc::new(Mutex::new(None)),
        last_path: Arc::new(Mutex::new(String::new())),
    };
    let app = Router::new()
        .route("/model/{model}/converse", post(converse))
        .with_state(fake.clone());
    let bedrock = bedrock_at(&env, app, Duration::from_millis(500)).await;
    let triage = triage::deps(
        std::sync::Arc::new(env.store.clone()),
        std::sync::Arc::new(queue(&env, "OutboundQueue")),
        std::sync::Arc::new(queue(&env, "RoutingQueue")),
        Box::new(bedrock),
    );
    Harness { env, fake, triage }
}

async fn ask(h: &Harness, sender: &str, text: &str) {
    let message = whatsapp_text(sender, &format!("wamid.{sender}.{}", text.len()), text);
    let inbound = [intake_onto(&h.env, "InboundQueue", message).await];
    let records: Vec<Value> = inbound
        .iter()
        .map(|m| json!({ "messageId": m.dedup_key(), "receiptHandle": "rh", "body": serde_json::to_string(m).unwrap(),
            "attributes": { "MessageGroupId": m.conversation_id.to_string() }, "messageAttributes": {},
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q.fifo", "awsRegion": "us-east-1" }))
        .collect();
    let event: SqsEvent = serde_json::from_value(json!({ "Records": records })).unwrap();
    let resp = triage::handler(&h.triage, LambdaEvent::new(event, Context::default()))
        .await
        .unwrap();
    assert!(resp.batch_item_failures.is_empty());
}

async fn handoff_reason(h: &Harness) -> String {
    let routed: Vec<RoutingRequest> = drain_queue(&h.env, "RoutingQueue").await;
    assert_eq!(routed.len(), 1, "a ticket was opened");
    let t = h
        .env
        .store
        .get_ticket(&TenantId::new("demo").unwrap(), routed[0].ticket)
        .await
        .unwrap();
    t.tags
        .iter()
        .find_map(|t| t.strip_prefix("handoff:"))
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_model_answers_through_the_tool_with_citations() {
    let h = harness().await;
    ask(&h, "4915550001", "How long does delivery take?").await;
    let out: Vec<OutboundMessage> = drain_queue(&h.env, "OutboundQueue").await;
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].text,
        "Standard delivery takes 3 to 5 business days; express takes 1 to 2."
    );
    assert!(drain_queue::<RoutingRequest>(&h.env, "RoutingQueue").await.is_empty());
    // What went over the wire: the Converse shape with the persona, passages and forced tool.
    assert_eq!(
        *h.fake.last_path.lock().unwrap(),
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    );
    let req = h.fake.last_request.lock().unwrap().clone().unwrap();
    let system = req["system"][0]["text"].as_str().unwrap();
    assert!(system.contains("[id: delivery-times]") && system.contains("Standard delivery takes 3 to 5 business days"));
    assert_eq!(req["toolConfig"]["toolChoice"]["tool"]["name"], "answer_customer");
    assert_eq!(req["messages"][0]["role"], "user");
    assert_eq!(req["messages"][0]["content"][0]["text"], "How long does delivery take?");
}

#[tokio::test]
async fn a_model_error_hands_off_and_tells_the_customer() {
    let h = harness().await;
    *h.fake.mode.lock().unwrap() = Mode::Error;
    ask(&h, "4915550002", "How long does delivery take?").await;
    assert_eq!(handoff_reason(&h).await, "model_failed");
    let out: Vec<OutboundMessage> = drain_queue(&h.env, "OutboundQueue").await;
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].text, baton_domain::handoff::MODEL_FAILURE_NOTICE);
}

#[tokio::test]
async fn a_model_timeout_hands_off() {
    let h = harness().await;
    *h.fake.mode.lock().unwrap() = Mode::Slow;
    let started = std::time::Instant::now();
    ask(&h, "4915550003", "How long does delivery take?").await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the call was cut at the timeout"
    );
    assert_eq!(handoff_reason(&h).await, "model_failed");
}

#[tokio::test]
async fn an_uncited_answer_is_not_sent_and_a_model_can_ask_for_a_human() {
    let h = harness().await;
    *h.fake.mode.lock().unwrap() = Mode::Uncited;
    ask(&h, "4915550004", "How long does delivery take?").await;
    assert_eq!(handoff_reason(&h).await, "uncited_answer");
    let out: Vec<OutboundMessage> = drain_queue(&h.env, "OutboundQueue").await;
    assert!(
        out.iter().all(|m| m.text != "Probably next week."),
        "the uncited answer never reached the customer"
    );

    *h.fake.mode.lock().unwrap() = Mode::NeedsHuman;
    ask(&h, "4915550005", "How do I return something I wore outside?").await;
    let routed: Vec<RoutingRequest> = drain_queue(&h.env, "RoutingQueue").await;
    let ticket = h
        .env
        .store
        .get_ticket(&TenantId::new("demo").unwrap(), routed[0].ticket)
        .await
        .unwrap();
    assert!(ticket.tags.contains(&"handoff:model_needs_human".to_string()));
    assert_eq!(
        ticket.ai_summary.as_deref(),
        Some("Customer wants an exception to the 30-day returns window for worn shoes."),
        "the model's summary is on the ticket"
    );
}

#[tokio::test]
async fn an_answer_from_an_article_retrieval_did_not_choose_is_not_sent() {
    let h = harness().await;
    *h.fake.mode.lock().unwrap() = Mode::OtherArticle;
    ask(&h, "4915550006", "How long does delivery take?").await;
    assert_eq!(
        handoff_reason(&h).await,
        "uncited_answer",
        "its 0.99 is not taken at its word"
    );
    let out: Vec<OutboundMessage> = drain_queue(&h.env, "OutboundQueue").await;
    assert!(out.iter().all(|m| !m.text.contains("within 30 days")));
}

#[tokio::test]
async fn offered_close_candidates_the_model_asks_which_one_through_its_tool() {
    let h = harness().await;
    baton_tests::put_sibling_card_articles(&h.env.store).await;
    *h.fake.mode.lock().unwrap() = Mode::Clarify;
    ask(&h, "4915550007", "what is wrong with my card").await;
    let req = h.fake.last_request.lock().unwrap().clone().unwrap();
    let tools: Vec<&str> = req["toolConfig"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["toolSpec"]["name"].as_str())
        .collect();
    assert_eq!(tools, ["answer_customer", "ask_which_article"]);
    assert!(
        req["toolConfig"]["toolChoice"].get("any").is_some(),
        "{}",
        req["toolConfig"]
    );
    let out: Vec<OutboundMessage> = drain_queue(&h.env, "OutboundQueue").await;
    assert_eq!(out.len(), 1);
    assert!(
        out[0].text.starts_with("Was your card declined, or is it blocked?")
            && out[0].text.contains("1. Card")
            && out[0].text.contains("2. Card"),
        "{}",
        out[0].text
    );
    assert!(drain_queue::<RoutingRequest>(&h.env, "RoutingQueue").await.is_empty());
}
