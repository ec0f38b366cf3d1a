//! `orch warm` and the notices of a task that waits for its worker's OpenCode to start, end
//! to end: the real `orch` binary against a backend over the fake worker service (served in
//! this test process on the socket the binary looks for), whose workers take a while to
//! start. Every backend a test starts, it stops.

use std::sync::Arc;
use std::time::Duration;

use orch::knowledge::Knowledge;
use orch::tasks::Limits;
use orch::testutil::fake_workers::{Call, FakeWorkers};
use orch::testutil::served::Served;
use orch::testutil::{Sandbox, regex_escape};
use orch::wire::{OpName, TaskStatus, TasksView, WorkerStatus, WorkersView};

const BIN: &str = env!("CARGO_BIN_EXE_orch");

/// Every built-in worker on a dedicated server (so what a bare `orch warm` picks does not
/// depend on the default backend); `flag` adds `"warm": true` to those workers.
fn profiles(flag: &[&str]) -> String {
    let list: serde_json::Map<String, serde_json::Value> =
        ["architect", "coder", "docs", "explorer", "memory", "vision"]
            .into_iter()
            .map(|id| {
                let mut p = serde_json::json!({"backend": "server"});
                if flag.contains(&id) {
                    p["warm"] = serde_json::json!(true);
                }
                (id.to_owned(), p)
            })
            .collect();
    serde_json::json!({ "profiles": list }).to_string()
}

/// A backend over fake workers that take `start` to start, served on the home's socket.
struct FakeBackend {
    rt: tokio::runtime::Runtime,
    fake: FakeWorkers,
    served: Option<Served<FakeWorkers>>,
}

impl FakeBackend {
    #[expect(clippy::expect_used, reason = "test set-up")]
    fn start(home: &Sandbox, start: Duration) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime for the fake backend");
        let paths = home.paths();
        let fake = FakeWorkers::new(
            Knowledge::load_local(&paths, &home.env()).expect("the capture's knowledge"),
        );
        fake.set_start_delay(start);
        let served =
            rt.block_on(async { Served::start(Arc::new(fake.clone()), &paths, Limits::default()) });
        Self {
            rt,
            fake,
            served: Some(served),
        }
    }

    fn warmed(&self) -> Vec<String> {
        self.fake
            .calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Warm(w) => Some(w),
                _ => None,
            })
            .collect()
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

fn home(flag: &[&str]) -> Sandbox {
    let h = Sandbox::capture(BIN);
    h.write("project/.opencode/orchestrator.json", &profiles(flag));
    h
}

fn settings(home: &Sandbox) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(&regex_escape(&home.root().display().to_string()), "[ROOT]");
    s.add_filter(r"\b(\d+ min )?\d+(\.\d)? (ms|s)\b *", "[DURATION] ");
    // Workers start at once: which gets the first session varies.
    s.add_filter(r"ses_fake_\d+", "ses_fake_N");
    s
}

