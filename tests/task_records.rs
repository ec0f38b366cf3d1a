//! Durable task records through the real socket: a backend served in process, stopped, and
//! served again on the same directories keeps the finished tasks with their output, the
//! reason a task was cancelled, and gives ids that were never given; what it stores on disk
//! is redacted.

use std::sync::Arc;
use std::time::Duration;

use orch::api::Orchestrator;
use orch::knowledge::Knowledge;
use orch::paths::{Environment, Paths};
use orch::redact::Redactor;
use orch::tasks::{Limits, Tasks};
use orch::testutil::fake_workers::FakeWorkers;
use orch::testutil::served::Served;
use orch::testutil::{FAKE_SECRETS, assert_no_secret, capture_home, text_files_under};
use orch::wire::{TaskListKind, TaskRow, TaskStatus, TasksQuery};
use orch::workers::RunRequest;

#[expect(clippy::expect_used, reason = "test helper")]
fn fake(paths: &Paths, env: &Environment) -> FakeWorkers {
    let knowledge = Knowledge::load_local(paths, env).expect("the captured home loads");
    let redactor = Redactor::new();
    redactor.learn(paths, env, knowledge.resolver.set());
    FakeWorkers::new(knowledge).with_redactor(redactor)
}

fn run(worker: &str, task: &str) -> RunRequest {
    RunRequest {
        worker: worker.into(),
        task: task.into(),
        auto_spawn: true,
        ..RunRequest::default()
    }
}

#[expect(clippy::expect_used, reason = "test helper")]
async fn run_to_end(client: &impl Orchestrator, worker: &str, task: &str) -> TaskRow {
    let row = client
        .run(&run(worker, task))
        .await
        .expect("the task starts");
    let done = client
        .await_tasks(std::slice::from_ref(&row.id), Duration::from_secs(10))
        .await
        .expect("the task is known");
    done.tasks.into_iter().next().expect("one row")
}

fn all_with_output() -> TasksQuery {
    TasksQuery {
        kind: TaskListKind::All,
        output: true,
        ..TasksQuery::default()
    }
}

#[tokio::test]
async fn a_restarted_backend_keeps_finished_tasks_with_their_output_and_new_ids() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (paths, env) = capture_home(dir.path());
    let first_fake = fake(&paths, &env);
    let first = Served::start(Arc::new(first_fake.clone()), &paths, Limits::default());
    let client = first.client().await;
    let done = run_to_end(&client, "docs", "write the readme").await;
    assert_eq!(done.status, TaskStatus::Succeeded);
    let answer = done.output.clone().expect("an answer");
    let op = client
        .set_model(&orch::testutil::set_model(
            "coder",
            "groq/llama-3.1-8b-instant",
            orch::resolve::Policy::Sticky,
        ))
        .await
        .expect("the model changes");
    assert_eq!(op.id, "coder");
    // A task cancelled by a caller: its reason is recorded.
    first_fake.set_hold(true);
    let held = client
        .run(&run("explorer", "look around"))
        .await
        .expect("starts");
    client
        .cancel(std::slice::from_ref(&held.id))
        .await
        .expect("cancelled");
    // A task cancelled because the backend stops (`orch stop`): that reason is recorded.
    let stopped = client
        .run(&run("memory", "remember this"))
        .await
        .expect("starts");
    assert_eq!(
        first
            .backend
            .tasks()
            .cancel_all("the backend is stopping (orch stop)"),
        1
    );
    client.close().await;
    first.stop().await;

    let second = Served::start(Arc::new(fake(&paths, &env)), &paths, Limits::default());
    let client = second.client().await;
    let kept = client
        .await_tasks(&[done.id.clone(), held.id.clone()], Duration::ZERO)
        .await
        .expect("the earlier tasks are known");
    assert_eq!(kept.tasks[0].status, TaskStatus::Succeeded);
    assert_eq!(kept.tasks[0].output.as_deref(), Some(answer.as_str()));
    assert_eq!(kept.tasks[0].task.as_deref(), Some("write the readme"));
    assert_eq!(kept.tasks[0].resolved_model, done.resolved_model);
    assert_eq!(kept.tasks[0].answered_by, done.answered_by);
    assert_eq!(kept.tasks[0].reason, done.reason);
    assert_eq!(kept.tasks[1].status, TaskStatus::Cancelled);
    let why = kept.tasks[1].error.as_ref().expect("why it was cancelled");
    assert!(why.message.contains("cancelled by a caller"), "{why:?}");
    let kept_stopped = client
        .await_tasks(std::slice::from_ref(&stopped.id), Duration::ZERO)
        .await
        .expect("the stopped task is known");
    assert_eq!(kept_stopped.tasks[0].status, TaskStatus::Cancelled);
    assert_eq!(
        kept_stopped.tasks[0]
            .error
            .as_ref()
            .map(|e| e.message.as_str()),
        Some("the backend is stopping (orch stop)")
    );

    // The list: tasks and operations apart, outputs with them when asked.
    let all = client.tasks(&all_with_output()).await.expect("the list");
    assert_eq!(all.total, 4);
    let ids: Vec<&str> = all.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["t4", "t3", "t2", "t1"]);
    assert_eq!(all.tasks[3].output.as_deref(), Some(answer.as_str()));
    let tasks = client
        .tasks(&TasksQuery {
            kind: TaskListKind::Task,
            ..TasksQuery::default()
        })
        .await
        .expect("the list");
    assert_eq!(tasks.total, 3);
    assert!(
        tasks
            .tasks
            .iter()
            .all(|t| t.op.is_none() && t.output.is_none())
    );
    let ops = client
        .tasks(&TasksQuery {
            kind: TaskListKind::Op,
            ..TasksQuery::default()
        })
        .await
        .expect("the list");
    assert_eq!(ops.total, 1);
    assert_eq!(ops.tasks[0].id, "t2");
    assert!(
        ops.tasks[0].worker_row.is_some(),
        "an op keeps its worker row"
    );

    // Ids go on from the earlier backend's.
    let next = run_to_end(&client, "docs", "again").await;
    assert_eq!(next.id, "t5");
    let status = client.status().await.expect("status");
    assert_eq!(status.kept_tasks, 5);
    client.close().await;
    second.stop().await;
}

