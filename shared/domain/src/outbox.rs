//! The outbox: effects that must follow a state change (a reply to send, a ticket to
//! route, later notifications and surveys).
//!
//! An effect is written in the same transaction as the change it follows, under an id
//! derived from the business key that caused it (the inbound message's dedup key, the
//! timeline entry id), so a retried step can never record it twice: the second write
//! finds the first and the step knows it already happened. After the commit the effect is
//! relayed to its queue and marked relayed; a relay that fails leaves it pending, and the
//! scheduled relay sends every pending effect older than a few seconds. Queues dedupe
//! (FIFO dedup ids) and consumers are idempotent, so a double relay changes nothing.

use crate::idempotency::payload_hash;
use crate::outbound::{BackfillRequest, OutboundMessage, RoutingRequest};
use crate::ports::QueueMessage;
use crate::{TenantId, Timestamp};
use serde::{Deserialize, Serialize};

/// Where an effect goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EffectTarget {
    /// The outbound FIFO queue: a reply to deliver on the customer's channel.
    Outbound,
    /// The routing queue: a ticket that needs an assignment.
    Routing,
    /// The e-mail FIFO queue: a reply to send by e-mail.
    Email,
    /// The notification queue (standard): an agent's notification, folded into digests.
    Notify,
    /// The knowledge-base indexer's queue (standard): articles to embed.
    Index,
    /// The analytics queue (standard): the events of one change, to count and archive.
    Analytics,
}

impl EffectTarget {
    pub const ALL: [EffectTarget; 6] = [
        EffectTarget::Outbound,
        EffectTarget::Routing,
        EffectTarget::Email,
        EffectTarget::Notify,
        EffectTarget::Index,
        EffectTarget::Analytics,
    ];
}

/// How many partitions the pending-effects index is spread over, so a busy tenant's
/// effects never make one hot partition.
pub const PENDING_SHARDS: u8 = 8;

/// Effects younger than this are left to the step that recorded them; the scheduled relay
/// only sends older ones (the step relays its own right after its commit).
pub const RELAY_GRACE: time::Duration = time::Duration::seconds(10);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Effect {
    /// Derived from `kind` and `business_key` (see `Effect::id_for`).
    pub id: String,
    pub tenant_id: TenantId,
    pub target: EffectTarget,
    /// What caused the effect, in words an operator can search for.
    pub business_key: String,
    pub body: String,
    pub group_id: Option<String>,
    pub dedup_id: Option<String>,
    pub created_at: Timestamp,
    /// Set once the effect is on its queue.
    #[serde(default)]
    pub relayed_at: Option<Timestamp>,
}

impl Effect {
    /// The effect's id: one per kind of effect and business key, whichever attempt makes it.
    pub fn id_for(kind: &str, business_key: &str) -> String {
        format!("{kind}-{}", &payload_hash(business_key.as_bytes())[..40])
    }

    /// A reply to deliver: FIFO group = the conversation, dedup id = the message id. E-mail
    /// goes to the e-mail sender's queue, every other channel to the channel sender's.
    pub fn reply(kind: &str, business_key: &str, out: &OutboundMessage, now: Timestamp) -> Self {
        Effect {
            id: Effect::id_for(kind, business_key),
            tenant_id: out.tenant_id.clone(),
            target: match out.channel {
                crate::Channel::Email => EffectTarget::Email,
                _ => EffectTarget::Outbound,
            },
            business_key: business_key.to_owned(),
            body: serde_json::to_string(out).expect("an outbound message serialises"),
            group_id: Some(out.conversation_id.to_string()),
            dedup_id: Some(out.message_id.to_string()),
            created_at: now,
            relayed_at: None,
        }
    }

    /// A ticket to route: FIFO group = the ticket, dedup id = the effect's own id.
    pub fn route(business_key: &str, request: &RoutingRequest, now: Timestamp) -> Self {
        let id = Effect::id_for("route", business_key);
        Effect {
            tenant_id: request.tenant_id.clone(),
            target: EffectTarget::Routing,
            business_key: business_key.to_owned(),
            body: serde_json::to_string(request).expect("a routing request serialises"),
            group_id: Some(format!("{}#{}", request.tenant_id, request.ticket)),
            dedup_id: Some(id.clone()),
            id,
            created_at: now,
            relayed_at: None,
        }
    }

