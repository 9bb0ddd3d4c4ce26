//! Glue Data Catalog JSON: `TableInput` and `PartitionInput` shapes, as `aws glue create-table` and
//! `batch-create-partition` take them, and back.
//!
//! Export writes one document: `{"Tables": [{"DatabaseName", "TableInput"}], "Partitions":
//! [{"DatabaseName", "TableName", "PartitionInputList"}]}`. Arrow types ride along in column
//! `Parameters` (`sluice.arrow_type`), and the files sluice recorded in partition (or, unpartitioned,
//! table) `Parameters` (`sluice.files`), so an import restores the catalog exactly.

use serde_json::{Value, json};

use crate::error::{CatalogError, Result};
use crate::model::{ColumnDef, FileEntry, TableDef};

mod shape;
mod sync;

pub use sync::{SyncAction, SyncOptions, SyncReport, sync};

use shape::{ARROW_TYPE, Column, PartitionShape, Storage, TableShape};

const FILES: &str = "sluice.files";

fn columns(cols: &[Column]) -> Value {
    Value::Array(
        cols.iter()
            .map(|c| json!({"Name": c.name, "Type": c.glue_type, "Parameters": {ARROW_TYPE: c.arrow_type}}))
            .collect(),
    )
}

fn storage(s: &Storage) -> Value {
    json!({
        "Columns": columns(&s.columns),
        "Location": s.location,
        "InputFormat": s.input_format,
        "OutputFormat": s.output_format,
        "Compressed": false,
        "NumberOfBuckets": -1,
        "SerdeInfo": {"SerializationLibrary": s.serde_library, "Parameters": s.serde_parameters},
        "BucketColumns": [],
        "SortColumns": [],
        "StoredAsSubDirectories": false,
        "Parameters": s.parameters,
    })
}

fn files_param(files: &[&FileEntry]) -> String {
    serde_json::to_string(files).expect("file entries serialize")
}

fn table_input(t: &TableDef, shape: &TableShape) -> Value {
    let mut params = json!(shape.parameters);
    if t.partition_keys.is_empty() {
        params[FILES] = json!(files_param(&t.files.iter().collect::<Vec<_>>()));
    }
    json!({
        "DatabaseName": shape.database,
        "TableInput": {
            "Name": shape.name,
            "TableType": shape.table_type,
            "Parameters": params,
            "PartitionKeys": columns(&shape.partition_keys),
            "StorageDescriptor": storage(&shape.storage),
        }
    })
}

fn partition_input(p: &PartitionShape<'_>) -> Value {
    let mut params = json!(p.parameters);
    params[FILES] = json!(files_param(&p.files));
    json!({"Values": p.values, "StorageDescriptor": storage(&p.storage), "Parameters": params})
}

/// Glue JSON for `tables`: what `sluice catalog sync --glue` sends, plus sluice's file lists.
pub fn export(tables: &[TableDef]) -> Value {
    let mut table_inputs = Vec::new();
    let mut partitions = Vec::new();
    for t in tables {
        let shape = TableShape::of(t);
        table_inputs.push(table_input(t, &shape));
        let inputs: Vec<Value> = PartitionShape::all_of(t).iter().map(partition_input).collect();
        for chunk in inputs.chunks(100) {
            partitions
                .push(json!({"DatabaseName": t.database, "TableName": t.name, "PartitionInputList": chunk}));
        }
    }
    json!({"Tables": table_inputs, "Partitions": partitions})
}

fn bad(reason: impl Into<String>) -> CatalogError {
    CatalogError::InvalidName {
        name: "Glue JSON".into(),
        reason: reason.into(),
    }
}

fn str_at<'a>(v: &'a Value, key: &str) -> Result<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("missing string `{key}`")))
}

