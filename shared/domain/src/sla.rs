//! The SLA clock: a tenant's policies (chosen by conditions, in order), business-hours
//! calendars (an IANA time zone, open hours per weekday, holidays), and per-ticket target
//! clocks that run, pause and stop with the ticket.
//!
//! Each target (first response, next response, resolution) keeps the business time it
//! has used (`elapsed_secs`) and, while it runs, since when (`running_since`): pausing
//! adds the business time since then; resuming or changing the policy recomputes the
//! deadline from what is left. Only a human's public reply meets a response target; an
//! AI answer or an internal note does not. The sweep (`SlaState::sweep`) marks a target
//! at risk (past the tenant's warning share of its time) and breached, each once.

use crate::routing::{Condition, TicketFacts};
use crate::ticket::{Status, Ticket};
use crate::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Shards of the store's SLA-due index, which the sweep reads one by one.
pub const SLA_SHARDS: u8 = 8;

/// A tenant's SLA configuration.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaSettings {
    /// Evaluated in order: the first policy whose conditions all hold applies.
    #[serde(default)]
    pub policies: Vec<SlaPolicy>,
    #[serde(default)]
    pub calendars: Vec<Calendar>,
    /// The share of a target's time (percent) after which it is at risk.
    #[serde(default = "default_warn")]
    pub warn_at_percent: u8,
}

fn default_warn() -> u8 {
    75
}

