//! Sessions and prompts, typed from OpenCode's OpenAPI spec for the calls orch makes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::{OpenCodeClient, OpenCodeError};

/// `GET /global/health`.
#[derive(Debug, Clone, Deserialize)]
pub struct Health {
    /// Always true when it answers.
    #[serde(default)]
    pub healthy: bool,
    /// OpenCode's version.
    #[serde(default)]
    pub version: String,
}

/// A session.
#[derive(Debug, Clone, Deserialize)]
pub struct Session {
    /// `ses_...`.
    pub id: String,
    /// Title.
    #[serde(default)]
    pub title: String,
    /// Its working directory.
    #[serde(default)]
    pub directory: String,
}

/// A model as a prompt names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelChoice {
    /// Provider id.
    #[serde(rename = "providerID")]
    pub provider_id: String,
    /// Model id.
    #[serde(rename = "modelID")]
    pub model_id: String,
}

/// One input part of a prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PartInput {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// A file, as a `data:` or `file://` URL.
    File {
        /// MIME type.
        mime: String,
        /// The URL.
        url: String,
        /// A name to show.
        #[serde(skip_serializing_if = "Option::is_none")]
        filename: Option<String>,
    },
}

/// `POST /session/{id}/message` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PromptBody {
    /// The parts.
    pub parts: Vec<PartInput>,
    /// The model for this message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelChoice>,
    /// The agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Tool switches for this message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tools: Option<BTreeMap<String, bool>>,
    /// Extra system prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
}

/// The assistant message's header.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AssistantInfo {
    /// Message id.
    #[serde(default)]
    pub id: String,
    /// The provider that really answered.
    #[serde(default, rename = "providerID")]
    pub provider_id: String,
    /// The model that really answered.
    #[serde(default, rename = "modelID")]
    pub model_id: String,
    /// An error OpenCode recorded on the message (`{name, data: {message}}`).
    #[serde(default)]
    pub error: Option<Value>,
    /// Tokens the answer used, as OpenCode counted them.
    #[serde(default)]
    pub tokens: Option<crate::usage::Tokens>,
    /// Cost in US dollars, as OpenCode computed it from its prices (0 when it has none).
    #[serde(default)]
    pub cost: Option<f64>,
    /// When the message was created and completed (Unix milliseconds).
    #[serde(default)]
    pub time: Option<MessageTime>,
}

/// `info.time` of a message, or `time` of a part.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct MessageTime {
    /// Created (messages).
    #[serde(default)]
    pub created: Option<u64>,
    /// Completed (messages).
    #[serde(default)]
    pub completed: Option<u64>,
    /// Started (parts).
    #[serde(default)]
    pub start: Option<u64>,
}

/// One part of the reply; orch reads only text.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PartOutput {
    /// `text`, `step-start`, `tool`, ...
    #[serde(default, rename = "type")]
    pub kind: String,
    /// Text, for text parts.
    #[serde(default)]
    pub text: Option<String>,
    /// When the part started, for text and reasoning parts.
    #[serde(default)]
    pub time: Option<MessageTime>,
}

/// `POST /session/{id}/message` reply.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PromptReply {
    /// The header.
    #[serde(default)]
    pub info: AssistantInfo,
    /// The parts.
    #[serde(default)]
    pub parts: Vec<PartOutput>,
}

impl PromptReply {
    /// `provider/model` that answered, when OpenCode said.
    pub fn answered_by(&self) -> Option<String> {
        let i = &self.info;
        (!i.provider_id.is_empty() && !i.model_id.is_empty())
            .then(|| format!("{}/{}", i.provider_id, i.model_id))
    }

    /// The text parts, joined.
    pub fn text(&self) -> String {
        self.parts
            .iter()
            .filter(|p| p.kind == "text")
            .filter_map(|p| p.text.as_deref())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// From the message's creation to its first text or reasoning part, in milliseconds.
    pub fn first_token_ms(&self) -> Option<u64> {
        let created = self.info.time?.created?;
        self.parts
            .iter()
            .filter(|p| p.kind == "text" || p.kind == "reasoning")
            .filter_map(|p| p.time?.start)
            .min()
            .map(|start| start.saturating_sub(created))
    }

    /// From the message's creation to its completion, in milliseconds.
    pub fn answer_ms(&self) -> Option<u64> {
        let t = self.info.time?;
        Some(t.completed?.saturating_sub(t.created?))
    }

    /// The recorded error as `Name: message`, when there is one.
    pub fn error(&self) -> Option<String> {
        let e = self.info.error.as_ref()?;
        let name = e.get("name").and_then(Value::as_str).unwrap_or("Error");
        let message = e
            .get("data")
            .and_then(|d| d.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("");
        Some(if message.is_empty() {
            name.to_owned()
        } else {
            format!("{name}: {message}")
        })
    }
}

/// A session's state in `GET /session/status` (absent sessions are idle).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SessionStatus {
    /// Nothing running.
    Idle,
    /// A prompt is running.
    Busy,
    /// OpenCode is waiting to retry a provider error (1.18.34 shows its retries only here).
    Retry {
        /// Which retry is due (1 for the first).
        #[serde(default)]
        attempt: u32,
        /// The provider's error message.
        #[serde(default)]
        message: String,
        /// When the retry is due (Unix milliseconds).
        #[serde(default)]
        next: u64,
    },
    /// A state this version of orch does not know.
    #[serde(other)]
    Unknown,
}

/// A message of `GET /session/{id}/message`: enough to tell whether an answer started.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MessageHead {
    /// `user` or `assistant`.
    #[serde(default)]
    pub role: String,
    /// An error recorded on it.
    #[serde(default)]
    pub error: Option<Value>,
}

