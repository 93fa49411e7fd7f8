//! Relaying the outbox: effects go to their queues after the commit that recorded them.
//!
//! A step relays its own effects right after its commit; a failed send leaves the effect
//! pending (it is logged, never lost) and the scheduled sweep sends it later. A step that
//! finds its work already committed by an earlier attempt relays whatever that attempt
//! left pending. Sending twice is harmless: FIFO queues drop a repeated deduplication id
//! and every consumer is idempotent on the message's business key.

use baton_domain::outbox::{Effect, EffectTarget, RELAY_GRACE};
use baton_domain::ports::{OutboxStore, Queue};
use baton_domain::{StoreError, Timestamp};
use std::sync::Arc;

/// The queues a function may relay to; a function relays only what it has a queue for
/// (the sweep has them all).
#[derive(Clone, Default)]
pub struct Queues {
    pub outbound: Option<Arc<dyn Queue>>,
    pub routing: Option<Arc<dyn Queue>>,
    pub email: Option<Arc<dyn Queue>>,
    /// Agents' notifications; `None` where the function relays none.
    pub notify: Option<Arc<dyn Queue>>,
    /// The knowledge-base indexer's queue.
    pub index: Option<Arc<dyn Queue>>,
    /// The analytics consumer's queue.
    pub analytics: Option<Arc<dyn Queue>>,
}

impl Queues {
    fn for_target(&self, target: EffectTarget) -> Option<&dyn Queue> {
        match target {
            EffectTarget::Outbound => self.outbound.as_deref(),
            EffectTarget::Routing => self.routing.as_deref(),
            EffectTarget::Email => self.email.as_deref(),
            EffectTarget::Notify => self.notify.as_deref(),
            EffectTarget::Index => self.index.as_deref(),
            EffectTarget::Analytics => self.analytics.as_deref(),
        }
    }
}

/// Sends one effect and marks it relayed. `false` when it stays pending.
async fn relay_one(store: &dyn OutboxStore, queues: &Queues, effect: &Effect, now: Timestamp) -> bool {
    let Some(queue) = queues.for_target(effect.target) else {
        tracing::debug!(effect = %effect.id, target = ?effect.target, "no queue for this effect here; left to the sweep");
        return false;
    };
    if let Err(e) = queue.send(effect.queue_message()).await {
        tracing::warn!(effect = %effect.id, target = ?effect.target, error = %e, "relay failed; the effect stays pending for the sweep");
        return false;
    }
    match store.mark_relayed(&effect.id, now).await {
        Ok(()) => true,
        // Sent: a second send by the sweep is deduplicated downstream.
        Err(e) => {
            tracing::warn!(effect = %effect.id, error = %e, "effect sent but not marked relayed; the sweep may send it again");
            true
        }
    }
}

/// Relays effects a step has just committed. Returns how many reached their queue.
pub async fn relay(store: &dyn OutboxStore, queues: &Queues, effects: &[Effect], now: Timestamp) -> usize {
    let mut sent = 0;
    for effect in effects {
        if relay_one(store, queues, effect, now).await {
            sent += 1;
        }
    }
    sent
}

/// Relays the effects with these ids that an earlier attempt recorded but left pending.
pub async fn relay_recorded(
    store: &dyn OutboxStore,
    queues: &Queues,
    ids: &[String],
    now: Timestamp,
) -> Result<usize, StoreError> {
    let mut sent = 0;
    for id in ids {
        if let Some(effect) = store.get_effect(id).await? {
            if effect.is_pending() && relay_one(store, queues, &effect, now).await {
                sent += 1;
            }
        }
    }
    Ok(sent)
}

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    pub relayed: usize,
    pub still_pending: usize,
}

/// Sends every pending effect older than the grace period, shard by shard, oldest first,
/// at most `per_shard` of each shard per sweep.
pub async fn sweep(
    store: &dyn OutboxStore,
    queues: &Queues,
    now: Timestamp,
    per_shard: u32,
) -> Result<SweepReport, StoreError> {
    let mut report = SweepReport::default();
    let older_than = now.plus(-RELAY_GRACE);
    for shard in 0..baton_domain::outbox::PENDING_SHARDS {
        for effect in store.list_pending(shard, older_than, per_shard).await? {
            if relay_one(store, queues, &effect, now).await {
                report.relayed += 1;
            } else {
                report.still_pending += 1;
            }
        }
    }
    if report.relayed > 0 || report.still_pending > 0 {
        tracing::info!(
            relayed = report.relayed,
            still_pending = report.still_pending,
            "outbox swept"
        );
    }
    Ok(report)
}
