//! What a knowledge base of 30, 300 and 1,000 articles costs a ranking process, with the
//! passage vectors stored at write time: `cargo run --release -p baton-tests --example
//! kb_scale_bench [SIZES ...]` against a fresh local endpoint. Prints a table for
//! `docs/triage.md`; never part of the test command.
//!
//! Articles come from CLINC150's training questions (an intent's questions spread over
//! articles of ten: a title, a one-sentence body and nine sample questions). Each is
//! embedded once by the same code the indexer runs and stored in its stored shape
//! (`BatchWriteItem`: the local endpoint copies its table on every transaction). Then:
//!
//! - index load: a cold cache builds the tenant's index from the table (articles and
//!   vectors read page by page, vectors decoded, the word and n-gram indexes built), with
//!   the model and without (words only); the median of five;
//! - decision: `triage::decide` on validation questions of the covered intents plus
//!   out-of-scope ones (the query embedding included), p50 and p99;
//! - cold first decision: a cold cache's load plus its first decision (the model itself
//!   already loaded: its load is the cold-start table's, `docs/architecture.md`).

use baton_domain::kb::Article;
use baton_domain::kb_cache::{all_articles, all_vectors, index_from_stored, KbCache, KbRevision};
use baton_domain::kb_vectors::ArticleVectors;
use baton_domain::retrieval::{embed_articles, Embedder};
use baton_domain::tenant::AiSettings;
use baton_domain::triage::{decide, DecisionInput, DeterministicAnswerer};
use baton_domain::{ArticleId, TenantId, Timestamp};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(serde::Deserialize)]
struct Data {
    train: Vec<(String, String)>,
    val: Vec<(String, String)>,
    oos_val: Vec<(String, String)>,
}

const PER_ARTICLE: usize = 10;

/// `n` articles over CLINC150's intents: one per intent while there are intents left,
/// then each intent's next ten questions.
fn articles(tenant: &TenantId, by_intent: &BTreeMap<String, Vec<String>>, n: usize) -> Vec<Article> {
    let mut out = Vec::with_capacity(n);
    'fill: for part in 0.. {
        for (intent, questions) in by_intent {
            if out.len() == n {
                break 'fill;
            }
            let Some(qs) = questions.get(part * PER_ARTICLE..(part + 1) * PER_ARTICLE) else {
                continue;
            };
            out.push(Article {
                tenant_id: tenant.clone(),
                id: ArticleId::new(format!("{}-{part}", intent.replace('_', "-"))).unwrap(),
                title: format!("{} ({})", intent.replace('_', " "), part + 1),
                body: format!("{}.", qs[0]),
                tags: vec![],
                sample_questions: qs[1..].to_vec(),
                url: None,
                updated_at: Timestamp::from_unix_millis(1_700_000_000_000).unwrap(),
            });
        }
    }
    out
}

