//! The registry of running worker processes, shared by every manager on the machine.
//!
//! `workers.json` in orch's state directory, guarded by an exclusive `flock` on
//! `workers.lock` for each read-modify-write, written atomically. Entries whose process is
//! gone are pruned on every access.

use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::error::WorkerError;
use super::procfs::Identity;
use crate::fsutil::{private_dir, strip_bom, write_atomic};
use crate::opencode::Secret;
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
    /// The worker's basic-auth password (user `opencode`), so another manager can reuse a
    /// kept worker; the file is 0600 and `Debug` never shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// Who the process at `pid` was when it was registered; `None` (an entry from an older
    /// orch) is never trusted.
    #[serde(default)]
    pub identity: Option<Identity>,
}

impl Entry {
    /// Whether `pid` is still the process that was registered: alive, same start time,
    /// same command line, still in the recorded process group. Only then may it (and its
    /// group) be signalled.
    pub fn is_ours(&self) -> bool {
        self.identity
            .as_ref()
            .is_some_and(|id| id.matches(self.pid))
            && super::procfs::stat(self.pid)
                .is_some_and(|st| u32::try_from(st.pgrp).is_ok_and(|g| g == self.pgid))
    }
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
        // A dead process, or a pid that another process now has: forget it.
        entries.retain(Entry::is_ours);
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
            // The group the process really is in: an entry must match it to be kept.
            pgid: crate::workers::procfs::stat(pid)
                .and_then(|s| u32::try_from(s.pgrp).ok())
                .unwrap_or(pid),
            url: "http://127.0.0.1:1".into(),
            session_id: "ses_1".into(),
            model: "fake/big-pro".into(),
            policy: Policy::Dynamic,
            fingerprint: "fp".into(),
            owner_pid: std::process::id(),
            started_at: 1,
            updated_at: 1,
            password: None,
            identity: Identity::of(pid),
        }
    }

    #[test]
    fn dead_pids_are_pruned_and_live_ones_kept() {
        let dir = tempfile::tempdir().expect("a temp dir is created");
        let reg = Registry::new(dir.path());
        let me = std::process::id();
        reg.upsert(entry("docs", me)).expect("the entry is written");
        // A pid that cannot be alive (above pid_max on Linux).
        reg.upsert(entry("coder", 4_194_305))
            .expect("the entry is written");
        let list = reg.list().expect("the registry lists");
        assert_eq!(
            list.iter().map(|e| e.worker.as_str()).collect::<Vec<_>>(),
            ["docs"]
        );
        assert_eq!(reg.find("docs").ok().flatten().map(|e| e.pid), Some(me));
        reg.remove("docs", me).expect("the entry is removed");
        assert!(reg.list().unwrap_or_default().is_empty());
    }

    #[test]
    fn concurrent_writers_do_not_lose_entries() {
        let dir = tempfile::tempdir().expect("a temp dir is created");
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
    fn an_entry_whose_pid_is_another_process_now_is_forgotten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let reg = Registry::new(dir.path());
        let me = std::process::id();
        let mut reused = entry("docs", me);
        if let Some(id) = reused.identity.as_mut() {
            id.start_time += 1;
        }
        let mut unverified = entry("coder", me);
        unverified.identity = None;
        let mut other_group = entry("memory", me);
        other_group.pgid = other_group.pgid.wrapping_add(1);
        for e in [reused, unverified, other_group] {
            assert!(!e.is_ours(), "{e:?}");
            reg.upsert(e).expect("upsert");
        }
        reg.upsert(entry("explorer", me)).expect("upsert");
        let kept: Vec<String> = reg
            .list()
            .expect("list")
            .into_iter()
            .map(|e| e.worker)
            .collect();
        assert_eq!(kept, ["explorer"]);
    }

    #[test]
    fn a_corrupt_registry_starts_over() {
        let dir = tempfile::tempdir().expect("a temp dir is created");
        std::fs::write(dir.path().join("workers.json"), "garbage").expect("the file is written");
        let reg = Registry::new(dir.path());
        assert!(reg.list().expect("the registry lists").is_empty());
    }
}
