//! The installer end to end in a temp dir: what it writes, keeps, backs up and refuses.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::jsonc::{entry_value, parse_value};
use super::templates::{BIN_PLACEHOLDER, has_marker, shell_word};
use super::*;
use crate::paths::{Environment, Paths};
use crate::testutil::assert_no_secret;
use crate::wire::Format;

const BIN: &str = "/opt/orch/bin/orch";

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    paths: Paths,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir is created");
        let root = dir.path().to_path_buf();
        let project = root.join("proj");
        fs::create_dir_all(&project).expect("the directory is created");
        let env = Environment::from_pairs([
            ("HOME".to_owned(), root.join("home").display().to_string()),
            (
                "XDG_CONFIG_HOME".to_owned(),
                root.join("xdg-config").display().to_string(),
            ),
        ]);
        let paths = Paths::resolve(&env, &project);
        Self {
            _dir: dir,
            root,
            paths,
        }
    }

    fn project(&self, name: &str) -> PathBuf {
        self.paths.project_dir.join(name)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.project(name);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).expect("the directory is created");
        }
        fs::write(&path, text).expect("the file is written");
        path
    }

    fn run(&self, scope: InstallScope, dry_run: bool) -> Result<InstallReport, InstallError> {
        self.run_with(scope, dry_run, BIN)
    }

    fn run_with(
        &self,
        scope: InstallScope,
        dry_run: bool,
        bin: &str,
    ) -> Result<InstallReport, InstallError> {
        install(
            &self.paths,
            &InstallOptions {
                scope,
                dry_run,
                orch_bin: PathBuf::from(bin),
            },
        )
    }

    fn ok(&self, scope: InstallScope) -> InstallReport {
        self.run(scope, false).expect("the install runs")
    }

    /// Every file under the temp root with its bytes (what "nothing changed" compares).
    fn tree(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        crate::testutil::files_under(&self.root)
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn actions(report: &InstallReport) -> Vec<FileAction> {
    report.files.iter().map(|f| f.action).collect()
}

const COMMENTED: &str = r#"// Global comment: keep me.
{
    "$schema": "https://opencode.ai/config.json",
    /* block comment */
    "model": "openai/gpt-5",   // trailing comment
    "provider": {
        "openai": { "options": { "apiKey": "sk-test-123" } },
    },
    "mcp": {
        // another server, untouched
        "other": { "type": "remote", "url": "http://127.0.0.1:9/mcp", },
    },
    "disabled_providers": [ "groq", ],
}
// after the end
"#;

#[test]
fn comments_trailing_commas_and_unrelated_keys_are_kept() {
    let s = Setup::new();
    let config = s.write("opencode.jsonc", COMMENTED);
    let report = s.ok(InstallScope::Project);
    assert!(report.changed);
    assert_eq!(report.config_file, config);
    let expected = COMMENTED.replace(
        r#"        "other": { "type": "remote", "url": "http://127.0.0.1:9/mcp", },
"#,
        r#"        "other": { "type": "remote", "url": "http://127.0.0.1:9/mcp", },
        "orch": {
            "type": "local",
            "command": ["/opt/orch/bin/orch", "mcp"],
            "enabled": true,
        },
"#,
    );
    assert_eq!(read(&config), expected);
    let backup = s.project("opencode.jsonc.orch-backup");
    assert_eq!(read(&backup), COMMENTED);
    let config_report = &report.files[4];
    assert_eq!(config_report.kind, FileKind::Config);
    assert_eq!(config_report.action, FileAction::Updated);
    assert_eq!(config_report.backup.as_deref(), Some(backup.as_path()));
    assert_eq!(config_report.changes, ["add mcp.orch"]);
    // The text OpenCode reads: the old value plus orch's entry.
    let value = parse_value(&read(&config)).expect("the config parses");
    assert_eq!(value["mcp"]["orch"], entry_value(BIN));
    assert_eq!(
        value["provider"]["openai"]["options"]["apiKey"],
        "sk-test-123"
    );
}

#[test]
fn a_config_without_mcp_gets_one_in_its_own_style() {
    let s = Setup::new();
    let config = s.write("opencode.json", "{\r\n\t\"model\": \"a/b\"\r\n}\r\n");
    s.ok(InstallScope::Project);
    assert_eq!(
        read(&config),
        "{\r\n\t\"model\": \"a/b\",\r\n\t\"mcp\": {\r\n\t\t\"orch\": {\r\n\t\t\t\"type\": \"local\",\r\n\t\t\t\"command\": [\"/opt/orch/bin/orch\", \"mcp\"],\r\n\t\t\t\"enabled\": true\r\n\t\t}\r\n\t}\r\n}\r\n"
    );
}

#[test]
fn an_empty_or_comment_only_config_gets_the_entry() {
    for text in ["", "\n", "// only a comment\n"] {
        let s = Setup::new();
        let config = s.write("opencode.json", text);
        s.ok(InstallScope::Project);
        let after = read(&config);
        assert!(after.starts_with(text.trim_end()), "{after:?}");
        let value = parse_value(&after).expect("the config parses");
        assert_eq!(
            value,
            serde_json::json!({"mcp": {"orch": entry_value(BIN)}})
        );
    }
}

#[test]
fn a_byte_order_mark_is_kept_and_not_doubled() {
    for text in [
        "\u{feff}",
        "\u{feff}{\"model\": \"openai/gpt-5\"}\n",
        "\u{feff}// c\n{}\n",
    ] {
        let s = Setup::new();
        let config = s.write("opencode.json", text);
        s.ok(InstallScope::Project);
        let after = read(&config);
        assert!(after.starts_with('\u{feff}'), "{after:?}");
        assert_eq!(after.matches('\u{feff}').count(), 1, "{after:?}");
        let value = parse_value(&after).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(value["mcp"]["orch"], entry_value(BIN));
        // Once more: nothing to change.
        let report = s.ok(InstallScope::Project);
        assert!(!report.changed, "{text:?}");
    }
}

#[test]
fn a_missing_config_is_created_with_schema() {
    let s = Setup::new();
    let report = s.ok(InstallScope::Project);
    let config = s.project("opencode.json");
    assert_eq!(report.config_file, config);
    assert_eq!(
        read(&config),
        r#"{
  "$schema": "https://opencode.ai/config.json",
  "mcp": {
    "orch": {
      "type": "local",
      "command": ["/opt/orch/bin/orch", "mcp"],
      "enabled": true
    }
  }
}
"#
    );
    assert_eq!(report.files[4].action, FileAction::Created);
    assert_eq!(report.files[4].backup, None);
    assert!(!s.project("opencode.jsonc").exists());
}

