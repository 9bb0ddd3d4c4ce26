//! CSV decode to Arrow: lineitem-like CSV (200,000 rows, ~24 MiB) read through sluice's reader path
//! (a described table scanned by DataFusion with sluice's CSV format, all cores), and the same bytes
//! through arrow's CSV decoder alone on one thread (the floor under the scan).
//!
//! `cargo bench -p sluice-benches --bench csv_decode`

#![allow(missing_docs, clippy::unwrap_used)]

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_benches::{TempFolder, lineitem_csv, lineitem_schema};
use sluice_engine::readers::{build_table, describe_location};
use sluice_engine::{Location, ReadOptions, SessionBuilder};

const ROWS: usize = 200_000;

fn csv_decode(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let csv = lineitem_csv(ROWS);
    let folder = TempFolder::new("csv-decode").unwrap();
    std::fs::write(folder.path().join("lineitem.csv"), &csv).unwrap();

    let mut group = c.benchmark_group("csv_decode");
    group.throughput(Throughput::Bytes(csv.len() as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));

    // The table is described (listed, sniffed, typed) once, as a catalog table is; each iteration
    // builds the scan and decodes every column of every row.
    let session = SessionBuilder::new().build().unwrap();
    let location = Location::parse(&format!("{}/", folder.path().display())).unwrap();
    let options = ReadOptions::default();
    let described = runtime
        .block_on(describe_location(&session.ctx().state(), &location, &options))
        .unwrap();
    assert_eq!(described.file_schema.fields().len(), 16);
    group.bench_function("sluice_scan/200k_rows", |b| {
        b.to_async(&runtime).iter(|| async {
            let table = build_table(&described, &options).unwrap();
            let batches = session
                .ctx()
                .read_table(std::sync::Arc::new(table))
                .unwrap()
                .collect()
                .await
                .unwrap();
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            assert_eq!(rows, ROWS);
            rows
        })
    });

    let schema = lineitem_schema();
    group.bench_function("arrow_reader_1_thread/200k_rows", |b| {
        b.iter(|| {
            let reader = arrow::csv::ReaderBuilder::new(std::sync::Arc::clone(&schema))
                .with_header(true)
                .with_batch_size(8192)
                .build(std::io::Cursor::new(&csv))
                .unwrap();
            reader.map(|b| b.unwrap().num_rows()).sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, csv_decode);
criterion_main!(benches);
