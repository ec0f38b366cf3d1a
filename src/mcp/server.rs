//! The five tools: `task_start`, `task_await`, `task_peek`, `task_list`, `task_cancel`.
//!
//! One [`McpServer`] serves one connection; every connection shares one [`Backend`]
//! (the task registry and the worker service) behind an `Arc`. A domain failure (an unknown
//! worker, a reference that does not resolve) is a tool result with `isError` and a
//! readable message with suggestions; a malformed call (wrong types, unknown fields,
//! missing arguments) is a JSON-RPC `-32602` error.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    InitializeRequestParams, InitializeResult, JsonObject, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::args::{AttachmentArg, AwaitArgs, IdsArgs, ListArgs, StartArgs, ViewArg, WaitForArg};
use super::transport::MAX_MESSAGE_BYTES;
use crate::context::Context;
use crate::error::{Error, ErrorKind};
use crate::paths::Paths;
use crate::redact::Redactor;
use crate::render;
use crate::tasks::{Limits, StartRequest, StoreLimits, TaskStore, Tasks, Work, route_auto};
use crate::views;
use crate::wire::{
    AwaitView, Format, ModelsQuery, OpName, ReplyFormat, ResolveQuery, StatusView, TaskKind,
    TasksQuery,
};
use crate::workers::attachment::{file_name, guess_kind};
use crate::workers::{Attachment, RunRequest, SetModelRequest, WorkerService};

/// The five tool names, in the order they are listed.
pub const TOOL_NAMES: [&str; 5] = [
    "task_start",
    "task_await",
    "task_peek",
    "task_list",
    "task_cancel",
];

/// Most task ids in one call.
const MAX_IDS: usize = 64;
/// `task_await` waits this long when not told.
const DEFAULT_AWAIT: Duration = Duration::from_secs(120);
/// ... and at most this long.
const MAX_AWAIT: Duration = Duration::from_secs(30 * 60);
/// The longest `timeoutMs` a task may ask for.
const MAX_TASK_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);
/// Rows of the tasks view when no limit is given.
const DEFAULT_TASK_ROWS: usize = 50;

/// Where the backend runs, for the status view.
#[derive(Debug, Clone)]
pub struct ServeInfo {
    /// The resolved paths.
    pub paths: Paths,
    /// The socket it listens on, when it does.
    pub socket: Option<PathBuf>,
    /// Its log file.
    pub log_file: PathBuf,
    /// The project and environment it serves: a client that says it works in another
    /// one is refused at `initialize` (see [`crate::context`]). `None`: every client is
    /// accepted (in-process test backends).
    pub context: Option<Context>,
}

/// State shared by every connection: the task registry (with the worker service) and
/// what the status view reports.
pub struct Backend<W> {
    tasks: Tasks<W>,
    info: ServeInfo,
    started_at_ms: u64,
    connections: AtomicUsize,
}

impl<W> std::fmt::Debug for Backend<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

impl<W: WorkerService> Backend<W> {
    /// A backend over a worker service. Its task records live in the project's state
    /// directory (`tasks/`), shared with the project's other backends; when that cannot be
    /// opened, they live in memory only (and the log says why).
    pub fn new(workers: Arc<W>, info: ServeInfo, limits: Limits) -> Self {
        let dir = info.paths.project_state_dir().join("tasks");
        let project = info.paths.project_dir.display().to_string();
        let bounds = StoreLimits {
            max_records: limits.finished_capacity,
            ..StoreLimits::default()
        };
        let tasks = match TaskStore::open(&dir, &project, bounds) {
            Ok(store) => Tasks::with_store(workers, limits, store),
            Err(e) => {
                tracing::warn!("task records are kept in memory only: {e}");
                Tasks::new(workers, limits)
            }
        };
        Self {
            tasks,
            info,
            started_at_ms: crate::tasks::now_ms(),
            connections: AtomicUsize::new(0),
        }
    }

    /// The task registry.
    pub fn tasks(&self) -> &Tasks<W> {
        &self.tasks
    }

