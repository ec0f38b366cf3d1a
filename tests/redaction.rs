//! One redactor at the boundary (issue 10, findings 2 and 10): a provider that echoes the
//! caller's key in a 401 body, in a 500 body and inside a streamed answer, reached through
//! the real OpenCode worker, leaks no key into any MCP reply (what `orch run`, `orch tasks
//! --format json` and `orch workers` print), the backend log or a state file. Keys come
//! from the environment and from `auth.json`. A `{file:}` substitution in `small_model`
//! is never echoed.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orch::api::Orchestrator;
use orch::redact::{RedactingWriter, Redactor};
use orch::tasks::Limits;
use orch::testutil::fake_llm::FakeLlm;
use orch::testutil::real::{RealProject, opencode_bin};
use orch::testutil::served::Served;
use orch::testutil::text_files_under;
use orch::wire::{ModelsQuery, ResolveQuery, TasksQuery};
use orch::workers::{Manager, ManagerConfig, RunRequest};
use serde_json::json;

/// The key OpenCode sends for the `fake` provider, from the environment.
const ENV_KEY: &str = "sk-fake-env-0123456789abcdef";
/// The key OpenCode sends for the `authed` provider, from `auth.json`.
const AUTH_KEY: &str = "sk-fake-auth-fedcba9876543210";
/// What a substituted file holds.
const FILE_SECRET: &str = "file-secret-0011223344";

fn assert_no_key(what: &str, text: &str) {
    for key in [ENV_KEY, AUTH_KEY, FILE_SECRET] {
        assert!(!text.contains(key), "{what} leaks {key}: {text}");
    }
}

/// A log sink shared with the test.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut v) => v.extend_from_slice(b),
            Err(p) => p.into_inner().extend_from_slice(b),
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_echoed_key_leaves_the_backend() {
    let Some(bin) = opencode_bin("no_echoed_key_leaves_the_backend") else {
        return;
    };
    let llm = FakeLlm::start().await.expect("the fake LLM starts");
    let extra = json!({
        "enabled_providers": ["fake", "authed"],
        "small_model": "{file:small-model.txt}",
        "provider": {
            "fake": {"env": ["FAKE_LLM_KEY"], "options": {"apiKey": "{env:FAKE_LLM_KEY}"}},
            "authed": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Authed",
                "options": {"baseURL": llm.base_url()},
                "models": {"big-pro": {"name": "Big Pro", "tool_call": true}}
            }
        }
    });
    let mut project = RealProject::new(&bin, &llm.base_url(), extra);
    project.env.set("FAKE_LLM_KEY", ENV_KEY);
    std::fs::write(
        project.paths.project_dir.join("small-model.txt"),
        FILE_SECRET,
    )
    .expect("small-model.txt");
    let auth = project.paths.auth_file();
    std::fs::create_dir_all(auth.parent().expect("auth dir")).expect("auth dir");
    std::fs::write(
        &auth,
        json!({"authed": {"type": "api", "key": AUTH_KEY}}).to_string(),
    )
    .expect("auth.json");

    // The backend's log goes through the redactor, as `orch serve` sets it up.
    let redactor = Redactor::new();
    let sink = Sink::default();
    let log_redactor = redactor.clone();
    let log_sink = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_env_filter("debug,rmcp=warn,hyper=warn,reqwest=warn")
        .with_writer(move || RedactingWriter::new(log_redactor.clone(), log_sink.clone()))
        .finish();
    let _log = tracing::subscriber::set_default(subscriber);

    let mut config = ManagerConfig::from_env(project.paths.clone(), project.env.clone());
    config.task_timeout = Duration::from_secs(90);
    let manager = Manager::start_redacting(config, redactor.clone()).expect("the manager starts");
    assert!(redactor.redact(ENV_KEY) != ENV_KEY, "the env key is known");
    assert!(
        redactor.redact(AUTH_KEY) != AUTH_KEY,
        "the auth.json key is known"
    );
    tracing::warn!("a provider said: Incorrect API key provided: {ENV_KEY} / {AUTH_KEY}");

    let served = Served::start(Arc::new(manager), &project.paths, Limits::default());
    let client = served.client().await;

    let mut seen: Vec<(String, String)> = Vec::new();
    let mut ids = Vec::new();
    for model in ["fake/big-pro", "authed/big-pro"] {
        for leak in ["LEAK-401", "LEAK-500", "LEAK-STREAM"] {
            let row = client
                .run(&RunRequest {
                    worker: "coder".into(),
                    task: format!("{leak} say something"),
                    model: Some(model.into()),
                    auto_spawn: true,
                    timeout: Some(Duration::from_secs(60)),
                    ..RunRequest::default()
                })
                .await
                .expect("the task starts");
            ids.push(row.id.clone());
        }
    }
    let done = client
        .await_tasks(&ids, Duration::from_secs(200))
        .await
        .expect("the tasks end");
    assert!(!done.timed_out, "the tasks did not end in time");
    seen.push(("task_await".into(), json!(done).to_string()));
    for row in &done.tasks {
        seen.push((format!("task {} debug", row.id), format!("{row:?}")));
    }
    // Every echo reached orch and was redacted on the way: the 401s fail with the
    // provider's message, the 500s are retried by OpenCode and the answers stream back.
    for t in &done.tasks {
        let text = format!(
            "{} {}",
            t.output.as_deref().unwrap_or(""),
            t.error.as_ref().map_or("", |e| e.message.as_str())
        );
        assert!(
            text.contains("[REDACTED]"),
            "task {} ({:?}) shows no redacted echo: {text}",
            t.id,
            t.task
        );
    }
    assert!(
        llm.log().len() >= 6,
        "the fake LLM saw {} requests",
        llm.log().len()
    );

    seen.push((
        "tasks".into(),
        json!(client.tasks(&TasksQuery::default()).await.expect("tasks")).to_string(),
    ));
    seen.push((
        "workers".into(),
        json!(client.workers().await.expect("workers")).to_string(),
    ));
    seen.push((
        "models".into(),
        json!(
            client
                .models(&ModelsQuery::default())
                .await
                .expect("models")
        )
        .to_string(),
    ));
    // Finding 10: a {file:} substitution in small_model is never echoed.
    for reference in ["node:fast", "fake/nope"] {
        let q = ResolveQuery {
            reference: reference.into(),
            ..ResolveQuery::default()
        };
        let text = match client.resolve(&q).await {
            Ok(v) => json!(v).to_string(),
            Err(e) => format!("{e:?}"),
        };
        seen.push((format!("resolve {reference}"), text));
    }
    client.close().await;
    served.stop().await;

    seen.extend(text_files_under(&project.paths.state_dir));
    let log =
        String::from_utf8_lossy(&sink.0.lock().map(|v| v.clone()).unwrap_or_default()).into_owned();
    assert!(
        log.contains("Incorrect API key provided: [REDACTED]"),
        "{log}"
    );
    seen.push(("log".into(), log));
    for (what, text) in &seen {
        assert_no_key(what, text);
    }
}

