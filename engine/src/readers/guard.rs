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

use arrow::array::{ArrayRef, RecordBatch, new_null_array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use bytes::Bytes;
use datafusion::common::ScalarValue;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::error::DataFusionError;
use datafusion::execution::TaskContext;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use parking_lot::Mutex;
use serde::Serialize;

use crate::error::{EngineError, Result};
use crate::stores::Location;

/// Records decoded at once.
const BATCH_RECORDS: usize = 8192;
/// Raw text kept of a bad record in errors (quarantine files keep it whole).
const SHOWN_TEXT: usize = 200;

/// What to do with a record that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BadRecordPolicy {
    /// Stop at the first one, naming the file, line and column (Spark's FAILFAST).
    #[default]
    Fail,
    /// Leave it out and count it (Spark's DROPMALFORMED).
    Skip,
    /// Leave it out, count it and write it to the quarantine location (Glue's bad-records path).
    Quarantine,
}

impl BadRecordPolicy {
    /// The policy as written in job files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fail => "fail",
            Self::Skip => "skip",
            Self::Quarantine => "quarantine",
        }
    }
}

impl std::str::FromStr for BadRecordPolicy {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "fail" => Ok(Self::Fail),
            "skip" => Ok(Self::Skip),
            "quarantine" => Ok(Self::Quarantine),
            other => Err(format!("`{other}` is not fail, skip or quarantine")),
        }
    }
}

/// How many bad records a read tolerates before it fails anyway.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub enum MaxBadRecords {
    /// At most this many.
    Count(u64),
    /// At most this share of all records (checked when the read ends).
    Fraction(f64),
}

impl std::str::FromStr for MaxBadRecords {
    type Err = String;

    /// `100` (a count), `0.5%` or `0.005` (a fraction below 1).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let t = s.trim();
        let bad = || format!("`{s}` is not a count (`100`) or a share (`1%`, `0.01`)");
        if let Some(p) = t.strip_suffix('%') {
            let v: f64 = p.trim().parse().map_err(|_| bad())?;
            return (0.0..=100.0)
                .contains(&v)
                .then_some(Self::Fraction(v / 100.0))
                .ok_or_else(bad);
        }
        if let Ok(n) = t.parse::<u64>() {
            return Ok(Self::Count(n));
        }
        let v: f64 = t.parse().map_err(|_| bad())?;
        (0.0..1.0)
            .contains(&v)
            .then_some(Self::Fraction(v))
            .ok_or_else(bad)
    }
}

impl std::fmt::Display for MaxBadRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Count(n) => write!(f, "{n}"),
            Self::Fraction(x) => write!(f, "{}%", x * 100.0),
        }
    }
}

/// A bad-records policy as configured, before a read starts counting under it.
#[derive(Debug, Clone, Default)]
pub struct BadRecordSpec {
    /// What to do with a bad record.
    pub policy: BadRecordPolicy,
    /// How many are tolerated.
    pub max: Option<MaxBadRecords>,
    /// Where `quarantine` writes.
    pub quarantine: Option<Location>,
}

impl BadRecordSpec {
    /// Fresh counts under this policy.
    pub fn start(&self) -> Result<Arc<BadRecords>> {
        BadRecords::new(self.policy, self.max, self.quarantine.clone())
    }
}

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

/// How the records of a file group are written.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub enum Dialect {
    /// CSV with these settings.
    Csv {
        /// The first record names the columns.
        has_header: bool,
        /// Field delimiter.
        delimiter: u8,
        /// Quote character.
        quote: u8,
        /// Escape character inside quoted fields.
        escape: Option<u8>,
        /// Lines starting with it are comments.
        comment: Option<u8>,
    },
    /// One JSON object per line.
    Json,
}

/// One file to read, with its partition values.
#[derive(Debug, Clone)]
pub struct GuardedFile {
    /// The object.
    pub meta: ObjectMeta,
    /// Values of the partition columns.
    pub partition_values: Vec<ScalarValue>,
}

/// A scan partition: files of one dialect and compression read under a policy.
#[derive(Debug)]
pub struct GuardedPartition {
    /// Output schema: the table's file columns, then its partition columns.
    pub schema: SchemaRef,
    /// The table's file columns.
    pub file_schema: SchemaRef,
    /// The store the files are in.
    pub store_url: ObjectStoreUrl,
    /// How the files are written.
    pub dialect: Dialect,
    /// Their compression.
    pub compression: FileCompressionType,
    /// The files.
    pub files: Vec<GuardedFile>,
    /// The policy and its counts.
    pub bad_records: Arc<BadRecords>,
}

