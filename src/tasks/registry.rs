//! The task registry: ids, records, background execution, waiting and cancelling.
//!
//! `start` validates, records the task as queued and returns at once; the work runs on a
//! tokio task through [`WorkerService`]. Records are bounded: at most
//! [`Limits::max_active`] tasks run at once, and only the newest
//! [`Limits::finished_capacity`] finished tasks are kept (the oldest are forgotten first).
//! A row keeps only the first [`MAX_KEPT_TASK_BYTES`] of its task text (and says so in
//! `task_truncated`): the whole text goes once to the worker service, never into the records,
//! so what the registry holds does not grow with the size of the tasks it is given.
//!
//! With a [`TaskStore`] (`orch serve`), each state change of a task is also written to disk,
//! ids come from the store's counter, and peeks and lists read the store for the tasks this
//! process does not hold (finished long ago, or run by an earlier or another backend of the
//! project).

use std::collections::{BTreeMap, VecDeque};
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

use super::request::{StartRequest, Work};
use super::store::TaskStore;
use crate::budget::{self, Budget, BudgetStatus, Decision, Spending, WorkerBudgets};
use crate::clock::{Clock, SystemClock};
use crate::error::{Error, ErrorKind};
use crate::profiles::ModelSpec;
use crate::redact::Redactor;
use crate::resolve::{Policy, Resolution};
use crate::wire::{
    AwaitView, CancelOutcome, CancelRow, CancelView, TaskKind, TaskRow, TaskStatus, TasksQuery,
    TasksView, WorkersView,
};
use crate::workers::{CancellationToken, RunOutcome, WorkerRow, WorkerService, attachment};

/// Bounds on what the registry keeps and how long work may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Finished tasks kept; older ones are forgotten first.
    pub finished_capacity: usize,
    /// Tasks queued or running at once; more are refused.
    pub max_active: usize,
    /// Bytes of a task's output kept (the rest is cut, and the row says so).
    pub max_output_bytes: usize,
    /// How long a cancelled or timed-out task gets to abort its OpenCode session.
    pub cancel_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            finished_capacity: 1000,
            max_active: 256,
            max_output_bytes: 256 * 1024,
            cancel_grace: Duration::from_secs(10),
        }
    }
}

/// Characters of the task text shown in lists.
const LIST_TASK_CHARS: usize = 200;

/// Bytes of outputs a list carries at most (`TasksQuery::output`); the rows past it carry
/// none and the view counts them in `outputs_omitted`.
pub const LIST_OUTPUT_BYTES: usize = 1024 * 1024;

/// Bytes of a task's text kept in its row (queued, running and finished); the whole text is
/// handed to the worker service only. 1,500 finished tasks of 1 MiB held 1 GB before this.
pub const MAX_KEPT_TASK_BYTES: usize = 4 * 1024;

struct Entry {
    row: TaskRow,
    cancel: CancellationToken,
}

#[derive(Default)]
struct State {
    entries: BTreeMap<u64, Entry>,
    finished: VecDeque<u64>,
    active: usize,
    last_id: u64,
    /// Finished tasks whose record is being written: an await returns them only once the
    /// record is on disk, so whatever the caller asks next (`orch usage`, a budget) sees it.
    saving: std::collections::BTreeSet<u64>,
}

struct Inner<W> {
    workers: Arc<W>,
    /// Every finished row passes through it before it is stored.
    redactor: Redactor,
    limits: Limits,
    state: Mutex<State>,
    changed: Notify,
    /// Held while a row is written to the store, so the last write is the newest state.
    saving: Mutex<()>,
    /// Where records outlive the backend (none in process: `--opencode-url`, tests).
    store: Option<TaskStore>,
}

/// The task registry, shared by every connection (cheap to clone).
pub struct Tasks<W> {
    inner: Arc<Inner<W>>,
}

impl<W> Clone for Tasks<W> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<W> std::fmt::Debug for Tasks<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tasks")
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

/// A task held in memory as the usage sums see it (`None` without a usage).
fn memory_entry(r: &TaskRow) -> Option<crate::usage::Entry<'_>> {
    Some(crate::usage::Entry {
        worker: r.worker.as_deref().unwrap_or("-"),
        model: crate::usage::counted_model(r.answered_by.as_deref(), r.resolved_model.as_deref()),
        at_ms: r.finished_at_ms.unwrap_or(r.created_at_ms),
        usage: r.usage.as_ref()?,
    })
}

