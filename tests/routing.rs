//! Routing against the local endpoint: the router's Lambda handler on the routing queue,
//! the agent API's actions that free places, "get next ticket" and the preview.

use aws_lambda_events::event::sqs::SqsEvent;
use baton_app::routing::{route_ticket, Routed};
use baton_domain::conversation::Author;
use baton_domain::directory::{Agent, Presence, RoutingStrategy, Team};
use baton_domain::notify::{NotificationKind, NotifyRecord};
use baton_domain::outbound::RouterMessage;
use baton_domain::ports::{DirectoryStore, PageRequest, TenantStore, TicketStore, UnitOfWork, Write};
use baton_domain::routing::{Condition, RoutingSettings, Rule, RuleActions};
use baton_domain::ticket::{Priority, Source, Ticket, TimelineEntry, TimelineKind};
use baton_domain::{AgentId, Channel, Clock, ConversationId, CustomerId, SystemClock, TeamId, TenantId, TicketNumber};
use baton_tests::{agent_call, agent_token, env, take_batch, TestEnv};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

struct World {
    env: TestEnv,
    tenant: TenantId,
    router: router::Deps,
    api: agent_api::Deps,
    admin: String,
}

async fn world(tenant: &str) -> World {
    let env = env().await;
    // The admin's token creates the tenant (default settings) and the admin, who is in
    // no team.
    let admin = agent_token(&env, tenant, &format!("boss@{tenant}.example"), "admin").await;
    let store: Arc<dyn baton_domain::ports::Store> = Arc::new(env.store.clone());
    let router = router::Deps {
        store: store.clone(),
        queues: baton_tests::routing_and_notify_queues(&env),
        clock: Arc::new(SystemClock),
    };
    let api = baton_tests::agent_api_deps(&env, store);
    World {
        tenant: TenantId::new(tenant).unwrap(),
        env,
        router,
        api,
        admin,
    }
}

impl World {
    /// An agent of the tenant (with a token), online with room for `max_open`.
    async fn agent(&self, name: &str, max_open: u32) -> (AgentId, String) {
        let email = format!("{name}@{}.example", self.tenant);
        let token = agent_token(&self.env, self.tenant.as_str(), &email, "agent").await;
        let id = agent_api::auth::agent_id_for_email(&email);
        let mut a = self.env.store.get_agent(&self.tenant, &id).await.unwrap();
        a.max_open = max_open;
        self.env.store.update_agent(&a).await.unwrap();
        (id, token)
    }

    async fn update_agent(&self, id: &AgentId, change: impl FnOnce(&mut Agent)) {
        let mut a = self.env.store.get_agent(&self.tenant, id).await.unwrap();
        change(&mut a);
        self.env.store.update_agent(&a).await.unwrap();
    }

    async fn team(&self, id: &str, strategy: RoutingStrategy, members: &[&AgentId]) -> TeamId {
        let team = Team {
            tenant_id: self.tenant.clone(),
            id: TeamId::new(id).unwrap(),
            name: id.into(),
            members: members.iter().map(|m| (*m).clone()).collect(),
            strategy,
            created_at: SystemClock.now(),
            lead: None,
            return_unanswered_after_minutes: None,
            version: 0,
        };
        self.env.store.create_team(&team).await.unwrap();
        team.id
    }

    async fn default_team(&self, team: &TeamId, rules: Vec<Rule>) {
        let settings = RoutingSettings {
            rules,
            default_team: Some(team.clone()),
        };
        self.env.store.set_routing(&self.tenant, &settings).await.unwrap();
    }

