//! The MCP backend: exactly five tools (`task_start`, `task_await`, `task_peek`,
//! `task_list`, `task_cancel`) served with the official Rust SDK (`rmcp`) over a Unix
//! socket, one rmcp service per connection over one shared [`Backend`].
//! See `docs/mcp.md` for the schemas, the socket and the limits.

mod args;
pub mod connections;
mod server;
mod service;
pub mod socket;
pub mod transport;
pub mod trust;

pub use connections::{ConnectionLimits, HANDSHAKE_TIMEOUT, MAX_IDLE_CONNECTIONS};
pub use server::{Backend, ConnectionGuard, McpServer, ServeInfo, TOOL_NAMES};
pub use service::default_service;
pub use socket::{Listener, SocketError, SocketLock, log_file, shutdown_signal};
pub use transport::{LineTransport, MAX_MESSAGE_BYTES};
pub use trust::{SocketChoice, choose_socket};

pub(crate) use args::{
    AttachmentArg, AwaitArgs, IdsArgs, ListArgs, StartArgs, ViewArg, WorkerOpArgs,
};
