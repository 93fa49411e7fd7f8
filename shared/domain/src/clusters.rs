//! What customers ask, clustered by meaning: knowledge gaps (the questions the AI could
//! not answer) and recurring topics (what tickets are about).
//!
//! Triage records every question it put to the knowledge base as a
//! [`Fact::Question`](crate::analytics::Fact::Question) with the question's vector (the
//! same embedding model that ranks the articles; without one, a hashed bag of its words,
//! [`WORDS_MODEL`]): answered, or a *gap* when the conversation went to a person for a
//! knowledge reason ([`gap_reason`]); and every ticket it opens as a
//! [`Fact::Topic`](crate::analytics::Fact::Topic) (its subject and first message, its
//! tags). The analytics consumer places each one online, in its [`Family`]:
//!
//! - a gap (or a ticket) joins the nearest cluster of its model whose centroid is at
//!   least [`JOIN`] alike (cosine), or starts a new one (up to [`MAX_CLUSTERS`] per tenant
//!   and family; past that it is counted as unclustered);
//! - an answered question only counts as *asked* in the nearest gap at least [`JOIN`]
//!   alike, never starts one: this is how a gap's handoff rate falls once an article
//!   covers it.
//!
//! A cluster keeps its centroid (the normalised mean of its members' vectors), the first
//! [`SAMPLES`] distinct texts, the latest [`TICKETS`] tickets, and (gaps) its tallies
//! before and after the article that covers it ([`Coverage`]). Per-day counts live in the
//! family's aggregate slice ([`Family::slice`]), so a report over any range reads one item
//! per day, however many questions or tickets there were.

use crate::conversation::{Author, Message};
use crate::retrieval::tokenize;
use crate::triage::HandoffReason;
use crate::{ArticleId, TenantId, TicketNumber, Timestamp};
use base64::Engine;
use serde::{Deserialize, Serialize};

/// The least cosine between a question and a cluster's centroid for the question to
/// join it (all-MiniLM-L6-v2; `docs/analytics.md`, "Knowledge gaps", gives the
/// measurement on CLINC150 that chose it).
pub const JOIN: f32 = 0.5;
/// The least cosine for the word-hash fallback, whose vectors share fewer dimensions.
pub const JOIN_WORDS: f32 = 0.45;
/// Clusters kept per tenant: their centroids live in one item (about 530 bytes each).
pub const MAX_CLUSTERS: usize = 500;
pub const SAMPLES: usize = 5;
pub const TICKETS: usize = 10;
/// Longest question text kept (characters).
pub const MAX_TEXT: usize = 300;
/// The model id of the fallback vectors ([`word_vector`]).
pub const WORDS_MODEL: &str = "words-hash-256";
const WORD_DIMS: usize = 256;

/// Whether a handoff with `reason` is a knowledge gap: no article, too little confidence,
/// no citation, a clarifying question that settled nothing, the model judging it needs a
/// person, or (`after_answer`: the AI had answered in the conversation) the customer asking
/// for a person after an answer.
pub fn gap_reason(reason: &HandoffReason, after_answer: bool) -> bool {
    match reason {
        HandoffReason::NoKnowledge
        | HandoffReason::LowConfidence
        | HandoffReason::UncitedAnswer
        | HandoffReason::StillUnclear
        | HandoffReason::ModelNeedsHuman { .. } => true,
        HandoffReason::AskedForHuman | HandoffReason::Frustrated | HandoffReason::RepeatedQuestion => after_answer,
        _ => false,
    }
}