impl PartitionStream for GuardedPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let shared = Arc::new(Shared {
            store_url: self.store_url.clone(),
            schema: Arc::clone(&self.schema),
            file_schema: Arc::clone(&self.file_schema),
            dialect: self.dialect.clone(),
            compression: self.compression,
            bad_records: Arc::clone(&self.bad_records),
        });
        let store = ctx.runtime_env().object_store(&self.store_url).map_err(Arc::new);
        let files = self.files.clone();
        let stream = futures::stream::iter(files)
            .then(move |file| {
                let shared = Arc::clone(&shared);
                let store = store.clone();
                async move {
                    let store = store.map_err(DataFusionError::Shared)?;
                    let reader = FileReader::open(shared, store, file).await?;
                    Ok::<_, DataFusionError>(reader.into_stream())
                }
            })
            .try_flatten();
        Box::pin(RecordBatchStreamAdapter::new(Arc::clone(&self.schema), stream))
    }
}

#[derive(Debug)]
struct Shared {
    store_url: ObjectStoreUrl,
    schema: SchemaRef,
    file_schema: SchemaRef,
    dialect: Dialect,
    compression: FileCompressionType,
    bad_records: Arc<BadRecords>,
}

/// A record waiting to be decoded: its bytes in the batch buffer, where it started.
#[derive(Debug, Clone, Copy)]
struct Pending {
    start: usize,
    end: usize,
    line: u64,
    offset: u64,
}

/// Reads one file: splits records, decodes them in batches, sorts out bad ones.
struct FileReader {
    shared: Arc<Shared>,
    file: GuardedFile,
    name: String,
    bytes: BoxStream<'static, datafusion::error::Result<Bytes>>,
    splitter: Splitter,
    /// Schema the decoder produces (CSV: header order; JSON: the table's file columns).
    decode_schema: Option<SchemaRef>,
    buffer: Vec<u8>,
    pending: Vec<Pending>,
    started: bool,
    done: bool,
    /// Good rows so far.
    rows: u64,
}

enum Splitter {
    Csv(Box<CsvSplitter>),
    Lines(LineSplitter),
}

/// A complete record from a splitter.
struct Raw {
    bytes: Vec<u8>,
    line: u64,
    offset: u64,
    /// CSV fields, for the header.
    fields: Vec<String>,
    /// Set when the record is longer than [`MAX_RECORD`]: its full length (`bytes` holds its start).
    oversized: Option<u64>,
}

/// The longest record sluice decodes (arrow's string columns hold at most 2 GiB per batch); a longer
/// one is a bad record, kept as its first [`MAX_RECORD`] bytes.
const MAX_RECORD: usize = 256 << 20;

impl FileReader {
    async fn open(
        shared: Arc<Shared>,
        store: Arc<dyn ObjectStore>,
        file: GuardedFile,
    ) -> datafusion::error::Result<Self> {
        let name = display_name(&shared.store_url, &file.meta);
        let got = store.get(&file.meta.location).await?;
        let raw: BoxStream<'static, datafusion::error::Result<Bytes>> =
            got.into_stream().map_err(DataFusionError::from).boxed();
        let bytes = shared.compression.convert_stream(raw)?;
        let splitter = match &shared.dialect {
            Dialect::Csv {
                delimiter,
                quote,
                escape,
                comment,
                ..
            } => Splitter::Csv(Box::new(CsvSplitter::new(*delimiter, *quote, *escape, *comment))),
            Dialect::Json => Splitter::Lines(LineSplitter::default()),
        };
        let decode_schema = match &shared.dialect {
            Dialect::Csv { has_header: true, .. } => None,
            _ => Some(Arc::clone(&shared.file_schema)),
        };
        Ok(Self {
            shared,
            file,
            name,
            bytes,
            splitter,
            decode_schema,
            buffer: Vec::new(),
            pending: Vec::new(),
            started: false,
            done: false,
            rows: 0,
        })
    }

