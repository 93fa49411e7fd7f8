//! What an SLA sweep reads and costs with many running tickets of which few are due:
//! `cargo run -p baton-tests --example sla_sweep_bench [TICKETS [DUE ...]]` (default
//! 10,000 tickets, 10 then 1,000 due)
//! against a fresh local endpoint. Prints a table; never part of the test command.
//!
//! The tickets are loaded with `BatchWriteItem` in their stored shape (the local
//! endpoint copies the whole table for every transaction item, so creating 10,000
//! tickets one transaction at a time takes hours and tens of GiB). The sweep itself goes
//! through the real store, counted by the fault injector's call log: the items read and
//! the calls per due ticket are the numbers that carry over to AWS. The time is the
//! local endpoint's, which runs one call at a time and copies the table on every
//! transaction, so it grows with the table; DynamoDB's does not.

use baton_domain::sla::{advance, Happened, SlaPolicy, SlaSettings, Targets};
use baton_domain::ticket::{Priority, Source, Ticket};
use baton_domain::{Channel, Clock, ConversationId, CustomerId, SystemClock, TenantId, TicketNumber};
use baton_tests::faults::{Faults, Faulty};
use std::collections::BTreeMap;
use std::time::Instant;

fn policy(minutes: u32) -> SlaSettings {
    SlaSettings {
        policies: vec![SlaPolicy {
            id: "p".into(),
            name: "p".into(),
            conditions: vec![],
            targets: Targets {
                first_response_minutes: Some(minutes),
                ..Targets::default()
            },
            calendar: None,
        }],
        ..SlaSettings::default()
    }
}

fn ticket(tenant: &TenantId, n: u64, due: bool) -> Ticket {
    let now = SystemClock.now();
    let created = now.plus(time::Duration::hours(-2));
    let source = Source {
        channel: Channel::Email,
        conversation_id: ConversationId::generate(),
    };
    let mut t = Ticket::open(
        tenant.clone(),
        TicketNumber(n),
        format!("ticket {n}"),
        Priority::Normal,
        CustomerId::generate(),
        source,
        created,
    );
    // Due: an hour's first response, two hours ago. Not due: a week's.
    let settings = policy(if due { 60 } else { 7 * 24 * 60 });
    advance(&settings, &mut t, Happened::default(), created);
    t
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let total = args.first().copied().unwrap_or(10_000);
    let dues = match &args[..] {
        [_, due @ ..] if !due.is_empty() => due.to_vec(),
        _ => vec![10, 1_000],
    };
    println!("| running tickets | due | index items read | tickets marked | store calls | calls per due ticket | sweep time (local endpoint) |");
    println!("|---:|---:|---:|---:|---|---:|---:|");
    for due in dues {
        let env = baton_tests::env().await;
        // The admin's token creates the tenant.
        baton_tests::agent_token(&env, "bench", "boss@bench.example", "admin").await;
        let tenant = TenantId::new("bench").unwrap();
        seed(&env, &tenant, total, due).await;
        let faults = Faults::new();
        let store = Faulty::new(env.store.clone(), &faults);
        faults.disarm();
        let queues = baton_app::Queues::default();
        let started = Instant::now();
        let report = baton_app::sla::sweep(&store, &queues, SystemClock.now()).await;
        let took = started.elapsed();
        let mut calls = BTreeMap::<&str, u64>::new();
        for name in faults.log() {
            *calls.entry(name).or_default() += 1;
        }
        let listed = calls
            .iter()
            .map(|(name, n)| format!("{name} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        println!(
            "| {total} | {due} | {} | {} | {listed} | {:.1} | {:.2} s |",
            report.due,
            report.breached + report.at_risk,
            faults.calls() as f64 / due.max(1) as f64,
            took.as_secs_f64()
        );
        assert_eq!(report.failed, 0, "no ticket failed to be marked");
    }
}

/// Loads `total` running tickets, the first `due` of them past their first response.
async fn seed(env: &baton_tests::TestEnv, tenant: &TenantId, total: u64, due: u64) {
    let items = (1..=total).map(|n| baton_aws::dynamo::ticket_item(&ticket(tenant, n, n <= due)).unwrap());
    baton_tests::batch_put(env, items).await;
}
