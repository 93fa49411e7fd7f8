//! Knowledge gaps (admins): the questions the AI could not answer, clustered by meaning
//! (`baton_domain::clusters`), ranked by the conversations they sent to a person in the days
//! asked, each with its weeks, samples, tickets and its handoff rate before and after the
//! article that covers it; and a draft article pre-filled from the human replies that
//! resolved its tickets.
//!
//! The ranking reads the `gaps` aggregate slice (one item per day) and then only the
//! clusters it returns.

use crate::error::{or_not_found, ApiError, ErrorBody};
use crate::{ok, Ctx};
use baton_domain::analytics::local_day;
use baton_domain::clusters::{self, ArticleDraft, Cluster, Coverage, Family, Tally, Trend, Week};
use baton_domain::conversation::Author;
use baton_domain::ports::PageRequest;
use baton_domain::reports::DayRange;
use baton_domain::tenant::Tenant;
use baton_domain::ticket::TimelineKind;
use baton_domain::{StoreError, Timestamp};
use lambda_http::{Body, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

type Res = Result<Response<Body>, ApiError>;

const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;
/// Tickets whose replies a draft reads, newest first.
const DRAFT_TICKETS: usize = 5;

/// Questions asked and handed to a person, and their rate.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rate {
    pub asked: u64,
    pub gaps: u64,
    /// `gaps / asked`; absent before any question.
    pub handoff_rate: Option<f64>,
}

impl From<Tally> for Rate {
    fn from(t: Tally) -> Self {
        Rate {
            asked: t.asked,
            gaps: t.gaps,
            handoff_rate: t.handoff_rate(),
        }
    }
}

/// One knowledge gap over the days asked.
#[derive(Debug, Serialize, ToSchema)]
pub struct GapRow {
    pub id: String,
    /// Its first question.
    pub label: String,
    /// Conversations it sent to a person in the days asked (its rank).
    pub conversations: u64,
    /// Questions like it in the days asked, answered or not.
    pub asked: u64,
    pub handoff_rate: Option<f64>,
    pub weeks: Vec<Week>,
    pub trend: Trend,
    /// Its first distinct questions.
    pub samples: Vec<String>,
    /// Its latest tickets, newest first.
    pub tickets: Vec<u64>,
    /// The article added to cover it, and when.
    pub covered: Option<Coverage>,
    /// All time, before the covering article (everything while there is none).
    pub before: Rate,
    /// All time, since the covering article.
    pub after: Rate,
    #[schema(value_type = String)]
    pub first_seen: Timestamp,
    #[schema(value_type = String)]
    pub last_seen: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GapReport {
    pub from: String,
    pub to: String,
    pub time_zone: String,
    pub items: Vec<GapRow>,
    /// Gaps that joined no cluster (the tenant's cluster limit was reached).
    pub unclustered: i64,
    /// Aggregate items read (one per day with questions) and clusters read.
    pub days_read: usize,
    pub clusters_read: usize,
}

/// What a cluster report (gaps, topics) is asked for.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read from the query by name; here for the document
pub struct ClusterQuery {
    /// The first day (`YYYY-MM-DD`, tenant-local); 29 days before `to` if absent.
    from: Option<String>,
    /// The last day, included; today (tenant-local) if absent.
    to: Option<String>,
    /// Rows returned, 1–100 (20).
    limit: Option<u32>,
}

/// The caller's tenant, the days and the `limit` (20 if absent, else 1–100) asked for.
pub async fn asked(ctx: &Ctx<'_>) -> Result<(Tenant, DayRange, usize), ApiError> {
    let tenant = or_not_found(ctx.deps.store.get_tenant(&ctx.caller.tenant).await, "tenant")?;
    let today = local_day(ctx.now, &tenant.time_zone);
    let range = DayRange::asked(ctx.query("from"), ctx.query("to"), &today).map_err(ApiError::bad_request)?;
    let limit = match ctx.query("limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => match raw.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => return Err(ApiError::bad_request(format!("`limit` is 1–{MAX_LIMIT}, not {raw:?}"))),
        },
    };
    Ok((tenant, range, limit))
}

