//! SQS batches with partial failures, poison records parked, and the invocation's deadline
//! kept.
//!
//! Each record is parsed and processed on its own; a failure is reported as that record's
//! `itemIdentifier` in the `SqsBatchResponse` (the event source mapping must enable
//! `ReportBatchItemFailures`), so one bad message never fails or repeats its neighbours.
//!
//! - A record that can never succeed (`RecordError::Bad`) is parked (kept in the table
//!   with its reason, counted in the `ParkedRecords` metric) and acknowledged, so it does
//!   not hold up its FIFO group for the queue's whole redrive policy. If parking fails, it
//!   is failed and retried like a transient error.
//! - A record that may succeed later (`RecordError::Transient`) fails its batch item.
//! - FIFO message groups run concurrently, each group's records in order; once a record
//!   fails, the later records of its group fail unprocessed, so the group is retried in
//!   order.
//! - A record is only started while enough of the invocation's time is left for it to
//!   finish, and one still running when the time is nearly up is abandoned and reported
//!   failed, so the response always gets back to Lambda before the function times out.
//!   Every step is crash-safe, so an abandoned record is retried from wherever it stopped.

use crate::metrics;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use baton_domain::ports::{ParkedRecord, ParkingStore};
use baton_domain::Clock;
use futures::StreamExt;
use std::future::Future;
use std::time::{Duration, SystemTime};

pub use baton_domain::error::RecordError;

/// A record's body as `what`: a record without one, or with one that is not a `T`, can
/// never succeed (parked).
pub fn body<T: serde::de::DeserializeOwned>(record: &SqsMessage, what: &str) -> Result<T, RecordError> {
    let body = record
        .body
        .as_deref()
        .ok_or_else(|| RecordError::Bad("empty body".into()))?;
    serde_json::from_str(body).map_err(|e| RecordError::Bad(format!("not {what}: {e}")))
}

/// How one consumer runs its batches.
pub struct BatchOptions<'a> {
    /// The consumer's name: parked records are kept under it.
    pub consumer: &'static str,
    pub parking: &'a dyn ParkingStore,
    pub clock: &'a dyn Clock,
    /// Message groups handled at once.
    pub concurrency: usize,
    /// When the invocation ends (Lambda's deadline); `None` for no limit.
    pub deadline: Option<SystemTime>,
    /// A record is not started with less time than this left; one still running a
    /// quarter of this before the deadline is abandoned and reported failed.
    pub reserve: Duration,
}

impl<'a> BatchOptions<'a> {
    pub fn new(consumer: &'static str, parking: &'a dyn ParkingStore, clock: &'a dyn Clock) -> Self {
        BatchOptions {
            consumer,
            parking,
            clock,
            concurrency: 10,
            deadline: None,
            reserve: Duration::from_secs(20),
        }
    }

    /// With Lambda's deadline (the context's `deadline`, in epoch milliseconds).
    pub fn deadline_ms(mut self, deadline_ms: u64) -> Self {
        if deadline_ms > 0 {
            self.deadline = Some(SystemTime::UNIX_EPOCH + Duration::from_millis(deadline_ms));
        }
        self
    }

    /// The invocation's time left, when it has a deadline: a use case's claims last no
    /// longer, so a retry after a crash takes over promptly.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
    }
}

/// What became of one record, for tests and logs.
#[derive(Debug, Clone, PartialEq)]
pub enum Fate {
    Done,
    Parked(String),
    Failed(String),
}

#[derive(Debug)]
pub struct RecordOutcome {
    pub message_id: String,
    pub fate: Fate,
}

