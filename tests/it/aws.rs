//! Credentials the way AWS Batch, ECS, Fargate and EKS hand them out: no access key in the
//! environment, only a container endpoint, a web identity token or a profile.
//!
//! `tests/support/aws_endpoints.py` plays the container endpoint and STS on 127.0.0.1 and gives
//! out the S3 test server's keys; the S3 server checks every request's signature, so a command
//! succeeds only when sluice fetched its keys from the endpoint under test.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::test_util::{Run, S3, copy_tree, lake, python, python_json, s3, sluice, unique};

const AUTH_TOKEN: &str = "container-auth-token-7c2f";
const WEB_TOKEN: &str = "eyJ-web-identity-token-91ab";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/sluice-etl";
const SOURCE_KEY_ID: &str = "AKIASOURCEPROFILE";

/// The fake endpoints, killed when dropped.
struct Endpoints {
    child: Child,
    url: String,
    python: String,
}

impl Drop for Endpoints {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Endpoints {
    fn start() -> Option<(Self, S3)> {
        let s3 = s3()?;
        let python = python()?;
        let key_id = std::env::var("AWS_ACCESS_KEY_ID").expect("scripts/test.sh sets the S3 keys");
        let secret = std::env::var("AWS_SECRET_ACCESS_KEY").expect("scripts/test.sh sets the S3 keys");
        let script = crate::test_util::repo().join("tests/support/aws_endpoints.py");
        let mut child = Command::new(&python)
            .arg(script)
            .args([
                "--key-id",
                &key_id,
                "--secret",
                &secret,
                "--auth-token",
                AUTH_TOKEN,
            ])
            .args(["--web-token", WEB_TOKEN, "--role-arn", ROLE_ARN])
            .args(["--source-key-id", SOURCE_KEY_ID])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("the endpoints print their port");
        let url = format!("http://127.0.0.1:{}", line.trim());
        Some((Self { child, url, python }, s3))
    }

    fn hits(&self) -> serde_json::Value {
        let script = "import json, sys, urllib.request\nprint(urllib.request.urlopen(sys.argv[1] + '/hits').read().decode())";
        python_json(&self.python, script, &[&self.url])
    }
}

/// `sluice` with no static keys, no instance metadata, and the S3 test server as endpoint.
fn keyless() -> Command {
    let mut cmd = sluice();
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
    ] {
        cmd.env_remove(name);
    }
    cmd.env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws/credentials");
    cmd
}

fn run_in(mut cmd: Command, args: &[&str]) -> Run {
    Run::from(cmd.args(args).output().expect("the sluice binary runs"))
}

/// Stages the sample orders under a fresh prefix; returns (source URL, destination URL).
fn stage_orders(s3: &S3) -> (String, String) {
    let prefix = unique("role");
    copy_tree(
        Path::new(&lake("orders")),
        &s3.bucket_dir.join(&prefix).join("orders"),
    );
    (
        format!("s3://{}/{prefix}/orders/", s3.bucket),
        format!("s3://{}/{prefix}/curated/", s3.bucket),
    )
}

fn container(endpoints: &Endpoints, token_file: &Path) -> Command {
    let mut cmd = keyless();
    cmd.env(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        format!("{}/creds", endpoints.url),
    )
    .env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file);
    cmd
}

#[test]
fn a_task_role_crawls_queries_and_writes_s3() {
    let Some((endpoints, s3)) = Endpoints::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, AUTH_TOKEN).unwrap();
    let catalog = dir.path().join("c.db");
    let catalog = catalog.to_str().unwrap();
    let (src, dst) = stage_orders(&s3);

    let with_role = || {
        let mut cmd = container(&endpoints, &token_file);
        cmd.args(["--catalog", catalog]);
        cmd
    };
    run_in(with_role(), &["crawl", &src, "--database", "raw", "-q"]).ok();
    let n = run_in(
        with_role(),
        &["sql", "--format", "csv", "SELECT count(*) AS n FROM raw.orders"],
    )
    .ok();
    assert_eq!(n, "n\n60\n");
    run_in(
        with_role(),
        &["convert", &src, &dst, "--partition-by", "order_date", "-q"],
    )
    .ok();
    let back = run_in(
        with_role(),
        &[
            "sql",
            "--format",
            "csv",
            &format!("SELECT count(*) AS n FROM '{dst}'"),
        ],
    )
    .ok();
    assert_eq!(back, "n\n60\n");

    let hits = endpoints.hits();
    assert_eq!(
        hits["container"], 4,
        "one fetch per command, cached within it: {hits}"
    );
    assert_eq!(hits["refused"], 0, "{hits}");
}

