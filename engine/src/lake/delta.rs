//! The Delta Lake log of a table, read with deltalake-core on sluice's own object store (so retries,
//! endpoints and credentials stay sluice's): the readers' and the writer's view of which files
//! make up a version.
//!
//! ```text
//! open:    bucket-rooted store + table URL ──> DeltaTable (None when there is no `_delta_log`)
//! state:   live files (add), tombstones (remove, kept until vacuum), version, schema
//! as of:   latest | version n | timestamp t (by `commitInfo` times, else by the log files' times)
//! ```
//!
//! A run's idempotency key is the Delta app transaction `sluice-<run_id>`: a retry of a run that
//! already committed finds it in the snapshot and writes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use deltalake_core::kernel::engine::arrow_conversion::TryIntoArrow;
use deltalake_core::logstore::{LogStoreRef, StorageConfig, default_logstore};
use deltalake_core::{DeltaTable, DeltaTableError};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use url::Url;

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

pub(crate) fn delta_err(label: &str) -> impl FnOnce(DeltaTableError) -> EngineError + '_ {
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