    fn into_stream(self) -> BoxStream<'static, datafusion::error::Result<RecordBatch>> {
        futures::stream::try_unfold(self, |mut reader| async move {
            match reader.next_batch().await? {
                Some(batch) => Ok(Some((batch, reader))),
                None => Ok(None),
            }
        })
        .boxed()
    }

    /// The next batch of good rows, or `None` at the end of the file.
    async fn next_batch(&mut self) -> datafusion::error::Result<Option<RecordBatch>> {
        loop {
            if self.pending.len() >= BATCH_RECORDS || (self.done && !self.pending.is_empty()) {
                let batch = self.decode_pending()?;
                if batch.num_rows() > 0 {
                    return Ok(Some(batch));
                }
                continue;
            }
            if self.done {
                self.shared.bad_records.file_done(&self.name, self.rows);
                return Ok(None);
            }
            let mut records = Vec::new();
            match self.bytes.next().await {
                Some(chunk) => {
                    let mut chunk = chunk?;
                    if !self.started {
                        self.started = true;
                        // A UTF-8 byte order mark is not data.
                        if chunk.starts_with(&[0xEF, 0xBB, 0xBF]) {
                            chunk = chunk.slice(3..);
                        }
                    }
                    self.split(&chunk, false, &mut records);
                }
                None => {
                    self.split(&[], true, &mut records);
                    self.done = true;
                }
            }
            for raw in records {
                self.take(raw)
                    .map_err(|e| DataFusionError::External(Box::new(e)))?;
            }
        }
    }

    fn split(&mut self, chunk: &[u8], eof: bool, out: &mut Vec<Raw>) {
        match &mut self.splitter {
            Splitter::Csv(s) => s.push(chunk, eof, out),
            Splitter::Lines(s) => s.push(chunk, eof, out),
        }
    }

    fn take(&mut self, raw: Raw) -> Result<()> {
        if let Some(len) = raw.oversized {
            let text: String =
                String::from_utf8_lossy(&raw.bytes[..raw.bytes.len().min(1 << 20)]).into_owned();
            return self.shared.bad_records.add_bad(BadRecord {
                file: self.name.clone(),
                line: raw.line,
                offset: raw.offset,
                reason: format!(
                    "the record is {len} bytes long, over the limit of {MAX_RECORD} bytes for one record (the raw text here is its first MiB)"
                ),
                raw: text,
            });
        }
        if self.decode_schema.is_none() {
            // The header: decode by its names, with the table's types.
            let fields: Vec<Field> = raw
                .fields
                .iter()
                .map(|name| match self.shared.file_schema.field_with_name(name) {
                    Ok(f) => Field::new(name, f.data_type().clone(), true),
                    Err(_) => Field::new(name, DataType::Utf8, true),
                })
                .collect();
            self.decode_schema = Some(Arc::new(Schema::new(fields)));
            return Ok(());
        }
        let start = self.buffer.len();
        self.buffer.extend_from_slice(&raw.bytes);
        if !raw.bytes.ends_with(b"\n") {
            self.buffer.push(b'\n');
        }
        self.pending.push(Pending {
            start,
            end: self.buffer.len(),
            line: raw.line,
            offset: raw.offset,
        });
        Ok(())
    }

    /// Decodes the pending records; bad ones go to the policy.
    fn decode_pending(&mut self) -> datafusion::error::Result<RecordBatch> {
        let pending = std::mem::take(&mut self.pending);
        let buffer = std::mem::take(&mut self.buffer);
        let Some(schema) = self.decode_schema.clone() else {
            return Ok(RecordBatch::new_empty(Arc::clone(&self.shared.schema)));
        };
        let mut good = Vec::new();
        let mut bad = Vec::new();
        self.bisect(&schema, &buffer, &pending, &mut good, &mut bad);
        for (p, error) in bad {
            let raw = String::from_utf8_lossy(&buffer[p.start..p.end]);
            let record = BadRecord {
                file: self.name.clone(),
                line: p.line,
                offset: p.offset,
                reason: reason(&error, &schema),
                raw: raw.trim_end_matches(['\n', '\r']).to_string(),
            };
            self.shared
                .bad_records
                .add_bad(record)
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
        }
        let batch = arrow::compute::concat_batches(&schema, &good)?;
        self.rows += batch.num_rows() as u64;
        Ok(self.to_table(&batch)?)
    }

    /// Decodes `records`; on an error, halves until the refused records are alone.
    fn bisect(
        &self,
        schema: &SchemaRef,
        buffer: &[u8],
        records: &[Pending],
        good: &mut Vec<RecordBatch>,
        bad: &mut Vec<(Pending, ArrowError)>,
    ) {
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            return;
        };
        match self.decode(schema, &buffer[first.start..last.end], records.len()) {
            Ok(batch) => good.push(batch),
            Err(e) if records.len() == 1 => bad.push((*first, e)),
            Err(_) => {
                let (a, b) = records.split_at(records.len() / 2);
                self.bisect(schema, buffer, a, good, bad);
                self.bisect(schema, buffer, b, good, bad);
            }
        }
    }

    fn decode(&self, schema: &SchemaRef, bytes: &[u8], records: usize) -> Result<RecordBatch, ArrowError> {
        let batch = match &self.shared.dialect {
            Dialect::Csv {
                delimiter,
                quote,
                escape,
                comment,
                ..
            } => {
                let mut builder = arrow::csv::ReaderBuilder::new(Arc::clone(schema))
                    .with_header(false)
                    .with_delimiter(*delimiter)
                    .with_quote(*quote)
                    .with_batch_size(records + 1);
                if let Some(e) = escape {
                    builder = builder.with_escape(*e);
                }
                if let Some(c) = comment {
                    builder = builder.with_comment(*c);
                }
                let mut decoder = builder.build_decoder();
                feed(bytes, |b| decoder.decode(b))?;
                // The end of input: a quoted field still open ends here, as in DataFusion's reader.
                decoder.decode(&[])?;
                decoder.flush()?
            }
            Dialect::Json => {
                // Numbers and booleans in a text column are kept as text, not refused.
                let mut decoder = arrow::json::ReaderBuilder::new(Arc::clone(schema))
                    .with_coerce_primitive(true)
                    .with_batch_size(records + 1)
                    .build_decoder()?;
                feed(bytes, |b| decoder.decode(b))?;
                decoder.flush()?
            }
        };
        let batch = batch.unwrap_or_else(|| RecordBatch::new_empty(Arc::clone(schema)));
        // A record the decoder swallowed without a row (an unclosed quote runs to the end of the
        // file) is as bad as one it refused.
        if batch.num_rows() != records {
            return Err(ArrowError::CsvError(format!(
                "{} of {records} records decoded",
                batch.num_rows()
            )));
        }
        Ok(batch)
    }

    /// Rows in the table's column order (by name; NULL where the file has no such column), then
    /// the partition values.
    fn to_table(&self, batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
        let rows = batch.num_rows();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.shared.schema.fields().len());
        for field in self.shared.file_schema.fields() {
            match batch.column_by_name(field.name()) {
                Some(c) if c.data_type() == field.data_type() => columns.push(Arc::clone(c)),
                Some(c) => columns.push(arrow::compute::cast(c, field.data_type())?),
                None => columns.push(new_null_array(field.data_type(), rows)),
            }
        }
        for value in &self.file.partition_values {
            columns.push(
                value
                    .to_array_of_size(rows)
                    .map_err(|e| ArrowError::ExternalError(Box::new(e)))?,
            );
        }
        RecordBatch::try_new(Arc::clone(&self.shared.schema), columns)
    }
}

