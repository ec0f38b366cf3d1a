//! End to end against the real OpenCode binary (`ORCH_OPENCODE_BIN`, installed by
//! `scripts/test`) and a fake OpenAI-compatible LLM on loopback. Without the variable each
//! test prints that it was skipped; with `ORCH_REQUIRE_REAL=1` a missing binary fails.
//! The tests take turns: each OpenCode needs about 300 MiB and two cores are few.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use orch::paths::Environment;
use orch::resolve::Policy;
use orch::sources::live::LiveSource;
use orch::sources::local::LocalSource;
use orch::sources::{ProviderSet, ProviderSource};
use orch::testutil::fake_llm::FakeLlm;
use orch::testutil::real::{RealProject, opencode_bin};
use orch::testutil::{
    Poll, assert_no_secret, fixture, kill_during, run_task, set_model, task, task_error,
    wait_until, write_orchestrator_json,
};
use orch::workers::spawn::{OsSpawner, SpawnSpec, Spawner, pid_alive};
use orch::workers::{CancellationToken, Manager, ManagerConfig, WorkerService, WorkerStatus};

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `opencode serve` on a free loopback port in the project, as the manager starts it.
fn serve_spec(
    worker: &str,
    bin: &Path,
    project: &RealProject,
    env: &Environment,
    ready_timeout: Duration,
) -> SpawnSpec {
    SpawnSpec {
        worker: worker.into(),
        program: bin.to_path_buf(),
        args: ["serve", "--hostname", "127.0.0.1", "--port", "0"]
            .map(str::to_owned)
            .to_vec(),
        dir: project.paths.project_dir.clone(),
        env: env
            .vars()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        ready_timeout,
        die_with_parent: true,
        redact: orch::redact::Redactor::new(),
        guard: None,
    }
}

/// What a real `opencode serve` in `project` (as `worker`, with the capture keys
/// redacted) reports, and what orch reads from the same files: (live, local).
#[expect(clippy::expect_used, reason = "test helper")]
async fn live_and_local(
    worker: &str,
    bin: &Path,
    project: &RealProject,
    env: Environment,
) -> (ProviderSet, ProviderSet) {
    let spec = SpawnSpec {
        redact: orch::redact::Redactor::from_secrets(["gsk-test-env", "sk-test-123"]),
        ..serve_spec(worker, bin, project, &env, Duration::from_secs(90))
    };
    let server = OsSpawner.spawn(spec).await.expect("OpenCode starts");
    let live = LiveSource::new(server.url())
        .expect("a live source")
        .load()
        .await;
    server.stop(Duration::from_secs(5)).await;
    let live = live.expect("OpenCode answers");
    let local = LocalSource::new(project.paths.clone(), env)
        .load_now()
        .expect("the local source reads the files");
    (live, local)
}

