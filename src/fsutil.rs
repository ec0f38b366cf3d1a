//! Small file helpers: private directories, atomic writes, the checked replace and backups,
//! and the byte order mark that every reader of a JSON file skips.
//!
//! Every write here goes to a temporary file in the target's directory, is synced, then
//! renamed over the target, so a reader sees the old or the new content, never a mix.
//! [`write_atomic`] replaces whatever is there; [`replace_if_unchanged`] first checks the
//! file still holds what the caller read (a compare-and-swap on the file's bytes), for
//! edits of files the user owns.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The suffix of backups: `opencode.json.orch-backup`, then `.orch-backup.1`, `.2`, ...
pub const BACKUP_SUFFIX: &str = ".orch-backup";

/// How many backup names ([`BACKUP_SUFFIX`], then `.1` to `.999`) are tried.
pub const MAX_BACKUPS: u32 = 1000;

/// The UTF-8 byte order mark that some editors (Notepad, PowerShell) put at the start of a
/// file. OpenCode reads a file that starts with one as if it did not; so does every JSON
/// reader of orch, and `orch opencode install` keeps it when it rewrites a file.
pub const UTF8_BOM: &str = "\u{feff}";

/// `bytes` without a leading UTF-8 byte order mark.
pub fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(UTF8_BOM.as_bytes()).unwrap_or(bytes)
}

/// `text` without a leading UTF-8 byte order mark, and whether it had one.
pub fn split_bom(text: &str) -> (&str, bool) {
    match text.strip_prefix(UTF8_BOM) {
        Some(rest) => (rest, true),
        None => (text, false),
    }
}

/// A file operation that failed: what was attempted, on which path, and why.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}: {source}", path.display())]
pub struct IoFailure {
    /// What was being done (`read`, `write`, `back up to`, ...), read after "cannot".
    pub action: &'static str,
    /// The file or directory.
    pub path: PathBuf,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

/// Builds an [`IoFailure`] for `map_err`: `fs::read(p).map_err(failed("read", p))`.
pub fn failed(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> IoFailure {
    let path = path.to_path_buf();
    move |source| IoFailure {
        action,
        path,
        source,
    }
}

/// Why [`replace_if_unchanged`] or [`write_backup`] did not write.
#[derive(Debug, thiserror::Error)]
pub enum ReplaceError {
    /// The file no longer holds the bytes it was read with (or appeared since it was seen
    /// missing); it was left alone.
    #[error("{} changed since it was read", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
    },
    /// Every backup name is taken.
    #[error("{MAX_BACKUPS} backups of {} exist already", path.display())]
    NoFreeBackup {
        /// The file that was to be backed up.
        path: PathBuf,
    },
    /// A file operation failed.
    #[error(transparent)]
    Io(#[from] IoFailure),
}

/// Creates `dir` (and parents) readable only by the user (0700 on the last component).
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let meta = fs::metadata(dir)?;
    if meta.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, synced,
/// then renamed over the target, whatever the target holds now.
/// The file gets `mode` when it is new, else keeps its current permissions.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(mode);
    let permissions = fs::Permissions::from_mode(mode);
    let mut temp =
        write_temp(path, "tmp", bytes, Some(mode), Some(&permissions)).map_err(|e| e.source)?;
    fs::rename(&temp.path, path)?;
    temp.armed = false;
    sync_parent(path);
    Ok(())
}

/// Replaces `target` with `bytes` atomically, after checking that `target` still holds
/// `expected` (`None`: that it still does not exist). The new file gets `permissions`
/// when there are some, else the umask's default.
///
/// The temporary file is readable by the owner only until its permissions are set when
/// it replaces an existing file (that file may hold keys).
pub fn replace_if_unchanged(
    target: &Path,
    bytes: &[u8],
    expected: Option<&[u8]>,
    permissions: Option<&fs::Permissions>,
) -> Result<(), ReplaceError> {
    let private = expected.map(|_| 0o600);
    let mut temp = write_temp(target, "orch-tmp", bytes, private, permissions)?;
    let changed = || ReplaceError::Changed {
        path: target.to_path_buf(),
    };
    match expected {
        Some(old) => {
            if fs::read(target).map_err(failed("read", target))? != old {
                return Err(changed());
            }
            fs::rename(&temp.path, target).map_err(failed("replace", target))?;
            temp.armed = false;
        }
        None => match fs::hard_link(&temp.path, target) {
            // A link fails when the target appeared meanwhile, where a rename would replace it.
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(changed()),
            Err(_) => {
                if fs::symlink_metadata(target).is_ok() {
                    return Err(changed());
                }
                fs::rename(&temp.path, target).map_err(failed("create", target))?;
                temp.armed = false;
            }
        },
    }
    sync_parent(target);
    Ok(())
}

/// `<file>.orch-backup` for `n == 0`, else `<file>.orch-backup.<n>`.
pub fn backup_path(target: &Path, n: u32) -> PathBuf {
    let mut name = target
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(BACKUP_SUFFIX);
    if n > 0 {
        name.push(format!(".{n}"));
    }
    target.with_file_name(name)
}

/// The first backup name that does not exist yet (what [`write_backup`] will use unless
/// another process takes it first).
pub fn free_backup_path(target: &Path) -> PathBuf {
    (0..MAX_BACKUPS)
        .map(|n| backup_path(target, n))
        .find(|p| fs::symlink_metadata(p).is_err())
        .unwrap_or_else(|| backup_path(target, 0))
}

/// Copies `bytes` (what was read and planned on, not what the file holds now) to the first
/// free backup name of `target`, never overwriting a backup, and returns that name.
/// The backup is the owner's only until it gets `permissions` (the original's).
pub fn write_backup(
    target: &Path,
    bytes: &[u8],
    permissions: Option<&fs::Permissions>,
) -> Result<PathBuf, ReplaceError> {
    for n in 0..MAX_BACKUPS {
        let path = backup_path(target, n);
        let file = match new_file(&path, Some(0o600)) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(failed("back up to", &path)(e).into()),
        };
        let mut temp = TempFile { path, armed: true };
        temp.fill(file, bytes, permissions)?;
        temp.armed = false;
        return Ok(temp.path.clone());
    }
    Err(ReplaceError::NoFreeBackup {
        path: target.to_path_buf(),
    })
}

