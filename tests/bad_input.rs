//! Bad input never panics: odd references, broken OpenCode config, unreadable or missing
//! `auth.json`, catalogs with missing or wrong fields. Each gets a clear error (or warning)
//! naming the reference or the file. A property test feeds arbitrary strings to the
//! resolver over the full captured catalog.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use orch::catalog::opencode::{ConfigProvidersReply, ProviderListReply};
use orch::paths::{Environment, Paths};
use orch::profiles::{Profile, load_orchestrator};
use orch::resolve::{Request, ResolveError, Resolver};
use orch::sources::live::{ConfigReply, from_replies};
use orch::sources::local::LocalSource;
use orch::sources::{ProviderSet, SourceError};
use orch::testutil::{assert_no_secret, fixture};
use proptest::prelude::*;

fn json<T: serde::de::DeserializeOwned>(name: &str) -> T {
    serde_json::from_str(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The capture's 226 providers and ~8,300 models, classified as the live source does.
fn capture() -> &'static Resolver {
    static RESOLVER: OnceLock<Resolver> = OnceLock::new();
    RESOLVER.get_or_init(|| {
        let config: ConfigReply = json("config.json");
        let usable: ConfigProvidersReply = json("config-providers.json");
        let list: ProviderListReply = json("provider-list.json.gz");
        let set = from_replies(config, usable, list, "http://127.0.0.1:4096");
        Resolver::new(Arc::new(set), Default::default())
    })
}

fn profile(id: &str) -> Profile {
    orch::testutil::builtin_profile(id)
}

/// What every answer of the resolver promises, whatever the input.
fn check(r: &Resolver, reference: &str, worker: Option<&Profile>) -> Result<(), String> {
    match r.resolve(&Request::new(reference).for_worker(worker)) {
        Ok(res) => {
            if res.reason.trim().is_empty() {
                return Err(format!("{reference:?}: empty reason"));
            }
            let (p, m) = res.provider_and_model();
            let exists = r.set().get(p).and_then(|e| e.model(m)).is_some();
            if !exists || res.resolved_model != format!("{p}/{m}") {
                return Err(format!(
                    "{reference:?}: {} is not in the set",
                    res.resolved_model
                ));
            }
            if worker.is_some_and(|w| w.vision) && !res.metadata.capabilities.input.image {
                return Err(format!("{reference:?}: vision worker without image input"));
            }
            Ok(())
        }
        Err(e) => {
            if e.to_string().trim().is_empty() {
                return Err(format!("{reference:?}: empty error message"));
            }
            Ok(())
        }
    }
}

#[test]
fn odd_references_get_errors_naming_them() {
    let r = capture();
    let long = "x".repeat(1 << 20);
    let long_ref = format!("openai/{}", "y".repeat(1 << 20));
    // (reference, phrase the message must contain)
    let cases: &[(&str, &str)] = &[
        ("", "empty model reference"),
        ("   \t ", "empty model reference"),
        ("/", "invalid model reference \"/\""),
        ("a/", "invalid model reference \"a/\""),
        ("/b", "invalid model reference \"/b\""),
        ("//", "invalid model reference \"//\""),
        (" / ", "invalid model reference \"/\""),
        ("a / ", "invalid model reference \"a /\""),
        (&long, "bytes long; the limit is 512"),
        (&long_ref, "bytes long; the limit is 512"),
        ("gpt\u{0}5", "contains control characters"),
        ("gpt-5\u{1b}[31m", "contains control characters"),
        ("openai/gpt-5\u{7f}", "contains control characters"),
        ("line\nbreak", "contains control characters"),
        ("\u{FFFD}", "\u{FFFD}"),
        ("\u{FFFD}/\u{FFFD}", "\u{FFFD}"),
        ("%ff", "%ff"),
        ("openai/%ff", "provider openai has no model \"%ff\""),
        ("\\xff", "\\xff"),
        ("ééééééééééééééééééééé", "ééééé"),
        ("日本語/モデル", "日本語"),
        ("node:", "unknown tag \"node:\""),
        ("auto:\u{FFFD}", "unknown tag"),
        ("\u{200B}", "\u{200B}"),
    ];
    for (reference, phrase) in cases {
        let err = r
            .resolve(&Request::new(reference))
            .err()
            .unwrap_or_else(|| panic!("{reference:?} resolved"));
        let msg = err.to_string();
        assert!(
            msg.contains(phrase),
            "{:?}: {phrase:?} not in {msg:?}",
            reference.chars().take(40).collect::<String>()
        );
        // Shown references are bounded and printable.
        assert!(msg.chars().count() < 4000, "{} chars", msg.chars().count());
        assert!(!msg.chars().any(|c| c.is_control()), "{msg:?}");
    }
    // Whitespace in the middle is not a tag or a provider; still a clear answer.
    for reference in ["node fast", "openai / gpt-5", "\u{FEFF}gpt-5"] {
        check(r, reference, None).expect("the reference checks");
    }
    let err = r.resolve(&Request::new(&long)).err().map(|e| e.to_string());
    assert!(err.is_some_and(|m| m.contains("\"xxxxxxxx") && m.contains('…')));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(s in any::<String>()) {
        let r = capture();
        prop_assert_eq!(check(r, &s, None), Ok(()));
        prop_assert_eq!(check(r, &s, Some(&profile("vision"))), Ok(()));
    }

    #[test]
    fn arbitrary_provider_model_shapes_never_panic(
        p in "[a-zA-Z0-9._~-]{0,12}|openai|groq|openrouter|fake|anthropic|\\PC{0,6}",
        m in "[a-zA-Z0-9./:@~-]{0,40}|gpt-5[a-z.-]{0,6}|\\PC{0,12}",
        sep in prop::sample::select(vec!["/", " / ", "//", "/ "]),
    ) {
        let r = capture();
        let reference = format!("{p}{sep}{m}");
        prop_assert_eq!(check(r, &reference, None), Ok(()));
        prop_assert_eq!(check(r, &reference, Some(&profile("vision"))), Ok(()));
    }

    #[test]
    fn tag_like_strings_never_panic(
        head in prop::sample::select(vec!["node", "auto", "node:", "auto:", "Node", "node::"]),
        tail in "\\PC{0,10}|fast|vision|docs",
    ) {
        let r = capture();
        let reference = format!("{head}{tail}");
        prop_assert_eq!(check(r, &reference, None), Ok(()));
        prop_assert_eq!(check(r, &reference, Some(&profile("explorer"))), Ok(()));
    }

    #[test]
    fn known_ids_mutated_never_panic(i in 0usize..100_000, cut in 0usize..40, extra in "\\PC{0,4}") {
        let r = capture();
        let ids: Vec<String> = r
            .set()
            .providers
            .iter()
            .flat_map(|p| p.provider.models.iter().map(move |m| format!("{}/{}", p.provider.id, m.id)))
            .collect();
        let id = &ids[i % ids.len()];
        let cut: String = id.chars().take(cut).collect();
        for reference in [id.clone(), format!("{cut}{extra}"), id.to_uppercase(), id.rsplit('/').next().unwrap_or("").to_owned()] {
            prop_assert_eq!(check(r, &reference, None), Ok(()));
        }
        // An explicit reference to a model that exists resolves to exactly it.
        let res = r.resolve(&Request::new(id));
        prop_assert_eq!(res.map(|x| x.resolved_model).ok(), Some(id.clone()));
    }
}

/// An empty home and project in `root`, with `files` written (path relative to `root`).
#[expect(clippy::expect_used, reason = "test helper")]
fn home(root: &Path, files: &[(&str, &[u8])]) -> (Paths, Environment) {
    let home = root.join("home");
    let project = root.join("project");
    for dir in [
        home.join(".config/opencode"),
        home.join(".local/share/opencode"),
        home.join(".cache/opencode"),
        project.join(".git"),
        project.join(".opencode"),
    ] {
        std::fs::create_dir_all(dir).expect("the directory is created");
    }
    for (path, content) in files {
        let path = root.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("the directory is created");
        }
        std::fs::write(&path, content).expect("the file is written");
    }
    let env = Environment::from_pairs([("HOME".to_owned(), home.display().to_string())]);
    (Paths::resolve(&env, project), env)
}