/// Where most tests here start, once it is their turn (see [`start`]).
struct Start {
    bin: PathBuf,
    llm: FakeLlm,
    project: RealProject,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// The OpenCode binary, a fake LLM and a project on it, once it is this test's turn;
/// `None` (the test says it is skipped) without the binary.
#[expect(clippy::expect_used, reason = "test set-up")]
async fn start(test: &str) -> Option<Start> {
    let bin = opencode_bin(test)?;
    let turn = TURN.lock().await;
    let llm = FakeLlm::start().await.expect("the fake LLM starts");
    let project = RealProject::new(&bin, &llm.base_url(), serde_json::json!({}));
    Some(Start {
        bin,
        llm,
        project,
        _turn: turn,
    })
}

async fn pid_of(m: &Manager, worker: &str) -> Option<u32> {
    m.workers().await.into_row(worker).and_then(|w| w.pid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_opencode_model_selection_set_reset_and_faults() {
    const TEST: &str = "real_opencode_model_selection_set_reset_and_faults";
    let Some(run) = start(TEST).await else { return };
    let Start { llm, project, .. } = run;
    let config = ManagerConfig::from_env(project.paths.clone(), project.env.clone());
    let m = Manager::start(config).expect("the manager starts");

    // node:fast with small_model set: the task reaches the small model.
    let out = run_task(&m, task("explorer", "TASK-A list the files")).await;
    assert_eq!(out.resolution.resolved_model, "fake/fast-mini");
    assert_eq!(out.answered_by.as_deref(), Some("fake/fast-mini"));
    assert_eq!(out.output.trim(), "echo from fast-mini");
    assert_eq!(llm.models_for("TASK-A"), ["fast-mini"]);
    let pid = pid_of(&m, "explorer").await.expect("the worker has a pid");

    // A dynamic set reaches the next task on the same process.
    m.set_model(set_model("explorer", "fake/big-pro", Policy::Dynamic))
        .await
        .expect("the model is set");
    let out = run_task(&m, task("explorer", "TASK-B again")).await;
    assert_eq!(out.answered_by.as_deref(), Some("fake/big-pro"));
    assert_eq!(llm.models_for("TASK-B"), ["big-pro"]);
    assert_eq!(
        pid_of(&m, "explorer").await,
        Some(pid),
        "a dynamic change must not respawn"
    );

    // Reset goes back to the profile's tag.
    m.reset_model("explorer").await.expect("the model is reset");
    let out = run_task(&m, task("explorer", "TASK-C once more")).await;
    assert_eq!(out.answered_by.as_deref(), Some("fake/fast-mini"));
    assert_eq!(llm.models_for("TASK-C"), ["fast-mini"]);
    assert_eq!(pid_of(&m, "explorer").await, Some(pid));

    // A vision worker with no usable vision model fails clearly, before anything starts.
    let err = task_error(&m, task("vision", "TASK-V describe")).await;
    assert!(
        err.message.contains("image input") && err.message.contains("vision"),
        "{}",
        err.message
    );
    assert_eq!(pid_of(&m, "vision").await, None);
    assert!(llm.models_for("TASK-V").is_empty());

    // The worker's OpenCode killed mid-task: the task fails fast, naming the worker and
    // the exit; the worker is marked failed; the next task respawns it.
    llm.set_delay(Duration::from_secs(60));
    let m = Arc::new(m);
    let runner = Arc::clone(&m);
    let handle = tokio::spawn(async move {
        runner
            .run(task("coder", "TASK-K long work"), CancellationToken::new())
            .await
    });
    let poll = Poll::within(Duration::from_secs(90)).every(Duration::from_millis(50));
    wait_until(poll, async || !llm.models_for("TASK-K").is_empty()).await;
    assert_eq!(llm.models_for("TASK-K"), ["big-pro"]);
    let coder_pid = pid_of(&m, "coder").await.expect("the coder has a pid");
    let (err, took) = kill_during(coder_pid, handle).await;
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        err.message.contains("worker coder") && err.message.contains("SIGKILL"),
        "{}",
        err.message
    );
    let row = m.workers().await.into_row("coder");
    assert_eq!(row.map(|r| r.status), Some(WorkerStatus::Failed));
    llm.set_delay(Duration::ZERO);
    let out = run_task(&*m, task("coder", "TASK-R after the crash")).await;
    assert_eq!(out.answered_by.as_deref(), Some("fake/big-pro"));
    let new_pid = pid_of(&m, "coder").await.expect("the worker has a new pid");
    assert_ne!(new_pid, coder_pid);

    // Nothing left running after shutdown.
    let pids = [pid, new_pid];
    m.shutdown().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for p in pids {
        assert!(!pid_alive(p), "OpenCode pid {p} survived the shutdown");
    }
    let log = std::fs::read_to_string(project.paths.backend_state_dir().join("workers.json"))
        .unwrap_or_default();
    assert_no_secret("registry", &log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_opencode_never_ready_and_dropped_manager_leave_nothing() {
    const TEST: &str = "real_opencode_never_ready_and_dropped_manager_leave_nothing";
    let Some(run) = start(TEST).await else { return };
    let Start { bin, project, .. } = run;
    // A ready timeout far too short for OpenCode: the error carries its output.
    let spec = serve_spec(
        "docs",
        &bin,
        &project,
        &project.env,
        Duration::from_millis(50),
    );
    let err = OsSpawner
        .spawn(spec.clone())
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("did not print") && err.contains("worker docs"),
        "{err}"
    );

    // Dropping a running process handle (the manager crashing) takes its group down.
    let mut spec = spec;
    spec.ready_timeout = Duration::from_secs(60);
    let p = OsSpawner.spawn(spec).await.expect("the process spawns");
    let pid = p.pid().unwrap_or(0);
    assert!(pid_alive(pid));
    drop(p);
    let poll = Poll::within(Duration::from_secs(10)).every(Duration::from_millis(50));
    wait_until(poll, async || !pid_alive(pid)).await;
    assert!(!pid_alive(pid), "OpenCode outlived its handle");
}

/// The local source agrees with a real OpenCode: same usable providers, same models and
/// the same source for each, on the capture's setup (project config, an openai key in
/// auth.json, GROQ_API_KEY) and on cloud credentials that OpenCode's own loaders pick up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_opencode_agrees_with_the_local_source() {
    let Some(bin) = opencode_bin("real_opencode_agrees_with_the_local_source") else {
        return;
    };
    let _turn = TURN.lock().await;
    let setups: [&[(&str, &str)]; 2] = [
        &[("GROQ_API_KEY", "gsk-test-env")],
        &[
            ("AWS_PROFILE", "x"),
            ("GOOGLE_CLOUD_PROJECT", "x"),
            ("OPENCODE_API_KEY", "x"),
        ],
    ];
    for (n, vars) in setups.iter().enumerate() {
        let project = RealProject::new(&bin, "http://127.0.0.1:9/v1", serde_json::json!({}));
        let mut env = project.env.clone();
        if n == 0 {
            std::fs::write(
                project.paths.project_dir.join("opencode.json"),
                fixture("project-opencode.json"),
            )
            .expect("the file is written");
            let data = project.paths.opencode_data_dir.clone();
            std::fs::create_dir_all(&data).expect("the directory is created");
            std::fs::write(
                data.join("auth.json"),
                r#"{"openai":{"type":"api","key":"sk-test-123"}}"#,
            )
            .expect("the file is written");
        } else {
            std::fs::write(project.paths.project_dir.join("opencode.json"), "{}")
                .expect("the file is written");
        }
        for (k, v) in *vars {
            env.set(*k, *v);
        }
        let (live, local) = live_and_local("agreement", &bin, &project, env).await;
        assert_eq!(local.usable_ids(), live.usable_ids(), "setup {vars:?}");
        for p in live.usable() {
            let ids = |set: &orch::sources::ProviderSet| {
                set.get(&p.provider.id)
                    .map(|e| {
                        e.provider
                            .models
                            .iter()
                            .map(|m| m.id.clone())
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            };
            // The bundled snapshot only knows the free `opencode` models (the capture was
            // taken without an OpenCode key); with a key OpenCode offers its paid ones too.
            if !(p.provider.id == "opencode" && n == 1) {
                assert_eq!(
                    ids(&local),
                    ids(&live),
                    "models of {} in setup {vars:?}",
                    p.provider.id
                );
            }
            assert_eq!(
                local.get(&p.provider.id).map(|e| e.access),
                Some(p.access),
                "source of {} in setup {vars:?}",
                p.provider.id
            );
        }
    }
}

/// A stand-in for `orch mcp` in plain Python (no SDK): it offers `task_start` and a tool
/// named after the `ORCH_DELEGATION_DEPTH` it was started with.
const FAKE_ORCH_MCP: &str = r#"import json, os, sys
depth = os.environ.get("ORCH_DELEGATION_DEPTH", "unset")
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if "id" not in msg:
        continue
    method = msg.get("method")
    if method == "initialize":
        result = {"protocolVersion": msg.get("params", {}).get("protocolVersion", "2025-06-18"),
                  "capabilities": {"tools": {}}, "serverInfo": {"name": "fake-orch", "version": "0"}}
    elif method == "tools/list":
        result = {"tools": [{"name": n, "description": "fake orch tool",
                             "inputSchema": {"type": "object", "properties": {}}}
                            for n in ("task_start", "depth_" + depth)]}
    else:
        result = {}
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}) + "\n")
    sys.stdout.flush()
"#;

/// Findings 1 and 9 with the real OpenCode: a worker's port answers 401 without orch's
/// password while orch's own requests succeed, and the worker's model is offered none of
/// orch's tools although the user's config has an `orch` entry (and another entry that
/// runs orch); a profile with `"delegate": true` keeps them, at depth 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_opencode_workers_need_a_password_and_get_no_orch_tools() {
    const TEST: &str = "real_opencode_workers_need_a_password_and_get_no_orch_tools";
    let Some(bin) = opencode_bin(TEST) else {
        return;
    };
    let Some(python) = orch::testutil::real::python_bin(TEST) else {
        return;
    };
    let _turn = TURN.lock().await;
    let llm = FakeLlm::start().await.expect("the fake LLM");
    let project = RealProject::new(&bin, &llm.base_url(), serde_json::json!({}));
    let script = project.dir.path().join("fake_orch_mcp.py");
    std::fs::write(&script, FAKE_ORCH_MCP).expect("the fake orch MCP server");
    let python = python.display().to_string();
    let script = script.display().to_string();
    let global = &project.paths.opencode_config_dir;
    std::fs::create_dir_all(global).expect("the global config dir");
    std::fs::write(
        global.join("opencode.json"),
        serde_json::json!({"mcp": {
            "orch": {"type": "local", "command": [python, script]},
            // Runs orch as far as the command line says (`# orch mcp` is a shell comment).
            "tasks": {"type": "local", "command": ["sh", "-c", format!("exec {python} {script} # orch mcp")]}
        }})
        .to_string(),
    )
    .expect("the user's opencode.json");
    write_orchestrator_json(
        &project.paths.project_dir,
        r#"{"profiles": {"coder": {"delegate": true}}}"#,
    );
    let config = ManagerConfig::from_env(project.paths.clone(), project.env.clone());
    let m = Manager::start(config).expect("a manager");

