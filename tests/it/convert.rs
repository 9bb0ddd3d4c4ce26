//! `sluice convert`: Hive-partitioned Parquet that DuckDB and pyarrow read back unchanged.

use serde_json::{Value, json};

use crate::test_util::{convert_partitioned, duckdb_rows, lake, pyarrow_rows, python, run};

fn source_rows(sql: &str) -> Vec<Value> {
    run(&["sql", "--format", "json", sql]).json()
}

#[test]
fn partitioned_orders_match_duckdb_and_pyarrow() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("orders");
    let summary = run(&[
        "convert",
        &lake("orders"),
        dst.to_str().unwrap(),
        "--partition-by",
        "order_date",
        "--format",
        "json",
    ])
    .json();
    assert_eq!(summary[0]["rows"], 60);
    assert_eq!(summary[0]["partitions"], 3);
    for day in ["2026-11-01", "2026-11-02", "2026-11-03"] {
        assert!(
            dst.join(format!("order_date={day}")).is_dir(),
            "missing partition {day}"
        );
    }
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dst.join("_SUCCESS")).unwrap()).unwrap();
    assert_eq!(manifest["rows"], 60);
    assert!(
        dst.join("_delta_log/00000000000000000000.json").is_file(),
        "the Delta commit"
    );
    assert_eq!(manifest["commit"], 0, "the first Delta version");

    let expected = source_rows(&format!(
        "SELECT order_id, customer_id, amount, status, note, CAST(order_date AS VARCHAR) AS order_date FROM '{}' ORDER BY order_id",
        lake("orders")
    ));
    let Some(py) = python() else { return };
    for (reader, rows) in [
        ("duckdb", duckdb_rows(&py, &dst, "order_id")),
        ("pyarrow", pyarrow_rows(&py, &dst, "order_id")),
    ] {
        let rows = rows.as_array().unwrap().clone();
        assert_eq!(rows.len(), 60, "{reader}");
        for (got, want) in rows.iter().zip(&expected) {
            assert_eq!(got["order_id"], want["order_id"], "{reader}");
            assert_eq!(got["amount"], want["amount"], "{reader}");
            assert_eq!(
                got["order_date"].as_str().map(|s| &s[..10]),
                want["order_date"].as_str(),
                "{reader}"
            );
            assert_eq!(
                got["note"].as_str().unwrap_or(""),
                want["note"].as_str().unwrap_or(""),
                "{reader}"
            );
        }
    }
}

#[test]
fn awkward_partition_values_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("customers");
    convert_partitioned(&lake("customers"), &dst, "region");
    // Hive escaping on disk: `/`, `=` and `%` encoded, non-ASCII raw, NULL as the default partition.
    for folder in [
        "region=east%2Fwest",
        "region=a%3Db%25c",
        "region=São Paulo",
        "region=__HIVE_DEFAULT_PARTITION__",
    ] {
        assert!(dst.join(folder).is_dir(), "missing {folder}");
    }
    let expected: Vec<(i64, Value)> = vec![
        (1, json!("north")),
        (2, json!("south")),
        (3, json!("east/west")),
        (4, json!("São Paulo")),
        (5, json!("a=b%c")),
        (6, Value::Null),
        (7, json!("north")),
        (8, json!("south")),
    ];
    let ours = source_rows(&format!(
        "SELECT id, region FROM '{}/' ORDER BY id",
        dst.display()
    ));
    let ours: Vec<(i64, Value)> = ours
        .iter()
        .map(|r| {
            (
                r["id"].as_i64().unwrap(),
                r.get("region").cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    assert_eq!(ours, expected, "sluice reading its own output");

    let Some(py) = python() else { return };
    for (reader, rows) in [
        ("duckdb", duckdb_rows(&py, &dst, "id")),
        ("pyarrow", pyarrow_rows(&py, &dst, "id")),
    ] {
        let got: Vec<(i64, Value)> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["id"].as_i64().unwrap(), r["region"].clone()))
            .collect();
        assert_eq!(got, expected, "{reader}");
    }
}