    /// A handed-off ticket: the customer's words on its timeline, no team, no assignee.
    async fn ticket(&self, text: &str, tags: &[&str]) -> TicketNumber {
        let now = SystemClock.now();
        let number = self.env.store.next_ticket_number(&self.tenant).await.unwrap();
        let source = Source {
            channel: Channel::Whatsapp,
            conversation_id: ConversationId::generate(),
        };
        let subject: String = text.chars().take(60).collect();
        let mut ticket = Ticket::open(
            self.tenant.clone(),
            number,
            subject,
            Priority::Normal,
            CustomerId::generate(),
            source,
            now,
        );
        ticket.tags = tags.iter().map(|t| t.to_string()).collect();
        ticket.handoff_reason = Some("the customer asked for a human".into());
        let said = TimelineEntry {
            tenant_id: self.tenant.clone(),
            ticket: number,
            id: ulid::Ulid::new(),
            at: now,
            actor: Author::Customer,
            entry: TimelineKind::message(text, Channel::Whatsapp),
        };
        self.env
            .store
            .commit(vec![Write::CreateTicket(ticket), Write::AddTimeline(said)])
            .await
            .unwrap();
        number
    }

    async fn route(&self, n: TicketNumber) -> Routed {
        route_ticket(
            self.router.store.as_ref(),
            &self.router.queues,
            &self.tenant,
            n,
            SystemClock.now(),
        )
        .await
        .unwrap()
    }

    /// Runs the router's Lambda handler on what the routing queue holds, until it is empty.
    async fn drain_router(&self) -> usize {
        let mut handled = 0;
        loop {
            let batch: SqsEvent = take_batch(&self.env, "RoutingQueue").await;
            if batch.records.is_empty() {
                return handled;
            }
            handled += batch.records.len();
            let out = router::handler(&self.router, LambdaEvent::new(batch, Context::default()))
                .await
                .unwrap();
            assert!(out.batch_item_failures.is_empty(), "{:?}", out.batch_item_failures);
        }
    }

    async fn get(&self, n: TicketNumber) -> Ticket {
        self.env.store.get_ticket(&self.tenant, n).await.unwrap()
    }

    async fn open_count(&self, id: &AgentId) -> u32 {
        self.env.store.get_agent(&self.tenant, id).await.unwrap().open_count
    }

    async fn act(&self, token: &str, n: TicketNumber, method: &str, path: &str, body: Value) -> (u16, Value) {
        let mut body = body;
        body["version"] = self.get(n).await.version.into();
        let (status, _, out) = agent_call(
            &self.api,
            token,
            method,
            &format!("/v1/tickets/{}{path}", n.0),
            Some(body),
        )
        .await;
        (status, out)
    }

    /// The routing event's explanation of the ticket's assignment.
    async fn routing_event(&self, n: TicketNumber, name: &str) -> Value {
        baton_tests::ticket_events(&self.env, &self.tenant, n, name)
            .await
            .pop()
            .unwrap_or_else(|| panic!("ticket {n} has no {name} event"))
    }
}

fn assigned(r: &Routed) -> Option<&AgentId> {
    match r {
        Routed::Assigned { agent, .. } => Some(agent),
        _ => None,
    }
}

#[tokio::test]
async fn round_robin_spreads_nine_tickets_three_each_in_turn() {
    let w = world("rr").await;
    let (a, _) = w.agent("ana", 10).await;
    let (b, _) = w.agent("ben", 10).await;
    let (c, _) = w.agent("cas", 10).await;
    let team = w.team("support", RoutingStrategy::RoundRobin, &[&a, &b, &c]).await;
    w.default_team(&team, vec![]).await;
    let mut got = Vec::new();
    for i in 0..9 {
        let n = w.ticket(&format!("question {i}"), &[]).await;
        got.push(assigned(&w.route(n).await).cloned().unwrap());
    }
    let names: Vec<&str> = got.iter().map(|g| g.as_str()).collect();
    assert_eq!(names, [a.as_str(), b.as_str(), c.as_str()].repeat(3), "in turn");
    for agent in [&a, &b, &c] {
        assert_eq!(w.open_count(agent).await, 3);
    }
    let rotation = w.env.store.get_rotation(&w.tenant, &team).await.unwrap();
    assert_eq!((rotation.last.as_ref(), rotation.seq), (Some(&c), 9));
}

