//! The job file: TOML with sources, steps, sinks, quality rules, retry and params.
//!
//! Parsing happens in two passes. The first deserializes the text with unknown keys denied, so a
//! typo or a wrong type is reported with its key, line and column. The second checks what TOML cannot:
//! names, references between steps, modes and sizes, and `${param}` substitution.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;
use sluice_engine::readers::guard::{BadRecordPolicy, BadRecordSpec, MaxBadRecords};
use sluice_engine::{Codec, Location, WriteMode};
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
    pub exclude: Vec<String>,
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

/// When the job waits between attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all.
    pub max_attempts: u32,
    /// First wait.
    pub interval: Duration,
    /// Growth of each wait.
    pub backoff: f64,
    /// Cap on one wait.
    pub max_interval: Duration,
    /// Randomize waits.
    pub jitter: bool,
}

impl RetryPolicy {
    /// The nominal wait before attempt `next` (2 for the first retry): `interval × backoff^(next-2)`,
    /// capped at `max_interval`.
    pub fn nominal_wait(&self, next: u32) -> Duration {
        let exp = next.saturating_sub(2) as i32;
        let secs = self.interval.as_secs_f64() * self.backoff.powi(exp);
        Duration::from_secs_f64(secs.min(self.max_interval.as_secs_f64()).max(0.0))
    }

    /// The wait actually taken: the nominal one, or with jitter a uniform draw from half to all of it.
    pub fn wait(&self, next: u32) -> Duration {
        let nominal = self.nominal_wait(next);
        if self.jitter {
            nominal.mul_f64(0.5 + fastrand::f64() * 0.5)
        } else {
            nominal
        }
    }
}

/// What a quality rule does when it does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFail {
    /// Fail the run; nothing commits.
    Fail,
    /// Record and log, then go on.
    Warn,
}

/// A job file ready to plan: parsed, checked and with params substituted.
#[derive(Debug, Clone)]
pub struct Job {
    /// The parsed file, with `${...}` replaced.
    pub spec: JobSpec,
    /// The file it came from.
    pub path: String,
    /// Params after built-ins and overrides.
    pub params: BTreeMap<String, String>,
    /// The retry policy.
    pub retry: RetryPolicy,
    /// The timeout, if any.
    pub timeout: Option<Duration>,
    text: String,
}

impl Job {
    /// The job's name.
    pub fn name(&self) -> &str {
        self.spec.name.get_ref()
    }

    /// The cluster the job file asks to run on, if any.
    pub fn cluster(&self) -> Option<&str> {
        self.spec
            .cluster
            .as_ref()
            .map(|c| c.get_ref().trim())
            .filter(|c| !c.is_empty())
    }

    /// An error about the value at `span` in the job file.
    pub fn invalid(&self, span: Option<std::ops::Range<usize>>, message: impl Into<String>) -> JobError {
        invalid(&self.path, &self.text, span, message)
    }

    /// The write mode of a sink.
    pub fn sink_mode(&self, sink: &SinkSpec) -> Result<WriteMode> {
        let Some(mode) = &sink.mode else {
            if !sink.merge_keys.is_empty() {
                return Err(self.invalid(
                    Some(sink.path.span()),
                    "sink `merge_keys` is for `mode = \"merge\"`; add it, or leave merge_keys out",
                ));
            }
            return Ok(WriteMode::Append);
        };
        if mode.get_ref().replace('_', "-") != "merge" && !sink.merge_keys.is_empty() {
            return Err(self.invalid(
                Some(mode.span()),
                "sink `merge_keys` is for `mode = \"merge\"`; set that mode, or leave merge_keys out",
            ));
        }
        let parsed = mode.get_ref().parse::<WriteMode>().map_err(|_| {
            self.invalid(
                Some(mode.span()),
                format!(
                    "sink `mode = \"{}\"` is not one of append, overwrite, overwrite-partitions, error-if-exists, merge",
                    mode.get_ref()
                ),
            )
        })?;
        if parsed == WriteMode::Merge && sink.merge_keys.is_empty() {
            return Err(self.invalid(
                Some(mode.span()),
                "sink `mode = \"merge\"` needs `merge_keys`, the columns that identify a row: `merge_keys = [\"id\"]`",
            ));
        }
        Ok(parsed)
    }

