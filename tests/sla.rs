//! SLA against the local endpoint: policies set through the agent API, clocks started by
//! routing and moved by agents' actions, and the `sla-sweep` function's handler on its
//! scheduled event, reading only the SLA-due index.

use baton_app::routing::route_ticket;
use baton_domain::directory::{Presence, RoutingStrategy, Team};
use baton_domain::notify::{NotificationKind, NotifyRecord};
use baton_domain::ports::{ConversationStore, DirectoryStore, TenantStore, TicketStore, UnitOfWork, Write};
use baton_domain::routing::RoutingSettings;
use baton_domain::sla::ReplyOwed;
use baton_domain::ticket::{Priority, SlaStatus, Status, Ticket};
use baton_domain::{AgentId, Channel, Clock, ConversationId, SystemClock, TeamId, TenantId, TicketNumber, Timestamp};
use baton_tests::{agent_call, agent_token, drain_queue, env, scheduled_event_at, timeline_events, TestEnv};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use std::sync::Arc;

struct World {
    env: TestEnv,
    tenant: TenantId,
    api: agent_api::Deps,
    sweep: sla_sweep::Deps,
    admin: String,
}

async fn world(tenant: &str) -> World {
    let env = env().await;
    let admin = agent_token(&env, tenant, &format!("boss@{tenant}.example"), "admin").await;
    let store: Arc<dyn baton_domain::ports::Store> = Arc::new(env.store.clone());
    let sweep = sla_sweep::Deps {
        store: store.clone(),
        queues: baton_tests::routing_and_notify_queues(&env),
        clock: Arc::new(SystemClock),
    };
    let api = baton_tests::agent_api_deps(&env, store);
    World {
        tenant: TenantId::new(tenant).unwrap(),
        env,
        api,
        sweep,
        admin,
    }
}

/// Urgent tickets: 10 minutes to a first response; the rest 8 hours; both 24/7.
fn policies() -> Value {
    json!({
        "policies": [
            { "id": "urgent", "name": "Urgent", "conditions": [{ "field": "priority", "any": ["urgent"] }],
              "targets": { "first_response_minutes": 10, "resolution_minutes": 120 } },
            { "id": "standard", "name": "Standard",
              "targets": { "first_response_minutes": 480 } }
        ],
        "warn_at_percent": 50
    })
}

impl World {
    async fn agent(&self, name: &str) -> (AgentId, String) {
        let email = format!("{name}@{}.example", self.tenant);
        let token = agent_token(&self.env, self.tenant.as_str(), &email, "agent").await;
        (agent_api::auth::agent_id_for_email(&email), token)
    }

    async fn team_of(&self, members: &[&AgentId]) {
        self.team(members, None, None).await
    }

    /// The tenant's one team (balanced), with its lead and its "back to the queue
    /// unanswered after" minutes.
    async fn team(&self, members: &[&AgentId], lead: Option<&AgentId>, return_after: Option<u32>) {
        let team = Team {
            tenant_id: self.tenant.clone(),
            id: TeamId::new("support").unwrap(),
            name: "Support".into(),
            members: members.iter().map(|m| (*m).clone()).collect(),
            strategy: RoutingStrategy::Balanced,
            created_at: SystemClock.now(),
            lead: lead.cloned(),
            return_unanswered_after_minutes: return_after,
            version: 0,
        };
        self.env.store.create_team(&team).await.unwrap();
        let routing = RoutingSettings {
            rules: vec![],
            default_team: Some(team.id),
        };
        self.env.store.set_routing(&self.tenant, &routing).await.unwrap();
    }

    /// A handed-off ticket, routed (which starts its clocks).
    async fn ticket(&self, text: &str, priority: Priority) -> TicketNumber {
        self.tagged(text, priority, &[]).await
    }

    async fn tagged(&self, text: &str, priority: Priority, tags: &[&str]) -> TicketNumber {
        let number = baton_tests::handed_off_ticket(&self.env, &self.tenant, text, priority, tags).await;
        route_ticket(
            self.sweep.store.as_ref(),
            &self.sweep.queues,
            &self.tenant,
            number,
            SystemClock.now(),
        )
        .await
        .unwrap();
        number
    }

