//! `sluice --help`, `sluice sql`: formats, inputs, statements, errors and exit codes.

use crate::test_util::{lake, run, run_with_stdin};

#[test]
fn help_lists_the_commands() {
    let out = run(&["--help"]).ok();
    for command in ["sql", "convert"] {
        assert!(out.contains(command), "{out}");
    }
}

#[test]
fn groups_the_partitioned_csv_lake() {
    let sql = format!(
        "SELECT order_date, count(*) AS n, round(sum(amount), 2) AS total FROM '{}' GROUP BY order_date ORDER BY order_date",
        lake("orders")
    );
    let out = run(&["sql", "--format", "csv", &sql]).ok();
    assert_eq!(
        out,
        "order_date,n,total\n2026-11-01,20,5824.95\n2026-11-02,20,5664.02\n2026-11-03,20,5500.77\n"
    );
}

#[test]
fn reads_plain_and_bzip2_ndjson_together() {
    let sql = format!("SELECT id, name, region FROM '{}' ORDER BY id", lake("customers"));
    let rows = run(&["sql", "--format", "json", &sql]).json();
    assert_eq!(rows.len(), 8);
    assert_eq!(rows[3]["name"], "Émilie du Châtelet");
    assert_eq!(rows[5]["id"], 6);
    assert!(rows[5].get("region").is_none_or(|v| v.is_null()), "{:?}", rows[5]);
}

#[test]
fn every_output_format() {
    let sql = "SELECT 1 AS a, 'x,y' AS b UNION ALL SELECT 2, NULL ORDER BY a";
    assert_eq!(run(&["sql", "--format", "csv", sql]).ok(), "a,b\n1,\"x,y\"\n2,\n");
    assert_eq!(
        run(&["sql", "--format", "ndjson", sql]).ok(),
        "{\"a\":1,\"b\":\"x,y\"}\n{\"a\":2}\n"
    );
    assert_eq!(
        run(&["sql", "--format", "json", sql]).ok(),
        "[{\"a\":1,\"b\":\"x,y\"},{\"a\":2}]\n"
    );
    let table = run(&["sql", "--format", "table", sql]).ok();
    assert!(
        table.contains("| a | b    |") && table.contains("| 1 | x,y  |") && table.contains("| 2 | NULL |"),
        "{table}"
    );
}

#[test]
fn the_table_format_shows_null_apart_from_empty_text_and_fits_the_terminal() {
    let sql = "SELECT '' AS empty, NULL AS missing, repeat('long text ', 20) AS wide";
    let table = run(&["sql", "--format", "table", sql]).ok();
    let row = table.lines().nth(3).unwrap();
    assert!(row.starts_with("|       | NULL    | long text"), "{table}");
    // A 60-column terminal: long cells wrap, every line fits, and the output says so.
    let narrow = crate::test_util::Run::from(
        crate::test_util::sluice()
            .env("COLUMNS", "60")
            .args(["sql", "--format", "table", sql])
            .output()
            .unwrap(),
    )
    .ok();
    assert!(narrow.lines().all(|l| l.chars().count() <= 60), "{narrow}");
    assert!(
        narrow.contains("(wrapped to fit 60 columns; see --format csv)"),
        "{narrow}"
    );
    assert!(narrow.lines().count() > table.lines().count(), "{narrow}");
    // Listings show sizes in human units in a table and exact numbers in csv.
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("c.db");
    let lake = crate::test_util::repo().join("testdata/lake/");
    crate::test_util::with_catalog(&catalog, &["crawl", lake.to_str().unwrap(), "--database", "raw"]).ok();
    let listed = crate::test_util::with_catalog(&catalog, &["tables", "--format", "table"]).ok();
    assert!(listed.contains(" KiB ") || listed.contains(" B "), "{listed}");
    let csv = crate::test_util::with_catalog(&catalog, &["tables", "--format", "csv"]).ok();
    assert!(!csv.contains("KiB"), "{csv}");
}

#[test]
fn sql_from_stdin_and_file() {
    let out = run_with_stdin(&["sql", "--format", "csv"], "SELECT 40 + 2 AS answer;").ok();
    assert_eq!(out, "answer\n42\n");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.sql");
    std::fs::write(&file, "-- a comment\nSELECT 'from file' AS src;\n").unwrap();
    let out = run(&["sql", "--format", "csv", "-f", file.to_str().unwrap()]).ok();
    assert_eq!(out, "src\nfrom file\n");
}

