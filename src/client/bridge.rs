//! `orch mcp`: MCP over stdio for OpenCode's `mcp` config, bridged to the backend's socket.
//! Nothing but protocol bytes is written to `output`.
//!
//! The bridge reads whole lines (MCP's stdio framing) both ways, and keeps what it needs to
//! survive the backend: the client's `initialize` request and `initialized` notification,
//! and the ids of the requests it forwarded that are not answered yet. When the connection
//! drops (the backend stopped, restarted, was killed), every request in flight is answered
//! at once with a JSON-RPC error saying so, never left hanging; the next message from the
//! client reconnects (starting the backend when none runs, see [`Reconnect`]), replays the
//! handshake (its answer is swallowed) and is forwarded. OpenCode keeps its tools for its
//! whole session. Reconnecting only when the client speaks again means that `orch stop`
//! is not undone by an idle OpenCode.
//!
//! Run by a worker's OpenCode with a delegation depth of 0 (`ORCH_DELEGATION_DEPTH=0`, see
//! `workers::isolation`), the bridge answers `task_start` itself with an error instead of
//! forwarding it, so a worker cannot hand tasks back to orch; every other call passes.

use std::future::Future;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use super::connect::{ConnectError, Launch, connect_or_start};
use super::context::inject_into_initialize;
use crate::paths::{Environment, Paths};

/// The JSON-RPC error code of a request the bridge answers itself because the backend's
/// connection dropped (the implementation-defined server error range).
pub const BACKEND_LOST: i64 = -32000;

/// How the bridge reaches the backend again once its connection dropped.
pub trait Reconnect {
    /// A new connection to the backend.
    fn reconnect(&self) -> impl Future<Output = Result<UnixStream, ConnectError>>;
}

/// Reconnects as every client connects: to the backend of `paths`, started with `launch`
/// when none answers.
#[derive(Debug, Clone)]
pub struct StartOnDemand {
    /// Where the backend is.
    pub paths: Paths,
    /// How to start it.
    pub launch: Launch,
}

impl Reconnect for StartOnDemand {
    async fn reconnect(&self) -> Result<UnixStream, ConnectError> {
        connect_or_start(&self.paths, &self.launch)
            .await
            .map(|(stream, _)| stream)
    }
}

/// Never reconnects: the bridge ends when the backend's connection does.
#[derive(Debug, Clone, Copy)]
pub struct NoReconnect;

impl Reconnect for NoReconnect {
    async fn reconnect(&self) -> Result<UnixStream, ConnectError> {
        Err(ConnectError::NotRunning {
            socket: std::path::PathBuf::new(),
        })
    }
}

/// Copies `input` to the socket and the socket to `output` until the backend closes the
/// connection (or `input` ends and the backend has answered what it was sent). With
/// `depth` `Some(0)`, `task_start` calls are refused here (see the module comment). With
/// `context`, the client's `initialize` carries it ([`super::context::inject_into_initialize`]).
/// It never reconnects; see [`bridge_reconnecting`].
pub async fn bridge<R, W>(
    stream: UnixStream,
    input: R,
    output: W,
    depth: Option<u32>,
    context: Option<(&Paths, &Environment)>,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    Bridge::new(&NoReconnect, depth, false, context)
        .run(stream, input, output)
        .await
}

