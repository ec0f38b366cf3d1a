//! The real `orch` binary, end to end, in a scrubbed environment: `HOME`, `XDG_*` and
//! `TMPDIR` point into a temp dir, only `PATH` is kept. Exit codes are asserted (0 ok,
//! 1 failure, 2 usage), human output is snapshotted, JSON is read back into the `wire`
//! types (which deny unknown fields), and no fake key of the captures is ever printed.

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

use orch::testutil::Sandbox;
use orch::testutil::sandbox::PREFIX;
use orch::wire::{ModelsView, ProfilesView, ResolveView};

const BIN: &str = env!("CARGO_BIN_EXE_orch");

/// Exit codes, as documented in `cli/src/exit.rs`.
const OK: i32 = 0;
const FAILURE: i32 = 1;
const USAGE: i32 = 2;

/// A machine with no OpenCode config, no keys, no credentials; PATH is the caller's.
fn fresh() -> Sandbox {
    let mut m = Sandbox::new(BIN);
    m.set("PATH", std::env::var_os("PATH").unwrap_or_default());
    m
}

/// The capture's setup (see `Sandbox::capture`); PATH is the caller's.
fn capture() -> Sandbox {
    let mut m = Sandbox::capture(BIN);
    m.set("PATH", std::env::var_os("PATH").unwrap_or_default());
    m
}

/// What these tests expect of a command beyond the sandbox's own checks.
trait Expect {
    /// Runs orch and expects success with nothing on stderr.
    fn ok(&self, args: &[&str]) -> String;
    /// Runs orch with `--format json` and reads the view back.
    fn json<T: serde::de::DeserializeOwned>(&self, args: &[&str]) -> T;
}

impl Expect for Sandbox {
    fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(run.code, OK, "orch {args:?}: {}", run.stderr);
        assert_eq!(run.stderr, "", "orch {args:?}");
        run.stdout
    }

    fn json<T: serde::de::DeserializeOwned>(&self, args: &[&str]) -> T {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        let out = self.ok(&all);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("orch {args:?}: {e}\n{out}"))
    }
}

/// Snapshots with temp paths masked.
fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&format!(r"(/[^\s:,]*)?/{PREFIX}[A-Za-z0-9_]+"), "[TMP]");
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| insta::assert_snapshot!(name, text));
}

#[test]
fn help_and_version() {
    let m = fresh();
    snapshot("help", &m.ok(&["--help"]));
    snapshot("models_help", &m.ok(&["models", "--help"]));
    snapshot("resolve_help", &m.ok(&["resolve", "--help"]));
    let version = m.ok(&["--version"]);
    assert!(version.starts_with("orch "), "{version}");
    // The server URL may carry a password: help never prints the variable's value.
    let mut m = m;
    m.set("ORCH_OPENCODE_URL", "http://user:sk-test-123@127.0.0.1:9");
    let help = m.ok(&["models", "--help"]);
    assert!(help.contains("ORCH_OPENCODE_URL"), "{help}");
    // An unreachable server is a failure naming it, without the password.
    let run = m.run(&["models"]);
    assert_eq!(run.code, FAILURE, "{}", run.stderr);
    assert!(run.stderr.contains("127.0.0.1:9"), "{}", run.stderr);
}

#[test]
fn usage_errors_exit_2() {
    let m = fresh();
    let cases: &[&[&str]] = &[
        &[],
        &["nope"],
        &["models", "--scope", "some"],
        &["models", "--limit", "-1"],
        &["models", "--limit", "many"],
        &["resolve"],
        &["--format", "xml", "models"],
        &["profiles", "extra"],
    ];
    for args in cases {
        let run = m.run(args);
        assert_eq!(run.code, USAGE, "orch {args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("Usage:") || run.stderr.contains("--help"),
            "orch {args:?}: {}",
            run.stderr
        );
        assert_eq!(run.stdout, "", "orch {args:?}");
    }
}

