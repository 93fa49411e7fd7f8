//! Customer satisfaction: one survey per resolution cycle of a ticket, and one per answer
//! the AI resolved a conversation with on its own, offered on the customer's own channel,
//! answered once and updated by a later answer.
//!
//! A human resolving a ticket (not force-closing, merging, or resolving with "no survey")
//! records the survey and its message in the same transaction as the resolve, under a key
//! made of the ticket and its cycle, so a retried or redelivered resolve can never offer
//! a second one. How it is offered is decided when it is sent, by the channel's rules:
//! e-mail carries a signed, expiring link to a small public page; WhatsApp gets reply
//! buttons inside the 24-hour window, the tenant's survey template outside it, or nothing
//! (recorded as not offered); Instagram gets quick replies inside its window; the widget
//! shows it inline once the human has left.
//!
//! An AI answer (from the knowledge base or the shop, not a clarifying question) records
//! its survey's message in the outbox with the answer, due `ai_delay_minutes` later. When
//! it falls due the sender offers it only if the AI still holds the conversation and the
//! customer has not come back since (a thanks does not count): then the survey and its
//! message are written, under a key made of the answer, and sent like a ticket's.

use crate::meta_send::WhatsAppTemplate;
use crate::outbound::SurveyRef;
use crate::signed::{self, TokenError};
use crate::{AgentId, Channel, ConversationId, TeamId, TenantId, TicketNumber, Timestamp};
use serde::{Deserialize, Serialize};

/// Longest comment or reason kept, in characters.
pub const MAX_COMMENT_CHARS: usize = 2000;
/// A rating at or above this is satisfied (it also confirms an AI resolution).
pub const SATISFIED: u8 = 4;

/// The tenant's survey settings (part of the report settings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct SurveySettings {
    /// Offer surveys on each channel.
    pub email: bool,
    pub whatsapp: bool,
    pub instagram: bool,
    pub widget: bool,
    /// Minutes between the resolve and the survey (0: at once; at most a day).
    pub delay_minutes: u32,
    /// The question, as the customer reads it.
    pub question: String,
    /// An approved WhatsApp template for a survey outside the 24-hour window; without
    /// one such a survey is recorded as not offered.
    pub whatsapp_template: Option<WhatsAppTemplate>,
    /// How long an e-mailed survey link stays valid, in days.
    pub link_valid_days: u32,
    /// Offer a survey after a conversation the AI resolved on its own.
    pub after_ai: bool,
    /// Minutes between the AI's answer and its survey (1 to a day): the customer who
    /// comes back meanwhile was not helped, and is not asked.
    pub ai_delay_minutes: u32,
}

impl Default for SurveySettings {
    fn default() -> Self {
        SurveySettings {
            email: true,
            whatsapp: true,
            instagram: true,
            widget: true,
            delay_minutes: 0,
            question: "How would you rate the help you received?".into(),
            whatsapp_template: None,
            link_valid_days: 7,
            after_ai: true,
            ai_delay_minutes: 60,
        }
    }
}

impl SurveySettings {
    pub const MAX_DELAY_MINUTES: u32 = 24 * 60;
    pub const MAX_QUESTION_CHARS: usize = 200;
    pub const MAX_LINK_DAYS: u32 = 30;

    pub fn enabled_on(&self, channel: Channel) -> bool {
        match channel {
            Channel::Email => self.email,
            Channel::Whatsapp => self.whatsapp,
            Channel::Instagram => self.instagram,
            Channel::Widget => self.widget,
        }
    }

    /// Every field's problem, by field name.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = Vec::new();
        if self.delay_minutes > Self::MAX_DELAY_MINUTES {
            p.push((
                "survey.delay_minutes",
                format!("at most {} (a day)", Self::MAX_DELAY_MINUTES),
            ));
        }
        let q = self.question.trim().chars().count();
        if q == 0 || q > Self::MAX_QUESTION_CHARS {
            p.push((
                "survey.question",
                format!("1 to {} characters", Self::MAX_QUESTION_CHARS),
            ));
        }
        if !(1..=Self::MAX_DELAY_MINUTES).contains(&self.ai_delay_minutes) {
            p.push((
                "survey.ai_delay_minutes",
                format!("1 to {} (a day)", Self::MAX_DELAY_MINUTES),
            ));
        }
        if !(1..=Self::MAX_LINK_DAYS).contains(&self.link_valid_days) {
            p.push(("survey.link_valid_days", format!("1 to {}", Self::MAX_LINK_DAYS)));
        }
        if let Some(t) = &self.whatsapp_template {
            if t.name.trim().is_empty() || t.language.trim().is_empty() {
                p.push(("survey.whatsapp_template", "needs a name and a language".into()));
            }
        }
        p
    }
}

