//! `sluice schedule print`: a crontab line or a systemd service + timer that run a job or workflow
//! unattended, with JSON logs, a metrics file and the job's own lock in the catalog.
//!
//! cron expressions are checked with `croner` (which also gives the next run times shown in the
//! output) and translated field by field into systemd `OnCalendar=` values. cron runs a job when
//! either its day-of-month or its day-of-week matches (both restricted); systemd needs both to match
//! within one `OnCalendar=`, so such a schedule becomes two `OnCalendar=` lines.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::args::SchedulePrintArgs;
use crate::diagnostics::UsageError;
use crate::settings::Settings;

/// Runs `sluice schedule print`.
#[allow(clippy::print_stdout)]
pub fn print(args: SchedulePrintArgs, settings: &Settings) -> anyhow::Result<()> {
    let schedule = Schedule::parse(&args.cron)?;
    let job = absolute(&args.job)?;
    if !job.is_file() {
        return Err(UsageError::new(
            format!("`{}` is not a file", args.job.display()),
            "pass the job or workflow file to schedule",
        )
        .into());
    }
    let name = super::jobs::job_name(&job.display().to_string())?;
    let exe = std::env::current_exe()?;
    let workdir = std::env::current_dir()?;
    let catalog = absolute(&settings.catalog)?;
    let metrics = absolute(&args.metrics_dir)?.join(format!("sluice_{name}.prom"));
    let command = run_command(&exe, &catalog, &job, &metrics, &args.params);
    let next = schedule.next_runs(3);
    let text = if args.systemd {
        systemd_units(&name, &schedule, &command, &workdir, &next)
    } else {
        let log = absolute(&args.log_dir)?.join(format!("{name}.log"));
        crontab_line(&name, &schedule, &command, &workdir, &log, &next)
    };
    print!("{text}");
    Ok(())
}

/// The words of the scheduled command: `sluice run` of `job` against `catalog`, quiet, with JSON
/// logs, ndjson output, the metrics file and each `--param`.
fn run_command(exe: &Path, catalog: &Path, job: &Path, metrics: &Path, params: &[String]) -> Vec<String> {
    let mut command = vec![
        exe.display().to_string(),
        "--catalog".into(),
        catalog.display().to_string(),
        "-q".into(),
        "--log-format".into(),
        "json".into(),
        "--format".into(),
        "ndjson".into(),
        "run".into(),
        job.display().to_string(),
        "--metrics-file".into(),
        metrics.display().to_string(),
    ];
    for p in params {
        command.push("--param".into());
        command.push(p.clone());
    }
    command
}

/// `path`, made absolute against the working directory.
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    Ok(if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    })
}

/// A checked 5-field cron expression.
#[derive(Debug)]
struct Schedule {
    /// As written (macros expanded).
    expression: String,
    cron: croner::Cron,
    fields: [Vec<u32>; 5],
    /// The day-of-month and day-of-week fields as written were `*`.
    any_day_of_month: bool,
    any_day_of_week: bool,
}

/// Field ranges: minute, hour, day of month, month, day of week (0 = Sunday; 7 folds to 0).
const RANGES: [(u32, u32); 5] = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)];
const FIELD_NAMES: [&str; 5] = ["minute", "hour", "day of month", "month", "day of week"];
const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const SYSTEMD_DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

