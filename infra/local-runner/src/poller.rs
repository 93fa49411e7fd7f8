//! The local event source mapping: polls a queue, invokes the function with a real
//! `SqsEvent`, and deletes what succeeded. Failed records are left alone, so SQS
//! redelivers them after the visibility timeout and its redrive policy moves them to
//! the dead-letter queue after `maxReceiveCount` receives, as in AWS.

use crate::lambda_host::FunctionHost;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use axum::body::Bytes;
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::time::Duration;

pub struct PollerSpec {
    pub function: FunctionHost,
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: u32,
    pub report_batch_item_failures: bool,
}

pub async fn run(sqs: aws_sdk_sqs::Client, spec: PollerSpec) {
    loop {
        match poll_once(&sqs, &spec).await {
            Ok(0) => {}
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(queue = %spec.queue_url, error = %e, "poll failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// One receive-invoke-delete round; returns how many messages it saw.
pub async fn poll_once(
    sqs: &aws_sdk_sqs::Client,
    spec: &PollerSpec,
) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let out = sqs
        .receive_message()
        .queue_url(&spec.queue_url)
        .max_number_of_messages(spec.batch_size.clamp(1, 10) as i32)
        .wait_time_seconds(1)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await?;
    let messages = out.messages.unwrap_or_default();
    if messages.is_empty() {
        return Ok(0);
    }
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: Map<String, Value> = m
                .attributes
                .iter()
                .flatten()
                .map(|(k, v)| (k.as_str().to_owned(), Value::String(v.clone())))
                .collect();
            let message_attributes: Map<String, Value> = m
                .message_attributes
                .iter()
                .flatten()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        json!({
                            "stringValue": v.string_value,
                            "dataType": v.data_type,
                            "stringListValues": [],
                            "binaryListValues": [],
                        }),
                    )
                })
                .collect();
            json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": m.md5_of_body,
                "eventSource": "aws:sqs",
                "eventSourceARN": spec.queue_arn,
                "awsRegion": crate::provision::REGION,
            })
        })
        .collect();
    let event = json!({ "Records": records });
    let result = spec.function.invoke(Bytes::from(serde_json::to_vec(&event)?)).await;
    let failed: HashSet<String> = match result {
        Ok(resp) if spec.report_batch_item_failures => {
            let v: Value = serde_json::from_slice(&resp).unwrap_or(Value::Null);
            match v.get("batchItemFailures") {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(|i| i.get("itemIdentifier").and_then(Value::as_str).map(str::to_owned))
                    .collect(),
                // Lambda treats an unparsable partial-batch response as a total failure.
                Some(_) => messages.iter().filter_map(|m| m.message_id.clone()).collect(),
                None => HashSet::new(),
            }
        }
        Ok(_) => HashSet::new(),
        Err(e) => {
            tracing::warn!(function = spec.function.name(), error = %e, "batch failed; messages return after the visibility timeout");
            return Ok(messages.len());
        }
    };
    let entries: Vec<DeleteMessageBatchRequestEntry> = messages
        .iter()
        .enumerate()
        .filter(|(_, m)| !m.message_id.as_ref().is_some_and(|id| failed.contains(id)))
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle.clone()?)
                .build()
                .ok()
        })
        .collect();
    if !entries.is_empty() {
        sqs.delete_message_batch()
            .queue_url(&spec.queue_url)
            .set_entries(Some(entries))
            .send()
            .await?;
    }
    Ok(messages.len())
}
