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
mod describe;
pub mod guard;
pub mod infer;
mod json;
mod lazy;
mod remote_guard;
mod table;
mod wire;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::execution::object_store::ObjectStoreUrl;
use futures::TryStreamExt;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

pub use self::csv::{CsvReadOptions, parse_delimiter};
pub(crate) use self::declared::DeclaredTables;
pub use self::delta::describe_delta;
pub use self::describe::{DescribeNotes, Known, describe_location, describe_location_incremental};
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
}
