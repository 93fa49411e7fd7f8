//! The agent API through its handler, against the local endpoint: every route's happy
//! path, validation, tenant isolation (404), admin-only routes (403), stale versions (409),
//! concurrent takeover, limits, the OpenAPI document, and `infra/local/token`.

use agent_api::auth::{agent_id_for_email, mint_local, Authenticator, LocalClaims, LOCAL_AUDIENCE};
use agent_api::{handler, Access, Deps, ROUTES};
use baton_domain::conversation::Owner;
use baton_domain::directory::Role;
use baton_domain::outbound::OutboundMessage;
use baton_domain::ports::{ConversationStore, DirectoryStore, TenantStore, TicketStore};
use baton_domain::ticket::{Priority, TimelineKind};
use baton_domain::{AgentId, Channel, Clock, ConversationId, FixedClock, SystemClock, TenantId};
use baton_tests::{drain_queue, http_request, local_secret, root, seeded_env, TestEnv};
use serde_json::{json, Value};

fn deps(env: &TestEnv, clock: Box<dyn Clock>) -> Deps {
    Deps {
        clock,
        ..baton_tests::agent_api_deps(env, std::sync::Arc::new(env.store.clone()))
    }
}

/// A token, and the tenant and agent it names created through `infra/local/token`'s code.
async fn token(env: &TestEnv, tenant: &str, email: &str, role: &str) -> String {
    baton_tests::agent_token(env, tenant, email, role).await
}

fn mint(tenant: &str, agent: &str, role: &str, ttl: i64) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    mint_local(
        &local_secret("LOCAL_JWT_SECRET"),
        &LocalClaims {
            sub: agent.into(),
            aud: LOCAL_AUDIENCE.into(),
            iat: now,
            exp: now + ttl,
            email: format!("{agent}@example.com"),
            tenant: tenant.into(),
            agent_id: agent.into(),
            role: role.into(),
        },
    )
}

async fn call(deps: &Deps, token: Option<&str>, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    let req = http_request(method, path, query, &headers, body.as_ref(), "198.51.100.9");
    let resp = handler(deps, req).await.unwrap();
    let status = resp.status().as_u16();
    let body = serde_json::from_slice(resp.body().as_ref()).unwrap_or(Value::Null);
    if status >= 400 {
        // Every error has the one shape.
        assert!(
            body["error"]["code"].is_string() && body["error"]["message"].is_string(),
            "{body}"
        );
    }
    (status, body)
}

/// A handed-off ticket as triage leaves it (see `baton_tests::handed_off_ticket`).
async fn ticket(env: &TestEnv, tenant: &str, priority: Priority, tags: &[&str]) -> u64 {
    let t = TenantId::new(tenant).unwrap();
    baton_tests::handed_off_ticket(env, &t, "My parcel never arrived", priority, tags)
        .await
        .0
}

