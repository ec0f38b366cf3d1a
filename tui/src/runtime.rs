//! The loop: draws the model, waits for the next message (a key, a tick, a backend
//! result), updates, and runs the commands `update` returns on tokio tasks whose results
//! come back on the same channel. It is generic over ratatui's backend, so tests drive it
//! with a `TestBackend`.

use std::sync::Arc;
use std::time::Duration;

use orch::api::Orchestrator;
use orch::wire::{ModelsQuery, ResolveQuery, Scope};
use ratatui::Terminal;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::action::{Cmd, Msg};
use crate::app::Model;
use crate::backend::{ProbeTask, cancelled, probe_into};
use crate::update::{init, update};
use crate::view::view;

/// The model, the backend, and the channel between them.
pub struct App<B: Orchestrator> {
    /// The state (public so tests can look at it).
    pub model: Model,
    backend: Arc<B>,
    tx: UnboundedSender<Msg>,
    rx: UnboundedReceiver<Msg>,
    pending: usize,
    /// The running probe: its tokio task and where its backend task's id lands.
    probe: Option<(tokio::task::AbortHandle, ProbeTask)>,
    /// The cancel of the probe's backend task, while it runs.
    cancelling: Option<tokio::task::JoinHandle<()>>,
}

/// Whether a message is the result of a [`Cmd`].
fn is_result(msg: &Msg) -> bool {
    matches!(
        msg,
        Msg::Workers(_)
            | Msg::Profiles(_)
            | Msg::Models(_)
            | Msg::Tags { .. }
            | Msg::Preview { .. }
            | Msg::Applied(_)
            | Msg::ResetDone(_)
            | Msg::Probed { .. }
            | Msg::TaskFailed(_)
    )
}

