//! The read-only views, computed from [`Knowledge`] once for every implementation of
//! the `Orchestrator` trait and for the MCP tools: models, resolve, profiles, tag
//! previews, the workers view of a service without workers, and the fit check (can a
//! worker use a model, and if not why).

use crate::error::{Error, ErrorKind};
use crate::knowledge::Knowledge;
use crate::profiles::Profile;
use crate::resolve::{Policy, Request, by_similarity, fit, shown};
use crate::sources::ProviderEntry;
use crate::wire::{
    ModelRow, ModelsQuery, ModelsView, ProfileRow, ProfilesView, ResolveQuery, ResolveView, Scope,
    TagPreviewRow, TagPreviewsView, TagRow, WorkerRow, WorkerStatus, WorkersView,
};

fn row(
    entry: &ProviderEntry,
    m: &crate::catalog::Model,
    text: Result<(), fit::NotText>,
) -> ModelRow {
    ModelRow {
        model: format!("{}/{}", entry.provider.id, m.id),
        provider: entry.provider.id.clone(),
        name: m.name.clone(),
        source: entry.access,
        usable: entry.access.is_usable(),
        image: m.capabilities.input.image,
        tool_call: m.capabilities.tool_call,
        reasoning: m.capabilities.reasoning,
        attachment: m.capabilities.attachment,
        context: m.limit.context,
        output: m.limit.output,
        cost_input: (!m.cost.unknown).then_some(m.cost.input),
        cost_output: (!m.cost.unknown).then_some(m.cost.output),
        status: m.status,
        release_date: m.release_date.clone(),
        default: entry.default_model.as_deref() == Some(m.id.as_str()),
        not_text: text.err(),
        health: None,
    }
}

/// Lists models: usable (or all) providers, filtered by provider, text and vision; sorted
/// by provider then id, or best match first when there is a query.
pub fn models(knowledge: &Knowledge, q: &ModelsQuery) -> ModelsView {
    let resolver = &knowledge.resolver;
    let needs = q
        .worker
        .as_deref()
        .and_then(|w| knowledge.profiles.get(w))
        .map(fit::Needs::of);
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
        // The cheap filters first: the text-work rule is precomputed for usable providers
        // only, and computing it for the 8,000 models of the others costs milliseconds.
        if (q.scope == Scope::Configured && !entry.access.is_usable())
            || (!q.providers.is_empty()
                && !q
                    .providers
                    .iter()
                    .any(|p| p.eq_ignore_ascii_case(&entry.provider.id)))
        {
            continue;
        }
        let text = resolver.text_work_at(pi, mi);
        // Vision-only is what the vision worker is offered: text work with image input.
        if (q.vision_only && (!m.has_image_input() || text.is_err()))
            || needs
                .as_ref()
                .is_some_and(|n| !fit::reasons_given(m, text, n, None).is_empty())
        {
            continue;
        }
        rows.push(row(entry, m, text));
    }
    let total = rows.len();
    rows.truncate(q.limit.unwrap_or(usize::MAX));
    ModelsView {
        source: set.origin.kind,
        catalog: set.origin.catalog.clone(),
        scope: q.scope,
        usable_providers: set.usable_ids().into_iter().map(str::to_owned).collect(),
        total,
        models: rows,
        warnings: set.warnings.clone(),
    }
}

/// Refuses a provider filter naming a provider nobody knows (`orch models --provider
/// nope`), with the provider ids that look alike, closest first; an empty list would read
/// as "that provider has no models".
pub fn known_providers(knowledge: &Knowledge, providers: &[String]) -> Result<(), Error> {
    let set = knowledge.resolver.set();
    let ids: Vec<&str> = set
        .providers
        .iter()
        .map(|e| e.provider.id.as_str())
        .collect();
    for p in providers {
        if ids.iter().any(|id| id.eq_ignore_ascii_case(p)) {
            continue;
        }
        let mut suggestions = by_similarity(p, ids.iter().copied());
        suggestions.truncate(SUGGESTED_PROVIDERS);
        return Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "unknown provider \"{}\"; did you mean: {}",
                shown(p),
                suggestions.join(", ")
            ),
        )
        .with_suggestions(suggestions));
    }
    Ok(())
}

/// How many provider ids an unknown provider's error suggests.
const SUGGESTED_PROVIDERS: usize = 5;

/// [`models`], after checking that the worker and the providers the query names exist.
pub fn models_checked(knowledge: &Knowledge, q: &ModelsQuery) -> Result<ModelsView, Error> {
    if let Some(worker) = q.worker.as_deref() {
        knowledge.profile(worker)?;
    }
    known_providers(knowledge, &q.providers)?;
    Ok(models(knowledge, q))
}

/// What a reference resolves to, for a worker when one is named.
pub fn resolve(knowledge: &Knowledge, q: &ResolveQuery) -> Result<ResolveView, Error> {
    let worker = match q.worker.as_deref() {
        Some(id) => Some(knowledge.profile(id)?),
        None => None,
    };
    let resolution = knowledge.resolver.resolve(
        &Request::new(&q.reference)
            .for_worker(worker)
            .with_policy(q.policy),
    )?;
    Ok(ResolveView {
        worker: worker.map(|w| w.id.clone()),
        resolution,
    })
}

