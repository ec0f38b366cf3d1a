//! The local provider source: OpenCode's files, the environment and a catalog, read
//! without any OpenCode process, classified the way OpenCode classifies them.
//!
//! The order mirrors OpenCode's provider loading: config extends the catalog; a key in a
//! provider's environment variable makes it `env`; an `api` credential in `auth.json`
//! makes it `api`; OpenCode's own loaders make it `custom` (the free `opencode` provider,
//! OAuth logins); a provider named in config is `config` whatever else found it;
//! `disabled_providers` and `enabled_providers` then filter, and usable providers lose
//! deprecated (and, unless enabled, alpha) models.

use std::collections::{BTreeMap, BTreeSet};

use super::auth::{CredentialKind, Credentials};
use super::config::{ConfigLocations, ConfigModel, OpenCodeConfig};
use super::{Access, ProviderEntry, ProviderSet, ProviderSource, SetOrigin, SourceError};
use crate::catalog::models_dev::DevCatalog;
use crate::catalog::{
    Capabilities, Catalog, Cost, Limits, Modalities, Model, ModelStatus, Provider,
    opencode_default_model, snapshot,
};
use crate::paths::{Environment, Paths};

/// Reads OpenCode's configuration, credentials and catalog from disk.
#[derive(Debug, Clone)]
pub struct LocalSource {
    paths: Paths,
    env: Environment,
    catalog: Option<std::sync::Arc<(Catalog, String)>>,
}

impl LocalSource {
    /// A source for these paths and environment.
    pub fn new(paths: Paths, env: Environment) -> Self {
        Self {
            paths,
            env,
            catalog: None,
        }
    }

    /// Uses this catalog instead of OpenCode's cache or the bundled snapshot.
    pub fn with_catalog(mut self, catalog: Catalog, about: impl Into<String>) -> Self {
        self.catalog = Some(std::sync::Arc::new((catalog, about.into())));
        self
    }

    /// Loads synchronously (the work is file reads and parsing).
    pub fn load_now(&self) -> Result<ProviderSet, SourceError> {
        let locations = ConfigLocations {
            global_dir: self.paths.opencode_config_dir.clone(),
            project_dir: self.paths.project_dir.clone(),
        };
        let loaded = locations.load(&self.env)?;
        let mut warnings = Vec::new();
        let (catalog, about) = match &self.catalog {
            Some(c) => (c.0.clone(), c.1.clone()),
            None => load_catalog(&self.paths, &mut warnings)?,
        };
        let (creds, warning) = Credentials::load(&self.paths.auth_file());
        warnings.extend(warning);
        let mut set = classify(catalog, &loaded.config, &self.env, &creds);
        set.origin = SetOrigin {
            kind: "local".into(),
            catalog: about,
            config_files: loaded.files,
        };
        set.warnings = warnings;
        Ok(set)
    }
}

impl ProviderSource for LocalSource {
    async fn load(&self) -> Result<ProviderSet, SourceError> {
        self.load_now()
    }
}

