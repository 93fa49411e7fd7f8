//! Triage: consumes the inbound queue (FIFO, one conversation in order). Each record is
//! one customer message, handed to the triage use case (`baton_app::triage`): stored
//! once, then added to the humans' ticket, answered from the knowledge base, or handed
//! off to a ticket with the whole story. This crate is the entry point only: it parses
//! records, runs conversations concurrently within the invocation's deadline, and parks
//! records that can never succeed.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use baton_app::Queues;
use baton_aws::batch::{self, process_batch, BatchOptions};
use baton_domain::intake::InboundMessage;
use baton_domain::kb_cache::KbCache;
use baton_domain::ports::{Queue, Store};
use baton_domain::triage::Answerer;
use baton_domain::SystemClock;
use lambda_runtime::LambdaEvent;
use std::sync::Arc;
use std::time::Duration;

pub use baton_app::triage::{Deps, Handled};

/// The consumer's name for parked records and metrics.
pub const CONSUMER: &str = "triage";
/// Conversations triaged at once in one batch.
const CONCURRENCY: usize = 10;
/// A record is only started with this much of the invocation left: one answer (8 s
/// model timeout) or one order lookup (6 s), the orders for the ticket (6 s), one
/// summary (8 s), plus the store calls.
const RESERVE: Duration = Duration::from_secs(26);

pub fn deps(
    store: Arc<dyn Store>,
    outbound: Arc<dyn Queue>,
    routing: Arc<dyn Queue>,
    answerer: Box<dyn Answerer>,
) -> Deps {
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
        answerer,
        clock: Arc::new(SystemClock),
        kb_cache: KbCache::default(),
        shops: None,
        survey_links: None,
    }
}

pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Deps, baton_aws::ConfigError> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut deps = deps(
        Arc::new(baton_aws::DynamoStore::from_env(sdk)?),
        Arc::new(baton_aws::SqsQueue::from_env(sqs.clone(), "OUTBOUND_QUEUE_URL")?),
        Arc::new(baton_aws::SqsQueue::from_env(sqs.clone(), "ROUTING_QUEUE_URL")?),
        baton_aws::bedrock::answerer_from_env(sdk),
    );
    // And a reply by e-mail, an agent's notification, a tenant's missing vectors (asked
    // for when an index finds them long missing), the analytics events.
    use baton_domain::outbox::EffectTarget;
    let more = [
        EffectTarget::Email,
        EffectTarget::Notify,
        EffectTarget::Index,
        EffectTarget::Analytics,
    ];
    deps.queues = Queues {
        outbound: deps.queues.outbound.take(),
        routing: deps.queues.routing.take(),
        ..baton_aws::SqsQueue::relay_queues(&sqs, &more)?
    };
    let models =
        baton_embed::models_from_env(baton_embed::Load::InBackground).map_err(|e| baton_aws::ConfigError::Invalid {
            name: "EMBEDDING_MODEL_DIR",
            reason: e.to_string(),
        })?;
    deps.kb_cache = KbCache::with_models(models);
    // The e-mailed surveys of AI resolutions link to the agent API's survey page.
    let secret = baton_aws::config::optional_env_var("SURVEY_TOKEN_SECRET");
    let base_url = baton_aws::config::optional_env_var("PUBLIC_API_URL");
    deps.survey_links = secret
        .zip(base_url)
        .map(|(secret, base_url)| baton_app::csat::SurveyLinks { base_url, secret });
    // Tenants' shops, asked about orders; the credential is opened (KMS) on first use.
    deps.shops = Some(Arc::new(baton_app::shop::Shops::new(
        deps.store.clone(),
        Arc::new(baton_aws::kms::KmsSecretBox::from_env(sdk)),
        Arc::new(baton_aws::shop::HttpCommerce::default()),
    )));
    Ok(deps)
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
    // The model (if any) loads while the first records' store reads run.
    deps.kb_cache.prepare();
    let (response, _) = process_batch(event.payload, opts, |record| async move {
        let inbound: InboundMessage = batch::body(&record, "an inbound message")?;
        let span = tracing::info_span!(
            "triage",
            request_id = %request_id,
            tenant = %inbound.tenant_id,
            conversation = %inbound.conversation_id,
            ticket = tracing::field::Empty
        );
        let remaining = opts.remaining();
        tracing::Instrument::instrument(baton_app::triage::handle(deps, &inbound, remaining), span)
            .await
            .map(|_| ())
    })
    .await;
    Ok(response)
}
