//! `orch`: the command line. Parses, calls the backend through `orch::api::Orchestrator`
//! (over its Unix socket, starting it on demand), prints. Errors are printed once, here.
#![forbid(unsafe_code)]

mod args;
mod commands;
mod complete;
mod convert;
mod exit;
mod failure;
mod print;
mod shortcut;
mod wait;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{CommandFactory, Parser};
use orch::api::InProcess;
use orch::client::{Launch, SocketClient, Stopped, connect_or_start};
use orch::paths::{Environment, Paths};

use args::{Cli, Command, InstallArgs, OpencodeArgs, OpencodeCommand, TuiArgs};
use commands::Ask;

/// How long a client waits for a backend it started.
const START_WAIT: Duration = Duration::from_secs(10);

fn main() -> ExitCode {
    // `orch __guard PROGRAM ARGS...`: the worker guard the backend runs each OpenCode
    // under (internal, not a command for people; its arguments are not orch's).
    let mut argv = std::env::args_os().skip(1);
    let first = argv.next();
    // `orch __launch ARGS...`: starts `orch ARGS...` (the backend) detached from the
    // client that runs it, prints its pid and exits (internal, see `orch::client::detach`).
    if first
        .as_ref()
        .is_some_and(|a| a == orch::client::detach::SUBCOMMAND)
    {
        let args: Vec<_> = argv.collect();
        let code = orch::client::detach::run(&args);
        return ExitCode::from(u8::try_from(code).unwrap_or(exit::FAILURE));
    }
    if first.is_some_and(|a| a == orch::workers::guard::SUBCOMMAND) {
        let Some(program) = argv.next() else {
            eprintln!("orch: {} needs a program", orch::workers::guard::SUBCOMMAND);
            return ExitCode::from(exit::USAGE);
        };
        let args: Vec<_> = argv.collect();
        let code = orch::workers::guard::run(&program, &args);
        return ExitCode::from(u8::try_from(code).unwrap_or(exit::FAILURE));
    }
    // `COMPLETE=bash orch` prints the dynamic completion script; the shell then calls orch
    // back with COMPLETE set to complete a word. Nothing else runs then.
    clap_complete::CompleteEnv::with_factory(Cli::command).complete();
    // `orch opencode shortcut NAME ARGS...`: what OpenCode's `/orchestrator.NAME` runs.
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    if let Some((shortcut, argv)) = shortcut::rewrite(&args) {
        let cli = match Cli::try_parse_from(argv) {
            Ok(cli) => cli,
            // `--format json` asked for the JSON error object; else the slash syntax.
            Err(e) if failure::wants_json(args) => return ExitCode::from(failure::usage(e, true)),
            Err(e) => return ExitCode::from(shortcut::usage(shortcut, &e)),
        };
        return finish(&cli);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            return ExitCode::from(failure::usage(e, failure::wants_json(std::env::args_os())));
        }
    };
    finish(&cli)
}

/// Runs a parsed command line and prints its failure, if any; its exit code.
fn finish(cli: &Cli) -> ExitCode {
    if let Err(e) = cli.check_format() {
        return ExitCode::from(failure::usage(e, false));
    }
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let code = failure::command(&e, cli.output_format());
            if e.downcast_ref::<Usage>().is_some() {
                return ExitCode::from(exit::USAGE);
            }
            ExitCode::from(code)
        }
    }
}

/// Inside a worker that may not delegate (`ORCH_DELEGATION_DEPTH=0`, set by orch on the
/// worker's OpenCode and inherited by its tools), the commands that start tasks or change
/// workers are refused, as `orch mcp` refuses `task_start` there: a worker's bash tool
/// cannot hand tasks back to orch by accident.
fn refuse_delegation(cli: &Cli) -> anyhow::Result<()> {
    let starts_tasks = matches!(
        cli.command,
        Command::Run(_)
            | Command::WorkerModelSet(_)
            | Command::WorkerModelReset { .. }
            | Command::Warm { .. }
    );
    if starts_tasks && orch::workers::isolation::depth_in(&Environment::capture()) == Some(0) {
        anyhow::bail!(
            "this command runs inside an orch worker, which may not start tasks of its own ({}=0); give its profile \"delegate\": true in orchestrator.json to allow it",
            orch::workers::isolation::DELEGATION_DEPTH_VAR
        );
    }
    Ok(())
}

