//! Tickets: status, priority, the allowed transitions, and the timeline.

use crate::conversation::Author;
use crate::{AgentId, ArticleId, Channel, ConversationId, CustomerId, TeamId, TenantId, TicketNumber, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Status {
    Open,
    WaitingOnCustomer,
    WaitingOnTeam,
    Resolved,
    Closed,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Open,
        Status::WaitingOnCustomer,
        Status::WaitingOnTeam,
        Status::Resolved,
        Status::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::WaitingOnCustomer => "waiting_on_customer",
            Status::WaitingOnTeam => "waiting_on_team",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
        }
    }

    /// Work is still expected on the ticket: it counts against an agent's capacity and its
    /// SLA clock can run.
    pub fn is_active(self) -> bool {
        matches!(self, Status::Open | Status::WaitingOnCustomer | Status::WaitingOnTeam)
    }

    /// The ticket takes one of its assignee's `max_open` places: open work the team owes
    /// (a ticket waiting on the customer frees its place until the customer writes).
    pub fn holds_capacity(self) -> bool {
        matches!(self, Status::Open | Status::WaitingOnTeam)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Status {
    type Err = TransitionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or(TransitionError::UnknownStatus)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Priority::Low, Priority::Normal, Priority::High, Priority::Urgent];

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    /// Rank for ascending sort keys: urgent sorts first.
    pub fn rank(self) -> u8 {
        match self {
            Priority::Urgent => 0,
            Priority::High => 1,
            Priority::Normal => 2,
            Priority::Low => 3,
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens to a ticket. The state machine decides which status follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// An agent answered the customer publicly.
    AgentReplied,
    /// The customer wrote again.
    CustomerReplied,
    /// An agent parks the ticket: waiting on the customer or on another team.
    Wait(WaitingOn),
    /// An agent takes a waiting ticket back to open.
    Resume,
    Resolve,
    /// Close with checks: the customer must have had a human answer.
    Close,
    /// Close without checks (admins only; enforced by the caller's authorisation).
    ForceClose,
    Reopen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitingOn {
    Customer,
    Team,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("ticket is {from}; {action} is not allowed")]
    NotAllowed { from: Status, action: &'static str },
    #[error("ticket cannot be closed before a human has answered the customer; resolve it or force close")]
    CloseRequiresHumanResponse,
    #[error("unknown status")]
    UnknownStatus,
}

/// Facts the checks need beside the current status.
#[derive(Debug, Clone, Copy, Default)]
pub struct TransitionContext {
    pub has_human_response: bool,
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::AgentReplied => "reply",
        Action::CustomerReplied => "customer reply",
        Action::Wait(WaitingOn::Customer) => "wait on customer",
        Action::Wait(WaitingOn::Team) => "wait on team",
        Action::Resume => "resume",
        Action::Resolve => "resolve",
        Action::Close => "close",
        Action::ForceClose => "force close",
        Action::Reopen => "reopen",
    }
}

/// The ticket state machine.
///
/// - Open work (`open`, `waiting_on_customer`, `waiting_on_team`) moves freely between its
///   three states; an agent reply parks it on the customer, a customer reply opens it.
/// - `resolved` is "we think it's done": a customer reply or a reopen brings it back to open.
/// - `closed` is final for replies; only an explicit reopen revives it.
/// - Close checks that a human answered; force close skips the check.
pub fn transition(from: Status, action: Action, ctx: TransitionContext) -> Result<Status, TransitionError> {
    use Status::*;
    let refuse = || {
        Err(TransitionError::NotAllowed {
            from,
            action: action_name(action),
        })
    };
    match (from, action) {
        (Open | WaitingOnTeam | WaitingOnCustomer, Action::AgentReplied) => Ok(WaitingOnCustomer),
        (Open | WaitingOnCustomer | Resolved, Action::CustomerReplied) => Ok(Open),
        // The customer adding detail does not unblock the other team.
        (WaitingOnTeam, Action::CustomerReplied) => Ok(WaitingOnTeam),
        (Open | WaitingOnTeam, Action::Wait(WaitingOn::Customer)) => Ok(WaitingOnCustomer),
        (Open | WaitingOnCustomer, Action::Wait(WaitingOn::Team)) => Ok(WaitingOnTeam),
        (WaitingOnCustomer | WaitingOnTeam, Action::Resume) => Ok(Open),
        (Open | WaitingOnCustomer | WaitingOnTeam, Action::Resolve) => Ok(Resolved),
        (Resolved, Action::Close) => Ok(Closed),
        (Open | WaitingOnCustomer | WaitingOnTeam, Action::Close) => {
            if ctx.has_human_response {
                Ok(Closed)
            } else {
                Err(TransitionError::CloseRequiresHumanResponse)
            }
        }
        (Open | WaitingOnCustomer | WaitingOnTeam | Resolved, Action::ForceClose) => Ok(Closed),
        (Resolved | Closed, Action::Reopen) => Ok(Open),
        _ => refuse(),
    }
}

/// Where a ticket came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub channel: Channel,
    pub conversation_id: ConversationId,
}

/// An article the AI consulted, kept with the ticket so agents see what was tried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KbLink {
    pub article_id: ArticleId,
    pub title: String,
    pub url: Option<String>,
    pub score: f64,
}

