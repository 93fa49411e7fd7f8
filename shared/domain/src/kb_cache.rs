//! A tenant's knowledge base, indexed once per warm process and rebuilt only when the
//! tenant's KB revision moves. The triage function and the agent API's answer preview
//! share it, so a preview ranks exactly as the customer-facing answer does.
//!
//! The index is built from stored passage vectors (`kb_vectors`, computed when articles
//! are written): building it costs reads, not model time. An article whose vectors are
//! missing or stale (just written, not embedded yet) is embedded here if a few passages
//! are missing in all, else ranked by words until the indexer stores its vectors. Vectors
//! of a previous model still serve, embedded queries with that model, while the indexer
//! re-embeds them after a model change.
//!
//! The cache is bounded by size: when the indexes it holds pass `max_bytes`, the least
//! recently used tenants' indexes are dropped (they are rebuilt on their next message),
//! so one tenant's large knowledge base, or many tenants, cannot exhaust a function's
//! memory. The tenant's own quota (`Quotas::kb_bytes`) bounds a single index.

use crate::kb::Article;
use crate::kb_vectors::{ArticleVectors, QuantVec};
use crate::ports::{KnowledgeStore, PageRequest};
use crate::retrieval::{embed_articles, passages, ArticleSpace, Embedder, KbIndex};
use crate::{ArticleId, StoreError, TenantId, Timestamp};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub struct CachedKb {
    pub revision: u64,
    /// The tenant's `kb_vectors_revision` when it was built.
    pub vectors_revision: u64,
    built_at: std::time::Instant,
    pub index: KbIndex,
    pub articles: Vec<Article>,
    /// Why some articles rank by words only although an embedder is configured.
    pub embedding_error: Option<String>,
    pub vectors: VectorStatus,
}

/// Where an index's passage vectors came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VectorStatus {
    /// Articles with stored vectors of the current model and text.
    pub stored: usize,
    /// Articles served by a previous model's stored vectors (a model change in progress).
    pub previous_model: usize,
    /// Articles embedded by this process because their stored vectors were missing or stale.
    pub embedded_here: usize,
    /// Articles ranked by words only: too many missing to embed here, or the model failed.
    pub words_only: usize,
    /// The oldest write among the articles that have no stored vectors of the current model
    /// and text: when it is not recent, the indexer missed them and is asked again.
    pub oldest_unindexed: Option<Timestamp>,
}

/// Passages a process embeds itself when building an index (an article or two just
/// written, before the indexer stores their vectors); with more missing, those articles
/// rank by words until it has.
pub const INLINE_PASSAGES: usize = 64;

impl CachedKb {
    /// About what it takes in memory: the articles, and the index built from them.
    pub fn approx_bytes(&self) -> usize {
        let text: usize = self.articles.iter().map(Article::text_bytes).sum();
        text + 256 * self.articles.len() + self.index.approx_bytes()
    }
}

/// Every article of a tenant's knowledge base, page by page.
pub async fn all_articles(store: &dyn KnowledgeStore, tenant: &TenantId) -> Result<Vec<Article>, StoreError> {
    crate::ports::all_pages(|page| async move { store.list_articles(tenant, &page).await }).await
}

/// Every stored vector set of a tenant's knowledge base, by article.
pub async fn all_vectors(
    store: &dyn KnowledgeStore,
    tenant: &TenantId,
) -> Result<HashMap<ArticleId, ArticleVectors>, StoreError> {
    let mut vectors = HashMap::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let p = store.list_vectors(tenant, &page).await?;
        vectors.extend(p.items.into_iter().map(|v| (v.article_id.clone(), v)));
        match p.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => return Ok(vectors),
        }
    }
}

/// The index of `articles` from their `stored` vectors, with `spaces[0]` the current model
/// and any others previous ones whose vectors may still serve.
pub fn index_from_stored(
    articles: &[Article],
    revision: u64,
    spaces: &[Arc<dyn Embedder>],
    stored: &HashMap<ArticleId, ArticleVectors>,
) -> (KbIndex, VectorStatus, Option<String>) {
    let mut status = VectorStatus::default();
    let mut error = None;
    let mut per_article: Vec<ArticleSpace> = Vec::with_capacity(articles.len());
    let mut missing = Vec::new();
    for (i, a) in articles.iter().enumerate() {
        let usable = stored
            .get(&a.id)
            .filter(|v| v.is_for(a))
            .and_then(|v| Some((spaces.iter().position(|s| s.model_id() == v.model)?, v)));
        // Unreadable stored vectors are embedded again, like missing ones.
        let decoded = usable.and_then(|(space, v)| match v.decode() {
            Ok(q) => Some((space, q)),
            Err(e) => {
                error.get_or_insert(e);
                None
            }
        });
        match &decoded {
            Some((0, _)) => status.stored += 1,
            Some(_) => status.previous_model += 1,
            None => missing.push(i),
        }
        if !matches!(decoded, Some((0, _))) {
            status.oldest_unindexed = Some(match status.oldest_unindexed {
                Some(t) if t <= a.updated_at => t,
                _ => a.updated_at,
            });
        }
        per_article.push(decoded);
    }
    let missing_passages: usize = missing.iter().map(|i| passages(&articles[*i]).len()).sum();
    if !missing.is_empty() && missing_passages <= INLINE_PASSAGES {
        let these: Vec<&Article> = missing.iter().map(|i| &articles[*i]).collect();
        match embed_articles(spaces[0].as_ref(), &these) {
            Ok(vectors) => {
                for (i, v) in missing.iter().zip(vectors) {
                    per_article[*i] = Some((0, v.iter().map(|x| QuantVec::quantize(x)).collect()));
                }
                status.embedded_here = missing.len();
            }
            Err(e) => {
                status.words_only = missing.len();
                error = Some(e);
            }
        }
    } else {
        status.words_only = missing.len();
    }
    let index = KbIndex::build_semantic(articles, revision, spaces.to_vec(), per_article);
    (index, status, error)
}

