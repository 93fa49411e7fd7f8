//! Knowledge-base articles.

use crate::{ArticleId, TenantId, Timestamp};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Article {
    pub tenant_id: TenantId,
    pub id: ArticleId,
    pub title: String,
    pub body: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub sample_questions: Vec<String>,
    pub url: Option<String>,
    pub updated_at: Timestamp,
}

impl Article {
    /// Bytes of its text (title, body, sample questions, tags): what counts against the
    /// tenant's knowledge-base quota and what its index is built from.
    pub fn text_bytes(&self) -> usize {
        self.title.len()
            + self.body.len()
            + self.sample_questions.iter().map(String::len).sum::<usize>()
            + self.tags.iter().map(String::len).sum::<usize>()
    }
}
