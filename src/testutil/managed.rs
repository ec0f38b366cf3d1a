//! A project on the captured setup (`capture_home`) with a fake spawner: what the manager's
//! integration tests (`tests/workers.rs`, `hosting.rs`, `usage.rs`, `fallback.rs`) start
//! their managers on. Each test file wraps it in its own `Setup` for what only it needs.

use std::time::Duration;

use crate::knowledge::Knowledge;
use crate::paths::{Environment, Paths};
use crate::profiles::load_orchestrator;
use crate::sources::local::LocalSource;
use crate::workers::ManagerConfig;
use crate::workers::failure::RetryRule;

use super::capture_home;
use super::fake_spawner::FakeSpawner;

/// A temporary project and home with the captured OpenCode setup, and a fake spawner.
pub struct FakeProject {
    _dir: tempfile::TempDir,
    /// Its paths.
    pub paths: Paths,
    /// Its environment.
    pub env: Environment,
    /// The spawner its managers use (shared: clones see the same processes).
    pub spawner: FakeSpawner,
}

impl FakeProject {
    /// A new one in a temporary directory.
    #[expect(clippy::expect_used, reason = "test helper")]
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir is created");
        let (paths, env) = capture_home(dir.path());
        Self {
            _dir: dir,
            paths,
            env,
            spawner: FakeSpawner::new(),
        }
    }

    /// The knowledge its files give now (the local source and `orchestrator.json`).
    #[expect(clippy::expect_used, reason = "test helper")]
    pub fn knowledge(&self) -> Knowledge {
        let set = LocalSource::new(self.paths.clone(), self.env.clone())
            .load_now()
            .expect("the source loads");
        let profiles = load_orchestrator(&self.paths, &self.env).expect("the orchestrator loads");
        Knowledge::new(set, profiles)
    }

    /// A manager configuration from its environment, stopping workers within 500 ms.
    pub fn config(&self) -> ManagerConfig {
        let mut c = ManagerConfig::from_env(self.paths.clone(), self.env.clone());
        c.stop_grace = Duration::from_millis(500);
        c
    }

    /// [`Self::config`] with the retry rule of the fallback and usage tests: OpenCode's own
    /// retries are not waited for, and an answer not started after 300 ms is a failure
    /// (polled every 20 ms), so a failing model moves on at once.
    pub fn fallback_config(&self) -> ManagerConfig {
        let mut c = self.config();
        c.retry = RetryRule {
            max_retries: 0,
            max_wait: Duration::from_secs(10),
            answer_start: Duration::from_millis(300),
            poll: Duration::from_millis(20),
        };
        c
    }
}

impl Default for FakeProject {
    fn default() -> Self {
        Self::new()
    }
}
