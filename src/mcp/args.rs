//! The arguments of the five tools, as JSON schemas an LLM or a generic client can follow:
//! names in `camelCase` (the MCP convention), every field described, enums inlined, the
//! core enums (`TaskKind`, `OpName`, `Policy`, `Scope`, `TaskStatus`, `AttachmentKind`)
//! used as they are. [`plain`] keeps the schemas to what generic clients understand.

use schemars::{JsonSchema, Schema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::resolve::Policy;
use crate::wire::{OpName, ReplyFormat, Scope, TaskKind, TaskListKind, TaskStatus};
use crate::workers::{Attachment, AttachmentKind};

/// A file for the worker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(inline)]
pub(crate) struct AttachmentArg {
    /// "image" or "file". Default: guessed from `mime` or the file name (png, jpg, jpeg, gif, webp, bmp, tiff are images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<AttachmentKind>,
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

/// A model reference or a fallback chain: a string (`"a/b"`, `"a/b, node"`) or a list of
/// references, tried in order at run time.
fn model_schema(_: &mut schemars::SchemaGenerator) -> Schema {
    schemars::json_schema!({
        "anyOf": [
            {"type": "string"},
            {"type": "array", "items": {"type": "string"}, "minItems": 1}
        ]
    })
}

/// A string, or a list of strings joined with `, ` (the chain spelling the core parses).
fn string_or_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => None,
        Some(OneOrMany::One(s)) => Some(s),
        Some(OneOrMany::Many(v)) => Some(v.join(", ")),
    })
}

/// The worker an operation changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(inline)]
pub(crate) struct WorkerOpArgs {
    /// The worker id, e.g. "docs".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    /// For worker.model.set: the new model, a tag (node, node:fast, node:vision, node:docs, node:cheap), provider/model, or a partial name; or a fallback chain, as a list or comma-separated ("anthropic/claude-sonnet-5, node"), tried in order when a model fails at run time.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_list"
    )]
    #[schemars(schema_with = "model_schema")]
    pub model: Option<String>,
    /// For worker.model.set: "dynamic" (default; the model rides on each message, no restart) or "sticky" (the worker's default until reset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_policy: Option<Policy>,
    /// For worker.model.set: restart the worker's OpenCode process now. Default false.
    #[serde(default)]
    pub respawn: bool,
    /// For worker.model.set: set the model even when it does not fit the worker (not a model for text work, no tool calls for a worker that uses tools, a context too small for OpenCode's prompt); the worker's row then carries a warning. Default false: such a model is refused with the closest models that fit. A vision worker never takes a model without image input, forced or not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
}

/// Arguments of `task_start`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = plain, transform = start_needs)]
pub(crate) struct StartArgs {
    /// "auto" (default): orch picks the worker: the vision worker when an image is attached, else `workerId` when given, else "coder". "worker": run `task` on `workerId`. "op": change a worker's model (give `op` and `worker`).
    #[serde(default)]
    pub kind: TaskKind,
    /// What the worker should do, in plain language (kinds "auto" and "worker").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// The worker: vision, docs, coder, architect, explorer, memory, or a user-defined one (task_list view "workers" lists them). Required for kind "worker".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    /// The model for this task: a tag (node, node:fast, node:vision, node:docs, node:cheap), provider/model (e.g. "openai/gpt-5-mini"), or a partial name; or a fallback chain, as a list or comma-separated, tried in order when a model fails (rate limit, overload, auth, ...). Default: the worker's current model.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "string_or_list"
    )]
    #[schemars(schema_with = "model_schema")]
    pub model: Option<String>,
    /// With `model`: "dynamic" (default) uses it for this task only; "sticky" also makes it the worker's model until reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_policy: Option<Policy>,
    /// Start a fresh worker process even when a matching one is running. Default false.
    #[serde(default)]
    pub force_new: bool,
    /// Start the worker when it is not running. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_spawn: Option<bool>,
    /// Give up after this many milliseconds and abort the worker's session (at least 1; more than 24 hours counts as 24 hours). Default: the backend's ORCH_TASK_TIMEOUT_MS (30 minutes unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub timeout_ms: Option<u64>,
    /// Files for the worker, each by absolute `path` or inline `base64`. An image sends an "auto" task to the vision worker.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentArg>,
    /// For kind "op": "worker.model.set" (give worker.workerId and worker.model) or "worker.model.reset" (back to the profile's configured model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<OpName>,
    /// For kind "op": the worker and its new model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<WorkerOpArgs>,
    /// Reply as "markdown" (default) or "json".
    #[serde(default)]
    pub format: ReplyFormat,
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
#[schemars(transform = plain, transform = needs_task_ids)]
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
    pub format: ReplyFormat,
}