#[tokio::test]
async fn agents_work_the_queue_and_every_action_lands_on_the_timeline() {
    let env = seeded_env().await;
    let deps = deps(&env, Box::new(SystemClock));
    let admin = token(&env, "demo", "ada@demo.example", "admin").await;
    let agent = token(&env, "demo", "bo@demo.example", "agent").await;
    let low = ticket(&env, "demo", Priority::Low, &[]).await;
    let urgent = ticket(&env, "demo", Priority::Urgent, &["billing"]).await;
    let normal = ticket(&env, "demo", Priority::Normal, &[]).await;

    // The queue: most urgent first, paged with an opaque cursor.
    let (status, page) = call(&deps, Some(&agent), "GET", "/v1/tickets?limit=2", None).await;
    assert_eq!(status, 200, "{page}");
    let numbers: Vec<u64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, vec![urgent, normal]);
    let row = &page["items"][0];
    assert_eq!(row["customer"]["name"], "Carla Customer");
    assert_eq!(
        (row["status"].as_str(), row["priority"].as_str()),
        (Some("open"), Some("urgent"))
    );
    assert_eq!(
        (row["sla_state"].as_str(), row["source"].as_str()),
        (Some("none"), Some("whatsapp"))
    );
    assert!(row["last_activity_at"].is_string() && row["assignee"].is_null());
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, next) = call(
        &deps,
        Some(&agent),
        "GET",
        &format!("/v1/tickets?limit=2&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(next["items"][0]["number"], low);
    assert!(next["next_cursor"].is_null());
    for (query, expected) in [
        ("priority=urgent", vec![urgent]),
        ("tag=billing", vec![urgent]),
        ("assignee=unassigned&channel=whatsapp", vec![urgent, normal, low]),
        ("sla=none&status=open", vec![urgent, normal, low]),
        ("status=closed", vec![]),
        ("channel=email", vec![]),
    ] {
        let (status, page) = call(&deps, Some(&agent), "GET", &format!("/v1/tickets?{query}"), None).await;
        assert_eq!(status, 200, "{query}: {page}");
        let got: Vec<u64> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["number"].as_u64().unwrap())
            .collect();
        assert_eq!(got, expected, "{query}");
    }
    for bad in [
        "status=nope",
        "priority=meh",
        "sla=soon",
        "limit=1000",
        "sort=random",
        "cursor=forged",
    ] {
        let (status, body) = call(&deps, Some(&agent), "GET", &format!("/v1/tickets?{bad}"), None).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "validation_failed");
    }

    // Detail: facts, customer and identities, and the thread in order.
    let (status, detail) = call(&deps, Some(&agent), "GET", &format!("/v1/tickets/{urgent}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(detail["ticket"]["handoff_reason"], "the customer asked for a human");
    assert_eq!(detail["customer"]["identities"][0]["channel"], "whatsapp");
    assert_eq!(detail["conversation_owner"], "human");
    let kinds: Vec<&str> = detail["thread"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["message", "event"]);
    let version = detail["ticket"]["version"].as_u64().unwrap();

    // Reply: on the timeline, queued for the customer's channel, parks the ticket.
    let path = format!("/v1/tickets/{urgent}");
    let (status, r) = call(
        &deps,
        Some(&agent),
        "POST",
        &format!("{path}/replies"),
        Some(json!({ "version": version, "text": "We are on it, Carla." })),
    )
    .await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(r["ticket"]["status"], "waiting_on_customer");
    assert_eq!(r["ticket"]["version"], version + 1);
    let out: Vec<OutboundMessage> = drain_queue(&env, "OutboundQueue").await;
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].text.as_str(), out[0].channel),
        ("We are on it, Carla.", Channel::Whatsapp)
    );
    assert_eq!(out[0].message_id.to_string(), r["entry_id"].as_str().unwrap());
    // The thread shows the reply waiting for its sender, and the facts WhatsApp's
    // window, opened by the customer's message a moment ago.
    let (_, detail) = call(&deps, Some(&agent), "GET", &path, None).await;
    let reply = detail["thread"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == r["entry_id"])
        .expect("the reply is on the thread");
    assert_eq!(reply["delivery"], "queued");
    let window = &detail["reply_window"];
    assert_eq!(window["state"], "open", "{window}");
    assert!(window["closes_at"].as_str().unwrap() > window["last_customer_message_at"].as_str().unwrap());

    // The same version again is stale: 409 with the ticket as it is now.
    let (status, stale) = call(
        &deps,
        Some(&agent),
        "POST",
        &format!("{path}/replies"),
        Some(json!({ "version": version, "text": "again" })),
    )
    .await;
    assert_eq!(status, 409);
    assert_eq!(stale["current"]["version"], version + 1);
    let v = version + 1;

    // A note is internal: on the timeline, never queued.
    let (status, n) = call(
        &deps,
        Some(&agent),
        "POST",
        &format!("{path}/notes"),
        Some(json!({ "version": v, "text": "VIP, be quick" })),
    )
    .await;
    assert_eq!(status, 201, "{n}");
    assert!(drain_queue::<OutboundMessage>(&env, "OutboundQueue").await.is_empty());
    let v = v + 1;

    // Assign, then the agent's own queue shows it and their capacity count moved.
    let bo = agent_id_for_email("bo@demo.example").to_string();
    let (status, a) = call(
        &deps,
        Some(&admin),
        "POST",
        &format!("{path}/assign"),
        Some(json!({ "version": v, "agent_id": bo })),
    )
    .await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["ticket"]["assignee"], bo.as_str());
    let (_, mine) = call(
        &deps,
        Some(&agent),
        "GET",
        "/v1/tickets?assignee=me&status=waiting_on_customer",
        None,
    )
    .await;
    assert_eq!(mine["items"][0]["number"], urgent);
    let (_, me) = call(&deps, Some(&agent), "GET", &format!("/v1/agents/{bo}"), None).await;
    assert_eq!(me["open_count"], 0, "a ticket waiting on the customer holds no place");
    let (status, _) = call(
        &deps,
        Some(&admin),
        "POST",
        &format!("{path}/assign"),
        Some(json!({ "version": v + 1, "agent_id": "nobody" })),
    )
    .await;
    assert_eq!(status, 422);
    let v = v + 1;

    // PATCH: priority, tags and status in one write; a transition the machine forbids is 422.
    let (status, p) = call(
        &deps,
        Some(&agent),
        "PATCH",
        &path,
        Some(json!({ "version": v, "priority": "high", "tags": ["Billing", "late"], "status": "waiting_on_team" })),
    )
    .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(
        (p["ticket"]["priority"].as_str(), p["ticket"]["status"].as_str()),
        (Some("high"), Some("waiting_on_team"))
    );
    assert_eq!(p["ticket"]["tags"], json!(["billing", "late"]));
    let v = v + 1;
    let (status, bad) = call(
        &deps,
        Some(&agent),
        "PATCH",
        &path,
        Some(json!({ "version": v, "status": "nonsense", "priority": "meh" })),
    )
    .await;
    assert_eq!(status, 422);
    assert!(bad["error"]["fields"]["status"].is_string() && bad["error"]["fields"]["priority"].is_string());
    let (status, bad) = call(
        &deps,
        Some(&agent),
        "POST",
        &format!("{path}/reopen"),
        Some(json!({ "version": v })),
    )
    .await;
    assert_eq!(
        (status, bad["error"]["code"].as_str()),
        (422, Some("invalid_transition"))
    );

    // Close (a human answered), reopen, force close (admins only).
    let (status, c) = call(
        &deps,
        Some(&agent),
        "POST",
        &format!("{path}/close"),
        Some(json!({ "version": v })),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["ticket"]["status"], "closed");
    let (_, me) = call(&deps, Some(&agent), "GET", &format!("/v1/agents/{bo}"), None).await;
    assert_eq!(me["open_count"], 0, "closing gives the assignment back");
    let (status, _) = call(
        &deps,
        Some(&agent),
        "POST",
        &format!("{path}/reopen"),
        Some(json!({ "version": v + 1 })),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &deps,
        Some(&agent),
        "POST",
        &format!("{path}/force-close"),
        Some(json!({ "version": v + 2 })),
    )
    .await;
    assert_eq!(status, 403);
    let (status, fc) = call(
        &deps,
        Some(&admin),
        "POST",
        &format!("{path}/force-close"),
        Some(json!({ "version": v + 2 })),
    )
    .await;
    assert_eq!((status, fc["ticket"]["status"].as_str()), (200, Some("closed")));

    // Closing without a human answer is refused; force close skips the check.
    let (status, body) = call(
        &deps,
        Some(&agent),
        "POST",
        &format!("/v1/tickets/{normal}/close"),
        Some(json!({ "version": 1 })),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("invalid_transition"))
    );

    // Every action is on the timeline with its actor, in order.
    let (_, detail) = call(&deps, Some(&agent), "GET", &path, None).await;
    let events: Vec<String> = detail["thread"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap_or(e["kind"].as_str().unwrap()).to_owned())
        .collect();
    // The SLA clock's own events (tests/sla.rs) are between them.
    assert!(events.iter().any(|e| e == "sla"), "{events:?}");
    let events: Vec<String> = events.into_iter().filter(|e| e != "sla").collect();
    let expected = [
        "message",
        "handed_off",
        "message",
        "note",
        "assigned",
        "status_changed",
        "priority_changed",
        "tags_changed",
        "closed",
        "reopened",
        "force_closed",
    ];
    assert_eq!(events, expected);
    let note = detail["thread"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "note")
        .unwrap();
    assert_eq!(
        (note["actor"].as_str(), note["agent_id"].as_str()),
        (Some("agent"), Some(bo.as_str()))
    );

    // Return to the AI: the ticket resolves and the AI owns the conversation afresh.
    let (status, r) = call(
        &deps,
        Some(&agent),
        "POST",
        &format!("/v1/tickets/{low}/return-to-ai"),
        Some(json!({ "version": 1 })),
    )
    .await;
    assert_eq!((status, r["ticket"]["status"].as_str()), (200, Some("resolved")), "{r}");
    let conv = ConversationId(
        r["ticket"]["source"]["conversation_id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
    );
    let c = env
        .store
        .get_conversation(&TenantId::new("demo").unwrap(), conv)
        .await
        .unwrap();
    assert_eq!(c.owner, Owner::Ai);
    assert!(c.context_start.is_some());
}

