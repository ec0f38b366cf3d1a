//! Resolver tests, table-driven: explicit references, fuzzy scoring, tags, user tags and
//! fallback chains, the vision rule, and the reasons every result carries.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::tags::TAGS;
use super::{Policy, RefKind, Request, Resolution, ResolveError, Resolver};
use crate::catalog::{
    Capabilities, Cost, Limits, Modalities, Model, ModelStatus, Provider, opencode_default_model,
};
use crate::profiles::{ModelSpec, Profile, Profiles};
use crate::sources::{Access, ProviderEntry, ProviderSet};

/// A text model with tool calls, 128k context and $1/M input.
fn model(id: &str) -> Model {
    Model {
        id: id.into(),
        name: id.into(),
        family: String::new(),
        capabilities: Capabilities {
            tool_call: true,
            input: Modalities::TEXT,
            output: Modalities::TEXT,
            ..Capabilities::default()
        },
        limit: Limits {
            context: 128_000,
            output: 16_000,
        },
        cost: Cost {
            input: 1.0,
            output: 4.0,
            ..Cost::default()
        },
        status: ModelStatus::Active,
        release_date: "2025-01-01".into(),
    }
}

/// Adjustments to a test model.
trait Tweak {
    fn image(self) -> Self;
    fn named(self, name: &str) -> Self;
    fn context(self, tokens: u64) -> Self;
    fn price(self, input: f64) -> Self;
    fn reasoning(self) -> Self;
}

impl Tweak for Model {
    fn image(mut self) -> Self {
        self.capabilities.input.image = true;
        self.capabilities.attachment = true;
        self
    }
    fn named(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }
    fn context(mut self, tokens: u64) -> Self {
        self.limit.context = tokens;
        self
    }
    fn price(mut self, input: f64) -> Self {
        self.cost.input = input;
        self
    }
    fn reasoning(mut self) -> Self {
        self.capabilities.reasoning = true;
        self
    }
}

fn entry(id: &str, access: Access, models: Vec<Model>) -> ProviderEntry {
    let mut provider = Provider {
        id: id.into(),
        name: id.into(),
        env: vec![format!("{}_API_KEY", id.to_uppercase())],
        npm: None,
        models,
    };
    provider.sort_models();
    ProviderEntry {
        default_model: opencode_default_model(&provider).map(|m| m.id.clone()),
        key_present: matches!(access, Access::Api | Access::Env),
        provider,
        access,
    }
}

fn set(providers: Vec<ProviderEntry>, model: Option<&str>, small: Option<&str>) -> ProviderSet {
    let mut set = ProviderSet {
        providers,
        model: model.map(str::to_owned),
        small_model: small.map(str::to_owned),
        ..ProviderSet::default()
    };
    set.sort();
    set
}

/// Models that would win every tag if their providers were usable.
fn too_good(prefix: &str) -> Vec<Model> {
    vec![
        model(&format!("{prefix}-flash-mini"))
            .image()
            .reasoning()
            .price(0.0)
            .context(2_000_000),
        model(&format!("{prefix}-ultra"))
            .image()
            .reasoning()
            .context(2_000_000),
    ]
}

/// One provider of each kind of access. OpenCode's `model` and `small_model` are passed in.
fn world_with(model_ref: Option<&str>, small: Option<&str>) -> ProviderSet {
    use Access::*;
    let mut anthropic = vec![
        model("claude-sonnet-4-5-20250929")
            .image()
            .named("Claude Sonnet 4.5"),
        model("claude-haiku-4-5").image().named("Claude Haiku 4.5"),
    ];
    anthropic.extend(too_good("claude"));
    set(
        vec![
            entry(
                "fake",
                Config,
                vec![
                    model("big-pro").named("Big Pro").context(200_000),
                    model("fast-mini").named("Fast Mini").price(0.1),
                    model("vision-pro").named("Vision Pro").image(),
                    model("shared-model"),
                ],
            ),
            entry(
                "openai",
                Api,
                vec![
                    model("gpt-5")
                        .image()
                        .reasoning()
                        .context(400_000)
                        .price(1.25),
                    model("gpt-5-mini").image().price(0.25),
                    model("gpt-4o-2024-11-20")
                        .image()
                        .named("GPT-4o (2024-11-20)"),
                    model("o3-mini").reasoning().price(1.1),
                ],
            ),
            entry(
                "groq",
                Env,
                vec![
                    model("llama-3.1-8b-instant").price(0.05).context(131_072),
                    model("meta-llama/llama-prism-4-12b").named("Llama Prism 4"),
                    model("shared-model"),
                ],
            ),
            entry(
                "opencode",
                Custom,
                vec![model("big-pickle").price(0.0).context(200_000)],
            ),
            entry("anthropic", NoCredentials, anthropic),
            entry(
                "openrouter",
                NoCredentials,
                vec![
                    model("anthropic/claude-sonnet-4.5").image(),
                    model("meta-llama/llama-4-scout").image(),
                ],
            ),
            entry("mistral", Disabled, too_good("mistral")),
            entry("xai", NotEnabled, too_good("grok")),
        ],
        model_ref,
        small,
    )
}

fn world() -> ProviderSet {
    world_with(Some("fake/big-pro"), Some("fake/fast-mini"))
}

fn tags(pairs: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.iter().map(|r| (*r).to_owned()).collect()))
        .collect()
}

fn resolver(set: ProviderSet) -> Resolver {
    Resolver::new(Arc::new(set), BTreeMap::new())
}

fn profile(id: &str) -> Profile {
    crate::testutil::builtin_profile(id)
}

fn resolve(
    r: &Resolver,
    reference: &str,
    worker: Option<&Profile>,
) -> Result<Resolution, ResolveError> {
    r.resolve(&Request::new(reference).for_worker(worker))
}

/// Checks what every successful resolution promises.
fn check_ok(r: &Resolver, res: &Resolution, what: &str) {
    assert!(!res.reason.trim().is_empty(), "{what}: empty reason");
    let (p, m) = res.provider_and_model();
    assert_eq!(res.resolved_model, format!("{p}/{m}"), "{what}");
    let entry = r
        .set()
        .get(p)
        .unwrap_or_else(|| panic!("{what}: provider {p} not in the set"));
    assert!(entry.model(m).is_some(), "{what}: model {m} not in {p}");
    assert_eq!(res.metadata.usable, entry.access.is_usable(), "{what}");
    assert_eq!(res.metadata.provider_source, entry.access.label(), "{what}");
    assert!(!res.metadata.candidates.is_empty(), "{what}: no candidates");
    assert!(
        res.metadata.candidates.len() <= 10,
        "{what}: too many candidates"
    );
}

/// (reference, worker, resolved model, kind, phrases the reason must contain)
type OkCase<'a> = (&'a str, Option<&'a str>, &'a str, RefKind, &'a [&'a str]);

