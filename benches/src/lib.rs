//! Shared inputs for sluice's benchmarks: the criterion benches in `benches/` and `e2e/run.sh` (the
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

/// TPC-H lineitem's columns with the types sluice infers for them from CSV.
pub fn lineitem_schema() -> Arc<Schema> {
    let int = |name: &str| Field::new(name, DataType::Int64, true);
    let float = |name: &str| Field::new(name, DataType::Float64, true);
    let text = |name: &str| Field::new(name, DataType::Utf8, true);
    let date = |name: &str| Field::new(name, DataType::Date32, true);
    Arc::new(Schema::new(vec![
        int("l_orderkey"),
        int("l_partkey"),
        int("l_suppkey"),
        int("l_linenumber"),
        int("l_quantity"),
        float("l_extendedprice"),
        float("l_discount"),
        float("l_tax"),
        text("l_returnflag"),
        text("l_linestatus"),
        date("l_shipdate"),
        date("l_commitdate"),
        date("l_receiptdate"),
        text("l_shipinstruct"),
        text("l_shipmode"),
        text("l_comment"),
    ]))
}

/// A deterministic pseudo-random sequence (no `rand` dependency needed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// `YYYY-MM-DD` of a day counted from 1970-01-01 (Howard Hinnant's civil-from-days).
fn civil(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `rows` lineitem-like CSV lines with a header, shaped like tpchgen-cli's output: ship dates over
/// about 2,500 days from 1992-01-02, four (returnflag, linestatus) pairs, seven ship modes and
/// quoted comments (some with commas).
pub fn lineitem_csv(rows: usize) -> Vec<u8> {
    const INSTRUCT: [&str; 4] = ["DELIVER IN PERSON", "COLLECT COD", "NONE", "TAKE BACK RETURN"];
    const MODES: [&str; 7] = ["REG AIR", "AIR", "RAIL", "SHIP", "TRUCK", "MAIL", "FOB"];
    const WORDS: [&str; 8] = [
        "furiously",
        "regular",
        "deposits",
        "sleep",
        "quickly",
        "ironic",
        "accounts,",
        "bold",
    ];
    const FLAGS: [(&str, &str); 4] = [("N", "O"), ("R", "F"), ("A", "F"), ("N", "F")];
    let mut rng = Lcg(42);
    let mut out = Vec::with_capacity(rows * 130);
    out.extend_from_slice(
        b"l_orderkey,l_partkey,l_suppkey,l_linenumber,l_quantity,l_extendedprice,l_discount,l_tax,\
l_returnflag,l_linestatus,l_shipdate,l_commitdate,l_receiptdate,l_shipinstruct,l_shipmode,l_comment\n",
    );
    let start = 8036; // 1992-01-02
    for i in 0..rows {
        let ship = start + rng.next(2526) as i64;
        let (flag, status) = FLAGS[rng.next(4) as usize];
        let quantity = 1 + rng.next(50);
        let comment: Vec<&str> = (0..2 + rng.next(5))
            .map(|_| WORDS[rng.next(8) as usize])
            .collect();
        let line = format!(
            "{},{},{},{},{quantity},{}.{:02},0.{:02},0.{:02},{flag},{status},{},{},{},{},{},\"{}\"\n",
            i / 4 + 1,
            1 + rng.next(200_000),
            1 + rng.next(10_000),
            i % 4 + 1,
            quantity * (900 + rng.next(1100)),
            rng.next(100),
            rng.next(11),
            rng.next(9),
            civil(ship),
            civil(ship - 30 + rng.next(60) as i64),
            civil(ship + 1 + rng.next(30) as i64),
            INSTRUCT[rng.next(4) as usize],
            MODES[rng.next(7) as usize],
            comment.join(" "),
        );
        out.extend_from_slice(line.as_bytes());
    }
    out
}

/// [`lineitem_csv`]'s rows decoded into Arrow batches of `batch_rows` with [`lineitem_schema`].
pub fn lineitem_batches(rows: usize, batch_rows: usize) -> Vec<RecordBatch> {
    let csv = lineitem_csv(rows);
    arrow::csv::ReaderBuilder::new(lineitem_schema())
        .with_header(true)
        .with_batch_size(batch_rows)
        .build(std::io::Cursor::new(csv))
        .expect("the schema fits the CSV")
        .collect::<Result<Vec<_>, _>>()
        .expect("generated CSV decodes")
}

/// A fresh folder under the system temp folder for a benchmark's files, removed on drop.
#[derive(Debug)]
pub struct TempFolder(std::path::PathBuf);

impl TempFolder {
    /// Creates `$TMPDIR/sluice-bench-<name>-<pid>/` (emptied first).
    pub fn new(name: &str) -> std::io::Result<Self> {
        let path = std::env::temp_dir().join(format!("sluice-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)?;
        Ok(Self(path))
    }

    /// The folder.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `batches` as a table the writer benches read from.
pub fn mem_table(batches: Vec<RecordBatch>) -> Arc<datafusion::datasource::MemTable> {
    let schema = batches[0].schema();
    Arc::new(datafusion::datasource::MemTable::try_new(schema, vec![batches]).expect("one schema"))
}

/// Writes `table` with sluice's writer into a fresh in-memory store (`memory:///bench/`, overwrite),
/// planned with `target_partitions` streams (default: the number of cores).
pub async fn write_to_memory(
    table: Arc<datafusion::datasource::MemTable>,
    target_partitions: Option<usize>,
    options: sluice_engine::WriteOptions,
) -> sluice_engine::CommitReport {
    use datafusion::prelude::{SessionConfig, SessionContext};
    let mut config = SessionConfig::new();
    if let Some(n) = target_partitions {
        config = config.with_target_partitions(n);
    }
    let ctx = SessionContext::new_with_config(config);
    let plan = ctx
        .read_table(table)
        .expect("a MemTable reads")
        .create_physical_plan()
        .await
        .expect("a scan plans");
    let store: Arc<dyn object_store::ObjectStore> = Arc::new(object_store::memory::InMemory::new());
    let dest = sluice_engine::Location::parse("memory:///bench/").expect("a valid URL");
    sluice_engine::writer::PartitionedWriter::new(
        store,
        dest,
        options.with_mode(sluice_engine::WriteMode::Overwrite),
        "bench",
    )
    .write(plan, ctx.task_ctx())
    .await
    .expect("an in-memory write succeeds")
}
