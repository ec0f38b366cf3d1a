//! The backend answers for the caller's project and environment (issue 9): two projects
//! with different `opencode.json` and two shells with different provider keys, at the same
//! time, through the real `orch` binary and the backends it starts on demand; a client that
//! reaches another context's backend (`--socket`, `ORCH_SOCKET`) is refused by name; a
//! damaged `state.json` is reported until it is resolved. Every backend a test starts, it
//! stops.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use orch::paths::{Environment, Paths};
use orch::testutil::fake_opencode::FakeOpenCode;
use orch::testutil::{Run, Sandbox, stop_backend};
use orch::wire::{ModelsView, ResolveView, StatusView, TaskRow, TaskStatus};
use orch::workers::WorkersView;

const BIN: &str = env!("CARGO_BIN_EXE_orch");

/// Project B's config: one provider of its own, its own default model.
const B_CONFIG: &str = r#"{"model": "other/solo",
 "provider": {"other": {"npm": "@ai-sdk/openai-compatible", "name": "Other",
   "options": {"baseURL": "http://127.0.0.1:4599/v1", "apiKey": "x"},
   "models": {"solo": {"name": "Solo", "tool_call": true}}}}}"#;

/// Both projects' workers run as sessions of a fake OpenCode (the agent backend).
const AGENT_PROFILES: &str = r#"{"profiles": {"docs": {"backend": "agent"}}}"#;

/// A shell: the sandbox's variables, without some of them.
#[derive(Clone, Copy)]
enum Shell {
    /// Has the capture's `GROQ_API_KEY`.
    WithGroq,
    /// `unset GROQ_API_KEY`.
    WithoutGroq,
}

struct World {
    home: Sandbox,
    b: PathBuf,
}

impl World {
    fn new(agent_url: Option<&str>) -> Self {
        let mut home = Sandbox::capture(BIN);
        if let Some(url) = agent_url {
            home.set("ORCH_AGENT_URL", url);
        }
        home.write("projB/.git/HEAD", "ref: refs/heads/main\n");
        home.write("projB/opencode.json", B_CONFIG);
        home.write("project/.opencode/orchestrator.json", AGENT_PROFILES);
        home.write("projB/.opencode/orchestrator.json", AGENT_PROFILES);
        let b = home.root().join("projB");
        Self { home, b }
    }

    fn a(&self) -> PathBuf {
        self.home.project()
    }

    fn env(&self, shell: Shell) -> Environment {
        Environment::from_pairs(self.home.vars().filter(|(k, _)| match shell {
            Shell::WithGroq => true,
            Shell::WithoutGroq => *k != "GROQ_API_KEY",
        }))
    }

    fn command(&self, shell: Shell, project: &Path, args: &[&str]) -> Command {
        let mut c = self.home.orch(args);
        c.current_dir(project);
        if matches!(shell, Shell::WithoutGroq) {
            c.env_remove("GROQ_API_KEY");
        }
        c
    }

    fn run(&self, shell: Shell, project: &Path, args: &[&str]) -> Run {
        Run::of(
            &format!("orch {args:?}"),
            self.command(shell, project, args).output(),
        )
    }

    fn socket(&self, shell: Shell, project: &Path) -> PathBuf {
        Paths::resolve(&self.env(shell), project)
            .socket()
            .to_path_buf()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for shell in [Shell::WithGroq, Shell::WithoutGroq] {
            for project in [self.a(), self.b.clone()] {
                stop_backend(&self.socket(shell, &project));
            }
        }
    }
}

