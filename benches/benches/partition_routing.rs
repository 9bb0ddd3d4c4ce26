//! Partition routing: 200,000 lineitem-like rows written uncompressed (so encoding costs little)
//! unpartitioned, into 4 partitions (l_returnflag, l_linestatus) and into ~2,500 (l_shipdate). The
//! difference to the unpartitioned write is the routing: 4 partitions are split per batch into one
//! open file per partition and stream; ~2,500 exceed the open-file limit, so the rows are
//! hash-repartitioned by the key and sorted, one file per partition.
//!
//! `cargo bench -p sluice-benches --bench partition_routing`

#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sluice_benches::{lineitem_batches, mem_table, write_to_memory};
use sluice_engine::{Codec, WriteOptions};

const ROWS: usize = 200_000;

fn routing(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let batches = lineitem_batches(ROWS, 8192);
    let table = mem_table(batches);
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
                    let options = WriteOptions::new()
                        .with_partition_by(keys)
                        .with_codec(Codec::None);
                    let report = write_to_memory(table, None, options).await;
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