/// The question a handoff for `reason` leaves unanswered, from the conversation ending
/// with the customer's current message, and whether it counts as asked: the current
/// message; after a clarifying question that settled nothing, the message it clarified;
/// when the customer asks for a person after an answer, the message answered (counted as
/// asked when it was answered). `None` when the handoff is no knowledge gap. The text is
/// as the customer wrote it (quoted mail cut): what retrieval embedded.
pub fn unanswered(history: &[Message], reason: &HandoffReason) -> Option<(String, bool)> {
    let (current, before) = history.split_last()?;
    let text = |m: &Message| crate::triage::current_message(&m.text).to_owned();
    let ai = before.iter().rposition(|m| m.author == Author::Ai);
    let asked_before = ai.and_then(|i| {
        let q = before[..i].iter().rposition(|m| m.author == Author::Customer)?;
        Some((&before[q], before[i].choices.is_empty()))
    });
    match (reason, asked_before) {
        (HandoffReason::StillUnclear, Some((q, _))) => Some((text(q), true)),
        (
            HandoffReason::AskedForHuman | HandoffReason::Frustrated | HandoffReason::RepeatedQuestion,
            Some((q, answer)),
        ) => gap_reason(reason, true).then(|| (text(q), !answer)),
        _ => gap_reason(reason, false).then(|| (text(current), true)),
    }
}

/// `text` without its clauses that only ask for a person ("I want to talk to a human,
/// my refund is late" → "my refund is late"): what a ticket is about, not how it got to
/// a person. The whole text when every clause asks for one.
pub fn without_human_request(text: &str) -> String {
    let clauses: Vec<&str> = text
        .split_inclusive([',', '.', ';', ':', '!', '?', '\n'])
        .filter(|c| !c.trim().is_empty())
        .collect();
    let kept: Vec<&str> = clauses
        .iter()
        .copied()
        .filter(|c| !crate::human_request::asks_for_human(&crate::triage::normalise(c)))
        .collect();
    if kept.is_empty() {
        return text.trim().to_owned();
    }
    let joined = kept.concat();
    let trimmed = joined
        .trim()
        .trim_start_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace());
    trimmed.to_owned()
}

/// What a ticket is about, to cluster: its subject and its first customer message (the
/// message alone when the subject was made from it), without asking for a person.
pub fn topic_text(subject: &str, history: &[Message]) -> String {
    let first = history
        .iter()
        .find(|m| m.author == Author::Customer)
        .map(|m| question_text(crate::triage::current_message(&m.text)))
        .unwrap_or_default();
    let subject = subject.trim().trim_end_matches('…');
    if subject.is_empty() || first.starts_with(subject) {
        without_human_request(&first)
    } else if first.is_empty() {
        subject.to_owned()
    } else {
        format!("{subject}. {}", without_human_request(&first))
    }
}

/// A question's text as kept: trimmed, whitespace folded, at most [`MAX_TEXT`] characters.
pub fn question_text(text: &str) -> String {
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    folded.chars().take(MAX_TEXT).collect()
}

/// A unit vector of the question's stemmed words hashed into 256 dimensions: the
/// fallback when no embedding model is configured (same words, same vector).
pub fn word_vector(text: &str) -> Vec<f32> {
    let mut v = vec![0.0f32; WORD_DIMS];
    for word in tokenize(text) {
        // FNV-1a: stable across builds and platforms.
        let mut h: u32 = 0x811c_9dc5;
        for b in word.bytes() {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        v[h as usize % WORD_DIMS] += 1.0;
    }
    normalise(&mut v);
    v
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// A vector as stored: base64 of its scale (f32, little-endian) then one int8 a dimension.
pub fn encode(v: &[f32]) -> String {
    let q = crate::kb_vectors::QuantVec::quantize(v);
    let mut bytes = q.scale.to_le_bytes().to_vec();
    bytes.extend(q.values.iter().map(|x| *x as u8));
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The vector [`encode`] stored, normalised; `None` when it is not one.
pub fn decode(s: &str) -> Option<Vec<f32>> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    if bytes.len() < 5 {
        return None;
    }
    let scale = f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let mut v: Vec<f32> = bytes[4..].iter().map(|b| f32::from(*b as i8) * scale).collect();
    normalise(&mut v);
    Some(v)
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// What a cluster groups.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Questions the AI could not answer (and the answered ones like them).
    #[default]
    Gaps,
    /// Tickets, by their subject and first message.
    Topics,
}

impl Family {
    /// Its clusters' ids start with this (`gap-3`, `topic-7`).
    pub fn prefix(self) -> &'static str {
        match self {
            Family::Gaps => "gap",
            Family::Topics => "topic",
        }
    }

    /// The tenant's aggregate slice of its clusters' day counts.
    pub fn slice(self) -> &'static str {
        match self {
            Family::Gaps => "gaps",
            Family::Topics => "topics",
        }
    }
}

