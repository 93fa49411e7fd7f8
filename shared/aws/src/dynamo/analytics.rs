//! Analytics aggregates: one item per tenant, slice and tenant-local day, with a counter
//! attribute per metric (`c:<name>`) and one per histogram bucket (`h:<metric>:<bucket>`),
//! all `ADD`ed in the transaction that writes the event's marker, so an event is counted
//! once whatever is redelivered. A report reads one item per day and slice: its cost does
//! not grow with the tenant's history.

use super::{
    backend_build, keys, n, put_new_in_transaction, s, to_item, versioned_put_in_transaction, DynamoStore, QuerySpec,
    SortCondition, TransactFailure,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};
use baton_domain::analytics::{bucket, DailyAggregate, Event, Increments};
use baton_domain::clusters::{Cluster, ClusterIndex, Family, Placed};
use baton_domain::ports::{AnalyticsStore, PageRequest};
use baton_domain::{StoreError, TenantId};

const MARKER: &str = "analytics_event";
const AGGREGATE: &str = "analytics_day";
const INDEX: &str = "cluster_index";
const CLUSTER: &str = "cluster";
/// How long an event's marker is kept: longer than SQS keeps a message (14 days).
const MARKER_FOR: i64 = 30 * 86_400;

/// The `ADD` of one day's increments to one slice's item.
fn add_to_day(
    table: &str,
    tenant: &TenantId,
    slice: &str,
    day: &str,
    inc: &Increments,
) -> Result<TransactWriteItem, StoreError> {
    let key = keys::analytics_day(tenant, slice, day);
    let mut adds: Vec<(String, i64)> = inc.counters.iter().map(|(name, v)| (format!("c:{name}"), *v)).collect();
    adds.extend(
        inc.durations
            .iter()
            .map(|(metric, secs)| (format!("h:{metric}:{}", bucket(*secs)), 1)),
    );
    let mut update = Update::builder()
        .table_name(table)
        .key(keys::PK, s(key.pk))
        .key(keys::SK, s(key.sk))
        .expression_attribute_names("#et", keys::ENTITY_TYPE)
        .expression_attribute_names("#slice", "slice")
        .expression_attribute_names("#day", "day")
        .expression_attribute_values(":et", s(AGGREGATE))
        .expression_attribute_values(":slice", s(slice))
        .expression_attribute_values(":day", s(day));
    let mut parts = Vec::new();
    for (i, (name, v)) in adds.iter().enumerate() {
        update = update
            .expression_attribute_names(format!("#a{i}"), name)
            .expression_attribute_values(format!(":a{i}"), n(v));
        parts.push(format!("#a{i} :a{i}"));
    }
    let expression = if parts.is_empty() {
        "SET #et = :et, #slice = :slice, #day = :day".to_owned()
    } else {
        format!("SET #et = :et, #slice = :slice, #day = :day ADD {}", parts.join(", "))
    };
    let update = update.update_expression(expression).build().map_err(backend_build)?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// A day's aggregate as it is stored: for bulk loading (the report benchmark seeds a
/// year of days with `BatchWriteItem`).
pub fn aggregate_item(tenant: &TenantId, agg: &DailyAggregate) -> super::Item {
    let key = keys::analytics_day(tenant, &agg.slice, &agg.day);
    let mut item = super::Item::new();
    item.insert(keys::PK.into(), s(key.pk));
    item.insert(keys::SK.into(), s(key.sk));
    item.insert(keys::ENTITY_TYPE.into(), s(AGGREGATE));
    item.insert("slice".into(), s(agg.slice.clone()));
    item.insert("day".into(), s(agg.day.clone()));
    for (name, v) in &agg.counters {
        item.insert(format!("c:{name}"), n(v));
    }
    for (metric, buckets) in &agg.histograms {
        for (b, v) in buckets {
            item.insert(format!("h:{metric}:{b}"), n(v));
        }
    }
    item
}

fn aggregate_of(item: &std::collections::HashMap<String, AttributeValue>) -> DailyAggregate {
    let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
    let mut agg = DailyAggregate {
        day: text("day"),
        slice: text("slice"),
        ..Default::default()
    };
    for (name, value) in item {
        let Some(v) = value.as_n().ok().and_then(|v| v.parse::<i64>().ok()) else {
            continue;
        };
        if let Some(counter) = name.strip_prefix("c:") {
            agg.counters.insert(counter.to_owned(), v);
        } else if let Some((metric, b)) = name.strip_prefix("h:").and_then(|h| h.rsplit_once(':')) {
            if let Ok(b) = b.parse::<i64>() {
                agg.histograms.entry(metric.to_owned()).or_default().insert(b, v);
            }
        }
    }
    agg
}

/// A put of `item` in a transaction: new when `read` is 0, else over version `read`.
fn put_over(table: &str, mut item: super::Item, read: u64) -> Result<TransactWriteItem, StoreError> {
    if read == 0 {
        item.insert("version".into(), n(1));
        put_new_in_transaction(table, item)
    } else {
        versioned_put_in_transaction(table, item, read)
    }
}

impl DynamoStore {
    async fn count_with(
        &self,
        event: &Event,
        day: &str,
        slices: &[String],
        increments: &Increments,
        placed: Option<&Placed>,
    ) -> Result<bool, StoreError> {
        let mut marker = to_item(
            MARKER,
            keys::analytics_event(&event.tenant_id, &event.id),
            &serde_json::json!({ "day": day }),
        )?;
        marker.insert("expires_at".into(), n(event.at.unix_seconds() + MARKER_FOR));
        let mut items = vec![put_new_in_transaction(&self.table, marker)?];
        for slice in slices {
            items.push(add_to_day(&self.table, &event.tenant_id, slice, day, increments)?);
        }
        if let Some(p) = placed {
            let tenant = &event.tenant_id;
            let family = p.cluster.family.slice();
            let index = to_item(INDEX, keys::cluster_index(tenant, family), &p.index)?;
            items.push(put_over(&self.table, index, p.index_read)?);
            let cluster = to_item(CLUSTER, keys::cluster(tenant, family, &p.cluster.id), &p.cluster)?;
            items.push(put_over(&self.table, cluster, p.cluster_read)?);
            let counters = Increments {
                counters: p.counters.clone(),
                durations: vec![],
            };
            items.push(add_to_day(&self.table, tenant, family, day, &counters)?);
        }
        match self.transact("count analytics event", items).await {
            Ok(()) => Ok(true),
            Err(f @ TransactFailure::Conditions(_)) if f.failed_at(0) => Ok(false),
            // Day counters are ADDs: only a placement's index or cluster can have moved.
            Err(TransactFailure::Conditions(_)) => Err(StoreError::Conflict {
                entity: if placed.is_some() { INDEX } else { AGGREGATE },
                current_version: None,
            }),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }
}

#[async_trait]
impl AnalyticsStore for DynamoStore {
    async fn count_event(
        &self,
        event: &Event,
        day: &str,
        slices: &[String],
        increments: &Increments,
    ) -> Result<bool, StoreError> {
        self.count_with(event, day, slices, increments, None).await
    }

    async fn count_placed(
        &self,
        event: &Event,
        day: &str,
        slices: &[String],
        increments: &Increments,
        placed: &Placed,
    ) -> Result<bool, StoreError> {
        self.count_with(event, day, slices, increments, Some(placed)).await
    }

    async fn cluster_index(&self, tenant: &TenantId, family: Family) -> Result<ClusterIndex, StoreError> {
        match self.get_as(INDEX, keys::cluster_index(tenant, family.slice())).await {
            Err(StoreError::NotFound { .. }) => Ok(ClusterIndex::default()),
            other => other,
        }
    }

    async fn get_cluster(&self, tenant: &TenantId, family: Family, id: &str) -> Result<Cluster, StoreError> {
        self.get_as(CLUSTER, keys::cluster(tenant, family.slice(), id)).await
    }

    async fn put_cluster(&self, cluster: &Cluster, expected: u64) -> Result<(), StoreError> {
        let key = keys::cluster(&cluster.tenant_id, cluster.family.slice(), &cluster.id);
        let item = to_item(CLUSTER, key, cluster)?;
        match self
            .transact("update cluster", vec![put_over(&self.table, item, expected)?])
            .await
        {
            Ok(()) => Ok(()),
            Err(TransactFailure::Conditions(_)) => Err(StoreError::Conflict {
                entity: CLUSTER,
                current_version: None,
            }),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    async fn daily(
        &self,
        tenant: &TenantId,
        slice: &str,
        from: &str,
        to: &str,
    ) -> Result<Vec<DailyAggregate>, StoreError> {
        let mut out = Vec::new();
        let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
        loop {
            let q = QuerySpec {
                operation: "read analytics days",
                index: None,
                partition: keys::analytics_partition(tenant, slice),
                sort: SortCondition::Between(format!("DAY#{from}"), format!("DAY#{to}")),
            };
            let (items, next) = self.query_page(q, &page).await?;
            out.extend(items.iter().map(aggregate_of));
            match next {
                Some(cursor) => page.cursor = Some(cursor),
                None => return Ok(out),
            }
        }
    }
}
