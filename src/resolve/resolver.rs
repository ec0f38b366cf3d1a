//! The one resolver: every code path that turns a model reference into a model calls it.

use std::cmp::{Ordering, Reverse};
use std::collections::BTreeMap;
use std::sync::Arc;

use super::error::{Ranked, ResolveError, shell_word, shown};
use super::fit::{self, Needs};
use super::index::{ModelIndex, Query, strip_version};
use super::similar::{self, by_similarity};
use super::tags::{self, TAGS, Tag};
use super::types::{Candidate, Metadata, Policy, RefKind, Resolution, Skipped};
use crate::catalog::Model;
use crate::profiles::{MAX_REF_LEN, ModelSpec, Profile};
use crate::sources::{Access, ProviderEntry, ProviderSet};

/// Most suggestions in one error.
const MAX_SUGGESTIONS: usize = 20;
/// How many matches a suggestion list looks at to find [`MAX_SUGGESTIONS`] different models.
const SUGGESTION_POOL: usize = 400;
/// Most candidates kept in a resolution.
const MAX_CANDIDATES: usize = 10;
/// Deepest nesting of user tags.
const MAX_DEPTH: usize = 8;

/// What to resolve, and for whom.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The reference as the user wrote it.
    pub reference: &'a str,
    /// The worker it is for, when there is one (a vision worker needs image input).
    pub worker: Option<&'a Profile>,
    /// The policy to record.
    pub policy: Policy,
    /// The task's estimated tokens ([`fit::estimate_tokens`]), when resolving for one task:
    /// models whose context cannot hold it are skipped.
    pub tokens: Option<u64>,
}

impl<'a> Request<'a> {
    /// A request for a reference, with no worker and the default policy.
    pub fn new(reference: &'a str) -> Self {
        Self {
            reference,
            worker: None,
            policy: Policy::default(),
            tokens: None,
        }
    }

    /// For a task of this many estimated tokens.
    pub fn with_tokens(mut self, tokens: Option<u64>) -> Self {
        self.tokens = tokens;
        self
    }

    /// For this worker.
    pub fn for_worker(mut self, worker: Option<&'a Profile>) -> Self {
        self.worker = worker;
        self
    }

    /// With this policy.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }
}

/// A tag and what it resolves to right now.
#[derive(Debug, Clone)]
pub struct TagPreview {
    /// The tag.
    pub tag: String,
    /// Whether it is user-defined.
    pub user: bool,
    /// Its resolution, or why it fails.
    pub result: Result<Resolution, ResolveError>,
}

/// Resolves references against one provider set and one set of user tags.
#[derive(Debug, Clone)]
pub struct Resolver {
    set: Arc<ProviderSet>,
    index: ModelIndex,
    tags: BTreeMap<String, Vec<String>>,
    /// [`fit::text_work`] of every model of a usable provider (empty for the others), by
    /// provider and model index: computed once, so that ranking runs no marker search.
    text: Vec<Vec<Result<(), fit::NotText>>>,
}

/// Which providers' models a scan looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Among {
    /// Every provider.
    All,
    /// Usable providers only.
    Usable,
    /// Providers that are not usable.
    Unusable,
    /// One provider, by index.
    Provider(usize),
}

struct Pick {
    provider: usize,
    model: usize,
    kind: RefKind,
    reason: String,
    considered: usize,
    candidates: Vec<Candidate>,
    skipped: Vec<Skipped>,
    /// Chain entries that name a model (or provider) that does not exist.
    missing: Vec<Skipped>,
}

struct Ctx<'a> {
    worker: Option<&'a Profile>,
    /// What the worker needs of a model (text work alone when there is no worker).
    needs: Needs,
    /// The task's estimated tokens, when resolving for one task.
    tokens: Option<u64>,
    stack: Vec<String>,
}

impl<'a> Ctx<'a> {
    fn new(worker: Option<&'a Profile>, tokens: Option<u64>) -> Self {
        Self {
            worker,
            needs: worker.map_or_else(Needs::text_work, Needs::of),
            tokens,
            stack: Vec::new(),
        }
    }

    fn need_image(&self) -> bool {
        self.worker.is_some_and(|w| w.vision)
    }

    fn worker_id(&self) -> String {
        self.worker
            .map_or_else(|| "vision".to_owned(), |w| w.id.clone())
    }
}

/// The first `limit` of `items` under `order`, sorted, and how many items there were.
/// `order` must be total, so that selecting then sorting gives the same top as a full sort
/// (without sorting thousands of models).
fn top<T>(
    mut items: Vec<T>,
    limit: usize,
    mut order: impl FnMut(&T, &T) -> Ordering,
) -> (Vec<T>, usize) {
    let total = items.len();
    if limit < total {
        items.select_nth_unstable_by(limit, &mut order);
        items.truncate(limit);
    }
    items.sort_unstable_by(order);
    (items, total)
}

fn access_rank(a: Access) -> u8 {
    match a {
        Access::Config => 0,
        Access::Api => 1,
        Access::Env => 2,
        Access::Custom => 3,
        Access::NoCredentials => 4,
        Access::Disabled => 5,
        Access::NotEnabled => 6,
    }
}

fn describe_access(entry: &ProviderEntry) -> String {
    let id = &entry.provider.id;
    match entry.access {
        Access::Config => format!("provider {id} is declared in the OpenCode config"),
        Access::Api => format!("provider {id} has a key from /connect"),
        Access::Env => format!("provider {id} has a key in the environment"),
        Access::Custom => format!("provider {id} is loaded by OpenCode itself"),
        other => other.why_unusable(&entry.provider).unwrap_or_default(),
    }
}

impl Resolver {
    /// A resolver over `set` with user tags `tags`.
    pub fn new(set: Arc<ProviderSet>, tags: BTreeMap<String, Vec<String>>) -> Self {
        let index = ModelIndex::build(&set);
        let text = set
            .providers
            .iter()
            .map(|e| {
                if e.access.is_usable() {
                    e.provider.models.iter().map(fit::text_work).collect()
                } else {
                    Vec::new()
                }
            })
            .collect();
        Self {
            set,
            index,
            tags,
            text,
        }
    }