#[test]
fn warm_starts_the_named_workers_and_prints_where_each_runs() {
    let h = home(&[]);
    let b = FakeBackend::start(&h, Duration::from_millis(300));
    let run = h.run(&["warm", "docs", "coder"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    settings(&h).bind(|| insta::assert_snapshot!("warm_named", run.stdout));
    let mut warmed = b.warmed();
    warmed.sort();
    assert_eq!(warmed, ["coder", "docs"]);

    // Both are ready now, with a session, and a task finds its worker started.
    let view: WorkersView = h.run(&["workers", "--format", "json"]).json();
    for id in ["coder", "docs"] {
        let w = view.clone().into_row(id).expect("the worker is listed");
        assert_eq!(w.status, WorkerStatus::Ready, "{id}");
        assert!(w.session_id.is_some(), "{id}");
    }
    let architect = view.into_row("architect").expect("architect is listed");
    assert_eq!(
        architect.status,
        WorkerStatus::Idle,
        "not named, not started"
    );
    let ran = h.run(&["run", "docs", "hello"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(
        !ran.stderr.contains("starting"),
        "a warmed worker does not start again: {}",
        ran.stderr
    );

    // Each warm was an op task, like a model change.
    let tasks: TasksView = h.run(&["tasks", "--kind", "op", "--format", "json"]).json();
    let ops: Vec<_> = tasks
        .tasks
        .iter()
        .filter(|t| t.op == Some(OpName::WorkerWarm))
        .collect();
    assert_eq!(ops.len(), 2, "{:?}", tasks.tasks);
    assert!(ops.iter().all(|t| t.status == TaskStatus::Succeeded));
    assert!(
        ops.iter().all(|t| t
            .output
            .as_deref()
            .is_some_and(|o| o.contains("is ready on the server backend"))),
        "{ops:?}"
    );

    let json: WorkersView = h.run(&["warm", "architect", "--format", "json"]).json();
    assert_eq!(json.workers.len(), 1);
    assert_eq!(json.workers[0].id, "architect");
    assert_eq!(json.workers[0].status, WorkerStatus::Ready);
    drop(b);
}

#[test]
fn a_bare_warm_starts_the_flagged_workers_or_says_what_to_do() {
    let h = home(&[]);
    let b = FakeBackend::start(&h, Duration::ZERO);
    let none = h.run(&["warm"]);
    assert_eq!(none.code, 1, "{}", none.stdout);
    assert!(
        none.stderr.contains("no worker to warm")
            && none.stderr.contains("\"warm\": true")
            && none.stderr.contains("orch warm docs coder"),
        "{}",
        none.stderr
    );
    assert!(b.warmed().is_empty());
    let unknown = h.run(&["warm", "docs", "nope"]);
    assert_eq!(unknown.code, 1, "one worker failed: {}", unknown.stdout);
    assert!(
        unknown.stderr.contains("cannot warm nope") && unknown.stderr.contains("unknown worker"),
        "{}",
        unknown.stderr
    );
    assert!(
        unknown.stdout.contains("docs"),
        "the other one started: {}",
        unknown.stdout
    );
    drop(b);

    // With flags, a bare warm starts those, and a starting backend already did.
    let h = home(&["memory", "explorer"]);
    let b = FakeBackend::start(&h, Duration::ZERO);
    orch::testutil::eventually_blocking(
        "the backend warmed the flagged workers",
        orch::testutil::Poll::default(),
        || b.warmed().len() == 2,
    );
    let mut at_start = b.warmed();
    at_start.sort();
    assert_eq!(at_start, ["explorer", "memory"]);
    let tasks: TasksView = h.run(&["tasks", "--kind", "op", "--format", "json"]).json();
    assert_eq!(
        tasks
            .tasks
            .iter()
            .filter(|t| t.op == Some(OpName::WorkerWarm))
            .count(),
        2,
        "the backend's warm ops show as tasks: {:?}",
        tasks.tasks
    );
    let bare = h.run(&["warm", "--format", "json"]);
    assert_eq!(bare.code, 0, "{}", bare.stderr);
    let view: WorkersView = bare.json();
    let ids: Vec<&str> = view.workers.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(ids, ["explorer", "memory"]);
    drop(b);
}

#[test]
fn run_says_what_its_task_waits_for_while_the_worker_starts() {
    let h = home(&[]);
    let b = FakeBackend::start(&h, Duration::from_millis(1500));
    let run = h.run(&["run", "docs", "Summarise the README"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    settings(&h).bind(|| insta::assert_snapshot!("run_waits_for_a_start", run.stderr));
    assert!(
        run.stderr.contains("is waiting: starting docs's OpenCode…"),
        "{}",
        run.stderr
    );
    // Once started, the next task does not wait: no notice.
    let again = h.run(&["run", "docs", "again"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(!again.stderr.contains("is waiting"), "{}", again.stderr);
    drop(b);
}

#[test]
fn a_hosted_workers_task_says_it_waits_for_the_shared_host_and_a_bare_warm_starts_the_host() {
    // The built-in workers as shipped: hosted in the shared OpenCode.
    let h = Sandbox::capture(BIN);
    let b = FakeBackend::start(&h, Duration::from_millis(1500));
    let run = h.run(&["run", "docs", "Summarise the README"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("is waiting: starting the shared OpenCode host…"),
        "{}",
        run.stderr
    );
    // Nothing flagged: a bare warm starts every hosted worker.
    let warm = h.run(&["warm", "--format", "json"]);
    assert_eq!(warm.code, 0, "{}", warm.stderr);
    let view: WorkersView = warm.json();
    let mut ids: Vec<&str> = view.workers.iter().map(|w| w.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        ["architect", "coder", "docs", "explorer", "memory", "vision"]
    );
    assert!(
        view.workers
            .iter()
            .all(|w| w.backend == orch::profiles::BackendKind::Shared)
    );
    drop(b);
}
