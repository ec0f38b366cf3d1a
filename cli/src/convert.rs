//! What the user typed (`args`) turned into the core's types, in this one place: the clap
//! enums mirror core enums so that clap types never reach the core (ripgrep's low and
//! high args).

use std::time::Duration;

use orch::resolve::Policy;
use orch::wire::{Format, ModelsQuery, ResolveQuery, Scope, TaskListKind, TaskStatus, TasksQuery};
use orch::workers::{RunRequest, SetModelRequest};

use crate::args::{
    Cli, FormatArg, KindArg, ModelsArgs, PolicyArg, ResolveArgs, RunArgs, ScopeArg, SetArgs,
    StatusArg, TasksArgs,
};

/// `orch tasks` lists at most this many tasks without `--limit`.
const TASKS_LIMIT: usize = 50;

impl Cli {
    /// The output format: table unless `--format` says otherwise.
    pub fn output_format(&self) -> Format {
        self.format.map_or(Format::Table, Format::from)
    }
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Table => Self::Table,
            FormatArg::Json => Self::Json,
            FormatArg::Markdown => Self::Markdown,
        }
    }
}

impl From<PolicyArg> for Policy {
    fn from(p: PolicyArg) -> Self {
        match p {
            PolicyArg::Dynamic => Self::Dynamic,
            PolicyArg::Sticky => Self::Sticky,
        }
    }
}

impl From<ScopeArg> for Scope {
    fn from(s: ScopeArg) -> Self {
        match s {
            ScopeArg::Configured => Self::Configured,
            ScopeArg::All => Self::All,
        }
    }
}

impl From<StatusArg> for TaskStatus {
    fn from(s: StatusArg) -> Self {
        match s {
            StatusArg::Queued => Self::Queued,
            StatusArg::Running => Self::Running,
            StatusArg::Succeeded => Self::Succeeded,
            StatusArg::Failed => Self::Failed,
            StatusArg::Cancelled => Self::Cancelled,
            StatusArg::Lost => Self::Lost,
        }
    }
}

impl From<&ModelsArgs> for ModelsQuery {
    fn from(a: &ModelsArgs) -> Self {
        Self {
            scope: a.scope.into(),
            providers: a.providers.clone(),
            query: a.query.clone(),
            vision_only: a.vision,
            limit: a.limit,
            worker: a.worker.clone(),
        }
    }
}

impl From<&ResolveArgs> for ResolveQuery {
    fn from(a: &ResolveArgs) -> Self {
        Self {
            reference: a.reference.clone(),
            worker: a.worker.clone(),
            policy: Default::default(),
        }
    }
}

impl From<&SetArgs> for SetModelRequest {
    fn from(a: &SetArgs) -> Self {
        Self {
            worker: a.worker.clone(),
            model: a.model.clone(),
            policy: a.policy.into(),
            respawn: a.respawn,
            force: a.force,
        }
    }
}

impl From<&RunArgs> for RunRequest {
    fn from(a: &RunArgs) -> Self {
        Self {
            worker: a.worker.clone(),
            task: a.task.clone(),
            // Repeated options are one chain: `-m a -m b` is `a, b`.
            model: (!a.model.is_empty()).then(|| a.model.join(", ")),
            policy: a.policy.map(Policy::from),
            force_new: a.force_new,
            auto_spawn: true,
            attachments: Vec::new(),
            timeout: a.timeout.map(Duration::from_secs),
        }
    }
}

impl From<&TasksArgs> for TasksQuery {
    fn from(a: &TasksArgs) -> Self {
        Self {
            status: a.status.iter().copied().map(TaskStatus::from).collect(),
            limit: Some(a.limit.unwrap_or(TASKS_LIMIT)),
            kind: match a.kind {
                KindArg::Task => TaskListKind::Task,
                KindArg::Op => TaskListKind::Op,
                KindArg::All => TaskListKind::All,
            },
            output: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::args::{Cli, Command};

    fn run_request(args: &[&str]) -> RunRequest {
        match Cli::try_parse_from(args).map(|c| c.command) {
            Ok(Command::Run(a)) => RunRequest::from(&a),
            other => panic!("not a run: {other:?}"),
        }
    }

    #[test]
    fn a_repeated_or_comma_separated_model_is_one_chain() {
        let repeated = run_request(&["orch", "run", "coder", "x", "-m", "a/b", "--model", "node"]);
        assert_eq!(repeated.model.as_deref(), Some("a/b, node"));
        let commas = run_request(&["orch", "run", "coder", "x", "--model", "a/b,node"]);
        assert_eq!(commas.model.as_deref(), Some("a/b,node"));
        assert_eq!(run_request(&["orch", "run", "coder", "x"]).model, None);
    }
}