/// Unix milliseconds now (the system clock's).
pub(crate) fn now_ms() -> u64 {
    SystemClock.now_ms()
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn task_id(n: u64) -> String {
    format!("t{n}")
}

fn parse_id(id: &str) -> Option<u64> {
    id.trim().strip_prefix('t')?.parse().ok()
}

/// Cuts `text` to at most `max` bytes on a character boundary, and gives back the memory
/// of the rest (`truncate` alone keeps it).
fn cut(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.shrink_to_fit();
    true
}

/// The first `max` bytes of `text` (cut on a character boundary), and whether it was cut.
fn prefix(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        return (text, false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

fn preview(text: &str) -> String {
    match text.char_indices().nth(LIST_TASK_CHARS) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

impl<W: WorkerService> Tasks<W> {
    /// A registry running work through `workers`, its records in memory only.
    pub fn new(workers: Arc<W>, limits: Limits) -> Self {
        Self::build(workers, limits, None)
    }

    /// A registry whose records are also kept in `store`, so they outlive this process;
    /// the tasks that were running when an earlier backend died are marked `lost` now.
    /// The records are read on a thread of their own, so a backend with many of them
    /// answers at once (every view reads and marks them first anyway, and usage totals
    /// meanwhile come from the store's usage index).
    pub fn with_store(workers: Arc<W>, limits: Limits, store: TaskStore) -> Self {
        let tasks = Self::build(workers, limits, Some(store));
        let reader = tasks.clone();
        let read = move || {
            if let Some(store) = reader.store()
                && let Err(e) = store.records()
            {
                tracing::warn!("cannot read the task records: {}", error_chain(&e));
            }
        };
        if let Err(e) = std::thread::Builder::new()
            .name("orch-task-records".to_owned())
            .spawn(read)
        {
            tracing::warn!("task records not read ahead: {e}");
        }
        tasks
    }

    fn build(workers: Arc<W>, limits: Limits, store: Option<TaskStore>) -> Self {
        Self {
            inner: Arc::new(Inner {
                redactor: workers.redactor(),
                workers,
                limits,
                state: Mutex::new(State::default()),
                changed: Notify::new(),
                saving: Mutex::new(()),
                store,
            }),
        }
    }

    /// The durable store, when there is one.
    pub fn store(&self) -> Option<&TaskStore> {
        self.inner.store.as_ref()
    }

    /// The worker service.
    pub fn workers(&self) -> &Arc<W> {
        &self.inner.workers
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// Validates a request, records it and starts it in the background; returns the
    /// queued task at once. Must be called inside a tokio runtime.
    ///
    /// Errors that the caller can fix (an unknown worker, a reference that does not
    /// resolve, an empty task) come back here, before any task exists.
    pub async fn start(&self, req: StartRequest) -> Result<TaskRow, Error> {
        // A spent budget refuses the task here, or moves it to the cheapest model that fits.
        let (req, budget_note) = self.check_budget(req)?;
        let (mut row, resolution) = self.prepare(&req).await?;
        if let Some(note) = &budget_note {
            row.reason = Some(with_note(note, row.reason.as_deref()));
        }
        let cancel = CancellationToken::new();
        // A durable id first (ids never repeat across restarts); without a store, the
        // registry counts.
        let durable = match &self.inner.store {
            Some(store) => Some(store.next_id().map_err(|e| {
                Error::new(
                    ErrorKind::Unavailable,
                    format!("cannot record the task: {}", error_chain(&e)),
                )
            })?),
            None => None,
        };
        let id = {
            let mut st = lock(&self.inner.state);
            if st.active >= self.inner.limits.max_active {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "{} tasks are already queued or running (the limit); await or cancel some first",
                        st.active
                    ),
                ));
            }
            let id = durable.unwrap_or(st.last_id + 1);
            st.last_id = st.last_id.max(id);
            row.id = task_id(id);
            st.active += 1;
            st.entries.insert(
                id,
                Entry {
                    row: row.clone(),
                    cancel: cancel.clone(),
                },
            );
            id
        };
        self.inner.save(id);
        let inner = Arc::clone(&self.inner);
        tokio::spawn(run(inner, id, req.work, resolution, cancel, budget_note));
        Ok(row)
    }

    /// What the project and each worker spent in the current UTC day and month: from the
    /// store's records, else from the tasks held in memory.
    pub fn budget_spending(&self, now: u64) -> Result<Spending, Error> {
        // The tasks this backend holds are the newest word on themselves (a row is finished
        // in memory a moment before its record is written).
        // (Only the figures are copied, never a row's output.)
        let month_start = budget::Period::Month.window(now).0;
        let held: BTreeMap<u64, (String, u64, crate::usage::Usage)> = lock(&self.inner.state)
            .entries
            .iter()
            .filter(|(_, e)| e.row.status.is_finished())
            .filter_map(|(n, e)| {
                let at = e.row.finished_at_ms.unwrap_or(e.row.created_at_ms);
                let usage = e.row.usage.as_ref().filter(|_| at >= month_start)?;
                let worker = e.row.worker.clone().unwrap_or_else(|| "-".to_owned());
                Some((*n, (worker, at, usage.clone())))
            })
            .collect();
        let stored = match &self.inner.store {
            Some(store) => store.usage_since(month_start).map_err(|e| {
                Error::new(
                    ErrorKind::Failed,
                    format!("cannot read the task records: {}", error_chain(&e)),
                )
            })?,
            None => Vec::new(),
        };
        let stored = stored
            .iter()
            .filter(|(id, ..)| !held.contains_key(id))
            .map(|(_, w, at, u)| (w.as_str(), *at, u));
        let held = held.values().map(|(w, at, u)| (w.as_str(), *at, u));
        Ok(Spending::sum(stored.chain(held), now))
    }

    /// Applies the budgets to a new run task (issue 12): under every limit it goes as
    /// asked; over one whose policy is `refuse`, it is refused with an error naming the
    /// budget and when it resets; over ones that all say `downgrade`, it runs on the
    /// worker's cheapest fitting model (`node:cheap`), and the note saying so is returned
    /// for its reason. Tasks already running are never touched.
    fn check_budget(&self, mut req: StartRequest) -> Result<(StartRequest, Option<String>), Error> {
        let Work::Run(run) = &mut req.work else {
            return Ok((req, None));
        };
        let knowledge = self.inner.workers.knowledge();
        let Ok(profile) = knowledge.profile(&run.worker) else {
            // An unknown worker is `prepare`'s to refuse, with the known ones.
            return Ok((req, None));
        };
        let project = knowledge.profiles.budget.as_ref();
        let own = profile.budget.as_ref();
        if !project.is_some_and(Budget::has_limits) && !own.is_some_and(Budget::has_limits) {
            return Ok((req, None));
        }
        let spending = self.budget_spending(now_ms())?;
        let status = match budget::decide(project, own, &run.worker, &spending) {
            Decision::Go => return Ok((req, None)),
            Decision::Refuse(status) => {
                return Err(Error::new(
                    ErrorKind::Budget,
                    budget::refusal(&status, &run.worker, &spending),
                ));
            }
            Decision::Downgrade(status) => status,
        };
        let tokens = attachment::estimate_tokens(&run.task, &run.attachments);
        let refuse = |why: String| {
            Error::new(
                ErrorKind::Budget,
                format!(
                    "{}, and no model fits it to downgrade to: {why}",
                    budget::refusal_reason(&status, &run.worker, &spending)
                ),
            )
        };
        let cheap = knowledge
            .resolver
            .resolve_spec_for(
                &ModelSpec::One("node:cheap".into()),
                Some(profile),
                Policy::Dynamic,
                Some(tokens),
            )
            .map_err(|e| refuse(e.to_string()))?;
        // node:cheap honours the worker's needs (image input for a vision worker); checked
        // again here so a downgrade can never hand a vision task to a text-only model.
        knowledge
            .resolver
            .check_fit(&cheap, profile, Some(tokens))
            .map_err(|e| refuse(e.to_string()))?;
        let price = knowledge
            .resolver
            .find_model(&cheap.metadata.provider, &cheap.metadata.model)
            .map(|m| (m.cost.input, m.cost.output));
        let note = budget::downgrade_note(&status, &cheap.resolved_model, price);
        run.model = Some(cheap.resolved_model);
        run.policy = Some(Policy::Dynamic);
        Ok((req, Some(note)))
    }

    /// Every budget with what was spent against it now: the project's, and each worker's
    /// (with the project's policy as that worker sees it).
    pub fn budget_statuses(&self) -> Result<(Vec<BudgetStatus>, WorkerBudgets), Error> {
        let knowledge = self.inner.workers.knowledge();
        let project = knowledge.profiles.budget.as_ref();
        let any = project.is_some_and(Budget::has_limits)
            || knowledge
                .profiles
                .list
                .iter()
                .any(|p| p.budget.as_ref().is_some_and(Budget::has_limits));
        if !any {
            return Ok((Vec::new(), BTreeMap::new()));
        }
        let spending = self.budget_spending(now_ms())?;
        let project_rows = project.map_or_else(Vec::new, |p| {
            budget::statuses(
                p,
                None,
                &spending.project,
                budget::project_policy(Some(p), None),
                spending.now_ms,
            )
        });
        let workers = knowledge
            .profiles
            .list
            .iter()
            .map(|p| {
                (
                    p.id.clone(),
                    budget::all_statuses(project, p.budget.as_ref(), &p.id, &spending),
                )
            })
            .collect();
        Ok((project_rows, workers))
    }

    /// Fills the budget of each worker row (the limit nearest its end, the project's
    /// included) and the project's budgets, and adds a warning for each at 80 % or more.
    pub fn annotate_workers(&self, view: &mut WorkersView) {
        let (project, workers) = match self.budget_statuses() {
            Ok(s) => s,
            Err(e) => {
                view.warnings
                    .push(format!("budgets unknown: {}", e.message));
                return;
            }
        };
        for row in &mut view.workers {
            if let Some(all) = workers.get(&row.id) {
                row.budget = budget::worst(all).cloned();
            }
        }
        view.warnings.extend(budget_warnings(&project, &workers));
        view.budgets = project;
    }

    /// The warnings of every budget at 80 % or more (the status view's list).
    pub fn budget_warnings(&self) -> Vec<String> {
        match self.budget_statuses() {
            Ok((project, workers)) => budget_warnings(&project, &workers),
            Err(e) => vec![format!("budgets unknown: {}", e.message)],
        }
    }

    /// Checks the request against the profiles and the resolver, and builds the queued row;
    /// a model change's reference is resolved here, once, and its resolution passed on.
    async fn prepare(&self, req: &StartRequest) -> Result<(TaskRow, Option<Resolution>), Error> {
        if req.work == Work::ResetHealth {
            let mut row = TaskRow::queued(req.kind, "", req.work.op(), now_ms());
            row.worker = None;
            return Ok((row, None));
        }
        let knowledge = self.inner.workers.knowledge();
        let worker = req.work.worker();
        let profile = knowledge.profile(worker)?;
        let mut row = TaskRow {
            route: req.route.clone(),
            ..TaskRow::queued(req.kind, worker, req.work.op(), now_ms())
        };
        let mut early = |reference: &str, policy, tokens| -> Result<Resolution, Error> {
            // A reference or a chain (`a, b, c`): run-time fallback walks the chain.
            let r = knowledge.resolver.resolve_spec_for(
                &ModelSpec::parse(reference),
                Some(profile),
                policy,
                tokens,
            )?;
            row.requested_ref = Some(r.model_ref.clone());
            row.resolved_model = Some(r.resolved_model.clone());
            row.policy = Some(r.policy);
            row.reason = Some(r.reason.clone());
            Ok(r)
        };
        let mut resolution = None;
        match &req.work {
            Work::Run(run) => {
                if run.task.trim().is_empty() {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        "the task text is empty; say what the worker should do in \"task\"",
                    ));
                }
                match &run.model {
                    Some(m) => {
                        let tokens = attachment::estimate_tokens(&run.task, &run.attachments);
                        early(m, run.policy.unwrap_or_default(), Some(tokens))?;
                    }
                    None => {
                        let view = self.inner.workers.workers().await;
                        if let Some(w) = view.workers.iter().find(|w| w.id == worker) {
                            row.requested_ref = Some(w.model_ref.clone());
                            row.resolved_model = w.resolved_model.clone();
                            row.policy = Some(w.policy);
                            row.reason = Some(w.reason.clone());
                        }
                    }
                }
                let (kept, truncated) = prefix(&run.task, MAX_KEPT_TASK_BYTES);
                row.task = Some(kept.to_owned());
                row.task_truncated = truncated;
            }
            Work::SetModel(set) => {
                let r = early(&set.model, set.policy, None)?;
                // A model that does not fit the worker is refused, with the closest that
                // do, unless forced; the worker row then carries a warning.
                if !set.force {
                    knowledge.resolver.check_fit(&r, profile, None)?;
                }
                resolution = Some(r);
            }
            Work::ResetModel { .. } => {
                row.requested_ref = Some(profile.model.display());
            }
            Work::ResetHealth | Work::Warm { .. } => {}
        }
        Ok((row, resolution))
    }

    /// The tasks with these ids, with their output, without waiting.
    pub fn peek(&self, ids: &[String]) -> Result<Vec<TaskRow>, Error> {
        match self.peek_known(ids)? {
            (out, missing) if missing.is_empty() => Ok(out),
            (_, missing) => Err(unknown_tasks(&missing, &lock(&self.inner.state))),
        }
    }

    /// The tasks with these ids that orch knows, and the ids it does not; an error only
    /// when it knows none of them.
    pub fn peek_known(&self, ids: &[String]) -> Result<(Vec<TaskRow>, Vec<String>), Error> {
        let st = lock(&self.inner.state);
        let now = now_ms();
        let mut out = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for id in ids {
            match parse_id(id).and_then(|n| st.entries.get(&n)) {
                Some(e) => out.push(with_live_duration(e.row.clone(), now)),
                None => match parse_id(id).and_then(|n| self.stored(n)) {
                    Some(row) => out.push(row),
                    None => missing.push(id.clone()),
                },
            }
        }
        if out.is_empty() && !missing.is_empty() {
            return Err(unknown_tasks(&missing, &st));
        }
        Ok((out, missing))
    }

    /// Waits until every task (or, with `any`, one of them) has finished, or the timeout
    /// runs out; either way returns the tasks as they are then.
    pub async fn wait(
        &self,
        ids: &[String],
        timeout: Duration,
        any: bool,
    ) -> Result<AwaitView, Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut notified = pin!(self.inner.changed.notified());
            notified.as_mut().enable();
            let rows = self.peek(ids)?;
            let finished = {
                let st = lock(&self.inner.state);
                rows.iter()
                    .filter(|r| {
                        r.status.is_finished()
                            && !parse_id(&r.id).is_some_and(|n| st.saving.contains(&n))
                    })
                    .count()
            };
            let done = if any {
                finished > 0 || rows.is_empty()
            } else {
                finished == rows.len()
            };
            if done {
                return Ok(AwaitView {
                    tasks: rows,
                    timed_out: false,
                    unknown: Vec::new(),
                });
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(AwaitView {
                    tasks: self.peek(ids)?,
                    timed_out: true,
                    unknown: Vec::new(),
                });
            }
        }
    }

    /// Cancels tasks: a queued or running worker task stops and its OpenCode session is
    /// aborted; an operation already being applied finishes on its own.
    pub fn cancel(&self, ids: &[String]) -> CancelView {
        self.cancel_with(
            ids,
            "cancelled by a caller; its OpenCode session was aborted",
        )
    }

    /// Cancels every task still queued or running, recording `reason` as its error (the
    /// backend is stopping). Returns how many were cancelled.
    pub fn cancel_all(&self, reason: &str) -> usize {
        let ids: Vec<String> = lock(&self.inner.state)
            .entries
            .iter()
            .filter(|(_, e)| !e.row.status.is_finished())
            .map(|(n, _)| task_id(*n))
            .collect();
        self.cancel_with(&ids, reason)
            .results
            .iter()
            .filter(|r| r.outcome == CancelOutcome::Cancelled)
            .count()
    }

    fn cancel_with(&self, ids: &[String], reason: &str) -> CancelView {
        let mut results = Vec::with_capacity(ids.len());
        let mut changed = false;
        let mut cancelled = Vec::new();
        {
            let mut st = lock(&self.inner.state);
            let now = now_ms();
            for id in ids {
                let Some(n) = parse_id(id).filter(|n| st.entries.contains_key(n)) else {
                    results.push(CancelRow {
                        id: id.clone(),
                        outcome: CancelOutcome::NotFound,
                        status: None,
                    });
                    continue;
                };
                let (status, kind) = match st.entries.get(&n) {
                    Some(e) => (e.row.status, e.row.kind),
                    None => continue,
                };
                let outcome = if status.is_finished() {
                    CancelOutcome::AlreadyFinished
                } else if kind == TaskKind::Op && status == TaskStatus::Running {
                    CancelOutcome::NotCancellable
                } else {
                    if let Some(e) = st.entries.get(&n) {
                        e.cancel.cancel();
                    }
                    finish_locked(&mut st, &self.inner.limits, n, now, |row| {
                        row.status = TaskStatus::Cancelled;
                        row.error = Some(Error::new(ErrorKind::Failed, reason));
                    });
                    cancelled.push(n);
                    changed = true;
                    CancelOutcome::Cancelled
                };
                let status = st.entries.get(&n).map(|e| e.row.status);
                results.push(CancelRow {
                    id: task_id(n),
                    outcome,
                    status,
                });
            }
        }
        // The reason is durable: `orch tasks` shows it after a restart.
        for n in cancelled {
            self.inner.save(n);
            lock(&self.inner.state).saving.remove(&n);
        }
        if changed {
            self.inner.changed.notify_waiters();
        }
        CancelView { results }
    }

    /// A task this backend no longer holds, from the store (with its output).
    fn stored(&self, n: u64) -> Option<TaskRow> {
        let store = self.inner.store.as_ref()?;
        match store.task(n) {
            Ok(row) => row,
            Err(e) => {
                tracing::warn!("cannot read the task records: {}", error_chain(&e));
                None
            }
        }
    }

    /// Usage totals (`orch usage`, `task_list` view `usage`): with a store, from the
    /// project's task records (every backend, past and present); else from the tasks held
    /// in memory.
    pub fn usage(&self, by: crate::usage::By) -> Result<crate::usage::UsageView, Error> {
        self.usage_at(by, now_ms())
    }

    /// [`Self::usage`] with the windows (today, the last 7 days) of the UTC date of `now_ms`.
    pub fn usage_at(
        &self,
        by: crate::usage::By,
        now_ms: u64,
    ) -> Result<crate::usage::UsageView, Error> {
        let mut view = self.usage_totals(by)?;
        if by != crate::usage::By::Day {
            view.windows = Some(self.usage_windows(by, now_ms)?);
        }
        Ok(view)
    }

    /// Usage for today, the last 7 days and all time (UTC days of `now_ms`), per worker
    /// (or model) and for the project: the columns of the workers view and `orch usage`.
    pub fn usage_windows(
        &self,
        by: crate::usage::By,
        now_ms: u64,
    ) -> Result<crate::usage::UsageWindows, Error> {
        if let Some(store) = &self.inner.store {
            return store.usage_windows(by, now_ms).map_err(|e| {
                Error::new(
                    crate::error::ErrorKind::Failed,
                    format!("cannot read the task records: {}", error_chain(&e)),
                )
            });
        }
        let rows = self.rows_with_usage();
        Ok(crate::usage::windows(
            rows.iter().filter_map(memory_entry),
            by,
            now_ms,
        ))
    }

    /// Fills the workers view's usage: each worker's today / last 7 days / all time, and the
    /// project's. The records failing to read leaves them out (and says so in the log)
    /// rather than failing the view.
    pub fn add_usage(&self, view: &mut crate::wire::WorkersView, now_ms: u64) {
        match self.usage_windows(crate::usage::By::Worker, now_ms) {
            Ok(w) => {
                for row in &mut view.workers {
                    row.usage = w.of(&row.id).cloned();
                }
                view.usage = Some(w);
            }
            Err(e) => tracing::warn!("workers view without usage: {}", e.message),
        }
    }

    /// The tasks held in memory that have a usage.
    fn rows_with_usage(&self) -> Vec<TaskRow> {
        lock(&self.inner.state)
            .entries
            .values()
            .filter(|e| e.row.usage.is_some())
            .map(|e| e.row.clone())
            .collect()
    }

    fn usage_totals(&self, by: crate::usage::By) -> Result<crate::usage::UsageView, Error> {
        if let Some(store) = &self.inner.store {
            return store.usage_totals(by, None).map_err(|e| {
                Error::new(
                    crate::error::ErrorKind::Failed,
                    format!("cannot read the task records: {}", error_chain(&e)),
                )
            });
        }
        let rows: Vec<TaskRow> = lock(&self.inner.state)
            .entries
            .values()
            .filter(|e| e.row.usage.is_some())
            .map(|e| e.row.clone())
            .collect();
        Ok(crate::usage::totals(
            rows.iter().filter_map(memory_entry),
            by,
            None,
        ))
    }

    /// The tasks view: newest first; outputs only when `q.output` asks (up to
    /// [`LIST_OUTPUT_BYTES`] in all). With a store, the tasks of every backend of the
    /// project, past and present.
    pub fn list(&self, q: &TasksQuery) -> TasksView {
        /// A row of the list: held in memory, or a record whose details are read if shown.
        enum Item {
            Live(Box<TaskRow>),
            Stored(Box<super::store::TaskRecord>),
        }
        let records = match &self.inner.store {
            Some(store) => store.records().unwrap_or_else(|e| {
                tracing::warn!("cannot read the task records: {}", error_chain(&e));
                Vec::new()
            }),
            None => Vec::new(),
        };
        let (mut all, active): (BTreeMap<u64, Item>, usize) = {
            let st = lock(&self.inner.state);
            let now = now_ms();
            let mut all: BTreeMap<u64, Item> = records
                .into_iter()
                .map(|r| (r.id, Item::Stored(Box::new(r))))
                .collect();
            for (n, e) in &st.entries {
                all.insert(
                    *n,
                    Item::Live(Box::new(with_live_duration(e.row.clone(), now))),
                );
            }
            (all, st.active)
        };
        let wanted = |kind: TaskKind, status: TaskStatus| {
            (q.status.is_empty() || q.status.contains(&status)) && q.kind.admits(kind)
        };
        let mut total = 0;
        let mut tasks = Vec::new();
        let limit = q.limit.unwrap_or(usize::MAX);
        let mut output_budget = LIST_OUTPUT_BYTES;
        let mut outputs_omitted = 0;
        let active_elsewhere = all
            .values()
            .filter(|i| matches!(i, Item::Stored(r) if !r.status.is_finished()))
            .count();
        while let Some((n, item)) = all.pop_last() {
            let (kind, status) = match &item {
                Item::Live(row) => (row.kind, row.status),
                Item::Stored(r) => (r.kind, r.status),
            };
            if !wanted(kind, status) {
                continue;
            }
            total += 1;
            if tasks.len() >= limit {
                continue;
            }
            let (mut row, stored_output) = match item {
                Item::Live(row) => (*row, None),
                Item::Stored(r) => {
                    let store = self.inner.store.as_ref();
                    let row = store.map_or_else(|| r.row(), |s| s.with_details(&r));
                    let output = if q.output {
                        store.and_then(|s| s.output(n))
                    } else {
                        None
                    };
                    (row, output)
                }
            };
            let output = stored_output.or_else(|| row.output.take());
            row.output = match output {
                Some(text) if q.output && text.len() <= output_budget => {
                    output_budget -= text.len();
                    Some(text)
                }
                Some(_) if q.output => {
                    outputs_omitted += 1;
                    None
                }
                _ => None,
            };
            row.task = row.task.as_deref().map(preview);
            tasks.push(row);
        }
        TasksView {
            tasks,
            total,
            active: active + active_elsewhere,
            capacity: self.capacity(),
            outputs_omitted,
        }
    }

    /// Finished tasks kept at most: the store's bound, else the registry's.
    pub fn capacity(&self) -> usize {
        self.inner
            .store
            .as_ref()
            .map_or(self.inner.limits.finished_capacity, |s| {
                s.limits().max_records
            })
    }

    /// Tasks queued or running, and tasks kept in total (with a store, on disk).
    pub fn counts(&self) -> (usize, usize) {
        let (active, in_memory) = {
            let st = lock(&self.inner.state);
            (st.active, st.entries.len())
        };
        let kept = match &self.inner.store {
            Some(store) => store
                .visit(|records| records.count())
                .map_or(in_memory, |n| n.max(in_memory)),
            None => in_memory,
        };
        (active, kept)
    }
}

