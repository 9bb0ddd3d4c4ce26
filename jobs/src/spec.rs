//! The job file as written: TOML with sources, steps, sinks, quality rules, retry and params.
//!
//! Deserializing denies unknown keys, so a typo or a wrong type is reported with its key, line and
//! column. Everything TOML cannot check (names, references, modes, sizes) is checked once, by
//! [`crate::plan`], which turns a [`JobSpec`] into a [`crate::JobPlan`].

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use crate::error::{JobError, Result};

/// A parsed job file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// The job's name: runs, bookmarks and the lock are kept under it.
    pub name: Spanned<String>,
    /// Free text shown in `--dry-run`.
    #[serde(default)]
    pub description: Option<String>,
    /// Parameters substituted as `${name}`; `--param k=v` overrides them.
    #[serde(default)]
    pub params: BTreeMap<String, Spanned<toml::Value>>,
    /// Inputs by name.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceSpec>,
    /// Transformations, each over sources and earlier steps.
    #[serde(default)]
    pub steps: Vec<StepSpec>,
    /// Outputs.
    #[serde(default)]
    pub sinks: Vec<SinkSpec>,
    /// Rules checked before anything commits.
    #[serde(default)]
    pub quality: Vec<QualitySpec>,
    /// Retries of the whole run on transient faults.
    #[serde(default)]
    pub retry: RetrySpec,
    /// Longest a run may take, e.g. `"2h"`; nothing commits after it.
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    /// Run the job's queries on this Ballista cluster (`df://HOST:PORT`); `--cluster` overrides it.
    #[serde(default)]
    pub cluster: Option<Spanned<String>>,
    /// What to call when a run succeeds.
    #[serde(default)]
    pub on_success: Option<HookSpec>,
    /// What to call when a run fails or times out.
    #[serde(default)]
    pub on_failure: Option<HookSpec>,
}

/// `[on_success]` / `[on_failure]`: a shell command (the run record as JSON on its stdin) and/or a
/// webhook (the record POSTed as JSON).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookSpec {
    /// Run through `sh -c`; `SLUICE_JOB`, `SLUICE_RUN_ID` and `SLUICE_STATUS` are set.
    #[serde(default)]
    pub command: Option<Spanned<String>>,
    /// An http(s) URL to POST the record to.
    #[serde(default)]
    pub webhook: Option<Spanned<String>>,
    /// Longest a hook may take (default `"30s"`); it is then stopped and logged as failed.
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
}

/// An input: a catalog table or a path/URL.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// `db.table` in the catalog.
    #[serde(default)]
    pub table: Option<Spanned<String>>,
    /// A folder, prefix, file or URL.
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    /// `csv`, `tsv`, `json` or `parquet` (default: from file extensions).
    #[serde(default)]
    pub format: Option<Spanned<String>>,
    /// CSV field delimiter (one character, or `\t`).
    #[serde(default)]
    pub delimiter: Option<Spanned<String>>,
    /// Whether CSV files start with a header row (default true).
    #[serde(default)]
    pub header: Option<bool>,
    /// CSV quote character (default `"`).
    #[serde(default)]
    pub quote: Option<Spanned<String>>,
    /// CSV escape character inside quoted fields (default: quotes are doubled).
    #[serde(default)]
    pub escape: Option<Spanned<String>>,
    /// CSV comment character: lines starting with it are skipped.
    #[serde(default)]
    pub comment: Option<Spanned<String>>,
    /// Files to leave out, in Glue's glob grammar relative to the source folder.
    #[serde(default)]
    pub exclude: Vec<Spanned<String>>,
    /// Read only files no earlier successful run of this job read.
    #[serde(default)]
    pub bookmark: bool,
    /// With `bookmark`, read at most this many new files per run (oldest first).
    #[serde(default)]
    pub max_files: Option<usize>,
    /// A missing or empty location is not an error: the source is left out (transforms such as
    /// `scd2` treat it as empty; SQL naming it fails).
    #[serde(default)]
    pub optional: bool,
    /// CSV/NDJSON records that do not parse: `fail` (default), `skip` or `quarantine`.
    #[serde(default)]
    pub on_bad_records: Option<Spanned<String>>,
    /// With skip or quarantine, fail anyway beyond this many (`100`) or this share (`"1%"`).
    #[serde(default)]
    pub max_bad_records: Option<Spanned<toml::Value>>,
    /// Where `quarantine` writes the bad records (NDJSON, one file per run and source).
    #[serde(default)]
    pub quarantine: Option<Spanned<String>>,
}

/// A transformation.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// The name later steps, sinks and rules use.
    pub name: Spanned<String>,
    /// A SQL query over sources, earlier steps and catalog tables.
    #[serde(default)]
    pub sql: Option<Spanned<String>>,
    /// A transform registered in Rust.
    #[serde(default)]
    pub rust: Option<Spanned<String>>,
    /// Arguments of the Rust transform.
    #[serde(default)]
    pub args: toml::Table,
    /// Compute the step once and keep it in memory for every consumer.
    #[serde(default)]
    pub cache: bool,
}

/// An output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkSpec {
    /// The step (or source) to write.
    pub from: Spanned<String>,
    /// Destination folder or URL.
    pub path: Spanned<String>,
    /// Hive partition columns, outermost first.
    #[serde(default)]
    pub partition_by: Vec<String>,
    /// `append` (default), `overwrite`, `overwrite-partitions`, `error-if-exists` or `merge`.
    #[serde(default)]
    pub mode: Option<Spanned<String>>,
    /// Key columns for `mode = "merge"`: written rows replace the rows with the same key.
    #[serde(default)]
    pub merge_keys: Vec<String>,
    /// `zstd` (default), `snappy`, `gzip`, `lz4`, `none`.
    #[serde(default)]
    pub compression: Option<Spanned<String>>,
    /// Roll files at about this size, e.g. `"256MiB"`.
    #[serde(default)]
    pub target_file_size: Option<Spanned<String>>,
    /// Sort rows within each file by these columns.
    #[serde(default)]
    pub sort_by: Vec<String>,
    /// Create or update this catalog table (`db.table`) after the commit.
    #[serde(default)]
    pub table: Option<Spanned<String>>,
}

