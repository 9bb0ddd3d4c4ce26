//! Text files read under a bad-records policy on a cluster's executors.
//!
//! ```text
//! client:    LakeTable (guarded groups, policy, read id, quarantine name) ──encode──> scheduler
//! scheduler: LakeTable::scan ──> GuardedScanExec (its files split into partitions) ──> executors
//! executor:  each partition: a fresh count under the same policy, the record-level reader,
//!            then its counts as metrics `sluice_good_rows_<id>` / `sluice_bad_records_<id>` and
//!            its bad records to `<quarantine>/<name>/part-<files hash>.ndjson`
//! client:    the job's metrics from the scheduler ──> guard::record_remote_counts
//! ```
//!
//! A partition's quarantine part is named after its files, so a source scanned again in the same
//! run (another sink, a quality rule) writes the same part again instead of a second copy.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::guard::{BadRecords, GuardedPartition, remote_counter_names};
use super::table::LakeTable;
use crate::error::EngineError;

/// Prefix of the counters the client-side node of a cluster query carries for each file scan the
/// executors ran: `sluice_scan_rows:<the scan's first file>` counts the rows it produced, as a
/// local scan's `output_rows` does.
pub const SCAN_ROWS: &str = "sluice_scan_rows:";

/// (first file, rows) of every file scan an executed plan reports: local scans by their own
/// metrics, cluster scans by the counters named with [`SCAN_ROWS`].
pub fn scan_rows(plan: &Arc<dyn ExecutionPlan>, out: &mut Vec<(String, u64)>) {
    use datafusion::datasource::physical_plan::FileScanConfig;
    use datafusion::physical_plan::metrics::MetricValue;
    if let Some(exec) = plan.downcast_ref::<DataSourceExec>()
        && let Some(config) = exec.data_source().downcast_ref::<FileScanConfig>()
        && let Some(first) = config.file_groups.iter().flat_map(|g| g.iter()).next()
    {
        let rows = exec.metrics().and_then(|m| m.output_rows()).unwrap_or(0);
        out.push((first.object_meta.location.to_string(), rows as u64));
    }
    for metric in plan.metrics().iter().flat_map(|m| m.iter()) {
        if let MetricValue::Count { name, count } = metric.value()
            && let Some(path) = name.strip_prefix(SCAN_ROWS)
        {
            out.push((path.to_string(), count.value() as u64));
        }
    }
    for child in plan.children() {
        scan_rows(child, out);
    }
}

/// Reads one guarded file group of a table, split into partitions, on the executors.
///
/// Ballista restricts each task's copy of a stage to the partitions it runs by rewriting the
/// stage's leaves, and only knows its own and DataFusion's. So this node is not a leaf: its child
/// is an in-memory scan whose partition `i` holds the number `i`. A task's copy keeps only its
/// partitions of that child, and `execute(k)` reads the number to learn which files are its own.
#[derive(Debug)]
pub struct GuardedScanExec {
    /// The table with just this group (its files, dialect and compression) and the policy.
    table: Arc<LakeTable>,
    partitions: Vec<Vec<PartitionedFile>>,
    projection: Option<Vec<usize>>,
    /// Partition `k` yields one row: the index in `partitions` of the files `execute(k)` reads.
    numbers: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

/// An in-memory scan whose partition `i` holds one row, `i`.
fn numbered(partitions: usize) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "partition",
        DataType::UInt64,
        false,
    )]));
    let batches = (0..partitions as u64)
        .map(|i| {
            let column: ArrayRef = Arc::new(UInt64Array::from(vec![i]));
            Ok(vec![RecordBatch::try_new(Arc::clone(&schema), vec![column])?])
        })
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    let source = MemorySourceConfig::try_new(&batches, schema, None)?;
    Ok(DataSourceExec::from_data_source(source))
}

/// The number partition `k` of a [`numbered`] scan (or its restriction) holds.
async fn number_of(
    numbers: &Arc<dyn ExecutionPlan>,
    k: usize,
    context: Arc<TaskContext>,
) -> datafusion::error::Result<usize> {
    let mut stream = numbers.execute(k, context)?;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if let Some(column) = batch.columns().first()
            && let Some(numbers) = column.as_primitive_opt::<UInt64Type>()
            && !numbers.is_empty()
        {
            return usize::try_from(numbers.value(0)).map_err(internal);
        }
    }
    Err(internal(format!("no file group for partition {k}")))
}

#[derive(Serialize, Deserialize)]
struct Spec {
    /// [`LakeTable::encode`] of the one-group table.
    table: Vec<u8>,
    /// The files of each partition, by path.
    partitions: Vec<Vec<String>>,
    projection: Option<Vec<usize>>,
}

fn internal(what: impl fmt::Display) -> DataFusionError {
    DataFusionError::Internal(format!("a guarded scan from the scheduler: {what}"))
}

impl GuardedScanExec {
    /// A scan of `table` (one guarded group) whose files are split as `partitions`.
    pub(super) fn new(
        table: LakeTable,
        partitions: Vec<Vec<PartitionedFile>>,
        projection: Option<Vec<usize>>,
    ) -> datafusion::error::Result<Self> {
        let numbers = numbered(partitions.len())?;
        Self::with_numbers(Arc::new(table), partitions, projection, numbers)
    }

