//! A backend served by the test process itself: the MCP server over a worker service
//! (fake or real manager) on the socket of a test's paths, as `orch serve` runs it, so
//! clients (the socket client, rmcp, the `orch` binary) reach it as they would the real
//! one. Stopped with [`Served::stop`]; aborted when dropped.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::mcp::{Backend, ConnectionLimits, Listener, ServeInfo};
use crate::paths::Paths;
use crate::tasks::Limits;
use crate::workers::WorkerService;

/// How long [`Served::stop`] waits for the backend to wind down.
const STOP_WAIT: Duration = Duration::from_secs(15);

/// A backend served on a socket by this process; see the module docs.
pub struct Served<W> {
    /// The socket it listens on (the first candidate of the paths it was given).
    pub socket: PathBuf,
    /// The backend, to look at its state (connections, workers).
    pub backend: Arc<Backend<W>>,
    stop: Option<oneshot::Sender<()>>,
    served: Option<JoinHandle<()>>,
}

impl<W: WorkerService> Served<W> {
    /// Serves `workers` on `paths`' socket, on the current tokio runtime (call it inside
    /// one). Panics when the socket cannot be bound: tests only.
    pub fn start(workers: Arc<W>, paths: &Paths, limits: Limits) -> Self {
        Self::start_with(workers, paths, limits, ConnectionLimits::default())
    }

    /// [`Self::start`] under other connection limits.
    #[expect(clippy::expect_used, reason = "test set-up")]
    pub fn start_with(
        workers: Arc<W>,
        paths: &Paths,
        limits: Limits,
        connections: ConnectionLimits,
    ) -> Self {
        let socket = paths.socket().to_path_buf();
        let listener = Listener::bind(&socket).expect("the test backend binds its socket");
        let info = ServeInfo {
            paths: paths.clone(),
            socket: Some(socket.clone()),
            log_file: crate::mcp::log_file(paths),
            context: None,
        };
        let backend = Arc::new(Backend::new(workers, info, limits));
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(crate::mcp::socket::serve_with_limits(
            Arc::clone(&backend),
            listener,
            async {
                let _ = stopped.await;
            },
            connections,
        ));
        Self {
            socket,
            backend,
            stop: Some(stop),
            served: Some(served),
        }
    }

    /// Stops serving (the worker service shuts down its workers) and waits for it; panics
    /// when that takes longer than 15 s or the server panicked.
    #[expect(clippy::expect_used, reason = "test helper")]
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            tokio::time::timeout(STOP_WAIT, served)
                .await
                .expect("the test backend stops in time")
                .expect("the test backend does not panic");
        }
    }
}

impl<W> Served<W> {
    /// A socket client connected to it, past the MCP handshake.
    #[expect(clippy::expect_used, reason = "test helper")]
    pub async fn client(&self) -> crate::client::SocketClient {
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .expect("connect");
        crate::client::SocketClient::connect(stream, &self.socket)
            .await
            .expect("the MCP handshake")
    }

    /// Whether the server ends by itself (without being asked to stop) within `wait`.
    pub async fn ends_within(mut self, wait: Duration) -> bool {
        match self.served.take() {
            Some(served) => tokio::time::timeout(wait, served).await.is_ok(),
            None => true,
        }
    }
}

impl<W> Drop for Served<W> {
    /// A test that did not stop it (it panicked first): the server goes with the test.
    fn drop(&mut self) {
        if let Some(served) = self.served.take() {
            served.abort();
        }
    }
}