pub async fn process_batch<F, Fut>(
    event: SqsEvent,
    opts: &BatchOptions<'_>,
    handle: F,
) -> (SqsBatchResponse, Vec<RecordOutcome>)
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), RecordError>>,
{
    // Groups in order of first appearance; records without a group stand alone.
    let mut groups: Vec<(Option<String>, Vec<SqsMessage>)> = Vec::new();
    for record in event.records {
        let group = record.attributes.get("MessageGroupId").cloned();
        match groups.iter_mut().find(|(g, _)| g.is_some() && *g == group) {
            Some((_, records)) => records.push(record),
            None => groups.push((group, vec![record])),
        }
    }
    let handle = &handle;
    let mut per_group: Vec<Vec<RecordOutcome>> = futures::stream::iter(groups)
        .map(|(_, records)| async move {
            let mut outcomes = Vec::with_capacity(records.len());
            let mut blocked: Option<String> = None;
            for record in records {
                let message_id = record.message_id.clone().unwrap_or_default();
                let fate = match &blocked {
                    Some(why) => Fate::Failed(why.clone()),
                    None => run_one(opts, handle, record).await,
                };
                if let Fate::Failed(_) = &fate {
                    blocked.get_or_insert_with(|| "skipped: an earlier message of its group failed".to_owned());
                }
                outcomes.push(RecordOutcome { message_id, fate });
            }
            outcomes
        })
        .buffered(opts.concurrency.max(1))
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    let mut outcomes = Vec::new();
    for o in per_group.drain(..).flatten() {
        if let Fate::Failed(_) = o.fate {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = o.message_id.clone();
            response.batch_item_failures.push(failure);
        }
        outcomes.push(o);
    }
    (response, outcomes)
}