#[test]
fn references_resolve_with_reasons() {
    use RefKind::*;
    let cases: &[OkCase] = &[
        // Explicit, to every kind of provider; usable or not, the reason says which.
        (
            "openai/gpt-5",
            None,
            "openai/gpt-5",
            Explicit,
            &[
                "explicit reference to openai/gpt-5",
                "has a key from /connect",
            ],
        ),
        (
            "fake/big-pro",
            None,
            "fake/big-pro",
            Explicit,
            &["declared in the OpenCode config"],
        ),
        (
            "groq/llama-3.1-8b-instant",
            None,
            "groq/llama-3.1-8b-instant",
            Explicit,
            &["has a key in the environment"],
        ),
        (
            "opencode/big-pickle",
            None,
            "opencode/big-pickle",
            Explicit,
            &["loaded by OpenCode itself"],
        ),
        (
            "anthropic/claude-sonnet-4-5-20250929",
            None,
            "anthropic/claude-sonnet-4-5-20250929",
            Explicit,
            &[
                "provider anthropic has no credentials",
                "ANTHROPIC_API_KEY",
                "cannot call it",
            ],
        ),
        (
            "mistral/mistral-ultra",
            None,
            "mistral/mistral-ultra",
            Explicit,
            &["disabled_providers"],
        ),
        (
            "xai/grok-ultra",
            None,
            "xai/grok-ultra",
            Explicit,
            &["enabled_providers"],
        ),
        // Model ids that contain '/'.
        (
            "openrouter/anthropic/claude-sonnet-4.5",
            None,
            "openrouter/anthropic/claude-sonnet-4.5",
            Explicit,
            &[
                "provider openrouter has no credentials",
                "OPENROUTER_API_KEY",
            ],
        ),
        (
            "groq/meta-llama/llama-prism-4-12b",
            None,
            "groq/meta-llama/llama-prism-4-12b",
            Explicit,
            &["has a key in the environment"],
        ),
        // Case and version suffixes are forgiven when one model fits.
        (
            "OpenAI/GPT-5",
            None,
            "openai/gpt-5",
            Explicit,
            &["(case ignored)"],
        ),
        (
            "anthropic/claude-sonnet-4-5",
            None,
            "anthropic/claude-sonnet-4-5-20250929",
            Explicit,
            &["(version suffix ignored)", "has no credentials"],
        ),
        (
            "  openai/gpt-5\t",
            None,
            "openai/gpt-5",
            Explicit,
            &["explicit reference"],
        ),
        // Fuzzy: exact id, name, version suffix, prefix, substring, words.
        (
            "gpt-5",
            None,
            "openai/gpt-5",
            Fuzzy,
            &["by exact id", "score 1000"],
        ),
        (
            "GPT-5-MINI",
            None,
            "openai/gpt-5-mini",
            Fuzzy,
            &["by exact id"],
        ),
        (
            "llama-prism-4-12b",
            None,
            "groq/meta-llama/llama-prism-4-12b",
            Fuzzy,
            &["exact id after the /"],
        ),
        (
            "meta-llama/llama-prism-4-12b",
            None,
            "groq/meta-llama/llama-prism-4-12b",
            Fuzzy,
            &["exact id"],
        ),
        ("fast mini", None, "fake/fast-mini", Fuzzy, &["exact name"]),
        (
            "gpt-4o",
            None,
            "openai/gpt-4o-2024-11-20",
            Fuzzy,
            &["version suffix ignored"],
        ),
        (
            "gpt-4o-latest",
            None,
            "openai/gpt-4o-2024-11-20",
            Fuzzy,
            &["version suffix ignored"],
        ),
        (
            "llama",
            None,
            "groq/llama-3.1-8b-instant",
            Fuzzy,
            &["id prefix"],
        ),
        (
            "pickle",
            None,
            "opencode/big-pickle",
            Fuzzy,
            &["id contains it"],
        ),
        (
            "prism 4",
            None,
            "groq/meta-llama/llama-prism-4-12b",
            Fuzzy,
            &["name contains it"],
        ),
        (
            "instant 8b",
            None,
            "groq/llama-3.1-8b-instant",
            Fuzzy,
            &["all words present"],
        ),
        // One model offered by two usable providers: the configured one is preferred.
        (
            "shared-model",
            None,
            "fake/shared-model",
            Fuzzy,
            &[
                "also offered as groq/shared-model",
                "fake was preferred (source config)",
            ],
        ),
        // Tags and their auto spellings.
        (
            "node",
            None,
            "fake/big-pro",
            Tag,
            &["node → fake/big-pro: model from the OpenCode config"],
        ),
        ("auto", None, "fake/big-pro", Tag, &["auto (= node)"]),
        (
            "node:fast",
            Some("explorer"),
            "fake/fast-mini",
            Tag,
            &["small_model from the OpenCode config"],
        ),
        (
            "auto:fast",
            None,
            "fake/fast-mini",
            Tag,
            &["auto:fast (= node:fast)"],
        ),
        (
            "node:vision",
            None,
            "fake/vision-pro",
            Tag,
            &["for image input", "score"],
        ),
        (
            "auto:vision",
            Some("vision"),
            "fake/vision-pro",
            Tag,
            &["auto:vision (= node:vision)"],
        ),
        // A vision worker gets image input, whatever the reference.
        (
            "gpt-5-mini",
            Some("vision"),
            "openai/gpt-5-mini",
            Fuzzy,
            &["exact id"],
        ),
        (
            "node",
            Some("vision"),
            "fake/vision-pro",
            Tag,
            &[
                "model fake/big-pro skipped (fake/big-pro has no image input)",
                "with image input",
            ],
        ),
        (
            "node:fast",
            Some("vision"),
            "fake/vision-pro",
            Tag,
            &["small_model fake/fast-mini skipped", "with image input"],
        ),
        (
            "anthropic/claude-haiku-4-5",
            Some("vision"),
            "anthropic/claude-haiku-4-5",
            Explicit,
            &["has no credentials"],
        ),
    ];
    let r = resolver(world());
    for (reference, worker, want, kind, phrases) in cases {
        let w = worker.map(profile);
        let what = format!("{reference:?} for {worker:?}");
        let res = resolve(&r, reference, w.as_ref()).unwrap_or_else(|e| panic!("{what}: {e}"));
        check_ok(&r, &res, &what);
        assert_eq!(res.resolved_model, *want, "{what}: {}", res.reason);
        assert_eq!(res.metadata.kind, *kind, "{what}");
        assert_eq!(res.model_ref, reference.trim(), "{what}");
        for phrase in *phrases {
            assert!(
                res.reason.contains(phrase),
                "{what}: {phrase:?} not in {:?}",
                res.reason
            );
        }
        if w.as_ref().is_some_and(|w| w.vision) {
            assert!(
                res.metadata.capabilities.input.image,
                "{what}: vision without image input"
            );
        }
    }
}

/// (reference, worker, the error, phrases its message must contain)
type ErrCase<'a> = (
    &'a str,
    Option<&'a str>,
    fn(&ResolveError) -> bool,
    &'a [&'a str],
);

#[test]
fn bad_references_fail_with_clear_messages_and_suggestions() {
    let cases: &[ErrCase] = &[
        (
            "",
            None,
            |e| matches!(e, ResolveError::Empty),
            &["empty model reference"],
        ),
        (
            " \t\n ",
            None,
            |e| matches!(e, ResolveError::Empty),
            &["empty model reference"],
        ),
        (
            "/",
            None,
            |e| matches!(e, ResolveError::Invalid { .. }),
            &["\"/\"", "expected provider/model"],
        ),
        (
            "a/",
            None,
            |e| matches!(e, ResolveError::Invalid { .. }),
            &["\"a/\"", "model part after '/' is empty"],
        ),
        (
            "/b",
            None,
            |e| matches!(e, ResolveError::Invalid { .. }),
            &["\"/b\"", "provider part before '/' is empty"],
        ),
        (
            "node:slow",
            None,
            |e| matches!(e, ResolveError::UnknownTag { .. }),
            &["unknown tag \"node:slow\"", "node:fast"],
        ),
        (
            "auto:",
            None,
            |e| matches!(e, ResolveError::UnknownTag { .. }),
            &["unknown tag"],
        ),
        (
            "openai/gpt-6",
            None,
            |e| matches!(e, ResolveError::UnknownModel { .. }) && !e.suggestions().is_empty(),
            &[
                "provider openai has no model \"gpt-6\"",
                "did you mean",
                "openai/gpt-5",
            ],
        ),
        (
            "nope/x",
            None,
            |e| matches!(e, ResolveError::UnknownProvider { .. }),
            &["unknown provider \"nope\" in \"nope/x\""],
        ),
        (
            "opena/gpt-5",
            None,
            |e| {
                matches!(e, ResolveError::UnknownProvider { .. })
                    && e.suggestions().contains(&"openai".to_owned())
            },
            &["known providers like it: openai"],
        ),
        // A model id with '/' that only an unusable provider offers: say where it is.
        (
            "meta-llama/llama-4-scout",
            None,
            |e| {
                matches!(e, ResolveError::NoMatch { .. })
                    && e.suggestions() == ["openrouter/meta-llama/llama-4-scout"]
            },
            &[
                "providers you cannot use yet",
                "openrouter has no credentials",
            ],
        ),
        (
            "claude-sonnet",
            None,
            |e| {
                matches!(e, ResolveError::NoMatch { .. })
                    && e.suggestions()
                        .iter()
                        .all(|s| s.starts_with("anthropic/") || s.starts_with("openrouter/"))
            },
            &[
                "no usable model matches \"claude-sonnet\"",
                "providers you cannot use yet",
                "name one as provider/model",
            ],
        ),
        (
            "zzz-nothing-like-it",
            None,
            |e| matches!(e, ResolveError::NoMatch { .. }),
            &["no usable model matches \"zzz-nothing-like-it\""],
        ),
        // The vision rule.
        (
            "fake/big-pro",
            Some("vision"),
            |e| matches!(e, ResolveError::NotVision { .. }) && !e.suggestions().is_empty(),
            &[
                "the vision worker needs a model with image input, but fake/big-pro has none",
                "fake/vision-pro",
            ],
        ),
        (
            "big-pro",
            Some("vision"),
            |e| matches!(e, ResolveError::NotVision { .. }),
            &["but fake/big-pro has none"],
        ),
    ];
    let r = resolver(world());
    for (reference, worker, is, phrases) in cases {
        let w = worker.map(profile);
        let what = format!("{reference:?} for {worker:?}");
        match resolve(&r, reference, w.as_ref()) {
            Ok(res) => panic!(
                "{what}: resolved to {} ({})",
                res.resolved_model, res.reason
            ),
            Err(e) => {
                let msg = e.to_string();
                assert!(is(&e), "{what}: unexpected {e:?}");
                assert!(!msg.is_empty());
                for phrase in *phrases {
                    assert!(msg.contains(phrase), "{what}: {phrase:?} not in {msg:?}");
                }
                assert!(e.suggestions().len() <= 20, "{what}: too many suggestions");
            }
        }
    }
}

