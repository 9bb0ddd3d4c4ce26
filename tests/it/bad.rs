//! Bad records (testdata/bad/): `sql`, `convert` and a job under fail, skip and quarantine; good +
//! left-out = every record; quarantine files name the right lines; DuckDB agrees where it reads
//! the same way.

use std::path::Path;

use crate::test_util::{Run, copy_tree, python, python_json, repo, run, sluice, with_catalog};

fn bad(name: &str) -> String {
    format!("{}/testdata/bad/{name}", repo().display())
}

/// (file, bad lines, records in all).
const CORPUS: &[(&str, &[u64], u64)] = &[
    ("wrong_fields.csv", &[6, 12], 40),
    ("bad_values.csv", &[20], 40),
    ("bad_values.csv.gz", &[20], 40),
    ("invalid_utf8.csv", &[4], 40),
    ("bad_lines.ndjson", &[3, 5, 7], 10),
    ("bom_crlf_multiline.csv", &[], 3),
    ("header_only.csv", &[], 0),
    ("empty.csv", &[], 0),
];

fn count(extra: &[&str], file: &str) -> Run {
    let mut args = vec!["sql", "--format", "csv"];
    args.extend_from_slice(extra);
    let query = format!("SELECT count(*) AS n FROM '{}'", bad(file));
    args.push(&query);
    run(&args)
}

fn quarantined(dir: &Path) -> Vec<serde_json::Value> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        lines.extend(
            text.lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()),
        );
    }
    lines
}

#[test]
fn every_policy_on_every_broken_file() {
    for (file, bad_lines, total) in CORPUS {
        let good = total - bad_lines.len() as u64;
        // fail (explicit): exit 2 naming the file, the first bad line and the record's text.
        let failed = count(&["--on-bad-records", "fail"], file);
        if let Some(first) = bad_lines.first() {
            assert_eq!(failed.code, 2, "{file}: {}", failed.stderr);
            assert!(
                failed.stderr.contains(&format!("{file}, line {first} (byte ")),
                "{file}: {}",
                failed.stderr
            );
            assert!(
                failed.stderr.contains("the record: `"),
                "{file}: {}",
                failed.stderr
            );
        } else {
            assert_eq!(failed.ok().trim(), format!("n\n{good}"), "{file}");
        }

        // skip: the good rows, and the counts.
        let skipped = count(&["--on-bad-records", "skip"], file);
        let stderr = skipped.stderr.clone();
        assert_eq!(skipped.ok().trim(), format!("n\n{good}"), "{file}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "bad records: {good} good, {} skipped, 0 quarantined",
                bad_lines.len()
            )),
            "{file}: {stderr}"
        );

        // quarantine: the bad lines, each with its file, offset, reason and raw text.
        let q = tempfile::tempdir().unwrap();
        let out = count(&["--quarantine", q.path().to_str().unwrap()], file);
        let stderr = out.stderr.clone();
        assert_eq!(out.ok().trim(), format!("n\n{good}"), "{file}: {stderr}");
        let records = quarantined(q.path());
        let lines: Vec<u64> = records.iter().map(|r| r["line"].as_u64().unwrap()).collect();
        assert_eq!(lines, *bad_lines, "{file}: {records:?}");
        for r in &records {
            assert!(r["file"].as_str().unwrap().ends_with(file), "{r}");
            assert!(!r["reason"].as_str().unwrap().is_empty(), "{r}");
            assert!(r["offset"].as_u64().is_some(), "{r}");
            assert!(!r["raw"].as_str().unwrap().is_empty(), "{r}");
        }
    }
}

#[test]
fn quarantined_records_hold_the_raw_text_at_their_offset() {
    let q = tempfile::tempdir().unwrap();
    count(&["--quarantine", q.path().to_str().unwrap()], "wrong_fields.csv").ok();
    let text = std::fs::read(bad("wrong_fields.csv")).unwrap();
    for r in quarantined(q.path()) {
        let offset = r["offset"].as_u64().unwrap() as usize;
        let raw = r["raw"].as_str().unwrap();
        assert_eq!(&text[offset..offset + raw.len()], raw.as_bytes(), "{r}");
        // The line number is the count of line ends before the offset, plus one.
        let line = text[..offset].iter().filter(|b| **b == b'\n').count() as u64 + 1;
        assert_eq!(r["line"], line, "{r}");
    }
    let reasons: Vec<String> = quarantined(q.path())
        .iter()
        .map(|r| r["reason"].as_str().unwrap().to_string())
        .collect();
    assert!(
        reasons.iter().all(|r| r.contains("incorrect number of fields")),
        "{reasons:?}"
    );
}

