//! What the customer wrote in an e-mail reply: quoted history and a trailing signature
//! removed, every line of their own kept, wherever it stands (above, between or below
//! quoted blocks).
//!
//! Quoted history is recognised by what the major clients put around it:
//! - `>`-prefixed lines, with the attribution line that introduces them ("On … wrote:",
//!   "Le … a écrit :", "Am … schrieb …:", "El … escribió:", and the Italian, Dutch and
//!   Portuguese forms), also when the client wrapped the attribution over several lines;
//! - Outlook's header block ("From: / Sent: / To: / Subject:", in the same languages,
//!   with or without `*bold*` markers) and the "-----Original Message-----" separators,
//!   which quote without `>` and so run to the end of the text;
//! - an attribution with a date or an address that is not followed by `>` lines (an HTML
//!   reply whose quote lost its markers) likewise runs to the end.
//!
//! A forwarded message ("---------- Forwarded message ---------") is content, not
//! history, and is kept. A signature is removed only as a whole trailing block: from a
//! `-- ` delimiter with at most [`SIGNATURE_MAX_LINES`] lines after it, or a last line
//! that is exactly a mobile client's "Sent from my iPhone". A sentence that merely begins
//! like one is the customer's text. The full text is always kept beside this one.

/// The longest trailing block after a `-- ` delimiter that is taken for a signature.
pub const SIGNATURE_MAX_LINES: usize = 10;

/// How many lines a client may wrap an attribution over.
const ATTRIBUTION_MAX_LINES: usize = 3;

/// Endings of attribution lines, lower case.
const ATTRIBUTION_ENDINGS: &[&str] = &[
    "wrote:",
    "a écrit :",
    "a écrit:",
    "a\u{a0}écrit\u{a0}:",
    "a écrit\u{a0}:",
    "escribió:",
    "escribió :",
    "ha scritto:",
    "schreef:",
    "escreveu:",
    "skrev:",
];

/// Attributions that put the writer after the verb ("Am … schrieb Demo Shop <…>:").
const NAME_AFTER_VERB: &[&str] = &[" schrieb ", " schreef ", " skrev "];

/// Separator lines after which everything is history.
const ORIGINAL_MESSAGE: &[&str] = &[
    "original message",
    "ursprüngliche nachricht",
    "message d'origine",
    "mensaje original",
    "messaggio originale",
    "oorspronkelijk bericht",
    "mensagem original",
];

/// Lines that introduce a forwarded message: what follows is kept.
const FORWARDED: &[&str] = &[
    "forwarded message",
    "begin forwarded message",
    "weitergeleitete nachricht",
    "message transféré",
    "mensaje reenviado",
    "messaggio inoltrato",
    "doorgestuurd bericht",
    "mensagem encaminhada",
];

const FROM_LABELS: &[&str] = &["from", "von", "de", "da", "van", "fra", "från", "od"];
const DATE_LABELS: &[&str] = &[
    "sent",
    "date",
    "gesendet",
    "datum",
    "envoyé",
    "enviado",
    "enviado el",
    "data",
    "fecha",
    "verzonden",
    "inviato",
    "sendt",
    "skickat",
];
const TO_LABELS: &[&str] = &["to", "an", "à", "a", "para", "aan", "til", "till", "cc"];
const SUBJECT_LABELS: &[&str] = &[
    "subject",
    "betreff",
    "objet",
    "asunto",
    "oggetto",
    "onderwerp",
    "assunto",
    "emne",
    "ämne",
];

/// Whole last lines that mobile and webmail clients add.
const CLIENT_SIGNATURE_PREFIXES: &[&str] = &[
    "sent from my ",
    "sent from mail for ",
    "sent from yahoo mail",
    "sent from outlook",
    "sent with proton mail",
    "get outlook for ",
    "envoyé de mon ",
    "envoyé depuis mon ",
    "von meinem ",
    "gesendet von meinem ",
    "enviado desde mi ",
    "inviato da ",
    "verzonden vanaf mijn ",
    "enviado do meu ",
];

