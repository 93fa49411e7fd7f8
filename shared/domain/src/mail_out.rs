//! Outgoing e-mail: the MIME document Baton sends a customer (Stalwart's `mail-builder`),
//! its subject, threading headers and reply address, and the Message-ID SES gives it.
//!
//! Nothing here touches the network: the `email-sender` use case gathers the facts
//! (conversation, ticket, tenant) and hands them to [`build`]; the SES adapter sends the
//! bytes.

use crate::{caps, TicketNumber};
use mail_builder::headers::address::Address;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::MessageBuilder;

/// Where the `From:` address comes from, in this order, unless the tenant sets its own.
pub const FROM_ENV_VARS: [&str; 3] = ["SUPPORT_FROM_EMAIL", "FROM_EMAIL", "EMAIL_SENDER"];

/// The sender's default From address from the first of [`FROM_ENV_VARS`] that is set
/// (`lookup` reads one variable); `None` when none is.
pub fn from_address_in(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    FROM_ENV_VARS
        .iter()
        .filter_map(|name| lookup(name))
        .map(|v| v.trim().to_owned())
        .find(|v| !v.is_empty())
}

/// Everything an outgoing message says.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingEmail {
    pub from_name: Option<String>,
    pub from_address: String,
    pub to: String,
    /// The address the customer's answer goes to (`ticket+{token}@…` or `support+{slug}@…`).
    pub reply_to: String,
    pub subject: String,
    /// Baton's own Message-ID (without angle brackets); SES replaces it, so it is also
    /// the last entry of `References`.
    pub message_id: String,
    /// The customer's last message.
    pub in_reply_to: Option<String>,
    /// The thread so far, oldest first (without Baton's own id).
    pub references: Vec<String>,
    pub ticket: Option<TicketNumber>,
    /// Written by a program rather than a person (`Auto-Submitted`).
    pub auto_submitted: Option<AutoSubmitted>,
    pub text: String,
    /// Seconds since the Unix epoch.
    pub date: i64,
}

/// RFC 3834's kinds of mail a program wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoSubmitted {
    /// In answer to a message (the AI's answers, Baton's notices to customers).
    Replied,
    /// On its own (notifications to agents).
    Generated,
}

/// The subject of a reply: `Re: {thread subject} [#{ticket}]`, with earlier `Re:`/`Fwd:`
/// prefixes and ticket tags removed so they never pile up.
pub fn reply_subject(thread: &str, ticket: Option<TicketNumber>) -> String {
    let mut s = thread.trim();
    loop {
        let lower = s.to_ascii_lowercase();
        let stripped = ["re:", "aw:", "sv:", "fw:", "fwd:", "wg:", "tr:"]
            .iter()
            .find(|p| lower.starts_with(*p))
            .map(|p| s[p.len()..].trim_start());
        match stripped {
            Some(rest) => s = rest,
            None => break,
        }
    }
    let mut base = s.to_owned();
    if let Some(n) = ticket {
        let tag = format!("[#{n}]");
        base = base.replace(&tag, "").split_whitespace().collect::<Vec<_>>().join(" ");
        if base.is_empty() {
            return format!("Re: your request {tag}");
        }
        return format!("Re: {base} {tag}");
    }
    if base.is_empty() {
        return "Re: your message".to_owned();
    }
    format!("Re: {base}")
}

/// The ticket a subject names with Baton's tag (`[#1234]`), the last one when there are
/// several.
pub fn subject_ticket_tag(subject: &str) -> Option<TicketNumber> {
    let mut found = None;
    let mut rest = subject;
    while let Some(i) = rest.find("[#") {
        let after = &rest[i + 2..];
        if let Some(end) = after.find(']') {
            if let Ok(n) = after[..end].parse::<u64>() {
                if n > 0 {
                    found = Some(TicketNumber(n));
                }
            }
        }
        rest = after;
    }
    found
}

/// The Message-ID SES puts on a message it sent (it replaces the sender's): the SES
/// message id at `email.amazonses.com` in us-east-1, `{region}.amazonses.com` elsewhere.
pub fn ses_message_id(ses_id: &str, region: &str) -> String {
    if region.is_empty() || region == "us-east-1" {
        format!("{ses_id}@email.amazonses.com")
    } else {
        format!("{ses_id}@{region}.amazonses.com")
    }
}

/// Baton's own Message-ID for an outbound message.
pub fn own_message_id(message_id: &ulid::Ulid, domain: &str) -> String {
    format!("baton.{}@{domain}", message_id.to_string().to_ascii_lowercase())
}

