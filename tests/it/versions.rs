//! Delta versions as users meet them: time travel in SQL, merge (upsert) by key, and catalog tables
//! that follow their log. Every result is checked against DuckDB's delta extension and the
//! `deltalake` package reading the same folder.

use std::path::Path;

use crate::test_util::{delta_rows, deltalake_rows, lake, python, python_json, run, with_catalog};

/// `sluice sql QUERY --format json` as rows.
fn query(catalog: &Path, sql: &str) -> Vec<serde_json::Value> {
    with_catalog(catalog, &["sql", sql, "--format", "json"]).json()
}

fn ids(rows: &[serde_json::Value], column: &str) -> Vec<i64> {
    rows.iter().map(|r| r[column].as_i64().unwrap()).collect()
}

fn ids_of(value: &serde_json::Value, column: &str) -> Vec<i64> {
    ids(value.as_array().unwrap(), column)
}

/// Three versions of the orders: day one, plus day two, then everything replaced by day three.
fn three_versions(dst: &Path) {
    let d = dst.to_str().unwrap();
    let day = |n: u32| format!("{}order_date=2026-11-0{n}/", lake("orders"));
    run(&["convert", &day(1), d, "--partition-by", "status", "-q"]).ok();
    run(&["convert", &day(2), d, "--mode", "append", "-q"]).ok();
    run(&["convert", &day(3), d, "--mode", "overwrite", "-q"]).ok();
}

#[test]
fn time_travel_reads_each_version_as_the_delta_readers_do() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("orders");
    three_versions(&dst);
    let catalog = dir.path().join("c.db");
    with_catalog(
        &catalog,
        &["crawl", dst.to_str().unwrap(), "--database", "lake", "-q"],
    )
    .ok();

    for version in 0..3u64 {
        let expected = ids_of(
            &deltalake_rows(&py, &dst, "order_id", Some(version))["rows"],
            "order_id",
        );
        let by_path = query(
            &catalog,
            &format!(
                "SELECT order_id FROM '{}/' VERSION AS OF {version} ORDER BY order_id",
                dst.display()
            ),
        );
        assert_eq!(
            ids(&by_path, "order_id"),
            expected,
            "quoted path, version {version}"
        );
        // A catalog table, the clause in lower case, the table's name still qualifying its columns.
        let by_name = query(
            &catalog,
            &format!(
                "select orders.order_id from lake.orders version as of {version} order by orders.order_id"
            ),
        );
        assert_eq!(
            ids(&by_name, "order_id"),
            expected,
            "catalog table, version {version}"
        );
    }
    // Two versions of one table side by side: what the overwrite replaced.
    let gone = query(
        &catalog,
        "SELECT count(*) AS n FROM lake.orders VERSION AS OF 1 AS old \
         LEFT JOIN lake.orders AS new ON old.order_id = new.order_id WHERE new.order_id IS NULL",
    );
    assert_eq!(
        gone[0]["n"], 40,
        "days one and two are gone from the latest version"
    );
    let latest = delta_rows(&py, &dst, "order_id");
    assert_eq!(
        ids(
            &query(&catalog, "SELECT order_id FROM lake.orders ORDER BY order_id"),
            "order_id"
        ),
        ids_of(&latest, "order_id")
    );

    // TIMESTAMP AS OF the second commit's time reads the second version.
    let history = with_catalog(&catalog, &["table", "history", "lake.orders", "--format", "json"]).json();
    let second = history.iter().find(|v| v["version"] == 1).unwrap();
    let at = second["committed_at"].as_str().unwrap();
    let rows = query(
        &catalog,
        &format!("SELECT count(*) AS n FROM lake.orders TIMESTAMP AS OF '{at}'"),
    );
    assert_eq!(rows[0]["n"], 40);
    assert_eq!(second["mode"], "append");
}

