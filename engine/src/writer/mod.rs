//! The partitioned Parquet writer every sluice write goes through (`convert`, `sql --output`, job sinks).
//!
//! ```text
//! plan ──execute each output partition concurrently──> batches
//!      ──split rows by Hive partition values──> one open Parquet file per partition value
//!           (beyond `max_open_files` per stream the rows are hashed, then if need be sorted, by
//!            partition: see `cluster`; files roll at `target_file_size`; buffered row groups
//!            flush when a stream passes its memory share; dictionaries only where values repeat)
//!      ──> files in their final `key=value/` folders ──one Delta Lake commit (`_delta_log/N.json`)──>
//!      `_SUCCESS` manifest ──> CommitReport (replaced files stay until `vacuum`)
//! ```
//!
//! File names carry the run id (`part-<stream>-<seq>-<run_id>.<codec>.parquet`), so files of two runs
//! never collide and a file is written exactly once.

mod cluster;
mod commit;
mod delta;
mod distributed;
mod encoding;
mod log;
mod merge;
mod optimize;
mod options;
mod partition;
mod stats;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use arrow::compute::SortOptions;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::expressions::col as physical_col;
use datafusion::physical_expr::{LexOrdering, PhysicalExpr, PhysicalSortExpr};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::{ExecutionPlan, Partitioning};
use futures::StreamExt;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use parquet::arrow::AsyncArrowWriter;
use parquet::file::properties::WriterProperties;
use tokio::task::JoinSet;

pub use crate::lake::layout;
pub use crate::lake::{AsOf, TableVersion, WriteMode, WrittenFile};
pub use commit::{CommitReport, vacuum};
pub(crate) use delta::delta_type;
pub(crate) use distributed::stage_distributed;
pub use distributed::{DistributedWrites, WriteExec, WriteNode, WriteQueryPlanner, WriteSpec};
pub(crate) use merge::stage_merge;
pub use optimize::OptimizeReport;
pub(crate) use optimize::optimize;
pub use options::{Codec, WriteOptions};
pub use partition::partition_folders;

/// Refuses, before anything is written, rows whose types no Delta table can hold.
pub(crate) fn check_delta_schema(schema: &arrow::datatypes::Schema, label: &str) -> Result<()> {
    delta::kernel_schema(schema, label).map(drop)
}

use crate::error::{EngineError, Result};
use crate::stores::Location;

/// Sends each partition value to one stream and sorts every stream by the partition columns, so a
/// stream has one file open at a time and each partition gets files from one stream only. The sort
/// spills to disk under the session's memory limit, which is what bounds memory for any number of
/// partitions.
fn cluster_by_partition(
    plan: Arc<dyn ExecutionPlan>,
    columns: &[String],
    sort_by: &[String],
    streams: usize,
) -> Result<Arc<dyn ExecutionPlan>> {
    let keys = physical_columns(&plan, columns, "partition-by")?;
    let repartitioned = Arc::new(RepartitionExec::try_new(
        plan,
        Partitioning::Hash(keys, streams.max(1)),
    )?);
    let all: Vec<String> = columns.iter().chain(sort_by).cloned().collect();
    sort_streams(repartitioned, &all)
}

/// Sorts every stream of `plan` by `columns` (ascending, nulls first), spilling under the memory limit.
fn sort_streams(plan: Arc<dyn ExecutionPlan>, columns: &[String]) -> Result<Arc<dyn ExecutionPlan>> {
    let keys = physical_columns(&plan, columns, "sort-by")?;
    let ordering = LexOrdering::new(
        keys.into_iter()
            .map(|k| PhysicalSortExpr::new(k, SortOptions::default())),
    )
    .expect("sort columns are not empty");
    Ok(Arc::new(
        SortExec::new(ordering, plan).with_preserve_partitioning(true),
    ))
}

fn physical_columns(
    plan: &Arc<dyn ExecutionPlan>,
    columns: &[String],
    option: &str,
) -> Result<Vec<Arc<dyn PhysicalExpr>>> {
    let schema = plan.schema();
    columns
        .iter()
        .map(|c| physical_col(c, &schema).map_err(|_| EngineError::unknown_column(option, c, &schema)))
        .collect()
}

/// Environment variable naming a point where the writer aborts the process, for crash tests:
/// `after-marker`, `mid-data`, `after-data`, `before-commit`, `after-commit`, `after-delete`,
/// `after-success`.
pub const SLUICE_FAULT_POINT: &str = "SLUICE_FAULT_POINT";

/// Aborts the process when `SLUICE_FAULT_POINT` names `point` (crash tests only).
pub(crate) fn fault_point(point: &str) {
    static CONFIGURED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let configured = CONFIGURED.get_or_init(|| std::env::var(SLUICE_FAULT_POINT).ok());
    if configured.as_deref() == Some(point) {
        tracing::error!(point, "fault point reached; aborting");
        std::process::abort();
    }
}

