//! The worker manager: resolves each worker's model, starts or reuses its OpenCode, sends
//! every prompt with `body.model` set, and remembers what users set.
//!
//! Selection happens at two moments. At spawn time the worker's default model goes into
//! `OPENCODE_CONFIG_CONTENT` (what OpenCode itself would use). At prompt time the model is
//! resolved again and sent on the message, so a `dynamic` change reaches the next task with
//! no respawn. A `sticky` change also becomes part of the worker's fingerprint, so its
//! process is restarted with the new default on the next task.
//!
//! A hosted worker (`backend: "shared"`, the default) has no process of its own: it is a
//! session on the backend's shared host (see [`super::host`]), prompted under its agent
//! `orch-<id>`; its model only ever rides on the message.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use tracing::Instrument;

use super::attachment;
use super::error::WorkerError;
use super::failure::{Classified, RetryRule, classify_call, classify_reply, classify_retry};
use super::fallback::{self, Candidate, Plan};
use super::health::{Health, HealthStore, Verdict};
use super::host::{self, AdoptedHost, HOST_ENTRY, Host, HostConfig, HostTurn, Hosts};
use super::isolation::{DELEGATION_DEPTH_VAR, delegation_depth, mcp_overlay};
use super::procfs::Identity;
use super::registry::{Entry, Registry};
use super::settings::{Settings, SettingsStore, WorkerSetting};
use super::spawn::{OsSpawner, Process, SpawnSpec, Spawner, pid_alive, stop_group};
use super::{
    Attachment, CancellationToken, RunOutcome, RunRequest, SetModelRequest, WorkerRow,
    WorkerService, WorkerStatus, WorkersView,
};
use crate::clock::{Clock, SystemClock};
use crate::context::WORKER_OF_VAR;
use crate::error::Error;
use crate::knowledge::{Knowledge, KnowledgeSource};
use crate::opencode::{
    Credentials, DEFAULT_USERNAME, ModelChoice, OpenCodeClient, PartInput, PromptBody, Secret,
    SessionStatus,
};
use crate::paths::{Environment, Paths};
use crate::profiles::{AgentServer, BackendKind, ModelSpec, PasswordSource, Profile};
use crate::redact::Redactor;
use crate::resolve::{Policy, Resolution};
use crate::sources::config::ConfigLocations;
use crate::views;
use crate::wire::{Attempt, FailureClass, HealthView};

/// Largest attachment read from disk.
const MAX_ATTACHMENT: u64 = 20 * 1024 * 1024;
/// How long a warm start waits for OpenCode to load its providers.
const PRIME_TIMEOUT: Duration = Duration::from_secs(30);

/// Has a freshly started OpenCode load its providers now: it does so on the first request
/// that needs them, which would otherwise be the worker's first prompt (on 1.18.34 that
/// moved about 2.5 s of a 4-7 s first prompt into the warm start). Best effort, and
/// nothing of the answers is kept (`IgnoredAny`: no key is held).
async fn prime(client: &OpenCodeClient) {
    let _ = tokio::time::timeout(PRIME_TIMEOUT, async {
        let _ = client
            .get::<serde::de::IgnoredAny>("/config/providers")
            .await;
        let _ = client.get::<serde::de::IgnoredAny>("/provider").await;
    })
    .await;
}

/// How long an aborted prompt gets to return before the next attempt is sent.
const ABORT_GRACE: Duration = Duration::from_secs(5);

/// How one attempt ended.
enum AttemptEnd {
    /// The model answered.
    Answered(crate::opencode::PromptReply),
    /// It failed; the classification and OpenCode's error as shown to users.
    Failed(Classified, String),
    /// The task ends here (the process died, cancel, timeout, ...).
    Error(WorkerError),
}

/// A failed task: the error and every attempt made.
#[derive(Debug)]
struct Failed {
    error: WorkerError,
    attempts: Vec<Attempt>,
}

impl From<WorkerError> for Failed {
    fn from(error: WorkerError) -> Self {
        Self {
            error,
            attempts: Vec::new(),
        }
    }
}

/// Watches a running prompt and returns when orch should give up on it: OpenCode retries
/// past the [`RetryRule`], or no answer started within its answer-start time. Never
/// returns otherwise (the prompt's own end wins the race).
async fn watch(client: &OpenCodeClient, session: &str, rule: RetryRule) -> Classified {
    let started = tokio::time::Instant::now();
    let mut answer_started = false;
    loop {
        tokio::time::sleep(rule.poll).await;
        let status = client
            .session_status()
            .await
            .ok()
            .and_then(|mut all| all.remove(session));
        if let Some(SessionStatus::Retry {
            attempt,
            message,
            next,
        }) = status
        {
            // `next` is OpenCode's wall clock, so compare with the system's, not orch's clock.
            let wait = Duration::from_millis(next.saturating_sub(SystemClock.now_ms()));
            if rule.gives_up(attempt, wait) {
                return classify_retry(&message, wait);
            }
            continue;
        }
        if !answer_started && started.elapsed() >= rule.answer_start {
            match client.last_message(session).await {
                Ok(Some(m))
                    if m.info.role == "assistant"
                        && (!m.parts.is_empty() || m.info.error.is_some()) =>
                {
                    answer_started = true;
                }
                Ok(_) => {
                    return Classified {
                        class: FailureClass::NoAnswer,
                        status_code: None,
                        retry_after: None,
                        message: format!(
                            "no answer started within {} ms",
                            rule.answer_start.as_millis()
                        ),
                    };
                }
                Err(_) => {}
            }
        }
    }
}

/// The reason of a task's model: the resolver's, plus how the task fell back and why
/// models were passed over.
fn fallback_reason(
    first: &Resolution,
    winner: &Candidate,
    attempts: &[Attempt],
    notes: &[String],
) -> String {
    let mut reason = first.reason.clone();
    if !notes.is_empty() {
        reason.push_str(&format!("; {}", notes.join("; ")));
    }
    if let Some(hops) = Attempt::hops(attempts) {
        reason.push_str(&format!("; {hops}"));
    }
    if winner.resolution.resolved_model != first.resolved_model {
        reason.push_str(&format!(
            "; {} is {}",
            winner.resolution.resolved_model, winner.origin
        ));
    }
    reason
}

/// How the manager runs.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// Paths (project, state).
    pub paths: Paths,
    /// The environment workers inherit and keys are detected in.
    pub env: Environment,
    /// The `opencode` program: `ORCH_OPENCODE_BIN`, else `opencode` on `PATH`.
    pub opencode_bin: PathBuf,
    /// The server agent-backend workers attach to (`ORCH_AGENT_URL`).
    pub agent_url: Option<String>,
    /// How long a worker may take to print its ready line.
    pub ready_timeout: Duration,
    /// How long a stopped worker gets between SIGTERM and SIGKILL.
    pub stop_grace: Duration,
    /// Default task timeout.
    pub task_timeout: Duration,
    /// Keep worker processes running after the manager stops, for reuse by the next one.
    pub keep_workers: bool,
    /// The `orch` executable whose `__guard` subcommand watches each worker and ends every
    /// process it started (see `workers::guard`); `None`: the `/bin/sh` guard, which ends
    /// the worker's process group only. `orch serve` sets it to itself.
    pub guard_bin: Option<PathBuf>,
    /// The socket of the backend this manager runs in (`None`: the first socket candidate
    /// of `paths`). Each worker gets it as `ORCH_SOCKET`, with the backend's key as
    /// [`crate::context::WORKER_OF_VAR`], so the `orch mcp` (and `orch` commands) a
    /// delegating worker runs reach this backend, which accepts them although orch changed
    /// their environment; see `docs/workers.md`, "Delegation".
    pub backend_socket: Option<PathBuf>,
    /// When to stop waiting for OpenCode's own retries and for an answer to start, and
    /// move on to the next candidate model (see [`RetryRule`]).
    pub retry: RetryRule,
}

impl ManagerConfig {
    /// Defaults, with `ORCH_OPENCODE_BIN`, `ORCH_AGENT_URL`, `ORCH_READY_TIMEOUT_MS`,
    /// `ORCH_KEEP_WORKERS` and the retry rule's `ORCH_RETRY_MAX`, `ORCH_RETRY_WAIT_MS`,
    /// `ORCH_ANSWER_START_MS`, `ORCH_WATCH_POLL_MS` read from `env`.
    pub fn from_env(paths: Paths, env: Environment) -> Self {
        let ms = |var: &str, default: u64| {
            Duration::from_millis(env.get(var).and_then(|v| v.parse().ok()).unwrap_or(default))
        };
        Self {
            opencode_bin: env
                .get("ORCH_OPENCODE_BIN")
                .map_or_else(|| PathBuf::from("opencode"), PathBuf::from),
            agent_url: env.get("ORCH_AGENT_URL").map(str::to_owned),
            ready_timeout: ms("ORCH_READY_TIMEOUT_MS", 60_000),
            stop_grace: Duration::from_secs(5),
            task_timeout: ms("ORCH_TASK_TIMEOUT_MS", 30 * 60_000),
            keep_workers: env.flag("ORCH_KEEP_WORKERS"),
            guard_bin: None,
            backend_socket: None,
            retry: RetryRule {
                max_retries: env
                    .get("ORCH_RETRY_MAX")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(RetryRule::default().max_retries),
                max_wait: ms("ORCH_RETRY_WAIT_MS", 10_000),
                answer_start: ms("ORCH_ANSWER_START_MS", 90_000),
                poll: ms("ORCH_WATCH_POLL_MS", 500).max(Duration::from_millis(10)),
            },
            paths,
            env,
        }
    }
}

