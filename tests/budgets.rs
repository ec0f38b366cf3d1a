//! Budgets (issue 12) through the backend on a socket, the real worker manager and the fake
//! OpenCode reporting a cost per answer: a budget of a few cents lets the task that crosses
//! it complete and refuses the next, naming the budget and when it resets; with
//! `"over": "downgrade"` the next runs on the worker's cheapest fitting model and its reason
//! says so; a vision worker is never downgraded to a model without image input.

use std::sync::Arc;
use std::time::Duration;

use orch::api::Orchestrator;
use orch::budget::State;
use orch::client::SocketClient;
use orch::error::ErrorKind;
use orch::knowledge::Knowledge;
use orch::tasks::Limits;
use orch::testutil::fake_spawner::FakeSpawner;
use orch::testutil::served::Served;
use orch::testutil::{capture_home, task, write_orchestrator_json};
use orch::wire::{TaskRow, TaskStatus};

/// Every answer of the fake OpenCode costs this much (OpenCode's own figure).
const COST: f64 = 0.02;

struct Backend {
    _dir: tempfile::TempDir,
    served: Served<orch::workers::Manager<FakeSpawner, orch::clock::FakeClock>>,
    knowledge: Knowledge,
    paths: orch::paths::Paths,
    env: orch::paths::Environment,
    limits: Limits,
}

impl Backend {
    fn start(orchestrator: &str, priced: &[&str]) -> Self {
        Self::start_limited(orchestrator, priced, Limits::default())
    }

    /// [`Self::start`] with these limits (`finished_capacity` is also the store's bound).
    #[expect(clippy::expect_used, reason = "test helper")]
    fn start_limited(orchestrator: &str, priced: &[&str], limits: Limits) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (paths, env) = capture_home(dir.path());
        without_zen(&paths.project_dir);
        write_orchestrator_json(&paths.project_dir, orchestrator);
        let spawner = FakeSpawner::new();
        for model in priced {
            spawner.report_cost(model, COST);
        }
        let knowledge = Knowledge::load_local(&paths, &env).expect("the knowledge loads");
        let manager = spawner.manager(&paths, &env);
        let served = Served::start(Arc::new(manager), &paths, limits);
        Self {
            _dir: dir,
            served,
            knowledge,
            paths,
            env,
            limits,
        }
    }

    /// Stops the backend and starts another on the same project (a restart).
    async fn restart(mut self) -> Self {
        let served = self.served;
        served.stop().await;
        let manager = FakeSpawner::new().manager(&self.paths, &self.env);
        self.served = Served::start(Arc::new(manager), &self.paths, self.limits);
        self
    }

    /// Whether `model` (`provider/model`) takes image input, by the catalog.
    fn has_image_input(&self, model: &str) -> bool {
        let (p, m) = model.split_once('/').unwrap_or((model, ""));
        self.knowledge
            .resolver
            .find_model(p, m)
            .is_some_and(|m| m.has_image_input())
    }
}

/// Disables OpenCode Zen (`opencode`, usable without a key) in the project's config: its
/// free models would be every worker's cheapest, and the tests want priced ones.
#[expect(clippy::expect_used, reason = "test helper")]
fn without_zen(project: &std::path::Path) {
    let path = project.join("opencode.json");
    let text = std::fs::read_to_string(&path).expect("the capture's opencode.json");
    let mut config: serde_json::Value = serde_json::from_str(&text).expect("it parses");
    config["disabled_providers"] = serde_json::json!(["opencode"]);
    std::fs::write(&path, config.to_string()).expect("opencode.json written");
}

