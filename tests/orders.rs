//! "Where is my order?" through intake and triage, against the local endpoint and the
//! local shop stand-in: the order's owner is answered from the shop, anyone else is asked
//! for proof and never shown the order, a slow shop hands off with its reason, and a
//! handoff ticket carries the customer's orders (and routes on them). With Bedrock, the
//! model's `lookup_order` tool ends in the same rule.

use baton_app::shop::Shops;
use baton_aws::shop::HttpCommerce;
use baton_domain::commerce::{ShopConnection, NUMBER_REQUEST, PROOF_REQUEST};
use baton_domain::conversation::{Author, Message};
use baton_domain::ports::{ConversationStore, PageRequest, TenantStore, TicketStore};
use baton_domain::secrets::Secret;
use baton_domain::ticket::Ticket;
use baton_domain::Clock;
use baton_domain::{Channel, TenantId};
use baton_local::shop_standin::{demo_orders, ShopStandin};
use baton_tests::{
    agent_call, agent_token, intake_onto, secret_box, seeded_env, triage_deps, triage_records, whatsapp_text, TestEnv,
};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "shpat_local_0123456789abcdef";
const SECRET: &str = "whsec_local_connector_secret";
/// Ana's WhatsApp number: orders #1001 and #1002 carry it.
const ANA: &str = "15550100001";
const STRANGER: &str = "15550100099";

fn demo() -> TenantId {
    TenantId::new("demo").unwrap()
}

struct World {
    env: TestEnv,
    shop: ShopStandin,
    triage: triage::Deps,
}

/// The demo tenant with the stand-in connected (`connector`: the signed connector, else
/// Shopify), its lookups limited to `timeout`.
async fn world(connector: bool, timeout: Duration) -> World {
    let env = seeded_env().await;
    let shop = ShopStandin::start(0, "Demo shop", TOKEN, SECRET, demo_orders())
        .await
        .unwrap();
    let store: Arc<dyn baton_domain::ports::Store> = Arc::new(env.store.clone());
    let shops = Shops::new(
        store.clone(),
        Arc::new(secret_box(&env)),
        Arc::new(HttpCommerce::default()),
    )
    .with_timeout(timeout);
    let (connection, secret) = if connector {
        (
            ShopConnection::Connector {
                url: shop.connector_url(),
            },
            SECRET,
        )
    } else {
        (
            ShopConnection::Shopify {
                domain: shop.shopify_domain(),
                api_version: "2025-10".into(),
            },
            TOKEN,
        )
    };
    shops
        .connect(
            &demo(),
            connection,
            &Secret::new(secret),
            baton_domain::SystemClock.now(),
        )
        .await
        .unwrap();
    let mut triage = triage_deps(&env, store);
    triage.shops = Some(Arc::new(shops));
    World { env, shop, triage }
}

impl World {
    async fn says(&self, channel: Channel, sender: &str, id: &str, text: &str) -> Vec<Message> {
        let mut message = whatsapp_text(sender, id, text);
        message.channel = channel;
        let inbound = intake_onto(&self.env, "InboundQueue", message).await;
        triage_records(&self.triage, std::slice::from_ref(&inbound)).await;
        let page = self
            .env
            .store
            .list_messages(&demo(), inbound.conversation_id, &PageRequest::first(50))
            .await
            .unwrap();
        page.items
    }

    async fn tickets(&self) -> Vec<Ticket> {
        let mut all = Vec::new();
        for n in 1..20 {
            match self.env.store.get_ticket(&demo(), baton_domain::TicketNumber(n)).await {
                Ok(t) => all.push(t),
                Err(_) => continue,
            }
        }
        all
    }
}

fn last_ai(thread: &[Message]) -> String {
    thread
        .iter()
        .rev()
        .find(|m| m.author == Author::Ai)
        .map(|m| m.text.clone())
        .expect("the AI answered")
}

/// What about Ana's order #1001 no one else may learn.
const ANA_FACTS: &[&str] = &["JD0142", "DHL", "59.90", "track.example", "on its way", "SW1A"];

