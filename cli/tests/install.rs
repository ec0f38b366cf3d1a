//! `orch opencode install` end to end: the real binary in a scrubbed environment (HOME and
//! XDG_* in a temp dir), exit codes asserted, output snapshotted with temp paths masked.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use orch::install::{FileAction, InstallReport, InstallScope};

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

struct Sandbox {
    _dir: tempfile::TempDir,
    root: PathBuf,
    project: PathBuf,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = dir.path().canonicalize().unwrap_or_else(|e| panic!("{e}"));
        let project = root.join("project");
        for d in [&project, &root.join("home"), &root.join("tmp")] {
            std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{e}"));
        }
        Self {
            _dir: dir,
            root,
            project,
        }
    }

    fn global_dir(&self) -> PathBuf {
        self.root.join("home/.config/opencode")
    }

    /// Runs orch in the project directory with nothing of the caller's environment.
    fn orch(&self, args: &[&str]) -> Output {
        self.orch_in(&self.project, args)
    }

    fn orch_in(&self, cwd: &Path, args: &[&str]) -> Output {
        let home = self.root.join("home");
        Command::new(env!("CARGO_BIN_EXE_orch"))
            .args(args)
            .current_dir(cwd)
            .env_clear()
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_STATE_HOME", home.join(".local/state"))
            .env("TMPDIR", self.root.join("tmp"))
            .env("NO_COLOR", "1")
            .output()
            .unwrap_or_else(|e| panic!("cannot run orch: {e}"))
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.project.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// Every file under the sandbox with its content.
    fn tree(&self) -> Vec<(PathBuf, Vec<u8>)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push((path.clone(), std::fs::read(&path).unwrap_or_default()));
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out.sort();
        out
    }

    /// Snapshot settings that mask the orch binary and the temp dir.
    fn settings(&self) -> insta::Settings {
        let bin = Path::new(env!("CARGO_BIN_EXE_orch"))
            .canonicalize()
            .unwrap_or_else(|e| panic!("{e}"));
        let mut settings = insta::Settings::clone_current();
        settings.add_filter(&regex_escape(&bin.display().to_string()), "[ORCH]");
        settings.add_filter(&regex_escape(&self.root.display().to_string()), "[TMP]");
        settings
    }
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

