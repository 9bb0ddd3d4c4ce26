//! The `table` output format, as people expect it from psql or DuckDB: NULL printed as `NULL` (an
//! empty string stays empty), byte counts and durations in human units (columns marked with a
//! [`Unit`]; csv and json keep the exact numbers), and rows fitted to the terminal's width by
//! wrapping long cells, with a line saying so.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Float64Type, SchemaRef, UInt64Type};
use arrow::error::ArrowError;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use comfy_table::{ContentArrangement, Table};

/// Field metadata key marking a column's [`Unit`].
const UNIT: &str = "sluice.unit";

/// What a number column counts, for human units in the table format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes: `12.3 MiB`.
    Bytes,
    /// Seconds: `0.54 s`, `3m 04s`.
    Seconds,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Self::Bytes => "bytes",
            Self::Seconds => "seconds",
        }
    }

    /// `field`, marked as counting this unit.
    pub fn mark(self, field: Field) -> Field {
        field.with_metadata(HashMap::from([(UNIT.to_string(), self.name().to_string())]))
    }

    fn of(field: &Field) -> Option<Self> {
        match field.metadata().get(UNIT).map(String::as_str) {
            Some("bytes") => Some(Self::Bytes),
            Some("seconds") => Some(Self::Seconds),
            _ => None,
        }
    }
}

/// The width tables are fitted to: `COLUMNS` when set, else the terminal's when stdout is one;
/// `None` (no fitting) when the output goes to a file or a pipe.
pub fn terminal_width() -> Option<u16> {
    if let Some(columns) = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse().ok()) {
        return Some(columns);
    }
    console::Term::stdout().size_checked().map(|(_, columns)| columns)
}

/// Human-readable bytes, `12.3 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Human-readable seconds: `0.54 s`, `42.0 s`, `3m 04s`, `2h 05m`.
pub fn human_seconds(seconds: f64) -> String {
    if seconds < 60.0 {
        return format!("{seconds:.2} s");
    }
    let whole = seconds.round() as u64;
    if whole < 3600 {
        format!("{}m {:02}s", whole / 60, whole % 60)
    } else {
        format!("{}h {:02}m", whole / 3600, (whole % 3600) / 60)
    }
}

/// The rows as a table, fitted to `width` columns when given.
pub fn render(schema: &SchemaRef, batches: &[RecordBatch], width: Option<u16>) -> Result<String, ArrowError> {
    let mut table = Table::new();
    table.load_preset("||--+-++|    ++++++");
    table.set_header(schema.fields().iter().map(|f| f.name().as_str()));
    let options = FormatOptions::default().with_null("NULL");
    for batch in batches {
        let columns: Vec<Cells<'_>> = batch
            .columns()
            .iter()
            .zip(schema.fields())
            .map(|(array, field)| Cells::new(array.as_ref(), field, &options))
            .collect::<Result<_, ArrowError>>()?;
        for row in 0..batch.num_rows() {
            table.add_row(columns.iter().map(|c| c.cell(row)));
        }
    }
    let natural = natural_width(&table);
    let mut text = match width {
        Some(width) if natural > usize::from(width) => {
            table.set_content_arrangement(ContentArrangement::Dynamic);
            table.set_width(width);
            format!("{table}\n(wrapped to fit {width} columns; see --format csv)")
        }
        _ => table.to_string(),
    };
    text.push('\n');
    Ok(text)
}

/// The width of `table` with every cell on one line.
fn natural_width(table: &Table) -> usize {
    let widths = table.column_max_content_widths();
    widths.iter().map(|w| usize::from(*w) + 3).sum::<usize>() + 1
}

/// One column's cells as text.
enum Cells<'a> {
    Bytes(&'a dyn Array),
    Seconds(&'a dyn Array),
    Plain(ArrayFormatter<'a>),
}

impl<'a> Cells<'a> {
    fn new(array: &'a dyn Array, field: &Field, options: &FormatOptions<'a>) -> Result<Self, ArrowError> {
        Ok(match (Unit::of(field), array.data_type()) {
            (Some(Unit::Bytes), DataType::UInt64) => Self::Bytes(array),
            (Some(Unit::Seconds), DataType::Float64) => Self::Seconds(array),
            _ => Self::Plain(ArrayFormatter::try_new(array, options)?),
        })
    }

    fn cell(&self, row: usize) -> String {
        match self {
            Self::Bytes(a) if a.is_valid(row) => human_bytes(a.as_primitive::<UInt64Type>().value(row)),
            Self::Seconds(a) if a.is_valid(row) => human_seconds(a.as_primitive::<Float64Type>().value(row)),
            Self::Bytes(_) | Self::Seconds(_) => "NULL".to_string(),
            Self::Plain(f) => f.value(row).to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Float64Array, StringArray, UInt64Array};
    use arrow::datatypes::Schema;

    use super::*;

    fn batch() -> (SchemaRef, RecordBatch) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("s", DataType::Utf8, true),
            Unit::Bytes.mark(Field::new("size", DataType::UInt64, true)),
            Unit::Seconds.mark(Field::new("took", DataType::Float64, true)),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![Some(""), None, Some("x")])),
            Arc::new(UInt64Array::from(vec![Some(602), Some(2_993_400), None])),
            Arc::new(Float64Array::from(vec![Some(0.5), Some(184.0), Some(7300.0)])),
        ];
        let batch = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
        (schema, batch)
    }

    #[test]
    fn null_is_shown_and_differs_from_an_empty_string_and_units_are_human() {
        let (schema, batch) = batch();
        let text = render(&schema, &[batch], None).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[3], "|      | 602 B   | 0.50 s |", "{text}");
        assert_eq!(lines[4], "| NULL | 2.9 MiB | 3m 04s |", "{text}");
        assert_eq!(lines[5], "| x    | NULL    | 2h 01m |", "{text}");
    }

    #[test]
    fn wide_rows_are_wrapped_to_the_width_and_say_so() {
        let schema = Arc::new(Schema::new(vec![Field::new("text", DataType::Utf8, false)]));
        let long = "word ".repeat(40);
        let column: ArrayRef = Arc::new(StringArray::from(vec![long.trim()]));
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![column]).unwrap();
        let text = render(&schema, std::slice::from_ref(&batch), Some(60)).unwrap();
        assert!(text.lines().all(|l| l.chars().count() <= 60), "{text}");
        assert!(text.contains("wrapped to fit 60 columns"), "{text}");
        let unfitted = render(&schema, &[batch], None).unwrap();
        assert!(!unfitted.contains("wrapped"), "{unfitted}");
    }

    #[test]
    fn bytes_read_well() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024 / 2), "1.5 MiB");
    }
}
