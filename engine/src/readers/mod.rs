//! Opening a folder, prefix or file as a table.
//!
//! ```text
//! Location ──list once──> data files (hidden `_x`/`.x` skipped) ──by suffix──> groups of one format
//!          and compression ──> one ListingTable per group (shared merged schema, Hive partition
//!          columns from `key=value/` folders) ──> a single table (a union when groups differ)
//! ```
//!
//! Parsing is DataFusion's; this module only decides formats, partition columns and schemas.

mod csv;
mod declared;
mod delta;
pub mod guard;
pub mod infer;
mod json;
mod lazy;
mod remote_guard;
mod table;
mod wire;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::execution::object_store::ObjectStoreUrl;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

pub use self::csv::{CsvReadOptions, parse_delimiter};
pub(crate) use self::declared::DeclaredTables;
pub use self::delta::describe_delta;
pub use self::lazy::{FileSelector, LazyTable};
pub use self::remote_guard::{GuardedScanExec, SCAN_ROWS, scan_rows};
pub use self::table::{FileGroupSpec, LakeTable};
pub(crate) use self::wire::only_child;
pub use self::wire::{ConformExec, TextScanExec};
use crate::error::{EngineError, Result};
use crate::lake::layout::folder_partitions;
use crate::lake::log::{CommitLog, META_DIR};
use crate::stores::Location;

/// File formats sluice reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum FileFormatKind {
    /// Comma- (or otherwise) delimited text.
    Csv,
    /// Newline-delimited JSON objects.
    Json,
    /// Apache Parquet.
    Parquet,
}

impl FileFormatKind {
    /// The format's name: `csv`, `json` or `parquet`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Json => "json",
            Self::Parquet => "parquet",
        }
    }
}

impl std::str::FromStr for FileFormatKind {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "csv" | "tsv" => Ok(Self::Csv),
            "json" | "ndjson" | "jsonl" => Ok(Self::Json),
            "parquet" => Ok(Self::Parquet),
            other => Err(EngineError::InvalidOption {
                option: "format".into(),
                reason: format!("`{other}` is not one of csv, json, parquet"),
            }),
        }
    }
}

/// How to read a location. Everything is optional: formats and compression come from file names.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Forces a format instead of reading it from file extensions.
    pub format: Option<FileFormatKind>,
    /// CSV settings.
    pub csv: CsvReadOptions,
    /// Files to leave out.
    pub exclude: Option<Exclude>,
    /// Infer the schema from at most this many files per format (spread over the listing).
    pub sample_files: Option<usize>,
    /// Folders that are not `key=value` are partitions too, named `partition_<depth>` as Glue's
    /// crawler names them (the crawler sets this; plain SQL over a folder does not).
    pub unnamed_partitions: bool,
    /// Count rows per file while describing (Parquet footers, estimates for text): for statistics
    /// the catalog keeps; queries and converts do not need them.
    pub count_rows: bool,
    /// Read CSV and NDJSON under this bad-records policy (sluice's own record splitting, counts and
    /// quarantine); `None` reads them with DataFusion's readers, failing on the first bad record.
    pub bad_records: Option<Arc<guard::BadRecords>>,
    /// JSON files hold one array of objects each (set by describing; see [`TableFiles::json_array`]).
    pub json_array: bool,
}

/// Glue lets `**` cross folders anywhere (`**.csv`, `logs**`); globset only as a whole path
/// component, so a `**` inside a component becomes "within this folder, or deeper".
fn glue_glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut rest = pattern;
    while let Some(pos) = rest.find("**") {
        let (before, after) = (&rest[..pos], &rest[pos + 2..]);
        out.push_str(before);
        let starts_component = out.is_empty() || out.ends_with('/');
        let ends_component = after.is_empty() || after.starts_with('/');
        out.push_str(if starts_component && ends_component {
            "**"
        } else {
            "{*,*/**/*}"
        });
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Exclude patterns in Glue's grammar, matched against object paths relative to a base folder:
/// `*` and `?` stay within one folder, `**` crosses folders, `[a-z]`, `[!a]` and `{a,b}` work as in Glue.
#[derive(Debug, Clone)]
pub struct Exclude {
    base: object_store::path::Path,
    set: globset::GlobSet,
    patterns: Vec<String>,
}

impl Exclude {
    /// Compiles `patterns` relative to `base`.
    pub fn try_new(base: &Location, patterns: &[String]) -> Result<Self> {
        let mut builder = globset::GlobSetBuilder::new();
        for p in patterns {
            let glob = globset::GlobBuilder::new(&glue_glob(p))
                .literal_separator(true)
                .build()
                .map_err(|e| EngineError::InvalidOption {
                    option: "--exclude".into(),
                    reason: format!("`{p}` is not a valid pattern: {e}"),
                })?;
            builder.add(glob);
        }
        let set = builder.build().map_err(|e| EngineError::InvalidOption {
            option: "--exclude".into(),
            reason: e.to_string(),
        })?;
        Ok(Self {
            base: base.store_path(),
            set,
            patterns: patterns.to_vec(),
        })
    }

    /// The patterns as given.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// True when the object (or folder, given with a trailing `/`) at `path` is excluded.
    pub fn matches(&self, path: &str) -> bool {
        let base = self.base.as_ref();
        let rel = if base.is_empty() {
            path
        } else {
            path.strip_prefix(base)
                .map(|r| r.trim_start_matches('/'))
                .unwrap_or(path)
        };
        self.set.is_match(rel) || self.set.is_match(rel.trim_end_matches('/'))
    }
}

/// How to read one group of files, kept beside the built format so a table can be rebuilt in
/// another process (see [`LakeTable::encode`]).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct GroupFormat {
    format: FileFormatKind,
    tab_separated: bool,
    compression: Compression,
    has_header: bool,
    delimiter: Option<u8>,
    quote: u8,
    escape: Option<u8>,
    comment: Option<u8>,
    json_array: bool,
}

impl GroupFormat {
    fn new(kind: &FileKind, options: &ReadOptions) -> Self {
        Self {
            format: kind.format,
            tab_separated: kind.tab_separated,
            compression: kind.compression,
            has_header: options.csv.has_header,
            delimiter: options.csv.delimiter,
            quote: options.csv.quote,
            escape: options.csv.escape,
            comment: options.csv.comment,
            json_array: options.json_array,
        }
    }

