//! The analytics event log: every fact a report needs, recorded once, with its time,
//! tenant, channel, team, agent and ticket.
//!
//! Events are derived, never written by hand at each call site: a ticket's change from
//! `before` to `after` ([`ticket_step`]) says whether it was created, assigned, answered
//! by a human (the first time in its cycle: the first response time), resolved,
//! reopened or closed, and which SLA targets were met (on time or late) or breached;
//! triage adds what only it knows (a customer message, the AI's answer, the handoff).
//! They leave through the outbox in the transaction of the change they describe (one
//! analytics effect per change, its events numbered under the change's key), so none is
//! lost and a retried change records them once; the analytics consumer counts each event
//! once more by its id ([`Event::id`]) into per-tenant daily aggregates and writes it to
//! the event archive (S3, newline JSON, by tenant and date) for Athena.
//!
//! A ticket's *cycle* starts when it is opened and again at every reopen; the first
//! response time of a cycle runs from its start (the handoff or the reopen) to the first
//! public human reply in it, the resolution time from its start to its resolution, both
//! wall-clock and in the business hours of the ticket's SLA calendar (all hours without
//! one).

use crate::conversation::{Author, Message};
use crate::sla::{Schedule, Target};
use crate::ticket::{Status, Ticket};
use crate::{AgentId, Channel, ConversationId, TeamId, TenantId, TicketNumber, Timestamp};
use serde::{Deserialize, Serialize};

/// A ticket's current cycle (module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cycle {
    /// 1 for the first, +1 at every reopen.
    pub number: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// The first public human reply in this cycle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_reply_at: Option<Timestamp>,
}

impl Default for Cycle {
    fn default() -> Self {
        Cycle {
            number: 1,
            started_at: None,
            first_reply_at: None,
        }
    }
}

/// What happened. Durations are seconds; `business_secs` counts the SLA calendar's open
/// hours only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Fact {
    /// A customer message triage took (`first`: the conversation's first message).
    CustomerMessage {
        first: bool,
    },
    /// The AI answered: from the knowledge base (`articles` cited), from the shop, or with
    /// a clarifying question.
    AiAnswered {
        source: AnswerSource,
        #[serde(default)]
        articles: Vec<String>,
        confidence: f64,
        /// The AI's first answer in the conversation (involvement counts conversations).
        #[serde(default)]
        first: bool,
    },
    /// A question put to the knowledge base: answered from it, or a knowledge gap (`gap`:
    /// the handoff reason's code; [`crate::clusters`]). `vector` is the question's embedding
    /// ([`crate::clusters::encode`]) by `model`; `asked` is false when a question answered
    /// (and counted) before is now found wanting (the customer asked for a person after
    /// the answer).
    Question {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gap: Option<String>,
        asked: bool,
        model: String,
        vector: String,
    },
    /// A ticket opened, for the recurring topics ([`crate::clusters`]): its subject and
    /// first message (`text`), its tags, and the text's vector by `model`.
    Topic {
        text: String,
        #[serde(default)]
        tags: Vec<String>,
        model: String,
        vector: String,
    },
    /// The customer wrote again within the tenant's AI-resolution window of an AI answer
    /// (from the knowledge base or the shop): that answer did not resolve the
    /// conversation, so its assumed resolution is clawed back. It counts on the answer's
    /// day, where the resolution was counted.
    CustomerReturned {
        answered_at: Timestamp,
        after_secs: i64,
    },
    /// The customer thanked the AI for its answer (positive feedback): the answer's
    /// resolution is confirmed, not assumed. It counts on the answer's day.
    AiConfirmed {
        answered_at: Timestamp,
    },
    /// The conversation went to a human (`reason`: the handoff reason's code).
    HandedOff {
        reason: String,
    },
    TicketCreated,
    TicketAssigned,
    /// A tag put on a ticket (at its opening or later): the recurring topics count tags
    /// by week.
    Tagged {
        tag: String,
    },
    /// A public human reply; `first_in_cycle` carries the cycle's first response time.
    HumanReplied {
        cycle: u32,
        first_in_cycle: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wait_secs: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        business_secs: Option<i64>,
    },
    TicketResolved {
        cycle: u32,
        wall_secs: i64,
        business_secs: i64,
    },
    TicketReopened {
        cycle: u32,
    },
    TicketClosed,
    /// A target completed (`late`: after its due time).
    SlaMet {
        target: Target,
        late: bool,
    },
    /// A target passed its due time while running (found by the sweep, or at the reply).
    SlaBreached {
        target: Target,
    },
    /// The customer answered a survey (`previous`: the rating this answer replaces). It
    /// counts on the day of the resolution it rates, so a late or changed answer moves
    /// the same day's numbers.
    CsatAnswered {
        rating: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<u8>,
        cycle: u32,
        resolved_by: crate::csat::ResolvedBy,
        resolved_at: Timestamp,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerSource {
    Kb,
    Shop,
    Clarify,
}

/// One recorded fact and where it belongs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Unique: the change's key and the event's place in it (see [`events`]).
    pub id: String,
    pub tenant_id: TenantId,
    pub at: Timestamp,
    #[serde(flatten)]
    pub fact: Fact,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<TicketNumber>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<TeamId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentId>,
}

