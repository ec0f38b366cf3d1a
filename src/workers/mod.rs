//! Workers: OpenCode sessions with a role, each running on a resolved model.
//!
//! [`WorkerService`] is what the task layer (MCP tools, CLI, TUI) needs from workers;
//! the manager implements it over real OpenCode processes, tests over fakes.

pub mod attachment;
mod error;
mod manager;
pub mod registry;
pub mod settings;
pub mod spawn;

pub use error::WorkerError;
pub use manager::{Manager, ManagerConfig};

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api::Knowledge;
use crate::error::Error;
use crate::resolve::{Policy, Resolution};

pub use tokio_util::sync::CancellationToken;

/// What a file attached to a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum AttachmentKind {
    /// An image: routes `auto` tasks to the vision worker.
    Image,
    /// Any other file.
    File,
}

/// A file attached to a task, by path or inline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Image or file.
    pub kind: AttachmentKind,
    /// A path on this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// The content, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
    /// MIME type (guessed from the name when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
    /// File name to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// One task for one worker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRequest {
    /// Worker id.
    pub worker: String,
    /// The task text.
    pub task: String,
    /// A model reference for this task (else the worker's current model).
    pub model: Option<String>,
    /// With `model`: `dynamic` applies it to this task only, `sticky` makes it the worker's default.
    pub policy: Option<Policy>,
    /// Spawn a new worker process even when a matching one runs.
    pub force_new: bool,
    /// Spawn the worker when it is not running (default true at the tool layer).
    pub auto_spawn: bool,
    /// Attachments.
    pub attachments: Vec<Attachment>,
    /// Give up after this long.
    pub timeout: Option<Duration>,
}

/// What a finished task produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    /// Worker id.
    pub worker: String,
    /// The reference the task ran on (the override, or the worker's current one).
    pub requested_ref: String,
    /// Its resolution, with the reason.
    pub resolution: Resolution,
    /// The model that really answered (`provider/model` from OpenCode's reply).
    pub answered_by: Option<String>,
    /// The answer's text.
    pub output: String,
    /// OpenCode session id.
    pub session_id: String,
}

/// Changing a worker's model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetModelRequest {
    /// Worker id.
    pub worker: String,
    /// The new reference.
    pub model: String,
    /// `dynamic`: rides on each message; `sticky`: the worker's default until reset.
    pub policy: Policy,
    /// Restart the worker's OpenCode process now.
    pub respawn: bool,
}

/// A worker's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkerStatus {
    /// Defined, no process.
    Idle,
    /// Process starting.
    Starting,
    /// Ready for tasks.
    Ready,
    /// Running a task.
    Busy,
    /// Its process died or failed to start; the next task respawns it.
    Failed,
    /// Stopped.
    Stopped,
}

/// One worker, as every view shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerRow {
    /// Worker id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Lifecycle state.
    pub status: WorkerStatus,
    /// `server` or `agent`.
    pub backend: String,
    /// The reference in effect (the profile's, or one set by the user).
    pub model_ref: String,
    /// What it resolves to.
    pub resolved_model: Option<String>,
    /// `dynamic` or `sticky`.
    pub policy: Policy,
    /// Why this model (or why it does not resolve).
    pub reason: String,
    /// Whether the user changed the model (reset restores the profile's).
    pub overridden: bool,
    /// The model that answered its last task.
    pub answered_by: Option<String>,
    /// Needs image input.
    pub vision: bool,
    /// Process id of its OpenCode (server backend).
    pub pid: Option<u32>,
    /// Its OpenCode URL.
    pub url: Option<String>,
    /// Its port.
    pub port: Option<u16>,
    /// Its OpenCode session.
    pub session_id: Option<String>,
    /// The last error, when it failed.
    pub error: Option<String>,
}

/// The workers view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkersView {
    /// Workers by id.
    pub workers: Vec<WorkerRow>,
}

/// What the task layer needs from workers.
pub trait WorkerService: Send + Sync + 'static {
    /// Runs one task (spawning or reusing the worker); stops early when `cancel` fires,
    /// aborting the OpenCode session.
    fn run(
        &self,
        req: RunRequest,
        cancel: CancellationToken,
    ) -> impl Future<Output = Result<RunOutcome, Error>> + Send;

    /// Changes a worker's model; nothing changes on error.
    fn set_model(
        &self,
        req: SetModelRequest,
    ) -> impl Future<Output = Result<WorkerRow, Error>> + Send;

    /// Restores the profile's configured model, re-resolved now.
    fn reset_model(&self, worker: &str) -> impl Future<Output = Result<WorkerRow, Error>> + Send;

    /// Every worker.
    fn workers(&self) -> impl Future<Output = WorkersView> + Send;

    /// Catalog, resolver and profiles, for the read-only views.
    fn knowledge(&self) -> Knowledge;

    /// Stops worker processes that are not meant to outlive the backend, and flushes state.
    fn shutdown(&self) -> impl Future<Output = ()> + Send;
}
