use super::{
    backend, backend_build, from_item, keys, n, put_new_in_transaction, s, to_item, DynamoStore, Item, QuerySpec,
    SortCondition, TransactFailure,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem, Update};
use baton_domain::error::BackendErrorKind;
use baton_domain::ports::{CapacityCheck, DueTicket, Page, PageRequest, TicketStore};
use baton_domain::ticket::{Status, Ticket, TimelineEntry};
use baton_domain::ticket_query::{StreamBatch, TicketStream};
use baton_domain::{AgentId, StoreError, TeamId, TenantId, TicketNumber, Timestamp};

const TICKET: &str = "ticket";
const TIMELINE: &str = "timeline_entry";
const COUNTER: &str = "counter";
const SURVEY: &str = "survey";

pub(super) fn survey_item(v: &baton_domain::csat::Survey) -> Result<Item, StoreError> {
    to_item(SURVEY, keys::survey(&v.tenant_id, &v.of), v)
}

/// A ticket as it is stored, index keys included: for bulk loading (the SLA sweep's
/// benchmark seeds 10,000 tickets with `BatchWriteItem`).
pub fn ticket_item(t: &Ticket) -> Result<Item, StoreError> {
    let mut item = to_item(TICKET, keys::ticket(&t.tenant_id, t.number), t)?;
    for (attr, value) in keys::ticket_index_keys(t) {
        item.insert(attr.to_owned(), s(value));
    }
    Ok(item)
}

pub(super) fn timeline_item(e: &TimelineEntry) -> Result<Item, StoreError> {
    to_item(TIMELINE, keys::timeline(&e.tenant_id, e.ticket, e.id), e)
}

fn timeline_items(table: &str, entries: &[TimelineEntry]) -> Result<Vec<TransactWriteItem>, StoreError> {
    entries
        .iter()
        .map(|e| put_new_in_transaction(table, timeline_item(e)?))
        .collect()
}

/// A transaction item that replaces the ticket if its stored version is `expected`.
pub(super) fn versioned_ticket_put(
    table: &str,
    ticket: &Ticket,
    expected: u64,
) -> Result<TransactWriteItem, StoreError> {
    super::versioned_put_in_transaction(table, ticket_item(ticket)?, expected)
}

/// A transaction item that moves an existing agent's open-assignment count, checked as
/// `check` says when it takes a place, and stamps when the agent was given a ticket.
pub(super) fn capacity_update(
    table: &str,
    tenant: &TenantId,
    agent: &AgentId,
    delta: i64,
    check: CapacityCheck,
    assigned_at: Option<Timestamp>,
) -> Result<TransactWriteItem, StoreError> {
    let key = keys::agent(tenant, agent);
    // The limit sits in the same transaction as the assignment: concurrent assigners
    // cannot both take the agent's last free place.
    const BELOW_LIMIT: &str = "(attribute_not_exists(open_count) OR open_count < max_open)";
    let condition = match (check, delta > 0) {
        (CapacityCheck::Limit, true) => format!("attribute_exists(PK) AND {BELOW_LIMIT}"),
        (CapacityCheck::Available, true) => format!(
            "attribute_exists(PK) AND {BELOW_LIMIT} AND presence = :online \
             AND (attribute_not_exists(active) OR active = :active)"
        ),
        _ => "attribute_exists(PK)".to_owned(),
    };
    let mut update = Update::builder()
        .table_name(table)
        .key(keys::PK, s(key.pk))
        .key(keys::SK, s(key.sk))
        .condition_expression(&condition)
        .expression_attribute_values(":d", n(delta));
    if condition.contains(":online") {
        update = update
            .expression_attribute_values(":online", s("online"))
            .expression_attribute_values(":active", AttributeValue::Bool(true));
    }
    update = match assigned_at {
        Some(at) => update
            .update_expression("ADD open_count :d SET last_assigned_at = :at")
            .expression_attribute_values(":at", s(at.to_string())),
        None => update.update_expression("ADD open_count :d"),
    };
    Ok(TransactWriteItem::builder()
        .update(update.build().map_err(backend_build)?)
        .build())
}