/// The ticket's SLA: the policy it follows, a clock per target (see [`crate::sla`]), and
/// the deadlines they give, kept beside them for the views and the indexes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlaState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<crate::sla::PolicyRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clocks: Vec<crate::sla::TargetClock>,
    pub first_response_due: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_response_due: Option<Timestamp>,
    pub resolution_due: Option<Timestamp>,
    pub first_responded_at: Option<Timestamp>,
    pub breached: bool,
    /// The last public reply by a human (it meets a response target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_human_reply_at: Option<Timestamp>,
    /// The customer's last message on the ticket (it starts a next-response wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_customer_message_at: Option<Timestamp>,
    /// The assignee's reply owed, when their team takes unanswered tickets back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_owed: Option<crate::sla::ReplyOwed>,
    /// Agents the ticket was taken back from unanswered: the router passes them over
    /// while anyone else can take it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unanswered_by: Vec<AgentId>,
}

impl SlaState {
    /// The earliest deadline of a running target, if the clock runs for `status`.
    pub fn next_due(&self, status: Status) -> Option<Timestamp> {
        if !status.holds_capacity() {
            return None;
        }
        self.clocks
            .iter()
            .filter(|c| c.met_at.is_none())
            .filter_map(|c| c.due_at)
            .min()
    }

    /// Whether a running target is past its warning share.
    fn at_risk(&self, now: Timestamp) -> bool {
        self.clocks
            .iter()
            .filter(|c| c.is_running() && c.met_at.is_none())
            .any(|c| c.warned_at.is_some() || c.at_risk_at.is_some_and(|r| r <= now))
    }
}

/// How a ticket stands against its SLA, as agents filter and see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SlaStatus {
    /// A deadline has passed (or the sweep recorded a breach).
    Breached,
    /// A running target is past the tenant's warning share of its time (75% unless
    /// configured).
    AtRisk,
    /// A deadline is running and not close.
    OnTrack,
    /// No clock runs: no targets, waiting on the customer, or done.
    None,
}

impl SlaStatus {
    pub const ALL: [SlaStatus; 4] = [
        SlaStatus::Breached,
        SlaStatus::AtRisk,
        SlaStatus::OnTrack,
        SlaStatus::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SlaStatus::Breached => "breached",
            SlaStatus::AtRisk => "at_risk",
            SlaStatus::OnTrack => "on_track",
            SlaStatus::None => "none",
        }
    }
}

