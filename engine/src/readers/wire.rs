//! A [`LakeTable`] as bytes, so a plan that scans one can be planned in another process (a
//! Ballista scheduler) and read the very same files there, without a catalog or a listing.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use chrono::{DateTime, Utc};
use datafusion::common::ScalarValue;
use datafusion::common::parsers::CompressionTypeVariant;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileScanConfig, FileScanConfigBuilder, JsonSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};
use object_store::ObjectMeta;
use serde::{Deserialize, Serialize};

use super::GroupFormat;
use super::guard::{BadRecordPolicy, BadRecords, Dialect, MaxBadRecords};
use super::table::{FileGroupSpec, LakeTable};
use crate::error::{EngineError, Result};
use crate::stores::Location;

/// Bumped when the layout changes; a process refuses tables of another version.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct WireTable {
    version: u32,
    store_url: String,
    /// Arrow IPC stream holding only the file schema.
    file_schema: Vec<u8>,
    /// Arrow IPC stream holding only the partition fields.
    partition_fields: Vec<u8>,
    groups: Vec<WireGroup>,
    /// The bad-records policy guarded groups are read under.
    #[serde(default)]
    bad_records: Option<WireBadRecords>,
}

#[derive(Serialize, Deserialize)]
struct WireGroup {
    format: GroupFormat,
    files: Vec<WireFile>,
    /// Set for a group read by sluice's record-level reader.
    #[serde(default)]
    guarded: Option<WireGuarded>,
}

#[derive(Serialize, Deserialize)]
struct WireGuarded {
    dialect: Dialect,
    /// `GZIP`, `UNCOMPRESSED`, ... as DataFusion names them.
    compression: String,
}

#[derive(Serialize, Deserialize)]
struct WireBadRecords {
    policy: BadRecordPolicy,
    max: Option<MaxBadRecords>,
    quarantine: Option<String>,
    /// The client's read these counts report to (see `guard::record_remote_counts`).
    id: u64,
    /// The quarantine output's name.
    name: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct WireFile {
    path: String,
    size: u64,
    modified: DateTime<Utc>,
    e_tag: Option<String>,
    version: Option<String>,
    /// The file's row count when known (the planner's statistics on the scheduler).
    #[serde(default)]
    rows: Option<u64>,
    /// Partition values as text, `None` for NULL; typed again from the partition fields.
    values: Vec<Option<String>>,
}

fn invalid(reason: String) -> EngineError {
    EngineError::InvalidOption {
        option: "cluster".into(),
        reason,
    }
}

fn schema_bytes(schema: &Schema) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut writer =
        StreamWriter::try_new(&mut buf, schema).map_err(datafusion::error::DataFusionError::from)?;
    writer
        .finish()
        .map_err(datafusion::error::DataFusionError::from)?;
    drop(writer);
    Ok(buf)
}

fn schema_from(bytes: &[u8]) -> Result<SchemaRef> {
    let reader =
        StreamReader::try_new(Cursor::new(bytes), None).map_err(datafusion::error::DataFusionError::from)?;
    Ok(reader.schema())
}

