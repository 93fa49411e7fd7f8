//! A consumer for the local runner's own tests (never deployed): it records every
//! delivery in the table and fails on request, so a test can watch the runner deliver,
//! redeliver and dead-letter, fire schedules and route HTTP requests.
//!
//! SQS record body: `{"id": "...", "fail_times": N}`: the first N deliveries fail.

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_dynamodb::types::AttributeValue;
use baton_aws::batch::{process_batch, BatchOptions, RecordError};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

struct Deps {
    ddb: aws_sdk_dynamodb::Client,
    table: String,
    store: baton_aws::DynamoStore,
}

impl Deps {
    async fn count(&self, id: &str, field: &str) -> Result<u64, String> {
        let out = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .key("PK", AttributeValue::S(format!("PROBE#{id}")))
            .key("SK", AttributeValue::S("PROBE".into()))
            .update_expression("ADD #f :one")
            .expression_attribute_names("#f", field)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        Ok(out
            .attributes
            .and_then(|a| a.get(field).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok()))
            .unwrap_or(0))
    }
}

async fn handle(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let payload = event.payload;
    if payload.get("Records").is_some() {
        let sqs: SqsEvent = serde_json::from_value(payload)?;
        let opts = BatchOptions::new("probe", &deps.store, &baton_domain::SystemClock);
        let (resp, _) = process_batch(sqs, &opts, |record| async move {
            let body: Value = serde_json::from_str(record.body.as_deref().unwrap_or(""))
                .map_err(|e| RecordError::Bad(e.to_string()))?;
            let id = body["id"].as_str().ok_or_else(|| RecordError::Bad("no id".into()))?;
            let deliveries = deps.count(id, "deliveries").await.map_err(RecordError::Transient)?;
            if deliveries <= body["fail_times"].as_u64().unwrap_or(0) {
                return Err(RecordError::Transient(format!(
                    "failing delivery {deliveries} on purpose"
                )));
            }
            deps.count(id, "successes").await.map_err(RecordError::Transient)?;
            Ok(())
        })
        .await;
        return Ok(serde_json::to_value(resp)?);
    }
    if payload.get("source").and_then(Value::as_str) == Some("aws.events") {
        deps.count("schedule", "ticks").await.map_err(Error::from)?;
        return Ok(Value::Null);
    }
    if payload.get("requestContext").is_some() {
        let echo = json!({
            "routeKey": payload["routeKey"],
            "pathParameters": payload["pathParameters"],
            "queryStringParameters": payload["queryStringParameters"],
            "body": payload["body"],
            "contentType": payload["headers"]["content-type"],
        });
        return Ok(
            json!({ "statusCode": 201, "headers": { "content-type": "application/json", "x-probe": "yes" }, "body": echo.to_string() }),
        );
    }
    Err("unknown event".into())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    baton_aws::telemetry::init();
    let sdk = baton_aws::aws_sdk_config().await;
    let table = baton_aws::env_var("TABLE_NAME", "probe table")?;
    let deps = Deps {
        ddb: aws_sdk_dynamodb::Client::new(&sdk),
        store: baton_aws::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table.clone()),
        table,
    };
    lambda_runtime::run(service_fn(|ev| handle(&deps, ev))).await
}
