//! Agents' e-mail notifications (`baton_domain::notify`): each one is kept as pending for
//! its agent, and the agent's digest is opened, sent once and closed through conditional
//! writes of the agent's notification state, so a burst becomes one e-mail, a crash
//! resumes the same digest and two consumers at once send it once. A notification inside
//! the agent's window schedules a flush for the window's end (a delayed queue message).

use crate::delivery::{self, Attempt};
use baton_domain::error::RecordError;
use baton_domain::idempotency::payload_hash;
use baton_domain::mail_out::{self, AutoSubmitted, OutgoingEmail};
use baton_domain::notify::{
    self, AgentNotification, NotifyRecord, NotifyState, PendingNotification, Step, MAX_PER_DIGEST,
};
use baton_domain::ports::{MailError, Mailer, Queue, QueueMessage, Store};
use baton_domain::{AgentId, Clock, StoreError, TenantId, Timestamp};
use serde_json::json;

const ATTEMPT_SCOPE: &str = "notify-attempt";
/// Conditional writes lost to a concurrent consumer before the record is retried later.
const ROUNDS: usize = 6;

pub struct NotifyPorts<'a> {
    pub store: &'a dyn Store,
    pub mailer: &'a dyn Mailer,
    /// The notification queue, where flushes are scheduled.
    pub queue: &'a dyn Queue,
    pub clock: &'a dyn Clock,
    pub from_address: &'a str,
    /// The domain of Baton's own Message-IDs.
    pub message_domain: &'a str,
    /// The inbox's address, to link tickets from the e-mail.
    pub inbox_url: Option<&'a str>,
}

/// What became of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A digest (or single notification) was sent with this many notifications.
    Sent(usize),
    /// Waiting for the window's end; a flush is scheduled.
    Scheduled(Timestamp),
    /// Nothing to do (nothing pending, or not wanted by the agent).
    Nothing,
}