impl LakeTable {
    /// The table as bytes for [`LakeTable::decode`]. Tables read under a bad-records policy (or by
    /// column name) use sluice's own reader, which only runs in this process.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let groups = self
            .groups
            .iter()
            .map(|g| {
                let guarded = match &g.guarded {
                    Some((dialect, compression)) if self.reads_guarded() => Some(WireGuarded {
                        dialect: dialect.clone(),
                        compression: compression.get_variant().to_string(),
                    }),
                    _ => None,
                };
                let format = g.source.clone().ok_or_else(|| {
                    invalid("a table built without its format description cannot be sent".into())
                })?;
                let files = g
                    .files
                    .iter()
                    .map(|f| WireFile {
                        path: f.object_meta.location.to_string(),
                        size: f.object_meta.size,
                        modified: f.object_meta.last_modified,
                        e_tag: f.object_meta.e_tag.clone(),
                        version: f.object_meta.version.clone(),
                        rows: g.rows.get(&f.object_meta.location).copied(),
                        values: f
                            .partition_values
                            .iter()
                            .map(|v| (!v.is_null()).then(|| v.to_string()))
                            .collect(),
                    })
                    .collect();
                Ok(WireGroup {
                    format,
                    files,
                    guarded,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let bad_records = self
            .bad_records()
            .filter(|_| groups.iter().any(|g| g.guarded.is_some()));
        let wire = WireTable {
            version: VERSION,
            store_url: self.store_url.as_str().to_string(),
            file_schema: schema_bytes(&self.file_schema)?,
            partition_fields: schema_bytes(&Schema::new(self.partition_fields.clone()))?,
            groups,
            bad_records: bad_records.map(|b| WireBadRecords {
                policy: b.policy(),
                max: b.max(),
                quarantine: b.quarantine().map(|q| q.url().to_string()),
                id: b.remote_id(),
                name: b
                    .quarantine()
                    .map(|_| b.output_name(crate::new_run_id).to_string()),
            }),
        };
        serde_json::to_vec(&wire).map_err(|e| invalid(format!("cannot encode the table: {e}")))
    }

    /// A table from [`LakeTable::encode`]'s bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let wire: WireTable =
            serde_json::from_slice(bytes).map_err(|e| invalid(format!("cannot decode a table: {e}")))?;
        if wire.version != VERSION {
            return Err(invalid(format!(
                "a table came in layout {} where this sluice reads layout {VERSION}; run the same sluice version everywhere",
                wire.version
            )));
        }
        let file_schema = schema_from(&wire.file_schema)?;
        let partition_schema = schema_from(&wire.partition_fields)?;
        let types: Vec<_> = partition_schema
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let groups = wire
            .groups
            .into_iter()
            .map(|g| {
                let rows: HashMap<object_store::path::Path, u64> = g
                    .files
                    .iter()
                    .filter_map(|f| Some((object_store::path::Path::from(f.path.as_str()), f.rows?)))
                    .collect();
                let files = g
                    .files
                    .into_iter()
                    .map(|f| {
                        let values = types
                            .iter()
                            .zip(f.values)
                            .map(|(ty, v)| match v {
                                None => ScalarValue::try_from(ty),
                                Some(v) => ScalarValue::try_from_string(v, ty),
                            })
                            .collect::<datafusion::error::Result<Vec<_>>>()?;
                        let meta = ObjectMeta {
                            location: object_store::path::Path::from(f.path),
                            last_modified: f.modified,
                            size: f.size,
                            e_tag: f.e_tag,
                            version: f.version,
                        };
                        Ok(PartitionedFile::from(meta).with_partition_values(values))
                    })
                    .collect::<Result<Vec<_>>>()?;
                let guarded = g
                    .guarded
                    .map(|w| {
                        let variant: CompressionTypeVariant = w.compression.parse()?;
                        Ok::<_, EngineError>((w.dialect, FileCompressionType::from(variant)))
                    })
                    .transpose()?;
                Ok(FileGroupSpec {
                    format: g.format.file_format(),
                    files,
                    guarded,
                    source: Some(g.format),
                    rows,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let bad_records = wire
            .bad_records
            .map(|w| {
                let quarantine = w.quarantine.as_deref().map(Location::parse).transpose()?;
                BadRecords::new(w.policy, w.max, quarantine)?.remote_copy(w.id, w.name.as_deref())
            })
            .transpose()?;
        let mut table = LakeTable::new(
            ObjectStoreUrl::parse(&wire.store_url)?,
            file_schema,
            partition_schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect(),
            groups,
        )
        .with_bad_records(bad_records);
        table.remote = true;
        Ok(table)
    }
}

/// The `ExecutionPlan` methods of a node that hands on the rows of its one child, `self.input`,
/// unchanged and in order: its properties, statistics and ordering are the input's, and it has no
/// expressions of its own.
macro_rules! pass_through_plan {
    () => {
        fn properties(&self) -> &std::sync::Arc<datafusion::physical_plan::PlanProperties> {
            self.input.properties()
        }

        fn children(&self) -> Vec<&std::sync::Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
            vec![&self.input]
        }

        fn child_stats_requests(
            &self,
            partition: Option<usize>,
        ) -> Vec<datafusion::physical_plan::ChildStats> {
            vec![datafusion::physical_plan::ChildStats::At(partition)]
        }

        fn statistics_from_inputs(
            &self,
            input_stats: &[std::sync::Arc<datafusion::common::Statistics>],
            _args: &datafusion::physical_plan::StatisticsArgs,
        ) -> datafusion::error::Result<std::sync::Arc<datafusion::common::Statistics>> {
            Ok($crate::readers::wire::passed_on(
                input_stats,
                &self.schema(),
            ))
        }

        fn maintains_input_order(&self) -> Vec<bool> {
            vec![true]
        }

        fn apply_expressions(
            &self,
            _f: &mut dyn FnMut(
                &std::sync::Arc<dyn datafusion::physical_expr::PhysicalExpr>,
            )
                -> datafusion::error::Result<datafusion::common::tree_node::TreeNodeRecursion>,
        ) -> datafusion::error::Result<datafusion::common::tree_node::TreeNodeRecursion> {
            Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
        }
    };
}
pub(crate) use pass_through_plan;

/// The statistics of a node that hands on its only input's rows unchanged.
pub(crate) fn passed_on(
    input_stats: &[Arc<datafusion::common::Statistics>],
    schema: &SchemaRef,
) -> Arc<datafusion::common::Statistics> {
    input_stats
        .first()
        .cloned()
        .unwrap_or_else(|| Arc::new(datafusion::common::Statistics::new_unknown(schema)))
}

/// The one child of a node that has one.
pub(crate) fn only_child(
    children: &mut Vec<Arc<dyn ExecutionPlan>>,
    node: &str,
) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
    match (children.pop(), children.is_empty()) {
        (Some(input), true) => Ok(input),
        _ => Err(datafusion::error::DataFusionError::Internal(format!(
            "{node} takes one child"
        ))),
    }
}

/// A scan of text files planned in one process and run in another. DataFusion 55 leaves a CSV or
/// JSON scan's compression and JSON's array layout out of a serialized plan, so a cluster codec
/// sends this node with the scan as its child and puts them back with [`TextScanExec::restore`].
/// Executes as its input.
#[derive(Debug)]
pub struct TextScanExec {
    input: Arc<dyn ExecutionPlan>,
    compression: FileCompressionType,
    json_array: bool,
}

/// Marks a JSON scan of array files in [`TextScanExec::settings`].
const JSON_ARRAY: &str = ";json-array";

impl TextScanExec {
    /// Wraps `input`, a scan of files compressed with `compression`, holding JSON arrays when
    /// `json_array`.
    pub fn new(input: Arc<dyn ExecutionPlan>, compression: FileCompressionType, json_array: bool) -> Self {
        Self {
            input,
            compression,
            json_array,
        }
    }

    /// The settings as text: DataFusion's compression name (`GZIP`, `UNCOMPRESSED`, ...), then
    /// `;json-array` for JSON array files.
    pub fn settings(&self) -> String {
        let array = if self.json_array { JSON_ARRAY } else { "" };
        format!("{:?}{array}", self.compression.get_variant())
    }

    /// The scan `input` (decoded without them) with the [`TextScanExec::settings`] `text`.
    pub fn restore(
        input: &Arc<dyn ExecutionPlan>,
        text: &str,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let (name, json_array) = match text.strip_suffix(JSON_ARRAY) {
            Some(name) => (name, true),
            None => (text, false),
        };
        let variant: CompressionTypeVariant = name.parse()?;
        let config = input
            .downcast_ref::<DataSourceExec>()
            .and_then(|exec| exec.data_source().downcast_ref::<FileScanConfig>())
            .ok_or_else(|| {
                datafusion::error::DataFusionError::Internal(format!(
                    "a text scan arrived without its file scan: {}",
                    input.name()
                ))
            })?;
        let mut builder = FileScanConfigBuilder::from(config.clone())
            .with_file_compression_type(FileCompressionType::from(variant));
        if json_array {
            let source = config
                .file_source()
                .downcast_ref::<JsonSource>()
                .ok_or_else(|| {
                    datafusion::error::DataFusionError::Internal(
                        "a JSON array scan arrived without its JSON source".into(),
                    )
                })?
                .clone()
                .with_newline_delimited(false);
            builder = builder.with_source(Arc::new(source));
        }
        Ok(DataSourceExec::from_data_source(builder.build()))
    }
}

impl DisplayAs for TextScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TextScanExec: {}", self.settings())
    }
}

impl ExecutionPlan for TextScanExec {
    fn name(&self) -> &str {
        "TextScanExec"
    }

    pass_through_plan!();

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let input = only_child(&mut children, "TextScanExec")?;
        Ok(Arc::new(Self::new(input, self.compression, self.json_array)))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> datafusion::error::Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }
}

/// Hands on its input's batches under the schema the input declares. A file scan declares its
/// partition columns nullable but emits them as non-nullable literals, which one process does not
/// mind and a cluster's shuffle writer refuses ("schema mismatch"), so scans of partitioned tables
/// that run on a cluster end in this node.
#[derive(Debug)]
pub struct ConformExec {
    input: Arc<dyn ExecutionPlan>,
}

impl ConformExec {
    /// Wraps `input`.
    pub fn new(input: Arc<dyn ExecutionPlan>) -> Self {
        Self { input }
    }
}

impl DisplayAs for ConformExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConformExec")
    }
}

