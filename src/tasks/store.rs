//! Durable task records: what `orch tasks` shows after the backend restarts.
//!
//! One directory per project (`<project state dir>/tasks/`, 0700), shared by that project's
//! backends (one per environment):
//!
//! - `records.jsonl`: one small JSON record per line (ids, status, worker, models, timings,
//!   the owner backend's pid and start time; never the task text or its output), appended
//!   and synced under an exclusive `flock` of `lock`. A task has a line when it is accepted
//!   and another when it finishes; the last line of an id wins. A line that does not parse
//!   is skipped with a warning.
//! - `<id>.json`: the task's details (its kept text, route, reason, full error, the worker
//!   row of an operation) and `<id>.out`: its output; both 0600, written atomically before
//!   the record line that names them.
//! - `next-id`: the last id given, so ids never repeat across restarts.
//!
//! Bounds ([`StoreLimits`], by default 1,000 finished tasks and 256 MiB): the views show the
//! newest `max_records` finished tasks; once the files hold 10 % more than that, or more
//! than `max_bytes`, the oldest finished tasks are removed (down to `max_records`, and to
//! 90 % of `max_bytes`) and `records.jsonl` is rewritten atomically, one line per task.
//!
//! A record keeps every field it does not know (`extra`), so a record written by a newer
//! orch (with `attempts`, `usage`) survives a compaction by an older one. Summing over the
//! records (issue 12's `orch usage`) reads `records.jsonl` only: a record is a few hundred
//! bytes, and the outputs are never parsed. A compaction first appends the usage of the
//! tasks it removes to `usage-ledger.jsonl` (see `ledger`), and every sum adds the ledger's
//! tasks that are not records, so all-time totals and budgets never forget a task.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::fsutil::{private_dir, write_atomic};
use crate::resolve::Policy;
use crate::wire::{OpName, TaskKind, TaskRow, TaskStatus, WorkerRow};
use crate::workers::procfs;

use super::ledger::{self, Ledger, LedgerError, TaskLine};
use super::usage_index::{self, CHECK_WINDOW, Covers, Sums};

/// Bounds on the records kept on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// Finished tasks kept at most (queued and running ones are never removed). The views
    /// show exactly the newest ones; the files may hold 10 % more until the next compaction.
    pub max_records: usize,
    /// Bytes on disk at most: the records file, details and outputs.
    pub max_bytes: u64,
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self {
            max_records: 1000,
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

/// Bytes of an error message kept in a record (the details file keeps all of it).
const RECORD_ERROR_BYTES: usize = 1024;
/// Suggestions of an error kept in a record.
const RECORD_SUGGESTIONS: usize = 5;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file of the store could not be read or written.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io {
        action,
        path,
        source,
    }
}

/// The backend process that ran a task: a pid and its start time, so a reused pid is not
/// taken for the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Its pid.
    pub pid: u32,
    /// Its start time in clock ticks after boot (`/proc/<pid>/stat` field 22).
    pub start_time: u64,
}

impl Owner {
    /// This process.
    pub fn current() -> Self {
        let pid = std::process::id();
        Self {
            pid,
            start_time: procfs::stat(pid).map_or(0, |s| s.start_time),
        }
    }

    /// Whether that process still runs (not a zombie, not a reused pid).
    pub fn is_alive(&self) -> bool {
        procfs::stat(self.pid).is_some_and(|s| !s.is_zombie() && s.start_time == self.start_time)
    }
}

/// One line of `records.jsonl`: a task without its text and output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The number of its id (`t<id>`).
    pub id: u64,
    /// `worker`, `auto` or `op`.
    pub kind: TaskKind,
    /// Where it is in its life.
    pub status: TaskStatus,
    /// The project directory it belongs to.
    #[serde(default)]
    pub project: String,
    /// The worker.
    #[serde(default)]
    pub worker: Option<String>,
    /// The operation of an `op` task.
    #[serde(default)]
    pub op: Option<OpName>,
    /// The reference asked for.
    #[serde(default)]
    pub requested_ref: Option<String>,
    /// What it resolved to.
    #[serde(default)]
    pub resolved_model: Option<String>,
    /// `dynamic` or `sticky`.
    #[serde(default)]
    pub policy: Option<Policy>,
    /// The model that answered.
    #[serde(default)]
    pub answered_by: Option<String>,
    /// The OpenCode session.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Accepted (Unix ms).
    pub created_at_ms: u64,
    /// Started.
    #[serde(default)]
    pub started_at_ms: Option<u64>,
    /// Finished.
    #[serde(default)]
    pub finished_at_ms: Option<u64>,
    /// How long it ran.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// Whether the task text was cut.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub task_truncated: bool,
    /// Whether the output was cut.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub output_truncated: bool,
    /// Why it failed (the message cut to 1 KiB; the details file has all of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Error>,
    /// The backend that ran it.
    pub owner: Owner,
    /// Bytes of its details and output files.
    #[serde(default)]
    pub bytes: u64,
    /// Fields this version does not know (kept through a compaction).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The record key of a task's usage.
const USAGE_KEY: &str = "usage";

/// What a record leaves to its details file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Details {
    #[serde(default)]
    task: Option<String>,
    #[serde(default)]
    route: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    error: Option<Error>,
    #[serde(default)]
    worker_row: Option<WorkerRow>,
}

fn cut_str(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
}

impl TaskRecord {
    fn of(row: &TaskRow, id: u64, project: &str, owner: Owner, bytes: u64) -> Self {
        let error = row.error.clone().map(|mut e| {
            cut_str(&mut e.message, RECORD_ERROR_BYTES);
            e.suggestions.truncate(RECORD_SUGGESTIONS);
            e
        });
        Self {
            id,
            kind: row.kind,
            status: row.status,
            project: project.to_owned(),
            worker: row.worker.clone(),
            op: row.op,
            requested_ref: row.requested_ref.clone(),
            resolved_model: row.resolved_model.clone(),
            policy: row.policy,
            answered_by: row.answered_by.clone(),
            session_id: row.session_id.clone(),
            created_at_ms: row.created_at_ms,
            started_at_ms: row.started_at_ms,
            finished_at_ms: row.finished_at_ms,
            duration_ms: row.duration_ms,
            task_truncated: row.task_truncated,
            output_truncated: row.output_truncated,
            error,
            owner,
            bytes,
            extra: row
                .usage
                .as_ref()
                .and_then(|u| serde_json::to_value(u).ok())
                .map(|u| (USAGE_KEY.to_owned(), u))
                .into_iter()
                .collect(),
        }
    }

    /// Tokens, cost and time of the answer (issue 12). Kept in the record line (under
    /// `usage`, as a field the record keeps verbatim) so totals need no other file.
    pub fn usage(&self) -> Option<crate::usage::Usage> {
        self.extra
            .get(USAGE_KEY)
            .and_then(crate::usage::Usage::from_value)
    }

    /// The row, without what the details and output files hold.
    pub fn row(&self) -> TaskRow {
        TaskRow {
            id: format!("t{}", self.id),
            status: self.status,
            worker: self.worker.clone(),
            requested_ref: self.requested_ref.clone(),
            resolved_model: self.resolved_model.clone(),
            policy: self.policy,
            answered_by: self.answered_by.clone(),
            session_id: self.session_id.clone(),
            started_at_ms: self.started_at_ms,
            finished_at_ms: self.finished_at_ms,
            duration_ms: self.duration_ms,
            task_truncated: self.task_truncated,
            output_truncated: self.output_truncated,
            error: self.error.clone(),
            usage: self.usage(),
            ..TaskRow::queued(self.kind, "", self.op, self.created_at_ms)
        }
    }
}

/// Below this many bytes of records, no `usage.idx` is kept: reading them is fast enough.
const USAGE_INDEX_MIN_BYTES: u64 = 1024 * 1024;
/// Bytes of records appended after what `usage.idx` covers before it is rewritten: what a
/// store just opened parses itself (a few hundred records).
const USAGE_INDEX_SLACK_BYTES: u64 = 256 * 1024;

/// What the store has read of `records.jsonl`.
#[derive(Default)]
struct Index {
    /// Whether the records file has been read at all (a store opens without reading it).
    loaded: bool,
    records: BTreeMap<u64, TaskRecord>,
    /// What usage sums need of each record, decoded once (see `usage_index`).
    sums: Sums,
    /// Bytes of the file read (up to the last complete line).
    offset: u64,
    /// Lines read (superseded ones included), to know when to compact.
    lines: usize,
    /// The file read (device, inode): another backend's compaction replaces it.
    file: Option<(u64, u64)>,
}

/// The task records of one project; see the module docs.
pub struct TaskStore {
    dir: PathBuf,
    project: String,
    owner: Owner,
    limits: StoreLimits,
    index: Mutex<Index>,
    /// What this store knows of `usage.idx` on disk.
    usage_index: Mutex<KnownIndex>,
    /// The usage ledger as last read, with the stamp of the file it was read from.
    ledger: Mutex<Option<(ledger::Stamp, Arc<Ledger>)>>,
}

/// What a store knows of `usage.idx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KnownIndex {
    /// Nothing yet: its header says.
    Unknown,
    /// It covers this, as last written or read.
    Covers(Covers),
    /// It was found damaged or not matching the records: rebuild it.
    Rejected,
}

