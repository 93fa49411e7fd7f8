//! A tenant's knowledge base, indexed once per warm process and rebuilt only when the
//! tenant's KB revision moves. The triage function and the agent API's answer preview
//! share it, so a preview ranks exactly as the customer-facing answer does.
//!
//! The cache is bounded by size: when the indexes it holds pass `max_bytes`, the least
//! recently used tenants' indexes are dropped (they are rebuilt on their next message),
//! so one tenant's large knowledge base, or many tenants, cannot exhaust a function's
//! memory. The tenant's own quota (`Quotas::kb_bytes`) bounds a single index.

use crate::kb::Article;
use crate::ports::{KnowledgeStore, PageRequest};
use crate::retrieval::{Embedder, KbIndex};
use crate::{StoreError, TenantId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub struct CachedKb {
    pub revision: u64,
    pub index: KbIndex,
    pub articles: Vec<Article>,
    /// Why the index ranks by words only although an embedder is configured.
    pub embedding_error: Option<String>,
}

impl CachedKb {
    /// About what it takes in memory: the articles, the word and n-gram indexes built
    /// from their text (about twice the text again), and the passage vectors.
    pub fn approx_bytes(&self) -> usize {
        let text: usize = self.articles.iter().map(Article::text_bytes).sum();
        3 * text + self.index.vector_bytes() + 512 * self.articles.len()
    }
}

/// Every article of a tenant's knowledge base, page by page.
pub async fn all_articles(store: &dyn KnowledgeStore, tenant: &TenantId) -> Result<Vec<Article>, StoreError> {
    let mut articles = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let p = store.list_articles(tenant, &page).await?;
        articles.extend(p.items);
        match p.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => return Ok(articles),
        }
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
    /// Sentence embeddings for semantic retrieval; `None` ranks by words only.
    embedder: Option<Arc<dyn Embedder>>,
    entries: Mutex<Slots>,
    max_bytes: usize,
}

impl Default for KbCache {
    fn default() -> Self {
        KbCache::new(None)
    }
}

impl KbCache {
    pub fn new(embedder: Option<Arc<dyn Embedder>>) -> Self {
        KbCache {
            embedder,
            entries: Mutex::new(Slots::default()),
            max_bytes: DEFAULT_MAX_BYTES,
        }
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

    pub fn is_semantic(&self) -> bool {
        self.embedder.is_some()
    }

    /// The tenant's index at `revision` (the tenant item's `kb_revision`). The second
    /// value is `true` when it was (re)built by this call.
    pub async fn get(
        &self,
        store: &dyn KnowledgeStore,
        tenant: &TenantId,
        revision: u64,
    ) -> Result<(Arc<CachedKb>, bool), StoreError> {
        {
            let mut slots = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            slots.clock += 1;
            let now = slots.clock;
            if let Some(slot) = slots.by_tenant.get_mut(tenant) {
                if slot.kb.revision == revision {
                    slot.last_used = now;
                    return Ok((slot.kb.clone(), false));
                }
            }
        }
        let articles = all_articles(store, tenant).await?;
        let (index, embedding_error) = match &self.embedder {
            Some(e) => match KbIndex::build_with_embedder(&articles, revision, e.clone()) {
                Ok(index) => (index, None),
                Err(err) => (KbIndex::build(&articles, revision), Some(err)),
            },
            None => (KbIndex::build(&articles, revision), None),
        };
        let built = Arc::new(CachedKb {
            revision,
            index,
            articles,
            embedding_error,
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
            index: KbIndex::build(&articles, 1),
            articles,
            embedding_error: None,
        })
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