#[test]
fn skipped_rows_match_what_duckdb_reads_ignoring_errors() {
    let Some(py) = python() else { return };
    for file in ["wrong_fields.csv", "bom_crlf_multiline.csv"] {
        let ours = run(&[
            "sql",
            "--on-bad-records",
            "skip",
            "--format",
            "json",
            &format!("SELECT id, name FROM '{}' ORDER BY id", bad(file)),
        ])
        .json();
        let theirs = python_json(
            &py,
            "import duckdb, json, sys\nrows = duckdb.sql(f\"SELECT id, name FROM read_csv('{sys.argv[1]}', ignore_errors=true) ORDER BY id\").fetchall()\nprint(json.dumps([{'id': i, 'name': n} for i, n in rows]))",
            &[&bad(file)],
        );
        assert_eq!(serde_json::Value::Array(ours), theirs, "{file}");
    }
}

#[test]
fn convert_quarantines_before_it_commits_and_max_bad_records_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let q = dir.path().join("q");
    let convert = |extra: &[&str]| {
        Run::from(
            sluice()
                .args([
                    "convert",
                    &bad("wrong_fields.csv"),
                    out.to_str().unwrap(),
                    "--format",
                    "json",
                ])
                .args(["--mode", "overwrite", "--quarantine", q.to_str().unwrap()])
                .args(extra)
                .output()
                .unwrap(),
        )
    };
    // Two bad records: over a limit of 1, and over 1% of 40.
    for limit in ["1", "1%"] {
        let stopped = convert(&["--max-bad-records", limit]);
        assert_eq!(stopped.code, 2, "{limit}: {}", stopped.stderr);
        assert!(stopped.stderr.contains("over the limit of"), "{}", stopped.stderr);
        assert!(
            stopped.stderr.contains("wrong_fields.csv, line 6"),
            "{}",
            stopped.stderr
        );
        let parquet = walk(&out).into_iter().filter(|p| p.ends_with(".parquet")).count();
        assert_eq!(parquet, 0, "{limit}: a stopped convert left data behind");
    }
    let done = convert(&["--max-bad-records", "10%"]);
    let record: Vec<serde_json::Value> = serde_json::from_str(&done.ok()).unwrap();
    assert_eq!(record[0]["rows"], 38);
    assert_eq!(record[0]["quarantined_records"], 2);
    let lines: Vec<u64> = quarantined(&q)
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert!(lines.ends_with(&[6, 12]), "{lines:?}");
}

fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.map(|e| e.unwrap()) {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

#[test]
fn a_job_source_quarantines_and_its_record_and_metrics_count_them() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events");
    std::fs::create_dir(&events).unwrap();
    std::fs::copy(bad("bad_lines.ndjson"), events.join("part-1.ndjson")).unwrap();
    copy_tree(&repo().join("testdata/bad"), &dir.path().join("unused"));
    let job = dir.path().join("job.toml");
    let (out, q) = (dir.path().join("out"), dir.path().join("q"));
    std::fs::write(
        &job,
        format!(
            "name = \"events\"\n[sources.events]\npath = \"{}\"\non_bad_records = \"quarantine\"\nquarantine = \"{}\"\nmax_bad_records = 5\n\n[[steps]]\nname = \"kept\"\nsql = \"SELECT id, name, amount FROM events\"\n\n[[sinks]]\nfrom = \"kept\"\npath = \"{}\"\nmode = \"overwrite\"\n\n[[quality]]\nstep = \"kept\"\nrule = \"row_count = 7\"\n",
            events.display(),
            q.display(),
            out.display()
        ),
    )
    .unwrap();
    let catalog = dir.path().join("c.db");
    let prom = dir.path().join("m.prom");
    let ran = with_catalog(
        &catalog,
        &[
            "run",
            job.to_str().unwrap(),
            "--format",
            "json",
            "--metrics-file",
            prom.to_str().unwrap(),
        ],
    );
    let record: serde_json::Value = serde_json::from_str(&ran.ok()).unwrap();
    let source = &record["sources"][0];
    assert_eq!(source["on_bad_records"], "quarantine");
    assert_eq!(source["records_quarantined"], 3, "{source}");
    assert_eq!(
        source["rows_read"], 7,
        "each record counts once, however often it was scanned"
    );
    assert_eq!(record["rows_written"], 7);
    let file = source["quarantine_file"].as_str().unwrap();
    assert!(
        file.ends_with(&format!("{}-events.ndjson", record["run_id"].as_str().unwrap())),
        "{file}"
    );
    let lines: Vec<u64> = quarantined(&q)
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(
        lines,
        [3, 5, 7],
        "a record read by the sink and the rule is quarantined once"
    );
    let metrics = std::fs::read_to_string(&prom).unwrap();
    assert!(
        metrics.contains("sluice_job_last_run_bad_records{job=\"events\"} 3"),
        "{metrics}"
    );

    // A bad policy value is a bad job file.
    let text = std::fs::read_to_string(&job)
        .unwrap()
        .replace("\"quarantine\"\n", "\"drop\"\n");
    std::fs::write(&job, text).unwrap();
    let invalid = with_catalog(&catalog, &["run", job.to_str().unwrap()]);
    assert_eq!(invalid.code, 2, "{}", invalid.stderr);
    assert!(
        invalid.stderr.contains("`drop` is not fail, skip or quarantine"),
        "{}",
        invalid.stderr
    );
}

