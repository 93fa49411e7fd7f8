//! Sending a reply by e-mail, once: the `email-sender` function's use case.
//!
//! ```text
//! claim(message) ─ read tenant, conversation, ticket, thread ─ build MIME
//!   ─ mark the attempt ─ SES SendRawEmail ─ complete the attempt (SES's id)
//!   ─ record: message sent + Message-ID lookups │ or: failed + timeline event
//!   ─ complete(message)
//! ```
//!
//! A redelivered queue message finds its claim completed and sends nothing; the SES call
//! is bracketed by an attempt marker (`crate::delivery`), so a crash in the middle of it
//! never mails the customer twice.

use crate::delivery::{self, Attempt};
use baton_domain::conversation::{Author, Direction, Message};
use baton_domain::email::ticket_alias_token;
use baton_domain::error::RecordError;
use baton_domain::mail_out::{self, OutgoingEmail};
use baton_domain::outbound::OutboundMessage;
use baton_domain::ports::{MailError, Mailer, SentEmail, Store};
use baton_domain::tenant::Tenant;
use baton_domain::ticket::Ticket;
use baton_domain::{Channel, Clock, StoreError, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

/// The claim on one outbound message.
pub const SCOPE: &str = "email-send";
/// The marker around the SES call itself.
const ATTEMPT_SCOPE: &str = "email-attempt";
/// Messages read back to thread a reply (the newest; the root is kept by `References`
/// of the messages in it).
const THREAD_WINDOW: u32 = 50;

/// The sender's settings, read once per process.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// The From address unless the tenant sets its own (`mail_out::FROM_ENV_VARS`).
    pub from_address: String,
    /// Where customers' answers are received (`ticket+…@` and `support+…@` live there).
    pub inbound_domain: String,
    /// Signs `ticket+{token}@` reply addresses.
    pub alias_secret: String,
    /// SES's region, which names the Message-ID SES gives a message.
    pub region: String,
}

pub struct EmailPorts<'a> {
    pub store: &'a dyn Store,
    pub mailer: &'a dyn Mailer,
    pub clock: &'a dyn Clock,
}

/// What became of one outbound message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Sent {
    /// Handed to SES; `message_id` is the Message-ID the customer's mail shows.
    Sent { message_id: String },
    /// Refused for good; the reason is on the ticket.
    Rejected { reason: String },
    /// An earlier invocation stopped during the send; marked on the ticket, not resent.
    Unconfirmed,
    /// The address bounced or complained before: not sent; the ticket says why.
    Undeliverable { reason: String },
    /// Done before.
    Duplicate,
    /// A survey whose ticket was reopened before it went out, or that went out already.
    Withdrawn,
}

/// Sends one reply, once. `remaining` is the invocation's time left: the claim lasts no
/// longer, so a retry after a crash takes over promptly.
pub async fn deliver(
    ports: &EmailPorts<'_>,
    config: &SenderConfig,
    out: &OutboundMessage,
    remaining: Option<Duration>,
) -> Result<Sent, RecordError> {
    if out.channel != Channel::Email {
        return Err(RecordError::Bad(format!(
            "a {:?} message on the e-mail queue",
            out.channel
        )));
    }
    let Some(claimed) = delivery::claim(ports.store, ports.clock, SCOPE, out, remaining).await? else {
        return Ok(Sent::Duplicate);
    };
    let result = send(ports, config, out, &claimed.key, &claimed.hash).await;
    match &result {
        Ok(Sent::Rejected { reason } | Sent::Undeliverable { reason }) => {
            crate::csat::not_sent(ports.store, out, reason).await?
        }
        Ok(Sent::Unconfirmed) => crate::csat::not_sent(ports.store, out, delivery::UNCONFIRMED).await?,
        _ => {}
    }
    delivery::settle(ports.store, ports.clock, SCOPE, &claimed, result).await
}

