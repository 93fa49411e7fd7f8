//! The knowledge-base indexer: consumes the index queue (standard). Each record is an
//! `IndexRequest` (one article written, or a tenant whose vectors are behind), handed to
//! `baton_app::kb_index`, which embeds with the model and stores the vectors. Records are
//! embedded one at a time (the model uses the function's CPU); a malformed record is parked.
//! Deployed without a model (`EmbeddingModelDir` empty: ranking by words only), it
//! acknowledges every request: there is nothing to embed, and nothing to retry.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use baton_aws::batch::{self, process_batch, BatchOptions, RecordError};
use baton_domain::kb_vectors::IndexRequest;
use baton_domain::ports::{Queue, Store};
use baton_domain::retrieval::Embedder;
use baton_domain::{Clock, SystemClock};
use lambda_runtime::LambdaEvent;
use std::sync::Arc;
use std::time::Duration;

pub const CONSUMER: &str = "kb-indexer";
/// A record is started only with this much of the invocation left: a tenant slice of
/// 100 articles plus its writes.
const RESERVE: Duration = Duration::from_secs(30);

pub struct Deps {
    pub store: Arc<dyn Store>,
    /// The index queue itself: a tenant request queues its next slice there.
    pub queue: Arc<dyn Queue>,
    /// `None` when no model is configured.
    pub embedder: Option<Arc<dyn Embedder>>,
    pub clock: Arc<dyn Clock>,
    /// Articles per slice of a tenant request (`baton_app::kb_index::TENANT_SLICE`).
    pub slice: usize,
}

impl Deps {
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, baton_aws::ConfigError> {
        // Loaded by the first record, not at init: the event is already waiting, so loading
        // in the background would only compete with init for the CPU.
        let embedder = baton_embed::embedder_from_env(baton_embed::Load::OnFirstUse).map_err(|e| {
            baton_aws::ConfigError::Invalid {
                name: "EMBEDDING_MODEL_DIR",
                reason: e.to_string(),
            }
        })?;
        let sqs = aws_sdk_sqs::Client::new(sdk);
        Ok(Deps {
            store: Arc::new(baton_aws::DynamoStore::from_env(sdk)?),
            queue: Arc::new(baton_aws::SqsQueue::from_env(sqs, "INDEX_QUEUE_URL")?),
            embedder,
            clock: Arc::new(SystemClock),
            slice: baton_app::kb_index::TENANT_SLICE,
        })
    }
}

pub async fn handler(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let request_id = event.context.request_id.as_str();
    let opts = BatchOptions {
        concurrency: 1,
        reserve: RESERVE,
        ..BatchOptions::new(CONSUMER, deps.store.as_ref(), deps.clock.as_ref())
    }
    .deadline_ms(event.context.deadline);
    let (response, _) = process_batch(event.payload, &opts, |record| async move {
        let request: IndexRequest = batch::body(&record, "an index request")?;
        let Some(embedder) = deps.embedder.as_deref() else {
            tracing::debug!(tenant = %request.tenant(), "no embedding model configured; nothing to embed");
            return Ok(());
        };
        let span = tracing::info_span!(
            "kb_index",
            request_id,
            tenant = %request.tenant(),
            message_id = record.message_id.as_deref().unwrap_or_default()
        );
        let indexer = baton_app::kb_index::Indexer {
            store: deps.store.as_ref(),
            embedder,
            queue: deps.queue.as_ref(),
            slice: deps.slice,
        };
        let run = baton_app::kb_index::handle(&indexer, &request, deps.clock.now());
        tracing::Instrument::instrument(run, span)
            .await
            .map(|_| ())
            .map_err(RecordError::from)
    })
    .await;
    Ok(response)
}