impl Default for SlaSettings {
    fn default() -> Self {
        SlaSettings {
            policies: Vec::new(),
            calendars: Vec::new(),
            warn_at_percent: default_warn(),
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlaPolicy {
    pub id: String,
    pub name: String,
    /// All must hold (none: every ticket); the routing rules' conditions.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    pub targets: Targets,
    /// The business-hours calendar the targets count in; none: calendar hours (24/7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calendar: Option<String>,
}

/// Minutes allowed per target; a missing target is not tracked.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_response_minutes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_response_minutes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_minutes: Option<u32>,
}

impl Targets {
    fn minutes(&self, target: Target) -> Option<u32> {
        match target {
            Target::FirstResponse => self.first_response_minutes,
            Target::NextResponse => self.next_response_minutes,
            Target::Resolution => self.resolution_minutes,
        }
    }
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calendar {
    pub id: String,
    pub name: String,
    /// An IANA time zone, e.g. `Europe/Berlin`.
    pub time_zone: String,
    pub hours: Vec<OpenHours>,
    #[serde(default)]
    pub holidays: Vec<Holiday>,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenHours {
    pub day: Day,
    /// Local time `HH:MM`.
    pub from: String,
    /// Local time `HH:MM` after `from`; `24:00` is the end of the day.
    pub to: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holiday {
    /// `YYYY-MM-DD`, in the calendar's time zone: closed all day.
    pub date: String,
    #[serde(default)]
    pub name: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Day {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Day {
    fn index(self) -> usize {
        self as usize
    }
}

/// The targets a policy can set.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    FirstResponse,
    NextResponse,
    Resolution,
}

impl Target {
    pub const ALL: [Target; 3] = [Target::FirstResponse, Target::NextResponse, Target::Resolution];

    pub fn as_str(self) -> &'static str {
        match self {
            Target::FirstResponse => "first_response",
            Target::NextResponse => "next_response",
            Target::Resolution => "resolution",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Target::FirstResponse => "first response",
            Target::NextResponse => "next response",
            Target::Resolution => "resolution",
        }
    }
}

/// What is wrong with a configuration: the field path and why.
pub type Invalid = (String, String);

/// Business time, compiled from a [`Calendar`] (or always open).
#[derive(Debug, Clone)]
pub struct Schedule {
    open: Option<Open>,
}

#[derive(Debug, Clone)]
struct Open {
    tz: jiff::tz::TimeZone,
    /// Per weekday (Monday first), local `[from, to)` in seconds from midnight.
    week: [Vec<(i32, i32)>; 7],
    holidays: BTreeSet<jiff::civil::Date>,
}

/// How far ahead a deadline is looked for: a calendar that is never open has none.
const HORIZON_DAYS: i32 = 800;

fn hhmm(s: &str) -> Option<i32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    ((0..24).contains(&h) && (0..60).contains(&m) || (h, m) == (24, 0)).then_some(h * 3600 + m * 60)
}

impl Schedule {
    /// Calendar hours: every second counts.
    pub fn always() -> Self {
        Schedule { open: None }
    }

    pub fn compile(c: &Calendar) -> Result<Self, Vec<Invalid>> {
        let mut bad = Vec::new();
        let tz = match jiff::tz::TimeZone::get(&c.time_zone) {
            Ok(tz) => Some(tz),
            Err(_) => {
                bad.push((
                    "time_zone".into(),
                    format!("{:?} is not an IANA time zone", c.time_zone),
                ));
                None
            }
        };
        let mut week: [Vec<(i32, i32)>; 7] = Default::default();
        for (i, h) in c.hours.iter().enumerate() {
            match (hhmm(&h.from), hhmm(&h.to)) {
                (Some(f), Some(t)) if f < t => week[h.day.index()].push((f, t)),
                (Some(_), Some(_)) => bad.push((format!("hours[{i}]"), "`to` must be after `from`".into())),
                _ => bad.push((format!("hours[{i}]"), "times are HH:MM (00:00 to 24:00)".into())),
            }
        }
        for (d, day) in week.iter_mut().enumerate() {
            day.sort_unstable();
            if day.windows(2).any(|w| w[1].0 < w[0].1) {
                bad.push(("hours".into(), format!("the hours of day {} overlap", d + 1)));
            }
        }
        let mut holidays = BTreeSet::new();
        for (i, h) in c.holidays.iter().enumerate() {
            match h.date.parse::<jiff::civil::Date>() {
                Ok(d) => {
                    holidays.insert(d);
                }
                Err(_) => bad.push((format!("holidays[{i}].date"), "a date is YYYY-MM-DD".into())),
            }
        }
        match tz {
            Some(tz) if bad.is_empty() => Ok(Schedule {
                open: Some(Open { tz, week, holidays }),
            }),
            _ => Err(bad),
        }
    }

    /// The open intervals (unix seconds) that end after `from`, in order, clipped to
    /// start no earlier than `from`, within the horizon.
    fn intervals(&self, from: i64) -> impl Iterator<Item = (i64, i64)> + '_ {
        let open = self.open.as_ref();
        let start_day = open.and_then(|o| {
            jiff::Timestamp::from_second(from)
                .ok()
                .map(|t| t.to_zoned(o.tz.clone()).date())
        });
        (0..HORIZON_DAYS)
            .filter_map(move |n| {
                let o = open?;
                let day = start_day?.checked_add(jiff::Span::new().days(n)).ok()?;
                Some((o, day))
            })
            .flat_map(move |(o, day)| {
                let closed = o.holidays.contains(&day);
                let weekday = day.weekday().to_monday_zero_offset() as usize;
                let hours = if closed { &[][..] } else { &o.week[weekday][..] };
                hours.iter().filter_map(move |&(f, t)| {
                    let at = |secs: i32| -> Option<i64> {
                        let midnight = day.to_datetime(jiff::civil::Time::midnight());
                        let local = midnight.checked_add(jiff::Span::new().seconds(i64::from(secs))).ok()?;
                        // A time that a DST change skips or repeats: the earlier reading.
                        let z = o.tz.to_ambiguous_zoned(local).compatible().ok()?;
                        Some(z.timestamp().as_second())
                    };
                    let (s, e) = (at(f)?, at(t)?);
                    (e > from && e > s).then_some((s.max(from), e))
                })
            })
    }

    /// Business seconds in `[a, b)`.
    pub fn business_secs(&self, a: Timestamp, b: Timestamp) -> i64 {
        let (a, b) = (a.unix_seconds(), b.unix_seconds());
        if b <= a {
            return 0;
        }
        if self.open.is_none() {
            return b - a;
        }
        let mut total = 0;
        for (s, e) in self.intervals(a) {
            if s >= b {
                break;
            }
            total += e.min(b) - s;
        }
        total
    }

    /// The moment `secs` business seconds after `from` (`from` itself for zero or less);
    /// `None` when the calendar is not open that long within the horizon.
    pub fn add(&self, from: Timestamp, secs: i64) -> Option<Timestamp> {
        if secs <= 0 {
            return Some(from);
        }
        if self.open.is_none() {
            return Some(from.plus(time::Duration::seconds(secs)));
        }
        let mut left = secs;
        for (s, e) in self.intervals(from.unix_seconds()) {
            if e - s >= left {
                return Timestamp::from_unix_millis((s + left) * 1000);
            }
            left -= e - s;
        }
        None
    }
}

/// Reads an iCalendar file's all-day events (`VEVENT` with `DTSTART;VALUE=DATE` or a
/// bare date) as holidays, for `POST /v1/sla/calendars/{id}/holidays`. Folded lines are
/// unfolded; multi-day events (`DTEND` exclusive) give every day.
pub fn holidays_from_ical(ics: &str) -> Result<Vec<Holiday>, String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in ics.lines() {
        match raw.strip_prefix([' ', '\t']) {
            Some(cont) if !lines.is_empty() => lines.last_mut().expect("non-empty").push_str(cont),
            _ => lines.push(raw.trim_end_matches('\r').to_owned()),
        }
    }
    let date_of = |line: &str| -> Option<jiff::civil::Date> {
        let value = line.split_once(':')?.1.trim();
        let digits = value.get(..8)?;
        jiff::civil::Date::strptime("%Y%m%d", digits).ok()
    };
    let mut out = Vec::new();
    let (mut in_event, mut start, mut end, mut name) = (false, None, None, String::new());
    for line in &lines {
        let key = line.split([':', ';']).next().unwrap_or("").to_ascii_uppercase();
        match key.as_str() {
            "BEGIN" if line.eq_ignore_ascii_case("BEGIN:VEVENT") => {
                (in_event, start, end, name) = (true, None, None, String::new());
            }
            "DTSTART" if in_event => start = date_of(line),
            "DTEND" if in_event => end = date_of(line),
            "SUMMARY" if in_event => name = line.split_once(':').map(|x| x.1.trim().to_owned()).unwrap_or_default(),
            "END" if in_event && line.eq_ignore_ascii_case("END:VEVENT") => {
                in_event = false;
                let Some(first) = start else {
                    return Err(format!("an event without a readable DTSTART ({name:?})"));
                };
                let last = end
                    .map(|e| e.yesterday().unwrap_or(e))
                    .filter(|e| *e >= first)
                    .unwrap_or(first);
                let mut d = first;
                while d <= last && out.len() < 2000 {
                    out.push(Holiday {
                        date: d.to_string(),
                        name: name.clone(),
                    });
                    d = match d.tomorrow() {
                        Ok(n) => n,
                        Err(_) => break,
                    };
                }
            }
            _ => {}
        }
    }
    if out.is_empty() {
        return Err("no all-day events (VEVENT with DTSTART) found".into());
    }
    Ok(out)
}

impl SlaSettings {
    /// Every problem with the settings, as (field path, reason).
    pub fn validate(&self) -> Vec<Invalid> {
        let mut bad = Vec::new();
        if !(1..=99).contains(&self.warn_at_percent) {
            bad.push(("warn_at_percent".into(), "between 1 and 99".into()));
        }
        let mut ids = BTreeSet::new();
        for (i, c) in self.calendars.iter().enumerate() {
            if c.id.trim().is_empty() || !ids.insert(c.id.as_str()) {
                bad.push((format!("calendars[{i}].id"), "a unique, non-empty id".into()));
            }
            if let Err(errs) = Schedule::compile(c) {
                bad.extend(errs.into_iter().map(|(f, r)| (format!("calendars[{i}].{f}"), r)));
            }
        }
        let mut policy_ids = BTreeSet::new();
        for (i, p) in self.policies.iter().enumerate() {
            if p.id.trim().is_empty() || !policy_ids.insert(p.id.as_str()) {
                bad.push((format!("policies[{i}].id"), "a unique, non-empty id".into()));
            }
            if Target::ALL.iter().all(|t| p.targets.minutes(*t).is_none()) {
                bad.push((format!("policies[{i}].targets"), "at least one target".into()));
            }
            for t in Target::ALL {
                if p.targets.minutes(t) == Some(0) {
                    bad.push((
                        format!("policies[{i}].targets.{}_minutes", t.as_str()),
                        "at least 1 minute".into(),
                    ));
                }
            }
            if let Some(cal) = &p.calendar {
                if !self.calendars.iter().any(|c| &c.id == cal) {
                    bad.push((format!("policies[{i}].calendar"), format!("no calendar {cal:?}")));
                }
            }
        }
        bad
    }

    /// The first policy whose conditions hold for the ticket.
    pub fn policy_for(&self, ticket: &Ticket) -> Option<&SlaPolicy> {
        let facts = TicketFacts::of(ticket, &[], Default::default());
        self.policies
            .iter()
            .find(|p| p.conditions.iter().all(|c| c.holds(&facts)))
    }

    /// The policy's schedule (calendar hours when it names none or an unusable one).
    pub fn schedule(&self, policy: &SlaPolicy) -> Schedule {
        policy
            .calendar
            .as_ref()
            .and_then(|id| self.calendars.iter().find(|c| &c.id == id))
            .and_then(|c| Schedule::compile(c).ok())
            .unwrap_or_else(Schedule::always)
    }

    /// A demo configuration: urgent tickets in calendar hours, the rest in business
    /// hours (Monday to Friday, 09:00 to 17:00, Europe/Berlin).
    pub fn demo() -> Self {
        let weekday = |day| OpenHours {
            day,
            from: "09:00".into(),
            to: "17:00".into(),
        };
        SlaSettings {
            policies: vec![
                SlaPolicy {
                    id: "urgent".into(),
                    name: "Urgent".into(),
                    conditions: vec![Condition::Priority {
                        any: vec![crate::ticket::Priority::Urgent],
                    }],
                    targets: Targets {
                        first_response_minutes: Some(30),
                        next_response_minutes: Some(60),
                        resolution_minutes: Some(8 * 60),
                    },
                    calendar: None,
                },
                SlaPolicy {
                    id: "standard".into(),
                    name: "Standard".into(),
                    conditions: vec![],
                    targets: Targets {
                        first_response_minutes: Some(4 * 60),
                        next_response_minutes: Some(8 * 60),
                        resolution_minutes: Some(3 * 8 * 60),
                    },
                    calendar: Some("office".into()),
                },
            ],
            calendars: vec![Calendar {
                id: "office".into(),
                name: "Office hours".into(),
                time_zone: "Europe/Berlin".into(),
                hours: [Day::Monday, Day::Tuesday, Day::Wednesday, Day::Thursday, Day::Friday]
                    .into_iter()
                    .map(weekday)
                    .collect(),
                holidays: vec![],
            }],
            warn_at_percent: default_warn(),
        }
    }
}

/// One target's clock on a ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetClock {
    pub target: Target,
    pub budget_secs: i64,
    /// Business time used before `running_since`.
    pub elapsed_secs: i64,
    /// Running since then; `None`: paused, met or not started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_since: Option<Timestamp>,
    /// When it breaches, while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<Timestamp>,
    /// When it is at risk, while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_risk_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub met_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warned_at: Option<Timestamp>,
    /// When the deadline passed (recorded by the sweep, or on a late reply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breached_at: Option<Timestamp>,
}

impl TargetClock {
    pub fn new(target: Target, budget_secs: i64) -> Self {
        TargetClock {
            target,
            budget_secs,
            elapsed_secs: 0,
            running_since: None,
            due_at: None,
            at_risk_at: None,
            met_at: None,
            warned_at: None,
            breached_at: None,
        }
    }

