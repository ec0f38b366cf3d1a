//! Provider and model health: consecutive failures, the last class, a cooldown; kept in
//! `health.json` in orch's state directory so it survives a backend restart.
//!
//! The rules (`docs/model-selection.md`, "Health and cooldowns"): a failure that belongs
//! to the model or its provider ([`FailureClass::falls_back`]) counts; a `429` cools the
//! model down for its `retry-after` (at most an hour), any other counted failure for 30 s,
//! doubling with each failure in a row up to 10 minutes; a context overflow moves the task
//! on but says nothing about the model's health and is not counted; an auth failure marks
//! the whole provider unusable until the fingerprint of what orch knows about its
//! credentials and config changes. A success clears the model's record (and its provider's
//! mark). Tags and chains try models in cooldown only after every healthy candidate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::WorkerError;
use super::failure::Classified;
use crate::fsutil::{move_aside, private_dir, strip_bom, write_atomic};
use crate::wire::{FailureClass, HealthRow, HealthView};

/// The format version written.
pub const VERSION: u32 = 1;
/// The first cooldown after a failure without `retry-after`.
pub const FIRST_COOLDOWN: Duration = Duration::from_secs(30);
/// The longest cooldown a run of failures reaches.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(600);
/// The longest `retry-after` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// One model's record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Counted failures in a row.
    pub consecutive_failures: u32,
    /// The last class.
    #[serde(default)]
    pub last_class: Option<FailureClass>,
    /// Its status code.
    #[serde(default)]
    pub last_status_code: Option<u16>,
    /// Its message.
    #[serde(default)]
    pub last_error: Option<String>,
    /// Passed over until then (Unix ms).
    #[serde(default)]
    pub cooldown_until_ms: u64,
    /// Last change (Unix ms).
    #[serde(default)]
    pub updated_at_ms: u64,
}

/// A provider whose credentials were refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refused {
    /// Status code (401, 403), when known.
    #[serde(default)]
    pub status_code: Option<u16>,
    /// The error.
    #[serde(default)]
    pub error: String,
    /// The fingerprint of its credentials and config when they were refused.
    pub fingerprint: String,
    /// When (Unix ms).
    pub since_ms: u64,
}

/// Everything on record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Format version.
    pub version: u32,
    /// By `provider/model`.
    #[serde(default)]
    pub models: BTreeMap<String, Record>,
    /// By provider id.
    #[serde(default)]
    pub providers: BTreeMap<String, Refused>,
}

/// Whether a candidate may be tried now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Healthy.
    Ok,
    /// In cooldown for `left` more, after `why`.
    Cooling {
        /// Time left.
        left: Duration,
        /// `429`, `server error`, ...
        why: String,
    },
    /// The provider refused its credentials, which have not changed since.
    Unusable {
        /// `401`, ...
        why: String,
    },
}

impl Verdict {
    /// For a reason: `cooling down for 25 s after 429`.
    pub fn describe(&self) -> String {
        match self {
            Self::Ok => "healthy".into(),
            Self::Cooling { left, why } => {
                format!("cooling down for {} s after {why}", left.as_secs().max(1))
            }
            Self::Unusable { why } => format!(
                "its provider refused the credentials ({why}); unusable until they or its config change"
            ),
        }
    }
}

fn short(class: Option<FailureClass>, status: Option<u16>) -> String {
    match (status, class) {
        (Some(s), _) => s.to_string(),
        (None, Some(c)) => c.as_str().replace('_', " "),
        (None, None) => "a failure".into(),
    }
}

fn provider_of(model: &str) -> &str {
    model.split_once('/').map_or(model, |(p, _)| p)
}

impl Health {
    fn empty() -> Self {
        Self {
            version: VERSION,
            ..Self::default()
        }
    }

    /// May `model` (`provider/model`) be tried at `now_ms`, given its provider's
    /// credentials fingerprint now?
    pub fn verdict(&self, model: &str, fingerprint: &str, now_ms: u64) -> Verdict {
        if let Some(r) = self.providers.get(provider_of(model))
            && r.fingerprint == fingerprint
        {
            return Verdict::Unusable {
                why: short(Some(FailureClass::Auth), r.status_code),
            };
        }
        match self.models.get(model) {
            Some(r) if r.cooldown_until_ms > now_ms => Verdict::Cooling {
                left: Duration::from_millis(r.cooldown_until_ms - now_ms),
                why: short(r.last_class, r.last_status_code),
            },
            _ => Verdict::Ok,
        }
    }