/// A data-quality rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualitySpec {
    /// The step (or source) the rule checks.
    pub step: Spanned<String>,
    /// A rule: `row_count > 0`, `not_null(a, b)`, `unique(a)`, `accepted_values(c, 'x', 'y')`,
    /// `range(c, 0, 100)`, or any SQL condition every row must meet.
    #[serde(default)]
    pub rule: Option<Spanned<String>>,
    /// A SQL query returning one boolean; the rule holds when it is true.
    #[serde(default)]
    pub sql: Option<Spanned<String>>,
    /// `fail` (default): the run fails and nothing commits; `warn`: logged and recorded.
    #[serde(default)]
    pub on_fail: Option<Spanned<String>>,
    /// A label for logs and the run record.
    #[serde(default)]
    pub name: Option<String>,
}

/// `[retry]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Attempts in all, the first included (default 1: no retry).
    #[serde(default = "one")]
    pub max_attempts: u32,
    /// Wait before the first retry (default `"10s"`).
    #[serde(default)]
    pub interval: Option<Spanned<String>>,
    /// Each further wait is the previous one times this (default 2.0).
    #[serde(default = "two")]
    pub backoff: f64,
    /// Longest single wait (default `"10m"`).
    #[serde(default)]
    pub max_interval: Option<Spanned<String>>,
    /// Randomize each wait between half and all of its nominal length (default true).
    #[serde(default = "yes")]
    pub jitter: bool,
}

impl Default for RetrySpec {
    fn default() -> Self {
        Self {
            max_attempts: 1,
            interval: None,
            backoff: 2.0,
            max_interval: None,
            jitter: true,
        }
    }
}

fn one() -> u32 {
    1
}
fn two() -> f64 {
    2.0
}
fn yes() -> bool {
    true
}

/// A workflow file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowSpec {
    /// The workflow's name: its runs and its lock are kept under it.
    pub name: Spanned<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Nodes running at once (default 4).
    #[serde(default)]
    pub max_parallel: Option<Spanned<i64>>,
    /// Params offered to every job and substituted as `${name}` in crawl locations.
    #[serde(default)]
    pub params: BTreeMap<String, Spanned<toml::Value>>,
    /// The nodes by name.
    pub nodes: BTreeMap<String, NodeSpec>,
}

/// One node: a job or a crawl, and when it runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// A job file (relative to the workflow file).
    #[serde(default)]
    pub job: Option<Spanned<String>>,
    /// A folder or S3 prefix to crawl into the catalog.
    #[serde(default)]
    pub crawl: Option<Spanned<String>>,
    /// The catalog database a crawl records into (default `default`).
    #[serde(default)]
    pub database: Option<String>,
    /// Params for this node's job (over the workflow's).
    #[serde(default)]
    pub params: BTreeMap<String, Spanned<toml::Value>>,
    /// Nodes that must have succeeded.
    #[serde(default)]
    pub after: Vec<Spanned<String>>,
    /// Nodes that must have failed.
    #[serde(default)]
    pub after_failure: Vec<Spanned<String>>,
    /// Nodes that must have ended, either way.
    #[serde(default)]
    pub after_done: Vec<Spanned<String>>,
    /// `all` (default): every condition must hold; `any`: one is enough.
    #[serde(default)]
    pub trigger: Option<Spanned<String>>,
}

/// A job or workflow file as written.
#[derive(Debug, Clone)]
pub enum FileSpec {
    /// A job file.
    Job(Box<JobSpec>),
    /// A workflow file (it has a `[nodes]` table).
    Workflow(Box<WorkflowSpec>),
}

/// Parses a job or workflow file once: a file with a `[nodes]` table is a workflow.
pub(crate) fn parse_file(path: &str, text: &str) -> Result<FileSpec> {
    let syntax = |mut e: toml::de::Error| {
        e.set_input(Some(text));
        JobError::Syntax {
            path: path.to_string(),
            message: e.to_string().trim_end().to_string(),
        }
    };
    let table = toml::de::DeTable::parse(text).map_err(syntax)?;
    let workflow = table.get_ref().keys().any(|k| k.get_ref() == "nodes");
    let de = toml::de::Deserializer::from(table);
    Ok(if workflow {
        FileSpec::Workflow(Box::new(WorkflowSpec::deserialize(de).map_err(syntax)?))
    } else {
        FileSpec::Job(Box::new(JobSpec::deserialize(de).map_err(syntax)?))
    })
}

/// Reads a job or workflow file.
pub(crate) fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| JobError::Read {
        path: path.to_string(),
        source,
    })
}

/// 1-based line and column of byte `offset` in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map(|i| before.len() - i)
        .unwrap_or(before.len() + 1);
    (line, col)
}

/// An error about the value at `span` of the file at `path`.
pub(crate) fn invalid(
    path: &str,
    text: &str,
    span: Option<std::ops::Range<usize>>,
    message: impl Into<String>,
) -> JobError {
    JobError::Invalid {
        path: path.to_string(),
        at: span.map(|s| line_col(text, s.start)),
        message: message.into(),
    }
}

/// Makes an error at a span of the file being read.
pub(crate) type ErrFn<'a> = dyn Fn(Option<std::ops::Range<usize>>, String) -> JobError + 'a;
