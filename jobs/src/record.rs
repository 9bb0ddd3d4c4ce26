//! The run record: what one run of a job did, stored in the catalog and printed by `sluice runs`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::plan::JobPlan;
use crate::quality::RuleResult;

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Reading, transforming, staging output.
    Running,
    /// Committing sinks: the output may be partly visible until the run finishes or is recovered.
    Committing,
    /// Output committed, catalog updated, bookmarks advanced.
    Succeeded,
    /// Failed; nothing of this run is visible.
    Failed,
    /// Ran out of time; nothing of this run is visible.
    Timeout,
}

impl RunStatus {
    /// The lower-case name stored in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Committing => "committing",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Timeout => "timeout",
        }
    }

    /// The status of a stored run, `None` when the catalog holds a word this version does not know.
    pub fn of(row: &sluice_catalog::RunRow) -> Option<Self> {
        row.status.parse().ok()
    }

    /// Running or committing: a run in this state whose process is gone needs settling.
    pub fn unfinished(self) -> bool {
        matches!(self, Self::Running | Self::Committing)
    }
}

impl std::str::FromStr for RunStatus {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        [
            Self::Running,
            Self::Committing,
            Self::Succeeded,
            Self::Failed,
            Self::Timeout,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| format!("`{text}` is not a run status"))
    }
}

/// One attempt of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    /// 1 for the first.
    pub number: u32,
    /// RFC 3339 start.
    pub started_at: String,
    /// Seconds it took.
    pub seconds: f64,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// Whether that failure was worth retrying.
    pub transient: bool,
    /// Seconds waited before this attempt, per the backoff (0 for the first).
    pub waited_seconds: f64,
    /// The wait the backoff formula gave before jitter.
    pub nominal_wait_seconds: f64,
}

/// What a run read from one source.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SourceRecord {
    /// The source name.
    pub name: String,
    /// Catalog table or location.
    pub from: String,
    /// Whether it is read incrementally.
    pub bookmark: bool,
    /// Files at the source when the run listed it.
    pub files_total: usize,
    /// Files this run read (new files only, for a bookmarked source).
    pub files_read: usize,
    /// Bytes of the files read.
    pub bytes_read: u64,
    /// Rows the scans of this source produced, the most any one sink read (Parquet row-group and
    /// page pruning may make it lower than the rows in the files).
    pub rows_read: u64,
    /// Hive partitions among the files read.
    pub partitions_read: usize,
    /// The bad-records policy the source was read with (`fail` when none was set).
    #[serde(default)]
    pub on_bad_records: String,
    /// Bad records left out (skip).
    #[serde(default)]
    pub records_skipped: u64,
    /// Bad records left out and written to the quarantine.
    #[serde(default)]
    pub records_quarantined: u64,
    /// The quarantine file this run wrote for the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quarantine_file: Option<String>,
}

/// What a run wrote through one sink.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SinkRecord {
    /// The step written.
    pub from: String,
    /// The destination.
    pub path: String,
    /// The write mode.
    pub mode: String,
    /// The Delta version the write committed as (0 is the first).
    pub commit: u64,
    /// Rows written.
    pub rows: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Files written.
    pub files: usize,
    /// Partition folders written, e.g. `order_date=2026-11-01`.
    pub partitions: Vec<String>,
    /// Files an overwrite replaced.
    pub replaced_files: usize,
    /// The catalog table updated, if any.
    pub table: Option<String>,
    /// What the catalog update did (`created`, `updated: ...`, `unchanged`).
    pub table_change: Option<String>,
}

/// Everything about one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run id (also in output file names and Delta commits).
    pub run_id: String,
    /// The job name.
    pub job: String,
    /// The job file.
    pub job_file: String,
    /// Params after substitution.
    pub params: BTreeMap<String, String>,
    /// Where the run is.
    pub status: RunStatus,
    /// RFC 3339 start.
    pub started_at: String,
    /// RFC 3339 end.
    pub ended_at: Option<String>,
    /// Seconds from start to end.
    pub seconds: f64,
    /// Every attempt, with its error and the wait before it.
    pub attempts: Vec<Attempt>,
    /// Per source.
    pub sources: Vec<SourceRecord>,
    /// Per sink.
    pub sinks: Vec<SinkRecord>,
    /// Per quality rule.
    pub quality: Vec<RuleResult>,
    /// Rows written over all sinks.
    pub rows_written: u64,
    /// Bytes read over all sources.
    pub bytes_read: u64,
    /// Bytes written over all sinks.
    pub bytes_written: u64,
    /// Why the run failed.
    pub error: Option<String>,
    /// Input files to remember once the run commits (kept while committing, for recovery).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_bookmarks: Vec<PendingFile>,
    /// Sink destinations (resolved) while committing, for settling a crashed run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending_sinks: Vec<String>,
    /// A run that took over the lock of a crashed run names it here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<String>,
    /// The workflow run that started this run, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_run_id: Option<String>,
}

/// The figures of a stored run, job or workflow, as listings show them (a figure a record lacks is
/// zero or empty).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RunSummary {
    /// Seconds from start to end.
    pub seconds: f64,
    /// Attempts made.
    #[serde(deserialize_with = "count")]
    pub attempts: u64,
    /// Rows written over all sinks.
    pub rows_written: u64,
    /// Bytes read over all sources.
    pub bytes_read: u64,
    /// Bytes written over all sinks.
    pub bytes_written: u64,
    /// Why the run failed.
    pub error: Option<String>,
}

impl RunSummary {
    /// The summary of a stored run.
    pub fn of(row: &sluice_catalog::RunRow) -> Self {
        Self::deserialize(&row.record).unwrap_or_default()
    }
}

fn count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let items = Vec::<serde::de::IgnoredAny>::deserialize(d)?;
    Ok(items.len() as u64)
}

impl RunRecord {
    /// The record of a run of `job` that starts now.
    pub fn start(job: &JobPlan, run_id: &str, recovered: Option<String>, workflow_run: Option<&str>) -> Self {
        Self {
            run_id: run_id.to_string(),
            job: job.name().to_string(),
            job_file: job.path.clone(),
            params: job.params.clone(),
            status: RunStatus::Running,
            started_at: chrono::Utc::now().to_rfc3339(),
            ended_at: None,
            seconds: 0.0,
            attempts: Vec::new(),
            sources: Vec::new(),
            sinks: Vec::new(),
            quality: Vec::new(),
            rows_written: 0,
            bytes_read: 0,
            bytes_written: 0,
            error: None,
            pending_bookmarks: Vec::new(),
            pending_sinks: Vec::new(),
            recovered,
            workflow_run_id: workflow_run.map(str::to_string),
        }
    }
}

/// An input file a bookmarked source read, remembered when the run commits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct PendingFile {
    /// The source name.
    pub source: String,
    /// Full path or URL.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modified, RFC 3339.
    pub last_modified: String,
}