/// A profile's configured model now: what it resolves to and why (or why not).
fn configured(knowledge: &Knowledge, p: &Profile) -> (Option<String>, String) {
    match knowledge.resolver.resolve_profile(p, Policy::default()) {
        Ok(r) => (Some(r.resolved_model), r.reason),
        Err(e) => (None, e.to_string()),
    }
}

/// Why a worker's resolved model does not fit it (a model set with `--force`, or a
/// profile that names one explicitly), for the row's `warning`.
pub fn fit_warning(
    knowledge: &Knowledge,
    p: &Profile,
    resolved: Option<&crate::resolve::Resolution>,
) -> Option<String> {
    knowledge.resolver.fit_warning(resolved?, p)
}

/// Profiles with what each resolves to now, the user tags and the files read.
pub fn profiles(knowledge: &Knowledge) -> ProfilesView {
    let profiles = knowledge
        .profiles
        .list
        .iter()
        .map(|p| {
            let (resolved_model, reason) = configured(knowledge, p);
            ProfileRow {
                id: p.id.clone(),
                name: p.name.clone(),
                purpose: p.purpose.clone(),
                when_to_use: p.when_to_use.clone(),
                model_ref: p.model.display(),
                resolved_model,
                reason,
                backend: p.backend,
                vision: p.vision,
                web: p.web,
                tools: p.tools.clone(),
                defined_in: p.defined_in.clone(),
            }
        })
        .collect();
    ProfilesView {
        profiles,
        tags: knowledge
            .profiles
            .tags
            .iter()
            .map(|(tag, refs)| TagRow {
                tag: tag.clone(),
                refs: refs.clone(),
            })
            .collect(),
        files: knowledge
            .profiles
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect(),
    }
}

/// Marks the rows of models that have failures on record (`[cooling 25 s (429)]`,
/// `[unusable (401)]`), from the health view.
pub fn mark_health(view: &mut crate::wire::ModelsView, health: &crate::wire::HealthView) {
    for row in &mut view.models {
        let provider_mark = format!("{}/*", row.provider);
        let found = health
            .models
            .iter()
            .find(|h| h.model == provider_mark)
            .or_else(|| {
                health
                    .models
                    .iter()
                    .find(|h| h.model == row.model && h.state != "ok")
            });
        row.health = found.map(|h| {
            let last = h
                .last_status_code
                .map(|c| c.to_string())
                .or(h.last_class.map(|c| c.to_string()))
                .unwrap_or_default();
            match h.cooldown_left_s {
                Some(s) if h.state == "cooling" => format!("cooling {s} s ({last})"),
                _ => format!("{} ({last})", h.state),
            }
        });
    }
}

/// A worker's row before anything about its process is known: idle, on `model_ref`
/// under `policy`, with what it resolves to (or `None`) and why. Services fill in the rest.
pub fn worker_row(
    p: &Profile,
    model_ref: String,
    policy: Policy,
    overridden: bool,
    (resolved_model, reason): (Option<String>, String),
) -> WorkerRow {
    WorkerRow {
        id: p.id.clone(),
        name: p.name.clone(),
        status: WorkerStatus::Idle,
        backend: p.backend,
        model_ref,
        resolved_model,
        policy,
        reason,
        overridden,
        answered_by: None,
        vision: p.vision,
        pid: None,
        url: None,
        port: None,
        session_id: None,
        error: None,
        warning: None,
        fallback: None,
        hosting: None,
        budget: None,
        usage: None,
    }
}

/// The workers view when no worker manager runs: every worker idle, on its configured
/// model.
pub fn idle_workers(knowledge: &Knowledge) -> WorkersView {
    let workers = knowledge
        .profiles
        .list
        .iter()
        .map(|p| {
            let resolved = knowledge.resolver.resolve_profile(p, Policy::default());
            let warning = fit_warning(knowledge, p, resolved.as_ref().ok());
            let configured = match resolved {
                Ok(r) => (Some(r.resolved_model), r.reason),
                Err(e) => (None, e.to_string()),
            };
            WorkerRow {
                warning,
                ..worker_row(p, p.model.display(), Policy::default(), false, configured)
            }
        })
        .collect();
    WorkersView {
        workers,
        ..WorkersView::default()
    }
}

/// Every tag (built-in, then the user's) and what it resolves to now for `worker`.
pub fn tag_previews(knowledge: &Knowledge, worker: &str) -> Result<TagPreviewsView, Error> {
    let profile = knowledge.profile(worker)?;
    let tags = knowledge
        .resolver
        .preview_tags(Some(profile))
        .into_iter()
        .map(|p| {
            let (resolution, error) = match p.result {
                Ok(r) => (Some(r), None),
                Err(e) => (None, Some(Error::from(e))),
            };
            TagPreviewRow {
                tag: p.tag,
                user: p.user,
                resolution,
                error,
            }
        })
        .collect();
    Ok(TagPreviewsView {
        worker: profile.id.clone(),
        tags,
    })
}

