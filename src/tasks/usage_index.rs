//! What a usage sum needs of each task record, kept small: in memory beside the records,
//! and on disk in `usage.idx` so a store just opened sums 100,000 records without parsing
//! them (issue 12: `orch usage` in under 50 ms).
//!
//! The index is a cache of `records.jsonl`, never a second truth:
//!
//! - it names the records file it was built from (device, inode), how many bytes of it it
//!   covers (up to a line end), and a CRC-32 of the last 64 KiB of those bytes; a reader
//!   uses it only when the records file is still that file, at least that long, with those
//!   bytes before the covered end, and reads the lines appended after it itself;
//! - the whole file carries a CRC-32, and every decoded figure is checked (ids rising, names
//!   in range, finite costs), so a garbled index is rejected, never summed;
//! - it is written under the store's exclusive `flock` and replaced atomically, so a reader
//!   sees the old index or the new one.
//!
//! Anything wrong sends the reader back to the records (a full read), and the index is
//! rebuilt from them.

use std::collections::HashMap;

use crate::usage::{By, Entry, Usage, UsageView};

use super::store::{Owner, TaskRecord};

/// The first bytes of `usage.idx` (the version is in it).
const MAGIC: &[u8] = b"orch usage index 1\n";

/// Bytes of the records file before the covered end whose CRC the index keeps.
pub(super) const CHECK_WINDOW: u64 = 64 * 1024;

/// What a sum needs of one record.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Slot {
    /// The record's status is a finished one.
    pub finished: bool,
    /// The backend that ran it (for a task still running: is it lost?).
    pub owner: Owner,
    /// When it finished (or was created), Unix ms.
    pub at_ms: u64,
    /// The worker (an index into [`Sums::names`]).
    pub worker: u32,
    /// The model that answered, else the one resolved.
    pub model: u32,
    /// Its usage, when it has one.
    pub usage: Option<Usage>,
}

/// The slots of every record (the last line of an id wins), with the names they use.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Sums {
    /// By task id, rising: kept in one block, a sum walks 100,000 of them in a few
    /// milliseconds (a tree of them scattered between the records took ten times that).
    pub slots: Vec<(u64, Slot)>,
    /// Workers and models, each once.
    pub names: Vec<String>,
    ids: HashMap<String, u32>,
}

impl Sums {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), id);
        id
    }

    fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("-", String::as_str)
    }

    /// Takes in a record (replacing an earlier line of its id).
    pub fn put(&mut self, r: &TaskRecord) {
        let worker = self.intern(r.worker.as_deref().unwrap_or("-"));
        let model = self.intern(crate::usage::counted_model(
            r.answered_by.as_deref(),
            r.resolved_model.as_deref(),
        ));
        let slot = Slot {
            finished: r.status.is_finished(),
            owner: r.owner,
            at_ms: r.finished_at_ms.unwrap_or(r.created_at_ms),
            worker,
            model,
            usage: r.usage(),
        };
        // Ids mostly come rising; a later line of an id replaces its slot.
        match self.slots.last() {
            Some((last, _)) if *last >= r.id => {
                match self.slots.binary_search_by_key(&r.id, |(id, _)| *id) {
                    Ok(i) => {
                        if let Some(s) = self.slots.get_mut(i) {
                            s.1 = slot;
                        }
                    }
                    Err(i) => self.slots.insert(i, (r.id, slot)),
                }
            }
            _ => self.slots.push((r.id, slot)),
        }
    }

    /// The tasks still running whose backend, other than `me`, is gone (the store marks
    /// them lost before it shows them).
    pub fn lost(&self, me: Owner) -> impl Iterator<Item = u64> + '_ {
        self.slots
            .iter()
            .filter(move |(_, s)| !s.finished && s.owner != me && !s.owner.is_alive())
            .map(|(id, _)| *id)
    }

    /// The records the views show (every record but the oldest finished ones past
    /// `max_records`, what [`super::TaskStore::visit`] shows) that have a usage: their id,
    /// whether they finished, and what a sum takes of them.
    fn shown(&self, max_records: usize) -> impl Iterator<Item = (u64, bool, Entry<'_>)> + '_ {
        let finished = self.slots.iter().filter(|(_, s)| s.finished).count();
        let mut forget = finished.saturating_sub(max_records);
        self.slots
            .iter()
            .filter(move |(_, s)| {
                if forget > 0 && s.finished {
                    forget -= 1;
                    false
                } else {
                    true
                }
            })
            .filter_map(|(id, s)| {
                Some((
                    *id,
                    s.finished,
                    Entry {
                        worker: self.name(s.worker),
                        model: self.name(s.model),
                        at_ms: s.at_ms,
                        usage: s.usage.as_ref()?,
                    },
                ))
            })
    }

    /// The totals over the records the views show.
    pub fn totals(&self, by: By, since_ms: Option<u64>, max_records: usize) -> UsageView {
        crate::usage::totals(self.shown(max_records).map(|(_, _, e)| e), by, since_ms)
    }
}

