//! Delta `stats` of a written Parquet file, from its footer: the row count and, per column, the
//! minimum, maximum and null count that Delta readers prune files with.
//!
//! Only types whose Delta stats form is unambiguous get a minimum and maximum: integers, floats,
//! dates and strings of at most 32 characters (Delta truncates longer ones, which would need
//! rounding). Leaving a column out is always correct; a wrong bound would hide rows.

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
            DataType::Date32 | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
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
    to_json(&best?)
}

fn to_json(v: &ScalarValue) -> Option<Value> {
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
        _ => None,
    }
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
