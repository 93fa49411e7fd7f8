//! The triage decision: answer from the knowledge base, or hand the conversation to a
//! human, and why. One function serves the triage Lambda, the answer preview of the agent
//! API and the evaluation, so what teams preview and measure is what customers get. It
//! stores and sends nothing.

use crate::clarify;
use crate::kb::Article;
use crate::retrieval::{tokenize, Hit, KbIndex};
use crate::tenant::AiSettings;
use crate::ArticleId;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Decision {
    Answer,
    /// Close candidates: the customer is asked which one (`answer` is the question,
    /// `citations` the candidates in their numbered order).
    Clarify,
    Handoff,
    /// The model asked to look one of the customer's orders up (`answer` carries the
    /// number when it named one): the shop answers, to the order's owner only, and the
    /// model never sees the order.
    LookUpOrder,
}

/// Why a conversation goes to a human.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum HandoffReason {
    AskedForHuman,
    AskedForTicket,
    Frustrated,
    RepeatedQuestion,
    AlwaysHumanTopic {
        topic: String,
    },
    NoKnowledge,
    LowConfidence,
    ModelNeedsHuman {
        reason: String,
    },
    UncitedAnswer,
    ModelFailed,
    /// The customer's reply to a clarifying question did not settle which article applies.
    StillUnclear,
    /// The conversation was left waiting for a human by a handoff that never finished
    /// (a ticket number with no ticket); the next message completes it.
    Recovered,
    /// The tenant's AI message quota (per minute or per day) is used up.
    AiQuota {
        window: String,
    },
    /// The customer asked about an order and the shop could not be asked (down, slow,
    /// refusing Baton's credential): a human looks it up, nothing is made up.
    ShopUnavailable {
        reason: String,
    },
    /// The customer asked about an order they did not prove is theirs, after being
    /// asked for that proof.
    OrderUnverified,
}

