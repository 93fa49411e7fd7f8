//! Knowledge-base articles: agents read them, admins write them (one at a time or in bulk).
//! Every write moves the tenant's KB revision, so warm triage caches re-index, and records
//! the request that embeds the article once (`baton_app::kb_index`).

use crate::error::{or_not_found, ApiError, ErrorBody, Fields};
use crate::views::*;
use crate::{json_response, ok, page_request, Ctx};
use baton_domain::kb::Article;
use baton_domain::outbox::Effect;
use baton_domain::{ArticleId, StoreError};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};

type Res = Result<Response<Body>, ApiError>;

pub const MAX_IMPORT: usize = 500;
const IMPORTS_PER_MINUTE: u32 = 10;

/// Refuses a write that would take the tenant's knowledge base past its quota
/// (`Tenant::quotas`: articles and bytes), counting `incoming` in place of any article
/// with the same id.
async fn within_quota(ctx: &Ctx<'_>, incoming: &[Article]) -> Result<(), ApiError> {
    let tenant = &ctx.caller.tenant;
    let quotas = ctx.deps.store.get_tenant(tenant).await?.quotas;
    let stored = baton_domain::kb_cache::all_articles(ctx.deps.store.as_ref(), tenant).await?;
    let sizes: std::collections::HashMap<_, u64> = stored
        .iter()
        .chain(incoming)
        .map(|a| (a.id.clone(), a.text_bytes() as u64))
        .collect();
    let (count, bytes) = (sizes.len() as u64, sizes.values().sum::<u64>());
    if count > u64::from(quotas.kb_articles) || bytes > quotas.kb_bytes {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "kb_quota_exceeded",
            format!(
                "this would make {count} articles and {bytes} bytes; the tenant's knowledge base is limited to {} articles and {} bytes",
                quotas.kb_articles, quotas.kb_bytes
            ),
        ));
    }
    Ok(())
}

