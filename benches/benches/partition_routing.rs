//! Partition routing: 200,000 lineitem-like rows written uncompressed (so encoding costs little)
//! unpartitioned, into 4 partitions (l_returnflag, l_linestatus) and into ~2,500 (l_shipdate). The
//! difference to the unpartitioned write is the routing: hash-repartition by the key, sort each
//! stream, split batches at key changes, one file per partition.
//!
//! `cargo bench -p sluice-benches --bench partition_routing`

#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use object_store::ObjectStore;
use object_store::memory::InMemory;
use sluice_benches::lineitem_batches;
use sluice_engine::writer::PartitionedWriter;
use sluice_engine::{Codec, Location, WriteMode, WriteOptions};

const ROWS: usize = 200_000;

fn routing(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let batches = lineitem_batches(ROWS, 8192);
    let schema = batches[0].schema();
    let table = Arc::new(MemTable::try_new(schema, vec![batches]).unwrap());
    let mut group = c.benchmark_group("partition_routing");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    let cases: [(&str, Vec<String>); 3] = [
        ("unpartitioned", vec![]),
        ("4_flags", vec!["l_returnflag".into(), "l_linestatus".into()]),
        ("2526_shipdates", vec!["l_shipdate".into()]),
    ];
    for (name, keys) in cases {
        group.bench_with_input(BenchmarkId::from_parameter(name), &keys, |b, keys| {
            b.to_async(&runtime).iter(|| {
                let table = Arc::clone(&table);
                let keys = keys.clone();
                async move {
                    let ctx = SessionContext::new();
                    let plan = ctx
                        .read_table(table)
                        .unwrap()
                        .create_physical_plan()
                        .await
                        .unwrap();
                    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
                    let options = WriteOptions::new()
                        .with_partition_by(keys)
                        .with_codec(Codec::None)
                        .with_mode(WriteMode::Overwrite);
                    let dest = Location::parse("memory:///bench/").unwrap();
                    let report = PartitionedWriter::new(store, dest, options, "bench")
                        .write(plan, ctx.task_ctx())
                        .await
                        .unwrap();
                    assert_eq!(report.rows, ROWS as u64);
                    report.partitions
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, routing);
criterion_main!(benches);
