//! The TUI driven by key events over the real worker manager (fake spawner, fake OpenCode,
//! fake clock, the capture's providers), every screen snapshotted at 80x24 and 160x48.
//!
//! The flow: list → pick `docs` → search `fast` → choose `node:fast` → apply sticky →
//! verify the row shows the new model and reason → probe (the fake OpenCode answers
//! "echo from <model>" with the model that answered).

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use orch::api::{InProcess, Orchestrator};
use orch::clock::FakeClock;
use orch::resolve::Policy;
use orch::testutil::fake_spawner::FakeSpawner;
use orch::testutil::{FAKE_SECRETS, assert_no_secret, capture_home, regex_escape};
use orch::workers::{Manager, WorkerStatus};
use orch_tui::App;
use orch_tui::action::Msg;
use orch_tui::app::{Item, Model, Screen};
use orch_tui::view::view;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

type Real = InProcess<Manager<FakeSpawner, FakeClock>>;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];
const SETTLE: Duration = Duration::from_secs(20);

struct Harness {
    dir: tempfile::TempDir,
    backend: Arc<Real>,
    app: App<Real>,
    spawner: FakeSpawner,
}

impl Harness {
    #[expect(clippy::expect_used, reason = "test helper")]
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir is created");
        let (paths, env) = capture_home(dir.path());
        let spawner = FakeSpawner::new();
        let manager = spawner.manager(&paths, &env);
        let backend = Arc::new(InProcess::new(manager));
        let mut app = App::new(Arc::clone(&backend));
        app.start();
        let mut h = Self {
            dir,
            backend,
            app,
            spawner,
        };
        h.settle().await;
        h
    }

    async fn settle(&mut self) {
        assert!(self.app.settle(SETTLE).await, "the backend did not answer");
    }

    /// Sends one key and waits for whatever it started.
    async fn key(&mut self, code: KeyCode) {
        self.app
            .handle(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
        self.settle().await;
    }

    async fn chars(&mut self, s: &str) {
        for c in s.chars() {
            self.key(KeyCode::Char(c)).await;
        }
    }

    fn model(&self) -> &Model {
        &self.app.model
    }

    /// The screen at one size, as text.
    fn screen(&self, w: u16, h: u16) -> String {
        let mut t = Terminal::new(TestBackend::new(w, h)).expect("the terminal builds");
        self.app.draw(&mut t).expect("the frame draws");
        t.backend().to_string()
    }

    /// Snapshots the screen at both sizes.
    fn snap(&self, name: &str) {
        let tmp = regex_escape(&self.dir.path().display().to_string());
        for (w, h) in SIZES {
            let text = self.screen(w, h);
            assert_no_secret(name, &text);
            // A task's times are wall-clock (issue 12's usage line): shown as 0 ms, the
            // line keeping its width.
            let times = vec![
                (tmp.as_str(), "[TMP]"),
                (r"(first token|total) \d\d\d ms  ", "${1} 0 ms    "),
                (r"(first token|total) \d\d ms ", "${1} 0 ms  "),
                (r"(first token|total) \d ms", "${1} 0 ms"),
            ];
            insta::with_settings!({filters => times}, {
                insta::assert_snapshot!(format!("{name}_{w}x{h}"), text);
            });
        }
    }

    async fn close(self) {
        self.backend.close().await;
        drop(self.spawner);
    }
}

fn worker_index(m: &Model, id: &str) -> usize {
    m.workers
        .ready()
        .and_then(|w| w.iter().position(|w| w.id == id))
        .unwrap_or_else(|| panic!("no worker {id}"))
}