#[test]
fn models_on_a_fresh_machine_lists_the_free_opencode_models() {
    let m = fresh();
    let table = m.ok(&["models"]);
    snapshot("models_fresh", &table);
    assert!(table.contains("opencode/big-pickle (default)"), "{table}");
    let view: ModelsView = m.json(&["models"]);
    assert_eq!(view.usable_providers, ["opencode"]);
    assert_eq!(view.source, "local");
    assert!(
        view.catalog.contains("bundled snapshot"),
        "{}",
        view.catalog
    );
    assert!(!view.models.is_empty());
    assert!(
        view.models
            .iter()
            .all(|r| r.provider == "opencode" && r.usable && r.cost_input == Some(0.0)),
        "{view:?}"
    );
    assert!(view.warnings.is_empty(), "{:?}", view.warnings);
    snapshot(
        "models_fresh_markdown",
        &m.ok(&["--format", "markdown", "models"]),
    );
    // The whole catalog is there too, marked unusable.
    let all: ModelsView = m.json(&["models", "--scope", "all", "--limit", "5"]);
    assert!(all.total > 8000, "{}", all.total);
    assert_eq!(all.models.len(), 5);
}

#[test]
fn models_on_the_capture_setup() {
    let m = capture();
    let table = m.ok(&["models"]);
    snapshot("models_capture", &table);
    let view: ModelsView = m.json(&["models"]);
    assert_eq!(
        view.usable_providers,
        ["fake", "groq", "openai", "opencode"]
    );
    let sources: std::collections::BTreeMap<&str, &str> = view
        .models
        .iter()
        .map(|r| (r.provider.as_str(), r.source.as_str()))
        .collect();
    assert_eq!(
        sources.into_iter().collect::<Vec<_>>(),
        [
            ("fake", "config"),
            ("groq", "env"),
            ("openai", "api"),
            ("opencode", "custom")
        ]
    );
    assert_eq!(view.total, view.models.len());
    // Filters.
    let groq: ModelsView = m.json(&["models", "--provider", "groq"]);
    assert!(!groq.models.is_empty() && groq.models.iter().all(|r| r.provider == "groq"));
    let vision: ModelsView = m.json(&["models", "--vision"]);
    assert!(vision.models.iter().all(|r| r.image));
    assert!(vision.models.iter().any(|r| r.model == "fake/vision-pro"));
    let q: ModelsView = m.json(&["models", "-q", "gpt-5-mini", "--limit", "3"]);
    assert_eq!(
        q.models.first().map(|r| r.model.as_str()),
        Some("openai/gpt-5-mini")
    );
    assert!(q.models.len() <= 3);
}

#[test]
fn resolve_a_tag_for_a_worker() {
    let m = capture();
    let out = m.ok(&["resolve", "node:fast", "--worker", "explorer"]);
    snapshot("resolve_node_fast_explorer", &out);
    let view: ResolveView = m.json(&["resolve", "node:fast", "--worker", "explorer"]);
    assert_eq!(view.worker.as_deref(), Some("explorer"));
    let r = &view.resolution;
    assert_eq!(r.resolved_model, "fake/fast-mini");
    assert_eq!(r.model_ref, "node:fast");
    assert!(
        r.reason.contains("small_model from the OpenCode config"),
        "{}",
        r.reason
    );
    // The same on a fresh machine: a scored pick, and the reason says why.
    let fresh = fresh();
    let view: ResolveView = fresh.json(&["resolve", "node:fast", "--worker", "explorer"]);
    assert!(view.resolution.resolved_model.starts_with("opencode/"));
    assert!(view.resolution.reason.contains("small_model is not set"));
    assert!(view.resolution.metadata.candidates.len() > 1);
    snapshot(
        "resolve_explicit_unusable",
        &m.ok(&["resolve", "openrouter/anthropic/claude-sonnet-4.5"]),
    );
    snapshot(
        "resolve_vision_markdown",
        &m.ok(&[
            "--format",
            "markdown",
            "resolve",
            "node:vision",
            "-w",
            "vision",
        ]),
    );
}

