//! The agent API: the hosted, authenticated, tenant-isolated API for agents and admins,
//! under `/v1/`.
//!
//! Every request is authenticated (`auth`), every object is read inside the caller's
//! tenant (another tenant's ticket, article or agent is simply not found), admin routes
//! refuse agents, every ticket action is guarded by the ticket's version, and every error
//! has one shape (`error`). The routes are one table (`ROUTES`) that the dispatcher and the
//! OpenAPI document (`openapi`) both follow; a test walks the two together.

// Handlers return `Result<_, ApiError>` once per request; the error carries the status,
// code, message, field errors and current state it answers with, and boxing it would buy
// nothing on this path.
#![allow(clippy::result_large_err)]

mod admin;
mod ai;
pub mod auth;
mod channels;
pub mod error;
mod files;
mod gaps;
mod kb;
pub mod openapi;
mod reports;
mod routing;
mod shop;
mod sla;
mod surveys;
mod tickets;
mod topics;
mod views;

use auth::{Authenticator, Caller};
use baton_app::Queues;
use baton_domain::kb_cache::KbCache;
use baton_domain::ports::{AnalyticsStore, BlobStore, ChannelTokens, MediaSource, SecretBox, Store};
use baton_domain::triage::Answerer;
use baton_domain::{Clock, SystemClock, Timestamp};
use error::ApiError;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// Largest request body accepted, except the bulk import.
pub const MAX_BODY: usize = 64 * 1024;
/// Largest bulk-import body.
pub const MAX_IMPORT_BODY: usize = 2 * 1024 * 1024;

pub struct Deps {
    pub store: Arc<dyn Store>,
    /// The daily analytics aggregates reports read.
    pub aggregates: Arc<dyn AnalyticsStore>,
    /// Where effects are relayed: replies go to the outbound queue (FIFO, one group per
    /// conversation).
    pub queues: Queues,
    pub auth: Authenticator,
    pub answerer: Box<dyn Answerer>,
    pub kb_cache: KbCache,
    pub clock: Box<dyn Clock>,
    /// The bucket that keeps raw mail, full texts and attachments: the download links
    /// point into it. `None` when the deployment has none configured.
    pub files: Option<Arc<dyn BlobStore>>,
    /// Where WhatsApp and Instagram media are fetched from on their first download (the
    /// Graph API); `None` serves only what is stored already.
    pub media: Option<Arc<dyn MediaSource>>,
    /// Seals the channel tokens admins connect (KMS).
    pub secrets: Arc<dyn SecretBox>,
    /// The domain of the inbound e-mail addresses (`support+{slug}@…`), shown with the
    /// e-mail connection.
    pub inbound_email_domain: Option<String>,
    /// The tenants' shops (connect, check, orders on tickets); `None`: not reached.
    pub shops: Option<Arc<baton_app::shop::Shops>>,
    /// Shops on loopback addresses may be connected (local development only).
    pub loopback_shops: bool,
    /// Signs the e-mailed survey links (`SURVEY_TOKEN_SECRET`); `None`: no e-mail surveys.
    pub survey_secret: Option<String>,
    /// The API's public base URL for those links (`PUBLIC_API_URL`, a custom domain);
    /// `None`: the host the agent called.
    pub public_url: Option<String>,
}

