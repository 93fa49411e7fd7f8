//! Test support: each test gets its own local AWS endpoint (moto server on a free port)
//! and its own resources created from `template.yaml`, so tests run in parallel and
//! leave nothing behind (the server stops when the test's `TestEnv` drops).

pub mod ddb_proxy;
pub mod faults;

use baton_aws::DynamoStore;
use baton_local::endpoint::{repo_root, LocalEndpoint};
use baton_local::provision::{self, Resources};
use baton_local::template::Template;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

pub struct TestEnv {
    pub endpoint: LocalEndpoint,
    pub sdk: aws_config::SdkConfig,
    pub resources: Resources,
    pub store: DynamoStore,
}

static STACKS: AtomicU32 = AtomicU32::new(0);

pub fn root() -> PathBuf {
    repo_root()
}

/// A fresh endpoint with the resources of `template` (a path relative to the repo root).
pub async fn env_with(template: &str) -> TestEnv {
    let endpoint = LocalEndpoint::start(None).expect("local AWS endpoint starts");
    let sdk = endpoint.sdk_config().await;
    let template = Template::load(&root().join(template)).expect("template loads");
    let stack = format!("t{}-{}", std::process::id(), STACKS.fetch_add(1, Ordering::SeqCst));
    let resources = provision::provision(&sdk, &template, &stack, &BTreeMap::new())
        .await
        .expect("resources are created");
    let env_file = baton_local::envfile::EnvFile::load(&root().join("infra/local/env.json")).expect("env.json loads");
    provision::verify_sender_domains(&sdk, &env_file)
        .await
        .expect("the local sender domain is verified");
    let table = resources.table_name().expect("template has a table").to_owned();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    TestEnv {
        endpoint,
        sdk,
        resources,
        store,
    }
}

pub async fn env() -> TestEnv {
    env_with("template.yaml").await
}

static BUILD: Mutex<()> = Mutex::new(());

/// Builds every function binary with `infra/local/build` (a no-op when they are fresh,
/// as after `make test`'s own build), so tests run the real function binaries, as Lambda
/// would, from the one shared build.
pub fn build_binaries() {
    let _guard = BUILD.lock().unwrap_or_else(|p| p.into_inner());
    let status = std::process::Command::new(root().join("infra/local/build"))
        .arg("--quiet")
        .status()
        .expect("infra/local/build runs");
    assert!(status.success(), "building the workspace binaries failed");
}

/// The event an EventBridge schedule delivers (the outbox sweep's, the SLA sweep's).
pub fn scheduled_event() -> aws_lambda_events::event::eventbridge::EventBridgeEvent<serde_json::Value> {
    scheduled_event_at("2026-11-22T10:00:00Z")
}

/// A scheduled event for the minute `time` (RFC 3339).
pub fn scheduled_event_at(time: &str) -> aws_lambda_events::event::eventbridge::EventBridgeEvent<serde_json::Value> {
    serde_json::from_value(serde_json::json!({
        "version": "0", "id": "e", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": time, "region": "us-east-1",
        "resources": [], "detail": {}
    }))
    .expect("a scheduled event")
}

/// Runs the outbox relay's sweep (what a crashed step left unrelayed) over the real
/// queues, with `clock` (moved past the relay's grace period by the caller).
pub async fn relay_pending(
    env: &TestEnv,
    store: std::sync::Arc<dyn baton_domain::ports::Store>,
    clock: std::sync::Arc<dyn baton_domain::Clock>,
) {
    let mut relay = outbox_relay::Deps::new(
        store,
        std::sync::Arc::new(queue(env, "OutboundQueue")),
        std::sync::Arc::new(queue(env, "RoutingQueue")),
    );
    relay.queues.notify = Some(std::sync::Arc::new(queue(env, "NotifyQueue")));
    relay.queues.email = Some(std::sync::Arc::new(queue(env, "EmailQueue")));
    relay.clock = clock;
    outbox_relay::handler(
        &relay,
        lambda_runtime::LambdaEvent::new(scheduled_event(), Default::default()),
    )
    .await
    .expect("the relay runs");
}

