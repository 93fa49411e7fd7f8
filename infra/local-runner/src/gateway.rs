//! The local HTTP API: every `HttpApi` route of every function in the template, served
//! on one address, each request turned into an API Gateway HTTP API (payload 2.0) event
//! and the function's proxy response turned back into HTTP. A `GET` that no route takes
//! is served from the web assets (`web/dist`: the demo page at `/`, `widget.js`), as the
//! CDN in front of the bucket does in AWS.

use crate::lambda_host::{FunctionHost, InvokeError};
use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// API Gateway's own payload limit.
const MAX_BODY: usize = 10 * 1024 * 1024;

#[derive(Clone)]
pub struct Route {
    pub method: String,
    pub path: String,
    pub host: FunctionHost,
}

enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

struct CompiledRoute {
    route: Route,
    segments: Vec<Segment>,
}

fn compile(route: Route) -> CompiledRoute {
    let segments = route
        .path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(p) if p.ends_with('+') => Segment::Greedy(p.trim_end_matches('+').to_owned()),
            Some(p) => Segment::Param(p.to_owned()),
            None => Segment::Literal(s.to_owned()),
        })
        .collect();
    CompiledRoute { route, segments }
}

impl CompiledRoute {
    fn matches(&self, method: &str, path: &str) -> Option<Map<String, Value>> {
        if self.route.method != "ANY" && self.route.method != method {
            return None;
        }
        let parts: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
        let mut params = Map::new();
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                Segment::Literal(l) => {
                    if parts.get(i) != Some(&l.as_str()) {
                        return None;
                    }
                }
                Segment::Param(p) => {
                    let v = parts.get(i)?;
                    params.insert(p.clone(), Value::String(percent_decode(v)));
                }
                Segment::Greedy(p) => {
                    if i >= parts.len() {
                        return None;
                    }
                    params.insert(p.clone(), Value::String(parts[i..].join("/")));
                    return Some(params);
                }
            }
        }
        (parts.len() == self.segments.len()).then_some(params)
    }

    /// Literal segments win over parameters, as in API Gateway.
    fn specificity(&self) -> usize {
        self.segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count()
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() && s.is_char_boundary(i + 1) && s.is_char_boundary(i + 3) {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A query string's decoded pairs; `form` reads `+` as a space (HTML forms, API
/// Gateway), otherwise it stays a `+` (e-mail addresses).
fn query_pairs(raw: &str, form: bool) -> impl Iterator<Item = (String, String)> + '_ {
    raw.split('&').filter(|p| !p.is_empty()).map(move |pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| match form {
            true => percent_decode(&s.replace('+', " ")),
            false => percent_decode(s),
        };
        (decode(k), decode(v))
    })
}

struct Gateway {
    routes: Vec<CompiledRoute>,
    assets: Option<PathBuf>,
    local: Local,
}

/// What only the local runner serves, beside the template's routes.
#[derive(Default)]
pub struct Local {
    pub dev: Option<DevSignIn>,
    pub mail: Option<MailDrop>,
}

/// The local mail drop: `POST /_baton/mail?to=<recipient>[&to=…][&from=<envelope sender>]`
/// with a raw RFC 5322 message as the body does what the template's SES receipt rule does
/// with mail for the inbound domain: stores it under the rule's prefix, then invokes the
/// rule's function with SES's receipt event (spam, virus, SPF, DKIM and DMARC verdicts
/// `PASS`, or the `verdict=` given), and answers with what the function made of it.
pub struct MailDrop {
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub prefix: String,
    pub host: FunctionHost,
}

/// The largest message SES receives.
const MAX_MAIL: usize = 40 * 1024 * 1024;

/// SES's receipt event for a message stored as `message_id`.
fn ses_receipt_event(message_id: &str, from: &str, to: &[String], verdict: &str, now: &str) -> Value {
    let v = json!({ "status": verdict });
    json!({ "Records": [{
        "eventSource": "aws:ses",
        "eventVersion": "1.0",
        "ses": {
            "mail": { "timestamp": now, "source": from, "messageId": message_id, "destination": to },
            "receipt": {
                "timestamp": now, "processingTimeMillis": 1, "recipients": to,
                "spamVerdict": v, "virusVerdict": v, "spfVerdict": v, "dkimVerdict": v, "dmarcVerdict": v,
                "action": { "type": "Lambda", "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:local", "invocationType": "Event" }
            }
        }
    }] })
}

