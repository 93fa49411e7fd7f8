//! Knowledge-base retrieval: Okapi BM25 over each article's title, body and sample
//! questions, plus a nearest-sample-question score, built once per knowledge-base
//! revision and reused by every message of a warm Lambda.
//!
//! Two signals, because admins write articles in two ways: long bodies (BM25 over the
//! whole article finds them) and short lists of the questions customers ask (the best
//! single sample question is the sharper signal). The score reported is the larger of
//! the two, each normalised to 0..1 so one threshold works across tenants.

use crate::kb::Article;
use crate::kb_vectors::QuantVec;
use crate::ArticleId;
use std::collections::HashMap;
use std::sync::Arc;

/// Turns texts into unit-length vectors whose dot product is their semantic similarity
/// (a sentence-embedding model). A port: the domain ranks with it but does not run it.
pub trait Embedder: Send + Sync {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String>;
    /// The model's id and version: stored vectors are used only with the model that made
    /// them (`kb_vectors::ArticleVectors::model`).
    fn model_id(&self) -> &str;
    /// Gets ready for use soon (a model loading in the background starts now); by default
    /// nothing.
    fn prepare(&self) {}
}

/// The raw lexical score chosen as the operating point on CLINC150's training split
/// (`docs/triage.md`, "Calibration").
pub const LEXICAL_OPERATING_POINT: f64 = 0.22;
/// The raw lexical + semantic score chosen as the operating point on the training split.
pub const SEMANTIC_OPERATING_POINT: f64 = 0.40;
/// The share of the lexical score in the semantic ranking.
pub const SEMANTIC_LEXICAL_WEIGHT: f64 = 0.2;

/// Maps a raw score onto 0..1 with `1 - e^(-k·raw)`, `k` putting `operating_point` at 0.6
/// (the default confidence threshold), so one tenant threshold means the same thing
/// whatever ranked the articles.
pub fn calibrate(raw: f64, operating_point: f64) -> f64 {
    let k = (1.0f64 / 0.4).ln() / operating_point;
    (1.0 - (-k * raw.max(0.0)).exp()).clamp(0.0, 1.0)
}

const K1: f64 = 1.2;
const B: f64 = 0.75;

/// Words that carry no topic. Kept short: "not", "no", "how" and "where" matter in support.
const STOPWORDS: &[&str] = &[
    "a", "an", "the", "is", "are", "was", "were", "be", "been", "am", "i", "me", "my", "you", "your", "we", "our",
    "it", "its", "to", "of", "in", "on", "for", "and", "or", "at", "by", "with", "from", "this", "that", "do", "does",
    "did", "can", "could", "would", "should", "will", "please", "hi", "hello", "hey", "there", "what", "s", "t", "im",
    "id", "ive", "so", "just", "about", "tell", "know", "want", "like", "need", "get", "some", "any", "if", "let",
    "us", "thanks", "thank",
];

/// A light suffix stemmer: enough to make "orders", "ordered" and "ordering" one term
/// without the aggressive cuts that merge unrelated words.
fn stem(word: &str) -> String {
    let n = word.chars().count();
    if n <= 3 || !word.is_ascii() {
        return word.to_owned();
    }
    let undouble = |s: &str| -> String {
        let b = s.as_bytes();
        let l = b.len();
        if l >= 2 && b[l - 1] == b[l - 2] && !b"lsz".contains(&b[l - 1]) && !b"aeiou".contains(&b[l - 1]) {
            s[..l - 1].to_owned()
        } else {
            s.to_owned()
        }
    };
    let w = word;
    if let Some(s) = w.strip_suffix("ies").or_else(|| w.strip_suffix("ied")) {
        if s.len() >= 2 {
            return format!("{s}y");
        }
    }
    if let Some(s) = w.strip_suffix("ing") {
        if s.len() >= 3 {
            return undouble(s);
        }
    }
    if let Some(s) = w.strip_suffix("ed") {
        if s.len() >= 3 {
            return undouble(s);
        }
    }
    if let Some(s) = w.strip_suffix("ly") {
        if s.len() >= 4 {
            return s.to_owned();
        }
    }
    if let Some(s) = w.strip_suffix("es") {
        if s.ends_with("sh") || s.ends_with("ch") || s.ends_with('x') || s.ends_with('z') || s.ends_with("ss") {
            return s.to_owned();
        }
    }
    if let Some(s) = w.strip_suffix('s') {
        if !s.ends_with('s') && !s.ends_with('u') && !s.ends_with('i') {
            return s.to_owned();
        }
    }
    w.to_owned()
}