/// One cluster's centroid, as the tenant's index keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Centroid {
    pub id: String,
    pub model: String,
    /// Gaps averaged into it.
    pub n: u32,
    pub vector: String,
}

/// The tenant's clusters' centroids, in one versioned item: every placement bumps the
/// version, so two consumers placing at once cannot both start a cluster for one question.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterIndex {
    pub version: u64,
    /// Clusters ever started (the next one's number).
    pub started: u64,
    pub centroids: Vec<Centroid>,
}

/// What a cluster's questions cost: asked (answered or not) and handed to a person.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Tally {
    pub asked: u64,
    pub gaps: u64,
}

impl Tally {
    /// Handoffs per question asked; `None` before any.
    pub fn handoff_rate(&self) -> Option<f64> {
        (self.asked > 0).then(|| self.gaps as f64 / self.asked as f64)
    }
}

/// The article added to cover a gap, and when: questions from then on count as "after".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Coverage {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub article_id: ArticleId,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub at: Timestamp,
}

/// One knowledge gap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    pub tenant_id: TenantId,
    #[serde(default)]
    pub family: Family,
    pub id: String,
    pub model: String,
    pub created_at: Timestamp,
    pub last_at: Timestamp,
    /// The first distinct questions, oldest first: the first one labels the gap.
    pub samples: Vec<String>,
    /// The latest tickets its gaps opened or joined, newest last.
    pub tickets: Vec<TicketNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covered: Option<Coverage>,
    /// Before the covering article (all of it while there is none), and after.
    pub before: Tally,
    pub after: Tally,
    pub version: u64,
}

/// What an analytics event puts in a cluster: a question among the gaps, a new ticket
/// among the topics (always as a member that may start one). `vector` is as stored
/// ([`decode`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Member<'a> {
    pub family: Family,
    pub model: &'a str,
    pub vector: &'a str,
    pub text: &'a str,
    pub gap: bool,
    pub asked: bool,
}

/// The cluster member `fact` is, if it is one.
pub fn member(fact: &crate::analytics::Fact) -> Option<Member<'_>> {
    use crate::analytics::Fact;
    match fact {
        Fact::Question {
            text,
            gap,
            asked,
            model,
            vector,
        } => Some(Member {
            family: Family::Gaps,
            model,
            vector,
            text,
            gap: gap.is_some(),
            asked: *asked,
        }),
        Fact::Topic {
            text, model, vector, ..
        } => Some(Member {
            family: Family::Topics,
            model,
            vector,
            text,
            gap: true,
            asked: true,
        }),
        _ => None,
    }
}

/// A question to place: its vector, model, text, and whether it is a gap.
#[derive(Debug, Clone)]
pub struct Question<'a> {
    pub model: &'a str,
    pub vector: &'a [f32],
    pub text: &'a str,
    pub gap: bool,
    /// Counted as asked (false when an answer counted before is now found wanting).
    pub asked: bool,
    pub ticket: Option<TicketNumber>,
    pub at: Timestamp,
}

/// Where a question goes.
#[derive(Debug, Clone, PartialEq)]
pub enum Placement {
    /// Into the cluster at this index of the centroids (its similarity).
    Join(usize, f32),
    /// A gap like no cluster: a new one.
    Start,
    /// An answered question like no gap, or a gap past [`MAX_CLUSTERS`]: counted only in
    /// the tenant's totals.
    Nowhere,
}

/// Where `q` goes in `index` (module docs).
pub fn place(index: &ClusterIndex, q: &Question<'_>) -> Placement {
    let join = if q.model == WORDS_MODEL { JOIN_WORDS } else { JOIN };
    let best = index
        .centroids
        .iter()
        .enumerate()
        .filter(|(_, c)| c.model == q.model)
        .filter_map(|(i, c)| decode(&c.vector).map(|v| (i, cosine(&v, q.vector))))
        .max_by(|a, b| a.1.total_cmp(&b.1));
    match best {
        Some((i, sim)) if sim >= join => Placement::Join(i, sim),
        _ if q.gap && index.centroids.len() < MAX_CLUSTERS => Placement::Start,
        _ => Placement::Nowhere,
    }
}