/// A file as people name it: a local path, or the object's URL.
fn display_name(store_url: &ObjectStoreUrl, meta: &ObjectMeta) -> String {
    let base = store_url.as_str().trim_end_matches('/');
    if base.starts_with("file:") {
        format!("/{}", meta.location)
    } else {
        format!("{base}/{}", meta.location)
    }
}

/// Hands `bytes` to a decoder until it has taken them all.
fn feed(bytes: &[u8], mut decode: impl FnMut(&[u8]) -> Result<usize, ArrowError>) -> Result<(), ArrowError> {
    let mut at = 0;
    while at < bytes.len() {
        let n = decode(&bytes[at..])?;
        if n == 0 {
            break;
        }
        at += n;
    }
    Ok(())
}

/// Arrow's message, with `column N` also named.
fn reason(error: &ArrowError, schema: &Schema) -> String {
    let text = match error {
        ArrowError::ParseError(m) | ArrowError::CsvError(m) | ArrowError::JsonError(m) => m.clone(),
        other => other.to_string(),
    };
    // Arrow repeats the record ("Row data: ..."), which the quarantine keeps anyway, and counts
    // lines from the start of its batch, which says nothing here.
    let text = text.split(". Row data:").next().unwrap_or(&text);
    let text = without_line_numbers(text);
    let number_after = |word: &str| {
        text.split(word)
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse::<usize>().ok())
    };
    // `column N` counts from 0, `field N` from 1.
    let column = number_after("column ")
        .or_else(|| number_after("field ").and_then(|n| n.checked_sub(1)))
        .and_then(|i| schema.fields().get(i));
    match column {
        Some(f) => format!("column `{}`: {text}", f.name()),
        None => text,
    }
}