/// Arguments of `task_peek` and `task_cancel`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = plain, transform = needs_task_ids)]
pub(crate) struct IdsArgs {
    /// One task id (e.g. "t3").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// Several task ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_ids: Vec<String>,
    /// Reply as "markdown" (default) or "json".
    #[serde(default)]
    pub format: ReplyFormat,
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
    Health,
    Usage,
}

/// Arguments of `task_list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = plain, transform = list_needs)]
pub(crate) struct ListArgs {
    /// "tasks" (default): recent tasks. "workers": each worker's model ref, resolved model, policy, reason and the model that answered its last task. "profiles": worker profiles and their tag-based defaults. "models": usable models (see scope, providers, query, visionOnly, limit). "resolve": what `model` resolves to (for `workerId`), why, and the ranked candidates. "status": the backend and its paths. "output": one task's full output (`taskId`). "tags": every tag and what it resolves to now for `workerId`. "health": models and providers with failures on record (cooldowns after 429/5xx, providers whose credentials were refused); clear it with task_start op "health.reset". "usage": tokens and cost of the project's tasks summed (by `by`).
    #[serde(default)]
    pub view: ViewArg,
    /// View "usage": one row per "worker" (default), "model" or "day".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<crate::usage::By>,
    /// Reply as "markdown" (default) or "json".
    #[serde(default)]
    pub format: ReplyFormat,
    /// View "models": "configured" (default; providers you can use) or "all" (the whole catalog).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
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
    /// Views "resolve" and "tags": resolve for this worker (a vision worker needs image input). View "models": only models that fit this worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    /// View "output": the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// View "tasks": only tasks in these states.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<TaskStatus>,
    /// View "tasks": "task" (work for workers), "op" (model changes) or "all" (default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<TaskListKind>,
    /// View "tasks": rows carry their output (up to 1 MiB in all, newest first).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub output: bool,
}

impl From<&Attachment> for AttachmentArg {
    fn from(a: &Attachment) -> Self {
        Self {
            kind: Some(a.kind),
            path: a.path.as_ref().map(|p| p.display().to_string()),
            base64: a.base64.clone(),
            mime: a.mime.clone(),
            name: a.name.clone(),
        }
    }
}

/// Rewrites a generated schema into the plain JSON Schema generic clients drive (the MCP
/// Inspector converts a `--tool-arg` by the field's `type`, so `["integer","null"]` would
/// send a string): an absent field is the null, so `Option<T>` is plain `T` and not
/// required; an enum is one `enum` list of its names (schemars writes `oneOf` when the
/// variants carry doc comments; the field's description says what each one means).
pub(crate) fn plain(schema: &mut Schema) {
    if let Some(object) = schema.as_object_mut() {
        plain_object(object);
    }
}

fn is_null(v: &Value) -> bool {
    v.get("type") == Some(&json!("null")) || v.get("const") == Some(&Value::Null)
}

