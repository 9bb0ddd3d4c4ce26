//! Reading CSV and NDJSON with a bad-records policy, as Spark's FAILFAST / DROPMALFORMED /
//! PERMISSIVE modes and Glue's bad-records path do, saying exactly where each bad record is.
//!
//! ```text
//! file bytes ──decompress──> record splitter (csv-core / lines) ──> (raw bytes, line, offset)
//!     ──> batches of 8,192 raw records ──> arrow's own decoder ──ok──> rows by column name
//!                                                         └─error──> halve and retry, down to the
//!                                                                   record arrow refuses: bad
//! ```
//!
//! Arrow's decoder is the judge of what parses, so a record counts as bad for exactly the reasons a
//! plain query would have failed: a wrong number of fields, a value that does not parse as its
//! column's type, invalid UTF-8, a line that is not a JSON object. A batch without bad records is
//! decoded once; a bad record costs about log2(8,192) extra decodes of ever smaller slices.
//!
//! Files are read by column name: CSV columns are matched to the table's by their header (any
//! order), missing columns are NULL, extra columns are dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::Serialize;

use crate::error::{EngineError, Result};
use crate::stores::Location;

/// Records decoded at once.
const BATCH_RECORDS: usize = 8192;
/// Raw text kept of a bad record in errors (quarantine files keep it whole).
const SHOWN_TEXT: usize = 200;

mod diagnose;
mod policy;
mod quarantine;
mod reader;
mod split;

pub use self::diagnose::DiagnoseExec;
pub use self::policy::{BadRecordPolicy, BadRecordSpec, MaxBadRecords};
pub use self::quarantine::BadRecordsReport;
pub use self::reader::{Dialect, GuardedFile, GuardedPartition};

/// One record that did not parse (a line of a quarantine file).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BadRecord {
    /// The file (URL or path).
    pub file: String,
    /// 1-based line where the record starts.
    pub line: u64,
    /// Byte offset of its start (in the decompressed text).
    pub offset: u64,
    /// Why it was refused (arrow's message, with the column named).
    pub reason: String,
    /// The record as it was in the file (lossy UTF-8, without its line end).
    pub raw: String,
}

impl BadRecord {
    /// `file, line L (byte O): reason; the record: `text…``.
    pub fn describe(&self) -> String {
        let mut text: String = self.raw.chars().take(SHOWN_TEXT).collect();
        if text.len() < self.raw.len() {
            text.push('…');
        }
        format!(
            "{}, line {} (byte {}): {}; the record: `{text}`",
            self.file, self.line, self.offset, self.reason
        )
    }
}

/// Counts after a read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BadRecordCounts {
    /// Records read into rows.
    pub good: u64,
    /// Records left out (skip).
    pub skipped: u64,
    /// Records left out and written to the quarantine location.
    pub quarantined: u64,
}

/// The policy of one read and what it found; shared by every partition of the scan.
#[derive(Debug)]
pub struct BadRecords {
    policy: BadRecordPolicy,
    max: Option<MaxBadRecords>,
    quarantine: Option<Location>,
    /// Good rows per file, the most any one scan of it decoded (a job may scan a source several
    /// times: once per sink and quality rule).
    good: Mutex<std::collections::HashMap<String, u64>>,
    bad: AtomicU64,
    /// (file, offset) of every bad record counted, so a record scanned twice counts once.
    seen: Mutex<std::collections::HashSet<(String, u64)>>,
    /// Every bad record when quarantining; the first few otherwise (for messages).
    kept: Mutex<Vec<BadRecord>>,
    /// Tells this read's counts from others' in a cluster's metrics.
    id: u64,
    /// The name of the quarantine output (`<quarantine>/<name>.ndjson`, or a folder of that name
    /// when executors write it), settled before a cluster run or when the read ends.
    name: std::sync::OnceLock<String>,
    /// What scans on a cluster found: the most any one cluster job read and left out.
    remote_good: AtomicU64,
    remote_bad: AtomicU64,
}

