//! The server's transport: newline-delimited JSON-RPC over any byte stream, with a stated
//! maximum message size, and a JSON-RPC error for every request it cannot read.
//!
//! rmcp's own `AsyncRwTransport` drops unparsable lines and oversized messages silently
//! (and logs them); a client then waits for an answer that never comes. This transport
//! answers instead: `-32700` for bytes that are not JSON, `-32600` for JSON that is not a
//! JSON-RPC message and for a message over [`MAX_MESSAGE_BYTES`] (whose rest is skipped up
//! to its newline). The connection stays open; nothing a peer sends can take the server down.

use std::future::Future;
use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::{ClientNotification, JsonRpcMessage};
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::connections::Activity;

/// The largest message (one line, newline included) the backend reads: 4 MiB.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Bytes of line buffer a connection keeps between messages; a larger one (left by a big
/// message) is given back, so a connection's memory does not stay at its largest message.
const KEEP_LINE_CAPACITY: usize = 64 * 1024;

/// Messages waiting for the writer task; senders wait when it is full.
const WRITE_QUEUE: usize = 64;

/// JSON-RPC error codes used here.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;

enum LineRead {
    Line,
    Oversized,
    Eof,
}

/// A server transport over a reader and a writer.
pub struct LineTransport<R> {
    read: BufReader<R>,
    line: Vec<u8>,
    discarding: bool,
    max: usize,
    tx: Option<mpsc::Sender<Vec<u8>>>,
    /// An error reply not yet handed to the writer (kept across cancellation).
    pending: Option<Vec<u8>>,
    /// Where the requests in flight are counted, when the connection's idleness matters.
    activity: Option<Arc<Activity>>,
}

impl<R: AsyncRead + Unpin + Send> LineTransport<R> {
    /// A transport reading `read` and writing `write`, with the default limit.
    /// Spawns the writer task, so it must be created inside a tokio runtime.
    pub fn new<W: AsyncWrite + Unpin + Send + 'static>(read: R, write: W) -> Self {
        Self::with_limit(read, write, MAX_MESSAGE_BYTES)
    }

    /// With another limit (tests).
    pub fn with_limit<W: AsyncWrite + Unpin + Send + 'static>(
        read: R,
        write: W,
        max: usize,
    ) -> Self {
        Self::closable(read, write, max, CancellationToken::new())
    }

    /// A transport whose writer stops when `close` fires, even when the peer does not read
    /// (a connection closed to make room, or at shutdown, must not linger on a full
    /// socket); otherwise it writes every queued message before closing.
    pub fn closable<W: AsyncWrite + Unpin + Send + 'static>(
        read: R,
        write: W,
        max: usize,
        close: CancellationToken,
    ) -> Self {
        let (tx, rx) = mpsc::channel(WRITE_QUEUE);
        tokio::spawn(async move {
            tokio::select! {
                () = writer(write, rx) => {}
                () = close.cancelled() => {}
            }
        });
        Self {
            read: BufReader::with_capacity(64 * 1024, read),
            line: Vec::new(),
            discarding: false,
            max,
            tx: Some(tx),
            pending: None,
            activity: None,
        }
    }

    /// Counts this connection's requests in flight in `activity` (see
    /// [`super::connections`]).
    pub fn with_activity(mut self, activity: Arc<Activity>) -> Self {
        self.activity = Some(activity);
        self
    }

    /// A request starts being in flight; a cancelled one stops (rmcp answers it no more).
    fn note_received(&self, msg: &RxJsonRpcMessage<RoleServer>) {
        let Some(activity) = &self.activity else {
            return;
        };
        match msg {
            JsonRpcMessage::Request(r) => activity.request(r.id.clone()),
            JsonRpcMessage::Notification(n) => {
                if let ClientNotification::CancelledNotification(c) = &n.notification
                    && let Some(id) = &c.params.request_id
                {
                    activity.answered(id);
                }
            }
            JsonRpcMessage::Response(_) | JsonRpcMessage::Error(_) => {}
        }
    }

    /// Reads one line into `self.line` without letting it grow past the limit.
    /// Cancel-safe: a partial line stays in `self.line` for the next call.
    async fn read_line(&mut self) -> std::io::Result<LineRead> {
        loop {
            let (used, done) = {
                let buf = self.read.fill_buf().await?;
                if buf.is_empty() {
                    return Ok(LineRead::Eof);
                }
                let newline = memchr::memchr(b'\n', buf);
                let take = newline.map_or(buf.len(), |i| i + 1);
                if self.discarding {
                    if newline.is_some() {
                        self.discarding = false;
                    }
                    (take, None)
                } else if self.line.len() + take > self.max {
                    self.line.clear();
                    self.discarding = newline.is_none();
                    (take, Some(LineRead::Oversized))
                } else {
                    self.line.extend_from_slice(&buf[..take]);
                    (take, newline.map(|_| LineRead::Line))
                }
            };
            self.read.consume(used);
            if let Some(done) = done {
                return Ok(done);
            }
        }
    }

    /// Takes the line buffer back, empty, for the next message.
    fn recycle(&mut self, mut line: Vec<u8>) {
        line.clear();
        if line.capacity() > KEEP_LINE_CAPACITY {
            line = Vec::new();
        }
        self.line = line;
    }

    /// Hands the pending error reply to the writer; false when the writer is gone.
    async fn flush_pending(&mut self) -> bool {
        let Some(tx) = &self.tx else {
            return false;
        };
        if self.pending.is_some() {
            let Ok(permit) = tx.reserve().await else {
                return false;
            };
            if let Some(bytes) = self.pending.take() {
                permit.send(bytes);
            }
        }
        true
    }
}

