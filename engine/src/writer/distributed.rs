//! Writes that run where the rows are: on a cluster, each task writes its share of the output
//! straight to the destination and returns only the list of its files; the client commits them.
//!
//! ```text
//! client:    Committer::start (marker, orphans, partition columns)
//!            query ──> WriteNode ──────────────────────────────── logical plan ──> scheduler
//! scheduler: WriteNode ──WritePlanner──> WriteExec, in the same stage as the query's last
//!            operator (no shuffle, unless sort columns ask for each value in one task) ──> executors
//! executor:  WriteExec::execute(p): the partitioned writer on partition p's rows, one file per
//!            partition value it meets (sorting the rest past max_open_files values); files named
//!            part-<p>-<seq>-<run_id>.t<attempt>.<codec>.parquet; returns one row per file
//! client:    the rows ──> WrittenFile ──> PendingCommit (the one Delta commit, as locally)
//! ```
//!
//! A failed or retried task attempt deletes what it wrote; what a killed one leaves carries the
//! run id, is in no commit, and is deleted as an orphan by the next write or `sluice vacuum`.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, UInt64Array};
use arrow::compute::SortOptions;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use async_trait::async_trait;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchema, DFSchemaRef};
use datafusion::error::DataFusionError;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{
    Expr, Extension, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore,
};
use datafusion::physical_expr::expressions::col as physical_col;
use datafusion::physical_expr::{
    EquivalenceProperties, LexRequirement, OrderingRequirements, PhysicalExpr, PhysicalSortRequirement,
};
use datafusion::physical_plan::Distribution;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties};
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use datafusion::prelude::{DataFrame, SessionContext};
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use super::{
    FileTarget, PendingCommit, Staged, StreamShared, WriteOptions, WrittenFile, cluster, commit,
    join_writers, partition, write_stream,
};
use crate::error::{EngineError, Result};
use crate::stores::Location;

/// Marks a session whose queries run on a cluster: its writes run there too.
#[derive(Debug, Clone, Default)]
pub struct DistributedWrites;

impl datafusion::config::ConfigExtension for DistributedWrites {
    const PREFIX: &'static str = "sluice_distributed_writes";
}

impl datafusion::config::ExtensionOptions for DistributedWrites {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn cloned(&self) -> Box<dyn datafusion::config::ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, _value: &str) -> datafusion::error::Result<()> {
        Err(DataFusionError::Configuration(format!("no setting `{key}`")))
    }

    fn entries(&self) -> Vec<datafusion::config::ConfigEntry> {
        Vec::new()
    }
}

/// What every task of one write needs to know.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteSpec {
    /// The destination folder's URL.
    pub dest: String,
    /// The settings, partition columns settled against the table.
    pub options: WriteOptions,
    /// The run that names the files.
    pub run_id: String,
}

impl WriteSpec {
    /// The spec as bytes, for plans sent to the cluster.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a write spec serializes")
    }

    /// A spec from [`WriteSpec::encode`]'s bytes.
    pub fn decode(bytes: &[u8]) -> datafusion::error::Result<Self> {
        serde_json::from_slice(bytes)
            .map_err(|e| DataFusionError::Internal(format!("a write spec from the client: {e}")))
    }
}

/// The columns each task returns, one row per file it wrote.
fn files_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("partition_values", DataType::Utf8, false),
        Field::new("rows", DataType::UInt64, false),
        Field::new("bytes", DataType::UInt64, false),
        Field::new("stats", DataType::Utf8, true),
    ]))
}

/// The logical node that writes its input: planned by [`WritePlanner`] into [`WriteExec`].
#[derive(Debug, Clone)]
pub struct WriteNode {
    input: LogicalPlan,
    spec: WriteSpec,
    encoded: Vec<u8>,
    schema: DFSchemaRef,
}

impl WriteNode {
    /// A node writing `input` as `spec` says.
    pub fn new(input: LogicalPlan, spec: WriteSpec) -> datafusion::error::Result<Self> {
        Ok(Self {
            input,
            encoded: spec.encode(),
            spec,
            schema: Arc::new(DFSchema::try_from(files_schema())?),
        })
    }

