//! End to end against the real OpenCode binary (`ORCH_OPENCODE_BIN`, installed by
//! `scripts/test`) and a fake OpenAI-compatible LLM on loopback. Without the variable each
//! test prints that it was skipped; with `ORCH_REQUIRE_REAL=1` a missing binary fails.
//! The tests take turns: each OpenCode needs about 300 MiB and two cores are few.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use orch::paths::Environment;
use orch::resolve::Policy;
use orch::sources::ProviderSource;
use orch::sources::live::LiveSource;
use orch::sources::local::LocalSource;
use orch::testutil::fake_llm::FakeLlm;
use orch::testutil::real::{RealProject, opencode_bin};
use orch::testutil::{
    Poll, assert_no_secret, fixture, kill_during, run_task, set_model, task, task_error, wait_until,
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
    }
}

async fn pid_of(m: &Manager, worker: &str) -> Option<u32> {
    m.workers()
        .await
        .workers
        .into_iter()
        .find(|w| w.id == worker)
        .and_then(|w| w.pid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_opencode_model_selection_set_reset_and_faults() {
    let Some(bin) = opencode_bin("real_opencode_model_selection_set_reset_and_faults") else {
        return;
    };
    let _turn = TURN.lock().await;
    let llm = FakeLlm::start().await.unwrap_or_else(|e| panic!("{e}"));
    let project = RealProject::new(&bin, &llm.base_url(), serde_json::json!({}));
    let config = ManagerConfig::from_env(project.paths.clone(), project.env.clone());
    let m = Manager::start(config).unwrap_or_else(|e| panic!("{e}"));

    // node:fast with small_model set: the task reaches the small model.
    let out = run_task(&m, task("explorer", "TASK-A list the files")).await;
    assert_eq!(out.resolution.resolved_model, "fake/fast-mini");
    assert_eq!(out.answered_by.as_deref(), Some("fake/fast-mini"));
    assert_eq!(out.output.trim(), "echo from fast-mini");
    assert_eq!(llm.models_for("TASK-A"), ["fast-mini"]);
    let pid = pid_of(&m, "explorer")
        .await
        .unwrap_or_else(|| panic!("no pid"));

    // A dynamic set reaches the next task on the same process.
    m.set_model(set_model("explorer", "fake/big-pro", Policy::Dynamic))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let out = run_task(&m, task("explorer", "TASK-B again")).await;
    assert_eq!(out.answered_by.as_deref(), Some("fake/big-pro"));
    assert_eq!(llm.models_for("TASK-B"), ["big-pro"]);
    assert_eq!(
        pid_of(&m, "explorer").await,
        Some(pid),
        "a dynamic change must not respawn"
    );

    // Reset goes back to the profile's tag.
    m.reset_model("explorer")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
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
    let coder_pid = pid_of(&m, "coder")
        .await
        .unwrap_or_else(|| panic!("no coder pid"));
    let (err, took) = kill_during(coder_pid, handle).await;
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        err.message.contains("worker coder") && err.message.contains("SIGKILL"),
        "{}",
        err.message
    );
    let row = m
        .workers()
        .await
        .workers
        .into_iter()
        .find(|w| w.id == "coder");
    assert_eq!(row.map(|r| r.status), Some(WorkerStatus::Failed));
    llm.set_delay(Duration::ZERO);
    let out = run_task(&*m, task("coder", "TASK-R after the crash")).await;
    assert_eq!(out.answered_by.as_deref(), Some("fake/big-pro"));
    let new_pid = pid_of(&m, "coder")
        .await
        .unwrap_or_else(|| panic!("no new pid"));
    assert_ne!(new_pid, coder_pid);

    // Nothing left running after shutdown.
    let pids = [pid, new_pid];
    m.shutdown().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for p in pids {
        assert!(!pid_alive(p), "OpenCode pid {p} survived the shutdown");
    }
    let log =
        std::fs::read_to_string(project.paths.state_dir.join("workers.json")).unwrap_or_default();
    assert_no_secret("registry", &log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_opencode_never_ready_and_dropped_manager_leave_nothing() {
    let Some(bin) = opencode_bin("real_opencode_never_ready_and_dropped_manager_leave_nothing")
    else {
        return;
    };
    let _turn = TURN.lock().await;
    let llm = FakeLlm::start().await.unwrap_or_else(|e| panic!("{e}"));
    let project = RealProject::new(&bin, &llm.base_url(), serde_json::json!({}));
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
    let p = OsSpawner
        .spawn(spec)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
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
            .unwrap_or_else(|e| panic!("{e}"));
            let data = project.paths.opencode_data_dir.clone();
            std::fs::create_dir_all(&data).unwrap_or_else(|e| panic!("{e}"));
            std::fs::write(
                data.join("auth.json"),
                r#"{"openai":{"type":"api","key":"sk-test-123"}}"#,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        } else {
            std::fs::write(project.paths.project_dir.join("opencode.json"), "{}")
                .unwrap_or_else(|e| panic!("{e}"));
        }
        for (k, v) in *vars {
            env.set(*k, *v);
        }
        let spec = SpawnSpec {
            redact: orch::redact::Redactor::from_secrets(["gsk-test-env", "sk-test-123"]),
            ..serve_spec("agreement", &bin, &project, &env, Duration::from_secs(90))
        };
        let server = OsSpawner
            .spawn(spec)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let live = LiveSource::new(server.url())
            .unwrap_or_else(|e| panic!("{e}"))
            .load()
            .await;
        server.stop(Duration::from_secs(5)).await;
        let live = live.unwrap_or_else(|e| panic!("{e}"));
        let local = LocalSource::new(project.paths.clone(), env)
            .load_now()
            .unwrap_or_else(|e| panic!("{e}"));
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