/// Who resolved the cycle the survey asks about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ResolvedBy {
    Ai,
    Human,
}

/// What became of the offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Offer {
    /// Recorded with the resolve, waiting for its sender.
    Queued,
    /// On the customer's channel (`how`: link, buttons, template, quick_replies, inline).
    Sent { how: String },
    /// The channel did not allow it (outside the window, no template): never shown.
    NotOffered { reason: String },
    /// The ticket was reopened before the survey went out.
    Withdrawn,
}

/// The customer's answer; a later answer replaces it (`answers` counts them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// 1 (bad) to 5 (great).
    pub rating: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Why, when the rating is low.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub answered_at: Timestamp,
    pub answers: u32,
}

/// One survey: a ticket's resolution cycle, or an AI resolution, offered once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Survey {
    pub tenant_id: TenantId,
    /// What it rates (stored as `ticket` and `cycle`, or `conversation` and `answer`).
    #[serde(flatten)]
    pub of: SurveyRef,
    pub conversation_id: ConversationId,
    pub channel: Channel,
    pub resolved_by: ResolvedBy,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<TeamId>,
    pub resolved_at: Timestamp,
    /// The message in the conversation that carries it.
    pub message_id: ulid::Ulid,
    pub offer: Offer,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
    pub version: u64,
}

impl Survey {
    /// The business key: one survey per ticket and cycle, or per AI answer.
    pub fn key(tenant: &TenantId, of: &SurveyRef) -> String {
        match of {
            SurveyRef::Cycle { ticket, cycle } => format!("survey:{tenant}:{ticket}:{cycle}"),
            SurveyRef::Answer { answer, .. } => format!("survey:{tenant}:ai:{answer}"),
        }
    }

    /// The answer `rating` etc. applied: a first answer, or a replacement of the last.
    /// `None` when the answer is the same as the one stored (nothing to write).
    pub fn answered(&self, answer: &Answer, now: Timestamp) -> Option<Survey> {
        if let Some(r) = &self.response {
            if r.rating == answer.rating && r.comment == answer.comment && r.reason == answer.reason {
                return None;
            }
        }
        let mut next = self.clone();
        next.response = Some(Response {
            rating: answer.rating,
            comment: answer.comment.clone(),
            reason: answer.reason.clone(),
            answered_at: now,
            answers: self.response.as_ref().map_or(1, |r| r.answers + 1),
        });
        Some(next)
    }
}

/// A customer's answer, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub rating: u8,
    pub comment: Option<String>,
    pub reason: Option<String>,
}

impl Answer {
    /// A rating of 1 to 5 and optional texts (trimmed, empty as none, at most
    /// `MAX_COMMENT_CHARS`); the field at fault otherwise.
    pub fn new(rating: &str, comment: Option<&str>, reason: Option<&str>) -> Result<Answer, (&'static str, String)> {
        let rating = rating
            .trim()
            .parse::<u8>()
            .ok()
            .filter(|r| (1..=5).contains(r))
            .ok_or(("rating", "a whole number from 1 to 5".to_owned()))?;
        let text = |field: &'static str, t: Option<&str>| match t.map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) if t.chars().count() > MAX_COMMENT_CHARS => {
                Err((field, format!("at most {MAX_COMMENT_CHARS} characters")))
            }
            t => Ok(t.map(str::to_owned)),
        };
        Ok(Answer {
            rating,
            comment: text("comment", comment)?,
            reason: text("reason", reason)?,
        })
    }
}

/// What a survey link proves: this survey of this tenant, until `expires`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveyClaims {
    #[serde(rename = "t")]
    pub tenant: TenantId,
    /// A ticket's cycle (`n`, `c`) or an AI answer (`v`, `a`).
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    ticket: Option<TicketNumber>,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    cycle: Option<u32>,
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    conversation: Option<ConversationId>,
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    answer: Option<ulid::Ulid>,
    /// Expiry, epoch seconds.
    #[serde(rename = "e")]
    pub expires: i64,
}

impl SurveyClaims {
    pub fn new(tenant: TenantId, of: SurveyRef, expires: i64) -> SurveyClaims {
        let (ticket, cycle, conversation, answer) = match of {
            SurveyRef::Cycle { ticket, cycle } => (Some(ticket), Some(cycle), None, None),
            SurveyRef::Answer { conversation, answer } => (None, None, Some(conversation), Some(answer)),
        };
        SurveyClaims {
            tenant,
            ticket,
            cycle,
            conversation,
            answer,
            expires,
        }
    }

