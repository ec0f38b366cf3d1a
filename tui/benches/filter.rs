//! Filtering the pick list per keystroke over the whole bundled catalog (`scope: all`
//! over the capture's setup, about 8,300 models), as the TUI does it: the search text of
//! every row is computed once when the models arrive; each keystroke re-scores every row
//! and sorts the matches. The budget is 2 ms per keystroke.
//!
//! `cargo bench -p orch-tui --bench filter`

use std::sync::LazyLock;

use divan::Bencher;
use orch::knowledge::Knowledge;
use orch::resolve::Policy;
use orch::testutil::capture_home;
use orch::wire::{ModelsQuery, Scope};
use orch_tui::app::{Catalog, Pick};
use orch_tui::filter::{Haystack, Matcher, filter};

fn main() {
    divan::main();
}

#[expect(clippy::expect_used, reason = "benchmark set-up")]
static CATALOG: LazyLock<Catalog> = LazyLock::new(|| {
    let dir = tempfile::tempdir().expect("tempdir");
    let (paths, env) = capture_home(dir.path());
    let knowledge = Knowledge::load_local(&paths, &env).expect("the capture's knowledge");
    let view = orch::views::models(
        &knowledge,
        &ModelsQuery {
            scope: Scope::All,
            ..ModelsQuery::default()
        },
    );
    assert!(view.models.len() > 8000, "{}", view.models.len());
    Catalog::new(view)
});

fn pick(query: &str) -> Pick {
    let profiles = orch::profiles::Profiles::builtin();
    #[expect(clippy::expect_used, reason = "benchmark set-up")]
    let docs = profiles.get("docs").expect("a built-in docs profile");
    let mut p = Pick::new(orch::views::worker_row(
        docs,
        "node:docs".into(),
        Policy::Dynamic,
        false,
        (Some("fake/big-pro".into()), String::new()),
    ));
    p.all = true;
    p.query = query.into();
    p
}

const QUERIES: [&str; 8] = [
    "",
    "f",
    "fa",
    "fast",
    "gpt 4o",
    "claude sonnet",
    "gpt4omini",
    "zzzz",
];

/// One keystroke: the pick list recomputed (query parsed, every row scored, sorted).
#[divan::bench(args = QUERIES)]
fn keystroke(bencher: Bencher, query: &str) {
    let catalog = &*CATALOG;
    bencher
        .with_inputs(|| pick(query))
        .bench_local_refs(|p| p.refilter(Some(catalog)));
}

/// Only the scoring and sorting, with a reused output buffer.
#[divan::bench(args = QUERIES)]
fn score_and_sort(bencher: Bencher, query: &str) {
    let hays: &[Haystack] = &CATALOG.hays;
    let mut out = Vec::with_capacity(hays.len());
    bencher.bench_local(|| {
        filter(hays, &Matcher::new(query), |_| true, &mut out);
        out.len()
    });
}

/// Building the search text once, when the models arrive.
#[divan::bench]
fn build_catalog(bencher: Bencher) {
    let rows = CATALOG.rows.clone();
    bencher.bench_local(|| {
        rows.iter()
            .map(|m| Haystack::new(&m.model, &[&m.name]))
            .collect::<Vec<_>>()
    });
}
