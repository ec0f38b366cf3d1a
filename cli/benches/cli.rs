//! Wall time of the real `orch` binary with the backend running: `orch models --format
//! json` (target: under 15 ms median on the bundled catalog, release build). The first run
//! starts the backend on demand; it is stopped at the end.
//!
//! Run with `cargo bench -p orch-cli`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use divan::Bencher;

const BIN: &str = env!("CARGO_BIN_EXE_orch");

struct Home {
    _dir: tempfile::TempDir,
    env: orch::paths::Environment,
    project: PathBuf,
    socket: PathBuf,
}

static HOME: Mutex<Option<Home>> = Mutex::new(None);

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn orch(home: &Home, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_clear()
        .envs(home.env.vars())
        .current_dir(&home.project);
    c
}

fn with_home<T>(f: impl FnOnce(&Home) -> T) -> T {
    let g = match HOME.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    f(g.as_ref().unwrap_or_else(|| panic!("no home")))
}

fn main() {
    let dir = ok(tempfile::tempdir());
    let (paths, env) = orch::testutil::capture_home(dir.path());
    let home = Home {
        project: paths.project_dir.clone(),
        socket: paths.socket().to_path_buf(),
        env,
        _dir: dir,
    };
    // Start the backend (on demand) before measuring.
    let first = ok(orch(&home, &["status"]).output());
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    if let Ok(mut g) = HOME.lock() {
        *g = Some(home);
    }
    divan::main();
    let home = HOME.lock().ok().and_then(|mut g| g.take());
    if let Some(home) = home {
        stop(&home.socket);
    }
}

fn stop(socket: &Path) {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let Some(pid) = orch::mcp::socket::backend_pid(socket) else {
        return;
    };
    let target = Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX));
    let _ = kill(target, Signal::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    while kill(target, None).is_ok() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[divan::bench(sample_count = 100)]
fn models_format_json(b: Bencher) {
    with_home(|home| {
        b.bench(|| {
            let out = ok(orch(home, &["models", "--format", "json"]).output());
            assert!(out.status.success());
            out.stdout.len()
        });
    });
}

#[divan::bench(sample_count = 30)]
fn models_all_scope_format_json(b: Bencher) {
    with_home(|home| {
        b.bench(|| {
            let out = ok(orch(home, &["models", "--scope", "all", "--format", "json"]).output());
            assert!(out.status.success());
            out.stdout.len()
        });
    });
}
