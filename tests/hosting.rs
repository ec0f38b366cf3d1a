//! The shared OpenCode host over fakes (issue 13): hosted workers are sessions of one
//! spawned "OpenCode" (a fake HTTP server with a real stand-in process), each prompt under
//! the worker's own agent and model; dedicated and delegating profiles keep processes of
//! their own; cancel, a lost host and a reconfiguration touch only what they must.

use std::sync::Arc;
use std::time::Duration;

use orch::clock::FakeClock;
use orch::knowledge::{Knowledge, KnowledgeSource};
use orch::profiles::BackendKind;
use orch::testutil::fake_opencode::Recorded;
use orch::testutil::fake_spawner::FakeSpawner;
use orch::testutil::managed::FakeProject;
use orch::testutil::{
    FAKE_SECRETS, Poll, kill_during, run_task, task, wait_until, write_orchestrator_json,
};
use orch::workers::spawn::SpawnSpec;
use orch::workers::{CancellationToken, Manager, ManagerConfig, WorkerService, WorkerStatus};

const SIX: [&str; 6] = ["architect", "coder", "docs", "explorer", "memory", "vision"];

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

    /// A manager whose knowledge is read once.
    #[expect(clippy::expect_used, reason = "test helper")]
    fn manager(&self) -> Manager<FakeSpawner, FakeClock> {
        let knowledge = Knowledge::load_local(&self.paths, &self.env).expect("the knowledge");
        Manager::new(
            self.config(),
            KnowledgeSource::fixed(knowledge),
            self.spawner.clone(),
            FakeClock::at(1_800_000_000_000),
        )
    }

    /// A manager whose knowledge reloads when the files change (as `orch serve`'s).
    #[expect(clippy::expect_used, reason = "test helper")]
    fn reloading_manager(&self) -> Manager<FakeSpawner, FakeClock> {
        Manager::new(
            self.config(),
            KnowledgeSource::load(&self.paths, &self.env).expect("the knowledge"),
            self.spawner.clone(),
            FakeClock::at(1_800_000_000_000),
        )
    }
}

fn var(spec: &SpawnSpec, name: &str) -> String {
    spec.env
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

#[expect(clippy::expect_used, reason = "test helper")]
fn content(spec: &SpawnSpec) -> serde_json::Value {
    serde_json::from_str(&var(spec, "OPENCODE_CONFIG_CONTENT")).expect("JSON config content")
}

/// Whether the fake OpenCode at `url` still answers.
#[expect(clippy::expect_used, reason = "test helper")]
async fn answers(url: &str) -> bool {
    orch::opencode::OpenCodeClient::new(url, Duration::from_secs(1))
        .expect("the client builds")
        .health()
        .await
        .is_ok()
}

/// Waits (up to 10 s) until the fakes received `n` prompts.
async fn wait_for_prompts(spawner: &FakeSpawner, n: usize) {
    wait_until(Poll::default(), async || spawner.prompts().len() >= n).await;
}

fn prompt_of<'a>(prompts: &'a [Recorded], session: &str) -> Option<&'a Recorded> {
    prompts
        .iter()
        .find(|p| p.session().as_deref() == Some(session))
}

