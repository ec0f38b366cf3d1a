//! The backend's connection bounds through its real Unix socket, over the fake worker
//! service: connections that never speak cannot lock clients out, a connection must
//! complete the MCP handshake in time, idle connections are closed oldest first (silent
//! ones before clients that completed the handshake), and a client waiting on
//! `task_await` is never closed to make room. Every test closes every connection it opens.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orch::client::SocketClient;
use orch::knowledge::Knowledge;
use orch::mcp::socket::MAX_CONNECTIONS;
use orch::mcp::{ConnectionLimits, HANDSHAKE_TIMEOUT};
use orch::tasks::Limits;
use orch::testutil::capture_home;
use orch::testutil::fake_workers::FakeWorkers;
use orch::testutil::served::Served;
use orch::testutil::{Poll, wait_until};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// How long a test waits for something that should happen at once.
const PROMPTLY: Duration = Duration::from_secs(5);

struct Harness {
    _dir: tempfile::TempDir,
    fake: FakeWorkers,
    served: Served<FakeWorkers>,
}

impl Harness {
    #[expect(clippy::expect_used, reason = "test helper")]
    fn start(limits: ConnectionLimits) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (paths, env) = capture_home(dir.path());
        let fake = FakeWorkers::new(Knowledge::load_local(&paths, &env).expect("knowledge"));
        let served = Served::start_with(Arc::new(fake.clone()), &paths, Limits::default(), limits);
        Self {
            _dir: dir,
            fake,
            served,
        }
    }

    fn socket(&self) -> &Path {
        &self.served.socket
    }

    #[expect(clippy::expect_used, reason = "test helper")]
    async fn silent(&self) -> UnixStream {
        UnixStream::connect(self.socket()).await.expect("connect")
    }
}

/// Whether the backend closes `stream` (end of file) within `wait`; what it sends before
/// is skipped.
async fn closed_within(stream: &mut UnixStream, wait: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

/// Raw JSON-RPC lines over the socket.
struct Raw {
    lines: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    write: OwnedWriteHalf,
}

impl Raw {
    #[expect(clippy::expect_used, reason = "test helper")]
    async fn connect(socket: &Path) -> Self {
        let (r, write) = UnixStream::connect(socket)
            .await
            .expect("connect")
            .into_split();
        Self {
            lines: BufReader::new(r).lines(),
            write,
        }
    }

    #[expect(clippy::expect_used, reason = "test helper")]
    async fn send(&mut self, line: &str) {
        self.write
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("send");
    }

    /// The next message, `None` when the backend closed the connection.
    #[expect(clippy::expect_used, reason = "test helper")]
    async fn recv(&mut self) -> Option<Value> {
        let line = tokio::time::timeout(PROMPTLY, self.lines.next_line())
            .await
            .expect("an answer in time")
            .ok()??;
        Some(serde_json::from_str(&line).expect("JSON"))
    }

    async fn init(&mut self) {
        self.send(
            r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#,
        )
        .await;
        let r = self.recv().await;
        assert!(
            r.as_ref()
                .is_some_and(|r| r["result"]["serverInfo"]["name"] == "orch"),
            "{r:?}"
        );
        self.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
    }

    /// Whether a ping with this id is answered (false when the backend closed the
    /// connection, even before it could be sent).
    async fn pings(&mut self, id: u64) -> bool {
        let ping = format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"ping\"}}\n");
        if self.write.write_all(ping.as_bytes()).await.is_err() {
            return false;
        }
        loop {
            match self.recv().await {
                Some(v) if v["id"] == id => return v.get("result").is_some(),
                Some(_) => {}
                None => return false,
            }
        }
    }
}

#[tokio::test]
async fn five_hundred_twelve_silent_connections_do_not_lock_out_a_client() {
    let h = Harness::start(ConnectionLimits::default());
    let mut silent = Vec::with_capacity(MAX_CONNECTIONS);
    for _ in 0..MAX_CONNECTIONS {
        silent.push(h.silent().await);
    }
    let began = Instant::now();
    let client = tokio::time::timeout(PROMPTLY, async {
        let stream = UnixStream::connect(h.socket()).await.expect("connect");
        let c = SocketClient::connect(stream, h.socket())
            .await
            .expect("the handshake completes");
        let status = orch::api::Orchestrator::status(&c)
            .await
            .expect("a call succeeds");
        (c, status)
    })
    .await;
    let took = began.elapsed();
    let (c, status) = client.expect("a normal client call succeeds within 5 s");
    assert!(took < PROMPTLY, "took {took:?}");
    assert!(status.connections >= 1);
    // The oldest silent connections were closed to make room, the newest are kept (up to
    // the idle limit) until their handshake time runs out.
    assert!(
        closed_within(&mut silent[0], PROMPTLY).await,
        "the oldest silent connection is closed"
    );
    let backend = Arc::clone(&h.served.backend);
    assert!(
        wait_until(Poll::default(), async || backend.connections()
            <= orch::mcp::MAX_IDLE_CONNECTIONS + 1)
        .await,
        "{} connections open",
        backend.connections()
    );
    c.close().await;
    drop(silent);
    h.served.stop().await;
}

