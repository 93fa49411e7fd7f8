//! A local stand-in for a tenant's shop, so order lookups can be tried without Shopify:
//! it answers Shopify's Admin GraphQL API (`POST /admin/api/{version}/graphql.json` with
//! `X-Shopify-Access-Token`: the `shop`, `customers` and `orders` queries, in Shopify's
//! shapes with `extensions.cost`, cursor pages and search strings) and Baton's generic
//! connector (`POST /connector`, signature verified), both over the same orders. It can
//! be told to throttle, fail or stall the next requests, and lists what it was asked at
//! `GET /_baton/requests` (never the token or the secret).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use baton_domain::commerce::{
    connector_signature, phone_digits, FulfilmentStatus, Order, OrderQuery, OrderStatus, ShipmentStatus,
};
use serde::Serialize;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request the stand-in received.
#[derive(Debug, Clone, Serialize)]
pub struct ShopRequest {
    /// `shopify` or `connector`.
    pub format: &'static str,
    pub body: Value,
    pub status: u16,
    /// The connector's signature verified (connector requests only).
    pub signature_ok: Option<bool>,
    /// The access token was the shop's (Shopify requests only).
    pub token_ok: Option<bool>,
}

#[derive(Clone, Copy)]
enum Script {
    Throttle,
    Fail(u16),
    Delay(Duration),
}

struct Inner {
    name: String,
    token: String,
    secret: String,
    orders: Vec<Order>,
    script: Vec<(u32, Script)>,
    requests: Vec<ShopRequest>,
}

#[derive(Clone)]
struct Shared(Arc<Mutex<Inner>>);

pub struct ShopStandin {
    pub url: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ShopStandin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ShopStandin {
    /// Starts on `port` (0: a free one) on loopback, with the shop's name, its Admin API
    /// token, the connector's signing secret and its orders.
    pub async fn start(
        port: u16,
        name: &str,
        token: &str,
        connector_secret: &str,
        orders: Vec<Order>,
    ) -> std::io::Result<Self> {
        let shared = Shared(Arc::new(Mutex::new(Inner {
            name: name.to_owned(),
            token: token.to_owned(),
            secret: connector_secret.to_owned(),
            orders,
            script: vec![],
            requests: vec![],
        })));
        let app = Router::new()
            .route("/admin/api/{version}/graphql.json", post(shopify))
            .route("/connector", post(connector))
            .route("/_baton/requests", get(list))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(ShopStandin { url, shared, task })
    }

    /// The "domain" to connect as a Shopify shop (`127.0.0.1:port`: Baton's adapter calls
    /// a loopback domain over plain HTTP).
    pub fn shopify_domain(&self) -> String {
        self.url.trim_start_matches("http://").to_owned()
    }

    pub fn connector_url(&self) -> String {
        format!("{}/connector", self.url)
    }

    fn push(&self, times: u32, script: Script) {
        self.shared.0.lock().unwrap().script.push((times, script));
    }

    /// The next `times` requests are throttled (Shopify's THROTTLED body with a bucket
    /// that refills in about a second; 429 with `Retry-After: 1` on the connector).
    pub fn throttle_next(&self, times: u32) {
        self.push(times, Script::Throttle);
    }

    /// The next `times` requests answer `status`.
    pub fn fail_next(&self, times: u32, status: u16) {
        self.push(times, Script::Fail(status));
    }

    /// The next `times` requests wait `delay` before answering.
    pub fn delay_next(&self, times: u32, delay: Duration) {
        self.push(times, Script::Delay(delay));
    }

    pub fn set_orders(&self, orders: Vec<Order>) {
        self.shared.0.lock().unwrap().orders = orders;
    }

    pub fn requests(&self) -> Vec<ShopRequest> {
        self.shared.0.lock().unwrap().requests.clone()
    }
}

impl Shared {
    fn next_script(&self) -> Option<Script> {
        let mut inner = self.0.lock().unwrap();
        let slot = inner.script.iter_mut().find(|(n, _)| *n > 0)?;
        slot.0 -= 1;
        Some(slot.1)
    }

