//! Reports over the daily aggregates (`docs/analytics.md` defines every metric): a range
//! of tenant-local days is summed per slice (the whole tenant, a channel, a team, an
//! agent) into the AI report and the team-performance report, and either can be written
//! as CSV with the same numbers, its last row the total.
//!
//! A report reads one aggregate item per day and slice, whatever the tenant's volume.

use crate::analytics::{percentile, DailyAggregate};
use crate::sla::Target;
use serde::Serialize;
use std::collections::BTreeMap;

/// The longest range one report covers.
pub const MAX_DAYS: i64 = 366;
/// The range a report covers when none is asked for: the last 30 days, today included.
pub const DEFAULT_DAYS: i64 = 30;

/// A range of tenant-local days, both ends included (`YYYY-MM-DD`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayRange {
    pub from: String,
    pub to: String,
}

impl DayRange {
    /// The asked range (`from`, `to`; either may be absent) around the tenant's `today`.
    pub fn asked(from: Option<&str>, to: Option<&str>, today: &str) -> Result<DayRange, String> {
        let date = |name: &str, v: &str| {
            v.parse::<jiff::civil::Date>()
                .map_err(|_| format!("`{name}` must be a date (YYYY-MM-DD), not {v:?}"))
        };
        let today = date("today", today)?;
        let to = to.map(|v| date("to", v)).transpose()?.unwrap_or(today);
        let from = match from {
            Some(v) => date("from", v)?,
            None => to
                .checked_sub(jiff::Span::new().days(DEFAULT_DAYS - 1))
                .map_err(|e| e.to_string())?,
        };
        if from > to {
            return Err("`from` is after `to`".into());
        }
        let days = i64::from(from.until(to).map_err(|e| e.to_string())?.get_days()) + 1;
        if days > MAX_DAYS {
            return Err(format!("a report covers at most {MAX_DAYS} days"));
        }
        Ok(DayRange {
            from: from.to_string(),
            to: to.to_string(),
        })
    }
}

/// Days summed: counters added, histograms merged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sum {
    pub counters: BTreeMap<String, i64>,
    pub histograms: BTreeMap<String, BTreeMap<i64, i64>>,
}

impl Sum {
    pub fn of(days: &[DailyAggregate]) -> Sum {
        let mut sum = Sum::default();
        for day in days {
            for (name, v) in &day.counters {
                *sum.counters.entry(name.clone()).or_default() += v;
            }
            for (metric, buckets) in &day.histograms {
                let h = sum.histograms.entry(metric.clone()).or_default();
                for (b, n) in buckets {
                    *h.entry(*b).or_default() += n;
                }
            }
        }
        sum
    }

    pub fn count(&self, name: &str) -> i64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    /// The counters named `prefix:<rest>`, by `rest`.
    fn by_prefix(&self, prefix: &str) -> BTreeMap<String, i64> {
        self.counters
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.strip_prefix(':')?.to_owned(), *v)))
            .collect()
    }

    fn duration(&self, metric: &str) -> Durations {
        let empty = BTreeMap::new();
        let h = self.histograms.get(metric).unwrap_or(&empty);
        let count: i64 = h.values().sum();
        Durations {
            count,
            mean_secs: (count > 0).then(|| self.count(&format!("sum:{metric}")) / count),
            median_secs: percentile(h, 0.5),
            p90_secs: percentile(h, 0.9),
        }
    }
}

/// `part / whole`, to four decimals; `None` when there is no whole.
fn rate(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0)
}

/// A duration metric over the range: the mean is exact, the median and 90th percentile
/// are read from the histogram (two significant figures, rounded down).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Durations {
    pub count: i64,
    pub mean_secs: Option<i64>,
    pub median_secs: Option<i64>,
    pub p90_secs: Option<i64>,
}

/// Survey answers for resolutions in the range (a changed answer counts once, as it
/// stands now).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Csat {
    pub responses: i64,
    /// Mean rating, 1 to 5, to two decimals.
    pub average: Option<f64>,
    /// Ratings of 4 or 5.
    pub satisfied: i64,
    /// `satisfied / responses`: the CSAT score.
    pub score: Option<f64>,
}