impl Event {
    /// The moment whose tenant-local day the event counts on: its own time, except a
    /// claw-back, which counts on the day of the answer it takes back.
    pub fn counts_at(&self) -> Timestamp {
        match &self.fact {
            Fact::CustomerReturned { answered_at, .. } | Fact::AiConfirmed { answered_at } => *answered_at,
            Fact::CsatAnswered { resolved_at, .. } => *resolved_at,
            _ => self.at,
        }
    }
}

/// The AI answer the customer's message (the last of `history`) replies to: the message
/// before it, if that is an AI answer (not a clarifying question).
pub fn answer_replied_to(history: &[Message]) -> Option<&Message> {
    let previous = history.len().checked_sub(2).and_then(|i| history.get(i));
    previous.filter(|m| m.author == Author::Ai && m.choices.is_empty())
}

/// What a customer's message says about the conversation so far, for analytics:
/// `history` is the conversation ending with the message; `window_secs` the tenant's
/// AI-resolution window; `thanks`: the message only thanks or confirms
/// ([`crate::triage::acknowledges`]). The message itself, and, replying to an AI answer
/// that counts as a resolution (not a clarifying question: that one asked for this
/// message), its confirmation when the message thanks for it, else its claw-back when it
/// comes within the window.
pub fn customer_turn(history: &[Message], window_secs: i64, thanks: bool, now: Timestamp) -> Vec<Fact> {
    let mut facts = vec![Fact::CustomerMessage {
        first: history.len() == 1,
    }];
    if let Some(answer) = answer_replied_to(history) {
        let after = now.unix_seconds() - answer.created_at.unix_seconds();
        if thanks {
            facts.push(Fact::AiConfirmed {
                answered_at: answer.created_at,
            });
        } else if after <= window_secs {
            facts.push(Fact::CustomerReturned {
                answered_at: answer.created_at,
                after_secs: after,
            });
        }
    }
    facts
}

/// Whether the AI has not answered in `history` (the conversation so far) before.
pub fn first_ai_answer(history: &[Message]) -> bool {
    !history.iter().any(|m| m.author == Author::Ai)
}

/// Where the events of one change happened: the conversation's or the ticket's.
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    pub tenant_id: TenantId,
    pub channel: Option<Channel>,
    pub conversation: Option<ConversationId>,
    pub ticket: Option<TicketNumber>,
    pub team: Option<TeamId>,
    pub agent: Option<AgentId>,
}

impl Scope {
    pub fn of_ticket(t: &Ticket) -> Self {
        Scope {
            tenant_id: t.tenant_id.clone(),
            channel: Some(t.source.channel),
            conversation: Some(t.source.conversation_id),
            ticket: Some(t.number),
            team: t.team.clone(),
            agent: t.assignee.clone(),
        }
    }
}

/// The change's facts as events, numbered under `key` (the change's business key, so a
/// retry of the same change names them alike).
pub fn events(scope: &Scope, facts: Vec<Fact>, key: &str, at: Timestamp) -> Vec<Event> {
    facts
        .into_iter()
        .enumerate()
        .map(|(i, fact)| Event {
            id: format!(
                "{}.{i}",
                crate::idempotency::payload_hash(key.as_bytes())
                    .get(..32)
                    .unwrap_or_default()
            ),
            tenant_id: scope.tenant_id.clone(),
            at,
            fact,
            channel: scope.channel,
            conversation: scope.conversation,
            ticket: scope.ticket,
            team: scope.team.clone(),
            agent: scope.agent.clone(),
        })
        .collect()
}