/// The details of the ticket's timeline events named `name`, oldest first.
pub async fn ticket_events(
    env: &TestEnv,
    tenant: &baton_domain::TenantId,
    n: baton_domain::TicketNumber,
    name: &str,
) -> Vec<serde_json::Value> {
    use baton_domain::ports::TicketStore;
    let entries = env
        .store
        .list_timeline(tenant, n, &baton_domain::ports::PageRequest::first(100))
        .await
        .expect("the timeline reads")
        .items;
    timeline_events(&entries)
        .into_iter()
        .filter(|(e, _)| e == name)
        .map(|(_, d)| d)
        .collect()
}

/// Polls `check` until it returns `Some`, for at most `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A fresh endpoint with the demo tenant seeded.
pub async fn seeded_env() -> TestEnv {
    let env = env().await;
    baton_local::seed::seed_demo(&env.store)
        .await
        .expect("demo tenant seeds");
    env
}

/// A test's local secret from `infra/local/env.json`.
pub fn local_secret(name: &str) -> String {
    baton_local::envfile::EnvFile::load(&root().join("infra/local/env.json"))
        .expect("env.json loads")
        .get("Parameters", name)
        .unwrap_or_else(|| panic!("{name} is not in env.json"))
        .to_owned()
}

/// The SQS adapter for one of the template's queues in this test's stack.
pub fn queue(env: &TestEnv, logical_id: &str) -> baton_aws::SqsQueue {
    let (url, _) = env
        .resources
        .queue(logical_id)
        .unwrap_or_else(|| panic!("template has no queue {logical_id}"));
    baton_aws::SqsQueue::new(aws_sdk_sqs::Client::new(&env.sdk), url)
}

/// The queues the router and the SLA sweep relay to: routing, notifications, analytics.
pub fn routing_and_notify_queues(env: &TestEnv) -> baton_app::Queues {
    baton_app::Queues {
        routing: Some(std::sync::Arc::new(queue(env, "RoutingQueue"))),
        notify: Some(std::sync::Arc::new(queue(env, "NotifyQueue"))),
        analytics: Some(std::sync::Arc::new(queue(env, "AnalyticsQueue"))),
        ..Default::default()
    }
}

/// Writes stored-shape items straight into the test's table with `BatchWriteItem`, 25 at a
/// time (benchmarks' bulk loads: the local endpoint copies the whole table for every
/// transaction, so loading thousands of items one transaction at a time takes hours).
pub async fn batch_put(env: &TestEnv, items: impl IntoIterator<Item = baton_aws::dynamo::Item>) {
    use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
    let client = aws_sdk_dynamodb::Client::new(&env.sdk);
    let table = env.resources.table_name().unwrap().to_owned();
    let requests: Vec<WriteRequest> = items
        .into_iter()
        .map(|item| {
            let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
            WriteRequest::builder().put_request(put).build()
        })
        .collect();
    for chunk in requests.chunks(25) {
        let mut pending = chunk.to_vec();
        while !pending.is_empty() {
            let out = client
                .batch_write_item()
                .request_items(&table, pending)
                .send()
                .await
                .expect("the batch is written");
            pending = out
                .unprocessed_items
                .and_then(|mut u| u.remove(&table))
                .unwrap_or_default();
        }
    }
}

/// Takes everything on one of the template's queues right now (received and deleted),
/// each body parsed as `T`.
pub async fn drain_queue<T: serde::de::DeserializeOwned>(env: &TestEnv, logical_id: &str) -> Vec<T> {
    let sqs = aws_sdk_sqs::Client::new(&env.sdk);
    let (url, _) = env
        .resources
        .queue(logical_id)
        .unwrap_or_else(|| panic!("template has no queue {logical_id}"));
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("receive");
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            return out;
        }
        for m in messages {
            out.push(
                serde_json::from_str(m.body.as_deref().unwrap_or_default()).expect("a message of the expected type"),
            );
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle.unwrap_or_default())
                .send()
                .await
                .expect("delete");
        }
    }
}

/// Takes everything on the inbound queue right now.
pub async fn drain_inbound(env: &TestEnv) -> Vec<baton_domain::intake::InboundMessage> {
    drain_queue(env, "InboundQueue").await
}

