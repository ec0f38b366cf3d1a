//! What a worker's OpenCode may reach of orch itself. By default nothing: the worker's
//! `OPENCODE_CONFIG_CONTENT` disables the user's `orch` MCP entry and every other entry whose
//! command runs an orch binary with `mcp` (OpenCode deep-merges that content over the user's
//! files, so `"enabled": false` under the same name wins; checked on 1.18.34), and the worker
//! gets `ORCH_DELEGATION_DEPTH=0`, which `orch mcp` enforces by refusing `task_start`. A
//! profile with `"delegate": true` keeps the entries and gets a depth of 1.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::paths::Environment;

/// The variable a worker's `orch mcp` reads: how many levels of tasks it may still start.
pub const DELEGATION_DEPTH_VAR: &str = "ORCH_DELEGATION_DEPTH";

/// Whether an MCP server `command` runs orch's MCP bridge: an element named `orch` (any
/// directory) followed by `mcp`, or a shell line containing `orch mcp`.
pub fn runs_orch_mcp(command: &[String]) -> bool {
    let is_orch = |s: &str| Path::new(s).file_name().is_some_and(|n| n == "orch");
    command.iter().enumerate().any(|(i, part)| {
        (is_orch(part) && command[i + 1..].iter().any(|a| a == "mcp"))
            || part
                .split(|c: char| c.is_whitespace() || c == ';' || c == '&' || c == '|')
                .collect::<Vec<_>>()
                .windows(2)
                .any(|w| is_orch(w[0]) && w[1] == "mcp")
    })
}

/// The `mcp` part of a worker's config content: `None` for a delegating worker, else
/// `{"orch": {"enabled": false}, ...}` for `orch` and every entry of `user_mcp` (name →
/// command) that runs orch.
pub fn mcp_overlay(user_mcp: &BTreeMap<String, Vec<String>>, delegate: bool) -> Option<Value> {
    if delegate {
        return None;
    }
    let mut off = serde_json::Map::new();
    off.insert("orch".to_owned(), json!({"enabled": false}));
    for (name, command) in user_mcp {
        if runs_orch_mcp(command) {
            off.insert(name.clone(), json!({"enabled": false}));
        }
    }
    Some(Value::Object(off))
}

/// The delegation depth this process runs with: `None` outside a worker (the user's own
/// OpenCode and shell); inside one, its [`DELEGATION_DEPTH_VAR`], where a value that does
/// not parse counts as 0 (refuse rather than allow).
pub fn depth_in(env: &Environment) -> Option<u32> {
    env.get(DELEGATION_DEPTH_VAR)
        .map(|d| d.trim().parse().unwrap_or(0))
}

/// The value of [`DELEGATION_DEPTH_VAR`] for a worker.
pub fn delegation_depth(delegate: bool) -> &'static str {
    if delegate { "1" } else { "0" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orch_commands_are_recognised() {
        let cmd = |parts: &[&str]| parts.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        for yes in [
            cmd(&["orch", "mcp"]),
            cmd(&["/home/u/.cargo/bin/orch", "mcp"]),
            cmd(&["env", "X=1", "orch", "--quiet", "mcp"]),
            cmd(&["sh", "-c", "exec /usr/bin/orch mcp"]),
        ] {
            assert!(runs_orch_mcp(&yes), "{yes:?}");
        }
        for no in [
            cmd(&["orchestra", "mcp"]),
            cmd(&["orch", "serve"]),
            cmd(&["npx", "some-mcp"]),
            cmd(&[]),
        ] {
            assert!(!runs_orch_mcp(&no), "{no:?}");
        }
    }

    #[test]
    fn the_overlay_disables_orch_entries_unless_the_worker_delegates() {
        let user = BTreeMap::from([
            (
                "tasks".to_owned(),
                vec!["orch".to_owned(), "mcp".to_owned()],
            ),
            (
                "files".to_owned(),
                vec!["npx".to_owned(), "fs-mcp".to_owned()],
            ),
            ("remote".to_owned(), vec![]),
        ]);
        let overlay = mcp_overlay(&user, false).expect("an overlay");
        assert_eq!(
            overlay,
            json!({"orch": {"enabled": false}, "tasks": {"enabled": false}})
        );
        assert!(mcp_overlay(&user, true).is_none());
        assert_eq!(delegation_depth(false), "0");
        assert_eq!(delegation_depth(true), "1");
    }
}
