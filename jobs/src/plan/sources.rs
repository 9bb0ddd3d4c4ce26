//! `[sources.NAME]`: what each input reads and how.

use std::collections::BTreeMap;

use sluice_engine::readers::guard::{BadRecordPolicy, BadRecordSpec, MaxBadRecords};
use sluice_engine::readers::{Exclude, parse_delimiter};
use sluice_engine::{CsvReadOptions, EngineError, FileFormatKind, Location, ReadOptions};
use toml::Spanned;

use super::valid_name;
use crate::error::Result;
use crate::spec::{ErrFn, SourceSpec};

/// An input.
#[derive(Debug, Clone)]
pub struct Source {
    /// The name as written (run records use it).
    pub name: String,
    /// The name as registered for SQL (lower case).
    pub key: String,
    /// The table or path as written.
    pub from: String,
    /// Where and how to read.
    pub input: Input,
    /// Read only files no earlier successful run read.
    pub bookmark: bool,
    /// With `bookmark`, at most this many new files per run.
    pub max_files: Option<usize>,
    /// A missing or empty location leaves the source out instead of failing.
    pub optional: bool,
    /// The source's own bad-records rule, when it sets one.
    pub bad_records: Option<BadRecordSpec>,
}

/// Where a source reads.
#[derive(Debug, Clone)]
pub enum Input {
    /// A catalog table.
    Table {
        /// Its database.
        db: String,
        /// Its name.
        table: String,
    },
    /// A folder, prefix, file or URL.
    Path {
        /// Where.
        location: Location,
        /// Format, dialect and exclusions (the bad-records guard is added per attempt).
        options: Box<ReadOptions>,
    },
}

/// Checks and types every source.
pub(super) fn plan(specs: &BTreeMap<String, SourceSpec>, err: &ErrFn<'_>) -> Result<Vec<Source>> {
    specs.iter().map(|(name, spec)| source(name, spec, err)).collect()
}

fn source(name: &str, spec: &SourceSpec, err: &ErrFn<'_>) -> Result<Source> {
    if !valid_name(name) {
        return Err(err(
            None,
            format!("source name `{name}` must start with a letter and use only letters, digits and `_`"),
        ));
    }
    let (input, from) = match (&spec.table, &spec.path) {
        (Some(table), None) => (table_input(name, spec, table, err)?, table.get_ref().clone()),
        (None, Some(path)) => (path_input(name, spec, path, err)?, path.get_ref().clone()),
        _ => {
            return Err(err(
                None,
                format!("[sources.{name}] needs exactly one of `table = \"db.table\"` or `path = \"...\"`"),
            ));
        }
    };
    Ok(Source {
        name: name.to_string(),
        key: name.to_ascii_lowercase(),
        from,
        input,
        bookmark: spec.bookmark,
        max_files: spec.max_files,
        optional: spec.optional,
        bad_records: bad_records(name, spec, err)?,
    })
}

fn table_input(name: &str, spec: &SourceSpec, table: &Spanned<String>, err: &ErrFn<'_>) -> Result<Input> {
    if let Some(setting) = spec.format.as_ref().or(spec.delimiter.as_ref()) {
        return Err(err(
            Some(setting.span()),
            format!(
                "[sources.{name}] reads a catalog table, which has its format already; drop `format`/`delimiter`"
            ),
        ));
    }
    let (db, t) = sluice_catalog::split_name(table.get_ref())
        .map_err(|e| err(Some(table.span()), format!("[sources.{name}] `table`: {e}")))?;
    Ok(Input::Table {
        db: db.to_string(),
        table: t.to_string(),
    })
}

fn path_input(name: &str, spec: &SourceSpec, path: &Spanned<String>, err: &ErrFn<'_>) -> Result<Input> {
    let location = Location::parse(path.get_ref())
        .map_err(|e| err(Some(path.span()), format!("[sources.{name}] `path`: {e}")))?;
    let format = spec
        .format
        .as_ref()
        .map(|f| {
            f.get_ref()
                .parse::<FileFormatKind>()
                .map_err(|e| err(Some(f.span()), format!("[sources.{name}] `format`: {e}")))
        })
        .transpose()?;
    let exclude = exclude(name, &location, &spec.exclude, err)?;
    let options = ReadOptions {
        format,
        csv: dialect(name, spec, err)?,
        exclude,
        ..ReadOptions::default()
    };
    Ok(Input::Path {
        location,
        options: Box::new(options),
    })
}

