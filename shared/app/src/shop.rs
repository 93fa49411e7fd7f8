//! The tenant's shop: connecting it (the credential sealed first, then settings and
//! sealed credential in one transaction), asking it for orders within a deadline, and
//! the order step of triage: answer "where is my order?" from the shop itself, but only
//! to the customer the order belongs to (`baton_domain::commerce::disclosure`).

use crate::tokens::OpenedSecrets;
use baton_domain::commerce::{
    self, disclosure, Commerce, CommerceError, Disclosure, KnownIdentity, Order, OrderContext, OrderQuery, ShopAccess,
    ShopConnection, ShopInfo, ShopSettings,
};
use baton_domain::conversation::{Author, Message, Sender};
use baton_domain::intake::InboundMessage;
use baton_domain::ports::{PageRequest, SecretBox, Store};
use baton_domain::secrets::{Secret, SecretScope};
use baton_domain::tenant::Tenant;
use baton_domain::ticket::{Ticket, TimelineKind};
use baton_domain::triage::HandoffReason;
use baton_domain::{Channel, StoreError, TenantId, Timestamp};
use std::sync::Arc;
use std::time::Duration;

/// How long one question to the shop may take, retries for throttling included: past
/// it the customer is handed to a human rather than kept waiting.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(6);

/// Why an order lookup gave no orders: our own store (retried like any store error), or
/// the shop (handed off with its reason).
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Shop(#[from] CommerceError),
}

/// The tenants' shops, reached through one commerce adapter.
pub struct Shops {
    store: Arc<dyn Store>,
    secrets: Arc<dyn SecretBox>,
    commerce: Arc<dyn Commerce>,
    timeout: Duration,
    opened: OpenedSecrets<TenantId>,
}