    /// The write's spec.
    pub fn spec(&self) -> &WriteSpec {
        &self.spec
    }
}

impl PartialEq for WriteNode {
    fn eq(&self, other: &Self) -> bool {
        self.encoded == other.encoded && self.input == other.input
    }
}

impl Eq for WriteNode {}

impl PartialOrd for WriteNode {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        match self.encoded.partial_cmp(&other.encoded) {
            Some(std::cmp::Ordering::Equal) => self.input.partial_cmp(&other.input),
            order => order,
        }
    }
}

impl Hash for WriteNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.encoded.hash(state);
        self.input.hash(state);
    }
}

impl UserDefinedLogicalNodeCore for WriteNode {
    fn name(&self) -> &str {
        "SluiceWrite"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "SluiceWrite: dest={}, run={}",
            self.spec.dest, self.spec.run_id
        )
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<Expr>,
        mut inputs: Vec<LogicalPlan>,
    ) -> datafusion::error::Result<Self> {
        match (inputs.pop(), inputs.is_empty()) {
            (Some(input), true) => Self::new(input, self.spec.clone()),
            _ => Err(DataFusionError::Internal("SluiceWrite takes one input".into())),
        }
    }
}

/// Plans [`WriteNode`]s; the rest is DataFusion's.
#[derive(Debug, Default)]
struct WritePlanner;

#[async_trait]
impl ExtensionPlanner for WritePlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn Session,
        _planning_ctx: &datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext,
    ) -> datafusion::error::Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(write) = node.as_any().downcast_ref::<WriteNode>() else {
            return Ok(None);
        };
        match physical_inputs {
            [input] => Ok(Some(Arc::new(WriteExec::new(
                Arc::clone(input),
                write.spec.clone(),
            )))),
            _ => Err(DataFusionError::Internal("SluiceWrite takes one input".into())),
        }
    }
}

/// DataFusion's planner plus [`WritePlanner`]: what a scheduler plans sluice's writes with.
#[derive(Debug, Default)]
pub struct WriteQueryPlanner;

#[async_trait]
impl QueryPlanner for WriteQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(WritePlanner)])
            .create_physical_plan(logical_plan, session)
            .await
    }
}

/// Writes each input partition's rows with the partitioned writer; one output row per file.
#[derive(Debug)]
pub struct WriteExec {
    input: Arc<dyn ExecutionPlan>,
    spec: WriteSpec,
    properties: Arc<PlanProperties>,
}

impl WriteExec {
    /// A write of `input` as `spec` says.
    pub fn new(input: Arc<dyn ExecutionPlan>, spec: WriteSpec) -> Self {
        let partitions = input.properties().output_partitioning().partition_count();
        let properties = PlanProperties::new(
            EquivalenceProperties::new(files_schema()),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Self {
            input,
            spec,
            properties: Arc::new(properties),
        }
    }

    /// The write's spec.
    pub fn spec(&self) -> &WriteSpec {
        &self.spec
    }

    fn shape(&self) -> Shape {
        Shape::of(&self.spec.options)
    }

    /// The input's columns of these names (the client checked they exist).
    fn columns(&self, names: &[String]) -> Vec<Arc<dyn PhysicalExpr>> {
        let schema = self.input.schema();
        names
            .iter()
            .filter_map(|c| physical_col(c, &schema).ok())
            .collect()
    }
}

/// How a task's rows arrive at its writer, the same choices a local write makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Partitioned with sort columns: each value's rows in one task, sorted by partition and sort
    /// columns, one file open at a time.
    Sorted,
    /// Unpartitioned with sort columns: each task's rows sorted.
    SortedWithin,
    /// Partitioned: a file per value the task meets; past `max_open_files` values the rest of the
    /// task's rows are sorted (spilling) so memory stays bounded.
    Adaptive,
    /// As the rows come.
    AsIs,
}

impl Shape {
    fn of(options: &WriteOptions) -> Self {
        let partitioned = !options.partition_by.is_empty();
        let sorting = !options.sort_by.is_empty();
        match (partitioned, sorting) {
            (true, true) if options.cluster => Self::Sorted,
            (true, false) if options.cluster => Self::Adaptive,
            (false, true) => Self::SortedWithin,
            _ => Self::AsIs,
        }
    }
}

