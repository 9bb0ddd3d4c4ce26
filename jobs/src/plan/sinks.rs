//! `[[sinks]]`: where each output goes and how it is written.

use std::collections::BTreeSet;

use sluice_engine::{Codec, Location, WriteMode, WriteOptions};

use crate::error::Result;
use crate::spec::{ErrFn, SinkSpec};

/// An output.
#[derive(Debug, Clone)]
pub struct Sink {
    /// The step or source written, as written.
    pub from: String,
    /// The same, as registered (lower case).
    pub key: String,
    /// The destination as written.
    pub path: String,
    /// The destination.
    pub location: Location,
    /// Hive partition columns, outermost first.
    pub partition_by: Vec<String>,
    /// How it is written.
    pub options: WriteOptions,
    /// The catalog table (`db.table`) recorded after the commit.
    pub table: Option<String>,
}

/// Checks and types every sink; `names` are the job's sources and steps (lower case).
pub(super) fn plan(specs: &[SinkSpec], names: &BTreeSet<String>, err: &ErrFn<'_>) -> Result<Vec<Sink>> {
    if specs.is_empty() {
        return Err(err(
            None,
            "the job has no [[sinks]]; add one so its output goes somewhere".into(),
        ));
    }
    specs.iter().map(|spec| sink(spec, names, err)).collect()
}

fn sink(spec: &SinkSpec, names: &BTreeSet<String>, err: &ErrFn<'_>) -> Result<Sink> {
    let from = spec.from.get_ref();
    if !names.contains(&from.to_ascii_lowercase()) {
        return Err(err(
            Some(spec.from.span()),
            format!("sink `from = \"{from}\"` names no source or step"),
        ));
    }
    let location = Location::parse(spec.path.get_ref())
        .map_err(|e| err(Some(spec.path.span()), format!("sink `path`: {e}")))?;
    if let Some(table) = &spec.table {
        sluice_catalog::split_name(table.get_ref())
            .map_err(|e| err(Some(table.span()), format!("sink `table`: {e}")))?;
    }
    Ok(Sink {
        from: from.clone(),
        key: from.to_ascii_lowercase(),
        path: spec.path.get_ref().clone(),
        location,
        partition_by: spec.partition_by.clone(),
        options: options(spec, err)?,
        table: spec.table.as_ref().map(|t| t.get_ref().clone()),
    })
}

fn options(spec: &SinkSpec, err: &ErrFn<'_>) -> Result<WriteOptions> {
    let mut options = WriteOptions::new()
        .with_partition_by(spec.partition_by.clone())
        .with_mode(mode(spec, err)?)
        .with_merge_keys(spec.merge_keys.clone())
        .with_codec(codec(spec, err)?)
        .with_sort_by(spec.sort_by.clone());
    if let Some(size) = file_size(spec, err)? {
        options = options.with_target_file_size(size);
    }
    Ok(options)
}

/// The write mode, checked against `merge_keys`.
fn mode(sink: &SinkSpec, err: &ErrFn<'_>) -> Result<WriteMode> {
    let Some(mode) = &sink.mode else {
        if !sink.merge_keys.is_empty() {
            return Err(err(
                Some(sink.path.span()),
                "sink `merge_keys` is for `mode = \"merge\"`; add it, or leave merge_keys out".into(),
            ));
        }
        return Ok(WriteMode::Append);
    };
    let parsed = mode.get_ref().parse::<WriteMode>().map_err(|_| {
        err(
            Some(mode.span()),
            format!(
                "sink `mode = \"{}\"` is not one of append, overwrite, overwrite-partitions, error-if-exists, merge",
                mode.get_ref()
            ),
        )
    })?;
    match (parsed == WriteMode::Merge, sink.merge_keys.is_empty()) {
        (false, false) => Err(err(
            Some(mode.span()),
            "sink `merge_keys` is for `mode = \"merge\"`; set that mode, or leave merge_keys out".into(),
        )),
        (true, true) => Err(err(
            Some(mode.span()),
            "sink `mode = \"merge\"` needs `merge_keys`, the columns that identify a row: `merge_keys = [\"id\"]`"
                .into(),
        )),
        _ => Ok(parsed),
    }
}

fn codec(sink: &SinkSpec, err: &ErrFn<'_>) -> Result<Codec> {
    sink.compression.as_ref().map_or(Ok(Codec::default()), |c| {
        c.get_ref()
            .parse::<Codec>()
            .map_err(|e| err(Some(c.span()), format!("sink `compression`: {e}")))
    })
}

/// The target file size in bytes.
fn file_size(sink: &SinkSpec, err: &ErrFn<'_>) -> Result<Option<usize>> {
    let Some(size) = &sink.target_file_size else {
        return Ok(None);
    };
    sluice_engine::parse_size(size.get_ref()).map(Some).map_err(|_| {
        err(
            Some(size.span()),
            format!(
                "sink `target_file_size = \"{}\"` is not a size; write e.g. \"256MiB\"",
                size.get_ref()
            ),
        )
    })
}