fn percentile(times: &mut [Duration], p: f64) -> Duration {
    times.sort();
    times[((times.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let sizes: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![30, 300, 1000] } else { sizes };
    let path = baton_tests::root().join("../shared/data/clinc150/train_val.json");
    let data: Data = serde_json::from_slice(&std::fs::read(path).expect("CLINC150 is in ../shared")).unwrap();
    let mut by_intent: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (q, intent) in &data.train {
        by_intent.entry(intent.clone()).or_default().push(q.clone());
    }
    let dir = baton_local::local_model_dir().expect("the embedding model is installed (infra/local/venv)");
    let model: Arc<dyn Embedder> = Arc::new(baton_embed::MiniLm::load(&dir).expect("the model loads"));
    let env = baton_tests::env().await;
    let ai = AiSettings::default();
    let mut rows = Vec::new();
    for n in sizes {
        let tenant = TenantId::new(format!("scale{n}")).unwrap();
        let articles = articles(&tenant, &by_intent, n);
        let passages: usize = articles
            .iter()
            .map(|a| baton_domain::retrieval::passages(a).len())
            .sum();
        let started = Instant::now();
        let refs: Vec<&Article> = articles.iter().collect();
        let vectors = embed_articles(model.as_ref(), &refs).expect("passages embed");
        let embedding = started.elapsed();
        let now = Timestamp::from_unix_millis(1_700_000_000_000).unwrap();
        let items = articles.iter().zip(&vectors).flat_map(|(a, v)| {
            baton_aws::dynamo::kb_items(a, &ArticleVectors::encode(a, model.model_id(), v, now)).unwrap()
        });
        baton_tests::batch_put(&env, items).await;

        let load = |semantic: bool| {
            let (env, tenant, model) = (&env, &tenant, model.clone());
            async move {
                let mut times = Vec::new();
                let mut kb = None;
                for _ in 0..5 {
                    let cache = if semantic {
                        KbCache::new(Some(model.clone()))
                    } else {
                        KbCache::new(None)
                    };
                    let started = Instant::now();
                    let (built, _) = cache
                        .get(
                            &env.store,
                            tenant,
                            KbRevision {
                                articles: 1,
                                vectors: 0,
                            },
                        )
                        .await
                        .expect("the index loads");
                    times.push(started.elapsed());
                    kb = Some(built);
                }
                (percentile(&mut times, 0.5), kb.unwrap())
            }
        };
        let covered: std::collections::BTreeSet<&str> = articles
            .iter()
            .map(|a| a.id.as_str().rsplit_once('-').unwrap().0)
            .collect();
        let questions: Vec<&str> = data
            .val
            .iter()
            .filter(|(_, i)| covered.contains(i.replace('_', "-").as_str()))
            .take(400)
            .chain(data.oos_val.iter().take(100))
            .map(|(q, _)| q.as_str())
            .collect();
        for semantic in [true, false] {
            let (load_time, kb) = load(semantic).await;
            // The load's two parts: the table's reads (the local endpoint's speed, not
            // DynamoDB's) and building the index from what was read (this code's).
            let (mut reads, mut builds) = (Vec::new(), Vec::new());
            for _ in 0..5 {
                let started = Instant::now();
                if semantic {
                    let (articles, stored) =
                        futures::join!(all_articles(&env.store, &tenant), all_vectors(&env.store, &tenant));
                    let (articles, stored) = (articles.unwrap(), stored.unwrap());
                    reads.push(started.elapsed());
                    let started = Instant::now();
                    std::hint::black_box(index_from_stored(&articles, 1, std::slice::from_ref(&model), &stored));
                    builds.push(started.elapsed());
                } else {
                    let articles = all_articles(&env.store, &tenant).await.unwrap();
                    reads.push(started.elapsed());
                    let started = Instant::now();
                    std::hint::black_box(baton_domain::retrieval::KbIndex::build(&articles, 1));
                    builds.push(started.elapsed());
                }
            }
            assert_eq!(kb.vectors.stored, if semantic { n } else { 0 });
            let mut times = Vec::with_capacity(questions.len());
            for q in &questions {
                let input = DecisionInput {
                    text: q,
                    history: &[],
                    ai: &ai,
                    kb: &kb.index,
                    articles: &kb.articles,
                    offered: &[],
                    orders: false,
                };
                let started = Instant::now();
                let outcome = decide(&input, &DeterministicAnswerer).await;
                times.push(started.elapsed());
                std::hint::black_box(outcome);
            }
            let cache = KbCache::new(semantic.then(|| model.clone()));
            let started = Instant::now();
            let (cold, _) = cache
                .get(
                    &env.store,
                    &tenant,
                    KbRevision {
                        articles: 1,
                        vectors: 0,
                    },
                )
                .await
                .unwrap();
            let input = DecisionInput {
                text: questions[0],
                history: &[],
                ai: &ai,
                kb: &cold.index,
                articles: &cold.articles,
                offered: &[],
                orders: false,
            };
            decide(&input, &DeterministicAnswerer).await;
            let first = started.elapsed();
            rows.push(format!(
                "| {n} | {passages} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} MiB |",
                if semantic { "words + meaning" } else { "words only" },
                if semantic {
                    format!("{:.1} s", embedding.as_secs_f64())
                } else {
                    "–".into()
                },
                ms(load_time),
                ms(percentile(&mut reads, 0.5)),
                ms(percentile(&mut builds, 0.5)),
                ms(percentile(&mut times, 0.5)),
                ms(percentile(&mut times, 0.99)),
                ms(first),
                kb.approx_bytes() as f64 / (1024.0 * 1024.0),
            ));
        }
    }
    println!("| articles | passages | ranking | embedding at write (once) | index load (median of 5) | of which reads | of which build | decision p50 | decision p99 | cold first decision | index in memory |");
    println!("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!("{r}");
    }
}
