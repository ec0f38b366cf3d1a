//! Starting the backend detached from the client that needs it.
//!
//! OpenCode, when it exits, kills the descendants of its MCP servers by pid, and a TUI or
//! a shell may take its process group down with it: a backend that is a descendant of its
//! client dies with it. So a client never starts `orch serve` itself: it runs
//! `orch __launch ARGS...`, which starts `orch ARGS...` (the backend), prints its pid and
//! exits at once; the client reaps the launcher, and the backend, orphaned, is reparented to
//! init (or the nearest subreaper). The backend then leaves the launcher's session
//! ([`leave_session`]), so no terminal hang-up or group signal meant for the client
//! reaches it.

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};

/// The hidden subcommand of the `orch` binary that starts the backend detached.
pub const SUBCOMMAND: &str = "__launch";

/// Runs the launcher: starts this executable with `args`, its stdin closed and its stdout
/// and stderr the launcher's stderr (the backend's log), prints the new process's pid on
/// stdout and returns the exit code (0, or 1 when it could not be started). The process is
/// left running: this one exits and never waits for it.
pub fn run(args: &[OsString]) -> i32 {
    let fail = |why: String| {
        let _ = writeln!(std::io::stderr(), "orch: cannot start the backend: {why}");
        1
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return fail(format!("cannot find the orch executable: {e}")),
    };
    let log = |what: &str| {
        std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .map(Stdio::from)
            .map_err(|e| format!("cannot pass on the log for its {what}: {e}"))
    };
    let (out, err) = match (log("stdout"), log("stderr")) {
        (Ok(out), Ok(err)) => (out, err),
        (Err(why), _) | (_, Err(why)) => return fail(why),
    };
    match Command::new(&exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
    {
        Ok(child) => {
            if writeln!(std::io::stdout(), "{}", child.id()).is_err() {
                return 1;
            }
            0
        }
        Err(e) => fail(format!("cannot run {}: {e}", exe.display())),
    }
}

/// Makes this process the leader of a new session (`setsid`), away from the terminal,
/// session and process group of whoever started it. Returns false when it already leads a
/// process group (a shell's job control started it in the foreground or background): it
/// then stays where it is, and a Ctrl-C in that terminal still stops it.
pub fn leave_session() -> bool {
    nix::unistd::setsid().is_ok()
}

/// The first line every backend logs (`orch backend starting`, with its pid and whether it
/// left its session): one per backend process ever started, which is how a start storm is
/// counted.
pub fn log_start(detached: bool) {
    tracing::info!(pid = std::process::id(), detached, "orch backend starting");
}
