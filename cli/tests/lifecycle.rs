//! The backend's lifecycle (issue 9): it is never a descendant of the client that started
//! it, a storm of cold calls starts exactly one, the `orch mcp` bridge survives its death,
//! and it exits by itself when idle. Real `orch` binary, scrubbed sandbox; every backend a
//! test starts, its sandbox stops.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::{Pid, getsid};
use orch::testutil::{Poll, Sandbox, wait_until_blocking};
use orch::wire::StatusView;
use orch::workers::spawn::pid_alive;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_orch");

fn pid(raw: u32) -> Pid {
    Pid::from_raw(i32::try_from(raw).unwrap_or(i32::MAX))
}

/// The backend's log in `home`.
fn serve_log(home: &Sandbox) -> String {
    std::fs::read_to_string(orch::mcp::log_file(&home.paths())).unwrap_or_default()
}

/// Every ancestor of `pid`, nearest first, up to init.
fn ancestors(mut of: u32) -> Vec<u32> {
    let mut out = Vec::new();
    while let Some(parent) = orch::workers::procfs::stat(of)
        .and_then(|s| u32::try_from(s.ppid).ok())
        .filter(|p| *p > 0)
    {
        out.push(parent);
        if parent == 1 {
            break;
        }
        of = parent;
    }
    out
}

/// `orch mcp` in its own process group, talking JSON-RPC lines over pipes.
struct McpClient {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
}

