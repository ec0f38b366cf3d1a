//! `orch`: choose, apply and verify the LLM model of each OpenCode worker.
//!
//! The core library. It knows which providers and models a user can really use
//! ([`sources`] over a [`catalog`]), turns a model reference into one model with a
//! reason ([`resolve`]), and describes the workers that run on those models
//! ([`profiles`]). Binaries and the TUI are thin clients of [`api::Orchestrator`].
//! [`install`] sets OpenCode up to use orch (command shortcuts, the `orch mcp` entry).
#![deny(missing_docs)]

pub mod api;
pub mod catalog;
pub mod clock;
pub mod error;
pub mod fsutil;
pub mod install;
pub mod opencode;
pub mod paths;
pub mod profiles;
pub mod render;
pub mod resolve;
pub mod sources;
#[cfg(any(test, feature = "testutil"))]
pub mod testutil;
pub mod wire;
pub mod workers;

pub use error::Error;
