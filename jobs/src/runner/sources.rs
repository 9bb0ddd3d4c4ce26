//! Opening a job's sources (catalog tables or paths, bookmarked or not) and planning its steps as
//! views over them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use datafusion::dataframe::DataFrame;
use sluice_engine::readers::guard::{BadRecordPolicy, BadRecordSpec, BadRecords};
use sluice_engine::readers::{DataFile, TableFiles, build_table, describe_location};
use sluice_engine::writer::layout::partition_path;
use sluice_engine::{EngineError, ReadOptions, SluiceSession};

use super::Runner;
use crate::error::{JobError, Result};
use crate::plan::{Input, JobPlan, RustStep, Source, Step, StepAction};
use crate::record::{PendingFile, SourceRecord};
use crate::transform::TransformInput;

/// A source opened for one attempt.
pub(super) struct OpenedSource {
    pub record: SourceRecord,
    /// The source's bad-records policy and counts, when it has one.
    pub bad_records: Option<Arc<BadRecords>>,
    /// Store paths of the files read, to attribute scan metrics.
    pub store_paths: BTreeSet<String>,
    pub pending: Vec<PendingFile>,
    pub partitions: Vec<String>,
    pub files: Vec<String>,
}

impl Runner {
    /// Opens the sources and plans the steps in dependency order.
    pub(super) async fn prepare(
        &self,
        job: &JobPlan,
        session: &SluiceSession,
        pinned: Option<&[PendingFile]>,
    ) -> Result<Vec<OpenedSource>> {
        sluice_catalog::mount(session, &self.catalog)?;
        let mut opened = Vec::new();
        for source in &job.sources {
            match self.open_source(job, session, source, pinned).await {
                Ok(o) => opened.push(o),
                Err(JobError::Engine {
                    source: EngineError::NotFound { .. } | EngineError::NoDataFiles { .. },
                    ..
                }) if source.optional => {
                    tracing::info!(source = %source.name, "optional source has no data; left out");
                }
                Err(e) => return Err(e),
            }
        }
        for step in &job.steps {
            plan_step(job, session, step).await?;
        }
        Ok(opened)
    }

    async fn open_source(
        &self,
        job: &JobPlan,
        session: &SluiceSession,
        source: &Source,
        pinned: Option<&[PendingFile]>,
    ) -> Result<OpenedSource> {
        let context = format!("source `{}`", source.name);
        let policy = source.bad_records.clone().or_else(|| self.bad_records.clone());
        let guard = policy
            .as_ref()
            .map(BadRecordSpec::start)
            .transpose()
            .map_err(|e| JobError::engine(context.clone(), e))?;
        let (mut described, options) = self.describe(session, source, guard.clone(), &context).await?;
        let store_url = described.location.store_url().to_string();
        let full = |f: &DataFile| format!("{}{}", store_url, f.meta.location);
        let files_total = described.files.len();
        let mut pending = Vec::new();
        if source.bookmark {
            let seen = crate::state::seen_files(&self.catalog, job.name(), &source.name)?;
            described.files = new_files(std::mem::take(&mut described.files), &seen, source, pinned, &full);
            pending = described
                .files
                .iter()
                .map(|f| pending_file(&source.name, full(f), f))
                .collect();
        }
        let partitions = partitions_of(&described.files);
        let mut record = source_record(source, files_total, &described.files, partitions.len());
        record.on_bad_records = policy
            .as_ref()
            .map_or(BadRecordPolicy::Fail, |p| p.policy)
            .as_str()
            .to_string();
        let table = build_table(&described, &options).map_err(|e| JobError::engine(context.clone(), e))?;
        session
            .ctx()
            .register_table(source.key.as_str(), Arc::new(table))
            .map_err(|e| JobError::datafusion(context, e))?;
        Ok(OpenedSource {
            record,
            bad_records: guard,
            store_paths: described
                .files
                .iter()
                .map(|f| f.meta.location.to_string())
                .collect(),
            pending,
            partitions: partitions.into_iter().collect(),
            files: described.files.iter().map(full).collect(),
        })
    }

