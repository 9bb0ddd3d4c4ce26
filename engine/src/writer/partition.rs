//! Splitting batches by Hive partition values.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray, UInt32Array};
use arrow::compute::{cast, take, take_record_batch};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};

use crate::error::{EngineError, Result};
use crate::lake::layout::partition_segment;

/// The rows of one batch that belong to one partition folder.
pub(super) struct PartitionSlice {
    /// `key=value/...`, escaped; empty when unpartitioned.
    pub(super) dir: String,
    /// Unescaped values, `None` for NULL or empty.
    pub(super) values: Vec<Option<String>>,
    /// The rows, without partition columns unless they are kept.
    pub(super) rows: RecordBatch,
}

/// Which columns are partition keys and which go into the files.
#[derive(Debug)]
pub(super) struct Layout {
    names: Vec<String>,
    key_indices: Vec<usize>,
    data_indices: Vec<usize>,
}

impl Layout {
    pub(super) fn try_new(
        schema: &Schema,
        partition_by: &[String],
        keep_partition_columns: bool,
    ) -> Result<Self> {
        let mut key_indices = Vec::with_capacity(partition_by.len());
        for name in partition_by {
            let idx = schema
                .index_of(name)
                .map_err(|_| EngineError::unknown_column("partition-by", name, schema))?;
            if !is_partitionable(schema.field(idx).data_type()) {
                return Err(EngineError::InvalidOption {
                    option: "partition-by".into(),
                    reason: format!(
                        "column `{name}` has type {}, which cannot name a folder; partition by a string, number, boolean, date or timestamp",
                        schema.field(idx).data_type()
                    ),
                });
            }
            key_indices.push(idx);
        }
        if !partition_by.is_empty() && !keep_partition_columns && key_indices.len() == schema.fields().len() {
            return Err(EngineError::InvalidOption {
                option: "partition-by".into(),
                reason: "every column is a partition column, so the files would hold no columns".into(),
            });
        }
        let data_indices = (0..schema.fields().len())
            .filter(|i| keep_partition_columns || !key_indices.contains(i))
            .collect();
        Ok(Self {
            names: partition_by.to_vec(),
            key_indices,
            data_indices,
        })
    }

    /// The schema of the rows stored inside the files.
    pub(super) fn data_schema(&self, schema: &SchemaRef) -> SchemaRef {
        Arc::new(
            schema
                .project(&self.data_indices)
                .expect("indices come from the same schema"),
        )
    }

    /// Groups a batch's rows by partition folder, in order of first appearance.
    /// The columns of `batch` that go into the files.
    pub(super) fn data_columns(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        Ok(batch
            .project(&self.data_indices)
            .map_err(datafusion::error::DataFusionError::from)?)
    }

    pub(super) fn split(&self, batch: &RecordBatch) -> Result<Vec<PartitionSlice>> {
        let data = self.data_columns(batch)?;
        if self.key_indices.is_empty() {
            return Ok(vec![PartitionSlice {
                dir: String::new(),
                values: Vec::new(),
                rows: data,
            }]);
        }
        // Rows are grouped by their raw key values (one pass over compact row encodings); folder
        // names are built and escaped once per group, not once per row.
        let key_columns: Vec<ArrayRef> = self
            .key_indices
            .iter()
            .map(|&i| Arc::clone(batch.column(i)))
            .collect();
        let converter = RowConverter::new(
            key_columns
                .iter()
                .map(|c| SortField::new(c.data_type().clone()))
                .collect(),
        )
        .map_err(datafusion::error::DataFusionError::from)?;
        let encoded = converter
            .convert_columns(&key_columns)
            .map_err(datafusion::error::DataFusionError::from)?;
        let mut seen: HashMap<&[u8], usize> = HashMap::new();
        let mut firsts: Vec<u32> = Vec::new();
        let mut members: Vec<Vec<u32>> = Vec::new();
        for row in 0..batch.num_rows() {
            let group = *seen.entry(encoded.row(row).data()).or_insert_with(|| {
                firsts.push(row as u32);
                members.push(Vec::new());
                firsts.len() - 1
            });
            members[group].push(row as u32);
        }
        // One value per group, as text: the folder names. Different raw values can share a folder
        // (an empty string and NULL both go to the default partition); their rows are merged.
        let firsts = UInt32Array::from(firsts);
        let representatives: Vec<StringArray> = key_columns
            .iter()
            .map(|c| {
                let picked =
                    take(c.as_ref(), &firsts, None).map_err(datafusion::error::DataFusionError::from)?;
                as_strings(&picked)
            })
            .collect::<Result<_>>()?;
        if members.len() == 1 {
            let (dir, values) = self.folder(&representatives, 0);
            return Ok(vec![PartitionSlice {
                dir,
                values,
                rows: data,
            }]);
        }
        let mut folders: Vec<(String, Vec<Option<String>>, Vec<u32>)> = Vec::new();
        let mut by_dir: HashMap<String, usize> = HashMap::new();
        for (group, rows) in members.into_iter().enumerate() {
            let (dir, values) = self.folder(&representatives, group);
            match by_dir.get(&dir) {
                Some(&i) => folders[i].2.extend(rows),
                None => {
                    by_dir.insert(dir.clone(), folders.len());
                    folders.push((dir, values, rows));
                }
            }
        }
        // Each group's rows are taken into their own arrays: a file may hold a small group for a
        // while before writing it, and a view into the whole batch would keep all of it alive.
        let rows = batch.num_rows();
        folders
            .into_iter()
            .map(|(dir, values, members)| {
                let rows = if members.len() == rows {
                    data.clone()
                } else {
                    take_record_batch(&data, &UInt32Array::from(members))
                        .map_err(datafusion::error::DataFusionError::from)?
                };
                Ok(PartitionSlice { dir, values, rows })
            })
            .collect()
    }

