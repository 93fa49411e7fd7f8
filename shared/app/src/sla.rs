//! The SLA sweep: reads only the tickets the SLA-due index says need a look now (one
//! query per shard), and marks each target at risk or breached once. A mark is written
//! with the ticket at the version read (two overlapping sweeps: one wins, the other
//! re-reads and finds nothing left to mark), with its timeline event and its
//! notification in the same transaction.
//!
//! The assignee and the team's lead are told of both. A breach escalates: the ticket's
//! priority goes up a step, and a ticket whose assignee is not online goes back to
//! routing.
//!
//! The sweep also keeps a team's "no reply, back to the queue": a ticket the router
//! assigned with a reply owed (`ReplyOwed`) and no human reply by its time goes back to
//! routing, the agent is told, and the router passes them over for it while anyone
//! else can take it.

use crate::relay::{relay, Queues};
use baton_domain::directory::Presence;
use baton_domain::notify::{AgentNotification, NotificationKind};
use baton_domain::outbound::RoutingRequest;
use baton_domain::outbox::Effect;
use baton_domain::ports::{CapacityCheck, PageRequest, Store, Write};
use baton_domain::sla::{ReplyOwed, SlaSettings, SweepMark, SLA_SHARDS};
use baton_domain::ticket::{Priority, Ticket, TimelineEntry};
use baton_domain::{AgentId, StoreError, TenantId, TicketNumber, Timestamp};
use futures::StreamExt;
use std::collections::HashMap;

/// What one sweep did, for its log line and the benchmark.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Index items read (tickets due), over every shard.
    pub due: u64,
    pub at_risk: u64,
    pub breached: u64,
    /// Tickets given back to routing because their assignee was away at a breach.
    pub rerouted: u64,
    /// Tickets given back to routing because nobody replied in the time their team
    /// allows after an assignment.
    pub returned: u64,
    /// Tickets that failed (retried by the next sweep).
    pub failed: u64,
}

const ATTEMPTS: usize = 5;

/// Tickets marked at once. In AWS a mark is a read and a transaction (tens of
/// milliseconds), so a thousand due tickets take seconds instead of most of the minute.
const MARKING: usize = 16;

/// Sweeps every shard as of `now`.
pub async fn sweep(store: &dyn Store, queues: &Queues, now: Timestamp) -> SweepReport {
    let mut report = SweepReport::default();
    // Each tenant's policies, read once per sweep.
    let mut settings: HashMap<TenantId, Option<SlaSettings>> = HashMap::new();
    for shard in 0..SLA_SHARDS {
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let due = match store.list_due(shard, now, &page).await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(shard, error = %e, "reading the SLA index failed; the next sweep reads it");
                    report.failed += 1;
                    break;
                }
            };
            for t in &due.items {
                if !settings.contains_key(&t.tenant_id) {
                    let sla = match store.get_tenant(&t.tenant_id).await {
                        Ok(tenant) => Some(tenant.sla),
                        Err(e) => {
                            tracing::warn!(tenant = %t.tenant_id, error = %e, "reading the tenant failed; the next sweep retries its tickets");
                            None
                        }
                    };
                    settings.insert(t.tenant_id.clone(), sla);
                }
            }
            // Up to MARKING tickets at once: each is its own read and transaction. The
            // tickets of a tenant that could not be read wait for the next sweep.
            let settings = &settings;
            let marked: Vec<_> = futures::stream::iter(due.items.iter())
                .map(|t| async move {
                    let result = match settings.get(&t.tenant_id) {
                        Some(Some(sla)) => Some(mark(store, queues, sla, &t.tenant_id, t.number, now).await),
                        _ => None,
                    };
                    (t, result)
                })
                .buffer_unordered(MARKING)
                .collect()
                .await;
            for (t, result) in marked {
                report.due += 1;
                match result {
                    Some(Ok(done)) => {
                        report.at_risk += done.at_risk;
                        report.breached += done.breached;
                        report.rerouted += done.rerouted;
                        report.returned += done.returned;
                    }
                    Some(Err(e)) => {
                        tracing::warn!(tenant = %t.tenant_id, ticket = %t.number, error = %e, "marking the SLA failed; the next sweep retries");
                        report.failed += 1;
                    }
                    None => report.failed += 1,
                }
            }
            match due.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
    }
    report
}

