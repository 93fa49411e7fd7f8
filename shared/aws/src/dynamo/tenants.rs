use super::{attr, from_item, keys, put_new_in_transaction, to_item, DynamoStore, TransactFailure};
use async_trait::async_trait;
use baton_domain::ports::TenantStore;
use baton_domain::tenant::{AiSettings, ChannelBinding, Tenant};
use baton_domain::{Channel, StoreError, TenantId};

const TENANT: &str = "tenant";
const BINDING: &str = "channel_binding";

#[async_trait]
impl TenantStore for DynamoStore {
    async fn create_tenant(&self, tenant: &Tenant, bindings: &[ChannelBinding]) -> Result<(), StoreError> {
        let mut items = vec![put_new_in_transaction(
            &self.table,
            to_item(TENANT, keys::tenant(&tenant.id), tenant)?,
        )?];
        for b in bindings {
            if b.tenant_id != tenant.id {
                return Err(StoreError::Invalid {
                    field: "bindings",
                    reason: "binding for another tenant".into(),
                });
            }
            items.push(put_new_in_transaction(
                &self.table,
                to_item(BINDING, keys::channel(b.channel, &b.external_id), b)?,
            )?);
        }
        match self.transact("create tenant", items).await {
            Ok(()) => Ok(()),
            Err(f @ TransactFailure::Conditions(_)) => {
                let entity = if f.failed_at(0) { TENANT } else { BINDING };
                Err(StoreError::AlreadyExists { entity })
            }
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    async fn get_tenant(&self, id: &TenantId) -> Result<Tenant, StoreError> {
        self.get_as(TENANT, keys::tenant(id)).await
    }

    async fn update_ai_settings(&self, id: &TenantId, ai: &AiSettings) -> Result<(), StoreError> {
        self.set_on_existing(TENANT, keys::tenant(id), vec![("ai", attr(ai)?)])
            .await
    }

    async fn set_quotas(&self, id: &TenantId, quotas: &baton_domain::tenant::Quotas) -> Result<(), StoreError> {
        self.set_on_existing(TENANT, keys::tenant(id), vec![("quotas", attr(quotas)?)])
            .await
    }

    async fn set_sending_settings(
        &self,
        id: &TenantId,
        whatsapp: &baton_domain::tenant::WhatsAppSettings,
        instagram: &baton_domain::tenant::InstagramSettings,
    ) -> Result<(), StoreError> {
        self.set_within(
            TENANT,
            keys::tenant(id),
            &[super::PathPart::Attr("channels")],
            vec![("whatsapp", attr(whatsapp)?), ("instagram", attr(instagram)?)],
        )
        .await
    }

    async fn set_channel_health(
        &self,
        id: &TenantId,
        channel: Channel,
        health: &baton_domain::tenant::ChannelHealth,
    ) -> Result<(), StoreError> {
        // One attribute per channel, so two senders recording two channels never undo
        // each other.
        let name = match channel {
            Channel::Whatsapp => "whatsapp_health",
            Channel::Instagram => "instagram_health",
            other => {
                return Err(StoreError::Invalid {
                    field: "channel",
                    reason: format!("{other} has no connection health"),
                })
            }
        };
        self.set_on_existing(TENANT, keys::tenant(id), vec![(name, attr(health)?)])
            .await
    }

    async fn resolve_channel(&self, channel: Channel, external_id: &str) -> Result<Option<ChannelBinding>, StoreError> {
        match self.get(BINDING, keys::channel(channel, external_id)).await? {
            Some(item) => Ok(Some(from_item(BINDING, item)?)),
            None => Ok(None),
        }
    }
}
