//! The registry of running worker processes, shared by every manager on the machine.
//!
//! `workers.json` in orch's state directory, guarded by an exclusive `flock` on
//! `workers.lock` for each read-modify-write, written atomically. Entries whose process is
//! gone are pruned on every access.

use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::error::WorkerError;
use super::spawn::pid_alive;
use crate::fsutil::{private_dir, strip_bom, write_atomic};
use crate::resolve::Policy;

/// One running worker process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Worker id.
    pub worker: String,
    /// OpenCode's process id.
    pub pid: u32,
    /// Its process group.
    pub pgid: u32,
    /// Its URL.
    pub url: String,
    /// The worker's session.
    pub session_id: String,
    /// The model it was started with.
    pub model: String,
    /// The policy.
    pub policy: Policy,
    /// What reuse must match.
    pub fingerprint: String,
    /// The manager process that started it.
    pub owner_pid: u32,
    /// Started (ms since the epoch).
    pub started_at: u64,
    /// Last used (ms since the epoch).
    pub updated_at: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    version: u32,
    #[serde(default)]
    entries: Vec<Entry>,
}

/// The registry file.
#[derive(Debug, Clone)]
pub struct Registry {
    path: PathBuf,
    lock: PathBuf,
}

impl Registry {
    /// The registry in `state_dir`.
    pub fn new(state_dir: &Path) -> Self {
        Self {
            path: state_dir.join("workers.json"),
            lock: state_dir.join("workers.lock"),
        }
    }

    fn err(&self, source: std::io::Error) -> WorkerError {
        WorkerError::State {
            path: self.path.clone(),
            source,
        }
    }

    /// Runs `f` on the live entries under the lock; writes back when `f` changed them.
    pub fn update<T>(&self, f: impl FnOnce(&mut Vec<Entry>) -> T) -> Result<T, WorkerError> {
        if let Some(dir) = self.path.parent() {
            private_dir(dir).map_err(|e| self.err(e))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)
            .map_err(|e| self.err(e))?;
        let _guard = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| self.err(std::io::Error::other(e)))?;
        // An unreadable registry only loses reuse, never a user's choice: start over.
        let mut entries: Vec<Entry> = std::fs::read(&self.path)
            .ok()
            .and_then(|b| serde_json::from_slice::<File>(strip_bom(&b)).ok())
            .map(|f| f.entries)
            .unwrap_or_default();
        let before = entries.clone();
        entries.retain(|e| pid_alive(e.pid));
        let out = f(&mut entries);
        if entries != before {
            let bytes = serde_json::to_vec_pretty(&File {
                version: 1,
                entries,
            })
            .map_err(|e| self.err(e.into()))?;
            write_atomic(&self.path, &bytes, 0o600).map_err(|e| self.err(e))?;
        }
        Ok(out)
    }

    /// The live entry of a worker.
    pub fn find(&self, worker: &str) -> Result<Option<Entry>, WorkerError> {
        self.update(|entries| entries.iter().find(|e| e.worker == worker).cloned())
    }

    /// Adds or replaces the entry of `entry.worker` with the same pid.
    pub fn upsert(&self, entry: Entry) -> Result<(), WorkerError> {
        self.update(|entries| {
            entries.retain(|e| !(e.worker == entry.worker && e.pid == entry.pid));
            entries.push(entry);
        })
    }

    /// Removes a worker's entry for `pid`.
    pub fn remove(&self, worker: &str, pid: u32) -> Result<(), WorkerError> {
        self.update(|entries| entries.retain(|e| !(e.worker == worker && e.pid == pid)))
    }

    /// Every live entry.
    pub fn list(&self) -> Result<Vec<Entry>, WorkerError> {
        self.update(|entries| entries.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(worker: &str, pid: u32) -> Entry {
        Entry {
            worker: worker.into(),
            pid,
            pgid: pid,
            url: "http://127.0.0.1:1".into(),
            session_id: "ses_1".into(),
            model: "fake/big-pro".into(),
            policy: Policy::Dynamic,
            fingerprint: "fp".into(),
            owner_pid: std::process::id(),
            started_at: 1,
            updated_at: 1,
        }
    }

    #[test]
    fn dead_pids_are_pruned_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let reg = Registry::new(dir.path());
        let me = std::process::id();
        reg.upsert(entry("docs", me))
            .unwrap_or_else(|e| panic!("{e}"));
        // A pid that cannot be alive (above pid_max on Linux).
        reg.upsert(entry("coder", 4_194_305))
            .unwrap_or_else(|e| panic!("{e}"));
        let list = reg.list().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            list.iter().map(|e| e.worker.as_str()).collect::<Vec<_>>(),
            ["docs"]
        );
        assert_eq!(reg.find("docs").ok().flatten().map(|e| e.pid), Some(me));
        reg.remove("docs", me).unwrap_or_else(|e| panic!("{e}"));
        assert!(reg.list().unwrap_or_default().is_empty());
    }

    #[test]
    fn concurrent_writers_do_not_lose_entries() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let me = std::process::id();
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let reg = Registry::new(dir.path());
                std::thread::spawn(move || reg.upsert(entry(&format!("w{i}"), me)))
            })
            .collect();
        for t in threads {
            let _ = t.join();
        }
        assert_eq!(
            Registry::new(dir.path()).list().unwrap_or_default().len(),
            16
        );
    }

    #[test]
    fn a_corrupt_registry_starts_over() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("workers.json"), "garbage")
            .unwrap_or_else(|e| panic!("{e}"));
        let reg = Registry::new(dir.path());
        assert!(reg.list().unwrap_or_else(|e| panic!("{e}")).is_empty());
    }
}
