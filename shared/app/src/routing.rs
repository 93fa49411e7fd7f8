//! The router: gives a ticket to the right agent at once, or leaves it in its team's
//! backlog with the reason; and routes a team's backlog the moment an agent has room.
//!
//! Every assignment is one transaction: the ticket at the version read (still
//! unassigned), the winner's place (below `max_open`, online and active, in the same
//! write: concurrent routers cannot overfill anyone), the team's rotation (round robin:
//! moved on only from where it was read), the routing event that explains it, and the
//! assignee's notification in the outbox. A lost race is read again and decided again.

use crate::relay::{relay, Queues};
use baton_domain::conversation::Author;
use baton_domain::directory::{Agent, RoutingStrategy, Team};
use baton_domain::notify::{AgentNotification, NotificationKind};
use baton_domain::outbound::RouterMessage;
use baton_domain::outbox::Effect;
use baton_domain::ports::{CapacityCheck, PageRequest, Store, Write};
use baton_domain::routing::{apply_rules, can_take_back, choose_agent, Explanation, Rotation, TicketFacts};
use baton_domain::sla::{ReplyOwed, SlaSettings};
use baton_domain::tenant::Tenant;
use baton_domain::ticket::{Ticket, TimelineEntry, TimelineKind};
use baton_domain::{AgentId, StoreError, TeamId, TenantId, TicketNumber, Timestamp};

/// How often a decision is made again after losing a race (another router took the
/// agent's last place, moved the rotation, or changed the ticket).
const ATTEMPTS: u32 = 10;
/// At most this many backlog tickets are routed by one backfill.
const BACKFILL_LIMIT: u32 = 25;

#[derive(Debug, Clone, PartialEq)]
pub enum Routed {
    Assigned {
        ticket: TicketNumber,
        agent: AgentId,
    },
    /// Nobody could take it (or the team takes tickets by first available): it waits.
    Queued {
        ticket: TicketNumber,
        team: Option<TeamId>,
    },
    /// Nothing to do: assigned already, no longer active, or gone.
    Skipped {
        ticket: Option<TicketNumber>,
        why: &'static str,
    },
}

/// Whether a ticket that stays unassigned gets a `queued` event: on arrival yes (the
/// team sees why), on a backfill only when the rules changed it (no event per attempt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Occasion {
    Arrived,
    Backfill,
}

/// A routing decision for a ticket, before it is written.
pub struct Plan {
    /// The ticket with the rules' actions applied (not yet assigned).
    pub ticket: Ticket,
    pub team: Option<Team>,
    pub rotation: Rotation,
    pub explanation: Explanation,
}

/// The customer's words on the ticket that rules may look at: its first timeline page.
async fn customer_texts(store: &dyn Store, ticket: &Ticket) -> Result<Vec<String>, StoreError> {
    let page = store
        .list_timeline(&ticket.tenant_id, ticket.number, &PageRequest::first(25))
        .await?;
    Ok(page
        .items
        .into_iter()
        .filter(|e| e.actor == Author::Customer)
        .filter_map(|e| match e.entry {
            TimelineKind::Message { text, .. } => Some(text),
            _ => None,
        })
        .collect())
}

/// The facts rules look at for a stored ticket.
pub async fn facts_of(store: &dyn Store, ticket: &Ticket) -> Result<TicketFacts, StoreError> {
    let texts = customer_texts(store, ticket).await?;
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let attributes = match store.get_customer(&ticket.tenant_id, ticket.customer_id).await {
        Ok(c) => c.attributes,
        Err(StoreError::NotFound { .. }) => Default::default(),
        Err(e) => return Err(e),
    };
    Ok(TicketFacts::of(ticket, &texts, attributes))
}

