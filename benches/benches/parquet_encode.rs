//! Parquet encode: 200,000 lineitem-like rows (16 columns) written unpartitioned into an in-memory
//! store by sluice's writer, per codec (zstd is the default). One file, so the time is encoding,
//! compression and the footer.
//!
//! `cargo bench -p sluice-benches --bench parquet_encode`

#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sluice_benches::{lineitem_batches, mem_table, write_to_memory};
use sluice_engine::{Codec, WriteOptions};

const ROWS: usize = 200_000;

fn encode(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let batches = lineitem_batches(ROWS, 8192);
    let table = mem_table(batches);
    let mut group = c.benchmark_group("parquet_encode");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for (name, codec) in [
        ("none", Codec::None),
        ("snappy", Codec::Snappy),
        ("zstd", Codec::default()),
    ] {
        group.bench_with_input(BenchmarkId::from_parameter(name), &codec, |b, codec| {
            b.to_async(&runtime).iter(|| {
                let table = Arc::clone(&table);
                let codec = *codec;
                async move {
                    // One stream: a single-threaded encode of one file.
                    let report = write_to_memory(table, Some(1), WriteOptions::new().with_codec(codec)).await;
                    assert_eq!(report.rows, ROWS as u64);
                    report.bytes
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