impl std::fmt::Debug for TaskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskStore")
            .field("dir", &self.dir)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The message of a task whose backend died while it ran.
pub fn lost_message(owner: Owner) -> String {
    format!(
        "lost: the backend that ran it (pid {}) stopped before it finished (killed or crashed); its output was not kept. Run it again",
        owner.pid
    )
}

impl TaskStore {
    /// Opens (creating) the store in `dir` for `project`, owned by this process. The records
    /// are read on first use (usage totals of a store just opened come from `usage.idx`
    /// when it is current, without reading them all).
    pub fn open(dir: &Path, project: &str, limits: StoreLimits) -> Result<Self, StoreError> {
        Self::open_as(dir, project, limits, Owner::current())
    }

    /// [`Self::open`] as another owner (tests).
    pub fn open_as(
        dir: &Path,
        project: &str,
        limits: StoreLimits,
        owner: Owner,
    ) -> Result<Self, StoreError> {
        private_dir(dir).map_err(io("create", dir))?;
        let store = Self {
            dir: dir.to_path_buf(),
            project: project.to_owned(),
            owner,
            limits,
            index: Mutex::new(Index::default()),
            usage_index: Mutex::new(KnownIndex::Unknown),
            ledger: Mutex::new(None),
        };
        Ok(store)
    }

    /// Whether the records have been read (`false` while another thread reads them).
    fn loaded(&self) -> bool {
        match self.index.try_lock() {
            Ok(i) => i.loaded,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner().loaded,
            Err(std::sync::TryLockError::WouldBlock) => false,
        }
    }

    fn usage_index_path(&self) -> PathBuf {
        self.dir.join("usage.idx")
    }