/// Why `worker` cannot be given `model`, when it cannot: every worker needs a model that
/// does text work, a worker that needs image input needs a model that takes images, and
/// the model's provider must be usable here. (Tool calls and context are checked by the
/// backend when the model is set: `Resolver::check_fit`.)
pub fn unfit(worker: &WorkerRow, model: &ModelRow) -> Option<String> {
    if let Some(kind) = model.not_text {
        Some(format!(
            "not for text work: it is {} (pick a model that answers in text)",
            kind.describe()
        ))
    } else if worker.vision && !model.image {
        Some(format!(
            "no image input: the {} worker needs one (pick a model marked img)",
            worker.id
        ))
    } else if !model.usable {
        Some(format!(
            "provider {} is not usable here ({}): set its API key or run /connect in OpenCode",
            model.provider, model.source
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::Profiles;
    use crate::sources::Access;
    use crate::wire::ModelStatus;

    fn model(image: bool, access: Access) -> ModelRow {
        ModelRow {
            model: "p/m".into(),
            provider: "p".into(),
            name: "M".into(),
            source: access,
            usable: access.is_usable(),
            image,
            tool_call: true,
            reasoning: false,
            attachment: false,
            context: 0,
            output: 0,
            cost_input: None,
            cost_output: None,
            status: ModelStatus::Active,
            release_date: String::new(),
            default: false,
            not_text: None,
            health: None,
        }
    }

    #[test]
    fn models_in_cooldown_or_of_a_refused_provider_are_marked() {
        use crate::wire::{FailureClass, HealthRow, HealthView, ModelsView, Origin, Scope};
        let health_row = |model: &str, state: &str, left: Option<u64>, code: u16| HealthRow {
            model: model.into(),
            state: state.into(),
            consecutive_failures: 1,
            last_class: Some(FailureClass::RateLimited),
            last_status_code: Some(code),
            last_error: None,
            cooldown_until_ms: left.map(|s| s * 1000),
            cooldown_left_s: left,
            updated_at_ms: 0,
        };
        let mut a = model(false, Access::Config);
        a.model = "p/a".into();
        a.provider = "p".into();
        let mut b = a.clone();
        b.model = "p/b".into();
        let mut c = a.clone();
        c.model = "q/c".into();
        c.provider = "q".into();
        let mut d = c.clone();
        d.model = "q/d".into();
        let mut view = ModelsView {
            source: Origin::Local,
            catalog: String::new(),
            scope: Scope::Configured,
            usable_providers: Vec::new(),
            total: 4,
            models: vec![a, b, c, d],
            warnings: Vec::new(),
        };
        let health = HealthView {
            models: vec![
                health_row("q/*", "unusable", None, 401),
                health_row("p/a", "cooling", Some(25), 429),
                health_row("p/b", "ok", None, 500),
            ],
            path: None,
        };
        mark_health(&mut view, &health);
        let marks: Vec<Option<&str>> = view.models.iter().map(|m| m.health.as_deref()).collect();
        assert_eq!(
            marks,
            [
                Some("cooling 25 s (429)"),
                None,
                Some("unusable (401)"),
                Some("unusable (401)")
            ]
        );
        assert!(
            crate::render::models(&view, crate::wire::Format::Table)
                .contains("p/a [cooling 25 s (429)]")
        );
        let shown = crate::render::health(&health, crate::wire::Format::Table);
        assert!(
            shown.contains("until its credentials or config change"),
            "{shown}"
        );
    }

    #[test]
    fn a_worker_fits_a_usable_model_with_the_input_it_needs() {
        let profiles = Profiles::builtin();
        let vision = profiles.get("vision").expect("a vision profile");
        let docs = profiles.get("docs").expect("a docs profile");
        let row = |p| {
            worker_row(
                p,
                String::new(),
                Policy::default(),
                false,
                (None, String::new()),
            )
        };
        let (vision, docs) = (row(vision), row(docs));
        assert_eq!(unfit(&docs, &model(false, Access::Env)), None);
        assert_eq!(unfit(&vision, &model(true, Access::Config)), None);
        let why =
            unfit(&vision, &model(false, Access::Env)).expect("the model is unfit: no image input");
        assert!(
            why.starts_with("no image input: the vision worker"),
            "{why}"
        );
        let why = unfit(&docs, &model(true, Access::NoCredentials))
            .expect("the model is unfit: unusable");
        assert_eq!(
            why,
            "provider p is not usable here (none): set its API key or run /connect in OpenCode"
        );
        let embedding = ModelRow {
            not_text: Some(crate::wire::NotText::Embedding),
            ..model(true, Access::Env)
        };
        for worker in [&docs, &vision] {
            let why = unfit(worker, &embedding).expect("an embedding model is unfit");
            assert_eq!(
                why,
                "not for text work: it is an embedding model (pick a model that answers in text)"
            );
        }
    }
}
