//! The ticket queue, ticket detail, and every ticket action. Each action is recorded on the
//! timeline with its actor and time, and is written only if the ticket still has the
//! version the agent read (`409` with the current ticket otherwise).

use crate::error::{or_not_found, ApiError, ErrorBody, Fields};
use crate::views::*;
use crate::{json_response, ok, page_limit, Ctx};
use baton_app::reply::Recipient;
use baton_domain::conversation::Author;
use baton_domain::notify::{AgentNotification, NotificationKind};
use baton_domain::outbox::Effect;
use baton_domain::ports::CapacityCheck as Capacity;
use baton_domain::ports::{PageRequest, Write};
use baton_domain::ticket::{Action, Priority, SlaStatus, Status, Ticket, TimelineEntry, TimelineKind, WaitingOn};
use baton_domain::ticket_query::{self, AssigneeFilter, ListError, TicketFilter, TicketSort};
use baton_domain::{AgentId, Channel, StoreError, TeamId, TicketNumber};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde_json::json;

/// Listing reads up to `ticket_query::READ_BUDGET` items: counted per agent.
const LISTS_PER_MINUTE: u32 = 120;
/// Longer than one WhatsApp (4,096) or Instagram (1,000) message: the channel sender
/// splits a long reply in order.
const MAX_REPLY: usize = 16_000;
const MAX_NOTE: usize = 10_000;

type Res = Result<Response<Body>, ApiError>;

