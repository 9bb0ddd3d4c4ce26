//! Glue-shaped catalog records.

use std::str::FromStr;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema};
use object_store::ObjectMeta;
use object_store::path::Path;
use serde::{Deserialize, Serialize};
use sluice_engine::readers::{DataFile, TableFiles};
use sluice_engine::{CsvReadOptions, Location, ReadOptions};

use crate::error::{CatalogError, Result};
use crate::types::glue_type;

/// One column: the Arrow type kept exactly, plus its Glue/Hive type string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDef {
    /// Column name.
    pub name: String,
    /// Arrow type as DataFusion prints it (`Int64`, `Utf8View`, `Date32`, ...).
    pub data_type: String,
    /// Glue/Hive type (`bigint`, `string`, `date`, ...).
    pub glue_type: String,
}

impl ColumnDef {
    fn new(name: &str, t: &DataType) -> Self {
        Self {
            name: name.to_string(),
            data_type: t.to_string(),
            glue_type: glue_type(t),
        }
    }

    fn arrow(&self, path: &str) -> Result<DataType> {
        DataType::from_str(&self.data_type).map_err(|e| CatalogError::Corrupt {
            path: path.to_string(),
            reason: format!("column `{}` has type `{}` ({e})", self.name, self.data_type),
        })
    }
}

/// One data file of a table, as listed by the crawl.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Object path in its store (Hive folders escaped as on the store).
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time, RFC 3339.
    pub last_modified: String,
    /// Partition values in partition-key order; `None` is NULL.
    pub partition_values: Vec<Option<String>>,
    /// Rows (exact for Parquet, estimated for CSV and JSON); `None` when unknown.
    pub rows: Option<u64>,
    /// The format read from the file's content (`csv.gz`, ...) when its name does not say it.
    pub format: Option<String>,
}

/// A table: where it is, how to read it, its columns, partition keys and files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    /// Database (a schema in SQL).
    pub database: String,
    /// Table name.
    pub name: String,
    /// Folder URL.
    pub location: String,
    /// `csv`, `json` or `parquet` (the format of most files).
    pub classification: String,
    /// CSV: the first line holds column names.
    pub has_header: bool,
    /// CSV field delimiter.
    pub delimiter: Option<u8>,
    /// CSV quote character when it is not `"`.
    pub quote: Option<u8>,
    /// Text files are read by column name (their CSV column orders differ, or a JSON column mixes
    /// numbers and strings).
    pub read_by_name: bool,
    /// JSON files hold one array of objects each.
    pub json_array: bool,
    /// Columns stored in the files.
    pub columns: Vec<ColumnDef>,
    /// Hive partition keys, outermost first.
    pub partition_keys: Vec<ColumnDef>,
    /// Data files.
    pub files: Vec<FileEntry>,
}

/// The classification of a Delta Lake table (Parquet files plus `_delta_log/`).
pub const DELTA: &str = "delta";

impl TableDef {
    /// A table from what a listing found.
    pub fn from_described(database: &str, name: &str, described: &TableFiles) -> Self {
        let classification = described
            .files
            .iter()
            .filter_map(sluice_engine::readers::file_format_of)
            .fold(
                std::collections::BTreeMap::<&'static str, usize>::new(),
                |mut m, f| {
                    *m.entry(f).or_default() += 1;
                    m
                },
            )
            .into_iter()
            .max_by_key(|(_, n)| *n)
            .map(|(f, _)| f.to_string())
            .unwrap_or_else(|| "unknown".into());
        // Other engines must read a Delta table through its log, not its folders.
        let classification = if described.delta {
            DELTA.to_string()
        } else {
            classification
        };
        Self {
            database: database.to_string(),
            name: name.to_string(),
            location: described.location.as_folder().url().to_string(),
            classification,
            has_header: described.csv.has_header,
            delimiter: described.csv.delimiter,
            quote: (described.csv.quote != b'"').then_some(described.csv.quote),
            read_by_name: described.read_by_name,
            json_array: described.json_array,
            columns: described
                .file_schema
                .fields()
                .iter()
                .map(|f| ColumnDef::new(f.name(), f.data_type()))
                .collect(),
            partition_keys: described
                .partition_cols
                .iter()
                .map(|(n, t)| ColumnDef::new(n, t))
                .collect(),
            files: described
                .files
                .iter()
                .map(|f| FileEntry {
                    path: f.meta.location.to_string(),
                    size: f.meta.size,
                    last_modified: f.meta.last_modified.to_rfc3339(),
                    partition_values: f.partition.iter().map(|(_, v)| v.clone()).collect(),
                    rows: f.rows,
                    format: f.detected.clone(),
                })
                .collect(),
        }
    }

