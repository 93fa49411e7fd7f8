//! What the senders share: the claim on one outbound message, the marker around each
//! call to a provider that has no idempotency key (SES, the Graph API), and how a sent or
//! failed message is recorded where the agent sees it.
//!
//! A provider call is bracketed by an attempt marker: claimed just before the call,
//! completed with the provider's answer right after it. A retry that finds the marker
//! completed uses that answer without calling again; one that finds it still in progress
//! knows an invocation stopped in the middle of the call, which may or may not have taken
//! effect. Calling again could reach the customer twice, so the senders do not: the
//! message is marked "not confirmed" on the ticket instead (at most once, never silently).

use baton_domain::conversation::{Author, Conversation, DeliveryOutcome, DeliveryStatus};
use baton_domain::error::RecordError;
use baton_domain::idempotency::{payload_hash, ClaimOutcome, ClaimToken, IdempotencyPolicy};
use baton_domain::outbound::OutboundMessage;
use baton_domain::ports::{Store, Write};
use baton_domain::tenant::Tenant;
use baton_domain::ticket::{TimelineEntry, TimelineKind};
use baton_domain::{Channel, Clock, ConversationId, StoreError, TenantId, TicketNumber};
use serde_json::{json, Value};
use std::time::Duration;

/// What the agent sees when an invocation stopped in the middle of a provider call.
pub const UNCONFIRMED: &str = "Baton stopped while handing this reply to the channel and cannot tell whether it was \
     sent. It was not sent again; check with the customer before resending.";

/// The claim on one outbound message, taken before anything else.
pub struct Claimed {
    pub key: String,
    pub hash: String,
    token: ClaimToken,
    policy: IdempotencyPolicy,
}

/// Claims `out` under `scope`: `None` when it was handled before (a redelivery).
pub async fn claim(
    store: &dyn Store,
    clock: &dyn Clock,
    scope: &str,
    out: &OutboundMessage,
    remaining: Option<Duration>,
) -> Result<Option<Claimed>, RecordError> {
    let key = format!("{}:{}", out.tenant_id, out.message_id);
    let hash = payload_hash(serde_json::to_string(out).unwrap_or_default().as_bytes());
    let mut policy = IdempotencyPolicy::default();
    if let Some(left) = remaining {
        policy = policy.within(left);
    }
    match store.claim(scope, &key, &hash, clock.now(), policy).await? {
        ClaimOutcome::Claimed(token) => Ok(Some(Claimed {
            key,
            hash,
            token,
            policy,
        })),
        ClaimOutcome::AlreadyCompleted(_) => {
            tracing::info!("redelivered reply ignored");
            Ok(None)
        }
        ClaimOutcome::PayloadMismatch => Err(RecordError::Bad(
            "an outbound message id reused with other content".into(),
        )),
        ClaimOutcome::InProgress => Err(RecordError::Transient("being sent by another invocation".into())),
    }
}

/// The reply's tenant and conversation; either missing means it can never be sent.
pub async fn load(store: &dyn Store, out: &OutboundMessage) -> Result<(Tenant, Conversation), RecordError> {
    let tenant = match store.get_tenant(&out.tenant_id).await {
        Ok(t) => t,
        Err(StoreError::NotFound { .. }) => return Err(RecordError::Bad(format!("unknown tenant {}", out.tenant_id))),
        Err(e) => return Err(e.into()),
    };
    let conversation = match store.get_conversation(&out.tenant_id, out.conversation_id).await {
        Ok(c) => c,
        Err(StoreError::NotFound { .. }) => {
            return Err(RecordError::Bad("the reply's conversation does not exist".into()))
        }
        Err(e) => return Err(e.into()),
    };
    Ok((tenant, conversation))
}