/// Writes a plan's output as (optionally Hive-partitioned) Parquet and commits it.
#[derive(Debug)]
pub struct PartitionedWriter {
    store: Arc<dyn ObjectStore>,
    dest: Location,
    options: WriteOptions,
    run_id: String,
}

impl PartitionedWriter {
    /// A writer to `dest` on `store`; `run_id` names the files and the commit.
    pub fn new(
        store: Arc<dyn ObjectStore>,
        dest: Location,
        options: WriteOptions,
        run_id: impl Into<String>,
    ) -> Self {
        Self {
            store,
            dest: dest.as_folder(),
            options,
            run_id: run_id.into(),
        }
    }

    /// Runs `plan`, writes its rows and commits them. On failure nothing new is part of the table
    /// and this run's files are deleted; a run id committed before returns its report again.
    pub async fn write(
        self,
        plan: Arc<dyn ExecutionPlan>,
        task_ctx: Arc<TaskContext>,
    ) -> Result<CommitReport> {
        match self.stage(plan, task_ctx).await? {
            Staged::Committed(report) => Ok(report),
            Staged::Pending(pending) => pending.commit().await,
        }
    }

    /// Settles the partition columns (the table's, when the write names none) and orders the rows
    /// for them: the layout, the plan to run, and whether it is sorted or clustered adaptively.
    fn shape(
        &mut self,
        committer: &commit::Committer,
        plan: Arc<dyn ExecutionPlan>,
        task_ctx: &TaskContext,
    ) -> Result<(partition::Layout, Arc<dyn ExecutionPlan>, bool, bool)> {
        self.options.partition_by = committer.partition_by(&self.options.partition_by, self.options.mode)?;
        let layout = partition::Layout::try_new(
            &plan.schema(),
            &self.options.partition_by,
            self.options.keep_partition_columns,
        )?;
        let partitioned = !self.options.partition_by.is_empty();
        let sorted = partitioned && self.options.cluster && !self.options.sort_by.is_empty();
        let adaptive = partitioned && self.options.cluster && self.options.sort_by.is_empty();
        let plan = if sorted {
            let streams = task_ctx.session_config().target_partitions();
            cluster_by_partition(plan, &self.options.partition_by, &self.options.sort_by, streams)?
        } else if !self.options.sort_by.is_empty() {
            sort_streams(plan, &self.options.sort_by)?
        } else {
            plan
        };
        Ok((layout, plan, sorted, adaptive))
    }

    /// Runs `plan` and writes its rows without committing them: readers do not see the files until
    /// [`PendingCommit::commit`]; [`PendingCommit::abort`] (or a later write's orphan cleanup, if the
    /// process dies) deletes them. Lets a job check its output and write several sinks before any of
    /// them becomes visible.
    pub async fn stage(mut self, plan: Arc<dyn ExecutionPlan>, task_ctx: Arc<TaskContext>) -> Result<Staged> {
        let schema = plan.schema();
        let committer = match commit::Committer::start(
            Arc::clone(&self.store),
            self.dest.clone(),
            self.run_id.clone(),
            self.options.mode,
        )
        .await?
        {
            commit::Start::Done(report) => return Ok(Staged::Committed(report)),
            commit::Start::Ready(committer) => *committer,
        };
        let (layout, plan, sorted, adaptive) = match self.shape(&committer, plan, &task_ctx) {
            Ok(shaped) => shaped,
            Err(e) => {
                committer.abort(Vec::new()).await;
                return Err(e);
            }
        };
        let executed = Arc::clone(&plan);
        let streams = plan.properties().output_partitioning().partition_count().max(1);
        let target = FileTarget {
            store: Arc::clone(&self.store),
            root: self.dest.store_path(),
            run_id: self.run_id.clone(),
            attempt: String::new(),
        };
        let shared = match StreamShared::new(target, &self.options, layout, Arc::clone(&schema), streams) {
            Ok(shared) => Arc::new(shared),
            Err(e) => {
                committer.abort(Vec::new()).await;
                return Err(e);
            }
        };
        // Streams that meet too many partition values hand their rows to this (see `cluster`).
        let rerouter = adaptive.then(|| {
            cluster::Rerouter::new(
                cluster::Step::Hash,
                Arc::clone(&schema),
                self.options.partition_by.clone(),
                streams,
                Arc::clone(&task_ctx),
            )
        });
        let mut tasks = JoinSet::new();
        let mut failure = None;
        for i in 0..streams {
            match plan.execute(i, Arc::clone(&task_ctx)) {
                Ok(stream) => {
                    let shared = Arc::clone(&shared);
                    let reroute = rerouter.as_ref().and_then(|r| r.reroute(i));
                    tasks.spawn(async move { write_stream(shared, i, stream, sorted, reroute).await });
                }
                Err(e) => {
                    failure = Some(EngineError::from(e));
                    break;
                }
            }
        }
        if let Some(rerouter) = rerouter {
            rerouter.close_unclaimed();
        }
        if failure.is_some() {
            shared.cancelled.store(true, Ordering::Relaxed);
        }
        let mut written = Vec::new();
        join_writers(tasks, &shared, &mut written, &mut failure).await;
        drop(shared);
        if let Some(e) = failure {
            committer
                .abort(written.into_iter().map(|f| f.path).collect())
                .await;
            return Err(e);
        }
        fault_point("after-data");
        Ok(Staged::Pending(PendingCommit {
            committer: Box::new(committer),
            companion: None,
            merge: None,
            info: serde_json::Map::new(),
            plan: executed,
            files: written,
            mode: self.options.mode,
            partition_by: self.options.partition_by,
            schema,
        }))
    }
}