fn load(paths: Paths, env: Environment) -> Result<ProviderSet, SourceError> {
    LocalSource::new(paths, env).load_now()
}

#[test]
fn malformed_opencode_config_is_an_error_naming_the_file() {
    const PROJECT: &str = "project/opencode.json";
    const PROJECT_JSONC: &str = "project/.opencode/opencode.jsonc";
    const GLOBAL: &str = "home/.config/opencode/opencode.json";
    // (file, content, phrase of the message)
    let cases: &[(&str, &[u8], &str)] = &[
        (PROJECT, b"{\"model\": ", "line 1"),
        (PROJECT, b"{\"model\": \"a/b\"} trailing", "invalid JSON"),
        (
            PROJECT,
            b"{\"model\": 5}",
            "invalid type: integer `5`, expected a string",
        ),
        (PROJECT, b"[1, 2]", "the top level must be a JSON object"),
        (
            PROJECT,
            b"\"sk-test-123\"",
            "the top level must be a JSON object",
        ),
        (
            PROJECT,
            b"{\"provider\": {\"x\": {\"models\": []}}}",
            "invalid type",
        ),
        (
            PROJECT,
            b"{\"disabled_providers\": \"gsk-test-env\"}",
            "invalid type",
        ),
        (PROJECT, b"\xff\xfe{}", "not UTF-8"),
        (
            PROJECT,
            b"{\"model\": \"{file:./missing.txt}\"}",
            "missing.txt",
        ),
        (PROJECT, b"{'model': 'a/b'}", "invalid JSON"),
        (PROJECT_JSONC, b"{\n // ok\n \"model\": ,\n}", "line 3"),
        (GLOBAL, b"{\"small_model\": {}}", "invalid type"),
    ];
    for (file, content, phrase) in cases {
        let dir = tempfile::tempdir().expect("a temp dir is created");
        let (paths, env) = home(dir.path(), &[(file, content)]);
        let err = load(paths, env)
            .err()
            .unwrap_or_else(|| panic!("{file} {content:?} loaded"));
        let msg = err.to_string();
        let name = Path::new(file)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        assert!(
            matches!(err, SourceError::Config { .. }) && msg.contains(&name),
            "{file}: {msg}"
        );
        assert!(msg.contains(dir.path().to_string_lossy().as_ref()), "{msg}");
        assert!(
            msg.contains(phrase),
            "{file} {content:?}: {phrase:?} not in {msg:?}"
        );
        assert_no_secret("config error", &msg);
    }
    // Comments only, or an empty file: valid and empty, as in OpenCode.
    for content in [&b"// nothing"[..], b"", b"  \n"] {
        let dir = tempfile::tempdir().expect("a temp dir is created");
        let (paths, env) = home(dir.path(), &[(PROJECT, content)]);
        assert!(load(paths, env).is_ok(), "{content:?}");
    }
}

