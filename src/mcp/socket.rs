//! The backend's Unix socket: a private directory (0700, ours, not a symlink), a socket
//! (0600), a lock file so that two backends never share one path, and the accept loop that
//! serves each connection with its own rmcp service over the shared [`Backend`].
//!
//! A socket left by a dead backend is replaced; a live one is never taken over.

use std::fs::{DirBuilder, File, OpenOptions};
use std::future::Future;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};
use rmcp::ServiceExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::connections::{Activity, ConnectionLimits, Connections};
use super::server::{Backend, McpServer};
use super::transport::{LineTransport, MAX_MESSAGE_BYTES};
use crate::paths::Paths;
use crate::workers::WorkerService;

/// Longest socket path accepted (macOS allows 104 bytes with the terminator, Linux 108).
pub const MAX_SOCKET_PATH: usize = 100;
/// Connections served at once; a new one beyond it closes an idle one, or is closed at
/// once when every one is busy (see [`super::connections`]).
pub const MAX_CONNECTIONS: usize = 512;

/// Why the backend cannot listen (or a client cannot trust a socket's directory).
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// The directory is not private to this user.
    #[error("socket directory {} is unsafe: {why}", path.display())]
    UnsafeDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong and how to fix it.
        why: String,
    },
    /// Another backend serves this path.
    #[error(
        "another orch backend{} is already serving on {} (stop it first, or pass --socket PATH / set ORCH_SOCKET to use another path)",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        path.display()
    )]
    AlreadyRunning {
        /// The socket.
        path: PathBuf,
        /// The other backend's pid, when known.
        pid: Option<u32>,
    },
    /// The path is too long for a Unix socket.
    #[error("socket path {} is {len} bytes; Unix sockets allow about {MAX_SOCKET_PATH}: choose a shorter --socket PATH", path.display())]
    PathTooLong {
        /// The socket.
        path: PathBuf,
        /// Its length.
        len: usize,
    },
    /// Something that is not a socket sits at the path.
    #[error("{} exists and is not a socket; orch will not remove it", path.display())]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// The process serving the socket runs as another user: nothing was sent to it.
    #[error(
        "the process serving {} runs as uid {uid}, not as you (uid {}); orch sent it nothing. Another user may have planted it: stop using that path, or pass --socket PATH / set ORCH_SOCKET",
        path.display(),
        nix::unistd::getuid()
    )]
    ForeignPeer {
        /// The socket.
        path: PathBuf,
        /// The peer's uid.
        uid: u32,
    },
    /// There is no socket path to try.
    #[error("no socket path to use: set XDG_RUNTIME_DIR or TMPDIR, or pass --socket PATH")]
    NoCandidate,
    /// An I/O failure.
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        /// What was attempted.
        what: &'static str,
        /// On what.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SocketError {
    let path = path.to_path_buf();
    move |source| SocketError::Io { what, path, source }
}