    /// The bad-records policy of a source, when it sets one.
    pub fn source_bad_records(&self, name: &str, source: &SourceSpec) -> Result<Option<BadRecordSpec>> {
        let policy = match (&source.on_bad_records, &source.quarantine) {
            (Some(p), _) => Some(p.get_ref().parse::<BadRecordPolicy>().map_err(|e| {
                self.invalid(Some(p.span()), format!("[sources.{name}] `on_bad_records`: {e}"))
            })?),
            (None, Some(_)) => Some(BadRecordPolicy::Quarantine),
            (None, None) => None,
        };
        let max = source
            .max_bad_records
            .as_ref()
            .map(|m| {
                let text = match m.get_ref() {
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Float(f) => f.to_string(),
                    toml::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                text.parse::<MaxBadRecords>().map_err(|e| {
                    self.invalid(Some(m.span()), format!("[sources.{name}] `max_bad_records`: {e}"))
                })
            })
            .transpose()?;
        let Some(policy) = policy else {
            if let Some(m) = &source.max_bad_records {
                return Err(self.invalid(
                    Some(m.span()),
                    format!("[sources.{name}] `max_bad_records` needs `on_bad_records = \"skip\"` or \"quarantine\""),
                ));
            }
            return Ok(None);
        };
        let quarantine = source
            .quarantine
            .as_ref()
            .map(|q| {
                Location::parse(q.get_ref())
                    .map_err(|e| self.invalid(Some(q.span()), format!("[sources.{name}] `quarantine`: {e}")))
            })
            .transpose()?;
        let spec = BadRecordSpec {
            policy,
            max,
            quarantine,
        };
        spec.start().map_err(|e| {
            let span = source
                .on_bad_records
                .as_ref()
                .or(source.quarantine.as_ref())
                .map(|s| s.span());
            self.invalid(span, format!("[sources.{name}]: {e}"))
        })?;
        Ok(Some(spec))
    }

    /// A one-character CSV setting of a source (`quote`, `escape`, `comment`).
    pub fn source_char(&self, name: &str, key: &str, value: Option<&Spanned<String>>) -> Result<Option<u8>> {
        let Some(v) = value else { return Ok(None) };
        match v.get_ref().as_bytes() {
            [b] => Ok(Some(*b)),
            _ => Err(self.invalid(
                Some(v.span()),
                format!(
                    "[sources.{name}] `{key} = \"{}\"` must be one character",
                    v.get_ref()
                ),
            )),
        }
    }

    /// The compression of a sink.
    pub fn sink_codec(&self, sink: &SinkSpec) -> Result<Codec> {
        match &sink.compression {
            None => Ok(Codec::default()),
            Some(c) => c
                .get_ref()
                .parse::<Codec>()
                .map_err(|e| self.invalid(Some(c.span()), format!("sink `compression`: {e}"))),
        }
    }

    /// The target file size of a sink in bytes.
    pub fn sink_file_size(&self, sink: &SinkSpec) -> Result<Option<usize>> {
        sink.target_file_size
            .as_ref()
            .map(|s| {
                sluice_engine::parse_size(s.get_ref()).map_err(|_| {
                    self.invalid(
                        Some(s.span()),
                        format!(
                            "sink `target_file_size = \"{}\"` is not a size; write e.g. \"256MiB\"",
                            s.get_ref()
                        ),
                    )
                })
            })
            .transpose()
    }

    /// `on_fail` of a rule.
    pub fn on_fail(&self, rule: &QualitySpec) -> Result<OnFail> {
        match &rule.on_fail {
            None => Ok(OnFail::Fail),
            Some(v) => match v.get_ref().as_str() {
                "fail" => Ok(OnFail::Fail),
                "warn" => Ok(OnFail::Warn),
                other => Err(self.invalid(
                    Some(v.span()),
                    format!("quality `on_fail = \"{other}\"` is not one of fail, warn"),
                )),
            },
        }
    }
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

/// A param's value as substituted text; tables and arrays are refused at their span.
pub(crate) fn param_text(name: &str, value: &Spanned<toml::Value>, err: &ErrFn<'_>) -> Result<String> {
    match value.get_ref() {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Datetime(d) => Ok(d.to_string()),
        _ => Err(err(
            Some(value.span()),
            format!("param `{name}` must be a string, number, boolean or date"),
        )),
    }
}

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

/// Values every job may use without declaring them.
#[derive(Debug, Clone)]
pub struct Builtins {
    /// The run id.
    pub run_id: String,
    /// Today's date (UTC) for `run_date = "today"`.
    pub today: chrono::NaiveDate,
}

/// Reads, checks and substitutes a job file. `overrides` are `--param k=v` values.
pub fn load(path: &str, overrides: &BTreeMap<String, String>, builtins: &Builtins) -> Result<Job> {
    let text = std::fs::read_to_string(path).map_err(|source| JobError::Read {
        path: path.to_string(),
        source,
    })?;
    parse(path, &text, overrides, builtins)
}

/// Like [`load`] for text already read.
pub fn parse(
    path: &str,
    text: &str,
    overrides: &BTreeMap<String, String>,
    builtins: &Builtins,
) -> Result<Job> {
    let mut spec: JobSpec = toml::from_str(text).map_err(|e| JobError::Syntax {
        path: path.to_string(),
        message: e.to_string().trim_end().to_string(),
    })?;
    let err = |span: Option<std::ops::Range<usize>>, message: String| invalid(path, text, span, message);
    let params = resolve_params(&spec, overrides, builtins, &err)?;
    substitute_all(&mut spec, &params, &err)?;
    check_names(&spec, &err)?;
    let retry = retry_policy(&spec.retry, &err)?;
    let timeout = spec
        .timeout
        .as_ref()
        .map(|t| duration(t, "timeout", &err))
        .transpose()?;
    let job = Job {
        spec,
        path: path.to_string(),
        params,
        retry,
        timeout,
        text: text.to_string(),
    };
    for (name, source) in &job.spec.sources {
        job.source_bad_records(name, source)?;
        job.source_char(name, "quote", source.quote.as_ref())?;
        job.source_char(name, "escape", source.escape.as_ref())?;
        job.source_char(name, "comment", source.comment.as_ref())?;
    }
    for sink in &job.spec.sinks {
        job.sink_mode(sink)?;
        job.sink_codec(sink)?;
        job.sink_file_size(sink)?;
    }
    for rule in &job.spec.quality {
        job.on_fail(rule)?;
    }
    for hook in [&job.spec.on_success, &job.spec.on_failure].into_iter().flatten() {
        if let Some(t) = &hook.timeout {
            duration(t, "timeout", &err)?;
        }
        if let Some(url) = &hook.webhook
            && !(url.get_ref().starts_with("http://") || url.get_ref().starts_with("https://"))
        {
            return Err(err(
                Some(url.span()),
                format!("`webhook = \"{}\"` must be an http(s) URL", url.get_ref()),
            ));
        }
        if hook.command.is_none() && hook.webhook.is_none() {
            return Err(err(
                None,
                "an [on_success] or [on_failure] table needs `command` or `webhook`".into(),
            ));
        }
    }
    Ok(job)
}

pub(crate) type ErrFn<'a> = dyn Fn(Option<std::ops::Range<usize>>, String) -> JobError + 'a;

fn resolve_params(
    spec: &JobSpec,
    overrides: &BTreeMap<String, String>,
    builtins: &Builtins,
    err: &ErrFn<'_>,
) -> Result<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    params.insert("run_date".to_string(), builtins.today.to_string());
    for (name, value) in &spec.params {
        if name == "run_id" {
            return Err(err(
                Some(value.span()),
                "`run_id` is built in and cannot be set; use another name".into(),
            ));
        }
        params.insert(name.clone(), param_text(name, value, err)?);
    }
    for (name, value) in overrides {
        if name == "run_id" {
            return Err(err(
                None,
                "`--param run_id=...` is not allowed: the run id is built in".into(),
            ));
        }
        params.insert(name.clone(), value.clone());
    }
    if let Some(date) = params.get_mut("run_date") {
        *date = resolve_date(date, builtins.today).ok_or_else(|| {
            err(
                spec.params.get("run_date").map(|v| v.span()),
                format!(
                    "`run_date = \"{date}\"` is not a date; write YYYY-MM-DD, \"today\" or \"yesterday\""
                ),
            )
        })?;
    }
    params.insert("run_id".to_string(), builtins.run_id.clone());
    Ok(params)
}

fn resolve_date(text: &str, today: chrono::NaiveDate) -> Option<String> {
    match text {
        "today" => Some(today.to_string()),
        "yesterday" => today.pred_opt().map(|d| d.to_string()),
        other => chrono::NaiveDate::parse_from_str(other, "%Y-%m-%d")
            .ok()
            .map(|d| d.to_string()),
    }
}

/// Replaces `${name}` with the param's value; `$${` stays a literal `${`.
pub fn substitute(text: &str, params: &BTreeMap<String, String>) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(literal) = after.strip_prefix("${") {
            out.push_str("${");
            rest = literal;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| "`${` without a closing `}`".to_string())?;
            let name = body[..end].trim();
            let value = params.get(name).ok_or_else(|| {
                let known: Vec<&str> = params.keys().map(String::as_str).collect();
                format!(
                    "unknown param `${{{name}}}`; declare it under [params] or pass --param {name}=VALUE (known: {})",
                    known.join(", ")
                )
            })?;
            out.push_str(value);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn subst_spanned(
    value: &mut Spanned<String>,
    params: &BTreeMap<String, String>,
    err: &ErrFn<'_>,
) -> Result<()> {
    let replaced = substitute(value.get_ref(), params).map_err(|m| err(Some(value.span()), m))?;
    let span = value.span();
    *value = Spanned::new(span, replaced);
    Ok(())
}

fn subst_opt(
    value: &mut Option<Spanned<String>>,
    params: &BTreeMap<String, String>,
    err: &ErrFn<'_>,
) -> Result<()> {
    match value {
        Some(v) => subst_spanned(v, params, err),
        None => Ok(()),
    }
}

fn subst_value(
    value: &mut toml::Value,
    params: &BTreeMap<String, String>,
) -> std::result::Result<(), String> {
    match value {
        toml::Value::String(s) => *s = substitute(s, params)?,
        toml::Value::Array(items) => {
            for item in items {
                subst_value(item, params)?;
            }
        }
        toml::Value::Table(table) => {
            for (_, item) in table.iter_mut() {
                subst_value(item, params)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn substitute_all(spec: &mut JobSpec, params: &BTreeMap<String, String>, err: &ErrFn<'_>) -> Result<()> {
    for source in spec.sources.values_mut() {
        subst_opt(&mut source.table, params, err)?;
        subst_opt(&mut source.path, params, err)?;
        subst_opt(&mut source.quarantine, params, err)?;
        for e in &mut source.exclude {
            *e = substitute(e, params).map_err(|m| err(None, m))?;
        }
    }
    for step in &mut spec.steps {
        subst_opt(&mut step.sql, params, err)?;
        for (key, value) in step.args.iter_mut() {
            subst_value(value, params)
                .map_err(|m| err(Some(step.name.span()), format!("step args `{key}`: {m}")))?;
        }
    }
    for sink in &mut spec.sinks {
        subst_spanned(&mut sink.path, params, err)?;
        subst_opt(&mut sink.table, params, err)?;
    }
    for rule in &mut spec.quality {
        subst_opt(&mut rule.rule, params, err)?;
        subst_opt(&mut rule.sql, params, err)?;
    }
    for hook in [&mut spec.on_success, &mut spec.on_failure].into_iter().flatten() {
        subst_opt(&mut hook.command, params, err)?;
        subst_opt(&mut hook.webhook, params, err)?;
    }
    Ok(())
}

/// A name usable as a SQL table name without quoting.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_names(spec: &JobSpec, err: &ErrFn<'_>) -> Result<()> {
    let job_name = spec.name.get_ref();
    if job_name.is_empty()
        || !job_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(err(
            Some(spec.name.span()),
            format!(
                "job name `{}` may only use letters, digits, `_` and `-`",
                spec.name.get_ref()
            ),
        ));
    }
    let mut names: BTreeSet<String> = BTreeSet::new();
    for (name, source) in &spec.sources {
        if !valid_name(name) {
            return Err(err(
                None,
                format!("source name `{name}` must start with a letter and use only letters, digits and `_`"),
            ));
        }
        match (&source.table, &source.path) {
            (Some(_), None) | (None, Some(_)) => {}
            _ => {
                return Err(err(
                    None,
                    format!(
                        "[sources.{name}] needs exactly one of `table = \"db.table\"` or `path = \"...\"`"
                    ),
                ));
            }
        }
        if source.table.is_some() && (source.format.is_some() || source.delimiter.is_some()) {
            return Err(err(
                source
                    .format
                    .as_ref()
                    .or(source.delimiter.as_ref())
                    .map(Spanned::span),
                format!(
                    "[sources.{name}] reads a catalog table, which has its format already; drop `format`/`delimiter`"
                ),
            ));
        }
        names.insert(name.to_ascii_lowercase());
    }
    for step in &spec.steps {
        let name = step.name.get_ref();
        if !valid_name(name) {
            return Err(err(
                Some(step.name.span()),
                format!("step name `{name}` must start with a letter and use only letters, digits and `_`"),
            ));
        }
        if !names.insert(name.to_ascii_lowercase()) {
            return Err(err(
                Some(step.name.span()),
                format!("the name `{name}` is used twice; sources and steps need distinct names"),
            ));
        }
        match (&step.sql, &step.rust) {
            (Some(_), None) | (None, Some(_)) => {}
            _ => {
                return Err(err(
                    Some(step.name.span()),
                    format!("step `{name}` needs exactly one of `sql = \"...\"` or `rust = \"transform\"`"),
                ));
            }
        }
        if step.sql.is_some() && !step.args.is_empty() {
            return Err(err(
                Some(step.name.span()),
                format!("step `{name}`: `args` belong to `rust` steps"),
            ));
        }
    }
    for sink in &spec.sinks {
        if !names.contains(&sink.from.get_ref().to_ascii_lowercase()) {
            return Err(err(
                Some(sink.from.span()),
                format!(
                    "sink `from = \"{}\"` names no source or step",
                    sink.from.get_ref()
                ),
            ));
        }
    }
    for rule in &spec.quality {
        if !names.contains(&rule.step.get_ref().to_ascii_lowercase()) {
            return Err(err(
                Some(rule.step.span()),
                format!(
                    "quality `step = \"{}\"` names no source or step",
                    rule.step.get_ref()
                ),
            ));
        }
        if rule.rule.is_some() == rule.sql.is_some() {
            return Err(err(
                Some(rule.step.span()),
                "a [[quality]] entry needs exactly one of `rule = \"...\"` or `sql = \"SELECT ...\"`".into(),
            ));
        }
        let written = rule.rule.as_ref().or(rule.sql.as_ref());
        if let Err(reason) = crate::quality::check_written(
            rule.rule.as_ref().map(|r| r.get_ref().as_str()),
            rule.sql.as_ref().map(|r| r.get_ref().as_str()),
        ) {
            let shown = written.map(|w| w.get_ref().as_str()).unwrap_or_default();
            return Err(err(
                written.map(Spanned::span),
                format!("quality rule `{shown}` cannot be read: {reason}"),
            ));
        }
    }
    if spec.sinks.is_empty() {
        return Err(err(
            None,
            "the job has no [[sinks]]; add one so its output goes somewhere".into(),
        ));
    }
    Ok(())
}

fn duration(text: &Spanned<String>, key: &str, err: &ErrFn<'_>) -> Result<Duration> {
    humantime::parse_duration(text.get_ref().trim()).map_err(|e| {
        err(
            Some(text.span()),
            format!(
                "`{key} = \"{}\"` is not a duration ({e}); write e.g. \"10s\", \"5m\" or \"2h\"",
                text.get_ref()
            ),
        )
    })
}

fn retry_policy(spec: &RetrySpec, err: &ErrFn<'_>) -> Result<RetryPolicy> {
    if spec.max_attempts == 0 {
        return Err(err(
            None,
            "[retry] `max_attempts` must be at least 1 (1 means no retry)".into(),
        ));
    }
    if !(spec.backoff.is_finite() && spec.backoff >= 1.0) {
        return Err(err(
            None,
            "[retry] `backoff` must be a number of at least 1.0".into(),
        ));
    }
    Ok(RetryPolicy {
        max_attempts: spec.max_attempts,
        interval: spec
            .interval
            .as_ref()
            .map(|i| duration(i, "interval", err))
            .transpose()?
            .unwrap_or(Duration::from_secs(10)),
        backoff: spec.backoff,
        max_interval: spec
            .max_interval
            .as_ref()
            .map(|i| duration(i, "max_interval", err))
            .transpose()?
            .unwrap_or(Duration::from_secs(600)),
        jitter: spec.jitter,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtins() -> Builtins {
        Builtins {
            run_id: "r1".into(),
            today: chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(),
        }
    }

    const JOB: &str = r#"
name = "daily"

[params]
run_date = "yesterday"
region = "EU"

[sources.orders]
path = "data/orders/"

[[steps]]
name = "eu"
sql = "SELECT * FROM orders WHERE region = '${region}' AND d = DATE '${run_date}' -- ${run_id}"

[[sinks]]
from = "eu"
path = "out/${run_date}/"
mode = "overwrite-partitions"
"#;

    #[test]
    fn params_are_substituted_with_builtins_and_overrides() {
        let mut over = BTreeMap::new();
        over.insert("region".to_string(), "US".to_string());
        let job = parse("j.toml", JOB, &over, &builtins()).unwrap();
        let sql = job.spec.steps[0].sql.as_ref().unwrap().get_ref().clone();
        assert_eq!(
            sql,
            "SELECT * FROM orders WHERE region = 'US' AND d = DATE '2026-11-21' -- r1"
        );
        assert_eq!(job.spec.sinks[0].path.get_ref(), "out/2026-11-21/");
        assert_eq!(
            job.sink_mode(&job.spec.sinks[0]).unwrap(),
            WriteMode::OverwritePartitions
        );
    }

    #[test]
    fn unknown_keys_name_the_key_and_line() {
        let text = JOB.replace("mode = ", "mdoe = ");
        let e = parse("j.toml", &text, &BTreeMap::new(), &builtins())
            .unwrap_err()
            .to_string();
        assert!(e.contains("mdoe") && e.contains("line 18"), "{e}");
    }

    #[test]
    fn wrong_types_and_bad_values_name_the_line() {
        let text = JOB.replace("region = \"EU\"", "region = [1]");
        let e = parse("j.toml", &text, &BTreeMap::new(), &builtins())
            .unwrap_err()
            .to_string();
        assert!(e.contains("param `region`") && e.contains("line 6"), "{e}");
        let text = JOB.replace("overwrite-partitions", "replace");
        let e = parse("j.toml", &text, &BTreeMap::new(), &builtins())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 18") && e.contains("`mode = \"replace\"`"), "{e}");
    }

    #[test]
    fn an_unknown_param_is_an_error() {
        let text = JOB.replace("${region}", "${regoin}");
        let e = parse("j.toml", &text, &BTreeMap::new(), &builtins())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown param `${regoin}`") && e.contains("line 13"),
            "{e}"
        );
    }

    #[test]
    fn backoff_grows_by_its_factor() {
        let policy = RetryPolicy {
            max_attempts: 4,
            interval: Duration::from_secs(10),
            backoff: 1.5,
            max_interval: Duration::from_secs(600),
            jitter: false,
        };
        let waits: Vec<f64> = (2..=4).map(|n| policy.wait(n).as_secs_f64()).collect();
        assert_eq!(waits, vec![10.0, 15.0, 22.5]);
        let jittered = RetryPolicy {
            jitter: true,
            ..policy
        };
        let w = jittered.wait(3).as_secs_f64();
        assert!((7.5..=15.0).contains(&w), "{w}");
    }
}
