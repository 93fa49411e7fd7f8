use super::{backend_build, keys, n, s, to_item, DynamoStore, QuerySpec, SortCondition, TransactFailure};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem, Update};
use baton_domain::kb::Article;
use baton_domain::ports::{KnowledgeStore, Page, PageRequest};
use baton_domain::{ArticleId, StoreError, TenantId};

const ARTICLE: &str = "kb_article";

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
    async fn put_article(&self, article: &Article) -> Result<(), StoreError> {
        let item = to_item(ARTICLE, keys::article(&article.tenant_id, &article.id), article)?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(backend_build)?;
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            self.bump_kb_revision(&article.tenant_id)?,
        ];
        match self.transact("put article", items).await {
            Ok(()) => Ok(()),
            Err(TransactFailure::Conditions(_)) => Err(StoreError::NotFound { entity: "tenant" }),
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
        let items = vec![
            TransactWriteItem::builder().delete(delete).build(),
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
}
