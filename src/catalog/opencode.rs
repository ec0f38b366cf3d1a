//! Adapters from OpenCode's HTTP wire format (`GET /provider`, `GET /config/providers`).
//!
//! The wire carries provider keys (`key`); these types never read that field, so a key
//! cannot reach memory that is printed, logged or cached. Only its presence is kept.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::lenient::{self, Keyed};
use super::model::{Capabilities, Catalog, Cost, Limits, Modalities, Model, ModelStatus, Provider};

/// `GET /provider`: the whole catalog, the ids of usable providers and each provider's default.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ProviderListReply {
    /// Every provider OpenCode knows.
    pub all: Vec<WireProvider>,
    /// Ids of the providers the user can use.
    pub connected: Vec<String>,
    /// Default model id per provider.
    pub default: BTreeMap<String, String>,
}

/// `GET /config/providers`: only the usable providers, with their source.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ConfigProvidersReply {
    /// Usable providers.
    pub providers: Vec<WireProvider>,
    /// Default model id per provider.
    pub default: BTreeMap<String, String>,
}

/// One provider as OpenCode serves it.
#[derive(Debug, Deserialize)]
pub struct WireProvider {
    /// Provider id.
    pub id: String,
    /// Display name.
    #[serde(default, deserialize_with = "lenient::string")]
    pub name: String,
    /// Where OpenCode found it (`config`, `custom`, `env`, `api`).
    #[serde(default, deserialize_with = "lenient::string")]
    pub source: String,
    /// Environment variable names for its key.
    #[serde(default, deserialize_with = "lenient::strings")]
    pub env: Vec<String>,
    /// Whether the reply carried a key; the key itself is never read.
    #[serde(default, rename = "key", deserialize_with = "lenient::present")]
    pub has_key: bool,
    /// Models by id.
    #[serde(default, deserialize_with = "lenient::map_values")]
    pub models: Vec<WireModel>,
}

/// One model as OpenCode serves it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireModel {
    /// Model id.
    #[serde(deserialize_with = "lenient::string")]
    pub id: String,
    /// Display name.
    #[serde(deserialize_with = "lenient::string")]
    pub name: String,
    /// Family.
    #[serde(deserialize_with = "lenient::string")]
    pub family: String,
    /// Capabilities.
    #[serde(deserialize_with = "lenient::object")]
    pub capabilities: WireCapabilities,
    /// Prices.
    #[serde(deserialize_with = "lenient::object")]
    pub cost: WireCost,
    /// Limits.
    #[serde(deserialize_with = "lenient::limits")]
    pub limit: Limits,
    /// Status.
    #[serde(deserialize_with = "lenient::string")]
    pub status: String,
    /// Release date.
    #[serde(deserialize_with = "lenient::string")]
    pub release_date: String,
    /// The SDK package, from `api.npm`.
    #[serde(deserialize_with = "lenient::object")]
    pub api: WireApi,
}

/// `model.api` on the wire.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireApi {
    /// The AI SDK package.
    #[serde(deserialize_with = "lenient::string")]
    pub npm: String,
}

/// `model.capabilities` on the wire.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireCapabilities {
    #[serde(deserialize_with = "lenient::boolean")]
    temperature: bool,
    #[serde(deserialize_with = "lenient::boolean")]
    reasoning: bool,
    #[serde(deserialize_with = "lenient::boolean")]
    attachment: bool,
    #[serde(deserialize_with = "lenient::boolean")]
    toolcall: bool,
    #[serde(deserialize_with = "lenient::object")]
    input: WireModalities,
    #[serde(deserialize_with = "lenient::object")]
    output: WireModalities,
}

/// A modality set on the wire (an object of booleans).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireModalities {
    #[serde(deserialize_with = "lenient::boolean")]
    text: bool,
    #[serde(deserialize_with = "lenient::boolean")]
    audio: bool,
    #[serde(deserialize_with = "lenient::boolean")]
    image: bool,
    #[serde(deserialize_with = "lenient::boolean")]
    video: bool,
    #[serde(deserialize_with = "lenient::boolean")]
    pdf: bool,
}