    fn run(&mut self, since: Timestamp, schedule: &Schedule, warn: u8) {
        self.running_since = Some(since);
        self.plan(schedule, warn);
    }

    /// Deadlines from what is left.
    fn plan(&mut self, schedule: &Schedule, warn: u8) {
        let Some(since) = self.running_since else {
            (self.due_at, self.at_risk_at) = (None, None);
            return;
        };
        self.due_at = schedule.add(since, self.budget_secs - self.elapsed_secs);
        let warn_secs = self.budget_secs * i64::from(warn) / 100;
        self.at_risk_at = schedule.add(since, warn_secs - self.elapsed_secs);
    }

    fn stop(&mut self, now: Timestamp, schedule: &Schedule) {
        if let Some(since) = self.running_since.take() {
            self.elapsed_secs += schedule.business_secs(since, now);
        }
        (self.due_at, self.at_risk_at) = (None, None);
    }

    pub fn is_running(&self) -> bool {
        self.running_since.is_some()
    }
}

/// What the change did to the SLA, for the ticket's timeline (`sla` events).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SlaChange {
    pub what: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
}

impl SlaChange {
    fn of(what: &'static str, target: Option<Target>) -> Self {
        SlaChange {
            what,
            target,
            policy: None,
            due_at: None,
            late: false,
        }
    }
}

