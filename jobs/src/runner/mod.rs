//! Running a job.
//!
//! ```text
//! lock (catalog) ── recover a crashed predecessor ── record "running"
//! attempt:  fresh session ── sources (bookmark: only new files) ── steps as a DAG of lazy views
//!           ── sinks staged ∥ quality rules        (all concurrent; nothing visible yet)
//!           ── a rule failed? abort staged files ──> failed, nothing changed
//!           ── record "committing" (+ the input files to remember)
//!           ── commit each sink ── update catalog tables
//!           ── record "succeeded" + advance bookmarks   (one catalog transaction)
//! transient failure (store fault, commit race)? wait interval × backoff^n (jittered), next attempt
//! ```
//!
//! The timeout covers everything before the commits; once the first sink commits, the run finishes
//! its commits rather than stopping halfway.
//!
//! | module        | what it does                                                  |
//! |---------------|---------------------------------------------------------------|
//! | this one      | the lock, the attempts and their waits, the run record        |
//! | `attempt`     | one attempt: stage, check, commit, update catalog tables      |
//! | `sources`     | opening sources (catalog or path, bookmarks) and steps        |
//! | `staging`     | sinks staged and rules checked at once; bad records settled   |
//! | `recovery`    | settling a run whose process died                             |
//! | `dry_run`     | what a run would read and write                               |

mod attempt;
mod dry_run;
mod recovery;
mod sources;
mod staging;

use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_catalog::Catalog;
use sluice_engine::SluiceSession;
use sluice_engine::readers::guard::BadRecordSpec;

pub use self::dry_run::{DryRun, SinkPlan, SourcePlan, StepPlan};
use crate::error::{JobError, Result};
use crate::plan::JobPlan;
use crate::record::{Attempt, RunRecord, RunStatus};
use crate::transform::Registry;

/// Makes a fresh engine session (one per attempt, so a retry starts with new connections).
///
/// The argument is the job's `cluster =` address, if it has one: the session runs its queries there.
pub type SessionFactory = Arc<dyn Fn(Option<&str>) -> sluice_engine::Result<SluiceSession> + Send + Sync>;

/// Runs jobs against one catalog.
#[derive(Clone)]
pub struct Runner {
    registry: Registry,
    catalog: Arc<Catalog>,
    sessions: SessionFactory,
    bad_records: Option<BadRecordSpec>,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("catalog", &self.catalog.path())
            .field("transforms", &self.registry)
            .finish()
    }
}

/// The end of a run: its record, and the error when it failed.
#[derive(Debug)]
pub struct RunOutcome {
    /// What happened (also stored in the catalog).
    pub record: RunRecord,
    /// Why it failed.
    pub error: Option<JobError>,
}

impl Runner {
    /// A runner with these transforms, this catalog and this way of making sessions.
    pub fn new(registry: Registry, catalog: Arc<Catalog>, sessions: SessionFactory) -> Self {
        Self {
            registry,
            catalog,
            sessions,
            bad_records: None,
        }
    }

    /// The bad-records policy of sources whose job file sets none (`--on-bad-records`).
    pub fn with_bad_records(mut self, spec: Option<BadRecordSpec>) -> Self {
        self.bad_records = spec;
        self
    }

    /// The transforms steps may name.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Runs `job` as run `run_id`: takes the job's lock, retries transient failures per `[retry]`,
    /// records the run. Returns an error only when the run could not start (lock held, catalog
    /// unusable); a failed run is an outcome with its error.
    pub async fn run(&self, job: &JobPlan, run_id: &str) -> Result<RunOutcome> {
        self.run_in_workflow(job, run_id, None).await
    }

    /// Like [`Runner::run`], for a run started by the workflow run `workflow_run` (recorded in the
    /// run's record).
    pub async fn run_in_workflow(
        &self,
        job: &JobPlan,
        run_id: &str,
        workflow_run: Option<&str>,
    ) -> Result<RunOutcome> {
        let recovered = crate::state::acquire(&self.catalog, job.name(), run_id)?;
        // At error level so the run context reaches every line, whatever the verbosity.
        let span = tracing::error_span!("run", job = %job.name(), run_id = %run_id);
        let locked = self.run_locked(job, run_id, recovered, workflow_run);
        let work = tracing::Instrument::instrument(locked, span);
        let outcome = crate::state::while_held(&self.catalog, job.name(), run_id, work).await;
        if let Ok(done) = &outcome {
            crate::hooks::fire(job, &done.record).await;
        }
        outcome
    }

