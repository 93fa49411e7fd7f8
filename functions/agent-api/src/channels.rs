//! A tenant's channel connections (admins): WhatsApp, Instagram, e-mail and the widget.
//! Access tokens are sealed with KMS before they are stored and are never returned; what
//! comes back is whether a token is stored, since when, and the connection's health.

use crate::error::{ApiError, ErrorBody, Fields};
use crate::{ok, Ctx};
use baton_app::connections::{self, Changed, ConnectionPorts};
use baton_domain::connections::{has_stored_token, Connection};
use baton_domain::meta_send::WhatsAppTemplate;
use baton_domain::secrets::Secret;
use baton_domain::tenant::{ChannelHealth, EmailFrom, Tenant};
use baton_domain::{Channel, StoreError, Timestamp};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

type Res = Result<Response<Body>, ApiError>;

// ------------------------------------------------------------------ views

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelsView {
    /// Send it back as `expected_revision` to refuse a change made meanwhile.
    pub revision: u64,
    pub whatsapp: Option<WhatsAppView>,
    pub instagram: Option<InstagramView>,
    pub email: Option<EmailView>,
    pub widget: Option<WidgetView>,
    /// After a change with a new token: the replies that waited while the channel was
    /// disconnected and are now sent (`null`: they could not be put back yet; connect
    /// again to retry).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replayed: Option<Option<usize>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    /// Meta refused the token or a permission: replies wait until it is reconnected.
    pub disconnected: bool,
    pub last_error: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_error_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_success_at: Option<Timestamp>,
}

