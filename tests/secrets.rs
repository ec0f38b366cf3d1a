//! No fake key of the captures (`sk-test-123`, `gsk-test-env`) appears in anything orch
//! prints: `Debug` of every value that holds the setup, resolutions, errors, warnings, and
//! every view in every format. (The CLI's stdout and stderr are checked in `cli/tests`.)

use std::path::Path;

use orch::api::{InProcess, Orchestrator};
use orch::knowledge::Knowledge;
use orch::paths::{Environment, Paths};
use orch::profiles::load_orchestrator;
use orch::render;
use orch::resolve::Request;
use orch::sources::ProviderSource;
use orch::sources::live::LiveSource;
use orch::sources::local::LocalSource;
use orch::testutil::fake_opencode::FakeOpenCode;
use orch::testutil::{FAKE_SECRETS, assert_no_secret};
use orch::wire::{Format, ModelsQuery, ResolveQuery, Scope};
use serde_json::json;

/// The capture's setup, with the keys: project config, `GROQ_API_KEY`, `auth.json`.
fn capture_home(root: &Path) -> (Paths, Environment) {
    let env = orch::testutil::capture_env(root);
    (Paths::resolve(&env, root.join("project")), env)
}

const REFS: [&str; 14] = [
    "node",
    "node:fast",
    "node:vision",
    "node:docs",
    "openai/gpt-5",
    "groq/llama-3.1-8b-instant",
    "openrouter/anthropic/claude-sonnet-4.5",
    "gpt-5-mini",
    "claude-sonnet",
    "nope/x",
    "openai/gpt-6",
    "node:slow",
    "fake/big-pro",
    "/",
];

const WORKERS: [Option<&str>; 3] = [None, Some("vision"), Some("explorer")];

