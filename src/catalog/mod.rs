//! The provider and model catalog: one internal type and adapters from the formats
//! OpenCode and models.dev use.

pub mod lenient;
mod model;
pub mod models_dev;
pub mod opencode;
pub mod snapshot;

pub use model::{
    Capabilities, Catalog, Cost, Limits, Modalities, Model, ModelStatus, Provider,
    opencode_default_model, opencode_sort_key,
};
