//! Benchmarks on the full captured catalog (226 providers, 8,288 models).
//!
//! Targets (issue 2): catalog load under 30 ms, one resolution under 50 µs (median).
//! Run with `cargo bench --bench catalog`.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use divan::{Bencher, black_box};
use orch::catalog::opencode::{ConfigProvidersReply, ProviderListReply, catalog_from_wire};
use orch::catalog::snapshot;
use orch::paths::{Environment, Paths};
use orch::profiles::Profile;
use orch::resolve::{Request, Resolver};
use orch::sources::ProviderSet;
use orch::sources::live::{ConfigReply, from_replies};
use orch::sources::local::LocalSource;
use orch::testutil::fixture;

fn main() {
    divan::main();
}

/// The decompressed replies of the capture, read once, outside every timed part.
struct Replies {
    config: String,
    config_providers: String,
    provider_list: String,
}

fn replies() -> &'static Replies {
    static R: OnceLock<Replies> = OnceLock::new();
    R.get_or_init(|| Replies {
        config: fixture("config.json"),
        config_providers: fixture("config-providers.json"),
        provider_list: fixture("provider-list.json.gz"),
    })
}

#[expect(clippy::expect_used, reason = "test helper")]
fn parse<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_json::from_str(text).expect("the json parses")
}

/// The capture classified as the live source does: 4 usable providers of 226.
fn capture_set() -> ProviderSet {
    let r = replies();
    from_replies(
        parse::<ConfigReply>(&r.config),
        parse::<ConfigProvidersReply>(&r.config_providers),
        parse::<ProviderListReply>(&r.provider_list),
        "http://127.0.0.1:4096",
    )
}

fn resolver() -> &'static Resolver {
    static R: OnceLock<Resolver> = OnceLock::new();
    R.get_or_init(|| Resolver::new(Arc::new(capture_set()), Default::default()))
}

fn profile(id: &str) -> Profile {
    orch::testutil::builtin_profile(id)
}

/// (a) `GET /provider` (6.5 MB of JSON) into the internal catalog.
#[divan::bench]
fn load_provider_list_into_catalog() -> usize {
    let list: ProviderListReply = parse(black_box(&replies().provider_list));
    catalog_from_wire(list.all).model_count()
}

/// (a) The three replies of a live OpenCode, parsed and classified.
#[divan::bench]
fn load_live_replies_and_classify() -> usize {
    let r = replies();
    let set = from_replies(
        parse::<ConfigReply>(black_box(&r.config)),
        parse::<ConfigProvidersReply>(black_box(&r.config_providers)),
        parse::<ProviderListReply>(black_box(&r.provider_list)),
        "http://127.0.0.1:4096",
    );
    set.usable_model_count()
}

/// (b) The snapshot bundled in the binary, decompressed and decoded.
#[divan::bench]
#[expect(clippy::expect_used, reason = "test helper")]
fn decode_bundled_snapshot() -> usize {
    snapshot::bundled()
        .expect("the bundled snapshot loads")
        .model_count()
}

/// (c) The local source on the capture setup: config files, `auth.json`, the environment,
/// the bundled catalog, classification.
#[divan::bench]
#[expect(clippy::expect_used, reason = "test helper")]
fn local_source_load_and_classify(b: Bencher) {
    let dir = tempfile::tempdir().expect("a temp dir is created");
    let (paths, env) = capture_home(dir.path());
    let source = LocalSource::new(paths, env);
    b.bench(|| {
        source
            .load_now()
            .expect("the source loads")
            .usable_model_count()
    });
}

/// The search index a resolver builds once per provider set.
#[divan::bench]
fn build_resolver(b: Bencher) {
    let set = Arc::new(capture_set());
    b.bench(|| Resolver::new(Arc::clone(&set), Default::default()));
}

/// (d) One resolution over the full catalog with the capture's usable providers.
#[divan::bench(args = [
    // tags
    "node", "node:fast", "node:vision", "node:docs", "auto:fast",
    // explicit
    "openai/gpt-5", "openrouter/anthropic/claude-sonnet-4.5", "OpenAI/GPT-5-MINI",
    // fuzzy
    "gpt-5-mini", "llama", "gpt", "Big Pro",
    // fuzzy that no usable model matches: suggestions from the whole catalog
    "claude-sonnet",
])]
fn resolve(b: Bencher, reference: &str) {
    let r = resolver();
    b.bench(|| r.resolve(&Request::new(black_box(reference))).is_ok());
}

/// (d) Resolutions for a worker (the vision rule applies).
#[divan::bench(args = ["node", "node:vision", "gpt-5", "fake/big-pro"])]
fn resolve_for_vision_worker(b: Bencher, reference: &str) {
    let r = resolver();
    let vision = profile("vision");
    b.bench(|| {
        r.resolve(&Request::new(black_box(reference)).for_worker(Some(&vision)))
            .is_ok()
    });
}

/// Beyond the targets: every one of the 226 providers usable (8,288 candidate models), the
/// worst case for tags and fuzzy references.
#[divan::bench(args = ["node", "node:vision", "gpt-5-mini", "claude-sonnet", "openai/gpt-5"])]
fn resolve_with_every_provider_usable(b: Bencher, reference: &str) {
    static R: OnceLock<Resolver> = OnceLock::new();
    let r = R.get_or_init(|| {
        let mut set = capture_set();
        for p in &mut set.providers {
            if !p.access.is_usable() {
                p.access = orch::sources::Access::Api;
            }
        }
        Resolver::new(Arc::new(set), Default::default())
    });
    b.bench(|| r.resolve(&Request::new(black_box(reference))).is_ok());
}

/// The capture's setup: project `opencode.json`, `GROQ_API_KEY`, an `openai` api key.
fn capture_home(root: &Path) -> (Paths, Environment) {
    let env = orch::testutil::capture_env(root);
    (Paths::resolve(&env, root.join("project")), env)
}

/// The `task_list` view `models` (usable scope, JSON) as the backend builds it: the rows
/// and their serialization, without the socket.
#[divan::bench]
fn models_view_usable_json(b: Bencher) {
    let knowledge =
        orch::knowledge::Knowledge::new(capture_set(), orch::profiles::Profiles::builtin());
    let q = orch::wire::ModelsQuery::default();
    b.bench(|| {
        let view = orch::views::models(&knowledge, black_box(&q));
        serde_json::to_string(&view).map(|s| s.len()).unwrap_or(0)
    });
}