impl Shops {
    pub fn new(store: Arc<dyn Store>, secrets: Arc<dyn SecretBox>, commerce: Arc<dyn Commerce>) -> Self {
        Shops {
            store,
            secrets,
            commerce,
            timeout: LOOKUP_TIMEOUT,
            opened: OpenedSecrets::default(),
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn access(&self, tenant: &Tenant) -> Result<ShopAccess, LookupError> {
        let settings = tenant.shop.as_ref().ok_or(CommerceError::NotConnected)?;
        let sealed = self
            .store
            .get_shop_secret(&tenant.id)
            .await?
            .ok_or(CommerceError::NotConnected)?;
        let secret = self
            .opened
            .open(self.secrets.as_ref(), &tenant.id, SecretScope::shop(&tenant.id), sealed)
            .await
            .map_err(StoreError::from)?;
        Ok(ShopAccess {
            tenant: tenant.id.clone(),
            connection: settings.connection.clone(),
            secret,
        })
    }

    async fn within<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, CommerceError>>,
    ) -> Result<T, CommerceError> {
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or(Err(CommerceError::Timeout))
    }

    /// The orders matching `query` in the tenant's shop.
    pub async fn find(&self, tenant: &Tenant, query: &OrderQuery) -> Result<Vec<Order>, LookupError> {
        let access = self.access(tenant).await?;
        let started = std::time::Instant::now();
        let result = self.within(self.commerce.find_orders(&access, query)).await;
        let kind = match query {
            OrderQuery::Number(_) => "number",
            OrderQuery::Customer { .. } => "customer",
        };
        match &result {
            Ok(orders) => tracing::info!(
                query = kind,
                orders = orders.len(),
                ms = started.elapsed().as_millis() as u64,
                "shop asked for orders"
            ),
            Err(e) => {
                tracing::warn!(query = kind, error = %e, ms = started.elapsed().as_millis() as u64, "the shop gave no orders")
            }
        }
        Ok(result?)
    }

    /// Whether a shop answers with a credential not stored yet (before connecting it).
    pub async fn verify(&self, access: &ShopAccess) -> Result<ShopInfo, CommerceError> {
        self.within(self.commerce.check(access)).await
    }

    /// Whether the tenant's shop answers with its stored credential.
    pub async fn check(&self, tenant: &Tenant) -> Result<ShopInfo, LookupError> {
        let access = self.access(tenant).await?;
        Ok(self.within(self.commerce.check(&access)).await?)
    }

    /// Connects (or reconnects) the tenant's shop: `secret` is sealed under the tenant's
    /// shop scope, then stored with the settings in one transaction.
    pub async fn connect(
        &self,
        tenant: &TenantId,
        connection: ShopConnection,
        secret: &Secret,
        now: Timestamp,
    ) -> Result<ShopSettings, StoreError> {
        let sealed = self.secrets.seal(SecretScope::shop(tenant), secret, now).await?;
        let settings = ShopSettings {
            connection,
            secret_updated_at: now,
        };
        self.store.change_shop(tenant, Some((&settings, &sealed))).await?;
        tracing::info!(tenant = %tenant, kind = kind_of(&settings.connection), "shop connected");
        Ok(settings)
    }

    /// Disconnects the tenant's shop: settings and credential removed.
    pub async fn disconnect(&self, tenant: &TenantId) -> Result<(), StoreError> {
        self.store.change_shop(tenant, None).await?;
        tracing::info!(tenant = %tenant, "shop disconnected");
        Ok(())
    }

    /// The customer's orders for a ticket: their recent orders by the identity the channel
    /// verified, plus the order the conversation names if they proved it is theirs. A shop
    /// that cannot be asked leaves the reason instead (the handoff goes on without them).
    pub async fn context_for(
        &self,
        tenant: &Tenant,
        who: &KnownIdentity,
        named: Option<&str>,
        now: Timestamp,
    ) -> Result<Option<OrderContext>, StoreError> {
        if tenant.shop.is_none() {
            return Ok(None);
        }
        let mut context = OrderContext {
            fetched_at: now,
            orders: vec![],
            about: None,
            error: None,
        };
        let recent = recent_query(who);
        let mut fetched: Vec<Order> = Vec::new();
        let mut failed = None;
        for query in recent
            .into_iter()
            .chain(named.map(|n| OrderQuery::Number(n.to_owned())))
        {
            match self.find(tenant, &query).await {
                Ok(orders) => fetched.extend(orders),
                Err(LookupError::Store(e)) => return Err(e),
                Err(LookupError::Shop(e)) => failed = Some(e.reason()),
            }
        }
        for o in fetched {
            if disclosure(&o, who) == Disclosure::Reveal && !context.orders.iter().any(|k| k.number == o.number) {
                context.orders.push(o);
            }
        }
        context.orders.sort_by_key(|o| std::cmp::Reverse(o.created_at));
        context.orders.truncate(commerce::RECENT_ORDERS as usize + 1);
        context.about = named
            .filter(|n| context.orders.iter().any(|o| o.number == *n))
            .map(str::to_owned);
        context.error = failed;
        Ok(Some(context))
    }
}

fn kind_of(c: &ShopConnection) -> &'static str {
    match c {
        ShopConnection::Shopify { .. } => "shopify",
        ShopConnection::Connector { .. } => "connector",
    }
}

/// The recent-orders query for an identity the channel verified (none without one).
fn recent_query(who: &KnownIdentity) -> Option<OrderQuery> {
    (who.verified_email.is_some() || who.verified_phone.is_some()).then(|| OrderQuery::Customer {
        email: who.verified_email.clone(),
        phone: who.verified_phone.clone(),
        limit: commerce::RECENT_ORDERS,
    })
}

/// Who the message's sender is, as the channel vouches, and what they said in `history`
/// (oldest first, the current message last).
pub fn known_identity(inbound: &InboundMessage, history: &[Message]) -> KnownIdentity {
    let mut who = identity(inbound.message.channel, &inbound.sender(), customer_texts(history));
    if let Some(e) = inbound.email.as_ref().filter(|e| e.verified) {
        who.verified_email = Some(e.from_address.trim().to_ascii_lowercase());
    }
    who
}

