//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root.
pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A folder under the shipped sample lake.
pub(crate) fn lake(table: &str) -> String {
    format!("{}/testdata/lake/{table}/", repo().display())
}

/// The result of running the binary.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn from(out: Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts success and returns stdout.
    pub(crate) fn ok(self) -> String {
        assert_eq!(
            self.code, 0,
            "sluice failed\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.stdout
    }

    /// Parses stdout as a JSON array of objects.
    pub(crate) fn json(self) -> Vec<serde_json::Value> {
        let out = self.ok();
        match serde_json::from_str(&out) {
            Ok(serde_json::Value::Array(rows)) => rows,
            other => panic!("not a JSON array: {other:?}\n{out}"),
        }
    }
}

/// A `sluice` command with a quiet, predictable environment.
pub(crate) fn sluice() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.env_remove("SLUICE_FORMAT")
        .env_remove("COLUMNS")
        .env("SLUICE_MEMORY_LIMIT", "1GiB")
        .stdin(Stdio::null());
    cmd
}

/// Runs `sluice ARGS...`.
pub(crate) fn run(args: &[&str]) -> Run {
    Run::from(sluice().args(args).output().expect("the sluice binary runs"))
}

/// Runs `sluice --catalog CATALOG ARGS...`.
pub(crate) fn with_catalog(catalog: &Path, args: &[&str]) -> Run {
    Run::from(
        sluice()
            .arg("--catalog")
            .arg(catalog)
            .args(args)
            .output()
            .expect("the sluice binary runs"),
    )
}

/// Runs `sluice ARGS...` with stdin.
pub(crate) fn run_with_stdin(args: &[&str], stdin: &str) -> Run {
    use std::io::Write;
    let mut child = sluice()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the sluice binary runs");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin.as_bytes())
        .expect("stdin accepts the SQL");
    Run::from(child.wait_with_output().expect("sluice finishes"))
}

/// True under CI, where a missing test service is a failure, not a skip.
pub(crate) fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// The Python with duckdb and pyarrow that `scripts/test.sh` prepared, or `None` (skip) locally.
pub(crate) fn python() -> Option<String> {
    match std::env::var("SLUICE_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                !in_ci(),
                "SLUICE_TEST_PYTHON is not set; run the tests through scripts/test.sh"
            );
            eprintln!("skipping: SLUICE_TEST_PYTHON is not set (scripts/test.sh sets it)");
            None
        }
    }
}

/// Runs a Python snippet (with `sys.argv[1:]` = `args`) and parses the JSON it prints.
pub(crate) fn python_json(python: &str, script: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python printed JSON")
}

/// Rows of a Hive-partitioned Parquet folder as read by DuckDB, sorted by `order_by`.
pub(crate) fn duckdb_rows(python: &str, dir: &Path, order_by: &str) -> serde_json::Value {
    let script = r#"
import duckdb, json, sys
con = duckdb.connect()
rel = con.sql(f"SELECT * FROM read_parquet('{sys.argv[1]}/**/*.parquet', hive_partitioning=true) ORDER BY {sys.argv[2]}")
cols = rel.columns
print(json.dumps([dict(zip(cols, r)) for r in rel.fetchall()], default=str))
"#;
    python_json(python, script, &[dir.to_str().expect("utf-8 path"), order_by])
}

/// Rows of a Delta table as DuckDB's delta extension (built on delta-kernel-rs) reads it, sorted by
/// `order_by`; `version` reads an older version.
pub(crate) fn delta_rows(python: &str, dir: &Path, order_by: &str) -> serde_json::Value {
    let script = format!(
        "{DUCKDB_WITH_DELTA}{}",
        r#"
rel = con.sql(f"SELECT * FROM delta_scan('{sys.argv[1]}') ORDER BY {sys.argv[2]}")
print(json.dumps([dict(zip(rel.columns, r)) for r in rel.fetchall()], default=str))
"#
    );
    python_json(python, &script, &[dir.to_str().expect("utf-8 path"), order_by])
}

