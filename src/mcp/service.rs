//! Which worker service a backend runs: [`default_service`] is the one place that
//! chooses it (the worker manager over real OpenCode processes).

use std::path::PathBuf;

use crate::error::Error;
use crate::paths::{Environment, Paths};
use crate::redact::Redactor;
use crate::workers::WorkerService;

/// The service `orch serve` uses: the worker manager, configured from the environment
/// (`ORCH_OPENCODE_BIN`, `ORCH_AGENT_URL`, timeouts; see `docs/workers.md`). It reloads
/// OpenCode's and orch's files when they change. `guard` is the `orch` executable whose
/// `__guard` subcommand watches each worker (`None`: the `/bin/sh` guard; see
/// `docs/workers.md`, "No orphans"). `redactor` learns every secret the service knows;
/// give the one the log writer uses. `socket` is where the backend listens: its workers'
/// own `orch` clients are sent there (`ORCH_SOCKET`).
pub fn default_service(
    paths: &Paths,
    env: &Environment,
    guard: Option<PathBuf>,
    redactor: &Redactor,
    socket: Option<PathBuf>,
) -> Result<impl WorkerService, Error> {
    let mut config = crate::workers::ManagerConfig::from_env(paths.clone(), env.clone());
    config.guard_bin = guard;
    config.backend_socket = socket;
    crate::workers::Manager::start_redacting(config, redactor.clone())
}