async fn select_worker(h: &mut Harness, id: &str) {
    let target = worker_index(h.model(), id);
    h.key(KeyCode::Char('g')).await;
    for _ in 0..target {
        h.key(KeyCode::Char('j')).await;
    }
    assert_eq!(h.model().selected, target);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_pick_search_apply_sticky_verify_probe() {
    let mut h = Harness::new().await;
    h.snap("01_workers");

    select_worker(&mut h, "docs").await;
    h.snap("02_workers_docs_selected");

    h.key(KeyCode::Enter).await;
    assert_eq!(h.model().screen, Screen::Pick);
    h.snap("03_pick");

    h.key(KeyCode::Char('/')).await;
    h.chars("fast").await;
    h.snap("04_search_fast");
    h.key(KeyCode::Enter).await;
    let pick = h.model().pick.clone().expect("a pick is open");
    assert!(!pick.editing);
    assert_eq!(pick.query, "fast");
    // node:fast is the first row: a tag, previewing what it resolves to for docs.
    let first = pick.current().expect("the pick has rows");
    assert!(matches!(first, Item::Tag(_)));
    assert_eq!(
        pick.reference(first, h.model().catalog()).as_deref(),
        Some("node:fast")
    );

    h.key(KeyCode::Enter).await;
    assert_eq!(h.model().screen, Screen::Apply);
    h.snap("05_apply");

    h.key(KeyCode::Char('s')).await;
    h.key(KeyCode::Char('r')).await;
    let apply = h.model().apply.clone().expect("an apply was recorded");
    assert_eq!(apply.policy, Policy::Sticky);
    assert!(apply.respawn);
    h.snap("06_apply_sticky");

    // The spinner while the change runs (frame 0: no ticks in tests).
    h.app
        .handle(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    assert!(h.model().busy.is_some());
    h.snap("07_applying");
    h.settle().await;

    assert_eq!(h.model().screen, Screen::Verify);
    let row = h.model().worker("docs").cloned().expect("a docs row");
    assert_eq!(row.model_ref, "node:fast");
    assert_eq!(row.resolved_model.as_deref(), Some("fake/fast-mini"));
    assert_eq!(row.policy, Policy::Sticky);
    assert!(row.overridden);
    assert_eq!(row.status, WorkerStatus::Ready, "respawned");
    assert!(
        row.reason.starts_with("node:fast → fake/fast-mini"),
        "{}",
        row.reason
    );
    assert_eq!(h.spawner.spawn_count(), 1, "one respawn");
    h.snap("08_verify");

    h.key(KeyCode::Char('p')).await;
    let probe = h
        .model()
        .verify
        .as_ref()
        .and_then(|v| v.probe.clone())
        .expect("a probe ran")
        .expect("the probe succeeded");
    assert_eq!(probe.answered_by.as_deref(), Some("fake/fast-mini"));
    assert_eq!(probe.output, "echo from fast-mini");
    h.snap("09_verify_probed");

    h.key(KeyCode::Esc).await;
    assert_eq!(h.model().screen, Screen::Workers);
    h.snap("10_workers_after");

    h.key(KeyCode::Char('?')).await;
    h.snap("11_help");
    h.key(KeyCode::Esc).await;
    assert!(!h.model().help);

    // Reset puts the configured model back (after a yes).
    h.key(KeyCode::Char('R')).await;
    h.key(KeyCode::Char('y')).await;
    let row = &h.model().workers.ready().expect("the rows are loaded")[h.model().selected];
    assert_eq!(
        (row.id.as_str(), row.model_ref.as_str()),
        ("docs", "node:docs")
    );
    assert!(!row.overridden);
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vision_worker_shows_why_a_model_cannot_be_used_and_offers_suggestions() {
    let mut h = Harness::new().await;
    select_worker(&mut h, "vision").await;
    h.key(KeyCode::Enter).await;
    h.key(KeyCode::Char('/')).await;
    h.chars("big").await;
    h.key(KeyCode::Enter).await;
    // fake/big-pro has no image input: marked, dimmed, and the detail line says why.
    let p = h.model().pick.clone().expect("a pick is open");
    let item = p.current().expect("a row");
    assert_eq!(
        p.reference(item, h.model().catalog()).as_deref(),
        Some("fake/big-pro")
    );
    let why = p.blocked(item, h.model().catalog());
    assert_eq!(
        why.as_deref(),
        Some("no image input: the vision worker needs one (pick a model marked img)")
    );
    h.snap("20_vision_blocked");

    // Enter anyway: the apply screen shows the backend's refusal and its suggestions.
    h.key(KeyCode::Enter).await;
    let a = h.model().apply.clone().expect("an apply was recorded");
    assert!(!a.can_apply());
    assert!(
        a.suggestions().iter().any(|s| s == "fake/vision-pro"),
        "{:?}",
        a.suggestions()
    );
    h.snap("21_vision_suggestions");

    // Enter on a suggestion uses it.
    let idx = a
        .suggestions()
        .iter()
        .position(|s| s == "fake/vision-pro")
        .unwrap_or(0);
    for _ in 0..idx {
        h.key(KeyCode::Char('j')).await;
    }
    h.key(KeyCode::Enter).await;
    let a = h.model().apply.clone().expect("an apply was recorded");
    assert_eq!(a.reference, "fake/vision-pro");
    assert!(a.can_apply());
    h.snap("22_vision_suggestion_used");
    h.key(KeyCode::Enter).await;
    assert_eq!(h.model().screen, Screen::Verify);
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_and_vision_filters() {
    let mut h = Harness::new().await;
    select_worker(&mut h, "coder").await;
    h.key(KeyCode::Enter).await;
    let count = |h: &Harness| {
        let p = h.model().pick.as_ref().expect("a pick is open");
        (p.tag_count, p.items.len() - p.tag_count)
    };
    let catalog = h.model().catalog().expect("the catalog is loaded");
    let (all, usable) = (catalog.rows.len(), catalog.usable);
    assert!(all > 8000, "{all}");
    assert_eq!(count(&h), (5, usable));
    h.key(KeyCode::Char('a')).await;
    assert_eq!(count(&h).1, all);
    h.snap("30_pick_scope_all");
    h.key(KeyCode::Char('v')).await;
    let p = h.model().pick.clone().expect("a pick is open");
    let catalog = h.model().catalog().expect("the catalog is loaded");
    assert!(p.items.iter().all(|i| match i {
        Item::Model(m) => catalog.rows[*m].image,
        Item::Tag(_) => true,
    }));
    assert!(count(&h).1 < all);
    h.key(KeyCode::Char('a')).await;
    h.snap("31_pick_vision_only");
    // Navigation stays in bounds.
    h.key(KeyCode::Char('G')).await;
    h.key(KeyCode::PageDown).await;
    h.key(KeyCode::Down).await;
    let p = h.model().pick.clone().expect("a pick is open");
    assert_eq!(p.selected, p.items.len() - 1);
    h.key(KeyCode::PageUp).await;
    h.key(KeyCode::Home).await;
    assert_eq!(h.model().pick.as_ref().map(|p| p.selected), Some(0));
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_screen_draws_at_every_size_without_panicking() {
    let mut h = Harness::new().await;
    let mut states: Vec<Model> = vec![h.model().clone()];
    select_worker(&mut h, "docs").await;
    h.key(KeyCode::Enter).await;
    states.push(h.model().clone());
    h.key(KeyCode::Char('/')).await;
    h.chars("fast").await;
    states.push(h.model().clone());
    h.key(KeyCode::Enter).await;
    h.key(KeyCode::Enter).await;
    states.push(h.model().clone());
    h.key(KeyCode::Enter).await;
    states.push(h.model().clone());
    h.key(KeyCode::Char('?')).await;
    states.push(h.model().clone());
    let mut loading = Model::new();
    loading.busy = Some("x".into());
    states.push(loading);
    let sizes = [
        (0, 0),
        (1, 1),
        (2, 40),
        (40, 2),
        (10, 5),
        (29, 9),
        (30, 10),
        (31, 11),
        (45, 14),
        (80, 24),
        (109, 30),
        (110, 30),
        (250, 70),
    ];
    for m in &states {
        for (w, hgt) in sizes {
            let mut t = Terminal::new(TestBackend::new(w, hgt)).expect("the terminal builds");
            t.draw(|f| view(m, f)).expect("the frame draws");
            // Resizing the same terminal keeps working too.
            t.backend_mut().resize(hgt.max(1), w.max(1));
            t.draw(|f| view(m, f)).expect("the frame draws");
        }
    }
    let mut t = Terminal::new(TestBackend::new(20, 5)).expect("the terminal builds");
    t.draw(|f| view(&states[0], f)).expect("the frame draws");
    insta::assert_snapshot!("too_small_20x5", t.backend().to_string());
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_runs_on_a_test_backend_until_q() {
    let mut h = Harness::new().await;
    let tx = h.app.sender();
    for code in [
        KeyCode::Char('?'),
        KeyCode::Esc,
        KeyCode::Char('j'),
        KeyCode::Char('q'),
    ] {
        tx.send(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
            .expect("the key is sent");
    }
    let mut t = Terminal::new(TestBackend::new(80, 24)).expect("the terminal builds");
    tokio::time::timeout(SETTLE, h.app.run(&mut t))
        .await
        .expect("the app settles in time")
        .expect("the app runs");
    assert!(h.model().quit);
    assert_eq!(h.model().selected, 1);
    assert!(h.model().fatal.is_none());
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_apply_shows_the_error_and_stays_on_apply() {
    let mut h = Harness::new().await;
    h.spawner.fail_with(Some("fake opencode: cannot start"));
    select_worker(&mut h, "coder").await;
    h.key(KeyCode::Enter).await;
    h.key(KeyCode::Char('j')).await;
    h.key(KeyCode::Enter).await;
    assert_eq!(
        h.model().apply.as_ref().map(|a| a.reference.as_str()),
        Some("node:fast")
    );
    h.key(KeyCode::Char('r')).await;
    h.key(KeyCode::Enter).await;
    assert_eq!(h.model().screen, Screen::Apply);
    let a = h.model().apply.clone().expect("an apply was recorded");
    let e = a.error.expect("an error");
    assert!(e.message.contains("coder"), "{}", e.message);
    assert!(h.model().busy.is_none());
    h.snap("23_apply_failed");
    // Esc goes back to the pick list; the TUI keeps working.
    h.key(KeyCode::Esc).await;
    assert_eq!(h.model().screen, Screen::Pick);
    h.close().await;
}

/// A backend whose `workers` panics, the others fail.
struct Panicky;

fn nope<T>() -> Result<T, orch::Error> {
    Err(orch::Error::new(
        orch::error::ErrorKind::Unavailable,
        "no backend",
    ))
}

impl Orchestrator for Panicky {
    async fn workers(&self) -> Result<orch::wire::WorkersView, orch::Error> {
        panic!("a backend bug")
    }
    async fn profiles(&self) -> Result<orch::wire::ProfilesView, orch::Error> {
        nope()
    }
    async fn models(
        &self,
        _: &orch::wire::ModelsQuery,
    ) -> Result<orch::wire::ModelsView, orch::Error> {
        nope()
    }
    async fn resolve(
        &self,
        _: &orch::wire::ResolveQuery,
    ) -> Result<orch::wire::ResolveView, orch::Error> {
        nope()
    }
    async fn tag_previews(&self, _: &str) -> Result<orch::wire::TagPreviewsView, orch::Error> {
        nope()
    }
    async fn set_model(
        &self,
        _: &orch::wire::SetModelRequest,
    ) -> Result<orch::wire::WorkerRow, orch::Error> {
        nope()
    }
    async fn reset_model(&self, _: &str) -> Result<orch::wire::WorkerRow, orch::Error> {
        nope()
    }
    async fn run(&self, _: &orch::wire::RunRequest) -> Result<orch::wire::TaskRow, orch::Error> {
        nope()
    }
    async fn await_tasks(
        &self,
        _: &[String],
        _: Duration,
    ) -> Result<orch::wire::AwaitView, orch::Error> {
        nope()
    }
    async fn tasks(
        &self,
        _: &orch::wire::TasksQuery,
    ) -> Result<orch::wire::TasksView, orch::Error> {
        nope()
    }
    async fn cancel(&self, _: &[String]) -> Result<orch::wire::CancelView, orch::Error> {
        nope()
    }
    async fn status(&self) -> Result<orch::wire::StatusView, orch::Error> {
        nope()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_backend_task_stops_the_loop_with_the_reason() {
    let mut app = App::new(Arc::new(Panicky));
    app.start();
    assert!(app.settle(SETTLE).await);
    assert!(app.model.quit);
    let why = app.model.fatal.clone().expect("a reason");
    assert!(why.contains("a backend bug"), "{why}");
    // The other failures are shown, not fatal.
    assert!(matches!(app.model.catalog, orch_tui::app::Load::Failed(_)));
}

#[test]
fn no_snapshot_holds_a_secret_or_a_temp_path() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("the directory lists") {
        let path = entry.expect("the entry reads").path();
        let text = std::fs::read_to_string(&path).expect("the file reads");
        for s in FAKE_SECRETS {
            assert!(!text.contains(s), "{} holds {s}", path.display());
        }
        assert!(
            !text.contains("/tmp/"),
            "{} holds a temp path",
            path.display()
        );
        n += 1;
    }
    assert!(n >= 20, "only {n} snapshots");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_does_not_fit_the_worker_is_refused_with_models_that_fit() {
    let mut h = Harness::new().await;
    select_worker(&mut h, "memory").await;
    h.key(KeyCode::Enter).await;
    // The usable scope lists no model that does not do text work.
    let p = h.model().pick.clone().expect("a pick is open");
    let catalog = h.model().catalog().expect("the catalog is loaded");
    assert!(p.items.iter().all(|i| match i {
        Item::Model(m) => catalog.rows[*m].not_text.is_none(),
        Item::Tag(_) => true,
    }));
    // groq/allam-2-7b does text work but cannot call tools, which the memory worker uses.
    h.key(KeyCode::Char('/')).await;
    h.chars("allam").await;
    h.key(KeyCode::Enter).await;
    let p = h.model().pick.clone().expect("a pick is open");
    let item = p.current().expect("a row");
    assert_eq!(
        p.reference(item, h.model().catalog()).as_deref(),
        Some("groq/allam-2-7b")
    );
    h.key(KeyCode::Enter).await;
    let a = h.model().apply.clone().expect("an apply screen");
    let preview = a
        .preview
        .clone()
        .expect("the preview loaded")
        .expect("an explicit reference resolves");
    assert!(
        preview
            .reason
            .contains("warning: it does not fit the memory worker: it cannot call tools"),
        "{}",
        preview.reason
    );
    // Applying it is refused by the backend, with the closest models that fit on offer.
    h.key(KeyCode::Enter).await;
    let a = h.model().apply.clone().expect("an apply screen");
    let error = a.error.clone().expect("the apply was refused");
    assert!(
        error
            .message
            .contains("groq/allam-2-7b does not fit the memory worker"),
        "{}",
        error.message
    );
    assert!(!a.suggestions().is_empty());
    let memory = h
        .backend
        .workers()
        .await
        .expect("the workers view")
        .into_row("memory")
        .expect("a memory worker");
    assert_eq!(memory.model_ref, "node");
    h.close().await;
}

// ---- issue 14: the TUI as a demanding user expects ----

/// The text of the screen at one size (for `contains` checks beside the snapshots).
fn text_at(h: &Harness, w: u16, hgt: u16) -> String {
    h.screen(w, hgt)
}

async fn ctrl(h: &mut Harness, c: char) {
    h.app.handle(Msg::Key(KeyEvent::new(
        KeyCode::Char(c),
        KeyModifiers::CONTROL,
    )));
    h.settle().await;
}

async fn ticks(h: &mut Harness, n: usize) {
    for _ in 0..n {
        h.app.handle(Msg::Tick);
    }
    h.settle().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exact_model_id_comes_before_the_tags_and_enter_applies_it() {
    let mut h = Harness::new().await;
    select_worker(&mut h, "explorer").await;
    h.key(KeyCode::Enter).await;
    h.key(KeyCode::Char('/')).await;
    h.chars("fake/big-pro").await;
    h.snap("40_exact_id_first");
    let p = h.model().pick.clone().expect("a pick is open");
    let first = p.current().expect("rows");
    assert!(matches!(first, Item::Model(_)), "{:?}", p.items);
    assert_eq!(
        p.reference(first, h.model().catalog()).as_deref(),
        Some("fake/big-pro")
    );
    // Tags that resolve to it still follow.
    assert!(p.items[1..].iter().any(|i| matches!(i, Item::Tag(_))));
    // Enter (stop typing), Enter (choose), Enter (apply): the pinned model, not a tag.
    h.key(KeyCode::Enter).await;
    h.key(KeyCode::Enter).await;
    assert_eq!(
        h.model().apply.as_ref().map(|a| a.reference.as_str()),
        Some("fake/big-pro")
    );
    h.key(KeyCode::Enter).await;
    assert_eq!(h.model().screen, Screen::Verify);
    let row = h
        .model()
        .worker("explorer")
        .cloned()
        .expect("an explorer row");
    assert_eq!(row.model_ref, "fake/big-pro");
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_model_id_and_its_marker_are_whole_on_verify_at_80_columns() {
    let mut h = Harness::new().await;
    // The longest id a docs worker can use.
    let catalog = h.model().catalog().expect("the catalog is loaded");
    let long = catalog
        .rows
        .iter()
        .filter(|r| r.usable && r.not_text.is_none() && r.tool_call)
        .map(|r| r.model.clone())
        .max_by_key(|m| (m.len(), m.clone()))
        .expect("a usable model");
    assert!(long.len() >= 25, "{long}");
    select_worker(&mut h, "docs").await;
    h.key(KeyCode::Enter).await;
    h.key(KeyCode::Char('/')).await;
    h.chars(&long).await;
    h.snap("41_pick_long_id");
    h.key(KeyCode::Enter).await;
    h.key(KeyCode::Enter).await;
    h.key(KeyCode::Enter).await;
    assert_eq!(h.model().screen, Screen::Verify);
    h.snap("42_verify_long_id");
    for (w, hgt) in SIZES {
        let screen = text_at(&h, w, hgt);
        let row = screen
            .lines()
            .find(|l| l.contains("│› docs"))
            .unwrap_or_else(|| panic!("no docs row at {w}x{hgt}:\n{screen}"));
        assert!(row.contains(&format!("{long}*")), "{w}x{hgt}: {row}");
        assert!(row.contains(&long), "{w}x{hgt}: {row}");
        let models = row.split("dynamic").next().unwrap_or_default();
        assert!(!models.contains('…'), "{w}x{hgt}: {row}");
    }
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prices_are_never_cut_in_the_pick_list() {
    let mut h = Harness::new().await;
    select_worker(&mut h, "coder").await;
    h.key(KeyCode::Enter).await;
    // The widest price of any model (scope all), typed exactly so it is the first row.
    h.key(KeyCode::Char('a')).await;
    let catalog = h.model().catalog().expect("the catalog is loaded");
    let (model, cost) = catalog
        .rows
        .iter()
        .map(|r| {
            let cost = format!(
                "{}/{}",
                orch::numbers::price_or_unknown(r.cost_input),
                orch::numbers::price_or_unknown(r.cost_output)
            );
            (r.model.clone(), cost)
        })
        .max_by_key(|(m, c)| (c.len(), m.clone()))
        .expect("a usable model");
    assert!(cost.len() >= 11, "{cost}");
    h.key(KeyCode::Char('/')).await;
    h.chars(&model).await;
    for (w, hgt) in SIZES {
        let screen = text_at(&h, w, hgt);
        assert!(screen.contains(&cost), "{w}x{hgt}: {cost} cut:\n{screen}");
    }
    h.snap("43_pick_whole_price");
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_asks_first_says_when_there_is_nothing_and_verify_shows_what_it_replaced() {
    let mut h = Harness::new().await;
    select_worker(&mut h, "docs").await;
    // Nothing set by the user: R says so and runs nothing.
    h.key(KeyCode::Char('R')).await;
    assert!(h.model().confirm_reset.is_none());
    assert!(h.model().busy.is_none());
    assert!(
        matches!(&h.model().notice, Some(orch_tui::app::Notice::Info(s)) if s.contains("nothing to reset")),
        "{:?}",
        h.model().notice
    );
    h.snap("50_reset_nothing");
    // Apply node:fast (dynamic), then reset from Verify.
    h.key(KeyCode::Enter).await;
    h.key(KeyCode::Char('/')).await;
    h.chars("node:fast").await;
    h.key(KeyCode::Enter).await;
    h.key(KeyCode::Enter).await;
    h.key(KeyCode::Enter).await;
    assert_eq!(h.model().screen, Screen::Verify);
    assert_eq!(
        h.model().worker("docs").map(|w| w.model_ref.as_str()),
        Some("node:fast")
    );
    h.key(KeyCode::Char('R')).await;
    assert_eq!(h.model().confirm_reset.as_deref(), Some("docs"));
    h.snap("51_reset_confirm");
    // No: nothing changes.
    h.key(KeyCode::Char('n')).await;
    assert!(h.model().confirm_reset.is_none());
    assert_eq!(
        h.model().worker("docs").map(|w| w.model_ref.as_str()),
        Some("node:fast")
    );
    // Yes: reset, and "before" is the state just replaced, not the one before the apply.
    h.key(KeyCode::Char('R')).await;
    h.key(KeyCode::Char('y')).await;
    let v = h.model().verify.clone().expect("verify is open");
    assert_eq!(v.before.model_ref, "node:fast");
    assert!(v.before.overridden);
    assert_eq!(v.after.model_ref, "node:docs");
    assert!(!v.after.overridden);
    h.snap("52_verify_after_reset");
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_from_another_client_shows_without_r() {
    let mut h = Harness::new().await;
    // Another client (the CLI, an MCP client) changes a worker.
    h.backend
        .set_model(&orch::wire::SetModelRequest {
            worker: "coder".into(),
            model: "node:fast".into(),
            policy: Policy::Dynamic,
            respawn: false,
            force: false,
        })
        .await
        .expect("the change applies");
    assert_eq!(
        h.model().worker("coder").map(|w| w.model_ref.as_str()),
        Some("node")
    );
    // Idle ticks (1.5 s of them) poll the workers.
    ticks(&mut h, 14).await;
    assert_eq!(
        h.model().worker("coder").map(|w| w.model_ref.as_str()),
        Some("node")
    );
    ticks(&mut h, 1).await;
    let coder = h.model().worker("coder").cloned().expect("a coder row");
    assert_eq!(coder.model_ref, "node:fast");
    assert!(coder.overridden);
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_shows_its_time_and_is_cancelled_by_c_esc_and_leaving() {
    let mut h = Harness::new().await;
    select_worker(&mut h, "docs").await;
    // A first probe that answers starts the worker, so its status is steady below.
    h.key(KeyCode::Char('p')).await;
    h.key(KeyCode::Esc).await;
    // From now on its OpenCode takes 10 minutes to answer.
    h.spawner.set_prompt_delay(Duration::from_secs(600));
    for server in h.spawner.servers() {
        server.state().prompt_delay = Duration::from_secs(600);
    }
    let tasks = |h: &Harness| {
        let backend = Arc::clone(&h.backend);
        async move {
            backend
                .tasks(&orch::wire::TasksQuery::default())
                .await
                .expect("the tasks view")
                .tasks
        }
    };
    for (how, keys) in [
        ("c", vec![KeyCode::Char('c')]),
        ("esc", vec![KeyCode::Esc]),
        ("enter", vec![KeyCode::Enter]),
    ] {
        h.app.handle(Msg::Key(KeyEvent::new(
            KeyCode::Char('p'),
            KeyModifiers::NONE,
        )));
        assert_eq!(h.model().screen, Screen::Verify);
        // Wait until the probe's task runs in the backend.
        let deadline = tokio::time::Instant::now() + SETTLE;
        while !tasks(&h)
            .await
            .iter()
            .any(|t| t.status == orch::wire::TaskStatus::Running)
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{how}: no task runs"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for _ in 0..25 {
            h.app.handle(Msg::Tick);
        }
        let v = h.model().verify.clone().expect("verify is open");
        assert!(v.probing);
        assert_eq!(v.probe_secs(), 2);
        if how == "c" {
            h.snap("53_probing");
        }
        for k in keys {
            h.app.handle(Msg::Key(KeyEvent::new(k, KeyModifiers::NONE)));
        }
        h.settle().await;
        assert!(h.model().busy.is_none(), "{how}");
        let v = h.model().verify.clone().expect("verify is open");
        assert!(!v.probing, "{how}");
        let e = v
            .probe
            .clone()
            .expect("the probe ended")
            .expect_err("cancelled");
        assert!(e.message.contains("cancelled"), "{how}: {}", e.message);
        match how {
            "c" | "esc" => {
                assert_eq!(h.model().screen, Screen::Verify);
                if how == "c" {
                    // The worker's status settles (the cancelled session ends), then an
                    // idle poll shows it: the snapshot does not race the backend.
                    let deadline = tokio::time::Instant::now() + SETTLE;
                    loop {
                        let docs = h
                            .backend
                            .workers()
                            .await
                            .expect("the workers view")
                            .into_row("docs")
                            .expect("a docs worker");
                        if docs.status == WorkerStatus::Ready {
                            break;
                        }
                        assert!(tokio::time::Instant::now() < deadline, "{:?}", docs.status);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    ticks(&mut h, 15).await;
                    h.snap("54_probe_cancelled");
                }
            }
            // Leaving the screen cancels it.
            _ => assert_eq!(h.model().screen, Screen::Workers, "{how}"),
        }
        // The task in the backend is cancelled too.
        let deadline = tokio::time::Instant::now() + SETTLE;
        while tasks(&h).await.iter().any(|t| {
            matches!(
                t.status,
                orch::wire::TaskStatus::Running | orch::wire::TaskStatus::Queued
            )
        }) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{how}: the task runs on"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if h.model().screen == Screen::Verify {
            h.key(KeyCode::Esc).await;
        }
    }
    // q while probing: the loop ends and the task does not run on.
    let tx = h.app.sender();
    tx.send(Msg::Key(KeyEvent::new(
        KeyCode::Char('p'),
        KeyModifiers::NONE,
    )))
    .expect("the key is sent");
    let mut t = Terminal::new(TestBackend::new(80, 24)).expect("the terminal builds");
    let watcher = Arc::clone(&h.backend);
    let quit = async move {
        let deadline = tokio::time::Instant::now() + SETTLE;
        while !watcher
            .tasks(&orch::wire::TasksQuery::default())
            .await
            .expect("the tasks view")
            .tasks
            .iter()
            .any(|t| t.status == orch::wire::TaskStatus::Running)
        {
            assert!(tokio::time::Instant::now() < deadline, "q: no task runs");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tx.send(Msg::Key(KeyEvent::new(
            KeyCode::Char('q'),
            KeyModifiers::NONE,
        )))
        .expect("the key is sent");
    };
    let backend = Arc::clone(&h.backend);
    let (run, ()) = tokio::join!(tokio::time::timeout(SETTLE, h.app.run(&mut t)), quit);
    run.expect("the app quits in time").expect("the app runs");
    let left = backend
        .tasks(&orch::wire::TasksQuery::default())
        .await
        .expect("the tasks view")
        .tasks;
    assert!(
        left.iter().all(|t| !matches!(
            t.status,
            orch::wire::TaskStatus::Running | orch::wire::TaskStatus::Queued
        )),
        "{left:?}"
    );
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_all_scope_usable_models_rank_above_unusable_ones() {
    let mut h = Harness::new().await;
    select_worker(&mut h, "coder").await;
    h.key(KeyCode::Enter).await;
    h.key(KeyCode::Char('a')).await;
    for query in ["", "gpt", "llama"] {
        if !query.is_empty() {
            h.key(KeyCode::Char('/')).await;
            h.chars(query).await;
            h.key(KeyCode::Enter).await;
        }
        let p = h.model().pick.clone().expect("a pick is open");
        let catalog = h.model().catalog().expect("the catalog is loaded");
        let usable: Vec<bool> = p
            .items
            .iter()
            .filter_map(|i| match i {
                Item::Model(m) => {
                    Some(catalog.rows[*m].usable && catalog.rows[*m].not_text.is_none())
                }
                Item::Tag(_) => None,
            })
            .collect();
        let first_unusable = usable.iter().position(|u| !u).expect("some are unusable");
        assert!(first_unusable > 0, "{query}");
        assert!(
            usable[first_unusable..].iter().all(|u| !u),
            "{query}: a usable model after an unusable one"
        );
        if query == "gpt" {
            h.snap("44_all_scope_usable_first");
        }
        for _ in 0..query.len() {
            h.key(KeyCode::Char('/')).await;
            h.key(KeyCode::Backspace).await;
            h.key(KeyCode::Enter).await;
        }
    }
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hints_say_only_what_works_and_no_space_is_wasted() {
    let mut h = Harness::new().await;
    // 80x24, nothing to say: the key bar sits right under the detail box.
    let screen = text_at(&h, 80, 24);
    let lines: Vec<&str> = screen.lines().collect();
    assert!(
        lines[22].contains('└'),
        "a blank row above the key bar:\n{screen}"
    );
    // 160x48: the workers box holds its rows, no more.
    let screen = text_at(&h, 160, 48);
    let workers = h.model().workers.ready().map_or(0, Vec::len);
    let lines: Vec<&str> = screen.lines().collect();
    assert!(lines[1].contains("Workers"), "{screen}");
    assert!(lines[3 + workers].contains('└'), "{screen}");
    // No match while typing: `a` would type a letter, so the hint says Esc first.
    select_worker(&mut h, "docs").await;
    h.key(KeyCode::Enter).await;
    h.key(KeyCode::Char('/')).await;
    h.chars("zzqqxx").await;
    let screen = text_at(&h, 80, 24);
    assert!(screen.contains("Esc then a: all models"), "{screen}");
    h.snap("45_no_match_typing");
    h.key(KeyCode::Enter).await;
    assert!(text_at(&h, 80, 24).contains("(/: edit the search, a: all models)"));
    // An unknown key says so.
    h.key(KeyCode::Char('x')).await;
    assert!(text_at(&h, 80, 24).contains("x does nothing here; ? lists the keys"));
    // The apply key bar offers suggestions only when there are some.
    h.key(KeyCode::Esc).await;
    h.key(KeyCode::Esc).await;
    h.key(KeyCode::Enter).await;
    h.key(KeyCode::Char('j')).await;
    h.key(KeyCode::Enter).await;
    assert_eq!(h.model().screen, Screen::Apply);
    let screen = text_at(&h, 80, 24);
    assert!(!screen.contains("suggestion"), "{screen}");
    // The policies are explained, one line each.
    assert!(screen.contains("dynamic rides on each message"), "{screen}");
    assert!(
        screen.contains("sticky  also the worker's default"),
        "{screen}"
    );
    h.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pick_opens_on_the_current_model_and_ctrl_d_u_page() {
    let mut h = Harness::new().await;
    select_worker(&mut h, "docs").await;
    h.key(KeyCode::Enter).await;
    let p = h.model().pick.clone().expect("a pick is open");
    let at = p.current().expect("a row");
    assert_eq!(
        p.reference(at, h.model().catalog()).as_deref(),
        Some("node:docs")
    );
    let start = p.selected;
    ctrl(&mut h, 'd').await;
    let page = h.model().page;
    assert_eq!(
        h.model().pick.as_ref().map(|p| p.selected),
        Some(start + page)
    );
    ctrl(&mut h, 'u').await;
    assert_eq!(h.model().pick.as_ref().map(|p| p.selected), Some(start));
    h.close().await;
}

/// Issue 12: the verify screen shows the probe's tokens, cost (an estimate said so) and
/// times, and when it fell back, each attempt; the worker list's detail shows what the
/// worker and the project cost today, in the last 7 days and all time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_shows_its_usage_per_attempt_and_the_workers_what_they_cost() {
    let mut h = Harness::new().await;
    let reply: serde_json::Value =
        serde_json::from_str(&orch::testutil::fixture("prompt-error-429.json"))
            .expect("the capture parses");
    h.spawner
        .fail_model("fake/big-pro", reply["info"]["error"].clone());
    h.backend
        .set_model(&orch::wire::SetModelRequest {
            worker: "coder".into(),
            model: "fake/big-pro, openai/gpt-4o".into(),
            policy: Policy::Dynamic,
            respawn: false,
            force: false,
        })
        .await
        .expect("the chain applies");
    h.key(KeyCode::Char('r')).await;
    select_worker(&mut h, "coder").await;
    h.key(KeyCode::Char('p')).await;
    let probe = h
        .model()
        .verify
        .as_ref()
        .and_then(|v| v.probe.clone())
        .expect("a probe ran")
        .expect("the probe succeeded");
    assert_eq!(probe.attempts.len(), 2, "{probe:?}");
    let usage = probe.usage.clone().expect("the probe's usage");
    assert!(
        usage.estimated,
        "openai/gpt-4o's price, OpenCode reported 0"
    );
    let screen = text_at(&h, 160, 48);
    assert!(screen.contains("(estimate)"), "{screen}");
    assert!(
        screen.contains("attempt 1 fake/big-pro: 429, no usage"),
        "{screen}"
    );
    assert!(screen.contains("attempt 2 openai/gpt-4o: 5 in"), "{screen}");
    h.snap("60_verify_usage_fallback");

    // A second task, on a model without a price: the sums say what is unknown.
    h.backend
        .set_model(&orch::wire::SetModelRequest {
            worker: "coder".into(),
            model: "fake/fast-mini".into(),
            policy: Policy::Dynamic,
            respawn: false,
            force: false,
        })
        .await
        .expect("the model applies");
    h.key(KeyCode::Char('p')).await;
    let probe = h
        .model()
        .verify
        .as_ref()
        .and_then(|v| v.probe.clone())
        .expect("a probe ran")
        .expect("the probe succeeded");
    assert_eq!(probe.usage.and_then(|u| u.cost_usd), None, "unknown, not 0");
    let screen = text_at(&h, 80, 24);
    assert!(
        screen.contains("cost unknown (no price for this model)"),
        "{screen}"
    );
    h.key(KeyCode::Esc).await;
    h.key(KeyCode::Char('r')).await;
    assert_eq!(h.model().screen, Screen::Workers);
    let coder = h.model().worker("coder").cloned().expect("a coder row");
    let costs = coder.usage.expect("coder's usage");
    assert_eq!((costs.all_time.tasks, costs.all_time.unknown_cost), (2, 1));
    assert_eq!(costs.last_7_days, costs.all_time, "both ran this week");
    let screen = text_at(&h, 160, 48);
    assert!(screen.contains("+ 1 unknown"), "{screen}");
    h.snap("61_workers_costs");
    h.close().await;
}

/// Every screen capture in `docs/tui.md` is one of these snapshots, as it is now.
#[test]
fn the_screens_in_docs_tui_md_are_current_snapshots() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("../docs/tui.md")).expect("docs/tui.md reads");
    let mut screens = Vec::new();
    for entry in std::fs::read_dir(root.join("tests/snapshots")).expect("the snapshots list") {
        let text = std::fs::read_to_string(entry.expect("an entry").path()).expect("it reads");
        let body = text.splitn(3, "---\n").nth(2).unwrap_or_default();
        let lines: Vec<String> = body
            .lines()
            .filter_map(|l| serde_json_line(l.trim()))
            .map(|l| l.trim_end().to_owned())
            .collect();
        screens.push(lines.join("\n"));
    }
    let mut checked = 0;
    for block in doc.split("```text\n").skip(1) {
        let block = block.split("```").next().unwrap_or_default().trim_end();
        if !block.starts_with("orch ·") {
            continue;
        }
        assert!(
            screens.iter().any(|s| s.trim_end() == block),
            "a screen in docs/tui.md is not a current snapshot:\n{block}"
        );
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} screens checked");
}

/// One line of an insta snapshot (`"…"`, JSON-escaped) as text.
fn serde_json_line(l: &str) -> Option<String> {
    let inner = l.strip_prefix('"')?.strip_suffix('"')?;
    Some(inner.replace("\\\"", "\"").replace("\\\\", "\\"))
}
