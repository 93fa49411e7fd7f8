//! Inbound e-mail: MIME parsing (Stalwart's `mail-parser`), the address aliases that route
//! mail to a tenant or a ticket, signed ticket aliases, auto-reply detection, and
//! stripping quoted history and signatures so the stored text is what the customer just
//! wrote.

use crate::{caps, TenantId, TicketNumber};
use hmac::{Hmac, Mac};
use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Raw messages larger than this are not parsed (SES accepts up to 40 MB into S3).
pub const MAX_RAW_BYTES: usize = 30 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct ParsedEmail {
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub subject: String,
    pub from_address: String,
    pub from_name: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// The whole text body (HTML converted to text when there is no plain part).
    pub full_text: String,
    /// What the sender just wrote: quoted history and signature removed.
    pub new_text: String,
    pub attachments: Vec<EmailAttachment>,
    /// Why this is an automatic message (auto-reply, bounce, bulk), if it is one.
    pub automatic: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmailAttachment {
    pub file_name: Option<String>,
    pub mime_type: String,
    pub content: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("message is larger than {MAX_RAW_BYTES} bytes")]
    TooLarge,
    #[error("not a parsable MIME message")]
    Unparsable,
    #[error("message has no usable From address")]
    NoSender,
}

fn first_address(a: Option<&Address<'_>>) -> Option<(String, Option<String>)> {
    let addr = a?.first()?;
    let email = addr.address.as_ref()?.trim().to_ascii_lowercase();
    if email.is_empty() || !email.contains('@') {
        return None;
    }
    let name = addr
        .name
        .as_ref()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty());
    Some((email, name))
}

/// Message ids of a header, without angle brackets; over-long ones are dropped and only
/// the newest [`caps::MAX_REFERENCES`] are kept.
fn ids(v: &HeaderValue<'_>) -> Vec<String> {
    let all: Vec<&str> = match v {
        HeaderValue::Text(t) => vec![t.as_ref()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.as_ref()).collect(),
        _ => vec![],
    };
    let skip = all.len().saturating_sub(caps::MAX_REFERENCES);
    all[skip..].iter().filter_map(|t| message_id(t)).collect()
}

fn message_id(raw: &str) -> Option<String> {
    let id = raw.trim().trim_matches(|c| c == '<' || c == '>');
    (!id.is_empty() && id.len() <= caps::MAX_MESSAGE_ID_LEN).then(|| id.to_owned())
}

pub fn parse(raw: &[u8]) -> Result<ParsedEmail, EmailError> {
    if raw.len() > MAX_RAW_BYTES {
        return Err(EmailError::TooLarge);
    }
    let msg = MessageParser::default().parse(raw).ok_or(EmailError::Unparsable)?;
    // A parse that found no headers at all is not mail.
    if msg.headers().is_empty() {
        return Err(EmailError::Unparsable);
    }
    let (from_address, from_name) = first_address(msg.from()).ok_or(EmailError::NoSender)?;
    let full_text = msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
    let attachments = msg
        .attachments()
        .map(|a| EmailAttachment {
            file_name: a.attachment_name().map(str::to_owned),
            mime_type: a
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub),
                    None => ct.ctype().to_owned(),
                })
                .unwrap_or_else(|| "application/octet-stream".into()),
            content: a.contents().to_vec(),
        })
        .collect();
    let automatic = automatic_reason(&msg, &from_address);
    Ok(ParsedEmail {
        message_id: msg.message_id().and_then(message_id),
        subject: msg.subject().unwrap_or_default().trim().to_owned(),
        from_address,
        from_name,
        in_reply_to: ids(msg.in_reply_to()),
        references: ids(msg.references()),
        new_text: crate::quoted::visible_text(&full_text),
        full_text,
        attachments,
        automatic,
    })
}

fn header_text(msg: &mail_parser::Message<'_>, name: &str) -> Option<String> {
    msg.header(name)
        .and_then(|h| h.as_text())
        .map(|s| s.trim().to_ascii_lowercase())
}