    /// Records a failed attempt; returns whether anything changed.
    pub fn failed(&mut self, model: &str, c: &Classified, fingerprint: &str, now_ms: u64) -> bool {
        if !c.class.falls_back() || c.class == FailureClass::ContextOverflow {
            return false;
        }
        let r = self.models.entry(model.to_owned()).or_default();
        r.consecutive_failures = r.consecutive_failures.saturating_add(1);
        r.last_class = Some(c.class);
        r.last_status_code = c.status_code;
        r.last_error = Some(c.message.clone());
        r.updated_at_ms = now_ms;
        let cooldown = match (c.class, c.retry_after) {
            (FailureClass::RateLimited, Some(after)) => after.min(MAX_RETRY_AFTER),
            _ => {
                let doublings = r.consecutive_failures.saturating_sub(1).min(16);
                FIRST_COOLDOWN
                    .saturating_mul(1 << doublings)
                    .min(MAX_COOLDOWN)
            }
        };
        r.cooldown_until_ms = now_ms.saturating_add(crate::clock::millis(cooldown));
        if c.class == FailureClass::Auth {
            self.providers.insert(
                provider_of(model).to_owned(),
                Refused {
                    status_code: c.status_code,
                    error: c.message.clone(),
                    fingerprint: fingerprint.to_owned(),
                    since_ms: now_ms,
                },
            );
        }
        true
    }

    /// Records an answer: the model's record and its provider's mark are cleared. Returns
    /// whether anything changed.
    pub fn succeeded(&mut self, model: &str) -> bool {
        let a = self.models.remove(model).is_some();
        let b = self.providers.remove(provider_of(model)).is_some();
        a || b
    }

    /// The view at `now_ms`: refused providers first, then models in cooldown (longest
    /// first), then the rest by model.
    pub fn view(&self, now_ms: u64, path: Option<PathBuf>) -> HealthView {
        let mut rows: Vec<HealthRow> = self
            .providers
            .iter()
            .map(|(p, r)| HealthRow {
                model: format!("{p}/*"),
                state: "unusable".into(),
                consecutive_failures: 0,
                last_class: Some(FailureClass::Auth),
                last_status_code: r.status_code,
                last_error: Some(r.error.clone()).filter(|e| !e.is_empty()),
                cooldown_until_ms: None,
                cooldown_left_s: None,
                updated_at_ms: r.since_ms,
            })
            .collect();
        let mut models: Vec<HealthRow> = self
            .models
            .iter()
            .map(|(m, r)| {
                let cooling = r.cooldown_until_ms > now_ms;
                HealthRow {
                    model: m.clone(),
                    state: if cooling { "cooling" } else { "ok" }.into(),
                    consecutive_failures: r.consecutive_failures,
                    last_class: r.last_class,
                    last_status_code: r.last_status_code,
                    last_error: r.last_error.clone(),
                    cooldown_until_ms: cooling.then_some(r.cooldown_until_ms),
                    cooldown_left_s: cooling.then(|| (r.cooldown_until_ms - now_ms).div_ceil(1000)),
                    updated_at_ms: r.updated_at_ms,
                }
            })
            .collect();
        models.sort_by(|a, b| {
            b.cooldown_until_ms
                .cmp(&a.cooldown_until_ms)
                .then(a.model.cmp(&b.model))
        });
        rows.extend(models);
        HealthView { models: rows, path }
    }
}

/// Reads and writes `health.json`.
#[derive(Debug, Clone)]
pub struct HealthStore {
    path: PathBuf,
}

impl HealthStore {
    /// The store in `state_dir`.
    pub fn new(state_dir: &Path) -> Self {
        Self {
            path: state_dir.join("health.json"),
        }
    }