#[tokio::test]
async fn a_secret_in_a_task_or_its_output_is_redacted_before_it_is_stored() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (paths, env) = capture_home(dir.path());
    let served = Served::start(Arc::new(fake(&paths, &env)), &paths, Limits::default());
    let client = served.client().await;
    let key = FAKE_SECRETS[0];
    // The fake answers with the task text, so the output holds the key too.
    let done = run_to_end(
        &client,
        "explorer",
        &format!("the provider said: Incorrect API key provided: {key}"),
    )
    .await;
    assert!(
        done.output
            .as_deref()
            .is_some_and(|o| o.contains("Incorrect API key provided: [REDACTED]")),
        "{:?}",
        done.output
    );
    client.close().await;
    served.stop().await;
    let store = paths.project_state_dir().join("tasks");
    let files = text_files_under(&store);
    assert!(
        files
            .iter()
            .any(|(p, t)| p.ends_with(".out") && t.contains("[REDACTED]")),
        "the output is stored: {files:?}"
    );
    for (path, text) in files {
        assert_no_secret(&path, &text);
    }
}

#[tokio::test]
async fn a_list_carries_at_most_one_mib_of_outputs() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (paths, env) = capture_home(dir.path());
    let served = Served::start(Arc::new(fake(&paths, &env)), &paths, Limits::default());
    let client = served.client().await;
    // The fake echoes its task's kept head (4 KiB): 300 of them pass 1 MiB.
    let text = "y".repeat(orch::tasks::MAX_KEPT_TASK_BYTES);
    let mut ids = Vec::new();
    for _ in 0..300 {
        ids.push(client.run(&run("docs", &text)).await.expect("starts").id);
    }
    let tasks = served.backend.tasks().clone();
    let done = tasks
        .wait(&ids, Duration::from_secs(60), false)
        .await
        .expect("the tasks are known");
    assert!(!done.timed_out, "the tasks finished");
    let view = tasks.list(&TasksQuery {
        output: true,
        limit: Some(300),
        ..TasksQuery::default()
    });
    let carried: usize = view
        .tasks
        .iter()
        .filter_map(|t| t.output.as_ref())
        .map(String::len)
        .sum();
    assert!(carried <= orch::tasks::LIST_OUTPUT_BYTES, "{carried}");
    assert!(view.outputs_omitted > 0);
    assert_eq!(
        view.outputs_omitted + view.tasks.iter().filter(|t| t.output.is_some()).count(),
        300
    );
    // The newest carry theirs.
    assert!(view.tasks[0].output.is_some());
    client.close().await;
    served.stop().await;
}

#[tokio::test]
async fn a_registry_without_a_store_keeps_its_records_in_memory() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (paths, env) = capture_home(dir.path());
    let tasks = Tasks::new(Arc::new(fake(&paths, &env)), Limits::default());
    assert!(tasks.store().is_none());
    tasks
        .start(orch::tasks::StartRequest {
            kind: orch::wire::TaskKind::Worker,
            work: orch::tasks::Work::Run(run("docs", "hello")),
            route: None,
        })
        .await
        .expect("starts");
    assert!(!paths.project_state_dir().join("tasks").exists());
}