impl Schedule {
    /// Checks a cron expression (five fields, or a macro such as `@daily`).
    fn parse(text: &str) -> anyhow::Result<Self> {
        let bad = |why: String| {
            UsageError::new(
                format!("`--cron \"{text}\"` is not a schedule: {why}"),
                "write five fields, minute hour day-of-month month day-of-week, e.g. \"0 2 * * *\" (02:00 daily), or @hourly, @daily, @weekly, @monthly, @yearly",
            )
        };
        let expression = expand_macro(text).map_err(bad)?.to_string();
        let parts: Vec<&str> = expression.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(bad(format!("it has {} fields, not 5", parts.len())).into());
        }
        let fields = expand_fields(&parts).map_err(bad)?;
        let cron = croner::Cron::from_str(&expression).map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            any_day_of_month: parts[2] == "*",
            any_day_of_week: parts[4] == "*",
            expression,
            cron,
            fields,
        })
    }

    /// The next `n` run times in local time.
    fn next_runs(&self, n: usize) -> Vec<String> {
        self.cron
            .iter_after(chrono::Local::now())
            .take(n)
            .map(|t| t.format("%Y-%m-%d %H:%M %Z").to_string())
            .collect()
    }

    /// `OnCalendar=` values with the same meaning.
    fn on_calendar(&self) -> Vec<String> {
        let list = |i: usize, width: usize| -> String {
            let (lo, hi) = RANGES[i];
            let full = (lo..=hi.min(if i == 4 { 6 } else { hi })).count();
            if self.fields[i].len() == full {
                "*".into()
            } else {
                self.fields[i]
                    .iter()
                    .map(|v| format!("{v:0width$}"))
                    .collect::<Vec<_>>()
                    .join(",")
            }
        };
        let time = format!("{}:{}:00", list(1, 2), list(0, 2));
        let month = list(3, 2);
        let days: Vec<&str> = self.fields[4].iter().map(|d| SYSTEMD_DAYS[*d as usize]).collect();
        let weekdays = days.join(",");
        match (self.any_day_of_month, self.any_day_of_week) {
            (true, true) => vec![format!("*-{month}-* {time}")],
            (false, true) => vec![format!("*-{month}-{} {time}", list(2, 2))],
            (true, false) => vec![format!("{weekdays} *-{month}-* {time}")],
            // cron: either the day of month or the day of week.
            (false, false) => vec![
                format!("*-{month}-{} {time}", list(2, 2)),
                format!("{weekdays} *-{month}-* {time}"),
            ],
        }
    }
}

/// A macro (`@daily`, …) as its five fields; anything else as written.
fn expand_macro(text: &str) -> Result<&str, String> {
    Ok(match text.trim() {
        "@hourly" => "0 * * * *",
        "@daily" | "@midnight" => "0 0 * * *",
        "@weekly" => "0 0 * * 0",
        "@monthly" => "0 0 1 * *",
        "@yearly" | "@annually" => "0 0 1 1 *",
        other if other.starts_with('@') => return Err(format!("`{other}` is not a known macro")),
        other => other,
    })
}

/// The values each of the five fields matches, with Sunday always as 0.
fn expand_fields(parts: &[&str]) -> Result<[Vec<u32>; 5], String> {
    let mut fields: [Vec<u32>; 5] = Default::default();
    for (i, part) in parts.iter().enumerate() {
        fields[i] = expand(part, i).map_err(|why| format!("{} field `{part}`: {why}", FIELD_NAMES[i]))?;
    }
    // Sunday is 0 or 7.
    if fields[4].contains(&7) {
        fields[4].retain(|d| *d != 7);
        if !fields[4].contains(&0) {
            fields[4].insert(0, 0);
        }
    }
    Ok(fields)
}

/// The values one cron field matches, sorted.
fn expand(field: &str, index: usize) -> Result<Vec<u32>, String> {
    let mut values = Vec::new();
    for item in field.split(',') {
        let (start, end, step) = item_range(item, index)?;
        if start > end {
            return Err(format!("range {start}-{end} runs backwards"));
        }
        values.extend((start..=end).step_by(step as usize));
    }
    values.sort_unstable();
    values.dedup();
    Ok(values)
}