fn column_defs(v: Option<&Value>) -> Result<Vec<ColumnDef>> {
    let Some(Value::Array(cols)) = v else {
        return Ok(Vec::new());
    };
    cols.iter()
        .map(|c| {
            let glue = str_at(c, "Type")?.to_string();
            let arrow = c
                .pointer(&format!("/Parameters/{ARROW_TYPE}"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| glue_to_arrow(&glue));
            Ok(ColumnDef {
                name: str_at(c, "Name")?.to_string(),
                data_type: arrow,
                glue_type: glue,
            })
        })
        .collect()
}

/// A best-effort Arrow type for a Glue type written by another tool.
fn glue_to_arrow(glue: &str) -> String {
    match glue {
        "bigint" => "Int64",
        "int" | "integer" => "Int32",
        "smallint" => "Int16",
        "tinyint" => "Int8",
        "double" => "Float64",
        "float" => "Float32",
        "boolean" => "Boolean",
        "date" => "Date32",
        "timestamp" => "Timestamp(µs)",
        "binary" => "Binary",
        _ => "Utf8",
    }
    .to_string()
}

fn parse_files(text: Option<&str>) -> Result<Vec<FileEntry>> {
    match text {
        None => Ok(Vec::new()),
        Some(t) => serde_json::from_str(t).map_err(|e| bad(format!("`{FILES}` is not a file list: {e}"))),
    }
}

/// Tables from Glue JSON written by [`export`] (or by Glue, without sluice's file lists).
pub fn import(doc: &Value) -> Result<Vec<TableDef>> {
    let mut tables: Vec<TableDef> = Vec::new();
    let Some(Value::Array(entries)) = doc.get("Tables") else {
        return Err(bad("no `Tables` array"));
    };
    for entry in entries {
        let database = str_at(entry, "DatabaseName")?.to_string();
        let input = entry
            .get("TableInput")
            .ok_or_else(|| bad("missing `TableInput`"))?;
        let sd = input
            .get("StorageDescriptor")
            .ok_or_else(|| bad("missing `StorageDescriptor`"))?;
        let params = input.get("Parameters").cloned().unwrap_or(json!({}));
        let serde_lib = sd
            .pointer("/SerdeInfo/SerializationLibrary")
            .and_then(Value::as_str)
            .unwrap_or("");
        let classification = params
            .get("classification")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| {
                if serde_lib.contains("Parquet") {
                    "parquet"
                } else if serde_lib.contains("Json") {
                    "json"
                } else {
                    "csv"
                }
                .into()
            });
        let delimiter = params
            .get("delimiter")
            .or_else(|| sd.pointer("/SerdeInfo/Parameters/separatorChar"))
            .or_else(|| sd.pointer("/SerdeInfo/Parameters/field.delim"))
            .and_then(Value::as_str)
            .and_then(|d| d.bytes().next())
            .filter(|d| *d != b',');
        tables.push(TableDef {
            database,
            name: str_at(input, "Name")?.to_string(),
            location: str_at(sd, "Location")?.to_string(),
            has_header: params
                .get("skip.header.line.count")
                .and_then(Value::as_str)
                .is_none_or(|v| v != "0"),
            delimiter,
            read_by_name: false,
            json_array: false,
            quote: params
                .get("quoteChar")
                .and_then(Value::as_str)
                .and_then(|q| q.bytes().next())
                .filter(|q| *q != b'"'),
            columns: column_defs(sd.get("Columns"))?,
            partition_keys: column_defs(input.get("PartitionKeys"))?,
            files: parse_files(params.get(FILES).and_then(Value::as_str))?,
            classification,
        });
    }
    if let Some(Value::Array(batches)) = doc.get("Partitions") {
        for batch in batches {
            let (db, name) = (str_at(batch, "DatabaseName")?, str_at(batch, "TableName")?);
            let table = tables
                .iter_mut()
                .find(|t| t.database == db && t.name == name)
                .ok_or_else(|| bad(format!("partitions for unknown table `{db}.{name}`")))?;
            let Some(Value::Array(list)) = batch.get("PartitionInputList") else {
                continue;
            };
            for p in list {
                table.files.extend(parse_files(
                    p.pointer(&format!("/Parameters/{FILES}")).and_then(Value::as_str),
                )?);
            }
        }
    }
    for t in &mut tables {
        t.files.sort_by(|a, b| a.path.cmp(&b.path));
    }
    Ok(tables)
}
