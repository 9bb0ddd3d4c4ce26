//! Params: `[params]` values, built-ins (`run_id`, `run_date`) and `--param` overrides, and the one
//! `${name}` substitution job and workflow files share.

use std::collections::BTreeMap;

use toml::Spanned;

use crate::error::Result;
use crate::spec::{ErrFn, JobSpec};

/// Values every job may use without declaring them.
#[derive(Debug, Clone)]
pub struct Builtins {
    /// The run id.
    pub run_id: String,
    /// Today's date (UTC) for `run_date = "today"`.
    pub today: chrono::NaiveDate,
}

/// The params of a job: its `[params]`, then `overrides`, then the built-ins; `run_date` resolved
/// to a date.
pub(crate) fn resolve(
    declared: &BTreeMap<String, Spanned<toml::Value>>,
    overrides: &BTreeMap<String, String>,
    builtins: &Builtins,
    err: &ErrFn<'_>,
) -> Result<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    params.insert("run_date".to_string(), builtins.today.to_string());
    if let Some(value) = declared.get("run_id") {
        return Err(err(
            Some(value.span()),
            "`run_id` is built in and cannot be set; use another name".into(),
        ));
    }
    params.extend(values(declared, err)?);
    if overrides.contains_key("run_id") {
        return Err(err(
            None,
            "`--param run_id=...` is not allowed: the run id is built in".into(),
        ));
    }
    params.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
    if let Some(date) = params.get_mut("run_date") {
        *date = resolve_date(date, builtins.today).ok_or_else(|| {
            err(
                declared.get("run_date").map(|v| v.span()),
                format!(
                    "`run_date = \"{date}\"` is not a date; write YYYY-MM-DD, \"today\" or \"yesterday\""
                ),
            )
        })?;
    }
    params.insert("run_id".to_string(), builtins.run_id.clone());
    Ok(params)
}

/// Declared params as text.
pub(crate) fn values(
    params: &BTreeMap<String, Spanned<toml::Value>>,
    err: &ErrFn<'_>,
) -> Result<BTreeMap<String, String>> {
    params
        .iter()
        .map(|(name, value)| Ok((name.clone(), text(name, value, err)?)))
        .collect()
}

/// A param's value as substituted text; tables and arrays are refused at their span.
fn text(name: &str, value: &Spanned<toml::Value>, err: &ErrFn<'_>) -> Result<String> {
    match value.get_ref() {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Datetime(d) => Ok(d.to_string()),
        _ => Err(err(
            Some(value.span()),
            format!("param `{name}` must be a string, number, boolean or date"),
        )),
    }
}

fn resolve_date(text: &str, today: chrono::NaiveDate) -> Option<String> {
    match text {
        "today" => Some(today.to_string()),
        "yesterday" => today.pred_opt().map(|d| d.to_string()),
        other => chrono::NaiveDate::parse_from_str(other, "%Y-%m-%d")
            .ok()
            .map(|d| d.to_string()),
    }
}

/// Replaces `${name}` with the param's value; `$${` stays a literal `${`.
pub fn substitute(text: &str, params: &BTreeMap<String, String>) -> std::result::Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(literal) = after.strip_prefix("${") {
            out.push_str("${");
            rest = literal;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body
                .find('}')
                .ok_or_else(|| "`${` without a closing `}`".to_string())?;
            out.push_str(lookup(body[..end].trim(), params)?);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn lookup<'a>(name: &str, params: &'a BTreeMap<String, String>) -> std::result::Result<&'a str, String> {
    params.get(name).map(String::as_str).ok_or_else(|| {
        let known: Vec<&str> = params.keys().map(String::as_str).collect();
        format!(
            "unknown param `${{{name}}}`; declare it under [params] or pass --param {name}=VALUE (known: {})",
            known.join(", ")
        )
    })
}

/// [`substitute`] in a spanned value, the error at its span.
pub(crate) fn in_spanned(
    value: &mut Spanned<String>,
    params: &BTreeMap<String, String>,
    err: &ErrFn<'_>,
) -> Result<()> {
    let replaced = substitute(value.get_ref(), params).map_err(|m| err(Some(value.span()), m))?;
    *value = Spanned::new(value.span(), replaced);
    Ok(())
}

/// [`in_spanned`] when the value is set.
pub(crate) fn in_option(
    value: &mut Option<Spanned<String>>,
    params: &BTreeMap<String, String>,
    err: &ErrFn<'_>,
) -> Result<()> {
    value.as_mut().map_or(Ok(()), |v| in_spanned(v, params, err))
}

/// [`substitute`] in every string of a TOML value.
pub(crate) fn in_value(
    value: &mut toml::Value,
    params: &BTreeMap<String, String>,
) -> std::result::Result<(), String> {
    match value {
        toml::Value::String(s) => *s = substitute(s, params)?,
        toml::Value::Array(items) => items.iter_mut().try_for_each(|item| in_value(item, params))?,
        toml::Value::Table(table) => table
            .iter_mut()
            .try_for_each(|(_, item)| in_value(item, params))?,
        _ => {}
    }
    Ok(())
}

impl JobSpec {
    /// Replaces `${param}` in every value that may hold one.
    pub(crate) fn substitute(&mut self, params: &BTreeMap<String, String>, err: &ErrFn<'_>) -> Result<()> {
        for source in self.sources.values_mut() {
            in_option(&mut source.table, params, err)?;
            in_option(&mut source.path, params, err)?;
            in_option(&mut source.quarantine, params, err)?;
            for e in &mut source.exclude {
                in_spanned(e, params, err)?;
            }
        }
        for step in &mut self.steps {
            in_option(&mut step.sql, params, err)?;
            for (key, value) in step.args.iter_mut() {
                in_value(value, params)
                    .map_err(|m| err(Some(step.name.span()), format!("step args `{key}`: {m}")))?;
            }
        }
        for sink in &mut self.sinks {
            in_spanned(&mut sink.path, params, err)?;
            in_option(&mut sink.table, params, err)?;
        }
        for rule in &mut self.quality {
            in_option(&mut rule.rule, params, err)?;
            in_option(&mut rule.sql, params, err)?;
        }
        for hook in [&mut self.on_success, &mut self.on_failure].into_iter().flatten() {
            in_option(&mut hook.command, params, err)?;
            in_option(&mut hook.webhook, params, err)?;
        }
        Ok(())
    }
}
