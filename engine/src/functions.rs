//! SQL functions sluice runs its own way.
//!
//! `to_char(date_or_timestamp, 'format')` (alias `date_format`): DataFusion formats each value
//! through arrow's display path, which parses the format string again for every row. With a
//! constant format over dates or zoneless timestamps, sluice parses it once per batch and formats
//! the values with the parsed items; anything else (an array of formats, zoned timestamps, times,
//! durations, a format chrono cannot parse) goes to DataFusion's own function, so results and
//! errors are DataFusion's.

use std::fmt::Write;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use arrow::datatypes::{DataType, Date32Type, TimeUnit};
use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature};

/// `to_char` with the format parsed once per batch.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct ToChar {
    inner: Arc<ScalarUDF>,
}

impl ToChar {
    /// Wraps DataFusion's `to_char`.
    pub(crate) fn udf() -> ScalarUDF {
        ScalarUDF::from(Self {
            inner: datafusion::functions::datetime::to_char(),
        })
    }
}

impl ScalarUDFImpl for ToChar {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if let [
            ColumnarValue::Array(values),
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(format))),
        ] = args.args.as_slice()
            && let Some(formatted) = format_once(values, format)
        {
            return Ok(ColumnarValue::Array(formatted));
        }
        self.inner.invoke_with_args(args)
    }
}

/// Every value of `values` formatted with `format` parsed once; `None` when this path does not
/// apply (DataFusion's does).
fn format_once(values: &ArrayRef, format: &str) -> Option<ArrayRef> {
    let items: Vec<Item<'_>> = StrftimeItems::new(format).collect();
    if items.iter().any(|i| matches!(i, Item::Error)) {
        return None;
    }
    let mut out = StringBuilder::with_capacity(values.len(), values.len() * (format.len() + 10));
    match values.data_type() {
        DataType::Date32 => {
            let days = values.as_primitive::<Date32Type>();
            for i in 0..days.len() {
                if days.is_null(i) {
                    out.append_null();
                    continue;
                }
                let date = NaiveDate::from_num_days_from_ce_opt(days.value(i).checked_add(719_163)?)?;
                // A time specifier on a date fails here; DataFusion's path handles it.
                write!(out, "{}", date.format_with_items(items.iter())).ok()?;
                out.append_value("");
            }
        }
        DataType::Timestamp(unit, None) => {
            // The raw counts of `unit` since the epoch.
            let ints = arrow::compute::cast(values, &DataType::Int64).ok()?;
            let ints = ints.as_primitive::<arrow::datatypes::Int64Type>();
            for i in 0..ints.len() {
                if ints.is_null(i) {
                    out.append_null();
                    continue;
                }
                let at = naive(ints.value(i), *unit)?;
                write!(out, "{}", at.format_with_items(items.iter())).ok()?;
                out.append_value("");
            }
        }
        _ => return None,
    }
    Some(Arc::new(out.finish()))
}

fn naive(value: i64, unit: TimeUnit) -> Option<NaiveDateTime> {
    let at = match unit {
        TimeUnit::Second => DateTime::from_timestamp(value, 0),
        TimeUnit::Millisecond => DateTime::from_timestamp_millis(value),
        TimeUnit::Microsecond => DateTime::from_timestamp_micros(value),
        TimeUnit::Nanosecond => Some(DateTime::from_timestamp_nanos(value)),
    };
    at.map(|t| t.naive_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    async fn both(sql_values: &str, format: &str) -> (String, String) {
        let ours = SessionContext::new();
        ours.register_udf(ToChar::udf());
        let theirs = SessionContext::new();
        let sql = format!("SELECT to_char(v, '{format}') AS s FROM (VALUES {sql_values}) AS t(v)");
        let show = |batches: Vec<arrow::array::RecordBatch>| {
            arrow::util::pretty::pretty_format_batches(&batches)
                .unwrap()
                .to_string()
        };
        (
            show(ours.sql(&sql).await.unwrap().collect().await.unwrap()),
            show(theirs.sql(&sql).await.unwrap().collect().await.unwrap()),
        )
    }

    #[test]
    fn dates_and_zoneless_timestamps_take_the_parse_once_path() {
        let dates: ArrayRef = Arc::new(arrow::array::Date32Array::from(vec![Some(20_393), None]));
        let out = format_once(&dates, "%Y-%m").expect("dates are formatted here");
        assert_eq!(out.as_string::<i32>().value(0), "2025-11");
        assert!(out.is_null(1));
        assert!(
            format_once(&dates, "%H").is_none(),
            "a time on a date: DataFusion's path"
        );
        let zoned: ArrayRef =
            Arc::new(arrow::array::TimestampMicrosecondArray::from(vec![0]).with_timezone("UTC"));
        assert!(format_once(&zoned, "%Y").is_none(), "zoned: DataFusion's path");
    }

    #[tokio::test]
    async fn formats_as_datafusion_does() {
        for (values, format) in [
            ("(DATE '2026-11-01'), (DATE '1969-12-31'), (NULL)", "%Y-%m"),
            ("(DATE '2026-11-01'), (DATE '2000-02-29')", "%d/%m/%Y %A"),
            ("(DATE '2026-11-01')", "%Y-%m-%d %H:%M"),
            (
                "(TIMESTAMP '2026-11-01 10:30:05.123456'), (NULL)",
                "%Y-%m-%dT%H:%M:%S%.6f",
            ),
            ("(TIMESTAMP '1960-01-01 00:00:00')", "%s %j"),
        ] {
            let (ours, theirs) = both(values, format).await;
            assert_eq!(ours, theirs, "{values} as {format}");
        }
    }
}
