//! The MCP backend through its real Unix socket, with the `rmcp` client and with raw
//! JSON-RPC lines, over the fake worker service: the five tools, task results with their
//! models and reasons, model changes, cancellation, robustness, permissions, secrets.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use orch::api::Orchestrator;
use orch::client::SocketClient;
use orch::knowledge::Knowledge;
use orch::mcp::{Backend, Listener, SocketError, TOOL_NAMES};
use orch::resolve::Policy;
use orch::tasks::Limits;
use orch::testutil::capture_home;
use orch::testutil::fake_workers::{Call, FakeWorkers};
use orch::testutil::served::Served;
use orch::testutil::{FAKE_SECRETS, assert_no_secret};
use orch::testutil::{Poll, eventually, wait_until};
use orch::wire::{AwaitView, CancelOutcome, TaskRow, TaskStatus, TasksQuery};
use orch::workers::{RunRequest, SetModelRequest, WorkersView};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock};
use rmcp::service::{RoleClient, RunningService};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

#[expect(clippy::expect_used, reason = "test helper")]
fn ok<T, E: std::fmt::Debug>(r: Result<T, E>) -> T {
    r.expect("the call succeeds")
}

/// A backend over fake workers on a socket in a temporary home; stopped when dropped.
struct Harness {
    _dir: tempfile::TempDir,
    fake: FakeWorkers,
    socket: PathBuf,
    backend: Arc<Backend<FakeWorkers>>,
    served: Served<FakeWorkers>,
}

impl Harness {
    async fn start() -> Self {
        Self::with_limits(Limits::default()).await
    }

    /// A harness and an MCP client of it.
    async fn with_client() -> (Self, RunningService<RoleClient, ()>) {
        let h = Self::start().await;
        let c = h.client().await;
        (h, c)
    }

    async fn with_limits(limits: Limits) -> Self {
        let dir = ok(tempfile::tempdir());
        let (paths, env) = capture_home(dir.path());
        let fake = FakeWorkers::new(ok(Knowledge::load_local(&paths, &env)));
        let served = Served::start(Arc::new(fake.clone()), &paths, limits);
        Self {
            _dir: dir,
            fake,
            socket: served.socket.clone(),
            backend: Arc::clone(&served.backend),
            served,
        }
    }

    async fn client(&self) -> RunningService<RoleClient, ()> {
        let stream = ok(UnixStream::connect(&self.socket).await);
        ok(().serve(stream).await)
    }

    async fn orch(&self) -> SocketClient {
        let stream = ok(UnixStream::connect(&self.socket).await);
        ok(SocketClient::connect(stream, &self.socket).await)
    }

    async fn raw(&self) -> Raw {
        Raw::connect(&self.socket).await
    }

    async fn stop(self) {
        self.served.stop().await;
    }

    /// Closes the socket client `o`, then stops.
    async fn end_orch(self, o: SocketClient) {
        o.close().await;
        self.stop().await;
    }

    /// Closes the client `c`, then stops.
    async fn end(self, c: RunningService<RoleClient, ()>) {
        ok(c.cancel().await);
        self.stop().await;
    }
}

