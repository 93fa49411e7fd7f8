use super::{
    backend, from_item, is_conditional_failure, keys, n, put_new_in_transaction, s, to_item, DynamoStore, QuerySpec,
    SortCondition, TransactFailure,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use baton_domain::conversation::{Conversation, DeliveryOutcome, DeliveryStatus, Message};
use baton_domain::ports::{ConversationStore, Page, PageRequest};
use baton_domain::{ConversationId, StoreError, TenantId};
use serde::{Deserialize, Serialize};

const CONVERSATION: &str = "conversation";
const MESSAGE: &str = "message";
const CHANNEL_MESSAGE: &str = "channel_message";

/// Points from a channel's message id to the stored message.
#[derive(Serialize, Deserialize)]
struct ChannelMessageRef {
    conversation_id: ConversationId,
    message_id: ulid::Ulid,
}

/// Delivery reports can arrive out of order (Meta sends `read` and `delivered` from
/// different systems); a report never moves a message backwards, except `failed`.
fn delivery_rank(s: DeliveryStatus) -> u8 {
    match s {
        DeliveryStatus::Queued => 0,
        DeliveryStatus::Sent => 1,
        DeliveryStatus::Delivered => 2,
        DeliveryStatus::Read => 3,
        DeliveryStatus::Failed => 4,
    }
}

fn delivery_text(s: DeliveryStatus) -> &'static str {
    match s {
        DeliveryStatus::Queued => "queued",
        DeliveryStatus::Sent => "sent",
        DeliveryStatus::Delivered => "delivered",
        DeliveryStatus::Read => "read",
        DeliveryStatus::Failed => "failed",
    }
}

/// A message as stored (with its delivery rank, for out-of-order delivery reports).
pub(super) fn message_item(m: &Message) -> Result<super::Item, StoreError> {
    let mut item = to_item(MESSAGE, keys::message(&m.tenant_id, m.conversation_id, m.id), m)?;
    if let Some(d) = m.delivery {
        item.insert("delivery_rank".into(), n(delivery_rank(d)));
    }
    Ok(item)
}

pub(super) fn conversation_item(c: &Conversation) -> Result<super::Item, StoreError> {
    to_item(CONVERSATION, keys::conversation(&c.tenant_id, c.id), c)
}

#[async_trait]
impl ConversationStore for DynamoStore {
    async fn find_channel_message(
        &self,
        tenant: &TenantId,
        channel_message_id: &str,
    ) -> Result<Option<(ConversationId, ulid::Ulid)>, StoreError> {
        match self
            .get(CHANNEL_MESSAGE, keys::channel_message(tenant, channel_message_id))
            .await?
        {
            Some(item) => {
                let r: ChannelMessageRef = from_item(CHANNEL_MESSAGE, item)?;
                Ok(Some((r.conversation_id, r.message_id)))
            }
            None => Ok(None),
        }
    }

    async fn create_conversation(&self, c: &Conversation) -> Result<(), StoreError> {
        self.put_new(CONVERSATION, conversation_item(c)?).await
    }

    async fn get_conversation(&self, tenant: &TenantId, id: ConversationId) -> Result<Conversation, StoreError> {
        self.get_as(CONVERSATION, keys::conversation(tenant, id)).await
    }

    async fn update_conversation(&self, c: &Conversation, expected_version: u64) -> Result<(), StoreError> {
        let key = keys::conversation(&c.tenant_id, c.id);
        self.replace_versioned(CONVERSATION, key, conversation_item(c)?, expected_version)
            .await?;
        Ok(())
    }

