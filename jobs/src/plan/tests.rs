use std::collections::BTreeMap;
use std::time::Duration;

use sluice_engine::WriteMode;

use super::*;

/// The error planning `text` gives.
fn error_of(text: &str) -> String {
    let registry = Registry::with_builtins();
    match crate::open_text("j.toml", text, &BTreeMap::new(), &builtins(), &registry) {
        Ok(_) => panic!("planned: {text}"),
        Err(e) => e.to_string(),
    }
}

fn builtins() -> Builtins {
    Builtins {
        run_id: "r1".into(),
        today: chrono::NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(),
    }
}

const JOB: &str = r#"
name = "daily"

[params]
run_date = "yesterday"
region = "EU"

[sources.orders]
path = "data/orders/"

[[steps]]
name = "eu"
sql = "SELECT * FROM orders WHERE region = '${region}' AND d = DATE '${run_date}' -- ${run_id}"

[[sinks]]
from = "eu"
path = "out/${run_date}/"
mode = "overwrite-partitions"
"#;

#[test]
fn params_are_substituted_with_builtins_and_overrides() {
    let mut over = BTreeMap::new();
    over.insert("region".to_string(), "US".to_string());
    let Ok(crate::JobFile::Job(job)) =
        crate::open_text("j.toml", JOB, &over, &builtins(), &Registry::with_builtins())
    else {
        panic!("a job")
    };
    let StepAction::Sql(sql) = &job.steps[0].action else {
        panic!("a SQL step")
    };
    assert_eq!(
        sql,
        "SELECT * FROM orders WHERE region = 'US' AND d = DATE '2026-11-21' -- r1"
    );
    assert_eq!(job.sinks[0].path, "out/2026-11-21/");
    assert_eq!(job.sinks[0].options.mode(), WriteMode::OverwritePartitions);
}

#[test]
fn unknown_keys_name_the_key_and_line() {
    let text = JOB.replace("mode = ", "mdoe = ");
    let e = error_of(&text);
    assert!(e.contains("mdoe") && e.contains("line 18"), "{e}");
}

#[test]
fn wrong_types_and_bad_values_name_the_line() {
    let text = JOB.replace("region = \"EU\"", "region = [1]");
    let e = error_of(&text);
    assert!(e.contains("param `region`") && e.contains("line 6"), "{e}");
    let text = JOB.replace("overwrite-partitions", "replace");
    let e = error_of(&text);
    assert!(e.contains("line 18") && e.contains("`mode = \"replace\"`"), "{e}");
}

#[test]
fn an_unknown_param_is_an_error() {
    let text = JOB.replace("${region}", "${regoin}");
    let e = error_of(&text);
    assert!(
        e.contains("unknown param `${regoin}`") && e.contains("line 13"),
        "{e}"
    );
}

#[test]
fn backoff_grows_by_its_factor() {
    let policy = RetryPolicy {
        max_attempts: 4,
        interval: Duration::from_secs(10),
        backoff: 1.5,
        max_interval: Duration::from_secs(600),
        jitter: false,
    };
    let waits: Vec<f64> = (2..=4).map(|n| policy.wait(n).as_secs_f64()).collect();
    assert_eq!(waits, vec![10.0, 15.0, 22.5]);
    let jittered = RetryPolicy {
        jitter: true,
        ..policy
    };
    let w = jittered.wait(3).as_secs_f64();
    assert!((7.5..=15.0).contains(&w), "{w}");
}
