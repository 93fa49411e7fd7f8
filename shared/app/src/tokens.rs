//! The access token a sender or the media fetch uses on a tenant's channel: the one the
//! tenant connected (sealed in the table, opened through the `SecretBox`), else the
//! deployment's own. The sealed item is read on every use (one GetItem), so a token
//! replaced by a reconnect is used at once; KMS is asked only when the sealed token
//! differs from the one already opened in this process.

use async_trait::async_trait;
use baton_domain::ports::{ChannelTokens, SecretBox, Store};
use baton_domain::secrets::{SealedSecret, SecretScope};
use baton_domain::{Channel, StoreError, TenantId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Opened tokens kept per process; past this many tenants the cache starts over.
const CACHE_LIMIT: usize = 1_000;

type Opened = HashMap<(TenantId, Channel), (SealedSecret, String)>;

pub struct StoredTokens {
    store: Arc<dyn Store>,
    secrets: Arc<dyn SecretBox>,
    /// The deployment's own tokens, for tenants that connected none.
    fallback: Arc<dyn ChannelTokens>,
    opened: Mutex<Opened>,
}

impl StoredTokens {
    pub fn new(store: Arc<dyn Store>, secrets: Arc<dyn SecretBox>, fallback: Arc<dyn ChannelTokens>) -> Self {
        StoredTokens {
            store,
            secrets,
            fallback,
            opened: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, key: &(TenantId, Channel), sealed: &SealedSecret) -> Option<String> {
        let opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        opened
            .get(key)
            .filter(|(s, _)| s == sealed)
            .map(|(_, token)| token.clone())
    }
}

#[async_trait]
impl ChannelTokens for StoredTokens {
    async fn token(&self, tenant: &TenantId, channel: Channel) -> Result<Option<String>, StoreError> {
        let Some(sealed) = self.store.get_channel_secret(tenant, channel).await? else {
            return self.fallback.token(tenant, channel).await;
        };
        let key = (tenant.clone(), channel);
        if let Some(token) = self.cached(&key, &sealed) {
            return Ok(Some(token));
        }
        let token = self
            .secrets
            .open(SecretScope { tenant, channel }, &sealed)
            .await?
            .expose()
            .to_owned();
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        if opened.len() >= CACHE_LIMIT {
            opened.clear();
        }
        opened.insert(key, (sealed, token.clone()));
        Ok(Some(token))
    }
}
