//! Orders from the tenant's shop: their shape, the port that finds them, and the rule
//! that decides whether an order may be shown to the person Baton is talking to.
//!
//! The rule ([`disclosure`]): an order is revealed only to the customer it belongs to.
//! The order's phone or e-mail must match an identity the channel *verified* (the
//! WhatsApp number the message came from, an e-mail sender whose domain vouched for
//! it); an identity the channel did not verify (a widget visitor, an Instagram user,
//! an unauthenticated e-mail sender) must name the order's e-mail address *and* a
//! second fact only the buyer knows (the delivery postcode or the order's total). A
//! question that fails the rule learns nothing about the order, not even whether it
//! exists: the same request for proof is asked whatever the order number.

use crate::Timestamp;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// An amount as the shop states it: a decimal string and an ISO 4217 currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Money {
    pub amount: String,
    pub currency: String,
}

impl Money {
    /// The amount in hundredths (`"59.9"` → 5990), for comparing what a customer typed.
    pub fn cents(&self) -> Option<i64> {
        parse_cents(&self.amount)
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.cents() {
            Some(c) => write!(f, "{}.{:02} {}", c / 100, (c % 100).abs(), self.currency),
            None => write!(f, "{} {}", self.amount, self.currency),
        }
    }
}

/// `"59.90"`, `"59,90"`, `"59.9"`, `"59"` → hundredths.
pub(crate) fn parse_cents(s: &str) -> Option<i64> {
    let s = s.trim().replace(',', ".");
    let (whole, frac) = s.split_once('.').unwrap_or((&s, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 2 {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac = format!("{frac:0<2}");
    Some(whole.parse::<i64>().ok()? * 100 + frac.parse::<i64>().ok()?)
}

/// Where an order stands with the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum OrderStatus {
    Open,
    Closed,
    Cancelled,
}

/// How much of the order has left the warehouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FulfilmentStatus {
    Unfulfilled,
    InProgress,
    OnHold,
    PartiallyFulfilled,
    Fulfilled,
    Restocked,
}

/// One shipment's latest known state, as the carrier reported it to the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ShipmentStatus {
    LabelPrinted,
    Confirmed,
    InTransit,
    OutForDelivery,
    AttemptedDelivery,
    ReadyForPickup,
    Delivered,
    Failure,
    Cancelled,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderItem {
    pub title: String,
    pub quantity: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
}

/// One shipment of (part of) an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Fulfilment {
    pub status: ShipmentStatus,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub shipped_at: Timestamp,
    /// When the carrier last reported a change (delivered, in transit…), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub updated_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, format = DateTime))]
    pub estimated_delivery_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_url: Option<String>,
}

/// An order as Baton shows it: the same shape from every shop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Order {
    /// The order's number without its prefix (`1001`).
    pub number: String,
    /// As the shop shows it to the buyer (`#1001`).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    pub status: OrderStatus,
    /// The payment's state as the shop names it (`paid`, `pending`, `refunded`,
    /// `partially_refunded`, `voided`…).
    pub financial_status: String,
    pub fulfilment_status: FulfilmentStatus,
    pub total: Money,
    #[serde(default)]
    pub items: Vec<OrderItem>,
    #[serde(default)]
    pub fulfilments: Vec<Fulfilment>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_postcode: Option<String>,
    /// The buyer's order status page, if the shop has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_url: Option<String>,
}

impl Order {
    /// The shipment the customer cares about: the last one shipped.
    pub fn latest_fulfilment(&self) -> Option<&Fulfilment> {
        self.fulfilments
            .iter()
            .max_by_key(|f| f.updated_at.unwrap_or(f.shipped_at))
    }

    /// The order's facts routing rules can match on ([`ORDER_FACTS`]), as strings.
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        let mut facts = vec![
            ("number", self.number.clone()),
            ("status", enum_name(&self.status)),
            ("financial_status", self.financial_status.clone()),
            ("fulfilment_status", enum_name(&self.fulfilment_status)),
            ("currency", self.total.currency.clone()),
        ];
        if let Some(c) = self.total.cents() {
            facts.push(("total", format!("{}.{:02}", c / 100, c % 100)));
        }
        if let Some(f) = self.latest_fulfilment() {
            facts.push(("shipment_status", enum_name(&f.status)));
        }
        facts
    }
}

