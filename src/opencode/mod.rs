//! A typed client of the OpenCode HTTP server, for the calls orch makes.

mod client;
mod session;

pub use client::{OpenCodeClient, OpenCodeError, UrlError, strip_credentials};
pub use session::{
    AssistantInfo, Health, ModelChoice, PartInput, PartOutput, PromptBody, PromptReply, Session,
};
