//! Access to the real components for end-to-end tests: the OpenCode binary
//! (`ORCH_OPENCODE_BIN`), a Python with the official MCP SDK (`ORCH_PYTHON`) and the MCP
//! Inspector's command line (`ORCH_INSPECTOR`).
//!
//! Without the variable a test prints that it was skipped and why, and passes; with
//! `ORCH_REQUIRE_REAL=1` (set by `scripts/test`) a missing component fails the test, so CI
//! never skips them silently.

use std::io::Write;
use std::path::PathBuf;

/// Writes straight to the process's stderr, past the test harness's capture, so a skip
/// is visible in a plain `cargo test` run.
fn notice(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

fn component(var: &str, test: &str, what: &str) -> Option<PathBuf> {
    let required = std::env::var("ORCH_REQUIRE_REAL").is_ok_and(|v| v == "1");
    match std::env::var_os(var).map(PathBuf::from) {
        Some(path) if path.is_file() => Some(path),
        Some(path) => {
            assert!(!required, "{test}: {var}={} does not exist", path.display());
            notice(&format!(
                "SKIPPED {test}: {var}={} does not exist; run scripts/test",
                path.display()
            ));
            None
        }
        None => {
            assert!(
                !required,
                "{test}: {var} is not set but ORCH_REQUIRE_REAL=1"
            );
            notice(&format!(
                "SKIPPED {test}: {var} is not set ({what}); run scripts/test to install it and run this test"
            ));
            None
        }
    }
}

/// The real `opencode` binary, or `None` (with a printed notice) when it is not available.
pub fn opencode_bin(test: &str) -> Option<PathBuf> {
    component("ORCH_OPENCODE_BIN", test, "the real OpenCode binary")
}

/// A Python interpreter with the `mcp` package, or `None` (with a printed notice).
pub fn python_bin(test: &str) -> Option<PathBuf> {
    component("ORCH_PYTHON", test, "a Python with the official MCP SDK")
}

/// The MCP Inspector (npm `@modelcontextprotocol/inspector`, its `mcp-inspector` script,
/// run with `--cli`), or `None` (with a printed notice). It runs on Node.
pub fn inspector_bin(test: &str) -> Option<PathBuf> {
    component(
        "ORCH_INSPECTOR",
        test,
        "the MCP Inspector CLI, npm @modelcontextprotocol/inspector",
    )
}

/// An OpenCode config whose only enabled provider, `fake` (models `fast-mini` and
/// `big-pro`, key `x`), talks to the fake LLM at `llm_base_url`; `model` is fake/big-pro,
/// `small_model` fake/fast-mini, no autoupdate, no sharing.
pub fn fake_llm_config(llm_base_url: &str) -> serde_json::Value {
    serde_json::json!({
        "$schema": "https://opencode.ai/config.json",
        "model": "fake/big-pro",
        "small_model": "fake/fast-mini",
        "enabled_providers": ["fake"],
        "autoupdate": false,
        "share": "disabled",
        "provider": {"fake": {
            "npm": "@ai-sdk/openai-compatible",
            "name": "Fake",
            "options": {"baseURL": llm_base_url, "apiKey": "x"},
            "models": {
                "fast-mini": {"name": "Fast Mini", "tool_call": true},
                "big-pro": {"name": "Big Pro", "tool_call": true}
            }
        }}
    })
}

/// A throwaway OpenCode project for end-to-end tests: its own home (config, data, cache,
/// state), a project `opencode.json` that declares the `fake` provider pointing at a fake
/// LLM, and the environment to run OpenCode and orch in.
#[derive(Debug)]
pub struct RealProject {
    /// Owns every file; removed on drop.
    pub dir: tempfile::TempDir,
    /// Paths inside `dir`.
    pub paths: crate::paths::Paths,
    /// The whole environment (HOME, PATH, TMPDIR, ORCH_OPENCODE_BIN).
    pub env: crate::paths::Environment,
}

impl RealProject {
    /// A project whose `fake` provider (models `fast-mini`, `big-pro`, plus `extra_models`)
    /// talks to `llm_base_url`, with `model` = fake/big-pro, `small_model` = fake/fast-mini,
    /// only the fake provider enabled, and `extra` merged into the config.
    #[expect(clippy::expect_used, reason = "test set-up")]
    pub fn new(opencode: &std::path::Path, llm_base_url: &str, extra: serde_json::Value) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("orch-e2e")
            .tempdir()
            .expect("tempdir");
        let home = dir.path().join("home");
        let project = dir.path().join("project");
        std::fs::create_dir_all(&home).expect("home");
        std::fs::create_dir_all(project.join(".git")).expect("project");
        let mut config = fake_llm_config(llm_base_url);
        crate::sources::config::merge(&mut config, extra);
        std::fs::write(project.join("opencode.json"), config.to_string()).expect("opencode.json");
        let env = crate::paths::Environment::from_pairs([
            ("HOME".to_owned(), home.display().to_string()),
            ("PATH".to_owned(), std::env::var("PATH").unwrap_or_default()),
            ("TMPDIR".to_owned(), dir.path().display().to_string()),
            (
                "ORCH_OPENCODE_BIN".to_owned(),
                opencode.display().to_string(),
            ),
            ("OPENCODE_DISABLE_AUTOUPDATE".to_owned(), "1".to_owned()),
        ]);
        let paths = crate::paths::Paths::resolve(&env, project);
        Self { dir, paths, env }
    }
}