/// [`bridge`] that survives the backend: when the connection drops, the requests in flight
/// get an error and the next message from `input` reconnects through `reconnect` (see the
/// module comment). It ends when `input` ends.
pub async fn bridge_reconnecting<R, W, C>(
    stream: UnixStream,
    reconnect: &C,
    input: R,
    output: W,
    depth: Option<u32>,
    context: Option<(&Paths, &Environment)>,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    C: Reconnect,
{
    Bridge::new(reconnect, depth, true, context)
        .run(stream, input, output)
        .await
}

/// One connection to the backend, read by lines.
struct Connection {
    from: BufReader<OwnedReadHalf>,
    to: OwnedWriteHalf,
    /// A partial line read so far (kept across `select!` rounds).
    line: Vec<u8>,
}

impl Connection {
    /// Whether the backend has closed its end: nothing buffered and the socket at its end
    /// (checked without waiting).
    fn closed(&self) -> bool {
        use nix::sys::socket::{MsgFlags, recv};
        use std::os::fd::AsRawFd;
        if !self.from.buffer().is_empty() || !self.line.is_empty() {
            return false;
        }
        // A real look at the socket (tokio's readiness may not know of the end yet):
        // peeked, without consuming and without waiting.
        let stream: &UnixStream = self.from.get_ref().as_ref();
        let mut byte = [0u8; 1];
        match recv(
            stream.as_raw_fd(),
            &mut byte,
            MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT,
        ) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e != nix::errno::Errno::EAGAIN,
        }
    }

    fn new(stream: UnixStream) -> Self {
        let (from, to) = stream.into_split();
        Self {
            from: BufReader::new(from),
            to,
            line: Vec::new(),
        }
    }
}

/// What the bridge remembers of the client's session, and how it reconnects.
struct Bridge<'a, C> {
    /// The client's context, put into its `initialize` (first and on every replay).
    context: Option<(&'a Paths, &'a Environment)>,
    reconnect: &'a C,
    depth: Option<u32>,
    /// Whether a dropped connection is reconnected (else the bridge ends with it).
    survive: bool,
    /// The client's `initialize` request as forwarded (replayed after a reconnect).
    initialize: Option<Value>,
    /// The client's `initialized` notification, as forwarded.
    initialized: Option<Vec<u8>>,
    /// The ids of the requests forwarded and not answered yet.
    pending: Vec<Value>,
    /// The id of a replayed `initialize`, whose answer the client must not see.
    swallow: Option<Value>,
    /// How many times the connection was replaced.
    reconnects: u64,
}

/// A message's id when it is a request (it has a method and an id).
fn request_id(message: &Value) -> Option<Value> {
    message.get("method")?;
    message.get("id").filter(|id| !id.is_null()).cloned()
}

/// A message's id when it is a response (an id, no method).
fn response_id(message: &Value) -> Option<&Value> {
    if message.get("method").is_some() {
        return None;
    }
    message.get("id")
}

fn to_line(message: &Value) -> Vec<u8> {
    let mut bytes = message.to_string().into_bytes();
    bytes.push(b'\n');
    bytes
}

/// The error the bridge answers a request with when the backend cannot answer it.
fn lost(id: &Value, why: &str) -> Vec<u8> {
    to_line(&json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {"code": BACKEND_LOST, "message": why},
    }))
}

const DROPPED: &str = "the connection to the orch backend was lost while this request was in flight (the backend stopped or restarted); retry it: the next request reconnects";

impl<'a, C: Reconnect> Bridge<'a, C> {
    fn new(
        reconnect: &'a C,
        depth: Option<u32>,
        survive: bool,
        context: Option<(&'a Paths, &'a Environment)>,
    ) -> Self {
        Self {
            context,
            reconnect,
            depth,
            survive,
            initialize: None,
            initialized: None,
            pending: Vec::new(),
            swallow: None,
            reconnects: 0,
        }
    }

    async fn run<R, W>(mut self, stream: UnixStream, input: R, output: W) -> std::io::Result<()>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut output = output;
        let mut input = BufReader::new(input);
        let mut conn = Some(Connection::new(stream));
        let mut line = Vec::new();
        let mut input_done = false;
        loop {
            let from_backend = async {
                match conn.as_mut() {
                    Some(c) => c.from.read_until(b'\n', &mut c.line).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                // The backend first: a drop already seen is handled before the next
                // request, which then reconnects instead of going to a dead connection.
                biased;
                read = from_backend => {
                    let message = match (read, conn.as_mut()) {
                        (Ok(n), Some(c)) if n > 0 && c.line.ends_with(b"\n") => std::mem::take(&mut c.line),
                        _ => Vec::new(),
                    };
                    if message.is_empty() {
                        // The connection dropped (or ended mid-line).
                        conn = None;
                        self.dropped(&mut output).await?;
                        if input_done || !self.survive {
                            return output.flush().await;
                        }
                        continue;
                    }
                    self.backend_line(&message, &mut output).await?;
                }
                read = input.read_until(b'\n', &mut line), if !input_done => {
                    if read? == 0 {
                        input_done = true;
                        // End of input: tell the backend, which then answers what it was
                        // sent and closes its side.
                        match conn.as_mut() {
                            Some(c) => {
                                let _ = c.to.shutdown().await;
                            }
                            None => return output.flush().await,
                        }
                        continue;
                    }
                    let message = std::mem::take(&mut line);
                    self.client_line(&mut conn, message, &mut output).await?;
                }
            }
        }
    }