    /// The listing this table came from, rebuilt without touching the store.
    pub fn to_described(&self, catalog_path: &str) -> Result<(TableFiles, ReadOptions)> {
        let location = Location::parse(&self.location)?;
        let fields = self
            .columns
            .iter()
            .map(|c| Ok(Field::new(&c.name, c.arrow(catalog_path)?, true)))
            .collect::<Result<Vec<_>>>()?;
        let partition_cols = self
            .partition_keys
            .iter()
            .map(|c| Ok((c.name.clone(), c.arrow(catalog_path)?)))
            .collect::<Result<Vec<_>>>()?;
        let files = self
            .files
            .iter()
            .map(|f| {
                let corrupt = |reason: String| CatalogError::Corrupt {
                    path: catalog_path.to_string(),
                    reason,
                };
                let location =
                    Path::parse(&f.path).map_err(|e| corrupt(format!("file path `{}`: {e}", f.path)))?;
                let last_modified = chrono::DateTime::parse_from_rfc3339(&f.last_modified)
                    .map_err(|e| corrupt(format!("time `{}`: {e}", f.last_modified)))?
                    .with_timezone(&chrono::Utc);
                Ok(DataFile {
                    meta: ObjectMeta {
                        location,
                        last_modified,
                        size: f.size,
                        e_tag: None,
                        version: None,
                    },
                    partition: self
                        .partition_keys
                        .iter()
                        .zip(&f.partition_values)
                        .map(|(k, v)| (k.name.clone(), v.clone()))
                        .collect(),
                    rows: f.rows,
                    detected: f.format.clone(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let csv = CsvReadOptions {
            has_header: self.has_header,
            delimiter: self.delimiter,
            quote: self.quote.unwrap_or(b'"'),
            sniff: false,
            ..CsvReadOptions::default()
        };
        let options = ReadOptions {
            format: None,
            csv: csv.clone(),
            unnamed_partitions: self
                .partition_keys
                .iter()
                .any(|k| k.name.starts_with("partition_")),
            ..ReadOptions::default()
        };
        Ok((
            TableFiles {
                location,
                file_schema: Arc::new(Schema::new(fields)),
                partition_cols,
                files,
                csv,
                read_by_name: self.read_by_name,
                json_array: self.json_array,
                delta: self.classification == DELTA,
            },
            options,
        ))
    }

    /// Distinct partitions (by values).
    pub fn partition_count(&self) -> usize {
        let mut values: Vec<&Vec<Option<String>>> = self.files.iter().map(|f| &f.partition_values).collect();
        values.sort();
        values.dedup();
        if self.partition_keys.is_empty() {
            0
        } else {
            values.len()
        }
    }

    /// What changed in columns and partition keys from `old` to `self`.
    pub fn schema_diff(&self, old: &TableDef) -> Option<String> {
        let changes = self.schema_changes(old);
        (!changes.is_empty()).then(|| changes.join("; "))
    }

    fn schema_changes(&self, old: &TableDef) -> Vec<String> {
        let mut changes = Vec::new();
        for c in &self.columns {
            match old.columns.iter().find(|o| o.name == c.name) {
                None => changes.push(format!("added column `{}` {}", c.name, c.glue_type)),
                Some(o) if o.data_type != c.data_type => changes.push(format!(
                    "column `{}` changed from {} to {}",
                    c.name, o.data_type, c.data_type
                )),
                Some(_) => {}
            }
        }
        for o in &old.columns {
            if !self.columns.iter().any(|c| c.name == o.name) {
                changes.push(format!("removed column `{}`", o.name));
            }
        }
        if self.partition_keys != old.partition_keys {
            let keys = |t: &TableDef| {
                t.partition_keys
                    .iter()
                    .map(|k| k.name.clone())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            changes.push(format!(
                "partition keys changed from [{}] to [{}]",
                keys(old),
                keys(self)
            ));
        }
        changes
    }

    /// A readable description of what changed from `old` to `self`.
    pub fn diff(&self, old: &TableDef) -> Option<String> {
        let mut changes = self.schema_changes(old);
        let (new_parts, old_parts) = (self.partition_count(), old.partition_count());
        if new_parts != old_parts {
            changes.push(format!("partitions {old_parts} -> {new_parts}"));
        }
        if self.files.len() != old.files.len() || self.files != old.files {
            changes.push(format!("files {} -> {}", old.files.len(), self.files.len()));
        }
        if self.location != old.location || self.classification != old.classification {
            changes.push(format!(
                "location/format now {} ({})",
                self.location, self.classification
            ));
        }
        (!changes.is_empty()).then(|| changes.join("; "))
    }
}

/// One row of `sluice tables`.
#[derive(Debug, Clone, Serialize)]
pub struct TableSummary {
    /// Database.
    pub database: String,
    /// Table.
    pub name: String,
    /// `csv`, `json` or `parquet`.
    pub classification: String,
    /// Folder URL.
    pub location: String,
    /// Partition keys.
    pub partition_keys: Vec<String>,
    /// Number of columns (partition keys excluded).
    pub columns: usize,
    /// Distinct partitions.
    pub partitions: usize,
    /// Data files.
    pub objects: usize,
    /// Bytes in data files.
    pub bytes: u64,
    /// Version number, bumped on every change.
    pub version: i64,
    /// When the table last changed.
    pub updated_at: String,
    /// When a crawl last found its folder gone (`--on-delete deprecate`).
    pub deprecated_at: Option<String>,
    /// Rows: exact for Parquet (footers), estimated for CSV and JSON (sampled lines per byte).
    pub rows: u64,
}