/// A warning per budget at 80 % or more: the project's once, then each worker's own.
fn budget_warnings(project: &[BudgetStatus], workers: &WorkerBudgets) -> Vec<String> {
    project
        .iter()
        .chain(workers.values().flatten().filter(|s| s.worker.is_some()))
        .filter_map(BudgetStatus::warning)
        .collect()
}

/// `note; reason`.
fn with_note(note: &str, reason: Option<&str>) -> String {
    match reason {
        Some(r) if !r.is_empty() => format!("{note}; {r}"),
        _ => note.to_owned(),
    }
}

/// An error and its causes, on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(&format!(": {s}"));
        source = s.source();
    }
    out
}

fn unknown_tasks(missing: &[String], st: &State) -> Error {
    let recent: Vec<String> = st
        .entries
        .keys()
        .rev()
        .take(10)
        .map(|n| task_id(*n))
        .collect();
    let known = if recent.is_empty() {
        "no tasks are kept".to_owned()
    } else {
        format!("recent tasks: {}", recent.join(", "))
    };
    Error::new(
        ErrorKind::NotFound,
        format!(
            "unknown task {} (finished tasks are forgotten oldest first); {known}",
            missing.join(", ")
        ),
    )
    .with_suggestions(recent)
}

fn with_live_duration(mut row: TaskRow, now: u64) -> TaskRow {
    if row.finished_at_ms.is_none()
        && let Some(started) = row.started_at_ms
    {
        row.duration_ms = Some(now.saturating_sub(started));
    }
    row
}

