//! The five tools: `task_start`, `task_await`, `task_peek`, `task_list`, `task_cancel`.
//!
//! One [`McpServer`] serves one connection; every connection shares one [`Backend`]
//! (the task registry and the worker service) behind an `Arc`. A domain failure (an unknown
//! worker, a reference that does not resolve) is a tool result with `isError` and a
//! readable message with suggestions; a malformed call (wrong types, unknown fields,
//! missing arguments) is a JSON-RPC `-32602` error.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::args::{
    AttachmentArg, AttachmentKindArg, AwaitArgs, IdsArgs, KindArg, ListArgs, OpArg, ScopeArg,
    StartArgs, ViewArg, WaitForArg,
};
use super::transport::MAX_MESSAGE_BYTES;
use crate::error::{Error, ErrorKind};
use crate::paths::Paths;
use crate::render;
use crate::tasks::{Limits, StartRequest, Tasks, Work, route_auto};
use crate::views;
use crate::wire::{
    AwaitView, Format, ModelsQuery, ResolveQuery, Scope, StatusView, TaskKind, TasksQuery,
};
use crate::workers::{Attachment, AttachmentKind, RunRequest, SetModelRequest, WorkerService};

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
    /// A backend over a worker service.
    pub fn new(workers: Arc<W>, info: ServeInfo, limits: Limits) -> Self {
        Self {
            tasks: Tasks::new(workers, limits),
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
            max_message_bytes: MAX_MESSAGE_BYTES,
            state_dir: self.info.paths.state_dir.display().to_string(),
            log_file: self.info.log_file.display().to_string(),
            project_dir: self.info.paths.project_dir.display().to_string(),
            started_at_ms: self.started_at_ms,
            uptime_ms: now.saturating_sub(self.started_at_ms),
            connections: self.connections(),
            active_tasks: active,
            kept_tasks: kept,
            task_capacity: self.tasks.limits().finished_capacity,
            workers: knowledge.profiles.list.len(),
            source: set.origin.kind,
            catalog: set.origin.catalog.clone(),
            usable_providers: set.usable_ids().into_iter().map(str::to_owned).collect(),
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
fn reply<V: Serialize>(view: &V, format: Format, md: fn(&V, Format) -> String) -> CallToolResult {
    let text = match format {
        Format::Json => match serde_json::to_string(view) {
            Ok(s) => s,
            Err(e) => {
                return error_result(
                    &Error::new(ErrorKind::Failed, format!("cannot encode the reply: {e}")),
                    format,
                );
            }
        },
        _ => md(view, Format::Markdown),
    };
    CallToolResult::success(vec![ContentBlock::text(text)])
}

/// A domain failure as a tool result: `{"error": {...}}` in JSON, readable text otherwise.
fn error_result(e: &Error, format: Format) -> CallToolResult {
    let text = match format {
        Format::Json => serde_json::json!({ "error": e }).to_string(),
        _ => {
            let mut s = format!("error: {}", e.message);
            if !e.suggestions.is_empty() {
                s.push_str(&format!("\nsuggestions: {}", e.suggestions.join(", ")));
            }
            s
        }
    };
    CallToolResult::error(vec![ContentBlock::text(text)])
}

fn finish(r: Result<CallToolResult, Failure>, format: Format) -> Result<CallToolResult, ErrorData> {
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

const IMAGE_EXTENSIONS: [&str; 7] = ["png", "jpg", "jpeg", "gif", "webp", "bmp", "tiff"];

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
    let kind = match a.kind {
        Some(AttachmentKindArg::Image) => AttachmentKind::Image,
        Some(AttachmentKindArg::File) => AttachmentKind::File,
        None => {
            let by_mime = a.mime.as_deref().is_some_and(|m| m.starts_with("image/"));
            let by_name = path
                .as_deref()
                .or(a.name.as_deref().map(std::path::Path::new))
                .and_then(|p| p.extension())
                .and_then(|e| e.to_str())
                .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()));
            if by_mime || by_name {
                AttachmentKind::Image
            } else {
                AttachmentKind::File
            }
        }
    };
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
    if a.kind == KindArg::Op {
        let Some(op) = a.op else {
            return malformed(
                "kind \"op\" needs op: \"worker.model.set\" or \"worker.model.reset\"",
            );
        };
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
            return malformed(format!(
                "{} needs worker.workerId",
                match op {
                    OpArg::WorkerModelSet => "worker.model.set",
                    OpArg::WorkerModelReset => "worker.model.reset",
                }
            ));
        };
        let work = match op {
            OpArg::WorkerModelSet => {
                let Some(model) = pick(w.model, model, "model")? else {
                    return malformed(
                        "worker.model.set needs worker.model (a tag such as node:fast, or provider/model)",
                    );
                };
                Work::SetModel(SetModelRequest {
                    worker,
                    model,
                    policy: w
                        .model_policy
                        .or(a.model_policy)
                        .map(Into::into)
                        .unwrap_or_default(),
                    respawn: w.respawn,
                })
            }
            OpArg::WorkerModelReset => Work::ResetModel { worker },
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
        KindArg::Worker => {
            let Some(w) = worker_id else {
                return malformed("kind \"worker\" needs workerId (or use kind \"auto\")");
            };
            (TaskKind::Worker, w, None)
        }
        _ => {
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
            policy: model.as_ref().and(a.model_policy.map(Into::into)),
            model,
            force_new: a.force_new,
            auto_spawn: a.auto_spawn.unwrap_or(true),
            attachments,
            timeout,
        }),
        route,
    })
}

