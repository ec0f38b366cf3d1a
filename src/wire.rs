//! The JSON shapes orch prints and serves: one place, documented here.
//!
//! Field names are `snake_case` everywhere in output (`resolved_model`, `model_ref`);
//! MCP tool *arguments* follow the MCP convention of `camelCase` (`workerId`) and are
//! defined with the tools. Every view is what `orch <cmd> --format json` prints and what
//! `task_list({view, format: "json"})` returns.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::catalog::ModelStatus;
use crate::error::Error;
pub use crate::profiles::BackendKind;
pub use crate::resolve::fit::NotText;
use crate::resolve::{Policy, Resolution};
pub use crate::sources::{Access, Origin};

/// Writes an enum with its one spelling (`as_str`), the one serde also uses.
macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}

display_as_str!(
    TaskKind,
    OpName,
    TaskStatus,
    WorkerStatus,
    ModelStatus,
    BackendKind,
    Origin,
    Policy
);

/// Which models to list.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum Scope {
    /// Models of usable providers.
    #[default]
    #[serde(alias = "usable")]
    Configured,
    /// Every model in the catalog.
    All,
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "configured" | "usable" => Ok(Self::Configured),
            "all" => Ok(Self::All),
            _ => Err("scope must be configured or all".into()),
        }
    }
}

/// A request for the models view.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelsQuery {
    /// Usable providers only, or everything.
    #[serde(default)]
    pub scope: Scope,
    /// Only these providers (any when empty).
    #[serde(default)]
    pub providers: Vec<String>,
    /// Only models matching this text (id or name), best match first.
    #[serde(default)]
    pub query: Option<String>,
    /// Only models with image input.
    #[serde(default)]
    pub vision_only: bool,
    /// At most this many rows.
    #[serde(default)]
    pub limit: Option<usize>,
    /// Only models that fit this worker: text work, tool calls when its profile allows
    /// tools, image input for a vision worker (see `docs/model-selection.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
}

/// One model in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRow {
    /// `provider/model`.
    pub model: String,
    /// Provider id.
    pub provider: String,
    /// Display name.
    pub name: String,
    /// Provider source (`config`, `api`, `env`, `custom`) or why it is unusable (`none`, `disabled`, `not-enabled`).
    pub source: Access,
    /// Whether its provider is usable.
    pub usable: bool,
    /// Accepts images.
    pub image: bool,
    /// Calls tools.
    pub tool_call: bool,
    /// Has a reasoning mode.
    pub reasoning: bool,
    /// Accepts attachments.
    pub attachment: bool,
    /// Context window (tokens; 0 unknown, `null` in JSON).
    #[serde(
        serialize_with = "crate::numbers::serialize_tokens",
        deserialize_with = "crate::numbers::deserialize_tokens"
    )]
    pub context: u64,
    /// Output limit (tokens; 0 unknown, `null` in JSON).
    #[serde(
        serialize_with = "crate::numbers::serialize_tokens",
        deserialize_with = "crate::numbers::deserialize_tokens"
    )]
    pub output: u64,
    /// US dollars per million input tokens (`null` when no price is known).
    #[serde(default)]
    pub cost_input: Option<f64>,
    /// US dollars per million output tokens (`null` when no price is known).
    #[serde(default)]
    pub cost_output: Option<f64>,
    /// `active`, `beta`, `alpha` or `deprecated`.
    pub status: ModelStatus,
    /// Release date, when known.
    pub release_date: String,
    /// Whether it is its provider's default model.
    pub default: bool,
    /// What it is when it does not do text work (`embedding`, `speech-to-text`,
    /// `image-generation`, `moderation`, ...): no worker is given it by a tag or a search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_text: Option<NotText>,
    /// Its health when it has failures on record: `cooling 25 s (429)`, `unusable (401)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
}

/// The models view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsView {
    /// `local` or `live`.
    pub source: Origin,
    /// The catalog used.
    pub catalog: String,
    /// The scope listed.
    pub scope: Scope,
    /// Usable provider ids.
    pub usable_providers: Vec<String>,
    /// Rows that matched before the limit.
    pub total: usize,
    /// The rows.
    pub models: Vec<ModelRow>,
    /// Problems worth knowing (an unreadable `auth.json`, ...).
    pub warnings: Vec<String>,
}

