//! Which worker service a backend runs: [`default_service`] is the one place that
//! chooses it (the worker manager over real OpenCode processes). [`NoWorkerManager`]
//! serves the read-only views without any worker, for in-process clients.

use crate::api::{Knowledge, unknown_worker};
use crate::error::{Error, ErrorKind};
use crate::paths::{Environment, Paths};
use crate::profiles::BackendKind;
use crate::resolve::Policy;
use crate::workers::{
    CancellationToken, RunOutcome, RunRequest, SetModelRequest, WorkerRow, WorkerService,
    WorkerStatus, WorkersView,
};

/// The service `orch serve` uses: the worker manager, configured from the environment
/// (`ORCH_OPENCODE_BIN`, `ORCH_AGENT_URL`, timeouts; see `docs/workers.md`). It reloads
/// OpenCode's and orch's files when they change.
pub fn default_service(paths: &Paths, env: &Environment) -> Result<impl WorkerService, Error> {
    crate::workers::Manager::start(crate::workers::ManagerConfig::from_env(
        paths.clone(),
        env.clone(),
    ))
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
                "{what} needs the orch backend: this client has no worker manager, \
                 only the views (models, profiles, workers, resolve)"
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
