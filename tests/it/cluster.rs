//! A real Ballista cluster from the sluice binary: `sluice scheduler` and two `sluice executor`
//! processes on 127.0.0.1, reading the S3-compatible server `scripts/test.sh` starts. Queries and a
//! partitioned job must give what the same commands give locally; a killed executor must not lose
//! rows or leave a half-written table.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::test_util::{S3, delta_rows, duckdb_rows, in_ci, python, repo, s3, sluice, unique, with_catalog};

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port} within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A scheduler and executors, each its own `sluice` process, stopped (by PID) on drop.
struct Cluster {
    url: String,
    scheduler: Child,
    executors: Vec<Option<Child>>,
    dir: tempfile::TempDir,
}

impl Cluster {
    fn start(executors: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let scheduler = Self::spawn(
            dir.path(),
            "scheduler",
            &[
                "scheduler",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--executor-timeout",
                "6s",
            ],
        );
        wait_for_port(port, "the scheduler");
        let mut cluster = Self {
            url: format!("df://127.0.0.1:{port}"),
            scheduler,
            executors: Vec::new(),
            dir,
        };
        for _ in 0..executors {
            cluster.add_executor();
        }
        // Executors register on their first poll.
        std::thread::sleep(Duration::from_secs(2));
        cluster
    }

    fn add_executor(&mut self) {
        let (flight, grpc) = (free_port(), free_port());
        let i = self.executors.len();
        let work = self.dir.path().join(format!("executor-{i}"));
        let child = Self::spawn(
            self.dir.path(),
            &format!("executor-{i}"),
            &[
                "executor",
                "--scheduler",
                &self.url,
                "--bind",
                &format!("127.0.0.1:{flight}"),
                "--grpc-port",
                &grpc.to_string(),
                "--slots",
                "2",
                "--work-dir",
                work.to_str().unwrap(),
            ],
        );
        wait_for_port(flight, "an executor");
        self.executors.push(Some(child));
    }

