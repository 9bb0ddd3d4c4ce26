//! sluice-jobs: TOML job files (sources, SQL and Rust steps, sinks, quality rules, retries and
//! bookmarks) planned as a DAG and run against `sluice-engine` and `sluice-catalog`.
//!
//! ```text
//! plan::load (TOML, params, checks) ──> Runner::run ──> lock ──> attempts (retry on transient faults)
//!                                   sources ──> steps (SQL / Rust transforms) ──> sinks staged ∥ quality
//!                                   ──> commit sinks ──> catalog tables ──> run record + bookmarks
//! ```
//!
//! A team adds Rust steps by implementing [`Transform`], registering it in a [`Registry`] and
//! passing that to `sluice::main_with` from its own binary.

mod dag;
mod error;
pub mod hooks;
pub mod params;
pub mod plan;
pub mod quality;
pub mod record;
mod runner;
pub mod spec;
mod state;
pub mod transform;
pub mod workflow;

use std::collections::BTreeMap;

pub use error::{JobError, Result};
pub use params::Builtins;
pub use plan::{JobPlan, load};
pub use record::{RunRecord, RunStatus};
pub use runner::{DryRun, RunOutcome, Runner, SessionFactory, SinkPlan, SourcePlan, StepPlan};
pub use transform::{Registry, Transform, TransformError, TransformInput};
pub use workflow::{Workflow, WorkflowOutcome, WorkflowRecord, WorkflowRunner, load_workflow};

/// A job or workflow file, checked and planned.
#[derive(Debug, Clone)]
pub enum JobFile {
    /// A job.
    Job(Box<JobPlan>),
    /// A workflow of jobs and crawls.
    Workflow(Workflow),
}

/// Reads, parses (once) and plans a job or workflow file; a file with a `[nodes]` table is a
/// workflow. `overrides` are `--param k=v` values; `registry` holds the Rust transforms.
pub fn open(
    path: &str,
    overrides: &BTreeMap<String, String>,
    builtins: &Builtins,
    registry: &Registry,
) -> Result<JobFile> {
    open_text(path, &spec::read(path)?, overrides, builtins, registry)
}

/// Like [`open`] for text already read.
pub fn open_text(
    path: &str,
    text: &str,
    overrides: &BTreeMap<String, String>,
    builtins: &Builtins,
    registry: &Registry,
) -> Result<JobFile> {
    Ok(match spec::parse_file(path, text)? {
        spec::FileSpec::Job(job) => JobFile::Job(Box::new(plan::plan(
            path, text, *job, overrides, builtins, registry,
        )?)),
        spec::FileSpec::Workflow(flow) => {
            JobFile::Workflow(workflow::plan(path, text, &flow, overrides, builtins, registry)?)
        }
    })
}

/// A file of the other kind than the one asked for.
fn wrong_kind(path: &str, message: &str) -> JobError {
    JobError::Invalid {
        path: path.to_string(),
        at: None,
        message: message.to_string(),
    }
}

/// The `tracing` target of a run's start, attempts and end: the lines an operator's log shipper
/// needs even at the default verbosity (the CLI enables it when logs go to a file or are JSON).
pub const RUN_LOG_TARGET: &str = "sluice::run";

/// An error with its causes, `a: b: c`, for run records and logs.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let next = e.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = e.source();
    }
    text
}