/// Lower-cased, split on anything but letters and digits, stop words dropped, stemmed.
pub fn tokenize(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !STOPWORDS.contains(w))
        .map(stem)
        .collect()
}

struct Doc {
    article: usize,
    len: f64,
}

/// BM25 over one collection of documents, as an inverted index: a question's score costs
/// the postings of its own terms, not a pass over every passage of the knowledge base.
struct Bm25 {
    docs: Vec<Doc>,
    /// Each term's documents and its count in each.
    postings: HashMap<String, Vec<(u32, f64)>>,
    avg_len: f64,
}

impl Bm25 {
    fn new(docs: Vec<(usize, Vec<String>)>) -> Self {
        let mut postings: HashMap<String, Vec<(u32, f64)>> = HashMap::new();
        let docs: Vec<Doc> = docs
            .into_iter()
            .enumerate()
            .map(|(d, (article, tokens))| {
                let mut tf: HashMap<&str, f64> = HashMap::new();
                for t in &tokens {
                    *tf.entry(t.as_str()).or_insert(0.0) += 1.0;
                }
                for (t, n) in tf {
                    postings.entry(t.to_owned()).or_default().push((d as u32, n));
                }
                Doc {
                    article,
                    len: tokens.len() as f64,
                }
            })
            .collect();
        let avg_len = (docs.iter().map(|d| d.len).sum::<f64>() / docs.len().max(1) as f64).max(1.0);
        Bm25 {
            docs,
            postings,
            avg_len,
        }
    }

    fn idf(&self, term: &str) -> f64 {
        let n = self.docs.len() as f64;
        let df = self.postings.get(term).map_or(0.0, |p| p.len() as f64);
        ((n - df + 0.5) / (df + 0.5) + 1.0).ln()
    }

    /// Score of each document, and the best score a document could reach for this query
    /// (every query term matched), used to normalise.
    fn scores(&self, query: &[String]) -> (Vec<f64>, f64) {
        let mut unique: Vec<&String> = query.iter().collect();
        unique.sort();
        unique.dedup();
        // A single occurrence in a document of average length scores exactly `idf`, so the
        // sum of the query terms' idf is what "covers the whole question" scores.
        let ceiling: f64 = unique.iter().map(|t| self.idf(t)).sum();
        let mut scores = vec![0.0; self.docs.len()];
        for t in unique {
            let Some(postings) = self.postings.get(t.as_str()) else {
                continue;
            };
            let idf = self.idf(t);
            for (d, tf) in postings {
                let len = self.docs[*d as usize].len;
                let norm = K1 * (1.0 - B + B * len / self.avg_len);
                scores[*d as usize] += idf * tf * (K1 + 1.0) / (tf + norm);
            }
        }
        (scores, ceiling)
    }

    fn postings_len(&self) -> usize {
        self.postings.values().map(Vec::len).sum()
    }
}

/// A ranked article.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub article_id: ArticleId,
    pub title: String,
    pub url: Option<String>,
    /// 0..1, calibrated: the default confidence threshold (0.6) is the measured
    /// operating point.
    pub score: f64,
}

