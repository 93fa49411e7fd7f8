//! The website widget API, through the function's handler, against the local endpoint.

use baton_aws::SqsQueue;
use baton_domain::conversation::{Author, Direction, Message};
use baton_domain::ports::ConversationStore;
use baton_domain::{Clock, ConversationId, FixedClock, SystemClock, TenantId};
use baton_tests::{drain_inbound, http_request, local_secret, seeded_env, TestEnv};
use serde_json::{json, Value};
use webhook_widget::{handler, Deps};

const ORIGIN: &str = "http://127.0.0.1:3000";

async fn setup() -> (TestEnv, Deps) {
    setup_with_clock(Box::new(SystemClock)).await
}

async fn setup_with_clock(clock: Box<dyn Clock>) -> (TestEnv, Deps) {
    let env = seeded_env().await;
    let (url, _) = env.resources.queue("InboundQueue").unwrap();
    let secret = local_secret("WIDGET_TOKEN_SECRET");
    let deps = Deps {
        store: std::sync::Arc::new(env.store.clone()),
        inbound_queue: std::sync::Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&env.sdk), url)),
        queues: Default::default(),
        token_secret: secret,
        clock,
    };
    (env, deps)
}

struct Call<'a> {
    method: &'a str,
    path: String,
    body: Option<Value>,
    token: Option<&'a str>,
    origin: Option<&'a str>,
    query: &'a str,
    source_ip: &'a str,
}

impl<'a> Call<'a> {
    fn new(method: &'a str, path: impl Into<String>) -> Self {
        Call {
            method,
            path: path.into(),
            body: None,
            token: None,
            origin: Some(ORIGIN),
            query: "",
            source_ip: "198.51.100.7",
        }
    }
}

async fn call(deps: &Deps, c: Call<'_>) -> (u16, Value, lambda_http::http::HeaderMap) {
    let auth = c.token.map(|t| format!("Bearer {t}"));
    let mut headers = Vec::new();
    if let Some(a) = &auth {
        headers.push(("authorization", a.as_str()));
    }
    if let Some(o) = c.origin {
        headers.push(("origin", o));
    }
    let req = http_request(c.method, &c.path, c.query, &headers, c.body.as_ref(), c.source_ip);
    let resp = handler(deps, req).await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = serde_json::from_slice(resp.body().as_ref()).unwrap_or(Value::Null);
    (status, body, headers)
}

