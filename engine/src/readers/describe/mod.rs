//! Describing a location: which files make up its table, how they are read, and one schema merged
//! across them. Each stage is a function; a [`Findings`] carries what they learn from one format
//! group to the next.
//!
//! ```text
//! list_location ──Delta log──> the log's files and schema (no sampling, no inference)
//!    │ files
//!    ▼
//! classify: excluded? ── name says CSV, JSON or Parquet ──> format groups
//!                     └─ name says nothing ──> detect (first bytes; an unchanged file keeps the
//!                                               format an earlier crawl recorded)
//!    ▼
//! Hive paths: `key=value` folders (`partition_<n>` for the rest when asked) ──> typed columns
//!    ▼ each format group: its files new or changed since `known`, a sample of them
//! read heads ──> CSV dialect / JSON shape ──> infer schemas (+ CSV middles and ends) ──> row estimates
//!    ▼
//! merge schemas ──> read by name? ──> JSON strings typed as dates ──> TableFiles + DescribeNotes
//! ```

mod probe;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStore};

use super::{
    Compression, CsvReadOptions, DataFile, FileFormatKind, FileKind, GroupFormat, Listing, ReadOptions,
    TableFiles, infer, kind_of, list_location,
};
use crate::error::{EngineError, Result};
use crate::lake::layout::folder_partitions;
use crate::stores::Location;

use self::probe::{binary_magic, count_rows, detect_kind, sample_further};

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
    let describe = Describe {
        state,
        store,
        location,
        options,
        known,
    };
    let mut classified = describe.classify(&listed).await?;
    if options.unnamed_partitions {
        name_every_folder(location, &mut classified.files);
    }
    let partition_cols = partition_columns(location, &classified.files)?;
    let mut found = describe.start(&classified);
    for (kind, metas) in &classified.groups {
        describe
            .describe_group(kind, metas, &mut found, &mut classified.files)
            .await?;
    }
    Ok(describe.finish(found, classified.files, partition_cols))
}

/// The location being described, and what the caller knows of it.
struct Describe<'a> {
    state: &'a dyn Session,
    store: Arc<dyn ObjectStore>,
    location: &'a Location,
    options: &'a ReadOptions,
    known: Option<&'a Known>,
}

/// The listed files sorted by kind.
struct Classified {
    /// Format groups (format and compression), each with its files.
    groups: BTreeMap<FileKind, Vec<ObjectMeta>>,
    /// Every file of the table, with its partition values and detected format.
    files: Vec<DataFile>,
    /// Files classified by their content, for a note.
    by_content: Vec<String>,
    /// Files left out as neither CSV, NDJSON nor Parquet, for a note.
    odd: Vec<String>,
}

impl Classified {
    fn add(&mut self, kind: FileKind, file: DataFile) {
        self.groups.entry(kind).or_default().push(file.meta.clone());
        self.files.push(file);
    }
}

/// What the per-group stages learn, carried from one group to the next and into the merge.
struct Findings {
    notes: DescribeNotes,
    /// The CSV dialect the files are read with.
    csv: CsvReadOptions,
    /// The JSON files hold one array each.
    json_array: bool,
    /// Schemas to merge, each with where it comes from: the catalog's first, then each file read.
    schemas: Vec<(String, SchemaRef)>,
    /// Schemas of CSV files with a header (their column order matters).
    csv_files: Vec<(String, SchemaRef)>,
    /// Schemas of JSON files.
    json_files: Vec<(String, SchemaRef)>,
    /// JSON string columns whose values are all dates or timestamps.
    json_temporal: Vec<(String, DataType)>,
    /// Columns some CSV or Parquet file has: never retyped from JSON strings.
    non_json_columns: Vec<String>,
}

impl Findings {
    /// Keeps a group's schemas for the merge, the read-by-name decision and JSON typing.
    fn record(&mut self, kind: &FileKind, inferred: Vec<(String, SchemaRef)>, heads: Vec<(String, Vec<u8>)>) {
        if kind.format == FileFormatKind::Csv && self.csv.has_header {
            self.csv_files.extend(inferred.iter().cloned());
        }
        if kind.format == FileFormatKind::Json {
            self.json_files.extend(inferred.iter().cloned());
            let (group, _) = infer::merge_schemas(&inferred);
            let heads: Vec<Vec<u8>> = heads.into_iter().map(|(_, h)| h).collect();
            self.json_temporal
                .extend(infer::json_temporal_columns(&heads, &group));
        } else {
            for (_, schema) in &inferred {
                self.non_json_columns
                    .extend(schema.fields().iter().map(|f| f.name().clone()));
            }
        }
        self.schemas.extend(inferred);
    }
}

