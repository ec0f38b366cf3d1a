//! Whom the socket trusts, and whom a client trusts at a socket path: the directories on
//! the way to it, the candidate both the backend and its clients pick, and the uid of the
//! process at the other end of a connection.
//!
//! The threat is another local user. A socket is only as private as the directories that
//! lead to it: whoever may rename an entry on the way can swap in their own directory and
//! socket. So:
//!
//! - the socket's own directory is a real directory (not a symlink), ours, and nobody
//!   else may write to it (the backend itself insists on 0700,
//!   [`super::socket::check_dir`], and says how to fix it);
//! - every directory above it (as written, and after resolving symlinks) belongs to us or
//!   to root and is not writable by group or others, unless it has the sticky bit (`/tmp`
//!   is 1777): in a sticky directory only an entry's owner (or the directory's owner, us
//!   or root) may rename or remove it, and the entry below it on our path is itself ours
//!   or root's (checked the same way), so nobody else can swap it. What a sticky directory
//!   still lets others do is *plant* a name before us (`/tmp/orch-<uid>`): the planted
//!   directory is theirs, fails the owner check, and the candidate is skipped;
//! - a symlink on the way must belong to us or root (a stranger's symlink in a sticky
//!   directory could be replaced by that stranger);
//! - a client sends nothing before it has checked that the process at the other end runs
//!   under its own uid (`SO_PEERCRED` on Linux, `getpeereid` on macOS; root is not
//!   trusted either, like ssh-agent), and the backend closes connections from other uids.
//!
//! A candidate that fails these checks is skipped (with a warning) when a later one is
//! safe; the backend listens on, and a client starts the backend on, the first safe
//! candidate, so both agree. An explicit `--socket`/`ORCH_SOCKET` is the only candidate:
//! when it is unsafe that is an error.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tokio::net::UnixStream;

use super::socket::SocketError;

/// Mode bits that let someone other than the owner add, rename or remove entries.
const WRITABLE_BY_OTHERS: u32 = 0o022;
/// The sticky bit: only an entry's owner (or the directory's) may rename or remove it.
const STICKY: u32 = 0o1000;

/// This process's uid.
fn my_uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

/// The directory a socket lives in (`.` for a bare file name).
pub fn socket_dir(socket: &Path) -> &Path {
    match socket.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Checks one directory (or symlink) above the socket's directory.
fn check_ancestor(dir: &Path, above: &Path, meta: &Metadata) -> Result<(), SocketError> {
    let unsafe_dir = |why: String| SocketError::UnsafeDir {
        path: dir.to_path_buf(),
        why,
    };
    let me = my_uid();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(unsafe_dir(format!(
            "{} above it belongs to uid {}, neither you (uid {me}) nor root; choose another --socket PATH",
            above.display(),
            meta.uid()
        )));
    }
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = meta.mode() & 0o7777;
    if mode & WRITABLE_BY_OTHERS != 0 && mode & STICKY == 0 {
        return Err(unsafe_dir(format!(
            "others can replace what is in {} above it (mode {:o}, writable without the sticky bit); run chmod go-w {} or choose another --socket PATH",
            above.display(),
            mode,
            above.display()
        )));
    }
    Ok(())
}

