//! What orch knows about models and workers: [`Knowledge`] (a resolver over the provider
//! set, and the profiles), [`KnowledgeSource`] (knowledge that reloads itself when the files
//! change), and the error for a worker nobody defined. Everything above (`views`,
//! `workers`, `tasks`, `mcp`, clients) reads it; it imports none of them.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use crate::error::{Error, ErrorKind};
use crate::paths::{Environment, Paths};
use crate::profiles::{Profiles, load_orchestrator};
use crate::redact::Redactor;
use crate::resolve::Resolver;
use crate::sources::ProviderSet;
use crate::sources::config::{ConfigLocations, project_dirs};
use crate::sources::local::LocalSource;

/// Everything needed to answer model questions: a resolver and the profiles.
#[derive(Debug, Clone)]
pub struct Knowledge {
    /// The resolver over the current provider set.
    pub resolver: Arc<Resolver>,
    /// Profiles and user tags.
    pub profiles: Arc<Profiles>,
}

impl Knowledge {
    /// Reads OpenCode's files, the environment, the catalog and `orchestrator.json`.
    pub fn load_local(paths: &Paths, env: &Environment) -> Result<Self, Error> {
        let set = LocalSource::new(paths.clone(), env.clone()).load_now()?;
        let profiles = load_orchestrator(paths, env)?;
        Ok(Self::new(set, profiles))
    }

    /// From an already loaded provider set and profiles.
    pub fn new(set: ProviderSet, profiles: Profiles) -> Self {
        let resolver = Resolver::new(Arc::new(set), profiles.tags.clone());
        Self {
            resolver: Arc::new(resolver),
            profiles: Arc::new(profiles),
        }
    }

    /// The profile of a worker, or an error naming the known ones.
    pub fn profile(&self, id: &str) -> Result<&crate::profiles::Profile, Error> {
        self.profiles
            .get(id)
            .ok_or_else(|| unknown_worker(id, &self.profiles))
    }
}

/// An error for a worker id nobody defined, with the known ids.
pub fn unknown_worker(id: &str, profiles: &Profiles) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!(
            "unknown worker \"{}\"; known workers: {}",
            crate::resolve::shown(id),
            profiles.ids().join(", ")
        ),
    )
    .with_suggestions(crate::resolve::by_similarity(id, profiles.ids()))
}

type Stamp = Vec<Option<(SystemTime, u64)>>;

/// Knowledge that reloads itself when OpenCode's or orch's files change: the files'
/// modification times and sizes are compared on every use (a few `stat` calls), so a
/// long-running backend sees a user's edits without a restart, and a command run right
/// after an edit sees the edit. A reload that fails keeps the last good knowledge and
/// reports why in [`KnowledgeSource::warning`].
#[derive(Debug)]
pub struct KnowledgeSource {
    origin: Option<(Paths, Environment)>,
    files: Vec<PathBuf>,
    cached: RwLock<Cached>,
    redactor: Redactor,
}

#[derive(Debug, Clone)]
struct Cached {
    knowledge: Knowledge,
    stamp: Stamp,
    warning: Option<String>,
}

fn stamp(files: &[PathBuf]) -> Stamp {
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        })
        .collect()
}

impl KnowledgeSource {
    /// Loads from the files, and reloads when they change.
    pub fn load(paths: &Paths, env: &Environment) -> Result<Self, Error> {
        let mut files = ConfigLocations {
            global_dir: paths.opencode_config_dir.clone(),
            project_dir: paths.project_dir.clone(),
        }
        .candidates(env);
        files.push(paths.auth_file());
        files.push(paths.models_cache());
        files.push(paths.global_orchestrator_file());
        files.extend(
            project_dirs(&paths.project_dir)
                .into_iter()
                .map(|d| d.join(".opencode").join("orchestrator.json")),
        );
        let stamp = stamp(&files);
        let knowledge = Knowledge::load_local(paths, env)?;
        Ok(Self {
            origin: Some((paths.clone(), env.clone())),
            files,
            redactor: Redactor::new(),
            cached: RwLock::new(Cached {
                knowledge,
                stamp,
                warning: None,
            }),
        })
    }

    /// Fixed knowledge that never reloads.
    pub fn fixed(knowledge: Knowledge) -> Self {
        Self {
            origin: None,
            files: Vec::new(),
            redactor: Redactor::new(),
            cached: RwLock::new(Cached {
                knowledge,
                stamp: Vec::new(),
                warning: None,
            }),
        }
    }

    /// Teaches `redactor` the secrets of the files now and after every reload (a secret
    /// once learnt stays: a key rotated away is still a key).
    pub fn with_redactor(mut self, redactor: Redactor) -> Self {
        if let Some((paths, env)) = &self.origin {
            redactor.learn(paths, env, self.read().knowledge.resolver.set());
        }
        self.redactor = redactor;
        self
    }

    /// The redactor this source teaches.
    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    fn read(&self) -> Cached {
        match self.cached.read() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The current knowledge, reloaded first when a file changed.
    pub fn get(&self) -> Knowledge {
        let cached = self.read();
        let Some((paths, env)) = &self.origin else {
            return cached.knowledge;
        };
        let now = stamp(&self.files);
        if now == cached.stamp {
            return cached.knowledge;
        }
        let mut next = cached;
        match Knowledge::load_local(paths, env) {
            Ok(k) => {
                self.redactor.learn(paths, env, k.resolver.set());
                next.knowledge = k;
                next.warning = None;
            }
            Err(e) => {
                next.warning = Some(format!("keeping the previous configuration: {}", e.message))
            }
        }
        next.stamp = now;
        let knowledge = next.knowledge.clone();
        match self.cached.write() {
            Ok(mut c) => *c = next,
            Err(p) => *p.into_inner() = next,
        }
        knowledge
    }

    /// Why the last reload failed, when it did.
    pub fn warning(&self) -> Option<String> {
        self.read().warning
    }
}
