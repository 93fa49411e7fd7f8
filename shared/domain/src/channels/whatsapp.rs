//! WhatsApp Cloud API webhook payloads (`object: whatsapp_business_account`).

use super::{from_unix_seconds_text, ChannelMessage, ContentKind, PayloadError, StatusUpdate, WebhookBatch};
use crate::conversation::{Attachment, DeliveryStatus};
use crate::Channel;
use serde::Deserialize;

#[derive(Deserialize)]
struct Payload {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    field: String,
    value: Option<Value>,
}

#[derive(Deserialize)]
struct Value {
    metadata: Option<Metadata>,
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    messages: Vec<Msg>,
    #[serde(default)]
    statuses: Vec<Status>,
}

#[derive(Deserialize)]
struct Metadata {
    phone_number_id: String,
}

#[derive(Deserialize)]
struct Contact {
    wa_id: Option<String>,
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    name: Option<String>,
}

#[derive(Deserialize)]
struct Msg {
    from: Option<String>,
    id: Option<String>,
    timestamp: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    text: Option<Text>,
    image: Option<Media>,
    audio: Option<Media>,
    video: Option<Media>,
    document: Option<Media>,
    sticker: Option<Media>,
    location: Option<Location>,
    interactive: Option<Interactive>,
    button: Option<Button>,
    reaction: Option<Reaction>,
    context: Option<Context>,
}

#[derive(Deserialize)]
struct Text {
    body: String,
}

#[derive(Deserialize)]
struct Media {
    id: Option<String>,
    mime_type: Option<String>,
    caption: Option<String>,
    filename: Option<String>,
}

#[derive(Deserialize)]
struct Location {
    latitude: Option<f64>,
    longitude: Option<f64>,
    name: Option<String>,
    address: Option<String>,
}

#[derive(Deserialize)]
struct Interactive {
    button_reply: Option<Reply>,
    list_reply: Option<Reply>,
}

#[derive(Deserialize)]
struct Reply {
    id: Option<String>,
    title: Option<String>,
}

#[derive(Deserialize)]
struct Button {
    text: Option<String>,
    payload: Option<String>,
}

#[derive(Deserialize)]
struct Reaction {
    emoji: Option<String>,
    message_id: Option<String>,
}

#[derive(Deserialize)]
struct Context {
    id: Option<String>,
}

#[derive(Deserialize)]
struct Status {
    id: Option<String>,
    status: Option<String>,
    #[serde(default)]
    errors: Vec<StatusError>,
}

#[derive(Deserialize)]
struct StatusError {
    code: Option<i64>,
    title: Option<String>,
    error_data: Option<ErrorData>,
}

#[derive(Deserialize)]
struct ErrorData {
    details: Option<String>,
}

fn media(kind: &str, m: Media) -> Attachment {
    Attachment {
        kind: kind.to_owned(),
        reference: m.id.unwrap_or_default(),
        mime_type: m.mime_type,
        file_name: m.filename,
        caption: m.caption,
        ..Default::default()
    }
}