fn run(cli: &Cli) -> anyhow::Result<u8> {
    refuse_delegation(cli)?;
    match &cli.command {
        Command::Completions { shell } => completions(*shell),
        Command::Opencode(o) => opencode(cli, o),
        Command::Serve => serve(cli),
        Command::Stop { all: false } => stop(cli).map(|_| exit::OK),
        Command::Stop { all: true } => stop_all(cli),
        Command::Restart => {
            stop(cli)?;
            ask(cli, &commands::Status)
        }
        Command::Mcp => mcp(cli),
        Command::Tui(a) => tui(cli, a),
        Command::Models(a) => ask(cli, a),
        Command::Resolve(a) => ask(cli, a),
        Command::Profiles => ask(cli, &commands::Profiles),
        Command::Workers => ask(cli, &commands::Workers),
        Command::WorkerModelSet(a) => ask(cli, a),
        Command::WorkerModelReset { worker } => ask(cli, &commands::Reset(worker)),
        Command::Run(a) => ask(cli, a),
        Command::Warm { workers } => ask(cli, &commands::Warm(workers)),
        Command::Tasks(a) => ask(cli, a),
        Command::Usage(a) => ask(cli, a),
        Command::Cancel { ids } => ask(cli, &commands::Cancel(ids)),
        Command::Status => ask(cli, &commands::Status),
        Command::Health { reset } => ask(cli, &commands::Health { reset: *reset }),
    }
}

/// The runtime a command needs: one thread for a client, several for the backend and
/// the TUI.
enum Threads {
    One,
    Many(Option<usize>),
}

/// The one place a tokio runtime is built.
fn runtime(threads: Threads) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = match threads {
        Threads::One => tokio::runtime::Builder::new_current_thread(),
        Threads::Many(workers) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            if let Some(n) = workers {
                b.worker_threads(n);
            }
            b
        }
    };
    builder
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// A command line clap accepts but that cannot be used (a `-C` directory that does not
/// exist): exits with [`exit::USAGE`].
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// Where a command runs: the environment, the project directory (`-C`, else the current
/// one), and the paths they give.
struct Place {
    env: Environment,
    project: PathBuf,
    paths: Paths,
}

impl Place {
    fn of(cli: &Cli) -> anyhow::Result<Self> {
        let env = Environment::capture();
        let project = match &cli.project {
            Some(p) => match std::fs::canonicalize(p) {
                Ok(dir) if dir.is_dir() => dir,
                Ok(_) => {
                    return Err(
                        Usage(format!("-C/--project {} is not a directory", p.display())).into(),
                    );
                }
                Err(e) => {
                    return Err(
                        Usage(format!("-C/--project {} cannot be used: {e}", p.display())).into(),
                    );
                }
            },
            None => std::env::current_dir().context("cannot read the current directory")?,
        };
        let paths = Paths::resolve(&env, &project);
        Ok(Self {
            env,
            project,
            paths,
        })
    }

    /// What a client sends the backend, which refuses it when it serves another project
    /// or environment (`--socket`, `ORCH_SOCKET`).
    fn context(&self) -> orch::context::Context {
        orch::context::Context::of(&self.paths, &self.env)
    }

    /// The paths of a client: `--socket` is the only socket it tries.
    fn for_client(mut self, cli: &Cli) -> Self {
        if let Some(socket) = &cli.socket {
            self.paths.socket_candidates = vec![socket.clone()];
        }
        self
    }
}

/// `orch completions SHELL`: no backend, no files.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "orch", &mut out);
    print::bytes(&out)?;
    Ok(exit::OK)
}

/// A command the backend answers: over its socket (starting it on demand), or in-process
/// from a running OpenCode with `--opencode-url`.
fn ask(cli: &Cli, command: &impl Ask) -> anyhow::Result<u8> {
    let place = Place::of(cli)?.for_client(cli);
    let fmt = cli.output_format();
    runtime(Threads::One)?.block_on(async {
        match &cli.opencode_url {
            Some(url) => {
                let backend = InProcess::load_live(url, &place.paths, &place.env).await?;
                command.ask(&backend, fmt).await
            }
            None => {
                warn_skipped_sockets(&place.paths);
                let (stream, socket) =
                    connect_or_start(&place.paths, &launch(&place.project)?).await?;
                let backend = SocketClient::connect_in(stream, &socket, &place.context()).await?;
                let code = command.ask(&backend, fmt).await;
                backend.close().await;
                code
            }
        }
    })
}