impl Csat {
    /// The answers about resolutions by `by` (`ai` or `human`).
    fn of(s: &Sum, by: &str) -> Csat {
        let responses = s.count(&format!("csat_responses:{by}"));
        let satisfied = s.count(&format!("csat_satisfied:{by}"));
        Csat {
            responses,
            average: (responses > 0)
                .then(|| (s.count(&format!("csat_rating:{by}")) as f64 / responses as f64 * 100.0).round() / 100.0),
            satisfied,
            score: rate(satisfied, responses),
        }
    }
}

/// The AI report's numbers for one slice.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AiRow {
    /// `all`, `channel:<channel>`.
    pub slice: String,
    /// Conversations started (their first customer message).
    pub conversations: i64,
    pub customer_messages: i64,
    /// Conversations the AI answered at least once.
    pub ai_conversations: i64,
    /// `ai_conversations / conversations`.
    pub involvement_rate: Option<f64>,
    pub ai_answers: i64,
    pub answers_from_kb: i64,
    pub answers_from_shop: i64,
    pub clarifying_questions: i64,
    /// Answers (from the knowledge base or the shop) that counted as a resolution when
    /// given.
    pub assumed_resolutions: i64,
    /// Of those, the ones the customer came back after within the window.
    pub clawed_back: i64,
    /// Answers the customer thanked for (positive feedback): resolutions confirmed, not
    /// only assumed.
    pub confirmed_resolutions: i64,
    /// `assumed_resolutions - clawed_back`.
    pub ai_resolutions: i64,
    /// `ai_resolutions / ai_conversations`.
    pub ai_resolution_rate: Option<f64>,
    pub handoffs: i64,
    /// `handoffs / conversations`.
    pub handoff_rate: Option<f64>,
    /// Handoffs by reason code.
    pub handoff_reasons: BTreeMap<String, i64>,
    /// Questions put to the knowledge base (answered from it, or not).
    pub questions: i64,
    /// Of those, the ones it could not answer (`docs/analytics.md`, "Knowledge gaps").
    pub knowledge_gaps: i64,
    /// `knowledge_gaps / questions`.
    pub knowledge_gap_rate: Option<f64>,
    /// Knowledge gaps by handoff reason code.
    pub knowledge_gap_reasons: BTreeMap<String, i64>,
    /// Surveys about what the AI resolved, kept apart from the human CSAT.
    pub answer_csat: Csat,
    /// Surveys about what people resolved, for comparison.
    pub human_csat: Csat,
}

impl AiRow {
    pub fn of(slice: &str, s: &Sum) -> AiRow {
        let conversations = s.count("conversations");
        let ai_conversations = s.count("ai_conversations");
        let assumed = s.count("ai_answers:kb") + s.count("ai_answers:shop");
        let clawed_back = s.count("ai_clawed_back");
        let resolutions = (assumed - clawed_back).max(0);
        AiRow {
            slice: slice.to_owned(),
            conversations,
            customer_messages: s.count("customer_messages"),
            ai_conversations,
            involvement_rate: rate(ai_conversations, conversations),
            ai_answers: s.count("ai_answers"),
            answers_from_kb: s.count("ai_answers:kb"),
            answers_from_shop: s.count("ai_answers:shop"),
            clarifying_questions: s.count("ai_answers:clarify"),
            assumed_resolutions: assumed,
            clawed_back,
            confirmed_resolutions: s.count("ai_confirmed"),
            ai_resolutions: resolutions,
            ai_resolution_rate: rate(resolutions, ai_conversations),
            handoffs: s.count("handoffs"),
            handoff_rate: rate(s.count("handoffs"), conversations),
            handoff_reasons: s.by_prefix("handoff"),
            questions: s.count("questions"),
            knowledge_gaps: s.count("knowledge_gaps"),
            knowledge_gap_rate: rate(s.count("knowledge_gaps"), s.count("questions")),
            knowledge_gap_reasons: s.by_prefix("knowledge_gap"),
            answer_csat: Csat::of(s, "ai"),
            human_csat: Csat::of(s, "human"),
        }
    }
}