async fn drop_mail(mail: &MailDrop, query: &str, body: Bytes) -> Response {
    let mut to = Vec::new();
    let mut from = None;
    let mut verdict = "PASS".to_owned();
    for (k, v) in query_pairs(query, false) {
        match k.as_str() {
            "to" => to.extend(v.split(',').map(|a| a.trim().to_owned()).filter(|a| !a.is_empty())),
            "from" => from = Some(v),
            "verdict" => verdict = v.to_ascii_uppercase(),
            _ => {}
        }
    }
    if to.is_empty() || body.is_empty() {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({ "error": { "code": "bad_request", "message": "POST a raw message to /_baton/mail?to=<recipient>[&from=<sender>]" } }),
        );
    }
    // The envelope sender defaults to the From header's address, as most mailers send.
    let from = from.unwrap_or_else(|| {
        baton_domain::email::parse(&body)
            .map(|m| m.from_address)
            .unwrap_or_default()
    });
    let id = ulid::Ulid::new().to_string().to_ascii_lowercase();
    if let Err(e) = mail
        .s3
        .put_object()
        .bucket(&mail.bucket)
        .key(format!("{}{id}", mail.prefix))
        .body(body.into())
        .send()
        .await
    {
        tracing::error!(error = %e, "storing the dropped message failed");
        return message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
    }
    let now = baton_domain::Clock::now(&baton_domain::SystemClock).to_string();
    let event = ses_receipt_event(&id, &from, &to, &verdict, &now);
    let payload = Bytes::from(serde_json::to_vec(&event).expect("event serialises"));
    match mail.host.invoke(payload).await {
        Ok(out) => json_response(
            StatusCode::ACCEPTED,
            json!({ "message_id": id, "result": serde_json::from_slice::<Value>(&out).unwrap_or(Value::Null) }),
        ),
        Err(e) => {
            tracing::error!(function = mail.host.name(), error = %e, "the receipt rule's function failed");
            json_response(
                StatusCode::BAD_GATEWAY,
                json!({ "message_id": id, "error": { "code": "function_failed", "message": e.to_string() } }),
            )
        }
    }
}

/// The inbox's local sign-in: `POST /_baton/dev-token` mints a token for the agent it
/// names (creating them in the table), and `GET /inbox/config.json` tells the inbox to
/// offer it. Only the local runner serves these.
pub struct DevSignIn {
    pub store: baton_aws::DynamoStore,
    pub secret: String,
}

/// The routes, the directory of static web assets (if any) for what they do not take,
/// and the local sign-in.
pub fn router(routes: Vec<Route>, assets: Option<PathBuf>, local: Local) -> Router {
    let mut compiled: Vec<CompiledRoute> = routes.into_iter().map(compile).collect();
    compiled.sort_by_key(|r| std::cmp::Reverse(r.specificity()));
    Router::new().fallback(handle).with_state(Arc::new(Gateway {
        routes: compiled,
        assets,
        local,
    }))
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json"), ("cache-control", "no-store")],
        body.to_string(),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct DevTokenRequest {
    email: String,
    #[serde(default = "default_role")]
    role: String,
    #[serde(default = "default_tenant")]
    tenant: String,
}

fn default_role() -> String {
    "agent".into()
}

fn default_tenant() -> String {
    crate::seed::DEMO_TENANT.into()
}

async fn dev_token(dev: &DevSignIn, body: &[u8]) -> Response {
    let Ok(req) = serde_json::from_slice::<DevTokenRequest>(body) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({ "error": { "code": "bad_request", "message": "send {\"email\", \"role\"?, \"tenant\"?}" } }),
        );
    };
    let email = req.email.trim().to_ascii_lowercase();
    match crate::dev_auth::mint(Some(&dev.store), &dev.secret, &req.tenant, &email, &req.role, 12).await {
        Ok((token, agent)) => json_response(
            StatusCode::OK,
            json!({ "token": token, "agent_id": agent.to_string(), "tenant": req.tenant, "role": req.role, "email": email }),
        ),
        Err(crate::dev_auth::DevAuthError::Invalid(m)) => json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "error": { "code": "validation_failed", "message": m } }),
        ),
        Err(e) => {
            tracing::error!(error = %e, "dev sign-in failed");
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "error": { "code": "internal", "message": "sign-in failed" } }),
            )
        }
    }
}

/// The headers the web pages are served with: they load only their own scripts and
/// styles and talk only to their own origin; customer text is never markup.
pub const PAGE_SECURITY_HEADERS: [(&str, &str); 4] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "strict-origin-when-cross-origin"),
    ("x-frame-options", "DENY"),
];

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// A file under `dir` for a URL path: `/` and directories are their `index.html`; a path
/// with anything but plain name segments (`..`, backslashes, NULs) is no file.
fn asset_path(dir: &Path, url_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(url_path);
    let mut file = dir.to_path_buf();
    for seg in decoded.split('/').filter(|s| !s.is_empty()) {
        if seg == "." || seg == ".." || seg.contains(['\\', '\0']) || seg.starts_with('.') {
            return None;
        }
        file.push(seg);
    }
    if file.is_dir() {
        file.push("index.html");
    }
    file.is_file().then_some(file)
}

