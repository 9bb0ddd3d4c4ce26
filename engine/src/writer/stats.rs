//! Delta `stats` of a written Parquet file, from its footer: the row count and, per column, the
//! minimum, maximum and null count that Delta readers prune files with.
//!
//! Only types whose Delta stats form is unambiguous get a minimum and maximum: integers, floats,
//! dates, strings of at most 32 characters (Delta truncates longer ones, which would need
//! rounding), decimals whose JSON number is exact, and timestamps (at millisecond precision, the
//! minimum rounded down and the maximum up). Leaving a column out is always correct; a wrong bound
//! would hide rows.

use arrow::array::{Array, ArrayRef};
use arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::parquet_to_arrow_schema;
use parquet::file::metadata::ParquetMetaData;
use serde_json::{Map, Value, json};

/// Longest string kept as a bound, as Delta writers do.
const MAX_STRING_BOUND: usize = 32;

/// The `stats` JSON of a file with `rows` rows and footer `meta`.
pub(crate) fn delta_stats(meta: &ParquetMetaData, rows: u64) -> String {
    let mut mins = Map::new();
    let mut maxes = Map::new();
    let mut nulls = Map::new();
    let file = meta.file_metadata();
    if let Ok(schema) = parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata()) {
        for field in schema.fields() {
            let Ok(conv) = StatisticsConverter::try_new(field.name(), &schema, file.schema_descr()) else {
                continue;
            };
            if let Ok(counts) = conv.row_group_null_counts(meta.row_groups())
                && counts.null_count() == 0
            {
                nulls.insert(field.name().clone(), json!(counts.values().iter().sum::<u64>()));
            }
            if !has_bounds(field.data_type()) {
                continue;
            }
            if let (Ok(lo), Ok(hi)) = (
                conv.row_group_mins(meta.row_groups()),
                conv.row_group_maxes(meta.row_groups()),
            ) && let (Some(lo), Some(hi)) = (extreme(&lo, true), extreme(&hi, false))
            {
                mins.insert(field.name().clone(), lo);
                maxes.insert(field.name().clone(), hi);
            }
        }
    }
    json!({"numRecords": rows, "minValues": mins, "maxValues": maxes, "nullCount": nulls}).to_string()
}

fn has_bounds(data_type: &DataType) -> bool {
    data_type.is_integer()
        || data_type.is_floating()
        || matches!(
            data_type,
            DataType::Date32
                | DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Decimal128(..)
                | DataType::Timestamp(..)
        )
}

/// The smallest (or largest) non-null value across row groups, as Delta stats JSON; `None` when a
/// bound is unknown or has no safe JSON form.
fn extreme(values: &ArrayRef, smallest: bool) -> Option<Value> {
    let mut best: Option<ScalarValue> = None;
    for i in 0..values.len() {
        if values.is_null(i) {
            continue;
        }
        let v = ScalarValue::try_from_array(values, i).ok()?;
        let better = match &best {
            None => true,
            Some(b) => match v.partial_cmp(b)? {
                std::cmp::Ordering::Less => smallest,
                std::cmp::Ordering::Greater => !smallest,
                std::cmp::Ordering::Equal => false,
            },
        };
        if better {
            best = Some(v);
        }
    }
    to_json(&best?, smallest)
}

/// A bound as Delta stats JSON; a minimum rounds down and a maximum up where precision is lost.
fn to_json(v: &ScalarValue, smallest: bool) -> Option<Value> {
    let text = |s: &Option<String>| {
        s.as_ref()
            .filter(|s| s.chars().count() <= MAX_STRING_BOUND)
            .map(|s| json!(s))
    };
    match v {
        ScalarValue::Int8(Some(n)) => Some(json!(n)),
        ScalarValue::Int16(Some(n)) => Some(json!(n)),
        ScalarValue::Int32(Some(n)) => Some(json!(n)),
        ScalarValue::Int64(Some(n)) => Some(json!(n)),
        ScalarValue::UInt8(Some(n)) => Some(json!(n)),
        ScalarValue::UInt16(Some(n)) => Some(json!(n)),
        ScalarValue::UInt32(Some(n)) => Some(json!(n)),
        ScalarValue::UInt64(Some(n)) => Some(json!(n)),
        ScalarValue::Float32(Some(f)) if f.is_finite() => Some(json!(f)),
        ScalarValue::Float64(Some(f)) if f.is_finite() => Some(json!(f)),
        ScalarValue::Date32(Some(_)) => Some(json!(v.to_string())),
        ScalarValue::Utf8(s) | ScalarValue::LargeUtf8(s) | ScalarValue::Utf8View(s) => text(s),
        ScalarValue::Decimal128(Some(_), _, _) => exact_number(&v.to_string()),
        ScalarValue::TimestampSecond(Some(t), tz) => {
            timestamp(i128::from(*t) * 1_000_000, tz.is_some(), smallest)
        }
        ScalarValue::TimestampMillisecond(Some(t), tz) => {
            timestamp(i128::from(*t) * 1_000, tz.is_some(), smallest)
        }
        ScalarValue::TimestampMicrosecond(Some(t), tz) => timestamp(i128::from(*t), tz.is_some(), smallest),
        ScalarValue::TimestampNanosecond(Some(t), tz) => {
            let micros = i128::from(*t).div_euclid(1_000) + i128::from(!smallest && t.rem_euclid(1_000) != 0);
            timestamp(micros, tz.is_some(), smallest)
        }
        _ => None,
    }
}