impl Deps {
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, baton_aws::ConfigError> {
        // LOCAL_JWT_SECRET set: verify local HS256 tokens here. Unset (AWS): the HTTP API's
        // JWT authorizer has verified the token and the claims are in the request context.
        let auth = match baton_aws::config::optional_env_var("LOCAL_JWT_SECRET") {
            Some(secret) if secret.len() >= 32 => Authenticator::local(
                &secret,
                &baton_aws::config::optional_env_var("JWT_AUDIENCE").unwrap_or(auth::LOCAL_AUDIENCE.into()),
            ),
            Some(_) => {
                return Err(baton_aws::ConfigError::Invalid {
                    name: "LOCAL_JWT_SECRET",
                    reason: "must be at least 32 characters".into(),
                })
            }
            None => Authenticator::Gateway,
        };
        // Loaded on the first answer preview, not at start: most requests never rank.
        let models = baton_embed::models_from_env(baton_embed::Load::OnFirstUse).map_err(|e| {
            baton_aws::ConfigError::Invalid {
                name: "EMBEDDING_MODEL_DIR",
                reason: e.to_string(),
            }
        })?;
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let dynamo = Arc::new(baton_aws::DynamoStore::from_env(sdk)?);
        let store: Arc<dyn Store> = dynamo.clone();
        let secrets: Arc<dyn SecretBox> = Arc::new(baton_aws::kms::KmsSecretBox::from_env(sdk));
        let tokens: Arc<dyn ChannelTokens> = Arc::new(baton_app::tokens::StoredTokens::new(
            store.clone(),
            secrets.clone(),
            Arc::new(baton_aws::graph::EnvTokens::from_env()),
        ));
        let loopback_shops = matches!(auth, Authenticator::Local { .. });
        let shops = Arc::new(baton_app::shop::Shops::new(
            store.clone(),
            secrets.clone(),
            Arc::new(baton_aws::shop::HttpCommerce::default()),
        ));
        Ok(Deps {
            shops: Some(shops),
            loopback_shops,
            store,
            aggregates: dynamo,
            queues: baton_aws::SqsQueue::relay_queues(&sqs, &baton_domain::outbox::EffectTarget::ALL)?,
            auth,
            answerer: baton_aws::bedrock::answerer_from_env(sdk),
            kb_cache: KbCache::with_models(models),
            clock: Box::new(SystemClock),
            files: baton_aws::config::optional_env_var("RAW_MAIL_BUCKET").map(|bucket| {
                Arc::new(baton_aws::S3Bucket::new(baton_aws::S3Bucket::client_for(sdk), bucket)) as Arc<dyn BlobStore>
            }),
            media: Some(Arc::new(baton_aws::graph::GraphMedia::from_env(tokens))),
            secrets,
            inbound_email_domain: baton_aws::config::optional_env_var("INBOUND_EMAIL_DOMAIN"),
            survey_secret: baton_aws::config::optional_env_var("SURVEY_TOKEN_SECRET"),
            public_url: baton_aws::config::optional_env_var("PUBLIC_API_URL"),
        })
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token (the OpenAPI document).
    Public,
    /// Any agent of the tenant.
    Agent,
    /// Admins only; agents get `403`.
    Admin,
    /// No token: the customer's survey page, authorised by its signed link.
    Survey,
}

fn host(req: &Request) -> Option<String> {
    req.headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b)))
        .map(str::to_owned)
}

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

const fn route(method: &'static str, path: &'static str, access: Access) -> Route {
    Route { method, path, access }
}

/// Every route. The dispatcher (`dispatch`) and the OpenAPI document follow this table.
pub const ROUTES: &[Route] = &[
    route("GET", "/v1/openapi.json", Access::Public),
    route("GET", "/v1/surveys/{token}", Access::Survey),
    route("POST", "/v1/surveys/{token}", Access::Survey),
    route("GET", "/v1/tickets", Access::Agent),
    route("POST", "/v1/tickets/next", Access::Agent),
    route("GET", "/v1/tickets/{number}", Access::Agent),
    route("PATCH", "/v1/tickets/{number}", Access::Agent),
    route("POST", "/v1/tickets/{number}/replies", Access::Agent),
    route("POST", "/v1/tickets/{number}/notes", Access::Agent),
    route("POST", "/v1/tickets/{number}/assign", Access::Agent),
    route("POST", "/v1/tickets/{number}/takeover", Access::Agent),
    route("POST", "/v1/tickets/{number}/reopen", Access::Agent),
    route("POST", "/v1/tickets/{number}/close", Access::Agent),
    route("POST", "/v1/tickets/{number}/force-close", Access::Admin),
    route("POST", "/v1/tickets/{number}/return-to-ai", Access::Agent),
    route("GET", "/v1/tickets/{number}/entries/{id}/original", Access::Agent),
    route(
        "GET",
        "/v1/tickets/{number}/entries/{id}/attachments/{index}",
        Access::Agent,
    ),
    route("GET", "/v1/agents", Access::Agent),
    route("POST", "/v1/agents", Access::Admin),
    route("GET", "/v1/agents/{id}", Access::Agent),
    route("PUT", "/v1/agents/{id}", Access::Admin),
    route("PUT", "/v1/agents/{id}/presence", Access::Agent),
    route("PUT", "/v1/agents/{id}/notifications", Access::Agent),
    route("GET", "/v1/teams", Access::Agent),
    route("POST", "/v1/teams", Access::Admin),
    route("GET", "/v1/teams/{id}", Access::Agent),
    route("PUT", "/v1/teams/{id}", Access::Admin),
    route("GET", "/v1/kb/articles", Access::Agent),
    route("POST", "/v1/kb/articles", Access::Admin),
    route("POST", "/v1/kb/import", Access::Admin),
    route("GET", "/v1/kb/articles/{id}", Access::Agent),
    route("PUT", "/v1/kb/articles/{id}", Access::Admin),
    route("DELETE", "/v1/kb/articles/{id}", Access::Admin),
    route("GET", "/v1/ai/settings", Access::Agent),
    route("PUT", "/v1/ai/settings", Access::Admin),
    route("POST", "/v1/ai/preview", Access::Admin),
    route("GET", "/v1/channels", Access::Admin),
    route("PUT", "/v1/channels/whatsapp", Access::Admin),
    route("PUT", "/v1/channels/instagram", Access::Admin),
    route("PUT", "/v1/channels/email", Access::Admin),
    route("PUT", "/v1/channels/widget", Access::Admin),
    route("POST", "/v1/channels/widget/rotate-key", Access::Admin),
    route("DELETE", "/v1/channels/{id}", Access::Admin),
    route("GET", "/v1/routing/rules", Access::Admin),
    route("PUT", "/v1/routing/rules", Access::Admin),
    route("POST", "/v1/routing/preview", Access::Admin),
    route("GET", "/v1/sla", Access::Admin),
    route("PUT", "/v1/sla", Access::Admin),
    route("POST", "/v1/sla/calendars/{id}/holidays", Access::Admin),
    route("GET", "/v1/shop", Access::Admin),
    route("PUT", "/v1/shop", Access::Admin),
    route("DELETE", "/v1/shop", Access::Admin),
    route("POST", "/v1/shop/check", Access::Admin),
    route("POST", "/v1/tickets/{number}/orders/refresh", Access::Agent),
    route("GET", "/v1/reports/ai", Access::Admin),
    route("GET", "/v1/reports/team", Access::Admin),
    route("GET", "/v1/reports/settings", Access::Admin),
    route("PUT", "/v1/reports/settings", Access::Admin),
    route("GET", "/v1/reports/gaps", Access::Admin),
    route("GET", "/v1/reports/gaps/{id}/draft", Access::Admin),
    route("GET", "/v1/reports/topics", Access::Admin),
];

