//! The JSONC edit: adds or updates `mcp.orch` in OpenCode's config through jsonc-parser's
//! CST, so comments, trailing commas, formatting and every other key stay byte for byte,
//! and checks the result parses to the old value plus orch's entry and nothing else.
//!
//! Errors are reasons (`String`) that name key paths, never a value read from the config;
//! the planner turns them into refusals of the file.

use std::path::Path;

use jsonc_parser::cst::{CstInputValue, CstObject, CstRootNode};
use jsonc_parser::errors::{ParseError, ParseErrorKind};
use serde_json::Value;

use crate::fsutil::{UTF8_BOM, split_bom};
use crate::sources::config::jsonc_options;

/// `$schema` of a config file orch creates.
pub const SCHEMA_URL: &str = "https://opencode.ai/config.json";

/// The name of orch's entry under `mcp`.
pub const MCP_NAME: &str = "orch";

/// A parse error as position and kind, without any text of the file.
fn describe_parse_error(e: &ParseError) -> String {
    let kind = match e.kind() {
        ParseErrorKind::String(_) => "invalid string literal".to_owned(),
        ParseErrorKind::Custom(_) => "invalid JSON".to_owned(),
        other => other.to_string().to_lowercase(),
    };
    format!(
        "it is not valid JSON with comments ({kind} at line {} column {}); fix it, then run again",
        e.line_display(),
        e.column_display()
    )
}

/// orch's MCP entry as a CST value, in the key order it is written.
fn entry_input(bin: &str) -> CstInputValue {
    CstInputValue::Object(vec![
        ("type".into(), "local".into()),
        (
            "command".into(),
            CstInputValue::Array(vec![bin.into(), "mcp".into()]),
        ),
        ("enabled".into(), true.into()),
    ])
}

/// orch's MCP entry as a value, to compare.
pub(super) fn entry_value(bin: &str) -> Value {
    serde_json::json!({"type": "local", "command": [bin, "mcp"], "enabled": true})
}

/// orch's MCP entry as one line, in the order it is written (for diffs).
fn entry_line(bin: &str) -> String {
    format!(
        r#"{{"type": "local", "command": [{}, "mcp"], "enabled": true}}"#,
        Value::String(bin.to_owned())
    )
}

/// The text of a new `opencode.json`.
pub(super) fn new_config_text(bin: &str) -> Result<String, String> {
    let root = CstRootNode::parse("", &jsonc_options()).map_err(|e| describe_parse_error(&e))?;
    root.set_value(CstInputValue::Object(vec![
        ("$schema".into(), SCHEMA_URL.into()),
        (
            "mcp".into(),
            CstInputValue::Object(vec![(MCP_NAME.into(), entry_input(bin))]),
        ),
    ]));
    Ok(root.to_string())
}

/// An edit of a config file.
#[derive(Debug)]
pub(super) struct ConfigEdit {
    /// The new text of the file.
    pub(super) text: String,
    /// What changed, as key paths (`add mcp.orch`).
    pub(super) changes: Vec<String>,
    /// The change in one line (`+ mcp.orch = {...}`), with only values orch writes.
    pub(super) diff: String,
}

/// A config's value (an empty or comment-only text is `{}`; a leading byte order mark is
/// skipped, as OpenCode does).
pub(super) fn parse_value(text: &str) -> Result<Value, String> {
    let (text, _) = split_bom(text);
    jsonc_parser::parse_to_serde_value::<Option<Value>>(text, &jsonc_options())
        .map(|v| v.unwrap_or_else(|| Value::Object(serde_json::Map::new())))
        .map_err(|e| describe_parse_error(&e))
}

/// Fails when `name` appears more than once in `obj` (JSON parsers disagree on which wins).
fn check_unique(obj: &CstObject, name: &str, shown: &str) -> Result<(), String> {
    let count = obj
        .properties()
        .iter()
        .filter(|p| p.decoded_name().as_deref() == Some(name))
        .count();
    if count > 1 {
        return Err(format!(
            "\"{shown}\" appears {count} times; keep one, then run again"
        ));
    }
    Ok(())
}