#[test]
fn time_travel_to_what_does_not_exist_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("orders");
    three_versions(&dst);
    let catalog = dir.path().join("c.db");
    with_catalog(
        &catalog,
        &["crawl", &lake("customers"), "--database", "raw", "-q"],
    )
    .ok();
    let cases = [
        (
            format!("SELECT * FROM '{}/' VERSION AS OF 9", dst.display()),
            "has no version 9",
        ),
        (
            format!("SELECT * FROM '{}/' TIMESTAMP AS OF '2001-01-01'", dst.display()),
            "oldest readable version",
        ),
        (
            "SELECT * FROM raw.customers VERSION AS OF 0".to_string(),
            "`raw.customers` is not a Delta table",
        ),
        (
            format!("SELECT * FROM '{}/' TIMESTAMP AS OF 'yesterday'", dst.display()),
            "`yesterday` is not a timestamp",
        ),
    ];
    for (sql, message) in cases {
        let out = with_catalog(&catalog, &["sql", &sql]);
        assert_eq!(out.code, 2, "{sql}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{sql}: {}", out.stderr);
    }
}

/// The rows a merge should leave, as DuckDB computes them from the CSV files.
fn merged_reference(py: &str, base: &Path, updates: &Path) -> Vec<(i64, String, i64)> {
    let script = r#"
import duckdb, json, sys
rel = duckdb.sql(f"""
  SELECT id, k, v FROM read_csv('{sys.argv[2]}')
  UNION ALL
  SELECT id, k, v FROM read_csv('{sys.argv[1]}') WHERE id NOT IN (SELECT id FROM read_csv('{sys.argv[2]}'))
  ORDER BY id""")
print(json.dumps([dict(zip(rel.columns, r)) for r in rel.fetchall()]))
"#;
    let rows = python_json(py, script, &[base.to_str().unwrap(), updates.to_str().unwrap()]);
    triples(&rows)
}

fn triples(rows: &serde_json::Value) -> Vec<(i64, String, i64)> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_i64().unwrap(),
                r["k"].as_str().unwrap().to_string(),
                r["v"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn merge_upserts_by_key_in_one_version_rewriting_only_matching_files() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.csv");
    let updates = dir.path().join("updates.csv");
    std::fs::write(&base, "id,k,v\n1,a,10\n2,a,20\n3,b,30\n4,c,40\n5,e,50\n").unwrap();
    // 2 and 3 change, 3 moves from partition b to c, 6 and 7 are new.
    std::fs::write(&updates, "id,k,v\n2,a,21\n3,c,31\n6,c,60\n7,d,70\n").unwrap();
    let dst = dir.path().join("t");
    let d = dst.to_str().unwrap();
    run(&["convert", base.to_str().unwrap(), d, "--partition-by", "k", "-q"]).ok();
    let untouched = std::fs::read_dir(dst.join("k=e")).unwrap().count();

    let report = run(&[
        "convert",
        updates.to_str().unwrap(),
        d,
        "--mode",
        "merge",
        "--merge-keys",
        "id",
        "--format",
        "json",
    ])
    .json();
    assert_eq!(
        report[0]["replaced_files"], 2,
        "the files holding keys 2 and 3: {report:?}"
    );

    let expected = merged_reference(&py, &base, &updates);
    assert_eq!(expected.len(), 7);
    assert_eq!(
        triples(&delta_rows(&py, &dst, "id")),
        expected,
        "DuckDB delta_scan"
    );
    let latest = deltalake_rows(&py, &dst, "id", None);
    assert_eq!(triples(&latest["rows"]), expected, "deltalake");
    assert_eq!(latest["version"], 1, "one merge is one version");
    assert_eq!(
        std::fs::read_dir(dst.join("k=e")).unwrap().count(),
        untouched,
        "a partition without a matching key is not rewritten"
    );
    let log = std::fs::read_to_string(dst.join("_delta_log/00000000000000000001.json")).unwrap();
    let info: serde_json::Value = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find_map(|a| a.get("commitInfo").cloned())
        .unwrap();
    assert_eq!(info["sluiceMode"], "merge");
    assert_eq!(info["sluiceRowsUpdated"], 2);
    assert_eq!(info["sluiceRowsInserted"], 2);

    // Merging the same rows again changes nothing but the version.
    run(&[
        "convert",
        updates.to_str().unwrap(),
        d,
        "--mode",
        "merge",
        "--merge-keys",
        "id",
        "-q",
    ])
    .ok();
    assert_eq!(triples(&delta_rows(&py, &dst, "id")), expected);
}