    async fn get(&self, n: TicketNumber) -> Ticket {
        self.env.store.get_ticket(&self.tenant, n).await.unwrap()
    }

    async fn events(&self, n: TicketNumber, name: &str) -> Vec<Value> {
        baton_tests::ticket_events(&self.env, &self.tenant, n, name).await
    }

    /// The sweep over the real store and queues, behind the fault injector.
    fn faulty_sweep(&self, faults: &Arc<baton_tests::faults::Faults>) -> sla_sweep::Deps {
        use baton_tests::faults::Faulty;
        let env = &self.env;
        sla_sweep::Deps {
            store: Arc::new(Faulty::new(env.store.clone(), faults)),
            queues: baton_app::Queues {
                routing: Some(Arc::new(Faulty::new(baton_tests::queue(env, "RoutingQueue"), faults))),
                notify: Some(Arc::new(Faulty::new(baton_tests::queue(env, "NotifyQueue"), faults))),
                ..Default::default()
            },
            clock: Arc::new(SystemClock),
        }
    }

    async fn sweep_at(&self, at: Timestamp) -> baton_app::sla::SweepReport {
        let time = at.to_string().replace(".000Z", "Z");
        let event = LambdaEvent::new(scheduled_event_at(&time), Context::default());
        sla_sweep::handler(&self.sweep, event).await.unwrap()
    }
}

fn minutes(m: i64) -> time::Duration {
    time::Duration::minutes(m)
}

#[tokio::test]
async fn policies_are_set_by_admins_and_every_bad_field_is_named() {
    let w = world("sla-admin").await;
    let (status, _, body) = agent_call(&w.api, &w.admin, "PUT", "/v1/sla", Some(policies())).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = agent_call(&w.api, &w.admin, "GET", "/v1/sla", None).await;
    assert_eq!((status, body["policies"][0]["id"].as_str()), (200, Some("urgent")));
    let bad = json!({
        "calendars": [{ "id": "office", "name": "Office", "time_zone": "Mars/Olympus",
                        "hours": [{ "day": "monday", "from": "18:00", "to": "09:00" }] }],
        "policies": [{ "id": "p", "name": "P", "targets": {}, "calendar": "nope" }]
    });
    let (status, _, body) = agent_call(&w.api, &w.admin, "PUT", "/v1/sla", Some(bad)).await;
    assert_eq!(status, 422, "{body}");
    for field in [
        "calendars[0].time_zone",
        "calendars[0].hours[0]",
        "policies[0].targets",
        "policies[0].calendar",
    ] {
        assert!(body["error"]["fields"][field].is_string(), "{field}: {body}");
    }
    let (_, agent) = w.agent("ana").await;
    let (status, _, _) = agent_call(&w.api, &agent, "PUT", "/v1/sla", Some(policies())).await;
    assert_eq!(status, 403, "agents do not set policies");
}

