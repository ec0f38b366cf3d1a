//! `orch opencode install` end to end: the real binary in a scrubbed environment (HOME and
//! XDG_* in a temp dir), exit codes asserted, output snapshotted with temp paths masked.

use std::path::{Path, PathBuf};

use orch::install::{FileAction, InstallReport, InstallScope};
use orch::testutil::{Run, Sandbox, files_under, regex_escape};

const BIN: &str = env!("CARGO_BIN_EXE_orch");

const COMMENTED: &str = r#"// My OpenCode config: keep every comment.
{
  "$schema": "https://opencode.ai/config.json",
  "model": "openai/gpt-5", /* the default */
  "provider": {
    "openai": { "options": { "apiKey": "sk-test-123" } },
  },
  "disabled_providers": ["groq",],
}
"#;

/// A project file's text.
fn read(s: &Sandbox, name: &str) -> String {
    std::fs::read_to_string(s.project().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The orch binary, canonical, as the install writes it into OpenCode's config.
#[expect(clippy::expect_used, reason = "test set-up")]
fn orch_bin() -> PathBuf {
    Path::new(BIN)
        .canonicalize()
        .expect("the orch binary's path")
}

/// Snapshot settings that mask the orch binary and the temp dir.
fn settings(s: &Sandbox) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(&orch_bin().display().to_string()), "[ORCH]");
    settings.add_filter(&regex_escape(&s.root().display().to_string()), "[TMP]");
    settings
}

#[test]
fn dry_run_then_install_then_nothing_to_change() {
    let s = Sandbox::new(BIN);
    std::fs::write(s.project().join("opencode.jsonc"), COMMENTED).expect("the project config");
    let settings = settings(&s);

    let before = files_under(s.root());
    let out = s.run(&["opencode", "install", "--dry-run"]);
    assert_eq!(out.code, 0, "{}", out.stderr.clone());
    assert_eq!(files_under(s.root()), before, "a dry run writes nothing");
    let stdout = out.stdout.clone();
    assert!(!stdout.contains("sk-test-123"), "{stdout}");
    settings.bind(|| insta::assert_snapshot!("dry_run", stdout));

    let out = s.run(&["opencode", "install", "--project"]);
    assert_eq!(out.code, 0, "{}", out.stderr.clone());
    let stdout = out.stdout.clone();
    settings.bind(|| insta::assert_snapshot!("first_install", stdout));
    let config = read(&s, "opencode.jsonc");
    for kept in [
        "// My OpenCode config: keep every comment.",
        "\"model\": \"openai/gpt-5\", /* the default */",
        "\"openai\": { \"options\": { \"apiKey\": \"sk-test-123\" } },",
        "\"disabled_providers\": [\"groq\",],",
    ] {
        assert!(config.contains(kept), "{kept} lost:\n{config}");
    }
    settings.bind(|| insta::assert_snapshot!("config_after", config));
    assert_eq!(read(&s, "opencode.jsonc.orch-backup"), COMMENTED);
    assert!(
        read(&s, ".opencode/commands/orchestrator.models.md").contains(&format!(
            "!`{} opencode shortcut models $ARGUMENTS 2>&1`",
            Path::new(env!("CARGO_BIN_EXE_orch"))
                .canonicalize()
                .expect("the orch binary's path")
                .display()
        ))
    );

    let before = files_under(s.root());
    let out = s.run(&["opencode", "install"]);
    assert_eq!(out.code, 0, "{}", out.stderr.clone());
    assert_eq!(
        files_under(s.root()),
        before,
        "the second run changes nothing"
    );
    let stdout = out.stdout.clone();
    settings.bind(|| insta::assert_snapshot!("second_install", stdout));
}

#[test]
fn json_report_reads_back() {
    let s = Sandbox::new(BIN);
    let out = s.run(&["--format", "json", "opencode", "install"]);
    assert_eq!(out.code, 0, "{}", out.stderr.clone());
    let report: InstallReport =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout.clone()));
    assert_eq!(report.scope, InstallScope::Project);
    assert!(report.changed && !report.dry_run);
    assert_eq!(report.config_file, s.project().join("opencode.json"));
    assert!(report.files.iter().all(|f| f.action == FileAction::Created));
    assert!(report.orch_bin.is_absolute());

    let out = s.run(&["opencode", "install", "--format", "json"]);
    let report: InstallReport = serde_json::from_str(&out.stdout).expect("the JSON install report");
    assert!(!report.changed);
}

