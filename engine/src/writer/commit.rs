//! One write's way from "files on the store" to "part of the table".
//!
//! ```text
//! start:  read the Delta log ── txn sluice-<run id> there? ──> its report (a retry converges)
//!         list the destination ── error-if-exists and data visible? ──> refuse
//!         in-flight marker; delete orphans of dead runs
//! write:  data files go straight to their final `key=value/` folders under names with the run id
//! commit: `_delta_log` version N+1 with add (+ stats) and remove, created only if absent ──> the
//!         commit point (lost the race? read the log again and retry with N+2)
//!         `_SUCCESS` manifest ──> drop the in-flight marker
//! abort:  delete this run's files (abort unfinished uploads) and its marker
//! ```
//!
//! The first commit to a folder without a Delta log is version 0: it adds what the folder already
//! holds (an older sluice's committed files, other writers' Parquet files) unless the write replaces
//! it, so no reader loses data. Removed files stay for readers of older versions; `sluice vacuum`
//! deletes them after the retention. A killed run leaves only files that no commit names; the next
//! write or `sluice vacuum` deletes them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use arrow::datatypes::Schema;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use serde::Serialize;

use super::delta;
use super::merge::MergeCheck;
use super::{WriteMode, WrittenFile, fault_point};
use crate::error::{EngineError, Result};
use crate::lake::layout::parse_partition_segment;
use crate::lake::log::{self, CommitLog, LogKind, Snapshot};
use crate::lake::{ColumnRecord, LiveFile};
use crate::readers::is_hidden;
use crate::stores::Location;

/// Attempts at taking the next log number before giving up on a busy destination.
const MAX_COMMIT_ATTEMPTS: usize = 20;

/// What a committed write produced.
#[derive(Debug, Clone, Serialize)]
pub struct CommitReport {
    /// The run that wrote the files.
    pub run_id: String,
    /// The destination folder.
    pub destination: String,
    /// The write mode used.
    pub mode: WriteMode,
    /// The log number of the commit.
    pub commit: u64,
    /// Files written, sorted by path.
    pub files: Vec<WrittenFile>,
    /// Distinct partition folders written (0 when unpartitioned).
    pub partitions: usize,
    /// Rows written.
    pub rows: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Older files an overwrite mode removed.
    pub replaced_files: usize,
    /// Files of failed or killed runs deleted before this write.
    pub orphans_removed: usize,
    /// True when the run id was already committed and nothing was written again.
    pub already_committed: bool,
}

/// Lists the data files under `root` (hidden names such as `_sluice/`, `_delta_log/`, `_SUCCESS`
/// and `.crc` skipped).
async fn list_data(store: &dyn ObjectStore, root: &Path, label: &str) -> Result<Vec<ObjectMeta>> {
    let prefix = (!root.as_ref().is_empty()).then_some(root);
    let listed: Vec<_> = match store.list(prefix).try_collect().await {
        Ok(listed) => listed,
        Err(object_store::Error::NotFound { .. }) => Vec::new(),
        Err(source) => return Err(EngineError::store(label, source)),
    };
    Ok(listed
        .into_iter()
        .filter(|m| {
            m.location
                .prefix_match(root)
                .is_some_and(|mut parts| !parts.any(|s| is_hidden(s.as_ref())))
        })
        .collect())
}

pub(super) enum Start {
    /// The run id is in the log already: nothing to write.
    Done(CommitReport),
    /// Go ahead and write.
    Ready(Box<Committer>),
}

pub(super) struct Committer {
    store: Arc<dyn ObjectStore>,
    log: CommitLog,
    dest: Location,
    run_id: String,
    listed: Vec<ObjectMeta>,
    orphans_removed: usize,
    /// Partition columns of the Delta table already there.
    table_partitions: Option<Vec<String>>,
}