    /// The worker service.
    pub fn workers(&self) -> &Arc<W> {
        self.tasks.workers()
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// Counts a connection for as long as the guard lives.
    pub fn connection(self: &Arc<Self>) -> ConnectionGuard<W> {
        self.connections.fetch_add(1, Ordering::Relaxed);
        ConnectionGuard {
            backend: Arc::clone(self),
        }
    }

    /// The status view.
    pub fn status(&self) -> StatusView {
        let knowledge = self.workers().knowledge();
        let set = knowledge.resolver.set();
        let (active, kept) = self.tasks.counts();
        let now = crate::tasks::now_ms();
        StatusView {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            pid: std::process::id(),
            socket: self.info.socket.as_ref().map(|p| p.display().to_string()),
            socket_candidates: self
                .info
                .paths
                .socket_candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            skipped_sockets: super::trust::unsafe_candidates(&self.info.paths.socket_candidates)
                .iter()
                .map(ToString::to_string)
                .collect(),
            max_message_bytes: MAX_MESSAGE_BYTES,
            state_dir: self.info.paths.state_dir.display().to_string(),
            log_file: self.info.log_file.display().to_string(),
            project_dir: self.info.paths.project_dir.display().to_string(),
            started_at_ms: self.started_at_ms,
            uptime_ms: now.saturating_sub(self.started_at_ms),
            connections: self.connections(),
            active_tasks: active,
            kept_tasks: kept,
            task_capacity: self.tasks.capacity(),
            workers: knowledge.profiles.list.len(),
            source: set.origin.kind,
            catalog: set.origin.catalog.clone(),
            usable_providers: set.usable_ids().into_iter().map(str::to_owned).collect(),
            project_key: self.info.paths.project_key.clone(),
            env_key: self.info.paths.env_key.clone(),
            env_vars: self
                .info
                .context
                .as_ref()
                .map(|c| c.vars.keys().cloned().collect())
                .unwrap_or_default(),
            warnings: {
                let mut w = self.workers().warnings();
                w.extend(self.tasks.budget_warnings());
                w
            },
        }
    }

    /// Whether a client that sent `client` in its `initialize` is served: the same project
    /// and environment, one of this backend's workers, or a client that said nothing.
    pub fn admits(&self, client: Option<&Context>) -> Result<(), crate::context::Mismatch> {
        match (&self.info.context, client) {
            (Some(own), Some(client)) => own.admits(client),
            _ => Ok(()),
        }
    }
}

/// Counts one open connection; dropping it uncounts it.
pub struct ConnectionGuard<W> {
    backend: Arc<Backend<W>>,
}

impl<W> Drop for ConnectionGuard<W> {
    fn drop(&mut self) {
        self.backend.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A failed call: malformed (a JSON-RPC error) or a domain failure (a tool error result).
enum Failure {
    Malformed(String),
    Domain(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self::Domain(e)
    }
}

fn malformed<T>(message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure::Malformed(message.into()))
}

/// The reply in the format asked for: a view as JSON, or rendered as Markdown.
fn reply<V: Serialize>(
    view: &V,
    format: ReplyFormat,
    md: fn(&V, Format) -> String,
) -> CallToolResult {
    let text = match format {
        ReplyFormat::Json => match serde_json::to_string(view) {
            Ok(s) => s,
            Err(e) => {
                return error_result(
                    &Error::new(ErrorKind::Failed, format!("cannot encode the reply: {e}")),
                    format,
                );
            }
        },
        ReplyFormat::Markdown => md(view, format.into()),
    };
    CallToolResult::success(vec![ContentBlock::text(text)])
}

/// A domain failure as a tool result: `{"error": {...}}` in JSON, readable text otherwise.
fn error_result(e: &Error, format: ReplyFormat) -> CallToolResult {
    let text = match format {
        ReplyFormat::Json => serde_json::json!({ "error": e }).to_string(),
        ReplyFormat::Markdown => {
            let mut s = format!("error: {}", e.message);
            if !e.suggestions.is_empty() {
                s.push_str(&format!("\nsuggestions: {}", e.suggestions.join(", ")));
            }
            s
        }
    };
    CallToolResult::error(vec![ContentBlock::text(text)])
}

/// The one place every tool reply passes: no secret orch knows leaves in it.
fn redact_reply(redactor: &Redactor, reply: CallToolResponse) -> CallToolResponse {
    let CallToolResponse::Complete(mut result) = reply else {
        return reply;
    };
    for block in &mut result.content {
        if let ContentBlock::Text(t) = block {
            redactor.redact_in_place(&mut t.text);
        }
    }
    if let Some(v) = result.structured_content.as_mut() {
        redactor.redact_value(v);
    }
    CallToolResponse::Complete(result)
}

fn finish(
    r: Result<CallToolResult, Failure>,
    format: ReplyFormat,
) -> Result<CallToolResult, ErrorData> {
    match r {
        Ok(ok) => Ok(ok),
        Err(Failure::Domain(e)) => Ok(error_result(&e, format)),
        Err(Failure::Malformed(m)) => Err(ErrorData::invalid_params(m, None)),
    }
}

fn ids(one: Option<String>, many: Vec<String>) -> Result<Vec<String>, Failure> {
    let mut out = many;
    out.extend(one);
    out.retain(|s| !s.trim().is_empty());
    if out.is_empty() {
        return malformed("give taskId (one id, e.g. \"t3\") or taskIds (several)");
    }
    if out.len() > MAX_IDS {
        return malformed(format!("at most {MAX_IDS} task ids per call"));
    }
    Ok(out)
}

fn attachment(a: AttachmentArg) -> Result<Attachment, Failure> {
    let path = a.path.filter(|p| !p.trim().is_empty()).map(PathBuf::from);
    let base64 = a.base64.filter(|b| !b.is_empty());
    match (&path, &base64) {
        (Some(_), Some(_)) => return malformed("an attachment takes path or base64, not both"),
        (None, None) => return malformed("an attachment needs path (absolute) or base64"),
        _ => {}
    }
    if let Some(p) = &path {
        if !p.is_absolute() {
            return malformed(format!("attachment path {} is not absolute", p.display()));
        }
        if !p.is_file() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("attachment {} does not exist or is not a file", p.display()),
            )
            .into());
        }
    }
    let kind = a.kind.unwrap_or_else(|| {
        guess_kind(
            a.mime.as_deref(),
            file_name(a.name.as_deref(), path.as_deref()).as_deref(),
        )
    });
    Ok(Attachment {
        kind,
        path,
        base64,
        mime: a.mime,
        name: a.name,
    })
}