/// Waits for the input streams' writers and then for the writers of clustered rows they started
/// (which may start further writers), collecting their files and the first real error.
async fn join_writers(
    mut tasks: JoinSet<StreamOutcome>,
    shared: &StreamShared,
    written: &mut Vec<WrittenFile>,
    failure: &mut Option<EngineError>,
) {
    join_streams(&mut tasks, shared, written, failure).await;
    loop {
        let mut writers = std::mem::take(&mut *lock(&shared.spawned));
        if writers.is_empty() {
            break;
        }
        join_streams(&mut writers, shared, written, failure).await;
    }
}

/// Waits for writing streams, collecting their files and the first real error.
async fn join_streams(
    tasks: &mut JoinSet<StreamOutcome>,
    shared: &StreamShared,
    written: &mut Vec<WrittenFile>,
    failure: &mut Option<EngineError>,
) {
    while let Some(joined) = tasks.join_next().await {
        let outcome = match joined {
            Ok(outcome) => outcome,
            Err(e) => StreamOutcome {
                files: Vec::new(),
                error: Some(EngineError::DataFusion(
                    datafusion::error::DataFusionError::ExecutionJoin(Box::new(e)),
                )),
            },
        };
        written.extend(outcome.files);
        if let Some(e) = outcome.error {
            shared.cancelled.store(true, Ordering::Relaxed);
            if !matches!(e, EngineError::Cancelled) {
                failure.get_or_insert(e);
            }
        }
    }
}

/// The outcome of [`PartitionedWriter::stage`].
#[derive(Debug)]
pub enum Staged {
    /// The run id had committed to this destination before; nothing was written again.
    Committed(CommitReport),
    /// Files are written and wait for their commit.
    Pending(PendingCommit),
}

/// Files written by a run that no commit names yet.
pub struct PendingCommit {
    committer: Box<commit::Committer>,
    /// A merge's rewrite, written under a run of its own whose in-flight marker lasts until the commit.
    companion: Option<Box<commit::Committer>>,
    merge: Option<merge::MergeCheck>,
    info: serde_json::Map<String, serde_json::Value>,
    plan: Arc<dyn ExecutionPlan>,
    files: Vec<WrittenFile>,
    mode: WriteMode,
    partition_by: Vec<String>,
    schema: SchemaRef,
}

impl std::fmt::Debug for PendingCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingCommit")
            .field("files", &self.files.len())
            .field("mode", &self.mode)
            .finish()
    }
}

impl PendingCommit {
    /// Files written elsewhere (by a cluster's tasks) that `committer` commits.
    fn from_parts(
        committer: commit::Committer,
        files: Vec<WrittenFile>,
        options: &WriteOptions,
        schema: SchemaRef,
        plan: Arc<dyn ExecutionPlan>,
    ) -> Self {
        Self {
            committer: Box::new(committer),
            companion: None,
            merge: None,
            info: serde_json::Map::new(),
            plan,
            files,
            mode: options.mode,
            partition_by: options.partition_by.clone(),
            schema,
        }
    }

    /// The files waiting for the commit.
    pub fn files(&self) -> &[WrittenFile] {
        &self.files
    }

    /// The plan that produced the rows, executed: its metrics say what each scan read.
    pub fn executed_plan(&self) -> &Arc<dyn ExecutionPlan> {
        &self.plan
    }

    /// Adds fields to the commit's `commitInfo` (a job's name and quality results, say); keys
    /// should start with `sluice` to stay apart from Delta's own.
    pub fn with_commit_info(mut self, info: serde_json::Map<String, serde_json::Value>) -> Self {
        self.info.extend(info);
        self
    }