async fn serve_asset(dir: &Path, url_path: &str, head: bool) -> Response {
    let Some(file) = asset_path(dir, url_path) else {
        return message(StatusCode::NOT_FOUND, "Not Found");
    };
    let Ok(bytes) = tokio::fs::read(&file).await else {
        return message(StatusCode::NOT_FOUND, "Not Found");
    };
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    // Content-hashed names never change; everything else is revalidated.
    let cache = if name.split('.').count() == 3 && name.starts_with("widget.") && name.ends_with(".js") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut resp = Response::new(if head { Body::empty() } else { Body::from(bytes) });
    let headers = resp.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(content_type(&file)));
    headers.insert("cache-control", HeaderValue::from_static(cache));
    for (k, v) in PAGE_SECURITY_HEADERS {
        headers.insert(k, HeaderValue::from_static(v));
    }
    resp
}

fn message(status: StatusCode, text: &str) -> Response {
    (
        status,
        [("content-type", "application/json")],
        json!({ "message": text }).to_string(),
    )
        .into_response()
}

async fn handle(State(gw): State<Arc<Gateway>>, req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    if let (Some(mail), "POST", "/_baton/mail") = (&gw.local.mail, method.as_str(), path.as_str()) {
        let query = req.uri().query().unwrap_or("").to_owned();
        return match to_bytes(req.into_body(), MAX_MAIL).await {
            Ok(body) => drop_mail(mail, &query, body).await,
            Err(_) => message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
        };
    }
    if let Some(dev) = &gw.local.dev {
        match (method.as_str(), path.as_str()) {
            ("GET", "/inbox/config.json") => {
                return json_response(StatusCode::OK, json!({ "auth": { "kind": "dev" }, "api": "" }))
            }
            ("POST", "/_baton/dev-token") => {
                return match to_bytes(req.into_body(), 16 * 1024).await {
                    Ok(body) => dev_token(dev, &body).await,
                    Err(_) => message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
                };
            }
            _ => {}
        }
    }
    let Some((route, params)) = gw.routes.iter().find_map(|r| r.matches(&method, &path).map(|p| (r, p))) else {
        return match (&gw.assets, method.as_str()) {
            (Some(dir), "GET" | "HEAD") => serve_asset(dir, &path, method == "HEAD").await,
            _ => message(StatusCode::NOT_FOUND, "Not Found"),
        };
    };
    let (parts, body) = req.into_parts();
    let body = match to_bytes(Body::new(body), MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
    };
    let event = api_event(
        &route.route,
        &parts,
        params,
        &body,
        peer.as_deref().unwrap_or("127.0.0.1"),
    );
    let payload = Bytes::from(serde_json::to_vec(&event).expect("event serialises"));
    match route.route.host.invoke(payload).await {
        Ok(resp) => proxy_response(&resp),
        Err(InvokeError::Timeout(_)) => message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
        Err(e) => {
            tracing::error!(function = route.route.host.name(), error = %e, "invocation failed");
            message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}

fn api_event(
    route: &Route,
    parts: &axum::http::request::Parts,
    params: Map<String, Value>,
    body: &Bytes,
    source_ip: &str,
) -> Value {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(v.split(';').map(|c| Value::String(c.trim().to_owned())));
            continue;
        }
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(v));
            }
        }
    }
    let raw_query = parts.uri.query().unwrap_or("").to_owned();
    let mut query = Map::new();
    for (k, v) in query_pairs(&raw_query, true) {
        match query.get_mut(&k) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query.insert(k, Value::String(v));
            }
        }
    }
    let route_key = format!(
        "{} {}",
        if route.method == "ANY" { "ANY" } else { &route.method },
        route.path
    );
    let now = time::OffsetDateTime::now_utc();
    let is_text = std::str::from_utf8(body).is_ok();
    let body_value = if body.is_empty() {
        Value::Null
    } else if is_text {
        Value::String(String::from_utf8_lossy(body).into_owned())
    } else {
        Value::String(base64::engine::general_purpose::STANDARD.encode(body))
    };
    let request_id = ulid::Ulid::new().to_string();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": parts.uri.path(),
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": crate::provision::ACCOUNT_ID,
            "apiId": "local",
            "domainName": parts.headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": parts.headers.get("user-agent").and_then(|h| h.to_str().ok()).unwrap_or(""),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format(&time::format_description::well_known::Rfc2822).unwrap_or_default(),
            "timeEpoch": (now.unix_timestamp_nanos() / 1_000_000) as i64,
        },
        "isBase64Encoded": !body.is_empty() && !is_text,
    });
    let obj = event.as_object_mut().expect("object");
    if !cookies.is_empty() {
        obj.insert("cookies".into(), Value::Array(cookies));
    }
    if !query.is_empty() {
        obj.insert("queryStringParameters".into(), Value::Object(query));
    }
    if !params.is_empty() {
        obj.insert("pathParameters".into(), Value::Object(params));
    }
    if !body_value.is_null() {
        obj.insert("body".into(), body_value);
    }
    event
}

