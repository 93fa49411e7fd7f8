//! The tenant's shop (admins): connect Shopify or a generic connector, check its health,
//! disconnect it; and an agent's refresh of a ticket's orders. The credential is checked
//! against the shop before it is stored, sealed with KMS, and never returned or logged.

use crate::error::{ApiError, ErrorBody};
use crate::{ok, Ctx};
use baton_app::shop::{LookupError, Shops};
use baton_domain::commerce::{CommerceError, ShopAccess, ShopConnection, ShopSettings};
use baton_domain::secrets::Secret;
use baton_domain::tenant::Tenant;
use baton_domain::Timestamp;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

type Res = Result<Response<Body>, ApiError>;

/// How a shop is connected.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShopBody {
    /// A Shopify shop: its `*.myshopify.com` domain and an Admin API access token with
    /// `read_orders` and `read_customers`.
    Shopify {
        domain: String,
        access_token: String,
        /// The Admin API version to pin (`2025-10`); the deployment's default if absent.
        #[serde(default)]
        api_version: Option<String>,
    },
    /// Any other shop: its connector's HTTPS URL and the secret Baton signs requests with
    /// (`docs/commerce.md`).
    Connector { url: String, signing_secret: String },
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShopView {
    pub connected: bool,
    /// `shopify` or `connector`.
    pub kind: Option<&'static str>,
    pub domain: Option<String>,
    pub api_version: Option<String>,
    pub url: Option<String>,
    /// The credential is stored (sealed; it is never returned).
    pub secret_stored: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub secret_updated_at: Option<Timestamp>,
    /// The shop's name, as it answered the check (on connect).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl ShopView {
    fn new(settings: Option<&ShopSettings>, name: Option<String>) -> Self {
        let mut view = ShopView {
            connected: settings.is_some(),
            kind: None,
            domain: None,
            api_version: None,
            url: None,
            secret_stored: settings.is_some(),
            secret_updated_at: settings.map(|s| s.secret_updated_at),
            name,
        };
        match settings.map(|s| &s.connection) {
            Some(ShopConnection::Shopify { domain, api_version }) => {
                view.kind = Some("shopify");
                view.domain = Some(domain.clone());
                view.api_version = Some(api_version.clone());
            }
            Some(ShopConnection::Connector { url }) => {
                view.kind = Some("connector");
                view.url = Some(url.clone());
            }
            None => {}
        }
        view
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShopCheckView {
    pub healthy: bool,
    pub name: Option<String>,
    /// Why not: `timeout`, `unavailable`, `throttled`, `refused`, `bad_answer`.
    pub error: Option<&'static str>,
    /// The same in plain words.
    pub reason: Option<String>,
}

fn shops<'a>(ctx: &'a Ctx<'_>) -> Result<&'a Shops, ApiError> {
    ctx.deps.shops.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "not_configured",
            "this deployment does not reach shops",
        )
    })
}

/// A refused credential is the caller's to fix (422); a shop that did not answer is not
/// (502), and nothing was stored.
fn shop_error(e: &CommerceError) -> ApiError {
    let status = match e {
        CommerceError::Refused(_) | CommerceError::NotConnected => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::BAD_GATEWAY,
    };
    let code = match e {
        CommerceError::Refused(_) => "shop_refused",
        CommerceError::NotConnected => "shop_not_connected",
        _ => "shop_unavailable",
    };
    ApiError::new(status, code, e.reason())
}

/// `name.myshopify.com` (lowercase); a loopback `host:port` only where local shops are
/// allowed (`make dev`).
pub(crate) fn shopify_domain(raw: &str, loopback: bool) -> Option<String> {
    let d = raw.trim().trim_end_matches('/').to_ascii_lowercase();
    let d = d.strip_prefix("https://").unwrap_or(&d);
    if loopback && is_loopback_authority(d) {
        return Some(d.to_owned());
    }
    let name = d.strip_suffix(".myshopify.com")?;
    let ok = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    ok.then(|| d.to_owned())
}

fn is_loopback_authority(a: &str) -> bool {
    let Some((host, port)) = a.rsplit_once(':') else {
        return false;
    };
    matches!(host, "127.0.0.1" | "localhost") && !port.is_empty() && port.parse::<u16>().is_ok()
}

/// An `https://` URL on a named host (no credentials, no IP literal, so a tenant cannot
/// aim Baton at an internal address by number); `http://` loopback only where local
/// shops are allowed.
pub(crate) fn connector_url(raw: &str, loopback: bool) -> Option<String> {
    let url = raw.trim();
    if url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "https" if loopback && is_loopback_authority(&authority.to_ascii_lowercase()) => {
            return Some(url.to_owned())
        }
        "https" => {}
        _ => return None,
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, Some(p)),
        _ => (authority, None),
    };
    if port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return None;
    }
    let host = host.to_ascii_lowercase();
    let named = host.contains('.')
        && host.bytes().any(|b| b.is_ascii_lowercase())
        && host.parse::<std::net::IpAddr>().is_err()
        && !host.ends_with(".localhost")
        && host != "localhost"
        && host
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    named.then(|| url.to_owned())
}

