//! Wall time of the real `orch` binary with the backend running: `orch models --format
//! json` (target: under 15 ms median on the bundled catalog, release build). The first run
//! starts the backend on demand; it is stopped at the end.
//!
//! Run with `cargo bench -p orch-cli`.

use std::sync::Mutex;

use divan::Bencher;
use orch::testutil::Sandbox;

const BIN: &str = env!("CARGO_BIN_EXE_orch");

/// The capture's setup; dropping it stops the backend.
static HOME: Mutex<Option<Sandbox>> = Mutex::new(None);

#[expect(clippy::expect_used, reason = "test helper")]
fn ok<T, E: std::fmt::Debug>(r: Result<T, E>) -> T {
    r.expect("the call succeeds")
}

#[expect(clippy::expect_used, reason = "test helper")]
fn with_home<T>(f: impl FnOnce(&Sandbox) -> T) -> T {
    let g = match HOME.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    f(g.as_ref().expect("the home is set up"))
}

fn main() {
    let home = Sandbox::capture(BIN);
    // Start the backend (on demand) before measuring.
    let first = ok(home.orch(&["status"]).output());
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    if let Ok(mut g) = HOME.lock() {
        *g = Some(home);
    }
    divan::main();
    drop(HOME.lock().ok().and_then(|mut g| g.take()));
}

#[divan::bench(sample_count = 100)]
fn models_format_json(b: Bencher) {
    with_home(|home| {
        b.bench(|| {
            let out = ok(home.orch(&["models", "--format", "json"]).output());
            assert!(out.status.success());
            out.stdout.len()
        });
    });
}

#[divan::bench(sample_count = 30)]
fn models_all_scope_format_json(b: Bencher) {
    with_home(|home| {
        b.bench(|| {
            let out = ok(home
                .orch(&["models", "--scope", "all", "--format", "json"])
                .output());
            assert!(out.status.success());
            out.stdout.len()
        });
    });
}
