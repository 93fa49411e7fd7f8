//! The `SecretBox` port over KMS: envelope encryption. Sealing asks KMS for a fresh
//! 256-bit data key (`GenerateDataKey`, with the tenant and channel as encryption
//! context), encrypts the secret locally with AES-256-GCM under it (the same scope as
//! associated data) and keeps only KMS's wrapped copy of the key. Opening asks KMS to
//! unwrap the key (`Decrypt`, same context: a sealed secret moved to another tenant does
//! not open) and decrypts locally. The plaintext key never leaves the process.

use async_trait::async_trait;
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use baton_domain::error::BackendErrorKind;
use baton_domain::ports::SecretBox;
use baton_domain::secrets::{SealedSecret, Secret, SecretError, SecretScope};
use baton_domain::Timestamp;

/// The variable naming the KMS key (id, ARN or alias) that seals channel secrets.
pub const KEY_ENV: &str = "CHANNEL_SECRETS_KEY_ID";

pub struct KmsSecretBox {
    client: aws_sdk_kms::Client,
    /// Needed to seal; opening reads the key from the sealed secret.
    key_id: Option<String>,
}

impl KmsSecretBox {
    pub fn new(client: aws_sdk_kms::Client, key_id: Option<String>) -> Self {
        KmsSecretBox {
            client,
            key_id: key_id.filter(|k| !k.is_empty()),
        }
    }

    pub fn from_env(sdk: &aws_config::SdkConfig) -> Self {
        KmsSecretBox::new(aws_sdk_kms::Client::new(sdk), crate::config::optional_env_var(KEY_ENV))
    }
}

fn classify<E: ProvideErrorMetadata + std::error::Error, R: std::fmt::Debug>(err: SdkError<E, R>) -> SecretError {
    let message = match &err {
        SdkError::ServiceError(e) => format!(
            "{}: {}",
            e.err().code().unwrap_or("KMS"),
            e.err().message().unwrap_or("")
        ),
        other => other.to_string(),
    };
    if let SdkError::ServiceError(e) = &err {
        if matches!(
            e.err().code(),
            Some("InvalidCiphertextException" | "IncorrectKeyException")
        ) {
            return SecretError::Corrupt(message);
        }
        if matches!(
            e.err().code(),
            Some("KMSInternalException" | "DependencyTimeoutException")
        ) {
            return SecretError::Unavailable(message);
        }
    }
    match crate::sdk_error::classify(&err) {
        BackendErrorKind::Throttled | BackendErrorKind::Unavailable | BackendErrorKind::Contended => {
            SecretError::Unavailable(message)
        }
        _ => SecretError::Refused(message),
    }
}

fn cipher(key: &[u8]) -> Result<LessSafeKey, SecretError> {
    UnboundKey::new(&AES_256_GCM, key)
        .map(LessSafeKey::new)
        .map_err(|_| SecretError::Refused("KMS returned a data key of the wrong length".into()))
}

fn decode(what: &str, b64: &str) -> Result<Vec<u8>, SecretError> {
    B64.decode(b64)
        .map_err(|_| SecretError::Corrupt(format!("{what} is not base64")))
}

#[async_trait]
impl SecretBox for KmsSecretBox {
    async fn seal(&self, scope: SecretScope<'_>, secret: &Secret, now: Timestamp) -> Result<SealedSecret, SecretError> {
        let key_id = self.key_id.as_deref().ok_or_else(|| {
            SecretError::Refused(format!(
                "{KEY_ENV} is not set: this deployment cannot store channel tokens"
            ))
        })?;
        let mut req = self
            .client
            .generate_data_key()
            .key_id(key_id)
            .key_spec(DataKeySpec::Aes256);
        for (k, v) in scope.context() {
            req = req.encryption_context(k, v);
        }
        let out = req.send().await.map_err(classify)?;
        let (Some(plain), Some(wrapped)) = (out.plaintext(), out.ciphertext_blob()) else {
            return Err(SecretError::Refused("KMS returned no data key".into()));
        };
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| SecretError::Unavailable("no randomness".into()))?;
        let mut buf = secret.expose().as_bytes().to_vec();
        cipher(plain.as_ref())?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(scope.associated_data()),
                &mut buf,
            )
            .map_err(|_| SecretError::Refused("the secret could not be encrypted".into()))?;
        Ok(SealedSecret {
            key_id: out.key_id().unwrap_or(key_id).to_owned(),
            wrapped_key: B64.encode(wrapped.as_ref()),
            nonce: B64.encode(nonce),
            ciphertext: B64.encode(&buf),
            sealed_at: now,
        })
    }

    async fn open(&self, scope: SecretScope<'_>, sealed: &SealedSecret) -> Result<Secret, SecretError> {
        let mut req = self
            .client
            .decrypt()
            .key_id(&sealed.key_id)
            .ciphertext_blob(Blob::new(decode("the wrapped key", &sealed.wrapped_key)?));
        for (k, v) in scope.context() {
            req = req.encryption_context(k, v);
        }
        let out = req.send().await.map_err(classify)?;
        let plain = out
            .plaintext()
            .ok_or_else(|| SecretError::Refused("KMS returned no data key".into()))?;
        let nonce: [u8; NONCE_LEN] = decode("the nonce", &sealed.nonce)?
            .try_into()
            .map_err(|_| SecretError::Corrupt("the nonce has the wrong length".into()))?;
        let mut buf = decode("the ciphertext", &sealed.ciphertext)?;
        let opened = cipher(plain.as_ref())?
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(scope.associated_data()),
                &mut buf,
            )
            .map_err(|_| {
                SecretError::Corrupt("the ciphertext does not authenticate under its tenant and channel".into())
            })?;
        String::from_utf8(opened.to_vec())
            .map(Secret::new)
            .map_err(|_| SecretError::Corrupt("the secret is not text".into()))
    }
}
