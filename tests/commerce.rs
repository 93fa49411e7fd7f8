//! Order lookups against the local shop stand-in: Shopify's GraphQL shapes (pages,
//! throttling, refused tokens, a stalled shop) and the signed generic connector, through
//! the real HTTP adapter, and the rule that shows an order only to its owner.

use baton_aws::shop::HttpCommerce;
use baton_domain::commerce::{
    disclosure, Commerce, CommerceError, Disclosure, KnownIdentity, OrderQuery, ShipmentStatus, ShopAccess,
    ShopConnection,
};
use baton_domain::secrets::Secret;
use baton_domain::TenantId;
use baton_local::shop_standin::{demo_orders, ShopStandin};
use std::time::{Duration, Instant};

const TOKEN: &str = "shpat_local_0123456789abcdef";
const SECRET: &str = "whsec_local_connector_secret";

async fn shop() -> ShopStandin {
    ShopStandin::start(0, "Demo shop", TOKEN, SECRET, demo_orders())
        .await
        .unwrap()
}

fn shopify(s: &ShopStandin, token: &str) -> ShopAccess {
    ShopAccess {
        tenant: TenantId::new("demo").unwrap(),
        connection: ShopConnection::Shopify {
            domain: s.shopify_domain(),
            api_version: "2025-10".into(),
        },
        secret: Secret::new(token),
    }
}

fn connector(s: &ShopStandin, secret: &str) -> ShopAccess {
    ShopAccess {
        tenant: TenantId::new("demo").unwrap(),
        connection: ShopConnection::Connector { url: s.connector_url() },
        secret: Secret::new(secret),
    }
}

fn number(n: &str) -> OrderQuery {
    OrderQuery::Number(n.into())
}

#[tokio::test]
async fn shopify_orders_are_found_by_number_email_and_phone_in_baton_s_shape() {
    let s = shop().await;
    let c = HttpCommerce::default();
    let access = shopify(&s, TOKEN);
    let found = c.find_orders(&access, &number("#1001")).await.unwrap();
    assert_eq!(found.len(), 1);
    let o = &found[0];
    assert_eq!((o.name.as_str(), o.total.to_string().as_str()), ("#1001", "59.90 EUR"));
    let f = o.latest_fulfilment().unwrap();
    assert_eq!(f.status, ShipmentStatus::InTransit);
    assert_eq!(f.tracking_url.as_deref(), Some("https://track.example/JD0142"));
    assert!(c.find_orders(&access, &number("9999")).await.unwrap().is_empty());

    let by_email = OrderQuery::Customer {
        email: Some("ANA@example.com".into()),
        phone: None,
        limit: 5,
    };
    let names: Vec<String> = c
        .find_orders(&access, &by_email)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(names, ["#1001", "#1002"], "newest first");
    // A phone goes through Shopify's customers first, then their orders.
    let by_phone = OrderQuery::Customer {
        email: None,
        phone: Some("15550100002".into()),
        limit: 5,
    };
    let names: Vec<String> = c
        .find_orders(&access, &by_phone)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(names, ["#1003"]);
    let asked: Vec<String> = s
        .requests()
        .iter()
        .map(|r| r.body["query"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(asked.iter().any(|q| q.contains("customers(")));

    // Pages follow the cursor: 24 orders of one customer come in pages of 10.
    let template = demo_orders().remove(0);
    let many: Vec<_> = (0..24)
        .map(|i| {
            let mut o = template.clone();
            o.number = format!("{}", 3000 + i);
            o.name = format!("#{}", o.number);
            o.created_at = baton_domain::Timestamp::from_unix_millis(1_764_000_000_000 + i * 60_000).unwrap();
            o
        })
        .collect();
    s.set_orders(many);
    let all = OrderQuery::Customer {
        email: Some("ana@example.com".into()),
        phone: None,
        limit: 25,
    };
    let before = s.requests().len();
    let got = c.find_orders(&access, &all).await.unwrap();
    assert_eq!(got.len(), 24);
    assert_eq!(
        (got[0].name.as_str(), got[23].name.as_str()),
        ("#3023", "#3000"),
        "newest first across pages"
    );
    let pages: Vec<_> = s.requests()[before..]
        .iter()
        .map(|r| r.body["variables"]["after"].clone())
        .collect();
    assert_eq!(pages.len(), 3);
    assert!(pages[0].is_null() && pages[1].is_string() && pages[2].is_string() && pages[1] != pages[2]);
}

#[tokio::test]
async fn a_throttled_shopify_answer_is_retried_after_the_bucket_refills() {
    let s = shop().await;
    let c = HttpCommerce::default();
    s.throttle_next(1);
    let started = Instant::now();
    let found = c.find_orders(&shopify(&s, TOKEN), &number("1001")).await.unwrap();
    assert_eq!(found.len(), 1, "answered after the retry");
    // The stand-in's bucket holds 2 of the 52 points asked, refilling 50 a second.
    assert!(started.elapsed() >= Duration::from_millis(900), "waited for the bucket");
    let statuses: Vec<u16> = s.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200]);
    // Throttled beyond the retries: told apart, not a made-up empty answer.
    s.throttle_next(10);
    let err = c.find_orders(&shopify(&s, TOKEN), &number("1001")).await.unwrap_err();
    assert!(matches!(err, CommerceError::Throttled(_)), "{err:?}");
}

