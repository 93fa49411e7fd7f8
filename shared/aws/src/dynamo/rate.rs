use super::{backend, is_conditional_failure, n, s, DynamoStore};
use async_trait::async_trait;
use baton_domain::ports::RateLimiter;
use baton_domain::{StoreError, Timestamp};

#[async_trait]
impl RateLimiter for DynamoStore {
    async fn hit(&self, key: &str, now: Timestamp, window_secs: i64, limit: u32) -> Result<bool, StoreError> {
        let window = now.unix_seconds().div_euclid(window_secs.max(1));
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(super::keys::PK, s(format!("RATE#{key}#{window}")))
            .key(super::keys::SK, s("RATE"))
            .update_expression("ADD hits :one SET expires_at = :exp, entity_type = :e")
            .condition_expression("attribute_not_exists(hits) OR hits < :limit")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            // Kept one window past its end, then the table's TTL removes it.
            .expression_attribute_values(":exp", n((window + 2) * window_secs))
            .expression_attribute_values(":e", s("rate_window"))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(backend("rate limit", e)),
        }
    }
}