/// A request to resolve a reference.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveQuery {
    /// The reference.
    pub reference: String,
    /// Resolve for this worker (its vision need applies).
    #[serde(default)]
    pub worker: Option<String>,
    /// The policy to record.
    #[serde(default)]
    pub policy: Policy,
}

/// The resolve view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveView {
    /// The worker it was resolved for.
    pub worker: Option<String>,
    /// The resolution with its reason and ranked candidates.
    pub resolution: Resolution,
}

/// One profile in the profiles view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileRow {
    /// Worker id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// What it is for.
    pub purpose: String,
    /// When to use it.
    pub when_to_use: String,
    /// Its configured model reference (a chain is joined by ` > `).
    pub model_ref: String,
    /// What that reference resolves to now.
    pub resolved_model: Option<String>,
    /// Why, or why it does not resolve.
    pub reason: String,
    /// `shared`, `server` or `agent`.
    pub backend: BackendKind,
    /// Needs image input.
    pub vision: bool,
    /// May use the web.
    pub web: bool,
    /// Tools switched off or on.
    pub tools: std::collections::BTreeMap<String, bool>,
    /// `built-in` or the file that defined it.
    pub defined_in: String,
}

/// One user tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagRow {
    /// Tag name.
    pub tag: String,
    /// Its ordered references.
    pub refs: Vec<String>,
}

/// The profiles view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfilesView {
    /// Profiles by id.
    pub profiles: Vec<ProfileRow>,
    /// User tags.
    pub tags: Vec<TagRow>,
    /// `orchestrator.json` files read.
    pub files: Vec<String>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Aligned columns for a terminal.
    #[default]
    Table,
    /// A Markdown table.
    Markdown,
    /// JSON (one of the views above).
    Json,
}

/// The formats of an MCP tool's reply: an LLM reads Markdown or JSON, never aligned
/// columns, so this is [`Format`] without `table`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum ReplyFormat {
    /// A Markdown table.
    #[default]
    Markdown,
    /// JSON (one of the views above).
    Json,
}

impl From<ReplyFormat> for Format {
    fn from(f: ReplyFormat) -> Self {
        match f {
            ReplyFormat::Markdown => Self::Markdown,
            ReplyFormat::Json => Self::Json,
        }
    }
}

/// What a task does.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum TaskKind {
    /// A task for a named worker.
    Worker,
    /// A task whose worker orch picks: `vision` for an image attachment, else the given
    /// worker, else `coder`. What `task_start` does when not told.
    #[default]
    Auto,
    /// An operation on a worker (`worker.model.set`, `worker.model.reset`).
    Op,
}

impl TaskKind {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Worker => "worker",
            Self::Auto => "auto",
            Self::Op => "op",
        }
    }
}

/// The operations `task_start({kind: "op"})` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(inline)]
pub enum OpName {
    /// Change a worker's model.
    #[serde(rename = "worker.model.set")]
    WorkerModelSet,
    /// Restore a worker's configured model.
    #[serde(rename = "worker.model.reset")]
    WorkerModelReset,
    /// Clear the provider and model health record (`orch health --reset`); no worker.
    #[serde(rename = "health.reset")]
    HealthReset,
}

impl OpName {
    /// The dotted name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WorkerModelSet => "worker.model.set",
            Self::WorkerModelReset => "worker.model.reset",
            Self::HealthReset => "health.reset",
        }
    }
}

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum TaskStatus {
    /// Accepted, not started yet.
    Queued,
    /// Running.
    Running,
    /// Finished with a result.
    Succeeded,
    /// Finished with an error (including a timeout).
    Failed,
    /// Cancelled by a caller.
    Cancelled,
    /// Running (or queued) when its backend died: it will not finish; its error says why.
    Lost,
}

impl TaskStatus {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Lost => "lost",
        }
    }

    /// Whether the task is over (succeeded, failed, cancelled or lost).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Cancelled | Self::Lost
        )
    }
}

