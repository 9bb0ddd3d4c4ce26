//! The Delta Lake side of a destination: its `_delta_log`, read and appended with deltalake-core on
//! sluice's own object store (so retries, endpoints and credentials stay sluice's).
//!
//! ```text
//! open:    bucket-rooted store + table URL ──> DeltaTable (None when there is no `_delta_log`)
//! state:   live files (add), tombstones (remove, kept until vacuum), version, schema
//! commit:  version 0: protocol + metaData + add (+ files carried over) + txn
//!          later:     add + remove (+ metaData when the schema changed) + txn
//!          commitInfo carries the run id and mode; one attempt per call, the caller replays on a
//!          lost race so an overwrite also replaces files committed in between
//! ```
//!
//! A run's idempotency key is the Delta app transaction `sluice-<run_id>`: a retry of a run that
//! already committed finds it in the snapshot and writes nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arrow::datatypes::{DataType, Schema};
use deltalake_core::kernel::engine::arrow_conversion::{TryIntoArrow, TryIntoKernel};
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake_core::kernel::{
    Action, Add, MetadataExt, Protocol, Remove, StructType, Transaction, new_metadata,
};
use deltalake_core::logstore::{LogStoreRef, StorageConfig, default_logstore};
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::{DeltaTable, DeltaTableError};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use url::Url;

use super::WriteMode;
use crate::error::{EngineError, Result};

/// One file of the table, relative to its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveFile {
    /// Object key below the table root (Hive-escaped folders).
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// Partition column → raw value (`None` is NULL).
    pub partition_values: BTreeMap<String, Option<String>>,
    /// Rows, when the log's stats say.
    pub rows: Option<u64>,
    /// When the file was written (ms since the epoch), as the log records it.
    pub modified_ms: Option<i64>,
}

/// Which version of a table to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AsOf {
    /// The newest.
    #[default]
    Latest,
    /// `VERSION AS OF n`.
    Version(u64),
    /// `TIMESTAMP AS OF t`: the newest version committed at or before `t`.
    Timestamp(chrono::DateTime<chrono::Utc>),
}

impl std::fmt::Display for AsOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Latest => f.write_str("latest version"),
            Self::Version(v) => write!(f, "version {v}"),
            Self::Timestamp(t) => write!(f, "timestamp {}", t.to_rfc3339()),
        }
    }
}

/// What the `_delta_log` says at one version.
#[derive(Debug)]
pub struct DeltaState {
    pub(crate) table: DeltaTable,
    /// The version read.
    pub version: u64,
    /// Live files by path.
    pub live: BTreeMap<String, LiveFile>,
    /// Files removed by some commit and not yet vacuumed.
    pub removed: BTreeSet<String>,
    /// Partition columns of the table.
    pub partition_columns: Vec<String>,
    /// The table's columns (partition columns included), as Arrow types.
    pub schema: arrow::datatypes::SchemaRef,
}

/// The app transaction id of a run.
pub(crate) fn app_id(run_id: &str) -> String {
    format!("sluice-{run_id}")
}

fn delta_err(label: &str) -> impl FnOnce(DeltaTableError) -> EngineError + '_ {
    move |source| EngineError::Delta {
        location: label.to_string(),
        source: Box::new(source),
    }
}

/// The log store of the table at `url`, on `root_store` (rooted at the bucket or `/`).
pub(crate) fn log_store(root_store: Arc<dyn ObjectStore>, url: &Url, label: &str) -> Result<LogStoreRef> {
    let config = StorageConfig::default();
    let prefixed: Arc<dyn ObjectStore> = Arc::from(
        config
            .decorate_store(Arc::clone(&root_store), url)
            .map_err(delta_err(label))?,
    );
    Ok(default_logstore(prefixed, root_store, url, &config))
}

