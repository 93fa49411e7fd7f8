//! Routing: which team a ticket belongs to (the tenant's rules, first match wins) and
//! which agent of that team takes it (the team's strategy, the agents' skills, presence
//! and capacity), with the reasons, so every decision can be explained and previewed.
//!
//! Pure: the router reads the ticket, the tenant's rules, the team, its agents and the
//! team's rotation, asks [`decide`], and writes the outcome in one conditional
//! transaction (the winner's capacity, the rotation and the ticket together).

use crate::directory::{Agent, Presence, RoutingStrategy, Team};
use crate::ticket::{Priority, Ticket};
use crate::{AgentId, Channel, TeamId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// At most this many rules per tenant (each is checked on every routing).
pub const MAX_RULES: usize = 100;
/// At most this many values in one condition.
pub const MAX_VALUES: usize = 50;

/// The tenant's routing configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoutingSettings {
    /// Checked in order; the first rule whose conditions all hold applies.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// The team of a ticket no rule gives a team to.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub default_team: Option<TeamId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rule {
    /// Unique within the tenant: `[a-z0-9-]`, named in routing explanations.
    pub id: String,
    pub name: String,
    /// All must hold (values within one condition: any of them). No conditions: every
    /// ticket matches (a catch-all, usually last).
    #[serde(default)]
    pub conditions: Vec<Condition>,
    pub actions: RuleActions,
}

/// One test on the ticket; `any` lists the values of which one must be present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "field", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Condition {
    /// One of the ticket's tags (case-insensitive).
    Tags { any: Vec<String> },
    /// A word or phrase in the subject, the AI's summary or the customer's messages
    /// (whole words, case-insensitive).
    Words { any: Vec<String> },
    /// The channel the ticket came from.
    Channel {
        #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
        any: Vec<Channel>,
    },
    /// The ticket's priority.
    Priority {
        #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
        any: Vec<Priority>,
    },
    /// Why the AI handed off (`asked_for_human`, `no_knowledge`, `frustrated`, …).
    HandoffReason { any: Vec<String> },
    /// A customer attribute (`plan`, `vip`, …) with one of the values (case-insensitive).
    CustomerAttribute { key: String, any: Vec<String> },
    /// A fact of the order the ticket is about, else the customer's latest order
    /// (`fulfilment_status`, `shipment_status`, `status`, `financial_status`, `currency`,
    /// `number`, `total`) with one of the values (case-insensitive).
    Order { fact: String, any: Vec<String> },
    /// That order's total is at least this amount (a decimal, in the order's currency).
    OrderTotal { at_least: String },
}

/// What a matching rule does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleActions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub team: Option<TeamId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub priority: Option<Priority>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_tags: Vec<String>,
}

/// What the rules look at, gathered once per routing.
#[derive(Debug, Clone, Default)]
pub struct TicketFacts {
    pub tags: Vec<String>,
    /// Subject, summary and customer messages as lowercase words joined by single
    /// spaces, with a space at each end (so a phrase matches whole words only).
    words: String,
    pub channel: Option<Channel>,
    pub priority: Option<Priority>,
    pub customer_attributes: BTreeMap<String, String>,
    /// The facts of the order the ticket is about, else the customer's latest one.
    pub order: Vec<(&'static str, String)>,
}

/// Lowercase words of `text` joined by single spaces (letters and digits; everything
/// else separates words).
fn word_string(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

impl TicketFacts {
    /// The facts of `ticket`, with the customer's messages' `texts` and attributes.
    pub fn of(ticket: &Ticket, texts: &[&str], customer_attributes: BTreeMap<String, String>) -> Self {
        let mut all = vec![ticket.subject.as_str()];
        all.extend(ticket.ai_summary.as_deref());
        all.extend_from_slice(texts);
        TicketFacts {
            tags: ticket.tags.clone(),
            words: format!(" {} ", word_string(&all.join(" "))),
            channel: Some(ticket.source.channel),
            priority: Some(ticket.priority),
            customer_attributes,
            order: ticket
                .orders
                .as_ref()
                .and_then(|o| o.routed_order())
                .map(|o| o.facts())
                .unwrap_or_default(),
        }
    }

    /// Facts of a sample ticket (the routing preview).
    pub fn sample(
        text: &str,
        tags: Vec<String>,
        channel: Option<Channel>,
        priority: Option<Priority>,
        customer_attributes: BTreeMap<String, String>,
    ) -> Self {
        TicketFacts {
            tags,
            words: format!(" {} ", word_string(text)),
            channel,
            priority,
            customer_attributes,
            order: vec![],
        }
    }

    fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t.eq_ignore_ascii_case(tag))
    }

