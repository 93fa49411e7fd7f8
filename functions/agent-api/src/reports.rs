//! Reports (admins): the AI report and team performance over any range of the tenant's
//! local days, for the whole tenant or by channel, team or agent, as JSON or CSV with the
//! same numbers; and the settings they count by (the time zone, the AI-resolution
//! window). Every metric is defined in `docs/analytics.md`.
//!
//! A report reads the daily aggregates only: one item per day and slice, however many
//! tickets the tenant has had.

use crate::error::{or_not_found, ApiError, ErrorBody, Fields};
use crate::{ok, Ctx};
use baton_domain::analytics::{local_day, valid_time_zone};
use baton_domain::ports::all_pages;
use baton_domain::reports::{csv, AiRow, DayRange, Sum, TeamRow};
use baton_domain::tenant::{ReportSettings, Tenant};
use baton_domain::{Channel, Timestamp};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

type Res = Result<Response<Body>, ApiError>;

/// What a report is asked for.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read from the query by name; here for the document
pub struct ReportQuery {
    /// The first day (`YYYY-MM-DD`, tenant-local); 29 days before `to` if absent.
    from: Option<String>,
    /// The last day, included; today (tenant-local) if absent.
    to: Option<String>,
    /// Rows by `channel`, `team` or `agent` (the AI report: `channel`); the total only if
    /// absent.
    by: Option<String>,
    /// `json` (the default) or `csv`: the rows, then the total as the last row.
    format: Option<String>,
}

/// The numbers of one report: a row per slice asked for and the total.
#[derive(Debug, Serialize, ToSchema)]
pub struct Report<R> {
    pub from: String,
    pub to: String,
    /// The IANA zone the days are counted in.
    pub time_zone: String,
    pub by: Option<String>,
    pub items: Vec<R>,
    /// The whole tenant (with `by=team` or `by=agent` it includes unassigned work, so the
    /// rows need not add up to it).
    pub total: R,
    /// AI resolutions on this day and later are provisional: the customer may still come
    /// back within the window and claw them back.
    pub provisional_from: Option<String>,
    /// Aggregate items read (one per day and slice that had events).
    pub days_read: usize,
}

/// How the tenant's reports count (the first two fields are required; a missing one is
/// named) and how its satisfaction surveys are offered.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ReportSettingsBody {
    /// The IANA time zone days are counted in (`Europe/Berlin`); a change applies to
    /// events from then on.
    pub time_zone: String,
    /// Hours after an AI answer within which the customer's return claws its resolution
    /// back (1–168; 24 by default).
    pub ai_resolution_window_hours: u32,
    /// The satisfaction surveys: per channel on or off, the delay after the resolve, the
    /// question, WhatsApp's template outside the window, how long e-mailed links last.
    /// Absent: unchanged.
    pub survey: Option<baton_domain::csat::SurveySettings>,
}

enum Kind {
    Ai,
    Team,
}

/// The slices `by` names for the caller's tenant.
async fn slices(ctx: &Ctx<'_>, kind: &Kind, by: Option<&str>) -> Result<Vec<String>, ApiError> {
    let tenant = &ctx.caller.tenant;
    let mut out = Vec::new();
    match (by, kind) {
        (None, _) => {}
        (Some("channel"), _) => out.extend(Channel::ALL.iter().map(|c| format!("channel:{}", c.as_str()))),
        (Some("team"), Kind::Team) => {
            let teams = baton_app::routing::all_teams(ctx.deps.store.as_ref(), tenant).await?;
            out.extend(teams.iter().map(|t| format!("team:{}", t.id)));
        }
        (Some("agent"), Kind::Team) => {
            let store = ctx.deps.store.as_ref();
            let agents = all_pages(|page| async move { store.list_agents(tenant, &page).await }).await?;
            out.extend(agents.iter().map(|a| format!("agent:{}", a.id)));
        }
        (Some(other), Kind::Ai) => {
            return Err(ApiError::bad_request(format!(
                "the AI report is by `channel` only, not {other:?}"
            )))
        }
        (Some(other), Kind::Team) => {
            return Err(ApiError::bad_request(format!(
                "`by` is `channel`, `team` or `agent`, not {other:?}"
            )))
        }
    }
    Ok(out)
}