/// Reads one version of the table, or `None` when the folder has no `_delta_log`.
pub(crate) async fn load(
    root_store: Arc<dyn ObjectStore>,
    url: &Url,
    label: &str,
    as_of: AsOf,
) -> Result<Option<DeltaState>> {
    let log_store = log_store(root_store, url, label)?;
    if !has_log(&log_store, label).await? {
        return Ok(None);
    }
    let mut table = DeltaTable::new(log_store);
    // By the log files' times only when a commit records no time of its own.
    let mut by_file_times = false;
    let loaded = match as_of {
        AsOf::Latest => table.load().await,
        AsOf::Version(v) => table.load_version(v).await,
        AsOf::Timestamp(t) => match version_at(&mut table, t, label).await? {
            Some(v) => table.load_version(v).await,
            None => {
                by_file_times = true;
                table.load_with_datetime(t).await
            }
        },
    };
    match loaded {
        Ok(()) => {}
        Err(DeltaTableError::NotATable(_)) => return Ok(None),
        Err(e) if as_of != AsOf::Latest => return Err(no_such_version(label, as_of, &e)),
        Err(e) => return Err(delta_err(label)(e)),
    }
    let state = state_of(table, label).await?;
    if let AsOf::Timestamp(t) = as_of
        && by_file_times
    {
        before_first_commit(&state, t, label)?;
    }
    Ok(Some(state))
}

/// The newest version committed at or before `t` by the commit times `table history` shows (the
/// `commitInfo` timestamps); `None` when some version has none (then the log files' times decide).
async fn version_at(
    table: &mut DeltaTable,
    t: chrono::DateTime<chrono::Utc>,
    label: &str,
) -> Result<Option<u64>> {
    match table.load().await {
        Ok(()) => {}
        Err(DeltaTableError::NotATable(_)) => return Ok(None),
        Err(e) => return Err(delta_err(label)(e)),
    }
    let latest = table.version().unwrap_or_default();
    let infos: Vec<_> = table
        .history(None)
        .try_collect()
        .await
        .map_err(delta_err(label))?;
    let wanted = t.timestamp_millis();
    let mut oldest = None;
    for (i, info) in infos.iter().enumerate() {
        let Some(at) = info.timestamp else { return Ok(None) };
        let version = latest.saturating_sub(i as u64);
        if at <= wanted {
            return Ok(Some(version));
        }
        oldest = Some((version, at));
    }
    match oldest {
        Some((version, at)) => Err(EngineError::NoSuchVersion {
            location: label.to_string(),
            as_of: AsOf::Timestamp(t).to_string(),
            reason: format!(
                "its oldest readable version ({version}) was committed at {}",
                chrono::DateTime::from_timestamp_millis(at)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default()
            ),
        }),
        None => Ok(None),
    }
}

fn no_such_version(label: &str, as_of: AsOf, e: &DeltaTableError) -> EngineError {
    EngineError::NoSuchVersion {
        location: label.to_string(),
        as_of: as_of.to_string(),
        reason: e.to_string().lines().next().unwrap_or_default().to_string(),
    }
}

/// A timestamp older than the table has no version; delta-rs would answer with the oldest one.
fn before_first_commit(state: &DeltaState, t: chrono::DateTime<chrono::Utc>, label: &str) -> Result<()> {
    let snapshot = state.table.snapshot().map_err(delta_err(label))?;
    let committed = snapshot
        .version_timestamp(state.version)
        .and_then(chrono::DateTime::from_timestamp_millis);
    match committed {
        Some(at) if at > t => Err(EngineError::NoSuchVersion {
            location: label.to_string(),
            as_of: AsOf::Timestamp(t).to_string(),
            reason: format!(
                "its oldest readable version ({}) was committed at {}",
                state.version,
                at.to_rfc3339()
            ),
        }),
        _ => Ok(()),
    }
}

/// True when `_delta_log/` holds anything (one listing; a missing folder is no log).
async fn has_log(log_store: &LogStoreRef, label: &str) -> Result<bool> {
    let store = log_store.object_store(None);
    let dir = object_store::path::Path::from("_delta_log");
    match store.list(Some(&dir)).next().await {
        None | Some(Err(object_store::Error::NotFound { .. })) => Ok(false),
        Some(Ok(_)) => Ok(true),
        Some(Err(source)) => Err(EngineError::store(format!("{label}/_delta_log/"), source)),
    }
}

