//! Everything sluice prints: rows in four formats, summaries, and progress on stderr.
//!
//! Data goes to stdout; logs and progress go to stderr, and progress only when stderr is a terminal
//! and `-q` is not given.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use sluice_engine::progress::IoSnapshot;

use crate::args::OutputFormat;
pub use crate::table::{Unit, human_bytes};

/// Writes batches to `out` in `format`. The table format needs every batch at once; the others stream.
pub fn write_batches(
    format: OutputFormat,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    out: &mut dyn Write,
) -> Result<(), ArrowError> {
    match format {
        OutputFormat::Table => {
            let table = crate::table::render(schema, batches, crate::table::terminal_width())?;
            write!(out, "{table}")?;
        }
        OutputFormat::Csv => write_csv(schema, batches, out)?,
        OutputFormat::Json => write_json(batches, out)?,
        OutputFormat::Ndjson => write_ndjson(batches, out)?,
    }
    out.flush()?;
    Ok(())
}

/// CSV with a header line, which an empty result keeps.
fn write_csv(schema: &SchemaRef, batches: &[RecordBatch], out: &mut dyn Write) -> Result<(), ArrowError> {
    let mut writer = arrow::csv::WriterBuilder::new()
        .with_header(true)
        .build(&mut *out);
    if batches.is_empty() {
        writer.write(&RecordBatch::new_empty(Arc::clone(schema)))?;
    }
    for batch in batches {
        writer.write(batch)?;
    }
    Ok(())
}

/// One JSON array of row objects (`[]` for no rows), then a newline.
fn write_json(batches: &[RecordBatch], out: &mut dyn Write) -> Result<(), ArrowError> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if rows == 0 {
        writeln!(out, "[]")?;
        return Ok(());
    }
    let mut writer = arrow::json::ArrayWriter::new(&mut *out);
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    writeln!(out)?;
    Ok(())
}

/// One JSON object per row, a line each.
fn write_ndjson(batches: &[RecordBatch], out: &mut dyn Write) -> Result<(), ArrowError> {
    let mut writer = arrow::json::LineDelimitedWriter::new(&mut *out);
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    Ok(())
}

/// Prints named columns as one table in `format`. Number columns named `bytes` (or `bytes_…`,
/// `…_bytes`) and `seconds` count that [`Unit`]: the table format shows them in human units.
pub fn print_columns(format: OutputFormat, columns: Vec<(&str, ArrayRef)>) -> anyhow::Result<()> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| {
            let field = Field::new(*n, a.data_type().clone(), true);
            match unit_named(n) {
                Some(unit) => unit.mark(field),
                None => field,
            }
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(Arc::clone(&schema), columns.into_iter().map(|(_, a)| a).collect())?;
    write_batches(format, &schema, &[batch], &mut std::io::stdout().lock())?;
    Ok(())
}

/// The unit a listing's column counts, by its name.
fn unit_named(name: &str) -> Option<Unit> {
    if name == "bytes" || name.starts_with("bytes_") || name.ends_with("_bytes") {
        Some(Unit::Bytes)
    } else if name == "seconds" {
        Some(Unit::Seconds)
    } else {
        None
    }
}

/// A text column for [`print_columns`].
pub fn text_column<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

/// A count column for [`print_columns`].
pub fn number_column(values: impl Iterator<Item = u64>) -> ArrayRef {
    Arc::new(UInt64Array::from_iter_values(values))
}

/// A record printed as one row: `(name, value)` pairs where numbers stay numbers in JSON.
#[derive(Debug, Default)]
pub struct Record {
    fields: Vec<Field>,
    columns: Vec<ArrayRef>,
}

impl Record {
    /// An empty record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a text field.
    pub fn text(mut self, name: &str, value: impl Into<String>) -> Self {
        self.fields.push(Field::new(name, DataType::Utf8, false));
        self.columns.push(Arc::new(StringArray::from(vec![value.into()])));
        self
    }

    /// Adds a count.
    pub fn number(mut self, name: &str, value: u64) -> Self {
        self.fields.push(Field::new(name, DataType::UInt64, false));
        self.columns.push(Arc::new(UInt64Array::from(vec![value])));
        self
    }

    /// Adds a byte count (`12.3 MiB` in the table format, exact elsewhere).
    pub fn bytes(mut self, name: &str, value: u64) -> Self {
        self.fields
            .push(Unit::Bytes.mark(Field::new(name, DataType::UInt64, false)));
        self.columns.push(Arc::new(UInt64Array::from(vec![value])));
        self
    }

    /// Adds a duration in seconds (`3m 04s` in the table format, exact elsewhere).
    pub fn seconds(mut self, name: &str, value: f64) -> Self {
        self.fields
            .push(Unit::Seconds.mark(Field::new(name, DataType::Float64, false)));
        self.columns.push(Arc::new(Float64Array::from(vec![value])));
        self
    }

    /// Prints the record in `format` to stdout.
    pub fn print(self, format: OutputFormat) -> anyhow::Result<()> {
        let schema = Arc::new(Schema::new(self.fields));
        let batch = RecordBatch::try_new(Arc::clone(&schema), self.columns)?;
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        write_batches(format, &schema, &[batch], &mut lock)?;
        Ok(())
    }
}

