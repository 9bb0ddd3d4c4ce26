//! Every sluice destination is a Delta Lake table: DuckDB's delta extension (delta-kernel-rs) and
//! the `deltalake` package (delta-rs) read what sluice wrote, and see each write whole or not at all.

use std::path::Path;
use std::process::Stdio;

use crate::test_util::{
    convert_partitioned, copy_tree, delta_rows, deltalake_rows, duckdb_rows, lake, python, python_json, run,
    s3, sluice, unique,
};

/// Values that need escaping in a folder name, a URI or both, plus NULL.
const AWKWARD: &str = "id,k\n1,a/b\n2,x=y\n3,50%\n4,10:30\n5,with space\n6,café\n7,\n";

fn ids_and_keys(rows: &serde_json::Value) -> Vec<(i64, Option<String>)> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_i64().unwrap(), r["k"].as_str().map(str::to_string)))
        .collect()
}

/// The input as DuckDB reads it, the reference every reader must match.
fn csv_rows(py: &str, csv: &Path) -> serde_json::Value {
    let script = r#"
import duckdb, json, sys
rel = duckdb.sql(f"SELECT id, k FROM read_csv('{sys.argv[1]}', header=true, all_varchar=false) ORDER BY id")
print(json.dumps([dict(zip(rel.columns, r)) for r in rel.fetchall()], default=str))
"#;
    python_json(py, script, &[csv.to_str().unwrap()])
}

fn check_awkward(py: &str, csv: &Path, on_disk: &Path) {
    let expected = ids_and_keys(&csv_rows(py, csv));
    assert_eq!(expected.len(), 7);
    assert_eq!(
        ids_and_keys(&delta_rows(py, on_disk, "id")),
        expected,
        "DuckDB delta_scan"
    );
    assert_eq!(
        ids_and_keys(&deltalake_rows(py, on_disk, "id", None)["rows"]),
        expected,
        "deltalake"
    );
}

#[test]
fn delta_readers_get_the_inputs_rows_with_awkward_partition_values() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, AWKWARD).unwrap();
    let dst = dir.path().join("out");
    run(&[
        "convert",
        csv.to_str().unwrap(),
        dst.to_str().unwrap(),
        "--partition-by",
        "k",
        "-q",
    ])
    .ok();
    assert!(dst.join("_delta_log/00000000000000000000.json").is_file());
    assert!(dst.join("k=a%2Fb").is_dir(), "Hive escaping on disk");
    check_awkward(&py, &csv, &dst);

    let Some(s3) = s3() else { return };
    let prefix = unique("dl");
    run(&[
        "convert",
        csv.to_str().unwrap(),
        &format!("s3://{}/{prefix}/out/", s3.bucket),
        "--partition-by",
        "k",
        "-q",
    ])
    .ok();
    check_awkward(&py, &csv, &s3.bucket_dir.join(&prefix).join("out"));
}

#[test]
fn an_overwrite_is_one_version_and_vacuum_clears_what_it_replaced_after_the_retention() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("t");
    let d = dst.to_str().unwrap();
    let first_day = format!("{}order_date=2026-11-01/", lake("orders"));
    run(&["convert", &first_day, d, "--partition-by", "status", "-q"]).ok();
    convert_partitioned(&lake("orders"), Path::new(d), "status");

    let latest = deltalake_rows(&py, &dst, "order_id", None);
    assert_eq!(latest["version"], 1);
    assert_eq!(latest["rows"].as_array().unwrap().len(), 60);
    let before = deltalake_rows(&py, &dst, "order_id", Some(0));
    assert_eq!(
        before["rows"].as_array().unwrap().len(),
        20,
        "version 0 is still readable"
    );
    assert_eq!(delta_rows(&py, &dst, "order_id").as_array().unwrap().len(), 60);

    let kept = run(&["vacuum", d, "--format", "csv"]).ok();
    assert_eq!(kept, "file\n", "within the retention nothing is deleted");
    let dry = run(&["vacuum", d, "--retain", "0s", "--dry-run", "--format", "csv"]).ok();
    assert!(dry.lines().count() > 1, "the replaced files are listed: {dry}");
    let deleted = run(&["vacuum", d, "--retain", "0s", "--format", "csv"]).ok();
    assert_eq!(dry, deleted);
    assert_eq!(
        duckdb_rows(&py, &dst, "order_id").as_array().unwrap().len(),
        60,
        "after vacuum a folder reader sees only live files"
    );
    assert_eq!(delta_rows(&py, &dst, "order_id").as_array().unwrap().len(), 60);
}

