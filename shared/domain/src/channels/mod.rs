//! Channel payloads, parsed into one shape. Pure: no lookups, no network. The webhook
//! functions resolve tenants, customers and conversations around these.

pub mod instagram;
pub mod whatsapp;

use crate::conversation::{Attachment, DeliveryStatus};
use crate::{Channel, Timestamp};
use serde::{Deserialize, Serialize};

/// What kind of content a customer sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentKind {
    Text,
    Media,
    Location,
    /// A tap on an interactive button or list row, or an Instagram quick reply.
    InteractiveReply,
    /// A tap on a template quick-reply button.
    ButtonReply,
    Reaction,
    Email,
    Other,
}

/// One message a customer sent, as the channel described it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelMessage {
    pub channel: Channel,
    /// The business endpoint it was sent to (WhatsApp phone_number_id, Instagram account
    /// id): selects the tenant.
    pub account_id: String,
    /// The channel's id for the customer (wa_id, Instagram-scoped id).
    pub sender_id: String,
    pub sender_name: Option<String>,
    pub channel_message_id: String,
    pub kind: ContentKind,
    /// Text as the agent should read it (captions, button titles, a location's name).
    pub text: String,
    pub attachments: Vec<Attachment>,
    /// The channel message id this one replies to, if any.
    pub reply_to: Option<String>,
    pub sent_at: Option<Timestamp>,
}

/// A delivery report for a message Baton sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    pub channel: Channel,
    pub account_id: String,
    pub channel_message_id: String,
    pub status: DeliveryStatus,
    /// A failure's code (WhatsApp `errors[0].code`) and title, as Meta gave them.
    pub error_code: Option<i64>,
    pub error: Option<String>,
}

/// Everything one webhook delivery carried. `ignored` lists what was not for us
/// (echoes, deletions, unsupported fields), with the reason, for the logs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WebhookBatch {
    pub messages: Vec<ChannelMessage>,
    pub statuses: Vec<StatusUpdate>,
    pub ignored: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("body is not valid JSON for this webhook: {0}")]
    InvalidJson(String),
    #[error("unexpected object type {0:?}")]
    UnknownObject(String),
}

/// Meta sends seconds since the epoch as a string (WhatsApp) or milliseconds as a number
/// (Instagram).
pub(crate) fn from_unix_seconds_text(s: &str) -> Option<Timestamp> {
    s.parse::<i64>()
        .ok()
        .and_then(|secs| Timestamp::from_unix_millis(secs.checked_mul(1000)?))
}
