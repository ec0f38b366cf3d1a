//! Finding the backend: the socket candidates in order, and starting `orch serve` when none
//! answers: one client at a time (a start lock in the backend's state directory), detached from the
//! client (see [`super::detach`]), its stdout and stderr to the log file.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};
use tokio::net::UnixStream;

use crate::error::{Error, ErrorKind};
use crate::mcp::socket::{log_file, prepare_dir};
use crate::mcp::trust::{check_peer, check_socket_path, choose_socket, unsafe_candidates};
use crate::paths::Paths;
use crate::workers::spawn::pid_alive;

/// The log is started afresh once it grows past this.
const MAX_LOG_BYTES: u64 = 4 * 1024 * 1024;

/// How to start the backend when none runs.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The `orch` executable.
    pub exe: PathBuf,
    /// Arguments placed before `serve` (e.g. `-C DIR`).
    pub args: Vec<String>,
    /// How long to wait for its socket.
    pub wait: Duration,
}

/// Why no backend could be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No backend answers and none was to be started.
    #[error("no orch backend answers on {}; start one with `orch serve`", socket.display())]
    NotRunning {
        /// The first safe candidate: where the backend would listen.
        socket: PathBuf,
    },
    /// The socket cannot be trusted: its directories are not private, or the process
    /// serving it is another user's.
    #[error(transparent)]
    Unsafe(#[from] crate::mcp::SocketError),
    /// The backend could not be started, or did not answer in time.
    #[error("could not start the orch backend on {}: {why}; see its log {}", socket.display(), log.display())]
    Start {
        /// The socket.
        socket: PathBuf,
        /// Its log file.
        log: PathBuf,
        /// What happened.
        why: String,
    },
}

impl From<ConnectError> for Error {
    fn from(e: ConnectError) -> Self {
        Self::new(ErrorKind::Unavailable, e.to_string())
    }
}

/// Connects to `socket` when it can be trusted (its directories are private, see
/// [`crate::mcp::trust`]) and checks that the process answering runs as this user before
/// anything is sent; `Ok(None)` when nothing answers.
async fn try_socket(socket: &Path) -> Result<Option<UnixStream>, ConnectError> {
    if std::fs::symlink_metadata(socket).is_err() {
        return Ok(None);
    }
    check_socket_path(socket)?;
    let Ok(stream) = UnixStream::connect(socket).await else {
        return Ok(None);
    };
    check_peer(&stream, socket)?;
    Ok(Some(stream))
}

/// The candidates that fail the checks of [`crate::mcp::trust`], with the reason: a
/// client skips them when a safe one exists (and should say so, as `orch` does on stderr).
pub fn skipped_sockets(paths: &Paths) -> Vec<crate::mcp::SocketError> {
    unsafe_candidates(&paths.socket_candidates)
}

/// Connects to the first safe socket candidate that answers. Unsafe candidates are
/// skipped (logged as warnings) when a safe one exists; when none is safe, the first
/// one's reason is the error.
pub async fn connect(paths: &Paths) -> Result<(UnixStream, PathBuf), ConnectError> {
    let choice = choose_socket(&paths.socket_candidates)?;
    for skipped in &choice.skipped {
        tracing::warn!("skipping an unsafe socket path: {skipped}");
    }
    for socket in paths
        .socket_candidates
        .iter()
        .filter(|s| check_socket_path(s).is_ok())
    {
        if let Some(stream) = try_socket(socket).await? {
            return Ok((stream, socket.clone()));
        }
    }
    Err(ConnectError::NotRunning {
        socket: choice.socket,
    })
}

