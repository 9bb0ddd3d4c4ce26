//! `sluice run`, `sluice runs` and `sluice bookmark`.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::Float64Array;

use sluice_catalog::{Catalog, RunRow};
use sluice_engine::new_run_id;
use sluice_jobs::record::RunSummary;
use sluice_jobs::workflow::{Workflow, WorkflowRunner, conditions, describe};
use sluice_jobs::{Builtins, DryRun, JobFile, Registry, RunRecord, Runner, WorkflowRecord};

use crate::args::{BookmarkCommand, OutputFormat, RunArgs, RunsArgs};
use crate::diagnostics::UsageError;
use crate::output::{IoProgress, Record, human_bytes, number_column, print_columns, text_column};
use crate::settings::Settings;

/// Runs `sluice run`.
pub async fn run(args: RunArgs, settings: &Settings, registry: &Registry) -> anyhow::Result<()> {
    let mut overrides = BTreeMap::new();
    for p in &args.params {
        let (name, value) = p.split_once('=').ok_or_else(|| {
            UsageError::new(
                format!("`--param {p}` has no value"),
                "write `--param name=value`, e.g. `--param run_date=2026-11-20`",
            )
        })?;
        overrides.insert(name.trim().to_string(), value.to_string());
    }
    let run_id = new_run_id();
    let builtins = Builtins {
        run_id: run_id.clone(),
        today: chrono::Utc::now().date_naive(),
    };
    let job = match sluice_jobs::open(&args.job.display().to_string(), &overrides, &builtins, registry)? {
        JobFile::Job(job) => job,
        JobFile::Workflow(workflow) => {
            return run_workflow(&args, workflow, &run_id, settings, registry).await;
        }
    };
    let catalog = settings.catalog_for(args.dry_run)?;
    let catalog = Arc::new(catalog);
    let runner = Runner::new(registry.clone(), Arc::clone(&catalog), settings.session_factory())
        .with_bad_records(settings.bad_records.clone());
    if args.dry_run {
        let plan = runner.dry_run(&job).await?;
        return print_plan(&plan, settings.format);
    }
    let progress = IoProgress::start(
        format!("running job {}", job.name()),
        None,
        settings.show_progress(),
    );
    let outcome = runner.run(&job, &run_id).await;
    progress.finish();
    let outcome = outcome?;
    publish_metrics(&args, &[&outcome.record], &catalog).await;
    print_record(&outcome.record, settings.format)?;
    match outcome.error {
        None if args.sync_glue => sync_glue(&[&outcome.record], &catalog, settings).await,
        None => Ok(()),
        Some(e) => Err(e.into()),
    }
}

/// `run --sync-glue`: after the runs committed, syncs the databases of the catalog tables their
/// sinks updated (`table = "db.t"`) to the AWS Glue Data Catalog.
async fn sync_glue(records: &[&RunRecord], catalog: &Catalog, settings: &Settings) -> anyhow::Result<()> {
    let mut databases: Vec<String> = records
        .iter()
        .flat_map(|r| &r.sinks)
        .filter_map(|s| Some(s.table.as_deref()?.split_once('.')?.0.to_string()))
        .collect();
    databases.sort();
    databases.dedup();
    if databases.is_empty() {
        tracing::warn!("--sync-glue: no sink names a catalog table (`table = \"db.t\"`); nothing to sync");
        return Ok(());
    }
    crate::commands::catalog::sync_after(catalog, databases, settings).await
}

