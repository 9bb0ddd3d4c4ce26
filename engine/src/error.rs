//! The engine's error type.
//!
//! Variants are sorted by who must act: [`EngineError::is_bad_input`] is true when the user must fix a
//! path, a URL, an option or a file; everything else is a failed query or a store fault.

use std::path::PathBuf;

use datafusion::error::DataFusionError;

/// Result alias used throughout `sluice-engine`.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A location given by the user does not exist.
    #[error("`{location}` does not exist; check the path or URL (folders may end with `/`)")]
    NotFound {
        /// The path or URL as the user wrote it.
        location: String,
    },

    /// A location holds no data files sluice can read.
    #[error(
        "`{location}` holds no data files; expected files ending in .csv, .tsv, .json, .jsonl, .ndjson or .parquet (optionally .gz, .bz2, .xz, .zst)"
    )]
    NoDataFiles {
        /// The folder or prefix that was listed.
        location: String,
    },

    /// A string could not be understood as a path or URL.
    #[error("`{location}` is not a valid path or URL: {reason}")]
    InvalidLocation {
        /// The offending text.
        location: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A URL scheme sluice has no store for.
    #[error("unsupported URL scheme `{scheme}` in `{location}`; use a local path, `file://` or `s3://`")]
    UnsupportedScheme {
        /// The scheme, e.g. `gs`.
        scheme: String,
        /// The whole location.
        location: String,
    },

    /// A file whose format could not be determined or is not supported.
    #[error(
        "cannot tell the format of `{path}`; pass the format explicitly (`--input-format csv|json|parquet`)"
    )]
    UnknownFormat {
        /// The file.
        path: String,
    },

    /// An option value the user gave is wrong.
    #[error("invalid value for `{option}`: {reason}")]
    InvalidOption {
        /// The option name, e.g. `--memory-limit`.
        option: String,
        /// What is wrong and what is accepted.
        reason: String,
    },

    /// A local file or folder could not be read or written.
    #[error("cannot access `{}`", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// An object store operation failed.
    #[error("object store operation on `{location}` failed")]
    Store {
        /// The object or prefix.
        location: String,
        /// The store's error (never carries credentials).
        #[source]
        source: object_store::Error,
    },

    /// The output location already holds data and the write mode does not allow replacing it.
    #[error(
        "`{location}` already holds data; choose `--mode overwrite` or `--mode append`, or another destination"
    )]
    DestinationNotEmpty {
        /// The destination.
        location: String,
    },

    /// Writing Parquet failed.
    #[error("writing Parquet file `{path}` failed")]
    Parquet {
        /// The file being written.
        path: String,
        /// The writer's error.
        #[source]
        source: parquet::errors::ParquetError,
    },

    /// A commit record could not be read.
    #[error(
        "commit record `{path}` is damaged ({reason}); restore it from a backup or move it away and run `sluice vacuum`"
    )]
    CorruptLog {
        /// The record.
        path: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Reading or appending a Delta Lake log failed.
    #[error("the Delta log of `{location}` could not be read or written")]
    Delta {
        /// The table.
        location: String,
        /// deltalake-core's error.
        #[source]
        source: Box<deltalake_core::DeltaTableError>,
    },

    /// A table sluice cannot read or write faithfully.
    #[error("`{location}` cannot be used as a Delta table: {reason}")]
    UnsupportedTable {
        /// The table.
        location: String,
        /// What sluice does not support, and what to do.
        reason: String,
    },

    /// Time travel to a version the table does not have.
    #[error("`{location}` has no {as_of}: {reason}; `sluice table history` lists its versions")]
    NoSuchVersion {
        /// The table.
        location: String,
        /// The version or timestamp asked for.
        as_of: String,
        /// Why it cannot be read.
        reason: String,
    },

    /// Time travel on a table without a Delta log.
    #[error("`{table}` is not a Delta table, so it has no older versions to read; {hint}")]
    NotDelta {
        /// The table as named in the query.
        table: String,
        /// What it is instead, and what to do.
        hint: String,
    },

    /// Other writers kept committing to the same destination.
    #[error(
        "gave up committing to `{location}` after {attempts} attempts: other writes kept committing first"
    )]
    CommitConflict {
        /// The destination.
        location: String,
        /// Attempts made.
        attempts: usize,
    },

    /// Another write changed the partitions a merge read before the merge could commit.
    #[error(
        "another write committed to the partitions this merge touches in `{location}` while it ran; nothing was changed, run the merge again"
    )]
    MergeConflict {
        /// The destination.
        location: String,
    },

    /// Work stopped because another part of the same write failed.
    #[error("cancelled because another part of the write failed")]
    Cancelled,

    /// A record did not parse under `on_bad_records = fail`.
    #[error(
        "bad record in {0}. To read around bad records, set on_bad_records to skip or quarantine (`--on-bad-records` on the command line)"
    )]
    BadRecord(String),

    /// More bad records than `max_bad_records` allows.
    #[error("{found} records are bad, over the limit of {limit} (max_bad_records); the first: {first}")]
    TooManyBadRecords {
        /// How many were found.
        found: String,
        /// The limit, as written.
        limit: String,
        /// The first bad record.
        first: String,
    },

    /// A query failed in DataFusion.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
}

