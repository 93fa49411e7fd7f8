//! The website chat widget's public API under `/widget/v1/`.
//!
//! - `POST /widget/v1/conversations` `{widget_key, name?, email?}` → `201 {conversation_id,
//!   visitor_token}`: the tenant's widget key starts a conversation for a new visitor.
//! - `POST /widget/v1/conversations/{id}/messages` `{client_message_id, text}` with
//!   `Authorization: Bearer <visitor_token>` → `202`: the same client message id twice is
//!   one message, so an offline widget can replay safely.
//! - `GET /widget/v1/conversations/{id}/messages?after=CURSOR` → the thread after the
//!   cursor: the visitor's messages and the AI's and agents' replies, one thread before
//!   and after a handoff. Internal notes live on tickets and are never here.
//!
//! CORS answers only the tenant's allowed origins; visitors are rate limited.

use baton_app::intake::{self, IntakeError, IntakeOutcome, IntakePorts};
use baton_domain::channels::{ChannelMessage, ContentKind};
use baton_domain::conversation::{Author, Conversation, DeliveryOutcome, DeliveryStatus, Direction, Message};
use baton_domain::customer::{Customer, Identity, IdentityRef};
use baton_domain::outbound::SurveyRef;
use baton_domain::ports::{Queue, Store};
use baton_domain::tenant::Tenant;
use baton_domain::widget::{self, VisitorClaims};
use baton_domain::{Channel, Clock, ConversationId, CustomerId, StoreError, SystemClock};
use lambda_http::http::{HeaderMap, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Request bodies are small JSON documents.
const MAX_BODY_BYTES: usize = 16 * 1024;
/// Conversation starts allowed per source address per minute.
const STARTS_PER_MINUTE: u32 = 10;
const MAX_PAGE: u32 = 100;

pub struct Deps {
    pub store: Arc<dyn Store>,
    pub inbound_queue: Arc<dyn Queue>,
    /// Where a survey answer's analytics event is relayed.
    pub queues: baton_app::Queues,
    pub token_secret: String,
    pub clock: Box<dyn Clock>,
}

impl Deps {
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, baton_aws::ConfigError> {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        Ok(Deps {
            store: Arc::new(baton_aws::DynamoStore::from_env(sdk)?),
            queues: baton_aws::SqsQueue::relay_queues(&sqs, &[baton_domain::outbox::EffectTarget::Analytics])?,
            inbound_queue: Arc::new(baton_aws::SqsQueue::from_env(sqs, "INBOUND_QUEUE_URL")?),
            token_secret: baton_aws::env_var("WIDGET_TOKEN_SECRET", "the key that signs widget visitor tokens")?,
            clock: Box::new(SystemClock),
        })
    }
}

/// An answer with the status and JSON body; CORS headers are added on the way out.
struct Answer {
    status: StatusCode,
    body: Value,
    retry_after: Option<u32>,
}

fn ok(status: StatusCode, body: Value) -> Answer {
    Answer {
        status,
        body,
        retry_after: None,
    }
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Answer {
    ok(status, json!({ "error": { "code": code, "message": message.into() } }))
}

fn field_error(e: widget::FieldError) -> Answer {
    ok(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({ "error": { "code": "invalid", "message": e.to_string(), "fields": { e.field: e.reason } } }),
    )
}

fn store_error(e: StoreError) -> Answer {
    tracing::error!(error = %e, "store failure");
    if e.is_retryable() {
        error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again shortly")
    } else {
        error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "something went wrong")
    }
}

pub async fn handler(deps: &Deps, req: Request) -> Result<Response<Body>, lambda_http::Error> {
    let request_id = req
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    let span = tracing::info_span!("widget", request_id = %request_id, tenant = tracing::field::Empty, conversation = tracing::field::Empty);
    let origin = req
        .headers()
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (answer, allowed_origin) = tracing::Instrument::instrument(route(deps, &req, origin.as_deref()), span).await;
    Ok(respond(answer, allowed_origin.as_deref()))
}

fn respond(a: Answer, allowed_origin: Option<&str>) -> Response<Body> {
    let mut b = Response::builder()
        .status(a.status)
        .header("content-type", "application/json");
    if let Some(o) = allowed_origin {
        b = b
            .header("access-control-allow-origin", o)
            .header("access-control-allow-methods", "GET, POST, OPTIONS")
            .header("access-control-allow-headers", "authorization, content-type")
            .header("access-control-max-age", "600");
    }
    if let Some(s) = a.retry_after {
        b = b.header("retry-after", s.to_string());
    }
    b.header("vary", "Origin")
        .body(Body::Text(a.body.to_string()))
        .expect("valid response parts")
}

/// Returns the answer and the origin to allow in CORS headers (`None`: no CORS headers,
/// so a browser on another site cannot read the answer).
async fn route(deps: &Deps, req: &Request, origin: Option<&str>) -> (Answer, Option<String>) {
    let path = req.raw_http_path();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (req.method(), segments.as_slice()) {
        // Preflight reveals nothing; the real request is checked against the tenant's
        // origins and answered without CORS headers when the origin is not allowed.
        (&Method::OPTIONS, _) => (ok(StatusCode::NO_CONTENT, Value::Null), origin.map(str::to_owned)),
        (&Method::POST, ["widget", "v1", "conversations"]) => start(deps, req, origin).await,
        (&Method::POST, ["widget", "v1", "conversations", id, "messages"]) => {
            with_visitor(deps, req, origin, id, |claims| post_message(deps, req, claims)).await
        }
        (&Method::POST, ["widget", "v1", "conversations", id, "survey"]) => {
            with_visitor(deps, req, origin, id, |c| answer_survey(deps, req, c)).await
        }
        (&Method::GET, ["widget", "v1", "conversations", id, "messages"]) => {
            with_visitor(deps, req, origin, id, |claims| list_messages(deps, req, claims)).await
        }
        _ => (error(StatusCode::NOT_FOUND, "not_found", "no such route"), None),
    }
}

fn source_ip(req: &Request) -> String {
    match req.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(c)) => c.http.source_ip.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

fn origin_ok(tenant: &Tenant, origin: Option<&str>) -> Result<Option<String>, Answer> {
    let allowed = tenant
        .channels
        .widget
        .as_ref()
        .map(|w| w.allowed_origins.as_slice())
        .unwrap_or(&[]);
    match origin {
        // No Origin header: not a browser on another site (a server or a test client).
        None => Ok(None),
        Some(o) if widget::origin_allowed(allowed, Some(o)) => Ok(Some(o.to_owned())),
        Some(_) => Err(error(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "this site may not use the widget",
        )),
    }
}

fn json_body<T: for<'de> Deserialize<'de>>(req: &Request) -> Result<T, Answer> {
    let body = req.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("body over {MAX_BODY_BYTES} bytes"),
        ));
    }
    serde_json::from_slice(body).map_err(|e| error(StatusCode::BAD_REQUEST, "bad_json", e.to_string()))
}