impl HandoffReason {
    /// The reason's code (`asked_for_human`, `low_confidence`, …), as tags and reports name it.
    pub fn code(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v["code"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    pub fn describe(&self) -> String {
        match self {
            HandoffReason::AskedForHuman => "the customer asked for a human".into(),
            HandoffReason::AskedForTicket => "the customer asked for a ticket".into(),
            HandoffReason::Frustrated => "the customer is frustrated".into(),
            HandoffReason::RepeatedQuestion => "the customer asked the same question three times".into(),
            HandoffReason::AlwaysHumanTopic { topic } => format!("the topic \"{topic}\" always goes to a human"),
            HandoffReason::NoKnowledge => "no knowledge-base article covers the question".into(),
            HandoffReason::LowConfidence => "the answer's confidence is below the tenant's threshold".into(),
            HandoffReason::ModelNeedsHuman { reason } => format!("the assistant judged a human is needed: {reason}"),
            HandoffReason::UncitedAnswer => "the assistant's answer cited no knowledge-base article".into(),
            HandoffReason::ModelFailed => "the assistant failed to answer".into(),
            HandoffReason::StillUnclear => {
                "the reply to a clarifying question did not settle which article applies".into()
            }
            HandoffReason::Recovered => "an earlier handoff to a human did not complete; it was completed now".into(),
            HandoffReason::AiQuota { window } => format!("the tenant's AI message quota per {window} is used up"),
            HandoffReason::ShopUnavailable { reason } => {
                format!("the customer asked about an order and the shop could not be asked: {reason}")
            }
            HandoffReason::OrderUnverified => "the customer asked about an order without proving it is theirs".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Citation {
    pub article_id: ArticleId,
    pub title: String,
    pub url: Option<String>,
    pub score: f64,
}

impl From<&Hit> for Citation {
    fn from(h: &Hit) -> Self {
        Citation {
            article_id: h.article_id.clone(),
            title: h.title.clone(),
            url: h.url.clone(),
            score: h.score,
        }
    }
}

/// The outcome, in the shape the preview API returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriageOutcome {
    pub decision: Decision,
    /// `answered` for answers, the handoff reason's code otherwise.
    pub reason: String,
    pub handoff: Option<HandoffReason>,
    pub answer: Option<String>,
    pub confidence: f64,
    /// For an answer: the articles it cites. For a handoff: the articles consulted.
    pub citations: Vec<Citation>,
}

/// What the answerer is asked.
pub struct AnswerRequest<'a> {
    pub question: &'a str,
    /// The conversation so far, oldest first: `(from_customer, text)`.
    pub history: &'a [(bool, String)],
    pub persona: &'a str,
    /// Retrieved passages, best first.
    pub passages: Vec<(&'a Hit, &'a Article)>,
    /// The passages are close candidates: the answerer may ask the customer which one
    /// applies (a `clarify` answer) instead of answering.
    pub may_clarify: bool,
    /// The tenant has a shop: the answerer may ask to look an order up (a `look_up_order`
    /// answer) instead of answering.
    pub may_look_up_order: bool,
}

/// What an answerer returns.
#[derive(Debug, Clone, PartialEq)]
pub struct ProposedAnswer {
    pub text: String,
    pub confidence: f64,
    pub cited: Vec<ArticleId>,
    pub needs_human: Option<String>,
    /// Asked only when `may_clarify`: a short lead-in to the question asking which of the
    /// cited candidates applies (Baton appends the numbered candidates).
    pub clarify: Option<String>,
    /// Asked only when `may_look_up_order`: look the customer's order up (the number they
    /// gave, if any) rather than answer from the passages.
    pub look_up_order: Option<OrderLookup>,
}

/// The answerer's request to look an order up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLookup {
    /// The order number the customer gave, as Baton reads order numbers (see
    /// [`crate::commerce::plain_order_number`]); `None` when they gave none.
    pub number: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("answerer failed: {0}")]
pub struct AnswerError(pub String);

/// Produces an answer from retrieved passages: the deterministic one locally, Bedrock in AWS.
#[async_trait]
pub trait Answerer: Send + Sync {
    async fn answer(&self, request: &AnswerRequest<'_>) -> Result<ProposedAnswer, AnswerError>;

    /// A short case summary for the agent who takes over, from the conversation
    /// `(from_customer, text)`. `None` (the default, and on any failure) means the caller
    /// writes the extractive summary instead.
    async fn summarize(&self, _conversation: &[(bool, String)], _handoff_reason: &str) -> Option<String> {
        None
    }

    /// Whether this answerer can ask to look an order up (a model with the `lookup_order`
    /// tool). The deterministic one cannot: triage's own order step reads the common
    /// phrasings before any answerer is asked.
    fn looks_up_orders(&self) -> bool {
        false
    }
}

/// Answers with the best article, or, offered close candidates, asks which one applies. Its
/// confidence is the article's calibrated retrieval score (see `retrieval::calibrate`): the
/// same tenant threshold then means the same thing for this answerer and for a model.
pub struct DeterministicAnswerer;

#[async_trait]
impl Answerer for DeterministicAnswerer {
    async fn answer(&self, r: &AnswerRequest<'_>) -> Result<ProposedAnswer, AnswerError> {
        let Some((hit, article)) = r.passages.first() else {
            return Ok(ProposedAnswer {
                text: String::new(),
                confidence: 0.0,
                cited: vec![],
                needs_human: None,
                clarify: None,
                look_up_order: None,
            });
        };
        if r.may_clarify {
            return Ok(ProposedAnswer {
                text: String::new(),
                confidence: hit.score,
                cited: r.passages.iter().map(|(_, a)| a.id.clone()).collect(),
                needs_human: None,
                clarify: Some(String::new()),
                look_up_order: None,
            });
        }
        let mut text = article.body.trim().to_owned();
        if let Some(url) = &article.url {
            text.push_str(&format!("\n\nMore: {url}"));
        }
        Ok(ProposedAnswer {
            text,
            confidence: hit.score,
            cited: vec![article.id.clone()],
            needs_human: None,
            clarify: None,
            look_up_order: None,
        })
    }
}

/// Passages given to the answerer.
pub const PASSAGES: usize = 3;

/// The AI's context window, a budget separate from the ticket (which keeps every
/// message): the customer's current message up to `CURRENT_MESSAGE_BYTES`, and earlier
/// messages, newest first, each up to `EARLIER_MESSAGE_BYTES`, until `HISTORY_BYTES`, and
/// [`PASSAGES`] articles of at most `ARTICLE_BYTES_IN_PROMPT` each: a prompt stays under
/// about 45 KiB of text however long the conversation, the e-mail or the article.
pub const CURRENT_MESSAGE_BYTES: usize = 8 * 1024;
pub const EARLIER_MESSAGE_BYTES: usize = 2 * 1024;
pub const HISTORY_BYTES: usize = 12 * 1024;
pub const ARTICLE_BYTES_IN_PROMPT: usize = 8 * 1024;

/// The part of `history` (oldest first) that fits the context window, oldest first.
pub fn context_window(history: &[(bool, String)]) -> Vec<(bool, String)> {
    let mut kept = Vec::new();
    let mut bytes = 0;
    for (from_customer, text) in history.iter().rev() {
        let (text, _) = crate::caps::cap_text(text, EARLIER_MESSAGE_BYTES);
        if bytes + text.len() > HISTORY_BYTES {
            break;
        }
        bytes += text.len();
        kept.push((*from_customer, text.to_owned()));
    }
    kept.reverse();
    kept
}

/// The current message as the model sees it.
pub fn current_message(text: &str) -> &str {
    crate::caps::cap_text(text, CURRENT_MESSAGE_BYTES).0
}

pub struct DecisionInput<'a> {
    pub text: &'a str,
    /// The conversation before this message, oldest first: `(from_customer, text)`.
    pub history: &'a [(bool, String)],
    pub ai: &'a AiSettings,
    pub kb: &'a KbIndex,
    pub articles: &'a [Article],
    /// The candidates of the clarifying question the AI asked just before this message, in
    /// their numbered order; empty when it asked none.
    pub offered: &'a [ArticleId],
    /// The tenant has a shop connected: an answerer that looks orders up may ask to.
    pub orders: bool,
}

/// Answer, ask which of close candidates applies, or hand off (module docs of
/// [`crate::clarify`]). After a clarifying question the customer's pick is answered from
/// the picked article; a reply that settles nothing hands off rather than asking again.
pub async fn decide(input: &DecisionInput<'_>, answerer: &dyn Answerer) -> TriageOutcome {
    // The whole ranking once (a clarifying pick compares candidates beyond the first few);
    // the answer sees the best PASSAGES.
    let ranked = input.kb.search(input.text, input.kb.len());
    let hits = &ranked[..ranked.len().min(PASSAGES)];
    let consulted: Vec<Citation> = hits.iter().map(Citation::from).collect();
    let handoff = |reason: HandoffReason, confidence: f64| TriageOutcome {
        decision: Decision::Handoff,
        reason: reason.code(),
        handoff: Some(reason),
        answer: None,
        confidence,
        citations: consulted.clone(),
    };
    if let Some(reason) = rule_handoff(input.text, input.history, input.ai) {
        return handoff(reason, 1.0);
    }
    let clarifying = !input.offered.is_empty();
    if clarifying {
        if let Some(picked) = clarify::choose(input.text, input.offered, &ranked, input.articles) {
            return answer_picked(input, answerer, &picked, handoff).await;
        }
    }
    let article = |h: &Hit| input.articles.iter().find(|a| a.id == h.article_id);
    let passages: Vec<(&Hit, &Article)> = hits.iter().filter_map(|h| article(h).map(|a| (h, a))).collect();
    let unsettled = |otherwise: HandoffReason| {
        if clarifying {
            HandoffReason::StillUnclear
        } else {
            otherwise
        }
    };
    let orders = input.orders && answerer.looks_up_orders();
    if passages.is_empty() {
        return order_lookup_or(
            input,
            answerer,
            orders,
            handoff(unsettled(HandoffReason::NoKnowledge), 0.0),
        )
        .await;
    }
    let best = passages[0].0.score;
    let threshold = input.ai.confidence_threshold;
    let close = match clarify::verdict(hits, threshold) {
        clarify::Verdict::Weak => {
            let weak = handoff(unsettled(HandoffReason::LowConfidence), best);
            return order_lookup_or(input, answerer, orders, weak).await;
        }
        clarify::Verdict::Close(_) if clarifying => return handoff(HandoffReason::StillUnclear, best),
        clarify::Verdict::Close(n) => Some(n.min(passages.len())),
        clarify::Verdict::Clear => None,
    };
    let request = AnswerRequest {
        question: input.text,
        history: input.history,
        persona: &input.ai.persona,
        passages: passages.clone(),
        may_clarify: close.is_some(),
        may_look_up_order: orders,
    };
    let proposed = match answerer.answer(&request).await {
        Ok(p) => p,
        Err(_) => return handoff(HandoffReason::ModelFailed, 0.0),
    };
    if let Some(lookup) = proposed.look_up_order.filter(|_| orders) {
        return look_up(lookup, consulted);
    }
    if let Some(reason) = proposed.needs_human {
        return handoff(HandoffReason::ModelNeedsHuman { reason }, proposed.confidence);
    }
    // Retrieval must agree with what the answer cites: the clear best article, or one of
    // the close candidates. The answer is as sure as the lesser of the answerer and
    // retrieval for what it cites.
    let allowed = &passages[..close.unwrap_or(1)];
    let cited: Vec<Citation> = allowed
        .iter()
        .filter(|(h, _)| proposed.cited.contains(&h.article_id))
        .map(|(h, _)| Citation::from(*h))
        .collect();
    let ask = |lead_in: Option<&str>| {
        let offered: Vec<&Article> = allowed.iter().map(|(_, a)| *a).collect();
        TriageOutcome {
            decision: Decision::Clarify,
            reason: "clarify".into(),
            handoff: None,
            answer: Some(clarify::question(lead_in, &offered)),
            confidence: best,
            citations: allowed.iter().map(|(h, _)| Citation::from(*h)).collect(),
        }
    };
    if close.is_some() && proposed.clarify.is_some() {
        return ask(proposed.clarify.as_deref());
    }
    let retrieval = cited.iter().map(|c| c.score).fold(0.0, f64::max);
    let confidence = proposed.confidence.min(retrieval);
    let answered = !cited.is_empty() && !proposed.text.trim().is_empty();
    if close.is_some() && (!answered || confidence < threshold) {
        // Offered close candidates, the answerer neither asked nor answered acceptably.
        return ask(None);
    }
    if !answered {
        return handoff(HandoffReason::UncitedAnswer, proposed.confidence);
    }
    if confidence < threshold {
        return handoff(HandoffReason::LowConfidence, confidence);
    }
    TriageOutcome {
        decision: Decision::Answer,
        reason: "answered".into(),
        handoff: None,
        answer: Some(proposed.text),
        confidence,
        citations: cited,
    }
}

/// The outcome of the model asking to look an order up.
fn look_up(lookup: OrderLookup, consulted: Vec<Citation>) -> TriageOutcome {
    TriageOutcome {
        decision: Decision::LookUpOrder,
        reason: "look_up_order".into(),
        handoff: None,
        answer: lookup.number,
        confidence: 0.0,
        citations: consulted,
    }
}

/// No passage good enough to answer from: with a shop and a model that looks orders up,
/// the model is asked (with no passages) whether this is about one of the customer's
/// orders; anything but a lookup is `otherwise`, as it is when the model fails. Without,
/// `otherwise` at once, at no model cost.
async fn order_lookup_or(
    input: &DecisionInput<'_>,
    answerer: &dyn Answerer,
    orders: bool,
    otherwise: TriageOutcome,
) -> TriageOutcome {
    if !orders {
        return otherwise;
    }
    let request = AnswerRequest {
        question: input.text,
        history: input.history,
        persona: &input.ai.persona,
        passages: vec![],
        may_clarify: false,
        may_look_up_order: true,
    };
    match answerer.answer(&request).await {
        Ok(ProposedAnswer {
            look_up_order: Some(lookup),
            ..
        }) => look_up(lookup, otherwise.citations),
        _ => otherwise,
    }
}

/// Answers from the article the customer picked after a clarifying question. The pick is
/// the customer's own, so no threshold applies, but the answer must still cite it.
async fn answer_picked(
    input: &DecisionInput<'_>,
    answerer: &dyn Answerer,
    picked: &ArticleId,
    handoff: impl Fn(HandoffReason, f64) -> TriageOutcome,
) -> TriageOutcome {
    let Some(article) = input.articles.iter().find(|a| &a.id == picked) else {
        return handoff(HandoffReason::StillUnclear, 0.0);
    };
    let hit = Hit {
        article_id: article.id.clone(),
        title: article.title.clone(),
        url: article.url.clone(),
        score: 1.0,
    };
    let request = AnswerRequest {
        question: input.text,
        history: input.history,
        persona: &input.ai.persona,
        passages: vec![(&hit, article)],
        may_clarify: false,
        may_look_up_order: false,
    };
    let proposed = match answerer.answer(&request).await {
        Ok(p) => p,
        Err(_) => return handoff(HandoffReason::ModelFailed, 0.0),
    };
    if let Some(reason) = proposed.needs_human {
        return handoff(HandoffReason::ModelNeedsHuman { reason }, proposed.confidence);
    }
    if !proposed.cited.contains(picked) || proposed.text.trim().is_empty() {
        return handoff(HandoffReason::UncitedAnswer, proposed.confidence);
    }
    TriageOutcome {
        decision: Decision::Answer,
        reason: "answered".into(),
        handoff: None,
        answer: Some(proposed.text),
        confidence: 1.0,
        citations: vec![Citation::from(&hit)],
    }
}

/// Words that carry thanks or a confirmation, in the languages the phrase lists cover.
const POSITIVE: &[&str] = &[
    "thanks",
    "thank",
    "thankyou",
    "thx",
    "ty",
    "tysm",
    "cheers",
    "perfect",
    "great",
    "awesome",
    "brilliant",
    "excellent",
    "wonderful",
    "fantastic",
    "amazing",
    "helpful",
    "helped",
    "solved",
    "sorted",
    "works",
    "worked",
    "appreciated",
    "appreciate",
    "merci",
    "danke",
    "gracias",
    "grazie",
    "obrigado",
    "obrigada",
    "dank",
    "super",
];
/// The words around them ("ok great, thanks a lot", "merci beaucoup").
const FILLERS: &[&str] = &[
    "ok great, thanks a lot",
    "vielen",
    "schon",
    "beaucoup",
    "muchas",
    "mille",
    "cool",
    "nice",
    "good",
    "ok",
    "okay",
    "k",
    "alright",
    "yes",
    "yeah",
    "yep",
    "got",
    "it",
    "that",
    "this",
    "so",
    "much",
    "very",
    "a",
    "lot",
    "lots",
    "many",
    "for",
    "the",
    "your",
    "you",
    "help",
    "all",
    "now",
    "and",
    "really",
    "is",
    "was",
    "just",
    "what",
    "needed",
    "i",
    "bye",
    "have",
    "day",
    "answer",
    "info",
    "information",
    "s",
    "exactly",
];
/// Whether a customer's message only thanks or confirms ("Thanks!", "that helped, thank
/// you", "perfect 👍", "merci beaucoup"): positive feedback on what was said before it,
/// with no new question, no complaint and no request. Up to 10 words, every one a word of
/// thanks or a filler around it, at least one of thanks; or a thumbs-up alone.
pub fn acknowledges(text: &str) -> bool {
    let trimmed = text.trim();
    if matches!(trimmed, "👍" | "🙏" | "❤️" | "👌" | "🙂" | "😊") {
        return true;
    }
    if trimmed.contains('?') {
        return false;
    }
    let norm = normalise(trimmed);
    let words: Vec<&str> = norm.split_whitespace().collect();
    (1..=10).contains(&words.len())
        && words.iter().all(|w| POSITIVE.contains(w) || FILLERS.contains(w))
        && words.iter().any(|w| POSITIVE.contains(w))
}

#[cfg(test)]
mod acknowledging {
    use super::acknowledges;

    #[test]
    fn thanks_and_confirmations_acknowledge_and_nothing_else_does() {
        for yes in [
            "Thanks!",
            "thank you so much",
            "That helped, thanks",
            "perfect 👍",
            "ok great, thanks a lot",
            "👍",
            "Danke schön!",
            "merci beaucoup",
            "Muchas gracias",
            "cheers, that's what I needed",
        ] {
            assert!(acknowledges(yes), "{yes}");
        }
        for no in [
            "thanks but it still hasn't arrived",
            "thanks, and how do I return it?",
            "not helpful",
            "no thanks I want a human",
            "where is my order",
            "great, can I also change my address",
            "ok",
            "",
        ] {
            assert!(!acknowledges(no), "{no}");
        }
    }
}

/// Lower-cases and folds the accents of the languages the phrase lists cover.
pub(crate) fn normalise(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ä' | 'ã' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            'ß' => 's',
            c if c.is_alphanumeric() => c,
            _ => ' ',
        })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `phrase` occurs in `haystack` as whole words (both normalised).
pub(crate) fn contains_phrase(haystack: &str, phrase: &str) -> bool {
    let h = format!(" {haystack} ");
    h.contains(&format!(" {phrase} "))
}

const TICKET_PHRASES: &[&str] = &[
    "open a ticket",
    "create a ticket",
    "raise a ticket",
    "file a ticket",
    "submit a ticket",
    "support ticket",
    "open a case",
    "file a complaint",
    "make a complaint",
    "formal complaint",
    "escalate this",
    "escalate",
];

const FRUSTRATION_WORDS: &[&str] = &[
    "ridiculous",
    "useless",
    "terrible",
    "worst",
    "unacceptable",
    "scam",
    "furious",
    "angry",
    "pathetic",
    "awful",
    "disgusting",
    "incompetent",
    "fed up",
    "sick of",
    "waste of time",
    "joke",
    "wtf",
    "damn",
    "hell",
    "shit",
    "crap",
    "fuck",
    "fucking",
    "stupid",
    "idiot",
];

fn frustrated(raw: &str, norm: &str) -> bool {
    let words = FRUSTRATION_WORDS.iter().filter(|w| contains_phrase(norm, w)).count();
    let letters: Vec<char> = raw.chars().filter(|c| c.is_alphabetic()).collect();
    let shouting = letters.len() >= 12 && letters.iter().filter(|c| c.is_uppercase()).count() * 10 >= letters.len() * 7;
    let bangs = raw.matches('!').count() >= 3;
    let profane = ["fuck", "fucking", "shit", "wtf"]
        .iter()
        .any(|w| contains_phrase(norm, w));
    profane || words + usize::from(shouting) + usize::from(bangs) >= 2
}

fn similar(a: &str, b: &str) -> bool {
    let a: HashSet<String> = tokenize(a).into_iter().collect();
    let b: HashSet<String> = tokenize(b).into_iter().collect();
    if a.is_empty() || b.is_empty() {
        return normalise_eq(a.is_empty(), b.is_empty());
    }
    let inter = a.intersection(&b).count() as f64;
    let union = a.union(&b).count() as f64;
    inter / union >= 0.6
}

fn normalise_eq(a: bool, b: bool) -> bool {
    a && b
}

/// The rules that hand off before any model is asked.
pub fn rule_handoff(text: &str, history: &[(bool, String)], ai: &AiSettings) -> Option<HandoffReason> {
    let norm = normalise(text);
    if crate::human_request::asks_for_human(&norm) {
        return Some(HandoffReason::AskedForHuman);
    }
    if TICKET_PHRASES.iter().any(|p| contains_phrase(&norm, p)) {
        return Some(HandoffReason::AskedForTicket);
    }
    if frustrated(text, &norm) {
        return Some(HandoffReason::Frustrated);
    }
    let text_tokens: HashSet<String> = tokenize(text).into_iter().collect();
    for topic in &ai.always_human_topics {
        let topic_tokens = tokenize(topic);
        if !topic_tokens.is_empty() && topic_tokens.iter().all(|t| text_tokens.contains(t)) {
            return Some(HandoffReason::AlwaysHumanTopic { topic: topic.clone() });
        }
    }
    let repeats = history
        .iter()
        .filter(|(from_customer, t)| *from_customer && similar(t, text))
        .count();
    if repeats >= 2 {
        return Some(HandoffReason::RepeatedQuestion);
    }
    None
}

#[cfg(test)]
mod window_tests {
    use super::*;

