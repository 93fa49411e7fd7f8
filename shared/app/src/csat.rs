//! Satisfaction surveys: offered with the resolve, shaped by the sender, answered once
//! and updated by a later answer (see `baton_domain::csat`).
//!
//! ```text
//! resolve ─ same transaction: survey (ticket + cycle, once) + its message + outbox
//!   (due after the tenant's delay) ─ relay ─ sender: still this cycle, still resolved?
//!   ─ the channel's form, or "not offered" with the reason ─ survey marked
//! answer (page, button, quick reply) ─ survey replaced at its version + csat_answered
//!   in the outbox ─ analytics
//! ```

use crate::relay::{relay, Queues};
use crate::reply::{Recipient, Reply};
use baton_domain::analytics::{self, Fact, Scope};
use baton_domain::conversation::{Author, DeliveryStatus};
use baton_domain::csat::{self, Answer, Offer, ResolvedBy, Survey, SurveyClaims, SurveySettings};
use baton_domain::error::RecordError;
use baton_domain::outbound::{OutboundMessage, SurveyRef};
use baton_domain::outbox::Effect;
use baton_domain::ports::{Store, Write};
use baton_domain::ticket::Ticket;
use baton_domain::{AgentId, Channel, ConversationId, StoreError, TenantId, Timestamp};

/// Where e-mailed survey links point and the key that signs them.
#[derive(Clone)]
pub struct SurveyLinks {
    /// The hosted API's public base URL (`https://api.example.com`), no trailing slash.
    pub base_url: String,
    pub secret: String,
}

impl SurveyLinks {
    pub fn link(&self, claims: &SurveyClaims) -> String {
        format!(
            "{}/v1/surveys/{}",
            self.base_url.trim_end_matches('/'),
            csat::sign_link(&self.secret, claims)
        )
    }
}

/// A survey to record with the resolve.
#[derive(Debug, Clone)]
pub struct Offering {
    pub survey: Survey,
    pub reply: Reply,
}

impl Offering {
    /// The writes for the resolve's transaction: the survey first (a repeat is told by
    /// it), its message, its delivery.
    pub fn writes(&self) -> Vec<Write> {
        let mut w = vec![Write::OfferSurvey(self.survey.clone())];
        w.extend(self.reply.writes());
        w
    }

    /// Relayed now unless the tenant delays surveys: then the scheduled relay sends it
    /// when it falls due (its effect is dated then).
    pub async fn relay(&self, store: &dyn Store, queues: &Queues, now: Timestamp) {
        if self.reply.effect.created_at <= now {
            relay(store, queues, std::slice::from_ref(&self.reply.effect), now).await;
        }
    }
}

/// The survey of `ticket`'s current cycle, just resolved by `agent`, to `to`; `None`
/// when the tenant does not survey that channel. E-mail needs `links` for its page.
pub fn offer(
    settings: &SurveySettings,
    ticket: &Ticket,
    agent: Option<&AgentId>,
    to: &Recipient,
    links: Option<&SurveyLinks>,
    now: Timestamp,
) -> Option<Offering> {
    if !settings.enabled_on(to.channel) {
        return None;
    }
    let cycle = ticket.cycle.number;
    let due = now.plus(time::Duration::minutes(i64::from(settings.delay_minutes)));
    let link = match to.channel {
        Channel::Email => {
            let Some(links) = links else {
                tracing::warn!("no survey link base is configured: e-mail surveys are off");
                return None;
            };
            Some(
                links.link(&SurveyClaims {
                    tenant: ticket.tenant_id.clone(),
                    ticket: ticket.number,
                    cycle,
                    expires: due
                        .plus(time::Duration::days(i64::from(settings.link_valid_days)))
                        .unix_seconds(),
                }),
            )
        }
        _ => None,
    };
    let key = Survey::key(&ticket.tenant_id, ticket.number, cycle);
    let id = ulid::Ulid::new();
    let shown = match link {
        Some(_) => format!("{}\n\n(The survey link was sent by e-mail.)", settings.question.trim()),
        None => csat::message_text(settings, to.channel, None),
    };
    let asks = SurveyRef {
        ticket: ticket.number,
        cycle,
    };
    let reply = Reply::build("survey", &key, to, id, Author::System, shown, Some(ticket.number), now).asking(
        "survey",
        &key,
        asks,
        csat::message_text(settings, to.channel, link.as_deref()),
        due,
    );
    Some(Offering {
        survey: Survey {
            tenant_id: ticket.tenant_id.clone(),
            ticket: ticket.number,
            cycle,
            conversation_id: to.conversation_id,
            channel: to.channel,
            resolved_by: ResolvedBy::Human,
            agent: agent.cloned().or_else(|| ticket.assignee.clone()),
            team: ticket.team.clone(),
            resolved_at: now,
            message_id: id,
            offer: Offer::Queued,
            response: None,
            version: 1,
        },
        reply,
    })
}