/// What a channel vouches for about `sender`: a WhatsApp number is the customer's own; an
/// e-mail address only when its domain vouched for the message; nothing else.
pub fn identity(channel: Channel, sender: &Sender, said: Vec<String>) -> KnownIdentity {
    let verified_phone = (channel == Channel::Whatsapp)
        .then(|| commerce::phone_digits(&sender.id))
        .filter(|p| !p.is_empty());
    let verified_email = (channel == Channel::Email && sender.verified == Some(true))
        .then(|| sender.id.trim().to_ascii_lowercase())
        .filter(|e| e.contains('@'));
    KnownIdentity {
        verified_phone,
        verified_email,
        said,
    }
}

/// The ticket's orders fetched again (an agent's refresh): the identity the channel
/// verified on the customer's latest message, and the order the ticket is about (or the
/// one the customer's messages name). Written at the version `ticket` was read at
/// (`Conflict` if it moved on). `None`: the tenant has no shop.
pub async fn refresh_orders(
    shops: &Shops,
    store: &dyn Store,
    tenant: &Tenant,
    mut ticket: Ticket,
    now: Timestamp,
) -> Result<Option<Ticket>, StoreError> {
    if tenant.shop.is_none() {
        return Ok(None);
    }
    let number = ticket.number;
    let mut said = Vec::new();
    let mut latest: Option<(Channel, Sender)> = None;
    let mut page = PageRequest::first(100);
    loop {
        let entries = store.list_timeline(&tenant.id, number, &page).await?;
        for e in entries.items.iter().filter(|e| e.actor == Author::Customer) {
            if let TimelineKind::Message {
                text, channel, sender, ..
            } = &e.entry
            {
                said.push(text.clone());
                latest = sender.clone().map(|s| (*channel, s)).or(latest);
            }
        }
        match entries.next_cursor {
            Some(c) if said.len() < 500 => {
                page = PageRequest {
                    limit: Some(100),
                    cursor: Some(c),
                }
            }
            _ => break,
        }
    }
    let who = match &latest {
        Some((channel, sender)) => identity(*channel, sender, said.clone()),
        None => KnownIdentity {
            verified_phone: None,
            verified_email: None,
            said: said.clone(),
        },
    };
    let named = ticket
        .orders
        .as_ref()
        .and_then(|o| o.about.clone())
        .or_else(|| said.iter().rev().find_map(|t| commerce::order_number_in(t)));
    ticket.orders = shops.context_for(tenant, &who, named.as_deref(), now).await?;
    ticket.updated_at = now;
    let expected = ticket.version;
    ticket.version = store.update_ticket(&ticket, expected, &[]).await?;
    Ok(Some(ticket))
}

fn customer_texts(history: &[Message]) -> Vec<String> {
    history
        .iter()
        .filter(|m| m.author == Author::Customer)
        .map(|m| m.text.clone())
        .collect()
}

/// The order number the conversation names: in the current message, else the latest
/// customer message that named one.
pub fn named_order(history: &[Message]) -> Option<String> {
    history
        .iter()
        .rev()
        .filter(|m| m.author == Author::Customer)
        .find_map(|m| commerce::order_number_in(&m.text))
}

/// What triage does with a message about an order.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderStep {
    /// Answer the customer (the order's state, or a request for the number or proof).
    Reply {
        text: String,
        /// The orders the answer is grounded in (its citations).
        cited: Vec<String>,
    },
    HandOff(HandoffReason),
}