#[test]
fn an_older_sluice_log_is_converted_on_the_next_write_and_nothing_is_lost() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("t");
    let d = dst.to_str().unwrap();
    convert_partitioned(&lake("orders"), Path::new(d), "order_date");
    // Turn the output into what an older sluice left: its own log instead of `_delta_log`, plus
    // the file of a write that never committed.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dst.join("_SUCCESS")).unwrap()).unwrap();
    std::fs::remove_dir_all(dst.join("_delta_log")).unwrap();
    let record = serde_json::json!({
        "version": 1, "run_id": manifest["run_id"], "committed_at": "2026-11-20T02:00:00Z",
        "mode": "overwrite", "added": manifest["files"], "removed": [],
        "partition_by": ["order_date"], "schema": [], "writer": "sluice 0.1.0"
    });
    std::fs::create_dir_all(dst.join("_sluice/log")).unwrap();
    std::fs::write(
        dst.join("_sluice/log/00000000000000000001.json"),
        record.to_string(),
    )
    .unwrap();
    let first = manifest["files"][0]["path"].as_str().unwrap();
    let killed = dst.join(first.replace(manifest["run_id"].as_str().unwrap(), "20261120T020000Z-deadbeef"));
    std::fs::copy(dst.join(first), &killed).unwrap();
    assert_eq!(
        run(&[
            "sql",
            "--format",
            "csv",
            &format!("SELECT count(*) AS n FROM '{d}'")
        ])
        .ok(),
        "n\n60\n",
        "sluice reads the older log"
    );

    run(&[
        "convert",
        &lake("orders"),
        d,
        "--partition-by",
        "order_date",
        "--mode",
        "append",
        "-q",
    ])
    .ok();
    assert_eq!(delta_rows(&py, &dst, "order_id").as_array().unwrap().len(), 120);
    assert!(
        !dst.join("_sluice/log/00000000000000000001.json").exists(),
        "the older log is gone once Delta holds its files"
    );
    assert!(!killed.exists(), "the uncommitted file was not carried over");
}

#[test]
fn other_writers_parquet_files_stay_when_a_folder_becomes_a_delta_table() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("t");
    std::fs::create_dir_all(&dst).unwrap();
    let script = r#"
import pyarrow as pa, pyarrow.parquet as pq, sys, json
pq.write_table(pa.table({"id": [100, 101], "region": ["north", "south"]}), sys.argv[1] + "/from-spark.parquet")
print(json.dumps(True))
"#;
    python_json(&py, script, &[dst.to_str().unwrap()]);
    run(&[
        "convert",
        &lake("customers"),
        dst.to_str().unwrap(),
        "--mode",
        "append",
        "-q",
    ])
    .ok();
    let ids: Vec<i64> = delta_rows(&py, &dst, "id")
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert!(ids.contains(&100) && ids.contains(&101), "{ids:?}");
    assert_eq!(ids.len(), 10);
}

