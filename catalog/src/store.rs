//! The catalog in a SQLite file: numbered migrations, WAL and a busy timeout so two sluice
//! processes can share it, and one transaction per change.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::{CatalogError, Result};
use crate::model::{ColumnDef, FileEntry, TableDef, TableSummary};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE databases (
    name TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);
CREATE TABLE tables (
    id INTEGER PRIMARY KEY,
    database TEXT NOT NULL REFERENCES databases(name),
    name TEXT NOT NULL,
    location TEXT NOT NULL,
    classification TEXT NOT NULL,
    has_header INTEGER NOT NULL,
    delimiter INTEGER,
    columns TEXT NOT NULL,
    partition_keys TEXT NOT NULL,
    object_count INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL,
    partition_count INTEGER NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (database, name)
);
CREATE TABLE files (
    table_id INTEGER NOT NULL REFERENCES tables(id) ON DELETE CASCADE,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    last_modified TEXT NOT NULL,
    partition_values TEXT NOT NULL,
    PRIMARY KEY (table_id, path)
);
CREATE TABLE table_versions (
    table_id INTEGER NOT NULL REFERENCES tables(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    changed_at TEXT NOT NULL,
    diff TEXT NOT NULL,
    PRIMARY KEY (table_id, version)
);
"#,
    r#"
CREATE TABLE job_runs (
    run_id TEXT PRIMARY KEY,
    job TEXT NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    record TEXT NOT NULL
);
CREATE INDEX job_runs_by_job ON job_runs (job, started_at);
CREATE TABLE bookmarks (
    job TEXT NOT NULL,
    source TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    last_modified TEXT NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (job, source, path)
);
CREATE TABLE job_locks (
    job TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    acquired_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
);
"#,
    r#"
ALTER TABLE tables ADD COLUMN deprecated_at TEXT;
ALTER TABLE tables ADD COLUMN pins TEXT NOT NULL DEFAULT '{}';
"#,
    r#"
ALTER TABLE files ADD COLUMN rows INTEGER;
"#,
    r#"
ALTER TABLE files ADD COLUMN format TEXT;
"#,
    r#"
ALTER TABLE tables ADD COLUMN quote INTEGER;
"#,
    r#"
ALTER TABLE tables ADD COLUMN read_by_name INTEGER NOT NULL DEFAULT 0;
"#,
    r#"
ALTER TABLE tables ADD COLUMN json_array INTEGER NOT NULL DEFAULT 0;
"#,
    // A query's filters on the first partition key find their files through these (see
    // `pushdown`): the value as written, and the few values a test on the written text cannot
    // decide (integers not written plainly, dates not written as ten characters).
    r#"
CREATE INDEX files_first_value ON files (table_id, json_extract(partition_values, '$[0]'));
CREATE INDEX files_first_not_integer ON files (table_id)
    WHERE CAST(CAST(json_extract(partition_values, '$[0]') AS INTEGER) AS TEXT) IS NOT json_extract(partition_values, '$[0]');
CREATE INDEX files_first_not_date ON files (table_id)
    WHERE length(json_extract(partition_values, '$[0]')) IS NOT 10;
"#,
];

/// What an upsert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A new table.
    Created,
    /// An existing table changed; the text says how.
    Updated(String),
    /// Nothing changed.
    Unchanged,
}

/// Which of a table's files [`Catalog::find_matching`] reads.
#[derive(Debug, Clone, Copy)]
pub enum Files<'a> {
    /// Every file.
    All,
    /// None: the table's definition only.
    None,
    /// Those whose partition values meet the condition.
    Matching(&'a crate::pushdown::PartitionCondition),
}

/// A catalog file.
#[derive(Debug)]
pub struct Catalog {
    path: String,
    pub(crate) conn: Mutex<Connection>,
}