#[test]
fn running_twice_changes_nothing_the_second_time() {
    let s = Setup::new();
    s.write("opencode.jsonc", COMMENTED);
    let first = s.ok(InstallScope::Project);
    assert_eq!(
        actions(&first),
        [
            FileAction::Created,
            FileAction::Created,
            FileAction::Created,
            FileAction::Created,
            FileAction::Updated,
            FileAction::Created
        ]
    );
    let before = s.tree();
    let mtimes: Vec<_> = before
        .keys()
        .map(|p| fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect();
    let second = s.ok(InstallScope::Project);
    assert!(!second.changed);
    assert!(actions(&second).iter().all(|a| *a == FileAction::Unchanged));
    assert!(second.files.iter().all(|f| f.backup.is_none()));
    assert_eq!(s.tree(), before, "no file written, no new backup");
    let after: Vec<_> = before
        .keys()
        .map(|p| fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect();
    assert_eq!(mtimes, after, "not even rewritten with the same bytes");
    assert!(render(&second, Format::Table).contains("Nothing to change"));
}

#[test]
fn jsonc_is_preferred_over_json() {
    let s = Setup::new();
    let json = s.write("opencode.json", "{\"model\": \"a/b\"}\n");
    let jsonc = s.write("opencode.jsonc", "{\n  // c\n}\n");
    let report = s.ok(InstallScope::Project);
    assert_eq!(report.config_file, jsonc);
    assert_eq!(read(&json), "{\"model\": \"a/b\"}\n");
    assert!(read(&jsonc).contains("\"orch\""));
    assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
    assert!(!report.notes[0].contains("defines mcp.orch"));

    // An mcp.orch in opencode.json would override the entry: the note says so.
    let s = Setup::new();
    s.write(
        "opencode.json",
        r#"{"mcp": {"orch": {"type": "local", "command": ["x"]}}}"#,
    );
    s.write("opencode.jsonc", "{}");
    let report = s.ok(InstallScope::Project);
    assert!(
        report.notes[0].contains("defines mcp.orch"),
        "{:?}",
        report.notes
    );
}

#[test]
fn refusals_name_the_file_and_change_nothing() {
    let cases: &[(&str, &[u8], &str)] = &[
            ("opencode.json", b"{\"model\": ", "not valid JSON"),
            ("opencode.json", b"{'model': 'a'}", "not valid JSON"),
            ("opencode.jsonc", b"[1, 2]", "top level is not a JSON object"),
            ("opencode.json", b"\"sk-test-123\"", "top level is not a JSON object"),
            ("opencode.json", b"{\"mcp\": [\"orch\"]}", "\"mcp\" is not an object"),
            (
                "opencode.json",
                b"{\"mcp\": {\"orch\": {\"type\": \"remote\", \"url\": \"http://x\", \"headers\": {\"Authorization\": \"sk-test-123\"}}}}",
                "differs at mcp.orch.command, mcp.orch.enabled, mcp.orch.headers, mcp.orch.type, mcp.orch.url",
            ),
            (
                "opencode.json",
                b"{\"mcp\": {\"orch\": {\"type\": \"local\", \"command\": [\"/usr/bin/other\", \"mcp\"], \"enabled\": true}}}",
                "differs at mcp.orch.command",
            ),
            (
                "opencode.json",
                b"{\"mcp\": {\"orch\": {\"type\": \"local\", \"command\": [\"/old/orch\", \"mcp\"], \"enabled\": false}}}",
                "differs at mcp.orch.command, mcp.orch.enabled",
            ),
            ("opencode.json", b"{\"mcp\": {}, \"mcp\": {}}", "\"mcp\" appears 2 times"),
            (
                "opencode.json",
                b"{\"mcp\": {\"orch\": {}, \"orch\": {}}}",
                "\"mcp.orch\" appears 2 times",
            ),
            ("opencode.json", b"{\"model\": \"\xff\"}", "not UTF-8"),
        ];
    for (name, bytes, why) in cases {
        let s = Setup::new();
        let path = s.project(name);
        fs::write(&path, bytes).expect("the file is written");
        let before = s.tree();
        let err = match s.run(InstallScope::Project, false) {
            Err(e) => e,
            Ok(r) => panic!(
                "{name} {:?}: installed: {r:?}",
                String::from_utf8_lossy(bytes)
            ),
        };
        let message = err.to_string();
        assert!(
            matches!(&err, InstallError::Refused { path: p, .. } if *p == path),
            "{message}"
        );
        assert!(message.contains(*why), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("nothing was changed"), "{message}");
        assert_no_secret("a refusal", &message);
        assert_eq!(s.tree(), before, "{message}");
        assert!(
            !s.project(".opencode").exists(),
            "no command written: {message}"
        );
    }
}

#[test]
fn a_config_that_is_a_directory_or_a_dangling_link_is_refused() {
    let s = Setup::new();
    fs::create_dir_all(s.project("opencode.jsonc")).expect("the directory is created");
    let err = s
        .run(InstallScope::Project, false)
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("not a regular file")));

    let s = Setup::new();
    std::os::unix::fs::symlink(s.root.join("nowhere"), s.project("opencode.json"))
        .expect("the symlink is created");
    let err = s
        .run(InstallScope::Project, false)
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("symbolic link")));
    assert!(!s.project(".opencode").exists());
}

