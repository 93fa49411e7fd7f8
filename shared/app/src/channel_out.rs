//! Sending a reply on WhatsApp or Instagram, once: the `channel-sender` function's use
//! case.
//!
//! ```text
//! claim(message) ─ tenant, conversation, thread ─ the channel's window decides:
//!   open → text (split at 4,096 / 1,000 characters) │ Instagram past 24 h, a person
//!   within 7 days, permitted → HUMAN_AGENT tag │ WhatsApp past 24 h → the approved
//!   template │ otherwise → "needs follow-up on another channel" on the ticket
//! each part: mark the attempt ─ Graph API ─ complete it with the wamid / mid
//! ─ message sent (every part's id looked up to it) ─ complete(message)
//! ```
//!
//! Meta's errors keep their kind (`meta_send::classify_meta_error`): rate limits and
//! outages fail the record for a retry; a closed window falls back to the template or
//! the follow-up; a refused token or permission marks the channel disconnected on the
//! tenant and parks the reply until someone reconnects it (then replays it); anything
//! else fails the message with Meta's reason on the ticket. Widget replies need nothing
//! sent: the widget polls, and its poll marks them delivered.

use crate::delivery::{self, Attempt};
use baton_domain::conversation::{Author, Direction, Message};
use baton_domain::csat::{self, Offer, Survey};
use baton_domain::error::RecordError;
use baton_domain::meta_send::{self, MetaFailure, Reach};
use baton_domain::outbound::OutboundMessage;
use baton_domain::ports::{ChannelTokens, MessagingApi, SendError, Store};
use baton_domain::tenant::{ChannelHealth, Tenant};
use baton_domain::{Channel, Clock, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;

/// The consumer's name for the records it parks (a disconnected channel's replies).
pub const CONSUMER: &str = "channel-sender";
pub const SCOPE: &str = "channel-send";
const ATTEMPT_SCOPE: &str = "channel-attempt";
/// Messages read back to find the customer's last one (the window's start).
const THREAD_WINDOW: u32 = 50;

pub struct ChannelPorts<'a> {
    pub store: &'a dyn Store,
    pub api: &'a dyn MessagingApi,
    pub tokens: &'a dyn ChannelTokens,
    pub clock: &'a dyn Clock,
}

/// What became of one outbound message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Delivered {
    /// Sent as these messages (a long reply goes in parts).
    Sent {
        ids: Vec<String>,
        how: String,
    },
    /// Nothing may be sent now; the ticket says so.
    NeedsFollowUp {
        reason: String,
    },
    /// Meta refused it for good; the ticket says why.
    Failed {
        reason: String,
    },
    /// An earlier invocation stopped in the middle of a send; marked, not resent.
    Unconfirmed,
    /// The widget polls for its replies: nothing to send.
    Polled,
    /// A survey the channel does not allow now (outside its window, no template).
    NotOffered {
        reason: String,
    },
    /// A survey whose ticket was reopened before it went out, or that went out already.
    Withdrawn,
    Duplicate,
}

/// Sends one reply on its channel, once.
pub async fn deliver(
    ports: &ChannelPorts<'_>,
    out: &OutboundMessage,
    remaining: Option<Duration>,
) -> Result<Delivered, RecordError> {
    match out.channel {
        Channel::Whatsapp | Channel::Instagram => {}
        Channel::Widget => return widget(ports.store, out, ports.clock.now()).await,
        Channel::Email => return Err(RecordError::Bad("an e-mail reply on the channel queue".into())),
    }
    let Some(claimed) = delivery::claim(ports.store, ports.clock, SCOPE, out, remaining).await? else {
        return Ok(Delivered::Duplicate);
    };
    let result = send(ports, out, &claimed.key, &claimed.hash).await;
    match &result {
        Ok(Delivered::Failed { reason }) => crate::csat::not_sent(ports.store, out, reason).await?,
        Ok(Delivered::Unconfirmed) => crate::csat::not_sent(ports.store, out, delivery::UNCONFIRMED).await?,
        _ => {}
    }
    delivery::settle(ports.store, ports.clock, SCOPE, &claimed, result).await
}