impl Committer {
    pub(super) async fn start(
        store: Arc<dyn ObjectStore>,
        dest: Location,
        run_id: String,
        mode: WriteMode,
    ) -> Result<Start> {
        if dest
            .local_path()
            .is_some_and(|p| p.components().collect::<std::path::PathBuf>().is_file())
        {
            return Err(EngineError::InvalidLocation {
                location: dest.original().to_string(),
                reason: "it is a file; Parquet output goes to a folder".into(),
            });
        }
        let log = CommitLog::new(Arc::clone(&store), &dest);
        let snapshot = log.load().await?;
        if snapshot.committed(&run_id, dest.original()).await? {
            tracing::info!(run_id, "run already committed; nothing to write");
            return Ok(Start::Done(already_committed(&dest, &snapshot, &run_id, mode)));
        }
        let listed = list_data(store.as_ref(), &dest.store_path(), dest.original()).await?;
        if mode == WriteMode::ErrorIfExists
            && listed
                .iter()
                .any(|m| snapshot.is_visible(&log.relative(&m.location)))
        {
            return Err(EngineError::DestinationNotEmpty {
                location: dest.original().to_string(),
            });
        }
        log.mark_running(&run_id).await?;
        fault_point("after-marker");
        let paths: Vec<Path> = listed.iter().map(|m| m.location.clone()).collect();
        let orphans = log.clean_orphans(&snapshot, &paths, false).await?;
        if !orphans.is_empty() {
            tracing::info!(count = orphans.len(), "deleted files of failed or killed runs");
        }
        let orphan_set: HashSet<&String> = orphans.iter().collect();
        let listed = listed
            .into_iter()
            .filter(|m| !orphan_set.contains(&log.relative(&m.location)))
            .collect();
        Ok(Start::Ready(Box::new(Self {
            store,
            log,
            dest,
            run_id,
            listed,
            orphans_removed: orphans.len(),
            table_partitions: snapshot.delta.as_ref().map(|d| d.partition_columns.clone()),
        })))
    }

    /// The partition columns this write uses: the ones asked for, or the table's when none are.
    /// Only an overwrite may change a table's partitioning.
    pub(super) fn partition_by(&self, given: &[String], mode: WriteMode) -> Result<Vec<String>> {
        let Some(table) = &self.table_partitions else {
            return Ok(given.to_vec());
        };
        if given.is_empty() {
            return Ok(table.clone());
        }
        if given == table.as_slice() || mode == WriteMode::Overwrite {
            return Ok(given.to_vec());
        }
        Err(EngineError::InvalidOption {
            option: "--partition-by".into(),
            reason: format!(
                "`{}` is partitioned by [{}] and this write asks for [{}]; leave the partition columns out to use the table's, or write with mode overwrite to repartition it",
                self.dest.original(),
                table.join(", "),
                given.join(", ")
            ),
        })
    }

    pub(super) async fn commit(
        self,
        mode: WriteMode,
        mut files: Vec<WrittenFile>,
        partition_by: &[String],
        schema: &Schema,
        info: serde_json::Map<String, serde_json::Value>,
        merge: Option<&MergeCheck>,
    ) -> Result<CommitReport> {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        fault_point("before-commit");
        let written_dirs: HashSet<&str> = files.iter().map(|f| parent(&f.path)).collect();
        let added: Vec<LiveFile> = files.iter().map(|f| live_file(f, partition_by)).collect();
        let stats: HashMap<String, String> = files
            .iter()
            .filter_map(|f| Some((f.path.clone(), f.stats.clone()?)))
            .collect();
        let mut attempt = 0;
        let (version, replaced, converted) = loop {
            attempt += 1;
            let snapshot = self.log.load().await?;
            // A put that succeeded but whose answer was lost (and retried into a conflict) shows
            // up as our own transaction: the commit happened.
            if snapshot.committed(&self.run_id, self.dest.original()).await? {
                let version = snapshot.delta.as_ref().map_or(0, |d| d.version);
                break (version, Vec::new(), false);
            }
            let replaced = self.replaced(&snapshot, mode, &written_dirs);
            let converted = snapshot.kind != LogKind::Delta;
            let (carried, removed) = if let Some(check) = merge {
                self.still_as_planned(&snapshot, check)?;
                (Vec::new(), check.removed.clone())
            } else if converted {
                (self.carried(&snapshot, &replaced, partition_by), Vec::new())
            } else {
                (
                    Vec::new(),
                    replaced
                        .iter()
                        .filter_map(|r| snapshot.live.get(r).cloned())
                        .collect(),
                )
            };
            let commit = delta::Commit {
                run_id: &self.run_id,
                mode,
                partition_by,
                schema,
                added: added.iter().cloned().chain(carried).collect(),
                stats: stats.clone(),
                removed,
                info: info.clone(),
                compaction: merge.and_then(|m| m.compaction.clone()),
            };
            if let Some(version) = self.log.try_commit(&snapshot, &commit).await? {
                break (version, replaced, converted);
            }
            if attempt >= MAX_COMMIT_ATTEMPTS {
                return Err(EngineError::CommitConflict {
                    location: self.dest.original().to_string(),
                    attempts: attempt,
                });
            }
            tracing::debug!(attempt, "another write committed first; reading the log again");
        };
        fault_point("after-commit");
        if converted {
            self.finish_conversion(&replaced).await;
        }
        fault_point("after-delete");
        let report = CommitReport {
            run_id: self.run_id.clone(),
            destination: self.dest.url().to_string(),
            mode,
            commit: version,
            partitions: partitions_of(&files),
            rows: files.iter().map(|f| f.rows).sum(),
            bytes: files.iter().map(|f| f.bytes).sum(),
            replaced_files: replaced.len() + merge.map_or(0, |m| m.removed.len()),
            orphans_removed: self.orphans_removed,
            already_committed: false,
            files,
        };
        // The commit has happened; a missing manifest only inconveniences tools that wait for it.
        if let Err(e) = self.write_manifest(&report, schema).await {
            tracing::warn!(error = %e, "committed, but the _SUCCESS manifest could not be written");
        }
        fault_point("after-success");
        self.log.unmark_running(&self.run_id).await;
        Ok(report)
    }

