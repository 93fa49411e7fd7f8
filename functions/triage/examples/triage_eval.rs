//! Measures the triage decision on CLINC150: a knowledge base an admin would write for two
//! domains (one article per intent, ten customer phrasings from the training split as
//! sample questions), then questions it has not seen through the same `decide` the triage
//! Lambda and the answer preview run, with the words + meaning ranking and with words only.
//!
//! cargo run --release -p triage --example triage_eval -- ../shared/data/clinc150 \
//!     [--split val|train] [--domains banking,credit_cards] [--per-intent 10] [--threshold 0.6]
//!
//! `--split val` (the default): the validation questions and the out-of-scope validation
//! questions. `--split train`: the training questions not used as sample questions (at most
//! 15 per intent of the other domains) and the out-of-scope training questions; the split
//! the constants are calibrated on (`docs/triage.md`, "Calibration").
//!
//! For each covered question: answered with the right article directly, after one
//! clarifying question (the customer replies with the right candidate's number, and the
//! reply is decided too), answered with a wrong article, or handed off. For uncovered
//! ones: handed off, asked about, or answered. Then the article pairs most often mixed up:
//! the ones whose sample questions an admin should sharpen.
//!
//! `--calibrate` (use with `--split train`) searches the ranking's lexical weight, the
//! operating point and the clarifying lead and spread instead, for the most covered
//! questions right with at most 2% wrong, at least 92% of uncovered questions handed off
//! and at most a quarter of covered questions asked about, and prints the best settings
//! next to the ones in the code.

use baton_domain::clarify::{verdict_with, Verdict};
use baton_domain::kb::Article;
use baton_domain::retrieval::{calibrate, Embedder, KbIndex, Signals};
use baton_domain::tenant::AiSettings;
use baton_domain::triage::{decide, Decision, DecisionInput, DeterministicAnswerer, TriageOutcome};
use baton_domain::{ArticleId, TenantId, Timestamp};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

type Pairs = Vec<(String, String)>;

/// `--split train`: questions taken from each intent of the domains the KB does not cover.
const OTHER_PER_INTENT: usize = 15;

#[derive(serde::Deserialize)]
struct Data {
    train: Pairs,
    val: Pairs,
    oos_train: Pairs,
    oos_val: Pairs,
}

struct Args {
    dir: PathBuf,
    split: String,
    domains: Vec<String>,
    per_intent: usize,
    threshold: f64,
    calibrate: bool,
}

const USAGE: &str = "usage: triage_eval DATASET_DIR [--split val|train] [--domains a,b] [--per-intent N] \
                     [--threshold X] [--calibrate]";

fn args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let dir = it.next().ok_or(USAGE)?;
    let mut a = Args {
        dir: dir.into(),
        split: "val".into(),
        domains: vec!["banking".into(), "credit_cards".into()],
        per_intent: 10,
        threshold: AiSettings::default().confidence_threshold,
        calibrate: false,
    };
    while let Some(flag) = it.next() {
        if flag == "--calibrate" {
            a.calibrate = true;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--split" if value == "val" || value == "train" => a.split = value,
            "--domains" => a.domains = value.split(',').map(str::to_owned).collect(),
            "--per-intent" => a.per_intent = value.parse().map_err(|e| format!("--per-intent: {e}"))?,
            "--threshold" => a.threshold = value.parse().map_err(|e| format!("--threshold: {e}"))?,
            other => return Err(format!("unknown flag or value {other} {value}\n{USAGE}")),
        }
    }
    Ok(a)
}

fn title(intent: &str) -> String {
    let t = intent.replace('_', " ");
    let mut c = t.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn article_id(intent: &str) -> String {
    intent.replace('_', "-")
}

/// What a question is: covered by an article (its id), in another domain, or out of scope.
#[derive(Clone, PartialEq)]
enum Truth {
    Covered(String),
    OtherDomain,
    OutOfScope,
}

#[derive(Default)]
struct Tally {
    covered: usize,
    right_directly: usize,
    right_after_question: usize,
    asked_without_the_right_one: usize,
    wrong: usize,
    handed_off: usize,
    handed_off_by_rule: usize,
    other: usize,
    other_handed_off: usize,
    other_asked: usize,
    oos: usize,
    oos_handed_off: usize,
    oos_asked: usize,
    mixed_up: BTreeMap<(String, String), usize>,
    asked_together: BTreeMap<(String, String), usize>,
    times: Vec<Duration>,
}

const RULES: &[&str] = &[
    "asked_for_human",
    "asked_for_ticket",
    "frustrated",
    "always_human_topic",
    "repeated_question",
];

fn pct(n: usize, d: usize) -> String {
    if d == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * n as f64 / d as f64)
    }
}

struct Eval<'a> {
    kb: &'a KbIndex,
    articles: &'a [Article],
    ai: &'a AiSettings,
    rt: &'a tokio::runtime::Runtime,
}