/// The facts of a ticket's change from `before` (`None`: it is being opened) to `after`,
/// moving `after`'s cycle along (module docs). `schedule` is the business-hours calendar
/// of the ticket's SLA policy.
pub fn ticket_step(before: Option<&Ticket>, after: &mut Ticket, schedule: &Schedule, now: Timestamp) -> Vec<Fact> {
    let mut facts = Vec::new();
    let Some(before) = before else {
        after.cycle = Cycle {
            number: 1,
            started_at: Some(after.created_at),
            first_reply_at: None,
        };
        facts.push(Fact::TicketCreated);
        if after.assignee.is_some() {
            facts.push(Fact::TicketAssigned);
        }
        facts.extend(after.tags.iter().map(|tag| Fact::Tagged { tag: tag.clone() }));
        return facts;
    };
    facts.extend(
        after
            .tags
            .iter()
            .filter(|t| !before.tags.contains(t))
            .map(|tag| Fact::Tagged { tag: tag.clone() }),
    );
    let started = |t: &Ticket| t.cycle.started_at.unwrap_or(t.created_at);
    if !before.status.is_active() && after.status.is_active() {
        after.cycle = Cycle {
            number: before.cycle.number + 1,
            started_at: Some(now),
            first_reply_at: None,
        };
        facts.push(Fact::TicketReopened {
            cycle: after.cycle.number,
        });
    }
    if after.assignee.is_some() && after.assignee != before.assignee {
        facts.push(Fact::TicketAssigned);
    }
    if after.sla.last_human_reply_at.is_some() && after.sla.last_human_reply_at != before.sla.last_human_reply_at {
        let first = after.cycle.first_reply_at.is_none();
        let start = started(after);
        if first {
            after.cycle.first_reply_at = Some(now);
        }
        facts.push(Fact::HumanReplied {
            cycle: after.cycle.number,
            first_in_cycle: first,
            wait_secs: first.then(|| now.unix_seconds() - start.unix_seconds()),
            business_secs: first.then(|| schedule.business_secs(start, now)),
        });
    }
    if after.status == Status::Resolved && before.status != Status::Resolved {
        let start = started(after);
        facts.push(Fact::TicketResolved {
            cycle: after.cycle.number,
            wall_secs: now.unix_seconds() - start.unix_seconds(),
            business_secs: schedule.business_secs(start, now),
        });
    }
    if after.status == Status::Closed && before.status != Status::Closed {
        facts.push(Fact::TicketClosed);
    }
    for clock in &after.sla.clocks {
        let was = before.sla.clocks.iter().find(|c| c.target == clock.target);
        if clock.breached_at.is_some() && was.is_none_or(|c| c.breached_at.is_none()) {
            facts.push(Fact::SlaBreached { target: clock.target });
        }
        if clock.met_at.is_some() && was.is_none_or(|c| c.met_at != clock.met_at) {
            facts.push(Fact::SlaMet {
                target: clock.target,
                late: clock.breached_at.is_some(),
            });
        }
    }
    facts
}

// ------------------------------------------------------------------ aggregates

/// The slices a daily aggregate is kept for: the whole tenant, each channel, team and
/// agent. An event counts in every slice it has.
pub fn slices(e: &Event) -> Vec<String> {
    let mut out = vec!["all".to_owned()];
    if let Some(c) = e.channel {
        out.push(format!("channel:{}", wire_name(&c)));
    }
    if let Some(t) = &e.team {
        out.push(format!("team:{t}"));
    }
    if let Some(a) = &e.agent {
        out.push(format!("agent:{a}"));
    }
    out
}

/// An enum's name as it is serialised (`whatsapp`, `first_response`, `kb`).
fn wire_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// What one event adds to a daily aggregate: counters (`ADD`), and durations counted
/// into histogram buckets (see [`bucket`]) so medians and percentiles over any range of
/// days read a fixed-size item per day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Increments {
    pub counters: Vec<(String, i64)>,
    /// `(metric, seconds)`, kept as the count of `bucket(seconds)` under the metric.
    pub durations: Vec<(String, i64)>,
}

/// A duration's histogram bucket: the seconds to two significant figures, rounded down
/// (59 → 59, 1834 → 1800, 12 345 → 12 000): at most 10% low, exact for round values, and
/// at most 90 buckets per decade however many tickets a day has.
pub fn bucket(secs: i64) -> i64 {
    if secs < 100 {
        return secs.max(0);
    }
    let mut scale = 1;
    while secs / scale >= 100 {
        scale *= 10;
    }
    secs / scale * scale
}