/// Turns `task_start` arguments into a request; `profiles` routes `auto` tasks.
fn start_request(
    a: StartArgs,
    profiles: &crate::profiles::Profiles,
) -> Result<StartRequest, Failure> {
    let non_empty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let worker_id = non_empty(a.worker_id);
    let model = non_empty(a.model);
    if a.kind == TaskKind::Op {
        let Some(op) = a.op else {
            return malformed(
                "kind \"op\" needs op: \"worker.model.set\" or \"worker.model.reset\"",
            );
        };
        if op == OpName::HealthReset {
            return Ok(StartRequest {
                kind: TaskKind::Op,
                work: Work::ResetHealth,
                route: None,
            });
        }
        let w = a.worker.unwrap_or_default();
        let pick = |inner: Option<String>, outer: Option<String>, name: &str| match (
            non_empty(inner),
            outer,
        ) {
            (Some(a), Some(b)) if a != b => malformed(format!(
                "worker.{name} and {name} disagree ({a:?} vs {b:?}); give one"
            )),
            (a, b) => Ok(a.or(b)),
        };
        let Some(worker) = pick(w.worker_id, worker_id, "workerId")? else {
            return malformed(format!("{} needs worker.workerId", op.as_str()));
        };
        let work = match op {
            OpName::WorkerModelSet => {
                let Some(model) = pick(w.model, model, "model")? else {
                    return malformed(
                        "worker.model.set needs worker.model (a tag such as node:fast, or provider/model)",
                    );
                };
                Work::SetModel(SetModelRequest {
                    worker,
                    model,
                    policy: w.model_policy.or(a.model_policy).unwrap_or_default(),
                    respawn: w.respawn,
                    force: w.force,
                })
            }
            OpName::WorkerModelReset => Work::ResetModel { worker },
            OpName::HealthReset => Work::ResetHealth,
        };
        return Ok(StartRequest {
            kind: TaskKind::Op,
            work,
            route: None,
        });
    }
    if a.op.is_some() || a.worker.is_some() {
        return malformed("op and worker are for kind \"op\"; for a task use workerId and model");
    }
    let Some(task) = a.task.filter(|t| !t.trim().is_empty()) else {
        return malformed("task is missing: say what the worker should do");
    };
    let attachments = a
        .attachments
        .into_iter()
        .map(attachment)
        .collect::<Result<Vec<_>, _>>()?;
    let (kind, worker, route) = match a.kind {
        TaskKind::Worker => {
            let Some(w) = worker_id else {
                return malformed("kind \"worker\" needs workerId (or use kind \"auto\")");
            };
            (TaskKind::Worker, w, None)
        }
        TaskKind::Auto | TaskKind::Op => {
            let (w, why) = route_auto(worker_id.as_deref(), &attachments, profiles)?;
            (TaskKind::Auto, w, Some(why))
        }
    };
    let timeout = match a.timeout_ms {
        Some(0) => return malformed("timeoutMs must be at least 1"),
        Some(ms) => Some(Duration::from_millis(ms).min(MAX_TASK_TIMEOUT)),
        None => None,
    };
    Ok(StartRequest {
        kind,
        work: Work::Run(RunRequest {
            worker,
            task,
            policy: model.as_ref().and(a.model_policy),
            model,
            force_new: a.force_new,
            auto_spawn: a.auto_spawn.unwrap_or(true),
            attachments,
            timeout,
        }),
        route,
    })
}

