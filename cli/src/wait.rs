//! Waiting for a task: a spinner on stderr when it is a terminal, plain progress lines
//! otherwise; Ctrl-C cancels the task (and its OpenCode session) before leaving.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use orch::api::Orchestrator;
use orch::wire::TaskRow;

/// Each `task_await` call waits at most this long; then the wait goes on.
const AWAIT_CHUNK: Duration = Duration::from_secs(30);
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
    loop {
        let mut wait = std::pin::pin!(backend.await_tasks(&ids, AWAIT_CHUNK));
        let view = loop {
            tokio::select! {
                r = &mut wait => break r?,
                _ = tick.tick(), if spinner.on => spinner.draw(),
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