#[test]
fn fuzzy_scores_exact_over_prefix_over_substring() {
    let r = resolver(set(
        vec![entry(
            "p",
            Access::Api,
            vec![
                model("mini"),
                model("mini-pro"),
                model("gpt-mini"),
                model("m").named("Mini Max"),
                model("x").named("the mini one"),
                model("claude-sonnet-4-20250514"),
            ],
        )],
        None,
        None,
    ));
    let res = resolve(&r, "mini", None).expect("the reference resolves");
    let ranked: Vec<(&str, &str)> = res
        .metadata
        .candidates
        .iter()
        .map(|c| (c.model.as_str(), c.notes.as_str()))
        .collect();
    assert_eq!(
        ranked,
        [
            ("p/mini", "exact id"),
            ("p/mini-pro", "id prefix"),
            ("p/m", "name prefix"),
            ("p/gpt-mini", "id contains it"),
            ("p/x", "name contains it"),
        ]
    );
    let scores: Vec<i64> = res.metadata.candidates.iter().map(|c| c.score).collect();
    assert!(scores.windows(2).all(|w| w[0] > w[1]), "{scores:?}");
    assert_eq!(scores[0], 1000);
    assert!((700..800).contains(&scores[1]) && (500..600).contains(&scores[3]));
    // A version suffix is ignored, and scores above any prefix match.
    let res = resolve(&r, "claude-sonnet-4", None).expect("the reference resolves");
    assert_eq!(res.resolved_model, "p/claude-sonnet-4-20250514");
    assert_eq!(res.metadata.candidates[0].score, 900);
    // The tighter prefix wins: "mini-p" covers more of "mini-pro" than of anything longer.
    let res = resolve(&r, "mini-p", None).expect("the reference resolves");
    assert_eq!(res.resolved_model, "p/mini-pro");
}

#[test]
fn ties_prefer_configured_providers_then_are_ambiguous() {
    use Access::*;
    // The same model at every kind of usable provider: config, then api, env, custom.
    let order = [(Config, "c"), (Api, "a"), (Env, "e"), (Custom, "u")];
    for skip in 0..order.len() {
        let providers = order[skip..]
            .iter()
            .map(|(access, id)| entry(id, *access, vec![model("same-model")]))
            .collect();
        let r = resolver(set(providers, None, None));
        let res = resolve(&r, "same-model", None).expect("the reference resolves");
        assert_eq!(res.resolved_model, format!("{}/same-model", order[skip].1));
    }
    // Different models tied at the top: an error listing at most 20 of them.
    let models = ('a'..='z')
        .flat_map(|a| ['x', 'y'].map(move |b| model(&format!("model-{a}{b}"))))
        .collect();
    let r = resolver(set(vec![entry("many", Api, models)], None, None));
    let err = resolve(&r, "model", None).expect_err("the reference is refused");
    match &err {
        ResolveError::Ambiguous {
            count, suggestions, ..
        } => {
            assert_eq!(*count, 52);
            assert_eq!(suggestions.len(), 20);
            assert_eq!(suggestions[0], "many/model-ax");
        }
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("\"model\" is ambiguous: 52 models match equally well"),
        "{msg}"
    );
    // A suggestion from an error resolves.
    let first = err.suggestions()[0].clone();
    assert!(resolve(&r, &first, None).is_ok());
}

#[test]
fn tags_never_pick_from_unusable_providers() {
    let profiles = Profiles::builtin();
    let workers: Vec<Option<&Profile>> = std::iter::once(None)
        .chain(profiles.list.iter().map(Some))
        .collect();
    let worlds = [
        world(),
        world_with(None, None),
        world_with(
            Some("anthropic/claude-ultra"),
            Some("anthropic/claude-flash-mini"),
        ),
        world_with(Some("mistral/mistral-ultra"), Some("xai/grok-flash-mini")),
    ];
    for set in worlds {
        let r = resolver(set);
        for tag in TAGS {
            for worker in &workers {
                let what = format!("{tag} for {:?}", worker.map(|w| &w.id));
                let res = resolve(&r, tag, *worker).unwrap_or_else(|e| panic!("{what}: {e}"));
                check_ok(&r, &res, &what);
                assert!(res.metadata.usable, "{what}: picked {}", res.resolved_model);
                assert!(
                    res.metadata.candidates.iter().all(|c| c.usable),
                    "{what}: an unusable candidate"
                );
            }
        }
    }
    // No usable provider at all: tags fail, explicit references still resolve.
    let r = resolver(set(
        vec![entry(
            "anthropic",
            Access::NoCredentials,
            too_good("claude"),
        )],
        None,
        None,
    ));
    for tag in TAGS {
        let err = resolve(&r, tag, None)
            .err()
            .unwrap_or_else(|| panic!("{tag} resolved"));
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                ResolveError::NoUsableModel { .. } | ResolveError::NoVisionModel { .. }
            ),
            "{tag}: {err:?}"
        );
        assert!(msg.contains("fix:"), "{tag}: {msg}");
    }
    assert!(resolve(&r, "anthropic/claude-ultra", None).is_ok());
}

#[test]
fn node_fast_takes_small_model_first_and_says_why_not() {
    // (small_model, resolved, phrases of the reason)
    let cases: &[(Option<&str>, Option<&str>, &[&str])] = &[
        (
            Some("fake/fast-mini"),
            Some("fake/fast-mini"),
            &["node:fast → fake/fast-mini: small_model from the OpenCode config"],
        ),
        (
            Some("groq/llama-3.1-8b-instant"),
            Some("groq/llama-3.1-8b-instant"),
            &["small_model from the OpenCode config"],
        ),
        (
            None,
            None,
            &[
                "small_model is not set in the OpenCode config",
                "best of",
                "for fast work",
            ],
        ),
        (
            Some("fake/nope"),
            None,
            &[
                "small_model fake/nope skipped (provider fake has no model nope)",
                "best of",
            ],
        ),
        (
            Some("nope/x"),
            None,
            &["small_model nope/x skipped (unknown provider nope)"],
        ),
        (
            Some("anthropic/claude-flash-mini"),
            None,
            &[
                "small_model anthropic/claude-flash-mini skipped (provider anthropic has no credentials",
            ],
        ),
        (
            Some("mistral/mistral-flash-mini"),
            None,
            &["skipped (provider mistral is in disabled_providers"],
        ),
        (
            Some("fast-mini"),
            None,
            &["small_model fast-mini skipped (fast-mini is not provider/model)"],
        ),
    ];
    for (small, want, phrases) in cases {
        let r = resolver(world_with(Some("fake/big-pro"), *small));
        let what = format!("small_model {small:?}");
        let res = resolve(&r, "node:fast", Some(&profile("explorer")))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        check_ok(&r, &res, &what);
        match want {
            Some(want) => {
                assert_eq!(res.resolved_model, *want, "{what}");
                assert!(res.metadata.skipped.is_empty(), "{what}");
            }
            None => {
                assert!(res.metadata.usable, "{what}");
                assert!(res.metadata.considered > 1, "{what}: not a scored pick");
                assert_eq!(
                    res.metadata.skipped.len(),
                    usize::from(small.is_some()),
                    "{what}"
                );
            }
        }
        for phrase in *phrases {
            assert!(
                res.reason.contains(phrase),
                "{what}: {phrase:?} not in {:?}",
                res.reason
            );
        }
    }
}