/// The thread's references, oldest first: every id once, capped to the newest
/// [`caps::MAX_REFERENCES`] but always keeping the first (the thread's root).
pub fn thread_references(ids: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for id in ids {
        let id = id.trim().trim_start_matches('<').trim_end_matches('>').to_owned();
        if id.is_empty() || id.len() > caps::MAX_MESSAGE_ID_LEN || out.contains(&id) {
            continue;
        }
        out.push(id);
    }
    if out.len() > caps::MAX_REFERENCES {
        let root = out[0].clone();
        let tail = out.split_off(out.len() - (caps::MAX_REFERENCES - 1));
        out = std::iter::once(root).chain(tail).collect();
    }
    out
}

/// HTML for a plain-text reply: every character escaped, paragraphs and line breaks
/// kept. Nothing a customer or agent typed is ever interpreted as markup.
pub fn html_from_text(text: &str) -> String {
    let mut html = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body style=\"font-family:sans-serif\">",
    );
    for paragraph in text.split("\n\n").map(|p| p.trim_matches('\n')) {
        if paragraph.trim().is_empty() {
            continue;
        }
        html.push_str("<p>");
        for (i, line) in paragraph.lines().enumerate() {
            if i > 0 {
                html.push_str("<br>\n");
            }
            escape_into(line, &mut html);
        }
        html.push_str("</p>\n");
    }
    html.push_str("</body></html>");
    html
}

/// `s` as HTML text (the five special characters escaped).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(s, &mut out);
    out
}