/// The `p`-th percentile (0 < p ≤ 1, nearest rank) of a histogram of buckets → counts.
pub fn percentile(histogram: &std::collections::BTreeMap<i64, i64>, p: f64) -> Option<i64> {
    let total: i64 = histogram.values().sum();
    if total <= 0 {
        return None;
    }
    let rank = ((p * total as f64).ceil() as i64).clamp(1, total);
    let mut seen = 0;
    for (value, count) in histogram {
        seen += count;
        if seen >= rank {
            return Some(*value);
        }
    }
    histogram.keys().last().copied()
}

/// What `e` adds to its day's aggregate; every duration is also summed (`sum:<metric>`)
/// for an exact mean.
pub fn increments(e: &Event) -> Increments {
    let mut i = Increments::default();
    let mut count = |name: String| i.counters.push((name, 1));
    match &e.fact {
        Fact::CustomerMessage { first } => {
            count("customer_messages".into());
            if *first {
                count("conversations".into());
            }
        }
        Fact::AiAnswered { source, first, .. } => {
            count("ai_answers".into());
            count(format!("ai_answers:{}", wire_name(source)));
            if *first {
                count("ai_conversations".into());
            }
        }
        Fact::Question { gap, asked, .. } => {
            if *asked {
                count("questions".into());
            }
            if let Some(reason) = gap {
                count("knowledge_gaps".into());
                count(format!("knowledge_gap:{reason}"));
            }
        }
        Fact::Topic { .. } => count("topics".into()),
        Fact::Tagged { tag } => count(format!("tag:{tag}")),
        Fact::CustomerReturned { .. } => count("ai_clawed_back".into()),
        Fact::AiConfirmed { .. } => count("ai_confirmed".into()),
        Fact::HandedOff { reason } => {
            count("handoffs".into());
            count(format!("handoff:{reason}"));
        }
        Fact::TicketCreated => count("tickets_created".into()),
        Fact::TicketAssigned => count("assignments".into()),
        Fact::HumanReplied {
            first_in_cycle,
            wait_secs,
            business_secs,
            ..
        } => {
            count("human_replies".into());
            if *first_in_cycle {
                count("first_responses".into());
                if let (Some(w), Some(b)) = (wait_secs, business_secs) {
                    i.durations.push(("frt".into(), *w));
                    i.durations.push(("frt_business".into(), *b));
                }
            }
        }
        Fact::TicketResolved {
            wall_secs,
            business_secs,
            ..
        } => {
            count("resolved".into());
            i.durations.push(("resolution".into(), *wall_secs));
            i.durations.push(("resolution_business".into(), *business_secs));
        }
        Fact::TicketReopened { .. } => count("reopened".into()),
        Fact::TicketClosed => count("closed".into()),
        Fact::SlaMet { target, late } => {
            let t = wire_name(target);
            count(format!("sla_completed:{t}"));
            if !late {
                count(format!("sla_on_time:{t}"));
            }
        }
        Fact::SlaBreached { target } => count(format!("sla_breached:{}", wire_name(target))),
        Fact::CsatAnswered {
            rating,
            previous,
            resolved_by,
            ..
        } => {
            let by = wire_name(resolved_by);
            let satisfied = |r: u8| i64::from(r >= crate::csat::SATISFIED);
            let (was_counted, was_rating, was_satisfied) =
                previous.map_or((0, 0, 0), |p| (1, i64::from(p), satisfied(p)));
            for (name, delta) in [
                (format!("csat_responses:{by}"), 1 - was_counted),
                (format!("csat_rating:{by}"), i64::from(*rating) - was_rating),
                (format!("csat_satisfied:{by}"), satisfied(*rating) - was_satisfied),
            ] {
                if delta != 0 {
                    i.counters.push((name, delta));
                }
            }
        }
    }
    let sums: Vec<(String, i64)> = i
        .durations
        .iter()
        .map(|(m, secs)| (format!("sum:{m}"), *secs))
        .collect();
    i.counters.extend(sums);
    i
}

/// The tenant-local calendar day (`YYYY-MM-DD`) of `at` in the IANA zone `tz` (UTC when
/// the zone is unknown): the day an event counts on.
pub fn local_day(at: Timestamp, tz: &str) -> String {
    let zone = jiff::tz::TimeZone::get(tz).unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_second(at.unix_seconds())
        .map(|t| t.to_zoned(zone).date().to_string())
        .unwrap_or_default()
}

/// Whether `tz` is an IANA time zone this build knows.
pub fn valid_time_zone(tz: &str) -> bool {
    jiff::tz::TimeZone::get(tz).is_ok()
}

