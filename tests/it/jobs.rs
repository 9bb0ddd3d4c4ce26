//! `sluice run`, `runs` and `bookmark` on the shipped sample jobs, with DuckDB recomputing the
//! results from the raw files, and a fault-injecting proxy in front of the S3 test server.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::faults::FaultProxy;
use crate::test_util::{Run, copy_tree, in_ci, python, python_json, repo, sluice, with_catalog};

fn example(name: &str) -> String {
    format!("{}/jobs/examples/{name}.toml", repo().display())
}

/// A copy of the sample lake under `root`: orders of the first `days` days, customers as plain
/// NDJSON (DuckDB cannot read the bzip2 file), and the regions dimension.
fn stage_lake(root: &Path, python: Option<&str>, days: usize) -> (PathBuf, PathBuf) {
    let lake = root.join("lake");
    let dims = root.join("dims");
    copy_tree(&repo().join("testdata/dims"), &dims);
    copy_tree(&repo().join("testdata/lake/customers"), &lake.join("customers"));
    for day in ["2026-11-01", "2026-11-02", "2026-11-03"].iter().take(days) {
        add_day(&lake, day);
    }
    if let Some(python) = python {
        let bz = lake.join("customers/part-1.ndjson.bz2");
        python_json(
            python,
            "import bz2, sys, json\nopen(sys.argv[1][:-4], 'wb').write(bz2.open(sys.argv[1]).read())\nprint(json.dumps(1))",
            &[bz.to_str().unwrap()],
        );
        std::fs::remove_file(bz).unwrap();
    }
    (lake, dims)
}

fn add_day(lake: &Path, day: &str) {
    let dir = format!("order_date={day}");
    copy_tree(
        &repo().join("testdata/lake/orders").join(&dir),
        &lake.join("orders").join(&dir),
    );
}

/// A staged copy of the sample lake with an output folder and a catalog path.
struct Fixture {
    dir: tempfile::TempDir,
    lake: PathBuf,
    dims: PathBuf,
    out: PathBuf,
    catalog: PathBuf,
}

impl Fixture {
    fn new(python: Option<&str>, days: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (lake, dims) = stage_lake(dir.path(), python, days);
        Self {
            out: dir.path().join("out"),
            catalog: dir.path().join("c.db"),
            lake,
            dims,
            dir,
        }
    }

    /// `--param` values for the sample job.
    fn params(&self) -> [(&str, &Path); 3] {
        [("lake", &self.lake), ("dims", &self.dims), ("out", &self.out)]
    }
}

fn run_job(catalog: &Path, job: &str, params: &[(&str, &Path)], extra: &[&str]) -> Run {
    let mut cmd = sluice();
    cmd.arg("--catalog")
        .arg(catalog)
        .args(["run", job, "--format", "json", "-q"]);
    for (k, v) in params {
        cmd.arg("--param").arg(format!("{k}={}", v.display()));
    }
    cmd.args(extra);
    Run::from(cmd.output().unwrap())
}

/// Each line of a `--log-format json` stderr, parsed.
fn json_lines(stderr: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn record(run: Run) -> serde_json::Value {
    let out = run.ok();
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not a run record ({e}): {out}"))
}

fn source<'a>(record: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    record["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no source {name} in {record}"))
}

