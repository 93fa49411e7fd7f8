//! The OpenAPI 3.1 document, generated from the handlers' annotations and the views'
//! schemas, served at `/v1/openapi.json`.

use crate::error::{ApiError, ErrorBody, ErrorDetail};
use crate::views::*;
use crate::{admin, ai, channels, files, gaps, kb, reports, routing, shop, sla, tickets, topics};
use lambda_http::{Body, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Baton agent API",
        description = "The hosted API for agents and admins. Every route but this document needs \
                       `Authorization: Bearer <JWT>`; the token names the tenant (`custom:tenant`), the \
                       agent (`custom:agent_id`, else `sub`) and the role (`custom:role`: `admin` or \
                       `agent`). Errors are `{\"error\": {\"code\", \"message\", \"fields\"?}}`.",
        version = "1.0.0"
    ),
    paths(
        serve_doc,
        tickets::list, tickets::detail, tickets::patch, tickets::reply, tickets::note, tickets::assign,
        tickets::takeover, tickets::reopen, tickets::close, tickets::force_close, tickets::return_to_ai,
        files::original, files::attachment,
        admin::list_agents, admin::create_agent, admin::get_agent, admin::update_agent, admin::set_presence, admin::set_notifications,
        admin::list_teams, admin::create_team, admin::get_team, admin::update_team,
        kb::list, kb::create, kb::import, kb::get, kb::update, kb::delete,
        ai::get_settings, ai::put_settings, ai::preview,
        channels::get, channels::put_whatsapp, channels::put_instagram, channels::put_email, channels::put_widget,
        channels::rotate_widget_key, channels::disconnect,
        routing::get_rules, routing::put_rules, routing::preview, routing::next,
        sla::get, sla::put, sla::import_holidays,
        shop::get, shop::put, shop::delete, shop::check, shop::refresh_orders,
        reports::ai, reports::team, reports::get_settings, reports::put_settings, gaps::list, gaps::draft, topics::list,
        crate::surveys::page_doc, crate::surveys::answer_doc,
    ),
    components(schemas(ErrorBody, ErrorDetail, TicketPage, TicketDetail, ActionResult, baton_domain::ticket_query::TicketSort)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document as JSON.
pub fn document() -> String {
    ApiDoc::openapi().to_json().expect("the document serialises")
}

#[utoipa::path(
    get, operation_id = "openapi_document", path = "/v1/openapi.json", tag = "meta", summary = "This document (no token needed)",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json"))
)]
#[allow(dead_code)]
fn serve_doc() {}

pub fn serve() -> Result<Response<Body>, ApiError> {
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("cache-control", "public, max-age=300")
        .body(Body::Text(document()))
        .expect("static response parts"))
}