impl McpClient {
    #[expect(clippy::expect_used, reason = "test helper")]
    fn start(home: &Sandbox) -> Self {
        use std::os::unix::process::CommandExt;
        let mut child = home
            .orch(&["mcp"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("orch mcp starts");
        let input = child.stdin.take().expect("stdin");
        let output = BufReader::new(child.stdout.take().expect("stdout"));
        Self {
            child,
            input,
            output,
        }
    }

    #[expect(clippy::expect_used, reason = "test helper")]
    fn send(&mut self, message: &Value) {
        writeln!(self.input, "{message}").expect("a line to orch mcp");
        self.input.flush().expect("flushed");
    }

    /// The next line `orch mcp` prints, as JSON.
    #[expect(clippy::expect_used, reason = "test helper")]
    fn reply(&mut self) -> Value {
        let mut line = String::new();
        self.output
            .read_line(&mut line)
            .expect("a line from orch mcp");
        assert!(!line.is_empty(), "orch mcp closed its output");
        serde_json::from_str(&line).expect("JSON-RPC")
    }

    fn initialize(&mut self) -> Value {
        self.send(
            &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "lifecycle-test", "version": "0"}}}),
        );
        let reply = self.reply();
        self.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        reply
    }

    fn call(&mut self, id: u64, tool: &str) -> Value {
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": {}}}));
        self.reply()
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for McpClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_backend_is_not_a_descendant_of_its_client_and_survives_its_kill() {
    let home = Sandbox::capture(BIN);
    let mut client = McpClient::start(&home);
    let init = client.initialize();
    assert!(init["result"]["serverInfo"].is_object(), "{init}");
    let backend = orch::mcp::socket::backend_pid(&home.socket()).expect("a backend pid");
    let me = client.pid();
    assert!(
        !ancestors(backend).contains(&me),
        "the backend {backend} descends from its client {me}: {:?}",
        ancestors(backend)
    );
    let session = |p: u32| getsid(Some(pid(p))).ok();
    assert!(session(backend).is_some());
    assert_ne!(
        session(backend),
        session(me),
        "the backend shares its client's session"
    );
    assert_eq!(
        session(backend),
        Some(pid(backend)),
        "the backend leads a session of its own"
    );
    // The client and its whole process group die, as when OpenCode exits.
    killpg(pid(me), Signal::SIGKILL).expect("kill -9 of the client's group");
    let _ = client.child.wait();
    std::thread::sleep(Duration::from_millis(300));
    assert!(pid_alive(backend), "the backend died with its client");
    let status: StatusView = home.run(&["status", "--format", "json"]).json();
    assert_eq!(status.pid, backend, "another backend answers");
}

#[test]
fn fifty_concurrent_cold_calls_start_exactly_one_backend() {
    let home = Sandbox::capture(BIN);
    let calls: Vec<Child> = (0..50)
        .map(|_| {
            home.orch(&["--format", "json", "status"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("orch status starts")
        })
        .collect();
    let mut pids = Vec::new();
    for call in calls {
        let run = orch::testutil::Run::of("orch status", call.wait_with_output());
        assert_eq!(run.code, 0, "a cold call failed: {}", run.stderr);
        let status: StatusView = run.json();
        pids.push(status.pid);
    }
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 1, "several backends answered: {pids:?}");
    let log = serve_log(&home);
    let started = log
        .lines()
        .filter(|l| l.contains("orch backend starting"))
        .count();
    assert_eq!(started, 1, "backends started:\n{log}");
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("ERROR") || l.starts_with("orch: "))
        .collect();
    assert!(errors.is_empty(), "error lines in serve.log: {errors:#?}");
}

#[test]
fn an_orch_mcp_session_survives_kill_9_of_the_backend() {
    let home = Sandbox::capture(BIN);
    let mut client = McpClient::start(&home);
    client.initialize();
    let listed = client.call(1, "task_list");
    assert!(listed["result"].is_object(), "{listed}");
    let first = orch::mcp::socket::backend_pid(&home.socket()).expect("a backend pid");
    kill(pid(first), Signal::SIGKILL).expect("kill -9 of the backend");
    assert!(
        wait_until_blocking(Poll::within(Duration::from_secs(10)), || !pid_alive(first)),
        "the backend survived kill -9"
    );
    // The next request reconnects (starting a new backend) and is answered. When the
    // bridge had not yet seen the drop, that request was in flight on the dead connection:
    // it gets the documented error at once (never a hang), and the retry is answered.
    let mut again = client.call(2, "task_list");
    if again["error"]["code"] == -32000 {
        assert!(
            again["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("retry it")),
            "{again}"
        );
        again = client.call(22, "task_list");
    }
    assert!(again["result"].is_object(), "{again}");
    let second = orch::mcp::socket::backend_pid(&home.socket()).expect("a new backend pid");
    assert_ne!(first, second, "no new backend");
    let status = client.call(3, "task_list");
    assert!(status["result"].is_object(), "{status}");
}

#[test]
fn an_idle_backend_exits_by_itself_but_not_while_a_client_is_connected() {
    let mut home = Sandbox::capture(BIN);
    home.set("ORCH_IDLE_EXIT_SECS", "1");
    let mut client = McpClient::start(&home);
    client.initialize();
    let backend = orch::mcp::socket::backend_pid(&home.socket()).expect("a backend pid");
    // A connected client keeps it up, well past the idle time.
    std::thread::sleep(Duration::from_secs(3));
    assert!(pid_alive(backend), "it exited with a client connected");
    drop(client);
    assert!(
        wait_until_blocking(Poll::within(Duration::from_secs(15)), || !pid_alive(
            backend
        )),
        "the idle backend is still running"
    );
    assert!(!home.socket().exists(), "the idle backend left its socket");
    let log = serve_log(&home);
    assert!(log.contains("idle with no connection"), "{log}");
    // The next call starts a new one.
    let status: StatusView = home.run(&["status", "--format", "json"]).json();
    assert_ne!(status.pid, backend);
}

#[test]
fn an_idle_time_that_is_not_a_number_is_refused() {
    let mut home = Sandbox::capture(BIN);
    home.set("ORCH_IDLE_EXIT_SECS", "soon");
    let serve = home.run(&["serve"]);
    assert_eq!(serve.code, 1, "{}", serve.stderr);
    assert!(
        serve.stderr.contains("ORCH_IDLE_EXIT_SECS"),
        "{}",
        serve.stderr
    );
}

#[test]
fn stop_all_stops_every_backend_of_the_user() {
    let home = Sandbox::capture(BIN);
    home.write("other/.git/HEAD", "");
    let other = home.root().join("other").display().to_string();
    let a: StatusView = home.run(&["status", "--format", "json"]).json();
    let b: StatusView = home
        .run(&["-C", &other, "status", "--format", "json"])
        .json();
    assert_ne!(a.pid, b.pid, "one backend per project");
    let stop = home.run(&["stop", "--all"]);
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    for p in [a.pid, b.pid] {
        assert!(
            stop.stdout
                .contains(&format!("stopped the orch backend (pid {p})")),
            "{}",
            stop.stdout
        );
        assert!(!pid_alive(p), "backend {p} survived orch stop --all");
    }
    assert!(orch::client::user_sockets(&home.paths()).is_empty());
    let again = home.run(&["stop", "--all"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stdout.contains("no orch backend is running"),
        "{}",
        again.stdout
    );
}

/// A sandbox whose project uses the real OpenCode with the fake LLM, with `orch mcp` (this
/// very binary) as its `orch` MCP server.
#[expect(clippy::expect_used, reason = "test set-up")]
fn real_home(bin: &std::path::Path, llm: &orch::testutil::fake_llm::FakeLlm) -> Sandbox {
    let mut home = Sandbox::new(BIN);
    let mut config = orch::testutil::real::fake_llm_config(&llm.base_url());
    config["mcp"] = json!({"orch": {"type": "local", "command": [BIN, "mcp"]}});
    home.write("project/opencode.json", &config.to_string());
    home.set("ORCH_OPENCODE_BIN", bin);
    home.set("PATH", std::env::var("PATH").expect("PATH"));
    home.set("OPENCODE_DISABLE_AUTOUPDATE", "1");
    home.set("OPENCODE_DISABLE_MODELS_FETCH", "1");
    home
}

/// Stops every backend of the sandbox when dropped (`orch stop --all`), also those a real
/// OpenCode started under a key of its own.
struct StopAll<'a>(&'a Sandbox);

impl Drop for StopAll<'_> {
    fn drop(&mut self) {
        let _ = self.0.orch(&["stop", "--all"]).output();
    }
}

/// Runs `opencode run MESSAGE` in the sandbox's project; kills it after `limit`.
#[expect(clippy::expect_used, reason = "test helper")]
fn opencode_run(home: &Sandbox, bin: &std::path::Path, message: &str, limit: Duration) -> i32 {
    let mut child = home
        .command(bin)
        .args(["run", message])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("opencode run starts");
    let done = wait_until_blocking(
        Poll::within(limit).every(Duration::from_millis(100)),
        || child.try_wait().ok().flatten().is_some(),
    );
    if !done {
        let _ = child.kill();
    }
    child
        .wait()
        .expect("opencode run ends")
        .code()
        .unwrap_or(-1)
}

#[test]
fn a_task_delegated_by_opencode_run_completes_after_opencode_exits() {
    let Some(bin) = orch::testutil::real::opencode_bin(
        "a_task_delegated_by_opencode_run_completes_after_opencode_exits",
    ) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let llm = rt
        .block_on(orch::testutil::fake_llm::FakeLlm::start())
        .expect("fake LLM");
    let home = real_home(&bin, &llm);
    let _stop = StopAll(&home);
    let m = std::process::id();
    // The user's OpenCode delegates through orch's task_start; the worker's task answers.
    llm.answer_with_tool(
        &format!("DELEGATE-{m}"),
        "orch_task_start",
        &json!({"kind": "worker", "workerId": "coder", "task": format!("WORKER-{m} say hello")}),
    );
    let code = opencode_run(
        &home,
        &bin,
        &format!("DELEGATE-{m} hand this to a worker"),
        Duration::from_secs(120),
    );
    assert_eq!(code, 0, "opencode run failed");
    let tools = llm.tools_for(&format!("DELEGATE-{m}"));
    assert!(
        tools.iter().any(|t| t == "orch_task_start"),
        "OpenCode offered no orch tools: {tools:?}"
    );
    // OpenCode runs `orch mcp` with `OPENCODE=1` and `OPENCODE_PID`: it still reaches the
    // backend of the user's shell in this project.
    let sockets = orch::client::user_sockets(&home.paths());
    assert_eq!(sockets, [home.socket()], "another backend than the shell's");
    let socket = home.socket().display().to_string();
    let backend = orch::mcp::socket::backend_pid(&home.socket()).expect("a backend pid");
    // OpenCode has exited: the backend and the task live on, and the task completes.
    let task = orch::testutil::eventually_blocking(
        "the delegated task finished",
        Poll::within(Duration::from_secs(90)).every(Duration::from_millis(200)),
        || {
            let tasks: orch::wire::TasksView = home
                .run(&["--socket", &socket, "--format", "json", "tasks"])
                .json();
            tasks
                .tasks
                .into_iter()
                .find(|t| t.worker.as_deref() == Some("coder") && t.finished_at_ms.is_some())
        },
    );
    assert!(pid_alive(backend), "the backend died with OpenCode");
    assert_eq!(
        task.status,
        orch::wire::TaskStatus::Succeeded,
        "{:?} {:?}",
        task.error,
        task.output
    );
    assert!(
        !llm.models_for(&format!("WORKER-{m}")).is_empty(),
        "the worker's model never got the task"
    );
    // `orch stop` leaves no process of the test: no backend, no worker OpenCode, no guard.
    let stop = home.run(&["stop"]);
    assert_eq!(stop.code, 0, "{}", stop.stderr);
    let root = home.root().display().to_string();
    let left = || -> Vec<String> {
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .filter(|p| pid_alive(*p))
            .filter_map(|p| {
                let cmd = orch::workers::procfs::cmdline(p).unwrap_or_default();
                let cwd = std::fs::read_link(format!("/proc/{p}/cwd")).unwrap_or_default();
                (cmd.contains(&root) || cwd.starts_with(&root)).then(|| format!("{p}: {cmd}"))
            })
            .collect()
    };
    assert!(
        wait_until_blocking(Poll::within(Duration::from_secs(10)), || left().is_empty()),
        "processes left after orch stop: {:?}",
        left()
    );
}

/// A real `opencode serve` in the sandbox's project, in its own process group; stopped
/// (the whole group) when dropped.
struct OpenCodeServer {
    child: Child,
    url: String,
}

impl OpenCodeServer {
    #[expect(clippy::expect_used, reason = "test set-up")]
    fn start(bin: &std::path::Path, home: &Sandbox) -> Self {
        use std::os::unix::process::CommandExt;
        let mut child = home
            .command(bin)
            .args(["serve", "--hostname", "127.0.0.1", "--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("opencode serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("opencode server listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("opencode serve says where it listens");
        assert!(url.starts_with("http://127.0.0.1:"), "not loopback: {url}");
        Self { child, url }
    }
}

impl Drop for OpenCodeServer {
    fn drop(&mut self) {
        if let Ok(group) = i32::try_from(self.child.id()) {
            let _ = killpg(Pid::from_raw(group), Signal::SIGTERM);
            let poll = Poll::within(Duration::from_secs(5)).every(Duration::from_millis(50));
            wait_until_blocking(poll, || matches!(self.child.try_wait(), Ok(Some(_))));
            let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

#[test]
fn exiting_one_opencode_leaves_the_orch_tools_of_another_working() {
    let Some(bin) = orch::testutil::real::opencode_bin(
        "exiting_one_opencode_leaves_the_orch_tools_of_another_working",
    ) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let llm = rt
        .block_on(orch::testutil::fake_llm::FakeLlm::start())
        .expect("fake LLM");
    let home = real_home(&bin, &llm);
    let _stop = StopAll(&home);
    let m = std::process::id();
    let (first, second) = (format!("FIRST-{m}"), format!("SECOND-{m}"));
    llm.answer_with_tool(&first, "orch_task_list", &json!({}));
    llm.answer_with_tool(&second, "orch_task_list", &json!({}));
    llm.answer_with_tool(
        &format!("DELEGATE-{m}"),
        "orch_task_start",
        &json!({"kind": "worker", "workerId": "coder", "task": format!("WORKER-{m} say hello")}),
    );
    // OpenCode A, long-lived, uses the orch tools once.
    let a = OpenCodeServer::start(&bin, &home);
    let client = orch::opencode::OpenCodeClient::new(&a.url, Duration::from_secs(90))
        .expect("a client of OpenCode");
    let prompt = |text: &str| {
        rt.block_on(async {
            let session: Value = client
                .post("session", &json!({"title": "lifecycle"}))
                .await
                .expect("a session");
            let id = session["id"].as_str().unwrap_or_default().to_owned();
            let _: Value = client
                .post(
                    &format!("session/{id}/message"),
                    &json!({"parts": [{"type": "text", "text": text}]}),
                )
                .await
                .expect("OpenCode answers");
        });
    };
    prompt(&format!("{first} list the tasks"));
    let backend = orch::mcp::socket::backend_pid(&home.socket()).expect("a backend pid");
    // OpenCode B delegates a task and exits, killing its MCP servers' descendants.
    let code = opencode_run(
        &home,
        &bin,
        &format!("DELEGATE-{m} hand this to a worker"),
        Duration::from_secs(120),
    );
    assert_eq!(code, 0, "opencode run failed");
    assert!(pid_alive(backend), "the backend died with OpenCode B");
    // A's next use of the orch tools works, on the same backend.
    prompt(&format!("{second} list the tasks again"));
    let seen: Vec<String> = llm
        .log()
        .into_iter()
        .filter(|r| r.text.contains(&second))
        .map(|r| r.text)
        .collect();
    let last = seen.last().cloned().unwrap_or_default();
    assert!(
        seen.len() >= 2 && last.contains("coder") && !last.contains("Connection closed"),
        "A's orch tool call failed after B exited:\n{last}"
    );
    assert_eq!(
        orch::mcp::socket::backend_pid(&home.socket()),
        Some(backend),
        "another backend"
    );
}
