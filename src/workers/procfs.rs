//! What `/proc` says about a process: its parent, group, state, start time and command
//! line. The guard walks it to find every descendant; the registry uses the start time and
//! command line to know that a recorded pid is still the process orch started, not a
//! stranger that reused the number. Elsewhere than Linux every read is `None`.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The fields of `/proc/<pid>/stat` orch needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Field 3: `R`, `S`, `Z`, ...
    pub state: char,
    /// Field 4.
    pub ppid: i32,
    /// Field 5: the process group.
    pub pgrp: i32,
    /// Field 22: start time in clock ticks after boot (never changes for a process).
    pub start_time: u64,
}

impl Stat {
    /// A zombie: dead, waiting for its parent to reap it.
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

/// Parses the text of `/proc/<pid>/stat`. The command name (field 2) may hold spaces and
/// parentheses, so fields are counted after its last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let (_, rest) = text.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// `/proc/<pid>/stat` of a process, when it exists.
pub fn stat(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The command line of a process, arguments joined by spaces (empty for a zombie).
pub fn cmdline(pid: u32) -> Option<String> {
    let bytes = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<String> = bytes
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    Some(args.join(" "))
}

/// Who a process is, beyond its pid: recorded when orch starts it, compared before orch
/// signals it again. A reused pid has another start time (and usually another command).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Start time in clock ticks after boot (`/proc/<pid>/stat` field 22).
    pub start_time: u64,
    /// Its command line.
    pub cmdline: String,
}

impl Identity {
    /// The identity of a live (not zombie) process.
    pub fn of(pid: u32) -> Option<Self> {
        let st = stat(pid).filter(|s| !s.is_zombie())?;
        Some(Self {
            start_time: st.start_time,
            cmdline: cmdline(pid)?,
        })
    }

    /// Whether `pid` is still this process.
    pub fn matches(&self, pid: u32) -> bool {
        Self::of(pid).is_some_and(|now| now == *self)
    }
}

/// Every live process, by parent: `ppid -> [pid]` (zombies left out).
fn children_by_parent() -> HashMap<i32, Vec<i32>> {
    let mut out: HashMap<i32, Vec<i32>> = HashMap::new();
    let Ok(dir) = std::fs::read_dir(Path::new("/proc")) else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(st) = stat(pid).filter(|s| !s.is_zombie())
            && let Ok(pid) = i32::try_from(pid)
        {
            out.entry(st.ppid).or_default().push(pid);
        }
    }
    out
}

/// Every live descendant of `root` (children, their children, ...), parents first.
pub fn descendants(root: i32) -> Vec<i32> {
    let by_parent = children_by_parent();
    let mut out = Vec::new();
    let mut queue = vec![root];
    while let Some(p) = queue.pop() {
        for &c in by_parent.get(&p).map(Vec::as_slice).unwrap_or(&[]) {
            if c != root && !out.contains(&c) {
                out.push(c);
                queue.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        let text = "4242 (a (weird) name) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let st = parse_stat(text).expect("parsed");
        assert_eq!(
            st,
            Stat {
                state: 'S',
                ppid: 17,
                pgrp: 4242,
                start_time: 987_654
            }
        );
        assert!(parse_stat("12 (x) S 1").is_none());
    }

    #[test]
    fn identity_matches_itself_and_not_another_process() {
        let me = std::process::id();
        let id = Identity::of(me).expect("own identity");
        assert!(id.matches(me));
        let mut other = id.clone();
        other.start_time += 1;
        assert!(!other.matches(me), "another start time is another process");
        let mut renamed = id;
        renamed.cmdline.push_str(" --other");
        assert!(
            !renamed.matches(me),
            "another command line is another process"
        );
        assert!(!Identity::of(4_194_305).is_some_and(|i| i.matches(4_194_305)));
    }

    #[test]
    fn descendants_include_grandchildren() {
        let mut child = std::process::Command::new("/bin/sh")
            .args(["-c", "sleep 30 & wait"])
            .spawn()
            .expect("spawned");
        let child_pid = i32::try_from(child.id()).expect("pid");
        let me = i32::try_from(std::process::id()).expect("pid");
        let mut found = Vec::new();
        for _ in 0..100 {
            found = descendants(me);
            if found.len() >= 2 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let grandchildren = descendants(child_pid);
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child_pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        for g in &grandchildren {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*g),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let _ = child.wait();
        assert!(found.contains(&child_pid), "{found:?}");
        assert_eq!(grandchildren.len(), 1, "{grandchildren:?}");
        assert!(found.contains(&grandchildren[0]), "{found:?}");
    }
}
