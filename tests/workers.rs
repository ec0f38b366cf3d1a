//! The worker manager over fakes: a fake spawner whose "OpenCode" is a fake HTTP server
//! (recording every request) with a real stand-in process, the capture's providers, and a
//! fake clock.

use std::sync::Arc;
use std::time::Duration;

use orch::clock::FakeClock;
use orch::knowledge::KnowledgeSource;
use orch::paths::{Environment, Paths};
use orch::resolve::Policy;
use orch::testutil::fake_opencode::FakeOpenCode;
use orch::testutil::fake_spawner::FakeSpawner;
use orch::testutil::managed::FakeProject;
use orch::testutil::{
    Poll, assert_no_secret, kill_during, run_task, set_model, task, task_error, wait_until,
    write_orchestrator_json,
};
use orch::workers::{
    CancellationToken, Manager, ManagerConfig, RunRequest, SetModelRequest, WorkerService,
    WorkerStatus,
};

/// The shared test project ([`FakeProject`]), with what only this file needs.
struct Setup(FakeProject);

impl std::ops::Deref for Setup {
    type Target = FakeProject;
    fn deref(&self) -> &FakeProject {
        &self.0
    }
}

impl Setup {
    fn new() -> Self {
        Self(FakeProject::new())
    }

    /// A set-up and a manager over it.
    fn with_manager() -> (Self, Manager<FakeSpawner, FakeClock>) {
        let s = Self::new();
        let m = s.manager();
        (s, m)
    }

    /// Asserts that `n` OpenCode processes were spawned so far (`why` says what that means).
    fn assert_spawns(&self, n: usize, why: &str) {
        assert_eq!(self.spawner.spawn_count(), n, "{why}");
    }

    /// A fake agent server (`ORCH_AGENT_URL`), `profiles` as the project's
    /// `orchestrator.json`, and a manager over both.
    #[expect(clippy::expect_used, reason = "test helper")]
    async fn on_agent_server(
        &self,
        profiles: &str,
    ) -> (FakeOpenCode, Manager<FakeSpawner, FakeClock>) {
        let server = FakeOpenCode::start().await.expect("the fake server starts");
        write_orchestrator_json(&self.paths.project_dir, profiles);
        let mut config = self.config();
        config.agent_url = Some(server.url());
        let m = self.manager_with(config);
        (server, m)
    }

    fn manager(&self) -> Manager<FakeSpawner, FakeClock> {
        self.manager_with(self.config())
    }

    fn manager_with(&self, config: ManagerConfig) -> Manager<FakeSpawner, FakeClock> {
        Manager::new(
            config,
            KnowledgeSource::fixed(self.knowledge()),
            self.spawner.clone(),
            FakeClock::at(1_800_000_000_000),
        )
    }
}

fn models_sent(prompts: &[orch::testutil::fake_opencode::Recorded]) -> Vec<String> {
    prompts
        .iter()
        .map(|p| {
            format!(
                "{}/{}",
                p.body["model"]["providerID"].as_str().unwrap_or("?"),
                p.body["model"]["modelID"].as_str().unwrap_or("?")
            )
        })
        .collect()
}

/// Built-in workers on dedicated servers (`backend: "server"`), for the tests of a
/// dedicated worker's own process (the built-ins are hosted by default).
const DEDICATED: &str = r#"{"profiles": {"explorer": {"backend": "server"}, "coder": {"backend": "server"}, "vision": {"backend": "server"}, "docs": {"backend": "server"}}}"#;

/// A worker's row in the workers view.
/// `err` names the `coder` worker and `what` went wrong, and its row says it failed.
async fn assert_coder_failed(m: &Manager<FakeSpawner, FakeClock>, err: &orch::Error, what: &str) {
    assert!(
        err.message.contains("worker coder") && err.message.contains(what),
        "{}",
        err.message
    );
    assert_eq!(row_of(m, "coder").await.status, WorkerStatus::Failed);
}

async fn row_of(m: &Manager<FakeSpawner, FakeClock>, id: &str) -> orch::workers::WorkerRow {
    m.workers()
        .await
        .into_row(id)
        .unwrap_or_else(|| panic!("no worker {id}"))
}

/// Waits (up to 10 s) until some fake OpenCode received a prompt.
async fn wait_for_a_prompt(spawner: &FakeSpawner) {
    wait_until(Poll::default(), async || !spawner.prompts().is_empty()).await;
}

