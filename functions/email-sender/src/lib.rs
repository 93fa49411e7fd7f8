//! E-mail sender: consumes the e-mail FIFO queue (group = conversation). Each record is a
//! reply to an e-mail customer, handed to the use case (`baton_app::email_out`): built as
//! real MIME, sent once through SES `SendRawEmail`, threaded so the customer's answer comes
//! back to the same ticket, and a refusal shown on the ticket. It also consumes the
//! notification queue (agents' notifications and their digests' flushes,
//! `baton_app::notify`) and SES's reports. This crate is the entry point only: it parses
//! records, maps failures (throttling retried, bad records parked) and reads its
//! configuration once.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use baton_app::email_out::{self, EmailPorts, SenderConfig};
use baton_app::mail_events;
use baton_app::notify::{self, NotifyPorts};
use baton_aws::batch::{self, process_batch, BatchOptions};
use baton_domain::mail_out;
use baton_domain::notify::NotifyRecord;
use baton_domain::outbound::OutboundMessage;
use baton_domain::ports::{Mailer, Queue, Store};
use baton_domain::ses_events;
use baton_domain::{Clock, SystemClock};
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The consumer's name for parked records.
pub const CONSUMER: &str = "email-sender";
/// Conversations sent at once in one batch (one conversation's replies in order).
const CONCURRENCY: usize = 10;
/// A record is only started with this much of the invocation left: a few store calls and
/// one SES call.
const RESERVE: Duration = Duration::from_secs(8);

pub struct Deps {
    pub store: Arc<dyn Store>,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
    pub config: SenderConfig,
    /// The notification queue, where digests' flushes are scheduled.
    pub notify_queue: Arc<dyn Queue>,
    /// The agents' inbox, linked from their notifications.
    pub inbox_url: Option<String>,
}

/// A record of either queue: an agent's notification (tagged with `type`), or a reply to
/// a customer.
enum EmailRecord {
    Notify(NotifyRecord),
    Reply(OutboundMessage),
}

fn email_record(
    record: &aws_lambda_events::event::sqs::SqsMessage,
) -> Result<EmailRecord, baton_domain::error::RecordError> {
    let value: Value = batch::body(record, "JSON")?;
    let parsed = if value.get("type").is_some() {
        serde_json::from_value(value).map(EmailRecord::Notify)
    } else {
        serde_json::from_value(value).map(EmailRecord::Reply)
    };
    parsed.map_err(|e| baton_domain::error::RecordError::Bad(format!("not a reply or a notification: {e}")))
}

/// The sender's settings from the environment (`lookup` reads one variable, empty counts
/// as unset); a process without a From address stops at start and names the variables it
/// looked for.
pub fn config_from(
    lookup: impl Fn(&str) -> Option<String>,
    region: Option<&str>,
) -> Result<SenderConfig, baton_aws::ConfigError> {
    let lookup = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let from_address = mail_out::from_address_in(lookup).ok_or(baton_aws::ConfigError::Missing {
        name: "SUPPORT_FROM_EMAIL",
        purpose: "the From address of customer e-mail; FROM_EMAIL and then EMAIL_SENDER are read when it is unset",
    })?;
    let required = |name: &'static str, purpose: &'static str| {
        lookup(name).ok_or(baton_aws::ConfigError::Missing { name, purpose })
    };
    Ok(SenderConfig {
        from_address,
        inbound_domain: required("INBOUND_EMAIL_DOMAIN", "the domain SES receives customers' answers on")?,
        alias_secret: required("EMAIL_ALIAS_SECRET", "the key that signs ticket reply addresses")?,
        region: region.unwrap_or("us-east-1").to_owned(),
    })
}

impl Deps {
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, baton_aws::ConfigError> {
        let config = config_from(|name| std::env::var(name).ok(), sdk.region().map(|r| r.as_ref()))?;
        Ok(Deps {
            store: Arc::new(baton_aws::DynamoStore::from_env(sdk)?),
            mailer: Arc::new(baton_aws::ses::SesMailer::new(
                aws_sdk_ses::Client::new(sdk),
                baton_aws::config::optional_env_var("SES_CONFIGURATION_SET")
                    .or_else(|| baton_aws::config::optional_env_var("SES_DEFAULT_CONFIGURATION_SET")),
            )),
            clock: Arc::new(SystemClock),
            config,
            notify_queue: Arc::new(baton_aws::SqsQueue::from_env(
                aws_sdk_sqs::Client::new(sdk),
                "NOTIFY_QUEUE_URL",
            )?),
            inbox_url: baton_aws::config::optional_env_var("AGENT_INBOX_URL"),
        })
    }
}

/// Two triggers: the e-mail queue (SQS: replies to send; answers `SqsBatchResponse`) and
/// SES's reports through SNS (bounces, complaints, deliveries; answers what each changed).
pub async fn handler(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
    let (payload, context) = event.into_parts();
    if payload["Records"][0]["EventSource"] == "aws:sns" {
        return reports(deps, &payload).await;
    }
    let sqs: SqsEvent = serde_json::from_value(payload)?;
    let response = send(deps, LambdaEvent::new(sqs, context)).await?;
    Ok(serde_json::to_value(response)?)
}

