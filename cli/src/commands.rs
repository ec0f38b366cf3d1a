//! The commands the backend answers: one [`Ask`] implementation each, generic over the
//! backend, so the same code runs over the socket and in-process (`--opencode-url`).

use std::time::Duration;

use orch::api::Orchestrator;
use orch::resolve::RefKind;
use orch::wire::{CancelOutcome, Format, ResolveQuery, TasksQuery, WorkerRow, WorkersView};
use serde::Serialize;

use crate::args::{ModelsArgs, ResolveArgs, RunArgs, SetArgs, TasksArgs, UsageArgs};
use crate::{exit, print, wait};

/// A command answered by the backend: asks it, prints the answer, says the exit code.
pub trait Ask {
    /// Asks `backend` and prints its answer in `fmt`.
    async fn ask(&self, backend: &impl Orchestrator, fmt: Format) -> anyhow::Result<u8>;
}

/// Prints a view and says success.
fn show<V: Serialize>(
    view: &V,
    fmt: Format,
    render: fn(&V, Format) -> String,
) -> anyhow::Result<u8> {
    print::view(view, fmt, render)?;
    Ok(exit::OK)
}

/// `orch profiles`.
pub struct Profiles;
/// `orch workers`.
pub struct Workers;
/// `orch status`.
pub struct Status;
/// `orch worker-model-reset WORKER`.
pub struct Reset<'a>(pub &'a str);
/// `orch warm [WORKER...]`.
pub struct Warm<'a>(pub &'a [String]);
/// `orch cancel ID...`.
pub struct Cancel<'a>(pub &'a [String]);
/// `orch health [--reset]`.
pub struct Health {
    /// Clear the record first.
    pub reset: bool,
}

/// Implements [`Ask`] for commands that ask `backend` for one view and print it with its
/// renderer: `Type => |command, backend| the request, renderer;`.
macro_rules! shows {
    ($($t:ty => |$s:ident, $b:ident| $request:expr, $render:path;)*) => {$(
        impl Ask for $t {
            async fn ask(&self, $b: &impl Orchestrator, fmt: Format) -> anyhow::Result<u8> {
                let $s = self;
                show(&$request.await?, fmt, $render)
            }
        }
    )*};
}

// `orch models` prints the backend's warnings under its table, on stdout (its view's
// `warnings`, which carry the backend's own too); `orch workers` prints them on stderr first.
shows! {
    ModelsArgs => |c, b| b.models(&c.into()), orch::render::models;
    ResolveArgs => |c, b| b.resolve(&c.into()), orch::render::resolve;
    Profiles => |_c, b| b.profiles(), orch::render::profiles;
    UsageArgs => |c, b| b.usage(c.by.into()), orch::usage::render;
}

impl Ask for SetArgs {
    /// Prints the worker's model before → after; for a partial name, also what it
    /// resolved to and that it is kept as typed (re-resolved when providers change).
    async fn ask(&self, backend: &impl Orchestrator, fmt: Format) -> anyhow::Result<u8> {
        let before = row_of(backend, &self.worker).await;
        let after = backend.set_model(&self.into()).await?;
        let query = ResolveQuery {
            reference: after.model_ref.clone(),
            worker: Some(after.id.clone()),
            policy: after.policy,
        };
        let partial = backend
            .resolve(&query)
            .await
            .is_ok_and(|v| v.resolution.metadata.kind == RefKind::Fuzzy);
        changed(before.as_ref(), &after, partial, fmt)
    }
}

impl Ask for Reset<'_> {
    /// Prints the worker's model before → after.
    async fn ask(&self, backend: &impl Orchestrator, fmt: Format) -> anyhow::Result<u8> {
        let before = row_of(backend, self.0).await;
        let after = backend.reset_model(self.0).await?;
        changed(before.as_ref(), &after, false, fmt)
    }
}

/// Worker `id`'s row now, if the backend can say (the change itself reports failures).
async fn row_of(backend: &impl Orchestrator, id: &str) -> Option<WorkerRow> {
    backend.workers().await.ok()?.into_row(id)
}

/// Prints a model change: the row after it in JSON, before → after otherwise.
fn changed(
    before: Option<&WorkerRow>,
    after: &WorkerRow,
    partial: bool,
    fmt: Format,
) -> anyhow::Result<u8> {
    match fmt {
        Format::Json => print::view(after, fmt, orch::render::worker)?,
        _ => print::bytes(orch::render::worker_change(before, after, partial, fmt).as_bytes())?,
    }
    Ok(exit::OK)
}

impl Ask for Workers {
    /// The backend's warnings come first, on stderr (the table stays on stdout).
    async fn ask(&self, backend: &impl Orchestrator, fmt: Format) -> anyhow::Result<u8> {
        let view = backend.workers().await?;
        print::warnings(&view.warnings, fmt);
        show(&view, fmt, orch::render::workers)
    }
}

