//! Routing configuration and the routing preview (admins), and "get next ticket"
//! (agents). The preview runs the router's own decision (`baton_app::routing::plan`)
//! on a sample ticket, assigning nothing.

use crate::error::{or_not_found, ApiError, ErrorBody, Fields};
use crate::views::ActionResult;
use crate::views::TicketView;
use crate::{json_response, ok, Ctx};
use baton_domain::conversation::Author;
use baton_domain::ports::{CapacityCheck, PageRequest};
use baton_domain::routing::{Explanation, RoutingSettings, TicketFacts};
use baton_domain::tenant::Tenant;
use baton_domain::ticket::{Priority, Source, Ticket, TimelineEntry, TimelineKind};
use baton_domain::{Channel, ConversationId, CustomerId, StoreError, TeamId, TicketNumber};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;

type Res = Result<Response<Body>, ApiError>;

async fn tenant(ctx: &Ctx<'_>) -> Result<Tenant, ApiError> {
    or_not_found(ctx.deps.store.get_tenant(&ctx.caller.tenant).await, "tenant")
}

/// The tenant's team ids (for validation).
async fn team_ids(ctx: &Ctx<'_>) -> Result<BTreeSet<TeamId>, ApiError> {
    Ok(crate::admin::tenant_teams(ctx)
        .await?
        .into_iter()
        .map(|t| t.id)
        .collect())
}

