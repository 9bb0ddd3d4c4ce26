//! One write's way from "files on the store" to "part of the table".
//!
//! ```text
//! start:  replay the log ── run id already committed? ──> its report (a retry converges)
//!         list the destination ── error-if-exists and data visible? ──> refuse
//!         in-flight marker; delete orphans of dead runs
//! write:  data files go straight to their final `key=value/` folders under names with the run id
//! commit: record N+1 with added + removed files, created only if absent ──> the commit point
//!         (lost the race? replay and retry with N+2)
//!         delete the removed files ──> `_SUCCESS` manifest ──> drop the in-flight marker
//! abort:  delete this run's files (abort unfinished uploads) and its marker
//! ```
//!
//! Nothing is removed before the commit record exists, and a killed run leaves only files that no
//! record names; the next write or `sluice vacuum` deletes them.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::datatypes::Schema;
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use super::log::{self, ColumnRecord, CommitLog, CommitRecord, Snapshot};
use super::{WriteMode, fault_point};
use crate::error::{EngineError, Result};
use crate::readers::is_hidden;
use crate::stores::Location;

/// Attempts at taking the next log number before giving up on a busy destination.
const MAX_COMMIT_ATTEMPTS: usize = 20;

/// One data file a run wrote, relative to the destination.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WrittenFile {
    /// Path below the destination, `key=value/part-….parquet`.
    pub path: String,
    /// Partition values in `partition_by` order; `None` is the default partition.
    pub partition_values: Vec<Option<String>>,
    /// Rows in the file.
    pub rows: u64,
    /// Bytes in the file.
    pub bytes: u64,
}

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

/// Lists the data files under `root` (hidden names such as `_sluice/`, `_SUCCESS`, `.crc` skipped).
async fn list_data(store: &dyn ObjectStore, root: &Path, label: &str) -> Result<Vec<Path>> {
    let prefix = (!root.as_ref().is_empty()).then_some(root);
    let listed: Vec<_> = match store.list(prefix).try_collect().await {
        Ok(listed) => listed,
        Err(object_store::Error::NotFound { .. }) => Vec::new(),
        Err(source) => return Err(EngineError::store(label, source)),
    };
    Ok(listed
        .into_iter()
        .map(|m| m.location)
        .filter(|p| {
            p.prefix_match(root)
                .is_some_and(|mut parts| !parts.any(|s| is_hidden(s.as_ref())))
        })
        .collect())
}

pub(super) enum Start {
    /// The run id is in the log already: nothing to write.
    Done(CommitReport),
    /// Go ahead and write.
    Ready(Committer),
}