#[tokio::test]
async fn every_prompt_carries_the_resolved_model_server_backend() {
    let s = Setup::new();
    write_orchestrator_json(&s.paths.project_dir, DEDICATED);
    let m = s.manager();
    let out = run_task(&m, task("explorer", "find main")).await;
    assert_eq!(out.resolution.resolved_model, "fake/fast-mini");
    assert!(
        out.resolution.reason.contains("small_model"),
        "{}",
        out.resolution.reason
    );
    assert_eq!(out.answered_by.as_deref(), Some("fake/fast-mini"));
    assert_eq!(out.output, "echo from fast-mini");
    run_task(&m, task("coder", "write code")).await;
    run_task(&m, task("vision", "look")).await;
    assert_eq!(
        models_sent(&s.spawner.prompts()),
        ["fake/fast-mini", "fake/big-pro", "fake/vision-pro"]
    );
    // The session was created for the worker, titled with its name.
    let first = &s.spawner.servers()[0];
    let create = first
        .requests()
        .into_iter()
        .find(|r| r.path == "/session" && r.method == "POST");
    assert_eq!(
        create.map(|r| r.body["title"].clone()),
        Some(serde_json::json!("Worker: Explorer"))
    );
    // The spawn carried the default model in OPENCODE_CONFIG_CONTENT.
    let spec = &s.spawner.specs()[0];
    let content = spec
        .env
        .iter()
        .find(|(k, _)| k == "OPENCODE_CONFIG_CONTENT")
        .map(|(_, v)| v.clone());
    let content: serde_json::Value =
        serde_json::from_str(&content.unwrap_or_default()).unwrap_or_default();
    assert_eq!(content["model"], "fake/fast-mini");
    assert_eq!(content["tools"]["write"], false);
    assert_eq!(
        spec.args,
        ["serve", "--hostname", "127.0.0.1", "--port", "0"]
    );
}

