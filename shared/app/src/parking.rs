//! Parked records, for operators: a record a consumer could never process is kept with
//! its reason (see `baton_aws::batch`); once the cause is fixed (a tenant created, a bug
//! deployed away), replaying puts it back on its queue, in its FIFO group, and forgets
//! the parked copy. A record that still cannot succeed is simply parked again.

use baton_domain::ports::{Page, PageRequest, ParkedRecord, ParkingStore, Queue, QueueMessage};
use baton_domain::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("queue: {0}")]
    Queue(#[from] baton_domain::ports::QueueError),
}

/// Every parked record of `consumer`, oldest first.
pub async fn list(store: &dyn ParkingStore, consumer: &str) -> Result<Vec<ParkedRecord>, StoreError> {
    let mut all = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let Page { items, next_cursor } = store.list_parked(consumer, &page).await?;
        all.extend(items);
        match next_cursor {
            Some(c) => page.cursor = Some(c),
            None => return Ok(all),
        }
    }
}

/// Puts `consumer`'s parked records (only `message_id`'s, if given) back on `queue` and
/// forgets them. Returns how many were replayed.
pub async fn replay(
    store: &dyn ParkingStore,
    queue: &dyn Queue,
    consumer: &str,
    message_id: Option<&str>,
) -> Result<usize, ReplayError> {
    replay_where(store, queue, consumer, &|r| {
        message_id.is_none_or(|id| id == r.message_id)
    })
    .await
}

/// Puts the parked records of `consumer` that `wanted` picks back on `queue`.
pub async fn replay_where(
    store: &dyn ParkingStore,
    queue: &dyn Queue,
    consumer: &str,
    wanted: &(dyn Fn(&ParkedRecord) -> bool + Sync),
) -> Result<usize, ReplayError> {
    let mut replayed = 0;
    for record in list(store, consumer).await? {
        if !wanted(&record) {
            continue;
        }
        // A fresh deduplication id: the original one may still be remembered by the queue.
        let dedup = format!("replay-{}-{}", record.message_id, record.parked_at.unix_millis());
        queue
            .send(QueueMessage {
                body: record.body.clone(),
                group_id: record.group_id.clone().or_else(|| Some(record.message_id.clone())),
                dedup_id: Some(dedup),
                delay_seconds: None,
            })
            .await?;
        store
            .remove_parked(consumer, &record.message_id, record.parked_at)
            .await?;
        tracing::info!(consumer, message_id = %record.message_id, "parked record replayed");
        replayed += 1;
    }
    Ok(replayed)
}