fn error_reply(id: Value, code: i64, message: String) -> Vec<u8> {
    let mut bytes = json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code, "message": message },
    })
    .to_string()
    .into_bytes();
    bytes.push(b'\n');
    bytes
}

/// Why a line that is JSON is not a message, or `None` when no reply is due (a
/// notification or a response that rmcp does not know is dropped, as JSON-RPC says).
fn not_a_message(value: &Value, error: &serde_json::Error) -> Option<Vec<u8>> {
    let obj = value.as_object();
    let id = obj.and_then(|o| o.get("id"));
    let has_method = obj.is_some_and(|o| o.get("method").is_some_and(Value::is_string));
    if id.is_none() && has_method {
        return None;
    }
    if id.is_some()
        && !has_method
        && obj.is_some_and(|o| o.contains_key("result") || o.contains_key("error"))
    {
        return None;
    }
    let id = match id {
        Some(v @ (Value::String(_) | Value::Number(_))) => v.clone(),
        _ => Value::Null,
    };
    Some(error_reply(
        id,
        INVALID_REQUEST,
        format!(
            "invalid JSON-RPC request: {}",
            crate::sources::redact(&error.to_string())
        ),
    ))
}

async fn writer<W: AsyncWrite + Unpin>(mut write: W, mut rx: mpsc::Receiver<Vec<u8>>) {
    while let Some(bytes) = rx.recv().await {
        if write.write_all(&bytes).await.is_err() {
            return;
        }
        if rx.is_empty() && write.flush().await.is_err() {
            return;
        }
    }
    let _ = write.shutdown().await;
}

