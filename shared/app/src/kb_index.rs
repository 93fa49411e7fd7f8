//! The knowledge-base indexer: embeds articles once, when they are written, and stores
//! their passage vectors (`baton_domain::kb_vectors`) for every process that ranks.
//!
//! An article write records an `IndexRequest::Article` effect with the article, so a crash
//! after the write still gets the article embedded (the relay sends the effect later).
//! Stored vectors move the tenant's `kb_vectors_revision` (a plain atomic counter, so
//! concurrent indexers never contend on the tenant item), and warm caches reload.
//! The indexer always embeds the article's *current* text and stores the vectors only if
//! the article is still the version it read (`put_vectors` checks its `updated_at`), so a
//! redelivered, reordered or raced request leaves exactly the vectors of the current text:
//! an older request finds the vectors current and does nothing, and a write that loses a
//! race with an edit leaves the edit's own request to embed it.
//!
//! `IndexRequest::Tenant` embeds whatever a tenant's vectors miss (a model change, a
//! knowledge base written before vectors were stored, a lost request), a slice at a time:
//! each slice asks for the next through the queue, so a 1,000-article re-embedding never
//! outlasts an invocation and the old vectors serve until each article's new ones land.

use baton_domain::error::RecordError;
use baton_domain::kb::Article;
use baton_domain::kb_cache::{all_articles, all_vectors, CachedKb};
use baton_domain::kb_vectors::{ArticleVectors, IndexRequest};
use baton_domain::ports::{KnowledgeStore, Queue, QueueMessage, RateLimiter};
use baton_domain::retrieval::{embed_articles, Embedder};
use baton_domain::{StoreError, TenantId, Timestamp};

/// Articles one `Tenant` request embeds before asking for the next slice: about ten
/// seconds of the model on a Lambda vCPU for articles of fifteen passages.
pub const TENANT_SLICE: usize = 100;

/// An index that still misses vectors this long after an article was written asks the
/// indexer for the tenant's missing ones (its own request was lost or failed for good).
pub const REINDEX_AFTER: time::Duration = time::Duration::minutes(2);
/// At most one such request per tenant per this many seconds, however many processes see
/// the gap.
const REINDEX_WINDOW_SECS: i64 = 600;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The model failed: retried (a later delivery may load it), then dead-lettered.
    #[error("embedding failed: {0}")]
    Model(String),
    #[error("the next slice could not be queued: {0}")]
    Queue(#[from] baton_domain::ports::QueueError),
}

impl From<IndexError> for RecordError {
    fn from(e: IndexError) -> Self {
        match e {
            IndexError::Store(e) => e.into(),
            IndexError::Queue(e) => e.into(),
            IndexError::Model(e) => RecordError::Transient(e),
        }
    }
}

/// What one request did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IndexReport {
    /// Articles embedded and stored.
    pub embedded: usize,
    /// Articles whose stored vectors were current already.
    pub current: usize,
    /// Articles deleted or changed again while this request ran (their own request or
    /// the delete has them).
    pub superseded: usize,
    /// Whether a `Tenant` request queued its next slice.
    pub continued: bool,
}