    /// The provider set it resolves against.
    pub fn set(&self) -> &ProviderSet {
        &self.set
    }

    /// The shared provider set.
    pub fn set_arc(&self) -> Arc<ProviderSet> {
        Arc::clone(&self.set)
    }

    /// User-defined tags.
    pub fn user_tags(&self) -> &BTreeMap<String, Vec<String>> {
        &self.tags
    }

    /// Resolves one reference.
    pub fn resolve(&self, req: &Request<'_>) -> Result<Resolution, ResolveError> {
        let reference = validate(req.reference)?;
        let mut ctx = Ctx::new(req.worker, req.tokens);
        let pick = self.resolve_ref(reference, &mut ctx)?;
        Ok(self.finish(reference, req.policy, pick))
    }

    /// Resolves a profile's configured model (one reference or a fallback chain) for it.
    pub fn resolve_profile(
        &self,
        profile: &Profile,
        policy: Policy,
    ) -> Result<Resolution, ResolveError> {
        self.resolve_profile_for(profile, policy, None)
    }

    /// [`Self::resolve_profile`] for one task of `tokens` estimated tokens: models whose
    /// context cannot hold it are skipped.
    pub fn resolve_profile_for(
        &self,
        profile: &Profile,
        policy: Policy,
        tokens: Option<u64>,
    ) -> Result<Resolution, ResolveError> {
        self.resolve_spec_for(&profile.model, Some(profile), policy, tokens)
    }

    /// Resolves one reference or a fallback chain for `worker` (a chain: the first entry
    /// that resolves to a usable model wins; the reason names the entries skipped).
    pub fn resolve_spec(
        &self,
        spec: &ModelSpec,
        worker: Option<&Profile>,
        policy: Policy,
    ) -> Result<Resolution, ResolveError> {
        self.resolve_spec_for(spec, worker, policy, None)
    }

    /// [`Self::resolve_spec`] for one task of `tokens` estimated tokens.
    pub fn resolve_spec_for(
        &self,
        spec: &ModelSpec,
        worker: Option<&Profile>,
        policy: Policy,
        tokens: Option<u64>,
    ) -> Result<Resolution, ResolveError> {
        match spec {
            ModelSpec::One(r) => self.resolve(
                &Request::new(r)
                    .for_worker(worker)
                    .with_policy(policy)
                    .with_tokens(tokens),
            ),
            ModelSpec::Chain(refs) => {
                let label = match worker {
                    Some(p) if *spec == p.model => format!("profile {}", p.id),
                    _ => "chain".to_owned(),
                };
                let mut ctx = Ctx::new(worker, tokens);
                for r in refs {
                    validate(r)?;
                }
                let pick = self.chain(&label, refs, &mut ctx, RefKind::Chain)?;
                Ok(self.finish(&spec.display(), policy, pick))
            }
        }
    }

    /// A built-in tag's candidates for `worker`, best first, as `provider/model` (at most
    /// `limit`): the order a task falls back along at run time (`fallback: "ranked"`).
    /// Empty for a reference that is not a built-in tag.
    pub fn ranked_tag(
        &self,
        reference: &str,
        worker: Option<&Profile>,
        limit: usize,
    ) -> Vec<String> {
        let Some(tag) = Tag::parse(reference.trim()) else {
            return Vec::new();
        };
        let need_image = tag == Tag::Vision || worker.is_some_and(|w| w.vision);
        // Only models that fit the worker (text work, tool calls, image input).
        let ctx = Ctx::new(worker, None);
        let (ranked, _) = self.rank_tag(tag, need_image, limit, |pi, mi| self.fits(&ctx, pi, mi));
        ranked
            .into_iter()
            .map(|(_, pi, mi)| self.model_ref(pi, mi))
            .collect()
    }

    /// Every tag (built-in, then user-defined) and what it resolves to now for `worker`.
    pub fn preview_tags(&self, worker: Option<&Profile>) -> Vec<TagPreview> {
        let builtin = Tag::ALL.iter().map(|t| (t.name().to_owned(), false));
        let user = self
            .tags
            .keys()
            .filter(|t| Tag::parse(t).is_none())
            .map(|t| (t.clone(), true));
        builtin
            .chain(user)
            .map(|(tag, user)| TagPreview {
                result: self.resolve(&Request::new(&tag).for_worker(worker)),
                tag,
                user,
            })
            .collect()
    }

    /// Every model matching `text` by id or name, best first: (provider index, model index)
    /// into the provider set.
    pub fn search(&self, text: &str) -> Vec<(usize, usize)> {
        let entries = &self.index.entries;
        self.matches(&Query::new(text), Among::All, |_| true)
            .into_iter()
            .map(|(_, _, i)| (entries[i].provider, entries[i].model))
            .collect()
    }

    fn resolve_ref(&self, r: &str, ctx: &mut Ctx<'_>) -> Result<Pick, ResolveError> {
        if let Some(chain) = self.tags.get(r) {
            return self.user_tag(r, chain, ctx);
        }
        if let Some(tag) = Tag::parse(r) {
            return self.tag(r, tag, ctx);
        }
        if Tag::looks_like_tag(r) {
            let mut suggestions: Vec<String> = TAGS.iter().map(|t| (*t).to_owned()).collect();
            suggestions.extend(self.tags.keys().cloned());
            suggestions.truncate(MAX_SUGGESTIONS);
            return Err(ResolveError::UnknownTag {
                reference: r.to_owned(),
                suggestions,
            });
        }
        if let Some((p, m)) = r.split_once('/') {
            let (p, m) = (p.trim(), m.trim());
            if p.is_empty() || m.is_empty() {
                let message = match (p.is_empty(), m.is_empty()) {
                    (true, true) => "expected provider/model, like openai/gpt-5",
                    (true, false) => {
                        "the provider part before '/' is empty; expected provider/model"
                    }
                    _ => "the model part after '/' is empty; expected provider/model",
                };
                return Err(ResolveError::Invalid {
                    reference: r.to_owned(),
                    message: message.into(),
                });
            }
            if let Some(pi) = self.provider_index(p) {
                return self.explicit(r, pi, m, ctx);
            }
            // Not a provider: perhaps a model id that contains '/' (`meta-llama/llama-4`).
            // When only providers without credentials offer it, saying so (and naming them)
            // helps more than "unknown provider".
            return match self.fuzzy(r, ctx) {
                Err(ResolveError::NoMatch { detail, .. }) if detail.is_empty() => {
                    Err(ResolveError::UnknownProvider {
                        reference: r.to_owned(),
                        provider: p.to_owned(),
                        suggestions: self.provider_suggestions(p),
                    })
                }
                other => other,
            };
        }
        self.fuzzy(r, ctx)
    }

