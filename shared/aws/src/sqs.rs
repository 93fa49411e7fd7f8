//! The SQS adapter of the `Queue` port.

use crate::config::{env_var, ConfigError};
use crate::sdk_error::classify;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use baton_app::Queues;
use baton_domain::outbox::EffectTarget;
use baton_domain::ports::{Queue, QueueError, QueueMessage};

#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    url: String,
    fifo: bool,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        let url = url.into();
        let fifo = url.ends_with(".fifo");
        SqsQueue { client, url, fifo }
    }

    /// From the environment variable holding the queue URL.
    pub fn from_env(client: Client, var: &'static str) -> Result<Self, ConfigError> {
        Ok(SqsQueue::new(client, env_var(var, "queue URL")?))
    }

    /// The queues a function relays effects to, each from its `*_QUEUE_URL` variable
    /// (`OUTBOUND_`, `ROUTING_`, `EMAIL_`, `NOTIFY_`, `INDEX_`, `ANALYTICS_`); the others stay unset.
    pub fn relay_queues(client: &Client, targets: &[EffectTarget]) -> Result<Queues, ConfigError> {
        let mut queues = Queues::default();
        for target in targets {
            let (slot, var) = match target {
                EffectTarget::Outbound => (&mut queues.outbound, "OUTBOUND_QUEUE_URL"),
                EffectTarget::Routing => (&mut queues.routing, "ROUTING_QUEUE_URL"),
                EffectTarget::Email => (&mut queues.email, "EMAIL_QUEUE_URL"),
                EffectTarget::Notify => (&mut queues.notify, "NOTIFY_QUEUE_URL"),
                EffectTarget::Index => (&mut queues.index, "INDEX_QUEUE_URL"),
                EffectTarget::Analytics => (&mut queues.analytics, "ANALYTICS_QUEUE_URL"),
            };
            *slot = Some(std::sync::Arc::new(SqsQueue::from_env(client.clone(), var)?));
        }
        Ok(queues)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn is_fifo(&self) -> bool {
        self.fifo
    }
}

/// FIFO deduplication ids are at most 128 characters of a restricted alphabet; channel
/// message ids can be longer or contain other characters, so long or unusual ids are
/// replaced by their hash (same id, same hash: deduplication still holds).
pub fn dedup_id(raw: &str) -> String {
    let ok = raw.len() <= 128
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".contains(&b));
    if ok {
        raw.to_owned()
    } else {
        baton_domain::idempotency::payload_hash(raw.as_bytes())
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, message: QueueMessage) -> Result<(), QueueError> {
        let mut req = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(message.body);
        if self.fifo {
            let group = message
                .group_id
                .ok_or(QueueError::Invalid("a FIFO queue needs a message group id"))?;
            let dedup = message
                .dedup_id
                .ok_or(QueueError::Invalid("a FIFO queue needs a deduplication id"))?;
            req = req
                .message_group_id(dedup_id(&group))
                .message_deduplication_id(dedup_id(&dedup));
        } else if let Some(delay) = message.delay_seconds {
            req = req.delay_seconds(delay.min(900) as i32);
        }
        req.send().await.map_err(|e| QueueError::Backend {
            kind: classify(&e),
            source: Box::new(e),
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::dedup_id;

    #[test]
    fn short_plain_ids_are_kept_and_long_ones_hashed() {
        assert_eq!(dedup_id("wamid.HBgL"), "wamid.HBgL");
        let long = "x".repeat(200);
        assert_eq!(dedup_id(&long).len(), 64);
        assert_eq!(dedup_id(&long), dedup_id(&long));
        assert_ne!(dedup_id("a b"), "a b");
    }
}