    /// Makes the files part of the table (the commit point) and returns what was written.
    pub async fn commit(self) -> Result<CommitReport> {
        let committed = self
            .committer
            .commit(
                self.mode,
                self.files,
                &self.partition_by,
                &self.schema,
                self.info,
                self.merge.as_ref(),
            )
            .await;
        // Either way its files are now the commit's (or orphans the next write deletes).
        if let Some(companion) = self.companion {
            companion.release().await;
        }
        committed
    }

    /// Deletes the staged files; the destination stays as it was.
    pub async fn abort(self) {
        let paths: Vec<String> = self.files.into_iter().map(|f| f.path).collect();
        if let Some(companion) = self.companion {
            companion.release().await;
        }
        self.committer.abort(paths).await;
    }

    /// Lets go of the staged files without deleting them or committing (their run's marker goes).
    async fn release(self) {
        self.committer.release().await;
    }

    /// Turns the staged rows into a compaction of the files `check` removes (no rows change).
    fn with_compaction(mut self, check: merge::MergeCheck) -> Self {
        self.info.insert("sluiceMode".into(), "optimize".into());
        self.merge = Some(check);
        self
    }

    /// Turns the staged incoming rows into a merge: `rewritten` (the kept rows of the matched
    /// files) joins the commit, which removes the matched files.
    fn with_merge(mut self, check: merge::MergeCheck, rewritten: Option<PendingCommit>) -> Self {
        let incoming: u64 = self.files.iter().map(|f| f.rows).sum();
        self.info
            .insert("sluiceRowsUpdated".into(), check.rows_updated.into());
        self.info.insert(
            "sluiceRowsInserted".into(),
            incoming.saturating_sub(check.rows_updated).into(),
        );
        if let Some(rewritten) = rewritten {
            self.files.extend(rewritten.files);
            self.companion = Some(rewritten.committer);
        }
        self.merge = Some(check);
        self
    }
}

/// Where a write's files go and how they are named.
struct FileTarget {
    store: Arc<dyn ObjectStore>,
    /// The destination folder on `store`.
    root: object_store::path::Path,
    run_id: String,
    /// Set apart the files of one task attempt on a cluster (`.t<attempt>` after the run id);
    /// empty locally.
    attempt: String,
}

struct StreamShared {
    store: Arc<dyn ObjectStore>,
    root: object_store::path::Path,
    run_id: String,
    attempt: String,
    /// The properties the options ask for; `props` adds the dictionary choices made from the first
    /// batch any stream sees.
    base_props: WriterProperties,
    props: OnceLock<WriterProperties>,
    layout: partition::Layout,
    file_schema: SchemaRef,
    target_file_size: usize,
    max_open_files: usize,
    buffer_bytes: usize,
    codec_tag: &'static str,
    cancelled: AtomicBool,
    /// The number of the next writing stream (file names carry it).
    next_stream: AtomicUsize,
    /// Writers started for clustered rows, joined after the input streams.
    spawned: Mutex<JoinSet<StreamOutcome>>,
}

/// Starts a writer for `stream` (rows a clustering plan produced), joined by the write at the end.
fn spawn_writer(
    shared: &Arc<StreamShared>,
    stream: SendableRecordBatchStream,
    sorted: bool,
    reroute: Option<cluster::Reroute>,
) {
    let stream_no = shared.next_stream.fetch_add(1, Ordering::Relaxed);
    let task = write_stream(Arc::clone(shared), stream_no, stream, sorted, reroute);
    lock(&shared.spawned).spawn(task);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl StreamShared {
    /// What `streams` writing streams of one write share.
    fn new(
        target: FileTarget,
        options: &WriteOptions,
        layout: partition::Layout,
        schema: SchemaRef,
        streams: usize,
    ) -> Result<Self> {
        Ok(Self {
            store: target.store,
            root: target.root,
            run_id: target.run_id,
            attempt: target.attempt,
            base_props: options.properties(&layout.data_schema(&schema))?,
            props: OnceLock::new(),
            layout,
            file_schema: schema,
            target_file_size: options.target_file_size,
            max_open_files: options.max_open_files,
            buffer_bytes: (options.buffer_bytes / streams).max(1024 * 1024),
            codec_tag: options.codec.file_tag(),
            cancelled: AtomicBool::new(false),
            next_stream: AtomicUsize::new(streams),
            spawned: Mutex::new(JoinSet::new()),
        })
    }

    /// The writer properties, settled from `first` (the data columns of a batch) when no stream has
    /// settled them yet.
    fn props(&self, first: &RecordBatch) -> &WriterProperties {
        self.props
            .get_or_init(|| encoding::tuned(&self.base_props, first))
    }
}

/// Rows a file gathers before they go to its Parquet writer together: when many partitions share a
/// batch, each gets a few rows per batch, and writing them one small slice at a time costs more
/// than copying them into one batch first.
const GATHER_ROWS: usize = 8192;

struct OpenFile {
    writer: AsyncArrowWriter<BufWriter>,
    relative: String,
    partition_values: Vec<Option<String>>,
    rows: u64,
    last_used: u64,
    /// Rows waiting to be written, fewer than [`GATHER_ROWS`] together.
    gathered: Vec<RecordBatch>,
    gathered_rows: usize,
    gathered_bytes: usize,
}

impl OpenFile {
    /// Adds rows to the file: gathered while small, written once there are enough.
    async fn add(&mut self, rows: RecordBatch) -> Result<()> {
        self.rows += rows.num_rows() as u64;
        if rows.num_rows() >= GATHER_ROWS && self.gathered.is_empty() {
            return self.write(&rows).await;
        }
        self.gathered_rows += rows.num_rows();
        self.gathered_bytes += rows.get_array_memory_size();
        self.gathered.push(rows);
        if self.gathered_rows >= GATHER_ROWS {
            self.write_gathered().await?;
        }
        Ok(())
    }

    /// Writes the gathered rows as one batch.
    async fn write_gathered(&mut self) -> Result<()> {
        let batch = match self.gathered.len() {
            0 => return Ok(()),
            1 => self.gathered.pop().expect("one batch"),
            _ => arrow::compute::concat_batches(&self.gathered[0].schema(), &self.gathered)
                .map_err(datafusion::error::DataFusionError::from)?,
        };
        self.gathered.clear();
        self.gathered_rows = 0;
        self.gathered_bytes = 0;
        self.write(&batch).await
    }

    async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer
            .write(batch)
            .await
            .map_err(|source| EngineError::Parquet {
                path: self.relative.clone(),
                source,
            })
    }

    /// Bytes held in memory: gathered rows and the row group in progress (its encoded pages and the
    /// encoders' buffers).
    fn buffered(&self) -> usize {
        self.gathered_bytes + self.writer.memory_size()
    }
}

