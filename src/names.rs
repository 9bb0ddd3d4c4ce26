//! Errors about names say what exists: an unknown table lists its database's tables (and the
//! closest one), an unknown database lists the catalog's, an unknown job the jobs that have run.
//! DataFusion's own message names its internal catalog (`datafusion.raw.nope`); users never see that.

use std::path::Path;

use sluice_catalog::Catalog;

use crate::diagnostics::UsageError;

/// Names shown at most when listing what exists.
const SHOWN: usize = 12;

/// How to read a folder or URL instead of a catalog table.
const QUOTE: &str = "a folder or URL is read by quoting it: SELECT * FROM 'data/orders/'";

/// `err` with an unknown table explained from the catalog at `catalog`, or `err` unchanged.
pub fn explain(err: anyhow::Error, catalog: &Path) -> anyhow::Error {
    let Some(name) = unknown_name(&err) else {
        return err;
    };
    let catalog = if catalog.exists() {
        Catalog::open(catalog).ok()
    } else {
        None
    };
    let usage = not_found(&name, catalog.as_ref());
    // A job run that failed on it stays a failed run (exit 1); elsewhere it is bad input.
    if crate::diagnostics::exit_code(&err) == crate::diagnostics::EXIT_BAD_INPUT {
        return anyhow::Error::new(usage);
    }
    let hint = usage.hint.unwrap_or_default();
    err.context(format!("{} ({hint})", usage.message))
}

/// The table name an error in `err`'s chain says is unknown, from the catalog or DataFusion.
fn unknown_name(err: &anyhow::Error) -> Option<String> {
    err.chain()
        .find_map(|c| match c.downcast_ref::<sluice_catalog::CatalogError>() {
            Some(sluice_catalog::CatalogError::TableNotFound { name }) => Some(name.clone()),
            _ => unknown_table(&c.to_string()),
        })
}

/// The usage error for the unknown `name`, listing what `catalog` (when there is one) has.
fn not_found(name: &str, catalog: Option<&Catalog>) -> UsageError {
    let databases = catalog.and_then(|c| c.databases().ok()).unwrap_or_default();
    match name.split_once('.') {
        Some((db, table)) if databases.iter().any(|d| d == db) => {
            let tables = catalog.and_then(|c| c.table_names(db).ok()).unwrap_or_default();
            let known: Vec<String> = tables.iter().map(|t| format!("{db}.{t}")).collect();
            UsageError::new(
                format!("table `{db}.{table}` not found"),
                suggest(name, &known, &format!("database `{db}` has")),
            )
        }
        Some((db, _)) => unknown_database(db, name, &databases),
        None => {
            let known: Vec<String> = catalog
                .map(|c| qualified_names(c, &databases))
                .unwrap_or_default();
            unqualified_not_found(name, &known)
        }
    }
}

/// `db` (of `name`) is not one of `databases`.
fn unknown_database(db: &str, name: &str, databases: &[String]) -> UsageError {
    UsageError::new(
        format!("database `{db}` not found (in `{name}`)"),
        match databases.is_empty() {
            true => format!(
                "the catalog has no databases yet: `sluice crawl PATH --database {db}` adds one; or {QUOTE}"
            ),
            false => suggest(db, databases, "the catalog has databases"),
        },
    )
}

/// `name` has no database part and is not a table; `known` are the catalog's tables.
fn unqualified_not_found(name: &str, known: &[String]) -> UsageError {
    let hint = if known.is_empty() {
        QUOTE.to_string()
    } else {
        format!(
            "{}; catalog tables are named database.table; {QUOTE}",
            suggest(name, known, "the catalog has")
        )
    };
    UsageError::new(format!("table `{name}` not found"), hint)
}

/// The table name in DataFusion's "table 'datafusion.raw.nope' not found", without the
/// session's catalog (`datafusion.`) or default schema (`public.`).
fn unknown_table(text: &str) -> Option<String> {
    let start = text.find("table '")? + "table '".len();
    let rest = &text[start..];
    let end = rest.find("' not found")?;
    let name = &rest[..end];
    let name = name.strip_prefix("datafusion.").unwrap_or(name);
    let name = name.strip_prefix("public.").unwrap_or(name);
    Some(name.to_string())
}

/// Every table in `databases`, as `database.table`.
fn qualified_names(catalog: &Catalog, databases: &[String]) -> Vec<String> {
    databases
        .iter()
        .flat_map(|db| {
            catalog
                .table_names(db)
                .unwrap_or_default()
                .into_iter()
                .map(move |t| format!("{db}.{t}"))
        })
        .collect()
}

/// "did you mean X? {what}: a, b, c" (or without the question when nothing is close).
pub fn suggest(name: &str, known: &[String], what: &str) -> String {
    let mut text = String::new();
    if let Some(close) = closest(name, known) {
        text.push_str(&format!("did you mean {close}? "));
    }
    if known.is_empty() {
        text.push_str(&format!("{what}: none yet"));
        return text;
    }
    let mut shown: Vec<&str> = known.iter().take(SHOWN).map(String::as_str).collect();
    let more = known.len().saturating_sub(SHOWN);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    shown.sort_unstable();
    text.push_str(&format!("{what}: {}{more}", shown.join(", ")));
    text
}

/// The known name nearest to `name` by edit distance (comparing the last dotted part too), when
/// it is near enough to be a typo.
fn closest<'a>(name: &str, known: &'a [String]) -> Option<&'a str> {
    let name = name.to_lowercase();
    let last = |s: &str| s.rsplit('.').next().unwrap_or(s).to_string();
    known
        .iter()
        .map(|k| {
            let k_lower = k.to_lowercase();
            let whole = strsim::levenshtein(&name, &k_lower);
            let part = strsim::levenshtein(&last(&name), &last(&k_lower));
            (whole.min(part), k)
        })
        .filter(|(distance, k)| *distance <= (last(k).len() / 3).max(2))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, k)| k.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_datafusions_message_without_its_internal_names() {
        let text = "Error during planning: table 'datafusion.raw.nope' not found";
        assert_eq!(unknown_table(text).as_deref(), Some("raw.nope"));
        assert_eq!(
            unknown_table("table 'datafusion.public.t' not found").as_deref(),
            Some("t")
        );
        assert_eq!(unknown_table("no such thing"), None);
    }

    #[test]
    fn suggests_the_closest_name_and_lists_the_rest() {
        let known: Vec<String> = ["raw.customers", "raw.events", "raw.orders"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            suggest("raw.order", &known, "database `raw` has"),
            "did you mean raw.orders? database `raw` has: raw.customers, raw.events, raw.orders"
        );
        assert_eq!(
            suggest("raw.zzzzzz", &known, "has"),
            "has: raw.customers, raw.events, raw.orders"
        );
    }
}
