//! The staging half of an attempt: every sink staged and every rule checked at once, then the
//! bad records of each source settled. Nothing is visible until the attempt commits.

use std::collections::HashMap;
use std::time::Instant;

use sluice_engine::{CommitReport, PendingCommit, SluiceSession, Staged};

use super::Runner;
use super::sources::OpenedSource;
use crate::error::{JobError, Result};
use crate::plan::{JobPlan, Sink};
use crate::quality::{Rule, RuleResult};
use crate::record::{PendingFile, SourceRecord};

/// What the staging half of an attempt produced.
pub(super) struct Staging {
    pub sources: Vec<SourceRecord>,
    pub pending: Vec<PendingFile>,
    pub staged: StagedSinks,
    pub quality: Vec<RuleResult>,
}

/// The sinks one attempt staged, by sink index: a run commits all its sinks or none.
pub(super) struct StagedSinks(Vec<(usize, Staged)>);

impl StagedSinks {
    /// Deletes what every staged sink wrote.
    pub(super) async fn abort(self) {
        for (_, s) in self.0 {
            if let Staged::Pending(pending) = s {
                pending.abort().await;
            }
        }
    }

    /// Rows each sink's plan read per file (store path → rows).
    fn scan_rows(&self) -> Vec<Vec<(String, u64)>> {
        let pending = self.0.iter().filter_map(|(_, s)| match s {
            Staged::Pending(p) => Some(p),
            Staged::Committed(_) => None,
        });
        pending
            .map(|p| {
                let mut rows = Vec::new();
                sluice_engine::readers::scan_rows(p.executed_plan(), &mut rows);
                rows
            })
            .collect()
    }

    /// Commits the sinks in order; after the first failure the rest are aborted. Returns the
    /// reports of the sinks committed and the failure.
    pub(super) async fn commit(
        mut self,
        job: &JobPlan,
        prepare: impl Fn(PendingCommit) -> PendingCommit,
    ) -> (Vec<(usize, CommitReport)>, Option<JobError>) {
        self.0.sort_by_key(|(i, _)| *i);
        let mut reports = Vec::new();
        let mut rest = self.0.into_iter();
        for (i, staged) in rest.by_ref() {
            let report = match staged {
                Staged::Committed(report) => Ok(report),
                Staged::Pending(pending) => prepare(pending).commit().await,
            };
            match report {
                Ok(report) => reports.push((i, report)),
                Err(e) => {
                    let context = format!("committing sink `{}`", job.sinks[i].path);
                    StagedSinks(rest.collect()).abort().await;
                    return (reports, Some(JobError::engine(context, e)));
                }
            }
        }
        (reports, None)
    }
}

impl Runner {
    /// Stages every sink and evaluates every rule, all at once.
    pub(super) async fn stage(
        &self,
        job: &JobPlan,
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
        let sinks = job
            .sinks
            .iter()
            .enumerate()
            .map(|(i, sink)| stage_sink(session, i, sink, run_id));
        let rules = job.rules.iter().map(|rule| check_rule(session, rule));
        let (sinks, rules) =
            futures::join!(futures::future::join_all(sinks), futures::future::join_all(rules));
        let mut first_error = None;
        let staged = StagedSinks(
            sinks
                .into_iter()
                .filter_map(|s| keep_ok(s, &mut first_error))
                .collect(),
        );
        let quality: Vec<RuleResult> = rules
            .into_iter()
            .filter_map(|r| keep_ok(r, &mut first_error))
            .collect();
        if let Some(e) = first_error {
            staged.abort().await;
            return Err(e);
        }
        let quarantined = match settle_bad_records(session, run_id, &opened).await {
            Ok(q) => q,
            Err(e) => {
                staged.abort().await;
                return Err(e);
            }
        };
        let (sources, pending) = source_records(opened, &staged.scan_rows(), quarantined);
        Ok(Staging {
            sources,
            pending,
            staged,
            quality,
        })
    }
}

fn keep_ok<T>(result: Result<T>, first_error: &mut Option<JobError>) -> Option<T> {
    result.map_err(|e| _ = first_error.get_or_insert(e)).ok()
}

/// Stages one sink: its rows written to files no reader sees yet.
async fn stage_sink(session: &SluiceSession, i: usize, sink: &Sink, run_id: &str) -> Result<(usize, Staged)> {
    let context = format!("sink {} (`{}` to `{}`)", i + 1, sink.from, sink.path);
    let span = tracing::error_span!("step", step = %sink.key);
    let work = async {
        let started = Instant::now();
        let df = session
            .ctx()
            .table(sink.key.as_str())
            .await
            .map_err(|e| JobError::datafusion(context.clone(), e))?;
        let staged = session
            .stage_parquet(df, &sink.location, sink.options.clone(), run_id)
            .await
            .map_err(|e| JobError::engine(context.clone(), e))?;
        tracing::info!(
            sink = i + 1,
            seconds = started.elapsed().as_secs_f64(),
            "sink staged"
        );
        Ok((i, staged))
    };
    tracing::Instrument::instrument(work, span).await
}

/// Checks one quality rule.
async fn check_rule(session: &SluiceSession, rule: &Rule) -> Result<RuleResult> {
    let span = tracing::error_span!("step", step = %rule.key());
    let work = async {
        let started = Instant::now();
        let result = rule.evaluate(session.ctx()).await;
        if let Ok(r) = &result {
            tracing::info!(
                rule = %r.name,
                passed = r.passed,
                seconds = started.elapsed().as_secs_f64(),
                "quality rule checked"
            );
        }
        result
    };
    tracing::Instrument::instrument(work, span).await
}

/// Bad records: a share over `max_bad_records` fails the run before anything commits; the
/// quarantine files are written first. Returns the quarantine file of each source that wrote one.
async fn settle_bad_records(
    session: &SluiceSession,
    run_id: &str,
    opened: &[OpenedSource],
) -> Result<HashMap<String, String>> {
    let mut quarantined = HashMap::new();
    for o in opened {
        let Some(guard) = &o.bad_records else { continue };
        let name = &o.record.name;
        let report = guard
            .finish(|q| session.store_for(q), &format!("{run_id}-{name}"), Some(name))
            .await
            .map_err(|e| JobError::engine(format!("source `{name}`"), e))?;
        if let Some(file) = report.quarantine_file {
            quarantined.insert(name.clone(), file);
        }
    }
    Ok(quarantined)
}

/// The run record of each source (bad-record counts, rows its scans read) and the files its
/// bookmarks remember once the run commits.
fn source_records(
    opened: Vec<OpenedSource>,
    scans: &[Vec<(String, u64)>],
    mut quarantined: HashMap<String, String>,
) -> (Vec<SourceRecord>, Vec<PendingFile>) {
    let mut pending = Vec::new();
    let mut sources = Vec::new();
    for mut o in opened {
        o.record.rows_read = scans
            .iter()
            .map(|sink| {
                let of_source = sink.iter().filter(|(path, _)| o.store_paths.contains(path));
                of_source.map(|(_, rows)| rows).sum::<u64>()
            })
            .max()
            .unwrap_or(0);
        if let Some(guard) = &o.bad_records {
            let c = guard.counts();
            o.record.records_skipped = c.skipped;
            o.record.records_quarantined = c.quarantined;
            if c.quarantined > 0 {
                o.record.quarantine_file = quarantined.remove(&o.record.name);
            }
            // Guarded scans are not DataFusion file scans: their own count of good rows.
            o.record.rows_read = c.good;
        }
        pending.extend(o.pending);
        sources.push(o.record);
    }
    (sources, pending)
}
