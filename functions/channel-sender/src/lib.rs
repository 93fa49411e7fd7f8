//! Channel sender: consumes the outbound FIFO queue (group = conversation). Each record is
//! a reply to a WhatsApp or Instagram customer, handed to the use case
//! (`baton_app::channel_out`): sent once through the Graph API, inside the channel's
//! window or as its template, with Meta's errors classified and shown on the ticket.
//! Widget replies need no send (the widget polls). This crate is the entry point only.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use baton_app::channel_out::{self, ChannelPorts};
use baton_aws::batch::{self, process_batch, BatchOptions};
use baton_domain::outbound::OutboundMessage;
use baton_domain::ports::{ChannelTokens, MessagingApi, Store};
use baton_domain::{Clock, SystemClock};
use lambda_runtime::LambdaEvent;
use std::sync::Arc;
use std::time::Duration;

/// The consumer's name for parked records.
pub const CONSUMER: &str = channel_out::CONSUMER;
const CONCURRENCY: usize = 10;
/// A record is only started with this much of the invocation left: a few store calls and
/// a few Graph calls (10 s timeout each) for a long reply.
const RESERVE: Duration = Duration::from_secs(12);

pub struct Deps {
    pub store: Arc<dyn Store>,
    pub api: Arc<dyn MessagingApi>,
    pub tokens: Arc<dyn ChannelTokens>,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, baton_aws::ConfigError> {
        let store: Arc<dyn Store> = Arc::new(baton_aws::DynamoStore::from_env(sdk)?);
        // The tenant's own token (sealed with KMS), else the deployment's.
        let tokens = baton_app::tokens::StoredTokens::new(
            store.clone(),
            Arc::new(baton_aws::kms::KmsSecretBox::from_env(sdk)),
            Arc::new(baton_aws::graph::EnvTokens::from_env()),
        );
        Ok(Deps {
            store,
            api: Arc::new(baton_aws::graph::GraphSender::from_env()),
            tokens: Arc::new(tokens),
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
    let opts = &opts;
    let ports = ChannelPorts {
        store: deps.store.as_ref(),
        api: deps.api.as_ref(),
        tokens: deps.tokens.as_ref(),
        clock: deps.clock.as_ref(),
    };
    let ports = &ports;
    let (response, _) = process_batch(event.payload, opts, |record| async move {
        let out: OutboundMessage = batch::body(&record, "an outbound message")?;
        let span = tracing::info_span!(
            "channel_sender",
            request_id = %request_id,
            tenant = %out.tenant_id,
            conversation = %out.conversation_id,
            channel = %out.channel,
            ticket = tracing::field::Empty,
            message = %out.message_id,
        );
        if let Some(n) = out.ticket {
            span.record("ticket", tracing::field::display(n));
        }
        let remaining = opts.remaining();
        tracing::Instrument::instrument(channel_out::deliver(ports, &out, remaining), span)
            .await
            .map(|_| ())
    })
    .await;
    Ok(response)
}
