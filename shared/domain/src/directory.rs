//! Agents and teams.

use crate::{AgentId, TeamId, TenantId, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    Admin,
    Agent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Presence {
    Online,
    Away,
    Offline,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    pub tenant_id: TenantId,
    pub id: AgentId,
    pub name: String,
    pub email: String,
    pub role: Role,
    // The agent's teams are the teams that list them as a member (`Team::members`, the
    // one place membership is kept).
    pub skills: Vec<String>,
    pub max_open: u32,
    /// Tickets assigned and not yet resolved; changed only by conditional ADD.
    pub open_count: u32,
    pub presence: Presence,
    pub created_at: Timestamp,
    /// A deactivated agent keeps their history but is refused on their next request.
    #[serde(default = "active_by_default")]
    pub active: bool,
    /// What the agent is e-mailed about.
    #[serde(default)]
    pub notifications: crate::notify::NotificationPrefs,
    /// When the agent was last given a ticket (balanced routing favours the longest
    /// waiting); set by the assignment's own write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_assigned_at: Option<Timestamp>,
}

fn active_by_default() -> bool {
    true
}

impl Agent {
    /// A new, active, online agent with the default capacity, named after the local part
    /// of their e-mail address.
    pub fn new(tenant: TenantId, id: AgentId, email: &str, role: Role, now: Timestamp) -> Self {
        let name = email.split('@').next().filter(|n| !n.is_empty()).unwrap_or(id.as_str());
        Agent {
            tenant_id: tenant,
            name: name.to_owned(),
            id,
            email: email.to_owned(),
            role,
            skills: vec![],
            max_open: 10,
            open_count: 0,
            presence: Presence::Online,
            created_at: now,
            active: true,
            notifications: Default::default(),
            last_assigned_at: None,
        }
    }

    /// Below `max_open` active tickets (those waiting on the customer do not count).
    pub fn has_capacity(&self) -> bool {
        self.open_count < self.max_open
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RoutingStrategy {
    /// In the team's order, after whoever got the last ticket (a durable rotation).
    RoundRobin,
    /// Fewest open tickets (not counting those waiting on the customer), ties to whoever
    /// has waited longest since their last assignment.
    #[serde(alias = "least_busy")]
    Balanced,
    /// Nobody is chosen: tickets wait in the team's queue for the first agent who asks
    /// (`POST /v1/tickets/next`).
    FirstAvailable,
}

impl RoutingStrategy {
    pub const ALL: [RoutingStrategy; 3] = [
        RoutingStrategy::RoundRobin,
        RoutingStrategy::Balanced,
        RoutingStrategy::FirstAvailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RoutingStrategy::RoundRobin => "round_robin",
            RoutingStrategy::Balanced => "balanced",
            RoutingStrategy::FirstAvailable => "first_available",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Team {
    pub tenant_id: TenantId,
    pub id: TeamId,
    pub name: String,
    pub members: Vec<AgentId>,
    pub strategy: RoutingStrategy,
    pub created_at: Timestamp,
    /// Told of SLA warnings and breaches on the team's tickets, besides the assignee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<AgentId>,
    /// A ticket the router assigns goes back to the queue if no human has replied this
    /// many minutes (calendar time) after the assignment; the router then passes over
    /// the agent who let it go while anyone else can take it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_unanswered_after_minutes: Option<u32>,
    /// Counts the team's changes: a write names the version it read (0 for a team stored
    /// before teams had versions), and a change made meanwhile refuses it.
    #[serde(default)]
    pub version: u64,
}