#[test]
fn two_writers_racing_on_one_destination_both_land() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("t");
    let d = dst.to_str().unwrap();
    let day = |n: u32| format!("{}order_date=2026-11-0{n}/", lake("orders"));
    run(&["convert", &day(1), d, "-q"]).ok();
    for round in 0..3 {
        let writers: Vec<_> = (1..=3)
            .map(|n| {
                sluice()
                    .args(["convert", &day(n), d, "--mode", "append", "-q"])
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut w in writers {
            assert!(
                w.wait().unwrap().success(),
                "round {round}: every racing append commits"
            );
        }
    }
    let rows = delta_rows(&py, &dst, "order_id");
    assert_eq!(
        rows.as_array().unwrap().len(),
        20 + 3 * 60,
        "nothing lost, nothing doubled"
    );
    let latest = deltalake_rows(&py, &dst, "order_id", None);
    assert_eq!(latest["version"], 9, "one version per write");
}

#[test]
fn a_folder_copied_with_its_log_reads_the_same_elsewhere() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("t");
    convert_partitioned(&lake("orders"), &dst, "order_date");
    let moved = dir.path().join("moved");
    copy_tree(&dst, &moved);
    assert_eq!(
        delta_rows(&py, &moved, "order_id").as_array().unwrap().len(),
        60,
        "paths in the log are relative"
    );
}

#[test]
fn sql_output_to_a_folder_is_a_delta_commit() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = format!("{}/report/", dir.path().display());
    let query = format!(
        "SELECT order_id, amount FROM '{}' WHERE amount > 100",
        lake("orders")
    );
    let r = run(&["sql", &query, "--output", &out]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("Delta version 0"), "{}", r.stderr);
    let expected = run(&[
        "sql",
        "--format",
        "csv",
        &format!(
            "SELECT count(*) AS n FROM '{}' WHERE amount > 100",
            lake("orders")
        ),
    ])
    .ok();
    let n = delta_rows(&py, &dir.path().join("report"), "order_id")
        .as_array()
        .unwrap()
        .len();
    assert_eq!(expected, format!("n\n{n}\n"));
}

