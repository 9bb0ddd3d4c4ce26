//! `[on_success]` / `[on_failure]`: tell people and tools how a run ended. A hook that fails or
//! hangs is logged and stopped; it never changes the run's own status or exit code.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

/// Longest a push of metrics may take.
const PUSH_TIMEOUT: Duration = Duration::from_secs(30);

use crate::plan::JobPlan;
use crate::record::{RunRecord, RunStatus};

/// Calls the hook that matches how `record` ended, if the job has one.
pub async fn fire(job: &JobPlan, record: &RunRecord) {
    let hook = match record.status {
        RunStatus::Succeeded => job.on_success.as_ref(),
        RunStatus::Failed | RunStatus::Timeout => job.on_failure.as_ref(),
        RunStatus::Running | RunStatus::Committing => None,
    };
    let Some(hook) = hook else { return };
    let timeout = hook.timeout;
    let body = match serde_json::to_vec(record) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "could not serialize the run record for the hook");
            return;
        }
    };
    if let Some(command) = &hook.command {
        match tokio::time::timeout(timeout, run_command(command, record, &body)).await {
            Ok(Ok(())) => tracing::info!(hook = "command", "hook ran"),
            Ok(Err(e)) => {
                tracing::error!(hook = "command", error = %e, "hook failed; the run's status stands")
            }
            Err(_) => tracing::error!(hook = "command", ?timeout, "hook timed out and was stopped"),
        }
    }
    if let Some(url) = &hook.webhook {
        match tokio::time::timeout(timeout, post(url, body)).await {
            Ok(Ok(())) => tracing::info!(hook = "webhook", "hook ran"),
            Ok(Err(e)) => {
                tracing::error!(hook = "webhook", error = %e, "hook failed; the run's status stands")
            }
            Err(_) => tracing::error!(hook = "webhook", ?timeout, "hook timed out"),
        }
    }
}

async fn run_command(command: &str, record: &RunRecord, body: &[u8]) -> Result<(), String> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .env("SLUICE_JOB", &record.job)
        .env("SLUICE_RUN_ID", &record.run_id)
        .env("SLUICE_STATUS", record.status.as_str())
        .stdin(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start `sh -c {command}`: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its stdin is fine.
        let _ = stdin.write_all(body).await;
    }
    let status = child.wait().await.map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{command}` exited with {status}"))
    }
}

async fn post(url: &str, body: Vec<u8>) -> Result<(), String> {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("POST to the webhook failed: {e}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("the webhook answered {}", response.status()))
    }
}

/// PUTs Prometheus text to a Pushgateway-style URL (the caller's full grouping path), replacing
/// what the group held.
pub async fn push_metrics(url: &str, text: String) -> Result<(), String> {
    let send = reqwest::Client::new()
        .put(url)
        .header("content-type", "text/plain; version=0.0.4")
        .body(text)
        .send();
    let response = tokio::time::timeout(PUSH_TIMEOUT, send)
        .await
        .map_err(|_| format!("pushing metrics to {url} timed out"))?
        .map_err(|e| format!("pushing metrics to {url} failed: {e}"))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!(
            "the metrics gateway {url} answered {}",
            response.status()
        ))
    }
}