    #[test]
    fn the_context_window_keeps_the_newest_messages_within_its_budget() {
        let long = "x".repeat(100_000);
        let history: Vec<(bool, String)> = (0..50).map(|i| (i % 2 == 0, format!("{i} {long}"))).collect();
        let window = context_window(&history);
        let bytes: usize = window.iter().map(|(_, t)| t.len()).sum();
        assert!(bytes <= HISTORY_BYTES && window.len() == HISTORY_BYTES / EARLIER_MESSAGE_BYTES);
        assert!(window.last().unwrap().1.starts_with("49 "), "newest kept, order kept");
        assert_eq!(current_message(&long).len(), CURRENT_MESSAGE_BYTES);
        let short = vec![(true, "hi".to_owned()), (false, "hello".to_owned())];
        assert_eq!(context_window(&short), short);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{TenantId, Timestamp};

    fn ai() -> AiSettings {
        AiSettings::default()
    }

    #[test]
    fn calibration_puts_the_operating_point_on_the_default_threshold() {
        use crate::retrieval::{calibrate, LEXICAL_OPERATING_POINT};
        let op = LEXICAL_OPERATING_POINT;
        assert!((calibrate(op, op) - AiSettings::default().confidence_threshold).abs() < 1e-9);
        assert_eq!(calibrate(0.0, op), 0.0);
        assert!(calibrate(1.0, op) > 0.95);
        assert!(calibrate(0.1, op) < calibrate(0.2, op));
    }

    fn articles() -> Vec<Article> {
        let a = |id: &str, title: &str, body: &str, qs: &[&str]| Article {
            tenant_id: TenantId::new("t").unwrap(),
            id: ArticleId::new(id).unwrap(),
            title: title.into(),
            body: body.into(),
            tags: vec![],
            sample_questions: qs.iter().map(|q| q.to_string()).collect(),
            url: Some(format!("https://help.example/{id}")),
            updated_at: Timestamp::from_unix_millis(0).unwrap(),
        };
        vec![
            a(
                "delivery",
                "Delivery times",
                "Standard delivery takes 3 to 5 business days.",
                &["how long does delivery take", "when will my order arrive"],
            ),
            a(
                "returns",
                "Returns",
                "Return unused items within 30 days.",
                &["how do I return an item", "can I send it back"],
            ),
            a(
                "card-declined",
                "Card declined",
                "A declined card is usually a limit or a wrong PIN.",
                &["why was my card declined", "my card got declined at the shop"],
            ),
            a(
                "card-blocked",
                "Card blocked",
                "We block a card after three wrong PINs.",
                &["why is my card blocked", "my card was blocked"],
            ),
        ]
    }

    /// The decision after the AI offered `offered` (in a clarifying question).
    async fn reply(text: &str, history: &[(bool, String)], offered: &[ArticleId]) -> TriageOutcome {
        let arts = articles();
        let kb = KbIndex::build(&arts, 1);
        let ai = ai();
        decide(
            &DecisionInput {
                text,
                history,
                ai: &ai,
                kb: &kb,
                articles: &arts,
                offered,
                orders: false,
            },
            &DeterministicAnswerer,
        )
        .await
    }

    fn ids(o: &TriageOutcome) -> Vec<&str> {
        o.citations.iter().map(|c| c.article_id.as_str()).collect()
    }

    #[tokio::test]
    async fn close_sibling_articles_get_a_clarifying_question_and_the_pick_is_answered() {
        let asked = reply("what is wrong with my card", &[], &[]).await;
        assert_eq!(asked.decision, Decision::Clarify, "{asked:?}");
        assert_eq!(asked.reason, "clarify");
        let mut offered = ids(&asked);
        offered.sort();
        assert_eq!(offered, ["card-blocked", "card-declined"]);
        let question = asked.answer.clone().unwrap();
        assert!(question.contains("1. ") && question.contains("2. ") && question.contains("Card blocked"));
        let offered: Vec<ArticleId> = asked.citations.iter().map(|c| c.article_id.clone()).collect();
        let history = vec![(true, "what is wrong with my card".to_owned()), (false, question)];
        for (pick, want) in [
            ("2", offered[1].as_str()),
            ("the first one", offered[0].as_str()),
            ("Card blocked", "card-blocked"),
            ("it was declined", "card-declined"),
        ] {
            let o = reply(pick, &history, &offered).await;
            assert_eq!(o.decision, Decision::Answer, "{pick}: {o:?}");
            assert_eq!(ids(&o), [want], "{pick}");
            let body = &articles().into_iter().find(|a| a.id.as_str() == want).unwrap().body;
            assert!(o.answer.unwrap().contains(body.as_str()), "{pick}");
        }
        // A reply that settles nothing hands off instead of asking again.
        let o = reply("I am not sure", &history, &offered).await;
        assert_eq!(o.handoff, Some(HandoffReason::StillUnclear), "{o:?}");
        assert_eq!(o.reason, "still_unclear");
        let o = reply("what is wrong with my card", &history, &offered).await;
        assert_eq!(o.handoff, Some(HandoffReason::StillUnclear), "{o:?}");
        // A new question that one article clearly answers is answered.
        let o = reply("how long does delivery take", &history, &offered).await;
        assert_eq!((o.decision, ids(&o)), (Decision::Answer, vec!["delivery"]));
        // Asking for a person still wins.
        let o = reply("neither, let me talk to someone", &history, &offered).await;
        assert_eq!(o.handoff, Some(HandoffReason::AskedForHuman));
    }

    #[tokio::test]
    async fn one_clear_winner_among_siblings_is_answered_directly() {
        let o = reply("why was my card declined at the shop", &[], &[]).await;
        assert_eq!(o.decision, Decision::Answer, "{o:?}");
        assert_eq!(ids(&o), ["card-declined"]);
    }

    async fn run(text: &str, history: &[(bool, String)]) -> TriageOutcome {
        reply(text, history, &[]).await
    }

    #[tokio::test]
    async fn a_covered_question_is_answered_with_a_citation() {
        let o = run("How long does delivery take?", &[]).await;
        assert_eq!(o.decision, Decision::Answer, "{o:?}");
        assert_eq!(o.citations[0].article_id.as_str(), "delivery");
        assert!(o.answer.unwrap().contains("3 to 5 business days"));
        assert_eq!(o.reason, "answered");
    }

    #[tokio::test]
    async fn asking_for_a_human_hands_off_in_several_languages() {
        for text in [
            "I want to speak to a human",
            "can I talk to a real person please",
            "agent please",
            "Quiero hablar con una persona",
            "je veux parler à un humain",
            "Ich möchte mit einem Menschen sprechen",
            "quero falar com um atendente",
        ] {
            let o = run(text, &[]).await;
            assert_eq!(o.handoff, Some(HandoffReason::AskedForHuman), "{text}");
            assert_eq!(o.reason, "asked_for_human");
        }
    }

    #[tokio::test]
    async fn tickets_frustration_topics_and_repeats_hand_off() {
        assert_eq!(
            run("please open a ticket for this", &[]).await.handoff,
            Some(HandoffReason::AskedForTicket)
        );
        assert_eq!(
            run("THIS IS RIDICULOUS, WHERE IS MY ORDER", &[]).await.handoff,
            Some(HandoffReason::Frustrated)
        );
        assert_eq!(
            run("this is useless and unacceptable", &[]).await.handoff,
            Some(HandoffReason::Frustrated)
        );
        assert_eq!(
            run("I need a refund exception for my order", &[]).await.handoff,
            Some(HandoffReason::AlwaysHumanTopic {
                topic: "refund exception".into()
            })
        );
        let history = vec![
            (true, "when will my order arrive".to_string()),
            (false, "Standard delivery takes 3 to 5 business days.".to_string()),
            (true, "when will my order arrive?".to_string()),
        ];
        assert_eq!(
            run("When will my order arrive??", &history).await.handoff,
            Some(HandoffReason::RepeatedQuestion)
        );
        // Two asks are not three.
        assert_eq!(
            run("When will my order arrive", &history[..2]).await.decision,
            Decision::Answer
        );
    }

    #[tokio::test]
    async fn uncovered_questions_hand_off_with_what_was_consulted() {
        let o = run("what is the capital of peru", &[]).await;
        assert_eq!(o.decision, Decision::Handoff);
        assert!(matches!(
            o.handoff,
            Some(HandoffReason::NoKnowledge | HandoffReason::LowConfidence)
        ));
    }

    struct Failing;
    #[async_trait]
    impl Answerer for Failing {
        async fn answer(&self, _: &AnswerRequest<'_>) -> Result<ProposedAnswer, AnswerError> {
            Err(AnswerError("timeout".into()))
        }
    }

    struct Uncited;
    #[async_trait]
    impl Answerer for Uncited {
        async fn answer(&self, _: &AnswerRequest<'_>) -> Result<ProposedAnswer, AnswerError> {
            Ok(ProposedAnswer {
                text: "Sure!".into(),
                confidence: 0.99,
                cited: vec![ArticleId::new("made-up").unwrap()],
                needs_human: None,
                clarify: None,
                look_up_order: None,
            })
        }
    }

    #[tokio::test]
    async fn a_failing_or_uncited_answerer_hands_off() {
        let arts = articles();
        let kb = KbIndex::build(&arts, 1);
        let ai = ai();
        let input = DecisionInput {
            text: "how long does delivery take",
            history: &[],
            ai: &ai,
            kb: &kb,
            articles: &arts,
            offered: &[],
            orders: false,
        };
        assert_eq!(decide(&input, &Failing).await.handoff, Some(HandoffReason::ModelFailed));
        assert_eq!(
            decide(&input, &Uncited).await.handoff,
            Some(HandoffReason::UncitedAnswer)
        );
    }

    /// A model with the `lookup_order` tool that always asks for `number`, counting calls.
    struct LooksUp(std::sync::atomic::AtomicUsize, Option<&'static str>);
    #[async_trait]
    impl Answerer for LooksUp {
        async fn answer(&self, r: &AnswerRequest<'_>) -> Result<ProposedAnswer, AnswerError> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(ProposedAnswer {
                text: String::new(),
                confidence: 0.0,
                cited: vec![],
                needs_human: None,
                clarify: None,
                look_up_order: r.may_look_up_order.then(|| OrderLookup {
                    number: self.1.map(str::to_owned),
                }),
            })
        }
        fn looks_up_orders(&self) -> bool {
            true
        }
    }