#[test]
fn a_wrong_container_token_fails_and_names_no_secret() {
    let Some((endpoints, s3)) = Endpoints::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "not-the-token").unwrap();
    let r = run_in(
        container(&endpoints, &token_file),
        &["sql", &format!("SELECT * FROM 's3://{}/x/'", s3.bucket)],
    );
    assert_ne!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("no AWS credentials found"), "{}", r.stderr);
    assert!(!r.stderr.contains("not-the-token"), "{}", r.stderr);
    assert!(endpoints.hits()["refused"].as_u64().unwrap() >= 1);
}

#[test]
fn a_web_identity_token_goes_through_sts() {
    let Some((endpoints, s3)) = Endpoints::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("web-token");
    std::fs::write(&token_file, WEB_TOKEN).unwrap();
    let (src, _) = stage_orders(&s3);
    let mut cmd = keyless();
    cmd.env("AWS_WEB_IDENTITY_TOKEN_FILE", &token_file)
        .env("AWS_ROLE_ARN", ROLE_ARN)
        .env("AWS_ROLE_SESSION_NAME", "sluice-test")
        .env("AWS_ENDPOINT_URL_STS", &endpoints.url);
    let n = run_in(
        cmd,
        &[
            "sql",
            "--format",
            "csv",
            &format!("SELECT count(*) AS n FROM '{src}'"),
        ],
    )
    .ok();
    assert_eq!(n, "n\n60\n");
    assert_eq!(endpoints.hits()["web_identity"], 1);
}

#[test]
fn a_profile_assumes_its_role_and_gives_the_region() {
    let Some((endpoints, s3)) = Endpoints::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let credentials = dir.path().join("credentials");
    std::fs::write(
        &config,
        format!(
            "[profile etl]\nrole_arn = {ROLE_ARN}\nsource_profile = base\nregion = eu-west-1\n\n[profile base]\nregion = eu-west-1\n"
        ),
    )
    .unwrap();
    std::fs::write(
        &credentials,
        format!("[base]\naws_access_key_id = {SOURCE_KEY_ID}\naws_secret_access_key = base-profile-secret\n"),
    )
    .unwrap();
    let (src, _) = stage_orders(&s3);
    let mut cmd = keyless();
    cmd.env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_PROFILE", "etl")
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .env("AWS_ENDPOINT_URL_STS", &endpoints.url);
    let r = run_in(
        cmd,
        &[
            "-vv",
            "sql",
            "--format",
            "csv",
            &format!("SELECT count(*) AS n FROM '{src}'"),
        ],
    );
    assert!(!r.stderr.contains("base-profile-secret"), "{}", r.stderr);
    assert_eq!(r.ok(), "n\n60\n");
    assert_eq!(endpoints.hits()["assume_role"], 1);
}

#[test]
fn doctor_names_the_credential_source_not_the_keys() {
    let Some((endpoints, s3)) = Endpoints::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, AUTH_TOKEN).unwrap();
    let r = run_in(
        container(&endpoints, &token_file),
        &["doctor", &format!("s3://{}/", s3.bucket), "--format", "json"],
    );
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap();
    assert!(!r.stdout.contains(&secret) && !r.stderr.contains(&secret));
    let checks = r.json();
    let creds = checks
        .iter()
        .find(|c| c["check"] == "S3 credentials")
        .expect("doctor checks the credentials");
    assert_eq!(creds["status"], "ok", "{checks:?}");
    assert_eq!(creds["detail"], "from EcsContainer", "{checks:?}");
}
