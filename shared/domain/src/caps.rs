//! Size caps on what is stored and queued, so one large message can never exceed an SQS
//! message (256 KiB) or a DynamoDB item (400 KB) and fail every retry. What a cap cuts is
//! never lost: the whole text and the raw message stay in S3, linked from the message
//! (`conversation::Original`), and attachments past a cap stay in the raw message.

/// Text stored on a message, a timeline entry or a queued message.
pub const TEXT_CAP: usize = 32 * 1024;
/// Attachments stored on their own per message; further ones stay in the raw message.
pub const MAX_ATTACHMENTS: usize = 20;
/// The largest attachment stored on its own.
pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;
/// The longest e-mail Message-ID taken for threading (RFC 5322's line limit is 998;
/// real ones are under 250). A longer one is treated as absent.
pub const MAX_MESSAGE_ID_LEN: usize = 512;
/// How many of a message's `References` are looked up (the newest ones).
pub const MAX_REFERENCES: usize = 20;

/// `text` cut to at most `cap` bytes at a character boundary, and whether it was cut.
pub fn cap_text(text: &str, cap: usize) -> (&str, bool) {
    if text.len() <= cap {
        return (text, false);
    }
    let mut end = cap;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_a_character_boundary() {
        assert_eq!(cap_text("hello", 10), ("hello", false));
        assert_eq!(cap_text("hello", 3), ("hel", true));
        // "é" is two bytes: a cut in its middle moves before it.
        assert_eq!(cap_text("aé", 2), ("a", true));
        let big = "ü".repeat(TEXT_CAP);
        let (capped, cut) = cap_text(&big, TEXT_CAP);
        assert!(cut && capped.len() <= TEXT_CAP && capped.len() >= TEXT_CAP - 1);
    }
}