#[tokio::test]
async fn two_agents_taking_over_at_once_one_wins() {
    let env = seeded_env().await;
    let deps = deps(&env, Box::new(SystemClock));
    let ana = token(&env, "demo", "ana@demo.example", "agent").await;
    let bo = token(&env, "demo", "bo@demo.example", "agent").await;
    for _ in 0..3 {
        let n = ticket(&env, "demo", Priority::Normal, &[]).await;
        let path = format!("/v1/tickets/{n}/takeover");
        let body = json!({ "version": 1 });
        let (a, b) = tokio::join!(
            call(&deps, Some(&ana), "POST", &path, Some(body.clone())),
            call(&deps, Some(&bo), "POST", &path, Some(body.clone())),
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
        let winner = if a.0 == 200 { &a.1 } else { &b.1 };
        let loser = if a.0 == 409 { &a.1 } else { &b.1 };
        assert_eq!(loser["current"]["assignee"], winner["ticket"]["assignee"]);
        let t = env
            .store
            .get_ticket(&TenantId::new("demo").unwrap(), baton_domain::TicketNumber(n))
            .await
            .unwrap();
        assert_eq!(t.version, 2, "exactly one write");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_is_a_limit_that_only_an_admin_may_exceed_on_the_record() {
    let env = seeded_env().await;
    let deps = deps(&env, Box::new(SystemClock));
    let demo = TenantId::new("demo").unwrap();
    let admin = token(&env, "demo", "root@demo.example", "admin").await;
    let ana_token = token(&env, "demo", "ana@demo.example", "agent").await;
    let ana = agent_id_for_email("ana@demo.example");
    let mut profile = env.store.get_agent(&demo, &ana).await.unwrap();
    profile.max_open = 2;
    env.store.update_agent(&profile).await.unwrap();

    // Five assignments to Ana at once: her two places go to two of them, exactly.
    let mut tickets = Vec::new();
    for _ in 0..5 {
        tickets.push(ticket(&env, "demo", Priority::Normal, &[]).await);
    }
    let assign = |n: u64, extra: Value| {
        let mut body = json!({ "version": 1, "agent_id": ana.to_string() });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        (format!("/v1/tickets/{n}/assign"), body)
    };
    let calls = tickets.iter().map(|n| {
        let (path, body) = assign(*n, json!({}));
        let deps = &deps;
        let admin = admin.clone();
        async move { call(deps, Some(&admin), "POST", &path, Some(body)).await }
    });
    let results = futures::future::join_all(calls).await;
    let ok = results.iter().filter(|r| r.0 == 200).count();
    let full: Vec<_> = results.iter().filter(|r| r.0 == 409).collect();
    assert_eq!((ok, full.len()), (2, 3), "{results:?}");
    assert!(full.iter().all(|r| r.1["error"]["code"] == "at_capacity"));
    assert_eq!(env.store.get_agent(&demo, &ana).await.unwrap().open_count, 2);

    // Taking over counts the same way.
    let spare = ticket(&env, "demo", Priority::Normal, &[]).await;
    let (status, body) = call(
        &deps,
        Some(&ana_token),
        "POST",
        &format!("/v1/tickets/{spare}/takeover"),
        Some(json!({ "version": 1 })),
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("at_capacity")));

    // Only an admin may go over, and the timeline says so.
    let over = results.iter().position(|r| r.0 == 409).unwrap();
    let (path, body) = assign(tickets[over], json!({ "over_capacity": true }));
    let (status, _) = call(&deps, Some(&ana_token), "POST", &path, Some(body.clone())).await;
    assert_eq!(status, 403, "an agent cannot override capacity");
    let (status, done) = call(&deps, Some(&admin), "POST", &path, Some(body)).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(env.store.get_agent(&demo, &ana).await.unwrap().open_count, 3);
    let timeline = env
        .store
        .list_timeline(
            &demo,
            baton_domain::TicketNumber(tickets[over]),
            &baton_domain::ports::PageRequest::first(20),
        )
        .await
        .unwrap()
        .items;
    assert!(timeline.iter().any(|e| matches!(&e.entry,
        TimelineKind::Event { name, detail } if name == "assigned" && detail["over_capacity"] == true)));
}

#[tokio::test]
async fn the_directory_decides_who_may_act_and_as_what_from_the_next_request_on() {
    let env = seeded_env().await;
    let deps = deps(&env, Box::new(SystemClock));
    let demo = TenantId::new("demo").unwrap();
    let cy_token = token(&env, "demo", "cy@demo.example", "admin").await;
    let cy = agent_id_for_email("cy@demo.example");
    assert_eq!(
        call(&deps, Some(&cy_token), "GET", "/v1/ai/settings", None).await.0,
        200
    );
    assert_eq!(
        call(
            &deps,
            Some(&cy_token),
            "PUT",
            "/v1/ai/settings",
            Some(json!({ "confidence_threshold": 0.7 }))
        )
        .await
        .0,
        200
    );

    // Demoted in the directory: the same token is an agent's on the next request.
    let mut profile = env.store.get_agent(&demo, &cy).await.unwrap();
    profile.role = Role::Agent;
    env.store.update_agent(&profile).await.unwrap();
    let (status, body) = call(
        &deps,
        Some(&cy_token),
        "PUT",
        "/v1/ai/settings",
        Some(json!({ "confidence_threshold": 0.7 })),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(call(&deps, Some(&cy_token), "GET", "/v1/tickets", None).await.0, 200);

    // Deactivated by an admin through the API: refused everywhere, at once.
    let admin = token(&env, "demo", "root@demo.example", "admin").await;
    let (status, view) = call(
        &deps,
        Some(&admin),
        "PUT",
        &format!("/v1/agents/{cy}"),
        Some(json!({ "name": "Cy", "email": "cy@demo.example", "role": "agent", "active": false })),
    )
    .await;
    assert_eq!((status, view["active"].as_bool()), (200, Some(false)), "{view}");
    let (status, body) = call(&deps, Some(&cy_token), "GET", "/v1/tickets", None).await;
    assert_eq!(status, 403, "{body}");

    // A verified token for someone the directory does not know, even claiming admin.
    let stranger = mint("demo", "mallory-demo-example", "admin", 3600);
    let (status, body) = call(&deps, Some(&stranger), "GET", "/v1/tickets", None).await;
    assert_eq!(status, 403, "{body}");
    assert!(env
        .store
        .get_agent(&demo, &AgentId::new("mallory-demo-example").unwrap())
        .await
        .is_err());
}

#[tokio::test]
async fn a_new_tenants_first_admin_comes_from_the_first_admin_token_and_nobody_after() {
    let env = seeded_env().await;
    let deps = deps(&env, Box::new(SystemClock));
    let fresh = TenantId::new("fresh").unwrap();
    env.store
        .create_tenant(
            &baton_domain::tenant::Tenant {
                id: fresh.clone(),
                name: "Fresh".into(),
                channels: Default::default(),
                ai: Default::default(),
                created_at: SystemClock.now(),
                kb_revision: 0,
                kb_vectors_revision: 0,
                quotas: Default::default(),
                whatsapp_health: None,
                instagram_health: None,
                channels_revision: 0,
                routing: Default::default(),
                sla: Default::default(),
                shop: None,
                time_zone: "UTC".into(),
                reports: Default::default(),
            },
            &[],
        )
        .await
        .unwrap();
    // An agent-role token cannot bootstrap a tenant.
    let agent_first = mint("fresh", "eve-fresh-example", "agent", 3600);
    assert_eq!(call(&deps, Some(&agent_first), "GET", "/v1/tickets", None).await.0, 403);
    let first = mint("fresh", "fay-fresh-example", "admin", 3600);
    assert_eq!(call(&deps, Some(&first), "GET", "/v1/agents", None).await.0, 200);
    let fay = env
        .store
        .get_agent(&fresh, &AgentId::new("fay-fresh-example").unwrap())
        .await
        .expect("the first admin is in the directory");
    assert_eq!((fay.role, fay.active), (Role::Admin, true));
    // The directory is no longer empty: another admin claim gets nothing.
    let second = mint("fresh", "gus-fresh-example", "admin", 3600);
    assert_eq!(call(&deps, Some(&second), "GET", "/v1/agents", None).await.0, 403);
}

/// An API Gateway HTTP API event whose JWT authorizer verified a Cognito ID token: the
/// claims arrive in `requestContext.authorizer.jwt.claims`, and no local secret is set.
fn gateway_event(path: &str, claims: Value) -> lambda_http::Request {
    let event = json!({
        "version": "2.0", "routeKey": "ANY /v1/{proxy+}", "rawPath": path, "rawQueryString": "",
        "headers": { "authorization": "Bearer eyJ...", "content-type": "application/json" },
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com", "domainPrefix": "api",
            "http": { "method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "198.51.100.9", "userAgent": "t" },
            "requestId": "r", "routeKey": "ANY /v1/{proxy+}", "stage": "$default", "time": "22/Nov/2026:09:30:00 +0000", "timeEpoch": 0,
            "authorizer": { "jwt": { "claims": claims, "scopes": null } }
        },
        "isBase64Encoded": false
    });
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

#[tokio::test]
async fn in_aws_the_authorizers_claims_name_the_caller_and_the_directory_decides() {
    let env = seeded_env().await;
    let mut deps = deps(&env, Box::new(SystemClock));
    deps.auth = Authenticator::Gateway;
    token(&env, "demo", "dee@demo.example", "agent").await;
    let dee = agent_id_for_email("dee@demo.example");
    let claims = json!({
        "sub": "5f1c-0000", "email": "dee@demo.example", "token_use": "id",
        "aud": "client-id", "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_X",
        "custom:tenant": "demo", "custom:agent_id": dee.to_string(), "custom:role": "admin"
    });
    let status = |req| {
        let deps = &deps;
        async move { handler(deps, req).await.unwrap().status().as_u16() }
    };
    assert_eq!(status(gateway_event("/v1/tickets", claims.clone())).await, 200);
    // The token claims admin; the directory says agent: admin routes are refused.
    let mut post = gateway_event("/v1/ai/preview", claims.clone());
    *post.method_mut() = lambda_http::http::Method::POST;
    assert_eq!(status(post).await, 403);
    // No authorizer claims at all (a route misconfigured without the authorizer): 401.
    let mut bare = gateway_event("/v1/tickets", json!({}));
    bare.extensions_mut().clear();
    assert_eq!(status(bare).await, 401);
}

/// A request for every route, with the ids of objects that exist in `demo`.
fn request_for(method: &str, route: &str, ticket: u64, body_version: u64) -> (String, Option<Value>) {
    let path = route
        .replace("{number}", &ticket.to_string())
        .replace("/agents/{id}", "/agents/ada-demo-example")
        .replace("/teams/{id}", "/teams/support")
        .replace("/kb/articles/{id}", "/kb/articles/returns");
    let body = match route {
        _ if method == "GET" || method == "DELETE" => None,
        r if r.ends_with("/replies") || r.ends_with("/notes") => {
            Some(json!({ "version": body_version, "text": "hello" }))
        }
        r if r.ends_with("/assign") => Some(json!({ "version": body_version, "agent_id": null })),
        r if r.starts_with("/v1/tickets/{number}/") => Some(json!({ "version": body_version })),
        "/v1/tickets/{number}" => Some(json!({ "version": body_version, "priority": "high" })),
        "/v1/agents" | "/v1/agents/{id}" => {
            Some(json!({ "name": "Ada", "email": "ada@demo.example", "role": "admin" }))
        }
        "/v1/agents/{id}/presence" => Some(json!({ "presence": "away" })),
        "/v1/teams" | "/v1/teams/{id}" => Some(json!({ "name": "Support", "members": [] })),
        "/v1/kb/articles" | "/v1/kb/articles/{id}" => Some(json!({ "title": "Returns", "body": "30 days." })),
        "/v1/kb/import" => Some(json!({ "articles": [{ "title": "T", "body": "B" }] })),
        "/v1/ai/settings" => Some(json!({ "confidence_threshold": 0.5 })),
        "/v1/ai/preview" => Some(json!({ "text": "where is my order" })),
        _ => None,
    };
    (path, body)
}

/// An invalid body for every route that takes one.
fn invalid_body(route: &str) -> Value {
    match route {
        r if r.starts_with("/v1/tickets/{number}") => json!({ "text": "", "agent_id": "Not An Id" }),
        "/v1/agents" | "/v1/agents/{id}" => json!({ "name": "", "email": "nope", "role": "king" }),
        "/v1/agents/{id}/presence" => json!({ "presence": "asleep" }),
        "/v1/teams" | "/v1/teams/{id}" => json!({ "name": "", "strategy": "lottery" }),
        "/v1/kb/articles" | "/v1/kb/articles/{id}" => json!({ "title": "", "body": "", "url": "ftp://x" }),
        "/v1/kb/import" => json!({ "articles": [{ "title": "ok", "body": "ok" }, { "title": "", "body": "x" }] }),
        "/v1/ai/settings" => json!({ "confidence_threshold": 7 }),
        "/v1/ai/preview" => json!({ "text": "" }),
        "/v1/reports/settings" => json!({ "time_zone": "Nowhere/Else" }),
        _ => json!({}),
    }
}

#[tokio::test]
async fn every_route_is_tenant_isolated_admin_guarded_validated_and_versioned() {
    let env = seeded_env().await;
    let deps = deps(&env, Box::new(SystemClock));
    let admin = token(&env, "demo", "ada@demo.example", "admin").await;
    let agent = token(&env, "demo", "bo@demo.example", "agent").await;
    let outsider = token(&env, "other-co", "eve@other.example", "admin").await;
    // Ticket numbers count per tenant: other-co has ticket 1, demo has 1 to 3.
    ticket(&env, "other-co", Priority::Normal, &[]).await;
    ticket(&env, "demo", Priority::Normal, &[]).await;
    ticket(&env, "demo", Priority::Normal, &[]).await;
    let demo_ticket = ticket(&env, "demo", Priority::Normal, &[]).await;
    assert_eq!(demo_ticket, 3);

    for route in ROUTES
        .iter()
        .filter(|r| !matches!(r.access, Access::Public | Access::Survey))
    {
        let label = format!("{} {}", route.method, route.path);
        let (path, body) = request_for(route.method, route.path, demo_ticket, 1);

        // No token, a token for another audience, an expired token: 401.
        assert_eq!(
            call(&deps, None, route.method, &path, body.clone()).await.0,
            401,
            "{label}"
        );
        let expired = mint("demo", "ada-demo-example", "admin", -3600);
        assert_eq!(
            call(&deps, Some(&expired), route.method, &path, body.clone()).await.0,
            401,
            "{label}"
        );

        // Agents on admin routes: 403, before anything is read or written.
        if route.access == Access::Admin {
            assert_eq!(
                call(&deps, Some(&agent), route.method, &path, body.clone()).await.0,
                403,
                "{label}"
            );
        }

        // Another tenant's object is not there (demo's ticket number is past any of
        // other-co's; the agent, team and article exist only in demo). Listings show only
        // the caller's own.
        if route.path.contains('{') {
            let (status, seen) = call(&deps, Some(&outsider), route.method, &path, body.clone()).await;
            assert_eq!(status, 404, "{label}: {seen}");
        } else if route.method == "GET" {
            let (status, seen) = call(&deps, Some(&outsider), route.method, &path, None).await;
            assert_eq!(status, 200, "{label}");
            for item in seen["items"].as_array().cloned().unwrap_or_default() {
                assert!(
                    !item.to_string().contains("demo-example") && item["id"] != "returns" && item["id"] != "support",
                    "{label} leaked {item}"
                );
            }
        }

        // Validation: a body that breaks the rules gets field errors.
        if body.is_some() {
            let (status, err) = call(&deps, Some(&admin), route.method, &path, Some(invalid_body(route.path))).await;
            assert_eq!(status, 422, "{label}: {err}");
            assert!(err["error"]["fields"].is_object(), "{label}: {err}");
        }

        // Ticket actions with a stale version: 409 and the current state.
        if route.path.starts_with("/v1/tickets/{number}") && route.method != "GET" {
            let (path, body) = request_for(route.method, route.path, demo_ticket, 999);
            let (status, err) = call(&deps, Some(&admin), route.method, &path, body).await;
            assert_eq!(status, 409, "{label}: {err}");
            assert_eq!(err["current"]["number"], demo_ticket);
        }
    }

    // The same number in each tenant is each tenant's own ticket.
    let (_, theirs) = call(&deps, Some(&outsider), "GET", "/v1/tickets/1", None).await;
    let (_, ours) = call(&deps, Some(&admin), "GET", "/v1/tickets/1", None).await;
    assert_ne!(theirs["ticket"]["customer_id"], ours["ticket"]["customer_id"]);
}

#[tokio::test]
async fn admins_configure_agents_teams_knowledge_and_ai() {
    let env = seeded_env().await;
    let clock = FixedClock::new(SystemClock.now());
    let deps = deps(&env, Box::new(clock));
    let admin = token(&env, "demo", "ada@demo.example", "admin").await;
    let agent = token(&env, "demo", "bo@demo.example", "agent").await;

    // Agents: create with validation, read, replace, presence (self, not others).
    let (status, err) = call(
        &deps,
        Some(&admin),
        "POST",
        "/v1/agents",
        Some(json!({ "name": "", "email": "x", "role": "boss", "teams": ["nope"], "max_open": 0 })),
    )
    .await;
    assert_eq!(status, 422);
    for f in ["name", "email", "role", "teams[0]", "max_open"] {
        assert!(err["error"]["fields"][f].is_string(), "{f}: {err}");
    }
    let (status, cy) = call(&deps, Some(&admin), "POST", "/v1/agents", Some(json!({ "name": "Cy", "email": "Cy@Demo.example", "role": "agent", "teams": ["support"], "skills": ["billing"], "max_open": 5 }))).await;
    assert_eq!(status, 201, "{cy}");
    assert_eq!(cy["teams"], json!(["support"]), "{cy}");
    assert_eq!(
        (cy["id"].as_str(), cy["presence"].as_str()),
        (Some("cy-demo-example"), Some("offline"))
    );
    assert_eq!(
        call(
            &deps,
            Some(&admin),
            "POST",
            "/v1/agents",
            Some(json!({ "name": "Cy", "email": "cy@demo.example", "role": "agent" }))
        )
        .await
        .0,
        409
    );
    let (status, cy) = call(
        &deps,
        Some(&admin),
        "PUT",
        "/v1/agents/cy-demo-example",
        Some(json!({ "name": "Cy Lee", "email": "cy@demo.example", "role": "admin", "max_open": 8 })),
    )
    .await;
    assert_eq!(
        (status, cy["role"].as_str(), cy["max_open"].as_u64()),
        (200, Some("admin"), Some(8))
    );
    let (status, me) = call(
        &deps,
        Some(&agent),
        "PUT",
        "/v1/agents/bo-demo-example/presence",
        Some(json!({ "presence": "away" })),
    )
    .await;
    assert_eq!((status, me["presence"].as_str()), (200, Some("away")));
    assert_eq!(
        call(
            &deps,
            Some(&agent),
            "PUT",
            "/v1/agents/cy-demo-example/presence",
            Some(json!({ "presence": "online" }))
        )
        .await
        .0,
        403
    );
    let (_, list) = call(&deps, Some(&agent), "GET", "/v1/agents?limit=100", None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 3);

    // Teams.
    let (status, team) = call(
        &deps,
        Some(&admin),
        "POST",
        "/v1/teams",
        Some(json!({ "name": "Billing Desk", "members": ["cy-demo-example"], "strategy": "round_robin" })),
    )
    .await;
    assert_eq!((status, team["id"].as_str()), (201, Some("billing-desk")), "{team}");
    let (status, err) = call(
        &deps,
        Some(&admin),
        "PUT",
        "/v1/teams/billing-desk",
        Some(json!({ "name": "Billing", "members": ["ghost"], "return_unanswered_after_minutes": 0 })),
    )
    .await;
    assert_eq!((status, err["error"]["fields"]["members[0]"].is_string()), (422, true));
    assert!(
        err["error"]["fields"]["return_unanswered_after_minutes"].is_string(),
        "{err}"
    );
    let (status, team) = call(
        &deps,
        Some(&admin),
        "PUT",
        "/v1/teams/billing-desk",
        Some(
            json!({ "name": "Billing", "members": ["cy-demo-example", "bo-demo-example"],
                     "return_unanswered_after_minutes": 45 }),
        ),
    )
    .await;
    assert_eq!((status, team["members"].as_array().unwrap().len()), (200, 2));
    assert_eq!(team["return_unanswered_after_minutes"], 45, "{team}");
    assert_eq!(
        call(&deps, Some(&agent), "GET", "/v1/teams/billing-desk", None).await.0,
        200
    );

    // Membership lives on the team: an agent's `teams` is read from the teams' members,
    // and an agent write that names teams changes those members (absent: unchanged).
    let members = |team: Value| -> Vec<String> { serde_json::from_value(team["members"].clone()).unwrap() };
    let teams_of = |agent: &Value| -> Vec<String> { serde_json::from_value(agent["teams"].clone()).unwrap() };
    let (_, cy) = call(&deps, Some(&agent), "GET", "/v1/agents/cy-demo-example", None).await;
    assert_eq!(teams_of(&cy), ["billing-desk", "support"], "{cy}");
    let (status, cy) = call(
        &deps,
        Some(&admin),
        "PUT",
        "/v1/agents/cy-demo-example",
        Some(json!({ "name": "Cy Lee", "email": "cy@demo.example", "role": "admin", "max_open": 8 })),
    )
    .await;
    assert_eq!(
        (status, teams_of(&cy)),
        (200, vec!["billing-desk".to_owned(), "support".to_owned()])
    );
    let (status, cy) = call(
        &deps,
        Some(&admin),
        "PUT",
        "/v1/agents/cy-demo-example",
        Some(json!({ "name": "Cy Lee", "email": "cy@demo.example", "role": "admin", "max_open": 8, "teams": ["billing-desk"] })),
    )
    .await;
    assert_eq!((status, teams_of(&cy)), (200, vec!["billing-desk".to_owned()]));
    let (_, support) = call(&deps, Some(&agent), "GET", "/v1/teams/support", None).await;
    assert!(!members(support).contains(&"cy-demo-example".to_owned()));
    let (_, billing) = call(&deps, Some(&agent), "GET", "/v1/teams/billing-desk", None).await;
    assert_eq!(members(billing), ["cy-demo-example", "bo-demo-example"]);
    let (_, list) = call(&deps, Some(&agent), "GET", "/v1/agents?limit=100", None).await;
    let bo = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "bo-demo-example")
        .unwrap();
    assert!(teams_of(bo).contains(&"billing-desk".to_owned()), "{bo}");

    // A team's change names the version it read: one made meanwhile refuses it.
    let (_, billing) = call(&deps, Some(&agent), "GET", "/v1/teams/billing-desk", None).await;
    let read = billing["version"].as_u64().unwrap();
    assert_eq!(
        read, 1,
        "created (0), then replaced once (Cy was a member already): {billing}"
    );
    let stale = json!({ "name": "Billing", "members": billing["members"], "version": read - 1 });
    let (status, err) = call(&deps, Some(&admin), "PUT", "/v1/teams/billing-desk", Some(stale)).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (409, Some("conflict")),
        "{err}"
    );
    let fresh = json!({ "name": "Billing", "members": billing["members"], "strategy": "balanced", "version": read });
    let (status, team) = call(&deps, Some(&admin), "PUT", "/v1/teams/billing-desk", Some(fresh)).await;
    assert_eq!(
        (status, team["version"].as_u64(), team["strategy"].as_str()),
        (200, Some(read + 1), Some("balanced"))
    );
    let (_, stored) = call(&deps, Some(&agent), "GET", "/v1/teams/billing-desk", None).await;
    assert_eq!(
        (stored["version"].as_u64(), stored["name"].as_str()),
        (Some(read + 1), Some("Billing"))
    );

    // Knowledge base: CRUD, bulk import, and the preview answers from what was written.
    let (status, a) = call(&deps, Some(&admin), "POST", "/v1/kb/articles", Some(json!({ "id": "gift-cards", "title": "Gift cards", "body": "Gift cards never expire and work online and in stores.", "sample_questions": ["do gift cards expire"], "url": "https://help.demo.example/gift-cards" }))).await;
    assert_eq!(status, 201, "{a}");
    let (status, _) = call(&deps, Some(&admin), "PUT", "/v1/kb/articles/gift-cards", Some(json!({ "title": "Gift cards", "body": "Gift cards never expire. Use them online or in any store.", "sample_questions": ["do gift cards expire"] }))).await;
    assert_eq!(status, 200);
    let (status, imported) = call(&deps, Some(&admin), "POST", "/v1/kb/import", Some(json!({ "articles": [
        { "id": "warranty", "title": "Warranty", "body": "Every product has a two-year warranty covering manufacturing defects.", "sample_questions": ["is there a warranty"] },
        { "id": "returns", "title": "Returning an item", "body": "Return unused items within 30 days for a full refund." }
    ] }))).await;
    assert_eq!(status, 200, "{imported}");
    assert_eq!(
        (imported["created"].as_u64(), imported["replaced"].as_u64()),
        (Some(1), Some(1))
    );
    let (status, err) = call(
        &deps,
        Some(&admin),
        "POST",
        "/v1/kb/import",
        Some(
            json!({ "articles": [{ "id": "a", "title": "A", "body": "a" }, { "id": "a", "title": "A", "body": "b" }, { "title": "", "body": "c" }] }),
        ),
    )
    .await;
    assert_eq!(status, 422);
    assert!(
        err["error"]["fields"]["articles[2].title"].is_string() && err["error"]["fields"]["articles[1].id"].is_string(),
        "{err}"
    );
    let (status, preview) = call(
        &deps,
        Some(&admin),
        "POST",
        "/v1/ai/preview",
        Some(json!({ "text": "do gift cards expire?" })),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(
        (preview["decision"].as_str(), preview["reason"].as_str()),
        (Some("answer"), Some("answered"))
    );
    assert_eq!(preview["citations"][0]["article_id"], "gift-cards");
    assert!(preview["answer"].as_str().unwrap().contains("never expire"));
    let (_, human) = call(
        &deps,
        Some(&admin),
        "POST",
        "/v1/ai/preview",
        Some(json!({ "text": "can I talk to a real person please" })),
    )
    .await;
    assert_eq!(
        (human["decision"].as_str(), human["reason"].as_str()),
        (Some("handoff"), Some("asked_for_human"))
    );
    assert_eq!(
        call(&deps, Some(&admin), "DELETE", "/v1/kb/articles/gift-cards", None)
            .await
            .0,
        204
    );
    assert_eq!(
        call(&deps, Some(&admin), "GET", "/v1/kb/articles/gift-cards", None)
            .await
            .0,
        404
    );
    assert_eq!(
        call(&deps, Some(&admin), "DELETE", "/v1/kb/articles/gift-cards", None)
            .await
            .0,
        404
    );
    // Nothing the preview did was stored: no tickets, no conversations on the queue.
    let (_, q) = call(&deps, Some(&admin), "GET", "/v1/tickets", None).await;
    assert_eq!(q["items"], json!([]));

    // AI settings, then the preview follows them.
    let (status, s) = call(
        &deps,
        Some(&admin),
        "PUT",
        "/v1/ai/settings",
        Some(json!({ "always_human_topics": ["Warranty Claim"], "confidence_threshold": 0.55 })),
    )
    .await;
    assert_eq!(
        (status, s["always_human_topics"][0].as_str()),
        (200, Some("warranty claim"))
    );
    let (_, s) = call(&deps, Some(&agent), "GET", "/v1/ai/settings", None).await;
    assert_eq!(s["confidence_threshold"], 0.55);
    let (_, p) = call(
        &deps,
        Some(&admin),
        "POST",
        "/v1/ai/preview",
        Some(json!({ "text": "I have a warranty claim for my blender" })),
    )
    .await;
    assert_eq!(p["decision"], "handoff");

    // Limits: body size, and the per-agent allowance on expensive routes.
    let big = "x".repeat(70 * 1024);
    let (status, _) = call(
        &deps,
        Some(&admin),
        "POST",
        "/v1/kb/articles",
        Some(json!({ "title": "Big", "body": big })),
    )
    .await;
    assert_eq!(status, 413);
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(
            call(
                &deps,
                Some(&admin),
                "POST",
                "/v1/ai/preview",
                Some(json!({ "text": "where is my order" })),
            )
            .await
            .0,
        );
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        3,
        "30 a minute, 3 used above: {statuses:?}"
    );
    let req = http_request(
        "POST",
        "/v1/ai/preview",
        "",
        &[("authorization", &format!("Bearer {admin}"))],
        Some(&json!({ "text": "hi" })),
        "1.2.3.4",
    );
    let resp = handler(&deps, req).await.unwrap();
    assert_eq!(
        (resp.status().as_u16(), resp.headers()["retry-after"].to_str().unwrap()),
        (429, "60")
    );
}

#[tokio::test]
async fn the_openapi_document_is_valid_3_1_and_matches_the_routes() {
    let env = seeded_env().await;
    let deps = deps(&env, Box::new(SystemClock));
    let (status, doc) = call(&deps, None, "GET", "/v1/openapi.json", None).await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    // Router → document: every route is documented, with auth where it needs it.
    for r in ROUTES {
        let op = &doc["paths"][r.path][r.method.to_lowercase()];
        assert!(op.is_object(), "{} {} is not in the document", r.method, r.path);
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        let open = matches!(r.access, Access::Public | Access::Survey);
        assert_eq!(secured, !open, "{} {} security", r.method, r.path);
        if !open {
            assert!(
                op["responses"]["401"].is_object(),
                "{} {} documents 401",
                r.method,
                r.path
            );
        }
        if r.access == Access::Admin {
            assert!(
                op["responses"]["403"].is_object(),
                "{} {} documents 403",
                r.method,
                r.path
            );
        }
    }
    // Document → router: nothing documented that the router does not serve.
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            assert!(
                ROUTES
                    .iter()
                    .any(|r| r.path == path && r.method.eq_ignore_ascii_case(method)),
                "documented {method} {path} has no route"
            );
        }
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    // Unknown paths and methods have the error shape too.
    assert_eq!(call(&deps, None, "GET", "/v1/nothing-here", None).await.0, 404);
    assert_eq!(call(&deps, None, "DELETE", "/v1/tickets", None).await.0, 405);

    // A real validator, from PyPI, says it is OpenAPI 3.1.
    let file = std::env::temp_dir().join(format!("baton-openapi-{}.json", ulid::Ulid::new()));
    std::fs::write(&file, doc.to_string()).unwrap();
    let out = std::process::Command::new(root().join(".venv/bin/python"))
        .args(["-c", "import sys, json; from openapi_spec_validator import validate; from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator; validate(json.load(open(sys.argv[1])), cls=OpenAPIV31SpecValidator); print('valid')"])
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}", &stderr[stderr.len().saturating_sub(800)..]);
}