#[test]
fn two_projects_and_two_shells_each_get_their_own_answers_at_once() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime for the fake OpenCode");
    let agent = rt
        .block_on(FakeOpenCode::start())
        .expect("the fake OpenCode starts");
    let w = World::new(Some(&agent.url()));
    let (a, b) = (w.a(), w.b.clone());
    let all = [
        (Shell::WithGroq, &a),
        (Shell::WithoutGroq, &a),
        (Shell::WithGroq, &b),
        (Shell::WithoutGroq, &b),
    ];
    // Four contexts, all at once: each asks what `node` is.
    let children: Vec<_> = all
        .iter()
        .map(|(shell, project)| {
            w.command(*shell, project, &["resolve", "node", "--format", "json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("orch starts")
        })
        .collect();
    for ((_, project), child) in all.iter().zip(children) {
        let r: ResolveView = Run::of("orch resolve", child.wait_with_output()).json();
        let want = if *project == &a {
            "fake/big-pro"
        } else {
            "other/solo"
        };
        assert_eq!(r.resolution.resolved_model, want, "{}", project.display());
    }
    // Four backends, one per (project, environment), each naming its own.
    let mut keys = Vec::new();
    for (shell, project) in all {
        let s: StatusView = w
            .run(shell, project, &["status", "--format", "json"])
            .json();
        assert_eq!(Path::new(&s.project_dir), project.as_path());
        let has_groq = s.env_vars.iter().any(|v| v == "GROQ_API_KEY");
        assert_eq!(
            has_groq,
            matches!(shell, Shell::WithGroq),
            "{:?}",
            s.env_vars
        );
        assert!(s.env_vars.iter().any(|v| v == "HOME"), "{:?}", s.env_vars);
        keys.push((s.pid, s.project_key, s.env_key));
    }
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 4, "one backend each: {keys:?}");
    // `unset GROQ_API_KEY`: groq is usable only in the shell that has the key.
    for (shell, project) in all {
        let m: ModelsView = w
            .run(shell, project, &["models", "--format", "json"])
            .json();
        let groq = m.usable_providers.iter().any(|p| p == "groq");
        assert_eq!(
            groq,
            matches!(shell, Shell::WithGroq),
            "{}: {:?}",
            project.display(),
            m.usable_providers
        );
        let other = m.usable_providers.iter().any(|p| p == "other");
        assert_eq!(other, project == &b, "{:?}", m.usable_providers);
    }
    // Workers name their project, and runs answer from it.
    for (shell, project) in all {
        let ws: WorkersView = w
            .run(shell, project, &["workers", "--format", "json"])
            .json();
        assert_eq!(Path::new(&ws.project), project.as_path());
        let table = w.run(shell, project, &["workers"]);
        assert!(
            table
                .stdout
                .contains(&format!("project: {}", project.display())),
            "{}",
            table.stdout
        );
        let row: TaskRow = w
            .run(
                shell,
                project,
                &["run", "docs", "say hi", "-m", "node", "--format", "json"],
            )
            .json();
        assert_eq!(row.status, TaskStatus::Succeeded, "{row:?}");
        let want = if project == &a {
            "fake/big-pro"
        } else {
            "other/solo"
        };
        assert_eq!(row.resolved_model.as_deref(), Some(want), "{row:?}");
    }
    // The MCP bridge started in each project answers for it.
    for (shell, project) in all {
        let r = mcp_resolve(&w, shell, project, None);
        let text = r.expect("the bridge answers");
        let view: ResolveView = serde_json::from_str(&text).expect("a resolve view");
        let want = if project == &a {
            "fake/big-pro"
        } else {
            "other/solo"
        };
        assert_eq!(view.resolution.resolved_model, want);
    }
    agent.shutdown();
}

