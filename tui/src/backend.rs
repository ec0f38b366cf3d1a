//! What the TUI needs from orch, and the in-process implementation.
//!
//! [`Backend`] is deliberately small: each method is one MCP tool call or one view, so a
//! socket client implements it by forwarding. [`InProcess`] implements it over any
//! [`WorkerService`] (the real [`orch::workers::Manager`], or one over fakes in tests).

use std::future::Future;
use std::time::Duration;

use orch::Error;
use orch::wire::{ModelsQuery, ModelsView, ProfilesView, ResolveQuery, ResolveView};
use orch::workers::{
    CancellationToken, RunOutcome, RunRequest, SetModelRequest, WorkerRow, WorkerService,
    WorkersView,
};

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
    fn probe(&self, worker: String) -> impl Future<Output = Result<RunOutcome, Error>> + Send;

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

    async fn probe(&self, worker: String) -> Result<RunOutcome, Error> {
        let req = RunRequest {
            worker,
            task: PROBE_TASK.into(),
            auto_spawn: true,
            timeout: Some(PROBE_TIMEOUT),
            ..RunRequest::default()
        };
        self.service.run(req, CancellationToken::new()).await
    }

    async fn close(&self) {
        self.service.shutdown().await;
    }
}
