//! Glue Data Catalog JSON: `TableInput` and `PartitionInput` shapes, as `aws glue create-table` and
//! `batch-create-partition` take them, and back.
//!
//! Export writes one document: `{"Tables": [{"DatabaseName", "TableInput"}], "Partitions":
//! [{"DatabaseName", "TableName", "PartitionInputList"}]}`. Arrow types ride along in column
//! `Parameters` (`sluice.arrow_type`), and the files sluice recorded in partition (or, unpartitioned,
//! table) `Parameters` (`sluice.files`), so an import restores the catalog exactly.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::error::{CatalogError, Result};
use crate::model::{ColumnDef, FileEntry, TableDef};

const ARROW_TYPE: &str = "sluice.arrow_type";
const FILES: &str = "sluice.files";

fn formats(classification: &str, t: &TableDef) -> (Value, &'static str, &'static str) {
    match classification {
        "parquet" => (
            json!({"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe", "Parameters": {"serialization.format": "1"}}),
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
        ),
        "json" => (
            json!({"SerializationLibrary": "org.openx.data.jsonserde.JsonSerDe", "Parameters": {}}),
            "org.apache.hadoop.mapred.TextInputFormat",
            "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
        ),
        _ => {
            let delim = (t.delimiter.unwrap_or(b',') as char).to_string();
            let quote = (t.quote.unwrap_or(b'"') as char).to_string();
            (
                json!({"SerializationLibrary": "org.apache.hadoop.hive.serde2.OpenCSVSerde",
                       "Parameters": {"separatorChar": delim, "quoteChar": quote}}),
                "org.apache.hadoop.mapred.TextInputFormat",
                "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            )
        }
    }
}

fn columns(cols: &[ColumnDef]) -> Value {
    Value::Array(
        cols.iter()
            .map(|c| json!({"Name": c.name, "Type": c.glue_type, "Parameters": {ARROW_TYPE: c.data_type}}))
            .collect(),
    )
}

fn files_param(files: &[&FileEntry]) -> String {
    serde_json::to_string(files).expect("file entries serialize")
}

/// Glue JSON for `tables`.
pub fn export(tables: &[TableDef]) -> Value {
    let mut table_inputs = Vec::new();
    let mut partitions = Vec::new();
    for t in tables {
        let (serde, input, output) = formats(&t.classification, t);
        let sd = json!({
            "Columns": columns(&t.columns),
            "Location": t.location,
            "InputFormat": input,
            "OutputFormat": output,
            "Compressed": false,
            "NumberOfBuckets": -1,
            "SerdeInfo": serde,
            "BucketColumns": [],
            "SortColumns": [],
            "StoredAsSubDirectories": false,
            "Parameters": {"classification": t.classification},
        });
        let mut params = json!({
            "classification": t.classification,
            "EXTERNAL": "TRUE",
            "objectCount": t.files.len().to_string(),
            "sizeKey": t.files.iter().map(|f| f.size).sum::<u64>().to_string(),
        });
        if t.classification == "csv" {
            params["skip.header.line.count"] = json!(if t.has_header { "1" } else { "0" });
            params["delimiter"] = json!((t.delimiter.unwrap_or(b',') as char).to_string());
            params["quoteChar"] = json!((t.quote.unwrap_or(b'"') as char).to_string());
        }
        if t.partition_keys.is_empty() {
            params[FILES] = json!(files_param(&t.files.iter().collect::<Vec<_>>()));
        }
        table_inputs.push(json!({
            "DatabaseName": t.database,
            "TableInput": {
                "Name": t.name,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": params,
                "PartitionKeys": t.partition_keys.iter().map(|c| json!({"Name": c.name, "Type": c.glue_type, "Parameters": {ARROW_TYPE: c.data_type}})).collect::<Vec<_>>(),
                "StorageDescriptor": sd,
            }
        }));
        if t.partition_keys.is_empty() {
            continue;
        }
        let mut by_values: BTreeMap<&Vec<Option<String>>, Vec<&FileEntry>> = BTreeMap::new();
        for f in &t.files {
            by_values.entry(&f.partition_values).or_default().push(f);
        }
        let inputs: Vec<Value> = by_values
            .into_iter()
            .map(|(values, files)| {
                let dir = files[0].path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                let location = partition_location(&t.location, dir, values.len());
                let (serde, input, output) = formats(&t.classification, t);
                json!({
                    "Values": values.iter().map(|v| v.clone().unwrap_or_else(|| "__HIVE_DEFAULT_PARTITION__".into())).collect::<Vec<_>>(),
                    "StorageDescriptor": {"Columns": columns(&t.columns), "Location": location, "InputFormat": input, "OutputFormat": output, "SerdeInfo": serde},
                    "Parameters": {
                        "objectCount": files.len().to_string(),
                        "totalSize": files.iter().map(|f| f.size).sum::<u64>().to_string(),
                        FILES: files_param(&files),
                    },
                })
            })
            .collect();
        for chunk in inputs.chunks(100) {
            partitions
                .push(json!({"DatabaseName": t.database, "TableName": t.name, "PartitionInputList": chunk}));
        }
    }
    json!({"Tables": table_inputs, "Partitions": partitions})
}

/// The partition folder URL: the table location plus the last `depth` folders of a file's directory.
fn partition_location(table_location: &str, file_dir: &str, depth: usize) -> String {
    let parts: Vec<&str> = file_dir.split('/').collect();
    let tail = parts[parts.len().saturating_sub(depth)..].join("/");
    format!("{}/{tail}/", table_location.trim_end_matches('/'))
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