/// Every view of `backend`, in every format, and every resolution or error, as text.
#[expect(clippy::expect_used, reason = "test helper")]
async fn everything(backend: &impl Orchestrator) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for scope in [Scope::Configured, Scope::All] {
        let q = ModelsQuery {
            scope,
            ..ModelsQuery::default()
        };
        let view = backend.models(&q).await.expect("the models view builds");
        out.push((format!("models {scope:?} json"), json!(view).to_string()));
        out.push((format!("models {scope:?} debug"), format!("{view:?}")));
        for f in [Format::Table, Format::Markdown] {
            out.push((format!("models {scope:?} {f:?}"), render::models(&view, f)));
        }
    }
    let profiles = backend.profiles().await.expect("the profiles view builds");
    out.push(("profiles json".into(), json!(profiles).to_string()));
    for f in [Format::Table, Format::Markdown] {
        out.push((format!("profiles {f:?}"), render::profiles(&profiles, f)));
    }
    for reference in REFS {
        for worker in WORKERS {
            let q = ResolveQuery {
                reference: reference.into(),
                worker: worker.map(str::to_owned),
                ..ResolveQuery::default()
            };
            let what = format!("resolve {reference} for {worker:?}");
            match backend.resolve(&q).await {
                Ok(view) => {
                    out.push((format!("{what} json"), json!(view).to_string()));
                    out.push((format!("{what} debug"), format!("{view:?}")));
                    for f in [Format::Table, Format::Markdown] {
                        out.push((format!("{what} {f:?}"), render::resolve(&view, f)));
                    }
                }
                Err(e) => {
                    out.push((format!("{what} error"), e.to_string()));
                    out.push((format!("{what} error debug"), format!("{e:?}")));
                    out.push((format!("{what} error json"), json!(e).to_string()));
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn no_key_in_any_output_of_the_local_source() {
    let dir = tempfile::tempdir().expect("a temp dir is created");
    let (paths, env) = capture_home(dir.path());
    let source = LocalSource::new(paths.clone(), env.clone());
    let set = source.load_now().expect("the source loads");
    // The setup really has the keys, and they really are read.
    assert_eq!(set.usable_ids(), ["fake", "groq", "openai", "opencode"]);
    assert_no_secret("provider set", &format!("{set:?}"));
    assert_no_secret("local source", &format!("{source:?}"));
    assert_no_secret("environment", &format!("{env:?}"));
    assert_no_secret("paths", &format!("{paths:?}"));
    let knowledge = Knowledge::load_local(&paths, &env).expect("the knowledge loads");
    assert_no_secret("knowledge", &format!("{knowledge:?}"));
    let profiles = load_orchestrator(&paths, &env).expect("the orchestrator loads");
    assert_no_secret("profiles", &format!("{profiles:?}"));
    for reference in REFS {
        let r = knowledge.resolver.resolve(&Request::new(reference));
        assert_no_secret(reference, &format!("{r:?}"));
        if let Err(e) = r {
            assert_no_secret(reference, &e.to_string());
        }
    }
    let backend = InProcess::load(&paths, &env).expect("the orchestrator loads");
    assert_no_secret("backend", &format!("{backend:?}"));
    let outputs = everything(&backend).await;
    assert!(outputs.len() > 100);
    for (what, text) in &outputs {
        assert_no_secret(what, text);
    }
}

#[tokio::test]
async fn no_key_in_any_output_of_the_live_source() {
    let fake = FakeOpenCode::start().await.expect("the fake server starts");
    // The capture carries the keys: the fake serves them.
    let served = fake.state().config_providers.to_string();
    assert!(FAKE_SECRETS.iter().all(|s| served.contains(s)));
    let source = LiveSource::new(&fake.url()).expect("the live source builds");
    let set = source.load().await.expect("the live source loads");
    assert_no_secret("live set", &format!("{set:?}"));
    assert_no_secret("live source", &format!("{source:?}"));
    let dir = tempfile::tempdir().expect("a temp dir is created");
    let (paths, env) = capture_home(dir.path());
    let backend = InProcess::load_live(&fake.url(), &paths, &env)
        .await
        .expect("the live orchestrator loads");
    for (what, text) in everything(&backend).await {
        assert_no_secret(&what, &text);
    }
    // A reply of an unexpected shape carrying a key: the decode error does not echo it.
    fake.state().config_providers = json!({"providers": "sk-test-123", "default": {}});
    let err = source.load().await.err().map(|e| e.to_string());
    let err = err.expect("a broken reply is refused");
    assert!(err.contains("config/providers"), "{err}");
    assert_no_secret("live decode error", &err);
    fake.state().config_providers =
        json!({"providers": [{"id": "groq", "key": 7, "env": "gsk-test-env"}]});
    let err = source.load().await.err().map(|e| e.to_string());
    assert_no_secret("live decode error", &err.unwrap_or_default());
}

#[test]
fn no_key_in_config_errors_or_warnings() {
    // Keys written as *values* where a config file, auth.json or the models cache is
    // malformed. (Object keys, such as a misspelt field or a bad tag name, are echoed to
    // locate the problem: they are names, not data.)
    let cases: &[(&str, &str)] = &[
        ("project/opencode.json", r#"{"model": gsk-test-env}"#),
        ("project/opencode.json", r#"{"model": "a/b" "sk-test-123"}"#),
        (
            "project/opencode.json",
            r#"{"disabled_providers": "{env:GROQ_API_KEY}"}"#,
        ),
        (
            "project/opencode.json",
            r#"{"provider": {"x": {"models": "sk-test-123"}}}"#,
        ),
        (
            "project/opencode.json",
            r#"{"enabled_providers": [1, "sk-test-123", {}]}"#,
        ),
        ("project/opencode.json", "{\"model\": \"sk-test-123\nrest"),
        (
            "project/.opencode/opencode.jsonc",
            "{ /* sk-test-123 */ \"small_model\": sk-test-123 }",
        ),
        (
            "home/.local/share/opencode/auth.json",
            r#"{"openai": {"type":"api","key":"sk-test-123"} "x"}"#,
        ),
        ("home/.local/share/opencode/auth.json", r#"sk-test-123"#),
        (
            "home/.cache/opencode/models.json",
            r#"{"x": {"models": {"m": {"limit": "sk-test-123"}}}}"#,
        ),
        (
            "project/.opencode/orchestrator.json",
            r#"{"profiles": {"docs": {"model": 5, "x": "sk-test-123"}}}"#,
        ),
        (
            "project/.opencode/orchestrator.json",
            r#"{"tags": {"x": ["sk-test-123\u0000"]}}"#,
        ),
        (
            "project/.opencode/orchestrator.json",
            r#"{"profiles": {"docs": {"vision": "sk-test-123"}}}"#,
        ),
    ];
    for (file, content) in cases {
        let dir = tempfile::tempdir().expect("a temp dir is created");
        let (paths, env) = capture_home(dir.path());
        let path = dir.path().join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("the directory is created");
        }
        std::fs::write(&path, content).expect("the file is written");
        let what = format!("{file}: {content}");
        match InProcess::load(&paths, &env) {
            Ok(backend) => {
                let shown = format!("{backend:?}");
                assert_no_secret(&what, &shown);
                let knowledge = Knowledge::load_local(&paths, &env).expect("the knowledge loads");
                let view = orch::views::models(&knowledge, &ModelsQuery::default());
                assert_no_secret(&what, &render::models(&view, Format::Table));
                assert_no_secret(&what, &json!(view).to_string());
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(path.file_name().and_then(|n| n.to_str()).unwrap_or("?")),
                    "{what}: {msg}"
                );
                assert_no_secret(&what, &msg);
                assert_no_secret(&what, &format!("{e:?}"));
            }
        }
    }
}