/// Writes and pushes the metrics of finished job runs. The runs' own outcome matters more than
/// their metrics, so failures here are logged, not returned.
async fn publish_metrics(args: &RunArgs, records: &[&RunRecord], catalog: &Catalog) {
    if let Some(path) = &args.metrics_file {
        let written = crate::commands::metrics::render(records, catalog)
            .and_then(|text| crate::commands::metrics::write(path, &text));
        if let Err(e) = written {
            tracing::error!(error = %e, "could not write the metrics file");
        }
    }
    if let Some(base) = &args.metrics_push {
        for record in records {
            let url = format!("{}/metrics/job/{}", base.trim_end_matches('/'), record.job);
            let pushed = match crate::commands::metrics::render(&[record], catalog) {
                Ok(text) => sluice_jobs::hooks::push_metrics(&url, text).await,
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = pushed {
                tracing::error!(error = %e, "could not push the metrics");
            }
        }
    }
}

/// `sluice run WORKFLOW.toml`.
async fn run_workflow(
    args: &RunArgs,
    workflow: Workflow,
    run_id: &str,
    settings: &Settings,
    registry: &Registry,
) -> anyhow::Result<()> {
    let catalog = Arc::new(settings.catalog_for(args.dry_run)?);
    let runner = Runner::new(registry.clone(), Arc::clone(&catalog), settings.session_factory())
        .with_bad_records(settings.bad_records.clone());
    if args.dry_run {
        return print_workflow_plan(&workflow, settings.format);
    }
    let runner = WorkflowRunner::new(runner, Arc::clone(&catalog), settings.session_factory());
    let progress = IoProgress::start(
        format!("running workflow {}", workflow.name),
        None,
        settings.show_progress(),
    );
    let outcome = runner.run(&workflow, run_id).await;
    progress.finish();
    let outcome = outcome?;
    let records: Vec<&RunRecord> = outcome.job_runs.iter().collect();
    publish_metrics(args, &records, &catalog).await;
    print_workflow_record(&outcome.record, settings.format)?;
    let failed: Vec<&str> = outcome
        .record
        .nodes
        .iter()
        .filter(|n| n.state == sluice_jobs::workflow::NodeState::Failed)
        .map(|n| n.name.as_str())
        .collect();
    if failed.is_empty() {
        if args.sync_glue {
            return sync_glue(&records, &catalog, settings).await;
        }
        Ok(())
    } else {
        anyhow::bail!(
            "workflow `{}` run {run_id}: {} failed (`sluice runs --workflow-run {run_id}` lists its job runs)",
            workflow.name,
            failed.join(", ")
        )
    }
}

fn print_workflow_plan(workflow: &Workflow, format: OutputFormat) -> anyhow::Result<()> {
    let n = &workflow.nodes;
    let does: Vec<String> = n.iter().map(describe).collect();
    let when: Vec<String> = n.iter().map(conditions).collect();
    print_columns(
        format,
        vec![
            ("node", text_column(n.iter().map(|n| n.name.as_str()))),
            ("does", text_column(does.iter().map(String::as_str))),
            ("runs_when", text_column(when.iter().map(String::as_str))),
        ],
    )
}

fn print_workflow_record(record: &WorkflowRecord, format: OutputFormat) -> anyhow::Result<()> {
    if matches!(format, OutputFormat::Json | OutputFormat::Ndjson) {
        return print_json(record, format);
    }
    let n = &record.nodes;
    let detail: Vec<&str> = n
        .iter()
        .map(|n| n.error.as_deref().or(n.detail.as_deref()).unwrap_or(""))
        .collect();
    print_columns(
        format,
        vec![
            ("node", text_column(n.iter().map(|n| n.name.as_str()))),
            ("kind", text_column(n.iter().map(|n| n.kind.as_str()))),
            ("target", text_column(n.iter().map(|n| n.target.as_str()))),
            ("state", text_column(n.iter().map(|n| n.state.as_str()))),
            (
                "run_id",
                text_column(n.iter().map(|n| n.run_id.as_deref().unwrap_or(""))),
            ),
            (
                "seconds",
                Arc::new(Float64Array::from_iter_values(n.iter().map(|n| n.seconds))),
            ),
            ("detail", text_column(detail.iter().copied())),
        ],
    )
}

fn print_record(record: &RunRecord, format: OutputFormat) -> anyhow::Result<()> {
    if matches!(format, OutputFormat::Json | OutputFormat::Ndjson) {
        return print_json(record, format);
    }
    let partitions: usize = record.sinks.iter().map(|s| s.partitions.len()).sum();
    let files_read: usize = record.sources.iter().map(|s| s.files_read).sum();
    let rows_read: u64 = record.sources.iter().map(|s| s.rows_read).sum();
    let rules_failed = record.quality.iter().filter(|r| !r.passed).count();
    Record::new()
        .text("job", &record.job)
        .text("run_id", &record.run_id)
        .text("status", record.status.as_str())
        .number("attempts", record.attempts.len() as u64)
        .number("files_read", files_read as u64)
        .number("rows_read", rows_read)
        .bytes("bytes_read", record.bytes_read)
        .number("rows_written", record.rows_written)
        .bytes("bytes_written", record.bytes_written)
        .number("partitions_written", partitions as u64)
        .number("rules", record.quality.len() as u64)
        .number("rules_failed", rules_failed as u64)
        .seconds("seconds", record.seconds)
        .print(format)
}

#[allow(clippy::print_stdout)]
fn print_json(value: &impl serde::Serialize, format: OutputFormat) -> anyhow::Result<()> {
    let text = if format == OutputFormat::Ndjson {
        serde_json::to_string(value)?
    } else {
        serde_json::to_string_pretty(value)?
    };
    println!("{text}");
    Ok(())
}

/// Shows at most this many files or partitions per source or sink before summarizing.
const SHOWN: usize = 10;

fn shortened(items: &[String]) -> String {
    let mut text = items.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > SHOWN {
        text.push_str(&format!(", … ({} more)", items.len() - SHOWN));
    }
    text
}

#[allow(clippy::print_stdout)]
fn print_plan(plan: &DryRun, format: OutputFormat) -> anyhow::Result<()> {
    if matches!(format, OutputFormat::Json | OutputFormat::Ndjson) {
        return print_json(plan, format);
    }
    println!("job {} (dry run: nothing is written)", plan.job);
    let params: Vec<String> = plan.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("params: {}", params.join(" "));
    println!("sources:");
    for s in &plan.sources {
        let r = &s.record;
        let incremental = if r.bookmark {
            format!(" (bookmark: {} new of {})", r.files_read, r.files_total)
        } else {
            String::new()
        };
        println!(
            "  {} <- {}: {} files, {}{incremental}",
            r.name,
            r.from,
            r.files_read,
            human_bytes(r.bytes_read)
        );
        if !s.partitions.is_empty() {
            println!("    partitions: {}", shortened(&s.partitions));
        }
        println!("    files: {}", shortened(&s.files));
    }
    println!("steps:");
    for s in &plan.steps {
        println!("  {} [{}] reads {}", s.name, s.kind, s.reads.join(", "));
        println!("    columns: {}", s.columns.join(", "));
    }
    println!("sinks:");
    for s in &plan.sinks {
        let table = s
            .table
            .as_deref()
            .map(|t| format!(", catalog table {t}"))
            .unwrap_or_default();
        println!("  {} -> {} ({}{table})", s.from, s.path, s.mode);
        if !s.partitions.is_empty() {
            println!(
                "    partitions ({}): {}",
                s.partitions.len(),
                shortened(&s.partitions)
            );
        }
    }
    if !plan.quality.is_empty() {
        println!("quality:");
        for q in &plan.quality {
            println!("  {q}");
        }
    }
    Ok(())
}

/// A job name from a name or a job file path.
pub(crate) fn job_name(arg: &str) -> anyhow::Result<String> {
    let path = std::path::Path::new(arg);
    if !(arg.ends_with(".toml") && path.is_file()) {
        return Ok(arg.to_string());
    }
    let text = std::fs::read_to_string(path)?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| {
        UsageError::new(
            format!("job file `{arg}` is not valid TOML: {e}"),
            "fix the file or pass the job's name",
        )
    })?;
    table
        .get("name")
        .and_then(toml::Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            UsageError::new(
                format!("job file `{arg}` has no `name`"),
                "add `name = \"...\"` to it",
            )
            .into()
        })
}

