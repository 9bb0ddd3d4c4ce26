//! The same commands against the S3-compatible server `scripts/test.sh` starts on 127.0.0.1.
//!
//! The server (s3s-fs) serves a folder: a bucket is a sub-folder, so tests place input files on
//! disk and read sluice's S3 output back from disk with DuckDB.

use std::path::Path;

use crate::test_util::{copy_tree, duckdb_rows, lake, python, run, s3, sluice, unique};

/// Regular files below `dir` (the test server leaves empty folders behind after deletes).
fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|e| e.unwrap())
        .map(|e| {
            if e.file_type().unwrap().is_dir() {
                files_under(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[test]
fn same_query_same_answer_on_local_and_s3() {
    let Some(s3) = s3() else { return };
    let prefix = unique("raw");
    copy_tree(
        Path::new(&lake("orders")),
        &s3.bucket_dir.join(&prefix).join("orders"),
    );
    let query = |table: &str| {
        format!(
            "SELECT order_date, status, count(*) AS n, round(sum(amount), 2) AS total FROM '{table}' GROUP BY order_date, status ORDER BY order_date, status"
        )
    };
    let local = run(&["sql", "--format", "csv", &query(&lake("orders"))]).ok();
    let remote = run(&[
        "sql",
        "--format",
        "csv",
        &query(&format!("s3://{}/{prefix}/orders/", s3.bucket)),
    ])
    .ok();
    assert_eq!(local, remote);
    assert!(local.lines().count() > 3, "{local}");
}

#[test]
fn convert_to_s3_and_read_back() {
    let Some(s3) = s3() else { return };
    let prefix = unique("curated");
    let dst = format!("s3://{}/{prefix}/customers/", s3.bucket);
    let summary = run(&[
        "convert",
        &lake("customers"),
        &dst,
        "--partition-by",
        "region",
        "--format",
        "json",
    ])
    .json();
    assert_eq!(summary[0]["rows"], 8);
    let back = run(&[
        "sql",
        "--format",
        "csv",
        &format!("SELECT count(*) AS n, count(region) AS with_region FROM '{dst}'"),
    ])
    .ok();
    assert_eq!(back, "n,with_region\n8,7\n");
    let on_disk = s3.bucket_dir.join(&prefix).join("customers");
    assert!(
        on_disk.join("region=east%2Fwest").is_dir(),
        "Hive escaping survives the S3 key round trip"
    );
    assert!(on_disk.join("_SUCCESS").is_file());
    assert_eq!(files_under(&on_disk.join("_delta_log")), 1, "one Delta commit");
    assert_eq!(
        files_under(&on_disk.join("_sluice/runs")),
        0,
        "no run left in flight"
    );
    let Some(py) = python() else { return };
    let rows = duckdb_rows(&py, &on_disk, "id");
    assert_eq!(rows.as_array().unwrap().len(), 8);
    assert_eq!(rows[2]["region"], "east/west");
}

#[test]
fn s3_to_s3_convert() {
    let Some(s3) = s3() else { return };
    let prefix = unique("s2s");
    copy_tree(
        Path::new(&lake("orders")),
        &s3.bucket_dir.join(&prefix).join("orders"),
    );
    let src = format!("s3://{}/{prefix}/orders/", s3.bucket);
    let dst = format!("s3://{}/{prefix}/pq/", s3.bucket);
    run(&["convert", &src, &dst, "--partition-by", "order_date", "-q"]).ok();
    let n = run(&[
        "sql",
        "--format",
        "csv",
        &format!("SELECT count(*) AS n FROM '{dst}' WHERE order_date = DATE '2026-11-03'"),
    ])
    .ok();
    assert_eq!(n, "n\n20\n");
}

#[test]
fn missing_s3_prefix_exits_2() {
    let Some(s3) = s3() else { return };
    let r = run(&[
        "sql",
        &format!("SELECT * FROM 's3://{}/{}/'", s3.bucket, unique("absent")),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
}

#[test]
fn wrong_credentials_fail_without_printing_them() {
    let Some(s3) = s3() else { return };
    let secret = "wrong-secret-do-not-print-7f3a";
    let out = sluice()
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("SLUICE_S3_MAX_RETRIES", "0")
        .args(["-vv", "sql", &format!("SELECT * FROM 's3://{}/x/'", s3.bucket)])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains(secret), "the secret leaked: {stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(secret));
}