#[test]
fn several_statements_ddl_and_partitioned_copy() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("by_status");
    let orders = format!("{}order_date=2026-11-01/", lake("orders"));
    let script = format!(
        "CREATE EXTERNAL TABLE orders STORED AS CSV LOCATION '{orders}' OPTIONS ('format.has_header' 'true');
         COPY (SELECT order_id, amount, status FROM orders) TO '{out}/' STORED AS PARQUET PARTITIONED BY (status);
         SELECT status, count(*) AS n FROM '{out}/' GROUP BY status ORDER BY status;",
        out = out_dir.display()
    );
    let out = run(&["sql", "--format", "csv", &script]).ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"count"), "{out}");
    let idx = lines
        .iter()
        .position(|l| *l == "status,n")
        .expect("the last statement's header");
    let total: i64 = lines[idx + 1..]
        .iter()
        .map(|l| l.split(',').nth(1).unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, 20, "{out}");
    assert!(
        out_dir.join("_delta_log/00000000000000000000.json").is_file(),
        "COPY ... PARTITIONED BY went through sluice's writer and commit"
    );
}

#[test]
fn information_schema_is_available() {
    let out = run(&[
        "sql",
        "--format",
        "csv",
        "CREATE VIEW v AS SELECT 1 AS x; SELECT table_name FROM information_schema.tables WHERE table_name = 'v'",
    ])
    .ok();
    assert_eq!(out, "table_name\nv\n");
}

#[test]
fn output_file_by_extension() {
    let dir = tempfile::tempdir().unwrap();
    for ext in ["parquet", "csv", "json"] {
        let path = dir.path().join(format!("result.{ext}"));
        let sql = format!("SELECT * FROM '{}'", lake("orders"));
        let r = run(&["sql", &sql, "--output", path.to_str().unwrap()]);
        assert!(r.stderr.contains("wrote 60 row(s)"), "{}", r.stderr);
        assert_eq!(r.code, 0);
        let back = format!("SELECT count(*) AS n FROM '{}'", path.display());
        assert_eq!(run(&["sql", "--format", "csv", &back]).ok(), "n\n60\n", "{ext}");
    }
}