#[derive(Deserialize)]
struct StartRequest {
    widget_key: String,
    name: Option<String>,
    email: Option<String>,
}

async fn start(deps: &Deps, req: &Request, origin: Option<&str>) -> (Answer, Option<String>) {
    let body: StartRequest = match json_body(req) {
        Ok(b) => b,
        Err(a) => return (a, None),
    };
    let binding = match deps.store.resolve_channel(Channel::Widget, &body.widget_key).await {
        Ok(Some(b)) => b,
        Ok(None) => {
            return (
                error(StatusCode::NOT_FOUND, "unknown_widget", "unknown widget key"),
                None,
            )
        }
        Err(e) => return (store_error(e), None),
    };
    let tenant = match deps.store.get_tenant(&binding.tenant_id).await {
        Ok(t) => t,
        Err(e) => return (store_error(e), None),
    };
    tracing::Span::current().record("tenant", tracing::field::display(&tenant.id));
    let cors = match origin_ok(&tenant, origin) {
        Ok(c) => c,
        Err(a) => return (a, None),
    };
    let now = deps.clock.now();
    let rate_key = format!("widget-start:{}:{}", tenant.id, source_ip(req));
    match deps.store.hit(&rate_key, now, 60, STARTS_PER_MINUTE).await {
        Ok(true) => {}
        Ok(false) => {
            return (
                Answer {
                    retry_after: Some(60),
                    ..error(
                        StatusCode::TOO_MANY_REQUESTS,
                        "rate_limited",
                        "too many conversations started",
                    )
                },
                cors,
            )
        }
        Err(e) => return (store_error(e), cors),
    }
    let name = body
        .name
        .map(|n| n.trim().chars().take(120).collect::<String>())
        .filter(|n| !n.is_empty());
    let email = body
        .email
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| e.contains('@') && e.len() <= 254);
    let visitor = format!("v_{}", ulid::Ulid::new().to_string().to_ascii_lowercase());
    let customer = Customer {
        tenant_id: tenant.id.clone(),
        id: CustomerId::generate(),
        name: name.clone(),
        email,
        identities: vec![IdentityRef {
            channel: Channel::Widget,
            external_id: visitor.clone(),
        }],
        attributes: Default::default(),
        created_at: now,
        undeliverable: vec![],
    };
    let conversation = Conversation::start(
        tenant.id.clone(),
        ConversationId::generate(),
        customer.id,
        Channel::Widget,
        now,
    );
    let identity = Identity {
        tenant_id: tenant.id.clone(),
        channel: Channel::Widget,
        external_id: visitor.clone(),
        customer_id: customer.id,
        display_name: name,
        active_conversation: Some(conversation.id),
    };
    if let Err(e) = deps.store.create_conversation(&conversation).await {
        return (store_error(e), cors);
    }
    if let Err(e) = deps.store.create_customer(&customer, &identity).await {
        return (store_error(e), cors);
    }
    tracing::Span::current().record("conversation", tracing::field::display(&conversation.id));
    tracing::info!("widget conversation started");
    let claims = VisitorClaims {
        tenant: tenant.id,
        visitor,
        conversation: conversation.id,
        expires: now.plus(widget::TOKEN_TTL).unix_seconds(),
    };
    let token = widget::sign_token(&deps.token_secret, &claims);
    (
        ok(
            StatusCode::CREATED,
            json!({ "conversation_id": conversation.id, "visitor_token": token }),
        ),
        cors,
    )
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Checks the visitor token against the path and the tenant's origins, then runs `f`.
async fn with_visitor<'a, F, Fut>(
    deps: &'a Deps,
    req: &'a Request,
    origin: Option<&str>,
    id: &str,
    f: F,
) -> (Answer, Option<String>)
where
    F: FnOnce(VisitorClaims) -> Fut,
    Fut: std::future::Future<Output = Answer>,
{
    let Some(token) = bearer(req.headers()) else {
        return (
            error(StatusCode::UNAUTHORIZED, "unauthorized", "a visitor token is required"),
            None,
        );
    };
    let claims = match widget::verify_token(&deps.token_secret, token, deps.clock.now()) {
        Ok(c) => c,
        Err(e) => return (error(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string()), None),
    };
    if claims.conversation.to_string() != id {
        // Another conversation: as if it did not exist.
        return (error(StatusCode::NOT_FOUND, "not_found", "no such conversation"), None);
    }
    let span = tracing::Span::current();
    span.record("tenant", tracing::field::display(&claims.tenant));
    span.record("conversation", tracing::field::display(&claims.conversation));
    let tenant = match deps.store.get_tenant(&claims.tenant).await {
        Ok(t) => t,
        Err(e) => return (store_error(e), None),
    };
    let cors = match origin_ok(&tenant, origin) {
        Ok(c) => c,
        Err(a) => return (a, None),
    };
    (f(claims).await, cors)
}