#[test]
fn csv_files_with_reordered_and_missing_columns_are_read_by_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.csv"), "id,name,amount\n1,a,10\n2,b,20\n").unwrap();
    std::fs::write(dir.path().join("b.csv"), "amount,id\n30,3\n40,4\n").unwrap();
    let rows = run(&[
        "sql",
        "--format",
        "json",
        &format!(
            "SELECT id, name, amount FROM '{}/' ORDER BY id",
            dir.path().display()
        ),
    ])
    .json();
    assert_eq!(
        serde_json::Value::Array(rows),
        serde_json::json!([
            {"id": 1, "name": "a", "amount": 10},
            {"id": 2, "name": "b", "amount": 20},
            // JSON output leaves NULLs out.
            {"id": 3, "amount": 30},
            {"id": 4, "amount": 40},
        ])
    );
}

#[test]
fn hostile_input_gets_clear_errors_and_never_a_write_outside_the_destination() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();

    // A folder that links to itself: a clear error, not a hang.
    let looped = root.join("loop");
    std::fs::create_dir(&looped).unwrap();
    std::fs::write(looped.join("x.csv"), "a\n1\n").unwrap();
    std::os::unix::fs::symlink(&looped, looped.join("self")).unwrap();
    let r = run(&["sql", &format!("SELECT count(*) FROM '{}/'", looped.display())]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("loop"), "{}", r.stderr);

    // A file that is not what its name says.
    let fake = root.join("fake");
    std::fs::create_dir(&fake).unwrap();
    std::fs::copy(bad("bad_values.csv.gz"), fake.join("data.csv")).unwrap();
    let r = run(&["sql", &format!("SELECT count(*) FROM '{}/'", fake.display())]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("data.csv") && r.stderr.contains("gzip"),
        "{}",
        r.stderr
    );

    // Partition values crafted as paths stay folder names inside the destination.
    let input = root.join("p.csv");
    std::fs::write(&input, "k,v\n../x,1\n/abs,2\n..,3\n../../etc,4\n").unwrap();
    let out = root.join("out");
    run(&[
        "convert",
        input.to_str().unwrap(),
        out.to_str().unwrap(),
        "--partition-by",
        "k",
        "-q",
    ])
    .ok();
    let inside = walk(root);
    assert!(
        inside
            .iter()
            .filter(|p| p.ends_with(".parquet"))
            .all(|p| p.starts_with(&out.display().to_string())),
        "{inside:?}"
    );
    assert_eq!(
        std::fs::read_dir(root).unwrap().count(),
        4,
        "something was written beside out/"
    );
    let back = run(&[
        "sql",
        "--format",
        "csv",
        &format!("SELECT k, v FROM '{}/' ORDER BY v", out.display()),
    ])
    .ok();
    assert_eq!(back, "k,v\n../x,1\n/abs,2\n..,3\n../../etc,4\n");

    // A line of 16 MiB is one record, in both readers.
    let long = root.join("long");
    std::fs::create_dir(&long).unwrap();
    let mut text = String::from("id,blob\n1,");
    text.push_str(&"x".repeat(16 << 20));
    text.push_str("\n2,short\n");
    std::fs::write(long.join("l.csv"), text).unwrap();
    for extra in [&[][..], &["--on-bad-records", "skip"][..]] {
        let mut args = vec!["sql", "--format", "csv"];
        args.extend_from_slice(extra);
        let q = format!(
            "SELECT count(*) AS n, max(length(blob)) AS m FROM '{}/'",
            long.display()
        );
        args.push(&q);
        assert_eq!(run(&args).ok(), format!("n,m\n2,{}\n", 16 << 20), "{extra:?}");
    }
}