    /// An agent with room again: FIFO group = the agent (one backfill at a time each),
    /// dedup id = the effect's own id.
    pub fn backfill(business_key: &str, request: &BackfillRequest, now: Timestamp) -> Self {
        let id = Effect::id_for("backfill", business_key);
        Effect {
            tenant_id: request.tenant_id.clone(),
            target: EffectTarget::Routing,
            business_key: business_key.to_owned(),
            body: serde_json::to_string(request).expect("a backfill request serialises"),
            group_id: Some(format!("{}#agent#{}", request.tenant_id, request.backfill_for)),
            dedup_id: Some(id.clone()),
            id,
            created_at: now,
            relayed_at: None,
        }
    }

    /// An agent's notification (`notification.id` is this effect's id).
    pub fn notify(notification: &crate::notify::AgentNotification, business_key: &str, now: Timestamp) -> Self {
        Effect {
            id: notification.id.clone(),
            tenant_id: notification.tenant_id.clone(),
            target: EffectTarget::Notify,
            business_key: business_key.to_owned(),
            body: serde_json::to_string(&crate::notify::NotifyRecord::Notification(notification.clone()))
                .expect("a notification serialises"),
            group_id: None,
            dedup_id: None,
            created_at: now,
            relayed_at: None,
        }
    }

    /// An article to embed, recorded with the article's write; `business_key` names the
    /// write (the article and its time), so each write records its own.
    pub fn index(request: &crate::kb_vectors::IndexRequest, business_key: &str, now: Timestamp) -> Self {
        Effect {
            id: Effect::id_for("index", business_key),
            tenant_id: request.tenant().clone(),
            target: EffectTarget::Index,
            business_key: business_key.to_owned(),
            body: serde_json::to_string(request).expect("an index request serialises"),
            group_id: None,
            dedup_id: None,
            created_at: now,
            relayed_at: None,
        }
    }

    /// The effect that embeds `article`, for one write of it at `now`: each write records
    /// its own (two writes in the same millisecond too), and the indexer embeds the text
    /// current when it runs, so an extra request costs a read.
    pub fn index_article(article: &crate::kb::Article, now: Timestamp) -> Self {
        let request = crate::kb_vectors::IndexRequest::Article {
            tenant_id: article.tenant_id.clone(),
            article_id: article.id.clone(),
        };
        let key = format!("{}:{}:{}", article.tenant_id, article.id, ulid::Ulid::new());
        Effect::index(&request, &key, now)
    }

    /// The analytics events of one change (`business_key` names the change; see
    /// `analytics::events`), recorded in the change's transaction.
    pub fn analytics(events: &[crate::analytics::Event], business_key: &str, now: Timestamp) -> Option<Self> {
        let first = events.first()?;
        Some(Effect {
            id: Effect::id_for("analytics", business_key),
            tenant_id: first.tenant_id.clone(),
            target: EffectTarget::Analytics,
            business_key: business_key.to_owned(),
            body: serde_json::to_string(events).expect("events serialise"),
            group_id: None,
            dedup_id: None,
            created_at: now,
            relayed_at: None,
        })
    }

    pub fn queue_message(&self) -> QueueMessage {
        QueueMessage {
            body: self.body.clone(),
            group_id: self.group_id.clone(),
            dedup_id: self.dedup_id.clone(),
            delay_seconds: None,
        }
    }

    /// The pending index's shard for this effect.
    pub fn shard(&self) -> u8 {
        let h = payload_hash(self.id.as_bytes());
        u8::from_str_radix(&h[..2], 16).unwrap_or(0) % PENDING_SHARDS
    }

    pub fn is_pending(&self) -> bool {
        self.relayed_at.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_business_key_always_makes_the_same_effect_id() {
        let a = Effect::id_for("answer", "widget:demo:c-1");
        assert_eq!(a, Effect::id_for("answer", "widget:demo:c-1"));
        assert_ne!(a, Effect::id_for("notice", "widget:demo:c-1"));
        assert_ne!(a, Effect::id_for("answer", "widget:demo:c-2"));
        assert!(a.starts_with("answer-") && a.len() == "answer-".len() + 40);
    }

    #[test]
    fn shards_stay_in_range() {
        let now = Timestamp::from_unix_millis(1_700_000_000_000).unwrap();
        for i in 0..200 {
            let e = Effect::route(
                &format!("k{i}"),
                &RoutingRequest {
                    tenant_id: TenantId::new("demo").unwrap(),
                    ticket: crate::TicketNumber(i),
                },
                now,
            );
            assert!(e.shard() < PENDING_SHARDS);
            assert!(e.is_pending() && e.dedup_id.as_deref() == Some(e.id.as_str()));
        }
    }
}
