//! The outbox relay (EventBridge schedule, every minute): sends every effect that is still
//! pending a few seconds after the step that recorded it, because that step's own relay
//! failed or the step crashed right after its commit. It reads only the sparse
//! pending-effects index, shard by shard; a relayed effect leaves the index.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use baton_app::relay::{sweep, SweepReport};
use baton_app::Queues;
use baton_domain::ports::{Queue, Store};
use baton_domain::{Clock, SystemClock};
use lambda_runtime::LambdaEvent;
use std::sync::Arc;

/// Effects relayed per shard per run: 8 shards × 200 is far more than a minute's backlog
/// of failed relays, and well inside the function's timeout.
pub const PER_SHARD: u32 = 200;

pub struct Deps {
    pub store: Arc<dyn Store>,
    pub queues: Queues,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    pub fn new(store: Arc<dyn Store>, outbound: Arc<dyn Queue>, routing: Arc<dyn Queue>) -> Self {
        Deps {
            store,
            queues: Queues {
                outbound: Some(outbound),
                routing: Some(routing),
                email: None,
                notify: None,
                index: None,
                analytics: None,
            },
            clock: Arc::new(SystemClock),
        }
    }

    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, baton_aws::ConfigError> {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        // Every target: the sweep relays whatever any step left pending.
        Ok(Deps {
            store: Arc::new(baton_aws::DynamoStore::from_env(sdk)?),
            queues: baton_aws::SqsQueue::relay_queues(&sqs, &baton_domain::outbox::EffectTarget::ALL)?,
            clock: Arc::new(SystemClock),
        })
    }
}

pub async fn handler(
    deps: &Deps,
    event: LambdaEvent<EventBridgeEvent<serde_json::Value>>,
) -> Result<SweepReport, lambda_runtime::Error> {
    let span = tracing::info_span!("outbox_relay", request_id = %event.context.request_id);
    let report = tracing::Instrument::instrument(
        sweep(deps.store.as_ref(), &deps.queues, deps.clock.now(), PER_SHARD),
        span,
    )
    .await?;
    if report.still_pending > 0 {
        baton_aws::metrics::count("outbox-relay", "EffectsStillPending", report.still_pending as u64);
    }
    Ok(report)
}
