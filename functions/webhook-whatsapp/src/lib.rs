//! The WhatsApp Cloud API webhook.
//!
//! `GET /webhooks/whatsapp` answers Meta's subscription handshake. Deliveries (`POST`,
//! signed with `X-Hub-Signature-256`) are added with the channel-intake work.

use baton_domain::meta::{verify_handshake, HandshakeError};
use lambda_http::{Body, Request, RequestExt, Response};

pub struct Deps {
    pub verify_token: String,
}

impl Deps {
    pub fn from_env() -> Result<Self, baton_aws::ConfigError> {
        Ok(Deps {
            verify_token: baton_aws::env_var(
                "WHATSAPP_VERIFY_TOKEN",
                "the WhatsApp webhook verify token",
            )?,
        })
    }
}

fn text(status: u16, body: impl Into<String>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Body::Text(body.into()))
        .expect("static response parts are valid")
}

pub async fn handler(deps: &Deps, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    let request_id = req
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    let span =
        tracing::info_span!("whatsapp_webhook", request_id = %request_id, method = %req.method());
    let _enter = span.enter();
    if req.method() != lambda_http::http::Method::GET {
        return Ok(text(405, "method not allowed"));
    }
    let q = req.query_string_parameters_ref();
    let get = |k: &str| q.and_then(|q| q.first(k));
    match verify_handshake(
        get("hub.mode"),
        get("hub.verify_token"),
        get("hub.challenge"),
        &deps.verify_token,
    ) {
        Ok(challenge) => {
            tracing::info!("webhook subscription verified");
            Ok(text(200, challenge))
        }
        Err(e @ HandshakeError::Incomplete) => Ok(text(400, e.to_string())),
        Err(e) => {
            tracing::warn!(reason = %e, "webhook verification refused");
            Ok(text(403, "forbidden"))
        }
    }
}