/// Turns a payload-2.0 response into HTTP. A response without `statusCode` is a bare
/// JSON body with status 200, as API Gateway does.
fn proxy_response(raw: &[u8]) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(raw) else {
        return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let Some(status) = v.get("statusCode").and_then(Value::as_u64) else {
        return (StatusCode::OK, [("content-type", "application/json")], v.to_string()).into_response();
    };
    let body = match v.get("body") {
        Some(Value::String(s)) if v.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) => {
            base64::engine::general_purpose::STANDARD.decode(s).unwrap_or_default()
        }
        Some(Value::String(s)) => s.clone().into_bytes(),
        _ => Vec::new(),
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    let mut put = |k: &str, val: &str, append: bool| {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(k), HeaderValue::from_str(val)) {
            if append {
                headers.append(name, value);
            } else {
                headers.insert(name, value);
            }
        }
    };
    if let Some(Value::Object(h)) = v.get("headers") {
        for (k, val) in h {
            if let Some(s) = val.as_str() {
                put(k, s, false);
            }
        }
    }
    if let Some(Value::Object(h)) = v.get("multiValueHeaders") {
        for (k, vals) in h {
            for s in vals.as_array().into_iter().flatten().filter_map(Value::as_str) {
                put(k, s, true);
            }
        }
    }
    if let Some(Value::Array(cookies)) = v.get("cookies") {
        for c in cookies.iter().filter_map(Value::as_str) {
            put("set-cookie", c, true);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_query_reads_plus_as_a_space_and_an_address_keeps_it() {
        let pairs = |form| query_pairs("to=support+demo@x.example&q=a%2Bb+c&flag", form).collect::<Vec<_>>();
        assert_eq!(
            pairs(true),
            [
                ("to".to_owned(), "support demo@x.example".to_owned()),
                ("q".to_owned(), "a+b c".to_owned()),
                ("flag".to_owned(), String::new()),
            ]
        );
        assert_eq!(pairs(false)[0].1, "support+demo@x.example");
        assert_eq!(pairs(false)[1].1, "a+b+c");
    }

    #[test]
    fn the_mail_drop_hands_on_ses_s_receipt_event() {
        let to = vec!["support+demo@inbound.example".to_owned()];
        let e = ses_receipt_event("m1", "mira@example.net", &to, "PASS", "2026-12-07T10:00:00.000Z");
        let ses = &e["Records"][0]["ses"];
        assert_eq!(e["Records"][0]["eventSource"], "aws:ses");
        assert_eq!(ses["mail"]["messageId"], "m1");
        assert_eq!(ses["mail"]["source"], "mira@example.net");
        assert_eq!(ses["receipt"]["recipients"][0], "support+demo@inbound.example");
        for v in [
            "spamVerdict",
            "virusVerdict",
            "spfVerdict",
            "dkimVerdict",
            "dmarcVerdict",
        ] {
            assert_eq!(ses["receipt"][v]["status"], "PASS", "{v}");
        }
    }

    #[test]
    fn decodes_percent_escapes_without_panicking_on_truncation() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn serves_only_files_under_the_asset_directory() {
        let dir = std::env::temp_dir().join(format!("baton-assets-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(dir.join("inbox")).unwrap();
        std::fs::write(dir.join("index.html"), "demo").unwrap();
        std::fs::write(dir.join("inbox/index.html"), "inbox").unwrap();
        std::fs::write(dir.join("widget.js"), "js").unwrap();
        std::fs::write(dir.join(".env"), "secret").unwrap();
        assert_eq!(asset_path(&dir, "/"), Some(dir.join("index.html")));
        assert_eq!(asset_path(&dir, "/inbox/"), Some(dir.join("inbox/index.html")));
        assert_eq!(asset_path(&dir, "/widget.js"), Some(dir.join("widget.js")));
        for bad in [
            "/../Cargo.toml",
            "/%2e%2e/Cargo.toml",
            "/inbox/../../x",
            "/.env",
            "/missing.js",
            "/a%5c..%5cb",
        ] {
            assert_eq!(asset_path(&dir, bad), None, "{bad}");
        }
        assert_eq!(content_type(Path::new("a/widget.js")), "text/javascript; charset=utf-8");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
