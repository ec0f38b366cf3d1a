//! Faults injected into a running worker, shared by the fake and the real end-to-end tests.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::error::Error;
use crate::workers::{CancellationToken, RunRequest, WorkerService};

/// What killing a worker in the middle of its task did.
#[derive(Debug)]
pub struct Killed {
    /// The task's error.
    pub error: Error,
    /// How long the task took to fail after the kill.
    pub after: Duration,
    /// The pid that was killed.
    pub pid: u32,
}

/// Starts `req` in the background, waits for `in_flight` (the prompt has reached the model),
/// kills the worker's OpenCode with SIGKILL and returns how the task failed. Panics when the
/// worker has no pid or the task succeeds: tests only.
pub async fn kill_mid_task<W: WorkerService>(
    service: &Arc<W>,
    req: RunRequest,
    in_flight: impl Future<Output = ()>,
) -> Killed {
    let worker = req.worker.clone();
    let runner = Arc::clone(service);
    let handle = tokio::spawn(async move { runner.run(req, CancellationToken::new()).await });
    in_flight.await;
    let pid = service
        .workers()
        .await
        .workers
        .into_iter()
        .find(|w| w.id == worker)
        .and_then(|w| w.pid)
        .unwrap_or_else(|| panic!("no pid for worker {worker}"));
    let killed = Instant::now();
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap_or_else(|e| panic!("{e}"));
    let error = handle
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .err()
        .unwrap_or_else(|| panic!("the task of {worker} survived the kill"));
    Killed {
        error,
        after: killed.elapsed(),
        pid,
    }
}