#[utoipa::path(
    get, operation_id = "tickets_list", path = "/v1/tickets", tag = "tickets",
    summary = "The ticket queue",
    description = "Filters combine with AND. Sorted by priority then the nearest SLA deadline (default), \
                   or by last activity. Served from the table's indexes; a page can come back short \
                   with a cursor when filters skip many tickets.",
    params(
        ("status" = Option<String>, Query, description = "Comma-separated statuses; default: open, waiting_on_customer, waiting_on_team"),
        ("priority" = Option<Priority>, Query),
        ("assignee" = Option<String>, Query, description = "`me`, `unassigned` or an agent id"),
        ("customer" = Option<String>, Query, description = "One customer's tickets (their id), most recent activity first whatever the sort"),
        ("team" = Option<String>, Query),
        ("sla" = Option<SlaStatus>, Query),
        ("channel" = Option<Channel>, Query),
        ("tag" = Option<String>, Query),
        ("sort" = Option<TicketSort>, Query),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 25"),
        ("cursor" = Option<String>, Query),
    ),
    responses(
        (status = 200, body = TicketPage),
        (status = 401, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(ctx: &Ctx<'_>) -> Res {
    let (filter, sort) = parse_filter(ctx)?;
    let limit = page_limit(ctx)?;
    ctx.rate_limit("list-tickets", LISTS_PER_MINUTE).await?;
    let page = ticket_query::list(
        ctx.deps.store.as_ref(),
        &ctx.caller.tenant,
        &filter,
        sort,
        ctx.query("cursor"),
        limit,
        ctx.now,
    )
    .await
    .map_err(|e| match e {
        ListError::BadCursor => ApiError::field("cursor", "not a cursor from this listing"),
        ListError::Store(e) => e.into(),
    })?;
    ok(&TicketPage {
        items: page.items.iter().map(|t| TicketRow::new(t, ctx.now)).collect(),
        next_cursor: page.next_cursor,
    })
}

fn parse_filter(ctx: &Ctx<'_>) -> Result<(TicketFilter, TicketSort), ApiError> {
    let mut fields = Fields::default();
    let mut filter = TicketFilter::default();
    if let Some(s) = ctx.query("status") {
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.parse::<Status>() {
                Ok(st) if !filter.statuses.contains(&st) => filter.statuses.push(st),
                Ok(_) => {}
                Err(_) => {
                    fields.check(false, "status", format!("unknown status {part:?}"));
                }
            }
        }
    }
    if let Some(p) = ctx.query("priority") {
        filter.priority = Priority::ALL.into_iter().find(|x| x.as_str() == p);
        fields.check(
            filter.priority.is_some(),
            "priority",
            "one of low, normal, high, urgent",
        );
    }
    filter.assignee = match ctx.query("assignee") {
        None => AssigneeFilter::Anyone,
        Some("me") => AssigneeFilter::Agent(ctx.caller.agent.clone()),
        Some("unassigned") => AssigneeFilter::Unassigned,
        Some(a) => match AgentId::new(a) {
            Ok(id) => AssigneeFilter::Agent(id),
            Err(_) => {
                fields.check(false, "assignee", "`me`, `unassigned` or an agent id");
                AssigneeFilter::Anyone
            }
        },
    };
    if let Some(t) = ctx.query("team") {
        filter.team = TeamId::new(t).ok();
        fields.check(filter.team.is_some(), "team", "not a team id");
    }
    if let Some(s) = ctx.query("sla") {
        filter.sla = SlaStatus::ALL.into_iter().find(|x| x.as_str() == s);
        fields.check(filter.sla.is_some(), "sla", "one of breached, at_risk, on_track, none");
    }
    if let Some(c) = ctx.query("channel") {
        filter.channel = c.parse::<Channel>().ok();
        fields.check(
            filter.channel.is_some(),
            "channel",
            "one of whatsapp, instagram, email, widget",
        );
    }
    filter.tag = ctx.query("tag").map(str::to_owned);
    if let Some(c) = ctx.query("customer") {
        filter.customer = c.parse::<baton_domain::CustomerId>().ok();
        fields.check(filter.customer.is_some(), "customer", "not a customer id");
    }
    let sort = match ctx.query("sort") {
        None | Some("priority") => TicketSort::Priority,
        Some("last_activity") => TicketSort::LastActivity,
        Some("next_breach") => TicketSort::NextBreach,
        Some(_) => {
            fields.check(false, "sort", "`priority`, `last_activity` or `next_breach`");
            TicketSort::Priority
        }
    };
    fields.finish()?;
    Ok((filter, sort))
}

fn number(ctx: &Ctx<'_>) -> Result<TicketNumber, ApiError> {
    // A path that is not a ticket number names no ticket.
    match ctx.param("number").parse::<u64>() {
        Ok(n) if n > 0 => Ok(TicketNumber(n)),
        _ => Err(ApiError::not_found("ticket")),
    }
}

/// The caller's tenant's ticket; any other tenant's is simply not there.
pub(crate) async fn load(ctx: &Ctx<'_>) -> Result<Ticket, ApiError> {
    let n = number(ctx)?;
    tracing::Span::current().record("ticket", n.0);
    or_not_found(ctx.deps.store.get_ticket(&ctx.caller.tenant, n).await, "ticket")
}

#[utoipa::path(
    get, operation_id = "tickets_detail", path = "/v1/tickets/{number}", tag = "tickets",
    summary = "A ticket with its customer and its whole thread",
    params(
        ("number" = u64, Path),
        ("thread_limit" = Option<u32>, Query, description = "Thread entries per page, 1 to 100, default 100"),
        ("thread_cursor" = Option<String>, Query),
    ),
    responses((status = 200, body = TicketDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn detail(ctx: &Ctx<'_>) -> Res {
    let ticket = load(ctx).await?;
    let limit = match ctx.query("thread_limit") {
        None => PageRequest::MAX_LIMIT,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=PageRequest::MAX_LIMIT).contains(n))
            .ok_or_else(|| ApiError::field("thread_limit", "must be a number from 1 to 100"))?,
    };
    let page = PageRequest {
        limit: Some(limit),
        cursor: ctx.query("thread_cursor").map(str::to_owned),
    };
    let tenant = &ctx.caller.tenant;
    let thread = ctx.deps.store.list_timeline(tenant, ticket.number, &page).await?;
    let customer = ctx.deps.store.get_customer(tenant, ticket.customer_id).await.ok();
    let conversation_id = ticket.source.conversation_id;
    let owner = ctx
        .deps
        .store
        .get_conversation(tenant, conversation_id)
        .await
        .ok()
        .map(|c| c.owner);
    // The latest messages: the replies' delivery states and the customer's last message.
    let recent = match ctx
        .deps
        .store
        .latest_messages(tenant, conversation_id, None, DELIVERY_LOOKBACK)
        .await
    {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(error = %e, "delivery states not read");
            None
        }
    };
    let mut thread_view: Vec<ThreadEntry> = thread.items.iter().map(ThreadEntry::from).collect();
    let reply_window = match &recent {
        Some(messages) => {
            for m in messages.iter().filter(|m| m.delivery.is_some()) {
                if let Some(entry) = thread_view.iter_mut().find(|e| e.id == m.id.to_string()) {
                    entry.delivery = m.delivery;
                    entry.delivery_error = m.delivery_error.clone();
                }
            }
            Some(reply_window_view(ctx, &ticket, messages).await?)
        }
        None => None,
    };
    let surveys = ctx
        .deps
        .store
        .list_surveys(tenant, ticket.number, &PageRequest::default())
        .await?
        .items;
    ok(&TicketDetail {
        ticket: TicketView::new(&ticket, ctx.now),
        customer: customer.as_ref().map(CustomerView::from),
        conversation_owner: owner,
        thread: thread_view,
        thread_next_cursor: thread.next_cursor,
        surveys: surveys.iter().map(SurveyView::from).collect(),
        reply_window,
    })
}