    /// A merge read the files of the partitions it touches; a commit that changed them since
    /// (another merge, an overwrite, an append) would make its result wrong.
    fn still_as_planned(&self, snapshot: &Snapshot, check: &MergeCheck) -> Result<()> {
        let now: std::collections::BTreeSet<String> = snapshot
            .live
            .values()
            .filter(|f| check.touches(f))
            .map(|f| f.path.clone())
            .collect();
        if now == check.candidates {
            return Ok(());
        }
        Err(EngineError::MergeConflict {
            location: self.dest.original().to_string(),
        })
    }

    /// Lets go of this run without deleting its files: they belong to another commit now.
    pub(super) async fn release(self) {
        self.log.unmark_running(&self.run_id).await;
    }

    /// After the first Delta commit of a destination: files it replaced were never in a Delta log,
    /// so no Delta reader needs them; an older sluice's log is now held by `_delta_log`.
    async fn finish_conversion(&self, replaced: &[String]) {
        let removed: Vec<Path> = replaced.iter().filter_map(|r| self.log.child(r).ok()).collect();
        if let Err(e) = self.log.delete_all(removed).await {
            tracing::warn!(error = %e, "replaced files stay until the next write or `sluice vacuum`");
        }
        self.log.drop_legacy().await;
    }

    /// Files the commit removes: everything visible for `overwrite`, the visible files in the
    /// written partitions for `overwrite-partitions`, nothing otherwise.
    fn replaced(&self, snapshot: &Snapshot, mode: WriteMode, written_dirs: &HashSet<&str>) -> Vec<String> {
        if !matches!(mode, WriteMode::Overwrite | WriteMode::OverwritePartitions) {
            return Vec::new();
        }
        let mut candidates: Vec<String> = self
            .listed
            .iter()
            .map(|m| self.log.relative(&m.location))
            .filter(|r| snapshot.is_visible(r))
            .collect();
        // Files another run committed after this one listed the destination.
        candidates.extend(snapshot.live.keys().cloned());
        candidates.sort();
        candidates.dedup();
        candidates
            .into_iter()
            .filter(|r| log::run_id_of(r) != Some(self.run_id.as_str()))
            .filter(|r| mode == WriteMode::Overwrite || written_dirs.contains(parent(r)))
            .collect()
    }

    /// What a destination without a Delta log already holds and keeps: an older sluice's
    /// committed files and other writers' Parquet files, added to version 0 so no reader loses them.
    fn carried(&self, snapshot: &Snapshot, replaced: &[String], partition_by: &[String]) -> Vec<LiveFile> {
        let replaced: HashSet<&String> = replaced.iter().collect();
        self.listed
            .iter()
            .filter_map(|m| {
                let rel = self.log.relative(&m.location);
                let keep = snapshot.is_visible(&rel)
                    && !replaced.contains(&rel)
                    && log::run_id_of(&rel) != Some(self.run_id.as_str())
                    && rel.ends_with(".parquet");
                keep.then(|| {
                    snapshot.live.get(&rel).cloned().unwrap_or_else(|| LiveFile {
                        partition_values: partition_values_of(&rel, partition_by),
                        path: rel,
                        size: m.size,
                        rows: None,
                        modified_ms: None,
                    })
                })
            })
            .collect()
    }

    async fn write_manifest(&self, report: &CommitReport, schema: &Schema) -> Result<()> {
        let columns: Vec<ColumnRecord> = schema
            .fields()
            .iter()
            .map(|f| ColumnRecord {
                name: f.name().clone(),
                data_type: f.data_type().to_string(),
            })
            .collect();
        let manifest = serde_json::json!({
            "run_id": report.run_id,
            "commit": report.commit,
            "committed_at": chrono::Utc::now().to_rfc3339(),
            "writer": format!("sluice {}", env!("CARGO_PKG_VERSION")),
            "mode": report.mode,
            "rows": report.rows,
            "bytes": report.bytes,
            "partitions": report.partitions,
            "schema": columns,
            "files": report.files,
        });
        let body = serde_json::to_vec_pretty(&manifest).expect("a JSON value serializes");
        let path = self.log.child("_SUCCESS")?;
        self.store
            .put(&path, PutPayload::from(body))
            .await
            .map_err(|source| {
                EngineError::store(format!("{}_SUCCESS", self.dest.as_folder().original()), source)
            })?;
        Ok(())
    }