/// What happened besides the ticket's own fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Happened {
    /// A human's public reply to the customer (not a note, not the AI).
    pub human_reply: bool,
    /// The customer wrote.
    pub customer_message: bool,
}

/// The policy a ticket's clocks follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRef {
    pub id: String,
    pub name: String,
}

/// A reply the assignee owes on a ticket routed to them by a team that takes unanswered
/// tickets back (`Team::return_unanswered_after_minutes`): if no human replies by
/// `due_at`, the sweep returns the ticket to the queue, and the router passes them over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplyOwed {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub agent: crate::AgentId,
    pub minutes: u32,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub due_at: Timestamp,
}

impl ReplyOwed {
    /// Owed by `agent`, assigned `now` by a team that waits `minutes` (calendar time).
    pub fn new(agent: crate::AgentId, minutes: u32, now: Timestamp) -> Self {
        ReplyOwed {
            agent,
            minutes,
            due_at: now.plus(time::Duration::minutes(i64::from(minutes))),
        }
    }
}

/// The clocks move with the ticket: `after` is the ticket as it will be written.
pub fn advance(settings: &SlaSettings, after: &mut Ticket, happened: Happened, now: Timestamp) -> Vec<SlaChange> {
    // A reply owed ends with a human's reply, with another assignee (or none), or when
    // the ticket no longer holds a place (waiting on the customer, resolved, closed).
    if let Some(owed) = &after.sla.reply_owed {
        if happened.human_reply || after.assignee.as_ref() != Some(&owed.agent) || !after.status.holds_capacity() {
            after.sla.reply_owed = None;
        }
    }
    let warn = settings.warn_at_percent;
    let mut changes = Vec::new();
    let policy = settings.policy_for(after).cloned();
    let current = after.sla.policy.as_ref().map(|p| p.id.clone());
    let sla = &mut after.sla;
    let schedule = policy
        .as_ref()
        .map(|p| settings.schedule(p))
        .unwrap_or_else(Schedule::always);
    if policy.as_ref().map(|p| &p.id) != current.as_ref() {
        // A new policy: what each target used so far counts against its new budget.
        for c in &mut sla.clocks {
            c.stop(now, &schedule);
        }
        let old = std::mem::take(&mut sla.clocks);
        sla.policy = policy.as_ref().map(|p| PolicyRef {
            id: p.id.clone(),
            name: p.name.clone(),
        });
        if let Some(p) = &policy {
            for t in Target::ALL {
                let Some(minutes) = p.targets.minutes(t) else { continue };
                let existed = old.iter().find(|c| c.target == t).cloned();
                let starts = match (t, &existed) {
                    // Carried over, met or not.
                    (_, Some(c)) => t != Target::NextResponse || c.met_at.is_none(),
                    // A first response only while none was given.
                    (Target::FirstResponse, None) => sla.first_responded_at.is_none(),
                    // A next response starts with the customer's next message.
                    (Target::NextResponse, None) => false,
                    (Target::Resolution, None) => true,
                };
                let mut clock = existed.unwrap_or_else(|| TargetClock::new(t, 0));
                clock.budget_secs = i64::from(minutes) * 60;
                if starts {
                    sla.clocks.push(clock);
                }
            }
        }
        changes.push(SlaChange {
            policy: sla.policy.as_ref().map(|p| p.name.clone()),
            ..SlaChange::of(if current.is_none() { "applied" } else { "policy_changed" }, None)
        });
    }
    if happened.human_reply {
        for c in sla.clocks.iter_mut() {
            let response = matches!(c.target, Target::FirstResponse | Target::NextResponse);
            if response && c.met_at.is_none() {
                let late = c.due_at.is_some_and(|d| d < now) || c.breached_at.is_some();
                if late && c.breached_at.is_none() {
                    c.breached_at = c.due_at;
                }
                c.stop(now, &schedule);
                c.met_at = Some(now);
                changes.push(SlaChange {
                    late,
                    ..SlaChange::of("met", Some(c.target))
                });
            }
        }
    }
    let next_budget = policy.as_ref().and_then(|p| p.targets.next_response_minutes);
    if happened.customer_message && sla.first_responded_at.is_some() {
        if let Some(minutes) = next_budget {
            let waiting = sla
                .clocks
                .iter()
                .any(|c| c.target == Target::NextResponse && c.met_at.is_none());
            if !waiting {
                // A new wait for a human answer: a fresh next-response clock.
                sla.clocks.retain(|c| c.target != Target::NextResponse);
                sla.clocks
                    .push(TargetClock::new(Target::NextResponse, i64::from(minutes) * 60));
            }
        }
    }
    // Running follows the status: open or waiting on the team runs, waiting on the
    // customer pauses, resolved or closed meets the resolution and stops the rest.
    let runs = after.status.holds_capacity();
    let done = !after.status.is_active();
    if done {
        // Resolving ends the wait for a next response; a reopen starts a new one.
        sla.clocks
            .retain(|c| c.target != Target::NextResponse || c.met_at.is_some());
    }
    for c in sla.clocks.iter_mut() {
        if c.target == Target::Resolution {
            if done && c.met_at.is_none() {
                let late = c.due_at.is_some_and(|d| d < now) || c.breached_at.is_some();
                if late && c.breached_at.is_none() {
                    c.breached_at = c.due_at;
                }
                c.stop(now, &schedule);
                c.met_at = Some(now);
                changes.push(SlaChange {
                    late,
                    ..SlaChange::of("met", Some(c.target))
                });
            } else if !done && c.met_at.is_some() {
                // Reopened: the resolution counts on from where it stopped.
                c.met_at = None;
                changes.push(SlaChange::of("reopened", Some(c.target)));
            }
        }
        if c.met_at.is_some() {
            continue;
        }
        match (runs, c.is_running()) {
            (true, false) => {
                c.run(now, &schedule, warn);
                if c.elapsed_secs > 0 {
                    changes.push(SlaChange {
                        due_at: c.due_at,
                        ..SlaChange::of("resumed", Some(c.target))
                    });
                }
            }
            (false, true) => {
                c.stop(now, &schedule);
                changes.push(SlaChange::of("paused", Some(c.target)));
            }
            (true, true) => c.plan(&schedule, warn),
            (false, false) => {}
        }
    }
    sla.clocks.sort_by_key(|c| c.target);
    sla.refresh();
    changes
}