impl DisplayAs for WriteExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SluiceWriteExec: dest={}", self.spec.dest)
    }
}

impl ExecutionPlan for WriteExec {
    fn name(&self) -> &str {
        "SluiceWriteExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    /// No shuffle for a plain partitioned write: each task writes the partition values its rows
    /// hold, one file each, as a local stream does (Spark's tasks write the same way). A write with
    /// sort columns gets each partition value's rows in one task, sorted, as locally.
    fn required_input_distribution(&self) -> Vec<Distribution> {
        match self.shape() {
            Shape::Sorted => vec![Distribution::KeyPartitioned(
                self.columns(&self.spec.options.partition_by),
            )],
            _ => vec![Distribution::UnspecifiedDistribution],
        }
    }

    fn required_input_ordering(&self) -> Vec<Option<OrderingRequirements>> {
        let options = &self.spec.options;
        let columns: Vec<String> = match self.shape() {
            Shape::Sorted => options
                .partition_by
                .iter()
                .chain(&options.sort_by)
                .cloned()
                .collect(),
            Shape::SortedWithin => options.sort_by.clone(),
            Shape::Adaptive | Shape::AsIs => return vec![None],
        };
        let requirement = LexRequirement::new(
            self.columns(&columns)
                .into_iter()
                .map(|c| PhysicalSortRequirement::new(c, Some(SortOptions::default()))),
        );
        vec![requirement.map(OrderingRequirements::new)]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> datafusion::error::Result<TreeNodeRecursion>,
    ) -> datafusion::error::Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let input = crate::readers::only_child(&mut children, "SluiceWriteExec")?;
        Ok(Arc::new(Self::new(input, self.spec.clone())))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> datafusion::error::Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, Arc::clone(&context))?;
        let spec = self.spec.clone();
        let written = async move {
            write_partition(&spec, partition, input, context)
                .await
                .map_err(DataFusionError::from)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            files_schema(),
            futures::stream::once(written),
        )))
    }
}

/// Tells this task attempt's files from another attempt's of the same partition.
fn attempt_tag(context: &TaskContext) -> String {
    let identity = context.task_id().unwrap_or_else(|| {
        format!(
            "{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
        )
    });
    // FNV-1a: stable across processes, short, good enough to keep attempts apart.
    let hash = identity.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!(".t{:08x}", hash & 0xffff_ffff)
}

/// Runs on an executor: writes one partition's rows and lists its files.
async fn write_partition(
    spec: &WriteSpec,
    partition: usize,
    input: SendableRecordBatchStream,
    context: Arc<TaskContext>,
) -> Result<RecordBatch> {
    let dest = Location::parse(&spec.dest)?.as_folder();
    let store: Arc<dyn ObjectStore> = context.runtime_env().object_store(dest.listing_url()?)?;
    let schema = input.schema();
    let options = &spec.options;
    let layout = partition::Layout::try_new(&schema, &options.partition_by, options.keep_partition_columns)?;
    let target = FileTarget {
        store: Arc::clone(&store),
        root: dest.store_path(),
        run_id: spec.run_id.clone(),
        attempt: attempt_tag(&context),
    };
    let shared = Arc::new(StreamShared::new(
        target,
        options,
        layout,
        Arc::clone(&schema),
        1,
    )?);
    let shape = Shape::of(options);
    let reroute = (shape == Shape::Adaptive).then(|| {
        let step = cluster::Step::Sort;
        cluster::Rerouter::new(step, schema, options.partition_by.clone(), 1, context).reroute(0)
    });
    let mut tasks = JoinSet::new();
    let sorted = shape == Shape::Sorted;
    tasks.spawn(write_stream(
        Arc::clone(&shared),
        partition,
        input,
        sorted,
        reroute.flatten(),
    ));
    let (mut files, mut failure) = (Vec::new(), None);
    join_writers(tasks, &shared, &mut files, &mut failure).await;
    if let Some(e) = failure {
        let root = dest.store_path();
        for file in &files {
            if let Ok(path) = crate::lake::log::child_path(&root, &file.path) {
                let _ = store.delete(&path).await;
            }
        }
        return Err(e);
    }
    files_batch(&files)
}