/// `model.cost` on the wire.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireCost {
    #[serde(deserialize_with = "lenient::number")]
    input: f64,
    #[serde(deserialize_with = "lenient::number")]
    output: f64,
    #[serde(deserialize_with = "lenient::object")]
    cache: WireCache,
}

/// `model.cost.cache` on the wire.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WireCache {
    #[serde(deserialize_with = "lenient::number")]
    read: f64,
    #[serde(deserialize_with = "lenient::number")]
    write: f64,
}

impl From<WireModalities> for Modalities {
    fn from(w: WireModalities) -> Self {
        Self {
            text: w.text,
            audio: w.audio,
            image: w.image,
            video: w.video,
            pdf: w.pdf,
        }
    }
}

impl Keyed for WireModel {
    fn id_mut(&mut self) -> &mut String {
        &mut self.id
    }
}

impl WireModel {
    /// Converts to the internal model (a nameless model is named by its id).
    pub fn into_model(self) -> Model {
        let c = self.capabilities;
        Model {
            name: lenient::name_or_id(self.name, &self.id),
            id: self.id,
            family: self.family,
            capabilities: Capabilities {
                temperature: c.temperature,
                reasoning: c.reasoning,
                attachment: c.attachment,
                tool_call: c.toolcall,
                input: c.input.into(),
                output: c.output.into(),
            },
            limit: self.limit,
            cost: Cost {
                input: self.cost.input,
                output: self.cost.output,
                cache_read: self.cost.cache.read,
                cache_write: self.cost.cache.write,
                unknown: false,
            },
            status: ModelStatus::parse(&self.status),
            release_date: self.release_date,
        }
    }
}

impl WireProvider {
    /// Converts to the internal provider (models sorted, nameless models named by id).
    pub fn into_provider(self) -> Provider {
        let npm = self
            .models
            .iter()
            .find(|m| !m.api.npm.is_empty())
            .map(|m| m.api.npm.clone());
        Provider::from_catalog(
            self.id,
            self.name,
            self.env,
            npm,
            self.models.into_iter().map(WireModel::into_model),
        )
    }
}

/// Builds a catalog from the `all` list of `GET /provider`.
pub fn catalog_from_wire(all: Vec<WireProvider>) -> Catalog {
    Catalog::new(all.into_iter().map(WireProvider::into_provider).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_provider_and_never_keeps_its_key() {
        let json = r#"{"providers":[{"id":"groq","name":"Groq","source":"env","env":["GROQ_API_KEY"],
            "key":"gsk-test-env","options":{},"models":{"m":{"id":"m","name":"M",
            "capabilities":{"toolcall":true,"input":{"text":true,"image":true}},
            "limit":{"context":131072.0,"output":null},"cost":{"input":0.5,"cache":{"read":0.1}},
            "status":"beta","release_date":"2025-01-01"}}}],"default":{"groq":"m"}}"#;
        let reply: ConfigProvidersReply = serde_json::from_str(json).expect("the json parses");
        let wire = reply.providers.into_iter().next();
        let p = wire.map(|w| {
            assert!(w.has_key);
            assert_eq!(w.source, "env");
            w.into_provider()
        });
        let p = p.unwrap_or_default();
        assert!(!format!("{p:?}").contains("gsk-test-env"));
        let m = &p.models[0];
        assert!(m.capabilities.tool_call && m.has_image_input());
        assert_eq!((m.limit.context, m.limit.output), (131072, 0));
        assert_eq!(m.status, ModelStatus::Beta);
        assert!((m.cost.cache_read - 0.1).abs() < 1e-9);
    }

    #[test]
    fn missing_fields_default_and_models_without_id_use_their_key() {
        let json = r#"{"all":[{"id":"x","models":{"k":{"name":null}, "j":{"id":"j"}}}],"connected":["x"]}"#;
        let reply: ProviderListReply = serde_json::from_str(json).expect("the json parses");
        let c = catalog_from_wire(reply.all);
        let ids: Vec<_> = c.providers[0]
            .models
            .iter()
            .map(|m| m.id.as_str())
            .collect();
        assert_eq!(ids, ["j", "k"]);
        assert_eq!(c.providers[0].name, "x");
        assert_eq!(c.providers[0].models[1].name, "k");
    }
}
