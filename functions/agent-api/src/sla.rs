//! SLA configuration (admins): the policies (chosen by conditions, in order) and the
//! business-hours calendars they count in, and holidays imported from an iCalendar file.
//! A change applies to every ticket from its next change on (its clocks keep the time
//! they used).

use crate::error::{or_not_found, ApiError, ErrorBody, Fields};
use crate::{ok, Ctx};
use baton_domain::sla::{holidays_from_ical, SlaSettings};
use lambda_http::{Body, Response};

type Res = Result<Response<Body>, ApiError>;

async fn settings(ctx: &Ctx<'_>) -> Result<SlaSettings, ApiError> {
    Ok(or_not_found(ctx.deps.store.get_tenant(&ctx.caller.tenant).await, "tenant")?.sla)
}

async fn save(ctx: &Ctx<'_>, settings: &SlaSettings) -> Res {
    let mut f = Fields::default();
    for (field, reason) in settings.validate() {
        f.check(false, field, reason);
    }
    f.finish()?;
    ctx.deps.store.set_sla(&ctx.caller.tenant, settings).await?;
    tracing::info!(
        policies = settings.policies.len(),
        calendars = settings.calendars.len(),
        "sla settings changed"
    );
    ok(settings)
}

#[utoipa::path(
    get, operation_id = "sla_get", path = "/v1/sla", tag = "sla",
    summary = "The tenant's SLA policies and business-hours calendars",
    responses((status = 200, body = SlaSettings), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn get(ctx: &Ctx<'_>) -> Res {
    ok(&settings(ctx).await?)
}

#[utoipa::path(
    put, operation_id = "sla_put", path = "/v1/sla", tag = "sla",
    summary = "Replace the SLA policies and calendars (admins)",
    description = "Policies are checked in order; the first whose conditions (the routing rules' \
                   conditions) all hold gives the ticket its targets: first response, next response, \
                   resolution, in minutes, counted in the policy's calendar (an IANA time zone, open \
                   hours per weekday, holidays) or in calendar hours without one. A target is at risk \
                   after `warn_at_percent` of its time. Every invalid field is named \
                   (`calendars[0].time_zone`).",
    request_body = SlaSettings,
    responses(
        (status = 200, body = SlaSettings), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn put(ctx: &Ctx<'_>) -> Res {
    let settings: SlaSettings = ctx.json()?;
    save(ctx, &settings).await
}

#[utoipa::path(
    post, operation_id = "sla_import_holidays", path = "/v1/sla/calendars/{id}/holidays", tag = "sla",
    summary = "Add a calendar's holidays from an iCalendar file (admins)",
    description = "The body is an iCalendar (`.ics`) file; every all-day event (every day of a \
                   multi-day one) becomes a holiday of the calendar. Dates already there are kept once.",
    params(("id" = String, Path, description = "The calendar's id")),
    request_body(content = String, content_type = "text/calendar"),
    responses(
        (status = 200, body = SlaSettings), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("bearer" = []))
)]
pub async fn import_holidays(ctx: &Ctx<'_>) -> Res {
    let mut settings = settings(ctx).await?;
    let id = ctx.param("id").to_owned();
    let Some(calendar) = settings.calendars.iter_mut().find(|c| c.id == id) else {
        return Err(ApiError::not_found("calendar"));
    };
    let text = std::str::from_utf8(ctx.body).map_err(|_| ApiError::bad_request("the iCalendar file is not UTF-8"))?;
    let holidays = holidays_from_ical(text).map_err(|reason| {
        let mut f = Fields::default();
        f.check(false, "body", reason);
        f.finish().err().unwrap_or_else(ApiError::internal)
    })?;
    for h in holidays {
        if !calendar.holidays.iter().any(|x| x.date == h.date) {
            calendar.holidays.push(h);
        }
    }
    calendar.holidays.sort_by(|a, b| a.date.cmp(&b.date));
    save(ctx, &settings).await
}