/// The files a source leaves out; a pattern that does not compile is named at its own span.
fn exclude(
    name: &str,
    location: &Location,
    patterns: &[Spanned<String>],
    err: &ErrFn<'_>,
) -> Result<Option<Exclude>> {
    for p in patterns {
        if let Err(e) = Exclude::try_new(location, std::slice::from_ref(p.get_ref())) {
            let reason = match e {
                EngineError::InvalidOption { reason, .. } => reason,
                other => other.to_string(),
            };
            return Err(err(
                Some(p.span()),
                format!("[sources.{name}] `exclude`: {reason}"),
            ));
        }
    }
    let patterns: Vec<String> = patterns.iter().map(|p| p.get_ref().clone()).collect();
    (!patterns.is_empty())
        .then(|| Exclude::try_new(location, &patterns))
        .transpose()
        .map_err(|e| err(None, format!("[sources.{name}] `exclude`: {e}")))
}

/// The CSV dialect a source sets.
fn dialect(name: &str, spec: &SourceSpec, err: &ErrFn<'_>) -> Result<CsvReadOptions> {
    let delimiter = spec
        .delimiter
        .as_ref()
        .map(|d| {
            parse_delimiter(d.get_ref()).ok_or_else(|| {
                err(
                    Some(d.span()),
                    format!(
                        "[sources.{name}] `delimiter = \"{}\"` must be one character or \"\\t\"",
                        d.get_ref()
                    ),
                )
            })
        })
        .transpose()?;
    Ok(CsvReadOptions {
        has_header: spec.header.unwrap_or(true),
        delimiter,
        quote: one_char(name, "quote", spec.quote.as_ref(), err)?.unwrap_or(b'"'),
        escape: one_char(name, "escape", spec.escape.as_ref(), err)?,
        comment: one_char(name, "comment", spec.comment.as_ref(), err)?,
        sniff: spec.header.is_none(),
        ..CsvReadOptions::default()
    })
}

/// A one-character CSV setting (`quote`, `escape`, `comment`).
fn one_char(name: &str, key: &str, value: Option<&Spanned<String>>, err: &ErrFn<'_>) -> Result<Option<u8>> {
    let Some(v) = value else { return Ok(None) };
    match v.get_ref().as_bytes() {
        [b] => Ok(Some(*b)),
        _ => Err(err(
            Some(v.span()),
            format!(
                "[sources.{name}] `{key} = \"{}\"` must be one character",
                v.get_ref()
            ),
        )),
    }
}

/// The bad-records rule of a source, when it sets one.
fn bad_records(name: &str, source: &SourceSpec, err: &ErrFn<'_>) -> Result<Option<BadRecordSpec>> {
    let policy = match (&source.on_bad_records, &source.quarantine) {
        (Some(p), _) => Some(
            p.get_ref()
                .parse::<BadRecordPolicy>()
                .map_err(|e| err(Some(p.span()), format!("[sources.{name}] `on_bad_records`: {e}")))?,
        ),
        (None, Some(_)) => Some(BadRecordPolicy::Quarantine),
        (None, None) => None,
    };
    let max = source
        .max_bad_records
        .as_ref()
        .map(|m| max_bad_records(name, m, err))
        .transpose()?;
    let Some(policy) = policy else {
        return match &source.max_bad_records {
            Some(m) => Err(err(
                Some(m.span()),
                format!(
                    "[sources.{name}] `max_bad_records` needs `on_bad_records = \"skip\"` or \"quarantine\""
                ),
            )),
            None => Ok(None),
        };
    };
    let quarantine = source
        .quarantine
        .as_ref()
        .map(|q| {
            Location::parse(q.get_ref())
                .map_err(|e| err(Some(q.span()), format!("[sources.{name}] `quarantine`: {e}")))
        })
        .transpose()?;
    let spec = BadRecordSpec {
        policy,
        max,
        quarantine,
    };
    spec.start().map_err(|e| {
        let span = source.on_bad_records.as_ref().or(source.quarantine.as_ref());
        err(span.map(Spanned::span), format!("[sources.{name}]: {e}"))
    })?;
    Ok(Some(spec))
}

fn max_bad_records(name: &str, value: &Spanned<toml::Value>, err: &ErrFn<'_>) -> Result<MaxBadRecords> {
    let text = match value.get_ref() {
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    text.parse::<MaxBadRecords>().map_err(|e| {
        err(
            Some(value.span()),
            format!("[sources.{name}] `max_bad_records`: {e}"),
        )
    })
}