#[derive(Deserialize)]
struct PostMessage {
    client_message_id: String,
    text: String,
}

async fn post_message(deps: &Deps, req: &Request, claims: VisitorClaims) -> Answer {
    let body: PostMessage = match json_body(req) {
        Ok(b) => b,
        Err(a) => return a,
    };
    if let Err(e) = widget::check_message(&body.client_message_id, &body.text) {
        return field_error(e);
    }
    let now = deps.clock.now();
    let rate_key = format!("widget-visitor:{}:{}", claims.tenant, claims.visitor);
    match deps.store.hit(&rate_key, now, 60, widget::RATE_LIMIT_PER_MINUTE).await {
        Ok(true) => {}
        Ok(false) => {
            return Answer {
                retry_after: Some(60),
                ..error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "too many messages; slow down",
                )
            }
        }
        Err(e) => return store_error(e),
    }
    let message = ChannelMessage {
        channel: Channel::Widget,
        account_id: String::new(),
        sender_id: claims.visitor.clone(),
        sender_name: None,
        // Scoped to the visitor: two browsers may pick the same client ids.
        channel_message_id: format!("{}:{}", claims.visitor, body.client_message_id),
        kind: ContentKind::Text,
        text: body.text,
        attachments: vec![],
        reply_to: None,
        sent_at: Some(now),
    };
    let ports = IntakePorts::new(deps.store.as_ref(), deps.inbound_queue.as_ref(), deps.clock.as_ref());
    match intake::accept(&ports, &claims.tenant, message, None, Some(claims.conversation)).await {
        Ok(IntakeOutcome::Queued { .. }) => tracing::info!("widget message queued"),
        Ok(IntakeOutcome::Duplicate) => tracing::info!("widget message replayed; already accepted"),
        Ok(IntakeOutcome::ReusedId) => {
            return error(
                StatusCode::CONFLICT,
                "client_message_id_reused",
                "this client_message_id was already used for a different message",
            )
        }
        Err(IntakeError::InProgress) => {
            return Answer {
                retry_after: Some(1),
                ..error(
                    StatusCode::CONFLICT,
                    "in_progress",
                    "this message is being accepted; retry",
                )
            }
        }
        Err(IntakeError::Store(e)) => return store_error(e),
        Err(IntakeError::Queue(e)) => {
            tracing::error!(error = %e, "inbound queue failed");
            return error(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "try again shortly");
        }
    }
    ok(
        StatusCode::ACCEPTED,
        json!({ "client_message_id": body.client_message_id, "status": "accepted" }),
    )
}

