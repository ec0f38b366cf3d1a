//! Command-line arguments (clap derive). Only what the user typed is validated here;
//! `main.rs` turns it into core types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Choose, apply and verify the LLM model of each OpenCode worker.
#[derive(Debug, Parser)]
#[command(name = "orch", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Output format (default: table).
    #[arg(long, global = true, value_enum)]
    pub format: Option<FormatArg>,

    /// Project directory whose OpenCode config applies (default: the current directory).
    #[arg(short = 'C', long = "project", global = true, value_name = "DIR")]
    pub project: Option<PathBuf>,

    /// Read providers from this running OpenCode server instead of its files.
    // The URL may carry `user:password@`: help must not print the variable's value.
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "ORCH_OPENCODE_URL",
        hide_env_values = true
    )]
    pub opencode_url: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Aligned columns.
    Table,
    /// A Markdown table (for the OpenCode TUI).
    Markdown,
    /// JSON, for scripts.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the models you can use (or every model with --scope all).
    Models(ModelsArgs),
    /// Show what a model reference resolves to, why, and the ranked candidates.
    Resolve(ResolveArgs),
    /// List worker profiles and what each one's model resolves to now.
    Profiles,
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `orch models`.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Usable providers only (configured), or the whole catalog (all).
    #[arg(long, value_enum, default_value_t = ScopeArg::Configured)]
    pub scope: ScopeArg,
    /// Only this provider (repeatable).
    #[arg(long = "provider", value_name = "ID")]
    pub providers: Vec<String>,
    /// Only models whose id or name matches, best match first.
    #[arg(long, short = 'q', value_name = "TEXT")]
    pub query: Option<String>,
    /// Only models with image input.
    #[arg(long)]
    pub vision: bool,
    /// At most N rows.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

/// Model scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScopeArg {
    /// Providers you can use.
    #[value(alias = "usable")]
    Configured,
    /// Every provider in the catalog.
    All,
}

/// `orch resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// A model reference: provider/model, a partial name, or a tag (node, node:fast, node:vision, node:docs).
    #[arg(value_name = "REF", allow_hyphen_values = true)]
    pub reference: String,
    /// Resolve for this worker (a vision worker needs image input).
    #[arg(long, short = 'w', value_name = "WORKER")]
    pub worker: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_table() {
        let ok: &[&[&str]] = &[
            &["orch", "models"],
            &[
                "orch",
                "models",
                "--scope",
                "all",
                "--provider",
                "openai",
                "--provider",
                "groq",
                "-q",
                "mini",
                "--limit",
                "5",
            ],
            &["orch", "--format", "json", "models", "--vision"],
            &["orch", "resolve", "node:fast", "--worker", "docs"],
            &["orch", "resolve", "-x-weird"],
            &["orch", "profiles", "--format", "markdown"],
            &["orch", "-C", "/tmp", "profiles"],
            &["orch", "completions", "bash"],
        ];
        for args in ok {
            assert!(Cli::try_parse_from(*args).is_ok(), "{args:?}");
        }
        let bad: &[&[&str]] = &[
            &["orch"],
            &["orch", "models", "--scope", "some"],
            &["orch", "models", "--limit", "-1"],
            &["orch", "resolve"],
            &["orch", "--format", "xml", "models"],
            &["orch", "nope"],
        ];
        for args in bad {
            assert!(Cli::try_parse_from(*args).is_err(), "{args:?}");
        }
    }
}
