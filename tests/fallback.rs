//! Run-time fallback and model health, through the worker manager over fakes: a fake
//! spawner whose "OpenCode" answers each model with the errors the real OpenCode 1.18.34
//! recorded (`tests/fixtures/opencode/prompt-error-*.json`), keeps retrying, or never
//! starts an answer. The same promises through the real OpenCode are in
//! `tests/fallback_real.rs`.

use std::time::Duration;

use orch::clock::FakeClock;
use orch::knowledge::KnowledgeSource;
use orch::testutil::fake_opencode::Recorded;
use orch::testutil::fake_spawner::FakeSpawner;
use orch::testutil::managed::FakeProject;
use orch::testutil::{fixture, run_task, task, task_error, write_orchestrator_json};
use orch::wire::FailureClass;
use orch::workers::{Manager, RunRequest, WorkerService};
use serde_json::Value;

/// The shared test project ([`FakeProject`]) and this file's clock.
struct Setup {
    project: FakeProject,
    clock: FakeClock,
}

impl std::ops::Deref for Setup {
    type Target = FakeProject;
    fn deref(&self) -> &FakeProject {
        &self.project
    }
}

impl Setup {
    fn new() -> Self {
        Self {
            project: FakeProject::new(),
            clock: FakeClock::at(1_800_000_000_000),
        }
    }

    fn manager(&self) -> Manager<FakeSpawner, FakeClock> {
        self.manager_redacting(orch::redact::Redactor::new())
    }

    fn manager_redacting(
        &self,
        redactor: orch::redact::Redactor,
    ) -> Manager<FakeSpawner, FakeClock> {
        Manager::new(
            self.fallback_config(),
            KnowledgeSource::fixed(self.knowledge()).with_redactor(redactor),
            self.spawner.clone(),
            self.clock.clone(),
        )
    }
}

/// The `info.error` OpenCode recorded in a capture.
fn captured_error(name: &str) -> Value {
    let reply: Value = serde_json::from_str(&fixture(name)).unwrap_or(Value::Null);
    reply["info"]["error"].clone()
}

fn on(worker: &str, model: &str, text: &str) -> RunRequest {
    RunRequest {
        model: Some(model.into()),
        ..task(worker, text)
    }
}