/// The widget polls for its replies; a survey is shown there from now on (unless its
/// ticket was reopened meanwhile).
async fn widget(store: &dyn Store, out: &OutboundMessage, now: Timestamp) -> Result<Delivered, RecordError> {
    let Some(at) = out.survey else {
        return Ok(Delivered::Polled);
    };
    let Some(survey) = crate::csat::to_send(store, out, at, now).await? else {
        return Ok(Delivered::Withdrawn);
    };
    let sent = baton_domain::conversation::DeliveryStatus::Sent;
    delivery::mark(store, &out.into(), sent, None).await?;
    crate::csat::settle(store, out, &survey, Offer::Sent { how: "inline".into() }).await?;
    Ok(Delivered::Polled)
}

/// One request to make, and how it goes.
struct Part {
    body: Value,
    how: &'static str,
}

async fn send(
    ports: &ChannelPorts<'_>,
    out: &OutboundMessage,
    key: &str,
    hash: &str,
) -> Result<Delivered, RecordError> {
    let (store, clock) = (ports.store, ports.clock);
    let (tenant, conversation) = delivery::load(store, out).await?;
    let now = clock.now();
    // First: an AI answer's survey message is written when it goes.
    let survey = match out.survey {
        Some(at) => match crate::csat::to_send(store, out, at, now).await? {
            Some(s) => Some(s),
            None => return Ok(Delivered::Withdrawn),
        },
        None => None,
    };
    let thread = store
        .latest_messages(&out.tenant_id, out.conversation_id, None, THREAD_WINDOW)
        .await?;
    let Some(message) = thread.iter().find(|m| m.id == out.message_id) else {
        return Err(RecordError::Bad("the reply is not in its conversation".into()));
    };
    let ticket = out.ticket.or(conversation.ticket);
    let by_human = matches!(message.author, Author::Agent { .. });
    let last_inbound = last_customer_message(&thread).map(|m| m.sent_at.unwrap_or(m.created_at));
    // Outside the window a survey has its own template (with its quick-reply buttons).
    let template = match &survey {
        Some(_) => tenant.reports.survey.whatsapp_template.clone(),
        None => tenant
            .channels
            .whatsapp
            .as_ref()
            .and_then(|w| w.outside_window_template.clone()),
    };
    let reach = match out.channel {
        Channel::Whatsapp => meta_send::whatsapp_reach(last_inbound, now, template.as_ref()),
        _ => meta_send::instagram_reach(
            last_inbound,
            now,
            // The HUMAN_AGENT tag is for a person's reply, never for a survey.
            by_human && survey.is_none(),
            tenant
                .channels
                .instagram
                .as_ref()
                .is_some_and(|i| i.human_agent_allowed),
        ),
    };
    let account = match out.channel {
        Channel::Whatsapp => conversation
            .account_id
            .clone()
            .or_else(|| tenant.channels.whatsapp_phone_number_ids.first().cloned()),
        _ => Some("me".to_owned()),
    };
    let Some(account) = account else {
        return disconnected(ports, &tenant, out, "the tenant has no WhatsApp number to send from").await;
    };
    let Some(token) = ports.tokens.token(&out.tenant_id, out.channel).await? else {
        return disconnected(ports, &tenant, out, "the channel has no access token").await;
    };
    let parts = match &reach {
        Reach::Closed(reason) if survey.is_some() => return not_offered(store, out, survey.as_ref(), reason).await,
        Reach::Closed(reason) => {
            delivery::record_failed(store, clock, out, ticket, "needs_follow_up", reason).await?;
            return Ok(Delivered::NeedsFollowUp {
                reason: (*reason).to_owned(),
            });
        }
        Reach::Template(t) => {
            let body = meta_send::whatsapp_template(&out.to, t, &out.text, ticket);
            vec![Part {
                body: match &survey {
                    Some(s) => meta_send::with_quick_reply_payloads(
                        body,
                        &choices(s, &csat::WHATSAPP_CHOICES)
                            .into_iter()
                            .map(|(p, _)| p)
                            .collect::<Vec<_>>(),
                    ),
                    None => body,
                },
                how: "template",
            }]
        }
        Reach::Open if survey.is_some() => vec![survey_part(out, survey.as_ref().expect("checked"))],
        Reach::Open | Reach::HumanAgentTag => text_parts(out, matches!(reach, Reach::HumanAgentTag)),
    };
    let mut ids = Vec::new();
    let how = parts.first().map(|p| p.how).unwrap_or("text");
    let single = parts.len() == 1;
    for (i, part) in parts.into_iter().enumerate() {
        let part_key = format!("{key}#{i}");
        match delivery::begin_attempt(store, clock, ATTEMPT_SCOPE, &part_key, hash).await? {
            Attempt::Done(answer) => match answer["id"].as_str() {
                Some(id) => ids.push(id.to_owned()),
                None => return failed_before(ports, out, ticket, &answer).await,
            },
            Attempt::Interrupted if single && message.channel_message_id.is_some() => {
                // Sent and recorded; only the marker's completion was lost.
                ids.extend(message.channel_message_id.clone());
            }
            Attempt::Interrupted => {
                tracing::warn!(
                    part = i,
                    "an earlier invocation stopped during the send; not sending again"
                );
                delivery::record_sent(store, out, &ids).await?;
                delivery::record_failed(store, clock, out, ticket, "unconfirmed", delivery::UNCONFIRMED).await?;
                return Ok(Delivered::Unconfirmed);
            }
            Attempt::Fresh(token_claim) => match ports.api.send(out.channel, &account, &token, &part.body).await {
                Ok(id) => {
                    delivery::finish_attempt(
                        store,
                        clock,
                        ATTEMPT_SCOPE,
                        &part_key,
                        &token_claim,
                        json!({ "id": id }),
                    )
                    .await;
                    ids.push(id);
                }
                Err(e) => match e.failure {
                    MetaFailure::RateLimited | MetaFailure::Unavailable => {
                        delivery::abandon_attempt(store, ATTEMPT_SCOPE, &part_key, &token_claim).await;
                        // Parts already sent stay recorded; the retry sends the rest.
                        delivery::record_sent(store, out, &ids).await?;
                        return Err(RecordError::Transient(e.to_string()));
                    }
                    MetaFailure::Disconnected => {
                        delivery::abandon_attempt(store, ATTEMPT_SCOPE, &part_key, &token_claim).await;
                        return disconnected(ports, &tenant, out, &meta_send::plain_reason(e.code, &e.message)).await;
                    }
                    MetaFailure::WindowClosed if i == 0 && survey.is_some() => {
                        delivery::abandon_attempt(store, ATTEMPT_SCOPE, &part_key, &token_claim).await;
                        let reason = meta_send::plain_reason(e.code, &e.message);
                        return not_offered(store, out, survey.as_ref(), &reason).await;
                    }
                    MetaFailure::WindowClosed if i == 0 => {
                        delivery::abandon_attempt(store, ATTEMPT_SCOPE, &part_key, &token_claim).await;
                        // Meta knows the window better than our clock: the template, if
                        // there is one, else a follow-up.
                        return window_closed(ports, out, ticket, &account, &token, template.as_ref(), key, hash).await;
                    }
                    MetaFailure::WindowClosed | MetaFailure::Failed => {
                        let reason = meta_send::plain_reason(e.code, &e.message);
                        // Remembered, so a retry does not ask Meta again.
                        let answer = json!({ "failed": reason, "code": e.code });
                        delivery::finish_attempt(store, clock, ATTEMPT_SCOPE, &part_key, &token_claim, answer).await;
                        delivery::record_sent(store, out, &ids).await?;
                        delivery::record_failed(store, clock, out, ticket, "rejected", &reason).await?;
                        tracing::warn!(code = ?e.code, "Meta refused the reply");
                        return Ok(Delivered::Failed { reason });
                    }
                },
            },
        }
    }
    delivery::record_sent(store, out, &ids).await?;
    if let Some(s) = &survey {
        crate::csat::settle(store, out, s, Offer::Sent { how: how.to_owned() }).await?;
    }
    healthy(ports, &tenant, out.channel).await;
    tracing::info!(parts = ids.len(), how, "reply sent");
    Ok(Delivered::Sent {
        ids,
        how: how.to_owned(),
    })
}