/// One SLA target's attainment.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SlaAttainment {
    /// Completed before their due time.
    pub on_time: i64,
    /// Passed their due time (completed late or not yet).
    pub breached: i64,
    /// `on_time / (on_time + breached)`.
    pub attainment: Option<f64>,
}

/// The team-performance report's numbers for one slice.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TeamRow {
    /// `all`, `channel:<channel>`, `team:<id>`, `agent:<id>`.
    pub slice: String,
    pub tickets_created: i64,
    pub assignments: i64,
    pub human_replies: i64,
    /// From the handoff or the reopen to the cycle's first public human reply.
    pub first_response: Durations,
    pub first_response_business: Durations,
    /// Tickets resolved (handled), each resolution of a reopened ticket again.
    pub resolved: i64,
    /// From the handoff or the reopen to the resolution.
    pub resolution: Durations,
    pub resolution_business: Durations,
    pub reopened: i64,
    /// `reopened / resolved`.
    pub reopen_rate: Option<f64>,
    pub closed: i64,
    /// By target: `first_response`, `next_response`, `resolution`.
    pub sla: BTreeMap<String, SlaAttainment>,
    /// Surveys about the slice's resolutions (by the agent who resolved, their team).
    pub csat: Csat,
}

impl TeamRow {
    pub fn of(slice: &str, s: &Sum) -> TeamRow {
        let resolved = s.count("resolved");
        let sla = Target::ALL
            .iter()
            .map(|t| {
                let name = t.as_str();
                let on_time = s.count(&format!("sla_on_time:{name}"));
                let breached = s.count(&format!("sla_breached:{name}"));
                (
                    name.to_owned(),
                    SlaAttainment {
                        on_time,
                        breached,
                        attainment: rate(on_time, on_time + breached),
                    },
                )
            })
            .collect();
        TeamRow {
            slice: slice.to_owned(),
            tickets_created: s.count("tickets_created"),
            assignments: s.count("assignments"),
            human_replies: s.count("human_replies"),
            first_response: s.duration("frt"),
            first_response_business: s.duration("frt_business"),
            resolved,
            resolution: s.duration("resolution"),
            resolution_business: s.duration("resolution_business"),
            reopened: s.count("reopened"),
            reopen_rate: rate(s.count("reopened"), resolved),
            closed: s.count("closed"),
            sla,
            csat: Csat::of(s, "human"),
        }
    }
}

/// Rows as CSV: the slice, then one column per field (nested fields joined with `.`:
/// `sla.resolution.on_time`, `handoff_reasons.customer_request`) in name order, fields
/// only some rows have after the others; absent values empty.
pub fn csv<T: Serialize>(rows: &[T]) -> String {
    let flat: Vec<Vec<(String, String)>> = rows
        .iter()
        .map(|r| {
            let mut cells = Vec::new();
            flatten("", &serde_json::to_value(r).unwrap_or_default(), &mut cells);
            cells
        })
        .collect();
    let mut columns: Vec<String> = Vec::new();
    for row in &flat {
        for (k, _) in row {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    // Fields come in name order; the slice names the row, so it goes first.
    columns.sort_by_key(|c| c != "slice");
    let mut out = String::new();
    let line = |cells: Vec<String>| cells.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(",") + "\r\n";
    out.push_str(&line(columns.clone()));
    for row in &flat {
        let cells = columns
            .iter()
            .map(|c| {
                row.iter()
                    .find(|(k, _)| k == c)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            })
            .collect();
        out.push_str(&line(cells));
    }
    out
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    use serde_json::Value;
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&key(k), v, out);
            }
        }
        Value::Null => out.push((prefix.to_owned(), String::new())),
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

