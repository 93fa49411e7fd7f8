//! The `Commerce` port over HTTP: Shopify's Admin GraphQL API, and Baton's generic
//! connector for shops that are not on Shopify.
//!
//! **Shopify**: `POST https://{domain}/admin/api/{version}/graphql.json` with the custom
//! app's `X-Shopify-Access-Token`. Orders come from the `orders` query with a search
//! string (`name:#1001`, `email:…`, `customer_id:…`; a phone is first looked up among
//! `customers`), newest first, page by page with the connection's cursor. Shopify limits
//! by query cost: every answer reports `extensions.cost` (the request's cost, the bucket's
//! `currentlyAvailable` points and its `restoreRate` per second). A `THROTTLED` answer is
//! retried after the time the bucket needs to hold the request's cost again, and a next
//! page waits for it before it is asked. A refused token (401/403, `ACCESS_DENIED`) is
//! `Refused`; 5xx and transport errors `Unavailable`; a timeout `Timeout`.
//!
//! **Connector**: `POST {url}` with a JSON request, signed: `X-Baton-Timestamp` (unix
//! seconds) and `X-Baton-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">`
//! (`commerce::connector_signature`). The answer is `{"orders": [...]}` in Baton's own
//! order shape; 429 is retried after its `Retry-After`. The contract is in
//! `docs/commerce.md`.

use crate::lazy_http::LazyHttp;
use async_trait::async_trait;
use baton_domain::commerce::{
    Commerce, CommerceError, Fulfilment, FulfilmentStatus, Money, Order, OrderItem, OrderQuery, OrderStatus,
    ShipmentStatus, ShopAccess, ShopConnection, ShopInfo,
};
use baton_domain::Timestamp;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

/// Shopify's Admin API version Baton is written against (`SHOPIFY_API_VERSION`, or the
/// tenant's connection, overrides it).
pub const DEFAULT_SHOPIFY_API_VERSION: &str = "2025-10";
/// One HTTP call's limit; the whole lookup has its own (`baton_app::shop::LOOKUP_TIMEOUT`).
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Retries of a throttled request.
const THROTTLE_RETRIES: u32 = 3;
/// The longest wait for the shop's bucket Baton accepts before giving up.
const MAX_WAIT: Duration = Duration::from_secs(2);
/// Orders asked per page.
const PAGE: u32 = 10;
/// Pages followed for one question.
const MAX_PAGES: u32 = 3;
/// The largest answer read.
const MAX_ANSWER_BYTES: usize = 2 * 1024 * 1024;

pub struct HttpCommerce {
    http: LazyHttp,
}

impl Default for HttpCommerce {
    fn default() -> Self {
        HttpCommerce {
            http: LazyHttp::new(reqwest::redirect::Policy::none, CALL_TIMEOUT),
        }
    }
}

/// The Admin API version to pin when connecting a Shopify shop: `SHOPIFY_API_VERSION`,
/// else [`DEFAULT_SHOPIFY_API_VERSION`].
pub fn shopify_api_version_from_env() -> String {
    crate::config::optional_env_var("SHOPIFY_API_VERSION").unwrap_or_else(|| DEFAULT_SHOPIFY_API_VERSION.into())
}

fn transport(e: reqwest::Error) -> CommerceError {
    if e.is_timeout() {
        CommerceError::Timeout
    } else {
        CommerceError::Unavailable(e.to_string())
    }
}

/// `http` for a local stand-in (`127.0.0.1:port`, `localhost:port`), `https` otherwise.
fn shopify_url(domain: &str, version: &str) -> String {
    let local = domain.starts_with("127.0.0.1:") || domain.starts_with("localhost:");
    let scheme = if local { "http" } else { "https" };
    format!("{scheme}://{domain}/admin/api/{version}/graphql.json")
}

/// What a search term may hold: no spaces, quotes or operators, so a value cannot widen
/// the search.
fn search_value(v: &str) -> Option<&str> {
    let v = v.trim();
    (!v.is_empty() && v.len() <= 254 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"@.+_-#".contains(&b)))
        .then_some(v)
}

async fn read_body(resp: reqwest::Response) -> Result<(u16, Option<Duration>, Vec<u8>), CommerceError> {
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|s| Duration::from_secs_f64(s.clamp(0.0, 60.0)));
    let mut resp = resp;
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(CommerceError::BadAnswer("the answer is too large".into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, retry_after, body))
}