/// Where a tenant's knowledge base stands: its `kb_revision` (articles) and
/// `kb_vectors_revision` (stored vectors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KbRevision {
    pub articles: u64,
    pub vectors: u64,
}

impl From<&crate::tenant::Tenant> for KbRevision {
    fn from(t: &crate::tenant::Tenant) -> Self {
        KbRevision {
            articles: t.kb_revision,
            vectors: t.kb_vectors_revision,
        }
    }
}

/// How long an index that ranks some articles by words (their vectors not stored yet)
/// is kept when new vectors arrive: during an import the indexer stores hundreds, and
/// a process rebuilds at most this often instead of on every message.
pub const VECTOR_REFRESH: std::time::Duration = std::time::Duration::from_secs(10);

impl CachedKb {
    /// Whether it still serves `revision`: the same articles, and either the same vectors
    /// or none it would rank better with (every article has current vectors), or new
    /// vectors that arrived within `refresh` of its build.
    fn serves(&self, revision: KbRevision, refresh: std::time::Duration) -> bool {
        if self.revision != revision.articles {
            return false;
        }
        let waiting = self.vectors.words_only + self.vectors.previous_model;
        self.vectors_revision == revision.vectors || waiting == 0 || self.built_at.elapsed() < refresh
    }
}

/// What the cache holds at most, by default (of a 512 MB function).
pub const DEFAULT_MAX_BYTES: usize = 96 * 1024 * 1024;

struct Slot {
    kb: Arc<CachedKb>,
    bytes: usize,
    last_used: u64,
}

#[derive(Default)]
struct Slots {
    by_tenant: HashMap<TenantId, Slot>,
    bytes: usize,
    clock: u64,
}

pub struct KbCache {
    /// Sentence embeddings for semantic retrieval: the current model first, then any
    /// previous one still serving stored vectors; empty ranks by words only.
    spaces: Vec<Arc<dyn Embedder>>,
    entries: Mutex<Slots>,
    max_bytes: usize,
    refresh: std::time::Duration,
}

impl Default for KbCache {
    fn default() -> Self {
        KbCache::new(None)
    }
}

impl KbCache {
    pub fn new(embedder: Option<Arc<dyn Embedder>>) -> Self {
        KbCache::with_models(embedder.into_iter().collect())
    }

    /// The current model first, then previous ones whose stored vectors may still serve.
    pub fn with_models(spaces: Vec<Arc<dyn Embedder>>) -> Self {
        KbCache {
            spaces,
            entries: Mutex::new(Slots::default()),
            max_bytes: DEFAULT_MAX_BYTES,
            refresh: VECTOR_REFRESH,
        }
    }

    /// Reloads for new vectors after `refresh` instead of [`VECTOR_REFRESH`] (tests: zero).
    pub fn with_vector_refresh(mut self, refresh: std::time::Duration) -> Self {
        self.refresh = refresh;
        self
    }

    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Tenants held now and their bytes, for logs and tests.
    pub fn held(&self) -> (Vec<TenantId>, usize) {
        let slots = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let mut tenants: Vec<TenantId> = slots.by_tenant.keys().cloned().collect();
        tenants.sort();
        (tenants, slots.bytes)
    }

    /// Lets the models get ready while the caller does other work (triage calls it as
    /// each invocation starts: the first one starts loading the model).
    pub fn prepare(&self) {
        self.spaces.iter().for_each(|s| s.prepare());
    }

    /// The current embedding model, if any.
    pub fn embedder(&self) -> Option<&Arc<dyn Embedder>> {
        self.spaces.first()
    }

    pub fn is_semantic(&self) -> bool {
        !self.spaces.is_empty()
    }