/// Reads under a policy whose scans run on a cluster, so the counts executors report find them.
static REMOTE_READS: std::sync::LazyLock<Mutex<std::collections::HashMap<u64, std::sync::Weak<BadRecords>>>> =
    std::sync::LazyLock::new(|| Mutex::new(std::collections::HashMap::new()));

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Counts a cluster job's executors reported for the read `id` (see [`BadRecords::remote_id`]):
/// `good` rows read and `bad` records left out.
pub fn record_remote_counts(id: u64, good: u64, bad: u64) {
    let read = REMOTE_READS.lock().get(&id).and_then(std::sync::Weak::upgrade);
    if let Some(read) = read {
        read.remote_good.fetch_max(good, Ordering::Relaxed);
        read.remote_bad.fetch_max(bad, Ordering::Relaxed);
    }
}

/// Names of the counters a cluster's scans report for read `id`: (good rows, bad records).
pub fn remote_counter_names(id: u64) -> (String, String) {
    (
        format!("sluice_good_rows_{id}"),
        format!("sluice_bad_records_{id}"),
    )
}

/// The read a counter named by [`remote_counter_names`] belongs to, and whether it counts bad
/// records (else good rows).
pub fn parse_remote_counter(name: &str) -> Option<(u64, bool)> {
    if let Some(id) = name.strip_prefix("sluice_good_rows_") {
        return id.parse().ok().map(|id| (id, false));
    }
    name.strip_prefix("sluice_bad_records_")?
        .parse()
        .ok()
        .map(|id| (id, true))
}

/// Bad records kept for messages when they are not quarantined.
const KEPT_FOR_MESSAGES: usize = 5;

impl BadRecords {
    /// A policy; `quarantine` is where `Quarantine` writes (required for it, refused otherwise).
    pub fn new(
        policy: BadRecordPolicy,
        max: Option<MaxBadRecords>,
        quarantine: Option<Location>,
    ) -> Result<Arc<Self>> {
        match (policy, &quarantine) {
            (BadRecordPolicy::Quarantine, None) => {
                return Err(EngineError::InvalidOption {
                    option: "on_bad_records = quarantine".into(),
                    reason: "it needs a quarantine location (a folder or s3:// prefix)".into(),
                });
            }
            (BadRecordPolicy::Fail | BadRecordPolicy::Skip, Some(q)) => {
                return Err(EngineError::InvalidOption {
                    option: format!("quarantine `{}`", q.original()),
                    reason: "a quarantine location is used only with on_bad_records = quarantine".into(),
                });
            }
            _ => {}
        }
        Ok(Arc::new(Self {
            policy,
            max,
            quarantine,
            good: Mutex::new(std::collections::HashMap::new()),
            bad: AtomicU64::new(0),
            seen: Mutex::new(std::collections::HashSet::new()),
            kept: Mutex::new(Vec::new()),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            name: std::sync::OnceLock::new(),
            remote_good: AtomicU64::new(0),
            remote_bad: AtomicU64::new(0),
        }))
    }

    /// A fresh read under the same policy that reports as read `id` with quarantine output `name`
    /// (what a cluster process rebuilds from the client's table).
    pub fn remote_copy(&self, id: u64, name: Option<&str>) -> Result<Arc<Self>> {
        let mut copy = Self::new(self.policy, self.max, self.quarantine.clone())?;
        let inner = Arc::get_mut(&mut copy).expect("a fresh read is not shared");
        inner.id = id;
        if let Some(name) = name {
            let _ = inner.name.set(name.to_string());
        }
        Ok(copy)
    }

    /// A fresh count under the same policy, reporting as this read (one cluster task's share).
    pub fn fresh_copy(&self) -> Result<Arc<Self>> {
        self.remote_copy(self.id, self.name.get().map(String::as_str))
    }

    /// The id this read's counters carry on a cluster.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The id a cluster's counters carry for this read; from now on their counts reach it.
    pub fn remote_id(self: &Arc<Self>) -> u64 {
        REMOTE_READS.lock().insert(self.id, Arc::downgrade(self));
        self.id
    }

    /// Names the quarantine output (a job names it after the run and the source).
    pub fn name_output(&self, name: &str) {
        let _ = self.name.set(name.to_string());
    }