#[test]
fn config_from_the_environment_is_checked_too() {
    let dir = tempfile::tempdir().expect("a temp dir is created");
    let (paths, mut env) = home(dir.path(), &[]);
    env.set("OPENCODE_CONFIG_CONTENT", "{\"model\": [}");
    let msg = load(paths.clone(), env.clone())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(msg.contains("$OPENCODE_CONFIG_CONTENT"), "{msg}");

    // OPENCODE_CONFIG naming a file that cannot be read (its parent is a file).
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "x").expect("the file is written");
    let (paths, mut env) = home(dir.path(), &[]);
    let file: PathBuf = blocker.join("opencode.json");
    env.set("OPENCODE_CONFIG", file.display().to_string());
    let err = load(paths, env).err();
    let msg = err.as_ref().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        matches!(err, Some(SourceError::Read { .. })) && msg.contains("not-a-dir/opencode.json"),
        "{msg}"
    );
    // OPENCODE_CONFIG naming a file that does not exist: OpenCode skips it, so do we.
    let (paths, mut env) = home(dir.path(), &[]);
    env.set(
        "OPENCODE_CONFIG",
        dir.path().join("nope.json").display().to_string(),
    );
    assert!(load(paths, env).is_ok());
}

#[test]
fn a_missing_broken_or_unreadable_auth_json_is_a_warning_not_a_failure() {
    const AUTH: &str = "home/.local/share/opencode/auth.json";
    // (auth.json content, or None for missing, warning phrase or "" for none, openai usable)
    let cases: &[(Option<&[u8]>, &str, bool)] = &[
        (None, "", false),
        (Some(b"{\"openai\":{\"type\":\"api\",\"key\":\"sk-test-123\"}}"), "", true),
        (Some(b"{\"openai\":{\"type\":\"api\",\"key\":\"sk-test-123\""), "invalid JSON", false),
        (Some(b"[\"sk-test-123\"]"), "invalid JSON", false),
        (Some(b""), "invalid JSON", false),
        (Some(b"\xff\xfe"), "invalid JSON", false),
        (Some(b"{\"openai\": \"sk-test-123\", \"groq\": {\"type\":\"api\",\"key\":\"gsk-test-env\"}}"), "", false),
    ];
    for (content, warning, openai) in cases {
        let dir = tempfile::tempdir().expect("a temp dir is created");
        let files: Vec<(&str, &[u8])> = content.iter().map(|c| (AUTH, *c)).collect();
        let (paths, env) = home(dir.path(), &files);
        let set = load(paths, env).unwrap_or_else(|e| panic!("{content:?}: {e}"));
        let warnings = set.warnings.join("\n");
        if warning.is_empty() {
            assert!(set.warnings.is_empty(), "{content:?}: {warnings}");
        } else {
            assert!(
                warnings.contains("auth.json") && warnings.contains(warning),
                "{content:?}: {warnings}"
            );
        }
        assert_no_secret("auth.json warning", &warnings);
        assert_no_secret("provider set", &format!("{set:?}"));
        assert_eq!(
            set.get("openai").is_some_and(|p| p.access.is_usable()),
            *openai,
            "{content:?}"
        );
        assert!(set.get("opencode").is_some_and(|p| p.access.is_usable()));
    }
    // A directory where the file should be: cannot be read.
    let dir = tempfile::tempdir().expect("a temp dir is created");
    let (paths, env) = home(dir.path(), &[]);
    std::fs::create_dir_all(paths.auth_file()).expect("the directory is created");
    let set = load(paths, env).expect("the config loads");
    let warnings = set.warnings.join("\n");
    assert!(warnings.contains("auth.json: cannot read it"), "{warnings}");
}

