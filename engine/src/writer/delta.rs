//! Appends to a destination's Delta Lake `_delta_log` with deltalake-core (the read side, the
//! state of a version, is `lake::delta`).
//!
//! ```text
//! commit:  version 0: protocol + metaData + add (+ files carried over) + txn
//!          later:     add + remove (+ metaData when the schema changed) + txn
//!          commitInfo carries the run id and mode; one attempt per call, the caller replays on a
//!          lost race so an overwrite also replaces files committed in between
//! vacuum:  Delta's lite vacuum of files removed longer ago than the retention
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Schema};
use deltalake_core::DeltaTableError;
use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake_core::kernel::{
    Action, Add, MetadataExt, Protocol, Remove, StructType, Transaction, new_metadata,
};
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use object_store::ObjectStore;
use url::Url;

use super::WriteMode;
use crate::error::{EngineError, Result};
use crate::lake::delta::{DeltaState, LiveFile, app_id, delta_err, log_store};

/// Everything one commit writes.
#[derive(Debug)]
pub(crate) struct Commit<'a> {
    pub(crate) run_id: &'a str,
    pub(crate) mode: WriteMode,
    pub(crate) partition_by: &'a [String],
    pub(crate) schema: &'a Schema,
    pub(crate) added: Vec<LiveFile>,
    /// Stats JSON per added path.
    pub(crate) stats: HashMap<String, String>,
    pub(crate) removed: Vec<LiveFile>,
    /// More `commitInfo` fields from the caller (a job's name, its quality results).
    pub(crate) info: serde_json::Map<String, serde_json::Value>,
    /// A compaction: the files change, the rows do not.
    pub(crate) compaction: Option<super::merge::Compaction>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn add_action(f: &LiveFile, stats: Option<&String>, data_change: bool) -> Action {
    Action::Add(Add {
        path: f.path.clone(),
        partition_values: f.partition_values.clone().into_iter().collect(),
        size: i64::try_from(f.size).unwrap_or(i64::MAX),
        modification_time: now_ms(),
        data_change,
        stats: stats.cloned(),
        ..Default::default()
    })
}

fn remove_action(f: &LiveFile, data_change: bool) -> Action {
    Action::Remove(Remove {
        path: f.path.clone(),
        data_change,
        deletion_timestamp: Some(now_ms()),
        extended_file_metadata: Some(true),
        partition_values: Some(f.partition_values.clone().into_iter().collect()),
        size: i64::try_from(f.size).ok(),
        ..Default::default()
    })
}

/// The Delta schema of the written rows; a type Delta has no name for is bad input.
pub(crate) fn kernel_schema(schema: &Schema, label: &str) -> Result<StructType> {
    schema.try_into_kernel().map_err(|e| {
        // The kernel's message carries a backtrace after its first line.
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default().to_string();
        EngineError::UnsupportedTable {
            location: label.to_string(),
            reason: format!(
                "its rows have a type Delta Lake cannot store ({first}); cast the column in the query"
            ),
        }
    })
}

/// The type a column is written as so that Delta can name it: timestamps in microseconds (Delta's
/// only precision) and unsigned integers as the next wider signed type. `None` keeps the type.
pub(crate) fn delta_type(data_type: &DataType) -> Option<DataType> {
    use arrow::datatypes::TimeUnit;
    match data_type {
        DataType::Timestamp(unit, tz) if *unit != TimeUnit::Microsecond => {
            Some(DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))
        }
        DataType::UInt8 => Some(DataType::Int16),
        DataType::UInt16 => Some(DataType::Int32),
        DataType::UInt32 => Some(DataType::Int64),
        DataType::UInt64 => Some(DataType::Decimal128(20, 0)),
        _ => None,
    }
}

fn has_timestamp_ntz(schema: &Schema) -> bool {
    schema
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::Timestamp(_, None)))
}

/// Reader 1 / writer 2, or with the `timestampNtz` feature when a timestamp has no time zone.
fn protocol(schema: &Schema) -> Protocol {
    let value = if has_timestamp_ntz(schema) {
        serde_json::json!({"minReaderVersion": 3, "minWriterVersion": 7,
            "readerFeatures": ["timestampNtz"], "writerFeatures": ["timestampNtz"]})
    } else {
        serde_json::json!({"minReaderVersion": 1, "minWriterVersion": 2})
    };
    serde_json::from_value(value).expect("a literal protocol parses")
}