#[test]
fn node_takes_model_then_a_provider_default() {
    let r = resolver(world_with(None, None));
    let res = resolve(&r, "node", None).expect("the reference resolves");
    assert!(
        res.reason
            .contains("model is not set in the OpenCode config"),
        "{}",
        res.reason
    );
    assert!(res.reason.contains("provider default"), "{}", res.reason);
    let (p, m) = res.provider_and_model();
    assert_eq!(
        r.set().get(p).and_then(|e| e.default_model.as_deref()),
        Some(m)
    );
    // OpenCode's own order among configured providers: config first.
    assert_eq!(p, "fake");

    let r = resolver(world_with(Some("openai/o3-mini"), None));
    let res = resolve(&r, "node", None).expect("the reference resolves");
    assert_eq!(res.resolved_model, "openai/o3-mini");

    let r = resolver(world_with(Some("anthropic/claude-ultra"), None));
    let res = resolve(&r, "node", None).expect("the reference resolves");
    assert!(res.metadata.usable);
    assert!(
        res.reason.contains(
            "model anthropic/claude-ultra skipped (provider anthropic has no credentials"
        ),
        "{}",
        res.reason
    );
    assert_eq!(res.metadata.skipped.len(), 1);
}

#[test]
fn node_vision_without_a_usable_image_model_names_the_worker_and_the_fix() {
    let r = resolver(set(
        vec![
            entry("groq", Access::Env, vec![model("llama-3.1-8b-instant")]),
            entry("anthropic", Access::NoCredentials, too_good("claude")),
        ],
        Some("groq/llama-3.1-8b-instant"),
        None,
    ));
    let cases: &[(&str, Option<&str>, &str)] = &[
        (
            "node:vision",
            None,
            "orch worker-model-set vision <provider/model>",
        ),
        ("node:vision", Some("vision"), "for the vision worker"),
        (
            "node:vision",
            Some("docs"),
            "orch worker-model-set docs <provider/model>",
        ),
        (
            "auto:vision",
            Some("vision"),
            "auto:vision: no usable model accepts image input",
        ),
        ("node", Some("vision"), "for the vision worker"),
        ("node:fast", Some("vision"), "for the vision worker"),
    ];
    for (reference, worker, phrase) in cases {
        let w = worker.map(profile);
        let err = resolve(&r, reference, w.as_ref())
            .err()
            .unwrap_or_else(|| panic!("{reference} for {worker:?} resolved"));
        let msg = err.to_string();
        assert!(matches!(err, ResolveError::NoVisionModel { .. }), "{err:?}");
        for p in [
            *phrase,
            "no usable model accepts image input",
            "fix:",
            "/connect",
            "modalities",
        ] {
            assert!(
                msg.contains(p),
                "{reference} for {worker:?}: {p:?} not in {msg:?}"
            );
        }
    }
    // The resolution of the vision profile itself fails the same way.
    let err = r
        .resolve_profile(&profile("vision"), Policy::Dynamic)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("for the vision worker"), "{err}");
}

#[test]
fn user_tags_and_fallback_chains_name_the_winner_and_the_skipped() {
    let user = tags(&[
        (
            "cheap",
            &[
                "nope/x",
                "anthropic/claude-sonnet-4-5-20250929",
                "groq/llama-3.1-8b-instant",
                "openai/gpt-5",
            ],
        ),
        ("team:fast", &["cheap"]),
        ("first-wins", &["openai/gpt-5", "groq/llama-3.1-8b-instant"]),
        ("see-vision", &["fake/big-pro", "node:vision"]),
        ("dead", &["nope/x", "zzz-nothing-like-it", "xai/grok-ultra"]),
        ("loop-a", &["loop-b"]),
        ("loop-b", &["loop-a"]),
        ("self", &["nope/x", "self"]),
        ("node:fast", &["openai/gpt-5-mini"]),
    ]);
    let r = Resolver::new(Arc::new(world()), user);

    let res = resolve(&r, "cheap", None).expect("the reference resolves");
    check_ok(&r, &res, "cheap");
    assert_eq!(res.resolved_model, "groq/llama-3.1-8b-instant");
    assert_eq!(res.metadata.kind, RefKind::UserTag);
    for phrase in [
        "cheap → groq/llama-3.1-8b-instant: entry 3 of 4 (groq/llama-3.1-8b-instant)",
        "skipped nope/x (unknown provider \"nope\"",
        "anthropic/claude-sonnet-4-5-20250929 (provider anthropic has no credentials",
    ] {
        assert!(
            res.reason.contains(phrase),
            "{phrase:?} not in {:?}",
            res.reason
        );
    }
    let skipped: Vec<&str> = res
        .metadata
        .skipped
        .iter()
        .map(|s| s.reference.as_str())
        .collect();
    assert_eq!(skipped, ["nope/x", "anthropic/claude-sonnet-4-5-20250929"]);

    // Tags nest; the outer reason wraps the inner one.
    let res = resolve(&r, "team:fast", None).expect("the reference resolves");
    assert_eq!(res.resolved_model, "groq/llama-3.1-8b-instant");
    assert!(
        res.reason
            .starts_with("team:fast → groq/llama-3.1-8b-instant: entry 1 of 1 (cheap): cheap →")
    );

    let res = resolve(&r, "first-wins", None).expect("the reference resolves");
    assert_eq!(res.resolved_model, "openai/gpt-5");
    assert!(res.metadata.skipped.is_empty() && !res.reason.contains("skipped"));

    // For a vision worker, entries without image input are skipped with the reason.
    let res = resolve(&r, "see-vision", Some(&profile("vision"))).expect("the reference resolves");
    assert!(res.metadata.capabilities.input.image);
    assert!(
        res.reason
            .contains("skipped fake/big-pro (the vision worker needs a model with image input"),
        "{}",
        res.reason
    );

    // A user tag may shadow a built-in one.
    let res = resolve(&r, "node:fast", None).expect("the reference resolves");
    assert_eq!(res.resolved_model, "openai/gpt-5-mini");
    assert_eq!(res.metadata.kind, RefKind::UserTag);

    // Every entry fails: each is listed with why.
    let err = resolve(&r, "dead", None).expect_err("the dead reference is refused");
    let msg = err.to_string();
    assert!(
        matches!(err, ResolveError::ChainExhausted { .. }),
        "{err:?}"
    );
    for phrase in [
        "\"dead\": no entry of the fallback chain resolved",
        "nope/x (unknown provider",
        "zzz-nothing-like-it (no usable model matches",
        "xai/grok-ultra (provider xai is not in enabled_providers",
    ] {
        assert!(msg.contains(phrase), "{phrase:?} not in {msg:?}");
    }

    // Cycles are errors, not stack overflows.
    for (tag, path) in [
        ("loop-a", "loop-a → loop-b → loop-a"),
        ("loop-b", "loop-b → loop-a → loop-b"),
        ("self", "self → self"),
    ] {
        let err = resolve(&r, tag, None)
            .err()
            .unwrap_or_else(|| panic!("{tag} resolved"));
        assert!(
            matches!(err, ResolveError::TagCycle { .. }),
            "{tag}: {err:?}"
        );
        assert!(err.to_string().contains(path), "{tag}: {err}");
    }
    let deep: Vec<(String, Vec<String>)> = (0..20)
        .map(|i| (format!("d{i}"), vec![format!("d{}", i + 1)]))
        .collect();
    let r2 = Resolver::new(Arc::new(world()), deep.into_iter().collect());
    let deep_err = resolve(&r2, "d0", None).err();
    assert!(
        matches!(deep_err, Some(ResolveError::TagTooDeep { .. })),
        "{deep_err:?}"
    );
    assert!(deep_err.is_some_and(|e| e.to_string().contains("more than 8 deep")));
}

