//! Write-time embeddings on the local endpoint: articles written through the agent API are
//! embedded once by the indexer (the real model, the real table and queue), processes
//! build their indexes from the stored vectors and embed only questions, an edit
//! re-embeds that article only, a delete takes its vectors, a 500-article import goes
//! through the queue, and a model change re-embeds in slices while the old vectors serve.

use aws_lambda_events::event::sqs::SqsEvent;
use baton_app::kb_index::{ask_if_behind, handle, IndexReport, Indexer};
use baton_domain::kb_cache::{KbCache, KbRevision};
use baton_domain::kb_vectors::IndexRequest;
use baton_domain::ports::{KnowledgeStore, Queue, TenantStore};
use baton_domain::retrieval::{passages, Embedder};
use baton_domain::{ArticleId, Clock, SystemClock, TenantId};
use baton_tests::faults::{Fault, Faults, Faulty};
use baton_tests::{agent_api_deps, agent_call, agent_token, drain_queue, env, queue, take_batch, TestEnv};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// The real model, loaded once per test binary.
fn model() -> Arc<baton_embed::MiniLm> {
    static MODEL: OnceLock<Arc<baton_embed::MiniLm>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let dir = baton_local::local_model_dir().expect("the embedding model is installed (infra/local/venv)");
            Arc::new(baton_embed::MiniLm::load(&dir).expect("the model loads"))
        })
        .clone()
}

/// The real model under a given id, counting the texts it embeds.
struct Counted {
    id: &'static str,
    texts: AtomicUsize,
}

impl Counted {
    fn new(id: &'static str) -> Arc<Self> {
        Arc::new(Counted {
            id,
            texts: AtomicUsize::new(0),
        })
    }

    fn texts(&self) -> usize {
        self.texts.load(Ordering::SeqCst)
    }
}

impl Embedder for Counted {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        self.texts.fetch_add(texts.len(), Ordering::SeqCst);
        model().embed(texts)
    }

    fn model_id(&self) -> &str {
        self.id
    }
}

fn demo() -> TenantId {
    TenantId::new("shop").unwrap()
}

fn id(s: &str) -> ArticleId {
    ArticleId::new(s).unwrap()
}

async fn index(env: &TestEnv, embedder: &dyn Embedder, slice: usize, request: &IndexRequest) -> IndexReport {
    let q = queue(env, "IndexQueue");
    let indexer = Indexer {
        store: &env.store,
        embedder,
        queue: &q,
        slice,
    };
    handle(&indexer, request, SystemClock.now()).await.unwrap()
}

/// The indexer function's dependencies over the test's table and index queue.
fn indexer_deps(env: &TestEnv, embedder: Option<Arc<dyn Embedder>>) -> kb_indexer::Deps {
    kb_indexer::Deps {
        store: Arc::new(env.store.clone()),
        queue: Arc::new(queue(env, "IndexQueue")),
        embedder,
        clock: Arc::new(SystemClock),
        slice: baton_app::kb_index::TENANT_SLICE,
    }
}

async fn revision(env: &TestEnv) -> KbRevision {
    (&env.store.get_tenant(&demo()).await.unwrap()).into()
}

/// A cache that reloads for new vectors at once (processes wait `VECTOR_REFRESH`).
fn cache(models: Vec<Arc<dyn Embedder>>) -> KbCache {
    KbCache::with_models(models).with_vector_refresh(std::time::Duration::ZERO)
}

fn cache_of(model: &Arc<Counted>) -> KbCache {
    cache(vec![model.clone() as Arc<dyn Embedder>])
}

async fn passages_of(env: &TestEnv, article: &str) -> usize {
    passages(&env.store.get_article(&demo(), &id(article)).await.unwrap()).len()
}