fn enum_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The names of an order's facts (`Order::facts`), for routing conditions.
pub const ORDER_FACTS: &[&str] = &[
    "number",
    "status",
    "financial_status",
    "fulfilment_status",
    "shipment_status",
    "currency",
    "total",
];

/// What the shop is asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderQuery {
    /// One order by its number (`1001`, with or without `#`).
    Number(String),
    /// A customer's most recent orders, newest first: by e-mail, else by phone.
    Customer {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        email: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phone: Option<String>,
        limit: u32,
    },
}

/// Orders a ticket keeps of its customer (the most recent).
pub const RECENT_ORDERS: u32 = 5;

/// The customer's orders on a ticket: fetched at handoff, refreshed by an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderContext {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub fetched_at: Timestamp,
    /// The customer's most recent orders, newest first (only orders that are theirs).
    pub orders: Vec<Order>,
    /// The number of the order the conversation is about, when it names one of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    /// Why the orders could not be fetched (the shop was down, slow, refused), if so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl OrderContext {
    /// The order the conversation is about, if it names one of the customer's.
    pub fn about_order(&self) -> Option<&Order> {
        let about = self.about.as_deref()?;
        self.orders.iter().find(|o| o.number == about)
    }

    /// The order routing rules look at: the one the conversation is about, else the
    /// customer's latest.
    pub fn routed_order(&self) -> Option<&Order> {
        self.about_order().or_else(|| self.orders.first())
    }

    /// The handoff summary's line about the orders (none when there is nothing to say).
    pub fn summary_line(&self) -> Option<String> {
        if let Some(order) = self.about_order() {
            return Some(format!("About {}", describe(order)));
        }
        if let Some(error) = &self.error {
            return Some(format!(
                "The shop could not be asked for the customer's orders: {error}."
            ));
        }
        let names: Vec<&str> = self.orders.iter().map(|o| o.name.as_str()).collect();
        (!names.is_empty()).then(|| format!("Recent orders: {}.", names.join(", ")))
    }
}

/// Why the shop gave no answer. Each kind is told apart: a timeout or an outage hands
/// the conversation to a human with that reason; a refused credential marks the
/// connection unhealthy; an answer Baton cannot read is a bug on one side.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommerceError {
    #[error("the shop did not answer in time")]
    Timeout,
    #[error("the shop is unavailable: {0}")]
    Unavailable(String),
    /// Still throttled after the waits the shop asked for.
    #[error("the shop throttled the request: {0}")]
    Throttled(String),
    /// The credential was refused (revoked token, missing scope, wrong secret).
    #[error("the shop refused the credentials: {0}")]
    Refused(String),
    #[error("the shop's answer could not be read: {0}")]
    BadAnswer(String),
    #[error("no shop is connected")]
    NotConnected,
}

impl CommerceError {
    /// The kind, as the API names it.
    pub fn code(&self) -> &'static str {
        match self {
            CommerceError::Timeout => "timeout",
            CommerceError::Unavailable(_) => "unavailable",
            CommerceError::Throttled(_) => "throttled",
            CommerceError::Refused(_) => "refused",
            CommerceError::BadAnswer(_) => "bad_answer",
            CommerceError::NotConnected => "not_connected",
        }
    }

    /// A short reason in plain words, for the handoff and the agent.
    pub fn reason(&self) -> String {
        match self {
            CommerceError::Timeout => "the shop did not answer in time".into(),
            CommerceError::Unavailable(_) => "the shop is unavailable".into(),
            CommerceError::Throttled(_) => "the shop is rate-limiting Baton".into(),
            CommerceError::Refused(_) => "the shop refused Baton's credentials".into(),
            CommerceError::BadAnswer(_) => "the shop's answer could not be read".into(),
            CommerceError::NotConnected => "no shop is connected".into(),
        }
    }
}

