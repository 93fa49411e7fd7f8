//! A tenant's knowledge base, indexed once per warm process and rebuilt only when the
//! tenant's KB revision moves. The triage function and the agent API's answer preview
//! share it, so a preview ranks exactly as the customer-facing answer does.

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

#[derive(Default)]
pub struct KbCache {
    /// Sentence embeddings for semantic retrieval; `None` ranks by words only.
    embedder: Option<Arc<dyn Embedder>>,
    entries: Mutex<HashMap<TenantId, Arc<CachedKb>>>,
}

impl KbCache {
    pub fn new(embedder: Option<Arc<dyn Embedder>>) -> Self {
        KbCache {
            embedder,
            entries: Mutex::new(HashMap::new()),
        }
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
        if let Some(c) = self.entries.lock().unwrap_or_else(|p| p.into_inner()).get(tenant) {
            if c.revision == revision {
                return Ok((c.clone(), false));
            }
        }
        let mut articles = Vec::new();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let p = store.list_articles(tenant, &page).await?;
            articles.extend(p.items);
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
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
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tenant.clone(), built.clone());
        Ok((built, true))
    }
}