/// The lock file next to a socket; it holds the pid of the backend serving there.
pub fn lock_file(socket: &Path) -> PathBuf {
    let mut p = socket.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// The pid written in the lock file of the socket at `socket`, if any.
pub fn backend_pid(socket: &Path) -> Option<u32> {
    std::fs::read_to_string(lock_file(socket))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The backend's log file (its stdout and stderr when a client starts it).
pub fn log_file(paths: &Paths) -> PathBuf {
    paths.backend_state_dir().join("serve.log")
}

/// Checks that `dir` is a real directory owned by this user that nobody else can enter.
pub fn check_dir(dir: &Path) -> Result<(), SocketError> {
    let unsafe_dir = |why: String| SocketError::UnsafeDir {
        path: dir.to_path_buf(),
        why,
    };
    let meta = std::fs::symlink_metadata(dir).map_err(io("inspect", dir))?;
    if meta.file_type().is_symlink() {
        return Err(unsafe_dir(
            "it is a symlink; remove it and let orch create the directory".into(),
        ));
    }
    if !meta.is_dir() {
        return Err(unsafe_dir("it is not a directory".into()));
    }
    let me = nix::unistd::getuid().as_raw();
    if meta.uid() != me {
        return Err(unsafe_dir(format!(
            "it belongs to uid {}, not to you (uid {me}); choose another --socket PATH",
            meta.uid()
        )));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(unsafe_dir(format!(
            "others can access it (mode {mode:o}); run chmod 700 {}",
            dir.display()
        )));
    }
    Ok(())
}

/// Creates `dir` (and missing parents) with mode 0700 when missing, then checks it.
pub fn prepare_dir(dir: &Path) -> Result<(), SocketError> {
    if std::fs::symlink_metadata(dir).is_err() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io("create", dir))?;
    }
    check_dir(dir)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The lock that makes a socket path ours, held for the backend's life; its file holds the
/// backend's pid while it is held. Taken before anything is loaded, so a second backend
/// fails at once; the socket itself appears only when the backend can serve ([`Self::listen`]).
#[derive(Debug)]
pub struct SocketLock {
    path: PathBuf,
    lock: Flock<File>,
}

impl SocketLock {
    /// Prepares the socket's directory, takes the lock (or says which backend holds it),
    /// and removes a stale socket; a live one is refused.
    pub fn acquire(path: &Path) -> Result<Self, SocketError> {
        let len = path.as_os_str().len();
        if len > MAX_SOCKET_PATH {
            return Err(SocketError::PathTooLong {
                path: path.to_path_buf(),
                len,
            });
        }
        // The directories above too: whoever may rename them may swap the socket.
        super::trust::check_ancestors(parent(path))?;
        prepare_dir(parent(path))?;
        let lock_path = lock_file(path);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(io("open the lock file", &lock_path))?;
        let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|_| {
            SocketError::AlreadyRunning {
                path: path.to_path_buf(),
                pid: backend_pid(path),
            }
        })?;
        let mut held = Self {
            path: path.to_path_buf(),
            lock,
        };
        // The pid of the backend holding the lock, for people and tests that must stop it.
        {
            use std::io::{Seek, Write};
            let f: &mut File = &mut held.lock;
            let _ = f.set_len(0);
            let _ = f.seek(std::io::SeekFrom::Start(0));
            let _ = writeln!(f, "{}", std::process::id());
        }
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(SocketError::NotASocket {
                    path: path.to_path_buf(),
                });
            }
            // We hold the lock, so a backend answering here predates locking: leave it be.
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(SocketError::AlreadyRunning {
                    path: path.to_path_buf(),
                    pid: None,
                });
            }
            tracing::info!(path = %path.display(), "replacing a stale socket");
            std::fs::remove_file(path).map_err(io("remove the stale socket", path))?;
        }
        Ok(held)
    }

    /// Creates the socket (mode 0600) and starts listening. Must run inside a tokio runtime.
    pub fn listen(self) -> Result<Listener, SocketError> {
        let path = self.path.clone();
        let listener = UnixListener::bind(&path).map_err(io("listen on", &path))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(io("set permissions of", &path))?;
        let ino = std::fs::metadata(&path)
            .map_err(io("inspect", &path))?
            .ino();
        Ok(Listener {
            listener,
            path,
            ino,
            _lock: self,
        })
    }
}

impl Drop for SocketLock {
    fn drop(&mut self) {
        // No pid outlives its backend in the lock file.
        let _ = self.lock.set_len(0);
    }
}

/// A bound socket, the lock that makes it ours, and its removal when dropped.
#[derive(Debug)]
pub struct Listener {
    listener: UnixListener,
    path: PathBuf,
    ino: u64,
    _lock: SocketLock,
}

impl Listener {
    /// Takes the lock and listens at once ([`SocketLock::acquire`], then
    /// [`SocketLock::listen`]). Must run inside a tokio runtime.
    pub fn bind(path: &Path) -> Result<Self, SocketError> {
        SocketLock::acquire(path)?.listen()
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Only remove the socket we created (never one that replaced it).
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.ino) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Serves one connection until the peer leaves or `stop` fires.
pub async fn serve_connection<W, S>(backend: Arc<Backend<W>>, stream: S, stop: CancellationToken)
where
    W: WorkerService,
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let activity = Arc::new(Activity::default());
    serve_bounded(
        backend,
        stream,
        stop,
        CancellationToken::new(),
        activity,
        None,
    )
    .await;
}