/// Checks every existing directory above `dir` (not `dir` itself): as written, and along
/// the path its symlinks resolve to. Missing ones are fine: orch creates them (0700).
pub fn check_ancestors(dir: &Path) -> Result<(), SocketError> {
    let io = |source| SocketError::Io {
        what: "inspect",
        path: dir.to_path_buf(),
        source,
    };
    let abs = std::path::absolute(dir).map_err(io)?;
    let mut deepest: Option<&Path> = None;
    for above in abs.ancestors().skip(1) {
        match std::fs::symlink_metadata(above) {
            Ok(meta) => {
                check_ancestor(dir, above, &meta)?;
                deepest.get_or_insert(above);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
    }
    // Symlinks above (macOS's /var -> /private/var): the directories they lead through.
    if let Some(deepest) = deepest {
        let real = std::fs::canonicalize(deepest).map_err(io)?;
        for above in real.ancestors() {
            let meta = std::fs::symlink_metadata(above).map_err(io)?;
            check_ancestor(dir, above, &meta)?;
        }
    }
    Ok(())
}

/// Checks that nobody else controls the socket's own directory: a real directory, ours,
/// not writable by group or others. Looser than the backend's
/// [`super::socket::check_dir`] (0700): a
/// directory of ours that others may only read is our own misconfiguration, not a trap,
/// so it is not skipped; the backend refuses to listen there, naming the fix.
fn check_own_dir(dir: &Path) -> Result<(), SocketError> {
    let unsafe_dir = |why: String| SocketError::UnsafeDir {
        path: dir.to_path_buf(),
        why,
    };
    let meta = std::fs::symlink_metadata(dir).map_err(|source| SocketError::Io {
        what: "inspect",
        path: dir.to_path_buf(),
        source,
    })?;
    if meta.file_type().is_symlink() {
        return Err(unsafe_dir(
            "it is a symlink; remove it and let orch create the directory".into(),
        ));
    }
    if !meta.is_dir() {
        return Err(unsafe_dir("it is not a directory".into()));
    }
    let me = my_uid();
    if meta.uid() != me {
        return Err(unsafe_dir(format!(
            "it belongs to uid {}, not to you (uid {me}); choose another --socket PATH",
            meta.uid()
        )));
    }
    let mode = meta.mode() & 0o7777;
    if mode & WRITABLE_BY_OTHERS != 0 {
        return Err(unsafe_dir(format!(
            "others can write to it (mode {mode:o}); run chmod 700 {}",
            dir.display()
        )));
    }
    Ok(())
}

/// Whether a socket at `socket` can be trusted, as far as the file system tells: its
/// directory, when it exists, is ours and nobody else may write to it, and every
/// directory above it passes [`check_ancestors`]. A missing directory is fine (the
/// backend creates it, 0700).
pub fn check_socket_path(socket: &Path) -> Result<(), SocketError> {
    let dir = socket_dir(socket);
    check_ancestors(dir)?;
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        _ => check_own_dir(dir),
    }
}

/// The socket the backend listens on: the first safe candidate, and why the ones before
/// it were skipped.
#[derive(Debug)]
pub struct SocketChoice {
    /// The first candidate that passes [`check_socket_path`].
    pub socket: PathBuf,
    /// The candidates before it that did not, with the reason.
    pub skipped: Vec<SocketError>,
}

/// Picks the first safe candidate; when none is safe, the first candidate's reason (so an
/// unsafe `--socket`/`ORCH_SOCKET`, the only candidate, is an error).
pub fn choose_socket(candidates: &[PathBuf]) -> Result<SocketChoice, SocketError> {
    let mut skipped = Vec::new();
    for socket in candidates {
        match check_socket_path(socket) {
            Ok(()) => {
                return Ok(SocketChoice {
                    socket: socket.clone(),
                    skipped,
                });
            }
            Err(e) => skipped.push(e),
        }
    }
    Err(skipped
        .into_iter()
        .next()
        .unwrap_or(SocketError::NoCandidate))
}

/// Where `orch serve` listens without `--socket`: [`choose_socket`], logging each skipped
/// candidate as a warning.
pub fn listen_path(candidates: &[PathBuf]) -> Result<PathBuf, SocketError> {
    let choice = choose_socket(candidates)?;
    for skipped in &choice.skipped {
        tracing::warn!("skipping an unsafe socket path: {skipped}");
    }
    Ok(choice.socket)
}

/// Every candidate that fails [`check_socket_path`], with the reason (in order).
pub fn unsafe_candidates(candidates: &[PathBuf]) -> Vec<SocketError> {
    candidates
        .iter()
        .filter_map(|s| check_socket_path(s).err())
        .collect()
}

/// The uid of the process at the other end of `stream` (`SO_PEERCRED`/`getpeereid`).
pub fn peer_uid(stream: &UnixStream) -> std::io::Result<u32> {
    stream.peer_cred().map(|c| c.uid())
}

/// Checks that the process at the other end of `stream` runs as this user: before a
/// client sends anything, and when the backend accepts.
pub fn check_peer(stream: &UnixStream, socket: &Path) -> Result<(), SocketError> {
    let uid = peer_uid(stream).map_err(|source| SocketError::Io {
        what: "read the peer's credentials on",
        path: socket.to_path_buf(),
        source,
    })?;
    if uid == my_uid() {
        Ok(())
    } else {
        Err(SocketError::ForeignPeer {
            path: socket.to_path_buf(),
            uid,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::mcp::socket::check_dir;

    fn chmod(p: &Path, mode: u32) {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
            .expect("permissions can be set");
    }

    fn mkdir(p: &Path, mode: u32) {
        std::fs::create_dir_all(p).expect("a test directory");
        chmod(p, mode);
    }

    fn root() -> tempfile::TempDir {
        tempfile::tempdir().expect("a temp dir")
    }

    fn why(r: Result<(), SocketError>) -> String {
        match r {
            Err(SocketError::UnsafeDir { why, .. }) => why,
            other => panic!("expected UnsafeDir, got {other:?}"),
        }
    }

    #[test]
    fn a_private_dir_under_private_parents_is_safe() {
        let t = root();
        mkdir(&t.path().join("run/orch"), 0o700);
        check_socket_path(&t.path().join("run/orch/orch.sock")).expect("safe");
        // Missing directories are created by orch: fine.
        check_socket_path(&t.path().join("new/orch/orch.sock")).expect("safe when missing");
    }

    #[test]
    fn a_parent_writable_by_others_without_sticky_bit_is_unsafe() {
        let t = root();
        let run = t.path().join("run");
        mkdir(&run.join("orch"), 0o700);
        chmod(&run, 0o777);
        let w = why(check_socket_path(&run.join("orch/orch.sock")));
        assert!(w.contains("sticky") && w.contains("777"), "{w}");
        // Also when the private directory does not exist yet.
        std::fs::remove_dir(run.join("orch")).expect("removed");
        why(check_socket_path(&run.join("orch/orch.sock")));
        // Group-writable is as bad.
        chmod(&run, 0o775);
        why(check_socket_path(&run.join("orch/orch.sock")));
        // Higher up too.
        chmod(&run, 0o755);
        chmod(t.path(), 0o777);
        why(check_socket_path(&run.join("orch/orch.sock")));
        chmod(t.path(), 0o700);
    }

    #[test]
    fn a_sticky_world_writable_parent_is_safe_like_tmp() {
        let t = root();
        let tmp = t.path().join("tmp");
        mkdir(&tmp, 0o1777);
        mkdir(&tmp.join("orch-1"), 0o700);
        check_socket_path(&tmp.join("orch-1/orch.sock")).expect("safe under a sticky dir");
        check_socket_path(&tmp.join("orch-2/orch.sock")).expect("safe to create");
    }

    #[test]
    fn the_socket_dir_itself_must_be_private_ours_and_real() {
        let t = root();
        let dir = t.path().join("s");
        mkdir(&dir, 0o777);
        assert!(why(check_socket_path(&dir.join("orch.sock"))).contains("chmod 700"));
        chmod(&dir, 0o1777);
        why(check_socket_path(&dir.join("orch.sock")));
        chmod(&dir, 0o770);
        why(check_socket_path(&dir.join("orch.sock")));
        // Readable by others: the backend refuses it (0700, `check_dir`), naming the fix;
        // a client does not skip it, since nobody else can have put anything there.
        chmod(&dir, 0o755);
        check_socket_path(&dir.join("orch.sock")).expect("ours, writable by us only");
        assert!(check_dir(&dir).is_err());
        chmod(&dir, 0o700);
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).expect("a symlink");
        assert!(why(check_socket_path(&link.join("orch.sock"))).contains("symlink"));
        // A symlink higher up is followed, and what it leads through is checked.
        mkdir(&dir.join("orch"), 0o700);
        check_socket_path(&link.join("orch/orch.sock")).expect("a symlink above is fine");
        chmod(&dir, 0o777);
        why(check_socket_path(&link.join("orch/orch.sock")));
        chmod(&dir, 0o700);
    }

    #[test]
    fn a_directory_of_another_uid_is_unsafe_when_root_can_make_one() {
        if !nix::unistd::getuid().is_root() {
            eprintln!(
                "SKIPPED a_directory_of_another_uid_is_unsafe_when_root_can_make_one: needs root to chown"
            );
            return;
        }
        let other = Some(nix::unistd::Uid::from_raw(65534));
        let t = root();
        // Planted private dir (the /tmp/orch-<uid> attack).
        let planted = t.path().join("orch-0");
        mkdir(&planted, 0o700);
        nix::unistd::chown(&planted, other, None).expect("chown");
        assert!(why(check_socket_path(&planted.join("orch.sock"))).contains("uid 65534"));
        // A parent of another uid (it could rename our directory away).
        let theirs = t.path().join("theirs");
        mkdir(&theirs.join("orch"), 0o700);
        nix::unistd::chown(&theirs, other, None).expect("chown");
        assert!(why(check_socket_path(&theirs.join("orch/orch.sock"))).contains("uid 65534"));
        // A stranger's symlink above.
        let mine = t.path().join("mine");
        mkdir(&mine.join("orch"), 0o700);
        let link = t.path().join("link");
        std::os::unix::fs::symlink(&mine, &link).expect("a symlink");
        nix::unistd::fchownat(
            nix::fcntl::AT_FDCWD,
            &link,
            other,
            None,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .expect("lchown");
        why(check_socket_path(&link.join("orch/orch.sock")));
    }

    #[test]
    fn the_first_safe_candidate_is_chosen_and_the_others_reported() {
        let t = root();
        let run = t.path().join("run");
        mkdir(&run, 0o777);
        let tmp = t.path().join("tmp");
        mkdir(&tmp, 0o1777);
        let candidates = vec![run.join("orch/orch.sock"), tmp.join("orch-1/orch.sock")];
        let choice = choose_socket(&candidates).expect("a safe candidate");
        assert_eq!(choice.socket, candidates[1]);
        assert_eq!(choice.skipped.len(), 1);
        assert_eq!(unsafe_candidates(&candidates).len(), 1);
        // The only candidate (an override) unsafe: an error, not a skip.
        assert!(matches!(
            choose_socket(&candidates[..1]),
            Err(SocketError::UnsafeDir { .. })
        ));
        chmod(&run, 0o700);
        assert_eq!(
            choose_socket(&candidates).expect("safe").socket,
            candidates[0]
        );
        assert!(matches!(choose_socket(&[]), Err(SocketError::NoCandidate)));
    }
}
