//! The catalog snapshot bundled in the binary, used when OpenCode's models cache is absent.
//!
//! Derived from the `GET /provider` capture of OpenCode 1.18.34 (`tests/fixtures/opencode/`),
//! without providers declared only in that capture's config and without any key. Stored as
//! gzip-compressed compact JSON: `{"v":1,"about":..,"providers":[[id,name,[env],npm,[model..]]]}`
//! where a model is `[id,name,family,flags,context,output,cost_in,cost_out,cache_read,
//! cache_write,status,release_date]` and `flags` packs the capability booleans (see [`Flag`]).
//! Regenerate with `ORCH_BLESS_SNAPSHOT=1 cargo test -p orch snapshot`.

use std::io::Read;

use serde::{Deserialize, Serialize};

use super::model::{Capabilities, Catalog, Cost, Limits, Modalities, Model, ModelStatus, Provider};

/// The bundled snapshot, compressed.
pub const BUNDLED: &[u8] = include_bytes!("../../assets/catalog.json.gz");

/// What the bundled snapshot was derived from.
pub const BUNDLED_ABOUT: &str = "bundled snapshot (OpenCode 1.18.34 catalog)";

/// Capability bits of a snapshot model.
#[derive(Debug, Clone, Copy)]
#[repr(u32)]
pub enum Flag {
    /// `capabilities.temperature`.
    Temperature = 1,
    /// `capabilities.reasoning`.
    Reasoning = 1 << 1,
    /// `capabilities.attachment`.
    Attachment = 1 << 2,
    /// `capabilities.tool_call`.
    ToolCall = 1 << 3,
    /// First input modality bit (text, audio, image, video, pdf follow).
    InputText = 1 << 4,
    /// First output modality bit (text, audio, image, video, pdf follow).
    OutputText = 1 << 9,
}

#[derive(Serialize, Deserialize)]
struct Snap {
    v: u32,
    about: String,
    providers: Vec<SnapProvider>,
}

#[derive(Serialize, Deserialize)]
struct SnapProvider(String, String, Vec<String>, String, Vec<SnapModel>);

#[derive(Serialize, Deserialize)]
struct SnapModel(
    String,
    String,
    String,
    u32,
    u64,
    u64,
    f64,
    f64,
    f64,
    f64,
    u8,
    String,
);

fn modality_bits(m: Modalities) -> u32 {
    u32::from(m.text)
        | u32::from(m.audio) << 1
        | u32::from(m.image) << 2
        | u32::from(m.video) << 3
        | u32::from(m.pdf) << 4
}

fn modalities(bits: u32) -> Modalities {
    Modalities {
        text: bits & 1 != 0,
        audio: bits & 2 != 0,
        image: bits & 4 != 0,
        video: bits & 8 != 0,
        pdf: bits & 16 != 0,
    }
}

fn status_code(s: ModelStatus) -> u8 {
    match s {
        ModelStatus::Active => 0,
        ModelStatus::Beta => 1,
        ModelStatus::Alpha => 2,
        ModelStatus::Deprecated => 3,
    }
}

fn status(code: u8) -> ModelStatus {
    match code {
        1 => ModelStatus::Beta,
        2 => ModelStatus::Alpha,
        3 => ModelStatus::Deprecated,
        _ => ModelStatus::Active,
    }
}

/// Encodes a catalog as a compressed snapshot.
pub fn encode(catalog: &Catalog, about: &str) -> Vec<u8> {
    let snap = Snap {
        v: 1,
        about: about.to_owned(),
        providers: catalog
            .providers
            .iter()
            .map(|p| {
                SnapProvider(
                    p.id.clone(),
                    p.name.clone(),
                    p.env.clone(),
                    p.npm.clone().unwrap_or_default(),
                    p.models
                        .iter()
                        .map(|m| {
                            let c = &m.capabilities;
                            let bit = |on: bool, flag: Flag| if on { flag as u32 } else { 0 };
                            let flags = bit(c.temperature, Flag::Temperature)
                                | bit(c.reasoning, Flag::Reasoning)
                                | bit(c.attachment, Flag::Attachment)
                                | bit(c.tool_call, Flag::ToolCall)
                                | (modality_bits(c.input) * Flag::InputText as u32)
                                | (modality_bits(c.output) * Flag::OutputText as u32);
                            SnapModel(
                                m.id.clone(),
                                m.name.clone(),
                                m.family.clone(),
                                flags,
                                m.limit.context,
                                m.limit.output,
                                m.cost.input,
                                m.cost.output,
                                m.cost.cache_read,
                                m.cost.cache_write,
                                status_code(m.status),
                                m.release_date.clone(),
                            )
                        })
                        .collect(),
                )
            })
            .collect(),
    };
    let json = serde_json::to_vec(&snap).unwrap_or_default();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing into a Vec cannot fail.
    let _ = std::io::Write::write_all(&mut enc, &json);
    enc.finish().unwrap_or_default()
}