    fn known_usage_index(&self) -> std::sync::MutexGuard<'_, KnownIndex> {
        match self.usage_index.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The bounds in force.
    pub fn limits(&self) -> StoreLimits {
        self.limits
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn records_path(&self) -> PathBuf {
        self.dir.join("records.jsonl")
    }

    fn details_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn output_path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("{id}.out"))
    }

    fn index(&self) -> std::sync::MutexGuard<'_, Index> {
        match self.index.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn with_lock<T>(
        &self,
        how: FlockArg,
        f: impl FnOnce(&Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let path = self.dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(io("open", &path))?;
        let _guard =
            Flock::lock(file, how).map_err(|(_, e)| io("lock", &path)(std::io::Error::from(e)))?;
        f(self)
    }

    /// Reads what was appended since the last read (all of it again after a compaction).
    /// Call under the lock.
    fn refresh(&self) -> Result<(), StoreError> {
        let path = self.records_path();
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                *self.index() = Index {
                    loaded: true,
                    ..Index::default()
                };
                return Ok(());
            }
            Err(e) => return Err(io("open", &path)(e)),
        };
        let meta = file.metadata().map_err(io("read", &path))?;
        let identity = Some((meta.dev(), meta.ino()));
        let mut index = self.index();
        if index.file != identity || meta.len() < index.offset {
            *index = Index {
                file: identity,
                ..Index::default()
            };
        }
        index.loaded = true;
        if meta.len() == index.offset {
            return Ok(());
        }
        file.seek(SeekFrom::Start(index.offset))
            .map_err(io("read", &path))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io("read", &path))?;
        let index = &mut *index;
        let (complete, lines, skipped) = parse_lines(&bytes, |r| {
            index.sums.put(&r);
            index.records.insert(r.id, r);
        });
        index.lines += lines;
        if skipped > 0 {
            tracing::warn!(
                file = %path.display(),
                "skipped {skipped} task record line(s) that do not parse"
            );
        }
        index.offset += complete as u64;
        Ok(())
    }

    /// Gives the next task id: one more than any given before in this project, by any backend.
    pub fn next_id(&self) -> Result<u64, StoreError> {
        self.with_lock(FlockArg::LockExclusive, |s| {
            let path = s.dir.join("next-id");
            let last: u64 = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
            s.refresh()?;
            let seen = s.index().records.keys().next_back().copied().unwrap_or(0);
            let id = last.max(seen) + 1;
            // Not synced: the caller records the task (synced) before it shows the id, and
            // an unreadable counter falls back to the highest recorded id.
            OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)
                .and_then(|mut f| f.write_all(id.to_string().as_bytes()))
                .map_err(io("write", &path))?;
            Ok(id)
        })
    }

    /// Records `row` (its id is `t<id>`): details and output files first, then the record line.
    /// The caller has redacted the row.
    pub fn save(&self, id: u64, row: &TaskRow) -> Result<(), StoreError> {
        let details = Details {
            task: row.task.clone(),
            route: row.route.clone(),
            reason: row.reason.clone(),
            error: row.error.clone(),
            worker_row: row.worker_row.clone(),
        };
        let details_bytes = serde_json::to_vec(&details).map_err(|e| {
            io("encode", &self.details_path(id))(std::io::Error::other(e.to_string()))
        })?;
        let details_path = self.details_path(id);
        write_atomic(&details_path, &details_bytes, 0o600).map_err(io("write", &details_path))?;
        let mut bytes = details_bytes.len() as u64;
        if let Some(output) = &row.output {
            let out_path = self.output_path(id);
            write_atomic(&out_path, output.as_bytes(), 0o600).map_err(io("write", &out_path))?;
            bytes += output.len() as u64;
        }
        let record = TaskRecord::of(row, id, &self.project, self.owner, bytes);
        self.append(&[record])?;
        Ok(())
    }

    /// Records a new state of `row` whose details and output have not changed (queued →
    /// running): the record line only.
    pub fn save_state(&self, id: u64, row: &TaskRow) -> Result<(), StoreError> {
        if !self.loaded() {
            self.with_lock(FlockArg::LockShared, |s| s.refresh())?;
        }
        let bytes = self.index().records.get(&id).map_or(0, |r| r.bytes);
        self.append(&[TaskRecord::of(row, id, &self.project, self.owner, bytes)])
    }

    fn append(&self, records: &[TaskRecord]) -> Result<(), StoreError> {
        let path = self.records_path();
        let mut text = record_lines(&path, records)?;
        self.with_lock(FlockArg::LockExclusive, |s| {
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .mode(0o600)
                .open(&path)
                .map_err(io("open", &path))?;
            // A line cut by a crash: end it, so the next one is not glued to it.
            let len = file.metadata().map_err(io("read", &path))?.len();
            if len > 0 {
                let mut last = [0u8; 1];
                file.seek(SeekFrom::Start(len - 1))
                    .and_then(|_| file.read_exact(&mut last))
                    .map_err(io("read", &path))?;
                if last[0] != b'\n' {
                    text.insert(0, b'\n');
                }
            }
            file.write_all(&text).map_err(io("append to", &path))?;
            file.sync_data().map_err(io("sync", &path))?;
            s.refresh()?;
            s.compact_if_over()?;
            s.keep_usage_index();
            Ok(())
        })
    }

    /// Every record, oldest first, with the tasks whose backend died marked `lost` (and
    /// recorded so).
    pub fn records(&self) -> Result<Vec<TaskRecord>, StoreError> {
        self.visit(|records| records.cloned().collect())
    }

    /// Usage totals of the project (`orch usage`): every task with a usage, grouped `by`,
    /// those finished at or after `since_ms` when set — the records' and, for the tasks a
    /// compaction removed, the usage ledger's ([`Self::sum_usage`]).
    pub fn usage_totals(
        &self,
        by: crate::usage::By,
        since_ms: Option<u64>,
    ) -> Result<crate::usage::UsageView, StoreError> {
        self.sum_usage(|sums, ledger| {
            if ledger.is_empty() {
                // Every record, none hidden: all time.
                return sums.totals(by, since_ms, usize::MAX);
            }
            crate::usage::totals(usage_entries(sums, ledger).map(|(_, e)| e), by, since_ms)
        })
    }

    /// The finished tasks with a usage that ended at or after `since_ms` (budgets, issue
    /// 12): `(id, worker, finished at, usage)`, oldest first among the records, then the
    /// ledger's (a folded day line's tasks have id 0).
    pub fn usage_since(
        &self,
        since_ms: u64,
    ) -> Result<Vec<(u64, String, u64, crate::usage::Usage)>, StoreError> {
        self.sum_usage(|sums, ledger| {
            usage_entries(sums, ledger)
                .filter(|(_, e)| e.at_ms >= since_ms)
                .map(|(id, e)| (id, e.worker.to_owned(), e.at_ms, e.usage.clone()))
                .collect()
        })
    }

    /// Usage of the project for today, the last 7 days and all time (UTC days of
    /// `now_ms`), per worker (or model, `by`) and for the project, in one pass.
    pub fn usage_windows(
        &self,
        by: crate::usage::By,
        now_ms: u64,
    ) -> Result<crate::usage::UsageWindows, StoreError> {
        self.sum_usage(|sums, ledger| {
            crate::usage::windows(usage_entries(sums, ledger).map(|(_, e)| e), by, now_ms)
        })
    }

    /// Runs `f` over what every usage sum takes: the records' slots (every record, the
    /// last line of an id winning) and the usage ledger (the tasks compaction removed),
    /// both read under one shared lock, so a compaction (which moves tasks from one to the
    /// other under the exclusive lock) never falls between them. A store that has not read
    /// its records yet takes the slots from `usage.idx` and the lines appended after it,
    /// when that index is current; otherwise the records are read (and the index rebuilt).
    fn sum_usage<T>(&self, f: impl FnOnce(&Sums, &Ledger) -> T) -> Result<T, StoreError> {
        if !self.loaded() {
            let fast = self.with_lock(FlockArg::LockShared, |s| {
                let Some(sums) = s.sums_from_usage_index()? else {
                    return Ok(None);
                };
                Ok(Some((sums, s.ledger()?)))
            });
            match fast {
                Ok(Some((sums, ledger))) => return Ok(f(&sums, &ledger)),
                Ok(None) => {}
                Err(e) => tracing::debug!("usage index not used: {e}"),
            }
        }
        self.refresh_and_mark_lost()?;
        let out = self.with_lock(FlockArg::LockShared, |s| {
            s.refresh()?;
            let ledger = s.ledger()?;
            Ok(f(&s.index().sums, &ledger))
        })?;
        if self.usage_index_stale()
            && let Err(e) = self.with_lock(FlockArg::LockExclusive, |s| {
                s.refresh()?;
                s.keep_usage_index();
                Ok(())
            })
        {
            tracing::debug!("usage index not rewritten: {e}");
        }
        Ok(out)
    }

    fn ledger_path(&self) -> PathBuf {
        self.dir.join(ledger::FILE)
    }

    /// The usage ledger as it is now (parsed again only when the file changed). A line
    /// that does not parse is skipped with a warning. Call under the lock.
    fn ledger(&self) -> Result<Arc<Ledger>, StoreError> {
        let path = self.ledger_path();
        let failed = |e: LedgerError| io("read", &path)(std::io::Error::other(e));
        let Some(now) = ledger::stamp(&path).map_err(failed)? else {
            return Ok(Arc::default());
        };
        let mut cache = match self.ledger.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some((stamp, read)) = cache.as_ref()
            && *stamp == now
        {
            return Ok(Arc::clone(read));
        }
        let (read, stamp) = ledger::read(&path).map_err(failed)?;
        if read.skipped > 0 {
            tracing::warn!(
                file = %path.display(),
                "skipped {} usage ledger line(s) that do not parse; the others count",
                read.skipped
            );
        }
        let read = Arc::new(read);
        *cache = stamp.map(|s| (s, Arc::clone(&read)));
        Ok(read)
    }

    /// Folds the ledger's task lines of tasks no longer among the records into day lines
    /// once it holds more than [`ledger::FOLD_TASK_LINES`] of them (replaced atomically). A
    /// failure is logged: the ledger stays as it was, whole. Call under the exclusive lock,
    /// after a refresh.
    fn fold_ledger_if_over(&self) {
        let result = self.ledger().and_then(|read| {
            if !ledger::wants_fold(&read) {
                return Ok(());
            }
            let path = self.ledger_path();
            let bytes = {
                let index = self.index();
                ledger::folded(&read, |id| in_slots(&index.sums, id))
                    .map_err(|e| io("encode", &path)(std::io::Error::other(e)))?
            };
            write_atomic(&path, &bytes, 0o600).map_err(io("rewrite", &path))
        });
        if let Err(e) = result {
            tracing::warn!("the usage ledger is not folded: {e}");
        }
    }

    /// The sums of `usage.idx` and the record lines appended after it, when the index is
    /// whole and covers the records file as it is (`None`: read the records). Call under
    /// the lock.
    fn sums_from_usage_index(&self) -> Result<Option<Sums>, StoreError> {
        // Until it proves whole and current, the index is to be rebuilt.
        *self.known_usage_index() = KnownIndex::Rejected;
        self.read_usage_index()
    }

    fn read_usage_index(&self) -> Result<Option<Sums>, StoreError> {
        let index_path = self.usage_index_path();
        let bytes = match std::fs::read(&index_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("read", &index_path)(e)),
        };
        let Some((mut sums, covers)) = usage_index::decode(&bytes) else {
            tracing::warn!(
                file = %index_path.display(),
                "the usage index is damaged; the totals come from the records and it is rebuilt"
            );
            return Ok(None);
        };
        let path = self.records_path();
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("open", &path)(e)),
        };
        let meta = file.metadata().map_err(io("read", &path))?;
        if (meta.dev(), meta.ino()) != covers.file || meta.len() < covers.offset {
            return Ok(None);
        }
        let start = covers.offset - covers.offset.min(CHECK_WINDOW);
        file.seek(SeekFrom::Start(start))
            .map_err(io("read", &path))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io("read", &path))?;
        let Some((window, tail)) = bytes.split_at_checked((covers.offset - start) as usize) else {
            return Ok(None);
        };
        if usage_index::check_of(window) != covers.check {
            return Ok(None);
        }
        parse_lines(tail, |r| sums.put(&r));
        // A task of a backend that died is marked lost first: the full read does that.
        if sums.lost(self.owner).next().is_some() {
            *self.known_usage_index() = KnownIndex::Covers(covers);
            return Ok(None);
        }
        *self.known_usage_index() = KnownIndex::Covers(covers);
        Ok(Some(sums))
    }

    /// Whether `usage.idx` should be rewritten: the records are big enough to want one,
    /// and the index is missing, of another records file, or behind by more than the slack.
    fn usage_index_stale(&self) -> bool {
        let (offset, file) = {
            let index = self.index();
            (index.offset, index.file)
        };
        if offset < USAGE_INDEX_MIN_BYTES {
            return false;
        }
        let mut known = self.known_usage_index();
        if *known == KnownIndex::Unknown {
            let mut head = Vec::new();
            *known = File::open(self.usage_index_path())
                .and_then(|f| f.take(128).read_to_end(&mut head))
                .ok()
                .and_then(|_| usage_index::header(&head))
                .map_or(KnownIndex::Rejected, KnownIndex::Covers);
        }
        match *known {
            KnownIndex::Covers(c) => {
                Some(c.file) != file
                    || c.offset > offset
                    || offset - c.offset > USAGE_INDEX_SLACK_BYTES
            }
            KnownIndex::Unknown | KnownIndex::Rejected => true,
        }
    }

    /// Rewrites `usage.idx` from the records read when it is stale. A failure is logged,
    /// not returned: the index is a cache. Call under the exclusive lock, after a refresh.
    fn keep_usage_index(&self) {
        if !self.usage_index_stale() {
            return;
        }
        if let Err(e) = self.write_usage_index() {
            tracing::warn!("cannot write the usage index: {e}");
        }
    }

    fn write_usage_index(&self) -> Result<(), StoreError> {
        let (offset, file) = {
            let index = self.index();
            (index.offset, index.file)
        };
        let Some(file) = file else {
            return Ok(());
        };
        let path = self.records_path();
        let mut records = File::open(&path).map_err(io("open", &path))?;
        let meta = records.metadata().map_err(io("read", &path))?;
        if (meta.dev(), meta.ino()) != file || meta.len() < offset {
            // Replaced since it was read: the next refresh reads the new one.
            return Ok(());
        }
        let start = offset - offset.min(CHECK_WINDOW);
        let mut window = Vec::new();
        records
            .seek(SeekFrom::Start(start))
            .and_then(|_| (&mut records).take(offset - start).read_to_end(&mut window))
            .map_err(io("read", &path))?;
        let covers = Covers {
            file,
            offset,
            check: usage_index::check_of(&window),
        };
        let bytes = {
            let index = self.index();
            if index.offset != offset || index.file != Some(file) {
                return Ok(());
            }
            usage_index::encode(&index.sums, covers)
        };
        let index_path = self.usage_index_path();
        write_atomic(&index_path, &bytes, 0o600).map_err(io("write", &index_path))?;
        *self.known_usage_index() = KnownIndex::Covers(covers);
        Ok(())
    }

    /// Reads what was appended, and records as lost the tasks whose backend died.
    fn refresh_and_mark_lost(&self) -> Result<(), StoreError> {
        self.with_lock(FlockArg::LockShared, |s| s.refresh())?;
        // The slots are small: scanning them beats scanning the records.
        let lost: Vec<TaskRecord> = {
            let index = self.index();
            index
                .sums
                .lost(self.owner)
                .filter_map(|id| index.records.get(&id).cloned())
                .collect()
        };
        if !lost.is_empty() {
            let now = crate::tasks::now_ms();
            let marked: Vec<TaskRecord> = lost
                .into_iter()
                .map(|mut r| {
                    r.status = TaskStatus::Lost;
                    r.finished_at_ms = Some(now);
                    r.error = Some(Error::new(
                        crate::error::ErrorKind::Failed,
                        lost_message(r.owner),
                    ));
                    r
                })
                .collect();
            self.append(&marked)?;
        }
        Ok(())
    }

    /// Runs `f` over the records the views show (oldest first) without copying them: what
    /// a sum over many records (issue 12's usage) reads. The store keeps them in memory and
    /// parses only what was appended since it last looked.
    pub fn visit<T>(
        &self,
        f: impl FnOnce(&mut dyn Iterator<Item = &TaskRecord>) -> T,
    ) -> Result<T, StoreError> {
        self.refresh_and_mark_lost()?;
        let index = self.index();
        let finished = index
            .records
            .values()
            .filter(|r| r.status.is_finished())
            .count();
        let mut forget = finished.saturating_sub(self.limits.max_records);
        let mut shown = index.records.values().filter(|r| {
            if forget > 0 && r.status.is_finished() {
                forget -= 1;
                false
            } else {
                true
            }
        });
        Ok(f(&mut shown))
    }

    /// One task in full (details and output), when the store has it.
    pub fn task(&self, id: u64) -> Result<Option<TaskRow>, StoreError> {
        let Some(record) = self.records()?.into_iter().find(|r| r.id == id) else {
            return Ok(None);
        };
        let mut row = self.with_details(&record);
        row.output = match std::fs::read(self.output_path(id)) {
            Ok(b) => Some(String::from_utf8_lossy(&b).into_owned()),
            Err(_) => None,
        };
        Ok(Some(row))
    }

    /// The output of a task, when it has one on disk.
    pub fn output(&self, id: u64) -> Option<String> {
        std::fs::read(self.output_path(id))
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// A record's row with its details file (task text, route, reason, full error).
    pub fn with_details(&self, record: &TaskRecord) -> TaskRow {
        let mut row = record.row();
        let details: Details = std::fs::read(self.details_path(record.id))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        row.task = details.task;
        row.route = details.route;
        row.reason = details.reason;
        row.worker_row = details.worker_row;
        // The lost status is decided after the details were written.
        if record.status != TaskStatus::Lost
            && let Some(e) = details.error
        {
            row.error = Some(e);
        }
        row
    }

    /// Bytes on disk: the records file and every task's files.
    fn bytes(index: &Index) -> u64 {
        index.offset + index.records.values().map(|r| r.bytes).sum::<u64>()
    }

    /// Removes the oldest finished tasks while a bound is passed, and rewrites the records
    /// file when it holds many superseded lines. Call under the exclusive lock.
    fn compact_if_over(&self) -> Result<(), StoreError> {
        let slack = (self.limits.max_records / 10).max(1);
        let (over, stale) = {
            let index = self.index();
            let finished = index
                .records
                .values()
                .filter(|r| r.status.is_finished())
                .count();
            (
                finished > self.limits.max_records + slack
                    || Self::bytes(&index) > self.limits.max_bytes,
                index.lines > 2 * index.records.len() + 64,
            )
        };
        if !over && !stale {
            return Ok(());
        }
        let target_bytes = self.limits.max_bytes / 10 * 9;
        let mut removed = Vec::new();
        let mut gone = Vec::new();
        let kept: Vec<TaskRecord> = {
            let mut index = self.index();
            let mut bytes = Self::bytes(&index);
            let finished: Vec<u64> = index
                .records
                .values()
                .filter(|r| r.status.is_finished())
                .map(|r| r.id)
                .collect();
            let mut count = finished.len();
            if over {
                for id in finished {
                    if count <= self.limits.max_records && bytes <= target_bytes {
                        break;
                    }
                    if let Some(r) = index.records.remove(&id) {
                        // A record line is about 300 bytes of the rewritten file.
                        bytes = bytes.saturating_sub(r.bytes + 300);
                        count -= 1;
                        removed.push(id);
                        gone.extend(ledger_line(&r));
                    }
                }
            }
            index.records.values().cloned().collect()
        };
        // The usage of the removed tasks goes to the ledger first (synced): a crash before
        // the rewrite leaves them in both, and the sums count a record's usage once.
        if let Err(e) = ledger::append(&self.ledger_path(), &gone) {
            tracing::warn!(
                "the oldest finished task records are kept: their usage cannot be written to the usage ledger ({e})"
            );
            *self.index() = Index::default();
            return self.refresh();
        }
        let path = self.records_path();
        let text = record_lines(&path, &kept)?;
        write_atomic(&path, &text, 0o600).map_err(io("rewrite", &path))?;
        for id in &removed {
            let _ = std::fs::remove_file(self.details_path(*id));
            let _ = std::fs::remove_file(self.output_path(*id));
        }
        if !removed.is_empty() {
            tracing::info!(
                "removed the {} oldest finished task records (bounds: {} tasks, {} bytes)",
                removed.len(),
                self.limits.max_records,
                self.limits.max_bytes
            );
        }
        // Read the new file from its start.
        *self.index() = Index::default();
        self.refresh()?;
        if !gone.is_empty() {
            self.fold_ledger_if_over();
        }
        Ok(())
    }
}

