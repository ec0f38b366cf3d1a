//! Access to the real components for end-to-end tests: the OpenCode binary
//! (`ORCH_OPENCODE_BIN`) and a Python with the official MCP SDK (`ORCH_PYTHON`).
//!
//! Without the variable a test prints that it was skipped and why, and passes; with
//! `ORCH_REQUIRE_REAL=1` (set by `scripts/test`) a missing component fails the test, so CI
//! never skips them silently.

use std::path::PathBuf;

fn component(var: &str, test: &str, what: &str) -> Option<PathBuf> {
    let required = std::env::var("ORCH_REQUIRE_REAL").is_ok_and(|v| v == "1");
    match std::env::var_os(var).map(PathBuf::from) {
        Some(path) if path.is_file() => Some(path),
        Some(path) => {
            assert!(!required, "{test}: {var}={} does not exist", path.display());
            eprintln!(
                "SKIPPED {test}: {var}={} does not exist; run scripts/test",
                path.display()
            );
            None
        }
        None => {
            assert!(
                !required,
                "{test}: {var} is not set but ORCH_REQUIRE_REAL=1"
            );
            eprintln!(
                "SKIPPED {test}: {var} is not set ({what}); run scripts/test to install it and run this test"
            );
            None
        }
    }
}

/// The real `opencode` binary, or `None` (with a printed notice) when it is not available.
pub fn opencode_bin(test: &str) -> Option<PathBuf> {
    component("ORCH_OPENCODE_BIN", test, "the real OpenCode binary")
}

/// A Python interpreter with the `mcp` package, or `None` (with a printed notice).
pub fn python_bin(test: &str) -> Option<PathBuf> {
    component("ORCH_PYTHON", test, "a Python with the official MCP SDK")
}