/// A worker's OpenCode, ready for prompts.
#[derive(Debug)]
struct Running {
    /// The process, when this manager started it.
    process: Option<Arc<dyn Process>>,
    /// The registry entry of an adopted process (checked again before it is signalled).
    adopted: Option<Entry>,
    /// Control calls (short timeout).
    client: OpenCodeClient,
    session_id: String,
    url: String,
    pid: Option<u32>,
    fingerprint: String,
    /// The shared host the session lives on (a hosted worker); `process` is the host's.
    host: Option<Arc<Host>>,
}

impl Running {
    /// The exit status, waiting up to `limit` for an exit to be noticed.
    async fn wait_exited(&self, limit: Duration) -> Option<String> {
        match &self.process {
            Some(p) => tokio::time::timeout(limit, p.wait_exit()).await.ok(),
            None => self.exited(),
        }
    }

    fn exited(&self) -> Option<String> {
        match &self.process {
            Some(p) => p.exit_status(),
            // An adopted process is gone when its pid is no longer the process registered.
            None => match &self.adopted {
                Some(entry) => (!entry.is_ours()).then(|| "exited".into()),
                None => self.pid.filter(|p| !pid_alive(*p)).map(|_| "exited".into()),
            },
        }
    }
}

#[derive(Debug)]
struct SlotState {
    status: WorkerStatus,
    running: Option<Arc<Running>>,
    answered_by: Option<String>,
    error: Option<String>,
    /// How the last task fell back, when it did.
    fallback: Option<String>,
    /// What starting its shared host did (`restarted the shared host: ...`), for the
    /// reason of the task that started it.
    host_note: Option<String>,
}

#[derive(Debug)]
struct Slot {
    state: Mutex<SlotState>,
    /// One spawn at a time per worker: concurrent requests share it.
    spawn: tokio::sync::Mutex<()>,
    /// One prompt at a time per session.
    prompt: tokio::sync::Mutex<()>,
}

struct Inner<S, C> {
    config: ManagerConfig,
    spawner: S,
    clock: C,
    knowledge: KnowledgeSource,
    store: SettingsStore,
    settings: Mutex<Settings>,
    registry: Registry,
    slots: Mutex<BTreeMap<String, Arc<Slot>>>,
    warnings: Mutex<Vec<String>>,
    health_store: HealthStore,
    health: Mutex<Health>,
    /// Set when the record changed and is not saved yet.
    health_dirty: AtomicBool,
    /// One writer of `health.json` at a time.
    health_saving: Mutex<()>,
    /// The shared hosts (see [`super::host`]).
    hosts: Mutex<Hosts>,
    /// One host decision (reuse, restart, second host) at a time.
    host_start: tokio::sync::Mutex<()>,
}

/// Writes the newest health record while it has unsaved changes.
fn save_health<S, C>(inner: &Inner<S, C>) {
    let _one_writer = lock(&inner.health_saving);
    while inner.health_dirty.swap(false, Ordering::SeqCst) {
        let snapshot = lock(&inner.health).clone();
        if let Err(e) = inner.health_store.save(&snapshot) {
            tracing::warn!("{e}");
        }
    }
}

/// The worker manager.
pub struct Manager<S: Spawner = OsSpawner, C: Clock = SystemClock> {
    inner: Arc<Inner<S, C>>,
}

