//! The local runner: real function binaries fed by the template's event sources.

use aws_sdk_dynamodb::types::AttributeValue;
use baton_local::RunnerOptions;
use baton_tests::{build_binaries, env_with, eventually, root};
use std::net::SocketAddr;
use std::time::Duration;

async fn probe_count(env: &baton_tests::TestEnv, id: &str, field: &str) -> u64 {
    let out = env
        .store
        .client()
        .get_item()
        .table_name(env.store.table())
        .key("PK", AttributeValue::S(format!("PROBE#{id}")))
        .key("SK", AttributeValue::S("PROBE".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.item
        .and_then(|i| i.get(field).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

async fn visible(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<String> {
    let out = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    out.messages
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.body)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_delivers_redelivers_dead_letters_routes_http_and_fires_schedules() {
    build_binaries();
    let template = "tests/fixtures/runner-template.yaml";
    let env = env_with(template).await;
    let mut opts = RunnerOptions::for_repo(&root(), &env.resources.stack);
    opts.template = root().join(template);
    opts.env_file = None;
    opts.http_addr = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    opts.schedule_every = Some(Duration::from_millis(500));
    let baton = baton_local::start(&env.sdk, &env.endpoint.url, opts)
        .await
        .expect("runner starts");
    assert_eq!(baton.functions.keys().collect::<Vec<_>>(), vec!["ProbeFunction"]);

    let sqs = aws_sdk_sqs::Client::new(&env.sdk);
    let (work, _) = env.resources.queue("WorkQueue").unwrap();
    let (dlq, _) = env.resources.queue("WorkDeadLetterQueue").unwrap();
    for body in [
        r#"{"id":"ok","fail_times":0}"#,
        r#"{"id":"flaky","fail_times":1}"#,
        r#"{"id":"poison","fail_times":99}"#,
    ] {
        sqs.send_message()
            .queue_url(work)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    // Delivered once, succeeded once.
    let started = std::time::Instant::now();
    let ok = eventually(20, || async {
        (probe_count(&env, "ok", "successes").await == 1).then_some(())
    })
    .await;
    assert!(ok.is_some(), "the healthy message was delivered");
    eprintln!("ok after {:?}", started.elapsed());

    // Failed on its first delivery, redelivered after the visibility timeout, then done.
    let flaky = eventually(30, || async {
        (probe_count(&env, "flaky", "successes").await == 1).then_some(())
    })
    .await;
    assert!(flaky.is_some(), "the failed record was redelivered");
    eprintln!("flaky after {:?}", started.elapsed());
    assert_eq!(probe_count(&env, "flaky", "deliveries").await, 2);

    // Failed on every delivery: after maxReceiveCount (2) receives it is in the DLQ.
    let dead = eventually(40, || async {
        let bodies = visible(&sqs, dlq).await;
        bodies.iter().any(|b| b.contains("poison")).then_some(bodies)
    })
    .await;
    assert!(dead.is_some(), "the poison message reached the dead-letter queue");
    eprintln!("dead after {:?}", started.elapsed());
    assert_eq!(probe_count(&env, "poison", "deliveries").await, 2);
    assert_eq!(probe_count(&env, "poison", "successes").await, 0);
    // The successful neighbours were deleted, not redelivered.
    assert_eq!(probe_count(&env, "ok", "deliveries").await, 1);
    assert!(visible(&sqs, work).await.is_empty());

    // HTTP API routes reach the function as payload-2.0 events and its response comes back.
    let http = baton.http_addr.unwrap();
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("http://{http}/probe/abc%20d?x=1&x=2&y=z"))
        .header("content-type", "application/json")
        .body(r#"{"hello":"world"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["x-probe"], "yes");
    let echo: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(echo["routeKey"], "POST /probe/{id}");
    assert_eq!(echo["pathParameters"]["id"], "abc d");
    assert_eq!(echo["queryStringParameters"]["x"], "1,2");
    assert_eq!(echo["body"], r#"{"hello":"world"}"#);
    assert_eq!(echo["contentType"], "application/json");
    let missing = client.get(format!("http://{http}/nowhere")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let wrong_method = client.get(format!("http://{http}/probe/abc")).send().await.unwrap();
    assert_eq!(wrong_method.status(), 404);

    // Schedules fire with EventBridge's event shape.
    let ticks = eventually(10, || async {
        (probe_count(&env, "schedule", "ticks").await >= 2).then_some(())
    })
    .await;
    assert!(ticks.is_some(), "the schedule fired");
    drop(baton);
}
