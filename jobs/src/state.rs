//! The catalog lock a job or workflow run holds while it runs, refreshed by a heartbeat.

use std::time::Duration;

use sluice_catalog::{Catalog, LockOutcome};

use crate::error::{JobError, Result};

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
