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
}
