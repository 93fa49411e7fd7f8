//! The analytics event log, driven by real conversations through the functions (triage,
//! the agent API) against the local endpoint: every change's events leave through the
//! outbox to the analytics queue, and the analytics consumer archives them to S3 and
//! counts each once into the tenant's daily aggregates, however often it is redelivered.

use aws_lambda_events::event::sqs::SqsEvent;
use baton_app::analytics::{record, Recorder};
use baton_domain::analytics::{local_day, DailyAggregate, Event};
use baton_domain::ports::{AnalyticsStore, ConversationStore, TenantStore, TicketStore};
use baton_domain::{Clock, SystemClock, TenantId, TicketNumber};
use baton_tests::{agent_call, agent_token, intake_onto_at, seeded_env, take_batch, whatsapp_text, TestEnv};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{json, Value};
use std::sync::Arc;

fn demo() -> TenantId {
    TenantId::new("demo").unwrap()
}

struct World {
    env: TestEnv,
    triage: triage::Deps,
    api: agent_api::Deps,
    consumer: analytics::Deps,
    token: String,
    /// The time messages arrive at: the scenario's clock where it sets one.
    clock: Arc<dyn Clock + Send + Sync>,
}

async fn world() -> World {
    let env = seeded_env().await;
    let store = Arc::new(env.store.clone());
    World {
        triage: baton_tests::triage_deps(&env, store.clone()),
        api: baton_tests::agent_api_deps(&env, store.clone()),
        consumer: analytics::Deps {
            store: store.clone(),
            aggregates: store,
            archive: Arc::new(baton_tests::bucket(&env, "AnalyticsBucket")),
            clock: Arc::new(SystemClock),
        },
        token: agent_token(&env, "demo", "ada@demo.example", "agent").await,
        env,
        clock: Arc::new(SystemClock),
    }
}

impl World {
    async fn says(&self, sender: &str, id: &str, text: &str) -> baton_domain::intake::InboundMessage {
        let m = intake_onto_at(
            &self.env,
            "InboundQueue",
            whatsapp_text(sender, id, text),
            baton_domain::conversation::DEFAULT_INACTIVITY,
            self.clock.as_ref(),
        )
        .await;
        baton_tests::triage_records(&self.triage, std::slice::from_ref(&m)).await;
        m
    }

    async fn act(&self, number: TicketNumber, method: &str, path: &str, body: Value) {
        let version = self.env.store.get_ticket(&demo(), number).await.unwrap().version;
        let mut body = body;
        body["version"] = version.into();
        let path = format!("/v1/tickets/{}{path}", number.0);
        let (status, _, out) = agent_call(&self.api, &self.token, method, &path, Some(body)).await;
        assert!(status < 300, "{method} {path}: {status} {out}");
    }

    /// Runs the consumer over `batch`; no record may fail.
    async fn consume(&self, batch: SqsEvent) {
        let out = analytics::handler(&self.consumer, LambdaEvent::new(batch, Context::default()))
            .await
            .unwrap();
        assert!(out.batch_item_failures.is_empty(), "{:?}", out.batch_item_failures);
    }

    async fn today(&self, slice: &str) -> DailyAggregate {
        let day = local_day(SystemClock.now(), "UTC");
        let days = self
            .consumer
            .aggregates
            .daily(&demo(), slice, &day, &day)
            .await
            .unwrap();
        days.into_iter().next().unwrap_or_default()
    }
}

