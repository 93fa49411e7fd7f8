//! The Graph API adapter of the `MediaSource` port: WhatsApp and Instagram media.
//!
//! - WhatsApp gives a media id: `GET {base}/{media-id}` (bearer token) answers
//!   `{"url", "mime_type", "file_size", …}`, and the bytes come from that URL with the
//!   same token.
//! - Instagram gives a CDN link in the webhook: it is fetched as it is, but only from
//!   Meta's CDN hosts over HTTPS (or the configured base's own origin, for a local
//!   server), so a link cannot make Baton fetch anything else.
//!
//! Graph errors keep their kind: "object does not exist" (code 100) and 404/410 are
//! `Gone`; 429, 5xx and Graph's throttling codes (4, 17, 32, 613) are `Throttled` or
//! `Unavailable`; anything else is `Rejected`.

use async_trait::async_trait;
use baton_domain::error::BackendErrorKind;
use baton_domain::ports::{Media, MediaError, MediaSource};
use baton_domain::Channel;
use serde::Deserialize;
use std::time::Duration;

/// Meta's current Graph API version, the default base.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com/v21.0";

/// Hosts Meta serves messaging media from.
const META_MEDIA_HOSTS: &[&str] = &["fbsbx.com", "fbcdn.net", "cdninstagram.com", "facebook.com"];

pub struct GraphMedia {
    http: reqwest::Client,
    base_url: String,
    whatsapp_token: Option<String>,
}

impl GraphMedia {
    pub fn new(base_url: impl Into<String>, whatsapp_token: Option<String>) -> Self {
        GraphMedia {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::limited(3))
                .build()
                .expect("a client with a timeout builds"),
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            whatsapp_token,
        }
    }

    /// `GRAPH_API_BASE_URL` (default [`DEFAULT_BASE_URL`]) and `WHATSAPP_ACCESS_TOKEN`
    /// (the system user's token that may read the business's media).
    pub fn from_env() -> Self {
        GraphMedia::new(
            crate::config::optional_env_var("GRAPH_API_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.into()),
            crate::config::optional_env_var("WHATSAPP_ACCESS_TOKEN"),
        )
    }

    fn allowed_link(&self, link: &str) -> bool {
        let Ok(url) = reqwest::Url::parse(link) else {
            return false;
        };
        let base_origin = reqwest::Url::parse(&self.base_url).ok().map(|b| b.origin());
        if Some(url.origin()) == base_origin {
            return true;
        }
        url.scheme() == "https"
            && url.host_str().is_some_and(|h| {
                META_MEDIA_HOSTS
                    .iter()
                    .any(|m| h == *m || h.ends_with(&format!(".{m}")))
            })
    }

    async fn get(&self, url: &str, token: Option<&str>, max_bytes: usize) -> Result<Media, MediaError> {
        let mut req = self.http.get(url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err(graph_error(status.as_u16(), &body));
        }
        if resp.content_length().is_some_and(|l| l as usize > max_bytes) {
            return Err(MediaError::TooLarge(max_bytes));
        }
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut resp = resp;
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if bytes.len() + chunk.len() > max_bytes {
                return Err(MediaError::TooLarge(max_bytes));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Media { bytes, content_type })
    }
}

#[derive(Deserialize)]
struct MediaInfo {
    url: String,
    mime_type: Option<String>,
}

fn transport(e: reqwest::Error) -> MediaError {
    MediaError::Backend {
        kind: BackendErrorKind::Unavailable,
        message: e.to_string(),
    }
}

/// Graph's error body: `{"error": {"message", "type", "code", "error_subcode", …}}`.
fn graph_error(status: u16, body: &str) -> MediaError {
    #[derive(Deserialize)]
    struct Envelope {
        error: GraphError,
    }
    #[derive(Deserialize)]
    struct GraphError {
        #[serde(default)]
        message: String,
        code: Option<i64>,
    }
    let parsed = serde_json::from_str::<Envelope>(body).ok().map(|e| e.error);
    let code = parsed.as_ref().and_then(|e| e.code);
    let message = parsed.map(|e| e.message).unwrap_or_else(|| format!("HTTP {status}"));
    if matches!(status, 404 | 410) || code == Some(100) {
        return MediaError::Gone;
    }
    let kind = match (status, code) {
        (429, _) | (_, Some(4 | 17 | 32 | 613)) => BackendErrorKind::Throttled,
        (500..=599, _) => BackendErrorKind::Unavailable,
        _ => BackendErrorKind::Rejected,
    };
    MediaError::Backend { kind, message }
}

