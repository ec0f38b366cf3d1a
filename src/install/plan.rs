//! Planning: what to write where. Every file is read and its new content decided (or the
//! installation refused) before anything is written; then the files that change are
//! written, each after a backup when it holds the user's bytes.

use std::fs;
use std::path::{Path, PathBuf};

use super::diff::unified_diff;
use super::error::refused;
use super::jsonc::{MCP_NAME, edit_config, new_config_text, parse_value};
use super::templates::{TEMPLATES, Template, has_marker, shell_word};
use super::{
    FileAction, FileKind, FileReport, InstallError, InstallOptions, InstallReport, InstallScope,
};
use crate::fsutil::{failed, free_backup_path, replace_if_unchanged, write_backup};
use crate::paths::Paths;

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
    // OpenCode reads agents from `agents/` beside `commands/`.
    let agents_dir = commands_dir.with_file_name("agents");
    let mut notes = Vec::new();
    let mut plans = Vec::with_capacity(TEMPLATES.len() + 1);
    // The command files, the config, then the agent (reported in that order).
    for template in TEMPLATES.iter().filter(|t| t.kind == FileKind::Command) {
        plans.push(plan_command(&commands_dir, template, &bin_word)?);
    }
    let config = plan_config(&config_dir, bin, &mut notes)?;
    let config_file = config.report.path.clone();
    plans.push(config);
    for template in TEMPLATES.iter().filter(|t| t.kind == FileKind::Agent) {
        plans.push(plan_command(&agents_dir, template, &bin_word)?);
    }

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

impl Plan {
    /// A new file at `path`; its diff is the whole text.
    fn create(path: PathBuf, kind: FileKind, text: String, changes: Vec<String>) -> Self {
        let diff = unified_diff("/dev/null", &path.display().to_string(), "", &text);
        Self {
            target: path.clone(),
            old: None,
            new: text.into_bytes(),
            backup: false,
            diff: Some(diff),
            report: report(path, kind, FileAction::Created, changes),
        }
    }

    /// A file that already has the right content.
    fn unchanged(path: PathBuf, kind: FileKind, existing: Existing) -> Self {
        Self {
            target: existing.target,
            new: existing.bytes.clone(),
            old: Some(existing.bytes),
            backup: false,
            diff: None,
            report: report(path, kind, FileAction::Unchanged, Vec::new()),
        }
    }

    /// A file rewritten with `new`; `backup`: its current bytes are copied first.
    fn update(
        path: PathBuf,
        kind: FileKind,
        existing: Existing,
        new: String,
        backup: bool,
        changes: Vec<String>,
        diff: String,
    ) -> Self {
        let mut report = report(path, kind, FileAction::Updated, changes);
        if backup {
            report.backup = Some(free_backup_path(&existing.target));
        }
        Self {
            target: existing.target,
            old: Some(existing.bytes),
            new: new.into_bytes(),
            backup,
            diff: Some(diff),
            report,
        }
    }
}

/// A file's report before its backup is known.
fn report(path: PathBuf, kind: FileKind, action: FileAction, changes: Vec<String>) -> FileReport {
    FileReport {
        path,
        kind,
        action,
        backup: None,
        changes,
        diff: None,
    }
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
        Err(e) => return Err(failed("inspect", path)(e).into()),
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
    let meta = fs::metadata(&target).map_err(failed("inspect", &target))?;
    if !meta.is_file() {
        return Err(refused(
            path,
            "it is not a regular file; move it out of the way",
        ));
    }
    let bytes = fs::read(&target).map_err(failed("read", &target))?;
    Ok(Some(Existing { target, bytes }))
}

fn plan_command(dir: &Path, template: &Template, bin_word: &str) -> Result<Plan, InstallError> {
    let path = dir.join(template.file);
    let new = template.render(bin_word);
    let kind = template.kind;
    let Some(existing) = read_existing(&path)? else {
        let what = match kind {
            FileKind::Agent => "new agent file for the shortcuts",
            FileKind::Command | FileKind::Config => "new command file",
        };
        return Ok(Plan::create(path, kind, new, vec![what.into()]));
    };
    if existing.bytes == new.as_bytes() {
        return Ok(Plan::unchanged(path, kind, existing));
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
    Ok(Plan::update(
        path, kind, existing, new, backup, changes, diff,
    ))
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
    let kind = FileKind::Config;
    let Some(existing) = read_existing(&path)? else {
        let text = new_config_text(bin).map_err(|reason| refused(&path, reason))?;
        let changes = vec!["add $schema".into(), "add mcp.orch".into()];
        return Ok(Plan::create(path, kind, text, changes));
    };
    let text = std::str::from_utf8(&existing.bytes)
        .map_err(|_| refused(&path, "it is not UTF-8 text; fix its encoding"))?;
    let edit = edit_config(text, bin).map_err(|reason| refused(&path, reason))?;
    Ok(match edit {
        None => Plan::unchanged(path, kind, existing),
        Some(edit) => Plan::update(
            path,
            kind,
            existing,
            edit.text,
            true,
            edit.changes,
            edit.diff,
        ),
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

/// Writes one planned file: backup first, then the checked replace.
fn apply(plan: &mut Plan) -> Result<(), InstallError> {
    if plan.report.action == FileAction::Unchanged {
        return Ok(());
    }
    if let Some(dir) = plan.target.parent() {
        fs::create_dir_all(dir).map_err(failed("create the directory", dir))?;
    }
    let permissions = match &plan.old {
        Some(_) => Some(
            fs::metadata(&plan.target)
                .map_err(failed("inspect", &plan.target))?
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
    replace_if_unchanged(
        &plan.target,
        &plan.new,
        plan.old.as_deref(),
        permissions.as_ref(),
    )?;
    Ok(())
}