    /// The folder (`k1=v1/k2=v2`) and partition values of row `row` of the key values `keys` (as text).
    fn folder(&self, keys: &[StringArray], row: usize) -> (String, Vec<Option<String>>) {
        let mut dir = String::new();
        let mut values = Vec::with_capacity(keys.len());
        for (text, name) in keys.iter().zip(&self.names) {
            let value = text.is_valid(row).then(|| text.value(row));
            if !dir.is_empty() {
                dir.push('/');
            }
            dir.push_str(&partition_segment(name, value));
            values.push(value.filter(|v| !v.is_empty()).map(str::to_string));
        }
        (dir, values)
    }
}

/// The folders (`k1=v1/k2=v2`) the rows of `batches` go to when written partitioned by `columns`,
/// named exactly as the writer names them (`--dry-run` lists them before anything is written).
pub fn partition_folders(batches: &[RecordBatch], columns: &[String]) -> Result<BTreeSet<String>> {
    let mut folders = BTreeSet::new();
    for batch in batches.iter().filter(|b| b.num_rows() > 0) {
        let layout = Layout::try_new(&batch.schema(), columns, true)?;
        folders.extend(layout.split(batch)?.into_iter().map(|slice| slice.dir));
    }
    Ok(folders)
}

fn is_partitionable(t: &DataType) -> bool {
    match t {
        DataType::Dictionary(_, v) => is_partitionable(v),
        t => {
            t.is_integer()
                || t.is_floating()
                || matches!(
                    t,
                    DataType::Utf8
                        | DataType::LargeUtf8
                        | DataType::Utf8View
                        | DataType::Boolean
                        | DataType::Date32
                        | DataType::Date64
                        | DataType::Timestamp(_, _)
                        | DataType::Decimal128(_, _)
                        | DataType::Decimal256(_, _)
                )
        }
    }
}

/// Partition values as text the way Spark writes them: dates `YYYY-MM-DD`, timestamps
/// `YYYY-MM-DD HH:MM:SS[.ffffff]`.
fn as_strings(array: &ArrayRef) -> Result<StringArray> {
    let text = cast(array, &DataType::Utf8).map_err(datafusion::error::DataFusionError::from)?;
    let text = text
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("cast to Utf8 gives a StringArray")
        .clone();
    if matches!(array.data_type(), DataType::Timestamp(_, _)) {
        return Ok(text.iter().map(|v| v.map(spark_timestamp)).collect());
    }
    Ok(text)
}

fn spark_timestamp(iso: &str) -> String {
    let without_zone = iso.trim_end_matches('Z');
    let without_zone = match without_zone.rfind(['+', '-']) {
        Some(pos) if pos > 10 => &without_zone[..pos],
        _ => without_zone,
    };
    let spaced = without_zone.replacen('T', " ", 1);
    match spaced.split_once('.') {
        Some((whole, frac)) => {
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                whole.to_string()
            } else {
                format!("{whole}.{frac}")
            }
        }
        None => spaced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, TimestampMicrosecondArray};
    use arrow::datatypes::Field;

    #[test]
    fn splits_rows_by_partition_and_drops_key_columns() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("p", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
                Arc::new(StringArray::from(vec![Some("a/b"), None, Some("a/b"), Some("")])),
            ],
        )
        .unwrap();
        let layout = Layout::try_new(&schema, &["p".to_string()], false).unwrap();
        let parts = layout.split(&batch).unwrap();
        let summary: Vec<(String, usize)> =
            parts.iter().map(|p| (p.dir.clone(), p.rows.num_rows())).collect();
        assert_eq!(
            summary,
            vec![
                ("p=a%2Fb".to_string(), 2),
                ("p=__HIVE_DEFAULT_PARTITION__".to_string(), 2)
            ]
        );
        assert_eq!(parts[0].rows.num_columns(), 1);
        assert_eq!(parts[1].values, vec![None]);
        let ids = |i: usize| -> Vec<i64> {
            let column = parts[i].rows.column(0);
            column
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec()
        };
        assert_eq!((ids(0), ids(1)), (vec![1, 3], vec![2, 4]));
    }

    #[test]
    fn unknown_partition_column_names_the_choices() {
        let schema = Schema::new(vec![Field::new("id", DataType::Int64, false)]);
        let err = Layout::try_new(&schema, &["nope".to_string()], false).unwrap_err();
        assert!(
            err.to_string().contains("`nope`") && err.to_string().contains("id"),
            "{err}"
        );
    }

    #[test]
    fn timestamps_format_like_spark() {
        let array: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![
            1_700_000_000_000_000,
            1_700_000_000_123_000,
        ]));
        let s = as_strings(&array).unwrap();
        assert_eq!(s.value(0), "2023-11-14 22:13:20");
        assert_eq!(s.value(1), "2023-11-14 22:13:20.123");
    }
}
