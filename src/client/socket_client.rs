//! [`Orchestrator`] over the backend's socket: every method is one or a few calls of the
//! five tools with `format: "json"`, read back into the `wire` views.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientConfig, ContentBlock};
use rmcp::service::{ClientInitializeError, RoleClient, RunningService, ServiceError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

use crate::api::{OP_WAIT, Orchestrator, finish};
use crate::clock::millis;
use crate::context::Context;
use crate::error::{Error, ErrorKind};
use crate::mcp::{AttachmentArg, AwaitArgs, IdsArgs, ListArgs, StartArgs, ViewArg, WorkerOpArgs};
use crate::wire::{
    AwaitView, CancelView, HealthView, ModelsQuery, ModelsView, OpName, ProfilesView, ReplyFormat,
    ResolveQuery, ResolveView, RunRequest, SetModelRequest, StatusView, TagPreviewsView, TaskKind,
    TaskListKind, TaskRow, TasksQuery, TasksView, WorkerRow, WorkersView,
};

/// A connected MCP client of the backend.
pub struct SocketClient {
    service: RunningService<RoleClient, ClientConfig>,
    socket: PathBuf,
}

impl std::fmt::Debug for SocketClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketClient")
            .field("socket", &self.socket)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct ErrorReply {
    error: Error,
}

impl SocketClient {
    /// Performs the MCP handshake on a connected stream without saying in which context
    /// (the backend accepts it, as any client of this user); `socket` names it in errors.
    /// Clients that know their project and environment use [`SocketClient::connect_in`].
    pub async fn connect(stream: UnixStream, socket: &Path) -> Result<Self, Error> {
        Self::handshake(stream, socket, ClientConfig::default()).await
    }

    /// Performs the MCP handshake sending `context`: a backend serving another project or
    /// environment refuses it with an error naming the project or the variables (names only).
    pub async fn connect_in(
        stream: UnixStream,
        socket: &Path,
        context: &Context,
    ) -> Result<Self, Error> {
        Self::handshake(stream, socket, super::context::client_config(context)).await
    }

    async fn handshake(
        stream: UnixStream,
        socket: &Path,
        config: ClientConfig,
    ) -> Result<Self, Error> {
        let service = config.serve(stream).await.map_err(|e| match e {
            // The backend refused this client (another project or environment).
            ClientInitializeError::JsonRpcError(data) => Error::new(
                ErrorKind::InvalidInput,
                format!("{} (socket {})", data.message, socket.display()),
            ),
            other => Error::new(
                ErrorKind::Unavailable,
                format!(
                    "the orch backend on {} did not complete the MCP handshake: {other}",
                    socket.display()
                ),
            ),
        })?;
        Ok(Self {
            service,
            socket: socket.to_path_buf(),
        })
    }

    /// The socket it talks to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Closes the connection.
    pub async fn close(self) {
        let _ = self.service.cancel().await;
    }

    fn transport_error(&self, e: ServiceError) -> Error {
        match e {
            ServiceError::McpError(data) => Error::new(
                ErrorKind::InvalidInput,
                format!("the backend refused the call: {}", data.message),
            ),
            other => Error::new(
                ErrorKind::Unavailable,
                format!(
                    "lost the orch backend on {}: {other}",
                    self.socket.display()
                ),
            ),
        }
    }

    /// Calls a tool with `format: "json"` and reads the reply as `T`.
    pub async fn call<A: Serialize, T: DeserializeOwned>(
        &self,
        tool: &'static str,
        args: &A,
    ) -> Result<T, Error> {
        let bad = |why: String| {
            Error::new(
                ErrorKind::Failed,
                format!(
                    "the backend's reply to {tool} is not what this client expects ({why}); is it another orch version? see `orch status`"
                ),
            )
        };
        let args = match serde_json::to_value(args) {
            Ok(serde_json::Value::Object(mut o)) => {
                o.insert("format".into(), "json".into());
                o
            }
            _ => return Err(bad("arguments".into())),
        };
        let result = self
            .service
            .call_tool(CallToolRequestParams::new(tool).with_arguments(args))
            .await
            .map_err(|e| self.transport_error(e))?;
        let text = result
            .content
            .iter()
            .find_map(|c| match c {
                ContentBlock::Text(t) => Some(t.text.as_str()),
                _ => None,
            })
            .ok_or_else(|| bad("no text".into()))?;
        if result.is_error == Some(true) {
            return Err(match serde_json::from_str::<ErrorReply>(text) {
                Ok(r) => r.error,
                Err(_) => Error::new(ErrorKind::Failed, text.to_owned()),
            });
        }
        serde_json::from_str(text).map_err(|e| bad(e.to_string()))
    }

    fn list_args(view: ViewArg) -> ListArgs {
        ListArgs {
            view,
            ..ListArgs::default()
        }
    }

    /// `task_list` with these arguments.
    async fn list<T: DeserializeOwned>(&self, args: ListArgs) -> Result<T, Error> {
        self.call("task_list", &args).await
    }

    /// Starts an operation, waits for it, and returns the worker row its task carries.
    async fn op(&self, op: OpName, worker: WorkerOpArgs) -> Result<WorkerRow, Error> {
        let args = StartArgs {
            kind: TaskKind::Op,
            op: Some(op),
            worker: Some(worker),
            ..StartArgs::default()
        };
        let started: TaskRow = self.call("task_start", &args).await?;
        finish(self, &started, OP_WAIT).await?.into_worker_row()
    }
}

impl Orchestrator for SocketClient {
    async fn models(&self, q: &ModelsQuery) -> Result<ModelsView, Error> {
        let args = ListArgs {
            scope: Some(q.scope),
            providers: q.providers.clone(),
            query: q.query.clone(),
            vision_only: q.vision_only,
            limit: q.limit,
            worker_id: q.worker.clone(),
            ..Self::list_args(ViewArg::Models)
        };
        self.list(args).await
    }

    async fn resolve(&self, q: &ResolveQuery) -> Result<ResolveView, Error> {
        let args = ListArgs {
            model: Some(q.reference.clone()),
            worker_id: q.worker.clone(),
            ..Self::list_args(ViewArg::Resolve)
        };
        self.list(args).await
    }

    async fn profiles(&self) -> Result<ProfilesView, Error> {
        self.list(Self::list_args(ViewArg::Profiles)).await
    }

    async fn tag_previews(&self, worker: &str) -> Result<TagPreviewsView, Error> {
        let args = ListArgs {
            worker_id: Some(worker.to_owned()),
            ..Self::list_args(ViewArg::Tags)
        };
        self.list(args).await
    }

    async fn workers(&self) -> Result<WorkersView, Error> {
        self.list(Self::list_args(ViewArg::Workers)).await
    }

    async fn health(&self) -> Result<HealthView, Error> {
        self.list(Self::list_args(ViewArg::Health)).await
    }

    async fn reset_health(&self) -> Result<HealthView, Error> {
        let args = StartArgs {
            kind: TaskKind::Op,
            op: Some(OpName::HealthReset),
            format: ReplyFormat::Json,
            ..StartArgs::default()
        };
        let started: TaskRow = self.call("task_start", &args).await?;
        finish(self, &started, OP_WAIT).await?;
        self.health().await
    }

    async fn set_model(&self, req: &SetModelRequest) -> Result<WorkerRow, Error> {
        let worker = WorkerOpArgs {
            worker_id: Some(req.worker.clone()),
            model: Some(req.model.clone()),
            model_policy: Some(req.policy),
            respawn: req.respawn,
            force: req.force,
        };
        self.op(OpName::WorkerModelSet, worker).await
    }

    async fn reset_model(&self, worker: &str) -> Result<WorkerRow, Error> {
        let worker = WorkerOpArgs {
            worker_id: Some(worker.to_owned()),
            ..WorkerOpArgs::default()
        };
        self.op(OpName::WorkerModelReset, worker).await
    }

    async fn warm(&self, worker: &str) -> Result<WorkerRow, Error> {
        let worker = WorkerOpArgs {
            worker_id: Some(worker.to_owned()),
            ..WorkerOpArgs::default()
        };
        self.op(OpName::WorkerWarm, worker).await
    }

    async fn run(&self, req: &RunRequest) -> Result<TaskRow, Error> {
        let args = StartArgs {
            kind: TaskKind::Worker,
            task: Some(req.task.clone()),
            worker_id: Some(req.worker.clone()),
            model: req.model.clone(),
            model_policy: req.policy,
            force_new: req.force_new,
            auto_spawn: Some(req.auto_spawn),
            timeout_ms: req.timeout.map(millis),
            attachments: req.attachments.iter().map(AttachmentArg::from).collect(),
            format: ReplyFormat::Json,
            ..StartArgs::default()
        };
        self.call("task_start", &args).await
    }

    async fn await_tasks(&self, ids: &[String], timeout: Duration) -> Result<AwaitView, Error> {
        let args = AwaitArgs {
            task_ids: ids.to_vec(),
            timeout_ms: Some(millis(timeout)),
            ..AwaitArgs::default()
        };
        self.call("task_await", &args).await
    }

    async fn tasks(&self, q: &TasksQuery) -> Result<TasksView, Error> {
        let args = ListArgs {
            status: q.status.clone(),
            limit: q.limit,
            kind: Some(q.kind).filter(|k| *k != TaskListKind::All),
            output: q.output,
            ..Self::list_args(ViewArg::Tasks)
        };
        self.list(args).await
    }

    async fn usage(&self, by: crate::usage::By) -> Result<crate::usage::UsageView, Error> {
        let args = ListArgs {
            by: Some(by),
            ..Self::list_args(ViewArg::Usage)
        };
        self.list(args).await
    }

    async fn cancel(&self, ids: &[String]) -> Result<CancelView, Error> {
        let args = IdsArgs {
            task_ids: ids.to_vec(),
            ..IdsArgs::default()
        };
        self.call("task_cancel", &args).await
    }

    async fn status(&self) -> Result<StatusView, Error> {
        self.list(Self::list_args(ViewArg::Status)).await
    }
}