/// What one stream produced: its finished files, and the error that stopped it, if any.
struct StreamOutcome {
    files: Vec<WrittenFile>,
    error: Option<EngineError>,
}

/// Bytes an object-store writer buffers before it starts a multipart upload (S3's minimum part is
/// 5 MiB); files below it are written with one PUT.
const UPLOAD_BUFFER: usize = 8 * 1024 * 1024;

/// Writes one input stream into its own set of files.
///
/// `sorted`: rows arrive sorted by partition, so a partition never comes back once another starts.
/// `reroute`: where the stream sends its rows once it meets too many partitions.
async fn write_stream(
    shared: Arc<StreamShared>,
    stream_no: usize,
    stream: SendableRecordBatchStream,
    sorted: bool,
    reroute: Option<cluster::Reroute>,
) -> StreamOutcome {
    let mut state = StreamState {
        open: HashMap::new(),
        done: Vec::new(),
        seq: 0,
        tick: 0,
    };
    let result = state.run(&shared, stream_no, stream, sorted, reroute).await;
    if result.is_err() {
        shared.cancelled.store(true, Ordering::Relaxed);
    }
    match result {
        Ok(()) => StreamOutcome {
            files: state.done,
            error: None,
        },
        Err(e) => {
            for (_, file) in state.open.drain() {
                let mut sink = file.writer.into_inner();
                if let Err(abort) = sink.abort().await {
                    tracing::warn!(file = %file.relative, error = %abort, "could not abort an unfinished upload");
                }
            }
            StreamOutcome {
                files: state.done,
                error: Some(e),
            }
        }
    }
}

struct StreamState {
    open: HashMap<String, OpenFile>,
    done: Vec<WrittenFile>,
    seq: usize,
    tick: u64,
}

