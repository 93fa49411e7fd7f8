//! What an SLA sweep reads and costs with many running tickets of which few are due:
//! `cargo run -p baton-tests --example sla_sweep_bench [TICKETS [DUE ...]]` (default
//! 10,000 tickets, 10 then 1,000 due)
//! against a fresh local endpoint. Prints a table; never part of the test command. The
//! time is the local endpoint's (one call at a time), so the items read are the number
//! that carries over to AWS.

use baton_domain::ports::TicketStore;
use baton_domain::sla::{advance, Happened, SlaPolicy, SlaSettings, Targets};
use baton_domain::ticket::{Priority, Source, Ticket};
use baton_domain::{Channel, Clock, ConversationId, CustomerId, SystemClock, TenantId, TicketNumber};
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
    println!("| running tickets | due | index items read | tickets marked | sweep time |");
    println!("|---:|---:|---:|---:|---:|");
    for due in dues {
        let env = baton_tests::env().await;
        // The admin's token creates the tenant.
        baton_tests::agent_token(&env, "bench", "boss@bench.example", "admin").await;
        let tenant = TenantId::new("bench").unwrap();
        let store = std::sync::Arc::new(env.store.clone());
        for chunk in (1..=total).collect::<Vec<_>>().chunks(64) {
            let writes = chunk.iter().map(|n| {
                let t = ticket(&tenant, *n, *n <= due);
                let store = store.clone();
                async move { store.create_ticket(&t, &[]).await.unwrap() }
            });
            futures::future::join_all(writes).await;
        }
        let queues = baton_app::Queues::default();
        let started = Instant::now();
        let report = baton_app::sla::sweep(store.as_ref(), &queues, SystemClock.now()).await;
        let took = started.elapsed();
        println!(
            "| {total} | {due} | {} | {} | {:.2} s |",
            report.due,
            report.breached + report.at_risk,
            took.as_secs_f64()
        );
    }
}