/// What a handler gets: the caller, the path parameters, the query and the body.
pub struct Ctx<'a> {
    pub deps: &'a Deps,
    pub caller: Caller,
    pub params: HashMap<&'static str, String>,
    pub query: HashMap<String, String>,
    pub body: &'a [u8],
    pub now: Timestamp,
    /// The `Host` the caller reached the API on.
    pub host: Option<String>,
}

impl Ctx<'_> {
    /// Where survey links point: the configured public URL, else the host called.
    pub fn survey_links(&self) -> Option<baton_app::csat::SurveyLinks> {
        let secret = self.deps.survey_secret.clone()?;
        let base_url = match (&self.deps.public_url, &self.host) {
            (Some(url), _) => url.clone(),
            (None, Some(host)) => format!("https://{host}"),
            (None, None) => return None,
        };
        Some(baton_app::csat::SurveyLinks { base_url, secret })
    }

    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).map(String::as_str).unwrap_or_default()
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// The JSON body as `T`; malformed JSON or a wrong type is a `400` naming the problem.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if self.body.is_empty() {
            return Err(ApiError::bad_request("a JSON body is required"));
        }
        serde_json::from_slice(self.body).map_err(|e| ApiError::bad_request(format!("body is not valid: {e}")))
    }

    /// Counts one call of an expensive route against the caller's per-minute allowance.
    pub async fn rate_limit(&self, route: &str, per_minute: u32) -> Result<(), ApiError> {
        let key = format!("agent-api:{route}:{}:{}", self.caller.tenant, self.caller.agent);
        match self.deps.store.hit(&key, self.now, 60, per_minute).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(ApiError::rate_limited(60)),
            Err(e) => {
                // A limiter that cannot count does not take the API down with it.
                tracing::warn!(error = %e, "rate limiter unavailable; letting the call through");
                Ok(())
            }
        }
    }
}

pub fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::Text(serde_json::to_string(value).expect("response serialises")))
        .expect("static response parts")
}

pub fn ok<T: Serialize>(value: &T) -> Result<Response<Body>, ApiError> {
    Ok(json_response(StatusCode::OK, value))
}

fn error_response(e: &ApiError) -> Response<Body> {
    let mut res = json_response(e.status, &e.body());
    if let Some(secs) = e.retry_after {
        res.headers_mut()
            .insert("retry-after", secs.to_string().parse().expect("digits"));
    }
    res
}