/// Python that opens a DuckDB connection `con` with the delta extension loaded from its wheel
/// (DuckDB would otherwise download it); imports `json`, `os` and `sys`.
pub(crate) const DUCKDB_WITH_DELTA: &str = r#"
import duckdb, duckdb_extension_delta as ext, json, os, sys
con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
root = os.path.join(os.path.dirname(ext.__file__), "extensions")
con.execute("LOAD '%s'" % next(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".duckdb_extension")))
"#;

/// Rows of a Delta table as the `deltalake` package (delta-rs) reads it at `version` (latest when
/// `None`), sorted by `order_by`, with the table's version.
pub(crate) fn deltalake_rows(
    python: &str,
    dir: &Path,
    order_by: &str,
    version: Option<u64>,
) -> serde_json::Value {
    let script = r#"
import json, os, sys
from deltalake import DeltaTable
v = None if sys.argv[3] == "latest" else int(sys.argv[3])
t = DeltaTable(sys.argv[1], version=v)
rows = sorted(t.to_pyarrow_table().to_pylist(), key=lambda r: r[sys.argv[2]])
print(json.dumps({"version": t.version(), "rows": rows}, default=str), flush=True)
# deltalake's runtime threads abort the interpreter's normal exit; the answer is out already.
os._exit(0)
"#;
    let version = version.map_or("latest".to_string(), |v| v.to_string());
    python_json(
        python,
        script,
        &[dir.to_str().expect("utf-8 path"), order_by, &version],
    )
}

/// Rows of a Hive-partitioned Parquet folder as read by pyarrow, sorted by `order_by`.
pub(crate) fn pyarrow_rows(python: &str, dir: &Path, order_by: &str) -> serde_json::Value {
    let script = r#"
import pyarrow.dataset as ds, json, sys
t = ds.dataset(sys.argv[1], format="parquet", partitioning="hive").to_table()
rows = sorted(t.to_pylist(), key=lambda r: r[sys.argv[2]])
print(json.dumps(rows, default=str))
"#;
    python_json(python, script, &[dir.to_str().expect("utf-8 path"), order_by])
}

/// Copies a folder tree (used to stage lake data for a test).
pub(crate) fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// `sluice convert SRC DST --partition-by KEY -q`, asserting success.
pub(crate) fn convert_partitioned(src: &str, dst: &Path, key: &str) {
    run(&[
        "convert",
        src,
        dst.to_str().expect("utf-8 path"),
        "--partition-by",
        key,
        "-q",
    ])
    .ok();
}

/// The bucket of the S3-compatible server `scripts/test.sh` starts, and the folder it serves.
pub(crate) struct S3 {
    pub(crate) bucket: String,
    pub(crate) bucket_dir: PathBuf,
}

/// The test S3 server, or `None` (a failure under CI) when the tests run without one.
pub(crate) fn s3() -> Option<S3> {
    let bucket = std::env::var("SLUICE_TEST_S3_BUCKET").ok();
    let dir = std::env::var("SLUICE_TEST_S3_DIR").ok();
    match (bucket, dir, std::env::var("AWS_ENDPOINT_URL").ok()) {
        (Some(bucket), Some(dir), Some(_)) => Some(S3 {
            bucket_dir: Path::new(&dir).join(&bucket),
            bucket,
        }),
        _ => {
            assert!(
                !in_ci(),
                "no S3 test server configured; run the tests through scripts/test.sh"
            );
            eprintln!("skipping: no S3 test server (scripts/test.sh starts one)");
            None
        }
    }
}

/// A short unique prefix: s3s-fs keeps per-object metadata in files named after the whole key, so
/// long keys hit the file-name length limit of the test server (real S3 allows 1,024 bytes).
pub(crate) fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{name}{:x}", nanos ^ std::process::id())
}