/// A decimal's text as a JSON number, when the number prints back as the same text (so no reader
/// rounds it).
fn exact_number(text: &str) -> Option<Value> {
    let number = serde_json::Number::from_f64(text.parse().ok()?)?;
    let canonical = |t: &str| {
        if t.contains('.') {
            t.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            t.to_string()
        }
    };
    (canonical(&number.to_string()) == canonical(text)).then_some(Value::Number(number))
}

/// Microseconds since the epoch as Delta's millisecond timestamp text (`Z` for a zoned column).
fn timestamp(micros: i128, zoned: bool, smallest: bool) -> Option<Value> {
    let millis = if smallest {
        micros.div_euclid(1_000)
    } else {
        micros.div_euclid(1_000) + i128::from(micros.rem_euclid(1_000) != 0)
    };
    let at = chrono::DateTime::from_timestamp_millis(i64::try_from(millis).ok()?)?;
    let text = at.format("%Y-%m-%dT%H:%M:%S%.3f").to_string();
    Some(json!(if zoned { format!("{text}Z") } else { text }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::file::properties::WriterProperties;

    use super::*;

    #[test]
    fn timestamps_round_outwards_and_decimals_stay_exact() {
        let max = to_json(&ScalarValue::TimestampMicrosecond(Some(1_500), None), false);
        assert_eq!(max, Some(json!("1970-01-01T00:00:00.002")));
        let min = to_json(
            &ScalarValue::TimestampMicrosecond(Some(1_500), Some("UTC".into())),
            true,
        );
        assert_eq!(min, Some(json!("1970-01-01T00:00:00.001Z")));
        let before_epoch = to_json(&ScalarValue::TimestampMicrosecond(Some(-1), None), true);
        assert_eq!(before_epoch, Some(json!("1969-12-31T23:59:59.999")));
        assert_eq!(
            to_json(&ScalarValue::Decimal128(Some(1234), 15, 2), true),
            Some(json!(12.34))
        );
        assert_eq!(
            to_json(&ScalarValue::Decimal128(Some(10000), 15, 2), false),
            Some(json!(100.0))
        );
        assert_eq!(
            to_json(
                &ScalarValue::Decimal128(Some(12_345_678_901_234_567_891), 38, 2),
                true
            ),
            None,
            "a decimal f64 cannot hold exactly gets no bound"
        );
    }

    #[test]
    fn bounds_and_null_counts_come_from_every_row_group() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("price", DataType::Float64, false),
            Field::new("day", DataType::Date32, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let batch = |ids: Vec<Option<i64>>, names: Vec<Option<&str>>| {
            let n = ids.len();
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(Int64Array::from(ids)),
                    Arc::new(Float64Array::from(vec![1.5; n])),
                    Arc::new(Date32Array::from(vec![20_400; n])),
                    Arc::new(StringArray::from(names)),
                ],
            )
            .unwrap()
        };
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(2))
            .build();
        let mut writer = ArrowWriter::try_new(Vec::new(), Arc::clone(&schema), Some(props)).unwrap();
        writer
            .write(&batch(vec![Some(5), None], vec![Some("b"), None]))
            .unwrap();
        let long = "x".repeat(40);
        writer
            .write(&batch(vec![Some(-3), Some(9)], vec![Some("a"), Some(&long)]))
            .unwrap();
        let meta = writer.close().unwrap();
        let stats: Value = serde_json::from_str(&delta_stats(&meta, 4)).unwrap();
        assert_eq!(stats["numRecords"], 4);
        assert_eq!(stats["minValues"]["id"], -3);
        assert_eq!(stats["maxValues"]["id"], 9);
        assert_eq!(stats["nullCount"]["id"], 1);
        assert_eq!(stats["minValues"]["day"], "2025-11-08");
        assert_eq!(stats["minValues"]["price"], 1.5);
        assert!(
            stats["minValues"].get("name").is_none(),
            "a bound past 32 characters is left out: {stats}"
        );
        assert_eq!(stats["nullCount"]["name"], 1);
    }
}
