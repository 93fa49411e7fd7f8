//! Connecting a tenant's channels: what an admin asks for, checked, and the one change
//! the store applies in a single transaction (the tenant's `channels`, the lookup items
//! that send each endpoint's traffic to the tenant, and the channel's sealed token), so
//! no endpoint ever has two tenants and no token outlives its connection.

use crate::meta_send::WhatsAppTemplate;
use crate::secrets::SealedSecret;
use crate::tenant::{
    ChannelBinding, EmailFrom, InstagramSettings, Tenant, TenantChannels, WhatsAppSettings, WidgetSettings,
};
use crate::{Channel, TenantId};

/// What an admin connects (already validated by the API).
#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    Whatsapp {
        phone_number_ids: Vec<String>,
        business_account_id: String,
        outside_window_template: Option<WhatsAppTemplate>,
    },
    Instagram {
        account_id: String,
        human_agent_allowed: bool,
    },
    Email {
        slug: String,
        from: Option<EmailFrom>,
    },
    Widget {
        /// The key to use: the current one, or a fresh one when rotating or creating.
        key: String,
        allowed_origins: Vec<String>,
    },
}

impl Connection {
    pub fn channel(&self) -> Channel {
        match self {
            Connection::Whatsapp { .. } => Channel::Whatsapp,
            Connection::Instagram { .. } => Channel::Instagram,
            Connection::Email { .. } => Channel::Email,
            Connection::Widget { .. } => Channel::Widget,
        }
    }
}

/// What happens to a channel's stored token.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretChange {
    Set(SealedSecret),
    Remove,
}

/// One transaction's worth of change to a tenant's channels.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelChange {
    pub tenant: TenantId,
    /// The `channels_revision` the change was computed from: a concurrent change wins and
    /// this one is refused as a conflict.
    pub expected_revision: u64,
    pub channels: TenantChannels,
    /// Endpoints to claim for the tenant (free, or the change fails).
    pub bind: Vec<ChannelBinding>,
    /// Endpoints the tenant gives up.
    pub unbind: Vec<(Channel, String)>,
    pub secret: Option<(Channel, SecretChange)>,
    /// A new token: the channel's health starts afresh (connected) until a send says
    /// otherwise.
    pub reset_health: Option<Channel>,
}

impl ChannelChange {
    /// The tenant as it is once this change is stored.
    pub fn applied_to(&self, tenant: &Tenant) -> Tenant {
        let mut after = tenant.clone();
        after.channels = self.channels.clone();
        after.channels_revision = self.expected_revision + 1;
        if let Some(slot) = self.reset_health.and_then(|c| after.channel_health_slot(c)) {
            *slot = Some(Default::default());
        }
        after
    }
}

/// The endpoints of `channel` in `channels`.
pub fn endpoints(channels: &TenantChannels, channel: Channel) -> Vec<String> {
    match channel {
        Channel::Whatsapp => channels.whatsapp_phone_number_ids.clone(),
        Channel::Instagram => channels.instagram_account_ids.clone(),
        Channel::Email => channels.email_slug.iter().cloned().collect(),
        Channel::Widget => channels.widget.iter().map(|w| w.key.clone()).collect(),
    }
}

fn change_for(tenant: &Tenant, channel: Channel, channels: TenantChannels) -> ChannelChange {
    let before = endpoints(&tenant.channels, channel);
    let after = endpoints(&channels, channel);
    ChannelChange {
        tenant: tenant.id.clone(),
        expected_revision: tenant.channels_revision,
        bind: after
            .iter()
            .filter(|e| !before.contains(e))
            .map(|e| ChannelBinding {
                channel,
                external_id: e.clone(),
                tenant_id: tenant.id.clone(),
            })
            .collect(),
        unbind: before
            .iter()
            .filter(|e| !after.contains(e))
            .map(|e| (channel, e.clone()))
            .collect(),
        channels,
        secret: None,
        reset_health: None,
    }
}

/// Connects (or reconfigures) one channel. `token`, when given, replaces the channel's
/// stored token; without it the stored one is kept.
pub fn connect(tenant: &Tenant, connection: Connection, token: Option<SealedSecret>) -> ChannelChange {
    let channel = connection.channel();
    let mut channels = tenant.channels.clone();
    let token_at = token.as_ref().map(|t| t.sealed_at);
    match connection {
        Connection::Whatsapp {
            phone_number_ids,
            business_account_id,
            outside_window_template,
        } => {
            let before = channels.whatsapp.take().unwrap_or_default();
            channels.whatsapp_phone_number_ids = phone_number_ids;
            channels.whatsapp = Some(WhatsAppSettings {
                outside_window_template,
                business_account_id: Some(business_account_id),
                token_updated_at: token_at.or(before.token_updated_at),
            });
        }
        Connection::Instagram {
            account_id,
            human_agent_allowed,
        } => {
            let before = channels.instagram.take().unwrap_or_default();
            channels.instagram_account_ids = vec![account_id];
            channels.instagram = Some(InstagramSettings {
                human_agent_allowed,
                token_updated_at: token_at.or(before.token_updated_at),
            });
        }
        Connection::Email { slug, from } => {
            channels.email_slug = Some(slug);
            channels.email_from = from;
        }
        Connection::Widget { key, allowed_origins } => {
            channels.widget = Some(WidgetSettings { key, allowed_origins });
        }
    }
    let mut change = change_for(tenant, channel, channels);
    if let Some(sealed) = token {
        change.secret = Some((channel, SecretChange::Set(sealed)));
        change.reset_health = Some(channel);
    }
    change
}