    fn record(
        &self,
        format: &'static str,
        body: &Value,
        status: u16,
        signature_ok: Option<bool>,
        token_ok: Option<bool>,
    ) {
        tracing::info!(format, status, kind = %body["type"].as_str().unwrap_or("graphql"), "local shop stand-in asked");
        self.0.lock().unwrap().requests.push(ShopRequest {
            format,
            body: body.clone(),
            status,
            signature_ok,
            token_ok,
        });
    }
}

fn json_response(status: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn cost(requested: u32, available: f64) -> Value {
    json!({ "cost": {
        "requestedQueryCost": requested,
        "actualQueryCost": if available < requested as f64 { Value::Null } else { json!(requested.min(10)) },
        "throttleStatus": { "maximumAvailable": 1000.0, "currentlyAvailable": available, "restoreRate": 50.0 },
    }})
}

// ------------------------------------------------------------------ Shopify

fn upper<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_ascii_uppercase))
        .unwrap_or_default()
}

/// An order as Shopify's Admin GraphQL API shows it.
fn shopify_node(o: &Order, index: usize) -> Value {
    let fulfilment = match o.fulfilment_status {
        FulfilmentStatus::InProgress => "IN_PROGRESS".to_owned(),
        other => upper(&other),
    };
    let shipment = |s: ShipmentStatus| match s {
        ShipmentStatus::Cancelled => "CANCELED".to_owned(),
        other => upper(&other),
    };
    json!({
        "id": format!("gid://shopify/Order/{}", index + 1),
        "name": o.name,
        "email": o.email,
        "phone": o.phone,
        "createdAt": o.created_at.to_string(),
        "cancelledAt": (o.status == OrderStatus::Cancelled).then(|| o.created_at.to_string()),
        "closedAt": (o.status == OrderStatus::Closed).then(|| o.created_at.to_string()),
        "displayFinancialStatus": o.financial_status.to_ascii_uppercase(),
        "displayFulfillmentStatus": fulfilment,
        "statusPageUrl": o.status_url,
        "totalPriceSet": { "shopMoney": { "amount": o.total.amount, "currencyCode": o.total.currency } },
        "shippingAddress": { "zip": o.shipping_postcode },
        "customer": { "id": format!("gid://shopify/Customer/{}", customer_id(o)) },
        "lineItems": { "nodes": o.items.iter().map(|i| json!({ "title": i.title, "quantity": i.quantity, "sku": i.sku })).collect::<Vec<_>>() },
        "fulfillments": o.fulfilments.iter().map(|f| json!({
            "status": "SUCCESS",
            "displayStatus": shipment(f.status),
            "createdAt": f.shipped_at.to_string(),
            "updatedAt": f.updated_at.map(|t| t.to_string()),
            "deliveredAt": f.updated_at.filter(|_| f.status == ShipmentStatus::Delivered).map(|t| t.to_string()),
            "estimatedDeliveryAt": f.estimated_delivery_at.map(|t| t.to_string()),
            "trackingInfo": [{ "company": f.carrier, "number": f.tracking_number, "url": f.tracking_url }],
        })).collect::<Vec<_>>(),
    })
}

/// A customer's id: the same for every order with the same e-mail (or phone).
fn customer_id(o: &Order) -> u64 {
    use sha2::Digest;
    let who =
        o.email.clone().unwrap_or_default().to_ascii_lowercase() + &phone_digits(o.phone.as_deref().unwrap_or(""));
    let d = sha2::Sha256::digest(who.as_bytes());
    u64::from_be_bytes(d[..8].try_into().unwrap()) % 1_000_000_000
}

/// Whether `o` matches every term of a Shopify search string.
fn matches(o: &Order, search: &str) -> bool {
    search.split_whitespace().all(|term| match term.split_once(':') {
        Some(("name", v)) => o.number == v.trim_start_matches('#'),
        Some(("email", v)) => o.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(v)),
        Some(("customer_id", v)) => v.parse::<u64>().ok() == Some(customer_id(o)),
        _ => false,
    })
}

