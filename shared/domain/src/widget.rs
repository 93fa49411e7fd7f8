//! The website widget's rules: signed visitor tokens, what a visitor may send, and which
//! page origins may talk to a tenant's widget.

use crate::{ConversationId, TenantId, Timestamp};
use serde::{Deserialize, Serialize};

/// Longest message a visitor may send, in characters.
pub const MAX_TEXT_CHARS: usize = 4000;
/// Visitor messages allowed per rate window.
pub const RATE_LIMIT_PER_MINUTE: u32 = 20;
/// How long a visitor token is valid.
pub const TOKEN_TTL: time::Duration = time::Duration::days(30);

/// What a visitor token proves: this browser started this conversation of this tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisitorClaims {
    #[serde(rename = "t")]
    pub tenant: TenantId,
    /// The visitor's id: the widget identity's external id.
    #[serde(rename = "v")]
    pub visitor: String,
    #[serde(rename = "c")]
    pub conversation: ConversationId,
    /// Expiry, epoch seconds.
    #[serde(rename = "e")]
    pub expires: i64,
}

pub use crate::signed::TokenError;

/// `base64url(claims JSON) . base64url(HMAC-SHA256)` (see `signed`).
pub fn sign_token(secret: &str, claims: &VisitorClaims) -> String {
    crate::signed::sign(secret, claims)
}

pub fn verify_token(secret: &str, token: &str, now: Timestamp) -> Result<VisitorClaims, TokenError> {
    let claims: VisitorClaims = crate::signed::open(secret, token)?;
    if claims.expires < now.unix_seconds() {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: &'static str,
    pub reason: String,
}

/// A visitor's message, checked: non-empty text within the limit, and a client message id
/// the widget chose (so an offline widget can replay safely).
pub fn check_message(client_message_id: &str, text: &str) -> Result<(), FieldError> {
    let id_ok = !client_message_id.is_empty()
        && client_message_id.len() <= 64
        && client_message_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    if !id_ok {
        return Err(FieldError {
            field: "client_message_id",
            reason: "1 to 64 characters of letters, digits, '-', '_', '.', ':'".into(),
        });
    }
    if text.trim().is_empty() {
        return Err(FieldError {
            field: "text",
            reason: "must not be empty".into(),
        });
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(FieldError {
            field: "text",
            reason: format!("at most {MAX_TEXT_CHARS} characters"),
        });
    }
    Ok(())
}

/// Whether a page at `origin` may use the tenant's widget. Exact match on scheme, host and
/// port; no wildcards, so a look-alike domain never passes.
pub fn origin_allowed(allowed: &[String], origin: Option<&str>) -> bool {
    match origin {
        Some(o) => allowed
            .iter()
            .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(o.trim_end_matches('/'))),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(expires: i64) -> VisitorClaims {
        VisitorClaims {
            tenant: TenantId::new("demo").unwrap(),
            visitor: "v1".into(),
            conversation: ConversationId::generate(),
            expires,
        }
    }

    #[test]
    fn tokens_verify_only_with_the_secret_and_before_expiry() {
        let now = Timestamp::from_unix_millis(1_000_000_000).unwrap();
        let c = claims(now.unix_seconds() + 60);
        let t = sign_token("s3cret", &c);
        assert_eq!(verify_token("s3cret", &t, now), Ok(c.clone()));
        assert_eq!(verify_token("other", &t, now), Err(TokenError::BadSignature));
        assert_eq!(
            verify_token("s3cret", &t, now.plus(time::Duration::minutes(2))),
            Err(TokenError::Expired)
        );
        assert_eq!(verify_token("s3cret", "nodot", now), Err(TokenError::Malformed));
        // Swapping in another conversation breaks the signature.
        let (_, sig) = t.split_once('.').unwrap();
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let forged = format!("{}.{sig}", b64.encode(serde_json::to_vec(&claims(c.expires)).unwrap()));
        assert_eq!(verify_token("s3cret", &forged, now), Err(TokenError::BadSignature));
    }

    #[test]
    fn messages_need_an_id_and_bounded_text() {
        assert!(check_message("m-1", "hello").is_ok());
        assert_eq!(check_message("", "hello").unwrap_err().field, "client_message_id");
        assert_eq!(check_message("a b", "hello").unwrap_err().field, "client_message_id");
        assert_eq!(check_message("m", "   ").unwrap_err().field, "text");
        assert!(check_message("m", &"é".repeat(MAX_TEXT_CHARS)).is_ok());
        assert_eq!(
            check_message("m", &"é".repeat(MAX_TEXT_CHARS + 1)).unwrap_err().field,
            "text"
        );
    }

    #[test]
    fn origins_match_exactly() {
        let allowed = vec!["https://shop.example".to_string()];
        assert!(origin_allowed(&allowed, Some("https://shop.example")));
        assert!(origin_allowed(&allowed, Some("https://SHOP.example/")));
        assert!(!origin_allowed(&allowed, Some("https://shop.example.evil")));
        assert!(!origin_allowed(&allowed, Some("http://shop.example")));
        assert!(!origin_allowed(&allowed, None));
    }
}