    let out = run_task(&m, task("explorer", "TASK-NOTOOLS list the files")).await;
    assert_eq!(
        out.output.trim(),
        "echo from fast-mini",
        "orch's requests succeed"
    );
    let offered = llm.tools_for("TASK-NOTOOLS");
    assert!(!offered.is_empty(), "OpenCode offers its own tools");
    assert!(
        offered
            .iter()
            .all(|t| !t.starts_with("orch") && !t.contains("task_start")),
        "{offered:?}"
    );

    // Anyone else on the machine: 401 without the password, or with a wrong one.
    let row = m
        .workers()
        .await
        .workers
        .into_iter()
        .find(|w| w.id == "explorer")
        .expect("the explorer row");
    let url = row.url.expect("a running worker has a URL");
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client");
    for (what, req) in [
        ("no credentials", http.get(format!("{url}/config"))),
        (
            "a wrong password",
            http.get(format!("{url}/config"))
                .basic_auth("opencode", Some("guess")),
        ),
        (
            "no credentials, shell",
            http.post(format!("{url}/session/x/shell"))
                .json(&serde_json::json!({"agent": "build", "command": "id"})),
        ),
    ] {
        let status = req.send().await.expect("an answer").status();
        assert_eq!(status.as_u16(), 401, "{what}");
    }