/// An API Gateway HTTP API (payload 2.0) request, as the gateway hands it to a function.
pub fn http_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: Option<&serde_json::Value>,
    source_ip: &str,
) -> lambda_http::Request {
    use serde_json::{json, Map, Value};
    let mut h = json!({ "content-type": "application/json", "host": "127.0.0.1:3000" });
    for (k, v) in headers {
        h[*k] = Value::String((*v).to_owned());
    }
    let mut params = Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.insert(k.into(), v.into());
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": query,
        "headers": h,
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": "127.0.0.1", "domainPrefix": "local",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip, "userAgent": "test" },
            "requestId": "r1", "routeKey": "$default", "stage": "$default", "time": "21/Nov/2026:09:30:00 +0000", "timeEpoch": 0
        },
        "isBase64Encoded": false
    });
    if !params.is_empty() {
        event["queryStringParameters"] = Value::Object(params);
    }
    if let Some(b) = body {
        event["body"] = b.to_string().into();
    }
    lambda_http::request::from_str(&event.to_string()).expect("a valid HTTP API event")
}

/// A bearer token for the local agent API, with its tenant and agent created through
/// `infra/local/token`'s code.
pub async fn agent_token(env: &TestEnv, tenant: &str, email: &str, role: &str) -> String {
    baton_local::dev_auth::mint(
        Some(&env.store),
        &local_secret("LOCAL_JWT_SECRET"),
        tenant,
        email,
        role,
        1,
    )
    .await
    .expect("a local token")
    .0
}

/// One agent-API call as the HTTP API hands it over: status, `Retry-After`, JSON body.
pub async fn agent_call(
    deps: &agent_api::Deps,
    token: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, Option<String>, serde_json::Value) {
    let resp = agent_response(deps, token, method, path, body).await;
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let status = resp.status().as_u16();
    (
        status,
        retry_after,
        serde_json::from_slice(resp.body().as_ref()).unwrap_or(serde_json::Value::Null),
    )
}

/// An agent-API call whose answer is not JSON (a CSV export): status, headers, text.
pub async fn agent_call_raw(
    deps: &agent_api::Deps,
    token: &str,
    method: &str,
    path: &str,
) -> (u16, lambda_http::http::HeaderMap, String) {
    let resp = agent_response(deps, token, method, path, None).await;
    let text = String::from_utf8_lossy(resp.body().as_ref()).into_owned();
    (resp.status().as_u16(), resp.headers().clone(), text)
}