    fn provider_index(&self, id: &str) -> Option<usize> {
        let providers = &self.set.providers;
        providers
            .binary_search_by(|p| p.provider.id.as_str().cmp(id))
            .ok()
            .or_else(|| {
                providers
                    .iter()
                    .position(|p| p.provider.id.eq_ignore_ascii_case(id))
            })
    }

    fn entry(&self, pi: usize) -> &ProviderEntry {
        &self.set.providers[pi]
    }

    fn model(&self, pi: usize, mi: usize) -> &Model {
        &self.set.providers[pi].provider.models[mi]
    }

    /// Whether model `mi` of provider `pi` does text work ([`fit::text_work`]).
    pub fn text_work_at(&self, pi: usize, mi: usize) -> Result<(), fit::NotText> {
        match self.text.get(pi).and_then(|p| p.get(mi)) {
            Some(known) => *known,
            None => fit::text_work(self.model(pi, mi)),
        }
    }

    /// Why model `mi` of provider `pi` does not fit `ctx`: not text work; for a worker,
    /// what it needs; for a task, a context that cannot hold it. Empty when it fits.
    fn unfit(&self, ctx: &Ctx<'_>, pi: usize, mi: usize) -> Vec<fit::Unfit> {
        fit::reasons_given(
            self.model(pi, mi),
            self.text_work_at(pi, mi),
            &ctx.needs,
            ctx.tokens,
        )
    }

    fn fits(&self, ctx: &Ctx<'_>, pi: usize, mi: usize) -> bool {
        self.unfit(ctx, pi, mi).is_empty()
    }

    fn model_ref(&self, pi: usize, mi: usize) -> String {
        format!("{}/{}", self.entry(pi).provider.id, self.model(pi, mi).id)
    }

    fn explicit(
        &self,
        r: &str,
        pi: usize,
        model_id: &str,
        ctx: &Ctx<'_>,
    ) -> Result<Pick, ResolveError> {
        let entry = self.entry(pi);
        let models = &entry.provider.models;
        let mut how = "";
        let mi = match models.binary_search_by(|m| m.id.as_str().cmp(model_id)) {
            Ok(i) => Some(i),
            Err(_) => {
                let lower = model_id.to_lowercase();
                let by_case: Vec<usize> = (0..models.len())
                    .filter(|&i| models[i].id.to_lowercase() == lower)
                    .collect();
                let base = strip_version(&lower);
                let by_base: Vec<usize> = (0..models.len())
                    .filter(|&i| strip_version(&models[i].id.to_lowercase()) == base)
                    .collect();
                if by_case.len() == 1 {
                    how = " (case ignored)";
                    by_case.first().copied()
                } else if by_base.len() == 1 {
                    how = " (version suffix ignored)";
                    by_base.first().copied()
                } else {
                    None
                }
            }
        };
        let Some(mi) = mi else {
            let (suggestions, more, search) = self.suggest_in_provider(pi, model_id);
            return Err(ResolveError::UnknownModel {
                reference: r.to_owned(),
                provider: entry.provider.id.clone(),
                model: model_id.to_owned(),
                suggestions: Ranked::new(suggestions, more, search),
            });
        };
        let model = self.model(pi, mi);
        let resolved = self.model_ref(pi, mi);
        if ctx.need_image() && !model.has_image_input() {
            return Err(ResolveError::NotVision {
                worker: ctx.worker_id(),
                model: resolved,
                suggestions: self.vision_suggestions(),
            });
        }
        let unfit = self.unfit(ctx, pi, mi);
        // For one task, a context that cannot hold it is final: the task would fail.
        if ctx.tokens.is_some()
            && unfit
                .iter()
                .any(|u| matches!(u, fit::Unfit::ContextTooSmall { .. }))
        {
            return Err(self.unfit_error(&resolved, &unfit, ctx, String::new()));
        }
        let mut reason = if entry.access.is_usable() {
            format!(
                "explicit reference to {resolved}{how}; {}",
                describe_access(entry)
            )
        } else {
            format!(
                "explicit reference to {resolved}{how}; {}, so OpenCode cannot call it until then",
                describe_access(entry)
            )
        };
        if !unfit.is_empty() {
            reason.push_str(&format!(
                "; warning: it does not fit {}: {}",
                target(ctx.worker),
                fit::describe_all(&unfit, &ctx.worker_id())
            ));
        }
        Ok(Pick {
            provider: pi,
            model: mi,
            kind: RefKind::Explicit,
            reason,
            considered: 1,
            candidates: vec![self.candidate(pi, mi, 1000, "explicit reference".into())],
            skipped: Vec::new(),
            missing: Vec::new(),
        })
    }

    fn candidate(&self, pi: usize, mi: usize, score: i64, notes: String) -> Candidate {
        Candidate {
            model: self.model_ref(pi, mi),
            name: self.model(pi, mi).name.clone(),
            score,
            usable: self.entry(pi).access.is_usable(),
            notes,
        }
    }

    /// Matches of a query among the models of `among` accepted by `keep`, best first.
    fn matches(
        &self,
        q: &Query,
        among: Among,
        keep: impl Fn(usize) -> bool,
    ) -> Vec<(i64, &'static str, usize)> {
        self.top_matches(q, among, keep, usize::MAX).0
    }