#[test]
fn a_merge_refuses_ambiguous_or_unkeyed_input() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.csv");
    std::fs::write(&base, "id,k,v\n1,a,10\n").unwrap();
    let dup = dir.path().join("dup.csv");
    std::fs::write(&dup, "id,k,v\n1,a,11\n1,a,12\n").unwrap();
    let dst = dir.path().join("t");
    let d = dst.to_str().unwrap();
    run(&["convert", base.to_str().unwrap(), d, "-q"]).ok();
    let cases: [(&[&str], &str); 4] = [
        (&["--mode", "merge", "--merge-keys", "id"], "hold id=1 2 times"),
        (&["--mode", "merge"], "mode merge needs the key columns"),
        (
            &["--mode", "merge", "--merge-keys", "nope"],
            "column `nope` is not in the output",
        ),
        (
            &["--mode", "append", "--merge-keys", "id"],
            "--merge-keys is for --mode merge",
        ),
    ];
    for (args, message) in cases {
        let mut all = vec!["convert", dup.to_str().unwrap(), d];
        all.extend_from_slice(args);
        let out = run(&all);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(message), "{args:?}: {}", out.stderr);
    }
    let v0_only = std::fs::read_dir(dst.join("_delta_log"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".json")
        })
        .count();
    assert_eq!(v0_only, 1, "no refused merge committed");
}

#[test]
fn a_job_sink_merges_and_a_step_reads_an_older_version() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.csv");
    let updates = dir.path().join("updates.csv");
    std::fs::write(&base, "id,k,v\n1,a,10\n2,b,20\n").unwrap();
    std::fs::write(&updates, "id,k,v\n2,b,22\n3,b,30\n").unwrap();
    let dst = dir.path().join("t");
    run(&[
        "convert",
        base.to_str().unwrap(),
        dst.to_str().unwrap(),
        "--partition-by",
        "k",
        "-q",
    ])
    .ok();
    let job = dir.path().join("upsert.toml");
    std::fs::write(
        &job,
        format!(
            r#"
name = "upsert"

[sources.updates]
path = "{updates}"

[[steps]]
name = "changed"
sql = "SELECT u.* FROM updates u LEFT JOIN '{dst}/' VERSION AS OF 0 AS old ON u.id = old.id WHERE old.v IS DISTINCT FROM u.v"

[[sinks]]
from = "changed"
path = "{dst}/"
mode = "merge"
merge_keys = ["id"]
table = "lake.t"
"#,
            updates = updates.display(),
            dst = dst.display()
        ),
    )
    .unwrap();
    let catalog = dir.path().join("c.db");
    with_catalog(&catalog, &["run", job.to_str().unwrap(), "-q"]).ok();
    let expected = merged_reference(&py, &base, &updates);
    assert_eq!(triples(&delta_rows(&py, &dst, "id")), expected);
    assert_eq!(triples(&deltalake_rows(&py, &dst, "id", None)["rows"]), expected);

    // A sink with merge_keys but another mode is a bad job file, before anything runs.
    let text = std::fs::read_to_string(&job)
        .unwrap()
        .replace("mode = \"merge\"", "mode = \"append\"");
    std::fs::write(&job, text).unwrap();
    let out = with_catalog(&catalog, &["run", job.to_str().unwrap(), "-q"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("merge_keys"), "{}", out.stderr);
}

#[test]
fn catalog_delta_tables_follow_their_log_and_keep_their_partitioning() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("orders");
    let d = dst.to_str().unwrap();
    let day = |n: u32| format!("{}order_date=2026-11-0{n}/", lake("orders"));
    run(&["convert", &day(1), d, "--partition-by", "status", "-q"]).ok();
    let catalog = dir.path().join("c.db");
    with_catalog(&catalog, &["crawl", d, "--database", "lake", "-q"]).ok();

    // An append that names no partition columns writes into the table's own partitions.
    run(&["convert", &day(2), d, "--mode", "append", "-q"]).ok();
    for entry in std::fs::read_dir(&dst).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !name.ends_with(".parquet"),
            "a file outside the partitions: {name}"
        );
    }
    // Without a new crawl the catalog table reads the new version.
    let counted = query(&catalog, "SELECT count(*) AS n FROM lake.orders");
    assert_eq!(counted[0]["n"], 40);
    assert_eq!(delta_rows(&py, &dst, "order_id").as_array().unwrap().len(), 40);

    let other = run(&[
        "convert",
        &day(3),
        d,
        "--mode",
        "append",
        "--partition-by",
        "customer_id",
    ]);
    assert_eq!(other.code, 2, "{}", other.stderr);
    assert!(
        other.stderr.contains("is partitioned by [status]"),
        "{}",
        other.stderr
    );
}

