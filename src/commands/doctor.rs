//! `sluice doctor`: checks what a run needs (the catalog file, each store given, memory and spill
//! space) and says what is wrong. Credentials are reported by name only, never by value.

use futures::TryStreamExt;
use sluice_catalog::Catalog;
use sluice_engine::{Location, SluiceSession};

use crate::args::DoctorArgs;
use crate::output::{print_columns, text_column};
use crate::settings::Settings;

/// One row of the report: what was checked, `ok`, `warn` or `fail`, and why.
struct Check {
    name: String,
    status: &'static str,
    detail: String,
}

impl Check {
    /// A row of the report.
    fn new(name: impl Into<String>, status: &'static str, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status,
            detail: detail.into(),
        }
    }
}

/// Runs `sluice doctor`.
pub async fn run(args: DoctorArgs, settings: &Settings) -> anyhow::Result<()> {
    let mut checks = vec![catalog_check(settings), s3_settings_check()];
    if args
        .urls
        .iter()
        .any(|u| u.starts_with("s3://") || u.starts_with("s3a://"))
    {
        checks.push(s3_credentials_check().await?);
    }
    let session = settings.session()?;
    for url in &args.urls {
        checks.push(listing_check(&session, url).await);
    }
    checks.push(memory_check(session.memory_limit()));
    checks.push(spill_check(settings));
    let failed = checks.iter().filter(|c| c.status == "fail").count();
    print_checks(&checks, settings)?;
    if failed > 0 {
        anyhow::bail!("{failed} check(s) failed; see the table above");
    }
    Ok(())
}

/// The catalog file opens and passes SQLite's integrity check (or does not exist yet).
fn catalog_check(settings: &Settings) -> Check {
    let name = format!("catalog {}", settings.catalog.display());
    if !settings.catalog.exists() {
        return Check::new(name, "ok", "not created yet; `crawl` or `run` creates it");
    }
    match Catalog::open(&settings.catalog).and_then(|c| c.check()) {
        Ok((verdict, n)) if verdict == "ok" => Check::new(name, "ok", format!("{n} tables")),
        Ok((verdict, _)) => Check::new(name, "fail", format!("integrity check: {verdict}")),
        Err(e) => Check::new(name, "fail", sluice_jobs::error_chain(&e)),
    }
}

/// Which AWS variables are set (by name only) and the endpoint.
fn s3_settings_check() -> Check {
    let set: Vec<&str> = [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_REGION",
        "AWS_ENDPOINT_URL",
    ]
    .into_iter()
    .filter(|k| std::env::var(k).is_ok_and(|v| !v.is_empty()))
    .collect();
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| "AWS default".into());
    let set = if set.is_empty() {
        "none".to_string()
    } else {
        set.join(", ")
    };
    Check::new("S3 settings", "ok", format!("set: {set}; endpoint: {endpoint}"))
}

/// Where S3 credentials come from, when a URL given is on S3.
async fn s3_credentials_check() -> anyhow::Result<Check> {
    let (status, detail) = match sluice_engine::S3Options::from_env()?.credential_source().await {
        Ok(source) => ("ok", format!("from {source}")),
        Err(e) => ("fail", sluice_jobs::error_chain(&e)),
    };
    Ok(Check::new("S3 credentials", status, detail))
}

/// `url` can be listed, and has something in it.
async fn listing_check(session: &SluiceSession, url: &str) -> Check {
    let name = format!("list {url}");
    match count_objects(session, url).await {
        Ok(0) => Check::new(name, "warn", "reachable, but nothing is there"),
        Ok(n) => Check::new(name, "ok", format!("{n} objects")),
        Err(e) => Check::new(name, "fail", sluice_jobs::error_chain(&e)),
    }
}

/// The number of objects under `url`.
async fn count_objects(session: &SluiceSession, url: &str) -> Result<usize, sluice_engine::EngineError> {
    let location = Location::parse(url)?;
    let store = session.store_for(&location)?;
    let prefix = location.as_folder().store_path();
    let prefix = (!prefix.as_ref().is_empty()).then_some(prefix);
    let found: Vec<_> = store
        .list(prefix.as_ref())
        .try_collect()
        .await
        .map_err(|e| sluice_engine::EngineError::store(url.to_string(), e))?;
    Ok(found.len())
}

/// The memory limit against the memory available (Linux only; elsewhere the limit alone).
fn memory_check(limit: usize) -> Check {
    let limit = limit as u64;
    match available_memory() {
        Some(free) if limit > free => Check::new(
            "memory",
            "warn",
            format!(
                "limit {} is above the {} available; lower --memory-limit",
                gib(limit),
                gib(free)
            ),
        ),
        Some(free) => Check::new(
            "memory",
            "ok",
            format!("limit {}, {} available", gib(limit), gib(free)),
        ),
        None => Check::new("memory", "ok", format!("limit {}", gib(limit))),
    }
}

/// `MemAvailable` from `/proc/meminfo`, in bytes.
fn available_memory() -> Option<u64> {
    std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("MemAvailable:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    })
}

/// Bytes as GiB with one decimal.
fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// The spill directory takes a file (written, then removed).
fn spill_check(settings: &Settings) -> Check {
    let spill = settings.spill_dir().unwrap_or_else(std::env::temp_dir);
    let name = format!("spill dir {}", spill.display());
    let probe = spill.join(format!(".sluice-doctor-{}", std::process::id()));
    match std::fs::write(&probe, b"ok").and_then(|()| std::fs::remove_file(&probe)) {
        Ok(()) => Check::new(name, "ok", "writable"),
        Err(e) => Check::new(name, "fail", format!("not writable: {e}")),
    }
}

/// The checks as one table on stdout.
fn print_checks(checks: &[Check], settings: &Settings) -> anyhow::Result<()> {
    print_columns(
        settings.format,
        vec![
            ("check", text_column(checks.iter().map(|c| c.name.as_str()))),
            ("status", text_column(checks.iter().map(|c| c.status))),
            ("detail", text_column(checks.iter().map(|c| c.detail.as_str()))),
        ],
    )
}
