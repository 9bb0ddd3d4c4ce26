//! Job state in the catalog database, typed: run records (jobs and workflows), the files bookmarked
//! sources have read, and the lock a run holds while it runs (refreshed by a heartbeat).
//!
//! The catalog crate stores these as rows; this module is the only place the jobs crate reads or
//! writes them, so statuses are [`RunStatus`] and records are [`RunRecord`]s here, never strings
//! or JSON looked up by key.

use std::collections::HashMap;
use std::time::Duration;

use sluice_catalog::{BookmarkEntry, Catalog, LockOutcome, RunRow};

use crate::error::{JobError, Result};
use crate::record::{PendingFile, RunRecord, RunStatus};

/// How often a running job or workflow refreshes its lock.
const HEARTBEAT: Duration = Duration::from_secs(20);

/// Takes the lock `name` for `run_id`. Returns the run whose stale lock was taken over, if any; a
/// lock held by a live run is [`JobError::AlreadyRunning`].
pub(crate) fn acquire(catalog: &Catalog, name: &str, run_id: &str) -> Result<Option<String>> {
    match catalog.acquire_job_lock(name, run_id)? {
        LockOutcome::Held(lock) => Err(JobError::AlreadyRunning {
            job: name.to_string(),
            run_id: lock.run_id,
            host: lock.host,
            pid: lock.pid,
            since: lock.acquired_at,
        }),
        LockOutcome::Acquired { replaced } => Ok(replaced.map(|lock| lock.run_id)),
    }
}

/// Runs `work` while refreshing the lock `name`, then releases it.
pub(crate) async fn while_held<F: Future>(catalog: &Catalog, name: &str, run_id: &str, work: F) -> F::Output {
    let heartbeat = async {
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = catalog.heartbeat_job_lock(name, run_id) {
                tracing::warn!(lock = name, error = %e, "could not refresh the lock");
            }
        }
    };
    let outcome = tokio::select! {
        outcome = work => outcome,
        never = heartbeat => never,
    };
    if let Err(e) = catalog.release_job_lock(name, run_id) {
        tracing::warn!(lock = name, error = %e, "could not release the lock; the next run takes it over");
    }
    outcome
}

/// A record kept in the catalog's run history.
pub(crate) trait StoredRun: serde::Serialize {
    /// Its run id, name (job or workflow), status and times.
    fn key(&self) -> (&str, &str, RunStatus, &str, Option<&str>);
}

/// Saves `record` (insert or replace).
pub(crate) fn save(catalog: &Catalog, record: &impl StoredRun) -> Result<()> {
    Ok(catalog.save_run(&row(record))?)
}

/// Records a run as finished and remembers the files its bookmarked sources read, in one
/// transaction.
pub(crate) fn finish(catalog: &Catalog, record: &RunRecord, read: &[PendingFile]) -> Result<()> {
    let entries: Vec<BookmarkEntry> = read
        .iter()
        .map(|p| BookmarkEntry {
            source: p.source.clone(),
            path: p.path.clone(),
            size: p.size,
            last_modified: p.last_modified.clone(),
            run_id: record.run_id.clone(),
        })
        .collect();
    Ok(catalog.finish_run(&row(record), &entries)?)
}

/// The latest runs of `name` (a job or workflow) with their status, newest first.
pub(crate) fn runs(catalog: &Catalog, name: &str) -> Result<Vec<(RunStatus, RunRow)>> {
    let rows = catalog.runs(Some(name), 100)?;
    Ok(rows
        .into_iter()
        .filter_map(|r| Some((RunStatus::of(&r)?, r)))
        .collect())
}

/// The record of job run `run_id`, when there is one this version can read.
pub(crate) fn run_record(catalog: &Catalog, run_id: &str) -> Result<Option<RunRecord>> {
    Ok(catalog
        .run(run_id)?
        .and_then(|stored| serde_json::from_value(stored.record).ok()))
}

/// The files earlier successful runs of `job` read from `source`: path → (size, modified).
pub(crate) fn seen_files(
    catalog: &Catalog,
    job: &str,
    source: &str,
) -> Result<HashMap<String, (u64, String)>> {
    Ok(catalog
        .bookmark(job, source)?
        .into_iter()
        .map(|b| (b.path, (b.size, b.last_modified)))
        .collect())
}

/// Whether run `run_id` still holds the lock `name` (another run may have taken it over).
pub(crate) fn holds_lock(catalog: &Catalog, name: &str, run_id: &str) -> Result<bool> {
    Ok(catalog.job_lock(name)?.is_some_and(|lock| lock.run_id == run_id))
}

fn row(record: &impl StoredRun) -> RunRow {
    let (run_id, name, status, started_at, ended_at) = record.key();
    RunRow {
        run_id: run_id.to_string(),
        job: name.to_string(),
        status: status.as_str().to_string(),
        started_at: started_at.to_string(),
        ended_at: ended_at.map(str::to_string),
        record: serde_json::to_value(record).expect("a run record serializes"),
    }
}

impl StoredRun for RunRecord {
    fn key(&self) -> (&str, &str, RunStatus, &str, Option<&str>) {
        (
            &self.run_id,
            &self.job,
            self.status,
            &self.started_at,
            self.ended_at.as_deref(),
        )
    }
}