/// One task, as `task_start`, `task_await`, `task_peek` and the `tasks` view show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskRow {
    /// Task id (`t1`, `t2`, ...): never given twice in a project, across backend restarts.
    pub id: String,
    /// `worker`, `auto` or `op`.
    pub kind: TaskKind,
    /// Where it is in its life.
    pub status: TaskStatus,
    /// The worker it runs on (for `auto`, the one picked).
    pub worker: Option<String>,
    /// For `op` tasks, the operation.
    pub op: Option<OpName>,
    /// Why this worker, for `auto` tasks.
    pub route: Option<String>,
    /// The task text: its first 4 KiB (`MAX_KEPT_TASK_BYTES`; in lists, its first 200
    /// characters). The worker received all of it.
    pub task: Option<String>,
    /// Whether `task` was cut at the kept limit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub task_truncated: bool,
    /// The model reference the task asked for (an override, the worker's current one, or an op's new one).
    pub requested_ref: Option<String>,
    /// What that reference resolved to.
    pub resolved_model: Option<String>,
    /// `dynamic` or `sticky`.
    pub policy: Option<Policy>,
    /// Why that model.
    pub reason: Option<String>,
    /// The model that really answered (from OpenCode's reply).
    pub answered_by: Option<String>,
    /// The OpenCode session that ran it.
    pub session_id: Option<String>,
    /// When it was accepted (Unix milliseconds).
    pub created_at_ms: u64,
    /// When it started running.
    pub started_at_ms: Option<u64>,
    /// When it finished.
    pub finished_at_ms: Option<u64>,
    /// How long it ran (or has been running), in milliseconds.
    pub duration_ms: Option<u64>,
    /// The answer (absent in lists: use `task_peek` or the `output` view).
    pub output: Option<String>,
    /// Whether `output` was cut at the stored limit.
    pub output_truncated: bool,
    /// Why it failed.
    pub error: Option<Error>,
    /// For `op` tasks that succeeded, the worker afterwards (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_row: Option<WorkerRow>,
    /// Every model the task was tried on, in order, when it was more than one or one
    /// failed (run-time fallback); empty when the first model answered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<Attempt>,
    /// Tokens, cost and time of the answer (every attempt summed), when OpenCode answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::usage::Usage>,
}

impl TaskRow {
    /// A task just accepted, not yet given an id: queued, for `worker`, nothing else known.
    pub fn queued(kind: TaskKind, worker: &str, op: Option<OpName>, created_at_ms: u64) -> Self {
        Self {
            id: String::new(),
            kind,
            status: TaskStatus::Queued,
            worker: Some(worker.to_owned()),
            op,
            route: None,
            task: None,
            task_truncated: false,
            requested_ref: None,
            resolved_model: None,
            policy: None,
            reason: None,
            answered_by: None,
            session_id: None,
            created_at_ms,
            started_at_ms: None,
            finished_at_ms: None,
            duration_ms: None,
            output: None,
            output_truncated: false,
            error: None,
            worker_row: None,
            attempts: Vec::new(),
            usage: None,
        }
    }

    /// A finished task as a result: the row when it succeeded, its error when it failed or
    /// was cancelled, and an error saying it still runs when it has not finished. Every
    /// client that starts a task and waits for it ends here.
    pub fn into_result(self) -> Result<TaskRow, Error> {
        match self.status {
            TaskStatus::Succeeded => Ok(self),
            TaskStatus::Queued | TaskStatus::Running => Err(Error::new(
                crate::error::ErrorKind::Failed,
                match self.op {
                    Some(op) => format!(
                        "{op} is still being applied (task {}); check `orch workers`",
                        self.id
                    ),
                    None => format!(
                        "task {} did not finish in time; it goes on (see `orch tasks`)",
                        self.id
                    ),
                },
            )),
            TaskStatus::Failed | TaskStatus::Cancelled | TaskStatus::Lost => {
                Err(self.error.unwrap_or_else(|| {
                    Error::new(
                        crate::error::ErrorKind::Failed,
                        format!("task {} failed", self.id),
                    )
                }))
            }
        }
    }

