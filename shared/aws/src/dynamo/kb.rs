use super::{backend_build, keys, n, s, to_item, DynamoStore, QuerySpec, SortCondition, TransactFailure};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, TransactWriteItem, Update};
use baton_domain::kb::Article;
use baton_domain::kb_vectors::ArticleVectors;
use baton_domain::outbox::Effect;
use baton_domain::ports::{KnowledgeStore, Page, PageRequest};
use baton_domain::{ArticleId, StoreError, TenantId};

const ARTICLE: &str = "kb_article";
const VECTORS: &str = "kb_vectors";

/// An article and its vectors as they are stored: for bulk loading (the knowledge-base
/// scale benchmark seeds 1,000 articles with `BatchWriteItem`).
pub fn kb_items(article: &Article, vectors: &ArticleVectors) -> Result<[super::Item; 2], StoreError> {
    Ok([
        to_item(ARTICLE, keys::article(&article.tenant_id, &article.id), article)?,
        to_item(
            VECTORS,
            keys::article_vectors(&vectors.tenant_id, &vectors.article_id),
            vectors,
        )?,
    ])
}

impl DynamoStore {
    /// The tenant's KB revision moves with every article write, in the same transaction,
    /// so a warm retrieval cache can tell it is stale with one GetItem.
    fn bump_kb_revision(&self, tenant: &TenantId) -> Result<TransactWriteItem, StoreError> {
        let key = keys::tenant(tenant);
        let update = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(key.pk))
            .key(keys::SK, s(key.sk))
            .update_expression("ADD kb_revision :one")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":one", n(1))
            .build()
            .map_err(backend_build)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

#[async_trait]
impl KnowledgeStore for DynamoStore {
    async fn put_article(&self, article: &Article, index: &Effect) -> Result<(), StoreError> {
        let item = to_item(ARTICLE, keys::article(&article.tenant_id, &article.id), article)?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(backend_build)?;
        let items = vec![
            self.bump_kb_revision(&article.tenant_id)?,
            TransactWriteItem::builder().put(put).build(),
            super::put_new_in_transaction(&self.table, super::outbox::effect_item(index)?)?,
        ];
        match self.transact("put article", items).await {
            Ok(()) => Ok(()),
            Err(f @ TransactFailure::Conditions(_)) if f.failed_at(0) => Err(StoreError::NotFound { entity: "tenant" }),
            Err(TransactFailure::Conditions(_)) => Err(StoreError::AlreadyExists { entity: "effect" }),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    async fn get_article(&self, tenant: &TenantId, id: &ArticleId) -> Result<Article, StoreError> {
        self.get_as(ARTICLE, keys::article(tenant, id)).await
    }

    async fn delete_article(&self, tenant: &TenantId, id: &ArticleId) -> Result<(), StoreError> {
        let key = keys::article(tenant, id);
        let delete = Delete::builder()
            .table_name(&self.table)
            .key(keys::PK, s(key.pk))
            .key(keys::SK, s(key.sk))
            .condition_expression("attribute_exists(PK)")
            .build()
            .map_err(backend_build)?;
        let vectors = keys::article_vectors(tenant, id);
        let delete_vectors = Delete::builder()
            .table_name(&self.table)
            .key(keys::PK, s(vectors.pk))
            .key(keys::SK, s(vectors.sk))
            .build()
            .map_err(backend_build)?;
        let items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().delete(delete_vectors).build(),
            self.bump_kb_revision(tenant)?,
        ];
        match self.transact("delete article", items).await {
            Ok(()) => Ok(()),
            Err(TransactFailure::Conditions(_)) => Err(StoreError::NotFound { entity: ARTICLE }),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    async fn list_articles(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<Article>, StoreError> {
        let q = QuerySpec {
            operation: "list articles",
            index: None,
            partition: keys::tenant_partition(tenant),
            sort: SortCondition::BeginsWith(keys::ARTICLE_PREFIX.into()),
        };
        self.query_as(ARTICLE, q, page).await
    }

    async fn put_vectors(&self, vectors: &ArticleVectors) -> Result<(), StoreError> {
        let (tenant, id) = (&vectors.tenant_id, &vectors.article_id);
        let item = to_item(VECTORS, keys::article_vectors(tenant, id), vectors)?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(backend_build)?;
        // Only for the version of the article that was embedded: an edit meanwhile has its
        // own request, and a delete took the vectors with it.
        let article = keys::article(tenant, id);
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .key(keys::PK, s(article.pk))
            .key(keys::SK, s(article.sk))
            .condition_expression("updated_at = :embedded")
            .expression_attribute_values(
                ":embedded",
                serde_dynamo::to_attribute_value(vectors.article_updated_at).map_err(|e| StoreError::Invalid {
                    field: "article_updated_at",
                    reason: e.to_string(),
                })?,
            )
            .build()
            .map_err(backend_build)?;
        let items = vec![
            TransactWriteItem::builder().condition_check(check).build(),
            TransactWriteItem::builder().put(put).build(),
        ];
        match self.transact("put vectors", items).await {
            Ok(()) => Ok(()),
            Err(TransactFailure::Conditions(_)) => Err(self.refused(ARTICLE, keys::article(tenant, id)).await),
            Err(TransactFailure::Store(e)) => Err(e),
        }
    }

    async fn vectors_stored(&self, tenant: &TenantId) -> Result<(), StoreError> {
        let key = keys::tenant(tenant);
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(key.pk))
            .key(keys::SK, s(key.sk))
            .update_expression("ADD kb_vectors_revision :one")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if super::is_conditional_failure(&e) => Err(StoreError::NotFound { entity: "tenant" }),
            Err(e) => Err(super::backend("vectors stored", e)),
        }
    }

    async fn get_vectors(&self, tenant: &TenantId, id: &ArticleId) -> Result<Option<ArticleVectors>, StoreError> {
        self.get_optional_as(VECTORS, keys::article_vectors(tenant, id)).await
    }

    async fn list_vectors(&self, tenant: &TenantId, page: &PageRequest) -> Result<Page<ArticleVectors>, StoreError> {
        let q = QuerySpec {
            operation: "list vectors",
            index: None,
            partition: keys::tenant_partition(tenant),
            sort: SortCondition::BeginsWith(keys::ARTICLE_VECTORS_PREFIX.into()),
        };
        self.query_as(VECTORS, q, page).await
    }
}
