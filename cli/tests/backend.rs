//! The real `orch` binary and its backend, end to end, in a scrubbed environment (HOME,
//! TMPDIR inside a temporary directory): exit codes, table and JSON output, and the
//! backend it starts on demand. Commands that need workers talk to a backend over the fake
//! worker service, served in this test process on the socket the binary looks for.
//! Every backend a test starts, it stops.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use orch::knowledge::Knowledge;
use orch::tasks::Limits;
use orch::testutil::fake_workers::FakeWorkers;
use orch::testutil::served::Served;
use orch::testutil::{Run, Sandbox, assert_no_secret, regex_escape};
use orch::wire::{ModelsView, StatusView, TaskRow, TaskStatus, TasksView};
use orch::workers::{WorkerRow, WorkersView};

const BIN: &str = env!("CARGO_BIN_EXE_orch");

/// A scrubbed home with the capture's setup (see `Sandbox::capture`).
fn home() -> Sandbox {
    Sandbox::capture(BIN)
}

/// A backend over fake workers, served by this test process on the home's socket.
struct FakeBackend {
    rt: tokio::runtime::Runtime,
    fake: FakeWorkers,
    served: Option<Served<FakeWorkers>>,
}

#[expect(clippy::expect_used, reason = "test set-up")]
fn fake_backend(home: &Sandbox) -> FakeBackend {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime for the fake backend");
    let paths = home.paths();
    let fake = FakeWorkers::new(
        Knowledge::load_local(&paths, &home.env()).expect("the capture's knowledge"),
    );
    let served =
        rt.block_on(async { Served::start(Arc::new(fake.clone()), &paths, Limits::default()) });
    FakeBackend {
        rt,
        fake,
        served: Some(served),
    }
}

impl Drop for FakeBackend {
    fn drop(&mut self) {
        if let Some(served) = self.served.take() {
            let _ = self.rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(10), served.stop()).await
            });
        }
    }
}

fn settings(home: &Sandbox) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(&regex_escape(&home.root().display().to_string()), "[ROOT]");
    // Durations vary, and so does the padding after them in a table.
    s.add_filter(r"\b(\d+ min )?\d+(\.\d)? (ms|s)\b *", "[DURATION] ");
    s
}

#[test]
fn help_usage_and_completions() {
    let h = home();
    let help = h.run(&["--help"]);
    assert_eq!(help.code, 0);
    insta::assert_snapshot!("help", help.stdout);
    for args in [
        &["nope"][..],
        &["worker-model-set", "docs"],
        &["run", "docs"],
        &["cancel"],
        &["models", "--scope", "some"],
    ] {
        let o = h.run(args);
        assert_eq!(o.code, 2, "{args:?}: {}", o.stderr);
    }
    let c = h.run(&["completions", "bash"]);
    assert_eq!(c.code, 0);
    assert!(c.stdout.contains("worker-model-set"));
    // Neither --help nor completions start a backend.
    assert!(!h.socket().exists());
}

#[test]
fn a_command_starts_the_backend_on_demand_and_a_second_serve_is_refused() {
    let h = home();
    let models: ModelsView = h.run(&["models", "--format", "json"]).json();
    assert_eq!(
        models.usable_providers,
        ["fake", "groq", "openai", "opencode"]
    );
    assert!(models.models.iter().any(|m| m.model == "fake/big-pro"));
    // It keeps running, private, and says where it is.
    let status: StatusView = h.run(&["status", "--format", "json"]).json();
    assert_eq!(
        status.socket.as_deref().map(PathBuf::from),
        Some(h.socket())
    );
    assert!(
        Path::new(&status.log_file) == h.paths().backend_state_dir().join("serve.log")
            && status.log_file.contains(".local/state/orch/projects/"),
        "{}",
        status.log_file
    );
    assert!(Path::new(&status.log_file).exists());
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(h.socket())
            .expect("the socket exists")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }
    let again: StatusView = h.run(&["status", "--format", "json"]).json();
    assert_eq!(again.pid, status.pid, "the same backend serves both");
    // A second backend on the same socket exits 1 and says why.
    let serve = h.run(&["serve"]);
    assert_eq!(serve.code, 1);
    assert!(
        serve.stderr.contains("already serving on")
            && serve.stderr.contains(&h.socket().display().to_string())
            && serve.stderr.contains(&format!("pid {}", status.pid)),
        "{}",
        serve.stderr
    );
    // The backend runs the worker manager: a model change needs no OpenCode process.
    let set = h.run(&["worker-model-set", "docs", "node:fast"]);
    assert_eq!(set.code, 0, "{}", set.stderr);
    assert!(set.stdout.contains("fake/fast-mini"), "{}", set.stdout);
    let workers: WorkersView = h.run(&["workers", "--format", "json"]).json();
    let docs = workers.workers.iter().find(|w| w.id == "docs");
    assert_eq!(docs.map(|w| w.model_ref.as_str()), Some("node:fast"));
    // A task needs OpenCode, which this scrubbed environment lacks: the task fails, naming
    // the fix, and the command exits 1.
    let run = h.run(&["run", "docs", "hello"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.contains("ORCH_OPENCODE_BIN"), "{}", run.stdout);
}