impl Ask for RunArgs {
    /// Starts the task; unless `--no-wait`, waits for it and prints its answer. A task
    /// that does not succeed, or that the user cancels, exits with a failure.
    async fn ask(&self, backend: &impl Orchestrator, fmt: Format) -> anyhow::Result<u8> {
        let started = backend.run(&self.into()).await?;
        if self.no_wait {
            print::view(&started, fmt, orch::render::started)?;
            return Ok(exit::OK);
        }
        let Some(done) = wait::for_task(backend, &started).await? else {
            return Ok(exit::FAILURE);
        };
        print::view(&done, fmt, orch::render::task)?;
        Ok(match done.into_result() {
            Ok(_) => exit::OK,
            Err(_) => exit::FAILURE,
        })
    }
}

impl Ask for Warm<'_> {
    /// Starts the workers at once (on the shared host the first start serves them all);
    /// prints where each one runs now. A worker that cannot start is reported on stderr
    /// and makes the command fail; the others still start.
    async fn ask(&self, backend: &impl Orchestrator, fmt: Format) -> anyhow::Result<u8> {
        let workers = if self.0.is_empty() {
            let view = backend.profiles().await?;
            let set = orch::tasks::warm_set(
                view.profiles
                    .iter()
                    .map(|p| (p.id.as_str(), p.warm, p.backend)),
            );
            if set.is_empty() {
                anyhow::bail!(
                    "no worker to warm: no profile says \"warm\": true and none runs in the shared OpenCode host; name the workers (orch warm docs coder) or give a profile \"warm\": true in orchestrator.json"
                );
            }
            set
        } else {
            self.0.to_vec()
        };
        let results =
            futures::future::join_all(workers.iter().map(|w| backend.warm(w.as_str()))).await;
        let mut view = WorkersView::default();
        let mut failed = false;
        for (worker, result) in workers.iter().zip(results) {
            match result {
                Ok(row) => view.workers.push(row),
                Err(e) => {
                    failed = true;
                    eprintln!("orch: cannot warm {worker}: {}", e.message);
                }
            }
        }
        if !view.workers.is_empty() || fmt == Format::Json {
            print::view(&view, fmt, orch::render::warmed)?;
        }
        Ok(if failed { exit::FAILURE } else { exit::OK })
    }
}

impl Ask for TasksArgs {
    /// With an id, one task in full (`--wait`: once it finished; a task that did not
    /// succeed then exits with a failure); else the list (with outputs in JSON).
    async fn ask(&self, backend: &impl Orchestrator, fmt: Format) -> anyhow::Result<u8> {
        let Some(id) = &self.id else {
            let mut q: TasksQuery = self.into();
            q.output = fmt == Format::Json;
            return show(&backend.tasks(&q).await?, fmt, orch::render::tasks);
        };
        let ids = [id.clone()];
        let row = loop {
            let timeout = if self.wait {
                TASK_WAIT_CHUNK
            } else {
                Duration::ZERO
            };
            let view = backend.await_tasks(&ids, timeout).await?;
            let Some(row) = view.tasks.into_iter().next() else {
                anyhow::bail!("unknown task {id}; `orch tasks` lists the tasks kept");
            };
            if !self.wait || row.status.is_finished() {
                break row;
            }
        };
        print::view(&row, fmt, orch::render::task)?;
        Ok(if self.wait && row.into_result().is_err() {
            exit::FAILURE
        } else {
            exit::OK
        })
    }
}

/// `orch tasks ID --wait` asks the backend to wait this long at a time.
const TASK_WAIT_CHUNK: Duration = Duration::from_secs(30);

impl Ask for Cancel<'_> {
    /// An id the backend does not know is a failure (the others are still cancelled).
    async fn ask(&self, backend: &impl Orchestrator, fmt: Format) -> anyhow::Result<u8> {
        let view = backend.cancel(self.0).await?;
        print::view(&view, fmt, orch::render::cancelled)?;
        let unknown = view
            .results
            .iter()
            .any(|r| r.outcome == CancelOutcome::NotFound);
        Ok(if unknown { exit::FAILURE } else { exit::OK })
    }
}

impl Ask for Health {
    async fn ask(&self, backend: &impl Orchestrator, fmt: Format) -> anyhow::Result<u8> {
        let view = if self.reset {
            backend.reset_health().await?
        } else {
            backend.health().await?
        };
        show(&view, fmt, orch::render::health)
    }
}

impl Ask for Status {
    async fn ask(&self, backend: &impl Orchestrator, fmt: Format) -> anyhow::Result<u8> {
        show(&backend.status().await?, fmt, orch::render::status)
    }
}
