//! SQS batches with partial failures.
//!
//! Each record is parsed and processed on its own; a failure is reported as that record's
//! `itemIdentifier` in the `SqsBatchResponse` (the event source mapping must enable
//! `ReportBatchItemFailures`), so one bad message never fails or repeats its neighbours.
//! On FIFO queues, once a record of a message group fails, the later records of that
//! group are failed unprocessed, so the group is retried in order.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use std::collections::HashSet;
use std::future::Future;

/// Why a record was not processed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The record can never succeed (malformed body): retrying is pointless, it will
    /// reach the DLQ after the queue's maxReceiveCount.
    #[error("bad record: {0}")]
    Bad(String),
    /// A dependency failed; a later delivery may succeed.
    #[error("transient failure: {0}")]
    Transient(String),
}

/// The outcome of one record, for tests and logs.
#[derive(Debug)]
pub struct RecordOutcome {
    pub message_id: String,
    pub result: Result<(), String>,
}

pub async fn process_batch<F, Fut>(event: SqsEvent, mut handle: F) -> (SqsBatchResponse, Vec<RecordOutcome>)
where
    F: FnMut(SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), RecordError>>,
{
    let mut response = SqsBatchResponse::default();
    let mut outcomes = Vec::with_capacity(event.records.len());
    let mut failed_groups: HashSet<String> = HashSet::new();
    for record in event.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let group = record.attributes.get("MessageGroupId").cloned();
        let result = if group.as_ref().is_some_and(|g| failed_groups.contains(g)) {
            Err("skipped: an earlier message of its group failed".to_owned())
        } else {
            handle(record).await.map_err(|e| {
                match &e {
                    RecordError::Bad(_) => tracing::warn!(message_id = %message_id, error = %e, "record rejected"),
                    RecordError::Transient(_) => {
                        tracing::warn!(message_id = %message_id, error = %e, "record failed; will retry")
                    }
                }
                e.to_string()
            })
        };
        if result.is_err() {
            if let Some(g) = group {
                failed_groups.insert(g);
            }
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id.clone();
            response.batch_item_failures.push(failure);
        }
        outcomes.push(RecordOutcome { message_id, result });
    }
    (response, outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[tokio::test]
    async fn only_the_bad_record_is_reported() {
        let ev = event(&[("1", "ok", None), ("2", "bad", None), ("3", "ok", None)]);
        let (resp, outcomes) = process_batch(ev, |m| async move {
            if m.body.as_deref() == Some("bad") {
                Err(RecordError::Bad("nope".into()))
            } else {
                Ok(())
            }
        })
        .await;
        let failed: Vec<_> = resp
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, vec!["2"]);
        assert_eq!(outcomes.len(), 3);
    }

    #[tokio::test]
    async fn a_failed_fifo_group_fails_its_later_records_unprocessed() {
        let ev = event(&[
            ("1", "bad", Some("g1")),
            ("2", "ok", Some("g1")),
            ("3", "ok", Some("g2")),
        ]);
        let mut seen = Vec::new();
        let (resp, _) = process_batch(ev, |m| {
            seen.push(m.message_id.clone().unwrap());
            async move {
                if m.body.as_deref() == Some("bad") {
                    Err(RecordError::Transient("x".into()))
                } else {
                    Ok(())
                }
            }
        })
        .await;
        let failed: Vec<_> = resp
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, vec!["1", "2"]);
        assert_eq!(seen, vec!["1".to_string(), "3".to_string()]);
    }
}
