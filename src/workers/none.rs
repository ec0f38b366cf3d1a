//! A worker service without workers: the views only, for clients that run in-process
//! over a live OpenCode (`--opencode-url`). Tasks and model changes fail with a clear error.

use crate::error::{Error, ErrorKind};
use crate::knowledge::{Knowledge, unknown_worker};
use crate::views;

use super::{
    CancellationToken, RunOutcome, RunRequest, SetModelRequest, WorkerRow, WorkerService,
    WorkersView,
};

/// Views only: no worker processes, so tasks and model changes fail with a clear error.
#[derive(Debug, Clone)]
pub struct NoWorkers {
    knowledge: Knowledge,
}

impl NoWorkers {
    /// Over this knowledge.
    pub fn new(knowledge: Knowledge) -> Self {
        Self { knowledge }
    }

    fn unavailable(&self, worker: &str, what: &str) -> Error {
        if self.knowledge.profiles.get(worker).is_none() {
            return unknown_worker(worker, &self.knowledge.profiles);
        }
        Error::new(
            ErrorKind::Unavailable,
            format!(
                "{what} needs the orch backend: this client has no worker manager, \
                 only the views (models, profiles, workers, resolve)"
            ),
        )
    }
}

impl WorkerService for NoWorkers {
    async fn run(&self, req: RunRequest, _cancel: CancellationToken) -> Result<RunOutcome, Error> {
        Err(self.unavailable(&req.worker, "running a task on a worker"))
    }

    async fn set_model(&self, req: SetModelRequest) -> Result<WorkerRow, Error> {
        Err(self.unavailable(&req.worker, "worker.model.set"))
    }

    async fn reset_model(&self, worker: &str) -> Result<WorkerRow, Error> {
        Err(self.unavailable(worker, "worker.model.reset"))
    }

    async fn workers(&self) -> WorkersView {
        views::idle_workers(&self.knowledge)
    }

    fn knowledge(&self) -> Knowledge {
        self.knowledge.clone()
    }

    fn runs_tasks(&self) -> bool {
        false
    }

    async fn shutdown(&self) {}
}