/// The survey's choices as `(payload, title)`.
fn choices(survey: &Survey, scale: &[(u8, &str)]) -> Vec<(String, String)> {
    scale
        .iter()
        .map(|(rating, title)| (csat::choice_payload(&survey.of, *rating), (*title).to_owned()))
        .collect()
}

/// Inside the window: WhatsApp's reply buttons, Instagram's quick replies.
fn survey_part(out: &OutboundMessage, survey: &Survey) -> Part {
    match out.channel {
        Channel::Whatsapp => Part {
            body: meta_send::whatsapp_buttons(&out.to, &out.text, &choices(survey, &csat::WHATSAPP_CHOICES)),
            how: "buttons",
        },
        _ => Part {
            body: meta_send::instagram_quick_replies(&out.to, &out.text, &choices(survey, &csat::INSTAGRAM_CHOICES)),
            how: "quick_replies",
        },
    }
}

/// The survey may not go out on this channel now: recorded as not offered, with why.
async fn not_offered(
    store: &dyn Store,
    out: &OutboundMessage,
    survey: Option<&Survey>,
    reason: &str,
) -> Result<Delivered, RecordError> {
    if let Some(s) = survey {
        let offer = Offer::NotOffered {
            reason: reason.to_owned(),
        };
        crate::csat::settle(store, out, s, offer).await?;
    }
    Ok(Delivered::NotOffered {
        reason: reason.to_owned(),
    })
}

