//! Reading one file group record by record: split, decode in batches, sort out the bad records.

use std::sync::Arc;

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
use serde::Serialize;

use super::split::{CsvSplitter, LineSplitter, MAX_RECORD, Raw};
use super::*;
use crate::error::Result;

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

/// What every file of a partition is read with.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) store_url: ObjectStoreUrl,
    pub(super) schema: SchemaRef,
    pub(super) file_schema: SchemaRef,
    pub(super) dialect: Dialect,
    pub(super) compression: FileCompressionType,
    pub(super) bad_records: Arc<BadRecords>,
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
pub(super) struct FileReader {
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

impl FileReader {
    pub(super) async fn open(
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

    pub(super) fn into_stream(self) -> BoxStream<'static, datafusion::error::Result<RecordBatch>> {
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
pub(super) fn reason(error: &ArrowError, schema: &Schema) -> String {
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
