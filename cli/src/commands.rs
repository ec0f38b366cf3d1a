//! The commands the backend answers: one [`Ask`] implementation each, generic over the
//! backend, so the same code runs over the socket and in-process (`--opencode-url`).

use orch::api::Orchestrator;
use orch::wire::{CancelOutcome, Format};
use serde::Serialize;

use crate::args::{ModelsArgs, ResolveArgs, RunArgs, SetArgs, TasksArgs};
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

shows! {
    ModelsArgs => |c, b| b.models(&c.into()), orch::render::models;
    ResolveArgs => |c, b| b.resolve(&c.into()), orch::render::resolve;
    Profiles => |_c, b| b.profiles(), orch::render::profiles;
    Workers => |_c, b| b.workers(), orch::render::workers;
    SetArgs => |c, b| b.set_model(&c.into()), orch::render::worker;
    Reset<'_> => |c, b| b.reset_model(c.0), orch::render::worker;
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

impl Ask for TasksArgs {
    async fn ask(&self, backend: &impl Orchestrator, fmt: Format) -> anyhow::Result<u8> {
        show(
            &backend.tasks(&self.into()).await?,
            fmt,
            orch::render::tasks,
        )
    }
}

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
