//! How well knowledge-gap clustering (`baton_domain::clusters`) groups paraphrases, measured
//! on real customer phrasings: `cargo run -p baton-tests --example gap_clusters [INTENTS]`.
//! Prints a table for `docs/analytics.md`; never part of the test command.
//!
//! CLINC150's validation questions of the first INTENTS intents (40 by default, 20
//! phrasings each), interleaved as they would arrive, are placed one by one as gaps, as
//! the analytics consumer places them, at several join thresholds, with the embedding
//! model triage uses and with the word-hash fallback. For each:
//!
//! - clusters: how many formed (the right answer is INTENTS);
//! - purity: the share of questions in a cluster whose most common intent is theirs (one
//!   gap, one question);
//! - completeness: the mean share of an intent's questions in its largest cluster (one
//!   question, one gap);
//! - top-1 recall: the share of intents whose largest cluster holds at least half of them.

use baton_domain::clusters::{self, ClusterIndex, Placement, Question};
use baton_domain::retrieval::Embedder;
use baton_domain::{TenantId, Timestamp};
use std::collections::{BTreeMap, HashMap};

#[derive(serde::Deserialize)]
struct Data {
    val: Vec<(String, String)>,
}

struct Scores {
    clusters: usize,
    purity: f64,
    completeness: f64,
    recall: f64,
}

fn cluster(model: &str, items: &[(String, Vec<f32>)], join: f32) -> Scores {
    let tenant = TenantId::new("bench").unwrap();
    let mut index = ClusterIndex::default();
    let mut clusters = HashMap::new();
    let mut member: Vec<String> = Vec::new();
    for (i, (_, v)) in items.iter().enumerate() {
        let q = Question {
            model,
            vector: v,
            text: "",
            gap: true,
            asked: true,
            ticket: None,
            at: Timestamp::from_unix_millis(i as i64).unwrap(),
        };
        let id = match place_at(&index, &q, join) {
            Placement::Join(at, _) => {
                let id = index.centroids[at].id.clone();
                let c = clusters.get_mut(&id).unwrap();
                clusters::join(&mut index, at, c, &q);
                id
            }
            _ => {
                let (c, _) = clusters::start(&mut index, &tenant, clusters::Family::Gaps, &q);
                let id = c.id.clone();
                clusters.insert(id.clone(), c);
                id
            }
        };
        member.push(id);
    }
    let mut by_cluster: HashMap<&str, HashMap<&str, usize>> = HashMap::new();
    let mut by_intent: BTreeMap<&str, HashMap<&str, usize>> = BTreeMap::new();
    for ((intent, _), c) in items.iter().zip(&member) {
        *by_cluster.entry(c).or_default().entry(intent).or_default() += 1;
        *by_intent.entry(intent).or_default().entry(c).or_default() += 1;
    }
    let n = items.len() as f64;
    let purity = by_cluster.values().map(|m| *m.values().max().unwrap()).sum::<usize>() as f64 / n;
    let shares: Vec<f64> = by_intent
        .values()
        .map(|m| *m.values().max().unwrap() as f64 / m.values().sum::<usize>() as f64)
        .collect();
    Scores {
        clusters: by_cluster.len(),
        purity,
        completeness: shares.iter().sum::<f64>() / shares.len() as f64,
        recall: shares.iter().filter(|s| **s >= 0.5).count() as f64 / shares.len() as f64,
    }
}

/// `clusters::place` at another threshold: the nearest centroid at least `join` alike.
fn place_at(index: &ClusterIndex, q: &Question<'_>, join: f32) -> Placement {
    let best = index
        .centroids
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            clusters::decode(&c.vector).map(|v| (i, v.iter().zip(q.vector).map(|(a, b)| a * b).sum::<f32>()))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1));
    match best {
        Some((i, sim)) if sim >= join => Placement::Join(i, sim),
        _ => Placement::Start,
    }
}

fn main() {
    let intents: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(40);
    let path = baton_tests::root().join("../shared/data/clinc150/train_val.json");
    let data: Data = serde_json::from_slice(&std::fs::read(path).expect("CLINC150 is in ../shared")).unwrap();
    let mut by_intent: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (q, intent) in data.val {
        by_intent.entry(intent).or_default().push(q);
    }
    let chosen: Vec<(&String, &Vec<String>)> = by_intent.iter().take(intents).collect();
    // Interleaved: the first phrasing of every intent, then the second, …
    let rounds = chosen.iter().map(|(_, qs)| qs.len()).max().unwrap_or(0);
    let mut texts: Vec<(String, String)> = Vec::new();
    for r in 0..rounds {
        for (intent, qs) in &chosen {
            if let Some(q) = qs.get(r) {
                texts.push(((*intent).clone(), q.clone()));
            }
        }
    }
    let dir = baton_local::local_model_dir().expect("the embedding model is installed (infra/local/venv)");
    let model = baton_embed::MiniLm::load(&dir).expect("the model loads");
    let refs: Vec<&str> = texts.iter().map(|(_, t)| t.as_str()).collect();
    let vectors = model.embed(&refs).expect("questions embed");
    let semantic: Vec<(String, Vec<f32>)> = texts.iter().map(|(i, _)| i.clone()).zip(vectors).collect();
    let words: Vec<(String, Vec<f32>)> = texts
        .iter()
        .map(|(i, t)| (i.clone(), clusters::word_vector(t)))
        .collect();
    println!(
        "{} questions of {} intents\n\n| vectors | join | clusters | purity | completeness | intents kept together |",
        texts.len(),
        chosen.len()
    );
    println!("|---|---|---|---|---|---|");
    for (name, items, model_id) in [
        ("all-MiniLM-L6-v2", &semantic, model.model_id().to_owned()),
        ("word hash", &words, clusters::WORDS_MODEL.to_owned()),
    ] {
        for join in [0.4, 0.45, 0.5, 0.55, 0.6, 0.7] {
            let s = cluster(&model_id, items, join);
            println!(
                "| {name} | {join:.2} | {} | {:.3} | {:.3} | {:.3} |",
                s.clusters, s.purity, s.completeness, s.recall
            );
        }
    }
}
