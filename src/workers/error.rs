//! Why a worker operation failed. Every message names the worker and, where there is
//! one, the fix.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::opencode::OpenCodeError;
use crate::resolve::ResolveError;

/// Failures of worker operations.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// No profile has this id.
    #[error("unknown worker \"{worker}\"; known workers: {}", known.join(", "))]
    UnknownWorker {
        /// The id asked for.
        worker: String,
        /// Known ids.
        known: Vec<String>,
    },
    /// The model reference did not resolve.
    #[error("worker {worker}: {source}")]
    Resolve {
        /// Worker id.
        worker: String,
        /// Why.
        #[source]
        source: ResolveError,
    },
    /// The OpenCode binary cannot be found or run.
    #[error(
        "cannot start OpenCode for worker {worker}: {message}; install OpenCode or set ORCH_OPENCODE_BIN to the opencode binary"
    )]
    OpenCodeMissing {
        /// Worker id.
        worker: String,
        /// What was tried.
        message: String,
    },
    /// Spawning failed.
    #[error("cannot start OpenCode for worker {worker}: {}{source}", running(program.as_deref()))]
    Spawn {
        /// Worker id.
        worker: String,
        /// The OpenCode binary that `/bin/sh` was to run, when it got that far.
        program: Option<PathBuf>,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The process never said it was listening.
    #[error("worker {worker}: OpenCode did not print its \"listening on\" line within {}s; its output:\n{output}", after.as_secs())]
    ReadyTimeout {
        /// Worker id.
        worker: String,
        /// How long we waited.
        after: Duration,
        /// What it printed (secrets removed).
        output: String,
    },
    /// The process exited.
    #[error("worker {worker}: its OpenCode process{} exited ({status}){}", pid.map(|p| format!(" (pid {p})")).unwrap_or_default(), if output.is_empty() { String::new() } else { format!("; its last output:\n{output}") })]
    Exited {
        /// Worker id.
        worker: String,
        /// Process id.
        pid: Option<u32>,
        /// Exit status in words.
        status: String,
        /// What it printed last (secrets removed).
        output: String,
    },
    /// The shared OpenCode host the worker's session ran on exited.
    #[error("worker {worker}: the shared OpenCode host{} exited ({status}) while it ran this task; the next task starts a new host{}", pid.map(|p| format!(" (pid {p})")).unwrap_or_default(), if output.is_empty() { String::new() } else { format!("; its last output:\n{output}") })]
    HostExited {
        /// Worker id.
        worker: String,
        /// The host's process id.
        pid: Option<u32>,
        /// Exit status in words.
        status: String,
        /// What it printed last (secrets removed).
        output: String,
    },
    /// OpenCode answered badly or could not be reached.
    #[error("worker {worker}: {source}")]
    OpenCode {
        /// Worker id.
        worker: String,
        /// The HTTP failure.
        #[source]
        source: OpenCodeError,
    },
    /// The reply carried an error (the provider failed, the message was aborted, ...).
    #[error("worker {worker}: OpenCode reported {message}")]
    Reply {
        /// Worker id.
        worker: String,
        /// OpenCode's error.
        message: String,
    },
    /// Every candidate model failed for a reason of its own (run-time fallback ran out),
    /// or health left none to try.
    #[error("worker {worker}: every candidate model failed: {summary}")]
    Exhausted {
        /// Worker id.
        worker: String,
        /// Each attempt (`model (429: ...)`) and each model passed over.
        summary: String,
    },
    /// The task was cancelled.
    #[error("worker {worker}: the task was cancelled")]
    Cancelled {
        /// Worker id.
        worker: String,
    },
    /// The task took too long.
    #[error("worker {worker}: the task did not finish within {}s", after.as_secs_f64())]
    Timeout {
        /// Worker id.
        worker: String,
        /// The limit.
        after: Duration,
    },
    /// An agent-backend worker without a server to attach to.
    #[error(
        "worker {worker} uses the agent backend but no OpenCode server URL is configured; set ORCH_AGENT_URL (or --agent-url) to a running `opencode serve`"
    )]
    NoAgentUrl {
        /// Worker id.
        worker: String,
    },
    /// The credentials of a worker's OpenCode server cannot be had (never shows a value).
    #[error("worker {worker}: {message}")]
    Credentials {
        /// Worker id.
        worker: String,
        /// What is missing and how to fix it.
        message: String,
    },
    /// A task was started for a worker that is not running, with auto-spawn off.
    #[error(
        "worker {worker} is not running and autoSpawn is false; start it with a task that allows spawning"
    )]
    NotRunning {
        /// Worker id.
        worker: String,
    },
    /// orch's own state could not be written.
    #[error("cannot write {}: {source}", path.display())]
    State {
        /// The file.
        path: PathBuf,
        /// Why (an encoding or locking failure is wrapped as `io::Error::other`).
        #[source]
        source: std::io::Error,
    },
    /// An attachment could not be used.
    #[error("worker {worker}: attachment {name}: {message}")]
    Attachment {
        /// Worker id.
        worker: String,
        /// Which attachment.
        name: String,
        /// Why.
        message: String,
    },
}

/// What was being run when a spawn failed, as a prefix of its cause.
fn running(program: Option<&Path>) -> String {
    program
        .map(|p| format!("cannot run /bin/sh for {}: ", p.display()))
        .unwrap_or_default()
}

impl WorkerError {
    /// The kind of failure, for exit codes and the MCP error. Exhaustive on purpose: a new
    /// variant must choose its kind here.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::UnknownWorker { .. } => ErrorKind::NotFound,
            Self::Resolve { source, .. } => source.kind(),
            Self::Attachment { .. } | Self::NotRunning { .. } => ErrorKind::InvalidInput,
            Self::State { .. } | Self::NoAgentUrl { .. } | Self::Credentials { .. } => {
                ErrorKind::Config
            }
            Self::Cancelled { .. }
            | Self::Timeout { .. }
            | Self::Reply { .. }
            | Self::Exhausted { .. } => ErrorKind::Failed,
            Self::OpenCodeMissing { .. }
            | Self::Spawn { .. }
            | Self::ReadyTimeout { .. }
            | Self::Exited { .. }
            | Self::HostExited { .. }
            | Self::OpenCode { .. } => ErrorKind::Unavailable,
        }
    }
}

impl From<WorkerError> for Error {
    fn from(e: WorkerError) -> Self {
        let suggestions = match &e {
            WorkerError::UnknownWorker { known, .. } => known.clone(),
            WorkerError::Resolve { source, .. } => source.suggestions().to_vec(),
            _ => Vec::new(),
        };
        Error::new(e.kind(), e.to_string()).with_suggestions(suggestions)
    }
}
