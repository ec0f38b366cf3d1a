//! The TUI shows what the backend worked around: a damaged `state.json`, moved aside by
//! the worker manager, is on the status line (and the header names the project), through
//! the real socket client `orch tui` uses.

use std::sync::Arc;
use std::time::Duration;

use orch::client::SocketClient;
use orch::testutil::fake_spawner::FakeSpawner;
use orch::testutil::served::Served;
use orch::testutil::{capture_home, regex_escape};
use orch_tui::App;

const SETTLE: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_state_json_is_on_the_status_line() {
    let dir = tempfile::tempdir().expect("a temp dir is created");
    let (paths, env) = capture_home(dir.path());
    let state_dir = paths.project_state_dir();
    std::fs::create_dir_all(&state_dir).expect("the project state dir");
    std::fs::write(state_dir.join("state.json"), "{\"version\": 1, \"wor")
        .expect("a damaged state.json");
    let spawner = FakeSpawner::new();
    let manager = spawner.manager(&paths, &env);
    let served = Served::start(Arc::new(manager), &paths, Default::default());
    let stream = tokio::net::UnixStream::connect(&served.socket)
        .await
        .expect("the socket connects");
    let client = SocketClient::connect(stream, &served.socket)
        .await
        .expect("the client connects");
    let mut app = App::new(Arc::new(client));
    app.start();
    assert!(app.settle(SETTLE).await);
    assert_eq!(app.model.project, paths.project_dir.display().to_string());
    assert_eq!(app.model.warnings.len(), 1, "{:?}", app.model.warnings);
    assert!(
        app.model.warnings[0].contains("state.json.corrupt-"),
        "{:?}",
        app.model.warnings
    );
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(160, 24))
        .expect("the terminal builds");
    app.draw(&mut t).expect("the frame draws");
    let text = t.backend().to_string();
    assert!(text.contains("⚠ worker settings were reset"), "{text}");
    let tmp = regex_escape(&dir.path().display().to_string());
    insta::with_settings!({filters => vec![
        (tmp.as_str(), "[TMP]"),
        (r"project-[0-9a-f]{12}", "project-[KEY]"),
    ]}, {
        insta::assert_snapshot!("damaged_state_json_160x24", text);
    });
    served.stop().await;
}