/// One comma-separated item of field `index` (`*`, `a`, `a-b`, each with an optional `/step`)
/// as its first value, last value and step.
fn item_range(item: &str, index: usize) -> Result<(u32, u32, u32), String> {
    let (lo, hi) = RANGES[index];
    let (range, step) = match item.split_once('/') {
        Some((r, s)) => {
            let step: u32 = s.parse().map_err(|_| format!("step `{s}` is not a number"))?;
            if step == 0 {
                return Err("a step of 0".into());
            }
            (r, step)
        }
        None => (item, 1),
    };
    let (start, end) = if range == "*" {
        (lo, if index == 4 { 6 } else { hi })
    } else if let Some((a, b)) = range.split_once('-') {
        (field_value(a, index)?, field_value(b, index)?)
    } else {
        let v = field_value(range, index)?;
        // `5/15` means from 5 to the end in steps of 15.
        (v, if step > 1 { hi } else { v })
    };
    Ok((start, end, step))
}

/// One value of field `index`: a number, or a month or day name, within the field's range.
fn field_value(text: &str, index: usize) -> Result<u32, String> {
    let (lo, hi) = RANGES[index];
    let lower = text.to_ascii_lowercase();
    let named = match index {
        3 => MONTHS.iter().position(|m| *m == lower).map(|p| p as u32 + 1),
        4 => DAYS.iter().position(|d| *d == lower).map(|p| p as u32),
        _ => None,
    };
    let v = match named {
        Some(v) => v,
        None => text
            .parse::<u32>()
            .map_err(|_| format!("`{text}` is not a number"))?,
    };
    if v < lo || v > hi {
        return Err(format!("{v} is outside {lo}-{hi}"));
    }
    Ok(v)
}

/// Quotes a word for `sh`.
fn sh_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@".contains(c))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The folder of the command's `--metrics-file`.
fn metrics_dir(command: &[String]) -> Option<&Path> {
    command
        .iter()
        .position(|w| w == "--metrics-file")
        .and_then(|i| command.get(i + 1))
        .and_then(|m| Path::new(m).parent())
}

/// A crontab line (with comments above it) that runs `command` in `workdir`, appending to `log`.
fn crontab_line(
    name: &str,
    schedule: &Schedule,
    command: &[String],
    workdir: &Path,
    log: &Path,
    next: &[String],
) -> String {
    let mut dirs = vec![log.parent().unwrap_or(Path::new("/")).display().to_string()];
    if let Some(metrics) = metrics_dir(command) {
        dirs.push(metrics.display().to_string());
    }
    dirs.dedup();
    let dirs = dirs.iter().map(|d| sh_quote(d)).collect::<Vec<_>>().join(" ");
    let run = command.iter().map(|w| sh_quote(w)).collect::<Vec<_>>().join(" ");
    let line = format!(
        "cd {} && mkdir -p {dirs} && {run} >> {} 2>&1",
        sh_quote(&workdir.display().to_string()),
        sh_quote(&log.display().to_string())
    );
    // In a crontab, an unescaped % ends the command.
    let line = line.replace('%', r"\%");
    format!(
        "# sluice: `{name}` at \"{}\" (next: {}).\n\
         # The catalog lock keeps runs from overlapping; logs are JSON lines; the metrics file is for\n\
         # node_exporter's textfile collector. Add with `crontab -e`.\n\
         {} {line}\n",
        schedule.expression,
        next.join(", "),
        schedule.expression,
    )
}

/// Quotes a word for a systemd `ExecStart=` line (and escapes `%` specifiers).
fn systemd_quote(word: &str) -> String {
    let escaped = word.replace('%', "%%");
    if escaped
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-=:,+@".contains(c))
    {
        escaped
    } else {
        format!("\"{}\"", escaped.replace('\\', r"\\").replace('"', "\\\""))
    }
}

/// A systemd service that runs `command` and a timer that starts it on `schedule`.
fn systemd_units(
    name: &str,
    schedule: &Schedule,
    command: &[String],
    workdir: &Path,
    next: &[String],
) -> String {
    let unit = format!("sluice-{}", unit_name(name));
    let service = systemd_service(&unit, name, command, workdir);
    let timer = systemd_timer(&unit, name, schedule, next);
    format!("{service}\n{timer}")
}

