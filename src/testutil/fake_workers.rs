//! A fake [`WorkerService`]: it keeps each worker's model the way the manager does
//! (set, reset, sticky overrides), answers tasks like a worker whose answering model is
//! the resolved one, records every call, and honours cancellation like a real session.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::lock;
use crate::error::{Error, ErrorKind};
use crate::knowledge::Knowledge;
use crate::profiles::Profile;
use crate::resolve::{Policy, Request, Resolution};
use crate::views;
use crate::workers::{
    CancellationToken, RunOutcome, RunRequest, SetModelRequest, WorkerRow, WorkerService,
    WorkerStatus, WorkersView,
};

/// Bytes of a task's text the fake records and echoes (as much as the registry keeps).
const HEAD_BYTES: usize = crate::tasks::MAX_KEPT_TASK_BYTES;

/// The length of the head of `text` the fake keeps: at most [`HEAD_BYTES`], on a
/// character boundary.
fn head_len(text: &str) -> usize {
    let mut end = text.len().min(HEAD_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    end
}

/// A call the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// `run`.
    Run(RunRequest),
    /// `set_model`.
    SetModel(SetModelRequest),
    /// `reset_model`.
    Reset(String),
    /// `shutdown`.
    Shutdown,
    /// `warm`.
    Warm(String),
}

#[derive(Debug, Default)]
struct State {
    overrides: BTreeMap<String, (String, Policy)>,
    answered: BTreeMap<String, String>,
    sessions: BTreeMap<String, String>,
    calls: Vec<Call>,
    aborted: Vec<String>,
    delay: Duration,
    hold: bool,
    next_session: u64,
    /// How long a worker without a session takes to start (its status `starting`).
    start_delay: Duration,
    /// Workers starting now.
    starting: std::collections::BTreeSet<String>,
}

/// The fake worker service (cheap to clone; clones share state).
#[derive(Debug, Clone)]
pub struct FakeWorkers {
    knowledge: Knowledge,
    state: Arc<Mutex<State>>,
    redactor: crate::redact::Redactor,
}

impl FakeWorkers {
    /// A fake over this knowledge, answering at once.
    pub fn new(knowledge: Knowledge) -> Self {
        Self {
            knowledge,
            state: Arc::new(Mutex::new(State::default())),
            redactor: crate::redact::Redactor::new(),
        }
    }

    /// The same fake, redacting with `redactor` (its answers echo the task text).
    pub fn with_redactor(mut self, redactor: crate::redact::Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Each task takes this long (cancellation still stops it at once).
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.state).delay = delay;
    }

    /// Tasks run until they are cancelled (or time out).
    pub fn set_hold(&self, hold: bool) {
        lock(&self.state).hold = hold;
    }

    /// A worker that has no session yet takes this long to start, showing `starting`
    /// meanwhile (as a worker whose OpenCode is being spawned does); its first task and
    /// `warm` wait for it.
    pub fn set_start_delay(&self, delay: Duration) {
        lock(&self.state).start_delay = delay;
    }

    /// Starts `worker` when it has no session: `starting` for the start delay. False when
    /// cancelled while starting.
    async fn start(&self, worker: &str, cancel: &CancellationToken) -> bool {
        let delay = {
            let mut st = lock(&self.state);
            if st.sessions.contains_key(worker) || st.start_delay.is_zero() {
                return true;
            }
            st.starting.insert(worker.to_owned());
            st.start_delay
        };
        let started = tokio::select! {
            () = tokio::time::sleep(delay) => true,
            () = cancel.cancelled() => false,
        };
        lock(&self.state).starting.remove(worker);
        started
    }

    /// A new session for `worker`.
    fn new_session(st: &mut State, worker: &str) -> String {
        st.next_session += 1;
        let session = format!("ses_fake_{}", st.next_session);
        st.sessions.insert(worker.to_owned(), session.clone());
        session
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.state).calls.clone()
    }

    /// Sessions aborted because their task was cancelled.
    pub fn aborted(&self) -> Vec<String> {
        lock(&self.state).aborted.clone()
    }

    fn profile(&self, id: &str) -> Result<&Profile, Error> {
        self.knowledge.profile(id)
    }

    fn resolve(&self, p: &Profile, reference: &str, policy: Policy) -> Result<Resolution, Error> {
        Ok(self.knowledge.resolver.resolve(
            &Request::new(reference)
                .for_worker(Some(p))
                .with_policy(policy),
        )?)
    }

    /// The worker's reference, policy and resolution now.
    fn current(
        &self,
        p: &Profile,
        st: &State,
    ) -> (String, Policy, bool, Result<Resolution, Error>) {
        match st.overrides.get(&p.id) {
            Some((r, policy)) => (r.clone(), *policy, true, self.resolve(p, r, *policy)),
            None => (
                p.model.display(),
                Policy::default(),
                false,
                self.knowledge
                    .resolver
                    .resolve_profile(p, Policy::default())
                    .map_err(Error::from),
            ),
        }
    }

    fn row(&self, p: &Profile, st: &State) -> WorkerRow {
        let (model_ref, policy, overridden, res) = self.current(p, st);
        let resolved = match res {
            Ok(r) => (Some(r.resolved_model), r.reason),
            Err(e) => (None, e.message),
        };
        let session_id = st.sessions.get(&p.id).cloned();
        WorkerRow {
            status: if st.starting.contains(&p.id) {
                WorkerStatus::Starting
            } else if session_id.is_some() {
                WorkerStatus::Ready
            } else {
                WorkerStatus::Idle
            },
            answered_by: st.answered.get(&p.id).cloned(),
            session_id,
            ..views::worker_row(p, model_ref, policy, overridden, resolved)
        }
    }
}