    fn order_fact(&self, name: &str) -> Option<&str> {
        self.order.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    fn has_words(&self, phrase: &str) -> bool {
        let p = word_string(phrase);
        !p.is_empty() && self.words.contains(&format!(" {p} "))
    }
}

impl Condition {
    pub fn holds(&self, f: &TicketFacts) -> bool {
        match self {
            Condition::Tags { any } => any.iter().any(|t| f.has_tag(t)),
            Condition::Words { any } => any.iter().any(|w| f.has_words(w)),
            Condition::Channel { any } => f.channel.is_some_and(|c| any.contains(&c)),
            Condition::Priority { any } => f.priority.is_some_and(|p| any.contains(&p)),
            Condition::HandoffReason { any } => any.iter().any(|r| f.has_tag(&format!("handoff:{r}"))),
            Condition::CustomerAttribute { key, any } => f
                .customer_attributes
                .get(key)
                .is_some_and(|v| any.iter().any(|a| a.eq_ignore_ascii_case(v))),
            Condition::Order { fact, any } => f
                .order_fact(fact)
                .is_some_and(|v| any.iter().any(|a| a.trim().eq_ignore_ascii_case(v))),
            Condition::OrderTotal { at_least } => {
                let total = f.order_fact("total").and_then(crate::commerce::parse_cents);
                total
                    .zip(crate::commerce::parse_cents(at_least))
                    .is_some_and(|(t, min)| t >= min)
            }
        }
    }

    fn values_len(&self) -> usize {
        match self {
            Condition::Tags { any } | Condition::Words { any } | Condition::HandoffReason { any } => any.len(),
            Condition::CustomerAttribute { any, .. } | Condition::Order { any, .. } => any.len(),
            Condition::OrderTotal { .. } => 1,
            Condition::Channel { any } => any.len(),
            Condition::Priority { any } => any.len(),
        }
    }
}

impl Rule {
    pub fn matches(&self, f: &TicketFacts) -> bool {
        self.conditions.iter().all(|c| c.holds(f))
    }
}

/// The first rule that matches, if any.
pub fn first_match<'a>(settings: &'a RoutingSettings, facts: &TicketFacts) -> Option<&'a Rule> {
    settings.rules.iter().find(|r| r.matches(facts))
}

/// A field error of a routing configuration: `(field path, reason)`.
pub type FieldError = (String, String);

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl RoutingSettings {
    /// Every problem, with the path of the field (`rules[2].conditions[0].any`).
    /// `team_exists` says whether a team id names one of the tenant's teams.
    pub fn validate(&self, team_exists: impl Fn(&TeamId) -> bool) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut err = |field: String, reason: &str| errors.push((field, reason.to_owned()));
        if self.rules.len() > MAX_RULES {
            err("rules".into(), "at most 100 rules");
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            let at = format!("rules[{i}]");
            if !is_slug(&rule.id) {
                err(format!("{at}.id"), "1-64 characters of a-z, 0-9 and -");
            } else if !seen.insert(rule.id.as_str()) {
                err(format!("{at}.id"), "another rule has this id");
            }
            if rule.name.trim().is_empty() || rule.name.chars().count() > 200 {
                err(format!("{at}.name"), "1-200 characters");
            }
            for (j, c) in rule.conditions.iter().enumerate() {
                let n = c.values_len();
                if n == 0 || n > MAX_VALUES {
                    err(format!("{at}.conditions[{j}].any"), "1-50 values");
                }
                let blank = match c {
                    Condition::Tags { any } | Condition::Words { any } | Condition::HandoffReason { any } => {
                        any.iter().any(|v| word_string(v).is_empty())
                    }
                    Condition::CustomerAttribute { key, any } => {
                        key.trim().is_empty() || any.iter().any(|v| v.trim().is_empty())
                    }
                    Condition::Order { any, .. } => any.iter().any(|v| v.trim().is_empty()),
                    _ => false,
                };
                match c {
                    Condition::Order { fact, .. } if !crate::commerce::ORDER_FACTS.contains(&fact.as_str()) => err(
                        format!("{at}.conditions[{j}].fact"),
                        "one of number, status, financial_status, fulfilment_status, shipment_status, currency, total",
                    ),
                    Condition::OrderTotal { at_least } if crate::commerce::parse_cents(at_least).is_none() => err(
                        format!("{at}.conditions[{j}].at_least"),
                        "a decimal amount such as 100 or 99.50",
                    ),
                    _ => {}
                }
                if blank {
                    err(
                        format!("{at}.conditions[{j}]"),
                        "values (and the key) must not be blank",
                    );
                }
            }
            let a = &rule.actions;
            if a.team.is_none() && a.priority.is_none() && a.add_tags.is_empty() {
                err(format!("{at}.actions"), "set at least one of team, priority, add_tags");
            }
            if let Some(team) = &a.team {
                if !team_exists(team) {
                    err(format!("{at}.actions.team"), "no such team");
                }
            }
            if a.add_tags.iter().any(|t| t.trim().is_empty() || t.len() > 64) {
                err(format!("{at}.actions.add_tags"), "tags of 1-64 characters");
            }
        }
        if let Some(team) = &self.default_team {
            if !team_exists(team) {
                err("default_team".into(), "no such team");
            }
        }
        errors
    }
}

