//! `orch opencode install`: writes OpenCode's `/orchestrator.*` command shortcuts and adds
//! the `orch mcp` server to OpenCode's config, without losing anything already there.
//!
//! What it writes, for the project (default) or the global scope:
//! - four command files in `.opencode/commands/` (global: `~/.config/opencode/commands/`),
//!   from the templates in `assets/commands/`, each running the absolute path of this orch
//!   binary through OpenCode's `` !`cmd` `` so the output lands in the prompt;
//! - `mcp.orch = {"type": "local", "command": [<orch>, "mcp"], "enabled": true}` in
//!   `opencode.jsonc` when it exists, else `opencode.json` (created with `$schema` when
//!   neither exists).
//!
//! Safety rules, in order of importance:
//! - Nothing is written until every file has been planned: a refusal changes nothing.
//! - The config is edited through jsonc-parser's CST, so comments, trailing commas,
//!   formatting and every other key stay byte for byte; the edited text is parsed again and
//!   must equal the old value plus `mcp.orch`, else the edit is refused.
//! - It refuses (naming the file and what to fix) when the config is not JSONC, its top
//!   level or `mcp` is not an object, a key it needs is duplicated, or `mcp.orch` exists
//!   and is not orch's entry. An entry that differs only in the binary path is updated.
//! - Before an existing config or a command file orch did not write (no [`MARKER`] line)
//!   is replaced, its bytes are copied to `<file>.orch-backup` (then `.orch-backup.1`, ...;
//!   an existing backup is never overwritten), with the original's permissions.
//! - Every write goes to a temporary file in the same directory, then is renamed over the
//!   target (permissions kept; a symbolic link is followed and its target written), after
//!   checking the file did not change since it was read.
//! - Files whose content is already right are not touched: a second run changes nothing.
//! - Messages name files and key paths, never a value read from a config (it may hold keys).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use jsonc_parser::cst::{CstInputValue, CstObject, CstRootNode};
use jsonc_parser::errors::{ParseError, ParseErrorKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::paths::Paths;

/// The line orch puts in the frontmatter of every command file it writes (a YAML comment,
/// so OpenCode ignores it). A file without it is the user's and is backed up before it is
/// replaced.
pub const MARKER: &str = "# orch-managed:";

/// The suffix of backups: `opencode.json.orch-backup`, then `.orch-backup.1`, `.2`, ...
pub const BACKUP_SUFFIX: &str = ".orch-backup";

/// `$schema` of a config file orch creates.
pub const SCHEMA_URL: &str = "https://opencode.ai/config.json";

/// The name of orch's entry under `mcp`.
pub const MCP_NAME: &str = "orch";

/// The placeholder in the templates that becomes the shell-quoted orch path.
const BIN_PLACEHOLDER: &str = "{{ORCH}}";

/// One command template: the file name OpenCode sees and its text.
struct Template {
    file: &'static str,
    text: &'static str,
}

/// The command shortcuts, in the order they are reported.
const TEMPLATES: [Template; 4] = [
    Template {
        file: "orchestrator.models.md",
        text: include_str!("../assets/commands/orchestrator.models.md"),
    },
    Template {
        file: "orchestrator.worker-model-set.md",
        text: include_str!("../assets/commands/orchestrator.worker-model-set.md"),
    },
    Template {
        file: "orchestrator.worker-model-reset.md",
        text: include_str!("../assets/commands/orchestrator.worker-model-reset.md"),
    },
    Template {
        file: "orchestrator.workers.md",
        text: include_str!("../assets/commands/orchestrator.workers.md"),
    },
];

/// The names of the command shortcuts as OpenCode lists them (`/orchestrator.models`, ...).
pub fn command_names() -> Vec<&'static str> {
    TEMPLATES
        .iter()
        .map(|t| t.file.trim_end_matches(".md"))
        .collect()
}

/// Where to install.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstallScope {
    /// The project: `<project>/.opencode/commands/` and `<project>/opencode.json(c)`.
    #[default]
    Project,
    /// The user: `~/.config/opencode/commands/` and `~/.config/opencode/opencode.json(c)`.
    Global,
}

/// What to install, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallOptions {
    /// Project or global.
    pub scope: InstallScope,
    /// Plan and report only; write nothing.
    pub dry_run: bool,
    /// The absolute path of the orch binary the commands and the MCP entry run.
    pub orch_bin: PathBuf,
}

/// What kind of file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileKind {
    /// A command shortcut (Markdown).
    Command,
    /// OpenCode's config (`opencode.json` or `opencode.jsonc`).
    Config,
}

/// What happened to a file (with `dry_run`: what would happen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileAction {
    /// The file did not exist and was written.
    Created,
    /// The file existed with other content and was rewritten.
    Updated,
    /// The file already had the right content; it was not touched.
    Unchanged,
}

/// One file of the installation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// Command or config.
    pub kind: FileKind,
    /// Created, updated or unchanged.
    pub action: FileAction,
    /// Where the previous content was copied before the file was replaced.
    pub backup: Option<PathBuf>,
    /// What changed, as key paths or short phrases (`add mcp.orch`); never a config value.
    pub changes: Vec<String>,
    /// With `dry_run`, the change as a unified-style diff (only text orch writes, never a
    /// value read from a config).
    pub diff: Option<String>,
}

/// The result of `orch opencode install` (`--format json` prints it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallReport {
    /// Project or global.
    pub scope: InstallScope,
    /// Whether this was a dry run (nothing written; actions say what would happen).
    pub dry_run: bool,
    /// The orch binary the commands and the MCP entry run.
    pub orch_bin: PathBuf,
    /// The directory of the command files.
    pub commands_dir: PathBuf,
    /// The config file edited or created.
    pub config_file: PathBuf,
    /// Whether any file was (or would be) written.
    pub changed: bool,
    /// Every file, commands first, then the config.
    pub files: Vec<FileReport>,
    /// Things worth knowing that are not errors.
    pub notes: Vec<String>,
}

