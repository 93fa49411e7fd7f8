//! The single-table DynamoDB store.
//!
//! One table holds every entity; `keys` builds every key, each item carries
//! `entity_type`, items are mapped with `serde_dynamo`. Creates are conditional on the key
//! not existing, replaces on the stored version, and rules that need uniqueness (a
//! channel endpoint, an identity, a channel message id) write a second item in the same
//! transaction. No request path scans.

pub mod keys;

mod analytics;
mod conversations;
mod customers;
mod directory;
mod email_refs;
mod idempotency;
mod kb;
mod notify;
mod outbox;
mod rate;
mod tenants;
mod tickets;

pub use analytics::aggregate_item;
pub use kb::kb_items;
pub use tickets::ticket_item;

use crate::config::{env_var, ConfigError};
use crate::sdk_error::{classify, classify_cancellation};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use base64::Engine as _;
use baton_domain::error::BackendErrorKind;
use baton_domain::ports::{Page, PageRequest};
use baton_domain::StoreError;
use keys::{Index, Key, ENTITY_TYPE, PK, SK};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

pub type Item = HashMap<String, AttributeValue>;

/// The store: a DynamoDB client and the table's name. Cheap to clone.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    /// From `TABLE_NAME` and the process's one SDK configuration.
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let table = env_var("TABLE_NAME", "the single DynamoDB table")?;
        Ok(DynamoStore::new(Client::new(sdk), table))
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get(&self, entity: &'static str, key: Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(key.pk))
            .key(SK, s(key.sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| backend(entity, e))?;
        Ok(out.item)
    }

    async fn get_optional_as<T: DeserializeOwned>(
        &self,
        entity: &'static str,
        key: Key,
    ) -> Result<Option<T>, StoreError> {
        match self.get(entity, key).await? {
            Some(item) => Ok(Some(from_item(entity, item)?)),
            None => Ok(None),
        }
    }

    async fn get_as<T: DeserializeOwned>(&self, entity: &'static str, key: Key) -> Result<T, StoreError> {
        match self.get(entity, key).await? {
            Some(item) => from_item(entity, item),
            None => Err(StoreError::NotFound { entity }),
        }
    }

    /// Why a conditional write on `key` was refused: the item is there but changed
    /// (`Conflict`), or it is gone (`NotFound`).
    async fn refused(&self, entity: &'static str, key: Key) -> StoreError {
        match self.get(entity, key).await {
            Ok(Some(_)) => StoreError::Conflict {
                entity,
                current_version: None,
            },
            Ok(None) => StoreError::NotFound { entity },
            Err(e) => e,
        }
    }

    /// Deletes an item, there or not.
    async fn delete(&self, operation: &'static str, key: Key) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(key.pk))
            .key(SK, s(key.sk))
            .send()
            .await
            .map_err(|e| backend(operation, e))?;
        Ok(())
    }

    /// Puts an item only if its key is free.
    async fn put_new(&self, entity: &'static str, item: Item) -> Result<(), StoreError> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Err(StoreError::AlreadyExists { entity }),
            Err(e) => Err(backend(entity, e)),
        }
    }

    async fn transact(&self, operation: &'static str, items: Vec<TransactWriteItem>) -> Result<(), TransactFailure> {
        let res = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), TransactWriteItemsError::TransactionCanceledException(_)) =>
            {
                let reasons = match e.err() {
                    TransactWriteItemsError::TransactionCanceledException(c) => c.cancellation_reasons().to_vec(),
                    _ => Vec::new(),
                };
                if reasons.iter().any(|r| r.code() == Some("ConditionalCheckFailed")) {
                    Err(TransactFailure::Conditions(reasons))
                } else {
                    // Nothing was written: contention and throttling are worth a retry,
                    // anything else never passes.
                    let kind = classify_cancellation(reasons.iter().filter_map(|r| r.code()));
                    Err(TransactFailure::Store(StoreError::Backend {
                        kind,
                        operation,
                        source: Box::new(SdkError::ServiceError(e)),
                    }))
                }
            }
            Err(e) => Err(TransactFailure::Store(backend(operation, e))),
        }
    }

    /// One page of a Query, in sort-key order.
    async fn query_page(
        &self,
        q: QuerySpec<'_>,
        page: &PageRequest,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let (pk_attr, sk_attr, index_name) = match q.index {
            Some(ix) => (ix.pk, ix.sk, Some(ix.name)),
            None => (PK, SK, None),
        };
        let mut req = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index_name.map(str::to_owned))
            .expression_attribute_names("#pk", pk_attr)
            .expression_attribute_values(":pk", s(q.partition.clone()))
            .limit(page.effective_limit() as i32);
        let condition = match &q.sort {
            SortCondition::Any => "#pk = :pk",
            SortCondition::BeginsWith(p) => {
                req = req
                    .expression_attribute_names("#sk", sk_attr)
                    .expression_attribute_values(":sk", s(p.clone()));
                "#pk = :pk AND begins_with(#sk, :sk)"
            }
            SortCondition::After(a) => {
                req = req
                    .expression_attribute_names("#sk", sk_attr)
                    .expression_attribute_values(":sk", s(a.clone()));
                "#pk = :pk AND #sk > :sk"
            }
            SortCondition::AtMost(u) => {
                req = req
                    .expression_attribute_names("#sk", sk_attr)
                    .expression_attribute_values(":sk", s(u.clone()));
                "#pk = :pk AND #sk <= :sk"
            }
            SortCondition::Between(a, b) => {
                req = req
                    .expression_attribute_names("#sk", sk_attr)
                    .expression_attribute_values(":sk", s(a.clone()))
                    .expression_attribute_values(":sk2", s(b.clone()));
                "#pk = :pk AND #sk BETWEEN :sk AND :sk2"
            }
        };
        req = req.key_condition_expression(condition);
        if index_name.is_none() {
            req = req.consistent_read(true);
        }
        if let Some(cursor) = &page.cursor {
            let start = decode_cursor(cursor, pk_attr, &q.partition, &[PK, SK, pk_attr, sk_attr])?;
            req = req.set_exclusive_start_key(Some(start));
        }
        let out = req.send().await.map_err(|e| backend(q.operation, e))?;
        let next = out.last_evaluated_key.as_ref().map(encode_cursor).transpose()?;
        Ok((out.items.unwrap_or_default(), next))
    }

    async fn query_as<T: DeserializeOwned>(
        &self,
        entity: &'static str,
        q: QuerySpec<'_>,
        page: &PageRequest,
    ) -> Result<Page<T>, StoreError> {
        let (items, next_cursor) = self.query_page(q, page).await?;
        let items = items
            .into_iter()
            .map(|i| from_item(entity, i))
            .collect::<Result<Vec<T>, _>>()?;
        Ok(Page { items, next_cursor })
    }
}

