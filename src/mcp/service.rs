//! Which worker service a backend runs: [`default_service`] is the one place that
//! chooses it (the worker manager over real OpenCode processes).

use crate::error::Error;
use crate::paths::{Environment, Paths};
use crate::redact::Redactor;
use crate::workers::WorkerService;

/// The service `orch serve` uses: the worker manager, configured from the environment
/// (`ORCH_OPENCODE_BIN`, `ORCH_AGENT_URL`, timeouts; see `docs/workers.md`). It reloads
/// OpenCode's and orch's files when they change.
/// `redactor` learns every secret the service knows; give the one the log writer uses.
pub fn default_service(
    paths: &Paths,
    env: &Environment,
    redactor: &Redactor,
) -> Result<impl WorkerService, Error> {
    crate::workers::Manager::start_redacting(
        crate::workers::ManagerConfig::from_env(paths.clone(), env.clone()),
        redactor.clone(),
    )
}