impl<B: Orchestrator + 'static> App<B> {
    /// A new app over `backend`; call [`App::start`] to load.
    pub fn new(backend: Arc<B>) -> Self {
        let (tx, rx) = unbounded_channel();
        Self {
            model: Model::new(),
            backend,
            tx,
            rx,
            pending: 0,
            probe: None,
            cancelling: None,
        }
    }

    /// Asks for the workers, profiles and models.
    pub fn start(&mut self) {
        self.perform(init());
    }

    /// A sender into the loop (for the input task).
    pub fn sender(&self) -> UnboundedSender<Msg> {
        self.tx.clone()
    }

    /// How many backend calls are still running.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Updates the model with one message and starts the commands it asks for.
    pub fn handle(&mut self, msg: Msg) {
        if is_result(&msg) {
            self.pending = self.pending.saturating_sub(1);
        }
        if matches!(msg, Msg::Probed { .. }) {
            self.probe = None;
        }
        if let Some(cmd) = update(&mut self.model, msg) {
            self.perform(cmd);
        }
    }

    fn perform(&mut self, cmd: Cmd) {
        if let Cmd::Batch(cmds) = cmd {
            for c in cmds {
                self.perform(c);
            }
            return;
        }
        if cmd == Cmd::CancelProbe {
            self.cancelling = self.cancel_probe();
            return;
        }
        self.pending += 1;
        let backend = Arc::clone(&self.backend);
        let tx = self.tx.clone();
        let probed = match &cmd {
            Cmd::Probe(worker) => Some(worker.clone()),
            _ => None,
        };
        let task = ProbeTask::default();
        let slot = Arc::clone(&task);
        let work = tokio::spawn(async move {
            match cmd {
                Cmd::Probe(worker) => Msg::Probed {
                    result: probe_into(&*backend, worker.clone(), &slot).await,
                    worker,
                },
                cmd => execute(&*backend, cmd).await,
            }
        });
        if probed.is_some() {
            self.probe = Some((work.abort_handle(), task));
        }
        tokio::spawn(async move {
            let msg = match (work.await, probed) {
                (Ok(msg), _) => msg,
                // A cancelled probe ends as one.
                (Err(e), Some(worker)) if e.is_cancelled() => Msg::Probed {
                    worker,
                    result: Err(cancelled()),
                },
                (Err(e), _) => Msg::TaskFailed(format!("a background task failed: {e}")),
            };
            let _ = tx.send(msg);
        });
    }

    /// Stops the running probe: aborts its tokio task and cancels its task in the backend
    /// (on a task of its own, so the loop does not wait).
    fn cancel_probe(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        let (abort, task) = self.probe.take()?;
        abort.abort();
        let id = task.lock().ok().and_then(|mut t| t.take())?;
        let backend = Arc::clone(&self.backend);
        Some(tokio::spawn(async move {
            if let Err(e) = backend.cancel(&[id]).await {
                tracing::warn!("cancelling the probe's task failed: {}", e.message);
            }
        }))
    }

    /// Stops what the TUI started that outlives it (a running probe and its backend task),
    /// waiting up to 5 s for the backend to confirm. [`App::run`] calls it on the way out.
    pub async fn shutdown(&mut self) {
        if let Some(cancel) = self.cancel_probe().or_else(|| self.cancelling.take()) {
            let _ = tokio::time::timeout(Duration::from_secs(5), cancel).await;
        }
    }

    /// Handles messages until no backend call runs (or `limit` passes); `false` on timeout.
    /// Tests use it to wait for the backend between keys.
    pub async fn settle(&mut self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.pending > 0 {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(msg)) => self.handle(msg),
                Ok(None) | Err(_) => return false,
            }
        }
        true
    }

    /// Draws the model.
    pub fn draw<T: ratatui::backend::Backend>(
        &self,
        terminal: &mut Terminal<T>,
    ) -> Result<(), T::Error> {
        terminal.draw(|f| view(&self.model, f)).map(|_| ())
    }

    /// Runs until the user quits: draw, wait for a message, update, repeat. Messages that
    /// queue up while drawing are all handled before the next frame.
    pub async fn run<T: ratatui::backend::Backend>(
        &mut self,
        terminal: &mut Terminal<T>,
    ) -> Result<(), T::Error> {
        let size = terminal.size()?;
        self.handle(Msg::Resize(size.width, size.height));
        self.draw(terminal)?;
        while !self.model.quit {
            let Some(msg) = self.rx.recv().await else {
                break;
            };
            let mut redraw = !matches!(msg, Msg::Tick) || self.model.busy.is_some();
            self.handle(msg);
            while !self.model.quit {
                let Ok(msg) = self.rx.try_recv() else { break };
                redraw |= !matches!(msg, Msg::Tick) || self.model.busy.is_some();
                self.handle(msg);
            }
            if redraw && !self.model.quit {
                self.draw(terminal)?;
            }
        }
        self.shutdown().await;
        Ok(())
    }
}

/// Runs one command against the backend; every command ends in exactly one message.
async fn execute<B: Orchestrator>(b: &B, cmd: Cmd) -> Msg {
    match cmd {
        Cmd::Workers => Msg::Workers(b.workers().await),
        Cmd::Profiles => Msg::Profiles(b.profiles().await),
        Cmd::Models => Msg::Models(
            b.models(&ModelsQuery {
                scope: Scope::All,
                ..ModelsQuery::default()
            })
            .await,
        ),
        Cmd::Tags { worker } => Msg::Tags {
            result: b.tag_previews(&worker).await,
            worker,
        },
        Cmd::Preview {
            worker,
            reference,
            policy,
        } => {
            let q = ResolveQuery {
                reference: reference.clone(),
                worker: Some(worker),
                policy,
            };
            Msg::Preview {
                result: b.resolve(&q).await,
                reference,
            }
        }
        Cmd::Apply(req) => Msg::Applied(b.set_model(&req).await),
        Cmd::Reset(worker) => Msg::ResetDone(b.reset_model(&worker).await),
        Cmd::Probe(worker) => Msg::Probed {
            result: probe_into(b, worker.clone(), &ProbeTask::default()).await,
            worker,
        },
        Cmd::CancelProbe => Msg::TaskFailed("a probe cancel reached a task".into()),
        // `perform` runs a batch's commands one by one; a batch never reaches here.
        Cmd::Batch(_) => Msg::TaskFailed("a nested command batch".into()),
    }
}