/// One slice's aggregate for one tenant-local day.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DailyAggregate {
    pub day: String,
    pub slice: String,
    #[serde(default)]
    pub counters: std::collections::BTreeMap<String, i64>,
    /// Metric → bucket → count.
    #[serde(default)]
    pub histograms: std::collections::BTreeMap<String, std::collections::BTreeMap<i64, i64>>,
}

impl DailyAggregate {
    pub fn count(&self, name: &str) -> i64 {
        self.counters.get(name).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sla::{Target, TargetClock};
    use crate::ticket::{Priority, Source};
    use crate::{CustomerId, TenantId};

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    fn ticket() -> Ticket {
        let mut t = Ticket::open(
            TenantId::new("demo").unwrap(),
            TicketNumber(7),
            "Refund",
            Priority::Normal,
            CustomerId::generate(),
            Source {
                channel: Channel::Whatsapp,
                conversation_id: ConversationId::generate(),
            },
            ts("2026-12-04T16:00:00Z"),
        );
        t.assignee = Some(AgentId::new("ana").unwrap());
        t
    }

    #[test]
    fn a_ticket_s_life_gives_its_facts_with_the_first_response_per_cycle() {
        let always = Schedule::always();
        let mut t = ticket();
        let opened = t.created_at;
        assert_eq!(
            ticket_step(None, &mut t, &always, opened),
            [Fact::TicketCreated, Fact::TicketAssigned]
        );
        assert_eq!(t.cycle.started_at, Some(t.created_at));

        // The first human reply 30 minutes after the handoff; a second is no first response.
        let before = t.clone();
        let at = ts("2026-12-04T16:30:00Z");
        t.apply(crate::ticket::Action::AgentReplied, at).unwrap();
        let facts = ticket_step(Some(&before), &mut t, &always, at);
        assert_eq!(
            facts,
            [Fact::HumanReplied {
                cycle: 1,
                first_in_cycle: true,
                wait_secs: Some(1800),
                business_secs: Some(1800)
            }]
        );
        let before = t.clone();
        let at2 = ts("2026-12-04T16:40:00Z");
        t.apply(crate::ticket::Action::AgentReplied, at2).unwrap();
        assert!(matches!(
            ticket_step(Some(&before), &mut t, &always, at2)[..],
            [Fact::HumanReplied {
                first_in_cycle: false,
                wait_secs: None,
                ..
            }]
        ));

        // Resolved, reopened by the customer a day later: a new cycle, its own first response.
        let before = t.clone();
        let resolved = ts("2026-12-04T17:00:00Z");
        t.apply(crate::ticket::Action::Resolve, resolved).unwrap();
        assert_eq!(
            ticket_step(Some(&before), &mut t, &always, resolved),
            [Fact::TicketResolved {
                cycle: 1,
                wall_secs: 3600,
                business_secs: 3600
            }]
        );
        let before = t.clone();
        let back = ts("2026-12-05T09:00:00Z");
        t.apply(crate::ticket::Action::CustomerReplied, back).unwrap();
        assert_eq!(
            ticket_step(Some(&before), &mut t, &always, back),
            [Fact::TicketReopened { cycle: 2 }]
        );
        let before = t.clone();
        let reply = ts("2026-12-05T09:05:00Z");
        t.apply(crate::ticket::Action::AgentReplied, reply).unwrap();
        assert_eq!(
            ticket_step(Some(&before), &mut t, &always, reply),
            [Fact::HumanReplied {
                cycle: 2,
                first_in_cycle: true,
                wait_secs: Some(300),
                business_secs: Some(300)
            }]
        );
    }

    #[test]
    fn sla_targets_met_late_and_breached_are_told_apart() {
        let always = Schedule::always();
        let mut t = ticket();
        t.sla.clocks = vec![TargetClock::new(Target::FirstResponse, 600)];
        let before = t.clone();
        t.sla.clocks[0].breached_at = Some(ts("2026-12-04T16:10:00Z"));
        assert_eq!(
            ticket_step(Some(&before), &mut t, &always, ts("2026-12-04T16:11:00Z")),
            [Fact::SlaBreached {
                target: Target::FirstResponse
            }]
        );
        let before = t.clone();
        t.sla.clocks[0].met_at = Some(ts("2026-12-04T16:20:00Z"));
        assert_eq!(
            ticket_step(Some(&before), &mut t, &always, ts("2026-12-04T16:20:00Z")),
            [Fact::SlaMet {
                target: Target::FirstResponse,
                late: true
            }]
        );
    }

    #[test]
    fn events_count_in_each_of_their_slices_on_the_tenant_s_local_day() {
        let t = ticket();
        let e = &events(&Scope::of_ticket(&t), vec![Fact::TicketCreated], "k", t.created_at)[0];
        assert_eq!(slices(e), ["all", "channel:whatsapp", "agent:ana"]);
        assert_eq!(increments(e).counters, [("tickets_created".to_owned(), 1)]);
        // 16:00 UTC on 4 December is already 5 December in Tokyo.
        assert_eq!(local_day(t.created_at, "UTC"), "2026-12-04");
        assert_eq!(local_day(ts("2026-12-04T16:00:00Z"), "Asia/Tokyo"), "2026-12-05");
        assert_eq!(local_day(ts("2026-12-04T16:00:00Z"), "Not/AZone"), "2026-12-04");
        // The same change names its events alike; another change does not.
        let again = &events(&Scope::of_ticket(&t), vec![Fact::TicketCreated], "k", t.created_at)[0];
        assert_eq!(again.id, e.id);
        assert_ne!(
            events(&Scope::of_ticket(&t), vec![Fact::TicketCreated], "k2", t.created_at)[0].id,
            e.id
        );
    }

    #[test]
    fn a_customer_back_within_the_window_of_an_answer_claws_it_back_on_the_answer_s_day() {
        let msg = |author: Author, at: &str, choices: usize| Message {
            tenant_id: TenantId::new("demo").unwrap(),
            conversation_id: ConversationId::generate(),
            id: ulid::Ulid::new(),
            direction: crate::conversation::Direction::Inbound,
            author,
            text: "x".into(),
            attachments: vec![],
            channel_message_id: None,
            delivery: None,
            delivery_error: None,
            created_at: ts(at),
            sent_at: None,
            sender: None,
            original: None,
            choices: (0..choices)
                .map(|i| crate::ArticleId::new(format!("a{i}")).unwrap())
                .collect(),
            survey: None,
        };
        let day = 24 * 3600;
        let first = [msg(Author::Customer, "2026-12-04T23:50:00Z", 0)];
        assert_eq!(
            customer_turn(&first, day, false, ts("2026-12-04T23:50:00Z")),
            [Fact::CustomerMessage { first: true }]
        );
        assert!(first_ai_answer(&first));
        let answered = msg(Author::Ai, "2026-12-04T23:55:00Z", 0);
        let back = [
            first[0].clone(),
            answered.clone(),
            msg(Author::Customer, "2026-12-05T00:05:00Z", 0),
        ];
        let facts = customer_turn(&back, day, false, ts("2026-12-05T00:05:00Z"));
        assert_eq!(
            facts[1],
            Fact::CustomerReturned {
                answered_at: answered.created_at,
                after_secs: 600
            }
        );
        assert!(!first_ai_answer(&back));
        let e = &events(&Scope::of_ticket(&ticket()), facts, "k", ts("2026-12-05T00:05:00Z"))[1];
        assert_eq!(
            local_day(e.counts_at(), "UTC"),
            "2026-12-04",
            "counted where the resolution was"
        );
        // After the window, or after a clarifying question, nothing is taken back.
        assert_eq!(customer_turn(&back, day, false, ts("2026-12-06T00:00:00Z")).len(), 1);
        // Thanks confirm the answer, whenever they come.
        assert_eq!(
            customer_turn(&back, day, true, ts("2026-12-06T00:00:00Z"))[1],
            Fact::AiConfirmed {
                answered_at: back[1].created_at
            }
        );
        let clarified = [
            first[0].clone(),
            msg(Author::Ai, "2026-12-04T23:55:00Z", 2),
            back[2].clone(),
        ];
        assert_eq!(
            customer_turn(&clarified, day, false, ts("2026-12-05T00:05:00Z")).len(),
            1
        );
    }

    #[test]
    fn durations_keep_two_significant_figures_and_percentiles_read_them() {
        assert_eq!(
            [bucket(-5), bucket(59), bucket(100), bucket(1834), bucket(12_345)],
            [0, 59, 100, 1800, 12_000]
        );
        let h: std::collections::BTreeMap<i64, i64> = [(300, 1), (1800, 2), (7200, 1)].into();
        assert_eq!(percentile(&h, 0.5), Some(1800));
        assert_eq!(percentile(&h, 0.9), Some(7200));
        assert_eq!(percentile(&h, 0.25), Some(300));
        assert_eq!(percentile(&Default::default(), 0.5), None);
    }
}
