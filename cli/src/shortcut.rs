//! `orch opencode shortcut NAME ARGS...`: what OpenCode's `/orchestrator.NAME ARGS` command
//! files run (internal; written by `orch opencode install`). It turns the slash command's
//! arguments into an orch command line printed as an aligned table (the TUI shows the
//! user's message as plain text) and, on a usage error, shows the slash syntax rather than
//! the orch command line the user never typed.

use std::ffi::OsString;

/// The words before the shortcut's name.
const PREFIX: [&str; 2] = ["opencode", "shortcut"];

/// One shortcut: the orch command it runs and how it is typed in OpenCode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortcut {
    /// `/orchestrator.models [query or tag]`.
    Models,
    /// `/orchestrator.workers`.
    Workers,
    /// `/orchestrator.worker-model-set <worker> <model or tag>`.
    Set,
    /// `/orchestrator.worker-model-reset <worker>`.
    Reset,
}

impl Shortcut {
    const ALL: [Self; 4] = [Self::Models, Self::Workers, Self::Set, Self::Reset];

    /// The name after `/orchestrator.` (also the orch command, but for `models`).
    fn name(self) -> &'static str {
        match self {
            Self::Models => "models",
            Self::Workers => "workers",
            Self::Set => "worker-model-set",
            Self::Reset => "worker-model-reset",
        }
    }

    /// The slash syntax with an example.
    pub fn usage(self) -> &'static str {
        match self {
            Self::Models => {
                "/orchestrator.models [QUERY or TAG] [--scope all] [--worker WORKER]\n  e.g. /orchestrator.models node:fast (what the tag picks), /orchestrator.models sonnet"
            }
            Self::Workers => "/orchestrator.workers",
            Self::Set => {
                "/orchestrator.worker-model-set WORKER MODEL-OR-TAG [--policy sticky] [--force]\n  e.g. /orchestrator.worker-model-set docs node:fast"
            }
            Self::Reset => {
                "/orchestrator.worker-model-reset WORKER\n  e.g. /orchestrator.worker-model-reset docs"
            }
        }
    }
}

/// When `args` (without the program name) are `opencode shortcut NAME ARGS...`: the
/// shortcut and the orch command line (program name first) it stands for. An unknown NAME
/// is left to clap (which reports `opencode shortcut` as unknown).
pub fn rewrite(args: &[OsString]) -> Option<(Shortcut, Vec<OsString>)> {
    let (head, rest) = args.split_at_checked(PREFIX.len() + 1)?;
    if head[..PREFIX.len()].iter().zip(PREFIX).any(|(a, p)| a != p) {
        return None;
    }
    let shortcut = Shortcut::ALL
        .into_iter()
        .find(|s| head[PREFIX.len()] == s.name())?;
    let mut out: Vec<OsString> = vec!["orch".into()];
    match shortcut {
        Shortcut::Models => {
            let (words, flags) = split_words(rest);
            match words.as_slice() {
                [] => out.push("models".into()),
                [one] if is_tag(one) => {
                    out.push("resolve".into());
                    out.push(one.into());
                }
                _ => {
                    out.push("models".into());
                    out.push("--query".into());
                    out.push(words.join(" ").into());
                }
            }
            out.extend(flags);
        }
        _ => {
            out.push(shortcut.name().into());
            out.extend(rest.iter().cloned());
        }
    }
    if !rest.iter().any(|a| {
        let a = a.to_string_lossy();
        a == "--format" || a.starts_with("--format=")
    }) {
        out.push("--format".into());
        out.push("table".into());
    }
    Some((shortcut, out))
}

/// The words of a models query apart from its options (an option's value stays with it).
fn split_words(args: &[OsString]) -> (Vec<String>, Vec<OsString>) {
    let mut words = Vec::new();
    let mut flags = Vec::new();
    let mut value_next = false;
    for a in args {
        let s = a.to_string_lossy();
        if value_next {
            flags.push(a.clone());
            value_next = false;
        } else if s.starts_with('-') {
            flags.push(a.clone());
            // The options of `orch models` that take a value, when it is not `=`-joined.
            value_next = !s.contains('=')
                && [
                    "--scope",
                    "--provider",
                    "--query",
                    "-q",
                    "--limit",
                    "--worker",
                    "--format",
                ]
                .contains(&s.as_ref());
        } else {
            words.push(s.into_owned());
        }
    }
    (words, flags)
}

/// A tag such as `node` or `node:fast` (what `orch resolve` explains), not a model id
/// (`provider/model`, which may hold a `:` too) or a search word.
fn is_tag(word: &str) -> bool {
    word == "node" || (word.contains(':') && !word.contains('/'))
}

/// The one-line message of a usage error, then the slash syntax; the exit code.
pub fn usage(shortcut: Shortcut, e: &clap::Error) -> u8 {
    if !e.use_stderr() {
        // --help or --version: clap's own text.
        let _ = e.print();
        return crate::exit::OK;
    }
    let message = crate::failure::usage_message(&e.render().to_string());
    eprintln!("error: {message}\n\nUsage: {}", shortcut.usage());
    crate::exit::USAGE
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(args: &str) -> Option<(Shortcut, String)> {
        let args: Vec<OsString> = args.split(' ').map(OsString::from).collect();
        rewrite(&args).map(|(s, argv)| {
            let line: Vec<String> = argv
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            (s, line.join(" "))
        })
    }

    #[test]
    fn each_shortcut_becomes_its_orch_command_as_a_table() {
        let cases = [
            ("opencode shortcut workers", "orch workers --format table"),
            (
                "opencode shortcut worker-model-set docs node:fast",
                "orch worker-model-set docs node:fast --format table",
            ),
            (
                "opencode shortcut worker-model-reset docs",
                "orch worker-model-reset docs --format table",
            ),
            ("opencode shortcut models", "orch models --format table"),
            (
                "opencode shortcut models node:fast",
                "orch resolve node:fast --format table",
            ),
            (
                "opencode shortcut models node",
                "orch resolve node --format table",
            ),
            (
                "opencode shortcut models claude sonnet --scope all",
                "orch models --query claude sonnet --scope all --format table",
            ),
            (
                "opencode shortcut models --worker docs gpt",
                "orch models --query gpt --worker docs --format table",
            ),
            (
                "opencode shortcut models openai/gpt-4o:latest",
                "orch models --query openai/gpt-4o:latest --format table",
            ),
            (
                "opencode shortcut workers --format json",
                "orch workers --format json",
            ),
        ];
        for (args, want) in cases {
            let (_, got) = rewritten(args).expect("a shortcut");
            assert_eq!(got, want, "{args}");
        }
    }

    #[test]
    fn other_command_lines_are_not_shortcuts() {
        for args in [
            "opencode install",
            "opencode shortcut",
            "opencode shortcut nope docs",
            "workers shortcut models",
            "shortcut models",
        ] {
            assert!(rewritten(args).is_none(), "{args}");
        }
    }

    #[test]
    fn every_usage_names_its_slash_command() {
        for s in Shortcut::ALL {
            let usage = s.usage();
            assert!(
                usage.starts_with(&format!("/orchestrator.{}", s.name())),
                "{usage}"
            );
            assert!(!usage.contains("--format"), "{usage}");
        }
    }
}
