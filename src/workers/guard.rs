//! The worker guard: `orch __guard PROGRAM ARGS...` runs one OpenCode and makes sure that
//! nothing it started outlives it.
//!
//! OpenCode's bash tool starts each command detached, in a session of its own, so a kill of
//! the worker's process group misses it, and a command that backgrounds itself (`nohup cmd
//! &`, `setsid cmd &`) is reparented away from OpenCode as soon as its shell exits. The
//! guard is a *child subreaper* (Linux `PR_SET_CHILD_SUBREAPER`): every orphan below it is
//! reparented to it instead of to init, so its descendants (found by walking `/proc`) are
//! exactly what the worker started, whatever session or group they moved to. It ends them
//! all when its stdin (a pipe from the manager) closes, the manager being gone even by
//! `SIGKILL`, when it receives `SIGTERM`/`SIGINT` (a graceful stop), and when OpenCode
//! exits by itself. It exits with OpenCode's status (128 + signal when it was killed).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::procfs::descendants;

/// The hidden subcommand of the `orch` binary that runs the guard.
pub const SUBCOMMAND: &str = "__guard";

/// How long descendants get between `SIGTERM` and `SIGKILL`.
const TERM_GRACE: Duration = Duration::from_secs(2);
/// How long the guard keeps killing before it gives up (a fork bomb).
const KILL_LIMIT: Duration = Duration::from_secs(5);
/// How often it reaps and looks again.
const TICK: Duration = Duration::from_millis(25);

enum Event {
    /// The manager's pipe closed.
    ParentGone,
    /// A stop signal (`SIGTERM`, `SIGINT`).
    Stop,
}

/// Runs the guard over `program args` and returns its exit code.
pub fn run(program: &OsString, args: &[OsString]) -> i32 {
    become_subreaper();
    let child = match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "orch guard: cannot start {}: {e}",
                program.to_string_lossy()
            );
            return 127;
        }
    };
    let Ok(child_pid) = i32::try_from(child.id()) else {
        return 127;
    };
    // The manager reads this line to learn OpenCode's pid.
    let _ = writeln!(std::io::stderr(), "orch: child pid {child_pid}");
    // The child's status is collected with `waitpid` below, with every orphan's.
    drop(child);

    let (tx, rx) = mpsc::channel();
    // Blocked before any thread starts, so every thread inherits the mask and the signal
    // thread alone receives them (children get a clean mask from `Command`).
    let mut stops = SigSet::empty();
    stops.add(Signal::SIGTERM);
    stops.add(Signal::SIGINT);
    stops.add(Signal::SIGHUP);
    let _ = stops.thread_block();
    let signals = tx.clone();
    std::thread::spawn(move || {
        while let Ok(sig) = stops.wait() {
            // A closed terminal is no reason to stop the worker.
            if sig != Signal::SIGHUP && signals.send(Event::Stop).is_err() {
                return;
            }
        }
    });
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 256];
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
        let _ = tx.send(Event::ParentGone);
    });

    let mut status: Option<i32> = None;
    loop {
        reap(child_pid, &mut status);
        if status.is_some() {
            break;
        }
        match rx.recv_timeout(TICK) {
            Ok(Event::ParentGone | Event::Stop) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    end_descendants(child_pid, &mut status);
    status.unwrap_or(128 + Signal::SIGTERM as i32)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn become_subreaper() {
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        let _ = writeln!(
            std::io::stderr(),
            "orch guard: cannot become a child subreaper ({e}); detached tool processes may outlive the worker"
        );
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn become_subreaper() {}

/// Reaps every exited child (orphans reparented here included); records the status of
/// `child` when it is among them.
fn reap(child: i32, status: &mut Option<i32>) {
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => {
                if pid.as_raw() == child {
                    *status = Some(code);
                }
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) => {
                if pid.as_raw() == child {
                    *status = Some(128 + sig as i32);
                }
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// `SIGTERM` to every descendant, `SIGKILL` to those left after [`TERM_GRACE`], again until
/// none is left (or [`KILL_LIMIT`] has passed), reaping as they go.
fn end_descendants(child: i32, status: &mut Option<i32>) {
    let me = nix::unistd::getpid().as_raw();
    let started = Instant::now();
    let mut signal = Signal::SIGTERM;
    let mut sent_term = false;
    loop {
        reap(child, status);
        let left = descendants(me);
        if left.is_empty() || started.elapsed() > TERM_GRACE + KILL_LIMIT {
            return;
        }
        if signal == Signal::SIGTERM && sent_term && started.elapsed() >= TERM_GRACE {
            signal = Signal::SIGKILL;
        }
        if signal == Signal::SIGKILL || !sent_term {
            for pid in left {
                let _ = kill(Pid::from_raw(pid), signal);
            }
            sent_term = true;
        }
        std::thread::sleep(TICK);
    }
}