    fn spawn(dir: &Path, name: &str, args: &[&str]) -> Child {
        let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
        let mut cmd = Command::new(sluice().get_program());
        cmd.args(["-v"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        cmd.spawn().unwrap()
    }

    /// Kills executor `i` the hard way (no deregistration), as a lost machine would.
    fn kill_executor(&mut self, i: usize) {
        if let Some(mut child) = self.executors[i].take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn logs(&self) -> String {
        let mut out = String::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "log") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                out.push_str(&format!("--- {}\n", path.display()));
                for line in tail.into_iter().rev() {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.executors.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.scheduler.kill();
        let _ = self.scheduler.wait();
    }
}

/// The test S3 server, when DuckDB (for the TPC-H data and cross-checks) is there too.
fn s3_lake() -> Option<S3> {
    let s3 = s3()?;
    python().map(|_| s3).or_else(|| {
        assert!(
            !in_ci(),
            "no Python with DuckDB; run the tests through scripts/test.sh"
        );
        None
    })
}

/// TPC-H tables at scale factor 0.01 as CSV (tpchgen-cli, installed by scripts/test.sh), two files
/// per table, under `dir/<table>/`.
fn tpch(dir: &Path) {
    let py = python().unwrap();
    let tpchgen = Path::new(&py).parent().unwrap().join("tpchgen-cli");
    assert!(
        tpchgen.exists(),
        "tpchgen-cli is missing next to {py}; scripts/test.sh installs it"
    );
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(&tpchgen)
        .args([
            "csv",
            "-s",
            "0.01",
            "--tables=lineitem,orders,customer,nation",
            "--parts=2",
        ])
        .arg(format!("--output-dir={}", out.path().display()))
        .arg("--no-progress")
        .status()
        .unwrap();
    assert!(status.success());
    for table in ["lineitem", "orders", "customer", "nation"] {
        let from = out.path().join(table);
        let to = dir.join(table);
        std::fs::create_dir_all(&to).unwrap();
        if from.is_dir() {
            for f in std::fs::read_dir(&from).unwrap() {
                let f = f.unwrap().path();
                std::fs::copy(&f, to.join(f.file_name().unwrap())).unwrap();
            }
        } else {
            let single = out.path().join(format!("{table}.csv"));
            std::fs::copy(&single, to.join(format!("{table}.csv"))).unwrap();
        }
    }
}

const Q1: &str = "SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty, \
    round(sum(l_extendedprice * (1 - l_discount)), 2) AS sum_disc_price, count(*) AS count_order \
    FROM tpch.lineitem WHERE l_shipdate <= DATE '1998-09-02' \
    GROUP BY l_returnflag, l_linestatus ORDER BY l_returnflag, l_linestatus";

const Q3: &str = "SELECT l_orderkey, round(sum(l_extendedprice * (1 - l_discount)), 2) AS revenue, \
    o_orderdate, o_shippriority \
    FROM tpch.customer, tpch.orders, tpch.lineitem \
    WHERE c_mktsegment = 'BUILDING' AND c_custkey = o_custkey AND l_orderkey = o_orderkey \
      AND o_orderdate < DATE '1995-03-15' AND l_shipdate > DATE '1995-03-15' \
    GROUP BY l_orderkey, o_orderdate, o_shippriority \
    ORDER BY revenue DESC, o_orderdate, l_orderkey LIMIT 10";

const Q5: &str = "SELECT n_name, round(sum(l_extendedprice * (1 - l_discount)), 2) AS revenue \
    FROM tpch.customer, tpch.orders, tpch.lineitem, tpch.nation \
    WHERE c_custkey = o_custkey AND l_orderkey = o_orderkey AND c_nationkey = n_nationkey \
      AND o_orderdate >= DATE '1994-01-01' AND o_orderdate < DATE '1995-01-01' \
    GROUP BY n_name ORDER BY revenue DESC, n_name";

/// TPC-H CSV in the test bucket, crawled as database `tpch` into a catalog in a fresh folder.
struct Tpch {
    s3: S3,
    dir: tempfile::TempDir,
    catalog: PathBuf,
    /// `s3://bucket/prefix` (no trailing slash) holding `lineitem/`, `orders/`, ...
    data: String,
}

fn tpch_lake() -> Option<Tpch> {
    let s3 = s3_lake()?;
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog.db");
    let prefix = unique("tpch");
    tpch(&s3.bucket_dir.join(&prefix));
    let url = format!("s3://{}/{prefix}/", s3.bucket);
    with_catalog(&catalog, &["crawl", &url, "--database", "tpch"]).ok();
    Some(Tpch {
        data: url.trim_end_matches('/').to_string(),
        s3,
        dir,
        catalog,
    })
}

#[test]
fn tpch_queries_on_the_cluster_match_local_runs() {
    // `_dir` keeps the catalog's folder until the test ends.
    let Some(Tpch {
        catalog, dir: _dir, ..
    }) = tpch_lake()
    else {
        return;
    };
    let cluster = Cluster::start(2);
    let queries = [
        Q1,
        Q3,
        Q5,
        // The shipped lake mixes plain, gzip, bzip2, xz and zstd CSV and NDJSON files.
        "SELECT order_date, status, count(*) AS n, round(sum(amount), 2) AS total FROM 'testdata/lake/orders/' GROUP BY 1, 2 ORDER BY 1, 2",
        "SELECT count(*) AS n, count(DISTINCT region) AS regions FROM 'testdata/lake/customers/'",
        "SELECT count(*) AS n FROM 'testdata/lake/events/'",
        // Partition pruning on the scheduler: one order_date folder of three.
        "SELECT status, count(*) AS n FROM 'testdata/lake/orders/' WHERE order_date = DATE '2026-11-02' GROUP BY 1 ORDER BY 1",
    ];
    for query in queries {
        let local = with_catalog(&catalog, &["sql", "--format", "csv", query]).ok();
        let remote = with_catalog(
            &catalog,
            &["--cluster", &cluster.url, "sql", "--format", "csv", query],
        );
        assert!(
            remote.code == 0,
            "{query}:\n{}\n{}",
            remote.stderr,
            cluster.logs()
        );
        assert_same_csv(&remote.stdout, &local, query);
        assert!(local.lines().count() > 1, "{query} returned nothing: {local}");
    }
    let logs = cluster.logs();
    assert!(!logs.contains("panicked"), "{logs}");
}

#[test]
fn a_partitioned_job_on_the_cluster_writes_what_a_local_run_writes() {
    let Some(Tpch {
        s3,
        dir,
        catalog,
        data,
    }) = tpch_lake()
    else {
        return;
    };
    let data = data.as_str();
    let py = python().unwrap();
    let job = repo().join("benches/e2e/jobs/revenue_by_nation.toml");
    let job = job.to_str().unwrap();
    let out_prefix = unique("rev");
    let out = |name: &str| format!("s3://{}/{out_prefix}/{name}/", s3.bucket);
    let cluster = Cluster::start(2);
    let run_job = |extra: &[&str], dest: &str| {
        let data_param = format!("data={data}");
        let out_param = format!("out={dest}");
        let mut args: Vec<&str> = extra.to_vec();
        args.extend([
            "run",
            job,
            "--format",
            "json",
            "--param",
            &data_param,
            "--param",
            &out_param,
        ]);
        with_catalog(&catalog, &args)
    };
    let local = run_job(&[], &out("local"));
    assert!(local.code == 0, "{}", local.stderr);
    // The same job file naming its cluster (`cluster =`), run without --cluster.
    let on_cluster = dir.path().join("revenue_on_cluster.toml");
    let text = std::fs::read_to_string(job).unwrap();
    std::fs::write(&on_cluster, format!("cluster = \"{}\"\n{text}", cluster.url)).unwrap();
    let data_param = format!("data={data}");
    let out_param = format!("out={}", out("cluster"));
    let remote = with_catalog(
        &catalog,
        &[
            "run",
            on_cluster.to_str().unwrap(),
            "--format",
            "json",
            "--param",
            &data_param,
            "--param",
            &out_param,
        ],
    );
    assert!(remote.code == 0, "{}\n{}", remote.stderr, cluster.logs());
    // The executors' scans report what they read into the run record.
    let rows_read = |out: &str| {
        let record: serde_json::Value = serde_json::from_str(out).unwrap();
        let sources = record["sources"].as_array().unwrap().clone();
        sources
            .iter()
            .map(|s| {
                (
                    s["name"].as_str().unwrap().to_string(),
                    s["rows_read"].as_u64().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let read_here = rows_read(&local.stdout);
    assert!(read_here.iter().all(|(_, n)| *n > 0), "{read_here:?}");
    assert_eq!(rows_read(&remote.stdout), read_here);
    assert!(
        cluster.logs().contains("Received task"),
        "the job's tasks ran on the executors:\n{}",
        cluster.logs()
    );
    let read = |name: &str| {
        duckdb_rows(
            &py,
            &s3.bucket_dir.join(&out_prefix).join(name),
            "nation, year, priority",
        )
    };
    let (l, r) = (read("local"), read("cluster"));
    assert!(l.as_array().is_some_and(|a| a.len() > 50), "{l}");
    let (l, r) = (round_revenue(&l), round_revenue(&r));
    assert_eq!(l.len(), r.len());
    for (a, b) in l.iter().zip(&r) {
        let diff = (a["revenue"].as_f64().unwrap() - b["revenue"].as_f64().unwrap()).abs();
        assert!(diff <= 0.011, "{a} vs {b}");
        assert_eq!(
            (&a["nation"], &a["year"], &a["priority"], &a["lines"]),
            (&b["nation"], &b["year"], &b["priority"], &b["lines"])
        );
    }
    // Hive folders by year and a commit record, as in a local run.
    let years: Vec<String> = std::fs::read_dir(s3.bucket_dir.join(&out_prefix).join("cluster"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("year="))
        .collect();
    assert_eq!(years.len(), 7, "{years:?}");
    assert!(
        s3.bucket_dir
            .join(&out_prefix)
            .join("cluster/_delta_log")
            .is_dir()
    );
    // The executors wrote the files: every committed name carries a task attempt.
    let committed = live_files_in_log(&s3.bucket_dir.join(&out_prefix).join("cluster"));
    assert!(!committed.is_empty());
    assert!(
        committed.iter().all(|f| f.contains(".t")),
        "files written by tasks: {committed:?}"
    );
    // The output read back through the cluster as a Delta table, at its first version too.
    for version in ["", " VERSION AS OF 0"] {
        let sql = format!(
            "SELECT count(*) AS n, sum(lines) AS lines FROM '{}'{version}",
            out("cluster")
        );
        let on = with_catalog(
            &catalog,
            &["--cluster", &cluster.url, "sql", &sql, "--format", "json"],
        );
        assert!(on.code == 0, "{}\n{}", on.stderr, cluster.logs());
        let on = on.json();
        let local = with_catalog(&catalog, &["sql", &sql, "--format", "json"]).json();
        assert_eq!(on, local, "{sql}");
        let delta = delta_rows(&py, &s3.bucket_dir.join(&out_prefix).join("cluster"), "nation");
        assert_eq!(on[0]["n"], delta.as_array().unwrap().len(), "{sql}");
    }
}

/// The paths the Delta log of `dir` adds and does not remove.
fn live_files_in_log(dir: &Path) -> Vec<String> {
    let mut live = std::collections::BTreeSet::new();
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir.join("_delta_log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    logs.sort();
    for log in logs {
        for line in std::fs::read_to_string(log).unwrap().lines() {
            let action: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(path) = action["add"]["path"].as_str() {
                live.insert(path.to_string());
            }
            if let Some(path) = action["remove"]["path"].as_str() {
                live.remove(path);
            }
        }
    }
    live.into_iter().collect()
}

#[test]
fn a_partitioned_convert_on_the_cluster_is_written_by_the_executors() {
    let Some(Tpch { s3, data, .. }) = tpch_lake() else {
        return;
    };
    let py = python().unwrap();
    let cluster = Cluster::start(2);
    let prefix = unique("li");
    let dest = |name: &str| format!("s3://{}/{prefix}/{name}/", s3.bucket);
    let convert = |extra: &[&str], name: &str| {
        let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        args.extend(
            [
                "convert",
                &format!("{data}/lineitem/"),
                &dest(name),
                "--partition-by",
                "l_returnflag,l_linestatus",
                "-q",
            ]
            .map(String::from),
        );
        let out = sluice().args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            cluster.logs()
        );
    };
    convert(&[], "local");
    convert(&["--cluster", &cluster.url], "cluster");
    let on_disk = |name: &str| s3.bucket_dir.join(&prefix).join(name);
    let rows = |name: &str| {
        delta_query(
            &py,
            &on_disk(name),
            "SELECT l_returnflag, l_linestatus, count(*) AS n, sum(l_quantity) AS q FROM {table} GROUP BY ALL ORDER BY ALL",
        )
    };
    let (local, remote) = (rows("local"), rows("cluster"));
    assert_eq!(local.as_array().unwrap().len(), 4, "{local}");
    assert_eq!(local, remote, "the cluster wrote the rows a local run writes");
    let files = live_files_in_log(&on_disk("cluster"));
    assert!(files.iter().all(|f| f.contains(".t")), "{files:?}");
    // One file per partition value per writing stream: the attempt tag names the task, the
    // file's first number the stream in it.
    let tag = |f: &str| {
        f.rsplit_once(".t")
            .unwrap()
            .1
            .split('.')
            .next()
            .unwrap()
            .to_string()
    };
    let stream = |f: &str| {
        f.rsplit_once("/part-")
            .unwrap()
            .1
            .split('-')
            .next()
            .unwrap()
            .to_string()
    };
    let written: std::collections::BTreeSet<(&str, String, String)> = files
        .iter()
        .map(|f| (f.rsplit_once('/').unwrap().0, stream(f), tag(f)))
        .collect();
    assert_eq!(written.len(), files.len(), "{files:?}");
    let tasks: std::collections::BTreeSet<String> = files.iter().map(|f| tag(f)).collect();
    assert!(tasks.len() > 1, "several tasks wrote: {files:?}");
}

/// Equal CSV, except that numbers may differ in the last cent: sums of floating-point values
/// depend on the order rows are added in, which differs between a cluster and one machine.
fn assert_same_csv(remote: &str, local: &str, name: &str) {
    let (r, l): (Vec<&str>, Vec<&str>) = (remote.lines().collect(), local.lines().collect());
    assert_eq!(r.len(), l.len(), "{name}: row counts differ\n{remote}\n{local}");
    for (a, b) in r.iter().zip(&l) {
        let (ca, cb): (Vec<&str>, Vec<&str>) = (a.split(',').collect(), b.split(',').collect());
        assert_eq!(ca.len(), cb.len(), "{name}: {a} vs {b}");
        for (x, y) in ca.iter().zip(&cb) {
            match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(x), Ok(y)) => assert!((x - y).abs() <= 0.011, "{name}: {a} vs {b}"),
                _ => assert_eq!(x, y, "{name}: {a} vs {b}"),
            }
        }
    }
}

/// Sums differ in the last bits with the order rows are added in.
fn round_revenue(rows: &serde_json::Value) -> Vec<serde_json::Value> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if let Some(v) = r.get("revenue").and_then(serde_json::Value::as_f64) {
                r["revenue"] = serde_json::json!((v * 100.0).round() / 100.0);
            }
            r
        })
        .collect()
}

/// A job whose `step` query is given as a param, writing `out` partitioned by `k`.
const KILL_JOB: &str = r#"
name = "cluster_kill"
[params]
data = ""
out = ""
join = "a.l_orderkey = b.o_orderkey"
[sources.lineitem]
path = "${data}/lineitem/"
[sources.orders]
path = "${data}/orders/"
[[steps]]
name = "counted"
sql = "SELECT CAST(a.l_orderkey % 3 AS INT) AS k, count(*) AS n FROM lineitem a JOIN orders b ON ${join} GROUP BY 1"
[[sinks]]
from = "counted"
path = "${out}"
partition_by = ["k"]
mode = "overwrite"
"#;

#[test]
fn an_executor_killed_mid_job_fails_the_run_and_keeps_the_previous_output() {
    let Some(Tpch {
        s3,
        dir,
        catalog,
        data,
    }) = tpch_lake()
    else {
        return;
    };
    let py = python().unwrap();
    let data_param = format!("data={data}");
    let job = dir.path().join("kill.toml");
    std::fs::write(&job, KILL_JOB).unwrap();
    let job = job.to_str().unwrap();
    let out_prefix = unique("kill");
    let out_param = format!("out=s3://{}/{out_prefix}/", s3.bucket);
    let out_dir = s3.bucket_dir.join(&out_prefix);
    let mut cluster = Cluster::start(2);

    // A first run commits the table the second run must not damage.
    let url = cluster.url.clone();
    let run_on_cluster = |extra: &[&str]| {
        let mut args = vec![
            "--cluster",
            &url,
            "run",
            job,
            "--param",
            &data_param,
            "--param",
            &out_param,
        ];
        args.extend_from_slice(extra);
        with_catalog(&catalog, &args)
    };
    let first = run_on_cluster(&[]);
    assert!(first.code == 0, "{}\n{}", first.stderr, cluster.logs());
    let before = duckdb_rows(&py, &out_dir, "k");
    assert_eq!(before.as_array().unwrap().len(), 3, "{before}");

    // The second run's join matches every line with a seventh of the orders: seconds of work on
    // every executor, so one can be killed while its tasks run.
    let slow = "join=a.l_orderkey % 7 = b.o_orderkey % 7";
    let started = Instant::now();
    let child = Command::new(sluice().get_program())
        .env("SLUICE_MEMORY_LIMIT", "1GiB")
        .args(["--catalog", catalog.to_str().unwrap(), "--cluster", &cluster.url])
        .args([
            "run",
            job,
            "--param",
            &data_param,
            "--param",
            &out_param,
            "--param",
            slow,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    cluster.kill_executor(0);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}\n{}", cluster.logs());
    assert!(
        stderr.contains("executor") && !stderr.contains("panicked"),
        "the failure names the lost executor: {stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "a lost executor fails the run within the executor timeout, not after a hang"
    );
    assert!(
        cluster.logs().contains("an executor running this job was lost"),
        "{}",
        cluster.logs()
    );
    // The table still holds the first run's rows, and only its files.
    assert_eq!(delta_rows(&py, &out_dir, "k"), before);

    // The remaining executor still runs jobs, and the slow join gives the local answer.
    let again = run_on_cluster(&["--param", slow]);
    assert!(again.code == 0, "{}\n{}", again.stderr, cluster.logs());
    let on_one = delta_rows(&py, &out_dir, "k");
    let local_out = format!("out={}", dir.path().join("local").display());
    with_catalog(
        &catalog,
        &[
            "run",
            job,
            "--param",
            &data_param,
            "--param",
            &local_out,
            "--param",
            slow,
        ],
    )
    .ok();
    assert_eq!(on_one, delta_rows(&py, &dir.path().join("local"), "k"));
    assert_ne!(on_one, before);

    // Whatever the killed run's tasks had written is gone after a vacuum: only the live files stay.
    let out_url = format!("s3://{}/{out_prefix}/", s3.bucket);
    with_catalog(&catalog, &["vacuum", &out_url, "--retain", "0s", "-q"]).ok();
    let mut on_disk: Vec<String> = walk_files(&out_dir)
        .into_iter()
        .filter(|f| !f.starts_with("_delta_log/") && f != "_SUCCESS")
        .collect();
    on_disk.sort();
    assert_eq!(on_disk, live_files_in_log(&out_dir));
}

/// Every file under `dir`, as paths relative to it.
fn walk_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                found.push(relative);
            }
        }
    }
    found
}