#[tokio::test]
async fn every_prompt_carries_the_resolved_model_agent_backend() {
    let s = Setup::new();
    let (server, m) = s
        .on_agent_server(r#"{"profiles": {"docs": {"backend": "agent", "agent": "plan"}}}"#)
        .await;
    let out = run_task(&m, task("docs", "read the docs")).await;
    let out2 = run_task(&m, task("docs", "again")).await;
    assert_eq!(out.session_id, out2.session_id, "one session per worker");
    let prompts = server.prompts();
    assert_eq!(
        models_sent(&prompts),
        [
            out.resolution.resolved_model.clone(),
            out.resolution.resolved_model
        ]
    );
    assert!(prompts.iter().all(|p| p.body["agent"] == "plan"));
    s.assert_spawns(0, "the agent backend spawns nothing");
}

#[tokio::test]
async fn dynamic_override_applies_to_one_task_only() {
    let (s, m) = Setup::with_manager();
    run_task(&m, task("coder", "one")).await;
    let mut req = task("coder", "two");
    req.model = Some("fake/fast-mini".into());
    req.policy = Some(Policy::Dynamic);
    let out = run_task(&m, req).await;
    assert_eq!(out.answered_by.as_deref(), Some("fake/fast-mini"));
    run_task(&m, task("coder", "three")).await;
    assert_eq!(
        models_sent(&s.spawner.prompts()),
        ["fake/big-pro", "fake/fast-mini", "fake/big-pro"]
    );
    s.assert_spawns(1, "no respawn for a dynamic override");
}

#[tokio::test]
async fn sticky_set_changes_later_tasks_and_reset_restores_the_default() {
    let (s, m) = Setup::with_manager();
    run_task(&m, task("coder", "one")).await;
    let row = m
        .set_model(set_model("coder", "vision-pro", Policy::Sticky))
        .await
        .expect("the model is set");
    assert_eq!(row.resolved_model.as_deref(), Some("fake/vision-pro"));
    assert_eq!(row.policy, Policy::Sticky);
    assert!(
        row.overridden && row.reason.contains("vision-pro"),
        "{}",
        row.reason
    );
    run_task(&m, task("coder", "two")).await;
    run_task(&m, task("coder", "three")).await;
    let row = m.reset_model("coder").await.expect("the model is reset");
    assert_eq!(row.model_ref, "node");
    assert!(!row.overridden);
    run_task(&m, task("coder", "four")).await;
    assert_eq!(
        models_sent(&s.spawner.prompts()),
        [
            "fake/big-pro",
            "fake/vision-pro",
            "fake/vision-pro",
            "fake/big-pro"
        ]
    );
}

#[tokio::test]
async fn dynamic_set_reaches_the_next_task_without_a_respawn() {
    let (s, m) = Setup::with_manager();
    let first = run_task(&m, task("docs", "one")).await;
    m.set_model(set_model("docs", "fake/fast-mini", Policy::Dynamic))
        .await
        .expect("the model is set");
    let second = run_task(&m, task("docs", "two")).await;
    assert_eq!(second.answered_by.as_deref(), Some("fake/fast-mini"));
    assert_eq!(first.session_id, second.session_id);
    assert_eq!(s.spawner.spawn_count(), 1);
}

#[tokio::test]
async fn bad_sets_change_nothing_and_suggest() {
    let (s, m) = Setup::with_manager();
    let before = m.workers().await;
    let unknown_worker = m
        .set_model(set_model("doc", "node", Policy::Sticky))
        .await
        .expect_err("an unknown worker is refused");
    assert!(
        unknown_worker.message.contains("unknown worker"),
        "{}",
        unknown_worker.message
    );
    assert!(unknown_worker.suggestions.contains(&"docs".to_owned()));
    for (worker, model, want) in [
        ("docs", "no-such-model-xyz", "no usable model"),
        ("docs", "openai/gpt-nope", "has no model"),
        ("docs", "gpt", "ambiguous"),
        ("vision", "fake/big-pro", "needs a model with image input"),
        ("docs", "", "empty model reference"),
    ] {
        let e = m
            .set_model(SetModelRequest {
                worker: worker.into(),
                model: model.into(),
                policy: Policy::Sticky,
                respawn: true,
                force: false,
            })
            .await
            .err()
            .unwrap_or_else(|| panic!("{model} accepted"));
        assert!(e.message.contains(want), "{model}: {}", e.message);
        if !model.is_empty() {
            assert!(!e.suggestions.is_empty(), "{model}: no suggestions");
        }
    }
    assert_eq!(m.workers().await, before);
    assert_eq!(s.spawner.spawn_count(), 0);
    assert!(!s.paths.project_state_dir().join("state.json").exists());
}

#[tokio::test]
async fn reuse_on_fingerprint_match_and_not_on_mismatch() {
    let s = Setup::new();
    write_orchestrator_json(&s.paths.project_dir, DEDICATED);
    let mut config = s.config();
    config.keep_workers = true;
    // First manager spawns and keeps the worker.
    let first = s.manager_with(config.clone());
    let a = run_task(&first, task("docs", "one")).await;
    first.shutdown().await;
    drop(first);
    // A new manager with the same settings reuses it: same session, no spawn.
    let second = s.manager_with(config.clone());
    let b = run_task(&second, task("docs", "two")).await;
    assert_eq!(a.session_id, b.session_id);
    assert_eq!(s.spawner.spawn_count(), 1);
    // A sticky change alters the fingerprint: the next manager does not reuse it.
    second
        .set_model(set_model("docs", "fake/fast-mini", Policy::Sticky))
        .await
        .expect("the model is set");
    drop(second);
    let third = s.manager_with(config);
    let c = run_task(&third, task("docs", "three")).await;
    assert_ne!(c.session_id, b.session_id);
    assert_eq!(s.spawner.spawn_count(), 2);
    // The mismatched process was stopped, not leaked.
    let old = &s.spawner.servers()[0];
    assert!(!old.requests().is_empty());
    let client = orch::opencode::OpenCodeClient::new(&old.url(), Duration::from_secs(1))
        .expect("the client builds");
    assert!(
        client.health().await.is_err(),
        "the mismatched worker still answers"
    );
}

#[tokio::test]
async fn force_new_always_spawns() {
    let s = Setup::new();
    write_orchestrator_json(&s.paths.project_dir, DEDICATED);
    let m = s.manager();
    run_task(&m, task("coder", "one")).await;
    let mut req = task("coder", "two");
    req.force_new = true;
    run_task(&m, req.clone()).await;
    run_task(&m, req).await;
    assert_eq!(s.spawner.spawn_count(), 3);
    // Replaced processes were stopped.
    let servers = s.spawner.servers();
    for old in &servers[..2] {
        let c = orch::opencode::OpenCodeClient::new(&old.url(), Duration::from_secs(1))
            .expect("the client builds");
        assert!(c.health().await.is_err());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_requests_for_a_cold_worker_spawn_once() {
    let s = Setup::new();
    s.spawner.set_spawn_delay(Duration::from_millis(200));
    let m = Arc::new(s.manager());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let m = Arc::clone(&m);
        tasks.spawn(async move {
            m.run(
                task("explorer", &format!("task {i}")),
                CancellationToken::new(),
            )
            .await
        });
    }
    let mut ok = 0;
    while let Some(r) = tasks.join_next().await {
        if matches!(r, Ok(Ok(_))) {
            ok += 1;
        }
    }
    assert_eq!(ok, 50);
    assert_eq!(s.spawner.spawn_count(), 1);
    assert_eq!(s.spawner.prompts().len(), 50);
}

#[tokio::test]
async fn settings_survive_a_manager_restart() {
    let (s, m) = Setup::with_manager();
    m.set_model(set_model("docs", "fake/fast-mini", Policy::Sticky))
        .await
        .expect("the model is set");
    drop(m);
    let m = s.manager();
    let docs = m.workers().await.into_row("docs");
    let docs = docs.expect("a docs entry exists");
    assert_eq!(
        (docs.model_ref.as_str(), docs.policy),
        ("fake/fast-mini", Policy::Sticky)
    );
    assert_eq!(docs.resolved_model.as_deref(), Some("fake/fast-mini"));
}

#[tokio::test]
async fn a_corrupt_state_file_is_kept_aside() {
    let s = Setup::new();
    std::fs::create_dir_all(s.paths.project_state_dir()).expect("the directory is created");
    let state = s.paths.project_state_dir().join("state.json");
    std::fs::write(&state, "{ not json").expect("the file is written");
    let m = s.manager();
    let warnings = m.warnings().join("\n");
    assert!(warnings.contains("state.json.corrupt-"), "{warnings}");
    let kept: Vec<_> = std::fs::read_dir(s.paths.project_state_dir())
        .expect("the directory lists")
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("state.json.corrupt-")
        })
        .collect();
    assert_eq!(kept.len(), 1);
    assert_eq!(
        std::fs::read_to_string(kept[0].path()).unwrap_or_default(),
        "{ not json"
    );
    // The manager still works and writes a fresh file.
    m.set_model(set_model("docs", "node", Policy::Dynamic))
        .await
        .expect("the model is set");
    assert!(state.exists());
}