/// Completes the claim after `result` succeeded, or gives it up after a failure so a
/// retry can take it.
pub async fn settle<T: serde::Serialize>(
    store: &dyn Store,
    clock: &dyn Clock,
    scope: &str,
    claimed: &Claimed,
    result: Result<T, RecordError>,
) -> Result<T, RecordError> {
    match result {
        Ok(done) => {
            store
                .complete(
                    scope,
                    &claimed.key,
                    &claimed.token,
                    serde_json::to_value(&done).ok(),
                    clock.now(),
                    claimed.policy,
                )
                .await?;
            Ok(done)
        }
        Err(e) => {
            if let Err(release) = store.release(scope, &claimed.key, &claimed.token).await {
                tracing::warn!(error = %release, "could not release the claim; it expires on its own");
            }
            Err(e)
        }
    }
}

/// The state of one provider call.
pub enum Attempt {
    /// Ours to make; finish or abandon it with this token.
    Fresh(ClaimToken),
    /// Made before, with this answer.
    Done(Value),
    /// An earlier invocation stopped in the middle of it.
    Interrupted,
}

/// The attempt marker outlives any retry: it is completed or released, never expired.
fn attempt_policy() -> IdempotencyPolicy {
    IdempotencyPolicy {
        record_ttl: time::Duration::days(14),
        in_progress_timeout: time::Duration::days(14),
    }
}

/// Marks the call `key` is about to make.
pub async fn begin_attempt(
    store: &dyn Store,
    clock: &dyn Clock,
    scope: &str,
    key: &str,
    hash: &str,
) -> Result<Attempt, RecordError> {
    match store.claim(scope, key, hash, clock.now(), attempt_policy()).await? {
        ClaimOutcome::Claimed(token) => Ok(Attempt::Fresh(token)),
        ClaimOutcome::AlreadyCompleted(answer) => Ok(Attempt::Done(answer.unwrap_or_default())),
        ClaimOutcome::InProgress => Ok(Attempt::Interrupted),
        ClaimOutcome::PayloadMismatch => Err(RecordError::Bad(
            "an outbound message id reused with other content".into(),
        )),
    }
}

/// Records the provider's answer. A failure here is only logged: the caller goes on to
/// record the outcome, and a retry that finds the marker in progress checks the message
/// before calling it interrupted.
pub async fn finish_attempt(
    store: &dyn Store,
    clock: &dyn Clock,
    scope: &str,
    key: &str,
    token: &ClaimToken,
    answer: Value,
) {
    if let Err(e) = store
        .complete(scope, key, token, Some(answer), clock.now(), attempt_policy())
        .await
    {
        tracing::warn!(error = %e, "the provider answered, but the attempt marker was not completed");
    }
}

/// The call failed without effect: the next delivery may make it.
pub async fn abandon_attempt(store: &dyn Store, scope: &str, key: &str, token: &ClaimToken) {
    if let Err(e) = store.release(scope, key, token).await {
        tracing::warn!(error = %e, "could not release the attempt marker");
    }
}

/// The message left: it carries the channel's id (the first part's, when it went in
/// parts), and every part's id has its lookup, so delivery reports for each find it.
pub async fn record_sent(store: &dyn Store, out: &OutboundMessage, ids: &[String]) -> Result<(), RecordError> {
    for id in ids {
        store
            .record_delivery(
                &out.tenant_id,
                out.conversation_id,
                out.message_id,
                &DeliveryOutcome {
                    status: DeliveryStatus::Sent,
                    channel_message_id: Some(id.clone()),
                    error: None,
                },
            )
            .await?;
    }
    Ok(())
}

/// The outbound message a failure is about.
pub struct Target<'a> {
    pub tenant: &'a TenantId,
    pub conversation: ConversationId,
    pub message: ulid::Ulid,
    pub channel: Channel,
    pub to: &'a str,
}

impl<'a> From<&'a OutboundMessage> for Target<'a> {
    fn from(out: &'a OutboundMessage) -> Self {
        Target {
            tenant: &out.tenant_id,
            conversation: out.conversation_id,
            message: out.message_id,
            channel: out.channel,
            to: &out.to,
        }
    }
}