/// Starts a task on `worker` and waits for it; the start's error when it is refused.
#[expect(clippy::expect_used, reason = "test helper")]
async fn run_on(c: &SocketClient, worker: &str, text: &str) -> Result<TaskRow, orch::Error> {
    let started = c.run(&task(worker, text)).await?;
    let view = c
        .await_tasks(std::slice::from_ref(&started.id), Duration::from_secs(30))
        .await
        .expect("the task is awaited");
    Ok(view.tasks.into_iter().next().expect("the task's row"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_of_a_few_cents_lets_the_crossing_task_complete_and_refuses_the_next() {
    // coder's model is `node`, OpenCode's `model`: fake/big-pro, $0.02 an answer.
    let b = Backend::start(
        r#"{"profiles": {"coder": {"budget": {"day": {"usd": 0.05}}}}}"#,
        &["fake/big-pro"],
    );
    let c = b.served.client().await;
    // $0.02, $0.04: under the limit (the second at 80 %: a warning).
    for n in 1..=2 {
        let t = run_on(&c, "coder", &format!("task {n}"))
            .await
            .expect("under the budget: started");
        assert_eq!(t.status, TaskStatus::Succeeded, "{t:?}");
        assert_eq!(t.usage.and_then(|u| u.cost_usd), Some(COST));
    }
    let workers = c.workers().await.expect("the workers view");
    let row = workers.into_row("coder").expect("coder's row");
    let budget = row.budget.expect("coder's row carries its budget");
    assert_eq!(budget.state, State::Warn, "{budget:?}");
    assert!((budget.spent - 0.04).abs() < 1e-12, "{budget:?}");
    assert_eq!(budget.limit, 0.05);
    let status = c.status().await.expect("the status view");
    assert!(
        status
            .warnings
            .iter()
            .any(|w| w.starts_with("budget: worker coder: $0.0400 of $0.0500 per day (80 %)")),
        "{:?}",
        status.warnings
    );
    // The third starts at $0.04 (< $0.05) and crosses the limit: it completes.
    let t = run_on(&c, "coder", "task 3")
        .await
        .expect("still under the budget when it starts");
    assert_eq!(
        t.status,
        TaskStatus::Succeeded,
        "the crossing task completes: {t:?}"
    );
    // The fourth is refused, naming the budget, the spending and the reset.
    let err = run_on(&c, "coder", "task 4")
        .await
        .expect_err("over the budget: refused");
    assert_eq!(err.kind, ErrorKind::Budget, "{err:?}");
    assert!(
        err.message.starts_with(
            "budget reached: worker coder's daily budget of $0.0500 is spent ($0.0600 today (UTC) by 3 tasks); new tasks on coder are refused until it resets at "
        ),
        "{}",
        err.message
    );
    assert!(err.message.contains(" 00:00 UTC"), "{}", err.message);
    let json = serde_json::to_value(c.workers().await.expect("workers")).expect("serializes");
    let coder = json["workers"]
        .as_array()
        .and_then(|w| w.iter().find(|w| w["id"] == "coder"))
        .expect("coder in the JSON view");
    assert_eq!(coder["budget"]["state"], "over", "{coder}");
    assert_eq!(coder["budget"]["period"], "day");
    assert_eq!(coder["budget"]["unit"], "usd");
    assert!(
        coder["budget"]["resetsAt"]
            .as_str()
            .is_some_and(|r| r.ends_with("T00:00:00Z"))
    );
    // Another worker without a budget is not concerned, and has no budget field.
    let docs = json["workers"]
        .as_array()
        .and_then(|w| w.iter().find(|w| w["id"] == "docs"))
        .expect("docs");
    assert!(docs.get("budget").is_none(), "{docs}");
    let t = run_on(&c, "docs", "no budget here")
        .await
        .expect("docs runs");
    assert_eq!(t.status, TaskStatus::Succeeded);
    c.close().await;
    // The spending is read from the task records: a new backend refuses as well.
    let b = b.restart().await;
    let c = b.served.client().await;
    let err = run_on(&c, "coder", "after a restart")
        .await
        .expect_err("still over the budget after a restart");
    assert_eq!(err.kind, ErrorKind::Budget, "{err:?}");
    assert!(
        err.message.contains("($0.0600 today (UTC) by 3 tasks)"),
        "{}",
        err.message
    );
    c.close().await;
    b.served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_downgrade_the_next_task_runs_on_the_cheapest_fitting_model_and_says_so() {
    let b = Backend::start(
        r#"{"budget": {"month": {"tokens": 20}},
            "profiles": {"coder": {"budget": {"day": {"usd": 0.03}, "over": "downgrade"}},
                         "vision": {"budget": {"over": "downgrade"}}}}"#,
        &["fake/big-pro", "fake/vision-pro"],
    );
    let c = b.served.client().await;
    let first = run_on(&c, "coder", "one").await.expect("under: started");
    assert_eq!(first.answered_by.as_deref(), Some("fake/big-pro"));
    let second = run_on(&c, "coder", "two").await.expect("under: started");
    assert_eq!(
        second.answered_by.as_deref(),
        Some("fake/big-pro"),
        "it crosses and completes"
    );
    // Over its own budget ($0.04 of $0.03): coder downgrades. (The project has 16 of its 20
    // tokens a month: 8 a task.)
    let cheap = run_on(&c, "coder", "three")
        .await
        .expect("downgraded, not refused");
    assert_eq!(cheap.status, TaskStatus::Succeeded, "{cheap:?}");
    let model = cheap.answered_by.clone().expect("a model answered");
    assert_ne!(model, "fake/big-pro");
    let reason = cheap.reason.clone().unwrap_or_default();
    assert!(
        reason.starts_with("budget reached (")
            && reason.contains(&format!("downgraded to {model} (cheapest that fits, $")),
        "{reason}"
    );
    assert!(reason.contains("per Mtok"), "{reason}");
    let expected = b
        .knowledge
        .resolver
        .resolve_spec(
            &orch::profiles::ModelSpec::One("node:cheap".into()),
            b.knowledge.profiles.get("coder"),
            Default::default(),
        )
        .expect("node:cheap resolves for coder");
    assert_eq!(
        model, expected.resolved_model,
        "the node:cheap model of coder"
    );

    // Now the project's token budget is spent too (24 of 20). The vision worker says
    // downgrade: it runs on a model with image input, never on the text-only cheapest.
    let seen = run_on(&c, "vision", "describe")
        .await
        .expect("downgraded, not refused");
    assert_eq!(seen.status, TaskStatus::Succeeded, "{seen:?}");
    let vmodel = seen.answered_by.clone().expect("a model answered");
    assert!(b.has_image_input(&vmodel), "{vmodel} takes images");
    assert_ne!(vmodel, model, "not coder's text-only cheapest");
    assert!(
        seen.reason.as_deref().is_some_and(
            |r| r.contains("the project: ") && r.contains(&format!("downgraded to {vmodel}"))
        ),
        "{:?}",
        seen.reason
    );
    // A worker without a policy of its own is refused by the project's budget (4 tasks of
    // 8 tokens).
    eprintln!("coder downgraded to {model}; vision to {vmodel}");
    let err = run_on(&c, "docs", "refused").await.expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Budget);
    assert!(
        err.message.contains("the project's monthly budget of 20 tokens is spent (32 tokens this month (UTC) by 4 tasks)"),
        "{}",
        err.message
    );
    assert!(err.message.contains("resets at "), "{}", err.message);
    c.close().await;
    b.served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vision_worker_with_no_priced_image_model_is_refused_not_downgraded() {
    // Only the fake provider is usable here (no openai key, no groq variable): its models
    // have no price, so node:cheap finds nothing that fits, and the task is refused.
    let dir = tempfile::tempdir().expect("a temp dir");
    orch::testutil::write_capture_files(dir.path());
    let env = orch::paths::Environment::from_pairs([
        (
            "HOME".to_owned(),
            dir.path().join("home").display().to_string(),
        ),
        ("TMPDIR".to_owned(), dir.path().display().to_string()),
    ]);
    let paths = orch::paths::Paths::resolve(&env, dir.path().join("project"));
    std::fs::write(
        dir.path().join("home/.local/share/opencode/auth.json"),
        "{}",
    )
    .expect("auth.json emptied");
    without_zen(&paths.project_dir);
    write_orchestrator_json(
        &paths.project_dir,
        r#"{"profiles": {"vision": {"budget": {"day": {"usd": 0}, "over": "downgrade"}}}}"#,
    );
    let spawner = FakeSpawner::new();
    let served = Served::start(
        Arc::new(spawner.manager(&paths, &env)),
        &paths,
        Limits::default(),
    );
    let c = served.client().await;
    let err = run_on(&c, "vision", "describe").await.expect_err("refused");
    assert_eq!(err.kind, ErrorKind::Budget, "{err:?}");
    assert!(
        err.message
            .contains("worker vision's daily budget of $0.00 is spent")
            && err
                .message
                .contains("and no model fits it to downgrade to: "),
        "{}",
        err.message
    );
    assert!(spawner.prompts().is_empty(), "nothing ran");
    c.close().await;
    served.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monthly_budget_still_refuses_after_the_crossing_tasks_were_compacted_away() {
    // The store keeps 2 finished tasks (3 before it compacts) and the backend holds 2: the
    // three coder tasks that spent the budget are gone from both once docs has run four.
    let limits = Limits {
        finished_capacity: 2,
        ..Limits::default()
    };
    let b = Backend::start_limited(
        r#"{"profiles": {"coder": {"budget": {"month": {"usd": 0.05}}}}}"#,
        &["fake/big-pro"],
        limits,
    );
    let c = b.served.client().await;
    for n in 1..=3 {
        let t = run_on(&c, "coder", &format!("task {n}"))
            .await
            .expect("under the budget: started");
        assert_eq!(t.status, TaskStatus::Succeeded, "{t:?}");
    }
    for n in 1..=4 {
        let t = run_on(&c, "docs", &format!("docs {n}"))
            .await
            .expect("docs has no budget");
        assert_eq!(t.status, TaskStatus::Succeeded, "{t:?}");
    }
    let tasks_dir = b.paths.project_state_dir().join("tasks");
    let records = std::fs::read_to_string(tasks_dir.join("records.jsonl")).expect("the records");
    assert!(
        !records.contains("\"worker\":\"coder\""),
        "coder's records were compacted away: {records}"
    );
    let ledger =
        std::fs::read_to_string(tasks_dir.join("usage-ledger.jsonl")).expect("the usage ledger");
    assert_eq!(
        ledger.matches("\"worker\":\"coder\"").count(),
        3,
        "{ledger}"
    );
    let err = run_on(&c, "coder", "over")
        .await
        .expect_err("the ledger still counts the month's spending");
    assert_eq!(err.kind, ErrorKind::Budget, "{err:?}");
    assert!(err.message.contains("$0.0600"), "{}", err.message);
    // The all-time totals count every task.
    let usage = c
        .usage(orch::usage::By::Worker)
        .await
        .expect("the usage view");
    assert_eq!(usage.total.tasks, 7, "{usage:?}");
    let b = b.restart().await;
    let c = b.served.client().await;
    let err = run_on(&c, "coder", "after a restart")
        .await
        .expect_err("still over the budget after a restart");
    assert_eq!(err.kind, ErrorKind::Budget, "{err:?}");
    b.served.stop().await;
}
