//! `orch`: choose, apply and verify the LLM model of each OpenCode worker.
//!
//! The core library. It knows which providers and models a user can really use
//! ([`sources`] over a [`catalog`]), turns a model reference into one model with a
//! reason ([`resolve`]), and describes the workers that run on those models
//! ([`profiles`]); [`knowledge`] holds both, and [`views`] answers every read-only
//! question from it in the shapes of [`wire`], the one JSON contract. Work for [`workers`]
//! runs as background [`tasks`], served to LLMs and to the CLI by the MCP backend ([`mcp`]:
//! five tools over a Unix socket); binaries and the TUI are thin clients of
//! [`api::Orchestrator`], in-process ([`api::InProcess`]) or over the socket ([`client`]).
//! Imports run one way: `wire` ← `knowledge` ← `views` ← `workers` ← `tasks` ← `mcp`, then
//! `api` and `client`; nothing below `api` imports it.
//! [`install`] sets OpenCode up to use orch (command shortcuts, the `orch mcp` entry).
#![deny(missing_docs)]

pub mod api;
pub mod budget;
pub mod catalog;
pub mod client;
pub mod clock;
pub mod context;
pub mod error;
pub mod fsutil;
pub mod install;
pub mod knowledge;
pub mod mcp;
pub mod numbers;
pub mod opencode;
pub mod paths;
pub mod profiles;
pub mod redact;
pub mod render;
pub mod resolve;
pub mod sources;
pub mod tasks;
#[cfg(any(test, feature = "testutil"))]
pub mod testutil;
pub mod usage;
pub mod views;
pub mod wire;
pub mod workers;

pub use error::Error;