#[tokio::test]
async fn a_killed_worker_fails_its_task_fast_and_respawns_next_time() {
    let s = Setup::new();
    s.spawner.set_prompt_delay(Duration::from_secs(30));
    let m = Arc::new(s.manager());
    let runner = Arc::clone(&m);
    let handle = tokio::spawn(async move {
        runner
            .run(task("coder", "long"), CancellationToken::new())
            .await
    });
    // Wait for the prompt to arrive, then kill the worker's process.
    wait_for_a_prompt(&s.spawner).await;
    let pid = row_of(&m, "coder").await.pid;
    let pid = pid.expect("the worker has a pid");
    let (err, took) = kill_during(pid, handle).await;
    assert!(took < Duration::from_secs(5));
    assert_coder_failed(&m, &err, "exited").await;
    s.spawner.set_prompt_delay(Duration::ZERO);
    let out = run_task(&*m, task("coder", "again")).await;
    assert_eq!(out.answered_by.as_deref(), Some("fake/big-pro"));
    assert_eq!(s.spawner.spawn_count(), 2);
}

#[tokio::test]
async fn cancel_aborts_the_session() {
    let s = Setup::new();
    s.spawner.set_prompt_delay(Duration::from_secs(30));
    let m = Arc::new(s.manager());
    let cancel = CancellationToken::new();
    let runner = Arc::clone(&m);
    let token = cancel.clone();
    let handle = tokio::spawn(async move { runner.run(task("coder", "long"), token).await });
    wait_for_a_prompt(&s.spawner).await;
    cancel.cancel();
    let err = handle
        .await
        .expect("the run task joins")
        .expect_err("the run is cancelled");
    assert!(err.message.contains("cancelled"), "{}", err.message);
    let server = &s.spawner.servers()[0];
    assert_eq!(
        server.aborted().len(),
        1,
        "the OpenCode session was aborted"
    );
}

#[tokio::test]
async fn a_vision_worker_without_vision_models_fails_before_spawning() {
    let s = Setup::new();
    // Only the fake provider, without its vision model.
    let config = s.paths.project_dir.join("opencode.json");
    let text = std::fs::read_to_string(&config).unwrap_or_default();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    if let Some(models) = v["provider"]["fake"]["models"].as_object_mut() {
        models.remove("vision-pro");
    }
    v["enabled_providers"] = serde_json::json!(["fake"]);
    std::fs::write(&config, v.to_string()).expect("the file is written");
    let m = s.manager();
    let err = task_error(&m, task("vision", "what is in this picture")).await;
    assert!(
        err.message.contains("vision") && err.message.contains("image input"),
        "{}",
        err.message
    );
    assert!(err.message.contains("fix"), "{}", err.message);
    assert_eq!(s.spawner.spawn_count(), 0);
}