/// A new cluster of `family` for `q` (its number: `index.started + 1`), and `q`'s day
/// counters in it ([`join`]).
pub fn start(
    index: &mut ClusterIndex,
    tenant: &TenantId,
    family: Family,
    q: &Question<'_>,
) -> (Cluster, Vec<(String, i64)>) {
    index.started += 1;
    let id = format!("{}-{}", family.prefix(), index.started);
    index.centroids.push(Centroid {
        id: id.clone(),
        model: q.model.to_owned(),
        n: 0,
        vector: encode(q.vector),
    });
    let mut cluster = Cluster {
        tenant_id: tenant.clone(),
        family,
        id,
        model: q.model.to_owned(),
        created_at: q.at,
        last_at: q.at,
        samples: vec![],
        tickets: vec![],
        covered: None,
        before: Tally::default(),
        after: Tally::default(),
        version: 0,
    };
    let i = index.centroids.len() - 1;
    let counters = join(index, i, &mut cluster, q);
    (cluster, counters)
}

/// Counts `q` into `cluster` (the one at `i` in `index`): its tally before or after the
/// coverage, and for a gap its centroid, sample and ticket. Returns `q`'s counters for
/// the day in its family's slice: a topic `tickets:<id>`; a question `asked:<id>` and, a
/// gap, `gaps:<id>`. A gap not counted as asked (its answer was, [`unanswered`]) is
/// counted as asked all the same when its answer was not counted here, so a cluster
/// never has more gaps than questions.
pub fn join(index: &mut ClusterIndex, i: usize, cluster: &mut Cluster, q: &Question<'_>) -> Vec<(String, i64)> {
    let after = cluster.covered.as_ref().is_some_and(|c| q.at >= c.at);
    let tally = if after { &mut cluster.after } else { &mut cluster.before };
    let asked = q.asked || tally.asked < tally.gaps + u64::from(q.gap);
    tally.asked += u64::from(asked);
    tally.gaps += u64::from(q.gap);
    cluster.last_at = cluster.last_at.max(q.at);
    let id = &cluster.id;
    let counters = match cluster.family {
        Family::Topics => vec![(format!("tickets:{id}"), 1)],
        Family::Gaps => [(asked, "asked"), (q.gap, "gaps")]
            .into_iter()
            .filter(|(counted, _)| *counted)
            .map(|(_, name)| (format!("{name}:{id}"), 1))
            .collect(),
    };
    if !q.gap {
        return counters;
    }
    let text = question_text(q.text);
    if cluster.samples.len() < SAMPLES && !cluster.samples.iter().any(|s| s.eq_ignore_ascii_case(&text)) {
        cluster.samples.push(text);
    }
    if let Some(t) = q.ticket {
        cluster.tickets.retain(|x| *x != t);
        cluster.tickets.push(t);
        let excess = cluster.tickets.len().saturating_sub(TICKETS);
        cluster.tickets.drain(..excess);
    }
    let c = &mut index.centroids[i];
    let mut mean = decode(&c.vector).unwrap_or_else(|| vec![0.0; q.vector.len()]);
    if mean.len() == q.vector.len() {
        let n = c.n as f32;
        mean.iter_mut().zip(q.vector).for_each(|(m, x)| *m = *m * n + x);
        normalise(&mut mean);
        c.vector = encode(&mean);
    }
    c.n += 1;
    counters
}

/// A question's placement to store ([`crate::ports::AnalyticsStore::count_placed`]): the
/// index and the cluster as they are now, the versions they were read at (0: not
/// stored yet) and the cluster's day counters.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub index: ClusterIndex,
    pub index_read: u64,
    pub cluster: Cluster,
    pub cluster_read: u64,
    pub counters: Vec<(String, i64)>,
}