pub(crate) struct QuerySpec<'a> {
    pub operation: &'static str,
    pub index: Option<&'a Index>,
    pub partition: String,
    pub sort: SortCondition,
}

pub(crate) enum SortCondition {
    Any,
    BeginsWith(String),
    AtMost(String),
    After(String),
    Between(String, String),
}

pub(crate) enum TransactFailure {
    /// At least one condition failed; the reasons are in request order.
    Conditions(Vec<CancellationReason>),
    Store(StoreError),
}

impl TransactFailure {
    /// Whether the condition on the `i`-th request item failed.
    pub(crate) fn failed_at(&self, i: usize) -> bool {
        match self {
            TransactFailure::Conditions(r) => r.get(i).and_then(|r| r.code()) == Some("ConditionalCheckFailed"),
            TransactFailure::Store(_) => false,
        }
    }
}

/// A transaction item that creates `item` only if its key is free.
pub(crate) fn put_new_in_transaction(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    let put = aws_sdk_dynamodb::types::Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(PK)")
        .build()
        .map_err(backend_build)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// A transaction item that replaces `item` if its stored version is `expected`, writing
/// version `expected + 1`.
pub(crate) fn versioned_put_in_transaction(
    table: &str,
    mut item: Item,
    expected: u64,
) -> Result<TransactWriteItem, StoreError> {
    item.insert("version".into(), n(expected + 1));
    let put = aws_sdk_dynamodb::types::Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_exists(PK) AND version = :expected")
        .expression_attribute_values(":expected", n(expected))
        .build()
        .map_err(backend_build)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// A request the SDK's builder refused: a bug in how Baton builds it.
pub(crate) fn backend_build(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::Backend {
        kind: BackendErrorKind::Rejected,
        operation: "build request",
        source: Box::new(e),
    }
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Serialises an entity and adds its key and `entity_type`.
pub(crate) fn to_item<T: Serialize>(entity: &'static str, key: Key, value: &T) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(value).map_err(|e| StoreError::Backend {
        kind: BackendErrorKind::Corrupt,
        operation: entity,
        source: Box::new(e),
    })?;
    item.insert(PK.to_owned(), s(key.pk));
    item.insert(SK.to_owned(), s(key.sk));
    item.insert(ENTITY_TYPE.to_owned(), s(entity));
    Ok(item)
}

/// One value as a DynamoDB attribute, for partial updates.
pub(crate) fn attr<T: Serialize + ?Sized>(value: &T) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(value).map_err(|e| StoreError::Backend {
        kind: BackendErrorKind::Corrupt,
        operation: "encode attribute",
        source: Box::new(e),
    })
}

