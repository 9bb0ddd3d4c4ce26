//! What a catalog table looks like in the Glue Data Catalog, decided once: columns with Glue types,
//! SerDe and input/output formats Athena reads, table parameters, and one partition per folder.
//!
//! [`export`](super::export) serializes these shapes as Glue JSON; [`sync`](super::sync) sends them
//! through the Glue API. Neither decides anything about formats itself.

use std::collections::BTreeMap;

use crate::model::{ColumnDef, DELTA, FileEntry, TableDef};

/// Column parameter carrying the Arrow type, so an import restores it exactly.
pub(crate) const ARROW_TYPE: &str = "sluice.arrow_type";
/// Glue's name for a NULL partition value, as Hive writes it.
const DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// One column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Column {
    pub(crate) name: String,
    pub(crate) glue_type: String,
    pub(crate) arrow_type: String,
}

/// A storage descriptor: where the files are and how Athena reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Storage {
    pub(crate) columns: Vec<Column>,
    pub(crate) location: String,
    pub(crate) input_format: &'static str,
    pub(crate) output_format: &'static str,
    pub(crate) serde_library: &'static str,
    pub(crate) serde_parameters: BTreeMap<String, String>,
    pub(crate) parameters: BTreeMap<String, String>,
}

/// A table as Glue holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableShape {
    pub(crate) database: String,
    pub(crate) name: String,
    pub(crate) table_type: &'static str,
    pub(crate) storage: Storage,
    pub(crate) partition_keys: Vec<Column>,
    pub(crate) parameters: BTreeMap<String, String>,
}

/// One partition folder as Glue holds it.
#[derive(Debug, Clone)]
pub(crate) struct PartitionShape<'a> {
    /// Values in partition-key order; NULL is Hive's default-partition name.
    pub(crate) values: Vec<String>,
    pub(crate) storage: Storage,
    pub(crate) parameters: BTreeMap<String, String>,
    /// The catalog's files in this partition.
    pub(crate) files: Vec<&'a FileEntry>,
}

fn columns(cols: &[ColumnDef]) -> Vec<Column> {
    cols.iter()
        .map(|c| Column {
            name: c.name.clone(),
            glue_type: c.glue_type.clone(),
            arrow_type: c.data_type.clone(),
        })
        .collect()
}

fn map<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn csv_chars(t: &TableDef) -> (String, String) {
    (
        (t.delimiter.unwrap_or(b',') as char).to_string(),
        (t.quote.unwrap_or(b'"') as char).to_string(),
    )
}

/// The storage descriptor of `t`'s files at `location`.
fn storage(t: &TableDef, location: String) -> Storage {
    let (serde_library, serde_parameters, input_format, output_format) = match t.classification.as_str() {
        "parquet" | DELTA => (
            "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
            map([("serialization.format", "1".to_string())]),
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        ),
        "json" => (
            "org.openx.data.jsonserde.JsonSerDe",
            BTreeMap::new(),
            "org.apache.hadoop.mapred.TextInputFormat",
            "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        ),
        _ => {
            let (delim, quote) = csv_chars(t);
            (
                "org.apache.hadoop.hive.serde2.OpenCSVSerde",
                map([("separatorChar", delim), ("quoteChar", quote)]),
                "org.apache.hadoop.mapred.TextInputFormat",
                "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            )
        }
    };
    Storage {
        columns: columns(&t.columns),
        location,
        input_format,
        output_format,
        serde_library,
        serde_parameters,
        parameters: map([("classification", t.classification.clone())]),
    }
}

impl TableShape {
    /// The Glue table for `t`.
    pub(crate) fn of(t: &TableDef) -> Self {
        let mut parameters = map([
            ("classification", t.classification.clone()),
            ("EXTERNAL", "TRUE".to_string()),
            ("objectCount", t.files.len().to_string()),
            ("sizeKey", t.files.iter().map(|f| f.size).sum::<u64>().to_string()),
        ]);
        if t.classification == DELTA {
            // Athena reads a Delta table through its log (and Spark on Glue by the provider).
            parameters.insert("table_type".into(), "DELTA".into());
            parameters.insert("spark.sql.sources.provider".into(), "delta".into());
        }
        if t.classification == "csv" {
            let (delim, quote) = csv_chars(t);
            parameters.insert(
                "skip.header.line.count".into(),
                if t.has_header { "1" } else { "0" }.into(),
            );
            parameters.insert("delimiter".into(), delim);
            parameters.insert("quoteChar".into(), quote);
        }
        Self {
            database: t.database.clone(),
            name: t.name.clone(),
            table_type: "EXTERNAL_TABLE",
            storage: storage(t, t.location.clone()),
            partition_keys: columns(&t.partition_keys),
            parameters,
        }
    }
}

impl<'a> PartitionShape<'a> {
    /// One shape per partition folder of `t`, in value order; none for an unpartitioned table.
    /// A Delta table has none in Glue either: its readers take partitions from `_delta_log/`.
    pub(crate) fn all_of(t: &'a TableDef) -> Vec<Self> {
        if t.partition_keys.is_empty() || t.classification == DELTA {
            return Vec::new();
        }
        let mut by_values: BTreeMap<&Vec<Option<String>>, Vec<&FileEntry>> = BTreeMap::new();
        for f in &t.files {
            by_values.entry(&f.partition_values).or_default().push(f);
        }
        by_values
            .into_iter()
            .map(|(values, files)| {
                let dir = files[0].path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                let location = partition_location(&t.location, dir, values.len());
                Self {
                    values: values
                        .iter()
                        .map(|v| v.clone().unwrap_or_else(|| DEFAULT_PARTITION.into()))
                        .collect(),
                    storage: storage(t, location),
                    parameters: map([
                        ("objectCount", files.len().to_string()),
                        ("totalSize", files.iter().map(|f| f.size).sum::<u64>().to_string()),
                    ]),
                    files,
                }
            })
            .collect()
    }
}

/// The partition folder URL: the table location plus the last `depth` folders of a file's directory.
fn partition_location(table_location: &str, file_dir: &str, depth: usize) -> String {
    let parts: Vec<&str> = file_dir.split('/').collect();
    let tail = parts[parts.len().saturating_sub(depth)..].join("/");
    format!("{}/{tail}/", table_location.trim_end_matches('/'))
}
