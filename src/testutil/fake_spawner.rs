//! A fake process spawner: each "OpenCode" is a [`FakeOpenCode`] HTTP server in this
//! process plus a real `sleep` process standing in for its pid, so liveness checks,
//! process groups and kills behave as with the real thing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::sync::watch;

use super::fake_opencode::{FakeOpenCode, Recorded};
use super::lock;
use crate::clock::FakeClock;
use crate::knowledge::{Knowledge, KnowledgeSource};
use crate::paths::{Environment, Paths};
use crate::workers::WorkerError;
use crate::workers::spawn::{BoxFuture, Process, SpawnSpec, Spawner};
use crate::workers::{Manager, ManagerConfig};

#[derive(Debug, Default)]
struct Log {
    specs: Vec<SpawnSpec>,
    servers: Vec<Arc<FakeOpenCode>>,
    pgids: Vec<u32>,
    spawn_delay: Duration,
    prompt_delay: Duration,
    fail: Option<String>,
    faults: Faults,
}

/// How models fail on every fake server, present and future.
#[derive(Debug, Default, Clone)]
struct Faults {
    errors: std::collections::BTreeMap<String, serde_json::Value>,
    retrying: std::collections::BTreeMap<String, String>,
    hanging: std::collections::BTreeSet<String>,
    answer_as: std::collections::BTreeMap<String, (String, String)>,
    costs: std::collections::BTreeMap<String, f64>,
}

impl Faults {
    fn apply(&self, fake: &FakeOpenCode) {
        let mut st = fake.state();
        st.error_models.clone_from(&self.errors);
        st.retry_models.clone_from(&self.retrying);
        st.hang_models.clone_from(&self.hanging);
        st.answer_as.clone_from(&self.answer_as);
        st.reported_cost.clone_from(&self.costs);
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        // Every stand-in process a test started, stopped.
        for pgid in &self.pgids {
            if let Ok(raw) = i32::try_from(*pgid) {
                let _ = killpg(Pid::from_raw(raw), Signal::SIGKILL);
            }
        }
    }
}

/// The fake spawner; clones share their log.
#[derive(Debug, Clone, Default)]
pub struct FakeSpawner {
    log: Arc<Mutex<Log>>,
}

impl FakeSpawner {
    /// A new fake spawner.
    pub fn new() -> Self {
        Self::default()
    }

    /// The real worker manager over this spawner: the knowledge of `paths` and `env`
    /// (read once), a fake clock, workers given half a second to stop. What the TUI and
    /// MCP tests drive when they want the manager's own behaviour.
    #[expect(clippy::expect_used, reason = "test set-up")]
    pub fn manager(&self, paths: &Paths, env: &Environment) -> Manager<Self, FakeClock> {
        let knowledge = Knowledge::load_local(paths, env).expect("the test's knowledge");
        let mut config = ManagerConfig::from_env(paths.clone(), env.clone());
        config.stop_grace = Duration::from_millis(500);
        Manager::new(
            config,
            KnowledgeSource::fixed(knowledge),
            self.clone(),
            FakeClock::at(1_800_000_000_000),
        )
    }

    /// How many processes were spawned.
    pub fn spawn_count(&self) -> usize {
        lock(&self.log).specs.len()
    }

    /// How many shared hosts were spawned (specs whose worker is `<id> (shared host)`).
    pub fn host_spawn_count(&self) -> usize {
        lock(&self.log)
            .specs
            .iter()
            .filter(|s| s.worker.ends_with("(shared host)"))
            .count()
    }

    /// Kills the stand-in process of the `index`th spawn with SIGKILL (its fake server
    /// stops answering), as a crash or `kill -9` would.
    pub fn kill(&self, index: usize) {
        let pgid = lock(&self.log).pgids.get(index).copied();
        if let Some(raw) = pgid.and_then(|p| i32::try_from(p).ok()) {
            let _ = killpg(Pid::from_raw(raw), Signal::SIGKILL);
        }
    }

    /// The specs of every spawn.
    pub fn specs(&self) -> Vec<SpawnSpec> {
        lock(&self.log).specs.clone()
    }

    /// The fake servers, in spawn order.
    pub fn servers(&self) -> Vec<Arc<FakeOpenCode>> {
        lock(&self.log).servers.clone()
    }

    /// Every prompt every fake server received, in spawn order.
    pub fn prompts(&self) -> Vec<Recorded> {
        self.servers().iter().flat_map(|s| s.prompts()).collect()
    }

    /// Makes each spawn take this long (to widen races).
    pub fn set_spawn_delay(&self, d: Duration) {
        lock(&self.log).spawn_delay = d;
    }

    /// Makes prompts on servers spawned from now on take this long.
    pub fn set_prompt_delay(&self, d: Duration) {
        lock(&self.log).prompt_delay = d;
    }

    /// Makes the next spawns fail with this message (as an exit before ready).
    pub fn fail_with(&self, message: Option<&str>) {
        lock(&self.log).fail = message.map(str::to_owned);
    }

    fn faults(&self, change: impl FnOnce(&mut Faults)) {
        let (faults, servers) = {
            let mut log = lock(&self.log);
            change(&mut log.faults);
            (log.faults.clone(), log.servers.clone())
        };
        for server in servers {
            faults.apply(&server);
        }
    }