/// A CSV cell (RFC 4180), with a leading `=`, `+`, `-` or `@` in text defused so a
/// spreadsheet does not run it as a formula.
fn csv_cell(c: &str) -> String {
    let numeric = c.parse::<f64>().is_ok();
    let c = if !numeric && c.starts_with(['=', '+', '-', '@']) {
        format!("'{c}")
    } else {
        c.to_owned()
    };
    if c.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", c.replace('"', "\"\""))
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: &str, counters: &[(&str, i64)], hist: &[(&str, i64, i64)]) -> DailyAggregate {
        let mut a = DailyAggregate {
            day: d.into(),
            slice: "all".into(),
            ..Default::default()
        };
        for (k, v) in counters {
            a.counters.insert((*k).into(), *v);
        }
        for (m, b, n) in hist {
            a.histograms.entry((*m).into()).or_default().insert(*b, *n);
        }
        a
    }

    #[test]
    fn ranges_default_to_thirty_days_and_refuse_what_makes_no_sense() {
        assert_eq!(
            DayRange::asked(None, None, "2026-12-04").unwrap(),
            DayRange {
                from: "2026-11-05".into(),
                to: "2026-12-04".into()
            }
        );
        assert_eq!(
            DayRange::asked(Some("2026-12-01"), Some("2026-12-01"), "2026-12-04")
                .unwrap()
                .from,
            "2026-12-01"
        );
        assert!(DayRange::asked(Some("2026-12-05"), Some("2026-12-01"), "2026-12-04").is_err());
        assert!(DayRange::asked(Some("2025-01-01"), Some("2026-12-01"), "2026-12-04").is_err());
        assert!(DayRange::asked(Some("yesterday"), None, "2026-12-04").is_err());
    }

    #[test]
    fn days_sum_into_rows_with_rates_means_and_percentiles() {
        let days = [
            day(
                "2026-12-03",
                &[
                    ("conversations", 3),
                    ("ai_conversations", 2),
                    ("ai_answers:kb", 2),
                    ("ai_answers:clarify", 1),
                    ("ai_clawed_back", 1),
                    ("handoffs", 1),
                    ("handoff:customer_request", 1),
                    ("resolved", 2),
                    ("reopened", 1),
                    ("sum:resolution", 3000),
                    ("sla_on_time:first_response", 3),
                    ("sla_breached:first_response", 1),
                ],
                &[("resolution", 1000, 1), ("resolution", 2000, 1)],
            ),
            day("2026-12-04", &[("conversations", 1)], &[]),
        ];
        let s = Sum::of(&days);
        let ai = AiRow::of("all", &s);
        assert_eq!((ai.conversations, ai.assumed_resolutions, ai.ai_resolutions), (4, 2, 1));
        assert_eq!(ai.ai_resolution_rate, Some(0.5));
        assert_eq!(ai.involvement_rate, Some(0.5));
        assert_eq!(ai.handoff_reasons, BTreeMap::from([("customer_request".into(), 1)]));
        let team = TeamRow::of("all", &s);
        assert_eq!(team.resolution.mean_secs, Some(1500));
        assert_eq!(team.resolution.median_secs, Some(1000));
        assert_eq!(team.resolution.p90_secs, Some(2000));
        assert_eq!(team.reopen_rate, Some(0.5));
        assert_eq!(team.sla["first_response"].attainment, Some(0.75));
        assert_eq!(team.sla["resolution"].attainment, None);
        assert_eq!(team.first_response.count, 0);
    }

    #[test]
    fn csv_has_a_column_per_field_and_defuses_formulas() {
        let rows = [
            AiRow::of("=cmd|' /C calc'!A0", &Sum::default()),
            AiRow::of("all", &Sum::of(&[day("d", &[("handoff:low_confidence", 2)], &[])])),
        ];
        let text = csv(&rows);
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        assert!(header.starts_with("slice,ai_answers,ai_conversations,"), "{header}");
        assert!(header.ends_with(",handoff_reasons.low_confidence"), "{header}");
        assert!(lines.next().unwrap().starts_with("'=cmd|' /C calc'!A0,0,"));
        let last = lines.next().unwrap();
        assert!(last.starts_with("all,0,") && last.ends_with(",2"), "{last}");
    }
}
