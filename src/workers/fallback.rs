//! Which models a task may run on, in order: the run-time fallback plan
//! (`docs/model-selection.md`, "Run-time fallback").
//!
//! The first candidate is what the resolver picked for the worker's model (a reference or
//! a chain). After it come the chain's other entries that resolve, in order (a user tag
//! stands for its own entries unless it says `"fallback": "none"`), then, for each entry
//! that is a built-in tag, that tag's ranked candidates for the worker. Every candidate
//! must fit the worker (a vision worker only gets models with image input) and have a
//! usable provider; at most [`MAX_CANDIDATES`] are kept. A profile with
//! `"fallback": "none"` keeps only the first. Health then orders them: models in cooldown
//! go after every healthy one, models of a provider that refused its credentials are
//! dropped (unless nothing else is left: then they are tried), and the plan's notes say so.

use std::collections::BTreeSet;

use super::health::{Health, Verdict};
use crate::profiles::{Fallback, ModelSpec, Profile};
use crate::resolve::tags::Tag;
use crate::resolve::{Policy, Request, Resolution, Resolver};

/// The most models one task is tried on.
pub const MAX_CANDIDATES: usize = 8;
/// How deep user tags may nest while the plan expands them.
const MAX_DEPTH: usize = 8;

/// One model a task may run on.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Its resolution for the worker.
    pub resolution: Resolution,
    /// Where it comes from: `entry 2 of the chain (node)`, `candidate 3 of node:fast`.
    pub origin: String,
}

/// The candidates in the order they are tried, and why some were moved or dropped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// In order; empty when health dropped every one.
    pub candidates: Vec<Candidate>,
    /// `skipped x/y (cooling down for 25 s after 429)`, one per model health moved or dropped.
    pub notes: Vec<String>,
}

/// Whether a resolved model fits the worker: usable, and with image input for a vision
/// worker. (The catalog-wide fit rules of issue 11's "models that fit the worker" belong
/// in the resolver; this is the run-time guard that a fallback never crosses.)
pub fn fits(profile: &Profile, r: &Resolution) -> Result<(), String> {
    if !r.metadata.usable {
        return Err(format!("provider {} is not usable", r.metadata.provider));
    }
    if profile.vision && !r.metadata.capabilities.input.image {
        return Err("no image input, and the worker needs it".into());
    }
    Ok(())
}

struct Expander<'a> {
    resolver: &'a Resolver,
    profile: &'a Profile,
    tag_fallback: &'a std::collections::BTreeMap<String, Fallback>,
    /// Entries, flattened, with their origin.
    entries: Vec<(String, String)>,
    /// Built-in tags met, for their ranked candidates after the entries.
    tags: Vec<String>,
}

impl Expander<'_> {
    fn expand(&mut self, reference: &str, origin: String, depth: usize) {
        let reference = reference.trim();
        if depth > MAX_DEPTH {
            return;
        }
        if let Some(entries) = self.resolver.user_tags().get(reference) {
            if self.tag_fallback.get(reference) == Some(&Fallback::None) {
                self.entries.push((reference.to_owned(), origin));
                return;
            }
            for (i, e) in entries.iter().enumerate() {
                let o = format!("entry {} of tag {reference} ({})", i + 1, e.trim());
                self.expand(e, o, depth + 1);
            }
            return;
        }
        self.entries.push((reference.to_owned(), origin));
        if Tag::parse(reference).is_some() {
            self.tags.push(reference.to_owned());
        }
    }

    fn resolve(&self, reference: &str, policy: Policy) -> Option<Resolution> {
        let r = self
            .resolver
            .resolve(
                &Request::new(reference)
                    .for_worker(Some(self.profile))
                    .with_policy(policy),
            )
            .ok()?;
        fits(self.profile, &r).ok()?;
        // A fallback never goes to a model that does not fit the worker (not text work,
        // no tool calls for a worker with tools, no image input for a vision worker).
        self.resolver.check_fit(&r, self.profile, None).ok()?;
        Some(r)
    }
}

/// The plan for a task on `profile` whose model is `spec`, resolved to `first`.
/// `fingerprint(provider)` is the provider's credentials fingerprint now (see
/// [`super::health`]).
#[expect(
    clippy::too_many_arguments,
    reason = "each input is one fact of the decision"
)]
pub fn plan(
    resolver: &Resolver,
    tag_fallback: &std::collections::BTreeMap<String, Fallback>,
    profile: &Profile,
    spec: &ModelSpec,
    policy: Policy,
    first: Resolution,
    health: &Health,
    fingerprint: &dyn Fn(&str) -> String,
    now_ms: u64,
) -> Plan {
    let mut seen = BTreeSet::from([first.resolved_model.clone()]);
    let mut candidates = vec![Candidate {
        origin: "the worker's model".into(),
        resolution: first,
    }];
    if profile.fallback == Fallback::Ranked {
        let mut x = Expander {
            resolver,
            profile,
            tag_fallback,
            entries: Vec::new(),
            tags: Vec::new(),
        };
        let refs = spec.refs();
        for (i, r) in refs.iter().enumerate() {
            let origin = if refs.len() > 1 {
                format!("entry {} of the chain ({})", i + 1, r.trim())
            } else {
                r.trim().to_owned()
            };
            x.expand(r, origin, 0);
        }
        let mut ranked = Vec::new();
        for tag in &x.tags {
            for (i, m) in resolver
                .ranked_tag(tag, Some(profile), MAX_CANDIDATES)
                .into_iter()
                .enumerate()
            {
                ranked.push((m, format!("candidate {} of {tag}", i + 1)));
            }
        }
        for (reference, origin) in x.entries.iter().cloned().chain(ranked) {
            if candidates.len() >= MAX_CANDIDATES {
                break;
            }
            if let Some(resolution) = x.resolve(&reference, policy)
                && seen.insert(resolution.resolved_model.clone())
            {
                candidates.push(Candidate { resolution, origin });
            }
        }
    }
    let mut healthy = Vec::new();
    let mut cooling = Vec::new();
    let mut refused = Vec::new();
    let mut notes = Vec::new();
    for c in candidates {
        let model = &c.resolution.resolved_model;
        match health.verdict(model, &fingerprint(&c.resolution.metadata.provider), now_ms) {
            Verdict::Ok => healthy.push(c),
            v @ Verdict::Cooling { .. } => {
                notes.push(format!("deferred {model} ({})", v.describe()));
                cooling.push(c);
            }
            v @ Verdict::Unusable { .. } => {
                notes.push(format!("skipped {model} ({})", v.describe()));
                refused.push(c);
            }
        }
    }
    healthy.extend(cooling);
    if healthy.is_empty() && !refused.is_empty() {
        // Nothing else fits: a refused provider is tried rather than failing unasked (its
        // credentials may have been fixed in a way the fingerprint cannot see).
        notes.push("tried anyway: nothing else fits the worker".into());
        healthy = refused;
    }
    Plan {
        candidates: healthy,
        notes,
    }
}