    /// A line from the client: refused, or forwarded (reconnecting first when the
    /// connection dropped).
    async fn client_line<W: AsyncWrite + Unpin>(
        &mut self,
        conn: &mut Option<Connection>,
        line: Vec<u8>,
        output: &mut W,
    ) -> std::io::Result<()> {
        if self.depth == Some(0)
            && let Some(reply) = refusal(&line)
        {
            return write_line(output, &reply).await;
        }
        let message: Option<Value> = serde_json::from_slice(&line).ok();
        let id = message.as_ref().and_then(request_id);
        let line = match message {
            Some(m) if m.get("method").and_then(Value::as_str) == Some("initialize") => {
                let first = self.first_message(m);
                let bytes = to_line(&first);
                self.initialize = Some(first);
                bytes
            }
            Some(m)
                if m.get("method").and_then(Value::as_str) == Some("notifications/initialized") =>
            {
                self.initialized = Some(line.clone());
                line
            }
            _ => line,
        };
        // A connection whose backend is gone (its end of the socket closed) is dropped
        // now, so the request goes to a new backend rather than into the void.
        if conn.as_ref().is_some_and(Connection::closed) {
            *conn = None;
            self.dropped(output).await?;
        }
        if conn.is_none() {
            match self.reconnect().await {
                Ok(c) => *conn = Some(c),
                Err(e) => {
                    if let Some(id) = id {
                        let why = format!("cannot reach the orch backend: {e}; retry later");
                        write_line(output, &lost(&id, &why)).await?;
                    }
                    return Ok(());
                }
            }
        }
        if let Some(id) = id {
            self.pending.push(id);
        }
        let Some(c) = conn.as_mut() else {
            return Ok(());
        };
        if c.to.write_all(&line).await.is_err() {
            // Its answer will never come: the read side sees the drop and answers it.
            tracing::debug!("the backend's connection dropped while writing");
        }
        Ok(())
    }

    /// The client's `initialize` request as the backend gets it, first and after every
    /// reconnect: the one place where the session's first message can be changed.
    fn first_message(&self, mut initialize: Value) -> Value {
        if let Some((paths, env)) = self.context {
            inject_into_initialize(&mut initialize, paths, env);
        }
        initialize
    }

    /// A line from the backend: passed on, unless it answers a replayed `initialize`.
    async fn backend_line<W: AsyncWrite + Unpin>(
        &mut self,
        line: &[u8],
        output: &mut W,
    ) -> std::io::Result<()> {
        if let Ok(message) = serde_json::from_slice::<Value>(line)
            && let Some(id) = response_id(&message)
        {
            if self.swallow.as_ref() == Some(id) {
                self.swallow = None;
                return Ok(());
            }
            self.pending.retain(|p| p != id);
        }
        write_line(output, line).await
    }

    /// The connection dropped: every request in flight gets an error now.
    async fn dropped<W: AsyncWrite + Unpin>(&mut self, output: &mut W) -> std::io::Result<()> {
        self.swallow = None;
        for id in std::mem::take(&mut self.pending) {
            write_line(output, &lost(&id, DROPPED)).await?;
        }
        Ok(())
    }