#[tokio::test]
async fn six_hosted_workers_share_one_process_each_prompt_under_its_agent_and_model() {
    let s = Setup::new();
    let m = s.manager();
    let mut outcomes = Vec::new();
    for id in SIX {
        outcomes.push(run_task(&m, task(id, "hello")).await);
    }
    assert_eq!(s.spawner.spawn_count(), 1, "one OpenCode for six workers");
    assert_eq!(s.spawner.host_spawn_count(), 1);
    let prompts = s.spawner.prompts();
    assert_eq!(prompts.len(), 6);
    let mut sessions = std::collections::BTreeSet::new();
    for (id, out) in SIX.iter().zip(&outcomes) {
        let p = prompt_of(&prompts, &out.session_id).expect("the worker's prompt");
        assert_eq!(p.agent().as_deref(), Some(format!("orch-{id}").as_str()));
        assert_eq!(
            p.model(),
            Some(out.resolution.resolved_model.clone()),
            "{id}"
        );
        assert_eq!(out.answered_by, Some(out.resolution.resolved_model.clone()));
        sessions.insert(out.session_id.clone());
    }
    assert_eq!(sessions.len(), 6, "a session per worker");
    // Different workers asked for different models on the one host.
    let models: std::collections::BTreeSet<_> =
        prompts.iter().filter_map(Recorded::model).collect();
    assert!(models.len() >= 3, "{models:?}");

    // The host: spawned like a dedicated worker, an agent per worker, no model baked in.
    let spec = &s.spawner.specs()[0];
    assert_eq!(
        spec.args,
        ["serve", "--hostname", "127.0.0.1", "--port", "0"]
    );
    assert_eq!(var(spec, "OPENCODE_DISABLE_AUTOUPDATE"), "1");
    assert_eq!(var(spec, "OPENCODE_SERVER_PASSWORD").len(), 64);
    assert_eq!(var(spec, "ORCH_DELEGATION_DEPTH"), "0");
    assert!(!var(spec, "ORCH_SOCKET").is_empty());
    assert!(!var(spec, "ORCH_WORKER_OF").is_empty());
    assert!(spec.die_with_parent);
    let c = content(spec);
    assert!(c.get("model").is_none(), "{c}");
    for id in SIX {
        let agent = &c["agent"][format!("orch-{id}")];
        assert!(agent.is_object(), "{id}: {c}");
        assert!(agent.get("model").is_none(), "{agent}");
    }
    assert_eq!(c["agent"]["orch-docs"]["tools"]["edit"], false);
    assert_eq!(c["agent"]["orch-docs"]["permission"]["edit"], "deny");
    assert_eq!(c["mcp"]["orch"]["enabled"], false);

    // Rows: backend shared, all on the host's pid, ready.
    let view = m.workers().await;
    let pid = s.spawner.servers().len();
    assert_eq!(pid, 1);
    let pids: std::collections::BTreeSet<_> = view.workers.iter().map(|w| w.pid).collect();
    assert_eq!(pids.len(), 1, "{pids:?}");
    for w in &view.workers {
        assert_eq!(w.backend, BackendKind::Shared);
        assert_eq!(w.status, WorkerStatus::Ready);
        let hosting = w.hosting.clone().unwrap_or_default();
        assert!(hosting.starts_with("on the shared host (pid "), "{hosting}");
    }
    m.shutdown().await;
    assert!(
        !answers(&s.spawner.servers()[0].url()).await,
        "shutdown stops the host"
    );
}

#[tokio::test]
async fn concurrent_first_tasks_of_six_workers_start_one_host() {
    let s = Setup::new();
    s.spawner.set_spawn_delay(Duration::from_millis(300));
    let m = Arc::new(s.manager());
    let runs: Vec<_> = SIX
        .iter()
        .map(|id| {
            let m = Arc::clone(&m);
            let id = (*id).to_owned();
            tokio::spawn(async move { m.run(task(&id, "hi"), CancellationToken::new()).await })
        })
        .collect();
    for r in runs {
        r.await.expect("joins").expect("the task succeeds");
    }
    assert_eq!(s.spawner.spawn_count(), 1);
}

#[tokio::test]
async fn dedicated_and_delegating_profiles_get_their_own_process() {
    let s = Setup::new();
    write_orchestrator_json(
        &s.paths.project_dir,
        r#"{"profiles": {"coder": {"backend": "server"}, "architect": {"delegate": true},
            "docs": {"prompt": "Cite your sources."}}}"#,
    );
    let m = s.manager();
    let docs = run_task(&m, task("docs", "a")).await;
    let coder = run_task(&m, task("coder", "b")).await;
    let architect = run_task(&m, task("architect", "c")).await;
    let explorer = run_task(&m, task("explorer", "d")).await;
    assert_eq!(
        s.spawner.spawn_count(),
        3,
        "the host, coder's and architect's"
    );
    assert_eq!(s.spawner.host_spawn_count(), 1);
    let specs = s.spawner.specs();
    // The dedicated coder: its model in its config, no host agents, no agent per prompt.
    let coder_spec = specs
        .iter()
        .find(|p| p.worker == "coder")
        .expect("coder's spawn");
    assert_eq!(
        content(coder_spec)["model"],
        coder.resolution.resolved_model
    );
    assert!(content(coder_spec).get("agent").is_none());
    let architect_spec = specs
        .iter()
        .find(|p| p.worker == "architect")
        .expect("architect's own spawn");
    assert_eq!(var(architect_spec, "ORCH_DELEGATION_DEPTH"), "1");
    let prompts = s.spawner.prompts();
    let agent = |out: &orch::workers::RunOutcome| {
        prompt_of(&prompts, &out.session_id).and_then(Recorded::agent)
    };
    assert_eq!(agent(&docs).as_deref(), Some("orch-docs"));
    // The profile's prompt rides on each message, as a dedicated worker's does (an agent's
    // own prompt would replace OpenCode's system prompt).
    let docs_prompt = prompt_of(&prompts, &docs.session_id).expect("docs' prompt");
    assert_eq!(docs_prompt.body["system"], "Cite your sources.");
    assert_eq!(agent(&explorer).as_deref(), Some("orch-explorer"));
    assert_eq!(agent(&coder), None);
    assert_eq!(agent(&architect), None);
    // The host defines no agent for either.
    let host = specs
        .iter()
        .find(|p| p.worker.ends_with("(shared host)"))
        .expect("the host's spawn");
    assert!(content(host)["agent"].get("orch-coder").is_none());
    assert!(content(host)["agent"].get("orch-architect").is_none());
    // Rows say how each is hosted.
    let view = m.workers().await;
    let row = |id: &str| view.clone().into_row(id).expect("a row");
    assert_eq!(row("coder").backend, BackendKind::Server);
    assert_eq!(row("coder").hosting, None);
    let why = row("architect").hosting.unwrap_or_default();
    assert!(
        why.contains("dedicated server") && why.contains("delegates"),
        "{why}"
    );
    assert_ne!(row("architect").pid, row("docs").pid);
    assert_eq!(row("docs").pid, row("explorer").pid);
}