/// Adds or updates `mcp.orch` in a config's text. `Ok(None)`: already right. `Err`: why it
/// cannot be edited safely (a message with key paths, never values). A leading byte order
/// mark is kept.
pub(super) fn edit_config(text: &str, bin: &str) -> Result<Option<ConfigEdit>, String> {
    let (text, bom) = split_bom(text);
    let before = parse_value(text)?;
    let root = CstRootNode::parse(text, &jsonc_options()).map_err(|e| describe_parse_error(&e))?;
    let top = match root.value() {
        None => root
            .object_value_or_create()
            .ok_or("its top level cannot be made an object")?,
        Some(v) => v.as_object().ok_or(
            "its top level is not a JSON object; OpenCode needs { ... } there, fix it, then run again",
        )?,
    };
    check_unique(&top, "mcp", "mcp")?;
    let wanted = entry_value(bin);
    let mut changes = Vec::new();
    let diff;
    match top.get("mcp") {
        None => {
            top.append(
                "mcp",
                CstInputValue::Object(vec![(MCP_NAME.into(), entry_input(bin))]),
            );
            changes.push("add mcp.orch".to_owned());
            diff = format!("+ mcp.orch = {}\n", entry_line(bin));
        }
        Some(prop) => {
            let mcp = prop.object_value().ok_or(
                "its \"mcp\" is not an object; OpenCode needs \"mcp\": { \"<name>\": { ... } }, fix it, then run again",
            )?;
            check_unique(&mcp, MCP_NAME, "mcp.orch")?;
            match mcp.get(MCP_NAME) {
                None => {
                    mcp.append(MCP_NAME, entry_input(bin));
                    changes.push("add mcp.orch".to_owned());
                    diff = format!("+ mcp.orch = {}\n", entry_line(bin));
                }
                Some(existing) => {
                    let current = before
                        .get("mcp")
                        .and_then(|m| m.get(MCP_NAME))
                        .cloned()
                        .unwrap_or(Value::Null);
                    if current == wanted {
                        return Ok(None);
                    }
                    if !is_ours_elsewhere(&current) {
                        return Err(format!(
                            "it already has an \"mcp.orch\" entry that is not orch's (it differs at {}); \
                             rename or remove that entry, then run again",
                            differing_keys(&current, &wanted).join(", ")
                        ));
                    }
                    let first = existing
                        .object_value()
                        .and_then(|o| o.array_value("command"))
                        .and_then(|a| a.elements().into_iter().next())
                        .and_then(|n| n.as_string_lit())
                        .ok_or("its \"mcp.orch.command\" cannot be edited")?;
                    first.replace_with(CstInputValue::String(bin.to_owned()));
                    changes.push("set mcp.orch.command[0] to this orch binary".to_owned());
                    diff = format!(
                        "~ mcp.orch.command[0] = {}\n",
                        Value::String(bin.to_owned())
                    );
                }
            }
        }
    }
    let text = if bom {
        format!("{UTF8_BOM}{root}")
    } else {
        root.to_string()
    };
    // The safety net: the new text must parse to the old value plus orch's entry, nothing else.
    let mut expected = before;
    if let Value::Object(top) = &mut expected {
        let mcp = top
            .entry("mcp")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if let Value::Object(mcp) = mcp {
            mcp.insert(MCP_NAME.to_owned(), wanted);
        }
    }
    match parse_value(&text) {
        Ok(after) if after == expected => Ok(Some(ConfigEdit {
            text,
            changes,
            diff,
        })),
        _ => Err(
            "the edit could not be verified (the result would differ in more than mcp.orch); \
             add the entry by hand and please report this"
                .into(),
        ),
    }
}

/// Whether an `mcp.orch` value is orch's entry pointing at another orch binary:
/// `{"type": "local", "command": ["<.../orch...>", "mcp"], "enabled": true}`.
fn is_ours_elsewhere(current: &Value) -> bool {
    let Some(obj) = current.as_object() else {
        return false;
    };
    let keys_ok = obj.len() == 3
        && obj.get("type") == Some(&Value::from("local"))
        && obj.get("enabled") == Some(&Value::Bool(true));
    let command_ok = match obj.get("command").and_then(Value::as_array) {
        Some(c) if c.len() == 2 && c[1] == "mcp" => c[0].as_str().is_some_and(|p| {
            Path::new(p)
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("orch"))
        }),
        _ => false,
    };
    keys_ok && command_ok
}

/// The key paths under `mcp.orch` where `current` differs from `wanted`.
fn differing_keys(current: &Value, wanted: &Value) -> Vec<String> {
    let (Some(cur), Some(want)) = (current.as_object(), wanted.as_object()) else {
        return vec!["mcp.orch (not an object)".into()];
    };
    let mut keys: Vec<&String> = cur.keys().chain(want.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| cur.get(*k) != want.get(*k))
        .map(|k| format!("mcp.orch.{k}"))
        .collect()
}
