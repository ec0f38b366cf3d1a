//! Dynamic shell completions (`source <(COMPLETE=bash orch)`, see `docs/cli.md`): besides
//! subcommands and flags, worker names, model references and provider ids, read from this
//! machine's OpenCode and orch files for the current directory, like `orch --opencode-url`
//! less the server: no backend is started, nothing is written, nothing is printed on a
//! failure (a completion then offers no values).

use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};
use orch::knowledge::Knowledge;
use orch::paths::{Environment, Paths};
use orch::resolve::tags::TAGS;

/// What a completion reads: the providers and profiles of the current directory's project.
fn knowledge() -> Option<Knowledge> {
    let env = Environment::capture();
    let project = std::env::current_dir().ok()?;
    Knowledge::load_local(&Paths::resolve(&env, &project), &env).ok()
}

/// Worker ids, each with its name as help.
pub fn workers() -> Vec<CompletionCandidate> {
    knowledge().map_or_else(Vec::new, |k| worker_candidates(&k))
}

fn worker_candidates(k: &Knowledge) -> Vec<CompletionCandidate> {
    k.profiles
        .list
        .iter()
        .map(|p| CompletionCandidate::new(&p.id).help(Some(p.name.clone().into())))
        .collect()
}

/// Model references: the built-in tags, the user's tags, then every model of a usable
/// provider as `provider/model`.
pub fn models() -> Vec<CompletionCandidate> {
    knowledge().map_or_else(Vec::new, |k| model_candidates(&k))
}

fn model_candidates(k: &Knowledge) -> Vec<CompletionCandidate> {
    let tags = TAGS
        .iter()
        .map(|t| CompletionCandidate::new(*t).help(Some("tag".into())));
    let user = k
        .resolver
        .user_tags()
        .keys()
        .map(|t| CompletionCandidate::new(t).help(Some("your tag".into())));
    let set = k.resolver.set();
    let models = set.usable().flat_map(|p| {
        p.provider.models.iter().map(|m| {
            CompletionCandidate::new(format!("{}/{}", p.provider.id, m.id))
                .help(Some(m.name.clone().into()))
        })
    });
    tags.chain(user).chain(models).collect()
}

/// Provider ids (every provider of the catalog, usable ones first).
pub fn providers() -> Vec<CompletionCandidate> {
    knowledge().map_or_else(Vec::new, |k| provider_candidates(&k))
}

fn provider_candidates(k: &Knowledge) -> Vec<CompletionCandidate> {
    let set = k.resolver.set();
    let usable = set.usable().map(|p| (p, "usable"));
    let others = set
        .providers
        .iter()
        .filter(|p| !p.access.is_usable())
        .map(|p| (p, "not usable"));
    usable
        .chain(others)
        .map(|(p, what)| CompletionCandidate::new(&p.provider.id).help(Some(what.into())))
        .collect()
}

/// The completer of a worker argument.
pub fn worker_arg() -> ArgValueCandidates {
    ArgValueCandidates::new(workers)
}

/// The completer of a model reference argument.
pub fn model_arg() -> ArgValueCandidates {
    ArgValueCandidates::new(models)
}

/// The completer of a provider argument.
pub fn provider_arg() -> ArgValueCandidates {
    ArgValueCandidates::new(providers)
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use clap::CommandFactory;
    use orch::catalog::{Model, Provider};
    use orch::profiles::Profiles;
    use orch::sources::{Access, ProviderEntry, ProviderSet};

    use super::*;
    use crate::args::Cli;

    fn values(c: &[CompletionCandidate]) -> Vec<String> {
        c.iter()
            .map(|c| c.get_value().to_string_lossy().into_owned())
            .collect()
    }

    fn knowledge() -> Knowledge {
        let entry = |id: &str, access: Access, models: &[&str]| ProviderEntry {
            provider: Provider {
                id: id.into(),
                name: id.into(),
                models: models
                    .iter()
                    .map(|m| Model {
                        id: (*m).into(),
                        name: (*m).into(),
                        ..Model::default()
                    })
                    .collect(),
                ..Provider::default()
            },
            access,
            key_present: false,
            default_model: None,
        };
        let set = ProviderSet {
            providers: vec![
                entry("fake", Access::Config, &["big-pro", "fast-mini"]),
                entry("nokey", Access::NoCredentials, &["secret-model"]),
            ],
            ..ProviderSet::default()
        };
        Knowledge::new(set, Profiles::builtin())
    }

    #[test]
    fn candidates_are_workers_references_and_providers() {
        let k = knowledge();
        let workers = values(&worker_candidates(&k));
        for id in ["vision", "docs", "coder", "architect", "explorer", "memory"] {
            assert!(workers.iter().any(|w| w == id), "{id} in {workers:?}");
        }
        let models = values(&model_candidates(&k));
        assert_eq!(models[0], "node");
        assert!(models.iter().any(|m| m == "node:fast"));
        assert!(models.iter().any(|m| m == "fake/big-pro"));
        // Only usable providers' models are offered as references.
        assert!(!models.iter().any(|m| m.contains("secret-model")));
        assert_eq!(values(&provider_candidates(&k)), ["fake", "nokey"]);
    }

    /// The engine `COMPLETE=bash orch` runs: the right completer on the right argument,
    /// filtered by what is typed.
    #[test]
    fn the_engine_offers_workers_and_references_where_they_go() {
        let complete = |line: &[&str]| {
            let mut cmd = Cli::command();
            let args: Vec<OsString> = line.iter().map(OsString::from).collect();
            let index = args.len() - 1;
            let found =
                clap_complete::engine::complete(&mut cmd, args, index, None).expect("completes");
            values(&found)
        };
        let found = complete(&["orch", "worker-model-set", "do"]);
        assert_eq!(found, ["docs"]);
        let found = complete(&["orch", "worker-model-reset", "ex"]);
        assert_eq!(found, ["explorer"]);
        let found = complete(&["orch", "run", "vi"]);
        assert_eq!(found, ["vision"]);
        let found = complete(&["orch", "resolve", "--worker", "me"]);
        assert_eq!(found, ["memory"]);
        // Model references come from this machine's files; the built-in tags always.
        let found = complete(&["orch", "worker-model-set", "docs", "node:f"]);
        assert_eq!(found, ["node:fast"]);
        let found = complete(&["orch", "resolve", "node:v"]);
        assert_eq!(found, ["node:vision"]);
        let found = complete(&["orch", "run", "docs", "x", "--model", "node:d"]);
        assert_eq!(found, ["node:docs"]);
        // Subcommands still complete.
        let found = complete(&["orch", "mod"]);
        assert_eq!(found, ["models"]);
    }
}
