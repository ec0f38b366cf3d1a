//! The one internal shape of providers and models, whatever wire format they came from.
//!
//! Nothing here can hold a secret: a provider records only whether a key is present.

use serde::{Deserialize, Serialize};

/// Every provider known to a catalog, sorted by id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// Providers, sorted by id, each id once.
    pub providers: Vec<Provider>,
}

impl Catalog {
    /// Builds a catalog, sorting providers and their models by id and dropping
    /// later duplicates so that lookups can binary-search.
    pub fn new(mut providers: Vec<Provider>) -> Self {
        providers.sort_by(|a, b| a.id.cmp(&b.id));
        providers.dedup_by(|b, a| a.id == b.id);
        for provider in &mut providers {
            provider.sort_models();
        }
        Self { providers }
    }

    /// The provider with this id.
    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers
            .binary_search_by(|p| p.id.as_str().cmp(id))
            .ok()
            .and_then(|i| self.providers.get(i))
    }

    /// Number of models over all providers.
    pub fn model_count(&self) -> usize {
        self.providers.iter().map(|p| p.models.len()).sum()
    }
}

/// One provider of models (`openai`, `groq`, a provider declared in config, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provider {
    /// Provider id, the part before the first `/` of a model reference.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Environment variables that carry this provider's key, in OpenCode's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// The AI SDK package OpenCode loads for it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub npm: Option<String>,
    /// Models, sorted by id.
    pub models: Vec<Model>,
}

impl Provider {
    /// A provider as a catalog describes it: named by its id when it has no name, its
    /// models without an id dropped and the rest sorted.
    pub fn from_catalog(
        id: String,
        name: String,
        env: Vec<String>,
        npm: Option<String>,
        models: impl IntoIterator<Item = Model>,
    ) -> Self {
        let mut provider = Self {
            name: super::lenient::name_or_id(name, &id),
            id,
            env,
            npm,
            models: models.into_iter().filter(|m| !m.id.is_empty()).collect(),
        };
        provider.sort_models();
        provider
    }

    /// The model with this id.
    pub fn model(&self, id: &str) -> Option<&Model> {
        self.models
            .binary_search_by(|m| m.id.as_str().cmp(id))
            .ok()
            .and_then(|i| self.models.get(i))
    }

    /// Sorts models by id and drops later duplicates.
    pub fn sort_models(&mut self) {
        self.models.sort_by(|a, b| a.id.cmp(&b.id));
        self.models.dedup_by(|b, a| a.id == b.id);
    }
}

/// One model of one provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// Model id within its provider; may itself contain `/`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Model family (`claude-sonnet`, `gpt`), empty when unknown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub family: String,
    /// What the model can do.
    pub capabilities: Capabilities,
    /// Token limits.
    pub limit: Limits,
    /// Price in US dollars per million tokens.
    pub cost: Cost,
    /// Release status.
    #[serde(default)]
    pub status: ModelStatus,
    /// Release date as the catalog writes it (`YYYY-MM-DD`), empty when unknown.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub release_date: String,
}

impl Model {
    /// Whether the model accepts images as input.
    pub fn has_image_input(&self) -> bool {
        self.capabilities.input.image
    }
}

/// Capabilities, with OpenCode's meaning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Accepts a temperature setting.
    #[serde(default)]
    pub temperature: bool,
    /// Has a reasoning mode.
    #[serde(default)]
    pub reasoning: bool,
    /// Accepts file attachments.
    #[serde(default)]
    pub attachment: bool,
    /// Can call tools.
    #[serde(default)]
    pub tool_call: bool,
    /// Input modalities.
    #[serde(default)]
    pub input: Modalities,
    /// Output modalities.
    #[serde(default)]
    pub output: Modalities,
}

/// A set of modalities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Modalities {
    /// Text.
    #[serde(default)]
    pub text: bool,
    /// Audio.
    #[serde(default)]
    pub audio: bool,
    /// Images.
    #[serde(default)]
    pub image: bool,
    /// Video.
    #[serde(default)]
    pub video: bool,
    /// PDF documents.
    #[serde(default)]
    pub pdf: bool,
}

impl Modalities {
    /// Text only.
    pub const TEXT: Self = Self {
        text: true,
        audio: false,
        image: false,
        video: false,
        pdf: false,
    };

    /// From the names models.dev and OpenCode config use (`text`, `image`, ...).
    /// Unknown names are ignored: a newer catalog may know more modalities.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut m = Self::default();
        for name in names {
            match name {
                "text" => m.text = true,
                "audio" => m.audio = true,
                "image" => m.image = true,
                "video" => m.video = true,
                "pdf" => m.pdf = true,
                _ => {}
            }
        }
        m
    }
}