    /// The worker an `op` task left behind, once it succeeded.
    pub fn into_worker_row(self) -> Result<WorkerRow, Error> {
        let row = self.into_result()?;
        let id = row.id;
        row.worker_row.ok_or_else(|| {
            Error::new(
                crate::error::ErrorKind::Failed,
                format!("task {id} is not an operation on a worker; it has no worker row"),
            )
        })
    }
}

/// Which tasks a list shows: work for workers, operations on them, or both.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum TaskListKind {
    /// Tasks for workers (kinds `worker` and `auto`).
    Task,
    /// Operations on workers (kind `op`).
    Op,
    /// Both.
    #[default]
    All,
}

impl TaskListKind {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Task => "task",
            Self::Op => "op",
            Self::All => "all",
        }
    }

    /// Whether a task of `kind` belongs to the list.
    pub fn admits(self, kind: TaskKind) -> bool {
        match (self, kind) {
            (Self::All, _) | (Self::Op, TaskKind::Op) => true,
            (Self::Task, TaskKind::Worker | TaskKind::Auto) => true,
            (Self::Task, TaskKind::Op) | (Self::Op, TaskKind::Worker | TaskKind::Auto) => false,
        }
    }
}

/// A request for the tasks view.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TasksQuery {
    /// Only tasks in these states (any when empty).
    #[serde(default)]
    pub status: Vec<TaskStatus>,
    /// At most this many, newest first.
    #[serde(default)]
    pub limit: Option<usize>,
    /// Tasks, operations or both (default both).
    #[serde(default)]
    pub kind: TaskListKind,
    /// Whether rows carry their output (up to 1 MiB in all, newest first).
    #[serde(default)]
    pub output: bool,
}

/// The tasks view: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TasksView {
    /// The tasks (without their output).
    pub tasks: Vec<TaskRow>,
    /// Tasks that matched before the limit.
    pub total: usize,
    /// Tasks queued or running.
    pub active: usize,
    /// Finished tasks kept; older ones are forgotten.
    pub capacity: usize,
    /// Rows whose output was asked for but left out (past 1 MiB in all): `orch tasks <id>`
    /// shows it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub outputs_omitted: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// What `task_await` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwaitView {
    /// The tasks asked for, in the order asked, with their output.
    pub tasks: Vec<TaskRow>,
    /// Whether the wait ended because the timeout ran out.
    pub timed_out: bool,
    /// Ids asked for that orch does not know (`task_peek` returns the known tasks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
}

/// What happened to one task a caller asked to cancel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelOutcome {
    /// It was queued or running and is now cancelled; its OpenCode session is aborted.
    Cancelled,
    /// It had already finished.
    AlreadyFinished,
    /// An operation that is already being applied finishes on its own.
    NotCancellable,
    /// No such task (or it finished long ago and was forgotten).
    NotFound,
}

/// One entry of the cancel view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRow {
    /// Task id.
    pub id: String,
    /// What happened.
    pub outcome: CancelOutcome,
    /// Its status afterwards (absent when not found).
    pub status: Option<TaskStatus>,
}

/// What `task_cancel` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelView {
    /// One entry per id, in the order asked.
    pub results: Vec<CancelRow>,
}

