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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::dataframe::DataFrame;
use datafusion::sql::parser::DFParser;
use sluice_catalog::{BookmarkEntry, Catalog, LockOutcome, RunRow, TableDef, split_name};
use sluice_engine::readers::guard::{BadRecordPolicy, BadRecordSpec, BadRecords};
use sluice_engine::readers::{Exclude, TableFiles, build_table, describe_location};
use sluice_engine::writer::layout::partition_path;
use sluice_engine::{
    CsvReadOptions, FileFormatKind, Location, PendingCommit, ReadOptions, SluiceSession, Staged, WriteOptions,
};

use crate::error::{JobError, Result};
use crate::quality::{self, RuleResult};
use crate::record::{Attempt, PendingFile, RunRecord, RunStatus, SinkRecord, SourceRecord};
use crate::spec::{Job, OnFail, SourceSpec};
use crate::transform::{Registry, TransformInput};

/// Makes a fresh engine session (one per attempt, so a retry starts with new connections).
///
/// The argument is the job's `cluster =` address, if it has one: the session runs its queries there.
pub type SessionFactory = Arc<dyn Fn(Option<&str>) -> sluice_engine::Result<SluiceSession> + Send + Sync>;

/// How often a running job refreshes its lock.
const HEARTBEAT: Duration = Duration::from_secs(20);

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

/// What `--dry-run` found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DryRun {
    /// The job.
    pub job: String,
    /// Params after substitution.
    pub params: BTreeMap<String, String>,
    /// What each source would read.
    pub sources: Vec<SourcePlan>,
    /// Steps in the order they are planned, with what they read.
    pub steps: Vec<StepPlan>,
    /// What each sink would write.
    pub sinks: Vec<SinkPlan>,
    /// Rules that would be checked.
    pub quality: Vec<String>,
}

/// One source in a dry run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SourcePlan {
    /// What the run would record.
    #[serde(flatten)]
    pub record: SourceRecord,
    /// Partitions it would read.
    pub partitions: Vec<String>,
    /// Files it would read (full paths).
    pub files: Vec<String>,
}

/// One step in a dry run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepPlan {
    /// The step.
    pub name: String,
    /// `sql` or `rust:<transform>`.
    pub kind: String,
    /// Sources and steps it reads.
    pub reads: Vec<String>,
    /// Its output columns, `name: type`.
    pub columns: Vec<String>,
}

/// One sink in a dry run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SinkPlan {
    /// The step written.
    pub from: String,
    /// The destination.
    pub path: String,
    /// The write mode.
    pub mode: String,
    /// Partition folders it would write.
    pub partitions: Vec<String>,
    /// The catalog table it would update.
    pub table: Option<String>,
}

/// A source opened for one attempt.
struct OpenedSource {
    record: SourceRecord,
    /// The source's bad-records policy and counts, when it has one.
    bad_records: Option<Arc<BadRecords>>,
    /// Store paths of the files read, to attribute scan metrics.
    store_paths: BTreeSet<String>,
    pending: Vec<PendingFile>,
    partitions: Vec<String>,
    files: Vec<String>,
}

/// What the staging half of an attempt produced.
/// Deletes what every staged sink wrote: a run commits all its sinks or none.
async fn abort_all(staged: Vec<(usize, Staged)>) {
    for (_, s) in staged {
        if let Staged::Pending(pending) = s {
            pending.abort().await;
        }
    }
}

struct Staging {
    sources: Vec<SourceRecord>,
    pending: Vec<PendingFile>,
    staged: Vec<(usize, Staged)>,
    quality: Vec<RuleResult>,
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

    /// Runs `job` as run `run_id`: takes the job's lock, retries transient failures per `[retry]`,
    /// records the run. Returns an error only when the run could not start (lock held, catalog
    /// unusable); a failed run is an outcome with its error.
    pub async fn run(&self, job: &Job, run_id: &str) -> Result<RunOutcome> {
        self.run_in_workflow(job, run_id, None).await
    }

    /// Checks what a job file cannot say by itself: every step's transform exists and steps read
    /// only sources and other steps, without cycles.
    pub fn check(&self, job: &Job) -> Result<()> {
        self.step_order(job).map(|_| ())
    }

