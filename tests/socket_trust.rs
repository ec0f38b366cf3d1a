//! Socket trust (issue 10, findings 3 and 4), tried as another local user would: a
//! runtime directory others can write to, a socket served by another uid, a client of
//! another uid, a planted `/tmp`-style fallback. Where a second uid is needed the test
//! binary re-runs itself as uid 65534 (root only; otherwise the test says it is skipped).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use orch::api::Orchestrator;
use orch::client::{ConnectError, SocketClient, connect};
use orch::knowledge::Knowledge;
use orch::mcp::{Listener, SocketError, choose_socket};
use orch::paths::Paths;
use orch::tasks::Limits;
use orch::testutil::capture_home;
use orch::testutil::fake_workers::FakeWorkers;
use orch::testutil::other_uid::{OTHER_UID, OtherUid, Role, can_switch, chmod, give_away, plant};
use orch::testutil::served::Served;
use tokio::net::UnixListener;

/// The other-uid process's entry point (a no-op in a normal run).
#[test]
fn other_uid_helper() {
    orch::testutil::other_uid::run_if_asked();
}

/// A home in `root` with `XDG_RUNTIME_DIR=root/run` (0755) and `TMPDIR=root/tmp` (1777).
#[expect(clippy::expect_used, reason = "test helper")]
fn machine(root: &Path) -> (Paths, FakeWorkers) {
    let (_, mut env) = capture_home(root);
    for (var, dir, mode) in [("XDG_RUNTIME_DIR", "run", 0o755), ("TMPDIR", "tmp", 0o1777)] {
        let dir = root.join(dir);
        std::fs::create_dir_all(&dir).expect("a directory");
        chmod(&dir, mode);
        env.set(var, dir.display().to_string());
    }
    let paths = Paths::resolve(&env, root.join("project"));
    let fake = FakeWorkers::new(Knowledge::load_local(&paths, &env).expect("the captures load"));
    (paths, fake)
}

/// [`machine`] in a fresh temp dir for a test that needs a second uid; `None` (the test
/// says it is skipped) when this process may not switch uid.
#[expect(clippy::expect_used, reason = "test helper")]
fn machine_of_root(test: &str) -> Option<(tempfile::TempDir, Paths, FakeWorkers)> {
    if !can_switch(test) {
        return None;
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let (paths, fake) = machine(dir.path());
    Some((dir, paths, fake))
}

fn with_socket(paths: &Paths, socket: &Path) -> Paths {
    let mut p = paths.clone();
    p.socket_candidates = vec![socket.to_path_buf()];
    p
}

/// [`plant`], served through tokio.
#[expect(clippy::expect_used, reason = "test helper")]
fn plant_async(socket: &Path) -> UnixListener {
    UnixListener::from_std(plant(socket)).expect("the planted socket in tokio")
}

/// Nobody connected to the planted socket within 200 ms.
async fn assert_untouched(planted: &UnixListener) {
    assert!(
        tokio::time::timeout(Duration::from_millis(200), planted.accept())
            .await
            .is_err(),
        "the planted socket got a connection"
    );
}

#[tokio::test]
async fn a_world_writable_runtime_dir_without_sticky_bit_is_skipped() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (paths, fake) = machine(dir.path());
    let [runtime, fallback] = [0, 1].map(|i| paths.socket_candidates[i].clone());
    // Someone swapped their own socket into the world-writable runtime dir.
    let run = dir.path().join("run");
    chmod(&run, 0o777);
    let planted = plant_async(&runtime);

    let choice = choose_socket(&paths.socket_candidates).expect("a safe candidate");
    assert_eq!(
        choice.socket, fallback,
        "the backend listens on the fallback"
    );
    assert!(
        matches!(&choice.skipped[..], [SocketError::UnsafeDir { why, .. }] if why.contains("sticky")),
        "{:?}",
        choice.skipped
    );
    match connect(&paths).await {
        Err(ConnectError::NotRunning { socket }) => assert_eq!(socket, fallback),
        Err(e) => panic!("expected NotRunning, got {e}"),
        Ok((_, s)) => panic!("connected to {}", s.display()),
    }
    // Clients and the backend agree: served on the fallback, found there.
    let served = Served::start(
        Arc::new(fake),
        &with_socket(&paths, &fallback),
        Limits::default(),
    );
    let (stream, socket) = connect(&paths).await.expect("the backend is found");
    assert_eq!(socket, fallback);
    let client = SocketClient::connect(stream, &socket)
        .await
        .expect("handshake");
    assert_eq!(
        client.status().await.expect("status").socket.as_deref(),
        Some(fallback.display().to_string().as_str())
    );
    client.close().await;
    assert_untouched(&planted).await;

    // Named explicitly, the unsafe path is an error, for clients and the backend.
    match connect(&with_socket(&paths, &runtime)).await {
        Err(ConnectError::Unsafe(SocketError::UnsafeDir { why, .. })) => {
            assert!(why.contains("777"), "{why}");
        }
        Err(e) => panic!("expected UnsafeDir, got {e}"),
        Ok(_) => panic!("connected to an unsafe override"),
    }
    assert!(matches!(
        Listener::bind(&dir.path().join("run/other/orch.sock")),
        Err(SocketError::UnsafeDir { .. })
    ));
    assert_untouched(&planted).await;
    served.stop().await;
}