/// Disconnects one channel: its endpoints are released (their traffic no longer reaches
/// the tenant), its settings and stored token removed.
pub fn disconnect(tenant: &Tenant, channel: Channel) -> ChannelChange {
    let mut channels = tenant.channels.clone();
    let secret = match channel {
        Channel::Whatsapp => {
            channels.whatsapp_phone_number_ids.clear();
            channels.whatsapp = None;
            Some((channel, SecretChange::Remove))
        }
        Channel::Instagram => {
            channels.instagram_account_ids.clear();
            channels.instagram = None;
            Some((channel, SecretChange::Remove))
        }
        Channel::Email => {
            channels.email_slug = None;
            channels.email_from = None;
            None
        }
        Channel::Widget => {
            channels.widget = None;
            None
        }
    };
    ChannelChange {
        secret,
        ..change_for(tenant, channel, channels)
    }
}

/// Whether `channel` holds a token of its own (sealed in the table).
pub fn has_stored_token(channels: &TenantChannels, channel: Channel) -> bool {
    match channel {
        Channel::Whatsapp => channels.whatsapp.as_ref().is_some_and(|w| w.token_updated_at.is_some()),
        Channel::Instagram => channels
            .instagram
            .as_ref()
            .is_some_and(|i| i.token_updated_at.is_some()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;

    fn tenant() -> Tenant {
        Tenant {
            id: TenantId::new("acme").unwrap(),
            name: "Acme".into(),
            channels: TenantChannels {
                whatsapp_phone_number_ids: vec!["111".into(), "222".into()],
                email_slug: Some("acme".into()),
                widget: Some(WidgetSettings {
                    key: "wk_old".into(),
                    allowed_origins: vec!["https://acme.example".into()],
                }),
                ..Default::default()
            },
            ai: Default::default(),
            created_at: Timestamp::from_unix_millis(0).unwrap(),
            kb_revision: 0,
            kb_vectors_revision: 0,
            quotas: Default::default(),
            whatsapp_health: None,
            instagram_health: None,
            channels_revision: 4,
            routing: Default::default(),
            sla: Default::default(),
            shop: None,
            time_zone: "UTC".into(),
            reports: Default::default(),
        }
    }

    fn sealed() -> SealedSecret {
        SealedSecret {
            key_id: "k".into(),
            wrapped_key: "w".into(),
            nonce: "n".into(),
            ciphertext: "c".into(),
            sealed_at: Timestamp::from_unix_millis(5_000).unwrap(),
        }
    }

    #[test]
    fn connecting_claims_new_endpoints_and_releases_dropped_ones() {
        let t = tenant();
        let c = connect(
            &t,
            Connection::Whatsapp {
                phone_number_ids: vec!["222".into(), "333".into()],
                business_account_id: "900".into(),
                outside_window_template: None,
            },
            Some(sealed()),
        );
        assert_eq!(c.expected_revision, 4);
        assert_eq!(c.bind.len(), 1);
        assert_eq!(c.bind[0].external_id, "333");
        assert_eq!(c.unbind, vec![(Channel::Whatsapp, "111".to_owned())]);
        assert_eq!(c.channels.whatsapp_phone_number_ids, ["222", "333"]);
        let w = c.channels.whatsapp.as_ref().unwrap();
        assert_eq!(w.business_account_id.as_deref(), Some("900"));
        assert_eq!(w.token_updated_at, Some(sealed().sealed_at));
        assert!(matches!(c.secret, Some((Channel::Whatsapp, SecretChange::Set(_)))));
        assert_eq!(c.reset_health, Some(Channel::Whatsapp));
        let after = c.applied_to(&Tenant {
            whatsapp_health: Some(crate::tenant::ChannelHealth {
                disconnected: true,
                ..Default::default()
            }),
            ..t.clone()
        });
        assert_eq!(after.channels_revision, 5);
        assert_eq!(after.whatsapp_health, Some(Default::default()), "connected afresh");
        assert_eq!(after.channels, c.channels);
        // Nothing else of the tenant's channels moved.
        assert_eq!(c.channels.email_slug.as_deref(), Some("acme"));
    }

    #[test]
    fn reconfiguring_without_a_token_keeps_the_stored_one() {
        let mut t = tenant();
        t.channels.whatsapp = Some(WhatsAppSettings {
            token_updated_at: Some(sealed().sealed_at),
            ..Default::default()
        });
        let c = connect(
            &t,
            Connection::Whatsapp {
                phone_number_ids: vec!["111".into(), "222".into()],
                business_account_id: "900".into(),
                outside_window_template: None,
            },
            None,
        );
        assert!(c.bind.is_empty() && c.unbind.is_empty() && c.secret.is_none() && c.reset_health.is_none());
        assert!(has_stored_token(&c.channels, Channel::Whatsapp));
    }

    #[test]
    fn rotating_the_widget_key_swaps_its_lookup_item() {
        let t = tenant();
        let c = connect(
            &t,
            Connection::Widget {
                key: "wk_new".into(),
                allowed_origins: vec!["https://acme.example".into()],
            },
            None,
        );
        assert_eq!(c.bind[0].external_id, "wk_new");
        assert_eq!(c.unbind, vec![(Channel::Widget, "wk_old".to_owned())]);
    }

    #[test]
    fn disconnecting_releases_every_endpoint_and_the_token() {
        let t = tenant();
        let c = disconnect(&t, Channel::Whatsapp);
        assert!(c.bind.is_empty());
        assert_eq!(c.unbind.len(), 2);
        assert!(c.channels.whatsapp_phone_number_ids.is_empty());
        assert_eq!(c.secret, Some((Channel::Whatsapp, SecretChange::Remove)));
        let e = disconnect(&t, Channel::Email);
        assert_eq!(e.unbind, vec![(Channel::Email, "acme".to_owned())]);
        assert!(e.secret.is_none());
    }
}