/// `records` as lines of the records file at `path` (named in an error).
fn record_lines(path: &Path, records: &[TaskRecord]) -> Result<Vec<u8>, StoreError> {
    let mut text = Vec::new();
    for r in records {
        serde_json::to_writer(&mut text, r)
            .map_err(|e| io("encode", path)(std::io::Error::other(e.to_string())))?;
        text.push(b'\n');
    }
    Ok(text)
}

/// Parses the complete lines of `bytes` (a line cut by a crash is ignored until a newline
/// follows it) into records, oldest first. Returns the bytes of complete lines, the lines
/// read and those skipped because they do not parse.
fn parse_lines(bytes: &[u8], mut put: impl FnMut(TaskRecord)) -> (usize, usize, usize) {
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let (mut lines, mut skipped) = (0, 0);
    for line in bytes[..complete].split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        lines += 1;
        match serde_json::from_slice::<TaskRecord>(line) {
            Ok(r) => put(r),
            Err(_) => skipped += 1,
        }
    }
    (complete, lines, skipped)
}

/// Whether task `id` has a record (a slot).
fn in_slots(sums: &Sums, id: u64) -> bool {
    sums.slots.binary_search_by_key(&id, |(i, _)| *i).is_ok()
}

/// Every task with a usage as the sums see it, with its id: each record's (whatever its
/// age: all-time sums count the records past the views' bound too), then the ledger's
/// tasks that are not records (a folded day line's with id 0).
fn usage_entries<'a>(
    sums: &'a Sums,
    ledger: &'a Ledger,
) -> impl Iterator<Item = (u64, crate::usage::Entry<'a>)> + 'a {
    let name = |i: u32| sums.names.get(i as usize).map_or("-", String::as_str);
    sums.slots
        .iter()
        .filter_map(move |(id, s)| {
            Some((
                *id,
                crate::usage::Entry {
                    worker: name(s.worker),
                    model: name(s.model),
                    at_ms: s.at_ms,
                    usage: s.usage.as_ref()?,
                },
            ))
        })
        .chain(ledger.entries(move |id| in_slots(sums, id)))
}

/// The ledger line of a record a compaction removes, when it has a usage.
fn ledger_line(r: &TaskRecord) -> Option<TaskLine> {
    Some(TaskLine {
        id: r.id,
        worker: r.worker.clone().unwrap_or_else(|| "-".to_owned()),
        model: crate::usage::counted_model(r.answered_by.as_deref(), r.resolved_model.as_deref())
            .to_owned(),
        finished_at_ms: r.finished_at_ms.unwrap_or(r.created_at_ms),
        usage: r.usage()?,
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::error::ErrorKind;
    use crate::usage::{By, UsageView};

    fn finished(text: &str, output: &str) -> TaskRow {
        TaskRow {
            status: TaskStatus::Succeeded,
            task: Some(text.to_owned()),
            reason: Some("the reason".to_owned()),
            resolved_model: Some("fake/big-pro".to_owned()),
            finished_at_ms: Some(2),
            duration_ms: Some(1),
            output: Some(output.to_owned()),
            ..TaskRow::queued(TaskKind::Worker, "coder", None, 1)
        }
    }

    fn running() -> TaskRow {
        TaskRow {
            status: TaskStatus::Running,
            task: Some("a long job".to_owned()),
            started_at_ms: Some(1),
            ..TaskRow::queued(TaskKind::Worker, "coder", None, 1)
        }
    }

    fn open(dir: &Path, limits: StoreLimits) -> TaskStore {
        TaskStore::open(dir, "/project", limits).expect("the store opens")
    }

    /// An owner that is not running: this process's pid with another start time.
    fn dead_owner() -> Owner {
        let me = Owner::current();
        Owner {
            pid: me.pid,
            start_time: me.start_time + 1,
        }
    }

    fn ids(store: &TaskStore) -> Vec<u64> {
        store
            .records()
            .expect("the records read")
            .iter()
            .map(|r| r.id)
            .collect()
    }

    #[test]
    fn a_reopened_store_keeps_the_usage_with_an_unknown_cost_unknown() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = open(dir.path(), StoreLimits::default());
        let usage = crate::usage::Usage {
            input: Some(5),
            output: Some(3),
            reasoning: Some(0),
            cache_read: Some(0),
            cache_write: Some(0),
            cost_usd: None,
            total_ms: Some(40),
            ..crate::usage::Usage::default()
        };
        let priced = crate::usage::Usage {
            cost_usd: Some(0.0000425),
            estimated: true,
            ..usage.clone()
        };
        let a = store.next_id().expect("an id");
        let mut row = finished("one", "1");
        row.usage = Some(usage.clone());
        store.save(a, &row).expect("saved");
        let b = store.next_id().expect("an id");
        row.usage = Some(priced.clone());
        store.save(b, &row).expect("saved");
        drop(store);
        let store = open(dir.path(), StoreLimits::default());
        let got = |id| store.task(id).expect("read").expect("kept").usage;
        assert_eq!(got(a), Some(usage));
        assert_eq!(got(b), Some(priced));
        // In the record line itself, the unknown cost is `null`, not 0.
        let text = std::fs::read_to_string(dir.path().join("records.jsonl")).expect("records");
        assert!(text.contains("\"cost_usd\":null"), "{text}");
        assert!(text.contains("\"estimated\":true"), "{text}");
    }

    #[test]
    fn usage_totals_sum_the_records_across_a_reopen() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = open(dir.path(), StoreLimits::default());
        let usage = |input, cost| crate::usage::Usage {
            input: Some(input),
            output: Some(1),
            cost_usd: cost,
            ..crate::usage::Usage::default()
        };
        for (worker, input, cost) in [
            ("coder", 10, Some(0.25)),
            ("docs", 5, None),
            ("coder", 1, Some(0.5)),
        ] {
            let id = store.next_id().expect("an id");
            let mut row = finished("t", "o");
            row.worker = Some(worker.to_owned());
            row.usage = Some(usage(input, cost));
            store.save(id, &row).expect("saved");
        }
        // A task without usage (a failure, an older orch) is not counted.
        let id = store.next_id().expect("an id");
        store.save(id, &finished("t", "o")).expect("saved");
        drop(store);
        let store = open(dir.path(), StoreLimits::default());
        let v = store
            .usage_totals(crate::usage::By::Worker, None)
            .expect("sums");
        let got: Vec<(&str, u64, Option<u64>, Option<f64>)> = v
            .rows
            .iter()
            .map(|r| (r.key.as_str(), r.tasks, r.usage.input, r.usage.cost_usd))
            .collect();
        assert_eq!(
            got,
            [
                ("coder", 2, Some(11), Some(0.75)),
                ("docs", 1, Some(5), None)
            ]
        );
        assert_eq!(v.total.tasks, 3);
        assert_eq!(v.total.unknown_cost, 1);
        let v = store
            .usage_totals(crate::usage::By::Model, None)
            .expect("sums");
        assert_eq!(v.rows[0].key, "fake/big-pro");
    }

    #[test]
    fn usage_windows_sum_the_records_by_utc_day_across_a_reopen() {
        const DAY: u64 = 86_400_000;
        // 2026-11-27 00:00 UTC, and noon.
        let today = 1_795_737_600_000;
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = open(dir.path(), StoreLimits::default());
        for (worker, at, input, cost) in [
            ("coder", today + 5, 10, Some(0.25)),
            ("coder", today - 1, 20, Some(0.5)),
            ("docs", today - 6 * DAY, 30, None),
            ("docs", today - 6 * DAY - 1, 40, Some(1.0)),
        ] {
            let id = store.next_id().expect("an id");
            let mut row = finished("t", "o");
            row.worker = Some(worker.to_owned());
            row.finished_at_ms = Some(at);
            row.usage = Some(crate::usage::Usage {
                input: Some(input),
                cost_usd: cost,
                ..crate::usage::Usage::default()
            });
            store.save(id, &row).expect("saved");
        }
        drop(store);
        let store = open(dir.path(), StoreLimits::default());
        let w = store
            .usage_windows(crate::usage::By::Worker, today + DAY / 2)
            .expect("sums");
        let got =
            |s: &crate::usage::Sum| (s.tasks, s.usage.input, s.usage.cost_usd, s.unknown_cost);
        let coder = w.of("coder").expect("coder");
        assert_eq!(got(&coder.today), (1, Some(10), Some(0.25), 0));
        assert_eq!(got(&coder.last_7_days), (2, Some(30), Some(0.75), 0));
        let docs = w.of("docs").expect("docs");
        assert_eq!(got(&docs.today), (0, None, None, 0));
        assert_eq!(got(&docs.last_7_days), (1, Some(30), None, 1));
        assert_eq!(got(&docs.all_time), (2, Some(70), Some(1.0), 1));
        assert_eq!(got(&w.project.all_time), (4, Some(100), Some(1.75), 1));
        assert_eq!(w.today, "2026-11-27");
    }

    #[test]
    fn a_reopened_store_has_the_tasks_with_their_output_and_details() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = open(dir.path(), StoreLimits::default());
        let id = store.next_id().expect("an id");
        store
            .save(id, &finished("say hi", "hi there"))
            .expect("saved");
        drop(store);
        let store = open(dir.path(), StoreLimits::default());
        let row = store.task(id).expect("read").expect("the task is kept");
        assert_eq!(row.id, format!("t{id}"));
        assert_eq!(row.status, TaskStatus::Succeeded);
        assert_eq!(row.output.as_deref(), Some("hi there"));
        assert_eq!(row.task.as_deref(), Some("say hi"));
        assert_eq!(row.reason.as_deref(), Some("the reason"));
        assert_eq!(row.resolved_model.as_deref(), Some("fake/big-pro"));
        assert_eq!(row.worker.as_deref(), Some("coder"));
        // The record line holds neither the text nor the output.
        let line = std::fs::read_to_string(dir.path().join("records.jsonl")).expect("records");
        assert!(
            !line.contains("hi there") && !line.contains("say hi"),
            "{line}"
        );
        assert!(line.contains("\"project\":\"/project\""), "{line}");
    }

    #[test]
    fn files_are_private() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let tasks = dir.path().join("tasks");
        let store = open(&tasks, StoreLimits::default());
        let id = store.next_id().expect("an id");
        store.save(id, &finished("x", "y")).expect("saved");
        let mode = |p: &Path| {
            std::fs::metadata(p)
                .expect("the file exists")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(&tasks), 0o700);
        for name in ["records.jsonl", "lock", "next-id", "1.json", "1.out"] {
            assert_eq!(mode(&tasks.join(name)), 0o600, "{name}");
        }
    }

    #[test]
    fn ids_never_repeat_across_stores_even_after_the_records_are_gone() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = open(dir.path(), StoreLimits::default());
        let first = store.next_id().expect("an id");
        store.save(first, &finished("a", "b")).expect("saved");
        drop(store);
        std::fs::remove_file(dir.path().join("records.jsonl")).expect("records removed");
        let store = open(dir.path(), StoreLimits::default());
        assert_eq!(store.next_id().expect("an id"), first + 1);
        // A counter lost (or behind): the records still keep ids unique.
        std::fs::remove_file(dir.path().join("next-id")).expect("counter removed");
        store.save(7, &finished("a", "b")).expect("saved");
        assert_eq!(store.next_id().expect("an id"), 8);
    }

    #[test]
    fn concurrent_stores_of_one_project_give_distinct_ids_and_keep_every_record() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let path = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    let store = open(&path, StoreLimits::default());
                    (0..25)
                        .map(|i| {
                            let id = store.next_id().expect("an id");
                            store
                                .save(id, &finished(&format!("task {i}"), "out"))
                                .expect("saved");
                            id
                        })
                        .collect::<Vec<u64>>()
                })
            })
            .collect();
        let mut all: Vec<u64> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("the thread ends"))
            .collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 100, "every id distinct");
        let store = open(dir.path(), StoreLimits::default());
        assert_eq!(ids(&store), all);
    }

    #[test]
    fn a_task_whose_backend_died_reads_lost_with_why() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let gone = dead_owner();
        let old = TaskStore::open_as(dir.path(), "/project", StoreLimits::default(), gone)
            .expect("the store opens");
        old.save(1, &running()).expect("saved");
        // Another live backend's running task stays running.
        let alive = TaskStore::open(dir.path(), "/project", StoreLimits::default())
            .expect("the store opens");
        alive.save(2, &running()).expect("saved");
        drop(old);
        let now = open(dir.path(), StoreLimits::default());
        let records = now.records().expect("the records read");
        let lost = records.iter().find(|r| r.id == 1).expect("task 1 kept");
        assert_eq!(lost.status, TaskStatus::Lost);
        let error = lost.error.as_ref().expect("why it is lost");
        assert_eq!(error.kind, ErrorKind::Failed);
        assert!(
            error.message.contains(&format!("pid {}", gone.pid)) && error.message.contains("lost"),
            "{}",
            error.message
        );
        assert!(lost.finished_at_ms.is_some());
        assert_eq!(
            records.iter().find(|r| r.id == 2).map(|r| r.status),
            Some(TaskStatus::Running)
        );
        // The full row says so too, with what was kept of its text; and it is recorded.
        let row = now.task(1).expect("read").expect("kept");
        assert_eq!(row.status, TaskStatus::Lost);
        assert_eq!(row.task.as_deref(), Some("a long job"));
        let text = std::fs::read_to_string(dir.path().join("records.jsonl")).expect("records");
        assert!(text.contains("\"status\":\"lost\""), "{text}");
    }

    #[test]
    fn corrupt_and_cut_lines_are_skipped_not_fatal() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = open(dir.path(), StoreLimits::default());
        store.save(1, &finished("a", "one")).expect("saved");
        let path = dir.path().join("records.jsonl");
        let mut f = OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("the records open");
        f.write_all(b"{not json\n\xff\xfe garbage\n{\"id\":5,\"kind\":\"worker\"")
            .expect("garbage written");
        drop(f);
        // The cut line is ended before the next record, so that one still reads.
        store.save(2, &finished("b", "two")).expect("saved");
        let store = open(dir.path(), StoreLimits::default());
        assert_eq!(ids(&store), [1, 2]);
        assert_eq!(
            store
                .task(2)
                .expect("read")
                .expect("kept")
                .output
                .as_deref(),
            Some("two")
        );
    }

    #[test]
    fn the_count_bound_keeps_the_newest_finished_and_never_a_running_task() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let limits = StoreLimits {
            max_records: 10,
            ..StoreLimits::default()
        };
        let store = open(dir.path(), limits);
        store.save(1, &running()).expect("saved");
        for id in 2..=40 {
            store
                .save(id, &finished("t", &format!("output {id}")))
                .expect("saved");
        }
        let kept = ids(&store);
        let mut expected = vec![1];
        expected.extend(31..=40);
        assert_eq!(kept, expected);
        // On disk: at most 10 % more, and the files of removed tasks are gone.
        let text = std::fs::read_to_string(dir.path().join("records.jsonl")).expect("records");
        assert!(text.lines().count() <= 1 + 11, "{}", text.lines().count());
        assert!(!dir.path().join("2.out").exists());
        assert!(!dir.path().join("2.json").exists());
        assert!(dir.path().join("40.out").exists());
        assert!(store.task(2).expect("read").is_none());
    }

    #[test]
    fn the_byte_bound_removes_the_oldest_outputs() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let limits = StoreLimits {
            max_records: 1000,
            max_bytes: 64 * 1024,
        };
        let store = open(dir.path(), limits);
        let big = "x".repeat(10 * 1024);
        for id in 1..=30 {
            store.save(id, &finished("t", &big)).expect("saved");
        }
        let on_disk: u64 = std::fs::read_dir(dir.path())
            .expect("the dir reads")
            .map(|e| e.expect("an entry").metadata().expect("metadata").len())
            .sum();
        assert!(on_disk <= 64 * 1024 + 4096, "{on_disk} bytes");
        let kept = ids(&store);
        assert!(kept.len() < 7 && kept.contains(&30), "{kept:?}");
        assert!(!dir.path().join("1.out").exists());
    }

    #[test]
    fn fields_of_a_newer_orch_survive_a_compaction() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = open(dir.path(), StoreLimits::default());
        let path = dir.path().join("records.jsonl");
        let mut record = TaskRecord::of(&finished("a", "b"), 9, "/p", Owner::current(), 0);
        record.extra.insert(
            "usage".to_owned(),
            serde_json::json!({"input": 10, "output": 3}),
        );
        let line = serde_json::to_string(&record).expect("encodes");
        std::fs::write(&path, format!("{line}\n").repeat(80)).expect("written");
        // Many superseded lines: the next save rewrites the file, keeping `usage`.
        store.save(10, &finished("t", "o")).expect("saved");
        let text = std::fs::read_to_string(&path).expect("records");
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(
            text.contains("\"usage\":{\"input\":10,\"output\":3}"),
            "{text}"
        );
    }

    #[test]
    fn a_long_error_is_cut_in_the_record_and_whole_in_the_details() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = open(dir.path(), StoreLimits::default());
        let mut row = finished("t", "o");
        row.status = TaskStatus::Failed;
        row.error = Some(Error::new(ErrorKind::Failed, "e".repeat(10_000)));
        store.save(1, &row).expect("saved");
        let record = &store.records().expect("read")[0];
        let message = &record.error.as_ref().expect("an error").message;
        assert!(message.len() <= RECORD_ERROR_BYTES + 4, "{}", message.len());
        let row = store.task(1).expect("read").expect("kept");
        assert_eq!(row.error.expect("an error").message.len(), 10_000);
    }

    /// Writes `n` record lines (ids `first..first+n`) straight into `records.jsonl`: workers,
    /// models and days vary; some tasks have no usage, some an unknown cost, some run still
    /// (on this live process).
    fn fill(dir: &Path, first: u64, n: u64) {
        let mut text = String::new();
        for id in first..first + n {
            let mut row = finished("t", "o");
            row.worker = Some(["coder", "docs", "explorer"][(id % 3) as usize].to_owned());
            row.answered_by = (id % 4 != 0).then(|| ["fake/a", "fake/b"][(id % 2) as usize].into());
            row.finished_at_ms = Some(id * 3_600_000);
            if id % 11 == 0 {
                row.status = TaskStatus::Running;
                row.finished_at_ms = None;
            }
            row.usage = (id % 7 != 0).then(|| crate::usage::Usage {
                input: Some(id),
                output: Some(id % 5),
                reasoning: (id % 3 == 0).then_some(1),
                cache_read: Some(0),
                cache_write: None,
                cost_usd: (id % 6 != 0).then_some(id as f64 / 1024.0),
                estimated: id % 2 == 0,
                first_token_ms: Some(3),
                total_ms: Some(id),
            });
            let record = TaskRecord::of(&row, id, "/project", Owner::current(), 10);
            text.push_str(&serde_json::to_string(&record).expect("encodes"));
            text.push('\n');
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("records.jsonl"))
            .expect("the records open");
        f.write_all(text.as_bytes()).expect("written");
    }

    /// The totals as a full read gives them: every record the views show, summed the
    /// plain way (the reference the index must match exactly).
    fn full_scan(dir: &Path, limits: StoreLimits, by: By, since: Option<u64>) -> UsageView {
        let store = open(dir, limits);
        store
            .visit(|records| {
                let kept: Vec<(&TaskRecord, crate::usage::Usage)> =
                    records.filter_map(|r| Some((r, r.usage()?))).collect();
                crate::usage::totals(
                    kept.iter().map(|(r, u)| crate::usage::Entry {
                        worker: r.worker.as_deref().unwrap_or("-"),
                        model: r
                            .answered_by
                            .as_deref()
                            .or(r.resolved_model.as_deref())
                            .unwrap_or("-"),
                        at_ms: r.finished_at_ms.unwrap_or(r.created_at_ms),
                        usage: u,
                    }),
                    by,
                    since,
                )
            })
            .expect("the records read")
    }

    /// The totals a store just opened gives from `usage.idx` alone (`None`: it would read
    /// the records).
    fn from_index(
        dir: &Path,
        limits: StoreLimits,
        by: By,
        since: Option<u64>,
    ) -> Option<UsageView> {
        let store = open(dir, limits);
        store
            .with_lock(FlockArg::LockShared, |s| s.sums_from_usage_index())
            .expect("no i/o error")
            .map(|sums| sums.totals(by, since, limits.max_records))
    }

    fn every_view(dir: &Path, limits: StoreLimits) -> Vec<(By, Option<u64>)> {
        let _ = (dir, limits);
        [By::Worker, By::Model, By::Day]
            .into_iter()
            .flat_map(|by| [(by, None), (by, Some(1500 * 3_600_000))])
            .collect()
    }

    fn big() -> StoreLimits {
        StoreLimits {
            max_records: 100_000,
            max_bytes: u64::MAX / 2,
        }
    }

    #[test]
    fn the_usage_index_gives_exactly_the_totals_of_a_full_read() {
        let dir = tempfile::tempdir().expect("a temp dir");
        fill(dir.path(), 1, 3000);
        let index = dir.path().join("usage.idx");
        assert!(
            from_index(dir.path(), big(), By::Worker, None).is_none(),
            "no index yet"
        );
        // The first sum reads the records and writes the index.
        let first = open(dir.path(), big())
            .usage_totals(By::Worker, None)
            .expect("sums");
        assert_eq!(first, full_scan(dir.path(), big(), By::Worker, None));
        assert!(index.exists(), "the index is written");
        let mode = std::fs::metadata(&index)
            .expect("the index")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        for (by, since) in every_view(dir.path(), big()) {
            let want = full_scan(dir.path(), big(), by, since);
            assert_eq!(
                from_index(dir.path(), big(), by, since).as_ref(),
                Some(&want)
            );
            assert_eq!(
                open(dir.path(), big())
                    .usage_totals(by, since)
                    .expect("sums"),
                want
            );
        }
        // Lines appended after the index (a new task, and a later line of an indexed task
        // that changes its usage and its worker) are read by the store just opened.
        let store = open(dir.path(), big());
        let mut row = finished("t", "o");
        row.usage = Some(crate::usage::Usage {
            input: Some(1_000_000),
            cost_usd: Some(2.5),
            ..crate::usage::Usage::default()
        });
        store.save(3001, &row).expect("saved");
        row.worker = Some("late".to_owned());
        store.save(12, &row).expect("saved");
        // A task that was running (an unknown id in the index's eyes) finishes.
        store.save(11, &row).expect("saved");
        drop(store);
        for (by, since) in every_view(dir.path(), big()) {
            let want = full_scan(dir.path(), big(), by, since);
            assert_eq!(
                from_index(dir.path(), big(), by, since).as_ref(),
                Some(&want),
                "{by:?}"
            );
        }
        let v = from_index(dir.path(), big(), By::Worker, None).expect("from the index");
        assert!(
            v.rows.iter().any(|r| r.key == "late" && r.tasks == 2),
            "{v:?}"
        );
        // The views' bound (only the newest finished tasks) holds for the index as well.
        let small = StoreLimits {
            max_records: 500,
            ..big()
        };
        let want = full_scan(dir.path(), small, By::Day, None);
        let all = full_scan(dir.path(), big(), By::Day, None);
        assert!(
            want.total.tasks < all.total.tasks - 1500,
            "{}",
            want.total.tasks
        );
        assert_eq!(from_index(dir.path(), small, By::Day, None), Some(want));
    }

    #[test]
    fn a_missing_stale_or_damaged_usage_index_is_not_trusted_and_is_rebuilt() {
        let dir = tempfile::tempdir().expect("a temp dir");
        fill(dir.path(), 1, 3000);
        let index = dir.path().join("usage.idx");
        let records = dir.path().join("records.jsonl");
        let sum = |d: &Path| open(d, big()).usage_totals(By::Model, None).expect("sums");
        sum(dir.path());
        let good = std::fs::read(&index).expect("the index");
        let want = full_scan(dir.path(), big(), By::Model, None);

        // Garbled: a byte flipped, a line of text appended, cut short, emptied. Never summed;
        // the totals come from the records, and the index is rebuilt.
        let mut flipped = good.clone();
        flipped[good.len() / 2] ^= 0x10;
        let mut appended = good.clone();
        appended.extend_from_slice(b"{\"coder\": 1e9}\n");
        for bad in [
            flipped,
            appended,
            good[..good.len() - 9].to_vec(),
            Vec::new(),
        ] {
            std::fs::write(&index, &bad).expect("written");
            assert_eq!(from_index(dir.path(), big(), By::Model, None), None);
            assert_eq!(sum(dir.path()), want);
            assert_eq!(std::fs::read(&index).expect("rebuilt"), good, "rebuilt");
        }
        // Missing: rebuilt.
        std::fs::remove_file(&index).expect("removed");
        assert_eq!(sum(dir.path()), want);
        assert_eq!(std::fs::read(&index).expect("rebuilt"), good);

        // The records file replaced by another (a compaction: its first task removed),
        // whether or not the new file reuses the old one's inode: not used.
        let text = std::fs::read(&records).expect("records");
        let first_line = text.iter().position(|b| *b == b'\n').expect("a line") + 1;
        std::fs::remove_file(&records).expect("removed");
        std::fs::write(&records, &text[first_line..]).expect("written");
        assert_eq!(from_index(dir.path(), big(), By::Model, None), None);
        let compacted = full_scan(dir.path(), big(), By::Model, None);
        assert_eq!(compacted.total.tasks, want.total.tasks - 1);
        assert_eq!(sum(dir.path()), compacted);
        assert_eq!(
            from_index(dir.path(), big(), By::Model, None),
            Some(compacted),
            "rebuilt"
        );
        let want = full_scan(dir.path(), big(), By::Model, None);

        // Edited in place before the covered end (same file, same length): the check of the
        // covered bytes fails. One token count changes, so the totals do.
        let mut text = std::fs::read(&records).expect("records");
        let key = b"\"input\":";
        let digit = text
            .windows(key.len())
            .rposition(|w| w == key)
            .expect("the last record's input")
            + key.len();
        assert_eq!(&text[digit..digit + 4], b"3000", "the last record is t3000");
        text[digit] = b'4';
        std::fs::OpenOptions::new()
            .write(true)
            .open(&records)
            .and_then(|mut f| f.write_all(&text))
            .expect("rewritten in place");
        assert_eq!(from_index(dir.path(), big(), By::Model, None), None);
        let edited = full_scan(dir.path(), big(), By::Model, None);
        assert_ne!(edited, want, "the edit changes the totals");
        assert_eq!(sum(dir.path()), edited);

        // Truncated below what the index covers: not used.
        sum(dir.path());
        let len = std::fs::metadata(&records).expect("records").len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&records)
            .and_then(|f| f.set_len(len / 2))
            .expect("truncated");
        assert_eq!(from_index(dir.path(), big(), By::Model, None), None);
        assert_eq!(
            sum(dir.path()),
            full_scan(dir.path(), big(), By::Model, None)
        );
    }

    #[test]
    fn a_task_of_a_dead_backend_after_the_index_sends_the_sum_to_the_records() {
        let dir = tempfile::tempdir().expect("a temp dir");
        fill(dir.path(), 1, 3000);
        open(dir.path(), big())
            .usage_totals(By::Worker, None)
            .expect("sums");
        let gone = TaskStore::open_as(dir.path(), "/project", big(), dead_owner())
            .expect("the store opens");
        let mut row = running();
        row.usage = Some(crate::usage::Usage {
            input: Some(7),
            ..crate::usage::Usage::default()
        });
        gone.save(3001, &row).expect("saved");
        drop(gone);
        assert_eq!(from_index(dir.path(), big(), By::Day, None), None);
        let v = open(dir.path(), big())
            .usage_totals(By::Day, None)
            .expect("sums");
        assert_eq!(v, full_scan(dir.path(), big(), By::Day, None));
        let text = std::fs::read_to_string(dir.path().join("records.jsonl")).expect("records");
        assert!(
            text.contains("\"status\":\"lost\""),
            "marked lost by the sum"
        );
    }

    #[test]
    fn a_sum_while_another_thread_reads_the_records_is_exact() {
        let dir = tempfile::tempdir().expect("a temp dir");
        fill(dir.path(), 1, 3000);
        open(dir.path(), big())
            .usage_totals(By::Worker, None)
            .expect("sums");
        fill(dir.path(), 3001, 100);
        let want = full_scan(dir.path(), big(), By::Worker, None);
        // What a backend does when it starts: the records read on a thread, sums meanwhile.
        let store = std::sync::Arc::new(open(dir.path(), big()));
        let reader = std::sync::Arc::clone(&store);
        let reading = std::thread::spawn(move || reader.records().map(|r| r.len()));
        for _ in 0..20 {
            assert_eq!(store.usage_totals(By::Worker, None).expect("sums"), want);
        }
        assert_eq!(
            reading.join().expect("the reader ends").expect("read"),
            3100
        );
        assert_eq!(store.usage_totals(By::Worker, None).expect("sums"), want);
    }

    #[test]
    fn a_small_store_keeps_no_usage_index() {
        let dir = tempfile::tempdir().expect("a temp dir");
        fill(dir.path(), 1, 50);
        let store = open(dir.path(), StoreLimits::default());
        let v = store.usage_totals(By::Worker, None).expect("sums");
        assert_eq!(
            v,
            full_scan(dir.path(), StoreLimits::default(), By::Worker, None)
        );
        assert!(!dir.path().join("usage.idx").exists());
    }

    const DAY_MS: u64 = 86_400_000;
    /// 2026-11-27 00:00 UTC.
    const TODAY: u64 = 1_795_737_600_000;

    /// A finished task `n` of the ledger tests: workers, models, days and costs vary
    /// (costs in 1/1024 dollars, so any order of addition gives the same sum); every
    /// seventh has an unknown cost.
    fn used(n: u64) -> TaskRow {
        let mut row = finished("t", "o");
        row.worker = Some(["coder", "docs", "explorer"][(n % 3) as usize].to_owned());
        row.answered_by =
            (!n.is_multiple_of(4)).then(|| ["fake/a", "fake/b"][(n % 2) as usize].into());
        row.finished_at_ms = Some(TODAY - (50 - n) * DAY_MS / 5);
        row.usage = Some(crate::usage::Usage {
            input: Some(n * 10),
            output: Some(n),
            reasoning: n.is_multiple_of(3).then_some(2),
            cache_read: Some(1),
            cache_write: None,
            cost_usd: (!n.is_multiple_of(7)).then_some(n as f64 / 1024.0),
            estimated: n.is_multiple_of(5),
            first_token_ms: Some(3),
            total_ms: Some(n),
        });
        row
    }

    /// What every sum should say over `rows`, summed the plain way.
    struct Want {
        by: Vec<UsageView>,
        windows: crate::usage::UsageWindows,
        since: Vec<(String, u64, crate::usage::Usage)>,
    }

    fn expected(rows: &[TaskRow]) -> Want {
        let entries = || {
            rows.iter().filter_map(|r| {
                Some(crate::usage::Entry {
                    worker: r.worker.as_deref().unwrap_or("-"),
                    model: r
                        .answered_by
                        .as_deref()
                        .or(r.resolved_model.as_deref())
                        .unwrap_or("-"),
                    at_ms: r.finished_at_ms.unwrap_or(r.created_at_ms),
                    usage: r.usage.as_ref()?,
                })
            })
        };
        Want {
            by: [By::Worker, By::Model, By::Day]
                .into_iter()
                .map(|by| crate::usage::totals(entries(), by, None))
                .collect(),
            windows: crate::usage::windows(entries(), By::Model, TODAY + 5),
            since: sorted(
                entries()
                    .filter(|e| e.at_ms >= TODAY - 3 * DAY_MS)
                    .map(|e| (e.worker.to_owned(), e.at_ms, e.usage.clone()))
                    .collect(),
            ),
        }
    }

    fn sorted(
        mut v: Vec<(String, u64, crate::usage::Usage)>,
    ) -> Vec<(String, u64, crate::usage::Usage)> {
        v.sort_by(|a, b| (a.1, &a.0, a.2.input).cmp(&(b.1, &b.0, b.2.input)));
        v
    }

    /// Asserts that the store's totals, windows and spending are `want`'s.
    fn assert_sums(store: &TaskStore, want: &Want) {
        for (i, by) in [By::Worker, By::Model, By::Day].into_iter().enumerate() {
            assert_eq!(
                store.usage_totals(by, None).expect("sums"),
                want.by[i],
                "{by:?}"
            );
        }
        assert_eq!(
            store.usage_windows(By::Model, TODAY + 5).expect("windows"),
            want.windows
        );
        let since = store.usage_since(TODAY - 3 * DAY_MS).expect("spending");
        let since = sorted(since.into_iter().map(|(_, w, at, u)| (w, at, u)).collect());
        assert_eq!(since.len(), want.since.len());
        // A folded day's tasks come as one entry with the sums and fillers: compare sums.
        let spent = |v: &[(String, u64, crate::usage::Usage)]| {
            let mut sum = crate::usage::Usage::default();
            let mut unknown = 0;
            for (_, _, u) in v {
                sum.add(u);
                unknown += u64::from(u.cost_usd.is_none());
            }
            (sum.input, sum.output, sum.cost_usd, unknown)
        };
        assert_eq!(spent(&since), spent(&want.since));
    }

    fn small() -> StoreLimits {
        StoreLimits {
            max_records: 10,
            ..StoreLimits::default()
        }
    }

    #[test]
    fn all_time_totals_windows_and_spending_count_the_tasks_compaction_removed() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = open(dir.path(), small());
        let rows: Vec<TaskRow> = (1..=50).map(used).collect();
        for (n, row) in rows.iter().enumerate() {
            store.save(n as u64 + 1, row).expect("saved");
        }
        // A task without a usage (an op, a failure) is not in the ledger.
        let mut bare = finished("t", "o");
        bare.finished_at_ms = Some(TODAY);
        store.save(51, &bare).expect("saved");
        assert!(ids(&store).len() <= 11, "compacted: {:?}", ids(&store));
        assert!(
            !ids(&store).contains(&1),
            "the first tasks' records are gone"
        );
        let ledger = dir.path().join("usage-ledger.jsonl");
        let mode = std::fs::metadata(&ledger)
            .expect("the ledger")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let want = expected(&rows);
        assert_eq!(want.by[0].total.tasks, 50);
        assert_sums(&store, &want);
        drop(store);
        // Another backend, and a store that has not read its records yet.
        assert_sums(&open(dir.path(), small()), &want);
        let store = open(dir.path(), small());
        assert_eq!(
            store.usage_totals(By::Worker, None).expect("sums"),
            want.by[0]
        );
        // Each task is in the records file or has exactly one ledger line, never both.
        let id_of = |line: &str| {
            serde_json::from_str::<serde_json::Value>(line).expect("a line")["id"]
                .as_u64()
                .expect("an id")
        };
        let in_ledger: Vec<u64> = std::fs::read_to_string(&ledger)
            .expect("the ledger")
            .lines()
            .map(id_of)
            .collect();
        let in_records: Vec<u64> = std::fs::read_to_string(dir.path().join("records.jsonl"))
            .expect("the records")
            .lines()
            .map(id_of)
            .collect();
        for id in 1..=50 {
            let n = in_ledger.iter().filter(|i| **i == id).count()
                + usize::from(in_records.contains(&id));
            assert_eq!(n, 1, "task {id}: {in_ledger:?} {in_records:?}");
        }
    }

    #[test]
    fn a_crash_between_the_ledger_append_and_the_records_rewrite_counts_each_task_once() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = open(dir.path(), StoreLimits::default());
        let rows: Vec<TaskRow> = (1..=20).map(used).collect();
        for (n, row) in rows.iter().enumerate() {
            store.save(n as u64 + 1, row).expect("saved");
        }
        let want = expected(&rows);
        assert_sums(&store, &want);
        // The compaction wrote the ledger lines of tasks 1..=8 (synced), then crashed
        // before the records were rewritten: they are in both.
        let records = store.records().expect("the records");
        let lines: Vec<TaskLine> = records.iter().take(8).filter_map(ledger_line).collect();
        let path = dir.path().join("usage-ledger.jsonl");
        ledger::append(&path, &lines).expect("appended");
        assert_sums(&store, &want);
        assert_sums(&open(dir.path(), StoreLimits::default()), &want);
        // The next compaction (bound 10) appends them again and rewrites the records: a task
        // line twice still counts once.
        let store = open(dir.path(), small());
        let more: Vec<TaskRow> = (21..=25).map(used).collect();
        for (n, row) in more.iter().enumerate() {
            store.save(n as u64 + 21, row).expect("saved");
        }
        assert!(!ids(&store).contains(&1));
        let all: Vec<TaskRow> = rows.into_iter().chain(more).collect();
        let want = expected(&all);
        assert_sums(&store, &want);
        assert_sums(&open(dir.path(), small()), &want);
    }

    #[test]
    fn folding_the_ledger_into_days_keeps_every_sum_exact() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("usage-ledger.jsonl");
        // A ledger of 2,050 tasks already removed (ids 1..=2050).
        let old: Vec<TaskRow> = (1..=2050).map(|n| used(n % 50 + 1)).collect();
        let lines: Vec<TaskLine> = old
            .iter()
            .enumerate()
            .filter_map(|(n, row)| {
                let r = TaskRecord::of(row, n as u64 + 1, "/project", Owner::current(), 0);
                ledger_line(&r)
            })
            .collect();
        ledger::append(&path, &lines).expect("appended");
        let store = open(dir.path(), small());
        let new: Vec<TaskRow> = (1..=30).map(used).collect();
        for (n, row) in new.iter().enumerate() {
            store.save(n as u64 + 3000, row).expect("saved");
        }
        let ledger = ledger::read(&path).expect("reads").0;
        assert!(!ledger.days.is_empty(), "folded");
        assert!(ledger.tasks.len() < 40, "{} task lines", ledger.tasks.len());
        assert!(
            std::fs::read_to_string(&path)
                .expect("the ledger")
                .lines()
                .count()
                < 400,
            "bounded"
        );
        let all: Vec<TaskRow> = old.into_iter().chain(new).collect();
        let want = expected(&all);
        assert_eq!(want.by[0].total.tasks, 2080);
        assert_sums(&store, &want);
        assert_sums(&open(dir.path(), small()), &want);
    }

    #[test]
    fn a_garbled_ledger_line_is_skipped_and_a_symlinked_ledger_is_refused() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = open(dir.path(), small());
        let rows: Vec<TaskRow> = (1..=30).map(used).collect();
        for (n, row) in rows.iter().enumerate() {
            store.save(n as u64 + 1, row).expect("saved");
        }
        let want = expected(&rows);
        let path = dir.path().join("usage-ledger.jsonl");
        let good = std::fs::read(&path).expect("the ledger");
        // Garbage between good lines, and a line cut short at the end.
        let mut bad =
            b"{\"id\":1,\"worker\":\"coder\",\"usage\":{\"input\":1e99}}\n\x00\xff\n".to_vec();
        bad.extend_from_slice(&good);
        bad.extend_from_slice(b"{\"id\":99,\"worker\":\"coder\",\"model\":\"m\",\"finished_");
        std::fs::write(&path, &bad).expect("written");
        assert_sums(&store, &want);
        assert_sums(&open(dir.path(), small()), &want);
        // More tasks: the cut line is ended before the next append, nothing is lost.
        let more: Vec<TaskRow> = (31..=45).map(used).collect();
        for (n, row) in more.iter().enumerate() {
            store.save(n as u64 + 31, row).expect("saved");
        }
        let all: Vec<TaskRow> = rows.into_iter().chain(more).collect();
        let want = expected(&all);
        assert_sums(&store, &want);

        // A symlink: refused, never read or written through; the records stay (a compaction
        // that cannot write the ledger keeps them rather than lose their usage).
        let elsewhere = dir.path().join("elsewhere.jsonl");
        std::fs::rename(&path, &elsewhere).expect("moved");
        std::os::unix::fs::symlink(&elsewhere, &path).expect("linked");
        let before = std::fs::read(&elsewhere).expect("the target");
        let err = store.usage_totals(By::Worker, None).expect_err("refused");
        let cause = std::error::Error::source(&err).map(ToString::to_string);
        assert!(
            cause
                .as_deref()
                .is_some_and(|c| c.contains("not a regular file")),
            "{err:?}"
        );
        let file_ids = || {
            let text = std::fs::read_to_string(dir.path().join("records.jsonl")).expect("records");
            let mut ids: Vec<u64> = text
                .lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).expect("a line")["id"]
                        .as_u64()
                        .expect("an id")
                })
                .collect();
            ids.dedup();
            ids.len()
        };
        let kept = file_ids();
        for n in 46..=60 {
            store.save(n, &used(n % 50 + 1)).expect("saved");
        }
        assert_eq!(file_ids(), kept + 15, "nothing removed");
        assert_eq!(std::fs::read(&elsewhere).expect("the target"), before);
    }
}
