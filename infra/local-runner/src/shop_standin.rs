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
use baton_domain::commerce::{phone_digits, FulfilmentStatus, Order, OrderQuery, OrderStatus, ShipmentStatus};
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

    /// Keeps the request and logs its format, kind and status (never the body: it names
    /// customers).
    fn record(
        &self,
        format: &'static str,
        kind: &'static str,
        body: &Value,
        status: u16,
        signature_ok: Option<bool>,
        token_ok: Option<bool>,
    ) {
        tracing::info!(format, kind, status, "local shop stand-in asked");
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

/// A time as Shopify's `DateTime` shows it: RFC 3339 in UTC, whole seconds without a fraction.
fn shopify_time(t: baton_domain::Timestamp) -> String {
    t.datetime()
        .format(&time::format_description::well_known::Rfc3339)
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
        "createdAt": shopify_time(o.created_at),
        "cancelledAt": (o.status == OrderStatus::Cancelled).then(|| shopify_time(o.created_at)),
        "closedAt": (o.status == OrderStatus::Closed).then(|| shopify_time(o.created_at)),
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
            "createdAt": shopify_time(f.shipped_at),
            "updatedAt": f.updated_at.map(shopify_time),
            "deliveredAt": f.updated_at.filter(|_| f.status == ShipmentStatus::Delivered).map(shopify_time),
            "estimatedDeliveryAt": f.estimated_delivery_at.map(shopify_time),
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

/// Which of the understood queries a GraphQL document asks (loosely, by its text).
fn graphql_kind(query: &str) -> &'static str {
    if query.contains("orders(") {
        "orders"
    } else if query.contains("customers(") {
        "customers"
    } else if query.contains("shop {") || query.contains("shop{") {
        "shop"
    } else {
        "unknown"
    }
}

/// The first field a document selects (`orders` in `query Q { orders(first: 1) { .. } }`),
/// to name in the error for a query the stand-in does not understand.
fn first_field(query: &str) -> &str {
    query
        .split_once('{')
        .map_or("", |(_, rest)| rest)
        .trim_start()
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()
        .filter(|f| !f.is_empty())
        .unwrap_or("unknown")
}

fn answer_graphql(inner: &Inner, body: &Value) -> Value {
    let query = body["query"].as_str().unwrap_or_default();
    let vars = &body["variables"];
    let mut orders: Vec<(usize, &Order)> = inner.orders.iter().enumerate().collect();
    orders.sort_by_key(|(_, o)| std::cmp::Reverse(o.created_at));
    let kind = graphql_kind(query);
    if kind == "orders" {
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
    if kind == "customers" {
        let search = vars["query"].as_str().unwrap_or_default();
        // One customer per id, shown with the contact details of their newest order.
        let mut customers: Vec<(u64, &Order)> = Vec::new();
        for (_, o) in &orders {
            let hit = match search.split_once(':') {
                Some(("phone", v)) => {
                    let want = phone_digits(v);
                    !want.is_empty() && o.phone.as_deref().map(phone_digits) == Some(want)
                }
                Some(("email", v)) => o.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(v)),
                _ => false,
            };
            let id = customer_id(o);
            if hit && !customers.iter().any(|(known, _)| *known == id) {
                customers.push((id, o));
            }
        }
        let edges: Vec<Value> = customers
            .iter()
            .map(|(id, o)| {
                json!({ "cursor": format!("k:{id}"), "node": {
                    "id": format!("gid://shopify/Customer/{id}"), "email": o.email, "phone": o.phone,
                } })
            })
            .collect();
        return json!({
            "data": { "customers": { "edges": edges, "pageInfo": { "hasNextPage": false, "endCursor": null } } },
            "extensions": cost(4, 996.0),
        });
    }
    if kind == "shop" {
        return json!({ "data": { "shop": { "name": inner.name } }, "extensions": cost(1, 999.0) });
    }
    json!({ "errors": [{
        "message": format!("Field '{}' doesn't exist on type 'QueryRoot'", first_field(query)),
        "extensions": { "code": "undefinedField" },
    }] })
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
    let kind = graphql_kind(body["query"].as_str().unwrap_or_default());
    s.record("shopify", kind, &body, status, None, Some(token_ok));
    json_response(status, answer)
}

// ------------------------------------------------------------------ the connector

/// How far the connector's `X-Baton-Timestamp` may be from now.
const SIGNATURE_TOLERANCE_SECS: u64 = 300;

/// Whether the request carries a valid signature, made within five minutes:
/// `X-Baton-Signature: sha256=<lowercase hex of HMAC-SHA256(secret, "{timestamp}.{body}")>`.
/// Checked here from the contract, not with the adapter's own signer, so that a signer
/// drifting from the contract fails the tests.
fn signature_ok(secret: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    use hmac::{Hmac, Mac};
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let (Some(ts), Some(sig)) = (header("x-baton-timestamp"), header("x-baton-signature")) else {
        return false;
    };
    let Ok(at) = ts.parse::<i64>() else {
        return false;
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if now.abs_diff(at) > SIGNATURE_TOLERANCE_SECS {
        return false;
    }
    let Some(sig) = sig.strip_prefix("sha256=").and_then(lower_hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(ts.as_bytes());
    mac.update(b".");
    mac.update(body);
    // Constant time, and a tag of the wrong length is refused.
    mac.verify_slice(&sig).is_ok()
}

/// The bytes of a lowercase hex string (`None` for anything else).
fn lower_hex(s: &str) -> Option<Vec<u8>> {
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| Some((nibble(pair[0])? << 4) | nibble(pair[1])?))
        .collect()
}

/// What a connector request asks, for the log.
fn connector_kind(body: &Value) -> &'static str {
    match body["type"].as_str() {
        Some("ping") => "ping",
        Some("orders.find") => "orders.find",
        _ => "unknown",
    }
}

async fn connector(State(s): State<Shared>, headers: HeaderMap, raw: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let script = s.next_script();
    if let Some(Script::Delay(d)) = script {
        tokio::time::sleep(d).await;
    }
    let secret = s.0.lock().unwrap().secret.clone();
    let verified = signature_ok(&secret, &headers, &raw);
    let kind = connector_kind(&body);
    let (status, answer) = if !verified {
        (401, json!({ "error": "bad_signature" }))
    } else {
        match script {
            Some(Script::Throttle) => {
                s.record("connector", kind, &body, 429, Some(true), None);
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
    s.record("connector", kind, &body, status, Some(verified), None);
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

/// The sample WhatsApp customer (`events/whatsapp-text.json`, Sheena Nelson).
pub const DEV_CUSTOMER_PHONE: &str = "+16505551234";

/// The orders `make dev`'s shop holds: [`demo_orders`], with Ana's two orders on the
/// sample WhatsApp customer's number (so "Where is my order #1001?" from it is answered),
/// and that customer's #4411 of the sample event, out for delivery.
pub fn dev_orders() -> Vec<Order> {
    let mut orders = demo_orders();
    for o in orders.iter_mut().filter(|o| o.number == "1001" || o.number == "1002") {
        o.phone = Some(DEV_CUSTOMER_PHONE.into());
        o.email = Some("sheena@example.com".into());
    }
    let mut late = orders[0].clone();
    late.number = "4411".into();
    late.name = "#4411".into();
    late.status_url = Some("https://demo-shop.example/orders/4411".into());
    if let Some(f) = late.fulfilments.first_mut() {
        f.status = ShipmentStatus::OutForDelivery;
        f.tracking_number = Some("JD4411".into());
        f.tracking_url = Some("https://track.example/JD4411".into());
    }
    orders.push(late);
    orders
}

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

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "shpat_test_0123456789abcdef";
    const SECRET: &str = "connector_test_secret";
    const ORDERS: &str = "query Orders($first: Int!, $after: String, $query: String) { orders(first: $first, \
        after: $after, query: $query, sortKey: CREATED_AT, reverse: true) { edges { cursor node { id name } } \
        pageInfo { hasNextPage endCursor } } }";

    async fn shop() -> ShopStandin {
        ShopStandin::start(0, "Test shop", TOKEN, SECRET, demo_orders())
            .await
            .unwrap()
    }

    async fn graphql(s: &ShopStandin, token: &str, query: &str, variables: Value) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .post(format!("http://{}/admin/api/2025-10/graphql.json", s.shopify_domain()))
            .header("X-Shopify-Access-Token", token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json().await.unwrap())
    }

    /// The contract's signature, written out here rather than borrowed from the adapter.
    fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(body);
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256={hex}")
    }

    async fn connector(s: &ShopStandin, secret: &str, age_secs: i64, body: Value) -> reqwest::Response {
        let raw = body.to_string();
        let at = time::OffsetDateTime::now_utc().unix_timestamp() - age_secs;
        reqwest::Client::new()
            .post(s.connector_url())
            .header("content-type", "application/json")
            .header("X-Baton-Timestamp", at.to_string())
            .header("X-Baton-Signature", sign(secret, at, raw.as_bytes()))
            .body(raw)
            .send()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn an_order_is_found_by_name_in_shopify_s_shape() {
        let s = shop().await;
        for name in ["name:#1001", "name:1001"] {
            let (status, answer) =
                graphql(&s, TOKEN, ORDERS, json!({ "first": 3, "after": null, "query": name })).await;
            assert_eq!(status, 200);
            let edges = answer["data"]["orders"]["edges"].as_array().unwrap();
            assert_eq!(edges.len(), 1, "{name}");
            let o = &edges[0]["node"];
            assert_eq!(o["name"], "#1001");
            assert_eq!(o["createdAt"], "2026-11-28T10:00:00Z");
            assert_eq!(o["displayFulfillmentStatus"], "FULFILLED");
            assert_eq!(
                o["totalPriceSet"]["shopMoney"],
                json!({ "amount": "59.90", "currencyCode": "EUR" })
            );
            assert_eq!(o["shippingAddress"]["zip"], "SW1A 1AA");
            let shipment = &o["fulfillments"][0];
            assert_eq!(shipment["displayStatus"], "IN_TRANSIT");
            assert_eq!(shipment["trackingInfo"][0]["number"], "JD0142");
            assert_eq!(answer["data"]["orders"]["pageInfo"]["hasNextPage"], false);
            assert_eq!(
                answer["extensions"]["cost"]["throttleStatus"]["maximumAvailable"],
                1000.0
            );
        }
        // Terms are ANDed; e-mail ignores case.
        let (_, answer) = graphql(
            &s,
            TOKEN,
            ORDERS,
            json!({ "first": 3, "query": "name:1001 email:ANA@example.com" }),
        )
        .await;
        assert_eq!(answer["data"]["orders"]["edges"].as_array().unwrap().len(), 1);
        let (_, answer) = graphql(
            &s,
            TOKEN,
            ORDERS,
            json!({ "first": 3, "query": "name:1001 email:bob@example.com" }),
        )
        .await;
        assert!(answer["data"]["orders"]["edges"].as_array().unwrap().is_empty());
        // A query it does not know is Shopify's undefinedField error.
        let (status, answer) = graphql(&s, TOKEN, "query { products(first: 1) { nodes { id } } }", json!({})).await;
        assert_eq!(status, 200);
        assert_eq!(answer["errors"][0]["extensions"]["code"], "undefinedField");
        assert_eq!(
            answer["errors"][0]["message"],
            "Field 'products' doesn't exist on type 'QueryRoot'"
        );
    }

    #[tokio::test]
    async fn pages_follow_the_cursor_newest_first() {
        let s = shop().await;
        let vars = |after: Value| json!({ "first": 1, "after": after, "query": "email:ana@example.com" });
        let (_, first) = graphql(&s, TOKEN, ORDERS, vars(Value::Null)).await;
        let page = &first["data"]["orders"];
        assert_eq!(page["edges"][0]["node"]["name"], "#1001");
        assert_eq!(page["pageInfo"]["hasNextPage"], true);
        let cursor = page["pageInfo"]["endCursor"].clone();
        assert!(cursor.is_string());
        let (_, second) = graphql(&s, TOKEN, ORDERS, vars(cursor)).await;
        let page = &second["data"]["orders"];
        assert_eq!(page["edges"].as_array().unwrap().len(), 1);
        assert_eq!(page["edges"][0]["node"]["name"], "#1002");
        assert_eq!(page["pageInfo"]["hasNextPage"], false);
    }

    #[tokio::test]
    async fn a_throttle_script_answers_shopify_s_throttled_body_then_the_connector_s_429() {
        let s = shop().await;
        s.throttle_next(1);
        let vars = json!({ "first": 1, "query": "name:1001" });
        let (status, answer) = graphql(&s, TOKEN, ORDERS, vars.clone()).await;
        assert_eq!(status, 200);
        assert_eq!(answer["errors"][0]["extensions"]["code"], "THROTTLED");
        assert_eq!(answer["extensions"]["cost"]["requestedQueryCost"], 52);
        assert!(answer["extensions"]["cost"]["actualQueryCost"].is_null());
        assert_eq!(
            answer["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"],
            2.0
        );
        let (_, answer) = graphql(&s, TOKEN, ORDERS, vars).await;
        assert_eq!(
            answer["data"]["orders"]["edges"][0]["node"]["name"], "#1001",
            "only the next one"
        );

        s.throttle_next(1);
        let ping = json!({ "version": 1, "type": "ping", "tenant_id": "acme" });
        let resp = connector(&s, SECRET, 0, ping.clone()).await;
        assert_eq!(resp.status().as_u16(), 429);
        assert_eq!(resp.headers()["retry-after"], "1");
        assert_eq!(connector(&s, SECRET, 0, ping).await.status().as_u16(), 200);
    }

    #[tokio::test]
    async fn a_wrong_token_is_refused_and_never_listed() {
        let s = shop().await;
        let (status, answer) = graphql(&s, "shpat_wrong", "query Shop { shop { name } }", json!({})).await;
        assert_eq!(status, 401);
        assert_eq!(
            answer["errors"],
            "[API] Invalid API key or access token (unrecognized login or wrong password)"
        );
        assert_eq!(s.requests().last().unwrap().token_ok, Some(false));
        let (status, answer) = graphql(&s, TOKEN, "query Shop { shop { name } }", json!({})).await;
        assert_eq!((status, &answer["data"]["shop"]["name"]), (200, &json!("Test shop")));
        assert_eq!(s.requests().last().unwrap().token_ok, Some(true));
        let listed = reqwest::get(format!("{}/_baton/requests", s.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(listed.contains("\"status\":401"));
        assert!(!listed.contains(TOKEN) && !listed.contains(SECRET));
    }

    #[tokio::test]
    async fn the_connector_answers_signed_requests_only() {
        let s = shop().await;
        let find = json!({ "version": 1, "type": "orders.find", "tenant_id": "acme", "query": { "number": "#1001" } });
        let resp = connector(&s, SECRET, 0, find.clone()).await;
        assert_eq!(resp.status().as_u16(), 200);
        let answer: Value = resp.json().await.unwrap();
        let o = &answer["orders"][0];
        assert_eq!((&o["number"], &o["name"]), (&json!("1001"), &json!("#1001")));
        assert_eq!(o["fulfilment_status"], "fulfilled");
        assert_eq!(o["fulfilments"][0]["status"], "in_transit");
        assert_eq!(o["total"], json!({ "amount": "59.90", "currency": "EUR" }));
        assert_eq!(s.requests().last().unwrap().signature_ok, Some(true));

        let mine = json!({ "version": 1, "type": "orders.find", "tenant_id": "acme",
            "query": { "customer": { "phone": "+1 555 010 0001", "limit": 5 } } });
        let answer: Value = connector(&s, SECRET, 0, mine).await.json().await.unwrap();
        let names: Vec<&str> = answer["orders"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| o["name"].as_str())
            .collect();
        assert_eq!(names, ["#1001", "#1002"]);

        // The wrong secret, and the right one six minutes late, are refused.
        for (secret, age) in [("not-the-secret", 0), (SECRET, 360)] {
            let resp = connector(&s, secret, age, find.clone()).await;
            assert_eq!(resp.status().as_u16(), 401);
            assert_eq!(resp.json::<Value>().await.unwrap(), json!({ "error": "bad_signature" }));
            assert_eq!(s.requests().last().unwrap().signature_ok, Some(false));
        }
    }
}
