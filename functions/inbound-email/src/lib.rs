//! Inbound e-mail, invoked by the SES receipt rule after its S3 action stored the raw
//! message.
//!
//! For each receipt: spam or virus verdict `FAIL` → the raw message is copied to
//! `quarantine/` and nothing else happens. Otherwise the MIME is parsed; auto-replies,
//! bounces and bulk mail stop there (no ticket, no loop). Then the recipients decide:
//! `ticket+{signed token}@…` from the ticket's customer joins that ticket's conversation
//! (a forged token is refused outright); `support+{slug}@…` belongs to that tenant and
//! threads by `In-Reply-To`/`References`, else starts a new conversation. Attachments go to
//! S3 and travel as metadata; the text queued is what the customer just wrote.

use baton_app::intake::{self, IntakeOutcome, IntakePorts};
use baton_aws::S3Bucket;
use baton_domain::channels::{ChannelMessage, ContentKind};
use baton_domain::conversation::Attachment;
use baton_domain::email::{self, Alias, ParsedEmail};
use baton_domain::intake::EmailDetails;
use baton_domain::ports::{BlobStore, Queue, Store};
use baton_domain::{Channel, Clock, ConversationId, StoreError, SystemClock, TenantId};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

pub struct Deps {
    pub store: Arc<dyn Store>,
    pub inbound_queue: Arc<dyn Queue>,
    pub mail: Box<dyn BlobStore>,
    /// Where the receipt rule's S3 action puts raw messages (`inbound/`).
    pub raw_prefix: String,
    pub alias_secret: String,
    pub clock: Box<dyn Clock>,
}

impl Deps {
    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, baton_aws::ConfigError> {
        let bucket = baton_aws::env_var("RAW_MAIL_BUCKET", "the bucket SES stores raw mail in")?;
        Ok(Deps {
            store: Arc::new(baton_aws::DynamoStore::from_env(sdk)?),
            inbound_queue: Arc::new(baton_aws::SqsQueue::from_env(
                aws_sdk_sqs::Client::new(sdk),
                "INBOUND_QUEUE_URL",
            )?),
            mail: Box::new(S3Bucket::new(S3Bucket::client_for(sdk), bucket)),
            raw_prefix: baton_aws::config::optional_env_var("RAW_MAIL_PREFIX").unwrap_or_else(|| "inbound/".into()),
            alias_secret: baton_aws::env_var("EMAIL_ALIAS_SECRET", "the key that signs ticket reply addresses")?,
            clock: Box::new(SystemClock),
        })
    }
}

#[derive(Deserialize)]
struct SesEvent {
    #[serde(rename = "Records", default)]
    records: Vec<SesRecord>,
}

#[derive(Deserialize)]
struct SesRecord {
    ses: Ses,
}

#[derive(Deserialize)]
struct Ses {
    mail: SesMail,
    receipt: SesReceipt,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesMail {
    message_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SesReceipt {
    #[serde(default)]
    recipients: Vec<String>,
    spam_verdict: Option<Verdict>,
    virus_verdict: Option<Verdict>,
    spf_verdict: Option<Verdict>,
    dkim_verdict: Option<Verdict>,
    dmarc_verdict: Option<Verdict>,
    /// `none`, `quarantine` or `reject`: what the sender's domain asks for failing mail.
    dmarc_policy: Option<String>,
}

impl SesReceipt {
    fn sender(&self) -> email::SenderAuth {
        fn status(v: &Option<Verdict>) -> Option<&str> {
            v.as_ref().map(|v| v.status.as_str())
        }
        email::authenticate_sender(
            status(&self.spf_verdict),
            status(&self.dkim_verdict),
            status(&self.dmarc_verdict),
            self.dmarc_policy.as_deref(),
        )
    }
}

#[derive(Deserialize)]
struct Verdict {
    status: String,
}

/// What happened to one received message.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Queued {
        tenant: TenantId,
        conversation: ConversationId,
    },
    Duplicate,
    Quarantined {
        reason: String,
    },
    /// Not for a ticket: auto-reply, unparsable, unknown tenant, forged alias…
    Ignored {
        reason: String,
    },
}

fn ignored(reason: impl Into<String>) -> Outcome {
    Outcome::Ignored { reason: reason.into() }
}

#[derive(Debug)]
pub struct Failure(pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

/// A transient failure fails the invocation, so Lambda's asynchronous retries (and then
/// the function's dead-letter queue) take over; everything else is logged and skipped.
pub async fn handler(deps: &Deps, event: LambdaEvent<Value>) -> Result<Value, Failure> {
    let span = tracing::info_span!("inbound_email", request_id = %event.context.request_id);
    let _enter = span.enter();
    let parsed: SesEvent = match serde_json::from_value(event.payload) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "not an SES receipt event; ignored");
            return Ok(json!({ "disposition": "CONTINUE", "results": [] }));
        }
    };
    drop(_enter);
    let mut results = Vec::new();
    for record in parsed.records {
        let outcome = tracing::Instrument::instrument(process(deps, &record.ses), span.clone()).await?;
        results.push(serde_json::to_value(&outcome).expect("outcome serialises"));
    }
    Ok(json!({ "disposition": "CONTINUE", "results": results }))
}