/// The reply window with the channel sender's rules and the tenant's channel settings.
async fn reply_window_view(
    ctx: &Ctx<'_>,
    ticket: &Ticket,
    messages: &[baton_domain::conversation::Message],
) -> Result<ReplyWindowView, ApiError> {
    use baton_domain::conversation::Direction;
    let last = messages
        .iter()
        .rev()
        .find(|m| m.direction == Direction::Inbound && m.author == Author::Customer)
        .map(|m| m.sent_at.unwrap_or(m.created_at));
    let channel = ticket.source.channel;
    let (template, human_agent) = match channel {
        Channel::Whatsapp | Channel::Instagram => {
            let tenant = or_not_found(ctx.deps.store.get_tenant(&ctx.caller.tenant).await, "tenant")?;
            let c = &tenant.channels;
            (
                c.whatsapp.as_ref().and_then(|w| w.outside_window_template.clone()),
                c.instagram.as_ref().is_some_and(|i| i.human_agent_allowed),
            )
        }
        _ => (None, false),
    };
    let w = baton_domain::meta_send::reply_window(channel, last, ctx.now, template.as_ref(), human_agent);
    Ok(ReplyWindowView {
        state: w.state.to_owned(),
        closes_at: w.closes_at,
        last_customer_message_at: last,
        explain: w.explain,
    })
}

fn required_version(v: Option<u64>) -> Result<u64, ApiError> {
    v.ok_or_else(|| ApiError::field("version", "is required: the ticket version you read"))
}

pub(crate) fn conflict(ctx: &Ctx<'_>, current: &Ticket) -> ApiError {
    ApiError::conflict(serde_json::to_value(TicketView::new(current, ctx.now)).expect("view serialises"))
}

/// The ticket as read, refused early when the caller's version is already stale.
pub(crate) async fn load_at(ctx: &Ctx<'_>, version: Option<u64>) -> Result<Ticket, ApiError> {
    let version = required_version(version)?;
    let ticket = load(ctx).await?;
    if ticket.version != version {
        return Err(conflict(ctx, &ticket));
    }
    Ok(ticket)
}

/// Timeline ids from one monotonic generator: entries written in the same millisecond
/// (a PATCH that changes three things) keep the order they were made in.
fn next_id() -> ulid::Ulid {
    static GENERATOR: std::sync::Mutex<Option<ulid::Generator>> = std::sync::Mutex::new(None);
    let mut g = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
    g.get_or_insert_with(ulid::Generator::new)
        .generate()
        .unwrap_or_else(|_| ulid::Ulid::new())
}

fn entry(ctx: &Ctx<'_>, ticket: &Ticket, kind: TimelineKind) -> TimelineEntry {
    TimelineEntry {
        tenant_id: ctx.caller.tenant.clone(),
        ticket: ticket.number,
        id: next_id(),
        at: ctx.now,
        actor: Author::Agent {
            id: ctx.caller.agent.clone(),
        },
        entry: kind,
    }
}