#[tokio::test]
async fn infra_local_token_mints_a_token_and_creates_the_tenant() {
    let env = seeded_env().await;
    let deps = deps(&env, Box::new(SystemClock));
    let out = std::process::Command::new(root().join("infra/local/token"))
        .args([
            "--tenant",
            "fresh-co",
            "--email",
            "Fay@Fresh.example",
            "--role",
            "agent",
        ])
        .env("AWS_ENDPOINT_URL", &env.endpoint.url)
        .env("TABLE_NAME", env.store.table())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let (status, page) = call(&deps, Some(&token), "GET", "/v1/tickets", None).await;
    assert_eq!((status, page["items"].clone()), (200, json!([])));
    let (status, me) = call(&deps, Some(&token), "GET", "/v1/agents/fay-fresh-example", None).await;
    assert_eq!((status, me["role"].as_str()), (200, Some("agent")));
    // An agent token is refused on admin routes; the new tenant's KB starts empty.
    assert_eq!(
        call(
            &deps,
            Some(&token),
            "POST",
            "/v1/ai/preview",
            Some(json!({ "text": "hi" }))
        )
        .await
        .0,
        403
    );
    let (_, kb) = call(&deps, Some(&token), "GET", "/v1/kb/articles", None).await;
    assert_eq!(kb["items"], json!([]));
    // A token signed with another key is refused.
    let forged = mint_local(
        "another-secret-that-is-long-enough-to-sign",
        &LocalClaims {
            sub: "fay-fresh-example".into(),
            aud: LOCAL_AUDIENCE.into(),
            iat: 0,
            exp: i64::MAX / 2,
            email: "x".into(),
            tenant: "fresh-co".into(),
            agent_id: "fay-fresh-example".into(),
            role: "admin".into(),
        },
    );
    assert_eq!(call(&deps, Some(&forged), "GET", "/v1/tickets", None).await.0, 401);
}