/// OpenCode's models cache when it is present and readable, else the bundled snapshot.
fn load_catalog(
    paths: &Paths,
    warnings: &mut Vec<String>,
) -> Result<(Catalog, String), SourceError> {
    let cache = paths.models_cache();
    match std::fs::read(&cache) {
        Ok(bytes) => match serde_json::from_slice::<DevCatalog>(&bytes) {
            Ok(c) => {
                let c = c.into_catalog();
                if !c.providers.is_empty() {
                    return Ok((c, cache.display().to_string()));
                }
                warnings.push(format!(
                    "ignoring {}: it lists no provider; using the bundled catalog",
                    cache.display()
                ));
            }
            Err(e) => warnings.push(format!(
                "ignoring {}: {}; using the bundled catalog",
                cache.display(),
                super::redact(&e.to_string())
            )),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => warnings.push(format!(
            "ignoring {}: cannot read it: {e}; using the bundled catalog",
            cache.display()
        )),
    }
    let catalog = snapshot::bundled().map_err(|message| SourceError::Catalog {
        what: snapshot::BUNDLED_ABOUT.into(),
        message,
    })?;
    Ok((catalog, snapshot::BUNDLED_ABOUT.into()))
}

/// Classifies every provider of `catalog` (extended by config) the way OpenCode does.
pub fn classify(
    catalog: Catalog,
    config: &OpenCodeConfig,
    env: &Environment,
    creds: &Credentials,
) -> ProviderSet {
    let disabled: BTreeSet<&str> = config
        .disabled_providers
        .iter()
        .map(String::as_str)
        .collect();
    let enabled: Option<BTreeSet<&str>> = config
        .enabled_providers
        .as_ref()
        .map(|ids| ids.iter().map(String::as_str).collect());

    let mut database: BTreeMap<String, Provider> = catalog
        .providers
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();

    // Config extends the catalog: new providers, new models, overrides of known models.
    for (id, cp) in &config.provider {
        let existing = database.remove(id);
        let mut provider = Provider {
            id: id.clone(),
            name: cp
                .name
                .clone()
                .or_else(|| existing.as_ref().map(|p| p.name.clone()))
                .unwrap_or_else(|| id.clone()),
            env: cp
                .env
                .clone()
                .or_else(|| existing.as_ref().map(|p| p.env.clone()))
                .unwrap_or_default(),
            npm: cp
                .npm
                .clone()
                .or_else(|| existing.as_ref().and_then(|p| p.npm.clone())),
            models: existing.map(|p| p.models).unwrap_or_default(),
        };
        let mut added = Vec::new();
        for (model_id, cm) in &cp.models {
            let base = provider
                .model(cm.id.as_deref().unwrap_or(model_id))
                .cloned();
            added.push(config_model(model_id, cm, base));
        }
        for m in added {
            provider.models.retain(|x| x.id != m.id);
            provider.models.push(m);
        }
        provider.sort_models();
        database.insert(id.clone(), provider);
    }

    let mut loaded: BTreeMap<String, Access> = BTreeMap::new();
    let mut key_present: BTreeSet<String> = BTreeSet::new();

    for (id, p) in &database {
        if disabled.contains(id.as_str()) {
            continue;
        }
        if p.env.iter().any(|var| env.get(var).is_some()) {
            loaded.insert(id.clone(), Access::Env);
            key_present.insert(id.clone());
        }
    }
    for (id, kind) in &creds.entries {
        if disabled.contains(id.as_str()) || !database.contains_key(id) {
            continue;
        }
        match kind {
            CredentialKind::Api => {
                loaded.insert(id.clone(), Access::Api);
                key_present.insert(id.clone());
            }
            // OpenCode's auth plugins turn OAuth and well-known logins into a loaded provider.
            CredentialKind::OAuth | CredentialKind::WellKnown => {
                loaded.entry(id.clone()).or_insert(Access::Custom);
                key_present.insert(id.clone());
            }
            CredentialKind::Other => {}
        }
    }

    // OpenCode's own loader for its free provider: without a key only free models remain,
    // with the public key.
    if let Some(p) = database
        .get_mut("opencode")
        .filter(|_| !disabled.contains("opencode"))
    {
        let has_key = p.env.iter().any(|var| env.get(var).is_some())
            || creds.get("opencode").is_some()
            || config
                .provider
                .get("opencode")
                .is_some_and(|c| c.has_api_key);
        if !has_key {
            p.models.retain(|m| m.cost.input == 0.0);
        }
        if !p.models.is_empty() {
            loaded.entry("opencode".into()).or_insert(Access::Custom);
        }
    }

    for id in config.provider.keys() {
        if database.contains_key(id) {
            loaded.insert(id.clone(), Access::Config);
        }
    }

    let experimental = env.flag("OPENCODE_ENABLE_EXPERIMENTAL_MODELS");
    let allowed =
        |id: &str| !disabled.contains(id) && enabled.as_ref().is_none_or(|e| e.contains(id));

    let mut providers = Vec::with_capacity(database.len());
    for (id, mut provider) in database {
        let mut access = match loaded.get(&id) {
            Some(a) if allowed(&id) => *a,
            _ if disabled.contains(id.as_str()) => Access::Disabled,
            _ if !allowed(&id) => Access::NotEnabled,
            _ => Access::NoCredentials,
        };
        if access.is_usable() {
            let cp = config.provider.get(&id);
            provider.models.retain(|m| {
                let hidden_by_opencode = m.id == "gpt-5-chat-latest"
                    || (id == "openrouter" && m.id == "openai/gpt-5-chat");
                let status_ok = match m.status {
                    ModelStatus::Deprecated => false,
                    ModelStatus::Alpha => experimental,
                    _ => true,
                };
                let listed = cp.is_none_or(|c| {
                    c.blacklist.as_ref().is_none_or(|b| !b.contains(&m.id))
                        && c.whitelist.as_ref().is_none_or(|w| w.contains(&m.id))
                });
                !hidden_by_opencode && status_ok && listed
            });
            if provider.models.is_empty() {
                access = Access::NoCredentials;
            }
        }
        if provider.models.is_empty() {
            // Nothing to list or pick (OpenCode drops such providers too).
            continue;
        }
        let default_model = opencode_default_model(&provider).map(|m| m.id.clone());
        providers.push(ProviderEntry {
            key_present: key_present.contains(&id),
            provider,
            access,
            default_model,
        });
    }

    let mut set = ProviderSet {
        providers,
        model: config.model.clone(),
        small_model: config.small_model.clone(),
        ..ProviderSet::default()
    };
    set.sort();
    set
}

/// A model from `provider.<id>.models.<model>` in config, merged over the catalog's model.
fn config_model(model_id: &str, cm: &ConfigModel, base: Option<Model>) -> Model {
    let base_caps = base.as_ref().map(|m| m.capabilities);
    let input_names = cm.modalities.as_ref().and_then(|m| m.input.as_ref());
    let output_names = cm.modalities.as_ref().and_then(|m| m.output.as_ref());
    let modalities = |names: Option<&Vec<String>>, base: Option<Modalities>| match (names, base) {
        (Some(names), _) => Modalities::from_names(names.iter().map(String::as_str)),
        (None, Some(base)) => base,
        (None, None) => Modalities::TEXT,
    };
    let name = cm
        .name
        .clone()
        .or_else(|| {
            cm.id
                .as_ref()
                .filter(|id| id.as_str() != model_id)
                .map(|_| model_id.to_owned())
        })
        .or_else(|| base.as_ref().map(|m| m.name.clone()))
        .unwrap_or_else(|| model_id.to_owned());
    let cost = cm.cost.clone().unwrap_or_default();
    let limit = cm.limit.clone().unwrap_or_default();
    let base_cost = base.as_ref().map(|m| m.cost).unwrap_or_default();
    let base_limit = base.as_ref().map(|m| m.limit).unwrap_or_default();
    Model {
        id: model_id.to_owned(),
        name,
        family: cm
            .family
            .clone()
            .or_else(|| base.as_ref().map(|m| m.family.clone()))
            .unwrap_or_default(),
        capabilities: Capabilities {
            temperature: cm
                .temperature
                .or(base_caps.map(|c| c.temperature))
                .unwrap_or(false),
            reasoning: cm
                .reasoning
                .or(base_caps.map(|c| c.reasoning))
                .unwrap_or(false),
            attachment: cm
                .attachment
                .or(base_caps.map(|c| c.attachment))
                .unwrap_or(false),
            tool_call: cm
                .tool_call
                .or(base_caps.map(|c| c.tool_call))
                .unwrap_or(true),
            input: modalities(input_names, base_caps.map(|c| c.input)),
            output: modalities(output_names, base_caps.map(|c| c.output)),
        },
        limit: Limits {
            context: limit.context.unwrap_or(base_limit.context),
            output: limit.output.unwrap_or(base_limit.output),
        },
        cost: Cost {
            input: cost.input.unwrap_or(base_cost.input),
            output: cost.output.unwrap_or(base_cost.output),
            cache_read: cost.cache_read.unwrap_or(base_cost.cache_read),
            cache_write: cost.cache_write.unwrap_or(base_cost.cache_write),
        },
        status: cm
            .status
            .as_deref()
            .map(ModelStatus::parse)
            .or(base.as_ref().map(|m| m.status))
            .unwrap_or_default(),
        release_date: cm
            .release_date
            .clone()
            .or_else(|| base.as_ref().map(|m| m.release_date.clone()))
            .unwrap_or_default(),
    }
}