/// The backend's state and the paths it uses, so that a mismatch is visible.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusView {
    /// orch's version.
    pub version: String,
    /// The backend's process id.
    pub pid: u32,
    /// The socket it listens on (absent when not on a socket).
    pub socket: Option<String>,
    /// Where clients look for the socket, in order.
    pub socket_candidates: Vec<String>,
    /// Candidates skipped as unsafe (another user may have planted them), with the reason;
    /// absent when none is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_sockets: Vec<String>,
    /// The largest message accepted, in bytes.
    pub max_message_bytes: usize,
    /// orch's state directory.
    pub state_dir: String,
    /// The backend's log file.
    pub log_file: String,
    /// The project directory whose OpenCode config the backend read.
    pub project_dir: String,
    /// When the backend started (Unix milliseconds).
    pub started_at_ms: u64,
    /// How long it has run.
    pub uptime_ms: u64,
    /// Open client connections.
    pub connections: usize,
    /// Tasks queued or running.
    pub active_tasks: usize,
    /// Tasks kept in total.
    pub kept_tasks: usize,
    /// Finished tasks kept at most.
    pub task_capacity: usize,
    /// Workers defined.
    pub workers: usize,
    /// `local` or `live`.
    pub source: Origin,
    /// The catalog used.
    pub catalog: String,
    /// Usable provider ids.
    pub usable_providers: Vec<String>,
    /// The project's key (its directory's name and a digest of its path): the backend
    /// serves this project only.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub project_key: String,
    /// The environment's key (a digest of the variables that decide providers): the
    /// backend serves this environment only.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub env_key: String,
    /// The names of the variables the environment key is made of (never their values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_vars: Vec<String>,
    /// What the backend worked around and the user should know (a damaged `state.json`
    /// moved aside, an unreadable `auth.json`, a failed reload), until it is resolved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

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
    /// Set it even when the model does not fit the worker (the row then keeps a warning).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
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

impl WorkerStatus {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Starting => "starting",
            Self::Ready => "ready",
            Self::Busy => "busy",
            Self::Failed => "failed",
            Self::Stopped => "stopped",
        }
    }
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
    /// `shared`, `server` or `agent`.
    pub backend: BackendKind,
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
    /// Why its model does not fit it, when it does not (a model set with `--force`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// How its last task fell back (`fell back from a to b (429)`), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// Where it is hosted, for a `shared` worker: the shared host's pid and URL (or that it
    /// is not started) and what last happened to it (`restarted the shared host: ...`);
    /// for a `shared` profile that runs on a dedicated server instead, why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosting: Option<String>,
    /// Its budget (issue 12) nearest its limit, with what was spent; absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<crate::budget::BudgetStatus>,
    /// What its tasks cost today, in the last 7 days and all time (from the project's task
    /// records), when the backend says; absent for a worker without a task on record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::usage::Windows>,
}

/// The workers view.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkersView {
    /// Workers by id.
    pub workers: Vec<WorkerRow>,
    /// The project these workers belong to (its directory), when the backend says.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub project: String,
    /// What the backend worked around (as in the status view), until it is resolved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The project's budgets (issue 12), each limit with what was spent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub budgets: Vec<crate::budget::BudgetStatus>,
    /// What the project's tasks cost today, in the last 7 days and all time (every worker,
    /// past and present), when the backend says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::usage::UsageWindows>,
}

impl WorkersView {
    /// The row of worker `id`, if the view has one.
    pub fn into_row(self, id: &str) -> Option<WorkerRow> {
        self.workers.into_iter().find(|w| w.id == id)
    }
}

/// One tag in the tag-previews view: what it resolves to now for the worker, or why not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagPreviewRow {
    /// The tag.
    pub tag: String,
    /// Defined in `orchestrator.json` (else built-in).
    pub user: bool,
    /// Its resolution for the worker.
    pub resolution: Option<Resolution>,
    /// Why it does not resolve for the worker.
    pub error: Option<Error>,
}

impl TagPreviewRow {
    /// The resolution, or why there is none.
    pub fn result(self) -> Result<Resolution, Error> {
        match (self.resolution, self.error) {
            (Some(r), _) => Ok(r),
            (None, Some(e)) => Err(e),
            (None, None) => Err(Error::new(
                crate::error::ErrorKind::Failed,
                format!("the preview of tag {} came back empty", self.tag),
            )),
        }
    }
}