    /// What a serialized scan of these files loses and a cluster must be told again (compression,
    /// JSON arrays): `None` when nothing is lost.
    fn text_settings(&self) -> Option<(FileCompressionType, bool)> {
        let json_array = self.format == FileFormatKind::Json && self.json_array;
        let compressed = self.format != FileFormatKind::Parquet && self.compression != Compression::None;
        (compressed || json_array).then(|| (self.compression.file_type(), json_array))
    }

    /// The DataFusion format these settings describe.
    fn file_format(&self) -> Arc<dyn FileFormat> {
        let csv = CsvReadOptions {
            has_header: self.has_header,
            delimiter: self.delimiter,
            quote: self.quote,
            escape: self.escape,
            comment: self.comment,
            ..CsvReadOptions::default()
        };
        let compression = self.compression.file_type();
        match self.format {
            FileFormatKind::Csv => csv::format(&csv, self.tab_separated, compression),
            FileFormatKind::Json => json::format(compression, !self.json_array),
            FileFormatKind::Parquet => Arc::new(ParquetFormat::default()),
        }
    }
}

/// What a file name says about its content.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct FileKind {
    format: FileFormatKind,
    tab_separated: bool,
    compression: Compression,
    /// The full suffix, such as `.csv.gz`; DataFusion lists only files ending with it.
    suffix: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
enum Compression {
    None,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

impl Compression {
    fn file_type(self) -> FileCompressionType {
        match self {
            Self::None => FileCompressionType::UNCOMPRESSED,
            Self::Gzip => FileCompressionType::GZIP,
            Self::Bzip2 => FileCompressionType::BZIP2,
            Self::Xz => FileCompressionType::XZ,
            Self::Zstd => FileCompressionType::ZSTD,
        }
    }
}

/// The compression suffixes sluice reads, each with its codec.
const COMPRESSION_SUFFIXES: [(&str, Compression); 6] = [
    (".gz", Compression::Gzip),
    (".gzip", Compression::Gzip),
    (".bz2", Compression::Bzip2),
    (".xz", Compression::Xz),
    (".zst", Compression::Zstd),
    (".zstd", Compression::Zstd),
];

/// A lower-case file name split into its stem, its compression and the compression suffix.
fn split_compression(lower: &str) -> (&str, Compression, &'static str) {
    COMPRESSION_SUFFIXES
        .iter()
        .find_map(|(ext, c)| lower.strip_suffix(ext).map(|stem| (stem, *c, *ext)))
        .unwrap_or((lower, Compression::None, ""))
}

/// Classifies a file name by its extensions: `x.csv.gz` is gzip-compressed CSV.
fn classify(name: &str, forced: Option<FileFormatKind>) -> Option<FileKind> {
    let lower = name.to_ascii_lowercase();
    let (stem, compression, csuffix) = split_compression(&lower);
    let (ext, format, tab) = match stem.rsplit_once('.').map(|(_, e)| e) {
        Some("csv") | Some("txt") => ("csv", FileFormatKind::Csv, false),
        Some("tsv") | Some("tab") => ("tsv", FileFormatKind::Csv, true),
        Some(e @ ("json" | "jsonl" | "ndjson")) => (e, FileFormatKind::Json, false),
        Some("parquet") | Some("parq") | Some("pq") => ("parquet", FileFormatKind::Parquet, false),
        other => {
            let format = forced?;
            let ext = other.unwrap_or("");
            let suffix = if ext.is_empty() {
                csuffix.to_string()
            } else {
                format!(".{ext}{csuffix}")
            };
            return Some(FileKind {
                format,
                tab_separated: false,
                compression,
                suffix,
            });
        }
    };
    if compression != Compression::None && format == FileFormatKind::Parquet {
        return None;
    }
    let format = forced.unwrap_or(format);
    Some(FileKind {
        format,
        tab_separated: tab,
        compression,
        suffix: format!(".{ext}{csuffix}"),
    })
}

/// The format a file name says: `csv`, `json` or `parquet` (compression suffixes allowed).
pub fn format_of(name: &str) -> Option<&'static str> {
    classify(name, None).map(|k| match k.format {
        FileFormatKind::Csv => "csv",
        FileFormatKind::Json => "json",
        FileFormatKind::Parquet => "parquet",
    })
}

/// What a listed file is: its content-detected kind, or what its name says.
fn kind_of(file: &DataFile, forced: Option<FileFormatKind>) -> Option<FileKind> {
    match &file.detected {
        Some(label) => classify(&format!("detected.{label}"), forced),
        None => classify(file.meta.location.filename().unwrap_or_default(), forced),
    }
}

/// The format (`csv`, `json`, `parquet`) of a listed file, by content when it was detected.
pub fn file_format_of(file: &DataFile) -> Option<&'static str> {
    match &file.detected {
        Some(label) => format_of(&format!("detected.{label}")),
        None => format_of(file.meta.location.filename().unwrap_or_default()),
    }
}

/// The compression (`gzip`, `bzip2`, `xz`, `zstd`) of a listed file, by content when it was
/// detected, else by its name's suffix; `None` when it is not compressed.
pub fn file_compression_of(file: &DataFile) -> Option<&'static str> {
    let name = match &file.detected {
        Some(label) => format!("detected.{label}"),
        None => file.meta.location.filename().unwrap_or_default().to_string(),
    };
    match split_compression(&name.to_ascii_lowercase()).1 {
        Compression::None => None,
        Compression::Gzip => Some("gzip"),
        Compression::Bzip2 => Some("bzip2"),
        Compression::Xz => Some("xz"),
        Compression::Zstd => Some("zstd"),
    }
}