fn escape_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// Header values come from stored data; a line break in one would start a header of its
/// own.
fn one_line(s: &str) -> String {
    s.split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The complete RFC 5322 document: `multipart/alternative` with the text and its HTML
/// rendering, encoded words for non-ASCII names and subjects, lines folded well under
/// 1,000 characters (long body lines travel quoted-printable or base64).
pub fn build(mail: &OutgoingEmail) -> Vec<u8> {
    let from: Address<'_> = match &mail.from_name {
        Some(name) if !one_line(name).is_empty() => (one_line(name), mail.from_address.clone()).into(),
        _ => mail.from_address.clone().into(),
    };
    let mut references = mail.references.clone();
    references.push(mail.message_id.clone());
    let mut builder = MessageBuilder::new()
        .from(from)
        .to(mail.to.clone())
        .reply_to(mail.reply_to.clone())
        .subject(one_line(&mail.subject))
        .message_id(mail.message_id.clone())
        .references(MessageId::new_list(references.into_iter()))
        .date(mail.date);
    if let Some(parent) = &mail.in_reply_to {
        builder = builder.in_reply_to(parent.clone());
    }
    if let Some(n) = mail.ticket {
        builder = builder.header("X-Baton-Ticket", Raw::new(n.to_string()));
    }
    if let Some(kind) = mail.auto_submitted {
        // RFC 3834: mail a program wrote; mail systems that honour it never auto-answer
        // it, so no loop starts.
        let value = match kind {
            AutoSubmitted::Replied => "auto-replied",
            AutoSubmitted::Generated => "auto-generated",
        };
        builder = builder.header("Auto-Submitted", Raw::new(value));
    }
    builder
        .text_body(mail.text.clone())
        .html_body(html_from_text(&mail.text))
        .write_to_vec()
        .expect("writing to a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> OutgoingEmail {
        OutgoingEmail {
            from_name: Some("Zoë's Shop Support".into()),
            from_address: "support@shop.example".into(),
            to: "ana@example.com".into(),
            reply_to: "ticket+demo.7.abcdef@inbound.example.com".into(),
            subject: "Re: Où est ma commande ? [#7]".into(),
            message_id: "baton.01h@inbound.example.com".into(),
            in_reply_to: Some("cust-2@example.com".into()),
            references: vec!["cust-1@example.com".into(), "cust-2@example.com".into()],
            ticket: Some(TicketNumber(7)),
            auto_submitted: None,
            text: "Hello <b>Ana</b> & co,\n\nyour order shipped.\nTracking: 123".into(),
            date: 1_700_000_000,
        }
    }

    #[test]
    fn the_message_parses_back_with_every_header_and_both_parts() {
        let raw = build(&sample());
        let text = String::from_utf8(raw.clone()).unwrap();
        let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(m.subject(), Some("Re: Où est ma commande ? [#7]"));
        let from = m.from().unwrap().first().unwrap();
        assert_eq!(from.name(), Some("Zoë's Shop Support"));
        assert_eq!(from.address(), Some("support@shop.example"));
        assert_eq!(
            m.reply_to().unwrap().first().unwrap().address(),
            Some("ticket+demo.7.abcdef@inbound.example.com")
        );
        assert_eq!(m.in_reply_to().as_text(), Some("cust-2@example.com"));
        let refs: Vec<&str> = m
            .references()
            .as_text_list()
            .unwrap()
            .iter()
            .map(|r| r.as_ref())
            .collect();
        assert_eq!(
            refs,
            [
                "cust-1@example.com",
                "cust-2@example.com",
                "baton.01h@inbound.example.com"
            ]
        );
        assert!(text.contains("X-Baton-Ticket: 7\r\n"));
        assert!(!text.contains("Auto-Submitted"));
        assert_eq!(m.body_text(0).unwrap().replace("\r\n", "\n").trim_end(), sample().text);
        let html = m.body_html(0).unwrap();
        assert!(html.contains("Hello &lt;b&gt;Ana&lt;/b&gt; &amp; co,"), "{html}");
        assert!(
            html.replace("\r\n", "\n")
                .contains("your order shipped.<br>\nTracking: 123"),
            "{html}"
        );
        // Non-ASCII travels as encoded words: every header line is plain ASCII.
        let head = &text[..text.find("\r\n\r\n").unwrap()];
        assert!(head.is_ascii(), "{head}");
    }

    #[test]
    fn automatic_mail_says_so() {
        let mut mail = sample();
        mail.auto_submitted = Some(AutoSubmitted::Replied);
        let text = String::from_utf8(build(&mail)).unwrap();
        assert!(text.contains("Auto-Submitted: auto-replied\r\n"));
        mail.auto_submitted = Some(AutoSubmitted::Generated);
        let text = String::from_utf8(build(&mail)).unwrap();
        assert!(text.contains("Auto-Submitted: auto-generated\r\n"));
        mail.auto_submitted = None;
        assert!(!String::from_utf8(build(&mail)).unwrap().contains("Auto-Submitted"));
    }

    #[test]
    fn long_lines_and_long_references_are_folded_under_the_limit() {
        let mut mail = sample();
        mail.text = format!("{}\n{}", "word ".repeat(600), "é".repeat(1500));
        mail.references = (0..30).map(|i| format!("{}-{i}@example.com", "r".repeat(60))).collect();
        mail.subject = "Very long subject ".repeat(30);
        let raw = build(&mail);
        for line in raw.split(|b| *b == b'\n') {
            assert!(line.len() < 1000, "a line of {} bytes", line.len());
        }
        let m = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(m.body_text(0).unwrap().replace("\r\n", "\n").trim_end(), mail.text);
    }

    #[test]
    fn header_values_cannot_smuggle_headers() {
        let mut mail = sample();
        mail.subject = "Hi\r\nBcc: victim@example.com".into();
        mail.from_name = Some("Shop\nBcc: x@example.com".into());
        let text = String::from_utf8(build(&mail)).unwrap();
        assert!(!text.contains("\nBcc:"));
    }

    #[test]
    fn subjects_keep_one_prefix_and_one_tag() {
        let n = Some(TicketNumber(1234));
        assert_eq!(reply_subject("Where is my order?", n), "Re: Where is my order? [#1234]");
        assert_eq!(
            reply_subject("RE: Re: Where is my order? [#1234]", n),
            "Re: Where is my order? [#1234]"
        );
        assert_eq!(reply_subject("AW: Fwd: Lieferung", None), "Re: Lieferung");
        assert_eq!(reply_subject("  ", n), "Re: your request [#1234]");
        assert_eq!(reply_subject("", None), "Re: your message");
    }

    #[test]
    fn the_subject_tag_names_the_ticket() {
        assert_eq!(subject_ticket_tag("Re: Where is it? [#1234]"), Some(TicketNumber(1234)));
        assert_eq!(subject_ticket_tag("[#12] then [#13]"), Some(TicketNumber(13)));
        assert_eq!(subject_ticket_tag("Re: item #12"), None);
        assert_eq!(subject_ticket_tag("[#abc] [#0]"), None);
    }

    #[test]
    fn ses_ids_follow_the_region() {
        assert_eq!(ses_message_id("0100abc", "us-east-1"), "0100abc@email.amazonses.com");
        assert_eq!(
            ses_message_id("0200abc", "eu-west-1"),
            "0200abc@eu-west-1.amazonses.com"
        );
    }

    #[test]
    fn references_keep_the_root_and_the_newest() {
        let refs = thread_references((0..50).map(|i| format!("<m{i}@x>")).chain(["m3@x".to_owned()]));
        assert_eq!(refs.len(), caps::MAX_REFERENCES);
        assert_eq!(refs[0], "m0@x");
        assert_eq!(refs.last().unwrap(), "m49@x");
    }

    #[test]
    fn the_from_address_falls_back_in_order() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
        };
        assert_eq!(
            from_address_in(env(&[
                ("EMAIL_SENDER", "c@x"),
                ("FROM_EMAIL", "b@x"),
                ("SUPPORT_FROM_EMAIL", "a@x")
            ])),
            Some("a@x".into())
        );
        assert_eq!(
            from_address_in(env(&[("EMAIL_SENDER", "c@x"), ("FROM_EMAIL", "b@x")])),
            Some("b@x".into())
        );
        assert_eq!(
            from_address_in(env(&[("EMAIL_SENDER", "c@x"), ("SUPPORT_FROM_EMAIL", " ")])),
            Some("c@x".into())
        );
        assert_eq!(from_address_in(env(&[])), None);
    }
}
