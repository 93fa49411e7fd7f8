//! Satisfaction surveys: offered with the resolve, shaped by the sender, answered once
//! and updated by a later answer (see `baton_domain::csat`).
//!
//! ```text
//! resolve ─ same transaction: survey (ticket + cycle, once) + its message + outbox
//!   (due after the tenant's delay) ─ relay ─ sender: still this cycle, still resolved?
//!   ─ the channel's form, or "not offered" with the reason ─ survey marked
//! AI answer ─ same transaction: the survey's message in the outbox (due after the
//!   tenant's AI delay) ─ relay ─ sender: the AI still holds the conversation, the
//!   customer has not come back? ─ survey (answer, once) + its message ─ as above
//! answer (page, button, quick reply) ─ survey replaced at its version + csat_answered
//!   in the outbox ─ analytics
//! ```

use crate::relay::{relay, Queues};
use crate::reply::{Recipient, Reply};
use baton_domain::analytics::{self, Fact, Scope};
use baton_domain::conversation::{Author, DeliveryStatus, Owner};
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

/// The survey `of`'s message to `to`, due `delay_minutes` after `now`; `None` when the
/// tenant does not survey that channel. E-mail needs `links` for its page.
fn message(
    settings: &SurveySettings,
    of: SurveyRef,
    to: &Recipient,
    links: Option<&SurveyLinks>,
    delay_minutes: u32,
    now: Timestamp,
) -> Option<Reply> {
    if !settings.enabled_on(to.channel) {
        return None;
    }
    let due = now.plus(time::Duration::minutes(i64::from(delay_minutes)));
    let link = match to.channel {
        Channel::Email => {
            let Some(links) = links else {
                tracing::warn!("no survey link base is configured: e-mail surveys are off");
                return None;
            };
            let expires = due.plus(time::Duration::days(i64::from(settings.link_valid_days)));
            Some(links.link(&SurveyClaims::new(to.tenant_id.clone(), of, expires.unix_seconds())))
        }
        _ => None,
    };
    let key = Survey::key(&to.tenant_id, &of);
    let shown = csat::shown_text(settings, to.channel, link.is_some());
    // The message sorts at its due time: after everything said before it goes out (an
    // AI answer's survey is written then), so a widget's cursor never passes it.
    let id = ulid::Ulid::from_parts(
        u64::try_from(due.unix_millis()).unwrap_or(0),
        ulid::Ulid::new().random(),
    );
    let reply = Reply::build("survey", &key, to, id, Author::System, shown, of.ticket(), now);
    let sent = csat::message_text(settings, to.channel, link.as_deref());
    Some(reply.asking("survey", &key, of, sent, due))
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
    let of = SurveyRef::Cycle {
        ticket: ticket.number,
        cycle: ticket.cycle.number,
    };
    let reply = message(settings, of, to, links, settings.delay_minutes, now)?;
    Some(Offering {
        survey: Survey {
            tenant_id: ticket.tenant_id.clone(),
            of,
            conversation_id: to.conversation_id,
            channel: to.channel,
            resolved_by: ResolvedBy::Human,
            agent: agent.cloned().or_else(|| ticket.assignee.clone()),
            team: ticket.team.clone(),
            resolved_at: now,
            message_id: reply.message.id,
            offer: Offer::Queued,
            response: None,
            version: 1,
        },
        reply,
    })
}

/// The survey of the AI's answer `answer` to `to`, for the answer's transaction: only
/// its message's delivery, due after the tenant's AI delay (the survey and the message
/// are written when it falls due, if the customer is still helped; see `to_send`).
/// `None` when the tenant does not survey AI resolutions or that channel.
pub fn after_answer(
    settings: &SurveySettings,
    to: &Recipient,
    answer: ulid::Ulid,
    links: Option<&SurveyLinks>,
    now: Timestamp,
) -> Option<Effect> {
    if !settings.after_ai {
        return None;
    }
    let of = SurveyRef::Answer {
        conversation: to.conversation_id,
        answer,
    };
    message(settings, of, to, links, settings.ai_delay_minutes, now).map(|r| r.effect)
}

/// Before a sender offers `out`'s survey: the survey, if it is still to go out; else
/// `None`. A ticket's survey goes while its ticket is still resolved in that cycle (a
/// ticket reopened meanwhile withdraws it); an AI answer's is written now (see
/// `offer_answer`).
pub async fn to_send(
    store: &dyn Store,
    out: &OutboundMessage,
    at: SurveyRef,
    now: Timestamp,
) -> Result<Option<Survey>, RecordError> {
    let survey = match (store.get_survey(&out.tenant_id, &at).await, at) {
        (Ok(s), _) => s,
        (Err(StoreError::NotFound { .. }), SurveyRef::Answer { answer, .. }) => {
            return offer_answer(store, out, at, answer, now).await
        }
        (Err(StoreError::NotFound { .. }), SurveyRef::Cycle { .. }) => {
            return Err(RecordError::Bad("the survey of this message is gone".into()))
        }
        (Err(e), _) => return Err(e.into()),
    };
    if survey.offer != Offer::Queued {
        return Ok(None);
    }
    let SurveyRef::Cycle { ticket, cycle } = at else {
        return Ok(Some(survey));
    };
    let ticket = store.get_ticket(&out.tenant_id, ticket).await?;
    if ticket.cycle.number != cycle || ticket.status.is_active() {
        settle(store, out, &survey, Offer::Withdrawn).await?;
        return Ok(None);
    }
    Ok(Some(survey))
}