#[test]
fn a_refusal_exits_1_names_the_file_and_changes_nothing() {
    let s = Sandbox::new(BIN);
    let config = s.project().join("opencode.json");
    std::fs::write(
        &config,
        r#"{"mcp": {"orch": {"type": "remote", "url": "http://127.0.0.1:1", "headers": {"Authorization": "Bearer sk-test-123"}}}}"#,
    )
    .expect("the project config");
    let before = files_under(s.root());
    let out = s.run(&["opencode", "install"]);
    assert_eq!(out.code, 1);
    assert_eq!(files_under(s.root()), before);
    assert!(out.stdout.is_empty());
    let stderr = out.stderr.clone();
    assert!(!stderr.contains("sk-test-123"), "{stderr}");
    settings(&s).bind(|| insta::assert_snapshot!("refusal_foreign_entry", stderr));

    std::fs::write(&config, "{\"model\": \"a/b\",, }").expect("the project config");
    let out = s.run(&["opencode", "install", "--dry-run"]);
    assert_eq!(out.code, 1);
    let stderr = out.stderr.clone();
    settings(&s).bind(|| insta::assert_snapshot!("refusal_invalid_json", stderr));
}

#[test]
fn global_scope_writes_into_the_opencode_config_dir() {
    let s = Sandbox::new(BIN);
    let out = s.run(&["opencode", "install", "--global"]);
    assert_eq!(out.code, 0, "{}", out.stderr.clone());
    let global = s.home().join(".config/opencode");
    assert!(global.join("commands/orchestrator.workers.md").is_file());
    assert!(global.join("opencode.json").is_file());
    assert!(!s.project().join(".opencode").exists());
    assert!(!s.project().join("opencode.json").exists());
    let stdout = out.stdout.clone();
    settings(&s).bind(|| insta::assert_snapshot!("global_install", stdout));
}

#[test]
fn project_dir_can_be_given_and_global_conflicts_with_it() {
    let s = Sandbox::new(BIN);
    let other = s.root().join("elsewhere");
    std::fs::create_dir_all(&other).expect("another directory");
    let project = s.project().display().to_string();
    let out = Run::of(
        "orch opencode install --project",
        s.orch(&["opencode", "install", "--project", &project])
            .current_dir(&other)
            .output(),
    );
    assert_eq!(out.code, 0, "{}", out.stderr.clone());
    assert!(
        s.project()
            .join(".opencode/commands/orchestrator.models.md")
            .is_file()
    );
    assert!(!other.join(".opencode").exists());

    let before = files_under(s.root());
    for args in [
        &["opencode", "install", "--global", "--project"][..],
        &["-C", project.as_str(), "opencode", "install", "--global"][..],
        &["opencode", "install", "--everywhere"][..],
        &["opencode"][..],
    ] {
        let out = s.run(args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr.clone());
    }
    assert_eq!(files_under(s.root()), before);
}

#[test]
fn help_lists_the_install_options() {
    let s = Sandbox::new(BIN);
    let out = s.run(&["opencode", "install", "--help"]);
    assert_eq!(out.code, 0);
    let stdout = out.stdout.clone();
    insta::assert_snapshot!("install_help", stdout);
}