/// Reads a file's first bytes to tell its format when its name does not: Parquet's `PAR1`, the
/// gzip, bzip2, xz and zstd magic numbers, then `{` for NDJSON or delimited lines for CSV.
async fn detect_kind(store: &Arc<dyn ObjectStore>, meta: &ObjectMeta) -> Result<Option<String>> {
    if meta.size < 4 {
        return Ok(None);
    }
    let magic = store
        .get_range(&meta.location, 0..meta.size.min(8))
        .await
        .map_err(|e| EngineError::store(meta.location.to_string(), e))?;
    if magic.starts_with(b"PAR1") {
        return Ok(Some("parquet".into()));
    }
    let compression = if magic.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if magic.starts_with(b"BZh") {
        Compression::Bzip2
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Compression::Xz
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    };
    let head = infer::head(store, meta, compression.file_type(), HEAD_BYTES).await?;
    let text = head.strip_prefix(b"\xef\xbb\xbf".as_slice()).unwrap_or(&head);
    let Ok(text) = std::str::from_utf8(text) else {
        return Ok(None);
    };
    let trimmed = text.trim_start();
    let format = if trimmed.starts_with('{') {
        "json"
    } else if trimmed.lines().count() >= 1 && infer::sniff_csv(text.as_bytes(), None, b'"').delimiter != 0 {
        let first = trimmed.lines().next().unwrap_or("");
        if first.chars().any(|c| c.is_control() && c != '\t') {
            return Ok(None);
        }
        "csv"
    } else {
        return Ok(None);
    };
    let suffix = match compression {
        Compression::None => "",
        Compression::Gzip => ".gz",
        Compression::Bzip2 => ".bz2",
        Compression::Xz => ".xz",
        Compression::Zstd => ".zst",
    };
    Ok(Some(format!("{format}{suffix}")))
}

/// What a file that should be plain text holds instead, from its first bytes.
fn binary_magic(head: &[u8]) -> Option<&'static str> {
    [
        (b"PAR1".as_slice(), "Parquet data"),
        (&[0x1f, 0x8b], "gzip-compressed data"),
        (b"BZh", "bzip2-compressed data"),
        (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], "xz-compressed data"),
        (&[0x28, 0xb5, 0x2f, 0xfd], "zstd-compressed data"),
        (b"PK\x03\x04", "a zip archive"),
    ]
    .into_iter()
    .find(|(magic, _)| head.starts_with(magic))
    .map(|(_, what)| what)
}

/// True for names Hive and Spark skip: `_SUCCESS`, `.crc`, `_temporary/`, anything starting `_` or
/// `.` (a `_` folder holding `=` is a partition and is kept).
pub fn is_hidden(segment: &str) -> bool {
    segment.starts_with('.') || (segment.starts_with('_') && !segment.contains('='))
}

/// One listed data file with its Hive partition values (already unescaped).
#[derive(Debug, Clone)]
pub struct DataFile {
    /// The object's metadata from the listing.
    pub meta: ObjectMeta,
    /// `(key, value)` pairs from `key=value` folders, outermost first; `None` is the default partition.
    pub partition: Vec<(String, Option<String>)>,
    /// Rows in the file: exact from a Parquet footer, estimated for text from the lines per byte of
    /// sampled file heads; `None` when not looked at.
    pub rows: Option<u64>,
    /// The format read from the file's first bytes (`csv`, `json.gz`, `parquet`, ...) when its name
    /// does not say it; `None` when the extension does.
    pub detected: Option<String>,
}

/// What a location holds: a Delta table (described by its log) or files found by listing.
enum Listing {
    Delta(TableFiles),
    Files(Vec<DataFile>),
}

/// Lists the data files under a location: a single file, or every non-hidden file below a folder.
///
/// A folder with a Delta log (`_delta_log/`, what sluice writes) holds the files its latest version
/// names, read from the log: never those of a failed, killed or still running write, nor removed ones.
pub async fn list_data_files(store: &Arc<dyn ObjectStore>, location: &Location) -> Result<Vec<DataFile>> {
    match list_location(store, location).await? {
        Listing::Delta(table) => Ok(table.files),
        Listing::Files(files) => Ok(files),
    }
}