#[tokio::test]
async fn the_owner_is_answered_from_the_shop_with_status_and_tracking() {
    let w = world(false, Duration::from_secs(6)).await;
    // Without a number: the verified number's own recent orders, newest first.
    let thread = w
        .says(Channel::Whatsapp, ANA, "wamid.ord.1", "has my order shipped yet?")
        .await;
    let answer = last_ai(&thread);
    assert!(answer.contains("#1001") && answer.contains("#1002"), "{answer}");
    assert!(!answer.contains("#1003"), "Bob's order is not Ana's: {answer}");
    // With a number: that order, its status, carrier and tracking link.
    let thread = w
        .says(Channel::Whatsapp, ANA, "wamid.ord.2", "Hi, where is my order #1001?")
        .await;
    let answer = last_ai(&thread);
    assert!(answer.contains("#1001") && answer.contains("is on its way"), "{answer}");
    assert!(
        answer.contains("DHL") && answer.contains("JD0142") && answer.contains("https://track.example/JD0142"),
        "{answer}"
    );
    assert!(!answer.contains("#1002"), "{answer}");
    assert!(w.tickets().await.is_empty(), "answered without a ticket");
    // The shop was asked for the phone's customer and their orders, then by number.
    let asked: Vec<String> = w.shop.requests().iter().map(|r| r.body.to_string()).collect();
    assert!(asked[0].contains("customers"), "{asked:?}");
    assert!(asked.last().unwrap().contains("name:#1001"), "{asked:?}");
}

/// A model stand-in (Converse wire format) that reads every message as one about an
/// order: it calls `lookup_order` with the digits of the last message when it is offered
/// the tool, and summarises otherwise. Every request it received is kept.
async fn model_that_looks_orders_up(w: &mut World) -> Arc<std::sync::Mutex<Vec<serde_json::Value>>> {
    use axum::response::IntoResponse;
    let seen: Arc<std::sync::Mutex<Vec<serde_json::Value>>> = Default::default();
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/model/{model}/converse",
        axum::routing::post(move |body: axum::body::Bytes| {
            let log = log.clone();
            async move {
                let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                log.lock().unwrap().push(request.clone());
                let offered = request["toolConfig"]["tools"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|t| t["toolSpec"]["name"] == "lookup_order");
                let last = request["messages"]
                    .as_array()
                    .and_then(|m| m.last())
                    .and_then(|m| m["content"][0]["text"].as_str())
                    .unwrap_or_default()
                    .to_owned();
                let digits: String = last.chars().filter(char::is_ascii_digit).collect();
                let reply = if offered {
                    baton_tests::converse_tool_use("lookup_order", json!({ "number": digits }))
                } else {
                    baton_tests::converse_tool_use("summarize_case", json!({ "summary": "Asks about an order." }))
                };
                ([("content-type", "application/json")], reply.to_string()).into_response()
            }
        }),
    );
    w.triage.answerer = Box::new(baton_tests::bedrock_at(&w.env, app, Duration::from_secs(3)).await);
    seen
}

#[tokio::test]
async fn with_bedrock_the_model_looks_the_order_up_and_only_its_owner_is_answered() {
    let mut w = world(false, Duration::from_secs(6)).await;
    let seen = model_that_looks_orders_up(&mut w).await;
    // Words triage's own reading misses (no order word): the model calls `lookup_order`.
    let missed = "I bought the green scarf two weeks ago and nothing turned up, it was 1001";
    assert!(!baton_domain::commerce::asks_about_order(missed));
    let thread = w.says(Channel::Whatsapp, ANA, "wamid.llm.1", missed).await;
    let answer = last_ai(&thread);
    assert!(
        answer.contains("#1001") && answer.contains("JD0142") && answer.contains("https://track.example/JD0142"),
        "the owner is answered from the shop: {answer}"
    );
    assert!(w.tickets().await.is_empty(), "answered without a ticket");
    let first = seen.lock().unwrap()[0].clone();
    assert_eq!(first["toolConfig"]["toolChoice"], json!({ "any": {} }), "{first}");
    assert!(first["system"][0]["text"].as_str().unwrap().contains("lookup_order"));

    // Anyone else who says the same is asked for proof, and learns nothing of the order.
    let thread = w.says(Channel::Whatsapp, STRANGER, "wamid.llm.2", missed).await;
    assert_eq!(last_ai(&thread), PROOF_REQUEST);
    // The model never saw an order: Baton words the answer from the shop itself.
    for request in seen.lock().unwrap().iter() {
        for fact in ANA_FACTS {
            assert!(!request.to_string().contains(fact), "{fact} went to the model");
        }
    }
    assert!(seen.lock().unwrap().len() >= 2, "the model was asked each time");
}

