//! The live provider source: a running OpenCode server.
//!
//! Usable providers are exactly `connected` of `GET /provider` (with their `source` from
//! `GET /config/providers`); the `source` that `/provider` reports for the rest of its
//! catalog says nothing about usability (it is `custom` for every provider).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;

use super::{Access, Origin, ProviderEntry, ProviderSet, ProviderSource, SetOrigin, SourceError};
use crate::catalog::opencode::{ConfigProvidersReply, ProviderListReply, WireProvider};
use crate::catalog::opencode_default_model;
use crate::opencode::{OpenCodeClient, OpenCodeError, strip_credentials};

/// Asks an OpenCode server which providers are usable.
#[derive(Debug, Clone)]
pub struct LiveSource {
    client: OpenCodeClient,
}

/// The part of `GET /config` that steers tags.
#[derive(Debug, Default, Deserialize)]
pub struct ConfigReply {
    /// OpenCode's `model`.
    #[serde(default)]
    pub model: Option<String>,
    /// OpenCode's `small_model`.
    #[serde(default)]
    pub small_model: Option<String>,
}

impl LiveSource {
    /// A source for the server at `url`.
    pub fn new(url: &str) -> Result<Self, SourceError> {
        let client =
            OpenCodeClient::new(url, Duration::from_secs(10)).map_err(server_error(url))?;
        Ok(Self { client })
    }

    /// A source using an existing client.
    pub fn with_client(client: OpenCodeClient) -> Self {
        Self { client }
    }
}

fn server_error(url: &str) -> impl Fn(OpenCodeError) -> SourceError + '_ {
    move |source| SourceError::Server {
        url: strip_credentials(url),
        source,
    }
}

impl ProviderSource for LiveSource {
    async fn load(&self) -> Result<ProviderSet, SourceError> {
        let url = self.client.base_url().to_owned();
        let (config, usable, list) = tokio::try_join!(
            self.client.get::<ConfigReply>("config"),
            self.client.get::<ConfigProvidersReply>("config/providers"),
            self.client.get::<ProviderListReply>("provider"),
        )
        .map_err(server_error(&url))?;
        Ok(from_replies(config, usable, list, &url))
    }
}

/// Classifies the three replies of an OpenCode server (`url` names it in the set's origin).
/// Public so that benchmarks and tests can classify captured replies without HTTP.
pub fn from_replies(
    config: ConfigReply,
    usable: ConfigProvidersReply,
    list: ProviderListReply,
    url: &str,
) -> ProviderSet {
    let connected: BTreeSet<String> = list.connected.into_iter().collect();
    let mut usable_by_id: BTreeMap<String, WireProvider> = usable
        .providers
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    let mut defaults = list.default;
    defaults.extend(usable.default);

    let mut providers = Vec::with_capacity(list.all.len());
    for wire in list.all {
        let id = wire.id.clone();
        let is_connected = connected.contains(&id);
        // For a usable provider, `/config/providers` is the authority on source, key and models.
        let (wire, access) = match (is_connected, usable_by_id.remove(&id)) {
            (true, Some(u)) => {
                let access = Access::from_opencode_source(&u.source);
                (u, access)
            }
            (true, None) => (wire, Access::Custom),
            (false, _) => (wire, Access::NoCredentials),
        };
        let key_present = wire.has_key;
        let provider = wire.into_provider();
        let default_model = defaults
            .get(&id)
            .cloned()
            .or_else(|| opencode_default_model(&provider).map(|m| m.id.clone()));
        providers.push(ProviderEntry {
            provider,
            access,
            key_present,
            default_model,
        });
    }
    // A usable provider missing from `all` still counts.
    for (id, wire) in usable_by_id {
        if !connected.contains(&id) {
            continue;
        }
        let access = Access::from_opencode_source(&wire.source);
        let key_present = wire.has_key;
        let provider = wire.into_provider();
        providers.push(ProviderEntry {
            default_model: defaults
                .get(&id)
                .cloned()
                .or_else(|| opencode_default_model(&provider).map(|m| m.id.clone())),
            provider,
            access,
            key_present,
        });
    }
    let mut set = ProviderSet {
        providers,
        model: config.model.filter(|m| !m.is_empty()),
        small_model: config.small_model.filter(|m| !m.is_empty()),
        origin: SetOrigin {
            kind: Origin::Live,
            catalog: url.to_owned(),
            config_files: Vec::new(),
        },
        warnings: Vec::new(),
    };
    set.sort();
    set
}
