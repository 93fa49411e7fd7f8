//! What a handoff puts on the ticket: priority, subject, an extractive summary, tags.

use crate::conversation::{Author, Message};
use crate::customer::Customer;
use crate::ticket::Priority;
use crate::triage::{Citation, HandoffReason};
use crate::Channel;

const URGENT_WORDS: &[&str] = &[
    "urgent",
    "asap",
    "immediately",
    "emergency",
    "fraud",
    "stolen",
    "hacked",
    "unauthorized",
    "unauthorised",
    "right now",
    "dringend",
    "urgente",
];

/// Urgent words make it urgent; a VIP customer is at least high.
pub fn priority(text: &str, customer: Option<&Customer>) -> Priority {
    let lower = format!(" {} ", text.to_lowercase().replace(|c: char| !c.is_alphanumeric(), " "));
    if URGENT_WORDS.iter().any(|w| lower.contains(&format!(" {w} "))) {
        return Priority::Urgent;
    }
    if customer.is_some_and(Customer::is_vip) {
        return Priority::High;
    }
    Priority::Normal
}

fn clip(text: &str, max: usize) -> String {
    let t = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.chars().count() <= max {
        t
    } else {
        format!("{}…", t.chars().take(max - 1).collect::<String>().trim_end())
    }
}

/// The e-mail subject if there is one, else the customer's first words.
pub fn subject(email_subject: Option<&str>, first_customer_text: &str) -> String {
    match email_subject.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => clip(s, 120),
        None if first_customer_text.trim().is_empty() => "New conversation".into(),
        None => clip(first_customer_text, 80),
    }
}

/// An extractive summary for the agent: who, where, what they first asked, what they
/// said last, what the AI already answered, and why it handed off.
pub fn summary(
    customer_name: Option<&str>,
    channel: Channel,
    history: &[Message],
    reason: &HandoffReason,
    consulted: &[Citation],
) -> String {
    let from_customer: Vec<&Message> = history.iter().filter(|m| m.author == Author::Customer).collect();
    let ai_replies = history.iter().filter(|m| m.author == Author::Ai).count();
    let who = customer_name.unwrap_or("The customer");
    let mut s = format!("{who} wrote on {channel}");
    if let Some(first) = from_customer.first() {
        s.push_str(&format!(": \"{}\"", clip(&first.text, 200)));
    }
    s.push('.');
    if from_customer.len() > 1 {
        if let Some(last) = from_customer.last() {
            s.push_str(&format!(" Latest: \"{}\".", clip(&last.text, 200)));
        }
    }
    if ai_replies > 0 {
        s.push_str(&format!(" The AI replied {ai_replies} time(s) before handing off."));
    }
    s.push_str(&format!(" Handed off because {}.", reason.describe()));
    if !consulted.is_empty() {
        let titles: Vec<&str> = consulted.iter().map(|c| c.title.as_str()).collect();
        s.push_str(&format!(" Articles consulted: {}.", titles.join(", ")));
    }
    s
}

/// What the customer is told, once, when a person takes over.
pub fn takeover_notice(ticket_number: u64) -> String {
    format!("Thanks for your patience. A member of our team will take over from here (ticket #{ticket_number}) and reply in this conversation.")
}

/// Said instead of an answer when the assistant itself failed.
pub const MODEL_FAILURE_NOTICE: &str =
    "Sorry, I couldn't answer that right now. A member of our team will follow up with you here.";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CustomerId, TenantId, Timestamp};

    #[test]
    fn urgent_words_and_vips_raise_priority() {
        assert_eq!(priority("Someone HACKED my account!", None), Priority::Urgent);
        assert_eq!(priority("where is my order", None), Priority::Normal);
        let mut c = Customer {
            tenant_id: TenantId::new("t").unwrap(),
            id: CustomerId::generate(),
            name: None,
            email: None,
            identities: vec![],
            attributes: Default::default(),
            created_at: Timestamp::from_unix_millis(0).unwrap(),
            undeliverable: vec![],
        };
        c.attributes.insert("vip".into(), "true".into());
        assert_eq!(priority("where is my order", Some(&c)), Priority::High);
    }

    #[test]
    fn subjects_prefer_the_email_subject_and_clip_long_text() {
        assert_eq!(subject(Some(" Refund "), "x"), "Refund");
        assert_eq!(subject(None, "short question"), "short question");
        let long = "word ".repeat(40);
        assert!(subject(None, &long).chars().count() <= 80);
        assert_eq!(subject(None, "  "), "New conversation");
    }
}