/// Says on stderr which socket candidates a client skips as unsafe (another user may have
/// planted them); nothing when the only candidate is unsafe, as connecting then fails
/// with the reason.
fn warn_skipped_sockets(paths: &Paths) {
    if paths.socket_candidates.len() < 2 {
        return;
    }
    for skipped in orch::client::skipped_sockets(paths) {
        eprintln!("orch: warning: skipping this socket path: {skipped}");
    }
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
/// SIGINT/SIGTERM. The backend keeps the socket candidates clients use, so `orch status`
/// shows a mismatch with `--socket`.
fn serve(cli: &Cli) -> anyhow::Result<u8> {
    // A session of its own, first thing: nothing that ends its client's session or
    // process group reaches it (a no-op when a shell's job control made it a group leader).
    let detached = orch::client::detach::leave_session();
    let Place { env, paths, .. } = Place::of(cli)?;
    // Every log line passes the backend's redactor, which learns the secrets once the
    // service loads them (and worker passwords as they are made).
    let redactor = orch::redact::Redactor::new();
    let log_redactor = redactor.clone();
    tracing_subscriber::fmt()
        .with_writer(move || {
            orch::redact::RedactingWriter::new(log_redactor.clone(), std::io::stderr())
        })
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ORCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rmcp=warn")),
        )
        .init();
    orch::client::detach::log_start(detached);
    // The first safe candidate, where clients look first and start a backend themselves.
    let socket = match &cli.socket {
        Some(socket) => socket.clone(),
        None => orch::mcp::trust::listen_path(&paths.socket_candidates)?,
    };
    let idle_exit = orch::mcp::socket::idle_exit(&env).map_err(anyhow::Error::msg)?;
    runtime(Threads::Many(None))?.block_on(async {
        let shutdown = orch::mcp::shutdown_signal().context("cannot watch for signals")?;
        // Lock first so a second backend fails fast, before loading anything; listen only
        // once the service is ready, so no client connects to a backend that then fails.
        let lock = orch::mcp::SocketLock::acquire(&socket)?;
        // Each worker runs under this very binary's guard (`orch __guard`).
        let guard = std::env::current_exe().ok();
        let service =
            orch::mcp::default_service(&paths, &env, guard, &redactor, Some(socket.clone()))?;
        let listener = lock.listen()?;
        let info = orch::mcp::ServeInfo {
            paths: paths.clone(),
            socket: Some(socket),
            log_file: orch::mcp::log_file(&paths),
            context: Some(orch::context::Context::of(&paths, &env)),
        };
        let backend = Arc::new(orch::mcp::Backend::new(
            Arc::new(service),
            info,
            orch::tasks::Limits::default(),
        ));
        orch::mcp::socket::serve_until_idle(backend, listener, shutdown, idle_exit).await;
        Ok(exit::OK)
    })
}

/// How long `orch stop` waits for the backend to finish stopping its workers before it
/// kills it (the workers' guards then end them and what they started).
const STOP_WAIT: Duration = Duration::from_secs(30);

/// `orch stop`: the backend on this user's socket stops (running tasks cancelled, workers
/// and everything they started ended, socket removed); see [`orch::client::stop_backend`].
/// Returns the pid it stopped, `None` when no backend was running.
fn stop(cli: &Cli) -> anyhow::Result<Option<u32>> {
    let place = Place::of(cli)?.for_client(cli);
    let stopped =
        runtime(Threads::One)?.block_on(orch::client::stop_backend(&place.paths, STOP_WAIT))?;
    match stopped {
        Stopped::NotRunning { socket } => {
            print::line(&format!(
                "no orch backend is running (nothing at {})",
                socket.display()
            ))?;
            Ok(None)
        }
        Stopped::Stopped { pid, killed } => {
            if killed {
                print::line(&format!(
                    "the backend (pid {pid}) did not stop within {} s; killed it",
                    STOP_WAIT.as_secs()
                ))?;
            }
            print::line(&format!("stopped the orch backend (pid {pid})"))?;
            Ok(Some(pid))
        }
    }
}

/// `orch stop --all`: every backend of this user stops, as `orch stop` stops one; exit 1
/// when one could not be stopped.
fn stop_all(cli: &Cli) -> anyhow::Result<u8> {
    let place = Place::of(cli)?.for_client(cli);
    let results = runtime(Threads::One)?.block_on(orch::client::stop_all(&place.paths, STOP_WAIT));
    let mut code = exit::OK;
    let mut stopped = 0;
    for (socket, result) in results {
        match result {
            Ok(Stopped::NotRunning { .. }) => {}
            Ok(Stopped::Stopped { pid, killed }) => {
                stopped += 1;
                let how = if killed { "killed" } else { "stopped" };
                print::line(&format!(
                    "{how} the orch backend (pid {pid}) on {}",
                    socket.display()
                ))?;
            }
            Err(e) => {
                code = exit::FAILURE;
                eprintln!("orch: cannot stop the backend on {}: {e}", socket.display());
            }
        }
    }
    if stopped == 0 && code == exit::OK {
        print::line("no orch backend is running")?;
    }
    Ok(code)
}