    async fn append_message(&self, m: &Message) -> Result<(), StoreError> {
        let item = message_item(m)?;
        let Some(channel_id) = &m.channel_message_id else {
            return self.put_new(MESSAGE, item).await;
        };
        let reference = ChannelMessageRef {
            conversation_id: m.conversation_id,
            message_id: m.id,
        };
        let items = vec![
            put_new_in_transaction(
                &self.table,
                to_item(
                    CHANNEL_MESSAGE,
                    keys::channel_message(&m.tenant_id, channel_id),
                    &reference,
                )?,
            )?,
            put_new_in_transaction(&self.table, item)?,
        ];
        match self.transact("append message", items).await {
            Ok(()) => Ok(()),
            Err(TransactFailure::Conditions(_)) => Err(StoreError::AlreadyExists { entity: MESSAGE }),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    async fn list_messages(
        &self,
        tenant: &TenantId,
        id: ConversationId,
        page: &PageRequest,
    ) -> Result<Page<Message>, StoreError> {
        let q = QuerySpec {
            operation: "list messages",
            index: None,
            partition: keys::conversation_partition(tenant, id),
            sort: SortCondition::BeginsWith(keys::MESSAGE_PREFIX.into()),
        };
        self.query_as(MESSAGE, q, page).await
    }

    async fn list_messages_after(
        &self,
        tenant: &TenantId,
        id: ConversationId,
        after: Option<ulid::Ulid>,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        // "META" sorts before "MSG#", so everything greater than a message key is a later message.
        let sort = match after {
            Some(a) => SortCondition::After(format!("{}{a}", keys::MESSAGE_PREFIX)),
            None => SortCondition::BeginsWith(keys::MESSAGE_PREFIX.into()),
        };
        let q = QuerySpec {
            operation: "list messages after",
            index: None,
            partition: keys::conversation_partition(tenant, id),
            sort,
        };
        Ok(self.query_as(MESSAGE, q, &PageRequest::first(limit)).await?.items)
    }

    async fn latest_messages(
        &self,
        tenant: &TenantId,
        id: ConversationId,
        after: Option<ulid::Ulid>,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        // Newest first from the end of the partition, bounded below by `after`.
        let lower = match after {
            Some(a) => format!("{}{a}", keys::MESSAGE_PREFIX),
            None => keys::MESSAGE_PREFIX.to_owned(),
        };
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK BETWEEN :lo AND :hi")
            .expression_attribute_values(":pk", s(keys::conversation_partition(tenant, id)))
            .expression_attribute_values(":lo", s(lower.clone()))
            .expression_attribute_values(":hi", s(format!("{}~", keys::MESSAGE_PREFIX)))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 1000) as i32)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend("latest messages", e))?;
        let mut messages = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|i| from_item::<Message>(MESSAGE, i))
            .collect::<Result<Vec<_>, _>>()?;
        // BETWEEN is inclusive: the `after` message itself is not "after".
        messages.retain(|m| after != Some(m.id));
        messages.reverse();
        Ok(messages)
    }

    async fn record_delivery(
        &self,
        tenant: &TenantId,
        conversation: ConversationId,
        message: ulid::Ulid,
        outcome: &DeliveryOutcome,
    ) -> Result<(), StoreError> {
        // The lookup first: once the message names its channel id, a delivery report for
        // that id must find it. Rewriting it with the same content is harmless.
        if let Some(id) = &outcome.channel_message_id {
            let reference = ChannelMessageRef {
                conversation_id: conversation,
                message_id: message,
            };
            let item = to_item(CHANNEL_MESSAGE, keys::channel_message(tenant, id), &reference)?;
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .send()
                .await
                .map_err(|e| backend("record channel message id", e))?;
        }
        let key = keys::message(tenant, conversation, message);
        let key_again = key.clone();
        let mut sets = vec!["delivery = :d", "delivery_rank = :r"];
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(key.pk))
            .key(keys::SK, s(key.sk))
            .condition_expression(
                "attribute_exists(PK) AND (attribute_not_exists(delivery_rank) OR delivery_rank < :r)",
            )
            .expression_attribute_values(":d", AttributeValue::S(delivery_text(outcome.status).into()))
            .expression_attribute_values(":r", n(delivery_rank(outcome.status)));
        if let Some(id) = &outcome.channel_message_id {
            sets.push("channel_message_id = :c");
            update = update.expression_attribute_values(":c", s(id.clone()));
        }
        if let Some(error) = &outcome.error {
            sets.push("delivery_error = :e");
            update = update.expression_attribute_values(":e", s(error.clone()));
        }
        let res = update
            .update_expression(format!("SET {}", sets.join(", ")))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            // Already at or past this state (a report came first), or no such message.
            Err(e) if is_conditional_failure(&e) => match self.get(MESSAGE, key_again).await? {
                Some(_) => Ok(()),
                None => Err(StoreError::NotFound { entity: MESSAGE }),
            },
            Err(e) => Err(backend("record delivery", e)),
        }
    }

    async fn set_delivery_status(
        &self,
        tenant: &TenantId,
        channel_message_id: &str,
        status: DeliveryStatus,
    ) -> Result<(), StoreError> {
        let Some(item) = self
            .get(CHANNEL_MESSAGE, keys::channel_message(tenant, channel_message_id))
            .await?
        else {
            return Err(StoreError::NotFound { entity: MESSAGE });
        };
        let r: ChannelMessageRef = from_item(CHANNEL_MESSAGE, item)?;
        let key = keys::message(tenant, r.conversation_id, r.message_id);
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(key.pk))
            .key(keys::SK, s(key.sk))
            .update_expression("SET delivery = :d, delivery_rank = :r")
            .condition_expression(
                "attribute_exists(PK) AND (attribute_not_exists(delivery_rank) OR delivery_rank < :r)",
            )
            .expression_attribute_values(":d", AttributeValue::S(delivery_text(status).into()))
            .expression_attribute_values(":r", n(delivery_rank(status)))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            // Already at or past this state: a late report changes nothing.
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(backend("set delivery status", e)),
        }
    }
}