#[tokio::test]
async fn a_handoff_starts_the_clock_a_note_does_not_meet_it_and_a_human_reply_does() {
    // The demo tenant, its WhatsApp customer handed off by triage.
    let env = baton_tests::seeded_env().await;
    let store: Arc<dyn baton_domain::ports::Store> = Arc::new(env.store.clone());
    let api = baton_tests::agent_api_deps(&env, store.clone());
    let admin = agent_token(&env, "demo", "lead@demo.example", "admin").await;
    let (status, _, body) = agent_call(&api, &admin, "PUT", "/v1/sla", Some(policies())).await;
    assert_eq!(status, 200, "{body}");
    let message = baton_tests::whatsapp_text("4915112345678", "wamid.sla.1", "I want to talk to a human please");
    let inbound = baton_tests::intake_onto(&env, "InboundQueue", message).await;
    baton_tests::triage_records(&baton_tests::triage_deps(&env, store), &[inbound]).await;
    let demo = TenantId::new("demo").unwrap();
    let conversation = env
        .store
        .get_conversation(&demo, inbound_conversation(&env, &demo).await)
        .await
        .unwrap();
    let n = conversation.ticket.expect("handed off");
    let get = || async { env.store.get_ticket(&demo, n).await.unwrap() };
    let t = get().await;
    assert_eq!(t.sla.policy.as_ref().map(|p| p.id.as_str()), Some("standard"));
    let due = t
        .sla
        .first_response_due
        .expect("the first-response clock runs from the handoff");
    assert_eq!(due, t.created_at.plus(minutes(480)));
    let timeline = baton_tests::timeline(&env, n).await;
    assert!(timeline_events(&timeline)
        .iter()
        .any(|(e, d)| e == "sla" && d["what"] == "applied"));

    // The ticket detail shows the policy and each target's timer.
    let (status, _, detail) = agent_call(&api, &admin, "GET", &format!("/v1/tickets/{}", n.0), None).await;
    assert_eq!(status, 200, "{detail}");
    let sla = &detail["ticket"]["sla"];
    assert_eq!(sla["policy"], "Standard", "{detail}");
    assert_eq!(sla["targets"][0]["target"], "first_response", "{sla}");
    assert_eq!(sla["targets"][0]["clock"], "running", "{sla}");
    assert_eq!(sla["targets"][0]["allowed_secs"], 480 * 60, "{sla}");

    let act = |path: &'static str, text: &'static str| {
        let (api, admin, get) = (&api, &admin, &get);
        async move {
            let body = json!({ "text": text, "version": get().await.version });
            let (status, _, out) =
                agent_call(api, admin, "POST", &format!("/v1/tickets/{}{path}", n.0), Some(body)).await;
            assert_eq!(status, 201, "{path}: {out}");
        }
    };
    act("/notes", "checking the carrier").await;
    assert_eq!(get().await.sla.first_response_due, Some(due), "a note is no response");
    act("/replies", "It is on its way.").await;
    let t = get().await;
    assert_eq!(t.sla.first_response_due, None);
    let timeline = baton_tests::timeline(&env, n).await;
    let met: Vec<Value> = timeline_events(&timeline)
        .into_iter()
        .filter(|(e, d)| e == "sla" && d["what"] == "met")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(met.len(), 1, "{met:?}");
    assert_eq!(met[0]["target"], "first_response");
    // Waiting on the customer: nothing runs, nothing to sweep.
    assert_eq!(t.status, Status::WaitingOnCustomer);
    assert_eq!(t.sla.status(t.status, SystemClock.now()), SlaStatus::None);
    assert_eq!(t.sla.next_check(t.status), None);
}

/// The demo WhatsApp customer's conversation.
async fn inbound_conversation(env: &TestEnv, demo: &TenantId) -> ConversationId {
    use baton_domain::ports::CustomerStore;
    env.store
        .find_identity(demo, Channel::Whatsapp, "4915112345678")
        .await
        .unwrap()
        .and_then(|i| i.active_conversation)
        .expect("the customer has a conversation")
}

