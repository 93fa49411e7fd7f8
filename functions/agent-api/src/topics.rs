//! Recurring topics (admins): what tickets are about, by week. Every ticket triage opens
//! is clustered by its subject and first message (`baton_domain::clusters`, the topics
//! family); its tags are counted too. Both come with their weekly counts over the days
//! asked, their trend, and a spike flag on the last week (`docs/analytics.md`).
//!
//! Reads the `topics` slice and the `all` slice (one item per day each), then only the
//! clusters it returns.

use crate::error::{ApiError, ErrorBody};
use crate::{ok, Ctx};
use baton_domain::clusters::{self, Family, Trend};
use baton_domain::Timestamp;
use lambda_http::{Body, Response};
use serde::Serialize;
use utoipa::ToSchema;

type Res = Result<Response<Body>, ApiError>;

/// Tickets in one week.
#[derive(Debug, Serialize, ToSchema)]
pub struct WeekTickets {
    /// Its Monday (tenant-local).
    pub week: String,
    pub tickets: u64,
}

/// What a topic's or a tag's weeks say.
#[derive(Debug, Serialize, ToSchema)]
pub struct Weekly {
    /// Tickets in the days asked.
    pub tickets: u64,
    /// Every week of the range, oldest first.
    pub weeks: Vec<WeekTickets>,
    pub trend: Trend,
    /// The last week has at least 3 tickets and twice the mean of the weeks before it.
    pub spike: bool,
}

impl Weekly {
    fn of(weeks: Vec<(String, u64)>) -> Weekly {
        let counts: Vec<u64> = weeks.iter().map(|w| w.1).collect();
        Weekly {
            tickets: counts.iter().sum(),
            trend: clusters::trend(&counts),
            spike: clusters::spike(&counts),
            weeks: weeks
                .into_iter()
                .map(|(week, tickets)| WeekTickets { week, tickets })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopicRow {
    pub id: String,
    /// Its first ticket's subject and message.
    pub label: String,
    #[serde(flatten)]
    pub weekly: Weekly,
    /// Its first distinct tickets' texts.
    pub samples: Vec<String>,
    /// Its latest tickets, newest first.
    pub recent_tickets: Vec<u64>,
    #[schema(value_type = String)]
    pub first_seen: Timestamp,
    #[schema(value_type = String)]
    pub last_seen: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TagRow {
    pub tag: String,
    #[serde(flatten)]
    pub weekly: Weekly,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopicReport {
    pub from: String,
    pub to: String,
    pub time_zone: String,
    /// Topics by tickets in the range, most first.
    pub items: Vec<TopicRow>,
    /// Tags on new tickets, most first.
    pub tags: Vec<TagRow>,
    /// The topics and tags whose last week is a spike (`topic-3`, `tag:refund`).
    pub spikes: Vec<String>,
    pub days_read: usize,
    pub clusters_read: usize,
}

#[utoipa::path(
    get, operation_id = "reports_topics", path = "/v1/reports/topics", tag = "reports",
    summary = "Recurring topics: tickets clustered by subject and first message, and their tags, by week, spikes flagged (admins)",
    params(crate::gaps::ClusterQuery),
    responses(
        (status = 200, body = TopicReport), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn list(ctx: &Ctx<'_>) -> Res {
    let tenant_id = &ctx.caller.tenant;
    let (tenant, range, limit) = crate::gaps::asked(ctx).await?;
    let aggregates = ctx.deps.aggregates.as_ref();
    let (from, to) = (&range.from, &range.to);
    let days = aggregates.daily(tenant_id, Family::Topics.slice(), from, to).await?;
    let all = aggregates.daily(tenant_id, "all", from, to).await?;
    let ranked = |sums: std::collections::BTreeMap<String, u64>| {
        let mut v: Vec<(String, u64)> = sums.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(limit);
        v
    };
    let topics = ranked(clusters::sums(&days, "tickets"));
    let loaded = crate::gaps::load(ctx, Family::Topics, topics.iter().map(|(id, _)| id)).await?;
    let items: Vec<TopicRow> = loaded
        .iter()
        .flatten()
        .map(|c| TopicRow {
            id: c.id.clone(),
            label: c.samples.first().cloned().unwrap_or_default(),
            weekly: Weekly::of(clusters::weekly(&days, &format!("tickets:{}", c.id), from, to)),
            samples: c.samples.clone(),
            recent_tickets: c.tickets.iter().rev().map(|t| t.0).collect(),
            first_seen: c.created_at,
            last_seen: c.last_at,
        })
        .collect();
    let tags: Vec<TagRow> = ranked(clusters::sums(&all, "tag"))
        .into_iter()
        .map(|(tag, _)| TagRow {
            weekly: Weekly::of(clusters::weekly(&all, &format!("tag:{tag}"), from, to)),
            tag,
        })
        .collect();
    let spikes = items
        .iter()
        .filter(|t| t.weekly.spike)
        .map(|t| t.id.clone())
        .chain(tags.iter().filter(|t| t.weekly.spike).map(|t| format!("tag:{}", t.tag)))
        .collect();
    ok(&TopicReport {
        from: range.from.clone(),
        to: range.to.clone(),
        time_zone: tenant.time_zone,
        days_read: days.len() + all.len(),
        clusters_read: loaded.len(),
        items,
        tags,
        spikes,
    })
}
