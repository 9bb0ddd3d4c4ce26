//! Settling a run whose process died holding the job's lock.

use sluice_engine::Location;

use super::Runner;
use crate::error::{JobError, Result};
use crate::plan::JobPlan;
use crate::record::{RunRecord, RunStatus};

impl Runner {
    /// Settles the run `previous`: a run that committed all its sinks is finished (its bookmarks
    /// advance); any other is marked failed.
    pub(super) async fn recover(&self, job: &JobPlan, previous: &str) -> Result<()> {
        let Some(mut record) = crate::state::run_record(&self.catalog, previous)? else {
            return Ok(());
        };
        if !record.status.unfinished() {
            return Ok(());
        }
        let committed = self.committed_sinks(job, &record, previous).await?;
        record.ended_at = Some(chrono::Utc::now().to_rfc3339());
        let pending = std::mem::take(&mut record.pending_bookmarks);
        if record.status == RunStatus::Committing && committed.iter().all(|c| *c) {
            tracing::warn!(
                run = previous,
                "the previous run died after committing; finishing its record"
            );
            record.status = RunStatus::Succeeded;
            record.error = None;
            crate::state::finish(&self.catalog, &record, &pending)?;
            return Ok(());
        }
        record.status = RunStatus::Failed;
        record.error = Some(if committed.iter().any(|c| *c) {
            "the process died while committing; some sinks committed, bookmarks were not advanced".into()
        } else {
            "the process died before committing; nothing of it is visible".into()
        });
        tracing::warn!(run = previous, "the previous run died; marked failed");
        self.save(&record)
    }

    /// Whether each destination of the dead run holds its commit.
    async fn committed_sinks(&self, job: &JobPlan, record: &RunRecord, previous: &str) -> Result<Vec<bool>> {
        let session = self.session(None, "recovering the previous run")?;
        // The dead run's own destinations (params may resolve differently today).
        let paths: Vec<String> = if record.pending_sinks.is_empty() {
            job.sinks.iter().map(|s| s.path.clone()).collect()
        } else {
            record.pending_sinks.clone()
        };
        let mut committed = Vec::new();
        for path in &paths {
            let dest = Location::parse(path).map_err(|e| JobError::engine("recovery", e))?;
            let done = session
                .is_committed(&dest, previous)
                .await
                .map_err(|e| JobError::engine("recovery", e))?;
            committed.push(done);
        }
        Ok(committed)
    }
}
