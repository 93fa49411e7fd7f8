//! Agents acting on tickets. An agent's reply is one transaction: the ticket at the
//! version the agent read, the reply on its timeline, any change of assignment counts,
//! the conversation handed to humans, the message in the conversation and its delivery in
//! the outbox; then the delivery is relayed. A crash after the commit loses nothing (the
//! sweep relays it); a retry of the same request finds the ticket's version moved and
//! gets the ticket as it is now, with the reply on it, instead of a second reply.

use crate::relay::{relay, Queues};
use crate::reply::{Recipient, Reply};
use baton_domain::conversation::Author;
use baton_domain::ports::{Store, Write};
use baton_domain::ticket::{capacity_deltas, Ticket, TimelineEntry, TimelineKind};
use baton_domain::{StoreError, Timestamp};

/// Whether an action may take an agent past `max_open`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    /// Assignment and takeover: a new assignee must be below their limit
    /// (`Conflict { "agent_capacity" }` otherwise).
    Limit,
    /// Everything else (a reopen gives the assignee their ticket back), and an admin's
    /// explicit override.
    Unchecked,
}

/// Writes `after` over `before` (at the version the agent read) with its timeline
/// entries, any change of assignment counts, and `more` writes that belong with it (the
/// conversation changing hands, a reply to relay), in one transaction. Returns the ticket
/// as written.
pub async fn act(
    store: &dyn Store,
    before: &Ticket,
    mut after: Ticket,
    entries: &[TimelineEntry],
    more: Vec<Write>,
    capacity: Capacity,
    now: Timestamp,
) -> Result<Ticket, StoreError> {
    after.updated_at = now;
    let mut writes = vec![Write::UpdateTicket {
        ticket: after.clone(),
        expected_version: before.version,
    }];
    writes.extend(entries.iter().cloned().map(Write::AddTimeline));
    writes.extend(
        capacity_deltas(before, &after)
            .into_iter()
            .map(|(agent, delta)| Write::MoveCapacity {
                tenant: before.tenant_id.clone(),
                agent,
                delta,
                within_limit: capacity == Capacity::Limit,
            }),
    );
    writes.extend(more);
    store.commit(writes).await?;
    after.version = before.version + 1;
    tracing::info!(version = after.version, "ticket updated");
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
        before,
        after,
        std::slice::from_ref(entry),
        more,
        Capacity::Unchecked,
        now,
    )
    .await?;
    if let Author::Agent { id } = &entry.actor {
        tracing::info!(agent = %id, message_id = %entry.id, "reply recorded for delivery");
    }
    relay(store, queues, std::slice::from_ref(&reply.effect), now).await;
    Ok(after)
}
