//! Task records outlive the backend, through the real `orch` binary: after a `kill -9` of
//! the backend, the next call starts a new one, `orch tasks` still lists the earlier
//! finished tasks with their output, and the task that was running reads `lost`.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use orch::testutil::fake_llm::FakeLlm;
use orch::testutil::real::{fake_llm_config, opencode_bin};
use orch::testutil::{Poll, Sandbox, eventually_blocking, wait_until_blocking};
use orch::wire::{StatusView, TaskKind, TaskRow, TaskStatus, TasksView};

const BIN: &str = env!("CARGO_BIN_EXE_orch");

fn alive(pid: i32) -> bool {
    orch::workers::procfs::stat(pid.unsigned_abs()).is_some_and(|s| !s.is_zombie())
}

/// Stops the sandbox's backend even when the test fails.
struct Stop<'a>(&'a Sandbox);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        self.0.stop_backend();
    }
}

/// Kills the backend that serves the sandbox with SIGKILL and waits until it is gone;
/// returns its pid.
#[expect(clippy::expect_used, reason = "test helper")]
fn kill_9_the_backend(h: &Sandbox) -> u32 {
    let status: StatusView = h.run(&["status", "--format", "json"]).json();
    let killed = std::process::Command::new("kill")
        .args(["-9", &status.pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let pid = i32::try_from(status.pid).expect("a pid");
    assert!(
        wait_until_blocking(Poll::default(), || !alive(pid)),
        "the backend is gone"
    );
    status.pid
}

#[test]
fn after_kill_9_of_the_backend_finished_tasks_keep_their_output_and_the_running_one_is_lost() {
    let mut h = Sandbox::capture(BIN);
    // An "OpenCode" that never becomes ready: a task on it runs until its backend dies.
    let fake = h.root().join("opencode-that-hangs");
    let pid_file = h.root().join("opencode.pid");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho $$ > '{}'\nexec sleep 120\n",
            pid_file.display()
        ),
    )
    .expect("the fake OpenCode is written");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755))
        .expect("the fake OpenCode is executable");
    h.set("ORCH_OPENCODE_BIN", &fake);

    // A finished task with output: a model change (needs no OpenCode).
    let set = h.run(&["worker-model-set", "docs", "node:fast"]);
    assert_eq!(set.code, 0, "{}", set.stderr);
    // A task that runs when the backend dies.
    let started: TaskRow = h
        .run(&[
            "run",
            "coder",
            "a long job",
            "--no-wait",
            "--format",
            "json",
        ])
        .json();
    assert_eq!(started.id, "t2");
    eventually_blocking("the task runs", Poll::default(), || {
        let row: TaskRow = h.run(&["tasks", "t2", "--format", "json"]).json();
        (row.status == TaskStatus::Running).then_some(())
    });
    let killed = kill_9_the_backend(&h);

    // The next call starts a new backend, which knows the earlier tasks.
    let all: TasksView = h
        .run(&["tasks", "--kind", "all", "--format", "json"])
        .json();
    let after: StatusView = h.run(&["status", "--format", "json"]).json();
    assert_ne!(after.pid, killed, "a new backend serves");
    let ids: Vec<&str> = all.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["t2", "t1"]);
    let op = &all.tasks[1];
    assert_eq!(op.kind, TaskKind::Op);
    assert_eq!(op.status, TaskStatus::Succeeded);
    assert!(
        op.output
            .as_deref()
            .is_some_and(|o| o.contains("worker docs now uses node:fast")),
        "{:?}",
        op.output
    );
    let lost = &all.tasks[0];
    assert_eq!(lost.status, TaskStatus::Lost);
    let why = &lost.error.as_ref().expect("why it is lost").message;
    assert!(
        why.contains(&format!("pid {killed}")) && why.contains("stopped before it finished"),
        "{why}"
    );

    // `orch tasks` lists tasks (not operations) by default; one task in full by id.
    let tasks = h.run(&["tasks"]);
    assert_eq!(tasks.code, 0, "{}", tasks.stderr);
    assert!(
        tasks.stdout.contains("t2") && tasks.stdout.contains("lost"),
        "{}",
        tasks.stdout
    );
    assert!(!tasks.stdout.contains("t1 "), "{}", tasks.stdout);
    let one = h.run(&["tasks", "t1"]);
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert!(
        one.stdout.contains("succeeded") && one.stdout.contains("node:fast → fake/fast-mini"),
        "{}",
        one.stdout
    );
    // Waiting for a lost task ends at once, with a failure.
    let waited = h.run(&["tasks", "t2", "--wait"]);
    assert_eq!(waited.code, 1, "{}", waited.stdout);
    assert!(waited.stdout.contains("lost"), "{}", waited.stdout);
    let unknown = h.run(&["tasks", "t99"]);
    assert_eq!(unknown.code, 1);
    assert!(
        unknown.stderr.contains("unknown task t99"),
        "{}",
        unknown.stderr
    );

    // Ids go on from the dead backend's.
    let next: TaskRow = h
        .run(&["run", "coder", "again", "--no-wait", "--format", "json"])
        .json();
    assert_eq!(next.id, "t3");

    h.stop_backend();
    // The worker guard ended the fake OpenCode when its backend died; make sure.
    if let Some(pid) = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
    {
        let gone = wait_until_blocking(Poll::within(Duration::from_secs(10)), || !alive(pid));
        if !gone {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
        assert!(gone, "the worker's OpenCode outlived its backend");
    }
}