async fn agent_response(
    deps: &agent_api::Deps,
    token: &str,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> lambda_http::Response<lambda_http::Body> {
    let auth = format!("Bearer {token}");
    // `/v1/tickets?sort=…`: the query goes where the HTTP API puts it.
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let req = http_request(
        method,
        path,
        query,
        &[("authorization", auth.as_str())],
        body.as_ref(),
        "198.51.100.9",
    );
    agent_api::handler(deps, req).await.unwrap()
}

/// A WhatsApp text from `sender` to the demo tenant's number, as the webhook parses it.
pub fn whatsapp_text(sender: &str, channel_message_id: &str, text: &str) -> baton_domain::channels::ChannelMessage {
    baton_domain::channels::ChannelMessage {
        channel: baton_domain::Channel::Whatsapp,
        account_id: "100000000000001".into(),
        sender_id: sender.into(),
        sender_name: Some("Sam".into()),
        channel_message_id: channel_message_id.into(),
        kind: baton_domain::channels::ContentKind::Text,
        text: text.into(),
        attachments: vec![],
        reply_to: None,
        sent_at: None,
    }
}

/// `message` through intake for the demo tenant onto the template queue `logical_id`
/// (the real adapters, no faults): the inbound message triage would receive.
pub async fn intake_onto(
    env: &TestEnv,
    logical_id: &str,
    message: baton_domain::channels::ChannelMessage,
) -> baton_domain::intake::InboundMessage {
    intake_onto_after(env, logical_id, message, baton_domain::conversation::DEFAULT_INACTIVITY).await
}

/// [`intake_onto`] with conversations ending after `inactivity` without a message.
pub async fn intake_onto_after(
    env: &TestEnv,
    logical_id: &str,
    message: baton_domain::channels::ChannelMessage,
    inactivity: time::Duration,
) -> baton_domain::intake::InboundMessage {
    intake_onto_at(env, logical_id, message, inactivity, &baton_domain::SystemClock).await
}

/// [`intake_onto_after`] at `clock`'s time: a scenario on a test clock receives its
/// messages at that clock's time too (a conversation's gaps are measured between them).
pub async fn intake_onto_at(
    env: &TestEnv,
    logical_id: &str,
    message: baton_domain::channels::ChannelMessage,
    inactivity: time::Duration,
    clock: &dyn baton_domain::Clock,
) -> baton_domain::intake::InboundMessage {
    let target = queue(env, logical_id);
    let ports = baton_app::intake::IntakePorts::new(&env.store, &target, clock).with_inactivity(inactivity);
    let demo = baton_domain::TenantId::new("demo").unwrap();
    baton_app::intake::accept(&ports, &demo, message, None, None)
        .await
        .unwrap();
    let mut queued: Vec<baton_domain::intake::InboundMessage> = drain_queue(env, logical_id).await;
    assert_eq!(queued.len(), 1, "one message queued");
    queued.remove(0)
}

/// A demo ticket's whole timeline, in order.
pub async fn timeline(env: &TestEnv, number: baton_domain::TicketNumber) -> Vec<baton_domain::ticket::TimelineEntry> {
    use baton_domain::ports::TicketStore;
    env.store
        .list_timeline(
            &baton_domain::TenantId::new("demo").unwrap(),
            number,
            &baton_domain::ports::PageRequest::first(100),
        )
        .await
        .unwrap()
        .items
}

/// The texts of a timeline's customer-visible messages, in order.
pub fn message_texts(timeline: &[baton_domain::ticket::TimelineEntry]) -> Vec<String> {
    timeline
        .iter()
        .filter_map(|e| match &e.entry {
            baton_domain::ticket::TimelineKind::Message { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// A timeline's events, with their details, in order.
pub fn timeline_events(timeline: &[baton_domain::ticket::TimelineEntry]) -> Vec<(String, serde_json::Value)> {
    timeline
        .iter()
        .filter_map(|e| match &e.entry {
            baton_domain::ticket::TimelineKind::Event { name, detail } => Some((name.clone(), detail.clone())),
            _ => None,
        })
        .collect()
}

/// Runs the triage handler on `messages` as one SQS batch (one record each) and checks
/// that no record failed.
pub async fn triage_records(deps: &triage::Deps, messages: &[baton_domain::intake::InboundMessage]) {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .enumerate()
        .map(|(n, m)| {
            serde_json::json!({
                "messageId": format!("sqs-{}-{n}", m.dedup_key()), "receiptHandle": "rh",
                "body": serde_json::to_string(m).unwrap(),
                "attributes": { "ApproximateReceiveCount": "1", "MessageGroupId": m.conversation_id.to_string() },
                "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:inbound.fifo", "awsRegion": "us-east-1"
            })
        })
        .collect();
    let event: aws_lambda_events::event::sqs::SqsEvent =
        serde_json::from_value(serde_json::json!({ "Records": records })).unwrap();
    let out = triage::handler(
        deps,
        lambda_runtime::LambdaEvent::new(event, lambda_runtime::Context::default()),
    )
    .await
    .unwrap();
    assert!(out.batch_item_failures.is_empty(), "no record failed");
}

/// Triage over `store` with the deterministic answerer, relaying to the template's
/// outbound and routing queues.
pub fn triage_deps(env: &TestEnv, store: std::sync::Arc<dyn baton_domain::ports::Store>) -> triage::Deps {
    let mut deps = triage::deps(
        store,
        std::sync::Arc::new(queue(env, "OutboundQueue")),
        std::sync::Arc::new(queue(env, "RoutingQueue")),
        Box::new(baton_domain::triage::DeterministicAnswerer),
    );
    deps.queues.email = Some(std::sync::Arc::new(queue(env, "EmailQueue")));
    deps.queues.notify = Some(std::sync::Arc::new(queue(env, "NotifyQueue")));
    deps.queues.index = Some(std::sync::Arc::new(queue(env, "IndexQueue")));
    deps.queues.analytics = Some(std::sync::Arc::new(queue(env, "AnalyticsQueue")));
    deps.survey_links = Some(baton_app::csat::SurveyLinks {
        base_url: "https://api.baton.test".into(),
        secret: local_secret("SURVEY_TOKEN_SECRET"),
    });
    deps
}

/// The agent API over `store`: local tokens, replies to the template's outbound queue, the
/// deterministic answerer, the wall clock; no file bucket and no media source (set
/// `files` and `media` with struct update where a test needs them).
pub fn agent_api_deps(env: &TestEnv, store: std::sync::Arc<dyn baton_domain::ports::Store>) -> agent_api::Deps {
    agent_api::Deps {
        aggregates: std::sync::Arc::new(env.store.clone()),
        store,
        queues: baton_app::Queues {
            outbound: Some(std::sync::Arc::new(queue(env, "OutboundQueue"))),
            routing: Some(std::sync::Arc::new(queue(env, "RoutingQueue"))),
            email: Some(std::sync::Arc::new(queue(env, "EmailQueue"))),
            notify: Some(std::sync::Arc::new(queue(env, "NotifyQueue"))),
            index: Some(std::sync::Arc::new(queue(env, "IndexQueue"))),
            analytics: Some(std::sync::Arc::new(queue(env, "AnalyticsQueue"))),
        },
        auth: agent_api::auth::Authenticator::local(&local_secret("LOCAL_JWT_SECRET"), agent_api::auth::LOCAL_AUDIENCE),
        answerer: Box::new(baton_domain::triage::DeterministicAnswerer),
        kb_cache: Default::default(),
        clock: Box::new(baton_domain::SystemClock),
        files: None,
        media: None,
        secrets: std::sync::Arc::new(secret_box(env)),
        inbound_email_domain: Some("inbound.baton.local".into()),
        shops: None,
        loopback_shops: true,
        survey_secret: Some(local_secret("SURVEY_TOKEN_SECRET")),
        public_url: Some("https://api.baton.test".into()),
    }
}

/// A customer's request to the survey page (`form`: the posted answer), as the HTTP API
/// hands it over: status and page.
pub async fn survey_call(deps: &agent_api::Deps, method: &str, path: &str, form: Option<&str>) -> (u16, String) {
    let mut req = http_request(
        method,
        path,
        "",
        &[("content-type", "application/x-www-form-urlencoded")],
        None,
        "198.51.100.20",
    );
    if let Some(f) = form {
        *req.body_mut() = lambda_http::Body::Text(f.to_owned());
    }
    let resp = agent_api::handler(deps, req).await.unwrap();
    (
        resp.status().as_u16(),
        String::from_utf8_lossy(resp.body().as_ref()).into_owned(),
    )
}

/// The test stack's channel-secrets key in the local KMS (none in templates without one).
pub fn secret_box(env: &TestEnv) -> baton_aws::kms::KmsSecretBox {
    let key = match env.resources.physical.get("ChannelSecretsKey") {
        Some(baton_local::provision::Physical::Key { arn, .. }) => Some(arn.clone()),
        _ => None,
    };
    baton_aws::kms::KmsSecretBox::new(aws_sdk_kms::Client::new(&env.sdk), key)
}

/// The inbound-email function over the test stack's inbound queue and raw-mail bucket,
/// signing ticket aliases with `alias_secret`; the bucket is returned to put raw mail in.
pub fn inbound_email_deps(env: &TestEnv, alias_secret: &str) -> (inbound_email::Deps, baton_aws::S3Bucket) {
    let bucket = bucket(env, "RawMailBucket");
    let deps = inbound_email::Deps {
        store: std::sync::Arc::new(env.store.clone()),
        inbound_queue: std::sync::Arc::new(queue(env, "InboundQueue")),
        mail: Box::new(bucket.clone()),
        raw_prefix: "inbound/".into(),
        alias_secret: alias_secret.into(),
        clock: Box::new(baton_domain::SystemClock),
    };
    (deps, bucket)
}

/// The template's bucket `logical_id`, as the local stack created it.
pub fn bucket(env: &TestEnv, logical_id: &str) -> baton_aws::S3Bucket {
    let name = match env.resources.physical.get(logical_id) {
        Some(baton_local::provision::Physical::Bucket { name }) => name.clone(),
        _ => panic!("template has no bucket {logical_id}"),
    };
    baton_aws::S3Bucket::new(baton_aws::S3Bucket::client_for(&env.sdk), name)
}

/// SES's receipt event (`events/ses-receipt.json`) for message `id` to `recipients`, with
/// this spam verdict.
pub fn ses_receipt(id: &str, recipients: &[&str], spam: &str) -> serde_json::Value {
    let mut ev: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("events/ses-receipt.json")).unwrap()).unwrap();
    let ses = &mut ev["Records"][0]["ses"];
    ses["mail"]["messageId"] = id.into();
    ses["receipt"]["recipients"] = serde_json::json!(recipients);
    ses["receipt"]["spamVerdict"]["status"] = spam.into();
    ev
}

/// Delivers raw mail as SES does: stored under `inbound/{id}`, then the receipt event to
/// the inbound-email handler; returns its per-record results.
pub async fn deliver_email(
    deps: &inbound_email::Deps,
    bucket: &baton_aws::S3Bucket,
    id: &str,
    raw: &[u8],
    recipients: &[&str],
    spam: &str,
) -> Vec<serde_json::Value> {
    use baton_domain::ports::BlobStore;
    bucket
        .put(&format!("inbound/{id}"), raw.to_vec(), "message/rfc822")
        .await
        .unwrap();
    let out = inbound_email::handler(
        deps,
        lambda_runtime::LambdaEvent::new(ses_receipt(id, recipients, spam), lambda_runtime::Context::default()),
    )
    .await
    .unwrap();
    assert_eq!(out["disposition"], "CONTINUE");
    out["results"].as_array().unwrap().clone()
}

/// The adapter of the test stack's inbound queue.
pub fn inbound_queue(env: &TestEnv) -> baton_aws::SqsQueue {
    let (url, _) = env.resources.queue("InboundQueue").unwrap();
    baton_aws::SqsQueue::new(aws_sdk_sqs::Client::new(&env.sdk), url)
}

/// The WhatsApp webhook over the test stack, with the local secrets.
pub fn whatsapp_webhook(env: &TestEnv) -> baton_aws::meta_webhook::MetaWebhook {
    baton_aws::meta_webhook::MetaWebhook {
        channel: baton_domain::Channel::Whatsapp,
        verify_token: local_secret("WHATSAPP_VERIFY_TOKEN"),
        app_secret: local_secret("WHATSAPP_APP_SECRET"),
        parse: baton_domain::channels::whatsapp::parse,
        store: std::sync::Arc::new(env.store.clone()),
        inbound_queue: std::sync::Arc::new(inbound_queue(env)),
        clock: Box::new(baton_domain::SystemClock),
        inactivity: baton_domain::conversation::DEFAULT_INACTIVITY,
    }
}

/// The Instagram webhook over the test stack, with the local secrets.
pub fn instagram_webhook(env: &TestEnv) -> baton_aws::meta_webhook::MetaWebhook {
    baton_aws::meta_webhook::MetaWebhook {
        channel: baton_domain::Channel::Instagram,
        verify_token: local_secret("INSTAGRAM_VERIFY_TOKEN"),
        app_secret: local_secret("INSTAGRAM_APP_SECRET"),
        parse: baton_domain::channels::instagram::parse,
        ..whatsapp_webhook(env)
    }
}

/// A sample event from `events/`, as text.
pub fn event(name: &str) -> String {
    std::fs::read_to_string(root().join("events").join(name)).unwrap()
}

/// One delivery to a Meta webhook through its HTTP adapter: status and body.
pub async fn post(webhook: &baton_aws::meta_webhook::MetaWebhook, event_json: &str) -> (u16, String) {
    let req = lambda_http::request::from_str(event_json).expect("API Gateway v2 event");
    let resp = baton_aws::meta_webhook::handle_http(webhook, req).await;
    let status = resp.status().as_u16();
    (status, String::from_utf8_lossy(resp.body().as_ref()).into_owned())
}

/// `whatsapp-text.json` with `body` at `path`, signed with `secret` as Meta signs.
pub fn signed(path: &str, body: &str, secret: &str) -> String {
    let mut ev: serde_json::Value = serde_json::from_str(&event("whatsapp-text.json")).unwrap();
    ev["rawPath"] = path.into();
    ev["body"] = body.into();
    ev["headers"]["x-hub-signature-256"] = baton_domain::meta::sign(secret, body.as_bytes()).into();
    ev.to_string()
}

/// Everything on one of the template's queues now (received and deleted), as the SQS
/// batch Lambda would hand its consumer, FIFO group ids included.
pub async fn take_batch(env: &TestEnv, logical_id: &str) -> aws_lambda_events::event::sqs::SqsEvent {
    let sqs = aws_sdk_sqs::Client::new(&env.sdk);
    let (url, arn) = env.resources.queue(logical_id).unwrap();
    let mut records = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let group = m
                .attributes()
                .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId))
                .cloned()
                .unwrap_or_default();
            records.push(serde_json::json!({
                "messageId": m.message_id().unwrap_or_default(), "receiptHandle": "rh",
                "body": m.body().unwrap_or_default(),
                "attributes": { "ApproximateReceiveCount": "1", "MessageGroupId": group },
                "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": arn, "awsRegion": "us-east-1"
            }));
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .send()
                .await
                .unwrap();
        }
    }
    serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
}