#[test]
fn profile_chains_resolve_in_order() {
    let r = resolver(world());
    let mut p = profile("coder");
    p.id = "reviewer".into();
    p.model = ModelSpec::Chain(vec![
        "anthropic/claude-sonnet-4-5-20250929".into(),
        "nope/x".into(),
        "node:fast".into(),
    ]);
    let res = r
        .resolve_profile(&p, Policy::Sticky)
        .expect("the profile resolves");
    check_ok(&r, &res, "reviewer");
    assert_eq!(res.resolved_model, "fake/fast-mini");
    assert_eq!(res.policy, Policy::Sticky);
    assert_eq!(res.metadata.kind, RefKind::Chain);
    assert_eq!(
        res.model_ref,
        "anthropic/claude-sonnet-4-5-20250929 > nope/x > node:fast"
    );
    assert!(res.reason.starts_with("profile reviewer → fake/fast-mini: entry 3 of 3 (node:fast): node:fast → fake/fast-mini: small_model"), "{}", res.reason);
    assert_eq!(res.metadata.skipped.len(), 2);

    // Every built-in profile resolves on a machine with usable providers.
    for p in &Profiles::builtin().list {
        let res = r
            .resolve_profile(p, Policy::Dynamic)
            .unwrap_or_else(|e| panic!("{}: {e}", p.id));
        check_ok(&r, &res, &p.id);
        assert_eq!(res.model_ref, p.model.display());
        assert!(
            !p.vision || res.metadata.capabilities.input.image,
            "{}",
            p.id
        );
    }
}

#[test]
fn resolution_is_deterministic() {
    let refs = [
        "node",
        "node:fast",
        "node:vision",
        "node:docs",
        "auto",
        "gpt",
        "mini",
        "shared-model",
        "claude",
        "openai/gpt-5",
        "openrouter/anthropic/claude-sonnet-4.5",
        "nope/x",
        "llama",
        "model",
    ];
    for set in [world(), world_with(None, None)] {
        let a = resolver(set.clone());
        let b = resolver(set);
        for reference in refs {
            for worker in [None, Some(profile("vision")), Some(profile("explorer"))] {
                let first = resolve(&a, reference, worker.as_ref());
                assert_eq!(
                    first,
                    resolve(&a, reference, worker.as_ref()),
                    "{reference}"
                );
                assert_eq!(
                    first,
                    resolve(&b, reference, worker.as_ref()),
                    "{reference}"
                );
            }
        }
        assert_eq!(
            format!("{:?}", a.preview_tags(None)),
            format!("{:?}", b.preview_tags(None))
        );
    }
}

#[test]
fn tag_previews_cover_built_in_and_user_tags() {
    let r = Resolver::new(
        Arc::new(world()),
        tags(&[("cheap", &["groq/llama-3.1-8b-instant"])]),
    );
    let previews = r.preview_tags(Some(&profile("vision")));
    let names: Vec<(&str, bool)> = previews.iter().map(|p| (p.tag.as_str(), p.user)).collect();
    assert_eq!(
        names,
        [
            ("node", false),
            ("node:fast", false),
            ("node:vision", false),
            ("node:docs", false),
            ("node:cheap", false),
            ("cheap", true),
        ]
    );
    for p in &previews[..4] {
        let res = p
            .result
            .as_ref()
            .unwrap_or_else(|e| panic!("{}: {e}", p.tag));
        assert!(res.metadata.capabilities.input.image, "{}", p.tag);
    }
    // `node:cheap` needs a known price: when it picks, it picks a model with image input.
    if let Ok(res) = &previews[4].result {
        assert!(res.metadata.capabilities.input.image, "node:cheap");
    }
    // The user tag's only entry has no image input: the vision worker cannot use it.
    assert!(previews[5].result.is_err());
}

