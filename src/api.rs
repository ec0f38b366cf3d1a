//! The interface every client uses: the CLI and the TUI call [`Orchestrator`], which the
//! in-process [`Local`] implements today and the socket client implements too, so moving a
//! client onto the backend does not rewrite it. The views are computed here, once, for
//! every implementation.

use std::future::Future;
use std::sync::Arc;

use crate::catalog::Model;
use crate::error::{Error, ErrorKind};
use crate::paths::{Environment, Paths};
use crate::profiles::{Profiles, load_orchestrator};
use crate::resolve::{Request, Resolver};
use crate::sources::ProviderEntry;
use crate::sources::local::LocalSource;
use crate::wire::{
    AwaitView, CancelView, ModelRow, ModelsQuery, ModelsView, ProfileRow, ProfilesView,
    ResolveQuery, ResolveView, Scope, StatusView, TagRow, TaskRow, TasksQuery, TasksView,
};
use crate::workers::{RunRequest, SetModelRequest, WorkerRow, WorkerService, WorkersView};

/// What clients can ask of orch.
pub trait Orchestrator {
    /// Lists models.
    fn models(&self, q: &ModelsQuery) -> impl Future<Output = Result<ModelsView, Error>> + Send;
    /// Resolves a reference, with the reason and ranked candidates.
    fn resolve(&self, q: &ResolveQuery) -> impl Future<Output = Result<ResolveView, Error>> + Send;
    /// Lists profiles with what each resolves to now.
    fn profiles(&self) -> impl Future<Output = Result<ProfilesView, Error>> + Send;
    /// Every worker with its model, policy, reason and the model that answered last
    /// (`task_list` view `workers`).
    fn workers(&self) -> impl Future<Output = Result<WorkersView, Error>> + Send;
    /// Changes a worker's model and returns the worker afterwards
    /// (`task_start` op `worker.model.set`, awaited).
    fn set_model(
        &self,
        req: &SetModelRequest,
    ) -> impl Future<Output = Result<WorkerRow, Error>> + Send;
    /// Restores a worker's configured model (`task_start` op `worker.model.reset`, awaited).
    fn reset_model(&self, worker: &str) -> impl Future<Output = Result<WorkerRow, Error>> + Send;
    /// Starts a task on a worker and returns it at once, queued (`task_start` kind `worker`).
    fn run(&self, req: &RunRequest) -> impl Future<Output = Result<TaskRow, Error>> + Send;
    /// Waits for tasks, at most `timeout` (`task_await`).
    fn await_tasks(
        &self,
        ids: &[String],
        timeout: std::time::Duration,
    ) -> impl Future<Output = Result<AwaitView, Error>> + Send;
    /// Recent tasks (`task_list` view `tasks`).
    fn tasks(&self, q: &TasksQuery) -> impl Future<Output = Result<TasksView, Error>> + Send;
    /// Cancels tasks (`task_cancel`).
    fn cancel(&self, ids: &[String]) -> impl Future<Output = Result<CancelView, Error>> + Send;
    /// The backend's state and paths (`task_list` view `status`).
    fn status(&self) -> impl Future<Output = Result<StatusView, Error>> + Send;
}

/// The error of what only the backend can do, for in-process clients.
fn needs_backend(what: &str) -> Error {
    Error::new(
        ErrorKind::Unavailable,
        format!(
            "{what} needs the orch backend; this client runs in-process (--opencode-url): drop that option to use the backend"
        ),
    )
}

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
    pub fn new(set: crate::sources::ProviderSet, profiles: Profiles) -> Self {
        let resolver = Resolver::new(Arc::new(set), profiles.tags.clone());
        Self {
            resolver: Arc::new(resolver),
            profiles: Arc::new(profiles),
        }
    }

    /// The models view.
    pub fn models_view(&self, q: &ModelsQuery) -> ModelsView {
        models_view(&self.resolver, q)
    }

    /// The resolve view.
    pub fn resolve_view(&self, q: &ResolveQuery) -> Result<ResolveView, Error> {
        let worker = match q.worker.as_deref() {
            Some(id) => Some(
                self.profiles
                    .get(id)
                    .ok_or_else(|| unknown_worker(id, &self.profiles))?,
            ),
            None => None,
        };
        let resolution = self.resolver.resolve(
            &Request::new(&q.reference)
                .for_worker(worker)
                .with_policy(q.policy),
        )?;
        Ok(ResolveView {
            worker: worker.map(|w| w.id.clone()),
            resolution,
        })
    }

    /// The profiles view.
    pub fn profiles_view(&self) -> ProfilesView {
        let profiles = self
            .profiles
            .list
            .iter()
            .map(|p| {
                let (resolved_model, reason) =
                    match self.resolver.resolve_profile(p, Default::default()) {
                        Ok(r) => (Some(r.resolved_model), r.reason),
                        Err(e) => (None, e.to_string()),
                    };
                ProfileRow {
                    id: p.id.clone(),
                    name: p.name.clone(),
                    purpose: p.purpose.clone(),
                    when_to_use: p.when_to_use.clone(),
                    model_ref: p.model.display(),
                    resolved_model,
                    reason,
                    backend: match p.backend {
                        crate::profiles::BackendKind::Server => "server".into(),
                        crate::profiles::BackendKind::Agent => "agent".into(),
                    },
                    vision: p.vision,
                    web: p.web,
                    tools: p.tools.clone(),
                    defined_in: p.defined_in.clone(),
                }
            })
            .collect();
        ProfilesView {
            profiles,
            tags: self
                .profiles
                .tags
                .iter()
                .map(|(tag, refs)| TagRow {
                    tag: tag.clone(),
                    refs: refs.clone(),
                })
                .collect(),
            files: self
                .profiles
                .files
                .iter()
                .map(|f| f.display().to_string())
                .collect(),
        }
    }
}

