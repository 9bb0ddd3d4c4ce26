//! Moving a run's staged files into place.
//!
//! ```text
//! preflight: list existing data files (fail early for error-if-exists)
//! commit:    staged files ──rename──> final paths   (new data visible next to the old)
//!            replaced files (overwrite modes) ──delete──> gone
//!            `_SUCCESS` manifest (run id, files, rows, bytes) written last
//!            staging folder removed
//! abort:     staging folder removed; nothing outside it was touched
//! ```
//!
//! Limits: between the first rename and the last delete a reader listing the folder directly can see
//! old and new files together; readers going through the catalog do not (see `docs/writing.md`).

use std::collections::HashSet;
use std::sync::Arc;

use arrow::datatypes::Schema;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde::Serialize;

use super::{STAGING_DIR, WriteMode};
use crate::error::{EngineError, Result};
use crate::readers::is_hidden;
use crate::stores::Location;

/// One data file a run wrote, relative to the destination.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
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
    /// Files written, sorted by path.
    pub files: Vec<WrittenFile>,
    /// Distinct partition folders written (0 when unpartitioned).
    pub partitions: usize,
    /// Rows written.
    pub rows: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Older files removed by an overwrite mode.
    pub replaced_files: usize,
}

pub(super) struct Committer {
    store: Arc<dyn ObjectStore>,
    dest: Location,
    run_id: String,
}

impl Committer {
    pub(super) fn new(store: Arc<dyn ObjectStore>, dest: Location, run_id: String) -> Self {
        Self { store, dest, run_id }
    }

    fn root(&self) -> Path {
        self.dest.store_path()
    }

    fn child(&self, relative: &str) -> Result<Path> {
        let root = self.root();
        let full = if root.as_ref().is_empty() {
            relative.to_string()
        } else {
            format!("{root}/{relative}")
        };
        Path::parse(&full).map_err(|e| EngineError::InvalidLocation {
            location: full.clone(),
            reason: e.to_string(),
        })
    }

    pub(super) fn staging_path(&self) -> Path {
        self.child(&format!("{STAGING_DIR}/{}", self.run_id))
            .expect("run ids are path-safe")
    }

    /// Lists the data files already at the destination; fails for `error-if-exists` when there are any.
    pub(super) async fn preflight(&self, mode: WriteMode) -> Result<Vec<Path>> {
        let root = self.root();
        let prefix = (!root.as_ref().is_empty()).then_some(&root);
        let listed: Vec<_> = match self.store.list(prefix).try_collect().await {
            Ok(listed) => listed,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(source) => return Err(EngineError::store(self.dest.original(), source)),
        };
        let existing: Vec<Path> = listed
            .into_iter()
            .map(|m| m.location)
            .filter(|p| {
                p.prefix_match(&root)
                    .is_some_and(|mut parts| !parts.any(|s| is_hidden(s.as_ref())))
            })
            .collect();
        if mode == WriteMode::ErrorIfExists && !existing.is_empty() {
            return Err(EngineError::DestinationNotEmpty {
                location: self.dest.original().to_string(),
            });
        }
        Ok(existing)
    }

    pub(super) async fn commit(
        &self,
        mode: WriteMode,
        files: Vec<WrittenFile>,
        existing: Vec<Path>,
        schema: &Schema,
    ) -> Result<CommitReport> {
        let staging = self.staging_path();
        // Renames are independent; a handful at a time keeps S3 copies fast without throttling.
        futures::stream::iter(files.iter().map(|f| {
            let from = self.child(&format!("{STAGING_DIR}/{}/{}", self.run_id, f.path));
            let to = self.child(&f.path);
            async move {
                let (from, to) = (from?, to?);
                self.store
                    .rename(&from, &to)
                    .await
                    .map_err(|source| EngineError::store(to.to_string(), source))
            }
        }))
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;

        let written_dirs: HashSet<&str> = files.iter().map(|f| parent(&f.path)).collect();
        let root = self.root();
        let replaced: Vec<Path> = existing
            .into_iter()
            .filter(|p| match mode {
                WriteMode::Overwrite => true,
                WriteMode::OverwritePartitions => {
                    let rel = relative(&root, p);
                    written_dirs.contains(parent(&rel))
                }
                WriteMode::Append | WriteMode::ErrorIfExists => false,
            })
            .collect();
        self.delete_all(replaced.clone()).await?;

        let report = CommitReport {
            run_id: self.run_id.clone(),
            destination: self.dest.url().to_string(),
            mode,
            partitions: files
                .iter()
                .filter(|f| !f.partition_values.is_empty())
                .map(|f| parent(&f.path))
                .collect::<HashSet<_>>()
                .len(),
            rows: files.iter().map(|f| f.rows).sum(),
            bytes: files.iter().map(|f| f.bytes).sum(),
            files,
            replaced_files: replaced.len(),
        };
        self.write_manifest(&report, schema).await?;
        self.remove_staging(&staging).await;
        Ok(report)
    }

    async fn write_manifest(&self, report: &CommitReport, schema: &Schema) -> Result<()> {
        let manifest = serde_json::json!({
            "run_id": report.run_id,
            "committed_at": chrono::Utc::now().to_rfc3339(),
            "writer": format!("sluice {}", env!("CARGO_PKG_VERSION")),
            "mode": report.mode,
            "rows": report.rows,
            "bytes": report.bytes,
            "partitions": report.partitions,
            "schema": schema.fields().iter().map(|f| serde_json::json!({"name": f.name(), "type": f.data_type().to_string()})).collect::<Vec<_>>(),
            "files": report.files,
        });
        let body = serde_json::to_vec_pretty(&manifest).expect("a JSON value serializes");
        let path = self.child("_SUCCESS")?;
        self.store
            .put(&path, PutPayload::from(body))
            .await
            .map_err(|source| EngineError::store(path.to_string(), source))?;
        Ok(())
    }

    /// Removes whatever this run staged. Best effort: a failure here is logged, not raised, because
    /// the run has already failed for another reason.
    pub(super) async fn abort(&self) {
        let staging = self.staging_path();
        self.remove_staging(&staging).await;
    }

    async fn remove_staging(&self, staging: &Path) {
        let listed: Vec<Path> = match self
            .store
            .list(Some(staging))
            .map_ok(|m| m.location)
            .try_collect()
            .await
        {
            Ok(listed) => listed,
            Err(e) => {
                tracing::warn!(staging = %staging, error = %e, "could not list the staging folder for cleanup");
                return;
            }
        };
        if let Err(e) = self.delete_all(listed).await {
            tracing::warn!(staging = %staging, error = %e, "could not remove staged files");
        }
        if let Some(local) = self.dest.local_path() {
            // Object stores have no folders; on disk the empty staging folders would linger.
            let dir = local.join(STAGING_DIR);
            let _ = std::fs::remove_dir_all(dir.join(&self.run_id));
            let _ = std::fs::remove_dir(dir);
        }
    }

    async fn delete_all(&self, paths: Vec<Path>) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let locations = futures::stream::iter(paths.into_iter().map(Ok)).boxed();
        self.store
            .delete_stream(locations)
            .try_collect::<Vec<_>>()
            .await
            .map_err(|source| EngineError::store(self.dest.original(), source))?;
        Ok(())
    }
}

fn parent(relative: &str) -> &str {
    relative.rsplit_once('/').map(|(dir, _)| dir).unwrap_or("")
}

fn relative(root: &Path, path: &Path) -> String {
    match path.prefix_match(root) {
        Some(parts) => parts
            .map(|p| p.as_ref().to_string())
            .collect::<Vec<_>>()
            .join("/"),
        None => path.to_string(),
    }
}