fn models_sent(prompts: &[Recorded]) -> Vec<String> {
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

fn sessions(prompts: &[Recorded]) -> Vec<String> {
    prompts.iter().map(|p| p.path.clone()).collect()
}

#[tokio::test]
async fn each_failure_of_the_model_hands_the_task_to_the_next_candidate() {
    let cases = [
        (
            "prompt-error-429.json",
            FailureClass::RateLimited,
            Some(429),
        ),
        (
            "prompt-error-500.json",
            FailureClass::ServerError,
            Some(500),
        ),
        ("prompt-error-529.json", FailureClass::Overloaded, Some(529)),
        ("prompt-error-401.json", FailureClass::Auth, Some(401)),
        (
            "prompt-error-404-model.json",
            FailureClass::UnknownModel,
            Some(404),
        ),
        (
            "prompt-error-context.json",
            FailureClass::ContextOverflow,
            None,
        ),
    ];
    // One worker for every case (loading the capture's catalog is the slow part of a
    // set-up); the health record is cleared between cases.
    let s = Setup::new();
    let m = s.manager();
    for (capture, class, status) in cases {
        m.reset_health().expect("the record is cleared");
        let before = s.spawner.prompts().len();
        s.spawner
            .fail_model("fake/big-pro", captured_error(capture));
        let out = run_task(&m, on("coder", "fake/big-pro, openai/gpt-4o", "fix it")).await;
        assert_eq!(
            out.answered_by.as_deref(),
            Some("openai/gpt-4o"),
            "{capture}"
        );
        assert_eq!(out.resolution.resolved_model, "openai/gpt-4o", "{capture}");
        let a = &out.attempts;
        assert_eq!(a.len(), 2, "{capture}: {a:?}");
        assert_eq!(
            (a[0].model.as_str(), a[0].class, a[0].status_code),
            ("fake/big-pro", Some(class), status),
            "{capture}"
        );
        assert_eq!(
            (a[1].class, a[1].answered_by.as_deref()),
            (None, Some("openai/gpt-4o"))
        );
        let hop = format!(
            "fell back from fake/big-pro to openai/gpt-4o ({})",
            a[0].short()
        );
        assert!(
            out.resolution.reason.contains(&hop),
            "{capture}: {}",
            out.resolution.reason
        );
        // One process, one session: the second attempt rides on the same session.
        assert_eq!(s.spawner.spawn_count(), 1, "{capture}");
        let prompts = s.spawner.prompts();
        assert_eq!(
            models_sent(&prompts[before..]),
            ["fake/big-pro", "openai/gpt-4o"],
            "{capture}"
        );
        let paths = sessions(&prompts[before..]);
        assert_eq!(paths[0], paths[1], "{capture}");
    }
}

#[tokio::test]
async fn fallback_keeps_the_worker_process_and_its_row_says_how_it_fell_back() {
    let s = Setup::new();
    let m = s.manager();
    let first = run_task(&m, task("coder", "warm up")).await;
    assert!(
        first.attempts.is_empty(),
        "one answer needs no attempt list"
    );
    let pid = m.workers().await.into_row("coder").and_then(|w| w.pid);
    assert!(pid.is_some());
    s.spawner
        .fail_model("fake/big-pro", captured_error("prompt-error-529.json"));
    let out = run_task(&m, on("coder", "fake/big-pro > fake/fast-mini", "go")).await;
    assert_eq!(out.answered_by.as_deref(), Some("fake/fast-mini"));
    let row = m.workers().await.into_row("coder").expect("the coder row");
    assert_eq!(row.pid, pid, "no respawn for a fallback");
    assert_eq!(s.spawner.spawn_count(), 1);
    assert_eq!(
        row.fallback.as_deref(),
        Some("fell back from fake/big-pro to fake/fast-mini (529)")
    );
    assert_eq!(row.answered_by.as_deref(), Some("fake/fast-mini"));
}

#[tokio::test]
async fn a_model_in_cooldown_is_passed_over_by_the_next_task_and_health_says_why() {
    let s = Setup::new();
    let m = s.manager();
    s.spawner
        .fail_model("fake/big-pro", captured_error("prompt-error-429.json"));
    run_task(&m, on("coder", "fake/big-pro, fake/fast-mini", "one")).await;
    s.spawner.heal_model("fake/big-pro");
    let before = s.spawner.prompts().len();
    let out = run_task(&m, on("coder", "fake/big-pro, fake/fast-mini", "two")).await;
    let prompts = s.spawner.prompts();
    assert_eq!(
        models_sent(&prompts[before..]),
        ["fake/fast-mini"],
        "the second task goes straight to the healthy model"
    );
    assert!(
        out.resolution
            .reason
            .contains("deferred fake/big-pro (cooling down for 1 s after 429)"),
        "{}",
        out.resolution.reason
    );
    let health = m.health();
    let row = &health.models[0];
    assert_eq!(
        (row.model.as_str(), row.state.as_str(), row.last_status_code),
        ("fake/big-pro", "cooling", Some(429))
    );
    assert_eq!(row.cooldown_left_s, Some(1), "retry-after: 1 is honoured");
    // After the cooldown the model is first again, and its answer clears the record.
    s.clock.advance(1_001);
    let out = run_task(&m, on("coder", "fake/big-pro, fake/fast-mini", "three")).await;
    assert_eq!(out.answered_by.as_deref(), Some("fake/big-pro"));
    assert!(m.health().models.is_empty());
}

#[tokio::test]
async fn health_survives_a_restart_and_reset_clears_it() {
    let s = Setup::new();
    let m = s.manager();
    s.spawner
        .fail_model("fake/big-pro", captured_error("prompt-error-500.json"));
    run_task(&m, on("coder", "fake/big-pro, fake/fast-mini", "one")).await;
    m.shutdown().await;
    drop(m);
    let again = s.manager();
    let health = again.health();
    assert_eq!(health.models.len(), 1);
    assert_eq!(
        health.models[0].cooldown_left_s,
        Some(30),
        "30 s after a first 500"
    );
    assert!(
        health
            .path
            .as_ref()
            .is_some_and(|p| p.ends_with("health.json"))
    );
    let cleared = again.reset_health().expect("the reset saves");
    assert!(cleared.models.is_empty());
    assert!(s.manager().health().models.is_empty(), "the reset is saved");
    again.shutdown().await;
}

#[tokio::test]
async fn a_401_marks_the_whole_provider_unusable_until_its_credentials_change() {
    let s = Setup::new();
    let m = s.manager();
    s.spawner
        .fail_model("fake/big-pro", captured_error("prompt-error-401.json"));
    let out = run_task(
        &m,
        on(
            "coder",
            "fake/big-pro, fake/fast-mini, openai/gpt-4o",
            "one",
        ),
    )
    .await;
    assert_eq!(out.answered_by.as_deref(), Some("openai/gpt-4o"));
    assert_eq!(
        models_sent(&s.spawner.prompts()),
        ["fake/big-pro", "openai/gpt-4o"],
        "fast-mini shares the refused provider"
    );
    assert!(
        out.resolution
            .reason
            .contains("skipped fake/fast-mini (its provider refused the credentials (401)"),
        "{}",
        out.resolution.reason
    );
    let health = m.health();
    assert_eq!(health.models[0].model, "fake/*");
    assert_eq!(health.models[0].state, "unusable");
    // Another model of that provider, a day later: still passed over while anything else
    // fits; alone, it is tried anyway, and the reason says why.
    s.clock.advance(24 * 3600 * 1000);
    let before = s.spawner.prompts().len();
    let out = run_task(&m, on("coder", "fake/fast-mini, openai/gpt-4o", "two")).await;
    assert_eq!(out.answered_by.as_deref(), Some("openai/gpt-4o"));
    assert_eq!(
        models_sent(&s.spawner.prompts()[before..]),
        ["openai/gpt-4o"]
    );
    s.spawner
        .fail_model("fake/fast-mini", captured_error("prompt-error-401.json"));
    let before = s.spawner.prompts().len();
    let err = task_error(&m, on("coder", "fake/fast-mini", "alone")).await;
    assert_eq!(
        models_sent(&s.spawner.prompts()[before..]),
        ["fake/fast-mini"]
    );
    assert_eq!(err.attempts.len(), 1);
    s.spawner.heal_model("fake/fast-mini");
    // New credentials (the project's opencode.json changes): usable again.
    let config = s.paths.project_dir.join("opencode.json");
    let text = std::fs::read_to_string(&config).expect("the project config");
    std::fs::write(
        &config,
        text.replace("\"apiKey\":\"x\"", "\"apiKey\":\"y\""),
    )
    .expect("the project config is rewritten");
    let out = run_task(&m, on("coder", "fake/fast-mini", "three")).await;
    assert_eq!(out.answered_by.as_deref(), Some("fake/fast-mini"));
    let health = m.health();
    assert!(
        health.models.iter().all(|r| r.state != "unusable"),
        "the answer clears the mark: {health:?}"
    );
}

#[tokio::test]
async fn a_vision_worker_never_falls_back_to_a_model_without_image_input() {
    let s = Setup::new();
    let m = s.manager();
    s.spawner
        .fail_model("fake/vision-pro", captured_error("prompt-error-529.json"));
    let err = task_error(
        &m,
        on(
            "vision",
            "fake/vision-pro, fake/big-pro",
            "describe the picture",
        ),
    )
    .await;
    assert!(
        err.message.contains("every candidate model failed"),
        "{}",
        err.message
    );
    assert_eq!(err.attempts.len(), 1, "{:?}", err.attempts);
    assert_eq!(err.attempts[0].model, "fake/vision-pro");
    assert_eq!(models_sent(&s.spawner.prompts()), ["fake/vision-pro"]);

    // Along its tag's ranked candidates: every one has image input, and when all fail the
    // task fails with every attempt listed.
    let s = Setup::new();
    let m = s.manager();
    let k = m.knowledge();
    let vision = k
        .profiles
        .get("vision")
        .cloned()
        .expect("the vision profile");
    let ranked = k.resolver.ranked_tag("node:vision", Some(&vision), 8);
    assert!(ranked.len() > 1, "{ranked:?}");
    for model in &ranked {
        s.spawner
            .fail_model(model, captured_error("prompt-error-500.json"));
    }
    let err = task_error(&m, task("vision", "describe the picture")).await;
    let tried: Vec<String> = err.attempts.iter().map(|a| a.model.clone()).collect();
    let sent = models_sent(&s.spawner.prompts());
    assert_eq!(sent, tried);
    assert!(tried.len() > 1, "{tried:?}");
    for model in &sent {
        let (p, id) = model.split_once('/').expect("provider/model");
        let entry = k
            .resolver
            .set()
            .providers
            .iter()
            .find(|e| e.provider.id == p)
            .expect("the provider");
        let caps = entry.model(id).expect("the model").capabilities;
        assert!(caps.input.image, "{model} has no image input");
    }
    assert!(
        err.attempts
            .iter()
            .all(|a| a.class == Some(FailureClass::ServerError))
    );
}

#[tokio::test]
async fn errors_that_are_not_the_models_do_not_fall_back() {
    for error in [
        serde_json::json!({"name": "MessageAbortedError", "data": {"message": "Aborted"}}),
        serde_json::json!({"name": "ContentFilterError", "data": {"message": "refused"}}),
        serde_json::json!({"name": "APIError", "data": {"message": "invalid tool schema", "statusCode": 400, "isRetryable": false}}),
    ] {
        let s = Setup::new();
        let m = s.manager();
        s.spawner.fail_model("fake/big-pro", error.clone());
        let err = task_error(&m, on("coder", "fake/big-pro, fake/fast-mini", "x")).await;
        assert!(err.message.contains("OpenCode reported"), "{}", err.message);
        assert_eq!(
            models_sent(&s.spawner.prompts()),
            ["fake/big-pro"],
            "{error}"
        );
        assert!(m.health().models.is_empty(), "{error}");
    }
}

#[tokio::test]
async fn a_chain_that_runs_out_fails_with_every_attempt_listed() {
    let s = Setup::new();
    let m = s.manager();
    s.spawner
        .fail_model("fake/big-pro", captured_error("prompt-error-429.json"));
    s.spawner
        .fail_model("fake/fast-mini", captured_error("prompt-error-500.json"));
    let err = task_error(&m, on("coder", "fake/big-pro, fake/fast-mini", "x")).await;
    let listed: Vec<(String, Option<u16>)> = err
        .attempts
        .iter()
        .map(|a| (a.model.clone(), a.status_code))
        .collect();
    assert_eq!(
        listed,
        [
            ("fake/big-pro".to_owned(), Some(429)),
            ("fake/fast-mini".to_owned(), Some(500))
        ]
    );
    for needle in ["fake/big-pro (429", "fake/fast-mini (500"] {
        assert!(err.message.contains(needle), "{}", err.message);
    }
    let row = m.workers().await.into_row("coder").expect("the coder row");
    assert_eq!(
        row.fallback.as_deref(),
        Some("fell back from fake/big-pro to fake/fast-mini (429)")
    );
}

#[tokio::test]
async fn orch_stops_waiting_for_opencode_retries_and_for_answers_that_never_start() {
    let s = Setup::new();
    let m = s.manager();
    s.spawner
        .retry_model("fake/big-pro", "Rate limit reached for big-pro");
    let out = run_task(&m, on("coder", "fake/big-pro, fake/fast-mini", "x")).await;
    assert_eq!(out.answered_by.as_deref(), Some("fake/fast-mini"));
    assert_eq!(out.attempts[0].class, Some(FailureClass::RateLimited));
    let aborts = s.spawner.servers()[0]
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/abort"))
        .count();
    assert_eq!(aborts, 1, "the retried message was aborted");

    let s = Setup::new();
    let m = s.manager();
    s.spawner.hang_model("fake/big-pro");
    let started = std::time::Instant::now();
    let out = run_task(&m, on("coder", "fake/big-pro, fake/fast-mini", "x")).await;
    assert_eq!(out.answered_by.as_deref(), Some("fake/fast-mini"));
    assert_eq!(out.attempts[0].class, Some(FailureClass::NoAnswer));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(m.health().models[0].last_class == Some(FailureClass::NoAnswer));
}

#[tokio::test]
async fn a_tag_falls_back_along_its_ranked_candidates_unless_told_not_to() {
    let s = Setup::new();
    let m = s.manager();
    s.spawner
        .fail_model("fake/fast-mini", captured_error("prompt-error-529.json"));
    let out = run_task(&m, task("explorer", "find main")).await;
    assert_ne!(out.answered_by.as_deref(), Some("fake/fast-mini"));
    assert_eq!(out.attempts.len(), 2, "{:?}", out.attempts);
    assert!(
        out.resolution.reason.contains("candidate"),
        "{}",
        out.resolution.reason
    );

    let s = Setup::new();
    write_orchestrator_json(
        &s.paths.project_dir,
        r#"{"profiles": {"explorer": {"fallback": "none"}}}"#,
    );
    let m = s.manager();
    s.spawner
        .fail_model("fake/fast-mini", captured_error("prompt-error-529.json"));
    let err = task_error(&m, task("explorer", "find main")).await;
    assert_eq!(err.attempts.len(), 1);
    assert_eq!(models_sent(&s.spawner.prompts()), ["fake/fast-mini"]);

    let s = Setup::new();
    write_orchestrator_json(
        &s.paths.project_dir,
        r#"{"tags": {"cheap": {"models": ["fake/fast-mini", "fake/big-pro"]}},
            "profiles": {"docs": {"model": "cheap"}}}"#,
    );
    let m = s.manager();
    s.spawner
        .fail_model("fake/fast-mini", captured_error("prompt-error-429.json"));
    let out = run_task(&m, task("docs", "write")).await;
    assert_eq!(out.answered_by.as_deref(), Some("fake/big-pro"));
    assert!(
        out.resolution.reason.contains("entry 2 of tag cheap"),
        "{}",
        out.resolution.reason
    );
}