fn answer_graphql(inner: &Inner, body: &Value) -> Value {
    let query = body["query"].as_str().unwrap_or_default();
    let vars = &body["variables"];
    let mut orders: Vec<(usize, &Order)> = inner.orders.iter().enumerate().collect();
    orders.sort_by_key(|(_, o)| std::cmp::Reverse(o.created_at));
    if query.contains("orders(") {
        let search = vars["query"].as_str().unwrap_or_default();
        let first = vars["first"].as_u64().unwrap_or(10).clamp(1, 250) as usize;
        let start = vars["after"]
            .as_str()
            .and_then(|c| c.strip_prefix("c:"))
            .and_then(|c| c.parse::<usize>().ok())
            .map_or(0, |i| i + 1);
        let hits: Vec<&(usize, &Order)> = orders.iter().filter(|(_, o)| matches(o, search)).collect();
        let page: Vec<Value> = hits
            .iter()
            .enumerate()
            .skip(start)
            .take(first)
            .map(|(pos, (i, o))| json!({ "cursor": format!("c:{pos}"), "node": shopify_node(o, *i) }))
            .collect();
        let end = start + page.len();
        return json!({
            "data": { "orders": { "edges": page, "pageInfo": {
                "hasNextPage": end < hits.len(),
                "endCursor": (end > start).then(|| format!("c:{}", end - 1)),
            } } },
            "extensions": cost(2 + first as u32 * 5, 990.0),
        });
    }
    if query.contains("customers(") {
        let search = vars["query"].as_str().unwrap_or_default();
        let mut ids: Vec<u64> = Vec::new();
        for (_, o) in &orders {
            let hit = match search.split_once(':') {
                Some(("phone", v)) => {
                    let want = phone_digits(v);
                    !want.is_empty() && o.phone.as_deref().map(phone_digits) == Some(want)
                }
                Some(("email", v)) => o.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(v)),
                _ => false,
            };
            if hit && !ids.contains(&customer_id(o)) {
                ids.push(customer_id(o));
            }
        }
        let edges: Vec<Value> = ids
            .iter()
            .map(|id| json!({ "cursor": format!("k:{id}"), "node": { "id": format!("gid://shopify/Customer/{id}") } }))
            .collect();
        return json!({
            "data": { "customers": { "edges": edges, "pageInfo": { "hasNextPage": false, "endCursor": null } } },
            "extensions": cost(4, 996.0),
        });
    }
    if query.contains("shop {") || query.contains("shop{") {
        return json!({ "data": { "shop": { "name": inner.name } }, "extensions": cost(1, 999.0) });
    }
    json!({ "errors": [{ "message": "Field 'unknown' doesn't exist on type 'QueryRoot'", "extensions": { "code": "undefinedField" } }] })
}

async fn shopify(State(s): State<Shared>, Path(_version): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let script = s.next_script();
    if let Some(Script::Delay(d)) = script {
        tokio::time::sleep(d).await;
    }
    let token_ok = {
        let inner = s.0.lock().unwrap();
        headers
            .get("x-shopify-access-token")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t == inner.token)
    };
    let (status, answer) = if !token_ok {
        (
            401,
            json!({ "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)" }),
        )
    } else {
        match script {
            Some(Script::Throttle) => (
                200,
                json!({
                    "errors": [{ "message": "Throttled", "extensions": {
                        "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits" } }],
                    "extensions": cost(52, 2.0),
                }),
            ),
            Some(Script::Fail(status)) => (status, json!({ "errors": "Internal error" })),
            _ => (200, answer_graphql(&s.0.lock().unwrap(), &body)),
        }
    };
    s.record("shopify", &body, status, None, Some(token_ok));
    json_response(status, answer)
}

// ------------------------------------------------------------------ the connector

/// Whether the request carries a valid signature, made within five minutes.
fn signature_ok(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (Some(ts), Some(sig)) = (header("x-baton-timestamp"), header("x-baton-signature")) else {
        return false;
    };
    let Ok(ts) = ts.parse::<i64>() else {
        return false;
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if (now - ts).abs() > 300 {
        return false;
    }
    let want = connector_signature(secret, ts, body);
    // Constant time: every byte compared whatever the first difference.
    want.len() == sig.len() && want.bytes().zip(sig.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

async fn connector(State(s): State<Shared>, headers: HeaderMap, raw: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let script = s.next_script();
    if let Some(Script::Delay(d)) = script {
        tokio::time::sleep(d).await;
    }
    let secret = s.0.lock().unwrap().secret.clone();
    let verified = signature_ok(&secret, &headers, &raw);
    let (status, answer) = if !verified {
        (401, json!({ "error": "bad_signature" }))
    } else {
        match script {
            Some(Script::Throttle) => {
                s.record("connector", &body, 429, Some(true), None);
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "1")],
                    "{\"error\":\"slow_down\"}",
                )
                    .into_response();
            }
            Some(Script::Fail(status)) => (status, json!({ "error": "unavailable" })),
            _ => {
                let inner = s.0.lock().unwrap();
                match body["type"].as_str() {
                    Some("ping") => (200, json!({ "name": inner.name })),
                    Some("orders.find") => match serde_json::from_value::<OrderQuery>(body["query"].clone()) {
                        Ok(q) => (200, json!({ "orders": connector_orders(&inner.orders, &q) })),
                        Err(e) => (400, json!({ "error": format!("bad query: {e}") })),
                    },
                    _ => (400, json!({ "error": "unknown type" })),
                }
            }
        }
    };
    s.record("connector", &body, status, Some(verified), None);
    json_response(status, answer)
}

