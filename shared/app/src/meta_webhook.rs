//! The Meta webhook flow shared by WhatsApp and Instagram: the subscription handshake,
//! the signature check on the raw body, then every message through intake and every
//! delivery report onto its stored message. HTTP-framework neutral: `baton_aws` adapts
//! the functions' `lambda_http` requests to it.

use crate::intake::{self, IntakeError, IntakeOutcome, IntakePorts};
use baton_domain::channels::{ChannelMessage, PayloadError, WebhookBatch};
use baton_domain::meta::{verify_handshake, verify_signature, HandshakeError};
use baton_domain::{Channel, Clock, StoreError};
use futures::StreamExt;

/// Meta's payloads are small; anything this large is not from Meta.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub struct MetaWebhook {
    pub channel: Channel,
    pub verify_token: String,
    pub app_secret: String,
    pub parse: fn(&[u8]) -> Result<WebhookBatch, PayloadError>,
    pub store: std::sync::Arc<dyn baton_domain::ports::Store>,
    pub inbound_queue: std::sync::Arc<dyn baton_domain::ports::Queue>,
    pub clock: Box<dyn Clock>,
    /// How long a conversation stays open without a message before the customer's next
    /// one starts a new conversation.
    pub inactivity: time::Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    /// Messages that reused an accepted message's id with other content (reported by
    /// the adapter as the `ReusedMessageIds` metric).
    pub reused_ids: usize,
}

fn reply(status: u16, body: impl Into<String>) -> Reply {
    Reply {
        status,
        body: body.into(),
        reused_ids: 0,
    }
}

/// What became of one message of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accepted {
    Yes,
    ReusedId,
    Retry,
}

/// Senders handled at once within one delivery.
const CONCURRENT_SENDERS: usize = 8;

impl MetaWebhook {
    /// Accepts one message.
    async fn accept_one(&self, ports: &IntakePorts<'_>, message: ChannelMessage) -> Accepted {
        let tenant = match self.store.resolve_channel(self.channel, &message.account_id).await {
            Ok(Some(binding)) => binding.tenant_id,
            Ok(None) => {
                // Not ours (a number moved away, a misconfigured app): acknowledge, or Meta
                // would retry it for days.
                tracing::warn!(channel = %self.channel, account_id = %message.account_id, "message for an unknown account dropped");
                return Accepted::Yes;
            }
            Err(e) => {
                tracing::error!(channel = %self.channel, error = %e, "tenant lookup failed");
                return Accepted::Retry;
            }
        };
        let span = tracing::info_span!("intake", tenant = %tenant, channel = %self.channel, channel_message_id = %message.channel_message_id);
        let result =
            tracing::Instrument::instrument(intake::accept(ports, &tenant, message, None, None), span.clone()).await;
        let _enter = span.enter();
        match result {
            Ok(IntakeOutcome::Queued {
                conversation_id,
                customer_id,
            }) => {
                tracing::info!(conversation = %conversation_id, customer = %customer_id, "message queued");
                Accepted::Yes
            }
            Ok(IntakeOutcome::Duplicate) => {
                tracing::info!("duplicate delivery ignored");
                Accepted::Yes
            }
            Ok(IntakeOutcome::ReusedId) => {
                tracing::warn!("a delivery reused an accepted message's id with other content; ignored");
                Accepted::ReusedId
            }
            Err(IntakeError::InProgress) => {
                tracing::info!("message is being handled by another invocation");
                Accepted::Retry
            }
            Err(e) => {
                tracing::error!(error = %e, "intake failed");
                Accepted::Retry
            }
        }
    }

    /// `GET`: answer the challenge if the verify token is ours.
    pub fn handshake(&self, mode: Option<&str>, token: Option<&str>, challenge: Option<&str>) -> Reply {
        match verify_handshake(mode, token, challenge, &self.verify_token) {
            Ok(challenge) => {
                tracing::info!(channel = %self.channel, "webhook subscription verified");
                reply(200, challenge)
            }
            Err(e @ HandshakeError::Incomplete) => reply(400, e.to_string()),
            Err(e) => {
                tracing::warn!(channel = %self.channel, reason = %e, "webhook verification refused");
                reply(403, "forbidden")
            }
        }
    }

