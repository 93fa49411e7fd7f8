//! Prints a table of what the router's and the SLA clock's pure decisions cost:
//! `cargo run --release -p baton-domain --example decisions_bench`. (Never part of the
//! test command; the numbers in docs/architecture.md come from here.)

use baton_domain::directory::{Agent, Presence, Role, RoutingStrategy, Team};
use baton_domain::routing::{choose_agent, Rotation};
use baton_domain::sla::{advance, Happened, SlaSettings};
use baton_domain::ticket::{Priority, Source, Status, Ticket};
use baton_domain::{AgentId, Channel, Clock, ConversationId, CustomerId, SystemClock, TeamId, TenantId, TicketNumber};
use std::hint::black_box;
use std::time::Instant;

fn agent(i: usize, now: baton_domain::Timestamp) -> Agent {
    Agent {
        tenant_id: TenantId::new("bench").unwrap(),
        id: AgentId::new(format!("agent-{i}")).unwrap(),
        name: format!("Agent {i}"),
        email: format!("agent{i}@bench.example"),
        role: Role::Agent,
        skills: match i % 5 {
            0 => vec!["billing".into()],
            _ => vec![],
        },
        max_open: 10,
        open_count: (i % 11) as u32,
        presence: match i % 7 {
            0 => Presence::Away,
            _ => Presence::Online,
        },
        created_at: now,
        active: true,
        notifications: Default::default(),
        last_assigned_at: Some(now.plus(time::Duration::seconds(i as i64))),
    }
}

fn ticket(now: baton_domain::Timestamp) -> Ticket {
    let source = Source {
        channel: Channel::Email,
        conversation_id: ConversationId::generate(),
    };
    let mut t = Ticket::open(
        TenantId::new("bench").unwrap(),
        TicketNumber(1),
        "Charged twice",
        Priority::Normal,
        CustomerId::generate(),
        source,
        now,
    );
    t.tags = vec!["billing".into()];
    t
}

fn time_it(name: &str, runs: u32, mut f: impl FnMut()) {
    for _ in 0..runs / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..runs {
        f();
    }
    let per = start.elapsed() / runs;
    println!("| {name:<58} | {runs:>7} | {:>9.2} µs |", per.as_secs_f64() * 1e6);
}

fn main() {
    let now = SystemClock.now();
    println!("| decision | runs | per run |");
    println!("|---|---:|---:|");
    for n in [5usize, 50, 500] {
        let agents: Vec<Agent> = (0..n).map(|i| agent(i, now)).collect();
        for strategy in [RoutingStrategy::RoundRobin, RoutingStrategy::Balanced] {
            let team = Team {
                tenant_id: TenantId::new("bench").unwrap(),
                id: TeamId::new("support").unwrap(),
                name: "Support".into(),
                members: agents.iter().map(|a| a.id.clone()).collect(),
                strategy,
                created_at: now,
                lead: None,
                return_unanswered_after_minutes: None,
                version: 0,
            };
            let rotation = Rotation {
                last: Some(agents[n / 2].id.clone()),
                seq: 7,
            };
            let topic = vec!["billing".to_owned()];
            time_it(
                &format!("choose an agent: {n} members, {}", strategy.as_str()),
                2_000,
                || {
                    black_box(choose_agent(&team, &agents, &topic, &[], &rotation));
                },
            );
        }
    }
    let demo = SlaSettings::demo();
    time_it("SLA: apply a policy (business-hours calendar)", 2_000, || {
        let mut t = ticket(now);
        black_box(advance(&demo, &mut t, Happened::default(), now));
    });
    let mut started = ticket(now);
    advance(&demo, &mut started, Happened::default(), now);
    time_it("SLA: pause and resume (business-hours calendar)", 2_000, || {
        let mut t = started.clone();
        t.status = Status::WaitingOnCustomer;
        advance(&demo, &mut t, Happened::default(), now.plus(time::Duration::hours(30)));
        t.status = Status::Open;
        black_box(advance(
            &demo,
            &mut t,
            Happened::default(),
            now.plus(time::Duration::hours(80)),
        ));
    });
    time_it("SLA: sweep one due ticket", 20_000, || {
        let mut s = started.sla.clone();
        black_box(s.sweep(Status::Open, now.plus(time::Duration::days(30))));
    });
}