/// `orch mcp`: stdout carries the protocol only; messages go to stderr. The bridge
/// survives the backend (see `orch::client::bridge_reconnecting`).
fn mcp(cli: &Cli) -> anyhow::Result<u8> {
    let place = Place::of(cli)?.for_client(cli);
    let rt = runtime(Threads::One)?;
    let result = rt.block_on(async {
        warn_skipped_sockets(&place.paths);
        let start = orch::client::StartOnDemand {
            paths: place.paths.clone(),
            launch: launch(&place.project)?,
        };
        let (stream, _) = connect_or_start(&start.paths, &start.launch).await?;
        // A worker's OpenCode runs this with the depth orch gave it (none for the user's).
        let depth = orch::workers::isolation::depth_in(&place.env);
        let context = Some((&place.paths, &place.env));
        // It outlives the backend: a dropped connection is reconnected on the next request.
        orch::client::bridge_reconnecting(
            stream,
            &start,
            tokio::io::stdin(),
            tokio::io::stdout(),
            depth,
            context,
        )
        .await
        .context("the connection to the backend failed")
    });
    // Reading stdin blocks a thread that would keep the runtime from shutting down.
    rt.shutdown_background();
    result.map(|()| exit::OK)
}

/// `orch tui`: the terminal UI, a client of the backend like every other command (started
/// on demand), logging to a file (never to the terminal it draws on). The terminal is
/// restored on exit, error and panic.
fn tui(cli: &Cli, args: &TuiArgs) -> anyhow::Result<u8> {
    // Without a terminal the TUI cannot draw: say so before touching the terminal (no
    // escape codes left behind) or starting a backend.
    let missing: Vec<&str> = [
        ("stdin", std::io::stdin().is_terminal()),
        ("stdout", std::io::stdout().is_terminal()),
    ]
    .into_iter()
    .filter_map(|(name, tty)| (!tty).then_some(name))
    .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "the terminal UI needs a terminal, but its {} {} not one; run it in a terminal, or use the commands (orch workers, orch worker-model-set, orch --format json ...) in scripts",
            missing.join(" and "),
            if missing.len() > 1 { "are" } else { "is" }
        );
    }
    let Place {
        env,
        project,
        paths,
    } = Place::of(cli)?.for_client(cli);
    let log = args
        .log
        .clone()
        .unwrap_or_else(|| paths.state_dir.join("tui.log"));
    let redactor = orch::redact::Redactor::new();
    redactor.learn_client(&paths, &env);
    orch_tui::log_to_file(&log, env.get("ORCH_LOG"), redactor)
        .with_context(|| format!("cannot open the log file {}", log.display()))?;
    runtime(Threads::Many(Some(2)))?.block_on(async {
        let launch = launch(&project)?;
        let (stream, socket) = connect_or_start(&paths, &launch).await?;
        let context = orch::context::Context::of(&paths, &env);
        let client = SocketClient::connect_in(stream, &socket, &context).await?;
        // After the backend is lost (a restart, `orch stop`), the TUI's next call dials
        // again, starting a backend as it did at first.
        let dial = move || {
            let (paths, launch, context) = (paths.clone(), launch.clone(), context.clone());
            async move {
                let (stream, socket) = connect_or_start(&paths, &launch).await?;
                SocketClient::connect_in(stream, &socket, &context).await
            }
        };
        orch_tui::run_terminal(Arc::new(orch_tui::redial::Redial::new(client, dial)))
            .await
            .context("the terminal UI failed")
    })?;
    Ok(exit::OK)
}

/// `orch opencode ...`: the install, in the project given with `-C` (made absolute, as
/// the files it writes name it) or the current directory.
fn opencode(cli: &Cli, args: &OpencodeArgs) -> anyhow::Result<u8> {
    let OpencodeCommand::Install(a) = &args.command;
    let Place { env, project, .. } = Place::of(cli)?;
    let project = std::path::absolute(&project)
        .with_context(|| format!("cannot resolve {}", project.display()))?;
    install(cli, a, &Paths::resolve(&env, project))
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
    print::view(&report, cli.output_format(), orch::install::render)?;
    Ok(exit::OK)
}
