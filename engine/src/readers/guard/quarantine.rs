//! The end of a guarded read: the quarantine file, and the one finish every command and job
//! calls (check the limit, write the quarantine, count, log examples).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use object_store::{ObjectStore, ObjectStoreExt};
use serde::Serialize;

use super::*;
use crate::error::{EngineError, Result};
use crate::stores::Location;

impl BadRecords {
    /// Writes the quarantined records as NDJSON to `<quarantine>/<name>.ndjson`, `name` being the
    /// one settled before or else `fallback`. Returns where the quarantine is: that file, the folder
    /// `<quarantine>/<name>/` a cluster's tasks wrote, or `None` when nothing was quarantined.
    pub async fn write_quarantine(
        &self,
        store: &Arc<dyn ObjectStore>,
        fallback: &str,
    ) -> Result<Option<String>> {
        let Some(folder) = &self.quarantine else {
            return Ok(None);
        };
        let name = self.output_name(|| fallback.to_string()).to_string();
        let records = self.kept.lock().clone();
        let shown = folder.original().trim_end_matches('/').to_string();
        if !records.is_empty() {
            put_records(store, folder, &format!("{name}.ndjson"), &records).await?;
            return Ok(Some(format!("{shown}/{name}.ndjson")));
        }
        if self.remote_bad.load(Ordering::Relaxed) > 0 {
            return Ok(Some(format!("{shown}/{name}/")));
        }
        Ok(None)
    }

    /// A cluster task's share of the quarantine: `<quarantine>/<name>/<part>.ndjson`, written by
    /// the task itself; nothing when it kept no records.
    pub async fn write_quarantine_part(&self, store: &Arc<dyn ObjectStore>, part: &str) -> Result<()> {
        let (Some(folder), Some(name)) = (&self.quarantine, self.name.get()) else {
            return Ok(());
        };
        let records = self.take_kept();
        if records.is_empty() {
            return Ok(());
        }
        put_records(store, folder, &format!("{name}/{part}.ndjson"), &records).await
    }

    /// Where quarantined records go.
    pub fn quarantine(&self) -> Option<&Location> {
        self.quarantine.as_ref()
    }
}

/// Writes `records` as NDJSON to `relative` under the quarantine `folder`.
async fn put_records(
    store: &Arc<dyn ObjectStore>,
    folder: &Location,
    relative: &str,
    records: &[BadRecord],
) -> Result<()> {
    let mut text = Vec::new();
    for r in records {
        serde_json::to_writer(&mut text, r).map_err(|e| EngineError::InvalidOption {
            option: "quarantine".into(),
            reason: e.to_string(),
        })?;
        text.push(b'\n');
    }
    let folder = folder.as_folder();
    let path = object_store::path::Path::from(format!(
        "{}/{relative}",
        folder.store_path().as_ref().trim_end_matches('/')
    ));
    store
        .put(&path, text.into())
        .await
        .map_err(|source| EngineError::Store {
            location: folder.original().to_string(),
            source,
        })?;
    Ok(())
}

/// What a guarded read ended with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadRecordsReport {
    /// Good, skipped and quarantined records.
    pub counts: BadRecordCounts,
    /// Where the quarantined records are: a file, or the folder a cluster's tasks wrote; `None`
    /// when nothing was quarantined.
    pub quarantine_file: Option<String>,
}

/// Bad records logged as examples when a read ends.
const LOGGED_EXAMPLES: usize = 3;

impl BadRecords {
    /// Ends a guarded read, as every command and job does before its output commits: fails beyond
    /// `max_bad_records`, writes the quarantine (as `name`, unless a name was settled before) on
    /// the store `store_for` gives for the quarantine folder, and logs up to three bad records as
    /// warnings (naming `source` when given).
    pub async fn finish(
        &self,
        store_for: impl FnOnce(&Location) -> Result<Arc<dyn ObjectStore>>,
        name: &str,
        source: Option<&str>,
    ) -> Result<BadRecordsReport> {
        self.check()?;
        let quarantine_file = match &self.quarantine {
            Some(folder) => self.write_quarantine(&store_for(folder)?, name).await?,
            None => None,
        };
        let counts = self.counts();
        for example in self.examples().iter().take(LOGGED_EXAMPLES) {
            tracing::warn!(
                source = source.map(tracing::field::display),
                record = %example.describe(),
                "bad record left out"
            );
        }
        Ok(BadRecordsReport {
            counts,
            quarantine_file,
        })
    }
}
