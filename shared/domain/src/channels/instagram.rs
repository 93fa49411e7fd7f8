//! Instagram Messaging webhook payloads (`object: instagram`).

use super::{ChannelMessage, ContentKind, PayloadError, WebhookBatch};
use crate::conversation::Attachment;
use crate::{Channel, Timestamp};
use serde::Deserialize;

#[derive(Deserialize)]
struct Payload {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    id: Option<String>,
    #[serde(default)]
    messaging: Vec<Messaging>,
}

#[derive(Deserialize)]
struct Messaging {
    sender: Option<Party>,
    recipient: Option<Party>,
    timestamp: Option<i64>,
    message: Option<Msg>,
}

#[derive(Deserialize)]
struct Party {
    id: String,
}

#[derive(Deserialize)]
struct Msg {
    mid: Option<String>,
    text: Option<String>,
    #[serde(default)]
    attachments: Vec<Att>,
    #[serde(default)]
    is_echo: bool,
    #[serde(default)]
    is_deleted: bool,
    #[serde(default)]
    is_unsupported: bool,
    quick_reply: Option<QuickReply>,
    reply_to: Option<ReplyTo>,
}

#[derive(Deserialize)]
struct Att {
    #[serde(rename = "type")]
    kind: Option<String>,
    payload: Option<AttPayload>,
}

#[derive(Deserialize)]
struct AttPayload {
    url: Option<String>,
}

#[derive(Deserialize)]
struct QuickReply {
    payload: Option<String>,
}

#[derive(Deserialize)]
struct ReplyTo {
    mid: Option<String>,
}

pub fn parse(body: &[u8]) -> Result<WebhookBatch, PayloadError> {
    let payload: Payload = serde_json::from_slice(body).map_err(|e| PayloadError::InvalidJson(e.to_string()))?;
    if payload.object != "instagram" {
        return Err(PayloadError::UnknownObject(payload.object));
    }
    let mut batch = WebhookBatch::default();
    for entry in payload.entry {
        for ev in entry.messaging {
            let Some(message) = ev.message else {
                batch
                    .ignored
                    .push("messaging event without a message (read, reaction or postback)".into());
                continue;
            };
            if message.is_echo {
                // Our own replies (or the page's, from the Instagram app) come back as echoes.
                batch.ignored.push("echo of a message sent by the business".into());
                continue;
            }
            if message.is_deleted {
                batch.ignored.push("message deleted by the sender".into());
                continue;
            }
            let (Some(sender), Some(mid)) = (ev.sender, message.mid) else {
                batch.ignored.push("message without sender or mid".into());
                continue;
            };
            let account_id = match ev.recipient.map(|r| r.id).or_else(|| entry.id.clone()) {
                Some(a) => a,
                None => {
                    batch.ignored.push("message without recipient".into());
                    continue;
                }
            };
            let attachments: Vec<Attachment> = message
                .attachments
                .into_iter()
                .map(|a| Attachment {
                    kind: a.kind.unwrap_or_else(|| "file".into()),
                    reference: a.payload.and_then(|p| p.url).unwrap_or_default(),
                    mime_type: None,
                    file_name: None,
                    caption: None,
                    ..Default::default()
                })
                .collect();
            let (kind, mut attachments) = match (&message.quick_reply, attachments.is_empty()) {
                (Some(_), _) => (ContentKind::InteractiveReply, attachments),
                (None, false) => (ContentKind::Media, attachments),
                (None, true) if message.is_unsupported => (ContentKind::Other, attachments),
                (None, true) => (ContentKind::Text, attachments),
            };
            if let Some(p) = message.quick_reply.and_then(|q| q.payload) {
                attachments.push(Attachment {
                    kind: "reply".into(),
                    reference: p,
                    mime_type: None,
                    file_name: None,
                    caption: None,
                    ..Default::default()
                });
            }
            batch.messages.push(ChannelMessage {
                channel: Channel::Instagram,
                account_id,
                sender_id: sender.id,
                sender_name: None,
                channel_message_id: mid,
                kind,
                text: message.text.unwrap_or_default(),
                attachments,
                reply_to: message.reply_to.and_then(|r| r.mid),
                sent_at: ev.timestamp.and_then(Timestamp::from_unix_millis),
            });
        }
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_attachments_quick_replies_echoes_and_deletions() {
        let body = br#"{"object":"instagram","entry":[{"id":"17841400000000001","time":1569262486134,"messaging":[
          {"sender":{"id":"1254459154682919"},"recipient":{"id":"17841400000000001"},"timestamp":1569262485349,"message":{"mid":"aWdfZAG1faW1f1","text":"hi, where is my order?"}},
          {"sender":{"id":"1254459154682919"},"recipient":{"id":"17841400000000001"},"timestamp":1569262485350,"message":{"mid":"aWdfZAG1faW1f2","attachments":[{"type":"image","payload":{"url":"https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1"}}]}},
          {"sender":{"id":"1254459154682919"},"recipient":{"id":"17841400000000001"},"timestamp":1569262485351,"message":{"mid":"aWdfZAG1faW1f3","text":"Talk to a person","quick_reply":{"payload":"HUMAN"}}},
          {"sender":{"id":"17841400000000001"},"recipient":{"id":"1254459154682919"},"timestamp":1569262485352,"message":{"mid":"aWdfZAG1faW1f4","text":"Our reply","is_echo":true}},
          {"sender":{"id":"1254459154682919"},"recipient":{"id":"17841400000000001"},"timestamp":1569262485353,"message":{"mid":"aWdfZAG1faW1f1","is_deleted":true}},
          {"sender":{"id":"1254459154682919"},"recipient":{"id":"17841400000000001"},"timestamp":1569262485354,"read":{"mid":"aWdfZAG1faW1f4"}}
        ]}]}"#;
        let b = parse(body).unwrap();
        assert_eq!(b.messages.len(), 3);
        assert_eq!(b.messages[0].text, "hi, where is my order?");
        assert_eq!(b.messages[0].account_id, "17841400000000001");
        assert_eq!(b.messages[0].sent_at.unwrap().unix_millis(), 1_569_262_485_349);
        assert_eq!(b.messages[1].kind, ContentKind::Media);
        assert_eq!(b.messages[1].attachments[0].kind, "image");
        assert_eq!(b.messages[2].kind, ContentKind::InteractiveReply);
        assert_eq!(b.messages[2].attachments[0].reference, "HUMAN");
        assert_eq!(b.ignored.len(), 3);
    }

    #[test]
    fn wrong_object_and_bad_json_are_errors() {
        assert!(matches!(
            parse(br#"{"object":"page","entry":[]}"#),
            Err(PayloadError::UnknownObject(_))
        ));
        assert!(matches!(parse(b"{"), Err(PayloadError::InvalidJson(_))));
        assert_eq!(parse(br#"{"object":"instagram"}"#).unwrap(), WebhookBatch::default());
    }
}
