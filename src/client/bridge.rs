//! `orch mcp`: MCP over stdio for OpenCode's `mcp` config, bridged byte for byte to the
//! backend's socket. Nothing but protocol bytes is written to `output`.

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;

/// Copies `input` to the socket and the socket to `output` until the backend closes the
/// connection (or `input` ends and the backend has answered what it was sent).
pub async fn bridge<R, W>(stream: UnixStream, mut input: R, mut output: W) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
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
