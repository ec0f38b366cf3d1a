//! Exit codes: documented here, asserted by the CLI tests.

/// Success.
pub const OK: u8 = 0;
/// The command ran and failed (bad reference, unknown worker, broken config, backend down).
pub const FAILURE: u8 = 1;
/// The command line itself was wrong (clap's usage errors).
pub const USAGE: u8 = 2;
/// A budget in `orchestrator.json` is spent: the task was refused (issue 12).
pub const BUDGET: u8 = 3;
