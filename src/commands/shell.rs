//! The interactive SQL shell: history, multi-line statements ended by `;`, and a few `\` commands.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;

use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;
use sluice_engine::SluiceSession;

use crate::env;
use crate::settings::Settings;

const HELP: &str = "\
Statements end with `;` and may span lines. Quote a folder or URL to query it:
  SELECT * FROM 'testdata/lake/orders/' LIMIT 5;
Commands:
  \\d        list tables           \\d NAME   describe a table
  \\?        this help             \\q        quit (also Ctrl-D)";

/// What one line of input means to the shell.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// Keep reading: the statement is not finished.
    More,
    /// A complete statement (or several) to run.
    Run(String),
    /// A backslash command translated to SQL.
    Meta(String),
    /// Show help.
    Help,
    /// Leave the shell.
    Quit,
}

/// Adds a line to the pending buffer and says what to do next.
pub fn feed(buffer: &mut String, line: &str) -> Input {
    let trimmed = line.trim();
    if buffer.is_empty() {
        match trimmed {
            "" => return Input::More,
            "\\q" | "quit" | "exit" | "quit;" | "exit;" => return Input::Quit,
            "\\?" | "help" | "\\h" => return Input::Help,
            "\\d" => return Input::Meta("SHOW TABLES".into()),
            _ => {}
        }
        if let Some(name) = trimmed.strip_prefix("\\d ") {
            return Input::Meta(format!("DESCRIBE {}", name.trim()));
        }
    }
    if !buffer.is_empty() {
        buffer.push('\n');
    }
    buffer.push_str(line);
    if trimmed.ends_with(';') {
        Input::Run(std::mem::take(buffer))
    } else {
        Input::More
    }
}

fn history_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env::SLUICE_HISTORY) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".sluice_history"))
}

/// Runs the shell until `\q` or end of input.
pub async fn run(session: &SluiceSession, settings: &Settings) -> anyhow::Result<()> {
    let mut editor = DefaultEditor::new()?;
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path);
    }
    if !settings.quiet {
        eprintln!(
            "sluice {} SQL shell. End statements with `;`, `\\?` for help, `\\q` to quit.",
            env!("CARGO_PKG_VERSION")
        );
    }
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() { "sluice> " } else { "     -> " };
        match editor.readline(prompt) {
            Ok(line) => match feed(&mut buffer, &line) {
                Input::More => {}
                Input::Quit => break,
                Input::Help => println!("{HELP}"),
                Input::Meta(sql) => execute(session, &sql, settings).await,
                Input::Run(sql) => {
                    let _ = editor.add_history_entry(sql.replace('\n', " "));
                    execute(session, &sql, settings).await;
                }
            },
            Err(ReadlineError::Interrupted) => buffer.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(path) = &history
        && let Err(e) = editor.save_history(path)
    {
        tracing::warn!(path = %path.display(), error = %e, "could not save shell history");
    }
    Ok(())
}

async fn execute(session: &SluiceSession, sql: &str, settings: &Settings) {
    if let Err(e) = super::sql::run_script(session, sql, settings, None).await {
        crate::diagnostics::report(&crate::names::explain(e, &settings.catalog));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_span_lines_until_semicolon() {
        let mut buf = String::new();
        assert_eq!(feed(&mut buf, "SELECT 1,"), Input::More);
        assert_eq!(feed(&mut buf, "  2;"), Input::Run("SELECT 1,\n  2;".into()));
        assert!(buf.is_empty());
    }

    #[test]
    fn meta_commands_only_at_statement_start() {
        let mut buf = String::new();
        assert_eq!(feed(&mut buf, "\\d"), Input::Meta("SHOW TABLES".into()));
        assert_eq!(feed(&mut buf, "\\d t"), Input::Meta("DESCRIBE t".into()));
        assert_eq!(feed(&mut buf, "\\q"), Input::Quit);
        assert_eq!(feed(&mut buf, "SELECT"), Input::More);
        assert_eq!(feed(&mut buf, "\\q"), Input::More);
    }
}