impl WorkerService for FakeWorkers {
    fn redactor(&self) -> crate::redact::Redactor {
        self.redactor.clone()
    }

    async fn run(&self, req: RunRequest, cancel: CancellationToken) -> Result<RunOutcome, Error> {
        let (p, reference, resolution, delay, hold) = {
            let mut st = lock(&self.state);
            // Only the head of a task is recorded and echoed, as the registry keeps it, so a
            // load test measures the backend, not the fake.
            let recorded = RunRequest {
                task: req.task[..head_len(&req.task)].to_owned(),
                ..req.clone()
            };
            st.calls.push(Call::Run(recorded));
            let p = self.profile(&req.worker)?;
            let (reference, resolution) = match &req.model {
                Some(m) => {
                    let policy = req.policy.unwrap_or_default();
                    (m.clone(), self.resolve(p, m, policy)?)
                }
                None => {
                    let (r, _, _, res) = self.current(p, &st);
                    (r, res?)
                }
            };
            if req.model.is_some() && req.policy == Some(Policy::Sticky) {
                st.overrides
                    .insert(p.id.clone(), (reference.clone(), Policy::Sticky));
            }
            (p, reference, resolution, st.delay, st.hold)
        };
        // A worker that runs reuses its session's start; each task gets a session anew.
        if !self.start(&p.id, &cancel).await {
            return Err(Error::new(
                ErrorKind::Failed,
                "the task was cancelled while its worker was starting",
            ));
        }
        let session = Self::new_session(&mut lock(&self.state), &p.id);
        let wait = async {
            if hold {
                std::future::pending::<()>().await;
            } else {
                tokio::time::sleep(delay).await;
            }
        };
        tokio::select! {
            () = wait => {}
            () = cancel.cancelled() => {
                lock(&self.state).aborted.push(session);
                return Err(Error::new(ErrorKind::Failed, "the task was cancelled; its session was aborted"));
            }
        }
        let answered = resolution.resolved_model.clone();
        lock(&self.state)
            .answered
            .insert(p.id.clone(), answered.clone());
        Ok(RunOutcome {
            worker: p.id.clone(),
            requested_ref: reference,
            output: format!(
                "fake answer from {answered}: {}",
                &req.task[..head_len(&req.task)]
            ),
            answered_by: Some(answered),
            resolution,
            session_id: session,
            attempts: Vec::new(),
            usage: None,
        })
    }

    async fn set_model(&self, req: SetModelRequest) -> Result<WorkerRow, Error> {
        let mut st = lock(&self.state);
        st.calls.push(Call::SetModel(req.clone()));
        let p = self.profile(&req.worker)?;
        self.resolve(p, &req.model, req.policy)?;
        st.overrides
            .insert(p.id.clone(), (req.model.clone(), req.policy));
        Ok(self.row(p, &st))
    }

    async fn reset_model(&self, worker: &str) -> Result<WorkerRow, Error> {
        let mut st = lock(&self.state);
        st.calls.push(Call::Reset(worker.to_owned()));
        let p = self.profile(worker)?;
        st.overrides.remove(&p.id);
        Ok(self.row(p, &st))
    }

    async fn warm(&self, worker: &str) -> Result<WorkerRow, Error> {
        lock(&self.state).calls.push(Call::Warm(worker.to_owned()));
        self.profile(worker)?;
        self.start(worker, &CancellationToken::new()).await;
        let mut st = lock(&self.state);
        if !st.sessions.contains_key(worker) {
            Self::new_session(&mut st, worker);
        }
        Ok(self.row(self.profile(worker)?, &st))
    }

    async fn workers(&self) -> WorkersView {
        let st = lock(&self.state);
        WorkersView {
            workers: self
                .knowledge
                .profiles
                .list
                .iter()
                .map(|p| self.row(p, &st))
                .collect(),
            ..WorkersView::default()
        }
    }

    fn knowledge(&self) -> Knowledge {
        self.knowledge.clone()
    }

    async fn shutdown(&self) {
        lock(&self.state).calls.push(Call::Shutdown);
    }
}