// ------------------------------------------------------------------ Shopify

#[derive(Deserialize)]
struct GraphqlAnswer {
    data: Option<Value>,
    #[serde(default)]
    errors: Option<Value>,
    extensions: Option<Extensions>,
}

#[derive(Deserialize)]
struct Extensions {
    cost: Option<Cost>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct Cost {
    requested_query_cost: Option<f64>,
    throttle_status: Option<ThrottleStatus>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct ThrottleStatus {
    currently_available: f64,
    restore_rate: f64,
}

impl Cost {
    /// How long until the bucket holds `needed` points again.
    fn wait_for(&self, needed: f64) -> Duration {
        let Some(t) = self.throttle_status else {
            return Duration::from_millis(500);
        };
        if t.currently_available >= needed || t.restore_rate <= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64((needed - t.currently_available) / t.restore_rate)
    }
}

/// The first GraphQL error's code (`THROTTLED`, `ACCESS_DENIED`, …) and message.
fn graphql_error(errors: &Value) -> Option<(String, String)> {
    if let Some(s) = errors.as_str() {
        return Some((String::new(), s.to_owned()));
    }
    let first = errors.as_array()?.first()?;
    let code = first["extensions"]["code"].as_str().unwrap_or_default().to_owned();
    let message = first["message"].as_str().unwrap_or_default().to_owned();
    Some((code, message))
}

const ORDER_FIELDS: &str = "id name email phone createdAt cancelledAt closedAt displayFinancialStatus \
    displayFulfillmentStatus statusPageUrl totalPriceSet { shopMoney { amount currencyCode } } \
    shippingAddress { zip } lineItems(first: 20) { nodes { title quantity sku } } \
    fulfillments(first: 10) { status displayStatus createdAt updatedAt deliveredAt estimatedDeliveryAt \
    trackingInfo(first: 1) { company number url } }";

fn orders_query() -> String {
    format!(
        "query Orders($first: Int!, $after: String, $query: String) {{ orders(first: $first, after: $after, \
         query: $query, sortKey: CREATED_AT, reverse: true) {{ edges {{ cursor node {{ {ORDER_FIELDS} }} }} \
         pageInfo {{ hasNextPage endCursor }} }} }}"
    )
}

const CUSTOMERS_QUERY: &str = "query Customers($query: String) { customers(first: 3, query: $query) { \
    edges { node { id } } } }";

const SHOP_QUERY: &str = "query Shop { shop { name } }";

struct Shopify<'a> {
    http: &'a reqwest::Client,
    url: String,
    token: &'a str,
}

impl Shopify<'_> {
    /// One GraphQL request: its `data` and cost, after the throttle retries.
    async fn call(&self, query: &str, variables: Value) -> Result<(Value, Option<Cost>), CommerceError> {
        let body = json!({ "query": query, "variables": variables });
        let mut attempt = 0;
        loop {
            let resp = self
                .http
                .post(&self.url)
                .header("X-Shopify-Access-Token", self.token)
                .json(&body)
                .send()
                .await
                .map_err(transport)?;
            let (status, retry_after, raw) = read_body(resp).await?;
            let answer: Option<GraphqlAnswer> = serde_json::from_slice(&raw).ok();
            let cost = answer.as_ref().and_then(|a| a.extensions.as_ref()).and_then(|e| e.cost);
            let error = answer.as_ref().and_then(|a| a.errors.as_ref()).and_then(graphql_error);
            let throttled = status == 429
                || error
                    .as_ref()
                    .is_some_and(|(code, m)| code == "THROTTLED" || m == "Throttled");
            if throttled {
                let needed = cost.and_then(|c| c.requested_query_cost).unwrap_or(50.0);
                let wait = retry_after
                    .or_else(|| cost.map(|c| c.wait_for(needed)))
                    .unwrap_or(Duration::from_secs(1));
                attempt += 1;
                if attempt > THROTTLE_RETRIES || wait > MAX_WAIT {
                    return Err(CommerceError::Throttled(format!(
                        "still throttled after {} attempts (wait {} ms)",
                        attempt,
                        wait.as_millis()
                    )));
                }
                tracing::info!(
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "Shopify throttled the query; waiting for its bucket"
                );
                tokio::time::sleep(wait.max(Duration::from_millis(50))).await;
                continue;
            }
            let message = || {
                error
                    .as_ref()
                    .map(|(c, m)| format!("{c} {m}").trim().to_owned())
                    .unwrap_or_else(|| format!("HTTP {status}"))
            };
            return match status {
                200 => match (answer.and_then(|a| a.data).filter(|d| !d.is_null()), &error) {
                    (_, Some((code, _))) if code == "ACCESS_DENIED" => Err(CommerceError::Refused(message())),
                    (Some(data), None) => Ok((data, cost)),
                    (Some(data), Some(_)) if !data.as_object().is_some_and(|o| o.values().all(Value::is_null)) => {
                        Ok((data, cost))
                    }
                    _ => Err(CommerceError::BadAnswer(message())),
                },
                401 | 403 => Err(CommerceError::Refused(message())),
                // 402: the shop's bill is unpaid; 423: the shop is locked; 404: no such shop.
                402 | 404 | 423 => Err(CommerceError::Refused(message())),
                500..=599 => Err(CommerceError::Unavailable(message())),
                _ => Err(CommerceError::BadAnswer(message())),
            };
        }
    }

