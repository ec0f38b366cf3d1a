//! The classified providers a source yields.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::catalog::{Model, Provider};

/// Whether and how a provider can be used, with OpenCode's meaning of `source`. Its
/// one spelling is [`Access::label`] (`none` for a provider without credentials).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Declared in OpenCode config (`provider.<id>`).
    Config,
    /// Credentials from `/connect` (`auth.json`, type `api`).
    Api,
    /// A key in one of the provider's environment variables.
    Env,
    /// Loaded by OpenCode's own logic (the free `opencode` provider, OAuth logins).
    Custom,
    /// In the catalog but without credentials: listed, never picked by a tag.
    #[serde(rename = "none")]
    NoCredentials,
    /// Named in `disabled_providers`.
    Disabled,
    /// Not named in `enabled_providers`.
    NotEnabled,
}

impl Access {
    /// Whether models of this provider can be used.
    pub fn is_usable(self) -> bool {
        matches!(self, Self::Config | Self::Api | Self::Env | Self::Custom)
    }

    /// The label shown to users: OpenCode's source name for usable providers.
    pub fn label(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Api => "api",
            Self::Env => "env",
            Self::Custom => "custom",
            Self::NoCredentials => "none",
            Self::Disabled => "disabled",
            Self::NotEnabled => "not-enabled",
        }
    }

    /// The label (the serde spelling too).
    pub fn as_str(self) -> &'static str {
        self.label()
    }

    /// From OpenCode's `source` string of a usable provider.
    pub fn from_opencode_source(source: &str) -> Self {
        match source {
            "config" => Self::Config,
            "api" => Self::Api,
            "env" => Self::Env,
            _ => Self::Custom,
        }
    }

    /// Why a provider that is not usable cannot be used, and how to fix it.
    pub fn why_unusable(self, provider: &Provider) -> Option<String> {
        match self {
            Self::NoCredentials => Some(match provider.env.first() {
                Some(var) => format!(
                    "provider {} has no credentials (set {var} or run /connect in OpenCode)",
                    provider.id
                ),
                None => format!(
                    "provider {} has no credentials (run /connect in OpenCode)",
                    provider.id
                ),
            }),
            Self::Disabled => Some(format!(
                "provider {} is in disabled_providers of the OpenCode config",
                provider.id
            )),
            Self::NotEnabled => Some(format!(
                "provider {} is not in enabled_providers of the OpenCode config",
                provider.id
            )),
            Self::Config | Self::Api | Self::Env | Self::Custom => None,
        }
    }
}

/// One provider with its classification.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderEntry {
    /// The provider and the models OpenCode would offer for it.
    pub provider: Provider,
    /// Whether and how it is usable.
    pub access: Access,
    /// Whether a key was found (never the key itself).
    pub key_present: bool,
    /// OpenCode's default model for it.
    pub default_model: Option<String>,
}

impl ProviderEntry {
    /// The model with this id.
    pub fn model(&self, id: &str) -> Option<&Model> {
        self.provider.model(id)
    }
}

impl std::fmt::Display for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// Which kind of source read the providers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// OpenCode's files, the environment and the catalog on this machine.
    #[default]
    Local,
    /// A running OpenCode server (`--opencode-url`).
    Live,
}

impl Origin {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Live => "live",
        }
    }
}

impl PartialEq<&str> for Origin {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Where a provider set came from, for status output and reasons.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SetOrigin {
    /// `local` or `live`.
    pub kind: Origin,
    /// The catalog used (a path, a URL, or the bundled snapshot).
    pub catalog: String,
    /// OpenCode config files read, in merge order.
    pub config_files: Vec<PathBuf>,
}

/// Every provider known, classified, plus the config defaults that steer tags.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderSet {
    /// Providers sorted by id.
    pub providers: Vec<ProviderEntry>,
    /// OpenCode's `model`.
    pub model: Option<String>,
    /// OpenCode's `small_model`.
    pub small_model: Option<String>,
    /// Where this came from.
    pub origin: SetOrigin,
    /// Problems that did not stop loading (an unreadable `auth.json`, ...).
    pub warnings: Vec<String>,
}

impl ProviderSet {
    /// Sorts providers by id, for lookups.
    pub fn sort(&mut self) {
        self.providers
            .sort_by(|a, b| a.provider.id.cmp(&b.provider.id));
        self.providers
            .dedup_by(|b, a| a.provider.id == b.provider.id);
    }

    /// The provider with this id.
    pub fn get(&self, id: &str) -> Option<&ProviderEntry> {
        self.providers
            .binary_search_by(|p| p.provider.id.as_str().cmp(id))
            .ok()
            .and_then(|i| self.providers.get(i))
    }

    /// Usable providers, by id.
    pub fn usable(&self) -> impl Iterator<Item = &ProviderEntry> {
        self.providers.iter().filter(|p| p.access.is_usable())
    }

    /// Ids of usable providers, sorted.
    pub fn usable_ids(&self) -> Vec<&str> {
        self.usable().map(|p| p.provider.id.as_str()).collect()
    }

    /// Number of usable models.
    pub fn usable_model_count(&self) -> usize {
        self.usable().map(|p| p.provider.models.len()).sum()
    }
}
