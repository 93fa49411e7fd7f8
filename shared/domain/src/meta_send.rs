//! Sending on Meta's channels: the WhatsApp Cloud API and Instagram Messaging request
//! bodies, how long texts are split, the customer-service windows, and what Meta's error
//! codes mean for a send. Pure: the Graph adapter posts what this builds and hands back
//! what Meta answered.

use crate::{Channel, TicketNumber, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// WhatsApp's limit for a text message body, in characters.
pub const WHATSAPP_TEXT_LIMIT: usize = 4096;
/// Instagram's limit for a text message, in characters.
pub const INSTAGRAM_TEXT_LIMIT: usize = 1000;
/// The customer-service window: a business may answer freely for 24 hours after the
/// customer's last message.
pub const SERVICE_WINDOW: time::Duration = time::Duration::hours(24);
/// Instagram's `HUMAN_AGENT` tag lets a person answer for 7 days.
pub const HUMAN_AGENT_WINDOW: time::Duration = time::Duration::days(7);

/// A WhatsApp message template approved for use outside the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhatsAppTemplate {
    pub name: String,
    /// BCP 47-ish code as Meta names it (`en_US`, `pt_BR`).
    pub language: String,
    /// Body parameters in order; `{text}` is replaced by the reply (cut to 1,024
    /// characters, Meta's parameter limit) and `{ticket}` by the ticket number.
    #[serde(default)]
    pub body_parameters: Vec<String>,
}

/// Splits `text` into parts of at most `limit` characters, in order, preferring to cut
/// between paragraphs, then lines, then sentences, then words; a word longer than the
/// limit is cut where it must be. Nothing is lost but the whitespace at a cut.
pub fn split_text(text: &str, limit: usize) -> Vec<String> {
    let text = text.trim();
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.chars().count() > limit {
        let window_end = rest.char_indices().nth(limit).map(|(i, _)| i).unwrap_or(rest.len());
        let window = &rest[..window_end];
        let cut = ["\n\n", "\n", ". ", "! ", "? ", " "]
            .iter()
            .find_map(|sep| {
                window
                    .rfind(sep)
                    .filter(|&i| i > window.len() / 4)
                    // Keep the sentence's own punctuation with it.
                    .map(|i| i + sep.trim_end().len())
            })
            .unwrap_or(window_end);
        let (head, tail) = rest.split_at(cut.max(1));
        let head = head.trim_end();
        if !head.is_empty() {
            parts.push(head.to_owned());
        }
        rest = tail.trim_start();
    }
    if !rest.is_empty() {
        parts.push(rest.to_owned());
    }
    parts
}

/// `POST /{phone_number_id}/messages`: a text.
pub fn whatsapp_text(to: &str, body: &str) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": { "preview_url": false, "body": body },
    })
}

/// `POST /{phone_number_id}/messages`: an approved template, for outside the window.
pub fn whatsapp_template(to: &str, template: &WhatsAppTemplate, text: &str, ticket: Option<TicketNumber>) -> Value {
    let reply: String = text.chars().take(1024).collect();
    let ticket = ticket.map(|t| t.to_string()).unwrap_or_default();
    let parameters: Vec<Value> = template
        .body_parameters
        .iter()
        .map(|p| {
            // A parameter may not contain newlines or more than four spaces in a row.
            let value = p.replace("{text}", &reply).replace("{ticket}", &ticket);
            let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
            json!({ "type": "text", "text": value })
        })
        .collect();
    let mut t = json!({
        "name": template.name,
        "language": { "code": template.language },
    });
    if !parameters.is_empty() {
        t["components"] = json!([{ "type": "body", "parameters": parameters }]);
    }
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": t,
    })
}

/// `POST /{phone_number_id}/messages`: a question with reply buttons (at most three; a
/// title is cut to Meta's 20 characters, the body to 1,024), each `(payload, title)`.
pub fn whatsapp_buttons(to: &str, body: &str, choices: &[(String, String)]) -> Value {
    let buttons: Vec<Value> = choices
        .iter()
        .take(3)
        .map(|(id, title)| json!({ "type": "reply", "reply": { "id": id, "title": title.chars().take(20).collect::<String>() } }))
        .collect();
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": { "text": body.chars().take(1024).collect::<String>() },
            "action": { "buttons": buttons },
        },
    })
}

