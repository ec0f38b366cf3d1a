//! The install report for people: lines for a terminal (`--format table`) or Markdown
//! (`--format markdown`, what an LLM or OpenCode's TUI reads). JSON is the report itself.

use super::templates::command_names;
use super::{FileAction, InstallReport, InstallScope};
use crate::render::Table;
use crate::wire::Format;

/// The report in `format`: one line (or row) per file, diffs on a dry run, notes, a
/// summary. `Json` renders as the table; callers serialize the report themselves.
pub fn render(report: &InstallReport, format: Format) -> String {
    match format {
        Format::Markdown => markdown(report),
        Format::Table | Format::Json => text(report),
    }
}

/// Aligned lines: the action, the file and its changes; the backup on a line of its own.
fn text(report: &InstallReport) -> String {
    let mut out = format!("orch opencode install ({})\n", title(report));
    for f in &report.files {
        let action = action(f.action, report.dry_run);
        out.push_str(&format!("  {action:<13} {}", f.path.display()));
        if !f.changes.is_empty() {
            out.push_str(&format!(" ({})", f.changes.join(", ")));
        }
        out.push('\n');
        if let Some(backup) = &f.backup {
            let verb = backup_verb(report.dry_run);
            out.push_str(&format!("  {:<13} {verb} {}\n", "", backup.display()));
        }
    }
    for diff in report.files.iter().filter_map(|f| f.diff.as_deref()) {
        out.push('\n');
        out.push_str(diff);
    }
    for note in &report.notes {
        out.push_str(&format!("note: {note}\n"));
    }
    out.push_str(&summary(report));
    out
}

/// A heading, a table of the files, each diff in a fenced block, notes as a list, the
/// summary as a paragraph.
fn markdown(report: &InstallReport) -> String {
    let mut out = format!("**orch opencode install** ({})\n\n", title(report));
    let mut t = Table::new(&["ACTION", "FILE", "CHANGES", "BACKUP"]);
    for f in &report.files {
        t.row(vec![
            action(f.action, report.dry_run).to_owned(),
            f.path.display().to_string(),
            if f.changes.is_empty() {
                "-".to_owned()
            } else {
                f.changes.join(", ")
            },
            f.backup.as_ref().map_or_else(
                || "-".to_owned(),
                |b| format!("{} {}", backup_verb(report.dry_run), b.display()),
            ),
        ]);
    }
    out.push_str(&t.to_markdown());
    for diff in report.files.iter().filter_map(|f| f.diff.as_deref()) {
        out.push_str(&format!("\n```diff\n{diff}```\n"));
    }
    if !report.notes.is_empty() {
        out.push('\n');
        for note in &report.notes {
            out.push_str(&format!("- note: {note}\n"));
        }
    }
    out.push('\n');
    out.push_str(&summary(report));
    out
}

/// `project`, `global; dry run, nothing written`, ...
fn title(report: &InstallReport) -> String {
    let scope = match report.scope {
        InstallScope::Project => "project",
        InstallScope::Global => "global",
    };
    if report.dry_run {
        format!("{scope}; dry run, nothing written")
    } else {
        scope.to_owned()
    }
}

fn action(action: FileAction, dry_run: bool) -> &'static str {
    match (action, dry_run) {
        (FileAction::Created, false) => "created",
        (FileAction::Created, true) => "would create",
        (FileAction::Updated, false) => "updated",
        (FileAction::Updated, true) => "would update",
        (FileAction::Unchanged, _) => "unchanged",
    }
}

fn backup_verb(dry_run: bool) -> &'static str {
    if dry_run {
        "would back up to"
    } else {
        "backed up to"
    }
}

/// The last line: what changed and what to do next.
fn summary(report: &InstallReport) -> String {
    let written = report
        .files
        .iter()
        .filter(|f| f.action != FileAction::Unchanged)
        .count();
    let unchanged = report.files.len() - written;
    if !report.changed {
        "Nothing to change: the command shortcuts and mcp.orch are already installed.\n".into()
    } else if report.dry_run {
        format!(
            "{written} file(s) would change, {unchanged} unchanged. Run without --dry-run to write them.\n"
        )
    } else {
        format!(
            "{written} file(s) written, {unchanged} unchanged. Restart OpenCode to load /{} and the orch MCP server.\n",
            command_names().join(", /")
        )
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::install::{FileKind, FileReport};

    /// A dry run over a project with a config: one new command file, the config updated
    /// with a backup, a note.
    fn dry_run() -> InstallReport {
        let file =
            |path: &str, kind, action, changes: &[&str], backup: Option<&str>, diff| FileReport {
                path: PathBuf::from(path),
                kind,
                action,
                backup: backup.map(PathBuf::from),
                changes: changes.iter().map(|c| (*c).to_owned()).collect(),
                diff: Some(diff),
            };
        InstallReport {
            scope: InstallScope::Project,
            dry_run: true,
            orch_bin: PathBuf::from("/opt/orch"),
            commands_dir: PathBuf::from("/p/.opencode/commands"),
            config_file: PathBuf::from("/p/opencode.jsonc"),
            changed: true,
            files: vec![
                file(
                    "/p/.opencode/commands/orchestrator.models.md",
                    FileKind::Command,
                    FileAction::Created,
                    &["new command file"],
                    None,
                    "--- /dev/null\n+++ /p/.opencode/commands/orchestrator.models.md\n@@ -0,0 +1,1 @@\n+!`/opt/orch models`\n".into(),
                ),
                file(
                    "/p/opencode.jsonc",
                    FileKind::Config,
                    FileAction::Updated,
                    &["add mcp.orch"],
                    Some("/p/opencode.jsonc.orch-backup"),
                    "+ mcp.orch = {\"type\": \"local\"}\n".into(),
                ),
            ],
            notes: vec!["/p/opencode.json also exists".into()],
        }
    }

    #[test]
    fn markdown_is_a_table_with_fenced_diffs_and_table_is_aligned_lines() {
        let report = dry_run();
        let markdown = render(&report, Format::Markdown);
        insta::assert_snapshot!("install_dry_run_markdown", markdown);

        let table = render(&report, Format::Table);
        assert_ne!(table, markdown);
        assert!(table.starts_with("orch opencode install (project; dry run, nothing written)\n"));
        assert!(table.contains("  would update  /p/opencode.jsonc (add mcp.orch)\n"));
        assert!(table.contains("would back up to /p/opencode.jsonc.orch-backup\n"));
        assert!(!table.contains('|') && !table.contains("```"), "{table}");
        // Both end with the same summary; JSON is the report itself, so `Json` renders as the table.
        let summary = "2 file(s) would change, 0 unchanged. Run without --dry-run to write them.\n";
        assert!(table.ends_with(summary) && markdown.ends_with(summary));
        assert_eq!(render(&report, Format::Json), table);
    }
}
