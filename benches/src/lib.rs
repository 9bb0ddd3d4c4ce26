//! Shared inputs for sluice's benchmarks: `benches/writer.rs` (criterion) and `e2e/run.sh` (the
//! end-to-end comparison with DuckDB, Polars and plain DataFusion).

use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};

/// `rows` order-like rows whose column `k` takes `partitions` distinct values, interleaved so
/// every batch touches many partitions.
pub fn order_batches(rows: usize, partitions: usize, batch_rows: usize) -> Vec<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("k", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, false),
        Field::new("note", DataType::Utf8, false),
    ]));
    (0..rows)
        .step_by(batch_rows)
        .map(|start| {
            let ids: Vec<i64> = (start..(start + batch_rows).min(rows))
                .map(|i| i as i64)
                .collect();
            let keys: Vec<String> = ids
                .iter()
                .map(|i| format!("key-{:05}", *i as usize % partitions))
                .collect();
            let amounts: Vec<f64> = ids.iter().map(|i| (*i % 1000) as f64 * 1.25).collect();
            let notes: Vec<String> = ids.iter().map(|i| format!("note {i}")).collect();
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(Int64Array::from(ids)),
                    Arc::new(StringArray::from(keys)),
                    Arc::new(Float64Array::from(amounts)),
                    Arc::new(StringArray::from(notes)),
                ],
            )
            .expect("columns match the schema")
        })
        .collect()
}