async fn list_location(store: &Arc<dyn ObjectStore>, location: &Location) -> Result<Listing> {
    let path = location.store_path();
    if !location.is_folder() {
        match store.head(&path).await {
            Ok(meta) => {
                let file = DataFile {
                    meta,
                    partition: vec![],
                    rows: None,
                    detected: None,
                };
                return Ok(Listing::Files(vec![file]));
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(source) => return Err(EngineError::store(location.original(), source)),
        }
    }
    if let Some(table) = delta::describe_delta(store, location, crate::lake::AsOf::Latest).await? {
        return Ok(Listing::Delta(table));
    }
    list_folder(store, location).await.map(Listing::Files)
}

/// Every non-hidden file below a folder without a Delta log (an older sluice's `_sluice/log`
/// decides which of sluice's files are committed).
async fn list_folder(store: &Arc<dyn ObjectStore>, location: &Location) -> Result<Vec<DataFile>> {
    let path = location.store_path();
    let prefix = if path.as_ref().is_empty() {
        None
    } else {
        Some(&path)
    };
    let objects: Vec<ObjectMeta> = store
        .list(prefix)
        .try_collect()
        .await
        .map_err(|source| EngineError::store(location.original(), source))?;
    let has_log = objects.iter().any(|m| {
        m.location
            .prefix_match(&path)
            .is_some_and(|mut parts| parts.next().is_some_and(|p| p.as_ref() == META_DIR))
    });
    let snapshot = if has_log {
        Some(CommitLog::new(Arc::clone(store), location).load().await?)
    } else {
        None
    };
    let mut files = Vec::new();
    for meta in objects {
        let Some(rel) = meta.location.prefix_match(&path) else {
            continue;
        };
        let parts: Vec<String> = rel.map(|p| p.as_ref().to_string()).collect();
        if parts.iter().any(|p| is_hidden(p)) {
            continue;
        }
        if let Some(snapshot) = &snapshot
            && !snapshot.is_visible(&parts.join("/"))
        {
            continue;
        }
        let partition = folder_partitions(&parts[..parts.len().saturating_sub(1)], false);
        files.push(DataFile {
            meta,
            partition,
            rows: None,
            detected: None,
        });
    }
    if files.is_empty() {
        return Err(EngineError::NotFound {
            location: location.original().to_string(),
        });
    }
    files.sort_by(|a, b| a.meta.location.cmp(&b.meta.location));
    Ok(files)
}

/// What one listing learned about a location: everything needed to build its table again without
/// listing (the catalog stores it).
#[derive(Debug, Clone)]
pub struct TableFiles {
    /// The folder, prefix or file.
    pub location: Location,
    /// Columns inside the files (partition columns excluded), merged across files.
    pub file_schema: SchemaRef,
    /// Hive partition columns with their inferred types, outermost first.
    pub partition_cols: Vec<(String, DataType)>,
    /// The data files, each with its partition values.
    pub files: Vec<DataFile>,
    /// The CSV dialect the files are read with (sniffed, or as given).
    pub csv: CsvReadOptions,
    /// Text files must be read by column name with sluice's own decoder (their CSV column orders
    /// differ, or a JSON column mixes numbers and strings).
    pub read_by_name: bool,
    /// The JSON files each hold one array of objects rather than an object per line.
    pub json_array: bool,
    /// The folder is a Delta Lake table (`_delta_log/`): the files are its latest version's.
    pub delta: bool,
}

/// What an earlier crawl recorded about a table, so describing it again reads only new or changed
/// files.
#[derive(Debug, Clone)]
pub struct Known {
    /// The table's columns as recorded (partition columns excluded).
    pub file_schema: SchemaRef,
    /// Store path → (size, last-modified RFC 3339) of every recorded file.
    pub files: HashMap<String, (u64, String)>,
    /// The recorded CSV dialect.
    pub csv: CsvReadOptions,
    /// Store path → format recorded from the content of files whose names say none.
    pub detected: HashMap<String, String>,
    /// The table is read by column name (see [`TableFiles::read_by_name`]).
    pub read_by_name: bool,
    /// Its JSON files are JSON arrays (see [`TableFiles::json_array`]).
    pub json_array: bool,
}

/// What describing a location did besides finding the table.
#[derive(Debug, Clone, Default)]
pub struct DescribeNotes {
    /// Files whose contents were read to infer the schema.
    pub files_read: usize,
    /// Decisions worth explaining: sniffed dialects, widened columns, typed strings.
    pub notes: Vec<String>,
}

/// Bytes read from the start of a file to sniff its dialect or its string columns.
const HEAD_BYTES: usize = 64 * 1024;
/// Files per format group whose heads are sniffed.
const SNIFF_FILES: usize = 5;
/// Schema inferences in flight at once (each reads the start of one file).
const INFER_CONCURRENCY: usize = 16;

/// Lists a location and infers its table: formats from file names (or `options.format`), Hive
/// partition columns from folder names (typed `BIGINT` or `DATE` when every value parses, else
/// `VARCHAR`), one schema merged across files.
pub async fn describe_location(
    state: &dyn Session,
    location: &Location,
    options: &ReadOptions,
) -> Result<TableFiles> {
    Ok(describe_location_incremental(state, location, options, None)
        .await?
        .0)
}

/// Like [`describe_location`], reading only files that `known` does not list with the same size and
/// time: their schemas widen the known one (see [`infer::widen`]). CSV dialects are sniffed from the
/// files read (unless `options.csv` fixes them) and strings in NDJSON that are all dates or
/// timestamps become typed.
pub async fn describe_location_incremental(
    state: &dyn Session,
    location: &Location,
    options: &ReadOptions,
    known: Option<&Known>,
) -> Result<(TableFiles, DescribeNotes)> {
    let store = state.runtime_env().object_store(location.listing_url()?)?;
    let listed = match list_location(&store, location).await? {
        // The log says what the table is: no sampling, no inference.
        Listing::Delta(table) => return Ok((table, DescribeNotes::default())),
        Listing::Files(files) => files,
    };
    let mut groups: BTreeMap<FileKind, Vec<ObjectMeta>> = BTreeMap::new();
    let mut files = Vec::with_capacity(listed.len());
    let mut odd = Vec::new();
    let mut unnamed = Vec::new();
    for file in &listed {
        if options
            .exclude
            .as_ref()
            .is_some_and(|e| e.matches(file.meta.location.as_ref()))
        {
            continue;
        }
        match kind_of(file, options.format) {
            Some(kind) => {
                groups.entry(kind).or_default().push(file.meta.clone());
                files.push(file.clone());
            }
            None => unnamed.push(file.clone()),
        }
    }
    // Names that say nothing: look at the first bytes.
    let detected: Vec<(DataFile, Option<String>)> = futures::stream::iter(unnamed)
        .map(|file| {
            let store = Arc::clone(&store);
            // An unchanged file keeps the format an earlier crawl read from it.
            let recorded = known.and_then(|k| {
                let path = file.meta.location.as_ref();
                (k.files.get(path) == Some(&(file.meta.size, file.meta.last_modified.to_rfc3339())))
                    .then(|| k.detected.get(path).cloned())
                    .flatten()
            });
            async move {
                let kind = match recorded {
                    Some(label) => Some(label),
                    None => detect_kind(&store, &file.meta).await?,
                };
                Ok::<_, EngineError>((file, kind))
            }
        })
        .buffered(INFER_CONCURRENCY)
        .try_collect()
        .await?;
    let mut by_content = Vec::new();
    for (mut file, label) in detected {
        match label {
            Some(label) => {
                by_content.push(format!("{} ({label})", file.meta.location));
                file.detected = Some(label);
                if let Some(kind) = kind_of(&file, None) {
                    groups.entry(kind).or_default().push(file.meta.clone());
                    files.push(file);
                }
            }
            None => {
                tracing::warn!(file = %file.meta.location, "skipping a file that is not CSV, NDJSON or Parquet");
                odd.push(file.meta.location.to_string());
            }
        }
    }
    if groups.is_empty() {
        return Err(match listed.as_slice() {
            [_] if !location.is_folder() => EngineError::UnknownFormat {
                path: location.original().to_string(),
            },
            _ => EngineError::NoDataFiles {
                location: location.original().to_string(),
            },
        });
    }
    if options.unnamed_partitions {
        let root = location.store_path();
        for file in &mut files {
            let Some(rel) = file.meta.location.prefix_match(&root) else {
                continue;
            };
            let parts: Vec<String> = rel.map(|p| p.as_ref().to_string()).collect();
            file.partition = folder_partitions(&parts[..parts.len().saturating_sub(1)], true);
        }
    }
    let partition_cols = partition_columns(location, &files)?;
    let mut notes = DescribeNotes::default();
    if !by_content.is_empty() {
        notes.notes.push(format!(
            "classified {} file(s) without a known extension by their content: {}{}",
            by_content.len(),
            by_content.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
            if by_content.len() > 5 { ", …" } else { "" }
        ));
    }
    if !odd.is_empty() {
        notes.notes.push(format!(
            "left out {} file(s) that are not CSV, NDJSON or Parquet: {}{}",
            odd.len(),
            odd.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
            if odd.len() > 5 { ", …" } else { "" }
        ));
    }
    let mut json_array = known.is_some_and(|k| k.json_array);
    let mut csv_options = known
        .map(|k| k.csv.clone())
        .unwrap_or_else(|| options.csv.clone());
    let mut parts: Vec<(String, SchemaRef)> = Vec::new();
    if let Some(known) = known {
        parts.push(("the catalog".to_string(), Arc::clone(&known.file_schema)));
    }
    let mut json_temporal: Vec<(String, DataType)> = Vec::new();
    let mut non_json_columns: Vec<String> = Vec::new();
    let mut csv_files: Vec<(String, SchemaRef)> = Vec::new();
    let mut json_files: Vec<(String, SchemaRef)> = Vec::new();
    for (kind, metas) in &groups {
        let fresh: Vec<ObjectMeta> = metas
            .iter()
            .filter(|m| {
                known.is_none_or(|k| {
                    k.files.get(m.location.as_ref()) != Some(&(m.size, m.last_modified.to_rfc3339()))
                })
            })
            .cloned()
            .collect();
        if fresh.is_empty() {
            continue;
        }
        let sample = sample(&fresh, options.sample_files);
        let sniffed: Vec<(String, Vec<u8>)> = if kind.format == FileFormatKind::Parquet {
            Vec::new()
        } else {
            let mut heads = Vec::new();
            for meta in sample.iter().take(SNIFF_FILES) {
                let head = infer::head(&store, meta, kind.compression.file_type(), HEAD_BYTES).await?;
                if kind.compression == Compression::None
                    && let Some(what) = binary_magic(&head)
                {
                    return Err(EngineError::InvalidOption {
                        option: location.original().to_string(),
                        reason: format!(
                            "`{}` is named like {} text but holds {what}; rename it to what it is (e.g. `.csv.gz`, `.parquet`) or leave it out with --exclude",
                            meta.location,
                            kind.format.as_str()
                        ),
                    });
                }
                heads.push((meta.location.to_string(), head));
            }
            heads
        };
        if kind.format == FileFormatKind::Csv && options.csv.sniff {
            let fixed = options.csv.delimiter.or(kind.tab_separated.then_some(b'\t'));
            let dialects: Vec<infer::Dialect> = sniffed
                .iter()
                .map(|(_, h)| infer::sniff_csv(h, fixed, options.csv.quote))
                .collect();
            if fixed.is_none()
                && let Some(d) = majority(dialects.iter().map(|d| d.delimiter))
                && d != b','
            {
                csv_options.delimiter = Some(d);
                notes
                    .notes
                    .push(format!("sniffed the CSV delimiter `{}`", d as char));
            }
            if let Some(q) = majority(dialects.iter().map(|d| d.quote))
                && q != options.csv.quote
            {
                csv_options.quote = q;
                notes.notes.push(format!("sniffed the CSV quote `{}`", q as char));
            }
            let yes = dialects.iter().filter(|d| d.has_header == Some(true)).count();
            let no = dialects.iter().filter(|d| d.has_header == Some(false)).count();
            if yes != no {
                csv_options.has_header = yes > no;
                notes.notes.push(format!(
                    "header {}: {yes} of {} sniffed files look like they have one, {no} not",
                    if yes > no { "detected" } else { "absent" },
                    dialects.len()
                ));
            }
        }
        if kind.format == FileFormatKind::Json {
            let arrays: Vec<&str> = sniffed
                .iter()
                .filter(|(_, h)| h.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'['))
                .map(|(p, _)| p.as_str())
                .collect();
            let lines: Vec<&str> = sniffed
                .iter()
                .map(|(p, _)| p.as_str())
                .filter(|p| !arrays.contains(p))
                .collect();
            let earlier = known.is_some_and(|k| !k.files.is_empty());
            let odd = match (arrays.first(), lines.first()) {
                (Some(a), Some(l)) => Some((*a, *l)),
                (Some(a), None) if earlier && !json_array => Some((*a, "the files crawled before")),
                (None, Some(l)) if earlier && json_array => Some(("the files crawled before", *l)),
                _ => None,
            };
            if let Some((array, line)) = odd {
                return Err(EngineError::InvalidOption {
                    option: location.original().to_string(),
                    reason: format!(
                        "`{array}` holds JSON arrays where `{line}` holds one object per line; a table's JSON files must be all one or all the other. Move them apart or leave some out with --exclude"
                    ),
                });
            }
            if !arrays.is_empty() && !json_array {
                json_array = true;
                notes.notes.push("JSON files hold arrays of objects".into());
            }
        }
        let effective = ReadOptions {
            csv: csv_options.clone(),
            json_array,
            ..options.clone()
        };
        let format = GroupFormat::new(kind, &effective).file_format();
        crate::progress::io().plan_files(sample.len() as u64);
        let inferred: Vec<(String, SchemaRef)> = futures::stream::iter(sample.iter().cloned())
            .map(|meta| {
                let format = Arc::clone(&format);
                let store = Arc::clone(&store);
                // Under a bad-records policy, a file whose head DataFusion refuses is inferred from
                // the records that parse.
                let tolerant = options.bad_records.is_some().then(|| {
                    let csv = (kind.format == FileFormatKind::Csv).then(|| {
                        let delimiter = csv_options
                            .delimiter
                            .unwrap_or(if kind.tab_separated { b'\t' } else { b',' });
                        (delimiter, csv_options.quote, csv_options.has_header)
                    });
                    (kind.compression.file_type(), csv)
                });
                async move {
                    let schema = match format
                        .infer_schema(state, &store, std::slice::from_ref(&meta))
                        .await
                    {
                        Ok(schema) => schema,
                        Err(e) => {
                            let Some((compression, csv)) = tolerant else {
                                return Err(e.into());
                            };
                            tracing::debug!(file = %meta.location, error = %e, "inferring from the records that parse");
                            match infer::tolerant_schema(&store, &meta, compression, csv).await? {
                                Some(schema) => Arc::new(schema),
                                None => return Err(e.into()),
                            }
                        }
                    };
                    crate::progress::io().inspected();
                    Ok::<_, EngineError>((meta.location.to_string(), schema))
                }
            })
            .buffered(INFER_CONCURRENCY)
            .try_collect()
            .await?;
        notes.files_read += inferred.len();
        let mut inferred = inferred;
        if kind.format == FileFormatKind::Csv && kind.compression == Compression::None {
            inferred
                .extend(sample_further(&store, &sample, &inferred, &csv_options, kind.tab_separated).await?);
        }
        // Text row counts are estimated from the heads already read, so they cost nothing and
        // always go to the planner; Parquet footers are read only when asked.
        let rows = if !options.count_rows && kind.format == FileFormatKind::Parquet {
            HashMap::new()
        } else {
            count_rows(
                state,
                &store,
                kind,
                &format,
                &fresh,
                &sniffed,
                csv_options.has_header,
            )
            .await?
        };
        for file in &mut files {
            if let Some(n) = rows.get(file.meta.location.as_ref()) {
                file.rows = Some(*n);
            }
        }
        if kind.format == FileFormatKind::Csv && csv_options.has_header {
            csv_files.extend(inferred.iter().cloned());
        }
        if kind.format == FileFormatKind::Json {
            json_files.extend(inferred.iter().cloned());
            let (group, _) = infer::merge_schemas(&inferred);
            let heads: Vec<Vec<u8>> = sniffed.into_iter().map(|(_, h)| h).collect();
            json_temporal.extend(infer::json_temporal_columns(&heads, &group));
        } else {
            for (_, schema) in &inferred {
                non_json_columns.extend(schema.fields().iter().map(|f| f.name().clone()));
            }
        }
        parts.extend(inferred);
    }
    let (merged, widenings) = infer::merge_schemas(&parts);
    notes.notes.extend(widenings);
    // DataFusion's readers take CSV columns by position and cannot turn a JSON number into a
    // string. Files whose CSV columns are not the table's first columns in order, or whose JSON
    // column is a number in one file and a string in another, are read by sluice's own decoder
    // instead: by column name, numbers kept as text.
    let mut read_by_name = known.is_some_and(|k| k.read_by_name);
    'json: for (file, schema) in &json_files {
        for f in schema.fields() {
            let scalar = matches!(
                f.data_type(),
                DataType::Int64 | DataType::Float64 | DataType::Boolean
            );
            let merged_type = merged.field_with_name(f.name()).map(|m| m.data_type().clone());
            if scalar && matches!(merged_type, Ok(DataType::Utf8)) {
                notes.notes.push(format!(
                    "JSON column `{}` holds {} values in `{file}` and strings elsewhere: read as text by sluice's decoder",
                    f.name(),
                    f.data_type()
                ));
                read_by_name = true;
                break 'json;
            }
        }
    }
    let order: Vec<&str> = merged.fields().iter().map(|f| f.name().as_str()).collect();
    for (file, schema) in &csv_files {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        if names.len() > order.len() || order[..names.len()] != names[..] {
            notes.notes.push(format!(
                "CSV file `{file}` has the columns [{}] where the table's first columns are [{}]: read by column name",
                names.join(", "),
                order[..names.len().min(order.len())].join(", "),
            ));
            read_by_name = true;
            break;
        }
    }
    let mut fields: Vec<Field> = merged.fields().iter().map(|f| f.as_ref().clone()).collect();
    for (name, ty) in json_temporal {
        if non_json_columns.contains(&name) {
            continue;
        }
        if let Some(f) = fields
            .iter_mut()
            .find(|f| f.name() == &name && f.data_type() == &DataType::Utf8)
        {
            notes.notes.push(format!(
                "column `{name}` holds only {ty} values in JSON strings: typed {ty}"
            ));
            *f = Field::new(&name, ty, true);
        }
    }
    // A column that is both in the files and a partition key is read from the folder name.
    let file_schema = Arc::new(Schema::new(
        fields
            .into_iter()
            .filter(|f| !partition_cols.iter().any(|(n, _)| n == f.name()))
            .collect::<Vec<_>>(),
    ));
    Ok((
        TableFiles {
            location: location.clone(),
            file_schema,
            partition_cols,
            files,
            csv: csv_options,
            read_by_name,
            json_array,
            delta: false,
        },
        notes,
    ))
}

