//! A typed client of the OpenCode HTTP server, for the calls orch makes.

mod client;
mod credentials;
mod session;

pub use client::{OpenCodeClient, OpenCodeError, UrlError, strip_credentials};
pub use credentials::{Credentials, DEFAULT_USERNAME, Secret};
pub use session::{
    AssistantInfo, Health, MessageHead, MessageWithParts, ModelChoice, PartInput, PartOutput,
    PromptBody, PromptReply, Session, SessionStatus,
};
