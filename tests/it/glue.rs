//! `sluice catalog sync --glue` against moto's Glue API, which `scripts/test.sh` starts on
//! 127.0.0.1; what sluice sent is read back with boto3, as Athena would find it.

use std::path::Path;
use std::process::Command;

use crate::test_util::{Run, copy_tree, in_ci, lake, python, python_json, repo, s3, sluice, unique};

/// The Glue endpoint, or `None` (a failure under CI) without one.
fn glue_endpoint() -> Option<String> {
    match std::env::var("SLUICE_TEST_GLUE_ENDPOINT") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                !in_ci(),
                "no Glue test endpoint; run the tests through scripts/test.sh"
            );
            eprintln!("skipping: no Glue test endpoint (scripts/test.sh starts moto)");
            None
        }
    }
}

fn sluice_glue(endpoint: &str, catalog: &Path, args: &[&str]) -> Run {
    let mut cmd: Command = sluice();
    cmd.env("AWS_ENDPOINT_URL_GLUE", endpoint)
        .arg("--catalog")
        .arg(catalog)
        .args(args);
    Run::from(cmd.output().expect("the sluice binary runs"))
}

/// Table and partitions as boto3 reads them from Glue.
fn glue_table(python: &str, endpoint: &str, db: &str, table: &str) -> serde_json::Value {
    let script = r#"
import boto3, json, sys
glue = boto3.client("glue", endpoint_url=sys.argv[1], region_name="us-east-1")
t = glue.get_table(DatabaseName=sys.argv[2], Name=sys.argv[3])["Table"]
parts = []
for page in glue.get_paginator("get_partitions").paginate(DatabaseName=sys.argv[2], TableName=sys.argv[3]):
    parts += page["Partitions"]
versions = glue.get_table_versions(DatabaseName=sys.argv[2], TableName=sys.argv[3])["TableVersions"]
print(json.dumps({"table": t, "versions": len(versions),
                  "partitions": sorted(([p["Values"], p["StorageDescriptor"]["Location"]] for p in parts))},
                 default=str))
"#;
    python_json(python, script, &[endpoint, db, table])
}

fn actions(run: Run) -> Vec<(String, String, String)> {
    run.json()
        .iter()
        .map(|a| {
            let field = |k: &str| a[k].as_str().unwrap().to_string();
            (field("action"), field("kind"), field("name"))
        })
        .collect()
}

