//! The bad-records policy a user sets: what to do with a bad record, how many are too many, and
//! where quarantined records go.

use std::sync::Arc;

use serde::Serialize;

use super::*;
use crate::error::Result;
use crate::stores::Location;

/// What to do with a record that does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BadRecordPolicy {
    /// Stop at the first one, naming the file, line and column (Spark's FAILFAST).
    #[default]
    Fail,
    /// Leave it out and count it (Spark's DROPMALFORMED).
    Skip,
    /// Leave it out, count it and write it to the quarantine location (Glue's bad-records path).
    Quarantine,
}

impl BadRecordPolicy {
    /// The policy as written in job files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fail => "fail",
            Self::Skip => "skip",
            Self::Quarantine => "quarantine",
        }
    }
}

impl std::str::FromStr for BadRecordPolicy {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "fail" => Ok(Self::Fail),
            "skip" => Ok(Self::Skip),
            "quarantine" => Ok(Self::Quarantine),
            other => Err(format!("`{other}` is not fail, skip or quarantine")),
        }
    }
}

/// How many bad records a read tolerates before it fails anyway.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub enum MaxBadRecords {
    /// At most this many.
    Count(u64),
    /// At most this share of all records (checked when the read ends).
    Fraction(f64),
}

impl std::str::FromStr for MaxBadRecords {
    type Err = String;

    /// `100` (a count), `0.5%` or `0.005` (a fraction below 1).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let t = s.trim();
        let bad = || format!("`{s}` is not a count (`100`) or a share (`1%`, `0.01`)");
        if let Some(p) = t.strip_suffix('%') {
            let v: f64 = p.trim().parse().map_err(|_| bad())?;
            return (0.0..=100.0)
                .contains(&v)
                .then_some(Self::Fraction(v / 100.0))
                .ok_or_else(bad);
        }
        if let Ok(n) = t.parse::<u64>() {
            return Ok(Self::Count(n));
        }
        let v: f64 = t.parse().map_err(|_| bad())?;
        (0.0..1.0)
            .contains(&v)
            .then_some(Self::Fraction(v))
            .ok_or_else(bad)
    }
}

impl std::fmt::Display for MaxBadRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Count(n) => write!(f, "{n}"),
            Self::Fraction(x) => write!(f, "{}%", x * 100.0),
        }
    }
}

/// A bad-records policy as configured, before a read starts counting under it.
#[derive(Debug, Clone, Default)]
pub struct BadRecordSpec {
    /// What to do with a bad record.
    pub policy: BadRecordPolicy,
    /// How many are tolerated.
    pub max: Option<MaxBadRecords>,
    /// Where `quarantine` writes.
    pub quarantine: Option<Location>,
}

impl BadRecordSpec {
    /// Fresh counts under this policy.
    pub fn start(&self) -> Result<Arc<BadRecords>> {
        BadRecords::new(self.policy, self.max, self.quarantine.clone())
    }
}
