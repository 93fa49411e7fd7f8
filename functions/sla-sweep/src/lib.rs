//! The SLA sweep (EventBridge schedule, every minute): marks SLA targets at risk and
//! breached, once each, and escalates breaches (`baton_app::sla`). It reads only the
//! SLA-due index, shard by shard: a sweep costs the tickets due now, not the tickets
//! that exist. This crate is the entry point only.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use baton_app::sla::{sweep, SweepReport};
use baton_app::Queues;
use baton_domain::outbox::EffectTarget;
use baton_domain::ports::Store;
use baton_domain::{Clock, SystemClock, Timestamp};
use lambda_runtime::LambdaEvent;
use std::sync::Arc;

pub struct Deps {
    pub store: Arc<dyn Store>,
    /// The notification queue (at risk, breached), the routing queue (a breached ticket
    /// whose assignee is away), the routing queue again for backfills.
    pub queues: Queues,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, baton_aws::ConfigError> {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        Ok(Deps {
            store: Arc::new(baton_aws::DynamoStore::from_env(sdk)?),
            queues: baton_aws::SqsQueue::relay_queues(
                &sqs,
                &[EffectTarget::Routing, EffectTarget::Notify, EffectTarget::Analytics],
            )?,
            clock: Arc::new(SystemClock),
        })
    }
}

/// The sweep's "now" is the schedule's own time (the minute it fired for), so a late or
/// repeated invocation of the same minute marks the same; without one, the clock.
pub fn sweep_time(event: &EventBridgeEvent<serde_json::Value>, clock: &dyn Clock) -> Timestamp {
    event
        .time
        .and_then(|t| Timestamp::from_unix_millis(t.timestamp_millis()))
        .unwrap_or_else(|| clock.now())
}

pub async fn handler(
    deps: &Deps,
    event: LambdaEvent<EventBridgeEvent<serde_json::Value>>,
) -> Result<SweepReport, lambda_runtime::Error> {
    let now = sweep_time(&event.payload, deps.clock.as_ref());
    let span = tracing::info_span!("sla_sweep", request_id = %event.context.request_id, now = %now);
    let report = tracing::Instrument::instrument(sweep(deps.store.as_ref(), &deps.queues, now), span).await;
    tracing::info!(
        due = report.due,
        at_risk = report.at_risk,
        breached = report.breached,
        rerouted = report.rerouted,
        returned = report.returned,
        failed = report.failed,
        "sla sweep done"
    );
    if report.breached > 0 {
        baton_aws::metrics::count("sla-sweep", "SlaBreached", report.breached);
    }
    if report.failed > 0 {
        baton_aws::metrics::count("sla-sweep", "SlaSweepFailures", report.failed);
    }
    Ok(report)
}
