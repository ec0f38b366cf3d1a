//! Command-line arguments (clap derive). Only what the user typed is validated here;
//! `convert.rs` turns it into core types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::complete;

/// Choose, apply and verify the LLM model of each OpenCode worker.
#[derive(Debug, Parser)]
#[command(name = "orch", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Output format (default: table).
    #[arg(long, global = true, value_enum)]
    pub format: Option<FormatArg>,

    /// Project directory whose OpenCode config applies (default, and without DIR: the
    /// current directory). For `opencode install` it also selects the project scope.
    #[arg(
        short = 'C',
        long = "project",
        global = true,
        value_name = "DIR",
        num_args = 0..=1,
        default_missing_value = "."
    )]
    pub project: Option<PathBuf>,

    /// Read providers from this running OpenCode server instead of its files, in-process
    /// (models, resolve, profiles and workers only; everything else needs the backend).
    // The URL may carry `user:password@`: help must not print the variable's value.
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "ORCH_OPENCODE_URL",
        hide_env_values = true
    )]
    pub opencode_url: Option<String>,

    /// The backend's socket (default: $ORCH_SOCKET, else $XDG_RUNTIME_DIR/orch/orch.sock, else $TMPDIR/orch-$UID/orch.sock).
    #[arg(long, global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// `--format` only shapes what a command prints; the commands that print no view
    /// (`tui`, `serve`, `mcp`, `completions`) refuse it rather than ignore it.
    pub fn check_format(&self) -> Result<(), clap::Error> {
        let name = match &self.command {
            Command::Tui(_) => "tui",
            Command::Serve => "serve",
            Command::Mcp => "mcp",
            Command::Completions { .. } => "completions",
            _ => return Ok(()),
        };
        match self.format {
            None => Ok(()),
            Some(_) => Err(<Self as clap::CommandFactory>::command().error(
                clap::error::ErrorKind::ArgumentConflict,
                format!("--format does not apply to `orch {name}`, which prints no table"),
            )),
        }
    }
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
    /// List workers: model ref, resolved model, policy, reason, and the model that answered last.
    Workers,
    /// Change a worker's model (a tag such as node:fast, or provider/model).
    WorkerModelSet(SetArgs),
    /// Restore a worker's configured model.
    WorkerModelReset {
        /// The worker (vision, docs, coder, architect, explorer, memory, or your own).
        #[arg(value_name = "WORKER", add = complete::worker_arg())]
        worker: String,
    },
    /// Run a task on a worker and print its answer (Ctrl-C cancels it).
    Run(RunArgs),
    /// Start workers' OpenCode ahead of their first task, so it answers without waiting
    /// for a start (no task is sent).
    ///
    /// Without WORKER: the workers whose profile says "warm": true in orchestrator.json
    /// (the backend also starts those when it starts); when none does, every worker that
    /// runs in the shared OpenCode host.
    Warm {
        /// Workers to start (vision, docs, coder, architect, explorer, memory, or your own).
        #[arg(value_name = "WORKER", add = complete::worker_arg())]
        workers: Vec<String>,
    },
    /// List recent tasks, newest first, or show one task with its full output.
    Tasks(TasksArgs),
    /// Cancel tasks (their OpenCode sessions are aborted).
    Cancel {
        /// Task ids, as `orch run --no-wait` or `orch tasks` print them.
        #[arg(value_name = "ID", required = true)]
        ids: Vec<String>,
    },
    /// Show the backend: pid, socket, paths, log file, tasks.
    Status,
    /// Show tokens and cost of the project's tasks per worker, model or day.
    Usage(UsageArgs),
    /// Show model and provider health: failures on record, cooldowns, refused credentials.
    Health {
        /// Clear the record (every model is tried again in its usual order).
        #[arg(long)]
        reset: bool,
    },
    /// Run the backend: the MCP server on the Unix socket (clients start it on demand).
    Serve,
    /// Stop the backend, its tasks, its workers and everything they started.
    Stop {
        /// Stop every orch backend of this user (every project and environment).
        #[arg(long)]
        all: bool,
    },
    /// Stop the backend and start a new one.
    Restart,
    /// Speak MCP on stdin/stdout for OpenCode's `mcp` config, bridged to the backend.
    Mcp,
    /// Set up OpenCode to use orch (command shortcuts, the `orch mcp` server).
    Opencode(OpencodeArgs),
    /// A terminal UI: list workers, pick a model (search, tags with previews), apply it,
    /// verify which model answers.
    Tui(TuiArgs),
    /// Print a static shell completion script (subcommands and flags).
    ///
    /// For worker names and model references too, use the dynamic script instead:
    /// `source <(COMPLETE=bash orch)` (zsh: `source <(COMPLETE=zsh orch)`; fish:
    /// `COMPLETE=fish orch | source`).
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
    #[arg(long = "provider", value_name = "ID", add = complete::provider_arg())]
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
    /// Only models that fit this worker (text work, tool calls, image input for vision).
    #[arg(long, value_name = "WORKER")]
    pub worker: Option<String>,
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
    #[arg(value_name = "REF", allow_hyphen_values = true, add = complete::model_arg())]
    pub reference: String,
    /// Resolve for this worker (a vision worker needs image input).
    #[arg(long, short = 'w', value_name = "WORKER", add = complete::worker_arg())]
    pub worker: Option<String>,
}