#[tokio::test]
async fn cancelling_one_hosted_worker_leaves_the_other_running() {
    let s = Setup::new();
    s.spawner.set_prompt_delay(Duration::from_millis(1500));
    let m = Arc::new(s.manager());
    let cancel = CancellationToken::new();
    let (m1, m2, token) = (Arc::clone(&m), Arc::clone(&m), cancel.clone());
    let coder = tokio::spawn(async move { m1.run(task("coder", "long"), token).await });
    let docs = tokio::spawn(async move {
        m2.run(task("docs", "long too"), CancellationToken::new())
            .await
    });
    wait_for_prompts(&s.spawner, 2).await;
    cancel.cancel();
    let err = coder
        .await
        .expect("joins")
        .expect_err("the coder's task is cancelled");
    assert!(err.message.contains("cancelled"), "{}", err.message);
    let out = docs
        .await
        .expect("joins")
        .expect("the docs task runs to its end");
    assert_eq!(out.answered_by, Some(out.resolution.resolved_model.clone()));
    let host = &s.spawner.servers()[0];
    let aborted = host.aborted();
    assert_eq!(aborted.len(), 1, "only the coder's session: {aborted:?}");
    assert_ne!(aborted[0], out.session_id);
    assert_eq!(s.spawner.spawn_count(), 1);
}

#[tokio::test]
async fn killing_the_host_fails_its_tasks_fast_and_the_next_task_starts_a_new_host() {
    let s = Setup::new();
    s.spawner.set_prompt_delay(Duration::from_secs(30));
    let m = Arc::new(s.manager());
    let (m1, m2) = (Arc::clone(&m), Arc::clone(&m));
    let coder = tokio::spawn(async move {
        m1.run(task("coder", "long"), CancellationToken::new())
            .await
    });
    let docs =
        tokio::spawn(async move { m2.run(task("docs", "long"), CancellationToken::new()).await });
    wait_for_prompts(&s.spawner, 2).await;
    let pid = m
        .workers()
        .await
        .into_row("coder")
        .and_then(|r| r.pid)
        .expect("the host's pid on the coder's row");
    let (err, took) = kill_during(pid, coder).await;
    assert!(took < Duration::from_secs(5), "{took:?}");
    let want = format!("worker coder: the shared OpenCode host (pid {pid}) exited (");
    assert!(err.message.contains(&want), "{}", err.message);
    assert!(
        err.message.contains("SIGKILL") || err.message.contains("signal"),
        "{}",
        err.message
    );
    let other = tokio::time::timeout(Duration::from_secs(5), docs)
        .await
        .expect("the docs task ends within seconds too")
        .expect("joins")
        .expect_err("the docs task fails with the host");
    assert!(
        other
            .message
            .contains("worker docs: the shared OpenCode host"),
        "{}",
        other.message
    );
    let row = m.workers().await.into_row("coder").expect("a row");
    assert_eq!(row.status, WorkerStatus::Failed);

    s.spawner.set_prompt_delay(Duration::ZERO);
    let out = run_task(&*m, task("coder", "again")).await;
    assert_eq!(out.answered_by.as_deref(), Some("fake/big-pro"));
    assert_eq!(s.spawner.spawn_count(), 2, "a new host");
    assert!(
        out.resolution
            .reason
            .contains("started a new shared host: the previous one"),
        "{}",
        out.resolution.reason
    );
    run_task(&*m, task("docs", "again")).await;
    assert_eq!(s.spawner.spawn_count(), 2, "docs moved to the new host");
}

