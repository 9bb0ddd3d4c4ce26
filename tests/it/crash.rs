//! Kill a write at every phase and check what sluice and an external reader (DuckDB) see, before
//! and after the next run. The writer aborts itself at the point `SLUICE_FAULT_POINT` names.

use std::path::{Path, PathBuf};

use crate::test_util::{delta_rows, duckdb_rows, lake, python, run, sluice};

/// Points in the order a write passes them, and whether the new data is committed there.
const POINTS: [(&str, bool); 7] = [
    ("after-marker", false),
    ("mid-data", false),
    ("after-data", false),
    ("before-commit", false),
    ("after-commit", true),
    ("after-delete", true),
    ("after-success", true),
];

fn count(dst: &str) -> String {
    run(&[
        "sql",
        "--format",
        "csv",
        &format!("SELECT count(*) AS n FROM '{dst}'"),
    ])
    .ok()
}

/// `dst` is what sluice writes to; `on_disk` the same folder as a local path for DuckDB.
fn crash_and_recover(dst: &str, on_disk: &Path) {
    let first_day = format!("{}order_date=2026-11-01/", lake("orders"));
    for (point, committed) in POINTS {
        run(&["convert", &first_day, dst, "--partition-by", "status", "-q"]).ok();
        assert_eq!(count(dst), "n\n20\n", "{point}: the previous state");

        let killed = sluice()
            .env("SLUICE_FAULT_POINT", point)
            .args(["convert", &lake("orders"), dst, "--partition-by", "status", "-q"])
            .output()
            .unwrap();
        assert!(!killed.status.success(), "{point}: the writer should have died");
        let expected = if committed { "n\n60\n" } else { "n\n20\n" };
        assert_eq!(
            count(dst),
            expected,
            "{point}: sluice sees all of the run or none of it"
        );
        let py = python();
        if let Some(py) = &py {
            let seen = delta_rows(py, on_disk, "order_id").as_array().unwrap().len();
            assert_eq!(
                seen,
                if committed { 60 } else { 20 },
                "{point}: a Delta reader sees old or new"
            );
        }

        run(&["convert", &lake("orders"), dst, "--partition-by", "status", "-q"]).ok();
        assert_eq!(count(dst), "n\n60\n", "{point}: a rerun converges");
        run(&["vacuum", dst, "--retain", "0s", "-q"]).ok();
        if let Some(py) = &py {
            let rows = delta_rows(py, on_disk, "order_id");
            assert_eq!(
                rows.as_array().unwrap().len(),
                60,
                "{point}: the Delta reader after the rerun"
            );
            let listed = duckdb_rows(py, on_disk, "order_id");
            assert_eq!(
                listed.as_array().unwrap().len(),
                60,
                "{point}: after vacuum only live files are left"
            );
        }
    }
}

#[test]
fn killed_writes_never_show_half_a_run_local() {
    let dir = tempfile::tempdir().unwrap();
    let dst: PathBuf = dir.path().join("t");
    crash_and_recover(dst.to_str().unwrap(), &dst);
}

#[test]
fn killed_writes_never_show_half_a_run_s3() {
    let (Ok(bucket), Ok(root)) = (
        std::env::var("SLUICE_TEST_S3_BUCKET"),
        std::env::var("SLUICE_TEST_S3_DIR"),
    ) else {
        assert!(
            !crate::test_util::in_ci(),
            "no S3 test server configured; run scripts/test.sh"
        );
        return;
    };
    let prefix = format!("crash{:x}", std::process::id());
    let on_disk = Path::new(&root).join(&bucket).join(&prefix);
    crash_and_recover(&format!("s3://{bucket}/{prefix}/"), &on_disk);
}

#[test]
fn vacuum_removes_what_a_killed_write_left() {
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("v");
    let dst = dst.to_str().unwrap();
    run(&["convert", &lake("customers"), dst, "-q"]).ok();
    let killed = sluice()
        .env("SLUICE_FAULT_POINT", "after-data")
        .args(["convert", &lake("customers"), dst, "--mode", "append", "-q"])
        .output()
        .unwrap();
    assert!(!killed.status.success());
    let listed = run(&["vacuum", dst, "--dry-run", "--format", "csv"]).ok();
    assert!(
        listed.lines().count() > 1,
        "the killed run's files are listed: {listed}"
    );
    let removed = run(&["vacuum", dst, "--format", "csv"]).ok();
    assert_eq!(listed, removed);
    assert_eq!(
        run(&["vacuum", dst, "--format", "csv"]).ok(),
        "file\n",
        "nothing left to remove"
    );
    assert_eq!(count(dst), "n\n8\n");
}