#[tokio::test]
async fn a_conversation_s_events_are_archived_and_counted_once_in_each_slice() {
    let w = world().await;
    // An answer from the knowledge base; another customer asks for a person.
    w.says("4915550100", "wamid.an.1", "How long does delivery take?").await;
    let asked = w
        .says("4915550101", "wamid.an.2", "I want to talk to a human please")
        .await;
    let number = w
        .env
        .store
        .get_conversation(&demo(), asked.conversation_id)
        .await
        .unwrap()
        .ticket
        .expect("handed off");
    // An agent takes it, answers, resolves; the customer writes again (a reopen) and the
    // agent answers the new cycle.
    w.act(number, "POST", "/takeover", json!({})).await;
    w.act(number, "POST", "/replies", json!({ "text": "Hello, I am Ada." }))
        .await;
    w.act(number, "POST", "/replies", json!({ "text": "Anything else?" }))
        .await;
    w.act(number, "PATCH", "", json!({ "status": "resolved" })).await;
    w.says("4915550101", "wamid.an.3", "It still has not arrived").await;
    w.act(number, "POST", "/replies", json!({ "text": "Looking again now." }))
        .await;

    let batch = take_batch(&w.env, "AnalyticsQueue").await;
    let events: Vec<Event> = batch
        .records
        .iter()
        .flat_map(|r| serde_json::from_str::<Vec<Event>>(r.body.as_deref().unwrap()).unwrap())
        .collect();
    let kinds: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_value(e).unwrap()["event"].as_str().unwrap().to_owned())
        .collect();
    for kind in [
        "customer_message",
        "ai_answered",
        "handed_off",
        "ticket_created",
        "ticket_assigned",
        "human_replied",
        "ticket_resolved",
        "ticket_reopened",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} missing from {kinds:?}");
    }
    // Counted once, even when the whole batch comes again.
    w.consume(batch.clone()).await;
    w.consume(batch).await;

    let all = w.today("all").await;
    let counts: Vec<(&str, i64)> = [
        "customer_messages",
        "conversations",
        "ai_answers",
        "ai_answers:kb",
        "handoffs",
        "handoff:asked_for_human",
        "tickets_created",
        "assignments",
        "human_replies",
        "first_responses",
        "resolved",
        "reopened",
    ]
    .into_iter()
    .map(|c| (c, all.count(c)))
    .collect();
    assert_eq!(
        counts,
        [
            ("customer_messages", 2),
            ("conversations", 2),
            ("ai_answers", 1),
            ("ai_answers:kb", 1),
            ("handoffs", 1),
            ("handoff:asked_for_human", 1),
            ("tickets_created", 1),
            ("assignments", 1),
            ("human_replies", 3),
            ("first_responses", 2),
            ("resolved", 1),
            ("reopened", 1),
        ],
        "the message on the ticket is the ticket's, not a new conversation's"
    );
    // One first response per cycle, in the durations histogram too.
    assert_eq!(all.histograms["frt"].values().sum::<i64>(), 2, "{all:?}");
    assert_eq!(all.histograms["resolution"].values().sum::<i64>(), 1);
    // The agent's and the channel's slices count their share.
    let ada = agent_api::auth::agent_id_for_email("ada@demo.example");
    let ada = w.today(&format!("agent:{ada}")).await;
    assert_eq!((ada.count("first_responses"), ada.count("resolved")), (2, 1), "{ada:?}");
    assert_eq!(w.today("channel:whatsapp").await.count("conversations"), 2);

    // The archive holds every event as newline JSON under the tenant's day.
    let day = local_day(SystemClock.now(), "UTC");
    let key = baton_app::analytics::archive_key(&events[0], &day);
    assert!(key.starts_with(&format!("events/tenant=demo/day={day}/")), "{key}");
    let body = w.consumer.archive.get(&key, 1 << 20).await.unwrap().expect("archived");
    let lines: Vec<Value> = String::from_utf8(body)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["id"], events[0].id);
    assert_eq!(lines[0]["tenant_id"], "demo");
}

