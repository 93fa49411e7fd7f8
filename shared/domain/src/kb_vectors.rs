//! Passage embeddings computed once, when an article is written, and stored beside it.
//!
//! A process that ranks a tenant's knowledge base reads these instead of running the
//! model over every passage: loading a 1,000-article index costs reads, and only the
//! question is embedded per message. Each article's vectors are one item, tagged with the
//! model that made them and a hash of the passages they embed, so a vector set is used
//! only for the exact text and model it was computed from (anything else is stale and
//! re-embedded by the indexer, `baton_app::kb_index`).
//!
//! Vectors are stored as int8 with one scale per passage (388 bytes for a 384-dimension
//! passage instead of 1,536 as f32); cosines move by well under 0.01 (`tests` below).

use crate::idempotency::payload_hash;
use crate::kb::Article;
use crate::retrieval::passages;
use crate::{ArticleId, TenantId, Timestamp};
use base64::Engine;
use serde::{Deserialize, Serialize};

/// Passages embedded per article at most: a 20,000-character body of very short
/// sentences could otherwise make an item past DynamoDB's 400 KB. Passages past this one
/// rank by words only.
pub const MAX_PASSAGES: usize = 512;

/// One article's passage vectors, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArticleVectors {
    pub tenant_id: TenantId,
    pub article_id: ArticleId,
    /// The embedding model's id and version (`Embedder::model_id`).
    pub model: String,
    /// `text_hash` of the article they were computed from.
    pub text_hash: String,
    /// The `updated_at` of the article version they were computed from.
    pub article_updated_at: Timestamp,
    pub dims: u32,
    pub count: u32,
    /// Base64 of `count` records: the scale (f32, little-endian) then `dims` int8 values.
    pub data: String,
    pub computed_at: Timestamp,
}

/// A passage vector as int8 values and the scale that brings them back to f32.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantVec {
    pub scale: f32,
    pub values: Vec<i8>,
}

impl QuantVec {
    pub fn quantize(v: &[f32]) -> Self {
        let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        QuantVec {
            scale,
            values: v
                .iter()
                .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
                .collect(),
        }
    }

    /// The dot product with an f32 vector of the same length.
    pub fn dot(&self, q: &[f32]) -> f32 {
        let sum: f32 = self.values.iter().zip(q).map(|(v, x)| f32::from(*v) * x).sum();
        sum * self.scale
    }
}

/// The hash of the passages an article is embedded as: vectors are current for an article
/// exactly when their `text_hash` is this.
pub fn text_hash(article: &Article) -> String {
    payload_hash(passages(article).join("\n").as_bytes())
}

impl ArticleVectors {
    pub fn encode(article: &Article, model: &str, vectors: &[Vec<f32>], now: Timestamp) -> Self {
        let dims = vectors.first().map_or(0, Vec::len);
        let mut bytes = Vec::with_capacity(vectors.len() * (4 + dims));
        for v in vectors.iter().take(MAX_PASSAGES) {
            let q = QuantVec::quantize(v);
            bytes.extend_from_slice(&q.scale.to_le_bytes());
            bytes.extend(q.values.iter().map(|x| *x as u8));
        }
        ArticleVectors {
            tenant_id: article.tenant_id.clone(),
            article_id: article.id.clone(),
            model: model.to_owned(),
            text_hash: text_hash(article),
            article_updated_at: article.updated_at,
            dims: dims as u32,
            count: vectors.len().min(MAX_PASSAGES) as u32,
            data: base64::engine::general_purpose::STANDARD.encode(bytes),
            computed_at: now,
        }
    }

    /// The passage vectors, or why the stored data cannot be read.
    pub fn decode(&self) -> Result<Vec<QuantVec>, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.data)
            .map_err(|e| format!("vectors of {} are not base64: {e}", self.article_id))?;
        let dims = self.dims as usize;
        let record = 4 + dims;
        if dims == 0 || bytes.len() != record * self.count as usize {
            return Err(format!(
                "vectors of {} hold {} bytes, not {} × {record}",
                self.article_id,
                bytes.len(),
                self.count
            ));
        }
        Ok(bytes
            .chunks_exact(record)
            .map(|r| QuantVec {
                scale: f32::from_le_bytes([r[0], r[1], r[2], r[3]]),
                values: r[4..].iter().map(|b| *b as i8).collect(),
            })
            .collect())
    }

    /// Whether these are the vectors of `article`'s current text.
    pub fn is_for(&self, article: &Article) -> bool {
        self.article_id == article.id && self.text_hash == text_hash(article)
    }
}

/// Work for the knowledge-base indexer's queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum IndexRequest {
    /// Embed one article's current text (written in the same transaction as the article).
    Article { tenant_id: TenantId, article_id: ArticleId },
    /// Embed every article of the tenant whose vectors are missing, stale or from another
    /// model (after a model change, or for a knowledge base written before vectors were
    /// stored).
    Tenant { tenant_id: TenantId },
}

impl IndexRequest {
    pub fn tenant(&self) -> &TenantId {
        match self {
            IndexRequest::Article { tenant_id, .. } | IndexRequest::Tenant { tenant_id } => tenant_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(body: &str) -> Article {
        Article {
            tenant_id: TenantId::new("t").unwrap(),
            id: ArticleId::new("a").unwrap(),
            title: "Delivery".into(),
            body: body.into(),
            tags: vec![],
            sample_questions: vec!["where is my parcel".into()],
            url: None,
            updated_at: Timestamp::from_unix_millis(0).unwrap(),
        }
    }

    fn unit(seed: u32, dims: usize) -> Vec<f32> {
        let mut x = seed.wrapping_mul(2_654_435_761).max(1);
        let v: Vec<f32> = (0..dims)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x as f32 / u32::MAX as f32) - 0.5
            })
            .collect();
        let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
        v.into_iter().map(|a| a / n).collect()
    }

    #[test]
    fn round_trips_through_int8_within_a_hundredth_of_a_cosine() {
        let a = article("Parcels arrive in three days.");
        let vectors: Vec<Vec<f32>> = (1..=3).map(|s| unit(s, 384)).collect();
        let stored = ArticleVectors::encode(&a, "m/1", &vectors, a.updated_at);
        assert_eq!((stored.dims, stored.count), (384, 3));
        let back = stored.decode().unwrap();
        let q = unit(99, 384);
        for (v, b) in vectors.iter().zip(&back) {
            let exact: f32 = v.iter().zip(&q).map(|(x, y)| x * y).sum();
            assert!((exact - b.dot(&q)).abs() < 0.01, "{exact} vs {}", b.dot(&q));
        }
        assert!(stored.is_for(&a));
        assert!(!stored.is_for(&article("Parcels arrive in two days.")));
    }

    #[test]
    fn damaged_data_is_an_error_not_a_panic() {
        let a = article("x y z w.");
        let mut stored = ArticleVectors::encode(&a, "m/1", &[unit(1, 8)], a.updated_at);
        stored.count = 2;
        assert!(stored.decode().is_err());
        stored.data = "!!".into();
        assert!(stored.decode().is_err());
    }

    #[test]
    fn requests_carry_their_kind() {
        let r = IndexRequest::Tenant {
            tenant_id: TenantId::new("t").unwrap(),
        };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#"{"kind":"tenant","tenant_id":"t"}"#);
        assert_eq!(serde_json::from_str::<IndexRequest>(&json).unwrap(), r);
    }
}