fn text_parts(out: &OutboundMessage, human_agent_tag: bool) -> Vec<Part> {
    match out.channel {
        Channel::Whatsapp => meta_send::split_text(&out.text, meta_send::WHATSAPP_TEXT_LIMIT)
            .iter()
            .map(|t| Part {
                body: meta_send::whatsapp_text(&out.to, t),
                how: "text",
            })
            .collect(),
        _ => meta_send::split_text(&out.text, meta_send::INSTAGRAM_TEXT_LIMIT)
            .iter()
            .map(|t| Part {
                body: meta_send::instagram_text(&out.to, t, human_agent_tag),
                how: if human_agent_tag { "human_agent_tag" } else { "text" },
            })
            .collect(),
    }
}

fn last_customer_message(thread: &[Message]) -> Option<&Message> {
    thread
        .iter()
        .rev()
        .find(|m| m.direction == Direction::Inbound && m.author == Author::Customer)
}

/// A refusal an earlier attempt recorded.
async fn failed_before(
    ports: &ChannelPorts<'_>,
    out: &OutboundMessage,
    ticket: Option<baton_domain::TicketNumber>,
    answer: &Value,
) -> Result<Delivered, RecordError> {
    let reason = answer["failed"]
        .as_str()
        .unwrap_or("Meta refused the message")
        .to_owned();
    delivery::record_failed(ports.store, ports.clock, out, ticket, "rejected", &reason).await?;
    Ok(Delivered::Failed { reason })
}