/// Matches `path` against a route pattern, returning its parameters.
pub fn match_path(pattern: &str, path: &str) -> Option<HashMap<&'static str, String>> {
    let pat: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let got: Vec<&str> = path.trim_end_matches('/').trim_start_matches('/').split('/').collect();
    if pat.len() != got.len() {
        return None;
    }
    let mut params = HashMap::new();
    for (p, g) in pat.iter().zip(&got) {
        match p.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) if !g.is_empty() => {
                let name: &'static str = match name {
                    "number" => "number",
                    "id" => "id",
                    "index" => "index",
                    "token" => "token",
                    _ => return None,
                };
                params.insert(name, (*g).to_owned());
            }
            Some(_) => return None,
            None if p == g => {}
            None => return None,
        }
    }
    Some(params)
}

pub async fn handler(deps: &Deps, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    let request_id = req
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!(
        "agent_api",
        request_id = %request_id,
        method = %method,
        path = %path,
        tenant = tracing::field::Empty,
        agent = tracing::field::Empty,
        ticket = tracing::field::Empty,
    );
    let _enter = span.enter();
    let res = match handle(deps, &req, &method, &path).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    tracing::info!(status = res.status().as_u16(), "handled");
    Ok(res)
}

async fn handle(deps: &Deps, req: &Request, method: &Method, path: &str) -> Result<Response<Body>, ApiError> {
    let candidates: Vec<(&Route, HashMap<&'static str, String>)> = ROUTES
        .iter()
        .filter_map(|r| match_path(r.path, path).map(|p| (r, p)))
        .collect();
    if candidates.is_empty() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route"));
    }
    let Some((route, params)) = candidates.into_iter().find(|(r, _)| r.method == method.as_str()) else {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed here"),
        ));
    };
    match route.access {
        Access::Public => return openapi::serve(),
        Access::Survey => return surveys::page(deps, req, method, &params).await,
        Access::Agent | Access::Admin => {}
    }
    let caller = deps.auth.authenticate(req)?;
    let caller = auth::directory_caller(deps.store.as_ref(), caller, deps.clock.now()).await?;
    let span = tracing::Span::current();
    span.record("tenant", caller.tenant.as_str());
    span.record("agent", caller.agent.as_str());
    if route.access == Access::Admin {
        caller.require_admin()?;
    }
    let body: &[u8] = req.body().as_ref();
    let max = if route.path == "/v1/kb/import" {
        MAX_IMPORT_BODY
    } else {
        MAX_BODY
    };
    if body.len() > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("bodies are limited to {max} bytes here"),
        ));
    }
    let ctx = Ctx {
        deps,
        caller,
        params,
        query: req
            .query_string_parameters_ref()
            .map(|q| q.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
            .unwrap_or_default(),
        body,
        now: deps.clock.now(),
        host: host(req),
    };
    dispatch(route, &ctx).await
}