    /// The best `limit` matches, best first, and how many matched in all. Entries the query
    /// cannot match are skipped on their [`Key`](super::index::Key) alone; `keep` sees the rest.
    fn top_matches(
        &self,
        q: &Query,
        among: Among,
        keep: impl Fn(usize) -> bool,
        limit: usize,
    ) -> (Vec<(i64, &'static str, usize)>, usize) {
        let entries = &self.index.entries;
        let keys = &self.index.keys;
        let providers = &self.set.providers;
        let mut out: Vec<(i64, &'static str, usize)> = Vec::new();
        // Plain loops: this is the one scan over the whole catalog, and it must stay tight.
        for (pi, range) in self.index.ranges.iter().enumerate() {
            let wanted = match among {
                Among::All => true,
                Among::Usable => providers[pi].access.is_usable(),
                Among::Unusable => !providers[pi].access.is_usable(),
                Among::Provider(p) => pi == p,
            };
            if !wanted {
                continue;
            }
            let start = range.start;
            for (offset, key) in keys[range.clone()].iter().enumerate() {
                let i = start + offset;
                if q.may_match(key)
                    && keep(i)
                    && let Some((score, note)) = q.score(&entries[i])
                {
                    out.push((score, note, i));
                }
            }
        }
        // Total: provider and model id last (see `top`).
        let order = |a: &(i64, &str, usize), b: &(i64, &str, usize)| {
            let (ea, eb) = (&entries[a.2], &entries[b.2]);
            let (ma, mb) = (
                self.model(ea.provider, ea.model),
                self.model(eb.provider, eb.model),
            );
            b.0.cmp(&a.0)
                .then(access_rank(ea.access).cmp(&access_rank(eb.access)))
                .then(ma.status.cmp(&mb.status))
                .then(mb.release_date.cmp(&ma.release_date))
                .then(ea.provider.cmp(&eb.provider))
                .then(ma.id.cmp(&mb.id))
        };
        top(out, limit, order)
    }

    fn fuzzy(&self, r: &str, ctx: &Ctx<'_>) -> Result<Pick, ResolveError> {
        let q = Query::new(r);
        let need_image = ctx.need_image();
        let entries = &self.index.entries;
        let found = self.matches(&q, Among::Usable, |i| {
            let (pi, mi) = (entries[i].provider, entries[i].model);
            (!need_image || self.model(pi, mi).has_image_input()) && self.fits(ctx, pi, mi)
        });
        if found.is_empty() {
            return Err(self.no_match(r, &q, ctx));
        }
        // A partial match (prefix, substring, words) is ambiguous when the best kind of
        // match fits models of more than one identity; exact matches are not.
        let (top, top_note) = (found[0].0, found[0].1);
        let partial = top < 880;
        let contenders: Vec<&(i64, &str, usize)> = if partial {
            found.iter().filter(|m| m.1 == top_note).collect()
        } else {
            found.iter().take_while(|m| m.0 == top).collect()
        };
        // `gpt-4o` and `gpt4o` are one model: identities compare letters and digits only.
        let first_identity = &entries[found[0].2].compact_identity;
        if contenders
            .iter()
            .any(|m| entries[m.2].compact_identity != *first_identity)
        {
            // Models that call tools (what a worker needs) before the others (image or
            // speech models), each group in match order.
            let mut ranked = contenders.clone();
            ranked.sort_by_key(|m| {
                !self
                    .model(entries[m.2].provider, entries[m.2].model)
                    .capabilities
                    .tool_call
            });
            return Err(ResolveError::Ambiguous {
                reference: r.to_owned(),
                count: contenders.len(),
                suggestions: self.distinct(ranked.iter().map(|m| m.2)),
            });
        }
        let tied: Vec<&(i64, &str, usize)> = found.iter().take_while(|m| m.0 == top).collect();
        let (score, note, i) = found[0];
        let (pi, mi) = (entries[i].provider, entries[i].model);
        let resolved = self.model_ref(pi, mi);
        let usable_count = self.set.usable_model_count();
        let mut reason = format!(
            "\"{}\" matched {resolved} by {note} (score {score}), best of {} matching among {usable_count} usable models",
            shown(r),
            found.len()
        );
        if tied.len() > 1 {
            let others: Vec<String> = tied[1..]
                .iter()
                .take(3)
                .map(|m| self.model_ref(entries[m.2].provider, entries[m.2].model))
                .collect();
            reason.push_str(&format!(
                "; the same model is also offered as {}, {} was preferred (source {})",
                others.join(", "),
                self.entry(pi).provider.id,
                self.entry(pi).access.label()
            ));
        }
        Ok(Pick {
            provider: pi,
            model: mi,
            kind: RefKind::Fuzzy,
            reason,
            considered: found.len(),
            candidates: found
                .iter()
                .take(MAX_CANDIDATES)
                .map(|&(s, n, i)| {
                    self.candidate(entries[i].provider, entries[i].model, s, n.to_owned())
                })
                .collect(),
            skipped: Vec::new(),
            missing: Vec::new(),
        })
    }

    /// Explains a fuzzy reference that matched no usable model.
    fn no_match(&self, r: &str, q: &Query, ctx: &Ctx<'_>) -> ResolveError {
        let entries = &self.index.entries;
        let (plain, _) = self.top_matches(q, Among::Usable, |_| true, 1);
        if let Some(&(_, _, i)) = plain.first() {
            let (pi, mi) = (entries[i].provider, entries[i].model);
            if ctx.need_image() && !self.model(pi, mi).has_image_input() {
                return ResolveError::NotVision {
                    worker: ctx.worker_id(),
                    model: self.model_ref(pi, mi),
                    suggestions: self.vision_suggestions(),
                };
            }
            let unfit = self.unfit(ctx, pi, mi);
            if !unfit.is_empty() {
                return self.unfit_error(&self.model_ref(pi, mi), &unfit, ctx, String::new());
            }
        }
        let (elsewhere, count) = self.top_matches(q, Among::Unusable, |_| true, SUGGESTION_POOL);
        if !elsewhere.is_empty() {
            let mut providers: Vec<&ProviderEntry> = elsewhere
                .iter()
                .map(|m| self.entry(entries[m.2].provider))
                .collect();
            providers.dedup_by(|a, b| a.provider.id == b.provider.id);
            let hint = providers
                .first()
                .and_then(|p| p.access.why_unusable(&p.provider))
                .unwrap_or_default();
            let suggestions = self.distinct(elsewhere.iter().map(|m| m.2));
            let more = count.saturating_sub(suggestions.len());
            let search = format!("--scope all -q {}", shell_word(r));
            return ResolveError::NoMatch {
                reference: r.to_owned(),
                detail: format!(
                    "; {count} models match in providers you cannot use yet ({hint}); name one as provider/model to use it anyway"
                ),
                suggestions: Ranked::new(suggestions, more, search),
            };
        }
        // Nothing matches as a whole: offer models matching its longest word, else the tags
        // and each usable provider's default.
        let text = r.to_lowercase();
        let mut words: Vec<&str> = text
            .split(|c: char| c.is_whitespace() || matches!(c, '-' | '_' | '.' | '/' | ':'))
            .filter(|w| w.len() >= 2)
            .collect();
        words.sort_by_key(|w| Reverse(w.len()));
        let (closest, total, word) = words
            .iter()
            .map(|w| {
                let (m, total) =
                    self.top_matches(&Query::new(w), Among::Usable, |_| true, SUGGESTION_POOL);
                (m, total, *w)
            })
            .find(|(m, _, _)| !m.is_empty())
            .unwrap_or_default();
        let mut suggestions = self.distinct(closest.iter().map(|m| m.2));
        let more = total.saturating_sub(suggestions.len());
        let search = format!("-q {}", shell_word(word));
        if suggestions.is_empty() {
            suggestions.extend(TAGS.iter().take(5).map(|t| (*t).to_owned()));
            suggestions.extend(self.set.usable().filter_map(|p| {
                p.default_model
                    .as_ref()
                    .map(|m| format!("{}/{m}", p.provider.id))
            }));
            suggestions.truncate(MAX_SUGGESTIONS);
        }
        ResolveError::NoMatch {
            reference: r.to_owned(),
            detail: String::new(),
            suggestions: Ranked::new(suggestions, more, search),
        }
    }

    /// Up to [`MAX_SUGGESTIONS`] references of index entries, in order, one per model: an
    /// entry whose model (its identity, letters and digits only) is already listed from
    /// another provider is left out, so that "did you mean" offers different models.
    fn distinct(&self, matches: impl Iterator<Item = usize>) -> Vec<String> {
        let entries = &self.index.entries;
        let mut seen: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        for i in matches {
            let e = &entries[i];
            if seen.contains(&&*e.compact_identity) {
                continue;
            }
            seen.push(&e.compact_identity);
            out.push(self.model_ref(e.provider, e.model));
            if out.len() == MAX_SUGGESTIONS {
                break;
            }
        }
        out
    }

    /// Models of provider `pi` like `model_id`, closest first; how many more there are;
    /// and the `orch models` arguments that list them all. Models matching the whole id
    /// come first; else those sharing its longest word, those that call tools first, then
    /// closest in spelling (`gpt-9` offers `gpt-5` and `gpt-4` before `gpt-image-1`).
    fn suggest_in_provider(&self, pi: usize, model_id: &str) -> (Vec<String>, usize, String) {
        let entries = &self.index.entries;
        let in_provider = Among::Provider(pi);
        let provider = &self.entry(pi).provider.id;
        let (found, total) = self.top_matches(
            &Query::new(model_id),
            in_provider,
            |_| true,
            MAX_SUGGESTIONS,
        );
        if !found.is_empty() {
            let out: Vec<String> = found
                .iter()
                .map(|m| self.model_ref(pi, entries[m.2].model))
                .collect();
            let search = format!("--provider {provider} -q {}", shell_word(model_id));
            return (out, total.saturating_sub(MAX_SUGGESTIONS), search);
        }
        let lower = model_id.to_lowercase();
        let word = lower
            .split(['-', '_', '.', '/', ':'])
            .max_by_key(|w| w.len())
            .unwrap_or_default();
        let alike = self.matches(&Query::new(word), in_provider, |_| true);
        let ids: Vec<&str> = alike
            .iter()
            .map(|m| self.model(pi, entries[m.2].model).id.as_str())
            .collect();
        let mut ranked = by_similarity(model_id, ids);
        // Models that call tools before image, speech or embedding models, each group
        // closest first.
        let models = &self.entry(pi).provider.models;
        ranked.sort_by_key(|id| {
            !models
                .binary_search_by(|m| m.id.as_str().cmp(id))
                .is_ok_and(|i| models[i].capabilities.tool_call)
        });
        let more = ranked.len().saturating_sub(MAX_SUGGESTIONS);
        let mut out: Vec<String> = ranked
            .into_iter()
            .take(MAX_SUGGESTIONS)
            .map(|id| format!("{provider}/{id}"))
            .collect();
        if out.is_empty() {
            // A typo (`gpt-5-mimi`): the ids a few edits away.
            let entry = self.entry(pi);
            out.extend(
                similar::within_typos(
                    model_id,
                    entry.provider.models.iter().map(|m| m.id.as_str()),
                )
                .into_iter()
                .take(MAX_SUGGESTIONS)
                .map(|m| format!("{}/{m}", entry.provider.id)),
            );
        }
        if out.is_empty() {
            let entry = self.entry(pi);
            out.extend(
                entry
                    .default_model
                    .iter()
                    .map(|m| format!("{}/{m}", entry.provider.id)),
            );
        }
        let search = format!("--provider {provider} -q {}", shell_word(word));
        (out, more, search)
    }

    fn provider_suggestions(&self, p: &str) -> Vec<String> {
        let p = p.to_lowercase();
        let head: String = p.chars().take(3).collect();
        let mut out: Vec<(u8, &str)> = self
            .set
            .providers
            .iter()
            .map(|e| e.provider.id.as_str())
            .filter_map(|id| {
                if id.contains(&p) || (!id.is_empty() && p.contains(id)) {
                    Some((0, id))
                } else if !head.is_empty() && id.starts_with(&head) {
                    Some((1, id))
                } else {
                    None
                }
            })
            .collect();
        out.sort();
        out.into_iter()
            .take(MAX_SUGGESTIONS)
            .map(|(_, id)| id.to_owned())
            .collect()
    }

    fn vision_suggestions(&self) -> Vec<String> {
        let (ranked, _) = self.rank_tag(Tag::Vision, true, MAX_SUGGESTIONS, |_, _| true);
        ranked
            .into_iter()
            .map(|(_, pi, mi)| self.model_ref(pi, mi))
            .collect()
    }

    /// What the tag scorer knows about model `mi` of provider `pi` beyond the model itself.
    fn tag_context(&self, pi: usize, mi: usize, need_image: bool) -> tags::Context<'_> {
        let entry = self.entry(pi);
        let m = self.model(pi, mi);
        let is_config_model = self.set.model.as_deref().is_some_and(|c| {
            c.split_once('/')
                .is_some_and(|(p, id)| p == entry.provider.id && id == m.id)
        });
        tags::Context {
            provider: entry,
            is_config_model,
            is_default: entry.default_model.as_deref() == Some(m.id.as_str()),
            need_image,
        }
    }

    /// The best `limit` usable models for a tag, best first: (score, provider, model); and
    /// how many qualify in all.
    fn rank_tag(
        &self,
        tag: Tag,
        need_image: bool,
        limit: usize,
        keep: impl Fn(usize, usize) -> bool,
    ) -> (Vec<(i64, usize, usize)>, usize) {
        let mut out = Vec::new();
        for (pi, entry) in self.set.providers.iter().enumerate() {
            if !entry.access.is_usable() {
                continue;
            }
            for (mi, m) in entry.provider.models.iter().enumerate() {
                // Tags are for text work: never an embedding, speech, image or guard model.
                if self.text_work_at(pi, mi).is_ok()
                    && let Some(s) = tags::points(tag, m, &self.tag_context(pi, mi, need_image))
                    && keep(pi, mi)
                {
                    out.push((s, pi, mi));
                }
            }
        }
        // Total: provider index and model id last (see `top`).
        let order = |a: &(i64, usize, usize), b: &(i64, usize, usize)| {
            let (ma, mb) = (self.model(a.1, a.2), self.model(b.1, b.2));
            b.0.cmp(&a.0)
                .then(mb.release_date.cmp(&ma.release_date))
                .then(a.1.cmp(&b.1))
                .then(ma.id.cmp(&mb.id))
        };
        top(out, limit, order)
    }

    /// Why a model scored what it did for a tag.
    fn tag_notes(&self, tag: Tag, need_image: bool, pi: usize, mi: usize) -> String {
        tags::score(
            tag,
            self.model(pi, mi),
            &self.tag_context(pi, mi, need_image),
        )
        .map(|(_, notes)| notes)
        .unwrap_or_default()
    }

    /// OpenCode's `model` or `small_model`, which must name a usable model (with image
    /// input when needed).
    fn configured(
        &self,
        value: &str,
        need_image: bool,
        ctx: &Ctx<'_>,
    ) -> Result<(usize, usize), String> {
        if value.starts_with("{file:") && value.ends_with('}') {
            // The loader shows a substituted file by its name when it names no model.
            return Err(format!("the content of {value} is not provider/model"));
        }
        let Some((p, m)) = value.split_once('/') else {
            return Err(format!("{} is not provider/model", shown(value)));
        };
        let Some(pi) = self.provider_index(p) else {
            return Err(format!("unknown provider {}", shown(p)));
        };
        let entry = self.entry(pi);
        let Ok(mi) = entry
            .provider
            .models
            .binary_search_by(|x| x.id.as_str().cmp(m))
        else {
            return Err(format!(
                "provider {} has no model {}",
                entry.provider.id,
                shown(m)
            ));
        };
        if !entry.access.is_usable() {
            return Err(entry
                .access
                .why_unusable(&entry.provider)
                .unwrap_or_default());
        }
        if need_image && !self.model(pi, mi).has_image_input() {
            return Err(format!("{} has no image input", self.model_ref(pi, mi)));
        }
        let unfit = self.unfit(ctx, pi, mi);
        if !unfit.is_empty() {
            return Err(format!(
                "{} does not fit {}: {}",
                self.model_ref(pi, mi),
                target(ctx.worker),
                fit::describe_all(&unfit, &ctx.worker_id())
            ));
        }
        Ok((pi, mi))
    }

    fn tag(&self, r: &str, tag: Tag, ctx: &Ctx<'_>) -> Result<Pick, ResolveError> {
        let need_image = tag == Tag::Vision || ctx.need_image();
        let spelled = if r == tag.name() {
            tag.name().to_owned()
        } else {
            format!("{r} (= {})", tag.name())
        };
        let (configured, label) = match tag {
            Tag::Node => (self.set.model.as_deref(), "model"),
            Tag::Fast => (self.set.small_model.as_deref(), "small_model"),
            _ => (None, ""),
        };
        let mut skipped = Vec::new();
        let mut why_not_configured = String::new();
        if !label.is_empty() {
            match configured {
                Some(value) => match self.configured(value, need_image, ctx) {
                    Ok((pi, mi)) => {
                        let resolved = self.model_ref(pi, mi);
                        return Ok(Pick {
                            provider: pi,
                            model: mi,
                            kind: RefKind::Tag,
                            reason: format!(
                                "{spelled} → {resolved}: {label} from the OpenCode config"
                            ),
                            considered: 1,
                            candidates: vec![self.candidate(
                                pi,
                                mi,
                                1000,
                                format!("{label} from the OpenCode config"),
                            )],
                            skipped,
                            missing: Vec::new(),
                        });
                    }
                    Err(why) => {
                        why_not_configured = format!("{label} {} skipped ({why})", shown(value));
                        skipped.push(Skipped {
                            reference: value.to_owned(),
                            why,
                        });
                    }
                },
                None => why_not_configured = format!("{label} is not set in the OpenCode config"),
            }
        }
        let (ranked, qualified) = self.rank_tag(tag, need_image, MAX_CANDIDATES, |pi, mi| {
            self.fits(ctx, pi, mi)
        });
        let Some(&(score, pi, mi)) = ranked.first() else {
            let usable = self.set.usable_model_count();
            if need_image {
                return Err(ResolveError::NoVisionModel {
                    reference: r.to_owned(),
                    worker: ctx.worker.map(|w| w.id.clone()),
                    checked: usable,
                });
            }
            let detail = if usable == 0 {
                "no provider is usable".to_owned()
            } else if tag == Tag::Cheap {
                format!(
                    "none of {usable} usable models that fit {} has a known price (a model without one is never taken for the cheapest)",
                    target(ctx.worker)
                )
            } else {
                format!(
                    "none of {usable} usable models takes text in and gives text out and fits {}",
                    target(ctx.worker)
                )
            };
            return Err(ResolveError::NoUsableModel {
                reference: r.to_owned(),
                detail,
            });
        };
        let resolved = self.model_ref(pi, mi);
        let mut reason = format!("{spelled} → {resolved}: ");
        if !why_not_configured.is_empty() {
            reason.push_str(&why_not_configured);
            reason.push_str("; ");
        }
        let need = if need_image && tag != Tag::Vision {
            " with image input"
        } else {
            ""
        };
        let notes = self.tag_notes(tag, need_image, pi, mi);
        if tag == Tag::Cheap {
            reason.push_str(&format!(
                "cheapest of {qualified} usable models{need} with a known price ({notes})"
            ));
        } else {
            reason.push_str(&format!(
                "best of {qualified} usable models{need} for {} (score {score}: {notes})",
                tag.purpose()
            ));
        }
        Ok(Pick {
            provider: pi,
            model: mi,
            kind: RefKind::Tag,
            reason,
            considered: qualified,
            candidates: ranked
                .into_iter()
                .map(|(s, pi, mi)| {
                    self.candidate(pi, mi, s, self.tag_notes(tag, need_image, pi, mi))
                })
                .collect(),
            skipped,
            missing: Vec::new(),
        })
    }

    fn user_tag(&self, r: &str, refs: &[String], ctx: &mut Ctx<'_>) -> Result<Pick, ResolveError> {
        let mut path = ctx.stack.clone();
        path.push(r.to_owned());
        if ctx.stack.iter().any(|s| s == r) {
            return Err(ResolveError::TagCycle {
                reference: r.to_owned(),
                path: path.join(" → "),
            });
        }
        if ctx.stack.len() >= MAX_DEPTH {
            return Err(ResolveError::TagTooDeep {
                reference: path.first().cloned().unwrap_or_default(),
                depth: MAX_DEPTH,
                path: path.join(" → "),
            });
        }
        ctx.stack.push(r.to_owned());
        let result = self.chain(r, refs, ctx, RefKind::UserTag);
        ctx.stack.pop();
        result
    }

    fn chain(
        &self,
        label: &str,
        refs: &[String],
        ctx: &mut Ctx<'_>,
        kind: RefKind,
    ) -> Result<Pick, ResolveError> {
        let mut skipped: Vec<Skipped> = Vec::new();
        let mut missing: Vec<Skipped> = Vec::new();
        for (i, entry) in refs.iter().enumerate() {
            let entry = entry.trim();
            match self.resolve_ref(entry, ctx) {
                Ok(pick)
                    if self.entry(pick.provider).access.is_usable()
                        && !self.fits(ctx, pick.provider, pick.model) =>
                {
                    let unfit = self.unfit(ctx, pick.provider, pick.model);
                    skipped.push(Skipped {
                        reference: entry.to_owned(),
                        why: format!(
                            "{} does not fit {}: {}",
                            self.model_ref(pick.provider, pick.model),
                            target(ctx.worker),
                            fit::describe_all(&unfit, &ctx.worker_id())
                        ),
                    });
                }
                Ok(mut pick) if self.entry(pick.provider).access.is_usable() => {
                    let resolved = self.model_ref(pick.provider, pick.model);
                    let mut reason = format!(
                        "{} → {resolved}: entry {} of {} ({}): {}",
                        shown(label),
                        i + 1,
                        refs.len(),
                        shown(entry),
                        pick.reason
                    );
                    if !skipped.is_empty() {
                        let list: Vec<String> = skipped
                            .iter()
                            .map(|s| format!("{} ({})", shown(&s.reference), s.why))
                            .collect();
                        reason.push_str(&format!("; skipped {}", list.join("; ")));
                    }
                    // Later entries are not needed now, but a run-time fallback may need
                    // them: one that names no model is said now, not when a task fails.
                    let later = self.missing_entries(&refs[i + 1..], ctx);
                    if !later.is_empty() {
                        let list: Vec<String> = later
                            .iter()
                            .map(|s| format!("{} ({})", shown(&s.reference), s.why))
                            .collect();
                        reason.push_str(&format!(
                            "; later entries name no model: {}",
                            list.join("; ")
                        ));
                    }
                    missing.append(&mut pick.missing);
                    missing.extend(later);
                    skipped.append(&mut pick.skipped);
                    pick.skipped = skipped;
                    pick.missing = missing;
                    pick.reason = reason;
                    pick.kind = kind;
                    return Ok(pick);
                }
                Ok(pick) => skipped.push(Skipped {
                    reference: entry.to_owned(),
                    why: describe_access(self.entry(pick.provider)),
                }),
                Err(e @ (ResolveError::TagCycle { .. } | ResolveError::TagTooDeep { .. })) => {
                    return Err(e);
                }
                Err(e) => {
                    if missing_why(&e) {
                        missing.push(Skipped {
                            reference: entry.to_owned(),
                            why: e.to_string(),
                        });
                    }
                    skipped.push(Skipped {
                        reference: entry.to_owned(),
                        why: e.to_string(),
                    });
                }
            }
        }
        Err(ResolveError::ChainExhausted {
            reference: label.to_owned(),
            skipped,
        })
    }

    /// The entries of `refs` that name a model or provider that does not exist, and why
    /// (with the "did you mean" of the error).
    fn missing_entries(&self, refs: &[String], ctx: &mut Ctx<'_>) -> Vec<Skipped> {
        refs.iter()
            .filter_map(|r| {
                let r = r.trim();
                let e = self.resolve_ref(r, ctx).err()?;
                missing_why(&e).then(|| Skipped {
                    reference: r.to_owned(),
                    why: e.to_string(),
                })
            })
            .collect()
    }

    /// The error of a resolution that named a model that does not fit `ctx`, with the
    /// closest models that do; `hint` ends the message.
    fn unfit_error(
        &self,
        model: &str,
        unfit: &[fit::Unfit],
        ctx: &Ctx<'_>,
        hint: String,
    ) -> ResolveError {
        let id = model.split_once('/').map_or(model, |(_, m)| m);
        ResolveError::Unfit(Box::new(super::error::UnfitModel {
            worker: ctx.worker.map(|w| w.id.clone()),
            model: model.to_owned(),
            why: fit::describe_all(unfit, &ctx.worker_id()),
            hint,
            suggestions: self.fitting(id, ctx),
        }))
    }

    /// The closest usable models to `model_id` that fit `ctx`: matches of the whole id,
    /// else of its longest word that matches any, then the best for general work.
    fn fitting(&self, model_id: &str, ctx: &Ctx<'_>) -> Vec<String> {
        let entries = &self.index.entries;
        let keep = |i: usize| self.fits(ctx, entries[i].provider, entries[i].model);
        let text = model_id.to_lowercase();
        let mut words: Vec<&str> = text
            .split(|c: char| !c.is_alphanumeric() && c != '.')
            .filter(|w| w.len() >= 3 && !w.chars().all(|c| c.is_ascii_digit()))
            .collect();
        words.sort_by_key(|w| Reverse(w.len()));
        let mut out: Vec<String> = std::iter::once(text.as_str())
            .chain(words)
            .map(|w| {
                self.top_matches(&Query::new(w), Among::Usable, keep, MAX_SUGGESTIONS / 2)
                    .0
            })
            .find(|m| !m.is_empty())
            .unwrap_or_default()
            .iter()
            .map(|m| self.model_ref(entries[m.2].provider, entries[m.2].model))
            .collect();
        let tag = if ctx.need_image() {
            Tag::Vision
        } else {
            Tag::Node
        };
        let (best, _) = self.rank_tag(tag, ctx.need_image(), 5, |pi, mi| self.fits(ctx, pi, mi));
        for (_, pi, mi) in best {
            let r = self.model_ref(pi, mi);
            if !out.contains(&r) {
                out.push(r);
            }
        }
        out.truncate(MAX_SUGGESTIONS);
        out
    }

    /// Checks a resolution against the worker it is for, for a task of `tokens` estimated
    /// tokens when there is one: `Err(ResolveError::Unfit)` with the closest models that
    /// fit when it does not. `worker.model.set` refuses on it unless forced.
    pub fn check_fit(
        &self,
        resolution: &Resolution,
        worker: &Profile,
        tokens: Option<u64>,
    ) -> Result<(), ResolveError> {
        let ctx = Ctx::new(Some(worker), tokens);
        let Some(m) = self.find_model(&resolution.metadata.provider, &resolution.metadata.model)
        else {
            return Ok(());
        };
        let unfit = fit::reasons(m, &ctx.needs, tokens);
        if unfit.is_empty() {
            return Ok(());
        }
        Err(self.unfit_error(
            &resolution.resolved_model,
            &unfit,
            &ctx,
            "; to set it anyway, pass --force (MCP: \"force\": true)".to_owned(),
        ))
    }

    /// Why the resolved model does not fit `worker` (empty when it fits), in words; the
    /// worker row shows it as a warning.
    pub fn fit_warning(&self, resolution: &Resolution, worker: &Profile) -> Option<String> {
        let m = self.find_model(&resolution.metadata.provider, &resolution.metadata.model)?;
        let unfit = fit::reasons(m, &Needs::of(worker), None);
        (!unfit.is_empty()).then(|| {
            format!(
                "{} does not fit the {} worker: {}",
                resolution.resolved_model,
                worker.id,
                fit::describe_all(&unfit, &worker.id)
            )
        })
    }

    /// The model `model_id` of provider `provider`, exactly.
    pub fn find_model(&self, provider: &str, model_id: &str) -> Option<&Model> {
        let pi = self.provider_index(provider)?;
        self.entry(pi).provider.model(model_id)
    }

    fn finish(&self, reference: &str, policy: Policy, pick: Pick) -> Resolution {
        let entry = self.entry(pick.provider);
        let m = self.model(pick.provider, pick.model);
        Resolution {
            resolved_model: self.model_ref(pick.provider, pick.model),
            model_ref: reference.to_owned(),
            reason: pick.reason,
            policy,
            metadata: Metadata {
                kind: pick.kind,
                provider: entry.provider.id.clone(),
                model: m.id.clone(),
                name: m.name.clone(),
                provider_source: entry.access.label().to_owned(),
                usable: entry.access.is_usable(),
                capabilities: m.capabilities,
                context: m.limit.context,
                output: m.limit.output,
                cost: m.cost,
                status: m.status.as_str().to_owned(),
                considered: pick.considered,
                candidates: pick.candidates,
                skipped: pick.skipped,
                missing: pick.missing,
            },
        }
    }
}

/// Whether an error says a reference names a model or provider that does not exist (its
/// message carries the "did you mean").
fn missing_why(e: &ResolveError) -> bool {
    matches!(
        e,
        ResolveError::UnknownModel { .. } | ResolveError::UnknownProvider { .. }
    )
}

/// Who a fit is judged for, in words.
fn target(worker: Option<&Profile>) -> String {
    worker.map_or_else(
        || "text work".to_owned(),
        |w| format!("the {} worker", w.id),
    )
}

/// Trims and checks a reference before anything looks it up.
pub fn validate(r: &str) -> Result<&str, ResolveError> {
    let t = r.trim();
    if t.is_empty() {
        return Err(ResolveError::Empty);
    }
    if t.len() > MAX_REF_LEN {
        return Err(ResolveError::Invalid {
            reference: t.chars().take(100).collect(),
            message: format!("it is {} bytes long; the limit is {MAX_REF_LEN}", t.len()),
        });
    }
    if t.chars().any(char::is_control) {
        return Err(ResolveError::Invalid {
            reference: t.to_owned(),
            message: "it contains control characters".into(),
        });
    }
    Ok(t)
}
