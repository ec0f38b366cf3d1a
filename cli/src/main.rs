//! `orch`: the command line. Parses, calls the backend through `orch::api::Orchestrator`
//! (over its Unix socket, starting it on demand), prints. Errors are printed once, here.
#![forbid(unsafe_code)]

mod args;
mod exit;
mod print;
mod wait;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{CommandFactory, Parser};
use orch::api::{InProcess, Orchestrator};
use orch::client::{Launch, SocketClient, connect_or_start};
use orch::paths::{Environment, Paths};
use orch::resolve::Policy;
use orch::wire::{CancelOutcome, Format, ModelsQuery, ResolveQuery, Scope, TaskStatus, TasksQuery};
use orch::workers::{RunRequest, SetModelRequest};

use args::{
    Cli, Command, FormatArg, InstallArgs, OpencodeCommand, PolicyArg, ScopeArg, StatusArg, TuiArgs,
};

/// How long a client waits for a backend it started.
const START_WAIT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("orch: {e:#}");
            if let Some(api) = e.downcast_ref::<orch::Error>()
                && let Some(first) = api.suggestions.first()
                && !api.message.contains(first.as_str())
            {
                eprintln!("suggestions: {}", api.suggestions.join(", "));
            }
            ExitCode::from(exit::FAILURE)
        }
    }
}

fn format(cli: &Cli) -> Format {
    match cli.format {
        Some(FormatArg::Json) => Format::Json,
        Some(FormatArg::Markdown) => Format::Markdown,
        Some(FormatArg::Table) | None => Format::Table,
    }
}

fn policy(p: PolicyArg) -> Policy {
    match p {
        PolicyArg::Dynamic => Policy::Dynamic,
        PolicyArg::Sticky => Policy::Sticky,
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    if let Command::Completions { shell } = &cli.command {
        let mut out = Vec::new();
        clap_complete::generate(*shell, &mut Cli::command(), "orch", &mut out);
        print::bytes(&out)?;
        return Ok(exit::OK);
    }
    let env = Environment::capture();
    let project = match &cli.project {
        Some(p) => p.clone(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    if let Command::Opencode(o) = &cli.command {
        let OpencodeCommand::Install(a) = &o.command;
        let project = std::path::absolute(&project)
            .with_context(|| format!("cannot resolve {}", project.display()))?;
        return install(&cli, a, &Paths::resolve(&env, project));
    }
    let mut paths = Paths::resolve(&env, &project);
    if let Command::Serve = &cli.command {
        // The backend keeps the candidates clients use, so `orch status` shows a mismatch.
        let listen = cli
            .socket
            .clone()
            .unwrap_or_else(|| paths.socket().to_path_buf());
        return serve(&paths, &env, listen);
    }
    if let Some(socket) = &cli.socket {
        paths.socket_candidates = vec![socket.clone()];
    }
    if let Command::Mcp = &cli.command {
        return mcp(&paths, &project);
    }
    if let Command::Tui(a) = &cli.command {
        return tui(a, &paths, &env, &project);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        match &cli.opencode_url {
            Some(url) => {
                let backend = InProcess::load_live(url, &paths, &env).await?;
                dispatch(&backend, &cli).await
            }
            None => {
                let (stream, socket) = connect_or_start(&paths, &launch(&project)?).await?;
                let backend = SocketClient::connect(stream, &socket).await?;
                let code = dispatch(&backend, &cli).await;
                backend.close().await;
                code
            }
        }
    })
}

/// Starting `orch serve` for this project with this very executable.
fn launch(project: &std::path::Path) -> anyhow::Result<Launch> {
    let exe = std::env::current_exe().context("cannot find the orch executable")?;
    let project = std::path::absolute(project)
        .with_context(|| format!("cannot resolve {}", project.display()))?;
    Ok(Launch {
        exe,
        args: vec!["-C".into(), project.display().to_string()],
        wait: START_WAIT,
    })
}

/// `orch serve`: logs to stderr (the log file when a client started it), stops on
/// SIGINT/SIGTERM.
fn serve(paths: &Paths, env: &Environment, socket: PathBuf) -> anyhow::Result<u8> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ORCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rmcp=warn")),
        )
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let shutdown = orch::mcp::shutdown_signal().context("cannot watch for signals")?;
        // Lock first so a second backend fails fast, before loading anything; listen only
        // once the service is ready, so no client connects to a backend that then fails.
        let lock = orch::mcp::SocketLock::acquire(&socket)?;
        let service = orch::mcp::default_service(paths, env)?;
        let listener = lock.listen()?;
        let info = orch::mcp::ServeInfo {
            paths: paths.clone(),
            socket: Some(socket),
            log_file: orch::mcp::log_file(paths),
        };
        let backend = Arc::new(orch::mcp::Backend::new(
            Arc::new(service),
            info,
            orch::tasks::Limits::default(),
        ));
        orch::mcp::socket::serve(backend, listener, shutdown).await;
        Ok(exit::OK)
    })
}

/// `orch mcp`: stdout carries the protocol only; messages go to stderr.
fn mcp(paths: &Paths, project: &std::path::Path) -> anyhow::Result<u8> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = rt.block_on(async {
        let (stream, _) = connect_or_start(paths, &launch(project)?).await?;
        orch::client::bridge(stream, tokio::io::stdin(), tokio::io::stdout())
            .await
            .context("the connection to the backend failed")
    });
    // Reading stdin blocks a thread that would keep the runtime from shutting down.
    rt.shutdown_background();
    result.map(|()| exit::OK)
}