/// A handed-off ticket as triage leaves it: a WhatsApp customer with their identity, a
/// human-owned conversation, the customer's message and the handoff on the timeline. Not
/// routed.
pub async fn handed_off_ticket(
    env: &TestEnv,
    tenant: &baton_domain::TenantId,
    subject: &str,
    priority: baton_domain::ticket::Priority,
    tags: &[&str],
) -> baton_domain::TicketNumber {
    use baton_domain::conversation::{Author, Conversation, Owner};
    use baton_domain::customer::{Customer, Identity, IdentityRef};
    use baton_domain::ports::{ConversationStore, CustomerStore, TicketStore};
    use baton_domain::ticket::{Source, Ticket, TimelineEntry, TimelineKind};
    use baton_domain::{Channel, Clock, ConversationId, CustomerId, SystemClock};
    let now = SystemClock.now();
    let customer_id = CustomerId::generate();
    let wa_id = format!("3161{}", ulid::Ulid::new().to_string()[20..].to_lowercase());
    let name = Some("Carla Customer".to_owned());
    let customer = Customer {
        tenant_id: tenant.clone(),
        id: customer_id,
        name: name.clone(),
        email: None,
        identities: vec![IdentityRef {
            channel: Channel::Whatsapp,
            external_id: wa_id.clone(),
        }],
        attributes: BTreeMap::new(),
        created_at: now,
        undeliverable: vec![],
    };
    let identity = Identity {
        tenant_id: tenant.clone(),
        channel: Channel::Whatsapp,
        external_id: wa_id,
        customer_id,
        display_name: name.clone(),
        active_conversation: None,
    };
    env.store.create_customer(&customer, &identity).await.unwrap();
    let number = env.store.next_ticket_number(tenant).await.unwrap();
    let conversation = ConversationId::generate();
    let mut started = Conversation::start(tenant.clone(), conversation, customer_id, Channel::Whatsapp, now);
    started.owner = Owner::Human;
    started.ticket = Some(number);
    env.store.create_conversation(&started).await.unwrap();

    let source = Source {
        channel: Channel::Whatsapp,
        conversation_id: conversation,
    };
    let mut ticket = Ticket::open(tenant.clone(), number, subject, priority, customer_id, source, now);
    ticket.customer_name = name;
    ticket.tags = tags.iter().map(|s| s.to_string()).collect();
    ticket.handoff_reason = Some("the customer asked for a human".into());
    ticket.ai_summary = Some("Carla's parcel is late; she wants a person.".into());
    let first = ulid::Ulid::new();
    let entry = |kind, actor, id| TimelineEntry {
        tenant_id: tenant.clone(),
        ticket: number,
        id,
        at: now,
        actor,
        entry: kind,
    };
    let timeline = [
        entry(
            TimelineKind::message(format!("{subject}, I want a human"), Channel::Whatsapp),
            Author::Customer,
            first,
        ),
        entry(
            TimelineKind::Event {
                name: "handed_off".into(),
                detail: serde_json::json!({ "reason": { "code": "asked_for_human" } }),
            },
            Author::System,
            first.increment().unwrap(),
        ),
    ];
    env.store.create_ticket(&ticket, &timeline).await.unwrap();
    // The customer's message in the conversation too, as intake stores it (it opens the
    // channel's reply window).
    let message = baton_domain::conversation::Message {
        tenant_id: tenant.clone(),
        conversation_id: conversation,
        id: first,
        direction: baton_domain::conversation::Direction::Inbound,
        author: Author::Customer,
        text: format!("{subject}, I want a human"),
        attachments: vec![],
        channel_message_id: Some(format!("wamid.{first}")),
        delivery: None,
        delivery_error: None,
        created_at: now,
        sent_at: Some(now),
        sender: None,
        original: None,
        choices: vec![],
        survey: None,
    };
    env.store.append_message(&message).await.unwrap();
    number
}