#[test]
fn a_crawled_lake_appears_in_glue_and_a_second_sync_changes_nothing() {
    let (Some(endpoint), Some(s3), Some(py)) = (glue_endpoint(), s3(), python()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("c.db");
    let prefix = unique("glue");
    let on_disk = s3.bucket_dir.join(&prefix).join("orders");
    copy_tree(Path::new(&lake("orders")), &on_disk);
    let url = format!("s3://{}/{prefix}/", s3.bucket);
    let db = unique("raw");
    let crawl = sluice_glue(
        &endpoint,
        &catalog,
        &["crawl", &url, "--database", &db, "--sync-glue"],
    );
    assert_eq!(crawl.code, 0, "{}", crawl.stderr);
    assert!(
        crawl
            .stderr
            .contains("Glue Data Catalog: 5 created, 0 updated, 0 deleted"),
        "the crawl synced its database, table and 3 partitions: {}",
        crawl.stderr
    );

    let got = glue_table(&py, &endpoint, &db, "orders");
    let t = &got["table"];
    let sd = &t["StorageDescriptor"];
    assert_eq!(sd["Location"], format!("{url}orders/"));
    assert_eq!(t["Parameters"]["classification"], "csv");
    assert_eq!(t["TableType"], "EXTERNAL_TABLE");
    assert_eq!(
        sd["SerdeInfo"]["SerializationLibrary"],
        "org.apache.hadoop.hive.serde2.OpenCSVSerde"
    );
    assert_eq!(sd["InputFormat"], "org.apache.hadoop.mapred.TextInputFormat");
    assert_eq!(t["PartitionKeys"][0]["Name"], "order_date");
    assert_eq!(t["PartitionKeys"][0]["Type"], "date");
    let columns: Vec<(&str, &str)> = sd["Columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["Name"].as_str().unwrap(), c["Type"].as_str().unwrap()))
        .collect();
    assert!(columns.contains(&("amount", "double")), "{columns:?}");
    let athena_type = |ty: &str| {
        [
            "bigint",
            "int",
            "smallint",
            "tinyint",
            "double",
            "float",
            "boolean",
            "date",
            "timestamp",
            "string",
            "binary",
        ]
        .contains(&ty)
            || ty.starts_with("decimal(")
            || ty.starts_with("array<")
            || ty.starts_with("struct<")
    };
    assert!(
        columns.iter().all(|(_, ty)| athena_type(ty)),
        "types Athena reads: {columns:?}"
    );
    let partitions = got["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), 3, "{got}");
    assert_eq!(partitions[0][0][0], "2026-11-01");
    assert_eq!(partitions[0][1], format!("{url}orders/order_date=2026-11-01/"));

    // Nothing changed: no write call (Glue keeps a version per table update).
    let again = actions(sluice_glue(
        &endpoint,
        &catalog,
        &["catalog", "sync", "--glue", "--format", "json"],
    ));
    assert!(
        again.iter().all(|(action, ..)| action == "skip"),
        "a second sync changes nothing: {again:?}"
    );
    assert_eq!(
        glue_table(&py, &endpoint, &db, "orders")["versions"],
        got["versions"]
    );

    // A partition gone from the lake (and so from the catalog) goes from Glue too.
    std::fs::remove_dir_all(on_disk.join("order_date=2026-11-02")).unwrap();
    sluice_glue(&endpoint, &catalog, &["crawl", &url, "--database", &db, "-q"]).ok();
    let dry = actions(sluice_glue(
        &endpoint,
        &catalog,
        &[
            "catalog",
            "sync",
            "--glue",
            "--database",
            &db,
            "--dry-run",
            "--format",
            "json",
        ],
    ));
    let gone = format!("{db}.orders/order_date=2026-11-02");
    assert!(
        dry.contains(&("delete".into(), "partition".into(), gone.clone())),
        "{dry:?}"
    );
    assert_eq!(
        glue_table(&py, &endpoint, &db, "orders")["partitions"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "a dry run writes nothing"
    );
    let done = actions(sluice_glue(
        &endpoint,
        &catalog,
        &["catalog", "sync", "--glue", "--database", &db, "--format", "json"],
    ));
    assert!(
        done.contains(&("delete".into(), "partition".into(), gone)),
        "{done:?}"
    );
    let after = glue_table(&py, &endpoint, &db, "orders");
    let values: Vec<&str> = after["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0][0].as_str().unwrap())
        .collect();
    assert_eq!(values, ["2026-11-01", "2026-11-03"]);
}

#[test]
fn a_jobs_output_table_appears_in_glue_as_a_delta_table() {
    let (Some(endpoint), Some(s3), Some(py)) = (glue_endpoint(), s3(), python()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("c.db");
    let out = format!("s3://{}/{}", s3.bucket, unique("jobout"));
    let job = repo().join("jobs/examples/daily_revenue.toml");
    let root = repo();
    let run = sluice_glue(
        &endpoint,
        &catalog,
        &[
            "run",
            job.to_str().unwrap(),
            "--sync-glue",
            "--param",
            &format!("lake={}", root.join("testdata/lake").display()),
            "--param",
            &format!("dims={}", root.join("testdata/dims").display()),
            "--param",
            &format!("out={out}"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("Glue Data Catalog: 2 created, 0 updated, 0 deleted"),
        "the run synced its database and table: {}",
        run.stderr
    );
    let again = actions(sluice_glue(
        &endpoint,
        &catalog,
        &[
            "catalog",
            "sync",
            "--glue",
            "--database",
            "curated",
            "--format",
            "json",
        ],
    ));
    assert_eq!(again, [], "the run left nothing to sync");
    let got = glue_table(&py, &endpoint, "curated", "daily_revenue");
    let sd = &got["table"]["StorageDescriptor"];
    assert_eq!(
        sd["SerdeInfo"]["SerializationLibrary"],
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    );
    assert_eq!(
        sd["InputFormat"],
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    );
    assert_eq!(sd["Location"], format!("{out}/daily_revenue/"));
    assert_eq!(
        got["table"]["Parameters"]["table_type"], "DELTA",
        "Athena reads it through its log"
    );
    assert_eq!(got["table"]["Parameters"]["spark.sql.sources.provider"], "delta");
    assert_eq!(
        got["partitions"],
        serde_json::json!([]),
        "partitions come from the log, not Glue"
    );
}

#[test]
fn local_tables_are_skipped_and_a_glue_failure_exits_non_zero() {
    let Some(endpoint) = glue_endpoint() else { return };
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("c.db");
    sluice_glue(
        &endpoint,
        &catalog,
        &["crawl", &lake("orders"), "--database", "localonly", "-q"],
    )
    .ok();
    let skipped = actions(sluice_glue(
        &endpoint,
        &catalog,
        &[
            "catalog",
            "sync",
            "--glue",
            "--database",
            "localonly",
            "--format",
            "json",
        ],
    ));
    assert!(
        skipped.contains(&("skip".into(), "table".into(), "localonly.orders".into())),
        "{skipped:?}"
    );
    let unreachable = sluice_glue("http://127.0.0.1:9", &catalog, &["catalog", "sync", "--glue"]);
    assert_eq!(unreachable.code, 1, "{}", unreachable.stderr);
    assert!(
        unreachable.stderr.contains("Glue `GetDatabase`"),
        "{}",
        unreachable.stderr
    );
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default();
    assert!(secret.is_empty() || !unreachable.stderr.contains(&secret));
}
