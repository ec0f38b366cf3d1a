//! `orch`: the command line. Parses, calls the backend through `orch::api::Orchestrator`,
//! prints. Errors are printed once, here.
#![forbid(unsafe_code)]

mod args;
mod exit;
mod print;

use std::process::ExitCode;

use anyhow::Context;
use clap::{CommandFactory, Parser};
use orch::api::{Local, Orchestrator};
use orch::paths::{Environment, Paths};
use orch::wire::{Format, ModelsQuery, ResolveQuery, Scope};

use args::{Cli, Command, FormatArg, InstallArgs, OpencodeCommand, ScopeArg, TuiArgs};

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
    let paths = Paths::resolve(&env, project);
    if let Command::Tui(a) = &cli.command {
        return tui(a, paths, env);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let backend = match &cli.opencode_url {
        Some(url) => rt.block_on(Local::load_live(url, &paths, &env))?,
        None => Local::load(&paths, &env)?,
    };
    rt.block_on(dispatch(&backend, &cli))
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
        Command::Completions { .. } | Command::Opencode(_) | Command::Tui(_) => {}
    }
    Ok(exit::OK)
}

/// `orch tui`: the terminal UI over [`tui_backend`], logging to a file (never to the
/// terminal it draws on). The terminal is restored on exit, error and panic.
fn tui(args: &TuiArgs, paths: Paths, env: Environment) -> anyhow::Result<u8> {
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
        let backend = std::sync::Arc::new(tui_backend(paths, env)?);
        orch_tui::run_terminal(backend)
            .await
            .context("the terminal UI failed")
    })?;
    Ok(exit::OK)
}

/// What the TUI talks to, chosen in this one place: today the worker manager in this
/// process (it starts OpenCode only when a probe or a respawn needs one); with the backend
/// socket, its client.
fn tui_backend(
    paths: Paths,
    env: Environment,
) -> anyhow::Result<orch_tui::InProcess<orch::workers::Manager>> {
    let config = orch::workers::ManagerConfig::from_env(paths, env);
    Ok(orch_tui::InProcess::new(orch::workers::Manager::start(
        config,
    )?))
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
