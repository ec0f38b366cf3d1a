//! `orch opencode install` against the real OpenCode (`ORCH_OPENCODE_BIN`, installed by
//! `scripts/test`): in a temp project with its own HOME and XDG dirs, after
//! `orch opencode install --project`, an `opencode serve` started there lists the four
//! shortcuts (`GET /command`) and the `orch` MCP server as connected (`GET /mcp`), accepts
//! the edited config (comments and trailing commas included); running `/orchestrator.models`
//! (`POST /session/{id}/command`) puts orch's output into the prompt the model receives (a
//! fake OpenAI-compatible LLM on loopback logs it), and `/orchestrator.worker-model-set` with
//! `docs node:fast` changes the docs worker in the backend (its workers view shows it), once
//! in what the user sees and through a model turn without tools; `/orchestrator.models
//! node:fast` says what the tag picks and a usage error shows the slash syntax. The
//! server's whole process group and the orch backend are stopped at the end, also on panic,
//! and no process of the sandbox is left behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use orch::opencode::OpenCodeClient;
use orch::testutil::fake_llm::FakeLlm;
use orch::testutil::{Poll, Sandbox, wait_until_blocking};
use serde_json::{Value, json};

/// A sandbox (its own HOME, XDG dirs and TMPDIR) in which OpenCode runs offline, with
/// a shell for its `!`cmd`` templates.
fn sandbox() -> Sandbox {
    Sandbox::offline_opencode(env!("CARGO_BIN_EXE_orch"))
}