fn connector_orders(orders: &[Order], q: &OrderQuery) -> Vec<Order> {
    let mut found: Vec<Order> = match q {
        OrderQuery::Number(n) => orders
            .iter()
            .filter(|o| o.number == n.trim_start_matches('#'))
            .cloned()
            .collect(),
        OrderQuery::Customer { email, phone, .. } => orders
            .iter()
            .filter(|o| {
                let by_email = email
                    .as_deref()
                    .is_some_and(|e| o.email.as_deref().is_some_and(|oe| oe.eq_ignore_ascii_case(e)));
                let by_phone = phone
                    .as_deref()
                    .map(phone_digits)
                    .is_some_and(|p| !p.is_empty() && o.phone.as_deref().map(phone_digits) == Some(p));
                by_email || by_phone
            })
            .cloned()
            .collect(),
    };
    found.sort_by_key(|o| std::cmp::Reverse(o.created_at));
    if let OrderQuery::Customer { limit, .. } = q {
        found.truncate(*limit as usize);
    }
    found
}

async fn list(State(s): State<Shared>) -> Response {
    let requests = s.0.lock().unwrap().requests.clone();
    json_response(200, json!({ "requests": requests }))
}

// ------------------------------------------------------------------ demo orders

/// The demo shop's orders: Ana (+1 555 010 0001, ana@example.com) has #1001 on its way and
/// #1002 delivered; Bob's #1003 has not shipped; Carla's #1004 was cancelled and refunded.
pub fn demo_orders() -> Vec<Order> {
    let t = |s: &str| baton_domain::Timestamp::parse_rfc3339(s).expect("a demo time");
    let order = |number: &str, email: &str, phone: Option<&str>, at: &str, total: &str| Order {
        number: number.into(),
        name: format!("#{number}"),
        email: Some(email.into()),
        phone: phone.map(str::to_owned),
        created_at: t(at),
        status: OrderStatus::Open,
        financial_status: "paid".into(),
        fulfilment_status: FulfilmentStatus::Unfulfilled,
        total: baton_domain::commerce::Money {
            amount: total.into(),
            currency: "EUR".into(),
        },
        items: vec![baton_domain::commerce::OrderItem {
            title: "Linen shirt".into(),
            quantity: 2,
            sku: Some("LS-1".into()),
        }],
        fulfilments: vec![],
        shipping_postcode: Some("SW1A 1AA".into()),
        status_url: Some(format!("https://demo-shop.example/orders/{number}")),
    };
    let shipment = |status, shipped: &str, updated: &str, number: &str| baton_domain::commerce::Fulfilment {
        status,
        shipped_at: t(shipped),
        updated_at: Some(t(updated)),
        estimated_delivery_at: Some(t("2026-12-05T18:00:00Z")),
        carrier: Some("DHL".into()),
        tracking_number: Some(number.into()),
        tracking_url: Some(format!("https://track.example/{number}")),
    };
    let mut a = order(
        "1001",
        "ana@example.com",
        Some("+15550100001"),
        "2026-11-28T10:00:00Z",
        "59.90",
    );
    a.fulfilment_status = FulfilmentStatus::Fulfilled;
    a.fulfilments = vec![shipment(
        ShipmentStatus::InTransit,
        "2026-11-30T09:00:00Z",
        "2026-12-01T09:00:00Z",
        "JD0142",
    )];
    let mut b = order(
        "1002",
        "ana@example.com",
        Some("+15550100001"),
        "2026-11-10T10:00:00Z",
        "24.00",
    );
    b.status = OrderStatus::Closed;
    b.fulfilment_status = FulfilmentStatus::Fulfilled;
    b.fulfilments = vec![shipment(
        ShipmentStatus::Delivered,
        "2026-11-11T09:00:00Z",
        "2026-11-13T12:00:00Z",
        "JD0099",
    )];
    let mut c = order(
        "1003",
        "bob@example.com",
        Some("+15550100002"),
        "2026-11-30T15:00:00Z",
        "120.00",
    );
    c.shipping_postcode = Some("10115".into());
    let mut d = order("1004", "carla@example.com", None, "2026-11-20T08:00:00Z", "35.50");
    d.status = OrderStatus::Cancelled;
    d.financial_status = "refunded".into();
    vec![a, b, c, d]
}
