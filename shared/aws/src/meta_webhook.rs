//! The Meta webhooks' HTTP adapter: `lambda_http` requests to the webhook flow
//! (`baton_app::meta_webhook`) and its reply back, and the flow's wiring from the
//! environment.

pub use baton_app::meta_webhook::{MetaWebhook, Reply, MAX_BODY_BYTES};
use baton_domain::channels::{PayloadError, WebhookBatch};
use baton_domain::Channel;

/// Adapts a `lambda_http` request to the webhook: `GET` handshake, `POST` delivery.
pub async fn handle_http(webhook: &MetaWebhook, req: lambda_http::Request) -> lambda_http::Response<lambda_http::Body> {
    use lambda_http::RequestExt;
    let request_id = req
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    let span = tracing::info_span!("webhook", request_id = %request_id, channel = %webhook.channel);
    let _enter = span.enter();
    let r = match *req.method() {
        lambda_http::http::Method::GET => {
            let q = req.query_string_parameters_ref();
            let get = |k: &str| q.and_then(|q| q.first(k));
            webhook.handshake(get("hub.mode"), get("hub.verify_token"), get("hub.challenge"))
        }
        lambda_http::http::Method::POST => {
            let signature = req.headers().get("x-hub-signature-256").and_then(|v| v.to_str().ok());
            drop(_enter);
            let out =
                tracing::Instrument::instrument(webhook.deliver(signature, req.body().as_ref()), span.clone()).await;
            if out.reused_ids > 0 {
                crate::metrics::count(webhook.channel.as_str(), "ReusedMessageIds", out.reused_ids as u64);
            }
            return to_response(out);
        }
        _ => Reply {
            status: 405,
            body: "method not allowed".into(),
            reused_ids: 0,
        },
    };
    to_response(r)
}

fn to_response(r: Reply) -> lambda_http::Response<lambda_http::Body> {
    lambda_http::Response::builder()
        .status(r.status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(lambda_http::Body::Text(r.body))
        .expect("static response parts are valid")
}

/// The webhook for `channel` from the environment: `{PREFIX}_VERIFY_TOKEN`,
/// `{PREFIX}_APP_SECRET`, `TABLE_NAME`, `INBOUND_QUEUE_URL`.
pub fn from_env(
    sdk: &aws_config::SdkConfig,
    channel: Channel,
    verify_token_var: &'static str,
    app_secret_var: &'static str,
    parse: fn(&[u8]) -> Result<WebhookBatch, PayloadError>,
) -> Result<MetaWebhook, crate::ConfigError> {
    Ok(MetaWebhook {
        channel,
        verify_token: crate::env_var(verify_token_var, "the Meta webhook verify token")?,
        app_secret: crate::env_var(app_secret_var, "the Meta app secret")?,
        parse,
        store: std::sync::Arc::new(crate::DynamoStore::from_env(sdk)?),
        inbound_queue: std::sync::Arc::new(crate::SqsQueue::from_env(
            aws_sdk_sqs::Client::new(sdk),
            "INBOUND_QUEUE_URL",
        )?),
        clock: Box::new(baton_domain::SystemClock),
        inactivity: match crate::config::optional_env_var("CONVERSATION_INACTIVITY_HOURS") {
            None => baton_domain::conversation::DEFAULT_INACTIVITY,
            Some(h) => match h.parse::<u16>() {
                Ok(h) if h > 0 => time::Duration::hours(h.into()),
                _ => {
                    return Err(crate::ConfigError::Invalid {
                        name: "CONVERSATION_INACTIVITY_HOURS",
                        reason: "a whole number of hours, at least 1".into(),
                    })
                }
            },
        },
    })
}
