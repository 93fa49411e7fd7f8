//! The access token a sender or the media fetch uses on a tenant's channel: the one the
//! tenant connected (sealed in the table, opened through the `SecretBox`), else the
//! deployment's own. The sealed item is read on every use (one GetItem), so a token
//! replaced by a reconnect is used at once; KMS is asked only when the sealed token
//! differs from the one already opened in this process.

use async_trait::async_trait;
use baton_domain::ports::{ChannelTokens, SecretBox, Store};
use baton_domain::secrets::{SealedSecret, Secret, SecretError, SecretScope};
use baton_domain::{Channel, StoreError, TenantId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Opened secrets kept per process; past this many the cache starts over.
const CACHE_LIMIT: usize = 1_000;

/// Secrets opened in this process, by what they belong to: KMS is asked only when the
/// stored sealed secret differs from the one opened before (a reconnect replaced it).
pub struct OpenedSecrets<K> {
    opened: Mutex<HashMap<K, (SealedSecret, Secret)>>,
}

impl<K> Default for OpenedSecrets<K> {
    fn default() -> Self {
        OpenedSecrets {
            opened: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone> OpenedSecrets<K> {
    /// `sealed`, opened (from the cache when it is the one opened last for `key`).
    pub async fn open(
        &self,
        secrets: &dyn SecretBox,
        key: &K,
        scope: SecretScope<'_>,
        sealed: SealedSecret,
    ) -> Result<Secret, SecretError> {
        let cached = {
            let opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
            opened
                .get(key)
                .filter(|(s, _)| *s == sealed)
                .map(|(_, secret)| secret.clone())
        };
        if let Some(secret) = cached {
            return Ok(secret);
        }
        let secret = secrets.open(scope, &sealed).await?;
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        if opened.len() >= CACHE_LIMIT {
            opened.clear();
        }
        opened.insert(key.clone(), (sealed, secret.clone()));
        Ok(secret)
    }
}

pub struct StoredTokens {
    store: Arc<dyn Store>,
    secrets: Arc<dyn SecretBox>,
    /// The deployment's own tokens, for tenants that connected none.
    fallback: Arc<dyn ChannelTokens>,
    opened: OpenedSecrets<(TenantId, Channel)>,
}

impl StoredTokens {
    pub fn new(store: Arc<dyn Store>, secrets: Arc<dyn SecretBox>, fallback: Arc<dyn ChannelTokens>) -> Self {
        StoredTokens {
            store,
            secrets,
            fallback,
            opened: OpenedSecrets::default(),
        }
    }
}

#[async_trait]
impl ChannelTokens for StoredTokens {
    async fn token(&self, tenant: &TenantId, channel: Channel) -> Result<Option<String>, StoreError> {
        let Some(sealed) = self.store.get_channel_secret(tenant, channel).await? else {
            return self.fallback.token(tenant, channel).await;
        };
        let key = (tenant.clone(), channel);
        let token = self
            .opened
            .open(
                self.secrets.as_ref(),
                &key,
                SecretScope::channel(tenant, channel),
                sealed,
            )
            .await?;
        Ok(Some(token.expose().to_owned()))
    }
}
