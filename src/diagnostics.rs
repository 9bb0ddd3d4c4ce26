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
pub fn report_as(err: &anyhow::Error, json: bool) -> ExitCode {
    if is_broken_pipe(err) {
        return ExitCode::SUCCESS;
    }
    let lines = cause_lines(err);
    let headline = lines.first().map(String::as_str).unwrap_or("unknown error");
    if json {
        tracing::error!(
            causes = ?lines.iter().skip(1).collect::<Vec<_>>(),
            hint = hint(err).unwrap_or_default(),
            exit_code = exit_code(err),
            "{headline}"
        );
    } else {
        print_report(headline, lines.get(1..).unwrap_or_default(), hint(err));
    }
    ExitCode::from(exit_code(err))
}

/// The error chain as lines to show: cleaned of DataFusion's prefixes, and without a cause that
/// only repeats the line before it.
fn cause_lines(err: &anyhow::Error) -> Vec<String> {
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
    lines
}

/// Prints `error: {headline}`, a `caused by:` line per cause and the hint, to stderr.
#[allow(clippy::print_stderr)]
fn print_report(headline: &str, causes: &[String], hint: Option<String>) {
    eprintln!("error: {headline}");
    for line in causes {
        eprintln!("  caused by: {line}");
    }
    if let Some(hint) = hint {
        eprintln!("hint: {hint}");
    }
}

/// What the cluster codec says about a table it cannot send (see `sluice_cluster::SluiceCodec`).
const CLUSTER_REFUSAL: &str = "cannot run on the cluster: ";

/// The exit code for an error: 2 when the user must fix the input, 1 otherwise.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    err.chain().find_map(cause_exit_code).unwrap_or(EXIT_FAILED)
}

/// The exit code one cause in an error chain decides, when it is one sluice knows; the first
/// such cause in the chain decides for the whole error.
fn cause_exit_code(cause: &(dyn std::error::Error + 'static)) -> Option<u8> {
    if is_cluster_refusal(cause) || cause.downcast_ref::<UsageError>().is_some() {
        return Some(EXIT_BAD_INPUT);
    }
    // A job that ran and failed is a failure whatever the cause; only a bad job file is bad input.
    if let Some(e) = cause.downcast_ref::<sluice_jobs::JobError>() {
        return Some(bad_input_or_failed(e.is_invalid_job()));
    }
    if let Some(e) = cause.downcast_ref::<sluice_catalog::CatalogError>() {
        return Some(bad_input_or_failed(e.is_bad_input()));
    }
    if let Some(e) = cause.downcast_ref::<EngineError>() {
        return Some(bad_input_or_failed(e.is_bad_input()));
    }
    if let Some(e) = cause.downcast_ref::<DataFusionError>() {
        return Some(bad_input_or_failed(datafusion_is_bad_input(e)));
    }
    if let Some(e) = cause.downcast_ref::<std::io::Error>()
        && matches!(
            e.kind(),
            std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
        )
    {
        return Some(EXIT_BAD_INPUT);
    }
    None
}

/// A table the cluster cannot read, or a cluster URL that is not one: both are for the user to fix.
fn is_cluster_refusal(cause: &(dyn std::error::Error + 'static)) -> bool {
    cause.to_string().contains(CLUSTER_REFUSAL)
        || matches!(
            cause.downcast_ref::<sluice_cluster::ClusterError>(),
            Some(sluice_cluster::ClusterError::BadUrl { .. })
        )
}

/// [`EXIT_BAD_INPUT`] when `bad_input`, else [`EXIT_FAILED`].
fn bad_input_or_failed(bad_input: bool) -> u8 {
    if bad_input { EXIT_BAD_INPUT } else { EXIT_FAILED }
}

/// The hint for the first cause in the chain that has one.
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

/// A broken pipe (the reader of stdout went away) anywhere in the chain.
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
