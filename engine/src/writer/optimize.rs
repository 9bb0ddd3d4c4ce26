//! Compaction: the small files of a partition become few files of about the target size, in one
//! Delta version that changes no rows (`dataChange: false`, operation `OPTIMIZE`). Nightly appends
//! leave many small files; readers open each one.
//!
//! ```text
//! select:  live files smaller than the target, in the partitions `--where` keeps
//! group:   partitions with two or more of them
//! rewrite: read them and write them again through the partitioned writer (same partitioning)
//! commit:  add the new files, remove the old ones; a commit that changed those partitions
//!          meanwhile makes the optimize fail (run it again), nothing is lost
//! ```
//!
//! The replaced files stay for readers of older versions until `sluice vacuum`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, UInt64Type};
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, Partitioning};
use datafusion::prelude::SessionContext;
use object_store::ObjectStore;
use serde::Serialize;

use super::merge::{Compaction, MergeCheck};
use super::{AsOf, PartitionedWriter, Staged, WriteMode, WriteOptions};
use crate::error::{EngineError, Result};
use crate::readers::{DataFile, ReadOptions, TableFiles, build_table, describe_delta};
use crate::stores::Location;

/// What an optimize did (or would do, on a dry run).
#[derive(Debug, Clone, Serialize)]
pub struct OptimizeReport {
    /// Partitions compacted (1 for an unpartitioned table that was).
    pub partitions: usize,
    /// Small files replaced.
    pub files_removed: usize,
    /// Files written in their place (0 on a dry run).
    pub files_added: usize,
    /// Bytes of the replaced files.
    pub bytes_removed: u64,
    /// Bytes written.
    pub bytes_added: u64,
    /// The Delta version committed; `None` when nothing needed compacting or on a dry run.
    pub version: Option<u64>,
}

/// Compacts the small files of the Delta table at `dest` (see the module docs).
pub(crate) async fn optimize(
    ctx: &SessionContext,
    store: Arc<dyn ObjectStore>,
    dest: &Location,
    filter: Option<&str>,
    target_size: usize,
    dry_run: bool,
    run_id: &str,
) -> Result<OptimizeReport> {
    let dest = dest.as_folder();
    let table = describe_delta(&store, &dest, AsOf::Latest)
        .await?
        .ok_or_else(|| EngineError::NotDelta {
            table: dest.original().to_string(),
            hint: "only a Delta table (a folder sluice writes) can be optimized".into(),
        })?;
    let kept = match filter {
        Some(predicate) => Some(partitions_where(ctx, &table, predicate, dest.original()).await?),
        None => None,
    };
    let groups = small_files(&table, kept.as_ref(), target_size as u64);
    let selected: Vec<&DataFile> = groups.values().flatten().copied().collect();
    let mut report = OptimizeReport {
        partitions: groups.len(),
        files_removed: selected.len(),
        files_added: 0,
        bytes_removed: selected.iter().map(|f| f.meta.size).sum(),
        bytes_added: 0,
        version: None,
    };
    if dry_run || selected.is_empty() {
        return Ok(report);
    }
    let described = TableFiles {
        files: selected.iter().map(|f| (*f).clone()).collect(),
        ..table.clone()
    };
    let plan = ctx
        .read_table(Arc::new(build_table(&described, &ReadOptions::default())?))?
        .create_physical_plan()
        .await?;
    let partition_by: Vec<String> = table.partition_cols.iter().map(|(c, _)| c.clone()).collect();
    let streams = ctx.copied_config().target_partitions();
    let plan = one_stream_per_partition(plan, &partition_by, streams)?;
    let options = WriteOptions::new()
        .with_mode(WriteMode::Append)
        .with_partition_by(partition_by)
        .with_cluster_by_partition(false)
        .with_target_file_size(target_size);
    let writer = PartitionedWriter::new(store, dest.clone(), options, run_id);
    let pending = match writer.stage(plan, ctx.task_ctx()).await? {
        Staged::Pending(pending) => pending,
        Staged::Committed(_) => return Ok(report),
    };
    let check = read_set(&table, &groups, filter, target_size as u64);
    let committed = pending.with_compaction(check).commit().await?;
    report.files_added = committed.files.len();
    report.bytes_added = committed.bytes;
    report.version = Some(committed.commit);
    Ok(report)
}

/// Sends all rows of a partition to one stream, so each partition gets files of the target size
/// rather than one file per stream.
fn one_stream_per_partition(
    plan: Arc<dyn ExecutionPlan>,
    partition_by: &[String],
    streams: usize,
) -> Result<Arc<dyn ExecutionPlan>> {
    if partition_by.is_empty() {
        return Ok(Arc::new(CoalescePartitionsExec::new(plan)));
    }
    let keys = super::physical_columns(&plan, partition_by, "partition-by")?;
    Ok(Arc::new(RepartitionExec::try_new(
        plan,
        Partitioning::Hash(keys, streams.max(1)),
    )?))
}