/// Each gap's totals over some days, from the `gaps` slice's counters.
pub fn totals(days: &[crate::analytics::DailyAggregate]) -> std::collections::BTreeMap<String, Tally> {
    let mut out: std::collections::BTreeMap<String, Tally> = Default::default();
    for (id, asked) in sums(days, "asked") {
        out.entry(id).or_default().asked = asked;
    }
    for (id, gaps) in sums(days, "gaps") {
        out.entry(id).or_default().gaps = gaps;
    }
    out
}

/// The Monday starting the week of `day` (`YYYY-MM-DD`), or the day itself if unreadable.
pub fn week_of(day: &str) -> String {
    match day.parse::<jiff::civil::Date>() {
        Ok(d) => {
            let back = i64::from(d.weekday().to_monday_zero_offset());
            d.checked_sub(jiff::Span::new().days(back)).unwrap_or(d).to_string()
        }
        Err(_) => day.to_owned(),
    }
}

/// One week of a gap.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Week {
    /// Its Monday (tenant-local).
    pub week: String,
    pub asked: u64,
    pub gaps: u64,
}

/// Where a gap is heading: its last week against the mean of the weeks before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Trend {
    Rising,
    Falling,
    Steady,
    /// One week or less of data.
    New,
}

/// Where weekly counts (oldest first) are heading: `Rising` when the last week has at
/// least 2 more and half again as many as the mean of the earlier weeks, `Falling` when
/// it has half as many or fewer (and at least 2 less), else `Steady`.
pub fn trend(weeks: &[u64]) -> Trend {
    let Some((last, earlier)) = weeks.split_last().filter(|(_, e)| !e.is_empty()) else {
        return Trend::New;
    };
    let mean = earlier.iter().map(|w| *w as f64).sum::<f64>() / earlier.len() as f64;
    let now = *last as f64;
    if now >= mean * 1.5 && now >= mean + 2.0 {
        Trend::Rising
    } else if now <= mean * 0.5 && now <= mean - 2.0 {
        Trend::Falling
    } else {
        Trend::Steady
    }
}

/// The fewest tickets in a week that can be a spike.
pub const SPIKE_MIN: u64 = 3;

/// Whether the last of weekly counts (oldest first) is a spike: at least [`SPIKE_MIN`]
/// and at least twice the mean of the weeks before it (there must be some).
pub fn spike(weeks: &[u64]) -> bool {
    let Some((last, earlier)) = weeks.split_last().filter(|(_, e)| !e.is_empty()) else {
        return false;
    };
    let mean = earlier.iter().sum::<u64>() as f64 / earlier.len() as f64;
    *last >= SPIKE_MIN && *last as f64 >= 2.0 * mean
}

/// Every week (its Monday) from the week of `from` to the week of `to`, at most 60.
pub fn week_slots(from: &str, to: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut week = week_of(from);
    let last = week_of(to);
    while week <= last && out.len() < 60 {
        out.push(week.clone());
        week = match week.parse::<jiff::civil::Date>() {
            Ok(d) => d
                .checked_add(jiff::Span::new().days(7))
                .map(|d| d.to_string())
                .unwrap_or_default(),
            Err(_) => break,
        };
    }
    out
}

/// One counter's weekly sums over `days`, one per [`week_slots`] week.
pub fn weekly(days: &[crate::analytics::DailyAggregate], counter: &str, from: &str, to: &str) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = week_slots(from, to).into_iter().map(|w| (w, 0)).collect();
    for d in days {
        let w = week_of(&d.day);
        if let Some(slot) = out.iter_mut().find(|x| x.0 == w) {
            slot.1 += d.count(counter).max(0) as u64;
        }
    }
    out
}

/// Counters named `<prefix>:<name>` summed over `days`, by name.
pub fn sums(days: &[crate::analytics::DailyAggregate], prefix: &str) -> std::collections::BTreeMap<String, u64> {
    let mut out: std::collections::BTreeMap<String, u64> = Default::default();
    for d in days {
        for (name, v) in &d.counters {
            if let Some(rest) = name.strip_prefix(prefix).and_then(|r| r.strip_prefix(':')) {
                *out.entry(rest.to_owned()).or_default() += (*v).max(0) as u64;
            }
        }
    }
    out
}