#[test]
fn a_crawled_delta_table_shows_its_versions_and_registers_as_delta() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("lake").join("t");
    let d = dst.to_str().unwrap();
    let catalog = dir.path().join("c.db");
    convert_partitioned(&lake("orders"), Path::new(d), "status");
    run(&[
        "convert",
        &lake("orders"),
        d,
        "--partition-by",
        "status",
        "--mode",
        "append",
        "-q",
    ])
    .ok();
    convert_partitioned(&lake("orders"), Path::new(d), "status");
    let lake_dir = dir.path().join("lake");
    crate::test_util::with_catalog(
        &catalog,
        &["crawl", lake_dir.to_str().unwrap(), "--database", "d", "-q"],
    )
    .ok();
    let tables = crate::test_util::with_catalog(&catalog, &["tables", "--format", "json"]).json();
    assert_eq!(tables[0]["format"], "delta");
    assert_eq!(tables[0]["rows"], 60, "only the latest version's files");
    let history =
        crate::test_util::with_catalog(&catalog, &["table", "history", "d.t", "--format", "json"]).json();
    let versions: Vec<(u64, &str, u64, u64)> = history
        .iter()
        .map(|v| {
            let n = |k: &str| v[k].as_str().unwrap().parse::<u64>().unwrap();
            (
                v["version"].as_u64().unwrap(),
                v["operation"].as_str().unwrap(),
                n("rows_added"),
                n("rows_removed"),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [(2, "WRITE", 60, 120), (1, "WRITE", 60, 0), (0, "WRITE", 60, 0)]
    );
    assert!(
        history
            .iter()
            .all(|v| v["run_id"].as_str().is_some_and(|r| !r.is_empty()))
    );
    let athena =
        crate::test_util::with_catalog(&catalog, &["table", "ddl", "d.t", "--dialect", "athena"]).ok();
    assert!(athena.contains("'table_type' = 'DELTA'"), "{athena}");
}

#[test]
fn a_jobs_commit_records_the_job_and_its_quality_results() {
    let dir = tempfile::tempdir().unwrap();
    let root = crate::test_util::repo();
    let out = dir.path().join("out");
    let job = root.join("jobs/examples/daily_revenue.toml");
    crate::test_util::with_catalog(
        &dir.path().join("c.db"),
        &[
            "run",
            job.to_str().unwrap(),
            "-q",
            "--param",
            &format!("lake={}", root.join("testdata/lake").display()),
            "--param",
            &format!("dims={}", root.join("testdata/dims").display()),
            "--param",
            &format!("out={}", out.display()),
        ],
    )
    .ok();
    let log =
        std::fs::read_to_string(out.join("daily_revenue/_delta_log/00000000000000000000.json")).unwrap();
    let info: serde_json::Value = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find_map(|a| a.get("commitInfo").cloned())
        .expect("a commitInfo action");
    assert_eq!(info["sluiceJob"], "daily_revenue");
    assert_eq!(info["sluiceMode"], "overwrite-partitions");
    let rules = info["sluiceQuality"].as_array().expect("the quality results");
    assert!(!rules.is_empty(), "{info}");
    assert!(info["sluiceRunId"].as_str().is_some_and(|r| !r.is_empty()));
}

#[test]
fn csv_timestamps_become_delta_timestamps_and_types_delta_lacks_are_refused_first() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("in.csv");
    std::fs::write(
        &csv,
        "id,at,n\n1,2026-11-01 10:00:00,1\n2,2026-11-02 11:30:00,2\n",
    )
    .unwrap();
    let dst = dir.path().join("t");
    let query = format!(
        "SELECT id, at, CAST(n AS INT UNSIGNED) AS n FROM '{}'",
        csv.display()
    );
    run(&["sql", &query, "--output", &format!("{}/", dst.display())]).ok();
    let rows = delta_rows(&py, &dst, "id");
    assert_eq!(rows[0]["at"], "2026-11-01 10:00:00", "{rows}");
    assert_eq!(rows[1]["n"], 2);

    // A table without such a timestamp gains one by an append: the protocol is raised with it.
    let plain = dir.path().join("plain");
    let no_ts = format!("SELECT id FROM '{}'", csv.display());
    run(&["sql", &no_ts, "--output", &format!("{}/", plain.display())]).ok();
    let with_ts = format!("COPY ({query}) TO '{}/' STORED AS PARQUET", plain.display());
    run(&["sql", "-q", &with_ts]).ok();
    let log = std::fs::read_to_string(plain.join("_delta_log/00000000000000000001.json")).unwrap();
    assert!(log.contains("\"readerFeatures\":[\"timestampNtz\"]"), "{log}");
    let rows = delta_rows(&py, &plain, "id");
    assert_eq!(rows.as_array().unwrap().len(), 4, "{rows}");
    assert_eq!(
        deltalake_rows(&py, &plain, "id", None)["rows"]
            .as_array()
            .unwrap()
            .len(),
        4
    );

    let bad = dir.path().join("bad");
    let r = run(&[
        "sql",
        "SELECT INTERVAL '1 day' AS i",
        "--output",
        &format!("{}/", bad.display()),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("Delta Lake cannot store"), "{}", r.stderr);
    assert!(
        !r.stderr.contains("backtrace") && r.stderr.lines().count() < 5,
        "{}",
        r.stderr
    );
    assert!(!bad.exists(), "nothing was written");
}

#[test]
fn a_declared_table_over_a_delta_folder_reads_only_the_latest_version() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("t");
    convert_partitioned(&lake("orders"), &dst, "order_date");
    convert_partitioned(&lake("orders"), &dst, "order_date");
    for stored_as in ["PARQUET", "DELTA"] {
        let sql = format!(
            "CREATE EXTERNAL TABLE t STORED AS {stored_as} LOCATION '{}/'; SELECT count(*) AS n FROM t;",
            dst.display()
        );
        let out = run(&["sql", "--format", "csv", &sql]).ok();
        assert_eq!(out, "n\n60\n", "{stored_as}: the replaced files are not read");
    }
    let plain = dir.path().join("plain");
    std::fs::create_dir_all(&plain).unwrap();
    let r = run(&[
        "sql",
        &format!(
            "CREATE EXTERNAL TABLE p STORED AS DELTA LOCATION '{}/'",
            plain.display()
        ),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("_delta_log"), "{}", r.stderr);
}

#[test]
fn copy_with_options_commits_a_delta_table_through_sluices_writer() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, AWKWARD).unwrap();
    let dst = dir.path().join("out");
    // The way users declare tables and copy with options, DataFusion's spelling throughout.
    let script = format!(
        "CREATE EXTERNAL TABLE t (id BIGINT, k VARCHAR) STORED AS CSV LOCATION '{csv}' OPTIONS ('format.has_header' 'true');
         COPY (SELECT * FROM t) TO '{out}/' STORED AS PARQUET PARTITIONED BY (k)
           OPTIONS ('format.compression' 'zstd(9)', 'format.max_row_group_size' '1000');",
        csv = csv.display(),
        out = dst.display()
    );
    run(&["sql", "-q", &script]).ok();
    assert!(dst.join("_delta_log/00000000000000000000.json").is_file());
    assert!(dst.join("k=a%2Fb").is_dir(), "Hive escaping on disk");
    check_awkward(&py, &csv, &dst);

    let unknown = run(&[
        "sql",
        &format!(
            "COPY (SELECT 1 AS x) TO '{}/' STORED AS PARQUET OPTIONS ('format.bloom_filter_on_write' 'true')",
            dir.path().join("other").display()
        ),
    ]);
    assert_eq!(unknown.code, 2, "{}", unknown.stderr);
    assert!(
        unknown.stderr.contains("does not take this option"),
        "an option sluice cannot honour is refused, not dropped: {}",
        unknown.stderr
    );
}