fn view(m: &Message, visitor: &str) -> Value {
    let from = match (&m.direction, &m.author) {
        (Direction::Inbound, _) | (_, Author::Customer) => "visitor",
        (_, Author::Ai) => "assistant",
        (_, Author::Agent { .. }) => "agent",
        (_, Author::System) => "system",
    };
    let mut v = json!({ "id": m.id.to_string(), "from": from, "text": m.text, "created_at": m.created_at });
    // The widget's own id for what the visitor sent, so it can match the copy it shows:
    // stored as the intake key `widget:{tenant}:{visitor}:{client id}`.
    let marker = format!("{visitor}:");
    if let Some(client_id) = m
        .channel_message_id
        .as_deref()
        .filter(|_| m.direction == Direction::Inbound)
        .and_then(|id| id.find(&marker).map(|at| &id[at + marker.len()..]))
    {
        v["client_message_id"] = json!(client_id);
    }
    if let Some(s) = m.survey {
        // Answered with `POST …/survey` and these numbers.
        v["survey"] = match s {
            SurveyRef::Cycle { ticket, cycle } => json!({ "ticket": ticket.0, "cycle": cycle }),
            SurveyRef::Answer { answer, .. } => json!({ "answer": answer.to_string() }),
        };
        v["survey"]["ratings"] = json!([1, 2, 3, 4, 5]);
    }
    v
}

/// A survey message is shown once its sender released it (after the tenant's delay, its
/// ticket still resolved); a withdrawn one never.
fn shown(m: &Message) -> bool {
    m.survey.is_none() || matches!(m.delivery, Some(DeliveryStatus::Sent | DeliveryStatus::Delivered))
}