#[tokio::test]
async fn the_knowledge_base_quota_refuses_writes_past_it_with_a_clear_error() {
    use baton_domain::ports::TenantStore;
    let env = seeded_env().await;
    let deps = deps(&env, Box::new(SystemClock));
    let admin = token(&env, "demo", "ada@demo.example", "admin").await;
    let (_, page) = call(&deps, Some(&admin), "GET", "/v1/kb/articles?limit=100", None).await;
    let existing = page["items"].as_array().unwrap().len() as u32;
    let quotas = baton_domain::tenant::Quotas {
        kb_articles: existing + 1,
        ..Default::default()
    };
    env.store
        .set_quotas(&TenantId::new("demo").unwrap(), &quotas)
        .await
        .unwrap();
    let article = |id: &str| json!({ "id": id, "title": "Gift cards", "body": "Gift cards never expire." });
    let (status, _) = call(
        &deps,
        Some(&admin),
        "POST",
        "/v1/kb/articles",
        Some(article("one-more")),
    )
    .await;
    assert_eq!(status, 201);
    let (status, body) = call(
        &deps,
        Some(&admin),
        "POST",
        "/v1/kb/articles",
        Some(article("too-many")),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("kb_quota_exceeded")),
        "{body}"
    );
    // Replacing an article does not count twice; an import past the limit is refused whole.
    let (status, _) = call(
        &deps,
        Some(&admin),
        "PUT",
        "/v1/kb/articles/one-more",
        Some(article("one-more")),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &deps,
        Some(&admin),
        "POST",
        "/v1/kb/import",
        Some(json!({ "articles": [article("x1"), article("x2")] })),
    )
    .await;
    assert_eq!(status, 422);
    // Bytes count too.
    let quotas = baton_domain::tenant::Quotas {
        kb_bytes: 10,
        ..Default::default()
    };
    env.store
        .set_quotas(&TenantId::new("demo").unwrap(), &quotas)
        .await
        .unwrap();
    let (status, body) = call(&deps, Some(&admin), "POST", "/v1/kb/articles", Some(article("bytes"))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("kb_quota_exceeded")),
        "{body}"
    );
}