/// Runs `sluice runs`.
pub fn runs(args: RunsArgs, settings: &Settings) -> anyhow::Result<()> {
    let catalog = Catalog::open(&settings.catalog)?;
    if let Some(run_id) = &args.run {
        let run = catalog.run(run_id)?.ok_or_else(|| {
            UsageError::new(
                format!("no run has the id `{run_id}`"),
                "`sluice runs` lists the runs",
            )
        })?;
        let format = match settings.format {
            OutputFormat::Ndjson => OutputFormat::Ndjson,
            _ => OutputFormat::Json,
        };
        return print_json(&run.record, format);
    }
    let rows = select_runs(&args, &catalog, settings)?;
    if matches!(settings.format, OutputFormat::Json | OutputFormat::Ndjson) {
        let records: Vec<&serde_json::Value> = rows.iter().map(|r| &r.record).collect();
        return print_json(&records, settings.format);
    }
    print_runs(&rows, settings.format)
}

/// The runs `sluice runs` lists: those of a workflow run, or the latest (of one job).
fn select_runs(args: &RunsArgs, catalog: &Catalog, settings: &Settings) -> anyhow::Result<Vec<RunRow>> {
    if let Some(parent) = &args.workflow_run {
        return Ok(catalog.runs_in_workflow(parent)?);
    }
    let job = args.job.as_deref().map(job_name).transpose()?;
    let rows = catalog.runs(job.as_deref(), args.limit)?;
    if let Some(job) = job.filter(|_| rows.is_empty()) {
        let known = catalog.job_names()?;
        return Err(UsageError::new(
            format!("job `{job}` has no runs in {}", settings.catalog.display()),
            crate::names::suggest(&job, &known, "jobs with runs"),
        )
        .into());
    }
    Ok(rows)
}

