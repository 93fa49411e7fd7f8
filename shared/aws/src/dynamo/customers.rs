use super::{backend, is_conditional_failure, keys, put_new_in_transaction, s, to_item, DynamoStore, TransactFailure};
use async_trait::async_trait;
use baton_domain::customer::{Customer, Identity};
use baton_domain::ports::CustomerStore;
use baton_domain::{Channel, ConversationId, CustomerId, StoreError, TenantId};

const CUSTOMER: &str = "customer";
const IDENTITY: &str = "identity";

#[async_trait]
impl CustomerStore for DynamoStore {
    async fn create_customer(&self, customer: &Customer, identity: &Identity) -> Result<(), StoreError> {
        let items = vec![
            put_new_in_transaction(
                &self.table,
                to_item(CUSTOMER, keys::customer(&customer.tenant_id, customer.id), customer)?,
            )?,
            put_new_in_transaction(
                &self.table,
                to_item(
                    IDENTITY,
                    keys::identity(&identity.tenant_id, identity.channel, &identity.external_id),
                    identity,
                )?,
            )?,
        ];
        match self.transact("create customer", items).await {
            Ok(()) => Ok(()),
            Err(f @ TransactFailure::Conditions(_)) => Err(StoreError::AlreadyExists {
                entity: if f.failed_at(1) { IDENTITY } else { CUSTOMER },
            }),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    async fn get_customer(&self, tenant: &TenantId, id: CustomerId) -> Result<Customer, StoreError> {
        self.get_as(CUSTOMER, keys::customer(tenant, id)).await
    }

    async fn mark_undeliverable(
        &self,
        tenant: &TenantId,
        customer: CustomerId,
        mark: &baton_domain::customer::Undeliverable,
    ) -> Result<(), StoreError> {
        // Rare, and the list is short: read, replace this address's mark, write the list.
        let mut c = self.get_customer(tenant, customer).await?;
        c.undeliverable
            .retain(|u| !u.address.eq_ignore_ascii_case(&mark.address));
        c.undeliverable.push(mark.clone());
        self.set_on_existing(
            CUSTOMER,
            keys::customer(tenant, customer),
            vec![("undeliverable", super::attr(&c.undeliverable)?)],
        )
        .await
    }

    async fn find_identity(
        &self,
        tenant: &TenantId,
        channel: Channel,
        external_id: &str,
    ) -> Result<Option<Identity>, StoreError> {
        self.get_optional_as(IDENTITY, keys::identity(tenant, channel, external_id))
            .await
    }

    async fn set_active_conversation(
        &self,
        tenant: &TenantId,
        channel: Channel,
        external_id: &str,
        conversation: Option<ConversationId>,
    ) -> Result<(), StoreError> {
        let key = keys::identity(tenant, channel, external_id);
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(key.pk))
            .key(keys::SK, s(key.sk))
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#c", "active_conversation");
        req = match conversation {
            Some(c) => req
                .update_expression("SET #c = :c")
                .expression_attribute_values(":c", s(c.to_string())),
            None => req.update_expression("REMOVE #c"),
        };
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Err(StoreError::NotFound { entity: IDENTITY }),
            Err(e) => Err(backend("set active conversation", e)),
        }
    }

    async fn claim_active_conversation(
        &self,
        tenant: &TenantId,
        channel: Channel,
        external_id: &str,
        replacing: Option<ConversationId>,
        proposed: ConversationId,
    ) -> Result<ConversationId, StoreError> {
        let key = keys::identity(tenant, channel, external_id);
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(key.pk))
            .key(keys::SK, s(key.sk))
            .update_expression("SET #c = :c")
            .expression_attribute_names("#c", "active_conversation")
            .expression_attribute_values(":c", s(proposed.to_string()));
        let req = match replacing {
            None => req.condition_expression("attribute_exists(PK) AND attribute_not_exists(#c)"),
            Some(old) => req
                .condition_expression("attribute_exists(PK) AND #c = :old")
                .expression_attribute_values(":old", s(old.to_string())),
        };
        let res = req.send().await;
        match res {
            Ok(_) => Ok(proposed),
            Err(e) if is_conditional_failure(&e) => self
                .find_identity(tenant, channel, external_id)
                .await?
                .ok_or(StoreError::NotFound { entity: IDENTITY })?
                .active_conversation
                .ok_or(StoreError::Conflict {
                    entity: IDENTITY,
                    current_version: None,
                }),
            Err(e) => Err(backend("claim active conversation", e)),
        }
    }
}