impl<R: AsyncRead + Unpin + Send> Transport<RoleServer> for LineTransport<R> {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        if let Some(activity) = &self.activity {
            match &item {
                JsonRpcMessage::Response(r) => activity.answered(&r.id),
                JsonRpcMessage::Error(e) => {
                    if let Some(id) = &e.id {
                        activity.answered(id);
                    }
                }
                JsonRpcMessage::Request(_) | JsonRpcMessage::Notification(_) => {}
            }
        }
        let tx = self.tx.clone();
        async move {
            let mut bytes = serde_json::to_vec(&item)?;
            bytes.push(b'\n');
            let tx = tx.ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotConnected, "transport closed")
            })?;
            tx.send(bytes).await.map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "connection closed")
            })
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            if !self.flush_pending().await {
                return None;
            }
            match self.read_line().await {
                Ok(LineRead::Line) => {}
                Ok(LineRead::Oversized) => {
                    tracing::warn!(
                        limit = self.max,
                        "a message over the size limit was refused"
                    );
                    self.pending = Some(error_reply(
                        Value::Null,
                        INVALID_REQUEST,
                        format!(
                            "message too large: the limit is {} bytes per message (one line); it was discarded",
                            self.max
                        ),
                    ));
                    continue;
                }
                Ok(LineRead::Eof) => return None,
                Err(e) => {
                    tracing::debug!("connection read failed: {e}");
                    return None;
                }
            }
            let line = std::mem::take(&mut self.line);
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
            if text.iter().all(u8::is_ascii_whitespace) {
                self.recycle(line);
                continue;
            }
            let parsed = serde_json::from_slice::<RxJsonRpcMessage<RoleServer>>(text);
            let reply = match parsed {
                Ok(msg) => {
                    self.recycle(line);
                    self.note_received(&msg);
                    return Some(msg);
                }
                Err(e) => match serde_json::from_slice::<Value>(text) {
                    Ok(value) => not_a_message(&value, &e),
                    Err(syntax) => Some(error_reply(
                        Value::Null,
                        PARSE_ERROR,
                        format!(
                            "parse error: the message is not valid JSON ({})",
                            crate::sources::redact(&syntax.to_string())
                        ),
                    )),
                },
            };
            self.recycle(line);
            self.pending = reply;
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.tx = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

    async fn roundtrip(input: &[u8], max: usize) -> (Vec<String>, Vec<Value>) {
        // One pipe each way, so that closing the client's writer is an EOF for the server.
        let (mut cw, sr) = tokio::io::duplex(1 << 20);
        let (sw, cr) = tokio::io::duplex(1 << 20);
        let mut t = LineTransport::with_limit(sr, sw, max);
        cw.write_all(input).await.expect("the input is written");
        drop(cw);
        let mut methods = Vec::new();
        while let Some(msg) = t.receive().await {
            let v = serde_json::to_value(&msg).expect("the value serializes");
            methods.push(v["method"].as_str().unwrap_or_default().to_owned());
        }
        drop(t);
        let mut lines = tokio::io::BufReader::new(cr).lines();
        let mut replies = Vec::new();
        while let Ok(Some(l)) = lines.next_line().await {
            replies.push(serde_json::from_str(&l).unwrap_or_else(|e| panic!("{e}: {l}")));
        }
        (methods, replies)
    }

    #[tokio::test]
    async fn answers_garbage_and_oversized_lines_and_keeps_reading() {
        let big = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\",\"params\":{{\"x\":\"{}\"}}}}\n",
            "a".repeat(300)
        );
        let input = format!(
            "not json\n[1,2]\n{{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":5}}\n\n{big}{{\"jsonrpc\":\"2.0\",\"method\":\"notifications/whatever\"}}\n{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}}\n"
        );
        let (methods, replies) = roundtrip(input.as_bytes(), 256).await;
        // An unknown notification reaches rmcp, which ignores it; it gets no reply.
        assert_eq!(methods, ["notifications/whatever", "ping"]);
        let codes: Vec<(i64, Value)> = replies
            .iter()
            .map(|r| (r["error"]["code"].as_i64().unwrap_or(0), r["id"].clone()))
            .collect();
        assert_eq!(
            codes,
            [
                (PARSE_ERROR, Value::Null),
                (INVALID_REQUEST, Value::Null),
                (INVALID_REQUEST, json!(4)),
                (INVALID_REQUEST, Value::Null),
            ]
        );
        assert!(
            replies[3]["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("256 bytes"))
        );
    }

    #[tokio::test]
    async fn a_big_message_does_not_keep_its_buffer() {
        let (mut cw, sr) = tokio::io::duplex(1 << 16);
        let (sw, _cr) = tokio::io::duplex(1 << 16);
        let mut t = LineTransport::new(sr, sw);
        let big = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{{\"x\":\"{}\"}}}}\n",
            "a".repeat(1 << 20)
        );
        let writer = tokio::spawn(async move {
            cw.write_all(big.as_bytes())
                .await
                .expect("the message is written");
            cw
        });
        assert!(t.receive().await.is_some());
        assert!(
            t.line.capacity() <= KEEP_LINE_CAPACITY,
            "{}",
            t.line.capacity()
        );
        drop(writer.await);
    }

    #[tokio::test]
    async fn requests_are_in_flight_until_answered_or_cancelled() {
        use rmcp::model::{EmptyResult, NumberOrString, ServerJsonRpcMessage, ServerResult};
        let (mut cw, sr) = tokio::io::duplex(1 << 16);
        let (sw, _cr) = tokio::io::duplex(1 << 16);
        let activity = Arc::new(Activity::default());
        let mut t = LineTransport::new(sr, sw).with_activity(Arc::clone(&activity));
        assert!(activity.is_idle());
        cw.write_all(
            concat!(
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n",
                "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n",
                "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{\"requestId\":2}}\n",
            )
            .as_bytes(),
        )
        .await
        .expect("written");
        for _ in 0..3 {
            assert!(t.receive().await.is_some());
        }
        assert!(!activity.is_idle(), "request 1 is still in flight");
        t.send(ServerJsonRpcMessage::response(
            ServerResult::EmptyResult(EmptyResult {}),
            NumberOrString::Number(1),
        ))
        .await
        .expect("sent");
        assert!(activity.is_idle(), "answered and cancelled: idle");
    }

    #[tokio::test]
    async fn a_closed_connection_ends_even_when_its_peer_does_not_read() {
        use rmcp::model::{EmptyResult, NumberOrString, ServerJsonRpcMessage, ServerResult};
        let (_cw, sr) = tokio::io::duplex(64);
        let (sw, mut cr) = tokio::io::duplex(64);
        let close = CancellationToken::new();
        let mut t = LineTransport::closable(sr, sw, MAX_MESSAGE_BYTES, close.clone());
        // More than the pipe holds: the writer blocks, nobody reads.
        for id in 0..8 {
            t.send(ServerJsonRpcMessage::response(
                ServerResult::EmptyResult(EmptyResult {}),
                NumberOrString::Number(id),
            ))
            .await
            .expect("queued");
        }
        close.cancel();
        // The transport is still alive; its writer has let go of the connection.
        let mut rest = Vec::new();
        let ended = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            tokio::io::AsyncReadExt::read_to_end(&mut cr, &mut rest),
        )
        .await;
        assert!(ended.is_ok(), "the connection ended");
        drop(t);
    }

    #[tokio::test]
    async fn an_unterminated_flood_is_refused_once() {
        let mut input = vec![b'x'; 5000];
        input.extend_from_slice(b"\n{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n");
        let (methods, replies) = roundtrip(&input, 1024).await;
        assert_eq!(methods, ["ping"]);
        assert_eq!(replies.len(), 1);
    }
}