fn is_api_version(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 7 && b[4] == b'-' && b.iter().enumerate().all(|(i, c)| i == 4 || c.is_ascii_digit())
}

fn secret_shape(s: &str, min: usize) -> bool {
    (min..=512).contains(&s.len()) && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The connection and its credential, or every field that is wrong.
fn validate(body: ShopBody, loopback: bool) -> Result<(ShopConnection, Secret), ApiError> {
    let mut errors = BTreeMap::new();
    let connection = match body {
        ShopBody::Shopify {
            domain,
            access_token,
            api_version,
        } => {
            let domain = shopify_domain(&domain, loopback);
            if domain.is_none() {
                errors.insert("domain".into(), "the shop's domain, like my-shop.myshopify.com".into());
            }
            if !secret_shape(&access_token, 16) {
                errors.insert(
                    "access_token".into(),
                    "an Admin API access token (16-512 characters, no spaces)".into(),
                );
            }
            let api_version = api_version.unwrap_or_else(baton_aws::shop::shopify_api_version_from_env);
            if !is_api_version(&api_version) {
                errors.insert("api_version".into(), "a Shopify API version like 2025-10".into());
            }
            domain.map(|domain| (ShopConnection::Shopify { domain, api_version }, access_token))
        }
        ShopBody::Connector { url, signing_secret } => {
            let url = connector_url(&url, loopback);
            if url.is_none() {
                errors.insert(
                    "url".into(),
                    "an https:// URL on a named host (no IP address, no credentials)".into(),
                );
            }
            if !secret_shape(&signing_secret, 24) {
                errors.insert(
                    "signing_secret".into(),
                    "24-512 characters, no spaces (generate a random one)".into(),
                );
            }
            url.map(|url| (ShopConnection::Connector { url }, signing_secret))
        }
    };
    match connection {
        Some((connection, secret)) if errors.is_empty() => Ok((connection, Secret::new(secret))),
        _ => Err(ApiError::validation(errors)),
    }
}

async fn tenant(ctx: &Ctx<'_>) -> Result<Tenant, ApiError> {
    Ok(ctx.deps.store.get_tenant(&ctx.caller.tenant).await?)
}

#[utoipa::path(
    get, operation_id = "admin_get_shop", path = "/v1/shop", tag = "shop",
    summary = "The connected shop (admins)",
    description = "Where the shop is and whether its credential is stored; the credential itself is never returned.",
    responses((status = 200, body = ShopView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get(ctx: &Ctx<'_>) -> Res {
    let tenant = tenant(ctx).await?;
    ok(&ShopView::new(tenant.shop.as_ref(), None))
}

#[utoipa::path(
    put, operation_id = "admin_connect_shop", path = "/v1/shop", tag = "shop",
    summary = "Connect (or reconnect) the shop (admins)",
    description = "Shopify (`kind: shopify`, `domain`, `access_token`, optional `api_version`) or a generic \
                   connector (`kind: connector`, `url`, `signing_secret`). The shop is asked first with the \
                   credential: one it refuses is `422 shop_refused`, a shop that does not answer `502 \
                   shop_unavailable`, and nothing is stored. Then the credential is sealed and stored with \
                   the settings.",
    request_body = ShopBody,
    responses(
        (status = 200, body = ShopView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 502, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn put(ctx: &Ctx<'_>) -> Res {
    let shops = shops(ctx)?;
    let (connection, secret) = validate(ctx.json()?, ctx.deps.loopback_shops)?;
    ctx.rate_limit("shop-connect", 10).await?;
    let access = ShopAccess {
        tenant: ctx.caller.tenant.clone(),
        connection: connection.clone(),
        secret: secret.clone(),
    };
    let info = shops.verify(&access).await.map_err(|e| {
        tracing::warn!(error = %e, "the shop refused or did not answer; not connected");
        shop_error(&e)
    })?;
    let settings = shops.connect(&ctx.caller.tenant, connection, &secret, ctx.now).await?;
    ok(&ShopView::new(Some(&settings), Some(info.name)))
}

#[utoipa::path(
    delete, operation_id = "admin_disconnect_shop", path = "/v1/shop", tag = "shop",
    summary = "Disconnect the shop (admins)",
    description = "Settings and credential removed; the AI stops answering order questions (the knowledge base answers).",
    responses((status = 200, body = ShopView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn delete(ctx: &Ctx<'_>) -> Res {
    let shops = shops(ctx)?;
    shops.disconnect(&ctx.caller.tenant).await?;
    ok(&ShopView::new(None, None))
}

#[utoipa::path(
    post, operation_id = "admin_check_shop", path = "/v1/shop/check", tag = "shop",
    summary = "Ask the connected shop whether it answers (admins)",
    description = "`healthy` with the shop's name, or the kind of failure and its reason. `404` when no shop is connected.",
    responses(
        (status = 200, body = ShopCheckView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn check(ctx: &Ctx<'_>) -> Res {
    let shops = shops(ctx)?;
    let tenant = tenant(ctx).await?;
    if tenant.shop.is_none() {
        return Err(ApiError::not_found("shop"));
    }
    ctx.rate_limit("shop-check", 30).await?;
    let view = match shops.check(&tenant).await {
        Ok(info) => ShopCheckView {
            healthy: true,
            name: Some(info.name),
            error: None,
            reason: None,
        },
        Err(LookupError::Shop(e)) => ShopCheckView {
            healthy: false,
            name: None,
            error: Some(e.code()),
            reason: Some(e.reason()),
        },
        Err(LookupError::Store(e)) => return Err(e.into()),
    };
    ok(&view)
}

#[utoipa::path(
    post, operation_id = "tickets_refresh_orders", path = "/v1/tickets/{number}/orders/refresh", tag = "tickets",
    summary = "Fetch the ticket's orders from the shop again",
    description = "The customer's recent orders (by the identity their channel verified) and the order the \
                   ticket is about, as the shop has them now; a shop that fails leaves its reason in \
                   `orders.error`. Send the `version` you read; returns the ticket. `404` when no shop is \
                   connected.",
    params(("number" = u64, Path)),
    request_body = crate::views::VersionBody,
    responses(
        (status = 200, body = crate::views::TicketView), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn refresh_orders(ctx: &Ctx<'_>) -> Res {
    let body: crate::views::VersionBody = ctx.json()?;
    let ticket = crate::tickets::load_at(ctx, body.version).await?;
    let shops = shops(ctx)?;
    let tenant = tenant(ctx).await?;
    ctx.rate_limit("orders-refresh", 30).await?;
    let number = ticket.number;
    match baton_app::shop::refresh_orders(shops, ctx.deps.store.as_ref(), &tenant, ticket, ctx.now).await {
        Ok(Some(ticket)) => ok(&crate::views::TicketView::new(&ticket, ctx.now)),
        Ok(None) => Err(ApiError::not_found("shop")),
        // Changed while the shop was asked: the agent reads it again.
        Err(baton_domain::StoreError::Conflict { .. }) => {
            let current = ctx.deps.store.get_ticket(&ctx.caller.tenant, number).await?;
            Err(crate::tickets::conflict(ctx, &current))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shopify_domains_are_the_shop_s_own() {
        assert_eq!(
            shopify_domain(" My-Shop.myshopify.com/ ", false).as_deref(),
            Some("my-shop.myshopify.com")
        );
        assert_eq!(
            shopify_domain("https://demo.myshopify.com", false).as_deref(),
            Some("demo.myshopify.com")
        );
        assert!(shopify_domain("evil.example", false).is_none());
        assert!(shopify_domain("a.b.myshopify.com", false).is_none());
        assert!(shopify_domain(".myshopify.com", false).is_none());
        assert!(
            shopify_domain("127.0.0.1:8080", false).is_none(),
            "loopback only locally"
        );
        assert_eq!(
            shopify_domain("127.0.0.1:8080", true).as_deref(),
            Some("127.0.0.1:8080")
        );
    }

    #[test]
    fn connector_urls_are_https_on_a_named_host() {
        assert!(connector_url("https://shop.example/baton", false).is_some());
        assert!(connector_url("https://shop.example:8443/baton?x=1", false).is_some());
        assert!(connector_url("http://shop.example/baton", false).is_none());
        assert!(connector_url("https://169.254.169.254/latest", false).is_none());
        assert!(connector_url("https://10.0.0.1/", false).is_none());
        assert!(connector_url("https://[::1]/", false).is_none());
        assert!(connector_url("https://user:pw@shop.example/", false).is_none());
        assert!(connector_url("https://localhost/", false).is_none());
        assert!(connector_url("https://shop.example:99999/", false).is_none());
        assert!(connector_url("ftp://shop.example/", false).is_none());
        assert!(connector_url("http://127.0.0.1:8080/connector", false).is_none());
        assert!(connector_url("http://127.0.0.1:8080/connector", true).is_some());
    }

    #[test]
    fn every_wrong_field_is_named() {
        let body: ShopBody = serde_json::from_value(serde_json::json!({
            "kind": "shopify", "domain": "nope", "access_token": "short", "api_version": "latest"
        }))
        .unwrap();
        let e = validate(body, false).unwrap_err();
        let fields = e.fields.unwrap();
        assert!(
            fields.contains_key("domain") && fields.contains_key("access_token") && fields.contains_key("api_version")
        );
        let body: ShopBody = serde_json::from_value(serde_json::json!({
            "kind": "connector", "url": "https://shop.example/c", "signing_secret": "0123456789abcdef0123456789"
        }))
        .unwrap();
        assert!(validate(body, false).is_ok());
    }
}
