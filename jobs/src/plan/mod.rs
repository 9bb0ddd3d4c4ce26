//! The job plan: a job file checked, typed and ordered once, when it is loaded.
//!
//! ```text
//! text ──TOML (unknown keys denied)──> JobSpec ──params: [params] ∘ --param ∘ built-ins──> ${...} replaced
//!      ──> sources (inputs, dialects, bad-record rules)   steps (reads, dependency order)
//!          sinks (locations, WriteOptions)   quality rules (compiled)   retry, timeout, hooks
//!      ──> JobPlan
//! ```
//!
//! Anything wrong in the file is [`JobError::Invalid`] with its line and column (exit 2), found
//! before any input is opened. The runner only reads the plan.

mod sinks;
mod sources;
mod steps;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use toml::Spanned;

pub use self::sinks::Sink;
pub use self::sources::{Input, Source};
pub use self::steps::{RustStep, Step, StepAction};
use crate::JobFile;
use crate::error::Result;
use crate::params::{self, Builtins};
use crate::quality::{OnFail, Rule};
use crate::spec::{self, ErrFn, HookSpec, JobSpec, QualitySpec, RetrySpec};
use crate::transform::Registry;

/// A job ready to run: every setting parsed into its type, steps in dependency order.
#[derive(Debug, Clone)]
pub struct JobPlan {
    /// The job's name: runs, bookmarks and the lock are kept under it.
    pub name: String,
    /// The file it came from.
    pub path: String,
    /// Free text shown in `--dry-run`.
    pub description: Option<String>,
    /// Params after built-ins and overrides.
    pub params: BTreeMap<String, String>,
    /// Inputs, by name order.
    pub sources: Vec<Source>,
    /// Transformations, each after the steps it reads.
    pub steps: Vec<Step>,
    /// Outputs, in file order.
    pub sinks: Vec<Sink>,
    /// Rules checked before anything commits.
    pub rules: Vec<Rule>,
    /// When to retry.
    pub retry: RetryPolicy,
    /// Longest a run may take.
    pub timeout: Option<Timeout>,
    /// The Ballista cluster (`df://HOST:PORT`) the file asks to run on.
    pub cluster: Option<String>,
    /// Called when a run succeeds.
    pub on_success: Option<Hook>,
    /// Called when a run fails or times out.
    pub on_failure: Option<Hook>,
}

/// A run's time limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeout {
    /// The limit.
    pub limit: Duration,
    /// As written (`"2h"`), for messages.
    pub written: String,
}

/// `[on_success]` / `[on_failure]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Hook {
    /// Run through `sh -c`.
    pub command: Option<String>,
    /// An http(s) URL to POST the run record to.
    pub webhook: Option<String>,
    /// Longest the hook may take.
    pub timeout: Duration,
}

/// Default time a hook may take.
const HOOK_TIMEOUT: Duration = Duration::from_secs(30);

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

/// Reads and plans a job file. `overrides` are `--param k=v` values; `registry` holds the Rust
/// transforms steps may name.
pub fn load(
    path: &str,
    overrides: &BTreeMap<String, String>,
    builtins: &Builtins,
    registry: &Registry,
) -> Result<JobPlan> {
    match crate::open(path, overrides, builtins, registry)? {
        JobFile::Job(job) => Ok(*job),
        JobFile::Workflow(_) => Err(crate::wrong_kind(
            path,
            "this is a workflow file (it has [nodes]); name a job file here",
        )),
    }
}

/// Plans a parsed job file; `text` is its text, for error positions.
pub(crate) fn plan(
    path: &str,
    text: &str,
    mut spec: JobSpec,
    overrides: &BTreeMap<String, String>,
    builtins: &Builtins,
    registry: &Registry,
) -> Result<JobPlan> {
    let err =
        |span: Option<std::ops::Range<usize>>, message: String| spec::invalid(path, text, span, message);
    let params = params::resolve(&spec.params, overrides, builtins, &err)?;
    spec.substitute(&params, &err)?;
    check_job_name(&spec.name, &err)?;
    let sources = sources::plan(&spec.sources, &err)?;
    let mut names: BTreeSet<String> = sources.iter().map(|s| s.key.clone()).collect();
    let steps = steps::plan(&spec.steps, &mut names, registry, &err)?;
    let sinks = sinks::plan(&spec.sinks, &names, &err)?;
    let rules = spec
        .quality
        .iter()
        .map(|q| rule(q, &names, &err))
        .collect::<Result<_>>()?;
    Ok(JobPlan {
        name: spec.name.into_inner(),
        path: path.to_string(),
        description: spec.description,
        params,
        sources,
        steps,
        sinks,
        rules,
        retry: retry_policy(&spec.retry, &err)?,
        timeout: spec.timeout.as_ref().map(|t| timeout(t, &err)).transpose()?,
        cluster: spec
            .cluster
            .map(|c| c.into_inner().trim().to_string())
            .filter(|c| !c.is_empty()),
        on_success: spec.on_success.as_ref().map(|h| hook(h, &err)).transpose()?,
        on_failure: spec.on_failure.as_ref().map(|h| hook(h, &err)).transpose()?,
    })
}

