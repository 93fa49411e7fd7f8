//! The customer's survey page: `GET /v1/surveys/{token}` shows the question (1–5, an
//! optional comment, a reason when the rating is low), `POST` records the answer. The
//! signed link is the only authority: no login, no cookies, nothing loaded from
//! elsewhere. An expired link gets a page that says so; a second answer replaces the
//! first.

use crate::Deps;
use baton_app::csat::Answered;
use baton_domain::csat::{self, Answer, Survey, SurveySettings};
use baton_domain::mail_out::escape_html;
use baton_domain::signed::TokenError;
use baton_domain::StoreError;
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use std::collections::HashMap;

/// Largest answer form accepted.
const MAX_FORM: usize = 16 * 1024;

pub async fn page(
    deps: &Deps,
    req: &Request,
    method: &Method,
    params: &HashMap<&'static str, String>,
) -> Result<Response<Body>, crate::error::ApiError> {
    let now = deps.clock.now();
    let token = params.get("token").map(String::as_str).unwrap_or_default();
    let Some(secret) = deps.survey_secret.as_deref() else {
        return Ok(html(StatusCode::NOT_FOUND, "Survey", NOT_VALID));
    };
    let claims = match csat::open_link(secret, token, now) {
        Ok(c) => c,
        Err(TokenError::Expired) => return Ok(html(StatusCode::GONE, "Survey closed", EXPIRED)),
        Err(_) => return Ok(html(StatusCode::NOT_FOUND, "Survey", NOT_VALID)),
    };
    let Some(of) = claims.of() else {
        return Ok(html(StatusCode::NOT_FOUND, "Survey", NOT_VALID));
    };
    let span = tracing::Span::current();
    span.record("tenant", claims.tenant.as_str());
    if let Some(ticket) = of.ticket() {
        span.record("ticket", ticket.0);
    }
    let (tenant, survey) = match (
        deps.store.get_tenant(&claims.tenant).await,
        deps.store.get_survey(&claims.tenant, &of).await,
    ) {
        (Ok(t), Ok(s)) => (t, s),
        (Err(StoreError::NotFound { .. }), _) | (_, Err(StoreError::NotFound { .. })) => {
            return Ok(html(StatusCode::NOT_FOUND, "Survey", NOT_VALID))
        }
        (Err(e), _) | (_, Err(e)) => return Err(e.into()),
    };
    let settings = &tenant.reports.survey;
    let company = tenant.name.as_str();
    if method == Method::GET {
        return Ok(form(StatusCode::OK, company, settings, &survey, None));
    }
    let body: &[u8] = req.body().as_ref();
    if body.len() > MAX_FORM {
        return Ok(html(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Survey",
            "<p>That answer is too long.</p>",
        ));
    }
    let fields: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| fields.get(name).map(String::as_str);
    let answer = match Answer::new(field("rating").unwrap_or_default(), field("comment"), field("reason")) {
        Ok(a) => a,
        Err((_, reason)) => {
            let problem = format!("Please choose a rating: {reason}.");
            return Ok(form(
                StatusCode::UNPROCESSABLE_ENTITY,
                company,
                settings,
                &survey,
                Some(&problem),
            ));
        }
    };
    let answered = match baton_app::csat::answer(
        deps.store.as_ref(),
        &deps.queues,
        &claims.tenant,
        of,
        None,
        &answer,
        now,
    )
    .await
    {
        Ok(a) => a,
        Err(StoreError::NotFound { .. }) => return Ok(html(StatusCode::NOT_FOUND, "Survey", NOT_VALID)),
        Err(e) => return Err(e.into()),
    };
    let changed = matches!(answered, Answered::Recorded { replaced: true, .. });
    let note = if changed {
        "<p>We have updated your earlier answer.</p>"
    } else {
        ""
    };
    Ok(html(
        StatusCode::OK,
        "Thank you",
        &format!(
            "<h1>Thank you</h1><p>Your rating of {} out of 5 helps {} get better.</p>{note}",
            answer.rating,
            escape_html(company)
        ),
    ))
}