#[tokio::test]
async fn a_chain_set_on_the_worker_is_kept_whole_and_falls_back() {
    let s = Setup::new();
    let m = s.manager();
    let row = m
        .set_model(orch::testutil::set_model(
            "coder",
            "fake/big-pro, fake/fast-mini",
            orch::resolve::Policy::Dynamic,
        ))
        .await
        .expect("the chain is set");
    assert_eq!(row.model_ref, "fake/big-pro > fake/fast-mini");
    s.spawner
        .fail_model("fake/big-pro", captured_error("prompt-error-429.json"));
    let out = run_task(&m, task("coder", "x")).await;
    assert_eq!(out.answered_by.as_deref(), Some("fake/fast-mini"));
}

#[tokio::test]
async fn a_key_echoed_in_a_provider_error_is_kept_nowhere() {
    let s = Setup::new();
    let key = "sk-test-123";
    let m = s.manager_redacting(orch::redact::Redactor::from_secrets([key]));
    s.spawner.fail_model(
        "fake/big-pro",
        serde_json::json!({"name": "APIError", "data": {
            "message": format!("Incorrect API key provided: {key}"),
            "statusCode": 401, "isRetryable": false}}),
    );
    let out = run_task(&m, on("coder", "fake/big-pro, openai/gpt-4o", "x")).await;
    let shown = serde_json::to_string(&out).expect("the outcome serializes");
    assert!(!shown.contains(key), "{shown}");
    assert!(shown.contains("Incorrect API key provided"), "{shown}");
    let health = serde_json::to_string(&m.health()).expect("the view serializes");
    assert!(!health.contains(key), "{health}");
    m.shutdown().await;
    let path = m.health().path.expect("health is kept in a file");
    let file = std::fs::read_to_string(path).expect("health.json");
    assert!(!file.contains(key), "{file}");
    assert!(file.contains("Incorrect API key provided"), "{file}");
}

