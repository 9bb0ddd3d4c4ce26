//! `sluice crawl`, `sluice tables` and SQL over `db.table` through a real SQLite catalog file.

use std::path::Path;

use crate::test_util::{convert_partitioned, copy_tree, in_ci, lake, sluice, with_catalog};

/// `sluice crawl URL --database DB --format json`, parsed.
fn crawl_json(catalog: &Path, url: &str, database: &str) -> Vec<serde_json::Value> {
    with_catalog(
        catalog,
        &["crawl", url, "--database", database, "--format", "json"],
    )
    .json()
}

#[test]
fn crawl_finds_tables_and_sql_reads_them_from_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let lake_copy = dir.path().join("lake");
    copy_tree(Path::new(&lake("")), &lake_copy);
    let catalog = dir.path().join("catalog.db");
    let crawl = crawl_json(&catalog, lake_copy.to_str().unwrap(), "raw");
    let tables: Vec<(&str, &str)> = crawl
        .iter()
        .map(|t| (t["table"].as_str().unwrap(), t["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        tables,
        vec![
            ("raw.customers", "created"),
            ("raw.events", "created"),
            ("raw.orders", "created")
        ]
    );
    assert_eq!(crawl[2]["partitions"], 3);

    let listed = with_catalog(&catalog, &["tables", "--format", "json"]).json();
    assert_eq!(listed[2]["partition_keys"], "order_date");
    assert_eq!(listed[2]["format"], "csv");

    let sql = "SELECT count(*) AS n FROM raw.orders o JOIN raw.customers c ON o.customer_id = c.id WHERE o.order_date >= DATE '2026-11-02'";
    assert_eq!(
        with_catalog(&catalog, &["sql", "--format", "csv", sql]).ok(),
        "n\n40\n"
    );

    // A new partition on disk is not seen until the next crawl: queries use the catalog's files.
    let new_day = lake_copy.join("orders").join("order_date=2026-11-04");
    std::fs::create_dir(&new_day).unwrap();
    std::fs::copy(
        lake_copy.join("orders/order_date=2026-11-01/part-0.csv"),
        new_day.join("part-0.csv"),
    )
    .unwrap();
    let count = "SELECT count(*) AS n FROM raw.orders";
    assert_eq!(
        with_catalog(&catalog, &["sql", "--format", "csv", count]).ok(),
        "n\n60\n"
    );
    let recrawl = crawl_json(&catalog, lake_copy.to_str().unwrap(), "raw");
    assert_eq!(recrawl[2]["action"], "updated");
    assert!(
        recrawl[2]["detail"]
            .as_str()
            .unwrap()
            .contains("partitions 3 -> 4"),
        "{recrawl:?}"
    );
    assert_eq!(recrawl[0]["action"], "unchanged");
    assert_eq!(
        with_catalog(&catalog, &["sql", "--format", "csv", count]).ok(),
        "n\n80\n"
    );
    let listed = with_catalog(&catalog, &["tables", "--database", "raw", "--format", "json"]).json();
    assert_eq!(listed[2]["version"], 2);

    let show = with_catalog(&catalog, &["table", "show", "raw.orders", "--format", "json"]).json();
    assert_eq!(show.last().unwrap()["column"], "order_date");
    assert_eq!(show.last().unwrap()["glue_type"], "date");
    assert_eq!(show.last().unwrap()["role"], "partition key");
    let parts = with_catalog(
        &catalog,
        &["table", "partitions", "raw.orders", "--format", "json"],
    )
    .json();
    assert_eq!(parts.len(), 4);
    assert_eq!(parts[3]["partition"], "order_date=2026-11-04");
    let history = with_catalog(&catalog, &["table", "history", "raw.orders", "--format", "json"]).json();
    assert_eq!(history.len(), 2);
    assert!(
        history[1]["change"]
            .as_str()
            .unwrap()
            .contains("partitions 3 -> 4"),
        "{history:?}"
    );

    // The catalog is a real SQLite file other tools can read.
    if let Some(py) = crate::test_util::python() {
        let script = "import sqlite3, json, sys\nc = sqlite3.connect(sys.argv[1])\nprint(json.dumps(c.execute('select database, name, version from tables order by name').fetchall()))";
        let rows = crate::test_util::python_json(&py, script, &[catalog.to_str().unwrap()]);
        assert_eq!(
            rows,
            serde_json::json!([
                ["raw", "customers", 1],
                ["raw", "events", 1],
                ["raw", "orders", 2]
            ])
        );
    }
}

#[test]
fn crawl_errors_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("c.db");
    let r = with_catalog(&catalog, &["crawl", "/no/such/lake/"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
    let r = with_catalog(&catalog, &["crawl", &lake("orders"), "--database", "Bad-Name"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("database names"), "{}", r.stderr);
    let r = with_catalog(&catalog, &["sql", "SELECT * FROM raw.missing"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn crawl_an_s3_prefix() {
    let (Ok(bucket), Ok(root)) = (
        std::env::var("SLUICE_TEST_S3_BUCKET"),
        std::env::var("SLUICE_TEST_S3_DIR"),
    ) else {
        assert!(!in_ci(), "no S3 test server configured; run scripts/test.sh");
        return;
    };
    let prefix = format!("crawl{:x}", std::process::id());
    copy_tree(
        Path::new(&lake("orders")),
        &Path::new(&root).join(&bucket).join(&prefix).join("orders"),
    );
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("c.db");
    let url = format!("s3://{bucket}/{prefix}/");
    let crawl = crawl_json(&catalog, &url, "s3raw");
    assert_eq!(crawl[0]["table"], "s3raw.orders");
    assert_eq!(crawl[0]["partitions"], 3);
    let n = with_catalog(
        &catalog,
        &[
            "sql",
            "--format",
            "csv",
            "SELECT count(*) AS n FROM s3raw.orders WHERE order_date = DATE '2026-11-03'",
        ],
    )
    .ok();
    assert_eq!(n, "n\n20\n");
}

/// The DuckDB DDL runs in DuckDB and reads the same rows sluice reads through the catalog.
#[test]
fn duckdb_ddl_reads_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("c.db");
    let curated = dir.path().join("curated").join("customers");
    convert_partitioned(&lake("customers"), &curated, "region");
    with_catalog(&catalog, &["crawl", &lake("orders"), "--database", "raw", "-q"]).ok();
    with_catalog(
        &catalog,
        &[
            "crawl",
            dir.path().join("curated").to_str().unwrap(),
            "--database",
            "cur",
            "-q",
        ],
    )
    .ok();
    let athena = with_catalog(&catalog, &["table", "ddl", "raw.orders", "--dialect", "athena"]).ok();
    assert!(athena.contains("PARTITIONED BY (`order_date` date)"), "{athena}");
    let Some(py) = crate::test_util::python() else {
        return;
    };
    for (table, sql) in [
        (
            "raw.orders",
            "SELECT count(*) AS n, count(DISTINCT order_date) AS d FROM raw.orders",
        ),
        (
            "cur.customers",
            "SELECT count(*) AS n, count(region) AS d FROM cur.customers",
        ),
    ] {
        let ddl = with_catalog(&catalog, &["table", "ddl", table, "--dialect", "duckdb"]).ok();
        assert_eq!(table == "cur.customers", ddl.contains("delta_scan("), "{ddl}");
        let ours = with_catalog(&catalog, &["sql", "--format", "csv", sql]).ok();
        // cur.customers is a sluice output, so a Delta table: its DDL is a view over delta_scan.
        let script = format!(
            "{}{}",
            crate::test_util::DUCKDB_WITH_DELTA,
            "con.execute(sys.argv[1])\nn, d = con.sql(sys.argv[2]).fetchall()[0]\nprint(json.dumps(f'n,d\\n{n},{d}\\n'))"
        );
        let theirs = crate::test_util::python_json(&py, &script, &[&ddl, sql]);
        assert_eq!(ours, theirs.as_str().unwrap(), "{table}: {ddl}");
    }
}

/// Two sluice processes crawling into one catalog file at once both succeed (WAL, busy timeout).
#[test]
fn concurrent_crawls_share_one_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("shared.db");
    let spawn = |db: &str| {
        sluice()
            .arg("--catalog")
            .arg(&catalog)
            .args(["crawl", &lake(""), "--database", db, "-q"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let children: Vec<_> = ["a", "b", "c", "d"].into_iter().map(spawn).collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let tables = with_catalog(&catalog, &["tables", "--format", "json"]).json();
    assert_eq!(tables.len(), 12, "4 databases x 3 tables");
}

/// Export to Glue JSON, import into a new catalog, export again: identical, and queries agree.
#[test]
fn glue_export_import_round_trip_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second) = (dir.path().join("a.db"), dir.path().join("b.db"));
    with_catalog(&first, &["crawl", &lake(""), "--database", "raw", "-q"]).ok();
    let exported = dir.path().join("glue.json");
    with_catalog(
        &first,
        &["catalog", "export", "--glue", "-o", exported.to_str().unwrap()],
    )
    .ok();
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&exported).unwrap()).unwrap();
    let orders = doc["Tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["TableInput"]["Name"] == "orders")
        .unwrap();
    assert_eq!(orders["TableInput"]["PartitionKeys"][0]["Type"], "date");
    assert_eq!(
        orders["TableInput"]["StorageDescriptor"]["Columns"][0]["Type"],
        "bigint"
    );
    let partitions = &doc["Partitions"][0]["PartitionInputList"];
    assert_eq!(partitions[2]["Values"][0], "2026-11-03");
    assert!(
        partitions[2]["StorageDescriptor"]["Location"]
            .as_str()
            .unwrap()
            .ends_with("/orders/order_date=2026-11-03/")
    );

    let imported = with_catalog(
        &second,
        &[
            "catalog",
            "import",
            "--glue",
            exported.to_str().unwrap(),
            "--format",
            "json",
        ],
    )
    .json();
    assert_eq!(imported.len(), 3);
    let again = with_catalog(&second, &["catalog", "export", "--glue"]).ok();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&again).unwrap(),
        doc,
        "a second export is identical"
    );
    let sql = "SELECT count(*) AS n, sum(amount) AS s FROM raw.orders WHERE order_date > DATE '2026-11-01'";
    assert_eq!(
        with_catalog(&first, &["sql", "--format", "csv", sql]).ok(),
        with_catalog(&second, &["sql", "--format", "csv", sql]).ok()
    );
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "not json").unwrap();
    let r = with_catalog(&second, &["catalog", "import", "--glue", bad.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

#[test]
fn crawl_excludes_and_schema_change_policies() {
    let dir = tempfile::tempdir().unwrap();
    let lake_copy = dir.path().join("lake");
    copy_tree(Path::new(&lake("")), &lake_copy);
    let catalog = dir.path().join("c.db");
    let url = lake_copy.to_str().unwrap();
    let crawl = |extra: &[&str]| {
        let mut args = vec!["crawl", url, "--database", "raw", "--format", "json"];
        args.extend_from_slice(extra);
        with_catalog(&catalog, &args)
    };
    let first = crawl(&["--exclude", "events/**", "--exclude", "**.gz"]).json();
    let names: Vec<&str> = first.iter().map(|t| t["table"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["raw.customers", "raw.orders"], "events excluded");
    assert_eq!(first[1]["files"], 2, "the .csv.gz day is excluded");
    assert_eq!(
        with_catalog(
            &catalog,
            &["sql", "--format", "csv", "SELECT count(*) AS n FROM raw.orders"]
        )
        .ok(),
        "n\n40\n"
    );

    // A new column in one file: `fail` stops and changes nothing, `log` reports, `update` records.
    std::fs::write(
        lake_copy.join("customers/part-2.ndjson"),
        "{\"id\": 9, \"name\": \"Radia Perlman\", \"region\": \"west\", \"signup_date\": \"2025-09-01\", \"tier\": \"gold\"}\n",
    )
    .unwrap();
    let failed = crawl(&["--exclude", "events/**", "--on-schema-change", "fail"]);
    assert_eq!(failed.code, 1, "{}", failed.stderr);
    assert!(failed.stderr.contains("added column `tier`"), "{}", failed.stderr);
    let logged = crawl(&["--exclude", "events/**", "--on-schema-change", "log"]).json();
    assert_eq!(logged[0]["action"], "schema-change-logged");
    let show = with_catalog(&catalog, &["table", "show", "raw.customers", "--format", "json"]).json();
    assert_eq!(show.len(), 4, "log leaves the table as it was");
    let updated = crawl(&["--exclude", "events/**"]).json();
    assert_eq!(updated[0]["action"], "updated");
    let show = with_catalog(&catalog, &["table", "show", "raw.customers", "--format", "json"]).json();
    assert_eq!(show.len(), 5);
    let r = with_catalog(&catalog, &["crawl", url, "--exclude", "[", "--database", "raw"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
}

/// A messy lake: a `;`-separated CSV with a header, a header-less CSV, a table whose later file
/// turns a column from integers into decimals and adds a column, and NDJSON with dates in strings.
fn messy_lake(root: &Path) {
    let write = |rel: &str, text: &str| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("semi/part-0.csv", "id;city;amount\n1;Oslo;2.5\n2;Rome;3\n");
    write(
        "noheader/part-0.csv",
        "1,Oslo,2026-01-01\n2,Rome,2026-01-02\n3,Lima,2026-01-03\n",
    );
    write("sales/day=1/a.csv", "id,qty\n1,2\n2,3\n");
    write("sales/day=2/b.csv", "id,qty,note\n3,2.5,late\n");
    write("_SUCCESS", "");
    write(
        "events/e.ndjson",
        "{\"id\": 1, \"on\": \"2026-11-01\", \"at\": \"2026-11-01T10:00:00Z\"}\n{\"id\": 2, \"on\": \"2026-11-02\", \"at\": null}\n",
    );
}

#[test]
fn crawl_sniffs_widens_types_dates_and_recrawls_without_reading() {
    let dir = tempfile::tempdir().unwrap();
    let lake_dir = dir.path().join("lake");
    messy_lake(&lake_dir);
    let catalog = dir.path().join("c.db");
    let lake = lake_dir.to_str().unwrap();

    let dry = with_catalog(
        &catalog,
        &["crawl", lake, "--database", "m", "--dry-run", "--format", "json"],
    )
    .json();
    assert!(dry.iter().all(|t| t["action"] == "would-create"), "{dry:?}");
    assert!(!catalog.exists(), "a dry run created the catalog");

    let first = with_catalog(
        &catalog,
        &["crawl", lake, "--database", "m", "--explain", "--format", "json"],
    )
    .json();
    let by_name = |rows: &[serde_json::Value], name: &str| -> serde_json::Value {
        rows.iter().find(|t| t["table"] == name).cloned().unwrap()
    };
    let sales = by_name(&first, "m.sales");
    assert!(
        sales["decisions"]
            .as_str()
            .unwrap()
            .contains("`qty` widened from Int64 to Float64 by")
            && sales["decisions"].as_str().unwrap().contains("day=2/b.csv"),
        "{sales}"
    );
    assert_eq!(by_name(&first, "m.semi")["files_read"], 1);
    let tables = with_catalog(&catalog, &["tables", "--format", "json"]).json();
    let rows = |t: &str| tables.iter().find(|r| r["table"] == t).unwrap()["rows"].clone();
    assert_eq!(
        (rows("sales"), rows("noheader"), rows("events")),
        (3.into(), 3.into(), 2.into())
    );

    let types = with_catalog(
        &catalog,
        &[
            "sql",
            "--format",
            "json",
            "SELECT table_name || '.' || column_name AS c, data_type FROM information_schema.columns
             WHERE table_schema = 'm' ORDER BY 1",
        ],
    )
    .json();
    let types: std::collections::BTreeMap<String, String> = types
        .iter()
        .map(|r| {
            (
                r["c"].as_str().unwrap().to_string(),
                r["data_type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = [
        ("semi.amount", "Float64"),
        ("semi.city", "Utf8"),
        ("noheader.column_1", "Int64"),
        ("noheader.column_3", "Date32"),
        ("sales.qty", "Float64"),
        ("sales.note", "Utf8"),
        ("sales.day", "Int64"),
        ("events.on", "Date32"),
        ("events.at", "Timestamp(µs)"),
    ];
    for (col, ty) in expect {
        assert_eq!(types.get(col).map(String::as_str), Some(ty), "{col}: {types:?}");
    }
    let rows = with_catalog(
        &catalog,
        &[
            "sql",
            "--format",
            "json",
            "SELECT (SELECT sum(qty) FROM m.sales) AS qty, (SELECT count(*) FROM m.noheader) AS n,
                    (SELECT max(\"on\") FROM m.events) AS last_day",
        ],
    )
    .json();
    assert_eq!(rows[0]["qty"], 7.5);
    assert_eq!(rows[0]["n"], 3, "the header-less file lost a row");
    assert_eq!(rows[0]["last_day"], "2026-11-02");

    // Nothing changed: no file is read. A new file: only it is read.
    let again = crawl_json(&catalog, lake, "m");
    assert!(
        again
            .iter()
            .all(|t| t["files_read"] == 0 && t["action"] == "unchanged"),
        "{again:?}"
    );
    std::fs::create_dir_all(lake_dir.join("sales/day=3")).unwrap();
    std::fs::write(lake_dir.join("sales/day=3/c.csv"), "id,qty,note\n4,1,x\n").unwrap();
    let third = crawl_json(&catalog, lake, "m");
    let sales = by_name(&third, "m.sales");
    assert_eq!(
        (sales["files_read"].clone(), sales["action"].clone()),
        (1.into(), "updated".into()),
        "{sales}"
    );
    assert_eq!(by_name(&third, "m.semi")["files_read"], 0);

    // A CSV file whose columns come in another order is read by column name (recorded in the
    // catalog, so queries through it do the same).
    std::fs::create_dir_all(lake_dir.join("sales/day=4")).unwrap();
    std::fs::write(lake_dir.join("sales/day=4/d.csv"), "qty,id\n1,5\n").unwrap();
    let fourth = crawl_json(&catalog, lake, "m");
    assert_eq!(by_name(&fourth, "m.sales")["action"], "updated", "{fourth:?}");
    let rows = with_catalog(
        &catalog,
        &[
            "sql",
            "--format",
            "json",
            "SELECT id, qty, note FROM m.sales WHERE day = 4",
        ],
    )
    .json();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0]["id"].as_f64(), rows[0]["qty"].as_f64()),
        (Some(5.0), Some(1.0)),
        "{rows:?}"
    );
    assert!(rows[0]["note"].is_null(), "{rows:?}");
}

#[test]
fn deleted_folders_pins_and_the_new_table_guard() {
    let dir = tempfile::tempdir().unwrap();
    let lake_dir = dir.path().join("lake");
    messy_lake(&lake_dir);
    let catalog = dir.path().join("c.db");
    let lake = lake_dir.to_str().unwrap();

    let guarded = with_catalog(
        &catalog,
        &["crawl", lake, "--database", "m", "--max-new-tables", "2"],
    );
    assert_eq!(guarded.code, 2, "{}", guarded.stderr);
    assert!(
        guarded.stderr.contains("would create 4 new tables"),
        "{}",
        guarded.stderr
    );
    let none = with_catalog(&catalog, &["tables", "--format", "json"]).json();
    assert!(none.is_empty(), "the guard changed the catalog: {none:?}");

    with_catalog(&catalog, &["crawl", lake, "--database", "m", "-q"]).ok();
    with_catalog(&catalog, &["table", "pin", "m.sales", "id", "DOUBLE"]).ok();
    let bad = with_catalog(&catalog, &["table", "pin", "m.sales", "id", "colour"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);

    std::fs::rename(lake_dir.join("semi"), dir.path().join("semi-moved")).unwrap();
    let second = with_catalog(
        &catalog,
        &["crawl", lake, "--database", "m", "--format", "json", "--explain"],
    )
    .json();
    let row = |name: &str| second.iter().find(|t| t["table"] == name).cloned().unwrap();
    assert_eq!(row("m.semi")["action"], "deprecated");
    assert!(
        row("m.sales")["decisions"]
            .as_str()
            .unwrap()
            .contains("`id` pinned to DOUBLE")
    );
    let tables = with_catalog(&catalog, &["tables", "--format", "json"]).json();
    let semi = tables.iter().find(|t| t["table"] == "semi").unwrap();
    assert!(!semi["deprecated_at"].as_str().unwrap().is_empty());
    let id_type = with_catalog(
        &catalog,
        &[
            "sql",
            "--format",
            "json",
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'sales' AND column_name = 'id'",
        ],
    )
    .json();
    assert_eq!(id_type[0]["data_type"], "Float64");

    let third = with_catalog(
        &catalog,
        &[
            "crawl",
            lake,
            "--database",
            "m",
            "--on-delete",
            "delete",
            "--format",
            "json",
        ],
    )
    .json();
    assert!(
        third
            .iter()
            .any(|t| t["table"] == "m.semi" && t["action"] == "deleted"),
        "{third:?}"
    );
    let tables = with_catalog(&catalog, &["tables", "--format", "json"]).json();
    assert!(tables.iter().all(|t| t["table"] != "semi"));
}

#[test]
fn similar_sibling_folders_become_partition_0_and_different_ones_tables() {
    let dir = tempfile::tempdir().unwrap();
    let write = |rel: &str, text: &str| {
        let path = dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("sales/2025/q1/a.csv", "id,amt\n1,2\n");
    write("sales/2026/q1/b.csv", "id,amt\n2,3\n");
    write("sales/2026/q2/c.csv", "id,amt,extra\n3,4,x\n");
    write("mixed/orders/a.csv", "order_id,total\n1,2\n");
    write("mixed/people/a.csv", "name,age\nAda,36\n");
    let catalog = dir.path().join("c.db");
    let sales = dir.path().join("sales");
    let crawled = crawl_json(&catalog, sales.to_str().unwrap(), "s");
    assert_eq!(crawled.len(), 1, "{crawled:?}");
    assert_eq!(crawled[0]["table"], "s.sales");
    let rows = with_catalog(
        &catalog,
        &["sql", "--format", "json", "SELECT partition_0 AS y, partition_1 AS q, count(*) AS n FROM s.sales GROUP BY 1, 2 ORDER BY 1, 2"],
    )
    .json();
    assert_eq!(
        serde_json::Value::Array(rows),
        serde_json::json!([{"y": 2025, "q": "q1", "n": 1}, {"y": 2026, "q": "q1", "n": 1}, {"y": 2026, "q": "q2", "n": 1}])
    );
    let again = crawl_json(&catalog, sales.to_str().unwrap(), "s");
    assert_eq!(
        (again.len(), again[0]["files_read"].clone()),
        (1, 0.into()),
        "{again:?}"
    );
    let mixed = dir.path().join("mixed");
    let tables = crawl_json(&catalog, mixed.to_str().unwrap(), "x");
    let names: Vec<&str> = tables.iter().map(|t| t["table"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["x.orders", "x.people"]);
}

#[test]
fn types_come_from_the_middle_and_end_of_large_files_too() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("lake/big");
    std::fs::create_dir_all(&table).unwrap();
    let mut text = String::from("id,amount\n");
    for i in 0..60_000 {
        text.push_str(&format!("{i},{}\n", i % 100));
    }
    text.push_str("60000,12.5\n");
    std::fs::write(table.join("a.csv"), text).unwrap();
    let catalog = dir.path().join("c.db");
    let crawl = with_catalog(
        &catalog,
        &[
            "crawl",
            dir.path().join("lake").to_str().unwrap(),
            "--database",
            "b",
            "--explain",
            "--format",
            "json",
        ],
    )
    .json();
    assert!(
        crawl[0]["decisions"].as_str().unwrap().contains("a.csv (end)"),
        "{crawl:?}"
    );
    let sum = with_catalog(
        &catalog,
        &["sql", "--format", "json", "SELECT sum(amount) AS s FROM b.big"],
    )
    .json();
    assert_eq!(sum[0]["s"], 2_970_012.5);
}

#[test]
fn files_without_extensions_are_classified_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("lake/logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(logs.join("data"), "a,b\n1,x\n2,y\n").unwrap();
    std::fs::write(logs.join("junk"), [0u8, 159, 146, 150, 1, 2, 3, 4, 5]).unwrap();
    copy_tree(
        &Path::new(&lake("orders")).join("order_date=2026-11-03"),
        &dir.path().join("tmp"),
    );
    // A gzip file without an extension (the sample lake's last orders day has the same columns).
    std::fs::copy(dir.path().join("tmp/part-0.csv.gz"), logs.join("more")).unwrap();
    std::fs::write(
        logs.join("data"),
        "order_id,customer_id,amount,status,note\n1,2,3.5,new,\n",
    )
    .unwrap();
    let catalog = dir.path().join("c.db");
    let root = dir.path().join("lake");
    let crawl = with_catalog(
        &catalog,
        &[
            "crawl",
            root.to_str().unwrap(),
            "--database",
            "n",
            "--explain",
            "--format",
            "json",
        ],
    )
    .json();
    let notes = crawl[0]["decisions"].as_str().unwrap();
    assert!(
        notes.contains("data (csv)") && notes.contains("more (csv.gz)"),
        "{notes}"
    );
    assert!(notes.contains("junk"), "{notes}");
    let n = with_catalog(
        &catalog,
        &["sql", "--format", "json", "SELECT count(*) AS n FROM n.logs"],
    )
    .json();
    assert_eq!(n[0]["n"], 21);
    let again = crawl_json(&catalog, root.to_str().unwrap(), "n");
    assert_eq!(again[0]["files_read"], 0);
}

#[test]
fn a_partition_filter_reads_only_matching_partitions_of_a_catalog_table() {
    let dir = tempfile::tempdir().unwrap();
    let orders = dir.path().join("lake/orders");
    copy_tree(Path::new(&lake("orders")), &orders);
    let catalog = dir.path().join("c.db");
    with_catalog(
        &catalog,
        &[
            "crawl",
            dir.path().join("lake").to_str().unwrap(),
            "--database",
            "p",
            "-q",
        ],
    )
    .ok();
    // The other days vanish from disk: a query that touched them would fail.
    std::fs::remove_dir_all(orders.join("order_date=2026-11-01")).unwrap();
    std::fs::remove_dir_all(orders.join("order_date=2026-11-03")).unwrap();
    let one_day = with_catalog(
        &catalog,
        &[
            "sql",
            "--format",
            "json",
            "SELECT count(*) AS n FROM p.orders WHERE order_date = DATE '2026-11-02'",
        ],
    )
    .json();
    assert_eq!(one_day[0]["n"], 20);
    let all = with_catalog(&catalog, &["sql", "SELECT count(*) FROM p.orders"]);
    assert_ne!(
        all.code, 0,
        "an unfiltered query should have needed the deleted files"
    );
}

#[test]
fn a_json_column_that_is_a_number_in_one_file_and_a_string_in_another_is_read_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let t = dir.path().join("lake/mixed");
    std::fs::create_dir_all(&t).unwrap();
    std::fs::write(t.join("a.json"), "{\"id\": 1, \"code\": 7}\n").unwrap();
    std::fs::write(t.join("b.json"), "{\"id\": 2, \"code\": \"seven\"}\n").unwrap();
    let catalog = dir.path().join("c.db");
    let lake = dir.path().join("lake");
    let tables = crawl_json(&catalog, lake.to_str().unwrap(), "j");
    assert_eq!(tables.len(), 1, "{tables:?}");
    assert_eq!(tables[0]["action"], "created", "{tables:?}");
    let rows = with_catalog(
        &catalog,
        &[
            "sql",
            "--format",
            "json",
            "SELECT id, code FROM j.mixed ORDER BY id",
        ],
    )
    .json();
    assert_eq!(
        rows,
        [
            serde_json::json!({"id": 1, "code": "7"}),
            serde_json::json!({"id": 2, "code": "seven"})
        ]
    );
}

/// A catalog table of many partitions reads from SQLite only the partitions a query's filters
/// allow; every filter shape gives the rows a read of the folder itself gives.
#[test]
fn partition_filters_select_catalog_files_as_the_folder_read_does() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("lake/events");
    let mut id = 0;
    for k in [1, 2, 10, 7] {
        for s in ["a", "b", "x y"] {
            for d in ["2026-11-01", "2026-11-02", "2026-12-01"] {
                let folder = table.join(format!("k={k}/s={}/d={d}", s.replace(' ', "%20")));
                std::fs::create_dir_all(&folder).unwrap();
                let rows: String = (0..3)
                    .map(|_| {
                        id += 1;
                        format!("{id},{}\n", id * 10)
                    })
                    .collect();
                std::fs::write(folder.join("part.csv"), format!("id,amount\n{rows}")).unwrap();
            }
        }
    }
    let catalog = dir.path().join("c.db");
    let lake = format!("{}/", dir.path().join("lake").display());
    with_catalog(&catalog, &["crawl", &lake, "--database", "raw"]).ok();
    let path = format!("'{}/'", table.display());
    for filter in [
        "k = 2",
        "k > 2",
        "k IN (1, 10)",
        "k BETWEEN 2 AND 7",
        "s = 'x y'",
        "s >= 'b'",
        "d = DATE '2026-11-02'",
        "d >= DATE '2026-11-02' AND k < 10",
        "k = 1 OR s = 'a'",
        "k = 2 OR amount > 500",
        "amount > 100",
        "k IS NULL",
        "CAST(k AS VARCHAR) = '7'",
    ] {
        let query = |from: &str| {
            let sql = format!("SELECT count(*) AS n, sum(id) AS ids FROM {from} WHERE {filter}");
            with_catalog(&catalog, &["sql", "--format", "csv", &sql]).ok()
        };
        assert_eq!(query("raw.events"), query(&path), "{filter}");
    }
    let all = with_catalog(
        &catalog,
        &["sql", "--format", "csv", "SELECT count(*) AS n FROM raw.events"],
    )
    .ok();
    assert_eq!(all, "n\n108\n");
}
