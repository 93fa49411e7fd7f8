//! Metrics in CloudWatch's embedded metric format: one JSON line on stdout that Lambda's
//! log pipeline turns into a metric (namespace `Baton`, dimension `Function`), with no
//! API call on the request path.

/// Counts `value` of `metric` for `function`.
pub fn count(function: &str, metric: &str, value: u64) {
    println!("{}", emf_line(function, metric, value, now_ms()));
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn emf_line(function: &str, metric: &str, value: u64, at_ms: u128) -> String {
    let mut line = serde_json::json!({
        "_aws": {
            "Timestamp": at_ms as u64,
            "CloudWatchMetrics": [{
                "Namespace": "Baton",
                "Dimensions": [["Function"]],
                "Metrics": [{ "Name": metric, "Unit": "Count" }]
            }]
        },
        "Function": function,
    });
    line[metric] = value.into();
    line.to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_line_is_embedded_metric_format() {
        let line: serde_json::Value = serde_json::from_str(&super::emf_line("triage", "ParkedRecords", 1, 5)).unwrap();
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "ParkedRecords"
        );
        assert_eq!(line["_aws"]["Timestamp"], 5);
        assert_eq!(line["ParkedRecords"], 1);
        assert_eq!(line["Function"], "triage");
    }
}