#[test]
fn rerun_overwrites_append_adds_and_error_mode_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("c");
    let dst = dst.to_str().unwrap();
    let count = || {
        run(&[
            "sql",
            "--format",
            "csv",
            &format!("SELECT count(*) AS n FROM '{dst}/'"),
        ])
        .ok()
    };
    run(&["convert", &lake("customers"), dst, "-q"]).ok();
    run(&["convert", &lake("customers"), dst, "-q"]).ok();
    assert_eq!(count(), "n\n8\n", "a rerun converges to the same rows");
    run(&["convert", &lake("customers"), dst, "--mode", "append", "-q"]).ok();
    assert_eq!(count(), "n\n16\n");
    let r = run(&["convert", &lake("customers"), dst, "--mode", "error-if-exists"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("already holds data"), "{}", r.stderr);
    assert_eq!(count(), "n\n16\n", "a refused write changes nothing");
}

#[test]
fn overwrite_partitions_replaces_only_written_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("o");
    let dst = dst.to_str().unwrap();
    run(&[
        "convert",
        &lake("orders"),
        dst,
        "--partition-by",
        "order_date",
        "-q",
    ])
    .ok();
    let one_day = format!("{}order_date=2026-11-01/", lake("orders"));
    // The single-day folder has no order_date column, so partition by status instead into a
    // separate table and check overwrite-partitions on it.
    let dst2 = dir.path().join("s");
    let dst2 = dst2.to_str().unwrap();
    run(&["convert", &lake("orders"), dst2, "--partition-by", "status", "-q"]).ok();
    let before = run(&[
        "sql",
        "--format",
        "csv",
        &format!("SELECT status, count(*) AS n FROM '{dst2}/' GROUP BY status ORDER BY status"),
    ])
    .ok();
    run(&[
        "convert",
        &one_day,
        dst2,
        "--partition-by",
        "status",
        "--mode",
        "overwrite-partitions",
        "-q",
    ])
    .ok();
    let after = run(&[
        "sql",
        "--format",
        "csv",
        &format!("SELECT status, count(*) AS n FROM '{dst2}/' GROUP BY status ORDER BY status"),
    ])
    .ok();
    let per_day = run(&[
        "sql",
        "--format",
        "csv",
        &format!("SELECT status, count(*) AS n FROM '{one_day}' GROUP BY status ORDER BY status"),
    ])
    .ok();
    assert_ne!(before, after);
    assert_eq!(
        after, per_day,
        "every status occurs on the first day, so each partition is replaced by that day's rows"
    );
    assert_eq!(
        run(&[
            "sql",
            "--format",
            "csv",
            &format!("SELECT count(*) AS n FROM '{dst}/'")
        ])
        .ok(),
        "n\n60\n"
    );
}

#[test]
fn compression_and_file_size_options() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("snappy");
    let summary = run(&[
        "convert",
        &lake("orders"),
        dst.to_str().unwrap(),
        "--compression",
        "snappy",
        "--format",
        "json",
    ])
    .json();
    assert_eq!(summary[0]["rows"], 60);
    let names: Vec<String> = std::fs::read_dir(&dst)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.ends_with(".snappy.parquet")), "{names:?}");
    let Some(py) = python() else { return };
    let codec = crate::test_util::python_json(
        &py,
        "import pyarrow.parquet as pq, glob, json, sys\nf = sorted(glob.glob(sys.argv[1] + '/*.parquet'))[0]\nprint(json.dumps(pq.ParquetFile(f).metadata.row_group(0).column(0).compression))",
        &[dst.to_str().unwrap()],
    );
    assert_eq!(codec, "SNAPPY");
}

