//! One OpenCode for many workers (issue 13), measured on the real OpenCode
//! (`ORCH_OPENCODE_BIN`) with the fake LLM on loopback. Without the binary it says so and
//! measures nothing.
//!
//! Before the timings, one run prints:
//! - (a) the resident memory (VmRSS, each OpenCode process with its descendants) of every
//!   OpenCode orch started once the six built-in workers each ran one task in the shared
//!   host, against one dedicated worker after one task, in the same run, and the ratio
//!   (acceptance: at most 1.3);
//! - (b) the time to the first answer of the first worker, then of the 2nd..6th (median;
//!   target under 300 ms: no spawn).
//!
//! Timings (divan, medians):
//! - (b) `first_answer_of_a_further_hosted_worker`: a worker that never ran, on a host that
//!   runs; `first_answer_of_a_new_dedicated_worker`: a worker whose OpenCode must start;
//! - (c) `task_on_a_hosted_worker` / `task_on_a_dedicated_worker`: one task on a worker
//!   that already answered once.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use orch::testutil::fake_llm::FakeLlm;
use orch::testutil::hosting::{self, SIX, SOLO};
use orch::testutil::real::RealProject;
use orch::testutil::{task, write_orchestrator_json};
use orch::workers::{CancellationToken, Manager, ManagerConfig, WorkerService};

/// Workers `h01`.. that the first-answer benchmarks use up, one a sample.
const EXTRA: usize = 16;

fn main() {
    let Some(bin) = opencode() else {
        println!(
            "SKIPPED the hosting benchmarks: ORCH_OPENCODE_BIN is not set or is not a file (the real OpenCode binary; scripts/test installs it)"
        );
        return;
    };
    memory_and_first_answers(&bin);
    divan::main();
}

fn opencode() -> Option<PathBuf> {
    std::env::var_os("ORCH_OPENCODE_BIN")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
}

/// A fake LLM, a project on it with the hosting profiles, and a manager over it.
struct Fixture {
    _llm: FakeLlm,
    _project: RealProject,
    manager: Manager,
    rt: tokio::runtime::Runtime,
}

impl Fixture {
    #[expect(clippy::expect_used, reason = "benchmark set-up")]
    fn new(bin: &std::path::Path, extra_backend: &str) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let llm = rt.block_on(FakeLlm::start()).expect("the fake LLM starts");
        let project = RealProject::new(bin, &llm.base_url(), hosting::extra_config());
        write_orchestrator_json(
            &project.paths.project_dir,
            &hosting::profiles("shared", EXTRA, extra_backend),
        );
        let config = ManagerConfig::from_env(project.paths.clone(), project.env.clone());
        let manager = {
            let _enter = rt.enter();
            Manager::start(config).expect("the manager starts")
        };
        Self {
            _llm: llm,
            _project: project,
            manager,
            rt,
        }
    }

    /// Runs one task on `worker`; its time.
    fn task(&self, worker: &str, text: &str) -> Duration {
        let start = Instant::now();
        self.rt
            .block_on(
                self.manager
                    .run(task(worker, text), CancellationToken::new()),
            )
            .unwrap_or_else(|e| panic!("the task on {worker} failed: {}", e.message));
        start.elapsed()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.rt.block_on(self.manager.shutdown());
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// (a) and (b) in one run: six hosted workers one task each, then the dedicated one.
fn memory_and_first_answers(bin: &std::path::Path) {
    let f = Fixture::new(bin, "shared");
    let firsts: Vec<Duration> = SIX
        .iter()
        .map(|w| f.task(w, &format!("first task of {w}")))
        .collect();
    f.task(SOLO, "first task of the dedicated worker");
    let view = f.rt.block_on(f.manager.workers());
    let shared = hosting::opencode_rss(&view, SIX);
    let solo = hosting::opencode_rss(&view, [SOLO]);
    let (shared_kib, solo_kib) = (hosting::total_kib(&shared), hosting::total_kib(&solo));
    let processes: usize = shared.values().map(|(_, n)| n).sum();
    println!(
        "(a) six workers, one task each, shared host: {:.0} MiB in {} OpenCode process(es) ({} host(s)); one dedicated worker after one task: {:.0} MiB; ratio {:.2} (acceptance <= 1.30)",
        mib(shared_kib),
        processes,
        shared.len(),
        mib(solo_kib),
        shared_kib as f64 / solo_kib.max(1) as f64
    );
    let (first, rest) = firsts.split_at(1);
    println!(
        "(b) first answer of the first hosted worker: {} ms (starts the host); of the 2nd..6th: median {} ms, max {} ms (target < 300 ms)",
        first[0].as_millis(),
        median(rest.to_vec()).as_millis(),
        rest.iter().max().copied().unwrap_or_default().as_millis()
    );
}

/// The next worker that never ran.
static NEXT: AtomicUsize = AtomicUsize::new(0);

fn next_worker() -> String {
    format!("h{:02}", NEXT.fetch_add(1, Ordering::Relaxed) % EXTRA + 1)
}

/// (b) A hosted worker's first task, on a host that already answered for another worker.
#[divan::bench(sample_count = 12, sample_size = 1)]
fn first_answer_of_a_further_hosted_worker(bencher: divan::Bencher) {
    let Some(bin) = opencode() else { return };
    let f = Fixture::new(&bin, "shared");
    f.task("coder", "the first worker starts the host");
    NEXT.store(0, Ordering::Relaxed);
    bencher
        .with_inputs(next_worker)
        .bench_local_values(|w| f.task(&w, "a first task"));
}

/// (b) A dedicated worker's first task: its OpenCode starts first.
#[divan::bench(sample_count = 3, sample_size = 1)]
fn first_answer_of_a_new_dedicated_worker(bencher: divan::Bencher) {
    let Some(bin) = opencode() else { return };
    let f = Fixture::new(&bin, "server");
    NEXT.store(0, Ordering::Relaxed);
    bencher
        .with_inputs(next_worker)
        .bench_local_values(|w| f.task(&w, "a first task"));
}

/// (c) One task on a hosted worker that already answered.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn task_on_a_hosted_worker(bencher: divan::Bencher) {
    let Some(bin) = opencode() else { return };
    let f = Fixture::new(&bin, "shared");
    f.task("coder", "warm up");
    bencher.bench_local(|| f.task("coder", "one more task"));
}

/// (c) One task on a dedicated worker that already answered.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn task_on_a_dedicated_worker(bencher: divan::Bencher) {
    let Some(bin) = opencode() else { return };
    let f = Fixture::new(&bin, "shared");
    f.task(SOLO, "warm up");
    bencher.bench_local(|| f.task(SOLO, "one more task"));
}