/// Marks a task finished (once), keeps the finished-task bound, and counts it out of the
/// active ones. The caller notifies waiters.
fn finish_locked(
    st: &mut State,
    limits: &Limits,
    id: u64,
    now: u64,
    apply: impl FnOnce(&mut TaskRow),
) -> bool {
    let Some(e) = st.entries.get_mut(&id) else {
        return false;
    };
    if e.row.status.is_finished() {
        return false;
    }
    apply(&mut e.row);
    if !e.row.status.is_finished() {
        e.row.status = TaskStatus::Failed;
    }
    if let Some(out) = e.row.output.as_mut() {
        e.row.output_truncated = cut(out, limits.max_output_bytes);
    }
    e.row.finished_at_ms = Some(now);
    e.row.duration_ms =
        Some(now.saturating_sub(e.row.started_at_ms.unwrap_or(e.row.created_at_ms)));
    st.active = st.active.saturating_sub(1);
    st.saving.insert(id);
    st.finished.push_back(id);
    while st.finished.len() > limits.finished_capacity {
        if let Some(old) = st.finished.pop_front() {
            st.entries.remove(&old);
        }
    }
    true
}

impl<W> Inner<W> {
    fn finish(&self, id: u64, apply: impl FnOnce(&mut TaskRow)) {
        let done = {
            let mut st = lock(&self.state);
            finish_locked(&mut st, &self.limits, id, now_ms(), |row| {
                apply(row);
                self.redactor.redact_task(row);
            })
        };
        if done {
            self.save(id);
            lock(&self.state).saving.remove(&id);
            self.changed.notify_waiters();
        }
    }