impl JobPlan {
    /// The job's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cluster the job file asks to run on, if any.
    pub fn cluster(&self) -> Option<&str> {
        self.cluster.as_deref()
    }
}

/// A name usable as a SQL table name without quoting.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_job_name(name: &Spanned<String>, err: &ErrFn<'_>) -> Result<()> {
    let text = name.get_ref();
    if text.is_empty()
        || !text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(err(
            Some(name.span()),
            format!("job name `{text}` may only use letters, digits, `_` and `-`"),
        ));
    }
    Ok(())
}

/// A `[[quality]]` entry compiled.
fn rule(q: &QualitySpec, names: &BTreeSet<String>, err: &ErrFn<'_>) -> Result<Rule> {
    let step = q.step.get_ref();
    if !names.contains(&step.to_ascii_lowercase()) {
        return Err(err(
            Some(q.step.span()),
            format!("quality `step = \"{step}\"` names no source or step"),
        ));
    }
    let written = q.rule.as_ref().or(q.sql.as_ref());
    let Some(written) = written.filter(|_| q.rule.is_some() != q.sql.is_some()) else {
        return Err(err(
            Some(q.step.span()),
            "a [[quality]] entry needs exactly one of `rule = \"...\"` or `sql = \"SELECT ...\"`".into(),
        ));
    };
    let on_fail = match &q.on_fail {
        None => OnFail::Fail,
        Some(v) => v
            .get_ref()
            .parse()
            .map_err(|e| err(Some(v.span()), format!("quality {e}")))?,
    };
    let rule = q.rule.as_ref().map(|r| r.get_ref().as_str());
    let sql = q.sql.as_ref().map(|r| r.get_ref().as_str());
    Rule::compile(step, rule, sql, q.name.as_deref(), on_fail).map_err(|reason| {
        err(
            Some(written.span()),
            format!("quality rule `{}` cannot be read: {reason}", written.get_ref()),
        )
    })
}

fn hook(spec: &HookSpec, err: &ErrFn<'_>) -> Result<Hook> {
    if let Some(url) = &spec.webhook
        && !(url.get_ref().starts_with("http://") || url.get_ref().starts_with("https://"))
    {
        return Err(err(
            Some(url.span()),
            format!("`webhook = \"{}\"` must be an http(s) URL", url.get_ref()),
        ));
    }
    if spec.command.is_none() && spec.webhook.is_none() {
        return Err(err(
            None,
            "an [on_success] or [on_failure] table needs `command` or `webhook`".into(),
        ));
    }
    Ok(Hook {
        command: spec.command.as_ref().map(|c| c.get_ref().clone()),
        webhook: spec.webhook.as_ref().map(|w| w.get_ref().clone()),
        timeout: spec
            .timeout
            .as_ref()
            .map(|t| duration(t, "timeout", err))
            .transpose()?
            .unwrap_or(HOOK_TIMEOUT),
    })
}

fn timeout(text: &Spanned<String>, err: &ErrFn<'_>) -> Result<Timeout> {
    Ok(Timeout {
        limit: duration(text, "timeout", err)?,
        written: text.get_ref().clone(),
    })
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
    let wait = |value: &Option<Spanned<String>>, key: &str, default: u64| {
        value
            .as_ref()
            .map(|i| duration(i, key, err))
            .transpose()
            .map(|d| d.unwrap_or(Duration::from_secs(default)))
    };
    Ok(RetryPolicy {
        max_attempts: spec.max_attempts,
        interval: wait(&spec.interval, "interval", 10)?,
        backoff: spec.backoff,
        max_interval: wait(&spec.max_interval, "max_interval", 600)?,
        jitter: spec.jitter,
    })
}

#[cfg(test)]
mod tests;
