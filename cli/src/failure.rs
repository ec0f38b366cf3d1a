//! How a failed command reports: readable text on stderr, or with `--format json` one JSON
//! object on stdout (documented in `docs/cli.md`, "Errors"), with the same exit codes:
//!
//! ```json
//! {"error": {"kind": "ambiguous", "message": "...", "suggestions": ["openai/gpt-5"], "more": 35}}
//! ```
//!
//! `kind` is one of orch's error kinds (`invalid_input`, `not_found`, `ambiguous`,
//! `config`, `unavailable`, `failed`, `budget`) or `usage` for a command line clap refused.

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind as ClapKind};
use orch::error::ErrorKind;
use orch::resolve::by_similarity;
use orch::wire::Format;
use serde::Serialize;

use crate::{exit, print};

/// The JSON object of a failure.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The failure.
    pub error: Body,
}

/// What failed, and what the user may have meant.
#[derive(Debug, Serialize)]
pub struct Body {
    /// `usage`, or one of orch's error kinds.
    pub kind: String,
    /// The message, as the text output shows it (causes after `: `).
    pub message: String,
    /// What the user may have meant, best first (empty when nothing is known).
    pub suggestions: Vec<String>,
    /// How many more candidates match than `suggestions` lists.
    pub more: usize,
}

/// The name orch's error kinds have in JSON (`not_found`, ...).
fn kind_name(kind: ErrorKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "failed".to_owned())
}

/// Whether the command line asks for JSON (`--format json` or `--format=json`), read
/// from the raw arguments because clap could not parse them.
pub fn wants_json(args: impl IntoIterator<Item = OsString>) -> bool {
    let mut previous_was_format = false;
    for a in args {
        let a = a.to_string_lossy();
        if a == "--" {
            return false;
        }
        if (previous_was_format && a == "json") || a == "--format=json" {
            return true;
        }
        previous_was_format = a == "--format";
    }
    false
}

/// Prints a failed command (an error `run` returned) and gives its exit code.
pub fn command(e: &anyhow::Error, format: Format) -> u8 {
    let api = e.downcast_ref::<orch::Error>();
    if format == Format::Json {
        let report = Report {
            error: Body {
                kind: api.map_or_else(|| "failed".to_owned(), |a| kind_name(a.kind)),
                message: format!("{e:#}"),
                suggestions: api.map(|a| a.suggestions.clone()).unwrap_or_default(),
                more: api.map_or(0, |a| a.more),
            },
        };
        json(&report);
    } else {
        eprintln!("orch: {e:#}");
        if let Some(api) = api
            && let Some(first) = api.suggestions.first()
            && !api.message.contains(first.as_str())
        {
            eprintln!("suggestions: {}", api.suggestions.join(", "));
        }
    }
    match api.map(|a| a.kind) {
        Some(ErrorKind::Budget) => exit::BUDGET,
        _ => exit::FAILURE,
    }
}

/// Prints clap's answer to a command line it refused (or `--help`, `--version`) and gives
/// the exit code. A mistyped subcommand's suggestions are ranked by spelling (`modles`
/// offers `models` first).
pub fn usage(mut e: clap::Error, json_wanted: bool) -> u8 {
    rank_subcommands(&mut e);
    if !e.use_stderr() {
        let _ = e.print();
        return exit::OK;
    }
    if json_wanted {
        let message = usage_message(&e.render().to_string());
        let suggestions = suggestions(&e);
        json(&Report {
            error: Body {
                kind: "usage".to_owned(),
                message,
                suggestions,
                more: 0,
            },
        });
    } else {
        let _ = e.print();
    }
    exit::USAGE
}

