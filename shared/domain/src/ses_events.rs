//! What SES says happened to a message after it accepted it: bounces, complaints and
//! deliveries, as SES publishes them to SNS (identity notifications, `notificationType`,
//! or configuration-set event publishing, `eventType`; both carry `mail.messageId`).

use serde::Deserialize;

/// One SES notification, reduced to what Baton acts on.
#[derive(Debug, Clone, PartialEq)]
pub struct MailEvent {
    /// The SES message id (`mail.messageId`), from which the Message-ID is made.
    pub ses_message_id: String,
    pub kind: MailEventKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MailEventKind {
    /// A permanent bounce: the address does not take mail (or SES suppresses it). These
    /// addresses are undeliverable.
    HardBounce {
        recipients: Vec<BouncedRecipient>,
    },
    /// A transient bounce (mailbox full, message too large): SES gave up on this message,
    /// the address may work later.
    SoftBounce {
        recipients: Vec<BouncedRecipient>,
    },
    /// The recipient marked the mail as spam.
    Complaint {
        recipients: Vec<String>,
        feedback: Option<String>,
    },
    Delivery,
    /// Anything else (send, open, click, rendering failure…): nothing to do.
    Other(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct BouncedRecipient {
    pub address: String,
    /// `bounceSubType` and the receiving server's diagnostic, for the agent.
    pub reason: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MailEventError {
    #[error("not an SES notification: {0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notification {
    notification_type: Option<String>,
    event_type: Option<String>,
    mail: Mail,
    bounce: Option<Bounce>,
    complaint: Option<Complaint>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Mail {
    message_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounce {
    bounce_type: String,
    #[serde(default)]
    bounce_sub_type: String,
    #[serde(default)]
    bounced_recipients: Vec<Bounced>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bounced {
    email_address: String,
    diagnostic_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complaint {
    #[serde(default)]
    complained_recipients: Vec<Complained>,
    complaint_feedback_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Complained {
    email_address: String,
}

/// Parses the SNS message body SES published.
pub fn parse(message: &str) -> Result<MailEvent, MailEventError> {
    let n: Notification = serde_json::from_str(message).map_err(|e| MailEventError::Invalid(e.to_string()))?;
    let kind_name = n.notification_type.or(n.event_type).unwrap_or_default();
    let kind = match kind_name.as_str() {
        "Bounce" => {
            let b = n
                .bounce
                .ok_or_else(|| MailEventError::Invalid("a bounce without `bounce`".into()))?;
            let recipients = b
                .bounced_recipients
                .into_iter()
                .map(|r| BouncedRecipient {
                    address: r.email_address.trim().to_ascii_lowercase(),
                    reason: match r.diagnostic_code {
                        Some(d) if !d.trim().is_empty() => {
                            format!("{} bounce ({}): {}", b.bounce_type, b.bounce_sub_type, d.trim())
                        }
                        _ => format!("{} bounce ({})", b.bounce_type, b.bounce_sub_type),
                    },
                })
                .collect();
            if b.bounce_type == "Permanent" {
                MailEventKind::HardBounce { recipients }
            } else {
                MailEventKind::SoftBounce { recipients }
            }
        }
        "Complaint" => {
            let c = n
                .complaint
                .ok_or_else(|| MailEventError::Invalid("a complaint without `complaint`".into()))?;
            MailEventKind::Complaint {
                recipients: c
                    .complained_recipients
                    .into_iter()
                    .map(|r| r.email_address.trim().to_ascii_lowercase())
                    .collect(),
                feedback: c.complaint_feedback_type,
            }
        }
        "Delivery" => MailEventKind::Delivery,
        other => MailEventKind::Other(other.to_owned()),
    };
    Ok(MailEvent {
        ses_message_id: n.mail.message_id,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounces_complaints_and_deliveries_are_read_in_both_formats() {
        let hard = r#"{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"General",
            "bouncedRecipients":[{"emailAddress":"Nobody@Example.com","action":"failed","status":"5.1.1",
            "diagnosticCode":"smtp; 550 5.1.1 user unknown"}],"timestamp":"2026-12-01T10:00:00.000Z","feedbackId":"x"},
            "mail":{"timestamp":"2026-12-01T09:59:59.000Z","source":"support@baton.local","messageId":"0100018c-abc","destination":["nobody@example.com"]}}"#;
        let e = parse(hard).unwrap();
        assert_eq!(e.ses_message_id, "0100018c-abc");
        assert_eq!(
            e.kind,
            MailEventKind::HardBounce {
                recipients: vec![BouncedRecipient {
                    address: "nobody@example.com".into(),
                    reason: "Permanent bounce (General): smtp; 550 5.1.1 user unknown".into()
                }]
            }
        );
        let soft = r#"{"eventType":"Bounce","bounce":{"bounceType":"Transient","bounceSubType":"MailboxFull","bouncedRecipients":[{"emailAddress":"a@x.example"}]},"mail":{"messageId":"m2"}}"#;
        assert!(matches!(parse(soft).unwrap().kind, MailEventKind::SoftBounce { .. }));
        let complaint = r#"{"notificationType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"b@x.example"}],"complaintFeedbackType":"abuse"},"mail":{"messageId":"m3"}}"#;
        assert_eq!(
            parse(complaint).unwrap().kind,
            MailEventKind::Complaint {
                recipients: vec!["b@x.example".into()],
                feedback: Some("abuse".into())
            }
        );
        let delivery = r#"{"eventType":"Delivery","delivery":{},"mail":{"messageId":"m4"}}"#;
        assert_eq!(parse(delivery).unwrap().kind, MailEventKind::Delivery);
        assert!(parse("{}").is_err());
        assert!(parse(r#"{"notificationType":"Bounce","mail":{"messageId":"m"}}"#).is_err());
    }
}
