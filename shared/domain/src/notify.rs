//! Agents' e-mail notifications: what happened on their tickets, each agent's
//! preferences, how a burst folds into one digest, and the plain text they read.
//!
//! The fold: an agent gets at most one e-mail per [`DIGEST_WINDOW_SECS`]. A notification
//! arriving inside the window waits (pending) and a flush is scheduled for the window's
//! end; then everything pending goes in one digest. Each digest is opened with a
//! conditional write of the agent's [`NotifyState`] (`open_digest`), sent once under an
//! attempt marker keyed by it, and closed after its notifications are removed, so a crash
//! at any step resumes the same digest instead of sending another.

use crate::{AgentId, TenantId, TicketNumber, Timestamp};
use serde::{Deserialize, Serialize};

/// At most one e-mail per agent in this many seconds; more is folded into a digest.
pub const DIGEST_WINDOW_SECS: i64 = 300;
/// A digest lists at most this many notifications; more go in the next one.
pub const MAX_PER_DIGEST: u32 = 50;
/// Longest excerpt of a customer's message in a notification.
pub const EXCERPT_CHARS: usize = 280;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum NotificationKind {
    /// A ticket was assigned to the agent (by someone else or by routing).
    Assigned,
    /// The customer wrote again on a ticket the agent holds.
    CustomerReplied,
    /// An SLA target of the agent's ticket is about to be missed.
    SlaAtRisk,
    /// An SLA target of the agent's ticket was missed.
    SlaBreached,
    /// The agent's ticket went back to the queue: nobody replied in the time their team
    /// allows after an assignment.
    ReturnedUnanswered,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentNotification {
    /// Stable across redeliveries (the effect's id): storing it twice keeps one.
    pub id: String,
    pub tenant_id: TenantId,
    pub agent_id: AgentId,
    pub kind: NotificationKind,
    pub ticket: TicketNumber,
    /// The ticket's subject (or the start of its first message).
    pub subject: String,
    /// The customer's name or address.
    pub customer: String,
    /// The start of the customer's message (customer replies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<String>,
    /// The SLA target concerned and when it is (was) due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sla_target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<Timestamp>,
    pub happened_at: Timestamp,
}

impl AgentNotification {
    /// A notification about `ticket` for its assignee (`None` without one). `key` names
    /// what caused it, so the same cause always makes the same notification.
    pub fn for_ticket(
        ticket: &crate::ticket::Ticket,
        kind: NotificationKind,
        key: &str,
        excerpt_of: Option<&str>,
        now: Timestamp,
    ) -> Option<Self> {
        let agent = ticket.assignee.clone()?;
        Some(Self::for_agent(ticket, agent, kind, key, excerpt_of, now))
    }

    /// The notification for `agent` (a team lead, say) about the ticket.
    pub fn for_agent(
        ticket: &crate::ticket::Ticket,
        agent: crate::AgentId,
        kind: NotificationKind,
        key: &str,
        excerpt_of: Option<&str>,
        now: Timestamp,
    ) -> Self {
        AgentNotification {
            id: crate::outbox::Effect::id_for("notify", key),
            tenant_id: ticket.tenant_id.clone(),
            agent_id: agent,
            kind,
            ticket: ticket.number,
            subject: ticket.subject.clone(),
            customer: ticket.customer_name.clone().unwrap_or_else(|| "The customer".into()),
            excerpt: excerpt_of.map(excerpt),
            sla_target: None,
            due_at: None,
            happened_at: now,
        }
    }
}

/// A notification waiting for its agent's next e-mail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingNotification {
    pub stored_at: Timestamp,
    pub notification: AgentNotification,
}

/// A record on the notification queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NotifyRecord {
    Notification(AgentNotification),
    /// Send what is pending for the agent, if their window has passed.
    Flush {
        tenant_id: TenantId,
        agent_id: AgentId,
    },
}

