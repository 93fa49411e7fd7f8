//! Baton's domain: the rules of a support inbox, with no AWS and no network.
//!
//! Everything here is plain data and pure functions, unit-tested without a cloud:
//! the ticket state machine, the shapes of tenants, customers, conversations,
//! tickets, agents and knowledge articles, and the ports (small traits) that the
//! AWS adapters in `baton-aws` implement.

pub mod analytics;
pub mod caps;
pub mod channels;
pub mod clarify;
pub mod clock;
pub mod clusters;
pub mod commerce;
pub mod connections;
pub mod conversation;
pub mod csat;
pub mod customer;
pub mod directory;
pub mod email;
pub mod error;
pub mod handoff;
pub mod human_request;
pub mod idempotency;
pub mod ids;
pub mod intake;
pub mod kb;
pub mod kb_cache;
pub mod kb_vectors;
pub mod mail_out;
pub mod meta;
pub mod meta_send;
pub mod notify;
pub mod outbound;
pub mod outbox;
pub mod ports;
pub mod quoted;
pub mod reports;
pub mod retrieval;
pub mod routing;
pub mod secrets;
pub mod ses_events;
pub mod signed;
pub mod sla;
pub mod tenant;
pub mod ticket;
pub mod ticket_query;
pub mod time_fmt;
pub mod triage;
pub mod widget;

pub use clock::{Clock, FixedClock, SystemClock};
pub use error::StoreError;
pub use ids::{AgentId, ArticleId, ConversationId, CustomerId, TeamId, TenantId, TicketNumber};
pub use time_fmt::Timestamp;

/// The channels customers reach Baton on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Channel {
    Whatsapp,
    Instagram,
    Email,
    Widget,
}

impl Channel {
    pub const ALL: [Channel; 4] = [Channel::Whatsapp, Channel::Instagram, Channel::Email, Channel::Widget];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Whatsapp => "whatsapp",
            Channel::Instagram => "instagram",
            Channel::Email => "email",
            Channel::Widget => "widget",
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Channel {
    type Err = ids::InvalidId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| ids::InvalidId {
                kind: "channel",
                value: s.to_owned(),
                reason: "unknown channel",
            })
    }
}