pub async fn handle(ports: &NotifyPorts<'_>, record: &NotifyRecord) -> Result<Outcome, RecordError> {
    let (tenant, agent) = match record {
        NotifyRecord::Notification(n) => {
            let agent = match ports.store.get_agent(&n.tenant_id, &n.agent_id).await {
                Ok(a) => a,
                Err(StoreError::NotFound { .. }) => {
                    tracing::info!(agent = %n.agent_id, "notification for an agent no longer in the directory");
                    return Ok(Outcome::Nothing);
                }
                Err(e) => return Err(e.into()),
            };
            if !agent.active || !agent.notifications.wants(n.kind) {
                tracing::info!(agent = %n.agent_id, kind = ?n.kind, "the agent does not want this notification");
                return Ok(Outcome::Nothing);
            }
            match ports.store.put_pending_notification(n, ports.clock.now()).await {
                Ok(()) | Err(StoreError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            (&n.tenant_id, &n.agent_id)
        }
        NotifyRecord::Flush { tenant_id, agent_id } => (tenant_id, agent_id),
    };
    flush(ports, tenant, agent).await
}

async fn flush(ports: &NotifyPorts<'_>, tenant: &TenantId, agent: &AgentId) -> Result<Outcome, RecordError> {
    let store = ports.store;
    let mut sent = None;
    for _ in 0..ROUNDS {
        let state = store.get_notify_state(tenant, agent).await?;
        let pending = store.list_pending_notifications(tenant, agent, MAX_PER_DIGEST).await?;
        let now = ports.clock.now();
        let next = match notify::next_step(&state, !pending.is_empty(), now) {
            Step::Idle => return Ok(sent.map_or(Outcome::Nothing, Outcome::Sent)),
            Step::WaitUntil(at) => {
                schedule(ports, tenant, agent, at).await?;
                return Ok(sent.map_or(Outcome::Scheduled(at), Outcome::Sent));
            }
            Step::Open => NotifyState {
                last_sent_at: Some(now),
                open_digest: Some(now),
                version: state.version + 1,
            },
            Step::Finish(at) => {
                let held: Vec<PendingNotification> = pending.into_iter().filter(|p| p.stored_at <= at).collect();
                if !held.is_empty() {
                    send_digest(ports, tenant, agent, at, &held).await?;
                    store.delete_pending_notifications(tenant, agent, &held).await?;
                    sent = Some(held.len());
                }
                NotifyState {
                    open_digest: None,
                    version: state.version + 1,
                    ..state.clone()
                }
            }
        };
        match store.set_notify_state(tenant, agent, &next, state.version).await {
            // Opened or closed; or another consumer moved it first: look again.
            Ok(()) | Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(RecordError::Transient(
        "the agent's notification state kept changing".into(),
    ))
}

async fn schedule(
    ports: &NotifyPorts<'_>,
    tenant: &TenantId,
    agent: &AgentId,
    at: Timestamp,
) -> Result<(), RecordError> {
    let wait_ms = at.unix_millis() - ports.clock.now().unix_millis();
    let delay = u32::try_from(wait_ms.div_euclid(1000) + 1).unwrap_or(1).clamp(1, 900);
    let body = serde_json::to_string(&NotifyRecord::Flush {
        tenant_id: tenant.clone(),
        agent_id: agent.clone(),
    })
    .expect("a flush serialises");
    ports
        .queue
        .send(QueueMessage {
            body,
            group_id: None,
            dedup_id: None,
            delay_seconds: Some(delay),
        })
        .await
        .map_err(|e| RecordError::Transient(format!("scheduling the digest: {e}")))
}

/// Sends the digest opened at `at` once: the attempt marker is keyed by the agent and the
/// digest, so a consumer that crashed before the send sends it, and one that crashed in
/// the middle of it does not send it again.
async fn send_digest(
    ports: &NotifyPorts<'_>,
    tenant: &TenantId,
    agent_id: &AgentId,
    at: Timestamp,
    held: &[PendingNotification],
) -> Result<(), RecordError> {
    let store = ports.store;
    let key = format!("{tenant}:{agent_id}:{}", at.unix_millis());
    let ids: Vec<&str> = held.iter().map(|p| p.notification.id.as_str()).collect();
    let hash = payload_hash(ids.join(",").as_bytes());
    let token = match delivery::begin_attempt(store, ports.clock, ATTEMPT_SCOPE, &key, &hash).await? {
        Attempt::Fresh(t) => t,
        Attempt::Done(_) => return Ok(()),
        Attempt::Interrupted => {
            tracing::warn!(agent = %agent_id, "a digest was interrupted while sending; not sent again");
            return Ok(());
        }
    };
    let agent = match store.get_agent(tenant, agent_id).await {
        Ok(a) => a,
        Err(e) => {
            delivery::abandon_attempt(store, ATTEMPT_SCOPE, &key, &token).await;
            return Err(e.into());
        }
    };
    let items: Vec<AgentNotification> = held.iter().map(|p| p.notification.clone()).collect();
    let (subject, text) = notify::render(&items, &agent.name, ports.inbox_url);
    let mail = OutgoingEmail {
        from_name: Some("Baton".into()),
        from_address: ports.from_address.to_owned(),
        to: agent.email.clone(),
        reply_to: ports.from_address.to_owned(),
        subject,
        message_id: format!("notify.{}.{}@{}", agent_id, at.unix_millis(), ports.message_domain),
        in_reply_to: None,
        references: Vec::new(),
        ticket: match items.as_slice() {
            [one] => Some(one.ticket),
            _ => None,
        },
        auto_submitted: Some(AutoSubmitted::Generated),
        text,
        date: at.unix_millis() / 1000,
    };
    match ports.mailer.send_raw(&mail_out::build(&mail)).await {
        Ok(id) => {
            delivery::finish_attempt(store, ports.clock, ATTEMPT_SCOPE, &key, &token, json!({ "ses_id": id })).await;
            tracing::info!(agent = %agent_id, notifications = items.len(), "agent notified");
            Ok(())
        }
        Err(MailError::Rejected(reason)) => {
            // The agent's address refuses mail: nothing to retry; the digest is done.
            delivery::finish_attempt(
                store,
                ports.clock,
                ATTEMPT_SCOPE,
                &key,
                &token,
                json!({ "rejected": reason }),
            )
            .await;
            tracing::warn!(agent = %agent_id, reason, "the agent's address refused the notification");
            Ok(())
        }
        Err(e) => {
            delivery::abandon_attempt(store, ATTEMPT_SCOPE, &key, &token).await;
            Err(RecordError::Transient(e.to_string()))
        }
    }
}