/// The request for an order's number or proof the AI's latest message made, if it made
/// one, and how many times in a row the AI has made it.
fn last_request(history: &[Message]) -> Option<(&'static str, usize)> {
    let mut replies = history.iter().rev().skip(1).filter(|m| m.author != Author::Customer);
    let last = replies.next()?;
    let request = [commerce::PROOF_REQUEST, commerce::NUMBER_REQUEST]
        .into_iter()
        .find(|r| last.author == Author::Ai && last.text == *r)?;
    let times = 1 + replies
        .take_while(|m| m.author == Author::Ai && m.text == request)
        .count();
    Some((request, times))
}

/// How many times the AI asks for the same number or proof before a person takes over:
/// a customer may complete their proof over two messages, not guess forever.
const REQUESTS: usize = 2;

/// The order step of triage (module docs): `None` when the message is not about an
/// order's whereabouts (or the tenant has no shop) and the knowledge base decides.
/// `history` ends with the current message.
pub async fn order_step(
    shops: &Shops,
    tenant: &Tenant,
    inbound: &InboundMessage,
    history: &[Message],
) -> Result<Option<OrderStep>, StoreError> {
    if tenant.shop.is_none() {
        return Ok(None);
    }
    let text = &inbound.message.text;
    if !commerce::asks_about_order(text) && last_request(history).is_none() {
        return Ok(None);
    }
    look_up(shops, tenant, inbound, history, None).await.map(Some)
}

/// Looks the customer's order up (`number`, else the one the conversation named, else
/// the verified identity's recent orders) and answers it to its owner only: the order's
/// state, or the request for its number or for proof (the same words whether the order
/// exists or not), asked up to [`REQUESTS`] times before a person takes over. A shop that
/// fails or is slow hands off with the reason. Triage's own reading of the message and
/// the model's `lookup_order` tool both end here, under the one disclosure rule.
pub async fn look_up(
    shops: &Shops,
    tenant: &Tenant,
    inbound: &InboundMessage,
    history: &[Message],
    number: Option<String>,
) -> Result<OrderStep, StoreError> {
    let asked = last_request(history);
    let who = known_identity(inbound, history);
    // Asked for this already and still not answerable: a person takes it from here.
    let ask = |request: &'static str| {
        if asked.is_some_and(|(made, times)| made == request && times >= REQUESTS) {
            OrderStep::HandOff(HandoffReason::OrderUnverified)
        } else {
            OrderStep::Reply {
                text: request.to_owned(),
                cited: vec![],
            }
        }
    };
    let unavailable = |e: CommerceError| OrderStep::HandOff(HandoffReason::ShopUnavailable { reason: e.reason() });
    let named = number.or_else(|| named_order(history));
    let query = match &named {
        Some(number) => OrderQuery::Number(number.clone()),
        None => {
            // No number: the verified identity's orders, or those of an e-mail the
            // customer gave (each still has to pass the rule with its second factor).
            let claimed = who.said.iter().flat_map(|t| commerce::emails_in(t)).last();
            let query = recent_query(&who).or_else(|| {
                claimed.map(|email| OrderQuery::Customer {
                    email: Some(email),
                    phone: None,
                    limit: commerce::RECENT_ORDERS,
                })
            });
            let Some(query) = query else {
                return Ok(ask(commerce::NUMBER_REQUEST));
            };
            query
        }
    };
    let found = match shops.find(tenant, &query).await {
        Ok(orders) => orders,
        Err(LookupError::Store(e)) => return Err(e),
        Err(LookupError::Shop(e)) => return Ok(unavailable(e)),
    };
    let theirs: Vec<Order> = found
        .into_iter()
        .filter(|o| disclosure(o, &who) == Disclosure::Reveal)
        .collect();
    if theirs.is_empty() {
        // The same request whether the order does not exist or is someone else's.
        return Ok(ask(if named.is_some() || recent_query(&who).is_none() {
            commerce::PROOF_REQUEST
        } else {
            commerce::NUMBER_REQUEST
        }));
    }
    Ok(OrderStep::Reply {
        text: commerce::answer(&theirs),
        cited: theirs.iter().take(3).map(|o| o.name.clone()).collect(),
    })
}