#[test]
fn a_bad_cluster_address_is_bad_input() {
    let bad = crate::test_util::run(&["--cluster", "df://sched:notaport", "sql", "SELECT 1"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(
        bad.stderr.contains("df://sched:notaport") && bad.stderr.contains("df://HOST:PORT"),
        "{}",
        bad.stderr
    );
}

const BAD_RECORDS_JOB: &str = r#"
name = "bad_records"
[sources.events]
path = "${data}"
on_bad_records = "quarantine"
quarantine = "${q}"

[[steps]]
name = "kept"
sql = "SELECT id, name, amount, day FROM events"

[[sinks]]
from = "kept"
path = "${out}"
partition_by = ["day"]
mode = "overwrite"

[[quality]]
step = "kept"
rule = "row_count = 79"
"#;

/// (file name, line) of every record in the NDJSON files under `dir`.
fn quarantined_lines(dir: &Path) -> Vec<(String, u64)> {
    let mut found: Vec<(String, u64)> = walk_files(dir)
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(dir.join(f))
                .unwrap()
                .lines()
                .map(|l| {
                    let r: serde_json::Value = serde_json::from_str(l).unwrap();
                    let file = r["file"]
                        .as_str()
                        .unwrap()
                        .rsplit('/')
                        .next()
                        .unwrap()
                        .to_string();
                    (file, r["line"].as_u64().unwrap())
                })
                .collect::<Vec<_>>()
        })
        .collect();
    found.sort();
    found
}

