//! The probe: a tiny task on a worker's current model that shows which model really
//! answers. The TUI talks to orch through [`orch::api::Orchestrator`]; this is the one thing
//! it asks that is not a single call: start a task, then wait for its result.

use std::time::Duration;

use orch::Error;
use orch::api::{Orchestrator, finish};
use orch::wire::RunRequest;

/// What a probe found: the model asked for and the one that really answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The model the task was sent with.
    pub resolved_model: String,
    /// The model OpenCode says answered.
    pub answered_by: Option<String>,
    /// The answer's text.
    pub output: String,
    /// How the task fell back to another model (`fell back from X to Y (429)`), when it did.
    pub fallback: Option<String>,
    /// The task's tokens, cost and time (issue 12), when OpenCode reported them.
    pub usage: Option<orch::usage::Usage>,
    /// Every model tried, with the answering one's usage, when the task fell back (empty
    /// otherwise).
    pub attempts: Vec<orch::wire::Attempt>,
}

/// The task the probe sends: short, so the answer is quick and shows who answered.
pub const PROBE_TASK: &str =
    "orch probe: reply with one short sentence that names the model you are.";

/// How long a probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(120);

/// Where a running probe leaves its task's id, so that cancelling it can cancel the task
/// in the backend too.
pub type ProbeTask = std::sync::Arc<std::sync::Mutex<Option<String>>>;

/// The error a cancelled probe ends with.
pub fn cancelled() -> Error {
    Error::new(orch::error::ErrorKind::Failed, "the probe was cancelled")
}

/// Runs [`PROBE_TASK`] on the worker's current model and waits for it.
pub async fn probe(o: &impl Orchestrator, worker: String) -> Result<Probe, Error> {
    probe_into(o, worker, &ProbeTask::default()).await
}

/// [`probe`], leaving the task's id in `task` once it started.
pub async fn probe_into(
    o: &impl Orchestrator,
    worker: String,
    task: &ProbeTask,
) -> Result<Probe, Error> {
    let req = RunRequest {
        worker,
        task: PROBE_TASK.into(),
        auto_spawn: true,
        timeout: Some(PROBE_TIMEOUT),
        ..RunRequest::default()
    };
    let started = o.run(&req).await?;
    if let Ok(mut slot) = task.lock() {
        *slot = Some(started.id.clone());
    }
    let task = finish(o, &started, PROBE_TIMEOUT).await?;
    Ok(Probe {
        fallback: orch::wire::Attempt::hops(&task.attempts),
        usage: task.usage,
        attempts: if task.attempts.len() > 1 {
            task.attempts
        } else {
            Vec::new()
        },
        resolved_model: task.resolved_model.unwrap_or_default(),
        answered_by: task.answered_by,
        output: task.output.unwrap_or_default(),
    })
}
