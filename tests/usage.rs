//! Per-task usage (issue 12) through the worker manager over the fake OpenCode: tokens
//! from OpenCode's assistant message, its cost when it reports one, an estimate from the
//! catalog prices when it reports 0, and `null` (never 0) for a model without prices.

use orch::clock::FakeClock;
use orch::knowledge::KnowledgeSource;
use orch::testutil::fake_spawner::FakeSpawner;
use orch::testutil::managed::FakeProject;
use orch::testutil::{capture_home, fixture, run_task, task};
use orch::workers::{Manager, RunRequest};
use serde_json::Value;

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

    fn manager(&self) -> Manager<FakeSpawner, FakeClock> {
        Manager::new(
            self.fallback_config(),
            KnowledgeSource::fixed(self.knowledge()),
            self.spawner.clone(),
            FakeClock::at(1_800_000_000_000),
        )
    }
}

fn on(worker: &str, model: &str, text: &str) -> RunRequest {
    RunRequest {
        model: Some(model.into()),
        ..task(worker, text)
    }
}

#[tokio::test]
async fn each_task_reports_tokens_and_a_cost_that_is_reported_estimated_or_unknown() {
    let s = Setup::new();
    let m = s.manager();

    // The fake provider's models have no prices and OpenCode reports 0: unknown, not 0.
    let out = run_task(&m, on("coder", "fake/big-pro", "one")).await;
    let u = out.usage.expect("an answered task has usage");
    // The capture's figures: 5 in, 3 out.
    assert_eq!(
        (u.input, u.output, u.reasoning, u.cache_read, u.cache_write),
        (Some(5), Some(3), Some(0), Some(0), Some(0))
    );
    assert_eq!(u.cost_usd, None);
    assert!(u.total_ms.is_some());
    let json = serde_json::to_value(&u).expect("serializes");
    assert_eq!(json["cost_usd"], Value::Null);

    // A priced model (openai/gpt-4o: $2.5 in, $10 out per M) with OpenCode reporting 0:
    // computed from the catalog and marked as an estimate.
    let out = run_task(&m, on("coder", "openai/gpt-4o", "two")).await;
    let u = out.usage.expect("usage");
    let want = (5.0 * 2.5 + 3.0 * 10.0) / 1_000_000.0;
    let got = u.cost_usd.expect("an estimate");
    assert!((got - want).abs() < 1e-12, "{got} != {want}");
    assert!(u.estimated);

    // OpenCode's own figure wins when it reports one.
    s.spawner.report_cost("fake/big-pro", 0.0123);
    let out = run_task(&m, on("coder", "fake/big-pro", "three")).await;
    let u = out.usage.expect("usage");
    assert_eq!(u.cost_usd, Some(0.0123));
    assert!(!u.estimated);
}

#[tokio::test]
async fn after_a_fallback_the_answering_attempt_carries_the_usage() {
    let s = Setup::new();
    let m = s.manager();
    let reply: Value =
        serde_json::from_str(&fixture("prompt-error-429.json")).expect("the capture parses");
    s.spawner
        .fail_model("fake/big-pro", reply["info"]["error"].clone());
    let out = run_task(&m, on("coder", "fake/big-pro, openai/gpt-4o", "fix it")).await;
    assert_eq!(out.attempts.len(), 2);
    assert_eq!(out.attempts[0].usage, None, "a failed attempt has no usage");
    let answered = out.attempts[1].usage.clone().expect("the answer's usage");
    assert!(answered.estimated);
    let task_usage = out.usage.expect("the task's usage");
    assert_eq!(task_usage.cost_usd, answered.cost_usd);
    assert_eq!(task_usage.input, Some(5));
}

