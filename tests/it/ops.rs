//! Running unattended: workflows with success and failure branches, and the crontab line from
//! `sluice schedule print` run the way cron runs it (no terminal, a bare environment).

use std::path::Path;

use crate::test_util::{Run, copy_tree, repo, sluice, with_catalog};

/// A small job over the orders of the sample lake: counts them into `${out}/NAME/`. With `fail`,
/// a quality rule that cannot hold makes it fail.
fn count_job(dir: &Path, name: &str, fail: bool) {
    let rule = if fail {
        "\n[[quality]]\nstep = \"counted\"\nrule = \"row_count > 1000000\"\n"
    } else {
        ""
    };
    let text = format!(
        "name = \"{name}\"\n[params]\nlake = \"unset\"\nout = \"unset\"\n\n[sources.orders]\npath = \"${{lake}}/orders/\"\n\n[[steps]]\nname = \"counted\"\nsql = \"SELECT count(*) AS n FROM orders\"\n\n[[sinks]]\nfrom = \"counted\"\npath = \"${{out}}/{name}/\"\nmode = \"overwrite\"\n{rule}"
    );
    std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
}

fn workflow_run(catalog: &Path, file: &Path, extra: &[&str]) -> Run {
    Run::from(
        sluice()
            .arg("--catalog")
            .arg(catalog)
            .args(["run", file.to_str().unwrap(), "--format", "json", "-q"])
            .args(extra)
            .output()
            .unwrap(),
    )
}

