//! Meta (WhatsApp Cloud API, Instagram Messaging) webhook security: the subscription
//! handshake and the `X-Hub-Signature-256` check.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("hub.mode, hub.verify_token and hub.challenge are required")]
    Incomplete,
    #[error("hub.mode must be subscribe")]
    WrongMode,
    #[error("verify token does not match")]
    WrongToken,
}

/// Meta's verification request: answer with the challenge only if the token is ours.
pub fn verify_handshake<'a>(
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&'a str>,
    expected_token: &str,
) -> Result<&'a str, HandshakeError> {
    let (Some(mode), Some(token), Some(challenge)) = (mode, token, challenge) else {
        return Err(HandshakeError::Incomplete);
    };
    if mode != "subscribe" {
        return Err(HandshakeError::WrongMode);
    }
    if expected_token.is_empty() || !bool::from(token.as_bytes().ct_eq(expected_token.as_bytes())) {
        return Err(HandshakeError::WrongToken);
    }
    Ok(challenge)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("X-Hub-Signature-256 header is missing")]
    Missing,
    #[error("X-Hub-Signature-256 header is malformed")]
    Malformed,
    #[error("signature does not match the body")]
    Mismatch,
}

/// Checks `sha256=<hex HMAC-SHA256 of the raw body with the app secret>` in constant time.
pub fn verify_signature(app_secret: &str, raw_body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex = header.trim().strip_prefix("sha256=").ok_or(SignatureError::Malformed)?;
    let given = decode_hex(hex).ok_or(SignatureError::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).map_err(|_| SignatureError::Malformed)?;
    mac.update(raw_body);
    mac.verify_slice(&given).map_err(|_| SignatureError::Mismatch)
}

/// The header value Meta would send for `raw_body` (used to sign test events).
pub fn sign(app_secret: &str, raw_body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(raw_body);
    let bytes = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_answers_the_challenge_only_for_our_token() {
        assert_eq!(
            verify_handshake(Some("subscribe"), Some("tok"), Some("123"), "tok"),
            Ok("123")
        );
        assert_eq!(
            verify_handshake(Some("subscribe"), Some("bad"), Some("123"), "tok"),
            Err(HandshakeError::WrongToken)
        );
        assert_eq!(
            verify_handshake(Some("unsubscribe"), Some("tok"), Some("1"), "tok"),
            Err(HandshakeError::WrongMode)
        );
        assert_eq!(
            verify_handshake(None, Some("tok"), Some("1"), "tok"),
            Err(HandshakeError::Incomplete)
        );
        // An unset token never verifies anything.
        assert_eq!(
            verify_handshake(Some("subscribe"), Some(""), Some("1"), ""),
            Err(HandshakeError::WrongToken)
        );
    }

    #[test]
    fn signature_matches_only_the_exact_body() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let header = sign("secret", body);
        assert_eq!(verify_signature("secret", body, Some(&header)), Ok(()));
        assert_eq!(
            verify_signature("other", body, Some(&header)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature("secret", b"{}", Some(&header)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify_signature("secret", body, None), Err(SignatureError::Missing));
        assert_eq!(
            verify_signature("secret", body, Some("sha1=abc")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature("secret", body, Some("sha256=zz")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature("secret", body, Some("sha256=é1")),
            Err(SignatureError::Malformed)
        );
    }
}