impl StreamState {
    async fn run(
        &mut self,
        shared: &Arc<StreamShared>,
        stream_no: usize,
        mut stream: SendableRecordBatchStream,
        sorted: bool,
        mut reroute: Option<cluster::Reroute>,
    ) -> Result<()> {
        let data_schema: SchemaRef = shared.layout.data_schema(&shared.file_schema);
        while let Some(batch) = stream.next().await {
            if shared.cancelled.load(Ordering::Relaxed) {
                return Err(EngineError::Cancelled);
            }
            let batch = batch?;
            if batch.num_rows() == 0 {
                continue;
            }
            if shared.props.get().is_none() {
                shared.props(&shared.layout.data_columns(&batch)?);
            }
            let slices = shared.layout.split(&batch)?;
            if let Some(reroute) = reroute.as_mut() {
                let new = slices.iter().filter(|s| !self.open.contains_key(&s.dir)).count();
                if self.open.len() + new > shared.max_open_files {
                    let open: Vec<OpenFile> = self.open.drain().map(|(_, f)| f).collect();
                    for file in open {
                        self.finish(file).await?;
                    }
                    reroute.start(shared)?;
                    reroute.send(batch).await?;
                    while let Some(batch) = stream.next().await {
                        if shared.cancelled.load(Ordering::Relaxed) {
                            return Err(EngineError::Cancelled);
                        }
                        let batch = batch?;
                        if batch.num_rows() > 0 {
                            reroute.send(batch).await?;
                        }
                    }
                    return Ok(());
                }
            }
            for partition::PartitionSlice { dir, values, rows } in slices {
                self.tick += 1;
                if !self.open.contains_key(&dir) {
                    if sorted {
                        let done: Vec<OpenFile> = self.open.drain().map(|(_, f)| f).collect();
                        for file in done {
                            self.finish(file).await?;
                        }
                    }
                    if self.open.len() >= shared.max_open_files {
                        self.close_least_recent().await?;
                    }
                    let name = format!(
                        "part-{stream_no:05}-{:05}-{}{}.{}.parquet",
                        self.seq, shared.run_id, shared.attempt, shared.codec_tag
                    );
                    let relative = if dir.is_empty() {
                        name
                    } else {
                        format!("{dir}/{name}")
                    };
                    self.seq += 1;
                    let path = crate::lake::log::child_path(&shared.root, &relative)?;
                    let sink = BufWriter::with_capacity(Arc::clone(&shared.store), path, UPLOAD_BUFFER);
                    let writer = AsyncArrowWriter::try_new(
                        sink,
                        Arc::clone(&data_schema),
                        Some(shared.props(&rows).clone()),
                    )
                    .map_err(|source| EngineError::Parquet {
                        path: relative.clone(),
                        source,
                    })?;
                    self.open.insert(
                        dir.clone(),
                        OpenFile {
                            writer,
                            relative,
                            partition_values: values,
                            rows: 0,
                            last_used: self.tick,
                            gathered: Vec::new(),
                            gathered_rows: 0,
                            gathered_bytes: 0,
                        },
                    );
                }
                let file = self.open.get_mut(&dir).expect("inserted above");
                file.last_used = self.tick;
                crate::progress::io().rows(rows.num_rows() as u64);
                file.add(rows).await?;
                if file.writer.bytes_written() + file.writer.in_progress_size() >= shared.target_file_size {
                    let file = self.open.remove(&dir).expect("present");
                    self.finish(file).await?;
                }
            }
            self.flush_over_budget(shared.buffer_bytes).await?;
        }
        let open: Vec<OpenFile> = self.open.drain().map(|(_, f)| f).collect();
        for file in open {
            self.finish(file).await?;
        }
        Ok(())
    }

    /// Flushes the largest buffered row groups until the stream is within its memory share.
    async fn flush_over_budget(&mut self, budget: usize) -> Result<()> {
        let mut buffered: usize = self.open.values().map(OpenFile::buffered).sum();
        while buffered > budget {
            let Some(biggest) = self.open.values_mut().max_by_key(|f| f.buffered()) else {
                break;
            };
            let size = biggest.buffered();
            if size == 0 {
                break;
            }
            biggest.write_gathered().await?;
            biggest
                .writer
                .flush()
                .await
                .map_err(|source| EngineError::Parquet {
                    path: biggest.relative.clone(),
                    source,
                })?;
            buffered -= size;
        }
        Ok(())
    }

    async fn close_least_recent(&mut self) -> Result<()> {
        let Some(key) = self
            .open
            .iter()
            .min_by_key(|(_, f)| f.last_used)
            .map(|(k, _)| k.clone())
        else {
            return Ok(());
        };
        let file = self.open.remove(&key).expect("key taken from the map");
        self.finish(file).await
    }