impl Known {
    /// True when the catalog recorded `meta`'s file with the same size and time.
    fn unchanged(&self, meta: &ObjectMeta) -> bool {
        self.files.get(meta.location.as_ref()) == Some(&(meta.size, meta.last_modified.to_rfc3339()))
    }

    /// The format an earlier crawl read from an unchanged file's content.
    fn recorded_format(&self, meta: &ObjectMeta) -> Option<String> {
        if !self.unchanged(meta) {
            return None;
        }
        self.detected.get(meta.location.as_ref()).cloned()
    }
}

/// The decoding settings of a group whose heads DataFusion may refuse under a bad-records policy:
/// its compression, and for CSV the delimiter, quote and header.
type Tolerant = (FileCompressionType, Option<(u8, u8, bool)>);

impl Describe<'_> {
    /// Sorts the listed files into format groups: by name, else by their first bytes.
    async fn classify(&self, listed: &[DataFile]) -> Result<Classified> {
        let mut classified = Classified {
            groups: BTreeMap::new(),
            files: Vec::with_capacity(listed.len()),
            by_content: Vec::new(),
            odd: Vec::new(),
        };
        let mut unnamed = Vec::new();
        for file in listed {
            let excluded = self.options.exclude.as_ref();
            if excluded.is_some_and(|e| e.matches(file.meta.location.as_ref())) {
                continue;
            }
            match kind_of(file, self.options.format) {
                Some(kind) => classified.add(kind, file.clone()),
                None => unnamed.push(file.clone()),
            }
        }
        for (mut file, label) in self.detect(unnamed).await? {
            let Some(label) = label else {
                tracing::warn!(file = %file.meta.location, "skipping a file that is not CSV, NDJSON or Parquet");
                classified.odd.push(file.meta.location.to_string());
                continue;
            };
            classified
                .by_content
                .push(format!("{} ({label})", file.meta.location));
            file.detected = Some(label);
            if let Some(kind) = kind_of(&file, None) {
                classified.add(kind, file);
            }
        }
        if classified.groups.is_empty() {
            return Err(self.no_data(listed));
        }
        Ok(classified)
    }

    /// The format of each file whose name says none: as an earlier crawl recorded it when the
    /// file is unchanged, else read from its first bytes.
    async fn detect(&self, unnamed: Vec<DataFile>) -> Result<Vec<(DataFile, Option<String>)>> {
        futures::stream::iter(unnamed)
            .map(|file| {
                let store = Arc::clone(&self.store);
                let recorded = self.known.and_then(|k| k.recorded_format(&file.meta));
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
            .await
    }

    /// Why a location with no CSV, JSON or Parquet file has no table.
    fn no_data(&self, listed: &[DataFile]) -> EngineError {
        match listed {
            [_] if !self.location.is_folder() => EngineError::UnknownFormat {
                path: self.location.original().to_string(),
            },
            _ => EngineError::NoDataFiles {
                location: self.location.original().to_string(),
            },
        }
    }

    /// The findings before any group: notes on how files were classified, and the CSV dialect,
    /// JSON shape and schema the catalog recorded.
    fn start(&self, classified: &Classified) -> Findings {
        let mut notes = DescribeNotes::default();
        if !classified.by_content.is_empty() {
            notes.notes.push(files_note(
                "classified",
                "without a known extension by their content",
                &classified.by_content,
            ));
        }
        if !classified.odd.is_empty() {
            notes.notes.push(files_note(
                "left out",
                "that are not CSV, NDJSON or Parquet",
                &classified.odd,
            ));
        }
        Findings {
            notes,
            csv: self
                .known
                .map(|k| k.csv.clone())
                .unwrap_or_else(|| self.options.csv.clone()),
            json_array: self.known.is_some_and(|k| k.json_array),
            schemas: self
                .known
                .map(|k| ("the catalog".to_string(), Arc::clone(&k.file_schema)))
                .into_iter()
                .collect(),
            csv_files: Vec::new(),
            json_files: Vec::new(),
            json_temporal: Vec::new(),
            non_json_columns: Vec::new(),
        }
    }

    /// One format group: a sample of its new or changed files sniffed, inferred and counted.
    async fn describe_group(
        &self,
        kind: &FileKind,
        metas: &[ObjectMeta],
        found: &mut Findings,
        files: &mut [DataFile],
    ) -> Result<()> {
        let fresh: Vec<ObjectMeta> = metas
            .iter()
            .filter(|m| self.known.is_none_or(|k| !k.unchanged(m)))
            .cloned()
            .collect();
        if fresh.is_empty() {
            return Ok(());
        }
        let sample = sample(&fresh, self.options.sample_files);
        let heads = self.read_heads(kind, &sample).await?;
        if kind.format == FileFormatKind::Csv && self.options.csv.sniff {
            self.sniff_csv_dialect(kind, &heads, found);
        }
        if kind.format == FileFormatKind::Json {
            self.sniff_json_shape(&heads, found)?;
        }
        let effective = ReadOptions {
            csv: found.csv.clone(),
            json_array: found.json_array,
            ..self.options.clone()
        };
        let format = GroupFormat::new(kind, &effective).file_format();
        let mut inferred = self.infer_schemas(kind, &format, &sample, &found.csv).await?;
        found.notes.files_read += inferred.len();
        if kind.format == FileFormatKind::Csv && kind.compression == Compression::None {
            let further = sample_further(&self.store, &sample, &inferred, &found.csv, kind.tab_separated);
            inferred.extend(further.await?);
        }
        self.estimate_rows(kind, &format, &fresh, &heads, found.csv.has_header, files)
            .await?;
        found.record(kind, inferred, heads);
        Ok(())
    }

    /// The first bytes of up to [`SNIFF_FILES`] sampled text files (none for Parquet); a file
    /// named as text that holds binary data is refused.
    async fn read_heads(&self, kind: &FileKind, sample: &[ObjectMeta]) -> Result<Vec<(String, Vec<u8>)>> {
        let mut heads = Vec::new();
        if kind.format == FileFormatKind::Parquet {
            return Ok(heads);
        }
        for meta in sample.iter().take(SNIFF_FILES) {
            let head = infer::head(&self.store, meta, kind.compression.file_type(), HEAD_BYTES).await?;
            if kind.compression == Compression::None
                && let Some(what) = binary_magic(&head)
            {
                return Err(EngineError::InvalidOption {
                    option: self.location.original().to_string(),
                    reason: format!(
                        "`{}` is named like {} text but holds {what}; rename it to what it is (e.g. `.csv.gz`, `.parquet`) or leave it out with --exclude",
                        meta.location,
                        kind.format.as_str()
                    ),
                });
            }
            heads.push((meta.location.to_string(), head));
        }
        Ok(heads)
    }

    /// The CSV delimiter, quote and header most sniffed heads agree on, where `options.csv`
    /// leaves them open.
    fn sniff_csv_dialect(&self, kind: &FileKind, heads: &[(String, Vec<u8>)], found: &mut Findings) {
        let given = &self.options.csv;
        let fixed = given.delimiter.or(kind.tab_separated.then_some(b'\t'));
        let dialects: Vec<infer::Dialect> = heads
            .iter()
            .map(|(_, h)| infer::sniff_csv(h, fixed, given.quote))
            .collect();
        if fixed.is_none()
            && let Some(d) = majority(dialects.iter().map(|d| d.delimiter))
            && d != b','
        {
            found.csv.delimiter = Some(d);
            found
                .notes
                .notes
                .push(format!("sniffed the CSV delimiter `{}`", d as char));
        }
        if let Some(q) = majority(dialects.iter().map(|d| d.quote))
            && q != given.quote
        {
            found.csv.quote = q;
            found
                .notes
                .notes
                .push(format!("sniffed the CSV quote `{}`", q as char));
        }
        let yes = dialects.iter().filter(|d| d.has_header == Some(true)).count();
        let no = dialects.iter().filter(|d| d.has_header == Some(false)).count();
        if yes != no {
            found.csv.has_header = yes > no;
            found.notes.notes.push(format!(
                "header {}: {yes} of {} sniffed files look like they have one, {no} not",
                if yes > no { "detected" } else { "absent" },
                dialects.len()
            ));
        }
    }

    /// Whether the JSON files hold one array of objects each or an object per line; one table's
    /// files (these and the ones crawled before) must not mix the two.
    fn sniff_json_shape(&self, heads: &[(String, Vec<u8>)], found: &mut Findings) -> Result<()> {
        let arrays: Vec<&str> = heads
            .iter()
            .filter(|(_, h)| h.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'['))
            .map(|(p, _)| p.as_str())
            .collect();
        let lines: Vec<&str> = heads
            .iter()
            .map(|(p, _)| p.as_str())
            .filter(|p| !arrays.contains(p))
            .collect();
        let earlier = self.known.is_some_and(|k| !k.files.is_empty());
        let mixed = match (arrays.first(), lines.first()) {
            (Some(a), Some(l)) => Some((*a, *l)),
            (Some(a), None) if earlier && !found.json_array => Some((*a, "the files crawled before")),
            (None, Some(l)) if earlier && found.json_array => Some(("the files crawled before", *l)),
            _ => None,
        };
        if let Some((array, line)) = mixed {
            return Err(EngineError::InvalidOption {
                option: self.location.original().to_string(),
                reason: format!(
                    "`{array}` holds JSON arrays where `{line}` holds one object per line; a table's JSON files must be all one or all the other. Move them apart or leave some out with --exclude"
                ),
            });
        }
        if !arrays.is_empty() && !found.json_array {
            found.json_array = true;
            found.notes.notes.push("JSON files hold arrays of objects".into());
        }
        Ok(())
    }

    /// Each sampled file's schema, inferred concurrently. Under a bad-records policy, a file whose
    /// head DataFusion refuses is inferred from the records that parse.
    async fn infer_schemas(
        &self,
        kind: &FileKind,
        format: &Arc<dyn FileFormat>,
        sample: &[ObjectMeta],
        csv: &CsvReadOptions,
    ) -> Result<Vec<(String, SchemaRef)>> {
        crate::progress::io().plan_files(sample.len() as u64);
        let tolerant: Option<Tolerant> = self.options.bad_records.is_some().then(|| {
            let csv = (kind.format == FileFormatKind::Csv).then(|| {
                let delimiter = csv
                    .delimiter
                    .unwrap_or(if kind.tab_separated { b'\t' } else { b',' });
                (delimiter, csv.quote, csv.has_header)
            });
            (kind.compression.file_type(), csv)
        });
        futures::stream::iter(sample.iter().cloned())
            .map(|meta| {
                let (format, store) = (Arc::clone(format), Arc::clone(&self.store));
                let state = self.state;
                async move { infer_one(state, &store, &format, meta, tolerant).await }
            })
            .buffered(INFER_CONCURRENCY)
            .try_collect()
            .await
    }

    /// Row counts onto the group's new or changed files. Text counts are estimated from the heads
    /// already read, so they cost nothing and always go to the planner; Parquet footers are read
    /// only when `count_rows` asks.
    async fn estimate_rows(
        &self,
        kind: &FileKind,
        format: &Arc<dyn FileFormat>,
        fresh: &[ObjectMeta],
        heads: &[(String, Vec<u8>)],
        has_header: bool,
        files: &mut [DataFile],
    ) -> Result<()> {
        if !self.options.count_rows && kind.format == FileFormatKind::Parquet {
            return Ok(());
        }
        let rows = count_rows(self.state, &self.store, kind, format, fresh, heads, has_header).await?;
        for file in files {
            if let Some(n) = rows.get(file.meta.location.as_ref()) {
                file.rows = Some(*n);
            }
        }
        Ok(())
    }

    /// The table: the merged schema (partition columns read from folder names, not files), and
    /// whether sluice's own decoder must read the files by column name.
    fn finish(
        &self,
        mut found: Findings,
        files: Vec<DataFile>,
        partition_cols: Vec<(String, DataType)>,
    ) -> (TableFiles, DescribeNotes) {
        let (merged, widenings) = infer::merge_schemas(&found.schemas);
        found.notes.notes.extend(widenings);
        // DataFusion's readers take CSV columns by position and cannot turn a JSON number into a
        // string: such files are read by sluice's own decoder, by column name, numbers kept as text.
        let json_by_name = json_types_differ(&found.json_files, &merged, &mut found.notes);
        let csv_by_name = csv_columns_moved(&found.csv_files, &merged, &mut found.notes);
        let read_by_name = self.known.is_some_and(|k| k.read_by_name) || json_by_name || csv_by_name;
        let fields = type_json_temporal(
            &merged,
            &found.json_temporal,
            &found.non_json_columns,
            &mut found.notes,
        );
        // A column that is both in the files and a partition key is read from the folder name.
        let file_schema = Arc::new(Schema::new(
            fields
                .into_iter()
                .filter(|f| !partition_cols.iter().any(|(n, _)| n == f.name()))
                .collect::<Vec<_>>(),
        ));
        let table = TableFiles {
            location: self.location.clone(),
            file_schema,
            partition_cols,
            files,
            csv: found.csv,
            read_by_name,
            json_array: found.json_array,
            delta: false,
        };
        (table, found.notes)
    }
}

