//! What the operator sees per object or shard batch (contract §6): the summary event, the
//! `✅ Successfully sent` line, and CloudWatch Embedded Metric Format lines.

use std::time::{SystemTime, UNIX_EPOCH};

use tracing::info;

use crate::core::summary::Summary;

/// One INFO event per object with every count.
pub fn log_summary(object: &impl std::fmt::Display, summary: &Summary) {
    info!(
        object = %object,
        lines = summary.lines,
        transactions = summary.transactions,
        skipped_static = summary.skipped_static,
        skipped_disabled = summary.skipped_disabled,
        no_distribution = summary.no_distribution,
        malformed = summary.malformed,
        batches = summary.batches,
        skipped_batches = summary.skipped_batches,
        retries = summary.retries,
        failed = summary.failed_batches,
        elapsed_ms = summary.elapsed.as_millis() as u64,
        "summary"
    );
}

/// The contract's success line, once per distribution delivered.
pub fn log_delivered(summary: &Summary) {
    for (distribution, count) in &summary.per_distribution {
        info!("✅ Successfully sent {count} transactions for CF Distribution {distribution}");
    }
}

/// Seconds between now and the newest record of the object, if known.
pub fn lag_seconds(summary: &Summary) -> Option<f64> {
    let newest_ms = summary.newest_record_ms?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    Some((now - newest_ms as f64 / 1000.0).max(0.0))
}

/// Namespace of our metrics (the Terraform alarms watch `FailedBatches` here).
pub const METRIC_NAMESPACE: &str = "CequenceCfPassive";

/// A CloudWatch Embedded Metric Format document for one object. Printed as
/// its own stdout line, CloudWatch turns it into metrics without log parsing.
pub fn emf_line(function_name: &str, summary: &Summary, now_ms: u128) -> String {
    let mut doc = serde_json::json!({
        "_aws": {
            "Timestamp": now_ms as u64,
            "CloudWatchMetrics": [{
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": [["FunctionName"]],
                "Metrics": [
                    {"Name": "TransactionsSent", "Unit": "Count"},
                    {"Name": "SkippedStatic", "Unit": "Count"},
                    {"Name": "SkippedDisabled", "Unit": "Count"},
                    {"Name": "Malformed", "Unit": "Count"},
                    {"Name": "Batches", "Unit": "Count"},
                    {"Name": "FailedBatches", "Unit": "Count"},
                    {"Name": "Retries", "Unit": "Count"},
                    {"Name": "LagSeconds", "Unit": "Seconds"}
                ]
            }]
        },
        "FunctionName": function_name,
        "TransactionsSent": summary
            .transactions
            .saturating_sub(summary.failed_transactions)
            .saturating_sub(summary.skipped_transactions),
        "SkippedStatic": summary.skipped_static,
        "SkippedDisabled": summary.skipped_disabled,
        "Malformed": summary.malformed,
        "Batches": summary.batches,
        "FailedBatches": summary.failed_batches,
        "Retries": summary.retries,
    });
    if let Some(lag) = lag_seconds(summary) {
        doc["LagSeconds"] = serde_json::json!(lag);
    } else if let Some(metrics) = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array_mut() {
        metrics.retain(|m| m["Name"] != "LagSeconds");
    }
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_declares_every_metric_it_carries() {
        let summary = Summary {
            transactions: 10,
            failed_transactions: 3,
            failed_batches: 1,
            skipped_static: 4,
            skipped_disabled: 2,
            batches: 3,
            newest_record_ms: Some(1_577_836_800_000),
            ..Summary::default()
        };
        let doc: serde_json::Value = serde_json::from_str(&emf_line("fn", &summary, 1)).unwrap();
        assert_eq!(doc["TransactionsSent"], 7);
        assert_eq!(doc["FailedBatches"], 1);
        assert_eq!(doc["SkippedDisabled"], 2);
        assert_eq!(doc["Batches"], 3);
        assert_eq!(doc["FunctionName"], "fn");
        assert!(doc["LagSeconds"].as_f64().unwrap() > 1e7);
        for metric in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
        {
            let name = metric["Name"].as_str().unwrap();
            assert!(doc.get(name).is_some(), "{name} declared but missing");
        }
        let no_time = emf_line("fn", &Summary::default(), 1);
        assert!(!no_time.contains("LagSeconds"));
    }
}