/// Parses a tool's arguments strictly; a mismatch is a malformed call whose message
/// names the field and never repeats the value (it may be a key).
fn parse_args<T: DeserializeOwned>(tool: &str, args: Option<&JsonObject>) -> Result<T, ErrorData> {
    let value = serde_json::Value::Object(args.cloned().unwrap_or_default());
    serde_path_to_error::deserialize(value).map_err(|e| {
        ErrorData::invalid_params(
            format!(
                "invalid arguments for {tool}: {} (see the tool's input schema)",
                type_error(&e)
            ),
            None,
        )
    })
}

/// What serde says, without the value: serde writes it into the message (`invalid type:
/// string "…"`, ``unknown variant `…` ``), quoted with escapes, so rather than cut it out
/// this keeps only the words serde chose (the kind of value and what was expected, which
/// come from the argument types) and the path, whose names come from them too.
fn type_error(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    const KINDS: [&str; 16] = [
        "string",
        "integer",
        "floating point",
        "boolean",
        "character",
        "byte array",
        "unit value",
        "Option value",
        "newtype struct",
        "sequence",
        "map",
        "enum",
        "unit variant",
        "newtype variant",
        "tuple variant",
        "struct variant",
    ];
    let message = e.inner().to_string();
    // What was expected comes last and is the types' text; the value comes before it.
    let (got, expected) = match message.rsplit_once(", expected ") {
        Some((got, expected)) => (got, Some(expected)),
        None => (message.as_str(), None),
    };
    let expected = expected.map(|x| match x {
        "u8" | "u16" | "u32" | "u64" | "usize" | "i8" | "i16" | "i32" | "i64" | "isize" => {
            "an integer".to_owned()
        }
        x if x.starts_with("struct ") => "an object".to_owned(),
        x => x.to_owned(),
    });
    let what = ["invalid type", "invalid value"]
        .iter()
        .find_map(|prefix| {
            let unexpected = got.strip_prefix(prefix)?.strip_prefix(": ")?;
            let kind = KINDS.iter().find(|k| unexpected.starts_with(*k))?;
            Some(format!("{prefix}: {kind}"))
        })
        .or_else(|| {
            [
                "unknown field",
                "unknown variant",
                "missing field",
                "duplicate field",
                "invalid length",
            ]
            .iter()
            .find(|p| got.starts_with(*p))
            .map(|p| (*p).to_owned())
        })
        .unwrap_or_else(|| "invalid value".to_owned());
    let what = match expected {
        Some(x) => format!("{what}, expected {x}"),
        None => what,
    };
    let path = field_path(e.path());
    if path.is_empty() {
        what
    } else {
        format!("{path}: {what}")
    }
}

/// The path to the failing field, `attachments[0].kind`; a key the argument types do not
/// declare (an unknown field) is the caller's text, so it stops the path there.
fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key }
                if !key.is_empty()
                    && key.len() <= 32
                    && key.chars().all(|c| c.is_ascii_alphanumeric()) =>
            {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Map { .. } | Segment::Enum { .. } | Segment::Unknown => break,
        }
    }
    out
}

/// One connection's MCP server.
pub struct McpServer<W> {
    backend: Arc<Backend<W>>,
    router: ToolRouter<Self>,
}

impl<W> Clone for McpServer<W> {
    fn clone(&self) -> Self {
        Self {
            backend: Arc::clone(&self.backend),
            router: self.router.clone(),
        }
    }
}

impl<W> std::fmt::Debug for McpServer<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpServer").finish_non_exhaustive()
    }
}

#[tool_router]
impl<W: WorkerService> McpServer<W> {
    /// A server for one connection.
    pub fn new(backend: Arc<Backend<W>>) -> Self {
        Self {
            backend,
            router: Self::tool_router(),
        }
    }