fn plain_object(map: &mut Map<String, Value>) {
    // `Option<T>` of a schema without a `type`: anyOf [T, null] → T.
    if let Some(Value::Array(alternatives)) = map.get_mut("anyOf") {
        alternatives.retain(|a| !is_null(a));
        if alternatives.len() == 1
            && let Some(Value::Object(only)) = alternatives.pop()
        {
            map.remove("anyOf");
            for (k, v) in only {
                // The field's own description wins over the type's.
                map.entry(k).or_insert(v);
            }
        }
    }
    if let Some(Value::Array(alternatives)) = map.get_mut("oneOf") {
        alternatives.retain(|a| !is_null(a));
        let names: Option<Vec<Value>> = alternatives
            .iter()
            .map(|a| a.get("const").cloned())
            .collect();
        if let Some(names) = names.filter(|n| n.iter().all(Value::is_string)) {
            map.remove("oneOf");
            map.insert("type".into(), json!("string"));
            map.insert("enum".into(), Value::Array(names));
        }
    }
    if let Some(Value::Array(types)) = map.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            map.insert("type".into(), only);
        }
    }
    if let Some(Value::Array(names)) = map.get_mut("enum") {
        names.retain(|n| !n.is_null());
    }
    for (key, value) in map.iter_mut() {
        // Values, not schemas.
        if matches!(key.as_str(), "enum" | "const" | "default" | "examples") {
            continue;
        }
        plain_value(value);
    }
}

fn plain_value(value: &mut Value) {
    match value {
        Value::Object(map) => plain_object(map),
        Value::Array(items) => items.iter_mut().for_each(plain_value),
        _ => {}
    }
}

/// `taskId` or `taskIds`. Written as `if`/`then`, not a root `anyOf`: the Anthropic
/// Messages API refuses a tool whose `input_schema` has `anyOf`, `oneOf` or `allOf` at the
/// top level, and one such tool fails every request of a client that lists it.
fn needs_task_ids(schema: &mut Schema) {
    schema.insert("if".into(), json!({"not": {"required": ["taskId"]}}));
    schema.insert("then".into(), json!({"required": ["taskIds"]}));
}

/// Kind "op" needs `op`; kinds "auto" and "worker" need `task`, and "worker" `workerId`.
fn start_needs(schema: &mut Schema) {
    schema.insert(
        "if".into(),
        json!({"properties": {"kind": {"const": "op"}}, "required": ["kind"]}),
    );
    schema.insert("then".into(), json!({"required": ["op"]}));
    schema.insert(
        "else".into(),
        json!({
            "required": ["task"],
            "if": {"properties": {"kind": {"const": "worker"}}, "required": ["kind"]},
            "then": {"required": ["workerId"]}
        }),
    );
}

/// View "resolve" needs `model`; view "output" needs `taskId`; view "tags" needs `workerId`.
fn list_needs(schema: &mut Schema) {
    schema.insert(
        "if".into(),
        json!({"properties": {"view": {"const": "resolve"}}, "required": ["view"]}),
    );
    schema.insert("then".into(), json!({"required": ["model"]}));
    schema.insert(
        "else".into(),
        json!({
            "if": {"properties": {"view": {"const": "output"}}, "required": ["view"]},
            "then": {"required": ["taskId"]},
            "else": {
                "if": {"properties": {"view": {"const": "tags"}}, "required": ["view"]},
                "then": {"required": ["workerId"]}
            }
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_is_a_string_or_a_list_that_becomes_a_chain() {
        let parse = |v: Value| serde_json::from_value::<StartArgs>(v);
        let one = parse(json!({"model": "node:fast"})).expect("a string");
        assert_eq!(one.model.as_deref(), Some("node:fast"));
        let chain = parse(json!({"model": ["anthropic/claude-sonnet-5", "node"]})).expect("a list");
        assert_eq!(
            chain.model.as_deref(),
            Some("anthropic/claude-sonnet-5, node")
        );
        assert_eq!(parse(json!({})).expect("absent").model, None);
        assert!(parse(json!({"model": 5})).is_err());
        let op = parse(json!({"kind": "op", "op": "worker.model.set",
            "worker": {"workerId": "docs", "model": ["a/b", "c/d"]}}))
        .expect("an op with a chain");
        assert_eq!(op.worker.and_then(|w| w.model).as_deref(), Some("a/b, c/d"));
    }
}
