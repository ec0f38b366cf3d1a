//! Stopping the user's backend (`orch stop`, `orch restart`): find it on its socket, make
//! sure the process to signal is the one serving that socket, ask it to stop, and wait.

use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::connect::{ConnectError, connect};
use super::socket_client::SocketClient;
use crate::api::Orchestrator;
use crate::error::Error;
use crate::paths::Paths;
use crate::workers::spawn::pid_alive;

/// What stopping found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// No backend answered on the socket.
    NotRunning {
        /// Where it would listen.
        socket: PathBuf,
    },
    /// The backend with this pid is gone.
    Stopped {
        /// Its process id.
        pid: u32,
        /// Whether it had to be killed after `wait` ran out.
        killed: bool,
    },
}

/// Why the backend could not be stopped.
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    /// The socket could not be reached or trusted.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The backend did not answer.
    #[error(transparent)]
    Backend(#[from] Error),
    /// Its credentials could not be read.
    #[error("cannot read the credentials of the backend on {}: {source}", socket.display())]
    Credentials {
        /// The socket.
        socket: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The pid the backend reports is not the process at the socket, or not the lock's
    /// holder: nothing is signalled.
    #[error(
        "the backend on {} says it is pid {reported}, but the socket's peer is {} and its lock names {}; not stopping anything",
        socket.display(),
        peer.map_or_else(|| "unknown".into(), |p| p.to_string()),
        locked.map_or_else(|| "nobody".into(), |p| p.to_string())
    )]
    Mismatch {
        /// The socket.
        socket: PathBuf,
        /// The pid the backend reported.
        reported: u32,
        /// The pid at the other end of the socket.
        peer: Option<u32>,
        /// The pid in the socket's lock file.
        locked: Option<u32>,
    },
    /// The signal could not be sent.
    #[error("cannot signal the backend (pid {pid}): {source}")]
    Signal {
        /// Its pid.
        pid: u32,
        /// Why.
        #[source]
        source: nix::Error,
    },
}

/// Stops the backend serving `paths`' socket: checks that the pid it reports is the process
/// at the other end of the socket (`SO_PEERCRED`) and the one holding the socket's lock,
/// sends it `SIGTERM` (it cancels running tasks, stops its workers, removes the socket) and
/// waits until it is gone, `SIGKILL` after `wait`.
pub async fn stop_backend(paths: &Paths, wait: Duration) -> Result<Stopped, StopError> {
    let (stream, socket) = match connect(paths).await {
        Ok(found) => found,
        Err(ConnectError::NotRunning { socket }) => return Ok(Stopped::NotRunning { socket }),
        Err(e) => return Err(e.into()),
    };
    let peer = stream
        .peer_cred()
        .map_err(|source| StopError::Credentials {
            socket: socket.clone(),
            source,
        })?
        .pid()
        .and_then(|p| u32::try_from(p).ok());
    let client = SocketClient::connect(stream, &socket).await?;
    let status = client.status().await;
    client.close().await;
    let reported = status?.pid;
    let locked = crate::mcp::socket::backend_pid(&socket);
    let pid = match i32::try_from(reported) {
        Ok(raw) if peer == Some(reported) && locked == Some(reported) => Pid::from_raw(raw),
        _ => {
            return Err(StopError::Mismatch {
                socket,
                reported,
                peer,
                locked,
            });
        }
    };
    kill(pid, Signal::SIGTERM).map_err(|source| StopError::Signal {
        pid: reported,
        source,
    })?;
    let deadline = tokio::time::Instant::now() + wait;
    while pid_alive(reported) {
        if tokio::time::Instant::now() >= deadline {
            // Its workers' guards end them and everything they started.
            let _ = kill(pid, Signal::SIGKILL);
            return Ok(Stopped::Stopped {
                pid: reported,
                killed: true,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Stopped::Stopped {
        pid: reported,
        killed: false,
    })
}

/// The sockets of every backend of this user that `paths` can see: the `*.sock` files in
/// the directories of its socket candidates (one backend per project and environment, all
/// in the same directories), sorted.
pub fn user_sockets(paths: &Paths) -> Vec<PathBuf> {
    use std::os::unix::fs::FileTypeExt;
    let mut out: Vec<PathBuf> = paths
        .socket_candidates
        .iter()
        .filter_map(|s| s.parent())
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flat_map(|entries| entries.flatten())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_socket()))
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sock"))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Stops every backend of this user ([`user_sockets`]), one after the other, each as
/// [`stop_backend`] does; a socket nobody answers on is reported as not running.
pub async fn stop_all(paths: &Paths, wait: Duration) -> Vec<(PathBuf, Result<Stopped, StopError>)> {
    let mut out = Vec::new();
    for socket in user_sockets(paths) {
        let mut one = paths.clone();
        one.socket_candidates = vec![socket.clone()];
        out.push((socket, stop_backend(&one, wait).await));
    }
    out
}