/// The records file an index was built from, and how much of it it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Covers {
    /// The records file (device, inode).
    pub file: (u64, u64),
    /// Bytes of it covered (a line end).
    pub offset: u64,
    /// CRC-32 of the covered bytes' last [`CHECK_WINDOW`] (or fewer).
    pub check: u32,
}

/// The CRC the index keeps of `bytes`, the end of the covered records.
pub(super) fn check_of(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

// Flags of a slot.
const FINISHED: u16 = 1;
const HAS_USAGE: u16 = 1 << 1;
const ESTIMATED: u16 = 1 << 2;
/// Bits 3.. say which of the eight optional figures are present.
const PRESENT: u32 = 3;

/// `usage.idx`'s bytes for `sums` covering `covers`.
pub(super) fn encode(sums: &Sums, covers: Covers) -> Vec<u8> {
    let mut out = Vec::with_capacity(MAGIC.len() + 64 + sums.slots.len() * 106);
    out.extend_from_slice(MAGIC);
    for n in [covers.file.0, covers.file.1, covers.offset] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.extend_from_slice(&covers.check.to_le_bytes());
    out.extend_from_slice(&(sums.names.len() as u32).to_le_bytes());
    for name in &sums.names {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
    }
    out.extend_from_slice(&(sums.slots.len() as u64).to_le_bytes());
    for (id, s) in &sums.slots {
        let u = s.usage.clone().unwrap_or_default();
        let figures = [
            u.input,
            u.output,
            u.reasoning,
            u.cache_read,
            u.cache_write,
            u.cost_usd.map(f64::to_bits),
            u.first_token_ms,
            u.total_ms,
        ];
        let mut flags = 0u16;
        if s.finished {
            flags |= FINISHED;
        }
        if s.usage.is_some() {
            flags |= HAS_USAGE;
        }
        if u.estimated {
            flags |= ESTIMATED;
        }
        for (i, f) in figures.iter().enumerate() {
            if f.is_some() {
                flags |= 1 << (PRESENT + i as u32);
            }
        }
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&s.owner.pid.to_le_bytes());
        out.extend_from_slice(&s.owner.start_time.to_le_bytes());
        out.extend_from_slice(&s.at_ms.to_le_bytes());
        out.extend_from_slice(&s.worker.to_le_bytes());
        out.extend_from_slice(&s.model.to_le_bytes());
        for f in figures {
            out.extend_from_slice(&f.unwrap_or(0).to_le_bytes());
        }
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// What `covers` an index says, from its first bytes (`None`: not an index of this
/// version). The rest is not checked: [`decode`] does that.
pub(super) fn header(bytes: &[u8]) -> Option<Covers> {
    let mut r = Reader {
        bytes: bytes.strip_prefix(MAGIC)?,
    };
    let file = (r.u64()?, r.u64()?);
    let offset = r.u64()?;
    let check = r.u32()?;
    Some(Covers {
        file,
        offset,
        check,
    })
}

/// The sums and what they cover, when `bytes` is a whole, consistent index.
pub(super) fn decode(bytes: &[u8]) -> Option<(Sums, Covers)> {
    let (body, crc) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
    if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().ok()?) {
        return None;
    }
    let covers = header(body)?;
    let mut r = Reader {
        bytes: body.get(MAGIC.len() + 28..)?,
    };
    let mut sums = Sums::default();
    let names = r.u32()?;
    for _ in 0..names {
        let len = r.u32()? as usize;
        let name = std::str::from_utf8(r.take(len)?).ok()?;
        if sums.ids.contains_key(name) {
            return None;
        }
        sums.intern(name);
    }
    let count = r.u64()?;
    // Collected in order, then built at once: much faster than one insert per slot.
    let mut slots = Vec::with_capacity(usize::try_from(count).ok()?.min(body.len() / 98));
    let mut last = None;
    for _ in 0..count {
        let id = r.u64()?;
        if last.is_some_and(|l| id <= l) {
            return None;
        }
        last = Some(id);
        let flags = r.u16()?;
        let owner = Owner {
            pid: r.u32()?,
            start_time: r.u64()?,
        };
        let at_ms = r.u64()?;
        let (worker, model) = (r.u32()?, r.u32()?);
        if worker as usize >= sums.names.len() || model as usize >= sums.names.len() {
            return None;
        }
        let mut figures = [None; 8];
        for (i, f) in figures.iter_mut().enumerate() {
            let v = r.u64()?;
            if flags & (1 << (PRESENT + i as u32)) != 0 {
                *f = Some(v);
            } else if v != 0 {
                return None;
            }
        }
        let has_usage = flags & HAS_USAGE != 0;
        if flags >> (PRESENT + 8) != 0
            || (!has_usage && (flags & ESTIMATED != 0 || figures.iter().any(Option::is_some)))
        {
            return None;
        }
        let cost_usd = figures[5].map(f64::from_bits);
        if cost_usd.is_some_and(|c| !c.is_finite()) {
            return None;
        }
        let usage = has_usage.then(|| Usage {
            input: figures[0],
            output: figures[1],
            reasoning: figures[2],
            cache_read: figures[3],
            cache_write: figures[4],
            cost_usd,
            estimated: flags & ESTIMATED != 0,
            first_token_ms: figures[6],
            total_ms: figures[7],
        });
        slots.push((
            id,
            Slot {
                finished: flags & FINISHED != 0,
                owner,
                at_ms,
                worker,
                model,
                usage,
            },
        ));
    }
    if !r.bytes.is_empty() {
        return None;
    }
    sums.slots = slots;
    Some((sums, covers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{TaskKind, TaskStatus};

    fn record(id: u64, worker: &str, usage: Option<Usage>) -> TaskRecord {
        TaskRecord {
            id,
            kind: TaskKind::Worker,
            status: TaskStatus::Succeeded,
            project: "/p".to_owned(),
            worker: Some(worker.to_owned()),
            op: None,
            requested_ref: None,
            resolved_model: Some("fake/a".to_owned()),
            policy: None,
            answered_by: None,
            session_id: None,
            created_at_ms: 5,
            started_at_ms: None,
            finished_at_ms: Some(id * 1000),
            duration_ms: None,
            task_truncated: false,
            output_truncated: false,
            error: None,
            owner: Owner {
                pid: 7,
                start_time: 9,
            },
            bytes: 0,
            extra: usage
                .map(|u| {
                    (
                        "usage".to_owned(),
                        serde_json::to_value(u).expect("encodes"),
                    )
                })
                .into_iter()
                .collect(),
        }
    }

    fn sample() -> Sums {
        let mut sums = Sums::default();
        sums.put(&record(
            1,
            "coder",
            Some(Usage {
                input: Some(3),
                cost_usd: Some(0.25),
                estimated: true,
                total_ms: Some(8),
                ..Usage::default()
            }),
        ));
        sums.put(&record(2, "docs", None));
        sums.put(&record(
            4,
            "docs",
            Some(Usage {
                output: Some(u64::MAX),
                first_token_ms: Some(1),
                ..Usage::default()
            }),
        ));
        sums
    }

    fn covers() -> Covers {
        Covers {
            file: (1, 2),
            offset: 300,
            check: 0xdead_beef,
        }
    }

    #[test]
    fn an_index_reads_back_what_was_written() {
        let sums = sample();
        let bytes = encode(&sums, covers());
        assert_eq!(header(&bytes), Some(covers()));
        assert_eq!(decode(&bytes), Some((sums, covers())));
        let empty = encode(&Sums::default(), covers());
        assert_eq!(decode(&empty), Some((Sums::default(), covers())));
    }

    #[test]
    fn any_garbled_or_cut_byte_is_rejected_never_summed() {
        let bytes = encode(&sample(), covers());
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = bytes.clone();
                bad[i] ^= bit;
                assert_eq!(decode(&bad), None, "byte {i} bit {bit:#x} flipped");
            }
        }
        for len in 0..bytes.len() {
            assert_eq!(decode(&bytes[..len]), None, "cut at {len}");
        }
        let mut longer = bytes.clone();
        longer.push(b'\n');
        assert_eq!(decode(&longer), None);
    }

    #[test]
    fn a_consistent_checksum_over_inconsistent_figures_is_still_rejected() {
        // Re-sealed with a valid CRC, a name out of range or ids out of order are refused.
        let reseal = |mut body: Vec<u8>| {
            let crc = crc32fast::hash(&body);
            body.extend_from_slice(&crc.to_le_bytes());
            body
        };
        let mut sums = sample();
        if let Some((_, s)) = sums.slots.last_mut() {
            s.worker = 99;
        }
        let bytes = encode(&sums, covers());
        assert_eq!(decode(&bytes), None, "a worker name out of range");
        let good = encode(&sample(), covers());
        let mut body = good[..good.len() - 4].to_vec();
        // The first slot's id (1) becomes 4: equal to the last one, not rising.
        let names_end = MAGIC.len() + 28 + 4 + (4 + 5) + (4 + 4) + (4 + 6);
        let first_id = names_end + 8;
        body[first_id] = 4;
        assert_eq!(decode(&reseal(body)), None, "ids not rising");
    }
}