#[test]
fn resolve_failures_exit_1_with_suggestions() {
    let m = capture();
    // (args, phrases on stderr)
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["resolve", "claude-sonnet"],
            &[
                "orch: no usable model matches \"claude-sonnet\"",
                "closest:",
                "anthropic/",
            ],
        ),
        (
            &["resolve", "openai/gpt-6"],
            &[
                "provider openai has no model \"gpt-6\"",
                "did you mean",
                "openai/gpt-5",
            ],
        ),
        (&["resolve", "nope/x"], &["unknown provider \"nope\""]),
        (&["resolve", "node:slow"], &["unknown tag", "node:fast"]),
        (&["resolve", ""], &["empty model reference"]),
        (&["resolve", "/"], &["invalid model reference \"/\""]),
        (
            &["resolve", "é€ü日本"],
            &["no usable model matches \"é€ü日本\""],
        ),
        (
            &["resolve", "fake/big-pro", "--worker", "vision"],
            &[
                "the vision worker needs a model with image input, but fake/big-pro has none",
                "usable models with image input: fake/vision-pro",
            ],
        ),
        (
            &["resolve", "node", "--worker", "nobody"],
            &["unknown worker \"nobody\"", "explorer"],
        ),
    ];
    for (args, phrases) in cases {
        let run = m.run(args);
        assert_eq!(run.code, FAILURE, "orch {args:?}: {}", run.stderr);
        assert_eq!(run.stdout, "", "orch {args:?}");
        for p in *phrases {
            assert!(
                run.stderr.contains(p),
                "orch {args:?}: {p:?} not in {}",
                run.stderr
            );
        }
        assert_eq!(
            run.stderr.lines().count(),
            1,
            "orch {args:?}: one line: {}",
            run.stderr
        );
    }
    let run = m.run(&["resolve", "claude-sonnet"]);
    snapshot("resolve_no_match_stderr", &run.stderr);
    // With --format json an error is one JSON object on stdout (issue 14), same exit code.
    let run = m.run(&["--format", "json", "resolve", "nope/x"]);
    assert_eq!((run.code, run.stderr.as_str()), (FAILURE, ""));
    assert!(run.stdout.starts_with("{\"error\":"), "{}", run.stdout);
}

#[test]
fn profiles_show_what_each_worker_resolves_to() {
    let m = capture();
    snapshot("profiles_capture", &m.ok(&["profiles"]));
    let view: ProfilesView = m.json(&["profiles"]);
    let resolved: Vec<(&str, Option<&str>)> = view
        .profiles
        .iter()
        .map(|p| (p.id.as_str(), p.resolved_model.as_deref()))
        .collect();
    assert_eq!(resolved.len(), 6);
    for (id, model) in &resolved {
        assert!(model.is_some(), "{id} does not resolve");
    }
    let get = |id: &str| {
        resolved
            .iter()
            .find(|(i, _)| *i == id)
            .and_then(|(_, m)| *m)
    };
    assert_eq!(get("coder"), Some("fake/big-pro"));
    assert_eq!(get("explorer"), Some("fake/fast-mini"));
    // User profiles and tags from orchestrator.json.
    m.write(
        "project/.opencode/orchestrator.json",
        r#"{ // JSONC
          "profiles": {"reviewer": {"name": "Reviewer", "model": ["nope/x", "node:fast"]}},
          "tags": {"cheap": ["groq/llama-3.1-8b-instant", "node:fast"]},
        }"#,
    );
    let out = m.ok(&["profiles"]);
    snapshot("profiles_with_orchestrator_json", &out);
    let view: ProfilesView = m.json(&["profiles"]);
    assert!(view.files.iter().any(|f| f.ends_with("orchestrator.json")));
    assert_eq!(view.tags.len(), 1);
    let reviewer = view.profiles.iter().find(|p| p.id == "reviewer");
    assert_eq!(
        reviewer.and_then(|p| p.resolved_model.as_deref()),
        Some("fake/fast-mini")
    );
    let view: ResolveView = m.json(&["resolve", "cheap"]);
    assert_eq!(view.resolution.resolved_model, "groq/llama-3.1-8b-instant");
    snapshot("profiles_fresh", &fresh().ok(&["profiles"]));
}

