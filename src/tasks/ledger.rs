//! The usage ledger: what finished tasks used, kept after the store's compaction removed
//! their records, so all-time totals and monthly budgets never forget them (issue 12).
//!
//! `usage-ledger.jsonl` sits beside `records.jsonl` (0600). Two kinds of lines:
//!
//! - a *task* line, appended (synced, under the store's exclusive `flock`) for each removed
//!   record that has a usage, before the records file is rewritten without it:
//!   `{"id", "worker", "model", "finished_at_ms", "usage"}` (model: the one that answered,
//!   else the one resolved; usage: the record's `usage` as is);
//! - a *day* line, what folding leaves once the ledger holds more than [`FOLD_TASK_LINES`]
//!   task lines: per (UTC day, worker, model) the tasks, those of unknown cost and the summed
//!   usage, `{"day": "2026-11-27", "worker", "model", "tasks", "unknown_cost", "usage"}`.
//!
//! A sum takes every record's usage and, from the ledger, the task lines whose id is **not**
//! among the records (a crash between the ledger's append and the records' rewrite leaves
//! both: the record counts, once) and every day line. Only task lines of ids gone from the
//! records are folded, so a day line never stands for a task that is still a record.
//!
//! A line that does not parse (cut by a crash, garbled) is skipped with a warning; the good
//! lines still count. A ledger that is a symlink or not a regular file is refused.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::usage::{Entry, Usage};

/// Task lines the ledger holds before they are folded into day lines.
pub(super) const FOLD_TASK_LINES: usize = 2000;

/// The file name, in the project's task directory.
pub(super) const FILE: &str = "usage-ledger.jsonl";

/// One removed task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TaskLine {
    /// Its id number.
    pub id: u64,
    /// The worker (`-` when none).
    pub worker: String,
    /// The model that answered, else the one resolved (`-` when none).
    pub model: String,
    /// When it finished (or was created), Unix ms.
    pub finished_at_ms: u64,
    /// Its usage.
    pub usage: Usage,
}

/// The tasks of one UTC day, worker and model, folded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DayLine {
    /// The UTC date, `2026-11-27`.
    pub day: String,
    /// The worker.
    pub worker: String,
    /// The model.
    pub model: String,
    /// Tasks folded (at least 1).
    pub tasks: u64,
    /// Of those, tasks whose cost was unknown (left out of `usage.cost_usd`).
    pub unknown_cost: u64,
    /// Their summed usage (`cost_usd` null when every cost was unknown).
    pub usage: Usage,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Line {
    Task(TaskLine),
    Day(DayLine),
}

/// A day line, checked, with the first millisecond of its day.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Day {
    pub line: DayLine,
    pub at_ms: u64,
}

/// The ledger as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Ledger {
    /// Task lines by id (a later line of an id replaces an earlier one).
    pub tasks: BTreeMap<u64, TaskLine>,
    /// Day lines.
    pub days: Vec<Day>,
    /// Lines that did not parse.
    pub skipped: usize,
}

/// Why the ledger cannot be used.
#[derive(Debug, thiserror::Error)]
pub(super) enum LedgerError {
    /// It could not be opened, read or written.
    #[error("cannot {action} the usage ledger")]
    Io {
        /// What was being done.
        action: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It is a symlink or not a regular file.
    #[error("the usage ledger is not a regular file (a symlink or another kind): refused")]
    NotAFile,
}

fn io(action: &'static str) -> impl FnOnce(std::io::Error) -> LedgerError {
    move |source| LedgerError::Io { action, source }
}

/// Opens the ledger without following a symlink, checking it is a regular file.
fn open(path: &Path, options: &mut OpenOptions) -> Result<Option<File>, LedgerError> {
    let file = match options
        .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        // O_NOFOLLOW on a symlink.
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ELOOP as i32) => {
            return Err(LedgerError::NotAFile);
        }
        Err(e) => return Err(io("open")(e)),
    };
    let meta = file.metadata().map_err(io("read"))?;
    if !meta.file_type().is_file() {
        return Err(LedgerError::NotAFile);
    }
    Ok(Some(file))
}

/// What identifies the ledger's content as read: (device, inode, length, mtime ns).
pub(super) type Stamp = (u64, u64, u64, i64);

/// Reads the ledger at `path` (an empty one when there is none), with its stamp.
pub(super) fn read(path: &Path) -> Result<(Ledger, Option<Stamp>), LedgerError> {
    let Some(mut file) = open(path, OpenOptions::new().read(true))? else {
        return Ok((Ledger::default(), None));
    };
    let meta = file.metadata().map_err(io("read"))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io("read"))?;
    let stamp = (
        meta.dev(),
        meta.ino(),
        bytes.len() as u64,
        meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
    );
    Ok((parse(&bytes), Some(stamp)))
}