#[tokio::test]
async fn a_reconfiguration_while_idle_restarts_the_host_and_says_so() {
    let s = Setup::new();
    let m = s.reloading_manager();
    run_task(&m, task("docs", "one")).await;
    let first = s.spawner.servers()[0].url();
    write_orchestrator_json(
        &s.paths.project_dir,
        r#"{"profiles": {"docs": {"tools": {"webfetch": false}}}}"#,
    );
    let out = run_task(&m, task("coder", "two")).await;
    assert!(
        out.resolution
            .reason
            .contains("restarted the shared host: profile docs changed; no task was running"),
        "{}",
        out.resolution.reason
    );
    assert_eq!(s.spawner.host_spawn_count(), 2);
    assert!(!answers(&first).await, "the old host was stopped");
    let c = content(&s.spawner.specs()[1]);
    assert_eq!(c["agent"]["orch-docs"]["tools"]["webfetch"], false);
    let hosting = m
        .workers()
        .await
        .into_row("docs")
        .and_then(|r| r.hosting)
        .unwrap_or_default();
    assert!(hosting.contains("restarted the shared host"), "{hosting}");
    // Unchanged configuration: reused.
    run_task(&m, task("docs", "three")).await;
    assert_eq!(s.spawner.host_spawn_count(), 2);
}

#[tokio::test]
async fn a_reconfiguration_while_a_task_runs_starts_a_second_host_and_never_kills_it() {
    let s = Setup::new();
    // Long enough to still run while the second host starts on a busy machine.
    s.spawner.set_prompt_delay(Duration::from_secs(6));
    let m = Arc::new(s.reloading_manager());
    let runner = Arc::clone(&m);
    let coder = tokio::spawn(async move {
        runner
            .run(task("coder", "long"), CancellationToken::new())
            .await
    });
    wait_for_prompts(&s.spawner, 1).await;
    s.spawner.set_prompt_delay(Duration::ZERO);
    write_orchestrator_json(
        &s.paths.project_dir,
        r#"{"profiles": {"docs": {"tools": {"webfetch": false}}}}"#,
    );
    let out = run_task(&*m, task("docs", "quick")).await;
    assert!(
        out.resolution
            .reason
            .contains("started a second shared host: coder's task is running on the first"),
        "{}",
        out.resolution.reason
    );
    assert_eq!(s.spawner.host_spawn_count(), 2);
    let first = s.spawner.servers()[0].url();
    assert!(
        answers(&first).await,
        "the first host runs on for the coder"
    );
    let hosting = m
        .workers()
        .await
        .into_row("coder")
        .and_then(|r| r.hosting)
        .unwrap_or_default();
    assert!(hosting.contains("a previous host"), "{hosting}");
    let done = coder
        .await
        .expect("joins")
        .expect("the coder's task ends normally on the first host");
    assert_eq!(done.answered_by.as_deref(), Some("fake/big-pro"));
    // Its last task over, the first host is retired.
    wait_until(Poll::default(), async || !answers(&first).await).await;
    // The coder's next task opens a session on the second host: no further spawn.
    run_task(&*m, task("coder", "next")).await;
    assert_eq!(s.spawner.spawn_count(), 2);
}

#[tokio::test]
async fn warming_a_hosted_worker_starts_the_host_and_opens_its_session() {
    let s = Setup::new();
    let m = s.manager();
    let row = m.warm("docs").await.expect("docs warms");
    assert_eq!(row.status, WorkerStatus::Ready);
    assert!(row.session_id.is_some() && row.pid.is_some());
    let coder = m.warm("coder").await.expect("coder warms");
    assert_eq!(coder.pid, row.pid);
    assert_ne!(coder.session_id, row.session_id);
    assert_eq!(s.spawner.spawn_count(), 1);
    assert!(s.spawner.prompts().is_empty(), "warming sends no task");
    let out = run_task(&m, task("docs", "now")).await;
    assert_eq!(
        Some(out.session_id),
        row.session_id,
        "the warmed session is used"
    );
}