async fn call(
    c: &RunningService<RoleClient, ()>,
    tool: &'static str,
    args: Value,
) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    ok(
        c.call_tool(CallToolRequestParams::new(tool).with_arguments(args))
            .await,
    )
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| match c {
            ContentBlock::Text(t) => Some(t.text.clone()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn json_of<T: serde::de::DeserializeOwned>(r: &CallToolResult) -> T {
    assert_ne!(r.is_error, Some(true), "tool error: {}", text(r));
    ok(serde_json::from_str(&text(r)))
}

/// Raw JSON-RPC lines over the socket.
struct Raw {
    lines: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    write: OwnedWriteHalf,
}

impl Raw {
    async fn connect(socket: &Path) -> Self {
        let (r, write) = ok(UnixStream::connect(socket).await).into_split();
        Self {
            lines: BufReader::new(r).lines(),
            write,
        }
    }

    async fn send(&mut self, line: &str) {
        ok(self.write.write_all(line.as_bytes()).await);
        ok(self.write.write_all(b"\n").await);
    }

    #[expect(clippy::expect_used, reason = "test helper")]
    async fn recv(&mut self) -> Value {
        let line = ok(tokio::time::timeout(Duration::from_secs(10), self.lines.next_line()).await);
        let line = ok(line).expect("the backend answers");
        ok(serde_json::from_str(&line))
    }

    async fn init(&mut self) {
        self.send(
            r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#,
        )
        .await;
        let r = self.recv().await;
        assert!(r["result"]["serverInfo"]["name"] == "orch", "{r}");
        self.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
    }

    /// Sends a request and returns its answer.
    async fn ask(&mut self, line: &str) -> Value {
        self.send(line).await;
        self.recv().await
    }
}

fn error_code(v: &Value) -> i64 {
    v["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("not a JSON-RPC error: {v}"))
}

#[tokio::test]
async fn lists_exactly_the_five_tools_with_described_schemas() {
    let (h, c) = Harness::with_client().await;
    let tools = ok(c.list_all_tools().await);
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    let mut want = TOOL_NAMES.to_vec();
    want.sort_unstable();
    assert_eq!(names, want);
    for t in &tools {
        assert!(
            t.description.as_ref().is_some_and(|d| d.len() > 40),
            "{} needs a description",
            t.name
        );
        let schema = Value::Object((*t.input_schema).clone());
        let props = schema["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{} has no properties", t.name));
        for (name, p) in props {
            assert!(
                p.get("description").is_some(),
                "{}.{name} has no description: {p}",
                t.name
            );
        }
    }
    let start = tools
        .iter()
        .find(|t| t.name == "task_start")
        .map(|t| Value::Object((*t.input_schema).clone()))
        .unwrap_or_default();
    for field in [
        "kind",
        "task",
        "workerId",
        "model",
        "modelPolicy",
        "forceNew",
        "autoSpawn",
        "timeoutMs",
        "attachments",
        "op",
        "worker",
    ] {
        assert!(
            start["properties"].get(field).is_some(),
            "task_start.{field}"
        );
    }
    let s = start.to_string();
    assert!(s.contains("worker.model.set") && s.contains("worker.model.reset"));
    assert!(s.contains("\"sticky\"") && s.contains("\"auto\""));
    h.end(c).await;
}

#[tokio::test]
async fn a_worker_task_reports_result_resolved_model_reason_and_answering_model() {
    let (h, c) = Harness::with_client().await;
    let started = call(
        &c,
        "task_start",
        json!({"kind":"worker","workerId":"docs","model":"node:fast","task":"Summarise the README"}),
    )
    .await;
    let md = text(&started);
    assert!(
        md.contains("Started task **t1**") && md.contains("task_await"),
        "{md}"
    );
    let awaited: AwaitView =
        json_of(&call(&c, "task_await", json!({"taskId":"t1","format":"json"})).await);
    assert!(!awaited.timed_out);
    let t = &awaited.tasks[0];
    assert_eq!(t.status, TaskStatus::Succeeded, "{t:?}");
    assert_eq!(t.worker.as_deref(), Some("docs"));
    assert_eq!(t.requested_ref.as_deref(), Some("node:fast"));
    // node:fast takes small_model first: fake/fast-mini in the capture's config.
    assert_eq!(t.resolved_model.as_deref(), Some("fake/fast-mini"));
    assert_eq!(t.answered_by.as_deref(), Some("fake/fast-mini"));
    assert!(
        t.reason
            .as_deref()
            .is_some_and(|r| r.contains("small_model")),
        "{:?}",
        t.reason
    );
    assert!(
        t.output
            .as_deref()
            .is_some_and(|o| o.contains("Summarise the README"))
    );
    assert!(t.duration_ms.is_some() && t.finished_at_ms.is_some());
    // The worker service got exactly what the tool asked for.
    let runs: Vec<RunRequest> = h
        .fake
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            Call::Run(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].model.as_deref(), Some("node:fast"));
    assert!(runs[0].auto_spawn && !runs[0].force_new);
    // Markdown await shows the same facts.
    let md = text(&call(&c, "task_await", json!({"taskIds":["t1"]})).await);
    for needle in ["succeeded", "fake/fast-mini", "answered by", "output:"] {
        assert!(md.contains(needle), "{needle} in {md}");
    }
    h.end(c).await;
}

async fn worker_row(c: &RunningService<RoleClient, ()>, id: &str) -> orch::workers::WorkerRow {
    let view: WorkersView =
        json_of(&call(c, "task_list", json!({"view":"workers","format":"json"})).await);
    view.into_row(id)
        .unwrap_or_else(|| panic!("no worker {id}"))
}

/// Starts a task (`args` asks for JSON) and returns its row.
async fn start(c: &RunningService<RoleClient, ()>, args: Value) -> TaskRow {
    json_of(&call(c, "task_start", args).await)
}

/// A client and a task of `coder` that runs until cancelled (the fake holds it), once it
/// runs.
async fn a_running_task(h: &Harness) -> (RunningService<RoleClient, ()>, TaskRow) {
    h.fake.set_hold(true);
    let c = h.client().await;
    let row = start(
        &c,
        json!({"kind":"worker","workerId":"coder","task":"forever","format":"json"}),
    )
    .await;
    eventually("the task to run", Poll::default(), async || {
        let v: AwaitView =
            json_of(&call(&c, "task_peek", json!({"taskId": row.id, "format":"json"})).await);
        v.tasks[0].status == TaskStatus::Running
    })
    .await;
    (c, row)
}

async fn start_and_await(c: &RunningService<RoleClient, ()>, args: Value) -> TaskRow {
    let row = start(c, args).await;
    let mut view: AwaitView =
        json_of(&call(c, "task_await", json!({"taskId": row.id, "format":"json"})).await);
    view.tasks.remove(0)
}

/// Bridges the Inspector's stdio to the backend's socket, as `orch mcp` does.
const STDIO_BRIDGE: &str = r#"
const net = require("net");
const socket = net.connect(process.argv[2]);
process.stdin.pipe(socket);
socket.pipe(process.stdout);
socket.on("close", () => process.exit(0));
socket.on("error", (e) => { console.error(e.message); process.exit(1); });
"#;

/// One call of the MCP Inspector's command line, which converts each `--tool-arg` by the
/// type the tool's schema gives the field; its result as JSON.
async fn inspect(inspector: &Path, socket: &Path, tool: &str, args: &[&str]) -> CallToolResult {
    let Some(dir) = socket.parent() else {
        panic!("the socket {} has no directory", socket.display())
    };
    let bridge = dir.join("stdio-bridge.cjs");
    ok(std::fs::write(&bridge, STDIO_BRIDGE));
    let out = ok(tokio::process::Command::new(inspector)
        .args(["--cli", "node"])
        .arg(&bridge)
        .arg(socket)
        .args(["--method", "tools/call", "--tool-name", tool, "--tool-arg"])
        .args(args)
        .kill_on_drop(true)
        .output()
        .await);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the Inspector failed on {tool} {args:?}:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// A generic client that knows nothing of orch, the MCP Inspector's command line, drives
/// the tools from their schemas alone: an integer `limit`, an object `worker`, an integer
/// `timeoutMs` and an array `taskIds`. Needs `ORCH_INSPECTOR` (set by `scripts/test`).
#[tokio::test]
async fn the_mcp_inspector_cli_drives_the_tools_from_their_schemas() {
    let Some(inspector) = orch::testutil::real::inspector_bin("mcp_inspector_cli") else {
        return;
    };
    let (h, c) = Harness::with_client().await;
    for task in ["one", "two"] {
        start_and_await(
            &c,
            json!({"kind":"worker","workerId":"coder","task":task,"format":"json"}),
        )
        .await;
    }

    let r = inspect(
        &inspector,
        &h.socket,
        "task_list",
        &["view=tasks", "limit=1", "format=json"],
    )
    .await;
    let view: orch::wire::TasksView = json_of(&r);
    assert_eq!(
        (view.tasks.len(), view.total),
        (1, 2),
        "limit is an integer"
    );

    let r = inspect(
        &inspector,
        &h.socket,
        "task_start",
        &[
            "kind=op",
            "op=worker.model.set",
            r#"worker={"workerId":"docs","model":"node:fast","modelPolicy":"sticky"}"#,
            "format=json",
        ],
    )
    .await;
    let op: TaskRow = json_of(&r);
    let mut done: AwaitView =
        json_of(&call(&c, "task_await", json!({"taskId": op.id, "format":"json"})).await);
    assert_eq!(done.tasks.remove(0).status, TaskStatus::Succeeded);
    let docs = worker_row(&c, "docs").await;
    assert_eq!(
        (docs.model_ref.as_str(), docs.policy),
        ("node:fast", Policy::Sticky)
    );

    let r = inspect(
        &inspector,
        &h.socket,
        "task_start",
        &[
            "kind=worker",
            "workerId=docs",
            "task=hello",
            "timeoutMs=60000",
            "format=json",
        ],
    )
    .await;
    let run: TaskRow = json_of(&r);
    let mut done: AwaitView =
        json_of(&call(&c, "task_await", json!({"taskId": run.id, "format":"json"})).await);
    let run = done.tasks.remove(0);
    assert_eq!(run.status, TaskStatus::Succeeded);
    assert_eq!(run.resolved_model.as_deref(), Some("fake/fast-mini"));
    let run_call = h
        .fake
        .calls()
        .into_iter()
        .rev()
        .find_map(|call| match call {
            Call::Run(req) => Some(req),
            _ => None,
        })
        .expect("the task ran");
    assert_eq!(run_call.timeout, Some(Duration::from_millis(60_000)));

    let r = inspect(
        &inspector,
        &h.socket,
        "task_peek",
        &[r#"taskIds=["t1","t99"]"#, "format=json"],
    )
    .await;
    let peeked: AwaitView = json_of(&r);
    assert_eq!(peeked.tasks.len(), 1);
    assert_eq!(peeked.tasks[0].id, "t1");
    assert_eq!(peeked.unknown, ["t99"]);
    h.end(c).await;
}

#[tokio::test]
async fn model_set_shows_in_workers_the_next_task_uses_it_and_reset_restores_it() {
    let (h, c) = Harness::with_client().await;
    let before = worker_row(&c, "docs").await;
    assert_eq!(before.model_ref, "node:docs");
    let default_model = before.resolved_model.clone();
    assert!(default_model.is_some());

    let set = start_and_await(
        &c,
        json!({"kind":"op","op":"worker.model.set","format":"json",
               "worker":{"workerId":"docs","model":"fake/vision-pro","modelPolicy":"sticky"}}),
    )
    .await;
    assert_eq!(set.status, TaskStatus::Succeeded, "{set:?}");
    assert_eq!(set.resolved_model.as_deref(), Some("fake/vision-pro"));

    let after = worker_row(&c, "docs").await;
    assert_eq!(after.model_ref, "fake/vision-pro");
    assert_eq!(after.resolved_model.as_deref(), Some("fake/vision-pro"));
    assert_eq!(after.policy, Policy::Sticky);
    assert!(after.overridden && !after.reason.is_empty());

    let next = start_and_await(
        &c,
        json!({"kind":"worker","workerId":"docs","task":"which model?","format":"json"}),
    )
    .await;
    assert_eq!(next.answered_by.as_deref(), Some("fake/vision-pro"));
    assert_eq!(next.requested_ref.as_deref(), Some("fake/vision-pro"));
    let md = text(&call(&c, "task_list", json!({"view":"workers"})).await);
    assert!(
        md.contains("fake/vision-pro (set)") || md.contains("fake/vision-pro"),
        "{md}"
    );

    let reset = start_and_await(
        &c,
        json!({"kind":"op","op":"worker.model.reset","worker":{"workerId":"docs"},"format":"json"}),
    )
    .await;
    assert_eq!(reset.status, TaskStatus::Succeeded, "{reset:?}");
    let restored = worker_row(&c, "docs").await;
    assert_eq!(restored.model_ref, "node:docs");
    assert_eq!(restored.resolved_model, default_model);
    assert!(!restored.overridden);
    h.end(c).await;
}

#[tokio::test]
async fn the_socket_client_drives_every_orchestrator_method() {
    let h = Harness::start().await;
    let o = h.orch().await;
    let row = ok(o
        .set_model(&SetModelRequest {
            worker: "explorer".into(),
            model: "openai/gpt-5-mini".into(),
            policy: Policy::Dynamic,
            respawn: false,
            force: false,
        })
        .await);
    assert_eq!(row.model_ref, "openai/gpt-5-mini");
    assert_eq!(row.resolved_model.as_deref(), Some("openai/gpt-5-mini"));
    let started = ok(o
        .run(&RunRequest {
            worker: "explorer".into(),
            task: "find main".into(),
            auto_spawn: true,
            ..RunRequest::default()
        })
        .await);
    assert_eq!(started.status, TaskStatus::Queued);
    let done = ok(o
        .await_tasks(std::slice::from_ref(&started.id), Duration::from_secs(10))
        .await);
    assert_eq!(
        done.tasks[0].answered_by.as_deref(),
        Some("openai/gpt-5-mini")
    );
    let tasks = ok(o.tasks(&TasksQuery::default()).await);
    assert_eq!(tasks.total, 2);
    assert_eq!(tasks.tasks[0].id, started.id, "newest first");
    let cancel = ok(o.cancel(&[started.id.clone(), "t999".into()]).await);
    assert_eq!(cancel.results[0].outcome, CancelOutcome::AlreadyFinished);
    assert_eq!(cancel.results[1].outcome, CancelOutcome::NotFound);
    let reset = ok(o.reset_model("explorer").await);
    assert_eq!(reset.model_ref, "node:fast");
    let status = ok(o.status().await);
    assert_eq!(
        status.socket.as_deref(),
        Some(h.socket.display().to_string().as_str())
    );
    assert_eq!(status.max_message_bytes, orch::mcp::MAX_MESSAGE_BYTES);
    assert!(status.connections >= 1);
    assert_eq!(ok(o.workers().await).workers.len(), 6);
    assert!(ok(o.profiles().await).profiles.len() == 6);
    // A domain error crosses the socket as orch::Error with suggestions.
    let e = o
        .set_model(&SetModelRequest {
            worker: "doc".into(),
            model: "node".into(),
            policy: Policy::Dynamic,
            respawn: false,
            force: false,
        })
        .await
        .expect_err("an unknown worker is refused");
    assert_eq!(e.kind, orch::error::ErrorKind::NotFound);
    assert!(e.suggestions.contains(&"docs".to_owned()), "{e:?}");
    h.end_orch(o).await;
}

#[tokio::test]
async fn domain_failures_are_tool_errors_with_suggestions() {
    let (h, c) = Harness::with_client().await;
    let r = call(
        &c,
        "task_start",
        json!({"kind":"worker","workerId":"dcos","task":"x"}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    let t = text(&r);
    assert!(
        t.contains("unknown worker") && t.contains("suggestions: "),
        "{t}"
    );
    let r = call(
        &c,
        "task_start",
        json!({"kind":"worker","workerId":"docs","model":"gpt-nonexistent-99","task":"x","format":"json"}),
    )
    .await;
    assert_eq!(r.is_error, Some(true));
    let v: Value = ok(serde_json::from_str(&text(&r)));
    assert!(
        v["error"]["message"].is_string() && v["error"]["kind"].is_string(),
        "{v}"
    );
    let r = call(&c, "task_peek", json!({"taskId":"t42"})).await;
    assert_eq!(r.is_error, Some(true));
    assert!(text(&r).contains("unknown task t42"));
    // The vision worker never silently gets a model without image input.
    let r = call(
        &c,
        "task_start",
        json!({"kind":"worker","workerId":"vision","model":"fake/fast-mini","task":"look"}),
    )
    .await;
    assert_eq!(r.is_error, Some(true), "{}", text(&r));
    h.end(c).await;
}

/// Some unknown ids do not hide the known tasks; the closest worker is suggested first.
#[tokio::test]
async fn peek_names_unknown_ids_beside_the_known_tasks_and_suggestions_are_ranked() {
    let (h, c) = Harness::with_client().await;
    let row = start_and_await(
        &c,
        json!({"kind":"worker","workerId":"coder","task":"x","format":"json"}),
    )
    .await;
    let r = call(
        &c,
        "task_peek",
        json!({"taskIds":[row.id, "t77"], "format":"json"}),
    )
    .await;
    let view: AwaitView = json_of(&r);
    assert_eq!(view.tasks.len(), 1);
    assert_eq!(view.unknown, ["t77"]);
    let md = text(&call(&c, "task_peek", json!({"taskIds":[row.id, "t77"]})).await);
    assert!(md.contains("unknown tasks: t77"), "{md}");
    let r = call(
        &c,
        "task_start",
        json!({"kind":"worker","workerId":"dcos","task":"x","format":"json"}),
    )
    .await;
    let v: Value = ok(serde_json::from_str(&text(&r)));
    assert_eq!(v["error"]["suggestions"][0], "docs", "{v}");
    h.end(c).await;
}

#[tokio::test]
async fn auto_tasks_route_images_to_vision_else_worker_else_coder() {
    let (h, c) = Harness::with_client().await;
    let cases = [
        (
            json!({"task":"what is this?","attachments":[{"base64":"iVBORw0KGgo=","mime":"image/png"}]}),
            "vision",
        ),
        (json!({"task":"x","workerId":"docs"}), "docs"),
        (json!({"task":"x"}), "coder"),
    ];
    for (mut args, want) in cases {
        args["format"] = json!("json");
        let row: TaskRow = json_of(&call(&c, "task_start", args).await);
        assert_eq!(row.kind, orch::wire::TaskKind::Auto);
        assert_eq!(row.worker.as_deref(), Some(want));
        assert!(row.route.is_some());
    }
    h.end(c).await;
}

#[tokio::test]
async fn cancel_stops_a_running_task_and_aborts_its_session() {
    let h = Harness::start().await;
    let (c, row) = a_running_task(&h).await;
    let pending: AwaitView = json_of(
        &call(
            &c,
            "task_await",
            json!({"taskId": row.id, "timeoutMs": 50, "format":"json"}),
        )
        .await,
    );
    assert!(pending.timed_out);
    assert_eq!(pending.tasks[0].status, TaskStatus::Running);
    let md = text(&call(&c, "task_cancel", json!({"taskIds":[row.id.clone()]})).await);
    assert!(md.contains("cancelled"), "{md}");
    let v: AwaitView =
        json_of(&call(&c, "task_await", json!({"taskId": row.id, "format":"json"})).await);
    assert_eq!(v.tasks[0].status, TaskStatus::Cancelled);
    wait_until(Poll::default(), async || !h.fake.aborted().is_empty()).await;
    assert_eq!(h.fake.aborted().len(), 1, "the session was not aborted");
    let again = text(&call(&c, "task_cancel", json!({"taskId": row.id})).await);
    assert!(again.contains("already finished"), "{again}");
    h.end(c).await;
}

/// `orch stop` (issue 9): a backend that stops cancels its running tasks, each with the
/// reason recorded, and aborts their sessions.
#[tokio::test]
async fn a_stopping_backend_cancels_running_tasks_with_a_recorded_reason() {
    let h = Harness::start().await;
    let (_c, row) = a_running_task(&h).await;
    let backend = Arc::clone(&h.backend);
    let fake = h.fake.clone();
    h.stop().await;
    let rows = backend
        .tasks()
        .peek(std::slice::from_ref(&row.id))
        .expect("the task is still known");
    assert_eq!(rows[0].status, TaskStatus::Cancelled);
    let reason = rows[0].error.as_ref().map(|e| e.message.clone());
    assert!(
        reason
            .as_deref()
            .is_some_and(|m| m.contains("the orch backend stopped")),
        "{reason:?}"
    );
    wait_until(Poll::default(), async || !fake.aborted().is_empty()).await;
    assert_eq!(fake.aborted().len(), 1, "the session was not aborted");
}

#[tokio::test]
async fn a_task_over_its_timeout_fails_and_its_session_is_aborted() {
    let h = Harness::start().await;
    h.fake.set_hold(true);
    let c = h.client().await;
    let done = start_and_await(
        &c,
        json!({"kind":"worker","workerId":"coder","task":"slow","timeoutMs":100,"format":"json"}),
    )
    .await;
    assert_eq!(done.status, TaskStatus::Failed);
    assert!(
        done.error
            .as_ref()
            .is_some_and(|e| e.message.contains("timed out")),
        "{:?}",
        done.error
    );
    wait_until(Poll::default(), async || !h.fake.aborted().is_empty()).await;
    assert_eq!(h.fake.aborted().len(), 1);
    h.end(c).await;
}

#[tokio::test]
async fn finished_tasks_are_bounded_oldest_forgotten_first() {
    let limits = Limits {
        finished_capacity: 5,
        ..Limits::default()
    };
    let h = Harness::with_limits(limits).await;
    let c = h.client().await;
    for i in 0..20 {
        start_and_await(
            &c,
            json!({"kind":"worker","workerId":"coder","task": format!("task {i}"),"format":"json"}),
        )
        .await;
    }
    let view: orch::wire::TasksView =
        json_of(&call(&c, "task_list", json!({"format":"json"})).await);
    assert_eq!(view.total, 5);
    assert_eq!(view.capacity, 5);
    let ids: Vec<&str> = view.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["t20", "t19", "t18", "t17", "t16"]);
    let r = call(&c, "task_peek", json!({"taskId":"t1"})).await;
    assert_eq!(r.is_error, Some(true));
    h.end(c).await;
}

#[tokio::test]
async fn bad_requests_get_json_rpc_errors_and_the_backend_keeps_serving() {
    let h = Harness::start().await;
    let mut raw = h.raw().await;
    // Before the handshake too: bytes that are not JSON get a parse error.
    assert_eq!(error_code(&raw.ask("{\"jsonrpc\":").await), -32700);
    raw.init().await;
    let cases: &[(&str, i64, Value)] = &[
        ("this is not json", -32700, Value::Null),
        ("[1, 2, 3]", -32600, Value::Null),
        (
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":"nope"}"#,
            -32600,
            json!(7),
        ),
        (
            r#"{"jsonrpc":"2.0","id":8,"method":"no/such/method"}"#,
            -32601,
            json!(8),
        ),
        (
            r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"task_explode","arguments":{}}}"#,
            -32602,
            json!(9),
        ),
        (
            r#"{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"task_peek","arguments":{"taskIds":5}}}"#,
            -32602,
            json!(10),
        ),
        (
            r#"{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"task_start","arguments":{"kind":"telepathy","task":"x"}}}"#,
            -32602,
            json!(11),
        ),
        (
            r#"{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"task_start","arguments":{"kind":"worker","task":"x"}}}"#,
            -32602,
            json!(12),
        ),
        (
            r#"{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"task_list","arguments":{"view":"models","limit":"ten"}}}"#,
            -32602,
            json!(13),
        ),
        (
            r#"{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"task_await","arguments":{"taskId":"t1","bogus":true}}}"#,
            -32602,
            json!(14),
        ),
    ];
    for (line, code, id) in cases {
        let r = raw.ask(line).await;
        assert_eq!(error_code(&r), *code, "{line} → {r}");
        assert_eq!(&r["id"], id, "{line} → {r}");
        assert!(
            r["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    // The unknown tool's error names the five.
    let r = raw
        .ask(r#"{"jsonrpc":"2.0","id":20,"method":"tools/call","params":{"name":"rm_rf","arguments":{}}}"#)
        .await;
    assert!(
        r["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("task_start")),
        "{r}"
    );
    // Over the stated limit: an error, and the connection goes on.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":30,"method":"tools/call","params":{{"name":"task_start","arguments":{{"task":"{}"}}}}}}"#,
        "x".repeat(orch::mcp::MAX_MESSAGE_BYTES)
    );
    let r = raw.ask(&big).await;
    assert_eq!(error_code(&r), -32600, "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("4194304")),
        "{r}"
    );
    let r = raw
        .ask(r#"{"jsonrpc":"2.0","id":31,"method":"tools/call","params":{"name":"task_list","arguments":{"view":"status","format":"json"}}}"#)
        .await;
    assert_eq!(r["id"], 31);
    assert_ne!(r["result"]["isError"], json!(true), "{r}");
    // Another client is served as ever.
    let c = h.client().await;
    assert_eq!(ok(c.list_all_tools().await).len(), 5);
    h.end(c).await;
}

#[tokio::test]
async fn a_client_that_disconnects_mid_call_leaves_the_backend_serving() {
    let h = Harness::start().await;
    h.fake.set_hold(true);
    let c = h.client().await;
    let row = start(
        &c,
        json!({"kind":"worker","workerId":"coder","task":"long","format":"json"}),
    )
    .await;
    {
        let mut raw = h.raw().await;
        raw.init().await;
        raw.send(&format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"task_await","arguments":{{"taskId":"{}","timeoutMs":600000}}}}}}"#,
            row.id
        ))
        .await;
        // And half a message, then gone.
        raw.send_partial(r#"{"jsonrpc":"2.0","id":2,"meth"#).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The backend notices (rmcp drains a closed connection for up to 5 s, then cancels its
    // handlers, which ends the abandoned task_await), and the other client is served.
    wait_until(Poll::default(), async || h.backend.connections() == 1).await;
    assert_eq!(h.backend.connections(), 1);
    let v: AwaitView =
        json_of(&call(&c, "task_peek", json!({"taskId": row.id, "format":"json"})).await);
    assert_eq!(
        v.tasks[0].status,
        TaskStatus::Running,
        "a disconnect does not cancel tasks"
    );
    let cancelled: orch::wire::CancelView = json_of(
        &call(
            &c,
            "task_cancel",
            json!({"taskId": row.id, "format":"json"}),
        )
        .await,
    );
    assert_eq!(cancelled.results[0].outcome, CancelOutcome::Cancelled);
    h.end(c).await;
}

impl Raw {
    async fn send_partial(&mut self, bytes: &str) {
        ok(self.write.write_all(bytes.as_bytes()).await);
    }
}

/// xorshift64*: reproducible randomness without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[usize::try_from(self.below(items.len() as u64)).unwrap_or(0)]
    }

    fn junk(&mut self, len: usize) -> String {
        (0..len)
            .map(|_| {
                // Printable bytes and a few JSON-significant ones; never a newline.
                let b = u8::try_from(self.below(95)).unwrap_or(0) + 32;
                char::from(b)
            })
            .collect()
    }

    fn value(&mut self, depth: u32) -> Value {
        match self.below(if depth > 2 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => json!(self.below(2) == 0),
            2 => json!(self.next() as i64),
            3 => {
                let n = usize::try_from(self.below(12)).unwrap_or(0);
                json!(self.junk(n))
            }
            4 => json!(self.pick(&[
                "t1",
                "docs",
                "node:fast",
                "worker.model.set",
                "json",
                "models",
                "all"
            ])),
            5 => Value::Array((0..self.below(4)).map(|_| self.value(depth + 1)).collect()),
            _ => {
                let keys = [
                    "kind",
                    "task",
                    "workerId",
                    "model",
                    "modelPolicy",
                    "taskId",
                    "taskIds",
                    "view",
                    "format",
                    "timeoutMs",
                    "op",
                    "worker",
                    "limit",
                    "zzz",
                ];
                let mut o = serde_json::Map::new();
                for _ in 0..self.below(5) {
                    o.insert(self.pick(&keys).to_owned(), self.value(depth + 1));
                }
                Value::Object(o)
            }
        }
    }
}

#[tokio::test]
async fn a_thousand_random_frames_each_get_an_answer_and_nothing_breaks() {
    let h = Harness::start().await;
    let mut raw = h.raw().await;
    raw.init().await;
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let methods = [
        "tools/call",
        "tools/list",
        "ping",
        "prompts/list",
        "resources/list",
        "nope",
        "initialize",
        "tools/call",
    ];
    let tools = [
        "task_start",
        "task_await",
        "task_peek",
        "task_list",
        "task_cancel",
        "task_zap",
    ];
    let mut errors = 0;
    for i in 0..1000u64 {
        let id = 1000 + i;
        let (frame, want_id) = match rng.below(6) {
            0 => {
                let n = 1 + usize::try_from(rng.below(200)).unwrap_or(0);
                (rng.junk(n), Value::Null)
            }
            1 => (rng.value(0).to_string(), Value::Null),
            2 => (
                json!({"jsonrpc":"2.0","id":id,"method": rng.pick(&methods),"params": rng.value(0)}).to_string(),
                json!(id),
            ),
            _ => {
                let tool = rng.pick(&tools);
                let mut args = rng.value(1);
                if !args.is_object() {
                    args = json!({"junk": args});
                }
                // Never wait long: random task_await calls get a short timeout.
                args["timeoutMs"] = json!(rng.below(20));
                (
                    json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{"name":tool,"arguments":args}}).to_string(),
                    json!(id),
                )
            }
        };
        // A frame that happens to be a JSON-RPC notification or response gets no answer.
        let parsed: Option<Value> = serde_json::from_str(&frame).ok();
        let silent = parsed.as_ref().is_some_and(|v| {
            v.is_object() && v.get("id").is_none() && v.get("method").is_some_and(Value::is_string)
        });
        if silent {
            continue;
        }
        let r = raw.ask(&frame).await;
        assert!(
            r.get("result").is_some() || r.get("error").is_some(),
            "{frame} → {r}"
        );
        if want_id != Value::Null {
            assert_eq!(r["id"], want_id, "{frame} → {r}");
        }
        if r.get("error").is_some() || r["result"]["isError"] == json!(true) {
            errors += 1;
        }
        let text = r.to_string();
        for s in FAKE_SECRETS {
            assert!(!text.contains(s));
        }
    }
    assert!(
        errors > 500,
        "most random frames are bad requests ({errors})"
    );
    // Still alive, for this client and another.
    let r = raw
        .ask(r#"{"jsonrpc":"2.0","id":"last","method":"ping"}"#)
        .await;
    assert_eq!(r["id"], "last");
    let c = h.client().await;
    assert_eq!(ok(c.list_all_tools().await).len(), 5);
    h.end(c).await;
}

/// Two clients set the same worker to different models at once, many times: afterwards
/// the worker is in exactly one of the two requested states, never a mix. It only needs a
/// socket, so it runs against a backend over the real worker manager as well as the fake.
async fn concurrent_sets_leave_one_state(socket: &Path) {
    let connect = || async {
        let stream = ok(UnixStream::connect(socket).await);
        ok(().serve(stream).await)
    };
    let a = connect().await;
    let b = connect().await;
    let states = [
        ("fake/vision-pro", "sticky"),
        ("openai/gpt-5-mini", "dynamic"),
    ];
    for round in 0..20 {
        let set = |c: &RunningService<RoleClient, ()>,
                   (model, policy): (&'static str, &'static str)| {
            let args = json!({"kind":"op","op":"worker.model.set","format":"json",
                "worker":{"workerId":"docs","model":model,"modelPolicy":policy}});
            let c = c.peer().clone();
            async move {
                let Value::Object(args) = args else {
                    unreachable!()
                };
                ok(
                    c.call_tool(CallToolRequestParams::new("task_start").with_arguments(args))
                        .await,
                )
            }
        };
        let (ra, rb) = tokio::join!(set(&a, states[0]), set(&b, states[1]));
        let ids: Vec<String> = [ra, rb].iter().map(|r| json_of::<TaskRow>(r).id).collect();
        let _: AwaitView =
            json_of(&call(&a, "task_await", json!({"taskIds": ids, "format":"json"})).await);
        let w = worker_row(&a, "docs").await;
        let got = (w.model_ref.as_str(), w.policy.as_str());
        assert!(states.contains(&got), "round {round}: mixed state {got:?}");
        assert_eq!(
            w.resolved_model.as_deref(),
            Some(w.model_ref.as_str()),
            "round {round}"
        );
    }
    ok(a.cancel().await);
    ok(b.cancel().await);
}

#[tokio::test]
async fn two_clients_changing_one_worker_leave_one_of_the_requested_states() {
    let h = Harness::start().await;
    concurrent_sets_leave_one_state(&h.socket).await;
    h.stop().await;
}

#[tokio::test]
async fn socket_and_directory_are_private_and_a_live_socket_is_never_taken() {
    use std::os::unix::fs::PermissionsExt;
    let h = Harness::start().await;
    let mode = |p: &Path| ok(std::fs::metadata(p)).permissions().mode() & 0o777;
    assert_eq!(mode(&h.socket), 0o600);
    let dir = h.socket.parent().unwrap_or(Path::new("/"));
    assert_eq!(mode(dir), 0o700);
    // A second backend on the same path is refused, and the first keeps serving.
    match Listener::bind(&h.socket) {
        Err(SocketError::AlreadyRunning { .. }) => {}
        other => panic!("expected AlreadyRunning, got {other:?}"),
    }
    let c = h.client().await;
    assert_eq!(ok(c.list_all_tools().await).len(), 5);
    ok(c.cancel().await);
    let socket = h.socket.clone();
    h.stop().await;
    assert!(!socket.exists(), "the socket is removed on shutdown");

    // A stale socket (nobody listening) is replaced.
    let tmp = ok(tempfile::tempdir());
    ok(std::fs::set_permissions(
        tmp.path(),
        std::fs::Permissions::from_mode(0o700),
    ));
    let stale = tmp.path().join("s.sock");
    drop(ok(std::os::unix::net::UnixListener::bind(&stale)));
    assert!(stale.exists());
    let l = ok(Listener::bind(&stale));
    assert_eq!(mode(&stale), 0o600);
    drop(l);
    assert!(!stale.exists());

    // Something that is not a socket is left alone.
    let file = tmp.path().join("f.sock");
    ok(std::fs::write(&file, "keep me"));
    assert!(matches!(
        Listener::bind(&file),
        Err(SocketError::NotASocket { .. })
    ));
    assert_eq!(ok(std::fs::read_to_string(&file)), "keep me");

    // A directory others can enter is refused; so is a symlinked one.
    let open = tmp.path().join("open");
    ok(std::fs::create_dir(&open));
    ok(std::fs::set_permissions(
        &open,
        std::fs::Permissions::from_mode(0o755),
    ));
    match Listener::bind(&open.join("s.sock")) {
        Err(SocketError::UnsafeDir { why, .. }) => assert!(why.contains("chmod 700"), "{why}"),
        other => panic!("expected UnsafeDir, got {other:?}"),
    }
    let link = tmp.path().join("link");
    let private = tmp.path().join("private");
    ok(std::fs::create_dir(&private));
    ok(std::fs::set_permissions(
        &private,
        std::fs::Permissions::from_mode(0o700),
    ));
    ok(std::os::unix::fs::symlink(&private, &link));
    assert!(matches!(
        Listener::bind(&link.join("s.sock")),
        Err(SocketError::UnsafeDir { .. })
    ));
    // A new directory is created private.
    let fresh = tmp.path().join("a/b");
    let l = ok(Listener::bind(&fresh.join("s.sock")));
    assert_eq!(mode(&fresh), 0o700);
    drop(l);
}

#[tokio::test]
async fn no_secret_appears_in_any_tool_result() {
    let (h, c) = Harness::with_client().await;
    // Some history first, so every view has content.
    start_and_await(&c, json!({"kind":"worker","workerId":"docs","model":"node:fast","task":"hello","format":"json"})).await;
    start_and_await(&c, json!({"kind":"op","op":"worker.model.set","worker":{"workerId":"coder","model":"groq/llama-3.1-8b-instant"},"format":"json"})).await;
    let mut checked = 0;
    for format in ["markdown", "json"] {
        let mut calls = vec![
            (
                "task_start",
                json!({"kind":"worker","workerId":"docs","task":"again"}),
            ),
            (
                "task_start",
                json!({"kind":"worker","workerId":"nobody","task":"x"}),
            ),
            (
                "task_start",
                json!({"kind":"worker","workerId":"docs","model":"sk-test","task":"x"}),
            ),
            ("task_await", json!({"taskIds":["t1","t2"]})),
            ("task_peek", json!({"taskId":"t1"})),
            ("task_cancel", json!({"taskIds":["t1","t77"]})),
            ("task_list", json!({"view":"output","taskId":"t1"})),
            ("task_list", json!({"view":"resolve","model":"openai"})),
            (
                "task_list",
                json!({"view":"resolve","model":"node:vision","workerId":"vision"}),
            ),
        ];
        for view in ["tasks", "workers", "profiles", "models", "status"] {
            calls.push(("task_list", json!({"view": view})));
        }
        calls.push((
            "task_list",
            json!({"view":"models","scope":"all","query":"gpt"}),
        ));
        for (tool, mut args) in calls {
            args["format"] = json!(format);
            let r = call(&c, tool, args.clone()).await;
            assert_no_secret(&format!("{tool} {args}"), &text(&r));
            assert_no_secret(&format!("{tool} {args}"), &format!("{r:?}"));
            checked += 1;
        }
    }
    assert_eq!(checked, 30);
    h.end(c).await;
}

#[tokio::test]
async fn shutdown_stops_the_worker_service() {
    let h = Harness::start().await;
    let fake = h.fake.clone();
    h.stop().await;
    assert!(fake.calls().contains(&Call::Shutdown));
}

/// A backend over the real worker manager (fake spawner: each "OpenCode" is a fake HTTP
/// server; fake clock), on a socket in a temporary home; stopped when dropped.
struct RealBackend {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    spawner: orch::testutil::fake_spawner::FakeSpawner,
    served: Served<
        orch::workers::Manager<orch::testutil::fake_spawner::FakeSpawner, orch::clock::FakeClock>,
    >,
}

impl RealBackend {
    async fn start() -> Self {
        let dir = ok(tempfile::tempdir());
        let (paths, env) = capture_home(dir.path());
        let spawner = orch::testutil::fake_spawner::FakeSpawner::new();
        let manager = spawner.manager(&paths, &env);
        let served = Served::start(Arc::new(manager), &paths, Limits::default());
        Self {
            _dir: dir,
            socket: served.socket.clone(),
            spawner,
            served,
        }
    }

    async fn client(&self) -> RunningService<RoleClient, ()> {
        ok(().serve(ok(UnixStream::connect(&self.socket).await)).await)
    }

    /// Stops the backend; the manager stops its workers.
    async fn stop(self) {
        self.served.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_real_manager_tasks_report_the_model_that_answered_and_set_reset_apply() {
    let b = RealBackend::start().await;
    let c = b.client().await;
    let t = start_and_await(
        &c,
        json!({"kind":"worker","workerId":"docs","model":"node:fast","task":"Summarise the README","format":"json"}),
    )
    .await;
    assert_eq!(t.status, TaskStatus::Succeeded, "{t:?}");
    assert_eq!(t.resolved_model.as_deref(), Some("fake/fast-mini"));
    assert_eq!(t.answered_by.as_deref(), Some("fake/fast-mini"));
    assert!(
        t.reason
            .as_deref()
            .is_some_and(|r| r.contains("small_model"))
    );
    assert!(t.session_id.is_some());
    // The prompt OpenCode received carried the resolved model.
    let sent = b.spawner.prompts();
    assert_eq!(
        sent.last().map(|p| p.body["model"]["modelID"].clone()),
        Some(json!("fast-mini"))
    );

    let set = start_and_await(
        &c,
        json!({"kind":"op","op":"worker.model.set","format":"json",
               "worker":{"workerId":"docs","model":"fake/vision-pro","modelPolicy":"dynamic"}}),
    )
    .await;
    assert_eq!(set.status, TaskStatus::Succeeded, "{set:?}");
    let w = worker_row(&c, "docs").await;
    assert_eq!(w.model_ref, "fake/vision-pro");
    assert_eq!(w.answered_by.as_deref(), Some("fake/fast-mini"));
    let next = start_and_await(
        &c,
        json!({"kind":"worker","workerId":"docs","task":"again","format":"json"}),
    )
    .await;
    assert_eq!(
        next.answered_by.as_deref(),
        Some("fake/vision-pro"),
        "{next:?}"
    );
    let reset = start_and_await(
        &c,
        json!({"kind":"op","op":"worker.model.reset","worker":{"workerId":"docs"},"format":"json"}),
    )
    .await;
    assert_eq!(reset.status, TaskStatus::Succeeded, "{reset:?}");
    assert_eq!(worker_row(&c, "docs").await.model_ref, "node:docs");
    ok(c.cancel().await);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_real_manager_cancel_aborts_the_opencode_session() {
    let b = RealBackend::start().await;
    b.spawner.set_prompt_delay(Duration::from_secs(30));
    let c = b.client().await;
    let row = start(
        &c,
        json!({"kind":"worker","workerId":"coder","task":"slow","format":"json"}),
    )
    .await;
    // Wait until the prompt reached OpenCode.
    wait_until(Poll::default(), async || !b.spawner.prompts().is_empty()).await;
    assert_eq!(b.spawner.prompts().len(), 1);
    let v: orch::wire::CancelView = json_of(
        &call(
            &c,
            "task_cancel",
            json!({"taskId": row.id, "format":"json"}),
        )
        .await,
    );
    assert_eq!(v.results[0].outcome, CancelOutcome::Cancelled);
    let mut aborted = 0;
    wait_until(Poll::default(), async || {
        aborted = b.spawner.servers().iter().map(|s| s.aborted().len()).sum();
        aborted > 0
    })
    .await;
    assert_eq!(
        aborted, 1,
        "the OpenCode session was aborted, not only the bookkeeping"
    );
    ok(c.cancel().await);
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_real_manager_two_clients_changing_one_worker_leave_one_of_the_requested_states() {
    let b = RealBackend::start().await;
    concurrent_sets_leave_one_state(&b.socket).await;
    b.stop().await;
}

#[tokio::test]
async fn a_backend_whose_socket_is_removed_stops() {
    let h = Harness::start().await;
    ok(std::fs::remove_file(&h.socket));
    let stopped = h.served.ends_within(Duration::from_secs(6)).await;
    assert!(stopped, "the backend kept running without its socket");
}

#[tokio::test]
async fn tag_previews_come_in_one_call_and_match_the_in_process_ones() {
    let h = Harness::start().await;
    let o = h.orch().await;
    let remote = ok(o.tag_previews("vision").await);
    let local = ok(orch::api::InProcess::new(h.fake.clone())
        .tag_previews("vision")
        .await);
    assert_eq!(remote, local);
    let tags: Vec<&str> = remote.tags.iter().map(|t| t.tag.as_str()).collect();
    assert_eq!(tags[..4], ["node", "node:fast", "node:vision", "node:docs"]);
    for t in &remote.tags {
        assert!(
            t.resolution.is_some() != t.error.is_some(),
            "{t:?}: a resolution or an error"
        );
    }
    let e = o
        .tag_previews("doc")
        .await
        .expect_err("an unknown worker is refused");
    assert!(e.suggestions.contains(&"docs".to_owned()), "{e:?}");
    h.end_orch(o).await;
}

#[tokio::test]
async fn an_op_task_carries_the_worker_row_it_left() {
    let (h, c) = Harness::with_client().await;
    let done = start_and_await(
        &c,
        json!({"kind":"op","op":"worker.model.set","format":"json",
               "worker":{"workerId":"docs","model":"openai/gpt-5-mini"}}),
    )
    .await;
    let row = ok(done.into_worker_row());
    assert_eq!(row, worker_row(&c, "docs").await);
    assert_eq!(row.resolved_model.as_deref(), Some("openai/gpt-5-mini"));
    h.end(c).await;
}
