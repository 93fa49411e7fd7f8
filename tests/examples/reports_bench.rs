//! What a report reads and costs for a tenant with little and with much history:
//! `cargo run -p baton-tests --example reports_bench [TICKETS ...]` (default 1,000 then
//! 100,000 tickets over the last year) against a fresh local endpoint. Prints a table;
//! never part of the test command.
//!
//! Each ticket's events (the customer's message, the handoff, created, assigned, the first
//! reply, resolved, the SLA target met, a survey answer for a third of them) are counted
//! into the daily aggregates exactly as the consumer counts them (`analytics::slices`,
//! `increments`, `bucket`), in memory, and the aggregates loaded with `BatchWriteItem`
//! (counting 800,000 events one transaction at a time on the local endpoint takes hours;
//! what a report reads is the same). Then the real agent API answers the reports: the
//! items read (`days_read`) are the number that carries over to AWS; the time is the
//! local endpoint's, one call at a time.

use baton_domain::analytics::{bucket, events, increments, local_day, slices, DailyAggregate, Fact, Scope};
use baton_domain::csat::ResolvedBy;
use baton_domain::sla::Target;
use baton_domain::{Channel, Clock, ConversationId, SystemClock, TeamId, TenantId, TicketNumber};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const TEAMS: usize = 3;
const AGENTS_PER_TEAM: usize = 4;
const CHANNELS: [Channel; 4] = [Channel::Email, Channel::Whatsapp, Channel::Instagram, Channel::Widget];

fn agent_email(n: usize) -> String {
    format!("agent{n}@bench.example")
}

/// The aggregates `tickets` tickets over the last 365 days leave, by slice and day.
fn aggregates(tenant: &TenantId, tickets: u64) -> (BTreeMap<(String, String), DailyAggregate>, u64) {
    let now = SystemClock.now();
    let mut days: BTreeMap<(String, String), DailyAggregate> = BTreeMap::new();
    let mut counted = 0;
    for i in 0..tickets {
        let at = now.plus(time::Duration::seconds(-((i * 364 * 86_400 / tickets) as i64) - 60));
        let team = (i as usize) % TEAMS;
        let agent = team * AGENTS_PER_TEAM + (i as usize / TEAMS) % AGENTS_PER_TEAM;
        let channel = CHANNELS[(i as usize) % CHANNELS.len()];
        let mut scope = Scope {
            tenant_id: tenant.clone(),
            channel: Some(channel),
            conversation: Some(ConversationId::generate()),
            ticket: None,
            team: None,
            agent: None,
        };
        let mut all = events(
            &scope,
            vec![
                Fact::CustomerMessage { first: true },
                Fact::HandedOff {
                    reason: "asked_for_human".into(),
                },
            ],
            &format!("m{i}"),
            at,
        );
        scope.ticket = Some(TicketNumber(i + 1));
        scope.team = Some(TeamId::new(format!("team-{team}")).unwrap());
        scope.agent = Some(agent_api::auth::agent_id_for_email(&agent_email(agent)));
        let wait = 600 + (i * 37 % 7_200) as i64;
        let resolution = 3_600 + (i * 53 % 86_400) as i64;
        let mut facts = vec![
            Fact::TicketCreated,
            Fact::TicketAssigned,
            Fact::HumanReplied {
                cycle: 1,
                first_in_cycle: true,
                wait_secs: Some(wait),
                business_secs: Some(wait / 2),
            },
            Fact::TicketResolved {
                cycle: 1,
                wall_secs: resolution,
                business_secs: resolution / 3,
            },
            Fact::SlaMet {
                target: Target::FirstResponse,
                late: i % 10 == 0,
            },
        ];
        if i % 3 == 0 {
            facts.push(Fact::CsatAnswered {
                rating: 1 + (i % 5) as u8,
                previous: None,
                cycle: 1,
                resolved_by: ResolvedBy::Human,
                resolved_at: at,
            });
        }
        all.extend(events(&scope, facts, &format!("t{i}"), at));
        for e in &all {
            counted += 1;
            let day = local_day(e.counts_at(), "UTC");
            let inc = increments(e);
            for slice in slices(e) {
                let agg = days
                    .entry((slice.clone(), day.clone()))
                    .or_insert_with(|| DailyAggregate {
                        day: day.clone(),
                        slice,
                        ..Default::default()
                    });
                for (name, v) in &inc.counters {
                    *agg.counters.entry(name.clone()).or_default() += v;
                }
                for (metric, secs) in &inc.durations {
                    *agg.histograms
                        .entry(metric.clone())
                        .or_default()
                        .entry(bucket(*secs))
                        .or_default() += 1;
                }
            }
        }
    }
    (days, counted)
}