/// Character 3- to 5-grams of the lower-cased words, so "cancelled", "cancellation" and
/// a typo like "cancelation" still overlap; each gram by its 64-bit FNV-1a hash (no string
/// per gram, and collisions among a knowledge base's grams are vanishingly rare).
fn char_grams(text: &str) -> HashMap<u64, f64> {
    let words: Vec<String> = text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect();
    let padded: Vec<char> = format!(" {} ", words.join(" ")).chars().collect();
    let mut grams = HashMap::new();
    for n in 3..=5 {
        for w in padded.windows(n) {
            let hash = w.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, c| {
                (h ^ u64::from(*c as u32)).wrapping_mul(0x0100_0000_01b3)
            });
            *grams.entry(hash ^ n as u64).or_insert(0.0) += 1.0;
        }
    }
    grams
}

/// TF-IDF vectors of character n-grams, L2-normalised, for cosine similarity; kept as an
/// inverted index (each gram's documents and weights).
struct GramSpace {
    df: HashMap<u64, f64>,
    n: f64,
    postings: HashMap<u64, Vec<(u32, f32)>>,
    docs: usize,
}

impl GramSpace {
    fn new(texts: &[String]) -> Self {
        let counts: Vec<HashMap<u64, f64>> = texts.iter().map(|t| char_grams(t)).collect();
        let mut df = HashMap::new();
        for c in &counts {
            for g in c.keys() {
                *df.entry(*g).or_insert(0.0) += 1.0;
            }
        }
        let mut space = GramSpace {
            df,
            n: counts.len() as f64,
            postings: HashMap::new(),
            docs: counts.len(),
        };
        let mut postings: HashMap<u64, Vec<(u32, f32)>> = HashMap::new();
        for (d, c) in counts.into_iter().enumerate() {
            for (g, w) in space.weigh(c) {
                postings.entry(g).or_default().push((d as u32, w as f32));
            }
        }
        space.postings = postings;
        space
    }

    fn weigh(&self, counts: HashMap<u64, f64>) -> HashMap<u64, f64> {
        let mut v: HashMap<u64, f64> = counts
            .into_iter()
            .map(|(g, c)| {
                let idf = ((self.n + 1.0) / (self.df.get(&g).copied().unwrap_or(0.0) + 1.0)).ln();
                (g, (1.0 + c.ln()) * idf)
            })
            .collect();
        let norm = v.values().map(|x| x * x).sum::<f64>().sqrt();
        if norm > 0.0 {
            v.values_mut().for_each(|x| *x /= norm);
        }
        v
    }

    fn similarities(&self, query: &str) -> Vec<f64> {
        let mut sims = vec![0.0; self.docs];
        for (g, w) in self.weigh(char_grams(query)) {
            if let Some(postings) = self.postings.get(&g) {
                for (d, x) in postings {
                    sims[*d as usize] += w * f64::from(*x);
                }
            }
        }
        sims
    }

    fn postings_len(&self) -> usize {
        self.postings.values().map(Vec::len).sum()
    }
}

/// How many of an article's best-matching passages the character signal averages.
const NEAREST: usize = 3;

/// The retrieval index of one tenant's knowledge base at one revision.
///
/// Every article becomes passages: its title, each sample question, and each sentence of
/// its body. A question is compared with every passage twice, by BM25 over stemmed words
/// (normalised by what a full match would score) and by cosine over character n-grams;
/// an article scores by its best word match and the mean of its best three character
/// matches, equally weighted. Measured on CLINC150 in `docs/triage.md`.
pub struct KbIndex {
    articles: Vec<(ArticleId, String, Option<String>)>,
    words: Bm25,
    grams: GramSpace,
    semantic: Option<Semantic>,
    pub revision: u64,
}

/// Passage vectors and the models that made them: a question is embedded once with each
/// model in use (two while a model change is being re-embedded, else one).
struct Semantic {
    spaces: Vec<Arc<dyn Embedder>>,
    /// Per passage, in passage order: its model (an index into `spaces`) and vector, or
    /// nothing (its article's vectors are not computed yet: it ranks by words).
    vectors: Vec<Option<(usize, QuantVec)>>,
}