impl Eval<'_> {
    fn decide(&self, text: &str, history: &[(bool, String)], offered: &[ArticleId]) -> TriageOutcome {
        self.rt.block_on(decide(
            &DecisionInput {
                text,
                history,
                ai: self.ai,
                kb: self.kb,
                articles: self.articles,
                offered,
                orders: false,
            },
            &DeterministicAnswerer,
        ))
    }

    fn run(&self, questions: &[(String, Truth)]) -> Tally {
        let mut t = Tally::default();
        for (q, truth) in questions {
            let started = Instant::now();
            let o = self.decide(q, &[], &[]);
            t.times.push(started.elapsed());
            let candidates: Vec<ArticleId> = o.citations.iter().map(|c| c.article_id.clone()).collect();
            match truth {
                Truth::Covered(want) => {
                    t.covered += 1;
                    let first = candidates.first().map(|c| c.to_string()).unwrap_or_default();
                    match o.decision {
                        Decision::Answer if &first == want => t.right_directly += 1,
                        Decision::Answer => {
                            t.wrong += 1;
                            *t.mixed_up.entry((want.clone(), first)).or_default() += 1;
                        }
                        Decision::Clarify => {
                            for c in candidates.iter().filter(|c| c.as_str() != want) {
                                *t.asked_together.entry((want.clone(), c.to_string())).or_default() += 1;
                            }
                            match candidates.iter().position(|c| c.as_str() == want) {
                                Some(i) => {
                                    // The customer replies with the right number.
                                    let history =
                                        vec![(true, q.clone()), (false, o.answer.clone().unwrap_or_default())];
                                    let reply = self.decide(&(i + 1).to_string(), &history, &candidates);
                                    let answered = reply.decision == Decision::Answer
                                        && reply.citations.first().is_some_and(|c| c.article_id.as_str() == want);
                                    if answered {
                                        t.right_after_question += 1;
                                    } else {
                                        t.asked_without_the_right_one += 1;
                                    }
                                }
                                None => t.asked_without_the_right_one += 1,
                            }
                        }
                        Decision::Handoff | Decision::LookUpOrder => {
                            t.handed_off += 1;
                            t.handed_off_by_rule += usize::from(RULES.contains(&o.reason.as_str()));
                        }
                    }
                }
                Truth::OtherDomain => {
                    t.other += 1;
                    t.other_handed_off += usize::from(o.decision == Decision::Handoff);
                    t.other_asked += usize::from(o.decision == Decision::Clarify);
                }
                Truth::OutOfScope => {
                    t.oos += 1;
                    t.oos_handed_off += usize::from(o.decision == Decision::Handoff);
                    t.oos_asked += usize::from(o.decision == Decision::Clarify);
                }
            }
        }
        t.times.sort();
        t
    }
}

fn print_report(ranking: &str, build: Duration, mut t: Tally) {
    let p = |q: f64| t.times[((t.times.len() as f64 - 1.0) * q) as usize];
    let mean = t.times.iter().sum::<Duration>() / t.times.len().max(1) as u32;
    println!("## {ranking} (index built in {build:.2?})");
    println!();
    println!("| covered questions ({}) | share | count |", t.covered);
    println!("|---|---|---|");
    let right = t.right_directly + t.right_after_question;
    for (what, n) in [
        ("**right article** (directly or after one question)", right),
        ("right article directly", t.right_directly),
        ("right article after a clarifying question", t.right_after_question),
        (
            "asked, but the right article was not offered",
            t.asked_without_the_right_one,
        ),
        ("**wrong article**", t.wrong),
        ("handed off", t.handed_off),
        (
            "handed off by a rule (human, ticket, frustration, topic)",
            t.handed_off_by_rule,
        ),
    ] {
        println!("| {what} | {} | {n} |", pct(n, t.covered));
    }
    println!();
    println!("| uncovered questions | handed off | asked a clarifying question | answered |");
    println!("|---|---|---|---|");
    for (what, n, off, asked) in [
        ("other domains", t.other, t.other_handed_off, t.other_asked),
        ("out of scope", t.oos, t.oos_handed_off, t.oos_asked),
    ] {
        println!(
            "| {what} ({n}) | **{}** | {} | {} |",
            pct(off, n),
            pct(asked, n),
            pct(n - off - asked, n)
        );
    }
    println!();
    println!(
        "decision time per message: mean {mean:.2?}, p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        p(0.5),
        p(0.99),
        p(1.0)
    );
    for (heading, pairs) in [
        ("answered from the wrong article (wanted → answered)", &mut t.mixed_up),
        (
            "offered together in a clarifying question (wanted, also offered)",
            &mut t.asked_together,
        ),
    ] {
        let mut pairs: Vec<_> = pairs.iter().collect();
        pairs.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        println!();
        println!("Most often {heading}:");
        println!();
        for ((want, got), n) in pairs.iter().take(8) {
            println!("- {want} → {got}: {n}");
        }
    }
    println!();
}