fn transient(what: &str, e: impl std::fmt::Display) -> Failure {
    tracing::error!(error = %e, "{what} failed");
    Failure(format!("{what}: {e}"))
}

async fn process(deps: &Deps, ses: &Ses) -> Result<Outcome, Failure> {
    let id = &ses.mail.message_id;
    if id.is_empty() || id.contains('/') || id.len() > 256 {
        return Ok(ignored("invalid SES message id"));
    }
    let raw_key = format!("{}{id}", deps.raw_prefix);
    let failed_verdict = [
        ("spam", &ses.receipt.spam_verdict),
        ("virus", &ses.receipt.virus_verdict),
    ]
    .into_iter()
    .find(|(_, v)| v.as_ref().is_some_and(|v| v.status.eq_ignore_ascii_case("FAIL")))
    .map(|(k, _)| k);
    if let Some(kind) = failed_verdict {
        deps.mail
            .copy(&raw_key, &format!("quarantine/{id}"))
            .await
            .map_err(|e| transient("quarantine copy", e))?;
        tracing::warn!(ses_message_id = %id, verdict = kind, "message quarantined");
        return Ok(Outcome::Quarantined {
            reason: format!("{kind} verdict FAIL"),
        });
    }
    let raw = match deps.mail.get(&raw_key, email::MAX_RAW_BYTES).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            tracing::error!(key = %raw_key, "raw message not found in S3");
            return Ok(ignored("raw message missing"));
        }
        Err(baton_domain::ports::BlobError::TooLarge(_)) => return Ok(ignored("message too large")),
        Err(e) => return Err(transient("reading raw message", e)),
    };
    let mail = match email::parse(&raw) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(ses_message_id = %id, error = %e, "unparsable message skipped");
            return Ok(ignored(e.to_string()));
        }
    };
    if let Some(reason) = &mail.automatic {
        tracing::info!(ses_message_id = %id, reason = %reason, "automatic message ignored");
        return Ok(ignored(format!("automatic: {reason}")));
    }
    let sender = ses.receipt.sender();
    if let Some(reason) = &sender.quarantine {
        deps.mail
            .copy(&raw_key, &format!("quarantine/{id}"))
            .await
            .map_err(|e| transient("quarantine copy", e))?;
        tracing::warn!(ses_message_id = %id, authentication = %sender.summary, "spoofed sender quarantined");
        return Ok(Outcome::Quarantined { reason: reason.clone() });
    }
    let (tenant, into) = match route(deps, &ses.receipt.recipients, &mail, sender.verified).await? {
        Ok(target) => target,
        Err(reason) => {
            tracing::warn!(ses_message_id = %id, reason = %reason, "message not routed");
            return Ok(ignored(reason));
        }
    };
    let span = tracing::Span::current();
    span.record("tenant", tracing::field::display(&tenant));
    let channel_message_id = mail.message_id.clone().unwrap_or_else(|| format!("ses:{id}"));
    let mut attachments = Vec::new();
    for (i, a) in mail.attachments.iter().enumerate() {
        let key = format!("attachments/{tenant}/{id}/{i}");
        deps.mail
            .put(&key, a.content.clone(), &a.mime_type)
            .await
            .map_err(|e| transient("storing attachment", e))?;
        attachments.push(Attachment {
            kind: "file".into(),
            reference: key,
            mime_type: Some(a.mime_type.clone()),
            file_name: a.file_name.clone(),
            caption: None,
        });
    }
    let text = if mail.new_text.is_empty() {
        mail.full_text.trim().to_owned()
    } else {
        mail.new_text.clone()
    };
    let message = ChannelMessage {
        channel: Channel::Email,
        account_id: tenant.to_string(),
        sender_id: mail.from_address.clone(),
        sender_name: mail.from_name.clone(),
        channel_message_id: channel_message_id.clone(),
        kind: ContentKind::Email,
        text,
        attachments,
        reply_to: mail.in_reply_to.first().cloned(),
        sent_at: None,
    };
    let details = EmailDetails {
        subject: mail.subject.clone(),
        from_address: mail.from_address.clone(),
        message_id: mail.message_id.clone(),
        in_reply_to: mail.in_reply_to.first().cloned(),
        references: mail.references.clone(),
        raw_s3_key: Some(raw_key),
        full_text: mail.full_text.clone(),
        authentication: sender.summary.clone(),
        verified: sender.verified,
    };
    // The thread reference first (first writer wins): a retry after a crash anywhere
    // later finds this message's own id in `route` and keeps the same conversation.
    deps.store
        .record_email_ref(&tenant, &channel_message_id, into)
        .await
        .map_err(|e| transient("recording the thread", e))?;
    let ports = IntakePorts::new(deps.store.as_ref(), deps.inbound_queue.as_ref(), deps.clock.as_ref());
    match intake::accept(&ports, &tenant, message, Some(details), Some(into)).await {
        Ok(IntakeOutcome::Queued { conversation_id, .. }) => {
            tracing::info!(conversation = %conversation_id, "e-mail queued");
            Ok(Outcome::Queued {
                tenant,
                conversation: conversation_id,
            })
        }
        Ok(IntakeOutcome::Duplicate | IntakeOutcome::ReusedId) => Ok(Outcome::Duplicate),
        Err(e) => Err(transient("intake", e)),
    }
}