#[tokio::test]
async fn spawn_failures_and_timeouts_name_the_worker() {
    let s = Setup::new();
    s.spawner.fail_with(Some("Error: cannot bind"));
    let m = s.manager();
    let err = task_error(&m, task("coder", "x")).await;
    assert_coder_failed(&m, &err, "cannot bind").await;
    s.spawner.fail_with(None);
    let mut req = task("coder", "slow");
    req.timeout = Some(Duration::from_millis(200));
    s.spawner.set_prompt_delay(Duration::from_secs(5));
    let err = task_error(&m, req).await;
    assert!(err.message.contains("did not finish"), "{}", err.message);
}

#[tokio::test]
async fn opencode_not_installed_names_the_variable() {
    let s = Setup::new();
    let mut config = s.config();
    config.opencode_bin = s.paths.project_dir.join("no-opencode-here");
    let m = Manager::new(
        config,
        KnowledgeSource::fixed(s.knowledge()),
        orch::workers::spawn::OsSpawner,
        FakeClock::at(0),
    );
    let err = task_error(&m, task("coder", "x")).await;
    assert!(err.message.contains("ORCH_OPENCODE_BIN"), "{}", err.message);
}

#[tokio::test]
async fn no_secret_in_errors_rows_or_records() {
    let (s, m) = Setup::with_manager();
    let mut text = String::new();
    let out = run_task(&m, task("explorer", "x")).await;
    text.push_str(&format!("{out:?}"));
    text.push_str(&format!("{:?}", m.workers().await));
    for r in ["nope/nope", "", "groq/", "groq/nope"] {
        if let Err(e) = m
            .run(
                RunRequest {
                    model: Some(r.into()),
                    ..task("docs", "x")
                },
                CancellationToken::new(),
            )
            .await
        {
            text.push_str(&format!("{e:?} {e}"));
        }
    }
    s.spawner.fail_with(Some("boom"));
    if let Err(e) = m
        .run(
            RunRequest {
                force_new: true,
                ..task("explorer", "x")
            },
            CancellationToken::new(),
        )
        .await
    {
        text.push_str(&e.to_string());
    }
    for f in [
        s.paths.project_state_dir().join("state.json"),
        s.paths.backend_state_dir().join("workers.json"),
    ] {
        text.push_str(&std::fs::read_to_string(f).unwrap_or_default());
    }
    text.push_str(&format!("{:?}", s.spawner.specs()));
    assert_no_secret("worker records", &text);
}

