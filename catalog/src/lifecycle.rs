//! A table's life beyond its schema: deprecation when a crawl no longer finds its folder, and pins
//! that keep a column's type whatever later files look like.

use std::collections::BTreeMap;
use std::str::FromStr;

use arrow::datatypes::{DataType, TimeUnit};
use rusqlite::{OptionalExtension, params};

use crate::error::{CatalogError, Result};
use crate::store::Catalog;

/// Parses a column type as SQL (`BIGINT`, `DECIMAL(12,2)`, `TIMESTAMP`, `VARCHAR`) or Arrow
/// (`Int64`, `Decimal128(12, 2)`, `Timestamp(Microsecond, None)`) writes it.
pub fn parse_type(text: &str) -> Result<DataType> {
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    let sql = match upper.as_str() {
        "BOOLEAN" | "BOOL" => Some(DataType::Boolean),
        "TINYINT" => Some(DataType::Int8),
        "SMALLINT" => Some(DataType::Int16),
        "INT" | "INTEGER" => Some(DataType::Int32),
        "BIGINT" | "LONG" => Some(DataType::Int64),
        "FLOAT" | "REAL" => Some(DataType::Float32),
        "DOUBLE" => Some(DataType::Float64),
        "STRING" | "VARCHAR" | "TEXT" => Some(DataType::Utf8),
        "DATE" => Some(DataType::Date32),
        "TIMESTAMP" => Some(DataType::Timestamp(TimeUnit::Microsecond, None)),
        _ => None,
    };
    if let Some(ty) = sql {
        return Ok(ty);
    }
    if let Some(args) = upper
        .strip_prefix("DECIMAL(")
        .or_else(|| upper.strip_prefix("NUMERIC("))
        .and_then(|r| r.strip_suffix(')'))
        && let Some((p, s)) = args.split_once(',')
        && let (Ok(p), Ok(s)) = (p.trim().parse::<u8>(), s.trim().parse::<i8>())
        && (1..=38).contains(&p)
        && s >= 0
        && s as u8 <= p
    {
        return Ok(DataType::Decimal128(p, s));
    }
    DataType::from_str(t).map_err(|_| CatalogError::InvalidName {
        name: text.to_string(),
        reason: "not a type; write a SQL type (BIGINT, DOUBLE, DECIMAL(12,2), DATE, TIMESTAMP, VARCHAR, BOOLEAN) or an Arrow one (Int64, Utf8, ...)".into(),
    })
}

impl Catalog {
    fn table_id(&self, database: &str, name: &str) -> Result<i64> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        conn.query_row(
            "SELECT id FROM tables WHERE database = ?1 AND name = ?2",
            params![database, name],
            |r| r.get(0),
        )
        .optional()
        .map_err(self.err())?
        .ok_or_else(|| CatalogError::TableNotFound {
            name: format!("{database}.{name}"),
        })
    }

    /// Marks a table deprecated (its folder is gone) or, with `false`, current again. Returns true
    /// when that changed anything.
    pub fn set_deprecated(&self, database: &str, name: &str, deprecated: bool) -> Result<bool> {
        let id = self.table_id(database, name)?;
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = chrono::Utc::now().to_rfc3339();
        let changed = if deprecated {
            conn.execute(
                "UPDATE tables SET deprecated_at = ?2 WHERE id = ?1 AND deprecated_at IS NULL",
                params![id, now],
            )
        } else {
            conn.execute(
                "UPDATE tables SET deprecated_at = NULL WHERE id = ?1 AND deprecated_at IS NOT NULL",
                params![id],
            )
        }
        .map_err(self.err())?;
        if changed > 0 {
            conn.execute(
                "UPDATE tables SET version = version + 1, updated_at = ?2 WHERE id = ?1",
                params![id, now],
            )
            .map_err(self.err())?;
            conn.execute(
                "INSERT INTO table_versions (table_id, version, changed_at, diff)
                 SELECT id, version, ?2, ?3 FROM tables WHERE id = ?1",
                params![
                    id,
                    now,
                    if deprecated {
                        "deprecated: the crawl found no data in its folder"
                    } else {
                        "found again: no longer deprecated"
                    }
                ],
            )
            .map_err(self.err())?;
        }
        Ok(changed > 0)
    }

    /// Column → pinned type (as written by the user) of a table.
    pub fn pins(&self, database: &str, name: &str) -> Result<BTreeMap<String, String>> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let text: Option<String> = conn
            .query_row(
                "SELECT pins FROM tables WHERE database = ?1 AND name = ?2",
                params![database, name],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())?;
        match text {
            None => Ok(BTreeMap::new()),
            Some(t) => serde_json::from_str(&t)
                .map_err(|e| self.corrupt(format!("pins of `{database}.{name}`: {e}"))),
        }
    }

    /// Pins `column` of a table to `ty` (validated), or unpins it with `None`. Crawls then keep that
    /// type for the column whatever the files suggest.
    pub fn set_pin(&self, database: &str, name: &str, column: &str, ty: Option<&str>) -> Result<()> {
        let def = self
            .find(database, name)?
            .ok_or_else(|| CatalogError::TableNotFound {
                name: format!("{database}.{name}"),
            })?;
        if !def.columns.iter().any(|c| c.name == column) {
            let names: Vec<&str> = def.columns.iter().map(|c| c.name.as_str()).collect();
            return Err(CatalogError::InvalidName {
                name: column.to_string(),
                reason: format!(
                    "`{database}.{name}` has no such column; it has: {}",
                    names.join(", ")
                ),
            });
        }
        let mut pins = self.pins(database, name)?;
        match ty {
            Some(t) => {
                parse_type(t)?;
                pins.insert(column.to_string(), t.to_string());
            }
            None => {
                pins.remove(column);
            }
        }
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        conn.execute(
            "UPDATE tables SET pins = ?3 WHERE database = ?1 AND name = ?2",
            params![
                database,
                name,
                serde_json::to_string(&pins).expect("pins serialize")
            ],
        )
        .map_err(self.err())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_parse_as_sql_or_arrow() {
        assert_eq!(parse_type("bigint").unwrap(), DataType::Int64);
        assert_eq!(parse_type("DECIMAL(12, 2)").unwrap(), DataType::Decimal128(12, 2));
        assert_eq!(parse_type("Utf8").unwrap(), DataType::Utf8);
        assert!(parse_type("DECIMAL(2, 5)").is_err());
        assert!(parse_type("colour").is_err());
    }
}