#[test]
fn a_workflow_runs_the_failure_branch_not_the_success_branch_and_links_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (lake, out, catalog) = (
        dir.path().join("lake"),
        dir.path().join("out"),
        dir.path().join("c.db"),
    );
    copy_tree(&repo().join("testdata/lake/orders"), &lake.join("orders"));
    let jobs = dir.path().join("jobs");
    std::fs::create_dir(&jobs).unwrap();
    count_job(&jobs, "load", true);
    count_job(&jobs, "publish", false);
    count_job(&jobs, "alert", false);
    count_job(&jobs, "left", false);
    count_job(&jobs, "right", false);
    let workflow = jobs.join("wf.toml");
    std::fs::write(
        &workflow,
        format!(
            r#"name = "wf"
[params]
lake = "{}"
out = "{}"

[nodes.crawl]
crawl = "${{lake}}"
database = "raw"

[nodes.load]
job = "load.toml"
after = ["crawl"]

[nodes.publish]
job = "publish.toml"
after = ["load"]

[nodes.alert]
job = "alert.toml"
after_failure = ["load"]

[nodes.left]
job = "left.toml"
after = ["crawl"]

[nodes.right]
job = "right.toml"
after = ["crawl"]

[nodes.finally]
job = "publish.toml"
after_done = ["publish", "alert"]
trigger = "any"
"#,
            lake.display(),
            out.display()
        ),
    )
    .unwrap();
    // `finally` reuses publish.toml: it may run only because `publish` itself never does.
    let prom = dir.path().join("wf.prom");
    let run = workflow_run(&catalog, &workflow, &["--metrics-file", prom.to_str().unwrap()]);
    assert_eq!(
        run.code, 1,
        "a failed node fails the workflow run: {}",
        run.stderr
    );
    assert!(run.stderr.contains("load failed"), "{}", run.stderr);
    let record: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let node = |name: &str| {
        record["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .unwrap_or_else(|| panic!("no node {name}: {record}"))
            .clone()
    };
    let state = |name: &str| node(name)["state"].as_str().unwrap().to_string();
    assert_eq!(state("crawl"), "succeeded");
    assert_eq!(state("load"), "failed");
    assert!(
        node("load")["error"]
            .as_str()
            .unwrap()
            .contains("row_count > 1000000")
    );
    assert_eq!(state("publish"), "skipped", "{record}");
    assert_eq!(state("alert"), "succeeded");
    assert_eq!(state("left"), "succeeded");
    assert_eq!(state("right"), "succeeded");
    assert_eq!(state("finally"), "succeeded", "any: `alert` ended");
    assert!(out.join("alert").is_dir() && out.join("publish").is_dir());
    let committed = std::fs::read_dir(out.join("load"))
        .map(|d| {
            d.filter(|e| !e.as_ref().unwrap().file_name().to_string_lossy().starts_with('_'))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(committed, 0, "the failed job committed output");

    // left and right ran at the same time: each started before the other ended.
    let interval = |name: &str| {
        let n = node(name);
        let start = chrono::DateTime::parse_from_rfc3339(n["started_at"].as_str().unwrap()).unwrap();
        let end = start + chrono::Duration::milliseconds((n["seconds"].as_f64().unwrap() * 1000.0) as i64);
        (start, end)
    };
    let ((l0, l1), (r0, r1)) = (interval("left"), interval("right"));
    assert!(
        l0 < r1 && r0 < l1,
        "left {l0}..{l1} and right {r0}..{r1} did not overlap"
    );

    // The crawl recorded the raw table.
    let tables = with_catalog(&catalog, &["tables", "--format", "json"]).json();
    assert!(
        tables
            .iter()
            .any(|t| t["database"] == "raw" && t["table"] == "orders"),
        "{tables:?}"
    );

    // The history links the job runs to the workflow run.
    let wf_id = record["run_id"].as_str().unwrap();
    let linked = with_catalog(&catalog, &["runs", "--workflow-run", wf_id, "--format", "json"]).json();
    let mut jobs: Vec<&str> = linked.iter().map(|r| r["job"].as_str().unwrap()).collect();
    jobs.sort_unstable();
    assert_eq!(jobs, ["alert", "left", "load", "publish", "right"]);
    assert!(linked.iter().all(|r| r["workflow_run_id"] == wf_id));
    for n in ["load", "alert", "left"] {
        assert!(
            linked.iter().any(|r| r["run_id"] == node(n)["run_id"]),
            "node {n}'s run is not in the history"
        );
    }
    let stored = with_catalog(&catalog, &["runs", "--run", wf_id, "--format", "json"]).ok();
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["kind"], "workflow");
    assert_eq!(stored["status"], "failed");

    // One metrics file for every job run, each metric declared once.
    let text = std::fs::read_to_string(&prom).unwrap();
    assert_eq!(
        text.matches("# TYPE sluice_job_last_run_success gauge").count(),
        1,
        "{text}"
    );
    assert!(
        text.contains("sluice_job_last_run_success{job=\"load\"} 0"),
        "{text}"
    );
    assert!(
        text.contains("sluice_job_last_run_success{job=\"alert\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("sluice_job_last_run_rows_written{job=\"left\"} 1"),
        "{text}"
    );
}

#[test]
fn bad_workflow_files_exit_2_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    count_job(dir.path(), "a", false);
    let cases = [
        (
            "[nodes.x]\njob = \"a.toml\"\nafter = [\"nope\"]\n",
            "waits for `nope`, which is not a node",
            ", line 4",
        ),
        (
            "[nodes.x]\njob = \"a.toml\"\nafter = [\"y\"]\n[nodes.y]\njob = \"a.toml\"\nafter = [\"x\"]\n",
            "cycle",
            "",
        ),
        (
            "[nodes.x]\njob = \"a.toml\"\ncrawl = \"/tmp\"\n",
            "exactly one of",
            "",
        ),
        (
            "[nodes.x]\njob = \"a.toml\"\ntrigger = \"most\"\n",
            "`trigger = \"most\"`",
            ", line 4",
        ),
        ("[nodes.x]\njob = \"missing.toml\"\n", "missing.toml", ", line 3"),
        ("[nodes.x]\njobs = \"a.toml\"\n", "unknown field `jobs`", ""),
    ];
    for (i, (body, expect, at)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("wf{i}.toml"));
        std::fs::write(&file, format!("name = \"wf\"\n{body}")).unwrap();
        let run = workflow_run(&dir.path().join("c.db"), &file, &[]);
        assert_eq!(run.code, 2, "case {i}: {}", run.stderr);
        assert!(run.stderr.contains(expect), "case {i}: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!("wf{i}.toml`{at}")),
            "case {i}: {}",
            run.stderr
        );
    }
}

#[test]
fn the_sample_workflow_dry_run_lists_nodes_and_conditions() {
    let out = sluice()
        .current_dir(repo())
        .args([
            "--catalog",
            "/nonexistent/c.db",
            "run",
            "jobs/examples/nightly.toml",
            "--dry-run",
        ])
        .args(["--format", "json"])
        .output()
        .unwrap();
    let nodes: Vec<serde_json::Value> = serde_json::from_str(&Run::from(out).ok()).unwrap();
    let names: Vec<&str> = nodes.iter().map(|n| n["node"].as_str().unwrap()).collect();
    assert_eq!(names[0], "crawl_raw", "the crawl comes first");
    let revenue = nodes.iter().find(|n| n["node"] == "revenue").unwrap();
    assert_eq!(revenue["runs_when"], "crawl_raw succeeded");
}

/// cron runs the line with `sh -c`, no terminal and a bare environment.
fn run_like_cron(line: &str, home: &Path) -> std::process::Output {
    let fields: Vec<&str> = line.splitn(6, ' ').collect();
    assert_eq!(fields.len(), 6, "{line}");
    std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(fields[5].replace(r"\%", "%"))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("SHELL", "/bin/sh")
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn a_scheduled_failing_job_logs_json_writes_metrics_and_calls_its_failure_hook() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    copy_tree(&repo().join("testdata/lake/orders"), &lake.join("orders"));
    count_job(dir.path(), "nightly_count", true);
    let hook_out = dir.path().join("hook.json");
    let job = dir.path().join("nightly_count.toml");
    let mut text = std::fs::read_to_string(&job).unwrap();
    text.push_str(&format!(
        "\n[on_failure]\ncommand = \"cat > {}\"\n",
        hook_out.display()
    ));
    std::fs::write(&job, text).unwrap();
    let (metrics, logs, catalog) = (
        dir.path().join("metrics"),
        dir.path().join("logs"),
        dir.path().join("c.db"),
    );
    std::fs::create_dir(&metrics).unwrap();
    let printed = sluice()
        .current_dir(dir.path())
        .args([
            "--catalog",
            catalog.to_str().unwrap(),
            "schedule",
            "print",
            "--cron",
            "0 2 * * *",
        ])
        .arg(&job)
        .args([
            "--metrics-dir",
            metrics.to_str().unwrap(),
            "--log-dir",
            logs.to_str().unwrap(),
        ])
        .args(["--param", &format!("lake={}", lake.display())])
        .args(["--param", &format!("out={}", dir.path().join("out").display())])
        .output()
        .unwrap();
    let printed = Run::from(printed).ok();
    let line = printed.lines().find(|l| !l.starts_with('#')).unwrap();
    assert!(line.starts_with("0 2 * * * cd "), "{printed}");
    assert!(printed.contains("(next: "), "{printed}");

    let ran = run_like_cron(line, dir.path());
    assert_eq!(ran.status.code(), Some(1), "the job fails: {ran:?}");
    let log = std::fs::read_to_string(logs.join("nightly_count.log")).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty(), "nothing logged");
    let error = lines
        .iter()
        .find(|l| l["level"] == "ERROR")
        .unwrap_or_else(|| panic!("no error line in {log}"));
    assert!(error.to_string().contains("row_count > 1000000"), "{error}");
    let prom = std::fs::read_to_string(metrics.join("sluice_nightly_count.prom")).unwrap();
    assert!(
        prom.contains("sluice_job_last_run_success{job=\"nightly_count\"} 0"),
        "{prom}"
    );
    assert!(prom.contains("sluice_job_last_run_status{job=\"nightly_count\",status=\"failed\"} 1"));
    let hooked: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&hook_out).unwrap()).unwrap();
    assert_eq!(hooked["job"], "nightly_count");
    assert_eq!(hooked["status"], "failed");

    let units = sluice()
        .current_dir(dir.path())
        .args(["schedule", "print", "--systemd", "--cron", "*/30 1-3 * * mon-fri"])
        .arg(&job)
        .output()
        .unwrap();
    let units = Run::from(units).ok();
    assert!(
        units.contains("OnCalendar=Mon,Tue,Wed,Thu,Fri *-*-* 01,02,03:00,30:00\n"),
        "{units}"
    );
    assert!(units.contains("[Service]\nType=oneshot\n"), "{units}");
    assert!(units.contains(" run "), "{units}");
    if let Ok(check) = std::process::Command::new("systemd-analyze")
        .args(["calendar", "Mon,Tue,Wed,Thu,Fri *-*-* 01,02,03:00,30:00"])
        .output()
    {
        assert!(
            check.status.success(),
            "systemd-analyze refused the calendar: {check:?}"
        );
    }
}

/// Runs sluice under a pseudo-terminal (`script`), returning everything it drew.
fn on_a_terminal(args: &str) -> Option<String> {
    let log = tempfile::NamedTempFile::new().unwrap();
    let status = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("{} {args}", env!("CARGO_BIN_EXE_sluice")),
            log.path().to_str().unwrap(),
        ])
        .env("SLUICE_MEMORY_LIMIT", "1GiB")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
        .ok()?;
    assert!(status.success(), "sluice {args} failed under script");
    Some(String::from_utf8_lossy(&std::fs::read(log.path()).unwrap()).into_owned())
}

#[test]
fn progress_bars_show_on_a_terminal_and_never_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let catalog = dir.path().join("c.db");
    let lake = repo().join("testdata/lake");
    let args = format!(
        "--catalog {} convert {}/orders/ {} --partition-by order_date",
        catalog.display(),
        lake.display(),
        out.display()
    );
    let Some(drawn) = on_a_terminal(&args) else {
        assert!(!crate::test_util::in_ci(), "`script` (util-linux) is missing");
        return;
    };
    assert!(drawn.contains("written 60 rows, 3 files"), "{drawn}");
    assert!(
        drawn.contains("inspected"),
        "schema inference shows its files: {drawn}"
    );
    // Not a terminal: the same command draws nothing on stderr.
    let plain = sluice()
        .args(args.split(' '))
        .arg("--mode")
        .arg("overwrite")
        .output()
        .unwrap();
    let plain = Run::from(plain);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    assert!(!plain.stderr.contains("written"), "{}", plain.stderr);
}
