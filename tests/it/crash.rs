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

    let typo = run(&["vacuum", &format!("{dst}-typo/")]);
    assert_eq!(typo.code, 2, "a destination that does not exist: {}", typo.stderr);
    assert!(typo.stderr.contains("does not exist"), "{}", typo.stderr);
}

/// A row count through DuckDB: of the Delta table (`delta_scan`) or of every Parquet file in the
/// folder (what a reader that lists sees).
fn duckdb_count(py: &str, dir: &Path, delta: bool) -> i64 {
    let script = format!(
        "{}{}",
        crate::test_util::DUCKDB_WITH_DELTA,
        r#"
src = f"delta_scan('{sys.argv[1]}')" if sys.argv[2] == "delta" else f"read_parquet('{sys.argv[1]}/**/*.parquet')"
print(json.dumps(con.sql(f"SELECT count(*) FROM {src}").fetchone()[0]))
"#
    );
    let mode = if delta { "delta" } else { "files" };
    crate::test_util::python_json(py, &script, &[dir.to_str().unwrap(), mode])
        .as_i64()
        .unwrap()
}

/// Kills an overwrite at random moments of its run: every Delta reader sees the old table or the
/// new one, never a mix; the rerun converges and vacuum leaves only the live files.
fn killed_at_random_moments(dst: &str, on_disk: &Path, py: &str, kills: usize) {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.csv");
    let mut text = String::from("id,k,v\n");
    let rows: i64 = 200_000;
    for i in 0..rows {
        text.push_str(&format!("{i},k{},{}\n", i % 16, i * 7 % 1000));
    }
    std::fs::write(&big, text).unwrap();
    let small = dir.path().join("small.csv");
    std::fs::write(&small, "id,k,v\n1,k1,1\n2,k2,2\n3,k3,3\n").unwrap();
    let write = |src: &Path| {
        let mut cmd = sluice();
        cmd.args([
            "convert",
            src.to_str().unwrap(),
            dst,
            "--partition-by",
            "k",
            "--mode",
            "overwrite",
            "-q",
        ]);
        cmd.args(["--target-file-size", "64KiB"])
            .stdout(std::process::Stdio::null());
        cmd
    };
    let started = std::time::Instant::now();
    assert!(write(&big).status().unwrap().success());
    let full = started.elapsed().as_millis() as u64;
    // SLUICE_TEST_SEED replays the kill moments of a failure.
    let seed = std::env::var("SLUICE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut seen_old = 0;
    for kill in 0..kills {
        assert!(write(&small).status().unwrap().success());
        let delay = rng.u64(0..=full + full / 4);
        let mut child = write(&big).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        let context = format!("kill {kill} after {delay} ms of a {full} ms write (seed {seed})");
        let n = duckdb_count(py, on_disk, true);
        assert!(n == 3 || n == rows, "{context}: a Delta reader saw {n} rows");
        assert_eq!(count(dst), format!("n\n{n}\n"), "{context}: sluice agrees");
        seen_old += usize::from(n == 3);
        assert!(write(&big).status().unwrap().success(), "{context}: the rerun");
        assert_eq!(
            duckdb_count(py, on_disk, true),
            rows,
            "{context}: the rerun converges"
        );
        run(&["vacuum", dst, "--retain", "0s", "-q"]).ok();
        assert_eq!(
            duckdb_count(py, on_disk, false),
            rows,
            "{context}: after vacuum only live files are left"
        );
    }
    eprintln!("random kills: {seen_old} of {kills} left the old table (seed {seed}, write {full} ms)");
}

#[test]
fn writes_killed_at_random_moments_leave_old_or_new_local() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let dst = dir.path().join("t");
    killed_at_random_moments(dst.to_str().unwrap(), &dst, &py, 6);
}

#[test]
fn writes_killed_at_random_moments_leave_old_or_new_s3() {
    let (Some(py), Some(s3)) = (python(), crate::test_util::s3()) else {
        return;
    };
    let prefix = crate::test_util::unique("rnd");
    let on_disk = s3.bucket_dir.join(&prefix);
    killed_at_random_moments(&format!("s3://{}/{prefix}/", s3.bucket), &on_disk, &py, 6);
}
