//! The `orch` binary against another local user's traps at its socket paths (issue 10,
//! findings 3 and 4): a world-writable runtime dir, a planted `/tmp`-style fallback, a
//! socket served by another uid. Where a second uid is needed the test binary re-runs
//! itself as uid 65534 (root only; otherwise the test says it is skipped).

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use orch::testutil::other_uid::{OTHER_UID, OtherUid, Role, can_switch, chmod, give_away, plant};
use orch::testutil::{Run, Sandbox};
use orch::wire::StatusView;

const BIN: &str = env!("CARGO_BIN_EXE_orch");

/// The other-uid process's entry point (a no-op in a normal run).
#[test]
fn other_uid_helper() {
    orch::testutil::other_uid::run_if_asked();
}

/// Nobody connected to the planted socket.
fn assert_untouched(planted: &std::os::unix::net::UnixListener) {
    assert!(
        matches!(planted.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the planted socket got a connection"
    );
}

/// `orch status --format json`, which must report the backend on `socket`.
fn status_on(h: &Sandbox, socket: &Path) -> (Run, StatusView) {
    let run = h.run(&["status", "--format", "json"]);
    let status: StatusView = run.json();
    assert_eq!(
        status.socket.as_deref(),
        Some(socket.display().to_string().as_str())
    );
    (run, status)
}

#[test]
fn a_cold_start_skips_a_world_writable_runtime_dir() {
    let h = Sandbox::capture(BIN);
    let [runtime, fallback] = [0, 1].map(|i| h.paths().socket_candidates[i].clone());
    chmod(&h.root().join("run"), 0o777);
    let planted = plant(&runtime);

    let (run, status) = status_on(&h, &fallback);
    assert!(
        run.stderr.contains("warning: skipping")
            && run
                .stderr
                .contains(&runtime.parent().expect("dir").display().to_string())
            && run.stderr.contains("sticky"),
        "{}",
        run.stderr
    );
    assert_untouched(&planted);
    // The backend says so in its status too.
    assert!(
        matches!(&status.skipped_sockets[..], [why] if why.contains("sticky")),
        "{:?}",
        status.skipped_sockets
    );
    let table = h.run(&["status"]);
    assert!(table.stdout.contains("skipped socket"), "{}", table.stdout);
    // `orch serve` picks the same candidate as the client that started the backend.
    let serve = h.run(&["serve"]);
    assert_eq!(serve.code, 1);
    assert!(
        serve
            .stderr
            .contains(&format!("already serving on {}", fallback.display()))
            && serve.stderr.contains("skipping an unsafe socket path"),
        "{}",
        serve.stderr
    );

    // Named explicitly, it is an error, not a skip.
    let bad = h.run(&["status", "--socket", &runtime.display().to_string()]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("is unsafe"), "{}", bad.stderr);
    assert_untouched(&planted);
}

#[test]
fn a_cold_start_succeeds_past_a_planted_tmp_fallback() {
    let h = Sandbox::capture(BIN);
    let [runtime, fallback] = [0, 1].map(|i| h.paths().socket_candidates[i].clone());
    let planted = plant(&fallback);
    let planted_dir = fallback.parent().expect("a directory");
    give_away(planted_dir);
    let (run, _) = status_on(&h, &runtime);
    assert!(
        run.stderr.contains("warning: skipping")
            && run.stderr.contains(&planted_dir.display().to_string()),
        "{}",
        run.stderr
    );
    let serve = h.run(&["serve"]);
    assert_eq!(serve.code, 1);
    assert!(
        serve
            .stderr
            .contains(&format!("already serving on {}", runtime.display())),
        "{}",
        serve.stderr
    );
    assert_untouched(&planted);
}

/// Another uid serves a socket that then sits at `socket` (in our private directory).
#[expect(clippy::expect_used, reason = "test helper")]
fn foreign_server(h: &Sandbox, socket: &Path, scratch: &str) -> OtherUid {
    chmod(h.root(), 0o711);
    let scratch = h.root().join(scratch);
    let theirs = scratch.join("s.sock");
    let other = OtherUid::start(Role::Server, &theirs, &scratch);
    assert!(other.wait_listening(&theirs), "the other uid listens");
    let private = socket.parent().expect("a directory");
    std::fs::create_dir_all(private).expect("the private directory");
    chmod(private, 0o700);
    std::fs::rename(&theirs, socket).expect("the socket moved in");
    other
}

#[test]
fn the_cli_and_the_bridge_send_nothing_to_a_socket_of_another_uid() {
    if !can_switch("the_cli_and_the_bridge_send_nothing_to_a_socket_of_another_uid") {
        return;
    }
    let h = Sandbox::capture(BIN);
    let socket = h.paths().socket_candidates[0].clone();

    let other = foreign_server(&h, &socket, "scratch1");
    let run = h.run(&["status"]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stderr.contains(&format!("runs as uid {OTHER_UID}"))
            && run.stderr.contains("sent it nothing"),
        "{}",
        run.stderr
    );
    other.assert_received_nothing("the other uid's server received something");
    drop(other);
    std::fs::remove_file(&socket).expect("the socket removed");

    // `orch mcp`, as OpenCode runs it, with an `initialize` waiting on its stdin.
    let other = foreign_server(&h, &socket, "scratch2");
    let mut mcp = h
        .orch(&["mcp"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("orch mcp runs");
    let mut stdin = mcp.stdin.take().expect("stdin");
    let _ = stdin.write_all(
        br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
    );
    let _ = stdin.write_all(b"\n");
    drop(stdin);
    let run = Run::of("orch mcp", mcp.wait_with_output());
    assert_ne!(run.code, 0);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains(&format!("runs as uid {OTHER_UID}")),
        "{}",
        run.stderr
    );
    other.assert_received_nothing("the other uid's server received something");
}
