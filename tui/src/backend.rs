//! What the TUI needs from orch, and the in-process implementation.
//!
//! [`Backend`] is deliberately small: each method is one MCP tool call or one view, so a
//! socket client implements it by forwarding. [`InProcess`] implements it over any
//! [`WorkerService`] (the real [`orch::workers::Manager`], or one over fakes in tests).

use std::future::Future;
use std::time::Duration;

use orch::Error;
use orch::api::Orchestrator;
use orch::error::ErrorKind;
use orch::wire::{ModelsQuery, ModelsView, ProfilesView, ResolveQuery, ResolveView, TaskStatus};
use orch::workers::{
    CancellationToken, RunRequest, SetModelRequest, WorkerRow, WorkerService, WorkersView,
};

/// What a probe found: the model asked for and the one that really answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The model the task was sent with.
    pub resolved_model: String,
    /// The model OpenCode says answered.
    pub answered_by: Option<String>,
    /// The answer's text.
    pub output: String,
}

fn probe_request(worker: String) -> RunRequest {
    RunRequest {
        worker,
        task: PROBE_TASK.into(),
        auto_spawn: true,
        timeout: Some(PROBE_TIMEOUT),
        ..RunRequest::default()
    }
}

/// The task the probe sends: short, so the answer is quick and shows who answered.
pub const PROBE_TASK: &str =
    "orch probe: reply with one short sentence that names the model you are.";

/// How long a probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(120);

/// What the TUI asks of orch. Every call runs on a tokio task, never on the UI thread.
pub trait Backend: Send + Sync + 'static {
    /// Every worker, with its model, policy, reason and the model that last answered.
    fn workers(&self) -> impl Future<Output = Result<WorkersView, Error>> + Send;

    /// Profiles and user tags (the pick list offers the user tags).
    fn profiles(&self) -> impl Future<Output = Result<ProfilesView, Error>> + Send;

    /// Models (the TUI asks once for `scope: all` and filters locally).
    fn models(&self, q: ModelsQuery) -> impl Future<Output = Result<ModelsView, Error>> + Send;

    /// What a reference resolves to now, for a worker: the tag previews and the apply
    /// preview.
    fn resolve(&self, q: ResolveQuery) -> impl Future<Output = Result<ResolveView, Error>> + Send;

    /// Changes a worker's model (nothing changes on error).
    fn set_model(
        &self,
        req: SetModelRequest,
    ) -> impl Future<Output = Result<WorkerRow, Error>> + Send;

    /// Restores a worker's configured model.
    fn reset_model(&self, worker: String) -> impl Future<Output = Result<WorkerRow, Error>> + Send;

    /// Runs a tiny task ([`PROBE_TASK`]) on the worker's current model; the outcome says
    /// which model really answered.
    fn probe(&self, worker: String) -> impl Future<Output = Result<Probe, Error>> + Send;

    /// Called once when the TUI exits (an in-process backend stops its workers).
    fn close(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// The TUI over a worker service in this process.
#[derive(Debug, Clone)]
pub struct InProcess<W> {
    service: W,
}

impl<W: WorkerService> InProcess<W> {
    /// Over `service`.
    pub fn new(service: W) -> Self {
        Self { service }
    }

    /// The service.
    pub fn service(&self) -> &W {
        &self.service
    }
}

impl<W: WorkerService> Backend for InProcess<W> {
    async fn workers(&self) -> Result<WorkersView, Error> {
        Ok(self.service.workers().await)
    }

    async fn profiles(&self) -> Result<ProfilesView, Error> {
        Ok(self.service.knowledge().profiles_view())
    }

    async fn models(&self, q: ModelsQuery) -> Result<ModelsView, Error> {
        Ok(self.service.knowledge().models_view(&q))
    }

    async fn resolve(&self, q: ResolveQuery) -> Result<ResolveView, Error> {
        self.service.knowledge().resolve_view(&q)
    }

    async fn set_model(&self, req: SetModelRequest) -> Result<WorkerRow, Error> {
        self.service.set_model(req).await
    }

    async fn reset_model(&self, worker: String) -> Result<WorkerRow, Error> {
        self.service.reset_model(&worker).await
    }

    async fn probe(&self, worker: String) -> Result<Probe, Error> {
        let out = self
            .service
            .run(probe_request(worker), CancellationToken::new())
            .await?;
        Ok(Probe {
            resolved_model: out.resolution.resolved_model,
            answered_by: out.answered_by,
            output: out.output,
        })
    }

    async fn close(&self) {
        self.service.shutdown().await;
    }
}

/// The TUI over any [`Orchestrator`]: the backend's socket client in `orch tui`.
#[derive(Debug)]
pub struct Remote<O> {
    orchestrator: O,
}

impl<O: Orchestrator + Send + Sync + 'static> Remote<O> {
    /// Over `orchestrator`.
    pub fn new(orchestrator: O) -> Self {
        Self { orchestrator }
    }
}

impl<O: Orchestrator + Send + Sync + 'static> Backend for Remote<O> {
    async fn workers(&self) -> Result<WorkersView, Error> {
        self.orchestrator.workers().await
    }

    async fn profiles(&self) -> Result<ProfilesView, Error> {
        self.orchestrator.profiles().await
    }

    async fn models(&self, q: ModelsQuery) -> Result<ModelsView, Error> {
        self.orchestrator.models(&q).await
    }

    async fn resolve(&self, q: ResolveQuery) -> Result<ResolveView, Error> {
        self.orchestrator.resolve(&q).await
    }

    async fn set_model(&self, req: SetModelRequest) -> Result<WorkerRow, Error> {
        self.orchestrator.set_model(&req).await
    }

    async fn reset_model(&self, worker: String) -> Result<WorkerRow, Error> {
        self.orchestrator.reset_model(&worker).await
    }

    async fn probe(&self, worker: String) -> Result<Probe, Error> {
        let started = self.orchestrator.run(&probe_request(worker)).await?;
        let done = self
            .orchestrator
            .await_tasks(std::slice::from_ref(&started.id), PROBE_TIMEOUT)
            .await?;
        let task = done
            .tasks
            .into_iter()
            .next()
            .ok_or_else(|| Error::new(ErrorKind::Failed, "the backend lost the probe task"))?;
        match task.status {
            TaskStatus::Succeeded => Ok(Probe {
                resolved_model: task.resolved_model.unwrap_or_default(),
                answered_by: task.answered_by,
                output: task.output.unwrap_or_default(),
            }),
            TaskStatus::Queued | TaskStatus::Running => Err(Error::new(
                ErrorKind::Failed,
                format!(
                    "the probe (task {}) did not finish within {}s",
                    task.id,
                    PROBE_TIMEOUT.as_secs()
                ),
            )),
            _ => Err(task.error.unwrap_or_else(|| {
                Error::new(ErrorKind::Failed, format!("task {} failed", task.id))
            })),
        }
    }
}