/// The stamp of the ledger now (`None`: there is none).
pub(super) fn stamp(path: &Path) -> Result<Option<Stamp>, LedgerError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_file() => Ok(Some((
            m.dev(),
            m.ino(),
            m.len(),
            m.mtime() * 1_000_000_000 + m.mtime_nsec(),
        ))),
        Ok(_) => Err(LedgerError::NotAFile),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("read")(e)),
    }
}

/// Parses ledger lines; a line that does not parse or does not hold together is skipped.
pub(super) fn parse(bytes: &[u8]) -> Ledger {
    let mut ledger = Ledger::default();
    for line in bytes.split(|b| *b == b'\n') {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Line>(line) {
            Ok(Line::Task(t)) if usage_ok(&t.usage) => {
                ledger.tasks.insert(t.id, t);
            }
            Ok(Line::Day(d)) => match check_day(d) {
                Some(day) => ledger.days.push(day),
                None => ledger.skipped += 1,
            },
            Ok(Line::Task(_)) | Err(_) => ledger.skipped += 1,
        }
    }
    ledger
}

fn usage_ok(u: &Usage) -> bool {
    u.cost_usd.is_none_or(|c| c.is_finite() && c >= 0.0)
}

fn check_day(line: DayLine) -> Option<Day> {
    let at_ms = day_start_ms(&line.day)?;
    let known = line.tasks.checked_sub(line.unknown_cost)?;
    if line.tasks == 0 || (known == 0) != line.usage.cost_usd.is_none() || !usage_ok(&line.usage) {
        return None;
    }
    Some(Day { line, at_ms })
}

/// The first millisecond (UTC) of `2026-11-27`, when it is such a date.
fn day_start_ms(day: &str) -> Option<u64> {
    let b = day.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = day.get(0..4)?.parse().ok()?;
    let m: u32 = day.get(5..7)?.parse().ok()?;
    let d: u32 = day.get(8..10)?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    // Howard Hinnant's days-from-civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let ms = u64::try_from(days).ok()?.checked_mul(86_400_000)?;
    // `2026-02-31` is not a date: it must name itself back.
    (crate::usage::day(ms) == day).then_some(ms)
}

/// Appends `lines` to the ledger at `path` (created 0600) and syncs it. Call under the
/// store's exclusive lock.
pub(super) fn append(path: &Path, lines: &[TaskLine]) -> Result<(), LedgerError> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut text = Vec::new();
    for l in lines {
        serde_json::to_writer(&mut text, l).map_err(|e| io("encode")(e.into()))?;
        text.push(b'\n');
    }
    let Some(mut file) = open(
        path,
        OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .mode(0o600),
    )?
    else {
        return Err(io("create")(std::io::ErrorKind::NotFound.into()));
    };
    // A line cut by a crash: end it, so the next one is not glued to it.
    let len = file.metadata().map_err(io("read"))?.len();
    if len > 0 {
        let mut last = [0u8; 1];
        file.seek(SeekFrom::Start(len - 1))
            .and_then(|_| file.read_exact(&mut last))
            .map_err(io("read"))?;
        if last[0] != b'\n' {
            text.insert(0, b'\n');
        }
    }
    file.write_all(&text).map_err(io("append to"))?;
    file.sync_data().map_err(io("sync"))
}

/// Whether the ledger holds enough task lines to fold.
pub(super) fn wants_fold(ledger: &Ledger) -> bool {
    ledger.tasks.len() > FOLD_TASK_LINES
}

/// The ledger's bytes after folding the task lines whose id is not a record (`in_records`)
/// into day lines (merged with the day lines of the same day, worker and model). Task lines
/// of ids still in the records stay as they are.
pub(super) fn folded(
    ledger: &Ledger,
    in_records: impl Fn(u64) -> bool,
) -> Result<Vec<u8>, LedgerError> {
    let mut days: BTreeMap<(u64, String, String), DayLine> = BTreeMap::new();
    let mut add = |at_ms: u64, worker: &str, model: &str, tasks: u64, unknown: u64, u: &Usage| {
        let day = at_ms - at_ms % 86_400_000;
        let line = days
            .entry((day, worker.to_owned(), model.to_owned()))
            .or_insert_with(|| DayLine {
                day: crate::usage::day(day),
                worker: worker.to_owned(),
                model: model.to_owned(),
                tasks: 0,
                unknown_cost: 0,
                usage: Usage::default(),
            });
        line.tasks += tasks;
        line.unknown_cost += unknown;
        line.usage.add(u);
        // The first-token time of a sum means nothing.
        line.usage.first_token_ms = None;
    };
    for d in &ledger.days {
        let l = &d.line;
        add(
            d.at_ms,
            &l.worker,
            &l.model,
            l.tasks,
            l.unknown_cost,
            &l.usage,
        );
    }
    let mut kept = Vec::new();
    for t in ledger.tasks.values() {
        if in_records(t.id) {
            kept.push(t);
        } else {
            let unknown = u64::from(t.usage.cost_usd.is_none());
            add(t.finished_at_ms, &t.worker, &t.model, 1, unknown, &t.usage);
        }
    }
    let mut text = Vec::new();
    for l in days.values() {
        serde_json::to_writer(&mut text, l).map_err(|e| io("encode")(e.into()))?;
        text.push(b'\n');
    }
    for l in kept {
        serde_json::to_writer(&mut text, l).map_err(|e| io("encode")(e.into()))?;
        text.push(b'\n');
    }
    Ok(text)
}

