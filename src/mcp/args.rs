//! The arguments of the five tools, as JSON schemas an LLM can follow: names in
//! `camelCase` (the MCP convention), every field described, enums inlined.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What `task_start` starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub(crate) enum KindArg {
    // orch picks the worker.
    #[default]
    Auto,
    // The worker named by workerId.
    Worker,
    // An operation on a worker.
    Op,
}

/// How a model choice applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub(crate) enum PolicyArg {
    Dynamic,
    Sticky,
}

impl From<PolicyArg> for crate::resolve::Policy {
    fn from(p: PolicyArg) -> Self {
        match p {
            PolicyArg::Dynamic => Self::Dynamic,
            PolicyArg::Sticky => Self::Sticky,
        }
    }
}

impl From<crate::resolve::Policy> for PolicyArg {
    fn from(p: crate::resolve::Policy) -> Self {
        match p {
            crate::resolve::Policy::Dynamic => Self::Dynamic,
            crate::resolve::Policy::Sticky => Self::Sticky,
        }
    }
}

/// The operations of kind "op".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(inline)]
pub(crate) enum OpArg {
    #[serde(rename = "worker.model.set")]
    WorkerModelSet,
    #[serde(rename = "worker.model.reset")]
    WorkerModelReset,
}

/// The reply format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub(crate) enum FormatArg {
    #[default]
    Markdown,
    Json,
}

impl From<FormatArg> for crate::wire::Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Markdown => Self::Markdown,
            FormatArg::Json => Self::Json,
        }
    }
}

/// Image or other file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub(crate) enum AttachmentKindArg {
    Image,
    File,
}

/// A file for the worker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(inline)]
pub(crate) struct AttachmentArg {
    /// "image" or "file". Default: guessed from `mime` or the file name (png, jpg, jpeg, gif, webp, bmp are images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<AttachmentKindArg>,
    /// An absolute path on this machine. Give `path` or `base64`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The content, base64-encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
    /// MIME type, e.g. "image/png".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime: Option<String>,
    /// A file name to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The worker an operation changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(inline)]
pub(crate) struct WorkerOpArgs {
    /// The worker id, e.g. "docs".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    /// For worker.model.set: the new model, a tag (node, node:fast, node:vision, node:docs), provider/model, or a partial name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// For worker.model.set: "dynamic" (default; the model rides on each message, no restart) or "sticky" (the worker's default until reset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_policy: Option<PolicyArg>,
    /// For worker.model.set: restart the worker's OpenCode process now. Default false.
    #[serde(default)]
    pub respawn: bool,
}

/// Arguments of `task_start`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StartArgs {
    /// "auto" (default): orch picks the worker: the vision worker when an image is attached, else `workerId` when given, else "coder". "worker": run `task` on `workerId`. "op": change a worker's model (give `op` and `worker`).
    #[serde(default)]
    pub kind: KindArg,
    /// What the worker should do, in plain language (kinds "auto" and "worker").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// The worker: vision, docs, coder, architect, explorer, memory, or a user-defined one (task_list view "workers" lists them). Required for kind "worker".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    /// The model for this task: a tag (node, node:fast, node:vision, node:docs), provider/model (e.g. "openai/gpt-5-mini"), or a partial name. Default: the worker's current model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// With `model`: "dynamic" (default) uses it for this task only; "sticky" also makes it the worker's model until reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_policy: Option<PolicyArg>,
    /// Start a fresh worker process even when a matching one is running. Default false.
    #[serde(default)]
    pub force_new: bool,
    /// Start the worker when it is not running. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_spawn: Option<bool>,
    /// Give up after this many milliseconds and abort the worker's session. Default: the backend's ORCH_TASK_TIMEOUT_MS (30 minutes unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Files for the worker, each by absolute `path` or inline `base64`. An image sends an "auto" task to the vision worker.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentArg>,
    /// For kind "op": "worker.model.set" (give worker.workerId and worker.model) or "worker.model.reset" (back to the profile's configured model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<OpArg>,
    /// For kind "op": the worker and its new model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<WorkerOpArgs>,
    /// Reply as "markdown" (default) or "json".
    #[serde(default)]
    pub format: FormatArg,
}

/// Wait for all tasks or the first one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub(crate) enum WaitForArg {
    #[default]
    All,
    Any,
}

/// Arguments of `task_await`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AwaitArgs {
    /// One task id, as task_start returned it (e.g. "t3").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// Several task ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_ids: Vec<String>,
    /// Stop waiting after this many milliseconds and return the tasks as they are (still running ones say so). Default 120000, at most 1800000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// "all" (default): wait until every task has finished; "any": until one has.
    #[serde(default)]
    pub wait_for: WaitForArg,
    /// Reply as "markdown" (default) or "json".
    #[serde(default)]
    pub format: FormatArg,
}

/// Arguments of `task_peek` and `task_cancel`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct IdsArgs {
    /// One task id (e.g. "t3").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// Several task ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_ids: Vec<String>,
    /// Reply as "markdown" (default) or "json".
    #[serde(default)]
    pub format: FormatArg,
}

/// The views of `task_list`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub(crate) enum ViewArg {
    #[default]
    Tasks,
    Workers,
    Profiles,
    Models,
    Resolve,
    Status,
    Output,
    Tags,
}

/// Which models to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub(crate) enum ScopeArg {
    #[default]
    Configured,
    All,
}

/// Task states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub(crate) enum StatusArg {
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

impl From<StatusArg> for crate::wire::TaskStatus {
    fn from(s: StatusArg) -> Self {
        match s {
            StatusArg::Queued => Self::Queued,
            StatusArg::Running => Self::Running,
            StatusArg::Succeeded => Self::Succeeded,
            StatusArg::Failed => Self::Failed,
            StatusArg::Cancelled => Self::Cancelled,
        }
    }
}

/// Arguments of `task_list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ListArgs {
    /// "tasks" (default): recent tasks. "workers": each worker's model ref, resolved model, policy, reason and the model that answered its last task. "profiles": worker profiles and their tag-based defaults. "models": usable models (see scope, providers, query, visionOnly, limit). "resolve": what `model` resolves to (for `workerId`), why, and the ranked candidates. "status": the backend and its paths. "output": one task's full output (`taskId`). "tags": every tag and what it resolves to now for `workerId`.
    #[serde(default)]
    pub view: ViewArg,
    /// Reply as "markdown" (default) or "json".
    #[serde(default)]
    pub format: FormatArg,
    /// View "models": "configured" (default; providers you can use) or "all" (the whole catalog).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeArg>,
    /// View "models": only these provider ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<String>,
    /// View "models": only models whose id or name matches this text, best match first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// View "models": only models that accept images.
    #[serde(default)]
    pub vision_only: bool,
    /// Views "models" and "tasks": at most this many rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<usize>,
    /// View "resolve": the model reference to resolve (tag, provider/model or partial name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Views "resolve" and "tags": resolve for this worker (a vision worker needs image input).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    /// View "output": the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// View "tasks": only tasks in these states.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<StatusArg>,
}