#[tokio::test]
async fn a_lost_session_is_replaced_on_the_next_task() {
    let s = Setup::new();
    let (server, m) = s
        .on_agent_server(r#"{"profiles": {"docs": {"backend": "agent"}}}"#)
        .await;
    let first = run_task(&m, task("docs", "one")).await;
    // The agent server forgets the session.
    let client = orch::opencode::OpenCodeClient::new(&server.url(), Duration::from_secs(1))
        .expect("the client builds");
    assert!(
        client
            .delete_session(&first.session_id)
            .await
            .unwrap_or(false)
    );
    let err = m
        .run(task("docs", "two"), CancellationToken::new())
        .await
        .err();
    assert!(err.is_some_and(|e| e.message.contains("404")));
    let third = run_task(&m, task("docs", "three")).await;
    assert_ne!(third.session_id, first.session_id);
}

#[tokio::test]
async fn a_set_whose_respawn_fails_changes_nothing() {
    let (s, m) = Setup::with_manager();
    s.spawner.fail_with(Some("Error: port in use"));
    let err = m
        .set_model(SetModelRequest {
            worker: "docs".into(),
            model: "fake/fast-mini".into(),
            policy: Policy::Sticky,
            respawn: true,
            force: false,
        })
        .await
        .expect_err("the failed respawn is reported");
    assert!(err.message.contains("port in use"), "{}", err.message);
    let docs = m.workers().await.into_row("docs");
    let docs = docs.expect("a docs entry exists");
    assert_eq!(
        (docs.model_ref.as_str(), docs.overridden),
        ("node:docs", false)
    );
}

/// The value of `name` in a spawn's environment.
fn spawn_var(spec: &orch::workers::spawn::SpawnSpec, name: &str) -> String {
    spec.env
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_worker_gets_its_own_password_never_shown_and_no_orch_tools() {
    let s = Setup::new();
    // The user's own config has orch's entry, another that runs orch, and an unrelated one.
    std::fs::create_dir_all(&s.paths.opencode_config_dir).expect("config dir");
    std::fs::write(
        s.paths.opencode_config_dir.join("opencode.json"),
        r#"{"mcp": {"orch": {"type": "local", "command": ["orch", "mcp"]},
                    "tasks": {"type": "local", "command": ["/opt/bin/orch", "mcp"]},
                    "files": {"type": "local", "command": ["npx", "fs-mcp"]}}}"#,
    )
    .expect("global config");
    write_orchestrator_json(
        &s.paths.project_dir,
        r#"{"profiles": {"coder": {"delegate": true}}}"#,
    );
    let mut env = s.env.clone();
    // A password the user exported for their own OpenCode is not what the worker gets.
    env.set("OPENCODE_SERVER_PASSWORD", "users-own-password");
    let mut config = s.config();
    config.env = env;
    let m = s.manager_with(config);
    let out = run_task(&m, task("explorer", "find main")).await;
    run_task(&m, task("coder", "write code")).await;
    let specs = s.spawner.specs();
    let (explorer, coder) = (&specs[0], &specs[1]);

    let password = spawn_var(explorer, "OPENCODE_SERVER_PASSWORD");
    assert_eq!(password.len(), 64, "32 random bytes, hex");
    assert_eq!(spawn_var(explorer, "OPENCODE_SERVER_USERNAME"), "opencode");
    assert_ne!(password, spawn_var(coder, "OPENCODE_SERVER_PASSWORD"));
    assert!(
        !explorer.redact.redact(&password).contains(&password),
        "output is redacted of it"
    );

    let content = |spec| -> serde_json::Value {
        serde_json::from_str(&spawn_var(spec, "OPENCODE_CONFIG_CONTENT")).expect("JSON content")
    };
    assert_eq!(
        content(explorer)["mcp"],
        serde_json::json!({"orch": {"enabled": false}, "tasks": {"enabled": false}})
    );
    assert_eq!(spawn_var(explorer, "ORCH_DELEGATION_DEPTH"), "0");
    // A profile that delegates keeps the entries, with a depth of 1.
    assert!(content(coder).get("mcp").is_none(), "{}", content(coder));
    assert_eq!(spawn_var(coder, "ORCH_DELEGATION_DEPTH"), "1");

    // Never shown: the spec, the outcome, rows (Debug and JSON), the registry's entries.
    let registry = orch::workers::registry::Registry::new(&s.paths.state_dir);
    let shown = format!(
        "{explorer:?} {out:?} {:?} {} {:?}",
        m.workers().await,
        serde_json::to_string(&m.workers().await).expect("rows as JSON"),
        registry.list().expect("the registry"),
    );
    assert!(!shown.contains(&password), "{shown}");
    // Kept only in workers.json, mode 0600, for reuse of a kept worker.
    use std::os::unix::fs::PermissionsExt;
    let file = s.paths.backend_state_dir().join("workers.json");
    let mode = std::fs::metadata(&file)
        .expect("workers.json")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(
        std::fs::read_to_string(&file)
            .expect("workers.json")
            .contains(&password)
    );
}

#[tokio::test]
async fn an_agent_server_password_comes_from_the_named_variable() {
    let s = Setup::new();
    let server = FakeOpenCode::start().await.expect("a fake OpenCode");
    write_orchestrator_json(
        &s.paths.project_dir,
        &format!(
            r#"{{"profiles": {{"docs": {{"backend": "agent",
                "server": {{"url": "{}", "passwordEnv": "DOCS_SERVER_PW"}}}}}}}}"#,
            server.url()
        ),
    );
    // Not set: a clear error naming the variable.
    let err = task_error(&s.manager(), task("docs", "read"))
        .await
        .to_string();
    assert!(
        err.contains("DOCS_SERVER_PW") && err.contains("not set"),
        "{err}"
    );
    let mut config = s.config();
    config.env.set("DOCS_SERVER_PW", "pw-from-the-environment");
    let m = s.manager_with(config);
    let out = run_task(&m, task("docs", "read")).await;
    assert!(!out.output.is_empty());
    assert_eq!(server.prompts().len(), 1, "the profile's server was used");
    assert!(!format!("{:?}", m.workers().await).contains("pw-from-the-environment"));
}

#[tokio::test]
async fn a_worker_that_prints_its_password_shows_it_redacted() {
    let s = Setup::new();
    // A stand-in OpenCode that prints what it was given and dies before it is ready.
    let program = s.paths.project_dir.join("leaky-opencode");
    std::fs::write(
        &program,
        "#!/bin/sh\necho \"user=$OPENCODE_SERVER_USERNAME pw=$OPENCODE_SERVER_PASSWORD\" >&2\nexit 3\n",
    )
    .expect("the stand-in");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut config = s.config();
    config.opencode_bin = program;
    let m = Manager::new(
        config,
        KnowledgeSource::fixed(s.knowledge()),
        orch::workers::spawn::OsSpawner,
        FakeClock::at(1_800_000_000_000),
    );
    let err = task_error(&m, task("explorer", "x")).await.message;
    assert!(err.contains("user=opencode pw=[REDACTED]"), "{err}");
    let row = row_of_os(&m, "explorer").await;
    let shown = format!("{err} {row:?}");
    let hex_run = shown
        .split(|c: char| !c.is_ascii_hexdigit())
        .any(|w| w.len() >= 64);
    assert!(!hex_run, "{shown}");
}