/// The `.service` unit: a oneshot run of `command` in `workdir`.
fn systemd_service(unit: &str, name: &str, command: &[String], workdir: &Path) -> String {
    let exec = command
        .iter()
        .map(|w| systemd_quote(w))
        .collect::<Vec<_>>()
        .join(" ");
    let metrics = metrics_dir(command)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    format!(
        "# /etc/systemd/system/{unit}.service\n\
         [Unit]\n\
         Description=sluice {name}\n\
         Wants=network-online.target\n\
         After=network-online.target\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         WorkingDirectory={}\n\
         ExecStartPre=/bin/mkdir -p {}\n\
         ExecStart={exec}\n\
         # Logs are JSON lines in the journal: journalctl -u {unit} -o cat\n",
        systemd_quote(&workdir.display().to_string()),
        systemd_quote(&metrics),
    )
}

/// The `.timer` unit: one `OnCalendar=` line per calendar the cron expression needs.
fn systemd_timer(unit: &str, name: &str, schedule: &Schedule, next: &[String]) -> String {
    let calendars: String = schedule
        .on_calendar()
        .iter()
        .map(|c| format!("OnCalendar={c}\n"))
        .collect();
    format!(
        "# /etc/systemd/system/{unit}.timer\n\
         # cron \"{}\" (next: {}). Enable with: systemctl enable --now {unit}.timer\n\
         [Unit]\n\
         Description=Schedule of sluice {name}\n\
         \n\
         [Timer]\n\
         {calendars}\
         Persistent=true\n\
         Unit={unit}.service\n\
         \n\
         [Install]\n\
         WantedBy=timers.target\n",
        schedule.expression,
        next.join(", "),
    )
}

/// A job name as a unit name: characters systemd does not allow become `-`.
fn unit_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calendar(cron: &str) -> Vec<String> {
        Schedule::parse(cron).unwrap().on_calendar()
    }

    #[test]
    fn cron_fields_become_on_calendar_values() {
        assert_eq!(calendar("0 2 * * *"), ["*-*-* 02:00:00"]);
        assert_eq!(calendar("@hourly"), ["*-*-* *:00:00"]);
        assert_eq!(
            calendar("*/15 8-10 * * 1-5"),
            ["Mon,Tue,Wed,Thu,Fri *-*-* 08,09,10:00,15,30,45:00"]
        );
        assert_eq!(calendar("30 4 1 jan,jul *"), ["*-01,07-01 04:30:00"]);
        assert_eq!(calendar("0 0 * * 7"), ["Sun *-*-* 00:00:00"]);
        // cron runs on the 1st OR on Mondays; systemd needs one line for each.
        assert_eq!(calendar("0 3 1 * mon"), ["*-*-01 03:00:00", "Mon *-*-* 03:00:00"]);
    }

    #[test]
    fn bad_schedules_are_refused_with_the_field() {
        for (cron, expect) in [
            ("0 2 * *", "4 fields"),
            ("61 2 * * *", "minute field `61`"),
            ("0 2 * * mon-", "day of week"),
            ("0 2 */0 * *", "a step of 0"),
            ("@reboot", "not a known macro"),
            ("5-1 * * * *", "backwards"),
        ] {
            let err = Schedule::parse(cron).unwrap_err().to_string();
            assert!(err.contains(expect), "{cron}: {err}");
        }
    }

    #[test]
    fn crontab_commands_escape_percent_and_quote_spaces() {
        let s = Schedule::parse("0 2 * * *").unwrap();
        let line = crontab_line(
            "j",
            &s,
            &[
                "/bin/sluice".into(),
                "--metrics-file".into(),
                "/m/j.prom".into(),
                "--param".into(),
                "d=%Y x".into(),
            ],
            Path::new("/w"),
            Path::new("/l/j.log"),
            &[],
        );
        assert!(line.contains(r"'d=\%Y x'"), "{line}");
        assert!(
            line.contains("\n0 2 * * * cd /w && mkdir -p /l /m && /bin/sluice"),
            "{line}"
        );
    }
}
