//! What `orch opencode install` is asked to do and what it reports (`--format json` prints
//! the report).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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
    /// The agent that answers the shortcuts (Markdown).
    Agent,
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
