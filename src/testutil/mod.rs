//! Fakes shared by the tests of every crate of the workspace (feature `testutil`):
//! a fake OpenCode HTTP server, a fake OpenAI-compatible LLM, a fake worker service, and
//! the helpers they use. They listen on loopback only and stop when dropped.

pub mod fake_llm;
pub mod fake_opencode;
pub mod fake_workers;
pub mod home;
pub mod http;
pub mod real;

use std::io::Read;
use std::path::PathBuf;

/// The directory of OpenCode captures (`tests/fixtures/opencode`).
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/opencode")
}

/// A capture file's text; `.gz` files are decompressed. Panics when missing: tests only.
#[expect(clippy::expect_used, reason = "test fixture loading")]
pub fn fixture(name: &str) -> String {
    let path = fixtures_dir().join(name);
    let bytes = std::fs::read(&path).expect("fixture file");
    if name.ends_with(".gz") {
        let mut out = String::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut out)
            .expect("gzip fixture");
        out
    } else {
        String::from_utf8(bytes).expect("UTF-8 fixture")
    }
}

/// The fake keys of the captures: they must never appear in anything orch prints.
pub const FAKE_SECRETS: [&str; 2] = ["sk-test-123", "gsk-test-env"];

/// Panics when `text` contains one of [`FAKE_SECRETS`].
pub fn assert_no_secret(what: &str, text: &str) {
    for s in FAKE_SECRETS {
        assert!(!text.contains(s), "{what} leaks the secret {s}");
    }
}
