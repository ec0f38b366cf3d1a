//! Durable worker settings: the models and policies users set, kept across restarts.
//!
//! `state.json` in orch's state directory: `{"version": 1, "workers": {"docs":
//! {"model": "node:fast", "policy": "sticky", "set_at": 1764000000000}}}`. Written
//! atomically; a file that cannot be read is moved aside (`state.json.corrupt-<secs>`) with
//! a warning, never silently overwritten.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::WorkerError;
use crate::fsutil::{move_aside, private_dir, strip_bom, write_atomic};
use crate::resolve::Policy;

/// The format version written.
pub const VERSION: u32 = 1;

/// What a user set for one worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerSetting {
    /// The model reference.
    pub model: String,
    /// The policy.
    pub policy: Policy,
    /// When (ms since the epoch).
    #[serde(default)]
    pub set_at: u64,
}

/// Every worker's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Format version.
    pub version: u32,
    /// By worker id.
    #[serde(default)]
    pub workers: BTreeMap<String, WorkerSetting>,
}

/// Reads and writes `state.json`.
#[derive(Debug, Clone)]
pub struct SettingsStore {
    path: PathBuf,
}

impl SettingsStore {
    /// The store in `state_dir`.
    pub fn new(state_dir: &Path) -> Self {
        Self {
            path: state_dir.join("state.json"),
        }
    }

    /// Its file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the settings. A missing file is empty settings; an unreadable one is moved
    /// aside and reported in the warning.
    pub fn load(&self, now_ms: u64) -> (Settings, Option<String>) {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Self::empty(), None),
            Err(e) => {
                return (
                    Self::empty(),
                    Some(format!(
                        "cannot read {}: {e}; starting without saved worker settings",
                        self.path.display()
                    )),
                );
            }
        };
        let parsed: Result<Settings, String> = serde_json::from_slice(strip_bom(&bytes))
            .map_err(|e| crate::sources::redact(&e.to_string()))
            .and_then(|s: Settings| {
                if s.version == VERSION {
                    Ok(s)
                } else {
                    Err(format!("unsupported version {}", s.version))
                }
            });
        match parsed {
            Ok(s) => (s, None),
            Err(why) => {
                let kept = match move_aside(&self.path, now_ms / 1000) {
                    Ok(p) => format!("kept as {}", p.display()),
                    Err(e) => format!("could not move it aside: {e}"),
                };
                (
                    Self::empty(),
                    Some(format!(
                        "{} is unreadable ({why}); {kept}; starting without saved worker settings",
                        self.path.display()
                    )),
                )
            }
        }
    }

    /// The files an earlier load moved aside (`state.json.corrupt-*`) that are still there:
    /// each one is a reset the user has not looked at yet.
    pub fn kept_aside(&self) -> Vec<PathBuf> {
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return Vec::new();
        };
        let prefix = format!("{}.corrupt-", name.to_string_lossy());
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut kept: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path())
            .collect();
        kept.sort();
        kept
    }

    /// Saves the settings atomically.
    pub fn save(&self, settings: &Settings) -> Result<(), WorkerError> {
        let err = |source: std::io::Error| WorkerError::State {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            private_dir(dir).map_err(err)?;
        }
        let mut bytes = serde_json::to_vec_pretty(settings).map_err(|e| err(e.into()))?;
        bytes.push(b'\n');
        write_atomic(&self.path, &bytes, 0o600).map_err(err)
    }

    fn empty() -> Settings {
        Settings {
            version: VERSION,
            workers: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corrupt_file_is_kept_aside() {
        let dir = tempfile::tempdir().expect("a temp dir is created");
        let store = SettingsStore::new(&dir.path().join("state"));
        let (mut s, w) = store.load(0);
        assert!(s.workers.is_empty() && w.is_none());
        s.workers.insert(
            "docs".into(),
            WorkerSetting {
                model: "node:fast".into(),
                policy: Policy::Sticky,
                set_at: 5,
            },
        );
        store.save(&s).expect("the settings save");
        assert_eq!(store.load(0).0, s);

        std::fs::write(store.path(), "{\"version\": 1, \"workers\": {")
            .expect("the file is written");
        let (s2, w) = store.load(9_000);
        assert!(s2.workers.is_empty());
        let w = w.unwrap_or_default();
        assert!(w.contains("state.json.corrupt-9"), "{w}");
        let kept = dir.path().join("state/state.json.corrupt-9");
        assert_eq!(
            std::fs::read_to_string(kept).unwrap_or_default(),
            "{\"version\": 1, \"workers\": {"
        );
        assert!(!store.path().exists());
        assert_eq!(
            store.kept_aside(),
            vec![dir.path().join("state/state.json.corrupt-9")]
        );
    }

    #[test]
    fn future_versions_are_not_overwritten_silently() {
        let dir = tempfile::tempdir().expect("a temp dir is created");
        let store = SettingsStore::new(dir.path());
        std::fs::write(store.path(), r#"{"version": 99, "workers": {}}"#)
            .expect("the file is written");
        let (_, w) = store.load(1000);
        assert!(w.unwrap_or_default().contains("unsupported version 99"));
        assert!(dir.path().join("state.json.corrupt-1").exists());
    }
}