type PartitionKey = BTreeMap<String, Option<String>>;

fn partition_key(file: &DataFile) -> PartitionKey {
    file.partition.iter().cloned().collect()
}

/// Files below the target size, by partition, where a partition has two or more.
fn small_files<'a>(
    table: &'a TableFiles,
    kept: Option<&BTreeSet<PartitionKey>>,
    target: u64,
) -> BTreeMap<PartitionKey, Vec<&'a DataFile>> {
    let mut groups: BTreeMap<PartitionKey, Vec<&DataFile>> = BTreeMap::new();
    for file in &table.files {
        let key = partition_key(file);
        if file.meta.size < target && kept.is_none_or(|k| k.contains(&key)) {
            groups.entry(key).or_default().push(file);
        }
    }
    groups.retain(|_, files| files.len() > 1);
    groups
}

/// What the commit removes, and the partitions it read: their live files must still be these.
fn read_set(
    table: &TableFiles,
    groups: &BTreeMap<PartitionKey, Vec<&DataFile>>,
    filter: Option<&str>,
    target: u64,
) -> MergeCheck {
    let root = table.location.store_path();
    let relative = |f: &DataFile| crate::lake::log::relative_to(&root, &f.meta.location);
    let touched: BTreeSet<PartitionKey> = groups.keys().cloned().collect();
    MergeCheck {
        candidates: table
            .files
            .iter()
            .filter(|f| touched.contains(&partition_key(f)))
            .map(relative)
            .collect(),
        removed: groups
            .values()
            .flatten()
            .map(|f| crate::lake::LiveFile {
                path: relative(f),
                size: f.meta.size,
                partition_values: partition_key(f),
                rows: f.rows,
                modified_ms: None,
            })
            .collect(),
        touched: Some(touched),
        rows_updated: 0,
        compaction: Some(Compaction {
            predicate: filter.map(str::to_string),
            target_size: target,
        }),
    }
}

/// The partitions whose values meet `predicate` (SQL over the partition columns only).
async fn partitions_where(
    ctx: &SessionContext,
    table: &TableFiles,
    predicate: &str,
    label: &str,
) -> Result<BTreeSet<PartitionKey>> {
    if table.partition_cols.is_empty() {
        return Err(EngineError::InvalidOption {
            option: "--where".into(),
            reason: format!("`{label}` has no partition columns to choose from; leave --where out"),
        });
    }
    let keys: Vec<PartitionKey> = table
        .files
        .iter()
        .map(partition_key)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if keys.is_empty() {
        return Ok(BTreeSet::new());
    }
    let batch = partition_batch(table, &keys)?;
    let name = "__sluice_partitions";
    let memory = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
    let session = SessionContext::new_with_state(ctx.state());
    session.register_table(name, Arc::new(memory))?;
    let columns: Vec<&str> = table.partition_cols.iter().map(|(c, _)| c.as_str()).collect();
    let bad = |e: datafusion::error::DataFusionError| EngineError::InvalidOption {
        option: "--where".into(),
        reason: format!(
            "{}; it may name only partition columns ({})",
            e.to_string().lines().next().unwrap_or_default(),
            columns.join(", ")
        ),
    };
    let df = session
        .sql(&format!("SELECT \"__index\" FROM {name} WHERE {predicate}"))
        .await
        .map_err(bad)?;
    let batches = df.collect().await.map_err(bad)?;
    let mut kept = BTreeSet::new();
    for batch in batches {
        for i in batch.column(0).as_primitive::<UInt64Type>().values() {
            kept.insert(keys[*i as usize].clone());
        }
    }
    Ok(kept)
}

/// One row per partition: its values typed as the table declares, and its index in `keys`.
fn partition_batch(table: &TableFiles, keys: &[PartitionKey]) -> Result<RecordBatch> {
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (name, ty) in &table.partition_cols {
        let values = keys
            .iter()
            .map(|k| match k.get(name).cloned().flatten() {
                Some(v) => ScalarValue::try_from_string(v, ty),
                None => ScalarValue::try_from(ty),
            })
            .collect::<datafusion::error::Result<Vec<_>>>()?;
        columns.push(ScalarValue::iter_to_array(values)?);
        fields.push(Field::new(name, ty.clone(), true));
    }
    fields.push(Field::new("__index", DataType::UInt64, false));
    columns.push(Arc::new(UInt64Array::from_iter_values(0..keys.len() as u64)));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| EngineError::DataFusion(e.into()))
}
