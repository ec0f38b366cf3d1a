//! What the hosting benchmark and the real-OpenCode hosting tests (issue 13) share: the six
//! built-in workers on a project whose only provider is the fake LLM, hosted in one
//! OpenCode or each on a dedicated one, and the resident memory of the OpenCode processes
//! orch started (each process with its descendants, from `/proc`).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::workers::procfs;
use crate::workers::{WorkerRow, WorkersView};

/// The six built-in workers.
pub const SIX: [&str; 6] = ["architect", "coder", "docs", "explorer", "memory", "vision"];

/// The worker that always runs on a dedicated server, to compare with.
pub const SOLO: &str = "solo";

/// What [`crate::testutil::real::RealProject::new`] merges into the fake provider's config
/// for the six workers: an image model, so `node:vision` resolves too.
pub fn extra_config() -> Value {
    json!({"provider": {"fake": {"models": {
        "fast-mini": {"name": "Fast Mini", "tool_call": true},
        "big-pro": {"name": "Big Pro", "tool_call": true},
        "eye": {"name": "Eye", "tool_call": true, "attachment": true,
                "modalities": {"input": ["text", "image"], "output": ["text"]}}
    }}}})
}

/// `orchestrator.json`: the six built-ins with `"backend": six` (`"shared"` or `"server"`),
/// [`SOLO`] (fake/big-pro) on a dedicated server, and `extra` more workers named
/// `h01`, `h02`... on `extra_backend`, for benchmarks that need a worker that never ran.
pub fn profiles(six: &str, extra: usize, extra_backend: &str) -> String {
    let mut list = serde_json::Map::new();
    for id in SIX {
        list.insert(id.to_owned(), json!({"backend": six}));
    }
    list.insert(
        SOLO.to_owned(),
        json!({"model": "fake/big-pro", "backend": "server"}),
    );
    for i in 1..=extra {
        list.insert(
            format!("h{i:02}"),
            json!({"model": "fake/fast-mini", "backend": extra_backend}),
        );
    }
    json!({ "profiles": list }).to_string()
}

/// The resident memory of `pid` in KiB (`VmRSS` of `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The resident memory of `pid` and every live descendant, in KiB, and how many processes.
pub fn tree_rss_kib(pid: u32) -> (u64, usize) {
    let Ok(root) = i32::try_from(pid) else {
        return (0, 0);
    };
    let tree = std::iter::once(pid)
        .chain(
            procfs::descendants(root)
                .into_iter()
                .filter_map(|p| u32::try_from(p).ok()),
        )
        .filter_map(rss_kib)
        .collect::<Vec<_>>();
    (tree.iter().sum(), tree.len())
}

/// The OpenCode process of each of `workers` (a hosted worker shows its host's), each
/// counted once: pid → (KiB resident with its descendants, processes).
pub fn opencode_rss<'a>(
    view: &WorkersView,
    workers: impl IntoIterator<Item = &'a str>,
) -> BTreeMap<u32, (u64, usize)> {
    let rows: Vec<&WorkerRow> = workers
        .into_iter()
        .filter_map(|id| view.workers.iter().find(|w| w.id == id))
        .collect();
    rows.iter()
        .filter_map(|w| w.pid)
        .map(|pid| (pid, tree_rss_kib(pid)))
        .collect()
}

/// The sum of [`opencode_rss`], in KiB.
pub fn total_kib(trees: &BTreeMap<u32, (u64, usize)>) -> u64 {
    trees.values().map(|(kib, _)| kib).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_resident_size() {
        let (kib, n) = tree_rss_kib(std::process::id());
        assert!(kib > 0 && n >= 1, "{kib} KiB in {n}");
    }

    #[test]
    fn profiles_name_the_six_the_solo_and_the_extras() {
        let v: Value = serde_json::from_str(&profiles("server", 2, "server")).expect("JSON");
        let p = v["profiles"].as_object().expect("profiles");
        assert_eq!(p.len(), 9);
        assert_eq!(p["h02"]["model"], "fake/fast-mini");
        assert_eq!(p[SOLO]["backend"], "server");
    }
}