/// The team and its members as stored (`None` when the ticket has no team or the team
/// is gone).
async fn team_and_agents(
    store: &dyn Store,
    tenant: &TenantId,
    team: Option<&TeamId>,
) -> Result<Option<(Team, Vec<Agent>, Rotation)>, StoreError> {
    let Some(id) = team else { return Ok(None) };
    let team = match store.get_team(tenant, id).await {
        Ok(t) => t,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let agents = store.get_agents(tenant, &team.members).await?;
    let rotation = match team.strategy {
        RoutingStrategy::RoundRobin => store.get_rotation(tenant, &team.id).await?,
        _ => Rotation::default(),
    };
    Ok(Some((team, agents, rotation)))
}

/// Decides for `ticket` as it stands, without writing: the rules, then the team's
/// choice. The preview and the router share it.
pub async fn plan(
    store: &dyn Store,
    tenant: &Tenant,
    mut ticket: Ticket,
    facts: &TicketFacts,
) -> Result<Plan, StoreError> {
    let (rule, team_reason) = apply_rules(&tenant.routing, facts, &mut ticket);
    let found = team_and_agents(store, &tenant.id, ticket.team.as_ref()).await?;
    let (team, agents, rotation) = match found {
        Some((t, a, r)) => (Some(t), a, r),
        None => (None, vec![], Rotation::default()),
    };
    let choice = team
        .as_ref()
        .map(|t| choose_agent(t, &agents, &ticket.tags, &ticket.sla.unanswered_by, &rotation));
    let team_reason = match (&ticket.team, &team) {
        (Some(id), None) => format!("{team_reason}; but there is no team \"{id}\""),
        _ => team_reason,
    };
    let explanation = Explanation::new(rule, team_reason, &ticket, team.as_ref(), choice);
    Ok(Plan {
        ticket,
        team,
        rotation,
        explanation,
    })
}

fn routing_event(ticket: &Ticket, name: &str, explanation: &Explanation, now: Timestamp) -> TimelineEntry {
    TimelineEntry {
        tenant_id: ticket.tenant_id.clone(),
        ticket: ticket.number,
        id: ulid::Ulid::new(),
        at: now,
        actor: Author::System,
        entry: TimelineKind::Event {
            name: name.to_owned(),
            detail: serde_json::to_value(explanation).expect("an explanation serialises"),
        },
    }
}

/// Whether a failed commit is a lost race, decided again with fresh reads.
fn lost_race(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Conflict {
            entity: "ticket" | "agent_capacity" | "team_rotation",
            ..
        }
    )
}

fn contended(what: &str) -> StoreError {
    StoreError::Backend {
        operation: "route ticket",
        kind: baton_domain::error::BackendErrorKind::Contended,
        source: format!("{what}: lost {ATTEMPTS} races in a row; retried later").into(),
    }
}

/// Routes one ticket: assigned to the team's choice, or left in the team's backlog.
pub async fn route_ticket(
    store: &dyn Store,
    queues: &Queues,
    tenant_id: &TenantId,
    number: TicketNumber,
    now: Timestamp,
) -> Result<Routed, StoreError> {
    route_one(store, queues, tenant_id, number, Occasion::Arrived, now).await
}

async fn route_one(
    store: &dyn Store,
    queues: &Queues,
    tenant_id: &TenantId,
    number: TicketNumber,
    occasion: Occasion,
    now: Timestamp,
) -> Result<Routed, StoreError> {
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            // Routers that lost to each other do not all come back at once.
            let jitter = (ulid::Ulid::new().random() % 20) as u64;
            tokio::time::sleep(std::time::Duration::from_millis(5 * u64::from(attempt) + jitter)).await;
        }
        let ticket = match store.get_ticket(tenant_id, number).await {
            Ok(t) => t,
            Err(StoreError::NotFound { .. }) => {
                return Ok(Routed::Skipped {
                    ticket: Some(number),
                    why: "no such ticket",
                })
            }
            Err(e) => return Err(e),
        };
        if !ticket.status.is_active() {
            return Ok(Routed::Skipped {
                ticket: Some(number),
                why: "the ticket is no longer active",
            });
        }
        if ticket.assignee.is_some() {
            return Ok(Routed::Skipped {
                ticket: Some(number),
                why: "the ticket is assigned already",
            });
        }
        let tenant = store.get_tenant(tenant_id).await?;
        let facts = facts_of(store, &ticket).await?;
        let plan = plan(store, &tenant, ticket.clone(), &facts).await?;
        let outcome = match plan.explanation.choice.winner.clone() {
            Some(agent) => assign(store, queues, &tenant.sla, &ticket, plan, agent, now).await,
            None => queue(store, &tenant.sla, &ticket, plan, occasion, now).await,
        };
        match outcome {
            Err(e) if lost_race(&e) => {
                tracing::info!(ticket = %number, reason = %e, "lost a routing race; deciding again");
                continue;
            }
            other => return other,
        }
    }
    Err(contended("ticket"))
}

