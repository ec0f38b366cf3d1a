//! Warm start: which workers `orch warm` and a starting backend start ahead of their first
//! task, and the op tasks that start them (so they show in `orch tasks` like any op).

use crate::error::Error;
use crate::profiles::BackendKind;
use crate::wire::{TaskKind, TaskRow};
use crate::workers::WorkerService;

use super::{StartRequest, Tasks, Work};

/// Whether a profile runs as a session of the shared OpenCode host (not a process of its
/// own, not someone else's server).
fn hosted(backend: BackendKind) -> bool {
    match backend {
        BackendKind::Shared => true,
        BackendKind::Server | BackendKind::Agent => false,
    }
}

/// The workers a bare `orch warm` starts: those whose profile says `"warm": true`; when
/// none does, every worker of the shared host (one process for all of them, so warming
/// them all costs one start and a session each). Dedicated (`server`) and `agent` workers
/// are only warmed when named or flagged: each dedicated one is a process of its own.
/// Takes each profile's `(id, warm, backend)`.
pub fn default_set<'a>(
    profiles: impl IntoIterator<Item = (&'a str, bool, BackendKind)> + Clone,
) -> Vec<String> {
    let flagged: Vec<String> = profiles
        .clone()
        .into_iter()
        .filter(|(_, warm, _)| *warm)
        .map(|(id, _, _)| id.to_owned())
        .collect();
    if !flagged.is_empty() {
        return flagged;
    }
    profiles
        .into_iter()
        .filter(|(_, _, backend)| hosted(*backend))
        .map(|(id, _, _)| id.to_owned())
        .collect()
}

impl<W: WorkerService> Tasks<W> {
    /// Starts a `worker.warm` op for every profile flagged `"warm": true` (what a backend
    /// does when it starts); returns the started tasks and the workers that could not be
    /// started as tasks, with why.
    pub async fn warm_flagged(&self) -> (Vec<TaskRow>, Vec<(String, Error)>) {
        let knowledge = self.workers().knowledge();
        let mut started = Vec::new();
        let mut refused = Vec::new();
        for p in knowledge.profiles.list.iter().filter(|p| p.warm) {
            let req = StartRequest {
                kind: TaskKind::Op,
                work: Work::Warm {
                    worker: p.id.clone(),
                },
                route: None,
            };
            match self.start(req).await {
                Ok(row) => started.push(row),
                Err(e) => refused.push((p.id.clone(), e)),
            }
        }
        (started, refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::{Profile, Profiles};

    fn set(list: &[Profile]) -> Vec<String> {
        default_set(list.iter().map(|p| (p.id.as_str(), p.warm, p.backend)))
    }

    #[test]
    fn flagged_workers_first_else_every_hosted_one() {
        let mut list = Profiles::builtin().list;
        let hosted_ids: Vec<String> = list
            .iter()
            .filter(|p| hosted(p.backend))
            .map(|p| p.id.clone())
            .collect();
        assert_eq!(set(&list), hosted_ids, "nothing flagged");
        for p in &mut list {
            p.warm = p.id == "docs" || p.id == "coder";
        }
        assert_eq!(set(&list), ["coder", "docs"]);
        for p in &mut list {
            p.warm = false;
            p.backend = BackendKind::Server;
        }
        assert!(
            set(&list).is_empty(),
            "dedicated workers are never warmed unasked"
        );
    }
}