#[tokio::test]
async fn the_hosts_config_never_carries_a_secret_of_the_environment() {
    let s = Setup::new();
    let mut config = s.config();
    // Keys in the environment (and one the user's inline config names by reference).
    config.env.set("GROQ_API_KEY", FAKE_SECRETS[0]);
    config.env.set(
        "OPENCODE_CONFIG_CONTENT",
        r#"{"provider": {"groq": {"options": {"apiKey": "{env:GROQ_API_KEY}"}}}}"#,
    );
    let knowledge = Knowledge::load_local(&s.paths, &config.env).expect("knowledge");
    let m = Manager::new(
        config,
        KnowledgeSource::fixed(knowledge),
        s.spawner.clone(),
        FakeClock::at(1_800_000_000_000),
    );
    run_task(&m, task("docs", "a")).await;
    run_task(&m, task("coder", "b")).await;
    let spec = &s.spawner.specs()[0];
    let text = var(spec, "OPENCODE_CONFIG_CONTENT");
    for secret in FAKE_SECRETS {
        assert!(!text.contains(secret), "the host's config leaks {secret}");
    }
    assert!(!text.contains(&var(spec, "OPENCODE_SERVER_PASSWORD")));
    assert!(
        text.contains("{env:GROQ_API_KEY}"),
        "the reference stays a reference"
    );
    let registry = orch::workers::registry::Registry::new(&s.paths.backend_state_dir());
    let shown = format!(
        "{:?} {:?}",
        m.workers().await,
        registry.list().expect("registry")
    );
    assert!(
        !shown.contains(&var(spec, "OPENCODE_SERVER_PASSWORD")),
        "{shown}"
    );
    assert!(
        shown.contains("@shared-host"),
        "the host is registered: {shown}"
    );
}

#[tokio::test]
async fn a_kept_host_is_reused_by_the_next_manager_and_a_changed_one_is_not() {
    let s = Setup::new();
    let mut config = s.config();
    config.keep_workers = true;
    let knowledge = || Knowledge::load_local(&s.paths, &s.env).expect("knowledge");
    let manager = |config: ManagerConfig| {
        Manager::new(
            config,
            KnowledgeSource::fixed(knowledge()),
            s.spawner.clone(),
            FakeClock::at(1_800_000_000_000),
        )
    };
    let first = manager(config.clone());
    run_task(&first, task("docs", "one")).await;
    let pid = first.workers().await.into_row("docs").and_then(|r| r.pid);
    first.shutdown().await;
    drop(first);
    let url = s.spawner.servers()[0].url();
    assert!(answers(&url).await, "a kept host outlives its manager");

    let second = manager(config.clone());
    run_task(&second, task("coder", "two")).await;
    assert_eq!(s.spawner.spawn_count(), 1, "the kept host was reused");
    assert_eq!(
        second.workers().await.into_row("coder").and_then(|r| r.pid),
        pid
    );
    second.shutdown().await;
    drop(second);

    // Another configuration: the kept host is stopped, not reused, not leaked.
    write_orchestrator_json(
        &s.paths.project_dir,
        r#"{"profiles": {"docs": {"tools": {"webfetch": false}}}}"#,
    );
    config.keep_workers = false;
    let third = manager(config);
    run_task(&third, task("docs", "three")).await;
    assert_eq!(s.spawner.spawn_count(), 2);
    assert!(!answers(&url).await, "the mismatched kept host was stopped");
    third.shutdown().await;
}

#[tokio::test]
async fn a_profile_naming_its_own_opencode_agent_keeps_a_dedicated_server() {
    let s = Setup::new();
    write_orchestrator_json(
        &s.paths.project_dir,
        r#"{"profiles": {"docs": {"agent": "plan"}}}"#,
    );
    let m = s.manager();
    let docs = run_task(&m, task("docs", "a")).await;
    let coder = run_task(&m, task("coder", "b")).await;
    assert_eq!(s.spawner.spawn_count(), 2, "docs' own server and the host");
    let prompts = s.spawner.prompts();
    let agent = |session: &str| prompt_of(&prompts, session).and_then(Recorded::agent);
    assert_eq!(agent(&docs.session_id).as_deref(), Some("plan"));
    assert_eq!(agent(&coder.session_id).as_deref(), Some("orch-coder"));
    let why = m
        .workers()
        .await
        .into_row("docs")
        .and_then(|r| r.hosting)
        .unwrap_or_default();
    assert!(
        why.contains("dedicated server") && why.contains("\"plan\""),
        "{why}"
    );
}