async fn dispatch(backend: &impl Orchestrator, cli: &Cli) -> anyhow::Result<u8> {
    let fmt = format(cli);
    match &cli.command {
        Command::Models(a) => {
            let q = ModelsQuery {
                scope: match a.scope {
                    ScopeArg::Configured => Scope::Configured,
                    ScopeArg::All => Scope::All,
                },
                providers: a.providers.clone(),
                query: a.query.clone(),
                vision_only: a.vision,
                limit: a.limit,
            };
            let view = backend.models(&q).await?;
            print::view(&view, fmt, orch::render::models)?;
        }
        Command::Resolve(a) => {
            let q = ResolveQuery {
                reference: a.reference.clone(),
                worker: a.worker.clone(),
                policy: Default::default(),
            };
            let view = backend.resolve(&q).await?;
            print::view(&view, fmt, orch::render::resolve)?;
        }
        Command::Profiles => {
            let view = backend.profiles().await?;
            print::view(&view, fmt, orch::render::profiles)?;
        }
        Command::Workers => {
            let view = backend.workers().await?;
            print::view(&view, fmt, orch::render::workers)?;
        }
        Command::WorkerModelSet(a) => {
            let row = backend
                .set_model(&SetModelRequest {
                    worker: a.worker.clone(),
                    model: a.model.clone(),
                    policy: policy(a.policy),
                    respawn: a.respawn,
                })
                .await?;
            print::view(&row, fmt, orch::render::worker)?;
        }
        Command::WorkerModelReset { worker } => {
            let row = backend.reset_model(worker).await?;
            print::view(&row, fmt, orch::render::worker)?;
        }
        Command::Run(a) => {
            let req = RunRequest {
                worker: a.worker.clone(),
                task: a.task.clone(),
                model: a.model.clone(),
                policy: a.policy.map(policy),
                force_new: a.force_new,
                auto_spawn: true,
                attachments: Vec::new(),
                timeout: a.timeout.map(Duration::from_secs),
            };
            let started = backend.run(&req).await?;
            if a.no_wait {
                print::view(&started, fmt, orch::render::started)?;
                return Ok(exit::OK);
            }
            let Some(done) = wait::for_task(backend, &started).await? else {
                return Ok(exit::FAILURE);
            };
            print::view(&done, fmt, orch::render::task)?;
            if done.into_result().is_err() {
                return Ok(exit::FAILURE);
            }
        }
        Command::Tasks(a) => {
            let q = TasksQuery {
                status: a
                    .status
                    .iter()
                    .map(|s| match s {
                        StatusArg::Queued => TaskStatus::Queued,
                        StatusArg::Running => TaskStatus::Running,
                        StatusArg::Succeeded => TaskStatus::Succeeded,
                        StatusArg::Failed => TaskStatus::Failed,
                        StatusArg::Cancelled => TaskStatus::Cancelled,
                    })
                    .collect(),
                limit: Some(a.limit.unwrap_or(50)),
            };
            let view = backend.tasks(&q).await?;
            print::view(&view, fmt, orch::render::tasks)?;
        }
        Command::Cancel { ids } => {
            let view = backend.cancel(ids).await?;
            print::view(&view, fmt, orch::render::cancelled)?;
            if view
                .results
                .iter()
                .any(|r| r.outcome == CancelOutcome::NotFound)
            {
                return Ok(exit::FAILURE);
            }
        }
        Command::Status => {
            let view = backend.status().await?;
            print::view(&view, fmt, orch::render::status)?;
        }
        Command::Serve
        | Command::Mcp
        | Command::Completions { .. }
        | Command::Opencode(_)
        | Command::Tui(_) => {}
    }
    Ok(exit::OK)
}

/// `orch tui`: the terminal UI, a client of the backend like every other command (started
/// on demand), logging to a file (never to the terminal it draws on). The terminal is
/// restored on exit, error and panic.
fn tui(
    args: &TuiArgs,
    paths: &Paths,
    env: &Environment,
    project: &std::path::Path,
) -> anyhow::Result<u8> {
    let log = args
        .log
        .clone()
        .unwrap_or_else(|| paths.state_dir.join("tui.log"));
    orch_tui::log_to_file(&log, env.get("ORCH_LOG"))
        .with_context(|| format!("cannot open the log file {}", log.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let (stream, socket) = connect_or_start(paths, &launch(project)?).await?;
        let client = SocketClient::connect(stream, &socket).await?;
        orch_tui::run_terminal(Arc::new(client))
            .await
            .context("the terminal UI failed")
    })?;
    Ok(exit::OK)
}

/// `orch opencode install`: a file operation, no backend.
fn install(cli: &Cli, args: &InstallArgs, paths: &Paths) -> anyhow::Result<u8> {
    if args.global && cli.project.is_some() {
        // clap only sees the conflict when both follow `install`; `-C DIR` may come first.
        let _ = Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--global installs into OpenCode's global config; it cannot be used with -C/--project",
            )
            .print();
        return Ok(exit::USAGE);
    }
    let exe = std::env::current_exe().context("cannot find the path of this orch binary")?;
    let orch_bin = std::fs::canonicalize(&exe).with_context(|| {
        format!(
            "cannot resolve the path of this orch binary {}",
            exe.display()
        )
    })?;
    let opts = orch::install::InstallOptions {
        scope: if args.global {
            orch::install::InstallScope::Global
        } else {
            orch::install::InstallScope::Project
        },
        dry_run: args.dry_run,
        orch_bin,
    };
    let report = orch::install::install(paths, &opts)?;
    print::view(&report, format(cli), |r, _| orch::install::render(r))?;
    Ok(exit::OK)
}