/// Finding 10: a `{file:}` substitution in `model` is shown as `{file:NAME}` in reasons and
/// errors, whatever its length (the redactor ignores values under 8 bytes; this does not);
/// one that names a model still resolves to it.
#[test]
fn a_substituted_file_is_named_not_echoed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (paths, env) = orch::testutil::capture_home(dir.path());
    orch::testutil::write_dot_opencode(
        &paths.project_dir,
        &[("m.txt", "pw1234\n"), ("s.txt", "openai/gpt-5-mini\n")],
        r#"{"model": "{file:../m.txt}", "small_model": "{file:../s.txt}"}"#,
    );
    let knowledge = orch::knowledge::Knowledge::load_local(&paths, &env).expect("loads");
    let mut shown = String::new();
    for reference in ["node", "node:fast", "node:vision"] {
        match knowledge
            .resolver
            .resolve(&orch::resolve::Request::new(reference))
        {
            Ok(r) => shown.push_str(&format!("{r:?}\n")),
            Err(e) => shown.push_str(&format!("{e}\n{e:?}\n")),
        }
    }
    assert!(!shown.contains("pw1234"), "{shown}");
    assert!(
        shown.contains(
            "model {file:../m.txt} skipped (the content of {file:../m.txt} is not provider/model)"
        ),
        "{shown}"
    );
    let fast = knowledge
        .resolver
        .resolve(&orch::resolve::Request::new("node:fast"))
        .expect("node:fast resolves");
    assert_eq!(fast.resolved_model, "openai/gpt-5-mini");
}

/// Without the real OpenCode: over fake workers whose answers echo the task text, a key in
/// an answer, in a tool error (an unknown worker named by the key) and in a Markdown reply
/// reaches no MCP client, and the task registry never holds it.
#[tokio::test]
async fn every_mcp_reply_and_task_row_is_redacted() {
    use orch::testutil::fake_workers::FakeWorkers;
    let dir = tempfile::tempdir().expect("tempdir");
    let (paths, env) = orch::testutil::capture_home(dir.path());
    let knowledge = orch::knowledge::Knowledge::load_local(&paths, &env).expect("loads");
    let redactor = Redactor::new();
    redactor.learn(&paths, &env, knowledge.resolver.set());
    let key = orch::testutil::FAKE_SECRETS[0];
    assert_eq!(
        redactor.redact(key),
        "[REDACTED]",
        "auth.json's key is known"
    );
    let fake = FakeWorkers::new(knowledge).with_redactor(redactor);
    let served = Served::start(Arc::new(fake), &paths, Limits::default());
    let client = served.client().await;
    let mut seen = Vec::new();
    let row = client
        .run(&RunRequest {
            worker: "explorer".into(),
            task: format!("the provider said: Incorrect API key provided: {key}"),
            auto_spawn: true,
            ..RunRequest::default()
        })
        .await
        .expect("the task starts");
    let done = client
        .await_tasks(std::slice::from_ref(&row.id), Duration::from_secs(10))
        .await
        .expect("the task ends");
    let output = done.tasks[0].output.clone().unwrap_or_default();
    assert!(
        output.contains("Incorrect API key provided: [REDACTED]"),
        "{output}"
    );
    seen.push(json!(done).to_string());
    let stored = served
        .backend
        .tasks()
        .peek(std::slice::from_ref(&row.id))
        .expect("the task is kept");
    // The registry holds the answer redacted (the task text is the caller's own).
    seen.push(format!("{:?} {:?}", stored[0].output, stored[0].error));
    let unknown = client
        .run(&RunRequest {
            worker: key.into(),
            task: "x".into(),
            auto_spawn: true,
            ..RunRequest::default()
        })
        .await;
    let err = unknown.err().map(|e| format!("{e:?}")).unwrap_or_default();
    assert!(err.contains("[REDACTED]"), "{err}");
    seen.push(err);
    seen.push(json!(client.tasks(&TasksQuery::default()).await.expect("tasks")).to_string());
    client.close().await;
    served.stop().await;
    for text in &seen {
        orch::testutil::assert_no_secret("an MCP reply or task row", text);
    }
}