/// The capture: OpenCode's own replies, classified as the live source does.
fn capture_set() -> ProviderSet {
    use crate::catalog::opencode::{ConfigProvidersReply, ProviderListReply};
    use crate::sources::live::{ConfigReply, from_replies};
    use crate::testutil::fixture;
    fn json<T: serde::de::DeserializeOwned>(name: &str) -> T {
        serde_json::from_str(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }
    let config: ConfigReply = json("config.json");
    let usable: ConfigProvidersReply = json("config-providers.json");
    let list: ProviderListReply = json("provider-list.json.gz");
    from_replies(config, usable, list, "http://127.0.0.1:4096")
}

#[test]
fn the_capture_resolves_as_its_config_says() {
    let r = resolver(capture_set());
    assert_eq!(r.set().usable_ids(), ["fake", "groq", "openai", "opencode"]);
    let cases: &[OkCase] = &[
        (
            "node",
            None,
            "fake/big-pro",
            RefKind::Tag,
            &["model from the OpenCode config"],
        ),
        (
            "node:fast",
            Some("explorer"),
            "fake/fast-mini",
            RefKind::Tag,
            &["small_model from the OpenCode config"],
        ),
        (
            "gpt-5-mini",
            None,
            "openai/gpt-5-mini",
            RefKind::Fuzzy,
            &["exact id"],
        ),
        (
            "openrouter/anthropic/claude-sonnet-4.5",
            None,
            "openrouter/anthropic/claude-sonnet-4.5",
            RefKind::Explicit,
            &[
                "provider openrouter has no credentials (set OPENROUTER_API_KEY or run /connect in OpenCode)",
            ],
        ),
    ];
    for (reference, worker, want, kind, phrases) in cases {
        let w = worker.map(profile);
        let res = resolve(&r, reference, w.as_ref()).unwrap_or_else(|e| panic!("{reference}: {e}"));
        check_ok(&r, &res, reference);
        assert_eq!(
            (res.resolved_model.as_str(), res.metadata.kind),
            (*want, *kind),
            "{reference}"
        );
        for phrase in *phrases {
            assert!(
                res.reason.contains(phrase),
                "{reference}: {phrase:?} not in {:?}",
                res.reason
            );
        }
    }
    for tag in TAGS {
        for worker in [None, Some(profile("vision")), Some(profile("docs"))] {
            let res = resolve(&r, tag, worker.as_ref()).unwrap_or_else(|e| panic!("{tag}: {e}"));
            check_ok(&r, &res, tag);
            assert!(res.metadata.usable, "{tag}: {}", res.resolved_model);
        }
    }
    let vision =
        resolve(&r, "node:vision", Some(&profile("vision"))).expect("the reference resolves");
    assert!(vision.metadata.capabilities.input.image);
}

/// Issue 14: separators do not matter (`gpt4o` is `gpt-4o`), an exact id still wins, and
/// "did you mean" lists different models, closest first, with a count of the rest.
#[test]
fn separators_are_ignored_after_exact_matches() {
    use Access::*;
    let r = resolver(world());
    for (typed, want) in [
        ("gpt4o", "openai/gpt-4o-2024-11-20"),
        ("GPT4O", "openai/gpt-4o-2024-11-20"),
        ("gpt5mini", "openai/gpt-5-mini"),
        ("gpt 5 mini", "openai/gpt-5-mini"),
        ("bigpro", "fake/big-pro"),
        ("llama318b", "groq/llama-3.1-8b-instant"),
        // An exact id wins over ids that only start with it once separators are dropped.
        ("gpt-5", "openai/gpt-5"),
        ("gpt5", "openai/gpt-5"),
    ] {
        let res = resolve(&r, typed, None).unwrap_or_else(|e| panic!("{typed}: {e}"));
        assert_eq!(res.resolved_model, want, "{typed}: {}", res.reason);
        check_ok(&r, &res, typed);
    }
    let res = resolve(&r, "gpt4o", None).expect("gpt4o resolves");
    assert!(
        res.reason.contains("separators and version suffix ignored"),
        "{}",
        res.reason
    );
    // The same model offered twice, as `gpt-4o` and `gpt4o`, is one model, not a tie.
    let twice = resolver(set(
        vec![
            entry("a", Api, vec![model("gpt-4o")]),
            entry("b", Env, vec![model("gpt4o")]),
        ],
        None,
        None,
    ));
    let res = resolve(&twice, "gpt4o", None).expect("one model");
    assert_eq!(res.resolved_model, "b/gpt4o", "the exact id wins");
    let res = resolve(&twice, "gpt-4o", None).expect("one model");
    assert_eq!(res.resolved_model, "a/gpt-4o");
}

#[test]
fn suggestions_name_different_models_and_count_the_rest() {
    use Access::*;
    // 52 models tied: 20 suggested, the message counts the other 32 and says where to see
    // them all.
    let models = ('a'..='z')
        .flat_map(|a| ['x', 'y'].map(move |b| model(&format!("model-{a}{b}"))))
        .collect();
    let r = resolver(set(vec![entry("many", Api, models)], None, None));
    let err = resolve(&r, "model", None).expect_err("ambiguous");
    assert_eq!(err.more(), 32);
    assert!(
        err.to_string()
            .ends_with("(+32 more; see `orch models -q model`)"),
        "{err}"
    );
    let api = crate::Error::from(err);
    assert_eq!((api.suggestions.len(), api.more), (20, 32));
    // Tool-calling models are suggested before the others when a reference is ambiguous.
    // (Not an image-generation id: such a model is not suggested for text work at all.)
    let mut image_only = model("gpt-plain");
    image_only.capabilities.tool_call = false;
    let mut chat = model("gpt-chat-long-name");
    chat.capabilities.tool_call = true;
    let r = resolver(set(
        vec![entry("openai", Api, vec![image_only, chat])],
        None,
        None,
    ));
    let err = resolve(&r, "gpt", None).expect_err("ambiguous");
    assert_eq!(
        err.suggestions(),
        ["openai/gpt-chat-long-name", "openai/gpt-plain"]
    );
    // A wrong model id of a known provider: the closest spellings first.
    let r = resolver(world());
    let err = resolve(&r, "openai/gpt-9", None).expect_err("no such model");
    assert_eq!(err.suggestions()[0], "openai/gpt-5", "{err}");
    // The same model from two unusable providers is suggested once.
    let r = resolver(set(
        vec![
            entry("fake", Config, vec![model("big-pro")]),
            entry(
                "one",
                NoCredentials,
                vec![model("sonnet-9"), model("sonnet-8")],
            ),
            entry("two", NoCredentials, vec![model("sonnet-9")]),
        ],
        None,
        None,
    ));
    let err = resolve(&r, "sonnet", None).expect_err("only unusable providers have it");
    assert_eq!(err.suggestions(), ["one/sonnet-8", "one/sonnet-9"], "{err}");
}

/// Issue 14: one matcher. The TUI's search (over rows keyed `provider/model`) finds first
/// the model the resolver's search finds first.
#[test]
fn the_tui_search_and_the_resolver_agree_on_the_first_model() {
    use super::matcher::{Haystack, Matcher, filter};
    let r = resolver(world());
    let mut rows = Vec::new();
    for e in &r.set().providers {
        for m in &e.provider.models {
            rows.push((format!("{}/{}", e.provider.id, m.id), m.name.clone()));
        }
    }
    let hays: Vec<Haystack> = rows.iter().map(|(k, n)| Haystack::new(k, &[n])).collect();
    for text in [
        "gpt4o",
        "GPT-4o",
        "gpt5mini",
        "gpt-5-mini",
        "Big Pro",
        "big-pro",
        "fast mini",
        "llama-prism",
        "o3",
        "vision",
    ] {
        let (pi, mi) = r.search(text)[0];
        let want = format!(
            "{}/{}",
            r.set().providers[pi].provider.id,
            r.set().providers[pi].provider.models[mi].id
        );
        let mut out = Vec::new();
        filter(&hays, &Matcher::new(text), |_| true, &mut out);
        let got = &rows[out[0]].0;
        assert_eq!(got, &want, "{text}");
    }
}

// ---- Models that fit the worker (issue 11) ----

/// Models that do not do text work, each with a catalog entry that makes it look
/// attractive (text in/out by its modalities, tool calls, huge context, free).
fn not_text_models() -> Vec<Model> {
    let lure = |id: &str, name: &str| model(id).named(name).price(0.0).context(2_000_000);
    vec![
        lure("text-embedding-3-large", "text-embedding-3-large"),
        lure("whisper-large-v3", "Whisper"),
        lure("voxtral-mini-tts-latest", "Voxtral Mini TTS"),
        lure("gpt-image-1.5", "GPT Image 1.5").image(),
        lure("meta-llama/llama-prompt-guard-2-86m", "Prompt Guard 2 86M"),
        lure("fast-guard-mini", "Fast Guard Mini").image(),
    ]
}

/// A world where every lure is usable, next to ordinary text models.
fn lured_world() -> ProviderSet {
    let mut groq = not_text_models();
    groq.push(model("llama-3.3-70b-versatile").named("Llama 3.3 70B"));
    groq.push(
        model("llama-3.1-8b-instant")
            .named("Llama 3.1 8B")
            .price(0.0)
            .context(8_192),
    );
    let mut no_tools = model("big-no-tools")
        .named("Big No Tools")
        .context(1_000_000);
    no_tools.capabilities.tool_call = false;
    set(
        vec![
            entry("groq", Access::Env, groq),
            entry("openai", Access::Api, vec![model("gpt-5-mini").image()]),
            entry("fake", Access::Config, vec![no_tools]),
        ],
        None,
        None,
    )
}

fn assert_text_work(r: &Resolver, res: &Resolution, what: &str) {
    let (p, m) = res.provider_and_model();
    let found = r
        .find_model(p, m)
        .expect("the resolved model is in the set");
    assert_eq!(super::fit::text_work(found), Ok(()), "{what} → {p}/{m}");
    for c in &res.metadata.candidates {
        let (p, m) = c.model.split_once('/').expect("provider/model");
        let found = r.find_model(p, m).expect("a candidate is in the set");
        assert_eq!(
            super::fit::text_work(found),
            Ok(()),
            "{what}: candidate {}",
            c.model
        );
    }
}

#[test]
fn tags_and_fuzzy_matches_never_pick_a_model_that_does_not_do_text_work() {
    let r = resolver(lured_world());
    let workers: Vec<Option<Profile>> = std::iter::once(None)
        .chain(Profiles::builtin().list.into_iter().map(Some))
        .collect();
    for worker in &workers {
        for tag in TAGS {
            let what = format!("{tag} for {:?}", worker.as_ref().map(|w| &w.id));
            if let Ok(res) = resolve(&r, tag, worker.as_ref()) {
                assert_text_work(&r, &res, &what);
            }
        }
    }
    // Fuzzy: a name that only a lure matches is refused with models that fit instead.
    for (reference, kind) in [
        ("text-embedding-3-large", "an embedding model"),
        ("whisper", "a speech-to-text model"),
        ("voxtral-mini-tts", "a text-to-speech model"),
        ("gpt-image", "an image-generation model"),
        ("llama-prompt-guard-2-86m", "a moderation (guard) model"),
    ] {
        let err = resolve(&r, reference, Some(&profile("memory")))
            .expect_err("a lure is never a fuzzy match");
        let msg = err.to_string();
        assert!(
            matches!(err, ResolveError::Unfit(_)) && msg.contains(kind),
            "{reference}: {msg}"
        );
        assert!(msg.contains("closest models that fit"), "{msg}");
        assert!(!err.suggestions().is_empty(), "{reference}");
        for s in err.suggestions() {
            assert!(
                !s.contains("embedding") && !s.contains("guard") && !s.contains("whisper"),
                "{reference}: suggested {s}"
            );
        }
    }
    // A search that hits a lure and a text model picks the text model.
    let res = resolve(&r, "guard mini", None).err();
    assert!(
        res.is_some(),
        "fast-guard-mini is the only match and it is a guard model"
    );
    let res = resolve(&r, "llama-3.3", Some(&profile("coder"))).expect("llama-3.3 resolves");
    assert_text_work(&r, &res, "llama-3.3");
    // An explicit reference still resolves (worker.model.set refuses it, --force sets
    // it), and its reason warns.
    let res = resolve(
        &r,
        "groq/meta-llama/llama-prompt-guard-2-86m",
        Some(&profile("memory")),
    )
    .expect("an explicit reference resolves");
    assert!(
        res.reason.contains(
            "warning: it does not fit the memory worker: it is a moderation (guard) model"
        ),
        "{}",
        res.reason
    );
}

#[test]
fn the_vision_worker_search_for_big_lists_no_embedding_model() {
    // The report: searching `big` for the vision worker listed embedding models.
    let mut openai = vec![
        model("text-embedding-3-big").named("Embedding Big").image(),
        model("big-vision").named("Big Vision").image(),
    ];
    openai.push(model("cohere-embed-v-4-0").named("Embed v4 big").image());
    let r = resolver(set(vec![entry("openai", Access::Api, openai)], None, None));
    let res = resolve(&r, "big", Some(&profile("vision"))).expect("big resolves");
    assert_eq!(res.resolved_model, "openai/big-vision");
    assert_eq!(
        res.metadata.candidates.len(),
        1,
        "{:?}",
        res.metadata.candidates
    );
}

#[test]
fn a_worker_that_uses_tools_gets_a_model_that_calls_them() {
    let r = resolver(lured_world());
    // Without a worker, the 1M-context model without tool calls wins node:docs.
    let res = resolve(&r, "node:docs", None).expect("node:docs resolves");
    assert_eq!(res.resolved_model, "fake/big-no-tools");
    // The docs worker's profile allows tools: it never gets it.
    let res = resolve(&r, "node:docs", Some(&profile("docs"))).expect("node:docs resolves");
    assert!(
        res.metadata.capabilities.tool_call,
        "{}",
        res.resolved_model
    );
    assert!(
        res.metadata
            .candidates
            .iter()
            .all(|c| c.model != "fake/big-no-tools")
    );
    // Fuzzy: refused with the reason and models that fit.
    let err = resolve(&r, "big-no-tools", Some(&profile("docs")))
        .expect_err("no tool calls for the docs worker");
    assert!(
        err.to_string()
            .contains("it cannot call tools, and the docs worker's profile allows tools"),
        "{err}"
    );
}

#[test]
fn a_task_that_does_not_fit_a_context_skips_that_model() {
    let user = tags(&[(
        "small-first",
        &["groq/llama-3.1-8b-instant", "groq/llama-3.3-70b-versatile"],
    )]);
    let r = Resolver::new(Arc::new(lured_world()), user);
    let coder = profile("coder");
    let for_task = |reference: &str, tokens: u64| {
        r.resolve(
            &Request::new(reference)
                .for_worker(Some(&coder))
                .with_tokens(Some(tokens)),
        )
    };
    // A small task: the chain's first entry (8k context) wins.
    let res = for_task("small-first", 1_000).expect("a small task resolves");
    assert_eq!(res.resolved_model, "groq/llama-3.1-8b-instant");
    // A task of ~10k tokens does not fit 8k: that entry is skipped, and the reason says so.
    let res = for_task("small-first", 10_000).expect("a larger task resolves");
    assert_eq!(res.resolved_model, "groq/llama-3.3-70b-versatile");
    assert!(
        res.reason.contains(
            "skipped groq/llama-3.1-8b-instant (groq/llama-3.1-8b-instant does not fit the coder worker: its context (8192 tokens) is smaller than the 14096 tokens needed"
        ),
        "{}",
        res.reason
    );
    // Named alone, a model whose context cannot hold the task is refused for it.
    let err = for_task("groq/llama-3.1-8b-instant", 10_000).expect_err("too small");
    assert!(matches!(err, ResolveError::Unfit(_)), "{err}");
    assert!(
        err.to_string().contains("its context (8192 tokens)"),
        "{err}"
    );
    // Tags skip it too: node:fast would pick the cheap 8k model for a small task.
    let small = for_task("node:fast", 10).expect("node:fast resolves");
    let large = for_task("node:fast", 10_000).expect("node:fast resolves");
    assert_eq!(small.resolved_model, "groq/llama-3.1-8b-instant");
    assert_ne!(large.resolved_model, "groq/llama-3.1-8b-instant");
    // The profile chain path takes the estimate as well.
    let mut chained = coder.clone();
    chained.model = ModelSpec::Chain(vec![
        "groq/llama-3.1-8b-instant".into(),
        "openai/gpt-5-mini".into(),
    ]);
    let res = r
        .resolve_profile_for(&chained, Policy::Dynamic, Some(10_000))
        .expect("the chain resolves");
    assert_eq!(res.resolved_model, "openai/gpt-5-mini");
}

#[test]
fn check_fit_refuses_the_guard_model_with_models_that_fit() {
    let r = resolver(lured_world());
    let memory = profile("memory");
    let res = resolve(
        &r,
        "groq/meta-llama/llama-prompt-guard-2-86m",
        Some(&memory),
    )
    .expect("an explicit reference resolves");
    let err = r
        .check_fit(&res, &memory, None)
        .expect_err("the guard model does not fit the memory worker");
    let msg = err.to_string();
    assert!(
        msg.starts_with(
            "groq/meta-llama/llama-prompt-guard-2-86m does not fit the memory worker: it is a moderation (guard) model"
        ),
        "{msg}"
    );
    assert!(msg.contains("--force"), "{msg}");
    // The closest that fit: llama models of the same family first.
    let suggestions = err.suggestions();
    assert!(
        suggestions
            .first()
            .is_some_and(|s| s.starts_with("groq/llama-3.")),
        "{suggestions:?}"
    );
    assert_eq!(err.kind(), crate::error::ErrorKind::InvalidInput);
    // A model that fits passes; the warning of a forced one names the reasons.
    let ok = resolve(&r, "groq/llama-3.3-70b-versatile", Some(&memory)).expect("resolves");
    assert_eq!(r.check_fit(&ok, &memory, None), Ok(()));
    assert_eq!(r.fit_warning(&ok, &memory), None);
    let warning = r.fit_warning(&res, &memory).expect("a warning");
    assert!(
        warning.contains("does not fit the memory worker"),
        "{warning}"
    );
}

#[test]
fn chain_entries_that_name_no_model_are_reported_with_suggestions() {
    let user = tags(&[(
        "team",
        &[
            "openai/gpt-5-mini",
            "openai/gpt-5-mimi",
            "groq/llama-3.3-70b-versatil",
            "nope/x",
        ],
    )]);
    let r = Resolver::new(Arc::new(lured_world()), user);
    let res = resolve(&r, "team", None).expect("team resolves");
    assert_eq!(res.resolved_model, "openai/gpt-5-mini");
    let missing: Vec<&str> = res
        .metadata
        .missing
        .iter()
        .map(|s| s.reference.as_str())
        .collect();
    assert_eq!(
        missing,
        ["openai/gpt-5-mimi", "groq/llama-3.3-70b-versatil", "nope/x"]
    );
    for phrase in [
        "later entries name no model: openai/gpt-5-mimi (provider openai has no model \"gpt-5-mimi\"; did you mean: openai/gpt-5-mini",
        "groq/llama-3.3-70b-versatil (provider groq has no model \"llama-3.3-70b-versatil\"; did you mean: groq/llama-3.3-70b-versatile",
        "nope/x (unknown provider \"nope\"",
    ] {
        assert!(
            res.reason.contains(phrase),
            "{phrase:?} not in {}",
            res.reason
        );
    }
    // A profile chain: the same, and an entry before the winner is in both lists.
    let mut p = profile("coder");
    p.model = ModelSpec::Chain(vec![
        "openai/gpt-6".into(),
        "groq/llama-3.3-70b-versatile".into(),
        "groq/llama-9".into(),
    ]);
    let res = r
        .resolve_profile(&p, Policy::Dynamic)
        .expect("the chain resolves");
    assert_eq!(res.resolved_model, "groq/llama-3.3-70b-versatile");
    let missing: Vec<&str> = res
        .metadata
        .missing
        .iter()
        .map(|s| s.reference.as_str())
        .collect();
    assert_eq!(missing, ["openai/gpt-6", "groq/llama-9"]);
    assert!(
        res.reason
            .contains("skipped openai/gpt-6 (provider openai has no model"),
        "{}",
        res.reason
    );
    assert!(
        res.reason
            .contains("later entries name no model: groq/llama-9"),
        "{}",
        res.reason
    );
    // A chain where everything exists reports nothing missing.
    let res = resolve(&r, "groq/llama-3.3-70b-versatile", None).expect("resolves");
    assert!(res.metadata.missing.is_empty());
}

/// The bundled catalog with every provider usable (`usable[i]` false makes provider `i`
/// unusable).
fn bundled_set(usable: &[bool]) -> ProviderSet {
    let catalog = crate::catalog::snapshot::bundled().expect("the bundled snapshot decodes");
    let providers = catalog
        .providers
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let access = if usable.get(i).copied().unwrap_or(true) {
                Access::Env
            } else {
                Access::NoCredentials
            };
            entry(&p.id, access, p.models)
        })
        .collect();
    set(providers, None, None)
}