/// `<verb> N file(s) <why>: a, b, c, d, e, …`.
fn files_note(verb: &str, why: &str, names: &[String]) -> String {
    format!(
        "{verb} {} file(s) {why}: {}{}",
        names.len(),
        names.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
        if names.len() > 5 { ", …" } else { "" }
    )
}

/// Every folder of each file as a partition: `key=value` ones by key, the rest as
/// `partition_<depth>` (Glue's names), for `unnamed_partitions`.
fn name_every_folder(location: &Location, files: &mut [DataFile]) {
    let root = location.store_path();
    for file in files {
        let Some(rel) = file.meta.location.prefix_match(&root) else {
            continue;
        };
        let parts: Vec<String> = rel.map(|p| p.as_ref().to_string()).collect();
        file.partition = folder_partitions(&parts[..parts.len().saturating_sub(1)], true);
    }
}

/// One file's schema; with `tolerant`, from the records that parse when DataFusion refuses it.
async fn infer_one(
    state: &dyn Session,
    store: &Arc<dyn ObjectStore>,
    format: &Arc<dyn FileFormat>,
    meta: ObjectMeta,
    tolerant: Option<Tolerant>,
) -> Result<(String, SchemaRef)> {
    let schema = match format
        .infer_schema(state, store, std::slice::from_ref(&meta))
        .await
    {
        Ok(schema) => schema,
        Err(e) => {
            let Some((compression, csv)) = tolerant else {
                return Err(e.into());
            };
            tracing::debug!(file = %meta.location, error = %e, "inferring from the records that parse");
            match infer::tolerant_schema(store, &meta, compression, csv).await? {
                Some(schema) => Arc::new(schema),
                None => return Err(e.into()),
            }
        }
    };
    crate::progress::io().inspected();
    Ok((meta.location.to_string(), schema))
}

