//! The interface every client uses: the CLI and the TUI call [`Orchestrator`], which
//! [`InProcess`] implements over any [`WorkerService`] in this process, and the socket
//! client ([`crate::client::SocketClient`]) implements over the backend, so moving a client
//! onto the backend does not rewrite it. The views themselves live in [`crate::views`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::knowledge::Knowledge;
use crate::paths::{Environment, Paths};
use crate::profiles::load_orchestrator;
use crate::sources::ProviderSource;
use crate::sources::live::LiveSource;
use crate::tasks::{Limits, StartRequest, Tasks, Work};
use crate::views;
use crate::wire::{
    AwaitView, CancelView, HealthView, ModelsQuery, ModelsView, ProfilesView, ResolveQuery,
    ResolveView, RunRequest, SetModelRequest, StatusView, TagPreviewsView, TaskKind, TaskRow,
    TasksQuery, TasksView, WorkerRow, WorkersView,
};
use crate::workers::{NoWorkers, WorkerService};

/// How long `set_model` and `reset_model` wait for their operation.
pub const OP_WAIT: Duration = Duration::from_secs(120);

/// What clients can ask of orch.
pub trait Orchestrator: Send + Sync {
    /// Lists models.
    fn models(&self, q: &ModelsQuery) -> impl Future<Output = Result<ModelsView, Error>> + Send;
    /// Resolves a reference, with the reason and ranked candidates.
    fn resolve(&self, q: &ResolveQuery) -> impl Future<Output = Result<ResolveView, Error>> + Send;
    /// Lists profiles with what each resolves to now.
    fn profiles(&self) -> impl Future<Output = Result<ProfilesView, Error>> + Send;
    /// Every tag (built-in, then the user's) with what it resolves to now for `worker`, in
    /// one answer (`task_list` view `tags`).
    fn tag_previews(
        &self,
        worker: &str,
    ) -> impl Future<Output = Result<TagPreviewsView, Error>> + Send;
    /// Every worker with its model, policy, reason and the model that answered last
    /// (`task_list` view `workers`).
    fn workers(&self) -> impl Future<Output = Result<WorkersView, Error>> + Send;
    /// Changes a worker's model and returns the worker afterwards
    /// (`task_start` op `worker.model.set`, awaited).
    fn set_model(
        &self,
        req: &SetModelRequest,
    ) -> impl Future<Output = Result<WorkerRow, Error>> + Send;
    /// Restores a worker's configured model (`task_start` op `worker.model.reset`, awaited).
    fn reset_model(&self, worker: &str) -> impl Future<Output = Result<WorkerRow, Error>> + Send;
    /// Starts a task on a worker and returns it at once, queued (`task_start` kind `worker`).
    fn run(&self, req: &RunRequest) -> impl Future<Output = Result<TaskRow, Error>> + Send;
    /// Waits for tasks, at most `timeout` (`task_await`).
    fn await_tasks(
        &self,
        ids: &[String],
        timeout: Duration,
    ) -> impl Future<Output = Result<AwaitView, Error>> + Send;
    /// Recent tasks (`task_list` view `tasks`).
    fn tasks(&self, q: &TasksQuery) -> impl Future<Output = Result<TasksView, Error>> + Send;
    /// Cancels tasks (`task_cancel`).
    fn cancel(&self, ids: &[String]) -> impl Future<Output = Result<CancelView, Error>> + Send;
    /// Models and providers with failures on record (`task_list` view `health`).
    fn health(&self) -> impl Future<Output = Result<HealthView, Error>> + Send {
        async { Err(needs_backend("the health record")) }
    }
    /// Usage totals of the project's tasks (`task_list` view `usage`).
    fn usage(
        &self,
        by: crate::usage::By,
    ) -> impl Future<Output = Result<crate::usage::UsageView, Error>> + Send {
        let _ = by;
        async { Err(needs_backend("usage totals")) }
    }
    /// Clears the health record (`task_start` op `health.reset`, awaited) and returns it.
    fn reset_health(&self) -> impl Future<Output = Result<HealthView, Error>> + Send {
        async { Err(needs_backend("resetting the health record")) }
    }
    /// The backend's state and paths (`task_list` view `status`).
    fn status(&self) -> impl Future<Output = Result<StatusView, Error>> + Send;
    /// Called once when a client is done (an in-process implementation stops its workers).
    fn close(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// Waits at most `timeout` for a started task and turns its end into a result: the row
/// when it succeeded, else its error ([`TaskRow::into_result`]).
pub async fn finish(
    o: &impl Orchestrator,
    started: &TaskRow,
    timeout: Duration,
) -> Result<TaskRow, Error> {
    let done = o
        .await_tasks(std::slice::from_ref(&started.id), timeout)
        .await?;
    done.tasks
        .into_iter()
        .next()
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Failed,
                format!("the backend lost task {}", started.id),
            )
        })?
        .into_result()
}

/// The error of what only the backend can do, for in-process clients without workers.
fn needs_backend(what: &str) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!(
            "{what} needs the orch backend; this client runs in-process (--opencode-url): drop that option to use the backend"
        ),
    )
}

/// orch in this process, over a worker service: the views from its knowledge, tasks and
/// model changes through a task registry of its own (as the backend runs them).
pub struct InProcess<W> {
    tasks: Tasks<W>,
}

