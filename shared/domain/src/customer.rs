//! Customers and the identities they write from.

use crate::{Channel, ConversationId, CustomerId, TenantId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    pub tenant_id: TenantId,
    pub id: CustomerId,
    pub name: Option<String>,
    pub email: Option<String>,
    /// One entry per channel identity this customer has written from.
    pub identities: Vec<IdentityRef>,
    /// Free-form attributes (`vip: "true"`, plan, locale…) used by rules.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    pub created_at: Timestamp,
    /// Addresses mail can no longer go to (a hard bounce, a spam complaint): shown to
    /// agents, and no reply is sent to them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub undeliverable: Vec<Undeliverable>,
}

/// Why mail to one of a customer's addresses is not sent any more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Undeliverable {
    pub address: String,
    /// `bounced` or `complaint`.
    pub kind: String,
    pub reason: String,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdentityRef {
    pub channel: Channel,
    /// The channel's id for the person: a WhatsApp `wa_id`, an Instagram-scoped id, an
    /// email address (lower-cased), a widget visitor id.
    pub external_id: String,
}

/// The identity item: finds the customer, and the conversation that is active, from a
/// channel's id for the person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub tenant_id: TenantId,
    pub channel: Channel,
    pub external_id: String,
    pub customer_id: CustomerId,
    pub display_name: Option<String>,
    /// Absent (not null) when there is none: the claim is `attribute_not_exists`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_conversation: Option<ConversationId>,
}

impl Customer {
    pub fn is_vip(&self) -> bool {
        self.attributes.get("vip").is_some_and(|v| v == "true")
    }

    /// Why mail to `address` is not sent, if it is not.
    pub fn undeliverable(&self, address: &str) -> Option<&Undeliverable> {
        self.undeliverable
            .iter()
            .find(|u| u.address.eq_ignore_ascii_case(address))
    }
}

/// Identities of e-mail senders whose domain did not vouch for them are filed under this
/// prefix, apart from the customer who owns the address (see `baton_app::intake`).
pub const UNVERIFIED_PREFIX: &str = "unverified:";

/// Where to reach an identity on its channel: its id, without the unverified prefix.
pub fn reach(external_id: &str) -> &str {
    external_id.strip_prefix(UNVERIFIED_PREFIX).unwrap_or(external_id)
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unverified_identity_is_reached_at_its_address() {
        assert_eq!(super::reach("unverified:ann@example.com"), "ann@example.com");
        assert_eq!(super::reach("ann@example.com"), "ann@example.com");
        assert_eq!(super::reach("31612345678"), "31612345678");
    }
}
