//! The shared OpenCode host: one `opencode serve` that runs the sessions of every worker
//! whose profile has `backend: "shared"` (the default) and does not delegate.
//!
//! Each hosted worker is an OpenCode agent of the host, `orch-<worker id>`, generated from
//! its profile (description, tool switches, and a `permission` deny for `edit`, `bash` and
//! `webfetch` when the profile switches that tool off); every prompt names the worker's
//! agent and carries its resolved model and the profile's prompt as `system`, as a
//! dedicated worker's does, so no model is part of the host's configuration and neither a
//! model change nor a prompt change restarts it. An agent's `prompt` would replace
//! OpenCode's own system prompt (a dedicated worker keeps it), so the agent has none.
//!
//! OpenCode's subagents do not inherit an agent's tool switches (seen on 1.18.34: a docs
//! agent without `edit` had the `general` subagent edit a file through `task`), so an agent
//! with any tool switched off also gets `task` off: its limits cannot be escaped that way.
//!
//! There is one host per orch backend, and a backend is one project in one environment
//! (`Paths::backend_key`). So the host runs in the project's directory with the backend's
//! environment, exactly as a dedicated worker would: no request needs
//! `x-opencode-directory`, and no key, config file or `OPENCODE_CONFIG_CONTENT` of one
//! project or shell ever reaches a worker of another (a per-user host would load one
//! project's `opencode.json` and one shell's keys for every project).
//!
//! This file holds the values (the host's configuration, its fingerprint, what changed)
//! and the bookkeeping of a running host (which workers have a task on it, retiring it
//! when they end); the manager spawns it through the same path as a dedicated worker.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::registry::Registry;
use super::spawn::Process;
use crate::opencode::OpenCodeClient;
use crate::profiles::{BackendKind, Profile};

/// The name of the host's entries in the registry of running processes (`workers.json`).
/// Not a valid worker id, so no worker ever adopts it as its own.
pub const HOST_ENTRY: &str = "@shared-host";

/// Tools whose switch-off is also denied as an OpenCode permission on the host's agent.
const DENIED_WHEN_OFF: [&str; 3] = ["edit", "bash", "webfetch"];

/// Whether a profile's worker runs on the shared host: backend `shared` and no delegation
/// (a delegating worker needs a process of its own, with its `ORCH_DELEGATION_DEPTH` and
/// orch's MCP entry left on).
pub fn is_hosted(profile: &Profile) -> bool {
    profile.backend == BackendKind::Shared && !profile.delegate
}

/// Why a `shared` profile runs on a dedicated server instead, when it does.
pub fn dedicated_because(profile: &Profile) -> Option<&'static str> {
    (profile.backend == BackendKind::Shared && profile.delegate).then_some(
        "runs on a dedicated server: it delegates, which needs a process environment of its own (ORCH_DELEGATION_DEPTH and orch's MCP entry on)",
    )
}

/// The OpenCode agent of a hosted worker.
pub fn agent_name(worker: &str) -> String {
    format!("orch-{worker}")
}

/// The agent definition of one hosted profile: `primary`, so no other agent can call it
/// as a subagent; its tool switches, with `task` off too when any tool is off (see the
/// module's documentation), and the matching permissions denied.
pub fn agent_config(profile: &Profile) -> Value {
    let mut agent = json!({
        "description": if profile.purpose.is_empty() { profile.name.clone() } else { profile.purpose.clone() },
        "mode": "primary",
    });
    let mut tools = profile.tools.clone();
    let limited = tools.values().any(|on| !on);
    if limited {
        tools.insert("task".to_owned(), false);
    }
    if !tools.is_empty() {
        agent["tools"] = json!(tools);
    }
    let denied: serde_json::Map<String, Value> = DENIED_WHEN_OFF
        .iter()
        .filter(|t| profile.tools.get(**t) == Some(&false))
        .map(|t| ((*t).to_owned(), json!("deny")))
        .chain(limited.then(|| ("task".to_owned(), json!("deny"))))
        .collect();
    if !denied.is_empty() {
        agent["permission"] = Value::Object(denied);
    }
    agent
}

/// The configuration of a host: its `OPENCODE_CONFIG_CONTENT` and what it is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// `OPENCODE_CONFIG_CONTENT`.
    pub content: String,
    /// Digest of the whole configuration (content and `files`): a host is reused only
    /// when this matches.
    pub fingerprint: String,
    /// Digest of each hosted worker's agent, by worker id.
    agents: BTreeMap<String, u64>,
    /// Digest of the rest: the user's inline config, orch's MCP overlay, the OpenCode
    /// config files and credentials the host read when it started.
    base: u64,
}