/// The tag-previews view: every tag (built-in, then the user's) for one worker, in one
/// answer (`task_list` view `tags`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagPreviewsView {
    /// The worker the tags were resolved for.
    pub worker: String,
    /// Built-in tags first, then user tags.
    pub tags: Vec<TagPreviewRow>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    /// Each enum has one spelling: what serde writes is what `as_str` and `Display` say.
    #[test]
    fn every_enum_spells_itself_one_way() {
        fn check<T: Serialize + std::fmt::Display>(values: &[T]) {
            for v in values {
                let json = serde_json::to_value(v).expect("the value serializes");
                assert_eq!(json, serde_json::Value::String(v.to_string()));
            }
        }
        check(&[TaskKind::Worker, TaskKind::Auto, TaskKind::Op]);
        check(&[OpName::WorkerModelSet, OpName::WorkerModelReset]);
        check(&[
            TaskStatus::Queued,
            TaskStatus::Running,
            TaskStatus::Succeeded,
            TaskStatus::Failed,
            TaskStatus::Cancelled,
            TaskStatus::Lost,
        ]);
        check(&[
            WorkerStatus::Idle,
            WorkerStatus::Starting,
            WorkerStatus::Ready,
            WorkerStatus::Busy,
            WorkerStatus::Failed,
            WorkerStatus::Stopped,
        ]);
        check(&[
            Access::Config,
            Access::Api,
            Access::Env,
            Access::Custom,
            Access::NoCredentials,
            Access::Disabled,
            Access::NotEnabled,
        ]);
        check(&[
            ModelStatus::Active,
            ModelStatus::Beta,
            ModelStatus::Alpha,
            ModelStatus::Deprecated,
        ]);
        check(&[BackendKind::Shared, BackendKind::Server, BackendKind::Agent]);
        check(&[Origin::Local, Origin::Live]);
        assert_eq!(Access::NoCredentials.as_str(), "none");
        assert_eq!(Access::NotEnabled.as_str(), "not-enabled");
    }

    fn task(status: TaskStatus, op: Option<OpName>) -> TaskRow {
        let kind = if op.is_some() {
            TaskKind::Op
        } else {
            TaskKind::Worker
        };
        TaskRow {
            id: "t1".into(),
            status,
            ..TaskRow::queued(kind, "docs", op, 0)
        }
    }

    #[test]
    fn a_finished_task_becomes_its_row_or_its_error() {
        assert!(task(TaskStatus::Succeeded, None).into_result().is_ok());
        let mut failed = task(TaskStatus::Failed, None);
        failed.error = Some(Error::new(ErrorKind::NotFound, "no such model"));
        let e = failed.into_result().expect_err("a failed row is an error");
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::NotFound, "no such model")
        );
        let e = task(TaskStatus::Cancelled, None)
            .into_result()
            .expect_err("a cancelled row is an error");
        assert_eq!(e.message, "task t1 failed");
        let e = task(TaskStatus::Running, Some(OpName::WorkerModelSet))
            .into_result()
            .expect_err("a running row is an error");
        assert!(
            e.message
                .starts_with("worker.model.set is still being applied (task t1)")
        );
        let e = task(TaskStatus::Queued, None)
            .into_result()
            .expect_err("a queued row is an error");
        assert!(e.message.contains("task t1 did not finish"), "{e}");
        // An op task without its row is not a worker change.
        let e = task(TaskStatus::Succeeded, Some(OpName::WorkerModelReset))
            .into_worker_row()
            .expect_err("an op task without its row is an error");
        assert!(e.message.contains("no worker row"), "{e}");
    }

    #[test]
    fn an_op_task_without_a_row_serializes_as_before() {
        let json =
            serde_json::to_value(task(TaskStatus::Succeeded, None)).expect("the value serializes");
        assert!(json.get("worker_row").is_none(), "{json}");
    }
}

/// Why one attempt of a task on one model failed, classified from what OpenCode reported
/// (`docs/model-selection.md`, "Run-time fallback"). The first seven belong to the model or
/// its provider and move the task to the next candidate; the rest do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(inline)]
pub enum FailureClass {
    /// `429`, or OpenCode retrying after a rate limit.
    RateLimited,
    /// `529`/`503` or an `overloaded_error`.
    Overloaded,
    /// Another `5xx` (or `408`), or a retryable error without a status.
    ServerError,
    /// `401`/`403` or OpenCode's `ProviderAuthError`: the provider's credentials.
    Auth,
    /// The prompt does not fit the model's context (`ContextOverflowError`,
    /// `context_length_exceeded`).
    ContextOverflow,
    /// The provider does not know the model (`404`, `model_not_found`, OpenCode's opaque
    /// `UnknownError` for a model it cannot load).
    UnknownModel,
    /// The answer did not start within the answer-start time.
    NoAnswer,
    /// The message was aborted (`MessageAbortedError`): a cancel, not the model's fault.
    Aborted,
    /// The answer hit the output limit (`MessageOutputLengthError`).
    OutputLength,
    /// The provider's content filter refused the task (`ContentFilterError`).
    ContentFilter,
    /// The provider refused the request itself (another `4xx`): the task's content.
    BadRequest,
    /// Anything else (a tool failure, `StructuredOutputError`, an unexplained error).
    Other,
}