/// What an agent wants to be e-mailed about; everything, unless they say otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationPrefs {
    /// Off: no e-mail at all.
    pub email: bool,
    pub assigned: bool,
    pub customer_replied: bool,
    /// At risk and breached.
    pub sla: bool,
}

impl Default for NotificationPrefs {
    fn default() -> Self {
        NotificationPrefs {
            email: true,
            assigned: true,
            customer_replied: true,
            sla: true,
        }
    }
}

impl NotificationPrefs {
    pub fn wants(&self, kind: NotificationKind) -> bool {
        self.email
            && match kind {
                NotificationKind::Assigned | NotificationKind::ReturnedUnanswered => self.assigned,
                NotificationKind::CustomerReplied => self.customer_replied,
                NotificationKind::SlaAtRisk | NotificationKind::SlaBreached => self.sla,
            }
    }
}

/// Where an agent's e-mail stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NotifyState {
    /// When the last digest was opened: the window runs from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sent_at: Option<Timestamp>,
    /// A digest opened and not yet closed: it holds the notifications stored up to this
    /// time, and any step resumes it first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_digest: Option<Timestamp>,
    #[serde(default)]
    pub version: u64,
}

/// What to do next for an agent's pending notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Finish the digest opened at this time (send what it holds, remove, close).
    Finish(Timestamp),
    /// Nothing pending.
    Idle,
    /// Inside the window: flush again at this time.
    WaitUntil(Timestamp),
    /// Open a digest now.
    Open,
}

pub fn next_step(state: &NotifyState, pending: bool, now: Timestamp) -> Step {
    if let Some(at) = state.open_digest {
        return Step::Finish(at);
    }
    if !pending {
        return Step::Idle;
    }
    match state.last_sent_at {
        Some(last) if now.unix_millis() < last.unix_millis() + DIGEST_WINDOW_SECS * 1000 => {
            Step::WaitUntil(Timestamp::from_unix_millis(last.unix_millis() + DIGEST_WINDOW_SECS * 1000).unwrap_or(now))
        }
        _ => Step::Open,
    }
}

fn line_of(n: &AgentNotification) -> String {
    let what = match n.kind {
        NotificationKind::Assigned => "assigned to you".to_owned(),
        NotificationKind::CustomerReplied => format!("{} replied", n.customer),
        NotificationKind::SlaAtRisk => format!(
            "{} due {}",
            n.sla_target.as_deref().unwrap_or("SLA target"),
            n.due_at.map(|d| d.to_string()).unwrap_or_else(|| "soon".into())
        ),
        NotificationKind::SlaBreached => format!("{} missed", n.sla_target.as_deref().unwrap_or("SLA target")),
        NotificationKind::ReturnedUnanswered => format!(
            "back in the queue: no reply by {}",
            n.due_at
                .map(|d| d.to_string())
                .unwrap_or_else(|| "the team's limit".into())
        ),
    };
    format!("#{} {} — {}", n.ticket, one_line(&n.subject, 120), what)
}

fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        flat
    } else {
        let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
        format!("{}…", cut.trim_end())
    }
}

/// The start of a customer's message, on one line, for a notification.
pub fn excerpt(text: &str) -> String {
    one_line(text, EXCERPT_CHARS)
}