#[tokio::test]
async fn a_record_that_is_not_events_or_names_an_unknown_tenant_is_parked() {
    let w = world().await;
    let record = |body: &str| {
        json!({ "messageId": format!("m-{}", body.len()), "receiptHandle": "rh", "body": body,
            "attributes": { "ApproximateReceiveCount": "1" }, "messageAttributes": {}, "md5OfBody": "",
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1" })
    };
    let stranger =
        json!([{ "id": "x.0", "tenant_id": "nobody", "at": "2026-12-03T10:00:00.000Z", "event": "ticket_created" }]);
    let batch: SqsEvent =
        serde_json::from_value(json!({ "Records": [record("not json"), record(&stranger.to_string())] })).unwrap();
    w.consume(batch).await;
    let parked = baton_domain::ports::ParkingStore::list_parked(
        &w.env.store,
        analytics::CONSUMER,
        &baton_domain::ports::PageRequest::first(10),
    )
    .await
    .unwrap();
    assert_eq!(parked.items.len(), 2, "{parked:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_survives_a_fault_at_every_call_and_counts_each_event_once() {
    use baton_domain::analytics::{events, Fact, Scope};
    use baton_tests::faults::{every_call, Faults, Faulty};
    let w = world().await;
    let faults = Faults::new();
    let tenants = Faulty::new(w.env.store.clone(), &faults);
    let aggregates = Faulty::new(w.env.store.clone(), &faults);
    let archive = Faulty::new(baton_tests::bucket(&w.env, "AnalyticsBucket"), &faults);
    let faulty = Recorder {
        tenants: &tenants,
        aggregates: &aggregates,
        archive: &archive,
    };
    let clean = Recorder {
        tenants: &w.env.store,
        aggregates: &w.env.store,
        archive: w.consumer.archive.as_ref(),
    };
    every_call("the analytics consumer", 4, |k, fault| {
        let (w, faults, faulty, clean) = (&w, &faults, &faulty, &clean);
        async move {
            let scope = Scope {
                tenant_id: demo(),
                channel: Some(baton_domain::Channel::Email),
                conversation: None,
                ticket: Some(TicketNumber(k)),
                team: None,
                agent: None,
            };
            let now = SystemClock.now();
            // A gap, placed into its cluster (the same one every time) as it is counted.
            let text = "can I pay with a gift card";
            let gap = Fact::Question {
                text: text.into(),
                gap: Some("no_knowledge".into()),
                asked: true,
                model: baton_domain::clusters::WORDS_MODEL.into(),
                vector: baton_domain::clusters::encode(&baton_domain::clusters::word_vector(text)),
            };
            let change = events(
                &scope,
                vec![Fact::TicketCreated, gap, Fact::TicketClosed],
                &format!("crash:{k}:{fault:?}"),
                now,
            );
            let gaps_counted = || async {
                let gaps = baton_domain::clusters::Family::Gaps;
                let index = w.env.store.cluster_index(&demo(), gaps).await.unwrap();
                match index.centroids.first() {
                    None => 0,
                    Some(c) => w.env.store.get_cluster(&demo(), gaps, &c.id).await.unwrap().before.gaps,
                }
            };
            let gaps_before = gaps_counted().await;
            let before = w.today("channel:email").await;
            faults.arm(k, fault);
            let first = faults.run(record(faulty, &change)).await;
            let fired = faults.fired();
            faults.disarm();
            if !matches!(first, Some(Ok(_))) {
                // The queue delivers the record again.
                record(clean, &change).await.expect("the redelivery is counted");
            }
            // And once more, as a standard queue may.
            let again = record(clean, &change).await.unwrap();
            assert_eq!(again.counted, 0, "{fault:?} at {k}: nothing counted twice");
            let after = w.today("channel:email").await;
            for counter in ["tickets_created", "closed", "knowledge_gaps"] {
                assert_eq!(
                    after.count(counter) - before.count(counter),
                    1,
                    "{fault:?} at {k}: {counter} counted once"
                );
            }
            assert_eq!(gaps_counted().await - gaps_before, 1, "{fault:?} at {k}: placed once");
            let key = baton_app::analytics::archive_key(&change[0], &local_day(now, "UTC"));
            let archived = w.consumer.archive.get(&key, 1 << 20).await.unwrap().expect("archived");
            assert_eq!(String::from_utf8(archived).unwrap().lines().count(), 3);
            fired
        }
    })
    .await;
}

/// The reports over a scenario whose every number is worked out by hand: three WhatsApp
/// customers on Friday 4 December 2026 (UTC, an office calendar Mon–Fri 09:00–17:00).
/// A asks for a person at 14:40, Ada answers at 15:10 and resolves on Monday at 09:20.
/// B gets an AI answer at 14:40 and asks for a person at 15:00 (the answer is clawed
/// back); Ada answers B on Monday at 09:25, past its one-hour first-response target.
/// C gets an AI answer at 14:40 and never comes back (an AI resolution).
#[tokio::test]
async fn reports_give_the_numbers_worked_out_by_hand_and_csv_has_the_same_totals() {
    let mut w = world().await;
    let clock = baton_tests::faults::SharedClock(Arc::new(baton_domain::FixedClock::new(
        baton_domain::Timestamp::parse_rfc3339("2026-12-04T14:40:00Z").unwrap(),
    )));
    w.triage.clock = Arc::new(clock.clone());
    w.api.clock = Box::new(clock.clone());
    w.clock = Arc::new(clock.clone());
    let admin = agent_token(&w.env, "demo", "lead@demo.example", "admin").await;
    let sla = json!({
        "calendars": [{ "id": "office", "name": "Office", "time_zone": "UTC", "hours": [
            { "day": "monday", "from": "09:00", "to": "17:00" }, { "day": "tuesday", "from": "09:00", "to": "17:00" },
            { "day": "wednesday", "from": "09:00", "to": "17:00" }, { "day": "thursday", "from": "09:00", "to": "17:00" },
            { "day": "friday", "from": "09:00", "to": "17:00" }] }],
        "policies": [{ "id": "standard", "name": "Standard", "calendar": "office",
                       "targets": { "first_response_minutes": 60, "resolution_minutes": 480 } }],
        "warn_at_percent": 80
    });
    let (status, _, body) = agent_call(&w.api, &admin, "PUT", "/v1/sla", Some(sla)).await;
    assert_eq!(status, 200, "{body}");
    let ticket_of = |m: baton_domain::intake::InboundMessage| {
        let store = w.env.store.clone();
        async move {
            store
                .get_conversation(&demo(), m.conversation_id)
                .await
                .unwrap()
                .ticket
                .expect("handed off")
        }
    };
    let a = ticket_of(
        w.says("4915550200", "wamid.rp.a1", "I want to talk to a human please")
            .await,
    )
    .await;
    w.says("4915550201", "wamid.rp.b1", "How long does delivery take?")
        .await;
    w.says("4915550202", "wamid.rp.c1", "How long does delivery take?")
        .await;
    clock.advance(time::Duration::minutes(20)); // 15:00
    let b = ticket_of(
        w.says("4915550201", "wamid.rp.b2", "I want to talk to a human please")
            .await,
    )
    .await;
    clock.advance(time::Duration::minutes(10)); // 15:10
    w.act(a, "POST", "/takeover", json!({})).await;
    w.act(a, "POST", "/replies", json!({ "text": "Hello, I am Ada." }))
        .await;
    // Monday 7 December, 09:20.
    clock.advance(time::Duration::minutes(66 * 60 + 10));
    w.act(a, "PATCH", "", json!({ "status": "resolved" })).await;
    clock.advance(time::Duration::minutes(5)); // 09:25
    w.act(b, "POST", "/takeover", json!({})).await;
    w.act(b, "POST", "/replies", json!({ "text": "Sorry for the wait." }))
        .await;
    w.consume(take_batch(&w.env, "AnalyticsQueue").await).await;

    let range = "from=2026-12-04&to=2026-12-07";
    let (status, _, ai) = agent_call(
        &w.api,
        &admin,
        "GET",
        &format!("/v1/reports/ai?{range}&by=channel"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{ai}");
    let t = &ai["total"];
    let got: Vec<(&str, Value)> = [
        "conversations",
        "ai_conversations",
        "involvement_rate",
        "assumed_resolutions",
        "clawed_back",
        "ai_resolutions",
        "ai_resolution_rate",
        "handoffs",
        "handoff_rate",
    ]
    .into_iter()
    .map(|k| (k, t[k].clone()))
    .collect();
    assert_eq!(
        got,
        [
            ("conversations", json!(3)),
            ("ai_conversations", json!(2)),
            ("involvement_rate", json!(0.6667)),
            ("assumed_resolutions", json!(2)),
            ("clawed_back", json!(1)),
            ("ai_resolutions", json!(1)),
            ("ai_resolution_rate", json!(0.5)),
            ("handoffs", json!(2)),
            ("handoff_rate", json!(0.6667)),
        ],
        "{ai}"
    );
    assert_eq!(t["handoff_reasons"], json!({ "asked_for_human": 2 }));
    let whatsapp = ai["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["slice"] == "channel:whatsapp")
        .unwrap();
    assert_eq!(whatsapp["ai_resolutions"], 1);
    assert_eq!(ai["items"].as_array().unwrap().len(), 4, "one row per channel");

    let (status, _, team) = agent_call(
        &w.api,
        &admin,
        "GET",
        &format!("/v1/reports/team?{range}&by=agent"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{team}");
    let t = &team["total"];
    // First responses: A after 30 minutes (1 800 s, all in office hours); B from Friday
    // 15:00 to Monday 09:25: 239 100 s wall-clock (its bucket: 230 000), 8 700 s of office
    // hours (15:00–17:00 and 09:00–09:25).
    assert_eq!(
        t["first_response"],
        json!({ "count": 2, "mean_secs": 120_450, "median_secs": 1800, "p90_secs": 230_000 })
    );
    assert_eq!(
        t["first_response_business"],
        json!({ "count": 2, "mean_secs": 5250, "median_secs": 1800, "p90_secs": 8700 })
    );
    // A's resolution: Friday 14:40 to Monday 09:20 is 240 000 s; in office hours 2 h 20 min
    // on Friday and 20 min on Monday: 9 600 s.
    assert_eq!(
        t["resolution"],
        json!({ "count": 1, "mean_secs": 240_000, "median_secs": 240_000, "p90_secs": 240_000 })
    );
    assert_eq!(t["resolution_business"]["median_secs"], 9600);
    // First response on time for A, breached for B; resolution on time for A.
    assert_eq!(
        t["sla"]["first_response"],
        json!({ "on_time": 1, "breached": 1, "attainment": 0.5 })
    );
    assert_eq!(
        t["sla"]["resolution"],
        json!({ "on_time": 1, "breached": 0, "attainment": 1.0 })
    );
    assert_eq!(
        (t["tickets_created"].clone(), t["resolved"].clone()),
        (json!(2), json!(1))
    );
    let ada = format!("agent:{}", agent_api::auth::agent_id_for_email("ada@demo.example"));
    let row = team["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["slice"] == ada)
        .unwrap();
    assert_eq!(
        (row["first_response"]["count"].clone(), row["resolved"].clone()),
        (json!(2), json!(1))
    );
    assert!(team["days_read"].as_u64().unwrap() >= 2, "{team}");

    // The CSV export: a row per agent, then the total, with the API's numbers.
    let (status, headers, text) = baton_tests::agent_call_raw(
        &w.api,
        &admin,
        "GET",
        &format!("/v1/reports/team?{range}&by=agent&format=csv"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(
        lines.len(),
        team["items"].as_array().unwrap().len() + 2,
        "header, agents, total"
    );
    let column = |name: &str| {
        lines[0]
            .iter()
            .position(|c| *c == name)
            .unwrap_or_else(|| panic!("{name}"))
    };
    let total = lines.last().unwrap();
    assert_eq!(total[column("slice")], "all");
    for (name, want) in [
        ("first_response.mean_secs", "120450"),
        ("resolution.median_secs", "240000"),
        ("sla.first_response.attainment", "0.5"),
        ("tickets_created", "2"),
    ] {
        assert_eq!(total[column(name)], want, "{name}");
    }

    // Bad ranges and slices are refused with the reason.
    for bad in [
        "from=2026-12-07&to=2026-12-04",
        "from=monday",
        "by=planet",
        "format=xml",
    ] {
        let (status, _, body) = agent_call(&w.api, &admin, "GET", &format!("/v1/reports/team?{bad}"), None).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _, _) = agent_call(&w.api, &admin, "GET", "/v1/reports/ai?by=agent", None).await;
    assert_eq!(status, 400, "the AI report has no agents");
}

#[tokio::test]
async fn report_settings_are_validated_and_move_the_day_boundary() {
    let w = world().await;
    let admin = agent_token(&w.env, "demo", "lead@demo.example", "admin").await;
    let (status, _, body) = agent_call(&w.api, &admin, "GET", "/v1/reports/settings", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        (&body["time_zone"], &body["ai_resolution_window_hours"]),
        (&json!("UTC"), &json!(24))
    );
    assert_eq!(
        body["survey"],
        json!({ "email": true, "whatsapp": true, "instagram": true, "widget": true, "delay_minutes": 0,
                "question": "How would you rate the help you received?", "whatsapp_template": null,
                "link_valid_days": 7, "after_ai": true, "ai_delay_minutes": 60 })
    );
    let bad = json!({ "time_zone": "Mars/Olympus", "ai_resolution_window_hours": 0,
                      "survey": { "question": " ", "delay_minutes": 5000, "ai_delay_minutes": 0 } });
    let (status, _, body) = agent_call(&w.api, &admin, "PUT", "/v1/reports/settings", Some(bad)).await;
    assert_eq!(status, 422, "{body}");
    let fields = &body["error"]["fields"];
    for f in [
        "time_zone",
        "ai_resolution_window_hours",
        "survey.question",
        "survey.delay_minutes",
        "survey.ai_delay_minutes",
    ] {
        assert!(fields[f].is_string(), "{f}: {body}");
    }
    let tokyo = json!({ "time_zone": "Asia/Tokyo", "ai_resolution_window_hours": 48 });
    let (status, _, _) = agent_call(&w.api, &admin, "PUT", "/v1/reports/settings", Some(tokyo.clone())).await;
    assert_eq!(status, 200);
    let tenant = w.env.store.get_tenant(&demo()).await.unwrap();
    assert_eq!(
        (tenant.time_zone.as_str(), tenant.reports.ai_resolution_window_hours),
        ("Asia/Tokyo", 48)
    );
    let (_, _, report) = agent_call(&w.api, &admin, "GET", "/v1/reports/ai", None).await;
    assert_eq!(report["time_zone"], "Asia/Tokyo");
    assert_eq!(report["to"], local_day(SystemClock.now(), "Asia/Tokyo"));
    let agent = agent_token(&w.env, "demo", "bo@demo.example", "agent").await;
    let (status, _, _) = agent_call(&w.api, &agent, "GET", "/v1/reports/team", None).await;
    assert_eq!(status, 403, "reports are for admins");
}

/// The real embedding model, loaded once per test binary.
fn model() -> Arc<dyn baton_domain::retrieval::Embedder> {
    static MODEL: std::sync::OnceLock<Arc<baton_embed::MiniLm>> = std::sync::OnceLock::new();
    MODEL
        .get_or_init(|| {
            let dir = baton_local::local_model_dir().expect("the embedding model is installed (infra/local/venv)");
            Arc::new(baton_embed::MiniLm::load(&dir).expect("the model loads"))
        })
        .clone()
}

async fn gap_report(api: &agent_api::Deps, admin: &str) -> Value {
    let (status, _, body) = agent_call(api, admin, "GET", "/v1/reports/gaps", None).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn paraphrases_of_an_uncovered_question_form_one_gap_whose_handoff_rate_falls_after_its_article() {
    let mut w = world().await;
    w.triage.kb_cache =
        baton_domain::kb_cache::KbCache::new(Some(model())).with_vector_refresh(std::time::Duration::ZERO);
    let admin = agent_token(&w.env, "demo", "lead@demo.example", "admin").await;
    let ticket_of = |m: &baton_domain::intake::InboundMessage| {
        let (store, id) = (w.env.store.clone(), m.conversation_id);
        async move { store.get_conversation(&demo(), id).await.unwrap().ticket }
    };
    // Three customers ask one question the knowledge base does not cover, in their own
    // words; a fourth asks another.
    let asked = [
        ("4915550300", "Do you offer gift wrapping?"),
        ("4915550301", "Can you gift wrap my order please?"),
        ("4915550302", "is gift wrapping available for presents"),
        ("4915550303", "Do you have a physical shop in Berlin I can visit?"),
    ];
    let mut tickets = Vec::new();
    for (i, (sender, text)) in asked.iter().enumerate() {
        let m = w.says(sender, &format!("wamid.gap.{i}"), text).await;
        tickets.push(ticket_of(&m).await.unwrap_or_else(|| panic!("{text:?} is handed off")));
    }
    w.act(tickets[0], "POST", "/takeover", json!({})).await;
    w.act(
        tickets[0],
        "POST",
        "/replies",
        json!({ "text": "Yes: gift wrapping is 3 EUR per order; tick \"gift wrap\" at checkout." }),
    )
    .await;
    w.act(
        tickets[0],
        "POST",
        "/notes",
        json!({ "text": "internal: price list v2" }),
    )
    .await;
    // Counted once, however often the batch comes.
    let batch = take_batch(&w.env, "AnalyticsQueue").await;
    w.consume(batch.clone()).await;
    w.consume(batch).await;

    let report = gap_report(&w.api, &admin).await;
    let items = report["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "one gap per question asked: {report:#}");
    let gift = &items[0];
    assert_eq!(
        (&gift["conversations"], &gift["asked"], &gift["handoff_rate"]),
        (&json!(3), &json!(3), &json!(1.0)),
        "{gift:#}"
    );
    assert_eq!(gift["label"], "Do you offer gift wrapping?");
    assert_eq!(gift["samples"].as_array().unwrap().len(), 3);
    let mut on_gap: Vec<u64> = serde_json::from_value(gift["tickets"].clone()).unwrap();
    on_gap.sort();
    assert_eq!(on_gap, tickets[..3].iter().map(|t| t.0).collect::<Vec<_>>());
    assert_eq!(items[1]["conversations"], 1);
    assert_eq!(items[1]["label"], asked[3].1);
    assert_eq!(gift["covered"], Value::Null);
    let weeks = gift["weeks"].as_array().unwrap();
    assert_eq!(weeks.last().unwrap()["gaps"], 3, "{weeks:?}");

    // The draft: the first question, the samples, the human's public reply (not the note).
    let id = gift["id"].as_str().unwrap();
    let (status, _, draft) = agent_call(&w.api, &admin, "GET", &format!("/v1/reports/gaps/{id}/draft"), None).await;
    assert_eq!(status, 200, "{draft}");
    assert_eq!(draft["title"], "Do you offer gift wrapping");
    assert_eq!(
        draft["body"],
        "Yes: gift wrapping is 3 EUR per order; tick \"gift wrap\" at checkout."
    );
    assert_eq!(draft["tickets"], json!([tickets[0].0]));
    let (status, _, _) = agent_call(&w.api, &admin, "GET", "/v1/reports/gaps/gap-404/draft", None).await;
    assert_eq!(status, 404);
    let mut article = json!({ "id": "gift-wrapping", "title": draft["title"], "body": draft["body"],
                              "sample_questions": draft["sample_questions"], "gap": "no-such-gap" });
    let (status, _, body) = agent_call(&w.api, &admin, "POST", "/v1/kb/articles", Some(article.clone())).await;
    assert_eq!(status, 422, "an unknown gap is named: {body}");
    assert!(body["error"]["fields"]["gap"].is_string(), "{body}");
    article["gap"] = json!(id);
    let (status, _, body) = agent_call(&w.api, &admin, "POST", "/v1/kb/articles", Some(article)).await;
    assert_eq!(status, 201, "{body}");

    // Asked again in other words, now the AI answers from the article.
    for (i, text) in ["Do you do gift wrapping?", "Can I get my order gift wrapped?"]
        .iter()
        .enumerate()
    {
        let m = w
            .says(&format!("49155503{}", 10 + i), &format!("wamid.gap.after.{i}"), text)
            .await;
        assert_eq!(ticket_of(&m).await, None, "{text:?} is answered");
    }
    w.consume(take_batch(&w.env, "AnalyticsQueue").await).await;
    let report = gap_report(&w.api, &admin).await;
    let gift = report["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == id)
        .unwrap();
    assert_eq!(gift["covered"]["article_id"], "gift-wrapping");
    assert_eq!(
        gift["before"],
        json!({ "asked": 3, "gaps": 3, "handoff_rate": 1.0 }),
        "{gift:#}"
    );
    assert_eq!(
        gift["after"],
        json!({ "asked": 2, "gaps": 0, "handoff_rate": 0.0 }),
        "{gift:#}"
    );
    assert_eq!(
        (&gift["conversations"], &gift["asked"], &gift["handoff_rate"]),
        (&json!(3), &json!(5), &json!(0.6))
    );
    // The AI report counts the questions and gaps too.
    let (_, _, ai) = agent_call(&w.api, &admin, "GET", "/v1/reports/ai", None).await;
    let t = &ai["total"];
    assert_eq!(
        (&t["questions"], &t["knowledge_gaps"], &t["knowledge_gap_rate"]),
        (&json!(6), &json!(4), &json!(0.6667)),
        "{ai:#}"
    );
    let reasons = t["knowledge_gap_reasons"].as_object().unwrap();
    assert_eq!(reasons.values().map(|v| v.as_i64().unwrap()).sum::<i64>(), 4, "{ai:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_consumers_placing_alike_gaps_at_once_make_one_gap_counting_both() {
    use baton_domain::analytics::{events, Fact, Scope};
    use baton_domain::clusters;
    let w = world().await;
    let recorder = Recorder {
        tenants: w.consumer.store.as_ref(),
        aggregates: w.consumer.aggregates.as_ref(),
        archive: w.consumer.archive.as_ref(),
    };
    let question = |i: u64, text: &str| {
        let scope = Scope {
            tenant_id: demo(),
            channel: Some(baton_domain::Channel::Whatsapp),
            conversation: None,
            ticket: Some(TicketNumber(900 + i)),
            team: None,
            agent: None,
        };
        let fact = Fact::Question {
            text: text.into(),
            gap: Some("no_knowledge".into()),
            asked: true,
            model: clusters::WORDS_MODEL.into(),
            vector: clusters::encode(&clusters::word_vector(text)),
        };
        events(&scope, vec![fact], &format!("race-{i}"), SystemClock.now())
    };
    let (one, two) = (question(1, "do you gift wrap"), question(2, "do you gift wrap orders"));
    // Both read the empty index before either writes: one transaction fails on the
    // index's version, and that consumer places its question again, into the new gap.
    let (a, b) = tokio::join!(record(&recorder, &one), record(&recorder, &two));
    assert_eq!((a.unwrap().counted, b.unwrap().counted), (1, 1));
    let index = w
        .consumer
        .aggregates
        .cluster_index(&demo(), clusters::Family::Gaps)
        .await
        .unwrap();
    assert_eq!(index.centroids.len(), 1, "{index:?}");
    assert_eq!((index.started, index.version), (1, 2));
    let gap = w
        .consumer
        .aggregates
        .get_cluster(&demo(), clusters::Family::Gaps, &index.centroids[0].id)
        .await
        .unwrap();
    assert_eq!(gap.before, clusters::Tally { asked: 2, gaps: 2 });
    assert_eq!(gap.tickets.len(), 2);
    // Redelivered: counted before, nothing placed again.
    let again = record(&recorder, &one).await.unwrap();
    assert_eq!((again.counted, again.already), (0, 1));
    let day = local_day(SystemClock.now(), "UTC");
    let days = w
        .consumer
        .aggregates
        .daily(&demo(), clusters::Family::Gaps.slice(), &day, &day)
        .await
        .unwrap();
    assert_eq!(days[0].count(&format!("gaps:{}", gap.id)), 2);
}

#[tokio::test]
async fn recurring_topics_are_counted_by_week_and_a_week_that_doubles_is_flagged_as_a_spike() {
    let mut w = world().await;
    w.triage.kb_cache = baton_domain::kb_cache::KbCache::new(Some(model()));
    // Monday 2 November 2026, noon.
    let clock = baton_tests::faults::SharedClock(Arc::new(baton_domain::FixedClock::new(
        baton_domain::Timestamp::parse_rfc3339("2026-11-02T12:00:00Z").unwrap(),
    )));
    w.triage.clock = Arc::new(clock.clone());
    w.api.clock = Box::new(clock.clone());
    w.clock = Arc::new(clock.clone());
    let admin = agent_token(&w.env, "demo", "lead@demo.example", "admin").await;
    let refund = [
        "I want to talk to a human, my refund has still not arrived",
        "Let me speak to a person please, where is the refund for my return?",
        "I need a human agent: I returned the shoes weeks ago and got no refund",
        "human please, my refund is missing",
        "Can I talk to someone? The money for my returned order never came back",
    ];
    let address = [
        "I want to talk to a human, I need to change my delivery address",
        "Please get me a person, the shipping address on my order is wrong",
    ];
    // Weeks 1–3: one refund ticket and one address ticket; week 4: four refund tickets.
    let mut n = 0;
    let mut open = |text: &str| {
        n += 1;
        (format!("49155504{n:02}"), format!("wamid.topic.{n}"), text.to_owned())
    };
    for week in 0..3 {
        for (sender, id, text) in [open(refund[week]), open(address[week % 2])] {
            w.says(&sender, &id, &text).await;
        }
        clock.advance(time::Duration::days(7));
    }
    for text in &refund[1..] {
        let (sender, id, text) = open(text);
        w.says(&sender, &id, &text).await;
    }
    let tickets = w.env.store.next_ticket_number(&demo()).await.unwrap().0 - 1;
    assert_eq!(tickets, 10, "every message was handed off");
    let number = TicketNumber(10);
    w.act(number, "PATCH", "", json!({ "tags": ["refund"] })).await;
    w.consume(take_batch(&w.env, "AnalyticsQueue").await).await;

    let (status, _, report) = agent_call(
        &w.api,
        &admin,
        "GET",
        "/v1/reports/topics?from=2026-11-02&to=2026-11-23",
        None,
    )
    .await;
    assert_eq!(status, 200, "{report}");
    for bad in [
        "/v1/reports/topics?limit=0",
        "/v1/reports/gaps?limit=101",
        "/v1/reports/topics?from=2026-13-01",
    ] {
        let (status, _, body) = agent_call(&w.api, &admin, "GET", bad, None).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["error"]["message"].is_string(), "{bad}: {body}");
    }
    let items = report["items"].as_array().unwrap();
    let weeks = |row: &Value| -> Vec<u64> {
        row["weeks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["tickets"].as_u64().unwrap())
            .collect()
    };
    let refunds = &items[0];
    assert_eq!(
        refunds["tickets"], 7,
        "the refund paraphrases are one topic: {report:#}"
    );
    assert_eq!(weeks(refunds), [1, 1, 1, 4]);
    assert_eq!((&refunds["trend"], &refunds["spike"]), (&json!("rising"), &json!(true)));
    assert_eq!(refunds["label"], "my refund has still not arrived", "what it is about");
    let addresses = &items[1];
    assert_eq!(addresses["tickets"], 3, "{report:#}");
    assert_eq!(weeks(addresses), [1, 1, 1, 0]);
    assert_eq!(addresses["spike"], false);
    assert_eq!(items.len(), 2, "{report:#}");
    // Tags: every ticket's channel and handoff reason, and the one added later.
    let tag = |name: &str| {
        report["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tag"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {report:#}"))
    };
    assert_eq!(weeks(&tag("whatsapp")), [2, 2, 2, 4], "twice the mean: a spike");
    assert_eq!(weeks(&tag("refund")), [0, 0, 0, 1], "too few for a spike");
    assert_eq!(
        report["spikes"],
        json!([refunds["id"], "tag:handoff:asked_for_human", "tag:whatsapp"]),
        "{report:#}"
    );
}

#[tokio::test]
async fn thanks_for_an_answer_confirm_its_resolution_and_neither_reply_nor_open_a_ticket() {
    let w = world().await;
    let admin = agent_token(&w.env, "demo", "lead@demo.example", "admin").await;
    w.says("4915550600", "wamid.ty.1", "How long does delivery take?").await;
    let thanked = w.says("4915550600", "wamid.ty.2", "Thanks, that helped! 👍").await;
    w.says("4915550601", "wamid.ty.3", "How long does delivery take?").await;
    let not_thanks = w
        .says("4915550601", "wamid.ty.4", "thanks but my parcel still has not arrived")
        .await;
    let store = &w.env.store;
    let thanked = store.get_conversation(&demo(), thanked.conversation_id).await.unwrap();
    assert_eq!(thanked.ticket, None, "a thank-you is no question for a person");
    let messages = store
        .list_messages(&demo(), thanked.id, &baton_domain::ports::PageRequest::first(10))
        .await
        .unwrap()
        .items;
    assert_eq!(
        messages.len(),
        3,
        "the question, the answer, the thanks: no reply to it"
    );
    let not_thanks = store
        .get_conversation(&demo(), not_thanks.conversation_id)
        .await
        .unwrap();
    assert_eq!(
        store
            .list_messages(&demo(), not_thanks.id, &baton_domain::ports::PageRequest::first(10))
            .await
            .unwrap()
            .items
            .len(),
        4,
        "a complaint gets its reply"
    );
    w.consume(take_batch(&w.env, "AnalyticsQueue").await).await;
    let (_, _, ai) = agent_call(&w.api, &admin, "GET", "/v1/reports/ai", None).await;
    let t = &ai["total"];
    assert_eq!(
        (
            &t["assumed_resolutions"],
            &t["confirmed_resolutions"],
            &t["clawed_back"]
        ),
        (&json!(2), &json!(1), &json!(1)),
        "{ai:#}"
    );
}