    #[tool(
        description = "Start work in the background; returns a task id at once (then call task_await). kind \"worker\": run `task` on the worker `workerId`, optionally on `model` (a tag such as node:fast, or provider/model); kind \"auto\": orch picks the worker (the vision worker when an image is attached, else workerId, else coder); kind \"op\": change a worker's model with op \"worker.model.set\" and worker {workerId, model, modelPolicy, respawn, force}, or restore it with op \"worker.model.reset\" and worker {workerId}; op \"health.reset\" clears the model health record. `model` may be a fallback chain (a list, or comma-separated), tried in order when a model fails. Example: {\"kind\":\"worker\",\"workerId\":\"docs\",\"model\":\"node:fast\",\"task\":\"Summarise the README\"}."
    )]
    async fn task_start(
        &self,
        Parameters(a): Parameters<StartArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let format = a.format;
        let r = async {
            let knowledge = self.backend.workers().knowledge();
            let req = start_request(a, &knowledge.profiles)?;
            let row = self.backend.tasks().start(req).await?;
            Ok(reply(&row, format, render::started))
        }
        .await;
        finish(r, format)
    }

    #[tool(
        description = "Wait until tasks finish (up to timeoutMs, default 2 minutes) and return each one's status, output, requested model, resolved model, the reason for it, and the model that really answered. If it times out, the tasks are still running: await again.",
        annotations(read_only_hint = true)
    )]
    async fn task_await(
        &self,
        Parameters(a): Parameters<AwaitArgs>,
        ct: tokio_util::sync::CancellationToken,
    ) -> Result<CallToolResult, ErrorData> {
        let format = a.format;
        let r = async {
            let ids = ids(a.task_id, a.task_ids)?;
            let timeout = a
                .timeout_ms
                .map_or(DEFAULT_AWAIT, Duration::from_millis)
                .min(MAX_AWAIT);
            let wait = self
                .backend
                .tasks()
                .wait(&ids, timeout, a.wait_for == WaitForArg::Any);
            // A client that disconnects stops waiting; the tasks go on.
            let view = tokio::select! {
                v = wait => v?,
                () = ct.cancelled() => return Err(Failure::Domain(Error::new(ErrorKind::Failed, "the request was cancelled"))),
            };
            Ok(reply(&view, format, render::awaited))
        }
        .await;
        finish(r, format)
    }

    #[tool(
        description = "Return tasks' current status and output without waiting (same fields as task_await). Ids orch does not know are named in `unknown`; the known tasks are still returned.",
        annotations(read_only_hint = true)
    )]
    async fn task_peek(
        &self,
        Parameters(a): Parameters<IdsArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let format = a.format;
        let r = (|| {
            let ids = ids(a.task_id, a.task_ids)?;
            // Some unknown ids do not hide the known tasks; only none known is an error.
            let (tasks, unknown) = self.backend.tasks().peek_known(&ids)?;
            Ok(reply(
                &AwaitView {
                    tasks,
                    timed_out: false,
                    unknown,
                },
                format,
                render::awaited,
            ))
        })();
        finish(r, format)
    }

    #[tool(
        description = "Read-only views. view \"tasks\" (default): recent tasks. \"workers\": each worker's status, model ref, resolved model, policy, reason, the model that answered its last task, vision, port. \"profiles\": worker profiles and their tag-based defaults. \"models\": usable models (scope, providers, query, visionOnly, limit). \"resolve\": what `model` resolves to (for workerId), why, and the ranked candidates. \"status\": the backend and its paths. \"output\": one task's full output (taskId). \"tags\": every tag and what it resolves to now for workerId. \"health\": models and providers with failures on record and their cooldowns. \"usage\": tokens and cost of the project's tasks summed per worker, model or day (by). format \"markdown\" (default) or \"json\".",
        annotations(read_only_hint = true)
    )]
    async fn task_list(
        &self,
        Parameters(a): Parameters<ListArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let format = a.format;
        let r = self.list(a, format).await;
        finish(r, format)
    }

    #[tool(
        description = "Cancel queued or running tasks (taskId or taskIds). A running worker task stops and its OpenCode session is aborted; an operation already being applied finishes on its own.",
        annotations(read_only_hint = false, destructive_hint = true)
    )]
    async fn task_cancel(
        &self,
        Parameters(a): Parameters<IdsArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let format = a.format;
        let r = ids(a.task_id, a.task_ids).map(|ids| {
            reply(
                &self.backend.tasks().cancel(&ids),
                format,
                render::cancelled,
            )
        });
        finish(r, format)
    }
}

