//! Adapter from the models.dev catalog format, which OpenCode caches as `models.json`.
//!
//! Shape: `{ "<provider>": { id, name, env, npm, models: { "<model>": { id, name, family,
//! attachment, reasoning, tool_call, temperature, modalities: {input, output}, cost,
//! limit, status, release_date } } } }`.

use serde::Deserialize;

use super::lenient::{self, Keyed};
use super::model::{Capabilities, Catalog, Cost, Limits, Modalities, Model, ModelStatus, Provider};

/// One provider in models.dev format.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DevProvider {
    #[serde(deserialize_with = "lenient::string")]
    id: String,
    #[serde(deserialize_with = "lenient::string")]
    name: String,
    #[serde(deserialize_with = "lenient::strings")]
    env: Vec<String>,
    #[serde(deserialize_with = "lenient::string")]
    npm: String,
    #[serde(deserialize_with = "lenient::map_values")]
    models: Vec<DevModel>,
}

/// One model in models.dev format (also the shape of `provider.<id>.models.<id>` in OpenCode config).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DevModel {
    #[serde(deserialize_with = "lenient::string")]
    id: String,
    #[serde(deserialize_with = "lenient::string")]
    name: String,
    #[serde(deserialize_with = "lenient::string")]
    family: String,
    #[serde(deserialize_with = "lenient::boolean")]
    attachment: bool,
    #[serde(deserialize_with = "lenient::boolean")]
    reasoning: bool,
    #[serde(deserialize_with = "lenient::boolean")]
    tool_call: bool,
    #[serde(deserialize_with = "lenient::boolean")]
    temperature: bool,
    #[serde(deserialize_with = "lenient::object")]
    modalities: DevModalities,
    #[serde(deserialize_with = "lenient::object")]
    cost: DevCost,
    #[serde(deserialize_with = "lenient::limits")]
    limit: Limits,
    #[serde(deserialize_with = "lenient::string")]
    status: String,
    #[serde(deserialize_with = "lenient::string")]
    release_date: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DevModalities {
    #[serde(deserialize_with = "lenient::strings")]
    input: Vec<String>,
    #[serde(deserialize_with = "lenient::strings")]
    output: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DevCost {
    #[serde(deserialize_with = "lenient::number")]
    input: f64,
    #[serde(deserialize_with = "lenient::number")]
    output: f64,
    #[serde(deserialize_with = "lenient::number")]
    cache_read: f64,
    #[serde(deserialize_with = "lenient::number")]
    cache_write: f64,
}

impl Keyed for DevProvider {
    fn id_mut(&mut self) -> &mut String {
        &mut self.id
    }
}

impl Keyed for DevModel {
    fn id_mut(&mut self) -> &mut String {
        &mut self.id
    }
}

impl DevModel {
    fn into_model(self) -> Model {
        // No modalities listed means text only.
        let modalities = |names: &[String]| {
            if names.is_empty() {
                Modalities::TEXT
            } else {
                Modalities::from_names(names.iter().map(String::as_str))
            }
        };
        Model {
            name: lenient::name_or_id(self.name, &self.id),
            id: self.id,
            family: self.family,
            capabilities: Capabilities {
                temperature: self.temperature,
                reasoning: self.reasoning,
                attachment: self.attachment,
                tool_call: self.tool_call,
                input: modalities(&self.modalities.input),
                output: modalities(&self.modalities.output),
            },
            limit: self.limit,
            cost: Cost {
                input: self.cost.input,
                output: self.cost.output,
                cache_read: self.cost.cache_read,
                cache_write: self.cost.cache_write,
                unknown: false,
            },
            status: ModelStatus::parse(&self.status),
            release_date: self.release_date,
        }
    }
}

/// Top level of a models.dev catalog: providers keyed by id.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct DevCatalog(#[serde(deserialize_with = "lenient::map_values")] Vec<DevProvider>);

impl DevCatalog {
    /// Converts to the internal catalog.
    pub fn into_catalog(self) -> Catalog {
        Catalog::new(
            self.0
                .into_iter()
                .filter(|p| !p.id.is_empty())
                .map(|p| {
                    Provider::from_catalog(
                        p.id,
                        p.name,
                        p.env,
                        (!p.npm.is_empty()).then_some(p.npm),
                        p.models.into_iter().map(DevModel::into_model),
                    )
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_models_dev_format() {
        let json = r#"{"anthropic":{"id":"anthropic","env":["ANTHROPIC_API_KEY"],"npm":"@ai-sdk/anthropic",
          "name":"Anthropic","models":{"claude-sonnet-4-5":{"id":"claude-sonnet-4-5","name":"Claude Sonnet 4.5",
          "attachment":true,"reasoning":true,"tool_call":true,"modalities":{"input":["text","image","pdf"],"output":["text"]},
          "cost":{"input":3,"output":15,"cache_read":0.3},"limit":{"context":200000,"output":64000},
          "release_date":"2025-09-29"}}},"bare":{"models":{"m":{}}}}"#;
        let c: DevCatalog = serde_json::from_str(json).expect("the json parses");
        let c = c.into_catalog();
        assert_eq!(c.providers.len(), 2);
        let a = c
            .provider("anthropic")
            .and_then(|p| p.model("claude-sonnet-4-5"));
        let a = a.cloned().unwrap_or_default();
        assert!(a.has_image_input() && a.capabilities.input.pdf && a.capabilities.tool_call);
        assert_eq!(a.limit.context, 200_000);
        let bare = c
            .provider("bare")
            .and_then(|p| p.model("m"))
            .cloned()
            .unwrap_or_default();
        assert!(bare.capabilities.input.text && !bare.has_image_input());
    }
}
