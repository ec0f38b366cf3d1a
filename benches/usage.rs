//! `orch usage` over 100,000 stored task records (issue 12: under 50 ms).
//!
//! - `totals_100k_warm`: the store has read `records.jsonl` already (a backend that has
//!   been up) and sums what it decoded of each record as it read it.
//! - `totals_100k_cold`: a store just opened (a backend just started), with its
//!   `usage.idx` current: the index and the lines appended after it are read, not the
//!   records.
//! - `totals_100k_cold_no_index`: a store just opened without a usage index (the first
//!   sum after an upgrade; a compaction rewrites the index in the same save): every record
//!   is read and parsed, and the index is rebuilt.
//! - `totals_100k_warm_ledger`: `totals_100k_warm` plus a usage ledger standing for a
//!   million tasks compacted away before (a year of day lines and 2,000 task lines).

use orch::tasks::{StoreLimits, TaskStore};
use orch::usage::{By, Usage};
use orch::wire::{TaskKind, TaskRow, TaskStatus};

fn main() {
    divan::main();
}

const RECORDS: u64 = 100_000;
/// Records saved the ordinary way after the index was written (the index's slack).
const APPENDED: u64 = 200;

fn limits() -> StoreLimits {
    StoreLimits {
        max_records: 1_000_000,
        max_bytes: u64::MAX / 2,
    }
}

fn row(n: u64) -> TaskRow {
    TaskRow {
        status: TaskStatus::Succeeded,
        answered_by: Some(["openai/gpt-4o", "fake/big-pro"][(n % 2) as usize].into()),
        finished_at_ms: Some(1_795_525_344_965 + n * 60_000),
        usage: Some(Usage {
            input: Some(1200),
            output: Some(300),
            reasoning: Some(0),
            cache_read: Some(0),
            cache_write: Some(0),
            cost_usd: Some(0.006),
            estimated: true,
            total_ms: Some(2100),
            ..Usage::default()
        }),
        ..TaskRow::queued(
            TaskKind::Worker,
            ["coder", "docs", "explorer"][(n % 3) as usize],
            None,
            1_795_525_344_000,
        )
    }
}

/// A store directory with `RECORDS` finished tasks on three workers and two models, the
/// last `APPENDED` of them saved after the usage index was written.
#[expect(clippy::expect_used, reason = "benchmark set-up")]
fn populated() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = TaskStore::open(dir.path(), "/project", limits()).expect("the store opens");
    // One record saved the ordinary way, as a template for the rest.
    let id = store.next_id().expect("an id");
    store.save(id, &row(0)).expect("saved");
    drop(store);
    let path = dir.path().join("records.jsonl");
    let line = std::fs::read_to_string(&path).expect("records");
    let line = line.lines().last().expect("a line").to_owned();
    let mut text = String::with_capacity(line.len() * RECORDS as usize + RECORDS as usize);
    for n in 1..=RECORDS - APPENDED {
        let worker = ["coder", "docs", "explorer"][(n % 3) as usize];
        let model = ["openai/gpt-4o", "fake/big-pro"][(n % 2) as usize];
        text.push_str(
            &line
                .replacen(&format!("\"id\":{id},"), &format!("\"id\":{n},"), 1)
                .replacen(
                    "\"worker\":\"coder\"",
                    &format!("\"worker\":\"{worker}\""),
                    1,
                )
                .replacen("openai/gpt-4o", model, 1)
                .replacen(
                    "1795525344965",
                    &(1_795_525_344_965 + n * 60_000).to_string(),
                    1,
                ),
        );
        text.push('\n');
    }
    std::fs::write(&path, text).expect("written");
    std::fs::write(
        dir.path().join("next-id"),
        format!("{}", RECORDS - APPENDED),
    )
    .ok();
    // The first sum reads every record and writes the index; then more tasks are saved.
    let store = TaskStore::open(dir.path(), "/project", limits()).expect("opens");
    store.usage_totals(By::Day, None).expect("sums");
    assert!(
        dir.path().join("usage.idx").exists(),
        "the index is written"
    );
    for _ in 0..APPENDED {
        let id = store.next_id().expect("an id");
        store.save(id, &row(id)).expect("saved");
    }
    assert_eq!(
        store
            .usage_totals(By::Worker, None)
            .expect("sums")
            .total
            .tasks,
        RECORDS
    );
    dir
}