    /// The tenant's index at `revision` (the tenant item's). The second value is `true`
    /// when it was (re)built by this call.
    pub async fn get(
        &self,
        store: &dyn KnowledgeStore,
        tenant: &TenantId,
        revision: KbRevision,
    ) -> Result<(Arc<CachedKb>, bool), StoreError> {
        {
            let mut slots = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            slots.clock += 1;
            let now = slots.clock;
            if let Some(slot) = slots.by_tenant.get_mut(tenant) {
                if slot.kb.serves(revision, self.refresh) {
                    slot.last_used = now;
                    return Ok((slot.kb.clone(), false));
                }
            }
        }
        let (articles, index, vectors, embedding_error) = if self.spaces.is_empty() {
            let articles = all_articles(store, tenant).await?;
            let index = KbIndex::build(&articles, revision.articles);
            (articles, index, VectorStatus::default(), None)
        } else {
            // The articles and their vectors are read together.
            let (articles, stored) = futures::try_join!(all_articles(store, tenant), all_vectors(store, tenant))?;
            let (index, status, error) = index_from_stored(&articles, revision.articles, &self.spaces, &stored);
            (articles, index, status, error)
        };
        let built = Arc::new(CachedKb {
            revision: revision.articles,
            vectors_revision: revision.vectors,
            built_at: std::time::Instant::now(),
            index,
            articles,
            embedding_error,
            vectors,
        });
        self.insert(tenant, built.clone());
        Ok((built, true))
    }

    /// Holds `kb` for `tenant`, then drops the least recently used other tenants until
    /// the cache is within `max_bytes` (the newest entry is always kept).
    fn insert(&self, tenant: &TenantId, kb: Arc<CachedKb>) {
        let bytes = kb.approx_bytes();
        let mut slots = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        slots.clock += 1;
        let last_used = slots.clock;
        if let Some(old) = slots.by_tenant.insert(tenant.clone(), Slot { kb, bytes, last_used }) {
            slots.bytes -= old.bytes;
        }
        slots.bytes += bytes;
        while slots.bytes > self.max_bytes {
            let Some(oldest) = slots
                .by_tenant
                .iter()
                .filter(|(t, _)| *t != tenant)
                .min_by_key(|(_, s)| s.last_used)
                .map(|(t, _)| t.clone())
            else {
                break;
            };
            if let Some(gone) = slots.by_tenant.remove(&oldest) {
                slots.bytes -= gone.bytes;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kb(tenant: &str, articles: usize, body_bytes: usize) -> Arc<CachedKb> {
        let t = TenantId::new(tenant).unwrap();
        let articles: Vec<Article> = (0..articles)
            .map(|i| Article {
                tenant_id: t.clone(),
                id: crate::ArticleId::new(format!("a{i}")).unwrap(),
                title: format!("Article {i}"),
                body: "word ".repeat(body_bytes / 5),
                tags: vec![],
                sample_questions: vec![],
                url: None,
                updated_at: crate::Timestamp::from_unix_millis(0).unwrap(),
            })
            .collect();
        Arc::new(CachedKb {
            revision: 1,
            vectors_revision: 0,
            built_at: std::time::Instant::now(),
            index: KbIndex::build(&articles, 1),
            articles,
            embedding_error: None,
            vectors: VectorStatus::default(),
        })
    }

    #[test]
    fn new_vectors_reload_an_index_waiting_for_them_at_most_every_refresh() {
        let refresh = std::time::Duration::from_secs(60);
        let at = |articles, vectors| KbRevision { articles, vectors };
        let complete = kb("t", 2, 100);
        assert!(complete.serves(at(1, 0), refresh));
        assert!(complete.serves(at(1, 7), std::time::Duration::ZERO), "nothing to gain");
        assert!(!complete.serves(at(2, 0), refresh), "articles changed");
        let mut waiting = Arc::try_unwrap(kb("t", 2, 100)).ok().unwrap();
        waiting.vectors.words_only = 1;
        assert!(waiting.serves(at(1, 1), refresh), "built just now");
        assert!(!waiting.serves(at(1, 1), std::time::Duration::ZERO));
        assert!(waiting.serves(at(1, 0), std::time::Duration::ZERO), "same vectors");
    }

    #[test]
    fn evicts_the_least_recently_used_tenants_past_its_size() {
        let one = kb("one", 10, 10_000);
        let size = one.approx_bytes();
        let cache = KbCache::new(None).with_max_bytes(size * 2 + size / 2);
        let t = |s: &str| TenantId::new(s).unwrap();
        cache.insert(&t("one"), one);
        cache.insert(&t("two"), kb("two", 10, 10_000));
        // "one" is used again, so "two" is the least recently used when "three" comes.
        cache.entries.lock().unwrap().clock += 1;
        let tick = cache.entries.lock().unwrap().clock;
        cache
            .entries
            .lock()
            .unwrap()
            .by_tenant
            .get_mut(&t("one"))
            .unwrap()
            .last_used = tick;
        cache.insert(&t("three"), kb("three", 10, 10_000));
        let (held, bytes) = cache.held();
        assert_eq!(held, vec![t("one"), t("three")]);
        assert!(bytes <= size * 2 + size / 2);
        // One index larger than the whole cache is still held (alone): the tenant's
        // quota bounds it, and it must be usable.
        cache.insert(&t("huge"), kb("huge", 100, 10_000));
        assert_eq!(cache.held().0, vec![t("huge")]);
    }
}
