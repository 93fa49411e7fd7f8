//! The Instagram Messaging webhook: `GET /webhooks/instagram` answers Meta's
//! subscription handshake; `POST` deliveries, signed with `X-Hub-Signature-256`, become
//! inbound messages. Echoes of the business's own messages and deletions are not
//! customer messages and are skipped.

use baton_aws::meta_webhook::{from_env, handle_http, MetaWebhook};
use baton_domain::{channels::instagram, Channel};
use lambda_http::{Body, Request, Response};

pub fn webhook_from_env(sdk: &aws_config::SdkConfig) -> Result<MetaWebhook, baton_aws::ConfigError> {
    from_env(
        sdk,
        Channel::Instagram,
        "INSTAGRAM_VERIFY_TOKEN",
        "INSTAGRAM_APP_SECRET",
        instagram::parse,
    )
}

pub async fn handler(webhook: &MetaWebhook, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    Ok(handle_http(webhook, req).await)
}