/// Every file below `dir` with its bytes, for "nothing changed" checks.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.map(|e| e.unwrap()) {
            if e.file_type().unwrap().is_dir() {
                walk(base, &e.path(), out);
            } else {
                let rel = e.path().strip_prefix(base).unwrap().display().to_string();
                out.push((rel, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Revenue per day and region as sluice wrote it and as DuckDB computes it from the raw files; both
/// sorted, amounts rounded to cents.
const RECOMPUTE: &str = r#"
import duckdb, json, sys
lake, dims, out = sys.argv[1:4]
con = duckdb.connect()
raw = con.sql(f"""
  WITH o AS (SELECT * FROM read_csv('{lake}/orders/*/*.csv*', hive_partitioning=true)),
       c AS (SELECT * FROM read_json('{lake}/customers/*.ndjson')),
       r AS (SELECT * FROM read_csv('{dims}/regions/regions.csv'))
  SELECT CAST(o.order_date AS VARCHAR) AS d, coalesce(c.region, 'unknown') AS region,
         coalesce(r.region_name, 'Unknown') AS region_name, count(*) AS orders, round(sum(o.amount), 2) AS revenue
  FROM o LEFT JOIN c ON o.customer_id = c.id LEFT JOIN r ON c.region = r.region
  WHERE o.status <> 'cancelled' GROUP BY ALL ORDER BY ALL""").fetchall()
got = con.sql(f"""
  SELECT CAST(order_date AS VARCHAR) AS d, region, region_name, orders, round(revenue, 2)
  FROM read_parquet('{out}/daily_revenue/**/*.parquet', hive_partitioning=true) ORDER BY ALL""").fetchall()
facts = con.sql(f"SELECT count(*), count(DISTINCT order_id) FROM read_parquet('{out}/orders_enriched/**/*.parquet')").fetchall()[0]
raw_facts = con.sql(f"SELECT count(*) FROM read_csv('{lake}/orders/*/*.csv*') WHERE status <> 'cancelled'").fetchall()[0]
print(json.dumps({"raw": [list(r) for r in raw], "got": [list(r) for r in got],
                  "facts": list(facts), "raw_facts": raw_facts[0]}))
"#;

#[test]
fn the_sample_job_is_idempotent_incremental_and_matches_duckdb() {
    let Some(py) = python() else { return };
    let fx = Fixture::new(Some(&py), 2);
    let (lake, dims, out, catalog) = (&fx.lake, &fx.dims, &fx.out, &fx.catalog);
    let params = fx.params();
    let job = example("daily_revenue");

    let first = record(run_job(catalog, &job, &params, &[]));
    assert_eq!(first["status"], "succeeded");
    assert_eq!(source(&first, "orders")["files_read"], 2);
    assert_eq!(source(&first, "orders")["rows_read"], 40);
    assert_eq!(source(&first, "regions")["rows_read"], 5);
    let after_first = snapshot(out);

    // Nothing new: the bookmark skips every order file and the output stays byte for byte.
    let second = record(run_job(catalog, &job, &params, &[]));
    assert_eq!(source(&second, "orders")["files_read"], 0);
    assert_eq!(source(&second, "orders")["files_total"], 2);
    assert_eq!(second["rows_written"], 0);
    let data = |s: &[(String, Vec<u8>)]| -> Vec<(String, Vec<u8>)> {
        s.iter()
            .filter(|(p, _)| p.ends_with(".parquet"))
            .cloned()
            .collect()
    };
    assert_eq!(
        data(&snapshot(out)),
        data(&after_first),
        "a rerun changed the output"
    );

    // A new day arrives: only its file is read, and the result equals a full recomputation.
    add_day(lake, "2026-11-03");
    let third = record(run_job(catalog, &job, &params, &[]));
    assert_eq!(source(&third, "orders")["files_read"], 1);
    assert_eq!(
        third["sinks"][1]["partitions"],
        serde_json::json!(["order_date=2026-11-03"])
    );
    let check = python_json(
        &py,
        RECOMPUTE,
        &[
            lake.to_str().unwrap(),
            dims.to_str().unwrap(),
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(
        check["got"], check["raw"],
        "sluice's revenue differs from DuckDB's recomputation"
    );
    assert!(check["raw"].as_array().unwrap().len() >= 3, "{check}");
    assert_eq!(check["facts"][0], check["raw_facts"], "{check}");
    assert_eq!(check["facts"][0], check["facts"][1], "an order was written twice");

    // The catalog has the table, the runs and the bookmark.
    let runs = with_catalog(catalog, &["runs", "daily_revenue", "--format", "json"]);
    let runs: Vec<serde_json::Value> = serde_json::from_str(&runs.ok()).unwrap();
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|r| r["status"] == "succeeded"));
    let bookmark = with_catalog(catalog, &["bookmark", "show", &job, "--format", "json"]).json();
    assert_eq!(bookmark[0]["files"], 3);
    let sql = with_catalog(
        catalog,
        &[
            "sql",
            "--format",
            "json",
            "SELECT count(DISTINCT order_date) AS days FROM curated.daily_revenue",
        ],
    )
    .json();
    assert_eq!(sql[0]["days"], 3);

    // Rewinding to the first run forgets the file the third run read.
    let first_id = first["run_id"].as_str().unwrap();
    let rewound = with_catalog(
        catalog,
        &[
            "bookmark",
            "rewind",
            "daily_revenue",
            "--to-run",
            first_id,
            "--format",
            "json",
        ],
    )
    .json();
    assert_eq!(rewound[0]["files_forgotten"], 1);
}

#[test]
fn a_failing_quality_rule_exits_1_and_leaves_output_catalog_and_bookmark_alone() {
    let fx = Fixture::new(None, 2);
    let (dir, lake, out, catalog) = (fx.dir.path(), &fx.lake, &fx.out, &fx.catalog);
    let params = fx.params();
    record(run_job(catalog, &example("daily_revenue"), &params, &[]));
    let before = snapshot(out);

    // The same job with one more rule that cannot hold, on a new day of input.
    let strict = dir.join("strict.toml");
    let text = std::fs::read_to_string(example("daily_revenue")).unwrap()
        + "\n[[quality]]\nstep = \"revenue\"\nrule = \"row_count > 1000000\"\n";
    std::fs::write(&strict, text).unwrap();
    add_day(lake, "2026-11-03");
    let failed = run_job(catalog, strict.to_str().unwrap(), &params, &[]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(failed.stderr.contains("row_count > 1000000"), "{}", failed.stderr);
    let rec: serde_json::Value = serde_json::from_str(&failed.stdout).unwrap();
    assert_eq!(rec["status"], "failed");
    assert_eq!(
        rec["attempts"].as_array().unwrap().len(),
        1,
        "a failed rule is not retried"
    );
    let data = |s: Vec<(String, Vec<u8>)>| -> Vec<(String, Vec<u8>)> {
        s.into_iter()
            .filter(|(p, _)| !p.contains("_sluice/runs"))
            .collect()
    };
    assert_eq!(
        data(snapshot(out)),
        data(before),
        "the failed run left files behind"
    );

    // The bookmark did not advance: the normal job still sees the new day.
    let again = record(run_job(catalog, &example("daily_revenue"), &params, &[]));
    assert_eq!(source(&again, "orders")["files_read"], 1);
    let table = with_catalog(
        catalog,
        &["table", "partitions", "curated.daily_revenue", "--format", "json"],
    )
    .json();
    assert_eq!(table.len(), 3);
}

#[test]
fn dry_run_plans_without_writing_anything() {
    let fx = Fixture::new(None, 3);
    let (out, catalog) = (&fx.out, &fx.catalog);
    let params = fx.params();
    let run = run_job(catalog, &example("daily_revenue"), &params, &["--dry-run"]);
    let plan: serde_json::Value = serde_json::from_str(&run.ok()).unwrap();
    assert_eq!(
        plan["sinks"][1]["partitions"],
        serde_json::json!([
            "order_date=2026-11-01",
            "order_date=2026-11-02",
            "order_date=2026-11-03"
        ])
    );
    let orders = plan["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "orders")
        .unwrap();
    assert_eq!(orders["files"].as_array().unwrap().len(), 3);
    assert_eq!(plan["steps"][2]["name"], "revenue");
    assert!(!out.exists(), "a dry run wrote output");
    assert!(!catalog.exists(), "a dry run created the catalog");
}

/// The folders `--dry-run` lists are the ones the run writes, for keys whose text the writer
/// shapes: timestamps (Spark's `YYYY-MM-DD HH:MM:SS`), empty strings and NULL (the default
/// partition), and characters that need escaping.
#[test]
fn dry_run_partition_folders_are_the_ones_the_run_writes() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(
        src.join("a.csv"),
        "id,at,tag\n1,2026-11-01T10:30:00,a/b\n2,2026-11-01T10:30:00.250,\n3,,x:y\n",
    )
    .unwrap();
    let job = dir.path().join("job.toml");
    let text = format!(
        r#"name = "folders"
[sources.raw]
path = "{src}/"
[[steps]]
name = "typed"
sql = "SELECT id, CAST(at AS TIMESTAMP) AS at, tag FROM raw"
[[sinks]]
from = "typed"
path = "{out}/"
partition_by = ["at", "tag"]
"#,
        src = src.display(),
        out = dir.path().join("out").display()
    );
    std::fs::write(&job, text).unwrap();
    let catalog = dir.path().join("c.db");
    let plan: serde_json::Value =
        serde_json::from_str(&run_job(&catalog, job.to_str().unwrap(), &[], &["--dry-run"]).ok()).unwrap();
    let planned = plan["sinks"][0]["partitions"].clone();
    let rec = record(run_job(&catalog, job.to_str().unwrap(), &[], &[]));
    let written: Vec<String> = rec["sinks"][0]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let p = p.as_str().unwrap();
            p.strip_prefix(&format!("{}/", dir.path().join("out").display()))
                .unwrap_or(p)
                .to_string()
        })
        .collect();
    assert_eq!(planned, serde_json::json!(written), "dry run vs run: {rec}");
    assert!(
        written
            .iter()
            .any(|p| p.starts_with("at=2026-11-01 10%3A30%3A00/")),
        "{written:?}"
    );
}

#[test]
fn bad_job_files_exit_2_naming_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("c.db");
    let base = std::fs::read_to_string(example("daily_revenue")).unwrap();
    let cases = [
        (base.replace("partition_by =", "partiton_by ="), "partiton_by"),
        (
            base.replace("rust = \"dedupe\"", "rust = \"dedup\""),
            "no transform named `dedup`",
        ),
        (
            base.replace("mode = \"append\"", "mode = \"upsert\""),
            "`mode = \"upsert\"`",
        ),
        (base.replace("FROM orders o", "FROM revenue o"), "cycle"),
        (
            base.replace("bookmark = true", "exclude = [\"[a\"]"),
            "[sources.orders] `exclude`: `[a` is not a valid pattern",
        ),
        (
            base.replace("path = \"${lake}/customers/\"", "table = \"customers\""),
            "[sources.customers] `table`: `customers` is not a valid name",
        ),
        (
            base.replace("${out}/daily", "${outt}/daily"),
            "unknown param `${outt}`",
        ),
        // Quality rules are read with the file, before any input is.
        (
            base.replace("rule = \"revenue >= 0\"", "rule = \"row_count > 1O\""),
            "quality rule `row_count > 1O` cannot be read: `1o` is not a whole number",
        ),
        (
            base.replace("rule = \"revenue >= 0\"", "rule = \"revenue >>= 0\""),
            "quality rule `revenue >>= 0` cannot be read: not valid SQL",
        ),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&file, text).unwrap();
        let r = run_job(&catalog, file.to_str().unwrap(), &[], &[]);
        assert_eq!(r.code, 2, "case {i}: {}", r.stderr);
        assert!(r.stderr.contains(expected), "case {i}: {}", r.stderr);
        assert!(r.stderr.contains("line "), "case {i} names no line: {}", r.stderr);
    }
}