async fn start(deps: &Deps) -> (String, String) {
    let mut c = Call::new("POST", "/widget/v1/conversations");
    c.body = Some(json!({ "widget_key": "wk_demo", "name": "Vera Visitor", "email": "Vera@Example.com" }));
    let (status, body, headers) = call(deps, c).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(headers["access-control-allow-origin"], ORIGIN);
    (
        body["conversation_id"].as_str().unwrap().to_owned(),
        body["visitor_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_visitor_starts_posts_and_a_replay_is_one_message() {
    let (env, deps) = setup().await;
    let (conv, token) = start(&deps).await;
    let post = |id: &'static str, text: &'static str| {
        let mut c = Call::new("POST", format!("/widget/v1/conversations/{conv}/messages"));
        c.body = Some(json!({ "client_message_id": id, "text": text }));
        c.token = Some(&token);
        c
    };
    assert_eq!(call(&deps, post("m-1", "Hello, do you ship to Norway?")).await.0, 202);
    // The offline widget replays the same message.
    assert_eq!(call(&deps, post("m-1", "Hello, do you ship to Norway?")).await.0, 202);
    let queued = drain_inbound(&env).await;
    assert_eq!(queued.len(), 1);
    let m = &queued[0];
    assert_eq!(m.tenant_id, TenantId::new("demo").unwrap());
    assert_eq!(m.conversation_id.to_string(), conv);
    assert_eq!(m.message.text, "Hello, do you ship to Norway?");
    let customer = baton_domain::ports::CustomerStore::get_customer(&env.store, &m.tenant_id, m.customer_id)
        .await
        .unwrap();
    assert_eq!(customer.name.as_deref(), Some("Vera Visitor"));
    assert_eq!(customer.email.as_deref(), Some("vera@example.com"));
}

#[tokio::test]
async fn polling_returns_the_thread_after_the_cursor() {
    let (env, deps) = setup().await;
    let (conv, token) = start(&deps).await;
    let conv_id: ConversationId = conv.parse().unwrap();
    let demo = TenantId::new("demo").unwrap();
    let visitor = baton_domain::widget::verify_token(&local_secret("WIDGET_TOKEN_SECRET"), &token, SystemClock.now())
        .unwrap()
        .visitor;
    let mut ids = Vec::new();
    for (direction, author, text) in [
        (Direction::Inbound, Author::Customer, "Where is my order?"),
        (Direction::Outbound, Author::Ai, "It ships tomorrow."),
        (
            Direction::Outbound,
            Author::Agent {
                id: baton_domain::AgentId::new("ann").unwrap(),
            },
            "Ann here, I checked: tomorrow.",
        ),
    ] {
        let m = Message {
            tenant_id: demo.clone(),
            conversation_id: conv_id,
            id: ulid::Ulid::new(),
            direction,
            author,
            text: text.into(),
            attachments: vec![],
            // As triage stores a widget message: under its intake key, which ends with the
            // visitor's id and the widget's.
            channel_message_id: (direction == Direction::Inbound).then(|| format!("widget:demo:{visitor}:w-1")),
            delivery: None,
            delivery_error: None,
            sender: None,
            original: None,
            choices: vec![],
            survey: None,
            created_at: SystemClock.now(),
            sent_at: None,
        };
        env.store.append_message(&m).await.unwrap();
        ids.push(m.id);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let mut c = Call::new("GET", format!("/widget/v1/conversations/{conv}/messages"));
    c.token = Some(&token);
    let (status, body, _) = call(&deps, c).await;
    assert_eq!(status, 200, "{body}");
    let from: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["from"].as_str().unwrap())
        .collect();
    assert_eq!(from, vec!["visitor", "assistant", "agent"]);
    assert_eq!(body["cursor"], ids[2].to_string());
    // The widget matches what it sent by its own id.
    assert_eq!(body["messages"][0]["client_message_id"], "w-1");
    assert!(body["messages"][1].get("client_message_id").is_none());

    let after = format!("after={}", ids[0]);
    let mut c = Call::new("GET", format!("/widget/v1/conversations/{conv}/messages"));
    c.token = Some(&token);
    c.query = &after;
    let (_, body, _) = call(&deps, c).await;
    let texts: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, vec!["It ships tomorrow.", "Ann here, I checked: tomorrow."]);

    // Another visitor's token does not open this conversation.
    let (_, other_token) = start(&deps).await;
    let mut c = Call::new("GET", format!("/widget/v1/conversations/{conv}/messages"));
    c.token = Some(&other_token);
    assert_eq!(call(&deps, c).await.0, 404);
}

#[tokio::test]
async fn refuses_bad_keys_tokens_origins_sizes_and_floods() {
    // The rate limit counts per clock minute: a stopped clock keeps the flood in one window.
    let (env, deps) = setup_with_clock(Box::new(FixedClock::new(SystemClock.now()))).await;
    let mut c = Call::new("POST", "/widget/v1/conversations");
    c.body = Some(json!({ "widget_key": "wk_nobody" }));
    assert_eq!(call(&deps, c).await.0, 404);

    let mut c = Call::new("POST", "/widget/v1/conversations");
    c.body = Some(json!({ "widget_key": "wk_demo" }));
    c.origin = Some("https://evil.example");
    let (status, _, headers) = call(&deps, c).await;
    assert_eq!(status, 403);
    assert!(headers.get("access-control-allow-origin").is_none());

    let (conv, token) = start(&deps).await;
    let path = format!("/widget/v1/conversations/{conv}/messages");
    let mut c = Call::new("POST", path.clone());
    c.body = Some(json!({ "client_message_id": "m1", "text": "hi" }));
    assert_eq!(call(&deps, c).await.0, 401, "no token");
    let mut c = Call::new("POST", path.clone());
    c.body = Some(json!({ "client_message_id": "m1", "text": "hi" }));
    c.token = Some("forged.token");
    assert_eq!(call(&deps, c).await.0, 401);

    let mut c = Call::new("POST", path.clone());
    c.body = Some(json!({ "client_message_id": "m1", "text": "x".repeat(4001) }));
    c.token = Some(&token);
    let (status, body, _) = call(&deps, c).await;
    assert_eq!(status, 422);
    assert!(body["error"]["fields"]["text"].is_string());

    let mut c = Call::new("POST", path.clone());
    c.body = Some(json!({ "client_message_id": "m1", "text": "y".repeat(20_000) }));
    c.token = Some(&token);
    assert_eq!(call(&deps, c).await.0, 413);

    let mut c = Call::new("POST", path.clone());
    c.body = Some(json!("not an object"));
    c.token = Some(&token);
    assert_eq!(call(&deps, c).await.0, 400);

    // The visitor rate limit: 20 a minute, then 429 with Retry-After.
    let mut statuses = Vec::new();
    for i in 0..22 {
        let mut c = Call::new("POST", path.clone());
        c.body = Some(json!({ "client_message_id": format!("flood-{i}"), "text": "spam" }));
        c.token = Some(&token);
        let (status, _, headers) = call(&deps, c).await;
        if status == 429 {
            assert_eq!(headers["retry-after"], "60");
        }
        statuses.push(status);
    }
    assert_eq!(statuses.iter().filter(|s| **s == 202).count(), 20, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 2);
    assert_eq!(drain_inbound(&env).await.len().min(10), 10);

    // Preflight answers with CORS headers for the browser; unknown routes are 404.
    let mut c = Call::new("OPTIONS", path.clone());
    c.origin = Some(ORIGIN);
    let (status, _, headers) = call(&deps, c).await;
    assert_eq!(status, 204);
    assert_eq!(headers["access-control-allow-methods"], "GET, POST, OPTIONS");
    assert_eq!(call(&deps, Call::new("GET", "/widget/v1/nothing")).await.0, 404);
}

#[tokio::test]
async fn a_reply_is_marked_delivered_once_the_widget_poll_returns_it() {
    let (env, deps) = setup().await;
    let (conv, token) = start(&deps).await;
    let conv_id: ConversationId = conv.parse().unwrap();
    let demo = TenantId::new("demo").unwrap();
    let reply = Message {
        tenant_id: demo.clone(),
        conversation_id: conv_id,
        id: ulid::Ulid::new(),
        direction: Direction::Outbound,
        author: Author::Agent {
            id: baton_domain::AgentId::new("ann").unwrap(),
        },
        text: "Ann here.".into(),
        attachments: vec![],
        channel_message_id: None,
        delivery: Some(baton_domain::conversation::DeliveryStatus::Queued),
        delivery_error: None,
        sender: None,
        choices: vec![],
        survey: None,
        original: None,
        created_at: SystemClock.now(),
        sent_at: None,
    };
    env.store.append_message(&reply).await.unwrap();
    let stored = |env: &TestEnv| {
        let (demo, env) = (demo.clone(), env.store.clone());
        async move { env.list_messages_after(&demo, conv_id, None, 10).await.unwrap()[0].delivery }
    };
    assert_eq!(
        stored(&env).await,
        Some(baton_domain::conversation::DeliveryStatus::Queued)
    );
    let mut c = Call::new("GET", format!("/widget/v1/conversations/{conv}/messages"));
    c.token = Some(&token);
    let (status, body, _) = call(&deps, c).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        stored(&env).await,
        Some(baton_domain::conversation::DeliveryStatus::Delivered)
    );
}
