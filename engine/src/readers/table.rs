//! A table over an explicit list of files: the files a listing found (or, later, the catalog holds),
//! grouped by format, with Hive partition values already parsed.
//!
//! Unlike DataFusion's `ListingTable` it never lists the store again at query time, so it reads
//! exactly the committed files, turns `__HIVE_DEFAULT_PARTITION__` into NULL, types partition
//! columns, and mixes compressions in one table.
//!
//! ```text
//! scan(filters) ──partition-only filters──> evaluated on each file's partition values (pruning)
//!               ──per format group──> FileScanConfig ──> format's plan ──> union
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow::datatypes::{Field, FieldRef, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::{DFSchema, ScalarValue, Statistics};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::listing::helpers::expr_applicable_for_cols;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::Result;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::union::UnionExec;
use object_store::path::Path;

use super::guard::{BadRecords, Dialect, GuardedFile, GuardedPartition};
use crate::stores::Location;

/// Files of one format (and compression) within a table.
#[derive(Debug)]
pub struct FileGroupSpec {
    /// How to read them.
    pub format: Arc<dyn FileFormat>,
    /// The files with their partition values (in partition column order).
    pub files: Vec<PartitionedFile>,
    /// Set when the group is read under a bad-records policy: its dialect and compression.
    pub guarded: Option<(Dialect, FileCompressionType)>,
    /// What `format` was built from, so the table can be sent to another process.
    pub source: Option<super::GroupFormat>,
    /// Rows per file (by location), exact or estimated, for the planner: with every scanned file
    /// counted, joins build their hash tables on the smaller side.
    pub rows: HashMap<Path, u64>,
}

impl FileGroupSpec {
    /// The planner's statistics for scanning `files` of this group: their row count (inexact), or
    /// unknown when a file has no count.
    fn statistics(&self, files: &[PartitionedFile], schema: &Schema) -> Option<Statistics> {
        let rows = files
            .iter()
            .map(|f| self.rows.get(&f.object_meta.location).copied())
            .sum::<Option<u64>>()?;
        Some(Statistics {
            num_rows: Precision::Inexact(usize::try_from(rows).unwrap_or(usize::MAX)),
            total_byte_size: Precision::Absent,
            column_statistics: Statistics::unknown_column(schema),
        })
    }
}

/// A table made of known files.
#[derive(Debug)]
pub struct LakeTable {
    pub(super) store_url: ObjectStoreUrl,
    pub(super) file_schema: SchemaRef,
    pub(super) partition_fields: Vec<FieldRef>,
    pub(super) schema: SchemaRef,
    pub(super) groups: Vec<FileGroupSpec>,
    bad_records: Option<Arc<BadRecords>>,
    /// Decoded from another process's plan: its scans will be sent on to executors.
    pub(super) remote: bool,
    /// The folder of the Delta table this is a version of.
    delta: Option<Location>,
}

impl LakeTable {
    /// A table whose rows have `file_schema` columns followed by the partition columns.
    pub fn new(
        store_url: ObjectStoreUrl,
        file_schema: SchemaRef,
        partition_fields: Vec<Field>,
        groups: Vec<FileGroupSpec>,
    ) -> Self {
        let partition_fields: Vec<FieldRef> = partition_fields.into_iter().map(Arc::new).collect();
        let mut fields: Vec<FieldRef> = file_schema.fields().iter().cloned().collect();
        fields.extend(partition_fields.iter().cloned());
        let schema = Arc::new(Schema::new(fields));
        Self {
            store_url,
            file_schema,
            partition_fields,
            schema,
            groups,
            bad_records: None,
            remote: false,
            delta: None,
        }
    }

    /// Marks the table as a version of the Delta table at `folder`.
    pub fn with_delta_location(mut self, folder: Option<Location>) -> Self {
        self.delta = folder;
        self
    }

    /// The folder of the Delta table this is a version of, when it is one.
    pub fn delta_location(&self) -> Option<&Location> {
        self.delta.as_ref()
    }

    /// Reads CSV and NDJSON groups under this bad-records policy.
    pub fn with_bad_records(mut self, bad_records: Option<Arc<BadRecords>>) -> Self {
        self.bad_records = bad_records;
        self
    }

    /// True when text files are read by sluice's record-level reader (a bad-records policy).
    pub(super) fn reads_guarded(&self) -> bool {
        self.bad_records.is_some()
    }

    /// The policy text files are read under.
    pub(super) fn bad_records(&self) -> Option<&Arc<BadRecords>> {
        self.bad_records.as_ref()
    }

    fn partition_names(&self) -> Vec<&str> {
        self.partition_fields.iter().map(|f| f.name().as_str()).collect()
    }

    /// Which files of a group pass the partition-only filters.
    fn prune(
        &self,
        state: &dyn Session,
        files: &[PartitionedFile],
        filters: &[Expr],
    ) -> Result<Vec<PartitionedFile>> {
        let names = self.partition_names();
        let partition_filters: Vec<Expr> = filters
            .iter()
            .filter(|f| !names.is_empty() && expr_applicable_for_cols(&names, f))
            .cloned()
            .collect();
        let Some(predicate) = conjunction(partition_filters) else {
            return Ok(files.to_vec());
        };
        if files.is_empty() {
            return Ok(Vec::new());
        }
        let schema = Arc::new(Schema::new(self.partition_fields.clone()));
        let columns: Vec<ArrayRef> = (0..self.partition_fields.len())
            .map(|i| ScalarValue::iter_to_array(files.iter().map(|f| f.partition_values[i].clone())))
            .collect::<Result<_>>()?;
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
        let df_schema = DFSchema::try_from(Arc::clone(&schema))?;
        let physical = state.create_physical_expr(predicate, &df_schema)?;
        let mask = physical.evaluate(&batch)?.into_array(files.len())?;
        let mask = mask.as_any().downcast_ref::<BooleanArray>().ok_or_else(|| {
            datafusion::error::DataFusionError::Internal("partition filter is not boolean".into())
        })?;
        Ok(files
            .iter()
            .enumerate()
            .filter(|(i, _)| mask.is_valid(*i) && mask.value(*i))
            .map(|(_, f)| f.clone())
            .collect())
    }
}

impl LakeTable {
    /// The record-level reader of `files` (of this table) in `dialect`, counting under `bad_records`.
    pub(super) fn guarded_partition(
        &self,
        files: &[PartitionedFile],
        dialect: &Dialect,
        compression: FileCompressionType,
        bad_records: Arc<BadRecords>,
    ) -> GuardedPartition {
        GuardedPartition {
            schema: Arc::clone(&self.schema),
            file_schema: Arc::clone(&self.file_schema),
            store_url: self.store_url.clone(),
            dialect: dialect.clone(),
            compression,
            files: files
                .iter()
                .map(|f| GuardedFile {
                    meta: f.object_meta.clone(),
                    partition_values: f.partition_values.clone(),
                })
                .collect(),
            bad_records,
        }
    }

    /// A scan of text files under a bad-records policy: one stream per group of files.
    #[allow(clippy::too_many_arguments)]
    fn guarded_plan(
        &self,
        files: Vec<PartitionedFile>,
        dialect: &Dialect,
        compression: FileCompressionType,
        bad_records: &Arc<BadRecords>,
        projection: Option<&Vec<usize>>,
        limit: Option<usize>,
        target: usize,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let partitions: Vec<Arc<dyn PartitionStream>> = balance(files, target)
            .into_iter()
            .map(|group| {
                let reader =
                    self.guarded_partition(group.files(), dialect, compression, Arc::clone(bad_records));
                Arc::new(reader) as Arc<dyn PartitionStream>
            })
            .collect();
        Ok(Arc::new(StreamingTableExec::try_new(
            Arc::clone(&self.schema),
            partitions,
            projection,
            Vec::new(),
            false,
            limit,
        )?))
    }
}

impl LakeTable {
    /// A guarded scan sent on to executors: `group`'s `files` only, in up to `target` partitions.
    fn remote_guarded_plan(
        &self,
        group: &FileGroupSpec,
        guarded: &(Dialect, FileCompressionType),
        files: Vec<PartitionedFile>,
        projection: Option<&Vec<usize>>,
        target: usize,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let partitions: Vec<Vec<PartitionedFile>> = balance(files.clone(), target)
            .iter()
            .map(|g| g.files().to_vec())
            .collect();
        let one = FileGroupSpec {
            format: Arc::clone(&group.format),
            files,
            guarded: Some(guarded.clone()),
            source: group.source.clone(),
            rows: group.rows.clone(),
        };
        let mut table = LakeTable::new(
            self.store_url.clone(),
            Arc::clone(&self.file_schema),
            self.partition_fields.iter().map(|f| f.as_ref().clone()).collect(),
            vec![one],
        )
        .with_bad_records(self.bad_records.clone());
        table.remote = true;
        Ok(Arc::new(super::remote_guard::GuardedScanExec::new(
            table,
            partitions,
            projection.cloned(),
        )?))
    }

    /// `plan`, whose parse errors are replaced by the bad record the record-level reader finds
    /// in `files` (file, line and byte named).
    fn diagnosed(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        files: &[PartitionedFile],
        dialect: &Dialect,
        compression: FileCompressionType,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let fail = BadRecords::new(super::guard::BadRecordPolicy::Fail, None, None)
            .map_err(datafusion::error::DataFusionError::from)?;
        let diagnosis = self.guarded_partition(files, dialect, compression, fail);
        Ok(Arc::new(super::guard::DiagnoseExec::new(
            plan,
            Arc::new(diagnosis),
        )))
    }
}

/// Splits files into at most `n` groups of similar total size.
fn balance(mut files: Vec<PartitionedFile>, n: usize) -> Vec<FileGroup> {
    files.sort_by_key(|f| std::cmp::Reverse(f.object_meta.size));
    let n = n.max(1).min(files.len().max(1));
    let mut groups: Vec<(u64, Vec<PartitionedFile>)> = (0..n).map(|_| (0, Vec::new())).collect();
    for file in files {
        let smallest = groups
            .iter_mut()
            .min_by_key(|(size, _)| *size)
            .expect("at least one group");
        smallest.0 += file.object_meta.size;
        smallest.1.push(file);
    }
    groups
        .into_iter()
        .filter(|(_, f)| !f.is_empty())
        .map(|(_, f)| FileGroup::new(f))
        .collect()
}

#[async_trait]
impl TableProvider for LakeTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        let names = self.partition_names();
        Ok(filters
            .iter()
            .map(|f| {
                if !names.is_empty() && expr_applicable_for_cols(&names, f) {
                    TableProviderFilterPushDown::Exact
                } else {
                    TableProviderFilterPushDown::Inexact
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let target = state.config().target_partitions();
        let mut plans = Vec::new();
        for group in &self.groups {
            let files = self.prune(state, &group.files, filters)?;
            if files.is_empty() {
                continue;
            }
            if let (Some(guarded), Some(_)) = (&group.guarded, &self.bad_records)
                && self.remote
            {
                plans.push(self.remote_guarded_plan(group, guarded, files, projection, target)?);
                continue;
            }
            if let (Some((dialect, compression)), Some(bad_records)) = (&group.guarded, &self.bad_records) {
                plans.push(self.guarded_plan(
                    files,
                    dialect,
                    *compression,
                    bad_records,
                    projection,
                    limit,
                    target,
                )?);
                continue;
            }
            let table_schema = TableSchema::builder(Arc::clone(&self.file_schema))
                .with_table_partition_cols(self.partition_fields.clone())
                .build();
            let source = group.format.file_source(table_schema);
            let statistics = group.statistics(&files, &self.schema);
            let mut builder = FileScanConfigBuilder::new(self.store_url.clone(), source)
                .with_file_groups(balance(files.clone(), target))
                .with_projection_indices(projection.cloned())?
                .with_limit(limit);
            if let Some(statistics) = statistics {
                builder = builder.with_statistics(statistics);
            }
            let config = builder.build();
            let plan = group.format.create_physical_plan(state, config).await?;
            // Without a policy DataFusion's reader fails on a bad record without naming it; the
            // record-level reader then finds it.
            let plan = match &group.guarded {
                Some((dialect, compression)) if !self.remote => {
                    self.diagnosed(plan, &files, dialect, *compression)?
                }
                _ => plan,
            };
            let text = group.source.as_ref().and_then(|s| s.text_settings());
            tracing::debug!(remote = self.remote, ?text, "scan of a file group");
            plans.push(match text {
                Some((compression, json_array)) if self.remote => {
                    Arc::new(super::wire::TextScanExec::new(plan, compression, json_array))
                }
                _ => plan,
            });
        }
        if plans.is_empty() {
            let projected = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => Arc::clone(&self.schema),
            };
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        let plan = UnionExec::try_new(plans)?;
        Ok(if self.remote && !self.partition_fields.is_empty() {
            Arc::new(super::wire::ConformExec::new(plan))
        } else {
            plan
        })
    }
}