fn files_batch(files: &[WrittenFile]) -> Result<RecordBatch> {
    let values: Vec<String> = files
        .iter()
        .map(|f| serde_json::to_string(&f.partition_values).expect("partition values serialize"))
        .collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            files.iter().map(|f| f.path.as_str()),
        )),
        Arc::new(StringArray::from(values)),
        Arc::new(UInt64Array::from_iter_values(files.iter().map(|f| f.rows))),
        Arc::new(UInt64Array::from_iter_values(files.iter().map(|f| f.bytes))),
        Arc::new(StringArray::from_iter(files.iter().map(|f| f.stats.as_deref()))),
    ];
    RecordBatch::try_new(files_schema(), columns).map_err(|e| EngineError::DataFusion(e.into()))
}

fn files_of(batch: &RecordBatch) -> Result<Vec<WrittenFile>> {
    let bad = |what: &str| {
        EngineError::DataFusion(DataFusionError::Internal(format!("a task's file list: {what}")))
    };
    if batch.num_columns() != 5 {
        return Err(bad("unexpected columns"));
    }
    let text = |i: usize| {
        batch
            .column(i)
            .as_string_opt::<i32>()
            .ok_or_else(|| bad("not text"))
    };
    let number = |i: usize| {
        batch
            .column(i)
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| bad("not a number"))
    };
    let (paths, values, rows, bytes, stats) = (text(0)?, text(1)?, number(2)?, number(3)?, text(4)?);
    (0..batch.num_rows())
        .map(|i| {
            Ok(WrittenFile {
                path: paths.value(i).to_string(),
                partition_values: serde_json::from_str(values.value(i)).map_err(|e| bad(&e.to_string()))?,
                rows: rows.value(i),
                bytes: bytes.value(i),
                stats: stats.is_valid(i).then(|| stats.value(i).to_string()),
            })
        })
        .collect()
}

/// Stages a write whose rows are written by the cluster's executors (see the module docs).
pub(crate) async fn stage_distributed(
    ctx: &SessionContext,
    store: Arc<dyn ObjectStore>,
    dest: &Location,
    df: DataFrame,
    mut options: WriteOptions,
    run_id: &str,
) -> Result<Staged> {
    let dest = dest.as_folder();
    let committer =
        match commit::Committer::start(store, dest.clone(), run_id.to_string(), options.mode).await? {
            commit::Start::Done(report) => return Ok(Staged::Committed(report)),
            commit::Start::Ready(committer) => *committer,
        };
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let planned = async {
        options.partition_by = committer.partition_by(&options.partition_by, options.mode)?;
        partition::Layout::try_new(&schema, &options.partition_by, options.keep_partition_columns)?;
        let plan = write_plan(df, &dest, &options, run_id)?;
        let physical = ctx
            .execute_logical_plan(plan)
            .await?
            .create_physical_plan()
            .await?;
        let batches = datafusion::physical_plan::collect(Arc::clone(&physical), ctx.task_ctx()).await?;
        let mut files = Vec::new();
        for batch in &batches {
            files.extend(files_of(batch)?);
        }
        Ok::<_, EngineError>((files, physical))
    }
    .await;
    match planned {
        Ok((files, physical)) => Ok(Staged::Pending(PendingCommit::from_parts(
            committer, files, &options, schema, physical,
        ))),
        Err(e) => {
            committer.abort(Vec::new()).await;
            Err(e)
        }
    }
}