/// One article's passage vectors and the model (an index into the spaces given to
/// [`KbIndex::build_semantic`]) they belong to.
pub type ArticleSpace = Option<(usize, Vec<QuantVec>)>;

/// The passages an article is indexed as: its title, each sample question, each sentence
/// of its body, and its tags.
pub fn passages(a: &Article) -> Vec<String> {
    let mut p = vec![a.title.clone()];
    p.extend(a.sample_questions.iter().cloned());
    p.extend(
        a.body
            .split(['.', '?', '!', '\n'])
            .map(str::trim)
            .filter(|s| s.len() > 3)
            .map(str::to_owned),
    );
    if !a.tags.is_empty() {
        p.push(a.tags.join(" "));
    }
    p
}

impl KbIndex {
    /// About what it takes in memory: its postings (12 bytes each with their share of
    /// the maps), its passage vectors and the articles' titles and urls.
    pub fn approx_bytes(&self) -> usize {
        let vectors: usize = self
            .semantic
            .as_ref()
            .map(|s| {
                s.vectors
                    .iter()
                    .map(|v| 40 + v.as_ref().map_or(0, |(_, v)| v.values.len()))
                    .sum()
            })
            .unwrap_or(0);
        let postings = 12 * (self.words.postings_len() + self.grams.postings_len());
        let maps = 64 * (self.words.postings.len() + 2 * self.grams.postings.len());
        let articles: usize = self
            .articles
            .iter()
            .map(|(id, title, url)| 64 + id.as_str().len() + title.len() + url.as_ref().map_or(0, String::len))
            .sum();
        vectors + postings + maps + articles + 16 * self.words.docs.len()
    }

    pub fn build(articles: &[Article], revision: u64) -> Self {
        let mut owners = Vec::new();
        let mut texts = Vec::new();
        for (i, a) in articles.iter().enumerate() {
            for p in passages(a) {
                owners.push(i);
                texts.push(p);
            }
        }
        KbIndex {
            articles: articles
                .iter()
                .map(|a| (a.id.clone(), a.title.clone(), a.url.clone()))
                .collect(),
            words: Bm25::new(owners.iter().zip(&texts).map(|(i, t)| (*i, tokenize(t))).collect()),
            grams: GramSpace::new(&texts),
            semantic: None,
            revision,
        }
    }

    /// The lexical index plus passage embeddings computed now with `embedder` (stored as
    /// they would be, int8): ranks by meaning as well as by words.
    pub fn build_with_embedder(
        articles: &[Article],
        revision: u64,
        embedder: Arc<dyn Embedder>,
    ) -> Result<Self, String> {
        let per_article = embed_articles(embedder.as_ref(), &articles.iter().collect::<Vec<_>>())?
            .into_iter()
            .map(|v| Some((0, v.iter().map(|x| QuantVec::quantize(x)).collect())))
            .collect();
        Ok(KbIndex::build_semantic(articles, revision, vec![embedder], per_article))
    }

    /// The lexical index plus the articles' vectors as given (`per_article[i]` for
    /// `articles[i]`, from stored vectors or computed): an article without vectors, or a
    /// passage past those given, ranks by words.
    pub fn build_semantic(
        articles: &[Article],
        revision: u64,
        spaces: Vec<Arc<dyn Embedder>>,
        per_article: Vec<ArticleSpace>,
    ) -> Self {
        let mut index = KbIndex::build(articles, revision);
        // Each article's passage count, from the passages just indexed (in article order).
        let mut counts = vec![0usize; articles.len()];
        for d in &index.words.docs {
            counts[d.article] += 1;
        }
        let mut vectors = Vec::with_capacity(index.words.docs.len());
        for (n, given) in counts.into_iter().zip(per_article) {
            match given {
                Some((space, v)) if space < spaces.len() => {
                    let mut v = v.into_iter();
                    vectors.extend((0..n).map(|_| v.next().map(|x| (space, x))));
                }
                _ => vectors.extend((0..n).map(|_| None)),
            }
        }
        index.semantic = Some(Semantic { spaces, vectors });
        index
    }