#[test]
fn catalogs_with_missing_or_wrong_fields() {
    const CACHE: &str = "home/.cache/opencode/models.json";
    // (models.json, expected: Some(provider id that must exist) = used, None = bundled with a warning)
    let cases: &[(&[u8], Option<&str>)] = &[
        (b"{\"x\": {\"models\": {\"m\": {}}}}", Some("x")),
        (b"{\"x\": {\"id\": \"x\", \"models\": {\"m\": {\"limit\": null, \"cost\": null, \"modalities\": null}}}}", Some("x")),
        (b"{\"x\": {\"models\": {\"m\": {\"limit\": {\"context\": 131072.0}}}}, \"y\": null}", Some("x")),
        (b"{\"x\": {\"models\": {\"m\": {\"limit\": {\"context\": \"big\"}}}}}", None),
        (b"{\"x\": {\"models\": [\"m\"]}}", None),
        (b"{}", None),
        (b"[]", None),
        (b"not json", None),
        (b"\x1f\x8b\x08\x00", None),
    ];
    for (content, used) in cases {
        let dir = tempfile::tempdir().expect("a temp dir is created");
        let (paths, env) = home(dir.path(), &[(CACHE, content)]);
        let set = load(paths, env).unwrap_or_else(|e| panic!("{content:?}: {e}"));
        match used {
            Some(id) => {
                assert!(set.origin.catalog.ends_with("models.json"), "{content:?}");
                let p = set
                    .get(id)
                    .unwrap_or_else(|| panic!("{content:?}: no {id}"));
                assert!(p.provider.models.iter().all(|m| !m.name.is_empty()));
                assert!(set.warnings.is_empty(), "{:?}", set.warnings);
            }
            None => {
                assert!(set.origin.catalog.contains("bundled"), "{content:?}");
                let warnings = set.warnings.join("\n");
                assert!(
                    warnings.contains("models.json")
                        && warnings.contains("using the bundled catalog"),
                    "{content:?}: {warnings}"
                );
            }
        }
    }
    // The wire format: missing, null and float fields read; a wrong type names the place.
    let ok: Result<ProviderListReply, _> = serde_json::from_str(
        r#"{"all":[{"id":"x","name":null,"env":null,"models":{"m":{"limit":{"context":1e3},"capabilities":null}}}]}"#,
    );
    assert!(ok.is_ok(), "{ok:?}");
    let bad: Result<ProviderListReply, _> =
        serde_json::from_str(r#"{"all":[{"id":"x","models":{"m":{"limit":{"context":"big"}}}}]}"#);
    let msg = bad.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("line 1 column"), "{msg}");
    // The bundled snapshot decoder refuses garbage without panicking.
    for garbage in [&b""[..], b"\x1f\x8b", b"{\"v\":2}"] {
        assert!(orch::catalog::snapshot::decode(garbage).is_err());
    }
}

