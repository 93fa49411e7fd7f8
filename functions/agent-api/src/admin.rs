//! Agents and teams: admins configure them, agents read them and set their own presence.

use crate::error::{or_not_found, ApiError, ErrorBody, Fields};
use crate::tickets::agent_exists;
use crate::views::*;
use crate::{json_response, ok, page_request, Ctx};
use baton_domain::directory::{Agent, Presence, Role, RoutingStrategy, Team};
use baton_domain::{AgentId, StoreError, TeamId};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};

type Res = Result<Response<Body>, ApiError>;

fn parse_role(s: Option<&str>) -> Option<Role> {
    match s {
        Some("admin") => Some(Role::Admin),
        Some("agent") => Some(Role::Agent),
        _ => None,
    }
}

fn parse_presence(s: Option<&str>) -> Option<Presence> {
    match s {
        Some("online") => Some(Presence::Online),
        Some("away") => Some(Presence::Away),
        Some("offline") => Some(Presence::Offline),
        _ => None,
    }
}

fn slug(text: &str) -> String {
    let s: String = text
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let s = s.trim_matches('-');
    s[..s.len().min(48)].trim_end_matches('-').to_owned()
}

pub(crate) fn valid_email(e: &str) -> bool {
    let mut parts = e.split('@');
    matches!((parts.next(), parts.next(), parts.next()), (Some(l), Some(d), None)
        if !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.') && !e.contains(char::is_whitespace))
}

/// An agent as a body describes them, and the teams the body names (`None`: unchanged).
struct AgentChange {
    agent: Agent,
    teams: Option<Vec<TeamId>>,
}

/// Validates an agent body into an agent (id from the body or the e-mail on create);
/// `tenant_teams` are the tenant's teams, which the body's `teams` must name.
fn agent_from_body(
    ctx: &Ctx<'_>,
    body: AgentBody,
    existing: Option<&Agent>,
    tenant_teams: &[Team],
) -> Result<AgentChange, ApiError> {
    let mut f = Fields::default();
    let name = body.name.unwrap_or_default();
    let email = body.email.unwrap_or_default().trim().to_ascii_lowercase();
    f.text("name", &name, 1, 100);
    f.check(
        valid_email(&email) && email.len() <= 254,
        "email",
        "not an e-mail address",
    );
    let role = parse_role(body.role.as_deref());
    f.check(role.is_some(), "role", "`admin` or `agent`");
    let presence = match body.presence.as_deref() {
        None => Some(existing.map_or(Presence::Offline, |a| a.presence)),
        p => parse_presence(p),
    };
    f.check(presence.is_some(), "presence", "one of online, away, offline");
    let max_open = body.max_open.unwrap_or(existing.map_or(10, |a| a.max_open));
    f.check((1..=200).contains(&max_open), "max_open", "must be 1 to 200");
    f.list("skills", &body.skills, 50, 50);
    let teams = body.teams.map(|names| {
        f.check(names.len() <= 20, "teams", "at most 20 teams");
        let mut teams = Vec::new();
        for (i, t) in names.iter().enumerate() {
            match TeamId::new(t.as_str()) {
                Ok(id) if tenant_teams.iter().any(|t| t.id == id) => {
                    if !teams.contains(&id) {
                        teams.push(id);
                    }
                }
                Ok(_) => {
                    f.check(false, format!("teams[{i}]"), "no such team in this tenant");
                }
                Err(_) => {
                    f.check(false, format!("teams[{i}]"), "not a team id");
                }
            }
        }
        teams
    });
    let id = match existing {
        Some(a) => Some(a.id.clone()),
        None => match body.id.as_deref() {
            Some(id) => {
                let parsed = AgentId::new(id).ok();
                f.check(
                    parsed.is_some(),
                    "id",
                    "lowercase letters, digits, '-' and '_', up to 64",
                );
                parsed
            }
            None => AgentId::new(slug(&email)).ok(),
        },
    };
    f.finish()?;
    let skills = body.skills.iter().map(|s| s.trim().to_lowercase()).collect();
    let agent = Agent {
        tenant_id: ctx.caller.tenant.clone(),
        id: id.ok_or_else(|| ApiError::field("id", "give an id"))?,
        name: name.trim().to_owned(),
        email,
        role: role.expect("checked"),
        skills,
        max_open,
        open_count: existing.map_or(0, |a| a.open_count),
        presence: presence.expect("checked"),
        created_at: existing.map_or(ctx.now, |a| a.created_at),
        active: body.active.unwrap_or(existing.is_none_or(|a| a.active)),
        notifications: existing.map(|a| a.notifications).unwrap_or_default(),
        last_assigned_at: existing.and_then(|a| a.last_assigned_at),
    };
    Ok(AgentChange { agent, teams })
}

/// Makes `agent` a member of exactly `wanted` among `teams` (the tenant's teams, changed
/// in place to what is stored), writing only the teams whose members change; the teams
/// they joined route their backlog to them.
async fn set_memberships(
    ctx: &Ctx<'_>,
    agent: &AgentId,
    wanted: &[TeamId],
    teams: &mut [Team],
) -> Result<(), ApiError> {
    let mut joined = false;
    for team in teams.iter_mut() {
        // A colleague's change to the same team meanwhile: read it again and apply the
        // membership to what is stored now (a few times, then the conflict is theirs).
        for attempt in 0..3 {
            if attempt > 0 {
                *team = ctx.deps.store.get_team(&ctx.caller.tenant, &team.id).await?;
            }
            let member = team.members.contains(agent);
            let wants = wanted.contains(&team.id);
            if member == wants {
                break;
            }
            if wants {
                team.members.push(agent.clone());
            } else {
                team.members.retain(|m| m != agent);
            }
            match ctx.deps.store.update_team(team).await {
                Ok(()) => {
                    team.version += 1;
                    joined |= wants;
                    break;
                }
                Err(StoreError::Conflict { .. }) if attempt < 2 => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    if joined {
        backfill(ctx, agent, "joined-team").await;
    }
    Ok(())
}

fn agent_id(ctx: &Ctx<'_>) -> Result<AgentId, ApiError> {
    AgentId::new(ctx.param("id")).map_err(|_| ApiError::not_found("agent"))
}

async fn load_agent(ctx: &Ctx<'_>) -> Result<Agent, ApiError> {
    or_not_found(
        ctx.deps.store.get_agent(&ctx.caller.tenant, &agent_id(ctx)?).await,
        "agent",
    )
}

#[utoipa::path(
    get, operation_id = "admin_list_agents", path = "/v1/agents", tag = "directory", summary = "The tenant's agents",
    params(("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = AgentPage), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_agents(ctx: &Ctx<'_>) -> Res {
    let page = ctx
        .deps
        .store
        .list_agents(&ctx.caller.tenant, &page_request(ctx)?)
        .await?;
    let teams = tenant_teams(ctx).await?;
    ok(&AgentPage {
        items: page.items.iter().map(|a| AgentView::new(a, &teams)).collect(),
        next_cursor: page.next_cursor,
    })
}

#[utoipa::path(
    post, operation_id = "admin_create_agent", path = "/v1/agents", tag = "directory", summary = "Add an agent (admins)",
    request_body = AgentBody,
    responses(
        (status = 201, body = AgentView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_agent(ctx: &Ctx<'_>) -> Res {
    let mut teams = tenant_teams(ctx).await?;
    let AgentChange { agent, teams: wanted } = agent_from_body(ctx, ctx.json()?, None, &teams)?;
    match ctx.deps.store.create_agent(&agent).await {
        Ok(()) => {}
        Err(StoreError::AlreadyExists { .. }) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("agent {} already exists", agent.id),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    set_memberships(ctx, &agent.id, wanted.as_deref().unwrap_or_default(), &mut teams).await?;
    Ok(json_response(StatusCode::CREATED, &AgentView::new(&agent, &teams)))
}

/// Every team of the caller's tenant (what an agent's `teams` are read from).
pub(crate) async fn tenant_teams(ctx: &Ctx<'_>) -> Result<Vec<Team>, ApiError> {
    Ok(baton_app::routing::all_teams(ctx.deps.store.as_ref(), &ctx.caller.tenant).await?)
}

/// An agent as the API shows them.
async fn agent_view(ctx: &Ctx<'_>, agent: &Agent) -> Res {
    ok(&AgentView::new(agent, &tenant_teams(ctx).await?))
}

#[utoipa::path(
    get, operation_id = "admin_get_agent", path = "/v1/agents/{id}", tag = "directory", summary = "One agent",
    params(("id" = String, Path)),
    responses((status = 200, body = AgentView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_agent(ctx: &Ctx<'_>) -> Res {
    agent_view(ctx, &load_agent(ctx).await?).await
}

#[utoipa::path(
    put, operation_id = "admin_update_agent", path = "/v1/agents/{id}", tag = "directory", summary = "Replace an agent's profile (admins)",
    description = "Name, e-mail, role, skills, max open assignments and presence; the open \
                   count is kept by the ticket actions. `teams`, when given, sets the teams the \
                   agent is a member of (the teams' `members` change; joining routes the team's \
                   backlog); absent, memberships stay.",
    params(("id" = String, Path)), request_body = AgentBody,
    responses(
        (status = 200, body = AgentView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update_agent(ctx: &Ctx<'_>) -> Res {
    let existing = load_agent(ctx).await?;
    let mut teams = tenant_teams(ctx).await?;
    let AgentChange { agent, teams: wanted } = agent_from_body(ctx, ctx.json()?, Some(&existing), &teams)?;
    ctx.deps.store.update_agent(&agent).await?;
    if let Some(wanted) = wanted {
        set_memberships(ctx, &agent.id, &wanted, &mut teams).await?;
    }
    if baton_app::routing::may_take_more(&existing, &agent) {
        backfill(ctx, &agent.id, "agent-updated").await;
    }
    ok(&AgentView::new(&agent, &teams))
}

/// Routes the backlog of `agent`'s teams now that they may have room. A failure is
/// logged, not the caller's: the change itself is stored, and the next freed place or
/// arriving ticket routes the backlog too.
async fn backfill(ctx: &Ctx<'_>, agent: &AgentId, why: &str) {
    let (store, queues) = (ctx.deps.store.as_ref(), &ctx.deps.queues);
    if let Err(e) = baton_app::routing::request_backfill(store, queues, &ctx.caller.tenant, agent, why, ctx.now).await {
        tracing::warn!(agent = %agent, error = %e, "backfill not recorded");
    }
}

/// The agent of the path, when the caller may change their own settings: themselves, or
/// any agent for admins.
async fn load_self_or_admin(ctx: &Ctx<'_>, what: &str) -> Result<Agent, ApiError> {
    let agent = load_agent(ctx).await?;
    if agent.id != ctx.caller.agent && !ctx.caller.is_admin() {
        return Err(ApiError::forbidden(format!("agents set their own {what} only")));
    }
    Ok(agent)
}

#[utoipa::path(
    put, operation_id = "admin_set_presence", path = "/v1/agents/{id}/presence", tag = "directory",
    summary = "Set presence (an agent their own; admins anyone's)",
    params(("id" = String, Path)), request_body = PresenceBody,
    responses(
        (status = 200, body = AgentView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn set_presence(ctx: &Ctx<'_>) -> Res {
    let mut agent = load_self_or_admin(ctx, "presence").await?;
    let body: PresenceBody = ctx.json()?;
    let presence = parse_presence(body.presence.as_deref())
        .ok_or_else(|| ApiError::field("presence", "one of online, away, offline"))?;
    ctx.deps
        .store
        .set_presence(&ctx.caller.tenant, &agent.id, presence)
        .await?;
    let before = agent.clone();
    agent.presence = presence;
    if baton_app::routing::may_take_more(&before, &agent) {
        backfill(ctx, &agent.id, "presence").await;
    }
    agent_view(ctx, &agent).await
}

#[utoipa::path(
    put, operation_id = "admin_set_notifications", path = "/v1/agents/{id}/notifications", tag = "directory",
    summary = "What an agent is e-mailed about (the agent their own; admins anyone's)",
    description = "Assignments, customer replies on their tickets, SLA at risk or breached; `email: false` turns all of it off. At most one e-mail per agent every 5 minutes: more is folded into one digest.",
    params(("id" = String, Path)), request_body = NotificationsBody,
    responses(
        (status = 200, body = AgentView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn set_notifications(ctx: &Ctx<'_>) -> Res {
    let mut agent = load_self_or_admin(ctx, "notifications").await?;
    let body: NotificationsBody = ctx.json()?;
    let p = &mut agent.notifications;
    p.email = body.email.unwrap_or(p.email);
    p.assigned = body.assigned.unwrap_or(p.assigned);
    p.customer_replied = body.customer_replied.unwrap_or(p.customer_replied);
    p.sla = body.sla.unwrap_or(p.sla);
    ctx.deps.store.update_agent(&agent).await?;
    agent_view(ctx, &agent).await
}

// ------------------------------------------------------------------ teams

const MAX_RETURN_AFTER_MINUTES: i64 = 7 * 24 * 60;

async fn team_from_body(ctx: &Ctx<'_>, body: TeamBody, existing: Option<&Team>) -> Result<Team, ApiError> {
    let mut f = Fields::default();
    let name = body.name.unwrap_or_default();
    f.text("name", &name, 1, 100);
    let strategy = match body.strategy.as_deref() {
        None => Some(existing.map_or(RoutingStrategy::Balanced, |t| t.strategy)),
        // The earlier name of balanced.
        Some("least_busy") => Some(RoutingStrategy::Balanced),
        Some(s) => RoutingStrategy::ALL.into_iter().find(|x| x.as_str() == s),
    };
    f.check(
        strategy.is_some(),
        "strategy",
        "`round_robin`, `balanced` or `first_available`",
    );
    f.check(body.members.len() <= 200, "members", "at most 200 members");
    let mut members = Vec::new();
    for (i, m) in body.members.iter().enumerate() {
        match AgentId::new(m.as_str()) {
            Ok(id) if agent_exists(ctx, &id).await? => {
                if !members.contains(&id) {
                    members.push(id);
                }
            }
            Ok(_) => {
                f.check(false, format!("members[{i}]"), "no such agent in this tenant");
            }
            Err(_) => {
                f.check(false, format!("members[{i}]"), "not an agent id");
            }
        }
    }
    let lead = match body.lead.as_deref().map(AgentId::new) {
        None => None,
        Some(Ok(id)) if agent_exists(ctx, &id).await? => Some(id),
        Some(_) => {
            f.check(false, "lead", "no such agent in this tenant");
            None
        }
    };
    let return_after = body.return_unanswered_after_minutes;
    f.check(
        return_after.is_none_or(|m| (1..=MAX_RETURN_AFTER_MINUTES).contains(&m)),
        "return_unanswered_after_minutes",
        "from 1 to 10080 minutes (a week), or absent",
    );
    let id = match existing {
        Some(t) => Some(t.id.clone()),
        None => match body.id.as_deref() {
            Some(id) => {
                let parsed = TeamId::new(id).ok();
                f.check(
                    parsed.is_some(),
                    "id",
                    "lowercase letters, digits, '-' and '_', up to 64",
                );
                parsed
            }
            None => TeamId::new(slug(&name)).ok(),
        },
    };
    f.finish()?;
    Ok(Team {
        tenant_id: ctx.caller.tenant.clone(),
        id: id.ok_or_else(|| ApiError::field("id", "give an id"))?,
        name: name.trim().to_owned(),
        members,
        strategy: strategy.expect("checked"),
        created_at: existing.map_or(ctx.now, |t| t.created_at),
        lead,
        return_unanswered_after_minutes: return_after.map(|m| m as u32),
        version: existing.map_or(0, |t| body.version.unwrap_or(t.version)),
    })
}

async fn load_team(ctx: &Ctx<'_>) -> Result<Team, ApiError> {
    let id = TeamId::new(ctx.param("id")).map_err(|_| ApiError::not_found("team"))?;
    or_not_found(ctx.deps.store.get_team(&ctx.caller.tenant, &id).await, "team")
}

#[utoipa::path(
    get, operation_id = "admin_list_teams", path = "/v1/teams", tag = "directory", summary = "The tenant's teams",
    params(("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = TeamPage), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_teams(ctx: &Ctx<'_>) -> Res {
    let page = ctx
        .deps
        .store
        .list_teams(&ctx.caller.tenant, &page_request(ctx)?)
        .await?;
    ok(&TeamPage {
        items: page.items.iter().map(TeamView::from).collect(),
        next_cursor: page.next_cursor,
    })
}

#[utoipa::path(
    post, operation_id = "admin_create_team", path = "/v1/teams", tag = "directory", summary = "Add a team (admins)",
    request_body = TeamBody,
    responses(
        (status = 201, body = TeamView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create_team(ctx: &Ctx<'_>) -> Res {
    let team = team_from_body(ctx, ctx.json()?, None).await?;
    match ctx.deps.store.create_team(&team).await {
        Ok(()) => Ok(json_response(StatusCode::CREATED, &TeamView::from(&team))),
        Err(StoreError::AlreadyExists { .. }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            format!("team {} already exists", team.id),
        )),
        Err(e) => Err(e.into()),
    }
}

#[utoipa::path(
    get, operation_id = "admin_get_team", path = "/v1/teams/{id}", tag = "directory", summary = "One team",
    params(("id" = String, Path)),
    responses((status = 200, body = TeamView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_team(ctx: &Ctx<'_>) -> Res {
    ok(&TeamView::from(&load_team(ctx).await?))
}

#[utoipa::path(
    put, operation_id = "admin_update_team", path = "/v1/teams/{id}", tag = "directory", summary = "Replace a team (admins)",
    description = "The whole team: fields left out take their defaults (no lead, no unanswered limit). \
                   `version` is the one read: a change made meanwhile answers 409.",
    params(("id" = String, Path)), request_body = TeamBody,
    responses(
        (status = 200, body = TeamView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update_team(ctx: &Ctx<'_>) -> Res {
    let existing = load_team(ctx).await?;
    let mut team = team_from_body(ctx, ctx.json()?, Some(&existing)).await?;
    ctx.deps.store.update_team(&team).await?;
    team.version += 1;
    for joined in team.members.iter().filter(|m| !existing.members.contains(m)) {
        backfill(ctx, joined, "joined-team").await;
    }
    ok(&TeamView::from(&team))
}