/// The clocks after a change of the ticket from `before` to `after` (as it will be
/// written): what happened is read from the change itself (a human reply, a customer
/// message, the status, the fields the policies look at).
pub fn step(settings: &SlaSettings, before: &Ticket, after: &mut Ticket, now: Timestamp) -> Vec<SlaChange> {
    let happened = Happened {
        human_reply: after.sla.last_human_reply_at != before.sla.last_human_reply_at,
        customer_message: after.sla.last_customer_message_at != before.sla.last_customer_message_at,
    };
    // Also with nothing new: running targets are planned again, so a changed calendar
    // counts from the ticket's next change on.
    advance(settings, after, happened, now)
}

/// A mark the sweep makes once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SweepMark {
    pub target: Target,
    pub breached: bool,
    pub due_at: Timestamp,
}

impl crate::ticket::SlaState {
    /// Marks targets at risk and breached as of `now`, each once; returns the marks.
    pub fn sweep(&mut self, status: Status, now: Timestamp) -> Vec<SweepMark> {
        let mut marks = Vec::new();
        if !status.holds_capacity() {
            return marks;
        }
        for c in self.clocks.iter_mut().filter(|c| c.is_running() && c.met_at.is_none()) {
            if let (None, Some(due)) = (c.breached_at, c.due_at) {
                if due <= now {
                    c.breached_at = Some(due);
                    c.warned_at.get_or_insert(now);
                    marks.push(SweepMark {
                        target: c.target,
                        breached: true,
                        due_at: due,
                    });
                    continue;
                }
            }
            if let (None, Some(risk), Some(due)) = (c.warned_at, c.at_risk_at, c.due_at) {
                if risk <= now {
                    c.warned_at = Some(now);
                    marks.push(SweepMark {
                        target: c.target,
                        breached: false,
                        due_at: due,
                    });
                }
            }
        }
        self.refresh();
        marks
    }

    /// The summary fields from the clocks.
    pub(crate) fn refresh(&mut self) {
        let due = |t: Target| self.clocks.iter().find(|c| c.target == t).and_then(|c| c.due_at);
        self.first_response_due = due(Target::FirstResponse);
        self.next_response_due = due(Target::NextResponse);
        self.resolution_due = due(Target::Resolution);
        self.breached = self.clocks.iter().any(|c| c.breached_at.is_some());
    }