/// A usage counted as a task of known cost that adds nothing (a day line's further tasks).
const KNOWN_NOTHING: Usage = Usage {
    input: None,
    output: None,
    reasoning: None,
    cache_read: None,
    cache_write: None,
    cost_usd: Some(0.0),
    estimated: false,
    first_token_ms: None,
    total_ms: None,
};

/// A usage counted as a task of unknown cost that adds nothing.
const UNKNOWN_NOTHING: Usage = Usage {
    cost_usd: None,
    ..KNOWN_NOTHING
};

impl Ledger {
    /// Whether it holds no task and no day.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty() && self.days.is_empty()
    }

    /// The entries a sum takes from the ledger: the task lines whose id is not a record,
    /// and each day line as its `tasks` entries (the first carries the summed usage; the
    /// others add nothing but the count, of known or unknown cost as folded), so the sums'
    /// task counts, unknown costs and figures come out as if the tasks were still there.
    /// With each, its task id (0 for a day line's: the tasks are folded).
    pub fn entries<'a>(
        &'a self,
        in_records: impl Fn(u64) -> bool + 'a,
    ) -> impl Iterator<Item = (u64, Entry<'a>)> + 'a {
        let tasks = self
            .tasks
            .values()
            .filter(move |t| !in_records(t.id))
            .map(|t| {
                let entry = Entry {
                    worker: &t.worker,
                    model: &t.model,
                    at_ms: t.finished_at_ms,
                    usage: &t.usage,
                };
                (t.id, entry)
            });
        let days = self.days.iter().flat_map(|d| {
            let l = &d.line;
            let known = l.tasks - l.unknown_cost;
            // The first entry is of known cost when any task was; the rest are fillers.
            let (more_known, more_unknown) = if known > 0 {
                (known - 1, l.unknown_cost)
            } else {
                (0, l.unknown_cost.saturating_sub(1))
            };
            let entry = move |usage: &'a Usage| {
                let entry = Entry {
                    worker: &l.worker,
                    model: &l.model,
                    at_ms: d.at_ms,
                    usage,
                };
                (0, entry)
            };
            std::iter::once(entry(&l.usage))
                .chain((0..more_known).map(move |_| entry(&KNOWN_NOTHING)))
                .chain((0..more_unknown).map(move |_| entry(&UNKNOWN_NOTHING)))
        });
        tasks.chain(days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::By;

    fn usage(input: u64, cost: Option<f64>) -> Usage {
        Usage {
            input: Some(input),
            output: Some(1),
            cost_usd: cost,
            estimated: input.is_multiple_of(2),
            total_ms: Some(5),
            ..Usage::default()
        }
    }

    fn task(id: u64) -> TaskLine {
        TaskLine {
            id,
            worker: ["coder", "docs"][(id % 2) as usize].to_owned(),
            model: ["fake/a", "fake/b", "fake/c"][(id % 3) as usize].to_owned(),
            finished_at_ms: id * 7_200_000,
            usage: usage(id, (!id.is_multiple_of(5)).then_some(id as f64 / 64.0)),
        }
    }

    fn bytes(lines: &[TaskLine]) -> Vec<u8> {
        let mut text = Vec::new();
        for l in lines {
            serde_json::to_writer(&mut text, l).expect("encodes");
            text.push(b'\n');
        }
        text
    }

    #[test]
    fn dates_name_their_first_millisecond_and_non_dates_are_refused() {
        for ms in [0, 86_400_000 * 20_000, 1_764_201_600_000] {
            assert_eq!(day_start_ms(&crate::usage::day(ms)), Some(ms));
        }
        for bad in [
            "2026-02-31",
            "2026-13-01",
            "2026-1-01",
            "20261127xx",
            "",
            "1969-12-31",
        ] {
            assert_eq!(day_start_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn folding_keeps_every_sum_exact_and_leaves_the_ids_still_in_the_records() {
        let lines: Vec<TaskLine> = (1..=300).map(task).collect();
        let ledger = parse(&bytes(&lines));
        assert_eq!(ledger.tasks.len(), 300);
        let in_records = |id: u64| id > 290;
        let before: Vec<_> = [By::Worker, By::Model, By::Day]
            .into_iter()
            .map(|by| crate::usage::totals(ledger.entries(in_records).map(|(_, e)| e), by, None))
            .collect();
        let windows = crate::usage::windows(
            ledger.entries(in_records).map(|(_, e)| e),
            By::Model,
            200 * 7_200_000,
        );
        let text = folded(&ledger, in_records).expect("folds");
        let after = parse(&text);
        assert_eq!(after.skipped, 0);
        assert_eq!(
            after.tasks.len(),
            10,
            "the ids still in the records stay task lines"
        );
        assert!(after.days.len() < 300, "{} day lines", after.days.len());
        for (i, by) in [By::Worker, By::Model, By::Day].into_iter().enumerate() {
            assert_eq!(
                crate::usage::totals(after.entries(in_records).map(|(_, e)| e), by, None),
                before[i]
            );
        }
        assert_eq!(
            crate::usage::windows(
                after.entries(in_records).map(|(_, e)| e),
                By::Model,
                200 * 7_200_000
            ),
            windows
        );
        // Folding again (the day lines merge) changes nothing.
        let again = parse(&folded(&after, in_records).expect("folds"));
        assert_eq!(again, after);
    }

    #[test]
    fn garbled_lines_are_skipped_and_the_good_ones_still_count() {
        let good = bytes(&[task(1), task(2)]);
        let want = crate::usage::totals(
            parse(&good).entries(|_| false).map(|(_, e)| e),
            By::Worker,
            None,
        );
        let mut text = b"{\"id\": 9, \"worker\": \"x\"\n".to_vec();
        text.extend_from_slice(&good);
        text.extend_from_slice(b"not json\n{\"id\":3,\"worker\":\"coder\",\"model\":\"m\",\"finished_at_ms\":1,\"usage\":{\"cost_usd\":-1}}\n");
        for bad_day in [
            r#"{"day":"2026-02-30","worker":"w","model":"m","tasks":1,"unknown_cost":0,"usage":{"cost_usd":1}}"#,
            r#"{"day":"2026-02-03","worker":"w","model":"m","tasks":1,"unknown_cost":2,"usage":{}}"#,
            r#"{"day":"2026-02-03","worker":"w","model":"m","tasks":0,"unknown_cost":0,"usage":{}}"#,
            r#"{"day":"2026-02-03","worker":"w","model":"m","tasks":2,"unknown_cost":2,"usage":{"cost_usd":1}}"#,
            r#"{"day":"2026-02-03","worker":"w","model":"m","tasks":2,"unknown_cost":0,"usage":{},"x":1}"#,
        ] {
            text.extend_from_slice(bad_day.as_bytes());
            text.push(b'\n');
        }
        // A line cut by a crash at the end.
        text.extend_from_slice(&good[..good.len() / 3]);
        let ledger = parse(&text);
        assert_eq!(ledger.skipped, 9);
        assert_eq!(
            crate::usage::totals(ledger.entries(|_| false).map(|(_, e)| e), By::Worker, None),
            want
        );
    }

    #[test]
    fn a_symlink_or_a_directory_is_refused_and_appends_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join(FILE);
        append(&path, &[task(1)]).expect("appended");
        // A line cut by a crash is ended before the next.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(b"{\"id\":"))
            .expect("cut");
        append(&path, &[task(2)]).expect("appended");
        let mode = std::fs::metadata(&path)
            .expect("the ledger")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let (ledger, stamp) = read(&path).expect("reads");
        assert_eq!(ledger.tasks.len(), 2);
        assert_eq!(ledger.skipped, 1);
        assert!(stamp.is_some());
        let real = dir.path().join("elsewhere");
        std::fs::rename(&path, &real).expect("moved");
        std::os::unix::fs::symlink(&real, &path).expect("linked");
        assert!(matches!(read(&path), Err(LedgerError::NotAFile)));
        assert!(matches!(
            append(&path, &[task(3)]),
            Err(LedgerError::NotAFile)
        ));
        assert!(matches!(stamp_of(&path), Err(LedgerError::NotAFile)));
        std::fs::remove_file(&path).expect("removed");
        std::fs::create_dir(&path).expect("a directory");
        assert!(read(&path).is_err());
        assert!(append(&path, &[task(3)]).is_err());
    }

    fn stamp_of(path: &Path) -> Result<Option<Stamp>, LedgerError> {
        stamp(path)
    }
}