/// The knowledge gap the body says the article covers, checked to exist (a 422 naming
/// `gap` if not).
async fn covered_gap(ctx: &Ctx<'_>, body: &ArticleBody) -> Result<Option<String>, ApiError> {
    let Some(gap) = body.gap.as_deref() else {
        return Ok(None);
    };
    match ctx
        .deps
        .aggregates
        .get_cluster(&ctx.caller.tenant, baton_domain::clusters::Family::Gaps, gap)
        .await
    {
        Ok(_) => Ok(Some(gap.to_owned())),
        Err(StoreError::NotFound { .. }) => {
            let mut f = Fields::default();
            f.check(false, "gap", "no such knowledge gap");
            f.finish().map(|_| None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Checks one article body; `Err` holds its field errors.
fn article_from_body(ctx: &Ctx<'_>, body: ArticleBody, id: Option<ArticleId>) -> Result<Article, Fields> {
    let mut f = Fields::default();
    let title = body.title.unwrap_or_default();
    let text = body.body.unwrap_or_default();
    f.text("title", &title, 1, 200);
    f.text("body", &text, 1, 20_000);
    f.list("tags", &body.tags, 20, 50);
    f.list("sample_questions", &body.sample_questions, 50, 500);
    if let Some(url) = &body.url {
        f.check(
            (url.starts_with("https://") || url.starts_with("http://"))
                && url.len() <= 2000
                && !url.contains(char::is_whitespace),
            "url",
            "an http(s) URL",
        );
    }
    let id = match id {
        Some(id) => Some(id),
        None => match body.id.as_deref() {
            Some(raw) => {
                let parsed = ArticleId::new(raw).ok();
                f.check(
                    parsed.is_some(),
                    "id",
                    "lowercase letters, digits, '-' and '_', up to 64",
                );
                parsed
            }
            None => ArticleId::new(format!("kb-{}", ulid::Ulid::new().to_string().to_lowercase())).ok(),
        },
    };
    if !f.is_empty() {
        return Err(f);
    }
    Ok(Article {
        tenant_id: ctx.caller.tenant.clone(),
        id: id.expect("checked"),
        title: title.trim().to_owned(),
        body: text,
        tags: body.tags.iter().map(|t| t.trim().to_lowercase()).collect(),
        sample_questions: body.sample_questions,
        url: body.url,
        updated_at: ctx.now,
    })
}

/// Stores `article` with the effect that embeds it, then hands the effect to the indexer's
/// queue (the outbox relay sends it later if that fails).
async fn save(ctx: &Ctx<'_>, article: &Article) -> Result<(), ApiError> {
    let effect = Effect::index_article(article, ctx.now);
    ctx.deps.store.put_article(article, &effect).await?;
    baton_app::relay::relay(ctx.deps.store.as_ref(), &ctx.deps.queues, &[effect], ctx.now).await;
    Ok(())
}

fn article_id(ctx: &Ctx<'_>) -> Result<ArticleId, ApiError> {
    ArticleId::new(ctx.param("id")).map_err(|_| ApiError::not_found("article"))
}

async fn load(ctx: &Ctx<'_>) -> Result<Article, ApiError> {
    or_not_found(
        ctx.deps.store.get_article(&ctx.caller.tenant, &article_id(ctx)?).await,
        "article",
    )
}

#[utoipa::path(
    get, operation_id = "kb_list", path = "/v1/kb/articles", tag = "knowledge base", summary = "The tenant's articles",
    params(("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, body = ArticlePage), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list(ctx: &Ctx<'_>) -> Res {
    let page = ctx
        .deps
        .store
        .list_articles(&ctx.caller.tenant, &page_request(ctx)?)
        .await?;
    ok(&ArticlePage {
        items: page.items.iter().map(ArticleView::from).collect(),
        next_cursor: page.next_cursor,
    })
}

#[utoipa::path(
    post, operation_id = "kb_create", path = "/v1/kb/articles", tag = "knowledge base", summary = "Add an article (admins)",
    request_body = ArticleBody,
    responses(
        (status = 201, body = ArticleView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn create(ctx: &Ctx<'_>) -> Res {
    let body: ArticleBody = ctx.json()?;
    let gap = covered_gap(ctx, &body).await?;
    let article = article_from_body(ctx, body, None).map_err(|f| f.finish().unwrap_err())?;
    match ctx.deps.store.get_article(&ctx.caller.tenant, &article.id).await {
        Ok(_) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("article {} already exists; PUT replaces it", article.id),
            ))
        }
        Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    within_quota(ctx, std::slice::from_ref(&article)).await?;
    save(ctx, &article).await?;
    if let Some(gap) = gap {
        crate::gaps::cover(ctx, &gap, &article.id).await?;
    }
    Ok(json_response(StatusCode::CREATED, &ArticleView::from(&article)))
}

#[utoipa::path(
    post, operation_id = "kb_import", path = "/v1/kb/import", tag = "knowledge base",
    summary = "Import articles in bulk (admins)",
    description = "All or nothing at validation: any invalid article refuses the whole import, with \
                   field errors named `articles[i].field`. Articles with an existing id replace it.",
    request_body = ImportBody,
    responses(
        (status = 200, body = ImportResult), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn import(ctx: &Ctx<'_>) -> Res {
    let body: ImportBody = ctx.json()?;
    let mut f = Fields::default();
    f.check(!body.articles.is_empty(), "articles", "give at least one article");
    f.check(
        body.articles.len() <= MAX_IMPORT,
        "articles",
        format!("at most {MAX_IMPORT} per import"),
    );
    f.finish()?;
    ctx.rate_limit("kb-import", IMPORTS_PER_MINUTE).await?;
    let mut all = Fields::default();
    let mut articles = Vec::new();
    for (i, a) in body.articles.into_iter().enumerate() {
        match article_from_body(ctx, a, None) {
            Ok(article) => {
                if articles.iter().any(|x: &Article| x.id == article.id) {
                    all.check(false, format!("articles[{i}].id"), "appears twice in this import");
                }
                articles.push(article);
            }
            Err(errors) => {
                all.prefixed(&format!("articles[{i}]."), errors);
            }
        }
    }
    all.finish()?;
    within_quota(ctx, &articles).await?;
    let (mut created, mut replaced) = (0, 0);
    for a in &articles {
        match ctx.deps.store.get_article(&ctx.caller.tenant, &a.id).await {
            Ok(_) => replaced += 1,
            Err(StoreError::NotFound { .. }) => created += 1,
            Err(e) => return Err(e.into()),
        }
        save(ctx, a).await?;
    }
    tracing::info!(created, replaced, "knowledge base imported");
    ok(&ImportResult {
        created,
        replaced,
        ids: articles.iter().map(|a| a.id.to_string()).collect(),
    })
}

#[utoipa::path(
    get, operation_id = "kb_get", path = "/v1/kb/articles/{id}", tag = "knowledge base", summary = "One article",
    params(("id" = String, Path)),
    responses((status = 200, body = ArticleView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get(ctx: &Ctx<'_>) -> Res {
    ok(&ArticleView::from(&load(ctx).await?))
}

#[utoipa::path(
    put, operation_id = "kb_update", path = "/v1/kb/articles/{id}", tag = "knowledge base", summary = "Replace an article (admins)",
    params(("id" = String, Path)), request_body = ArticleBody,
    responses(
        (status = 200, body = ArticleView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn update(ctx: &Ctx<'_>) -> Res {
    let existing = load(ctx).await?;
    let body: ArticleBody = ctx.json()?;
    let gap = covered_gap(ctx, &body).await?;
    let article = article_from_body(ctx, body, Some(existing.id)).map_err(|f| f.finish().unwrap_err())?;
    within_quota(ctx, std::slice::from_ref(&article)).await?;
    save(ctx, &article).await?;
    if let Some(gap) = gap {
        crate::gaps::cover(ctx, &gap, &article.id).await?;
    }
    ok(&ArticleView::from(&article))
}

#[utoipa::path(
    delete, operation_id = "kb_delete", path = "/v1/kb/articles/{id}", tag = "knowledge base", summary = "Delete an article (admins)",
    params(("id" = String, Path)),
    responses(
        (status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn delete(ctx: &Ctx<'_>) -> Res {
    match ctx
        .deps
        .store
        .delete_article(&ctx.caller.tenant, &article_id(ctx)?)
        .await
    {
        Ok(()) => Ok(Response::builder()
            .status(StatusCode::NO_CONTENT)
            .body(Body::Empty)
            .expect("static response")),
        Err(StoreError::NotFound { .. }) => Err(ApiError::not_found("article")),
        Err(e) => Err(e.into()),
    }
}