async fn row_of_os<S: orch::workers::spawn::Spawner>(
    m: &Manager<S, FakeClock>,
    id: &str,
) -> Option<orch::workers::WorkerRow> {
    m.workers().await.workers.into_iter().find(|w| w.id == id)
}

/// Finding 6: a `workers.json` entry whose pid now belongs to an unrelated process (a
/// reused pid: another start time; or an entry from an older orch, which recorded no
/// identity) is forgotten, and that process is never signalled.
#[tokio::test]
async fn a_stale_registry_entry_never_signals_the_process_that_reused_its_pid() {
    use orch::workers::procfs::Identity;
    use orch::workers::registry::{Entry, Registry};
    use std::os::unix::process::CommandExt;

    let s = Setup::new();
    let mut strangers: Vec<std::process::Child> = (0..2)
        .map(|_| {
            std::process::Command::new("sleep")
                .arg("1000")
                .process_group(0)
                .spawn()
                .expect("an unrelated sleep")
        })
        .collect();
    let registry = Registry::new(&s.paths.state_dir);
    let pids: Vec<u32> = strangers.iter().map(std::process::Child::id).collect();
    let real = Identity::of(pids[0]).expect("the sleep's identity");
    let identities = [
        // The pid was reused: same number, another start time and command.
        Some(Identity {
            start_time: real.start_time.saturating_sub(1),
            cmdline: "/usr/bin/opencode serve --hostname 127.0.0.1 --port 0".into(),
        }),
        // Written by an orch that recorded no identity.
        None,
    ];
    for (pid, identity) in pids.iter().zip(identities) {
        let entry = Entry {
            worker: "docs".into(),
            pid: *pid,
            pgid: *pid,
            url: "http://127.0.0.1:9".into(),
            session_id: "ses_old".into(),
            model: "fake/big-pro".into(),
            policy: Policy::Dynamic,
            fingerprint: "an old fingerprint".into(),
            // An owner that cannot be alive: the entry is up for stopping.
            owner_pid: 4_194_305,
            started_at: 1,
            updated_at: 1,
            password: None,
            identity,
        };
        // Written as an earlier backend left it, with no check on the way in.
        let file = serde_json::json!({"version": 1, "entries": [entry]});
        let path = s.paths.backend_state_dir().join("workers.json");
        let mut all: serde_json::Value = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| serde_json::json!({"version": 1, "entries": []}));
        all["entries"]
            .as_array_mut()
            .expect("entries")
            .push(file["entries"][0].clone());
        std::fs::create_dir_all(s.paths.backend_state_dir()).expect("state dir");
        std::fs::write(&path, all.to_string()).expect("workers.json");
    }
    let m = s.manager();
    run_task(&m, task("docs", "after a reboot")).await;
    m.shutdown().await;
    let alive: Vec<bool> = strangers
        .iter_mut()
        .map(|c| matches!(c.try_wait(), Ok(None)))
        .collect();
    for c in &mut strangers {
        let _ = c.kill();
        let _ = c.wait();
    }
    assert_eq!(alive, [true, true], "an unrelated process was signalled");
    assert!(
        registry
            .list()
            .expect("registry")
            .iter()
            .all(|e| !pids.contains(&e.pid)),
        "the stale entries were not forgotten"
    );
    s.assert_spawns(1, "a new worker replaced them");
}

/// A 1 MiB task reaches OpenCode whole, while the task's row keeps only its head.
#[tokio::test]
async fn a_large_task_reaches_opencode_whole_and_its_row_keeps_a_head() {
    use orch::tasks::{Limits, MAX_KEPT_TASK_BYTES, StartRequest, Tasks, Work};
    let s = Setup::new();
    let tasks = Tasks::new(Arc::new(s.manager()), Limits::default());
    let text = format!("large: {}", "y".repeat(1024 * 1024));
    let row = tasks
        .start(StartRequest {
            kind: orch::wire::TaskKind::Worker,
            work: Work::Run(task("coder", &text)),
            route: None,
        })
        .await
        .expect("the task starts");
    let done = tasks
        .wait(
            std::slice::from_ref(&row.id),
            Duration::from_secs(30),
            false,
        )
        .await
        .expect("the task is known");
    let row = &done.tasks[0];
    assert_eq!(row.status, orch::wire::TaskStatus::Succeeded, "{row:?}");
    assert!(row.task_truncated);
    assert_eq!(row.task.as_deref().map(str::len), Some(MAX_KEPT_TASK_BYTES));
    let prompts = s.spawner.prompts();
    let sent = prompts
        .last()
        .and_then(|p| p.body["parts"][0]["text"].as_str().map(str::to_owned));
    assert_eq!(
        sent.as_deref(),
        Some(text.as_str()),
        "OpenCode got every byte"
    );
    tasks.workers().shutdown().await;
}