async fn report<R: Serialize>(ctx: &Ctx<'_>, kind: Kind, row: fn(&str, &Sum) -> R) -> Res {
    let tenant = or_not_found(ctx.deps.store.get_tenant(&ctx.caller.tenant).await, "tenant")?;
    let today = local_day(ctx.now, &tenant.time_zone);
    let range = DayRange::asked(ctx.query("from"), ctx.query("to"), &today).map_err(ApiError::bad_request)?;
    let csv_wanted = match ctx.query("format") {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => return Err(ApiError::bad_request(format!("`format` is json or csv, not {other:?}"))),
    };
    let by = ctx.query("by");
    let wanted = slices(ctx, &kind, by).await?;
    let read = |slice: String| {
        let range = &range;
        async move {
            let days = ctx
                .deps
                .aggregates
                .daily(&ctx.caller.tenant, &slice, &range.from, &range.to)
                .await?;
            Ok::<_, ApiError>((slice, days))
        }
    };
    let total = read("all".to_owned()).await?;
    let rows = futures::future::try_join_all(wanted.into_iter().map(read)).await?;
    let days_read = total.1.len() + rows.iter().map(|(_, d)| d.len()).sum::<usize>();
    let report = Report {
        provisional_from: provisional_from(&tenant, ctx.now, &range),
        from: range.from.clone(),
        to: range.to.clone(),
        time_zone: tenant.time_zone.clone(),
        by: by.map(str::to_owned),
        items: rows.iter().map(|(slice, days)| row(slice, &Sum::of(days))).collect(),
        total: row("all", &Sum::of(&total.1)),
        days_read,
    };
    tracing::info!(by = ?report.by, days_read, "report read");
    if !csv_wanted {
        return ok(&report);
    }
    let mut all: Vec<&R> = report.items.iter().collect();
    all.push(&report.total);
    let name = match kind {
        Kind::Ai => "ai",
        Kind::Team => "team",
    };
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/csv; charset=utf-8")
        .header(
            "content-disposition",
            format!(
                "attachment; filename=\"baton-{name}-{}-{}.csv\"",
                report.from, report.to
            ),
        )
        .body(Body::Text(csv(&all)))
        .expect("static response parts"))
}

/// The first day whose AI resolutions may still be clawed back, if the range reaches it.
fn provisional_from(tenant: &Tenant, now: Timestamp, range: &DayRange) -> Option<String> {
    let window = i64::from(tenant.reports.ai_resolution_window_hours) * 3600;
    let day = local_day(now.plus(time::Duration::seconds(-window)), &tenant.time_zone);
    (day <= range.to).then(|| day.max(range.from.clone()))
}

#[utoipa::path(
    get, operation_id = "reports_ai", path = "/v1/reports/ai", tag = "reports",
    summary = "The AI report: involvement, resolutions with claw-backs, handoffs by reason (admins)",
    params(ReportQuery),
    responses(
        (status = 200, description = "The report (`format=csv`: its rows, then the total)",
         content((Report<AiRow> = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn ai(ctx: &Ctx<'_>) -> Res {
    report(ctx, Kind::Ai, AiRow::of).await
}

#[utoipa::path(
    get, operation_id = "reports_team", path = "/v1/reports/team", tag = "reports",
    summary = "Team performance: first response and resolution times, SLA attainment, reopens (admins)",
    params(ReportQuery),
    responses(
        (status = 200, description = "The report (`format=csv`: its rows, then the total)",
         content((Report<TeamRow> = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn team(ctx: &Ctx<'_>) -> Res {
    report(ctx, Kind::Team, TeamRow::of).await
}

fn settings_body(t: &Tenant) -> ReportSettingsBody {
    ReportSettingsBody {
        time_zone: t.time_zone.clone(),
        ai_resolution_window_hours: t.reports.ai_resolution_window_hours,
        survey: Some(t.reports.survey.clone()),
    }
}

#[utoipa::path(
    get, operation_id = "reports_get_settings", path = "/v1/reports/settings", tag = "reports",
    summary = "How reports count: the time zone and the AI-resolution window (admins)",
    responses((status = 200, body = ReportSettingsBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get_settings(ctx: &Ctx<'_>) -> Res {
    let tenant = or_not_found(ctx.deps.store.get_tenant(&ctx.caller.tenant).await, "tenant")?;
    ok(&settings_body(&tenant))
}

#[utoipa::path(
    put, operation_id = "reports_put_settings", path = "/v1/reports/settings", tag = "reports",
    summary = "Change how reports count (admins)",
    description = "Events count on their local day in the zone set when they are counted; days \
                   already counted keep their numbers.",
    request_body = ReportSettingsBody,
    responses(
        (status = 200, body = ReportSettingsBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn put_settings(ctx: &Ctx<'_>) -> Res {
    let body: ReportSettingsBody = ctx.json()?;
    let mut f = Fields::default();
    f.check(
        valid_time_zone(&body.time_zone),
        "time_zone",
        "must be an IANA time zone (Europe/Berlin)",
    );
    f.check(
        (1..=ReportSettings::MAX_WINDOW_HOURS).contains(&body.ai_resolution_window_hours),
        "ai_resolution_window_hours",
        format!("must be 1 to {}", ReportSettings::MAX_WINDOW_HOURS),
    );
    for (field, reason) in body.survey.iter().flat_map(|s| s.problems()) {
        f.check(false, field, reason);
    }
    f.finish()?;
    let tenant = or_not_found(ctx.deps.store.get_tenant(&ctx.caller.tenant).await, "tenant")?;
    let reports = ReportSettings {
        ai_resolution_window_hours: body.ai_resolution_window_hours,
        survey: body.survey.clone().unwrap_or(tenant.reports.survey),
    };
    ctx.deps
        .store
        .set_report_settings(&ctx.caller.tenant, &body.time_zone, &reports)
        .await?;
    tracing::info!(time_zone = %body.time_zone, "report settings changed");
    let mut saved = body;
    saved.survey = Some(reports.survey);
    ok(&saved)
}