    /// The files and read options of a source: a catalog table's definition (listed again when
    /// bookmarked: new files arrive without a crawl), or a path described now.
    async fn describe(
        &self,
        session: &SluiceSession,
        source: &Source,
        guard: Option<Arc<BadRecords>>,
        context: &str,
    ) -> Result<(TableFiles, ReadOptions)> {
        let state = session.ctx().state();
        let engine = |e| JobError::engine(context, e);
        match &source.input {
            Input::Table { db, table } => {
                let def = self.catalog.find(db, table)?.ok_or_else(|| {
                    sluice_catalog::CatalogError::TableNotFound {
                        name: source.from.clone(),
                    }
                })?;
                let (described, mut options) = def.to_described(self.catalog.path())?;
                options.bad_records = guard;
                if !source.bookmark {
                    return Ok((described, options));
                }
                let mut fresh = describe_location(&state, &described.location, &options)
                    .await
                    .map_err(engine)?;
                fresh.file_schema = described.file_schema;
                Ok((fresh, options))
            }
            Input::Path { location, options } => {
                let mut options = ReadOptions::clone(options);
                options.bad_records = guard;
                let described = describe_location(&state, location, &options)
                    .await
                    .map_err(engine)?;
                Ok((described, options))
            }
        }
    }
}

/// The Hive partition folders of `files`.
fn partitions_of(files: &[DataFile]) -> BTreeSet<String> {
    files
        .iter()
        .filter(|f| !f.partition.is_empty())
        .map(|f| partition_path(f.partition.iter().map(|(k, v)| (k.as_str(), v.as_deref()))))
        .collect()
}

/// What the run records of a source before reading it.
fn source_record(source: &Source, files_total: usize, files: &[DataFile], partitions: usize) -> SourceRecord {
    SourceRecord {
        name: source.name.clone(),
        from: source.from.clone(),
        bookmark: source.bookmark,
        files_total,
        files_read: files.len(),
        bytes_read: files.iter().map(|f| f.meta.size).sum(),
        partitions_read: partitions,
        ..SourceRecord::default()
    }
}

/// The files of a bookmarked source not read before (or changed since), oldest first, at most
/// `max_files`; with `pinned`, exactly the files an earlier attempt of this run read.
fn new_files(
    files: Vec<DataFile>,
    seen: &HashMap<String, (u64, String)>,
    source: &Source,
    pinned: Option<&[PendingFile]>,
    full: &dyn Fn(&DataFile) -> String,
) -> Vec<DataFile> {
    let mut fresh: Vec<DataFile> = files
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
    if let Some(max) = source.max_files {
        fresh.truncate(max);
    }
    if let Some(pinned) = pinned {
        let keep: HashSet<&str> = pinned
            .iter()
            .filter(|p| p.source == source.name)
            .map(|p| p.path.as_str())
            .collect();
        fresh.retain(|f| keep.contains(full(f).as_str()));
    }
    fresh
}

fn pending_file(source: &str, path: String, f: &DataFile) -> PendingFile {
    PendingFile {
        source: source.to_string(),
        path,
        size: f.meta.size,
        last_modified: f.meta.last_modified.to_rfc3339(),
    }
}

/// Registers a step as a view (or, with `cache`, its computed rows).
async fn plan_step(job: &JobPlan, session: &SluiceSession, step: &Step) -> Result<()> {
    let context = format!("step `{}`", step.name);
    let df: DataFrame = match &step.action {
        StepAction::Sql(sql) => session
            .sql(sql)
            .await
            .map_err(|e| JobError::engine(context.clone(), e))?,
        StepAction::Rust(rust) => apply_transform(job, session, step, rust).await?,
    };
    let df = if step.cache {
        df.cache()
            .await
            .map_err(|e| JobError::datafusion(context.clone(), e))?
    } else {
        df
    };
    session
        .ctx()
        .register_table(step.key.as_str(), df.into_view())
        .map_err(|e| JobError::datafusion(context, e))?;
    Ok(())
}

/// Runs a Rust step's transform over its inputs (an optional source without data is left out).
async fn apply_transform(
    job: &JobPlan,
    session: &SluiceSession,
    step: &Step,
    rust: &RustStep,
) -> Result<DataFrame> {
    let failed = |message: String| JobError::Transform {
        step: step.name.clone(),
        transform: rust.name.clone(),
        message,
    };
    let ctx = session.ctx();
    let mut frames = BTreeMap::new();
    for input in &rust.inputs {
        let lower = input.to_ascii_lowercase();
        let optional = job.sources.iter().any(|s| s.optional && s.key == lower);
        if optional && !ctx.table_exist(lower.as_str()).unwrap_or(false) {
            continue;
        }
        let df = ctx
            .table(lower.as_str())
            .await
            .map_err(|e| JobError::datafusion(format!("step `{}`", step.name), e))?;
        frames.insert(input.clone(), df);
    }
    let input = TransformInput {
        ctx: ctx.clone(),
        frames,
        params: job.params.clone(),
        step: step.key.clone(),
    };
    rust.transform
        .apply(&input, &rust.args)
        .await
        .map_err(|e| failed(e.to_string()))
}
