//! Router: consumes the routing FIFO queue (group = the ticket, or the agent for a
//! backfill). Each record is a ticket to assign or an agent with room again, handed to
//! the use case (`baton_app::routing`): rules, team strategy, skills, presence and
//! capacity, written in one conditional transaction with its explanation. This crate is
//! the entry point only.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use baton_app::routing;
use baton_app::Queues;
use baton_aws::batch::{self, process_batch, BatchOptions};
use baton_domain::outbound::RouterMessage;
use baton_domain::outbox::EffectTarget;
use baton_domain::ports::Store;
use baton_domain::{Clock, SystemClock};
use lambda_runtime::LambdaEvent;
use std::sync::Arc;
use std::time::Duration;

/// The consumer's name for parked records.
pub const CONSUMER: &str = "router";
const CONCURRENCY: usize = 10;
/// A record is only started with this much of the invocation left: a backfill routes up
/// to 25 tickets of a few store calls each.
const RESERVE: Duration = Duration::from_secs(15);

pub struct Deps {
    pub store: Arc<dyn Store>,
    /// The routing queue (re-routes of reopened tickets), the notification queue.
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

pub async fn handler(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let request_id = event.context.request_id.as_str();
    let opts = BatchOptions {
        concurrency: CONCURRENCY,
        reserve: RESERVE,
        ..BatchOptions::new(CONSUMER, deps.store.as_ref(), deps.clock.as_ref())
    }
    .deadline_ms(event.context.deadline);
    let (response, _) = process_batch(event.payload, &opts, |record| async move {
        let message: RouterMessage = batch::body(&record, "a routing request")?;
        let span = match &message {
            RouterMessage::Ticket(r) => {
                tracing::info_span!("router", request_id = %request_id, tenant = %r.tenant_id, ticket = %r.ticket)
            }
            RouterMessage::Backfill(b) => {
                tracing::info_span!("router", request_id = %request_id, tenant = %b.tenant_id, backfill_for = %b.backfill_for)
            }
        };
        let now = deps.clock.now();
        tracing::Instrument::instrument(routing::handle(deps.store.as_ref(), &deps.queues, &message, now), span)
            .await
            .map(|_| ())
            .map_err(Into::into)
    })
    .await;
    Ok(response)
}