pub fn parse(body: &[u8]) -> Result<WebhookBatch, PayloadError> {
    let payload: Payload = serde_json::from_slice(body).map_err(|e| PayloadError::InvalidJson(e.to_string()))?;
    if payload.object != "whatsapp_business_account" {
        return Err(PayloadError::UnknownObject(payload.object));
    }
    let mut batch = WebhookBatch::default();
    for change in payload.entry.into_iter().flat_map(|e| e.changes) {
        if change.field != "messages" {
            batch.ignored.push(format!("field {}", change.field));
            continue;
        }
        let Some(value) = change.value else { continue };
        let Some(account_id) = value.metadata.map(|m| m.phone_number_id) else {
            batch.ignored.push("change without metadata.phone_number_id".into());
            continue;
        };
        for s in value.statuses {
            let status = match s.status.as_deref() {
                Some("sent") => DeliveryStatus::Sent,
                Some("delivered") => DeliveryStatus::Delivered,
                Some("read") => DeliveryStatus::Read,
                Some("failed") => DeliveryStatus::Failed,
                other => {
                    batch.ignored.push(format!("status {other:?}"));
                    continue;
                }
            };
            let Some(id) = s.id else { continue };
            let error_code = s.errors.first().and_then(|e| e.code);
            let error = s.errors.first().map(|e| {
                let title = e.title.clone().unwrap_or_default();
                match e.error_data.as_ref().and_then(|d| d.details.clone()) {
                    Some(details) if !details.is_empty() => format!("{title}: {details}"),
                    _ => title,
                }
            });
            batch.statuses.push(StatusUpdate {
                channel: Channel::Whatsapp,
                account_id: account_id.clone(),
                channel_message_id: id,
                status,
                error_code,
                error,
            });
        }
        for m in value.messages {
            let (Some(from), Some(id)) = (m.from.clone(), m.id.clone()) else {
                batch.ignored.push("message without from or id".into());
                continue;
            };
            let sender_name = value
                .contacts
                .iter()
                .find(|c| c.wa_id.as_deref() == Some(from.as_str()))
                .or(value.contacts.first())
                .and_then(|c| c.profile.as_ref()?.name.clone());
            let reply_to = m.context.as_ref().and_then(|c| c.id.clone());
            let sent_at = m.timestamp.as_deref().and_then(from_unix_seconds_text);
            let mut attachments = Vec::new();
            let (kind, text) = match m.kind.as_deref().unwrap_or("") {
                "text" => (ContentKind::Text, m.text.map(|t| t.body).unwrap_or_default()),
                k @ ("image" | "audio" | "video" | "document" | "sticker") => {
                    let item = match k {
                        "image" => m.image,
                        "audio" => m.audio,
                        "video" => m.video,
                        "document" => m.document,
                        _ => m.sticker,
                    };
                    let caption = item.as_ref().and_then(|i| i.caption.clone()).unwrap_or_default();
                    if let Some(item) = item {
                        attachments.push(media(k, item));
                    }
                    (ContentKind::Media, caption)
                }
                "location" => {
                    let l = m.location.unwrap_or(Location {
                        latitude: None,
                        longitude: None,
                        name: None,
                        address: None,
                    });
                    let text = [l.name.clone(), l.address.clone()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(", ");
                    attachments.push(Attachment {
                        kind: "location".into(),
                        reference: format!("{},{}", l.latitude.unwrap_or_default(), l.longitude.unwrap_or_default()),
                        mime_type: None,
                        file_name: None,
                        caption: l.name,
                        ..Default::default()
                    });
                    (ContentKind::Location, text)
                }
                "interactive" => {
                    let r = m.interactive.and_then(|i| i.button_reply.or(i.list_reply));
                    let title = r.as_ref().and_then(|r| r.title.clone()).unwrap_or_default();
                    if let Some(id) = r.and_then(|r| r.id) {
                        attachments.push(Attachment {
                            kind: "reply".into(),
                            reference: id,
                            mime_type: None,
                            file_name: None,
                            caption: None,
                            ..Default::default()
                        });
                    }
                    (ContentKind::InteractiveReply, title)
                }
                "button" => {
                    let b = m.button.unwrap_or(Button {
                        text: None,
                        payload: None,
                    });
                    if let Some(p) = b.payload {
                        attachments.push(Attachment {
                            kind: "reply".into(),
                            reference: p,
                            mime_type: None,
                            file_name: None,
                            caption: None,
                            ..Default::default()
                        });
                    }
                    (ContentKind::ButtonReply, b.text.unwrap_or_default())
                }
                "reaction" => {
                    let r = m.reaction.unwrap_or(Reaction {
                        emoji: None,
                        message_id: None,
                    });
                    let mut msg = ChannelMessage {
                        channel: Channel::Whatsapp,
                        account_id: account_id.clone(),
                        sender_id: from,
                        sender_name,
                        channel_message_id: id,
                        kind: ContentKind::Reaction,
                        text: r.emoji.unwrap_or_default(),
                        attachments: vec![],
                        reply_to: r.message_id,
                        sent_at,
                    };
                    if msg.reply_to.is_none() {
                        msg.reply_to = reply_to;
                    }
                    batch.messages.push(msg);
                    continue;
                }
                other => (
                    ContentKind::Other,
                    format!("[unsupported WhatsApp message type {other}]"),
                ),
            };
            batch.messages.push(ChannelMessage {
                channel: Channel::Whatsapp,
                account_id: account_id.clone(),
                sender_id: from,
                sender_name,
                channel_message_id: id,
                kind,
                text,
                attachments,
                reply_to,
                sent_at,
            });
        }
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrap(value: &str) -> Vec<u8> {
        format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"102290129340398","changes":[{{"value":{value},"field":"messages"}}]}}]}}"#
        )
        .into_bytes()
    }

    const META: &str = r#""messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"100000000000001"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}]"#;

    #[test]
    fn text_message_with_profile_name() {
        let body = wrap(&format!(
            r#"{{{META},"messages":[{{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=","timestamp":"1749416383","type":"text","text":{{"body":"Does it come in another color?"}}}}]}}"#
        ));
        let b = parse(&body).unwrap();
        assert_eq!(b.messages.len(), 1);
        let m = &b.messages[0];
        assert_eq!(m.account_id, "100000000000001");
        assert_eq!(m.sender_id, "16505551234");
        assert_eq!(m.sender_name.as_deref(), Some("Sheena Nelson"));
        assert_eq!(m.text, "Does it come in another color?");
        assert_eq!(m.kind, ContentKind::Text);
        assert_eq!(m.sent_at.unwrap().unix_seconds(), 1_749_416_383);
    }

    #[test]
    fn media_keeps_ids_and_captions() {
        let body = wrap(&format!(
            r#"{{{META},"messages":[{{"from":"16505551234","id":"wamid.1","timestamp":"1749416383","type":"image","image":{{"caption":"broken on arrival","mime_type":"image/jpeg","sha256":"abc","id":"1003383421387256"}}}},{{"from":"16505551234","id":"wamid.2","timestamp":"1749416384","type":"document","document":{{"filename":"invoice.pdf","mime_type":"application/pdf","sha256":"def","id":"2003383421387256"}}}}]}}"#
        ));
        let b = parse(&body).unwrap();
        assert_eq!(b.messages[0].text, "broken on arrival");
        assert_eq!(b.messages[0].attachments[0].reference, "1003383421387256");
        assert_eq!(b.messages[0].attachments[0].mime_type.as_deref(), Some("image/jpeg"));
        assert_eq!(b.messages[1].attachments[0].file_name.as_deref(), Some("invoice.pdf"));
        assert_eq!(b.messages[1].kind, ContentKind::Media);
    }

    #[test]
    fn location_interactive_and_button_replies() {
        let body = wrap(&format!(
            r#"{{{META},"messages":[
              {{"from":"16505551234","id":"wamid.3","timestamp":"1","type":"location","location":{{"address":"1 Hacker Way","latitude":37.48,"longitude":-122.15,"name":"Main office"}}}},
              {{"from":"16505551234","id":"wamid.4","timestamp":"2","type":"interactive","interactive":{{"type":"button_reply","button_reply":{{"id":"talk-to-agent","title":"Talk to a person"}}}},"context":{{"from":"15550783881","id":"wamid.out"}}}},
              {{"from":"16505551234","id":"wamid.5","timestamp":"3","type":"interactive","interactive":{{"type":"list_reply","list_reply":{{"id":"returns","title":"Returns","description":"Send something back"}}}}}},
              {{"from":"16505551234","id":"wamid.6","timestamp":"4","type":"button","button":{{"payload":"STOP","text":"Stop promotions"}}}}
            ]}}"#
        ));
        let b = parse(&body).unwrap();
        assert_eq!(b.messages[0].kind, ContentKind::Location);
        assert_eq!(b.messages[0].text, "Main office, 1 Hacker Way");
        assert_eq!(b.messages[0].attachments[0].reference, "37.48,-122.15");
        assert_eq!(b.messages[1].text, "Talk to a person");
        assert_eq!(b.messages[1].reply_to.as_deref(), Some("wamid.out"));
        assert_eq!(b.messages[1].attachments[0].reference, "talk-to-agent");
        assert_eq!(b.messages[2].text, "Returns");
        assert_eq!(b.messages[3].kind, ContentKind::ButtonReply);
        assert_eq!(b.messages[3].text, "Stop promotions");
    }

    #[test]
    fn statuses_are_delivery_reports_not_messages() {
        let body = wrap(
            r#"{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"100000000000001"},"statuses":[{"id":"wamid.out","status":"delivered","timestamp":"1750263773","recipient_id":"16505551234"},{"id":"wamid.out2","status":"failed","timestamp":"1750263774","recipient_id":"16505551234","errors":[{"code":131047,"title":"Re-engagement message"}]}]}"#,
        );
        let b = parse(&body).unwrap();
        assert!(b.messages.is_empty());
        assert_eq!(b.statuses.len(), 2);
        assert_eq!(b.statuses[0].status, DeliveryStatus::Delivered);
        assert_eq!(b.statuses[1].status, DeliveryStatus::Failed);
        assert_eq!(b.statuses[1].error_code, Some(131047));
        assert_eq!(b.statuses[1].error.as_deref(), Some("Re-engagement message"));
    }

    #[test]
    fn bad_input_is_an_error_or_ignored_never_a_panic() {
        assert!(matches!(parse(b"not json"), Err(PayloadError::InvalidJson(_))));
        assert!(matches!(
            parse(br#"{"object":"page","entry":[]}"#),
            Err(PayloadError::UnknownObject(_))
        ));
        assert!(matches!(parse(br#"{"entry":[]}"#), Err(PayloadError::InvalidJson(_))));
        let odd = wrap(
            r#"{"metadata":{"phone_number_id":"1"},"messages":[{"type":"text"},{"from":"1","id":"w","type":"text"},{"from":"1","id":"x","type":"order"}]}"#,
        );
        let b = parse(&odd).unwrap();
        assert_eq!(b.messages.len(), 2);
        assert_eq!(b.messages[0].text, "");
        assert_eq!(b.messages[1].kind, ContentKind::Other);
        assert_eq!(b.ignored.len(), 1);
        let other_field =
            br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"account_update","value":{}}]}]}"#;
        assert_eq!(
            parse(other_field).unwrap().ignored,
            vec!["field account_update".to_string()]
        );
    }
}
