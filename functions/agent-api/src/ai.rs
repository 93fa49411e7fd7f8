//! AI settings and the answer preview. The preview runs the very decision function the
//! triage Lambda runs (same retrieval cache, same answerer), storing and sending nothing.

use crate::error::{or_not_found, ApiError, ErrorBody, Fields};
use crate::views::*;
use crate::{ok, Ctx};
use baton_domain::tenant::{AiSettings, Tenant};
use baton_domain::triage::{decide, DecisionInput};
use baton_domain::ArticleId;
use lambda_http::{Body, Response};

type Res = Result<Response<Body>, ApiError>;

const PREVIEWS_PER_MINUTE: u32 = 30;

async fn tenant(ctx: &Ctx<'_>) -> Result<Tenant, ApiError> {
    or_not_found(ctx.deps.store.get_tenant(&ctx.caller.tenant).await, "tenant")
}

fn view(ai: &AiSettings) -> AiSettingsView {
    AiSettingsView {
        persona: ai.persona.clone(),
        confidence_threshold: ai.confidence_threshold,
        always_human_topics: ai.always_human_topics.clone(),
    }
}

#[utoipa::path(
    get, operation_id = "ai_get_settings", path = "/v1/ai/settings", tag = "ai", summary = "The tenant's AI settings",
    responses((status = 200, body = AiSettingsView), (status = 401, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_settings(ctx: &Ctx<'_>) -> Res {
    ok(&view(&tenant(ctx).await?.ai))
}

#[utoipa::path(
    put, operation_id = "ai_put_settings", path = "/v1/ai/settings", tag = "ai", summary = "Change the AI settings (admins)",
    description = "Fields left out keep their value.",
    request_body = AiSettingsBody,
    responses(
        (status = 200, body = AiSettingsView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn put_settings(ctx: &Ctx<'_>) -> Res {
    let body: AiSettingsBody = ctx.json()?;
    let mut ai = tenant(ctx).await?.ai;
    let mut f = Fields::default();
    if let Some(p) = body.persona {
        f.text("persona", &p, 1, 4000);
        ai.persona = p;
    }
    if let Some(t) = body.confidence_threshold {
        f.check((0.0..=1.0).contains(&t), "confidence_threshold", "a number from 0 to 1");
        ai.confidence_threshold = t;
    }
    if let Some(topics) = body.always_human_topics {
        let topics: Vec<String> = topics.iter().map(|t| t.trim().to_lowercase()).collect();
        f.list("always_human_topics", &topics, 50, 100);
        ai.always_human_topics = topics;
    }
    f.finish()?;
    ctx.deps.store.update_ai_settings(&ctx.caller.tenant, &ai).await?;
    tracing::info!("AI settings changed");
    ok(&view(&ai))
}

#[utoipa::path(
    post, operation_id = "ai_preview", path = "/v1/ai/preview", tag = "ai",
    summary = "What the AI would do with a customer message (admins)",
    description = "Runs the triage decision for the caller's tenant: the same handoff rules, retrieval \
                   and answerer customers get. Nothing is stored or sent.",
    request_body = PreviewBody,
    responses(
        (status = 200, body = PreviewResult), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 429, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn preview(ctx: &Ctx<'_>) -> Res {
    let body: PreviewBody = ctx.json()?;
    let text = body.text.unwrap_or_default();
    let mut f = Fields::default();
    f.text("text", &text, 1, 4000);
    let choices = body.choices.unwrap_or_default();
    f.check(
        choices.len() <= baton_domain::clarify::MAX_CHOICES,
        "choices",
        "at most 3 article ids",
    );
    let offered: Vec<ArticleId> = choices.iter().filter_map(|c| ArticleId::new(c.as_str()).ok()).collect();
    f.check(offered.len() == choices.len(), "choices", "article ids");
    f.finish()?;
    ctx.rate_limit("ai-preview", PREVIEWS_PER_MINUTE).await?;
    let tenant = tenant(ctx).await?;
    let (kb, _) = ctx
        .deps
        .kb_cache
        .get(ctx.deps.store.as_ref(), &tenant.id, (&tenant).into())
        .await?;
    let outcome = decide(
        &DecisionInput {
            text: &text,
            history: &[],
            ai: &tenant.ai,
            kb: &kb.index,
            articles: &kb.articles,
            offered: &offered,
            orders: tenant.shop.is_some(),
        },
        ctx.deps.answerer.as_ref(),
    )
    .await;
    tracing::info!(decision = ?outcome.decision, reason = %outcome.reason, "answer previewed");
    ok(&PreviewResult::from(&outcome))
}