    /// Queued → running; false when the task was cancelled (or forgotten) meanwhile.
    fn begin(&self, id: u64) -> bool {
        let began = {
            let mut st = lock(&self.state);
            match st.entries.get_mut(&id) {
                Some(e) if e.row.status == TaskStatus::Queued => {
                    e.row.status = TaskStatus::Running;
                    e.row.started_at_ms = Some(now_ms());
                    true
                }
                _ => false,
            }
        };
        if began {
            self.save_as(id, false);
        }
        began
    }

    /// Writes the task's row as it is now to the store (redacted), when there is one. A
    /// failure is logged: the task goes on, in memory.
    fn save(&self, id: u64) {
        self.save_as(id, true);
    }

    /// [`Self::save`]; `files: false` when only the status changed (its details and output
    /// files are left as they are).
    fn save_as(&self, id: u64, files: bool) {
        let Some(store) = &self.store else {
            return;
        };
        let _saving = match self.saving.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let Some(mut row) = lock(&self.state).entries.get(&id).map(|e| e.row.clone()) else {
            return;
        };
        self.redactor.redact_task(&mut row);
        // On disk, the caller's own text is redacted too.
        if let Some(task) = row.task.as_mut() {
            self.redactor.redact_in_place(task);
        }
        let saved = if files {
            store.save(id, &row)
        } else {
            store.save_state(id, &row)
        };
        if let Err(e) = saved {
            tracing::warn!(task = %task_id(id), "cannot record the task: {}", error_chain(&e));
        }
    }
}

