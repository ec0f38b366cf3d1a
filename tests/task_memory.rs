//! Memory of the task registry under large tasks: 1,500 tasks of 1 MiB, run through the
//! registry over the fake worker service, leave the process under 300 MB (it held 1.07 GB
//! when finished tasks kept their whole text). Alone in its test binary, so `VmRSS` of
//! this process is the registry's and nothing else's.

use std::sync::Arc;
use std::time::Duration;

use orch::knowledge::Knowledge;
use orch::tasks::{Limits, MAX_KEPT_TASK_BYTES, StartRequest, Tasks, Work};
use orch::testutil::capture_home;
use orch::testutil::fake_workers::FakeWorkers;
use orch::wire::{TaskKind, TaskStatus, TasksQuery};
use orch::workers::RunRequest;

const TASKS: usize = 1500;
const TASK_BYTES: usize = 1024 * 1024;
const LIMIT_BYTES: u64 = 300 * 1024 * 1024;
/// Tasks started before awaiting them (well under `Limits::max_active`).
const BATCH: usize = 50;

/// This process's resident set size, from `/proc/self/status`.
#[expect(clippy::expect_used, reason = "test helper")]
fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line in kB");
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifteen_hundred_tasks_of_one_mib_stay_under_300_mb() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (paths, env) = capture_home(dir.path());
    let knowledge = Knowledge::load_local(&paths, &env).expect("the captured home loads");
    let tasks = Tasks::new(Arc::new(FakeWorkers::new(knowledge)), Limits::default());
    let before = rss_bytes();
    let mut peak = before;
    let mut n = 0;
    while n < TASKS {
        let mut ids = Vec::new();
        for _ in 0..BATCH.min(TASKS - n) {
            n += 1;
            // Each task different, so nothing can share its text.
            let mut text = format!("task {n}: ");
            text.push_str(&"x".repeat(TASK_BYTES - text.len()));
            let row = tasks
                .start(StartRequest {
                    kind: TaskKind::Worker,
                    work: Work::Run(RunRequest {
                        worker: "coder".into(),
                        task: text,
                        auto_spawn: true,
                        ..RunRequest::default()
                    }),
                    route: None,
                })
                .await
                .expect("the task starts");
            assert!(
                row.task
                    .as_ref()
                    .is_some_and(|t| t.len() <= MAX_KEPT_TASK_BYTES)
            );
            assert!(row.task_truncated, "the row says its text was cut");
            ids.push(row.id);
        }
        let done = tasks
            .wait(&ids, Duration::from_secs(60), false)
            .await
            .expect("the batch is known");
        assert!(!done.timed_out, "the batch finished");
        assert!(done.tasks.iter().all(|t| t.status == TaskStatus::Succeeded));
        peak = peak.max(rss_bytes());
    }
    let after = rss_bytes();
    let view = tasks.list(&TasksQuery::default());
    assert_eq!(view.total, Limits::default().finished_capacity);
    let kept = tasks
        .peek(&["t1500".to_owned()])
        .expect("the newest task is kept");
    let row = &kept[0];
    assert!(row.task_truncated);
    assert!(
        row.task
            .as_deref()
            .is_some_and(|t| t.starts_with("task 1500: ") && t.len() == MAX_KEPT_TASK_BYTES),
        "a finished task keeps the first {MAX_KEPT_TASK_BYTES} bytes of its text"
    );
    eprintln!(
        "VmRSS before {} MiB, peak {} MiB, after {} MiB",
        before >> 20,
        peak >> 20,
        after >> 20
    );
    assert!(
        peak < LIMIT_BYTES,
        "memory peaked at {} MiB (limit {} MiB)",
        peak >> 20,
        LIMIT_BYTES >> 20
    );
}