#[test]
fn a_link_is_followed_and_stays_a_link() {
    let s = Setup::new();
    let real = s.root.join("dotfiles").join("opencode.json");
    fs::create_dir_all(s.root.join("dotfiles")).expect("the directory is created");
    fs::write(&real, "{}\n").expect("the file is written");
    let link = s.project("opencode.json");
    std::os::unix::fs::symlink(&real, &link).expect("the symlink is created");
    let report = s.ok(InstallScope::Project);
    assert!(fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink()));
    assert!(read(&real).contains("\"orch\""));
    assert_eq!(
        report.files[4].backup.as_deref(),
        Some(s.root.join("dotfiles/opencode.json.orch-backup").as_path())
    );
}

#[test]
fn a_backup_is_made_once_and_never_overwritten() {
    let s = Setup::new();
    let config = s.write("opencode.json", "{\"model\": \"a/b\"}\n");
    s.ok(InstallScope::Project);
    let first = s.project("opencode.json.orch-backup");
    assert_eq!(read(&first), "{\"model\": \"a/b\"}\n");
    s.ok(InstallScope::Project);
    assert!(!s.project("opencode.json.orch-backup.1").exists());

    // A moved binary: only command[0] changes, and the first backup is kept.
    let installed = read(&config);
    let report = s
        .run_with(InstallScope::Project, false, "/new/place/orch")
        .expect("the install runs");
    assert_eq!(read(&first), "{\"model\": \"a/b\"}\n");
    let second = s.project("opencode.json.orch-backup.1");
    assert_eq!(read(&second), installed);
    assert_eq!(report.files[4].backup.as_deref(), Some(second.as_path()));
    assert_eq!(
        read(&config),
        installed.replace("/opt/orch/bin/orch", "/new/place/orch")
    );
    // Own command files are replaced without a backup.
    assert!(
        report.files[..4]
            .iter()
            .all(|f| f.action == FileAction::Updated && f.backup.is_none())
    );
    let backups = s
        .tree()
        .into_keys()
        .filter(|p| p.to_string_lossy().contains(BACKUP_SUFFIX))
        .count();
    assert_eq!(backups, 2);
}

