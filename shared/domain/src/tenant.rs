//! Tenants and how their channels map to them.

use crate::{Channel, TenantId, Timestamp};
use serde::{Deserialize, Serialize};

/// A tenant's configuration: one item, read on most requests, so it stays small.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    /// Channel endpoints that belong to this tenant.
    #[serde(default)]
    pub channels: TenantChannels,
    #[serde(default)]
    pub ai: AiSettings,
    pub created_at: Timestamp,
    /// Bumped on every change of the knowledge base's articles so warm caches know to
    /// reload.
    #[serde(default)]
    pub kb_revision: u64,
    /// Bumped when the KB indexer has stored passage vectors: warm caches holding articles
    /// that rank by words (or by a previous model) reload, at most every few seconds.
    #[serde(default)]
    pub kb_vectors_revision: u64,
    #[serde(default)]
    pub quotas: Quotas,
    /// The WhatsApp connection's health, as the channel sender last saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp_health: Option<ChannelHealth>,
    /// The Instagram connection's health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instagram_health: Option<ChannelHealth>,
    /// Bumped by every change of the channel connections, which are guarded by it.
    #[serde(default)]
    pub channels_revision: u64,
    /// Routing rules and the default team.
    #[serde(default)]
    pub routing: crate::routing::RoutingSettings,
    /// SLA policies and business-hours calendars.
    #[serde(default)]
    pub sla: crate::sla::SlaSettings,
    /// The connected shop, whose orders the AI answers from and tickets show (its
    /// credential is sealed apart, like the channel tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop: Option<crate::commerce::ShopSettings>,
    /// The IANA time zone the tenant's reports count days in (`Europe/Berlin`); an event
    /// counts on the local day it happened on in the zone set at the time.
    #[serde(default = "utc")]
    pub time_zone: String,
    /// How reports count (`docs/analytics.md`).
    #[serde(default)]
    pub reports: ReportSettings,
}

/// How the tenant's reports count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct ReportSettings {
    /// An AI answer counts as a resolution when the customer neither asks for a person
    /// nor writes again within this many hours of it (Intercom's definition for Fin).
    pub ai_resolution_window_hours: u32,
    /// The satisfaction surveys: where, when and what they ask.
    pub survey: crate::csat::SurveySettings,
}

impl Default for ReportSettings {
    fn default() -> Self {
        ReportSettings {
            ai_resolution_window_hours: 24,
            survey: crate::csat::SurveySettings::default(),
        }
    }
}

impl ReportSettings {
    /// The longest window accepted: a week.
    pub const MAX_WINDOW_HOURS: u32 = 168;
}

fn utc() -> String {
    "UTC".to_owned()
}

impl Tenant {
    pub fn channel_health(&self, channel: Channel) -> Option<&ChannelHealth> {
        match channel {
            Channel::Whatsapp => self.whatsapp_health.as_ref(),
            Channel::Instagram => self.instagram_health.as_ref(),
            _ => None,
        }
    }

    /// Where the channel's connection health is kept (WhatsApp and Instagram only).
    pub fn channel_health_slot(&mut self, channel: Channel) -> Option<&mut Option<ChannelHealth>> {
        match channel {
            Channel::Whatsapp => Some(&mut self.whatsapp_health),
            Channel::Instagram => Some(&mut self.instagram_health),
            _ => None,
        }
    }
}

/// Per-tenant limits. Past the knowledge-base limits a write is refused with a clear
/// error; past the AI limits a message is handed to a human (reason `ai_quota`), never
/// dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Quotas {
    pub kb_articles: u32,
    /// Title and body bytes of all articles together.
    pub kb_bytes: u64,
    /// Customer messages the AI may handle per minute, across all channels.
    pub ai_messages_per_minute: u32,
    /// … and per day (UTC).
    pub ai_messages_per_day: u32,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            kb_articles: 2_000,
            kb_bytes: 5 * 1024 * 1024,
            ai_messages_per_minute: 120,
            ai_messages_per_day: 20_000,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TenantChannels {
    pub whatsapp_phone_number_ids: Vec<String>,
    pub instagram_account_ids: Vec<String>,
    /// `support+{slug}@…` selects this tenant for inbound email.
    pub email_slug: Option<String>,
    pub widget: Option<WidgetSettings>,
    /// Who the tenant's e-mail comes from; unset, the sender's configured address with
    /// the tenant's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_from: Option<EmailFrom>,
    /// WhatsApp sending settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub whatsapp: Option<WhatsAppSettings>,
    /// Instagram sending settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instagram: Option<InstagramSettings>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WhatsAppSettings {
    /// The approved template a reply goes as when the customer-service window is closed;
    /// without one such a reply is marked for follow-up on another channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outside_window_template: Option<crate::meta_send::WhatsAppTemplate>,
    /// The WhatsApp Business Account the numbers belong to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_account_id: Option<String>,
    /// When the connection's access token was last stored (sealed, apart from this item).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_updated_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstagramSettings {
    /// The tenant's app has Meta's Human Agent permission: a person may answer for 7 days
    /// after the customer's last message (`HUMAN_AGENT` tag).
    #[serde(default)]
    pub human_agent_allowed: bool,
    /// When the connection's access token was last stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_updated_at: Option<Timestamp>,
}

/// How a channel connection is doing, as the senders last saw it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelHealth {
    /// Meta refused the token or a permission: nothing is sent until it is reconnected;
    /// replies wait (parked) meanwhile.
    pub disconnected: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailFrom {
    /// An address of a domain verified in SES; unset, the sender's configured address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WidgetSettings {
    pub key: String,
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AiSettings {
    /// Instructions and tone for the model.
    pub persona: String,
    /// Answers below this confidence go to a human.
    pub confidence_threshold: f64,
    /// Topics that always go to a human (refund exceptions, legal, account closure…).
    pub always_human_topics: Vec<String>,
}

impl Default for AiSettings {
    fn default() -> Self {
        AiSettings {
            persona: "You are a friendly, concise support assistant. Answer only from the knowledge base.".to_owned(),
            confidence_threshold: 0.6,
            always_human_topics: [
                "refund exception",
                "legal",
                "lawyer",
                "lawsuit",
                "account closure",
                "close my account",
                "delete my account",
                "chargeback",
            ]
            .into_iter()
            .map(str::to_owned)
            .collect(),
        }
    }
}

/// Which tenant an external channel endpoint (a WhatsApp number, an Instagram account,
/// an email slug, a widget key) belongs to. Stored as its own item so a webhook resolves
/// its tenant with one GetItem and no two tenants can claim the same endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelBinding {
    pub channel: Channel,
    pub external_id: String,
    pub tenant_id: TenantId,
}
