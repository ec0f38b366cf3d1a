//! Another local user, for the socket-trust tests: the test binary itself re-run as uid
//! 65534 (`nobody`) through std's `CommandExt::uid`, playing a fake backend (it listens on
//! a socket) or a fake client (it connects and sends `initialize`), and writing down how
//! many bytes it received. Switching uid needs root: without it the tests say so
//! (`SKIPPED ...`) and pass; in CI they run as root, so they run.
//!
//! A test binary using it has a test named [`HELPER_TEST`] that calls [`run_if_asked`]
//! (a no-op unless this module started the binary).

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{Poll, wait_until_blocking};

/// The uid (and gid) the other process runs as.
pub const OTHER_UID: u32 = 65534;
/// The name of the test that runs [`run_if_asked`] in each test binary using this.
pub const HELPER_TEST: &str = "other_uid_helper";
const ROLE_VAR: &str = "ORCH_TEST_OTHER_UID_ROLE";
const SOCKET_VAR: &str = "ORCH_TEST_OTHER_UID_SOCKET";
const REPORT_VAR: &str = "ORCH_TEST_OTHER_UID_REPORT";
/// How long the other process waits for bytes before reporting.
const READ_WAIT: Duration = Duration::from_secs(3);

/// What the other process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Listens on the socket, accepts one connection and reads what the client sends.
    Server,
    /// Connects to the socket, sends an MCP `initialize` line and reads the reply.
    Client,
}

/// A process of another uid; killed when dropped.
pub struct OtherUid {
    child: Child,
    report: PathBuf,
}

/// Whether this process may switch uid; prints why a test is skipped when not.
pub fn can_switch(test: &str) -> bool {
    if nix::unistd::getuid().is_root() {
        return true;
    }
    let _ = writeln!(
        std::io::stderr().lock(),
        "SKIPPED {test}: needs root to switch uid (CI runs the tests as root)"
    );
    false
}

/// Sets `p`'s permission bits to `mode`.
#[expect(clippy::expect_used, reason = "test helper")]
pub fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A non-blocking listener standing in for another user's socket at `socket` (its
/// directory made private to the test, which the checks of other directories must see
/// through).
#[expect(clippy::expect_used, reason = "test helper")]
pub fn plant(socket: &Path) -> std::os::unix::net::UnixListener {
    let dir = socket.parent().expect("a directory");
    std::fs::create_dir_all(dir).expect("the planted directory");
    chmod(dir, 0o700);
    let l = std::os::unix::net::UnixListener::bind(socket).expect("the planted socket");
    l.set_nonblocking(true).expect("non-blocking");
    l
}

/// Makes `dir` another user's: theirs ([`OTHER_UID`]) when we can chown (root), else
/// open to everyone (0777).
#[expect(clippy::expect_used, reason = "test helper")]
pub fn give_away(dir: &Path) {
    if nix::unistd::getuid().is_root() {
        nix::unistd::chown(dir, Some(nix::unistd::Uid::from_raw(OTHER_UID)), None).expect("chown");
    } else {
        chmod(dir, 0o777);
    }
}

impl OtherUid {
    /// Starts the test binary as uid 65534 in `role` on `socket`; it reports into
    /// `scratch`, a directory this makes writable by everyone. Root only.
    #[expect(clippy::expect_used, reason = "test set-up")]
    pub fn start(role: Role, socket: &Path, scratch: &Path) -> Self {
        std::fs::create_dir_all(scratch).expect("a scratch directory");
        std::fs::set_permissions(scratch, std::fs::Permissions::from_mode(0o777))
            .expect("the scratch directory opened");
        let report = scratch.join("report");
        let _ = std::fs::remove_file(&report);
        let exe = std::env::current_exe().expect("the test binary's path");
        let child = Command::new(exe)
            .args(["--exact", HELPER_TEST, "--nocapture", "--test-threads=1"])
            .env(
                ROLE_VAR,
                if role == Role::Server {
                    "server"
                } else {
                    "client"
                },
            )
            .env(SOCKET_VAR, socket)
            .env(REPORT_VAR, &report)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .uid(OTHER_UID)
            .gid(OTHER_UID)
            .spawn()
            .expect("the test binary runs as another uid");
        Self { child, report }
    }

    /// Waits (at most 20 s) until the server's socket exists at `socket`.
    pub fn wait_listening(&self, socket: &Path) -> bool {
        let poll = Poll::within(Duration::from_secs(20)).every(Duration::from_millis(20));
        wait_until_blocking(poll, || socket.exists())
    }

    /// Asserts that the other process received no byte (`why` says what that would mean).
    pub fn assert_received_nothing(&self, why: &str) {
        assert_eq!(self.received(), b"", "{why}");
    }

    /// The bytes the other process received, once it has reported (at most 20 s).
    #[expect(clippy::expect_used, reason = "test helper")]
    pub fn received(&self) -> Vec<u8> {
        let poll = Poll::within(Duration::from_secs(20)).every(Duration::from_millis(20));
        let done = self.report.with_extension("done");
        assert!(
            wait_until_blocking(poll, || done.exists()),
            "the other-uid process reported nothing"
        );
        std::fs::read(&self.report).expect("the other-uid process's report")
    }
}

impl Drop for OtherUid {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of the helper test: plays the role this module asked for, else returns.
#[expect(clippy::expect_used, reason = "test helper")]
pub fn run_if_asked() {
    let (Ok(role), Some(socket), Some(report)) = (
        std::env::var(ROLE_VAR),
        std::env::var_os(SOCKET_VAR).map(PathBuf::from),
        std::env::var_os(REPORT_VAR).map(PathBuf::from),
    ) else {
        return;
    };
    let mut stream = if role == "server" {
        // Others may connect (the victim is root in CI, but say what is meant).
        nix::sys::stat::umask(nix::sys::stat::Mode::empty());
        let listener =
            std::os::unix::net::UnixListener::bind(&socket).expect("the fake server binds");
        listener.accept().expect("a connection").0
    } else {
        let mut s = std::os::unix::net::UnixStream::connect(&socket).expect("connects");
        // A client that gets no answer reports nothing: the write may fail once the
        // backend has closed the connection.
        let _ = s.write_all(
            br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"other","version":"1"}}}"#,
        );
        let _ = s.write_all(b"\n");
        s
    };
    stream
        .set_read_timeout(Some(READ_WAIT))
        .expect("a read timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // Until the peer closes, or nothing came for a while.
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    std::fs::write(&report, &got).expect("the report is written");
    std::fs::write(report.with_extension("done"), b"").expect("the report is marked done");
}
