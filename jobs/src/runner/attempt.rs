//! One attempt of a run: stage, check the rules and the lock, commit every sink, record the
//! catalog tables.

use std::collections::BTreeSet;
use std::time::Instant;

use sluice_engine::CommitReport;

use super::Runner;
use crate::error::{JobError, Result};
use crate::plan::{JobPlan, Sink};
use crate::quality::{OnFail, RuleResult};
use crate::record::{RunRecord, RunStatus, SinkRecord};

impl Runner {
    pub(super) async fn attempt(
        &self,
        job: &JobPlan,
        run_id: &str,
        deadline: Option<Instant>,
        record: &mut RunRecord,
    ) -> Result<()> {
        let session = self.session(job.cluster(), "starting the session")?;
        // Once an attempt reached its commits, later attempts read exactly the files it read: a sink
        // it committed must not be paired with a bookmark that also covers files it never saw.
        let pinned = (!record.pending_bookmarks.is_empty()).then(|| record.pending_bookmarks.clone());
        let staging = async {
            let opened = self.prepare(job, &session, pinned.as_deref()).await?;
            self.stage(job, &session, run_id, opened).await
        };
        let staging = within(deadline, Box::pin(staging))
            .await
            .map_err(|_| timeout(job))??;
        record.sources = staging.sources;
        record.bytes_read = record.sources.iter().map(|s| s.bytes_read).sum();
        record.quality = staging.quality;
        if let Err(e) = self.may_commit(job, run_id, &record.quality) {
            staging.staged.abort().await;
            return Err(e);
        }
        record.status = RunStatus::Committing;
        record.pending_bookmarks = staging.pending;
        record.pending_sinks = job.sinks.iter().map(|s| s.path.clone()).collect();
        self.save(record)?;
        let info = commit_info(job, &record.quality);
        let (reports, error) = staging
            .staged
            .commit(job, |pending| pending.with_commit_info(info.clone()))
            .await;
        let mut sinks: Vec<SinkRecord> = reports
            .into_iter()
            .map(|(i, r)| sink_record(&job.sinks[i], r))
            .collect();
        if let Some(e) = error {
            record.sinks = sinks;
            return Err(e);
        }
        for (sink, out) in job.sinks.iter().zip(sinks.iter_mut()) {
            let Some(table) = &sink.table else { continue };
            out.table_change = Some(self.update_table(&session, sink, table).await?);
        }
        record.rows_written = sinks.iter().map(|s| s.rows).sum();
        record.bytes_written = sinks.iter().map(|s| s.bytes).sum();
        record.sinks = sinks;
        Ok(())
    }

    /// Fails when a `fail` rule did not hold or another run took the lock over.
    fn may_commit(&self, job: &JobPlan, run_id: &str, quality: &[RuleResult]) -> Result<()> {
        let failed: Vec<String> = quality
            .iter()
            .filter(|r| !r.passed && r.on_fail == OnFail::Fail)
            .map(|r| format!("`{}` on `{}` ({})", r.name, r.step, r.observed))
            .collect();
        if !failed.is_empty() {
            return Err(JobError::Quality(failed.join("; ")));
        }
        for r in quality.iter().filter(|r| !r.passed) {
            tracing::warn!(rule = %r.name, step = %r.step, observed = %r.observed, "quality rule failed (warn only)");
        }
        if !crate::state::holds_lock(&self.catalog, job.name(), run_id)? {
            return Err(JobError::LockLost {
                job: job.name().to_string(),
            });
        }
        Ok(())
    }

    /// Records a sink's destination as a catalog table (create or update).
    async fn update_table(
        &self,
        session: &sluice_engine::SluiceSession,
        sink: &Sink,
        table: &str,
    ) -> Result<String> {
        let recorded = sluice_catalog::record_destination(&self.catalog, session, &sink.location, table)
            .await
            .map_err(|e| match e {
                sluice_catalog::CatalogError::Engine(e) => {
                    JobError::engine(format!("listing sink `{}` for the catalog", sink.path), e)
                }
                other => other.into(),
            })?;
        Ok(recorded.to_string())
    }
}

/// `work`, unless `deadline` passes first.
async fn within<F: Future>(
    deadline: Option<Instant>,
    work: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    match deadline {
        None => Ok(work.await),
        Some(deadline) => {
            tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), work).await
        }
    }
}

fn timeout(job: &JobPlan) -> JobError {
    JobError::Timeout {
        job: job.name().to_string(),
        timeout: job
            .timeout
            .as_ref()
            .map(|t| t.written.clone())
            .unwrap_or_default(),
    }
}

/// What a sink's Delta commit records of the job: its name and the quality rules it passed.
fn commit_info(job: &JobPlan, quality: &[RuleResult]) -> serde_json::Map<String, serde_json::Value> {
    let mut info = serde_json::Map::new();
    info.insert("sluiceJob".into(), serde_json::json!(job.name()));
    info.insert(
        "sluiceQuality".into(),
        serde_json::to_value(quality).unwrap_or_default(),
    );
    info
}

fn sink_record(sink: &Sink, report: CommitReport) -> SinkRecord {
    let partitions: BTreeSet<String> = report
        .files
        .iter()
        .filter(|f| !f.partition_values.is_empty())
        .filter_map(|f| f.path.rsplit_once('/').map(|(dir, _)| dir.to_string()))
        .collect();
    SinkRecord {
        from: sink.from.clone(),
        path: sink.path.clone(),
        mode: report.mode.to_string(),
        commit: report.commit,
        rows: report.rows,
        bytes: report.bytes,
        files: report.files.len(),
        partitions: partitions.into_iter().collect(),
        replaced_files: report.replaced_files,
        table: sink.table.clone(),
        table_change: None,
    }
}