/// True when a JSON column holds numbers or booleans in one file and strings in another (noted
/// for the first such column).
fn json_types_differ(json_files: &[(String, SchemaRef)], merged: &Schema, notes: &mut DescribeNotes) -> bool {
    for (file, schema) in json_files {
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
                return true;
            }
        }
    }
    false
}

/// True when some CSV file's columns are not the table's first columns in order (noted for the
/// first such file).
fn csv_columns_moved(csv_files: &[(String, SchemaRef)], merged: &Schema, notes: &mut DescribeNotes) -> bool {
    let order: Vec<&str> = merged.fields().iter().map(|f| f.name().as_str()).collect();
    for (file, schema) in csv_files {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        if names.len() > order.len() || order[..names.len()] != names[..] {
            notes.notes.push(format!(
                "CSV file `{file}` has the columns [{}] where the table's first columns are [{}]: read by column name",
                names.join(", "),
                order[..names.len().min(order.len())].join(", "),
            ));
            return true;
        }
    }
    false
}

/// The merged fields, with string columns that JSON files hold only dates or timestamps in typed
/// (unless a CSV or Parquet file has the column too).
fn type_json_temporal(
    merged: &Schema,
    temporal: &[(String, DataType)],
    non_json_columns: &[String],
    notes: &mut DescribeNotes,
) -> Vec<Field> {
    let mut fields: Vec<Field> = merged.fields().iter().map(|f| f.as_ref().clone()).collect();
    for (name, ty) in temporal {
        if non_json_columns.contains(name) {
            continue;
        }
        if let Some(f) = fields
            .iter_mut()
            .find(|f| f.name() == name && f.data_type() == &DataType::Utf8)
        {
            notes.notes.push(format!(
                "column `{name}` holds only {ty} values in JSON strings: typed {ty}"
            ));
            *f = Field::new(name, ty.clone(), true);
        }
    }
    fields
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

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

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
