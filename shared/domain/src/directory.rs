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
    pub teams: Vec<TeamId>,
    pub skills: Vec<String>,
    pub max_open: u32,
    /// Tickets assigned and not yet resolved; changed only by conditional ADD.
    pub open_count: u32,
    pub presence: Presence,
    pub created_at: Timestamp,
    /// A deactivated agent keeps their history but is refused on their next request.
    #[serde(default = "active_by_default")]
    pub active: bool,
}

fn active_by_default() -> bool {
    true
}

impl Agent {
    pub fn has_capacity(&self) -> bool {
        self.open_count < self.max_open
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RoutingStrategy {
    RoundRobin,
    LeastBusy,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Team {
    pub tenant_id: TenantId,
    pub id: TeamId,
    pub name: String,
    pub members: Vec<AgentId>,
    pub strategy: RoutingStrategy,
    pub created_at: Timestamp,
}
