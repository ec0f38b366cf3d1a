//! The shared host end to end (issue 13): the real OpenCode binary (`ORCH_OPENCODE_BIN`)
//! and a fake OpenAI-compatible LLM on loopback. Without the binary each test says it was
//! skipped; with `ORCH_REQUIRE_REAL=1` a missing binary fails. The tests take turns.

use std::sync::Arc;
use std::time::Duration;

use orch::testutil::fake_llm::FakeLlm;
use orch::testutil::real::{RealProject, opencode_bin};
use orch::testutil::{Poll, run_task, task, wait_until};
use orch::workers::procfs::{cmdline, descendants};
use orch::workers::spawn::pid_alive;
use orch::workers::{CancellationToken, Manager, ManagerConfig, WorkerService};

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The `opencode` processes this test process started (its descendants whose program is
/// `opencode`; the guard's `/bin/sh` only names it as an argument).
fn opencode_processes() -> Vec<i32> {
    descendants(i32::try_from(std::process::id()).unwrap_or(0))
        .into_iter()
        .filter(|p| {
            u32::try_from(*p)
                .ok()
                .and_then(cmdline)
                .and_then(|c| c.split(' ').next().map(str::to_owned))
                .is_some_and(|program| {
                    std::path::Path::new(&program)
                        .file_name()
                        .is_some_and(|n| n == "opencode")
                })
        })
        .collect()
}

/// Two hosted workers on different models with tasks at once: one OpenCode process; each
/// answer comes from the worker's own model (the fake LLM's log says which model each
/// task reached); cancelling one leaves the other running to its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosted_workers_on_two_models_share_one_opencode() {
    const TEST: &str = "two_hosted_workers_on_two_models_share_one_opencode";
    let Some(bin) = opencode_bin(TEST) else {
        return;
    };
    let _turn = TURN.lock().await;
    let llm = FakeLlm::start().await.expect("the fake LLM starts");
    let project = RealProject::new(&bin, &llm.base_url(), serde_json::json!({}));
    let config = ManagerConfig::from_env(project.paths.clone(), project.env.clone());
    let m = Arc::new(Manager::start(config).expect("the manager starts"));

    // Both at once, each answer slow enough to overlap.
    llm.set_delay(Duration::from_secs(3));
    let (a, b) = (Arc::clone(&m), Arc::clone(&m));
    let coder = tokio::spawn(async move {
        a.run(task("coder", "TASK-C1 write it"), CancellationToken::new())
            .await
    });
    let explorer = tokio::spawn(async move {
        b.run(
            task("explorer", "TASK-E1 find it"),
            CancellationToken::new(),
        )
        .await
    });
    let coder = coder.await.expect("joins").expect("the coder answers");
    let explorer = explorer
        .await
        .expect("joins")
        .expect("the explorer answers");
    assert_eq!(coder.answered_by.as_deref(), Some("fake/big-pro"));
    assert_eq!(explorer.answered_by.as_deref(), Some("fake/fast-mini"));
    assert_eq!(llm.models_for("TASK-C1"), ["big-pro"]);
    assert_eq!(llm.models_for("TASK-E1"), ["fast-mini"]);
    assert_eq!(coder.output.trim(), "echo from big-pro");
    assert_eq!(explorer.output.trim(), "echo from fast-mini");
    let opencode = opencode_processes();
    assert_eq!(opencode.len(), 1, "one OpenCode for both: {opencode:?}");
    let view = m.workers().await;
    let pid = |id: &str| view.clone().into_row(id).and_then(|r| r.pid);
    assert_eq!(pid("coder"), pid("explorer"));
    assert_eq!(pid("coder").map(|p| p as i32), opencode.first().copied());

    // Cancel one while both run: the other answers.
    llm.set_delay(Duration::from_secs(4));
    let cancel = CancellationToken::new();
    let (a, b, token) = (Arc::clone(&m), Arc::clone(&m), cancel.clone());
    let coder = tokio::spawn(async move { a.run(task("coder", "TASK-C2 long"), token).await });
    let explorer = tokio::spawn(async move {
        b.run(
            task("explorer", "TASK-E2 long too"),
            CancellationToken::new(),
        )
        .await
    });
    let poll = Poll::within(Duration::from_secs(60)).every(Duration::from_millis(50));
    wait_until(poll, async || {
        !llm.models_for("TASK-C2").is_empty() && !llm.models_for("TASK-E2").is_empty()
    })
    .await;
    cancel.cancel();
    let err = coder
        .await
        .expect("joins")
        .expect_err("the coder's task is cancelled");
    assert!(err.message.contains("cancelled"), "{}", err.message);
    let other = explorer
        .await
        .expect("joins")
        .expect("the explorer's task runs to its answer");
    assert_eq!(other.answered_by.as_deref(), Some("fake/fast-mini"));
    assert_eq!(opencode_processes().len(), 1);

    let host = pid("coder").unwrap_or(0);
    m.shutdown().await;
    let poll = Poll::within(Duration::from_secs(10)).every(Duration::from_millis(50));
    wait_until(poll, async || !pid_alive(host)).await;
    assert!(
        opencode_processes().is_empty(),
        "the host outlived shutdown"
    );
}

/// The acceptance's tool limit on one host: the docs worker's `edit` (asked for by the
/// model) is refused by OpenCode, the file unchanged; the coder's goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosted_docs_worker_cannot_edit_and_the_coder_can() {
    const TEST: &str = "a_hosted_docs_worker_cannot_edit_and_the_coder_can";
    let Some(bin) = opencode_bin(TEST) else {
        return;
    };
    let _turn = TURN.lock().await;
    let llm = FakeLlm::start().await.expect("the fake LLM starts");
    let project = RealProject::new(&bin, &llm.base_url(), serde_json::json!({}));
    let file = project.paths.project_dir.join("notes.txt");
    std::fs::write(&file, "status: draft\n").expect("the file is written");
    let edit = |to: &str| {
        serde_json::json!({
            "filePath": file.display().to_string(),
            "oldString": "status: draft",
            "newString": format!("status: {to}"),
        })
    };
    llm.answer_with_tool("TASK-DOCS-EDIT", "edit", &edit("docs"));
    llm.answer_with_tool("TASK-CODER-EDIT", "edit", &edit("coder"));
    let config = ManagerConfig::from_env(project.paths.clone(), project.env.clone());
    let m = Manager::start(config).expect("the manager starts");

    run_task(&m, task("docs", "TASK-DOCS-EDIT mark the notes")).await;
    assert_eq!(
        std::fs::read_to_string(&file).unwrap_or_default(),
        "status: draft\n",
        "OpenCode ran the docs worker's edit"
    );
    let offered = llm.tools_for("TASK-DOCS-EDIT");
    for tool in ["edit", "write", "bash", "task"] {
        assert!(
            !offered.iter().any(|t| t == tool),
            "docs was offered {tool}: {offered:?}"
        );
    }

    run_task(&m, task("coder", "TASK-CODER-EDIT mark the notes")).await;
    assert_eq!(
        std::fs::read_to_string(&file).unwrap_or_default(),
        "status: coder\n",
        "the coder's edit went through"
    );
    assert!(llm.tools_for("TASK-CODER-EDIT").iter().any(|t| t == "edit"));
    assert_eq!(opencode_processes().len(), 1, "both on one host");
    m.shutdown().await;
}
