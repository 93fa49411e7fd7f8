//! Signed tokens: `base64url(claims JSON) . base64url(HMAC-SHA256 of the first part)`.
//! The widget's visitor tokens and the survey links use them; each checks its own expiry.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::Sha256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token expired")]
    Expired,
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn mac(secret: &str) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length")
}

pub fn sign<C: Serialize>(secret: &str, claims: &C) -> String {
    let payload = B64.encode(serde_json::to_vec(claims).expect("claims serialise"));
    let mut m = mac(secret);
    m.update(payload.as_bytes());
    format!("{payload}.{}", B64.encode(m.finalize().into_bytes()))
}

/// The claims of a token signed with `secret` (the signature checked in constant time).
pub fn open<C: DeserializeOwned>(secret: &str, token: &str) -> Result<C, TokenError> {
    let (payload, signature) = token.split_once('.').ok_or(TokenError::Malformed)?;
    let signature = B64.decode(signature).map_err(|_| TokenError::Malformed)?;
    let mut m = mac(secret);
    m.update(payload.as_bytes());
    m.verify_slice(&signature).map_err(|_| TokenError::BadSignature)?;
    serde_json::from_slice(&B64.decode(payload).map_err(|_| TokenError::Malformed)?).map_err(|_| TokenError::Malformed)
}
