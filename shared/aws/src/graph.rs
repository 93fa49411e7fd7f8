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
//!
//! [`GraphSender`] is the `MessagingApi` port: WhatsApp's
//! `POST {base}/{version}/{phone_number_id}/messages` and Instagram's
//! `POST {base}/{version}/me/messages`, with the errors classified by
//! `meta_send::classify_meta_error`.

use crate::lazy_http::LazyHttp;
use async_trait::async_trait;
use baton_domain::error::BackendErrorKind;
use baton_domain::meta_send::{self, MetaFailure};
use baton_domain::ports::{ChannelTokens, Media, MediaError, MediaSource, MessagingApi, SendError};
use baton_domain::{Channel, StoreError, TenantId};
use serde::Deserialize;
use std::time::Duration;

/// One Graph call's limit, connection to last byte.
const GRAPH_TIMEOUT: Duration = Duration::from_secs(10);

/// Meta's Graph API.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";
/// The Graph API version Baton is written against (`GRAPH_API_VERSION` overrides it).
pub const DEFAULT_VERSION: &str = "v21.0";

/// `GRAPH_API_BASE_URL` (default [`DEFAULT_BASE_URL`]) joined with `GRAPH_API_VERSION`
/// (default [`DEFAULT_VERSION`]): where every Graph call goes.
pub fn versioned_base_from_env() -> String {
    let base = crate::config::optional_env_var("GRAPH_API_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.into());
    let version = crate::config::optional_env_var("GRAPH_API_VERSION").unwrap_or_else(|| DEFAULT_VERSION.into());
    format!("{}/{}", base.trim_end_matches('/'), version.trim_matches('/'))
}

/// Hosts Meta serves messaging media from.
const META_MEDIA_HOSTS: &[&str] = &["fbsbx.com", "fbcdn.net", "cdninstagram.com", "facebook.com"];

pub struct GraphMedia {
    http: LazyHttp,
    base_url: String,
    /// The tenant's WhatsApp token reads its media (Instagram links need none).
    tokens: std::sync::Arc<dyn ChannelTokens>,
}

impl GraphMedia {
    pub fn new(base_url: impl Into<String>, tokens: std::sync::Arc<dyn ChannelTokens>) -> Self {
        GraphMedia {
            http: LazyHttp::new(|| reqwest::redirect::Policy::limited(3), GRAPH_TIMEOUT),
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            tokens,
        }
    }

    /// [`versioned_base_from_env`], with the tenants' tokens.
    pub fn from_env(tokens: std::sync::Arc<dyn ChannelTokens>) -> Self {
        GraphMedia::new(versioned_base_from_env(), tokens)
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
        let mut req = self.http.get().map_err(unavailable)?.get(url);
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
    unavailable(e.to_string())
}

fn unavailable(message: String) -> MediaError {
    MediaError::Backend {
        kind: BackendErrorKind::Unavailable,
        message,
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
    async fn fetch(
        &self,
        tenant: &TenantId,
        channel: Channel,
        reference: &str,
        max_bytes: usize,
    ) -> Result<Media, MediaError> {
        match channel {
            Channel::Whatsapp => {
                let token = self
                    .tokens
                    .token(tenant, channel)
                    .await
                    .map_err(|e| MediaError::Backend {
                        kind: if e.is_retryable() {
                            BackendErrorKind::Unavailable
                        } else {
                            BackendErrorKind::Rejected
                        },
                        message: format!("the channel's token could not be read: {e}"),
                    })?
                    .ok_or_else(|| MediaError::Refused("the tenant's WhatsApp has no access token".into()))?;
                let token = token.as_str();
                if reference.is_empty() || !reference.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return Err(MediaError::Refused("not a WhatsApp media id".into()));
                }
                let info = self
                    .http
                    .get()
                    .map_err(unavailable)?
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

/// The Graph API's send endpoints (the `MessagingApi` port).
pub struct GraphSender {
    http: LazyHttp,
    /// Including the version: `https://graph.facebook.com/v21.0`.
    base_url: String,
}

impl GraphSender {
    pub fn new(versioned_base_url: impl Into<String>) -> Self {
        GraphSender {
            http: LazyHttp::new(reqwest::redirect::Policy::none, GRAPH_TIMEOUT),
            base_url: versioned_base_url.into().trim_end_matches('/').to_owned(),
        }
    }

    pub fn from_env() -> Self {
        GraphSender::new(versioned_base_from_env())
    }
}

#[async_trait]
impl MessagingApi for GraphSender {
    async fn send(
        &self,
        channel: Channel,
        account: &str,
        token: &str,
        body: &serde_json::Value,
    ) -> Result<String, SendError> {
        let instagram = channel == Channel::Instagram;
        let failure = |failure, code, message: String| SendError {
            channel,
            failure,
            code,
            message,
        };
        let url = match channel {
            Channel::Whatsapp if !account.is_empty() && account.bytes().all(|b| b.is_ascii_digit()) => {
                format!("{}/{account}/messages", self.base_url)
            }
            Channel::Whatsapp => return Err(failure(MetaFailure::Disconnected, None, "not a phone number id".into())),
            Channel::Instagram => format!("{}/me/messages", self.base_url),
            other => {
                return Err(failure(
                    MetaFailure::Failed,
                    None,
                    format!("{other} is not sent through Graph"),
                ))
            }
        };
        let http = self
            .http
            .get()
            .map_err(|e| failure(MetaFailure::Unavailable, None, e))?;
        let resp = http
            .post(url)
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .map_err(|e| failure(MetaFailure::Unavailable, None, e.to_string()))?;
        let status = resp.status().as_u16();
        let text = resp
            .text()
            .await
            .map_err(|e| failure(MetaFailure::Unavailable, None, e.to_string()))?;
        let value: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        if (200..300).contains(&status) {
            // WhatsApp: {"messages":[{"id":"wamid…"}]}; Instagram: {"message_id":"…"}.
            let id = value["messages"][0]["id"].as_str().or(value["message_id"].as_str());
            return id.map(str::to_owned).ok_or_else(|| {
                failure(
                    MetaFailure::Unavailable,
                    None,
                    format!("an answer without a message id: {text:.200}"),
                )
            });
        }
        let error = &value["error"];
        let code = error["code"].as_i64();
        let subcode = error["error_subcode"].as_i64();
        let mut message = error["message"].as_str().unwrap_or("").to_owned();
        if let Some(details) = error["error_data"]["details"].as_str() {
            message = format!("{message}: {details}");
        }
        if message.is_empty() {
            message = format!("HTTP {status}");
        }
        Err(failure(
            meta_send::classify_meta_error(status, code, subcode, instagram),
            code,
            message,
        ))
    }
}

/// The deployment's access tokens, the same for every tenant (`WHATSAPP_ACCESS_TOKEN`,
/// `INSTAGRAM_ACCESS_TOKEN`): a single-business deployment's setup, until a tenant
/// connects its own.
pub struct EnvTokens {
    pub whatsapp: Option<String>,
    pub instagram: Option<String>,
}

impl EnvTokens {
    pub fn from_env() -> Self {
        EnvTokens {
            whatsapp: crate::config::optional_env_var("WHATSAPP_ACCESS_TOKEN"),
            instagram: crate::config::optional_env_var("INSTAGRAM_ACCESS_TOKEN"),
        }
    }
}

#[async_trait]
impl ChannelTokens for EnvTokens {
    async fn token(&self, _tenant: &TenantId, channel: Channel) -> Result<Option<String>, StoreError> {
        Ok(match channel {
            Channel::Whatsapp => self.whatsapp.clone(),
            Channel::Instagram => self.instagram.clone(),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_fetched_only_from_meta_hosts_or_the_configured_origin() {
        let g = GraphMedia::new(
            "http://127.0.0.1:9999/v21.0",
            std::sync::Arc::new(EnvTokens {
                whatsapp: None,
                instagram: None,
            }),
        );
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