/// How a model change applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyArg {
    /// The model rides on each message; no restart.
    Dynamic,
    /// The model becomes the worker's default until reset.
    Sticky,
}

/// `orch worker-model-set`.
#[derive(Debug, Args)]
pub struct SetArgs {
    /// The worker: vision, docs, coder, architect, explorer, memory, or one of yours from
    /// orchestrator.json (`orch workers` lists them).
    #[arg(value_name = "WORKER", add = complete::worker_arg())]
    pub worker: String,
    /// The model: a tag (node, node:fast, node:vision, node:docs), provider/model, or a
    /// partial name (kept as typed: it resolves again when your providers change); or a
    /// fallback chain, `a,b,c`, tried in order when a model fails at run time.
    #[arg(value_name = "MODEL", allow_hyphen_values = true, add = complete::model_arg())]
    pub model: String,
    /// dynamic (default) or sticky.
    #[arg(long, value_enum, default_value_t = PolicyArg::Dynamic)]
    pub policy: PolicyArg,
    /// Restart the worker's OpenCode process now.
    #[arg(long)]
    pub respawn: bool,
    /// Set the model even when it does not fit the worker (the worker row keeps a warning).
    #[arg(long)]
    pub force: bool,
}

/// `orch run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The worker: vision, docs, coder, architect, explorer, memory, or one of yours from
    /// orchestrator.json (`orch workers` lists them).
    #[arg(value_name = "WORKER", add = complete::worker_arg())]
    pub worker: String,
    /// What the worker should do (not empty).
    #[arg(
        value_name = "TASK",
        allow_hyphen_values = true,
        value_parser = clap::builder::NonEmptyStringValueParser::new()
    )]
    pub task: String,
    /// A model for this task (default: the worker's current one). A fallback chain, tried
    /// in order when a model fails: `--model a,b,c` or the option repeated.
    #[arg(long, short = 'm', value_name = "REF", add = complete::model_arg())]
    pub model: Vec<String>,
    /// With --model: dynamic (this task only, the default) or sticky (also the worker's default).
    #[arg(long, value_enum, requires = "model")]
    pub policy: Option<PolicyArg>,
    /// Start a fresh worker process even when a matching one runs.
    #[arg(long)]
    pub force_new: bool,
    /// Print the task id and return at once; `orch tasks` and `orch cancel` take it.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up after this many seconds (default 1800).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout: Option<u64>,
}