#[test]
fn dry_run_then_install_then_nothing_to_change() {
    let s = Sandbox::new();
    std::fs::write(s.project.join("opencode.jsonc"), COMMENTED).unwrap_or_else(|e| panic!("{e}"));
    let settings = s.settings();

    let before = s.tree();
    let out = s.orch(&["opencode", "install", "--dry-run"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(s.tree(), before, "a dry run writes nothing");
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("sk-test-123"), "{stdout}");
    settings.bind(|| insta::assert_snapshot!("dry_run", stdout));

    let out = s.orch(&["opencode", "install", "--project"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    settings.bind(|| insta::assert_snapshot!("first_install", stdout));
    let config = s.read("opencode.jsonc");
    for kept in [
        "// My OpenCode config: keep every comment.",
        "\"model\": \"openai/gpt-5\", /* the default */",
        "\"openai\": { \"options\": { \"apiKey\": \"sk-test-123\" } },",
        "\"disabled_providers\": [\"groq\",],",
    ] {
        assert!(config.contains(kept), "{kept} lost:\n{config}");
    }
    settings.bind(|| insta::assert_snapshot!("config_after", config));
    assert_eq!(s.read("opencode.jsonc.orch-backup"), COMMENTED);
    assert!(
        s.read(".opencode/commands/orchestrator.models.md")
            .contains(&format!(
                "!`{} models $ARGUMENTS --format markdown 2>&1`",
                Path::new(env!("CARGO_BIN_EXE_orch"))
                    .canonicalize()
                    .unwrap_or_else(|e| panic!("{e}"))
                    .display()
            ))
    );

    let before = s.tree();
    let out = s.orch(&["opencode", "install"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert_eq!(s.tree(), before, "the second run changes nothing");
    let stdout = text(&out.stdout);
    settings.bind(|| insta::assert_snapshot!("second_install", stdout));
}

#[test]
fn json_report_reads_back() {
    let s = Sandbox::new();
    let out = s.orch(&["--format", "json", "opencode", "install"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let report: InstallReport = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    assert_eq!(report.scope, InstallScope::Project);
    assert!(report.changed && !report.dry_run);
    assert_eq!(report.config_file, s.project.join("opencode.json"));
    assert!(report.files.iter().all(|f| f.action == FileAction::Created));
    assert!(report.orch_bin.is_absolute());

    let out = s.orch(&["opencode", "install", "--format", "json"]);
    let report: InstallReport =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert!(!report.changed);
}

#[test]
fn a_refusal_exits_1_names_the_file_and_changes_nothing() {
    let s = Sandbox::new();
    let config = s.project.join("opencode.json");
    std::fs::write(
        &config,
        r#"{"mcp": {"orch": {"type": "remote", "url": "http://127.0.0.1:1", "headers": {"Authorization": "Bearer sk-test-123"}}}}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let before = s.tree();
    let out = s.orch(&["opencode", "install"]);
    assert_eq!(code(&out), 1);
    assert_eq!(s.tree(), before);
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("sk-test-123"), "{stderr}");
    s.settings()
        .bind(|| insta::assert_snapshot!("refusal_foreign_entry", stderr));

    std::fs::write(&config, "{\"model\": \"a/b\",, }").unwrap_or_else(|e| panic!("{e}"));
    let out = s.orch(&["opencode", "install", "--dry-run"]);
    assert_eq!(code(&out), 1);
    let stderr = text(&out.stderr);
    s.settings()
        .bind(|| insta::assert_snapshot!("refusal_invalid_json", stderr));
}

#[test]
fn global_scope_writes_into_the_opencode_config_dir() {
    let s = Sandbox::new();
    let out = s.orch(&["opencode", "install", "--global"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let global = s.global_dir();
    assert!(global.join("commands/orchestrator.workers.md").is_file());
    assert!(global.join("opencode.json").is_file());
    assert!(!s.project.join(".opencode").exists());
    assert!(!s.project.join("opencode.json").exists());
    let stdout = text(&out.stdout);
    s.settings()
        .bind(|| insta::assert_snapshot!("global_install", stdout));
}

#[test]
fn project_dir_can_be_given_and_global_conflicts_with_it() {
    let s = Sandbox::new();
    let other = s.root.join("elsewhere");
    std::fs::create_dir_all(&other).unwrap_or_else(|e| panic!("{e}"));
    let project = s.project.display().to_string();
    let out = s.orch_in(&other, &["opencode", "install", "--project", &project]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    assert!(
        s.project
            .join(".opencode/commands/orchestrator.models.md")
            .is_file()
    );
    assert!(!other.join(".opencode").exists());

    let before = s.tree();
    for args in [
        &["opencode", "install", "--global", "--project"][..],
        &["-C", project.as_str(), "opencode", "install", "--global"][..],
        &["opencode", "install", "--everywhere"][..],
        &["opencode"][..],
    ] {
        let out = s.orch(args);
        assert_eq!(code(&out), 2, "{args:?}: {}", text(&out.stderr));
    }
    assert_eq!(s.tree(), before);
}

#[test]
fn help_lists_the_install_options() {
    let s = Sandbox::new();
    let out = s.orch(&["opencode", "install", "--help"]);
    assert_eq!(code(&out), 0);
    let stdout = text(&out.stdout);
    insta::assert_snapshot!("install_help", stdout);
}

#[test]
fn format_markdown_renders_a_table_and_fenced_diffs() {
    let s = Sandbox::new();
    let out = s.orch(&["opencode", "install", "--dry-run", "--format", "markdown"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let markdown = text(&out.stdout);
    let table = text(&s.orch(&["opencode", "install", "--dry-run"]).stdout);
    assert_ne!(markdown, table);
    assert!(
        markdown.starts_with(
            "**orch opencode install** (project; dry run, nothing written)\n\n| ACTION | FILE | CHANGES | BACKUP |\n| --- | --- | --- | --- |\n"
        ),
        "{markdown}"
    );
    assert_eq!(markdown.matches("\n```diff\n--- /dev/null\n").count(), 5);
    assert!(table.starts_with("orch opencode install (project; dry run"));
    assert!(
        !table.contains("```") && !table.contains("| ACTION |"),
        "{table}"
    );

    let out = s.orch(&["--format", "markdown", "opencode", "install"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    s.settings()
        .bind(|| insta::assert_snapshot!("first_install_markdown", stdout));
}