/// A connected shop, opened: where it is and its credential.
#[derive(Clone, PartialEq)]
pub struct ShopAccess {
    pub tenant: crate::TenantId,
    pub connection: ShopConnection,
    pub secret: crate::secrets::Secret,
}

impl std::fmt::Debug for ShopAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShopAccess")
            .field("tenant", &self.tenant)
            .field("connection", &self.connection)
            .finish_non_exhaustive()
    }
}

/// How a tenant's shop is reached (stored on the tenant; the credential apart, sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ShopConnection {
    /// Shopify's Admin GraphQL API: `https://{domain}/admin/api/{api_version}/graphql.json`
    /// with the custom app's Admin API access token.
    Shopify { domain: String, api_version: String },
    /// Any other shop: Baton POSTs an HMAC-signed JSON request to `url` (the connector
    /// contract in `docs/commerce.md`).
    Connector { url: String },
}

/// The tenant's shop settings: the connection and when its credential was stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopSettings {
    pub connection: ShopConnection,
    pub secret_updated_at: Timestamp,
}

/// What a health check learns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopInfo {
    pub name: String,
}

/// Finds orders in a connected shop (Shopify, or the generic connector).
#[async_trait]
pub trait Commerce: Send + Sync {
    /// Orders matching `query`, newest first (at most the query's limit, one for a
    /// number: several shops reuse no number, but a number query matches exactly).
    async fn find_orders(&self, shop: &ShopAccess, query: &OrderQuery) -> Result<Vec<Order>, CommerceError>;

    /// Whether the shop answers with this credential, and its name.
    async fn check(&self, shop: &ShopAccess) -> Result<ShopInfo, CommerceError>;
}

// ------------------------------------------------------------------ the connector's signature

/// The connector request's signature header: `sha256=` and the lowercase hex of
/// HMAC-SHA256 over `{timestamp}.{raw body}` with the connector's signing secret (the
/// timestamp is the `X-Baton-Timestamp` header, unix seconds).
pub fn connector_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

// ------------------------------------------------------------------ the rule

/// Who Baton is talking to, as the channel knows them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownIdentity {
    /// A phone number the channel vouches for (WhatsApp's `wa_id`), digits only.
    pub verified_phone: Option<String>,
    /// An e-mail address the channel vouches for (an authenticated sender), lower-cased.
    pub verified_email: Option<String>,
    /// What the customer wrote in the conversation (the proof they offered).
    pub said: Vec<String>,
}

/// Whether an order may be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disclosure {
    /// It belongs to the person Baton is talking to.
    Reveal,
    /// Not proven (yet): ask for the order's e-mail address and its postcode or total.
    NeedProof,
}

/// Digits of a phone number (`+1 (555) 010-0001` → `15550100001`).
pub fn phone_digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

fn same_phone(a: &str, b: &str) -> bool {
    let (a, b) = (phone_digits(a), phone_digits(b));
    a.len() >= 7 && a == b
}

fn same_email(a: &str, b: &str) -> bool {
    !a.is_empty() && a.trim().eq_ignore_ascii_case(b.trim())
}

/// The e-mail addresses in `text`, lower-cased.
pub fn emails_in(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '<' | '>' | '(' | ')' | '"' | '\''))
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_ascii_lowercase())
        .filter(|w| {
            let Some((local, domain)) = w.split_once('@') else {
                return false;
            };
            !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.contains('@')
        })
        .collect()
}