/// A file this module created; removed on drop unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    /// Writes and flushes `bytes`, then gives the file `permissions` when there are some.
    fn fill(
        &self,
        mut file: fs::File,
        bytes: &[u8],
        permissions: Option<&fs::Permissions>,
    ) -> Result<(), IoFailure> {
        file.write_all(bytes)
            .and_then(|()| file.sync_all())
            .map_err(failed("write", &self.path))?;
        match permissions {
            Some(p) => fs::set_permissions(&self.path, p.clone())
                .map_err(failed("set the permissions of", &self.path)),
            None => Ok(()),
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A new file next to `target`, named after it (`.<name>.<tag>-<pid>-<n>`), holding
/// `bytes` with `permissions`. `mode`: its mode while it is written (`None`: the umask's
/// default).
fn write_temp(
    target: &Path,
    tag: &str,
    bytes: &[u8],
    mode: Option<u32>,
    permissions: Option<&fs::Permissions>,
) -> Result<TempFile, IoFailure> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut last = None;
    for _ in 0..100 {
        let path = dir.join(format!(".{name}.{tag}-{}-{}", std::process::id(), unique()));
        match new_file(&path, mode) {
            Ok(file) => {
                let temp = TempFile { path, armed: true };
                temp.fill(file, bytes, permissions)?;
                return Ok(temp);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(failed("create a file in", dir)(e)),
        }
    }
    Err(failed("create a file in", dir)(last.unwrap_or_else(|| {
        std::io::Error::other("no free temporary name")
    })))
}

/// Opens a file that must not exist yet, with `mode` (`None`: the umask's default).
fn new_file(path: &Path, mode: Option<u32>) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    if let Some(mode) = mode {
        options.mode(mode);
    }
    options.open(path)
}

/// Syncs the directory of `path` so a rename survives a crash; best effort.
fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(dir) = fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Moves a file that cannot be read aside (`<name>.corrupt-<unix seconds>`), keeping it
/// for the user, and returns where it went.
pub fn move_aside(path: &Path, now_secs: u64) -> std::io::Result<PathBuf> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut target = path.with_file_name(format!("{name}.corrupt-{now_secs}"));
    let mut n = 1;
    while target.exists() {
        target = path.with_file_name(format!("{name}.corrupt-{now_secs}-{n}"));
        n += 1;
    }
    std::fs::rename(path, &target)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_order_mark_is_split_off_once() {
        assert_eq!(split_bom("\u{feff}{}"), ("{}", true));
        assert_eq!(split_bom("\u{feff}\u{feff}{}"), ("\u{feff}{}", true));
        assert_eq!(split_bom("{}"), ("{}", false));
        assert_eq!(strip_bom("\u{feff}[]".as_bytes()), b"[]");
        assert_eq!(strip_bom(b"[]"), b"[]");
    }

    #[test]
    fn atomic_write_keeps_mode_and_leaves_no_temp() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("a temp dir is created");
        let p = dir.path().join("x.json");
        write_atomic(&p, b"one", 0o600).expect("the atomic write succeeds");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640))
            .expect("the permissions are set");
        write_atomic(&p, b"two", 0o600).expect("the atomic write succeeds");
        assert_eq!(std::fs::read(&p).unwrap_or_default(), b"two");
        let mode = std::fs::metadata(&p)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0);
        assert_eq!(mode, 0o640);
        assert_eq!(
            std::fs::read_dir(dir.path())
                .map(|d| d.count())
                .unwrap_or(0),
            1
        );
    }

    #[test]
    fn move_aside_never_overwrites() {
        let dir = tempfile::tempdir().expect("a temp dir is created");
        let p = dir.path().join("state.json");
        std::fs::write(&p, "a").expect("the file is written");
        let a = move_aside(&p, 7).expect("the file is moved aside");
        std::fs::write(&p, "b").expect("the file is written");
        let b = move_aside(&p, 7).expect("the file is moved aside");
        assert_ne!(a, b);
        assert_eq!(std::fs::read_to_string(a).unwrap_or_default(), "a");
        assert_eq!(std::fs::read_to_string(b).unwrap_or_default(), "b");
    }

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[test]
    fn a_checked_replace_writes_only_over_what_was_read() {
        let dir = tempfile::tempdir().expect("a temp dir is created");
        let p = dir.path().join("opencode.json");
        replace_if_unchanged(&p, b"one", None, None).expect("the checked replace succeeds");
        assert_eq!(std::fs::read(&p).unwrap_or_default(), b"one");
        // It appeared since it was seen missing, or holds other bytes than were read: left alone.
        for expected in [None, Some(&b"zero"[..])] {
            let err = replace_if_unchanged(&p, b"two", expected, None);
            assert!(
                matches!(&err, Err(ReplaceError::Changed { path }) if *path == p),
                "{err:?}"
            );
            assert_eq!(std::fs::read(&p).unwrap_or_default(), b"one");
        }
        replace_if_unchanged(&p, b"two", Some(b"one"), None).expect("the checked replace succeeds");
        assert_eq!(std::fs::read(&p).unwrap_or_default(), b"two");
        assert_eq!(
            names(dir.path()),
            ["opencode.json"],
            "no temporary file left"
        );
    }

    #[test]
    fn backups_take_the_next_free_name_and_the_given_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("a temp dir is created");
        let p = dir.path().join("x.md");
        assert_eq!(free_backup_path(&p), dir.path().join("x.md.orch-backup"));
        let perms = std::fs::Permissions::from_mode(0o640);
        let first = write_backup(&p, b"a", Some(&perms)).expect("the backup is written");
        assert_eq!(free_backup_path(&p), dir.path().join("x.md.orch-backup.1"));
        let second = write_backup(&p, b"b", None).expect("the backup is written");
        assert_eq!(second, backup_path(&p, 1));
        assert_eq!(std::fs::read(&first).unwrap_or_default(), b"a");
        assert_eq!(std::fs::read(&second).unwrap_or_default(), b"b");
        let mode = |p: &Path| {
            std::fs::metadata(p)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0)
        };
        assert_eq!((mode(&first), mode(&second)), (0o640, 0o600));
    }
}