/// Parses a tool's arguments strictly; a mismatch is a malformed call.
fn parse_args<T: DeserializeOwned>(tool: &str, args: Option<&JsonObject>) -> Result<T, ErrorData> {
    let value = serde_json::Value::Object(args.cloned().unwrap_or_default());
    serde_json::from_value(value).map_err(|e| {
        ErrorData::invalid_params(
            format!(
                "invalid arguments for {tool}: {} (see the tool's input schema)",
                crate::sources::redact(&e.to_string())
            ),
            None,
        )
    })
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
        description = "Start work in the background; returns a task id at once (then call task_await). kind \"worker\": run `task` on the worker `workerId`, optionally on `model` (a tag such as node:fast, or provider/model); kind \"auto\": orch picks the worker (the vision worker when an image is attached, else workerId, else coder); kind \"op\": change a worker's model with op \"worker.model.set\" and worker {workerId, model, modelPolicy, respawn}, or restore it with op \"worker.model.reset\" and worker {workerId}. Example: {\"kind\":\"worker\",\"workerId\":\"docs\",\"model\":\"node:fast\",\"task\":\"Summarise the README\"}."
    )]
    async fn task_start(
        &self,
        Parameters(a): Parameters<StartArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let format = a.format.into();
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
        description = "Wait until tasks finish (up to timeoutMs, default 2 minutes) and return each one's status, output, requested model, resolved model, the reason for it, and the model that really answered. If it times out, the tasks are still running: await again."
    )]
    async fn task_await(
        &self,
        Parameters(a): Parameters<AwaitArgs>,
        ct: tokio_util::sync::CancellationToken,
    ) -> Result<CallToolResult, ErrorData> {
        let format = a.format.into();
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
        description = "Return tasks' current status and output without waiting (same fields as task_await)."
    )]
    async fn task_peek(
        &self,
        Parameters(a): Parameters<IdsArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let format = a.format.into();
        let r = (|| {
            let ids = ids(a.task_id, a.task_ids)?;
            let tasks = self.backend.tasks().peek(&ids)?;
            Ok(reply(
                &AwaitView {
                    tasks,
                    timed_out: false,
                },
                format,
                render::awaited,
            ))
        })();
        finish(r, format)
    }

    #[tool(
        description = "Read-only views. view \"tasks\" (default): recent tasks. \"workers\": each worker's status, model ref, resolved model, policy, reason, the model that answered its last task, vision, port. \"profiles\": worker profiles and their tag-based defaults. \"models\": usable models (scope, providers, query, visionOnly, limit). \"resolve\": what `model` resolves to (for workerId), why, and the ranked candidates. \"status\": the backend and its paths. \"output\": one task's full output (taskId). \"tags\": every tag and what it resolves to now for workerId. format \"markdown\" (default) or \"json\"."
    )]
    async fn task_list(
        &self,
        Parameters(a): Parameters<ListArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let format: Format = a.format.into();
        let r = self.list(a, format).await;
        finish(r, format)
    }

    #[tool(
        description = "Cancel queued or running tasks (taskId or taskIds). A running worker task stops and its OpenCode session is aborted; an operation already being applied finishes on its own."
    )]
    async fn task_cancel(
        &self,
        Parameters(a): Parameters<IdsArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let format = a.format.into();
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
    async fn list(&self, a: ListArgs, format: Format) -> Result<CallToolResult, Failure> {
        let backend = &self.backend;
        Ok(match a.view {
            ViewArg::Tasks => {
                let q = TasksQuery {
                    status: a.status.into_iter().map(Into::into).collect(),
                    limit: Some(a.limit.unwrap_or(DEFAULT_TASK_ROWS)),
                };
                reply(&backend.tasks().list(&q), format, render::tasks)
            }
            ViewArg::Workers => reply(&backend.workers().workers().await, format, render::workers),
            ViewArg::Profiles => reply(
                &views::profiles(&backend.workers().knowledge()),
                format,
                render::profiles,
            ),
            ViewArg::Models => {
                let q = ModelsQuery {
                    scope: match a.scope.unwrap_or_default() {
                        ScopeArg::Configured => Scope::Configured,
                        ScopeArg::All => Scope::All,
                    },
                    providers: a.providers,
                    query: a.query,
                    vision_only: a.vision_only,
                    limit: a.limit,
                };
                reply(
                    &views::models(&backend.workers().knowledge(), &q),
                    format,
                    render::models,
                )
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

    async fn call_tool(
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
    }

    fn profiles() -> crate::profiles::Profiles {
        crate::profiles::Profiles::builtin()
    }

    fn start(v: serde_json::Value) -> Result<StartRequest, Failure> {
        let a: StartArgs = serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"));
        start_request(a, &profiles())
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
        assert_eq!(run.attachments[0].kind, AttachmentKind::Image);
        let missing =
            start(serde_json::json!({"task":"x","attachments":[{"path":"/nonexistent/a.txt"}]}));
        assert!(matches!(missing, Err(Failure::Domain(_))));
    }
}
