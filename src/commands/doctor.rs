//! `sluice doctor`: checks what a run needs (the catalog file, each store given, memory and spill
//! space) and says what is wrong. Credentials are reported by name only, never by value.

use futures::TryStreamExt;
use sluice_catalog::Catalog;
use sluice_engine::Location;

use crate::args::DoctorArgs;
use crate::output::{print_columns, text_column};
use crate::settings::Settings;

struct Check {
    name: String,
    status: &'static str,
    detail: String,
}

/// Runs `sluice doctor`.
pub async fn run(args: DoctorArgs, settings: &Settings) -> anyhow::Result<()> {
    let mut checks = Vec::new();
    let mut add =
        |name: String, status: &'static str, detail: String| checks.push(Check { name, status, detail });

    let catalog = settings.catalog.display().to_string();
    if settings.catalog.exists() {
        match Catalog::open(&settings.catalog).and_then(|c| c.check()) {
            Ok((verdict, n)) if verdict == "ok" => {
                add(format!("catalog {catalog}"), "ok", format!("{n} tables"))
            }
            Ok((verdict, _)) => add(
                format!("catalog {catalog}"),
                "fail",
                format!("integrity check: {verdict}"),
            ),
            Err(e) => add(format!("catalog {catalog}"), "fail", sluice_jobs::error_chain(&e)),
        }
    } else {
        add(
            format!("catalog {catalog}"),
            "ok",
            "not created yet; `crawl` or `run` creates it".into(),
        );
    }

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
    add(
        "S3 settings".into(),
        "ok",
        format!(
            "set: {}; endpoint: {endpoint}",
            if set.is_empty() {
                "none".to_string()
            } else {
                set.join(", ")
            }
        ),
    );

    if args
        .urls
        .iter()
        .any(|u| u.starts_with("s3://") || u.starts_with("s3a://"))
    {
        let (status, detail) = match sluice_engine::S3Options::from_env()?.credential_source().await {
            Ok(source) => ("ok", format!("from {source}")),
            Err(e) => ("fail", sluice_jobs::error_chain(&e)),
        };
        add("S3 credentials".into(), status, detail);
    }

    let session = settings.session()?;
    for url in &args.urls {
        let name = format!("list {url}");
        let listed = async {
            let location = Location::parse(url)?;
            let store = session.store_for(&location)?;
            let prefix = location.as_folder().store_path();
            let prefix = (!prefix.as_ref().is_empty()).then_some(prefix);
            let found: Vec<_> = store
                .list(prefix.as_ref())
                .try_collect()
                .await
                .map_err(|e| sluice_engine::EngineError::store(url.clone(), e))?;
            Ok::<_, sluice_engine::EngineError>(found.len())
        }
        .await;
        match listed {
            Ok(0) => add(name, "warn", "reachable, but nothing is there".into()),
            Ok(n) => add(name, "ok", format!("{n} objects")),
            Err(e) => add(name, "fail", sluice_jobs::error_chain(&e)),
        }
    }

    let limit = session.memory_limit();
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("MemAvailable:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    });
    let gib = |b: u64| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64);
    match total {
        Some(free) if (limit as u64) > free => add(
            "memory".into(),
            "warn",
            format!(
                "limit {} is above the {} available; lower --memory-limit",
                gib(limit as u64),
                gib(free)
            ),
        ),
        Some(free) => add(
            "memory".into(),
            "ok",
            format!("limit {}, {} available", gib(limit as u64), gib(free)),
        ),
        None => add("memory".into(), "ok", format!("limit {}", gib(limit as u64))),
    }

    let spill = settings.spill_dir().unwrap_or_else(std::env::temp_dir);
    let probe = spill.join(format!(".sluice-doctor-{}", std::process::id()));
    match std::fs::write(&probe, b"ok").and_then(|()| std::fs::remove_file(&probe)) {
        Ok(()) => add(format!("spill dir {}", spill.display()), "ok", "writable".into()),
        Err(e) => add(
            format!("spill dir {}", spill.display()),
            "fail",
            format!("not writable: {e}"),
        ),
    }

    let failed = checks.iter().filter(|c| c.status == "fail").count();
    print_columns(
        settings.format,
        vec![
            ("check", text_column(checks.iter().map(|c| c.name.as_str()))),
            ("status", text_column(checks.iter().map(|c| c.status))),
            ("detail", text_column(checks.iter().map(|c| c.detail.as_str()))),
        ],
    )?;
    if failed > 0 {
        anyhow::bail!("{failed} check(s) failed; see the table above");
    }
    Ok(())
}