fn normal_postcode(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The second factor: the delivery postcode or the order's total, said by the customer.
fn second_factor(order: &Order, said: &[String]) -> bool {
    let postcode = order.shipping_postcode.as_deref().map(normal_postcode);
    let total = order.total.cents();
    said.iter().any(|text| {
        let postcode_said = postcode.as_ref().is_some_and(|p| {
            p.len() >= 3 && {
                let compact = normal_postcode(text);
                // Whole-token match, or the postcode with its space ("SW1A 1AA").
                text.split(|c: char| !c.is_ascii_alphanumeric())
                    .any(|w| normal_postcode(w) == *p)
                    || (p.len() > 4 && compact.contains(p.as_str()))
            }
        });
        let total_said = total.is_some_and(|t| {
            text.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
                .map(|w| w.trim_matches(['.', ',']))
                .filter(|w| !w.is_empty())
                .any(|w| parse_cents(w) == Some(t))
        });
        postcode_said || total_said
    })
}

/// Whether `order` may be shown to `who` (module docs).
pub fn disclosure(order: &Order, who: &KnownIdentity) -> Disclosure {
    let phone_matches = match (&who.verified_phone, &order.phone) {
        (Some(a), Some(b)) => same_phone(a, b),
        _ => false,
    };
    let email_matches = match (&who.verified_email, &order.email) {
        (Some(a), Some(b)) => same_email(a, b),
        _ => false,
    };
    if phone_matches || email_matches {
        return Disclosure::Reveal;
    }
    let claimed = order
        .email
        .as_deref()
        .is_some_and(|e| who.said.iter().any(|t| emails_in(t).iter().any(|s| same_email(s, e))));
    if claimed && second_factor(order, &who.said) {
        Disclosure::Reveal
    } else {
        Disclosure::NeedProof
    }
}

// ------------------------------------------------------------------ reading questions

/// An order number as Baton reads one: 3 to 12 digits, with or without its `#` (and a
/// trailing `.` or `:`); `None` for anything else. Numbers a model passes to
/// `lookup_order` are read the same way as those in the customer's text.
pub fn plain_order_number(word: &str) -> Option<String> {
    let w = word.trim().trim_start_matches('#').trim_end_matches(['.', ':']);
    ((3..=12).contains(&w.len()) && w.bytes().all(|b| b.is_ascii_digit())).then(|| w.to_owned())
}

/// The order number a customer's message names: `#1001`, `order 1001`, `order no. 1001`,
/// `order number: 1001`, `pedido 1001`, `commande n° 1001`, `Bestellung 1001`.
pub fn order_number_in(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '?' | '!'))
        .filter(|w| !w.is_empty())
        .collect();
    let number = |w: &str| plain_order_number(w).is_some();
    const ORDER_WORDS: &[&str] = &["order", "pedido", "commande", "bestellung", "encomenda", "ordine"];
    const FILLERS: &[&str] = &[
        "no", "no.", "nr", "nr.", "n°", "nº", "number", "num", "num.", "número", "numero", "#", "is", "id",
    ];
    for (i, w) in words.iter().enumerate() {
        if w.starts_with('#') && number(w) {
            return plain_order_number(w);
        }
        let w = w.trim_end_matches([':', '.']);
        if ORDER_WORDS.contains(&w) {
            for next in words.iter().skip(i + 1).take(3) {
                if number(next) {
                    return plain_order_number(next);
                }
                if !FILLERS.contains(&next.trim_end_matches(':')) {
                    break;
                }
            }
        }
    }
    None
}

/// What a question about an order's whereabouts names: the order (or parcel)…
const ORDER_NOUNS: &[&str] = &[
    "order",
    "orders",
    "package",
    "parcel",
    "shipment",
    "delivery",
    "pedido",
    "paquete",
    "envio",
    "commande",
    "colis",
    "livraison",
    "bestellung",
    "paket",
    "lieferung",
    "sendung",
    "encomenda",
    "entrega",
    "ordine",
    "pacco",
];
/// …and where it is: its status, shipping, tracking or arrival.
const STATUS_WORDS: &[&str] = &[
    "where",
    "wheres",
    "status",
    "track",
    "tracking",
    "shipped",
    "ship",
    "dispatched",
    "sent",
    "arrive",
    "arrived",
    "arriving",
    "come",
    "came",
    "coming",
    "delivered",
    "late",
    "delayed",
    "yet",
    "still",
    "when",
    "donde",
    "esta",
    "llega",
    "estado",
    "rastrear",
    "seguimiento",
    "ou",
    "suivi",
    "arrive",
    "wo",
    "wann",
    "verfolgen",
    "sendungsverfolgung",
    "onde",
    "rastreio",
    "chegou",
    "dove",
];