/// Token limits; 0 means unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Context window in tokens.
    #[serde(default)]
    pub context: u64,
    /// Maximum output tokens.
    #[serde(default)]
    pub output: u64,
}

/// Price in US dollars per million tokens; 0 means free or unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// Input tokens.
    #[serde(default)]
    pub input: f64,
    /// Output tokens.
    #[serde(default)]
    pub output: f64,
    /// Cached input read.
    #[serde(default)]
    pub cache_read: f64,
    /// Cached input write.
    #[serde(default)]
    pub cache_write: f64,
    /// No price is known: a model the OpenCode config declares without `cost` and the
    /// catalog does not have (its zeros mean "unknown", not "free"). Catalog models always
    /// carry their prices (OpenCode reports 0 for a free one).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unknown: bool,
}

/// Release status of a model.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ModelStatus {
    /// Generally available.
    #[default]
    Active,
    /// Public beta.
    Beta,
    /// Experimental; OpenCode hides these unless experimental models are enabled.
    Alpha,
    /// Deprecated; OpenCode hides these from usable providers.
    Deprecated,
}

impl ModelStatus {
    /// Parses a status; unknown spellings count as active, as OpenCode does.
    pub fn parse(s: &str) -> Self {
        match s {
            "beta" => Self::Beta,
            "alpha" => Self::Alpha,
            "deprecated" => Self::Deprecated,
            _ => Self::Active,
        }
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Beta => "beta",
            Self::Alpha => "alpha",
            Self::Deprecated => "deprecated",
        }
    }
}

/// OpenCode's order of a provider's models, used for its default model:
/// ids that contain a priority name first, then ids containing `latest`, then by id descending.
pub fn opencode_sort_key(id: &str) -> (i32, u8, std::cmp::Reverse<&str>) {
    const PRIORITY: [&str; 4] = ["gpt-5", "claude-sonnet-4", "big-pickle", "gemini-3-pro"];
    let priority = PRIORITY
        .iter()
        .position(|p| id.contains(p))
        .map_or(-1, |i| i as i32);
    (
        -priority,
        u8::from(!id.contains("latest")),
        std::cmp::Reverse(id),
    )
}

/// OpenCode's default model of a provider: the first model in [`opencode_sort_key`] order.
pub fn opencode_default_model(provider: &Provider) -> Option<&Model> {
    provider
        .models
        .iter()
        .min_by(|a, b| opencode_sort_key(&a.id).cmp(&opencode_sort_key(&b.id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(ids: &[&str]) -> Provider {
        Provider {
            id: "p".into(),
            name: "P".into(),
            models: ids
                .iter()
                .map(|id| Model {
                    id: (*id).into(),
                    name: (*id).into(),
                    ..Model::default()
                })
                .collect(),
            ..Provider::default()
        }
    }

    #[test]
    fn default_model_follows_opencode_order() {
        // Seen in the capture: groq → whisper-large-v3-turbo, openai → gpt-5.6-terra-pro,
        // fake → vision-pro, opencode → big-pickle.
        let cases: &[(&[&str], &str)] = &[
            (
                &["whisper-large-v3", "whisper-large-v3-turbo", "llama-3.1-8b"],
                "whisper-large-v3-turbo",
            ),
            (
                &["gpt-4.1", "gpt-5.6-terra-pro", "gpt-5-mini", "o3"],
                "gpt-5.6-terra-pro",
            ),
            (&["fast-mini", "big-pro", "vision-pro"], "vision-pro"),
            (
                &["space-bunny-free", "big-pickle", "zzz-free"],
                "big-pickle",
            ),
            (&["a", "b-latest", "c"], "b-latest"),
            (
                &["claude-sonnet-4-5", "gpt-5", "claude-sonnet-4-6"],
                "claude-sonnet-4-6",
            ),
        ];
        for (ids, want) in cases {
            let p = provider(ids);
            assert_eq!(
                opencode_default_model(&p).map(|m| m.id.as_str()),
                Some(*want),
                "{ids:?}"
            );
        }
    }

    #[test]
    fn catalog_lookup_is_sorted_and_deduplicated() {
        let c = Catalog::new(vec![provider(&["b", "a", "b"]), provider(&["z"])]);
        assert_eq!(c.providers.len(), 1);
        let p = c
            .provider("p")
            .map(|p| p.models.iter().map(|m| m.id.as_str()).collect::<Vec<_>>());
        assert_eq!(p, Some(vec!["a", "b"]));
    }
}