    async fn run_locked(
        &self,
        job: &JobPlan,
        run_id: &str,
        recovered: Option<String>,
        workflow_run: Option<&str>,
    ) -> Result<RunOutcome> {
        // Holding the lock, any other run of this job still marked running or committing is dead:
        // settle each (not only the one whose lock was taken over).
        for (status, stale) in crate::state::runs(&self.catalog, job.name())? {
            if stale.run_id != run_id && status.unfinished() {
                self.recover(job, &stale.run_id).await?;
            }
        }
        let started = Instant::now();
        let mut record = RunRecord::start(job, run_id, recovered, workflow_run);
        self.save(&record)?;
        tracing::info!(target: crate::RUN_LOG_TARGET, "run started");
        let error = self.attempts(job, run_id, started, &mut record).await?;
        record.seconds = started.elapsed().as_secs_f64();
        record.ended_at = Some(chrono::Utc::now().to_rfc3339());
        log_finished(&record, error.as_ref());
        self.finish(&mut record, error.as_ref())?;
        Ok(RunOutcome { record, error })
    }

    /// Runs attempts until one succeeds, a failure is not transient, or no retry fits before the
    /// deadline. Returns the last attempt's error.
    async fn attempts(
        &self,
        job: &JobPlan,
        run_id: &str,
        started: Instant,
        record: &mut RunRecord,
    ) -> Result<Option<JobError>> {
        let deadline = job.timeout.as_ref().map(|t| started + t.limit);
        for number in 1..=job.retry.max_attempts {
            let mut attempt = self.wait_for(job, number).await;
            let attempt_started = Instant::now();
            let result = Box::pin(self.attempt(job, run_id, deadline, record)).await;
            attempt.seconds = attempt_started.elapsed().as_secs_f64();
            let Err(e) = result else {
                record.attempts.push(attempt);
                return Ok(None);
            };
            let transient = e.is_transient();
            attempt.error = Some(crate::error_chain(&e));
            attempt.transient = transient;
            record.attempts.push(attempt);
            tracing::warn!(attempt = number, transient, error = %crate::error_chain(&e), "attempt failed");
            let timed_out = matches!(e, JobError::Timeout { .. });
            let no_time = deadline.is_some_and(|d| Instant::now() + job.retry.nominal_wait(number + 1) >= d);
            if !transient || timed_out || no_time || number == job.retry.max_attempts {
                return Ok(Some(e));
            }
            self.save(record)?;
        }
        Ok(None)
    }

    /// Waits before attempt `number` (not before the first) and starts its record.
    async fn wait_for(&self, job: &JobPlan, number: u32) -> Attempt {
        let (nominal, waited) = if number == 1 {
            (Duration::ZERO, Duration::ZERO)
        } else {
            let wait = job.retry.wait(number);
            tracing::warn!(
                attempt = number,
                wait_seconds = wait.as_secs_f64(),
                "retrying after a transient failure"
            );
            tokio::time::sleep(wait).await;
            (job.retry.nominal_wait(number), wait)
        };
        tracing::info!(target: crate::RUN_LOG_TARGET, attempt = number, "attempt started");
        Attempt {
            number,
            started_at: chrono::Utc::now().to_rfc3339(),
            seconds: 0.0,
            error: None,
            transient: false,
            waited_seconds: waited.as_secs_f64(),
            nominal_wait_seconds: nominal.as_secs_f64(),
        }
    }

    /// Records how the run ended; a success advances its bookmarks in the same transaction.
    fn finish(&self, record: &mut RunRecord, error: Option<&JobError>) -> Result<()> {
        let pending = std::mem::take(&mut record.pending_bookmarks);
        let Some(e) = error else {
            record.status = RunStatus::Succeeded;
            record.pending_sinks.clear();
            return crate::state::finish(&self.catalog, record, &pending);
        };
        record.status = if matches!(e, JobError::Timeout { .. }) {
            RunStatus::Timeout
        } else {
            RunStatus::Failed
        };
        record.error = Some(crate::error_chain(e));
        self.save(record)
    }

    fn save(&self, record: &RunRecord) -> Result<()> {
        crate::state::save(&self.catalog, record)
    }

    fn session(&self, cluster: Option<&str>, what: &str) -> Result<SluiceSession> {
        (self.sessions)(cluster).map_err(|e| JobError::engine(what.to_string(), e))
    }
}

fn log_finished(record: &RunRecord, error: Option<&JobError>) {
    tracing::info!(
        target: crate::RUN_LOG_TARGET,
        outcome = match error {
            None => "succeeded",
            Some(JobError::Timeout { .. }) => "timeout",
            Some(_) => "failed",
        },
        succeeded = error.is_none(),
        seconds = record.seconds,
        attempts = record.attempts.len(),
        rows_read = record.sources.iter().map(|s| s.rows_read).sum::<u64>(),
        rows_written = record.rows_written,
        bytes_read = record.bytes_read,
        bytes_written = record.bytes_written,
        "run finished"
    );
}