    pub fn is_semantic(&self) -> bool {
        self.semantic.is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.articles.is_empty()
    }

    /// How many articles it indexes.
    pub fn len(&self) -> usize {
        self.articles.len()
    }

    /// Each article's raw signals for `query`, in index order; empty when the query has
    /// no words or the index no articles.
    pub fn signals(&self, query: &str) -> Vec<Signals> {
        let q = tokenize(query);
        if q.is_empty() || self.articles.is_empty() {
            return vec![];
        }
        let mut word_best = vec![0.0f64; self.articles.len()];
        let (scores, ceiling) = self.words.scores(&q);
        for (d, s) in self.words.docs.iter().zip(scores) {
            word_best[d.article] = word_best[d.article].max((s / ceiling.max(f64::EPSILON)).min(1.0));
        }
        let mut gram_sims: Vec<Vec<f64>> = vec![Vec::new(); self.articles.len()];
        for (d, s) in self.words.docs.iter().zip(self.grams.similarities(query)) {
            gram_sims[d.article].push(s);
        }
        // Meaning: the mean cosine between the question and the article's NEAREST best
        // passages (one lucky passage is weaker evidence than three). An article without
        // vectors, or whose model fails on this query, is ranked by its words.
        let mut cosines: Vec<Vec<f64>> = vec![Vec::new(); self.articles.len()];
        if let Some(sem) = &self.semantic {
            let mut queries: Vec<Option<Option<Vec<f32>>>> = vec![None; sem.spaces.len()];
            for (d, v) in self.words.docs.iter().zip(&sem.vectors) {
                let Some((space, v)) = v else { continue };
                let q = queries[*space].get_or_insert_with(|| {
                    sem.spaces[*space]
                        .embed(&[query])
                        .ok()
                        .and_then(|q| q.into_iter().next())
                });
                if let Some(q) = q {
                    cosines[d.article].push(f64::from(v.dot(q)));
                }
            }
        }
        (0..self.articles.len())
            .map(|i| Signals {
                words: word_best[i],
                grams: mean_of_best(&mut gram_sims[i], NEAREST),
                meaning: (!cosines[i].is_empty()).then(|| mean_of_best(&mut cosines[i], NEAREST).max(0.0)),
            })
            .collect()
    }

    /// The best `k` articles for `query`, best first, with scores in 0..1.
    pub fn search(&self, query: &str, k: usize) -> Vec<Hit> {
        let mut hits: Vec<Hit> = self
            .signals(query)
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let (id, title, url) = &self.articles[i];
                Hit {
                    article_id: id.clone(),
                    title: title.clone(),
                    url: url.clone(),
                    score: s.score(),
                }
            })
            .filter(|h| h.score > 0.0)
            .collect();
        hits.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.article_id.cmp(&b.article_id))
        });
        hits.truncate(k);
        hits
    }

    /// The indexed articles' ids, in index order (the order of [`KbIndex::signals`]).
    pub fn article_ids(&self) -> impl Iterator<Item = &ArticleId> {
        self.articles.iter().map(|(id, _, _)| id)
    }
}

/// Every passage vector of each of `articles`, computed with `embedder` in one batch.
pub fn embed_articles(embedder: &dyn Embedder, articles: &[&Article]) -> Result<Vec<Vec<Vec<f32>>>, String> {
    let per: Vec<Vec<String>> = articles.iter().map(|a| passages(a)).collect();
    let refs: Vec<&str> = per
        .iter()
        .flat_map(|p| p.iter().take(crate::kb_vectors::MAX_PASSAGES))
        .map(String::as_str)
        .collect();
    let mut vectors = embedder.embed(&refs)?.into_iter();
    if vectors.len() != refs.len() {
        return Err("the embedder returned a different number of vectors".into());
    }
    Ok(per
        .iter()
        .map(|p| {
            vectors
                .by_ref()
                .take(p.len().min(crate::kb_vectors::MAX_PASSAGES))
                .collect()
        })
        .collect())
}