#[tokio::test]
async fn balanced_fills_to_max_open_then_backlogs_and_backfills_the_moment_a_place_frees() {
    let w = world("bal").await;
    let (a, a_token) = w.agent("ana", 1).await;
    let (b, _) = w.agent("ben", 1).await;
    let (c, _) = w.agent("cas", 1).await;
    let team = w.team("support", RoutingStrategy::Balanced, &[&a, &b, &c]).await;
    w.default_team(&team, vec![]).await;
    let mut first = Vec::new();
    for i in 0..3 {
        let n = w.ticket(&format!("question {i}"), &[]).await;
        first.push((n, assigned(&w.route(n).await).cloned().unwrap()));
    }
    let mut winners: Vec<&AgentId> = first.iter().map(|(_, a)| a).collect();
    winners.sort();
    assert_eq!(winners, [&a, &b, &c], "one each");

    let fourth = w.ticket("a fourth question", &[]).await;
    assert_eq!(
        w.route(fourth).await,
        Routed::Queued {
            ticket: fourth,
            team: Some(team.clone())
        }
    );
    let t = w.get(fourth).await;
    assert_eq!((t.assignee.as_ref(), t.team.as_ref()), (None, Some(&team)));
    let backlog = w
        .env
        .store
        .list_team_backlog(&w.tenant, &team, &PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(backlog.items.iter().map(|t| t.number).collect::<Vec<_>>(), [fourth]);
    let queued = w.routing_event(fourth, "queued").await;
    assert!(queued["why"].as_str().unwrap().contains("backlog"), "{queued}");
    assert!(
        queued["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["verdict"] == "full"),
        "{queued}"
    );

    // Ana resolves hers: the backlog ticket is hers at once (the resolve's backfill).
    let (mine, _) = first.iter().find(|(_, who)| *who == a).unwrap();
    let (status, body) = w
        .act(&a_token, *mine, "PATCH", "", json!({ "status": "resolved" }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(w.open_count(&a).await, 0);
    assert!(w.drain_router().await >= 1, "the resolve asked for a backfill");
    assert_eq!(w.get(fourth).await.assignee.as_ref(), Some(&a));
    assert_eq!(w.open_count(&a).await, 1);
    for agent in [&a, &b, &c] {
        assert!(w.open_count(agent).await <= 1, "nobody over max_open");
    }
}

#[tokio::test]
async fn a_skilled_agent_wins_and_away_or_offline_agents_get_nothing() {
    let w = world("skills").await;
    let (a, _) = w.agent("ana", 10).await;
    let (b, _) = w.agent("ben", 10).await;
    let (c, _) = w.agent("cas", 10).await;
    w.update_agent(&b, |x| x.skills = vec!["billing".into()]).await;
    let team = w.team("support", RoutingStrategy::Balanced, &[&a, &b, &c]).await;
    w.default_team(&team, vec![]).await;
    // Ben is busier, but the ticket is about billing.
    let warm = w.ticket("warm-up", &[]).await;
    w.act(&w.admin, warm, "POST", "/assign", json!({ "agent_id": b })).await;
    let n = w.ticket("I was charged twice", &["billing"]).await;
    assert_eq!(assigned(&w.route(n).await), Some(&b));
    let why = w.routing_event(n, "routed").await;
    assert!(why["why"].as_str().unwrap().contains("skills billing"), "{why}");
    let verdicts: BTreeMap<String, String> = why["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["agent"].as_str().unwrap().to_owned(),
                c["verdict"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(verdicts[a.as_str()], "not_skilled");
    assert_eq!(verdicts[b.as_str()], "chosen");

    // Away and offline agents get nothing, skilled or not.
    w.update_agent(&b, |x| x.presence = Presence::Away).await;
    w.update_agent(&c, |x| x.presence = Presence::Offline).await;
    for i in 0..3 {
        let n = w.ticket(&format!("billing question {i}"), &["billing"]).await;
        assert_eq!(assigned(&w.route(n).await), Some(&a));
    }
    w.update_agent(&a, |x| x.presence = Presence::Away).await;
    let n = w.ticket("nobody is here", &[]).await;
    assert!(matches!(w.route(n).await, Routed::Queued { .. }));
    let queued = w.routing_event(n, "queued").await;
    assert!(
        queued["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["verdict"] == "not_online"),
        "{queued}"
    );
}

#[tokio::test]
async fn twenty_concurrent_routings_never_push_an_agent_over_the_limit() {
    let w = world("race").await;
    let (a, _) = w.agent("ana", 3).await;
    let (b, _) = w.agent("ben", 3).await;
    let team = w.team("support", RoutingStrategy::Balanced, &[&a, &b]).await;
    w.default_team(&team, vec![]).await;
    let mut tickets = Vec::new();
    for i in 0..20 {
        tickets.push(w.ticket(&format!("rush {i}"), &[]).await);
    }
    let store = w.router.store.as_ref();
    let outcomes = futures::future::join_all(
        tickets
            .iter()
            .map(|n| route_ticket(store, &w.router.queues, &w.tenant, *n, SystemClock.now())),
    )
    .await;
    // A router that lost every race fails its record; SQS delivers it again.
    for (n, o) in tickets.iter().zip(&outcomes) {
        if o.is_err() {
            w.route(*n).await;
        }
    }
    assert_eq!((w.open_count(&a).await, w.open_count(&b).await), (3, 3));
    let mut held = 0;
    for n in &tickets {
        if w.get(*n).await.assignee.is_some() {
            held += 1;
        }
    }
    assert_eq!(held, 6, "exactly the six places were given");
}

#[tokio::test]
async fn a_reopened_ticket_goes_back_to_its_agent_only_when_they_can_take_it() {
    let w = world("reopen").await;
    let (a, a_token) = w.agent("ana", 5).await;
    let (b, _) = w.agent("ben", 5).await;
    let team = w.team("support", RoutingStrategy::RoundRobin, &[&a, &b]).await;
    w.default_team(&team, vec![]).await;
    let n = w.ticket("my order is broken", &[]).await;
    assert_eq!(assigned(&w.route(n).await), Some(&a));
    let (status, _) = w.act(&a_token, n, "PATCH", "", json!({ "status": "resolved" })).await;
    assert_eq!(status, 200);
    w.drain_router().await;

    // Online with room: straight back to Ana.
    let (status, body) = w.act(&a_token, n, "POST", "/reopen", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(w.get(n).await.assignee.as_ref(), Some(&a));
    assert_eq!(w.open_count(&a).await, 1);
    let (status, _) = w.act(&a_token, n, "PATCH", "", json!({ "status": "resolved" })).await;
    assert_eq!(status, 200);
    w.drain_router().await;

    // Ana went offline: the reopened ticket leaves her and is routed again, to Ben.
    let (status, _, _) = agent_call(
        &w.api,
        &a_token,
        "PUT",
        &format!("/v1/agents/{a}/presence"),
        Some(json!({ "presence": "offline" })),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = w.act(&w.admin, n, "POST", "/reopen", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ticket"]["assignee"], Value::Null);
    let left = w.routing_event(n, "returned_to_queue").await;
    assert_eq!(
        (left["from"].as_str(), left["reason"].as_str()),
        (Some(a.as_str()), Some("offline"))
    );
    w.drain_router().await;
    assert_eq!(w.get(n).await.assignee.as_ref(), Some(&b));
    assert_eq!((w.open_count(&a).await, w.open_count(&b).await), (0, 1));
}

#[tokio::test]
async fn the_routing_event_names_the_rule_the_strategy_and_why_the_winner_won_as_the_preview_does() {
    let w = world("rules").await;
    let (a, _) = w.agent("ana", 5).await;
    let (b, _) = w.agent("ben", 5).await;
    let support = w.team("support", RoutingStrategy::Balanced, &[&a]).await;
    let finance = w.team("finance", RoutingStrategy::RoundRobin, &[&b]).await;
    let billing = Rule {
        id: "billing".into(),
        name: "Billing and payments".into(),
        conditions: vec![Condition::Words {
            any: vec!["refund".into(), "invoice".into()],
        }],
        actions: RuleActions {
            team: Some(finance.clone()),
            priority: Some(Priority::High),
            add_tags: vec!["billing".into()],
        },
    };
    w.default_team(&support, vec![billing]).await;

    // The preview says where a sample would go, and assigns nothing.
    let (status, _, preview) = agent_call(
        &w.api,
        &w.admin,
        "POST",
        "/v1/routing/preview",
        Some(json!({ "text": "Where is my refund?" })),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["rule"]["id"], "billing");
    assert_eq!(
        (preview["team"].as_str(), preview["strategy"].as_str()),
        (Some("finance"), Some("round_robin"))
    );
    assert_eq!(preview["winner"], b.as_str());
    assert_eq!(w.open_count(&b).await, 0, "a preview assigns nothing");

    let n = w.ticket("Hello, where is my refund for order 4411?", &[]).await;
    assert_eq!(assigned(&w.route(n).await), Some(&b));
    let t = w.get(n).await;
    assert_eq!((t.team.as_ref(), t.priority), (Some(&finance), Priority::High));
    assert!(t.tags.contains(&"billing".to_owned()));
    let routed = w.routing_event(n, "routed").await;
    assert_eq!(routed["rule"]["name"], "Billing and payments");
    assert_eq!(routed["strategy"], "round_robin");
    assert!(routed["why"].as_str().unwrap().starts_with("round robin"), "{routed}");
    assert_eq!(routed["winner"], b.as_str());
    // The preview's explanation has the same shape as the event's.
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&preview), keys(&routed));

    // Nothing matched: the default team.
    let other = w.ticket("Do you ship to Norway?", &[]).await;
    assert_eq!(assigned(&w.route(other).await), Some(&a));
    assert_eq!(
        w.routing_event(other, "routed").await["team_reason"],
        "the tenant's default team"
    );

    // Rules are validated with the field that is wrong.
    let (status, _, bad) = agent_call(
        &w.api,
        &w.admin,
        "PUT",
        "/v1/routing/rules",
        Some(json!({ "rules": [{ "id": "x", "name": "x", "conditions": [], "actions": { "team": "nope" } }] })),
    )
    .await;
    assert_eq!(status, 422, "{bad}");
    assert!(bad["error"]["fields"]["rules[0].actions.team"].is_string(), "{bad}");
}

#[tokio::test]
async fn get_next_ticket_hands_two_concurrent_callers_two_different_tickets() {
    let w = world("next").await;
    let (a, a_token) = w.agent("ana", 5).await;
    let (b, b_token) = w.agent("ben", 5).await;
    let team = w.team("support", RoutingStrategy::FirstAvailable, &[&a, &b]).await;
    w.default_team(&team, vec![]).await;
    let low = w.ticket("whenever you can", &[]).await;
    let urgent = w.ticket("urgent please", &[]).await;
    for n in [low, urgent] {
        assert!(
            matches!(w.route(n).await, Routed::Queued { .. }),
            "first available waits"
        );
    }
    let queued = w.routing_event(low, "queued").await;
    assert!(
        queued["why"].as_str().unwrap().starts_with("first available"),
        "{queued}"
    );
    // The urgent one is taken first.
    let mut t = w.get(urgent).await;
    let expected = t.version;
    t.priority = Priority::Urgent;
    w.env.store.update_ticket(&t, expected, &[]).await.unwrap();

    let next = |token: String| {
        let api = &w.api;
        async move { agent_call(api, &token, "POST", "/v1/tickets/next", None).await }
    };
    let (one, two) = tokio::join!(next(a_token.clone()), next(b_token.clone()));
    assert_eq!((one.0, two.0), (200, 200), "{one:?} {two:?}");
    let got = [
        one.2["ticket"]["number"].as_u64().unwrap(),
        two.2["ticket"]["number"].as_u64().unwrap(),
    ];
    assert_ne!(got[0], got[1], "two different tickets");
    assert!(got.contains(&urgent.0) && got.contains(&low.0));
    assert_eq!(w.open_count(&a).await + w.open_count(&b).await, 2);
    let (status, _, _) = agent_call(&w.api, &a_token, "POST", "/v1/tickets/next", None).await;
    assert_eq!(status, 204, "nothing waits");
}

/// The router's Lambda handler over the real adapters wrapped in the fault injector:
/// every store and queue call of a routing, failed and then "crashed" in turn.
struct Faulted {
    faults: Arc<baton_tests::faults::Faults>,
    router: router::Deps,
    clock: baton_tests::faults::SharedClock,
}

impl Faulted {
    fn over(w: &World) -> Self {
        use baton_tests::faults::{Faults, Faulty, SharedClock};
        let faults = Faults::new();
        let clock = SharedClock::now_system();
        let router = router::Deps {
            store: Arc::new(Faulty::new(w.env.store.clone(), &faults)),
            queues: baton_app::Queues {
                routing: Some(Arc::new(Faulty::new(
                    baton_tests::queue(&w.env, "RoutingQueue"),
                    &faults,
                ))),
                notify: Some(Arc::new(Faulty::new(
                    baton_tests::queue(&w.env, "NotifyQueue"),
                    &faults,
                ))),
                ..Default::default()
            },
            clock: Arc::new(clock.clone()),
        };
        Faulted { faults, router, clock }
    }

    /// One routing request with `fault` at call `k`, then redeliveries until it is done,
    /// then the outbox sweep (what a crash left unrelayed). Returns whether it fired.
    async fn run(&self, w: &World, message: &RouterMessage, k: u64, fault: baton_tests::faults::Fault) -> bool {
        let event = || router_event(message);
        self.faults.arm(k, fault);
        let first = self
            .faults
            .run(router::handler(
                &self.router,
                LambdaEvent::new(event(), Context::default()),
            ))
            .await;
        let fired = self.faults.fired();
        self.faults.disarm();
        if let (false, Some(out)) = (fired, first) {
            assert!(out.unwrap().batch_item_failures.is_empty(), "a clean run routes");
        }
        baton_tests::faults::redeliver(&self.faults, &self.clock, || {
            router::handler(&self.router, LambdaEvent::new(event(), Context::default()))
        })
        .await;
        self.clock.advance(time::Duration::minutes(2));
        baton_tests::relay_pending(&w.env, w.router.store.clone(), Arc::new(self.clock.clone())).await;
        fired
    }
}

fn router_event(message: &RouterMessage) -> SqsEvent {
    let group = match message {
        RouterMessage::Ticket(r) => format!("{}#{}", r.tenant_id, r.ticket),
        RouterMessage::Backfill(b) => format!("{}#agent#{}", b.tenant_id, b.backfill_for),
    };
    serde_json::from_value(json!({ "Records": [{
        "messageId": format!("sqs-{group}"), "receiptHandle": "rh", "body": serde_json::to_string(message).unwrap(),
        "attributes": { "ApproximateReceiveCount": "1", "MessageGroupId": group },
        "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:routing.fifo", "awsRegion": "us-east-1" }] }))
    .unwrap()
}

impl World {
    /// How many routing events of `name` the ticket has.
    async fn count_events(&self, n: TicketNumber, name: &str) -> usize {
        baton_tests::ticket_events(&self.env, &self.tenant, n, name).await.len()
    }

    /// The tickets the assignment notifications on the notification queue name.
    async fn notified(&self) -> Vec<TicketNumber> {
        baton_tests::drain_queue::<NotifyRecord>(&self.env, "NotifyQueue")
            .await
            .into_iter()
            .filter_map(|r| match r {
                NotifyRecord::Notification(n) if n.kind == NotificationKind::Assigned => Some(n.ticket),
                _ => None,
            })
            .collect()
    }
}

#[tokio::test]
async fn routing_survives_a_fault_at_every_call_with_one_assignment_one_place_one_turn() {
    use baton_domain::outbound::RoutingRequest;
    let w = world("crash-route").await;
    let (a, _) = w.agent("ana", 100).await;
    let (b, _) = w.agent("ben", 100).await;
    let team = w.team("support", RoutingStrategy::RoundRobin, &[&a, &b]).await;
    w.default_team(&team, vec![]).await;
    let faulted = Faulted::over(&w);
    let routed = std::sync::Mutex::new(0u32);
    baton_tests::faults::every_call("routing a ticket", 6, |k, fault| {
        let (w, faulted, routed, a, b, team) = (&w, &faulted, &routed, &a, &b, &team);
        async move {
            let n = w.ticket(&format!("question at call {k} ({fault:?})"), &[]).await;
            let message = RouterMessage::Ticket(RoutingRequest {
                tenant_id: w.tenant.clone(),
                ticket: n,
            });
            let fired = faulted.run(w, &message, k, fault).await;
            let total = {
                let mut r = routed.lock().unwrap();
                *r += 1;
                *r
            };
            let t = w.get(n).await;
            assert!(t.assignee.is_some(), "assigned after {fault:?} at call {k}");
            assert_eq!(
                w.count_events(n, "routed").await,
                1,
                "one explanation ({fault:?} at {k})"
            );
            assert_eq!(w.count_events(n, "queued").await, 0, "never queued ({fault:?} at {k})");
            assert_eq!(
                w.open_count(a).await + w.open_count(b).await,
                total,
                "one place per ticket ({fault:?} at {k})"
            );
            let rotation = w.env.store.get_rotation(&w.tenant, team).await.unwrap();
            assert_eq!(rotation.seq, u64::from(total), "one turn per ticket ({fault:?} at {k})");
            assert_eq!(rotation.last.as_ref(), t.assignee.as_ref(), "the turn is the winner's");
            let notified = w.notified().await;
            assert!(
                !notified.is_empty() && notified.iter().all(|x| *x == n),
                "the assignee is told ({fault:?} at {k}): {notified:?}"
            );
            fired
        }
    })
    .await;
    // Round robin stayed fair through every fault: turns alternate.
    let (ca, cb) = (w.open_count(&a).await, w.open_count(&b).await);
    assert!(ca.abs_diff(cb) <= 1, "{ca} and {cb}");
}

#[tokio::test]
async fn a_backfill_survives_a_fault_at_every_call_and_gives_the_place_once() {
    use baton_domain::outbound::BackfillRequest;
    let w = world("crash-fill").await;
    let (a, _) = w.agent("ana", 0).await;
    let team = w.team("support", RoutingStrategy::Balanced, &[&a]).await;
    w.default_team(&team, vec![]).await;
    let faulted = Faulted::over(&w);
    let mut limit = 0;
    baton_tests::faults::every_call("a backfill", 6, |k, fault| {
        limit += 1;
        let (w, faulted, a, limit) = (&w, &faulted, &a, limit);
        async move {
            // Ana is full; a ticket waits; her limit is raised by one.
            let n = w.ticket(&format!("waiting at call {k} ({fault:?})"), &[]).await;
            assert!(matches!(w.route(n).await, Routed::Queued { .. }));
            w.update_agent(a, |x| x.max_open = limit).await;
            let message = RouterMessage::Backfill(BackfillRequest {
                tenant_id: w.tenant.clone(),
                backfill_for: a.clone(),
            });
            let fired = faulted.run(w, &message, k, fault).await;
            assert_eq!(w.get(n).await.assignee.as_ref(), Some(a), "{fault:?} at call {k}");
            assert_eq!(
                w.count_events(n, "routed").await,
                1,
                "one explanation ({fault:?} at {k})"
            );
            assert_eq!(w.open_count(a).await, limit, "exactly her limit ({fault:?} at {k})");
            w.notified().await;
            fired
        }
    })
    .await;
}
