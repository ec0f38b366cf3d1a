//! Why `orch opencode install` did not happen, or stopped.

use std::path::{Path, PathBuf};

use crate::fsutil::{BACKUP_SUFFIX, IoFailure, MAX_BACKUPS, ReplaceError};

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
    /// A file operation failed (`cannot <action> <path>: <cause>`).
    #[error(transparent)]
    Io(#[from] IoFailure),
}

impl From<ReplaceError> for InstallError {
    fn from(e: ReplaceError) -> Self {
        match e {
            ReplaceError::Changed { path } => {
                refused(&path, "it changed while orch was installing; run again")
            }
            ReplaceError::NoFreeBackup { path } => refused(
                &path,
                format!(
                    "{MAX_BACKUPS} backups named {BACKUP_SUFFIX}.N already exist; remove old ones"
                ),
            ),
            ReplaceError::Io(e) => Self::Io(e),
        }
    }
}

/// A refusal of `path`: `reason` says what is wrong and how to fix it.
pub(super) fn refused(path: &Path, reason: impl Into<String>) -> InstallError {
    InstallError::Refused {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}