#[tokio::test]
async fn the_sweep_reads_only_what_is_due_and_marks_at_risk_then_breached_once_even_when_two_overlap() {
    let w = world("sla-sweep").await;
    agent_call(&w.api, &w.admin, "PUT", "/v1/sla", Some(policies())).await;
    let (ana, _) = w.agent("ana").await;
    let lead = agent_api::auth::agent_id_for_email("boss@sla-sweep.example");
    w.team(&[&ana], Some(&lead), None).await;
    let urgent = w.ticket("Charged twice!", Priority::Urgent).await;
    for i in 0..3 {
        w.ticket(&format!("a question {i}"), Priority::Normal).await;
    }
    let created = w.get(urgent).await.created_at;

    // 3 minutes in: nothing is due, and the sweep reads nothing.
    let report = w.sweep_at(created.plus(minutes(3))).await;
    assert_eq!((report.due, report.at_risk, report.breached), (0, 0, 0), "{report:?}");

    // 6 minutes in (past half of 10): the urgent ticket alone is at risk.
    let report = w.sweep_at(created.plus(minutes(6))).await;
    assert_eq!(
        (report.due, report.at_risk),
        (1, 1),
        "only the due ticket is read: {report:?}"
    );
    assert_eq!(
        w.get(urgent).await.sla.status(Status::Open, created.plus(minutes(6))),
        SlaStatus::AtRisk
    );
    let report = w.sweep_at(created.plus(minutes(7))).await;
    assert_eq!((report.due, report.at_risk), (0, 0), "marked once: {report:?}");

    // Ana goes offline; 11 minutes in, two sweeps overlap: one breach, one escalation.
    w.env
        .store
        .set_presence(&w.tenant, &ana, Presence::Offline)
        .await
        .unwrap();
    drain_queue::<Value>(&w.env, "NotifyQueue").await;
    let at = created.plus(minutes(11));
    let (a, b) = tokio::join!(w.sweep_at(at), w.sweep_at(at));
    assert_eq!(a.breached + b.breached, 1, "{a:?} {b:?}");
    assert_eq!(a.failed + b.failed, 0);
    assert_eq!(w.events(urgent, "sla_breached").await.len(), 1);
    assert_eq!(w.events(urgent, "sla_at_risk").await.len(), 1);
    let t = w.get(urgent).await;
    assert!(t.sla.breached);
    assert_eq!(t.sla.status(t.status, at), SlaStatus::Breached);
    // Escalated: the assignee is away, so the ticket goes back to routing.
    assert_eq!(t.assignee, None);
    assert_eq!(w.events(urgent, "returned_to_queue").await.len(), 1);
    let mut told: Vec<(AgentId, NotificationKind)> = drain_queue::<NotifyRecord>(&w.env, "NotifyQueue")
        .await
        .into_iter()
        .filter_map(|r| match r {
            NotifyRecord::Notification(n) if n.ticket == urgent => Some((n.agent_id, n.kind)),
            _ => None,
        })
        .collect();
    told.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected = vec![
        (ana.clone(), NotificationKind::SlaBreached),
        (lead.clone(), NotificationKind::SlaBreached),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(told, expected, "the assignee and the team's lead, once each");
    let open = w.env.store.get_agent(&w.tenant, &ana).await.unwrap().open_count;
    assert_eq!(open, 3, "the escalated ticket's place was given back");
    // The next sweep finds the breached ticket's resolution target still running.
    let later = w.sweep_at(at.plus(minutes(1))).await;
    assert_eq!(later.breached, 0, "{later:?}");
}

#[tokio::test]
async fn a_breach_survives_a_fault_at_every_call_and_is_marked_escalated_and_told_once() {
    use baton_tests::faults::{every_call, Faults, SharedClock};
    let w = world("sla-crash").await;
    let ten_minutes = json!({
        "policies": [{ "id": "tight", "name": "Tight", "targets": { "first_response_minutes": 10 } }]
    });
    let (status, _, body) = agent_call(&w.api, &w.admin, "PUT", "/v1/sla", Some(ten_minutes)).await;
    assert_eq!(status, 200, "{body}");
    let (ana, _) = w.agent("ana").await;
    w.team_of(&[&ana]).await;
    let faults = Faults::new();
    let faulty = w.faulty_sweep(&faults);
    let clock = SharedClock::now_system();
    every_call("marking a breach", 8, |k, fault| {
        let (w, faults, faulty, ana, clock) = (&w, &faults, &faulty, &ana, &clock);
        async move {
            w.env
                .store
                .set_presence(&w.tenant, ana, Presence::Online)
                .await
                .unwrap();
            let n = w
                .ticket(&format!("breach at call {k} ({fault:?})"), Priority::Normal)
                .await;
            assert_eq!(w.get(n).await.assignee.as_ref(), Some(ana));
            w.env
                .store
                .set_presence(&w.tenant, ana, Presence::Offline)
                .await
                .unwrap();
            drain_queue::<Value>(&w.env, "NotifyQueue").await;
            let at = w.get(n).await.created_at.plus(minutes(11));
            let time = at.to_string().replace(".000Z", "Z");
            faults.arm(k, fault);
            let event = LambdaEvent::new(scheduled_event_at(&time), Context::default());
            faults.run(sla_sweep::handler(faulty, event)).await;
            let fired = faults.fired();
            faults.disarm();
            // The next minute's sweep, then the outbox relay for what a crash left.
            w.sweep_at(at.plus(minutes(1))).await;
            clock.advance(time::Duration::minutes(5));
            baton_tests::relay_pending(&w.env, w.sweep.store.clone(), Arc::new(clock.clone())).await;
            let t = w.get(n).await;
            assert_eq!(w.events(n, "sla_breached").await.len(), 1, "{fault:?} at call {k}");
            assert_eq!(w.events(n, "returned_to_queue").await.len(), 1, "{fault:?} at call {k}");
            assert_eq!(
                (t.priority, t.assignee.as_ref()),
                (Priority::High, None),
                "{fault:?} at call {k}"
            );
            assert!(t.sla.breached);
            assert_eq!(t.sla.next_check(t.status), None, "nothing left to mark");
            let open = w.env.store.get_agent(&w.tenant, ana).await.unwrap().open_count;
            assert_eq!(open, 0, "the place given back once ({fault:?} at call {k})");
            let told: Vec<String> = drain_queue::<NotifyRecord>(&w.env, "NotifyQueue")
                .await
                .into_iter()
                .filter_map(|r| match r {
                    NotifyRecord::Notification(x) if x.ticket == n && x.kind == NotificationKind::SlaBreached => {
                        Some(x.id)
                    }
                    _ => None,
                })
                .collect();
            assert!(
                !told.is_empty() && told.iter().all(|id| *id == told[0]),
                "told once: {told:?}"
            );
            fired
        }
    })
    .await;
}

#[tokio::test]
async fn the_queue_sorts_by_the_next_breach_across_priorities() {
    let w = world("sla-sort").await;
    let mut settings = policies();
    settings["policies"].as_array_mut().unwrap().insert(
        0,
        json!({ "id": "vip", "name": "VIP", "conditions": [{ "field": "tags", "any": ["vip"] }],
                "targets": { "first_response_minutes": 5 } }),
    );
    let (status, _, body) = agent_call(&w.api, &w.admin, "PUT", "/v1/sla", Some(settings)).await;
    assert_eq!(status, 200, "{body}");
    let (ana, _) = w.agent("ana").await;
    w.team_of(&[&ana]).await;
    let normal = w.ticket("a question", Priority::Normal).await;
    let urgent = w.ticket("Charged twice!", Priority::Urgent).await;
    let vip = w.tagged("a small thing", Priority::Low, &["vip"]).await;
    let list = |sort: &'static str| {
        let w = &w;
        async move {
            let (status, _, body) =
                agent_call(&w.api, &w.admin, "GET", &format!("/v1/tickets?sort={sort}"), None).await;
            assert_eq!(status, 200, "{body}");
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["number"].as_u64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    // 5 minutes (low priority), 10 minutes (urgent), 8 hours.
    assert_eq!(list("next_breach").await, [vip.0, urgent.0, normal.0]);
    assert_eq!(list("priority").await, [urgent.0, normal.0, vip.0]);
}

#[tokio::test]
async fn an_assignment_left_unanswered_goes_back_to_the_queue_and_to_someone_else() {
    let w = world("sla-unanswered").await;
    let (ana, ana_token) = w.agent("ana").await;
    let (ben, ben_token) = w.agent("ben").await;
    w.team(&[&ana, &ben], None, Some(30)).await;
    let presence = |agent: &AgentId, p: Presence| {
        let (store, tenant, agent) = (&w.env.store, &w.tenant, agent.clone());
        async move { store.set_presence(tenant, &agent, p).await.unwrap() }
    };
    let reply = |n: TicketNumber, token: &String| {
        let (w, token) = (&w, token.clone());
        async move {
            let body = json!({ "text": "On it.", "version": w.get(n).await.version });
            let path = format!("/v1/tickets/{}/replies", n.0);
            let (status, _, out) = agent_call(&w.api, &token, "POST", &path, Some(body)).await;
            assert_eq!(status, 201, "{out}");
        }
    };
    // Ben is away: Ana gets two tickets, each with a reply owed in 30 minutes.
    presence(&ben, Presence::Away).await;
    let quiet = w.ticket("Where is my parcel?", Priority::Normal).await;
    let answered = w.ticket("Can I change my address?", Priority::Normal).await;
    let t = w.get(quiet).await;
    assert_eq!(t.assignee.as_ref(), Some(&ana));
    let owed = t
        .sla
        .reply_owed
        .clone()
        .expect("the team takes unanswered tickets back");
    assert_eq!((owed.agent.clone(), owed.minutes), (ana.clone(), 30));
    assert_eq!(
        t.sla.next_check(t.status),
        Some(owed.due_at),
        "the sweep looks at it then"
    );
    // The ticket detail shows what is owed.
    let (_, _, detail) = agent_call(&w.api, &w.admin, "GET", &format!("/v1/tickets/{}", quiet.0), None).await;
    assert_eq!(detail["ticket"]["sla"]["reply_owed"]["minutes"], 30, "{detail}");
    // Ana answers one in time; Ben comes back, gets a ticket of his own and answers it.
    reply(answered, &ana_token).await;
    assert_eq!(
        w.get(answered).await.sla.reply_owed,
        None,
        "a human reply pays what is owed"
    );
    presence(&ben, Presence::Online).await;
    let bens = w.ticket("Do you ship to Norway?", Priority::Normal).await;
    assert_eq!(w.get(bens).await.assignee.as_ref(), Some(&ben));
    reply(bens, &ben_token).await;

    // 29 minutes in, nothing is due; 31 minutes in, the quiet ticket goes back.
    drain_queue::<Value>(&w.env, "NotifyQueue").await;
    drain_queue::<Value>(&w.env, "RoutingQueue").await;
    let report = w.sweep_at(owed.due_at.plus(minutes(-1))).await;
    assert_eq!(report.returned, 0, "{report:?}");
    let at = owed.due_at.plus(minutes(1));
    let (a, b) = tokio::join!(w.sweep_at(at), w.sweep_at(at));
    assert_eq!(a.returned + b.returned, 1, "once, even with two sweeps: {a:?} {b:?}");
    let t = w.get(quiet).await;
    assert_eq!((t.assignee.clone(), t.sla.reply_owed.clone()), (None, None));
    assert_eq!(t.sla.unanswered_by, vec![ana.clone()]);
    let back = w.events(quiet, "returned_to_queue").await;
    assert_eq!(back.len(), 1, "{back:?}");
    assert!(back[0]["reason"].as_str().unwrap().contains("30 minutes"), "{back:?}");
    let told: Vec<(AgentId, NotificationKind)> = drain_queue::<NotifyRecord>(&w.env, "NotifyQueue")
        .await
        .into_iter()
        .filter_map(|r| match r {
            NotifyRecord::Notification(n) if n.ticket == quiet => Some((n.agent_id, n.kind)),
            _ => None,
        })
        .collect();
    assert_eq!(told, vec![(ana.clone(), NotificationKind::ReturnedUnanswered)]);
    let requests: Vec<Value> = drain_queue(&w.env, "RoutingQueue").await;
    assert!(
        requests.iter().any(|r| r["ticket"] == quiet.0),
        "routed again: {requests:?}"
    );
    assert_eq!(
        w.get(answered).await.assignee.as_ref(),
        Some(&ana),
        "the answered one stays"
    );

    // Routed again: Ana and Ben hold one ticket each and Ana waited longer, but she let
    // this one go, so Ben gets it.
    route_ticket(
        w.sweep.store.as_ref(),
        &w.sweep.queues,
        &w.tenant,
        quiet,
        SystemClock.now(),
    )
    .await
    .unwrap();
    assert_eq!(w.get(quiet).await.assignee.as_ref(), Some(&ben));
    let routed = w.events(quiet, "routed").await;
    let last = routed.last().expect("a routing event");
    let verdict = last["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["agent"] == ana.as_str())
        .map(|c| c["verdict"].clone());
    assert_eq!(verdict, Some(json!("passed_over")), "{last}");

    // A reply owed by someone who no longer holds the ticket (no change of assignee
    // leaves one; written here by hand) is dropped by the sweep, which then stops
    // reading the ticket.
    let mut t = w.get(quiet).await;
    let expected_version = t.version;
    t.sla.reply_owed = Some(ReplyOwed::new(ana.clone(), 30, at));
    w.env
        .store
        .commit(vec![Write::UpdateTicket {
            ticket: t,
            expected_version,
        }])
        .await
        .unwrap();
    let later = at.plus(minutes(40));
    let report = w.sweep_at(later).await;
    assert_eq!((report.due, report.returned, report.failed), (1, 0, 0), "{report:?}");
    let t = w.get(quiet).await;
    assert_eq!((t.assignee.as_ref(), t.sla.reply_owed.clone()), (Some(&ben), None));
    assert_eq!(w.sweep_at(later.plus(minutes(1))).await.due, 0);
}

#[tokio::test]
async fn an_unanswered_return_survives_a_fault_at_every_call_and_happens_once() {
    use baton_tests::faults::{every_call, Faults, SharedClock};
    let w = world("sla-unanswered-crash").await;
    let (ana, _) = w.agent("ana").await;
    w.team(&[&ana], None, Some(30)).await;
    let faults = Faults::new();
    let faulty = w.faulty_sweep(&faults);
    let clock = SharedClock::now_system();
    every_call("returning an unanswered ticket", 6, |k, fault| {
        let (w, faults, faulty, ana, clock) = (&w, &faults, &faulty, &ana, &clock);
        async move {
            let n = w
                .ticket(&format!("unanswered at call {k} ({fault:?})"), Priority::Normal)
                .await;
            let owed = w.get(n).await.sla.reply_owed.expect("a reply is owed");
            assert_eq!(owed.agent, *ana);
            drain_queue::<Value>(&w.env, "NotifyQueue").await;
            drain_queue::<Value>(&w.env, "RoutingQueue").await;
            let at = owed.due_at.plus(minutes(1));
            let time = at.to_string().replace(".000Z", "Z");
            faults.arm(k, fault);
            let event = LambdaEvent::new(scheduled_event_at(&time), Context::default());
            faults.run(sla_sweep::handler(faulty, event)).await;
            let fired = faults.fired();
            faults.disarm();
            // The next minute's sweep, then the outbox relay for what a crash left.
            w.sweep_at(at.plus(minutes(1))).await;
            clock.advance(time::Duration::minutes(5));
            baton_tests::relay_pending(&w.env, w.sweep.store.clone(), Arc::new(clock.clone())).await;
            let t = w.get(n).await;
            let case = format!("{fault:?} at call {k}");
            assert_eq!(w.events(n, "returned_to_queue").await.len(), 1, "{case}");
            assert_eq!((t.assignee.as_ref(), t.sla.reply_owed.as_ref()), (None, None), "{case}");
            assert_eq!(t.sla.unanswered_by, vec![ana.clone()], "{case}");
            assert_eq!(t.sla.next_check(t.status), None, "nothing left to sweep ({case})");
            let open = w.env.store.get_agent(&w.tenant, ana).await.unwrap().open_count;
            assert_eq!(open, 0, "the place given back once ({case})");
            let told: Vec<String> = drain_queue::<NotifyRecord>(&w.env, "NotifyQueue")
                .await
                .into_iter()
                .filter_map(|r| match r {
                    NotifyRecord::Notification(x)
                        if x.ticket == n && x.kind == NotificationKind::ReturnedUnanswered =>
                    {
                        Some(x.id)
                    }
                    _ => None,
                })
                .collect();
            assert!(
                !told.is_empty() && told.iter().all(|id| *id == told[0]),
                "told once ({case}): {told:?}"
            );
            let routed: Vec<Value> = drain_queue(&w.env, "RoutingQueue").await;
            assert!(
                routed.iter().any(|r| r["ticket"] == n.0),
                "routed again ({case}): {routed:?}"
            );
            fired
        }
    })
    .await;
}