impl FailureClass {
    /// The `snake_case` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RateLimited => "rate_limited",
            Self::Overloaded => "overloaded",
            Self::ServerError => "server_error",
            Self::Auth => "auth",
            Self::ContextOverflow => "context_overflow",
            Self::UnknownModel => "unknown_model",
            Self::NoAnswer => "no_answer",
            Self::Aborted => "aborted",
            Self::OutputLength => "output_length",
            Self::ContentFilter => "content_filter",
            Self::BadRequest => "bad_request",
            Self::Other => "other",
        }
    }

    /// Whether the failure belongs to the model or its provider, so the task moves on to
    /// the next candidate (and the model's health record counts it).
    pub fn falls_back(self) -> bool {
        match self {
            Self::RateLimited
            | Self::Overloaded
            | Self::ServerError
            | Self::Auth
            | Self::ContextOverflow
            | Self::UnknownModel
            | Self::NoAnswer => true,
            Self::Aborted
            | Self::OutputLength
            | Self::ContentFilter
            | Self::BadRequest
            | Self::Other => false,
        }
    }
}

display_as_str!(FailureClass);

/// One model a task was tried on (`TaskRow.attempts`): which, how it ended, how long it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Attempt {
    /// `provider/model` asked.
    pub model: String,
    /// Why it failed; absent for the attempt that answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<FailureClass>,
    /// The provider's HTTP status, when OpenCode reported one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// From the prompt to the end of this attempt, in milliseconds.
    pub elapsed_ms: u64,
    /// The error as OpenCode reported it (`APIError: Rate limit reached`), cut short.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For the attempt that answered: the model OpenCode says answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<String>,
    /// For the attempt that answered: its tokens, cost and time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::usage::Usage>,
}

impl Attempt {
    /// `429`, or the class when there is no status (`no answer`).
    pub fn short(&self) -> String {
        match (self.status_code, self.class) {
            (Some(code), _) => code.to_string(),
            (None, Some(c)) => c.as_str().replace('_', " "),
            (None, None) => "answered".into(),
        }
    }

    /// `fell back from a to b (429)` for every hop of `attempts` (empty with fewer than two).
    pub fn hops(attempts: &[Attempt]) -> Option<String> {
        let hops: Vec<String> = attempts
            .windows(2)
            .map(|w| {
                format!(
                    "fell back from {} to {} ({})",
                    w[0].model,
                    w[1].model,
                    w[0].short()
                )
            })
            .collect();
        (!hops.is_empty()).then(|| hops.join("; "))
    }
}

/// One model's health (`orch health`, `task_list` view `health`): its recent failures and
/// whether tags and chains pass it over now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthRow {
    /// `provider/model`; `provider/*` for a provider whose credentials were refused.
    pub model: String,
    /// `ok`, `cooling` (passed over until `cooldown_until_ms`) or `unusable` (the
    /// provider refused its credentials; until they or its config change).
    pub state: String,
    /// Failures in a row that belong to the model or its provider.
    pub consecutive_failures: u32,
    /// The class of the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_class: Option<FailureClass>,
    /// Its HTTP status, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status_code: Option<u16>,
    /// Its error, cut short.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Passed over until then (Unix milliseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_until_ms: Option<u64>,
    /// Seconds of cooldown left now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_left_s: Option<u64>,
    /// When it last changed (Unix milliseconds).
    pub updated_at_ms: u64,
}

/// The health view.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthView {
    /// Models (and providers) with a failure on record, worst first.
    pub models: Vec<HealthRow>,
    /// The file it is kept in, when it is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}
