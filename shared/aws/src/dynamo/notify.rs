use super::{
    backend, from_item, is_conditional_failure, keys, n, put_new_in_transaction, to_item, DynamoStore, QuerySpec,
    SortCondition, TransactFailure,
};
use async_trait::async_trait;
use baton_domain::notify::{AgentNotification, NotifyState, PendingNotification};
use baton_domain::ports::{NotifyStore, PageRequest};
use baton_domain::{AgentId, StoreError, TenantId, Timestamp};

const PENDING: &str = "pending_notification";
const SEEN: &str = "seen_notification";
/// How long a notification is remembered after it was stored (SQS keeps a message 14
/// days at most).
const SEEN_FOR: time::Duration = time::Duration::days(14);
const STATE: &str = "notify_state";

#[async_trait]
impl NotifyStore for DynamoStore {
    /// The pending item and a marker that outlives it (14 days, by TTL), in one
    /// transaction: a notification redelivered after its digest went is still known.
    async fn put_pending_notification(&self, note: &AgentNotification, stored_at: Timestamp) -> Result<(), StoreError> {
        let pending = PendingNotification {
            stored_at,
            notification: note.clone(),
        };
        let key = keys::pending_notification(&note.tenant_id, &note.agent_id, &note.id);
        let mut seen = to_item(
            SEEN,
            keys::seen_notification(&note.tenant_id, &note.agent_id, &note.id),
            &serde_json::json!({}),
        )?;
        seen.insert(
            "expires_at".into(),
            n(stored_at.unix_seconds() + SEEN_FOR.whole_seconds()),
        );
        let items = vec![
            put_new_in_transaction(&self.table, seen)?,
            put_new_in_transaction(&self.table, to_item(PENDING, key, &pending)?)?,
        ];
        match self.transact("put pending notification", items).await {
            Ok(()) => Ok(()),
            Err(TransactFailure::Conditions(_)) => Err(StoreError::AlreadyExists { entity: PENDING }),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    async fn list_pending_notifications(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
        limit: u32,
    ) -> Result<Vec<PendingNotification>, StoreError> {
        let q = QuerySpec {
            operation: "list pending notifications",
            index: None,
            partition: keys::notify_partition(tenant, agent),
            sort: SortCondition::BeginsWith(keys::PENDING_NOTIFICATION_PREFIX.into()),
        };
        let mut items: Vec<PendingNotification> = self.query_as(PENDING, q, &PageRequest::first(limit)).await?.items;
        items.sort_by_key(|p| p.stored_at);
        Ok(items)
    }

    async fn delete_pending_notifications(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
        items: &[PendingNotification],
    ) -> Result<(), StoreError> {
        for p in items {
            let key = keys::pending_notification(tenant, agent, &p.notification.id);
            self.delete("delete pending notification", key).await?;
        }
        Ok(())
    }

    async fn get_notify_state(&self, tenant: &TenantId, agent: &AgentId) -> Result<NotifyState, StoreError> {
        match self.get(STATE, keys::notify_state(tenant, agent)).await? {
            Some(item) => from_item(STATE, item),
            None => Ok(NotifyState::default()),
        }
    }

    async fn set_notify_state(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
        state: &NotifyState,
        expected_version: u64,
    ) -> Result<(), StoreError> {
        // The first state is written where none is; every later one over the version read.
        let condition = if expected_version == 0 {
            "attribute_not_exists(PK) OR version = :expected"
        } else {
            "version = :expected"
        };
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(STATE, keys::notify_state(tenant, agent), state)?))
            .condition_expression(condition)
            .expression_attribute_values(":expected", n(expected_version))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Err(StoreError::Conflict {
                entity: STATE,
                current_version: None,
            }),
            Err(e) => Err(backend("set notify state", e)),
        }
    }
}