impl HostConfig {
    /// The host's configuration: the user's inline config (`base`), an agent for every
    /// hosted profile, and the MCP overlay that keeps orch's own entries off
    /// ([`super::isolation::mcp_overlay`]). `files` describes the OpenCode config files
    /// and credentials (size and time), so a change to them starts a new host.
    pub fn new(mut base: Value, profiles: &[Profile], mcp: Option<Value>, files: &str) -> Self {
        if !base.is_object() {
            base = json!({});
        }
        let mut overlay = json!({});
        let mut agents = BTreeMap::new();
        let mut defined = serde_json::Map::new();
        for p in profiles.iter().filter(|p| is_hosted(p)) {
            let agent = agent_config(p);
            agents.insert(p.id.clone(), fnv(agent.to_string().as_bytes()));
            defined.insert(agent_name(&p.id), agent);
        }
        if !defined.is_empty() {
            overlay["agent"] = Value::Object(defined);
        }
        if let Some(mcp) = mcp.clone() {
            overlay["mcp"] = mcp;
        }
        let base_digest = fnv(format!("{base}|{}|{files}", mcp.unwrap_or(Value::Null)).as_bytes());
        crate::sources::config::merge(&mut base, overlay);
        let content = base.to_string();
        let fingerprint = format!("{:016x}", fnv(format!("{content}|{files}").as_bytes()));
        Self {
            content,
            fingerprint,
            agents,
            base: base_digest,
        }
    }

    /// What differs from `old`, in words: `profile docs changed`, `profile qa added`,
    /// `the OpenCode config changed`.
    pub fn change_from(&self, old: &Self) -> String {
        let mut changes = Vec::new();
        for (id, digest) in &self.agents {
            match old.agents.get(id) {
                None => changes.push(format!("profile {id} added")),
                Some(d) if d != digest => changes.push(format!("profile {id} changed")),
                Some(_) => {}
            }
        }
        for id in old
            .agents
            .keys()
            .filter(|id| !self.agents.contains_key(*id))
        {
            changes.push(format!("profile {id} removed"));
        }
        if self.base != old.base {
            changes.push("the OpenCode config changed".into());
        }
        if changes.is_empty() {
            "its configuration changed".into()
        } else {
            changes.join(", ")
        }
    }
}

/// FNV-1a, stable across builds.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A running shared host.
#[derive(Debug)]
pub struct Host {
    /// The `opencode serve` process.
    pub process: Arc<dyn Process>,
    /// Its API (control calls; prompts wait as long as they need).
    pub client: OpenCodeClient,
    /// Its URL.
    pub url: String,
    /// Its OpenCode pid.
    pub pid: Option<u32>,
    /// The configuration it was started with.
    pub config: HostConfig,
    /// Workers with a task on it now, and how many each.
    busy: Mutex<BTreeMap<String, usize>>,
    /// Set when a newer host replaced it: it stops when its last task ends.
    retired: AtomicBool,
    /// How long it gets between SIGTERM and SIGKILL.
    grace: Duration,
    /// Where it is registered.
    registry: Registry,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Host {
    /// A host over a started process.
    pub fn new(
        process: Arc<dyn Process>,
        client: OpenCodeClient,
        config: HostConfig,
        grace: Duration,
        registry: Registry,
    ) -> Self {
        Self {
            url: process.url().to_owned(),
            pid: process.pid(),
            process,
            client,
            config,
            busy: Mutex::new(BTreeMap::new()),
            retired: AtomicBool::new(false),
            grace,
            registry,
        }
    }

    /// `Some(status)` once its process has exited.
    pub fn exited(&self) -> Option<String> {
        self.process.exit_status()
    }

    /// The workers with a task on it, sorted (empty when none).
    pub fn busy_workers(&self) -> Vec<String> {
        lock(&self.busy).keys().cloned().collect()
    }

    /// Marks a task of `worker` on it; the turn ends when dropped.
    pub fn turn(self: &Arc<Self>, worker: &str) -> HostTurn {
        *lock(&self.busy).entry(worker.to_owned()).or_default() += 1;
        HostTurn {
            host: Arc::clone(self),
            worker: worker.to_owned(),
        }
    }

    /// Whether a newer host replaced it.
    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::SeqCst)
    }

    /// Retires it: it is stopped now when no task runs on it, else when its last one ends.
    pub async fn retire(self: &Arc<Self>) {
        self.retired.store(true, Ordering::SeqCst);
        if lock(&self.busy).is_empty() {
            self.stop().await;
        }
    }

    /// Stops its process group and forgets its registry entry.
    pub async fn stop(&self) {
        self.process.stop(self.grace).await;
        if let Some(pid) = self.pid {
            let _ = self.registry.remove(HOST_ENTRY, pid);
        }
        tracing::info!(pid = ?self.pid, "shared host stopped");
    }
}

/// One task's use of a host: while any is held, a configuration change starts a second
/// host instead of restarting this one.
#[derive(Debug)]
pub struct HostTurn {
    host: Arc<Host>,
    worker: String,
}

impl Drop for HostTurn {
    fn drop(&mut self) {
        let idle = {
            let mut busy = lock(&self.host.busy);
            if let Some(n) = busy.get_mut(&self.worker) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    busy.remove(&self.worker);
                }
            }
            busy.is_empty()
        };
        if idle && self.host.is_retired() && self.host.exited().is_none() {
            let host = Arc::clone(&self.host);
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { host.stop().await });
            }
        }
    }
}