#[tokio::main]
async fn main() {
    let sizes: Vec<u64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![1_000, 100_000] } else { sizes };
    println!("| tickets | events | aggregate items | report | range | rows | items read | time (median of 5, local endpoint) |");
    println!("|---:|---:|---:|---|---|---:|---:|---:|");
    for tickets in sizes {
        let env = baton_tests::env().await;
        let admin = baton_tests::agent_token(&env, "bench", "boss@bench.example", "admin").await;
        let tenant = TenantId::new("bench").unwrap();
        let api = baton_tests::agent_api_deps(&env, std::sync::Arc::new(env.store.clone()));
        // The directory the per-agent and per-team rows come from.
        for team in 0..TEAMS {
            let mut members = Vec::new();
            for a in team * AGENTS_PER_TEAM..(team + 1) * AGENTS_PER_TEAM {
                baton_tests::agent_token(&env, "bench", &agent_email(a), "agent").await;
                members.push(agent_api::auth::agent_id_for_email(&agent_email(a)).to_string());
            }
            let body =
                serde_json::json!({ "id": format!("team-{team}"), "name": format!("Team {team}"), "members": members });
            let (status, _, out) = baton_tests::agent_call(&api, &admin, "POST", "/v1/teams", Some(body)).await;
            assert_eq!(status, 201, "{out}");
        }
        let (days, counted) = aggregates(&tenant, tickets);
        let stored = days.len();
        baton_tests::batch_put(
            &env,
            days.values().map(|agg| baton_aws::dynamo::aggregate_item(&tenant, agg)),
        )
        .await;
        let today = local_day(SystemClock.now(), "UTC");
        let year_ago = local_day(SystemClock.now().plus(time::Duration::days(-364)), "UTC");
        let year = format!("from={year_ago}&to={today}");
        for (report, range, path) in [
            ("team by agent", "30 days", "/v1/reports/team?by=agent".to_owned()),
            ("team by agent", "365 days", format!("/v1/reports/team?by=agent&{year}")),
            ("AI by channel", "365 days", format!("/v1/reports/ai?by=channel&{year}")),
            (
                "team, CSV",
                "365 days",
                format!("/v1/reports/team?by=team&format=csv&{year}"),
            ),
        ] {
            let mut times: Vec<Duration> = Vec::new();
            let mut last = serde_json::Value::Null;
            for _ in 0..5 {
                let started = Instant::now();
                if path.contains("format=csv") {
                    let (status, _, _) = baton_tests::agent_call_raw(&api, &admin, "GET", &path).await;
                    assert_eq!(status, 200);
                } else {
                    let (status, _, body) = baton_tests::agent_call(&api, &admin, "GET", &path, None).await;
                    assert_eq!(status, 200, "{body}");
                    last = body;
                }
                times.push(started.elapsed());
            }
            times.sort();
            if range == "365 days" && report == "team by agent" {
                assert_eq!(last["total"]["resolved"], tickets, "every ticket is in the year");
            }
            println!(
                "| {tickets} | {counted} | {stored} | {report} | {range} | {} | {} | {:.0} ms |",
                last["items"].as_array().map_or("-".to_owned(), |r| r.len().to_string()),
                last["days_read"].as_i64().map_or("-".to_owned(), |d| d.to_string()),
                times[2].as_secs_f64() * 1000.0
            );
        }
    }
}