/// Embeds `article` unless `stored` is already its current vectors.
async fn embed_one(
    store: &dyn KnowledgeStore,
    embedder: &dyn Embedder,
    article: &Article,
    stored: Option<&ArticleVectors>,
    now: Timestamp,
    report: &mut IndexReport,
) -> Result<(), IndexError> {
    if stored.is_some_and(|v| v.is_for(article) && v.model == embedder.model_id()) {
        report.current += 1;
        return Ok(());
    }
    let vectors = embed_articles(embedder, &[article])
        .map_err(IndexError::Model)?
        .pop()
        .unwrap_or_default();
    let vectors = ArticleVectors::encode(article, embedder.model_id(), &vectors, now);
    match store.put_vectors(&vectors).await {
        Ok(()) => report.embedded += 1,
        Err(StoreError::NotFound { .. } | StoreError::Conflict { .. }) => report.superseded += 1,
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// What the indexer works with.
pub struct Indexer<'a> {
    pub store: &'a dyn KnowledgeStore,
    pub embedder: &'a dyn Embedder,
    /// The indexer's own queue, for the next slice of a `Tenant` request.
    pub queue: &'a dyn Queue,
    /// Articles a `Tenant` request embeds before queuing the next slice ([`TENANT_SLICE`]).
    pub slice: usize,
}

/// Handles one request from the indexer's queue.
pub async fn handle(indexer: &Indexer<'_>, request: &IndexRequest, now: Timestamp) -> Result<IndexReport, IndexError> {
    let Indexer {
        store,
        embedder,
        queue,
        slice,
    } = *indexer;
    let mut report = IndexReport::default();
    match request {
        IndexRequest::Article { tenant_id, article_id } => {
            let article = match store.get_article(tenant_id, article_id).await {
                Ok(a) => a,
                // Deleted since: its vectors went with it.
                Err(StoreError::NotFound { .. }) => {
                    report.superseded += 1;
                    return Ok(report);
                }
                Err(e) => return Err(e.into()),
            };
            let stored = store.get_vectors(tenant_id, article_id).await?;
            embed_one(store, embedder, &article, stored.as_ref(), now, &mut report).await?;
        }
        IndexRequest::Tenant { tenant_id } => {
            let articles = all_articles(store, tenant_id).await?;
            let stored = all_vectors(store, tenant_id).await?;
            let behind: Vec<&Article> = articles
                .iter()
                .filter(|a| {
                    !stored
                        .get(&a.id)
                        .is_some_and(|v| v.is_for(a) && v.model == embedder.model_id())
                })
                .collect();
            report.current = articles.len() - behind.len();
            for article in behind.iter().take(slice.max(1)) {
                embed_one(store, embedder, article, stored.get(&article.id), now, &mut report).await?;
            }
            if behind.len() > slice.max(1) {
                queue.send(message(request)).await?;
                report.continued = true;
            }
        }
    }
    // Always, even when nothing was embedded: a crash between storing vectors and this
    // call is redelivered, finds the vectors current and tells the caches now.
    if report.embedded + report.current > 0 {
        store.vectors_stored(request.tenant()).await?;
    }
    tracing::info!(
        tenant = %request.tenant(),
        embedded = report.embedded,
        current = report.current,
        superseded = report.superseded,
        continued = report.continued,
        model = embedder.model_id(),
        "knowledge base indexed"
    );
    Ok(report)
}

fn message(request: &IndexRequest) -> QueueMessage {
    QueueMessage {
        body: serde_json::to_string(request).expect("an index request serialises"),
        group_id: None,
        dedup_id: None,
        delay_seconds: None,
    }
}

/// After building `kb`: when articles written more than [`REINDEX_AFTER`] ago still have
/// no vectors of the current model (a model change, a lost request), asks the indexer for
/// the tenant's missing ones, at most once per tenant per ten minutes. Best effort: a
/// failure is logged and the next rebuild asks again.
pub async fn ask_if_behind(
    limiter: &dyn RateLimiter,
    queue: Option<&dyn Queue>,
    tenant: &TenantId,
    kb: &CachedKb,
    now: Timestamp,
) -> bool {
    let (Some(queue), Some(oldest)) = (queue, kb.vectors.oldest_unindexed) else {
        return false;
    };
    if oldest > now.plus(-REINDEX_AFTER) {
        return false;
    }
    match limiter
        .hit(&format!("kb-reindex#{tenant}"), now, REINDEX_WINDOW_SECS, 1)
        .await
    {
        Ok(true) => {}
        Ok(false) => return false,
        Err(e) => {
            tracing::warn!(tenant = %tenant, error = %e, "could not check the reindex rate; not asking");
            return false;
        }
    }
    let request = IndexRequest::Tenant {
        tenant_id: tenant.clone(),
    };
    match queue.send(message(&request)).await {
        Ok(()) => {
            tracing::info!(tenant = %tenant, "knowledge base behind its vectors; asked the indexer");
            true
        }
        Err(e) => {
            tracing::warn!(tenant = %tenant, error = %e, "could not ask the indexer");
            false
        }
    }
}