/// A bad job file is refused before any input is opened: every source of the job is a named pipe
/// (opening one to read blocks until a writer comes, so a run that opened one would hang) and the
/// catalog is never created.
#[test]
fn a_bad_job_file_is_refused_before_any_input_is_opened() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("c.db");
    for folder in ["orders", "customers", "regions"] {
        let folder = dir.path().join(folder);
        std::fs::create_dir(&folder).unwrap();
        let pipe = folder.join("part-0.csv");
        let made = Command::new("mkfifo").arg(&pipe).status().unwrap();
        assert!(made.success(), "mkfifo failed");
    }
    let base = std::fs::read_to_string(example("daily_revenue"))
        .unwrap()
        .replace("${lake}/", &format!("{}/", dir.path().display()))
        .replace("${dims}/", &format!("{}/", dir.path().display()));
    let cases = [
        (
            base.replace("rule = \"unique(order_id)\"", "rule = \"row_count > 1O\""),
            "line 70, column 8",
        ),
        (
            base.replace("mode = \"append\"", "mode = \"apend\""),
            "line 58, column 8",
        ),
        (base.replace("${out}/daily", "${outt}/daily"), "line 63, column 8"),
    ];
    for (i, (text, at)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&file, text).unwrap();
        let mut child = sluice()
            .arg("--catalog")
            .arg(&catalog)
            .args(["run", file.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > Duration::from_secs(20) {
                child.kill().unwrap();
                panic!("case {i}: still running after 20 s: it opened an input");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let r = Run::from(child.wait_with_output().unwrap());
        assert_eq!(r.code, 2, "case {i}: {}", r.stderr);
        assert!(r.stderr.contains(at), "case {i}: not at {at}: {}", r.stderr);
    }
    assert!(!catalog.exists(), "a refused job file opened the catalog");
}

#[test]
fn a_second_run_is_refused_while_the_first_holds_the_lock_and_a_dead_holder_is_replaced() {
    let fx = Fixture::new(None, 1);
    let (out, catalog_path) = (&fx.out, &fx.catalog);
    let params = fx.params();
    let catalog = sluice_catalog::Catalog::open(catalog_path).unwrap();
    // This test process is alive: as far as sluice can tell, a run is in progress.
    catalog.acquire_job_lock("daily_revenue", "held-by-test").unwrap();
    let refused = run_job(catalog_path, &example("daily_revenue"), &params, &[]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("already running (run held-by-test"),
        "{}",
        refused.stderr
    );
    assert!(!out.exists());

    // The holder dies (its pid is now a finished process): the next run takes the lock over.
    let mut dead = std::process::Command::new("true").spawn().unwrap();
    let dead_pid = dead.id();
    dead.wait().unwrap();
    let conn = rusqlite::Connection::open(catalog_path).unwrap();
    conn.execute(
        "UPDATE job_locks SET pid = ?1 WHERE job = 'daily_revenue'",
        [dead_pid],
    )
    .unwrap();
    let taken = record(run_job(catalog_path, &example("daily_revenue"), &params, &[]));
    assert_eq!(taken["status"], "succeeded");
    assert_eq!(taken["recovered"], "held-by-test");
    assert!(
        catalog.job_lock("daily_revenue").unwrap().is_none(),
        "the lock is released"
    );
}

#[test]
fn a_timed_out_run_commits_nothing() {
    let fx = Fixture::new(None, 3);
    let (dir, out, catalog) = (fx.dir.path(), &fx.out, &fx.catalog);
    let job = dir.join("slow.toml");
    let text = std::fs::read_to_string(example("daily_revenue"))
        .unwrap()
        .replace("timeout = \"30m\"", "timeout = \"1us\"");
    std::fs::write(&job, text).unwrap();
    let params = fx.params();
    let r = run_job(catalog, job.to_str().unwrap(), &params, &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let rec: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(rec["status"], "timeout");
    let parquet = snapshot(out)
        .into_iter()
        .filter(|(p, _)| p.ends_with(".parquet"))
        .count();
    assert_eq!(parquet, 0);
}

#[test]
fn the_scd2_example_keeps_history() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    copy_tree(&repo().join("testdata/lake/customers"), &lake.join("customers"));
    let out = dir.path().join("out");
    let catalog = dir.path().join("c.db");
    let params = [("lake", lake.as_path()), ("out", out.as_path())];
    let job = example("customer_dim");
    let day = |d: &str| ["--param".to_string(), format!("run_date={d}")];
    let d1 = day("2026-11-20");
    record(run_job(&catalog, &job, &params, &[&d1[0], &d1[1]]));
    let part0 = lake.join("customers/part-0.ndjson");
    let text = std::fs::read_to_string(&part0).unwrap().replace(
        "\"Ada Lovelace\", \"region\": \"north\"",
        "\"Ada Lovelace\", \"region\": \"west\"",
    );
    std::fs::write(&part0, text).unwrap();
    let d2 = day("2026-11-21");
    let second = record(run_job(&catalog, &job, &params, &[&d2[0], &d2[1]]));
    assert_eq!(second["rows_written"], 9);
    let rows = Run::from(
        sluice()
            .args([
                "sql",
                "--format",
                "json",
                &format!(
                    "SELECT region, CAST(valid_from AS VARCHAR) AS f, CAST(valid_to AS VARCHAR) AS t, is_current FROM '{}/customer_dim/' WHERE id = 1 ORDER BY valid_from",
                    out.display()
                ),
            ])
            .output()
            .unwrap(),
    )
    .json();
    assert_eq!(
        serde_json::Value::Array(rows),
        serde_json::json!([
            {"region": "north", "f": "2026-11-20", "t": "2026-11-21", "is_current": false},
            {"region": "west", "f": "2026-11-21", "is_current": true}
        ])
    );
}

#[test]
fn transient_store_failures_are_retried_with_backoff() {
    let (Ok(endpoint), Ok(bucket), Ok(s3dir)) = (
        std::env::var("AWS_ENDPOINT_URL"),
        std::env::var("SLUICE_TEST_S3_BUCKET"),
        std::env::var("SLUICE_TEST_S3_DIR"),
    ) else {
        assert!(
            !in_ci(),
            "no S3 test server; run the tests through scripts/test.sh"
        );
        eprintln!("skipping: no S3 test server (scripts/test.sh starts one)");
        return;
    };
    let prefix = format!("retry{:x}", std::process::id());
    let lake_dir = Path::new(&s3dir).join(&bucket).join(&prefix);
    copy_tree(&repo().join("testdata/lake/orders"), &lake_dir.join("orders"));
    copy_tree(
        &repo().join("testdata/lake/customers"),
        &lake_dir.join("customers"),
    );
    let dir = tempfile::tempdir().unwrap();
    // The first two listings fail (the job's first request of each attempt lists a source).
    let fails = Arc::new(AtomicUsize::new(0));
    let proxy = FaultProxy::start(&endpoint, move |line: &str, _| {
        line.contains("list-type=2")
            && fails
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < 2).then_some(n + 1))
                .is_ok()
    });
    let job = dir.path().join("retry.toml");
    let text = std::fs::read_to_string(example("daily_revenue"))
        .unwrap()
        .replace(
            "[retry]\nmax_attempts = 3\ninterval = \"10s\"\nbackoff = 1.5",
            "[retry]\nmax_attempts = 4\ninterval = \"1s\"\nbackoff = 1.5\njitter = false",
        );
    assert!(text.contains("jitter = false"));
    std::fs::write(&job, text).unwrap();
    let lake = format!("s3://{bucket}/{prefix}");
    let out = dir.path().join("out");
    let run = Run::from(
        sluice()
            .env("AWS_ENDPOINT_URL", &proxy.addr)
            .env("SLUICE_S3_MAX_RETRIES", "0")
            .arg("--catalog")
            .arg(dir.path().join("c.db"))
            .args(["run", job.to_str().unwrap(), "--format", "json", "-q"])
            .args(["--param", &format!("lake={lake}")])
            .args(["--param", &format!("dims={}/testdata/dims", repo().display())])
            .args(["--param", &format!("out={}", out.display())])
            .output()
            .unwrap(),
    );
    let rec = record(run);
    assert_eq!(proxy.failed(), 2);
    let attempts = rec["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3, "{rec}");
    assert!(attempts[0]["transient"].as_bool().unwrap());
    assert!(attempts[0]["error"].as_str().unwrap().contains("503"), "{rec}");
    let waits: Vec<f64> = attempts
        .iter()
        .map(|a| a["nominal_wait_seconds"].as_f64().unwrap())
        .collect();
    assert_eq!(waits, vec![0.0, 1.0, 1.5]);
    let waited: Vec<f64> = attempts
        .iter()
        .map(|a| a["waited_seconds"].as_f64().unwrap())
        .collect();
    assert_eq!(waited, waits, "jitter is off");
    assert_eq!(rec["status"], "succeeded");
    assert_eq!(source(&rec, "orders")["files_read"], 3);
    assert_eq!(rec["sinks"][0]["rows"], 48);
}