/// The tenant and conversation a message belongs to, or why it belongs nowhere.
async fn route(
    deps: &Deps,
    recipients: &[String],
    mail: &ParsedEmail,
    verified: bool,
) -> Result<Result<(TenantId, ConversationId), String>, Failure> {
    let aliases: Vec<Alias> = recipients.iter().map(|r| email::parse_alias(r)).collect();
    let mut tenant: Option<TenantId> = None;
    if let Some(token) = aliases.iter().find_map(|a| match a {
        Alias::Ticket { token } => Some(token),
        _ => None,
    }) {
        let (t, number) = match email::verify_ticket_alias(&deps.alias_secret, token) {
            Ok(v) => v,
            // Someone guessing their way into a ticket: refused, whatever else it is addressed to.
            Err(e) => return Ok(Err(format!("ticket alias refused: {e}"))),
        };
        match deps.store.get_ticket(&t, number).await {
            Ok(ticket) => {
                if verified && sender_is_participant(deps, &t, ticket.customer_id, &mail.from_address).await? {
                    return Ok(Ok((t, ticket.source.conversation_id)));
                }
                tracing::warn!(tenant = %t, ticket = %number, verified, "reply to a ticket alias from someone else or unverified; not joining it");
            }
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(transient("ticket lookup", e)),
        }
        tenant = Some(t);
    }
    if tenant.is_none() {
        for a in &aliases {
            if let Alias::Support { slug } = a {
                match deps.store.resolve_channel(Channel::Email, slug).await {
                    Ok(Some(b)) => {
                        tenant = Some(b.tenant_id);
                        break;
                    }
                    Ok(None) => {}
                    Err(e) => return Err(transient("tenant lookup", e)),
                }
            }
        }
    }
    let Some(tenant) = tenant else {
        return Ok(Err("no recipient is a known support or ticket address".into()));
    };
    // An earlier attempt at this very message recorded its thread under its own id
    // before it crashed: carry on in that conversation (if it exists by now, only as its
    // customer: a forged Message-ID does not open someone else's thread).
    if let Some(own) = &mail.message_id {
        let earlier = deps
            .store
            .find_email_ref(&tenant, std::slice::from_ref(own))
            .await
            .map_err(|e| transient("thread lookup", e))?;
        if let Some(conversation) = earlier {
            if joins(deps, &tenant, conversation, mail, verified, true).await? {
                return Ok(Ok((tenant, conversation)));
            }
        }
    }
    // Then the newest reference: In-Reply-To, then References from the end.
    let mut refs: Vec<String> = mail.in_reply_to.clone();
    refs.extend(mail.references.iter().rev().cloned());
    let existing = deps
        .store
        .find_email_ref(&tenant, &refs)
        .await
        .map_err(|e| transient("thread lookup", e))?;
    let into = match existing {
        Some(conversation) if joins(deps, &tenant, conversation, mail, verified, false).await? => conversation,
        Some(_) => {
            // Holding one Message-ID of someone's thread does not let a stranger into it:
            // they start a conversation of their own.
            tracing::warn!(tenant = %tenant, verified, "a reference to another customer's thread; a new conversation instead");
            ConversationId::generate()
        }
        None => ConversationId::generate(),
    };
    Ok(Ok((tenant, into)))
}

/// Whether this message may join the conversation a reference points at: only that
/// conversation's customer, verified by their domain, may. A conversation that does not
/// exist (yet) is joined only through the message's own id (`own`): its thread reference
/// is written before intake creates the conversation.
async fn joins(
    deps: &Deps,
    tenant: &TenantId,
    conversation: ConversationId,
    mail: &ParsedEmail,
    verified: bool,
    own: bool,
) -> Result<bool, Failure> {
    match deps.store.get_conversation(tenant, conversation).await {
        Ok(c) => Ok(verified && sender_is_participant(deps, tenant, c.customer_id, &mail.from_address).await?),
        Err(StoreError::NotFound { .. }) => Ok(own),
        Err(e) => Err(transient("conversation lookup", e)),
    }
}

async fn sender_is_participant(
    deps: &Deps,
    tenant: &TenantId,
    customer: baton_domain::CustomerId,
    from: &str,
) -> Result<bool, Failure> {
    match deps.store.get_customer(tenant, customer).await {
        Ok(c) => Ok(c.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(from))
            || c.identities
                .iter()
                .any(|i| i.channel == Channel::Email && i.external_id.eq_ignore_ascii_case(from))),
        Err(StoreError::NotFound { .. }) => Ok(false),
        Err(e) => Err(transient("customer lookup", e)),
    }
}

impl From<Failure> for lambda_runtime::Diagnostic {
    fn from(f: Failure) -> Self {
        lambda_runtime::Diagnostic {
            error_type: "TransientFailure".into(),
            error_message: f.0,
        }
    }
}