impl EngineError {
    /// True when the error is the user's to fix (a bad path, URL, option, file or SQL), which the CLI
    /// reports with exit code 2.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::NotFound { .. }
            | Self::NoDataFiles { .. }
            | Self::InvalidLocation { .. }
            | Self::UnsupportedScheme { .. }
            | Self::UnknownFormat { .. }
            | Self::InvalidOption { .. }
            | Self::DestinationNotEmpty { .. }
            | Self::NoSuchVersion { .. }
            | Self::NotDelta { .. }
            | Self::BadRecord(_)
            | Self::TooManyBadRecords { .. }
            | Self::UnsupportedTable { .. } => true,
            Self::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
            ),
            Self::Store { source, .. } => matches!(source, object_store::Error::NotFound { .. }),
            Self::DataFusion(e) => datafusion_is_bad_input(e),
            Self::Parquet { .. }
            | Self::CorruptLog { .. }
            | Self::Delta { .. }
            | Self::CommitConflict { .. }
            | Self::MergeConflict { .. }
            | Self::Cancelled => false,
        }
    }

    /// A write option names a column the rows do not have.
    pub fn unknown_column(option: &str, column: &str, schema: &arrow::datatypes::Schema) -> Self {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        Self::InvalidOption {
            option: option.to_string(),
            reason: format!(
                "column `{column}` is not in the output; it has: {}",
                names.join(", ")
            ),
        }
    }

    /// Wraps a store error for `location`; a missing object becomes [`EngineError::NotFound`].
    pub fn store(location: impl Into<String>, source: object_store::Error) -> Self {
        match source {
            object_store::Error::NotFound { .. } => Self::NotFound {
                location: location.into(),
            },
            source => Self::Store {
                location: location.into(),
                source,
            },
        }
    }
}

/// Classifies a DataFusion error: SQL the user wrote wrong (parse, plan, schema errors) or one of
/// sluice's own bad-input errors carried through DataFusion.
pub fn datafusion_is_bad_input(e: &DataFusionError) -> bool {
    match e {
        DataFusionError::SQL(..)
        | DataFusionError::Plan(_)
        | DataFusionError::SchemaError(..)
        | DataFusionError::Configuration(_)
        | DataFusionError::NotImplemented(_) => true,
        DataFusionError::Context(_, inner) => datafusion_is_bad_input(inner),
        DataFusionError::Diagnostic(_, inner) => datafusion_is_bad_input(inner),
        DataFusionError::Shared(inner) => datafusion_is_bad_input(inner),
        DataFusionError::External(inner) => inner
            .downcast_ref::<EngineError>()
            .is_some_and(EngineError::is_bad_input),
        DataFusionError::ObjectStore(inner) => {
            matches!(inner.as_ref(), object_store::Error::NotFound { .. })
        }
        DataFusionError::ArrowError(inner, _) => matches!(
            inner.as_ref(),
            arrow::error::ArrowError::CsvError(_)
                | arrow::error::ArrowError::JsonError(_)
                | arrow::error::ArrowError::ParseError(_)
        ),
        _ => false,
    }
}

impl From<EngineError> for DataFusionError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::DataFusion(inner) => inner,
            other => DataFusionError::External(Box::new(other)),
        }
    }
}

/// True when `error` (or anything in its chain of causes) is a fault that may pass on its own: a store
/// request that failed with a server error, throttling or a dropped connection after the store's own
/// retries, a timeout, or a commit that lost the race too often. Bad input, bad SQL, missing objects
/// and denied access are never transient; retrying them only repeats the failure.
pub fn is_transient(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(engine) = e.downcast_ref::<EngineError>() {
            match engine {
                EngineError::CommitConflict { .. } | EngineError::MergeConflict { .. } => return true,
                _ if engine.is_bad_input() => return false,
                _ => {}
            }
        }
        if let Some(df) = e.downcast_ref::<DataFusionError>()
            && (datafusion_is_bad_input(df) || matches!(df, DataFusionError::ResourcesExhausted(_)))
        {
            return false;
        }
        if let Some(store) = e.downcast_ref::<object_store::Error>() {
            return match store {
                object_store::Error::Generic { source, .. } => {
                    is_transient(source.as_ref()) || transient_text(&source.to_string())
                }
                object_store::Error::JoinError { .. } => true,
                _ => false,
            };
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            if matches!(
                io.kind(),
                ConnectionReset
                    | ConnectionAborted
                    | ConnectionRefused
                    | BrokenPipe
                    | TimedOut
                    | UnexpectedEof
                    | Interrupted
                    | NotConnected
            ) {
                return true;
            }
        }
        current = e.source();
    }
    false
}

/// Store errors arrive as text from HTTP clients; these fragments mark the faults worth retrying.
fn transient_text(text: &str) -> bool {
    const MARKERS: &[&str] = &[
        "500 Internal Server Error",
        "502 Bad Gateway",
        "503 Service Unavailable",
        "504 Gateway Timeout",
        "429 Too Many Requests",
        "SlowDown",
        "RequestTimeout",
        "timed out",
        "connection closed",
        "connection reset",
        "error sending request",
        "Connection refused",
    ];
    MARKERS.iter().any(|m| text.contains(m))
}