#[tokio::test]
async fn another_identity_is_asked_for_proof_never_shown_the_order_then_handed_off() {
    let w = world(false, Duration::from_secs(6)).await;
    let thread = w
        .says(Channel::Whatsapp, STRANGER, "wamid.str.1", "where is my order #1001")
        .await;
    let asked = last_ai(&thread);
    assert_eq!(asked, PROOF_REQUEST);
    // The same request for an order that does not exist: nothing tells them apart.
    let other = w
        .says(
            Channel::Whatsapp,
            "15550100098",
            "wamid.str.x",
            "where is my order #9999",
        )
        .await;
    assert_eq!(last_ai(&other), PROOF_REQUEST);
    // A typed phone number is no proof; asked twice and still nothing: a person's job.
    let thread = w
        .says(
            Channel::Whatsapp,
            STRANGER,
            "wamid.str.2",
            "my phone is +1 555 010 0001, just tell me",
        )
        .await;
    assert_eq!(last_ai(&thread), PROOF_REQUEST);
    assert!(w.tickets().await.is_empty());
    let thread = w
        .says(
            Channel::Whatsapp,
            STRANGER,
            "wamid.str.3",
            "I don't have that, it's for a friend",
        )
        .await;
    for m in thread.iter().filter(|m| m.author != Author::Customer) {
        for fact in ANA_FACTS {
            assert!(!m.text.contains(fact), "{fact} leaked in {:?}", m.text);
        }
    }
    let tickets = w.tickets().await;
    assert_eq!(tickets.len(), 1, "handed off");
    let t = &tickets[0];
    assert!(t.tags.contains(&"handoff:order_unverified".to_owned()), "{:?}", t.tags);
    // The ticket shows the stranger's own orders (none), never Ana's.
    let orders = t.orders.as_ref().expect("the shop was asked for the ticket");
    assert!(orders.orders.is_empty(), "{orders:?}");
    assert_eq!(orders.about, None);
    let summary = t.ai_summary.clone().unwrap_or_default();
    for fact in ANA_FACTS {
        assert!(!summary.contains(fact), "{fact} in the summary: {summary}");
    }
}

#[tokio::test]
async fn an_unverified_channel_needs_the_order_s_email_and_a_second_fact() {
    let w = world(false, Duration::from_secs(6)).await;
    let ig = "17841400000000042";
    let thread = w
        .says(Channel::Instagram, ig, "ig.mid.1", "Where's my order #1001?")
        .await;
    assert_eq!(last_ai(&thread), PROOF_REQUEST);
    // The e-mail alone is not enough; with the postcode it is.
    let thread = w.says(Channel::Instagram, ig, "ig.mid.2", "It's ana@example.com").await;
    assert_eq!(last_ai(&thread), PROOF_REQUEST, "the e-mail alone reveals nothing");
    let thread = w
        .says(
            Channel::Instagram,
            ig,
            "ig.mid.3",
            "ana@example.com and my postcode is SW1A 1AA",
        )
        .await;
    let answer = last_ai(&thread);
    assert!(answer.contains("#1001") && answer.contains("JD0142"), "{answer}");
    // No number and no verified identity: the number is asked for.
    let thread = w
        .says(
            Channel::Instagram,
            "17841400000000043",
            "ig.mid.4",
            "where is my parcel? it has not arrived",
        )
        .await;
    assert_eq!(last_ai(&thread), NUMBER_REQUEST);
}

#[tokio::test]
async fn a_connector_that_times_out_hands_off_with_its_reason() {
    let w = world(true, Duration::from_millis(400)).await;
    w.shop.delay_next(5, Duration::from_secs(2));
    let thread = w
        .says(Channel::Whatsapp, ANA, "wamid.slow.1", "Where is my order #1001?")
        .await;
    assert!(
        thread.iter().all(|m| m.author != Author::Ai),
        "no answer was made up: {thread:?}"
    );
    let tickets = w.tickets().await;
    assert_eq!(tickets.len(), 1, "handed off");
    let t = &tickets[0];
    assert!(t.tags.contains(&"handoff:shop_unavailable".to_owned()), "{:?}", t.tags);
    let reason = t.handoff_reason.clone().unwrap_or_default();
    assert!(reason.contains("did not answer in time"), "{reason}");
    let orders = t.orders.as_ref().unwrap();
    assert!(orders.orders.is_empty() && orders.error.as_deref().is_some_and(|e| e.contains("in time")));
}