/// Meta says the window is closed: the template once, else the follow-up.
#[allow(clippy::too_many_arguments)]
async fn window_closed(
    ports: &ChannelPorts<'_>,
    out: &OutboundMessage,
    ticket: Option<baton_domain::TicketNumber>,
    account: &str,
    token: &str,
    template: Option<&meta_send::WhatsAppTemplate>,
    key: &str,
    hash: &str,
) -> Result<Delivered, RecordError> {
    let (store, clock) = (ports.store, ports.clock);
    let reason = match out.channel {
        Channel::Whatsapp => meta_send::WHATSAPP_WINDOW_CLOSED,
        _ => meta_send::INSTAGRAM_WINDOW_CLOSED,
    };
    let Some(template) = template.filter(|_| out.channel == Channel::Whatsapp) else {
        delivery::record_failed(store, clock, out, ticket, "needs_follow_up", reason).await?;
        return Ok(Delivered::NeedsFollowUp { reason: reason.into() });
    };
    let part_key = format!("{key}#template");
    let body = meta_send::whatsapp_template(&out.to, template, &out.text, ticket);
    match delivery::begin_attempt(store, clock, ATTEMPT_SCOPE, &part_key, hash).await? {
        Attempt::Done(answer) => match answer["id"].as_str() {
            Some(id) => {
                delivery::record_sent(store, out, &[id.to_owned()]).await?;
                Ok(Delivered::Sent {
                    ids: vec![id.to_owned()],
                    how: "template".into(),
                })
            }
            None => failed_before(ports, out, ticket, &answer).await,
        },
        Attempt::Interrupted => {
            delivery::record_failed(store, clock, out, ticket, "unconfirmed", delivery::UNCONFIRMED).await?;
            Ok(Delivered::Unconfirmed)
        }
        Attempt::Fresh(t) => match ports.api.send(out.channel, account, token, &body).await {
            Ok(id) => {
                delivery::finish_attempt(store, clock, ATTEMPT_SCOPE, &part_key, &t, json!({ "id": id })).await;
                delivery::record_sent(store, out, std::slice::from_ref(&id)).await?;
                Ok(Delivered::Sent {
                    ids: vec![id],
                    how: "template".into(),
                })
            }
            Err(SendError { failure, .. })
                if matches!(failure, MetaFailure::RateLimited | MetaFailure::Unavailable) =>
            {
                delivery::abandon_attempt(store, ATTEMPT_SCOPE, &part_key, &t).await;
                Err(RecordError::Transient(format!("template send: {failure:?}")))
            }
            Err(e) => {
                let reason = meta_send::plain_reason(e.code, &e.message);
                delivery::finish_attempt(store, clock, ATTEMPT_SCOPE, &part_key, &t, json!({ "failed": reason })).await;
                delivery::record_failed(store, clock, out, ticket, "rejected", &reason).await?;
                Ok(Delivered::Failed { reason })
            }
        },
    }
}

/// Meta refused the token or a permission: the channel is marked disconnected on the
/// tenant (visible, alarmed through the logs' error), and the reply waits: parked with
/// the reason, replayed once someone reconnects the channel.
async fn disconnected(
    ports: &ChannelPorts<'_>,
    tenant: &Tenant,
    out: &OutboundMessage,
    reason: &str,
) -> Result<Delivered, RecordError> {
    let health = ChannelHealth {
        disconnected: true,
        last_error: Some(reason.to_owned()),
        last_error_at: Some(ports.clock.now()),
        last_success_at: tenant.channel_health(out.channel).and_then(|h| h.last_success_at),
    };
    ports
        .store
        .set_channel_health(&out.tenant_id, out.channel, &health)
        .await?;
    tracing::error!(channel = %out.channel, reason, "channel disconnected; its replies wait until it is reconnected");
    Err(RecordError::Bad(format!(
        "{} is disconnected ({reason}); replay after reconnecting",
        out.channel
    )))
}

/// A send worked: a channel marked disconnected is connected again.
async fn healthy(ports: &ChannelPorts<'_>, tenant: &Tenant, channel: Channel) {
    if tenant.channel_health(channel).is_some_and(|h| h.disconnected) {
        let health = ChannelHealth {
            disconnected: false,
            last_success_at: Some(ports.clock.now()),
            ..tenant.channel_health(channel).cloned().unwrap_or_default()
        };
        if let Err(e) = ports.store.set_channel_health(&tenant.id, channel, &health).await {
            tracing::warn!(error = %e, "could not mark the channel connected again");
        }
    }
}