impl<W: WorkerService> McpServer<W> {
    async fn list(&self, a: ListArgs, format: ReplyFormat) -> Result<CallToolResult, Failure> {
        let backend = &self.backend;
        Ok(match a.view {
            ViewArg::Tasks => {
                let q = TasksQuery {
                    status: a.status,
                    limit: Some(a.limit.unwrap_or(DEFAULT_TASK_ROWS)),
                    kind: a.kind.unwrap_or_default(),
                    output: a.output,
                };
                reply(&backend.tasks().list(&q), format, render::tasks)
            }
            ViewArg::Workers => {
                let mut view = backend.workers().workers().await;
                view.project = backend.info.paths.project_dir.display().to_string();
                view.warnings = backend.workers().warnings();
                backend.tasks().annotate_workers(&mut view);
                backend.tasks().add_usage(&mut view, crate::tasks::now_ms());
                reply(&view, format, render::workers)
            }
            ViewArg::Profiles => reply(
                &views::profiles(&backend.workers().knowledge()),
                format,
                render::profiles,
            ),
            ViewArg::Models => {
                let q = ModelsQuery {
                    scope: a.scope.unwrap_or_default(),
                    providers: a.providers,
                    query: a.query,
                    vision_only: a.vision_only,
                    limit: a.limit,
                    worker: a.worker_id,
                };
                let mut view = views::models_checked(&backend.workers().knowledge(), &q)?;
                // The backend's warnings too (a damaged state.json), each once.
                for w in backend.workers().warnings() {
                    if !view.warnings.contains(&w) {
                        view.warnings.push(w);
                    }
                }
                views::mark_health(&mut view, &backend.workers().health());
                reply(&view, format, render::models)
            }
            ViewArg::Resolve => {
                // An empty reference is the resolver's to refuse (with its own message).
                let Some(reference) = a.model else {
                    return malformed("view \"resolve\" needs model: the reference to resolve");
                };
                let q = ResolveQuery {
                    reference,
                    worker: a.worker_id,
                    policy: Default::default(),
                };
                reply(
                    &views::resolve(&backend.workers().knowledge(), &q)?,
                    format,
                    render::resolve,
                )
            }
            ViewArg::Status => reply(&backend.status(), format, render::status),
            ViewArg::Health => reply(&backend.workers().health(), format, render::health),
            ViewArg::Usage => reply(
                &backend.tasks().usage(a.by.unwrap_or_default())?,
                format,
                crate::usage::render,
            ),
            ViewArg::Tags => {
                let Some(worker) = a.worker_id else {
                    return malformed("view \"tags\" needs workerId");
                };
                reply(
                    &views::tag_previews(&backend.workers().knowledge(), &worker)?,
                    format,
                    render::tag_previews,
                )
            }
            ViewArg::Output => {
                let Some(id) = a.task_id else {
                    return malformed("view \"output\" needs taskId");
                };
                let rows = backend.tasks().peek(&[id])?;
                match rows.into_iter().next() {
                    Some(row) => reply(&row, format, render::task),
                    None => return Err(Error::new(ErrorKind::NotFound, "no such task").into()),
                }
            }
        })
    }
}

const INSTRUCTIONS: &str = "orch runs tasks on OpenCode workers (vision, docs, coder, architect, explorer, memory) and chooses each worker's model. Start work with task_start (it returns a task id at once), wait with task_await, check with task_peek, stop with task_cancel. task_list shows tasks, workers (with each one's model and why), profiles, models, a resolution (view resolve) and the backend status. Change a worker's model with task_start kind \"op\", op \"worker.model.set\".";

#[tool_handler(router = self.router)]
impl<W: WorkerService> ServerHandler for McpServer<W> {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("orch", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    /// Refuses a client whose `orch/context` names another project or environment (see
    /// [`crate::context`]); a client that sends none is accepted.
    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        let sent = Context::from_capabilities(request.capabilities.experimental.as_ref())
            .map_err(|why| ErrorData::invalid_params(why, None))?;
        if let Err(mismatch) = self.backend.admits(sent.as_ref()) {
            tracing::warn!("refused a client: {mismatch}");
            return Err(ErrorData::invalid_request(mismatch.to_string(), None));
        }
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let redactor = self.backend.workers().redactor();
        match self.call_tool_unredacted(request, context).await {
            Ok(reply) => Ok(redact_reply(&redactor, reply)),
            Err(mut e) => {
                if let Cow::Owned(clean) = redactor.redact(&e.message) {
                    e.message = Cow::Owned(clean);
                }
                Err(e)
            }
        }
    }
}