/// How old the last check of the files may be before they are checked again.
const RECHECK_AFTER: std::time::Duration = std::time::Duration::ZERO;

/// Knowledge that reloads itself when OpenCode's or orch's files change: the files'
/// modification times and sizes are compared on every use, so a long-running backend sees a
/// user's edits without a restart. A reload that fails keeps the last good knowledge and
/// reports why in [`KnowledgeSource::warning`].
#[derive(Debug)]
pub struct KnowledgeSource {
    origin: Option<(Paths, Environment)>,
    files: Vec<std::path::PathBuf>,
    cached: std::sync::RwLock<Cached>,
}

#[derive(Debug, Clone)]
struct Cached {
    knowledge: Knowledge,
    stamp: Vec<Option<(std::time::SystemTime, u64)>>,
    checked: std::time::Instant,
    warning: Option<String>,
}

fn stamp(files: &[std::path::PathBuf]) -> Vec<Option<(std::time::SystemTime, u64)>> {
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
        let mut files = crate::sources::config::ConfigLocations {
            global_dir: paths.opencode_config_dir.clone(),
            project_dir: paths.project_dir.clone(),
        }
        .candidates(env);
        files.push(paths.auth_file());
        files.push(paths.models_cache());
        files.push(paths.global_orchestrator_file());
        files.extend(
            crate::sources::config::project_dirs(&paths.project_dir)
                .into_iter()
                .map(|d| d.join(".opencode").join("orchestrator.json")),
        );
        let stamp = stamp(&files);
        let knowledge = Knowledge::load_local(paths, env)?;
        Ok(Self {
            origin: Some((paths.clone(), env.clone())),
            files,
            cached: std::sync::RwLock::new(Cached {
                knowledge,
                stamp,
                checked: std::time::Instant::now(),
                warning: None,
            }),
        })
    }

    /// Fixed knowledge that never reloads.
    pub fn fixed(knowledge: Knowledge) -> Self {
        Self {
            origin: None,
            files: Vec::new(),
            cached: std::sync::RwLock::new(Cached {
                knowledge,
                stamp: Vec::new(),
                checked: std::time::Instant::now(),
                warning: None,
            }),
        }
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
        // Checking is a few `stat` calls; a long-running backend does it on every use, so a
        // command run right after an edit sees the edit.
        if cached.checked.elapsed() < RECHECK_AFTER {
            return cached.knowledge;
        }
        let now = stamp(&self.files);
        let mut next = cached.clone();
        next.checked = std::time::Instant::now();
        if now != cached.stamp {
            match Knowledge::load_local(paths, env) {
                Ok(k) => {
                    next.knowledge = k;
                    next.warning = None;
                }
                Err(e) => {
                    next.warning =
                        Some(format!("keeping the previous configuration: {}", e.message))
                }
            }
            next.stamp = now;
        }
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

fn row(entry: &ProviderEntry, m: &Model) -> ModelRow {
    ModelRow {
        model: format!("{}/{}", entry.provider.id, m.id),
        provider: entry.provider.id.clone(),
        name: m.name.clone(),
        source: entry.access.label().to_owned(),
        usable: entry.access.is_usable(),
        image: m.capabilities.input.image,
        tool_call: m.capabilities.tool_call,
        reasoning: m.capabilities.reasoning,
        attachment: m.capabilities.attachment,
        context: m.limit.context,
        output: m.limit.output,
        cost_input: m.cost.input,
        cost_output: m.cost.output,
        status: m.status.as_str().to_owned(),
        release_date: m.release_date.clone(),
        default: entry.default_model.as_deref() == Some(m.id.as_str()),
    }
}

/// Lists models: usable (or all) providers, filtered by provider, text and vision; sorted
/// by provider then id, or best match first when there is a query.
pub fn models_view(resolver: &Resolver, q: &ModelsQuery) -> ModelsView {
    let set = resolver.set();
    let found: Vec<(usize, usize)> =
        match q.query.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(text) => resolver.search(text),
            None => set
                .providers
                .iter()
                .enumerate()
                .flat_map(|(pi, e)| (0..e.provider.models.len()).map(move |mi| (pi, mi)))
                .collect(),
        };
    let mut rows = Vec::new();
    for (pi, mi) in found {
        let entry = &set.providers[pi];
        let m = &entry.provider.models[mi];
        if (q.scope == Scope::Configured && !entry.access.is_usable())
            || (!q.providers.is_empty()
                && !q
                    .providers
                    .iter()
                    .any(|p| p.eq_ignore_ascii_case(&entry.provider.id)))
            || (q.vision_only && !m.has_image_input())
        {
            continue;
        }
        rows.push(row(entry, m));
    }
    let total = rows.len();
    rows.truncate(q.limit.unwrap_or(usize::MAX));
    ModelsView {
        source: set.origin.kind.clone(),
        catalog: set.origin.catalog.clone(),
        scope: q.scope,
        usable_providers: set.usable_ids().into_iter().map(str::to_owned).collect(),
        total,
        models: rows,
        warnings: set.warnings.clone(),
    }
}