async fn assign(
    store: &dyn Store,
    queues: &Queues,
    sla: &SlaSettings,
    before: &Ticket,
    plan: Plan,
    agent: AgentId,
    now: Timestamp,
) -> Result<Routed, StoreError> {
    let mut after = plan.ticket;
    after.assignee = Some(agent.clone());
    after.updated_at = now;
    after.last_activity_at = now;
    // A team that takes unanswered tickets back: the assignee owes a reply.
    after.sla.reply_owed = plan
        .team
        .as_ref()
        .and_then(|t| t.return_unanswered_after_minutes)
        .map(|minutes| ReplyOwed::new(agent.clone(), minutes, now));
    let key = format!("routed:{}:{}:{}", before.tenant_id, before.number, before.version);
    let placement =
        crate::tickets::placement(store, sla, before, &mut after, CapacityCheck::Available, &key, now).await?;
    let event = routing_event(before, "routed", &plan.explanation, now);
    let mut writes = vec![
        Write::UpdateTicket {
            ticket: after.clone(),
            expected_version: before.version,
        },
        Write::AddTimeline(event),
    ];
    writes.extend(placement.entries.into_iter().map(Write::AddTimeline));
    writes.extend(placement.writes);
    if let Some(team) = plan.team.as_ref().filter(|t| t.strategy == RoutingStrategy::RoundRobin) {
        writes.push(Write::AdvanceRotation {
            tenant: before.tenant_id.clone(),
            team: team.id.clone(),
            expected_seq: plan.rotation.seq,
            last: agent.clone(),
        });
    }
    let notify = AgentNotification::for_ticket(&after, NotificationKind::Assigned, &key, None, now)
        .map(|n| Effect::notify(&n, &key, now));
    writes.extend(notify.iter().cloned().map(Write::RecordEffect));
    store.commit(writes).await?;
    tracing::info!(ticket = %before.number, agent = %agent, why = %plan.explanation.choice.why, "ticket routed");
    let mut effects = placement.effects;
    effects.extend(notify);
    relay(store, queues, &effects, now).await;
    Ok(Routed::Assigned {
        ticket: before.number,
        agent,
    })
}

async fn queue(
    store: &dyn Store,
    sla: &SlaSettings,
    before: &Ticket,
    plan: Plan,
    occasion: Occasion,
    now: Timestamp,
) -> Result<Routed, StoreError> {
    let mut after = plan.ticket;
    let changed = after.team != before.team || after.priority != before.priority || after.tags != before.tags;
    if changed || occasion == Occasion::Arrived {
        after.updated_at = now;
        let event = routing_event(before, "queued", &plan.explanation, now);
        let sla_entries = crate::tickets::sla_step(sla, before, &mut after, now);
        let mut writes = vec![
            Write::UpdateTicket {
                ticket: after.clone(),
                expected_version: before.version,
            },
            Write::AddTimeline(event),
        ];
        writes.extend(sla_entries.into_iter().map(Write::AddTimeline));
        store.commit(writes).await?;
        tracing::info!(ticket = %before.number, team = ?after.team, why = %plan.explanation.choice.why, "ticket waits in the backlog");
    }
    Ok(Routed::Queued {
        ticket: before.number,
        team: after.team,
    })
}

