//! The catalog's error type.

/// Result alias used throughout `sluice-catalog`.
pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

/// Everything that can go wrong in the catalog and the crawler.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The SQLite file could not be opened, migrated or written.
    #[error("catalog `{path}` failed")]
    Sqlite {
        /// The catalog file.
        path: String,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },

    /// A table name that does not exist.
    #[error("table `{name}` is not in the catalog; `sluice tables` lists what is")]
    TableNotFound {
        /// `db.table` as given.
        name: String,
    },

    /// A name that is not `db.table` or uses characters Glue and Athena reject.
    #[error("`{name}` is not a valid name: {reason}")]
    InvalidName {
        /// The name.
        name: String,
        /// What is wrong.
        reason: String,
    },

    /// The catalog file holds something this version cannot read.
    #[error("catalog `{path}` is damaged: {reason}")]
    Corrupt {
        /// The catalog file.
        path: String,
        /// What could not be read.
        reason: String,
    },

    /// A crawl with `--on-schema-change fail` met a changed table.
    #[error("the schema of `{table}` changed ({diff}); rerun with `--on-schema-change update` to accept it")]
    SchemaChanged {
        /// `db.table`.
        table: String,
        /// What changed.
        diff: String,
    },

    /// A crawl stopped by a guard rail before changing anything.
    #[error("{reason}")]
    GuardRail {
        /// What was exceeded.
        reason: String,
    },

    /// A call to the AWS Glue Data Catalog failed.
    #[error("Glue `{operation}` for `{name}` failed: {reason}")]
    Glue {
        /// The Glue API operation.
        operation: String,
        /// The database, table or partition.
        name: String,
        /// Glue's answer (never carries credentials).
        reason: String,
    },

    /// Reading the lake failed.
    #[error(transparent)]
    Engine(#[from] sluice_engine::EngineError),
}

impl CatalogError {
    /// True when another process kept the catalog locked past the busy timeout; trying again
    /// later may succeed.
    pub fn is_busy(&self) -> bool {
        match self {
            Self::Sqlite { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
            Self::Engine(e) => sluice_engine::is_transient(e),
            _ => false,
        }
    }

    /// True when the user must fix the input (exit code 2).
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::TableNotFound { .. } | Self::InvalidName { .. } | Self::GuardRail { .. } => true,
            Self::Engine(e) => e.is_bad_input(),
            Self::Sqlite { .. } | Self::Corrupt { .. } | Self::SchemaChanged { .. } | Self::Glue { .. } => {
                false
            }
        }
    }
}
