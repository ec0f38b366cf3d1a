//! A typed client of the OpenCode HTTP server, for the calls orch makes.

mod client;

pub use client::{OpenCodeClient, OpenCodeError, strip_credentials};
