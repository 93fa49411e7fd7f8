//! Precision first: is the best article clearly the answer, one of a few close candidates
//! (then the customer is asked which), or does nothing fit? And, when a clarifying question
//! was asked, which candidate did the customer pick (by number, by its title, or in their
//! own words)?
//!
//! The constants are calibrated on CLINC150's training split and reported on its
//! validation split (`docs/triage.md`, "Calibration").

use crate::kb::Article;
use crate::retrieval::Hit;
use crate::ArticleId;

/// The best article is clearly the one when it leads the runner-up by at least this much
/// (calibrated score, 0..1).
pub const CLEAR_LEAD: f64 = 0.05;
/// Articles within this of the best, and above the tenant's threshold, are its close
/// candidates.
pub const CLOSE_SPREAD: f64 = 0.10;
/// At most this many candidates are offered.
pub const MAX_CHOICES: usize = 3;

/// What retrieval says about a question.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The best hit, clearly.
    Clear,
    /// The first `n` hits (2..=MAX_CHOICES) are close: ask which.
    Close(usize),
    /// Nothing fits well enough.
    Weak,
}

/// Judges `hits` (best first) against the tenant's confidence `threshold`.
pub fn verdict(hits: &[Hit], threshold: f64) -> Verdict {
    let scores: Vec<f64> = hits.iter().map(|h| h.score).collect();
    verdict_with(&scores, threshold, CLEAR_LEAD, CLOSE_SPREAD)
}

/// [`verdict`] on scores (best first) with a given lead and spread: what calibration
/// searches over.
pub fn verdict_with(scores: &[f64], threshold: f64, lead: f64, spread: f64) -> Verdict {
    let Some(&best) = scores.first() else {
        return Verdict::Weak;
    };
    let runner_up = scores.get(1).copied().unwrap_or(0.0);
    if best >= threshold && best - runner_up >= lead {
        return Verdict::Clear;
    }
    let floor = threshold.max(best - spread);
    let close = scores.iter().take(MAX_CHOICES).take_while(|s| **s >= floor).count();
    match close {
        0 => Verdict::Weak,
        1 => Verdict::Clear,
        n => Verdict::Close(n),
    }
}

/// The clarifying question: a short lead-in and the numbered candidates.
pub fn question(lead_in: Option<&str>, choices: &[&Article]) -> String {
    let lead_in = lead_in
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .unwrap_or("I want to be sure I answer the right question. Which of these is it about?");
    let mut q = lead_in.to_owned();
    for (i, a) in choices.iter().enumerate() {
        q.push_str(&format!("\n{}. {}", i + 1, a.title.trim()));
    }
    q.push_str("\nReply with the number, or tell me a bit more.");
    q
}

const ORDINALS: &[(&str, usize)] = &[
    ("first", 1),
    ("1st", 1),
    ("second", 2),
    ("2nd", 2),
    ("third", 3),
    ("3rd", 3),
    ("primero", 1),
    ("primera", 1),
    ("segundo", 2),
    ("segunda", 2),
    ("tercero", 3),
    ("tercera", 3),
    ("primeiro", 1),
    ("terceiro", 3),
    ("premier", 1),
    ("premiere", 1),
    ("deuxieme", 2),
    ("troisieme", 3),
    ("erste", 1),
    ("ersten", 1),
    ("zweite", 2),
    ("zweiten", 2),
    ("dritte", 3),
    ("dritten", 3),
    ("primo", 1),
    ("prima", 1),
    ("secondo", 2),
    ("seconda", 2),
    ("terzo", 3),
    ("terza", 3),
    ("eerste", 1),
    ("tweede", 2),
    ("derde", 3),
];

const CARDINALS: &[(&str, usize)] = &[
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("uno", 1),
    ("una", 1),
    ("dos", 2),
    ("tres", 3),
    ("um", 1),
    ("dois", 2),
    ("un", 1),
    ("une", 1),
    ("deux", 2),
    ("trois", 3),
    ("eins", 1),
    ("zwei", 2),
    ("drei", 3),
    ("due", 2),
    ("tre", 3),
    ("een", 1),
    ("twee", 2),
    ("drie", 3),
];

/// A reply short enough to be a pick by number: "2", "the second one", "option 2 please".
const PICK_WORDS: usize = 5;