#[tokio::test]
async fn articles_are_embedded_once_when_written_and_indexes_read_their_vectors() {
    let env = env().await;
    let api = agent_api_deps(&env, Arc::new(env.store.clone()));
    let admin = agent_token(&env, "shop", "admin@example.com", "admin").await;
    for (article, title, body, question) in [
        (
            "delivery",
            "Delivery times",
            "Standard delivery takes 3 to 5 business days. Express parcels arrive the next day.",
            "when will my parcel arrive",
        ),
        (
            "returns",
            "Returning an item",
            "Send unused items back within 30 days for a refund.",
            "can I send this back",
        ),
    ] {
        let body = json!({ "id": article, "title": title, "body": body, "sample_questions": [question] });
        let (status, _, _) = agent_call(&api, &admin, "POST", "/v1/kb/articles", Some(body)).await;
        assert_eq!(status, 201);
    }
    // Each write handed the indexer one request, relayed right after its commit.
    let requests: Vec<IndexRequest> = drain_queue(&env, "IndexQueue").await;
    assert_eq!(
        requests,
        ["delivery", "returns"]
            .map(|a| IndexRequest::Article {
                tenant_id: demo(),
                article_id: id(a)
            })
            .to_vec()
    );
    let v1 = Counted::new("minilm/1");
    for r in &requests {
        assert_eq!(index(&env, v1.as_ref(), 100, r).await.embedded, 1);
    }
    let all_passages = passages_of(&env, "delivery").await + passages_of(&env, "returns").await;
    assert_eq!(v1.texts(), all_passages, "each passage embedded once");
    let stored = env.store.get_vectors(&demo(), &id("delivery")).await.unwrap().unwrap();
    assert_eq!(stored.model, "minilm/1");
    assert_eq!(stored.count as usize, passages_of(&env, "delivery").await);
    assert_eq!(stored.dims, 384);

    // A redelivered request embeds nothing and changes no article (it tells the caches
    // again, in case the first delivery crashed before it could).
    let rev = revision(&env).await;
    let again = index(&env, v1.as_ref(), 100, &requests[0]).await;
    assert_eq!((again.embedded, again.current), (0, 1));
    assert_eq!(
        (v1.texts(), revision(&env).await.articles),
        (all_passages, rev.articles)
    );

    // A cold process builds its index from the stored vectors: only the question is
    // embedded, and the ranking is by meaning.
    let cache = cache_of(&v1);
    let (kb, built) = cache.get(&env.store, &demo(), rev).await.unwrap();
    assert!(built);
    assert_eq!(
        (kb.vectors.stored, kb.vectors.embedded_here, kb.vectors.words_only),
        (2, 0, 0)
    );
    assert_eq!(v1.texts(), all_passages, "building the index embeds nothing");
    let hits = kb.index.search("how long until my package gets here", 2);
    assert_eq!(hits[0].article_id, id("delivery"), "{hits:?}");
    assert_eq!(v1.texts(), all_passages + 1, "one question, one embedding");
    let fresh = baton_domain::retrieval::KbIndex::build_with_embedder(&kb.articles, rev.articles, v1.clone()).unwrap();
    assert_eq!(
        fresh.search("how long until my package gets here", 2),
        hits,
        "stored vectors rank exactly as vectors computed now"
    );

    // An edit: until the indexer has run, the process embeds that one article itself; the
    // indexer then re-embeds that article only.
    let delivery_before = env.store.get_vectors(&demo(), &id("delivery")).await.unwrap();
    let body = json!({ "title": "Returns and refunds", "body": "Send unused items back within 60 days. Refunds take a week.", "sample_questions": ["how do I get a refund"] });
    let (status, _, _) = agent_call(&api, &admin, "PUT", "/v1/kb/articles/returns", Some(body)).await;
    assert_eq!(status, 200);
    let edit: Vec<IndexRequest> = drain_queue(&env, "IndexQueue").await;
    assert_eq!(edit.len(), 1);
    let texts = v1.texts();
    let (kb, _) = cache.get(&env.store, &demo(), revision(&env).await).await.unwrap();
    assert_eq!((kb.vectors.stored, kb.vectors.embedded_here), (1, 1));
    assert_eq!(v1.texts() - texts, passages_of(&env, "returns").await);
    assert_eq!(kb.index.search("I want my money back", 1)[0].article_id, id("returns"));
    let texts = v1.texts();
    assert_eq!(index(&env, v1.as_ref(), 100, &edit[0]).await.embedded, 1);
    assert_eq!(
        v1.texts() - texts,
        passages_of(&env, "returns").await,
        "the edited article only"
    );
    assert_eq!(
        env.store.get_vectors(&demo(), &id("delivery")).await.unwrap(),
        delivery_before
    );
    // The warm index embedded the same vectors itself: it is kept; a cold one reads both.
    let (_, rebuilt) = cache.get(&env.store, &demo(), revision(&env).await).await.unwrap();
    assert!(!rebuilt, "nothing ranks better with the stored vectors");
    let cold = cache_of(&v1);
    let (kb, _) = cold.get(&env.store, &demo(), revision(&env).await).await.unwrap();
    assert_eq!((kb.vectors.stored, kb.vectors.embedded_here), (2, 0));

    // A delete takes the vectors with it; a late request for the article does nothing.
    let (status, _, _) = agent_call(&api, &admin, "DELETE", "/v1/kb/articles/returns", None).await;
    assert_eq!(status, 204);
    assert_eq!(env.store.get_vectors(&demo(), &id("returns")).await.unwrap(), None);
    let late = index(&env, v1.as_ref(), 100, &edit[0]).await;
    assert_eq!((late.embedded, late.superseded), (0, 1));
    assert_eq!(env.store.get_vectors(&demo(), &id("returns")).await.unwrap(), None);
    let (kb, _) = cache.get(&env.store, &demo(), revision(&env).await).await.unwrap();
    assert_eq!((kb.articles.len(), kb.vectors.stored), (1, 1));
}

