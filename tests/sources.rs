//! The live source over a fake OpenCode serving the real captures, and the local source
//! given the same config, environment and credentials: they must agree.

use orch::sources::live::LiveSource;
use orch::sources::local::LocalSource;
use orch::sources::{Access, ProviderSet, ProviderSource};
use orch::testutil::fake_opencode::FakeOpenCode;
use orch::testutil::{assert_no_secret, capture_home};
use std::collections::BTreeMap;

fn usable_models(set: &ProviderSet) -> BTreeMap<String, Vec<String>> {
    set.usable()
        .map(|p| {
            (
                p.provider.id.clone(),
                p.provider.models.iter().map(|m| m.id.clone()).collect(),
            )
        })
        .collect()
}

/// What the live source reads from a fake OpenCode serving the captures.
#[expect(clippy::expect_used, reason = "test helper")]
async fn live_set() -> ProviderSet {
    let fake = FakeOpenCode::start().await.expect("the fake server starts");
    LiveSource::new(&fake.url())
        .expect("the live source builds")
        .load()
        .await
        .expect("the live source loads")
}

#[tokio::test]
async fn live_usable_providers_are_exactly_connected() {
    let set = live_set().await;
    assert_eq!(set.usable_ids(), ["fake", "groq", "openai", "opencode"]);
    assert_eq!(set.providers.len(), 226);
    let access = |id: &str| set.get(id).map(|p| p.access);
    assert_eq!(access("fake"), Some(Access::Config));
    assert_eq!(access("groq"), Some(Access::Env));
    assert_eq!(access("openai"), Some(Access::Api));
    assert_eq!(access("opencode"), Some(Access::Custom));
    assert_eq!(access("anthropic"), Some(Access::NoCredentials));
    assert!(set.get("groq").is_some_and(|p| p.key_present));
    assert_eq!(set.model.as_deref(), Some("fake/big-pro"));
    assert_eq!(set.small_model.as_deref(), Some("fake/fast-mini"));
    assert_no_secret("live provider set", &format!("{set:?}"));
}

#[tokio::test]
async fn local_agrees_with_live_on_the_capture_setup() {
    let live = live_set().await;
    let dir = tempfile::tempdir().expect("a temp dir is created");
    let (paths, env) = capture_home(dir.path());
    let local = LocalSource::new(paths, env)
        .load_now()
        .expect("the source loads");
    assert_eq!(local.usable_ids(), live.usable_ids());
    assert_eq!(usable_models(&local), usable_models(&live));
    for p in live.usable() {
        let l = local
            .get(&p.provider.id)
            .map(|l| (l.access, l.default_model.clone()));
        assert_eq!(
            l,
            Some((p.access, p.default_model.clone())),
            "{}",
            p.provider.id
        );
    }
    assert_eq!(local.model, live.model);
    assert_eq!(local.small_model, live.small_model);
    assert_no_secret("local provider set", &format!("{local:?}"));
}