#[tokio::test]
async fn a_handoff_ticket_carries_the_customer_s_orders_and_routes_on_them() {
    let w = world(true, Duration::from_secs(6)).await;
    // A rule on order facts: a shipped order's problems go to the shipping team.
    let mut routing = w.env.store.get_tenant(&demo()).await.unwrap().routing;
    routing.rules.insert(
        0,
        serde_json::from_value(serde_json::json!({
            "id": "shipped-orders",
            "name": "Orders on their way",
            "conditions": [
                {"field": "order", "fact": "shipment_status", "any": ["in_transit"]},
                {"field": "order_total", "at_least": "50"}
            ],
            "actions": {"add_tags": ["parcel"], "priority": "high"}
        }))
        .unwrap(),
    );
    w.env.store.set_routing(&demo(), &routing).await.unwrap();
    let thread = w
        .says(
            Channel::Whatsapp,
            ANA,
            "wamid.human.1",
            "My order #1001 arrived damaged, I want to talk to a human",
        )
        .await;
    assert!(thread
        .iter()
        .all(|m| m.author != Author::Ai || !m.text.contains("JD0142")));
    let tickets = w.tickets().await;
    assert_eq!(tickets.len(), 1);
    let t = &tickets[0];
    let orders = t.orders.as_ref().expect("orders on the ticket");
    let names: Vec<&str> = orders.orders.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["#1001", "#1002"], "Ana's recent orders, newest first");
    assert_eq!(orders.about.as_deref(), Some("1001"));
    let summary = t.ai_summary.clone().unwrap_or_default();
    assert!(summary.contains("About Order #1001"), "{summary}");
    // The router matches the rule on the order's facts.
    let routing = baton_tests::take_batch(&w.env, "RoutingQueue").await;
    let router = router::Deps {
        store: Arc::new(w.env.store.clone()),
        queues: baton_tests::routing_and_notify_queues(&w.env),
        clock: Arc::new(baton_domain::SystemClock),
    };
    let _ = router::handler(
        &router,
        lambda_runtime::LambdaEvent::new(routing, lambda_runtime::Context::default()),
    )
    .await
    .unwrap();
    let routed = w.env.store.get_ticket(&demo(), t.number).await.unwrap();
    assert!(routed.tags.contains(&"parcel".to_owned()), "{:?}", routed.tags);
    assert_eq!(routed.priority, baton_domain::ticket::Priority::High);
}

/// The agent API with the world's shops.
fn api(w: &World) -> agent_api::Deps {
    agent_api::Deps {
        shops: w.triage.shops.clone(),
        ..baton_tests::agent_api_deps(&w.env, Arc::new(w.env.store.clone()))
    }
}