pub(crate) fn from_item<T: DeserializeOwned>(entity: &'static str, item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Backend {
        kind: BackendErrorKind::Corrupt,
        operation: entity,
        source: Box::new(e),
    })
}

pub(crate) fn backend<E, R>(operation: &'static str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::Backend {
        kind: classify(&err),
        operation,
        source: Box::new(err),
    }
}

/// A failed `ConditionExpression` on a single-item write.
pub(crate) fn is_conditional_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    matches!(err, SdkError::ServiceError(e) if e.err().code() == Some("ConditionalCheckFailedException"))
}

/// Cursors are the query's `LastEvaluatedKey`, base64url-encoded. Opaque to clients, and
/// checked on the way back in: a cursor must belong to the same partition, so a client
/// cannot page into another tenant's items by editing it.
fn encode_cursor(key: &Item) -> Result<String, StoreError> {
    let mut plain = BTreeMap::new();
    for (k, v) in key {
        match v {
            AttributeValue::S(text) => {
                plain.insert(k.clone(), text.clone());
            }
            _ => {
                return Err(StoreError::Invalid {
                    field: "cursor",
                    reason: format!("non-string key attribute {k}"),
                })
            }
        }
    }
    let json = serde_json::to_vec(&plain).expect("a map of strings serialises");
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
}