/// RFC 3834 `Auto-Submitted`, `Precedence: bulk|junk|list`, the common vendor auto-reply
/// headers, delivery-status reports and mailer-daemon senders: none of these may open a
/// ticket, and answering them would start a mail loop.
fn automatic_reason(msg: &mail_parser::Message<'_>, from: &str) -> Option<String> {
    if let Some(v) = header_text(msg, "Auto-Submitted") {
        if v != "no" {
            return Some(format!("Auto-Submitted: {v}"));
        }
    }
    if let Some(v) = header_text(msg, "Precedence") {
        if matches!(v.as_str(), "bulk" | "junk" | "list" | "auto_reply") {
            return Some(format!("Precedence: {v}"));
        }
    }
    for h in [
        "X-Autoreply",
        "X-Autorespond",
        "X-Auto-Response-Suppress-Reply",
        "X-Loop",
    ] {
        if msg.header(h).is_some() {
            return Some(h.to_owned());
        }
    }
    // Exchange marks the mail it generates (out-of-office, receipts) this way: answering
    // it would start a loop. A person's client never sends it.
    if let Some(v) = header_text(msg, "X-Auto-Response-Suppress") {
        if !v.is_empty() && v != "none" {
            return Some(format!("X-Auto-Response-Suppress: {v}"));
        }
    }
    // Mailing lists and newsletters.
    for h in ["List-Id", "List-Unsubscribe"] {
        if msg.header(h).is_some() {
            return Some(h.to_owned());
        }
    }
    // An empty envelope sender (`Return-Path: <>`) is how bounces and other automatic
    // mail say "do not answer".
    if let Some(rp) = msg.header("Return-Path") {
        let empty = match rp {
            HeaderValue::Address(a) => a
                .first()
                .and_then(|a| a.address.as_ref())
                .is_none_or(|a| a.trim().is_empty()),
            HeaderValue::Text(t) => t.trim().trim_matches(|c| c == '<' || c == '>').trim().is_empty(),
            HeaderValue::Empty => true,
            _ => false,
        };
        if empty {
            return Some("empty envelope sender".into());
        }
    }
    if let Some(ct) = msg.content_type() {
        if ct.ctype().eq_ignore_ascii_case("multipart")
            && ct.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"))
        {
            return Some("delivery-status report".into());
        }
    }
    let local = from.split('@').next().unwrap_or("");
    if matches!(
        local,
        "mailer-daemon" | "postmaster" | "noreply" | "no-reply" | "donotreply"
    ) {
        return Some(format!("sender {local}"));
    }
    None
}

/// What SES's receipt verdicts say about who sent a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderAuth {
    /// The sender's domain vouched for the message: DMARC passed, or (with no DMARC
    /// verdict to go by) SPF or DKIM passed. Only a verified sender may join an existing
    /// conversation.
    pub verified: bool,
    /// Set when the message must be quarantined: DMARC failed and the sender's domain
    /// asks receivers to reject or quarantine such mail.
    pub quarantine: Option<String>,
    /// The verdicts in one line, kept with the message (`spf=PASS dkim=PASS dmarc=PASS`).
    pub summary: String,
}

/// Reads SES's SPF, DKIM and DMARC verdicts (`PASS`, `FAIL`, `GRAY`,
/// `PROCESSING_FAILED`, `DISABLED`) and the sender domain's DMARC policy.
pub fn authenticate_sender(
    spf: Option<&str>,
    dkim: Option<&str>,
    dmarc: Option<&str>,
    dmarc_policy: Option<&str>,
) -> SenderAuth {
    let is = |v: Option<&str>, want: &str| v.is_some_and(|v| v.eq_ignore_ascii_case(want));
    let policy = dmarc_policy.map(str::to_ascii_lowercase);
    let quarantine = match policy.as_deref() {
        Some(p @ ("reject" | "quarantine")) if is(dmarc, "FAIL") => {
            Some(format!("DMARC failed and the sender's domain asks to {p} such mail"))
        }
        _ => None,
    };
    let verified = is(dmarc, "PASS") || (!is(dmarc, "FAIL") && (is(spf, "PASS") || is(dkim, "PASS")));
    let show = |v: Option<&str>| v.unwrap_or("NONE").to_ascii_uppercase();
    let mut summary = format!("spf={} dkim={} dmarc={}", show(spf), show(dkim), show(dmarc));
    if let Some(p) = &policy {
        summary.push_str(&format!(" (policy={p})"));
    }
    SenderAuth {
        verified,
        quarantine,
        summary,
    }
}