/// `... for line 3 and field 2`, `... at line 0` without the batch-relative line.
fn without_line_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(" line ") {
        let (before, after) = rest.split_at(at);
        let digits = after[6..].chars().take_while(char::is_ascii_digit).count();
        if digits == 0 {
            out.push_str(&rest[..at + 6]);
            rest = &rest[at + 6..];
            continue;
        }
        // Drop the preposition before `line` too.
        let before = before
            .strip_suffix(" for")
            .or_else(|| before.strip_suffix(" at"))
            .unwrap_or(before);
        out.push_str(before);
        rest = &after[6 + digits..];
        if let Some(r) = rest.strip_prefix(" and") {
            rest = r;
        }
    }
    out.push_str(rest);
    out
}

/// Splits CSV into records with csv-core, keeping each record's raw bytes, line and offset.
struct CsvSplitter {
    reader: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
    out_len: usize,
    n_fields: usize,
    raw: Vec<u8>,
    /// Bytes and line ends of the current record beyond what `raw` keeps.
    dropped: u64,
    dropped_lines: u64,
    max_record: usize,
    /// Lines and bytes before `raw`.
    line: u64,
    offset: u64,
}

impl CsvSplitter {
    fn new(delimiter: u8, quote: u8, escape: Option<u8>, comment: Option<u8>) -> Self {
        let reader = csv_core::ReaderBuilder::new()
            .delimiter(delimiter)
            .quote(quote)
            .escape(escape)
            .double_quote(escape.is_none())
            .comment(comment)
            .build();
        Self {
            reader,
            out: vec![0; 4096],
            ends: vec![0; 64],
            out_len: 0,
            n_fields: 0,
            raw: Vec::new(),
            dropped: 0,
            dropped_lines: 0,
            max_record: MAX_RECORD,
            line: 1,
            offset: 0,
        }
    }

    fn push(&mut self, mut input: &[u8], eof: bool, records: &mut Vec<Raw>) {
        loop {
            let (result, n_in, n_out, n_end) = self.reader.read_record(
                input,
                &mut self.out[self.out_len..],
                &mut self.ends[self.n_fields..],
            );
            let room = self.max_record.saturating_sub(self.raw.len()).min(n_in);
            self.raw.extend_from_slice(&input[..room]);
            if room < n_in {
                self.dropped += (n_in - room) as u64;
                self.dropped_lines += input[room..n_in].iter().filter(|b| **b == b'\n').count() as u64;
            }
            input = &input[n_in..];
            self.out_len += n_out;
            self.n_fields += n_end;
            match result {
                csv_core::ReadRecordResult::InputEmpty => {
                    if input.is_empty() && !eof {
                        return;
                    }
                }
                // Field values are needed only for the header: past 1 MiB they are dropped.
                csv_core::ReadRecordResult::OutputFull if self.out.len() >= 1 << 20 => self.out_len = 0,
                csv_core::ReadRecordResult::OutputFull => self.out.resize(self.out.len() * 2, 0),
                csv_core::ReadRecordResult::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                csv_core::ReadRecordResult::Record => {
                    let raw = std::mem::take(&mut self.raw);
                    let (dropped, dropped_lines) = (self.dropped, self.dropped_lines);
                    (self.dropped, self.dropped_lines) = (0, 0);
                    // Blank lines (and comment lines) before the record belong to no record.
                    let lead = leading_skipped(&raw);
                    let newlines = raw.iter().filter(|b| **b == b'\n').count() as u64 + dropped_lines;
                    let lead_lines = raw[..lead].iter().filter(|b| **b == b'\n').count() as u64;
                    let mut fields = Vec::with_capacity(self.n_fields);
                    let mut start = 0;
                    for &end in &self.ends[..self.n_fields] {
                        let end = end.min(self.out_len).max(start);
                        fields.push(String::from_utf8_lossy(&self.out[start..end]).into_owned());
                        start = end;
                    }
                    let total = raw.len() as u64 + dropped;
                    records.push(Raw {
                        bytes: raw[lead..].to_vec(),
                        line: self.line + lead_lines,
                        offset: self.offset + lead as u64,
                        fields,
                        oversized: (dropped > 0).then_some(total - lead as u64),
                    });
                    self.line += newlines;
                    self.offset += total;
                    self.out_len = 0;
                    self.n_fields = 0;
                }
                csv_core::ReadRecordResult::End => return,
            }
        }
    }
}

