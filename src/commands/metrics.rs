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

/// Every metric once, in the order each was first added, with its samples.
#[derive(Default)]
struct Metrics(Vec<Metric>);

impl Metrics {
    /// Adds a sample to metric `name`, which is created (with `help`) on its first sample.
    fn add(&mut self, name: &'static str, help: &'static str, labels: String, value: f64) {
        match self.0.iter_mut().find(|m| m.name == name) {
            Some(m) => m.samples.push((labels, value)),
            None => self.0.push(Metric {
                name,
                help,
                samples: vec![(labels, value)],
            }),
        }
    }

    /// The Prometheus text format: `# HELP`, `# TYPE` and the samples of each metric.
    fn into_text(self) -> String {
        let mut out = String::new();
        for m in self.0 {
            let _ = writeln!(out, "# HELP sluice_job_{} {}", m.name, m.help);
            let _ = writeln!(out, "# TYPE sluice_job_{} gauge", m.name);
            for (labels, value) in m.samples {
                let _ = writeln!(out, "sluice_job_{}{{{labels}}} {value}", m.name);
            }
        }
        out
    }
}

/// The metrics text for the runs in `records` (one job run, or every job run of a workflow run),
/// each metric once with a sample per job.
pub fn render(records: &[&RunRecord], catalog: &Catalog) -> anyhow::Result<String> {
    let mut metrics = Metrics::default();
    for record in records {
        let job = format!("job=\"{}\"", label(&record.job));
        if let Some(t) = last_success(catalog, &record.job)? {
            metrics.add(
                "last_success_timestamp_seconds",
                "End of the last successful run.",
                job.clone(),
                t,
            );
        }
        add_times(&mut metrics, &job, record);
        add_outcome(&mut metrics, &job, record);
        add_volumes(&mut metrics, &job, record);
        add_quality(&mut metrics, &job, record);
        add_status(&mut metrics, &job, record);
    }
    Ok(metrics.into_text())
}

/// When `job` last succeeded (epoch seconds), from the catalog's run history.
fn last_success(catalog: &Catalog, job: &str) -> anyhow::Result<Option<f64>> {
    Ok(catalog
        .runs(Some(job), 1000)?
        .into_iter()
        .find(|r| RunStatus::of(r) == Some(RunStatus::Succeeded))
        .and_then(|r| r.ended_at.as_deref().and_then(epoch)))
}

/// When the run ended and how long it took.
fn add_times(metrics: &mut Metrics, job: &str, record: &RunRecord) {
    if let Some(t) = record.ended_at.as_deref().and_then(epoch) {
        metrics.add(
            "last_run_timestamp_seconds",
            "End of the last run.",
            job.to_string(),
            t,
        );
    }
    metrics.add(
        "last_run_duration_seconds",
        "Wall time of the last run.",
        job.to_string(),
        record.seconds,
    );
}

/// Whether the run succeeded and in how many attempts.
fn add_outcome(metrics: &mut Metrics, job: &str, record: &RunRecord) {
    metrics.add(
        "last_run_success",
        "1 when the last run succeeded, else 0.",
        job.to_string(),
        f64::from(u8::from(record.status == RunStatus::Succeeded)),
    );
    metrics.add(
        "last_run_attempts",
        "Attempts the last run took.",
        job.to_string(),
        record.attempts.len() as f64,
    );
}

/// Rows and bytes read and written, and the bad records met on the way.
fn add_volumes(metrics: &mut Metrics, job: &str, record: &RunRecord) {
    let rows_read: u64 = record.sources.iter().map(|s| s.rows_read).sum();
    let bad: u64 = record
        .sources
        .iter()
        .map(|s| s.records_skipped + s.records_quarantined)
        .sum();
    for (name, help, value) in [
        (
            "last_run_rows_read",
            "Rows the last run's sources produced.",
            rows_read,
        ),
        (
            "last_run_bytes_read",
            "Bytes of the files the last run read.",
            record.bytes_read,
        ),
        (
            "last_run_rows_written",
            "Rows the last run committed.",
            record.rows_written,
        ),
        (
            "last_run_bytes_written",
            "Bytes the last run committed.",
            record.bytes_written,
        ),
        (
            "last_run_bad_records",
            "Bad records the last run skipped or quarantined.",
            bad,
        ),
    ] {
        metrics.add(name, help, job.to_string(), value as f64);
    }
}

/// How many quality rules failed.
fn add_quality(metrics: &mut Metrics, job: &str, record: &RunRecord) {
    let failed_rules = record.quality.iter().filter(|r| !r.passed).count();
    metrics.add(
        "last_run_quality_failures",
        "Quality rules that did not hold.",
        job.to_string(),
        failed_rules as f64,
    );
}

/// One sample per status, 1 for the status the run ended with.
fn add_status(metrics: &mut Metrics, job: &str, record: &RunRecord) {
    for status in [RunStatus::Succeeded, RunStatus::Failed, RunStatus::Timeout] {
        metrics.add(
            "last_run_status",
            "The last run's status (1 for the one it had).",
            format!("{job},status=\"{}\"", status.as_str()),
            f64::from(u8::from(record.status == status)),
        );
    }
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
