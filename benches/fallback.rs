//! What a run-time fallback costs orch itself, per hop (issue 11: under 5 ms).
//!
//! - `hop_bookkeeping`: orch's own work on the task's path when an attempt fails:
//!   classify OpenCode's `info.error` (the captured 429), record it in the health record,
//!   and work out the plan (resolution of every chain entry, health order). No HTTP.
//! - `health_file_write`: saving `health.json` atomically (synced to disk), which the
//!   manager does on a blocking thread, off the task's path.
//! - `task_with_one_hop` / `task_without_hop`: a whole task over the fake spawner and fake
//!   OpenCode (loopback HTTP), whose first model fails with the captured 429 / which
//!   answers at once; the difference is the hop, including one more prompt round trip to
//!   the fake OpenCode.

use std::time::Duration;

use orch::clock::FakeClock;
use orch::knowledge::{Knowledge, KnowledgeSource};
use orch::profiles::ModelSpec;
use orch::resolve::Policy;
use orch::testutil::fake_spawner::FakeSpawner;
use orch::testutil::{capture_home, fixture};
use orch::workers::failure::classify_reply;
use orch::workers::fallback;
use orch::workers::health::{Health, HealthStore};
use orch::workers::{CancellationToken, Manager, ManagerConfig, RunRequest, WorkerService};

fn main() {
    divan::main();
}

#[expect(clippy::expect_used, reason = "benchmark set-up")]
fn captured_429() -> serde_json::Value {
    let reply: serde_json::Value =
        serde_json::from_str(&fixture("prompt-error-429.json")).expect("the capture");
    reply["info"]["error"].clone()
}

const CHAIN: &str = "fake/big-pro, fake/fast-mini";

#[divan::bench(sample_count = 200)]
#[expect(clippy::expect_used, reason = "benchmark set-up")]
fn hop_bookkeeping(bencher: divan::Bencher) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (paths, env) = capture_home(dir.path());
    let knowledge = Knowledge::load_local(&paths, &env).expect("the capture's knowledge");
    let profile = knowledge.profiles.get("coder").cloned().expect("coder");
    let spec = ModelSpec::parse(CHAIN);
    let error = captured_429();
    let mut now = 0u64;
    bencher.bench_local(|| {
        now += 10_000;
        let c = classify_reply(&error);
        let mut health = Health::default();
        health.failed("fake/big-pro", &c, "fingerprint", now);
        let first = knowledge
            .resolver
            .resolve_spec(&spec, Some(&profile), Policy::Dynamic)
            .expect("the chain resolves");
        let plan = fallback::plan(
            &knowledge.resolver,
            &knowledge.profiles.tag_fallback,
            &profile,
            &spec,
            Policy::Dynamic,
            first,
            &health,
            &|_| "fingerprint".to_owned(),
            now,
        );
        plan.candidates.len() == 2
    });
}

#[divan::bench(sample_count = 100)]
#[expect(clippy::expect_used, reason = "benchmark set-up")]
fn health_file_write(bencher: divan::Bencher) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = HealthStore::new(dir.path());
    let mut health = Health::default();
    let c = classify_reply(&captured_429());
    for i in 0..20 {
        health.failed(&format!("p/m{i}"), &c, "fingerprint", 0);
    }
    bencher.bench_local(|| store.save(&health).is_ok());
}

struct Setup {
    _dir: tempfile::TempDir,
    manager: Manager<FakeSpawner, FakeClock>,
    clock: FakeClock,
    spawner: FakeSpawner,
    rt: tokio::runtime::Runtime,
}

#[expect(clippy::expect_used, reason = "benchmark set-up")]
fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let (paths, env) = capture_home(dir.path());
    let knowledge = Knowledge::load_local(&paths, &env).expect("the capture's knowledge");
    let mut config = ManagerConfig::from_env(paths, env);
    config.stop_grace = Duration::from_millis(200);
    let spawner = FakeSpawner::new();
    let clock = FakeClock::at(0);
    let manager = Manager::new(
        config,
        KnowledgeSource::fixed(knowledge),
        spawner.clone(),
        clock.clone(),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    Setup {
        _dir: dir,
        manager,
        clock,
        spawner,
        rt,
    }
}

fn run(s: &Setup, model: &str) -> Option<String> {
    let req = RunRequest {
        worker: "coder".into(),
        task: "bench".into(),
        model: Some(model.into()),
        auto_spawn: true,
        ..RunRequest::default()
    };
    s.rt.block_on(s.manager.run(req, CancellationToken::new()))
        .ok()
        .and_then(|o| o.answered_by)
}

#[divan::bench(sample_count = 200)]
fn task_with_one_hop(bencher: divan::Bencher) {
    let s = setup();
    s.spawner.fail_model("fake/big-pro", captured_429());
    let _ = run(&s, CHAIN);
    bencher.bench_local(|| {
        // Past the 1 s cooldown the 429 left, so every task hops once.
        s.clock.advance(2_000);
        run(&s, CHAIN)
    });
    assert_eq!(s.spawner.spawn_count(), 1, "a hop must not respawn");
}

#[divan::bench(sample_count = 200)]
fn task_without_hop(bencher: divan::Bencher) {
    let s = setup();
    let _ = run(&s, "fake/fast-mini");
    bencher.bench_local(|| run(&s, "fake/fast-mini"));
}