/// The weeks of one gap's counts over the days asked (`days`: the `gaps` slice), every
/// week of the range present, oldest first.
pub fn weeks(days: &[crate::analytics::DailyAggregate], cluster: &str, from: &str, to: &str) -> Vec<Week> {
    let asked = weekly(days, &format!("asked:{cluster}"), from, to);
    let gaps = weekly(days, &format!("gaps:{cluster}"), from, to);
    asked
        .into_iter()
        .zip(gaps)
        .map(|((week, asked), (_, gaps))| Week { week, asked, gaps })
        .collect()
}

/// An article pre-filled from a gap: its first question as the title, its sample
/// questions, and the public replies humans gave on its tickets as the body, for an
/// admin to edit and save (with `gap` set, so the gap counts "after" from then on).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ArticleDraft {
    pub gap: String,
    pub title: String,
    pub body: String,
    pub sample_questions: Vec<String>,
    /// The tickets whose replies the body comes from.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<u64>))]
    pub tickets: Vec<TicketNumber>,
}

/// The longest draft body (the article limit).
const DRAFT_BODY: usize = 20_000;

/// The draft for `cluster` from `replies` (ticket, text), newest ticket first; repeated
/// replies once.
pub fn draft(cluster: &Cluster, replies: &[(TicketNumber, String)]) -> ArticleDraft {
    let title = cluster.samples.first().map_or_else(String::new, |s| {
        let t = s.trim().trim_end_matches(['?', '!', '.']).trim();
        let mut c = t.chars();
        let t: String = match c.next() {
            Some(f) => f.to_uppercase().chain(c).collect(),
            None => String::new(),
        };
        t.chars().take(200).collect()
    });
    let mut body = String::new();
    let mut seen: Vec<String> = Vec::new();
    let mut tickets = Vec::new();
    for (ticket, text) in replies {
        let text = text.trim();
        let norm = text.to_lowercase();
        if text.is_empty() || seen.contains(&norm) || body.len() + text.len() + 2 > DRAFT_BODY {
            continue;
        }
        seen.push(norm);
        if !body.is_empty() {
            body.push_str("\n\n");
        }
        body.push_str(text);
        if !tickets.contains(ticket) {
            tickets.push(*ticket);
        }
    }
    ArticleDraft {
        gap: cluster.id.clone(),
        title,
        body,
        sample_questions: cluster.samples.clone(),
        tickets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q<'a>(v: &'a [f32], gap: bool, at: i64) -> Question<'a> {
        Question {
            model: "m",
            vector: v,
            text: "do you gift wrap",
            gap,
            asked: true,
            ticket: Some(TicketNumber(at as u64)),
            at: Timestamp::from_unix_millis(at * 1000).unwrap(),
        }
    }

    fn tenant() -> TenantId {
        TenantId::new("t").unwrap()
    }

    #[test]
    fn alike_gaps_join_and_an_answer_never_starts_a_cluster() {
        let mut index = ClusterIndex::default();
        let a = [1.0, 0.0, 0.0];
        let b = [0.9, 0.436, 0.0];
        let far = [0.0, 0.0, 1.0];
        assert_eq!(place(&index, &q(&a, false, 1)), Placement::Nowhere);
        assert_eq!(place(&index, &q(&a, true, 1)), Placement::Start);
        let (mut c, counters) = start(&mut index, &tenant(), Family::Gaps, &q(&a, true, 1));
        assert_eq!(counters, [("asked:gap-1".to_owned(), 1), ("gaps:gap-1".to_owned(), 1)]);
        assert_eq!(c.id, "gap-1");
        let Placement::Join(i, _) = place(&index, &q(&b, true, 2)) else {
            panic!("b is alike")
        };
        join(&mut index, i, &mut c, &q(&b, true, 2));
        assert_eq!(place(&index, &q(&far, true, 3)), Placement::Start);
        assert_eq!(c.before, Tally { asked: 2, gaps: 2 });
        assert_eq!(index.centroids[0].n, 2);
        assert_eq!(c.samples, vec!["do you gift wrap"]);
        assert_eq!(c.tickets, vec![TicketNumber(1), TicketNumber(2)]);
        // Another model's cluster is never joined.
        let other = Question {
            model: "n",
            ..q(&a, true, 4)
        };
        assert_eq!(place(&index, &other), Placement::Start);
    }

    #[test]
    fn questions_after_the_coverage_count_after() {
        let mut index = ClusterIndex::default();
        let a = [1.0, 0.0];
        let (mut c, _) = start(&mut index, &tenant(), Family::Gaps, &q(&a, true, 10));
        c.covered = Some(Coverage {
            article_id: ArticleId::new("gift-wrap").unwrap(),
            at: Timestamp::from_unix_millis(20_000).unwrap(),
        });
        join(&mut index, 0, &mut c, &q(&a, false, 30));
        join(&mut index, 0, &mut c, &q(&a, false, 31));
        join(&mut index, 0, &mut c, &q(&a, true, 32));
        assert_eq!(c.before, Tally { asked: 1, gaps: 1 });
        assert_eq!(c.after, Tally { asked: 3, gaps: 1 });
        assert_eq!(c.after.handoff_rate(), Some(1.0 / 3.0));
        // A gap whose answer was counted before (here) is not asked again; one whose
        // answer was counted nowhere is.
        let later = |at| Question {
            asked: false,
            ..q(&a, true, at)
        };
        assert_eq!(join(&mut index, 0, &mut c, &later(33)), [("gaps:gap-1".to_owned(), 1)]);
        assert_eq!(c.after, Tally { asked: 3, gaps: 2 });
        join(&mut index, 0, &mut c, &later(34));
        let counted = join(&mut index, 0, &mut c, &later(35));
        assert_eq!(c.after, Tally { asked: 4, gaps: 4 }, "never more gaps than questions");
        assert_eq!(counted, [("asked:gap-1".to_owned(), 1), ("gaps:gap-1".to_owned(), 1)]);
    }

    #[test]
    fn weeks_start_on_monday_and_trends_compare_the_last_week() {
        assert_eq!(week_of("2026-12-04"), "2026-11-30");
        assert_eq!(week_of("2026-11-30"), "2026-11-30");
        assert_eq!(week_of("2026-12-06"), "2026-11-30");
        assert_eq!(trend(&[3]), Trend::New);
        assert_eq!(trend(&[2, 2, 6]), Trend::Rising);
        assert_eq!(trend(&[6, 6, 1]), Trend::Falling);
        assert_eq!(trend(&[3, 4]), Trend::Steady);
        assert!(!spike(&[5]), "no weeks before to compare with");
        assert!(spike(&[1, 2, 3]));
        assert!(spike(&[0, 0, 3]));
        assert!(!spike(&[0, 0, 2]), "too few");
        assert!(!spike(&[2, 3, 4]), "not twice the mean");
        let days = vec![crate::analytics::DailyAggregate {
            day: "2026-12-02".into(),
            slice: Family::Gaps.slice().into(),
            counters: [("gaps:gap-1".to_owned(), 2), ("asked:gap-1".to_owned(), 3)].into(),
            ..Default::default()
        }];
        let ws = weeks(&days, "gap-1", "2026-11-20", "2026-12-04");
        assert_eq!(
            ws.iter().map(|w| (w.week.as_str(), w.gaps)).collect::<Vec<_>>(),
            [("2026-11-16", 0), ("2026-11-23", 0), ("2026-11-30", 2)]
        );
    }

    #[test]
    fn a_draft_takes_the_first_question_and_the_distinct_replies() {
        let mut index = ClusterIndex::default();
        let (mut c, _) = start(&mut index, &tenant(), Family::Gaps, &q(&[1.0], true, 1));
        c.samples = vec!["do you gift wrap?".into(), "gift wrapping available".into()];
        let d = draft(
            &c,
            &[
                (TicketNumber(2), "Yes, for 3 EUR at checkout.".into()),
                (TicketNumber(1), "yes, for 3 eur at checkout.".into()),
                (TicketNumber(1), "Pick it at checkout.".into()),
            ],
        );
        assert_eq!(d.title, "Do you gift wrap");
        assert_eq!(d.body, "Yes, for 3 EUR at checkout.\n\nPick it at checkout.");
        assert_eq!(d.tickets, vec![TicketNumber(2), TicketNumber(1)]);
        assert_eq!(d.sample_questions.len(), 2);
    }

    fn said(author: Author, text: &str, choices: &[&str]) -> Message {
        Message {
            tenant_id: tenant(),
            conversation_id: crate::ConversationId::generate(),
            id: ulid::Ulid::new(),
            direction: crate::conversation::Direction::Inbound,
            author,
            text: text.into(),
            attachments: vec![],
            channel_message_id: None,
            delivery: None,
            delivery_error: None,
            created_at: Timestamp::from_unix_millis(0).unwrap(),
            sent_at: None,
            sender: None,
            original: None,
            choices: choices.iter().map(|c| ArticleId::new(*c).unwrap()).collect(),
            survey: None,
        }
    }

    #[test]
    fn the_question_left_unanswered_is_the_one_the_ai_could_not_settle() {
        let asked = said(Author::Customer, "  do you  gift wrap? ", &[]);
        let answered = said(Author::Ai, "We wrap for 3 EUR.", &[]);
        let human = said(Author::Customer, "let me talk to a person", &[]);
        // No knowledge: the message itself, as written.
        assert_eq!(
            unanswered(std::slice::from_ref(&asked), &HandoffReason::NoKnowledge),
            Some(("  do you  gift wrap? ".into(), true))
        );
        // A person asked for after an answer: the question answered, counted then.
        let h = [asked.clone(), answered.clone(), human.clone()];
        assert_eq!(
            unanswered(&h, &HandoffReason::AskedForHuman),
            Some(("  do you  gift wrap? ".into(), false))
        );
        // A person asked for first: no gap.
        assert_eq!(
            unanswered(std::slice::from_ref(&human), &HandoffReason::AskedForHuman),
            None
        );
        // A clarifying question that settled nothing: the question it clarified, counted now.
        let clarify = said(Author::Ai, "Which one: 1. wrapping 2. cards", &["a", "b"]);
        let h = [asked.clone(), clarify, said(Author::Customer, "neither", &[])];
        assert_eq!(
            unanswered(&h, &HandoffReason::StillUnclear),
            Some(("  do you  gift wrap? ".into(), true))
        );
        // A new question after an answer that no article covers: the new one.
        let h = [asked, answered, said(Author::Customer, "and engraving?", &[])];
        assert_eq!(
            unanswered(&h, &HandoffReason::LowConfidence),
            Some(("and engraving?".into(), true))
        );
        assert_eq!(question_text("  do you  gift wrap? "), "do you gift wrap?");
    }

    #[test]
    fn a_topic_is_what_the_ticket_is_about_not_the_request_for_a_person() {
        for (text, topic) in [
            (
                "I want to talk to a human, my refund has still not arrived",
                "my refund has still not arrived",
            ),
            (
                "Let me speak to a person please, where is the refund for my return?",
                "where is the refund for my return?",
            ),
            ("human please, my refund is missing", "my refund is missing"),
            ("I want to talk to a human", "I want to talk to a human"),
            ("Where is my parcel?", "Where is my parcel?"),
        ] {
            assert_eq!(without_human_request(text), topic, "{text}");
        }
    }

    #[test]
    fn vectors_survive_storage_and_words_hash_alike() {
        let v = word_vector("Do you offer gift wrapping?");
        let back = decode(&encode(&v)).unwrap();
        assert!(cosine(&v, &back) > 0.999);
        assert!(cosine(&v, &word_vector("gift wrapping offered?")) > 0.8);
        assert!(decode("x").is_none());
        assert!(gap_reason(&HandoffReason::NoKnowledge, false));
        assert!(!gap_reason(&HandoffReason::AskedForHuman, false));
        assert!(gap_reason(&HandoffReason::AskedForHuman, true));
        assert!(!gap_reason(&HandoffReason::OrderUnverified, true));
    }
}