#[test]
fn bad_records_are_skipped_and_quarantined_by_the_executors() {
    let Some(s3) = s3_lake() else {
        return;
    };
    let py = python().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique("bad");
    let data = s3.bucket_dir.join(&prefix).join("events");
    std::fs::create_dir_all(&data).unwrap();
    let testdata = crate::test_util::repo().join("testdata/bad");
    for f in ["wrong_fields.csv", "bad_values.csv"] {
        std::fs::copy(testdata.join(f), data.join(f)).unwrap();
    }
    // Columns in another order: read by name.
    std::fs::write(
        data.join("reordered.csv"),
        "amount,id,day,name\n70,101,2026-11-03,late a\n80,102,2026-11-03,late b\n",
    )
    .unwrap();
    let url = |name: &str| format!("s3://{}/{prefix}/{name}/", s3.bucket);
    let job = dir.path().join("bad.toml");
    std::fs::write(&job, BAD_RECORDS_JOB).unwrap();
    let catalog = dir.path().join("c.db");
    let cluster = Cluster::start(2);
    let run = |extra: &[&str], name: &str| {
        let mut args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        args.extend([
            "run".to_string(),
            job.to_str().unwrap().to_string(),
            "--format".into(),
            "json".into(),
            "--param".into(),
            format!("data={}", url("events")),
            "--param".into(),
            format!("out={}", url(&format!("out-{name}"))),
            "--param".into(),
            format!("q={}", url(&format!("q-{name}"))),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let ran = with_catalog(&catalog, &args);
        assert_eq!(ran.code, 0, "{name}: {}\n{}", ran.stderr, cluster.logs());
        let record: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
        record
    };
    let local = run(&[], "local");
    let remote = run(&["--cluster", &cluster.url], "cluster");
    for key in ["records_quarantined", "rows_read"] {
        assert_eq!(
            remote["sources"][0][key], local["sources"][0][key],
            "{key}: {remote} against {local}"
        );
    }
    assert_eq!(local["sources"][0]["records_quarantined"], 3, "{local}");
    assert_eq!(local["sources"][0]["rows_read"], 79, "{local}");
    assert_eq!(remote["rows_written"], local["rows_written"]);
    // The executors wrote the quarantine: parts in a folder named after the run and source.
    let folder = remote["sources"][0]["quarantine_file"].as_str().unwrap();
    let run_id = remote["run_id"].as_str().unwrap();
    assert!(folder.ends_with(&format!("{run_id}-events/")), "{folder}");
    let on_disk = |name: &str| s3.bucket_dir.join(&prefix).join(name);
    assert!(
        on_disk("q-cluster").is_dir(),
        "{:?}",
        walk_files(&s3.bucket_dir.join(&prefix))
    );
    let lines = quarantined_lines(&on_disk("q-cluster"));
    assert_eq!(lines, quarantined_lines(&on_disk("q-local")));
    assert_eq!(
        lines,
        [
            ("bad_values.csv".to_string(), 20),
            ("wrong_fields.csv".to_string(), 6),
            ("wrong_fields.csv".to_string(), 12),
        ]
    );
    let rows = |name: &str| {
        delta_query(
            &py,
            &on_disk(name),
            "SELECT id, name, amount, day FROM {table} ORDER BY ALL",
        )
    };
    assert_eq!(rows("out-cluster"), rows("out-local"));

    // `sql` under skip reports the executors' counts; under fail the error names file and line.
    let skip = with_catalog(
        &catalog,
        &[
            "--cluster",
            &cluster.url,
            "--on-bad-records",
            "skip",
            "sql",
            "--format",
            "csv",
            &format!("SELECT count(*) AS n FROM '{}'", url("events")),
        ],
    );
    assert_eq!(skip.code, 0, "{}\n{}", skip.stderr, cluster.logs());
    assert_eq!(skip.stdout, "n\n79\n");
    assert!(
        skip.stderr.contains("bad records: 79 good, 3 skipped"),
        "{}",
        skip.stderr
    );
    // `convert` quarantines on the executors too, and says where.
    let converted = with_catalog(
        &catalog,
        &[
            "--cluster",
            &cluster.url,
            "convert",
            &url("events"),
            &url("converted"),
            "--quarantine",
            &url("q-convert"),
            "--format",
            "json",
        ],
    );
    assert_eq!(converted.code, 0, "{}\n{}", converted.stderr, cluster.logs());
    let record: serde_json::Value = serde_json::from_str(&converted.stdout).unwrap();
    assert_eq!(record[0]["quarantined_records"], 3, "{record}");
    assert_eq!(record[0]["rows"], 79, "{record}");
    assert!(
        converted.stderr.contains("3 quarantined (to s3://"),
        "{}",
        converted.stderr
    );
    assert_eq!(quarantined_lines(&on_disk("q-convert")), lines);

    let fail = with_catalog(
        &catalog,
        &[
            "--cluster",
            &cluster.url,
            "--on-bad-records",
            "fail",
            "sql",
            &format!("SELECT count(*) AS n FROM '{}wrong_fields.csv'", url("events")),
        ],
    );
    assert_ne!(fail.code, 0);
    assert!(
        fail.stderr.contains("wrong_fields.csv") && fail.stderr.contains("line 6"),
        "{}",
        fail.stderr
    );
}

#[test]
fn compressed_csv_and_json_array_files_read_alike_on_the_cluster() {
    let Some(s3) = s3_lake() else {
        return;
    };
    let prefix = unique("text");
    let root = s3.bucket_dir.join(&prefix);
    std::fs::create_dir_all(root.join("arrays")).unwrap();
    std::fs::create_dir_all(root.join("gz")).unwrap();
    let objects: Vec<String> = (1..=40)
        .map(|i| format!("{{\"id\": {i}, \"v\": \"v{}\"}}", i % 7))
        .collect();
    std::fs::write(
        root.join("arrays/a.json"),
        format!("[\n{}\n]\n", objects[..25].join(",\n")),
    )
    .unwrap();
    std::fs::write(
        root.join("arrays/b.json"),
        format!("[{}]", objects[25..].join(",")),
    )
    .unwrap();
    let csv: String = std::iter::once("id,v\n".to_string())
        .chain((1..=500).map(|i| format!("{i},v{}\n", i % 7)))
        .collect();
    std::fs::write(root.join("gz/part.csv"), csv).unwrap();
    let zipped = Command::new("gzip")
        .arg(root.join("gz/part.csv"))
        .status()
        .unwrap();
    assert!(zipped.success());
    let cluster = Cluster::start(2);
    for (folder, rows) in [("arrays", 40), ("gz", 500)] {
        let sql = format!(
            "SELECT count(*) AS n, sum(id) AS ids, count(DISTINCT v) AS vs FROM 's3://{}/{prefix}/{folder}/'",
            s3.bucket
        );
        let local = crate::test_util::run(&["sql", "--format", "csv", &sql]);
        let remote = crate::test_util::run(&["--cluster", &cluster.url, "sql", "--format", "csv", &sql]);
        assert_eq!(remote.code, 0, "{folder}: {}\n{}", remote.stderr, cluster.logs());
        assert_eq!(remote.stdout, local.ok(), "{folder}");
        assert!(
            remote.stdout.starts_with(&format!("n,ids,vs\n{rows},")),
            "{}",
            remote.stdout
        );
    }
}

/// The rows of `query` (which names the table `{table}`) over the Delta table in `dir`, as DuckDB's
/// delta extension reads them.
fn delta_query(py: &str, dir: &Path, query: &str) -> serde_json::Value {
    let query = query.replace("{table}", "delta_scan('{sys.argv[1]}')");
    let script = format!(
        "{}\nrel = con.sql(f\"{query}\")\nprint(json.dumps([list(r) for r in rel.fetchall()], default=str))\n",
        crate::test_util::DUCKDB_WITH_DELTA
    );
    crate::test_util::python_json(py, &script, &[dir.to_str().unwrap()])
}

/// A partitioned catalog table, whose files the catalog picks per query, goes to the cluster whole
/// and is pruned there.
#[test]
fn partitioned_catalog_tables_run_on_the_cluster() {
    if s3_lake().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("c.db");
    let lake = crate::test_util::repo().join("testdata/lake/");
    with_catalog(&catalog, &["crawl", lake.to_str().unwrap(), "--database", "raw"]).ok();
    let cluster = Cluster::start(1);
    for sql in [
        "SELECT order_date, count(*) AS n, sum(amount) AS total FROM raw.orders WHERE order_date = '2026-11-01' GROUP BY 1",
        "SELECT order_date, count(*) AS n FROM raw.orders GROUP BY 1 ORDER BY 1",
    ] {
        let local = with_catalog(&catalog, &["sql", "--format", "csv", sql]).ok();
        let remote = with_catalog(
            &catalog,
            &["--cluster", &cluster.url, "sql", "--format", "csv", sql],
        );
        assert_eq!(remote.code, 0, "{}\n{}", remote.stderr, cluster.logs());
        assert_eq!(remote.stdout, local, "{sql}");
    }
}