pub(super) struct Committer {
    store: Arc<dyn ObjectStore>,
    log: CommitLog,
    dest: Location,
    run_id: String,
    listed: Vec<Path>,
    orphans_removed: usize,
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
        let log = CommitLog::new(Arc::clone(&store), dest.store_path(), dest.original());
        let snapshot = log.load().await?;
        if let Some(record) = snapshot.committed.get(&run_id) {
            tracing::info!(run_id, "run already committed; nothing to write");
            let seq = snapshot.seq_of(&run_id);
            return Ok(Start::Done(report(&dest, record, seq, 0, true)));
        }
        let listed = list_data(store.as_ref(), &dest.store_path(), dest.original()).await?;
        if mode == WriteMode::ErrorIfExists && listed.iter().any(|p| snapshot.is_visible(&log.relative(p))) {
            return Err(EngineError::DestinationNotEmpty {
                location: dest.original().to_string(),
            });
        }
        log.mark_running(&run_id).await?;
        fault_point("after-marker");
        let orphans = log.clean_orphans(&snapshot, &listed, false).await?;
        if !orphans.is_empty() {
            tracing::info!(count = orphans.len(), "deleted files of failed or killed runs");
        }
        let orphan_set: HashSet<&String> = orphans.iter().collect();
        let listed = listed
            .into_iter()
            .filter(|p| !orphan_set.contains(&log.relative(p)))
            .collect();
        Ok(Start::Ready(Self {
            store,
            log,
            dest,
            run_id,
            listed,
            orphans_removed: orphans.len(),
        }))
    }

    /// Where a file with this destination-relative name is written.
    pub(super) fn path(&self, relative: &str) -> Result<Path> {
        self.log.child(relative)
    }

    pub(super) async fn commit(
        self,
        mode: WriteMode,
        mut files: Vec<WrittenFile>,
        partition_by: &[String],
        schema: &Schema,
    ) -> Result<CommitReport> {
        files.sort_by(|a, b| a.path.cmp(&b.path));
        fault_point("before-commit");
        let written_dirs: HashSet<&str> = files.iter().map(|f| parent(&f.path)).collect();
        let mut attempt = 0;
        let (seq, record) = loop {
            attempt += 1;
            let snapshot = self.log.load().await?;
            // A put that succeeded but whose answer was lost (and retried into a conflict) shows
            // up as our own record: the commit happened.
            if let Some((seq, record)) = snapshot
                .committed
                .get(&self.run_id)
                .map(|r| (snapshot.seq_of(&self.run_id), r))
            {
                break (seq, record.clone());
            }
            let removed = self.replaced(&snapshot, mode, &written_dirs);
            let record = CommitRecord {
                version: 1,
                run_id: self.run_id.clone(),
                committed_at: chrono::Utc::now().to_rfc3339(),
                mode,
                added: files.clone(),
                removed,
                partition_by: partition_by.to_vec(),
                schema: schema
                    .fields()
                    .iter()
                    .map(|f| ColumnRecord {
                        name: f.name().clone(),
                        data_type: f.data_type().to_string(),
                    })
                    .collect(),
                writer: format!("sluice {}", env!("CARGO_PKG_VERSION")),
            };
            if self.log.try_append(snapshot.next_seq, &record).await? {
                break (snapshot.next_seq, record);
            }
            if attempt >= MAX_COMMIT_ATTEMPTS {
                return Err(EngineError::CommitConflict {
                    location: self.dest.original().to_string(),
                    attempts: attempt,
                });
            }
            tracing::debug!(attempt, "another write committed first; replaying the log");
        };
        fault_point("after-commit");
        let removed: Vec<Path> = record
            .removed
            .iter()
            .filter_map(|r| self.log.child(r).ok())
            .collect();
        if let Err(e) = self.log.delete_all(removed).await {
            tracing::warn!(error = %e, "replaced files stay until the next write or `sluice vacuum`");
        }
        fault_point("after-delete");
        let report = report(&self.dest, &record, seq, self.orphans_removed, false);
        // The commit has happened; a missing manifest only inconveniences tools that wait for it.
        if let Err(e) = self.write_manifest(&report, &record).await {
            tracing::warn!(error = %e, "committed, but the _SUCCESS manifest could not be written");
        }
        fault_point("after-success");
        self.log.unmark_running(&self.run_id).await;
        Ok(report)
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
            .map(|p| self.log.relative(p))
            .filter(|r| snapshot.is_visible(r))
            .collect();
        // Files another run committed after this one listed the destination.
        candidates.extend(snapshot.live.iter().cloned());
        candidates.sort();
        candidates.dedup();
        candidates
            .into_iter()
            .filter(|r| log::run_id_of(r) != Some(self.run_id.as_str()))
            .filter(|r| mode == WriteMode::Overwrite || written_dirs.contains(parent(r)))
            .collect()
    }

    async fn write_manifest(&self, report: &CommitReport, record: &CommitRecord) -> Result<()> {
        let manifest = serde_json::json!({
            "run_id": report.run_id,
            "commit": report.commit,
            "committed_at": record.committed_at,
            "writer": record.writer,
            "mode": report.mode,
            "rows": report.rows,
            "bytes": report.bytes,
            "partitions": report.partitions,
            "schema": record.schema,
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

fn report(
    dest: &Location,
    record: &CommitRecord,
    seq: u64,
    orphans_removed: usize,
    already: bool,
) -> CommitReport {
    let files = record.added.clone();
    CommitReport {
        run_id: record.run_id.clone(),
        destination: dest.url().to_string(),
        mode: record.mode,
        commit: seq,
        partitions: files
            .iter()
            .filter(|f| !f.partition_values.is_empty())
            .map(|f| parent(&f.path))
            .collect::<HashSet<_>>()
            .len(),
        rows: files.iter().map(|f| f.rows).sum(),
        bytes: files.iter().map(|f| f.bytes).sum(),
        replaced_files: record.removed.len(),
        orphans_removed,
        already_committed: already,
        files,
    }
}

fn parent(relative: &str) -> &str {
    relative.rsplit_once('/').map(|(dir, _)| dir).unwrap_or("")
}

/// Deletes orphaned files at a destination: files of failed or killed runs and files an overwrite
/// removed but did not get to delete. Returns their paths relative to the destination.
pub async fn vacuum(store: Arc<dyn ObjectStore>, dest: &Location, dry_run: bool) -> Result<Vec<String>> {
    let log = CommitLog::new(Arc::clone(&store), dest.store_path(), dest.original());
    let snapshot = log.load().await?;
    let listed = list_data(store.as_ref(), &dest.store_path(), dest.original()).await?;
    let mut removed = log.clean_orphans(&snapshot, &listed, dry_run).await?;
    removed.sort();
    Ok(removed)
}
