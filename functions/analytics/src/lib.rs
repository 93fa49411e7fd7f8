//! The analytics consumer: reads the analytics queue (standard), one change's events per
//! record, and hands them to `baton_app::analytics`, which archives them to S3 and counts
//! each once into the tenant's daily aggregates. A record that can never be counted (not
//! events, an unknown tenant) is parked; a failing store or bucket retries the record.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use baton_app::analytics::{record, Recorder};
use baton_aws::batch::{self, process_batch, BatchOptions};
use baton_domain::analytics::Event;
use baton_domain::ports::{AnalyticsStore, BlobStore, Store};
use baton_domain::{Clock, SystemClock};
use lambda_runtime::LambdaEvent;
use std::sync::Arc;
use std::time::Duration;

pub const CONSUMER: &str = "analytics";
/// A record is started only with this much of the invocation left: an archive write and
/// a transaction per event.
const RESERVE: Duration = Duration::from_secs(10);

pub struct Deps {
    /// Tenants (their time zone) and the parking of bad records.
    pub store: Arc<dyn Store>,
    pub aggregates: Arc<dyn AnalyticsStore>,
    pub archive: Arc<dyn BlobStore>,
    pub clock: Arc<dyn Clock>,
}

impl Deps {
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, baton_aws::ConfigError> {
        let store = Arc::new(baton_aws::DynamoStore::from_env(sdk)?);
        let bucket = baton_aws::config::env_var("ANALYTICS_BUCKET", "bucket name")?;
        Ok(Deps {
            store: store.clone(),
            aggregates: store,
            archive: Arc::new(baton_aws::S3Bucket::new(baton_aws::S3Bucket::client_for(sdk), bucket)),
            clock: Arc::new(SystemClock),
        })
    }
}

pub async fn handler(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let request_id = event.context.request_id.as_str();
    let opts = BatchOptions {
        reserve: RESERVE,
        ..BatchOptions::new(CONSUMER, deps.store.as_ref(), deps.clock.as_ref())
    }
    .deadline_ms(event.context.deadline);
    let (response, _) = process_batch(event.payload, &opts, |record_| async move {
        let events: Vec<Event> = batch::body(&record_, "analytics events")?;
        let span = tracing::info_span!(
            "analytics",
            request_id,
            tenant = %events.first().map(|e| e.tenant_id.to_string()).unwrap_or_default(),
            message_id = record_.message_id.as_deref().unwrap_or_default()
        );
        let recorder = Recorder {
            tenants: deps.store.as_ref(),
            aggregates: deps.aggregates.as_ref(),
            archive: deps.archive.as_ref(),
        };
        let done = tracing::Instrument::instrument(record(&recorder, &events), span).await?;
        tracing::debug!(counted = done.counted, already = done.already, "events recorded");
        Ok(())
    })
    .await;
    Ok(response)
}