/// Marks the task failed if its runner stops without finishing it (a panic in a worker
/// service, or the runtime shutting down), so no task stays "running" forever.
struct Guard<W> {
    inner: Arc<Inner<W>>,
    id: u64,
}

impl<W> Drop for Guard<W> {
    fn drop(&mut self) {
        self.inner.finish(self.id, |row| {
            row.status = TaskStatus::Failed;
            row.error = Some(Error::new(
                ErrorKind::Failed,
                "the task stopped unexpectedly inside the backend; see the backend log",
            ));
        });
    }
}

fn op_summary(w: &WorkerRow) -> String {
    format!(
        "worker {} now uses {} → {} ({}): {}",
        w.id,
        w.model_ref,
        w.resolved_model.as_deref().unwrap_or("(unresolved)"),
        w.policy,
        w.reason
    )
}

/// What a warm op reports: where the worker's OpenCode runs now.
fn warm_summary(w: &WorkerRow) -> String {
    let place = match (w.pid, w.url.as_deref()) {
        (Some(pid), Some(url)) => format!(" (OpenCode pid {pid} at {url})"),
        (None, Some(url)) => format!(" (OpenCode at {url})"),
        _ => String::new(),
    };
    format!(
        "worker {} is {} on the {} backend{place}",
        w.id,
        w.status.as_str(),
        w.backend.as_str()
    )
}