fn decode_cursor(cursor: &str, pk_attr: &str, partition: &str, allowed: &[&str]) -> Result<Item, StoreError> {
    let invalid = |reason: &str| StoreError::Invalid {
        field: "cursor",
        reason: reason.to_owned(),
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .map_err(|_| invalid("not a cursor from this API"))?;
    let plain: BTreeMap<String, String> =
        serde_json::from_slice(&bytes).map_err(|_| invalid("not a cursor from this API"))?;
    if plain.get(pk_attr).map(String::as_str) != Some(partition) {
        return Err(invalid("cursor belongs to a different listing"));
    }
    if plain.keys().any(|k| !allowed.contains(&k.as_str())) {
        return Err(invalid("cursor belongs to a different listing"));
    }
    Ok(plain.into_iter().map(|(k, v)| (k, s(v))).collect())
}

impl DynamoStore {
    /// Reads the stored `version` of an item after a lost optimistic-locking race, so the
    /// caller can report what it now is.
    async fn conflict_or_missing(&self, entity: &'static str, key: Key) -> StoreError {
        match self.get(entity, key).await {
            Ok(Some(item)) => StoreError::Conflict {
                entity,
                current_version: version_of(&item),
            },
            Ok(None) => StoreError::NotFound { entity },
            Err(e) => e,
        }
    }

    /// Sets attributes on an item that must already exist (a missing one is `NotFound`),
    /// leaving every other attribute as it is.
    async fn set_on_existing(
        &self,
        entity: &'static str,
        key: Key,
        values: Vec<(&'static str, AttributeValue)>,
    ) -> Result<(), StoreError> {
        self.set_within(entity, key, &[], values).await
    }

    /// Sets attributes of the map at document path `within` (`[]`: the item itself) of an
    /// item; the item and that map must exist, else `NotFound`. Every other attribute
    /// stays as it is.
    async fn set_within(
        &self,
        entity: &'static str,
        key: Key,
        within: &[PathPart],
        values: Vec<(&'static str, AttributeValue)>,
    ) -> Result<(), StoreError> {
        let mut path = String::new();
        let mut names: Vec<(String, &'static str)> = Vec::new();
        for (i, part) in within.iter().enumerate() {
            match part {
                PathPart::Attr(name) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(&format!("#p{i}"));
                    names.push((format!("#p{i}"), name));
                }
                PathPart::Index(n) => path.push_str(&format!("[{n}]")),
            }
        }
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}.")
        };
        let sets: Vec<String> = (0..values.len()).map(|i| format!("{prefix}#a{i} = :v{i}")).collect();
        let exists = if path.is_empty() { "PK".to_owned() } else { path };
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(key.pk))
            .key(SK, s(key.sk))
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression(format!("attribute_exists({exists})"));
        for (placeholder, name) in names {
            req = req.expression_attribute_names(placeholder, name);
        }
        for (i, (name, value)) in values.into_iter().enumerate() {
            req = req
                .expression_attribute_names(format!("#a{i}"), name)
                .expression_attribute_values(format!(":v{i}"), value);
        }
        match req.send().await {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Err(StoreError::NotFound { entity }),
            Err(e) => Err(backend(entity, e)),
        }
    }

    /// Replaces an item if its stored version is `expected`; the new item carries
    /// `expected + 1`, which is returned.
    async fn replace_versioned(
        &self,
        entity: &'static str,
        key: Key,
        mut item: Item,
        expected: u64,
    ) -> Result<u64, StoreError> {
        let next = expected + 1;
        item.insert("version".into(), n(next));
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_exists(PK) AND version = :expected")
            .expression_attribute_values(":expected", n(expected))
            .send()
            .await;
        match res {
            Ok(_) => Ok(next),
            Err(e) if is_conditional_failure(&e) => Err(self.conflict_or_missing(entity, key).await),
            Err(e) => Err(backend(entity, e)),
        }
    }
}

pub(crate) fn version_of(item: &Item) -> Option<u64> {
    number_attr(item, "version")
}

/// A whole-number attribute of an item.
pub(crate) fn number_attr(item: &Item, name: &str) -> Option<u64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

/// One step of a document path inside an item: a map attribute or a list element.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PathPart {
    Attr(&'static str),
    Index(usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_within_its_partition() {
        let mut key = Item::new();
        key.insert("PK".into(), s("TENANT#a"));
        key.insert("SK".into(), s("AGENT#x"));
        let c = encode_cursor(&key).unwrap();
        let back = decode_cursor(&c, "PK", "TENANT#a", &["PK", "SK"]).unwrap();
        assert_eq!(back, key);
    }

    #[test]
    fn cursor_from_another_partition_is_refused() {
        let mut key = Item::new();
        key.insert("PK".into(), s("TENANT#b"));
        key.insert("SK".into(), s("AGENT#x"));
        let c = encode_cursor(&key).unwrap();
        assert!(matches!(
            decode_cursor(&c, "PK", "TENANT#a", &["PK", "SK"]),
            Err(StoreError::Invalid { field: "cursor", .. })
        ));
        assert!(decode_cursor("!!!", "PK", "TENANT#a", &["PK", "SK"]).is_err());
    }
}