#[test]
fn escape_comment_and_delimiter_characters_read_alike_in_both_readers() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("a.csv");
    std::fs::write(
        &input,
        "# exported 2026-11-22\nid;note\n1;\"say \\\"hi\\\"; ok\"\n# a comment\n2;plain\n",
    )
    .unwrap();
    for (i, extra) in [&[][..], &["--on-bad-records", "skip"][..]].iter().enumerate() {
        let out = dir.path().join(format!("out{i}"));
        let mut args = vec![
            "convert",
            input.to_str().unwrap(),
            out.to_str().unwrap(),
            "--delimiter",
            ";",
            "--escape",
            "\\",
            "--comment",
            "#",
            "-q",
        ];
        args.extend_from_slice(extra);
        run(&args).ok();
        let back = run(&[
            "sql",
            "--format",
            "json",
            &format!("SELECT id, note FROM '{}/' ORDER BY id", out.display()),
        ])
        .json();
        assert_eq!(
            serde_json::Value::Array(back),
            serde_json::json!([{"id": 1, "note": "say \"hi\"; ok"}, {"id": 2, "note": "plain"}]),
            "{extra:?}"
        );
    }
}

#[test]
fn json_array_files_are_read_and_crawled_and_a_mix_with_ndjson_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("lake/t");
    std::fs::create_dir_all(&t).unwrap();
    std::fs::write(
        t.join("a.json"),
        "[\n {\"id\": 1, \"v\": \"a\"},\n {\"id\": 2, \"v\": \"b\"}\n]\n",
    )
    .unwrap();
    std::fs::write(t.join("b.json"), "[{\"id\": 3, \"v\": \"c\"}]").unwrap();
    let q = format!("SELECT id, v FROM '{}/' ORDER BY id", t.display());
    assert_eq!(run(&["sql", "--format", "csv", &q]).ok(), "id,v\n1,a\n2,b\n3,c\n");
    let catalog = dir.path().join("c.db");
    let lake = dir.path().join("lake");
    with_catalog(&catalog, &["crawl", lake.to_str().unwrap(), "-q"]).ok();
    let through = with_catalog(
        &catalog,
        &["sql", "--format", "csv", "SELECT count(*) AS n FROM default.t"],
    );
    assert_eq!(through.ok(), "n\n3\n");
    // An NDJSON file joining the table: refused, naming it.
    std::fs::write(t.join("c.json"), "{\"id\": 4, \"v\": \"d\"}\n").unwrap();
    let mixed = with_catalog(&catalog, &["crawl", lake.to_str().unwrap()]);
    assert_eq!(mixed.code, 2, "{}", mixed.stderr);
    assert!(
        mixed.stderr.contains("c.json") && mixed.stderr.contains("JSON arrays"),
        "{}",
        mixed.stderr
    );
}

#[test]
fn a_bad_record_on_the_default_path_is_named_by_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    for (day, body) in [
        ("2026-11-01", "id,amount\n1,10.5\n2,7\n"),
        ("2026-11-02", "id,amount\n3,1.5\n4,2.5\n"),
        ("2026-11-03", "id,amount\n5,3\n6,4\n"),
    ] {
        let folder = lake.join(format!("day={day}"));
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("part.csv"), body).unwrap();
    }
    let catalog = dir.path().join("c.db");
    with_catalog(
        &catalog,
        &["crawl", lake.to_str().unwrap(), "--database", "raw", "-q"],
    )
    .ok();
    // A value that no longer fits the crawled type arrives after the crawl.
    std::fs::write(lake.join("day=2026-11-02/part.csv"), "id,amount\n3,1.5\n4,n/a\n").unwrap();
    let declared = format!(
        "CREATE EXTERNAL TABLE d (id INT, amount DOUBLE) STORED AS CSV PARTITIONED BY (day) LOCATION '{}/' OPTIONS ('format.has_header' 'true'); SELECT sum(amount) FROM d",
        lake.display()
    );
    let quoted = format!(
        "SELECT sum(CAST(id AS BIGINT)) FROM '{}/day=2026-11-02/part.csv' WHERE id > 0 UNION ALL SELECT count(*) FROM '{}'",
        lake.display(),
        bad("wrong_fields.csv")
    );
    for sql in ["SELECT sum(amount) FROM raw.lake".to_string(), declared, quoted] {
        let out = with_catalog(&catalog, &["sql", &sql]);
        assert_eq!(out.code, 2, "{sql}: {}", out.stderr);
        assert!(
            out.stderr.contains("bad record in ") && out.stderr.contains(", line "),
            "{sql}: the file and line are named: {}",
            out.stderr
        );
    }
}