#[tokio::test]
async fn usage_totals_come_through_the_socket_from_the_records_and_survive_a_restart() {
    use orch::api::Orchestrator;
    use orch::testutil::fake_workers::FakeWorkers;
    use orch::testutil::served::Served;
    use orch::usage::{By, Usage};
    use std::sync::Arc;

    let dir = tempfile::tempdir().expect("a temp dir");
    let (paths, env) = capture_home(dir.path());
    let fake =
        || FakeWorkers::new(orch::knowledge::Knowledge::load_local(&paths, &env).expect("loads"));
    let first = Served::start(Arc::new(fake()), &paths, orch::tasks::Limits::default());
    let store = first
        .backend
        .tasks()
        .store()
        .expect("the backend keeps records");
    let usage = |input, cost| Usage {
        input: Some(input),
        output: Some(3),
        reasoning: Some(0),
        cache_read: Some(0),
        cache_write: Some(0),
        cost_usd: cost,
        ..Usage::default()
    };
    // Three tasks on two workers; one model without prices (cost unknown).
    for (worker, model, input, cost) in [
        ("coder", "openai/gpt-4o", 5, Some(0.0000425)),
        ("docs", "fake/big-pro", 7, None),
        ("coder", "openai/gpt-4o", 5, Some(0.0000425)),
    ] {
        let id = store.next_id().expect("an id");
        let row = orch::wire::TaskRow {
            status: orch::wire::TaskStatus::Succeeded,
            answered_by: Some(model.to_owned()),
            finished_at_ms: Some(1_795_525_344_965),
            usage: Some(usage(input, cost)),
            ..orch::wire::TaskRow::queued(orch::wire::TaskKind::Worker, worker, None, 1)
        };
        store.save(id, &row).expect("saved");
    }
    let client = first.client().await;
    let view = client.usage(By::Worker).await.expect("the usage view");
    type Row<'a> = (&'a str, u64, Option<u64>, Option<u64>, Option<f64>);
    let rows: Vec<Row<'_>> = view
        .rows
        .iter()
        .map(|r| {
            (
                r.key.as_str(),
                r.tasks,
                r.usage.input,
                r.usage.output,
                r.usage.cost_usd,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("coder", 2, Some(10), Some(6), Some(0.000085)),
            ("docs", 1, Some(7), Some(3), None)
        ]
    );
    assert_eq!((view.total.tasks, view.total.usage.input), (3, Some(17)));
    client.close().await;
    first.stop().await;

    let second = Served::start(Arc::new(fake()), &paths, orch::tasks::Limits::default());
    let client = second.client().await;
    let by_model = client.usage(By::Model).await.expect("the usage view");
    let keys: Vec<&str> = by_model.rows.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["fake/big-pro", "openai/gpt-4o"]);
    assert_eq!(by_model.rows[0].usage.cost_usd, None, "unknown, not 0");
    let by_day = client.usage(By::Day).await.expect("the usage view");
    assert_eq!(by_day.rows[0].key, "2026-11-24");
    let text = orch::usage::render(&by_model, orch::wire::Format::Markdown);
    assert!(text.contains("| fake/big-pro | 1 |"), "{text}");
    client.close().await;
    second.stop().await;
}

/// The windows through the backend: exact today / 7 days / all time at a given time
/// (`Tasks::usage_at`), none for `by` day, and the workers view (over the socket) carrying
/// each worker's and the project's figures, a worker without tasks none.
#[tokio::test]
async fn usage_windows_follow_the_clock_given_and_reach_the_workers_view() {
    use orch::api::Orchestrator;
    use orch::testutil::fake_workers::FakeWorkers;
    use orch::testutil::served::Served;
    use orch::usage::{By, Usage};
    use std::sync::Arc;

    const DAY: u64 = 86_400_000;
    // 2026-11-27 00:00 UTC.
    let today = 1_795_737_600_000;
    let dir = tempfile::tempdir().expect("a temp dir");
    let (paths, env) = capture_home(dir.path());
    let served = Served::start(
        Arc::new(FakeWorkers::new(
            orch::knowledge::Knowledge::load_local(&paths, &env).expect("loads"),
        )),
        &paths,
        orch::tasks::Limits::default(),
    );
    let tasks = served.backend.tasks();
    let store = tasks.store().expect("the backend keeps records");
    for (worker, at, cost) in [
        ("coder", today + 10, Some(0.5)),
        ("coder", today - 3 * DAY, None),
        ("docs", today - 30 * DAY, Some(2.0)),
    ] {
        let id = store.next_id().expect("an id");
        let row = orch::wire::TaskRow {
            status: orch::wire::TaskStatus::Succeeded,
            finished_at_ms: Some(at),
            usage: Some(Usage {
                input: Some(100),
                output: Some(10),
                cost_usd: cost,
                ..Usage::default()
            }),
            ..orch::wire::TaskRow::queued(orch::wire::TaskKind::Worker, worker, None, 1)
        };
        store.save(id, &row).expect("saved");
    }
    let view = tasks.usage_at(By::Worker, today + DAY - 1).expect("usage");
    let w = view.windows.expect("windows");
    assert_eq!(w.today, "2026-11-27");
    let coder = w.of("coder").expect("coder");
    assert_eq!(
        (coder.today.tasks, coder.today.usage.cost_usd),
        (1, Some(0.5))
    );
    assert_eq!(
        (coder.last_7_days.tasks, coder.last_7_days.unknown_cost),
        (2, 1)
    );
    let docs = w.of("docs").expect("docs");
    assert_eq!((docs.last_7_days.tasks, docs.all_time.tasks), (0, 1));
    assert_eq!(w.project.all_time.usage.cost_usd, Some(2.5));
    assert_eq!(w.project.all_time.usage.input, Some(300));
    // The next UTC day: nothing today.
    let next = tasks.usage_at(By::Worker, today + DAY).expect("usage");
    assert_eq!(next.windows.expect("windows").project.today.tasks, 0);
    assert!(
        tasks
            .usage_at(By::Day, today)
            .expect("usage")
            .windows
            .is_none()
    );

    let client = served.client().await;
    let workers = client.workers().await.expect("the workers view");
    let row = |id: &str| workers.workers.iter().find(|w| w.id == id).cloned();
    let coder = row("coder").and_then(|w| w.usage).expect("coder's usage");
    assert_eq!((coder.all_time.tasks, coder.all_time.unknown_cost), (2, 1));
    assert_eq!(row("explorer").map(|w| w.usage.is_none()), Some(true));
    let project = workers.usage.expect("the project's usage").project;
    assert_eq!(
        (project.all_time.tasks, project.all_time.usage.cost_usd),
        (3, Some(2.5))
    );
    client.close().await;
    served.stop().await;
}