/// Bytes of blank lines at the start of a raw record.
fn leading_skipped(raw: &[u8]) -> usize {
    let mut lead = 0;
    for (i, b) in raw.iter().enumerate() {
        match b {
            b'\n' => lead = i + 1,
            b'\r' => {}
            _ => break,
        }
    }
    lead
}

/// Splits NDJSON into lines (blank lines skipped), with line numbers and offsets.
struct LineSplitter {
    partial: Vec<u8>,
    /// Bytes of the current line beyond what `partial` keeps.
    dropped: u64,
    max_record: usize,
    line: u64,
    offset: u64,
}

impl Default for LineSplitter {
    fn default() -> Self {
        Self {
            partial: Vec::new(),
            dropped: 0,
            max_record: MAX_RECORD,
            line: 0,
            offset: 0,
        }
    }
}

impl LineSplitter {
    fn push(&mut self, input: &[u8], eof: bool, records: &mut Vec<Raw>) {
        let mut rest = input;
        while let Some(pos) = rest.iter().position(|b| *b == b'\n') {
            self.keep(&rest[..=pos]);
            rest = &rest[pos + 1..];
            self.emit(records);
        }
        self.keep(rest);
        if eof && (!self.partial.is_empty() || self.dropped > 0) {
            self.emit(records);
        }
    }

    /// Adds bytes to the current line, up to the longest record kept.
    fn keep(&mut self, bytes: &[u8]) {
        let room = self
            .max_record
            .saturating_sub(self.partial.len())
            .min(bytes.len());
        self.partial.extend_from_slice(&bytes[..room]);
        self.dropped += (bytes.len() - room) as u64;
    }

    fn emit(&mut self, records: &mut Vec<Raw>) {
        let line = std::mem::take(&mut self.partial);
        let dropped = std::mem::take(&mut self.dropped);
        self.line += 1;
        let len = line.len() as u64 + dropped;
        if dropped > 0 || !line.iter().all(u8::is_ascii_whitespace) {
            records.push(Raw {
                bytes: line,
                line: self.line,
                offset: self.offset,
                fields: Vec::new(),
                oversized: (dropped > 0).then_some(len),
            });
        }
        self.offset += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_csv(text: &str, chunk: usize) -> Vec<(String, u64, u64)> {
        let mut s = CsvSplitter::new(b',', b'"', None, None);
        let mut out = Vec::new();
        for c in text.as_bytes().chunks(chunk) {
            s.push(c, false, &mut out);
        }
        s.push(&[], true, &mut out);
        out.into_iter()
            // A CRLF's `\n` may go with the next record's leading blank bytes.
            .map(|r| {
                (
                    String::from_utf8(r.bytes).unwrap().trim_end().to_string(),
                    r.line,
                    r.offset,
                )
            })
            .collect()
    }

    #[test]
    fn csv_records_keep_their_line_offset_and_bytes_across_chunks() {
        let text = "a,b\n1,\"x\ny\"\n\n2,z\r\n3,w";
        for chunk in [1, 3, 100] {
            assert_eq!(
                split_csv(text, chunk),
                [
                    ("a,b".to_string(), 1, 0),
                    ("1,\"x\ny\"".to_string(), 2, 4),
                    ("2,z".to_string(), 5, 13),
                    ("3,w".to_string(), 6, 18),
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn arrow_messages_lose_their_batch_relative_lines_and_name_the_column() {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]);
        let e = ArrowError::CsvError("incorrect number of fields for line 1, expected 2 got 3".into());
        assert_eq!(
            reason(&e, &schema),
            "incorrect number of fields, expected 2 got 3"
        );
        let e = ArrowError::CsvError("Encountered invalid UTF-8 data for line 1 and field 2".into());
        assert_eq!(
            reason(&e, &schema),
            "column `name`: Encountered invalid UTF-8 data field 2"
        );
        let e = ArrowError::ParseError(
            "Error while parsing value 'x' as type 'Int64' for column 0 at line 0. Row data: '[x]'".into(),
        );
        assert_eq!(
            reason(&e, &schema),
            "column `id`: Error while parsing value 'x' as type 'Int64' for column 0"
        );
    }

    /// Reads `data` as one CSV (or NDJSON) file with columns `a BIGINT, b VARCHAR` under `skip`;
    /// returns (good rows, bad records, records the splitter saw after the header).
    fn read_skipping(data: &[u8], json: bool) -> (u64, u64, u64) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
            let path = object_store::path::Path::from("t/f");
            store.put(&path, data.to_vec().into()).await.unwrap();
            let meta = store.head(&path).await.unwrap();
            let file_schema = Arc::new(Schema::new(vec![
                Field::new("a", DataType::Int64, true),
                Field::new("b", DataType::Utf8, true),
            ]));
            let dialect = if json {
                Dialect::Json
            } else {
                Dialect::Csv {
                    has_header: true,
                    delimiter: b',',
                    quote: b'"',
                    escape: None,
                    comment: None,
                }
            };
            let guard = BadRecords::new(BadRecordPolicy::Skip, None, None).unwrap();
            let shared = Arc::new(Shared {
                store_url: ObjectStoreUrl::parse("memory://").unwrap(),
                schema: Arc::clone(&file_schema),
                file_schema,
                dialect,
                compression: FileCompressionType::UNCOMPRESSED,
                bad_records: Arc::clone(&guard),
            });
            let file = GuardedFile {
                meta,
                partition_values: Vec::new(),
            };
            let reader = FileReader::open(shared, store, file).await.unwrap();
            let batches: Vec<RecordBatch> = reader.into_stream().try_collect().await.unwrap();
            let good: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
            let mut seen = Vec::new();
            let data = data.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(data);
            if json {
                let mut s = LineSplitter::default();
                s.push(data, true, &mut seen);
            } else {
                let mut s = CsvSplitter::new(b',', b'"', None, None);
                s.push(data, false, &mut seen);
                s.push(&[], true, &mut seen);
            }
            let records = if json {
                seen.len()
            } else {
                seen.len().saturating_sub(1)
            } as u64;
            assert_eq!(guard.counts().good, good);
            (good, guard.bad.load(Ordering::Relaxed), records)
        })
    }