#[tokio::test]
async fn a_planted_fallback_does_not_block_a_cold_start() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let (paths, fake) = machine(dir.path());
    let [runtime, fallback] = [0, 1].map(|i| paths.socket_candidates[i].clone());
    // Another user created /tmp/orch-<uid>/orch.sock: theirs when we can chown, else open.
    let planted = plant_async(&fallback);
    let planted_dir = fallback.parent().expect("a directory");
    give_away(planted_dir);
    match connect(&paths).await {
        Err(ConnectError::NotRunning { socket }) => assert_eq!(socket, runtime),
        Err(e) => panic!("a planted fallback blocks the start: {e}"),
        Ok((_, s)) => panic!("connected to {}", s.display()),
    }
    let served = Served::start(Arc::new(fake), &paths, Limits::default());
    let (_, socket) = connect(&paths).await.expect("the backend is found");
    assert_eq!(socket, runtime);
    assert_untouched(&planted).await;
    served.stop().await;
}

#[tokio::test]
async fn a_socket_served_by_another_uid_gets_nothing() {
    let Some((dir, paths, _)) = machine_of_root("a_socket_served_by_another_uid_gets_nothing")
    else {
        return;
    };
    // The other user serves a socket, which then sits in our private directory.
    chmod(dir.path(), 0o711);
    let scratch = dir.path().join("scratch");
    let theirs = scratch.join("s.sock");
    let other = OtherUid::start(Role::Server, &theirs, &scratch);
    assert!(other.wait_listening(&theirs), "the other uid listens");
    let ours = paths.socket_candidates[0].clone();
    let private = ours.parent().expect("a directory");
    std::fs::create_dir_all(private).expect("the private directory");
    chmod(private, 0o700);
    std::fs::rename(&theirs, &ours).expect("the socket moved in");

    match connect(&paths).await {
        Err(ConnectError::Unsafe(SocketError::ForeignPeer { uid, .. })) => {
            assert_eq!(uid, OTHER_UID);
        }
        Err(e) => panic!("expected ForeignPeer, got {e}"),
        Ok(_) => panic!("connected to another user's socket"),
    }
    other.assert_received_nothing("the other uid's server received something");
}

#[tokio::test]
async fn the_backend_closes_connections_from_another_uid() {
    let Some((dir, paths, fake)) =
        machine_of_root("the_backend_closes_connections_from_another_uid")
    else {
        return;
    };
    let served = Served::start(Arc::new(fake), &paths, Limits::default());
    let socket: PathBuf = served.socket.clone();
    // Let the other uid reach the socket at all: the uid check is what must stop it.
    let private = socket.parent().expect("a directory").to_path_buf();
    chmod(dir.path(), 0o711);
    chmod(&private, 0o711);
    chmod(&socket, 0o666);
    let other = OtherUid::start(Role::Client, &socket, &dir.path().join("scratch"));
    other.assert_received_nothing("the backend answered another uid");
    assert_eq!(served.backend.connections(), 0);
    chmod(&private, 0o700);
    // Its own user is still served.
    let (stream, found) = connect(&paths).await.expect("the backend is found");
    let client = SocketClient::connect(stream, &found)
        .await
        .expect("handshake");
    client.status().await.expect("status");
    client.close().await;
    served.stop().await;
}
