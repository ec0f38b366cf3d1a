//! Run-time fallback through the real OpenCode (`ORCH_OPENCODE_BIN`) and a fake
//! OpenAI-compatible provider on loopback that fails per model: `429` with `retry-after`,
//! `500`, `529 overloaded`, `401`, `context_length_exceeded`, `404`, an answer that never
//! starts. Without the binary the test says it is skipped; with `ORCH_REQUIRE_REAL=1` a
//! missing binary fails. One OpenCode per worker, every case on it in turn.

use std::time::Duration;

use orch::testutil::fake_llm::{Failure, FakeLlm};
use orch::testutil::real::{RealProject, opencode_bin};
use orch::testutil::{run_task, task, task_error};
use orch::wire::FailureClass;
use orch::workers::failure::RetryRule;
use orch::workers::{Manager, ManagerConfig, RunRequest, WorkerService};

fn on(worker: &str, model: &str, text: &str) -> RunRequest {
    RunRequest {
        model: Some(model.into()),
        ..task(worker, text)
    }
}

/// The models the provider was asked for a task, each once, in order (OpenCode may ask
/// twice, as when it tries to compact before a context overflow).
fn asked(llm: &FakeLlm, needle: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in llm.models_for(needle) {
        if out.last() != Some(&m) {
            out.push(m);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_opencode_falls_back_per_failure_and_remembers_health() {
    const TEST: &str = "real_opencode_falls_back_per_failure_and_remembers_health";
    let Some(bin) = opencode_bin(TEST) else {
        return;
    };
    let llm = FakeLlm::start().await.expect("the fake LLM starts");
    let model = |name: &str| {
        (
            name.to_owned(),
            serde_json::json!({"name": name, "tool_call": true}),
        )
    };
    let eye = |name: &str| {
        (
            name.to_owned(),
            serde_json::json!({"name": name, "tool_call": true, "attachment": true,
                "modalities": {"input": ["text", "image"], "output": ["text"]}}),
        )
    };
    let fake_models: serde_json::Map<String, serde_json::Value> = [
        model("big-pro"),
        model("fast-mini"),
        model("limited"),
        model("broken"),
        model("busy"),
        model("small"),
        model("gone"),
        model("silent"),
        eye("eye-a"),
        eye("eye-b"),
    ]
    .into_iter()
    .collect();
    let extra = serde_json::json!({
        "enabled_providers": ["fake", "other"],
        "provider": {
            "fake": {"models": fake_models},
            "other": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Other",
                "options": {"baseURL": llm.base_url(), "apiKey": "y"},
                "models": {"locked": {"name": "Locked", "tool_call": true},
                           "spare": {"name": "Spare", "tool_call": true}}
            }
        }
    });
    let project = RealProject::new(&bin, &llm.base_url(), extra);
    llm.fail_model("limited", Failure::RateLimited { retry_after_s: 30 });
    llm.fail_model("broken", Failure::ServerError);
    llm.fail_model("busy", Failure::Overloaded);
    llm.fail_model("small", Failure::ContextLength);
    llm.fail_model("gone", Failure::ModelNotFound);
    llm.fail_model("silent", Failure::Hang);
    llm.fail_model("locked", Failure::Unauthorized);
    llm.fail_model("eye-a", Failure::ServerError);
    llm.fail_model("eye-b", Failure::Overloaded);

    let mut config = ManagerConfig::from_env(project.paths.clone(), project.env.clone());
    config.retry = RetryRule {
        max_retries: 0,
        max_wait: Duration::from_secs(10),
        // A first prompt on a fresh OpenCode takes a few seconds to start (it loads the
        // provider package): long enough for that, short enough for the hang case.
        answer_start: Duration::from_secs(8),
        poll: Duration::from_millis(50),
    };
    let m = Manager::start(config).expect("the manager starts");
    let warm = run_task(&m, task("coder", "WARM hello")).await;
    assert_eq!(
        warm.answered_by.as_deref(),
        Some("fake/big-pro"),
        "{:?} {}",
        warm.attempts,
        warm.resolution.reason
    );
    let pid = m.workers().await.into_row("coder").and_then(|w| w.pid);
    assert!(pid.is_some());

    let cases = [
        ("limited", FailureClass::RateLimited, "CASE-429"),
        ("broken", FailureClass::ServerError, "CASE-500"),
        ("busy", FailureClass::Overloaded, "CASE-529"),
        ("small", FailureClass::ContextOverflow, "CASE-CTX"),
        ("gone", FailureClass::UnknownModel, "CASE-404"),
        ("silent", FailureClass::NoAnswer, "CASE-HANG"),
    ];
    for (failing, class, needle) in cases {
        let chain = format!("fake/{failing}, fake/big-pro");
        let out = run_task(&m, on("coder", &chain, &format!("{needle} do it"))).await;
        assert_eq!(out.answered_by.as_deref(), Some("fake/big-pro"), "{needle}");
        assert_eq!(out.output.trim(), "echo from big-pro", "{needle}");
        assert_eq!(out.attempts.len(), 2, "{needle}: {:?}", out.attempts);
        assert_eq!(out.attempts[0].model, format!("fake/{failing}"), "{needle}");
        assert_eq!(
            out.attempts[0].class,
            Some(class),
            "{needle}: {:?}",
            out.attempts[0]
        );
        assert_eq!(out.attempts[1].answered_by.as_deref(), Some("fake/big-pro"));
        assert!(
            out.resolution
                .reason
                .contains(&format!("fell back from fake/{failing} to fake/big-pro")),
            "{needle}: {}",
            out.resolution.reason
        );
        assert_eq!(asked(&llm, needle), [failing, "big-pro"], "{needle}");
        assert_eq!(
            m.workers().await.into_row("coder").and_then(|w| w.pid),
            pid,
            "{needle}: no respawn"
        );
    }

    // Within the cooldown the next task goes straight to the healthy model.
    let out = run_task(
        &m,
        on("coder", "fake/limited, fake/big-pro", "AGAIN-429 go"),
    )
    .await;
    assert_eq!(out.answered_by.as_deref(), Some("fake/big-pro"));
    assert_eq!(asked(&llm, "AGAIN-429"), ["big-pro"]);
    assert!(
        out.resolution
            .reason
            .contains("deferred fake/limited (cooling down"),
        "{}",
        out.resolution.reason
    );

    // A 401 marks the provider: its other models are passed over, now and later.
    let out = run_task(
        &m,
        on(
            "coder",
            "other/locked, other/spare, fake/big-pro",
            "CASE-401 go",
        ),
    )
    .await;
    assert_eq!(out.answered_by.as_deref(), Some("fake/big-pro"));
    assert_eq!(out.attempts[0].status_code, Some(401));
    assert_eq!(asked(&llm, "CASE-401"), ["locked", "big-pro"]);
    let health = m.health();
    let other = health
        .models
        .iter()
        .find(|h| h.model == "other/*")
        .expect("the provider is marked");
    assert_eq!(other.state, "unusable");
    let out = run_task(&m, on("coder", "other/spare, fake/big-pro", "AFTER-401 go")).await;
    assert_eq!(asked(&llm, "AFTER-401"), ["big-pro"]);
    assert!(
        out.resolution.reason.contains("skipped other/spare"),
        "{}",
        out.resolution.reason
    );

    // A vision worker whose every vision model fails: the task fails, every attempt is
    // listed, and no model without image input was ever asked.
    let err = task_error(&m, task("vision", "EYES describe the picture")).await;
    let tried: Vec<&str> = err.attempts.iter().map(|a| a.model.as_str()).collect();
    assert_eq!(tried, ["fake/eye-a", "fake/eye-b"], "{}", err.message);
    assert_eq!(asked(&llm, "EYES"), ["eye-a", "eye-b"]);
    assert!(
        err.message.contains("every candidate model failed"),
        "{}",
        err.message
    );

    m.shutdown().await;
}