/// 500 articles: products of a shop (a catalogue of items, colours and sizes, each with
/// its delivery and care), plus one about translations, the topic the test then asks
/// about in words no article uses.
fn import_body() -> serde_json::Value {
    const ITEMS: [&str; 25] = [
        "jacket", "sofa", "kettle", "bicycle", "lamp", "backpack", "blender", "desk", "rug", "tent", "helmet",
        "mirror", "pillow", "scarf", "toaster", "wallet", "watch", "speaker", "drill", "chair", "boots", "mug",
        "shelf", "curtain", "vase",
    ];
    const COLOURS: [&str; 20] = [
        "red", "blue", "green", "black", "white", "grey", "yellow", "orange", "purple", "brown", "pink", "navy",
        "olive", "teal", "beige", "silver", "gold", "maroon", "ivory", "coral",
    ];
    let mut articles: Vec<serde_json::Value> = Vec::new();
    for (i, item) in ITEMS.iter().enumerate() {
        for (j, colour) in COLOURS.iter().enumerate().take(if i == 0 { 19 } else { 20 }) {
            articles.push(json!({
                "id": format!("{item}-{colour}"),
                "title": format!("The {colour} {item}"),
                "body": format!("The {colour} {item} ships in {} days. Wipe it clean with a damp cloth.", 1 + (i + j) % 6),
                "sample_questions": [format!("when does the {colour} {item} arrive"), format!("how do I clean my {item}")],
            }));
        }
    }
    articles.push(json!({
        "id": "translations",
        "title": "Translating phrases",
        "body": "Our assistant translates phrases into Spanish, French and Italian.",
        "sample_questions": ["how do I say thank you in spanish", "translate good morning to italian"],
    }));
    assert_eq!(articles.len(), 500);
    json!({ "articles": articles })
}