/// Two sibling articles for the demo tenant that a vague question ("what is wrong with my
/// card") matches about equally: what a clarifying question is for.
pub async fn put_sibling_card_articles(store: &DynamoStore) {
    use baton_domain::ports::KnowledgeStore;
    use baton_domain::Clock;
    for (id, title, body, questions) in [
        (
            "card-declined",
            "Card declined",
            "A declined card is usually a limit or a wrong PIN.",
            ["why was my card declined", "my card got declined at the shop"],
        ),
        (
            "card-blocked",
            "Card blocked",
            "We block a card after three wrong PINs.",
            ["why is my card blocked", "my card was blocked"],
        ),
    ] {
        let article = baton_domain::kb::Article {
            tenant_id: baton_domain::TenantId::new("demo").unwrap(),
            id: baton_domain::ArticleId::new(id).unwrap(),
            title: title.into(),
            body: body.into(),
            tags: vec![],
            sample_questions: questions.iter().map(|q| q.to_string()).collect(),
            url: None,
            updated_at: baton_domain::SystemClock.now(),
        };
        let index = baton_domain::outbox::Effect::index_article(&article, article.updated_at);
        store.put_article(&article, &index).await.unwrap();
    }
}

/// A Bedrock answerer pointed at `app`, a local server that speaks the Converse wire format
/// (`POST /model/{model}/converse`) in the test's place of the paid service.
pub async fn bedrock_at(
    env: &TestEnv,
    app: axum::Router,
    timeout: std::time::Duration,
) -> baton_aws::bedrock::BedrockAnswerer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let conf = aws_sdk_bedrockruntime::config::Builder::from(&env.sdk)
        .endpoint_url(format!("http://{addr}"))
        .build();
    baton_aws::bedrock::BedrockAnswerer::new(
        aws_sdk_bedrockruntime::Client::from_conf(conf),
        "anthropic.claude-3-haiku-20240307-v1:0",
        timeout,
    )
}