    /// Its file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the records. A missing file is a clean record; an unreadable one is moved
    /// aside and reported in the warning.
    pub fn load(&self, now_ms: u64) -> (Health, Option<String>) {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Health::empty(), None),
            Err(e) => {
                return (
                    Health::empty(),
                    Some(format!(
                        "cannot read {}: {e}; starting with a clean health record",
                        self.path.display()
                    )),
                );
            }
        };
        let parsed = serde_json::from_slice::<Health>(strip_bom(&bytes))
            .map_err(|e| crate::sources::redact(&e.to_string()))
            .and_then(|h| {
                if h.version == VERSION {
                    Ok(h)
                } else {
                    Err(format!("unsupported version {}", h.version))
                }
            });
        match parsed {
            Ok(h) => (h, None),
            Err(why) => {
                let kept = match move_aside(&self.path, now_ms / 1000) {
                    Ok(p) => format!("kept as {}", p.display()),
                    Err(e) => format!("could not move it aside: {e}"),
                };
                (
                    Health::empty(),
                    Some(format!(
                        "{} is unreadable ({why}); {kept}; starting with a clean health record",
                        self.path.display()
                    )),
                )
            }
        }
    }

    /// Saves the records atomically.
    pub fn save(&self, health: &Health) -> Result<(), WorkerError> {
        let err = |source: std::io::Error| WorkerError::State {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            private_dir(dir).map_err(err)?;
        }
        let mut bytes = serde_json::to_vec_pretty(health).map_err(|e| err(e.into()))?;
        bytes.push(b'\n');
        write_atomic(&self.path, &bytes, 0o600).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(class: FailureClass, status: Option<u16>, after: Option<u64>) -> Classified {
        Classified {
            class,
            status_code: status,
            retry_after: after.map(Duration::from_secs),
            message: format!("{class}"),
        }
    }

    #[test]
    fn a_429_honours_retry_after_and_other_failures_double_from_30_s_to_10_min() {
        let mut h = Health::empty();
        let limited = failure(FailureClass::RateLimited, Some(429), Some(45));
        assert!(h.failed("p/a", &limited, "f", 1_000));
        assert_eq!(
            h.verdict("p/a", "f", 1_000),
            Verdict::Cooling {
                left: Duration::from_secs(45),
                why: "429".into()
            }
        );
        assert_eq!(h.verdict("p/a", "f", 46_000), Verdict::Ok);
        let mut expected = Vec::new();
        let mut got = Vec::new();
        let broken = failure(FailureClass::ServerError, Some(500), None);
        for (i, secs) in [30u64, 60, 120, 240, 480, 600, 600].into_iter().enumerate() {
            let now = 10_000_000 * (i as u64 + 1);
            h.failed("p/b", &broken, "f", now);
            expected.push(secs * 1000);
            got.push(h.models["p/b"].cooldown_until_ms - now);
        }
        assert_eq!(got, expected);
        assert_eq!(h.models["p/b"].consecutive_failures, 7);
        assert!(h.succeeded("p/b"));
        assert_eq!(h.verdict("p/b", "f", 0), Verdict::Ok);
        let long = failure(FailureClass::RateLimited, Some(429), Some(86_400));
        h.failed("p/c", &long, "f", 0);
        assert_eq!(h.models["p/c"].cooldown_until_ms, 3_600_000);
        let no_answer = failure(FailureClass::NoAnswer, None, None);
        h.failed("p/d", &no_answer, "f", 0);
        assert!(
            matches!(h.verdict("p/d", "f", 1), Verdict::Cooling { ref why, .. } if why == "no answer")
        );
    }

    #[test]
    fn failures_that_are_not_the_models_and_context_overflows_are_not_counted() {
        let mut h = Health::empty();
        for class in [
            FailureClass::Aborted,
            FailureClass::BadRequest,
            FailureClass::Other,
            FailureClass::ContextOverflow,
        ] {
            assert!(
                !h.failed("p/a", &failure(class, None, None), "f", 0),
                "{class}"
            );
        }
        assert!(h.models.is_empty());
    }

    #[test]
    fn an_auth_failure_marks_the_provider_until_its_fingerprint_changes() {
        let mut h = Health::empty();
        h.failed(
            "p/a",
            &failure(FailureClass::Auth, Some(401), None),
            "key-1",
            0,
        );
        let later = 24 * 3600 * 1000;
        for model in ["p/a", "p/other"] {
            assert!(
                matches!(h.verdict(model, "key-1", later), Verdict::Unusable { .. }),
                "{model}"
            );
            assert_eq!(h.verdict(model, "key-2", later), Verdict::Ok, "{model}");
        }
        assert_eq!(h.verdict("q/a", "key-1", later), Verdict::Ok);
        let view = h.view(later, None);
        assert_eq!(view.models[0].model, "p/*");
        assert_eq!(view.models[0].state, "unusable");
        assert!(h.succeeded("p/other"));
        assert_eq!(h.verdict("p/a", "key-1", later), Verdict::Ok);
    }

    #[test]
    fn the_record_survives_a_reload_and_a_corrupt_file_is_kept_aside() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let store = HealthStore::new(&dir.path().join("state"));
        let (mut h, w) = store.load(0);
        assert!(w.is_none() && h.models.is_empty());
        h.failed(
            "p/a",
            &failure(FailureClass::Overloaded, Some(529), None),
            "f",
            5,
        );
        store.save(&h).expect("saved");
        assert_eq!(store.load(0).0, h);
        std::fs::write(store.path(), "{").expect("written");
        let (clean, w) = store.load(7_000);
        assert!(clean.models.is_empty());
        assert!(w.unwrap_or_default().contains("health.json.corrupt-7"));
    }
}