/// Types from the middle and the end of larger uncompressed CSV files, whose heads alone may hide a
/// later decimal or text value.
async fn sample_further(
    store: &Arc<dyn ObjectStore>,
    sample: &[ObjectMeta],
    inferred: &[(String, SchemaRef)],
    csv: &CsvReadOptions,
    tab_separated: bool,
) -> Result<Vec<(String, SchemaRef)>> {
    let delimiter = csv.delimiter.unwrap_or(if tab_separated { b'\t' } else { b',' });
    let names: HashMap<&str, Vec<String>> = inferred
        .iter()
        .map(|(p, s)| (p.as_str(), s.fields().iter().map(|f| f.name().clone()).collect()))
        .collect();
    let mut ranges: Vec<(ObjectMeta, String, std::ops::Range<u64>)> = Vec::new();
    for meta in sample.iter().filter(|m| m.size > 4 * HEAD_BYTES as u64) {
        let chunk = HEAD_BYTES as u64;
        for (place, start) in [("middle", meta.size / 2), ("end", meta.size - chunk)] {
            ranges.push((
                meta.clone(),
                place.to_string(),
                start..(start + chunk).min(meta.size),
            ));
        }
    }
    let parts: Vec<Option<(String, SchemaRef)>> = futures::stream::iter(ranges)
        .map(|(meta, place, range)| {
            let store = Arc::clone(store);
            let names = names.get(meta.location.as_ref()).cloned();
            async move {
                let Some(names) = names else { return Ok(None) };
                let bytes = store
                    .get_range(&meta.location, range)
                    .await
                    .map_err(|e| EngineError::store(meta.location.to_string(), e))?;
                let schema = infer::infer_csv_lines(infer::whole_lines(&bytes), &names, delimiter, csv.quote);
                Ok::<_, EngineError>(schema.map(|s| (format!("{} ({place})", meta.location), Arc::new(s))))
            }
        })
        .buffered(INFER_CONCURRENCY)
        .try_collect()
        .await?;
    Ok(parts.into_iter().flatten().collect())
}