/// The clusters `ids` of `family`, in their order (`None` for one not found).
pub async fn load<'a>(
    ctx: &Ctx<'_>,
    family: Family,
    ids: impl Iterator<Item = &'a String>,
) -> Result<Vec<Option<Cluster>>, ApiError> {
    let aggregates = ctx.deps.aggregates.as_ref();
    let tenant = &ctx.caller.tenant;
    Ok(futures::future::try_join_all(ids.map(|id| async move {
        match aggregates.get_cluster(tenant, family, id).await {
            Ok(c) => Ok(Some(c)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }))
    .await?)
}

fn row(c: &Cluster, in_range: Tally, weeks: Vec<Week>) -> GapRow {
    GapRow {
        id: c.id.clone(),
        label: c.samples.first().cloned().unwrap_or_default(),
        conversations: in_range.gaps,
        asked: in_range.asked,
        handoff_rate: in_range.handoff_rate(),
        trend: clusters::trend(&weeks.iter().map(|w| w.gaps).collect::<Vec<_>>()),
        weeks,
        samples: c.samples.clone(),
        tickets: c.tickets.iter().rev().map(|t| t.0).collect(),
        covered: c.covered.clone(),
        before: c.before.into(),
        after: c.after.into(),
        first_seen: c.created_at,
        last_seen: c.last_at,
    }
}

#[utoipa::path(
    get, operation_id = "reports_gaps", path = "/v1/reports/gaps", tag = "reports",
    summary = "Knowledge gaps: what the AI could not answer, clustered by meaning and ranked (admins)",
    params(ClusterQuery),
    responses(
        (status = 200, body = GapReport), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(ctx: &Ctx<'_>) -> Res {
    let tenant_id = &ctx.caller.tenant;
    let (tenant, range, limit) = asked(ctx).await?;
    let aggregates = ctx.deps.aggregates.as_ref();
    let days = aggregates
        .daily(tenant_id, Family::Gaps.slice(), &range.from, &range.to)
        .await?;
    let all = aggregates.daily(tenant_id, "all", &range.from, &range.to).await?;
    let mut ranked: Vec<(String, Tally)> = clusters::totals(&days).into_iter().collect();
    let clustered: u64 = ranked.iter().map(|(_, t)| t.gaps).sum();
    let gaps: i64 = all.iter().map(|d| d.count("knowledge_gaps")).sum();
    let unclustered = gaps - clustered as i64;
    ranked.sort_by(|a, b| {
        (b.1.gaps, b.1.asked)
            .cmp(&(a.1.gaps, a.1.asked))
            .then_with(|| a.0.cmp(&b.0))
    });
    ranked.truncate(limit);
    let clusters = load(ctx, Family::Gaps, ranked.iter().map(|(id, _)| id)).await?;
    let items: Vec<GapRow> = ranked
        .iter()
        .zip(&clusters)
        .filter_map(|((id, tally), c)| {
            let c = c.as_ref()?;
            Some(row(c, *tally, clusters::weeks(&days, id, &range.from, &range.to)))
        })
        .collect();
    tracing::info!(
        days_read = days.len() + all.len(),
        gaps = items.len(),
        "knowledge gaps read"
    );
    ok(&GapReport {
        from: range.from,
        to: range.to,
        time_zone: tenant.time_zone,
        days_read: days.len() + all.len(),
        clusters_read: clusters.len(),
        unclustered: unclustered.max(0),
        items,
    })
}

#[utoipa::path(
    get, operation_id = "reports_gap_draft", path = "/v1/reports/gaps/{id}/draft", tag = "reports",
    summary = "An article pre-filled from a gap's questions and the human replies on its tickets (admins)",
    description = "Nothing is saved: edit the draft and create it with `POST /v1/kb/articles`, keeping `gap`, \
                   so the gap's handoff rate is counted before and after it.",
    params(("id" = String, Path, description = "The gap (`gap-3`)")),
    responses(
        (status = 200, body = ArticleDraft), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn draft(ctx: &Ctx<'_>) -> Res {
    let tenant = &ctx.caller.tenant;
    let cluster = or_not_found(
        ctx.deps
            .aggregates
            .get_cluster(tenant, Family::Gaps, ctx.param("id"))
            .await,
        "gap",
    )?;
    let store = ctx.deps.store.as_ref();
    let newest: Vec<_> = cluster.tickets.iter().rev().take(DRAFT_TICKETS).copied().collect();
    let timelines = futures::future::try_join_all(newest.iter().map(|n| async move {
        match store
            .list_timeline(tenant, *n, &PageRequest::first(PageRequest::MAX_LIMIT))
            .await
        {
            Ok(page) => Ok(page.items),
            Err(StoreError::NotFound { .. }) => Ok(vec![]),
            Err(e) => Err(e),
        }
    }))
    .await?;
    // The public replies people gave (never internal notes), in each ticket's order.
    let replies: Vec<_> = newest
        .iter()
        .zip(timelines)
        .flat_map(|(n, entries)| {
            entries.into_iter().filter_map(move |e| match (e.actor, e.entry) {
                (Author::Agent { .. }, TimelineKind::Message { text, .. }) => Some((*n, text)),
                _ => None,
            })
        })
        .collect();
    ok(&clusters::draft(&cluster, &replies))
}

/// Marks the gap `id` covered by `article` from now on (an article saved from its
/// draft); a gap already covered keeps its first article. `Err` when there is no such gap.
pub async fn cover(ctx: &Ctx<'_>, id: &str, article: &baton_domain::ArticleId) -> Result<(), ApiError> {
    for _ in 0..3 {
        let mut cluster = or_not_found(
            ctx.deps
                .aggregates
                .get_cluster(&ctx.caller.tenant, Family::Gaps, id)
                .await,
            "gap",
        )?;
        if cluster.covered.is_some() {
            return Ok(());
        }
        let read = cluster.version;
        cluster.covered = Some(Coverage {
            article_id: article.clone(),
            at: ctx.now,
        });
        match ctx.deps.aggregates.put_cluster(&cluster, read).await {
            Err(StoreError::Conflict { .. }) => continue,
            other => return other.map_err(ApiError::from),
        }
    }
    Err(StoreError::Conflict {
        entity: "knowledge_gap",
        current_version: None,
    }
    .into())
}