#[divan::bench(sample_count = 20)]
#[expect(clippy::expect_used, reason = "benchmark set-up")]
fn totals_100k_warm(bencher: divan::Bencher) {
    let dir = populated();
    let store = TaskStore::open(dir.path(), "/project", limits()).expect("opens");
    // A backend reads its records when it starts (`Tasks::with_store`).
    store.records().expect("the records read");
    let first = store.usage_totals(By::Worker, None).expect("sums");
    assert_eq!(first.total.tasks, RECORDS, "every record is counted");
    bencher.bench_local(|| store.usage_totals(By::Worker, None).expect("sums"));
}

#[divan::bench(sample_count = 20)]
#[expect(clippy::expect_used, reason = "benchmark set-up")]
fn totals_100k_cold(bencher: divan::Bencher) {
    let dir = populated();
    let full = TaskStore::open(dir.path(), "/project", limits())
        .expect("opens")
        .records()
        .expect("read")
        .len();
    assert_eq!(full as u64, RECORDS);
    bencher.bench_local(|| {
        let store = TaskStore::open(dir.path(), "/project", limits()).expect("opens");
        let v = store.usage_totals(By::Model, None).expect("sums");
        assert_eq!(v.total.tasks, RECORDS, "every record is counted");
        v
    });
}

#[divan::bench(sample_count = 5)]
#[expect(clippy::expect_used, reason = "benchmark set-up")]
fn totals_100k_cold_no_index(bencher: divan::Bencher) {
    let dir = populated();
    let index = dir.path().join("usage.idx");
    bencher
        .with_inputs(|| {
            std::fs::remove_file(&index).ok();
        })
        .bench_local_values(|()| {
            let store = TaskStore::open(dir.path(), "/project", limits()).expect("opens");
            store.usage_totals(By::Model, None).expect("sums")
        });
}

/// Tasks the usage ledger of `totals_100k_warm_ledger` stands for: a project that ran a
/// million tasks before the 100,000 on record.
const LEDGER_TASKS: u64 = 1_000_000;

/// `totals_100k_warm` with a usage ledger (`usage-ledger.jsonl`) as a year of compactions
/// leaves it: day lines (365 days × 3 workers × 2 models) for `LEDGER_TASKS` tasks, and
/// 2,000 task lines not folded yet. Every sum adds them (each day line counts as its tasks).
#[divan::bench(sample_count = 20)]
#[expect(clippy::expect_used, reason = "benchmark set-up")]
fn totals_100k_warm_ledger(bencher: divan::Bencher) {
    let dir = populated();
    let mut text = String::new();
    let lines = 365 * 3 * 2;
    let per_line = LEDGER_TASKS / lines;
    for d in 0..365u64 {
        let day = orch::usage::day(1_764_201_600_000 + d * 86_400_000);
        for worker in ["coder", "docs", "explorer"] {
            for model in ["openai/gpt-4o", "fake/big-pro"] {
                text.push_str(&format!(
                    "{{\"day\":\"{day}\",\"worker\":\"{worker}\",\"model\":\"{model}\",\"tasks\":{per_line},\"unknown_cost\":0,\"usage\":{{\"input\":{},\"output\":{},\"cost_usd\":{}}}}}\n",
                    per_line * 1200,
                    per_line * 300,
                    per_line as f64 * 0.006
                ));
            }
        }
    }
    for n in 0..2000u64 {
        text.push_str(&format!(
            "{{\"id\":{},\"worker\":\"coder\",\"model\":\"fake/big-pro\",\"finished_at_ms\":1795000000000,\"usage\":{{\"input\":1200,\"output\":300,\"cost_usd\":0.006}}}}\n",
            1_000_000_000 + n
        ));
    }
    std::fs::write(dir.path().join("usage-ledger.jsonl"), text).expect("the ledger");
    let store = TaskStore::open(dir.path(), "/project", limits()).expect("opens");
    store.records().expect("the records read");
    let first = store.usage_totals(By::Worker, None).expect("sums");
    assert_eq!(
        first.total.tasks,
        RECORDS + per_line * lines + 2000,
        "every task is counted"
    );
    bencher.bench_local(|| store.usage_totals(By::Worker, None).expect("sums"));
}