#[test]
fn broken_files_exit_1_naming_the_file() {
    let cases: &[(&str, &str, &str)] = &[
        ("project/opencode.json", "{\"model\": ", "opencode.json"),
        (
            "project/opencode.json",
            "{\"model\": \"{env:GROQ_API_KEY}\", \"small_model\": 5}",
            "expected a string",
        ),
        (
            "project/.opencode/orchestrator.json",
            "{\"profile\": {}}",
            "unknown field",
        ),
        (
            "home/.config/opencode/orchestrator.json",
            "{\"tags\": {\"x\": []}}",
            "empty fallback chain",
        ),
    ];
    for (file, content, phrase) in cases {
        let m = capture();
        m.write(file, content);
        for args in [&["models"][..], &["resolve", "node"], &["profiles"]] {
            let run = m.run(args);
            assert_eq!(run.code, FAILURE, "{file} orch {args:?}: {}", run.stderr);
            let name = file.rsplit('/').next().unwrap_or(file);
            assert!(
                run.stderr.contains(name) && run.stderr.contains(phrase),
                "{file}: {}",
                run.stderr
            );
        }
    }
    // A broken auth.json or models cache is a warning: orch still answers.
    let m = capture();
    m.write(
        "home/.local/share/opencode/auth.json",
        "{\"openai\": sk-test-123",
    );
    m.write("home/.cache/opencode/models.json", "[]");
    let out = m.ok(&["models"]);
    assert!(
        out.contains("warning: ignoring") && out.contains("auth.json"),
        "{out}"
    );
    assert!(out.contains("models.json"), "{out}");
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let m = capture();
    let mut child = m
        .orch(&["models", "--scope", "all"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("orch starts");
    let stdout = child.stdout.take().expect("a piped stdout");
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("the first line of the table");
    assert!(first.starts_with("MODEL"), "{first}");
    // The reader is gone; orch finds the pipe closed and stops quietly.
    let status = child.wait().expect("orch exits");
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut stderr).expect("orch's stderr");
    }
    assert_eq!(status.code(), Some(OK), "{stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn completions_print_a_script() {
    let m = fresh();
    let out = m.ok(&["completions", "bash"]);
    assert!(
        out.contains("_orch()") && out.contains("resolve"),
        "{}",
        &out[..200.min(out.len())]
    );
}

#[test]
fn inside_a_worker_that_may_not_delegate_task_commands_are_refused() {
    let mut m = capture();
    m.set("ORCH_DELEGATION_DEPTH", "0");
    for args in [
        &["run", "docs", "x"][..],
        &["worker-model-set", "docs", "node:fast"][..],
        &["worker-model-reset", "docs"][..],
        &["warm", "docs"][..],
    ] {
        let run = m.run(args);
        assert_eq!(run.code, FAILURE, "orch {args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("ORCH_DELEGATION_DEPTH=0") && run.stderr.contains("delegate"),
            "orch {args:?}: {}",
            run.stderr
        );
    }
    // Views still work there.
    let run = m.run(&["profiles", "--format", "json"]);
    assert_eq!(run.code, OK, "{}", run.stderr);
}

/// Puts a UTF-8 byte order mark in front of a sandbox file.
#[expect(clippy::expect_used, reason = "test helper")]
fn prepend_bom(path: &std::path::Path) {
    let text = std::fs::read(path).expect("the file to mark");
    let mut marked = "\u{feff}".as_bytes().to_vec();
    marked.extend_from_slice(&text);
    std::fs::write(path, marked).expect("the marked file");
}

#[test]
fn files_that_start_with_a_byte_order_mark_are_read_like_opencode_reads_them() {
    let plain = capture();
    let before: ModelsView = plain.json(&["models"]);
    let before_profiles: ProfilesView = plain.json(&["profiles"]);

    let m = capture();
    m.write(
        "project/.opencode/orchestrator.json",
        "\u{feff}{\"tags\": {\"cheap\": [\"groq/llama-3.1-8b-instant\"]}}",
    );
    prepend_bom(&m.project().join("opencode.json"));
    prepend_bom(&m.home().join(".local/share/opencode/auth.json"));
    let after: ModelsView = m.json(&["models"]);
    assert_eq!(after.usable_providers, before.usable_providers);
    assert_eq!(
        after.usable_providers,
        ["fake", "groq", "openai", "opencode"]
    );
    assert_eq!(after.total, before.total);
    let table = m.ok(&["models"]);
    assert!(table.contains("fake/big-pro"), "{table}");
    let profiles: ProfilesView = m.json(&["profiles"]);
    assert_eq!(
        profiles.tags.len(),
        1,
        "orchestrator.json with a BOM is read"
    );
    assert_eq!(profiles.profiles, before_profiles.profiles);
}

/// Completes the word at `line`'s last position as bash does through the script
/// `COMPLETE=bash orch` prints; the candidates, one per line.
#[expect(clippy::expect_used, reason = "test helper")]
fn complete(m: &Sandbox, line: &[&str]) -> Vec<String> {
    let mut c = m.orch(&["--"]);
    c.args(line)
        .env("COMPLETE", "bash")
        .env("_CLAP_IFS", "\n")
        .env("_CLAP_COMPLETE_INDEX", (line.len() - 1).to_string())
        .env("_CLAP_COMPLETE_COMP_TYPE", "9")
        .env("_CLAP_COMPLETE_SPACE", "true");
    let out = c.output().expect("orch runs");
    assert_eq!(out.status.code(), Some(OK), "{line:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn dynamic_completions_offer_workers_and_model_references() {
    let m = capture();
    let mut with_env = m.orch(&[]);
    let out = with_env
        .env("COMPLETE", "bash")
        .output()
        .expect("orch prints the script");
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(script.contains("_clap_complete_orch"), "{script}");
    assert_eq!(complete(&m, &["orch", "worker-model-set", "do"]), ["docs"]);
    assert_eq!(complete(&m, &["orch", "run", "expl"]), ["explorer"]);
    // The capture's usable providers' models, as references, after the tags.
    let refs = complete(&m, &["orch", "worker-model-set", "docs", "fake/"]);
    assert_eq!(refs, ["fake/big-pro", "fake/fast-mini", "fake/vision-pro"]);
    let refs = complete(&m, &["orch", "resolve", "node:"]);
    assert!(refs.contains(&"node:fast".to_owned()), "{refs:?}");
    let providers = complete(&m, &["orch", "models", "--provider", "gr"]);
    // Usable providers first.
    assert_eq!(providers, ["groq", "greenpt"]);
    // A completion never starts a backend.
    assert!(!m.socket().exists());
}

/// `--format json` errors: one object on stdout, nothing on stderr, the same exit codes.
#[test]
fn json_errors_are_one_object_on_stdout_with_the_same_exit_codes() {
    let m = capture();
    let cases: &[(&[&str], i32, &str)] = &[
        (&["resolve", "nope/x"], FAILURE, "not_found"),
        (&["resolve", "gpt"], FAILURE, "ambiguous"),
        (&["resolve", ""], FAILURE, "invalid_input"),
        (&["models", "--provider", "nope"], FAILURE, "not_found"),
        (&["modles"], USAGE, "usage"),
        (&["models", "--limit", "many"], USAGE, "usage"),
        (&["run", "docs", ""], USAGE, "usage"),
    ];
    for (args, code, kind) in cases {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        let run = m.run(&all);
        assert_eq!(run.code, *code, "orch {all:?}: {}", run.stdout);
        assert_eq!(run.stderr, "", "orch {all:?}");
        let v: serde_json::Value = serde_json::from_str(&run.stdout)
            .unwrap_or_else(|e| panic!("orch {all:?}: {e}: {}", run.stdout));
        let error = &v["error"];
        assert_eq!(error["kind"], *kind, "orch {all:?}: {v}");
        assert!(error["message"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(error["suggestions"].is_array(), "{v}");
        assert!(error["more"].is_u64(), "{v}");
    }
    let run = m.run(&["--format", "json", "resolve", "gpt"]);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    snapshot(
        "json_error_ambiguous",
        &serde_json::to_string_pretty(&v).expect("JSON"),
    );
    // Usage errors: the typo's closest subcommand first.
    let run = m.run(&["--format", "json", "modles"]);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(v["error"]["suggestions"][0], "models", "{v}");
    let run = m.run(&["modles"]);
    assert_eq!(run.code, USAGE);
    assert!(run.stderr.contains("'models'"), "{}", run.stderr);
    let models_at = run.stderr.find("'models'");
    let profiles_at = run.stderr.find("'profiles'");
    assert!(
        profiles_at.is_none() || models_at < profiles_at,
        "models first: {}",
        run.stderr
    );
}

#[test]
fn references_match_without_separators_and_suggest_with_a_count() {
    let m = capture();
    // The capture has openai usable: `gpt4o` is its gpt-4o family, not an error.
    let view: ResolveView = m.json(&["resolve", "gpt4o"]);
    assert!(
        view.resolution.resolved_model.starts_with("openai/gpt-4o"),
        "{}",
        view.resolution.resolved_model
    );
    // An ambiguous reference: ranked candidates, how many more, and where to see them.
    let run = m.run(&["resolve", "gpt"]);
    assert_eq!(run.code, FAILURE);
    assert!(
        run.stderr.contains("more; see `orch models -q gpt`)"),
        "{}",
        run.stderr
    );
    // A wrong model id: the closest spellings first.
    let run = m.run(&["resolve", "openai/gpt-9"]);
    assert_eq!(run.code, FAILURE);
    assert!(
        run.stderr.contains("did you mean: openai/gpt-5,"),
        "{}",
        run.stderr
    );
}

#[test]
fn smaller_cli_points_of_issue_14() {
    let m = capture();
    // `orch tui` without a terminal: a readable error, no escape code, no backend.
    let run = m.run(&["tui"]);
    assert_eq!(run.code, FAILURE, "{}", run.stderr);
    assert!(run.stderr.contains("needs a terminal"), "{}", run.stderr);
    assert!(!run.stdout.contains('\x1b') && !run.stderr.contains('\x1b'));
    assert!(!m.socket().exists());
    // --format where nothing is printed is a usage error.
    for args in [
        &["--format", "json", "tui"][..],
        &["completions", "bash", "--format", "json"],
        &["serve", "--format", "table"],
    ] {
        let run = m.run(args);
        assert_eq!(run.code, USAGE, "orch {args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("--format does not apply"),
            "{}",
            run.stderr
        );
    }
    // An unknown provider is an error naming the closest ones.
    let run = m.run(&["models", "--provider", "opnai"]);
    assert_eq!(run.code, FAILURE);
    assert!(
        run.stderr
            .contains("unknown provider \"opnai\"; did you mean: openai"),
        "{}",
        run.stderr
    );
    // The footer of a limited list says how many are shown, and how to see more.
    let out = m.ok(&["models", "--limit", "3"]);
    assert!(
        out.contains("88 usable models (3 shown; a higher --limit shows more)"),
        "{out}"
    );
    // An empty task is a usage error.
    let run = m.run(&["run", "docs", ""]);
    assert_eq!(run.code, USAGE, "{}", run.stderr);
    // Help lists the workers where a command takes one.
    let help = m.ok(&["worker-model-set", "--help"]);
    for w in ["vision", "docs", "coder", "architect", "explorer", "memory"] {
        assert!(help.contains(w), "{w}: {help}");
    }
}

/// The release binary stays under 20 MB (issue 14: 88 MB with line tables): the profile
/// keeps no debug info and no symbols. `ORCH_RELEASE_BIN=target/release/orch` also checks
/// the size of a built binary (CI builds it; building it here would take minutes).
#[test]
fn the_release_profile_strips_debug_info() {
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
    let text = std::fs::read_to_string(&manifest).expect("the workspace Cargo.toml");
    let release: Vec<&str> = text
        .split("[profile.release]")
        .nth(1)
        .expect("a release profile")
        .lines()
        .take_while(|l| !l.starts_with('['))
        .map(str::trim)
        .collect();
    assert!(release.contains(&"debug = false"), "{release:?}");
    assert!(release.contains(&"strip = \"symbols\""), "{release:?}");
    if let Some(bin) = std::env::var_os("ORCH_RELEASE_BIN") {
        let size = std::fs::metadata(&bin).expect("the release binary").len();
        assert!(size < 20_000_000, "{}: {size} bytes", bin.to_string_lossy());
    }
}

#[test]
fn chain_entries_that_name_no_model_show_in_profiles_and_resolve() {
    let m = capture();
    m.write(
        "project/.opencode/orchestrator.json",
        r#"{
          "profiles": {"docs": {"model": ["fake/big-pro", "groq/llama-3.3-70b-versatil"]}},
          "tags": {"team": ["openai/gpt-5-mimi", "openai/gpt-5-mini", "nope/x"]}
        }"#,
    );
    // The winner is an earlier entry: the later one is still checked, with "did you mean".
    let view: ProfilesView = m.json(&["profiles"]);
    let docs = view
        .profiles
        .iter()
        .find(|p| p.id == "docs")
        .expect("a docs profile");
    assert_eq!(docs.resolved_model.as_deref(), Some("fake/big-pro"));
    assert!(
        docs.reason.contains(
            "later entries name no model: groq/llama-3.3-70b-versatil (provider groq has no model \"llama-3.3-70b-versatil\"; did you mean: groq/llama-3.3-70b-versatile"
        ),
        "{}",
        docs.reason
    );
    let table = m.ok(&["profiles"]);
    assert!(
        table.contains("did you mean: groq/llama-3.3-70b-versatile"),
        "{table}"
    );
    // orch resolve lists every entry that names no model, before and after the winner.
    let view: ResolveView = m.json(&["resolve", "team"]);
    assert_eq!(view.resolution.resolved_model, "openai/gpt-5-mini");
    let missing: Vec<&str> = view
        .resolution
        .metadata
        .missing
        .iter()
        .map(|s| s.reference.as_str())
        .collect();
    assert_eq!(missing, ["openai/gpt-5-mimi", "nope/x"]);
    assert!(
        view.resolution.reason.contains("skipped openai/gpt-5-mimi (provider openai has no model \"gpt-5-mimi\"; did you mean: openai/gpt-5-mini"),
        "{}",
        view.resolution.reason
    );
    let text = m.ok(&["resolve", "team"]);
    assert!(
        text.contains("later entries name no model: nope/x"),
        "{text}"
    );
}

#[test]
fn models_for_a_worker_list_only_models_that_fit_it() {
    let m = capture();
    let all: ModelsView = m.json(&["models"]);
    // The capture's usable providers offer guard, speech and embedding models.
    for id in [
        "groq/meta-llama/llama-prompt-guard-2-86m",
        "groq/whisper-large-v3",
        "openai/text-embedding-3-small",
    ] {
        let row = all
            .models
            .iter()
            .find(|r| r.model == id)
            .expect("in the catalog");
        assert!(row.not_text.is_some(), "{id} is marked");
    }
    let memory: ModelsView = m.json(&["models", "--worker", "memory"]);
    assert!(!memory.models.is_empty());
    assert!(memory.models.len() < all.models.len());
    assert!(
        memory
            .models
            .iter()
            .all(|r| r.not_text.is_none() && r.tool_call),
        "only text models with tool calls"
    );
    let vision: ModelsView = m.json(&["models", "--worker", "vision", "-q", "big"]);
    assert!(
        vision
            .models
            .iter()
            .all(|r| r.image && r.not_text.is_none())
    );
    assert!(!vision.models.iter().any(|r| r.model.contains("embedding")));
    // An unknown worker is an error, with suggestions.
    let run = m.run(&["models", "--worker", "memroy"]);
    assert_eq!(run.code, FAILURE, "{}", run.stdout);
    assert!(run.stderr.contains("memory"), "{}", run.stderr);
}

/// Issue 14: a price nobody knows is not a free price. The capture's `fake` models are
/// declared in the OpenCode config without `cost` and are not in the catalog: `?` in
/// tables, `null` in JSON; the catalog's free models stay `0`.
#[test]
fn an_unknown_price_is_a_question_mark_and_null_not_zero() {
    let m = capture();
    let view: ModelsView = m.json(&["models", "--query", "big-pro"]);
    let big = view
        .models
        .iter()
        .find(|r| r.model == "fake/big-pro")
        .expect("fake/big-pro is listed");
    assert_eq!((big.cost_input, big.cost_output), (None, None));
    let raw = m.ok(&["models", "--query", "big-pro", "--format", "json"]);
    assert!(raw.contains("\"cost_input\": null"), "{raw}");
    let table = m.ok(&["models", "--query", "big-pro"]);
    let row = table
        .lines()
        .find(|l| l.starts_with("fake/big-pro"))
        .expect("a fake/big-pro row");
    assert!(row.trim_end().ends_with("?/?"), "{row}");
    // A model the catalog knows keeps its price, a free one `0`.
    let view: ModelsView = m.json(&["models", "--provider", "opencode"]);
    assert!(
        view.models.iter().all(|r| r.cost_input == Some(0.0)),
        "{view:?}"
    );
}