/// Where a team's round robin stands: the agent who got the last ticket, and a sequence
/// number every advance moves on (the advance is conditional on it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rotation {
    pub last: Option<AgentId>,
    pub seq: u64,
}

/// Why a candidate did or did not get the ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Verdict {
    Chosen,
    /// Deactivated.
    Inactive,
    /// Away or offline.
    NotOnline,
    /// At `max_open` active tickets.
    Full,
    /// Others online with room have a skill the ticket needs.
    NotSkilled,
    /// Let the ticket go unanswered before (their team took it back); others can take it.
    PassedOver,
    /// Round robin: another agent comes first after the last assignment.
    LaterInRotation,
    /// Balanced: has more open tickets than the winner.
    MoreOpen,
    /// Balanced: as many open tickets as the winner, assigned more recently.
    AssignedMoreRecently,
    /// First available: nobody is chosen; the first agent who asks gets it.
    Waits,
    /// Listed in the team, but there is no such agent.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Candidate {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub agent: AgentId,
    #[serde(flatten)]
    pub verdict: Verdict,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub presence: Option<Presence>,
    pub open: u32,
    pub max_open: u32,
    /// The skills of the agent that match the ticket's topic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matched_skills: Vec<String>,
}

/// The agent a team's strategy picks, and the case for and against everyone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentChoice {
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub winner: Option<AgentId>,
    /// Why the winner won, or why nobody did, in words.
    pub why: String,
    pub candidates: Vec<Candidate>,
}

fn skill_matches(agent: &Agent, topic: &[String]) -> Vec<String> {
    agent
        .skills
        .iter()
        .filter(|s| topic.iter().any(|t| t.eq_ignore_ascii_case(s)))
        .cloned()
        .collect()
}

