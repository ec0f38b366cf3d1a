//! Workers: OpenCode sessions with a role, each running on a resolved model.
//!
//! [`WorkerService`] is what the task layer (MCP tools, CLI, TUI) needs from workers;
//! the manager implements it over real OpenCode processes, tests over fakes.

pub mod attachment;
mod error;
pub mod failure;
pub mod fallback;
pub mod guard;
pub mod health;
pub mod host;
pub mod isolation;
mod manager;
mod none;
pub mod procfs;
pub mod registry;
pub mod settings;
pub mod spawn;

pub use error::WorkerError;
pub use manager::{Manager, ManagerConfig};
pub use none::NoWorkers;

use std::future::Future;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::knowledge::Knowledge;
use crate::redact::Redactor;
use crate::resolve::Resolution;

pub use crate::wire::{
    Attachment, AttachmentKind, RunRequest, SetModelRequest, WorkerRow, WorkerStatus, WorkersView,
};

pub use tokio_util::sync::CancellationToken;

/// What a finished task produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOutcome {
    /// Worker id.
    pub worker: String,
    /// The reference the task ran on (the override, or the worker's current one).
    pub requested_ref: String,
    /// Its resolution, with the reason.
    pub resolution: Resolution,
    /// The model that really answered (`provider/model` from OpenCode's reply).
    pub answered_by: Option<String>,
    /// The answer's text.
    pub output: String,
    /// OpenCode session id.
    pub session_id: String,
    /// Every model tried, when the task fell back (empty when the first one answered).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<crate::wire::Attempt>,
    /// Tokens, cost and time of the answer, every attempt summed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::usage::Usage>,
}

/// What the task layer needs from workers.
pub trait WorkerService: Send + Sync + 'static {
    /// Runs one task (spawning or reusing the worker); stops early when `cancel` fires,
    /// aborting the OpenCode session.
    fn run(
        &self,
        req: RunRequest,
        cancel: CancellationToken,
    ) -> impl Future<Output = Result<RunOutcome, Error>> + Send;

    /// Changes a worker's model; nothing changes on error.
    fn set_model(
        &self,
        req: SetModelRequest,
    ) -> impl Future<Output = Result<WorkerRow, Error>> + Send;

    /// Changes a worker's model whose reference the caller already resolved for it (the
    /// task registry resolves once, when it accepts the task); nothing changes on error.
    /// A service that keeps no resolution re-checks through [`WorkerService::set_model`].
    fn apply_model(
        &self,
        req: SetModelRequest,
        resolution: Resolution,
    ) -> impl Future<Output = Result<WorkerRow, Error>> + Send {
        let _ = resolution;
        self.set_model(req)
    }

    /// Restores the profile's configured model, re-resolved now.
    fn reset_model(&self, worker: &str) -> impl Future<Output = Result<WorkerRow, Error>> + Send;

    /// Every worker.
    fn workers(&self) -> impl Future<Output = WorkersView> + Send;

    /// Catalog, resolver and profiles, for the read-only views.
    fn knowledge(&self) -> Knowledge;

    /// What the service worked around and the user should know until it is resolved
    /// (shown by `orch status`, `orch workers`, `orch models`, the TUI and the MCP status
    /// view). By default the provider set's warnings (an unreadable `auth.json`, ...).
    fn warnings(&self) -> Vec<String> {
        self.knowledge().resolver.set().warnings.clone()
    }

    /// The redactor for everything that leaves the backend: task outputs and errors,
    /// worker rows, views, MCP replies. It shares its secrets with every clone and grows
    /// as the service learns more (worker passwords, reloaded files).
    fn redactor(&self) -> Redactor {
        Redactor::new()
    }

    /// Whether it runs tasks and applies model changes at all; a views-only service
    /// ([`NoWorkers`]) does not, and in-process clients say so before starting anything.
    fn runs_tasks(&self) -> bool {
        true
    }

    /// Every model and provider with a failure on record (`orch health`).
    fn health(&self) -> crate::wire::HealthView {
        crate::wire::HealthView::default()
    }

    /// Clears the health record (`orch health --reset`) and returns it.
    fn reset_health(&self) -> Result<crate::wire::HealthView, Error> {
        Ok(self.health())
    }

    /// Stops worker processes that are not meant to outlive the backend, and flushes state.
    fn shutdown(&self) -> impl Future<Output = ()> + Send;
}