/// Whether the message asks where an order is (its status, shipping, tracking,
/// arrival), with or without its number: an order word and a status word in one
/// message, or a tracking number asked for. "How long does delivery take" asks about
/// the policy (no status word): the knowledge base answers that.
pub fn asks_about_order(text: &str) -> bool {
    let norm = crate::triage::normalise(text);
    if crate::triage::contains_phrase(&norm, "tracking number")
        || crate::triage::contains_phrase(&norm, "tracking link")
    {
        return true;
    }
    let words: Vec<&str> = norm.split(' ').collect();
    let noun = words.iter().any(|w| ORDER_NOUNS.contains(w));
    let status = words.iter().any(|w| STATUS_WORDS.contains(w));
    noun && status
}

// ------------------------------------------------------------------ answers

/// The request for proof: the same words whatever the order (so it reveals nothing).
pub const PROOF_REQUEST: &str = "I can look that order up for you. To keep your order details private, please tell me the e-mail address you used for the order and either its delivery postcode or its total amount.";

/// The question when no order number was given and the customer is not known.
pub const NUMBER_REQUEST: &str =
    "I can check that for you. What is your order number? It is in your order confirmation (for example #1001).";

fn shipment_words(s: ShipmentStatus) -> &'static str {
    match s {
        ShipmentStatus::LabelPrinted | ShipmentStatus::Confirmed => "is packed and handed to the carrier",
        ShipmentStatus::InTransit => "is on its way",
        ShipmentStatus::OutForDelivery => "is out for delivery today",
        ShipmentStatus::AttemptedDelivery => "could not be delivered on the carrier's last attempt",
        ShipmentStatus::ReadyForPickup => "is ready for pickup",
        ShipmentStatus::Delivered => "was delivered",
        ShipmentStatus::Failure => "ran into a delivery problem with the carrier",
        ShipmentStatus::Cancelled => "shipment was cancelled",
        ShipmentStatus::Unknown => "has shipped",
    }
}

fn day(t: Timestamp) -> String {
    t.to_string().get(..10).unwrap_or_default().to_owned()
}

/// One order in plain words: its state, its last shipment event and the tracking link.
pub fn describe(order: &Order) -> String {
    let items: u32 = order.items.iter().map(|i| i.quantity).sum();
    let what = match items {
        0 => String::new(),
        1 => " (1 item".to_owned(),
        n => format!(" ({n} items"),
    };
    let what = if what.is_empty() {
        format!(" (total {})", order.total)
    } else {
        format!("{what}, total {})", order.total)
    };
    let mut text = format!("Order {}{what}, placed on {}: ", order.name, day(order.created_at));
    if order.status == OrderStatus::Cancelled {
        text.push_str("it was cancelled");
        if order.financial_status.contains("refund") {
            text.push_str(" and refunded");
        }
        text.push('.');
        return text;
    }
    match order.latest_fulfilment() {
        None => text.push_str(match order.fulfilment_status {
            FulfilmentStatus::OnHold => "it is on hold and has not shipped yet.",
            FulfilmentStatus::InProgress => "it is being prepared and has not shipped yet.",
            _ => "it has not shipped yet.",
        }),
        Some(f) => {
            let part = if order.fulfilment_status == FulfilmentStatus::PartiallyFulfilled {
                "part of it"
            } else {
                "it"
            };
            let carrier = f.carrier.as_deref().map(|c| format!(" with {c}")).unwrap_or_default();
            text.push_str(&format!(
                "{part} shipped on {}{carrier} and {}",
                day(f.shipped_at),
                shipment_words(f.status)
            ));
            if let Some(at) = f.updated_at.filter(|_| f.status == ShipmentStatus::Delivered) {
                text.push_str(&format!(" on {}", day(at)));
            } else if let Some(eta) = f
                .estimated_delivery_at
                .filter(|_| f.status != ShipmentStatus::Delivered)
            {
                text.push_str(&format!("; expected by {}", day(eta)));
            }
            text.push('.');
            match (&f.tracking_url, &f.tracking_number) {
                (Some(url), Some(n)) => text.push_str(&format!(" Tracking number {n}: {url}")),
                (Some(url), None) => text.push_str(&format!(" Track it here: {url}")),
                (None, Some(n)) => text.push_str(&format!(" Tracking number: {n}")),
                (None, None) => {}
            }
        }
    }
    text
}

