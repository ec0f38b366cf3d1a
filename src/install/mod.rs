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
//!
//! The parts: `plan` decides what to write where and writes it; `jsonc` edits the config;
//! `templates` holds the command files; `render` prints the report in each `--format`;
//! `report` and `error` are what comes back. The checked replace and the backups are
//! [`crate::fsutil`]'s ([`crate::fsutil::replace_if_unchanged`], [`crate::fsutil::write_backup`]).

mod diff;
mod error;
mod jsonc;
mod plan;
mod render;
mod report;
mod templates;
#[cfg(test)]
mod tests;

pub use crate::fsutil::BACKUP_SUFFIX;
pub use error::InstallError;
pub use jsonc::{MCP_NAME, SCHEMA_URL};
pub use plan::{install, locations};
pub use render::render;
pub use report::{FileAction, FileKind, FileReport, InstallOptions, InstallReport, InstallScope};
pub use templates::{AGENT_NAME, MARKER, command_names};
