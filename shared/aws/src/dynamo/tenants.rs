use super::{
    attr, backend_build, from_item, keys, n, put_new_in_transaction, s, to_item, DynamoStore, TransactFailure,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};
use baton_domain::connections::{ChannelChange, SecretChange};
use baton_domain::ports::TenantStore;
use baton_domain::secrets::SealedSecret;
use baton_domain::tenant::{AiSettings, ChannelBinding, ChannelHealth, Tenant};
use baton_domain::{Channel, StoreError, TenantId};
use serde::{Deserialize, Serialize};

const TENANT: &str = "tenant";
const BINDING: &str = "channel_binding";
const SECRET: &str = "channel_secret";

/// The channel secret item: whose it is, and the sealed token.
#[derive(Serialize, Deserialize)]
struct SecretItem {
    tenant_id: TenantId,
    channel: Channel,
    sealed: SealedSecret,
}

/// The shop secret item: whose it is, and the sealed credential.
#[derive(Serialize, Deserialize)]
struct ShopSecretItem {
    tenant_id: TenantId,
    sealed: SealedSecret,
}

fn health_attribute(channel: Channel) -> Result<&'static str, StoreError> {
    match channel {
        Channel::Whatsapp => Ok("whatsapp_health"),
        Channel::Instagram => Ok("instagram_health"),
        other => Err(StoreError::Invalid {
            field: "channel",
            reason: format!("{other} has no connection health"),
        }),
    }
}

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

    async fn set_routing(
        &self,
        id: &TenantId,
        routing: &baton_domain::routing::RoutingSettings,
    ) -> Result<(), StoreError> {
        self.set_on_existing(TENANT, keys::tenant(id), vec![("routing", attr(routing)?)])
            .await
    }

    async fn set_sla(&self, id: &TenantId, sla: &baton_domain::sla::SlaSettings) -> Result<(), StoreError> {
        self.set_on_existing(TENANT, keys::tenant(id), vec![("sla", attr(sla)?)])
            .await
    }

    async fn set_report_settings(
        &self,
        id: &TenantId,
        time_zone: &str,
        reports: &baton_domain::tenant::ReportSettings,
    ) -> Result<(), StoreError> {
        self.set_on_existing(
            TENANT,
            keys::tenant(id),
            vec![("time_zone", attr(time_zone)?), ("reports", attr(reports)?)],
        )
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
        let name = health_attribute(channel)?;
        self.set_on_existing(TENANT, keys::tenant(id), vec![(name, attr(health)?)])
            .await
    }

    async fn change_channels(&self, change: &ChannelChange) -> Result<(), StoreError> {
        let key = keys::tenant(&change.tenant);
        // Items written before the revision existed are revision 0.
        let condition = if change.expected_revision == 0 {
            "attribute_exists(PK) AND (attribute_not_exists(channels_revision) OR channels_revision = :expected)"
        } else {
            "channels_revision = :expected"
        };
        let mut set = "channels = :channels, channels_revision = :next".to_owned();
        let mut update = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(key.pk))
            .key(keys::SK, s(key.sk))
            .condition_expression(condition)
            .expression_attribute_values(":channels", attr(&change.channels)?)
            .expression_attribute_values(":expected", n(change.expected_revision))
            .expression_attribute_values(":next", n(change.expected_revision + 1));
        if let Some(channel) = change.reset_health {
            set.push_str(&format!(", {} = :health", health_attribute(channel)?));
            update = update.expression_attribute_values(":health", attr(&ChannelHealth::default())?);
        }
        let update = update
            .update_expression(format!("SET {set}"))
            .build()
            .map_err(backend_build)?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        for b in &change.bind {
            if b.tenant_id != change.tenant {
                return Err(StoreError::Invalid {
                    field: "bind",
                    reason: "binding for another tenant".into(),
                });
            }
            items.push(put_new_in_transaction(
                &self.table,
                to_item(BINDING, keys::channel(b.channel, &b.external_id), b)?,
            )?);
        }
        let bound = items.len();
        for (channel, external_id) in &change.unbind {
            let key = keys::channel(*channel, external_id);
            let delete = Delete::builder()
                .table_name(&self.table)
                .key(keys::PK, s(key.pk))
                .key(keys::SK, s(key.sk))
                .condition_expression("attribute_not_exists(PK) OR tenant_id = :tenant")
                .expression_attribute_values(":tenant", s(change.tenant.as_str()))
                .build()
                .map_err(backend_build)?;
            items.push(TransactWriteItem::builder().delete(delete).build());
        }
        if let Some((channel, secret)) = &change.secret {
            let key = keys::channel_secret(&change.tenant, *channel);
            items.push(match secret {
                SecretChange::Set(sealed) => {
                    let item = SecretItem {
                        tenant_id: change.tenant.clone(),
                        channel: *channel,
                        sealed: sealed.clone(),
                    };
                    let put = Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(to_item(SECRET, key, &item)?))
                        .build()
                        .map_err(backend_build)?;
                    TransactWriteItem::builder().put(put).build()
                }
                SecretChange::Remove => {
                    let delete = Delete::builder()
                        .table_name(&self.table)
                        .key(keys::PK, s(key.pk))
                        .key(keys::SK, s(key.sk))
                        .build()
                        .map_err(backend_build)?;
                    TransactWriteItem::builder().delete(delete).build()
                }
            });
        }
        match self.transact("change channels", items).await {
            Ok(()) => Ok(()),
            Err(f @ TransactFailure::Conditions(_)) if f.failed_at(0) => Err(StoreError::Conflict {
                entity: TENANT,
                current_version: None,
            }),
            Err(f @ TransactFailure::Conditions(_)) if (1..bound).any(|i| f.failed_at(i)) => {
                Err(StoreError::AlreadyExists { entity: BINDING })
            }
            Err(TransactFailure::Conditions(_)) => Err(StoreError::Conflict {
                entity: BINDING,
                current_version: None,
            }),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    async fn get_channel_secret(&self, id: &TenantId, channel: Channel) -> Result<Option<SealedSecret>, StoreError> {
        match self.get(SECRET, keys::channel_secret(id, channel)).await? {
            Some(item) => {
                let item: SecretItem = from_item(SECRET, item)?;
                Ok(Some(item.sealed))
            }
            None => Ok(None),
        }
    }

    async fn change_shop(
        &self,
        id: &TenantId,
        shop: Option<(&baton_domain::commerce::ShopSettings, &SealedSecret)>,
    ) -> Result<(), StoreError> {
        let key = keys::tenant(id);
        let secret_key = keys::shop_secret(id);
        let update = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(key.pk))
            .key(keys::SK, s(key.sk))
            .condition_expression("attribute_exists(PK)");
        let (update, secret) = match shop {
            Some((settings, sealed)) => {
                let item = ShopSecretItem {
                    tenant_id: id.clone(),
                    sealed: sealed.clone(),
                };
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(to_item(SECRET, secret_key, &item)?))
                    .build()
                    .map_err(backend_build)?;
                (
                    update
                        .update_expression("SET shop = :shop")
                        .expression_attribute_values(":shop", attr(settings)?),
                    TransactWriteItem::builder().put(put).build(),
                )
            }
            None => {
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .key(keys::PK, s(secret_key.pk))
                    .key(keys::SK, s(secret_key.sk))
                    .build()
                    .map_err(backend_build)?;
                (
                    update.update_expression("REMOVE shop"),
                    TransactWriteItem::builder().delete(delete).build(),
                )
            }
        };
        let update = update.build().map_err(backend_build)?;
        let items = vec![TransactWriteItem::builder().update(update).build(), secret];
        match self.transact("change shop", items).await {
            Ok(()) => Ok(()),
            Err(TransactFailure::Conditions(_)) => Err(StoreError::NotFound { entity: TENANT }),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    async fn get_shop_secret(&self, id: &TenantId) -> Result<Option<SealedSecret>, StoreError> {
        let item: Option<ShopSecretItem> = self.get_optional_as(SECRET, keys::shop_secret(id)).await?;
        Ok(item.map(|i| i.sealed))
    }

    async fn resolve_channel(&self, channel: Channel, external_id: &str) -> Result<Option<ChannelBinding>, StoreError> {
        self.get_optional_as(BINDING, keys::channel(channel, external_id)).await
    }
}
