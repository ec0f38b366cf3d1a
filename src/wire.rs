//! The JSON shapes orch prints and serves: one place, documented here.
//!
//! Field names are `snake_case` everywhere in output (`resolved_model`, `model_ref`);
//! MCP tool *arguments* follow the MCP convention of `camelCase` (`workerId`) and are
//! defined with the tools. Every view is what `orch <cmd> --format json` prints and what
//! `task_list({view, format: "json"})` returns.

use serde::{Deserialize, Serialize};

use crate::resolve::{Policy, Resolution};

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
    pub source: String,
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
    /// Context window (tokens; 0 unknown).
    pub context: u64,
    /// Output limit (tokens; 0 unknown).
    pub output: u64,
    /// US dollars per million input tokens.
    pub cost_input: f64,
    /// US dollars per million output tokens.
    pub cost_output: f64,
    /// `active`, `beta`, `alpha` or `deprecated`.
    pub status: String,
    /// Release date, when known.
    pub release_date: String,
    /// Whether it is its provider's default model.
    pub default: bool,
}

/// The models view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelsView {
    /// `local` or `live`.
    pub source: String,
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
    /// `server` or `agent`.
    pub backend: String,
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
}

impl OpName {
    /// The dotted name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WorkerModelSet => "worker.model.set",
            Self::WorkerModelReset => "worker.model.reset",
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
        }
    }

    /// Whether the task is over (succeeded, failed or cancelled).
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// One task, as `task_start`, `task_await`, `task_peek` and the `tasks` view show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskRow {
    /// Task id (`t1`, `t2`, ...), unique while the backend runs.
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
    /// The task text (in lists, its first 200 characters).
    pub task: Option<String>,
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
    pub error: Option<crate::Error>,
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
    pub source: String,
    /// The catalog used.
    pub catalog: String,
    /// Usable provider ids.
    pub usable_providers: Vec<String>,
}