#[test]
fn a_moved_binary_updates_only_the_path_and_keeps_formatting() {
    let s = Setup::new();
    let text = "{\n  \"mcp\": {\n    \"orch\": { \"type\": \"local\", \"command\": [\"/old/orch\", \"mcp\"], \"enabled\": true } // mine\n  }\n}\n";
    let config = s.write("opencode.jsonc", text);
    let report = s.ok(InstallScope::Project);
    assert_eq!(read(&config), text.replace("/old/orch", BIN));
    assert_eq!(
        report.files[4].changes,
        ["set mcp.orch.command[0] to this orch binary"]
    );
}

#[test]
fn permissions_are_kept_and_backups_are_as_private_as_the_original() {
    let s = Setup::new();
    let config = s.write("opencode.json", "{\"provider\": {}}\n");
    fs::set_permissions(&config, fs::Permissions::from_mode(0o600))
        .expect("the permissions are set");
    s.ok(InstallScope::Project);
    let mode = |p: &Path| {
        fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o777)
            .expect("the config's mode reads")
    };
    assert_eq!(mode(&config), 0o600);
    assert_eq!(mode(&s.project("opencode.json.orch-backup")), 0o600);
    // No temporary file left behind.
    let leftovers: Vec<_> = s
        .tree()
        .into_keys()
        .filter(|p| p.to_string_lossy().contains("orch-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_command_file_orch_did_not_write_is_backed_up_and_its_own_is_not() {
    let s = Setup::new();
    let mine = s.write(
        ".opencode/commands/orchestrator.models.md",
        "my own prompt\n",
    );
    let ours = s.write(
        ".opencode/commands/orchestrator.workers.md",
        "---\ndescription: old\n# orch-managed: old version\n---\n!`/old/orch workers`\n",
    );
    let report = s.ok(InstallScope::Project);
    let f = &report.files[0];
    assert_eq!(
        (f.action, f.path.as_path()),
        (FileAction::Updated, mine.as_path())
    );
    let backup = s.project(".opencode/commands/orchestrator.models.md.orch-backup");
    assert_eq!(f.backup.as_deref(), Some(backup.as_path()));
    assert_eq!(read(&backup), "my own prompt\n");
    assert!(has_marker(&read(&mine)));
    let f = &report.files[3];
    assert_eq!((f.action, f.backup.as_ref()), (FileAction::Updated, None));
    assert!(read(&ours).contains(&format!(
        "!`{BIN} opencode shortcut workers $ARGUMENTS 2>&1`"
    )));
}

#[test]
fn command_files_run_this_binary_through_the_shortcut_agent() {
    let s = Setup::new();
    s.ok(InstallScope::Project);
    let dir = s.project(".opencode/commands");
    let expected = [
        ("orchestrator.models", "models $ARGUMENTS"),
        (
            "orchestrator.worker-model-set",
            "worker-model-set $ARGUMENTS",
        ),
        (
            "orchestrator.worker-model-reset",
            "worker-model-reset $ARGUMENTS",
        ),
        ("orchestrator.workers", "workers $ARGUMENTS"),
    ];
    assert_eq!(command_names(), expected.map(|(n, _)| n));
    for (name, sub) in expected {
        let text = read(&dir.join(format!("{name}.md")));
        assert!(text.starts_with("---\ndescription: "), "{text}");
        assert!(has_marker(&text), "{text}");
        // The output is the user's message, shown once; the hidden agent (no tools, a
        // short prompt) answers it without repeating it.
        assert!(
            text.contains(&format!("!`{BIN} opencode shortcut {sub} 2>&1`")),
            "{text}"
        );
        assert!(
            text.contains("\nagent: orchestrator-shortcut\nsubtask: false\n"),
            "{text}"
        );
        assert!(!text.contains("Show the output above"), "{text}");
        assert!(!text.contains(BIN_PLACEHOLDER));
    }
    let agent = read(&s.project(".opencode/agents/orchestrator-shortcut.md"));
    assert!(has_marker(&agent), "{agent}");
    for line in ["mode: subagent", "hidden: true", "  \"*\": deny"] {
        assert!(agent.lines().any(|l| l == line), "no {line:?} in {agent}");
    }
}

#[test]
fn a_dry_run_writes_nothing_and_shows_the_change() {
    let s = Setup::new();
    s.write("opencode.jsonc", COMMENTED);
    let before = s.tree();
    let report = s
        .run(InstallScope::Project, true)
        .expect("the install runs");
    assert_eq!(s.tree(), before);
    assert!(report.dry_run && report.changed);
    assert_eq!(
        actions(&report),
        [
            FileAction::Created,
            FileAction::Created,
            FileAction::Created,
            FileAction::Created,
            FileAction::Updated,
            FileAction::Created
        ]
    );
    assert_eq!(
        report.files[4].backup.as_deref(),
        Some(s.project("opencode.jsonc.orch-backup").as_path())
    );
    assert_eq!(
        report.files[4].diff.as_deref(),
        Some(
            "+ mcp.orch = {\"type\": \"local\", \"command\": [\"/opt/orch/bin/orch\", \"mcp\"], \"enabled\": true}\n"
        )
    );
    let text = render(&report, Format::Table);
    assert!(text.contains("would create"), "{text}");
    assert!(
        text.contains("+!`/opt/orch/bin/orch opencode shortcut models $ARGUMENTS"),
        "{text}"
    );
    assert!(text.contains("would back up to"), "{text}");
    assert_no_secret("a dry run", &text);
    let json = serde_json::to_string(&report).unwrap_or_default();
    assert_no_secret("a dry run's JSON", &json);

    // After a real run, a dry run of a moved binary shows a diff of orch's own lines.
    s.ok(InstallScope::Project);
    let report = s
        .run_with(InstallScope::Project, true, "/new/orch")
        .expect("the install runs");
    let diff = report.files[0].diff.as_deref().unwrap_or_default();
    assert!(
        diff.contains("\n-!`/opt/orch/bin/orch opencode shortcut models"),
        "{diff}"
    );
    assert!(
        diff.contains("\n+!`/new/orch opencode shortcut models"),
        "{diff}"
    );
    assert!(diff.contains("\n ---\n"), "{diff}");
    assert_eq!(
        report.files[4].diff.as_deref(),
        Some("~ mcp.orch.command[0] = \"/new/orch\"\n")
    );
}

#[test]
fn a_normal_run_reports_no_diff() {
    let s = Setup::new();
    let report = s.ok(InstallScope::Project);
    assert!(report.files.iter().all(|f| f.diff.is_none()));
}

#[test]
fn global_and_project_scopes_use_their_own_paths() {
    let s = Setup::new();
    let report = s.ok(InstallScope::Global);
    let global = s.root.join("xdg-config/opencode");
    assert_eq!(report.commands_dir, global.join("commands"));
    assert_eq!(report.config_file, global.join("opencode.json"));
    assert!(global.join("commands/orchestrator.models.md").is_file());
    assert!(read(&global.join("opencode.json")).contains("\"orch\""));
    assert!(!s.project(".opencode").exists());
    assert!(!s.project("opencode.json").exists());

    let report = s.ok(InstallScope::Project);
    assert_eq!(report.commands_dir, s.project(".opencode/commands"));
    assert_eq!(report.config_file, s.project("opencode.json"));
    assert!(report.changed, "the project is a separate place");

    // HOME alone: ~/.config/opencode.
    let env = Environment::from_pairs([("HOME".to_owned(), "/home/u".to_owned())]);
    let (commands, config) = locations(&Paths::resolve(&env, "/p"), InstallScope::Global);
    assert_eq!(commands, PathBuf::from("/home/u/.config/opencode/commands"));
    assert_eq!(config, PathBuf::from("/home/u/.config/opencode"));
    let (commands, config) = locations(&Paths::resolve(&env, "/p"), InstallScope::Project);
    assert_eq!(commands, PathBuf::from("/p/.opencode/commands"));
    assert_eq!(config, PathBuf::from("/p"));
}

#[test]
fn the_binary_path_is_one_safe_shell_word() {
    let ok = [
        ("/usr/local/bin/orch", "/usr/local/bin/orch"),
        ("/home/a b/orch", "'/home/a b/orch'"),
        ("/home/it's/orch", r"'/home/it'\''s/orch'"),
        ("/x/$HOME;rm/orch", "'/x/$HOME;rm/orch'"),
    ];
    for (path, word) in ok {
        assert_eq!(
            shell_word(Path::new(path)).map_err(|e| e.to_string()),
            Ok(word.to_owned())
        );
    }
    for bad in ["/a`b/orch", "/a\nb/orch", "orch", "bin/orch"] {
        assert!(shell_word(Path::new(bad)).is_err(), "{bad:?}");
    }
    let s = Setup::new();
    let err = s.run_with(InstallScope::Project, false, "/a`b/orch");
    assert!(matches!(err, Err(InstallError::Binary { .. })));
    assert!(!s.project(".opencode").exists());
}

#[test]
fn the_report_reads_back_as_json() {
    let s = Setup::new();
    let report = s.ok(InstallScope::Project);
    let json = serde_json::to_string_pretty(&report).unwrap_or_default();
    let back: InstallReport = serde_json::from_str(&json).expect("the json parses");
    assert_eq!(back, report);
    assert!(json.contains("\"scope\": \"project\""), "{json}");
    assert!(json.contains("\"action\": \"created\""), "{json}");
}

#[test]
fn the_shortcut_agent_sits_beside_the_commands_and_a_foreign_one_is_backed_up() {
    let s = Setup::new();
    let report = s.ok(InstallScope::Global);
    let global = s.root.join("xdg-config/opencode");
    let agent = report.files.last().expect("the agent file is reported");
    assert_eq!(agent.kind, FileKind::Agent);
    assert_eq!(
        agent.path,
        global.join("agents").join(format!("{AGENT_NAME}.md"))
    );

    // The user's own file of that name is kept as a backup; orch's own is replaced quietly.
    let mine = s.write(
        ".opencode/agents/orchestrator-shortcut.md",
        "---\ndescription: mine\n---\nmy agent\n",
    );
    let report = s.ok(InstallScope::Project);
    let agent = report.files.last().expect("the agent file is reported");
    assert_eq!(
        (agent.action, agent.path.as_path()),
        (FileAction::Updated, mine.as_path())
    );
    let backup = s.project(".opencode/agents/orchestrator-shortcut.md.orch-backup");
    assert_eq!(agent.backup.as_deref(), Some(backup.as_path()));
    assert_eq!(read(&backup), "---\ndescription: mine\n---\nmy agent\n");
    assert!(has_marker(&read(&mine)));
    let again = s.ok(InstallScope::Project);
    assert_eq!(
        again.files.last().map(|f| f.action),
        Some(FileAction::Unchanged)
    );
}