fn apply_outcome(row: &mut TaskRow, outcome: RunOutcome) {
    row.status = TaskStatus::Succeeded;
    row.worker = Some(outcome.worker);
    row.requested_ref = Some(outcome.requested_ref);
    row.resolved_model = Some(outcome.resolution.resolved_model);
    row.policy = Some(outcome.resolution.policy);
    row.reason = Some(outcome.resolution.reason);
    row.answered_by = outcome.answered_by;
    row.session_id = Some(outcome.session_id).filter(|s| !s.is_empty());
    row.output = Some(outcome.output);
    row.attempts = outcome.attempts;
    row.usage = outcome.usage;
}

fn apply_worker_row(row: &mut TaskRow, w: WorkerRow) {
    row.status = TaskStatus::Succeeded;
    row.output = Some(op_summary(&w));
    row.requested_ref = Some(w.model_ref.clone());
    row.resolved_model = w.resolved_model.clone();
    row.policy = Some(w.policy);
    row.reason = Some(w.reason.clone());
    row.worker_row = Some(w);
}

fn failed(row: &mut TaskRow, mut e: Error) {
    row.status = TaskStatus::Failed;
    row.attempts = std::mem::take(&mut e.attempts);
    row.error = Some(e);
}

async fn run<W: WorkerService>(
    inner: Arc<Inner<W>>,
    id: u64,
    work: Work,
    resolution: Option<Resolution>,
    cancel: CancellationToken,
    budget_note: Option<String>,
) {
    let _guard = Guard {
        inner: Arc::clone(&inner),
        id,
    };
    if !inner.begin(id) {
        return;
    }
    match work {
        Work::Run(req) => {
            // With no timeoutMs the worker service's own default applies (the manager's
            // ORCH_TASK_TIMEOUT_MS); with one, the registry enforces it as well.
            let timeout = req.timeout;
            let expired = async {
                match timeout {
                    Some(t) => tokio::time::sleep(t).await,
                    None => std::future::pending().await,
                }
            };
            let mut work = pin!(inner.workers.run(req, cancel.clone()));
            let result = tokio::select! {
                r = &mut work => Some(r),
                () = expired => {
                    let timeout = timeout.unwrap_or_default();
                    cancel.cancel();
                    inner.finish(id, |row| failed(row, Error::new(
                        ErrorKind::Failed,
                        format!(
                            "timed out after {} ms; its OpenCode session was aborted (raise timeoutMs for longer tasks)",
                            timeout.as_millis()
                        ),
                    )));
                    None
                }
                () = cancel.cancelled() => None,
            };
            match result {
                Some(Ok(outcome)) => inner.finish(id, |row| {
                    apply_outcome(row, outcome);
                    if let Some(note) = &budget_note {
                        row.reason = Some(with_note(note, row.reason.as_deref()));
                    }
                }),
                Some(Err(e)) => {
                    // Provider text: the backend's log writer redacts it.
                    tracing::info!(task = %task_id(id), "task failed: {}", e.message);
                    inner.finish(id, |row| failed(row, e));
                }
                // Give the worker service time to abort the session, then drop the work.
                None => {
                    let _ = tokio::time::timeout(inner.limits.cancel_grace, work).await;
                }
            }
        }
        Work::SetModel(req) => {
            let changed = match resolution {
                Some(r) => inner.workers.apply_model(req, r).await,
                None => inner.workers.set_model(req).await,
            };
            match changed {
                Ok(w) => inner.finish(id, |row| apply_worker_row(row, w)),
                Err(e) => inner.finish(id, |row| failed(row, e)),
            }
        }
        Work::ResetHealth => match inner.workers.reset_health() {
            Ok(view) => inner.finish(id, |row| {
                row.status = TaskStatus::Succeeded;
                row.output = Some(crate::render::health(&view, crate::wire::Format::Table));
            }),
            Err(e) => inner.finish(id, |row| failed(row, e)),
        },
        Work::ResetModel { worker } => match inner.workers.reset_model(&worker).await {
            Ok(w) => inner.finish(id, |row| apply_worker_row(row, w)),
            Err(e) => inner.finish(id, |row| failed(row, e)),
        },
        Work::Warm { worker } => match inner.workers.warm(&worker).await {
            Ok(w) => inner.finish(id, |row| {
                let summary = warm_summary(&w);
                apply_worker_row(row, w);
                row.output = Some(summary);
            }),
            Err(e) => inner.finish(id, |row| failed(row, e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_respects_char_boundaries() {
        let mut s = "héllo".to_owned();
        assert!(cut(&mut s, 2));
        assert_eq!(s, "h");
        let mut s = "abc".to_owned();
        assert!(!cut(&mut s, 3));
    }

    #[test]
    fn cut_gives_back_the_memory_of_the_rest() {
        let mut s = "x".repeat(1 << 20);
        assert!(cut(&mut s, 4096));
        assert!(s.capacity() < 8192, "capacity {}", s.capacity());
    }

    #[test]
    fn prefix_keeps_whole_characters() {
        assert_eq!(prefix("héllo", 2), ("h", true));
        assert_eq!(prefix("héllo", 3), ("hé", true));
        assert_eq!(prefix("abc", 3), ("abc", false));
    }

    #[test]
    fn ids_round_trip() {
        assert_eq!(parse_id(&task_id(42)), Some(42));
        assert_eq!(parse_id("x1"), None);
        assert_eq!(parse_id("t"), None);
    }

    #[test]
    fn preview_cuts_long_tasks() {
        let long = "a".repeat(300);
        assert_eq!(preview(&long).chars().count(), LIST_TASK_CHARS + 1);
        assert_eq!(preview("short"), "short");
    }
}