    /// `POST`: a signed delivery. 200 once everything in it is safely queued or recorded;
    /// 5xx makes Meta retry the whole delivery, which intake's idempotency makes safe.
    pub async fn deliver(&self, signature: Option<&str>, body: &[u8]) -> Reply {
        if body.len() > MAX_BODY_BYTES {
            return reply(413, "payload too large");
        }
        if let Err(e) = verify_signature(&self.app_secret, body, signature) {
            tracing::warn!(channel = %self.channel, reason = %e, "webhook signature refused");
            return reply(401, "invalid signature");
        }
        let batch = match (self.parse)(body) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(channel = %self.channel, error = %e, "webhook payload refused");
                return reply(400, e.to_string());
            }
        };
        for reason in &batch.ignored {
            tracing::debug!(channel = %self.channel, reason = %reason, "webhook item ignored");
        }
        let ports = IntakePorts::new(self.store.as_ref(), self.inbound_queue.as_ref(), self.clock.as_ref())
            .with_inactivity(self.inactivity);
        // Messages of one sender stay in order (their conversation's FIFO order); different
        // senders are handled concurrently so a large batch is still answered quickly.
        let mut groups: Vec<Vec<ChannelMessage>> = Vec::new();
        for m in batch.messages {
            match groups
                .iter_mut()
                .find(|g| g[0].account_id == m.account_id && g[0].sender_id == m.sender_id)
            {
                Some(g) => g.push(m),
                None => groups.push(vec![m]),
            }
        }
        let ports = &ports;
        let outcomes: Vec<Accepted> = futures::stream::iter(groups)
            .map(|group| async move {
                let mut outcomes = Vec::with_capacity(group.len());
                for message in group {
                    outcomes.push(self.accept_one(ports, message).await);
                }
                outcomes
            })
            .buffer_unordered(CONCURRENT_SENDERS)
            .flat_map(futures::stream::iter)
            .collect()
            .await;
        let mut failed = outcomes.iter().filter(|o| **o == Accepted::Retry).count();
        let reused_ids = outcomes.iter().filter(|o| **o == Accepted::ReusedId).count();
        for status in batch.statuses {
            let tenant = match self.store.resolve_channel(self.channel, &status.account_id).await {
                Ok(Some(b)) => b.tenant_id,
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(error = %e, "tenant lookup failed");
                    failed += 1;
                    continue;
                }
            };
            match self
                .store
                .set_delivery_status(&tenant, &status.channel_message_id, status.status)
                .await
            {
                Ok(()) if status.status == baton_domain::conversation::DeliveryStatus::Failed => {
                    tracing::warn!(tenant = %tenant, code = ?status.error_code, "the channel reports a failed delivery");
                    if let Err(e) = crate::delivery::report_failure(
                        self.store.as_ref(),
                        self.clock.as_ref(),
                        &tenant,
                        self.channel,
                        &status.channel_message_id,
                        status.error_code,
                        status.error.as_deref().unwrap_or(""),
                    )
                    .await
                    {
                        tracing::error!(tenant = %tenant, error = %e, "recording the failed delivery failed");
                        failed += 1;
                    }
                }
                Ok(()) => {
                    tracing::info!(tenant = %tenant, status = ?status.status, "delivery status recorded")
                }
                // Not a message we stored (sent from another tool): nothing to update.
                Err(StoreError::NotFound { .. }) => {
                    tracing::debug!(tenant = %tenant, "delivery status for an unknown message")
                }
                Err(e) => {
                    tracing::error!(tenant = %tenant, error = %e, "delivery status failed");
                    failed += 1;
                }
            }
        }
        let mut out = if failed > 0 {
            reply(503, "some items could not be processed; retry")
        } else {
            reply(200, "ok")
        };
        out.reused_ids = reused_ids;
        out
    }
}