    /// The next moment the sweep must look at the ticket: a running target's warning or
    /// deadline it has not marked yet, or the assignee's reply owed.
    pub fn next_check(&self, status: Status) -> Option<Timestamp> {
        if !status.holds_capacity() {
            return None;
        }
        self.clocks
            .iter()
            .filter(|c| c.is_running() && c.met_at.is_none())
            .flat_map(|c| {
                [
                    c.at_risk_at.filter(|_| c.warned_at.is_none()),
                    c.due_at.filter(|_| c.breached_at.is_none()),
                ]
            })
            .flatten()
            .chain(self.reply_owed.as_ref().map(|o| o.due_at))
            .min()
    }

    /// The reply owed, if it is overdue as of `now` (the ticket still holds a place).
    pub fn reply_overdue(&self, status: Status, now: Timestamp) -> Option<&ReplyOwed> {
        self.reply_owed
            .as_ref()
            .filter(|o| status.holds_capacity() && o.due_at <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ticket::Priority;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(&s.replace(":00Z", ":00.000Z")).unwrap()
    }

    fn office(tz: &str) -> Calendar {
        Calendar {
            id: "office".into(),
            name: "Office".into(),
            time_zone: tz.into(),
            hours: [Day::Monday, Day::Tuesday, Day::Wednesday, Day::Thursday, Day::Friday]
                .into_iter()
                .map(|day| OpenHours {
                    day,
                    from: "09:00".into(),
                    to: "17:00".into(),
                })
                .collect(),
            holidays: vec![],
        }
    }

    fn settings(targets: Targets, calendar: Option<Calendar>) -> SlaSettings {
        SlaSettings {
            policies: vec![SlaPolicy {
                id: "p".into(),
                name: "Standard".into(),
                conditions: vec![],
                targets,
                calendar: calendar.as_ref().map(|c| c.id.clone()),
            }],
            calendars: calendar.into_iter().collect(),
            warn_at_percent: 75,
        }
    }

    fn first_response(minutes: u32) -> Targets {
        Targets {
            first_response_minutes: Some(minutes),
            ..Targets::default()
        }
    }

    fn ticket(at: Timestamp) -> Ticket {
        crate::ticket::tests::sample_ticket(at)
    }

    #[test]
    fn a_friday_afternoon_ticket_is_due_on_monday_in_business_hours() {
        let s = settings(first_response(4 * 60), Some(office("Europe/Berlin")));
        // Friday 2026-11-27 15:00 Berlin (14:00 UTC): 2 h on Friday, 2 h on Monday.
        let at = ts("2026-11-27T14:00:00Z");
        let mut t = ticket(at);
        let changes = advance(&s, &mut t, Happened::default(), at);
        assert_eq!(changes[0].what, "applied");
        assert_eq!(t.sla.first_response_due, Some(ts("2026-11-30T10:00:00Z")));
        // At risk after 3 h of business time: Monday 10:00 Berlin.
        assert_eq!(t.sla.next_check(t.status), Some(ts("2026-11-30T09:00:00Z")));
    }

    #[test]
    fn a_holiday_is_skipped() {
        let mut cal = office("Europe/Berlin");
        cal.holidays = vec![Holiday {
            date: "2026-12-24".into(),
            name: "Christmas Eve".into(),
        }];
        let s = settings(first_response(60), Some(cal));
        // Wednesday 16:30 Berlin: 30 min that day, Thursday closed, 30 min on Friday.
        let at = ts("2026-12-23T15:30:00Z");
        let mut t = ticket(at);
        advance(&s, &mut t, Happened::default(), at);
        assert_eq!(t.sla.first_response_due, Some(ts("2026-12-25T08:30:00Z")));
    }

    #[test]
    fn business_time_follows_the_zone_across_a_dst_change() {
        // New York leaves DST on Sunday 2026-11-01: 09:00 local is 13:00 UTC on Friday
        // and 14:00 UTC on Monday.
        let s = settings(first_response(2 * 60), Some(office("America/New_York")));
        let at = ts("2026-10-30T20:00:00Z"); // Friday 16:00 EDT
        let mut t = ticket(at);
        advance(&s, &mut t, Happened::default(), at);
        assert_eq!(
            t.sla.first_response_due,
            Some(ts("2026-11-02T15:00:00Z")),
            "Monday 10:00 EST"
        );
        let schedule = s.schedule(&s.policies[0]);
        assert_eq!(
            schedule.business_secs(ts("2026-10-30T20:00:00Z"), ts("2026-11-02T15:00:00Z")),
            2 * 3600
        );
    }

    #[test]
    fn calendar_hours_count_every_second() {
        let s = settings(first_response(90), None);
        let at = ts("2026-11-28T23:00:00Z"); // a Saturday night
        let mut t = ticket(at);
        advance(&s, &mut t, Happened::default(), at);
        assert_eq!(t.sla.first_response_due, Some(ts("2026-11-29T00:30:00Z")));
    }

    #[test]
    fn waiting_on_the_customer_pauses_and_the_reply_resumes_with_what_is_left() {
        let s = settings(
            Targets {
                resolution_minutes: Some(60),
                ..Targets::default()
            },
            None,
        );
        let at = ts("2026-11-30T10:00:00Z");
        let mut t = ticket(at);
        advance(&s, &mut t, Happened::default(), at);
        assert_eq!(t.sla.resolution_due, Some(ts("2026-11-30T11:00:00Z")));
        // 20 minutes in, the agent waits on the customer for two hours.
        t.status = Status::WaitingOnCustomer;
        let changes = advance(&s, &mut t, Happened::default(), ts("2026-11-30T10:20:00Z"));
        assert_eq!(changes.iter().map(|c| c.what).collect::<Vec<_>>(), ["paused"]);
        assert_eq!(t.sla.resolution_due, None);
        assert_eq!(t.sla.next_check(t.status), None, "nothing to sweep while paused");
        t.status = Status::Open;
        let changes = advance(&s, &mut t, Happened::default(), ts("2026-11-30T12:20:00Z"));
        assert_eq!(changes[0].what, "resumed");
        assert_eq!(
            t.sla.resolution_due,
            Some(ts("2026-11-30T13:00:00Z")),
            "40 minutes left"
        );
        t.status = Status::Resolved;
        let changes = advance(&s, &mut t, Happened::default(), ts("2026-11-30T12:50:00Z"));
        assert_eq!((changes[0].what, changes[0].late), ("met", false));
        // Reopened: the resolution counts on from 50 minutes used.
        t.status = Status::Open;
        advance(&s, &mut t, Happened::default(), ts("2026-12-01T09:00:00Z"));
        assert_eq!(t.sla.resolution_due, Some(ts("2026-12-01T09:10:00Z")));
    }

    #[test]
    fn only_a_human_reply_meets_a_response_target_and_the_customer_starts_the_next() {
        let s = settings(
            Targets {
                first_response_minutes: Some(30),
                next_response_minutes: Some(60),
                ..Targets::default()
            },
            None,
        );
        let at = ts("2026-11-30T10:00:00Z");
        let mut t = ticket(at);
        advance(&s, &mut t, Happened::default(), at);
        // The AI answering, or a note, is no human reply: nothing is met.
        let changes = advance(&s, &mut t, Happened::default(), ts("2026-11-30T10:05:00Z"));
        assert!(changes.is_empty());
        assert_eq!(t.sla.first_response_due, Some(ts("2026-11-30T10:30:00Z")));
        t.sla.first_responded_at = Some(ts("2026-11-30T10:10:00Z"));
        let reply = Happened {
            human_reply: true,
            ..Happened::default()
        };
        let changes = advance(&s, &mut t, reply, ts("2026-11-30T10:10:00Z"));
        assert_eq!(
            (changes[0].what, changes[0].target),
            ("met", Some(Target::FirstResponse))
        );
        assert_eq!(t.sla.next_check(t.status), None);
        let wrote = Happened {
            customer_message: true,
            ..Happened::default()
        };
        advance(&s, &mut t, wrote, ts("2026-11-30T11:00:00Z"));
        assert_eq!(t.sla.next_response_due, Some(ts("2026-11-30T12:00:00Z")));
        // A second message while waiting keeps the same clock.
        advance(&s, &mut t, wrote, ts("2026-11-30T11:30:00Z"));
        assert_eq!(t.sla.next_response_due, Some(ts("2026-11-30T12:00:00Z")));
        // Answered late: met, and recorded as breached at its deadline.
        let changes = advance(&s, &mut t, reply, ts("2026-11-30T12:15:00Z"));
        assert!(changes[0].late);
        assert!(t.sla.breached);
    }

    #[test]
    fn the_sweep_marks_at_risk_then_breached_once_each() {
        let s = settings(first_response(60), None);
        let at = ts("2026-11-30T10:00:00Z");
        let mut t = ticket(at);
        advance(&s, &mut t, Happened::default(), at);
        assert!(t.sla.sweep(t.status, ts("2026-11-30T10:30:00Z")).is_empty());
        let marks = t.sla.sweep(t.status, ts("2026-11-30T10:46:00Z"));
        assert_eq!(marks.len(), 1);
        assert!(!marks[0].breached);
        assert!(t.sla.sweep(t.status, ts("2026-11-30T10:50:00Z")).is_empty(), "once");
        assert_eq!(t.sla.next_check(t.status), Some(ts("2026-11-30T11:00:00Z")));
        let marks = t.sla.sweep(t.status, ts("2026-11-30T11:01:00Z"));
        assert!(marks[0].breached);
        assert!(t.sla.sweep(t.status, ts("2026-11-30T11:05:00Z")).is_empty(), "once");
        assert_eq!(t.sla.next_check(t.status), None);
        assert_eq!(
            t.sla.status(t.status, ts("2026-11-30T11:05:00Z")),
            crate::ticket::SlaStatus::Breached
        );
    }

    #[test]
    fn a_reply_owed_is_checked_by_the_sweep_and_ends_with_a_human_reply_or_another_assignee() {
        let s = SlaSettings::default();
        let at = ts("2026-11-30T10:00:00Z");
        let ana = crate::AgentId::new("ana").unwrap();
        let owed = |t: &mut Ticket| {
            t.assignee = Some(ana.clone());
            t.sla.reply_owed = Some(ReplyOwed::new(ana.clone(), 30, at));
        };
        let mut t = ticket(at);
        owed(&mut t);
        advance(&s, &mut t, Happened::default(), at);
        assert_eq!(t.sla.next_check(t.status), Some(ts("2026-11-30T10:30:00Z")));
        assert!(t.sla.reply_overdue(t.status, ts("2026-11-30T10:29:00Z")).is_none());
        assert!(t.sla.reply_overdue(t.status, ts("2026-11-30T10:30:00Z")).is_some());
        // A note (nothing happened for the clocks) keeps it; a human reply ends it.
        advance(&s, &mut t, Happened::default(), ts("2026-11-30T10:10:00Z"));
        assert!(t.sla.reply_owed.is_some());
        let reply = Happened {
            human_reply: true,
            ..Happened::default()
        };
        advance(&s, &mut t, reply, ts("2026-11-30T10:12:00Z"));
        assert_eq!((t.sla.reply_owed.clone(), t.sla.next_check(t.status)), (None, None));
        // Given to someone else, or waiting on the customer: nothing is owed.
        owed(&mut t);
        t.assignee = Some(crate::AgentId::new("ben").unwrap());
        advance(&s, &mut t, Happened::default(), ts("2026-11-30T10:15:00Z"));
        assert_eq!(t.sla.reply_owed, None);
        owed(&mut t);
        t.status = Status::WaitingOnCustomer;
        advance(&s, &mut t, Happened::default(), ts("2026-11-30T10:15:00Z"));
        assert_eq!(t.sla.reply_owed, None);
    }

    #[test]
    fn a_policy_change_keeps_the_time_used() {
        let mut s = settings(first_response(60), None);
        s.policies.insert(
            0,
            SlaPolicy {
                id: "urgent".into(),
                name: "Urgent".into(),
                conditions: vec![Condition::Priority {
                    any: vec![Priority::Urgent],
                }],
                targets: first_response(30),
                calendar: None,
            },
        );
        let at = ts("2026-11-30T10:00:00Z");
        let mut t = ticket(at);
        advance(&s, &mut t, Happened::default(), at);
        assert_eq!(t.sla.policy.as_ref().unwrap().id, "p");
        t.priority = Priority::Urgent;
        let changes = advance(&s, &mut t, Happened::default(), ts("2026-11-30T10:20:00Z"));
        assert_eq!(changes[0].what, "policy_changed");
        assert_eq!(
            t.sla.first_response_due,
            Some(ts("2026-11-30T10:30:00Z")),
            "20 of 30 used"
        );
        // Answered; the customer writes; the priority drops: the wait for the next
        // response is carried into the other policy, with the time it used.
        for p in &mut s.policies {
            p.targets.next_response_minutes = Some(60);
        }
        t.sla.first_responded_at = Some(ts("2026-11-30T10:25:00Z"));
        let reply = Happened {
            human_reply: true,
            ..Happened::default()
        };
        advance(&s, &mut t, reply, ts("2026-11-30T10:25:00Z"));
        let wrote = Happened {
            customer_message: true,
            ..Happened::default()
        };
        advance(&s, &mut t, wrote, ts("2026-11-30T11:00:00Z"));
        assert_eq!(t.sla.next_response_due, Some(ts("2026-11-30T12:00:00Z")));
        t.priority = Priority::Normal;
        advance(&s, &mut t, Happened::default(), ts("2026-11-30T11:10:00Z"));
        assert_eq!(t.sla.policy.as_ref().unwrap().id, "p");
        assert_eq!(
            t.sla.next_response_due,
            Some(ts("2026-11-30T12:00:00Z")),
            "still waiting"
        );
    }

    #[test]
    fn bad_calendars_and_policies_are_named() {
        let mut cal = office("Mars/Olympus");
        cal.hours[0].to = "08:00".into();
        cal.holidays.push(Holiday {
            date: "25.12.2026".into(),
            name: String::new(),
        });
        let mut s = settings(Targets::default(), Some(cal));
        s.policies[0].calendar = Some("nope".into());
        let fields: Vec<String> = s.validate().into_iter().map(|(f, _)| f).collect();
        for f in [
            "calendars[0].time_zone",
            "calendars[0].hours[0]",
            "calendars[0].holidays[0].date",
            "policies[0].targets",
            "policies[0].calendar",
        ] {
            assert!(fields.iter().any(|x| x == f), "{f} in {fields:?}");
        }
        assert!(SlaSettings::demo().validate().is_empty());
    }

    #[test]
    fn holidays_are_read_from_an_icalendar_file() {
        let ics = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20261224\r\nDTEND;VALUE=DATE:20261227\r\nSUMMARY:Christ\r\n mas\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nDTSTART:20270101\r\nSUMMARY:New Year\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let h = holidays_from_ical(ics).unwrap();
        let dates: Vec<&str> = h.iter().map(|h| h.date.as_str()).collect();
        assert_eq!(dates, ["2026-12-24", "2026-12-25", "2026-12-26", "2027-01-01"]);
        assert_eq!(h[0].name, "Christmas");
        assert!(holidays_from_ical("BEGIN:VCALENDAR\r\nEND:VCALENDAR").is_err());
    }
}
