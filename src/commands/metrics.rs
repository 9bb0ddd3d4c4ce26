//! Prometheus text-format metrics of a job run, for node_exporter's textfile collector.
//!
//! The file is replaced atomically (written beside, then renamed), so the collector never reads half
//! of it. The last-success time comes from the catalog, so a failed run keeps reporting when the job
//! last succeeded.

use std::fmt::Write as _;
use std::path::Path;

use sluice_catalog::Catalog;
use sluice_jobs::{RunRecord, RunStatus};

/// Prometheus label value escaping: backslash, double quote and newline.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Epoch seconds of an RFC 3339 time.
fn epoch(time: &str) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.timestamp_millis() as f64 / 1000.0)
}

/// One metric: its name (after `sluice_job_`), help text and samples (labels, value).
struct Metric {
    name: &'static str,
    help: &'static str,
    samples: Vec<(String, f64)>,
}

/// The metrics text for the runs in `records` (one job run, or every job run of a workflow run),
/// each metric once with a sample per job.
pub fn render(records: &[&RunRecord], catalog: &Catalog) -> anyhow::Result<String> {
    let mut metrics: Vec<Metric> = Vec::new();
    let mut add = |name: &'static str, help: &'static str, labels: String, value: f64| match metrics
        .iter_mut()
        .find(|m| m.name == name)
    {
        Some(m) => m.samples.push((labels, value)),
        None => metrics.push(Metric {
            name,
            help,
            samples: vec![(labels, value)],
        }),
    };
    for record in records {
        let job = format!("job=\"{}\"", label(&record.job));
        let last_success = catalog
            .runs(Some(&record.job), 1000)?
            .into_iter()
            .find(|r| r.status == "succeeded")
            .and_then(|r| r.ended_at.as_deref().and_then(epoch));
        if let Some(t) = last_success {
            add(
                "last_success_timestamp_seconds",
                "End of the last successful run.",
                job.clone(),
                t,
            );
        }
        if let Some(t) = record.ended_at.as_deref().and_then(epoch) {
            add(
                "last_run_timestamp_seconds",
                "End of the last run.",
                job.clone(),
                t,
            );
        }
        add(
            "last_run_duration_seconds",
            "Wall time of the last run.",
            job.clone(),
            record.seconds,
        );
        add(
            "last_run_success",
            "1 when the last run succeeded, else 0.",
            job.clone(),
            f64::from(u8::from(record.status == RunStatus::Succeeded)),
        );
        add(
            "last_run_attempts",
            "Attempts the last run took.",
            job.clone(),
            record.attempts.len() as f64,
        );
        let rows_read: u64 = record.sources.iter().map(|s| s.rows_read).sum();
        add(
            "last_run_rows_read",
            "Rows the last run's sources produced.",
            job.clone(),
            rows_read as f64,
        );
        add(
            "last_run_bytes_read",
            "Bytes of the files the last run read.",
            job.clone(),
            record.bytes_read as f64,
        );
        add(
            "last_run_rows_written",
            "Rows the last run committed.",
            job.clone(),
            record.rows_written as f64,
        );
        add(
            "last_run_bytes_written",
            "Bytes the last run committed.",
            job.clone(),
            record.bytes_written as f64,
        );
        let bad: u64 = record
            .sources
            .iter()
            .map(|s| s.records_skipped + s.records_quarantined)
            .sum();
        add(
            "last_run_bad_records",
            "Bad records the last run skipped or quarantined.",
            job.clone(),
            bad as f64,
        );
        let failed_rules = record.quality.iter().filter(|r| !r.passed).count();
        add(
            "last_run_quality_failures",
            "Quality rules that did not hold.",
            job.clone(),
            failed_rules as f64,
        );
        for status in [RunStatus::Succeeded, RunStatus::Failed, RunStatus::Timeout] {
            add(
                "last_run_status",
                "The last run's status (1 for the one it had).",
                format!("{job},status=\"{}\"", status.as_str()),
                f64::from(u8::from(record.status == status)),
            );
        }
    }
    let mut out = String::new();
    for m in metrics {
        let _ = writeln!(out, "# HELP sluice_job_{} {}", m.name, m.help);
        let _ = writeln!(out, "# TYPE sluice_job_{} gauge", m.name);
        for (labels, value) in m.samples {
            let _ = writeln!(out, "sluice_job_{}{{{labels}}} {value}", m.name);
        }
    }
    Ok(out)
}

/// Writes the metrics to `path` atomically.
pub fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "metrics.prom".into());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text).map_err(|e| anyhow::anyhow!("cannot write `{}`: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| anyhow::anyhow!("cannot replace `{}`: {e}", path.display()))?;
    Ok(())
}
