//! What the API reads and writes: request bodies and response views, each with its
//! OpenAPI schema. Domain types stay free of HTTP concerns; these map them.

use baton_domain::conversation::{Author, Owner};
use baton_domain::customer::Customer;
use baton_domain::directory::{Agent, Presence, Role, RoutingStrategy, Team};
use baton_domain::kb::Article;
use baton_domain::notify::NotificationPrefs;
use baton_domain::ticket::{Priority, SlaStatus, Status, Ticket, TimelineEntry, TimelineKind};
use baton_domain::triage::{Decision, TriageOutcome};
use baton_domain::{Channel, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

// ------------------------------------------------------------------ tickets

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketRow {
    pub number: u64,
    pub subject: String,
    pub status: Status,
    pub priority: Priority,
    pub sla_state: SlaStatus,
    /// The next SLA deadline while the clock runs.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sla_due: Option<Timestamp>,
    pub source: Channel,
    pub customer: CustomerRef,
    pub assignee: Option<String>,
    pub team: Option<String>,
    pub tags: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    pub last_activity_at: Timestamp,
    pub version: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerRef {
    pub id: String,
    pub name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketPage {
    pub items: Vec<TicketRow>,
    /// Pass as `cursor` for the next page; absent at the end.
    pub next_cursor: Option<String>,
}

impl TicketRow {
    pub fn new(t: &Ticket, now: Timestamp) -> Self {
        TicketRow {
            number: t.number.0,
            subject: t.subject.clone(),
            status: t.status,
            priority: t.priority,
            sla_state: t.sla.status(t.status, now),
            sla_due: t.sla.next_due(t.status),
            source: t.source.channel,
            customer: CustomerRef {
                id: t.customer_id.to_string(),
                name: t.customer_name.clone(),
            },
            assignee: t.assignee.as_ref().map(ToString::to_string),
            team: t.team.as_ref().map(ToString::to_string),
            tags: t.tags.clone(),
            last_activity_at: t.last_activity_at,
            version: t.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlaView {
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_response_due: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolution_due: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub first_responded_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_response_due: Option<Timestamp>,
    pub breached: bool,
    pub state: SlaStatus,
    /// The policy the targets come from.
    pub policy: Option<String>,
    /// Each target's clock, for timers.
    pub targets: Vec<SlaTargetView>,
    /// The reply the assignee owes before the ticket goes back to the queue (their team
    /// takes unanswered tickets back).
    pub reply_owed: Option<baton_domain::sla::ReplyOwed>,
    /// Agents the ticket was taken back from unanswered (the router passes them over).
    pub unanswered_by: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlaTargetView {
    /// `first_response`, `next_response` or `resolution`.
    pub target: &'static str,
    /// `running`, `paused` or `met`.
    pub clock: &'static str,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at_risk_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub met_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub breached_at: Option<Timestamp>,
    /// Business seconds used so far (up to the last pause).
    pub used_secs: i64,
    pub allowed_secs: i64,
}

impl SlaView {
    pub fn new(sla: &baton_domain::ticket::SlaState, status: baton_domain::ticket::Status, now: Timestamp) -> Self {
        SlaView {
            first_response_due: sla.first_response_due,
            resolution_due: sla.resolution_due,
            first_responded_at: sla.first_responded_at,
            next_response_due: sla.next_response_due,
            breached: sla.breached,
            state: sla.status(status, now),
            policy: sla.policy.as_ref().map(|p| p.name.clone()),
            targets: sla
                .clocks
                .iter()
                .map(|c| SlaTargetView {
                    target: c.target.as_str(),
                    clock: match (c.met_at, c.is_running()) {
                        (Some(_), _) => "met",
                        (None, true) => "running",
                        (None, false) => "paused",
                    },
                    due_at: c.due_at,
                    at_risk_at: c.at_risk_at,
                    met_at: c.met_at,
                    breached_at: c.breached_at,
                    used_secs: c.elapsed_secs,
                    allowed_secs: c.budget_secs,
                })
                .collect(),
            reply_owed: sla.reply_owed.clone(),
            unanswered_by: sla.unanswered_by.iter().map(ToString::to_string).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KbLinkView {
    pub article_id: String,
    pub title: String,
    pub url: Option<String>,
    pub score: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SourceView {
    pub channel: Channel,
    pub conversation_id: String,
}

/// A ticket's facts: what every action returns, and what a `409` carries as `current`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketView {
    pub number: u64,
    pub subject: String,
    pub status: Status,
    pub priority: Priority,
    pub sla: SlaView,
    pub tags: Vec<String>,
    pub team: Option<String>,
    pub assignee: Option<String>,
    pub source: SourceView,
    pub customer_id: String,
    pub customer_name: Option<String>,
    /// Why the AI handed the conversation to a human.
    pub handoff_reason: Option<String>,
    pub ai_summary: Option<String>,
    /// The knowledge-base articles the AI consulted, best first.
    pub kb_links: Vec<KbLinkView>,
    /// The earlier ticket of the same conversation that this one follows up.
    pub follows: Option<u64>,
    /// The customer's orders from the tenant's shop (fetched at handoff, refreshed with
    /// `POST /v1/tickets/{number}/orders/refresh`); absent when the tenant has no shop.
    pub orders: Option<baton_domain::commerce::OrderContext>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub last_activity_at: Timestamp,
    /// Send it back with the next action: a stale version gets `409`.
    pub version: u64,
}

impl TicketView {
    pub fn new(t: &Ticket, now: Timestamp) -> Self {
        TicketView {
            number: t.number.0,
            subject: t.subject.clone(),
            status: t.status,
            priority: t.priority,
            sla: SlaView::new(&t.sla, t.status, now),
            tags: t.tags.clone(),
            team: t.team.as_ref().map(ToString::to_string),
            assignee: t.assignee.as_ref().map(ToString::to_string),
            source: SourceView {
                channel: t.source.channel,
                conversation_id: t.source.conversation_id.to_string(),
            },
            customer_id: t.customer_id.to_string(),
            customer_name: t.customer_name.clone(),
            handoff_reason: t.handoff_reason.clone(),
            ai_summary: t.ai_summary.clone(),
            follows: t.follows.map(|n| n.0),
            orders: t.orders.clone(),
            kb_links: t
                .kb_links
                .iter()
                .map(|k| KbLinkView {
                    article_id: k.article_id.to_string(),
                    title: k.title.clone(),
                    url: k.url.clone(),
                    score: k.score,
                })
                .collect(),
            created_at: t.created_at,
            updated_at: t.updated_at,
            last_activity_at: t.last_activity_at,
            version: t.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityView {
    pub channel: Channel,
    pub external_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerView {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub identities: Vec<IdentityView>,
    pub attributes: BTreeMap<String, String>,
    /// Addresses no mail goes to any more (hard bounce, spam complaint), with why.
    pub undeliverable: Vec<UndeliverableView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UndeliverableView {
    pub address: String,
    /// `bounced` or `complaint`.
    pub kind: String,
    pub reason: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

impl From<&Customer> for CustomerView {
    fn from(c: &Customer) -> Self {
        CustomerView {
            id: c.id.to_string(),
            name: c.name.clone(),
            email: c.email.clone(),
            identities: c
                .identities
                .iter()
                .map(|i| IdentityView {
                    channel: i.channel,
                    external_id: i.external_id.clone(),
                })
                .collect(),
            attributes: c.attributes.clone(),
            undeliverable: c
                .undeliverable
                .iter()
                .map(|u| UndeliverableView {
                    address: u.address.clone(),
                    kind: u.kind.clone(),
                    reason: u.reason.clone(),
                    at: u.at,
                })
                .collect(),
        }
    }
}

/// One entry of the thread, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ThreadEntry {
    pub id: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// `customer`, `ai`, `agent` or `system`.
    pub actor: String,
    /// The agent, when `actor` is `agent`.
    pub agent_id: Option<String>,
    /// `message` (seen by the customer), `note` (internal) or `event`.
    pub kind: String,
    pub text: Option<String>,
    pub channel: Option<Channel>,
    /// For events: `handed_off`, `assigned`, `taken_over`, `status_changed`, …
    pub event: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
    /// Messages: what the message carried (photos, documents, e-mail attachments).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentView>,
    /// Customer messages: who sent it (channel identity; for e-mail the address and how
    /// SES authenticated it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender: Option<baton_domain::conversation::Sender>,
    /// Messages whose `text` is not all of it (quoted history removed, or capped): where
    /// the whole is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<OriginalView>,
    /// Replies (AI and human): what the channel last said of it (`queued`, `sent`,
    /// `delivered`, `read`, `failed`), for the conversation's latest
    /// [`DELIVERY_LOOKBACK`] messages; absent for older ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery: Option<baton_domain::conversation::DeliveryStatus>,
    /// Why it failed, in the channel's words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_error: Option<String>,
}

/// How many of a conversation's latest messages the ticket detail reads for the
/// replies' delivery states and the reply window (one query).
pub const DELIVERY_LOOKBACK: u32 = 100;

/// What a reply on the ticket's channel would do now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplyWindowView {
    /// `open`, `human_agent` (Instagram past 24 hours: a person's reply goes tagged
    /// `HUMAN_AGENT`, up to 7 days), `template` (WhatsApp past 24 hours: the approved
    /// template goes instead), `closed` (nothing may be sent: a reply becomes a
    /// follow-up), `none` (e-mail, widget: no window).
    pub state: String,
    /// When the current state ends.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub closes_at: Option<Timestamp>,
    /// When the customer last wrote (by the channel's own time, if it gave one).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_customer_message_at: Option<Timestamp>,
    /// What happens to a reply, in words.
    pub explain: String,
}

/// One attachment of a message. Its bytes come from `download` (a short-lived link).
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentView {
    /// `image`, `audio`, `video`, `document`, `file`, `location`, …
    pub kind: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub size: Option<u64>,
    pub caption: Option<String>,
    /// `GET` this path for a download link; absent when there are no bytes to fetch (a
    /// location, or an attachment past the caps, which stays in the original message).
    pub download: Option<String>,
    /// Why the bytes were not stored on their own.
    pub omitted: Option<String>,
}

/// Where the whole of a message is.
#[derive(Debug, Serialize, ToSchema)]
pub struct OriginalView {
    /// `GET` this path for the full text and links to it and the raw message.
    pub link: String,
    /// Bytes of the full text.
    pub text_bytes: u64,
    /// The stored `text` was cut at the size cap.
    pub truncated: bool,
}

/// The whole of a message.
#[derive(Debug, Serialize, ToSchema)]
pub struct OriginalBody {
    /// The full text (plain text), when it is at most 1 MiB; else read `text_url`.
    pub text: Option<String>,
    pub text_bytes: u64,
    pub truncated: bool,
    /// Short-lived link to the full text.
    pub text_url: Option<String>,
    /// Short-lived link to the raw message as received (`message/rfc822`).
    pub raw_url: Option<String>,
    /// Seconds the links stay valid.
    pub expires_in: u64,
}

/// A short-lived link to an attachment's bytes, served as `application/octet-stream`
/// with `Content-Disposition: attachment`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DownloadLink {
    pub url: String,
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub size: Option<u64>,
    pub expires_in: u64,
}

impl From<&TimelineEntry> for ThreadEntry {
    fn from(e: &TimelineEntry) -> Self {
        let (actor, agent_id) = match &e.actor {
            Author::Customer => ("customer", None),
            Author::Ai => ("ai", None),
            Author::Agent { id } => ("agent", Some(id.to_string())),
            Author::System => ("system", None),
        };
        let mut entry = ThreadEntry {
            id: e.id.to_string(),
            at: e.at,
            actor: actor.to_owned(),
            agent_id,
            kind: String::new(),
            text: None,
            channel: None,
            event: None,
            detail: None,
            attachments: Vec::new(),
            sender: None,
            original: None,
            delivery: None,
            delivery_error: None,
        };
        let base = format!("/v1/tickets/{}/entries/{}", e.ticket, e.id);
        match &e.entry {
            TimelineKind::Message {
                text,
                channel,
                attachments,
                sender,
                original,
            } => {
                entry.kind = "message".into();
                entry.text = Some(text.clone());
                entry.channel = Some(*channel);
                entry.attachments = attachments
                    .iter()
                    .enumerate()
                    .map(|(i, a)| AttachmentView {
                        kind: a.kind.clone(),
                        file_name: a.file_name.clone(),
                        content_type: a.mime_type.clone(),
                        size: a.size,
                        caption: a.caption.clone(),
                        download: (downloadable(a) || fetchable(*channel, a))
                            .then(|| format!("{base}/attachments/{i}")),
                        omitted: a.omitted.clone(),
                    })
                    .collect();
                entry.sender = sender.clone();
                entry.original = original.as_ref().map(|o| OriginalView {
                    link: format!("{base}/original"),
                    text_bytes: o.text_bytes,
                    truncated: o.truncated,
                });
            }
            TimelineKind::Note { text } => {
                entry.kind = "note".into();
                entry.text = Some(text.clone());
            }
            TimelineKind::Event { name, detail } => {
                entry.kind = "event".into();
                entry.event = Some(name.clone());
                entry.detail = Some(detail.clone());
            }
        }
        entry
    }
}

/// Whether an attachment has bytes Baton can hand out: stored in S3 (e-mail attachments,
/// channel media once fetched). A location has none; an omitted one is in the original.
pub fn downloadable(a: &baton_domain::conversation::Attachment) -> bool {
    a.stored_key.is_some() && a.omitted.is_none()
}

/// Channel media Baton has not stored yet (a WhatsApp media id, an Instagram link): its
/// first download fetches it from the channel.
pub fn fetchable(channel: Channel, a: &baton_domain::conversation::Attachment) -> bool {
    matches!(channel, Channel::Whatsapp | Channel::Instagram)
        && a.stored_key.is_none()
        && a.omitted.is_none()
        && !a.reference.is_empty()
        && a.kind != "location"
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TicketDetail {
    pub ticket: TicketView,
    /// Absent if the customer record could not be read.
    pub customer: Option<CustomerView>,
    /// Who answers the customer now: the AI or humans.
    pub conversation_owner: Option<Owner>,
    pub thread: Vec<ThreadEntry>,
    /// Pass as `thread_cursor` for more of the thread.
    pub thread_next_cursor: Option<String>,
    /// The satisfaction survey of each resolution cycle, oldest first.
    pub surveys: Vec<SurveyView>,
    /// What a reply on the ticket's channel would do now (absent if the conversation
    /// could not be read).
    pub reply_window: Option<ReplyWindowView>,
}

/// One cycle's survey as the agent sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SurveyView {
    pub cycle: u32,
    pub channel: Channel,
    pub resolved_by: baton_domain::csat::ResolvedBy,
    /// The agent whose resolution it rates.
    pub agent: Option<String>,
    pub resolved_at: String,
    pub offer: baton_domain::csat::Offer,
    /// 1 to 5, once answered.
    pub rating: Option<u8>,
    pub comment: Option<String>,
    pub reason: Option<String>,
    pub answered_at: Option<String>,
    /// How often the customer answered (the last answer counts).
    pub answers: u32,
}

impl From<&baton_domain::csat::Survey> for SurveyView {
    fn from(s: &baton_domain::csat::Survey) -> Self {
        let r = s.response.as_ref();
        SurveyView {
            cycle: s.of.cycle(),
            channel: s.channel,
            resolved_by: s.resolved_by.clone(),
            agent: s.agent.as_ref().map(|a| a.to_string()),
            resolved_at: s.resolved_at.to_string(),
            offer: s.offer.clone(),
            rating: r.map(|r| r.rating),
            comment: r.and_then(|r| r.comment.clone()),
            reason: r.and_then(|r| r.reason.clone()),
            answered_at: r.map(|r| r.answered_at.to_string()),
            answers: r.map_or(0, |r| r.answers),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionResult {
    pub ticket: TicketView,
    /// The timeline entry the action recorded.
    pub entry_id: String,
}

/// Every ticket action names the version it read.
#[derive(Debug, Deserialize, ToSchema)]
pub struct VersionBody {
    pub version: Option<u64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TextBody {
    pub version: Option<u64>,
    pub text: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AssignBody {
    pub version: Option<u64>,
    /// The agent to assign; `null` unassigns.
    pub agent_id: Option<String>,
    /// Admins only: assign even though the agent is at `max_open` (recorded on the
    /// timeline).
    #[serde(default)]
    pub over_capacity: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PatchBody {
    pub version: Option<u64>,
    #[schema(value_type = Option<Status>)]
    pub status: Option<String>,
    #[schema(value_type = Option<Priority>)]
    pub priority: Option<String>,
    pub tags: Option<Vec<String>>,
    /// A team id; an empty string clears the team.
    pub team: Option<String>,
    /// With `status: resolved`: `false` resolves without a satisfaction survey (a spam
    /// thread, a duplicate); otherwise the tenant's survey settings decide.
    pub survey: Option<bool>,
}

// ------------------------------------------------------------------ directory

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentView {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    /// The teams that list the agent as a member (membership is kept on the team).
    pub teams: Vec<String>,
    pub skills: Vec<String>,
    pub max_open: u32,
    pub open_count: u32,
    pub presence: Presence,
    pub active: bool,
    /// What the agent is e-mailed about (a burst folds into one digest every 5 minutes).
    pub notifications: NotificationPrefs,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl AgentView {
    /// The agent as shown, with their teams read from `teams` (the tenant's teams).
    pub fn new(a: &Agent, teams: &[Team]) -> Self {
        AgentView {
            id: a.id.to_string(),
            name: a.name.clone(),
            email: a.email.clone(),
            role: a.role,
            teams: teams
                .iter()
                .filter(|t| t.members.contains(&a.id))
                .map(|t| t.id.to_string())
                .collect(),
            skills: a.skills.clone(),
            max_open: a.max_open,
            open_count: a.open_count,
            presence: a.presence,
            active: a.active,
            notifications: a.notifications,
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentPage {
    pub items: Vec<AgentView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AgentBody {
    /// On create: the agent id (the `custom:agent_id` claim of their token); generated
    /// from the e-mail address when absent. Ignored on update.
    pub id: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    #[schema(value_type = Option<Role>)]
    pub role: Option<String>,
    /// The teams the agent is a member of: each listed team gains them and every other
    /// team loses them (the same as editing the teams' `members`). Absent: unchanged.
    pub teams: Option<Vec<String>>,
    #[serde(default)]
    pub skills: Vec<String>,
    pub max_open: Option<u32>,
    #[schema(value_type = Option<Presence>)]
    pub presence: Option<String>,
    /// `false` deactivates the agent: their next request is refused (`403`).
    pub active: Option<bool>,
}

/// Only the fields given change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NotificationsBody {
    /// `false`: no e-mail at all.
    pub email: Option<bool>,
    pub assigned: Option<bool>,
    pub customer_replied: Option<bool>,
    /// SLA at risk and breached.
    pub sla: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PresenceBody {
    #[schema(value_type = Option<Presence>)]
    pub presence: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamView {
    pub id: String,
    pub name: String,
    pub members: Vec<String>,
    pub strategy: RoutingStrategy,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub lead: Option<String>,
    /// A ticket the router assigns goes back to the queue when no human has replied
    /// this many minutes after the assignment.
    pub return_unanswered_after_minutes: Option<u32>,
    /// Send it back as `version` with a change: a change made meanwhile refuses it (409).
    pub version: u64,
}

impl From<&Team> for TeamView {
    fn from(t: &Team) -> Self {
        TeamView {
            id: t.id.to_string(),
            name: t.name.clone(),
            members: t.members.iter().map(ToString::to_string).collect(),
            strategy: t.strategy,
            created_at: t.created_at,
            lead: t.lead.as_ref().map(ToString::to_string),
            return_unanswered_after_minutes: t.return_unanswered_after_minutes,
            version: t.version,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TeamPage {
    pub items: Vec<TeamView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TeamBody {
    /// On create: the team id (a slug); generated from the name when absent.
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub members: Vec<String>,
    #[schema(value_type = Option<RoutingStrategy>)]
    pub strategy: Option<String>,
    /// An agent told of SLA warnings and breaches on the team's tickets.
    pub lead: Option<String>,
    /// Minutes (1 to 10080, a week) after a routed assignment with no human reply, after
    /// which the ticket goes back to the queue; absent: never.
    pub return_unanswered_after_minutes: Option<i64>,
    /// On update: the version read (`GET` gives it); absent: the one stored when the
    /// request arrives.
    pub version: Option<u64>,
}

// ------------------------------------------------------------------ knowledge base

#[derive(Debug, Serialize, ToSchema)]
pub struct ArticleView {
    pub id: String,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub sample_questions: Vec<String>,
    pub url: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<&Article> for ArticleView {
    fn from(a: &Article) -> Self {
        ArticleView {
            id: a.id.to_string(),
            title: a.title.clone(),
            body: a.body.clone(),
            tags: a.tags.clone(),
            sample_questions: a.sample_questions.clone(),
            url: a.url.clone(),
            updated_at: a.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ArticlePage {
    pub items: Vec<ArticleView>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ArticleBody {
    /// On create and import: the article id (a slug); generated when absent. Ignored on
    /// update (the path names the article).
    pub id: Option<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub sample_questions: Vec<String>,
    pub url: Option<String>,
    /// The knowledge gap this article covers (`GET /v1/reports/gaps/{id}/draft` fills it):
    /// the gap's questions from now on count as "after" it. Ignored by imports.
    #[serde(default)]
    pub gap: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ImportBody {
    /// Up to 500 articles; an article with the id of an existing one replaces it.
    pub articles: Vec<ArticleBody>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResult {
    pub created: u32,
    pub replaced: u32,
    pub ids: Vec<String>,
}

// ------------------------------------------------------------------ AI

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AiSettingsView {
    pub persona: String,
    pub confidence_threshold: f64,
    pub always_human_topics: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AiSettingsBody {
    pub persona: Option<String>,
    pub confidence_threshold: Option<f64>,
    pub always_human_topics: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PreviewBody {
    pub text: Option<String>,
    /// To preview the reply to a clarifying question: the article ids it offered (the
    /// `citations` of a `clarify` result), in their order.
    #[serde(default)]
    pub choices: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CitationView {
    pub article_id: String,
    pub title: String,
    pub score: f64,
}

/// What the triage decision would do with this message, sending and storing nothing.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewResult {
    /// `answer`, `clarify` (close candidates: `answer` is the question asked, `citations`
    /// the candidates in their numbered order), `handoff`, or `look_up_order` (the model,
    /// with the tenant's shop connected, would look the customer's order up: `answer` is
    /// the number it read, if any; triage then answers the order's owner from the shop).
    pub decision: Decision,
    /// `answered`, `clarify`, `look_up_order`, or the handoff reason's code.
    pub reason: String,
    pub answer: Option<String>,
    pub confidence: f64,
    pub citations: Vec<CitationView>,
}

impl From<&TriageOutcome> for PreviewResult {
    fn from(o: &TriageOutcome) -> Self {
        PreviewResult {
            decision: o.decision,
            reason: o.reason.clone(),
            answer: o.answer.clone(),
            confidence: o.confidence,
            citations: o
                .citations
                .iter()
                .map(|c| CitationView {
                    article_id: c.article_id.to_string(),
                    title: c.title.clone(),
                    score: c.score,
                })
                .collect(),
        }
    }
}