    /// Deletes what this run wrote and its marker. Best effort: the run has failed already, and what
    /// stays behind is an orphan the next write removes.
    pub(super) async fn abort(self, written: Vec<String>) {
        let paths: Vec<Path> = written.iter().filter_map(|r| self.log.child(r).ok()).collect();
        if let Err(e) = self.log.delete_all(paths).await {
            tracing::warn!(error = %e, "files of the failed run stay until the next write or `sluice vacuum`");
        }
        self.log.unmark_running(&self.run_id).await;
    }
}

/// A written file as the log records it: partition values by column name.
fn live_file(f: &WrittenFile, partition_by: &[String]) -> LiveFile {
    LiveFile {
        path: f.path.clone(),
        size: f.bytes,
        partition_values: partition_by
            .iter()
            .cloned()
            .zip(f.partition_values.iter().cloned())
            .collect(),
        rows: Some(f.rows),
        modified_ms: None,
    }
}

/// Partition values from a file's `key=value/` folders, for the columns the table is partitioned by.
fn partition_values_of(relative: &str, partition_by: &[String]) -> BTreeMap<String, Option<String>> {
    let found: HashMap<String, Option<String>> =
        relative.split('/').filter_map(parse_partition_segment).collect();
    partition_by
        .iter()
        .map(|c| (c.clone(), found.get(c).cloned().flatten()))
        .collect()
}

fn partitions_of(files: &[WrittenFile]) -> usize {
    files
        .iter()
        .filter(|f| !f.partition_values.is_empty())
        .map(|f| parent(&f.path))
        .collect::<HashSet<_>>()
        .len()
}

/// The report of a retried run whose commit is already in the log.
fn already_committed(dest: &Location, snapshot: &Snapshot, run_id: &str, mode: WriteMode) -> CommitReport {
    let partition_by = snapshot
        .delta
        .as_ref()
        .map(|d| d.partition_columns.clone())
        .unwrap_or_default();
    let files: Vec<WrittenFile> = snapshot
        .files_of(run_id)
        .into_iter()
        .map(|f| WrittenFile {
            path: f.path.clone(),
            partition_values: partition_by
                .iter()
                .map(|c| f.partition_values.get(c).cloned().flatten())
                .collect(),
            rows: f.rows.unwrap_or(0),
            bytes: f.size,
            stats: None,
        })
        .collect();
    CommitReport {
        run_id: run_id.to_string(),
        destination: dest.url().to_string(),
        mode,
        commit: snapshot.delta.as_ref().map_or(0, |d| d.version),
        partitions: partitions_of(&files),
        rows: files.iter().map(|f| f.rows).sum(),
        bytes: files.iter().map(|f| f.bytes).sum(),
        replaced_files: 0,
        orphans_removed: 0,
        already_committed: true,
        files,
    }
}

fn parent(relative: &str) -> &str {
    relative.rsplit_once('/').map(|(dir, _)| dir).unwrap_or("")
}

/// Deletes what no reader needs at a destination: files of failed or killed runs, and files a
/// commit removed longer than `retain` ago (Delta readers of older versions need them until then).
/// Returns their paths relative to the destination.
pub async fn vacuum(
    store: Arc<dyn ObjectStore>,
    dest: &Location,
    retain: std::time::Duration,
    dry_run: bool,
) -> Result<Vec<String>> {
    let log = CommitLog::new(Arc::clone(&store), dest);
    let snapshot = log.load().await?;
    let listed = list_data(store.as_ref(), &dest.store_path(), dest.original()).await?;
    // A mistyped destination is not a clean one.
    if listed.is_empty() && !snapshot.has_log() {
        return Err(EngineError::NotFound {
            location: dest.original().to_string(),
        });
    }
    let paths: Vec<Path> = listed.into_iter().map(|m| m.location).collect();
    let mut removed = log.clean_orphans(&snapshot, &paths, dry_run).await?;
    if let Some(delta) = snapshot.delta {
        removed.extend(delta::vacuum(delta, retain, dry_run, dest.original()).await?);
    }
    removed.sort();
    Ok(removed)
}