/// Subject and plain text of the e-mail for `items` (oldest first): one notification
/// reads as itself, several as a digest. `inbox` links to the tickets when given.
pub fn render(items: &[AgentNotification], agent_name: &str, inbox: Option<&str>) -> (String, String) {
    let link = |n: &AgentNotification| inbox.map(|base| format!("{}/tickets/{}", base.trim_end_matches('/'), n.ticket));
    let mut text = format!("Hello {},\n\n", one_line(agent_name, 100));
    let subject = match items {
        [n] => {
            let head = match n.kind {
                NotificationKind::Assigned => "Assigned to you",
                NotificationKind::CustomerReplied => "Customer replied",
                NotificationKind::SlaAtRisk => "SLA at risk",
                NotificationKind::SlaBreached => "SLA breached",
                NotificationKind::ReturnedUnanswered => "Back in the queue",
            };
            text.push_str(&line_of(n));
            text.push('\n');
            if let Some(e) = &n.excerpt {
                text.push_str(&format!("\n> {e}\n"));
            }
            if let Some(l) = link(n) {
                text.push_str(&format!("\n{l}\n"));
            }
            format!("[#{}] {head}: {}", n.ticket, one_line(&n.subject, 80))
        }
        many => {
            text.push_str(&format!("{} updates on your tickets:\n\n", many.len()));
            for n in many {
                text.push_str(&format!("- {}\n", line_of(n)));
                if let Some(l) = link(n) {
                    text.push_str(&format!("  {l}\n"));
                }
            }
            let mut tickets: Vec<TicketNumber> = many.iter().map(|n| n.ticket).collect();
            tickets.sort();
            tickets.dedup();
            format!("{} updates on {} of your tickets", many.len(), tickets.len())
        }
    };
    text.push_str("\n— Baton. Change what you are e-mailed about in your notification settings.\n");
    (subject, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_unix_millis(s * 1000).unwrap()
    }

    fn n(kind: NotificationKind, ticket: u64) -> AgentNotification {
        AgentNotification {
            id: format!("e{ticket}{kind:?}"),
            tenant_id: TenantId::new("demo").unwrap(),
            agent_id: AgentId::new("alex").unwrap(),
            kind,
            ticket: TicketNumber(ticket),
            subject: "Where is my\norder?".into(),
            customer: "Ana".into(),
            excerpt: (kind == NotificationKind::CustomerReplied).then(|| excerpt("Any news?\nIt's been a week.")),
            sla_target: None,
            due_at: None,
            happened_at: at(0),
        }
    }

    #[test]
    fn a_burst_inside_the_window_waits_for_its_end() {
        let fresh = NotifyState::default();
        assert_eq!(next_step(&fresh, false, at(10)), Step::Idle);
        assert_eq!(next_step(&fresh, true, at(10)), Step::Open);
        let sent = NotifyState {
            last_sent_at: Some(at(100)),
            ..Default::default()
        };
        assert_eq!(
            next_step(&sent, true, at(160)),
            Step::WaitUntil(at(100 + DIGEST_WINDOW_SECS))
        );
        assert_eq!(next_step(&sent, true, at(100 + DIGEST_WINDOW_SECS)), Step::Open);
        let open = NotifyState {
            open_digest: Some(at(100)),
            ..sent
        };
        assert_eq!(
            next_step(&open, false, at(101)),
            Step::Finish(at(100)),
            "an open digest is finished first"
        );
    }

    #[test]
    fn preferences_pick_what_is_sent() {
        let p = NotificationPrefs {
            customer_replied: false,
            ..Default::default()
        };
        assert!(p.wants(NotificationKind::Assigned));
        assert!(!p.wants(NotificationKind::CustomerReplied));
        let off = NotificationPrefs {
            email: false,
            ..Default::default()
        };
        assert!(!off.wants(NotificationKind::SlaBreached));
    }

    #[test]
    fn one_notification_reads_as_itself_several_as_a_digest() {
        let (subject, text) = render(
            &[n(NotificationKind::CustomerReplied, 7)],
            "Alex",
            Some("https://inbox.example/"),
        );
        assert_eq!(subject, "[#7] Customer replied: Where is my order?");
        assert!(text.contains("> Any news? It's been a week."), "{text}");
        assert!(text.contains("https://inbox.example/tickets/7"));
        let (subject, text) = render(
            &[
                n(NotificationKind::Assigned, 7),
                n(NotificationKind::CustomerReplied, 7),
                n(NotificationKind::SlaBreached, 9),
            ],
            "Alex",
            None,
        );
        assert_eq!(subject, "3 updates on 2 of your tickets");
        assert!(text.contains("- #7 Where is my order? — assigned to you"), "{text}");
        assert!(text.contains("- #9 Where is my order? — SLA target missed"), "{text}");
    }
}