#[tokio::test]
async fn a_500_article_import_is_embedded_through_the_queue_by_the_indexer_function() {
    let env = env().await;
    let api = agent_api_deps(&env, Arc::new(env.store.clone()));
    let admin = agent_token(&env, "shop", "admin@example.com", "admin").await;
    let (status, _, result) = agent_call(&api, &admin, "POST", "/v1/kb/import", Some(import_body())).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["created"], 500);

    // Before the indexer runs, a process ranks the new articles by words (too many to
    // embed here) and runs no model over them.
    let model = Counted::new("minilm/1");
    let cache = cache_of(&model);
    let (kb, _) = cache.get(&env.store, &demo(), revision(&env).await).await.unwrap();
    assert_eq!((kb.vectors.words_only, kb.vectors.stored), (500, 0));
    let all_passages: usize = kb.articles.iter().map(|a| passages(a).len()).sum();
    assert!(!kb.index.search("when does the teal lamp arrive", 3).is_empty());
    assert_eq!(model.texts(), 0);

    // The indexer function takes the 500 requests as its batches.
    let deps = indexer_deps(&env, Some(model.clone() as Arc<dyn Embedder>));
    let batch: SqsEvent = take_batch(&env, "IndexQueue").await;
    assert_eq!(batch.records.len(), 500);
    let response = kb_indexer::handler(&deps, LambdaEvent::new(batch, Context::default()))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
    let embedded = model.texts();
    assert_eq!(embedded, all_passages, "every passage once");

    let (kb, _) = cache.get(&env.store, &demo(), revision(&env).await).await.unwrap();
    assert_eq!(
        (kb.vectors.stored, kb.vectors.embedded_here, kb.vectors.words_only),
        (500, 0, 0)
    );
    assert_eq!(model.texts(), embedded, "the index of 500 articles costs reads only");
    // A question in words no article uses finds its article by meaning.
    let unseen = "what is the french word for hello";
    let hits = kb.index.search(unseen, 3);
    assert_eq!(hits[0].article_id, id("translations"), "{unseen}: {hits:?}");
    assert_eq!(model.texts(), embedded + 1);
}

#[tokio::test]
async fn a_model_change_re_embeds_in_slices_while_the_old_vectors_serve() {
    let env = env().await;
    let api = agent_api_deps(&env, Arc::new(env.store.clone()));
    let admin = agent_token(&env, "shop", "admin@example.com", "admin").await;
    let articles = json!({ "articles": [
        { "id": "delivery", "title": "Delivery times", "body": "Parcels arrive in 3 to 5 days.", "sample_questions": ["when will my parcel arrive"] },
        { "id": "returns", "title": "Returns", "body": "Send items back within 30 days.", "sample_questions": ["can I send this back"] },
        { "id": "payment", "title": "Payment methods", "body": "We accept cards and PayPal.", "sample_questions": ["can I pay with paypal"] },
    ]});
    let (status, _, _) = agent_call(&api, &admin, "POST", "/v1/kb/import", Some(articles)).await;
    assert_eq!(status, 200);
    let old = Counted::new("minilm/1");
    for r in drain_queue::<IndexRequest>(&env, "IndexQueue").await {
        index(&env, old.as_ref(), 100, &r).await;
    }

    // A deployment with a new model, the old one kept for the change: the old vectors
    // serve (questions embedded with the old model only) and nothing is embedded at build.
    let new = Counted::new("minilm/2");
    let cache = cache(vec![new.clone() as Arc<dyn Embedder>, old.clone()]);
    let (kb, _) = cache.get(&env.store, &demo(), revision(&env).await).await.unwrap();
    assert_eq!((kb.vectors.stored, kb.vectors.previous_model), (0, 3));
    let old_texts = old.texts();
    assert_eq!(kb.index.search("can I pay by paypal", 1)[0].article_id, id("payment"));
    assert_eq!((old.texts() - old_texts, new.texts()), (1, 0));

    // The process asks the indexer for the tenant's re-embedding, once however often it
    // rebuilds.
    let index_queue = queue(&env, "IndexQueue");
    let later = SystemClock.now().plus(time::Duration::minutes(3));
    assert!(ask_if_behind(&env.store, Some(&index_queue as &dyn Queue), &demo(), &kb, later).await);
    assert!(!ask_if_behind(&env.store, Some(&index_queue as &dyn Queue), &demo(), &kb, later).await);
    let asked: Vec<IndexRequest> = drain_queue(&env, "IndexQueue").await;
    assert_eq!(asked, vec![IndexRequest::Tenant { tenant_id: demo() }]);

    // Two articles per slice: the first slice queues the second.
    let first = index(&env, new.as_ref(), 2, &asked[0]).await;
    assert_eq!((first.embedded, first.continued), (2, true));
    let (kb, _) = cache.get(&env.store, &demo(), revision(&env).await).await.unwrap();
    assert_eq!(
        (kb.vectors.stored, kb.vectors.previous_model),
        (2, 1),
        "both models serve mid-change"
    );
    let next: Vec<IndexRequest> = drain_queue(&env, "IndexQueue").await;
    assert_eq!(next, asked);
    let second = index(&env, new.as_ref(), 2, &next[0]).await;
    assert_eq!((second.embedded, second.current, second.continued), (1, 2, false));
    let (kb, _) = cache.get(&env.store, &demo(), revision(&env).await).await.unwrap();
    assert_eq!((kb.vectors.stored, kb.vectors.previous_model), (3, 0));
    assert_eq!(kb.vectors.oldest_unindexed, None);
    let (old_texts, new_texts) = (old.texts(), new.texts());
    kb.index.search("when does my parcel come", 1);
    assert_eq!((old.texts() - old_texts, new.texts() - new_texts), (0, 1));
}

