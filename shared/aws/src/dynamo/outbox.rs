//! Units of work (several writes in one transaction), the outbox's effects, and parked
//! records.

use super::conversations::{conversation_item, message_item};
use super::tickets::{capacity_update, rotation_update, survey_item, ticket_item, timeline_item, versioned_ticket_put};
use super::{
    backend, backend_build, is_conditional_failure, keys, n, put_new_in_transaction, s, to_item,
    versioned_put_in_transaction, DynamoStore, Item, QuerySpec, SortCondition, TransactFailure,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use baton_domain::outbox::Effect;
use baton_domain::ports::{OutboxStore, Page, PageRequest, ParkedRecord, ParkingStore, UnitOfWork, Write};
use baton_domain::{StoreError, TicketNumber, Timestamp};

const EFFECT: &str = "effect";
const PARKED: &str = "parked_record";

/// Relayed effects are kept this long for inspection, then the table's TTL removes them.
const RELAYED_KEPT: time::Duration = time::Duration::days(7);
/// Parked records are kept this long (two weeks: the queues' own retention).
const PARKED_KEPT: time::Duration = time::Duration::days(14);

pub(super) fn effect_item(e: &Effect) -> Result<Item, StoreError> {
    let mut item = to_item(EFFECT, keys::effect(&e.id), e)?;
    if e.is_pending() {
        item.insert(
            keys::OUTBOX_PENDING.pk.into(),
            s(keys::outbox_pending_partition(e.shard())),
        );
        item.insert(
            keys::OUTBOX_PENDING.sk.into(),
            s(keys::outbox_pending_sort_key(e.created_at, &e.id)),
        );
    }
    Ok(item)
}

/// An update that hands an existing conversation over (`SET owner …`) and moves its
/// version on, so versioned writers that read it before notice; with `still_on`, only
/// while the conversation names that ticket.
fn hand_over(
    table: &str,
    key: &keys::Key,
    set: &str,
    still_on: Option<TicketNumber>,
    names: &[(&str, &str)],
    values: Vec<(&str, AttributeValue)>,
) -> Result<TransactWriteItem, StoreError> {
    let mut update = Update::builder()
        .table_name(table)
        .key(keys::PK, s(key.pk.clone()))
        .key(keys::SK, s(key.sk.clone()))
        .update_expression(format!("SET {set} ADD #version :one"))
        .expression_attribute_names("#owner", "owner")
        .expression_attribute_names("#version", "version")
        .expression_attribute_names("#ticket", "ticket")
        .expression_attribute_values(":one", n(1));
    update = match still_on {
        Some(t) => update
            .condition_expression("attribute_exists(PK) AND #ticket = :was")
            .expression_attribute_values(":was", n(t.0)),
        None => update.condition_expression("attribute_exists(PK)"),
    };
    for (placeholder, name) in names {
        update = update.expression_attribute_names(*placeholder, *name);
    }
    for (placeholder, value) in values {
        update = update.expression_attribute_values(placeholder, value);
    }
    Ok(TransactWriteItem::builder()
        .update(update.build().map_err(backend_build)?)
        .build())
}

impl DynamoStore {
    fn write_item(&self, w: &Write) -> Result<TransactWriteItem, StoreError> {
        let table = self.table.as_str();
        match w {
            Write::CreateTicket(t) => put_new_in_transaction(table, ticket_item(t)?),
            Write::UpdateTicket {
                ticket,
                expected_version,
            } => versioned_ticket_put(table, ticket, *expected_version),
            Write::AddTimeline(e) => put_new_in_transaction(table, timeline_item(e)?),
            Write::AppendMessage(m) => {
                if m.channel_message_id.is_some() {
                    // Its uniqueness item would be a second write: use `append_message`.
                    return Err(StoreError::Invalid {
                        field: "message",
                        reason: "a message with a channel message id is appended on its own".into(),
                    });
                }
                put_new_in_transaction(table, message_item(m)?)
            }
            Write::UpdateConversation {
                conversation,
                expected_version,
            } => versioned_put_in_transaction(table, conversation_item(conversation)?, *expected_version),
            Write::ClaimForHumans {
                tenant,
                conversation,
                ticket,
            } => hand_over(
                table,
                &keys::conversation(tenant, *conversation),
                "#owner = :owner, #ticket = :ticket",
                None,
                &[],
                vec![(":owner", s("human")), (":ticket", n(ticket.0))],
            ),
            Write::ReturnToAi {
                tenant,
                conversation,
                ticket,
                context_start,
            } => hand_over(
                table,
                &keys::conversation(tenant, *conversation),
                "#owner = :owner, #start = :start",
                Some(*ticket),
                &[("#start", "context_start")],
                vec![(":owner", s("ai")), (":start", s(context_start.to_string()))],
            ),
            Write::MoveCapacity {
                tenant,
                agent,
                delta,
                check,
                assigned_at,
            } => capacity_update(table, tenant, agent, *delta, *check, *assigned_at),
            Write::AdvanceRotation {
                tenant,
                team,
                expected_seq,
                last,
            } => rotation_update(table, tenant, team, *expected_seq, last),
            Write::RecordEffect(e) => put_new_in_transaction(table, effect_item(e)?),
            Write::OfferSurvey(v) => put_new_in_transaction(table, survey_item(v)?),
            Write::UpdateSurvey {
                survey,
                expected_version,
            } => versioned_put_in_transaction(table, survey_item(survey)?, *expected_version),
        }
    }

    /// What the first failed condition means (see `Write`).
    async fn commit_failure(&self, w: &Write) -> StoreError {
        match w {
            Write::CreateTicket(_) => StoreError::AlreadyExists { entity: "ticket" },
            Write::UpdateTicket { ticket, .. } => {
                self.conflict_or_missing("ticket", keys::ticket(&ticket.tenant_id, ticket.number))
                    .await
            }
            Write::AddTimeline(_) => StoreError::AlreadyExists {
                entity: "timeline_entry",
            },
            Write::AppendMessage(_) => StoreError::AlreadyExists { entity: "message" },
            Write::UpdateConversation { conversation, .. } => {
                self.conflict_or_missing(
                    "conversation",
                    keys::conversation(&conversation.tenant_id, conversation.id),
                )
                .await
            }
            Write::ClaimForHumans { .. } => StoreError::NotFound { entity: "conversation" },
            Write::ReturnToAi {
                tenant, conversation, ..
            } => {
                self.conflict_or_missing("conversation", keys::conversation(tenant, *conversation))
                    .await
            }
            Write::MoveCapacity { tenant, agent, .. } => match self.get("agent", keys::agent(tenant, agent)).await {
                Ok(Some(_)) => StoreError::Conflict {
                    entity: "agent_capacity",
                    current_version: None,
                },
                Ok(None) => StoreError::NotFound { entity: "agent" },
                Err(e) => e,
            },
            Write::AdvanceRotation { .. } => StoreError::Conflict {
                entity: "team_rotation",
                current_version: None,
            },
            Write::RecordEffect(_) => StoreError::AlreadyExists { entity: EFFECT },
            Write::OfferSurvey(_) => StoreError::AlreadyExists { entity: "survey" },
            Write::UpdateSurvey { survey, .. } => {
                self.conflict_or_missing("survey", keys::survey(&survey.tenant_id, &survey.of))
                    .await
            }
        }
    }
}

#[async_trait]
impl UnitOfWork for DynamoStore {
    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let items = writes
            .iter()
            .map(|w| self.write_item(w))
            .collect::<Result<Vec<_>, _>>()?;
        match self.transact("commit", items).await {
            Ok(()) => Ok(()),
            Err(f @ TransactFailure::Conditions(_)) => {
                let first = (0..writes.len()).find(|i| f.failed_at(*i)).unwrap_or(0);
                Err(self.commit_failure(&writes[first]).await)
            }
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }
}

#[async_trait]
impl OutboxStore for DynamoStore {
    async fn get_effect(&self, id: &str) -> Result<Option<Effect>, StoreError> {
        self.get_optional_as(EFFECT, keys::effect(id)).await
    }

    async fn mark_relayed(&self, id: &str, at: Timestamp) -> Result<(), StoreError> {
        let key = keys::effect(id);
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(key.pk))
            .key(keys::SK, s(key.sk))
            .update_expression("SET relayed_at = :at, expires_at = :exp REMOVE #ppk, #psk")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#ppk", keys::OUTBOX_PENDING.pk)
            .expression_attribute_names("#psk", keys::OUTBOX_PENDING.sk)
            .expression_attribute_values(":at", s(at.to_string()))
            .expression_attribute_values(":exp", n(at.plus(RELAYED_KEPT).unix_seconds()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Err(StoreError::NotFound { entity: EFFECT }),
            Err(e) => Err(backend("mark effect relayed", e)),
        }
    }

    async fn list_pending(&self, shard: u8, created_by: Timestamp, limit: u32) -> Result<Vec<Effect>, StoreError> {
        let q = QuerySpec {
            operation: "list pending effects",
            index: Some(&keys::OUTBOX_PENDING),
            partition: keys::outbox_pending_partition(shard),
            // '~' sorts after every effect id, so an effect made exactly then is included.
            sort: SortCondition::AtMost(format!("{created_by}#~")),
        };
        let page: Page<Effect> = self.query_as(EFFECT, q, &PageRequest::first(limit)).await?;
        Ok(page.items)
    }
}

#[async_trait]
impl ParkingStore for DynamoStore {
    async fn park(&self, record: &ParkedRecord) -> Result<(), StoreError> {
        let mut item = to_item(
            PARKED,
            keys::parked(&record.consumer, record.parked_at, &record.message_id),
            record,
        )?;
        item.insert(
            "expires_at".into(),
            n(record.parked_at.plus(PARKED_KEPT).unix_seconds()),
        );
        match self.put_new(PARKED, item).await {
            Ok(()) | Err(StoreError::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn list_parked(&self, consumer: &str, page: &PageRequest) -> Result<Page<ParkedRecord>, StoreError> {
        let q = QuerySpec {
            operation: "list parked records",
            index: None,
            partition: keys::parked_partition(consumer),
            sort: SortCondition::Any,
        };
        self.query_as(PARKED, q, page).await
    }

    async fn remove_parked(&self, consumer: &str, message_id: &str, parked_at: Timestamp) -> Result<(), StoreError> {
        self.delete("remove parked record", keys::parked(consumer, parked_at, message_id))
            .await
    }
}