/// Why a snapshot could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The gzip layer is broken.
    #[error("cannot decompress: {0}")]
    Decompress(#[source] std::io::Error),
    /// The JSON inside does not have the snapshot's shape.
    #[error("invalid snapshot: {0}")]
    Json(#[source] serde_json::Error),
    /// A snapshot format this version of orch does not read.
    #[error("unsupported snapshot version {0}")]
    Version(u32),
}

/// Decodes a compressed snapshot.
pub fn decode(bytes: &[u8]) -> Result<Catalog, SnapshotError> {
    let mut json = Vec::with_capacity(bytes.len() * 8);
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut json)
        .map_err(SnapshotError::Decompress)?;
    let snap: Snap = serde_json::from_slice(&json).map_err(SnapshotError::Json)?;
    if snap.v != 1 {
        return Err(SnapshotError::Version(snap.v));
    }
    let providers = snap
        .providers
        .into_iter()
        .map(|SnapProvider(id, name, env, npm, models)| Provider {
            id,
            name,
            env,
            npm: (!npm.is_empty()).then_some(npm),
            models: models
                .into_iter()
                .map(
                    |SnapModel(
                        id,
                        name,
                        family,
                        f,
                        context,
                        output,
                        cin,
                        cout,
                        cr,
                        cw,
                        st,
                        release_date,
                    )| Model {
                        id,
                        name,
                        family,
                        capabilities: Capabilities {
                            temperature: f & Flag::Temperature as u32 != 0,
                            reasoning: f & Flag::Reasoning as u32 != 0,
                            attachment: f & Flag::Attachment as u32 != 0,
                            tool_call: f & Flag::ToolCall as u32 != 0,
                            input: modalities(f / Flag::InputText as u32),
                            output: modalities(f / Flag::OutputText as u32),
                        },
                        limit: Limits { context, output },
                        cost: Cost {
                            input: cin,
                            output: cout,
                            cache_read: cr,
                            cache_write: cw,
                            unknown: false,
                        },
                        status: status(st),
                        release_date,
                    },
                )
                .collect(),
        })
        .collect();
    Ok(Catalog::new(providers))
}

/// The bundled catalog.
pub fn bundled() -> Result<Catalog, SnapshotError> {
    decode(BUNDLED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::opencode::ProviderListReply;

    /// The capture's `GET /provider` reply.
    fn capture() -> ProviderListReply {
        let gz = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/opencode/provider-list.json.gz"
        ))
        .expect("the file reads");
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(gz.as_slice())
            .read_to_end(&mut json)
            .expect("the file reads");
        serde_json::from_slice(&json).expect("the json parses")
    }

    /// The catalog part of the capture: providers that exist only because the
    /// capture's config declared them are left out.
    fn derived() -> Catalog {
        let all = capture()
            .all
            .into_iter()
            .filter(|p| p.source != "config")
            .collect();
        crate::catalog::opencode::catalog_from_wire(all)
    }

    #[test]
    fn snapshot_is_the_capture_and_is_up_to_date() {
        let catalog = derived();
        let bytes = encode(&catalog, BUNDLED_ABOUT);
        if std::env::var_os("ORCH_BLESS_SNAPSHOT").is_some() {
            std::fs::write(
                concat!(env!("CARGO_MANIFEST_DIR"), "/assets/catalog.json.gz"),
                &bytes,
            )
            .expect("the file is written");
            return;
        }
        let bundled = bundled().expect("the bundled snapshot loads");
        assert_eq!(
            bundled, catalog,
            "assets/catalog.json.gz is stale: rerun with ORCH_BLESS_SNAPSHOT=1"
        );
        assert_eq!(bundled.providers.len(), 225);
        assert!(bundled.provider("fake").is_none());
        assert!(bundled.model_count() > 8000);
    }

    #[test]
    fn bundled_snapshot_holds_no_key() {
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(BUNDLED)
            .read_to_end(&mut json)
            .expect("the file reads");
        let text = String::from_utf8_lossy(&json);
        for secret in ["sk-test-123", "gsk-test-env"] {
            assert!(!text.contains(secret));
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(b"not gzip").is_err());
        assert!(decode(&encode(&Catalog::default(), "x")[..10]).is_err());
    }
}
