//! The MCP backend: exactly five tools (`task_start`, `task_await`, `task_peek`,
//! `task_list`, `task_cancel`) served with the official Rust SDK (`rmcp`) over a Unix
//! socket, one rmcp service per connection over one shared [`Backend`].
//! See `docs/mcp.md` for the schemas, the socket and the limits.

mod args;
mod server;
pub mod socket;
mod standin;
pub mod transport;

pub use server::{Backend, ConnectionGuard, McpServer, ServeInfo, TOOL_NAMES};
pub use socket::{Listener, SocketError, log_file, shutdown_signal};
pub use standin::{NoWorkerManager, default_service};
pub use transport::{LineTransport, MAX_MESSAGE_BYTES};

pub(crate) use args::{
    AttachmentArg, AttachmentKindArg, AwaitArgs, FormatArg, IdsArgs, KindArg, ListArgs, OpArg,
    PolicyArg, ScopeArg, StartArgs, StatusArg, ViewArg, WorkerOpArgs,
};

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use crate::paths::Paths;
use crate::tasks::Limits;
use crate::workers::WorkerService;

/// Serves `workers` on the socket at `socket` until `shutdown` completes; the socket is
/// bound first, so a second backend fails fast with [`SocketError::AlreadyRunning`].
pub async fn serve_socket<W: WorkerService>(
    workers: Arc<W>,
    paths: &Paths,
    socket: &Path,
    shutdown: impl Future<Output = ()>,
) -> Result<(), SocketError> {
    let listener = Listener::bind(socket)?;
    let info = ServeInfo {
        paths: paths.clone(),
        socket: Some(socket.to_path_buf()),
        log_file: log_file(paths),
    };
    let backend = Arc::new(Backend::new(workers, info, Limits::default()));
    socket::serve(backend, listener, shutdown).await;
    Ok(())
}
