//! The command shortcuts orch writes into OpenCode's `commands/` directory: their
//! templates, the marker that says orch wrote a file, and the orch path as a shell word.

use std::path::Path;

use super::{FileKind, InstallError};

/// The line orch puts in the frontmatter of every command file it writes (a YAML comment,
/// so OpenCode ignores it). A file without it is the user's and is backed up before it is
/// replaced.
pub const MARKER: &str = "# orch-managed:";

/// The placeholder in the templates that becomes the shell-quoted orch path.
pub(super) const BIN_PLACEHOLDER: &str = "{{ORCH}}";

/// One template: the file name OpenCode sees, what it is and its text.
pub(super) struct Template {
    /// A command shortcut (in `commands/`) or the agent that answers them (in `agents/`).
    pub(super) kind: FileKind,
    /// The file name in `commands/` or `agents/`.
    pub(super) file: &'static str,
    /// The text, with [`BIN_PLACEHOLDER`] where the orch binary goes.
    pub(super) text: &'static str,
}

impl Template {
    /// The file's text, running `bin_word`.
    pub(super) fn render(&self, bin_word: &str) -> String {
        self.text.replace(BIN_PLACEHOLDER, bin_word)
    }
}

/// A template read from `assets/commands/<file>` (or `assets/agents/<file>`) at build time.
macro_rules! template {
    ($file:literal) => {
        Template {
            kind: FileKind::Command,
            file: $file,
            text: include_str!(concat!("../../assets/commands/", $file)),
        }
    };
    (agent $file:literal) => {
        Template {
            kind: FileKind::Agent,
            file: $file,
            text: include_str!(concat!("../../assets/agents/", $file)),
        }
    };
}

/// The command shortcuts, then the agent they name (`agent: orchestrator-shortcut`), in
/// the order they are reported. The agent is a hidden subagent with no tools and a
/// one-paragraph prompt: the shortcut's output is the user's message (shown once, as
/// `orch` prints it) and the model's turn costs a few hundred tokens and answers "Done."
/// (OpenCode 1.18.34 gives every command a model turn; there is no way to skip it).
pub(super) const TEMPLATES: [Template; 5] = [
    template!("orchestrator.models.md"),
    template!("orchestrator.worker-model-set.md"),
    template!("orchestrator.worker-model-reset.md"),
    template!("orchestrator.workers.md"),
    template!(agent "orchestrator-shortcut.md"),
];

/// The name of the agent that answers the shortcuts.
pub const AGENT_NAME: &str = "orchestrator-shortcut";

/// The names of the command shortcuts as OpenCode lists them (`/orchestrator.models`, ...).
pub fn command_names() -> Vec<&'static str> {
    TEMPLATES
        .iter()
        .filter(|t| t.kind == FileKind::Command)
        .map(|t| t.file.trim_end_matches(".md"))
        .collect()
}

/// Whether a command file carries orch's marker line in its frontmatter.
pub(super) fn has_marker(text: &str) -> bool {
    let mut lines = text.lines();
    if lines.next().map(str::trim_end) != Some("---") {
        return false;
    }
    lines
        .take_while(|l| l.trim_end() != "---")
        .any(|l| l.starts_with(MARKER))
}

/// The binary path as one shell word for `` !`...` ``: bare when it is plain, else in single
/// quotes (`'` as `'\''`, which sh, bash, zsh and fish all read back). A backquote or a line
/// break cannot be carried (OpenCode's `` !`...` `` ends at the first backquote).
pub(super) fn shell_word(path: &Path) -> Result<String, InstallError> {
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
