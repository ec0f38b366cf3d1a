//! The binary end to end (issue 10, finding 2): a provider that echoes the caller's key in
//! a 401 body, a 500 body and a streamed answer, through the real OpenCode worker started by
//! an on-demand backend. No key appears in `orch run`, `orch tasks --format json`,
//! `orch workers` (table and JSON), `serve.log` or any file of the state directory. Keys
//! come from the environment and from `auth.json`.

use orch::testutil::fake_llm::FakeLlm;
use orch::testutil::real::opencode_bin;
use orch::testutil::{Run, Sandbox, text_files_under};
use serde_json::json;

const ENV_KEY: &str = "sk-cli-env-0123456789abcdef";
const AUTH_KEY: &str = "sk-cli-auth-fedcba9876543210";

fn assert_no_key(what: &str, text: &str) {
    for key in [ENV_KEY, AUTH_KEY] {
        assert!(!text.contains(key), "{what} leaks {key}: {text}");
    }
}

/// Stops the sandbox's backend even when the test fails.
struct Stop<'a>(&'a Sandbox);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        self.0.stop_backend();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_echoed_key_in_cli_output_logs_or_state() {
    let Some(opencode) = opencode_bin("no_echoed_key_in_cli_output_logs_or_state") else {
        return;
    };
    let llm = FakeLlm::start().await.expect("the fake LLM starts");
    let mut s = Sandbox::offline_opencode(env!("CARGO_BIN_EXE_orch"));
    s.set("ORCH_OPENCODE_BIN", &opencode);
    s.set("FAKE_LLM_KEY", ENV_KEY);
    s.set(
        "ORCH_LOG",
        "debug,rmcp=warn,hyper=warn,reqwest=warn,h2=warn",
    );
    let base = llm.base_url();
    let config = json!({
        "$schema": "https://opencode.ai/config.json",
        "model": "fake/big-pro",
        "small_model": "fake/big-pro",
        "enabled_providers": ["fake", "authed"],
        "autoupdate": false,
        "share": "disabled",
        "provider": {
            "fake": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Fake",
                "env": ["FAKE_LLM_KEY"],
                "options": {"baseURL": base, "apiKey": "{env:FAKE_LLM_KEY}"},
                "models": {"big-pro": {"name": "Big Pro", "tool_call": true}}
            },
            "authed": {
                "npm": "@ai-sdk/openai-compatible",
                "name": "Authed",
                "options": {"baseURL": base},
                "models": {"big-pro": {"name": "Big Pro", "tool_call": true}}
            }
        }
    });
    s.write("project/opencode.json", &config.to_string());
    std::fs::create_dir_all(s.project().join(".git")).expect("a git root");
    s.write(
        "home/.local/share/opencode/auth.json",
        &json!({"authed": {"type": "api", "key": AUTH_KEY}}).to_string(),
    );
    let _stop = Stop(&s);

    let mut seen: Vec<(String, String)> = Vec::new();
    let mut record = |what: String, r: &Run| {
        seen.push((format!("{what} stdout"), r.stdout.clone()));
        seen.push((format!("{what} stderr"), r.stderr.clone()));
    };
    let mut redacted = 0;
    for model in ["fake/big-pro", "authed/big-pro"] {
        for leak in ["LEAK-401", "LEAK-500", "LEAK-STREAM"] {
            let task = format!("{leak} say something");
            let r = s.run(&["run", "coder", &task, "--model", model, "--timeout", "90"]);
            if format!("{}{}", r.stdout, r.stderr).contains("[REDACTED]") {
                redacted += 1;
            }
            record(format!("orch run {model} {leak} (exit {})", r.code), &r);
        }
    }
    for args in [
        &["tasks", "--format", "json"][..],
        &["tasks"][..],
        &["workers"][..],
        &["workers", "--format", "json"][..],
        &["status", "--format", "json"][..],
    ] {
        let r = s.run(args);
        record(format!("orch {}", args.join(" ")), &r);
    }
    s.stop_backend();
    seen.extend(text_files_under(&s.paths().state_dir));
    let log = std::fs::read_to_string(s.paths().backend_state_dir().join("serve.log"))
        .unwrap_or_default();
    assert!(
        log.contains("task failed: ") && log.contains("[REDACTED]"),
        "the backend logs failures, redacted: {log}"
    );
    for (what, text) in &seen {
        assert_no_key(what, text);
    }
    assert_eq!(
        redacted, 6,
        "every echo reaches the CLI, redacted: {seen:#?}"
    );
}
