//! `infra/local/invoke`: a function's real binary under the Lambda Runtime Interface
//! Emulator, on an event from `events/`.

use baton_tests::{env, root};
use std::process::Command;

fn invoke(endpoint: &str, function: &str, event: &str) -> serde_json::Value {
    let out = Command::new(root().join("infra/local/invoke"))
        .arg(function)
        .arg(root().join(event))
        .env("AWS_ENDPOINT_URL", endpoint)
        .output()
        .expect("infra/local/invoke runs");
    assert!(
        out.status.success(),
        "invoke failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8 output");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("stdout is the response JSON ({e}): {stdout}"))
}

#[tokio::test]
async fn invoke_runs_the_whatsapp_webhook_binary_on_a_sample_event() {
    let env = env().await;
    let ok = invoke(&env.endpoint.url, "webhook-whatsapp", "events/whatsapp-verify.json");
    assert_eq!(ok["statusCode"], 200);
    assert_eq!(ok["body"], "1158201444");

    // Same function by its template logical id; a wrong verify token is refused.
    let refused = invoke(
        &env.endpoint.url,
        "WebhookWhatsappFunction",
        "events/whatsapp-verify-wrong-token.json",
    );
    assert_eq!(refused["statusCode"], 403);
    assert_ne!(refused["body"], "1158201444");
}

#[tokio::test]
async fn every_sample_event_runs_through_its_function_binary() {
    let env = env().await;
    let cases = [
        ("webhook-whatsapp", "events/whatsapp-text.json", 200),
        // Signed with another secret: refused before anything is stored.
        ("webhook-whatsapp", "events/whatsapp-text-bad-signature.json", 401),
        ("webhook-whatsapp", "events/whatsapp-image.json", 200),
        ("webhook-whatsapp", "events/whatsapp-status.json", 200),
        ("webhook-instagram", "events/instagram-verify.json", 200),
        ("webhook-instagram", "events/instagram-text.json", 200),
        ("webhook-widget", "events/widget-start.json", 201),
        ("webhook-widget", "events/widget-post-message.json", 202),
        ("webhook-widget", "events/widget-poll.json", 200),
        ("agent-api", "events/agent-api-list-tickets.json", 200),
        ("agent-api", "events/agent-api-openapi.json", 200),
    ];
    for (function, event, status) in cases {
        let out = invoke(&env.endpoint.url, function, event);
        assert_eq!(out["statusCode"], status, "{function} {event}: {out}");
    }
    let email = invoke(&env.endpoint.url, "inbound-email", "events/ses-receipt.json");
    assert_eq!(email["results"][0]["outcome"], "queued", "{email}");
    // A reply whose conversation this endpoint has never seen can never be sent: parked
    // for an operator, not failed over and over.
    let sender = invoke(&env.endpoint.url, "email-sender", "events/email-sender-reply.json");
    assert_eq!(sender["batchItemFailures"], serde_json::json!([]), "{sender}");
    // SES's report of a bounce, through SNS, for a message this endpoint never sent.
    let report = invoke(&env.endpoint.url, "email-sender", "events/ses-bounce.json");
    assert_eq!(report["applied"], serde_json::json!(["unknown"]), "{report}");
    let channel = invoke(&env.endpoint.url, "channel-sender", "events/channel-sender-reply.json");
    assert_eq!(channel["batchItemFailures"], serde_json::json!([]), "{channel}");
    // A ticket this endpoint does not have, an agent it does not know: nothing to route,
    // nothing failed.
    for event in ["events/router-ticket.json", "events/router-backfill.json"] {
        let routed = invoke(&env.endpoint.url, "router", event);
        assert_eq!(routed["batchItemFailures"], serde_json::json!([]), "{event}: {routed}");
    }
    // An article this endpoint does not have: deleted since it was written, nothing to
    // embed, nothing failed (the model still loads: the binary runs with it).
    let indexed = invoke(&env.endpoint.url, "kb-indexer", "events/kb-indexer-article.json");
    assert_eq!(indexed["batchItemFailures"], serde_json::json!([]), "{indexed}");
    // A change's analytics events (an AI answer on WhatsApp): archived and counted, or,
    // where the endpoint has no such tenant, parked; never failed over and over.
    let counted = invoke(&env.endpoint.url, "analytics", "events/analytics-answered.json");
    assert_eq!(counted["batchItemFailures"], serde_json::json!([]), "{counted}");
    // The SLA sweep on its schedule's event: an endpoint with nothing due reads the index
    // and marks nothing.
    let swept = invoke(&env.endpoint.url, "sla-sweep", "events/sla-sweep.json");
    assert_eq!(
        (swept["failed"].as_u64(), swept["breached"].as_u64()),
        (Some(0), Some(0)),
        "{swept}"
    );
}

/// A sample event added to `events/` is run by the tests above: none is left out.
#[test]
fn every_file_in_events_is_invoked_here() {
    let this = include_str!("invoke.rs");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(root().join("events")).expect("events/ exists") {
        let name = entry.expect("readable").file_name().into_string().expect("utf-8 name");
        if name.ends_with(".json") && !this.contains(&format!("\"events/{name}\"")) {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "sample events no test invokes: {missing:?}");
}