/// Marks the message's delivery `status` (with the reason it failed, if it did), without
/// a channel id.
pub async fn mark(
    store: &dyn Store,
    out: &Target<'_>,
    status: DeliveryStatus,
    error: Option<&str>,
) -> Result<(), StoreError> {
    let outcome = DeliveryOutcome {
        status,
        channel_message_id: None,
        error: error.map(str::to_owned),
    };
    store
        .record_delivery(out.tenant, out.conversation, out.message, &outcome)
        .await
}

/// The message did not reach the customer: marked failed with `reason` and, when there
/// is a ticket, an event on its timeline where the agent sees it. `kind` says what to do:
/// `rejected` (never retried), `needs_follow_up` (the channel's window is closed),
/// `unconfirmed` (see the module's doc).
pub async fn record_failed<'a>(
    store: &dyn Store,
    clock: &dyn Clock,
    target: impl Into<Target<'a>>,
    ticket: Option<TicketNumber>,
    kind: &str,
    reason: &str,
) -> Result<(), StoreError> {
    let out: Target<'a> = target.into();
    mark(store, &out, DeliveryStatus::Failed, Some(reason)).await?;
    let Some(ticket) = ticket else {
        tracing::warn!(kind, "a reply without a ticket did not reach the customer");
        return Ok(());
    };
    let name = if kind == "needs_follow_up" {
        "needs_follow_up"
    } else {
        "delivery_failed"
    };
    let entry = TimelineEntry {
        tenant_id: out.tenant.clone(),
        ticket,
        // One per message: a retry that gets here again finds it written.
        id: delivery_event_id(out.message),
        at: clock.now(),
        actor: Author::System,
        entry: TimelineKind::Event {
            name: name.into(),
            detail: json!({
                "message_id": out.message,
                "channel": out.channel,
                "to": out.to,
                "kind": kind,
                "reason": reason,
            }),
        },
    };
    match store.commit(vec![Write::AddTimeline(entry)]).await {
        Ok(()) | Err(StoreError::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A channel's delivery report says a message failed (WhatsApp's `failed` status with
/// its `errors`): the message carries Meta's reason in plain words, and its ticket shows
/// it, as a follow-up when the window had closed. Reports for messages Baton did not send
/// change nothing.
pub async fn report_failure(
    store: &dyn Store,
    clock: &dyn Clock,
    tenant: &TenantId,
    channel: Channel,
    channel_message_id: &str,
    code: Option<i64>,
    title: &str,
) -> Result<(), StoreError> {
    let Some((conversation, message)) = store.find_channel_message(tenant, channel_message_id).await? else {
        return Ok(());
    };
    let ticket = match store.get_conversation(tenant, conversation).await {
        Ok(c) => c.ticket,
        Err(StoreError::NotFound { .. }) => None,
        Err(e) => return Err(e),
    };
    let failure = baton_domain::meta_send::classify_meta_error(400, code, None, channel == Channel::Instagram);
    let (kind, reason) = match failure {
        baton_domain::meta_send::MetaFailure::WindowClosed => (
            "needs_follow_up",
            match channel {
                Channel::Instagram => baton_domain::meta_send::INSTAGRAM_WINDOW_CLOSED.to_owned(),
                _ => baton_domain::meta_send::WHATSAPP_WINDOW_CLOSED.to_owned(),
            },
        ),
        _ => ("rejected", baton_domain::meta_send::plain_reason(code, title)),
    };
    let target = Target {
        tenant,
        conversation,
        message,
        channel,
        to: "",
    };
    record_failed(store, clock, target, ticket, kind, &reason).await
}

/// The timeline id of a message's delivery event: at the message's own time (so it sorts
/// beside it), the same on every attempt.
pub fn delivery_event_id(message: ulid::Ulid) -> ulid::Ulid {
    let h = payload_hash(format!("delivery:{message}").as_bytes());
    let random = u128::from_str_radix(&h[..20], 16).unwrap_or(0);
    ulid::Ulid::from_parts(message.timestamp_ms(), random)
}
