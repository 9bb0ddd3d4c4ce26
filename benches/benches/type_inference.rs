//! Type inference: CSV dialect sniffing and column typing on a 64 KiB head (what the crawler reads
//! per file), merging 1,000 file schemas with the widening lattice, and describing a folder of 200
//! small CSV files end to end (list, read heads, sniff, infer, merge).
//!
//! `cargo bench -p sluice-benches --bench type_inference`

#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, Field, Schema};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_benches::{TempFolder, lineitem_csv};
use sluice_engine::readers::describe_location;
use sluice_engine::readers::infer::{infer_csv_lines, merge_schemas, sniff_csv, whole_lines};
use sluice_engine::{Location, ReadOptions, SessionBuilder};

const HEAD: usize = 64 * 1024;

fn sniffing(c: &mut Criterion) {
    let csv = lineitem_csv(2_000);
    // A file's first 64 KiB (header included) for the sniffer; 64 KiB from its middle (cut lines
    // dropped, no header) for the column typing the crawler does on samples deeper in a file.
    let head = csv[..=csv[..HEAD].iter().rposition(|b| *b == b'\n').unwrap()].to_vec();
    let middle = whole_lines(&csv[HEAD..2 * HEAD]).to_vec();
    let names: Vec<String> = std::str::from_utf8(&csv[..csv.iter().position(|b| *b == b'\n').unwrap()])
        .unwrap()
        .split(',')
        .map(str::to_string)
        .collect();
    let mut group = c.benchmark_group("type_inference");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Bytes(head.len() as u64));
    group.bench_function("sniff_csv/64KiB", |b| {
        b.iter(|| {
            let d = sniff_csv(&head, None, b'"');
            assert_eq!(d.delimiter, b',');
            d
        })
    });
    group.bench_function("infer_csv_lines/64KiB", |b| {
        b.iter(|| {
            let schema = infer_csv_lines(&middle, &names, b',', b'"').unwrap();
            assert_eq!(schema.field(10).data_type(), &DataType::Date32);
            schema
        })
    });

    // 1,000 files of 16 columns; every 10th file widens two of them (Int64 -> Float64, Date32 ->
    // Timestamp) and every 100th adds a column.
    let parts: Vec<(String, Arc<Schema>)> = (0..1000)
        .map(|i| {
            let mut fields: Vec<Field> = (0..16)
                .map(|c| {
                    let ty = match (c % 4, i % 10 == 0) {
                        (0, true) => DataType::Float64,
                        (0, false) => DataType::Int64,
                        (1, _) => DataType::Utf8,
                        (2, true) => DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None),
                        (2, false) => DataType::Date32,
                        _ => DataType::Float64,
                    };
                    Field::new(format!("c{c}"), ty, true)
                })
                .collect();
            if i % 100 == 0 {
                fields.push(Field::new(format!("extra{i}"), DataType::Utf8, true));
            }
            (format!("part-{i:04}.csv"), Arc::new(Schema::new(fields)))
        })
        .collect();
    group.throughput(Throughput::Elements(parts.len() as u64));
    group.bench_function("merge_schemas/1000_files", |b| {
        b.iter(|| {
            let (schema, notes) = merge_schemas(&parts);
            assert_eq!(schema.fields().len(), 26);
            notes.len()
        })
    });

    // A folder of 200 CSV files of 100 rows each, described as the crawler and `sluice sql` do.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let folder = TempFolder::new("type-inference").unwrap();
    let small = lineitem_csv(100);
    for i in 0..200 {
        std::fs::write(folder.path().join(format!("part-{i:04}.csv")), &small).unwrap();
    }
    let session = SessionBuilder::new().build().unwrap();
    let location = Location::parse(&format!("{}/", folder.path().display())).unwrap();
    let options = ReadOptions::default();
    group.throughput(Throughput::Elements(200));
    group.bench_function("describe_location/200_files", |b| {
        b.to_async(&runtime).iter(|| async {
            let described = describe_location(&session.ctx().state(), &location, &options)
                .await
                .unwrap();
            assert_eq!(described.files.len(), 200);
            described.file_schema.fields().len()
        })
    });
    group.finish();
}

criterion_group!(benches, sniffing);
criterion_main!(benches);