impl SlaState {
    pub fn status(&self, status: Status, now: Timestamp) -> SlaStatus {
        if self.breached && status.is_active() {
            return SlaStatus::Breached;
        }
        match self.next_due(status) {
            None => SlaStatus::None,
            Some(due) if due <= now => SlaStatus::Breached,
            Some(_) if self.at_risk(now) => SlaStatus::AtRisk,
            Some(_) => SlaStatus::OnTrack,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub tenant_id: TenantId,
    pub number: TicketNumber,
    pub subject: String,
    pub status: Status,
    pub priority: Priority,
    pub customer_id: CustomerId,
    /// The customer's name when the ticket was opened, so queue rows need no second read.
    #[serde(default)]
    pub customer_name: Option<String>,
    pub source: Source,
    pub assignee: Option<AgentId>,
    pub team: Option<TeamId>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub handoff_reason: Option<String>,
    pub ai_summary: Option<String>,
    #[serde(default)]
    pub kb_links: Vec<KbLink>,
    #[serde(default)]
    pub sla: SlaState,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_activity_at: Timestamp,
    /// The ticket this one follows up: the conversation's earlier ticket, closed or
    /// returned to the AI before the customer needed a human again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follows: Option<TicketNumber>,
    /// An agent chose the team by hand: routing rules no longer move the ticket.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub team_pinned: bool,
    /// The customer's recent orders from the tenant's shop (fetched at handoff,
    /// refreshable by an agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orders: Option<crate::commerce::OrderContext>,
    /// The current cycle (opened, or reopened): its start and first human reply, for the
    /// first response and resolution times (see `analytics`).
    #[serde(default)]
    pub cycle: crate::analytics::Cycle,
    /// Optimistic-locking version: every write names the version it read.
    pub version: u64,
}

impl Ticket {
    /// A new open ticket with nothing but its identity, subject and source: no assignee,
    /// team, tags, summary or SLA yet (routing and the SLA clock give it those), version 1.
    pub fn open(
        tenant_id: TenantId,
        number: TicketNumber,
        subject: impl Into<String>,
        priority: Priority,
        customer_id: CustomerId,
        source: Source,
        now: Timestamp,
    ) -> Self {
        Ticket {
            tenant_id,
            number,
            subject: subject.into(),
            status: Status::Open,
            priority,
            customer_id,
            customer_name: None,
            source,
            assignee: None,
            team: None,
            tags: Vec::new(),
            handoff_reason: None,
            ai_summary: None,
            kb_links: Vec::new(),
            sla: SlaState::default(),
            created_at: now,
            updated_at: now,
            last_activity_at: now,
            follows: None,
            team_pinned: false,
            orders: None,
            cycle: crate::analytics::Cycle::default(),
            version: 1,
        }
    }

    /// Applies `action`, recording the time; the caller persists with the old version.
    pub fn apply(&mut self, action: Action, at: Timestamp) -> Result<Status, TransitionError> {
        let ctx = TransitionContext {
            has_human_response: self.sla.first_responded_at.is_some(),
        };
        let next = transition(self.status, action, ctx)?;
        if action == Action::AgentReplied {
            self.sla.first_responded_at.get_or_insert(at);
            self.sla.last_human_reply_at = Some(at);
        }
        if action == Action::CustomerReplied {
            self.sla.last_customer_message_at = Some(at);
        }
        self.status = next;
        self.updated_at = at;
        self.last_activity_at = at;
        Ok(next)
    }
}

/// How a change of a ticket moves agents' open-assignment counts: the old assignee of
/// work that holds a place gives it back, the new assignee of such work takes one
/// (see `Status::holds_capacity`).
pub fn capacity_deltas(before: &Ticket, after: &Ticket) -> Vec<(AgentId, i64)> {
    let held = |t: &Ticket| t.assignee.clone().filter(|_| t.status.holds_capacity());
    match (held(before), held(after)) {
        (Some(a), Some(b)) if a == b => vec![],
        (a, b) => a.map(|a| (a, -1)).into_iter().chain(b.map(|b| (b, 1))).collect(),
    }
}

/// One entry on a ticket's timeline, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub tenant_id: TenantId,
    pub ticket: TicketNumber,
    /// ULID: the order of the timeline and the sort key.
    pub id: ulid::Ulid,
    pub at: Timestamp,
    pub actor: Author,
    pub entry: TimelineKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TimelineKind {
    /// A message seen by the customer (theirs, the AI's or an agent's), with what it
    /// carried: attachments, its sender and where its whole original is.
    Message {
        text: String,
        channel: Channel,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<crate::conversation::Attachment>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sender: Option<crate::conversation::Sender>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        original: Option<crate::conversation::Original>,
    },
    /// An internal note, never sent to the customer.
    Note { text: String },
    /// Something that happened: created, handed off, assigned, status changed…
    Event { name: String, detail: serde_json::Value },
}

impl TimelineEntry {
    /// Something the system recorded on the ticket at `at`.
    pub fn event(ticket: &Ticket, name: &str, detail: serde_json::Value, at: Timestamp) -> Self {
        TimelineEntry {
            tenant_id: ticket.tenant_id.clone(),
            ticket: ticket.number,
            id: ulid::Ulid::new(),
            at,
            actor: Author::System,
            entry: TimelineKind::Event {
                name: name.into(),
                detail,
            },
        }
    }
}

impl TimelineKind {
    /// A message with nothing but its text (the AI's and agents' messages).
    pub fn message(text: impl Into<String>, channel: Channel) -> Self {
        TimelineKind::Message {
            text: text.into(),
            channel,
            attachments: Vec::new(),
            sender: None,
            original: None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use Status::*;

    const ANSWERED: TransitionContext = TransitionContext {
        has_human_response: true,
    };
    const UNANSWERED: TransitionContext = TransitionContext {
        has_human_response: false,
    };

    #[test]
    fn agent_reply_parks_open_work_on_the_customer() {
        for from in [Open, WaitingOnTeam, WaitingOnCustomer] {
            assert_eq!(
                transition(from, Action::AgentReplied, UNANSWERED),
                Ok(WaitingOnCustomer)
            );
        }
    }

    #[test]
    fn agent_cannot_reply_on_resolved_or_closed_without_reopening() {
        for from in [Resolved, Closed] {
            assert!(matches!(
                transition(from, Action::AgentReplied, ANSWERED),
                Err(TransitionError::NotAllowed { .. })
            ));
        }
    }

    #[test]
    fn customer_reply_reopens_resolved_but_not_closed() {
        assert_eq!(
            transition(WaitingOnCustomer, Action::CustomerReplied, ANSWERED),
            Ok(Open)
        );
        assert_eq!(transition(Resolved, Action::CustomerReplied, ANSWERED), Ok(Open));
        assert_eq!(
            transition(WaitingOnTeam, Action::CustomerReplied, ANSWERED),
            Ok(WaitingOnTeam)
        );
        assert!(transition(Closed, Action::CustomerReplied, ANSWERED).is_err());
    }

    #[test]
    fn close_requires_a_human_answer_unless_resolved() {
        assert_eq!(
            transition(Open, Action::Close, UNANSWERED),
            Err(TransitionError::CloseRequiresHumanResponse)
        );
        assert_eq!(transition(Open, Action::Close, ANSWERED), Ok(Closed));
        assert_eq!(transition(Resolved, Action::Close, UNANSWERED), Ok(Closed));
        assert!(transition(Closed, Action::Close, ANSWERED).is_err());
    }

    #[test]
    fn force_close_skips_the_checks_but_not_on_a_closed_ticket() {
        for from in [Open, WaitingOnCustomer, WaitingOnTeam, Resolved] {
            assert_eq!(transition(from, Action::ForceClose, UNANSWERED), Ok(Closed));
        }
        assert!(transition(Closed, Action::ForceClose, UNANSWERED).is_err());
    }

    #[test]
    fn reopen_only_from_resolved_or_closed() {
        assert_eq!(transition(Resolved, Action::Reopen, ANSWERED), Ok(Open));
        assert_eq!(transition(Closed, Action::Reopen, ANSWERED), Ok(Open));
        for from in [Open, WaitingOnCustomer, WaitingOnTeam] {
            assert!(transition(from, Action::Reopen, ANSWERED).is_err());
        }
    }

    #[test]
    fn waits_and_resume_move_between_open_states_only() {
        assert_eq!(
            transition(Open, Action::Wait(WaitingOn::Team), ANSWERED),
            Ok(WaitingOnTeam)
        );
        assert_eq!(
            transition(WaitingOnTeam, Action::Wait(WaitingOn::Customer), ANSWERED),
            Ok(WaitingOnCustomer)
        );
        assert_eq!(transition(WaitingOnCustomer, Action::Resume, ANSWERED), Ok(Open));
        assert!(transition(Open, Action::Resume, ANSWERED).is_err());
        assert!(transition(Resolved, Action::Wait(WaitingOn::Customer), ANSWERED).is_err());
    }

    #[test]
    fn every_status_and_action_pair_is_decided_without_panicking() {
        let actions = [
            Action::AgentReplied,
            Action::CustomerReplied,
            Action::Wait(WaitingOn::Customer),
            Action::Wait(WaitingOn::Team),
            Action::Resume,
            Action::Resolve,
            Action::Close,
            Action::ForceClose,
            Action::Reopen,
        ];
        let mut allowed = 0;
        for from in Status::ALL {
            for a in actions {
                for ctx in [ANSWERED, UNANSWERED] {
                    if let Ok(to) = transition(from, a, ctx) {
                        allowed += 1;
                        // Nothing but reopen leaves closed.
                        if from == Closed {
                            assert_eq!((a, to), (Action::Reopen, Open));
                        }
                    }
                }
            }
        }
        assert!(allowed > 20);
    }

    #[test]
    fn replies_record_what_the_sla_clock_reads() {
        let t0 = Timestamp::from_unix_millis(0).unwrap();
        let t1 = Timestamp::from_unix_millis(60_000).unwrap();
        let t2 = Timestamp::from_unix_millis(120_000).unwrap();
        let mut ticket = sample_ticket(t0);
        ticket.apply(Action::AgentReplied, t1).unwrap();
        assert_eq!(ticket.sla.first_responded_at, Some(t1));
        assert_eq!(ticket.sla.last_human_reply_at, Some(t1));
        assert_eq!(ticket.status, WaitingOnCustomer);
        ticket.apply(Action::CustomerReplied, t2).unwrap();
        assert_eq!(ticket.sla.last_customer_message_at, Some(t2));
        // A later reply does not move the first response.
        ticket.apply(Action::AgentReplied, t2).unwrap();
        assert_eq!(ticket.sla.first_responded_at, Some(t1));
        assert_eq!(ticket.sla.last_human_reply_at, Some(t2));
    }

    #[test]
    fn sla_status_follows_the_running_targets() {
        use crate::sla::{advance, Happened, SlaPolicy, SlaSettings, Targets};
        let t0 = Timestamp::from_unix_millis(0).unwrap();
        let mut ticket = sample_ticket(t0);
        assert_eq!(ticket.sla.status(ticket.status, t0), SlaStatus::None);
        let settings = SlaSettings {
            policies: vec![SlaPolicy {
                id: "p".into(),
                name: "p".into(),
                conditions: vec![],
                targets: Targets {
                    first_response_minutes: Some(4 * 60),
                    ..Targets::default()
                },
                calendar: None,
            }],
            ..SlaSettings::default()
        };
        advance(&settings, &mut ticket, Happened::default(), t0);
        assert_eq!(ticket.sla.status(ticket.status, t0), SlaStatus::OnTrack);
        let later = t0.plus(time::Duration::hours(3) + time::Duration::minutes(30));
        assert_eq!(ticket.sla.status(ticket.status, later), SlaStatus::AtRisk);
        assert_eq!(
            ticket.sla.status(ticket.status, t0.plus(time::Duration::hours(4))),
            SlaStatus::Breached
        );
        // Waiting on the customer stops the clock.
        assert_eq!(ticket.sla.status(WaitingOnCustomer, later), SlaStatus::None);
        ticket.sla.breached = true;
        assert_eq!(ticket.sla.status(ticket.status, t0), SlaStatus::Breached);
    }

    #[test]
    fn capacity_moves_with_the_assignee_of_active_work() {
        let t0 = Timestamp::from_unix_millis(0).unwrap();
        let a = AgentId::new("ana").unwrap();
        let b = AgentId::new("bo").unwrap();
        let mut before = sample_ticket(t0);
        let mut after = before.clone();
        after.assignee = Some(a.clone());
        assert_eq!(capacity_deltas(&before, &after), vec![(a.clone(), 1)]);
        before = after.clone();
        after.assignee = Some(b.clone());
        assert_eq!(capacity_deltas(&before, &after), vec![(a.clone(), -1), (b.clone(), 1)]);
        before = after.clone();
        after.status = Resolved;
        assert_eq!(capacity_deltas(&before, &after), vec![(b.clone(), -1)]);
        before = after.clone();
        after.status = Open;
        assert_eq!(capacity_deltas(&before, &after), vec![(b.clone(), 1)]);
        // Waiting on the customer frees the place until the customer writes.
        before = after.clone();
        after.status = WaitingOnCustomer;
        assert_eq!(capacity_deltas(&before, &after), vec![(b.clone(), -1)]);
        assert_eq!(capacity_deltas(&after, &after), vec![]);
    }

    #[test]
    fn priority_rank_sorts_urgent_first() {
        let mut ps = Priority::ALL.to_vec();
        ps.sort_by_key(|p| p.rank());
        assert_eq!(
            ps,
            vec![Priority::Urgent, Priority::High, Priority::Normal, Priority::Low]
        );
    }

    pub(crate) fn sample_ticket(at: Timestamp) -> Ticket {
        Ticket::open(
            TenantId::new("demo").unwrap(),
            TicketNumber(1),
            "Where is my order?",
            Priority::Normal,
            CustomerId::generate(),
            Source {
                channel: Channel::Whatsapp,
                conversation_id: ConversationId::generate(),
            },
            at,
        )
    }
}