/// The teams `agent` is a member of.
pub async fn teams_of(store: &dyn Store, tenant: &TenantId, agent: &AgentId) -> Result<Vec<Team>, StoreError> {
    let mut teams = all_teams(store, tenant).await?;
    teams.retain(|t| t.members.contains(agent));
    Ok(teams)
}

/// Every team of the tenant, all pages.
pub async fn all_teams(store: &dyn Store, tenant: &TenantId) -> Result<Vec<Team>, StoreError> {
    baton_domain::ports::all_pages(|page| async move { store.list_teams(tenant, &page).await }).await
}

/// Routes the backlog of the teams of an agent who has room again (their teams that
/// take tickets by first available keep theirs for whoever asks). Stops at the first
/// ticket nobody can take, or once the agent's free places are filled.
pub async fn backfill(
    store: &dyn Store,
    queues: &Queues,
    tenant: &TenantId,
    agent: &AgentId,
    now: Timestamp,
) -> Result<Vec<Routed>, StoreError> {
    let me = match store.get_agent(tenant, agent).await {
        Ok(a) => a,
        Err(StoreError::NotFound { .. }) => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    if !can_take_back(&me) {
        return Ok(vec![Routed::Skipped {
            ticket: None,
            why: "the agent has no room or is not online",
        }]);
    }
    let room = (me.max_open - me.open_count.min(me.max_open)).min(BACKFILL_LIMIT);
    let mut routed = Vec::new();
    for team in teams_of(store, tenant, agent).await? {
        if team.strategy == RoutingStrategy::FirstAvailable {
            continue;
        }
        let backlog = store
            .list_team_backlog(tenant, &team.id, &PageRequest::first(room))
            .await?;
        for ticket in backlog.items {
            let r = route_one(store, queues, tenant, ticket.number, Occasion::Backfill, now).await?;
            let stop = matches!(r, Routed::Queued { .. });
            routed.push(r);
            let filled = routed.iter().filter(|r| matches!(r, Routed::Assigned { .. })).count();
            if stop || filled >= room as usize {
                break;
            }
        }
    }
    tracing::info!(agent = %agent, routed = routed.len(), "backfill done");
    Ok(routed)
}

/// One message of the routing queue.
pub async fn handle(
    store: &dyn Store,
    queues: &Queues,
    message: &RouterMessage,
    now: Timestamp,
) -> Result<Vec<Routed>, StoreError> {
    match message {
        RouterMessage::Ticket(r) => Ok(vec![route_ticket(store, queues, &r.tenant_id, r.ticket, now).await?]),
        RouterMessage::Backfill(b) => backfill(store, queues, &b.tenant_id, &b.backfill_for, now).await,
    }
}

/// Asks for a backfill of `agent`'s teams after a change outside a ticket (they came
/// online, their limit was raised, they joined a team): recorded in the outbox, then
/// relayed. `why` and `now` name the change, so a repeat of the same request is one.
pub async fn request_backfill(
    store: &dyn Store,
    queues: &Queues,
    tenant: &TenantId,
    agent: &AgentId,
    why: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let effect = Effect::backfill(
        &format!("{why}:{tenant}:{agent}:{}", now.unix_millis()),
        &baton_domain::outbound::BackfillRequest {
            tenant_id: tenant.clone(),
            backfill_for: agent.clone(),
        },
        now,
    );
    match store.commit(vec![Write::RecordEffect(effect.clone())]).await {
        Ok(()) | Err(StoreError::AlreadyExists { .. }) => {}
        Err(e) => return Err(e),
    }
    relay(store, queues, &[effect], now).await;
    Ok(())
}

/// Whether a change of an agent's profile may give them room for backlog tickets: they
/// can take one now and could not before, or their limit went up. (Joining a team is a
/// change of the team's members, which backfills the new members itself.)
pub fn may_take_more(before: &Agent, after: &Agent) -> bool {
    can_take_back(after) && (!can_take_back(before) || after.max_open > before.max_open)
}