/// A spinner on stderr that shows what is running and for how long; hidden when disabled.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Starts a spinner with a message, or nothing when `enabled` is false.
    pub fn spinner(message: impl Into<String>, enabled: bool) -> Self {
        if !enabled {
            return Self { bar: None };
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message.into());
        bar.enable_steady_tick(Duration::from_millis(120));
        Self { bar: Some(bar) }
    }

    /// Removes the spinner.
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Bars on stderr for long work, fed by the engine's I/O counters: what runs and for how long, bytes
/// streamed from object stores (against `input_total` when known, with rate and ETA), files
/// inspected by schema inference (crawls) and output written (rows, files, bytes). Hidden when disabled (not a terminal, or `-q`).
pub struct IoProgress {
    multi: Option<MultiProgress>,
    stop: Arc<AtomicBool>,
    poller: Option<std::thread::JoinHandle<()>>,
}

impl IoProgress {
    /// Starts the bars, or nothing when `enabled` is false.
    pub fn start(message: impl Into<String>, input_total: Option<u64>, enabled: bool) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        if !enabled {
            return Self {
                multi: None,
                stop,
                poller: None,
            };
        }
        let multi = MultiProgress::new();
        let task = multi.add(ProgressBar::new_spinner());
        task.set_style(bar_style("{spinner} {msg} [{elapsed}]"));
        task.set_message(message.into());
        task.enable_steady_tick(Duration::from_millis(120));
        let written = multi.add(ProgressBar::no_length().with_style(bar_style("  written {msg}")));
        let mut bars = IoBars {
            multi: multi.clone(),
            written,
            read: None,
            files: None,
            input_total,
            start: sluice_engine::progress::io().snapshot(),
        };
        let poll_stop = Arc::clone(&stop);
        let poller = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                loop {
                    bars.update();
                    if poll_stop.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(150));
                }
            })
            .ok();
        Self {
            multi: Some(multi),
            stop,
            poller,
        }
    }

    /// Removes the bars.
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(poller) = self.poller.take() {
            let _ = poller.join();
        }
        if let Some(multi) = self.multi.take() {
            let _ = multi.clear();
        }
    }
}

/// A progress style from `template` (the default bar should the template not parse).
fn bar_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// The bars [`IoProgress`] keeps up to date from the engine's I/O counters since `start`. The read
/// and files bars are added above `written` once they have something to show.
struct IoBars {
    multi: MultiProgress,
    written: ProgressBar,
    read: Option<ProgressBar>,
    files: Option<ProgressBar>,
    input_total: Option<u64>,
    start: IoSnapshot,
}

impl IoBars {
    /// Brings every bar up to the counters' current values.
    fn update(&mut self) {
        let now = sluice_engine::progress::io().snapshot().since(self.start);
        // Shown once an object store streams bytes (local files are not counted).
        if now.bytes_read > 0 {
            let total = self.input_total;
            let bar = self
                .read
                .get_or_insert_with(|| self.multi.insert_before(&self.written, read_bar(total)));
            bar.set_position(total.map_or(now.bytes_read, |t| now.bytes_read.min(t)));
        }
        // Shown once schema inference has files to read (crawls, raw folders).
        if now.files_planned > 0 {
            let bar = self.files.get_or_insert_with(|| {
                let style = bar_style("  files   [{bar:30}] {pos}/{len} inspected ETA {eta}");
                self.multi
                    .insert_before(&self.written, ProgressBar::new(0).with_style(style))
            });
            bar.set_length(now.files_planned);
            bar.set_position(now.files_inspected);
        }
        self.written.set_message(format!(
            "{} rows, {} files, {}",
            now.rows_written,
            now.files_written,
            human_bytes(now.bytes_written)
        ));
    }
}

/// The bar of bytes read: against `input_total` with an ETA when it is known.
fn read_bar(input_total: Option<u64>) -> ProgressBar {
    match input_total {
        Some(total) => ProgressBar::new(total).with_style(bar_style(
            "  read    [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        )),
        None => ProgressBar::no_length().with_style(bar_style("  read    {bytes} {binary_bytes_per_sec}")),
    }
}

/// Prints a short status line to stderr unless quiet (row counts and timings after a query).
pub fn status(quiet: bool, line: &str) {
    if !quiet {
        eprintln!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

    fn batch() -> (SchemaRef, RecordBatch) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None])),
                Arc::new(StringArray::from(vec![Some("a,b"), Some("c")])),
            ],
        )
        .unwrap();
        (schema, batch)
    }

    fn render(format: OutputFormat, batches: &[RecordBatch], schema: &SchemaRef) -> String {
        let mut out = Vec::new();
        write_batches(format, schema, batches, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats() {
        let (schema, b) = batch();
        assert_eq!(
            render(OutputFormat::Csv, std::slice::from_ref(&b), &schema),
            "n,s\n1,\"a,b\"\n,c\n"
        );
        assert_eq!(
            render(OutputFormat::Ndjson, std::slice::from_ref(&b), &schema),
            "{\"n\":1,\"s\":\"a,b\"}\n{\"s\":\"c\"}\n"
        );
        assert_eq!(
            render(OutputFormat::Json, std::slice::from_ref(&b), &schema),
            "[{\"n\":1,\"s\":\"a,b\"},{\"s\":\"c\"}]\n"
        );
        let table = render(OutputFormat::Table, &[b], &schema);
        assert!(table.contains("| 1    | a,b |"), "{table}");
        assert!(table.contains("| NULL | c   |"), "{table}");
    }

    #[test]
    fn empty_results_keep_headers() {
        let (schema, _) = batch();
        assert_eq!(render(OutputFormat::Csv, &[], &schema), "n,s\n");
        assert_eq!(render(OutputFormat::Json, &[], &schema), "[]\n");
        assert!(render(OutputFormat::Table, &[], &schema).contains("| n | s |"));
    }
}
