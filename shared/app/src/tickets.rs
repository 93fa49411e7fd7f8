//! Agents acting on tickets. An agent's reply is one transaction: the ticket at the
//! version the agent read, the reply on its timeline, any change of assignment counts,
//! the conversation handed to humans, the message in the conversation and its delivery in
//! the outbox; then the delivery is relayed. A crash after the commit loses nothing (the
//! sweep relays it); a retry of the same request finds the ticket's version moved and
//! gets the ticket as it is now, with the reply on it, instead of a second reply.

use crate::relay::{relay, Queues};
use crate::reply::{Recipient, Reply};
use baton_domain::analytics::{self, Fact, Scope};
use baton_domain::conversation::Author;
use baton_domain::outbound::{BackfillRequest, RoutingRequest};
use baton_domain::outbox::Effect;
use baton_domain::ports::{CapacityCheck, Store, Write};
use baton_domain::routing::can_take_back;
use baton_domain::sla::SlaSettings;
use baton_domain::ticket::{capacity_deltas, Ticket, TimelineEntry, TimelineKind};
use baton_domain::{StoreError, Timestamp};

/// What a ticket change does to agents' places, beside the ticket's own write.
#[derive(Debug, Default)]
pub struct Placement {
    /// The capacity moves and the effects to record, for the same transaction.
    pub writes: Vec<Write>,
    /// The effects among `writes`, to relay after the commit.
    pub effects: Vec<Effect>,
    /// For the timeline: why a reopened ticket left its former agent, what the change
    /// did to the SLA clocks.
    pub entries: Vec<TimelineEntry>,
}

/// The places a change from `before` to `after` takes and frees:
/// - every move of an assignment count (`check` on a place taken; an assignment also
///   stamps when the agent got it);
/// - a reopened ticket goes back to its former agent only if they are active, online
///   and below their limit (checked again in the transaction); otherwise it leaves them
///   and is routed again (`after.assignee` is cleared);
/// - every agent whose place frees gets a backfill: their teams' backlog is routed;
/// - the SLA clocks move with the change, by the tenant's `sla` settings (see
///   [`sla_step`]);
/// - the change's analytics events (`analytics::ticket_step`: assigned, replied,
///   resolved, reopened, closed, SLA targets met or breached) are recorded as one effect.
///
/// `key` names the change (effects are derived from it, so a retry records them once).
pub async fn placement(
    store: &dyn Store,
    sla: &SlaSettings,
    before: &Ticket,
    after: &mut Ticket,
    mut check: CapacityCheck,
    key: &str,
    now: Timestamp,
) -> Result<Placement, StoreError> {
    let mut p = Placement::default();
    let tenant = &before.tenant_id;
    let reopened = !before.status.is_active() && after.status.is_active();
    if let (true, Some(former)) = (reopened, after.assignee.clone()) {
        let refusal = match store.get_agent(tenant, &former).await {
            Ok(a) if can_take_back(&a) => None,
            Ok(a) if !a.active => Some("deactivated".to_owned()),
            Ok(a) if a.presence != baton_domain::directory::Presence::Online => {
                Some(format!("{:?}", a.presence).to_lowercase())
            }
            Ok(_) => Some("at their limit of open tickets".to_owned()),
            Err(StoreError::NotFound { .. }) => Some("no longer exists".to_owned()),
            Err(e) => return Err(e),
        };
        match refusal {
            // Taken back only if they are still available when it is written.
            None => check = CapacityCheck::Available,
            Some(why) => {
                after.assignee = None;
                let effect = Effect::route(
                    key,
                    &RoutingRequest {
                        tenant_id: tenant.clone(),
                        ticket: before.number,
                    },
                    now,
                );
                tracing::info!(agent = %former, reason = %why, "reopened without its former agent; routed again");
                p.writes.push(Write::RecordEffect(effect.clone()));
                p.effects.push(effect);
                p.entries.push(TimelineEntry::event(
                    before,
                    "returned_to_queue",
                    serde_json::json!({ "from": former, "reason": why }),
                    now,
                ));
            }
        }
    }
    for (agent, delta) in capacity_deltas(before, after) {
        if delta < 0 {
            let effect = Effect::backfill(
                &format!("{key}:{agent}"),
                &BackfillRequest {
                    tenant_id: tenant.clone(),
                    backfill_for: agent.clone(),
                },
                now,
            );
            p.writes.push(Write::RecordEffect(effect.clone()));
            p.effects.push(effect);
        }
        let assigned = delta > 0 && before.assignee.as_ref() != Some(&agent);
        p.writes.push(Write::MoveCapacity {
            tenant: tenant.clone(),
            agent,
            delta,
            check,
            assigned_at: assigned.then_some(now),
        });
    }
    p.entries.extend(sla_step(sla, before, after, now));
    if let Some(effect) = analytics_effect(sla, Some(before), after, vec![], key, now) {
        p.writes.push(Write::RecordEffect(effect.clone()));
        p.effects.push(effect);
    }
    Ok(p)
}