/// Serves one connection whose requests in flight are counted in `activity`. It ends when
/// the peer leaves or `close` fires (the backend stops: queued answers are still written),
/// and at once, unwritten answers dropped, when `evict` fires (closed to make room) or when
/// it has not completed the MCP handshake within `handshake` (when given).
async fn serve_bounded<W, S>(
    backend: Arc<Backend<W>>,
    stream: S,
    close: CancellationToken,
    evict: CancellationToken,
    activity: Arc<Activity>,
    handshake: Option<Duration>,
) where
    W: WorkerService,
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let _counted = backend.connection();
    let (read, write) = tokio::io::split(stream);
    let transport = LineTransport::closable(read, write, MAX_MESSAGE_BYTES, evict.clone())
        .with_activity(Arc::clone(&activity));
    let server = McpServer::new(backend);
    let started = server.serve_with_ct(transport, close);
    let started = match handshake {
        Some(limit) => match tokio::time::timeout(limit, started).await {
            Ok(r) => r,
            Err(_) => {
                tracing::info!(
                    limit_ms = limit.as_millis(),
                    "closing a connection that did not complete the MCP handshake in time"
                );
                evict.cancel();
                return;
            }
        },
        None => started.await,
    };
    match started {
        Ok(running) => {
            activity.handshaken();
            let _ = running.waiting().await;
        }
        Err(e) => tracing::debug!("connection ended before initialization: {e}"),
    }
}

/// Admits an accepted connection under the connection limits (closing an idle one to make
/// room) and spawns its service; a connection refused is dropped, which closes it.
fn admit<W: WorkerService>(
    backend: &Arc<Backend<W>>,
    table: &Arc<Connections>,
    stream: UnixStream,
    stop: &CancellationToken,
    tasks: &mut JoinSet<()>,
) {
    let Some(slot) = table.admit(stop) else {
        return;
    };
    let handshake = table.limits().handshake_timeout;
    let backend = Arc::clone(backend);
    tasks.spawn(async move {
        let close = slot.close.clone();
        let evict = slot.evict.clone();
        let activity = Arc::clone(&slot.activity);
        serve_bounded(backend, stream, close, evict, activity, Some(handshake)).await;
        // Leaves the table only now that the connection is closed.
        drop(slot);
    });
}

fn same_user(stream: &UnixStream) -> bool {
    stream
        .peer_cred()
        .is_ok_and(|c| c.uid() == nix::unistd::getuid().as_raw())
}

/// Accepts connections until `shutdown` completes, then closes them, shuts the worker
/// service down and removes the socket. Connections are bounded by the default
/// [`ConnectionLimits`].
pub async fn serve<W: WorkerService>(
    backend: Arc<Backend<W>>,
    listener: Listener,
    shutdown: impl Future<Output = ()>,
) {
    serve_with_limits(backend, listener, shutdown, ConnectionLimits::default()).await;
}

/// [`serve`] under other connection limits (tests).
pub async fn serve_with_limits<W: WorkerService>(
    backend: Arc<Backend<W>>,
    listener: Listener,
    shutdown: impl Future<Output = ()>,
    limits: ConnectionLimits,
) {
    serve_inner(backend, listener, shutdown, limits, None).await;
}

/// How long a backend started by `orch serve` stays up with nothing to do (no connection, no
/// task queued or running, no worker process) before it exits by itself.
pub const DEFAULT_IDLE_EXIT: Duration = Duration::from_secs(30 * 60);

/// The variable that sets the idle time in seconds (`0`: never exit when idle).
pub const IDLE_EXIT_VAR: &str = "ORCH_IDLE_EXIT_SECS";

/// The idle time of `env` ([`IDLE_EXIT_VAR`], else [`DEFAULT_IDLE_EXIT`]); `None` never
/// exits. A value that is not a number of seconds is an error naming the variable.
pub fn idle_exit(env: &crate::paths::Environment) -> Result<Option<Duration>, String> {
    match env.get(IDLE_EXIT_VAR) {
        None => Ok(Some(DEFAULT_IDLE_EXIT)),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(0) => Ok(None),
            Ok(secs) => Ok(Some(Duration::from_secs(secs))),
            Err(_) => Err(format!(
                "{IDLE_EXIT_VAR}={v} is not a number of seconds (0 never exits when idle)"
            )),
        },
    }
}