#[test]
fn missing_path_exits_2_and_names_it() {
    let r = run(&["sql", "SELECT * FROM 'no/such/folder/'"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("`no/such/folder/` does not exist"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[test]
fn bad_sql_exits_2_with_position() {
    let r = run(&["sql", "SELEC 1"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("Line: 1, Column: 1"), "{}", r.stderr);
    let r = run(&["sql", "SELECT nope FROM (SELECT 1 AS x)"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("nope"), "{}", r.stderr);
}

#[test]
fn failing_query_exits_1() {
    let r = run(&["sql", "SELECT 1 / 0"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.to_lowercase().contains("divide by zero"), "{}", r.stderr);
}

#[test]
fn unreadable_sql_file_exits_2() {
    let r = run(&["sql", "-f", "/no/such/query.sql"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("/no/such/query.sql"), "{}", r.stderr);
}

#[test]
fn bad_memory_limit_exits_2() {
    let r = run(&["--memory-limit", "lots", "sql", "SELECT 1"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--memory-limit"), "{}", r.stderr);
}

#[test]
fn small_memory_limit_spills_instead_of_failing() {
    let dir = tempfile::tempdir().unwrap();
    let spill = dir.path().join("spill");
    let r = crate::test_util::sluice()
        .args([
            "--memory-limit",
            "20MiB",
            "--spill-dir",
            spill.to_str().unwrap(),
            "--target-partitions",
            "2",
            "sql",
            "--format",
            "csv",
            "SELECT count(*) AS n, sum(x) AS s FROM (SELECT v % 1000003 AS x FROM generate_series(1, 3000000) AS t(v) ORDER BY x DESC)",
        ])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(String::from_utf8_lossy(&r.stdout).starts_with("n,s\n3000000,"));
}

#[test]
fn reads_zstd_xz_and_plain_ndjson_in_one_table() {
    let sql = format!(
        "SELECT kind, count(*) AS n, sum(event_id) AS s FROM '{}' GROUP BY kind ORDER BY kind",
        lake("events")
    );
    assert_eq!(
        run(&["sql", "--format", "csv", &sql]).ok(),
        "kind,n,s\nbuy,3,15\nclick,3,9\nview,3,12\n"
    );
}

#[test]
fn completions_and_the_man_page_come_from_the_command_line_definitions() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = crate::test_util::run(&["completions", shell]).ok();
        assert!(
            out.contains("bookmark") && out.contains("crawl"),
            "{shell}: {out}"
        );
    }
    let man = crate::test_util::run(&["man"]).ok();
    assert!(man.contains(".TH sluice 1") && man.contains("run"), "{man}");
    let bad = crate::test_util::run(&["completions", "cmd.exe"]);
    assert_eq!(bad.code, 2);
}

#[test]
fn doctor_reports_a_wrong_endpoint_clearly_and_never_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::test_util::Run::from(
        crate::test_util::sluice()
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_ACCESS_KEY_ID", "doctor-key")
            .env("AWS_SECRET_ACCESS_KEY", "doctor-very-secret")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ALLOW_HTTP", "true")
            .env("SLUICE_S3_MAX_RETRIES", "1")
            .env("SLUICE_S3_RETRY_TIMEOUT_SECS", "3")
            .arg("--catalog")
            .arg(dir.path().join("c.db"))
            .args(["doctor", "s3://nobucket/raw/", "--format", "json"])
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 1, "{}", out.stderr);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).unwrap();
    let list = rows
        .iter()
        .find(|r| r["check"] == "list s3://nobucket/raw/")
        .unwrap();
    assert_eq!(list["status"], "fail");
    assert!(list["detail"].as_str().unwrap().contains("127.0.0.1:9"), "{list}");
    assert!(!out.stdout.contains("doctor-very-secret") && !out.stderr.contains("doctor-very-secret"));
    assert!(!dir.path().join("c.db").exists(), "doctor created the catalog");
    let local = crate::test_util::run(&["doctor", &crate::test_util::lake("orders"), "--format", "json"]);
    assert_eq!(local.code, 0, "{}", local.stderr);
}

#[test]
fn a_join_hashes_the_smaller_table_whichever_side_it_is_written_on() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.csv");
    let small = dir.path().join("small.csv");
    let mut rows = String::from("id,k\n");
    for i in 0..20_000 {
        rows.push_str(&format!("{i},{}\n", i % 10));
    }
    std::fs::write(&big, rows).unwrap();
    std::fs::write(&small, "k,name\n0,zero\n1,one\n2,two\n").unwrap();
    let (big, small) = (big.to_str().unwrap(), small.to_str().unwrap());
    let query = format!(
        "SELECT s.name, count(*) AS n FROM '{big}' b JOIN '{small}' s ON b.k = s.k GROUP BY s.name ORDER BY s.name"
    );
    // The big table is written first (DataFusion's build side); row estimates swap the sides so
    // the three-row table is the one hashed, once for all partitions.
    let plan = run(&[
        "--target-partitions",
        "2",
        "sql",
        "--format",
        "csv",
        &format!("EXPLAIN {query}"),
    ])
    .ok();
    let join = plan.find("HashJoinExec").unwrap_or_else(|| panic!("{plan}"));
    let build = &plan[join..];
    assert!(build.contains("mode=CollectLeft"), "{plan}");
    let first_scan = build.find("DataSourceExec").unwrap_or_else(|| panic!("{plan}"));
    assert!(
        build[first_scan..]
            .split('\n')
            .next()
            .unwrap()
            .contains("small.csv"),
        "{plan}"
    );
    assert_eq!(
        run(&["sql", "--format", "csv", &query]).ok(),
        "name,n\none,2000\ntwo,2000\nzero,2000\n"
    );
}

#[test]
fn declared_tables_keep_their_types_and_get_sluices_reader() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("a.csv"), "id,amount\n1,10.5\n2,oops\n3,7\n").unwrap();
    // Declared types over a Hive-partitioned folder with plain and gzip files.
    let declared = format!(
        "CREATE EXTERNAL TABLE o (order_id BIGINT, customer_id INT, amount DECIMAL(10,2), status VARCHAR, note VARCHAR)
           STORED AS CSV PARTITIONED BY (order_date) LOCATION '{}' OPTIONS ('format.has_header' 'true');",
        lake("orders")
    );
    let out = run(&[
        "sql",
        "--format",
        "csv",
        &format!(
            "{declared} SELECT arrow_typeof(amount) AS t, count(*) AS n, sum(amount) AS s, min(order_date) AS d FROM o GROUP BY 1"
        ),
    ])
    .ok();
    assert_eq!(out, "t,n,s,d\n\"Decimal128(10, 2)\",60,16989.74,2026-11-01\n");

    // A bad-records policy applies to a declared table, naming the file and line it left out.
    let table = format!(
        "CREATE EXTERNAL TABLE b (id INT, amount DECIMAL(10,2)) STORED AS CSV LOCATION '{}/' OPTIONS ('format.has_header' 'true');",
        bad.display()
    );
    let skipped = run(&[
        "sql",
        "--on-bad-records",
        "skip",
        "--format",
        "csv",
        &format!("{table} SELECT sum(amount) AS s FROM b"),
    ]);
    assert_eq!(skipped.code, 0, "{}", skipped.stderr);
    assert_eq!(skipped.stdout, "s\n17.50\n");
    assert!(skipped.stderr.contains("a.csv, line 3"), "{}", skipped.stderr);

    // A compression the file names do not carry would be misread: refused.
    let gz = format!(
        "CREATE EXTERNAL TABLE g STORED AS CSV LOCATION '{}/' OPTIONS ('format.compression' 'gzip'); SELECT * FROM g",
        bad.display()
    );
    let refused = run(&["sql", &gz]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("not named as Gzip-compressed"),
        "{}",
        refused.stderr
    );

    // An option only DataFusion's reader takes: the table is DataFusion's, as before.
    let foreign = format!(
        "CREATE EXTERNAL TABLE f (id INT, amount VARCHAR) STORED AS CSV LOCATION '{}/' OPTIONS ('format.has_header' 'true', 'format.null_regex' 'x'); SELECT count(*) AS n FROM f",
        bad.display()
    );
    assert_eq!(run(&["sql", "--format", "csv", &foreign]).ok(), "n\n3\n");
}

#[test]
fn unknown_names_are_answered_with_what_exists() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("c.db");
    let lake = crate::test_util::repo().join("testdata/lake/");
    let with = |args: &[&str]| crate::test_util::with_catalog(&catalog, args);
    with(&["crawl", lake.to_str().unwrap(), "--database", "raw"]).ok();
    let expect = |args: &[&str], error: &str, hint: &str| {
        let out = with(args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains(error) && out.stderr.contains(hint),
            "{args:?}: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("datafusion."), "{}", out.stderr);
    };
    expect(
        &["sql", "SELECT * FROM raw.ordrs"],
        "error: table `raw.ordrs` not found",
        "hint: did you mean raw.orders? database `raw` has: raw.customers, raw.events, raw.orders",
    );
    expect(
        &["sql", "SELECT * FROM curated.orders"],
        "error: database `curated` not found (in `curated.orders`)",
        "hint: the catalog has databases: raw",
    );
    expect(
        &["sql", "SELECT * FROM orders"],
        "error: table `orders` not found",
        "did you mean raw.orders?",
    );
    expect(
        &["sql", "SELECT totl FROM raw.orders"],
        "error: No field named totl",
        "Valid fields are raw.orders.order_id",
    );
    expect(
        &["table", "show", "raw.ordr"],
        "table `raw.ordr` not found",
        "did you mean raw.orders?",
    );
    expect(
        &["runs", "daily_revenu"],
        "job `daily_revenu` has no runs",
        "jobs with runs: none yet",
    );
}

#[test]
fn help_shows_a_commands_own_options_then_the_global_ones_then_examples() {
    let own = [
        ("sql", "--output"),
        ("convert", "--partition-by"),
        ("crawl", "--database"),
        ("run", "--param"),
        ("runs", "--limit"),
        ("vacuum", "--retain"),
        ("optimize", "--where"),
        ("tables", "--database"),
        ("doctor", "--help"),
    ];
    for (command, option) in own {
        let help = run(&[command, "--help"]).ok();
        let at = |text: &str| {
            help.find(text)
                .unwrap_or_else(|| panic!("{command} --help lacks {text}:\n{help}"))
        };
        assert!(at(option) < at("Global options:"), "{command}:\n{help}");
        assert!(
            at("Global options:") < at("--catalog <PATH>"),
            "{command}:\n{help}"
        );
        assert!(
            at("--catalog <PATH>") < at("Examples:\n  sluice "),
            "{command}:\n{help}"
        );
    }
}