/// The in-process implementation: loads everything locally, once.
#[derive(Debug, Clone)]
pub struct Local {
    knowledge: Knowledge,
}

impl Local {
    /// Loads from OpenCode's files and the environment.
    pub fn load(paths: &Paths, env: &Environment) -> Result<Self, Error> {
        Ok(Self {
            knowledge: Knowledge::load_local(paths, env)?,
        })
    }

    /// Loads providers from a running OpenCode server; profiles still come from the files.
    pub async fn load_live(url: &str, paths: &Paths, env: &Environment) -> Result<Self, Error> {
        use crate::sources::ProviderSource;
        let set = crate::sources::live::LiveSource::new(url)?.load().await?;
        let profiles = load_orchestrator(paths, env)?;
        Ok(Self {
            knowledge: Knowledge::new(set, profiles),
        })
    }

    /// From existing knowledge.
    pub fn new(knowledge: Knowledge) -> Self {
        Self { knowledge }
    }
}

impl Orchestrator for Local {
    async fn models(&self, q: &ModelsQuery) -> Result<ModelsView, Error> {
        Ok(self.knowledge.models_view(q))
    }

    async fn resolve(&self, q: &ResolveQuery) -> Result<ResolveView, Error> {
        self.knowledge.resolve_view(q)
    }

    async fn profiles(&self) -> Result<ProfilesView, Error> {
        Ok(self.knowledge.profiles_view())
    }

    async fn workers(&self) -> Result<WorkersView, Error> {
        Ok(crate::mcp::NoWorkerManager::new(self.knowledge.clone())
            .workers()
            .await)
    }

    async fn set_model(&self, _req: &SetModelRequest) -> Result<WorkerRow, Error> {
        Err(needs_backend("worker.model.set"))
    }

    async fn reset_model(&self, _worker: &str) -> Result<WorkerRow, Error> {
        Err(needs_backend("worker.model.reset"))
    }

    async fn run(&self, _req: &RunRequest) -> Result<TaskRow, Error> {
        Err(needs_backend("running a task"))
    }

    async fn await_tasks(
        &self,
        _ids: &[String],
        _timeout: std::time::Duration,
    ) -> Result<AwaitView, Error> {
        Err(needs_backend("awaiting tasks"))
    }

    async fn tasks(&self, _q: &TasksQuery) -> Result<TasksView, Error> {
        Err(needs_backend("listing tasks"))
    }

    async fn cancel(&self, _ids: &[String]) -> Result<CancelView, Error> {
        Err(needs_backend("cancelling tasks"))
    }

    async fn status(&self) -> Result<StatusView, Error> {
        Err(needs_backend("the backend status"))
    }
}
