//! sluice-jobs: TOML job files (sources, SQL and Rust steps, sinks, quality rules, retries and
//! bookmarks) planned as a DAG and run against `sluice-engine` and `sluice-catalog`.
//!
//! ```text
//! spec::load (TOML, params) ──> Runner::run ──> lock ──> attempts (retry on transient faults)
//!                                   sources ──> steps (SQL / Rust transforms) ──> sinks staged ∥ quality
//!                                   ──> commit sinks ──> catalog tables ──> run record + bookmarks
//! ```
//!
//! A team adds Rust steps by implementing [`Transform`], registering it in a [`Registry`] and
//! passing that to `sluice::main_with` from its own binary.

mod error;
pub mod hooks;
pub mod quality;
pub mod record;
mod runner;
pub mod spec;
pub mod transform;
pub mod workflow;

pub use error::{JobError, Result};
pub use record::{RunRecord, RunStatus};
pub use runner::{DryRun, RunOutcome, Runner, SessionFactory, SinkPlan, SourcePlan, StepPlan};
pub use spec::{Builtins, Job, load};
pub use transform::{Registry, Transform, TransformError, TransformInput};
pub use workflow::{Workflow, WorkflowOutcome, WorkflowRecord, WorkflowRunner, is_workflow, load_workflow};

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