impl From<Option<&ChannelHealth>> for HealthView {
    fn from(h: Option<&ChannelHealth>) -> Self {
        let h = h.cloned().unwrap_or_default();
        HealthView {
            disconnected: h.disconnected,
            last_error: h.last_error,
            last_error_at: h.last_error_at,
            last_success_at: h.last_success_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TemplateBody {
    /// An approved template's name.
    pub name: String,
    /// Its language code as Meta names it (`en_US`).
    pub language: String,
    /// Body parameters in order; `{text}` becomes the reply, `{ticket}` the ticket number.
    #[serde(default)]
    pub body_parameters: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WhatsAppView {
    pub phone_number_ids: Vec<String>,
    pub business_account_id: Option<String>,
    /// The tenant stored its own access token (else the deployment's is used, if any).
    pub token_stored: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub token_updated_at: Option<Timestamp>,
    pub outside_window_template: Option<TemplateBody>,
    pub health: HealthView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InstagramView {
    pub account_id: Option<String>,
    pub token_stored: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub token_updated_at: Option<Timestamp>,
    /// The tenant's app has Meta's Human Agent permission (people may answer for 7 days).
    pub human_agent_allowed: bool,
    pub health: HealthView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EmailView {
    pub slug: String,
    /// Where customers (or the tenant's forwarding) write: `support+{slug}@{domain}`.
    pub inbound_address: Option<String>,
    pub from_address: Option<String>,
    pub display_name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetView {
    /// The public key in the page's script tag.
    pub key: String,
    pub allowed_origins: Vec<String>,
}

fn view(ctx: &Ctx<'_>, t: &Tenant) -> ChannelsView {
    let c = &t.channels;
    let whatsapp = (!c.whatsapp_phone_number_ids.is_empty()).then(|| {
        let w = c.whatsapp.clone().unwrap_or_default();
        WhatsAppView {
            phone_number_ids: c.whatsapp_phone_number_ids.clone(),
            business_account_id: w.business_account_id,
            token_stored: has_stored_token(c, Channel::Whatsapp),
            token_updated_at: w.token_updated_at,
            outside_window_template: w.outside_window_template.map(|t| TemplateBody {
                name: t.name,
                language: t.language,
                body_parameters: t.body_parameters,
            }),
            health: t.whatsapp_health.as_ref().into(),
        }
    });
    let instagram = (!c.instagram_account_ids.is_empty()).then(|| {
        let i = c.instagram.clone().unwrap_or_default();
        InstagramView {
            account_id: c.instagram_account_ids.first().cloned(),
            token_stored: has_stored_token(c, Channel::Instagram),
            token_updated_at: i.token_updated_at,
            human_agent_allowed: i.human_agent_allowed,
            health: t.instagram_health.as_ref().into(),
        }
    });
    let email = c.email_slug.as_ref().map(|slug| EmailView {
        slug: slug.clone(),
        inbound_address: ctx
            .deps
            .inbound_email_domain
            .as_ref()
            .map(|d| format!("support+{slug}@{d}")),
        from_address: c.email_from.as_ref().and_then(|f| f.address.clone()),
        display_name: c.email_from.as_ref().and_then(|f| f.display_name.clone()),
    });
    let widget = c.widget.as_ref().map(|w| WidgetView {
        key: w.key.clone(),
        allowed_origins: w.allowed_origins.clone(),
    });
    ChannelsView {
        revision: t.channels_revision,
        whatsapp,
        instagram,
        email,
        widget,
        replayed: None,
    }
}

// ------------------------------------------------------------------ bodies

#[derive(Deserialize, ToSchema)]
pub struct WhatsAppBody {
    /// The numbers' ids in Meta's WhatsApp Manager (1 to 10).
    #[serde(default)]
    pub phone_number_ids: Vec<String>,
    pub business_account_id: Option<String>,
    /// A system user's permanent token; stored sealed, never returned. Absent: the stored
    /// one is kept.
    pub access_token: Option<String>,
    /// Sent instead of a reply when the 24-hour window is closed; absent: such replies
    /// are marked for follow-up on another channel.
    pub outside_window_template: Option<TemplateBody>,
    pub expected_revision: Option<u64>,
}

#[derive(Deserialize, ToSchema)]
pub struct InstagramBody {
    /// The Instagram professional account's id.
    pub account_id: Option<String>,
    /// The account's Instagram Login token; stored sealed, never returned.
    pub access_token: Option<String>,
    #[serde(default)]
    pub human_agent_allowed: bool,
    pub expected_revision: Option<u64>,
}

#[derive(Deserialize, ToSchema)]
pub struct EmailBody {
    /// Selects the tenant in `support+{slug}@…`: lowercase letters, digits and '-'.
    pub slug: Option<String>,
    /// An address of a domain verified in SES; absent: the deployment's.
    pub from_address: Option<String>,
    pub display_name: Option<String>,
    pub expected_revision: Option<u64>,
}

#[derive(Deserialize, ToSchema)]
pub struct WidgetBody {
    /// Origins allowed to embed the widget (`https://shop.example`; `http` only for
    /// localhost), 1 to 20.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    pub expected_revision: Option<u64>,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct RevisionBody {
    pub expected_revision: Option<u64>,
}

impl std::fmt::Debug for WhatsAppBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsAppBody")
            .field("phone_number_ids", &self.phone_number_ids)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for InstagramBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstagramBody")
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

// ------------------------------------------------------------------ checks

fn digits(f: &mut Fields, field: &str, v: Option<&str>) -> String {
    let v = v.unwrap_or("").trim();
    f.check(
        (5..=32).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit()),
        field,
        "Meta's numeric id (5 to 32 digits)",
    );
    v.to_owned()
}

fn token(f: &mut Fields, v: Option<&str>) -> Option<Secret> {
    let v = v?;
    f.check(
        (20..=2048).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()),
        "access_token",
        "20 to 2048 printable characters, no spaces",
    );
    Some(Secret::new(v))
}

fn template(f: &mut Fields, t: Option<TemplateBody>) -> Option<WhatsAppTemplate> {
    let t = t?;
    f.check(
        (1..=512).contains(&t.name.len())
            && t.name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
        "outside_window_template.name",
        "lowercase letters, digits and '_'",
    );
    f.check(
        (2..=15).contains(&t.language.len()) && t.language.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_'),
        "outside_window_template.language",
        "a language code such as en_US",
    );
    f.list("outside_window_template.body_parameters", &t.body_parameters, 10, 1024);
    Some(WhatsAppTemplate {
        name: t.name,
        language: t.language,
        body_parameters: t.body_parameters,
    })
}

/// `scheme://host[:port]`, lower-cased, without a path; `http` only for local hosts.
pub fn origin(s: &str) -> Option<String> {
    let s = s.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, rest) = s.split_once("://")?;
    let host = rest.rsplit_once(':').map_or(rest, |(h, port)| {
        if !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            ""
        }
    });
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && !host.starts_with(['.', '-']);
    let local = host == "localhost" || host == "127.0.0.1";
    (host_ok && (scheme == "https" || (scheme == "http" && local))).then_some(s)
}

fn widget_key() -> String {
    format!("wk_{}", ulid::Ulid::new().to_string().to_ascii_lowercase())
}

// ------------------------------------------------------------------ handlers

async fn load(ctx: &Ctx<'_>, expected: Option<u64>) -> Result<Tenant, ApiError> {
    let tenant = ctx.deps.store.get_tenant(&ctx.caller.tenant).await?;
    if expected.is_some_and(|e| e != tenant.channels_revision) {
        return Err(changed_meanwhile());
    }
    Ok(tenant)
}

fn changed_meanwhile() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "conflict",
        "the channel connections changed meanwhile; read them again and retry",
    )
}

fn ports<'a>(ctx: &'a Ctx<'_>) -> ConnectionPorts<'a> {
    ConnectionPorts {
        store: ctx.deps.store.as_ref(),
        secrets: ctx.deps.secrets.as_ref(),
        clock: ctx.deps.clock.as_ref(),
        outbound: ctx.deps.queues.outbound.as_deref(),
    }
}

fn changed(ctx: &Ctx<'_>, r: Result<Changed, StoreError>) -> Res {
    match r {
        Ok(c) => ok(&ChannelsView {
            replayed: Some(c.replayed),
            ..view(ctx, &c.tenant)
        }),
        Err(StoreError::AlreadyExists { .. }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "endpoint_taken",
            "that endpoint is connected to another tenant",
        )),
        Err(StoreError::Conflict { .. }) => Err(changed_meanwhile()),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    get, operation_id = "admin_get_channels", path = "/v1/channels", tag = "channels",
    summary = "The tenant's channel connections and their health (admins)",
    description = "Tokens are never returned: `token_stored` and `token_updated_at` say whether \
                   and when one was stored.",
    responses((status = 200, body = ChannelsView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get(ctx: &Ctx<'_>) -> Res {
    let tenant = ctx.deps.store.get_tenant(&ctx.caller.tenant).await?;
    ok(&view(ctx, &tenant))
}

#[utoipa::path(
    put, operation_id = "admin_connect_whatsapp", path = "/v1/channels/whatsapp", tag = "channels",
    summary = "Connect or change WhatsApp (admins)",
    description = "The numbers are claimed for this tenant in the same transaction as the \
                   connection (`409 endpoint_taken` if another tenant has one). A new token is \
                   sealed with KMS, marks the channel connected and sends the replies that \
                   waited while it was disconnected.",
    request_body = WhatsAppBody,
    responses(
        (status = 200, body = ChannelsView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn put_whatsapp(ctx: &Ctx<'_>) -> Res {
    let body: WhatsAppBody = ctx.json()?;
    let mut f = Fields::default();
    f.check(
        (1..=10).contains(&body.phone_number_ids.len()),
        "phone_number_ids",
        "1 to 10 phone number ids",
    );
    let mut ids: Vec<String> = Vec::new();
    for (i, id) in body.phone_number_ids.iter().enumerate() {
        let id = digits(&mut f, &format!("phone_number_ids[{i}]"), Some(id));
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let waba = digits(&mut f, "business_account_id", body.business_account_id.as_deref());
    let token = token(&mut f, body.access_token.as_deref());
    let template = template(&mut f, body.outside_window_template);
    f.finish()?;
    let tenant = load(ctx, body.expected_revision).await?;
    let connection = Connection::Whatsapp {
        phone_number_ids: ids,
        business_account_id: waba,
        outside_window_template: template,
    };
    changed(ctx, connections::connect(&ports(ctx), &tenant, connection, token).await)
}

#[utoipa::path(
    put, operation_id = "admin_connect_instagram", path = "/v1/channels/instagram", tag = "channels",
    summary = "Connect or change Instagram (admins)",
    request_body = InstagramBody,
    responses(
        (status = 200, body = ChannelsView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn put_instagram(ctx: &Ctx<'_>) -> Res {
    let body: InstagramBody = ctx.json()?;
    let mut f = Fields::default();
    let account_id = digits(&mut f, "account_id", body.account_id.as_deref());
    let token = token(&mut f, body.access_token.as_deref());
    f.finish()?;
    let tenant = load(ctx, body.expected_revision).await?;
    let connection = Connection::Instagram {
        account_id,
        human_agent_allowed: body.human_agent_allowed,
    };
    changed(ctx, connections::connect(&ports(ctx), &tenant, connection, token).await)
}

#[utoipa::path(
    put, operation_id = "admin_connect_email", path = "/v1/channels/email", tag = "channels",
    summary = "Connect or change e-mail (admins)",
    request_body = EmailBody,
    responses(
        (status = 200, body = ChannelsView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn put_email(ctx: &Ctx<'_>) -> Res {
    let body: EmailBody = ctx.json()?;
    let mut f = Fields::default();
    let slug = body.slug.unwrap_or_default().trim().to_ascii_lowercase();
    f.check(
        (1..=48).contains(&slug.len())
            && slug
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !slug.starts_with('-')
            && !slug.ends_with('-'),
        "slug",
        "1 to 48 lowercase letters, digits and '-'",
    );
    let address = body.from_address.map(|a| a.trim().to_ascii_lowercase());
    if let Some(a) = &address {
        f.check(
            crate::admin::valid_email(a) && a.len() <= 254,
            "from_address",
            "not an e-mail address",
        );
    }
    let name = body.display_name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if let Some(n) = &name {
        f.text("display_name", n, 1, 100);
        f.check(
            !n.chars().any(char::is_control),
            "display_name",
            "no control characters",
        );
    }
    f.finish()?;
    let tenant = load(ctx, body.expected_revision).await?;
    let from = (address.is_some() || name.is_some()).then_some(EmailFrom {
        address,
        display_name: name,
    });
    changed(
        ctx,
        connections::connect(&ports(ctx), &tenant, Connection::Email { slug, from }, None).await,
    )
}

#[utoipa::path(
    put, operation_id = "admin_connect_widget", path = "/v1/channels/widget", tag = "channels",
    summary = "Set up the widget and its allowed origins (admins)",
    description = "The first call creates the widget's key; later calls keep it.",
    request_body = WidgetBody,
    responses(
        (status = 200, body = ChannelsView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn put_widget(ctx: &Ctx<'_>) -> Res {
    let body: WidgetBody = ctx.json()?;
    let mut f = Fields::default();
    f.check(
        (1..=20).contains(&body.allowed_origins.len()),
        "allowed_origins",
        "1 to 20 origins",
    );
    let mut origins: Vec<String> = Vec::new();
    for (i, o) in body.allowed_origins.iter().enumerate() {
        match origin(o) {
            Some(o) if !origins.contains(&o) => origins.push(o),
            Some(_) => {}
            None => {
                f.check(
                    false,
                    format!("allowed_origins[{i}]"),
                    "an origin such as https://shop.example (http only for localhost)",
                );
            }
        }
    }
    f.finish()?;
    let tenant = load(ctx, body.expected_revision).await?;
    let key = tenant
        .channels
        .widget
        .as_ref()
        .map_or_else(widget_key, |w| w.key.clone());
    let connection = Connection::Widget {
        key,
        allowed_origins: origins,
    };
    changed(ctx, connections::connect(&ports(ctx), &tenant, connection, None).await)
}

#[utoipa::path(
    post, operation_id = "admin_rotate_widget_key", path = "/v1/channels/widget/rotate-key", tag = "channels",
    summary = "Give the widget a new key (admins)",
    description = "The old key stops working at once: pages must embed the new one.",
    request_body(content = RevisionBody, description = "optional"),
    responses(
        (status = 200, body = ChannelsView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn rotate_widget_key(ctx: &Ctx<'_>) -> Res {
    let body: RevisionBody = if ctx.body.is_empty() {
        RevisionBody::default()
    } else {
        ctx.json()?
    };
    let tenant = load(ctx, body.expected_revision).await?;
    let Some(widget) = tenant.channels.widget.clone() else {
        return Err(ApiError::not_found("widget"));
    };
    let connection = Connection::Widget {
        key: widget_key(),
        allowed_origins: widget.allowed_origins,
    };
    changed(ctx, connections::connect(&ports(ctx), &tenant, connection, None).await)
}

#[utoipa::path(
    delete, operation_id = "admin_disconnect_channel", path = "/v1/channels/{id}", tag = "channels",
    summary = "Disconnect a channel (admins)",
    description = "`whatsapp`, `instagram`, `email` or `widget`: its endpoints are released (their \
                   traffic no longer reaches this tenant), its settings and stored token removed.",
    params(("id" = String, Path, description = "whatsapp, instagram, email or widget")),
    responses(
        (status = 200, body = ChannelsView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn disconnect(ctx: &Ctx<'_>) -> Res {
    let channel = Channel::ALL
        .into_iter()
        .find(|c| c.as_str() == ctx.param("id"))
        .ok_or_else(|| ApiError::not_found("channel"))?;
    let expected = ctx.query("expected_revision").and_then(|v| v.parse().ok());
    let tenant = load(ctx, expected).await?;
    changed(ctx, connections::disconnect(&ports(ctx), &tenant, channel).await)
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn origins_are_normalised_and_checked() {
        assert_eq!(origin("https://Shop.Example/").as_deref(), Some("https://shop.example"));
        assert_eq!(
            origin("https://shop.example:8443").as_deref(),
            Some("https://shop.example:8443")
        );
        assert_eq!(
            origin("http://localhost:5173").as_deref(),
            Some("http://localhost:5173")
        );
        assert!(origin("http://shop.example").is_none(), "plain http only locally");
        assert!(origin("https://shop.example/path").is_none());
        assert!(origin("javascript:alert(1)").is_none());
        assert!(origin("https://").is_none());
        assert!(origin("https://shop.example:port").is_none());
    }
}