#[derive(Debug, Default)]
struct Marked {
    at_risk: u64,
    breached: u64,
    rerouted: u64,
    returned: u64,
}

fn raised(p: Priority) -> Priority {
    match p {
        Priority::Low => Priority::Normal,
        Priority::Normal => Priority::High,
        Priority::High | Priority::Urgent => Priority::Urgent,
    }
}

/// Marks one ticket's targets as of `now`; retried from a fresh read when the ticket
/// changed meanwhile (an agent, or an overlapping sweep).
async fn mark(
    store: &dyn Store,
    queues: &Queues,
    sla: &SlaSettings,
    tenant: &TenantId,
    number: TicketNumber,
    now: Timestamp,
) -> Result<Marked, StoreError> {
    for _ in 0..ATTEMPTS {
        let before = match store.get_ticket(tenant, number).await {
            Ok(t) => t,
            // An index item outliving its ticket: nothing to mark.
            Err(StoreError::NotFound { .. }) => return Ok(Marked::default()),
            Err(e) => return Err(e),
        };
        let mut after = before.clone();
        let due = Due {
            marks: after.sla.sweep(after.status, now),
            unanswered: after
                .sla
                .reply_overdue(after.status, now)
                .filter(|o| after.assignee.as_ref() == Some(&o.agent))
                .cloned(),
        };
        // A reply owed by someone who no longer holds the ticket (every change of
        // assignee ends it, so this is only a safeguard): dropped, so the index stops
        // pointing the sweep at it.
        let stale = due.unanswered.is_none() && after.sla.reply_overdue(after.status, now).is_some();
        if stale {
            after.sla.reply_owed = None;
        }
        if due.marks.is_empty() && due.unanswered.is_none() && !stale {
            return Ok(Marked::default());
        }
        match write_marks(store, queues, sla, &before, after, &due, now).await {
            Err(StoreError::Conflict { .. }) => {
                tracing::info!(ticket = %number, "the ticket changed while marking its SLA; reading it again");
                continue;
            }
            other => return other,
        }
    }
    Err(StoreError::Backend {
        kind: baton_domain::error::BackendErrorKind::Contended,
        operation: "mark sla",
        source: "the ticket kept changing".into(),
    })
}

/// Takes `after` from `agent` back to routing: its timeline event and the routing
/// request, for the mark's transaction.
fn to_queue(
    before: &Ticket,
    after: &mut Ticket,
    agent: &AgentId,
    reason: String,
    base: &str,
    now: Timestamp,
) -> (TimelineEntry, Effect) {
    after.assignee = None;
    let request = RoutingRequest {
        tenant_id: before.tenant_id.clone(),
        ticket: before.number,
    };
    let entry = TimelineEntry::event(
        before,
        "returned_to_queue",
        serde_json::json!({ "from": agent, "reason": reason }),
        now,
    );
    (entry, Effect::route(&format!("{base}:reroute"), &request, now))
}

/// What the sweep found on one ticket.
struct Due {
    marks: Vec<SweepMark>,
    /// The assignee's reply owed, overdue: the ticket goes back to the queue.
    unanswered: Option<ReplyOwed>,
}