/// Before a sender offers `out`'s survey: the survey, if it is still to go out (queued,
/// its ticket still resolved in that cycle); else `None`, and a ticket reopened meanwhile
/// withdraws it.
pub async fn to_send(store: &dyn Store, out: &OutboundMessage, at: SurveyRef) -> Result<Option<Survey>, RecordError> {
    let survey = match store.get_survey(&out.tenant_id, at.ticket, at.cycle).await {
        Ok(s) => s,
        Err(StoreError::NotFound { .. }) => return Err(RecordError::Bad("the survey of this message is gone".into())),
        Err(e) => return Err(e.into()),
    };
    if survey.offer != Offer::Queued {
        return Ok(None);
    }
    let ticket = store.get_ticket(&out.tenant_id, at.ticket).await?;
    if ticket.cycle.number != at.cycle || ticket.status.is_active() {
        settle(store, out, &survey, Offer::Withdrawn).await?;
        return Ok(None);
    }
    Ok(Some(survey))
}

/// Records how the survey went out (or why not: its message is marked failed with the
/// reason, without a follow-up on the ticket, since nobody needs to act).
pub async fn settle(
    store: &dyn Store,
    out: &OutboundMessage,
    survey: &Survey,
    offer: Offer,
) -> Result<(), RecordError> {
    let reason = match &offer {
        Offer::NotOffered { reason } => Some(reason.clone()),
        Offer::Withdrawn => Some("the ticket was reopened before the survey went out".to_owned()),
        _ => None,
    };
    if let Some(reason) = &reason {
        crate::delivery::mark(store, &out.into(), DeliveryStatus::Failed, Some(reason)).await?;
    }
    tracing::info!(ticket = %survey.ticket, cycle = survey.cycle, offer = ?offer, "survey settled");
    let mut next = survey.clone();
    next.offer = offer;
    match store
        .commit(vec![Write::UpdateSurvey {
            survey: next,
            expected_version: survey.version,
        }])
        .await
    {
        // An answer got there first: the offer's state is the answer's business now.
        Ok(()) | Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The survey's message could not go out (refused, undeliverable) or may not have (a
/// crash mid-send, never repeated): the survey is not offered, with why, unless it was
/// settled already. Its link, if it did arrive, still takes an answer.
pub async fn not_sent(store: &dyn Store, out: &OutboundMessage, reason: &str) -> Result<(), RecordError> {
    let Some(at) = out.survey else {
        return Ok(());
    };
    let survey = store.get_survey(&out.tenant_id, at.ticket, at.cycle).await?;
    if survey.offer != Offer::Queued {
        return Ok(());
    }
    let offer = Offer::NotOffered {
        reason: reason.to_owned(),
    };
    settle(store, out, &survey, offer).await
}

/// What became of an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Answered {
    /// Recorded (`replaced`: a later answer over an earlier one).
    Recorded { survey: Survey, replaced: bool },
    /// The same answer again: nothing changed.
    Unchanged(Survey),
}

/// Records `answer` on the survey `at`, with its `csat_answered` event in the same
/// transaction; a concurrent answer makes this one retry on the new version. A survey
/// that was withdrawn, or (`from` given) belongs to another conversation, is
/// `NotFound { "survey" }`: only the customer it was offered to answers it.
pub async fn answer(
    store: &dyn Store,
    queues: &Queues,
    tenant: &TenantId,
    at: SurveyRef,
    from: Option<ConversationId>,
    answer: &Answer,
    now: Timestamp,
) -> Result<Answered, StoreError> {
    let (ticket, cycle) = (at.ticket, at.cycle);
    for _ in 0..3 {
        let survey = store.get_survey(tenant, ticket, cycle).await?;
        if survey.offer == Offer::Withdrawn || from.is_some_and(|c| c != survey.conversation_id) {
            return Err(StoreError::NotFound { entity: "survey" });
        }
        let Some(next) = survey.answered(answer, now) else {
            return Ok(Answered::Unchanged(survey));
        };
        let previous = survey.response.as_ref().map(|r| r.rating);
        let n = next.response.as_ref().map_or(1, |r| r.answers);
        let key = format!("{}:answer:{n}", Survey::key(tenant, ticket, cycle));
        let scope = Scope {
            tenant_id: tenant.clone(),
            channel: Some(survey.channel),
            conversation: Some(survey.conversation_id),
            ticket: Some(ticket),
            team: survey.team.clone(),
            agent: survey.agent.clone(),
        };
        let fact = Fact::CsatAnswered {
            rating: answer.rating,
            previous,
            cycle,
            resolved_by: survey.resolved_by.clone(),
            resolved_at: survey.resolved_at,
        };
        let effect = Effect::analytics(&analytics::events(&scope, vec![fact], &key, now), &key, now);
        let mut writes = vec![Write::UpdateSurvey {
            survey: next.clone(),
            expected_version: survey.version,
        }];
        writes.extend(effect.iter().cloned().map(Write::RecordEffect));
        match store.commit(writes).await {
            Ok(()) => {
                tracing::info!(ticket = %ticket, cycle, answers = n, "survey answered");
                if let Some(e) = &effect {
                    relay(store, queues, std::slice::from_ref(e), now).await;
                }
                let mut next = next;
                next.version += 1;
                return Ok(Answered::Recorded {
                    survey: next,
                    replaced: previous.is_some(),
                });
            }
            Err(StoreError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Conflict {
        entity: "survey",
        current_version: None,
    })
}
