//! Fires `Schedule` events with EventBridge's Scheduled Event shape.

use crate::lambda_host::FunctionHost;
use axum::body::Bytes;
use std::time::Duration;

pub async fn run(function: FunctionHost, rule_name: String, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tick.tick().await; // the first tick is immediate; a schedule fires after its period
    loop {
        tick.tick().await;
        let now = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let event = serde_json::json!({
            "version": "0",
            "id": ulid::Ulid::new().to_string(),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": crate::provision::ACCOUNT_ID,
            "time": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            "region": crate::provision::REGION,
            "resources": [format!("arn:aws:events:{}:{}:rule/{rule_name}", crate::provision::REGION, crate::provision::ACCOUNT_ID)],
            "detail": {},
        });
        if let Err(e) = function.invoke(Bytes::from(event.to_string())).await {
            tracing::warn!(function = function.name(), rule = %rule_name, error = %e, "scheduled invocation failed");
        }
    }
}
