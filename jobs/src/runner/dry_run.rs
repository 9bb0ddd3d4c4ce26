//! `--dry-run`: what a run would read and write, without writing anything (the catalog included).

use std::collections::BTreeMap;

use datafusion::dataframe::DataFrame;

use super::Runner;
use super::sources::OpenedSource;
use crate::error::{JobError, Result};
use crate::plan::{JobPlan, Sink};
use crate::record::SourceRecord;

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

impl Runner {
    /// Validates everything and reports what a run would read and write, without writing anything
    /// (the catalog included).
    pub async fn dry_run(&self, job: &JobPlan) -> Result<DryRun> {
        let session = self.session(job.cluster(), "starting the session")?;
        let opened = self.prepare(job, &session, None).await?;
        let mut steps = Vec::new();
        for step in &job.steps {
            let df = table(&session, &step.key, &format!("step `{}`", step.name)).await?;
            steps.push(StepPlan {
                name: step.name.clone(),
                kind: step.action.kind(),
                reads: step.reads.clone(),
                columns: df
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| format!("{}: {}", f.name(), f.data_type()))
                    .collect(),
            });
        }
        let mut sinks = Vec::new();
        for (i, sink) in job.sinks.iter().enumerate() {
            sinks.push(sink_plan(&session, i, sink).await?);
        }
        Ok(DryRun {
            job: job.name().to_string(),
            params: job.params.clone(),
            sources: opened.into_iter().map(source_plan).collect(),
            steps,
            sinks,
            quality: job
                .rules
                .iter()
                .map(|r| format!("{} on {}", r.written(), r.step()))
                .collect(),
        })
    }
}

async fn table(session: &sluice_engine::SluiceSession, key: &str, context: &str) -> Result<DataFrame> {
    session
        .ctx()
        .table(key)
        .await
        .map_err(|e| JobError::datafusion(context.to_string(), e))
}

fn source_plan(o: OpenedSource) -> SourcePlan {
    SourcePlan {
        record: o.record,
        partitions: o.partitions,
        files: o.files,
    }
}

async fn sink_plan(session: &sluice_engine::SluiceSession, i: usize, sink: &Sink) -> Result<SinkPlan> {
    let context = format!("sink {} (`{}`)", i + 1, sink.path);
    let df = table(session, &sink.key, &context).await?;
    if let Some(c) = sink
        .partition_by
        .iter()
        .find(|c| df.schema().field_with_unqualified_name(c).is_err())
    {
        return Err(JobError::engine(
            context,
            sluice_engine::EngineError::unknown_column("partition_by", c, df.schema().as_arrow()),
        ));
    }
    let partitions = if sink.partition_by.is_empty() {
        Vec::new()
    } else {
        distinct_partitions(df, &sink.partition_by, &context).await?
    };
    Ok(SinkPlan {
        from: sink.from.clone(),
        path: sink.path.clone(),
        mode: sink.options.mode().to_string(),
        partitions,
        table: sink.table.clone(),
    })
}

/// Hive folder names of the distinct partition values in `df`, as the writer names them.
async fn distinct_partitions(df: DataFrame, columns: &[String], context: &str) -> Result<Vec<String>> {
    let exprs: Vec<_> = columns
        .iter()
        .map(|c| datafusion::prelude::col(format!("\"{}\"", c.replace('"', "\"\""))))
        .collect();
    let batches = async { df.select(exprs)?.distinct()?.collect().await }
        .await
        .map_err(|e| JobError::datafusion(context.to_string(), e))?;
    let folders = sluice_engine::writer::partition_folders(&batches, columns)
        .map_err(|e| JobError::engine(context.to_string(), e))?;
    Ok(folders.into_iter().collect())
}
