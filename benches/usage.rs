//! `orch usage` over 100,000 stored task records (issue 12: under 50 ms).
//!
//! - `totals_100k_warm`: the backend's case — the store has read `records.jsonl` already
//!   and sums the in-memory records (each record's `usage` is decoded as it is summed).
//! - `totals_100k_cold`: a store just opened: reading and parsing the whole file, then the sum.

use orch::tasks::{StoreLimits, TaskStore};
use orch::usage::{By, Usage};
use orch::wire::{TaskKind, TaskRow, TaskStatus};

fn main() {
    divan::main();
}

const RECORDS: u64 = 100_000;

fn limits() -> StoreLimits {
    StoreLimits {
        max_records: 1_000_000,
        max_bytes: u64::MAX / 2,
    }
}

/// A store directory with `RECORDS` finished tasks on three workers and two models.
#[expect(clippy::expect_used, reason = "benchmark set-up")]
fn populated() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = TaskStore::open(dir.path(), "/project", limits()).expect("the store opens");
    // One record saved the ordinary way, as a template for the rest.
    let id = store.next_id().expect("an id");
    let row = TaskRow {
        status: TaskStatus::Succeeded,
        answered_by: Some("openai/gpt-4o".into()),
        finished_at_ms: Some(1_795_525_344_965),
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
        ..TaskRow::queued(TaskKind::Worker, "coder", None, 1_795_525_344_000)
    };
    store.save(id, &row).expect("saved");
    drop(store);
    let path = dir.path().join("records.jsonl");
    let line = std::fs::read_to_string(&path).expect("records");
    let line = line.lines().last().expect("a line").to_owned();
    let mut text = String::with_capacity(line.len() * RECORDS as usize + RECORDS as usize);
    for n in 1..=RECORDS {
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
                .replacen("openai/gpt-4o", model, 1),
        );
        text.push('\n');
    }
    std::fs::write(&path, text).expect("written");
    std::fs::write(dir.path().join("next-id"), format!("{}", RECORDS + 1)).ok();
    dir
}

#[divan::bench(sample_count = 20)]
#[expect(clippy::expect_used, reason = "benchmark set-up")]
fn totals_100k_warm(bencher: divan::Bencher) {
    let dir = populated();
    let store = TaskStore::open(dir.path(), "/project", limits()).expect("opens");
    let first = store.usage_totals(By::Worker, None).expect("sums");
    assert_eq!(first.total.tasks, RECORDS, "every record is counted");
    bencher.bench_local(|| store.usage_totals(By::Worker, None).expect("sums"));
}

#[divan::bench(sample_count = 10)]
#[expect(clippy::expect_used, reason = "benchmark set-up")]
fn totals_100k_cold(bencher: divan::Bencher) {
    let dir = populated();
    bencher.bench_local(|| {
        let store = TaskStore::open(dir.path(), "/project", limits()).expect("opens");
        store.usage_totals(By::Model, None).expect("sums")
    });
}