/// Task states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    /// Accepted, not started.
    Queued,
    /// Running.
    Running,
    /// Finished with a result.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Cancelled.
    Cancelled,
    /// Its backend died while it ran.
    Lost,
}

/// Which tasks `orch tasks` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum KindArg {
    /// Work for workers (`orch run`, `task_start`).
    #[default]
    Task,
    /// Operations on workers (model changes, warm starts).
    Op,
    /// Both.
    All,
}

/// `orch usage`.
#[derive(Debug, Args)]
pub struct UsageArgs {
    /// One row per worker, per model that answered, or per UTC day.
    #[arg(long, value_enum, default_value_t)]
    pub by: ByArg,
}

/// What `orch usage` groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ByArg {
    /// Per worker.
    #[default]
    Worker,
    /// Per model that answered.
    Model,
    /// Per UTC day the task finished.
    Day,
}

impl From<ByArg> for orch::usage::By {
    fn from(b: ByArg) -> Self {
        match b {
            ByArg::Worker => Self::Worker,
            ByArg::Model => Self::Model,
            ByArg::Day => Self::Day,
        }
    }
}

/// `orch tasks`.
#[derive(Debug, Args)]
pub struct TasksArgs {
    /// Show this task (as `orch run --no-wait` printed it) with its full output.
    #[arg(value_name = "ID")]
    pub id: Option<String>,
    /// With ID: wait until the task finishes (a failed task exits with a failure).
    #[arg(long, requires = "id")]
    pub wait: bool,
    /// Only tasks in this state (repeatable).
    #[arg(long, value_enum, conflicts_with = "id")]
    pub status: Vec<StatusArg>,
    /// At most N tasks (default 50).
    #[arg(long, value_name = "N", conflicts_with = "id")]
    pub limit: Option<usize>,
    /// Tasks for workers, operations on them (model changes), or all.
    #[arg(long, value_enum, default_value_t, conflicts_with = "id")]
    pub kind: KindArg,
}

/// `orch opencode`.
#[derive(Debug, Args)]
pub struct OpencodeArgs {
    #[command(subcommand)]
    pub command: OpencodeCommand,
}

/// `orch opencode <command>`.
#[derive(Debug, Subcommand)]
pub enum OpencodeCommand {
    /// Write the /orchestrator.* command shortcuts and add the `orch mcp` server to
    /// OpenCode's config (project by default), keeping everything already there.
    Install(InstallArgs),
}

/// `orch opencode install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Install into OpenCode's global config (~/.config/opencode) instead of the project.
    /// `--project [DIR]` (the default) installs into the project's `.opencode/commands/`
    /// and `opencode.json(c)`.
    #[arg(long, conflicts_with = "project")]
    pub global: bool,
    /// Show what would change, write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `orch tui`.