/// Where a recipient address sends a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Alias {
    /// `support+{slug}@…`: a tenant's support address.
    Support {
        slug: String,
    },
    /// `ticket+{token}@…`: a reply to a ticket; the token is not verified yet.
    Ticket {
        token: String,
    },
    Other,
}

pub fn parse_alias(address: &str) -> Alias {
    let local = address
        .trim()
        .trim_matches(|c| c == '<' || c == '>')
        .split('@')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    match local.split_once('+') {
        Some(("support", slug)) if !slug.is_empty() => Alias::Support { slug: slug.to_owned() },
        Some(("ticket", token)) if !token.is_empty() => Alias::Ticket {
            token: token.to_owned(),
        },
        _ => Alias::Other,
    }
}

const SIGNATURE_HEX: usize = 20;

fn ticket_mac(secret: &str, tenant: &TenantId, n: TicketNumber) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("ticket-alias:{tenant}:{n}").as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..SIGNATURE_HEX]
        .to_owned()
}

/// The token of a ticket's reply address: `{tenant}.{number}.{80-bit HMAC in hex}`.
/// Lower case only, because mail systems may lower-case local parts.
pub fn ticket_alias_token(secret: &str, tenant: &TenantId, n: TicketNumber) -> String {
    format!("{tenant}.{n}.{}", ticket_mac(secret, tenant, n))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasError {
    #[error("malformed ticket alias")]
    Malformed,
    #[error("ticket alias signature does not match")]
    Forged,
}

pub fn verify_ticket_alias(secret: &str, token: &str) -> Result<(TenantId, TicketNumber), AliasError> {
    let mut parts = token.rsplitn(3, '.');
    let (Some(sig), Some(number), Some(tenant)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(AliasError::Malformed);
    };
    let tenant = TenantId::new(tenant).map_err(|_| AliasError::Malformed)?;
    let number = TicketNumber(number.parse().map_err(|_| AliasError::Malformed)?);
    let expected = ticket_mac(secret, &tenant, number);
    if secret.is_empty() || !bool::from(expected.as_bytes().ct_eq(sig.to_ascii_lowercase().as_bytes())) {
        return Err(AliasError::Forged);
    }
    Ok((tenant, number))
}

#[cfg(test)]
mod sender_tests {
    use super::authenticate_sender;

    #[test]
    fn dmarc_decides_and_a_failing_dmarc_under_reject_or_quarantine_is_quarantined() {
        let pass = authenticate_sender(Some("PASS"), Some("PASS"), Some("PASS"), None);
        assert!(pass.verified && pass.quarantine.is_none());
        assert_eq!(pass.summary, "spf=PASS dkim=PASS dmarc=PASS");
        let spoofed = authenticate_sender(Some("FAIL"), Some("FAIL"), Some("FAIL"), Some("reject"));
        assert!(!spoofed.verified);
        assert!(spoofed.quarantine.unwrap().contains("reject"));
        assert!(
            authenticate_sender(Some("PASS"), None, Some("FAIL"), Some("quarantine"))
                .quarantine
                .is_some()
        );
        // A failing DMARC under a "none" policy is delivered, but never trusted.
        let lax = authenticate_sender(Some("PASS"), Some("PASS"), Some("FAIL"), Some("none"));
        assert!(!lax.verified && lax.quarantine.is_none());
        // No DMARC record: SPF or DKIM alone vouches for the domain.
        assert!(authenticate_sender(Some("PASS"), Some("GRAY"), Some("GRAY"), None).verified);
        assert!(!authenticate_sender(Some("GRAY"), Some("GRAY"), Some("GRAY"), None).verified);
        assert!(!authenticate_sender(None, None, None, None).verified);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_route_support_and_ticket_addresses() {
        assert_eq!(
            parse_alias("support+demo@inbound.baton.local"),
            Alias::Support { slug: "demo".into() }
        );
        assert_eq!(
            parse_alias("<Support+Demo@inbound.baton.local>"),
            Alias::Support { slug: "demo".into() }
        );
        assert_eq!(
            parse_alias("ticket+demo.4.abc@x"),
            Alias::Ticket {
                token: "demo.4.abc".into()
            }
        );
        assert_eq!(parse_alias("hello@x"), Alias::Other);
        assert_eq!(parse_alias("support+@x"), Alias::Other);
    }

    #[test]
    fn ticket_alias_tokens_cannot_be_guessed_or_moved() {
        let demo = TenantId::new("demo").unwrap();
        let token = ticket_alias_token("k", &demo, TicketNumber(42));
        assert_eq!(verify_ticket_alias("k", &token), Ok((demo.clone(), TicketNumber(42))));
        assert_eq!(
            verify_ticket_alias("k", &token.to_ascii_uppercase().replace("DEMO", "demo")),
            Ok((demo.clone(), TicketNumber(42)))
        );
        let moved = token.replace(".42.", ".43.");
        assert_eq!(verify_ticket_alias("k", &moved), Err(AliasError::Forged));
        assert_eq!(verify_ticket_alias("other", &token), Err(AliasError::Forged));
        assert_eq!(verify_ticket_alias("k", "demo.42"), Err(AliasError::Malformed));
        assert_eq!(verify_ticket_alias("k", "demo.x.abc"), Err(AliasError::Malformed));
    }

    #[test]
    fn strips_gmail_outlook_quotes_and_signatures() {
        let gmail = "Yes, the blue one please.\n\nOn Fri, 20 Nov 2026 at 10:02, Demo Shop <support@demo.example> wrote:\n> Which colour?\n";
        assert_eq!(crate::quoted::visible_text(gmail), "Yes, the blue one please.");
        let wrapped = "Thanks!\n\nOn Fri, 20 Nov 2026 at 10:02, Demo Shop\n<support@demo.example> wrote:\n> hi";
        assert_eq!(crate::quoted::visible_text(wrapped), "Thanks!");
        let outlook = "It still does not work.\n\nFrom: Demo Shop <support@demo.example>\nSent: Friday, November 20, 2026 10:02\nTo: me\nSubject: Re: x\n\nold";
        assert_eq!(crate::quoted::visible_text(outlook), "It still does not work.");
        let sig = "Where is my parcel?\n-- \nJane Doe\nACME Corp";
        assert_eq!(crate::quoted::visible_text(sig), "Where is my parcel?");
        assert_eq!(crate::quoted::visible_text("Sure.\n\nSent from my iPhone"), "Sure.");
        assert_eq!(
            crate::quoted::visible_text("Danke!\n\nAm 20.11.2026 um 10:02 schrieb Demo Shop:\n> Hallo"),
            "Danke!"
        );
        assert_eq!(crate::quoted::visible_text("no quote at all"), "no quote at all");
    }

    const MULTIPART: &str = "From: =?UTF-8?Q?Jos=C3=A9_Garc=C3=ADa?= <Jose@Example.com>\r\nTo: support+demo@inbound.baton.local\r\nSubject: =?ISO-8859-1?Q?Pedido_n=FAmero_4411?=\r\nMessage-ID: <CAF=abc123@mail.example.com>\r\nIn-Reply-To: <out-1@baton>\r\nReferences: <root@baton> <out-1@baton>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n--b2\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=BFD=F3nde est=E1 mi pedido?\r\n\r\nOn Fri, 20 Nov 2026, Demo Shop <support@demo.example> wrote:\r\n> Hola\r\n--b2\r\nContent-Type: text/html; charset=UTF-8\r\n\r\n<p>¿Dónde está mi pedido?</p>\r\n--b2--\r\n--b1\r\nContent-Type: application/pdf; name=\"factura.pdf\"\r\nContent-Disposition: attachment; filename=\"factura.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n";

    #[test]
    fn parses_multipart_charsets_encoded_words_and_attachments() {
        let e = parse(MULTIPART.as_bytes()).unwrap();
        assert_eq!(e.from_address, "jose@example.com");
        assert_eq!(e.from_name.as_deref(), Some("José García"));
        assert_eq!(e.subject, "Pedido número 4411");
        assert_eq!(e.message_id.as_deref(), Some("CAF=abc123@mail.example.com"));
        assert_eq!(e.in_reply_to, vec!["out-1@baton".to_string()]);
        assert_eq!(e.references, vec!["root@baton".to_string(), "out-1@baton".to_string()]);
        assert_eq!(e.new_text, "¿Dónde está mi pedido?");
        assert!(e.full_text.contains("> Hola"));
        assert_eq!(e.attachments.len(), 1);
        assert_eq!(e.attachments[0].file_name.as_deref(), Some("factura.pdf"));
        assert_eq!(e.attachments[0].mime_type, "application/pdf");
        assert_eq!(e.attachments[0].content, b"%PDF-1.4\n");
        assert_eq!(e.automatic, None);
    }

    #[test]
    fn html_only_mail_becomes_text() {
        let raw = "From: a@b.example\r\nSubject: hi\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Hello <b>there</b></p><script>alert(1)</script></body></html>\r\n";
        let e = parse(raw.as_bytes()).unwrap();
        assert!(e.new_text.contains("Hello there"), "{:?}", e.new_text);
        assert!(!e.new_text.contains('<'));
    }

    #[test]
    fn auto_replies_bounces_and_bulk_mail_are_recognised() {
        let base = "From: Jane <jane@example.com>\r\nSubject: Out of office\r\n";
        for (header, expect) in [
            ("Auto-Submitted: auto-replied\r\n", "Auto-Submitted"),
            ("Precedence: bulk\r\n", "Precedence"),
            ("X-Autoreply: yes\r\n", "X-Autoreply"),
            ("X-Auto-Response-Suppress: All\r\n", "X-Auto-Response-Suppress"),
            ("List-Id: <news.example.com>\r\n", "List-Id"),
            ("List-Unsubscribe: <mailto:unsub@example.com>\r\n", "List-Unsubscribe"),
            ("X-Loop: support@example.com\r\n", "X-Loop"),
            ("Return-Path: <>\r\n", "envelope"),
        ] {
            let raw = format!("{base}{header}\r\nI am away.\r\n");
            assert!(parse(raw.as_bytes()).unwrap().automatic.unwrap().contains(expect));
        }
        let no = format!("{base}Auto-Submitted: no\r\nReturn-Path: <jane@example.com>\r\n\r\nhello\r\n");
        assert_eq!(parse(no.as_bytes()).unwrap().automatic, None);
        let dsn = "From: MAILER-DAEMON@mail.example.com\r\nSubject: Undelivered\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--x--\r\n";
        assert!(parse(dsn.as_bytes()).unwrap().automatic.is_some());
    }

    #[test]
    fn message_ids_are_length_checked_and_references_capped() {
        let long = "x".repeat(crate::caps::MAX_MESSAGE_ID_LEN + 1);
        let refs: Vec<String> = (0..500).map(|i| format!("<r{i}@example.com>")).collect();
        let raw = format!(
            "From: a@b.example\r\nMessage-ID: <{long}@b.example>\r\nIn-Reply-To: <{long}@c>\r\nReferences: {}\r\n\r\nhi\r\n",
            refs.join(" ")
        );
        let e = parse(raw.as_bytes()).unwrap();
        assert_eq!(e.message_id, None);
        assert!(e.in_reply_to.is_empty());
        assert_eq!(e.references.len(), crate::caps::MAX_REFERENCES);
        assert_eq!(e.references.last().map(String::as_str), Some("r499@example.com"));
    }

    #[test]
    fn broken_input_is_an_error_not_a_panic() {
        assert_eq!(parse(b""), Err(EmailError::Unparsable));
        assert_eq!(parse(b"Subject: no sender\r\n\r\nbody"), Err(EmailError::NoSender));
        let truncated = &MULTIPART.as_bytes()[..MULTIPART.len() / 2];
        // A truncated message still parses what is there, or fails cleanly.
        let _ = parse(truncated);
        let bad_charset = "From: a@b.example\r\nContent-Type: text/plain; charset=x-unknown-42\r\n\r\nhello\r\n";
        assert!(parse(bad_charset.as_bytes()).unwrap().full_text.contains("hello"));
        assert_eq!(parse(&vec![b'a'; MAX_RAW_BYTES + 1]), Err(EmailError::TooLarge));
    }
}
