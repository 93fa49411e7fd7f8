//! An HTTP proxy between the AWS SDK and the local endpoint that answers chosen calls with
//! the service's own error responses and forwards everything else unchanged: DynamoDB's
//! (status, `x-amzn-ErrorType`, JSON body with `__type`, and per-item
//! `CancellationReasons` for a cancelled transaction) and SES's (the Query protocol's
//! `ErrorResponse` XML). The local endpoint runs one call at a time and never throttles,
//! so it never produces a `TransactionConflict`, throttling or a refused recipient; this
//! is how tests see them.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// One canned DynamoDB error.
#[derive(Debug, Clone)]
pub struct DdbError {
    pub status: u16,
    pub type_name: &'static str,
    pub body: serde_json::Value,
}

impl DdbError {
    /// `TransactWriteItems` cancelled because another transaction holds one of its items:
    /// `reasons` gives each item's code (`None`, `TransactionConflict`, ...), in order.
    pub fn transaction_cancelled(reasons: &[&str]) -> Self {
        let reasons: Vec<serde_json::Value> = reasons
            .iter()
            .map(|code| match *code {
                "None" => serde_json::json!({ "Code": "None" }),
                "TransactionConflict" => serde_json::json!({
                    "Code": "TransactionConflict",
                    "Message": "Transaction is ongoing for the item"
                }),
                other => serde_json::json!({ "Code": other, "Message": other }),
            })
            .collect();
        let codes: Vec<&str> = reasons.iter().map(|r| r["Code"].as_str().unwrap_or("None")).collect();
        DdbError {
            status: 400,
            type_name: "TransactionCanceledException",
            body: serde_json::json!({
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "Message": format!(
                    "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
                    codes.join(", ")
                ),
                "CancellationReasons": reasons,
            }),
        }
    }

    /// A single-item write that met a transaction in flight on its item.
    pub fn transaction_conflict() -> Self {
        DdbError {
            status: 400,
            type_name: "TransactionConflictException",
            body: serde_json::json!({
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionConflictException",
                "message": "Transaction is ongoing for the item"
            }),
        }
    }

    pub fn throughput_exceeded() -> Self {
        DdbError {
            status: 400,
            type_name: "ProvisionedThroughputExceededException",
            body: serde_json::json!({
                "__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "message": "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API."
            }),
        }
    }
}

/// One canned error of a Query-protocol service (SES): `<ErrorResponse><Error>` XML.
#[derive(Debug, Clone)]
pub struct QueryError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl QueryError {
    /// SES over its sending rate.
    pub fn ses_throttling() -> Self {
        QueryError {
            status: 400,
            code: "Throttling",
            message: "Maximum sending rate exceeded.".into(),
        }
    }

    /// SES refusing a message for good.
    pub fn ses_message_rejected(message: &str) -> Self {
        QueryError {
            status: 400,
            code: "MessageRejected",
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Canned {
    Json(DdbError),
    Xml(QueryError),
}

impl From<DdbError> for Canned {
    fn from(e: DdbError) -> Self {
        Canned::Json(e)
    }
}

impl From<QueryError> for Canned {
    fn from(e: QueryError) -> Self {
        Canned::Xml(e)
    }
}

struct Rule {
    /// The operation: `X-Amz-Target`'s (`TransactWriteItems`) or the form's `Action`
    /// (`SendRawEmail`).
    operation: String,
    remaining: u32,
    error: Canned,
}

#[derive(Clone)]
struct Shared {
    upstream: String,
    client: reqwest::Client,
    rules: Arc<Mutex<Vec<Rule>>>,
    answered: Arc<Mutex<Vec<String>>>,
}

pub struct DdbProxy {
    pub url: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DdbProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DdbProxy {
    /// Starts a proxy in front of `upstream` on a free loopback port.
    pub async fn start(upstream: &str) -> Self {
        let shared = Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            rules: Arc::default(),
            answered: Arc::default(),
        };
        let app = axum::Router::new().fallback(forward).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("a free port");
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        DdbProxy {
            url: format!("http://{addr}"),
            shared,
            task,
        }
    }

    /// Answers the next `times` calls of `operation` with `error`.
    pub fn fail(&self, operation: &str, times: u32, error: impl Into<Canned>) {
        self.shared.rules.lock().unwrap().push(Rule {
            operation: operation.to_owned(),
            remaining: times,
            error: error.into(),
        });
    }

    /// An SES client whose calls go through the proxy.
    pub fn ses(&self, sdk: &aws_config::SdkConfig) -> aws_sdk_ses::Client {
        let conf = aws_sdk_ses::config::Builder::from(sdk).endpoint_url(&self.url).build();
        aws_sdk_ses::Client::from_conf(conf)
    }

    /// The operations answered with an injected error so far.
    pub fn injected(&self) -> Vec<String> {
        self.shared.answered.lock().unwrap().clone()
    }

    /// A DynamoDB store whose client goes through the proxy.
    pub fn store(&self, sdk: &aws_config::SdkConfig, table: &str) -> baton_aws::DynamoStore {
        let conf = aws_sdk_dynamodb::config::Builder::from(sdk)
            .endpoint_url(&self.url)
            .build();
        baton_aws::DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(conf), table)
    }
}

async fn forward(State(s): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let operation = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.split('.').nth(1))
        .map(str::to_owned)
        .or_else(|| {
            // Query protocol: `Action=SendRawEmail&...` in the form body.
            std::str::from_utf8(&body)
                .ok()?
                .split('&')
                .find_map(|p| p.strip_prefix("Action="))
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let injected = {
        let mut rules = s.rules.lock().unwrap();
        rules
            .iter_mut()
            .find(|r| r.operation == operation && r.remaining > 0)
            .map(|r| {
                r.remaining -= 1;
                r.error.clone()
            })
    };
    if let Some(Canned::Xml(e)) = &injected {
        s.answered.lock().unwrap().push(operation);
        let body = format!(
            "<ErrorResponse xmlns=\"http://ses.amazonaws.com/doc/2010-12-01/\"><Error><Type>Sender</Type>\
             <Code>{}</Code><Message>{}</Message></Error><RequestId>INJECTED-0000</RequestId></ErrorResponse>",
            e.code, e.message
        );
        return (
            StatusCode::from_u16(e.status).unwrap(),
            [("content-type", "text/xml"), ("x-amzn-requestid", "INJECTED-0000")],
            body,
        )
            .into_response();
    }
    if let Some(Canned::Json(e)) = injected {
        s.answered.lock().unwrap().push(operation);
        return (
            StatusCode::from_u16(e.status).unwrap(),
            [
                ("content-type", "application/x-amz-json-1.0"),
                ("x-amzn-errortype", e.type_name),
                (
                    "x-amzn-requestid",
                    "INJECTED0000000000000000000000000000000000000000000",
                ),
            ],
            e.body.to_string(),
        )
            .into_response();
    }
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut req = s
        .client
        .request(method, format!("{}{path}", s.upstream))
        .body(body.to_vec());
    for (name, value) in headers.iter() {
        if name != "host" && name != "content-length" {
            req = req.header(name, value);
        }
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            let mut out = Response::builder().status(status.as_u16());
            for (name, value) in resp.headers() {
                if name != "content-length" && name != "transfer-encoding" {
                    out = out.header(name, value);
                }
            }
            let bytes = resp.bytes().await.unwrap_or_default();
            out.body(axum::body::Body::from(bytes)).unwrap()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}
