//! The WhatsApp Cloud API webhook: `GET /webhooks/whatsapp` answers Meta's subscription
//! handshake; `POST` deliveries, signed with `X-Hub-Signature-256`, become inbound
//! messages (text, media, location, interactive and button replies) and delivery reports.

use baton_aws::meta_webhook::{from_env, handle_http, MetaWebhook};
use baton_domain::{channels::whatsapp, Channel};
use lambda_http::{Body, Request, Response};

pub fn webhook_from_env(sdk: &aws_config::SdkConfig) -> Result<MetaWebhook, baton_aws::ConfigError> {
    from_env(
        sdk,
        Channel::Whatsapp,
        "WHATSAPP_VERIFY_TOKEN",
        "WHATSAPP_APP_SECRET",
        whatsapp::parse,
    )
}

pub async fn handler(webhook: &MetaWebhook, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    Ok(handle_http(webhook, req).await)
}