/// A transaction item that moves a team's rotation on, if it is still at `expected_seq`.
pub(super) fn rotation_update(
    table: &str,
    tenant: &TenantId,
    team: &TeamId,
    expected_seq: u64,
    last: &AgentId,
) -> Result<TransactWriteItem, StoreError> {
    let key = keys::rotation(tenant, team);
    let mut update = Update::builder()
        .table_name(table)
        .key(keys::PK, s(key.pk))
        .key(keys::SK, s(key.sk))
        .update_expression("SET #last = :last, seq = :next, entity_type = :e")
        .expression_attribute_names("#last", "last")
        .expression_attribute_values(":last", s(last.as_str()))
        .expression_attribute_values(":next", n(expected_seq + 1))
        .expression_attribute_values(":e", s("rotation"));
    update = if expected_seq == 0 {
        update.condition_expression("attribute_not_exists(seq)")
    } else {
        update
            .condition_expression("seq = :expected")
            .expression_attribute_values(":expected", n(expected_seq))
    };
    Ok(TransactWriteItem::builder()
        .update(update.build().map_err(backend_build)?)
        .build())
}

#[async_trait]
impl TicketStore for DynamoStore {
    async fn next_ticket_number(&self, tenant: &TenantId) -> Result<TicketNumber, StoreError> {
        let key = keys::counter(tenant, "ticket");
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(key.pk))
            .key(keys::SK, s(key.sk))
            .update_expression("ADD #v :one SET entity_type = :e")
            .expression_attribute_names("#v", "value")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":e", s(COUNTER))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| backend("next ticket number", e))?;
        match out.attributes.as_ref().and_then(|a| a.get("value")) {
            Some(AttributeValue::N(v)) => v.parse().map(TicketNumber).map_err(|e| StoreError::Backend {
                kind: BackendErrorKind::Corrupt,
                operation: "next ticket number",
                source: Box::new(e),
            }),
            _ => Err(StoreError::Backend {
                kind: BackendErrorKind::Corrupt,
                operation: "next ticket number",
                source: "counter update returned no value".into(),
            }),
        }
    }

    async fn create_ticket(&self, ticket: &Ticket, timeline: &[TimelineEntry]) -> Result<(), StoreError> {
        let mut items = vec![put_new_in_transaction(&self.table, ticket_item(ticket)?)?];
        items.extend(timeline_items(&self.table, timeline)?);
        match self.transact("create ticket", items).await {
            Ok(()) => Ok(()),
            Err(f @ TransactFailure::Conditions(_)) => Err(StoreError::AlreadyExists {
                entity: if f.failed_at(0) { TICKET } else { TIMELINE },
            }),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    async fn get_ticket(&self, tenant: &TenantId, number: TicketNumber) -> Result<Ticket, StoreError> {
        self.get_as(TICKET, keys::ticket(tenant, number)).await
    }

    async fn update_ticket_and_capacity(
        &self,
        ticket: &Ticket,
        expected_version: u64,
        timeline: &[TimelineEntry],
        capacity: &[(AgentId, i64)],
    ) -> Result<u64, StoreError> {
        let next = expected_version + 1;
        let mut items = vec![versioned_ticket_put(&self.table, ticket, expected_version)?];
        items.extend(timeline_items(&self.table, timeline)?);
        let counts_from = items.len();
        for (agent, delta) in capacity {
            items.push(capacity_update(
                &self.table,
                &ticket.tenant_id,
                agent,
                *delta,
                CapacityCheck::None,
                None,
            )?);
        }
        let total = items.len();
        match self.transact("update ticket", items).await {
            Ok(()) => Ok(next),
            Err(f @ TransactFailure::Conditions(_)) if f.failed_at(0) => Err(self
                .conflict_or_missing(TICKET, keys::ticket(&ticket.tenant_id, ticket.number))
                .await),
            Err(f @ TransactFailure::Conditions(_)) if (counts_from..total).any(|i| f.failed_at(i)) => {
                Err(StoreError::NotFound { entity: "agent" })
            }
            Err(TransactFailure::Conditions(_)) => Err(StoreError::AlreadyExists { entity: TIMELINE }),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    async fn read_stream(
        &self,
        tenant: &TenantId,
        stream: &TicketStream,
        after: Option<&str>,
        limit: u32,
    ) -> Result<StreamBatch, StoreError> {
        let (index, partition, prefix) = match stream {
            TicketStream::Status(st) => (&keys::BY_STATUS, keys::status_partition(tenant, *st), ""),
            TicketStream::AssigneeActive(a) => (
                &keys::BY_ASSIGNEE,
                keys::assignee_partition(tenant, a),
                keys::ASSIGNEE_ACTIVE,
            ),
            TicketStream::Backlog(team) => (&keys::BACKLOG, keys::backlog_partition(tenant, team), ""),
            TicketStream::Activity => (&keys::BY_ACTIVITY, keys::activity_partition(tenant), ""),
            TicketStream::Customer(c) => (&keys::BY_CUSTOMER, keys::customer_tickets_partition(tenant, *c), ""),
            TicketStream::Due => (&keys::BY_DUE, keys::due_partition(tenant), ""),
        };
        let forward = !stream.descending();
        let mut req = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index.name)
            .expression_attribute_names("#pk", index.pk)
            .expression_attribute_values(":pk", s(partition))
            .scan_index_forward(forward)
            .limit(limit.clamp(1, 1000) as i32);
        let condition = match (after, prefix.is_empty()) {
            (Some(a), _) => {
                req = req
                    .expression_attribute_names("#sk", index.sk)
                    .expression_attribute_values(":sk", s(format!("{prefix}{a}")));
                if forward {
                    "#pk = :pk AND #sk > :sk"
                } else {
                    "#pk = :pk AND #sk < :sk"
                }
            }
            (None, false) => {
                req = req
                    .expression_attribute_names("#sk", index.sk)
                    .expression_attribute_values(":sk", s(prefix));
                "#pk = :pk AND begins_with(#sk, :sk)"
            }
            (None, true) => "#pk = :pk",
        };
        let out = req
            .key_condition_expression(condition)
            .send()
            .await
            .map_err(|e| backend("read ticket stream", e))?;
        let mut more = out.last_evaluated_key.is_some();
        let mut items = Vec::new();
        for item in out.items.unwrap_or_default() {
            // Past the prefix (an assignee's finished tickets): the stream ends here.
            let Some(sort_key) = (match item.get(index.sk) {
                Some(AttributeValue::S(k)) => k.strip_prefix(prefix).map(str::to_owned),
                _ => None,
            }) else {
                more = false;
                break;
            };
            items.push((sort_key, from_item::<Ticket>(TICKET, item)?));
        }
        Ok(StreamBatch { items, more })
    }

    async fn list_timeline(
        &self,
        tenant: &TenantId,
        number: TicketNumber,
        page: &PageRequest,
    ) -> Result<Page<TimelineEntry>, StoreError> {
        let q = QuerySpec {
            operation: "list timeline",
            index: None,
            partition: keys::ticket_partition(tenant, number),
            sort: SortCondition::BeginsWith(keys::TIMELINE_PREFIX.into()),
        };
        self.query_as(TIMELINE, q, page).await
    }

    async fn get_survey(
        &self,
        tenant: &TenantId,
        of: &baton_domain::outbound::SurveyRef,
    ) -> Result<baton_domain::csat::Survey, StoreError> {
        self.get_as(SURVEY, keys::survey(tenant, of)).await
    }

    async fn list_surveys(
        &self,
        tenant: &TenantId,
        number: TicketNumber,
        page: &PageRequest,
    ) -> Result<Page<baton_domain::csat::Survey>, StoreError> {
        let q = QuerySpec {
            operation: "list surveys",
            index: None,
            partition: keys::ticket_partition(tenant, number),
            sort: SortCondition::BeginsWith(keys::SURVEY_PREFIX.into()),
        };
        self.query_as(SURVEY, q, page).await
    }

    async fn get_timeline_entry(
        &self,
        tenant: &TenantId,
        number: TicketNumber,
        id: ulid::Ulid,
    ) -> Result<TimelineEntry, StoreError> {
        self.get_as(TIMELINE, keys::timeline(tenant, number, id)).await
    }

    async fn set_attachment_stored(
        &self,
        tenant: &TenantId,
        number: TicketNumber,
        id: ulid::Ulid,
        index: usize,
        key: &str,
        size: u64,
    ) -> Result<(), StoreError> {
        use super::PathPart::{Attr, Index};
        self.set_within(
            TIMELINE,
            keys::timeline(tenant, number, id),
            &[Attr("entry"), Attr("attachments"), Index(index)],
            vec![
                ("stored_key", s(key.to_owned())),
                ("size", AttributeValue::N(size.to_string())),
            ],
        )
        .await
    }

    async fn list_by_status(
        &self,
        tenant: &TenantId,
        status: Status,
        page: &PageRequest,
    ) -> Result<Page<Ticket>, StoreError> {
        let q = QuerySpec {
            operation: "list tickets by status",
            index: Some(&keys::BY_STATUS),
            partition: keys::status_partition(tenant, status),
            sort: SortCondition::Any,
        };
        self.query_as(TICKET, q, page).await
    }

    async fn list_by_assignee(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
        page: &PageRequest,
    ) -> Result<Page<Ticket>, StoreError> {
        let q = QuerySpec {
            operation: "list tickets by assignee",
            index: Some(&keys::BY_ASSIGNEE),
            partition: keys::assignee_partition(tenant, agent),
            sort: SortCondition::BeginsWith(keys::ASSIGNEE_ACTIVE.into()),
        };
        self.query_as(TICKET, q, page).await
    }

    async fn list_team_backlog(
        &self,
        tenant: &TenantId,
        team: &TeamId,
        page: &PageRequest,
    ) -> Result<Page<Ticket>, StoreError> {
        let q = QuerySpec {
            operation: "list team backlog",
            index: Some(&keys::BACKLOG),
            partition: keys::backlog_partition(tenant, team),
            sort: SortCondition::Any,
        };
        self.query_as(TICKET, q, page).await
    }

    async fn list_due(&self, shard: u8, due_by: Timestamp, page: &PageRequest) -> Result<Page<DueTicket>, StoreError> {
        let q = QuerySpec {
            operation: "list due tickets",
            index: Some(&keys::SLA_DUE),
            partition: keys::sla_partition(shard),
            // '~' sorts after every tenant id, so everything due exactly at `due_by` is in.
            sort: SortCondition::AtMost(format!("{due_by}#~")),
        };
        let (items, next_cursor) = self.query_page(q, page).await?;
        let items = items.into_iter().map(due_ticket).collect::<Result<Vec<_>, _>>()?;
        Ok(Page { items, next_cursor })
    }
}

fn due_ticket(item: Item) -> Result<DueTicket, StoreError> {
    let corrupt = |what: &str| StoreError::Backend {
        kind: BackendErrorKind::Corrupt,
        operation: "list due tickets",
        source: format!("SLA index item without {what}").into(),
    };
    let due_at = match item.get(keys::SLA_DUE.sk) {
        Some(AttributeValue::S(sk)) => sk.split('#').next().and_then(|d| Timestamp::parse(d).ok()),
        _ => None,
    }
    .ok_or_else(|| corrupt("a due time"))?;
    #[derive(serde::Deserialize)]
    struct Projected {
        tenant_id: TenantId,
        number: TicketNumber,
    }
    let p: Projected = from_item(TICKET, item)?;
    Ok(DueTicket {
        tenant_id: p.tenant_id,
        number: p.number,
        due_at,
    })
}
