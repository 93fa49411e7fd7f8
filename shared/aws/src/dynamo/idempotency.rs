use super::{backend, from_item, is_conditional_failure, keys, n, s, to_item, DynamoStore};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use baton_domain::idempotency::{ClaimOutcome, ClaimToken, IdempotencyPolicy, IdempotencyRecord, RecordStatus};
use baton_domain::ports::IdempotencyStore;
use baton_domain::{StoreError, Timestamp};

const RECORD: &str = "idempotency_record";

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn claim(
        &self,
        scope: &str,
        key: &str,
        payload_hash: &str,
        now: Timestamp,
        policy: IdempotencyPolicy,
    ) -> Result<ClaimOutcome, StoreError> {
        let token = ClaimToken::fresh();
        let record = IdempotencyRecord::in_progress(scope, key, payload_hash, &token, now, policy);
        let item = to_item(RECORD, keys::idempotency(scope, key), &record)?;
        // Free if no record exists, the record expired (TTL deletion is lazy), or an
        // in-progress claim was abandoned.
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(PK) OR expires_at < :now_s OR (#st = :inprogress AND in_progress_until < :now_ms)",
            )
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":now_s", n(now.unix_seconds()))
            .expression_attribute_values(":now_ms", n(now.unix_millis()))
            .expression_attribute_values(":inprogress", s("in_progress"))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match res {
            Ok(_) => Ok(ClaimOutcome::Claimed(token)),
            Err(e) if is_conditional_failure(&e) => {
                let existing = match e.as_service_error().and_then(|se| match se {
                    aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
                        c.item.clone()
                    }
                    _ => None,
                }) {
                    Some(item) => Some(item),
                    None => self.get(RECORD, keys::idempotency(scope, key)).await?,
                };
                match existing {
                    Some(item) => {
                        let existing: IdempotencyRecord = from_item(RECORD, item)?;
                        Ok(existing.outcome_for(payload_hash, now))
                    }
                    // Deleted between our write and our read: let the caller retry.
                    None => Ok(ClaimOutcome::InProgress),
                }
            }
            Err(e) => Err(backend("claim idempotency key", e)),
        }
    }

    async fn complete(
        &self,
        scope: &str,
        key: &str,
        token: &ClaimToken,
        response: Option<serde_json::Value>,
        now: Timestamp,
        policy: IdempotencyPolicy,
    ) -> Result<(), StoreError> {
        let Some(item) = self.get(RECORD, keys::idempotency(scope, key)).await? else {
            return Err(StoreError::NotFound { entity: RECORD });
        };
        let mut record: IdempotencyRecord = from_item(RECORD, item)?;
        record.status = RecordStatus::Completed;
        record.response = response;
        record.in_progress_until = None;
        record.expires_at = now.plus(policy.record_ttl).unix_seconds();
        // Only our own claim: one that expired and was taken by another worker is theirs.
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(RECORD, keys::idempotency(scope, key), &record)?))
            .condition_expression("#st = :inprogress AND payload_hash = :h AND #owner = :token")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":inprogress", s("in_progress"))
            .expression_attribute_values(":h", s(record.payload_hash.clone()))
            .expression_attribute_values(":token", s(token.0.clone()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_conditional_failure(&e) => Err(StoreError::Conflict {
                entity: RECORD,
                current_version: None,
            }),
            Err(e) => Err(backend("complete idempotency key", e)),
        }
    }

    async fn release(&self, scope: &str, key: &str, token: &ClaimToken) -> Result<(), StoreError> {
        let k = keys::idempotency(scope, key);
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(keys::PK, s(k.pk))
            .key(keys::SK, s(k.sk))
            .condition_expression("#st = :inprogress AND #owner = :token")
            .expression_attribute_names("#st", "status")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":inprogress", s("in_progress"))
            .expression_attribute_values(":token", s(token.0.clone()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            // Already completed, gone, or another worker's claim now: nothing of ours to give up.
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(backend("release idempotency key", e)),
        }
    }
}