    async fn finish(&mut self, mut file: OpenFile) -> Result<()> {
        file.write_gathered().await?;
        let OpenFile {
            mut writer,
            relative,
            partition_values,
            rows,
            ..
        } = file;
        let footer = writer.finish().await.map_err(|source| EngineError::Parquet {
            path: relative.clone(),
            source,
        })?;
        let bytes = writer.bytes_written() as u64;
        crate::progress::io().file(bytes);
        self.done.push(WrittenFile {
            path: relative,
            partition_values,
            rows,
            bytes,
            stats: Some(stats::delta_stats(&footer, rows)),
        });
        if self.done.len() == 1 {
            fault_point("mid-data");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::basic::{Compression, ZstdLevel};

    #[test]
    fn codecs_parse_with_levels_and_zstd_defaults_to_level_3() {
        assert_eq!(Codec::default(), Codec::Zstd(3));
        assert_eq!(
            Codec::default().parquet(),
            Compression::ZSTD(ZstdLevel::try_new(3).unwrap())
        );
        assert_eq!("ZSTD(9)".parse::<Codec>().unwrap(), Codec::Zstd(9));
        assert_eq!("gzip".parse::<Codec>().unwrap(), Codec::Gzip(6));
        assert_eq!("lz4_raw".parse::<Codec>().unwrap(), Codec::Lz4);
        for bad in ["zstd(0)", "zstd(23)", "snappy(1)", "brotli", "gzip(x)"] {
            assert!(bad.parse::<Codec>().is_err(), "{bad}");
        }
    }
    use datafusion::prelude::SessionContext;
    use futures::TryStreamExt;
    use object_store::memory::InMemory;

    async fn plan(ctx: &SessionContext) -> Arc<dyn ExecutionPlan> {
        let df = ctx
            .sql("SELECT * FROM (VALUES (1, 'a'), (2, 'b'), (3, NULL)) AS t(id, p)")
            .await
            .unwrap();
        df.create_physical_plan().await.unwrap()
    }

    async fn data_files(store: &Arc<dyn ObjectStore>) -> usize {
        let listed: Vec<_> = store.list(None).try_collect().await.unwrap();
        listed
            .iter()
            .filter(|m| m.location.as_ref().ends_with(".parquet"))
            .count()
    }

    /// `n` rows over `parts` partition values, spread over `streams` input streams.
    async fn spread(ctx: &SessionContext, n: usize, parts: usize) -> Arc<dyn ExecutionPlan> {
        let df = ctx
            .sql(&format!(
                "SELECT v AS id, CAST(v % {parts} AS VARCHAR) AS p FROM unnest(range({n})) AS t(v)"
            ))
            .await
            .unwrap();
        let plan = df.create_physical_plan().await.unwrap();
        Arc::new(RepartitionExec::try_new(plan, Partitioning::RoundRobinBatch(3)).unwrap())
    }

    fn files_per_partition(report: &CommitReport) -> HashMap<String, usize> {
        let mut per = HashMap::new();
        for f in &report.files {
            let dir = f
                .path
                .rsplit_once('/')
                .map(|(d, _)| d.to_string())
                .unwrap_or_default();
            *per.entry(dir).or_insert(0) += 1;
        }
        per
    }

    /// Writes `n` rows over `parts` partitions from 3 streams, at most 4 open files per stream.
    async fn write_spread(n: usize, parts: usize) -> CommitReport {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let ctx =
            SessionContext::new_with_config(datafusion::prelude::SessionConfig::new().with_batch_size(100));
        let dest = Location::parse("memory:///t/").unwrap();
        let options = WriteOptions::new()
            .with_partition_by(vec!["p".into()])
            .with_max_open_files(4);
        PartitionedWriter::new(store, dest, options, "r")
            .write(spread(&ctx, n, parts).await, ctx.task_ctx())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn few_partitions_are_written_without_clustering() {
        let report = write_spread(3000, 4).await;
        assert_eq!((report.rows, report.partitions), (3000, 4));
        let per = files_per_partition(&report);
        assert_eq!(per.len(), 4);
        assert!(
            per.values().all(|&n| n == 3),
            "each of the 3 streams kept one file per partition: {per:?}"
        );
    }

    #[tokio::test]
    async fn partitions_a_stream_cannot_keep_open_are_hashed_to_one_file_each() {
        // 9 values: more than one stream may keep open (4), so every stream hands its rows on;
        // hashed over 3 writers, each value gets exactly one writer and one file.
        let report = write_spread(3000, 9).await;
        assert_eq!((report.rows, report.partitions), (3000, 9));
        let per = files_per_partition(&report);
        assert_eq!(per.len(), 9);
        assert!(per.values().all(|&n| n == 1), "{per:?}");
        assert_eq!(report.files.iter().map(|f| f.rows).sum::<u64>(), 3000);
    }

    #[tokio::test]
    async fn many_partitions_are_clustered_into_about_one_file_each() {
        let report = write_spread(30_000, 500).await;
        assert_eq!((report.rows, report.partitions), (30_000, 500));
        let per = files_per_partition(&report);
        assert_eq!(per.len(), 500);
        assert!(
            per.values().all(|&n| n == 1),
            "every stream met more than 4 partitions in its first batch, so all rows were clustered: {:?}",
            per.values().max()
        );
        let rows: u64 = report.files.iter().map(|f| f.rows).sum();
        assert_eq!(rows, 30_000);
    }

    #[tokio::test]
    async fn a_committed_run_id_is_never_committed_twice() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let ctx = SessionContext::new();
        let dest = Location::parse("memory:///t/").unwrap();
        let options = WriteOptions::new()
            .with_partition_by(vec!["p".into()])
            .with_mode(WriteMode::Append);
        let write =
            |run: &str| PartitionedWriter::new(Arc::clone(&store), dest.clone(), options.clone(), run);
        let first = write("run-1")
            .write(plan(&ctx).await, ctx.task_ctx())
            .await
            .unwrap();
        assert!(!first.already_committed);
        assert_eq!((first.rows, first.partitions, first.commit), (3, 3, 0));
        let again = write("run-1")
            .write(plan(&ctx).await, ctx.task_ctx())
            .await
            .unwrap();
        assert!(again.already_committed);
        let without_stats = |files: &[WrittenFile]| -> Vec<WrittenFile> {
            files
                .iter()
                .map(|f| WrittenFile {
                    stats: None,
                    ..f.clone()
                })
                .collect()
        };
        assert_eq!(without_stats(&again.files), without_stats(&first.files));
        assert_eq!(
            data_files(&store).await,
            first.files.len(),
            "the retry wrote nothing"
        );
    }

    #[tokio::test]
    async fn a_commit_whose_answer_was_lost_is_not_appended_twice() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let ctx = SessionContext::new();
        let dest = Location::parse("memory:///t/").unwrap();
        let options = WriteOptions::new().with_mode(WriteMode::Overwrite);
        let staged = PartitionedWriter::new(Arc::clone(&store), dest.clone(), options, "r1")
            .stage(plan(&ctx).await, ctx.task_ctx())
            .await
            .unwrap();
        let Staged::Pending(pending) = staged else {
            panic!("nothing was committed yet")
        };
        // The conditional put landed, but the writer never heard back.
        let log = crate::lake::log::CommitLog::new(Arc::clone(&store), &dest);
        let added = pending
            .files()
            .iter()
            .map(|f| crate::lake::LiveFile {
                path: f.path.clone(),
                size: f.bytes,
                partition_values: Default::default(),
                rows: Some(f.rows),
                modified_ms: None,
            })
            .collect();
        let landed = delta::Commit {
            run_id: "r1",
            mode: WriteMode::Overwrite,
            partition_by: &[],
            schema: &pending.schema,
            added,
            stats: Default::default(),
            removed: Vec::new(),
            info: Default::default(),
            compaction: None,
        };
        let before = log.load().await.unwrap();
        assert_eq!(log.try_commit(&before, &landed).await.unwrap(), Some(0));
        let report = pending.commit().await.unwrap();
        assert_eq!(report.commit, 0);
        let snapshot = log.load().await.unwrap();
        assert_eq!(snapshot.delta.as_ref().unwrap().version, 0, "no second commit");
        assert_eq!(
            snapshot.live.len(),
            data_files(&store).await,
            "no file of the run was deleted"
        );
    }

    #[tokio::test]
    async fn concurrent_appends_each_get_their_own_commit() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let ctx = SessionContext::new();
        let dest = Location::parse("memory:///t/").unwrap();
        let options = WriteOptions::new().with_mode(WriteMode::Append);
        let (p1, p2, p3) = (plan(&ctx).await, plan(&ctx).await, plan(&ctx).await);
        let w = |run: &str| PartitionedWriter::new(Arc::clone(&store), dest.clone(), options.clone(), run);
        let (a, b, c) = tokio::join!(
            w("a").write(p1, ctx.task_ctx()),
            w("b").write(p2, ctx.task_ctx()),
            w("c").write(p3, ctx.task_ctx())
        );
        let mut commits = vec![a.unwrap().commit, b.unwrap().commit, c.unwrap().commit];
        commits.sort();
        assert_eq!(commits, vec![0, 1, 2]);
        let log = crate::lake::log::CommitLog::new(Arc::clone(&store), &dest);
        assert_eq!(log.load().await.unwrap().live.len(), data_files(&store).await);
    }