    /// The quarantine output's name, settled now as `fallback` when nothing named it before.
    pub fn output_name(&self, fallback: impl FnOnce() -> String) -> &str {
        self.name.get_or_init(fallback)
    }

    /// The maximum allowed, as set.
    pub fn max(&self) -> Option<MaxBadRecords> {
        self.max
    }

    /// Takes the records kept so far (what a cluster task writes to the quarantine).
    pub fn take_kept(&self) -> Vec<BadRecord> {
        std::mem::take(&mut *self.kept.lock())
    }

    /// Bad records counted by this process's scans.
    pub fn bad_here(&self) -> u64 {
        self.bad.load(Ordering::Relaxed)
    }

    /// The policy.
    pub fn policy(&self) -> BadRecordPolicy {
        self.policy
    }

    /// What the read found so far.
    pub fn counts(&self) -> BadRecordCounts {
        let bad = self.total_bad();
        BadRecordCounts {
            good: self.good.lock().values().sum::<u64>() + self.remote_good.load(Ordering::Relaxed),
            skipped: if self.policy == BadRecordPolicy::Skip {
                bad
            } else {
                0
            },
            quarantined: if self.policy == BadRecordPolicy::Quarantine {
                bad
            } else {
                0
            },
        }
    }

    /// The first bad records found (all of them when quarantining).
    pub fn examples(&self) -> Vec<BadRecord> {
        self.kept.lock().iter().take(KEPT_FOR_MESSAGES).cloned().collect()
    }

    /// A scan read `rows` good rows from `file` to its end.
    fn file_done(&self, file: &str, rows: u64) {
        let mut good = self.good.lock();
        let entry = good.entry(file.to_string()).or_default();
        *entry = (*entry).max(rows);
    }

    /// Takes one bad record: an error under `fail` or beyond a `max` count.
    fn add_bad(&self, record: BadRecord) -> Result<()> {
        if self.policy == BadRecordPolicy::Fail {
            return Err(EngineError::BadRecord(record.describe()));
        }
        if !self.seen.lock().insert((record.file.clone(), record.offset)) {
            return Ok(());
        }
        let n = self.bad.fetch_add(1, Ordering::Relaxed) + 1;
        let mut kept = self.kept.lock();
        if self.policy == BadRecordPolicy::Quarantine || kept.len() < KEPT_FOR_MESSAGES {
            kept.push(record);
        }
        if let Some(MaxBadRecords::Count(max)) = self.max
            && n > max
        {
            let first = kept.first().map(BadRecord::describe).unwrap_or_default();
            return Err(EngineError::TooManyBadRecords {
                found: format!("more than {max}"),
                limit: max.to_string(),
                first,
            });
        }
        Ok(())
    }

    /// Bad records found here and on a cluster.
    fn total_bad(&self) -> u64 {
        self.bad.load(Ordering::Relaxed) + self.remote_bad.load(Ordering::Relaxed)
    }

    /// After the read: fails when bad records exceed `max` (a cluster's tasks each check only their
    /// own share of a count).
    pub fn check(&self) -> Result<()> {
        let BadRecordCounts { good, .. } = self.counts();
        let bad = self.total_bad();
        let first = || {
            self.kept
                .lock()
                .first()
                .map(BadRecord::describe)
                .unwrap_or_default()
        };
        if let Some(MaxBadRecords::Count(max)) = self.max
            && bad > max
        {
            return Err(EngineError::TooManyBadRecords {
                found: bad.to_string(),
                limit: max.to_string(),
                first: first(),
            });
        }
        if let Some(MaxBadRecords::Fraction(max)) = self.max {
            let total = good + bad;
            if total > 0 && bad as f64 / total as f64 > max {
                return Err(EngineError::TooManyBadRecords {
                    found: format!("{bad} of {total}"),
                    limit: MaxBadRecords::Fraction(max).to_string(),
                    first: self
                        .kept
                        .lock()
                        .first()
                        .map(BadRecord::describe)
                        .unwrap_or_default(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