async fn write_marks(
    store: &dyn Store,
    queues: &Queues,
    sla: &SlaSettings,
    before: &Ticket,
    mut after: Ticket,
    due: &Due,
    now: Timestamp,
) -> Result<Marked, StoreError> {
    let mut done = Marked::default();
    let marks = &due.marks;
    let breach = marks.iter().any(|m| m.breached);
    // The team's lead hears of the marks too (unless they are the assignee).
    let lead = match before.team.as_ref().filter(|_| !marks.is_empty()) {
        Some(team) => match store.get_team(&before.tenant_id, team).await {
            Ok(t) => t.lead.filter(|l| Some(l) != before.assignee.as_ref()),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        },
        None => None,
    };
    let mut entries = Vec::new();
    let mut effects = Vec::new();
    let base = format!("sla:{}:{}:{}", before.tenant_id, before.number, before.version);
    for m in marks {
        let (name, kind) = if m.breached {
            done.breached += 1;
            ("sla_breached", NotificationKind::SlaBreached)
        } else {
            done.at_risk += 1;
            ("sla_at_risk", NotificationKind::SlaAtRisk)
        };
        entries.push(TimelineEntry::event(
            before,
            name,
            serde_json::json!({
                "target": m.target,
                "due_at": m.due_at,
                "policy": before.sla.policy.as_ref().map(|p| p.name.clone()),
            }),
            now,
        ));
        let key = format!("{base}:{}:{name}", m.target.as_str());
        let recipients = after
            .assignee
            .iter()
            .map(|a| (a.clone(), key.clone()))
            .chain(lead.iter().map(|l| (l.clone(), format!("{key}:lead"))));
        for (agent, key) in recipients {
            let mut n = AgentNotification::for_agent(&after, agent, kind, &key, None, now);
            n.sla_target = Some(m.target.label().to_owned());
            n.due_at = Some(m.due_at);
            effects.push(Effect::notify(&n, &key, now));
        }
    }
    if breach {
        after.priority = raised(after.priority);
        if let Some(agent) = after.assignee.clone() {
            let away = match store.get_agent(&before.tenant_id, &agent).await {
                Ok(a) => !a.active || a.presence != Presence::Online,
                Err(StoreError::NotFound { .. }) => true,
                Err(e) => return Err(e),
            };
            if away {
                done.rerouted += 1;
                let reason = "sla breached while the assignee is away".to_owned();
                let (entry, effect) = to_queue(before, &mut after, &agent, reason, &base, now);
                entries.push(entry);
                effects.push(effect);
            }
        }
    }
    // Unanswered since the assignment (and not already sent back by a breach): back to
    // the queue, and the router passes this agent over while anyone else can take it.
    if let Some(owed) = due
        .unanswered
        .as_ref()
        .filter(|o| after.assignee.as_ref() == Some(&o.agent))
    {
        done.returned += 1;
        let reason = format!("no human reply within {} minutes of the assignment", owed.minutes);
        let (entry, effect) = to_queue(before, &mut after, &owed.agent, reason, &base, now);
        entries.push(entry);
        effects.push(effect);
        if !after.sla.unanswered_by.contains(&owed.agent) {
            after.sla.unanswered_by.push(owed.agent.clone());
        }
        let key = format!("{base}:unanswered");
        let mut n = AgentNotification::for_agent(
            &after,
            owed.agent.clone(),
            NotificationKind::ReturnedUnanswered,
            &key,
            None,
            now,
        );
        n.due_at = Some(owed.due_at);
        effects.push(Effect::notify(&n, &key, now));
    }
    after.updated_at = now;
    // The escalation may move the capacity (an unassignment) and the policy (a raised
    // priority): the placement takes care of both.
    let placement = crate::tickets::placement(store, sla, before, &mut after, CapacityCheck::None, &base, now).await?;
    let mut writes = vec![Write::UpdateTicket {
        ticket: after.clone(),
        expected_version: before.version,
    }];
    writes.extend(entries.into_iter().chain(placement.entries).map(Write::AddTimeline));
    writes.extend(placement.writes);
    writes.extend(effects.iter().cloned().map(Write::RecordEffect));
    store.commit(writes).await?;
    tracing::info!(
        ticket = %before.number,
        at_risk = done.at_risk,
        breached = done.breached,
        rerouted = done.rerouted,
        returned = done.returned,
        "sla marked"
    );
    effects.extend(placement.effects);
    relay(store, queues, &effects, now).await;
    Ok(done)
}