#[test]
fn format_markdown_renders_a_table_and_fenced_diffs() {
    let s = Sandbox::new(BIN);
    let out = s.run(&["opencode", "install", "--dry-run", "--format", "markdown"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let markdown = out.stdout.clone();
    let table = s.run(&["opencode", "install", "--dry-run"]).stdout;
    assert_ne!(markdown, table);
    assert!(
        markdown.starts_with(
            "**orch opencode install** (project; dry run, nothing written)\n\n| ACTION | FILE | CHANGES | BACKUP |\n| --- | --- | --- | --- |\n"
        ),
        "{markdown}"
    );
    assert_eq!(markdown.matches("\n```diff\n--- /dev/null\n").count(), 6);
    assert!(table.starts_with("orch opencode install (project; dry run"));
    assert!(
        !table.contains("```") && !table.contains("| ACTION |"),
        "{table}"
    );

    let out = s.run(&["--format", "markdown", "opencode", "install"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let stdout = out.stdout.clone();
    settings(&s).bind(|| insta::assert_snapshot!("first_install_markdown", stdout));
}

#[test]
fn a_config_that_starts_with_a_byte_order_mark_keeps_it() {
    let s = Sandbox::new(BIN);
    let config = s.project().join("opencode.jsonc");
    let marked = format!("\u{feff}{COMMENTED}");
    std::fs::write(&config, &marked).expect("the project config");
    let out = s.run(&["opencode", "install", "--project"]);
    assert_eq!(out.code, 0, "{}", out.stderr.clone());
    let text = read(&s, "opencode.jsonc");
    assert!(text.starts_with('\u{feff}'), "the mark is kept");
    assert_eq!(text.matches('\u{feff}').count(), 1, "and not doubled");
    assert!(text.contains("// My OpenCode config: keep every comment."));
    assert!(text.contains("\"orch\""), "{text}");
    // The backup is the file as it was, mark included; a second run changes nothing.
    let backup = s.project().join("opencode.jsonc.orch-backup");
    assert_eq!(std::fs::read_to_string(backup).expect("a backup"), marked);
    let out = s.run(&["--format", "json", "opencode", "install", "--project"]);
    assert_eq!(out.code, 0, "{}", out.stderr.clone());
    let report: InstallReport = serde_json::from_str(&out.stdout).expect("a JSON report");
    assert!(!report.changed, "nothing to change the second time");
    // OpenCode's reader (and orch's) sees the entry.
    let models = s.run(&["--format", "json", "models"]);
    assert_eq!(models.code, 0, "{}", models.stderr.clone());
}

/// What OpenCode's `/orchestrator.*` files run: `orch opencode shortcut NAME ARGS...`.
#[test]
fn shortcuts_take_the_slash_arguments_and_answer_usage_errors_in_slash_syntax() {
    let s = Sandbox::capture(BIN);
    // `/orchestrator.models node:fast` (as docs/tui.md shows it): what the tag picks.
    let out = s.run(&["opencode", "shortcut", "models", "node:fast"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("reference") && l.contains("node:fast")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("candidates"), "{}", out.stdout);
    // Aligned columns, not Markdown pipes: OpenCode shows the user's message as plain text.
    assert!(!out.stdout.contains("| "), "{}", out.stdout);
    // Words that are not a tag search the models.
    let out = s.run(&["opencode", "shortcut", "models", "gpt-4o", "--scope", "all"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains("gpt-4o")),
        "{}",
        out.stdout
    );

    // Usage errors: exit 2, the slash syntax, nothing of the orch command line behind it.
    for (args, usage) in [
        (
            &["opencode", "shortcut", "worker-model-set", "docs"][..],
            "Usage: /orchestrator.worker-model-set WORKER MODEL-OR-TAG",
        ),
        (
            &["opencode", "shortcut", "worker-model-reset"][..],
            "Usage: /orchestrator.worker-model-reset WORKER",
        ),
        (
            &["opencode", "shortcut", "workers", "extra"][..],
            "Usage: /orchestrator.workers",
        ),
        (
            &["opencode", "shortcut", "models", "--scope", "nope"][..],
            "Usage: /orchestrator.models",
        ),
    ] {
        let out = s.run(args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.starts_with("error: "),
            "{args:?}: {}",
            out.stderr
        );
        assert!(out.stderr.contains(usage), "{args:?}: {}", out.stderr);
        for orch_syntax in ["--format", "orch worker-model", "orch models", "--help"] {
            assert!(
                !out.stderr.contains(orch_syntax),
                "{args:?}: {}",
                out.stderr
            );
        }
    }
    // `--format json` still gets the JSON error object.
    let out = s.run(&[
        "opencode",
        "shortcut",
        "worker-model-set",
        "docs",
        "--format",
        "json",
    ]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let error: serde_json::Value = serde_json::from_str(&out.stdout).expect("a JSON error");
    assert_eq!(error["error"]["kind"], "usage", "{error}");
    // An unknown shortcut is an unknown command, as before.
    let out = s.run(&["opencode", "shortcut", "nope"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
}