impl<S: Spawner, C: Clock> Clone for Manager<S, C> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// A password file's first line; the file must belong to the user and not be readable by
/// group or others. Errors name the file, never its contents.
fn read_password_file(path: &std::path::Path) -> Result<String, String> {
    use std::os::unix::fs::MetadataExt;
    let shown = path.display();
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read the agent server's password file {shown}: {e}"))?;
    if meta.mode() & 0o077 != 0 || meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(format!(
            "the agent server's password file {shown} must be yours and not readable by others (chmod 600 {shown})"
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the agent server's password file {shown}: {e}"))?;
    let password = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if password.is_empty() {
        return Err(format!("the agent server's password file {shown} is empty"));
    }
    Ok(password.to_owned())
}

/// FNV-1a, stable across builds: fingerprints outlive the process that wrote them.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Manager<OsSpawner, SystemClock> {
    /// A manager over real processes, with knowledge read from the files.
    pub fn start(config: ManagerConfig) -> Result<Self, Error> {
        Self::start_redacting(config, Redactor::new())
    }

    /// [`Manager::start`], teaching `redactor` every secret of the setup (and of later
    /// reloads), so a log writer made before the manager redacts with it too.
    pub fn start_redacting(config: ManagerConfig, redactor: Redactor) -> Result<Self, Error> {
        let knowledge = KnowledgeSource::load(&config.paths, &config.env)?.with_redactor(redactor);
        Ok(Self::new(config, knowledge, OsSpawner, SystemClock))
    }
}

impl<S: Spawner, C: Clock> Manager<S, C> {
    /// A manager with injected knowledge, spawner and clock.
    pub fn new(config: ManagerConfig, knowledge: KnowledgeSource, spawner: S, clock: C) -> Self {
        let store = SettingsStore::new(&config.paths.project_state_dir());
        let (settings, warning) = store.load(clock.now_ms());
        if let Some(w) = &warning {
            tracing::warn!("{w}");
        }
        let registry = Registry::new(&config.paths.backend_state_dir());
        let health_store = HealthStore::new(&config.paths.state_dir);
        let (health, health_warning) = health_store.load(clock.now_ms());
        if let Some(w) = &health_warning {
            tracing::warn!("{w}");
        }
        Self {
            inner: Arc::new(Inner {
                config,
                spawner,
                clock,
                knowledge,
                store,
                settings: Mutex::new(settings),
                registry,
                slots: Mutex::new(BTreeMap::new()),
                warnings: Mutex::new(warning.into_iter().chain(health_warning).collect()),
                health_store,
                health: Mutex::new(health),
                health_dirty: AtomicBool::new(false),
                health_saving: Mutex::new(()),
                hosts: Mutex::new(Hosts::default()),
                host_start: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// What the manager worked around, as long as it holds: a `state.json` moved aside
    /// (while the moved file is there), a state file that could not be read (this run),
    /// a failed reload, and the provider set's own warnings (an unreadable `auth.json`,
    /// an ignored models cache).
    pub fn warnings(&self) -> Vec<String> {
        let mut w: Vec<String> = lock(&self.inner.warnings)
            .iter()
            // A moved-aside file is reported from the directory below, while it exists.
            .filter(|w| !w.contains(".corrupt-"))
            .cloned()
            .collect();
        w.extend(self.inner.store.kept_aside().iter().map(|kept| {
            format!(
                "worker settings were reset: {} could not be read and was moved aside to {}; check it, then delete it to clear this warning",
                self.inner.store.path().display(),
                kept.display()
            )
        }));
        w.extend(self.inner.knowledge.warning());
        w.extend(
            self.inner
                .knowledge
                .get()
                .resolver
                .set()
                .warnings
                .iter()
                .cloned(),
        );
        w
    }

    fn profile(&self, knowledge: &Knowledge, worker: &str) -> Result<Profile, WorkerError> {
        knowledge
            .profiles
            .get(worker)
            .cloned()
            .ok_or_else(|| WorkerError::UnknownWorker {
                worker: crate::resolve::shown(worker),
                known: knowledge
                    .profiles
                    .ids()
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            })
    }

    fn slot(&self, worker: &str) -> Arc<Slot> {
        let mut slots = lock(&self.inner.slots);
        Arc::clone(slots.entry(worker.to_owned()).or_insert_with(|| {
            Arc::new(Slot {
                state: Mutex::new(SlotState {
                    status: WorkerStatus::Idle,
                    running: None,
                    answered_by: None,
                    error: None,
                    fallback: None,
                    host_note: None,
                }),
                spawn: tokio::sync::Mutex::new(()),
                prompt: tokio::sync::Mutex::new(()),
            })
        }))
    }

    fn setting(&self, worker: &str) -> Option<WorkerSetting> {
        lock(&self.inner.settings).workers.get(worker).cloned()
    }

    /// The worker's model in effect: what the user set, else the profile's.
    fn current(&self, profile: &Profile) -> (ModelSpec, Policy, bool) {
        match self.setting(&profile.id) {
            Some(s) => (ModelSpec::parse(&s.model), s.policy, true),
            None => (profile.model.clone(), Policy::Dynamic, false),
        }
    }

    fn resolve_spec(
        &self,
        knowledge: &Knowledge,
        profile: &Profile,
        spec: &ModelSpec,
        policy: Policy,
    ) -> Result<Resolution, WorkerError> {
        self.resolve_for_task(knowledge, profile, spec, policy, None)
    }

    /// [`Self::resolve_spec`] for one task of `tokens` estimated tokens
    /// ([`attachment::estimate_tokens`]): models whose context cannot hold it are skipped.
    fn resolve_for_task(
        &self,
        knowledge: &Knowledge,
        profile: &Profile,
        spec: &ModelSpec,
        policy: Policy,
        tokens: Option<u64>,
    ) -> Result<Resolution, WorkerError> {
        let span =
            tracing::info_span!("resolve", worker = %profile.id, reference = %spec.display());
        let _enter = span.enter();
        knowledge
            .resolver
            .resolve_spec_for(spec, Some(profile), policy, tokens)
            .map_err(|source| WorkerError::Resolve {
                worker: profile.id.clone(),
                source,
            })
    }

    /// What reuse must match: the worker, its profile's server-side settings, the policy,
    /// and under `sticky` the default model (a dynamic model rides on each message instead).
    fn fingerprint(&self, profile: &Profile, policy: Policy, default_model: &str) -> String {
        let profile_bits = json!({
            "tools": profile.tools,
            "agent": profile.agent,
            "prompt": profile.prompt,
            "backend": profile.backend,
            "delegate": profile.delegate,
            "server": profile.server,
        });
        let model = if policy == Policy::Sticky {
            default_model
        } else {
            "*"
        };
        format!(
            "{}|{}|{}|{:016x}",
            profile.id,
            policy,
            model,
            fnv(profile_bits.to_string().as_bytes())
        )
    }

    /// The environment values that must never be shown (provider keys).
    /// `OPENCODE_CONFIG_CONTENT` for a worker: the user's own inline config, if any, with
    /// the worker's default model and tool switches on top, and orch's own MCP entries
    /// disabled unless the profile delegates (see [`super::isolation`]).
    fn config_content(&self, profile: &Profile, default_model: &str) -> String {
        let mut base = self
            .inner
            .config
            .env
            .get("OPENCODE_CONFIG_CONTENT")
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        let mut ours = json!({ "model": default_model });
        if !profile.tools.is_empty() {
            ours["tools"] = json!(profile.tools);
        }
        // A config orch cannot read still gets `orch` disabled; OpenCode reports its error.
        let user_mcp = ConfigLocations {
            global_dir: self.inner.config.paths.opencode_config_dir.clone(),
            project_dir: self.inner.config.paths.project_dir.clone(),
        }
        .load(&self.inner.config.env)
        .map(|loaded| loaded.config.mcp)
        .unwrap_or_default();
        if let Some(mcp) = mcp_overlay(&user_mcp, profile.delegate) {
            ours["mcp"] = mcp;
        }
        crate::sources::config::merge(&mut base, ours);
        base.to_string()
    }

    /// A healthy running OpenCode for the worker: the one it has, one from the registry,
    /// or a new one. Concurrent callers share one spawn.
    async fn ensure_running(
        &self,
        knowledge: &Knowledge,
        profile: &Profile,
        slot: &Slot,
        force_new: bool,
        auto_spawn: bool,
    ) -> Result<Arc<Running>, WorkerError> {
        self.ensure_turn(knowledge, profile, slot, force_new, auto_spawn)
            .await
            .map(|(running, _)| running)
    }

    /// [`Self::ensure_running`], with the task's turn on the shared host for a hosted
    /// worker (taken before the host could be restarted by another worker's change).
    async fn ensure_turn(
        &self,
        knowledge: &Knowledge,
        profile: &Profile,
        slot: &Slot,
        force_new: bool,
        auto_spawn: bool,
    ) -> Result<(Arc<Running>, Option<HostTurn>), WorkerError> {
        if host::is_hosted(profile) {
            return self
                .ensure_hosted(knowledge, profile, slot, force_new, auto_spawn)
                .await
                .map(|(running, turn)| (running, Some(turn)));
        }
        self.ensure_dedicated(knowledge, profile, slot, force_new, auto_spawn)
            .await
            .map(|running| (running, None))
    }

    /// A dedicated server or an agent server's session for the worker.
    async fn ensure_dedicated(
        &self,
        knowledge: &Knowledge,
        profile: &Profile,
        slot: &Slot,
        force_new: bool,
        auto_spawn: bool,
    ) -> Result<Arc<Running>, WorkerError> {
        let (spec, policy, _) = self.current(profile);
        let default = self.resolve_spec(knowledge, profile, &spec, policy)?;
        let fingerprint = self.fingerprint(profile, policy, &default.resolved_model);
        let _one_at_a_time = slot.spawn.lock().await;

        let existing = lock(&slot.state).running.clone();
        if let Some(running) = existing {
            let healthy = running.exited().is_none() && running.client.health().await.is_ok();
            if healthy && !force_new && running.fingerprint == fingerprint {
                tracing::debug!(worker = %profile.id, "reusing the running worker");
                return Ok(running);
            }
            self.stop_running(&profile.id, &running).await;
            lock(&slot.state).running = None;
        }
        if !force_new && let Some(running) = self.adopt(profile, &fingerprint).await {
            let running = Arc::new(running);
            let mut st = lock(&slot.state);
            st.running = Some(Arc::clone(&running));
            st.status = WorkerStatus::Ready;
            st.error = None;
            return Ok(running);
        }
        if !auto_spawn {
            return Err(WorkerError::NotRunning {
                worker: profile.id.clone(),
            });
        }
        lock(&slot.state).status = WorkerStatus::Starting;
        let started = match profile.backend {
            // A shared profile here delegates: it needs a process of its own.
            BackendKind::Server | BackendKind::Shared => {
                self.spawn_server(profile, &default, &fingerprint, policy)
                    .await
            }
            BackendKind::Agent => self.attach_agent(profile, &fingerprint).await,
        };
        let mut st = lock(&slot.state);
        match started {
            Ok(running) => {
                let running = Arc::new(running);
                st.running = Some(Arc::clone(&running));
                st.status = WorkerStatus::Ready;
                st.error = None;
                Ok(running)
            }
            Err(e) => {
                st.status = WorkerStatus::Failed;
                st.error = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// Takes over a registered process that matches: same worker, live pid, healthy, same
    /// fingerprint, session still there. Mismatched or broken entries whose owner is gone
    /// (or is this manager) are stopped; those of another live manager are left alone.
    async fn adopt(&self, profile: &Profile, fingerprint: &str) -> Option<Running> {
        let me = std::process::id();
        let entries: Vec<Entry> = self
            .inner
            .registry
            .list()
            .ok()?
            .into_iter()
            .filter(|e| e.worker == profile.id && !self.owns_pid(e.pid))
            .collect();
        for entry in entries {
            let login = entry.password.clone().map(|password| Credentials {
                username: DEFAULT_USERNAME.to_owned(),
                password,
            });
            if let Some(login) = &login {
                self.inner
                    .knowledge
                    .redactor()
                    .add_basic_auth(&login.username, login.password.expose());
            }
            let client = OpenCodeClient::new(&entry.url, Duration::from_secs(5))
                .ok()
                .map(|c| c.with_credentials(login));
            let usable = match &client {
                Some(c) if entry.fingerprint == fingerprint => {
                    c.health().await.is_ok() && c.session(&entry.session_id).await.is_ok()
                }
                _ => false,
            };
            if let (true, Some(client)) = (usable, client) {
                tracing::info!(worker = %profile.id, pid = entry.pid, "reusing a registered worker process");
                let mut updated = entry.clone();
                updated.updated_at = self.inner.clock.now_ms();
                let _ = self.inner.registry.upsert(updated);
                return Some(Running {
                    process: None,
                    client,
                    session_id: entry.session_id.clone(),
                    url: entry.url.clone(),
                    pid: Some(entry.pid),
                    fingerprint: entry.fingerprint.clone(),
                    host: None,
                    adopted: Some(entry),
                });
            }
            let owner_gone = entry.owner_pid == me || !pid_alive(entry.owner_pid);
            if owner_gone {
                self.stop_registered(&entry).await;
            }
        }
        None
    }

    /// Stops a registered process group that this manager did not start, only when its
    /// pid is still the process that was registered (start time, command line, group);
    /// otherwise the pid now belongs to someone else: the entry is forgotten, nothing is
    /// signalled.
    async fn stop_registered(&self, entry: &Entry) {
        if entry.is_ours() {
            tracing::info!(worker = %entry.worker, pid = entry.pid, "registered process does not match; stopping it");
            stop_group(entry.pgid, self.inner.config.stop_grace).await;
        } else {
            tracing::info!(worker = %entry.worker, pid = entry.pid, "registered pid is no longer the worker orch started; forgetting it");
        }
        let _ = self.inner.registry.remove(&entry.worker, entry.pid);
    }

    /// Whether one of this manager's slots runs `pid`.
    fn owns_pid(&self, pid: u32) -> bool {
        lock(&self.inner.slots).values().any(|s| {
            lock(&s.state)
                .running
                .as_ref()
                .is_some_and(|r| r.pid == Some(pid))
        })
    }

    /// The whole environment of an `opencode serve` orch starts (a dedicated worker or the
    /// shared host): the backend's, without what orch sets itself, plus the config content,
    /// its password, the delegation depth and the way back to this backend.
    fn process_env(
        &self,
        config_content: String,
        delegate: bool,
        login: &Credentials,
    ) -> Vec<(String, String)> {
        let cfg = &self.inner.config;
        cfg.env
            .vars()
            .filter(|(k, _)| {
                !matches!(
                    *k,
                    "OPENCODE_CONFIG_CONTENT"
                        | "OPENCODE_DISABLE_AUTOUPDATE"
                        | "OPENCODE_SERVER_USERNAME"
                        | "OPENCODE_SERVER_PASSWORD"
                        | "ORCH_SOCKET"
                        | WORKER_OF_VAR
                ) && *k != DELEGATION_DEPTH_VAR
            })
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .chain([
                ("OPENCODE_CONFIG_CONTENT".to_owned(), config_content),
                ("OPENCODE_DISABLE_AUTOUPDATE".to_owned(), "1".to_owned()),
                (
                    "OPENCODE_SERVER_USERNAME".to_owned(),
                    login.username.clone(),
                ),
                (
                    "OPENCODE_SERVER_PASSWORD".to_owned(),
                    login.password.expose().to_owned(),
                ),
                (
                    DELEGATION_DEPTH_VAR.to_owned(),
                    delegation_depth(delegate).to_owned(),
                ),
                // Its own clients reach this backend, not one of their own.
                (
                    "ORCH_SOCKET".to_owned(),
                    cfg.backend_socket
                        .as_deref()
                        .unwrap_or_else(|| cfg.paths.socket())
                        .display()
                        .to_string(),
                ),
                (WORKER_OF_VAR.to_owned(), cfg.paths.backend_key()),
            ])
            .collect()
    }

    /// The shared host's configuration now: the user's inline config, an agent per hosted
    /// profile, orch's MCP entries off, and the state of the OpenCode config files.
    fn host_config(&self, knowledge: &Knowledge) -> HostConfig {
        let env = &self.inner.config.env;
        let base = env
            .get("OPENCODE_CONFIG_CONTENT")
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        // A config orch cannot read still gets `orch` disabled; OpenCode reports its error.
        let user_mcp = ConfigLocations {
            global_dir: self.inner.config.paths.opencode_config_dir.clone(),
            project_dir: self.inner.config.paths.project_dir.clone(),
        }
        .load(env)
        .map(|loaded| loaded.config.mcp)
        .unwrap_or_default();
        HostConfig::new(
            base,
            &knowledge.profiles.list,
            mcp_overlay(&user_mcp, false),
            &self.config_files_stamp(),
        )
    }

    /// A session on the shared host for a hosted worker, with the task's turn on that
    /// host: the session it has when it is on the current host, else a new one.
    async fn ensure_hosted(
        &self,
        knowledge: &Knowledge,
        profile: &Profile,
        slot: &Slot,
        force_new: bool,
        auto_spawn: bool,
    ) -> Result<(Arc<Running>, HostTurn), WorkerError> {
        let _one_at_a_time = slot.spawn.lock().await;
        let starts_host = lock(&self.inner.hosts).current.is_none();
        if starts_host {
            lock(&slot.state).status = WorkerStatus::Starting;
        }
        let (host, turn, note) = match self.current_host(knowledge, &profile.id, auto_spawn).await {
            Ok(h) => h,
            Err(e) => {
                let mut st = lock(&slot.state);
                st.status = WorkerStatus::Failed;
                st.error = Some(e.to_string());
                return Err(e);
            }
        };
        let existing = lock(&slot.state).running.clone();
        if let Some(running) = existing {
            let same_host = running.host.as_ref().is_some_and(|h| Arc::ptr_eq(h, &host));
            if same_host && !force_new {
                return Ok((running, turn));
            }
            // A dedicated process of this worker (its profile changed) is stopped; a
            // session on an older host is left to end with that host.
            self.stop_running(&profile.id, &running).await;
            lock(&slot.state).running = None;
        }
        let session = host
            .client
            .create_session(&format!("Worker: {}", profile.name))
            .await;
        let mut st = lock(&slot.state);
        match session {
            Ok(session) => {
                let running = Arc::new(Running {
                    process: Some(Arc::clone(&host.process)),
                    adopted: None,
                    client: host.client.clone(),
                    session_id: session.id,
                    url: host.url.clone(),
                    pid: host.pid,
                    fingerprint: host.config.fingerprint.clone(),
                    host: Some(Arc::clone(&host)),
                });
                st.running = Some(Arc::clone(&running));
                st.status = WorkerStatus::Ready;
                st.error = None;
                if note.is_some() {
                    st.host_note = note;
                }
                Ok((running, turn))
            }
            Err(source) => {
                let e = WorkerError::OpenCode {
                    worker: profile.id.clone(),
                    source,
                };
                st.status = WorkerStatus::Failed;
                st.error = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// The shared host for a task of `worker`, with its turn on it, and what was done to
    /// get it when something was: the current host when it is alive and configured as
    /// knowledge says now; else a new one, after stopping the old one when no task runs
    /// on it, or next to it (it retires when its last task ends) when one does.
    async fn current_host(
        &self,
        knowledge: &Knowledge,
        worker: &str,
        auto_spawn: bool,
    ) -> Result<(Arc<Host>, HostTurn, Option<String>), WorkerError> {
        let config = self.host_config(knowledge);
        let _one_decision = self.inner.host_start.lock().await;
        let current = lock(&self.inner.hosts).current.clone();
        let mut note = None;
        if let Some(old) = current {
            let exited = old.exited();
            let healthy = exited.is_none() && old.client.health().await.is_ok();
            if healthy && old.config.fingerprint == config.fingerprint {
                let turn = old.turn(worker);
                return Ok((old, turn, None));
            }
            lock(&self.inner.hosts).current = None;
            let pid = old.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
            if let Some(status) = exited {
                note = Some(format!(
                    "started a new shared host: the previous one{pid} exited ({status})"
                ));
                old.stop().await;
            } else {
                let why = if healthy {
                    config.change_from(&old.config)
                } else {
                    "it stopped answering".to_owned()
                };
                // Never stop a host while another worker's task runs on it.
                let busy = old.busy_workers();
                if busy.is_empty() {
                    note = Some(format!(
                        "restarted the shared host: {why}; no task was running"
                    ));
                    old.retire().await;
                } else {
                    let whose = busy
                        .iter()
                        .map(|w| format!("{w}'s"))
                        .collect::<Vec<_>>()
                        .join(" and ");
                    let tasks = if busy.len() == 1 {
                        "task is"
                    } else {
                        "tasks are"
                    };
                    note = Some(format!(
                        "started a second shared host: {whose} {tasks} running on the first{pid} ({why}); it stops when they end"
                    ));
                    old.retire().await;
                    lock(&self.inner.hosts).retiring.push(old);
                }
            }
            if let Some(n) = &note {
                tracing::info!(worker = %worker, "{n}");
            }
        }
        if !auto_spawn {
            return Err(WorkerError::NotRunning {
                worker: worker.to_owned(),
            });
        }
        let host = match self.adopt_host(&config).await {
            Some(kept) => Arc::new(kept),
            None => Arc::new(self.spawn_host(worker, config).await?),
        };
        if note.is_none() {
            note = lock(&self.inner.hosts).lost.take();
        }
        let turn = host.turn(worker);
        let mut hosts = lock(&self.inner.hosts);
        hosts.current = Some(Arc::clone(&host));
        hosts
            .retiring
            .retain(|h| h.exited().is_none() && !h.busy_workers().is_empty());
        if note.is_some() {
            hosts.last_event.clone_from(&note);
        }
        Ok((host, turn, note))
    }

    /// Takes over a host a previous manager kept (`ORCH_KEEP_WORKERS`) when its
    /// configuration is this one and it answers with its registered password.
    async fn adopt_host(&self, config: &HostConfig) -> Option<Host> {
        let kept = self
            .inner
            .registry
            .list()
            .ok()?
            .into_iter()
            .filter(|e| e.worker == HOST_ENTRY && e.fingerprint == config.fingerprint)
            .filter(|e| !self.runs_host(e.pid));
        for entry in kept {
            let Some(password) = entry.password.clone() else {
                continue;
            };
            self.inner
                .knowledge
                .redactor()
                .add_basic_auth(DEFAULT_USERNAME, password.expose());
            let Ok(client) = OpenCodeClient::new(&entry.url, Duration::from_secs(10)) else {
                continue;
            };
            let client = client.with_credentials(Some(Credentials {
                username: DEFAULT_USERNAME.to_owned(),
                password,
            }));
            if client.health().await.is_err() {
                continue;
            }
            tracing::info!(pid = entry.pid, "reusing a kept shared host");
            let mut updated = entry.clone();
            updated.owner_pid = std::process::id();
            updated.updated_at = self.inner.clock.now_ms();
            let _ = self.inner.registry.upsert(updated);
            return Some(Host::new(
                Arc::new(AdoptedHost::new(entry)),
                client,
                config.clone(),
                self.inner.config.stop_grace,
                self.inner.registry.clone(),
            ));
        }
        None
    }

    /// Whether one of this manager's hosts is `pid`.
    fn runs_host(&self, pid: u32) -> bool {
        lock(&self.inner.hosts)
            .all()
            .iter()
            .any(|h| h.pid == Some(pid))
    }

    /// Starts a shared host through the same path as a dedicated worker (guard, its own
    /// password, the redactor, `ORCH_SOCKET`, no autoupdate) and registers it. Hosts left
    /// in the registry by a manager that is gone are stopped first.
    /// An `opencode serve` on loopback for `shown` (a worker, or the shared host), with a
    /// password of its own (other local users cannot call its API; the shared redactor
    /// removes it from output, replies and logs): the process, a client that
    /// authenticates, and the password for the registry.
    async fn start_opencode(
        &self,
        shown: &str,
        config_content: String,
        delegate: bool,
        span: tracing::Span,
    ) -> Result<(Arc<dyn Process>, OpenCodeClient, Secret), WorkerError> {
        let cfg = &self.inner.config;
        let login = Credentials::generate().map_err(|source| WorkerError::Spawn {
            worker: shown.to_owned(),
            program: None,
            source,
        })?;
        let redact = self.inner.knowledge.redactor().clone();
        redact.add_basic_auth(&login.username, login.password.expose());
        let spec = SpawnSpec {
            worker: shown.to_owned(),
            program: cfg.opencode_bin.clone(),
            args: ["serve", "--hostname", "127.0.0.1", "--port", "0"]
                .map(str::to_owned)
                .to_vec(),
            dir: cfg.paths.project_dir.clone(),
            env: self.process_env(config_content, delegate, &login),
            ready_timeout: cfg.ready_timeout,
            die_with_parent: !cfg.keep_workers,
            redact,
            guard: cfg.guard_bin.clone(),
        };
        let process = self.inner.spawner.spawn(spec).instrument(span).await?;
        let password = login.password.clone();
        match OpenCodeClient::new(process.url(), Duration::from_secs(10)) {
            Ok(c) => Ok((process, c.with_credentials(Some(login)), password)),
            Err(source) => {
                process.stop(cfg.stop_grace).await;
                Err(WorkerError::OpenCode {
                    worker: shown.to_owned(),
                    source,
                })
            }
        }
    }

    async fn spawn_host(&self, worker: &str, config: HostConfig) -> Result<Host, WorkerError> {
        let me = std::process::id();
        for stale in self
            .inner
            .registry
            .list()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.worker == HOST_ENTRY && !self.runs_host(e.pid))
            .filter(|e| e.owner_pid == me || !pid_alive(e.owner_pid))
        {
            self.stop_registered(&stale).await;
        }
        let cfg = &self.inner.config;
        let shown = format!("{worker} (shared host)");
        let span = tracing::info_span!("spawn", worker = %shown);
        let (process, client, password) = self
            .start_opencode(&shown, config.content.clone(), false, span.clone())
            .await?;
        let now = self.inner.clock.now_ms();
        if let (Some(pid), Some(pgid)) = (process.pid(), process.pgid()) {
            let entry = Entry {
                worker: HOST_ENTRY.to_owned(),
                pid,
                pgid,
                url: process.url().to_owned(),
                session_id: String::new(),
                model: String::new(),
                policy: Policy::Dynamic,
                fingerprint: config.fingerprint.clone(),
                owner_pid: me,
                started_at: now,
                updated_at: now,
                password: Some(password),
                identity: Identity::of(pid),
            };
            if let Err(e) = self.inner.registry.upsert(entry) {
                tracing::warn!("{e}");
            }
        }
        span.in_scope(
            || tracing::info!(pid = ?process.pid(), url = %process.url(), "shared host ready"),
        );
        Ok(Host::new(
            process,
            client,
            config,
            cfg.stop_grace,
            self.inner.registry.clone(),
        ))
    }

    /// Forgets a host that exited: the next task starts a new one.
    fn host_lost(&self, lost: &Arc<Host>, status: &str) {
        let mut hosts = lock(&self.inner.hosts);
        if hosts.current.as_ref().is_some_and(|h| Arc::ptr_eq(h, lost)) {
            hosts.current = None;
            let pid = lost.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
            hosts.last_event = Some(format!(
                "the shared host{pid} exited ({status}); the next task starts a new one"
            ));
            hosts.lost = Some(format!(
                "started a new shared host: the previous one{pid} exited ({status})"
            ));
        }
        hosts.retiring.retain(|h| !Arc::ptr_eq(h, lost));
        if let Some(pid) = lost.pid {
            let _ = self.inner.registry.remove(HOST_ENTRY, pid);
        }
    }

    async fn spawn_server(
        &self,
        profile: &Profile,
        default: &Resolution,
        fingerprint: &str,
        policy: Policy,
    ) -> Result<Running, WorkerError> {
        let cfg = &self.inner.config;
        let span =
            tracing::info_span!("spawn", worker = %profile.id, model = %default.resolved_model);
        let (process, client, password) = self
            .start_opencode(
                &profile.id,
                self.config_content(profile, &default.resolved_model),
                profile.delegate,
                span.clone(),
            )
            .await?;
        let fail = |source| WorkerError::OpenCode {
            worker: profile.id.clone(),
            source,
        };
        let session = match client
            .create_session(&format!("Worker: {}", profile.name))
            .await
        {
            Ok(s) => s,
            Err(e) => {
                process.stop(cfg.stop_grace).await;
                return Err(fail(e));
            }
        };
        let now = self.inner.clock.now_ms();
        if let (Some(pid), Some(pgid)) = (process.pid(), process.pgid()) {
            let entry = Entry {
                worker: profile.id.clone(),
                pid,
                pgid,
                url: process.url().to_owned(),
                session_id: session.id.clone(),
                model: default.resolved_model.clone(),
                policy,
                fingerprint: fingerprint.to_owned(),
                owner_pid: std::process::id(),
                started_at: now,
                updated_at: now,
                password: Some(password),
                identity: Identity::of(pid),
            };
            if let Err(e) = self.inner.registry.upsert(entry) {
                tracing::warn!("{e}");
            }
        }
        span.in_scope(
            || tracing::info!(pid = ?process.pid(), url = %process.url(), "worker ready"),
        );
        Ok(Running {
            url: process.url().to_owned(),
            pid: process.pid(),
            process: Some(process),
            adopted: None,
            client,
            session_id: session.id,
            fingerprint: fingerprint.to_owned(),
            host: None,
        })
    }

    async fn attach_agent(
        &self,
        profile: &Profile,
        fingerprint: &str,
    ) -> Result<Running, WorkerError> {
        let (url, login) = match &profile.server {
            Some(server) => (
                server.url.clone(),
                self.agent_credentials(&profile.id, server)?,
            ),
            None => (
                self.inner
                    .config
                    .agent_url
                    .clone()
                    .ok_or_else(|| WorkerError::NoAgentUrl {
                        worker: profile.id.clone(),
                    })?,
                None,
            ),
        };
        let fail = |source| WorkerError::OpenCode {
            worker: profile.id.clone(),
            source,
        };
        let client = OpenCodeClient::new(&url, Duration::from_secs(10))
            .map_err(fail)?
            .with_credentials(login);
        client.health().await.map_err(fail)?;
        let session = client
            .create_session(&format!("Worker: {}", profile.name))
            .await
            .map_err(fail)?;
        Ok(Running {
            process: None,
            adopted: None,
            url: client.base_url().to_owned(),
            client,
            session_id: session.id,
            pid: None,
            fingerprint: fingerprint.to_owned(),
            host: None,
        })
    }

    /// The basic-auth credentials of an agent server, read now from the variable or file
    /// the profile names (so a rotated password is picked up by the next attach).
    fn agent_credentials(
        &self,
        worker: &str,
        server: &AgentServer,
    ) -> Result<Option<Credentials>, WorkerError> {
        let Some(source) = &server.password else {
            return Ok(None);
        };
        let fail = |message: String| WorkerError::Credentials {
            worker: worker.to_owned(),
            message,
        };
        let password = match source {
            PasswordSource::Env(var) => self
                .inner
                .config
                .env
                .get(var)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| {
                    fail(format!(
                        "the agent server's password variable {var} is not set in the backend's environment"
                    ))
                })?,
            PasswordSource::File(path) => read_password_file(path).map_err(fail)?,
        };
        let username = server
            .username
            .clone()
            .unwrap_or_else(|| DEFAULT_USERNAME.to_owned());
        self.inner
            .knowledge
            .redactor()
            .add_basic_auth(&username, &password);
        Ok(Some(Credentials {
            username,
            password: Secret::new(password),
        }))
    }

    async fn stop_running(&self, worker: &str, running: &Running) {
        if running.host.is_some() {
            // A session on a shared host: the host runs on for the other workers, and the
            // session stays (a task of this worker may still run in it); it ends with the
            // host.
            return;
        }
        let grace = self.inner.config.stop_grace;
        if let Some(p) = &running.process {
            p.stop(grace).await;
        } else if let Some(entry) = &running.adopted {
            self.stop_registered(entry).await;
            return;
        }
        if let Some(pid) = running.pid {
            let _ = self.inner.registry.remove(worker, pid);
        }
    }

    /// The prompt's parts; the task's text is moved in, not copied (it may be large).
    fn parts(
        &self,
        worker: &str,
        task: String,
        attachments: &[Attachment],
    ) -> Result<Vec<PartInput>, WorkerError> {
        let mut parts = vec![PartInput::Text { text: task }];
        for (i, a) in attachments.iter().enumerate() {
            let name = a
                .file_name()
                .unwrap_or_else(|| format!("attachment-{}", i + 1));
            let bad = |message: String| WorkerError::Attachment {
                worker: worker.to_owned(),
                name: name.clone(),
                message,
            };
            let data = match (&a.base64, &a.path) {
                (Some(b64), _) => {
                    let clean: String = b64.chars().filter(|c| !c.is_whitespace()).collect();
                    base64::engine::general_purpose::STANDARD
                        .decode(clean.as_bytes())
                        .map_err(|e| bad(format!("invalid base64: {e}")))?;
                    clean
                }
                (None, Some(path)) => {
                    let meta = std::fs::metadata(path)
                        .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
                    if meta.len() > MAX_ATTACHMENT {
                        return Err(bad(format!(
                            "{} bytes is over the {MAX_ATTACHMENT}-byte limit",
                            meta.len()
                        )));
                    }
                    let bytes = std::fs::read(path)
                        .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
                    base64::engine::general_purpose::STANDARD.encode(bytes)
                }
                (None, None) => return Err(bad("give a path or base64 content".into())),
            };
            let mime = a.mime_type();
            parts.push(PartInput::File {
                url: format!("data:{mime};base64,{data}"),
                mime,
                filename: Some(name),
            });
        }
        Ok(parts)
    }

    fn row(&self, knowledge: &Knowledge, profile: &Profile) -> WorkerRow {
        let (spec, policy, overridden) = self.current(profile);
        let resolved = self.resolve_spec(knowledge, profile, &spec, policy);
        let slot = self.slot(&profile.id);
        let st = lock(&slot.state);
        let running = st.running.clone();
        let port = running.as_ref().and_then(|r| {
            r.url
                .rsplit(':')
                .next()
                .and_then(|p| p.trim_end_matches('/').parse().ok())
        });
        let warning = views::fit_warning(knowledge, profile, resolved.as_ref().ok());
        let resolved = match resolved {
            Ok(r) => (Some(r.resolved_model), r.reason),
            Err(e) => (None, e.to_string()),
        };
        WorkerRow {
            warning,
            status: st.status,
            answered_by: st.answered_by.clone(),
            pid: running.as_ref().and_then(|r| r.pid),
            url: running.as_ref().map(|r| r.url.clone()),
            port,
            session_id: running.as_ref().map(|r| r.session_id.clone()),
            error: st.error.clone(),
            fallback: st.fallback.clone(),
            hosting: self.hosting(profile),
            ..views::worker_row(profile, spec.display(), policy, overridden, resolved)
        }
    }

    /// A row's `hosting`: the shared host of a hosted worker and its last event, or why
    /// a `shared` profile runs on a dedicated server.
    fn hosting(&self, profile: &Profile) -> Option<String> {
        if !host::is_hosted(profile) {
            return host::dedicated_because(profile);
        }
        let hosts = lock(&self.inner.hosts);
        let mut text = match hosts.current.as_ref().filter(|h| h.exited().is_none()) {
            Some(h) => format!(
                "on the shared host{} at {}",
                h.pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
                h.url
            ),
            None => "on the shared host (not started)".to_owned(),
        };
        for old in hosts.retiring.iter().filter(|h| h.exited().is_none()) {
            text.push_str(&format!(
                "; a previous host{} finishes the tasks of {}",
                old.pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
                old.busy_workers().join(", ")
            ));
        }
        if let Some(e) = &hosts.last_event {
            text.push_str(&format!("; {e}"));
        }
        Some(text)
    }

    fn save_setting(
        &self,
        worker: &str,
        setting: Option<WorkerSetting>,
    ) -> Result<(), WorkerError> {
        let mut settings = lock(&self.inner.settings);
        let mut next = settings.clone();
        match setting {
            Some(s) => {
                next.workers.insert(worker.to_owned(), s);
            }
            None => {
                next.workers.remove(worker);
            }
        }
        self.inner.store.save(&next)?;
        *settings = next;
        Ok(())
    }

    /// The candidates for a task, in the order they are tried (see [`super::fallback`]).
    fn plan(
        &self,
        knowledge: &Knowledge,
        profile: &Profile,
        spec: &ModelSpec,
        policy: Policy,
        first: Resolution,
    ) -> Plan {
        let health = lock(&self.inner.health).clone();
        fallback::plan(
            &knowledge.resolver,
            &knowledge.profiles.tag_fallback,
            profile,
            spec,
            policy,
            first,
            &health,
            &|provider| self.provider_fingerprint(knowledge, provider),
            self.inner.clock.now_ms(),
        )
    }

    /// What orch knows about a provider's credentials and config, hashed: an auth failure
    /// holds until this changes. It covers the provider's access, key presence and
    /// package, the values of its key variables (hashed, never kept), and the size and
    /// time of `auth.json` and of the OpenCode config files.
    fn provider_fingerprint(&self, knowledge: &Knowledge, provider: &str) -> String {
        let mut text = String::new();
        let env = &self.inner.config.env;
        if let Some(e) = knowledge
            .resolver
            .set()
            .providers
            .iter()
            .find(|p| p.provider.id == provider)
        {
            text.push_str(&format!(
                "{}|{}|{:?}|",
                e.access.label(),
                e.key_present,
                e.provider.npm
            ));
            for var in &e.provider.env {
                let value = env.get(var).map(|v| fnv(v.as_bytes()));
                text.push_str(&format!("{var}={value:?}|"));
            }
        }
        text.push_str(&self.config_files_stamp());
        format!("{:016x}", fnv(text.as_bytes()))
    }

    /// The size and time of `auth.json` and of the OpenCode config files: what an
    /// OpenCode reads when it starts.
    fn config_files_stamp(&self) -> String {
        let mut text = String::new();
        let paths = &self.inner.config.paths;
        for file in [
            paths.auth_file(),
            paths.opencode_config_dir.join("opencode.json"),
            paths.opencode_config_dir.join("opencode.jsonc"),
            paths.project_dir.join("opencode.json"),
            paths.project_dir.join("opencode.jsonc"),
        ] {
            if let Ok(m) = std::fs::metadata(&file) {
                let modified = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_nanos());
                text.push_str(&format!("{}:{}:{modified:?}|", file.display(), m.len()));
            }
        }
        text
    }

    /// Records an attempt's end in the health record, saving it when it changed.
    fn record_health(&self, knowledge: &Knowledge, model: &str, failure: Option<&Classified>) {
        let mut health = lock(&self.inner.health);
        let changed = match failure {
            None => health.succeeded(model),
            Some(c) => {
                let provider = model.split_once('/').map_or(model, |(p, _)| p);
                let fingerprint = self.provider_fingerprint(knowledge, provider);
                health.failed(model, c, &fingerprint, self.inner.clock.now_ms())
            }
        };
        drop(health);
        // The file is written off the task's path (an atomic write syncs the disk, which
        // takes milliseconds): one writer at a time, always the newest record, and
        // `shutdown` flushes it.
        if changed && !self.inner.health_dirty.swap(true, Ordering::SeqCst) {
            let inner = Arc::clone(&self.inner);
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn_blocking(move || save_health(&inner));
                }
                Err(_) => save_health(&inner),
            }
        }
    }

    /// The health record now.
    pub fn health(&self) -> HealthView {
        lock(&self.inner.health).view(
            self.inner.clock.now_ms(),
            Some(self.inner.health_store.path().to_path_buf()),
        )
    }

    /// Clears the health record (and its file).
    pub fn reset_health(&self) -> Result<HealthView, Error> {
        // No background writer may put an older record back after this.
        let _one_writer = lock(&self.inner.health_saving);
        let mut health = lock(&self.inner.health);
        let clean = Health {
            version: super::health::VERSION,
            ..Health::default()
        };
        self.inner.health_store.save(&clean)?;
        *health = clean;
        self.inner.health_dirty.store(false, Ordering::SeqCst);
        drop(health);
        Ok(self.health())
    }

    async fn run_inner(
        &self,
        mut req: RunRequest,
        cancel: CancellationToken,
    ) -> Result<RunOutcome, Failed> {
        let knowledge = self.inner.knowledge.get();
        let profile = self.profile(&knowledge, &req.worker)?;
        let (current, current_policy, _) = self.current(&profile);
        let (spec, policy) = match &req.model {
            Some(m) => (ModelSpec::parse(m), req.policy.unwrap_or(Policy::Dynamic)),
            None => (current, current_policy),
        };
        // Resolve and validate before anything is spawned or sent; a model whose context
        // cannot hold the task is skipped (a tag or chain) or refused (one model).
        let tokens = attachment::estimate_tokens(&req.task, &req.attachments);
        let resolution =
            self.resolve_for_task(&knowledge, &profile, &spec, policy, Some(tokens))?;
        let hosted = host::is_hosted(&profile);
        let mut body = PromptBody {
            parts: self.parts(&profile.id, std::mem::take(&mut req.task), &req.attachments)?,
            model: None,
            // A hosted worker is its own agent on the host (its tool limits).
            agent: if hosted {
                Some(host::agent_name(&profile.id))
            } else {
                profile.agent.clone()
            },
            tools: (!profile.tools.is_empty()).then(|| profile.tools.clone()),
            system: profile.prompt.clone(),
        };
        if let (Some(_), Policy::Sticky) = (&req.model, policy) {
            self.save_setting(
                &profile.id,
                Some(WorkerSetting {
                    model: resolution.model_ref.clone(),
                    policy,
                    set_at: self.inner.clock.now_ms(),
                }),
            )?;
        }
        let plan = self.plan(&knowledge, &profile, &spec, policy, resolution.clone());
        if plan.candidates.is_empty() {
            return Err(WorkerError::Exhausted {
                worker: profile.id.clone(),
                summary: format!("no candidate is left to try: {}", plan.notes.join("; ")),
            }
            .into());
        }
        let slot = self.slot(&profile.id);
        let (running, _host_turn) = tokio::select! {
            r = self.ensure_turn(&knowledge, &profile, &slot, req.force_new, req.auto_spawn) => r?,
            () = cancel.cancelled() => return Err(WorkerError::Cancelled { worker: profile.id.clone() }.into()),
        };
        let host_note = lock(&slot.state).host_note.take();
        let _turn = tokio::select! {
            g = slot.prompt.lock() => g,
            () = cancel.cancelled() => return Err(WorkerError::Cancelled { worker: profile.id.clone() }.into()),
        };
        lock(&slot.state).status = WorkerStatus::Busy;
        let timeout = req.timeout.unwrap_or(self.inner.config.task_timeout);
        let deadline = tokio::time::Instant::now() + timeout;
        let task_started = tokio::time::Instant::now();
        let mut attempts: Vec<Attempt> = Vec::new();
        let mut last_failure = String::new();
        let mut notes = plan.notes.clone();
        for candidate in &plan.candidates {
            let chosen = &candidate.resolution;
            // An auth failure earlier in this task rules out the rest of that provider.
            if attempts.iter().any(|a| a.class == Some(FailureClass::Auth)) {
                let provider = &chosen.metadata.provider;
                let verdict = lock(&self.inner.health).verdict(
                    &chosen.resolved_model,
                    &self.provider_fingerprint(&knowledge, provider),
                    self.inner.clock.now_ms(),
                );
                if let v @ Verdict::Unusable { .. } = verdict {
                    notes.push(format!(
                        "skipped {} ({})",
                        chosen.resolved_model,
                        v.describe()
                    ));
                    continue;
                }
            }
            body.model = Some(ModelChoice {
                provider_id: chosen.metadata.provider.clone(),
                model_id: chosen.metadata.model.clone(),
            });
            let end = self
                .attempt(
                    &profile,
                    &running,
                    &body,
                    &cancel,
                    (deadline, timeout),
                    &chosen.resolved_model,
                )
                .await;
            let elapsed_ms = crate::clock::millis(task_started.elapsed());
            match end {
                AttemptEnd::Answered(reply) => {
                    self.record_health(&knowledge, &chosen.resolved_model, None);
                    let answered_by = reply.answered_by();
                    let usage = crate::usage::Usage::of(
                        reply.info.tokens.as_ref(),
                        reply.info.cost,
                        &chosen.metadata.cost,
                        &chosen.metadata.model,
                        reply.first_token_ms(),
                        reply.answer_ms(),
                    );
                    attempts.push(Attempt {
                        model: chosen.resolved_model.clone(),
                        class: None,
                        status_code: None,
                        elapsed_ms,
                        error: None,
                        answered_by: answered_by.clone(),
                        usage: Some(usage.clone()),
                    });
                    // The task's usage: this answer's figures, the whole task's time.
                    let task_usage = crate::usage::Usage {
                        total_ms: Some(elapsed_ms),
                        ..usage
                    };
                    let mut outcome_resolution = chosen.clone();
                    outcome_resolution.reason =
                        fallback_reason(&resolution, candidate, &attempts, &notes);
                    if let Some(n) = &host_note {
                        outcome_resolution.reason.push_str(&format!("; {n}"));
                    }
                    if let Some(by) = &answered_by
                        && by != &chosen.resolved_model
                    {
                        outcome_resolution.reason.push_str(&format!(
                            "; OpenCode says {by} answered, not {}",
                            chosen.resolved_model
                        ));
                    }
                    let hops = Attempt::hops(&attempts);
                    if attempts.len() == 1 {
                        attempts.clear();
                    }
                    let mut st = lock(&slot.state);
                    st.answered_by.clone_from(&answered_by);
                    st.status = WorkerStatus::Ready;
                    st.error = None;
                    st.fallback = hops;
                    return Ok(RunOutcome {
                        worker: profile.id.clone(),
                        requested_ref: spec.display(),
                        resolution: outcome_resolution,
                        answered_by,
                        output: reply.text(),
                        session_id: running.session_id.clone(),
                        attempts,
                        usage: Some(task_usage),
                    });
                }
                AttemptEnd::Failed(mut c, shown) => {
                    // Provider text may echo a key: it is kept (row, health.json) redacted.
                    if let std::borrow::Cow::Owned(clean) =
                        self.inner.knowledge.redactor().redact(&c.message)
                    {
                        c.message = clean;
                    }
                    tracing::info!(worker = %profile.id, model = %chosen.resolved_model, class = %c.class, "attempt failed: {}", c.message);
                    attempts.push(Attempt {
                        model: chosen.resolved_model.clone(),
                        class: Some(c.class),
                        status_code: c.status_code,
                        elapsed_ms,
                        error: Some(c.message.clone()),
                        answered_by: None,
                        usage: None,
                    });
                    self.record_health(&knowledge, &chosen.resolved_model, Some(&c));
                    if !c.class.falls_back() {
                        let e = WorkerError::Reply {
                            worker: profile.id.clone(),
                            message: shown,
                        };
                        let mut st = lock(&slot.state);
                        st.status = WorkerStatus::Ready;
                        st.error = Some(e.to_string());
                        st.fallback = Attempt::hops(&attempts);
                        if attempts.len() == 1 {
                            attempts.clear();
                        }
                        return Err(Failed { error: e, attempts });
                    }
                    last_failure = shown;
                }
                AttemptEnd::Error(e) => {
                    let mut st = lock(&slot.state);
                    if let WorkerError::HostExited { status, .. } = &e {
                        st.status = WorkerStatus::Failed;
                        st.running = None;
                        if let Some(h) = &running.host {
                            self.host_lost(h, status);
                        }
                    } else if matches!(e, WorkerError::Exited { .. }) {
                        st.status = WorkerStatus::Failed;
                        st.running = None;
                        if let Some(pid) = running.pid {
                            let _ = self.inner.registry.remove(&profile.id, pid);
                        }
                    } else if matches!(
                        e,
                        WorkerError::OpenCode {
                            source: crate::opencode::OpenCodeError::Status { status: 404, .. },
                            ..
                        }
                    ) {
                        // The session is gone (the server restarted or someone deleted it):
                        // the next task opens a new one.
                        st.status = WorkerStatus::Failed;
                        st.running = None;
                    } else {
                        st.status = WorkerStatus::Ready;
                    }
                    st.error = Some(e.to_string());
                    st.fallback = Attempt::hops(&attempts);
                    return Err(Failed { error: e, attempts });
                }
            }
        }
        // Every candidate failed for a reason of its own.
        let summary = attempts
            .iter()
            .map(|a| {
                format!(
                    "{} ({}: {})",
                    a.model,
                    a.short(),
                    a.error.as_deref().unwrap_or("")
                )
            })
            .chain(notes.iter().cloned())
            .collect::<Vec<_>>()
            .join("; ");
        let e = WorkerError::Exhausted {
            worker: profile.id.clone(),
            summary: if summary.is_empty() {
                last_failure
            } else {
                summary
            },
        };
        let mut st = lock(&slot.state);
        st.status = WorkerStatus::Ready;
        st.error = Some(e.to_string());
        st.fallback = Attempt::hops(&attempts);
        Err(Failed { error: e, attempts })
    }

    /// One prompt on one model: its reply, its classified failure (also when orch gave up
    /// on OpenCode's retries or on an answer that never started, aborting the message), or
    /// an error that ends the task (the process died, cancel, timeout, ...).
    async fn attempt(
        &self,
        profile: &Profile,
        running: &Running,
        body: &PromptBody,
        cancel: &CancellationToken,
        (deadline, timeout): (tokio::time::Instant, Duration),
        model: &str,
    ) -> AttemptEnd {
        let span = tracing::info_span!("prompt", worker = %profile.id, model = %model);
        let exit = async {
            match &running.process {
                Some(p) => p.wait_exit().await,
                None => std::future::pending().await,
            }
        };
        let prompt = running
            .client
            .prompt(&running.session_id, body)
            .instrument(span);
        tokio::pin!(prompt);
        let watch = watch(
            &running.client,
            &running.session_id,
            self.inner.config.retry,
        );
        tokio::select! {
            r = &mut prompt => match r {
                Ok(reply) => match reply.info.error.as_ref() {
                    Some(error) => {
                        let c = classify_reply(error);
                        AttemptEnd::Failed(c, reply.error().unwrap_or_default())
                    }
                    None => AttemptEnd::Answered(reply),
                },
                // A dropped connection usually means the process died: give its exit a
                // moment to be noticed so the error says so.
                Err(source) => match running.wait_exited(Duration::from_secs(3)).await {
                    Some(status) => AttemptEnd::Error(self.exited(&profile.id, running, status)),
                    None => match classify_call(&source) {
                        Some(c) => {
                            let shown = source.to_string();
                            AttemptEnd::Failed(c, shown)
                        }
                        None => AttemptEnd::Error(WorkerError::OpenCode { worker: profile.id.clone(), source }),
                    },
                },
            },
            status = exit => AttemptEnd::Error(self.exited(&profile.id, running, status)),
            () = cancel.cancelled() => {
                let _ = running.client.abort(&running.session_id).await;
                AttemptEnd::Error(WorkerError::Cancelled { worker: profile.id.clone() })
            }
            () = tokio::time::sleep_until(deadline) => {
                let _ = running.client.abort(&running.session_id).await;
                AttemptEnd::Error(WorkerError::Timeout { worker: profile.id.clone(), after: timeout })
            }
            c = watch => {
                let _ = running.client.abort(&running.session_id).await;
                // The aborted prompt returns at once; the session takes the next one after.
                let _ = tokio::time::timeout(ABORT_GRACE, &mut prompt).await;
                let shown = c.message.clone();
                AttemptEnd::Failed(c, shown)
            }
        }
    }

    /// Makes sure the worker's OpenCode is running (reusing one when it matches) and returns
    /// its row; no task is sent.
    pub async fn warm(&self, worker: &str) -> Result<WorkerRow, Error> {
        let knowledge = self.inner.knowledge.get();
        let profile = self.profile(&knowledge, worker)?;
        let slot = self.slot(&profile.id);
        let was_running = lock(&slot.state).running.is_some();
        let running = self
            .ensure_running(&knowledge, &profile, &slot, false, true)
            .await?;
        if !was_running {
            prime(&running.client).await;
        }
        Ok(self.row(&knowledge, &profile))
    }

    fn exited(&self, worker: &str, running: &Running, status: String) -> WorkerError {
        if running.host.is_some() {
            return WorkerError::HostExited {
                worker: worker.to_owned(),
                pid: running.pid,
                status,
                output: running
                    .process
                    .as_ref()
                    .map(|p| p.recent_output())
                    .unwrap_or_default(),
            };
        }
        WorkerError::Exited {
            worker: worker.to_owned(),
            pid: running.pid,
            status,
            output: running
                .process
                .as_ref()
                .map(|p| p.recent_output())
                .unwrap_or_default(),
        }
    }

    async fn set_inner(&self, req: SetModelRequest) -> Result<WorkerRow, WorkerError> {
        let knowledge = self.inner.knowledge.get();
        let profile = self.profile(&knowledge, &req.worker)?;
        // Validate first: on error nothing changes. A chain (`a, b, c`) is kept whole.
        let spec = ModelSpec::parse(&req.model);
        let resolution = self.resolve_spec(&knowledge, &profile, &spec, req.policy)?;
        if !req.force {
            knowledge
                .resolver
                .check_fit(&resolution, &profile, None)
                .map_err(|source| WorkerError::Resolve {
                    worker: profile.id.clone(),
                    source,
                })?;
        }
        self.apply_inner(&knowledge, &profile, req, resolution)
            .await
    }

    /// Saves a change whose reference resolved (`resolution`), and respawns on request.
    async fn apply_inner(
        &self,
        knowledge: &Knowledge,
        profile: &Profile,
        req: SetModelRequest,
        resolution: Resolution,
    ) -> Result<WorkerRow, WorkerError> {
        let previous = self.setting(&profile.id);
        self.save_setting(
            &profile.id,
            Some(WorkerSetting {
                model: resolution.model_ref,
                policy: req.policy,
                set_at: self.inner.clock.now_ms(),
            }),
        )?;
        if req.respawn {
            let slot = self.slot(&profile.id);
            if let Err(e) = self
                .ensure_running(knowledge, profile, &slot, true, true)
                .await
            {
                // The worker could not be restarted on the new model: keep the old one.
                self.save_setting(&profile.id, previous)?;
                return Err(e);
            }
        }
        Ok(self.row(knowledge, profile))
    }

    async fn reset_inner(&self, worker: &str) -> Result<WorkerRow, WorkerError> {
        let knowledge = self.inner.knowledge.get();
        let profile = self.profile(&knowledge, worker)?;
        self.save_setting(&profile.id, None)?;
        Ok(self.row(&knowledge, &profile))
    }
}

impl<S: Spawner, C: Clock> WorkerService for Manager<S, C> {
    async fn run(&self, req: RunRequest, cancel: CancellationToken) -> Result<RunOutcome, Error> {
        self.run_inner(req, cancel).await.map_err(|f| {
            let mut e = Error::from(f.error);
            e.attempts = f.attempts;
            e
        })
    }

    fn health(&self) -> HealthView {
        Manager::health(self)
    }

    fn reset_health(&self) -> Result<HealthView, Error> {
        Manager::reset_health(self)
    }

    async fn set_model(&self, req: SetModelRequest) -> Result<WorkerRow, Error> {
        self.set_inner(req).await.map_err(Error::from)
    }

    async fn apply_model(
        &self,
        req: SetModelRequest,
        resolution: Resolution,
    ) -> Result<WorkerRow, Error> {
        let knowledge = self.inner.knowledge.get();
        let profile = self.profile(&knowledge, &req.worker)?;
        self.apply_inner(&knowledge, &profile, req, resolution)
            .await
            .map_err(Error::from)
    }

    async fn reset_model(&self, worker: &str) -> Result<WorkerRow, Error> {
        self.reset_inner(worker).await.map_err(Error::from)
    }

    async fn warm(&self, worker: &str) -> Result<WorkerRow, Error> {
        Manager::warm(self, worker).await
    }

    async fn workers(&self) -> WorkersView {
        let knowledge = self.inner.knowledge.get();
        WorkersView {
            workers: knowledge
                .profiles
                .list
                .iter()
                .map(|p| self.row(&knowledge, p))
                .collect(),
            ..WorkersView::default()
        }
    }

    fn warnings(&self) -> Vec<String> {
        Manager::warnings(self)
    }

    fn knowledge(&self) -> Knowledge {
        self.inner.knowledge.get()
    }

    fn redactor(&self) -> Redactor {
        self.inner.knowledge.redactor().clone()
    }

    async fn shutdown(&self) {
        save_health(&self.inner);
        let slots: Vec<(String, Arc<Slot>)> = lock(&self.inner.slots)
            .iter()
            .map(|(k, v)| (k.clone(), Arc::clone(v)))
            .collect();
        for (worker, slot) in slots {
            let running = {
                let mut st = lock(&slot.state);
                if !self.inner.config.keep_workers {
                    st.status = WorkerStatus::Stopped;
                    st.running.take()
                } else {
                    None
                }
            };
            if let Some(r) = running {
                self.stop_running(&worker, &r).await;
            }
        }
        if !self.inner.config.keep_workers {
            let hosts = {
                let mut hosts = lock(&self.inner.hosts);
                let all = hosts.all();
                hosts.current = None;
                hosts.retiring.clear();
                all
            };
            for h in hosts {
                h.stop().await;
            }
        }
    }
}