/// The mean of the `n` largest of `values` (0 when there are none); reorders them.
fn mean_of_best(values: &mut [f64], n: usize) -> f64 {
    values.sort_by(|a, b| b.total_cmp(a));
    let take = values.len().clamp(1, n);
    values.iter().take(take).sum::<f64>() / take as f64
}

/// How well one article matches a question, before calibration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signals {
    /// BM25 of its best passage, over what a full match would score (0..1).
    pub words: f64,
    /// Mean cosine of its best three passages over character n-grams (0..1).
    pub grams: f64,
    /// Mean cosine of its best three passages' embeddings, when the index has them.
    pub meaning: Option<f64>,
}

impl Signals {
    /// The raw score, before calibration: `lexical_weight` of the lexical score (½ words +
    /// ½ spelling) and the rest meaning, or the lexical score alone without meaning.
    pub fn raw(&self, lexical_weight: f64) -> f64 {
        let lexical = 0.5 * self.words + 0.5 * self.grams;
        match self.meaning {
            Some(m) => lexical_weight * lexical + (1.0 - lexical_weight) * m,
            None => lexical,
        }
    }

    /// The operating point that calibrates [`Signals::raw`] for these signals.
    pub fn operating_point(&self) -> f64 {
        if self.meaning.is_some() {
            SEMANTIC_OPERATING_POINT
        } else {
            LEXICAL_OPERATING_POINT
        }
    }

    /// The calibrated score (0..1).
    pub fn score(&self) -> f64 {
        calibrate(self.raw(SEMANTIC_LEXICAL_WEIGHT), self.operating_point())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{TenantId, Timestamp};

    fn article(id: &str, title: &str, body: &str, questions: &[&str]) -> Article {
        Article {
            tenant_id: TenantId::new("t").unwrap(),
            id: ArticleId::new(id).unwrap(),
            title: title.into(),
            body: body.into(),
            tags: vec![],
            sample_questions: questions.iter().map(|q| q.to_string()).collect(),
            url: None,
            updated_at: Timestamp::from_unix_millis(0).unwrap(),
        }
    }

    fn kb() -> KbIndex {
        KbIndex::build(
            &[
                article(
                    "returns",
                    "Returning an item",
                    "Return unused items within 30 days for a refund.",
                    &["can I send this back", "how do I return my shoes"],
                ),
                article(
                    "delivery",
                    "Delivery times",
                    "Standard delivery takes 3 to 5 business days.",
                    &["how long does shipping take", "when will my parcel arrive"],
                ),
                article(
                    "payment",
                    "Payment methods",
                    "We accept cards and PayPal.",
                    &["can I pay with paypal"],
                ),
            ],
            1,
        )
    }

    #[test]
    fn stems_and_drops_stop_words() {
        assert_eq!(tokenize("Where are my ORDERS?"), vec!["where", "order"]);
        assert_eq!(tokenize("shipping shipped ship"), vec!["ship", "ship", "ship"]);
        assert_eq!(tokenize("ordered ordering"), vec!["order", "order"]);
        assert_eq!(tokenize("deliveries"), vec!["delivery"]);
    }

    #[test]
    fn ranks_the_article_that_covers_the_question_first() {
        let kb = kb();
        let hits = kb.search("How long will shipping take to arrive?", 3);
        assert_eq!(hits[0].article_id.as_str(), "delivery");
        assert!(hits[0].score > 0.5, "{hits:?}");
        let hits = kb.search("I want to send back my shoes", 3);
        assert_eq!(hits[0].article_id.as_str(), "returns");
    }

    #[test]
    fn unrelated_questions_score_low_or_not_at_all() {
        let kb = kb();
        assert!(kb
            .search("what is the weather in paris", 3)
            .iter()
            .all(|h| h.score < 0.3));
        assert!(kb.search("???", 3).is_empty());
        assert!(KbIndex::build(&[], 0).search("anything", 3).is_empty());
    }
}
