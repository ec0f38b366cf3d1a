//! The core's layers import one way: `wire` ← `knowledge` ← `views` ← `workers` ← `tasks`
//! ← `mcp` ← `api` ← `client`. A module may use the layers below it, never one above, so
//! the crate has no import cycle and `api` stays a thin top (docs/architecture.md).

use std::path::{Path, PathBuf};

/// Lowest first: each layer, and the files (or directories) that hold it.
const LAYERS: [(&str, &str); 8] = [
    ("wire", "src/wire.rs"),
    ("knowledge", "src/knowledge.rs"),
    ("views", "src/views.rs"),
    ("workers", "src/workers"),
    ("tasks", "src/tasks"),
    ("mcp", "src/mcp"),
    ("api", "src/api.rs"),
    ("client", "src/client"),
];

#[expect(clippy::expect_used, reason = "test helper")]
fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).expect("a layer's directory is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

#[test]
fn no_layer_imports_a_layer_above_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut wrong = Vec::new();
    for (i, (layer, path)) in LAYERS.iter().enumerate() {
        for file in rust_files(&root.join(path)) {
            let source = std::fs::read_to_string(&file).expect("a source file is readable");
            // Doc links may name any module; only code counts.
            let text: String = source
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            for (above, _) in &LAYERS[i + 1..] {
                for needle in [
                    format!("crate::{above}::"),
                    format!("crate::{above}}}"),
                    format!("crate::{above};"),
                    format!("crate::{{{above}"),
                    format!("crate::{{{above},"),
                ] {
                    if text.contains(&needle) {
                        wrong.push(format!(
                            "{} ({layer}) uses {above}",
                            file.strip_prefix(root).unwrap_or(&file).display()
                        ));
                    }
                }
            }
        }
    }
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "imports against the layering:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_check_sees_an_upward_import() {
    // The needles above must catch the spellings rustfmt produces.
    let text = "use crate::api::Orchestrator;\nuse crate::{api, wire};";
    assert!(text.contains("crate::api::"));
    assert!(text.contains("crate::{api"));
}