    /// The survey it names (`None`: a signed token that names none, never issued).
    pub fn of(&self) -> Option<SurveyRef> {
        match (self.ticket, self.cycle, self.conversation, self.answer) {
            (Some(ticket), Some(cycle), None, None) => Some(SurveyRef::Cycle { ticket, cycle }),
            (None, None, Some(conversation), Some(answer)) => Some(SurveyRef::Answer { conversation, answer }),
            _ => None,
        }
    }
}

/// The survey links' own key: the deployment may share one secret with the widget, and
/// neither token passes for the other.
fn link_key(secret: &str) -> String {
    format!("baton-survey-link\u{0}{secret}")
}

pub fn sign_link(secret: &str, claims: &SurveyClaims) -> String {
    signed::sign(&link_key(secret), claims)
}

/// The survey a link names, if it is genuine; `Expired` carries nothing past its time.
pub fn open_link(secret: &str, token: &str, now: Timestamp) -> Result<SurveyClaims, TokenError> {
    let claims: SurveyClaims = signed::open(&link_key(secret), token)?;
    if claims.expires < now.unix_seconds() {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

/// The payload a button or quick reply carries back: `csat:{ticket}:{cycle}:{rating}`,
/// or `csat:ai:{answer}:{rating}` (the conversation is the one the tap comes from).
pub fn choice_payload(of: &SurveyRef, rating: u8) -> String {
    match of {
        SurveyRef::Cycle { ticket, cycle } => format!("csat:{}:{cycle}:{rating}", ticket.0),
        SurveyRef::Answer { answer, .. } => format!("csat:ai:{answer}:{rating}"),
    }
}

/// The survey and rating of a choice's payload tapped in `conversation`; `None` for
/// anything else.
pub fn parse_choice(payload: &str, conversation: ConversationId) -> Option<(SurveyRef, u8)> {
    let mut parts = payload.strip_prefix("csat:")?.split(':');
    let of = match parts.next()? {
        "ai" => SurveyRef::Answer {
            conversation,
            answer: parts.next()?.parse().ok()?,
        },
        ticket => SurveyRef::Cycle {
            ticket: TicketNumber(ticket.parse().ok()?),
            cycle: parts.next()?.parse().ok()?,
        },
    };
    let rating = parts.next()?.parse().ok().filter(|r| (1..=5).contains(r))?;
    parts.next().is_none().then_some((of, rating))
}

/// The survey message's text on `channel` (`link`: the e-mailed page).
pub fn message_text(settings: &SurveySettings, channel: Channel, link: Option<&str>) -> String {
    let q = settings.question.trim();
    match (channel, link) {
        (Channel::Email, Some(link)) => format!(
            "{q}\n\nTell us in one click, from 1 (poor) to 5 (great): {link}\n\nThe link is valid for {} days.",
            settings.link_valid_days
        ),
        _ => q.to_owned(),
    }
}

/// The survey message as the thread shows it (`linked`: its link went by e-mail, and is
/// not for agents' eyes).
pub fn shown_text(settings: &SurveySettings, channel: Channel, linked: bool) -> String {
    match linked {
        true => format!("{}\n\n(The survey link was sent by e-mail.)", settings.question.trim()),
        false => message_text(settings, channel, None),
    }
}

/// WhatsApp's reply buttons (at most three): great, okay, poor.
pub const WHATSAPP_CHOICES: [(u8, &str); 3] = [(5, "Great"), (3, "Okay"), (1, "Poor")];
/// Instagram's quick replies: the whole scale.
pub const INSTAGRAM_CHOICES: [(u8, &str); 5] = [
    (5, "5 Great"),
    (4, "4 Good"),
    (3, "3 Okay"),
    (2, "2 Poor"),
    (1, "1 Bad"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn links_open_only_with_the_secret_and_before_expiry() {
        let now = at("2026-12-04T10:00:00Z");
        let of = SurveyRef::Cycle {
            ticket: TicketNumber(7),
            cycle: 2,
        };
        let claims = SurveyClaims::new(TenantId::new("demo").unwrap(), of, now.unix_seconds() + 3600);
        let token = sign_link("k", &claims);
        assert_eq!(open_link("k", &token, now).unwrap().of(), Some(of));
        let ai = SurveyRef::Answer {
            conversation: ConversationId::generate(),
            answer: ulid::Ulid::new(),
        };
        let ai_claims = SurveyClaims::new(TenantId::new("demo").unwrap(), ai, now.unix_seconds() + 3600);
        let ai_token = sign_link("k", &ai_claims);
        assert_eq!(open_link("k", &ai_token, now).unwrap().of(), Some(ai));
        assert_eq!(open_link("k", &token, now), Ok(claims));
        assert_eq!(open_link("other", &token, now), Err(TokenError::BadSignature));
        assert_eq!(
            open_link("k", &token, now.plus(time::Duration::hours(2))),
            Err(TokenError::Expired)
        );
        assert_eq!(open_link("k", "garbage", now), Err(TokenError::Malformed));
    }

    #[test]
    fn choices_round_trip_and_nothing_else_parses() {
        let conversation = ConversationId::generate();
        let cycle = SurveyRef::Cycle {
            ticket: TicketNumber(42),
            cycle: 3,
        };
        assert_eq!(parse_choice(&choice_payload(&cycle, 5), conversation), Some((cycle, 5)));
        let ai = SurveyRef::Answer {
            conversation,
            answer: ulid::Ulid::new(),
        };
        assert_eq!(parse_choice(&choice_payload(&ai, 2), conversation), Some((ai, 2)));
        for bad in [
            "csat:42:3:6",
            "csat:42:3:0",
            "csat:42:3",
            "csat:42:3:5:1",
            "hello",
            "csat:x:1:1",
            "csat:ai:nope:1",
            "csat:ai:01J0000000000000000000000A",
        ] {
            assert_eq!(parse_choice(bad, conversation), None, "{bad}");
        }
    }

    #[test]
    fn a_survey_is_stored_with_what_it_rates_at_the_top_level() {
        let conversation = ConversationId::generate();
        let mut s = survey();
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!((json["ticket"].as_u64(), json["cycle"].as_u64()), (Some(1), Some(1)));
        assert_eq!(serde_json::from_value::<Survey>(json).unwrap(), s);
        s.of = SurveyRef::Answer {
            conversation,
            answer: ulid::Ulid::new(),
        };
        let json = serde_json::to_value(&s).unwrap();
        assert!(json.get("ticket").is_none());
        assert_eq!(serde_json::from_value::<Survey>(json).unwrap(), s);
    }

    fn survey() -> Survey {
        Survey {
            tenant_id: TenantId::new("demo").unwrap(),
            of: SurveyRef::Cycle {
                ticket: TicketNumber(1),
                cycle: 1,
            },
            conversation_id: ConversationId::generate(),
            channel: Channel::Email,
            resolved_by: ResolvedBy::Human,
            agent: None,
            team: None,
            resolved_at: at("2026-12-04T10:00:00Z"),
            message_id: ulid::Ulid::nil(),
            offer: Offer::Queued,
            response: None,
            version: 1,
        }
    }

    #[test]
    fn answers_are_checked_and_a_later_one_replaces_the_first() {
        assert_eq!(Answer::new("6", None, None).unwrap_err().0, "rating");
        assert_eq!(Answer::new("x", None, None).unwrap_err().0, "rating");
        assert_eq!(
            Answer::new("2", None, Some(&"a".repeat(MAX_COMMENT_CHARS + 1)))
                .unwrap_err()
                .0,
            "reason"
        );
        let first = Answer::new(" 2 ", Some("  "), Some("slow")).unwrap();
        assert_eq!(first.comment, None);
        let s = survey();
        let once = s.answered(&first, at("2026-12-04T11:00:00Z")).unwrap();
        assert_eq!(once.response.as_ref().unwrap().answers, 1);
        assert_eq!(
            once.answered(&first, at("2026-12-04T12:00:00Z")),
            None,
            "the same answer again"
        );
        let again = once
            .answered(&Answer::new("4", None, None).unwrap(), at("2026-12-04T12:00:00Z"))
            .unwrap();
        let r = again.response.unwrap();
        assert_eq!((r.rating, r.answers, r.reason), (4, 2, None));
    }

    #[test]
    fn settings_report_each_bad_field() {
        let mut s = SurveySettings {
            delay_minutes: 2000,
            question: " ".into(),
            link_valid_days: 0,
            ai_delay_minutes: 0,
            ..SurveySettings::default()
        };
        let fields: Vec<_> = s.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "survey.delay_minutes",
                "survey.question",
                "survey.ai_delay_minutes",
                "survey.link_valid_days"
            ]
        );
        s = SurveySettings::default();
        assert!(s.problems().is_empty());
        assert!(!SurveySettings {
            whatsapp: false,
            ..s.clone()
        }
        .enabled_on(Channel::Whatsapp));
    }
}