/// A template body (see [`whatsapp_template`]) whose quick-reply buttons, in the
/// template's order, carry these payloads back.
pub fn with_quick_reply_payloads(mut template_body: Value, payloads: &[String]) -> Value {
    let buttons = payloads.iter().enumerate().map(|(i, p)| {
        json!({
            "type": "button",
            "sub_type": "quick_reply",
            "index": i.to_string(),
            "parameters": [{ "type": "payload", "payload": p }],
        })
    });
    let t = &mut template_body["template"];
    let mut components = t["components"].as_array().cloned().unwrap_or_default();
    components.extend(buttons);
    t["components"] = Value::Array(components);
    template_body
}

/// `POST /me/messages`: a question with quick replies (at most 13; titles cut to 20
/// characters), each `(payload, title)`.
pub fn instagram_quick_replies(recipient: &str, text: &str, choices: &[(String, String)]) -> Value {
    let replies: Vec<Value> = choices
        .iter()
        .take(13)
        .map(|(payload, title)| {
            json!({ "content_type": "text", "title": title.chars().take(20).collect::<String>(), "payload": payload })
        })
        .collect();
    json!({
        "recipient": { "id": recipient },
        "messaging_type": "RESPONSE",
        "message": { "text": text, "quick_replies": replies },
    })
}

/// `POST /me/messages` (Instagram API with Instagram Login): a text, tagged `HUMAN_AGENT`
/// when a person answers after the 24-hour window.
pub fn instagram_text(recipient: &str, text: &str, human_agent_tag: bool) -> Value {
    let mut body = json!({
        "recipient": { "id": recipient },
        "message": { "text": text },
    });
    if human_agent_tag {
        body["messaging_type"] = "MESSAGE_TAG".into();
        body["tag"] = "HUMAN_AGENT".into();
    }
    body
}

/// How a reply may go out on a messaging channel right now.
#[derive(Debug, Clone, PartialEq)]
pub enum Reach {
    /// Within the window: a plain message.
    Open,
    /// Instagram, past 24 hours, a person's reply within 7 days, the app permitted.
    HumanAgentTag,
    /// WhatsApp past the window: this approved template instead.
    Template(WhatsAppTemplate),
    /// Nothing may be sent: the reply needs following up on another channel.
    Closed(&'static str),
}

pub const WHATSAPP_WINDOW_CLOSED: &str =
    "The customer last wrote more than 24 hours ago, so WhatsApp only allows an approved template, and none is configured. Follow up on another channel.";
pub const INSTAGRAM_WINDOW_CLOSED: &str =
    "The customer last wrote more than 24 hours ago, so Instagram does not allow this reply. Follow up on another channel.";

/// WhatsApp: open within 24 hours of the customer's last message (by its own timestamp),
/// else the configured template, else closed.
pub fn whatsapp_reach(last_inbound: Option<Timestamp>, now: Timestamp, template: Option<&WhatsAppTemplate>) -> Reach {
    if within(last_inbound, now, SERVICE_WINDOW) {
        return Reach::Open;
    }
    match template {
        Some(t) => Reach::Template(t.clone()),
        None => Reach::Closed(WHATSAPP_WINDOW_CLOSED),
    }
}

/// Instagram: open within 24 hours; `HUMAN_AGENT` for a person's reply within 7 days when
/// the tenant's app has that permission; else closed.
pub fn instagram_reach(
    last_inbound: Option<Timestamp>,
    now: Timestamp,
    by_human: bool,
    human_agent_allowed: bool,
) -> Reach {
    if within(last_inbound, now, SERVICE_WINDOW) {
        Reach::Open
    } else if by_human && human_agent_allowed && within(last_inbound, now, HUMAN_AGENT_WINDOW) {
        Reach::HumanAgentTag
    } else {
        Reach::Closed(INSTAGRAM_WINDOW_CLOSED)
    }
}

/// What an agent's reply on a channel would do now, for the inbox's facts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReplyWindow {
    /// `open` (a plain message goes), `human_agent` (Instagram past 24 hours: a person's
    /// reply goes tagged `HUMAN_AGENT`), `template` (WhatsApp past 24 hours: the approved
    /// template goes instead), `closed` (nothing may be sent: the reply becomes a
    /// follow-up), or `none` (e-mail and the widget have no window).
    pub state: &'static str,
    /// When the current state ends (the plain or the human-agent window).
    pub closes_at: Option<Timestamp>,
    /// What happens to a reply, in the agent's words.
    pub explain: String,
}