async fn run_one<F, Fut>(opts: &BatchOptions<'_>, handle: &F, record: SqsMessage) -> Fate
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), RecordError>>,
{
    let message_id = record.message_id.clone().unwrap_or_default();
    let receive_count = record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|c| c.parse().ok())
        .unwrap_or(1);
    let group_id = record.attributes.get("MessageGroupId").cloned();
    let body = record.body.clone().unwrap_or_default();
    let result = match opts.remaining() {
        Some(left) if left < opts.reserve => {
            tracing::warn!(message_id = %message_id, left_ms = left.as_millis() as u64, "record not started: the invocation's time is running out");
            return Fate::Failed("not started before the invocation's deadline".into());
        }
        // Stop waiting a quarter of the reserve before the deadline, so the response
        // still reaches Lambda.
        Some(left) => match tokio::time::timeout(left - opts.reserve / 4, handle(record)).await {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!(message_id = %message_id, "record abandoned at the invocation's deadline; it will be retried");
                return Fate::Failed("abandoned at the invocation's deadline".into());
            }
        },
        None => handle(record).await,
    };
    match result {
        Ok(()) => Fate::Done,
        Err(RecordError::Transient(why)) => {
            tracing::warn!(message_id = %message_id, error = %why, "record failed; will retry");
            Fate::Failed(why)
        }
        Err(RecordError::Bad(reason)) => {
            let parked = ParkedRecord {
                consumer: opts.consumer.to_owned(),
                message_id: message_id.clone(),
                body,
                group_id,
                reason: reason.clone(),
                receive_count,
                parked_at: opts.clock.now(),
            };
            match opts.parking.park(&parked).await {
                Ok(()) => {
                    tracing::warn!(message_id = %message_id, consumer = opts.consumer, reason = %reason, "record can never succeed; parked");
                    metrics::count(opts.consumer, "ParkedRecords", 1);
                    Fate::Parked(reason)
                }
                Err(e) => {
                    tracing::error!(message_id = %message_id, error = %e, "parking a bad record failed; it will be retried");
                    Fate::Failed(format!("{reason} (and parking failed: {e})"))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use baton_domain::ports::{Page, PageRequest};
    use baton_domain::{StoreError, SystemClock, Timestamp};
    use std::sync::Mutex;

    #[derive(Default)]
    struct Parked(Mutex<Vec<ParkedRecord>>, bool);

    #[async_trait]
    impl ParkingStore for Parked {
        async fn park(&self, record: &ParkedRecord) -> Result<(), StoreError> {
            if self.1 {
                return Err(StoreError::Backend {
                    kind: baton_domain::error::BackendErrorKind::Unavailable,
                    operation: "park",
                    source: "down".into(),
                });
            }
            self.0.lock().unwrap().push(record.clone());
            Ok(())
        }
        async fn list_parked(&self, _: &str, _: &PageRequest) -> Result<Page<ParkedRecord>, StoreError> {
            unreachable!()
        }
        async fn remove_parked(&self, _: &str, _: &str, _: Timestamp) -> Result<(), StoreError> {
            unreachable!()
        }
    }

    fn event(records: &[(&str, &str, Option<&str>)]) -> SqsEvent {
        let records: Vec<serde_json::Value> = records
            .iter()
            .map(|(id, body, group)| {
                let mut attrs = serde_json::Map::new();
                attrs.insert("ApproximateReceiveCount".into(), "1".into());
                if let Some(g) = group {
                    attrs.insert("MessageGroupId".into(), (*g).into());
                }
                serde_json::json!({
                    "messageId": id, "receiptHandle": "rh", "body": body, "attributes": attrs,
                    "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
    }

    fn failed(resp: &SqsBatchResponse) -> Vec<&str> {
        resp.batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect()
    }

    async fn by_body(m: SqsMessage) -> Result<(), RecordError> {
        match m.body.as_deref() {
            Some("bad") => Err(RecordError::Bad("nope".into())),
            Some("flaky") => Err(RecordError::Transient("later".into())),
            _ => Ok(()),
        }
    }

    #[tokio::test]
    async fn a_bad_record_is_parked_and_acknowledged_and_its_group_goes_on() {
        let parking = Parked::default();
        let opts = BatchOptions::new("test", &parking, &SystemClock);
        let ev = event(&[("1", "bad", Some("g1")), ("2", "ok", Some("g1")), ("3", "ok", None)]);
        let (resp, outcomes) = process_batch(ev, &opts, by_body).await;
        assert!(failed(&resp).is_empty());
        assert_eq!(outcomes[0].fate, Fate::Parked("nope".into()));
        assert_eq!(outcomes[1].fate, Fate::Done);
        let parked = parking.0.lock().unwrap();
        assert_eq!(parked.len(), 1);
        assert_eq!(
            (
                parked[0].message_id.as_str(),
                parked[0].body.as_str(),
                parked[0].group_id.as_deref()
            ),
            ("1", "bad", Some("g1"))
        );
    }

    #[tokio::test]
    async fn a_bad_record_that_cannot_be_parked_is_retried() {
        let parking = Parked(Mutex::default(), true);
        let opts = BatchOptions::new("test", &parking, &SystemClock);
        let (resp, _) = process_batch(event(&[("1", "bad", None), ("2", "ok", None)]), &opts, by_body).await;
        assert_eq!(failed(&resp), vec!["1"]);
    }

    #[tokio::test]
    async fn a_failed_fifo_group_fails_its_later_records_unprocessed() {
        let parking = Parked::default();
        let opts = BatchOptions::new("test", &parking, &SystemClock);
        let seen = Mutex::new(Vec::new());
        let ev = event(&[
            ("1", "flaky", Some("g1")),
            ("2", "ok", Some("g1")),
            ("3", "ok", Some("g2")),
        ]);
        let (resp, _) = process_batch(ev, &opts, |m| {
            seen.lock().unwrap().push(m.message_id.clone().unwrap());
            by_body(m)
        })
        .await;
        assert_eq!(failed(&resp), vec!["1", "2"]);
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert_eq!(seen, vec!["1".to_string(), "3".to_string()]);
    }

    #[tokio::test]
    async fn records_are_not_started_without_the_time_to_finish() {
        let parking = Parked::default();
        let soon = SystemTime::now() + Duration::from_secs(5);
        let ms = soon.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64;
        let opts = BatchOptions::new("test", &parking, &SystemClock).deadline_ms(ms);
        let (resp, _) = process_batch(event(&[("1", "ok", None), ("2", "ok", Some("g"))]), &opts, by_body).await;
        assert_eq!(failed(&resp), vec!["1", "2"]);
    }

    #[tokio::test]
    async fn a_record_still_running_at_the_deadline_is_abandoned_and_reported() {
        let parking = Parked::default();
        let later = SystemTime::now() + Duration::from_millis(1200);
        let ms = later.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_millis() as u64;
        let mut opts = BatchOptions::new("test", &parking, &SystemClock).deadline_ms(ms);
        opts.reserve = Duration::from_millis(400);
        let started = std::time::Instant::now();
        let (resp, outcomes) = process_batch(
            event(&[("1", "slow", None), ("2", "ok", None)]),
            &opts,
            |m| async move {
                if m.body.as_deref() == Some("slow") {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
                Ok(())
            },
        )
        .await;
        assert_eq!(failed(&resp), vec!["1"]);
        assert_eq!(outcomes[1].fate, Fate::Done);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