    /// Makes every prompt for `model` (`provider/model`) end with OpenCode's `info.error`
    /// `error` (for example a capture's), on every fake server.
    pub fn fail_model(&self, model: &str, error: serde_json::Value) {
        self.faults(|f| {
            f.errors.insert(model.to_owned(), error);
        });
    }

    /// Makes OpenCode keep retrying prompts for `model` (session status `retry` with
    /// `message`) until they are aborted.
    pub fn retry_model(&self, model: &str, message: &str) {
        self.faults(|f| {
            f.retrying.insert(model.to_owned(), message.to_owned());
        });
    }

    /// Makes prompts for `model` never start an answer until they are aborted.
    pub fn hang_model(&self, model: &str) {
        self.faults(|f| {
            f.hanging.insert(model.to_owned());
        });
    }

    /// Makes replies for `model` say `other` (`provider/model`) answered.
    pub fn answer_as(&self, model: &str, other: &str) {
        let (p, m) = other.split_once('/').unwrap_or((other, ""));
        self.faults(|f| {
            f.answer_as
                .insert(model.to_owned(), (p.to_owned(), m.to_owned()));
        });
    }

    /// Makes replies for `model` report `cost` US dollars in `info.cost`.
    pub fn report_cost(&self, model: &str, cost: f64) {
        self.faults(|f| {
            f.costs.insert(model.to_owned(), cost);
        });
    }

    /// Makes `model` answer normally again.
    pub fn heal_model(&self, model: &str) {
        self.faults(|f| {
            f.errors.remove(model);
            f.retrying.remove(model);
            f.hanging.remove(model);
        });
    }
}

/// A fake worker process.
#[derive(Debug)]
pub struct FakeProcess {
    fake: Arc<FakeOpenCode>,
    url: String,
    pid: u32,
    exit: watch::Receiver<Option<String>>,
    kill_on_drop: bool,
}

impl Spawner for FakeSpawner {
    async fn spawn(&self, spec: SpawnSpec) -> Result<Arc<dyn Process>, WorkerError> {
        let (delay, prompt_delay, fail, faults) = {
            let mut log = lock(&self.log);
            log.specs.push(spec.clone());
            (
                log.spawn_delay,
                log.prompt_delay,
                log.fail.clone(),
                log.faults.clone(),
            )
        };
        tokio::time::sleep(delay).await;
        if let Some(output) = fail {
            return Err(WorkerError::Exited {
                worker: spec.worker,
                pid: None,
                status: "exit status 1".into(),
                output,
            });
        }
        let spawn_err = |source: std::io::Error| WorkerError::Spawn {
            worker: spec.worker.clone(),
            program: None,
            source,
        };
        let fake = Arc::new(FakeOpenCode::start().await.map_err(spawn_err)?);
        fake.state().prompt_delay = prompt_delay;
        // The agents its config defines (OpenCode's own are always there).
        let content = spec
            .env
            .iter()
            .find(|(k, _)| k == "OPENCODE_CONFIG_CONTENT")
            .and_then(|(_, v)| serde_json::from_str::<serde_json::Value>(v).ok());
        if let Some(defined) = content
            .as_ref()
            .and_then(|c| c.get("agent"))
            .and_then(serde_json::Value::as_object)
        {
            fake.state().agents = Some(
                ["build", "plan", "general", "explore"]
                    .into_iter()
                    .map(str::to_owned)
                    .chain(defined.keys().cloned())
                    .collect(),
            );
        }
        faults.apply(&fake);
        let mut child = tokio::process::Command::new("sleep")
            .arg("3600")
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .spawn()
            .map_err(spawn_err)?;
        let pid = child.id().unwrap_or(0);
        lock(&self.log).pgids.push(pid);
        lock(&self.log).servers.push(Arc::clone(&fake));
        let (tx, rx) = watch::channel(None);
        let watched = Arc::clone(&fake);
        tokio::spawn(async move {
            let status = match child.wait().await {
                Ok(s) => format!("{s}"),
                Err(e) => e.to_string(),
            };
            watched.shutdown();
            let _ = tx.send(Some(status));
        });
        Ok(Arc::new(FakeProcess {
            url: fake.url(),
            fake,
            pid,
            exit: rx,
            kill_on_drop: spec.die_with_parent,
        }))
    }
}

impl FakeProcess {
    fn kill(&self, signal: Signal) {
        if let Ok(raw) = i32::try_from(self.pid) {
            let _ = killpg(Pid::from_raw(raw), signal);
        }
    }
}

impl Process for FakeProcess {
    fn pid(&self) -> Option<u32> {
        Some(self.pid)
    }

    fn pgid(&self) -> Option<u32> {
        Some(self.pid)
    }

    fn url(&self) -> &str {
        &self.url
    }

    fn exit_status(&self) -> Option<String> {
        self.exit.borrow().clone()
    }

    fn wait_exit(&self) -> BoxFuture<'_, String> {
        crate::workers::spawn::wait_for_exit(&self.exit)
    }

    fn recent_output(&self) -> String {
        format!("fake opencode server listening on {}", self.url)
    }

    fn stop(&self, grace: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.fake.shutdown();
            self.kill(Signal::SIGTERM);
            let _ = tokio::time::timeout(grace, self.wait_exit()).await;
        })
    }
}

impl Drop for FakeProcess {
    fn drop(&mut self) {
        if self.kill_on_drop {
            self.fake.shutdown();
            self.kill(Signal::SIGKILL);
        }
    }
}