#[utoipa::path(
    get, operation_id = "survey_page", path = "/v1/surveys/{token}", tag = "surveys",
    summary = "The customer's survey page (HTML; the signed link is the authority)",
    params(("token" = String, Path, description = "from the e-mailed link")),
    responses(
        (status = 200, description = "the question", content_type = "text/html"),
        (status = 404, description = "not a valid link", content_type = "text/html"),
        (status = 410, description = "the link expired: the survey has closed", content_type = "text/html"),
    )
)]
#[allow(dead_code)]
fn page_doc() {}

#[utoipa::path(
    post, operation_id = "survey_answer", path = "/v1/surveys/{token}", tag = "surveys",
    summary = "The customer's answer (form: rating 1-5, reason, comment); a later answer replaces it",
    params(("token" = String, Path, description = "from the e-mailed link")),
    request_body(content_type = "application/x-www-form-urlencoded", content = String),
    responses(
        (status = 200, description = "thanks", content_type = "text/html"),
        (status = 404, description = "not a valid link", content_type = "text/html"),
        (status = 410, description = "the link expired", content_type = "text/html"),
        (status = 422, description = "the form again, the problem named", content_type = "text/html"),
    )
)]
#[allow(dead_code)]
fn answer_doc() {}

const NOT_VALID: &str = "<h1>This survey link is not valid</h1>\
<p>It may be incomplete: open it again from the e-mail, all of it.</p>";
const EXPIRED: &str = "<h1>This survey has closed</h1>\
<p>Its link has expired, so it no longer takes answers. Thank you for wanting to tell us; \
if you still need help, just reply to our last e-mail.</p>";

fn form(
    status: StatusCode,
    company: &str,
    settings: &SurveySettings,
    survey: &Survey,
    problem: Option<&str>,
) -> Response<Body> {
    let current = survey.response.as_ref();
    let mut body = format!("<h1>{}</h1>", escape_html(settings.question.trim()));
    if let Some(p) = problem {
        body.push_str(&format!("<p class=\"problem\" role=\"alert\">{}</p>", escape_html(p)));
    }
    if let Some(r) = current {
        body.push_str(&format!(
            "<p>You rated us {} out of 5. You can change your answer.</p>",
            r.rating
        ));
    }
    body.push_str("<form method=\"post\"><fieldset><legend>1 is poor, 5 is great</legend>");
    for rating in 1..=5u8 {
        let checked = if current.is_some_and(|r| r.rating == rating) {
            " checked"
        } else {
            ""
        };
        body.push_str(&format!(
            "<label><input type=\"radio\" name=\"rating\" value=\"{rating}\" required{checked}> {rating}</label>"
        ));
    }
    let text = |t: Option<&String>| t.map(|t| escape_html(t)).unwrap_or_default();
    body.push_str(&format!(
        "</fieldset><label for=\"reason\">If it went wrong, what happened?</label>\
         <textarea id=\"reason\" name=\"reason\" maxlength=\"{max}\">{}</textarea>\
         <label for=\"comment\">Anything else (optional)</label>\
         <textarea id=\"comment\" name=\"comment\" maxlength=\"{max}\">{}</textarea>\
         <button type=\"submit\">Send</button></form><p class=\"by\">{}</p>",
        text(current.and_then(|r| r.reason.as_ref())),
        text(current.and_then(|r| r.comment.as_ref())),
        escape_html(company),
        max = csat::MAX_COMMENT_CHARS,
    ));
    html(status, "How did we do?", &body)
}

fn html(status: StatusCode, title: &str, body: &str) -> Response<Body> {
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}\
         fieldset{{border:0;padding:0;display:flex;gap:1rem}}label{{display:block;margin-top:1rem}}fieldset label{{margin:0}}\
         textarea{{width:100%;min-height:4rem}}button{{margin-top:1rem;padding:.5rem 1.5rem}}.problem{{color:#a00}}.by{{color:#666}}</style>\
         </head><body>{body}</body></html>",
        title = escape_html(title)
    );
    Response::builder()
        .status(status)
        .header("content-type", "text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .header(
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        )
        .header("referrer-policy", "no-referrer")
        .header("x-robots-tag", "noindex")
        .body(Body::Text(page))
        .expect("static response parts")
}
