//! Waiting for a task: a spinner on stderr when it is a terminal, plain progress lines
//! otherwise; Ctrl-C cancels the task (and its OpenCode session) before leaving.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use orch::api::Orchestrator;
use orch::wire::{TaskRow, WorkerStatus};

/// Each `task_await` call waits at most this long; then the wait goes on.
const AWAIT_CHUNK: Duration = Duration::from_secs(30);
/// How often the worker is looked at while its OpenCode may be starting.
const START_POLL: Duration = Duration::from_millis(250);
/// The worker is looked at no longer than this (a start that takes longer fails the task).
const START_WATCH: Duration = Duration::from_secs(120);
const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

struct Spinner {
    on: bool,
    frame: usize,
    since: Instant,
    what: String,
}

impl Spinner {
    fn draw(&mut self) {
        if !self.on {
            return;
        }
        self.frame = (self.frame + 1) % FRAMES.len();
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{} {} ({:.0} s)",
            FRAMES[self.frame],
            self.what,
            self.since.elapsed().as_secs_f64()
        );
        let _ = err.flush();
    }

    fn clear(&self) {
        if self.on {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

/// Watches the task's worker while its OpenCode may be starting, for the notice of what
/// the task waits for (`starting the shared OpenCode host…`).
struct StartWatch<'a> {
    worker: &'a str,
    /// The notice shown now.
    shown: Option<String>,
    /// The worker was seen running (ready, busy): no need to look again.
    done: bool,
}

impl<'a> StartWatch<'a> {
    fn new(worker: &'a str) -> Self {
        Self {
            worker,
            shown: None,
            done: false,
        }
    }

    fn watching(&self, since: Instant) -> bool {
        !self.done && since.elapsed() < START_WATCH
    }

    /// Looks at the worker; `Some` when what to show changed (`Some(None)`: the start is
    /// over, clear the notice).
    async fn look(&mut self, backend: &impl Orchestrator) -> Option<Option<String>> {
        let Some(row) = backend.workers().await.ok()?.into_row(self.worker) else {
            self.done = true;
            return None;
        };
        let notice = orch::render::start_notice(&row);
        // Idle (or failed, or stopped): the task has not reached its worker yet, which may
        // still have to start; keep looking until it runs.
        self.done = matches!(row.status, WorkerStatus::Ready | WorkerStatus::Busy);
        if notice == self.shown {
            return None;
        }
        self.shown.clone_from(&notice);
        Some(notice)
    }
}

/// Waits until the task finishes; `None` when the user cancelled it.
pub async fn for_task(
    backend: &impl Orchestrator,
    started: &TaskRow,
) -> anyhow::Result<Option<TaskRow>> {
    let ids = [started.id.clone()];
    let worker = started.worker.as_deref().unwrap_or("?");
    let model = started
        .resolved_model
        .as_deref()
        .or(started.requested_ref.as_deref())
        .unwrap_or("its model");
    let what = format!("task {} on {worker} ({model})", started.id);
    let mut spinner = Spinner {
        on: std::io::stderr().is_terminal(),
        frame: 0,
        since: Instant::now(),
        what: what.clone(),
    };
    if !spinner.on {
        eprintln!("orch: waiting for {what}");
    }
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut start = StartWatch::new(worker);
    let mut poll = tokio::time::interval(START_POLL);
    loop {
        let mut wait = std::pin::pin!(backend.await_tasks(&ids, AWAIT_CHUNK));
        let view = loop {
            tokio::select! {
                r = &mut wait => break r?,
                _ = tick.tick(), if spinner.on => spinner.draw(),
                _ = poll.tick(), if start.watching(spinner.since) => {
                    if let Some(notice) = start.look(backend).await {
                        match notice {
                            Some(n) if spinner.on => spinner.what = format!("{what} · {n}"),
                            Some(n) => eprintln!("orch: {what} is waiting: {n}"),
                            None => spinner.what = what.clone(),
                        }
                    }
                }
                _ = &mut ctrl_c => {
                    spinner.clear();
                    backend.cancel(&ids).await?;
                    eprintln!("orch: cancelled {what}");
                    return Ok(None);
                }
            }
        };
        if let Some(row) = view.tasks.into_iter().next()
            && row.status.is_finished()
        {
            spinner.clear();
            return Ok(Some(row));
        }
        if !spinner.on {
            eprintln!(
                "orch: {what} still running after {:.0} s",
                spinner.since.elapsed().as_secs_f64()
            );
        }
    }
}