async fn send(
    ports: &EmailPorts<'_>,
    config: &SenderConfig,
    out: &OutboundMessage,
    key: &str,
    hash: &str,
) -> Result<Sent, RecordError> {
    let (store, clock) = (ports.store, ports.clock);
    let (tenant, conversation) = delivery::load(store, out).await?;
    let survey = match out.survey {
        Some(at) => match crate::csat::to_send(store, out, at, clock.now()).await? {
            Some(s) => Some(s),
            None => return Ok(Sent::Withdrawn),
        },
        None => None,
    };
    let ticket = match out.ticket {
        Some(n) => match store.get_ticket(&out.tenant_id, n).await {
            Ok(t) => Some(t),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let number = ticket.as_ref().map(|t| t.number);
    // An address that bounced or complained gets nothing more: sending on would hurt the
    // reputation every tenant's mail depends on.
    let customer = match store.get_customer(&out.tenant_id, conversation.customer_id).await {
        Ok(c) => Some(c),
        Err(StoreError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(mark) = customer.as_ref().and_then(|c| c.undeliverable(&out.to)) {
        let reason = format!(
            "Not sent: mail to {} {} on {} ({}). Reach the customer another way.",
            mark.address,
            if mark.kind == "complaint" {
                "was reported as spam"
            } else {
                "bounced"
            },
            mark.at,
            mark.reason
        );
        delivery::record_failed(store, clock, out, number, "undeliverable", &reason).await?;
        return Ok(Sent::Undeliverable { reason });
    }
    let thread = store
        .latest_messages(&out.tenant_id, out.conversation_id, None, THREAD_WINDOW)
        .await?;
    let subject = conversation
        .subject
        .clone()
        .or_else(|| ticket.as_ref().map(|t| t.subject.clone()))
        .unwrap_or_default();
    let mail = compose(config, &tenant, &subject, ticket.as_ref(), &thread, out, clock.now());
    let raw = mail_out::build(&mail);
    let sent = match delivery::begin_attempt(store, clock, ATTEMPT_SCOPE, key, hash).await? {
        Attempt::Fresh(token) => match ports.mailer.send_raw(&raw).await {
            Ok(ses_id) => {
                let message_id = mail_out::ses_message_id(&ses_id, &config.region);
                delivery::finish_attempt(
                    store,
                    clock,
                    ATTEMPT_SCOPE,
                    key,
                    &token,
                    json!({ "message_id": message_id }),
                )
                .await;
                record_sent(store, out, &mail, &message_id).await?;
                tracing::info!(ses_message_id = %ses_id, "e-mail sent");
                Ok(Sent::Sent { message_id })
            }
            Err(MailError::Rejected(reason)) => {
                delivery::finish_attempt(store, clock, ATTEMPT_SCOPE, key, &token, json!({ "rejected": reason })).await;
                delivery::record_failed(store, clock, out, number, "rejected", &reason).await?;
                tracing::warn!(reason = %reason, "e-mail rejected by the mail service");
                Ok(Sent::Rejected { reason })
            }
            Err(e) => {
                delivery::abandon_attempt(store, ATTEMPT_SCOPE, key, &token).await;
                if matches!(e, MailError::Misconfigured(_)) {
                    tracing::error!(error = %e, "the mail service refuses Baton's setup; retried until it is fixed");
                }
                Err(RecordError::Transient(e.to_string()))
            }
        },
        Attempt::Done(answer) => {
            // An earlier invocation had SES's answer and stopped before finishing.
            if let Some(message_id) = answer["message_id"].as_str() {
                record_sent(store, out, &mail, message_id).await?;
                Ok(Sent::Sent {
                    message_id: message_id.to_owned(),
                })
            } else {
                let reason = answer["rejected"].as_str().unwrap_or("rejected").to_owned();
                delivery::record_failed(store, clock, out, number, "rejected", &reason).await?;
                Ok(Sent::Rejected { reason })
            }
        }
        Attempt::Interrupted => {
            // Recorded as sent already (the marker's completion was what failed)?
            let stored = thread.iter().find(|m| m.id == out.message_id);
            match stored.and_then(|m| m.channel_message_id.clone()) {
                Some(message_id) => Ok(Sent::Sent { message_id }),
                None => {
                    tracing::warn!("an earlier invocation stopped during the send; not sending again");
                    delivery::record_failed(store, clock, out, number, "unconfirmed", delivery::UNCONFIRMED).await?;
                    Ok(Sent::Unconfirmed)
                }
            }
        }
    };
    if let (Some(s), Ok(Sent::Sent { .. })) = (&survey, &sent) {
        let offer = baton_domain::csat::Offer::Sent { how: "link".into() };
        crate::csat::settle(store, out, s, offer).await?;
    }
    sent
}

/// The message as the customer will get it.
fn compose(
    config: &SenderConfig,
    tenant: &Tenant,
    subject: &str,
    ticket: Option<&Ticket>,
    thread: &[Message],
    out: &OutboundMessage,
    now: Timestamp,
) -> OutgoingEmail {
    let from = tenant.channels.email_from.as_ref();
    let from_address = from
        .and_then(|f| f.address.clone())
        .unwrap_or_else(|| config.from_address.clone());
    let from_name = from
        .and_then(|f| f.display_name.clone())
        .or_else(|| Some(tenant.name.clone()));
    let number = ticket.map(|t| t.number).or(out.ticket);
    let reply_to = match (number, &tenant.channels.email_slug) {
        (Some(n), _) => format!(
            "ticket+{}@{}",
            ticket_alias_token(&config.alias_secret, &out.tenant_id, n),
            config.inbound_domain
        ),
        (None, Some(slug)) => format!("support+{slug}@{}", config.inbound_domain),
        (None, None) => from_address.clone(),
    };
    // The thread as it stands before this reply: every e-mail id it has (the customer's
    // Message-IDs, and the ones SES gave Baton's earlier replies), oldest first.
    let earlier: Vec<&Message> = thread.iter().filter(|m| m.id < out.message_id).collect();
    let in_reply_to = earlier
        .iter()
        .rev()
        .filter(|m| m.direction == Direction::Inbound)
        .find_map(|m| email_message_id(m, &out.tenant_id));
    let references = mail_out::thread_references(earlier.iter().filter_map(|m| email_message_id(m, &out.tenant_id)));
    let author = thread.iter().find(|m| m.id == out.message_id).map(|m| &m.author);
    OutgoingEmail {
        from_name,
        from_address,
        to: out.to.clone(),
        reply_to,
        subject: mail_out::reply_subject(subject, number),
        message_id: mail_out::own_message_id(&out.message_id, &config.inbound_domain),
        in_reply_to,
        references,
        ticket: number,
        auto_submitted: (!matches!(author, Some(Author::Agent { .. }))).then_some(mail_out::AutoSubmitted::Replied),
        text: out.text.clone(),
        date: now.unix_seconds(),
    }
}

/// The RFC 5322 Message-ID of a message of the thread: a customer's is stored under its
/// intake key (`email:{tenant}:{Message-ID}`; a mail without one has a synthetic
/// `ses:` id, which no client can refer to), a reply Baton sent under SES's Message-ID.
fn email_message_id(m: &Message, tenant: &baton_domain::TenantId) -> Option<String> {
    let id = m.channel_message_id.as_deref()?;
    match m.direction {
        Direction::Inbound => id
            .strip_prefix(&format!("email:{tenant}:"))
            .filter(|id| !id.starts_with("ses:"))
            .map(str::to_owned),
        Direction::Outbound => Some(id.to_owned()),
    }
}

/// The message is sent: it carries SES's Message-ID, and both that id and Baton's own
/// thread back to the conversation, so the customer's answer finds it by `In-Reply-To`
/// or `References` whichever the mail client keeps.
async fn record_sent(
    store: &dyn Store,
    out: &OutboundMessage,
    mail: &OutgoingEmail,
    message_id: &str,
) -> Result<(), RecordError> {
    store
        .record_email_ref(&out.tenant_id, message_id, out.conversation_id)
        .await?;
    store
        .record_email_ref(&out.tenant_id, &mail.message_id, out.conversation_id)
        .await?;
    // SES's bounce and complaint reports name the SES id, the Message-ID's local part.
    let ses_id = message_id.split('@').next().unwrap_or(message_id);
    store
        .record_ses_message(
            ses_id,
            &SentEmail {
                tenant: out.tenant_id.clone(),
                conversation: out.conversation_id,
                message: out.message_id,
            },
        )
        .await?;
    delivery::record_sent(store, out, &[message_id.to_owned()]).await
}