#[async_trait]
impl MediaSource for GraphMedia {
    async fn fetch(&self, channel: Channel, reference: &str, max_bytes: usize) -> Result<Media, MediaError> {
        match channel {
            Channel::Whatsapp => {
                let token = self
                    .whatsapp_token
                    .as_deref()
                    .ok_or_else(|| MediaError::Refused("no WHATSAPP_ACCESS_TOKEN configured".into()))?;
                if reference.is_empty() || !reference.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return Err(MediaError::Refused("not a WhatsApp media id".into()));
                }
                let info = self
                    .http
                    .get(format!("{}/{reference}", self.base_url))
                    .bearer_auth(token)
                    .send()
                    .await
                    .map_err(transport)?;
                let status = info.status().as_u16();
                let body = info.text().await.map_err(transport)?;
                if !(200..300).contains(&status) {
                    return Err(graph_error(status, &body));
                }
                let info: MediaInfo = serde_json::from_str(&body).map_err(|e| MediaError::Backend {
                    kind: BackendErrorKind::Rejected,
                    message: format!("unexpected media answer: {e}"),
                })?;
                if !self.allowed_link(&info.url) {
                    return Err(MediaError::Refused("the media URL is not on Meta's hosts".into()));
                }
                let mut media = self.get(&info.url, Some(token), max_bytes).await?;
                media.content_type = info.mime_type.or(media.content_type);
                Ok(media)
            }
            Channel::Instagram => {
                if !self.allowed_link(reference) {
                    return Err(MediaError::Refused("not a link on Meta's media hosts".into()));
                }
                self.get(reference, None, max_bytes).await
            }
            other => Err(MediaError::Refused(format!("{other} has no Graph media"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_fetched_only_from_meta_hosts_or_the_configured_origin() {
        let g = GraphMedia::new("http://127.0.0.1:9999/v21.0", None);
        assert!(g.allowed_link("https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1"));
        assert!(g.allowed_link("https://scontent.xx.fbcdn.net/v/t1/abc.jpg"));
        assert!(g.allowed_link("http://127.0.0.1:9999/cdn/1.jpg"));
        assert!(!g.allowed_link("http://lookaside.fbsbx.com/x"), "https only");
        assert!(!g.allowed_link("https://evil.example/fbsbx.com"));
        assert!(!g.allowed_link("https://fbsbx.com.evil.example/x"));
        assert!(!g.allowed_link("http://169.254.169.254/latest/meta-data"));
        assert!(!g.allowed_link("not a url"));
    }

    #[test]
    fn graph_errors_keep_their_kind() {
        let gone = r#"{"error":{"message":"Unsupported get request. Object with ID '1' does not exist","type":"GraphMethodException","code":100,"error_subcode":33}}"#;
        assert!(matches!(graph_error(400, gone), MediaError::Gone));
        assert!(matches!(graph_error(404, ""), MediaError::Gone));
        let throttled = r#"{"error":{"message":"(#4) Application request limit reached","code":4}}"#;
        assert!(matches!(
            graph_error(400, throttled),
            MediaError::Backend {
                kind: BackendErrorKind::Throttled,
                ..
            }
        ));
        assert!(matches!(
            graph_error(503, "oops"),
            MediaError::Backend {
                kind: BackendErrorKind::Unavailable,
                ..
            }
        ));
        let token = r#"{"error":{"message":"Error validating access token","type":"OAuthException","code":190}}"#;
        assert!(matches!(
            graph_error(401, token),
            MediaError::Backend {
                kind: BackendErrorKind::Rejected,
                ..
            }
        ));
    }
}