async fn state_of(table: DeltaTable, label: &str) -> Result<DeltaState> {
    let state = table.snapshot().map_err(delta_err(label))?;
    refuse_unreadable(state, label)?;
    let mut live = BTreeMap::new();
    for file in state.log_data().iter() {
        let path = file.path().to_string();
        let partition_values = file.partition_values_map().into_iter().collect();
        let rows = file.num_records().and_then(|n| u64::try_from(n).ok());
        live.insert(
            path.clone(),
            LiveFile {
                path,
                size: u64::try_from(file.size()).unwrap_or(0),
                partition_values,
                rows,
                modified_ms: Some(file.modification_time()),
            },
        );
    }
    let removed = state
        .all_tombstones(table.log_store().as_ref())
        .map_ok(|t| t.path().to_string())
        .try_collect()
        .await
        .map_err(delta_err(label))?;
    let version = state.version();
    let partition_columns = state.metadata().partition_columns().to_vec();
    let schema = state
        .schema()
        .as_ref()
        .try_into_arrow()
        .map_err(|e: arrow::error::ArrowError| EngineError::UnsupportedTable {
            location: label.to_string(),
            reason: format!("its schema has a type sluice cannot read ({e})"),
        })?;
    Ok(DeltaState {
        table,
        version,
        live,
        removed,
        partition_columns,
        schema: Arc::new(schema),
    })
}

/// Deletion vectors and column mapping change what a file's rows mean; sluice reads files whole
/// and by physical column name, so such tables are refused rather than misread.
fn refuse_unreadable(state: &deltalake_core::table::state::DeltaTableState, label: &str) -> Result<()> {
    let mapping = state
        .metadata()
        .configuration()
        .get("delta.columnMapping.mode")
        .cloned()
        .unwrap_or_default();
    if !mapping.is_empty() && mapping != "none" {
        return Err(EngineError::UnsupportedTable {
            location: label.to_string(),
            reason: format!("it uses Delta column mapping (`{mapping}`)"),
        });
    }
    if state
        .log_data()
        .iter()
        .any(|f| f.deletion_vector_descriptor().is_some())
    {
        return Err(EngineError::UnsupportedTable {
            location: label.to_string(),
            reason: "some of its files have deletion vectors".into(),
        });
    }
    Ok(())
}

impl DeltaState {
    /// The version `run_id` committed as, when it did.
    pub(crate) async fn committed(&self, run_id: &str, label: &str) -> Result<bool> {
        let state = self.table.snapshot().map_err(delta_err(label))?;
        let found = state
            .transaction_version(self.table.log_store().as_ref(), app_id(run_id))
            .await
            .map_err(delta_err(label))?;
        Ok(found.is_some())
    }
}

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

/// One version of a Delta table, as its `commitInfo` tells.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableVersion {
    /// The version.
    pub version: u64,
    /// When it was committed (RFC 3339), when recorded.
    pub committed_at: Option<String>,
    /// `WRITE`, `VACUUM END`, `OPTIMIZE`, ...
    pub operation: String,
    /// The sluice run that committed it (none for other writers).
    pub run_id: Option<String>,
    /// The write mode sluice committed with (`append`, `merge`, ...).
    pub mode: Option<String>,
    /// Rows the version added and removed, when sluice committed it.
    pub rows_added: Option<u64>,
    /// Rows in the files the version removed.
    pub rows_removed: Option<u64>,
}

/// The newest `limit` versions of the table, newest first.
pub(crate) async fn history(state: &DeltaState, limit: usize, label: &str) -> Result<Vec<TableVersion>> {
    let infos: Vec<_> = state
        .table
        .history(Some(limit))
        .try_collect()
        .await
        .map_err(delta_err(label))?;
    Ok(infos
        .into_iter()
        .enumerate()
        .map(|(i, info)| TableVersion {
            version: state.version.saturating_sub(i as u64),
            committed_at: info
                .timestamp
                .and_then(chrono::DateTime::from_timestamp_millis)
                .map(|t| t.to_rfc3339()),
            operation: info.operation.clone().unwrap_or_default(),
            run_id: info
                .info
                .get("sluiceRunId")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            mode: info
                .info
                .get("sluiceMode")
                .and_then(|v| v.as_str())
                .map(str::to_string),
            rows_added: info
                .info
                .get("sluiceRowsAdded")
                .and_then(serde_json::Value::as_u64),
            rows_removed: info
                .info
                .get("sluiceRowsRemoved")
                .and_then(serde_json::Value::as_u64),
        })
        .collect())
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
