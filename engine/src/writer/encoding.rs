//! Which columns get Parquet dictionary encoding, decided from the first rows a write sees.
//!
//! The Parquet writer dictionary-encodes every column until its dictionary outgrows one page
//! (1 MiB), hashing every value into the dictionary on the way. For a low-cardinality column (flags,
//! modes, dates, small codes) that pays: the data pages shrink to small integers. For a mostly
//! unique column (keys, prices, free text) it does not: a file of a few hundred thousand rows never
//! reaches the fallback, so every value is hashed into an ever larger table for a dictionary as big
//! as the data, and with many files open at once those tables no longer fit in the CPU caches.
//! Such columns are written plain instead (then compressed like every page), as DuckDB and Polars
//! do for columns whose values rarely repeat.
//!
//! The decision is made once per write from an evenly spaced sample of its first batch: spacing
//! the sample breaks up runs of equal values that sit next to each other in the input (the lines of
//! one order), which say nothing about how often a value comes back within a file.

use std::collections::HashSet;

use arrow::array::UInt32Array;
use arrow::compute::take;
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use datafusion::common::hash_utils::{RandomState, create_hashes};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

/// Rows sampled from the first batch.
const SAMPLE_ROWS: usize = 1024;
/// Below this many rows the sample says too little; the writer's defaults stay.
const MIN_SAMPLE_ROWS: usize = 256;
/// A column whose sampled values are more than this share distinct is written without a dictionary.
const MAX_DISTINCT_SHARE: f64 = 0.5;

/// `props` with dictionary encoding turned off for the columns of `batch` whose values are mostly
/// distinct; `props` unchanged when `batch` is too small to tell.
pub(super) fn tuned(props: &WriterProperties, batch: &RecordBatch) -> WriterProperties {
    let unique = mostly_distinct(batch);
    if unique.is_empty() {
        return props.clone();
    }
    tracing::debug!(columns = ?unique, "written without a dictionary: values mostly distinct");
    unique
        .iter()
        .fold(props.clone().into_builder(), |builder, name| {
            builder.set_column_dictionary_enabled(ColumnPath::from(name.as_str()), false)
        })
        .build()
}

/// Names of the flat columns of `batch` whose evenly spaced sample is mostly distinct values.
fn mostly_distinct(batch: &RecordBatch) -> Vec<String> {
    let rows = batch.num_rows();
    if rows < MIN_SAMPLE_ROWS {
        return Vec::new();
    }
    let step = (rows / SAMPLE_ROWS).max(1);
    let picks: UInt32Array = (0..rows)
        .step_by(step)
        .take(SAMPLE_ROWS)
        .map(|i| i as u32)
        .collect();
    let random_state = RandomState::with_seed(0);
    let mut unique = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if !dictionary_applies(field.data_type()) {
            continue;
        }
        let Ok(sample) = take(column.as_ref(), &picks, None) else {
            continue;
        };
        let values = sample.len() - sample.null_count();
        if values < MIN_SAMPLE_ROWS {
            continue;
        }
        let mut hashes = vec![0u64; sample.len()];
        if create_hashes([&sample], &random_state, &mut hashes).is_err() {
            continue;
        }
        let distinct: HashSet<u64> = hashes
            .iter()
            .enumerate()
            .filter(|(i, _)| sample.is_valid(*i))
            .map(|(_, h)| *h)
            .collect();
        if distinct.len() as f64 > values as f64 * MAX_DISTINCT_SHARE {
            unique.push(field.name().clone());
        }
    }
    unique
}

/// Flat columns the Parquet writer would dictionary-encode (not booleans, not nested types).
fn dictionary_applies(t: &DataType) -> bool {
    t.is_numeric()
        || t.is_temporal()
        || matches!(
            t,
            DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
                | DataType::FixedSizeBinary(_)
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::basic::Encoding;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    fn batch(rows: usize) -> RecordBatch {
        // `id` is unique; `order` repeats each key on 4 neighbouring rows (lines of one order) and
        // is unique beyond that; `flag` has 3 values; `note` is unique text.
        let id: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows as i64));
        let order: ArrayRef = Arc::new(Int64Array::from_iter_values((0..rows as i64).map(|i| i / 4)));
        let flag: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..rows).map(|i| ["A", "N", "R"][i % 3]),
        ));
        let note: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..rows).map(|i| format!("note {i}")),
        ));
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Int64, false),
                Field::new("order", DataType::Int64, false),
                Field::new("flag", DataType::Utf8, false),
                Field::new("note", DataType::Utf8, false),
            ])),
            vec![id, order, flag, note],
        )
        .unwrap()
    }

    #[test]
    fn mostly_unique_columns_are_found_and_repeating_ones_kept() {
        assert_eq!(mostly_distinct(&batch(8192)), ["id", "order", "note"]);
        assert!(mostly_distinct(&batch(100)).is_empty(), "too few rows to tell");
    }

    #[test]
    fn the_file_keeps_a_dictionary_only_where_values_repeat() {
        let data = batch(8192);
        let props = tuned(&WriterProperties::builder().build(), &data);
        let mut bytes = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut bytes, data.schema(), Some(props)).unwrap();
        writer.write(&data).unwrap();
        writer.close().unwrap();
        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
        let group = reader.metadata().row_group(0);
        let dictionary = |i: usize| {
            group
                .column(i)
                .encodings()
                .any(|e| matches!(e, Encoding::RLE_DICTIONARY | Encoding::PLAIN_DICTIONARY))
        };
        assert!(!dictionary(0) && !dictionary(1) && !dictionary(3));
        assert!(dictionary(2));
    }
}