async fn dispatch(route: &Route, ctx: &Ctx<'_>) -> Result<Response<Body>, ApiError> {
    match (route.method, route.path) {
        ("GET", "/v1/tickets") => tickets::list(ctx).await,
        ("POST", "/v1/tickets/next") => routing::next(ctx).await,
        ("GET", "/v1/tickets/{number}") => tickets::detail(ctx).await,
        ("PATCH", "/v1/tickets/{number}") => tickets::patch(ctx).await,
        ("POST", "/v1/tickets/{number}/replies") => tickets::reply(ctx).await,
        ("POST", "/v1/tickets/{number}/notes") => tickets::note(ctx).await,
        ("POST", "/v1/tickets/{number}/assign") => tickets::assign(ctx).await,
        ("POST", "/v1/tickets/{number}/takeover") => tickets::takeover(ctx).await,
        ("POST", "/v1/tickets/{number}/reopen") => tickets::reopen(ctx).await,
        ("POST", "/v1/tickets/{number}/close") => tickets::close(ctx).await,
        ("POST", "/v1/tickets/{number}/force-close") => tickets::force_close(ctx).await,
        ("POST", "/v1/tickets/{number}/return-to-ai") => tickets::return_to_ai(ctx).await,
        ("GET", "/v1/tickets/{number}/entries/{id}/original") => files::original(ctx).await,
        ("GET", "/v1/tickets/{number}/entries/{id}/attachments/{index}") => files::attachment(ctx).await,
        ("GET", "/v1/agents") => admin::list_agents(ctx).await,
        ("POST", "/v1/agents") => admin::create_agent(ctx).await,
        ("GET", "/v1/agents/{id}") => admin::get_agent(ctx).await,
        ("PUT", "/v1/agents/{id}") => admin::update_agent(ctx).await,
        ("PUT", "/v1/agents/{id}/presence") => admin::set_presence(ctx).await,
        ("PUT", "/v1/agents/{id}/notifications") => admin::set_notifications(ctx).await,
        ("GET", "/v1/teams") => admin::list_teams(ctx).await,
        ("POST", "/v1/teams") => admin::create_team(ctx).await,
        ("GET", "/v1/teams/{id}") => admin::get_team(ctx).await,
        ("PUT", "/v1/teams/{id}") => admin::update_team(ctx).await,
        ("GET", "/v1/reports/ai") => reports::ai(ctx).await,
        ("GET", "/v1/reports/team") => reports::team(ctx).await,
        ("GET", "/v1/reports/settings") => reports::get_settings(ctx).await,
        ("PUT", "/v1/reports/settings") => reports::put_settings(ctx).await,
        ("GET", "/v1/reports/gaps") => gaps::list(ctx).await,
        ("GET", "/v1/reports/gaps/{id}/draft") => gaps::draft(ctx).await,
        ("GET", "/v1/reports/topics") => topics::list(ctx).await,
        ("GET", "/v1/kb/articles") => kb::list(ctx).await,
        ("POST", "/v1/kb/articles") => kb::create(ctx).await,
        ("POST", "/v1/kb/import") => kb::import(ctx).await,
        ("GET", "/v1/kb/articles/{id}") => kb::get(ctx).await,
        ("PUT", "/v1/kb/articles/{id}") => kb::update(ctx).await,
        ("DELETE", "/v1/kb/articles/{id}") => kb::delete(ctx).await,
        ("GET", "/v1/ai/settings") => ai::get_settings(ctx).await,
        ("PUT", "/v1/ai/settings") => ai::put_settings(ctx).await,
        ("POST", "/v1/ai/preview") => ai::preview(ctx).await,
        ("GET", "/v1/channels") => channels::get(ctx).await,
        ("PUT", "/v1/channels/whatsapp") => channels::put_whatsapp(ctx).await,
        ("PUT", "/v1/channels/instagram") => channels::put_instagram(ctx).await,
        ("PUT", "/v1/channels/email") => channels::put_email(ctx).await,
        ("PUT", "/v1/channels/widget") => channels::put_widget(ctx).await,
        ("POST", "/v1/channels/widget/rotate-key") => channels::rotate_widget_key(ctx).await,
        ("DELETE", "/v1/channels/{id}") => channels::disconnect(ctx).await,
        ("GET", "/v1/routing/rules") => routing::get_rules(ctx).await,
        ("PUT", "/v1/routing/rules") => routing::put_rules(ctx).await,
        ("POST", "/v1/routing/preview") => routing::preview(ctx).await,
        ("GET", "/v1/sla") => sla::get(ctx).await,
        ("PUT", "/v1/sla") => sla::put(ctx).await,
        ("POST", "/v1/sla/calendars/{id}/holidays") => sla::import_holidays(ctx).await,
        ("GET", "/v1/shop") => shop::get(ctx).await,
        ("PUT", "/v1/shop") => shop::put(ctx).await,
        ("DELETE", "/v1/shop") => shop::delete(ctx).await,
        ("POST", "/v1/shop/check") => shop::check(ctx).await,
        ("POST", "/v1/tickets/{number}/orders/refresh") => shop::refresh_orders(ctx).await,
        (m, p) => {
            tracing::error!(method = m, path = p, "route in the table without a handler");
            Err(ApiError::internal())
        }
    }
}

/// Page size from `?limit=` (1 to 100, default 25); anything else is a field error.
pub fn page_limit(ctx: &Ctx<'_>) -> Result<u32, ApiError> {
    use baton_domain::ports::PageRequest;
    match ctx.query("limit") {
        None => Ok(PageRequest::DEFAULT_LIMIT),
        Some(v) => match v.parse::<u32>() {
            Ok(n) if (1..=PageRequest::MAX_LIMIT).contains(&n) => Ok(n),
            _ => Err(ApiError::field(
                "limit",
                format!("must be a number from 1 to {}", PageRequest::MAX_LIMIT),
            )),
        },
    }
}

/// A page request from `?limit=&cursor=`.
pub fn page_request(ctx: &Ctx<'_>) -> Result<baton_domain::ports::PageRequest, ApiError> {
    Ok(baton_domain::ports::PageRequest {
        limit: Some(page_limit(ctx)?),
        cursor: ctx.query("cursor").map(str::to_owned),
    })
}