    #[tokio::test]
    async fn a_model_asks_to_look_an_order_up_only_where_the_tenant_has_a_shop() {
        let arts = articles();
        let kb = KbIndex::build(&arts, 1);
        let ai = ai();
        for (text, weak) in [
            ("the scarf I bought never turned up, it was 1001", true),
            ("how long does delivery take", false),
        ] {
            let mut input = DecisionInput {
                text,
                history: &[],
                ai: &ai,
                kb: &kb,
                articles: &arts,
                offered: &[],
                orders: true,
            };
            let model = LooksUp(Default::default(), Some("1001"));
            let o = decide(&input, &model).await;
            assert_eq!(o.decision, Decision::LookUpOrder, "{text}");
            assert_eq!(o.answer.as_deref(), Some("1001"));
            assert_eq!(model.0.load(std::sync::atomic::Ordering::SeqCst), 1, "one model call");

            // No shop: never offered, and a weak match costs no model call at all.
            input.orders = false;
            let model = LooksUp(Default::default(), Some("1001"));
            let o = decide(&input, &model).await;
            assert_ne!(o.decision, Decision::LookUpOrder, "{text}");
            let calls = model.0.load(std::sync::atomic::Ordering::SeqCst);
            assert_eq!(calls, usize::from(!weak), "{text}");
        }
    }
}