/// One message with its parts.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MessageWithParts {
    /// The header.
    #[serde(default)]
    pub info: MessageHead,
    /// Its parts.
    #[serde(default)]
    pub parts: Vec<PartOutput>,
}

#[derive(Serialize)]
struct CreateSession<'a> {
    title: &'a str,
}

impl OpenCodeClient {
    /// `GET /global/health`.
    pub async fn health(&self) -> Result<Health, OpenCodeError> {
        self.get("global/health").await
    }

    /// `POST /session`.
    pub async fn create_session(&self, title: &str) -> Result<Session, OpenCodeError> {
        self.post("session", &CreateSession { title }).await
    }

    /// `GET /session/{id}`.
    pub async fn session(&self, id: &str) -> Result<Session, OpenCodeError> {
        self.get(&format!("session/{}", path_segment(id))).await
    }

    /// `GET /session`.
    pub async fn sessions(&self) -> Result<Vec<Session>, OpenCodeError> {
        self.get("session").await
    }

    /// `POST /session/{id}/abort`.
    pub async fn abort(&self, id: &str) -> Result<bool, OpenCodeError> {
        self.post(
            &format!("session/{}/abort", path_segment(id)),
            &serde_json::json!({}),
        )
        .await
    }

    /// `DELETE /session/{id}`.
    pub async fn delete_session(&self, id: &str) -> Result<bool, OpenCodeError> {
        self.delete(&format!("session/{}", path_segment(id))).await
    }

    /// `POST /session/{id}/message`: sends a prompt and waits for the answer (callers
    /// bound the wait themselves; the HTTP timeout here is a day).
    pub async fn prompt(&self, id: &str, body: &PromptBody) -> Result<PromptReply, OpenCodeError> {
        let path = format!("session/{}/message", path_segment(id));
        self.post_waiting(&path, body, std::time::Duration::from_secs(24 * 3600))
            .await
    }

    /// `GET /session/status`: the state of every session that is not idle.
    pub async fn session_status(&self) -> Result<BTreeMap<String, SessionStatus>, OpenCodeError> {
        self.get("session/status").await
    }

    /// `GET /session/{id}/message?limit=1`: the newest message.
    pub async fn last_message(&self, id: &str) -> Result<Option<MessageWithParts>, OpenCodeError> {
        let list: Vec<MessageWithParts> = self
            .get(&format!("session/{}/message?limit=1", path_segment(id)))
            .await?;
        Ok(list.into_iter().next_back())
    }

    /// `GET /session/{id}/message`.
    pub async fn messages(&self, id: &str) -> Result<Vec<Value>, OpenCodeError> {
        self.get(&format!("session/{}/message", path_segment(id)))
            .await
    }
}

/// A session id as a path segment: anything but `[A-Za-z0-9_-]` is dropped, so an id can
/// never reach another endpoint.
fn path_segment(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_captured_reply() {
        let text = crate::testutil::fixture("session-prompt-response.json");
        let reply: PromptReply = serde_json::from_str(&text).expect("the json parses");
        assert_eq!(reply.answered_by().as_deref(), Some("fake/big-pro"));
        assert_eq!(reply.text(), "echo from big-pro");
        assert_eq!(reply.error(), None);
        let tokens = reply.info.tokens.expect("the capture has tokens");
        assert_eq!((tokens.input, tokens.output, tokens.reasoning), (5, 3, 0));
        assert_eq!(reply.info.cost, Some(0.0));
        // created 1795525344965, first text part 1795525345592, completed 1795525345614
        assert_eq!(reply.first_token_ms(), Some(627));
        assert_eq!(reply.answer_ms(), Some(649));
    }

    #[test]
    fn reads_the_captured_session_status_during_retries() {
        let text = crate::testutil::fixture("session-status-retry.json");
        let status: BTreeMap<String, SessionStatus> =
            serde_json::from_str(&text).expect("the json parses");
        assert_eq!(
            status.get("ses_de2cc8b13ffe06UZhPO1JmzZ8m"),
            Some(&SessionStatus::Retry {
                attempt: 1,
                message: "Rate limit reached".into(),
                next: 1_795_786_271_578
            })
        );
        assert_eq!(
            status.get("ses_de2cc3bd5ffe7TxitKZupGAada"),
            Some(&SessionStatus::Busy)
        );
        let odd: SessionStatus =
            serde_json::from_str(r#"{"type":"compacting"}"#).expect("unknown states parse");
        assert_eq!(odd, SessionStatus::Unknown);
    }

    #[test]
    fn prompt_body_matches_the_api() {
        let body = PromptBody {
            parts: vec![PartInput::Text { text: "hi".into() }],
            model: Some(ModelChoice {
                provider_id: "fake".into(),
                model_id: "big-pro".into(),
            }),
            ..PromptBody::default()
        };
        let v = serde_json::to_value(&body).unwrap_or_default();
        assert_eq!(
            v,
            serde_json::json!({"parts":[{"type":"text","text":"hi"}],"model":{"providerID":"fake","modelID":"big-pro"}})
        );
        assert_eq!(path_segment("ses_1/../x?y"), "ses_1xy");
    }
}