/// Rows per fresh file (by store path): exact from Parquet footers; for text, the lines per stored
/// byte of the sniffed heads times each file's size (minus its header line).
async fn count_rows(
    state: &dyn Session,
    store: &Arc<dyn ObjectStore>,
    kind: &FileKind,
    format: &Arc<dyn FileFormat>,
    fresh: &[ObjectMeta],
    heads: &[(String, Vec<u8>)],
    has_header: bool,
) -> Result<HashMap<String, u64>> {
    let mut rows = HashMap::new();
    if kind.format == FileFormatKind::Parquet {
        let schema = Arc::new(Schema::empty());
        let counted: Vec<(String, Option<usize>)> = futures::stream::iter(fresh.iter().cloned())
            .map(|meta| {
                let (format, store, schema) = (Arc::clone(format), Arc::clone(store), Arc::clone(&schema));
                async move {
                    let stats = format.infer_stats(state, &store, schema, &meta).await?;
                    Ok::<_, EngineError>((meta.location.to_string(), stats.num_rows.get_value().copied()))
                }
            })
            .buffered(INFER_CONCURRENCY)
            .try_collect()
            .await?;
        rows.extend(counted.into_iter().filter_map(|(p, n)| n.map(|n| (p, n as u64))));
        return Ok(rows);
    }
    let sizes: HashMap<&str, u64> = fresh.iter().map(|m| (m.location.as_ref(), m.size)).collect();
    let (mut lines, mut bytes) = (0u64, 0u64);
    for (path, head) in heads {
        let Some(size) = sizes.get(path.as_str()) else {
            continue;
        };
        lines += head.iter().filter(|b| **b == b'\n').count() as u64;
        bytes += if kind.compression == Compression::None {
            head.len() as u64
        } else {
            (*size).min(HEAD_BYTES as u64)
        };
    }
    if bytes == 0 {
        return Ok(rows);
    }
    let header = u64::from(has_header && kind.format == FileFormatKind::Csv);
    for meta in fresh {
        let estimate = (meta.size as f64 * lines as f64 / bytes as f64).round() as u64;
        // A file with bytes but no line break in the sampled head (one JSON array on one line) is
        // not known to be empty: at least one row, never a certain zero for the planner.
        let floor = u64::from(meta.size > 0);
        rows.insert(
            meta.location.to_string(),
            estimate.saturating_sub(header).max(floor),
        );
    }
    Ok(rows)
}