fn event(ctx: &Ctx<'_>, ticket: &Ticket, name: &str, detail: serde_json::Value) -> TimelineEntry {
    entry(
        ctx,
        ticket,
        TimelineKind::Event {
            name: name.to_owned(),
            detail,
        },
    )
}

/// Writes `after` over `before` (same version), with the entries, any change of
/// assignment counts and `more` writes that belong with them, in one transaction.
async fn commit_with(
    ctx: &Ctx<'_>,
    before: &Ticket,
    after: Ticket,
    entries: &[TimelineEntry],
    more: Vec<Write>,
    capacity: Capacity,
) -> Result<Ticket, ApiError> {
    match baton_app::tickets::act(
        ctx.deps.store.as_ref(),
        &ctx.deps.queues,
        before,
        after,
        entries,
        more,
        capacity,
        ctx.now,
    )
    .await
    {
        Ok(t) => Ok(t),
        Err(e) => Err(commit_error(ctx, e).await),
    }
}

async fn commit(ctx: &Ctx<'_>, before: &Ticket, after: Ticket, entries: &[TimelineEntry]) -> Result<Ticket, ApiError> {
    commit_with(ctx, before, after, entries, vec![], Capacity::None).await
}

/// What a failed ticket write means to the agent: a lost version race is `409` with the
/// ticket as it is now; contention and throttling are `503` with `Retry-After`.
async fn commit_error(ctx: &Ctx<'_>, e: StoreError) -> ApiError {
    match e {
        StoreError::Conflict { entity: "ticket", .. } => match load(ctx).await {
            Ok(current) => conflict(ctx, &current),
            Err(e) => e,
        },
        StoreError::NotFound { entity: "agent" } => ApiError::field("agent_id", "no such agent in this tenant"),
        StoreError::Conflict {
            entity: "agent_capacity",
            ..
        } => ApiError::new(
            StatusCode::CONFLICT,
            "at_capacity",
            "the agent already has max_open active tickets; an admin may assign over the limit with \"over_capacity\": true",
        ),
        StoreError::NotFound { entity: "ticket" } => ApiError::not_found("ticket"),
        e => e.into(),
    }
}

fn action_result(ctx: &Ctx<'_>, status: StatusCode, ticket: &Ticket, entry: &TimelineEntry) -> Res {
    Ok(json_response(
        status,
        &ActionResult {
            ticket: TicketView::new(ticket, ctx.now),
            entry_id: entry.id.to_string(),
        },
    ))
}

#[utoipa::path(
    post, operation_id = "tickets_reply", path = "/v1/tickets/{number}/replies", tag = "tickets",
    summary = "Reply to the customer",
    description = "Stored on the timeline and queued for delivery on the ticket's channel. The \
                   conversation passes to humans, so the AI stays silent.",
    params(("number" = u64, Path)), request_body = TextBody,
    responses(
        (status = 201, body = ActionResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn reply(ctx: &Ctx<'_>) -> Res {
    let body: TextBody = ctx.json()?;
    let text = body.text.unwrap_or_default();
    let mut f = Fields::default();
    f.text("text", &text, 1, MAX_REPLY);
    f.check(
        body.version.is_some(),
        "version",
        "is required: the ticket version you read",
    );
    f.finish()?;
    let before = load_at(ctx, body.version).await?;
    let mut after = before.clone();
    after.apply(Action::AgentReplied, ctx.now)?;
    let e = entry(ctx, &before, TimelineKind::message(text.clone(), before.source.channel));
    let to = recipient(ctx, &before).await?;
    let after = match baton_app::tickets::reply(
        ctx.deps.store.as_ref(),
        &ctx.deps.queues,
        &before,
        after,
        &e,
        &to,
        ctx.now,
    )
    .await
    {
        Ok(t) => t,
        Err(err) => return Err(commit_error(ctx, err).await),
    };
    action_result(ctx, StatusCode::CREATED, &after, &e)
}

/// The satisfaction survey of the cycle the caller just resolved, if the tenant surveys
/// the ticket's channel and the customer can be reached there.
async fn survey_offer(ctx: &Ctx<'_>, resolved: &Ticket) -> Result<Option<baton_app::csat::Offering>, ApiError> {
    let settings = ctx.deps.store.get_tenant(&ctx.caller.tenant).await?.reports.survey;
    let to = match recipient(ctx, resolved).await {
        Ok(to) => to,
        Err(_) => return Ok(None),
    };
    let links = ctx.survey_links();
    Ok(baton_app::csat::offer(
        &settings,
        resolved,
        Some(&ctx.caller.agent),
        &to,
        links.as_ref(),
        ctx.now,
    ))
}

/// Where a reply to the ticket's customer goes: their identity on the ticket's channel.
async fn recipient(ctx: &Ctx<'_>, ticket: &Ticket) -> Result<Recipient, ApiError> {
    let to = ctx
        .deps
        .store
        .get_customer(&ctx.caller.tenant, ticket.customer_id)
        .await?
        .identities
        .into_iter()
        .find(|i| i.channel == ticket.source.channel)
        .map(|i| baton_domain::customer::reach(&i.external_id).to_owned())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "no_recipient",
                "the customer has no identity on the ticket's channel; nothing was sent",
            )
        })?;
    Ok(Recipient {
        tenant_id: ctx.caller.tenant.clone(),
        conversation_id: ticket.source.conversation_id,
        channel: ticket.source.channel,
        to,
    })
}