#[test]
fn a_custom_binary_runs_its_own_transform() {
    // `cargo test` builds the examples next to the test binaries' `sluice`.
    let bin = Path::new(env!("CARGO_BIN_EXE_sluice"))
        .with_file_name("examples")
        .join("custom_transform");
    if !bin.exists() {
        assert!(!in_ci(), "{} was not built", bin.display());
        eprintln!("skipping: {} was not built", bin.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("margin.toml");
    let out = dir.path().join("out");
    std::fs::write(
        &job,
        format!(
            r#"
name = "margin"
[sources.orders]
path = "{lake}"
[[steps]]
name = "priced"
rust = "add_margin"
args = {{ input = "orders", column = "amount", rate = 0.5 }}
[[sinks]]
from = "priced"
path = "{out}"
[[quality]]
step = "priced"
rule = "margin * 2 = amount"
"#,
            lake = crate::test_util::lake("orders"),
            out = out.display()
        ),
    )
    .unwrap();
    let catalog = dir.path().join("c.db");
    let custom = Run::from(
        std::process::Command::new(&bin)
            .arg("--catalog")
            .arg(&catalog)
            .args(["run", job.to_str().unwrap(), "--format", "json", "-q"])
            .output()
            .unwrap(),
    );
    let rec = record(custom);
    assert_eq!(rec["sinks"][0]["rows"], 60);
    assert!(rec["quality"][0]["passed"].as_bool().unwrap());
    // The stock binary does not know the transform: an invalid job file, and no run is recorded.
    let stock = run_job(&catalog, job.to_str().unwrap(), &[], &[]);
    assert_eq!(stock.code, 2, "{}", stock.stderr);
    assert!(
        stock.stderr.contains("no transform named `add_margin`"),
        "{}",
        stock.stderr
    );
    assert!(stock.stdout.is_empty(), "{}", stock.stdout);
}

#[test]
fn a_run_left_running_by_a_dead_process_is_settled_by_the_next_run() {
    let fx = Fixture::new(None, 1);
    let catalog = sluice_catalog::Catalog::open(&fx.catalog).unwrap();
    // A run whose process died after writing its record but released no lock (none is held).
    let dead_record = serde_json::json!({
        "run_id": "dead-run", "job": "daily_revenue", "job_file": "x.toml", "params": {},
        "status": "running", "started_at": "2026-11-21T00:00:00Z", "ended_at": null, "seconds": 0.0,
        "attempts": [], "sources": [], "sinks": [], "quality": [], "rows_written": 0,
        "bytes_read": 0, "bytes_written": 0, "error": null
    });
    catalog
        .save_run(&sluice_catalog::RunRow {
            run_id: "dead-run".into(),
            job: "daily_revenue".into(),
            status: "running".into(),
            started_at: "2026-11-21T00:00:00Z".into(),
            ended_at: None,
            record: dead_record,
        })
        .unwrap();
    record(run_job(&fx.catalog, &example("daily_revenue"), &fx.params(), &[]));
    let dead = catalog.run("dead-run").unwrap().unwrap();
    assert_eq!(dead.status, "failed");
    assert!(
        dead.record["error"]
            .as_str()
            .unwrap()
            .contains("died before committing"),
        "{}",
        dead.record
    );
}

#[test]
fn a_run_without_new_input_into_an_empty_destination_succeeds() {
    let fx = Fixture::new(None, 1);
    record(run_job(&fx.catalog, &example("daily_revenue"), &fx.params(), &[]));
    // Same bookmark, but a new output folder: nothing new to read, nothing to write, still a success.
    let elsewhere = fx.dir.path().join("elsewhere");
    let params = [
        ("lake", fx.lake.as_path()),
        ("dims", fx.dims.as_path()),
        ("out", elsewhere.as_path()),
    ];
    let rec = record(run_job(&fx.catalog, &example("daily_revenue"), &params, &[]));
    assert_eq!(rec["status"], "succeeded");
    assert_eq!(rec["rows_written"], 0);
    // The empty write is still a Delta version with the table's columns: the catalog table follows
    // the sink to its new folder, with no files.
    let change = rec["sinks"][1]["table_change"].as_str().unwrap();
    assert!(
        change.contains("files 2 -> 0") && change.contains("(delta)"),
        "{rec}"
    );
}

#[test]
fn json_logs_carry_the_job_and_run_id() {
    let fx = Fixture::new(None, 1);
    let mut cmd = sluice();
    cmd.arg("--catalog").arg(&fx.catalog).args([
        "--log-format",
        "json",
        "-v",
        "run",
        &example("daily_revenue"),
        "--format",
        "json",
    ]);
    for (k, v) in fx.params() {
        cmd.arg("--param").arg(format!("{k}={}", v.display()));
    }
    let run = Run::from(cmd.output().unwrap());
    let stderr = run.stderr.clone();
    let rec = record(run);
    let lines = json_lines(&stderr);
    // The sample job's `warn` rule always logs (customers without a region).
    let warn = lines
        .iter()
        .find(|l| l["fields"]["message"] == "quality rule failed (warn only)")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(warn["level"], "WARN");
    assert_eq!(warn["span"]["job"], "daily_revenue");
    assert_eq!(warn["span"]["run_id"], rec["run_id"]);
    // Lines inside a step name it, with the run's spans above it, and carry durations.
    let staged = lines
        .iter()
        .find(|l| l["fields"]["message"] == "sink staged" && l["span"]["step"] == "revenue")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(staged["spans"][0]["job"], "daily_revenue");
    assert_eq!(staged["spans"][0]["run_id"], rec["run_id"]);
    assert!(staged["fields"]["seconds"].as_f64().unwrap() >= 0.0);
    let finished = lines
        .iter()
        .find(|l| l["fields"]["message"] == "run finished")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(finished["fields"]["succeeded"], true);
    assert_eq!(finished["fields"]["rows_written"], rec["rows_written"]);
    assert!(
        (finished["fields"]["seconds"].as_f64().unwrap() - rec["seconds"].as_f64().unwrap()).abs() < 1e-6
    );
}

/// Issue #18: a nightly run's JSON logs carry its start and end without `-v`; `-q` silences them.
#[test]
fn json_logs_without_verbose_still_carry_the_run_start_and_end() {
    let fx = Fixture::new(None, 1);
    let run_with = |flags: &[&str]| {
        let mut cmd = sluice();
        cmd.arg("--catalog")
            .arg(&fx.catalog)
            .args(["--log-format", "json"]);
        cmd.args(flags)
            .args(["run", &example("daily_revenue"), "--format", "json"]);
        for (k, v) in fx.params() {
            cmd.arg("--param").arg(format!("{k}={}", v.display()));
        }
        Run::from(cmd.output().unwrap())
    };
    let run = run_with(&[]);
    let stderr = run.stderr.clone();
    let rec = record(run);
    let lines = json_lines(&stderr);
    let message = |m: &str| {
        lines
            .iter()
            .find(|l| l["fields"]["message"] == m)
            .unwrap_or_else(|| panic!("no `{m}` line in {stderr}"))
    };
    assert_eq!(message("run started")["span"]["run_id"], rec["run_id"]);
    assert_eq!(message("attempt started")["fields"]["attempt"], 1);
    let finished = message("run finished");
    assert_eq!(finished["span"]["job"], "daily_revenue");
    assert_eq!(finished["span"]["run_id"], rec["run_id"]);
    assert_eq!(finished["fields"]["outcome"], "succeeded");
    assert_eq!(finished["fields"]["rows_written"], rec["rows_written"]);
    assert!(finished["fields"]["bytes_written"].as_u64().unwrap() > 0);
    assert!(
        !stderr.contains("\"DEBUG\""),
        "the default verbosity adds the run lines only: {stderr}"
    );

    let quiet = run_with(&["-q"]);
    assert_eq!(quiet.code, 0, "{}", quiet.stderr);
    assert_eq!(quiet.stderr, "", "-q silences the run lines");
}

#[test]
fn a_metrics_file_reports_the_run_and_keeps_the_last_success_after_a_failure() {
    let fx = Fixture::new(None, 2);
    let prom = fx.dir.path().join("daily.prom");
    let metric = |text: &str, name: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("sluice_job_{name}{{")))
            .unwrap_or_else(|| panic!("no {name} in\n{text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let ok = record(run_job(
        &fx.catalog,
        &example("daily_revenue"),
        &fx.params(),
        &["--metrics-file", prom.to_str().unwrap()],
    ));
    let text = std::fs::read_to_string(&prom).unwrap();
    assert_eq!(metric(&text, "last_run_success"), 1.0);
    assert_eq!(
        metric(&text, "last_run_rows_written"),
        ok["rows_written"].as_f64().unwrap()
    );
    assert_eq!(metric(&text, "last_run_rows_read"), 40.0 + 8.0 + 5.0);
    let success_at = metric(&text, "last_success_timestamp_seconds");
    assert!(text.contains("sluice_job_last_run_status{job=\"daily_revenue\",status=\"succeeded\"} 1"));

    // A run that fails its rules: status 0, the last success stays.
    let strict = fx.dir.path().join("strict.toml");
    let job = std::fs::read_to_string(example("daily_revenue")).unwrap()
        + "\n[[quality]]\nstep = \"revenue\"\nrule = \"row_count > 1000000\"\n";
    std::fs::write(&strict, job).unwrap();
    add_day(&fx.lake, "2026-11-03");
    let failed = run_job(
        &fx.catalog,
        strict.to_str().unwrap(),
        &fx.params(),
        &["--metrics-file", prom.to_str().unwrap()],
    );
    assert_eq!(failed.code, 1);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert_eq!(metric(&text, "last_run_success"), 0.0);
    assert_eq!(
        metric(&text, "last_run_quality_failures"),
        1.0,
        "the strict rule (day 3 has no unknown region)"
    );
    assert_eq!(metric(&text, "last_success_timestamp_seconds"), success_at);
}