/// The reply window of `channel` for a customer who last wrote at `last_inbound`, with
/// the rules the channel sender applies ([`whatsapp_reach`], [`instagram_reach`]).
pub fn reply_window(
    channel: Channel,
    last_inbound: Option<Timestamp>,
    now: Timestamp,
    template: Option<&WhatsAppTemplate>,
    human_agent_allowed: bool,
) -> ReplyWindow {
    let until = |w: time::Duration| last_inbound.map(|t| t.plus(w));
    let (state, closes_at, explain) = match channel {
        Channel::Whatsapp | Channel::Instagram => {
            let reach = match channel {
                Channel::Whatsapp => whatsapp_reach(last_inbound, now, template),
                _ => instagram_reach(last_inbound, now, true, human_agent_allowed),
            };
            match reach {
                Reach::Open => (
                    "open",
                    until(SERVICE_WINDOW),
                    "A reply goes as a plain message until 24 hours after the customer's last message.".to_owned(),
                ),
                Reach::HumanAgentTag => (
                    "human_agent",
                    until(HUMAN_AGENT_WINDOW),
                    "Past 24 hours: a person's reply goes tagged HUMAN_AGENT, until 7 days after the customer's last message.".to_owned(),
                ),
                Reach::Template(t) => (
                    "template",
                    None,
                    format!(
                        "The customer last wrote more than 24 hours ago: a reply goes as the approved template {} ({}), with the reply in it.",
                        t.name, t.language
                    ),
                ),
                Reach::Closed(why) => ("closed", None, why.to_owned()),
            }
        }
        Channel::Email | Channel::Widget => (
            "none",
            None,
            "No reply window on this channel: a reply always goes.".to_owned(),
        ),
    };
    ReplyWindow {
        state,
        closes_at,
        explain,
    }
}

fn within(last: Option<Timestamp>, now: Timestamp, window: time::Duration) -> bool {
    last.is_some_and(|t| now.datetime() - t.datetime() < window)
}

/// What Meta's error on a send means for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaFailure {
    /// Too many messages (the app, the number, or this recipient): retry with backoff.
    RateLimited,
    /// The customer-service window is closed: template or follow-up.
    WindowClosed,
    /// The token is invalid or expired, or the app lacks a permission: the channel is
    /// disconnected until someone reconnects it; its messages wait.
    Disconnected,
    /// Meta is having trouble: retry.
    Unavailable,
    /// This message will never go (spam or policy block, bad recipient, …).
    Failed,
}

/// Classifies a Graph error by HTTP status, `code` and `error_subcode`, for WhatsApp and
/// Instagram alike. `channel_is_instagram` tells Instagram's code 10 (outside the allowed
/// window) from WhatsApp's (permission denied).
pub fn classify_meta_error(
    status: u16,
    code: Option<i64>,
    subcode: Option<i64>,
    channel_is_instagram: bool,
) -> MetaFailure {
    match (code, subcode) {
        (Some(130429 | 131056 | 80007 | 4 | 17 | 32 | 613), _) => MetaFailure::RateLimited,
        (Some(131047), _) | (_, Some(2534022)) => MetaFailure::WindowClosed,
        (Some(10), _) if channel_is_instagram => MetaFailure::WindowClosed,
        (Some(190), _) => MetaFailure::Disconnected,
        (Some(10 | 200..=299), _) => MetaFailure::Disconnected,
        (Some(131048 | 131049 | 368), _) => MetaFailure::Failed,
        (Some(1 | 2 | 131000 | 131016), _) => MetaFailure::Unavailable,
        _ if status == 401 => MetaFailure::Disconnected,
        _ if status == 429 => MetaFailure::RateLimited,
        _ if status >= 500 => MetaFailure::Unavailable,
        _ => MetaFailure::Failed,
    }
}

