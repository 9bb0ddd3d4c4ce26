//! Printing errors and choosing exit codes.
//!
//! Exit codes: 0 success, 1 a failed query or job, 2 bad usage or bad input (a wrong path, bad SQL,
//! an unreadable file). Only this module decides them.

use std::process::ExitCode;

use datafusion::error::DataFusionError;
use sluice_engine::{EngineError, datafusion_is_bad_input};

/// Exit code for a failed query or job.
pub const EXIT_FAILED: u8 = 1;
/// Exit code for bad usage or bad input.
pub const EXIT_BAD_INPUT: u8 = 2;

/// An error the CLI itself raises for bad usage.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UsageError {
    /// What is wrong.
    pub message: String,
    /// What to do instead.
    pub hint: Option<String>,
}

impl UsageError {
    /// A usage error with a hint.
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
}

/// Prints `error: …`, the cause chain and hints to stderr and returns the exit code.
pub fn report(err: &anyhow::Error) -> ExitCode {
    report_as(err, false)
}

/// Like [`report`]; with `json`, the error is one JSON log line (for log shippers) instead.
#[allow(clippy::print_stderr)]
pub fn report_as(err: &anyhow::Error, json: bool) -> ExitCode {
    if is_broken_pipe(err) {
        return ExitCode::SUCCESS;
    }
    let mut lines: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = clean(&cause.to_string());
        if let Some(last) = lines.last_mut() {
            if last.contains(&text) {
                continue;
            }
            // `SQL error: ParserError("x")` followed by `sql parser error: x`: keep the readable one.
            let core = text.split_once(": ").map(|(_, rest)| rest).unwrap_or(&text);
            if last.contains(core) {
                *last = text;
                continue;
            }
        }
        lines.push(text);
    }
    if json {
        tracing::error!(
            causes = ?lines.iter().skip(1).collect::<Vec<_>>(),
            hint = hint(err).unwrap_or_default(),
            exit_code = exit_code(err),
            "{}",
            lines.first().map(String::as_str).unwrap_or("unknown error")
        );
        return ExitCode::from(exit_code(err));
    }
    eprintln!(
        "error: {}",
        lines.first().map(String::as_str).unwrap_or("unknown error")
    );
    for line in lines.iter().skip(1) {
        eprintln!("  caused by: {line}");
    }
    if let Some(hint) = hint(err) {
        eprintln!("hint: {hint}");
    }
    ExitCode::from(exit_code(err))
}

/// What the cluster codec says about a table it cannot send (see `sluice_cluster::SluiceCodec`).
const CLUSTER_REFUSAL: &str = "cannot run on the cluster: ";

/// The exit code for an error: 2 when the user must fix the input, 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.to_string().contains(CLUSTER_REFUSAL)
            || matches!(
                cause.downcast_ref::<sluice_cluster::ClusterError>(),
                Some(sluice_cluster::ClusterError::BadUrl { .. })
            )
        {
            return EXIT_BAD_INPUT;
        }
        if cause.downcast_ref::<UsageError>().is_some() {
            return EXIT_BAD_INPUT;
        }
        // A job that ran and failed is a failure whatever the cause; only a bad job file is bad input.
        if let Some(e) = cause.downcast_ref::<sluice_jobs::JobError>() {
            return if e.is_invalid_job() {
                EXIT_BAD_INPUT
            } else {
                EXIT_FAILED
            };
        }
        if let Some(e) = cause.downcast_ref::<sluice_catalog::CatalogError>() {
            return if e.is_bad_input() {
                EXIT_BAD_INPUT
            } else {
                EXIT_FAILED
            };
        }
        if let Some(e) = cause.downcast_ref::<EngineError>() {
            return if e.is_bad_input() {
                EXIT_BAD_INPUT
            } else {
                EXIT_FAILED
            };
        }
        if let Some(e) = cause.downcast_ref::<DataFusionError>() {
            return if datafusion_is_bad_input(e) {
                EXIT_BAD_INPUT
            } else {
                EXIT_FAILED
            };
        }
        if let Some(e) = cause.downcast_ref::<std::io::Error>()
            && matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
            )
        {
            return EXIT_BAD_INPUT;
        }
    }
    EXIT_FAILED
}

fn hint(err: &anyhow::Error) -> Option<String> {
    for cause in err.chain() {
        if let Some(u) = cause.downcast_ref::<UsageError>() {
            return u.hint.clone();
        }
        let text = cause.to_string();
        if text.contains("table '") && text.contains("' not found") {
            return Some("query a folder or URL by quoting it: SELECT * FROM 'data/orders/'".into());
        }
        if text.contains("failed: Cancelled") {
            return Some(
                "the cluster cancelled the job: the scheduler does that when an executor running it is lost (its log names the executor); rerun it, nothing was committed".into(),
            );
        }
        if text.contains("ResourcesExhausted") || text.contains("Resources exhausted") {
            return Some("raise --memory-limit, or lower --target-partitions".into());
        }
    }
    None
}

/// DataFusion prefixes messages with its own category names; users need only the sentence.
fn clean(text: &str) -> String {
    // A catalog table the cluster cannot read reaches here inside DataFusion's serialization error.
    if let (Some(start), Some(end)) = (text.find("table `"), text.rfind("\"))"))
        && text[start..].contains(CLUSTER_REFUSAL)
        && end > start
    {
        return text[start..end].replace("invalid value for `cluster`: ", "");
    }
    let mut t = text.trim();
    for prefix in [
        "External error: ",
        "Error during planning: ",
        "Execution error: ",
        "Object Store error: ",
        "Schema error: ",
    ] {
        while let Some(rest) = t.strip_prefix(prefix) {
            t = rest;
        }
    }
    t.to_string()
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_path_is_bad_input() {
        let err = anyhow::Error::new(EngineError::NotFound { location: "x".into() });
        assert_eq!(exit_code(&err), EXIT_BAD_INPUT);
    }

    #[test]
    fn sql_syntax_error_through_datafusion_is_bad_input() {
        let err = anyhow::Error::new(DataFusionError::Plan("bad".into()));
        assert_eq!(exit_code(&err), EXIT_BAD_INPUT);
    }

    #[test]
    fn execution_failure_is_failed() {
        let err = anyhow::Error::new(DataFusionError::Execution("division by zero".into()));
        assert_eq!(exit_code(&err), EXIT_FAILED);
    }

    #[test]
    fn datafusion_prefixes_are_removed() {
        assert_eq!(clean("External error: Error during planning: x"), "x");
    }
}
