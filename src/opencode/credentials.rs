//! HTTP basic-auth credentials for an OpenCode server: the random password orch gives each
//! worker it spawns, or one named in `orchestrator.json` for an agent server. A password is a
//! [`Secret`], whose `Debug` never shows it; only the HTTP client reads its value.

use std::io::Read;

use serde::{Deserialize, Serialize};

/// The user name OpenCode expects when `OPENCODE_SERVER_USERNAME` is not set.
pub const DEFAULT_USERNAME: &str = "opencode";

/// How many random bytes make a worker password (hex-encoded, so twice as many characters).
const PASSWORD_BYTES: usize = 32;

/// A value that must never be shown: `Debug` prints `[redacted]`. It serializes as the plain
/// string, for the one file that must keep it (the worker registry, mode 0600).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the HTTP client and the worker's environment only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A user name and password for OpenCode's HTTP basic auth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name (`opencode` unless the server was told otherwise).
    pub username: String,
    /// The password.
    pub password: Secret,
}

impl Credentials {
    /// Fresh credentials for a spawned worker: OpenCode's user name and 32 random bytes from
    /// the kernel (`/dev/urandom`), hex-encoded.
    pub fn generate() -> std::io::Result<Self> {
        let mut bytes = [0u8; PASSWORD_BYTES];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        let password = bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        Ok(Self {
            username: DEFAULT_USERNAME.to_owned(),
            password: Secret::new(password),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_random_hex_and_never_debug_printed() {
        let a = Credentials::generate().expect("random bytes");
        let b = Credentials::generate().expect("random bytes");
        assert_eq!(a.username, "opencode");
        assert_eq!(a.password.expose().len(), 64);
        assert!(a.password.expose().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a.password, b.password);
        let shown = format!("{a:?} {:?}", a.password);
        assert!(!shown.contains(a.password.expose()), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
}