/// A delegating worker's own `orch` clients reach the backend that runs it: the worker
/// gets the backend's socket and key, and the backend admits the context its `orch mcp`
/// sends although orch changed the worker's environment (`OPENCODE_CONFIG_CONTENT`, its
/// password); without the key that same environment would be refused.
#[tokio::test]
async fn a_delegating_worker_reaches_its_own_backend_and_is_admitted() {
    use orch::context::{Context, WORKER_OF_VAR};
    let s = Setup::new();
    write_orchestrator_json(
        &s.paths.project_dir,
        r#"{"profiles": {"coder": {"delegate": true}}}"#,
    );
    let mut env = s.env.clone();
    // What a user's shell may hold is replaced, never passed on.
    env.set("ORCH_SOCKET", "/somewhere/else.sock");
    env.set(WORKER_OF_VAR, "someone-else");
    let mut config = s.config();
    config.env = env;
    config.backend_socket = Some(std::path::PathBuf::from("/run/orch/this.sock"));
    let m = s.manager_with(config);
    run_task(&m, task("coder", "write code")).await;
    let specs = s.spawner.specs();
    let coder = &specs[0];
    assert_eq!(spawn_var(coder, "ORCH_SOCKET"), "/run/orch/this.sock");
    assert_eq!(spawn_var(coder, WORKER_OF_VAR), s.paths.backend_key());
    // The worker's `orch mcp` runs in the project with the worker's environment.
    let worker_env = Environment::from_pairs(coder.env.iter().cloned());
    let worker_paths = Paths::resolve(&worker_env, &coder.dir);
    assert_ne!(worker_paths.env_key, s.paths.env_key, "orch changed it");
    assert_eq!(
        worker_paths.socket_candidates,
        vec![std::path::PathBuf::from("/run/orch/this.sock")]
    );
    let backend = Context::of(&s.paths, &s.env);
    let worker = Context::of(&worker_paths, &worker_env);
    assert_eq!(backend.admits(&worker), Ok(()));
    let mut stranger = worker.clone();
    stranger.worker_of = None;
    let refused = backend.admits(&stranger).expect_err("another environment");
    assert!(
        refused.to_string().contains("OPENCODE_CONFIG_CONTENT"),
        "{refused}"
    );
    assert!(
        !refused.to_string().contains("opencode"),
        "no value: {refused}"
    );
}

#[tokio::test]
async fn a_task_too_large_for_a_models_context_skips_that_model() {
    let s = Setup::new();
    // groq/llama-3.1-8b-instant has a 131072-token context in the capture; fake/big-pro's
    // is unknown (it fits any task).
    write_orchestrator_json(
        &s.paths.project_dir,
        r#"{"profiles": {"coder": {"model": ["groq/llama-3.1-8b-instant", "fake/big-pro"]}}}"#,
    );
    let m = s.manager();
    run_task(&m, task("coder", "a small task")).await;
    // About 150k tokens by the documented estimate (characters / 4).
    let huge = "x".repeat(600_000);
    let out = run_task(&m, task("coder", &huge)).await;
    assert_eq!(out.resolution.resolved_model, "fake/big-pro");
    assert!(
        out.resolution.reason.contains(
            "skipped groq/llama-3.1-8b-instant (groq/llama-3.1-8b-instant does not fit the coder worker: its context (131072 tokens) is smaller than the 154096 tokens needed"
        ),
        "{}",
        out.resolution.reason
    );
    assert_eq!(
        models_sent(&s.spawner.prompts()),
        ["groq/llama-3.1-8b-instant", "fake/big-pro"]
    );
    // Named alone for the task, the model is refused before anything is sent.
    let mut req = task("coder", &huge);
    req.model = Some("groq/llama-3.1-8b-instant".into());
    let err = task_error(&m, req).await;
    assert!(
        err.message.contains("does not fit the coder worker")
            && err.message.contains("its context (131072 tokens)"),
        "{}",
        err.message
    );
    assert_eq!(s.spawner.prompts().len(), 2, "nothing was sent");
}