/// The files of the latest version, as the `deltalake` package lists them.
fn live_files(py: &str, dir: &Path) -> Vec<String> {
    let script = r#"
import json, os, sys
from deltalake import DeltaTable
print(json.dumps(sorted(DeltaTable(sys.argv[1]).file_uris())))
os._exit(0)
"#;
    let files = python_json(py, script, &[dir.to_str().unwrap()]);
    files
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn optimize_compacts_small_files_without_changing_a_row() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("orders");
    let d = dst.to_str().unwrap();
    for n in 1..=3 {
        let day = format!("{}order_date=2026-11-0{n}/", lake("orders"));
        run(&[
            "convert",
            &day,
            d,
            "--partition-by",
            "status",
            "--mode",
            "append",
            "-q",
        ])
        .ok();
    }
    let before = delta_rows(&py, &dst, "order_id");
    let files_before = live_files(&py, &dst);
    let pending = |files: &[String]| files.iter().filter(|f| f.contains("status=pending")).count();
    assert_eq!(pending(&files_before), 3);

    // Only the partitions --where keeps.
    let first = run(&["optimize", d, "--where", "status = 'pending'", "--format", "json"]).json();
    assert_eq!(first[0]["partitions"], 1, "{first:?}");
    assert_eq!(first[0]["files_removed"], 3);
    assert_eq!(first[0]["files_added"], 1);
    let files = live_files(&py, &dst);
    assert_eq!(pending(&files), 1);
    assert_eq!(files.len(), files_before.len() - 2);

    let rest = run(&["optimize", d, "--format", "json"]).json();
    assert_eq!(rest[0]["files_removed"], 6, "{rest:?}");
    assert_eq!(live_files(&py, &dst).len(), 3, "one file per partition");
    assert_eq!(delta_rows(&py, &dst, "order_id"), before, "DuckDB delta_scan");
    let latest = deltalake_rows(&py, &dst, "order_id", None);
    assert_eq!(latest["rows"], before, "deltalake");
    assert_eq!(latest["version"], 4);
    let log = std::fs::read_to_string(dst.join("_delta_log/00000000000000000004.json")).unwrap();
    assert!(log.contains("\"operation\":\"OPTIMIZE\""), "{log}");
    assert!(
        !log.contains("\"dataChange\":true"),
        "a compaction changes no data: {log}"
    );

    let again = run(&["optimize", d, "--format", "json"]).json();
    assert_eq!(again[0]["files_removed"], 0, "nothing left to compact");
    assert!(again[0]["version"].is_null());

    // Readers of older versions keep their files until vacuum; afterwards only live files remain.
    assert_eq!(
        deltalake_rows(&py, &dst, "order_id", Some(2))["rows"],
        before,
        "the version before the compaction still reads"
    );
    run(&["vacuum", d, "--retain", "0s", "-q"]).ok();
    let on_disk = walk_parquet(&dst);
    assert_eq!(on_disk.len(), 3, "{on_disk:?}");
    assert_eq!(delta_rows(&py, &dst, "order_id"), before);

    let bad = run(&["optimize", d, "--where", "amount > 3"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("only partition columns (status)"),
        "{}",
        bad.stderr
    );
    let not_delta = run(&["optimize", &lake("orders")]);
    assert_eq!(not_delta.code, 2, "{}", not_delta.stderr);
    assert!(
        not_delta.stderr.contains("is not a Delta table"),
        "{}",
        not_delta.stderr
    );
}

fn walk_parquet(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk_parquet(&path));
        } else if path.extension().is_some_and(|e| e == "parquet") {
            out.push(path.display().to_string());
        }
    }
    out
}