#[test]
fn file_stats_of_timestamps_and_decimals_never_hide_a_row_from_a_delta_reader() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("t");
    let query = "SELECT * FROM (VALUES
        (1, TIMESTAMP '2026-11-01 10:00:00.000001', CAST(12.30 AS DECIMAL(15,2))),
        (2, TIMESTAMP '2026-11-01 10:00:00.999999', CAST(100.05 AS DECIMAL(15,2)))) AS t(id, ts, p)";
    run(&["sql", query, "--output", &format!("{}/", dst.display())]).ok();
    let log = std::fs::read_to_string(dst.join("_delta_log/00000000000000000000.json")).unwrap();
    assert!(
        log.contains(r#"\"ts\":\"2026-11-01T10:00:01.000\""#),
        "the maximum rounds up to the millisecond: {log}"
    );
    assert!(log.contains(r#"\"p\":100.05"#), "{log}");
    // DuckDB's delta extension skips files by these stats: each filter must still find its row.
    let script = format!(
        "{}{}",
        crate::test_util::DUCKDB_WITH_DELTA,
        r#"
t = f"delta_scan('{sys.argv[1]}')"
filters = ["ts = TIMESTAMP '2026-11-01 10:00:00.999999'", "ts <= TIMESTAMP '2026-11-01 10:00:00.000001'",
           "p = 100.05", "p <= 12.30"]
print(json.dumps([con.sql(f"SELECT count(*) FROM {t} WHERE {f}").fetchone()[0] for f in filters]))
"#
    );
    let counts = python_json(&py, &script, &[dst.to_str().unwrap()]);
    assert_eq!(counts, serde_json::json!([1, 1, 1, 1]));
}

/// Appends version 1 to a one-file table sluice wrote: `lines` are its actions.
fn hand_written_version(dst: &Path, lines: &[serde_json::Value]) {
    let body: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    std::fs::write(dst.join("_delta_log/00000000000000000001.json"), body.join("\n")).unwrap();
}

#[test]
fn deletion_vectors_and_column_mapping_are_refused_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, "id,k\n1,a\n2,b\n").unwrap();
    let write = |name: &str| {
        let dst = dir.path().join(name);
        run(&["convert", csv.to_str().unwrap(), dst.to_str().unwrap(), "-q"]).ok();
        let file = std::fs::read_dir(&dst)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .find(|n| n.ends_with(".parquet"))
            .unwrap();
        (dst, file)
    };
    // A deletion vector hides one row of the file, as Databricks writes after a DELETE.
    let (dv, file) = write("dv");
    hand_written_version(
        &dv,
        &[
            serde_json::json!({"protocol": {"minReaderVersion": 3, "minWriterVersion": 7,
                "readerFeatures": ["deletionVectors"], "writerFeatures": ["deletionVectors"]}}),
            serde_json::json!({"remove": {"path": file, "deletionTimestamp": 1, "dataChange": true}}),
            serde_json::json!({"add": {"path": file, "partitionValues": {}, "size": 700,
                "modificationTime": 1, "dataChange": true, "deletionVector": {"storageType": "i",
                "pathOrInlineDv": "wi5b=000010000siXQKl0rr91000f55c8Xg0@@D72lkbi5=-{L",
                "offset": 1, "sizeInBytes": 36, "cardinality": 1}}}),
        ],
    );
    // Column mapping: the files' columns have physical names the schema maps.
    let (cm, _) = write("cm");
    let first = std::fs::read_to_string(cm.join("_delta_log/00000000000000000000.json")).unwrap();
    let mut metadata = first
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find_map(|a| a.get("metaData").cloned())
        .unwrap();
    let mut schema: serde_json::Value =
        serde_json::from_str(metadata["schemaString"].as_str().unwrap()).unwrap();
    for (i, field) in schema["fields"].as_array_mut().unwrap().iter_mut().enumerate() {
        field["metadata"] = serde_json::json!({"delta.columnMapping.id": i + 1,
            "delta.columnMapping.physicalName": format!("col-{i}")});
    }
    metadata["schemaString"] = schema.to_string().into();
    metadata["configuration"] =
        serde_json::json!({"delta.columnMapping.mode": "name", "delta.columnMapping.maxColumnId": "2"});
    hand_written_version(
        &cm,
        &[
            serde_json::json!({"protocol": {"minReaderVersion": 2, "minWriterVersion": 5}}),
            serde_json::json!({ "metaData": metadata }),
        ],
    );
    for (dst, why) in [(&dv, "deletion vectors"), (&cm, "column mapping (`name`)")] {
        for args in [
            vec!["sql".to_string(), format!("SELECT * FROM '{}/'", dst.display())],
            vec![
                "convert".to_string(),
                csv.display().to_string(),
                dst.display().to_string(),
                "--mode".into(),
                "append".into(),
            ],
        ] {
            let out = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
            assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
            assert!(
                out.stderr.contains("cannot be used as a Delta table"),
                "{args:?}: {}",
                out.stderr
            );
            assert!(out.stderr.contains(why), "{args:?}: {}", out.stderr);
        }
    }
}

