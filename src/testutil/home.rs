//! Temporary homes for tests: the capture's setup (the project config of the OpenCode
//! capture, an `openai` key from `/connect`, `GROQ_API_KEY` in the environment), with every
//! XDG directory and the socket inside the temporary directory.

use std::path::Path;

use super::fixture;
use crate::paths::{Environment, Paths};

/// Writes the capture's setup under `root` and returns its paths and environment:
/// `root/home` (with `auth.json`), `root/project` (with `opencode.json`), and the socket
/// candidates under `root/run` (kept short: socket paths are limited to about 100 bytes).
#[expect(clippy::expect_used, reason = "test setup")]
pub fn capture_home(root: &Path) -> (Paths, Environment) {
    let home = root.join("home");
    let project = root.join("project");
    std::fs::create_dir_all(project.join(".git")).expect("project dir");
    std::fs::create_dir_all(home.join(".local/share/opencode")).expect("data dir");
    std::fs::write(
        project.join("opencode.json"),
        fixture("project-opencode.json"),
    )
    .expect("opencode.json");
    std::fs::write(
        home.join(".local/share/opencode/auth.json"),
        r#"{"openai":{"type":"api","key":"sk-test-123"}}"#,
    )
    .expect("auth.json");
    let env = Environment::from_pairs([
        ("HOME".to_owned(), home.display().to_string()),
        ("GROQ_API_KEY".to_owned(), "gsk-test-env".to_owned()),
        (
            "XDG_RUNTIME_DIR".to_owned(),
            root.join("run").display().to_string(),
        ),
        ("TMPDIR".to_owned(), root.join("tmp").display().to_string()),
    ]);
    (Paths::resolve(&env, project), env)
}