#[test]
fn convert_errors_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(&["convert", "no/such/dir/", dir.path().to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("`no/such/dir/` does not exist"), "{}", r.stderr);
    let r = run(&[
        "convert",
        &lake("orders"),
        dir.path().join("x").to_str().unwrap(),
        "--partition-by",
        "nope",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("`nope`") && r.stderr.contains("order_id"),
        "{}",
        r.stderr
    );
    assert!(!dir.path().join("x").join("_SUCCESS").exists());

    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let r = run(&["convert", &lake("orders"), file.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("it is a file"), "{}", r.stderr);

    // A name without an extension: the content says what it is, or the error asks for the format.
    let junk = dir.path().join("junk");
    std::fs::write(&junk, [0u8, 159, 146, 150, 1, 2, 3, 4]).unwrap();
    let r = run(&[
        "convert",
        junk.to_str().unwrap(),
        dir.path().join("z").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--input-format"), "{}", r.stderr);
    let noext = dir.path().join("noext");
    std::fs::write(&noext, "{\"a\": 1}\n").unwrap();
    let r = run(&[
        "convert",
        noext.to_str().unwrap(),
        dir.path().join("sniffed").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(&[
        "convert",
        noext.to_str().unwrap(),
        dir.path().join("y").to_str().unwrap(),
        "--input-format",
        "json",
        "--format",
        "json",
    ]);
    assert_eq!(r.json()[0]["rows"], 1);
}

/// The README's sample report, computed by sluice from its Parquet output and by DuckDB straight
/// from the raw CSV and NDJSON (bzip2 decompressed by Python, since DuckDB does not read it).
#[test]
fn sample_report_matches_duckdb_on_raw_files() {
    let dir = tempfile::tempdir().unwrap();
    let orders = dir.path().join("orders");
    let customers = dir.path().join("customers");
    convert_partitioned(&lake("orders"), &orders, "order_date");
    convert_partitioned(&lake("customers"), &customers, "region");
    let sql = format!(
        "SELECT coalesce(c.region, '(none)') AS region, CAST(o.order_date AS VARCHAR) AS day, count(*) AS n, \
         round(sum(o.amount), 2) AS revenue FROM '{}/' o JOIN '{}/' c ON o.customer_id = c.id \
         WHERE o.status <> 'cancelled' GROUP BY 1, 2 ORDER BY 1, 2",
        orders.display(),
        customers.display()
    );
    let ours: Vec<Value> = run(&["sql", "--format", "json", &sql]).json();
    let Some(py) = python() else { return };
    let script = r#"
import bz2, duckdb, json, sys, os, tempfile
lake = sys.argv[1]
tmp = tempfile.mkdtemp()
with open(os.path.join(tmp, "c.ndjson"), "wb") as out:
    for name in sorted(os.listdir(os.path.join(lake, "customers"))):
        path = os.path.join(lake, "customers", name)
        out.write(bz2.open(path).read() if name.endswith(".bz2") else open(path, "rb").read())
rows = duckdb.sql(f"""
  SELECT coalesce(c.region, '(none)') AS region, CAST(o.order_date AS VARCHAR) AS day, count(*) AS n,
         round(sum(o.amount), 2) AS revenue
  FROM read_csv('{lake}/orders/*/*.csv*', hive_partitioning=true) o
  JOIN read_json('{tmp}/c.ndjson') c ON o.customer_id = c.id
  WHERE o.status <> 'cancelled' GROUP BY 1, 2 ORDER BY 1, 2""").fetchall()
print(json.dumps([{"region": r, "day": d, "n": n, "revenue": v} for r, d, n, v in rows]))
"#;
    let lake_root = format!("{}/testdata/lake", crate::test_util::repo().display());
    let theirs = crate::test_util::python_json(&py, script, &[&lake_root]);
    assert_eq!(Value::Array(ours), theirs);
}

/// Ten thousand partitions under a 64 MiB memory limit: the writer sorts (spilling if needed) and
/// keeps one file open per stream, so this succeeds where one open writer per partition would not.
#[test]
fn ten_thousand_partitions_under_a_small_memory_limit() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let mut csv = String::from("id,k,payload\n");
    for i in 0..50_000u32 {
        // Keys interleave, so every batch touches thousands of partitions.
        csv.push_str(&format!("{i},{},row-{i}-{}\n", i % 10_000, "x".repeat(20)));
    }
    std::fs::write(src.join("data.csv"), csv).unwrap();
    let dst = dir.path().join("out");
    let summary = crate::test_util::sluice()
        .env("SLUICE_MEMORY_LIMIT", "64MiB")
        .args([
            "convert",
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
            "--partition-by",
            "k",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(
        summary.status.success(),
        "{}",
        String::from_utf8_lossy(&summary.stderr)
    );
    let summary: Value = serde_json::from_slice(&summary.stdout).unwrap();
    assert_eq!(summary[0]["partitions"], 10_000);
    assert_eq!(summary[0]["files"], 10_000, "one file per partition");
    let folders = std::fs::read_dir(&dst)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("k=")
        })
        .count();
    assert_eq!(folders, 10_000);
    let check = format!(
        "SELECT count(*) AS n, count(DISTINCT k) AS keys, sum(id) AS s FROM '{}/'",
        dst.display()
    );
    assert_eq!(
        run(&["sql", "--format", "csv", &check]).ok(),
        "n,keys,s\n50000,10000,1249975000\n"
    );
}

#[test]
fn file_options_reach_the_parquet_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("opts");
    run(&[
        "convert",
        &lake("orders"),
        dst.to_str().unwrap(),
        "--partition-by",
        "order_date",
        "--sort-by",
        "amount",
        "--bloom-filter",
        "order_id",
        "--row-group-rows",
        "8",
        "--keep-partition-columns",
        "-q",
    ])
    .ok();
    let Some(py) = python() else { return };
    let script = r#"
import pyarrow.parquet as pq, glob, json, sys
f = sorted(glob.glob(sys.argv[1] + '/order_date=2026-11-02/*.parquet'))[0]
pf = pq.ParquetFile(f)
md = pf.metadata
rg = md.row_group(0)
names = [md.schema.column(i).name for i in range(md.num_columns)]
amounts = pf.read().column('amount').to_pylist()
sc = rg.sorting_columns
print(json.dumps({
  "row_groups": md.num_row_groups,
  "columns": names,
  "sorted": amounts == sorted(amounts),
  "sorting": [names[c.column_index] for c in sc] if sc else [],
  "bloom": [names[i] for i in range(md.num_columns) if rg.column(i).bloom_filter_offset is not None],
}))
"#;
    let got = crate::test_util::python_json(&py, script, &[dst.to_str().unwrap()]);
    assert_eq!(got["row_groups"], 3, "20 rows in row groups of 8: {got}");
    assert!(
        got["columns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "order_date"),
        "{got}"
    );
    assert_eq!(got["sorted"], true, "{got}");
    assert_eq!(got["sorting"], json!(["amount"]), "{got}");
    assert_eq!(got["bloom"], json!(["order_id"]), "{got}");
}

/// Spark (pyspark, local mode) reads what sluice writes: escaped values decoded, the default
/// partition as NULL, dates typed.
#[test]
fn spark_reads_sluice_output() {
    let Some(py) = python() else { return };
    let has_spark = std::process::Command::new(&py)
        .args(["-c", "import pyspark"])
        .status()
        .is_ok_and(|s| s.success());
    let has_java = std::process::Command::new("java")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !(has_spark && has_java) {
        assert!(
            !crate::test_util::in_ci(),
            "pyspark or java missing; scripts/test.sh installs pyspark"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("customers");
    convert_partitioned(&lake("customers"), &dst, "region");
    let script = r#"
import json, sys
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
         .config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
rows = sorted([r["id"], r["region"]] for r in spark.read.parquet(sys.argv[1]).select("id", "region").collect())
spark.stop()
print(json.dumps(rows))
"#;
    let got = crate::test_util::python_json(&py, script, &[dst.to_str().unwrap()]);
    assert_eq!(
        got,
        json!([
            [1, "north"],
            [2, "south"],
            [3, "east/west"],
            [4, "São Paulo"],
            [5, "a=b%c"],
            [6, null],
            [7, "north"],
            [8, "south"]
        ])
    );
}