#[utoipa::path(
    get, operation_id = "routing_get_rules", path = "/v1/routing/rules", tag = "routing",
    summary = "The tenant's routing rules and default team",
    responses((status = 200, body = RoutingSettings), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_rules(ctx: &Ctx<'_>) -> Res {
    ok(&tenant(ctx).await?.routing)
}

#[utoipa::path(
    put, operation_id = "routing_put_rules", path = "/v1/routing/rules", tag = "routing",
    summary = "Replace the routing rules (admins)",
    description = "Rules are checked in order on every routing (on arrival and again when a backlog \
                   ticket is assigned later); the first whose conditions all hold sets the team, \
                   priority and tags. Every invalid field is named (`rules[2].actions.team`).",
    request_body = RoutingSettings,
    responses(
        (status = 200, body = RoutingSettings), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn put_rules(ctx: &Ctx<'_>) -> Res {
    let mut settings: RoutingSettings = ctx.json()?;
    for rule in &mut settings.rules {
        rule.name = rule.name.trim().to_owned();
        rule.actions.add_tags = rule.actions.add_tags.iter().map(|t| t.trim().to_lowercase()).collect();
    }
    let teams = team_ids(ctx).await?;
    let mut f = Fields::default();
    for (field, reason) in settings.validate(|t| teams.contains(t)) {
        f.check(false, field, reason);
    }
    f.finish()?;
    ctx.deps.store.set_routing(&ctx.caller.tenant, &settings).await?;
    tracing::info!(rules = settings.rules.len(), "routing rules changed");
    ok(&settings)
}

/// A sample ticket for the preview.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RoutingPreviewBody {
    pub subject: Option<String>,
    /// What the customer wrote.
    pub text: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[schema(value_type = Option<String>)]
    pub channel: Option<Channel>,
    #[schema(value_type = Option<String>)]
    pub priority: Option<Priority>,
    /// A handoff reason code (`asked_for_human`, `frustrated`, …).
    pub handoff_reason: Option<String>,
    #[serde(default)]
    pub customer_attributes: BTreeMap<String, String>,
}

#[utoipa::path(
    post, operation_id = "routing_preview", path = "/v1/routing/preview", tag = "routing",
    summary = "Where a ticket would go, and why (admins)",
    description = "Runs the router's decision on a sample ticket with the agents as they are now: the \
                   rule that matches, the team and its strategy, every candidate and why each lost, \
                   and why the winner won. Nothing is assigned.",
    request_body = RoutingPreviewBody,
    responses(
        (status = 200, body = Explanation), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn preview(ctx: &Ctx<'_>) -> Res {
    let body: RoutingPreviewBody = ctx.json()?;
    let subject = body.subject.unwrap_or_default();
    let text = body.text.unwrap_or_default();
    let mut f = Fields::default();
    f.text("subject", &subject, 0, 500);
    f.text("text", &text, 0, 10_000);
    f.check(
        !subject.trim().is_empty() || !text.trim().is_empty() || !body.tags.is_empty(),
        "text",
        "give a subject, a text or tags",
    );
    f.list("tags", &body.tags, 50, 64);
    f.finish()?;
    let tenant = tenant(ctx).await?;
    let mut tags: Vec<String> = body.tags.iter().map(|t| t.trim().to_lowercase()).collect();
    if let Some(r) = &body.handoff_reason {
        tags.push(format!("handoff:{}", r.trim()));
    }
    let channel = body.channel.unwrap_or(Channel::Email);
    let priority = body.priority.unwrap_or(Priority::Normal);
    let source = Source {
        channel,
        conversation_id: ConversationId::generate(),
    };
    let mut ticket = Ticket::open(
        tenant.id.clone(),
        TicketNumber(0),
        subject.clone(),
        priority,
        CustomerId::generate(),
        source,
        ctx.now,
    );
    ticket.tags = tags.clone();
    let facts = TicketFacts::sample(
        &format!("{subject} {text}"),
        tags,
        Some(channel),
        Some(priority),
        body.customer_attributes,
    );
    let plan = baton_app::routing::plan(ctx.deps.store.as_ref(), &tenant, ticket, &facts).await?;
    ok(&plan.explanation)
}

/// The most urgent first: priority, then the next SLA deadline, then age.
fn urgency(t: &Ticket) -> (u8, bool, Option<baton_domain::Timestamp>, baton_domain::Timestamp, u64) {
    let due = t.sla.next_due(t.status);
    // No deadline sorts after every deadline.
    (t.priority.rank(), due.is_none(), due, t.created_at, t.number.0)
}

#[utoipa::path(
    post, operation_id = "tickets_next", path = "/v1/tickets/next", tag = "tickets",
    summary = "Take the most urgent waiting ticket you may take",
    description = "From the backlogs of the caller's teams (most urgent first: priority, next SLA \
                   deadline, age), assigns the first ticket still waiting to the caller, within \
                   their `max_open`. Two agents asking at once get two different tickets. `204` \
                   when nothing waits; `409 at_capacity` when the caller is full.",
    responses(
        (status = 200, body = ActionResult), (status = 204), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn next(ctx: &Ctx<'_>) -> Res {
    let store = ctx.deps.store.as_ref();
    let me = &ctx.caller.agent;
    let teams = baton_app::routing::teams_of(store, &ctx.caller.tenant, me).await?;
    let mut waiting: Vec<Ticket> = Vec::new();
    for team in &teams {
        let page = store
            .list_team_backlog(&ctx.caller.tenant, &team.id, &PageRequest::first(25))
            .await?;
        waiting.extend(page.items);
    }
    waiting.sort_by_key(urgency);
    for before in waiting {
        if before.assignee.is_some() || !before.status.is_active() {
            continue;
        }
        let mut after = before.clone();
        after.assignee = Some(me.clone());
        after.last_activity_at = ctx.now;
        let entry = TimelineEntry {
            tenant_id: ctx.caller.tenant.clone(),
            ticket: before.number,
            id: ulid::Ulid::new(),
            at: ctx.now,
            actor: Author::Agent { id: me.clone() },
            entry: TimelineKind::Event {
                name: "claimed".into(),
                detail: serde_json::json!({ "team": before.team, "how": "the agent asked for the next ticket" }),
            },
        };
        let result = baton_app::tickets::act(
            store,
            &ctx.deps.queues,
            &before,
            after,
            std::slice::from_ref(&entry),
            vec![],
            CapacityCheck::Limit,
            ctx.now,
        )
        .await;
        match result {
            Ok(t) => {
                tracing::info!(ticket = %t.number, "next ticket claimed");
                return Ok(json_response(
                    StatusCode::OK,
                    &ActionResult {
                        ticket: TicketView::new(&t, ctx.now),
                        entry_id: entry.id.to_string(),
                    },
                ));
            }
            // Someone else took (or changed) it first: the next one.
            Err(StoreError::Conflict { entity: "ticket", .. }) => continue,
            Err(StoreError::Conflict {
                entity: "agent_capacity",
                ..
            }) => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "at_capacity",
                    "you already have max_open active tickets",
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Response::builder()
        .status(StatusCode::NO_CONTENT)
        .body(Body::Empty)
        .expect("a response builds"))
}