/// Why the installation did not happen. Nothing was written when one of these is returned
/// before the writing phase (refusals always are).
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// A file cannot be changed safely; nothing was written.
    #[error("refusing to edit {}: {reason}; nothing was changed", path.display())]
    Refused {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The orch binary's path cannot be put in a command file.
    #[error("cannot use {} as the orch binary in OpenCode commands: {reason}", path.display())]
    Binary {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`read`, `write`, `back up`, ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> InstallError {
    let path = path.to_path_buf();
    move |source| InstallError::Io {
        action,
        path,
        source,
    }
}

fn refused(path: &Path, reason: impl Into<String>) -> InstallError {
    InstallError::Refused {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Where the command files and the config live for a scope.
pub fn locations(paths: &Paths, scope: InstallScope) -> (PathBuf, PathBuf) {
    match scope {
        InstallScope::Project => (
            paths.project_dir.join(".opencode").join("commands"),
            paths.project_dir.clone(),
        ),
        InstallScope::Global => (
            paths.opencode_config_dir.join("commands"),
            paths.opencode_config_dir.clone(),
        ),
    }
}

/// Plans every file, then (unless `dry_run`) writes the ones that change.
///
/// A refusal comes before any write. An I/O failure while writing (a full disk, a
/// read-only directory) stops at that file: files written before it stay written, each
/// one whole, and running again completes the rest.
pub fn install(paths: &Paths, opts: &InstallOptions) -> Result<InstallReport, InstallError> {
    let bin_word = shell_word(&opts.orch_bin)?;
    let bin = opts.orch_bin.to_str().ok_or_else(|| InstallError::Binary {
        path: opts.orch_bin.clone(),
        reason: "the path is not UTF-8".into(),
    })?;
    let (commands_dir, config_dir) = locations(paths, opts.scope);
    let mut notes = Vec::new();
    let mut plans = Vec::with_capacity(TEMPLATES.len() + 1);
    for template in &TEMPLATES {
        plans.push(plan_command(&commands_dir, template, &bin_word)?);
    }
    let config = plan_config(&config_dir, bin, &mut notes)?;
    let config_file = config.report.path.clone();
    plans.push(config);

    if !opts.dry_run {
        for plan in &mut plans {
            apply(plan)?;
        }
    }
    let changed = plans
        .iter()
        .any(|p| p.report.action != FileAction::Unchanged);
    let files = plans
        .into_iter()
        .map(|p| FileReport {
            diff: if opts.dry_run { p.diff } else { None },
            ..p.report
        })
        .collect();
    Ok(InstallReport {
        scope: opts.scope,
        dry_run: opts.dry_run,
        orch_bin: opts.orch_bin.clone(),
        commands_dir,
        config_file,
        changed,
        files,
        notes,
    })
}

/// One file to write (or leave alone).
struct Plan {
    /// Where the bytes go: the reported path, or the target of a symbolic link.
    target: PathBuf,
    /// The bytes read, or `None` for a new file.
    old: Option<Vec<u8>>,
    /// The bytes to write.
    new: Vec<u8>,
    /// Whether the old bytes must be backed up first.
    backup: bool,
    /// The dry-run diff.
    diff: Option<String>,
    /// The report, completed by [`apply`] (the real backup path).
    report: FileReport,
}

/// An existing file: where its bytes are and what they are.
struct Existing {
    target: PathBuf,
    bytes: Vec<u8>,
}

/// Reads `path` when it exists. A symbolic link is followed (its target is what gets
/// written); anything but a regular file is refused.
fn read_existing(path: &Path) -> Result<Option<Existing>, InstallError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("inspect", path)(e)),
    };
    let target = if meta.file_type().is_symlink() {
        fs::canonicalize(path).map_err(|e| {
            refused(
                path,
                format!("it is a symbolic link whose target cannot be resolved ({e}); fix or remove the link"),
            )
        })?
    } else {
        path.to_path_buf()
    };
    let meta = fs::metadata(&target).map_err(io_err("inspect", &target))?;
    if !meta.is_file() {
        return Err(refused(
            path,
            "it is not a regular file; move it out of the way",
        ));
    }
    let bytes = fs::read(&target).map_err(io_err("read", &target))?;
    Ok(Some(Existing { target, bytes }))
}

fn plan_command(dir: &Path, template: &Template, bin_word: &str) -> Result<Plan, InstallError> {
    let path = dir.join(template.file);
    let new = template.text.replace(BIN_PLACEHOLDER, bin_word);
    let report = |action, changes: Vec<String>| FileReport {
        path: path.clone(),
        kind: FileKind::Command,
        action,
        backup: None,
        changes,
        diff: None,
    };
    let Some(existing) = read_existing(&path)? else {
        return Ok(Plan {
            target: path.clone(),
            old: None,
            diff: Some(unified_diff(
                "/dev/null",
                &path.display().to_string(),
                "",
                &new,
            )),
            new: new.into_bytes(),
            backup: false,
            report: report(FileAction::Created, vec!["new command file".into()]),
        });
    };
    if existing.bytes == new.as_bytes() {
        return Ok(Plan {
            target: existing.target,
            old: Some(existing.bytes),
            new: new.into_bytes(),
            backup: false,
            diff: None,
            report: report(FileAction::Unchanged, Vec::new()),
        });
    }
    let shown = path.display().to_string();
    let ours = std::str::from_utf8(&existing.bytes)
        .ok()
        .filter(|old| has_marker(old));
    let (backup, changes, diff) = match ours {
        Some(old) => (
            false,
            vec!["replace orch's earlier version".into()],
            unified_diff(&shown, &shown, old, &new),
        ),
        None => (
            true,
            vec!["replace a file orch did not write (kept as a backup)".into()],
            format!(
                "(the current content is not shown; it is kept in the backup)\n{}",
                unified_diff("/dev/null", &shown, "", &new)
            ),
        ),
    };
    let mut report = report(FileAction::Updated, changes);
    if backup {
        report.backup = Some(free_backup_path(&existing.target));
    }
    Ok(Plan {
        target: existing.target,
        old: Some(existing.bytes),
        new: new.into_bytes(),
        backup,
        diff: Some(diff),
        report,
    })
}

/// Whether a command file carries orch's marker line in its frontmatter.
fn has_marker(text: &str) -> bool {
    let mut lines = text.lines();
    if lines.next().map(str::trim_end) != Some("---") {
        return false;
    }
    lines
        .take_while(|l| l.trim_end() != "---")
        .any(|l| l.starts_with(MARKER))
}

fn plan_config(dir: &Path, bin: &str, notes: &mut Vec<String>) -> Result<Plan, InstallError> {
    let jsonc = dir.join("opencode.jsonc");
    let json = dir.join("opencode.json");
    let exists = |p: &Path| fs::symlink_metadata(p).is_ok();
    let path = if exists(&jsonc) {
        if exists(&json) {
            notes.push(other_config_note(&json, &jsonc));
        }
        jsonc
    } else {
        json
    };
    let report = |action, changes: Vec<String>| FileReport {
        path: path.clone(),
        kind: FileKind::Config,
        action,
        backup: None,
        changes,
        diff: None,
    };
    let Some(existing) = read_existing(&path)? else {
        let text = new_config_text(bin).map_err(|reason| refused(&path, reason))?;
        return Ok(Plan {
            target: path.clone(),
            old: None,
            diff: Some(unified_diff(
                "/dev/null",
                &path.display().to_string(),
                "",
                &text,
            )),
            new: text.into_bytes(),
            backup: false,
            report: report(
                FileAction::Created,
                vec!["add $schema".into(), "add mcp.orch".into()],
            ),
        });
    };
    let text = std::str::from_utf8(&existing.bytes)
        .map_err(|_| refused(&path, "it is not UTF-8 text; fix its encoding"))?;
    let edit = edit_config(text, bin).map_err(|reason| refused(&path, reason))?;
    let Some(edit) = edit else {
        return Ok(Plan {
            target: existing.target,
            new: existing.bytes.clone(),
            old: Some(existing.bytes),
            backup: false,
            diff: None,
            report: report(FileAction::Unchanged, Vec::new()),
        });
    };
    let mut report = report(FileAction::Updated, edit.changes);
    report.backup = Some(free_backup_path(&existing.target));
    Ok(Plan {
        target: existing.target,
        old: Some(existing.bytes),
        new: edit.text.into_bytes(),
        backup: true,
        diff: Some(edit.diff),
        report,
    })
}

/// A note for a project that has both files: OpenCode reads both, `opencode.json` last.
fn other_config_note(json: &Path, jsonc: &Path) -> String {
    let defines_orch = fs::read_to_string(json)
        .ok()
        .and_then(|t| parse_value(&t).ok())
        .is_some_and(|v| v.get("mcp").and_then(|m| m.get(MCP_NAME)).is_some());
    let mut note = format!(
        "{} also exists; OpenCode reads it after {}, so its keys win",
        json.display(),
        jsonc.display()
    );
    if defines_orch {
        note.push_str(
            "; it defines mcp.orch too, which overrides the entry written here: remove it there",
        );
    }
    note
}

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
fn entry_value(bin: &str) -> Value {
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
fn new_config_text(bin: &str) -> Result<String, String> {
    let root = CstRootNode::parse("", &crate::sources::config::jsonc_options())
        .map_err(|e| describe_parse_error(&e))?;
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
struct ConfigEdit {
    text: String,
    changes: Vec<String>,
    diff: String,
}

fn parse_value(text: &str) -> Result<Value, String> {
    jsonc_parser::parse_to_serde_value::<Option<Value>>(
        text,
        &crate::sources::config::jsonc_options(),
    )
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
/// cannot be edited safely (a message with key paths, never values).
fn edit_config(text: &str, bin: &str) -> Result<Option<ConfigEdit>, String> {
    let before = parse_value(text)?;
    let root = CstRootNode::parse(text, &crate::sources::config::jsonc_options())
        .map_err(|e| describe_parse_error(&e))?;
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
    let text = root.to_string();
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

/// The binary path as one shell word for `` !`...` ``: bare when it is plain, else in single
/// quotes (`'` as `'\''`, which sh, bash, zsh and fish all read back). A backquote or a line
/// break cannot be carried (OpenCode's `` !`...` `` ends at the first backquote).
fn shell_word(path: &Path) -> Result<String, InstallError> {
    let err = |reason: &str| InstallError::Binary {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    };
    let s = path.to_str().ok_or_else(|| err("the path is not UTF-8"))?;
    if !path.is_absolute() {
        return Err(err("the path is not absolute"));
    }
    if s.contains(['`', '\n', '\r']) {
        return Err(err(
            "the path contains a backquote or a line break; install orch in another directory",
        ));
    }
    let plain = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%=".contains(c));
    if plain {
        return Ok(s.to_owned());
    }
    Ok(format!("'{}'", s.replace('\'', r"'\''")))
}

/// The first backup name that does not exist: `<file>.orch-backup`, then `.orch-backup.1`, ...
fn free_backup_path(target: &Path) -> PathBuf {
    (0..1000)
        .map(|n| backup_path(target, n))
        .find(|p| fs::symlink_metadata(p).is_err())
        .unwrap_or_else(|| backup_path(target, 0))
}

fn backup_path(target: &Path, n: u32) -> PathBuf {
    let mut name = target
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(BACKUP_SUFFIX);
    if n > 0 {
        name.push(format!(".{n}"));
    }
    target.with_file_name(name)
}

/// Writes one planned file: backup first, then the atomic replace.
fn apply(plan: &mut Plan) -> Result<(), InstallError> {
    if plan.report.action == FileAction::Unchanged {
        return Ok(());
    }
    if let Some(dir) = plan.target.parent() {
        fs::create_dir_all(dir).map_err(io_err("create the directory", dir))?;
    }
    let permissions = match &plan.old {
        Some(_) => Some(
            fs::metadata(&plan.target)
                .map_err(io_err("inspect", &plan.target))?
                .permissions(),
        ),
        None => None,
    };
    if plan.backup
        && let Some(old) = &plan.old
    {
        let backup = write_backup(&plan.target, old, permissions.as_ref())?;
        plan.report.backup = Some(backup);
    }
    write_atomic(
        &plan.target,
        &plan.new,
        plan.old.as_deref(),
        permissions.as_ref(),
    )
}

/// Removes a temporary file unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Creates a new file next to `target`, named after it, and returns it open for writing.
/// `private`: readable by the owner only until its final permissions are set (it may
/// receive a config's keys).
fn create_sibling(
    target: &Path,
    tag: &str,
    private: bool,
) -> Result<(TempFile, fs::File), InstallError> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut last = None;
    for attempt in 0..100u32 {
        let path = dir.join(format!(".{name}.{tag}-{}-{attempt}", std::process::id()));
        match new_file(&path, private) {
            Ok(file) => return Ok((TempFile { path, armed: true }, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(io_err("create a file in", dir)(e)),
        }
    }
    Err(io_err("create a file in", dir)(last.unwrap_or_else(|| {
        std::io::Error::other("no free temporary name")
    })))
}

/// Opens a file that must not exist yet; `private`: mode 0600, else the umask's default.
fn new_file(path: &Path, private: bool) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    if private {
        options.mode(0o600);
    }
    options.open(path)
}

/// Writes and flushes `bytes`, then gives the file `permissions` when there are some.
fn write_and_sync(
    file: &mut fs::File,
    path: &Path,
    bytes: &[u8],
    permissions: Option<&fs::Permissions>,
) -> Result<(), InstallError> {
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(io_err("write", path))?;
    match permissions {
        Some(p) => {
            fs::set_permissions(path, p.clone()).map_err(io_err("set the permissions of", path))
        }
        None => Ok(()),
    }
}

/// Copies `bytes` (what was read and planned on) to the first free backup name.
fn write_backup(
    target: &Path,
    bytes: &[u8],
    permissions: Option<&fs::Permissions>,
) -> Result<PathBuf, InstallError> {
    for n in 0..1000 {
        let path = backup_path(target, n);
        let mut file = match new_file(&path, true) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err("back up to", &path)(e)),
        };
        let mut guard = TempFile {
            path: path.clone(),
            armed: true,
        };
        write_and_sync(&mut file, &path, bytes, permissions)?;
        guard.armed = false;
        return Ok(path);
    }
    Err(refused(
        target,
        format!("1000 backups named {BACKUP_SUFFIX}.N already exist; remove old ones"),
    ))
}

/// Replaces `target` with `bytes` through a temporary file and a rename, after checking
/// that `target` still holds `expected` (`None`: that it still does not exist).
fn write_atomic(
    target: &Path,
    bytes: &[u8],
    expected: Option<&[u8]>,
    permissions: Option<&fs::Permissions>,
) -> Result<(), InstallError> {
    let (mut temp, mut file) = create_sibling(target, "orch-tmp", expected.is_some())?;
    write_and_sync(&mut file, &temp.path, bytes, permissions)?;
    drop(file);
    let changed = || refused(target, "it changed while orch was installing; run again");
    match expected {
        Some(old) => {
            if fs::read(target).map_err(io_err("read", target))? != old {
                return Err(changed());
            }
            fs::rename(&temp.path, target).map_err(io_err("replace", target))?;
            temp.armed = false;
        }
        None => match fs::hard_link(&temp.path, target) {
            // A link fails when the target appeared meanwhile, where a rename would replace it.
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(changed()),
            Err(_) => {
                if fs::symlink_metadata(target).is_ok() {
                    return Err(changed());
                }
                fs::rename(&temp.path, target).map_err(io_err("create", target))?;
                temp.armed = false;
            }
        },
    }
    if let Some(dir) = target.parent()
        && let Ok(dir) = fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// A unified-style diff of two short texts: one hunk, every line shown.
fn unified_diff(from: &str, to: &str, old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // Longest common subsequence table; files here are a few lines long.
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = format!(
        "--- {from}\n+++ {to}\n@@ -{},{} +{},{} @@\n",
        usize::from(!a.is_empty()),
        a.len(),
        usize::from(!b.is_empty()),
        b.len()
    );
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!(" {}\n", a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+{}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("-{}\n", a[i]));
            i += 1;
        }
    }
    out
}

/// The report for people: one line per file, diffs on a dry run, notes, a summary.
pub fn render(report: &InstallReport) -> String {
    let mut out = String::new();
    let scope = match report.scope {
        InstallScope::Project => "project",
        InstallScope::Global => "global",
    };
    out.push_str(&format!(
        "orch opencode install ({scope}{})\n",
        if report.dry_run {
            "; dry run, nothing written"
        } else {
            ""
        }
    ));
    for f in &report.files {
        let action = match (f.action, report.dry_run) {
            (FileAction::Created, false) => "created",
            (FileAction::Created, true) => "would create",
            (FileAction::Updated, false) => "updated",
            (FileAction::Updated, true) => "would update",
            (FileAction::Unchanged, _) => "unchanged",
        };
        out.push_str(&format!("  {action:<13} {}", f.path.display()));
        if !f.changes.is_empty() {
            out.push_str(&format!(" ({})", f.changes.join(", ")));
        }
        out.push('\n');
        if let Some(backup) = &f.backup {
            let verb = if report.dry_run {
                "would back up to"
            } else {
                "backed up to"
            };
            out.push_str(&format!("  {:<13} {verb} {}\n", "", backup.display()));
        }
    }
    for f in &report.files {
        if let Some(diff) = &f.diff {
            out.push('\n');
            out.push_str(diff);
        }
    }
    for note in &report.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    let written = report
        .files
        .iter()
        .filter(|f| f.action != FileAction::Unchanged)
        .count();
    let unchanged = report.files.len() - written;
    if !report.changed {
        out.push_str(
            "Nothing to change: the command shortcuts and mcp.orch are already installed.\n",
        );
    } else if report.dry_run {
        out.push_str(&format!(
            "{written} file(s) would change, {unchanged} unchanged. Run without --dry-run to write them.\n"
        ));
    } else {
        out.push_str(&format!(
            "{written} file(s) written, {unchanged} unchanged. Restart OpenCode to load /{} and the orch MCP server.\n",
            command_names().join(", /")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::paths::Environment;
    use crate::testutil::assert_no_secret;

    const BIN: &str = "/opt/orch/bin/orch";

    struct Setup {
        _dir: tempfile::TempDir,
        root: PathBuf,
        paths: Paths,
    }

    impl Setup {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let root = dir.path().to_path_buf();
            let project = root.join("proj");
            fs::create_dir_all(&project).unwrap_or_else(|e| panic!("{e}"));
            let env = Environment::from_pairs([
                ("HOME".to_owned(), root.join("home").display().to_string()),
                (
                    "XDG_CONFIG_HOME".to_owned(),
                    root.join("xdg-config").display().to_string(),
                ),
            ]);
            let paths = Paths::resolve(&env, &project);
            Self {
                _dir: dir,
                root,
                paths,
            }
        }

        fn project(&self, name: &str) -> PathBuf {
            self.paths.project_dir.join(name)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.project(name);
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{e}"));
            }
            fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
            path
        }

        fn run(&self, scope: InstallScope, dry_run: bool) -> Result<InstallReport, InstallError> {
            self.run_with(scope, dry_run, BIN)
        }

        fn run_with(
            &self,
            scope: InstallScope,
            dry_run: bool,
            bin: &str,
        ) -> Result<InstallReport, InstallError> {
            install(
                &self.paths,
                &InstallOptions {
                    scope,
                    dry_run,
                    orch_bin: PathBuf::from(bin),
                },
            )
        }

        fn ok(&self, scope: InstallScope) -> InstallReport {
            self.run(scope, false).unwrap_or_else(|e| panic!("{e}"))
        }

        /// Every file under the temp root with its bytes (what "nothing changed" compares).
        fn tree(&self) -> BTreeMap<PathBuf, Vec<u8>> {
            fn walk(dir: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
                let Ok(entries) = fs::read_dir(dir) else {
                    return;
                };
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.is_dir() {
                        walk(&path, out);
                    } else {
                        out.insert(path.clone(), fs::read(&path).unwrap_or_default());
                    }
                }
            }
            let mut out = BTreeMap::new();
            walk(&self.root, &mut out);
            out
        }
    }

    fn read(path: &Path) -> String {
        fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn actions(report: &InstallReport) -> Vec<FileAction> {
        report.files.iter().map(|f| f.action).collect()
    }

    const COMMENTED: &str = r#"// Global comment: keep me.
{
    "$schema": "https://opencode.ai/config.json",
    /* block comment */
    "model": "openai/gpt-5",   // trailing comment
    "provider": {
        "openai": { "options": { "apiKey": "sk-test-123" } },
    },
    "mcp": {
        // another server, untouched
        "other": { "type": "remote", "url": "http://127.0.0.1:9/mcp", },
    },
    "disabled_providers": [ "groq", ],
}
// after the end
"#;

    #[test]
    fn comments_trailing_commas_and_unrelated_keys_are_kept() {
        let s = Setup::new();
        let config = s.write("opencode.jsonc", COMMENTED);
        let report = s.ok(InstallScope::Project);
        assert!(report.changed);
        assert_eq!(report.config_file, config);
        let expected = COMMENTED.replace(
            r#"        "other": { "type": "remote", "url": "http://127.0.0.1:9/mcp", },
"#,
            r#"        "other": { "type": "remote", "url": "http://127.0.0.1:9/mcp", },
        "orch": {
            "type": "local",
            "command": ["/opt/orch/bin/orch", "mcp"],
            "enabled": true,
        },
"#,
        );
        assert_eq!(read(&config), expected);
        let backup = s.project("opencode.jsonc.orch-backup");
        assert_eq!(read(&backup), COMMENTED);
        let config_report = &report.files[4];
        assert_eq!(config_report.kind, FileKind::Config);
        assert_eq!(config_report.action, FileAction::Updated);
        assert_eq!(config_report.backup.as_deref(), Some(backup.as_path()));
        assert_eq!(config_report.changes, ["add mcp.orch"]);
        // The text OpenCode reads: the old value plus orch's entry.
        let value = parse_value(&read(&config)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(value["mcp"]["orch"], entry_value(BIN));
        assert_eq!(
            value["provider"]["openai"]["options"]["apiKey"],
            "sk-test-123"
        );
    }

    #[test]
    fn a_config_without_mcp_gets_one_in_its_own_style() {
        let s = Setup::new();
        let config = s.write("opencode.json", "{\r\n\t\"model\": \"a/b\"\r\n}\r\n");
        s.ok(InstallScope::Project);
        assert_eq!(
            read(&config),
            "{\r\n\t\"model\": \"a/b\",\r\n\t\"mcp\": {\r\n\t\t\"orch\": {\r\n\t\t\t\"type\": \"local\",\r\n\t\t\t\"command\": [\"/opt/orch/bin/orch\", \"mcp\"],\r\n\t\t\t\"enabled\": true\r\n\t\t}\r\n\t}\r\n}\r\n"
        );
    }

    #[test]
    fn an_empty_or_comment_only_config_gets_the_entry() {
        for text in ["", "\n", "// only a comment\n"] {
            let s = Setup::new();
            let config = s.write("opencode.json", text);
            s.ok(InstallScope::Project);
            let after = read(&config);
            assert!(after.starts_with(text.trim_end()), "{after:?}");
            let value = parse_value(&after).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                value,
                serde_json::json!({"mcp": {"orch": entry_value(BIN)}})
            );
        }
    }

    #[test]
    fn a_missing_config_is_created_with_schema() {
        let s = Setup::new();
        let report = s.ok(InstallScope::Project);
        let config = s.project("opencode.json");
        assert_eq!(report.config_file, config);
        assert_eq!(
            read(&config),
            r#"{
  "$schema": "https://opencode.ai/config.json",
  "mcp": {
    "orch": {
      "type": "local",
      "command": ["/opt/orch/bin/orch", "mcp"],
      "enabled": true
    }
  }
}
"#
        );
        assert_eq!(report.files[4].action, FileAction::Created);
        assert_eq!(report.files[4].backup, None);
        assert!(!s.project("opencode.jsonc").exists());
    }

    #[test]
    fn running_twice_changes_nothing_the_second_time() {
        let s = Setup::new();
        s.write("opencode.jsonc", COMMENTED);
        let first = s.ok(InstallScope::Project);
        assert_eq!(
            actions(&first),
            [
                FileAction::Created,
                FileAction::Created,
                FileAction::Created,
                FileAction::Created,
                FileAction::Updated
            ]
        );
        let before = s.tree();
        let mtimes: Vec<_> = before
            .keys()
            .map(|p| fs::metadata(p).and_then(|m| m.modified()).ok())
            .collect();
        let second = s.ok(InstallScope::Project);
        assert!(!second.changed);
        assert!(actions(&second).iter().all(|a| *a == FileAction::Unchanged));
        assert!(second.files.iter().all(|f| f.backup.is_none()));
        assert_eq!(s.tree(), before, "no file written, no new backup");
        let after: Vec<_> = before
            .keys()
            .map(|p| fs::metadata(p).and_then(|m| m.modified()).ok())
            .collect();
        assert_eq!(mtimes, after, "not even rewritten with the same bytes");
        assert!(render(&second).contains("Nothing to change"));
    }

    #[test]
    fn jsonc_is_preferred_over_json() {
        let s = Setup::new();
        let json = s.write("opencode.json", "{\"model\": \"a/b\"}\n");
        let jsonc = s.write("opencode.jsonc", "{\n  // c\n}\n");
        let report = s.ok(InstallScope::Project);
        assert_eq!(report.config_file, jsonc);
        assert_eq!(read(&json), "{\"model\": \"a/b\"}\n");
        assert!(read(&jsonc).contains("\"orch\""));
        assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
        assert!(!report.notes[0].contains("defines mcp.orch"));

        // An mcp.orch in opencode.json would override the entry: the note says so.
        let s = Setup::new();
        s.write(
            "opencode.json",
            r#"{"mcp": {"orch": {"type": "local", "command": ["x"]}}}"#,
        );
        s.write("opencode.jsonc", "{}");
        let report = s.ok(InstallScope::Project);
        assert!(
            report.notes[0].contains("defines mcp.orch"),
            "{:?}",
            report.notes
        );
    }

    #[test]
    fn refusals_name_the_file_and_change_nothing() {
        let cases: &[(&str, &[u8], &str)] = &[
            ("opencode.json", b"{\"model\": ", "not valid JSON"),
            ("opencode.json", b"{'model': 'a'}", "not valid JSON"),
            ("opencode.jsonc", b"[1, 2]", "top level is not a JSON object"),
            ("opencode.json", b"\"sk-test-123\"", "top level is not a JSON object"),
            ("opencode.json", b"{\"mcp\": [\"orch\"]}", "\"mcp\" is not an object"),
            (
                "opencode.json",
                b"{\"mcp\": {\"orch\": {\"type\": \"remote\", \"url\": \"http://x\", \"headers\": {\"Authorization\": \"sk-test-123\"}}}}",
                "differs at mcp.orch.command, mcp.orch.enabled, mcp.orch.headers, mcp.orch.type, mcp.orch.url",
            ),
            (
                "opencode.json",
                b"{\"mcp\": {\"orch\": {\"type\": \"local\", \"command\": [\"/usr/bin/other\", \"mcp\"], \"enabled\": true}}}",
                "differs at mcp.orch.command",
            ),
            (
                "opencode.json",
                b"{\"mcp\": {\"orch\": {\"type\": \"local\", \"command\": [\"/old/orch\", \"mcp\"], \"enabled\": false}}}",
                "differs at mcp.orch.command, mcp.orch.enabled",
            ),
            ("opencode.json", b"{\"mcp\": {}, \"mcp\": {}}", "\"mcp\" appears 2 times"),
            (
                "opencode.json",
                b"{\"mcp\": {\"orch\": {}, \"orch\": {}}}",
                "\"mcp.orch\" appears 2 times",
            ),
            ("opencode.json", b"{\"model\": \"\xff\"}", "not UTF-8"),
        ];
        for (name, bytes, why) in cases {
            let s = Setup::new();
            let path = s.project(name);
            fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
            let before = s.tree();
            let err = match s.run(InstallScope::Project, false) {
                Err(e) => e,
                Ok(r) => panic!(
                    "{name} {:?}: installed: {r:?}",
                    String::from_utf8_lossy(bytes)
                ),
            };
            let message = err.to_string();
            assert!(
                matches!(&err, InstallError::Refused { path: p, .. } if *p == path),
                "{message}"
            );
            assert!(message.contains(*why), "{message}");
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(message.contains("nothing was changed"), "{message}");
            assert_no_secret("a refusal", &message);
            assert_eq!(s.tree(), before, "{message}");
            assert!(
                !s.project(".opencode").exists(),
                "no command written: {message}"
            );
        }
    }

    #[test]
    fn a_config_that_is_a_directory_or_a_dangling_link_is_refused() {
        let s = Setup::new();
        fs::create_dir_all(s.project("opencode.jsonc")).unwrap_or_else(|e| panic!("{e}"));
        let err = s
            .run(InstallScope::Project, false)
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("not a regular file")));

        let s = Setup::new();
        std::os::unix::fs::symlink(s.root.join("nowhere"), s.project("opencode.json"))
            .unwrap_or_else(|e| panic!("{e}"));
        let err = s
            .run(InstallScope::Project, false)
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("symbolic link")));
        assert!(!s.project(".opencode").exists());
    }

    #[test]
    fn a_link_is_followed_and_stays_a_link() {
        let s = Setup::new();
        let real = s.root.join("dotfiles").join("opencode.json");
        fs::create_dir_all(s.root.join("dotfiles")).unwrap_or_else(|e| panic!("{e}"));
        fs::write(&real, "{}\n").unwrap_or_else(|e| panic!("{e}"));
        let link = s.project("opencode.json");
        std::os::unix::fs::symlink(&real, &link).unwrap_or_else(|e| panic!("{e}"));
        let report = s.ok(InstallScope::Project);
        assert!(fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink()));
        assert!(read(&real).contains("\"orch\""));
        assert_eq!(
            report.files[4].backup.as_deref(),
            Some(s.root.join("dotfiles/opencode.json.orch-backup").as_path())
        );
    }

    #[test]
    fn a_backup_is_made_once_and_never_overwritten() {
        let s = Setup::new();
        let config = s.write("opencode.json", "{\"model\": \"a/b\"}\n");
        s.ok(InstallScope::Project);
        let first = s.project("opencode.json.orch-backup");
        assert_eq!(read(&first), "{\"model\": \"a/b\"}\n");
        s.ok(InstallScope::Project);
        assert!(!s.project("opencode.json.orch-backup.1").exists());

        // A moved binary: only command[0] changes, and the first backup is kept.
        let installed = read(&config);
        let report = s
            .run_with(InstallScope::Project, false, "/new/place/orch")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read(&first), "{\"model\": \"a/b\"}\n");
        let second = s.project("opencode.json.orch-backup.1");
        assert_eq!(read(&second), installed);
        assert_eq!(report.files[4].backup.as_deref(), Some(second.as_path()));
        assert_eq!(
            read(&config),
            installed.replace("/opt/orch/bin/orch", "/new/place/orch")
        );
        // Own command files are replaced without a backup.
        assert!(
            report.files[..4]
                .iter()
                .all(|f| f.action == FileAction::Updated && f.backup.is_none())
        );
        let backups = s
            .tree()
            .into_keys()
            .filter(|p| p.to_string_lossy().contains(BACKUP_SUFFIX))
            .count();
        assert_eq!(backups, 2);
    }

    #[test]
    fn a_moved_binary_updates_only_the_path_and_keeps_formatting() {
        let s = Setup::new();
        let text = "{\n  \"mcp\": {\n    \"orch\": { \"type\": \"local\", \"command\": [\"/old/orch\", \"mcp\"], \"enabled\": true } // mine\n  }\n}\n";
        let config = s.write("opencode.jsonc", text);
        let report = s.ok(InstallScope::Project);
        assert_eq!(read(&config), text.replace("/old/orch", BIN));
        assert_eq!(
            report.files[4].changes,
            ["set mcp.orch.command[0] to this orch binary"]
        );
    }

    #[test]
    fn permissions_are_kept_and_backups_are_as_private_as_the_original() {
        let s = Setup::new();
        let config = s.write("opencode.json", "{\"provider\": {}}\n");
        fs::set_permissions(&config, fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|e| panic!("{e}"));
        s.ok(InstallScope::Project);
        let mode = |p: &Path| {
            fs::metadata(p)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!(mode(&config), 0o600);
        assert_eq!(mode(&s.project("opencode.json.orch-backup")), 0o600);
        // No temporary file left behind.
        let leftovers: Vec<_> = s
            .tree()
            .into_keys()
            .filter(|p| p.to_string_lossy().contains("orch-tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_command_file_orch_did_not_write_is_backed_up_and_its_own_is_not() {
        let s = Setup::new();
        let mine = s.write(
            ".opencode/commands/orchestrator.models.md",
            "my own prompt\n",
        );
        let ours = s.write(
            ".opencode/commands/orchestrator.workers.md",
            "---\ndescription: old\n# orch-managed: old version\n---\n!`/old/orch workers`\n",
        );
        let report = s.ok(InstallScope::Project);
        let f = &report.files[0];
        assert_eq!(
            (f.action, f.path.as_path()),
            (FileAction::Updated, mine.as_path())
        );
        let backup = s.project(".opencode/commands/orchestrator.models.md.orch-backup");
        assert_eq!(f.backup.as_deref(), Some(backup.as_path()));
        assert_eq!(read(&backup), "my own prompt\n");
        assert!(has_marker(&read(&mine)));
        let f = &report.files[3];
        assert_eq!((f.action, f.backup.as_ref()), (FileAction::Updated, None));
        assert!(read(&ours).contains(&format!(
            "!`{BIN} workers $ARGUMENTS --format markdown 2>&1`"
        )));
    }

    #[test]
    fn command_files_run_this_binary_with_markdown_output() {
        let s = Setup::new();
        s.ok(InstallScope::Project);
        let dir = s.project(".opencode/commands");
        let expected = [
            ("orchestrator.models", "models $ARGUMENTS"),
            (
                "orchestrator.worker-model-set",
                "worker-model-set $ARGUMENTS",
            ),
            (
                "orchestrator.worker-model-reset",
                "worker-model-reset $ARGUMENTS",
            ),
            ("orchestrator.workers", "workers $ARGUMENTS"),
        ];
        assert_eq!(command_names(), expected.map(|(n, _)| n));
        for (name, sub) in expected {
            let text = read(&dir.join(format!("{name}.md")));
            assert!(text.starts_with("---\ndescription: "), "{text}");
            assert!(has_marker(&text), "{text}");
            assert!(
                text.contains(&format!("!`{BIN} {sub} --format markdown 2>&1`")),
                "{text}"
            );
            assert!(text.contains("Show the output above to the user"), "{text}");
            assert!(!text.contains(BIN_PLACEHOLDER));
        }
    }

    #[test]
    fn a_dry_run_writes_nothing_and_shows_the_change() {
        let s = Setup::new();
        s.write("opencode.jsonc", COMMENTED);
        let before = s.tree();
        let report = s
            .run(InstallScope::Project, true)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.tree(), before);
        assert!(report.dry_run && report.changed);
        assert_eq!(
            actions(&report),
            [
                FileAction::Created,
                FileAction::Created,
                FileAction::Created,
                FileAction::Created,
                FileAction::Updated
            ]
        );
        assert_eq!(
            report.files[4].backup.as_deref(),
            Some(s.project("opencode.jsonc.orch-backup").as_path())
        );
        assert_eq!(
            report.files[4].diff.as_deref(),
            Some(
                "+ mcp.orch = {\"type\": \"local\", \"command\": [\"/opt/orch/bin/orch\", \"mcp\"], \"enabled\": true}\n"
            )
        );
        let text = render(&report);
        assert!(text.contains("would create"), "{text}");
        assert!(
            text.contains("+!`/opt/orch/bin/orch models $ARGUMENTS"),
            "{text}"
        );
        assert!(text.contains("would back up to"), "{text}");
        assert_no_secret("a dry run", &text);
        let json = serde_json::to_string(&report).unwrap_or_default();
        assert_no_secret("a dry run's JSON", &json);

        // After a real run, a dry run of a moved binary shows a diff of orch's own lines.
        s.ok(InstallScope::Project);
        let report = s
            .run_with(InstallScope::Project, true, "/new/orch")
            .unwrap_or_else(|e| panic!("{e}"));
        let diff = report.files[0].diff.as_deref().unwrap_or_default();
        assert!(diff.contains("\n-!`/opt/orch/bin/orch models"), "{diff}");
        assert!(diff.contains("\n+!`/new/orch models"), "{diff}");
        assert!(diff.contains("\n ---\n"), "{diff}");
        assert_eq!(
            report.files[4].diff.as_deref(),
            Some("~ mcp.orch.command[0] = \"/new/orch\"\n")
        );
    }

    #[test]
    fn a_normal_run_reports_no_diff() {
        let s = Setup::new();
        let report = s.ok(InstallScope::Project);
        assert!(report.files.iter().all(|f| f.diff.is_none()));
    }

    #[test]
    fn global_and_project_scopes_use_their_own_paths() {
        let s = Setup::new();
        let report = s.ok(InstallScope::Global);
        let global = s.root.join("xdg-config/opencode");
        assert_eq!(report.commands_dir, global.join("commands"));
        assert_eq!(report.config_file, global.join("opencode.json"));
        assert!(global.join("commands/orchestrator.models.md").is_file());
        assert!(read(&global.join("opencode.json")).contains("\"orch\""));
        assert!(!s.project(".opencode").exists());
        assert!(!s.project("opencode.json").exists());

        let report = s.ok(InstallScope::Project);
        assert_eq!(report.commands_dir, s.project(".opencode/commands"));
        assert_eq!(report.config_file, s.project("opencode.json"));
        assert!(report.changed, "the project is a separate place");

        // HOME alone: ~/.config/opencode.
        let env = Environment::from_pairs([("HOME".to_owned(), "/home/u".to_owned())]);
        let (commands, config) = locations(&Paths::resolve(&env, "/p"), InstallScope::Global);
        assert_eq!(commands, PathBuf::from("/home/u/.config/opencode/commands"));
        assert_eq!(config, PathBuf::from("/home/u/.config/opencode"));
        let (commands, config) = locations(&Paths::resolve(&env, "/p"), InstallScope::Project);
        assert_eq!(commands, PathBuf::from("/p/.opencode/commands"));
        assert_eq!(config, PathBuf::from("/p"));
    }

    #[test]
    fn the_binary_path_is_one_safe_shell_word() {
        let ok = [
            ("/usr/local/bin/orch", "/usr/local/bin/orch"),
            ("/home/a b/orch", "'/home/a b/orch'"),
            ("/home/it's/orch", r"'/home/it'\''s/orch'"),
            ("/x/$HOME;rm/orch", "'/x/$HOME;rm/orch'"),
        ];
        for (path, word) in ok {
            assert_eq!(
                shell_word(Path::new(path)).map_err(|e| e.to_string()),
                Ok(word.to_owned())
            );
        }
        for bad in ["/a`b/orch", "/a\nb/orch", "orch", "bin/orch"] {
            assert!(shell_word(Path::new(bad)).is_err(), "{bad:?}");
        }
        let s = Setup::new();
        let err = s.run_with(InstallScope::Project, false, "/a`b/orch");
        assert!(matches!(err, Err(InstallError::Binary { .. })));
        assert!(!s.project(".opencode").exists());
    }

    #[test]
    fn the_report_reads_back_as_json() {
        let s = Setup::new();
        let report = s.ok(InstallScope::Project);
        let json = serde_json::to_string_pretty(&report).unwrap_or_default();
        let back: InstallReport = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, report);
        assert!(json.contains("\"scope\": \"project\""), "{json}");
        assert!(json.contains("\"action\": \"created\""), "{json}");
    }

    #[test]
    fn the_diff_is_a_unified_diff_of_lines() {
        assert_eq!(
            unified_diff("a", "b", "x\ny\nz\n", "x\nY\nz\nw\n"),
            "--- a\n+++ b\n@@ -1,3 +1,4 @@\n x\n+Y\n-y\n z\n+w\n"
        );
        assert_eq!(
            unified_diff("a", "b", "", "q\n"),
            "--- a\n+++ b\n@@ -0,0 +1,1 @@\n+q\n"
        );
    }
}