#[utoipa::path(
    post, operation_id = "tickets_note", path = "/v1/tickets/{number}/notes", tag = "tickets",
    summary = "Add an internal note (never sent to the customer)",
    params(("number" = u64, Path)), request_body = TextBody,
    responses(
        (status = 201, body = ActionResult), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn note(ctx: &Ctx<'_>) -> Res {
    let body: TextBody = ctx.json()?;
    let text = body.text.unwrap_or_default();
    let mut f = Fields::default();
    f.text("text", &text, 1, MAX_NOTE);
    f.check(
        body.version.is_some(),
        "version",
        "is required: the ticket version you read",
    );
    f.finish()?;
    let before = load_at(ctx, body.version).await?;
    let mut after = before.clone();
    after.last_activity_at = ctx.now;
    let e = entry(ctx, &before, TimelineKind::Note { text });
    let after = commit(ctx, &before, after, std::slice::from_ref(&e)).await?;
    action_result(ctx, StatusCode::CREATED, &after, &e)
}

#[utoipa::path(
    post, operation_id = "tickets_assign", path = "/v1/tickets/{number}/assign", tag = "tickets",
    summary = "Assign the ticket to an agent (or unassign with null)",
    description = "An agent at `max_open` active tickets is refused with `409 at_capacity`; an admin \
                   may assign over the limit with `over_capacity: true`, which the timeline records \
                   (`403` for anyone else).",
    params(("number" = u64, Path)), request_body = AssignBody,
    responses(
        (status = 200, body = ActionResult), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn assign(ctx: &Ctx<'_>) -> Res {
    let body: AssignBody = ctx.json()?;
    let agent = match body.agent_id.as_deref() {
        None => None,
        Some(a) => {
            let id = AgentId::new(a).map_err(|_| ApiError::field("agent_id", "not an agent id"))?;
            match ctx.deps.store.get_agent(&ctx.caller.tenant, &id).await {
                Ok(_) => Some(id),
                Err(StoreError::NotFound { .. }) => {
                    return Err(ApiError::field("agent_id", "no such agent in this tenant"))
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    let over_capacity = body.over_capacity.unwrap_or(false);
    if over_capacity && !ctx.caller.is_admin() {
        return Err(ApiError::forbidden("only admins may assign over an agent's capacity"));
    }
    let before = load_at(ctx, body.version).await?;
    let mut after = before.clone();
    after.assignee = agent.clone();
    after.last_activity_at = ctx.now;
    let mut detail = json!({ "from": before.assignee, "to": agent });
    let capacity = if over_capacity {
        detail["over_capacity"] = true.into();
        Capacity::None
    } else {
        Capacity::Limit
    };
    let e = event(ctx, &before, "assigned", detail);
    // Someone else's new ticket: they are told (by e-mail, as their settings say).
    let key = format!("assigned:{}:{}:{}", after.tenant_id, after.number, e.id);
    let notify = agent
        .as_ref()
        .filter(|a| **a != ctx.caller.agent && before.assignee.as_ref() != Some(*a))
        .and_then(|_| AgentNotification::for_ticket(&after, NotificationKind::Assigned, &key, None, ctx.now))
        .map(|n| Effect::notify(&n, &key, ctx.now));
    let more = notify.iter().cloned().map(Write::RecordEffect).collect();
    let after = commit_with(ctx, &before, after, std::slice::from_ref(&e), more, capacity).await?;
    if let Some(effect) = notify {
        baton_app::relay::relay(ctx.deps.store.as_ref(), &ctx.deps.queues, &[effect], ctx.now).await;
    }
    action_result(ctx, StatusCode::OK, &after, &e)
}

#[utoipa::path(
    post, operation_id = "tickets_takeover", path = "/v1/tickets/{number}/takeover", tag = "tickets",
    summary = "Take the ticket and its conversation yourself",
    description = "Assigns the ticket to the caller and hands the conversation to humans. When two \
                   agents take over at once, exactly one wins; the other gets `409`.",
    params(("number" = u64, Path)), request_body = VersionBody,
    responses(
        (status = 200, body = ActionResult), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn takeover(ctx: &Ctx<'_>) -> Res {
    let body: VersionBody = ctx.json()?;
    let before = load_at(ctx, body.version).await?;
    if !before.status.is_active() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_transition",
            format!("ticket is {}; reopen it first", before.status),
        ));
    }
    let mut after = before.clone();
    after.assignee = Some(ctx.caller.agent.clone());
    after.last_activity_at = ctx.now;
    let e = event(ctx, &before, "taken_over", json!({ "from": before.assignee }));
    let humans = Write::ClaimForHumans {
        tenant: ctx.caller.tenant.clone(),
        conversation: before.source.conversation_id,
        ticket: before.number,
    };
    let after = commit_with(
        ctx,
        &before,
        after,
        std::slice::from_ref(&e),
        vec![humans],
        Capacity::Limit,
    )
    .await?;
    action_result(ctx, StatusCode::OK, &after, &e)
}

async fn transition(ctx: &Ctx<'_>, action: Action, name: &str) -> Res {
    let body: VersionBody = ctx.json()?;
    let before = load_at(ctx, body.version).await?;
    let mut after = before.clone();
    after.apply(action, ctx.now)?;
    let e = event(ctx, &before, name, json!({ "from": before.status, "to": after.status }));
    let more = closing(ctx, &before, &after).await?;
    let after = commit_with(ctx, &before, after, std::slice::from_ref(&e), more, Capacity::None).await?;
    action_result(ctx, StatusCode::OK, &after, &e)
}

/// When a ticket closes, its conversation goes back to the AI (in the same write): the
/// customer's next message is answered, or opens a follow-up ticket, instead of landing
/// on a closed ticket nobody watches.
async fn closing(ctx: &Ctx<'_>, before: &Ticket, after: &Ticket) -> Result<Vec<Write>, ApiError> {
    if after.status != Status::Closed || before.status == Status::Closed {
        return Ok(vec![]);
    }
    Ok(back_to_ai(ctx, before).await?.into_iter().collect())
}

/// The write that gives the ticket's conversation back to the AI, if the conversation
/// still belongs to this ticket (it may have moved on to a follow-up).
async fn back_to_ai(ctx: &Ctx<'_>, ticket: &Ticket) -> Result<Option<Write>, ApiError> {
    match ctx
        .deps
        .store
        .get_conversation(&ctx.caller.tenant, ticket.source.conversation_id)
        .await
    {
        Ok(c) if c.ticket == Some(ticket.number) => Ok(Some(Write::ReturnToAi {
            tenant: ctx.caller.tenant.clone(),
            conversation: c.id,
            ticket: ticket.number,
            // The AI starts afresh: it does not re-read the escalation it handed off.
            context_start: next_id(),
        })),
        Ok(_) | Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    post, operation_id = "tickets_reopen", path = "/v1/tickets/{number}/reopen", tag = "tickets",
    summary = "Reopen a resolved or closed ticket",
    params(("number" = u64, Path)), request_body = VersionBody,
    responses(
        (status = 200, body = ActionResult), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn reopen(ctx: &Ctx<'_>) -> Res {
    transition(ctx, Action::Reopen, "reopened").await
}

#[utoipa::path(
    post, operation_id = "tickets_close", path = "/v1/tickets/{number}/close", tag = "tickets",
    summary = "Close the ticket (a human must have answered, unless it is resolved)",
    params(("number" = u64, Path)), request_body = VersionBody,
    responses(
        (status = 200, body = ActionResult), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn close(ctx: &Ctx<'_>) -> Res {
    transition(ctx, Action::Close, "closed").await
}

#[utoipa::path(
    post, operation_id = "tickets_force_close", path = "/v1/tickets/{number}/force-close", tag = "tickets",
    summary = "Close without the checks (admins)",
    params(("number" = u64, Path)), request_body = VersionBody,
    responses(
        (status = 200, body = ActionResult), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn force_close(ctx: &Ctx<'_>) -> Res {
    transition(ctx, Action::ForceClose, "force_closed").await
}

#[utoipa::path(
    post, operation_id = "tickets_return_to_ai", path = "/v1/tickets/{number}/return-to-ai", tag = "tickets",
    summary = "Give the conversation back to the AI",
    description = "Resolves the ticket if it is still active, and the AI answers the customer's next \
                   message afresh, without re-reading the escalation.",
    params(("number" = u64, Path)), request_body = VersionBody,
    responses(
        (status = 200, body = ActionResult), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn return_to_ai(ctx: &Ctx<'_>) -> Res {
    let body: VersionBody = ctx.json()?;
    let before = load_at(ctx, body.version).await?;
    let mut after = before.clone();
    if before.status.is_active() {
        after.apply(Action::Resolve, ctx.now)?;
    }
    after.last_activity_at = ctx.now;
    let e = event(
        ctx,
        &before,
        "returned_to_ai",
        json!({ "from": before.status, "to": after.status }),
    );
    let to_ai = back_to_ai(ctx, &before).await?.into_iter().collect();
    let after = commit_with(ctx, &before, after, std::slice::from_ref(&e), to_ai, Capacity::None).await?;
    action_result(ctx, StatusCode::OK, &after, &e)
}

#[utoipa::path(
    patch, operation_id = "tickets_patch", path = "/v1/tickets/{number}", tag = "tickets",
    summary = "Change status, priority, tags or team",
    description = "Status changes follow the ticket state machine (`invalid_transition` otherwise); \
                   closing this way has the same checks as `close`.",
    params(("number" = u64, Path)), request_body = PatchBody,
    responses(
        (status = 200, body = ActionResult), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn patch(ctx: &Ctx<'_>) -> Res {
    let body: PatchBody = ctx.json()?;
    let mut f = Fields::default();
    f.check(
        body.version.is_some(),
        "version",
        "is required: the ticket version you read",
    );
    f.check(
        body.status.is_some() || body.priority.is_some() || body.tags.is_some() || body.team.is_some(),
        "body",
        "change at least one of status, priority, tags, team",
    );
    let status = body.status.as_deref().map(|s| s.parse::<Status>());
    f.check(!matches!(status, Some(Err(_))), "status", "not a ticket status");
    let priority = body
        .priority
        .as_deref()
        .map(|p| Priority::ALL.into_iter().find(|x| x.as_str() == p));
    f.check(
        !matches!(priority, Some(None)),
        "priority",
        "one of low, normal, high, urgent",
    );
    let tags: Option<Vec<String>> = body.tags.as_ref().map(|t| {
        let mut v: Vec<String> = t.iter().map(|x| x.trim().to_lowercase()).collect();
        v.sort();
        v.dedup();
        v
    });
    if let Some(t) = &tags {
        f.list("tags", t, 20, 50);
    }
    let team = match body.team.as_deref() {
        None => None,
        Some("") => Some(None),
        Some(t) => match TeamId::new(t) {
            Ok(id) => match ctx.deps.store.get_team(&ctx.caller.tenant, &id).await {
                Ok(_) => Some(Some(id)),
                Err(StoreError::NotFound { .. }) => {
                    f.check(false, "team", "no such team in this tenant");
                    None
                }
                Err(e) => return Err(e.into()),
            },
            Err(_) => {
                f.check(false, "team", "not a team id");
                None
            }
        },
    };
    f.finish()?;
    let before = load_at(ctx, body.version).await?;
    let mut after = before.clone();
    let mut entries = Vec::new();
    let mut resolved = false;
    if let Some(Ok(target)) = status {
        if target != before.status {
            let action = match (before.status, target) {
                (Status::Resolved | Status::Closed, Status::Open) => Action::Reopen,
                (_, Status::Open) => Action::Resume,
                (_, Status::WaitingOnCustomer) => Action::Wait(WaitingOn::Customer),
                (_, Status::WaitingOnTeam) => Action::Wait(WaitingOn::Team),
                (_, Status::Resolved) => Action::Resolve,
                (_, Status::Closed) => Action::Close,
            };
            after.apply(action, ctx.now)?;
            resolved = action == Action::Resolve;
            entries.push(event(
                ctx,
                &before,
                "status_changed",
                json!({ "from": before.status, "to": after.status }),
            ));
        }
    }
    if let Some(Some(p)) = priority {
        if p != before.priority {
            after.priority = p;
            entries.push(event(
                ctx,
                &before,
                "priority_changed",
                json!({ "from": before.priority, "to": p }),
            ));
        }
    }
    if let Some(t) = tags {
        if t != before.tags {
            entries.push(event(
                ctx,
                &before,
                "tags_changed",
                json!({ "from": before.tags, "to": t }),
            ));
            after.tags = t;
        }
    }
    if let Some(t) = team {
        if t != before.team {
            entries.push(event(
                ctx,
                &before,
                "team_changed",
                json!({ "from": before.team, "to": t }),
            ));
            // A team chosen by hand stays: routing rules no longer move the ticket.
            after.team_pinned = t.is_some();
            after.team = t;
        }
    }
    let Some(first) = entries.first().cloned() else {
        // Nothing changes: the ticket as it is, no write, no version bump.
        return ok(&ActionResult {
            ticket: TicketView::new(&before, ctx.now),
            entry_id: String::new(),
        });
    };
    after.last_activity_at = ctx.now;
    let mut more = closing(ctx, &before, &after).await?;
    // An unassigned ticket moved to another team is routed there.
    let route =
        (after.team != before.team && after.team.is_some() && after.assignee.is_none() && after.status.is_active())
            .then(|| {
                let key = format!("team:{}:{}:{}", before.tenant_id, before.number, before.version);
                let request = baton_domain::outbound::RoutingRequest {
                    tenant_id: before.tenant_id.clone(),
                    ticket: before.number,
                };
                Effect::route(&key, &request, ctx.now)
            });
    more.extend(route.iter().cloned().map(Write::RecordEffect));
    let survey = match resolved && body.survey != Some(false) {
        true => survey_offer(ctx, &after).await?,
        false => None,
    };
    if let Some(s) = &survey {
        more.extend(s.writes());
    }
    let after = commit_with(ctx, &before, after, &entries, more, Capacity::None).await?;
    if let Some(effect) = route {
        baton_app::relay::relay(ctx.deps.store.as_ref(), &ctx.deps.queues, &[effect], ctx.now).await;
    }
    if let Some(s) = survey {
        s.relay(ctx.deps.store.as_ref(), &ctx.deps.queues, ctx.now).await;
    }
    action_result(ctx, StatusCode::OK, &after, &first)
}

/// Used by the admin routes: whether an agent id names an agent of the caller's tenant.
pub(crate) async fn agent_exists(ctx: &Ctx<'_>, id: &AgentId) -> Result<bool, ApiError> {
    match ctx.deps.store.get_agent(&ctx.caller.tenant, id).await {
        Ok(_) => Ok(true),
        Err(StoreError::NotFound { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
