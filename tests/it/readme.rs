//! The README's tour, run as a newcomer runs it: every command that needs no cluster, S3 or AWS
//! account, in order, in a fresh folder holding the repository's sample data, must exit 0.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::test_util::{copy_tree, repo};

/// Commands of the tour, one per entry (a quoted argument may span lines).
fn tour_commands(readme: &str) -> Vec<String> {
    let tour = readme
        .split("## Tour")
        .nth(1)
        .expect("the README has a Tour section");
    let block = tour
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("the tour has a sh block");
    let mut commands = Vec::new();
    let mut pending = String::new();
    for line in block.lines() {
        if pending.is_empty() && (line.trim().is_empty() || line.trim_start().starts_with('#')) {
            continue;
        }
        pending.push_str(line);
        pending.push('\n');
        // A quote left open continues on the next line.
        if pending.matches('"').count().is_multiple_of(2) {
            commands.push(std::mem::take(&mut pending).trim().to_string());
        }
    }
    commands
}

/// What a command needs that a test machine lacks (or what stands for the reader's own files).
fn needs_more_than_this_machine(command: &str) -> bool {
    let bare = command.split(" #").next().unwrap_or(command).trim();
    // The interactive shell needs a terminal (`shell` tests drive it).
    if bare == "sluice sql" {
        return true;
    }
    [
        "s3://",
        "--cluster",
        "sluice scheduler",
        "sluice executor",
        "--glue",
        "--sync-glue",
        "JOB.toml",
        "RUN_ID",
        "~/",
    ]
    .iter()
    .any(|needle| command.contains(needle))
}

#[test]
fn the_readme_tour_runs() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let commands = tour_commands(&readme);
    assert!(commands.len() > 30, "{commands:#?}");
    let dir = tempfile::tempdir().unwrap();
    for folder in ["testdata", "jobs"] {
        copy_tree(&repo().join(folder), &dir.path().join(folder));
    }
    std::fs::write(dir.path().join("report.sql"), "SELECT 1 AS answer;\n").unwrap();
    // `sluice` on the PATH is the binary under test.
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_sluice"), bin.join("sluice")).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut ran = 0;
    for command in commands.iter().filter(|c| !needs_more_than_this_machine(c)) {
        let out = run_in(dir.path(), &path, command);
        assert!(
            out.status.success(),
            "`{command}` exited {:?}:\n{}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ran += 1;
    }
    assert!(ran >= 20, "only {ran} of {} tour commands ran", commands.len());
}

fn run_in(dir: &Path, path: &str, command: &str) -> std::process::Output {
    Command::new("bash")
        .args(["-c", &format!("set -o pipefail; {command}")])
        .current_dir(dir)
        .env("PATH", path)
        .env("HOME", dir)
        .env_remove("SLUICE_FORMAT")
        .env_remove("SLUICE_CATALOG")
        .env("SLUICE_MEMORY_LIMIT", "1GiB")
        .stdin(Stdio::null())
        .output()
        .expect("bash runs")
}