#[test]
fn the_bundled_catalog_excludes_these_models_from_text_work() {
    // What the rule excludes, for a reviewer: by kind, each model id once (providers
    // offer the same model under one id). Regenerate with `cargo insta review`.
    let set = bundled_set(&[]);
    let mut by_kind: BTreeMap<&'static str, std::collections::BTreeSet<String>> = BTreeMap::new();
    let mut text = 0usize;
    for e in &set.providers {
        for m in &e.provider.models {
            match super::fit::text_work(m) {
                Ok(()) => text += 1,
                Err(kind) => {
                    by_kind
                        .entry(kind.as_str())
                        .or_default()
                        .insert(m.id.clone());
                }
            }
        }
    }
    let mut out = format!(
        "{} models; {text} do text work; excluded:\n",
        set.providers
            .iter()
            .map(|e| e.provider.models.len())
            .sum::<usize>()
    );
    for (kind, ids) in &by_kind {
        out.push_str(&format!("\n{kind} ({}):\n", ids.len()));
        for id in ids {
            out.push_str(&format!("  {id}\n"));
        }
    }
    insta::assert_snapshot!(out);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 8, ..proptest::prelude::ProptestConfig::default() })]

    /// Whatever providers are usable, no text tag resolves to a model that does not do
    /// text work, for no worker and for every built-in worker.
    #[test]
    fn no_text_tag_resolves_to_a_model_without_text_output(
        usable in proptest::collection::vec(proptest::prelude::any::<bool>(), 240),
    ) {
        let r = resolver(bundled_set(&usable));
        let workers: Vec<Option<Profile>> = std::iter::once(None)
            .chain(Profiles::builtin().list.into_iter().map(Some))
            .collect();
        for worker in &workers {
            for tag in ["node", "node:fast", "node:docs", "node:vision"] {
                if let Ok(res) = resolve(&r, tag, worker.as_ref()) {
                    assert_text_work(&r, &res, tag);
                }
            }
        }
    }
}

