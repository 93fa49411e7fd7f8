//! Channel access tokens at rest. A token is sealed by envelope encryption under the
//! deployment's KMS key, bound to its tenant and channel (the KMS encryption context and
//! the cipher's associated data both name them, so a sealed token copied to another
//! tenant does not open), stored apart from the tenant item, never returned by the API
//! and opened only by what sends or fetches on the channel.

use crate::{Channel, TenantId, Timestamp};
use serde::{Deserialize, Serialize};

/// A sealed secret: the data key wrapped by KMS, and the secret encrypted under that data
/// key (AES-256-GCM). Everything is base64; nothing here reveals the secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    /// The KMS key that wrapped the data key (its ARN, as KMS reported it).
    pub key_id: String,
    /// KMS's ciphertext blob of the data key.
    pub wrapped_key: String,
    pub nonce: String,
    pub ciphertext: String,
    pub sealed_at: Timestamp,
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedSecret")
            .field("key_id", &self.key_id)
            .field("sealed_at", &self.sealed_at)
            .finish_non_exhaustive()
    }
}

/// Which of a tenant's secrets: a channel's access token, or the shop's credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretSlot {
    Channel(Channel),
    Shop,
}

/// What a secret belongs to: part of its encryption context.
#[derive(Debug, Clone, Copy)]
pub struct SecretScope<'a> {
    pub tenant: &'a TenantId,
    pub slot: SecretSlot,
}

impl<'a> SecretScope<'a> {
    pub fn channel(tenant: &'a TenantId, channel: Channel) -> Self {
        SecretScope {
            tenant,
            slot: SecretSlot::Channel(channel),
        }
    }

    pub fn shop(tenant: &'a TenantId) -> Self {
        SecretScope {
            tenant,
            slot: SecretSlot::Shop,
        }
    }

    /// The associated data the cipher authenticates: tenant and slot.
    pub fn associated_data(&self) -> Vec<u8> {
        match self.slot {
            SecretSlot::Channel(c) => format!("baton-channel-secret\0{}\0{c}", self.tenant).into_bytes(),
            SecretSlot::Shop => format!("baton-shop-secret\0{}", self.tenant).into_bytes(),
        }
    }

    /// The key service's encryption context: the same facts, as name/value pairs.
    pub fn context(&self) -> [(&'static str, String); 3] {
        match self.slot {
            SecretSlot::Channel(c) => [
                ("purpose", "baton-channel-secret".into()),
                ("tenant", self.tenant.to_string()),
                ("channel", c.to_string()),
            ],
            SecretSlot::Shop => [
                ("purpose", "baton-shop-secret".into()),
                ("tenant", self.tenant.to_string()),
                ("connection", "shop".into()),
            ],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The key service did not answer in time or pushed back: try again.
    #[error("the key service is unavailable: {0}")]
    Unavailable(String),
    /// The key service refused (no key configured, key disabled, no permission): an
    /// operator must fix the deployment.
    #[error("the key service refused: {0}")]
    Refused(String),
    /// The sealed secret does not open under its scope: damaged, or not this tenant's.
    #[error("the sealed secret does not open: {0}")]
    Corrupt(String),
}

impl From<SecretError> for crate::StoreError {
    fn from(e: SecretError) -> Self {
        use crate::error::BackendErrorKind;
        let kind = match &e {
            SecretError::Unavailable(_) => BackendErrorKind::Unavailable,
            SecretError::Refused(_) => BackendErrorKind::Rejected,
            SecretError::Corrupt(_) => BackendErrorKind::Corrupt,
        };
        crate::StoreError::Backend {
            kind,
            operation: "channel secret",
            source: Box::new(e),
        }
    }
}

/// A secret in memory: its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_secret_is_debug_printed() {
        let s = Secret::new("EAAG-very-secret");
        assert!(!format!("{s:?}").contains("EAAG"));
        let sealed = SealedSecret {
            key_id: "arn:aws:kms:us-east-1:1:key/k".into(),
            wrapped_key: "d3JhcHBlZA==".into(),
            nonce: "bm9uY2U=".into(),
            ciphertext: "Y2lwaGVy".into(),
            sealed_at: Timestamp::from_unix_millis(0).unwrap(),
        };
        let shown = format!("{sealed:?}");
        assert!(!shown.contains("Y2lwaGVy") && !shown.contains("d3JhcHBlZA"));
    }

    #[test]
    fn the_scope_names_tenant_and_channel() {
        let t = TenantId::new("acme").unwrap();
        let a = SecretScope::channel(&t, Channel::Whatsapp).associated_data();
        let b = SecretScope::channel(&t, Channel::Instagram).associated_data();
        let c = SecretScope::shop(&t).associated_data();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert!(String::from_utf8(a).unwrap().contains("acme"));
    }
}
