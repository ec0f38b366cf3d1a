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

/// After the backend restarts, the TUI says it lost it (keeping the rows it had), retries
/// on its own, and `r` reaches the new backend (issue 14, point 4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tui_reconnects_after_the_backend_restarts() {
    use orch_tui::redial::Redial;

    let dir = tempfile::tempdir().expect("a temp dir is created");
    let (paths, env) = capture_home(dir.path());
    let spawner = FakeSpawner::new();
    let served = Served::start(
        Arc::new(spawner.manager(&paths, &env)),
        &paths,
        Default::default(),
    );
    let socket = served.socket.clone();
    let dial = {
        let socket = socket.clone();
        move || {
            let socket = socket.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(&socket)
                    .await
                    .map_err(|e| {
                        orch::Error::new(orch::error::ErrorKind::Unavailable, e.to_string())
                    })?;
                SocketClient::connect(stream, &socket).await
            }
        }
    };
    let first = dial().await.expect("the client connects");
    let mut app = App::new(Arc::new(Redial::new(first, dial)));
    app.start();
    assert!(app.settle(SETTLE).await);
    let rows = app.model.workers.ready().map_or(0, Vec::len);
    assert!(rows > 0);

    // The backend goes away: the next poll says so, the rows stay.
    let _ = tokio::time::timeout(Duration::from_secs(10), served.stop()).await;
    let tick = |app: &mut App<_>, n: usize| {
        for _ in 0..n {
            app.handle(Msg::Tick);
        }
    };
    tick(&mut app, 15);
    assert!(app.settle(SETTLE).await);
    assert!(app.model.lost.is_some(), "the loss is noticed");
    assert_eq!(app.model.workers.ready().map_or(0, Vec::len), rows);
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24))
        .expect("the terminal builds");
    app.draw(&mut t).expect("the frame draws");
    let screen = t.backend().to_string();
    assert!(screen.contains("retrying every 2s"), "{screen}");
    // Retries on its own, every 2 s, while it is down.
    tick(&mut app, 20);
    assert!(app.settle(SETTLE).await);
    assert!(app.model.lost.is_some());

    // A new backend on the same socket (a restart): `r` reaches it.
    let spawner2 = FakeSpawner::new();
    let served = Served::start(
        Arc::new(spawner2.manager(&paths, &env)),
        &paths,
        Default::default(),
    );
    app.handle(Msg::Key(KeyEvent::new(
        KeyCode::Char('r'),
        KeyModifiers::NONE,
    )));
    assert!(app.settle(SETTLE).await);
    assert!(app.model.lost.is_none(), "{:?}", app.model.lost);
    assert_eq!(app.model.workers.ready().map_or(0, Vec::len), rows);

    // And on its own: another restart, then only ticks.
    let _ = tokio::time::timeout(Duration::from_secs(10), served.stop()).await;
    tick(&mut app, 15);
    assert!(app.settle(SETTLE).await);
    assert!(app.model.lost.is_some());
    let spawner3 = FakeSpawner::new();
    let served = Served::start(
        Arc::new(spawner3.manager(&paths, &env)),
        &paths,
        Default::default(),
    );
    tick(&mut app, 20);
    assert!(app.settle(SETTLE).await);
    assert!(app.model.lost.is_none(), "{:?}", app.model.lost);
    app.draw(&mut t).expect("the frame draws");
    assert!(
        t.backend().to_string().contains("reconnected"),
        "{}",
        t.backend()
    );

    drop(app);
    let _ = tokio::time::timeout(Duration::from_secs(10), served.stop()).await;
    drop((spawner, spawner2, spawner3));
}