/// The position (1-based) a short reply picks, if it names exactly one.
fn picked_number(normalised: &str, n: usize) -> Option<usize> {
    let words: Vec<&str> = normalised.split(' ').filter(|w| !w.is_empty()).collect();
    if words.is_empty() || words.len() > PICK_WORDS {
        return None;
    }
    let lookup = |table: &[(&str, usize)]| -> Vec<usize> {
        words
            .iter()
            .filter_map(|w| table.iter().find(|(t, _)| t == w).map(|(_, i)| *i))
            .collect()
    };
    let digits: Vec<usize> = words.iter().filter_map(|w| w.parse::<usize>().ok()).collect();
    let mut ordinals = lookup(ORDINALS);
    if words
        .iter()
        .any(|w| ["last", "ultimo", "ultima", "dernier", "derniere", "letzte", "laatste"].contains(w))
    {
        ordinals.push(n);
    }
    let mut picks = if !digits.is_empty() {
        digits
    } else if !ordinals.is_empty() {
        ordinals
    } else {
        lookup(CARDINALS)
    };
    picks.dedup();
    match picks[..] {
        [i] if (1..=n).contains(&i) => Some(i),
        _ => None,
    }
}

/// Which of `offered` (the candidates of the clarifying question just asked, in their
/// numbered order) the customer's reply picks: by number, by the candidate's whole title,
/// or in words that retrieval ranks first among everything and clearly above the other
/// candidates (`ranked`: the reply's whole ranking, best first). `None` when the reply does
/// not settle it (then it is read as a new question).
pub fn choose(text: &str, offered: &[ArticleId], ranked: &[Hit], articles: &[Article]) -> Option<ArticleId> {
    let norm = crate::triage::normalise(text);
    if let Some(i) = picked_number(&norm, offered.len()) {
        return Some(offered[i - 1].clone());
    }
    let titled: Vec<&ArticleId> = offered
        .iter()
        .filter(|id| {
            articles.iter().any(|a| {
                &a.id == *id && {
                    let t = crate::triage::normalise(&a.title);
                    !t.is_empty() && crate::triage::contains_phrase(&norm, &t)
                }
            })
        })
        .collect();
    if let [only] = titled[..] {
        return Some(only.clone());
    }
    let hits = ranked;
    let best = hits.first()?;
    if !offered.contains(&best.article_id) {
        return None;
    }
    let next = hits
        .iter()
        .skip(1)
        .find(|h| offered.contains(&h.article_id))
        .map_or(0.0, |h| h.score);
    (best.score - next >= CLEAR_LEAD).then(|| best.article_id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: &str, score: f64) -> Hit {
        Hit {
            article_id: ArticleId::new(id).unwrap(),
            title: id.into(),
            url: None,
            score,
        }
    }

    #[test]
    fn a_clear_lead_answers_close_candidates_are_asked_about_and_weak_ones_hand_off() {
        assert_eq!(verdict(&[hit("a", 0.8), hit("b", 0.5)], 0.6), Verdict::Clear);
        assert_eq!(
            verdict(&[hit("a", 0.8), hit("b", 0.79), hit("c", 0.3)], 0.6),
            Verdict::Close(2)
        );
        assert_eq!(
            verdict(&[hit("a", 0.62), hit("b", 0.61), hit("c", 0.6), hit("d", 0.6)], 0.6),
            Verdict::Close(3)
        );
        assert_eq!(verdict(&[hit("a", 0.3), hit("b", 0.29)], 0.6), Verdict::Weak);
        assert_eq!(verdict(&[], 0.6), Verdict::Weak);
        // Close to the best but under the bar: not a candidate.
        assert_eq!(verdict(&[hit("a", 0.62), hit("b", 0.59)], 0.6), Verdict::Clear);
        assert_eq!(verdict(&[hit("a", 0.58), hit("b", 0.57)], 0.6), Verdict::Weak);
    }

    #[test]
    fn a_short_reply_picks_by_number_or_ordinal_in_several_languages() {
        for (text, want) in [
            ("2", Some(2)),
            ("the second one", Some(2)),
            ("option 1 please", Some(1)),
            ("la primera", Some(1)),
            ("die zweite", Some(2)),
            ("le deuxième", Some(2)),
            ("the last one", Some(3)),
            ("one", Some(1)),
            ("4", None),
            ("1 or 2", None),
            ("I have two cards and one of them was declined at the shop", None),
        ] {
            let norm = crate::triage::normalise(text);
            assert_eq!(picked_number(&norm, 3), want, "{text}");
        }
    }
}
