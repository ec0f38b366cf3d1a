//! The worker service `orch serve` runs until the worker manager is wired in: it serves
//! the read-only views (workers as their profiles define them) and answers every task or
//! model change with a clear "not available yet" error. [`default_service`] is the one
//! place that chooses the service, so plugging in the manager changes one line.

use crate::api::{Knowledge, unknown_worker};
use crate::error::{Error, ErrorKind};
use crate::paths::{Environment, Paths};
use crate::profiles::BackendKind;
use crate::resolve::Policy;
use crate::workers::{
    CancellationToken, RunOutcome, RunRequest, SetModelRequest, WorkerRow, WorkerService,
    WorkerStatus, WorkersView,
};

/// The service `orch serve` uses.
pub fn default_service(paths: &Paths, env: &Environment) -> Result<impl WorkerService, Error> {
    Ok(NoWorkerManager::new(Knowledge::load_local(paths, env)?))
}

/// Views only: no worker processes, so tasks and model changes fail with a clear error.
#[derive(Debug, Clone)]
pub struct NoWorkerManager {
    knowledge: Knowledge,
}

impl NoWorkerManager {
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
                "{what} is not available yet: this orch backend has no worker manager wired in, \
                 so it serves the views (models, profiles, workers, resolve, status) only"
            ),
        )
    }
}

impl WorkerService for NoWorkerManager {
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
        let workers = self
            .knowledge
            .profiles
            .list
            .iter()
            .map(|p| {
                let (resolved_model, reason) = match self
                    .knowledge
                    .resolver
                    .resolve_profile(p, Policy::default())
                {
                    Ok(r) => (Some(r.resolved_model), r.reason),
                    Err(e) => (None, e.to_string()),
                };
                WorkerRow {
                    id: p.id.clone(),
                    name: p.name.clone(),
                    status: WorkerStatus::Idle,
                    backend: match p.backend {
                        BackendKind::Server => "server".into(),
                        BackendKind::Agent => "agent".into(),
                    },
                    model_ref: p.model.display(),
                    resolved_model,
                    policy: Policy::default(),
                    reason,
                    overridden: false,
                    answered_by: None,
                    vision: p.vision,
                    pid: None,
                    url: None,
                    port: None,
                    session_id: None,
                    error: None,
                }
            })
            .collect();
        WorkersView { workers }
    }

    fn knowledge(&self) -> Knowledge {
        self.knowledge.clone()
    }

    async fn shutdown(&self) {}
}