#[test]
fn malformed_orchestrator_json_is_an_error_naming_the_file() {
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "project/.opencode/orchestrator.json",
            b"{\"profiles\": ",
            "invalid JSON",
        ),
        (
            "home/.config/opencode/orchestrator.json",
            b"{\"tags\": {\"x\": []}}",
            "empty fallback chain",
        ),
        (
            "project/.opencode/orchestrator.json",
            b"{\"profiles\": {\"docs\": {\"model\": \"a\\u0000b\"}}}",
            "control characters",
        ),
        ("project/.opencode/orchestrator.json", b"\xff", "invalid"),
    ];
    for (file, content, phrase) in cases {
        let dir = tempfile::tempdir().expect("a temp dir is created");
        let (paths, env) = home(dir.path(), &[(file, content)]);
        let msg = load_orchestrator(&paths, &env)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| panic!("{file} loaded"));
        assert!(
            msg.contains("orchestrator.json") && msg.contains(phrase),
            "{msg}"
        );
    }
}

#[test]
fn resolve_errors_are_values_not_panics() {
    // Errors cross the socket as data: every kind survives a JSON round trip with its text.
    let r = capture();
    for reference in ["", "/", "nope/x", "node:slow", "claude", "zzz-q"] {
        let e: ResolveError = r
            .resolve(&Request::new(reference))
            .err()
            .unwrap_or_else(|| panic!("{reference} resolved"));
        let api = orch::Error::from(e.clone());
        let text = serde_json::to_string(&api).expect("the error serializes");
        let back: orch::Error = serde_json::from_str(&text).expect("the error parses back");
        assert_eq!(back.message, e.to_string());
    }
}