/// The analytics effect of a ticket's change from `before` (`None`: being opened) to
/// `after`: `facts` (what the caller alone knows) then the ticket's own, as events named
/// under `key`; `None` when nothing happened worth counting. Moves `after`'s cycle.
pub fn analytics_effect(
    sla: &SlaSettings,
    before: Option<&Ticket>,
    after: &mut Ticket,
    mut facts: Vec<Fact>,
    key: &str,
    now: Timestamp,
) -> Option<Effect> {
    let schedule = sla
        .policy_for(after)
        .map(|p| sla.schedule(p))
        .unwrap_or_else(baton_domain::sla::Schedule::always);
    facts.extend(analytics::ticket_step(before, after, &schedule, now));
    Effect::analytics(&analytics::events(&Scope::of_ticket(after), facts, key, now), key, now)
}

/// Moves `after`'s SLA clocks for the change from `before` by the tenant's policies
/// (`baton_domain::sla::step`); returns the `sla` events for the ticket's timeline.
pub fn sla_step(sla: &SlaSettings, before: &Ticket, after: &mut Ticket, now: Timestamp) -> Vec<TimelineEntry> {
    let changes = baton_domain::sla::step(sla, before, after, now);
    sla_events(after, &changes, now)
}

/// The timeline's record of SLA changes (one `sla` event each).
pub fn sla_events(ticket: &Ticket, changes: &[baton_domain::sla::SlaChange], now: Timestamp) -> Vec<TimelineEntry> {
    changes
        .iter()
        .map(|c| TimelineEntry::event(ticket, "sla", serde_json::to_value(c).unwrap_or_default(), now))
        .collect()
}

/// Writes `after` over `before` (at the version the agent read) with its timeline
/// entries, the places it takes and frees (see [`placement`]), and `more` writes that
/// belong with it (the conversation changing hands, a reply to relay), in one
/// transaction; then relays the placement's effects. Returns the ticket as written.
#[allow(clippy::too_many_arguments)]
pub async fn act(
    store: &dyn Store,
    queues: &Queues,
    before: &Ticket,
    mut after: Ticket,
    entries: &[TimelineEntry],
    more: Vec<Write>,
    check: CapacityCheck,
    now: Timestamp,
) -> Result<Ticket, StoreError> {
    after.updated_at = now;
    let key = format!("{}:{}:{}", before.tenant_id, before.number, before.version);
    let sla = store.get_tenant(&before.tenant_id).await?.sla;
    let placement = placement(store, &sla, before, &mut after, check, &key, now).await?;
    let mut writes = vec![Write::UpdateTicket {
        ticket: after.clone(),
        expected_version: before.version,
    }];
    writes.extend(entries.iter().cloned().map(Write::AddTimeline));
    writes.extend(placement.entries.into_iter().map(Write::AddTimeline));
    writes.extend(placement.writes);
    writes.extend(more);
    store.commit(writes).await?;
    after.version = before.version + 1;
    tracing::info!(version = after.version, "ticket updated");
    relay(store, queues, &placement.effects, now).await;
    Ok(after)
}

/// An agent's reply (`entry`, a `Message` entry) to the ticket's customer `to`: written
/// as `act` does, with the conversation handed to humans and the reply recorded for
/// delivery, then relayed.
pub async fn reply(
    store: &dyn Store,
    queues: &Queues,
    before: &Ticket,
    after: Ticket,
    entry: &TimelineEntry,
    to: &Recipient,
    now: Timestamp,
) -> Result<Ticket, StoreError> {
    let TimelineKind::Message { text, .. } = &entry.entry else {
        return Err(StoreError::Invalid {
            field: "entry",
            reason: "a reply is a message".into(),
        });
    };
    let reply = Reply::build(
        "reply",
        &format!("{}:{}:{}", before.tenant_id, before.number, entry.id),
        to,
        entry.id,
        entry.actor.clone(),
        text.clone(),
        Some(before.number),
        now,
    );
    let mut more = vec![Write::ClaimForHumans {
        tenant: to.tenant_id.clone(),
        conversation: to.conversation_id,
        ticket: before.number,
    }];
    more.extend(reply.writes());
    let after = act(
        store,
        queues,
        before,
        after,
        std::slice::from_ref(entry),
        more,
        CapacityCheck::None,
        now,
    )
    .await?;
    if let Author::Agent { id } = &entry.actor {
        tracing::info!(agent = %id, message_id = %entry.id, "reply recorded for delivery");
    }
    relay(store, queues, std::slice::from_ref(&reply.effect), now).await;
    Ok(after)
}