/// The same with the real OpenCode: a task it answered keeps its answer, and the one it was
/// running (a `sleep` through its bash tool) reads `lost`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_real_opencode_an_answer_survives_kill_9_and_the_running_task_is_lost() {
    let Some(opencode) = opencode_bin(
        "with_the_real_opencode_an_answer_survives_kill_9_and_the_running_task_is_lost",
    ) else {
        return;
    };
    let llm = FakeLlm::start().await.expect("the fake LLM starts");
    let mut s = Sandbox::offline_opencode(BIN);
    s.set("ORCH_OPENCODE_BIN", &opencode);
    s.write(
        "project/opencode.json",
        &fake_llm_config(&llm.base_url()).to_string(),
    );
    std::fs::create_dir_all(s.project().join(".git")).expect("a git root");
    let _stop = Stop(&s);

    let answered = s.run(&["run", "coder", "say hello", "--timeout", "120"]);
    assert_eq!(answered.code, 0, "{}\n{}", answered.stdout, answered.stderr);
    assert!(answered.stdout.contains("echo from"), "{}", answered.stdout);
    llm.answer_with_bash("LONG-JOB", "sleep 300");
    let started: TaskRow = s
        .run(&[
            "run",
            "coder",
            "LONG-JOB now",
            "--no-wait",
            "--format",
            "json",
        ])
        .json();
    assert!(
        wait_until_blocking(Poll::within(Duration::from_secs(60)), || {
            llm.log().iter().any(|r| r.text.contains("LONG-JOB"))
        }),
        "the worker's OpenCode asked the model"
    );
    let old = kill_9_the_backend(&s);

    let all: TasksView = s.run(&["tasks", "--format", "json"]).json();
    let ids: Vec<&str> = all.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, [started.id.as_str(), "t1"]);
    assert_eq!(all.tasks[1].status, TaskStatus::Succeeded);
    assert!(
        all.tasks[1]
            .output
            .as_deref()
            .is_some_and(|o| o.contains("echo from")),
        "{:?}",
        all.tasks[1].output
    );
    assert_eq!(all.tasks[0].status, TaskStatus::Lost);
    let why = &all.tasks[0].error.as_ref().expect("why it is lost").message;
    assert!(why.contains(&format!("pid {old}")), "{why}");
    let one = s.run(&["tasks", "t1"]);
    assert_eq!(one.code, 0, "{}", one.stderr);
    assert!(
        one.stdout.contains("output:") && one.stdout.contains("echo from"),
        "{}",
        one.stdout
    );
}
