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
use super::config::{ConfigLocations, ConfigModel, OpenCodeConfig, SubstitutedFile};
use super::{Access, Origin, ProviderEntry, ProviderSet, ProviderSource, SetOrigin, SourceError};
use crate::catalog::models_dev::DevCatalog;
use crate::catalog::{
    Capabilities, Catalog, Cost, Limits, Modalities, Model, ModelStatus, Provider,
    opencode_default_model, snapshot,
};
use crate::fsutil::strip_bom;
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
        hide_substituted_files(&mut set, &loaded.substituted);
        set.origin = SetOrigin {
            kind: Origin::Local,
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
        Ok(bytes) => match serde_json::from_slice::<DevCatalog>(strip_bom(&bytes)) {
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
    let catalog = snapshot::bundled().map_err(|source| SourceError::Catalog {
        what: snapshot::BUNDLED_ABOUT.into(),
        source,
    })?;
    Ok((catalog, snapshot::BUNDLED_ABOUT.into()))
}

/// Providers OpenCode loads from environment variables that are not in their catalog
/// `env` list.
const AUTOLOAD: &[(&str, &[&str])] = &[
    (
        "amazon-bedrock",
        &[
            "AWS_PROFILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ],
    ),
    (
        "google-vertex",
        &["GOOGLE_CLOUD_PROJECT", "GCP_PROJECT", "GCLOUD_PROJECT"],
    ),
    (
        "google-vertex-anthropic",
        &["GOOGLE_CLOUD_PROJECT", "GCP_PROJECT", "GCLOUD_PROJECT"],
    ),
];

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

    // OpenCode's loaders that need no key of their own: cloud credentials found another way
    // (a profile, a web identity, a project id) load these providers as `custom`. Checked
    // against OpenCode 1.18.34 (tests/real_opencode.rs).
    for (id, vars) in AUTOLOAD {
        if database.contains_key(*id)
            && !disabled.contains(id)
            && vars.iter().any(|v| env.get(v).is_some())
        {
            loaded.entry((*id).to_owned()).or_insert(Access::Custom);
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

/// `model` and `small_model` that hold a substituted file's content and name no known
/// model show `{file:NAME}` instead of the content: the resolver puts them in reasons and
/// errors, and a file may hold anything (finding 10). A value that names a model stays, as
/// it must resolve.
fn hide_substituted_files(set: &mut ProviderSet, files: &[SubstitutedFile]) {
    let known = |value: &str| {
        value.split_once('/').is_some_and(|(p, m)| {
            set.providers
                .iter()
                .any(|e| e.provider.id == p && e.provider.model(m).is_some())
        })
    };
    let hide = |value: &Option<String>| -> Option<String> {
        let value = value.as_ref()?;
        if known(value) {
            return None;
        }
        let mut shown = value.clone();
        for f in files.iter().filter(|f| !f.content.is_empty()) {
            shown = shown.replace(f.content.as_str(), &format!("{{file:{}}}", f.name));
        }
        (shown != *value).then_some(shown)
    };
    let (model, small_model) = (hide(&set.model), hide(&set.small_model));
    if model.is_some() {
        set.model = model;
    }
    if small_model.is_some() {
        set.small_model = small_model;
    }
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
            // Declared without a price and unknown to the catalog: unknown, not free.
            unknown: base.is_none() && cm.cost.is_none(),
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

#[cfg(test)]
mod tests {
    //! Every provider source case, table-driven: small catalogs, small configs,
    //! a few variables and credentials, then `classify`.

    use super::*;
    use crate::sources::config::parse_config_text;
    use serde::Deserialize;

    fn model(id: &str, status: ModelStatus, cost_in: f64) -> Model {
        Model {
            id: id.into(),
            name: id.to_uppercase(),
            family: "fam".into(),
            capabilities: Capabilities {
                tool_call: true,
                attachment: true,
                input: Modalities {
                    image: true,
                    ..Modalities::TEXT
                },
                output: Modalities::TEXT,
                ..Capabilities::default()
            },
            limit: Limits {
                context: 128_000,
                output: 8_000,
            },
            cost: Cost {
                input: cost_in,
                output: cost_in * 4.0,
                ..Cost::default()
            },
            status,
            release_date: "2025-01-01".into(),
        }
    }

    fn provider(id: &str, env: &[&str], models: Vec<Model>) -> Provider {
        Provider {
            id: id.into(),
            name: format!("{id} inc"),
            env: env.iter().map(|e| (*e).to_owned()).collect(),
            npm: Some(format!("@ai-sdk/{id}")),
            models,
        }
    }

    /// A small catalog shaped like OpenCode's: the free `opencode` provider, three keyed
    /// providers, and one whose models include deprecated and alpha ones.
    fn catalog() -> Catalog {
        use ModelStatus::{Active, Alpha, Beta, Deprecated};
        Catalog::new(vec![
            provider(
                "opencode",
                &["OPENCODE_API_KEY"],
                vec![
                    model("big-pickle", Active, 0.0),
                    model("free-mini", Active, 0.0),
                    model("paid-pro", Active, 3.0),
                ],
            ),
            provider(
                "openai",
                &["OPENAI_API_KEY"],
                vec![
                    model("gpt-5", Active, 1.25),
                    model("gpt-5-mini", Active, 0.25),
                    model("gpt-4", Deprecated, 30.0),
                    model("gpt-lab", Alpha, 1.0),
                    model("gpt-5-chat-latest", Active, 1.0),
                ],
            ),
            provider(
                "groq",
                &["GROQ_API_KEY"],
                vec![
                    model("llama-3.1-8b-instant", Active, 0.05),
                    model("old-llama", Deprecated, 0.05),
                ],
            ),
            provider(
                "anthropic",
                &["ANTHROPIC_API_KEY"],
                vec![
                    model("claude-sonnet-4-5", Active, 3.0),
                    model("claude-old", Deprecated, 3.0),
                    model("claude-beta", Beta, 3.0),
                ],
            ),
            provider(
                "multi",
                &["MULTI_KEY", "MULTI_TOKEN"],
                vec![model("m1", Active, 1.0)],
            ),
            provider(
                "gone",
                &["GONE_KEY"],
                vec![model("only-old", Deprecated, 1.0)],
            ),
        ])
    }

    fn config(json: &str) -> OpenCodeConfig {
        let value = parse_config_text(json, None, &Environment::default())
            .unwrap_or_else(|e| panic!("{json}: {e}"));
        OpenCodeConfig::deserialize(&value).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    fn creds(json: &str) -> Credentials {
        Credentials::parse(json.as_bytes()).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    fn run(cfg: &str, vars: &[(&str, &str)], auth: &str) -> ProviderSet {
        classify(
            catalog(),
            &config(cfg),
            &Environment::from_pairs(vars.iter().copied()),
            &creds(auth),
        )
    }

    fn access(set: &ProviderSet, id: &str) -> Option<Access> {
        set.get(id).map(|p| p.access)
    }

    fn ids(set: &ProviderSet, id: &str) -> Vec<String> {
        set.get(id)
            .map(|p| p.provider.models.iter().map(|m| m.id.clone()).collect())
            .unwrap_or_default()
    }

    /// (case, config, env, auth.json, provider, expected access, key present)
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a [(&'a str, &'a str)],
        &'a str,
        &'a str,
        Option<Access>,
        bool,
    );

    /// (case, config, env, auth.json or provider, expected model ids)
    type ModelCase<'a> = (
        &'a str,
        &'a str,
        &'a [(&'a str, &'a str)],
        &'a str,
        &'a [&'a str],
    );

    #[test]
    fn each_source_is_classified_as_opencode_does() {
        use Access::*;
        #[rustfmt::skip]
        let cases: &[Case] = &[
            // Nothing configured: only OpenCode's free provider is usable.
            ("fresh machine", "{}", &[], "{}", "opencode", Some(Custom), false),
            ("fresh machine", "{}", &[], "{}", "openai", Some(NoCredentials), false),
            ("fresh machine", "{}", &[], "{}", "groq", Some(NoCredentials), false),
            // config: declared in `provider`, new or known, with or without a key.
            ("config, new provider", r#"{"provider":{"fake":{"models":{"m":{}}}}}"#, &[], "{}", "fake", Some(Config), false),
            ("config wins over env", r#"{"provider":{"groq":{"name":"My Groq"}}}"#, &[("GROQ_API_KEY", "k")], "{}", "groq", Some(Config), true),
            ("config, known provider without a key", r#"{"provider":{"anthropic":{"options":{"apiKey":"x"}}}}"#, &[], "{}", "anthropic", Some(Config), false),
            ("config without models and unknown to the catalog is dropped", r#"{"provider":{"empty":{}}}"#, &[], "{}", "empty", None, false),
            // env: a key in one of the provider's variables.
            ("env", "{}", &[("GROQ_API_KEY", "k")], "{}", "groq", Some(Env), true),
            ("env, second variable", "{}", &[("MULTI_TOKEN", "k")], "{}", "multi", Some(Env), true),
            ("env, empty value counts as unset", "{}", &[("GROQ_API_KEY", "")], "{}", "groq", Some(NoCredentials), false),
            ("env named by config", r#"{"provider":{"groq":{"env":["MY_GROQ"]}}}"#, &[("MY_GROQ", "k")], "{}", "groq", Some(Config), true),
            // api: a key stored by /connect.
            ("api with key", "{}", &[], r#"{"openai":{"type":"api","key":"sk-x"}}"#, "openai", Some(Api), true),
            ("api wins over env", "{}", &[("OPENAI_API_KEY", "k")], r#"{"openai":{"type":"api","key":"sk-x"}}"#, "openai", Some(Api), true),
            ("api without key: OpenCode drops the entry", "{}", &[], r#"{"openai":{"type":"api"}}"#, "openai", Some(NoCredentials), false),
            ("api key that is not a string: dropped", "{}", &[], r#"{"openai":{"type":"api","key":7}}"#, "openai", Some(NoCredentials), false),
            ("api for a provider the catalog does not know", "{}", &[], r#"{"nobody":{"type":"api","key":"k"}}"#, "nobody", None, false),
            ("unknown credential type", "{}", &[], r#"{"openai":{"type":"magic","key":"k"}}"#, "openai", Some(NoCredentials), false),
            // custom: OpenCode's own loaders.
            ("custom, OAuth login", "{}", &[], r#"{"anthropic":{"type":"oauth","refresh":"r","access":"a","expires":1}}"#, "anthropic", Some(Custom), true),
            ("custom, OAuth login missing its tokens: dropped", "{}", &[], r#"{"anthropic":{"type":"oauth"}}"#, "anthropic", Some(NoCredentials), false),
            ("custom keeps an earlier env source", "{}", &[("ANTHROPIC_API_KEY", "k")], r#"{"anthropic":{"type":"oauth","refresh":"r","access":"a","expires":1}}"#, "anthropic", Some(Env), true),
            ("custom, opencode with a key is env", "{}", &[("OPENCODE_API_KEY", "k")], "{}", "opencode", Some(Env), true),
            // api without key: a catalog provider nobody gave credentials.
            ("no credentials", "{}", &[], "{}", "anthropic", Some(NoCredentials), false),
            // disabled_providers: never loaded, whatever the credentials.
            ("disabled with env key", r#"{"disabled_providers":["groq"]}"#, &[("GROQ_API_KEY", "k")], "{}", "groq", Some(Disabled), false),
            ("disabled with api key", r#"{"disabled_providers":["openai"]}"#, &[], r#"{"openai":{"type":"api","key":"sk-x"}}"#, "openai", Some(Disabled), false),
            ("disabled free provider", r#"{"disabled_providers":["opencode"]}"#, &[], "{}", "opencode", Some(Disabled), false),
            ("disabled config provider", r#"{"disabled_providers":["fake"],"provider":{"fake":{"models":{"m":{}}}}}"#, &[], "{}", "fake", Some(Disabled), false),
            // enabled_providers: an allow-list.
            ("enabled, listed", r#"{"enabled_providers":["groq"]}"#, &[("GROQ_API_KEY", "k")], "{}", "groq", Some(Env), true),
            ("enabled, not listed despite a key", r#"{"enabled_providers":["groq"]}"#, &[], r#"{"openai":{"type":"api","key":"sk-x"}}"#, "openai", Some(NotEnabled), true),
            ("enabled, free provider not listed", r#"{"enabled_providers":["groq"]}"#, &[], "{}", "opencode", Some(NotEnabled), false),
            ("enabled and disabled: disabled wins", r#"{"enabled_providers":["groq"],"disabled_providers":["groq"]}"#, &[("GROQ_API_KEY", "k")], "{}", "groq", Some(Disabled), false),
            ("enabled, empty list", r#"{"enabled_providers":[]}"#, &[("GROQ_API_KEY", "k")], "{}", "groq", Some(NotEnabled), true),
            // A usable provider whose every model is deprecated has nothing to offer.
            ("all models deprecated", "{}", &[("GONE_KEY", "k")], "{}", "gone", None, false),
            ("unusable keeps deprecated", "{}", &[], "{}", "gone", Some(NoCredentials), false),
        ];
        for (case, cfg, vars, auth, id, want, key) in cases {
            let set = run(cfg, vars, auth);
            assert_eq!(access(&set, id), *want, "{case}: access of {id}");
            if want.is_some() {
                assert_eq!(
                    set.get(id).map(|p| p.key_present),
                    Some(*key),
                    "{case}: key_present of {id}"
                );
            }
            assert!(
                set.providers
                    .iter()
                    .filter(|p| p.access.is_usable())
                    .all(|p| !p.provider.models.is_empty()),
                "{case}: a usable provider without models"
            );
        }
    }

    #[test]
    fn unusable_providers_say_why_and_how_to_fix_it() {
        let set = run(
            r#"{"disabled_providers":["groq"],"enabled_providers":["groq","openai"]}"#,
            &[],
            "{}",
        );
        let why = |id: &str| {
            set.get(id)
                .and_then(|p| p.access.why_unusable(&p.provider))
                .unwrap_or_default()
        };
        assert!(
            why("openai").contains("has no credentials"),
            "{}",
            why("openai")
        );
        assert!(
            why("openai").contains("OPENAI_API_KEY"),
            "{}",
            why("openai")
        );
        assert!(
            why("groq").contains("disabled_providers"),
            "{}",
            why("groq")
        );
        assert!(
            why("anthropic").contains("enabled_providers"),
            "{}",
            why("anthropic")
        );
    }

    #[test]
    fn the_free_provider_offers_only_free_models_without_a_key() {
        #[rustfmt::skip]
        let cases: &[ModelCase] = &[
            ("no key", "{}", &[], "{}", &["big-pickle", "free-mini"]),
            ("env key", "{}", &[("OPENCODE_API_KEY", "k")], "{}", &["big-pickle", "free-mini", "paid-pro"]),
            ("auth.json key", "{}", &[], r#"{"opencode":{"type":"api","key":"k"}}"#, &["big-pickle", "free-mini", "paid-pro"]),
            ("config apiKey", r#"{"provider":{"opencode":{"options":{"apiKey":"k"}}}}"#, &[], "{}", &["big-pickle", "free-mini", "paid-pro"]),
        ];
        for (case, cfg, vars, auth, want) in cases {
            let set = run(cfg, vars, auth);
            assert_eq!(ids(&set, "opencode"), *want, "{case}");
            assert!(
                set.get("opencode").is_some_and(|p| p.access.is_usable()),
                "{case}"
            );
        }
    }

    #[test]
    fn model_filters_apply_to_usable_providers_only() {
        let vars: &[(&str, &str)] = &[("OPENAI_API_KEY", "k"), ("GROQ_API_KEY", "k")];
        // (case, config, env, provider, expected model ids)
        #[rustfmt::skip]
        let cases: &[ModelCase] = &[
            ("deprecated, alpha and OpenCode's hidden alias dropped from a usable provider", "{}", vars, "openai", &["gpt-5", "gpt-5-mini"]),
            ("alpha kept with experimental models enabled", "{}", &[("OPENAI_API_KEY", "k"), ("OPENCODE_ENABLE_EXPERIMENTAL_MODELS", "true")], "openai", &["gpt-5", "gpt-5-mini", "gpt-lab"]),
            ("beta stays", "{}", &[("ANTHROPIC_API_KEY", "k")], "anthropic", &["claude-beta", "claude-sonnet-4-5"]),
            ("an unusable provider lists every model", "{}", &[], "anthropic", &["claude-beta", "claude-old", "claude-sonnet-4-5"]),
            ("whitelist", r#"{"provider":{"openai":{"whitelist":["gpt-5-mini","gpt-4"]}}}"#, vars, "openai", &["gpt-5-mini"]),
            ("blacklist", r#"{"provider":{"openai":{"blacklist":["gpt-5-mini"]}}}"#, vars, "openai", &["gpt-5"]),
            ("whitelist and blacklist", r#"{"provider":{"openai":{"whitelist":["gpt-5","gpt-5-mini"],"blacklist":["gpt-5"]}}}"#, vars, "openai", &["gpt-5-mini"]),
            ("whitelist of another provider does not apply", r#"{"provider":{"groq":{"whitelist":["nothing"]}}}"#, vars, "openai", &["gpt-5", "gpt-5-mini"]),
        ];
        for (case, cfg, vars, id, want) in cases {
            let set = run(cfg, vars, "{}");
            assert_eq!(ids(&set, id), *want, "{case}");
        }
        // A whitelist that leaves nothing makes the provider disappear, as in OpenCode.
        let set = run(
            r#"{"provider":{"groq":{"whitelist":["nothing"]}}}"#,
            vars,
            "{}",
        );
        assert!(set.get("groq").is_none());
    }

    #[test]
    fn config_models_merge_over_catalog_models() {
        let set = run(
            r#"{"provider":{"openai":{
                "name":"My OpenAI",
                "models":{
                  "gpt-5":{"name":"GPT Five","limit":{"context":1000},"reasoning":true},
                  "my-gpt":{"id":"gpt-5-mini"},
                  "text-only":{"modalities":{"input":["text"]}},
                  "fresh":{"cost":{"input":2},"status":"beta"}
                }}}}"#,
            &[],
            "{}",
        );
        let p = set.get("openai").expect("an openai provider exists");
        assert_eq!(p.access, Access::Config);
        assert_eq!(p.provider.name, "My OpenAI");
        assert_eq!(p.provider.env, ["OPENAI_API_KEY"]);
        let m = |id: &str| {
            p.model(id)
                .cloned()
                .unwrap_or_else(|| panic!("openai/{id}"))
        };
        // Overridden fields change; the rest comes from the catalog.
        let five = m("gpt-5");
        assert_eq!(five.name, "GPT Five");
        assert_eq!(five.limit.context, 1000);
        assert_eq!(five.limit.output, 8_000);
        assert!(five.capabilities.reasoning && five.has_image_input());
        assert!((five.cost.input - 1.25).abs() < 1e-9);
        assert_eq!(five.release_date, "2025-01-01");
        // A model whose `id` names a catalog model: based on it, named by its key.
        let mine = m("my-gpt");
        assert_eq!(mine.name, "my-gpt");
        assert!((mine.cost.input - 0.25).abs() < 1e-9);
        // A new model: text only unless it says otherwise, tool calls on.
        let fresh = m("fresh");
        assert_eq!(fresh.name, "fresh");
        assert!(fresh.capabilities.tool_call && !fresh.has_image_input());
        assert!(fresh.capabilities.input.text && fresh.capabilities.output.text);
        assert_eq!(fresh.status, ModelStatus::Beta);
        assert!((fresh.cost.input - 2.0).abs() < 1e-9);
        assert!(!m("text-only").has_image_input());
        // Catalog models stay next to the added ones.
        assert!(p.model("gpt-5-mini").is_some());
        // A config model can deprecate a catalog model, which then disappears.
        let set = run(
            r#"{"provider":{"openai":{"models":{"gpt-5":{"status":"deprecated"}}}}}"#,
            &[],
            "{}",
        );
        assert_eq!(ids(&set, "openai"), ["gpt-5-mini"]);
    }

    #[test]
    fn defaults_and_config_models_are_carried() {
        let set = run(
            r#"{"model":"openai/gpt-5","small_model":"openai/gpt-5-mini"}"#,
            &[("OPENAI_API_KEY", "k")],
            "{}",
        );
        assert_eq!(set.model.as_deref(), Some("openai/gpt-5"));
        assert_eq!(set.small_model.as_deref(), Some("openai/gpt-5-mini"));
        let default = |id: &str| set.get(id).and_then(|p| p.default_model.clone());
        // OpenCode's order: priority names (`gpt-5` matches both), then id descending.
        assert_eq!(default("openai").as_deref(), Some("gpt-5-mini"));
        assert_eq!(default("opencode").as_deref(), Some("big-pickle"));
    }

    #[test]
    fn cloud_credentials_autoload_like_opencode() {
        let cat = || {
            Catalog::new(vec![
                provider(
                    "amazon-bedrock",
                    &["AWS_ACCESS_KEY_ID"],
                    vec![model("b", ModelStatus::Active, 1.0)],
                ),
                provider(
                    "google-vertex",
                    &["GOOGLE_VERTEX_PROJECT"],
                    vec![model("g", ModelStatus::Active, 1.0)],
                ),
            ])
        };
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, Option<Access>);
        #[rustfmt::skip]
        let cases: &[Case] = &[
            (&[("AWS_PROFILE", "dev")], "amazon-bedrock", Some(Access::Custom)),
            (&[("AWS_ACCESS_KEY_ID", "x")], "amazon-bedrock", Some(Access::Env)),
            (&[("AWS_WEB_IDENTITY_TOKEN_FILE", "/t")], "amazon-bedrock", Some(Access::Custom)),
            (&[], "amazon-bedrock", Some(Access::NoCredentials)),
            (&[("GOOGLE_CLOUD_PROJECT", "p")], "google-vertex", Some(Access::Custom)),
            (&[("GCLOUD_PROJECT", "p")], "google-vertex", Some(Access::Custom)),
            (&[("GOOGLE_VERTEX_PROJECT", "p")], "google-vertex", Some(Access::Env)),
        ];
        for (vars, id, want) in cases {
            let set = classify(
                cat(),
                &config("{}"),
                &Environment::from_pairs(vars.iter().copied()),
                &Credentials::default(),
            );
            assert_eq!(access(&set, id), *want, "{vars:?}");
        }
        let set = classify(
            cat(),
            &config(r#"{"disabled_providers": ["amazon-bedrock"]}"#),
            &Environment::from_pairs([("AWS_PROFILE", "dev")]),
            &Credentials::default(),
        );
        assert_eq!(access(&set, "amazon-bedrock"), Some(Access::Disabled));
    }

    #[test]
    fn classification_is_deterministic() {
        let a = run(
            "{}",
            &[("GROQ_API_KEY", "k")],
            r#"{"openai":{"type":"api","key":"k"}}"#,
        );
        let b = run(
            "{}",
            &[("GROQ_API_KEY", "k")],
            r#"{"openai":{"type":"api","key":"k"}}"#,
        );
        assert_eq!(a, b);
        let sorted = a
            .providers
            .windows(2)
            .all(|w| w[0].provider.id < w[1].provider.id);
        assert!(sorted);
    }
}