    // A delegating profile keeps orch's entries, and its bridge is told depth 1.
    run_task(&m, task("coder", "TASK-DELEGATE plan")).await;
    let offered = llm.tools_for("TASK-DELEGATE");
    for want in ["orch_task_start", "tasks_task_start", "orch_depth_1"] {
        assert!(offered.iter().any(|t| t == want), "{want}: {offered:?}");
    }
    m.shutdown().await;
}

/// An agent-backend worker reaches a password-protected OpenCode with the password from the
/// file its profile names (0600); without credentials the same server refuses it, and the
/// error names the 401 without any password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_opencode_agent_server_with_a_password() {
    const TEST: &str = "real_opencode_agent_server_with_a_password";
    let Some(run) = start(TEST).await else { return };
    let Start {
        bin, llm, project, ..
    } = run;
    let password = "agent-server-pw-5c1d9e";
    let mut env = project.env.clone();
    env.set("OPENCODE_SERVER_PASSWORD", password);
    let server = OsSpawner
        .spawn(serve_spec(
            "agent",
            &bin,
            &project,
            &env,
            Duration::from_secs(60),
        ))
        .await
        .expect("a password-protected OpenCode");
    let file = project.dir.path().join("agent-password");
    std::fs::write(&file, format!("{password}\n")).expect("the password file");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    write_orchestrator_json(
        &project.paths.project_dir,
        &serde_json::json!({"profiles": {
            "docs": {"backend": "agent", "server": {"url": server.url(), "passwordFile": file}},
            "memory": {"backend": "agent"}
        }})
        .to_string(),
    );
    let mut config = ManagerConfig::from_env(project.paths.clone(), project.env.clone());
    config.agent_url = Some(server.url().to_owned());
    let m = Manager::start(config).expect("a manager");

    let out = run_task(&m, task("docs", "TASK-AGENT read")).await;
    assert!(out.output.contains("echo from"), "{}", out.output);
    assert!(!llm.models_for("TASK-AGENT").is_empty());
    // Without credentials (ORCH_AGENT_URL alone) the server refuses.
    let err = task_error(&m, task("memory", "TASK-NOAUTH x")).await;
    assert!(err.message.contains("401"), "{}", err.message);
    assert!(!err.message.contains(password), "{}", err.message);
    assert!(llm.models_for("TASK-NOAUTH").is_empty());
    m.shutdown().await;
    server.stop(Duration::from_secs(5)).await;
}