/// How many of the newest messages are read for whether the customer came back.
const SINCE_ANSWER: u32 = 50;

/// An AI answer's survey falls due: offered (the survey and its message written, once)
/// if the AI still holds the conversation and the customer has not written since the
/// answer, a thanks aside; else nothing is written and the message is not sent.
async fn offer_answer(
    store: &dyn Store,
    out: &OutboundMessage,
    of: SurveyRef,
    answer: ulid::Ulid,
    now: Timestamp,
) -> Result<Option<Survey>, RecordError> {
    let (tenant, conversation) = (&out.tenant_id, out.conversation_id);
    let c = store.get_conversation(tenant, conversation).await?;
    let recent = store.latest_messages(tenant, conversation, None, SINCE_ANSWER).await?;
    let Some(at) = recent.iter().position(|m| m.id == answer) else {
        tracing::info!("the customer wrote on long after the AI's answer: its survey is not offered");
        return Ok(None);
    };
    let came_back = recent[at + 1..].iter().any(|m| {
        m.author == Author::Customer
            && !baton_domain::triage::acknowledges(baton_domain::triage::current_message(&m.text))
    });
    if c.owner != Owner::Ai || came_back {
        tracing::info!(
            came_back,
            "the AI's answer did not resolve the conversation: its survey is not offered"
        );
        return Ok(None);
    }
    let settings = store.get_tenant(tenant).await?.reports.survey;
    let to = Recipient {
        tenant_id: tenant.clone(),
        conversation_id: conversation,
        channel: out.channel,
        to: out.to.clone(),
    };
    let shown = csat::shown_text(&settings, out.channel, out.channel == Channel::Email);
    let key = Survey::key(tenant, &of);
    let mut reply = Reply::build("survey", &key, &to, out.message_id, Author::System, shown, None, now);
    reply.message.survey = Some(of);
    let survey = Survey {
        tenant_id: tenant.clone(),
        of,
        conversation_id: conversation,
        channel: out.channel,
        resolved_by: ResolvedBy::Ai,
        agent: None,
        team: None,
        resolved_at: recent[at].created_at,
        message_id: out.message_id,
        offer: Offer::Queued,
        response: None,
        version: 1,
    };
    let writes = vec![Write::OfferSurvey(survey.clone()), Write::AppendMessage(reply.message)];
    match store.commit(writes).await {
        Ok(()) => {
            tracing::info!("the AI's answer resolved the conversation: its survey is offered");
            Ok(Some(survey))
        }
        // A redelivery after a crash: the survey written then decides.
        Err(StoreError::AlreadyExists { .. }) => {
            let survey = store.get_survey(tenant, &of).await?;
            Ok((survey.offer == Offer::Queued).then_some(survey))
        }
        Err(e) => Err(e.into()),
    }
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
    tracing::info!(survey = %survey.of, offer = ?offer, "survey settled");
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
    let survey = match store.get_survey(&out.tenant_id, &at).await {
        Ok(s) if s.offer == Offer::Queued => s,
        // Settled, or an AI answer's that was never offered.
        Ok(_) | Err(StoreError::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
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
    for _ in 0..3 {
        let survey = store.get_survey(tenant, &at).await?;
        if survey.offer == Offer::Withdrawn || from.is_some_and(|c| c != survey.conversation_id) {
            return Err(StoreError::NotFound { entity: "survey" });
        }
        let Some(next) = survey.answered(answer, now) else {
            return Ok(Answered::Unchanged(survey));
        };
        let previous = survey.response.as_ref().map(|r| r.rating);
        let n = next.response.as_ref().map_or(1, |r| r.answers);
        let key = format!("{}:answer:{n}", Survey::key(tenant, &at));
        let scope = Scope {
            tenant_id: tenant.clone(),
            channel: Some(survey.channel),
            conversation: Some(survey.conversation_id),
            ticket: at.ticket(),
            team: survey.team.clone(),
            agent: survey.agent.clone(),
        };
        let fact = Fact::CsatAnswered {
            rating: answer.rating,
            previous,
            cycle: at.cycle(),
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
                tracing::info!(survey = %at, answers = n, "survey answered");
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