#[tokio::test]
async fn a_customer_s_tickets_come_from_their_own_index_newest_first() {
    let env = seeded_env().await;
    let deps = deps(&env, Box::new(SystemClock));
    let agent = token(&env, "demo", "bo@demo.example", "agent").await;
    let demo = TenantId::new("demo").unwrap();
    let first = ticket(&env, "demo", Priority::Normal, &[]).await;
    let other = ticket(&env, "demo", Priority::Normal, &[]).await;
    // The same customer again, later, on a ticket that is already closed.
    let earlier = env
        .store
        .get_ticket(&demo, baton_domain::TicketNumber(first))
        .await
        .unwrap();
    let number = env.store.next_ticket_number(&demo).await.unwrap();
    let mut again = baton_domain::ticket::Ticket::open(
        demo.clone(),
        number,
        "The zip broke too",
        Priority::Normal,
        earlier.customer_id,
        earlier.source.clone(),
        SystemClock.now().plus(time::Duration::seconds(1)),
    );
    again.status = baton_domain::ticket::Status::Closed;
    env.store.create_ticket(&again, &[]).await.unwrap();

    let path = format!(
        "/v1/tickets?customer={}&status=open,waiting_on_customer,waiting_on_team,resolved,closed",
        earlier.customer_id
    );
    let (status, page) = call(&deps, Some(&agent), "GET", &path, None).await;
    assert_eq!(status, 200, "{page}");
    let numbers: Vec<u64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [number.0, first], "theirs only, the latest activity first");
    assert!(!numbers.contains(&other));
    // Without `status`, the active ones only.
    let (_, active) = call(
        &deps,
        Some(&agent),
        "GET",
        &format!("/v1/tickets?customer={}", earlier.customer_id),
        None,
    )
    .await;
    assert_eq!(active["items"].as_array().unwrap().len(), 1);
    let (status, bad) = call(&deps, Some(&agent), "GET", "/v1/tickets?customer=nobody", None).await;
    assert_eq!(status, 422, "{bad}");
    assert!(bad["error"]["fields"]["customer"].is_string(), "{bad}");
}