/// One setting of what calibration searches, and how the questions fare under it.
struct Setting {
    lexical_weight: f64,
    operating_point: f64,
    lead: f64,
    spread: f64,
    right: f64,
    wrong: f64,
    asked: f64,
    other_handed_off: f64,
    oos_handed_off: f64,
}

/// The grid search of `--calibrate`, on each question's raw per-article signals.
fn calibrate_search(kb: &KbIndex, questions: &[(String, Truth)], threshold: f64) -> Vec<Setting> {
    let ids: Vec<String> = kb.article_ids().map(|i| i.to_string()).collect();
    let signals: Vec<Vec<Signals>> = questions.iter().map(|(q, _)| kb.signals(q)).collect();
    let semantic = kb.is_semantic();
    let weights: &[f64] = if semantic { &[0.2, 0.3] } else { &[1.0] };
    let points: Vec<f64> = if semantic {
        (30..=60).collect::<Vec<u32>>()
    } else {
        (10..=30).collect()
    }
    .into_iter()
    .map(|p| f64::from(p) / 100.0)
    .collect();
    let mut found = Vec::new();
    for &w in weights {
        // Each question's three best articles by raw score, best first.
        let top: Vec<Vec<(f64, usize)>> = signals
            .iter()
            .map(|s| {
                let mut r: Vec<(f64, usize)> = s.iter().enumerate().map(|(i, s)| (s.raw(w), i)).collect();
                r.sort_by(|a, b| b.0.total_cmp(&a.0));
                r.truncate(3);
                r
            })
            .collect();
        for &op in &points {
            for lead in [0.02, 0.04, 0.05, 0.06, 0.08, 0.10] {
                for spread in [0.04, 0.06, 0.08, 0.10, 0.15] {
                    let (mut covered, mut right, mut wrong, mut asked) = (0, 0, 0, 0);
                    let (mut other, mut other_off, mut oos, mut oos_off) = (0, 0, 0, 0);
                    for ((_, truth), top) in questions.iter().zip(&top) {
                        let scores: Vec<f64> = top.iter().map(|(r, _)| calibrate(*r, op)).collect();
                        let v = verdict_with(&scores, threshold, lead, spread);
                        match truth {
                            Truth::Covered(want) => {
                                covered += 1;
                                let is = |k: usize| top.get(k).is_some_and(|(_, i)| &ids[*i] == want);
                                match v {
                                    Verdict::Clear if is(0) => right += 1,
                                    Verdict::Clear => wrong += 1,
                                    Verdict::Close(n) => {
                                        asked += 1;
                                        right += usize::from((0..n).any(is));
                                    }
                                    Verdict::Weak => {}
                                }
                            }
                            Truth::OtherDomain => {
                                other += 1;
                                other_off += usize::from(v == Verdict::Weak);
                            }
                            Truth::OutOfScope => {
                                oos += 1;
                                oos_off += usize::from(v == Verdict::Weak);
                            }
                        }
                    }
                    let share = |n: usize, d: usize| n as f64 / d.max(1) as f64;
                    found.push(Setting {
                        lexical_weight: w,
                        operating_point: op,
                        lead,
                        spread,
                        right: share(right, covered),
                        wrong: share(wrong, covered),
                        asked: share(asked, covered),
                        other_handed_off: share(other_off, other),
                        oos_handed_off: share(oos_off, oos),
                    });
                }
            }
        }
    }
    found
}

fn print_setting(label: &str, s: &Setting) {
    println!(
        "| {label}{:.2} | {:.2} | {:.2} | {:.2} | {:.1}% | {:.1}% | {:.1}% | {:.1}% | {:.1}% |",
        s.lexical_weight,
        s.operating_point,
        s.lead,
        s.spread,
        100.0 * s.right,
        100.0 * s.wrong,
        100.0 * s.asked,
        100.0 * s.other_handed_off,
        100.0 * s.oos_handed_off
    );
}