/// A survey not yet released: the poll stops before it, so the cursor does not pass it.
fn waiting(m: &Message) -> bool {
    m.survey.is_some() && m.delivery == Some(DeliveryStatus::Queued)
}

#[derive(Deserialize)]
struct SurveyAnswer {
    /// A ticket's survey: its number and cycle; an AI answer's: the answer's id.
    ticket: Option<u64>,
    cycle: Option<u32>,
    answer: Option<ulid::Ulid>,
    rating: u8,
    comment: Option<String>,
    reason: Option<String>,
}

/// The visitor answers a survey of their own conversation (again: the answer changes).
async fn answer_survey(deps: &Deps, req: &Request, claims: VisitorClaims) -> Answer {
    let body: SurveyAnswer = match json_body(req) {
        Ok(b) => b,
        Err(a) => return a,
    };
    let answer = match baton_domain::csat::Answer::new(
        &body.rating.to_string(),
        body.comment.as_deref(),
        body.reason.as_deref(),
    ) {
        Ok(a) => a,
        Err((field, reason)) => return field_error(widget::FieldError { field, reason }),
    };
    let at = match (body.ticket, body.cycle, body.answer) {
        (Some(ticket), Some(cycle), None) => SurveyRef::Cycle {
            ticket: baton_domain::TicketNumber(ticket),
            cycle,
        },
        (None, None, Some(answer)) => SurveyRef::Answer {
            conversation: claims.conversation,
            answer,
        },
        _ => {
            return field_error(widget::FieldError {
                field: "survey",
                reason: "name a ticket and its cycle, or an answer".into(),
            })
        }
    };
    match baton_app::csat::answer(
        deps.store.as_ref(),
        &deps.queues,
        &claims.tenant,
        at,
        Some(claims.conversation),
        &answer,
        deps.clock.now(),
    )
    .await
    {
        Ok(_) => ok(StatusCode::OK, json!({ "rating": answer.rating, "status": "recorded" })),
        Err(StoreError::NotFound { .. }) => error(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such survey in this conversation",
        ),
        Err(e) => store_error(e),
    }
}

async fn list_messages(deps: &Deps, req: &Request, claims: VisitorClaims) -> Answer {
    let q = req.query_string_parameters_ref();
    let after = match q.and_then(|q| q.first("after")) {
        None | Some("") => None,
        Some(c) => match c.parse::<ulid::Ulid>() {
            Ok(u) => Some(u),
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_cursor",
                    "after must be a cursor from this API",
                )
            }
        },
    };
    let limit = q
        .and_then(|q| q.first("limit"))
        .and_then(|l| l.parse().ok())
        .unwrap_or(50u32)
        .clamp(1, MAX_PAGE);
    match deps
        .store
        .list_messages_after(&claims.tenant, claims.conversation, after, limit)
        .await
    {
        Ok(mut messages) => {
            if let Some(stop) = messages.iter().position(waiting) {
                messages.truncate(stop);
            }
            let cursor = messages
                .last()
                .map(|m| m.id.to_string())
                .or_else(|| after.map(|a| a.to_string()));
            messages.retain(shown);
            // The visitor's widget has them now: the widget's "delivered".
            for m in messages.iter().filter(|m| {
                m.direction == Direction::Outbound
                    && matches!(m.delivery, Some(DeliveryStatus::Queued | DeliveryStatus::Sent))
            }) {
                let outcome = DeliveryOutcome {
                    status: DeliveryStatus::Delivered,
                    channel_message_id: None,
                    error: None,
                };
                if let Err(e) = deps
                    .store
                    .record_delivery(&claims.tenant, claims.conversation, m.id, &outcome)
                    .await
                {
                    tracing::warn!(error = %e, "could not mark a polled reply delivered");
                }
            }
            ok(
                StatusCode::OK,
                json!({ "messages": messages.iter().map(|m| view(m, &claims.visitor)).collect::<Vec<_>>(), "cursor": cursor }),
            )
        }
        Err(e) => store_error(e),
    }
}