impl<W: WorkerService + std::fmt::Debug> std::fmt::Debug for InProcess<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcess")
            .field("service", self.service())
            .field("tasks", &self.tasks)
            .finish()
    }
}

impl<W: WorkerService> InProcess<W> {
    /// Over `service`.
    pub fn new(service: W) -> Self {
        Self::shared(Arc::new(service))
    }

    /// Over a shared `service`.
    pub fn shared(service: Arc<W>) -> Self {
        Self {
            tasks: Tasks::new(service, Limits::default()),
        }
    }

    /// The service.
    pub fn service(&self) -> &W {
        self.tasks.workers()
    }

    fn knowledge(&self) -> Knowledge {
        self.service().knowledge()
    }

    /// Fails with what needs the backend when the service runs no tasks.
    fn serving(&self, what: &str) -> Result<&Tasks<W>, Error> {
        if self.service().runs_tasks() {
            Ok(&self.tasks)
        } else {
            Err(needs_backend(what))
        }
    }

    async fn op(&self, work: Work, what: &str) -> Result<WorkerRow, Error> {
        let started = self
            .serving(what)?
            .start(StartRequest {
                kind: TaskKind::Op,
                work,
                route: None,
            })
            .await?;
        finish(self, &started, OP_WAIT).await?.into_worker_row()
    }
}

impl InProcess<NoWorkers> {
    /// The views over OpenCode's files and the environment; no workers.
    pub fn load(paths: &Paths, env: &Environment) -> Result<Self, Error> {
        Ok(Self::views_only(Knowledge::load_local(paths, env)?))
    }

    /// The views over a running OpenCode server's providers (profiles still come from the
    /// files); no workers.
    pub async fn load_live(url: &str, paths: &Paths, env: &Environment) -> Result<Self, Error> {
        let set = LiveSource::new(url)?.load().await?;
        let profiles = load_orchestrator(paths, env)?;
        Ok(Self::views_only(Knowledge::new(set, profiles)))
    }

    /// The views over existing knowledge; no workers.
    pub fn views_only(knowledge: Knowledge) -> Self {
        Self::new(NoWorkers::new(knowledge))
    }
}

impl<W: WorkerService> Orchestrator for InProcess<W> {
    async fn models(&self, q: &ModelsQuery) -> Result<ModelsView, Error> {
        let mut view = views::models_checked(&self.knowledge(), q)?;
        views::mark_health(&mut view, &self.service().health());
        Ok(view)
    }

    async fn resolve(&self, q: &ResolveQuery) -> Result<ResolveView, Error> {
        views::resolve(&self.knowledge(), q)
    }

    async fn profiles(&self) -> Result<ProfilesView, Error> {
        Ok(views::profiles(&self.knowledge()))
    }

    async fn tag_previews(&self, worker: &str) -> Result<TagPreviewsView, Error> {
        views::tag_previews(&self.knowledge(), worker)
    }

    async fn workers(&self) -> Result<WorkersView, Error> {
        let mut view = self.service().workers().await;
        view.warnings = self.service().warnings();
        if self.service().runs_tasks() {
            self.tasks.annotate_workers(&mut view);
            self.tasks.add_usage(&mut view, crate::tasks::now_ms());
        }
        Ok(view)
    }

    async fn health(&self) -> Result<HealthView, Error> {
        self.serving("the health record")?;
        Ok(self.service().health())
    }

    async fn usage(&self, by: crate::usage::By) -> Result<crate::usage::UsageView, Error> {
        self.serving("usage totals")?.usage(by)
    }

    async fn reset_health(&self) -> Result<HealthView, Error> {
        let started = self
            .serving("health.reset")?
            .start(StartRequest {
                kind: TaskKind::Op,
                work: Work::ResetHealth,
                route: None,
            })
            .await?;
        finish(self, &started, OP_WAIT).await?;
        Ok(self.service().health())
    }

    async fn set_model(&self, req: &SetModelRequest) -> Result<WorkerRow, Error> {
        self.op(Work::SetModel(req.clone()), "worker.model.set")
            .await
    }

    async fn reset_model(&self, worker: &str) -> Result<WorkerRow, Error> {
        let work = Work::ResetModel {
            worker: worker.to_owned(),
        };
        self.op(work, "worker.model.reset").await
    }

    async fn run(&self, req: &RunRequest) -> Result<TaskRow, Error> {
        self.serving("running a task")?
            .start(StartRequest {
                kind: TaskKind::Worker,
                work: Work::Run(req.clone()),
                route: None,
            })
            .await
    }

    async fn await_tasks(&self, ids: &[String], timeout: Duration) -> Result<AwaitView, Error> {
        self.serving("awaiting tasks")?
            .wait(ids, timeout, false)
            .await
    }

    async fn tasks(&self, q: &TasksQuery) -> Result<TasksView, Error> {
        Ok(self.serving("listing tasks")?.list(q))
    }

    async fn cancel(&self, ids: &[String]) -> Result<CancelView, Error> {
        Ok(self.serving("cancelling tasks")?.cancel(ids))
    }

    async fn status(&self) -> Result<StatusView, Error> {
        Err(needs_backend("the backend status"))
    }

    async fn close(&self) {
        self.service().shutdown().await;
    }
}
