//! Clients of the backend: find its socket (starting `orch serve` when none answers),
//! talk to it through [`SocketClient`] (an [`crate::api::Orchestrator`] over the five
//! tools), or bridge stdio to it for `orch mcp`.

mod bridge;
mod connect;
pub mod context;
mod socket_client;
mod stop;

pub use bridge::bridge;
pub use connect::{ConnectError, Launch, connect, connect_or_start, skipped_sockets};
pub use socket_client::SocketClient;
pub use stop::{StopError, Stopped, stop_backend};