/// SES's reports, one per SNS record. A report that is not SES's is logged and skipped; a
/// store failure fails the invocation, which Lambda retries.
async fn reports(deps: &Deps, payload: &Value) -> Result<Value, lambda_runtime::Error> {
    let mut applied = Vec::new();
    for record in payload["Records"].as_array().into_iter().flatten() {
        let message = record["Sns"]["Message"].as_str().unwrap_or_default();
        match ses_events::parse(message) {
            Ok(event) => {
                let span = tracing::info_span!("ses_report", ses_message_id = %event.ses_message_id);
                let done = tracing::Instrument::instrument(
                    mail_events::apply(deps.store.as_ref(), deps.clock.as_ref(), &event),
                    span,
                )
                .await
                .map_err(|e| lambda_runtime::Error::from(e.to_string()))?;
                applied.push(serde_json::to_value(done)?);
            }
            Err(e) => {
                tracing::warn!(error = %e, "an SNS message that is not an SES report; skipped");
                applied.push(Value::from("skipped"));
            }
        }
    }
    Ok(serde_json::json!({ "applied": applied }))
}

async fn send(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let request_id = event.context.request_id.as_str();
    let opts = BatchOptions {
        concurrency: CONCURRENCY,
        reserve: RESERVE,
        ..BatchOptions::new(CONSUMER, deps.store.as_ref(), deps.clock.as_ref())
    }
    .deadline_ms(event.context.deadline);
    let opts = &opts;
    let ports = EmailPorts {
        store: deps.store.as_ref(),
        mailer: deps.mailer.as_ref(),
        clock: deps.clock.as_ref(),
    };
    let ports = &ports;
    let notify_ports = NotifyPorts {
        store: deps.store.as_ref(),
        mailer: deps.mailer.as_ref(),
        queue: deps.notify_queue.as_ref(),
        clock: deps.clock.as_ref(),
        from_address: &deps.config.from_address,
        message_domain: &deps.config.inbound_domain,
        inbox_url: deps.inbox_url.as_deref(),
    };
    let notify_ports = &notify_ports;
    let (response, _) = process_batch(event.payload, opts, |record| async move {
        let out = match email_record(&record)? {
            EmailRecord::Reply(out) => out,
            EmailRecord::Notify(n) => {
                let (tenant, agent) = match &n {
                    NotifyRecord::Notification(n) => (&n.tenant_id, &n.agent_id),
                    NotifyRecord::Flush { tenant_id, agent_id } => (tenant_id, agent_id),
                };
                let span = tracing::info_span!("notify", request_id = %request_id, tenant = %tenant, agent = %agent);
                return tracing::Instrument::instrument(notify::handle(notify_ports, &n), span)
                    .await
                    .map(|_| ());
            }
        };
        let span = tracing::info_span!(
            "email_sender",
            request_id = %request_id,
            tenant = %out.tenant_id,
            conversation = %out.conversation_id,
            ticket = tracing::field::Empty,
            message = %out.message_id,
        );
        if let Some(n) = out.ticket {
            span.record("ticket", tracing::field::display(n));
        }
        let remaining = opts.remaining();
        tracing::Instrument::instrument(email_out::deliver(ports, &deps.config, &out, remaining), span)
            .await
            .map(|_| ())
    })
    .await;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn the_from_address_falls_back_and_its_absence_is_named() {
        let base = [("INBOUND_EMAIL_DOMAIN", "in.example"), ("EMAIL_ALIAS_SECRET", "s")];
        let with = |extra: &'static [(&'static str, &'static str)]| {
            let all: Vec<(&'static str, &'static str)> = base.iter().chain(extra).copied().collect();
            let all: &'static [(&'static str, &'static str)] = Box::leak(all.into_boxed_slice());
            config_from(lookup(all), Some("eu-west-1"))
        };
        let c = with(&[("EMAIL_SENDER", "c@x.example"), ("FROM_EMAIL", "b@x.example")]).unwrap();
        assert_eq!(
            (c.from_address.as_str(), c.region.as_str()),
            ("b@x.example", "eu-west-1")
        );
        let c = with(&[("SUPPORT_FROM_EMAIL", ""), ("EMAIL_SENDER", "c@x.example")]).unwrap();
        assert_eq!(c.from_address, "c@x.example");
        let err = with(&[]).unwrap_err().to_string();
        for name in ["SUPPORT_FROM_EMAIL", "FROM_EMAIL", "EMAIL_SENDER"] {
            assert!(err.contains(name), "{err}");
        }
        let err = config_from(lookup(&[("FROM_EMAIL", "b@x.example")]), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("INBOUND_EMAIL_DOMAIN"), "{err}");
    }
}