#[derive(Debug, Args)]
pub struct TuiArgs {
    /// Write logs here (default: tui.log in orch's state directory). Nothing is logged to
    /// the terminal while the TUI runs; `ORCH_LOG` sets the level (default info).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
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
            &["orch", "workers"],
            &["orch", "worker-model-set", "docs", "node:fast"],
            &[
                "orch",
                "worker-model-set",
                "docs",
                "openai/gpt-5-mini",
                "--policy",
                "sticky",
                "--respawn",
            ],
            &["orch", "worker-model-reset", "docs"],
            &["orch", "run", "docs", "summarise the README"],
            &[
                "orch",
                "run",
                "docs",
                "x",
                "--model",
                "node:fast",
                "--policy",
                "sticky",
                "--force-new",
                "--no-wait",
                "--timeout",
                "60",
            ],
            &["orch", "tasks", "--status", "running", "--limit", "5"],
            &["orch", "cancel", "t1", "t2"],
            &["orch", "status", "--format", "json"],
            &["orch", "health"],
            &["orch", "health", "--reset", "--format", "json"],
            &["orch", "serve", "--socket", "/tmp/x.sock"],
            &["orch", "--socket", "/tmp/x.sock", "workers"],
            &["orch", "mcp"],
            &["orch", "opencode", "install"],
            &["orch", "opencode", "install", "--project"],
            &["orch", "opencode", "install", "--project", "--dry-run"],
            &["orch", "opencode", "install", "--project", "/tmp/p"],
            &["orch", "-C", "/tmp/p", "opencode", "install"],
            &["orch", "opencode", "install", "--global", "--dry-run"],
            &[
                "orch", "--format", "json", "opencode", "install", "--global",
            ],
            &["orch", "models", "--project"],
            &["orch", "tui"],
            &["orch", "-C", "/tmp/p", "tui", "--log", "/tmp/tui.log"],
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
            &["orch", "worker-model-set", "docs"],
            &[
                "orch",
                "worker-model-set",
                "docs",
                "node",
                "--policy",
                "forever",
            ],
            &["orch", "worker-model-reset"],
            &["orch", "run", "docs"],
            &["orch", "run", "docs", ""],
            &["orch", "run", "docs", "x", "--policy", "sticky"],
            &["orch", "run", "docs", "x", "--timeout", "0"],
            &["orch", "tasks", "--status", "done"],
            &["orch", "cancel"],
            &["orch", "mcp", "extra"],
            &["orch", "opencode"],
            &["orch", "opencode", "install", "--global", "--project"],
            &["orch", "opencode", "install", "--everywhere"],
            &["orch", "tui", "extra"],
        ];
        for args in bad {
            assert!(Cli::try_parse_from(*args).is_err(), "{args:?}");
        }
    }

    /// Help names every built-in worker where a command takes one.
    #[test]
    fn help_lists_the_workers() {
        use clap::CommandFactory;
        let mut cli = Cli::command();
        for command in ["worker-model-set", "worker-model-reset", "run"] {
            let sub = cli
                .find_subcommand_mut(command)
                .expect("the subcommand exists");
            let help = sub.render_long_help().to_string();
            for profile in &orch::profiles::Profiles::builtin().list {
                assert!(
                    help.contains(&profile.id),
                    "{command} --help lacks {}",
                    profile.id
                );
            }
        }
    }

    #[test]
    fn format_is_refused_where_nothing_is_printed() {
        for args in [
            &["orch", "--format", "json", "tui"][..],
            &["orch", "serve", "--format", "table"],
            &["orch", "--format", "markdown", "mcp"],
            &["orch", "completions", "bash", "--format", "json"],
        ] {
            let cli = Cli::try_parse_from(args).expect("parses");
            assert!(cli.check_format().is_err(), "{args:?}");
        }
        for args in [
            &["orch", "tui"][..],
            &["orch", "--format", "json", "models"],
        ] {
            let cli = Cli::try_parse_from(args).expect("parses");
            assert!(cli.check_format().is_ok(), "{args:?}");
        }
    }

    #[test]
    fn install_scope_flags() {
        let parse = |args: &[&str]| match Cli::try_parse_from(args) {
            Ok(Cli {
                project,
                command:
                    Command::Opencode(OpencodeArgs {
                        command: OpencodeCommand::Install(a),
                    }),
                ..
            }) => (project, a.global, a.dry_run),
            other => panic!("{args:?}: {other:?}"),
        };
        let dot = Some(PathBuf::from("."));
        assert_eq!(
            parse(&["orch", "opencode", "install"]),
            (None, false, false)
        );
        assert_eq!(
            parse(&["orch", "opencode", "install", "--project", "--dry-run"]),
            (dot, false, true)
        );
        assert_eq!(
            parse(&["orch", "opencode", "install", "--project", "/p"]),
            (Some(PathBuf::from("/p")), false, false)
        );
        assert_eq!(
            parse(&["orch", "opencode", "install", "--global"]),
            (None, true, false)
        );
    }
}