fn print_runs(rows: &[RunRow], format: OutputFormat) -> anyhow::Result<()> {
    let s: Vec<RunSummary> = rows.iter().map(RunSummary::of).collect();
    print_columns(
        format,
        vec![
            ("run_id", text_column(rows.iter().map(|r| r.run_id.as_str()))),
            ("job", text_column(rows.iter().map(|r| r.job.as_str()))),
            ("status", text_column(rows.iter().map(|r| r.status.as_str()))),
            (
                "started_at",
                text_column(rows.iter().map(|r| r.started_at.as_str())),
            ),
            (
                "seconds",
                Arc::new(Float64Array::from_iter_values(s.iter().map(|r| r.seconds))),
            ),
            ("attempts", number_column(s.iter().map(|r| r.attempts))),
            ("rows_written", number_column(s.iter().map(|r| r.rows_written))),
            ("bytes_read", number_column(s.iter().map(|r| r.bytes_read))),
            ("bytes_written", number_column(s.iter().map(|r| r.bytes_written))),
            (
                "error",
                text_column(s.iter().map(|r| r.error.as_deref().unwrap_or(""))),
            ),
        ],
    )
}

/// Runs `sluice bookmark show|reset|rewind`.
pub fn bookmark(command: BookmarkCommand, settings: &Settings) -> anyhow::Result<()> {
    let catalog = Catalog::open(&settings.catalog)?;
    match command {
        BookmarkCommand::Show { job } => {
            let job = job_name(&job)?;
            let b = catalog.bookmarks(&job)?;
            print_columns(
                settings.format,
                vec![
                    ("source", text_column(b.iter().map(|b| b.source.as_str()))),
                    ("files", number_column(b.iter().map(|b| b.files))),
                    ("bytes", number_column(b.iter().map(|b| b.bytes))),
                    (
                        "newest_file",
                        text_column(b.iter().map(|b| b.newest_file.as_str())),
                    ),
                    ("last_run", text_column(b.iter().map(|b| b.last_run.as_str()))),
                ],
            )
        }
        BookmarkCommand::Reset { job, source } => {
            let job = job_name(&job)?;
            let n = catalog.reset_bookmarks(&job, source.as_deref())?;
            Record::new()
                .text("job", job)
                .number("files_forgotten", n as u64)
                .print(settings.format)
        }
        BookmarkCommand::Rewind { job, to_run } => {
            let job = job_name(&job)?;
            let n = catalog.rewind_bookmarks(&job, &to_run)?;
            Record::new()
                .text("job", job)
                .text("to_run", to_run)
                .number("files_forgotten", n as u64)
                .print(settings.format)
        }
    }
}
