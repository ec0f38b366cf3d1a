//! The TUI's happy path against a real backend: the MCP server on a Unix socket over the
//! real worker manager (fake spawner and fake OpenCode behind it), reached through the same
//! socket client `orch tui` uses. list → pick `docs` → search `fast` → `node:fast` → apply
//! sticky → verify → probe.

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use orch::client::SocketClient;
use orch::resolve::Policy;
use orch::testutil::capture_home;
use orch::testutil::fake_spawner::FakeSpawner;
use orch::testutil::served::Served;
use orch_tui::App;
use orch_tui::action::Msg;
use orch_tui::app::Screen;

const SETTLE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flow_runs_against_the_backend_over_its_socket() {
    let dir = tempfile::tempdir().expect("a temp dir is created");
    let (paths, env) = capture_home(dir.path());
    let spawner = FakeSpawner::new();
    let manager = spawner.manager(&paths, &env);
    let served = Served::start(Arc::new(manager), &paths, Default::default());
    let socket = served.socket.clone();

    let stream = tokio::net::UnixStream::connect(&socket)
        .await
        .expect("the socket connects");
    let client = SocketClient::connect(stream, &socket)
        .await
        .expect("the client connects");
    let mut app = App::new(Arc::new(client));
    app.start();
    assert!(app.settle(SETTLE).await);
    // One key, then wait for whatever it started (as a user waits for the screen).
    async fn key(app: &mut App<SocketClient>, code: KeyCode) {
        app.handle(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
        assert!(app.settle(SETTLE).await, "the backend did not answer");
    }

    let docs = app
        .model
        .workers
        .ready()
        .and_then(|w| w.iter().position(|w| w.id == "docs"))
        .expect("a docs worker");
    key(&mut app, KeyCode::Char('g')).await;
    for _ in 0..docs {
        key(&mut app, KeyCode::Char('j')).await;
    }
    key(&mut app, KeyCode::Enter).await;
    assert!(app.settle(SETTLE).await);
    assert_eq!(app.model.screen, Screen::Pick);
    key(&mut app, KeyCode::Char('/')).await;
    for c in "fast".chars() {
        key(&mut app, KeyCode::Char(c)).await;
    }
    assert!(app.settle(SETTLE).await);
    key(&mut app, KeyCode::Enter).await;
    key(&mut app, KeyCode::Enter).await;
    assert!(app.settle(SETTLE).await);
    assert_eq!(app.model.screen, Screen::Apply);
    key(&mut app, KeyCode::Char('s')).await;
    key(&mut app, KeyCode::Enter).await;
    assert!(app.settle(SETTLE).await);
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 30))
        .expect("the terminal builds");
    app.draw(&mut t).expect("the frame draws");
    assert_eq!(app.model.screen, Screen::Verify, "{}", t.backend());
    let row = app.model.worker("docs").cloned().expect("a docs row");
    assert_eq!(row.model_ref, "node:fast");
    assert_eq!(row.resolved_model.as_deref(), Some("fake/fast-mini"));
    assert_eq!(row.policy, Policy::Sticky);
    assert!(row.reason.contains("small_model"), "{}", row.reason);

    key(&mut app, KeyCode::Char('p')).await;
    assert!(app.settle(SETTLE).await);
    let probe = app
        .model
        .verify
        .as_ref()
        .and_then(|v| v.probe.clone())
        .expect("a probe ran")
        .expect("the probe succeeded");
    assert_eq!(probe.resolved_model, "fake/fast-mini");
    assert_eq!(probe.answered_by.as_deref(), Some("fake/fast-mini"));
    assert_eq!(spawner.spawn_count(), 1);

    drop(app);
    let _ = tokio::time::timeout(Duration::from_secs(10), served.stop()).await;
}