/// Connects to a running backend, or starts one on the first socket candidate and waits
/// (at most `launch.wait`) until it answers.
///
/// One start at a time: the client that takes the backend's start lock
/// ([`start_lock_file`]) looks again, starts the backend detached (see [`super::detach`])
/// and holds the lock until the socket answers; every other client waits for the lock or
/// the socket, whichever comes first, so a storm of cold calls starts exactly one backend.
pub async fn connect_or_start(
    paths: &Paths,
    launch: &Launch,
) -> Result<(UnixStream, PathBuf), ConnectError> {
    // The backend starts on the first safe candidate, where `orch serve` would listen.
    let socket = match connect(paths).await {
        Ok(found) => return Ok(found),
        Err(ConnectError::NotRunning { socket }) => socket,
        Err(e) => return Err(e),
    };
    let log = log_file(paths);
    let fail = |why: String| ConnectError::Start {
        socket: socket.clone(),
        log: log.clone(),
        why,
    };
    let deadline = tokio::time::Instant::now() + launch.wait;
    let lock_path = start_lock_file(paths);
    if let Some(dir) = lock_path.parent() {
        prepare_dir(dir)?;
    }
    loop {
        if let Some(lock) = try_start_lock(&lock_path).map_err(&fail)? {
            // Another client may have started it while this one waited for the lock.
            if let Some(stream) = try_socket(&socket).await? {
                return Ok((stream, socket));
            }
            let started = start_and_wait(paths, launch, &socket, &log, deadline).await;
            drop(lock);
            return started.map(|stream| (stream, socket.clone()));
        }
        if let Some(stream) = try_socket(&socket).await? {
            return Ok((stream, socket));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(fail(format!(
                "another client was starting it and it did not answer within {} ms",
                launch.wait.as_millis()
            )));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The start lock of the backend of `paths`: `start.lock` in its state directory (beside
/// its log; private to the user, whatever directory `--socket` names), held by the one
/// client starting the backend until it answers.
pub fn start_lock_file(paths: &Paths) -> PathBuf {
    paths.backend_state_dir().join("start.lock")
}

/// The start lock when it is free; `None` while another client holds it.
fn try_start_lock(path: &Path) -> Result<Option<Flock<File>>, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot open the start lock {}: {e}", path.display()))?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}

/// Starts the backend detached and waits until it answers on `socket`, it dies, or
/// `deadline` passes.
async fn start_and_wait(
    paths: &Paths,
    launch: &Launch,
    socket: &Path,
    log: &Path,
    deadline: tokio::time::Instant,
) -> Result<UnixStream, ConnectError> {
    let fail = |why: String| ConnectError::Start {
        socket: socket.to_path_buf(),
        log: log.to_path_buf(),
        why,
    };
    let log_start = std::fs::metadata(log).map_or(0, |m| m.len());
    let pid = spawn(paths, launch, socket, log).await.map_err(&fail)?;
    loop {
        if let Some(stream) = try_socket(socket).await? {
            return Ok(stream);
        }
        if !pid_alive(pid) && !another_backend_starting(socket, pid) {
            let why =
                last_error(log, log_start).map_or_else(String::new, |line| format!(": {line}"));
            return Err(fail(format!("it (pid {pid}) exited before answering{why}")));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(fail(format!(
                "it (pid {pid}) did not answer within {} ms",
                launch.wait.as_millis()
            )));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Whether a live backend other than `ours` holds the socket's lock (ours lost a race to
/// it, and it is about to answer).
fn another_backend_starting(socket: &Path, ours: u32) -> bool {
    crate::mcp::socket::backend_pid(socket)
        .filter(|pid| *pid != ours)
        .and_then(|pid| i32::try_from(pid).ok())
        .is_some_and(|pid| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok())
}

/// The last `orch: ...` line the backend wrote to its log after `from`: why it stopped.
fn last_error(log: &Path, from: u64) -> Option<String> {
    use std::io::{Read, Seek};
    let mut f = std::fs::File::open(log).ok()?;
    f.seek(std::io::SeekFrom::Start(from)).ok()?;
    let mut text = String::new();
    f.take(64 * 1024).read_to_string(&mut text).ok()?;
    text.lines()
        .rev()
        .find_map(|l| l.strip_prefix("orch: "))
        .map(str::to_owned)
}

/// Runs `orch __launch ARGS serve --socket SOCKET` with its stderr the log, reaps it, and
/// returns the pid of the backend it started.
async fn spawn(paths: &Paths, launch: &Launch, socket: &Path, log: &Path) -> Result<u32, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = log.parent().unwrap_or(&paths.state_dir);
    prepare_dir(dir).map_err(|e| e.to_string())?;
    if std::fs::metadata(log).is_ok_and(|m| m.len() > MAX_LOG_BYTES) {
        let _ = std::fs::rename(log, log.with_extension("log.1"));
    }
    let err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(log)
        .map_err(|e| format!("cannot open the log file: {e}"))?;
    let launcher = tokio::process::Command::new(&launch.exe)
        .arg(super::detach::SUBCOMMAND)
        .args(&launch.args)
        .arg("serve")
        .arg("--socket")
        .arg(socket)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(err)
        .kill_on_drop(true)
        // Not `output()`, which would pipe stderr too: the backend keeps the log open.
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", launch.exe.display()))?
        .wait_with_output()
        .await
        .map_err(|e| format!("cannot read what {} printed: {e}", launch.exe.display()))?;
    let printed = String::from_utf8_lossy(&launcher.stdout);
    match printed.trim().parse() {
        Ok(pid) if launcher.status.success() => Ok(pid),
        _ => Err(format!(
            "its launcher failed ({}){}",
            launcher.status,
            last_error(log, 0).map_or_else(String::new, |line| format!(": {line}"))
        )),
    }
}