/// Processes still running with this sandbox's HOME (read from `/proc/*/environ`).
fn processes_left(s: &Sandbox) -> Vec<String> {
    let needle = format!("HOME={}\0", s.home().display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter(|e| {
            std::fs::read(e.path().join("environ"))
                .is_ok_and(|env| contains(&env, needle.as_bytes()))
        })
        .map(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            format!(
                "{}: {}",
                e.file_name().to_string_lossy(),
                String::from_utf8_lossy(&cmd).replace('\0', " ")
            )
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// `opencode serve` in its own process group; dropping it stops the whole group.
struct Server {
    child: Child,
    url: String,
    stderr: PathBuf,
}

impl Server {
    #[expect(clippy::expect_used, reason = "test set-up")]
    fn start(bin: &Path, sandbox: &Sandbox) -> Self {
        let stderr = sandbox.root().join("opencode.stderr");
        let err_file = std::fs::File::create(&stderr).expect("a file for OpenCode's stderr");
        let mut child = {
            use std::os::unix::process::CommandExt;
            sandbox
                .command(bin)
                .args(["serve", "--hostname", "127.0.0.1", "--port", "0"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::from(err_file))
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()))
        };
        let stdout = child.stdout.take();
        let mut server = Self {
            child,
            url: String::new(),
            stderr,
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let Some(stdout) = stdout else { return };
            // Keep reading after the line so OpenCode never blocks on a full pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("opencode server listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(url) => server.url = url,
            Err(e) => panic!(
                "opencode serve did not say it was listening ({e}); stderr:\n{}",
                server.stderr()
            ),
        }
        assert!(
            server.url.starts_with("http://127.0.0.1:"),
            "not loopback: {}",
            server.url
        );
        server
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn group(&self) -> Option<Pid> {
        i32::try_from(self.child.id()).ok().map(Pid::from_raw)
    }

    /// TERM to the group, KILL after 5 s, then reaps OpenCode.
    fn stop(&mut self) {
        let Some(group) = self.group() else { return };
        let _ = killpg(group, Signal::SIGTERM);
        let poll = Poll::within(Duration::from_secs(5)).every(Duration::from_millis(50));
        wait_until_blocking(poll, || matches!(self.child.try_wait(), Ok(Some(_))));
        // Whatever is left of the group (OpenCode or the MCP servers it started).
        let _ = killpg(group, Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Requests to OpenCode that must succeed; a failure shows OpenCode's stderr.
struct Ask<'a> {
    client: &'a OpenCodeClient,
    server: &'a Server,
}

impl Ask<'_> {
    async fn get(&self, path: &str) -> Value {
        self.client
            .get(path)
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.server.stderr()))
    }

    async fn post(&self, path: &str, body: &Value) -> Value {
        self.client
            .post(path, body)
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}\n{}", self.server.stderr()))
    }

    /// Runs the slash command `/name arguments` in session `id`; OpenCode's answer.
    async fn command(&self, id: &str, name: &str, arguments: &str) -> Value {
        let body = json!({"command": name, "arguments": arguments});
        self.post(&format!("session/{id}/command"), &body).await
    }
}

/// The project config the test starts from: comments, trailing commas, a fake provider
/// on the fake LLM, and a key that must stay where it is.
fn project_config(llm_base: &str) -> String {
    format!(
        r#"// Test project: every comment and trailing comma must survive the install.
{{
  "$schema": "https://opencode.ai/config.json",
  "model": "fake/big-pro", // the default model
  "small_model": "fake/fast-mini",
  "provider": {{
    "fake": {{
      "npm": "@ai-sdk/openai-compatible",
      "name": "Fake",
      "options": {{ "baseURL": "{llm_base}", "apiKey": "sk-test-123", }},
      "models": {{
        "big-pro": {{ "name": "Big Pro", "tool_call": true }},
        "fast-mini": {{ "name": "Fast Mini", "tool_call": true }},
      }},
    }},
  }},
}}
"#
    )
}

/// The texts a user sees in a session (`GET /session/{id}/message`): text parts that are
/// neither synthetic nor ignored, user's and model's alike.
fn visible_text(messages: &Value) -> String {
    messages
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["parts"].as_array().into_iter().flatten())
        .filter(|p| p["type"] == "text" && p["synthetic"] != true && p["ignored"] != true)
        .filter_map(|p| p["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_then_real_opencode_lists_commands_and_mcp() {
    let Some(bin) =
        orch::testutil::real::opencode_bin("install_then_real_opencode_lists_commands_and_mcp")
    else {
        return;
    };
    let llm = FakeLlm::start()
        .await
        .unwrap_or_else(|e| panic!("fake LLM: {e}"));
    let sandbox = sandbox();
    let config = sandbox.project().join("opencode.jsonc");
    let original = project_config(&llm.base_url());
    std::fs::write(&config, &original).expect("the project config");

    let out = sandbox.run(&["opencode", "install", "--project"]);
    assert_eq!(out.code, 0, "install failed: {}", out.stderr);
    let edited = std::fs::read_to_string(&config).expect("the edited project config");
    for line in original.lines().filter(|l| !l.starts_with('}')) {
        assert!(edited.contains(line), "lost {line:?}:\n{edited}");
    }

    let mut server = tokio::task::block_in_place(|| Server::start(&bin, &sandbox));
    let client =
        OpenCodeClient::new(&server.url, Duration::from_secs(60)).expect("a client of OpenCode");
    let ask = Ask {
        client: &client,
        server: &server,
    };

    // The four shortcuts, with their descriptions.
    let commands = ask.get("command").await;
    let listed: Vec<&str> = commands
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for name in orch::install::command_names() {
        assert!(listed.contains(&name), "{name} not in {listed:?}");
    }
    let models = commands
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == "orchestrator.models")
        .cloned()
        .unwrap_or_default();
    assert!(
        models["description"]
            .as_str()
            .is_some_and(|d| d.ends_with("(orch)")),
        "{models}"
    );
    assert!(
        !models["template"]
            .as_str()
            .unwrap_or_default()
            .contains("orch-managed"),
        "the marker is frontmatter, not prompt: {models}"
    );

    // The MCP entry is loaded.
    let mcp = ask.get("mcp").await;
    let status = mcp["orch"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        !status.is_empty(),
        "no orch entry in GET /mcp: {mcp}\n{}",
        server.stderr()
    );
    assert_eq!(status, "connected", "GET /mcp: {mcp}\n{}", server.stderr());

    // A shortcut really runs orch and hands its output to the model.
    let session = ask.post("session", &json!({"title": "install test"})).await;
    let id = session["id"].as_str().unwrap_or_default().to_owned();
    let answer = ask.command(&id, "orchestrator.models", "").await;
    assert_eq!(answer["info"]["providerID"], "fake", "{answer}");
    let direct = sandbox.run(&["models", "--format", "table"]);
    assert_eq!(direct.code, 0, "{}", direct.stderr);
    let direct = direct.stdout;
    let first_row = direct
        .lines()
        .find(|l| l.contains("fake/big-pro"))
        .unwrap_or_else(|| panic!("orch models has no fake/big-pro row:\n{direct}"));
    let prompts: Vec<String> = llm.log().into_iter().map(|r| r.text).collect();
    assert!(
        prompts.iter().any(|t| t.contains(first_row)),
        "no prompt carries orch's output row {first_row:?}: {prompts:#?}"
    );
    assert!(
        prompts.iter().all(|t| !t.contains("opencode shortcut")),
        "the command itself reached the model instead of its output: {prompts:#?}"
    );
    // `/orchestrator.models node:fast` (as docs/tui.md shows it) says what the tag picks.
    ask.command(&id, "orchestrator.models", "node:fast").await;
    let shown = visible_text(&ask.get(&format!("session/{id}/message")).await);
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("resolved") && l.contains("fake/fast-mini")),
        "/orchestrator.models node:fast did not show what node:fast picks:\n{shown}"
    );
    // `/orchestrator.worker-model-set docs node:fast` from OpenCode changes the docs worker
    // in the backend: its workers view shows the new model and reason.
    let answer = ask
        .command(&id, "orchestrator.worker-model-set", "docs node:fast")
        .await;
    assert_eq!(answer["info"]["providerID"], "fake", "{answer}");
    let view: orch::workers::WorkersView = sandbox.run(&["workers", "--format", "json"]).json();
    let docs = view
        .workers
        .iter()
        .find(|w| w.id == "docs")
        .unwrap_or_else(|| panic!("no docs worker: {view:?}"));
    assert_eq!(docs.model_ref, "node:fast", "{docs:?}");
    assert_eq!(
        docs.resolved_model.as_deref(),
        Some("fake/fast-mini"),
        "{docs:?}"
    );
    assert!(
        docs.overridden && docs.reason.contains("small_model"),
        "{docs:?}"
    );
    // The shortcut's own output (worker, ref, resolved model, policy, reason) reached the model.
    let prompts: Vec<String> = llm.log().into_iter().map(|r| r.text).collect();
    assert!(
        prompts
            .iter()
            .any(|t| t.contains("fake/fast-mini") && t.contains("node:fast")),
        "no prompt carries worker-model-set's output: {prompts:#?}"
    );
    // What the user sees (the texts of the session that are not synthetic) holds the
    // change once: in the user's message, as orch printed it; the model's turn answers it
    // without tools and with a prompt of a few hundred tokens (OpenCode's default agent:
    // 15 tools and about 43 KB).
    let change = "fake/big-pro → fake/fast-mini";
    let messages = ask.get(&format!("session/{id}/message")).await;
    let shown = visible_text(&messages);
    assert_eq!(
        shown.matches(change).count(),
        1,
        "the change is not shown once:\n{shown}"
    );
    let calls: Vec<_> = llm
        .log()
        .into_iter()
        .filter(|r| r.text.contains(change))
        .collect();
    assert!(!calls.is_empty(), "no call carries the change");
    for call in &calls {
        assert!(call.tools.is_empty(), "tools offered: {:?}", call.tools);
        assert!(
            call.bytes < 8192,
            "a call of {} bytes: {}",
            call.bytes,
            call.text
        );
    }
    // A usage error shows the slash syntax, not the orch command line behind it.
    ask.command(&id, "orchestrator.worker-model-set", "docs")
        .await;
    let shown = visible_text(&ask.get(&format!("session/{id}/message")).await);
    assert!(
        shown.contains("Usage: /orchestrator.worker-model-set WORKER MODEL-OR-TAG"),
        "{shown}"
    );
    assert!(!shown.contains("--format"), "{shown}");

    let stderr = server.stderr();
    orch::testutil::assert_no_secret("OpenCode's stderr", &stderr);
    server.stop();
    sandbox.stop_backend();
    let mut left = Vec::new();
    let poll = Poll::within(Duration::from_secs(10)).every(Duration::from_millis(100));
    wait_until_blocking(poll, || {
        left = processes_left(&sandbox);
        left.is_empty()
    });
    assert!(left.is_empty(), "processes left behind: {left:#?}");
}
