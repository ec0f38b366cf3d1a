//! `orch mcp`: MCP over stdio for OpenCode's `mcp` config, bridged to the backend's socket.
//! Nothing but protocol bytes is written to `output`.
//!
//! Run by a worker's OpenCode with a delegation depth of 0 (`ORCH_DELEGATION_DEPTH=0`, see
//! `workers::isolation`), the bridge answers `task_start` itself with an error instead of
//! forwarding it, so a worker cannot hand tasks back to orch; every other call passes.
//!
//! The client's first message (OpenCode's `initialize`) gets this process's context
//! ([`crate::context`]) before it is forwarded, so the backend can refuse a bridge that
//! reached it from another project or environment.

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use super::context::inject_into_line;
use crate::paths::{Environment, Paths};

/// Copies `input` to the socket and the socket to `output` until the backend closes the
/// connection (or `input` ends and the backend has answered what it was sent). With
/// `depth` `Some(0)`, `task_start` calls are refused here (see the module comment). With
/// `context`, the client's `initialize` carries it ([`super::context::inject_into_initialize`]).
pub async fn bridge<R, W>(
    mut stream: UnixStream,
    input: R,
    mut output: W,
    depth: Option<u32>,
    context: Option<(&Paths, &Environment)>,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    // The first message is the client's `initialize`: it goes with the context.
    let mut input = BufReader::new(input);
    let mut first = Vec::new();
    input.read_until(b'\n', &mut first).await?;
    if let Some((paths, env)) = context
        && let Some(with_context) = inject_into_line(&first, paths, env)
    {
        first = with_context;
    }
    match refusal(&first).filter(|_| depth == Some(0)) {
        Some(reply) => {
            output.write_all(&reply).await?;
            output.flush().await?;
        }
        None => stream.write_all(&first).await?,
    }
    if depth == Some(0) {
        return bridge_refusing(stream, input, output).await;
    }
    let (mut from_backend, mut to_backend) = stream.into_split();
    let up = async {
        let copied = tokio::io::copy(&mut input, &mut to_backend).await;
        // End of input: tell the backend, which then finishes and closes its side.
        let _ = to_backend.shutdown().await;
        copied.map(drop)
    };
    let down = async {
        tokio::io::copy(&mut from_backend, &mut output).await?;
        output.flush().await
    };
    up_then_down(up, down).await
}

/// The line-by-line bridge of a worker that may not start tasks.
async fn bridge_refusing<R, W>(stream: UnixStream, input: R, output: W) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (from_backend, mut to_backend) = stream.into_split();
    let output = tokio::sync::Mutex::new(output);
    let up = async {
        let mut input = BufReader::new(input);
        let mut line = Vec::new();
        let copied = async {
            loop {
                line.clear();
                if input.read_until(b'\n', &mut line).await? == 0 {
                    return Ok::<_, std::io::Error>(());
                }
                match refusal(&line) {
                    Some(reply) => {
                        let mut out = output.lock().await;
                        out.write_all(&reply).await?;
                        out.flush().await?;
                    }
                    None => to_backend.write_all(&line).await?,
                }
            }
        }
        .await;
        let _ = to_backend.shutdown().await;
        copied
    };
    let down = async {
        let mut from_backend = BufReader::new(from_backend);
        let mut line = Vec::new();
        loop {
            line.clear();
            if from_backend.read_until(b'\n', &mut line).await? == 0 {
                return output.lock().await.flush().await;
            }
            let mut out = output.lock().await;
            out.write_all(&line).await?;
            out.flush().await?;
        }
    };
    up_then_down(up, down).await
}

/// Runs the two halves of a bridge: done when `down` (backend to output) ends; when `up`
/// (input to backend) ends first, its error ends the bridge, else `down` is awaited.
async fn up_then_down(
    up: impl Future<Output = std::io::Result<()>>,
    down: impl Future<Output = std::io::Result<()>>,
) -> std::io::Result<()> {
    let mut up = std::pin::pin!(up);
    let mut down = std::pin::pin!(down);
    tokio::select! {
        r = &mut down => r,
        r = &mut up => {
            r?;
            down.await
        }
    }
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
}
