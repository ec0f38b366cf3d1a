//! Worker manager hot paths, over the fake spawner and fake OpenCode (loopback HTTP):
//! reusing a running worker (health check), adopting one from the registry (registry
//! lookup under its lock + health check + session check), and changing a worker's model
//! (set + the next prompt, no respawn).

use std::time::Duration;

use orch::clock::FakeClock;
use orch::knowledge::{Knowledge, KnowledgeSource};
use orch::resolve::Policy;
use orch::testutil::capture_home;
use orch::testutil::fake_spawner::FakeSpawner;
use orch::workers::{
    CancellationToken, Manager, ManagerConfig, RunRequest, SetModelRequest, WorkerService,
};

fn main() {
    divan::main();
}

struct Fixture {
    _dir: tempfile::TempDir,
    config: ManagerConfig,
    knowledge: Knowledge,
    spawner: FakeSpawner,
    rt: tokio::runtime::Runtime,
}

#[expect(clippy::expect_used, reason = "benchmark set-up")]
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let (paths, env) = capture_home(dir.path());
    let knowledge = Knowledge::load_local(&paths, &env).expect("the capture's knowledge");
    let mut config = ManagerConfig::from_env(paths, env);
    config.keep_workers = true;
    config.stop_grace = Duration::from_millis(200);
    Fixture {
        _dir: dir,
        config,
        knowledge,
        spawner: FakeSpawner::new(),
        rt: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime"),
    }
}

impl Fixture {
    fn manager(&self) -> Manager<FakeSpawner, FakeClock> {
        Manager::new(
            self.config.clone(),
            KnowledgeSource::fixed(self.knowledge.clone()),
            self.spawner.clone(),
            FakeClock::at(0),
        )
    }
}

/// A running worker, asked for again: liveness + health check.
#[divan::bench(sample_count = 200)]
fn reuse_running_worker(bencher: divan::Bencher) {
    let f = fixture();
    let m = f.manager();
    let _ = f.rt.block_on(m.warm("docs"));
    bencher.bench_local(|| f.rt.block_on(m.warm("docs")).is_ok());
}

/// A new manager finding the worker in the registry: lookup under the lock, health
/// check, session check.
#[divan::bench(sample_count = 100)]
fn adopt_from_registry(bencher: divan::Bencher) {
    let f = fixture();
    let _ = f.rt.block_on(f.manager().warm("docs"));
    bencher.bench_local(|| {
        let m = f.manager();
        f.rt.block_on(m.warm("docs")).is_ok()
    });
}

/// `worker.model.set` (dynamic) then the next task, on the same process.
#[divan::bench(sample_count = 200)]
fn set_model_then_prompt(bencher: divan::Bencher) {
    let f = fixture();
    let m = f.manager();
    let _ = f.rt.block_on(m.warm("docs"));
    let models = ["fake/fast-mini", "fake/big-pro"];
    let mut i = 0usize;
    bencher.bench_local(|| {
        i += 1;
        f.rt.block_on(async {
            let set = m
                .set_model(SetModelRequest {
                    worker: "docs".into(),
                    model: models[i % 2].into(),
                    policy: Policy::Dynamic,
                    respawn: false,
                    force: false,
                })
                .await;
            let run = m
                .run(
                    RunRequest {
                        worker: "docs".into(),
                        task: "bench".into(),
                        auto_spawn: true,
                        ..RunRequest::default()
                    },
                    CancellationToken::new(),
                )
                .await;
            set.is_ok() && run.is_ok()
        })
    });
    assert_eq!(
        f.spawner.spawn_count(),
        1,
        "a model change must not respawn"
    );
}