#[test]
fn no_fuzzy_match_in_the_bundled_catalog_is_a_model_without_text_output() {
    // Every usable model that does not do text work, searched by its own id: the search
    // never lands on a model that does not do text work.
    let r = resolver(bundled_set(&[]));
    let memory = profile("memory");
    let mut checked = 0;
    for e in &r.set().providers {
        for m in &e.provider.models {
            if super::fit::text_work(m).is_ok() {
                continue;
            }
            checked += 1;
            for worker in [None, Some(&memory)] {
                // An id with a '/' may name a provider: an explicit reference is taken
                // as written (and warned about), not searched.
                if let Ok(res) = resolve(&r, &m.id, worker)
                    && res.metadata.kind != RefKind::Explicit
                {
                    assert_text_work(&r, &res, &m.id);
                }
            }
        }
    }
    assert!(checked > 300, "{checked} models checked");
    // The example is refused for the memory worker.
    let res = resolve(
        &r,
        "groq/meta-llama/llama-prompt-guard-2-86m",
        Some(&memory),
    )
    .expect("an explicit reference resolves");
    let err = r.check_fit(&res, &memory, None).expect_err("refused");
    assert!(
        err.to_string().contains("moderation (guard) model"),
        "{err}"
    );
}

/// A test model with this catalog price (input, output per million tokens; 0 = none).
fn priced(id: &str, input: f64, output: f64) -> Model {
    let mut m = model(id);
    m.cost = Cost {
        input,
        output,
        ..Cost::default()
    };
    m
}

#[test]
fn node_cheap_takes_the_cheapest_known_price_and_names_it() {
    use Access::*;
    let r = resolver(set(
        vec![
            entry(
                "fake",
                Config,
                vec![
                    // 0 in the catalog is "unknown": never the cheapest.
                    priced("big-pro", 0.0, 0.0),
                    priced("fast-mini", 0.1, 0.4),
                    priced("vision-pro", 2.0, 8.0).image(),
                ],
            ),
            entry(
                "groq",
                Env,
                vec![
                    priced("llama-3.1-8b-instant", 0.05, 0.08),
                    priced("gpt-oss-120b", 0.15, 0.6),
                ],
            ),
            entry("opencode", Custom, vec![priced("big-pickle", 0.0, 0.0)]),
            // Cheaper, but its provider is not usable.
            entry("mistral", NoCredentials, vec![priced("tiny", 0.01, 0.01)]),
        ],
        None,
        Some("fake/fast-mini"),
    ));
    let res = resolve(&r, "node:cheap", None).expect("node:cheap resolves");
    check_ok(&r, &res, "node:cheap");
    assert_eq!(
        res.resolved_model, "groq/llama-3.1-8b-instant",
        "{}",
        res.reason
    );
    assert!(
        res.reason.contains("cheapest of 4 usable models"),
        "{}",
        res.reason
    );
    assert!(
        res.reason.contains("$0.13/M input+output"),
        "{}",
        res.reason
    );
    let order: Vec<&str> = res
        .metadata
        .candidates
        .iter()
        .map(|c| c.model.as_str())
        .collect();
    assert_eq!(
        order,
        [
            "groq/llama-3.1-8b-instant",
            "fake/fast-mini",
            "groq/gpt-oss-120b",
            "fake/vision-pro"
        ]
    );
    assert_eq!(
        resolve(&r, "auto:cheap", None)
            .expect("the auto spelling")
            .resolved_model,
        "groq/llama-3.1-8b-instant"
    );
    // A vision worker: the cheapest priced model with image input, never a text-only one.
    let res = resolve(&r, "node:cheap", Some(&profile("vision"))).expect("resolves for vision");
    assert_eq!(res.resolved_model, "fake/vision-pro");
    assert!(res.reason.contains("$10/M"), "{}", res.reason);
}

#[test]
fn node_cheap_prefers_a_known_free_model_and_refuses_when_no_price_is_known() {
    use Access::*;
    let r = resolver(set(
        vec![
            entry(
                "fake",
                Config,
                vec![priced("big-pro", 0.0, 0.0), priced("small", 0.0, 0.0)],
            ),
            entry(
                "opencode",
                Custom,
                vec![
                    priced("nemotron-ultra-free", 0.0, 0.0),
                    priced("paid", 0.05, 0.05),
                ],
            ),
        ],
        None,
        None,
    ));
    let res = resolve(&r, "node:cheap", None).expect("resolves");
    assert_eq!(res.resolved_model, "opencode/nemotron-ultra-free");
    assert!(res.reason.contains("known free"), "{}", res.reason);

    let r = resolver(set(
        vec![entry(
            "fake",
            Config,
            vec![priced("big-pro", 0.0, 0.0), priced("small", 0.0, 0.0)],
        )],
        None,
        None,
    ));
    let err = resolve(&r, "node:cheap", None).expect_err("no price is known");
    assert!(err.to_string().contains("known price"), "{err}");
}