/// A Converse answer in which the model calls `name` with `input`.
pub fn converse_tool_use(name: &str, input: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "output": { "message": { "role": "assistant", "content": [
            { "toolUse": { "toolUseId": "tooluse_01", "name": name, "input": input } }
        ] } },
        "stopReason": "tool_use",
        "usage": { "inputTokens": 812, "outputTokens": 64, "totalTokens": 876 },
        "metrics": { "latencyMs": 420 }
    })
}

/// The analytics consumer over the test's table and archive bucket, on the wall clock.
pub fn analytics_consumer(env: &TestEnv) -> analytics::Deps {
    let store = std::sync::Arc::new(env.store.clone());
    analytics::Deps {
        store: store.clone(),
        aggregates: store,
        archive: std::sync::Arc::new(bucket(env, "AnalyticsBucket")),
        clock: std::sync::Arc::new(baton_domain::SystemClock),
    }
}

/// Everything on the analytics queue now, through the consumer: counted.
pub async fn count_analytics(env: &TestEnv) {
    let consumer = analytics_consumer(env);
    let events = take_batch(env, "AnalyticsQueue").await;
    let out = analytics::handler(
        &consumer,
        lambda_runtime::LambdaEvent::new(events, lambda_runtime::Context::default()),
    )
    .await
    .unwrap();
    assert!(out.batch_item_failures.is_empty());
}

/// Ticket `n`'s survey of resolution cycle `cycle`.
pub async fn cycle_survey(env: &TestEnv, n: u64, cycle: u32) -> baton_domain::csat::Survey {
    use baton_domain::ports::TicketStore;
    let of = baton_domain::outbound::SurveyRef::Cycle {
        ticket: baton_domain::TicketNumber(n),
        cycle,
    };
    env.store
        .get_survey(&baton_domain::TenantId::new("demo").unwrap(), &of)
        .await
        .unwrap()
}