    fn bytes() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        let byte = prop_oneof![
            Just(b','),
            Just(b'"'),
            Just(b'\n'),
            Just(b'\r'),
            Just(b'1'),
            Just(b'7'),
            Just(b'a'),
            Just(b'{'),
            Just(b'}'),
            Just(b':'),
            any::<u8>(),
        ];
        proptest::collection::vec(byte, 0..300)
    }

    proptest::proptest! {
        /// Whatever the bytes, nothing panics and every record is either a row or a bad record.
        #[test]
        fn arbitrary_csv_bytes_are_rows_or_bad_records(body in bytes()) {
            let mut data = b"a,b\n".to_vec();
            data.extend_from_slice(&body);
            let (good, bad, records) = read_skipping(&data, false);
            proptest::prop_assert_eq!(good + bad, records);
        }

        #[test]
        fn arbitrary_ndjson_bytes_are_rows_or_bad_records(body in bytes()) {
            let (good, bad, records) = read_skipping(&body, true);
            proptest::prop_assert_eq!(good + bad, records);
        }

        /// Chunk boundaries never change what the splitter finds.
        #[test]
        fn csv_splitting_does_not_depend_on_chunks(body in bytes(), chunk in 1usize..17) {
            let whole = split_csv(&String::from_utf8_lossy(&body), 1 << 20);
            let pieces = split_csv(&String::from_utf8_lossy(&body), chunk);
            proptest::prop_assert_eq!(whole, pieces);
        }
    }

    #[test]
    fn an_unclosed_quote_at_the_end_is_one_record_not_lost() {
        let got = split_csv("a,b\n1,x\n2,\"unclosed\n3,y\n", 4);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[2].0, "2,\"unclosed\n3,y");
        let (good, bad, records) = read_skipping(b"a,b\n1,x\n2,\"unclosed\n3,y\n", false);
        // As DataFusion's reader has it: the open quote runs to the end of the file.
        assert_eq!((good, bad, records), (2, 0, 2));
    }

    #[test]
    fn records_over_the_limit_are_cut_and_counted_whole() {
        let text = b"a,b\n1,xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n2,y\n";
        let mut csv = CsvSplitter::new(b',', b'"', None, None);
        csv.max_record = 8;
        let mut out = Vec::new();
        for c in text.chunks(5) {
            csv.push(c, false, &mut out);
        }
        csv.push(&[], true, &mut out);
        let got: Vec<(u64, u64, Option<u64>, usize)> = out
            .iter()
            .map(|r| (r.line, r.offset, r.oversized, r.bytes.len()))
            .collect();
        assert_eq!(got, [(1, 0, None, 4), (2, 4, Some(33), 8), (3, 37, None, 4)]);

        let mut lines = LineSplitter {
            max_record: 8,
            ..LineSplitter::default()
        };
        let mut out = Vec::new();
        lines.push(
            b"{\"a\": 1}\n{\"a\": \"long long long\"}\n{\"a\": 2}",
            true,
            &mut out,
        );
        let got: Vec<(u64, u64, Option<u64>)> = out.iter().map(|r| (r.line, r.offset, r.oversized)).collect();
        assert_eq!(got, [(1, 0, Some(9)), (2, 9, Some(24)), (3, 33, None)]);
    }

    #[test]
    fn max_bad_records_reads_counts_and_shares() {
        assert_eq!("10".parse::<MaxBadRecords>(), Ok(MaxBadRecords::Count(10)));
        assert_eq!("5%".parse::<MaxBadRecords>(), Ok(MaxBadRecords::Fraction(0.05)));
        assert_eq!("0.01".parse::<MaxBadRecords>(), Ok(MaxBadRecords::Fraction(0.01)));
        assert!("1.5".parse::<MaxBadRecords>().is_err());
        assert!("lots".parse::<MaxBadRecords>().is_err());
    }
}