/// The hosts of one manager: the one new hosted sessions open on, and older ones still
/// finishing tasks.
#[derive(Debug, Default)]
pub struct Hosts {
    /// The host for new sessions.
    pub current: Option<Arc<Host>>,
    /// Replaced hosts that still run a task.
    pub retiring: Vec<Arc<Host>>,
    /// What happened to the host last (`restarted the shared host: ...`).
    pub last_event: Option<String>,
    /// Why the next host starts, when the last one was lost (for the reason of the task
    /// that starts it).
    pub lost: Option<String>,
}

impl Hosts {
    /// Every host that still runs.
    pub fn all(&self) -> Vec<Arc<Host>> {
        self.current
            .iter()
            .chain(self.retiring.iter())
            .filter(|h| h.exited().is_none())
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::Profiles;

    fn builtins() -> Vec<Profile> {
        Profiles::builtin().list
    }

    #[test]
    fn every_builtin_profile_is_an_agent_with_its_tool_limits() {
        let c = HostConfig::new(json!({}), &builtins(), None, "");
        let v: Value = serde_json::from_str(&c.content).expect("the content is JSON");
        let agents = v["agent"].as_object().expect("agents");
        assert_eq!(agents.len(), 6, "{agents:?}");
        let docs = &v["agent"]["orch-docs"];
        assert_eq!(docs["tools"]["edit"], json!(false));
        assert_eq!(docs["permission"]["edit"], json!("deny"));
        assert_eq!(docs["permission"]["bash"], json!("deny"));
        assert!(docs["permission"].get("webfetch").is_none(), "{docs}");
        // Subagents would not inherit the limits: `task` is off with them.
        assert_eq!(docs["tools"]["task"], json!(false));
        assert_eq!(docs["permission"]["task"], json!("deny"));
        assert!(v["agent"]["orch-coder"].get("permission").is_none());
        assert!(v["agent"]["orch-coder"].get("tools").is_none());
        assert!(v.get("model").is_none(), "no model is baked into the host");
        for a in agents.values() {
            assert!(a.get("model").is_none(), "{a}");
        }
    }

    #[test]
    fn delegating_and_dedicated_profiles_are_not_hosted() {
        let mut list = builtins();
        list[0].delegate = true;
        let delegating = list[0].id.clone();
        list[1].backend = BackendKind::Server;
        let dedicated = list[1].id.clone();
        assert!(dedicated_because(&list[0]).is_some());
        assert!(dedicated_because(&list[1]).is_none());
        let c = HostConfig::new(json!({}), &list, None, "");
        let v: Value = serde_json::from_str(&c.content).expect("JSON");
        assert_eq!(v["agent"].as_object().map(|a| a.len()), Some(4));
        assert!(v["agent"].get(agent_name(&delegating)).is_none());
        assert!(v["agent"].get(agent_name(&dedicated)).is_none());
    }

    #[test]
    fn the_user_config_and_the_overlay_merge_and_changes_are_named() {
        let user =
            json!({"mcp": {"orch": {"type": "local", "command": ["orch", "mcp"]}}, "theme": "x"});
        let overlay = json!({"orch": {"enabled": false}});
        let a = HostConfig::new(user.clone(), &builtins(), Some(overlay.clone()), "f1");
        let v: Value = serde_json::from_str(&a.content).expect("JSON");
        assert_eq!(v["mcp"]["orch"]["enabled"], json!(false));
        assert_eq!(v["theme"], json!("x"));
        let same = HostConfig::new(user.clone(), &builtins(), Some(overlay.clone()), "f1");
        assert_eq!(a.fingerprint, same.fingerprint);

        let mut prompted = builtins();
        if let Some(docs) = prompted.iter_mut().find(|p| p.id == "docs") {
            docs.prompt = Some("be brief".into());
        }
        let same_agents = HostConfig::new(user.clone(), &prompted, Some(overlay.clone()), "f1");
        assert_eq!(
            a.fingerprint, same_agents.fingerprint,
            "the prompt rides on each message"
        );
        let mut changed = builtins();
        if let Some(docs) = changed.iter_mut().find(|p| p.id == "docs") {
            docs.tools.insert("webfetch".into(), false);
        }
        let b = HostConfig::new(user.clone(), &changed, Some(overlay.clone()), "f1");
        assert_ne!(a.fingerprint, b.fingerprint);
        assert_eq!(b.change_from(&a), "profile docs changed");

        let c = HostConfig::new(user, &builtins(), Some(overlay), "f2");
        assert_eq!(c.change_from(&a), "the OpenCode config changed");
        let fewer: Vec<Profile> = builtins()
            .into_iter()
            .filter(|p| p.id != "memory")
            .collect();
        let d = HostConfig::new(json!({}), &fewer, None, "");
        let e = HostConfig::new(json!({}), &builtins(), None, "");
        assert_eq!(d.change_from(&e), "profile memory removed");
        assert_eq!(e.change_from(&d), "profile memory added");
    }
}