/// The protocol a write into an existing table must raise it to: one that lists `timestampNtz`
/// when the rows have a timestamp without a zone and the table's protocol does not (readers refuse
/// such a column otherwise). `None` keeps the table's.
fn raised_protocol(current: &Protocol, schema: &Schema) -> Option<Protocol> {
    if !has_timestamp_ntz(schema) {
        return None;
    }
    let mut value = serde_json::to_value(current).ok()?;
    let listed = |key: &str, value: &serde_json::Value| -> Vec<String> {
        value[key]
            .as_array()
            .map(|a| a.iter().filter_map(|f| f.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let mut reader = listed("readerFeatures", &value);
    if reader.iter().any(|f| f == "timestampNtz") {
        return None;
    }
    let mut writer = listed("writerFeatures", &value);
    // Writer version 7 names every feature: the ones legacy version 2 implied stay.
    if value["minWriterVersion"].as_i64().unwrap_or(2) < 7 {
        writer.extend(["appendOnly".to_string(), "invariants".to_string()]);
    }
    reader.push("timestampNtz".into());
    writer.push("timestampNtz".into());
    value["minReaderVersion"] = 3.into();
    value["minWriterVersion"] = 7.into();
    value["readerFeatures"] = reader.into();
    value["writerFeatures"] = writer.into();
    serde_json::from_value(value).ok()
}

/// The table's columns plus the write's new ones: an append may add columns, never drop or change
/// them (the older files still hold those).
fn widened(table: &StructType, write: &StructType, label: &str) -> Result<StructType> {
    let mut fields: Vec<_> = table.fields().cloned().collect();
    for field in write.fields() {
        match table.field(field.name()) {
            None => fields.push(field.clone()),
            Some(have) if have.data_type() == field.data_type() => {}
            Some(have) => {
                return Err(EngineError::UnsupportedTable {
                    location: label.to_string(),
                    reason: format!(
                        "column `{}` is {} in the table and {} in this write; cast it, or write with mode overwrite",
                        field.name(),
                        have.data_type(),
                        field.data_type()
                    ),
                });
            }
        }
    }
    StructType::try_new(fields).map_err(|e| delta_err(label)(e.into()))
}

/// Rows in `files`, where the log knows them.
fn rows(files: &[LiveFile]) -> u64 {
    files.iter().filter_map(|f| f.rows).sum()
}

/// Tries one commit on top of `state` (or as version 0); `Ok(None)` when another writer took the
/// version first, so the caller replays and tries again.
pub(crate) async fn try_commit(
    root_store: Arc<dyn ObjectStore>,
    url: &Url,
    label: &str,
    state: Option<&DeltaState>,
    commit: &Commit<'_>,
) -> Result<Option<u64>> {
    let log_store = match state {
        Some(s) => s.table.log_store(),
        None => log_store(root_store, url, label)?,
    };
    let schema = kernel_schema(commit.schema, label)?;
    let mut actions: Vec<Action> = Vec::new();
    match state {
        None => {
            actions.push(Action::Protocol(protocol(commit.schema)));
            let metadata = new_metadata(&schema, commit.partition_by, Vec::<(String, String)>::new())
                .map_err(|e| delta_err(label)(e.into()))?;
            actions.push(Action::Metadata(metadata));
        }
        Some(s) => {
            let current = s.table.snapshot().map_err(delta_err(label))?;
            if let Some(raised) = raised_protocol(current.protocol(), commit.schema) {
                actions.push(Action::Protocol(raised));
            }
            let table_schema = current.schema();
            let evolved = match commit.mode {
                WriteMode::Overwrite => schema.clone(),
                _ => widened(table_schema.as_ref(), &schema, label)?,
            };
            if table_schema.as_ref() != &evolved {
                let metadata = current
                    .metadata()
                    .clone()
                    .with_schema(&evolved)
                    .map_err(|e| delta_err(label)(e.into()))?;
                actions.push(Action::Metadata(metadata));
            }
        }
    }
    let data_change = commit.compaction.is_none();
    actions.extend(
        commit
            .added
            .iter()
            .map(|f| add_action(f, commit.stats.get(&f.path), data_change)),
    );
    actions.extend(commit.removed.iter().map(|f| remove_action(f, data_change)));
    let properties = CommitProperties::default()
        .with_max_retries(0)
        .with_application_transaction(Transaction::new(app_id(commit.run_id), 1))
        .with_metadata(
            [
                ("sluiceRunId".to_string(), serde_json::json!(commit.run_id)),
                ("sluiceMode".to_string(), serde_json::json!(commit.mode)),
                (
                    "sluiceRowsAdded".to_string(),
                    serde_json::json!(rows(&commit.added)),
                ),
                (
                    "sluiceRowsRemoved".to_string(),
                    serde_json::json!(rows(&commit.removed)),
                ),
            ]
            .into_iter()
            .chain(commit.info.clone()),
        );
    let mode = match commit.mode {
        WriteMode::Overwrite | WriteMode::OverwritePartitions => SaveMode::Overwrite,
        WriteMode::ErrorIfExists => SaveMode::ErrorIfExists,
        _ => SaveMode::Append,
    };
    let operation = match &commit.compaction {
        Some(c) => DeltaOperation::Optimize {
            predicate: c.predicate.clone(),
            target_size: i64::try_from(c.target_size).unwrap_or(i64::MAX),
        },
        None => DeltaOperation::Write {
            mode,
            partition_by: (!commit.partition_by.is_empty()).then(|| commit.partition_by.to_vec()),
            predicate: None,
        },
    };
    let table_data = state
        .map(|s| s.table.snapshot().map_err(delta_err(label)))
        .transpose()?;
    let result = CommitBuilder::from(properties)
        .with_actions(actions)
        .build(table_data.map(|s| s as _), log_store, operation)
        .await;
    match result {
        Ok(done) => Ok(Some(done.version())),
        Err(DeltaTableError::VersionAlreadyExists(_))
        | Err(DeltaTableError::Transaction {
            source: TransactionError::MaxCommitAttempts(_) | TransactionError::VersionAlreadyExists(_),
        }) => Ok(None),
        Err(e) => Err(delta_err(label)(e)),
    }
}

/// Deletes files commits removed more than `retain` ago (Delta's lite vacuum, which records
/// itself in the log); returns their paths relative to the table.
pub(crate) async fn vacuum(
    state: DeltaState,
    retain: std::time::Duration,
    dry_run: bool,
    label: &str,
) -> Result<Vec<String>> {
    let retention = chrono::TimeDelta::from_std(retain).map_err(|_| EngineError::InvalidOption {
        option: "--retain".into(),
        reason: "the retention is too long".into(),
    })?;
    let (_, metrics) = state
        .table
        .vacuum()
        .with_retention_period(retention)
        .with_enforce_retention_duration(false)
        .with_dry_run(dry_run)
        .await
        .map_err(delta_err(label))?;
    Ok(metrics.files_deleted)
}