    fn with_numbers(
        table: Arc<LakeTable>,
        partitions: Vec<Vec<PartitionedFile>>,
        projection: Option<Vec<usize>>,
        numbers: Arc<dyn ExecutionPlan>,
    ) -> datafusion::error::Result<Self> {
        let schema: SchemaRef = match &projection {
            Some(p) => Arc::new(table.schema.project(p)?),
            None => Arc::clone(&table.schema),
        };
        let properties = PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(numbers.properties().output_partitioning().partition_count()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(Self {
            table,
            partitions,
            projection,
            numbers,
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    /// The scan as bytes, for [`GuardedScanExec::decode`] in another process.
    pub fn encode(&self) -> datafusion::error::Result<Vec<u8>> {
        let spec = Spec {
            table: self.table.encode()?,
            partitions: self
                .partitions
                .iter()
                .map(|p| p.iter().map(|f| f.object_meta.location.to_string()).collect())
                .collect(),
            projection: self.projection.clone(),
        };
        serde_json::to_vec(&spec).map_err(internal)
    }

    /// A scan from [`GuardedScanExec::encode`]'s bytes over its decoded child.
    pub fn decode(bytes: &[u8], numbers: Arc<dyn ExecutionPlan>) -> datafusion::error::Result<Self> {
        let spec: Spec = serde_json::from_slice(bytes).map_err(internal)?;
        let table = LakeTable::decode(&spec.table)?;
        let files: std::collections::HashMap<String, &PartitionedFile> = table
            .groups
            .iter()
            .flat_map(|g| &g.files)
            .map(|f| (f.object_meta.location.to_string(), f))
            .collect();
        let partitions = spec
            .partitions
            .iter()
            .map(|p| {
                p.iter()
                    .map(|path| {
                        files
                            .get(path)
                            .map(|f| (*f).clone())
                            .ok_or_else(|| internal(path))
                    })
                    .collect::<datafusion::error::Result<Vec<_>>>()
            })
            .collect::<datafusion::error::Result<Vec<_>>>()?;
        Self::with_numbers(Arc::new(table), partitions, spec.projection, numbers)
    }

    /// Partition `i`'s reader, counting under a fresh copy of the policy.
    fn partition(&self, i: usize) -> datafusion::error::Result<(GuardedPartition, Arc<BadRecords>)> {
        let group = self.table.groups.first().ok_or_else(|| internal("no files"))?;
        let (dialect, compression) = group.guarded.clone().ok_or_else(|| internal("no dialect"))?;
        let bad_records = self
            .table
            .bad_records()
            .ok_or_else(|| internal("no policy"))?
            .fresh_copy()?;
        let files = self
            .partitions
            .get(i)
            .ok_or_else(|| internal(format!("no partition {i}")))?;
        let reader = self
            .table
            .guarded_partition(files, &dialect, compression, Arc::clone(&bad_records));
        Ok((reader, bad_records))
    }
}

/// Names partition `files`' quarantine part: the same files give the same name.
fn part_name(files: &[PartitionedFile]) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for f in files {
        f.object_meta.location.as_ref().hash(&mut hasher);
    }
    format!("part-{:016x}", hasher.finish())
}

impl DisplayAs for GuardedScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let files: usize = self.partitions.iter().map(Vec::len).sum();
        write!(
            f,
            "SluiceGuardedScanExec: {files} files in {} partitions",
            self.partitions.len()
        )
    }
}

impl ExecutionPlan for GuardedScanExec {
    fn name(&self) -> &str {
        "SluiceGuardedScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.numbers]
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
        let numbers = super::only_child(&mut children, "SluiceGuardedScanExec")?;
        Ok(Arc::new(Self::with_numbers(
            Arc::clone(&self.table),
            self.partitions.clone(),
            self.projection.clone(),
            numbers,
        )?))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> datafusion::error::Result<SendableRecordBatchStream> {
        let numbers = Arc::clone(&self.numbers);
        let scan = Arc::new(self.clone_shallow());
        let metrics = self.metrics.clone();
        let rows = futures::stream::once(async move {
            let global = number_of(&numbers, partition, Arc::clone(&context)).await?;
            scan.read(global, partition, &metrics, context)
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema(), rows)))
    }
}

impl GuardedScanExec {
    fn clone_shallow(&self) -> Self {
        Self {
            table: Arc::clone(&self.table),
            partitions: self.partitions.clone(),
            projection: self.projection.clone(),
            numbers: Arc::clone(&self.numbers),
            properties: Arc::clone(&self.properties),
            metrics: self.metrics.clone(),
        }
    }

    /// The rows of file group `global`, counted as task partition `partition`; once they are all
    /// read, the counts go to the metrics and the bad records to the quarantine.
    fn read(
        &self,
        global: usize,
        partition: usize,
        metrics: &ExecutionPlanMetricsSet,
        context: Arc<TaskContext>,
    ) -> datafusion::error::Result<SendableRecordBatchStream> {
        let (reader, bad_records) = self.partition(global)?;
        let (good_name, bad_name) = remote_counter_names(bad_records.id());
        let good = MetricBuilder::new(metrics).counter(good_name, partition);
        let bad = MetricBuilder::new(metrics).counter(bad_name, partition);
        let quarantine = bad_records
            .quarantine()
            .map(|q| {
                let url = q.as_folder().listing_url()?;
                Ok::<_, EngineError>(context.runtime_env().object_store(url)?)
            })
            .transpose()?;
        let part = part_name(&self.partitions[global]);
        let projection = self.projection.clone();
        let rows = reader
            .execute(Arc::clone(&context))
            .map(move |batch| match &projection {
                Some(p) => Ok(batch?.project(p)?),
                None => batch,
            });
        let finish = async move {
            good.add(usize::try_from(bad_records.counts().good).unwrap_or(usize::MAX));
            bad.add(usize::try_from(bad_records.bad_here()).unwrap_or(usize::MAX));
            if let Some(store) = quarantine {
                bad_records.write_quarantine_part(&store, &part).await?;
            }
            Ok::<_, EngineError>(())
        };
        let end = futures::stream::once(finish)
            .filter_map(|done| async move { done.err().map(|e| Err(DataFusionError::from(e))) });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            rows.chain(end),
        )))
    }
}
