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
