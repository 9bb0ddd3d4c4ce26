//! Parquet encode: 200,000 lineitem-like rows (16 columns) written unpartitioned into an in-memory
//! store by sluice's writer, per codec (zstd is the default). One file, so the time is encoding,
//! compression and the footer.
//!
//! `cargo bench -p sluice-benches --bench parquet_encode`

#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use datafusion::datasource::MemTable;
use datafusion::prelude::{SessionConfig, SessionContext};
use object_store::ObjectStore;
use object_store::memory::InMemory;
use sluice_benches::lineitem_batches;
use sluice_engine::writer::PartitionedWriter;
use sluice_engine::{Codec, Location, WriteMode, WriteOptions};

const ROWS: usize = 200_000;

fn encode(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let batches = lineitem_batches(ROWS, 8192);
    let schema = batches[0].schema();
    let table = Arc::new(MemTable::try_new(schema, vec![batches]).unwrap());
    let mut group = c.benchmark_group("parquet_encode");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for (name, codec) in [
        ("none", Codec::None),
        ("snappy", Codec::Snappy),
        ("zstd", Codec::Zstd),
    ] {
        group.bench_with_input(BenchmarkId::from_parameter(name), &codec, |b, codec| {
            b.to_async(&runtime).iter(|| {
                let table = Arc::clone(&table);
                let codec = *codec;
                async move {
                    // One stream: a single-threaded encode of one file.
                    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1));
                    let plan = ctx
                        .read_table(table)
                        .unwrap()
                        .create_physical_plan()
                        .await
                        .unwrap();
                    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
                    let options = WriteOptions::new()
                        .with_codec(codec)
                        .with_mode(WriteMode::Overwrite);
                    let dest = Location::parse("memory:///bench/").unwrap();
                    let report = PartitionedWriter::new(store, dest, options, "bench")
                        .write(plan, ctx.task_ctx())
                        .await
                        .unwrap();
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