    /// Like [`Runner::run`], for a run started by the workflow run `workflow_run` (recorded in the
    /// run's record).
    pub async fn run_in_workflow(
        &self,
        job: &Job,
        run_id: &str,
        workflow_run: Option<&str>,
    ) -> Result<RunOutcome> {
        // Steps that name unknown transforms or inputs, or read each other in a cycle, make the job
        // file invalid: refuse it before it takes the lock or leaves a run record.
        self.step_order(job)?;
        let name = job.name().to_string();
        let recovered = match self.catalog.acquire_job_lock(&name, run_id)? {
            LockOutcome::Held(lock) => {
                return Err(JobError::AlreadyRunning {
                    job: name,
                    run_id: lock.run_id,
                    host: lock.host,
                    pid: lock.pid,
                    since: lock.acquired_at,
                });
            }
            LockOutcome::Acquired { replaced } => replaced.map(|lock| lock.run_id),
        };
        let heartbeat = async {
            let mut tick = tokio::time::interval(HEARTBEAT);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = self.catalog.heartbeat_job_lock(&name, run_id) {
                    tracing::warn!(error = %e, "could not refresh the job lock");
                }
            }
        };
        // At error level so the run context reaches every line, whatever the verbosity.
        let span = tracing::error_span!("run", job = %name, run_id = %run_id);
        let outcome = tokio::select! {
            outcome = tracing::Instrument::instrument(self.run_locked(job, run_id, recovered, workflow_run), span) => outcome,
            never = heartbeat => never,
        };
        if let Err(e) = self.catalog.release_job_lock(&name, run_id) {
            tracing::warn!(error = %e, "could not release the job lock; the next run takes it over");
        }
        if let Ok(done) = &outcome {
            crate::hooks::fire(job, &done.record).await;
        }
        outcome
    }

    async fn run_locked(
        &self,
        job: &Job,
        run_id: &str,
        recovered: Option<String>,
        workflow_run: Option<&str>,
    ) -> Result<RunOutcome> {
        // Holding the lock, any other run of this job still marked running or committing is dead:
        // settle each (not only the one whose lock was taken over).
        for stale in self.catalog.runs(Some(job.name()), 100)? {
            if stale.run_id != run_id && matches!(stale.status.as_str(), "running" | "committing") {
                self.recover(job, &stale.run_id).await?;
            }
        }
        let started = Instant::now();
        let mut record = RunRecord {
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
        };
        self.save(&record)?;
        tracing::info!(target: crate::RUN_LOG_TARGET, "run started");
        let deadline = job.timeout.map(|t| started + t);
        let mut error = None;
        for number in 1..=job.retry.max_attempts {
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
            let attempt_started = Instant::now();
            let mut attempt = Attempt {
                number,
                started_at: chrono::Utc::now().to_rfc3339(),
                seconds: 0.0,
                error: None,
                transient: false,
                waited_seconds: waited.as_secs_f64(),
                nominal_wait_seconds: nominal.as_secs_f64(),
            };
            let result = self.attempt(job, run_id, deadline, &mut record).await;
            attempt.seconds = attempt_started.elapsed().as_secs_f64();
            match result {
                Ok(()) => {
                    record.attempts.push(attempt);
                    error = None;
                    break;
                }
                Err(e) => {
                    let transient = e.is_transient();
                    attempt.error = Some(crate::error_chain(&e));
                    attempt.transient = transient;
                    record.attempts.push(attempt);
                    tracing::warn!(attempt = number, transient, error = %crate::error_chain(&e), "attempt failed");
                    let timed_out = matches!(e, JobError::Timeout { .. });
                    error = Some(e);
                    if !transient || timed_out {
                        break;
                    }
                    if deadline.is_some_and(|d| Instant::now() + job.retry.nominal_wait(number + 1) >= d) {
                        break;
                    }
                    self.save(&record)?;
                }
            }
        }
        record.seconds = started.elapsed().as_secs_f64();
        record.ended_at = Some(chrono::Utc::now().to_rfc3339());
        tracing::info!(
            target: crate::RUN_LOG_TARGET,
            outcome = match &error {
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
        match &error {
            None => {
                record.status = RunStatus::Succeeded;
                let entries = bookmark_entries(&record.pending_bookmarks, run_id);
                record.pending_bookmarks.clear();
                record.pending_sinks.clear();
                self.catalog.finish_run(&row(&record), &entries)?;
            }
            Some(e) => {
                record.status = if matches!(e, JobError::Timeout { .. }) {
                    RunStatus::Timeout
                } else {
                    RunStatus::Failed
                };
                record.error = Some(crate::error_chain(e));
                record.pending_bookmarks.clear();
                self.save(&record)?;
            }
        }
        Ok(RunOutcome { record, error })
    }

    fn save(&self, record: &RunRecord) -> Result<()> {
        Ok(self.catalog.save_run(&row(record))?)
    }

    /// Settles a run whose process died holding the lock: a run that committed all its sinks is
    /// finished (its bookmarks advance); any other is marked failed.
    async fn recover(&self, job: &Job, previous: &str) -> Result<()> {
        let Some(stored) = self.catalog.run(previous)? else {
            return Ok(());
        };
        let Ok(mut record) = serde_json::from_value::<RunRecord>(stored.record) else {
            return Ok(());
        };
        if !matches!(record.status, RunStatus::Running | RunStatus::Committing) {
            return Ok(());
        }
        let session =
            (self.sessions)(None).map_err(|e| JobError::engine("recovering the previous run", e))?;
        let mut committed = Vec::new();
        // The dead run's own destinations (params may resolve differently today).
        let paths: Vec<String> = if record.pending_sinks.is_empty() {
            job.spec.sinks.iter().map(|s| s.path.get_ref().clone()).collect()
        } else {
            record.pending_sinks.clone()
        };
        for path in &paths {
            let dest = Location::parse(path).map_err(|e| JobError::engine("recovery", e))?;
            committed.push(
                session
                    .is_committed(&dest, previous)
                    .await
                    .map_err(|e| JobError::engine("recovery", e))?,
            );
        }
        record.ended_at = Some(chrono::Utc::now().to_rfc3339());
        if record.status == RunStatus::Committing && committed.iter().all(|c| *c) {
            tracing::warn!(
                run = previous,
                "the previous run died after committing; finishing its record"
            );
            record.status = RunStatus::Succeeded;
            record.error = None;
            let entries = bookmark_entries(&record.pending_bookmarks, previous);
            record.pending_bookmarks.clear();
            self.catalog.finish_run(&row(&record), &entries)?;
        } else {
            let some = committed.iter().any(|c| *c);
            record.status = RunStatus::Failed;
            record.error = Some(if some {
                "the process died while committing; some sinks committed, bookmarks were not advanced".into()
            } else {
                "the process died before committing; nothing of it is visible".into()
            });
            tracing::warn!(run = previous, "the previous run died; marked failed");
            record.pending_bookmarks.clear();
            self.save(&record)?;
        }
        Ok(())
    }

    async fn attempt(
        &self,
        job: &Job,
        run_id: &str,
        deadline: Option<Instant>,
        record: &mut RunRecord,
    ) -> Result<()> {
        let session =
            (self.sessions)(job.cluster()).map_err(|e| JobError::engine("starting the session", e))?;
        // Once an attempt reached its commits, later attempts read exactly the files it read: a sink
        // it committed must not be paired with a bookmark that also covers files it never saw.
        let pinned = (!record.pending_bookmarks.is_empty()).then(|| record.pending_bookmarks.clone());
        let staging = async {
            let (opened, _order) = self.prepare(job, &session, pinned.as_deref()).await?;
            self.stage(job, &session, run_id, opened).await
        };
        let staging = match deadline {
            None => staging.await?,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                tokio::time::timeout(left, staging)
                    .await
                    .map_err(|_| JobError::Timeout {
                        job: job.name().to_string(),
                        timeout: job
                            .spec
                            .timeout
                            .as_ref()
                            .map(|t| t.get_ref().clone())
                            .unwrap_or_default(),
                    })??
            }
        };
        record.sources = staging.sources;
        record.bytes_read = record.sources.iter().map(|s| s.bytes_read).sum();
        record.quality = staging.quality;
        let failed: Vec<&RuleResult> = record
            .quality
            .iter()
            .filter(|r| !r.passed && r.on_fail == OnFail::Fail)
            .collect();
        if !failed.is_empty() {
            let text = failed
                .iter()
                .map(|r| format!("`{}` on `{}` ({})", r.name, r.step, r.observed))
                .collect::<Vec<_>>()
                .join("; ");
            abort_all(staging.staged).await;
            return Err(JobError::Quality(text));
        }
        for r in record.quality.iter().filter(|r| !r.passed) {
            tracing::warn!(rule = %r.name, step = %r.step, observed = %r.observed, "quality rule failed (warn only)");
        }
        if self
            .catalog
            .job_lock(job.name())?
            .is_none_or(|lock| lock.run_id != run_id)
        {
            abort_all(staging.staged).await;
            return Err(JobError::LockLost {
                job: job.name().to_string(),
            });
        }
        record.status = RunStatus::Committing;
        record.pending_bookmarks = staging.pending;
        record.pending_sinks = job.spec.sinks.iter().map(|s| s.path.get_ref().clone()).collect();
        self.save(record)?;
        let mut sinks = Vec::new();
        let mut staged = staging.staged;
        staged.sort_by_key(|(i, _)| *i);
        let mut commit_error = None;
        for (i, staged) in staged {
            let sink = &job.spec.sinks[i];
            if commit_error.is_some() {
                if let Staged::Pending(pending) = staged {
                    pending.abort().await;
                }
                continue;
            }
            let report = match staged {
                Staged::Committed(report) => Ok(report),
                Staged::Pending(pending) => commit(pending.with_commit_info(commit_info(job, record))).await,
            };
            match report {
                Ok(report) => {
                    let mut partitions: Vec<String> = report
                        .files
                        .iter()
                        .filter(|f| !f.partition_values.is_empty())
                        .filter_map(|f| f.path.rsplit_once('/').map(|(dir, _)| dir.to_string()))
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    partitions.sort();
                    sinks.push(SinkRecord {
                        from: sink.from.get_ref().clone(),
                        path: sink.path.get_ref().clone(),
                        mode: report.mode.to_string(),
                        commit: report.commit,
                        rows: report.rows,
                        bytes: report.bytes,
                        files: report.files.len(),
                        partitions,
                        replaced_files: report.replaced_files,
                        table: sink.table.as_ref().map(|t| t.get_ref().clone()),
                        table_change: None,
                    });
                }
                Err(e) => {
                    commit_error = Some(JobError::engine(
                        format!("committing sink `{}`", sink.path.get_ref()),
                        e,
                    ))
                }
            }
        }
        if let Some(e) = commit_error {
            record.sinks = sinks;
            return Err(e);
        }
        for (sink, out) in job.spec.sinks.iter().zip(sinks.iter_mut()) {
            let Some(table) = &sink.table else { continue };
            out.table_change = Some(
                self.update_table(&session, sink.path.get_ref(), table.get_ref())
                    .await?,
            );
        }
        record.rows_written = sinks.iter().map(|s| s.rows).sum();
        record.bytes_written = sinks.iter().map(|s| s.bytes).sum();
        record.sinks = sinks;
        Ok(())
    }

    /// Records a sink's destination as a catalog table (create or update).
    async fn update_table(&self, session: &SluiceSession, path: &str, table: &str) -> Result<String> {
        let (db, name) = split_name(table)?;
        let dest = Location::parse(path).map_err(|e| JobError::engine(format!("sink `{path}`"), e))?;
        let options = ReadOptions {
            format: Some(FileFormatKind::Parquet),
            count_rows: true,
            ..ReadOptions::default()
        };
        let described = match describe_location(&session.ctx().state(), &dest.as_folder(), &options).await {
            Ok(d) => d,
            // Nothing written there yet (a run without new input): no table to record.
            Err(
                sluice_engine::EngineError::NotFound { .. } | sluice_engine::EngineError::NoDataFiles { .. },
            ) => {
                return Ok("not recorded: the destination holds no data yet".to_string());
            }
            Err(e) => {
                return Err(JobError::engine(
                    format!("listing sink `{path}` for the catalog"),
                    e,
                ));
            }
        };
        let def = TableDef::from_described(db, name, &described);
        Ok(match self.catalog.upsert(&def)? {
            sluice_catalog::Change::Created => "created".to_string(),
            sluice_catalog::Change::Updated(diff) => format!("updated: {diff}"),
            sluice_catalog::Change::Unchanged => "unchanged".to_string(),
        })
    }

    /// Opens the sources and plans the steps in dependency order. Returns the opened sources and
    /// the step order.
    async fn prepare(
        &self,
        job: &Job,
        session: &SluiceSession,
        pinned: Option<&[PendingFile]>,
    ) -> Result<(Vec<OpenedSource>, Vec<usize>)> {
        sluice_catalog::mount(session, &self.catalog)?;
        let mut opened = Vec::new();
        for (name, spec) in &job.spec.sources {
            match self.open_source(job, session, name, spec, pinned).await {
                Ok(source) => opened.push(source),
                Err(JobError::Engine {
                    source:
                        sluice_engine::EngineError::NotFound { .. }
                        | sluice_engine::EngineError::NoDataFiles { .. },
                    ..
                }) if spec.optional => {
                    tracing::info!(source = %name, "optional source has no data; left out");
                }
                Err(e) => return Err(e),
            }
        }
        let order = self.step_order(job)?;
        for &i in &order {
            self.plan_step(job, session, i).await?;
        }
        Ok((opened, order))
    }

    async fn open_source(
        &self,
        job: &Job,
        session: &SluiceSession,
        name: &str,
        spec: &SourceSpec,
        pinned: Option<&[PendingFile]>,
    ) -> Result<OpenedSource> {
        let context = format!("source `{name}`");
        let err = |e: sluice_engine::EngineError| JobError::engine(context.clone(), e);
        let state = session.ctx().state();
        let policy = job
            .source_bad_records(name, spec)?
            .or_else(|| self.bad_records.clone());
        let guard = policy
            .as_ref()
            .map(BadRecordSpec::start)
            .transpose()
            .map_err(err)?;
        let (mut described, options, from): (TableFiles, ReadOptions, String) = match (
            &spec.table,
            &spec.path,
        ) {
            (Some(table), _) => {
                let (db, t) = split_name(table.get_ref())?;
                let def =
                    self.catalog
                        .find(db, t)?
                        .ok_or_else(|| sluice_catalog::CatalogError::TableNotFound {
                            name: table.get_ref().clone(),
                        })?;
                let (described, mut options) = def.to_described(self.catalog.path())?;
                options.bad_records = guard.clone();
                if spec.bookmark {
                    // New files arrive without a crawl: list the table's folder again, keep the
                    // catalog's columns.
                    let mut fresh = describe_location(&state, &described.location, &options)
                        .await
                        .map_err(err)?;
                    fresh.file_schema = described.file_schema;
                    (fresh, options, table.get_ref().clone())
                } else {
                    (described, options, table.get_ref().clone())
                }
            }
            (None, Some(path)) => {
                let location = Location::parse(path.get_ref()).map_err(err)?;
                let mut options = ReadOptions {
                    format: spec
                        .format
                        .as_ref()
                        .map(|f| {
                            f.get_ref().parse::<FileFormatKind>().map_err(|e| {
                                job.invalid(Some(f.span()), format!("[sources.{name}] `format`: {e}"))
                            })
                        })
                        .transpose()?,
                    csv: CsvReadOptions {
                        has_header: spec.header.unwrap_or(true),
                        delimiter: spec
                            .delimiter
                            .as_ref()
                            .map(|d| {
                                sluice_engine::readers::parse_delimiter(d.get_ref()).ok_or_else(|| {
                                    job.invalid(
                                        Some(d.span()),
                                        format!(
                                            "[sources.{name}] `delimiter = \"{}\"` must be one character or \"\\t\"",
                                            d.get_ref()
                                        ),
                                    )
                                })
                            })
                            .transpose()?,
                        quote: job.source_char(name, "quote", spec.quote.as_ref())?.unwrap_or(b'"'),
                        escape: job.source_char(name, "escape", spec.escape.as_ref())?,
                        comment: job.source_char(name, "comment", spec.comment.as_ref())?,
                        sniff: spec.header.is_none(),
                        ..CsvReadOptions::default()
                    },
                    bad_records: guard.clone(),
                    ..ReadOptions::default()
                };
                if !spec.exclude.is_empty() {
                    options.exclude = Some(Exclude::try_new(&location, &spec.exclude).map_err(err)?);
                }
                let described = describe_location(&state, &location, &options)
                    .await
                    .map_err(err)?;
                (described, options, path.get_ref().clone())
            }
            (None, None) => unreachable!("checked when the job file was loaded"),
        };
        let store_url = described.location.store_url().to_string();
        let full = |f: &sluice_engine::readers::DataFile| format!("{}{}", store_url, f.meta.location);
        let files_total = described.files.len();
        let mut pending = Vec::new();
        if spec.bookmark {
            let seen: HashMap<String, (u64, String)> = self
                .catalog
                .bookmark(job.name(), name)?
                .into_iter()
                .map(|b| (b.path, (b.size, b.last_modified)))
                .collect();
            let mut fresh: Vec<_> = described
                .files
                .into_iter()
                .filter(|f| {
                    seen.get(&full(f)).is_none_or(|(size, modified)| {
                        *size != f.meta.size || *modified != f.meta.last_modified.to_rfc3339()
                    })
                })
                .collect();
            fresh.sort_by(|a, b| {
                (a.meta.last_modified, a.meta.location.as_ref())
                    .cmp(&(b.meta.last_modified, b.meta.location.as_ref()))
            });
            if let Some(max) = spec.max_files {
                fresh.truncate(max);
            }
            if let Some(pinned) = pinned {
                let keep: std::collections::HashSet<&str> = pinned
                    .iter()
                    .filter(|p| p.source == name)
                    .map(|p| p.path.as_str())
                    .collect();
                fresh.retain(|f| keep.contains(full(f).as_str()));
            }
            pending = fresh
                .iter()
                .map(|f| PendingFile {
                    source: name.to_string(),
                    path: full(f),
                    size: f.meta.size,
                    last_modified: f.meta.last_modified.to_rfc3339(),
                })
                .collect();
            described.files = fresh;
        }
        let partitions: BTreeSet<String> = described
            .files
            .iter()
            .filter(|f| !f.partition.is_empty())
            .map(|f| partition_path(f.partition.iter().map(|(k, v)| (k.as_str(), v.as_deref()))))
            .collect();
        let files: Vec<String> = described.files.iter().map(full).collect();
        let store_paths = described
            .files
            .iter()
            .map(|f| f.meta.location.to_string())
            .collect();
        let record = SourceRecord {
            name: name.to_string(),
            from,
            bookmark: spec.bookmark,
            files_total,
            files_read: described.files.len(),
            bytes_read: described.files.iter().map(|f| f.meta.size).sum(),
            partitions_read: partitions.len(),
            rows_read: 0,
            on_bad_records: policy
                .as_ref()
                .map_or(BadRecordPolicy::Fail, |p| p.policy)
                .as_str()
                .to_string(),
            records_skipped: 0,
            records_quarantined: 0,
            quarantine_file: None,
        };
        let table = build_table(&described, &options).map_err(err)?;
        session
            .ctx()
            .register_table(name.to_ascii_lowercase().as_str(), Arc::new(table))
            .map_err(|e| JobError::datafusion(context.clone(), e))?;
        Ok(OpenedSource {
            record,
            bad_records: guard,
            store_paths,
            pending,
            partitions: partitions.into_iter().collect(),
            files,
        })
    }

    /// The sources and steps a step reads.
    fn step_reads(&self, job: &Job, i: usize) -> Result<Vec<String>> {
        let step = &job.spec.steps[i];
        let local: BTreeSet<String> = job
            .spec
            .sources
            .keys()
            .cloned()
            .chain(job.spec.steps.iter().map(|s| s.name.get_ref().clone()))
            .map(|n| n.to_ascii_lowercase())
            .collect();
        let names = if let Some(sql) = &step.sql {
            let invalid = |e: &dyn std::fmt::Display| {
                job.invalid(Some(sql.span()), format!("step `{}`: {e}", step.name.get_ref()))
            };
            let plain = sluice_engine::without_versions(sql.get_ref()).map_err(|e| invalid(&e))?;
            let statements = DFParser::parse_sql(&plain).map_err(|e| invalid(&e))?;
            let mut names = Vec::new();
            for statement in &statements {
                let (tables, _ctes) = datafusion::sql::resolve::resolve_table_references(statement, true)
                    .map_err(|e| invalid(&e))?;
                for t in tables {
                    if t.schema().is_none() {
                        names.push(t.table().to_string());
                    }
                }
            }
            names
                .into_iter()
                .map(|n| n.to_ascii_lowercase())
                .filter(|n| local.contains(n))
                .collect()
        } else {
            let rust = step.rust.as_ref().expect("a step has sql or rust");
            let transform = self.registry.get(rust.get_ref()).ok_or_else(|| {
                job.invalid(
                    Some(rust.span()),
                    format!(
                        "step `{}`: no transform named `{}`; registered: {}",
                        step.name.get_ref(),
                        rust.get_ref(),
                        self.registry.names().join(", ")
                    ),
                )
            })?;
            let names = transform.inputs(&step.args).map_err(|e| {
                job.invalid(
                    Some(step.name.span()),
                    format!("step `{}` ({}): {e}", step.name.get_ref(), rust.get_ref()),
                )
            })?;
            for n in &names {
                if !local.contains(&n.to_ascii_lowercase()) {
                    return Err(job.invalid(
                        Some(step.name.span()),
                        format!(
                            "step `{}` reads `{n}`, which is no source or step",
                            step.name.get_ref()
                        ),
                    ));
                }
            }
            names.into_iter().map(|n| n.to_ascii_lowercase()).collect()
        };
        let mut names: Vec<String> = names;
        names.sort();
        names.dedup();
        if names.contains(&step.name.get_ref().to_ascii_lowercase()) {
            return Err(job.invalid(
                Some(step.name.span()),
                format!("step `{}` reads itself", step.name.get_ref()),
            ));
        }
        Ok(names)
    }

    /// Steps ordered so each comes after the steps it reads; a cycle is an error.
    fn step_order(&self, job: &Job) -> Result<Vec<usize>> {
        let index: HashMap<String, usize> = job
            .spec
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.get_ref().to_ascii_lowercase(), i))
            .collect();
        let mut deps = Vec::new();
        for i in 0..job.spec.steps.len() {
            let reads = self.step_reads(job, i)?;
            deps.push(
                reads
                    .iter()
                    .filter_map(|n| index.get(n).copied())
                    .collect::<Vec<_>>(),
            );
        }
        let mut order = Vec::new();
        let mut state = vec![0u8; deps.len()];
        fn visit(i: usize, deps: &[Vec<usize>], state: &mut [u8], order: &mut Vec<usize>) -> bool {
            match state[i] {
                2 => return true,
                1 => return false,
                _ => {}
            }
            state[i] = 1;
            for &d in &deps[i] {
                if !visit(d, deps, state, order) {
                    return false;
                }
            }
            state[i] = 2;
            order.push(i);
            true
        }
        for i in 0..deps.len() {
            if !visit(i, &deps, &mut state, &mut order) {
                let step = &job.spec.steps[i];
                return Err(job.invalid(
                    Some(step.name.span()),
                    format!(
                        "steps read each other in a cycle (through `{}`)",
                        step.name.get_ref()
                    ),
                ));
            }
        }
        Ok(order)
    }

    async fn plan_step(&self, job: &Job, session: &SluiceSession, i: usize) -> Result<()> {
        let step = &job.spec.steps[i];
        let name = step.name.get_ref().to_ascii_lowercase();
        let context = format!("step `{}`", step.name.get_ref());
        let ctx = session.ctx();
        let df: DataFrame = if let Some(sql) = &step.sql {
            session
                .sql(sql.get_ref())
                .await
                .map_err(|e| JobError::engine(context.clone(), e))?
        } else {
            let rust = step.rust.as_ref().expect("a step has sql or rust");
            let transform = self
                .registry
                .get(rust.get_ref())
                .expect("checked when ordering the steps");
            let mut frames = BTreeMap::new();
            let inputs = transform.inputs(&step.args).map_err(|e| JobError::Transform {
                step: step.name.get_ref().clone(),
                transform: rust.get_ref().clone(),
                message: e.to_string(),
            })?;
            for input in inputs {
                let lower = input.to_ascii_lowercase();
                let optional = job
                    .spec
                    .sources
                    .iter()
                    .any(|(n, s)| s.optional && n.eq_ignore_ascii_case(&input));
                if optional && !ctx.table_exist(lower.as_str()).unwrap_or(false) {
                    continue;
                }
                let df = ctx
                    .table(input.to_ascii_lowercase().as_str())
                    .await
                    .map_err(|e| JobError::datafusion(context.clone(), e))?;
                frames.insert(input, df);
            }
            let input = TransformInput {
                ctx: ctx.clone(),
                frames,
                params: job.params.clone(),
                step: name.clone(),
            };
            transform
                .apply(&input, &step.args)
                .await
                .map_err(|e| JobError::Transform {
                    step: step.name.get_ref().clone(),
                    transform: rust.get_ref().clone(),
                    message: e.to_string(),
                })?
        };
        let df = if step.cache {
            df.cache()
                .await
                .map_err(|e| JobError::datafusion(context.clone(), e))?
        } else {
            df
        };
        ctx.register_table(name.as_str(), df.into_view())
            .map_err(|e| JobError::datafusion(context, e))?;
        Ok(())
    }

    /// Stages every sink and evaluates every rule, all at once.
    async fn stage(
        &self,
        job: &Job,
        session: &SluiceSession,
        run_id: &str,
        opened: Vec<OpenedSource>,
    ) -> Result<Staging> {
        // Quarantine outputs are named before any scan runs: on a cluster the executors write them.
        for o in &opened {
            if let Some(guard) = &o.bad_records {
                guard.name_output(&format!("{run_id}-{}", o.record.name));
            }
        }
        let mut sink_futures = Vec::new();
        for (i, sink) in job.spec.sinks.iter().enumerate() {
            let options = self.write_options(job, sink)?;
            let dest = Location::parse(sink.path.get_ref())
                .map_err(|e| JobError::engine(format!("sink `{}`", sink.path.get_ref()), e))?;
            let from = sink.from.get_ref().to_ascii_lowercase();
            let context = format!(
                "sink {} (`{}` to `{}`)",
                i + 1,
                sink.from.get_ref(),
                sink.path.get_ref()
            );
            let span = tracing::error_span!("step", step = %from);
            sink_futures.push(tracing::Instrument::instrument(
                async move {
                    let started = Instant::now();
                    let df = session
                        .ctx()
                        .table(from.as_str())
                        .await
                        .map_err(|e| JobError::datafusion(context.clone(), e))?;
                    let staged = session
                        .stage_parquet(df, &dest, options, run_id)
                        .await
                        .map_err(|e| JobError::engine(context, e))?;
                    tracing::info!(
                        sink = i + 1,
                        seconds = started.elapsed().as_secs_f64(),
                        "sink staged"
                    );
                    Ok::<_, JobError>((i, staged))
                },
                span,
            ));
        }
        let mut rule_futures = Vec::new();
        for rule in &job.spec.quality {
            let on_fail = job.on_fail(rule)?;
            let step = rule.step.get_ref().to_ascii_lowercase();
            let span = tracing::error_span!("step", step = %step);
            rule_futures.push(tracing::Instrument::instrument(
                async move {
                    let started = Instant::now();
                    let result = quality::evaluate(
                        session.ctx(),
                        &step,
                        rule.rule.as_ref().map(|r| r.get_ref().as_str()),
                        rule.sql.as_ref().map(|r| r.get_ref().as_str()),
                        rule.name.as_deref(),
                        on_fail,
                    )
                    .await;
                    if let Ok(r) = &result {
                        tracing::info!(
                            rule = %r.name,
                            passed = r.passed,
                            seconds = started.elapsed().as_secs_f64(),
                            "quality rule checked"
                        );
                    }
                    result
                },
                span,
            ));
        }
        let (sinks, rules) = futures::join!(
            futures::future::join_all(sink_futures),
            futures::future::join_all(rule_futures)
        );
        let mut staged = Vec::new();
        let mut first_error = None;
        for s in sinks {
            match s {
                Ok(s) => staged.push(s),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let mut results = Vec::new();
        for r in rules {
            match r {
                Ok(r) => results.push(r),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            abort_all(staged).await;
            return Err(e);
        }
        let mut scans = Vec::new();
        for (_, s) in &staged {
            if let Staged::Pending(p) = s {
                let mut rows = Vec::new();
                sluice_engine::readers::scan_rows(p.executed_plan(), &mut rows);
                scans.push(rows);
            }
        }
        // Bad records: a share over `max_bad_records` fails the run before anything commits; the
        // quarantine files are written first.
        let mut quarantined = HashMap::new();
        for o in &opened {
            let Some(guard) = &o.bad_records else { continue };
            let written = match guard.check() {
                Ok(()) => match guard.quarantine() {
                    Some(q) => match session.store_for(q) {
                        Ok(store) => guard
                            .write_quarantine(&store, &format!("{run_id}-{}", o.record.name))
                            .await
                            .map(|at| {
                                if let Some(at) = at {
                                    quarantined.insert(o.record.name.clone(), at);
                                }
                            }),
                        Err(e) => Err(e),
                    },
                    None => Ok(()),
                },
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                abort_all(staged).await;
                return Err(JobError::engine(format!("source `{}`", o.record.name), e));
            }
        }
        let mut pending = Vec::new();
        let mut sources = Vec::new();
        for mut o in opened {
            if let Some(guard) = &o.bad_records {
                let c = guard.counts();
                o.record.records_skipped = c.skipped;
                o.record.records_quarantined = c.quarantined;
                if c.quarantined > 0 {
                    o.record.quarantine_file = quarantined.remove(&o.record.name);
                }
                for example in guard.examples().iter().take(3) {
                    tracing::warn!(source = %o.record.name, record = %example.describe(), "bad record left out");
                }
            }
            o.record.rows_read = scans
                .iter()
                .map(|sink| {
                    sink.iter()
                        .filter(|(path, _)| o.store_paths.contains(path))
                        .map(|(_, rows)| rows)
                        .sum::<u64>()
                })
                .max()
                .unwrap_or(0);
            // Guarded scans are not DataFusion file scans: their own count of good rows.
            if let Some(guard) = &o.bad_records {
                o.record.rows_read = guard.counts().good;
            }
            pending.extend(o.pending);
            sources.push(o.record);
        }
        Ok(Staging {
            sources,
            pending,
            staged,
            quality: results,
        })
    }

    fn write_options(&self, job: &Job, sink: &crate::spec::SinkSpec) -> Result<WriteOptions> {
        let mut options = WriteOptions::new()
            .with_partition_by(sink.partition_by.clone())
            .with_mode(job.sink_mode(sink)?)
            .with_merge_keys(sink.merge_keys.clone())
            .with_codec(job.sink_codec(sink)?)
            .with_sort_by(sink.sort_by.clone());
        if let Some(size) = job.sink_file_size(sink)? {
            options = options.with_target_file_size(size);
        }
        Ok(options)
    }

    /// Validates everything and reports what a run would read and write, without writing anything
    /// (the catalog included).
    pub async fn dry_run(&self, job: &Job) -> Result<DryRun> {
        let session =
            (self.sessions)(job.cluster()).map_err(|e| JobError::engine("starting the session", e))?;
        let (opened, order) = self.prepare(job, &session, None).await?;
        let mut steps = Vec::new();
        for &i in &order {
            let step = &job.spec.steps[i];
            let df = session
                .ctx()
                .table(step.name.get_ref().to_ascii_lowercase().as_str())
                .await
                .map_err(|e| JobError::datafusion(format!("step `{}`", step.name.get_ref()), e))?;
            steps.push(StepPlan {
                name: step.name.get_ref().clone(),
                kind: match &step.rust {
                    Some(r) => format!("rust:{}", r.get_ref()),
                    None => "sql".into(),
                },
                reads: self.step_reads(job, i)?,
                columns: df
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| format!("{}: {}", f.name(), f.data_type()))
                    .collect(),
            });
        }
        let mut sinks = Vec::new();
        for (i, sink) in job.spec.sinks.iter().enumerate() {
            let options = self.write_options(job, sink)?;
            let context = format!("sink {} (`{}`)", i + 1, sink.path.get_ref());
            let df = session
                .ctx()
                .table(sink.from.get_ref().to_ascii_lowercase().as_str())
                .await
                .map_err(|e| JobError::datafusion(context.clone(), e))?;
            for c in &sink.partition_by {
                if df.schema().field_with_unqualified_name(c).is_err() {
                    return Err(JobError::engine(
                        context.clone(),
                        sluice_engine::EngineError::unknown_column("partition_by", c, df.schema().as_arrow()),
                    ));
                }
            }
            let partitions = if sink.partition_by.is_empty() {
                Vec::new()
            } else {
                distinct_partitions(df, &sink.partition_by)
                    .await
                    .map_err(|e| JobError::datafusion(context.clone(), e))?
            };
            sinks.push(SinkPlan {
                from: sink.from.get_ref().clone(),
                path: sink.path.get_ref().clone(),
                mode: options.mode().to_string(),
                partitions,
                table: sink.table.as_ref().map(|t| t.get_ref().clone()),
            });
        }
        Ok(DryRun {
            job: job.name().to_string(),
            params: job.params.clone(),
            sources: opened
                .into_iter()
                .map(|o| SourcePlan {
                    record: o.record,
                    partitions: o.partitions,
                    files: o.files,
                })
                .collect(),
            steps,
            sinks,
            quality: job
                .spec
                .quality
                .iter()
                .map(|q| {
                    format!(
                        "{} on {}",
                        q.rule
                            .as_ref()
                            .or(q.sql.as_ref())
                            .map(|r| r.get_ref().as_str())
                            .unwrap_or_default(),
                        q.step.get_ref()
                    )
                })
                .collect(),
        })
    }
}

/// What a sink's Delta commit records of the job: its name and the quality rules it passed.
fn commit_info(job: &Job, record: &RunRecord) -> serde_json::Map<String, serde_json::Value> {
    let mut info = serde_json::Map::new();
    info.insert("sluiceJob".into(), serde_json::json!(job.name()));
    info.insert(
        "sluiceQuality".into(),
        serde_json::to_value(&record.quality).unwrap_or_default(),
    );
    info
}

async fn commit(pending: PendingCommit) -> sluice_engine::Result<sluice_engine::CommitReport> {
    pending.commit().await
}

/// Hive folder names of the distinct partition values in `df`.
async fn distinct_partitions(df: DataFrame, columns: &[String]) -> datafusion::error::Result<Vec<String>> {
    use arrow::util::display::{ArrayFormatter, FormatOptions};
    let exprs: Vec<_> = columns
        .iter()
        .map(|c| datafusion::prelude::col(format!("\"{}\"", c.replace('"', "\"\""))))
        .collect();
    let batches = df.select(exprs)?.distinct()?.collect().await?;
    let mut out = BTreeSet::new();
    let options = FormatOptions::default();
    for batch in &batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            let values: Vec<Option<String>> = batch
                .columns()
                .iter()
                .zip(&formatters)
                .map(|(c, f)| (!c.is_null(row)).then(|| f.value(row).to_string()))
                .collect();
            out.insert(partition_path(
                columns
                    .iter()
                    .map(String::as_str)
                    .zip(values.iter().map(|v| v.as_deref())),
            ));
        }
    }
    Ok(out.into_iter().collect())
}

fn bookmark_entries(pending: &[PendingFile], run_id: &str) -> Vec<BookmarkEntry> {
    pending
        .iter()
        .map(|p| BookmarkEntry {
            source: p.source.clone(),
            path: p.path.clone(),
            size: p.size,
            last_modified: p.last_modified.clone(),
            run_id: run_id.to_string(),
        })
        .collect()
}

fn row(record: &RunRecord) -> RunRow {
    RunRow {
        run_id: record.run_id.clone(),
        job: record.job.clone(),
        status: record.status.as_str().to_string(),
        started_at: record.started_at.clone(),
        ended_at: record.ended_at.clone(),
        record: serde_json::to_value(record).expect("a run record serializes"),
    }
}