    #[tokio::test]
    async fn an_overwrite_replaces_old_files_in_one_commit_and_keeps_them_for_older_readers() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let ctx = SessionContext::new();
        let dest = Location::parse("memory:///t/").unwrap();
        let w = |run: &str, mode| {
            PartitionedWriter::new(
                Arc::clone(&store),
                dest.clone(),
                WriteOptions::new().with_mode(mode),
                run,
            )
        };
        let first = w("one", WriteMode::Overwrite)
            .write(plan(&ctx).await, ctx.task_ctx())
            .await
            .unwrap();
        let second = w("two", WriteMode::Overwrite)
            .write(plan(&ctx).await, ctx.task_ctx())
            .await
            .unwrap();
        assert_eq!(second.replaced_files, first.files.len());
        let snapshot = crate::lake::log::CommitLog::new(Arc::clone(&store), &dest)
            .load()
            .await
            .unwrap();
        let live: Vec<&String> = snapshot.live.keys().collect();
        let new: Vec<&String> = second.files.iter().map(|f| &f.path).collect();
        assert_eq!(live, new);
        assert_eq!(snapshot.removed.len(), first.files.len());
        assert_eq!(
            data_files(&store).await,
            first.files.len() + second.files.len(),
            "replaced files stay until vacuum"
        );
    }
}