#[test]
fn an_unreachable_backend_names_the_socket_and_the_log() {
    let h = home();
    // A socket path too long for Unix sockets: the backend cannot listen there.
    let long = h.root().join("run").join("x".repeat(120));
    let started = Instant::now();
    let o = h.run(&["--socket", &long.display().to_string(), "workers"]);
    assert_eq!(o.code, 1);
    let err = o.stderr;
    assert!(err.contains(&long.display().to_string()), "{err}");
    assert!(err.contains("serve.log"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "it gave up in time"
    );
    let log = std::fs::read_to_string(h.paths().backend_state_dir().join("serve.log"))
        .expect("the backend's log");
    assert!(log.contains("Unix sockets allow"), "{log}");
}

#[test]
fn worker_model_set_prints_worker_ref_model_policy_and_reason() {
    let h = home();
    let b = fake_backend(&h);
    let set = h.run(&[
        "worker-model-set",
        "docs",
        "fake/vision-pro",
        "--policy",
        "sticky",
    ]);
    assert_eq!(set.code, 0, "{}", set.stderr);
    settings(&h).bind(|| insta::assert_snapshot!("worker_model_set", set.stdout));
    let row: WorkerRow = h
        .run(&[
            "worker-model-set",
            "explorer",
            "node:fast",
            "--format",
            "json",
        ])
        .json();
    assert_eq!(row.model_ref, "node:fast");
    assert_eq!(row.resolved_model.as_deref(), Some("fake/fast-mini"));
    let workers: WorkersView = h.run(&["workers", "--format", "json"]).json();
    let docs = workers.workers.iter().find(|w| w.id == "docs");
    assert_eq!(docs.map(|w| w.model_ref.as_str()), Some("fake/vision-pro"));
    let table = h.run(&["workers"]);
    settings(&h).bind(|| insta::assert_snapshot!("workers_after_set", table.stdout));
    let reset = h.run(&["worker-model-reset", "docs"]);
    assert_eq!(reset.code, 0);
    assert!(reset.stdout.contains("node:docs"), "{}", reset.stdout);
    // Unknown worker: exit 1, with suggestions.
    let bad = h.run(&["worker-model-set", "dcos", "node"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("unknown worker"), "{}", bad.stderr);
    drop(b);
}

#[test]
fn run_waits_prints_the_answer_and_tasks_and_cancel_follow() {
    let h = home();
    let b = fake_backend(&h);
    let run = h.run(&[
        "run",
        "docs",
        "Summarise the README",
        "--model",
        "node:fast",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("waiting for task t1 on docs"),
        "plain progress lines when stderr is not a terminal: {}",
        run.stderr
    );
    settings(&h).bind(|| insta::assert_snapshot!("run", run.stdout));
    let json: TaskRow = h.run(&["run", "coder", "hello", "--format", "json"]).json();
    assert_eq!(json.status, TaskStatus::Succeeded);
    assert_eq!(json.answered_by, json.resolved_model);
    b.fake.set_hold(true);
    let started = h.run(&["run", "coder", "forever", "--no-wait"]);
    assert_eq!(started.code, 0);
    assert!(started.stdout.starts_with("t3"), "{}", started.stdout);
    let tasks: TasksView = h.run(&["tasks", "--format", "json"]).json();
    assert_eq!(tasks.total, 3);
    let table = h.run(&["tasks", "--status", "succeeded"]);
    settings(&h).bind(|| insta::assert_snapshot!("tasks", table.stdout));
    let cancel = h.run(&["cancel", "t3"]);
    assert_eq!(cancel.code, 0, "{}", cancel.stderr);
    assert!(cancel.stdout.contains("cancelled"));
    let missing = h.run(&["cancel", "t99"]);
    assert_eq!(missing.code, 1);
    // A task that fails exits 1.
    let timeout = h.run(&["run", "coder", "slow", "--timeout", "1"]);
    assert_eq!(timeout.code, 1);
    assert!(timeout.stdout.contains("timed out"), "{}", timeout.stdout);
    drop(b);
}

#[test]
fn views_over_the_socket_as_tables() {
    let h = home();
    let b = fake_backend(&h);
    let resolve = h.run(&["resolve", "node:fast", "--worker", "explorer"]);
    assert_eq!(resolve.code, 0, "{}", resolve.stderr);
    settings(&h).bind(|| insta::assert_snapshot!("resolve", resolve.stdout));
    let models = h.run(&["models", "--provider", "fake"]);
    settings(&h).bind(|| insta::assert_snapshot!("models_fake", models.stdout));
    let profiles = h.run(&["profiles", "--format", "markdown"]);
    assert!(profiles.stdout.starts_with("| WORKER |"));
    let bad = h.run(&["resolve", "gpt-nonexistent-99"]);
    assert_eq!(bad.code, 1);
    drop(b);
}

/// The official MCP Python SDK over `orch mcp` (stdio): exactly the five tools, each
/// called. Needs `ORCH_PYTHON` (set by `scripts/test`); skipped with a notice otherwise.
#[test]
fn the_official_python_sdk_lists_and_calls_the_five_tools_over_orch_mcp() {
    let Some(python) = orch::testutil::real::python_bin("python_sdk_over_orch_mcp") else {
        return;
    };
    let h = home();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/mcp_client.py");
    // The same scrubbed environment the binary gets; the script hands it to `orch mcp`.
    let out = h
        .command(python)
        .arg(script)
        .arg(BIN)
        .output()
        .expect("the Python client runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "the Python client failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("ok: exactly the five tools"), "{stdout}");
    assert!(stdout.contains("ok: all checks passed"), "{stdout}");
    assert_no_secret("the Python client's output", &stdout);
    // `orch mcp` started the backend; it is still there for the next client.
    assert!(h.socket().exists());
}

/// The backend's log, at debug level, over commands that succeed and fail (a worker whose
/// OpenCode cannot start, bad references, a broken model): no key in any line.
#[test]
fn the_backend_log_holds_no_secret() {
    let mut h = home();
    // The OpenCode binary is part of the backend's key: set it for every process.
    let missing = h.root().join("no-opencode");
    h.set("ORCH_OPENCODE_BIN", &missing);
    let run = |args: &[&str]| {
        let o = h.orch(args).env("ORCH_LOG", "debug").output();
        Run::of(&format!("orch {args:?}"), o);
    };
    run(&["models", "--scope", "all", "--limit", "5"]);
    run(&["resolve", "node:vision", "--worker", "vision"]);
    run(&["resolve", "groq/nope"]);
    run(&[
        "worker-model-set",
        "docs",
        "node:fast",
        "--policy",
        "sticky",
    ]);
    run(&["worker-model-set", "docs", "nope-provider/x"]);
    run(&["run", "coder", "hello", "--timeout", "5"]);
    run(&["workers"]);
    run(&["status"]);
    let log = orch::mcp::log_file(&h.paths());
    let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    assert!(
        !text.is_empty(),
        "the backend logged nothing at debug level"
    );
    assert_no_secret("the backend log", &text);
}

/// Issue 14: a change prints before → after; a partial name says what it resolved to and
/// that it is stored as typed.
#[test]
fn worker_model_set_prints_before_and_after_and_a_partial_name_is_announced() {
    let h = home();
    let b = fake_backend(&h);
    let set = h.run(&["worker-model-set", "docs", "gpt4o"]);
    assert_eq!(set.code, 0, "{}", set.stderr);
    let out = set.stdout.clone();
    assert!(out.contains("ref       node:docs → gpt4o *"), "{out}");
    assert!(
        out.contains("resolved  fake/big-pro → openai/gpt-4o"),
        "{out}"
    );
    assert!(
        out.contains("\"gpt4o\" is a partial name: it is stored as typed"),
        "{out}"
    );
    settings(&h).bind(|| insta::assert_snapshot!("worker_model_set_partial", out));
    // Stored as typed.
    let workers: WorkersView = h.run(&["workers", "--format", "json"]).json();
    let docs = workers.workers.iter().find(|w| w.id == "docs");
    assert_eq!(docs.map(|w| w.model_ref.as_str()), Some("gpt4o"));
    // An explicit reference or a tag has no note.
    let set = h.run(&["worker-model-set", "docs", "node:fast"]);
    assert!(!set.stdout.contains("partial name"), "{}", set.stdout);
    assert!(
        set.stdout.contains("ref       gpt4o * → node:fast *"),
        "{}",
        set.stdout
    );
    let reset = h.run(&["worker-model-reset", "docs"]);
    assert_eq!(reset.code, 0, "{}", reset.stderr);
    assert!(
        reset.stdout.contains("ref       node:fast * → node:docs"),
        "{}",
        reset.stdout
    );
    drop(b);
}

#[test]
fn worker_model_set_refuses_a_model_that_does_not_fit_unless_forced() {
    let h = home();
    // The issue's example: a guard model (512-token context, no tool calls) for the
    // memory worker, whose profile allows tools.
    let guard = "groq/meta-llama/llama-prompt-guard-2-86m";
    let refused = h.run(&["worker-model-set", "memory", guard]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    for phrase in [
        "groq/meta-llama/llama-prompt-guard-2-86m does not fit the memory worker",
        "it is a moderation (guard) model, not a model for text work",
        "it cannot call tools, and the memory worker's profile allows tools",
        "its context (512 tokens)",
        "closest models that fit: groq/",
        "--force",
    ] {
        assert!(
            refused.stderr.contains(phrase),
            "{phrase:?} not in {}",
            refused.stderr
        );
    }
    // Nothing changed.
    let workers: WorkersView = h.run(&["workers", "--format", "json"]).json();
    let memory = workers.into_row("memory").expect("a memory worker");
    assert_eq!(memory.model_ref, "node");
    assert_eq!(memory.warning, None);
    // JSON errors carry the closest models that fit as suggestions.
    let json = h.run(&[
        "worker-model-set",
        "memory",
        "whisper-large-v3",
        "--format",
        "json",
    ]);
    assert_eq!(json.code, 1);
    assert!(
        json.stderr.contains("speech-to-text model")
            || json.stdout.contains("speech-to-text model"),
        "{} {}",
        json.stdout,
        json.stderr
    );
    // --force sets it; the worker row keeps a warning, in JSON and in the tables.
    let forced = h.run(&["worker-model-set", "memory", guard, "--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert!(forced.stdout.contains("warning"), "{}", forced.stdout);
    let workers: WorkersView = h.run(&["workers", "--format", "json"]).json();
    let memory = workers.into_row("memory").expect("a memory worker");
    assert_eq!(memory.model_ref, guard);
    let warning = memory
        .warning
        .expect("a forced unfit model keeps a warning");
    assert!(
        warning.starts_with("groq/meta-llama/llama-prompt-guard-2-86m does not fit the memory worker: it is a moderation (guard) model"),
        "{warning}"
    );
    let table = h.run(&["workers"]);
    assert!(
        table
            .stdout
            .contains("warning: memory: groq/meta-llama/llama-prompt-guard-2-86m does not fit"),
        "{}",
        table.stdout
    );
    // A model that fits carries no warning; reset restores the profile's model.
    let fits = h.run(&["worker-model-set", "memory", "groq/llama-3.1-8b-instant"]);
    assert_eq!(fits.code, 0, "{}", fits.stderr);
    let workers: WorkersView = h.run(&["workers", "--format", "json"]).json();
    assert_eq!(workers.into_row("memory").and_then(|w| w.warning), None);
}

#[test]
fn health_survives_in_the_state_dir_shows_in_models_and_resets() {
    let h = home();
    let state = h.paths().state_dir;
    orch::fsutil::private_dir(&state).expect("the state dir, private as orch makes it");
    std::fs::write(
        state.join("health.json"),
        r#"{"version": 1, "models": {"fake/big-pro": {"consecutive_failures": 2,
            "last_class": "rate_limited", "last_status_code": 429,
            "cooldown_until_ms": 99999999999999, "updated_at_ms": 1}}, "providers": {}}"#,
    )
    .expect("health.json is written");
    let view: orch::wire::HealthView = h.run(&["health", "--format", "json"]).json();
    assert_eq!(view.models.len(), 1);
    assert_eq!(view.models[0].state, "cooling");
    let table = h.run(&["health"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(
        table.stdout.contains("fake/big-pro") && table.stdout.contains("rate_limited 429"),
        "{}",
        table.stdout
    );
    let models = h.run(&["models", "--query", "big-pro"]);
    assert!(
        models.stdout.contains("fake/big-pro [cooling"),
        "{}",
        models.stdout
    );
    let reset = h.run(&["health", "--reset"]);
    assert_eq!(reset.code, 0, "{}", reset.stderr);
    assert!(
        reset.stdout.contains("every model is healthy"),
        "{}",
        reset.stdout
    );
    let after: orch::wire::HealthView = h.run(&["health", "--format", "json"]).json();
    assert!(after.models.is_empty());
}