/// [`serve`] that also stops by itself once it has been idle for `idle_exit` (no
/// connection, no task queued or running, no worker process); `None` never does.
pub async fn serve_until_idle<W: WorkerService>(
    backend: Arc<Backend<W>>,
    listener: Listener,
    shutdown: impl Future<Output = ()>,
    idle_exit: Option<Duration>,
) {
    serve_inner(
        backend,
        listener,
        shutdown,
        ConnectionLimits::default(),
        idle_exit,
    )
    .await;
}

/// Whether the backend has nothing to do: no connection, no task, no worker process.
async fn is_idle<W: WorkerService>(backend: &Backend<W>) -> bool {
    if backend.connections() > 0 || backend.tasks().counts().0 > 0 {
        return false;
    }
    !backend
        .workers()
        .workers()
        .await
        .workers
        .iter()
        .any(|w| w.pid.is_some())
}

async fn serve_inner<W: WorkerService>(
    backend: Arc<Backend<W>>,
    listener: Listener,
    shutdown: impl Future<Output = ()>,
    limits: ConnectionLimits,
    idle_exit: Option<Duration>,
) {
    let table = Connections::new(limits);
    let stop = CancellationToken::new();
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    tracing::info!(socket = %listener.path().display(), pid = std::process::id(), "orch backend listening");
    // Workers whose profile says "warm": true start now, as op tasks (`orch tasks` shows
    // them), so their first task does not wait for a start.
    let (warming, refused) = backend.tasks().warm_flagged().await;
    for row in &warming {
        tracing::info!(task = %row.id, worker = row.worker.as_deref().unwrap_or(""), "warming the worker (\"warm\": true)");
    }
    for (worker, e) in &refused {
        tracing::warn!(worker = %worker, "cannot warm the worker: {}", e.message);
    }
    // A backend whose socket was removed or replaced can never be reached again: it stops
    // instead of lingering (a cleaned temp dir, a user deleting the runtime dir).
    let ours = Some(listener.ino);
    let inode = |p: &Path| std::fs::symlink_metadata(p).ok().map(|m| m.ino());
    let every = idle_exit.map_or(Duration::from_secs(2), |idle| {
        (idle / 4).clamp(Duration::from_millis(100), Duration::from_secs(2))
    });
    let mut watch = tokio::time::interval(every);
    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut idle_since: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = watch.tick() => {
                if inode(listener.path()) != ours {
                    tracing::warn!(socket = %listener.path().display(), "the socket was removed or replaced; stopping");
                    break;
                }
                if let Some(idle) = idle_exit {
                    if !is_idle(&backend).await {
                        idle_since = None;
                    } else if idle_since.get_or_insert_with(tokio::time::Instant::now).elapsed() >= idle {
                        tracing::info!(idle_secs = idle.as_secs_f64(), "idle with no connection, task or worker; stopping");
                        break;
                    }
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.listener.accept() => match accepted {
                Ok((stream, _)) => {
                    if !same_user(&stream) {
                        tracing::warn!("refused a connection from another user");
                        continue;
                    }
                    admit(&backend, &table, stream, &stop, &mut connections);
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, keep serving.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    tracing::info!("shutting down");
    let cancelled = backend
        .tasks()
        .cancel_all("cancelled: the orch backend stopped (orch stop, or a signal)");
    if cancelled > 0 {
        tracing::info!(cancelled, "cancelled the running tasks");
    }
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.abort_all();
    backend.workers().shutdown().await;
    drop(listener);
    tracing::info!("stopped");
}

/// Completes on SIGINT or SIGTERM. SIGHUP is ignored from the start, so a backend started
/// from a terminal survives the terminal closing.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    Ok(async move {
        loop {
            tokio::select! {
                _ = int.recv() => return,
                _ = term.recv() => return,
                _ = hup.recv() => tracing::info!("ignoring SIGHUP"),
            }
        }
    })
}