/// Runs its input; when the input fails to parse a record (DataFusion's readers do not say which),
/// reads the same files with the record-level reader under `fail` and returns the bad record it
/// finds, naming file, line and byte. Costs nothing until an error.
#[derive(Debug)]
pub struct DiagnoseExec {
    input: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
    diagnosis: Arc<GuardedPartition>,
}

impl DiagnoseExec {
    /// Wraps `input`, a scan of the files `diagnosis` reads.
    pub fn new(
        input: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
        diagnosis: Arc<GuardedPartition>,
    ) -> Self {
        Self { input, diagnosis }
    }
}

/// True for errors a bad record causes in DataFusion's CSV and JSON readers.
fn is_parse_error(e: &DataFusionError) -> bool {
    let text = e.to_string();
    [
        "Parser error",
        "Csv error",
        "Json error",
        "Cast error",
        "incorrect number of fields",
        "parse",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

async fn diagnose(
    diagnosis: Arc<GuardedPartition>,
    ctx: Arc<TaskContext>,
    original: DataFusionError,
) -> DataFusionError {
    if !is_parse_error(&original) {
        return original;
    }
    let mut stream = diagnosis.execute(ctx);
    while let Some(item) = stream.next().await {
        if let Err(found) = item {
            return found;
        }
    }
    original
}

impl datafusion::physical_plan::DisplayAs for DiagnoseExec {
    fn fmt_as(
        &self,
        _t: datafusion::physical_plan::DisplayFormatType,
        f: &mut std::fmt::Formatter<'_>,
    ) -> std::fmt::Result {
        write!(f, "DiagnoseExec")
    }
}

impl datafusion::physical_plan::ExecutionPlan for DiagnoseExec {
    fn name(&self) -> &str {
        "DiagnoseExec"
    }

    super::wire::pass_through_plan!();

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn datafusion::physical_plan::ExecutionPlan>>,
    ) -> datafusion::error::Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        let input = super::only_child(&mut children, "DiagnoseExec")?;
        Ok(Arc::new(Self::new(input, Arc::clone(&self.diagnosis))))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> datafusion::error::Result<SendableRecordBatchStream> {
        let stream = self.input.execute(partition, Arc::clone(&context))?;
        let schema = stream.schema();
        let diagnosis = Arc::clone(&self.diagnosis);
        let checked = stream.then(move |item| {
            let diagnosis = Arc::clone(&diagnosis);
            let context = Arc::clone(&context);
            async move {
                match item {
                    Ok(batch) => Ok(batch),
                    Err(e) => Err(diagnose(diagnosis, context, e).await),
                }
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, checked)))
    }
}