/// A kept worker (`ORCH_KEEP_WORKERS=1`) is reused by the next manager: its password, kept
/// in `workers.json` (0600) only, authenticates the new manager's requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_opencode_a_kept_worker_is_reused_with_its_password() {
    const TEST: &str = "real_opencode_a_kept_worker_is_reused_with_its_password";
    let Some(run) = start(TEST).await else { return };
    let Start { project, .. } = run;
    let mut config = ManagerConfig::from_env(project.paths.clone(), project.env.clone());
    config.keep_workers = true;
    let first = Manager::start(config).expect("a manager");
    run_task(&first, task("explorer", "TASK-KEEP-1 one")).await;
    let pid = pid_of(&first, "explorer").await.expect("a pid");
    first.shutdown().await;
    drop(first);
    assert!(pid_alive(pid), "a kept worker outlives its manager");

    let second = Manager::start(ManagerConfig::from_env(
        project.paths.clone(),
        project.env.clone(),
    ))
    .expect("a second manager");
    let out = run_task(&second, task("explorer", "TASK-KEEP-2 two")).await;
    assert_eq!(out.output.trim(), "echo from fast-mini");
    assert_eq!(
        pid_of(&second, "explorer").await,
        Some(pid),
        "the kept worker was reused, not replaced"
    );
    second.shutdown().await;
    let poll = Poll::within(Duration::from_secs(10)).every(Duration::from_millis(50));
    wait_until(poll, async || !pid_alive(pid)).await;
    assert!(!pid_alive(pid), "the adopted worker was stopped");
}

/// A project config and an `auth.json` that start with a UTF-8 byte order mark: the real
/// OpenCode loads both, and the local source reads them the same way (same usable
/// providers, same source for each).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_opencode_and_the_local_source_read_files_with_a_byte_order_mark() {
    let Some(bin) =
        opencode_bin("real_opencode_and_the_local_source_read_files_with_a_byte_order_mark")
    else {
        return;
    };
    let _turn = TURN.lock().await;
    let project = RealProject::new(&bin, "http://127.0.0.1:9/v1", serde_json::json!({}));
    let mut env = project.env.clone();
    let bom = |text: &str| format!("\u{feff}{text}");
    std::fs::write(
        project.paths.project_dir.join("opencode.json"),
        bom(&fixture("project-opencode.json")),
    )
    .expect("the project config");
    let data = project.paths.opencode_data_dir.clone();
    std::fs::create_dir_all(&data).expect("the data dir");
    std::fs::write(
        data.join("auth.json"),
        bom(r#"{"openai":{"type":"api","key":"sk-test-123"}}"#),
    )
    .expect("auth.json");
    env.set("GROQ_API_KEY", "gsk-test-env");
    let (live, local) = live_and_local("bom", &bin, &project, env).await;
    assert_eq!(local.usable_ids(), live.usable_ids());
    assert_eq!(local.usable_ids(), ["fake", "groq", "openai", "opencode"]);
    for p in live.usable() {
        assert_eq!(
            local.get(&p.provider.id).map(|e| e.access),
            Some(p.access),
            "source of {}",
            p.provider.id
        );
    }
}