impl<W: WorkerService> McpServer<W> {
    async fn call_tool_unredacted(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        // rmcp turns arguments that do not match a tool's type into a tool result; a
        // malformed call is a JSON-RPC error here, so check them first.
        let args = request.arguments.as_ref();
        match request.name.as_ref() {
            "task_start" => parse_args::<StartArgs>("task_start", args).map(drop)?,
            "task_await" => parse_args::<AwaitArgs>("task_await", args).map(drop)?,
            "task_peek" => parse_args::<IdsArgs>("task_peek", args).map(drop)?,
            "task_list" => parse_args::<ListArgs>("task_list", args).map(drop)?,
            "task_cancel" => parse_args::<IdsArgs>("task_cancel", args).map(drop)?,
            other => {
                return Err(ErrorData::invalid_params(
                    format!(
                        "unknown tool \"{}\"; the tools are {}",
                        crate::resolve::shown(other),
                        TOOL_NAMES.join(", ")
                    ),
                    None,
                ));
            }
        }
        let tcc = ToolCallContext::new(self, request, context);
        self.router.call(tcc).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workers::NoWorkers;

    #[test]
    fn the_tool_surface_is_exactly_five_tools_with_stable_schemas() {
        let tools = McpServer::<NoWorkers>::tool_router().list_all();
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        let mut want = TOOL_NAMES.to_vec();
        want.sort_unstable();
        assert_eq!(sorted, want);
        let schemas: serde_json::Map<String, serde_json::Value> = tools
            .iter()
            .map(|t| {
                (
                    t.name.to_string(),
                    serde_json::Value::Object((*t.input_schema).clone()),
                )
            })
            .collect();
        let text = serde_json::to_string(&schemas).unwrap_or_default();
        assert!(
            !text.contains("$ref"),
            "schemas are inlined for LLM clients"
        );
        insta::assert_json_snapshot!("tool_schemas", schemas);
        // Generic clients pick a field's conversion by its `type`: one name, never a list.
        assert!(!text.contains("\"null\""), "an absent field is the null");
        for (name, schema) in &schemas {
            for combinator in ["anyOf", "oneOf", "allOf"] {
                assert!(
                    schema.get(combinator).is_none(),
                    "{name}: the Anthropic API refuses a top-level {combinator}"
                );
            }
        }
        let kind = &schemas["task_start"]["properties"]["attachments"]["items"]["properties"]["kind"]
            ["description"];
        let kind = kind.as_str().unwrap_or_default();
        for ext in crate::workers::attachment::image_extensions() {
            assert!(kind.contains(ext), "the kind's description names {ext}");
        }
        assert!(!kind.contains("svg"), "{kind}");
        let mut hints: Vec<(&str, Option<bool>, Option<bool>)> = tools
            .iter()
            .map(|t| {
                let a = t.annotations.as_ref();
                (
                    t.name.as_ref(),
                    a.and_then(|a| a.read_only_hint),
                    a.and_then(|a| a.destructive_hint),
                )
            })
            .collect();
        hints.sort_unstable();
        assert_eq!(
            hints,
            [
                ("task_await", Some(true), None),
                ("task_cancel", Some(false), Some(true)),
                ("task_list", Some(true), None),
                ("task_peek", Some(true), None),
                ("task_start", None, None),
            ]
        );
    }

    /// Every extension either of the old lists knew, and one nobody knows: the MCP
    /// conversion (by path, by name), the auto routing and the MIME type the manager sends
    /// agree on each one.
    #[test]
    fn every_path_treats_each_extension_the_same() {
        use crate::workers::AttachmentKind::{File, Image};
        let cases = [
            ("png", Image, "image/png"),
            ("jpg", Image, "image/jpeg"),
            ("jpeg", Image, "image/jpeg"),
            ("gif", Image, "image/gif"),
            ("webp", Image, "image/webp"),
            ("bmp", Image, "image/bmp"),
            ("tiff", Image, "image/tiff"),
            ("svg", File, "text/plain"),
            ("pdf", File, "application/pdf"),
            ("md", File, "text/plain"),
            ("txt", File, "text/plain"),
            ("rs", File, "text/plain"),
            ("py", File, "text/plain"),
            ("ts", File, "text/plain"),
            ("js", File, "text/plain"),
            ("json", File, "text/plain"),
            ("toml", File, "text/plain"),
            ("yaml", File, "text/plain"),
            ("yml", File, "text/plain"),
            ("xyz", File, "application/octet-stream"),
        ];
        let dir = tempfile::tempdir().expect("a temporary directory");
        for (ext, kind, mime) in cases {
            assert_eq!(mime.starts_with("image/"), kind == Image, "{ext}");
            let on_disk = dir.path().join(format!("f.{ext}"));
            std::fs::write(&on_disk, b"x").expect("the attachment is written");
            let ways = [
                serde_json::json!({ "path": on_disk }),
                serde_json::json!({ "base64": "AA==", "name": format!("shot.{ext}") }),
                serde_json::json!({ "base64": "AA==", "name": format!("SHOT.{}", ext.to_uppercase()) }),
            ];
            for way in ways {
                let Ok(req) = start(serde_json::json!({ "task": "look", "attachments": [way] }))
                else {
                    panic!("{ext}: {way} is accepted")
                };
                let Work::Run(run) = req.work else {
                    panic!("a run")
                };
                let a = &run.attachments[0];
                assert_eq!(a.kind, kind, "{ext}: {way}");
                let routed = if kind == Image { "vision" } else { "coder" };
                assert_eq!(run.worker, routed, "{ext}: {way}");
                assert_eq!(a.mime_type(), mime, "{ext}: {way}");
            }
        }
    }

    fn type_error_of<T: DeserializeOwned + std::fmt::Debug>(v: serde_json::Value) -> String {
        let serde_json::Value::Object(o) = v else {
            panic!("an object")
        };
        match parse_args::<T>("t", Some(&o)) {
            Ok(parsed) => panic!("a malformed call, parsed as {parsed:?}"),
            Err(e) => e.message.into_owned(),
        }
    }

    #[test]
    fn a_type_error_names_the_field_and_repeats_no_value() {
        let m = type_error_of::<ListArgs>(serde_json::json!({"limit": "ten"}));
        assert!(
            m.contains("limit: invalid type: string, expected an integer"),
            "{m}"
        );
        let m = type_error_of::<StartArgs>(
            serde_json::json!({"task": "x", "attachments": [{"kind": "sk-\"test-123`"}]}),
        );
        assert!(m.contains("attachments[0].kind: unknown variant"), "{m}");
        let m = type_error_of::<StartArgs>(serde_json::json!({"worker": {"respawn": "yes"}}));
        assert!(
            m.contains("worker.respawn: invalid type: string, expected a boolean"),
            "{m}"
        );
        let secrets = [
            serde_json::json!({"view": "sk-\"test-123"}),
            serde_json::json!({"view": "sk-`test-123`"}),
            serde_json::json!({"limit": "sk-test-123"}),
            serde_json::json!({"limit": -5}),
            serde_json::json!({"sk-test-123": 1}),
            serde_json::json!({"sk\"test\"123": 1}),
            serde_json::json!({"status": ["sk-test-123, expected x"]}),
        ];
        for v in secrets {
            let m = type_error_of::<ListArgs>(v.clone());
            for fragment in ["sk-", "test", "123", "-5", "expected x"] {
                assert!(!m.contains(fragment), "{v} → {m}");
            }
        }
    }

    fn profiles() -> crate::profiles::Profiles {
        crate::profiles::Profiles::builtin()
    }

    fn start(v: serde_json::Value) -> Result<StartRequest, Failure> {
        let a: StartArgs = serde_json::from_value(v).expect("the json parses");
        start_request(a, &profiles())
    }

    #[test]
    fn worker_model_set_takes_force() {
        let forced = |v: serde_json::Value| match start(v).map(|r| r.work) {
            Ok(Work::SetModel(set)) => set.force,
            Ok(other) => panic!("a model set: {other:?}"),
            Err(_) => panic!("a model set, not a failure"),
        };
        assert!(forced(
            serde_json::json!({"kind":"op","op":"worker.model.set",
            "worker":{"workerId":"memory","model":"groq/x","force":true}})
        ));
        assert!(!forced(
            serde_json::json!({"kind":"op","op":"worker.model.set",
            "worker":{"workerId":"memory","model":"groq/x"}})
        ));
        let m = type_error_of::<StartArgs>(serde_json::json!({"worker": {"force": "yes"}}));
        assert!(m.contains("worker.force"), "{m}");
    }

    #[test]
    fn start_arguments_become_requests_or_name_what_is_missing() {
        let malformed: &[serde_json::Value] = &[
            serde_json::json!({"kind":"worker","task":"x"}),
            serde_json::json!({"kind":"auto"}),
            serde_json::json!({"kind":"op"}),
            serde_json::json!({"kind":"op","op":"worker.model.set","worker":{"workerId":"docs"}}),
            serde_json::json!({"kind":"op","op":"worker.model.reset"}),
            serde_json::json!({"kind":"op","op":"worker.model.set","workerId":"a","worker":{"workerId":"b","model":"node"}}),
            serde_json::json!({"kind":"worker","workerId":"docs","task":"x","op":"worker.model.reset"}),
            serde_json::json!({"task":"x","timeoutMs":0}),
            serde_json::json!({"task":"x","attachments":[{}]}),
            serde_json::json!({"task":"x","attachments":[{"path":"rel.png"}]}),
            serde_json::json!({"task":"x","attachments":[{"path":"/a.png","base64":"AA=="}]}),
        ];
        for v in malformed {
            assert!(
                matches!(start(v.clone()), Err(Failure::Malformed(_))),
                "{v}"
            );
        }
        let Ok(req) = start(
            serde_json::json!({"kind":"op","op":"worker.model.set","workerId":"docs","model":"node:fast","modelPolicy":"sticky"}),
        ) else {
            panic!("top-level workerId/model are accepted for ops")
        };
        assert_eq!(
            req.work,
            Work::SetModel(SetModelRequest {
                worker: "docs".into(),
                model: "node:fast".into(),
                policy: crate::resolve::Policy::Sticky,
                respawn: false,
                force: false,
            })
        );
        let Ok(req) = start(
            serde_json::json!({"task":"see","attachments":[{"base64":"AA==","name":"shot.PNG"}],"timeoutMs":5}),
        ) else {
            panic!("auto with an image")
        };
        assert_eq!(req.kind, TaskKind::Auto);
        let Work::Run(run) = req.work else {
            panic!("a run")
        };
        assert_eq!(run.worker, "vision");
        assert!(run.auto_spawn);
        assert_eq!(run.timeout, Some(Duration::from_millis(5)));
        assert_eq!(
            run.attachments[0].kind,
            crate::workers::AttachmentKind::Image
        );
        let missing =
            start(serde_json::json!({"task":"x","attachments":[{"path":"/nonexistent/a.txt"}]}));
        assert!(matches!(missing, Err(Failure::Domain(_))));
    }
}
