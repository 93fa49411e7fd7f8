//! Hosts a function's real binary behind a local Lambda Runtime API.
//!
//! The binary is started with `AWS_LAMBDA_RUNTIME_API` pointing here, exactly as in a
//! Lambda sandbox: it polls `/invocation/next`, runs its handler and posts the response
//! or the error. Invocations are served one at a time per function (one warm sandbox).
//! If the process dies it is started again and the invocation in flight fails.

use axum::body::Bytes;
use axum::extract::{Path as AxPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The handler returned an error (Lambda's "Unhandled" function error).
    #[error("function error {error_type}: {message}")]
    Function { error_type: String, message: String },
    #[error("function timed out after {0:?}")]
    Timeout(Duration),
    #[error("function process exited during the invocation")]
    Crashed,
    #[error("function host stopped")]
    Stopped,
}

struct Invocation {
    id: String,
    payload: Bytes,
    deadline_ms: u128,
    reply: oneshot::Sender<Result<Bytes, InvokeError>>,
}

struct Shared {
    function_name: String,
    queue: Mutex<mpsc::Receiver<Invocation>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Result<Bytes, InvokeError>>>>,
}

#[derive(Clone)]
pub struct FunctionHost {
    name: String,
    timeout: Duration,
    sender: mpsc::Sender<Invocation>,
}

#[derive(Clone)]
pub struct HostSpec {
    pub name: String,
    pub binary: PathBuf,
    pub env: BTreeMap<String, String>,
    pub timeout: Duration,
    pub memory_mb: u32,
}

impl FunctionHost {
    pub async fn start(spec: HostSpec) -> std::io::Result<FunctionHost> {
        let (sender, receiver) = mpsc::channel(256);
        let shared = Arc::new(Shared {
            function_name: spec.name.clone(),
            queue: Mutex::new(receiver),
            in_flight: Mutex::new(HashMap::new()),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(respond))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api = listener.local_addr()?.to_string();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let (name, timeout) = (spec.name.clone(), spec.timeout);
        tokio::spawn(supervise(spec, api, shared));
        Ok(FunctionHost { name, timeout, sender })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Invokes the function with a JSON payload and waits for its response.
    pub async fn invoke(&self, payload: Bytes) -> Result<Bytes, InvokeError> {
        let (reply, rx) = oneshot::channel();
        let deadline_ms = now_ms() + self.timeout.as_millis();
        let id = ulid::Ulid::new().to_string().to_lowercase();
        self.sender
            .send(Invocation {
                id,
                payload,
                deadline_ms,
                reply,
            })
            .await
            .map_err(|_| InvokeError::Stopped)?;
        // Queueing time counts too: a real invoke would have been throttled, not queued forever.
        match tokio::time::timeout(self.timeout + Duration::from_secs(30), rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(InvokeError::Stopped),
            Err(_) => Err(InvokeError::Timeout(self.timeout)),
        }
    }
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

/// Keeps the function's process running against the runtime API at `api`.
async fn supervise(spec: HostSpec, api: String, shared: Arc<Shared>) {
    loop {
        let mut cmd = tokio::process::Command::new(&spec.binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&spec.env)
            .env("AWS_LAMBDA_RUNTIME_API", &api)
            .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", spec.memory_mb.to_string())
            .env("AWS_LAMBDA_FUNCTION_TIMEOUT", spec.timeout.as_secs().to_string())
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", spec.name))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("_HANDLER", "bootstrap")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(function = %spec.name, binary = %spec.binary.display(), error = %e, "cannot start function binary");
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        let status = child.wait().await;
        tracing::warn!(function = %spec.name, ?status, "function process exited; restarting");
        for (_, reply) in shared.in_flight.lock().await.drain() {
            let _ = reply.send(Err(InvokeError::Crashed));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let mut queue = shared.queue.lock().await;
    let Some(inv) = queue.recv().await else {
        // The host is shutting down: hold the poll open, as a frozen sandbox would.
        drop(queue);
        return std::future::pending().await;
    };
    drop(queue);
    let mut headers = HeaderMap::new();
    let h = |v: String| HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""));
    headers.insert("lambda-runtime-aws-request-id", h(inv.id.clone()));
    headers.insert("lambda-runtime-deadline-ms", h(inv.deadline_ms.to_string()));
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        h(format!(
            "arn:aws:lambda:{}:{}:function:{}",
            crate::provision::REGION,
            crate::provision::ACCOUNT_ID,
            shared.function_name
        )),
    );
    headers.insert("lambda-runtime-trace-id", h(format!("Root=1-{}", inv.id)));
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    shared.in_flight.lock().await.insert(inv.id, inv.reply);
    (StatusCode::OK, headers, inv.payload).into_response()
}

async fn respond(State(shared): State<Arc<Shared>>, AxPath(id): AxPath<String>, body: Bytes) -> StatusCode {
    if let Some(reply) = shared.in_flight.lock().await.remove(&id) {
        let _ = reply.send(Ok(body));
    }
    StatusCode::ACCEPTED
}

async fn fail(State(shared): State<Arc<Shared>>, AxPath(id): AxPath<String>, body: Bytes) -> StatusCode {
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let err = InvokeError::Function {
        error_type: v["errorType"].as_str().unwrap_or("Unhandled").to_owned(),
        message: v["errorMessage"].as_str().unwrap_or_default().to_owned(),
    };
    if let Some(reply) = shared.in_flight.lock().await.remove(&id) {
        let _ = reply.send(Err(err));
    }
    StatusCode::ACCEPTED
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    tracing::error!(function = %shared.function_name, error = %String::from_utf8_lossy(&body), "function failed to initialise");
    StatusCode::ACCEPTED
}