/// clap's error text as one line: what is wrong and its tips, without the usage and the
/// pointer to `--help` (`the following required arguments were not provided: <REF>`).
pub fn usage_message(rendered: &str) -> String {
    rendered
        .lines()
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| l.trim_start_matches("error: "))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What clap suggests: subcommands, arguments or valid values.
fn suggestions(e: &clap::Error) -> Vec<String> {
    let mut out = Vec::new();
    for kind in [
        ContextKind::SuggestedSubcommand,
        ContextKind::SuggestedArg,
        ContextKind::SuggestedValue,
        ContextKind::ValidValue,
    ] {
        match e.get(kind) {
            Some(ContextValue::String(s)) => out.push(s.clone()),
            Some(ContextValue::Strings(v)) => out.extend(v.iter().cloned()),
            _ => {}
        }
    }
    out
}

/// Orders clap's "similar subcommands" by edit distance to what was typed: clap's own
/// order puts `profiles` before `models` for `modles`.
fn rank_subcommands(e: &mut clap::Error) {
    if e.kind() != ClapKind::InvalidSubcommand {
        return;
    }
    let Some(ContextValue::String(typed)) = e.get(ContextKind::InvalidSubcommand).cloned() else {
        return;
    };
    let Some(ContextValue::Strings(similar)) = e.get(ContextKind::SuggestedSubcommand).cloned()
    else {
        return;
    };
    let ranked = by_similarity(&typed, similar.iter().map(String::as_str));
    e.insert(
        ContextKind::SuggestedSubcommand,
        ContextValue::Strings(ranked),
    );
}

/// Writes a report as one line of JSON on stdout.
fn json(report: &Report) {
    match serde_json::to_string(report) {
        Ok(mut s) => {
            s.push('\n');
            if print::bytes(s.as_bytes()).is_err() {
                eprintln!("orch: {}", report.error.message);
            }
        }
        Err(_) => eprintln!("orch: {}", report.error.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn json_is_seen_in_raw_arguments() {
        assert!(wants_json(args(&["orch", "--format", "json", "nope"])));
        assert!(wants_json(args(&["orch", "resolve", "--format=json"])));
        assert!(!wants_json(args(&["orch", "--format", "table", "nope"])));
        assert!(!wants_json(args(&[
            "orch",
            "run",
            "docs",
            "--",
            "--format=json"
        ])));
        assert!(!wants_json(args(&["orch", "json"])));
    }

    #[test]
    fn usage_errors_read_as_one_line_with_what_is_valid() {
        use clap::Parser;
        let usage = |args: &[&str]| {
            let e = crate::args::Cli::try_parse_from(args).expect_err("a usage error");
            (usage_message(&e.render().to_string()), suggestions(&e))
        };
        let (message, _) = usage(&["orch", "resolve"]);
        assert_eq!(
            message,
            "the following required arguments were not provided: <REF>"
        );
        let (message, valid) = usage(&["orch", "models", "--scope", "some"]);
        assert!(
            message.starts_with("invalid value 'some' for '--scope <SCOPE>'"),
            "{message}"
        );
        assert_eq!(valid, ["configured", "all"]);
        let (_, similar) = usage(&["orch", "modles"]);
        assert!(similar.contains(&"models".to_owned()), "{similar:?}");
    }

    #[test]
    fn kinds_have_their_json_names() {
        assert_eq!(kind_name(ErrorKind::NotFound), "not_found");
        assert_eq!(kind_name(ErrorKind::InvalidInput), "invalid_input");
        assert_eq!(kind_name(ErrorKind::Ambiguous), "ambiguous");
        assert_eq!(kind_name(ErrorKind::Budget), "budget");
    }

    #[test]
    fn a_spent_budget_exits_3_and_other_failures_1() {
        let refused = anyhow::Error::new(orch::Error::new(
            ErrorKind::Budget,
            "budget reached: worker coder's daily budget of $0.0500 is spent",
        ));
        assert_eq!(command(&refused, Format::Json), exit::BUDGET);
        let failed = anyhow::Error::new(orch::Error::new(ErrorKind::Failed, "x"));
        assert_eq!(command(&failed, Format::Json), exit::FAILURE);
        assert_eq!(
            command(&anyhow::anyhow!("plain"), Format::Json),
            exit::FAILURE
        );
    }
}