/// The indexer over fault-injected adapters: failed or crashed at its call k, then
/// redelivered, it leaves exactly the vectors of the article's current text.
#[tokio::test]
async fn the_indexer_survives_a_fault_at_every_call_then_a_redelivery() {
    let env = env().await;
    let api = agent_api_deps(&env, Arc::new(env.store.clone()));
    let admin = agent_token(&env, "shop", "admin@example.com", "admin").await;
    let model = Counted::new("minilm/1");
    for fault in [Fault::Error, Fault::Crash] {
        for k in 1.. {
            let article = format!("a-{k}-{}", matches!(fault, Fault::Crash) as u8);
            let body = json!({ "id": article, "title": "Gift cards", "body": "Gift cards never expire.", "sample_questions": ["do gift cards expire"] });
            let (status, _, _) = agent_call(&api, &admin, "POST", "/v1/kb/articles", Some(body)).await;
            assert_eq!(status, 201);
            let request = drain_queue::<IndexRequest>(&env, "IndexQueue").await.remove(0);
            let faults = Faults::new();
            let store = Faulty::new(env.store.clone(), &faults);
            let q = Faulty::new(queue(&env, "IndexQueue"), &faults);
            let indexer = Indexer {
                store: &store,
                embedder: model.as_ref(),
                queue: &q,
                slice: 100,
            };
            faults.arm(k, fault);
            let _ = faults.run(handle(&indexer, &request, SystemClock.now())).await;
            let fired = faults.fired();
            faults.disarm();
            handle(&indexer, &request, SystemClock.now())
                .await
                .unwrap_or_else(|e| panic!("{fault:?} at call {k}: the redelivery failed: {e}"));
            let current = env.store.get_article(&demo(), &id(&article)).await.unwrap();
            let vectors = env.store.get_vectors(&demo(), &id(&article)).await.unwrap();
            assert!(
                vectors.is_some_and(|v| v.is_for(&current) && v.model == "minilm/1"),
                "{fault:?} at call {k}"
            );
            if !fired {
                break;
            }
        }
    }
}

/// Deployed without a model (ranking by words only), the indexer acknowledges requests:
/// nothing to embed, nothing retried into the dead-letter queue.
#[tokio::test]
async fn without_a_model_the_indexer_acknowledges_requests() {
    let env = env().await;
    let api = agent_api_deps(&env, Arc::new(env.store.clone()));
    let admin = agent_token(&env, "shop", "admin@example.com", "admin").await;
    let body = json!({ "id": "gift-cards", "title": "Gift cards", "body": "Gift cards never expire." });
    assert_eq!(
        agent_call(&api, &admin, "POST", "/v1/kb/articles", Some(body)).await.0,
        201
    );
    let deps = indexer_deps(&env, None);
    let batch: SqsEvent = take_batch(&env, "IndexQueue").await;
    assert_eq!(batch.records.len(), 1);
    let response = kb_indexer::handler(&deps, LambdaEvent::new(batch, Context::default()))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(env.store.get_vectors(&demo(), &id("gift-cards")).await.unwrap(), None);
}