fn print_calibration(ranking: &str, kb: &KbIndex, questions: &[(String, Truth)], threshold: f64) {
    println!("## calibration, {ranking}");
    println!();
    println!("| lexical weight | operating point | lead | spread | right | wrong | asked | other domains handed off | out of scope handed off |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let all = calibrate_search(kb, questions, threshold);
    let mut found: Vec<&Setting> = all
        .iter()
        .filter(|s| s.wrong <= 0.02 && s.other_handed_off >= 0.92 && s.oos_handed_off >= 0.92 && s.asked <= 0.25)
        .collect();
    found.sort_by(|a, b| b.right.total_cmp(&a.right));
    if found.is_empty() {
        println!("| no setting meets the bar | | | | | | | | |");
    }
    for s in found.iter().take(10) {
        print_setting("", s);
    }
    let (weight, point) = if kb.is_semantic() {
        (
            baton_domain::retrieval::SEMANTIC_LEXICAL_WEIGHT,
            baton_domain::retrieval::SEMANTIC_OPERATING_POINT,
        )
    } else {
        (1.0, baton_domain::retrieval::LEXICAL_OPERATING_POINT)
    };
    let same = |a: f64, b: f64| (a - b).abs() < 1e-9;
    if let Some(s) = all.iter().find(|s| {
        same(s.lexical_weight, weight)
            && same(s.operating_point, point)
            && same(s.lead, baton_domain::clarify::CLEAR_LEAD)
            && same(s.spread, baton_domain::clarify::CLOSE_SPREAD)
    }) {
        print_setting("**in the code** ", s);
    }
    println!();
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let data: Data = serde_json::from_slice(&std::fs::read(a.dir.join("train_val.json")).expect("train_val.json"))
        .expect("CLINC150 train_val.json");
    let domains: BTreeMap<String, Vec<String>> =
        serde_json::from_slice(&std::fs::read(a.dir.join("domains.json")).expect("domains.json"))
            .expect("domains.json");
    let covered: BTreeSet<String> = a
        .domains
        .iter()
        .flat_map(|d| domains.get(d).cloned().unwrap_or_default())
        .collect();
    let tenant = TenantId::new("eval").unwrap();
    let mut samples = BTreeSet::new();
    let articles: Vec<Article> = covered
        .iter()
        .map(|intent| {
            let questions: Vec<String> = data
                .train
                .iter()
                .filter(|(_, i)| i == intent)
                .take(a.per_intent)
                .map(|(t, _)| t.clone())
                .collect();
            samples.extend(questions.iter().cloned());
            Article {
                tenant_id: tenant.clone(),
                id: ArticleId::new(article_id(intent)).unwrap(),
                title: title(intent),
                body: format!(
                    "How we help with {}: see the steps in your account.",
                    title(intent).to_lowercase()
                ),
                tags: vec![],
                sample_questions: questions,
                url: None,
                updated_at: Timestamp::from_unix_millis(0).unwrap(),
            }
        })
        .collect();
    let truth = |intent: &str| {
        if covered.contains(intent) {
            Truth::Covered(article_id(intent))
        } else {
            Truth::OtherDomain
        }
    };
    let mut questions: Vec<(String, Truth)> = Vec::new();
    if a.split == "val" {
        questions.extend(data.val.iter().map(|(q, i)| (q.clone(), truth(i))));
        questions.extend(data.oos_val.iter().map(|(q, _)| (q.clone(), Truth::OutOfScope)));
    } else {
        let mut per_other: BTreeMap<&str, usize> = BTreeMap::new();
        for (q, i) in &data.train {
            if samples.contains(q) {
                continue;
            }
            if !covered.contains(i) {
                let n = per_other.entry(i).or_default();
                if *n >= OTHER_PER_INTENT {
                    continue;
                }
                *n += 1;
            }
            questions.push((q.clone(), truth(i)));
        }
        questions.extend(data.oos_train.iter().map(|(q, _)| (q.clone(), Truth::OutOfScope)));
    }
    let ai = AiSettings {
        confidence_threshold: a.threshold,
        ..AiSettings::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    println!(
        "# CLINC150 {} split · KB: {} articles ({}), {} sample questions each · threshold {:.2} · {} questions",
        a.split,
        articles.len(),
        a.domains.join(", "),
        a.per_intent,
        a.threshold,
        questions.len()
    );
    println!();
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv");
    let model = baton_embed::find_model_dir(&venv);
    if model.is_none() {
        println!("(the embedding model is not in .venv/: `make dev` installs it; words only below)\n");
    }
    let rankings = model
        .map(|dir| {
            let embedder: std::sync::Arc<dyn Embedder> =
                std::sync::Arc::new(baton_embed::MiniLm::load(&dir).expect("the embedding model loads"));
            ("words + meaning (all-MiniLM-L6-v2, the default)", Some(embedder))
        })
        .into_iter()
        .chain([("words only (no model)", None)]);
    for (ranking, embedder) in rankings {
        let built = Instant::now();
        let kb = match embedder {
            Some(e) => KbIndex::build_with_embedder(&articles, 1, e).expect("passages embed"),
            None => KbIndex::build(&articles, 1),
        };
        let build = built.elapsed();
        if a.calibrate {
            print_calibration(ranking, &kb, &questions, a.threshold);
            continue;
        }
        let eval = Eval {
            kb: &kb,
            articles: &articles,
            ai: &ai,
            rt: &rt,
        };
        print_report(ranking, build, eval.run(&questions));
    }
}