/// The most common value (ties: the first seen).
fn majority<T: PartialEq + Copy>(values: impl Iterator<Item = T>) -> Option<T> {
    let mut counts: Vec<(T, usize)> = Vec::new();
    for v in values {
        match counts.iter_mut().find(|(x, _)| *x == v) {
            Some((_, n)) => *n += 1,
            None => counts.push((v, 1)),
        }
    }
    let best = counts.iter().map(|(_, n)| *n).max()?;
    counts.into_iter().find(|(_, n)| *n == best).map(|(v, _)| v)
}

/// Up to `n` files spread evenly over `metas` (all of them when `n` is `None`).
fn sample(metas: &[ObjectMeta], n: Option<usize>) -> Vec<ObjectMeta> {
    match n {
        Some(n) if n > 0 && metas.len() > n => (0..n).map(|i| metas[i * metas.len() / n].clone()).collect(),
        _ => metas.to_vec(),
    }
}

/// Builds the table for files described earlier, without touching the store.
pub fn build_table(described: &TableFiles, options: &ReadOptions) -> Result<LakeTable> {
    // Files that must be read by name go through sluice's decoder, failing on the first bad record
    // unless a policy says otherwise.
    let bad_records = match &options.bad_records {
        Some(guard) => Some(Arc::clone(guard)),
        None if described.read_by_name => {
            Some(guard::BadRecords::new(guard::BadRecordPolicy::Fail, None, None)?)
        }
        None => None,
    };
    let options = &ReadOptions {
        csv: described.csv.clone(),
        bad_records,
        json_array: described.json_array,
        ..options.clone()
    };
    let mut groups: BTreeMap<FileKind, Vec<PartitionedFile>> = BTreeMap::new();
    let mut rows: BTreeMap<FileKind, HashMap<object_store::path::Path, u64>> = BTreeMap::new();
    for file in &described.files {
        let Some(kind) = kind_of(file, options.format) else {
            continue;
        };
        let values = described
            .partition_cols
            .iter()
            .zip(&file.partition)
            .map(|((_, ty), (_, v))| match v {
                None => ScalarValue::try_from(ty),
                Some(v) => ScalarValue::try_from_string(v.clone(), ty),
            })
            .collect::<datafusion::error::Result<Vec<_>>>()?;
        if let Some(n) = file.rows {
            rows.entry(kind.clone())
                .or_default()
                .insert(file.meta.location.clone(), n);
        }
        groups
            .entry(kind)
            .or_default()
            .push(PartitionedFile::from(file.meta.clone()).with_partition_values(values));
    }
    let table_groups = groups
        .into_iter()
        .map(|(kind, files)| {
            // The record-level reader reads under a policy, and finds the bad record when
            // DataFusion's reader fails without one.
            let guarded = match (&options.bad_records, kind.format) {
                (_, FileFormatKind::Csv) => Some(guard::Dialect::Csv {
                    has_header: options.csv.has_header,
                    delimiter: options
                        .csv
                        .delimiter
                        .unwrap_or(if kind.tab_separated { b'\t' } else { b',' }),
                    quote: options.csv.quote,
                    escape: options.csv.escape,
                    comment: options.csv.comment,
                }),
                // JSON arrays are read by DataFusion's reader (the first bad element fails).
                (_, FileFormatKind::Json) if !options.json_array => Some(guard::Dialect::Json),
                _ => None,
            };
            let source = GroupFormat::new(&kind, options);
            table::FileGroupSpec {
                format: source.file_format(),
                source: Some(source),
                guarded: guarded.map(|d| (d, kind.compression.file_type())),
                rows: rows.remove(&kind).unwrap_or_default(),
                files,
            }
        })
        .collect();
    let store_url = ObjectStoreUrl::parse(described.location.store_url().as_str().trim_end_matches('/'))?;
    Ok(table::LakeTable::new(
        store_url,
        Arc::clone(&described.file_schema),
        partition_fields(&described.partition_cols),
        table_groups,
    )
    .with_bad_records(options.bad_records.clone())
    .with_delta_location(described.delta.then(|| described.location.clone())))
}