#[test]
fn tables_the_deltalake_package_wrote_read_with_their_partition_values() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("foreign");
    let script = r#"
import json, os, sys
import pyarrow as pa
from deltalake import write_deltalake
rows = pa.table({"id": pa.array([1, 2, 3, 4, 5, 6, 7], pa.int64()),
                 "k": pa.array(["a/b", "x=y", "50%", "10:30", "with space", "café", None]),
                 "day": pa.array([1, 1, 2, 2, 3, 3, 3], pa.int32())})
write_deltalake(sys.argv[1], rows, partition_by=["k", "day"])
write_deltalake(sys.argv[1], rows.slice(0, 2), partition_by=["k", "day"], mode="overwrite",
                predicate="day = 1")
print(json.dumps(None))
os._exit(0)
"#;
    python_json(&py, script, &[dst.to_str().unwrap()]);
    let expected = deltalake_rows(&py, &dst, "id", None);
    let got = run(&[
        "sql",
        "--format",
        "json",
        &format!("SELECT id, k, day FROM '{}/' ORDER BY id", dst.display()),
    ])
    .json();
    // sluice's JSON leaves NULL columns out of a row.
    let mut expected = expected["rows"].clone();
    for row in expected.as_array_mut().unwrap() {
        row.as_object_mut().unwrap().retain(|_, v| !v.is_null());
    }
    assert_eq!(
        serde_json::Value::Array(got),
        expected,
        "sluice reads what delta-rs wrote"
    );
    let typed = run(&[
        "sql",
        "--format",
        "csv",
        &format!("SELECT arrow_typeof(day) AS t FROM '{}/' LIMIT 1", dst.display()),
    ])
    .ok();
    assert_eq!(typed, "t\nInt32\n", "the partition column has the log's type");
}
