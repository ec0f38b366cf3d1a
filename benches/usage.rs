//! `orch usage` over 100,000 stored task records (issue 12: under 50 ms).
//!
//! - `totals_100k_warm`: the store has read `records.jsonl` already (a backend that has
//!   been up) and sums what it decoded of each record as it read it.
//! - `totals_100k_cold`: a store just opened (a backend just started), with its
//!   `usage.idx` current: the index and the lines appended after it are read, not the
//!   records.
//! - `totals_100k_cold_no_index`: a store just opened without a usage index (the first
//!   sum after an upgrade, or after a compaction replaced the records file): every record
//!   is read and parsed, and the index is rebuilt.

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