#[tokio::test]
async fn the_task_row_keeps_every_attempt_whether_the_task_succeeds_or_fails() {
    use orch::api::{InProcess, Orchestrator, finish};
    let s = Setup::new();
    let o = InProcess::new(s.manager());
    s.spawner
        .fail_model("fake/big-pro", captured_error("prompt-error-429.json"));
    let req = on("coder", "fake/big-pro, fake/fast-mini", "x");
    let started = o.run(&req).await.expect("the task starts");
    assert_eq!(
        started.requested_ref.as_deref(),
        Some("fake/big-pro > fake/fast-mini")
    );
    let row = finish(&o, &started, Duration::from_secs(20))
        .await
        .expect("the task succeeds");
    assert_eq!(row.answered_by.as_deref(), Some("fake/fast-mini"));
    assert_eq!(row.resolved_model.as_deref(), Some("fake/fast-mini"));
    assert_eq!(row.attempts.len(), 2);
    let shown = orch::render::task(&row, orch::wire::Format::Table);
    assert!(
        shown.contains("fell back from fake/big-pro to fake/fast-mini (429)"),
        "{shown}"
    );
    assert!(
        shown.contains("fake/big-pro: rate_limited 429 after"),
        "{shown}"
    );
    let listed = o
        .tasks(&orch::wire::TasksQuery::default())
        .await
        .expect("the tasks view");
    assert!(orch::render::tasks(&listed, orch::wire::Format::Table).contains("(fell back 1×)"));

    s.spawner
        .fail_model("fake/fast-mini", captured_error("prompt-error-500.json"));
    o.reset_health().await.expect("the record is cleared");
    let started = o.run(&req).await.expect("the task starts");
    let err = finish(&o, &started, Duration::from_secs(20))
        .await
        .expect_err("every candidate fails");
    assert!(err.attempts.is_empty(), "moved onto the row, not repeated");
    let row = o
        .await_tasks(std::slice::from_ref(&started.id), Duration::from_secs(1))
        .await
        .expect("the task")
        .tasks
        .remove(0);
    let classes: Vec<Option<u16>> = row.attempts.iter().map(|a| a.status_code).collect();
    assert_eq!(classes, [Some(429), Some(500)]);
    let json = serde_json::to_value(&row).expect("the row serializes");
    assert_eq!(json["attempts"][0]["class"], "rate_limited");
    o.close().await;
}

#[tokio::test]
async fn the_model_that_answered_is_checked_against_the_one_asked() {
    let s = Setup::new();
    let m = s.manager();
    s.spawner.answer_as("fake/fast-mini", "fake/big-pro");
    let out = run_task(&m, on("coder", "fake/fast-mini", "x")).await;
    assert_eq!(out.answered_by.as_deref(), Some("fake/big-pro"));
    assert!(
        out.resolution
            .reason
            .contains("OpenCode says fake/big-pro answered, not fake/fast-mini"),
        "{}",
        out.resolution.reason
    );
}