/// Picks the agent of `team` for a ticket about `topic` (its tags). `agents` are the
/// team's members as read (a member with no record is reported `unknown`); `rotation`
/// is the team's round robin. Only active, online agents below `max_open` can win; if
/// any of them has a skill matching the topic, only those can.
///
/// `passed_over`: agents the ticket was taken back from unanswered; they lose to anyone
/// else who can take it, and are chosen only when nobody else can.
pub fn choose_agent(
    team: &Team,
    agents: &[Agent],
    topic: &[String],
    passed_over: &[AgentId],
    rotation: &Rotation,
) -> AgentChoice {
    let by_id: BTreeMap<&AgentId, &Agent> = agents.iter().map(|a| (&a.id, a)).collect();
    let mut candidates: Vec<Candidate> = team
        .members
        .iter()
        .map(|id| match by_id.get(id) {
            None => Candidate {
                agent: id.clone(),
                verdict: Verdict::Unknown,
                presence: None,
                open: 0,
                max_open: 0,
                matched_skills: vec![],
            },
            Some(a) => Candidate {
                agent: id.clone(),
                verdict: if !a.active {
                    Verdict::Inactive
                } else if a.presence != Presence::Online {
                    Verdict::NotOnline
                } else if !a.has_capacity() {
                    Verdict::Full
                } else {
                    Verdict::Chosen // provisional: in the pool
                },
                presence: Some(a.presence),
                open: a.open_count,
                max_open: a.max_open,
                matched_skills: skill_matches(a, topic),
            },
        })
        .collect();
    let in_pool = |c: &Candidate| c.verdict == Verdict::Chosen;
    let skilled = candidates.iter().any(|c| in_pool(c) && !c.matched_skills.is_empty());
    if skilled {
        for c in candidates.iter_mut().filter(|c| c.verdict == Verdict::Chosen) {
            if c.matched_skills.is_empty() {
                c.verdict = Verdict::NotSkilled;
            }
        }
    }
    let others = candidates.iter().any(|c| in_pool(c) && !passed_over.contains(&c.agent));
    if others {
        for c in candidates.iter_mut().filter(|c| c.verdict == Verdict::Chosen) {
            if passed_over.contains(&c.agent) {
                c.verdict = Verdict::PassedOver;
            }
        }
    }
    let pool: Vec<usize> = (0..candidates.len()).filter(|i| in_pool(&candidates[*i])).collect();
    let skill_note = if skilled {
        let mut s: Vec<&String> = pool.iter().flat_map(|i| &candidates[*i].matched_skills).collect();
        s.sort();
        s.dedup();
        format!("; preferred for the skills {}", join(s.iter().map(|s| s.as_str())))
    } else {
        String::new()
    };
    if pool.is_empty() {
        let why = if team.members.is_empty() {
            "the team has no members".to_owned()
        } else {
            "no member is online with room for another ticket; it waits in the team's backlog".to_owned()
        };
        return AgentChoice {
            winner: None,
            why,
            candidates,
        };
    }
    let (winner, why) = match team.strategy {
        RoutingStrategy::FirstAvailable => {
            for i in &pool {
                candidates[*i].verdict = Verdict::Waits;
            }
            return AgentChoice {
                winner: None,
                why: "first available: it waits in the team's queue for the first agent who asks for work".into(),
                candidates,
            };
        }
        RoutingStrategy::RoundRobin => {
            // The first pool member after the last one assigned, in the team's order.
            let n = candidates.len();
            let start = rotation
                .last
                .as_ref()
                .and_then(|last| candidates.iter().position(|c| &c.agent == last))
                .map_or(0, |p| p + 1);
            let w = (0..n)
                .map(|k| (start + k) % n)
                .find(|i| pool.contains(i))
                .expect("the pool is not empty");
            let after = rotation
                .last
                .as_ref()
                .map_or("the start of the rotation".to_owned(), |l| l.to_string());
            (
                w,
                format!("round robin: next in the team's rotation after {after}{skill_note}"),
            )
        }
        RoutingStrategy::Balanced => {
            let last_assigned = |i: usize| {
                by_id
                    .get(&candidates[i].agent)
                    .and_then(|a| a.last_assigned_at)
                    .map_or(i128::MIN, |t| t.unix_millis() as i128)
            };
            let w = *pool
                .iter()
                .min_by_key(|i| (candidates[**i].open, last_assigned(**i), **i))
                .expect("the pool is not empty");
            let open = candidates[w].open;
            let tied = pool.iter().filter(|i| candidates[**i].open == open).count() > 1;
            let tie = if tied {
                "; of those tied, the longest since their last assignment"
            } else {
                ""
            };
            (w, format!("balanced: fewest open tickets ({open}){tie}{skill_note}"))
        }
    };
    let winner_open = candidates[winner].open;
    for i in pool {
        candidates[i].verdict = if i == winner {
            Verdict::Chosen
        } else {
            match team.strategy {
                RoutingStrategy::RoundRobin => Verdict::LaterInRotation,
                _ if candidates[i].open > winner_open => Verdict::MoreOpen,
                _ => Verdict::AssignedMoreRecently,
            }
        };
    }
    AgentChoice {
        winner: Some(candidates[winner].agent.clone()),
        why,
        candidates,
    }
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// The rule that matched, as explanations name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleRef {
    pub id: String,
    pub name: String,
}

