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
use baton_domain::caps;
use baton_domain::channels::{ChannelMessage, ContentKind};
use baton_domain::conversation::{Attachment, Original};
use baton_domain::email::{self, Alias, ParsedEmail};
use baton_domain::intake::EmailDetails;
use baton_domain::ports::{BlobStore, Queue, Store};
use baton_domain::{Channel, Clock, ConversationId, StoreError, SystemClock, TenantId};
use lambda_runtime::LambdaEvent;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// More mail than this from one address in an hour is a loop, not a customer.
pub const MESSAGES_PER_SENDER_PER_HOUR: u32 = 30;

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
    /// The envelope sender (`MAIL FROM`); empty for bounces and other automatic mail.
    source: Option<String>,
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
    let null_sender = ses
        .mail
        .source
        .as_deref()
        .is_some_and(|s| s.trim().trim_matches(|c| c == '<' || c == '>').is_empty());
    let automatic = mail
        .automatic
        .clone()
        .or_else(|| null_sender.then(|| "empty envelope sender".to_owned()));
    if let Some(reason) = &automatic {
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
    // Two auto-responders that slipped past the header checks answer each other for ever;
    // a person does not write this often.
    let rate_key = format!("email-sender:{tenant}:{}", mail.from_address);
    match deps
        .store
        .hit(&rate_key, deps.clock.now(), 3600, MESSAGES_PER_SENDER_PER_HOUR)
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(ses_message_id = %id, "sender over its hourly rate; message kept in S3 only");
            return Ok(ignored("sender rate limit"));
        }
        Err(e) => return Err(transient("sender rate", e)),
    }
    let channel_message_id = mail.message_id.clone().unwrap_or_else(|| format!("ses:{id}"));
    let attachments = store_attachments(deps, &tenant, id, &raw_key, &mail).await?;
    // What the customer wrote (quoted history and signature removed), capped; the whole
    // text goes to S3 beside the raw mail whenever the stored text is not all of it.
    let full = mail.full_text.trim();
    let visible = if mail.new_text.is_empty() {
        full
    } else {
        mail.new_text.as_str()
    };
    let (text, truncated) = caps::cap_text(visible, caps::TEXT_CAP);
    let text = text.to_owned();
    let text_key = if text != full {
        let key = format!("attachments/{tenant}/{id}/full-text.txt");
        deps.mail
            .put(&key, full.as_bytes().to_vec(), "text/plain; charset=utf-8")
            .await
            .map_err(|e| transient("storing the full text", e))?;
        Some(key)
    } else {
        None
    };
    let original = Original {
        text_key,
        text_bytes: full.len() as u64,
        raw_key: Some(raw_key.clone()),
        truncated,
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
        full_text: caps::cap_text(full, caps::TEXT_CAP).0.to_owned(),
        authentication: sender.summary.clone(),
        verified: sender.verified,
        original: Some(original),
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

/// Stores each attachment on its own (as a download, never rendered), up to the count
/// and size caps; the ones past them are listed with the reason and stay in the raw mail.
async fn store_attachments(
    deps: &Deps,
    tenant: &TenantId,
    id: &str,
    raw_key: &str,
    mail: &ParsedEmail,
) -> Result<Vec<Attachment>, Failure> {
    let mut attachments = Vec::new();
    for (i, a) in mail.attachments.iter().enumerate() {
        let omitted = if i >= caps::MAX_ATTACHMENTS {
            Some(format!(
                "more than {} attachments: kept in the original message",
                caps::MAX_ATTACHMENTS
            ))
        } else if a.content.len() > caps::MAX_ATTACHMENT_BYTES {
            Some(format!(
                "larger than {} MiB: kept in the original message",
                caps::MAX_ATTACHMENT_BYTES / (1024 * 1024)
            ))
        } else {
            None
        };
        let key = format!("attachments/{tenant}/{id}/{i}");
        if omitted.is_none() {
            deps.mail
                .put_download(&key, a.content.clone(), a.file_name.as_deref())
                .await
                .map_err(|e| transient("storing attachment", e))?;
        }
        attachments.push(Attachment {
            kind: "file".into(),
            reference: if omitted.is_none() {
                key.clone()
            } else {
                raw_key.to_owned()
            },
            mime_type: Some(a.mime_type.clone()),
            file_name: a.file_name.clone(),
            caption: None,
            size: Some(a.content.len() as u64),
            stored_key: omitted.is_none().then_some(key),
            omitted,
        });
    }
    Ok(attachments)
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
        None => match by_subject_tag(deps, &tenant, mail, verified).await? {
            Some(conversation) => conversation,
            None => ConversationId::generate(),
        },
    };
    Ok(Ok((tenant, into)))
}

/// A message with no known reference whose subject carries a ticket's tag (`[#1234]`,
/// as Baton's replies do): that ticket's conversation, but only for that ticket's own
/// customer, verified by their domain. Anyone can type a tag.
async fn by_subject_tag(
    deps: &Deps,
    tenant: &TenantId,
    mail: &ParsedEmail,
    verified: bool,
) -> Result<Option<ConversationId>, Failure> {
    let Some(number) = baton_domain::mail_out::subject_ticket_tag(&mail.subject) else {
        return Ok(None);
    };
    if !verified {
        return Ok(None);
    }
    match deps.store.get_ticket(tenant, number).await {
        Ok(ticket) if sender_is_participant(deps, tenant, ticket.customer_id, &mail.from_address).await? => {
            Ok(Some(ticket.source.conversation_id))
        }
        Ok(_) | Err(StoreError::NotFound { .. }) => Ok(None),
        Err(e) => Err(transient("ticket lookup", e)),
    }
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