/// Switches a connection to WAL. Changing the journal mode needs the file to itself for a moment and
/// may answer "busy" at once, without the busy timeout, while other processes open the same new
/// catalog: try again for a while.
fn set_wal(conn: &Connection) -> rusqlite::Result<()> {
    let mut attempts = 0;
    loop {
        match conn.pragma_update(None, "journal_mode", "WAL") {
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) && attempts < 300 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

impl Catalog {
    /// Opens (creating if needed) and migrates the catalog at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let shown = path.as_ref().display().to_string();
        let err = |source| CatalogError::Sqlite {
            path: shown.clone(),
            source,
        };
        let mut conn = Connection::open(path.as_ref()).map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(err)?;
        set_wal(&conn).map_err(err)?;
        conn.pragma_update(None, "foreign_keys", true).map_err(err)?;
        // Migrate inside one write transaction, reading the version under the lock, so processes that
        // open a new catalog at the same moment do not both create its tables.
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let applied: i64 = tx
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(err)?;
        let applied = applied.max(0) as usize;
        if applied > MIGRATIONS.len() {
            return Err(CatalogError::Corrupt {
                path: shown,
                reason: format!(
                    "it has schema version {applied}, newer than this sluice knows; upgrade sluice"
                ),
            });
        }
        for (i, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
            tx.execute_batch(migration).map_err(err)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(Self {
            path: shown,
            conn: Mutex::new(conn),
        })
    }

    /// The catalog file's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// SQLite's integrity check and the number of tables: `("ok", n)` for a healthy file.
    pub fn check(&self) -> Result<(String, usize)> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let verdict: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(self.err())?;
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM tables", [], |r| r.get(0))
            .map_err(self.err())?;
        Ok((verdict, tables.max(0) as usize))
    }

    pub(crate) fn err(&self) -> impl Fn(rusqlite::Error) -> CatalogError + '_ {
        |source| CatalogError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    pub(crate) fn corrupt(&self, reason: String) -> CatalogError {
        CatalogError::Corrupt {
            path: self.path.clone(),
            reason,
        }
    }

    /// Creates or updates a table (and its database) in one transaction; bumps the version and records
    /// a readable diff when anything changed.
    pub fn upsert(&self, table: &TableDef) -> Result<Change> {
        let existing = self.find(&table.database, &table.name)?;
        let change = match &existing {
            None => Change::Created,
            Some(old) => match table.diff(old) {
                Some(diff) => Change::Updated(diff),
                None => return Ok(Change::Unchanged),
            },
        };
        let now = chrono::Utc::now().to_rfc3339();
        let mut conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(self.err())?;
        tx.execute(
            "INSERT OR IGNORE INTO databases (name, created_at) VALUES (?1, ?2)",
            params![table.database, now],
        )
        .map_err(self.err())?;
        let json = |v: &Vec<ColumnDef>| serde_json::to_string(v).expect("columns serialize");
        let bytes: u64 = table.files.iter().map(|f| f.size).sum();
        let id: i64 = tx
            .query_row(
                "INSERT INTO tables (database, name, location, classification, has_header, delimiter, columns,
                     partition_keys, object_count, size_bytes, partition_count, version, created_at, updated_at,
                     quote, read_by_name, json_array)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 1, ?12, ?12, ?13, ?14, ?15)
                 ON CONFLICT (database, name) DO UPDATE SET location = excluded.location,
                     classification = excluded.classification, has_header = excluded.has_header,
                     delimiter = excluded.delimiter, quote = excluded.quote, columns = excluded.columns,
                     read_by_name = excluded.read_by_name, json_array = excluded.json_array,
                     partition_keys = excluded.partition_keys, object_count = excluded.object_count,
                     size_bytes = excluded.size_bytes, partition_count = excluded.partition_count,
                     version = tables.version + 1, updated_at = excluded.updated_at
                 RETURNING id",
                params![
                    table.database,
                    table.name,
                    table.location,
                    table.classification,
                    table.has_header,
                    table.delimiter,
                    json(&table.columns),
                    json(&table.partition_keys),
                    table.files.len() as i64,
                    bytes as i64,
                    table.partition_count() as i64,
                    now,
                    table.quote,
                    table.read_by_name,
                    table.json_array
                ],
                |r| r.get(0),
            )
            .map_err(self.err())?;
        tx.execute("DELETE FROM files WHERE table_id = ?1", params![id])
            .map_err(self.err())?;
        {
            let mut insert = tx
                .prepare("INSERT INTO files (table_id, path, size, last_modified, partition_values, rows, format) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                .map_err(self.err())?;
            for f in &table.files {
                let values = serde_json::to_string(&f.partition_values).expect("values serialize");
                insert
                    .execute(params![
                        id,
                        f.path,
                        f.size as i64,
                        f.last_modified,
                        values,
                        f.rows.map(|n| n as i64),
                        f.format
                    ])
                    .map_err(self.err())?;
            }
        }
        let diff = match &change {
            Change::Created => format!("created with {} columns", table.columns.len()),
            Change::Updated(d) => d.clone(),
            Change::Unchanged => unreachable!("returned above"),
        };
        tx.execute(
            "INSERT INTO table_versions (table_id, version, changed_at, diff)
             SELECT id, version, ?2, ?3 FROM tables WHERE id = ?1",
            params![id, now, diff],
        )
        .map_err(self.err())?;
        tx.commit().map_err(self.err())?;
        Ok(change)
    }

    /// The databases that hold tables, sorted.
    pub fn databases(&self) -> Result<Vec<String>> {
        self.names("SELECT DISTINCT database FROM tables ORDER BY database", &[])
    }

    /// The names of the tables of `database`, sorted.
    pub fn table_names(&self, database: &str) -> Result<Vec<String>> {
        self.names(
            "SELECT name FROM tables WHERE database = ?1 ORDER BY name",
            &[&database],
        )
    }

    /// The first column of every row `sql` returns, as text.
    fn names(&self, sql: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<String>> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut stmt = conn.prepare(sql).map_err(self.err())?;
        let names = stmt
            .query_map(args, |r| r.get::<_, String>(0))
            .map_err(self.err())?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(self.err())?;
        Ok(names)
    }

    /// The table `database.name`, if present.
    pub fn find(&self, database: &str, name: &str) -> Result<Option<TableDef>> {
        self.find_matching(database, name, Files::All)
    }

    /// A table with only the files `files` selects (see [`Files`]).
    pub fn find_matching(&self, database: &str, name: &str, files: Files<'_>) -> Result<Option<TableDef>> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let row = conn
            .query_row(
                "SELECT id, location, classification, has_header, delimiter, columns, partition_keys, quote,
                     read_by_name, json_array
                 FROM tables WHERE database = ?1 AND name = ?2",
                params![database, name],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, bool>(3)?,
                        r.get::<_, Option<u8>>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, Option<u8>>(7)?,
                        r.get::<_, bool>(8)?,
                        r.get::<_, bool>(9)?,
                    ))
                },
            )
            .optional()
            .map_err(self.err())?;
        let Some((
            id,
            location,
            classification,
            has_header,
            delimiter,
            columns,
            keys,
            quote,
            read_by_name,
            json_array,
        )) = row
        else {
            return Ok(None);
        };
        let parse = |text: &str| -> Result<Vec<ColumnDef>> {
            serde_json::from_str(text)
                .map_err(|e| self.corrupt(format!("columns of `{database}.{name}`: {e}")))
        };
        // `+table_id` keeps SQLite from walking the table's files by that index when the
        // condition can look its few rows up by rowid.
        let by_table = match files {
            Files::Matching(c) if c.by_rowid => "+table_id",
            _ => "table_id",
        };
        let (condition, mut values): (String, Vec<rusqlite::types::Value>) = match files {
            Files::All => ("1".into(), Vec::new()),
            Files::None => ("0".into(), Vec::new()),
            Files::Matching(c) => (
                format!("({})", c.sql.replace(crate::pushdown::TABLE_ID, &id.to_string())),
                c.params.clone(),
            ),
        };
        values.insert(0, rusqlite::types::Value::Integer(id));
        let mut stmt = conn
            .prepare(&format!(
                "SELECT path, size, last_modified, partition_values, rows, format FROM files
                 WHERE {by_table} = ? AND {condition} ORDER BY path"
            ))
            .map_err(self.err())?;
        let files = stmt
            .query_map(rusqlite::params_from_iter(values.iter()), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            })
            .map_err(self.err())?
            .map(|row| {
                let (path, size, last_modified, values, rows, format) = row.map_err(self.err())?;
                let partition_values = serde_json::from_str(&values)
                    .map_err(|e| self.corrupt(format!("partition values of `{path}`: {e}")))?;
                Ok(FileEntry {
                    path,
                    size: size as u64,
                    last_modified,
                    partition_values,
                    rows: rows.map(|n| n.max(0) as u64),
                    format,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(TableDef {
            database: database.to_string(),
            name: name.to_string(),
            location,
            classification,
            has_header,
            delimiter,
            quote,
            read_by_name,
            json_array,
            columns: parse(&columns)?,
            partition_keys: parse(&keys)?,
            files,
        }))
    }

    /// Every table, optionally of one database, sorted by database and name.
    pub fn tables(&self, database: Option<&str>) -> Result<Vec<TableSummary>> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut stmt = conn
            .prepare(
                "SELECT database, name, classification, location, partition_keys, columns, partition_count,
                        object_count, size_bytes, version, updated_at, deprecated_at,
                        (SELECT coalesce(sum(rows), 0) FROM files WHERE files.table_id = tables.id)
                 FROM tables WHERE ?1 IS NULL OR database = ?1 ORDER BY database, name",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![database], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, i64>(7)?,
                    r.get::<_, i64>(8)?,
                    r.get::<_, i64>(9)?,
                    r.get::<_, String>(10)?,
                    r.get::<_, Option<String>>(11)?,
                    r.get::<_, i64>(12)?,
                ))
            })
            .map_err(self.err())?;
        rows.map(|row| {
            let (
                database,
                name,
                classification,
                location,
                keys,
                columns,
                partitions,
                objects,
                bytes,
                version,
                updated_at,
                deprecated_at,
                rows,
            ) = row.map_err(self.err())?;
            let keys: Vec<ColumnDef> = serde_json::from_str(&keys)
                .map_err(|e| self.corrupt(format!("partition keys of `{database}.{name}`: {e}")))?;
            let columns: Vec<ColumnDef> = serde_json::from_str(&columns)
                .map_err(|e| self.corrupt(format!("columns of `{database}.{name}`: {e}")))?;
            Ok(TableSummary {
                database,
                name,
                classification,
                location,
                partition_keys: keys.into_iter().map(|k| k.name).collect(),
                columns: columns.len(),
                partitions: partitions as usize,
                objects: objects as usize,
                bytes: bytes as u64,
                version,
                updated_at,
                deprecated_at,
                rows: rows.max(0) as u64,
            })
        })
        .collect()
    }

    /// Every table in full, sorted by database and name.
    pub fn all(&self) -> Result<Vec<TableDef>> {
        let mut out = Vec::new();
        for t in self.tables(None)? {
            if let Some(def) = self.find(&t.database, &t.name)? {
                out.push(def);
            }
        }
        Ok(out)
    }

    /// Removes a table (its files stay where they are); false when it was not there.
    pub fn drop_table(&self, database: &str, name: &str) -> Result<bool> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = conn
            .execute(
                "DELETE FROM tables WHERE database = ?1 AND name = ?2",
                params![database, name],
            )
            .map_err(self.err())?;
        Ok(n > 0)
    }

    /// Versions of a table, oldest first: `(version, changed_at, diff)`.
    pub fn history(&self, database: &str, name: &str) -> Result<Vec<(i64, String, String)>> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut stmt = conn
            .prepare(
                "SELECT v.version, v.changed_at, v.diff FROM table_versions v JOIN tables t ON t.id = v.table_id
                 WHERE t.database = ?1 AND t.name = ?2 ORDER BY v.version",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![database, name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(self.err())?;
        rows.map(|r| r.map_err(self.err())).collect()
    }
}