    /// A new connection with the client's handshake replayed on it (its answer swallowed).
    async fn reconnect(&mut self) -> Result<Connection, ConnectError> {
        let stream = self.reconnect.reconnect().await?;
        let mut conn = Connection::new(stream);
        self.reconnects += 1;
        tracing::info!(
            reconnects = self.reconnects,
            "reconnected to the orch backend"
        );
        if let Some(initialize) = &self.initialize {
            let id = json!(format!("orch-bridge-replay-{}", self.reconnects));
            let mut replay = initialize.clone();
            replay["id"] = id.clone();
            let mut bytes = to_line(&replay);
            if let Some(initialized) = &self.initialized {
                bytes.extend_from_slice(initialized);
            }
            if conn.to.write_all(&bytes).await.is_ok() {
                self.swallow = Some(id);
            }
        }
        Ok(conn)
    }
}

async fn write_line<W: AsyncWrite + Unpin>(output: &mut W, line: &[u8]) -> std::io::Result<()> {
    output.write_all(line).await?;
    output.flush().await
}

/// The error reply to a `tools/call` of `task_start` in `line`, if it is one.
fn refusal(line: &[u8]) -> Option<Vec<u8>> {
    let message: Value = serde_json::from_slice(line).ok()?;
    let is_task_start = message.get("method").and_then(Value::as_str) == Some("tools/call")
        && message.pointer("/params/name").and_then(Value::as_str) == Some("task_start");
    if !is_task_start {
        return None;
    }
    let text = "task_start is refused: this OpenCode is an orch worker, and workers may not start tasks of their own (delegation depth 0); give its profile \"delegate\": true in orchestrator.json to allow it";
    let reply = json!({
        "jsonrpc": "2.0",
        "id": message.get("id").cloned().unwrap_or(Value::Null),
        "result": {"content": [{"type": "text", "text": text}], "isError": true},
    });
    let mut bytes = reply.to_string().into_bytes();
    bytes.push(b'\n');
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_task_start_calls_are_refused() {
        let call = |name: &str| {
            json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": name, "arguments": {}}})
                .to_string()
        };
        let reply = refusal(call("task_start").as_bytes()).expect("a refusal");
        let reply: Value = serde_json::from_slice(&reply).expect("JSON");
        assert_eq!(reply["id"], 7);
        assert_eq!(reply["result"]["isError"], true);
        let text = reply["result"]["content"][0]["text"].as_str().unwrap_or("");
        assert!(text.contains("delegate"), "{text}");
        assert!(refusal(call("task_list").as_bytes()).is_none());
        assert!(refusal(br#"{"jsonrpc":"2.0","id":1,"method":"initialize"}"#).is_none());
        assert!(refusal(b"not json").is_none());
    }

    #[tokio::test]
    async fn a_worker_bridge_answers_task_start_itself_and_forwards_the_rest() {
        let (ours, mut backend) = UnixStream::pair().expect("a socket pair");
        let (mut client, bridge_io) = tokio::io::duplex(4096);
        let (bridge_in, bridge_out) = tokio::io::split(bridge_io);
        let running = tokio::spawn(bridge(ours, bridge_in, bridge_out, Some(0), None));
        let start = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "task_start", "arguments": {"worker": "docs", "task": "x"}}});
        let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "task_list", "arguments": {}}});
        client
            .write_all(format!("{start}\n{list}\n").as_bytes())
            .await
            .expect("written");
        // The backend sees only task_list, and its answer comes back.
        let mut seen = BufReader::new(&mut backend);
        let mut line = String::new();
        seen.read_line(&mut line).await.expect("a forwarded line");
        assert!(
            line.contains("task_list") && !line.contains("task_start"),
            "{line}"
        );
        backend
            .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}\n")
            .await
            .expect("answered");
        let mut replies = BufReader::new(&mut client);
        let mut first = String::new();
        replies.read_line(&mut first).await.expect("the refusal");
        let mut second = String::new();
        replies
            .read_line(&mut second)
            .await
            .expect("the backend's answer");
        assert!(
            first.contains("\"id\":1") && first.contains("delegate"),
            "{first}"
        );
        assert!(second.contains("\"id\":2"), "{second}");
        drop(backend);
        drop(client);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), running).await;
    }

    /// Reconnects to a test listener.
    struct ToSocket(std::path::PathBuf);

    impl Reconnect for ToSocket {
        async fn reconnect(&self) -> Result<UnixStream, ConnectError> {
            UnixStream::connect(&self.0)
                .await
                .map_err(|e| ConnectError::Start {
                    socket: self.0.clone(),
                    log: self.0.clone(),
                    why: e.to_string(),
                })
        }
    }

    async fn line_of(reader: &mut (impl AsyncBufReadExt + Unpin)) -> Value {
        let mut line = String::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            reader.read_line(&mut line),
        )
        .await
        .expect("a line in time")
        .expect("a line");
        serde_json::from_str(&line).expect("JSON")
    }

    #[tokio::test]
    async fn a_dropped_backend_fails_requests_in_flight_and_the_next_one_reconnects() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("b.sock");
        let listener = tokio::net::UnixListener::bind(&path).expect("a listener");
        let first = UnixStream::connect(&path).await.expect("connected");
        let (backend, _) = listener.accept().await.expect("accepted");
        let (mut client, bridge_io) = tokio::io::duplex(4096);
        let (bridge_in, bridge_out) = tokio::io::split(bridge_io);
        let reconnect = ToSocket(path.clone());
        let running = tokio::spawn(async move {
            bridge_reconnecting(first, &reconnect, bridge_in, bridge_out, None, None).await
        });
        let mut backend = BufReader::new(backend);
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"clientInfo": {"name": "t"}}});
        let inited = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let slow = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "task_await"}});
        client
            .write_all(format!("{init}\n").as_bytes())
            .await
            .expect("written");
        assert_eq!(line_of(&mut backend).await["method"], "initialize");
        backend
            .get_mut()
            .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"first\":true}}\n")
            .await
            .expect("answered");
        let mut replies = BufReader::new(client);
        assert_eq!(line_of(&mut replies).await["result"]["first"], true);
        replies
            .get_mut()
            .write_all(format!("{inited}\n{slow}\n").as_bytes())
            .await
            .expect("written");
        assert_eq!(
            line_of(&mut backend).await["method"],
            "notifications/initialized"
        );
        assert_eq!(line_of(&mut backend).await["id"], 1);
        // The backend dies with request 1 in flight: it is answered with an error at once.
        drop(backend);
        let failed = line_of(&mut replies).await;
        assert_eq!(failed["id"], 1, "{failed}");
        assert_eq!(failed["error"]["code"], BACKEND_LOST, "{failed}");
        let text = failed["error"]["message"].as_str().unwrap_or("");
        assert!(text.contains("retry"), "{text}");
        // The next request reconnects: the handshake is replayed, its answer swallowed.
        let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "task_list"}});
        replies
            .get_mut()
            .write_all(format!("{list}\n").as_bytes())
            .await
            .expect("written");
        let (again, _) = listener.accept().await.expect("reconnected");
        let mut again = BufReader::new(again);
        let replayed = line_of(&mut again).await;
        assert_eq!(replayed["method"], "initialize");
        assert_eq!(replayed["params"]["clientInfo"]["name"], "t");
        assert_ne!(replayed["id"], 0, "the replay has an id of its own");
        assert_eq!(
            line_of(&mut again).await["method"],
            "notifications/initialized"
        );
        assert_eq!(line_of(&mut again).await["id"], 2);
        let answer = format!(
            "{}\n{}\n",
            json!({"jsonrpc": "2.0", "id": replayed["id"], "result": {"replayed": true}}),
            json!({"jsonrpc": "2.0", "id": 2, "result": {"listed": true}})
        );
        again
            .get_mut()
            .write_all(answer.as_bytes())
            .await
            .expect("answered");
        let listed = line_of(&mut replies).await;
        assert_eq!(
            listed["id"], 2,
            "the replayed answer reached the client: {listed}"
        );
        assert_eq!(listed["result"]["listed"], true);
        drop(replies);
        drop(again);
        let ended = tokio::time::timeout(std::time::Duration::from_secs(10), running)
            .await
            .expect("the bridge ends with its input");
        assert!(ended.expect("no panic").is_ok());
    }
}