/// The answer about a customer's orders: one described, or several listed newest first.
pub fn answer(orders: &[Order]) -> String {
    match orders {
        [] => "I could not find an order for you. If you have the order number, please send it (it is in your order confirmation).".into(),
        [one] => describe(one),
        many => {
            let mut text = "Here are your most recent orders:".to_owned();
            for o in many.iter().take(3) {
                text.push_str("\n- ");
                text.push_str(&describe(o));
            }
            text
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn order() -> Order {
        Order {
            number: "1001".into(),
            name: "#1001".into(),
            email: Some("Ana@Example.com".into()),
            phone: Some("+1 555 010 0001".into()),
            created_at: Timestamp::parse_rfc3339("2026-11-28T10:00:00Z").unwrap(),
            status: OrderStatus::Open,
            financial_status: "paid".into(),
            fulfilment_status: FulfilmentStatus::Fulfilled,
            total: Money {
                amount: "59.90".into(),
                currency: "EUR".into(),
            },
            items: vec![OrderItem {
                title: "Linen shirt".into(),
                quantity: 2,
                sku: None,
            }],
            fulfilments: vec![Fulfilment {
                status: ShipmentStatus::InTransit,
                shipped_at: Timestamp::parse_rfc3339("2026-11-30T09:00:00Z").unwrap(),
                updated_at: Some(Timestamp::parse_rfc3339("2026-12-01T09:00:00Z").unwrap()),
                estimated_delivery_at: Some(Timestamp::parse_rfc3339("2026-12-04T18:00:00Z").unwrap()),
                carrier: Some("DHL".into()),
                tracking_number: Some("JD0142".into()),
                tracking_url: Some("https://track.example/JD0142".into()),
            }],
            shipping_postcode: Some("SW1A 1AA".into()),
            status_url: None,
        }
    }

    fn said(texts: &[&str]) -> KnownIdentity {
        KnownIdentity {
            said: texts.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn a_verified_phone_or_email_that_matches_reveals_the_order() {
        let o = order();
        let by_phone = KnownIdentity {
            verified_phone: Some("15550100001".into()),
            ..Default::default()
        };
        assert_eq!(disclosure(&o, &by_phone), Disclosure::Reveal);
        let by_email = KnownIdentity {
            verified_email: Some("ana@example.com".into()),
            ..Default::default()
        };
        assert_eq!(disclosure(&o, &by_email), Disclosure::Reveal);
        let other = KnownIdentity {
            verified_phone: Some("15550100002".into()),
            verified_email: Some("bob@example.com".into()),
            ..Default::default()
        };
        assert_eq!(disclosure(&o, &other), Disclosure::NeedProof);
    }

    #[test]
    fn an_unverified_person_needs_the_email_and_a_second_factor() {
        let o = order();
        assert_eq!(disclosure(&o, &said(&["where is order #1001"])), Disclosure::NeedProof);
        assert_eq!(
            disclosure(&o, &said(&["it's ana@example.com"])),
            Disclosure::NeedProof,
            "e-mail alone"
        );
        assert_eq!(
            disclosure(&o, &said(&["postcode SW1A 1AA"])),
            Disclosure::NeedProof,
            "postcode alone"
        );
        for proof in [
            "ana@example.com, postcode sw1a1aa",
            "ana@example.com and SW1A 1AA",
            "ana@example.com, I paid 59.90",
            "ana@example.com total 59,9 EUR",
        ] {
            assert_eq!(disclosure(&o, &said(&[proof])), Disclosure::Reveal, "{proof}");
        }
        // Split over two messages.
        assert_eq!(
            disclosure(&o, &said(&["my email is ana@example.com", "the postcode is SW1A 1AA"])),
            Disclosure::Reveal
        );
        // Wrong second factor, or someone else's e-mail with the right postcode.
        assert_eq!(disclosure(&o, &said(&["ana@example.com 59.00"])), Disclosure::NeedProof);
        assert_eq!(
            disclosure(&o, &said(&["bob@example.com SW1A 1AA"])),
            Disclosure::NeedProof
        );
        // A claimed phone is not proof.
        assert_eq!(
            disclosure(&o, &said(&["my phone is +1 555 010 0001"])),
            Disclosure::NeedProof
        );
    }

    #[test]
    fn order_numbers_are_found_in_many_phrasings() {
        for (text, want) in [
            ("Where is my order #1001?", Some("1001")),
            ("order 1001 hasn't arrived", Some("1001")),
            ("my order no. 4411 please", Some("4411")),
            ("Order number: 4411", Some("4411")),
            ("status of order nr 4411", Some("4411")),
            ("¿Dónde está mi pedido 1001?", Some("1001")),
            ("commande n° 1002", Some("1002")),
            ("where is my order", None),
            ("I ordered 2 shirts", None),
            ("call me at 5550100", None),
        ] {
            assert_eq!(order_number_in(text).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn order_questions_are_told_from_others() {
        for yes in [
            "Where is my order #1001?",
            "where's my order",
            "has my order shipped yet",
            "can I get the tracking number",
            "my package still hasn't come",
            "¿Dónde está mi pedido?",
            "when will my order #1001 arrive",
            "Wo ist meine Bestellung?",
        ] {
            assert!(asks_about_order(yes), "{yes}");
        }
        for no in [
            "how long does delivery take",
            "what is your returns policy",
            "do you ship to Canada",
            "I want to return order #1001",
            "how much does delivery cost",
        ] {
            assert!(!asks_about_order(no), "{no}");
        }
    }

    #[test]
    fn an_order_is_described_in_plain_words() {
        let text = describe(&order());
        assert_eq!(
            text,
            "Order #1001 (2 items, total 59.90 EUR), placed on 2026-11-28: it shipped on 2026-11-30 with DHL and is on its way; expected by 2026-12-04. Tracking number JD0142: https://track.example/JD0142"
        );
        let mut o = order();
        o.fulfilments.clear();
        o.fulfilment_status = FulfilmentStatus::Unfulfilled;
        assert!(describe(&o).ends_with("it has not shipped yet."));
        o.status = OrderStatus::Cancelled;
        o.financial_status = "refunded".into();
        assert!(describe(&o).ends_with("it was cancelled and refunded."));
        let mut d = order();
        d.fulfilments[0].status = ShipmentStatus::Delivered;
        assert!(
            describe(&d).contains("was delivered on 2026-12-01."),
            "{}",
            describe(&d)
        );
    }

    #[test]
    fn order_facts_are_strings_rules_can_match() {
        let facts = order().facts();
        assert!(facts.contains(&("fulfilment_status", "fulfilled".into())));
        assert!(facts.iter().all(|(name, _)| ORDER_FACTS.contains(name)));
        assert!(facts.contains(&("total", "59.90".into())));
        assert!(facts.contains(&("shipment_status", "in_transit".into())));
    }

    #[test]
    fn the_connector_signature_covers_time_and_body() {
        let a = connector_signature("s3cret", 1_700_000_000, br#"{"type":"ping"}"#);
        assert!(a.starts_with("sha256=") && a.len() == 7 + 64);
        assert_ne!(a, connector_signature("s3cret", 1_700_000_001, br#"{"type":"ping"}"#));
        assert_ne!(a, connector_signature("other", 1_700_000_000, br#"{"type":"ping"}"#));
        assert_ne!(a, connector_signature("s3cret", 1_700_000_000, br#"{"type":"pong"}"#));
    }

    #[test]
    fn amounts_parse_to_cents() {
        assert_eq!(parse_cents("59.90"), Some(5990));
        assert_eq!(parse_cents("59,9"), Some(5990));
        assert_eq!(parse_cents("59"), Some(5900));
        assert_eq!(parse_cents("5.999"), None);
        assert_eq!(parse_cents("abc"), None);
        assert_eq!(
            Money {
                amount: "7.5".into(),
                currency: "USD".into()
            }
            .to_string(),
            "7.50 USD"
        );
    }
}