/// The query and its write (see [`WriteExec`] for how its rows reach the tasks).
fn write_plan(df: DataFrame, dest: &Location, options: &WriteOptions, run_id: &str) -> Result<LogicalPlan> {
    let input = df.into_unoptimized_plan();
    let spec = WriteSpec {
        dest: dest.url().to_string(),
        options: options.clone(),
        run_id: run_id.to_string(),
    };
    Ok(LogicalPlan::Extension(Extension {
        node: Arc::new(WriteNode::new(input, spec)?),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::physical_plan::displayable;
    use datafusion::prelude::SessionConfig;

    fn write_session() -> SessionContext {
        let state = SessionStateBuilder::new_with_default_features()
            .with_config(SessionConfig::new().with_target_partitions(3))
            .with_query_planner(Arc::new(WriteQueryPlanner))
            .build();
        SessionContext::new_with_state(state)
    }

    /// Three input partitions, each holding several partition values.
    fn three_partitions(ctx: &SessionContext) -> DataFrame {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::UInt64, false),
            Field::new("p", DataType::Utf8, true),
        ]));
        let part = |ids: Vec<u64>, ps: Vec<Option<&str>>| {
            vec![
                RecordBatch::try_new(
                    Arc::clone(&schema),
                    vec![Arc::new(UInt64Array::from(ids)), Arc::new(StringArray::from(ps))],
                )
                .unwrap(),
            ]
        };
        let table = datafusion::datasource::MemTable::try_new(
            Arc::clone(&schema),
            vec![
                part(vec![1, 2], vec![Some("a"), Some("b")]),
                part(vec![3], vec![Some("a")]),
                part(vec![5, 4], vec![None, None]),
            ],
        )
        .unwrap();
        ctx.read_table(Arc::new(table)).unwrap()
    }

    async fn write(
        ctx: &SessionContext,
        options: WriteOptions,
        dir: &std::path::Path,
    ) -> (String, Vec<WrittenFile>) {
        let dest = Location::parse(&format!("{}/", dir.display())).unwrap();
        let plan = write_plan(three_partitions(ctx), &dest, &options, "r1").unwrap();
        let physical = ctx.state().create_physical_plan(&plan).await.unwrap();
        let shown = displayable(physical.as_ref()).indent(true).to_string();
        let batches = datafusion::physical_plan::collect(physical, ctx.task_ctx())
            .await
            .unwrap();
        let files: Vec<WrittenFile> = batches.iter().flat_map(|b| files_of(b).unwrap()).collect();
        for f in &files {
            assert!(dir.join(&f.path).is_file(), "{}", f.path);
            assert!(f.stats.is_some() && f.path.contains("-r1.t"), "{f:?}");
        }
        (shown, files)
    }

    #[tokio::test]
    async fn each_task_writes_the_values_it_meets_without_a_shuffle() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = write_session();
        let options = WriteOptions::new().with_partition_by(vec!["p".into()]);
        let (shown, files) = write(&ctx, options, dir.path()).await;
        assert!(!shown.contains("RepartitionExec"), "{shown}");
        assert_eq!(files.len(), 4, "a file per value per task: {files:?}");
        assert_eq!(files.iter().map(|f| f.rows).sum::<u64>(), 5);
    }

    #[tokio::test]
    async fn sort_columns_put_each_value_in_one_task_and_sort_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = write_session();
        let options = WriteOptions::new()
            .with_partition_by(vec!["p".into()])
            .with_sort_by(vec!["id".into()]);
        let (shown, files) = write(&ctx, options, dir.path()).await;
        assert!(shown.contains("RepartitionExec: partitioning=Hash"), "{shown}");
        assert!(shown.contains("SortExec"), "{shown}");
        assert_eq!(files.len(), 3, "one file per value: {files:?}");
        let null_file = files
            .iter()
            .find(|f| f.rows == 2)
            .expect("the NULL partition's file");
        let bytes = std::fs::File::open(dir.path().join(&null_file.path)).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(bytes, 1024).unwrap();
        let ids: Vec<u64> = reader
            .flat_map(|b| {
                b.unwrap()
                    .column(0)
                    .as_primitive::<UInt64Type>()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(ids, vec![4, 5], "sorted by id within the file");
    }

    #[tokio::test]
    async fn a_task_past_max_open_files_sorts_the_rest_of_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = write_session();
        let options = WriteOptions::new()
            .with_partition_by(vec!["p".into()])
            .with_max_open_files(1);
        let (_, files) = write(&ctx, options, dir.path()).await;
        // The first task meets a and b: a's file closes, b's rows go through the sort.
        assert_eq!(files.len(), 4, "{files:?}");
        assert_eq!(files.iter().map(|f| f.rows).sum::<u64>(), 5);
    }
}