/// The text the customer wrote in `full`: see the module documentation.
pub fn visible_text(full: &str) -> String {
    let lines: Vec<&str> = full.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut dropped = vec![false; lines.len()];
    let mut end = lines.len();
    let mut i = 0;
    while i < end {
        let line = lines[i];
        if is_quote(line) {
            dropped[i] = true;
            i += 1;
            continue;
        }
        if let Some(span) = attribution(&lines, i) {
            let next = (i + span..lines.len()).find(|&j| !lines[j].trim().is_empty());
            match next {
                Some(j) if is_quote(lines[j]) => {
                    dropped[i..j].iter_mut().for_each(|d| *d = true);
                    i = j;
                    continue;
                }
                _ if looks_dated(&lines[i..i + span].join(" ")) => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        if original_separator(line) {
            end = i;
            break;
        }
        if header_block(&lines, i) && !forwarded_before(&lines, i) {
            // Outlook draws a line above the block.
            end = match (0..i).rev().find(|&j| !lines[j].trim().is_empty()) {
                Some(j) if rule(lines[j]) => j,
                _ => i,
            };
            break;
        }
        i += 1;
    }
    let mut kept: Vec<&str> = Vec::new();
    for (i, line) in lines[..end].iter().enumerate() {
        if dropped[i] {
            // A removed block leaves one paragraph break where it stood.
            if kept.last().is_some_and(|l| !l.trim().is_empty()) {
                kept.push("");
            }
            continue;
        }
        if line.trim().is_empty() && kept.last().is_none_or(|l| l.trim().is_empty()) {
            continue;
        }
        kept.push(line);
    }
    strip_signature(&mut kept);
    kept.join("\n").trim().to_owned()
}

fn is_quote(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

/// How many lines (1 to [`ATTRIBUTION_MAX_LINES`]) from `i` make an attribution line.
fn attribution(lines: &[&str], i: usize) -> Option<usize> {
    let mut joined = String::new();
    for span in 1..=ATTRIBUTION_MAX_LINES {
        let line = lines.get(i + span - 1)?.trim();
        if line.is_empty() || is_quote(line) || joined.len() > 400 {
            return None;
        }
        if !joined.is_empty() {
            joined.push(' ');
        }
        joined.push_str(line);
        let lower = joined.to_lowercase();
        let ends = ATTRIBUTION_ENDINGS.iter().any(|e| lower.ends_with(e))
            || (lower.ends_with(':') && NAME_AFTER_VERB.iter().any(|v| lower.contains(v)));
        if ends {
            return Some(span);
        }
    }
    None
}

/// An attribution a client wrote carries a date, a time or an address; "As I wrote:" does
/// not.
fn looks_dated(attribution: &str) -> bool {
    attribution.contains('@') || attribution.chars().any(|c| c.is_ascii_digit())
}

fn original_separator(line: &str) -> bool {
    let t = line.trim();
    if !(t.starts_with("---") || t.starts_with("___")) {
        return false;
    }
    let words = t
        .trim_matches(|c: char| c == '-' || c == '_' || c.is_whitespace())
        .to_lowercase();
    ORIGINAL_MESSAGE.iter().any(|m| words == *m)
}

/// A line drawn with underscores or dashes only.
fn rule(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 10 && (t.chars().all(|c| c == '_') || t.chars().all(|c| c == '-'))
}

/// The label of a `Label: value` header line, bold markers and spacing removed.
fn label(line: &str) -> Option<String> {
    let t = line.trim().trim_start_matches('*').trim_start();
    let (label, _) = t.split_once(':')?;
    let label = label.trim().trim_end_matches('*').trim().to_lowercase();
    (!label.is_empty() && label.len() <= 12).then_some(label)
}

/// Outlook's quoted header block: a `From:` line followed within a few lines by a
/// `Subject:` and a `Sent:`/`Date:` or `To:` line (or their translations). "From: Berlin /
/// To: Paris" in a customer's text has no subject line.
fn header_block(lines: &[&str], i: usize) -> bool {
    if !label(lines[i]).is_some_and(|l| FROM_LABELS.contains(&l.as_str())) {
        return false;
    }
    let labels: Vec<String> = lines[i + 1..].iter().take(6).filter_map(|l| label(l)).collect();
    let has = |set: &[&str]| labels.iter().any(|l| set.contains(&l.as_str()));
    has(SUBJECT_LABELS) && (has(DATE_LABELS) || has(TO_LABELS))
}

fn forwarded_before(lines: &[&str], i: usize) -> bool {
    lines[..i].iter().rev().find(|l| !l.trim().is_empty()).is_some_and(|l| {
        let lower = l.to_lowercase();
        FORWARDED.iter().any(|f| lower.contains(f))
    })
}

fn strip_signature(kept: &mut Vec<&str>) {
    while kept.last().is_some_and(|l| l.trim().is_empty()) {
        kept.pop();
    }
    if let Some(last) = kept.last() {
        if client_signature(last) {
            kept.pop();
        }
    }
    let delimiter = kept.iter().rposition(|l| *l == "-- " || l.trim_end() == "--");
    if let Some(d) = delimiter {
        let after = kept[d + 1..].iter().filter(|l| !l.trim().is_empty()).count();
        if after <= SIGNATURE_MAX_LINES {
            kept.truncate(d);
        }
    }
    while kept.last().is_some_and(|l| l.trim().is_empty()) {
        kept.pop();
    }
}

/// "Sent from my iPhone" as a whole line, not "Sent from my phone because my laptop…".
fn client_signature(line: &str) -> bool {
    let lower = line.trim().to_lowercase();
    let words = lower.split_whitespace().count();
    CLIENT_SIGNATURE_PREFIXES.iter().any(|p| lower.starts_with(p))
        && words <= 7
        && !lower.contains(',')
        && !lower.trim_end_matches('.').contains('.')
        && !lower.ends_with('?')
        && !lower.ends_with('!')
}

#[cfg(test)]
mod tests {
    use super::visible_text;

    #[test]
    fn no_quote_no_change() {
        assert_eq!(visible_text("Where is my order 4411?"), "Where is my order 4411?");
        assert_eq!(visible_text("  \n\nHi,\n\n\n\nthanks\n\n"), "Hi,\n\nthanks");
    }

    /// Every `fixtures/quoted/*.txt`: a reply as a client writes it, `=== visible ===`,
    /// then exactly what the customer wrote.
    #[test]
    fn fixtures_for_each_client_and_language() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/quoted");
        let mut checked = 0;
        let mut wrong = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let (reply, expected) = text
                .split_once("\n=== visible ===\n")
                .expect("fixture has a visible part");
            let got = visible_text(reply);
            if got != expected.trim() {
                wrong.push(format!(
                    "{}:\n--- got ---\n{got}\n--- expected ---\n{expected}",
                    path.display()
                ));
            }
            checked += 1;
        }
        assert!(checked >= 20, "only {checked} fixtures");
        assert!(
            wrong.is_empty(),
            "{} of {checked} wrong:\n{}",
            wrong.len(),
            wrong.join("\n\n")
        );
    }

    #[test]
    fn as_i_wrote_is_the_customers_text() {
        let t = "As I wrote:\nthe parcel never came.\nOn Monday I wrote:\nhello";
        assert_eq!(visible_text(t), t);
    }
}