#[tokio::test]
async fn admins_connect_check_and_disconnect_the_shop_and_the_credential_never_comes_back() {
    let w = world(false, Duration::from_secs(6)).await;
    let api = api(&w);
    let admin = agent_token(&w.env, "demo", "boss@demo.example", "admin").await;
    let agent = agent_token(&w.env, "demo", "ada@demo.example", "agent").await;
    let shopify = |token: &str| json!({"kind": "shopify", "domain": w.shop.shopify_domain(), "access_token": token});

    // Agents may not; bad fields are all named; a refused token is not stored.
    let (status, _, _) = agent_call(&api, &agent, "PUT", "/v1/shop", Some(shopify(TOKEN))).await;
    assert_eq!(status, 403);
    let (status, _, body) = agent_call(
        &api,
        &admin,
        "PUT",
        "/v1/shop",
        Some(json!({"kind": "connector", "url": "https://10.0.0.7/orders", "signing_secret": "short"})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let fields = &body["error"]["fields"];
    assert!(
        fields["url"].is_string() && fields["signing_secret"].is_string(),
        "{body}"
    );
    let (status, _, body) = agent_call(
        &api,
        &admin,
        "PUT",
        "/v1/shop",
        Some(shopify("shpat_wrong_0000000000000000")),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("shop_refused")),
        "{body}"
    );
    let (_, _, shown) = agent_call(&api, &admin, "GET", "/v1/shop", None).await;
    assert_eq!(shown["kind"], "shopify", "the earlier connection stays: {shown}");
    // A shop that does not answer: 502, nothing changed.
    w.shop.fail_next(1, 503);
    let (status, _, body) = agent_call(&api, &admin, "PUT", "/v1/shop", Some(shopify(TOKEN))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (502, Some("shop_unavailable")),
        "{body}"
    );

    // Connected to the signed connector: checked first, then stored; the secret is never shown.
    let connector = json!({"kind": "connector", "url": w.shop.connector_url(), "signing_secret": SECRET});
    let (status, _, body) = agent_call(&api, &admin, "PUT", "/v1/shop", Some(connector)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["kind"].as_str(), body["name"].as_str()),
        (Some("connector"), Some("Demo shop"))
    );
    let (_, _, shown) = agent_call(&api, &admin, "GET", "/v1/shop", None).await;
    assert_eq!(shown["secret_stored"], true);
    for text in [body.to_string(), shown.to_string()] {
        assert!(!text.contains(SECRET) && !text.contains(TOKEN), "{text}");
    }
    let (status, _, health) = agent_call(&api, &admin, "POST", "/v1/shop/check", None).await;
    assert_eq!((status, health["healthy"].as_bool()), (200, Some(true)), "{health}");
    w.shop.fail_next(1, 401);
    let (_, _, health) = agent_call(&api, &admin, "POST", "/v1/shop/check", None).await;
    assert_eq!(
        (health["healthy"].as_bool(), health["error"].as_str()),
        (Some(false), Some("refused")),
        "{health}"
    );

    // Disconnected: settings and credential gone; order questions go to the KB again.
    let (status, _, body) = agent_call(&api, &admin, "DELETE", "/v1/shop", None).await;
    assert_eq!((status, body["connected"].as_bool()), (200, Some(false)));
    assert!(w.env.store.get_shop_secret(&demo()).await.unwrap().is_none());
    let (status, _, _) = agent_call(&api, &admin, "POST", "/v1/shop/check", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_agent_refreshes_a_ticket_s_orders_and_sees_them_in_the_ticket() {
    let w = world(false, Duration::from_secs(6)).await;
    let api = api(&w);
    let agent = agent_token(&w.env, "demo", "ada@demo.example", "agent").await;
    w.says(
        Channel::Whatsapp,
        ANA,
        "wamid.refresh.1",
        "Order #1001 never came, I want to speak to a person",
    )
    .await;
    let number = w.tickets().await[0].number.0;
    // The parcel was delivered since: the refresh shows it.
    let mut orders = demo_orders();
    let f = &mut orders[0].fulfilments[0];
    f.status = baton_domain::commerce::ShipmentStatus::Delivered;
    w.shop.set_orders(orders);
    let refresh = format!("/v1/tickets/{number}/orders/refresh");
    let version = w.tickets().await[0].version;
    let stale = json!({"version": version + 1});
    let (status, _, body) = agent_call(&api, &agent, "POST", &refresh, Some(stale)).await;
    assert_eq!(status, 409, "a stale version is refused: {body}");
    let (status, _, body) = agent_call(&api, &agent, "POST", &refresh, Some(json!({"version": version}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], version + 1);
    let about = &body["orders"];
    assert_eq!(about["about"], "1001");
    assert_eq!(about["orders"][0]["fulfilments"][0]["status"], "delivered", "{about}");
    let (_, _, detail) = agent_call(&api, &agent, "GET", &format!("/v1/tickets/{number}"), None).await;
    assert_eq!(detail["ticket"]["orders"]["orders"][0]["name"], "#1001", "{detail}");
    let (status, _, _) = agent_call(
        &api,
        &agent,
        "POST",
        "/v1/tickets/999/orders/refresh",
        Some(json!({"version": 1})),
    )
    .await;
    assert_eq!(status, 404);
}