#[tokio::test]
async fn refused_failing_and_stalled_shops_keep_their_kind() {
    let s = shop().await;
    let c = HttpCommerce::default();
    let err = c
        .find_orders(&shopify(&s, "shpat_wrong_token_000000"), &number("1001"))
        .await
        .unwrap_err();
    assert!(matches!(err, CommerceError::Refused(_)), "{err:?}");
    assert_eq!(s.requests().last().unwrap().token_ok, Some(false));
    s.fail_next(1, 503);
    let err = c.find_orders(&shopify(&s, TOKEN), &number("1001")).await.unwrap_err();
    assert!(matches!(err, CommerceError::Unavailable(_)), "{err:?}");
    // A shop that stalls past the call's limit is a timeout.
    s.delay_next(1, Duration::from_secs(7));
    let err = c.find_orders(&shopify(&s, TOKEN), &number("1001")).await.unwrap_err();
    assert_eq!(err, CommerceError::Timeout);
    assert_eq!(c.check(&shopify(&s, TOKEN)).await.unwrap().name, "Demo shop");
}

#[tokio::test]
async fn the_connector_s_signed_requests_are_verified_by_the_shop() {
    let s = shop().await;
    let c = HttpCommerce::default();
    let access = connector(&s, SECRET);
    assert_eq!(c.check(&access).await.unwrap().name, "Demo shop");
    let found = c.find_orders(&access, &number("#1003")).await.unwrap();
    assert_eq!(found[0].name, "#1003");
    let mine = OrderQuery::Customer {
        email: None,
        phone: Some("+1 555 010 0001".into()),
        limit: 1,
    };
    assert_eq!(c.find_orders(&access, &mine).await.unwrap()[0].name, "#1001");
    assert!(s
        .requests()
        .iter()
        .all(|r| r.format == "connector" && r.signature_ok == Some(true)));
    // The wrong secret is refused by the shop and reported as refused.
    let err = c
        .find_orders(&connector(&s, "not-the-secret"), &number("1003"))
        .await
        .unwrap_err();
    assert!(matches!(err, CommerceError::Refused(_)), "{err:?}");
    assert_eq!(s.requests().last().unwrap().signature_ok, Some(false));
    // 429 with Retry-After is waited for and retried.
    s.throttle_next(1);
    assert_eq!(c.find_orders(&access, &number("1003")).await.unwrap().len(), 1);
}

#[tokio::test]
async fn an_order_from_the_shop_is_shown_only_to_its_owner() {
    let s = shop().await;
    let c = HttpCommerce::default();
    let order = c
        .find_orders(&shopify(&s, TOKEN), &number("1001"))
        .await
        .unwrap()
        .remove(0);
    let owner = KnownIdentity {
        verified_phone: Some("15550100001".into()),
        ..Default::default()
    };
    assert_eq!(disclosure(&order, &owner), Disclosure::Reveal);
    let stranger = KnownIdentity {
        verified_phone: Some("15550100002".into()),
        said: vec!["where is order #1001".into(), "ana@example.com".into()],
        ..Default::default()
    };
    assert_eq!(disclosure(&order, &stranger), Disclosure::NeedProof);
}