    async fn orders(&self, search: &str, limit: u32) -> Result<Vec<Order>, CommerceError> {
        let mut orders = Vec::new();
        let mut after: Option<String> = None;
        let query = orders_query();
        for _ in 0..MAX_PAGES {
            let first = PAGE.min(limit.saturating_sub(orders.len() as u32)).max(1);
            let (data, cost) = self
                .call(&query, json!({ "first": first, "after": after, "query": search }))
                .await?;
            let connection = &data["orders"];
            let edges = connection["edges"]
                .as_array()
                .ok_or_else(|| CommerceError::BadAnswer("orders without edges".into()))?;
            for edge in edges {
                orders.push(shopify_order(&edge["node"])?);
            }
            let next = connection["pageInfo"]["hasNextPage"].as_bool().unwrap_or(false);
            after = connection["pageInfo"]["endCursor"].as_str().map(str::to_owned);
            if !next || after.is_none() || orders.len() as u32 >= limit {
                break;
            }
            // The next page waits until the bucket holds what this page cost.
            if let Some(c) = cost {
                let wait = c.wait_for(c.requested_query_cost.unwrap_or(0.0));
                if wait > MAX_WAIT {
                    break;
                }
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
        }
        orders.truncate(limit as usize);
        Ok(orders)
    }

    async fn customer_ids_by_phone(&self, phone: &str) -> Result<Vec<String>, CommerceError> {
        let (data, _) = self
            .call(CUSTOMERS_QUERY, json!({ "query": format!("phone:{phone}") }))
            .await?;
        Ok(data["customers"]["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["node"]["id"].as_str())
            .filter_map(|gid| gid.rsplit('/').next())
            .filter(|id| id.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_owned)
            .collect())
    }

    async fn find(&self, query: &OrderQuery) -> Result<Vec<Order>, CommerceError> {
        match query {
            OrderQuery::Number(n) => {
                let n = n.trim_start_matches('#');
                let Some(n) = search_value(n) else {
                    return Ok(vec![]);
                };
                let orders = self.orders(&format!("name:#{n}"), 3).await?;
                Ok(orders.into_iter().filter(|o| o.number == n).take(1).collect())
            }
            OrderQuery::Customer { email, phone, limit } => {
                if let Some(email) = email.as_deref().and_then(search_value) {
                    return self.orders(&format!("email:{email}"), *limit).await;
                }
                let Some(phone) = phone.as_deref().map(baton_domain::commerce::phone_digits) else {
                    return Ok(vec![]);
                };
                if phone.len() < 7 {
                    return Ok(vec![]);
                }
                let mut orders = Vec::new();
                for id in self.customer_ids_by_phone(&format!("+{phone}")).await? {
                    orders.extend(self.orders(&format!("customer_id:{id}"), *limit).await?);
                }
                orders.sort_by_key(|o| std::cmp::Reverse(o.created_at));
                orders.truncate(*limit as usize);
                Ok(orders)
            }
        }
    }
}

fn time_of(v: &Value) -> Option<Timestamp> {
    v.as_str().and_then(Timestamp::parse_rfc3339)
}

fn text_of(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

fn fulfilment_status(s: &str) -> FulfilmentStatus {
    match s {
        "FULFILLED" => FulfilmentStatus::Fulfilled,
        "PARTIALLY_FULFILLED" => FulfilmentStatus::PartiallyFulfilled,
        "IN_PROGRESS" | "PENDING_FULFILLMENT" | "OPEN" | "SCHEDULED" => FulfilmentStatus::InProgress,
        "ON_HOLD" => FulfilmentStatus::OnHold,
        "RESTOCKED" => FulfilmentStatus::Restocked,
        _ => FulfilmentStatus::Unfulfilled,
    }
}

fn shipment_status(s: &str) -> ShipmentStatus {
    match s {
        "LABEL_PRINTED" | "LABEL_PURCHASED" => ShipmentStatus::LabelPrinted,
        "CONFIRMED" | "SUBMITTED" => ShipmentStatus::Confirmed,
        "IN_TRANSIT" => ShipmentStatus::InTransit,
        "OUT_FOR_DELIVERY" => ShipmentStatus::OutForDelivery,
        "ATTEMPTED_DELIVERY" => ShipmentStatus::AttemptedDelivery,
        "READY_FOR_PICKUP" => ShipmentStatus::ReadyForPickup,
        "DELIVERED" | "PICKED_UP" => ShipmentStatus::Delivered,
        "FAILURE" | "NOT_DELIVERED" => ShipmentStatus::Failure,
        "CANCELED" | "CANCELLED" | "LABEL_VOIDED" => ShipmentStatus::Cancelled,
        _ => ShipmentStatus::Unknown,
    }
}

/// One Shopify order node in Baton's shape.
fn shopify_order(n: &Value) -> Result<Order, CommerceError> {
    let bad = |what: &str| CommerceError::BadAnswer(format!("an order without {what}"));
    let name = text_of(&n["name"]).ok_or_else(|| bad("a name"))?;
    let created_at = time_of(&n["createdAt"]).ok_or_else(|| bad("a creation time"))?;
    let money = &n["totalPriceSet"]["shopMoney"];
    let total = Money {
        amount: text_of(&money["amount"]).ok_or_else(|| bad("a total"))?,
        currency: text_of(&money["currencyCode"]).unwrap_or_default(),
    };
    let status = if !n["cancelledAt"].is_null() {
        OrderStatus::Cancelled
    } else if !n["closedAt"].is_null() {
        OrderStatus::Closed
    } else {
        OrderStatus::Open
    };
    let list = |v: &Value| -> Vec<Value> {
        v.as_array()
            .or_else(|| v["nodes"].as_array())
            .cloned()
            .or_else(|| {
                v["edges"]
                    .as_array()
                    .map(|e| e.iter().map(|e| e["node"].clone()).collect())
            })
            .unwrap_or_default()
    };
    let items = list(&n["lineItems"])
        .iter()
        .map(|i| OrderItem {
            title: text_of(&i["title"]).unwrap_or_default(),
            quantity: i["quantity"].as_u64().unwrap_or(0) as u32,
            sku: text_of(&i["sku"]),
        })
        .collect();
    let fulfilments = list(&n["fulfillments"])
        .iter()
        .filter(|f| !matches!(f["status"].as_str(), Some("CANCELLED" | "ERROR" | "FAILURE")))
        .filter_map(|f| {
            let tracking = list(&f["trackingInfo"]).into_iter().next().unwrap_or(Value::Null);
            let status = shipment_status(f["displayStatus"].as_str().unwrap_or_default());
            Some(Fulfilment {
                status,
                shipped_at: time_of(&f["createdAt"])?,
                updated_at: time_of(&f["deliveredAt"]).or_else(|| time_of(&f["updatedAt"])),
                estimated_delivery_at: time_of(&f["estimatedDeliveryAt"]),
                carrier: text_of(&tracking["company"]),
                tracking_number: text_of(&tracking["number"]),
                tracking_url: text_of(&tracking["url"]),
            })
        })
        .collect();
    Ok(Order {
        number: name.trim_start_matches('#').to_owned(),
        name,
        email: text_of(&n["email"]),
        phone: text_of(&n["phone"]),
        created_at,
        status,
        financial_status: n["displayFinancialStatus"]
            .as_str()
            .unwrap_or("unknown")
            .to_ascii_lowercase(),
        fulfilment_status: fulfilment_status(n["displayFulfillmentStatus"].as_str().unwrap_or_default()),
        total,
        items,
        fulfilments,
        shipping_postcode: text_of(&n["shippingAddress"]["zip"]),
        status_url: text_of(&n["statusPageUrl"]),
    })
}

// ------------------------------------------------------------------ the connector

#[derive(Deserialize)]
struct ConnectorOrders {
    orders: Vec<Order>,
}

#[derive(Deserialize)]
struct ConnectorPing {
    name: String,
}

struct Connector<'a> {
    http: &'a reqwest::Client,
    url: &'a str,
    secret: &'a str,
}

impl Connector<'_> {
    async fn call(&self, request: &Value) -> Result<Vec<u8>, CommerceError> {
        let body = serde_json::to_vec(request).map_err(|e| CommerceError::BadAnswer(e.to_string()))?;
        let mut attempt = 0;
        loop {
            let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
            let signature = baton_domain::commerce::connector_signature(self.secret, timestamp, &body);
            let resp = self
                .http
                .post(self.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header("X-Baton-Timestamp", timestamp.to_string())
                .header("X-Baton-Signature", signature)
                .header("X-Baton-Request-Id", ulid::Ulid::new().to_string())
                .body(body.clone())
                .send()
                .await
                .map_err(transport)?;
            let (status, retry_after, raw) = read_body(resp).await?;
            let message = || {
                let text = String::from_utf8_lossy(&raw);
                format!("HTTP {status}: {}", text.chars().take(200).collect::<String>())
            };
            match status {
                200..=299 => return Ok(raw),
                429 => {
                    attempt += 1;
                    let wait = retry_after.unwrap_or(Duration::from_secs(1));
                    if attempt > THROTTLE_RETRIES || wait > MAX_WAIT {
                        return Err(CommerceError::Throttled(message()));
                    }
                    tokio::time::sleep(wait).await;
                }
                401 | 403 => return Err(CommerceError::Refused(message())),
                500..=599 => return Err(CommerceError::Unavailable(message())),
                _ => return Err(CommerceError::BadAnswer(message())),
            }
        }
    }
}

// ------------------------------------------------------------------ the port

#[async_trait]
impl Commerce for HttpCommerce {
    async fn find_orders(&self, shop: &ShopAccess, query: &OrderQuery) -> Result<Vec<Order>, CommerceError> {
        let http = self.http.get().map_err(CommerceError::Unavailable)?;
        match &shop.connection {
            ShopConnection::Shopify { domain, api_version } => {
                Shopify {
                    http,
                    url: shopify_url(domain, api_version),
                    token: shop.secret.expose(),
                }
                .find(query)
                .await
            }
            ShopConnection::Connector { url } => {
                let connector = Connector {
                    http,
                    url,
                    secret: shop.secret.expose(),
                };
                let raw = connector
                    .call(&json!({ "version": 1, "type": "orders.find", "tenant_id": shop.tenant, "query": query }))
                    .await?;
                let mut orders = serde_json::from_slice::<ConnectorOrders>(&raw)
                    .map_err(|e| CommerceError::BadAnswer(format!("the orders do not match the contract: {e}")))?
                    .orders;
                match query {
                    OrderQuery::Number(n) => {
                        let n = n.trim_start_matches('#');
                        orders.retain(|o| o.number == n);
                        orders.truncate(1);
                    }
                    OrderQuery::Customer { limit, .. } => {
                        orders.sort_by_key(|o| std::cmp::Reverse(o.created_at));
                        orders.truncate(*limit as usize);
                    }
                }
                Ok(orders)
            }
        }
    }

    async fn check(&self, shop: &ShopAccess) -> Result<ShopInfo, CommerceError> {
        let http = self.http.get().map_err(CommerceError::Unavailable)?;
        match &shop.connection {
            ShopConnection::Shopify { domain, api_version } => {
                let (data, _) = Shopify {
                    http,
                    url: shopify_url(domain, api_version),
                    token: shop.secret.expose(),
                }
                .call(SHOP_QUERY, json!({}))
                .await?;
                let name =
                    text_of(&data["shop"]["name"]).ok_or_else(|| CommerceError::BadAnswer("no shop name".into()))?;
                Ok(ShopInfo { name })
            }
            ShopConnection::Connector { url } => {
                let raw = Connector {
                    http,
                    url,
                    secret: shop.secret.expose(),
                }
                .call(&json!({ "version": 1, "type": "ping", "tenant_id": shop.tenant }))
                .await?;
                let ping: ConnectorPing = serde_json::from_slice(&raw).map_err(|e| {
                    CommerceError::BadAnswer(format!("the ping answer does not match the contract: {e}"))
                })?;
                Ok(ShopInfo { name: ping.name })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shopify_order_node_maps_to_the_order_shape() {
        let node = json!({
            "id": "gid://shopify/Order/1", "name": "#1001", "email": "ana@example.com", "phone": null,
            "createdAt": "2026-11-28T10:00:00Z", "cancelledAt": null, "closedAt": null,
            "displayFinancialStatus": "PARTIALLY_REFUNDED", "displayFulfillmentStatus": "PARTIALLY_FULFILLED",
            "statusPageUrl": "https://shop.example/s/1001",
            "totalPriceSet": { "shopMoney": { "amount": "59.90", "currencyCode": "EUR" } },
            "shippingAddress": { "zip": "SW1A 1AA" },
            "lineItems": { "nodes": [{ "title": "Linen shirt", "quantity": 2, "sku": "LS-1" }] },
            "fulfillments": [
                { "status": "SUCCESS", "displayStatus": "IN_TRANSIT", "createdAt": "2026-11-30T09:00:00Z",
                  "updatedAt": "2026-12-01T09:00:00Z", "deliveredAt": null, "estimatedDeliveryAt": null,
                  "trackingInfo": [{ "company": "DHL", "number": "JD0142", "url": "https://track.example/JD0142" }] },
                { "status": "CANCELLED", "displayStatus": "CANCELED", "createdAt": "2026-11-29T09:00:00Z",
                  "trackingInfo": [] }
            ]
        });
        let o = shopify_order(&node).unwrap();
        assert_eq!((o.number.as_str(), o.name.as_str()), ("1001", "#1001"));
        assert_eq!(o.financial_status, "partially_refunded");
        assert_eq!(o.fulfilment_status, FulfilmentStatus::PartiallyFulfilled);
        assert_eq!(o.fulfilments.len(), 1, "a cancelled fulfilment is not a shipment");
        let f = &o.fulfilments[0];
        assert_eq!(f.status, ShipmentStatus::InTransit);
        assert_eq!(f.tracking_url.as_deref(), Some("https://track.example/JD0142"));
        assert_eq!(o.items[0].quantity, 2);
        assert!(shopify_order(&json!({ "name": "#1" })).is_err());
    }

    #[test]
    fn throttling_waits_for_the_bucket_to_hold_the_cost() {
        let cost = Cost {
            requested_query_cost: Some(52.0),
            throttle_status: Some(ThrottleStatus {
                currently_available: 2.0,
                restore_rate: 50.0,
            }),
        };
        assert_eq!(cost.wait_for(52.0), Duration::from_secs(1));
        assert_eq!(cost.wait_for(1.0), Duration::ZERO);
    }

    #[test]
    fn search_values_cannot_widen_the_search() {
        assert_eq!(search_value("ana@example.com"), Some("ana@example.com"));
        assert_eq!(search_value("a OR b"), None);
        assert_eq!(search_value("x\" OR email:*"), None);
        assert_eq!(search_value(""), None);
    }

    #[test]
    fn graphql_errors_are_read_in_both_shapes() {
        let throttled = json!([{ "message": "Throttled", "extensions": { "code": "THROTTLED" } }]);
        assert_eq!(
            graphql_error(&throttled),
            Some(("THROTTLED".into(), "Throttled".into()))
        );
        let plain = json!("[API] Invalid API key or access token (unrecognized login or wrong password)");
        assert!(graphql_error(&plain).unwrap().1.contains("Invalid API key"));
    }
}
