//! A local stand-in for Meta's Graph API send endpoints, so replies on WhatsApp and
//! Instagram can be tried without Meta: it answers `POST /{version}/{phone_number_id}/messages`
//! (WhatsApp Cloud API) and `POST /{version}/me/messages` (Instagram Messaging) with Meta's
//! own success bodies, records every request, and can be told to answer the next ones
//! with Meta's error bodies. `make dev` starts it unless `GRAPH_API_BASE_URL` is set and
//! points the senders at it; what was sent is logged and listed at `GET /_baton/requests`
//! (tokens are never shown there, only a short fingerprint).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// One request the stand-in received.
#[derive(Debug, Clone, Serialize)]
pub struct Recorded {
    /// `whatsapp` or `instagram`.
    pub channel: &'static str,
    pub path: String,
    /// The bearer token sent (kept for tests; never listed or logged).
    #[serde(skip)]
    pub token: String,
    /// The token's first 8 hex characters of SHA-256, to tell tokens apart.
    pub token_fingerprint: String,
    pub body: Value,
    /// What the stand-in answered.
    pub status: u16,
    pub answer: Value,
}

struct Scripted {
    path_contains: String,
    remaining: u32,
    status: u16,
    body: Value,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    scripted: Vec<Scripted>,
    next_id: u64,
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Inner>>);

pub struct GraphStandin {
    /// The base URL to configure as `GRAPH_API_BASE_URL` (no version).
    pub url: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for GraphStandin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Meta's error body: `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`.
pub fn meta_error(code: i64, subcode: Option<i64>, message: &str) -> Value {
    let mut error = json!({
        "message": message,
        "type": if code == 190 { "OAuthException" } else { "GraphMethodException" },
        "code": code,
        "fbtrace_id": "ALocalStandInTrace",
    });
    if let Some(s) = subcode {
        error["error_subcode"] = s.into();
    }
    json!({ "error": error })
}

impl GraphStandin {
    /// Starts on `addr` (port 0: a free one) on loopback.
    pub async fn start(port: u16) -> std::io::Result<Self> {
        let shared = Shared::default();
        let app = Router::new()
            .route("/{version}/me/messages", post(instagram))
            .route("/{version}/{account}/messages", post(whatsapp))
            .route("/_baton/requests", get(list))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(GraphStandin { url, shared, task })
    }

    /// Answers the next `times` requests whose path contains `path_contains` with `status`
    /// and `body` (see [`meta_error`]).
    pub fn fail_next(&self, path_contains: &str, times: u32, status: u16, body: Value) {
        self.shared.0.lock().unwrap().scripted.push(Scripted {
            path_contains: path_contains.to_owned(),
            remaining: times,
            status,
            body,
        });
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.0.lock().unwrap().requests.clone()
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_owned)
        .filter(|t| !t.is_empty())
}

fn fingerprint(token: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(token.as_bytes());
    digest.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

fn handle(shared: &Shared, channel: &'static str, path: String, headers: &HeaderMap, body: &Bytes) -> Response {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let token = bearer(headers);
    let mut inner = shared.0.lock().unwrap();
    let scripted = inner
        .scripted
        .iter_mut()
        .find(|s| s.remaining > 0 && path.contains(&s.path_contains))
        .map(|s| {
            s.remaining -= 1;
            (s.status, s.body.clone())
        });
    let (status, answer) = if token.is_none() {
        (
            401,
            meta_error(
                190,
                None,
                "An active access token must be used to query information about the current user.",
            ),
        )
    } else if let Some(scripted) = scripted {
        scripted
    } else if body.is_null() {
        (
            400,
            meta_error(100, None, "(#100) The parameter messaging_product is required."),
        )
    } else {
        inner.next_id += 1;
        let n = inner.next_id;
        match channel {
            "whatsapp" => {
                let to = body["to"].as_str().unwrap_or_default().to_owned();
                let mut answer = json!({
                    "messaging_product": "whatsapp",
                    "contacts": [{ "input": to, "wa_id": to }],
                    "messages": [{ "id": format!("wamid.LOCAL{n:012}") }],
                });
                if body["type"] == "template" {
                    answer["messages"][0]["message_status"] = "accepted".into();
                }
                (200, answer)
            }
            _ => (
                200,
                json!({
                    "recipient_id": body["recipient"]["id"],
                    "message_id": format!("mid.LOCAL{n:012}"),
                }),
            ),
        }
    };
    let token = token.unwrap_or_default();
    tracing::info!(
        channel,
        path = %path,
        to = %body["to"].as_str().or(body["recipient"]["id"].as_str()).unwrap_or_default(),
        kind = %body["type"].as_str().unwrap_or("text"),
        status,
        "local Graph API stand-in received a send"
    );
    inner.requests.push(Recorded {
        channel,
        path,
        token_fingerprint: fingerprint(&token),
        token,
        body,
        status,
        answer: answer.clone(),
    });
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        [("content-type", "application/json")],
        answer.to_string(),
    )
        .into_response()
}

async fn whatsapp(
    State(s): State<Shared>,
    Path((version, account)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(
        &s,
        "whatsapp",
        format!("/{version}/{account}/messages"),
        &headers,
        &body,
    )
}

async fn instagram(State(s): State<Shared>, Path(version): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&s, "instagram", format!("/{version}/me/messages"), &headers, &body)
}

async fn list(State(s): State<Shared>) -> Response {
    let requests = s.0.lock().unwrap().requests.clone();
    (
        [("content-type", "application/json")],
        json!({ "requests": requests }).to_string(),
    )
        .into_response()
}
