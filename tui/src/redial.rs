//! A backend connection that comes back: [`Redial`] wraps the client of a backend and,
//! once a call finds the backend gone (an `Unavailable` error: the connection broke, the
//! backend restarted), dials again on the next call. The TUI's own retries (its idle poll,
//! `r`) then reach the new backend; nothing is retried behind the user's back, so a change
//! is never sent twice.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use orch::Error;
use orch::api::Orchestrator;
use orch::error::ErrorKind;
use orch::wire::{
    AwaitView, CancelView, ModelsQuery, ModelsView, ProfilesView, ResolveQuery, ResolveView,
    RunRequest, SetModelRequest, StatusView, TagPreviewsView, TaskRow, TasksQuery, TasksView,
    WorkerRow, WorkersView,
};
use tokio::sync::Mutex;

/// A client that dials again after its backend was lost; see the module docs.
pub struct Redial<O, F> {
    dial: F,
    current: Mutex<Option<Arc<O>>>,
}

impl<O, F, Fut> Redial<O, F>
where
    O: Orchestrator,
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<O, Error>> + Send,
{
    /// Starts with `first` (already connected); `dial` makes the next connection.
    pub fn new(first: O, dial: F) -> Self {
        Self {
            dial,
            current: Mutex::new(Some(Arc::new(first))),
        }
    }

    /// The connection, dialling a new one when the last was lost.
    async fn get(&self) -> Result<Arc<O>, Error> {
        let mut current = self.current.lock().await;
        if let Some(c) = current.as_ref() {
            return Ok(Arc::clone(c));
        }
        let c = Arc::new((self.dial)().await?);
        tracing::info!("connected to the orch backend again");
        *current = Some(Arc::clone(&c));
        Ok(c)
    }

    /// After a call on `used`: a lost backend is forgotten, so the next call dials.
    async fn after<T>(&self, used: &Arc<O>, result: &Result<T, Error>) {
        if let Err(e) = result
            && e.kind == ErrorKind::Unavailable
        {
            let mut current = self.current.lock().await;
            if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, used)) {
                tracing::warn!("lost the orch backend: {}", e.message);
                *current = None;
            }
        }
    }
}

macro_rules! via {
    ($self:ident, |$o:ident| $call:expr) => {{
        let $o = $self.get().await?;
        let result = $call.await;
        $self.after(&$o, &result).await;
        result
    }};
}

impl<O, F, Fut> Orchestrator for Redial<O, F>
where
    O: Orchestrator,
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<O, Error>> + Send,
{
    async fn models(&self, q: &ModelsQuery) -> Result<ModelsView, Error> {
        via!(self, |o| o.models(q))
    }
    async fn resolve(&self, q: &ResolveQuery) -> Result<ResolveView, Error> {
        via!(self, |o| o.resolve(q))
    }
    async fn profiles(&self) -> Result<ProfilesView, Error> {
        via!(self, |o| o.profiles())
    }
    async fn tag_previews(&self, worker: &str) -> Result<TagPreviewsView, Error> {
        via!(self, |o| o.tag_previews(worker))
    }
    async fn workers(&self) -> Result<WorkersView, Error> {
        via!(self, |o| o.workers())
    }
    async fn set_model(&self, req: &SetModelRequest) -> Result<WorkerRow, Error> {
        via!(self, |o| o.set_model(req))
    }
    async fn reset_model(&self, worker: &str) -> Result<WorkerRow, Error> {
        via!(self, |o| o.reset_model(worker))
    }
    async fn warm(&self, worker: &str) -> Result<WorkerRow, Error> {
        via!(self, |o| o.warm(worker))
    }
    async fn run(&self, req: &RunRequest) -> Result<TaskRow, Error> {
        via!(self, |o| o.run(req))
    }
    async fn await_tasks(&self, ids: &[String], timeout: Duration) -> Result<AwaitView, Error> {
        via!(self, |o| o.await_tasks(ids, timeout))
    }
    async fn tasks(&self, q: &TasksQuery) -> Result<TasksView, Error> {
        via!(self, |o| o.tasks(q))
    }
    async fn cancel(&self, ids: &[String]) -> Result<CancelView, Error> {
        via!(self, |o| o.cancel(ids))
    }
    async fn status(&self) -> Result<StatusView, Error> {
        via!(self, |o| o.status())
    }
    async fn close(&self) {
        let current = self.current.lock().await.take();
        if let Some(c) = current {
            c.close().await;
        }
    }
}