#[test]
fn a_failing_run_calls_the_failure_hooks_with_its_record_and_never_the_success_hook() {
    let fx = Fixture::new(None, 1);
    // A webhook receiver: one request, its body kept.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let receiver = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        let mut data = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            let n = std::io::Read::read(&mut conn, &mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            data.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&data).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap())
                    })
                    .unwrap_or(0);
                if body.len() >= len {
                    let _ = std::io::Write::write_all(
                        &mut conn,
                        b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
                    );
                    return text;
                }
            }
        }
        String::from_utf8_lossy(&data).to_string()
    });
    let failure_file = fx.dir.path().join("failure.json");
    let success_file = fx.dir.path().join("success.txt");
    let job = fx.dir.path().join("hooked.toml");
    let text = std::fs::read_to_string(example("daily_revenue")).unwrap()
        + &format!(
            "\n[[quality]]\nstep = \"revenue\"\nrule = \"row_count > 1000000\"\n\n[on_success]\ncommand = \"touch {}\"\n\n[on_failure]\ncommand = \"cat > {}; test \\\"$SLUICE_STATUS\\\" = failed\"\nwebhook = \"{url}\"\ntimeout = \"20s\"\n",
            success_file.display(),
            failure_file.display()
        );
    std::fs::write(&job, text).unwrap();
    let run = run_job(&fx.catalog, job.to_str().unwrap(), &fx.params(), &[]);
    assert_eq!(
        run.code, 1,
        "the hooks do not change the exit code: {}",
        run.stderr
    );
    let sent: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&failure_file).unwrap()).unwrap();
    assert_eq!(sent["status"], "failed");
    assert!(sent["error"].as_str().unwrap().contains("row_count > 1000000"));
    assert!(!success_file.exists(), "the success hook ran on a failure");
    let posted = receiver.join().unwrap();
    assert!(posted.starts_with("POST /hook "), "{posted}");
    let body = posted.split_once("\r\n\r\n").unwrap().1;
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["run_id"], sent["run_id"]);
}