impl ExecutionPlan for ConformExec {
    fn name(&self) -> &str {
        "ConformExec"
    }

    pass_through_plan!();

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(Self::new(only_child(&mut children, "ConformExec")?)))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> datafusion::error::Result<SendableRecordBatchStream> {
        use futures::StreamExt;
        let schema = self.input.schema();
        let stream = self.input.execute(partition, context)?;
        let target = Arc::clone(&schema);
        let conformed = stream.map(move |batch| {
            let batch = batch?;
            if batch.schema() == target {
                return Ok(batch);
            }
            Ok(arrow::array::RecordBatch::try_new_with_options(
                Arc::clone(&target),
                batch.columns().to_vec(),
                &arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
            )?)
        });
        Ok(Box::pin(
            datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(schema, conformed),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::readers::{ReadOptions, build_table, describe_location};
    use crate::stores::Location;
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn a_partitioned_csv_table_reads_the_same_after_a_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        for (p, rows) in [("a", "1,x\n2,y\n"), ("b", "3,z\n")] {
            let folder = dir.path().join(format!("k={p}"));
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join("f.csv"), format!("id,name\n{rows}")).unwrap();
        }
        let ctx = SessionContext::new();
        let location = Location::parse(dir.path().to_str().unwrap()).unwrap();
        let described = describe_location(&ctx.state(), &location, &ReadOptions::default())
            .await
            .unwrap();
        let table = build_table(&described, &ReadOptions::default()).unwrap();
        let decoded = LakeTable::decode(&table.encode().unwrap()).unwrap();
        assert_eq!(decoded.schema, table.schema);
        // Row estimates travel too, so the scheduler plans joins as the client would.
        let rows = |t: &LakeTable| {
            t.groups
                .iter()
                .flat_map(|g| g.rows.values().copied())
                .sum::<u64>()
        };
        assert_eq!(rows(&table), 3);
        assert_eq!(rows(&decoded), 3);
        ctx.register_table("t", Arc::new(decoded)).unwrap();
        let batches = ctx
            .sql("SELECT k, sum(id) AS s FROM t WHERE k = 'a' GROUP BY k")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let text = arrow::util::pretty::pretty_format_batches(&batches)
            .unwrap()
            .to_string();
        assert!(text.contains("| a | 3 |"), "{text}");
    }
}