/// A whole routing decision: the ticket's team (and what the rule changed), then the
/// agent. Written on the ticket's timeline (`routed` / `queued` events) and returned by
/// the preview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Explanation {
    pub rule: Option<RuleRef>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub team: Option<TeamId>,
    /// Why the ticket is in this team: the rule, an agent's choice, the default.
    pub team_reason: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub strategy: Option<RoutingStrategy>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub priority: Priority,
    pub tags: Vec<String>,
    #[serde(flatten)]
    pub choice: AgentChoice,
}

/// Applies the first matching rule's actions to `ticket` and says which team it is in
/// and why. A team an agent chose by hand (`team_pinned`) stays; the rule's priority
/// and tags still apply.
pub fn apply_rules(settings: &RoutingSettings, facts: &TicketFacts, ticket: &mut Ticket) -> (Option<RuleRef>, String) {
    let rule = first_match(settings, facts);
    if let Some(r) = rule {
        if let Some(p) = r.actions.priority {
            ticket.priority = p;
        }
        for tag in &r.actions.add_tags {
            let tag = tag.trim().to_lowercase();
            if !ticket.tags.contains(&tag) {
                ticket.tags.push(tag);
            }
        }
    }
    let rule_team = rule.and_then(|r| r.actions.team.clone());
    let reason = if ticket.team_pinned && ticket.team.is_some() {
        "chosen by an agent".to_owned()
    } else if let Some(team) = rule_team {
        ticket.team = Some(team);
        format!("rule \"{}\"", rule.map_or("", |r| r.name.as_str()))
    } else if let Some(team) = &settings.default_team {
        ticket.team = Some(team.clone());
        "the tenant's default team".to_owned()
    } else if ticket.team.is_some() {
        "kept from before".to_owned()
    } else {
        "no rule gives it a team and the tenant has no default team".to_owned()
    };
    let rule = rule.map(|r| RuleRef {
        id: r.id.clone(),
        name: r.name.clone(),
    });
    (rule, reason)
}

impl Explanation {
    /// The decision for `ticket` (after the rules' actions): the rule and team reason
    /// from [`apply_rules`], the team's strategy and the agent choice (none without a
    /// team).
    pub fn new(
        rule: Option<RuleRef>,
        team_reason: String,
        ticket: &Ticket,
        team: Option<&Team>,
        choice: Option<AgentChoice>,
    ) -> Self {
        Explanation {
            rule,
            team: ticket.team.clone(),
            team_reason,
            strategy: team.map(|t| t.strategy),
            priority: ticket.priority,
            tags: ticket.tags.clone(),
            choice: choice.unwrap_or_else(|| AgentChoice {
                winner: None,
                why: "the ticket has no team; it waits unassigned".into(),
                candidates: vec![],
            }),
        }
    }
}

/// Whether `agent` may take a reopened ticket back at once: active, online, with room.
pub fn can_take_back(agent: &Agent) -> bool {
    agent.active && agent.presence == Presence::Online && agent.has_capacity()
}