/// Meta's error, in words an agent can act on, for the ticket.
pub fn plain_reason(code: Option<i64>, message: &str) -> String {
    let what = match code {
        Some(131047) => "the customer's 24-hour window has closed",
        Some(131048) => "WhatsApp held the message back as possible spam (the number's quality is low)",
        Some(131049) => {
            "WhatsApp did not deliver it to keep the customer's experience healthy (too many business messages)"
        }
        Some(368) => "Meta blocked the message for a policy violation",
        Some(131026) => "the customer cannot receive WhatsApp messages (no WhatsApp account, or an old app)",
        Some(131051) => "this kind of message is not supported",
        Some(131052) => "the customer's media could not be downloaded",
        Some(132000..=132999) => "the template could not be used (not approved, or its parameters do not match)",
        Some(190) => "the channel's access token is invalid or expired; an admin must reconnect it",
        Some(10 | 200..=299) => "the app lacks the permission to send on this channel; an admin must reconnect it",
        Some(551) => "the person is not available right now",
        _ => "",
    };
    match (what.is_empty(), message.trim().is_empty()) {
        (true, true) => "Meta refused the message".into(),
        (true, false) => format!("Meta refused the message: {}", message.trim()),
        (false, true) => capitalise(what),
        (false, false) => format!("{} ({})", capitalise(what), message.trim()),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: i64) -> Timestamp {
        Timestamp::from_unix_millis(1_800_000_000_000 + h * 3_600_000).unwrap()
    }

    #[test]
    fn the_reply_window_says_what_a_reply_would_do_on_each_channel() {
        let last = Some(at(0));
        let w = reply_window(Channel::Whatsapp, last, at(23), None, false);
        assert_eq!((w.state, w.closes_at), ("open", Some(at(24))));
        let w = reply_window(Channel::Whatsapp, last, at(25), None, false);
        assert_eq!((w.state, w.closes_at), ("closed", None));
        assert_eq!(w.explain, WHATSAPP_WINDOW_CLOSED);
        let template = WhatsAppTemplate {
            name: "follow_up".into(),
            language: "en_US".into(),
            body_parameters: vec!["{text}".into()],
        };
        let w = reply_window(Channel::Whatsapp, last, at(25), Some(&template), false);
        assert_eq!(w.state, "template");
        assert!(w.explain.contains("follow_up (en_US)"), "{}", w.explain);
        let w = reply_window(Channel::Instagram, last, at(25), None, true);
        assert_eq!((w.state, w.closes_at), ("human_agent", Some(at(7 * 24))));
        assert_eq!(
            reply_window(Channel::Instagram, last, at(25), None, false).state,
            "closed"
        );
        assert_eq!(
            reply_window(Channel::Instagram, last, at(7 * 24 + 1), None, true).state,
            "closed"
        );
        // No customer message yet: closed (nothing opened the window).
        assert_eq!(
            reply_window(Channel::Whatsapp, None, at(0), None, false).state,
            "closed"
        );
        let w = reply_window(Channel::Email, None, at(0), None, false);
        assert_eq!((w.state, w.closes_at), ("none", None));
    }

    #[test]
    fn survey_choices_take_each_channel_s_shape_and_limits() {
        let choices: Vec<(String, String)> = (1..=5)
            .map(|i| (format!("csat:1:1:{i}"), format!("{i} a title far longer than twenty")))
            .collect();
        let wa = whatsapp_buttons("4915550100", "How did we do?", &choices);
        assert_eq!(wa["type"], "interactive");
        assert_eq!(wa["interactive"]["type"], "button");
        let buttons = wa["interactive"]["action"]["buttons"].as_array().unwrap();
        assert_eq!(buttons.len(), 3, "WhatsApp allows three reply buttons");
        assert_eq!(buttons[0]["reply"]["title"].as_str().unwrap().chars().count(), 20);
        let ig = instagram_quick_replies("1254459154682919", "How did we do?", &choices);
        assert_eq!(ig["messaging_type"], "RESPONSE");
        let quick = ig["message"]["quick_replies"].as_array().unwrap();
        assert_eq!(quick.len(), 5);
        assert_eq!(quick[4]["payload"], "csat:1:1:5");
        assert_eq!(quick[4]["content_type"], "text");
        let template = WhatsAppTemplate {
            name: "csat".into(),
            language: "en_US".into(),
            body_parameters: vec![],
        };
        let t = with_quick_reply_payloads(
            whatsapp_template("4915550100", &template, "", None),
            &["a".into(), "b".into()],
        );
        let components = t["template"]["components"].as_array().unwrap();
        assert_eq!(components.len(), 2, "no body parameters, two buttons");
        assert_eq!(components[1]["index"], "1");
        assert_eq!(components[1]["parameters"][0]["payload"], "b");
    }

    #[test]
    fn long_texts_split_in_order_at_natural_boundaries() {
        let para = "word ".repeat(500); // 2,500 characters
        let text = format!("{}\n\n{}", para.trim(), para.trim());
        let parts = split_text(&text, WHATSAPP_TEXT_LIMIT);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], para.trim());
        let long = "x".repeat(9000);
        let parts = split_text(&long, WHATSAPP_TEXT_LIMIT);
        assert_eq!(
            parts.iter().map(|p| p.chars().count()).collect::<Vec<_>>(),
            [4096, 4096, 808]
        );
        assert_eq!(parts.concat(), long);
        let sentences = "This is one sentence. ".repeat(100);
        for part in split_text(&sentences, INSTAGRAM_TEXT_LIMIT) {
            assert!(part.chars().count() <= INSTAGRAM_TEXT_LIMIT);
            assert!(part.ends_with('.'), "{part:?}");
        }
        let words = "héllo wörld ".repeat(1000);
        let parts = split_text(&words, 1000);
        assert!(parts.iter().all(|p| p.chars().count() <= 1000));
        assert_eq!(parts.join(" "), words.trim());
        assert_eq!(split_text("short", 1000), ["short"]);
    }

    #[test]
    fn bodies_have_meta_shapes() {
        let t = whatsapp_text("16505551234", "Hi");
        assert_eq!(t["messaging_product"], "whatsapp");
        assert_eq!(t["text"]["body"], "Hi");
        let tpl = WhatsAppTemplate {
            name: "case_update".into(),
            language: "en_US".into(),
            body_parameters: vec!["{ticket}".into(), "{text}".into()],
        };
        let b = whatsapp_template(
            "16505551234",
            &tpl,
            "Your parcel\n\nleft   today.",
            Some(TicketNumber(7)),
        );
        assert_eq!(b["type"], "template");
        assert_eq!(b["template"]["language"]["code"], "en_US");
        let params = &b["template"]["components"][0]["parameters"];
        assert_eq!(params[0]["text"], "7");
        assert_eq!(params[1]["text"], "Your parcel left today.");
        let ig = instagram_text("1789", "Hello", true);
        assert_eq!(ig["tag"], "HUMAN_AGENT");
        assert_eq!(ig["messaging_type"], "MESSAGE_TAG");
        assert!(instagram_text("1789", "Hello", false).get("tag").is_none());
    }

    #[test]
    fn the_windows_decide_how_a_reply_goes() {
        let tpl = WhatsAppTemplate {
            name: "t".into(),
            language: "en".into(),
            body_parameters: vec![],
        };
        assert_eq!(whatsapp_reach(Some(at(0)), at(23), None), Reach::Open);
        assert_eq!(
            whatsapp_reach(Some(at(0)), at(25), Some(&tpl)),
            Reach::Template(tpl.clone())
        );
        assert!(matches!(whatsapp_reach(Some(at(0)), at(25), None), Reach::Closed(_)));
        assert!(matches!(whatsapp_reach(None, at(0), None), Reach::Closed(_)));
        assert_eq!(instagram_reach(Some(at(0)), at(2), false, false), Reach::Open);
        assert_eq!(instagram_reach(Some(at(0)), at(30), true, true), Reach::HumanAgentTag);
        assert!(
            matches!(instagram_reach(Some(at(0)), at(30), false, true), Reach::Closed(_)),
            "the AI never uses the tag"
        );
        assert!(
            matches!(instagram_reach(Some(at(0)), at(30), true, false), Reach::Closed(_)),
            "only with the permission"
        );
        assert!(
            matches!(instagram_reach(Some(at(0)), at(24 * 8), true, true), Reach::Closed(_)),
            "7 days at most"
        );
    }

    #[test]
    fn meta_errors_are_classified() {
        use MetaFailure::*;
        for code in [130429, 131056, 80007, 4] {
            assert_eq!(classify_meta_error(400, Some(code), None, false), RateLimited, "{code}");
        }
        assert_eq!(classify_meta_error(400, Some(131047), None, false), WindowClosed);
        assert_eq!(classify_meta_error(400, Some(10), None, true), WindowClosed);
        assert_eq!(classify_meta_error(400, Some(100), Some(2534022), true), WindowClosed);
        assert_eq!(classify_meta_error(401, Some(190), None, false), Disconnected);
        assert_eq!(classify_meta_error(403, Some(10), None, false), Disconnected);
        assert_eq!(classify_meta_error(403, Some(200), None, true), Disconnected);
        assert_eq!(classify_meta_error(401, None, None, false), Disconnected);
        for code in [131048, 131049, 368, 131026] {
            assert_eq!(classify_meta_error(400, Some(code), None, false), Failed, "{code}");
        }
        assert_eq!(classify_meta_error(500, None, None, false), Unavailable);
        assert_eq!(classify_meta_error(400, Some(131000), None, false), Unavailable);
    }

    #[test]
    fn reasons_read_as_words() {
        assert!(plain_reason(Some(131048), "Spam rate limit hit").starts_with("WhatsApp held the message back"));
        assert_eq!(
            plain_reason(None, "(#100) Invalid parameter"),
            "Meta refused the message: (#100) Invalid parameter"
        );
        assert_eq!(plain_reason(None, ""), "Meta refused the message");
    }
}