#[test]
fn another_contexts_backend_refuses_by_name_through_socket_and_orch_socket() {
    let w = World::new(None);
    let (a, b) = (w.a(), w.b.clone());
    let up = w.run(Shell::WithGroq, &a, &["status"]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    // The status names the project, its key, the env key and its variables (names only).
    for shown in ["project key", "env key", "GROQ_API_KEY", "HOME"] {
        assert!(up.stdout.contains(shown), "{shown}: {}", up.stdout);
    }
    let a_socket = w.socket(Shell::WithGroq, &a);
    let a_shown = a_socket.display().to_string();
    // Project B through A's backend: refused, naming both projects.
    let wrong = w.run(
        Shell::WithGroq,
        &b,
        &["--socket", &a_shown, "resolve", "node"],
    );
    assert_eq!(wrong.code, 1, "{}", wrong.stdout);
    assert!(
        wrong.stderr.contains(&a.display().to_string())
            && wrong.stderr.contains(&b.display().to_string()),
        "{}",
        wrong.stderr
    );
    assert!(wrong.stdout.is_empty(), "{}", wrong.stdout);
    // The other shell through ORCH_SOCKET: refused, naming the variable, never its value.
    let mut c = w.command(Shell::WithoutGroq, &a, &["models"]);
    c.env("ORCH_SOCKET", &a_socket);
    let other_shell = Run::of("orch models", c.output());
    assert_eq!(other_shell.code, 1, "{}", other_shell.stdout);
    assert!(
        other_shell.stderr.contains("GROQ_API_KEY"),
        "{}",
        other_shell.stderr
    );
    assert!(!other_shell.stderr.contains("gsk-test-env"));
    // The MCP bridge in B pointed at A's backend: its initialize is refused.
    let refused = mcp_resolve(&w, Shell::WithGroq, &b, Some(&a_socket));
    let why = refused.expect_err("the bridge's initialize is refused");
    assert!(why.contains(&a.display().to_string()), "{why}");
    // The same context through --socket is served.
    let same = w.run(
        Shell::WithGroq,
        &a,
        &["--socket", &a_shown, "resolve", "node"],
    );
    assert_eq!(same.code, 0, "{}", same.stderr);
}

#[test]
fn a_missing_project_directory_is_a_usage_error() {
    let w = World::new(None);
    let a = w.a();
    for args in [
        &["-C", "/nonexistent/orch-project", "models"][..],
        &["-C", "/nonexistent/orch-project", "status"][..],
        &["--project", "/nonexistent/orch-project", "mcp"][..],
    ] {
        let r = w.run(Shell::WithGroq, &a, args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("/nonexistent/orch-project") && r.stderr.contains("-C/--project"),
            "{}",
            r.stderr
        );
    }
    // A file is not a project directory either.
    let file = a.join("opencode.json");
    let r = w.run(
        Shell::WithGroq,
        &a,
        &["-C", &file.display().to_string(), "models"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("not a directory"), "{}", r.stderr);
}

#[test]
fn a_damaged_state_json_is_reported_until_the_moved_file_is_gone() {
    let w = World::new(None);
    let a = w.a();
    let state_dir = w.home.paths().project_state_dir();
    std::fs::create_dir_all(&state_dir).expect("the project state dir");
    std::fs::write(state_dir.join("state.json"), "{\"version\": 1, \"work").expect("damaged");
    let status = w.run(Shell::WithGroq, &a, &["status"]);
    assert_eq!(status.code, 0, "{}", status.stderr);
    assert!(
        status.stdout.contains("warning") && status.stdout.contains("state.json.corrupt-"),
        "{}",
        status.stdout
    );
    let workers = w.run(Shell::WithGroq, &a, &["workers"]);
    assert_eq!(workers.code, 0, "{}", workers.stderr);
    assert!(
        workers
            .stderr
            .contains("orch: warning: worker settings were reset"),
        "{}",
        workers.stderr
    );
    // stdout stays the table.
    assert!(workers.stdout.starts_with("WORKER"), "{}", workers.stdout);
    let json: WorkersView = w
        .run(Shell::WithGroq, &a, &["workers", "--format", "json"])
        .json();
    assert!(
        json.warnings
            .iter()
            .any(|w| w.contains("state.json.corrupt-")),
        "{:?}",
        json.warnings
    );
    // `orch models` keeps its warnings under the table, on stdout.
    let models = w.run(Shell::WithGroq, &a, &["models"]);
    assert!(
        models
            .stdout
            .contains("warning: worker settings were reset"),
        "{}",
        models.stdout
    );
    let s: StatusView = w
        .run(Shell::WithGroq, &a, &["status", "--format", "json"])
        .json();
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    // The user looked at it and removed it: the warning is gone, no restart needed.
    for entry in std::fs::read_dir(&state_dir).expect("the state dir") {
        let path = entry.expect("an entry").path();
        if path.to_string_lossy().contains(".corrupt-") {
            std::fs::remove_file(path).expect("removed");
        }
    }
    let s: StatusView = w
        .run(Shell::WithGroq, &a, &["status", "--format", "json"])
        .json();
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let workers = w.run(Shell::WithGroq, &a, &["workers"]);
    assert!(!workers.stderr.contains("warning"), "{}", workers.stderr);
}

/// Runs `orch mcp` in `project` (on `socket` when given) and asks it, over raw JSON-RPC,
/// what `node` resolves to: the tool's text, or the initialize error's message.
#[expect(clippy::expect_used, reason = "test helper")]
fn mcp_resolve(
    w: &World,
    shell: Shell,
    project: &Path,
    socket: Option<&Path>,
) -> Result<String, String> {
    let mut c = w.command(shell, project, &["mcp"]);
    if let Some(s) = socket {
        c.env("ORCH_SOCKET", s);
    }
    let mut child = c
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("orch mcp starts");
    let pid = child.id();
    // A watchdog: a bridge that hangs fails the test instead of blocking it (it kills only
    // while the child is certainly not yet reaped: before `done` is sent).
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if finished.recv_timeout(Duration::from_secs(30)).is_err() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX)),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    });
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut send = |v: serde_json::Value| {
        stdin
            .write_all(format!("{v}\n").as_bytes())
            .expect("written to orch mcp");
    };
    send(
        serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "context-test", "version": "1"}}}),
    );
    let mut line = String::new();
    stdout.read_line(&mut line).expect("the initialize reply");
    let reply: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    let result = if let Some(e) = reply.get("error") {
        Err(e["message"].as_str().unwrap_or_default().to_owned())
    } else {
        send(serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        send(
            serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
            "name": "task_list", "arguments": {"view": "resolve", "model": "node", "format": "json"}}}),
        );
        line.clear();
        stdout.read_line(&mut line).expect("the tool's reply");
        let reply: serde_json::Value = serde_json::from_str(&line).expect("JSON");
        Ok(reply["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    };
    drop(stdin);
    // Stop the watchdog before the child is reaped, so it never signals a reused pid.
    let _ = done.send(());
    let _ = watchdog.join();
    let out = child.wait_with_output().expect("orch mcp ends");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    result
}