#[tokio::test]
async fn a_connection_must_complete_the_handshake_in_time() {
    assert!(HANDSHAKE_TIMEOUT <= Duration::from_secs(5));
    let limits = ConnectionLimits {
        handshake_timeout: Duration::from_secs(1),
        ..ConnectionLimits::default()
    };
    let h = Harness::start(limits);
    let mut silent = h.silent().await;
    // Pings are allowed before `initialize`, but do not stand in for it.
    let mut pinging = Raw::connect(h.socket()).await;
    assert!(
        pinging.pings(1).await,
        "a ping before initialize is answered"
    );
    let mut client = Raw::connect(h.socket()).await;
    client.init().await;
    assert!(
        closed_within(&mut silent, PROMPTLY).await,
        "a silent connection is closed"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        !pinging.pings(2).await,
        "a connection that only pings is closed"
    );
    assert!(
        client.pings(3).await,
        "a client that completed the handshake stays, however long it is quiet"
    );
    drop((silent, pinging, client));
    h.served.stop().await;
}

#[tokio::test]
async fn idle_connections_go_oldest_first_and_a_waiting_client_is_never_closed() {
    let limits = ConnectionLimits {
        max_connections: 4,
        max_idle: 2,
        ..ConnectionLimits::default()
    };
    let h = Harness::start(limits);
    h.fake.set_hold(true);
    // A client waiting on task_await: busy.
    let mut waiting = Raw::connect(h.socket()).await;
    waiting.init().await;
    waiting
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"task_start","arguments":{"kind":"worker","workerId":"coder","task":"hold","format":"json"}}}"#)
        .await;
    let started = waiting.recv().await.expect("task_start answers");
    let row: Value = serde_json::from_str(
        started["result"]["content"][0]["text"]
            .as_str()
            .expect("a text reply"),
    )
    .expect("a JSON row");
    let id = row["id"].as_str().expect("a task id").to_owned();
    waiting
        .send(&format!(
            r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"task_await","arguments":{{"taskId":"{id}","timeoutMs":600000}}}}}}"#
        ))
        .await;
    // Its lines are read in order: a ping answered means the await is in flight.
    assert!(waiting.pings(3).await);
    // An idle client that completed the handshake.
    let mut idle = Raw::connect(h.socket()).await;
    idle.init().await;
    // Silent connections: each new one needs room among the two idle ones.
    let mut first = h.silent().await;
    let mut second = h.silent().await;
    let mut third = h.silent().await;
    assert!(
        closed_within(&mut first, PROMPTLY).await,
        "the oldest silent one goes"
    );
    assert!(closed_within(&mut second, PROMPTLY).await, "then the next");
    // A new client gets in (closing the last silent one), the idle client stays.
    let stream = UnixStream::connect(h.socket()).await.expect("connect");
    let c = SocketClient::connect(stream, h.socket())
        .await
        .expect("a new client is served");
    assert!(closed_within(&mut third, PROMPTLY).await);
    assert!(
        idle.pings(4).await,
        "the handshaken idle client was not closed for silent ones"
    );
    // The waiting client was never closed: cancelling its task answers its await.
    idle.send(&format!(
        r#"{{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{{"name":"task_cancel","arguments":{{"taskId":"{id}"}}}}}}"#
    ))
    .await;
    let answer = loop {
        let v = waiting
            .recv()
            .await
            .expect("the waiting client is still connected");
        if v["id"] == 2 {
            break v;
        }
    };
    assert!(
        answer["result"]["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("cancelled")),
        "{answer}"
    );
    c.close().await;
    drop((waiting, idle, first, second, third));
    h.served.stop().await;
}

#[tokio::test]
async fn a_client_idle_for_longest_is_closed_when_only_clients_are_idle() {
    let limits = ConnectionLimits {
        max_idle: 1,
        ..ConnectionLimits::default()
    };
    let h = Harness::start(limits);
    let mut older = Raw::connect(h.socket()).await;
    older.init().await;
    let mut newer = Raw::connect(h.socket()).await;
    newer.init().await;
    assert!(
        !older.pings(1).await,
        "the client idle for longest was closed"
    );
    assert!(newer.pings(2).await, "the new one is served");
    drop((older, newer));
    h.served.stop().await;
}