/// The demo tenant's rules: technical questions to engineering support, billing to
/// finance, product questions to the product specialists; everything else to support.
pub fn demo_settings() -> RoutingSettings {
    let team = |s: &str| Some(TeamId::new(s).expect("valid id"));
    let words = |w: &[&str]| Condition::Words {
        any: w.iter().map(|s| (*s).to_owned()).collect(),
    };
    let rule = |id: &str, name: &str, conditions: Vec<Condition>, t: &str, tag: &str| Rule {
        id: id.into(),
        name: name.into(),
        conditions,
        actions: RuleActions {
            team: team(t),
            priority: None,
            add_tags: vec![tag.into()],
        },
    };
    RoutingSettings {
        rules: vec![
            rule(
                "technical",
                "Technical problems",
                vec![words(&[
                    "error",
                    "bug",
                    "crash",
                    "crashes",
                    "login",
                    "log in",
                    "password",
                    "not working",
                    "broken",
                    "app",
                    "website",
                ])],
                "engineering-support",
                "technical",
            ),
            rule(
                "billing",
                "Billing and payments",
                vec![words(&[
                    "invoice",
                    "billing",
                    "bill",
                    "charged",
                    "charge",
                    "refund",
                    "payment",
                    "paid",
                    "credit card",
                    "receipt",
                ])],
                "finance",
                "billing",
            ),
            rule(
                "product",
                "Product questions",
                vec![words(&[
                    "size",
                    "sizing",
                    "material",
                    "fit",
                    "compatible",
                    "colour",
                    "color",
                    "product",
                    "defective",
                    "warranty",
                ])],
                "product-specialists",
                "product",
            ),
        ],
        default_team: team("support"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::Role;
    use crate::ticket::tests::sample_ticket;
    use crate::{TenantId, Timestamp};

    fn t0() -> Timestamp {
        Timestamp::from_unix_millis(1_700_000_000_000).unwrap()
    }

    fn agent(id: &str, open: u32, max: u32, presence: Presence) -> Agent {
        let mut a = Agent::new(
            TenantId::new("demo").unwrap(),
            AgentId::new(id).unwrap(),
            &format!("{id}@x.example"),
            Role::Agent,
            t0(),
        );
        a.open_count = open;
        a.max_open = max;
        a.presence = presence;
        a
    }

    fn team(strategy: RoutingStrategy, members: &[&str]) -> Team {
        Team {
            tenant_id: TenantId::new("demo").unwrap(),
            id: TeamId::new("support").unwrap(),
            name: "Support".into(),
            members: members.iter().map(|m| AgentId::new(*m).unwrap()).collect(),
            strategy,
            created_at: t0(),
            lead: None,
            return_unanswered_after_minutes: None,
            version: 0,
        }
    }

    fn id(s: &str) -> AgentId {
        AgentId::new(s).unwrap()
    }

    #[test]
    fn round_robin_goes_round_and_skips_who_cannot_take_it() {
        let t = team(RoutingStrategy::RoundRobin, &["a", "b", "c"]);
        let agents = vec![
            agent("a", 0, 5, Presence::Online),
            agent("b", 0, 5, Presence::Away),
            agent("c", 0, 5, Presence::Online),
        ];
        let mut rotation = Rotation::default();
        let mut got = vec![];
        for _ in 0..4 {
            let c = choose_agent(&t, &agents, &[], &[], &rotation);
            let w = c.winner.unwrap();
            got.push(w.to_string());
            rotation.last = Some(w);
        }
        assert_eq!(got, ["a", "c", "a", "c"]);
        let c = choose_agent(&t, &agents, &[], &[], &rotation);
        assert_eq!(c.candidates[1].verdict, Verdict::NotOnline);
        assert_eq!(c.candidates[2].verdict, Verdict::LaterInRotation);
        assert!(c.why.contains("after c"), "{}", c.why);
    }

    #[test]
    fn balanced_takes_the_fewest_open_then_the_longest_waiting() {
        let t = team(RoutingStrategy::Balanced, &["a", "b", "c"]);
        let mut a = agent("a", 2, 5, Presence::Online);
        let mut b = agent("b", 1, 5, Presence::Online);
        let mut c = agent("c", 1, 5, Presence::Online);
        b.last_assigned_at = Some(t0().plus(time::Duration::minutes(5)));
        c.last_assigned_at = Some(t0());
        a.last_assigned_at = None;
        let choice = choose_agent(&t, &[a, b, c], &[], &[], &Rotation::default());
        assert_eq!(choice.winner, Some(id("c")));
        assert_eq!(choice.candidates[0].verdict, Verdict::MoreOpen);
        assert_eq!(choice.candidates[1].verdict, Verdict::AssignedMoreRecently);
        assert!(choice.why.contains("longest since"), "{}", choice.why);
    }

    #[test]
    fn a_full_team_leaves_the_ticket_in_the_backlog() {
        let t = team(RoutingStrategy::Balanced, &["a", "b", "ghost"]);
        let agents = vec![agent("a", 3, 3, Presence::Online), agent("b", 0, 3, Presence::Offline)];
        let c = choose_agent(&t, &agents, &[], &[], &Rotation::default());
        assert_eq!(c.winner, None);
        let verdicts: Vec<_> = c.candidates.iter().map(|c| c.verdict.clone()).collect();
        assert_eq!(verdicts, [Verdict::Full, Verdict::NotOnline, Verdict::Unknown]);
        assert!(c.why.contains("backlog"));
    }

    #[test]
    fn a_skilled_agent_wins_over_a_less_busy_one() {
        let t = team(RoutingStrategy::Balanced, &["a", "b"]);
        let a = agent("a", 0, 5, Presence::Online);
        let mut b = agent("b", 3, 5, Presence::Online);
        b.skills = vec!["Billing".into()];
        let c = choose_agent(
            &t,
            &[a.clone(), b.clone()],
            &["billing".into()],
            &[],
            &Rotation::default(),
        );
        assert_eq!(c.winner, Some(id("b")));
        assert_eq!(c.candidates[0].verdict, Verdict::NotSkilled);
        assert!(c.why.contains("Billing"));
        // A skilled agent who cannot take it does not hold the ticket back.
        b.presence = Presence::Offline;
        let c = choose_agent(&t, &[a, b], &["billing".into()], &[], &Rotation::default());
        assert_eq!(c.winner, Some(id("a")));
    }

    #[test]
    fn an_agent_who_let_it_go_unanswered_is_passed_over_unless_nobody_else_can_take_it() {
        let t = team(RoutingStrategy::Balanced, &["a", "b"]);
        let a = agent("a", 0, 5, Presence::Online);
        let mut b = agent("b", 3, 5, Presence::Online);
        let c = choose_agent(&t, &[a.clone(), b.clone()], &[], &[id("a")], &Rotation::default());
        assert_eq!(c.winner, Some(id("b")));
        assert_eq!(c.candidates[0].verdict, Verdict::PassedOver);
        b.presence = Presence::Away;
        let c = choose_agent(&t, &[a, b], &[], &[id("a")], &Rotation::default());
        assert_eq!(c.winner, Some(id("a")));
    }

    #[test]
    fn first_available_chooses_nobody() {
        let t = team(RoutingStrategy::FirstAvailable, &["a"]);
        let c = choose_agent(
            &t,
            &[agent("a", 0, 5, Presence::Online)],
            &[],
            &[],
            &Rotation::default(),
        );
        assert_eq!((c.winner, c.candidates[0].verdict.clone()), (None, Verdict::Waits));
    }

    #[test]
    fn rules_match_in_order_on_whole_words_tags_channel_and_attributes() {
        let s = demo_settings();
        let mut ticket = sample_ticket(t0());
        ticket.subject = "The app shows an error at login".into();
        let f = TicketFacts::of(&ticket, &[], BTreeMap::new());
        assert_eq!(first_match(&s, &f).map(|r| r.id.as_str()), Some("technical"));
        // "apples" is not "app"; "refund" is billing.
        let f = TicketFacts::sample("Apples; I want a refund", vec![], None, None, BTreeMap::new());
        assert_eq!(first_match(&s, &f).map(|r| r.id.as_str()), Some("billing"));
        let f = TicketFacts::sample("hello there", vec![], None, None, BTreeMap::new());
        assert_eq!(first_match(&s, &f), None);
        let vip = Condition::CustomerAttribute {
            key: "plan".into(),
            any: vec!["Gold".into()],
        };
        let attrs = BTreeMap::from([("plan".to_owned(), "gold".to_owned())]);
        assert!(vip.holds(&TicketFacts::sample("", vec![], None, None, attrs)));
        let reason = Condition::HandoffReason {
            any: vec!["frustrated".into()],
        };
        assert!(reason.holds(&TicketFacts::sample(
            "",
            vec!["handoff:frustrated".into()],
            None,
            None,
            BTreeMap::new()
        )));
        let ch = Condition::Channel {
            any: vec![Channel::Email],
        };
        assert!(!ch.holds(&TicketFacts::sample(
            "",
            vec![],
            Some(Channel::Whatsapp),
            None,
            BTreeMap::new()
        )));
        let phrase = Condition::Words {
            any: vec!["Not Working".into()],
        };
        assert!(phrase.holds(&TicketFacts::sample(
            "it is NOT working!",
            vec![],
            None,
            None,
            BTreeMap::new()
        )));
    }

    #[test]
    fn order_conditions_look_at_the_order_the_ticket_is_about() {
        let mut ticket = sample_ticket(t0());
        let cond = |json: serde_json::Value| serde_json::from_value::<Condition>(json).unwrap();
        let shipped = cond(serde_json::json!({"field": "order", "fact": "fulfilment_status", "any": ["Fulfilled"]}));
        let big = cond(serde_json::json!({"field": "order_total", "at_least": "50"}));
        let bigger = cond(serde_json::json!({"field": "order_total", "at_least": "59.91"}));
        // No orders on the ticket: no order condition holds.
        let f = TicketFacts::of(&ticket, &[], BTreeMap::new());
        assert!(!shipped.holds(&f) && !big.holds(&f));
        let mut older = crate::commerce::tests::order();
        older.number = "0999".into();
        older.fulfilment_status = crate::commerce::FulfilmentStatus::Unfulfilled;
        ticket.orders = Some(crate::commerce::OrderContext {
            fetched_at: t0(),
            orders: vec![older, crate::commerce::tests::order()],
            about: Some("1001".into()),
            error: None,
        });
        let f = TicketFacts::of(&ticket, &[], BTreeMap::new());
        assert!(shipped.holds(&f), "the order the conversation is about, not the latest");
        assert!(big.holds(&f) && !bigger.holds(&f), "59.90 is at least 50, not 59.91");
        // Without a named order, the customer's latest (the first listed).
        ticket.orders.as_mut().unwrap().about = None;
        assert!(!shipped.holds(&TicketFacts::of(&ticket, &[], BTreeMap::new())));
        // Unknown facts and amounts are refused when the rules are saved.
        let mut s = demo_settings();
        s.rules[0].conditions = vec![
            cond(serde_json::json!({"field": "order", "fact": "colour", "any": ["red"]})),
            cond(serde_json::json!({"field": "order_total", "at_least": "lots"})),
        ];
        let errors = s.validate(|_| true);
        assert!(
            errors.iter().any(|(f, _)| f == "rules[0].conditions[0].fact"),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|(f, _)| f == "rules[0].conditions[1].at_least"),
            "{errors:?}"
        );
    }

    #[test]
    fn the_rule_sets_team_priority_and_tags_unless_an_agent_pinned_the_team() {
        let mut s = demo_settings();
        s.rules[1].actions.priority = Some(Priority::High);
        let mut ticket = sample_ticket(t0());
        ticket.subject = "Charged twice".into();
        let f = TicketFacts::of(&ticket, &["my card was charged twice"], BTreeMap::new());
        let (rule, reason) = apply_rules(&s, &f, &mut ticket);
        assert_eq!(rule.unwrap().id, "billing");
        assert_eq!(ticket.team.as_ref().map(|t| t.as_str()), Some("finance"));
        assert_eq!(
            (ticket.priority, ticket.tags.clone()),
            (Priority::High, vec!["billing".to_owned()])
        );
        assert!(reason.contains("Billing"));
        // Applying again adds nothing twice.
        apply_rules(&s, &f, &mut ticket);
        assert_eq!(ticket.tags, ["billing"]);
        ticket.team = Some(TeamId::new("vip").unwrap());
        ticket.team_pinned = true;
        let (_, reason) = apply_rules(&s, &f, &mut ticket);
        assert_eq!(
            (ticket.team.as_ref().unwrap().as_str(), reason.as_str()),
            ("vip", "chosen by an agent")
        );
        let mut other = sample_ticket(t0());
        other.subject = "hello".into();
        let f = TicketFacts::of(&other, &[], BTreeMap::new());
        let (rule, _) = apply_rules(&s, &f, &mut other);
        assert_eq!((rule, other.team.unwrap().as_str()), (None, "support"));
    }

    #[test]
    fn validation_names_every_bad_field() {
        let mut s = demo_settings();
        s.rules.push(Rule {
            id: "Technical".into(),
            name: " ".into(),
            conditions: vec![Condition::Words { any: vec![] }],
            actions: RuleActions::default(),
        });
        s.rules.push(s.rules[0].clone());
        let errors = s.validate(|t| t.as_str() != "finance");
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "rules[1].actions.team",
                "rules[3].id",
                "rules[3].name",
                "rules[3].conditions[0].any",
                "rules[3].actions",
                "rules[4].id",
            ]
        );
        assert!(demo_settings().validate(|_| true).is_empty());
    }
}