/// Lists a location and opens it as one table (see [`describe_location`]).
pub async fn open_table(
    state: &dyn Session,
    location: &Location,
    options: &ReadOptions,
) -> Result<Arc<dyn TableProvider>> {
    let described = describe_location(state, location, options).await?;
    Ok(Arc::new(build_table(&described, options)?))
}

/// The partition columns shared by every file, with types inferred from their values.
fn partition_columns(location: &Location, files: &[DataFile]) -> Result<Vec<(String, DataType)>> {
    let keys: Vec<&str> = files[0].partition.iter().map(|(k, _)| k.as_str()).collect();
    for file in files {
        let these: Vec<&str> = file.partition.iter().map(|(k, _)| k.as_str()).collect();
        if these != keys {
            return Err(EngineError::InvalidOption {
                option: location.original().to_string(),
                reason: format!(
                    "its files disagree on Hive partition folders: `{}` has [{}] where others have [{}]; move or exclude the odd files",
                    file.meta.location,
                    these.join(", "),
                    keys.join(", ")
                ),
            });
        }
    }
    Ok(keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let values = files.iter().map(|f| f.partition[i].1.as_deref());
            (key.to_string(), infer_partition_type(values))
        })
        .collect())
}

/// `BIGINT` when every value is an integer, `DATE` when every value is `YYYY-MM-DD`, else `VARCHAR`;
/// NULLs (the default partition) do not count.
fn infer_partition_type<'a>(values: impl Iterator<Item = Option<&'a str>> + Clone) -> DataType {
    if values.clone().flatten().next().is_none() {
        return DataType::Utf8;
    }
    let all = |f: fn(&str) -> bool| values.clone().flatten().all(f);
    if all(|v| {
        !v.is_empty() && v.len() < 19 && v.parse::<i64>().is_ok() && !(v.len() > 1 && v.starts_with('0'))
    }) {
        DataType::Int64
    } else if all(|v| v.len() == 10 && chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok()) {
        DataType::Date32
    } else {
        DataType::Utf8
    }
}

/// Fields of the partition columns, for callers that build schemas.
pub fn partition_fields(cols: &[(String, DataType)]) -> Vec<Field> {
    cols.iter().map(|(n, t)| Field::new(n, t.clone(), true)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("a.csv", Some((FileFormatKind::Csv, Compression::None, ".csv")))]
    #[case("a.CSV.GZ", Some((FileFormatKind::Csv, Compression::Gzip, ".csv.gz")))]
    #[case("a.tsv.zst", Some((FileFormatKind::Csv, Compression::Zstd, ".tsv.zst")))]
    #[case("a.jsonl.bz2", Some((FileFormatKind::Json, Compression::Bzip2, ".jsonl.bz2")))]
    #[case("part-0.parquet", Some((FileFormatKind::Parquet, Compression::None, ".parquet")))]
    #[case("readme.md", None)]
    #[case("x.parquet.gz", None)]
    fn classify_by_extension(
        #[case] name: &str,
        #[case] expected: Option<(FileFormatKind, Compression, &str)>,
    ) {
        let got = classify(name, None).map(|k| (k.format, k.compression, k.suffix));
        assert_eq!(got, expected.map(|(f, c, s)| (f, c, s.to_string())));
    }

    #[test]
    fn forced_format_takes_unknown_extensions() {
        let kind = classify("events.log.gz", Some(FileFormatKind::Json)).unwrap();
        assert_eq!(kind.format, FileFormatKind::Json);
        assert_eq!(kind.suffix, ".log.gz");
    }

    #[rstest]
    #[case("**.gz", "orders/k=1/part-0.csv.gz", true)]
    #[case("**.gz", "top.gz", true)]
    #[case("**.gz", "orders/part-0.csv", false)]
    #[case("events/**", "events/a/b.json", true)]
    #[case("events/*.json", "events/a/b.json", false)]
    #[case("events/*.json", "events/b.json", true)]
    #[case("logs**", "logs/2026/x.csv", true)]
    #[case("2015/01/{[!0],0[8-9]}**", "2015/01/09/x.csv", true)]
    #[case("2015/01/{[!0],0[8-9]}**", "2015/01/05/x.csv", false)]
    fn glue_exclude_grammar(#[case] pattern: &str, #[case] path: &str, #[case] excluded: bool) {
        let base = Location::parse("s3://b/lake/").unwrap();
        let ex = Exclude::try_new(&base, &[pattern.to_string()]).unwrap();
        assert_eq!(
            ex.matches(&format!("lake/{path}")),
            excluded,
            "{pattern} vs {path}"
        );
    }

    #[rstest]
    #[case("_SUCCESS", true)]
    #[case(".part.crc", true)]
    #[case("_temporary", true)]
    #[case("_c=1", false)]
    #[case("dt=2026-01-01", false)]
    fn hidden_names(#[case] name: &str, #[case] hidden: bool) {
        assert_eq!(is_hidden(name), hidden);
    }

    #[rstest]
    #[case(&[Some("1"), Some("20")], DataType::Int64)]
    #[case(&[Some("2026-11-01"), Some("2026-11-02")], DataType::Date32)]
    #[case(&[Some("1"), Some("x")], DataType::Utf8)]
    #[case(&[Some("007")], DataType::Utf8)]
    #[case(&[Some("1"), None], DataType::Int64)]
    #[case(&[None], DataType::Utf8)]
    fn partition_types(#[case] values: &[Option<&str>], #[case] expected: DataType) {
        assert_eq!(infer_partition_type(values.iter().copied()), expected);
    }
}
