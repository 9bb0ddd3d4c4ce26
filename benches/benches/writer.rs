//! Writer throughput: the same rows into 10 or 1,000 Hive partitions (per-row cost should barely
//! change), and Hive path escaping.
//!
//! `cargo bench -p sluice-benches --bench writer`

#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sluice_benches::{mem_table, order_batches, write_to_memory};
use sluice_engine::WriteOptions;
use sluice_engine::writer::layout::escape_path_name;

const ROWS: usize = 200_000;

fn partitioned_write(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("partitioned_write");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(10);
    for partitions in [10usize, 1_000] {
        let batches = order_batches(ROWS, partitions, 8192);
        let table = mem_table(batches);
        group.bench_with_input(BenchmarkId::from_parameter(partitions), &partitions, |b, _| {
            b.to_async(&runtime).iter(|| {
                let table = Arc::clone(&table);
                async move {
                    let options = WriteOptions::new().with_partition_by(vec!["k".into()]);
                    write_to_memory(table, None, options).await
                }
            })
        });
    }
    group.finish();
}

fn escaping(c: &mut Criterion) {
    let values: Vec<String> = (0..10_000)
        .map(|i| format!("2026-11-{:02} 10:{:02}:00/ü%{i}", i % 28 + 1, i % 60))
        .collect();
    c.bench_function("escape_path_name/10k", |b| {
        b.iter(|| values.iter().map(|v| escape_path_name(v).len()).sum::<usize>())
    });
}

criterion_group!(benches, partitioned_write, escaping);
criterion_main!(benches);
