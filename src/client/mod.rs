//! Clients of the backend: find its socket (starting `orch serve` when none answers),
//! talk to it through [`SocketClient`] (an [`crate::api::Orchestrator`] over the five
//! tools), or bridge stdio to it for `orch mcp`.

mod bridge;
mod connect;
pub mod context;
pub mod detach;
mod socket_client;
mod stop;

pub use bridge::{
    BACKEND_LOST, NoReconnect, Reconnect, StartOnDemand, bridge, bridge_reconnecting,
};
pub use connect::{
    ConnectError, Launch, connect, connect_or_start, skipped_sockets, start_lock_file,
};
pub use socket_client::SocketClient;
pub use stop::{StopError, Stopped, stop_all, stop_backend, user_sockets};
