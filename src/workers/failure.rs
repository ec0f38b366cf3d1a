//! Why an attempt failed, classified from what OpenCode reported, and when orch stops
//! waiting for OpenCode's own retries (`docs/model-selection.md`, "Run-time fallback").
//!
//! OpenCode 1.18.34 records a provider's failure on the assistant message: `APIError`
//! (`statusCode`, `isRetryable`, `responseHeaders`, `responseBody`), `ContextOverflowError`,
//! `ProviderAuthError`, `MessageAbortedError`, ... (captures in `tests/fixtures/opencode`,
//! `prompt-error-*.json`). It retries retryable errors itself, up to five times, honouring
//! `retry-after`, and shows each wait only as the session's status (`retry`, with the
//! provider's message and when the next try is due). [`RetryRule`] decides when orch
//! aborts that wait and moves on.

use std::time::Duration;

use serde_json::Value;

use crate::opencode::OpenCodeError;
use crate::wire::FailureClass;

/// The longest error text kept on an attempt.
const MAX_ERROR_CHARS: usize = 300;

/// One failure, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// The class.
    pub class: FailureClass,
    /// The provider's HTTP status, when known.
    pub status_code: Option<u16>,
    /// How long the provider asked to be left alone (`retry-after`), when it said.
    pub retry_after: Option<Duration>,
    /// `Name: message`, cut short.
    pub message: String,
}

impl Classified {
    fn new(class: FailureClass, status_code: Option<u16>, message: String) -> Self {
        Self {
            class,
            status_code,
            retry_after: None,
            message: cut(message),
        }
    }
}

fn cut(mut s: String) -> String {
    if let Some((i, _)) = s.char_indices().nth(MAX_ERROR_CHARS) {
        s.truncate(i);
        s.push('…');
    }
    s
}

fn text_has(text: &str, needles: &[&str]) -> bool {
    let lower = text.to_ascii_lowercase();
    needles.iter().any(|n| lower.contains(n))
}

/// Words of a provider's message that mean the prompt is too long for the model.
const CONTEXT_WORDS: &[&str] = &[
    "context_length_exceeded",
    "maximum context length",
    "context window",
    "context length",
    "prompt is too long",
    "too many tokens",
];

/// Words that mean the model is unknown to the provider.
const UNKNOWN_MODEL_WORDS: &[&str] = &[
    "model_not_found",
    "does not exist",
    "unknown model",
    "model not found",
    "not supported",
    "no such model",
];

/// `retry-after` (seconds) or `retry-after-ms`, from `responseHeaders`.
fn retry_after(headers: Option<&Value>) -> Option<Duration> {
    let h = headers?.as_object()?;
    let get = |name: &str| {
        h.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return (ms.is_finite() && ms >= 0.0).then(|| Duration::from_millis(ms as u64));
    }
    let secs = get("retry-after")?.parse::<f64>().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_millis((secs * 1000.0) as u64))
}

/// Classifies the `info.error` of an assistant message.
pub fn classify_reply(error: &Value) -> Classified {
    let name = error.get("name").and_then(Value::as_str).unwrap_or("Error");
    let data = error.get("data");
    let field = |k: &str| data.and_then(|d| d.get(k));
    let message = field("message").and_then(Value::as_str).unwrap_or("");
    let shown = if message.is_empty() {
        name.to_owned()
    } else {
        format!("{name}: {message}")
    };
    match name {
        "APIError" => {
            let status = field("statusCode")
                .and_then(Value::as_u64)
                .and_then(|s| u16::try_from(s).ok());
            let retryable = field("isRetryable").and_then(Value::as_bool) == Some(true);
            let body = field("responseBody").and_then(Value::as_str).unwrap_or("");
            let all = format!("{message}\n{body}");
            let class = match status {
                Some(429) => FailureClass::RateLimited,
                Some(529) => FailureClass::Overloaded,
                Some(401 | 403) => FailureClass::Auth,
                Some(404) => FailureClass::UnknownModel,
                Some(_) if text_has(&all, &["overloaded"]) => FailureClass::Overloaded,
                Some(503) => FailureClass::Overloaded,
                Some(408) => FailureClass::ServerError,
                Some(s) if s >= 500 => FailureClass::ServerError,
                Some(_) if text_has(&all, CONTEXT_WORDS) => FailureClass::ContextOverflow,
                Some(_) if text_has(&all, UNKNOWN_MODEL_WORDS) => FailureClass::UnknownModel,
                Some(_) => FailureClass::BadRequest,
                None if text_has(&all, &["rate limit", "too many requests"]) => {
                    FailureClass::RateLimited
                }
                None if retryable => FailureClass::ServerError,
                None => FailureClass::Other,
            };
            let mut c = Classified::new(class, status, shown);
            c.retry_after = retry_after(field("responseHeaders"));
            c
        }
        "ProviderAuthError" => Classified::new(FailureClass::Auth, None, shown),
        "ContextOverflowError" => Classified::new(FailureClass::ContextOverflow, None, shown),
        "MessageAbortedError" => Classified::new(FailureClass::Aborted, None, shown),
        "MessageOutputLengthError" => Classified::new(FailureClass::OutputLength, None, shown),
        "ContentFilterError" => Classified::new(FailureClass::ContentFilter, None, shown),
        "UnknownError" if text_has(message, UNKNOWN_MODEL_WORDS) => {
            Classified::new(FailureClass::UnknownModel, None, shown)
        }
        _ => Classified::new(FailureClass::Other, None, shown),
    }
}

/// Classifies a retry OpenCode is waiting on (`GET /session/status`, type `retry`), for a
/// prompt orch aborts: OpenCode shows only the provider's message there, no status code.
pub fn classify_retry(message: &str, wait: Duration) -> Classified {
    let class = if text_has(message, &["rate limit", "too many requests", "quota"]) {
        FailureClass::RateLimited
    } else if text_has(message, &["overload", "capacity"]) {
        FailureClass::Overloaded
    } else {
        FailureClass::ServerError
    };
    let mut c = Classified::new(class, None, format!("retrying: {message}"));
    c.retry_after = (!wait.is_zero()).then_some(wait);
    c
}

/// Classifies a failed call to OpenCode itself. OpenCode answers a prompt for a model it
/// cannot load with an opaque `500 UnknownError` (capture `session-prompt-bad-model.json`);
/// orch only sends models its catalog knows, so that means the model is unknown to the
/// provider. Anything else (a dead process, a lost session) is not the model's.
pub fn classify_call(e: &OpenCodeError) -> Option<Classified> {
    match e {
        OpenCodeError::Status {
            status: 500,
            message,
            ..
        } if message.starts_with("UnknownError") => Some(Classified::new(
            FailureClass::UnknownModel,
            None,
            message.clone(),
        )),
        OpenCodeError::Status { .. }
        | OpenCodeError::Url { .. }
        | OpenCodeError::Transport { .. }
        | OpenCodeError::Decode { .. } => None,
    }
}

/// When orch stops waiting for OpenCode's own retries, and for an answer to start.
///
/// While a prompt runs, orch polls `GET /session/status` every `poll`. When the session is
/// in `retry` and either OpenCode is about to retry for more than the `max_retries`-th time
/// or the retry is due more than `max_wait` from now, orch aborts the message and moves on
/// to the next candidate. When no part of an answer has appeared `answer_start` after the
/// prompt (and OpenCode is not retrying), the attempt is `no_answer` and orch moves on too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryRule {
    /// Retries OpenCode may make before orch moves on (`ORCH_RETRY_MAX`, default 1).
    pub max_retries: u32,
    /// The longest retry wait orch sits through (`ORCH_RETRY_WAIT_MS`, default 10 s).
    pub max_wait: Duration,
    /// How long an answer may take to start (`ORCH_ANSWER_START_MS`, default 90 s).
    pub answer_start: Duration,
    /// How often the session's status is polled (`ORCH_WATCH_POLL_MS`, default 500 ms).
    pub poll: Duration,
}

impl Default for RetryRule {
    fn default() -> Self {
        Self {
            max_retries: 1,
            max_wait: Duration::from_secs(10),
            answer_start: Duration::from_secs(90),
            poll: Duration::from_millis(500),
        }
    }
}

impl RetryRule {
    /// Whether orch gives up on OpenCode's retry number `attempt`, due in `wait`.
    pub fn gives_up(&self, attempt: u32, wait: Duration) -> bool {
        attempt > self.max_retries || wait > self.max_wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opencode::PromptReply;

    fn captured(name: &str) -> Classified {
        let reply: PromptReply =
            serde_json::from_str(&crate::testutil::fixture(name)).expect("a captured reply");
        classify_reply(&reply.info.error.expect("the capture has an error"))
    }

    #[test]
    fn the_captured_errors_of_opencode_are_classified() {
        let cases = [
            (
                "prompt-error-429.json",
                FailureClass::RateLimited,
                Some(429),
            ),
            (
                "prompt-error-500.json",
                FailureClass::ServerError,
                Some(500),
            ),
            ("prompt-error-529.json", FailureClass::Overloaded, Some(529)),
            ("prompt-error-401.json", FailureClass::Auth, Some(401)),
            (
                "prompt-error-404-model.json",
                FailureClass::UnknownModel,
                Some(404),
            ),
            (
                "prompt-error-context.json",
                FailureClass::ContextOverflow,
                None,
            ),
            ("prompt-aborted-hang.json", FailureClass::Aborted, None),
        ];
        for (file, class, status) in cases {
            let c = captured(file);
            assert_eq!((c.class, c.status_code), (class, status), "{file}: {c:?}");
            assert_eq!(class.falls_back(), class != FailureClass::Aborted, "{file}");
        }
        assert_eq!(
            captured("prompt-error-429.json").retry_after,
            Some(Duration::from_secs(1))
        );
        let aborted: PromptReply = serde_json::from_str(&crate::testutil::fixture(
            "prompt-aborted-during-retry.json",
        ))
        .expect("a captured reply");
        assert!(aborted.info.error.is_none() && aborted.parts.is_empty());
    }

    #[test]
    fn statuses_and_bodies_decide_the_class() {
        let api = |status: Value, message: &str, body: &str| {
            classify_reply(&serde_json::json!({"name": "APIError", "data": {
                "message": message, "statusCode": status, "isRetryable": false,
                "responseBody": body}}))
            .class
        };
        use FailureClass::*;
        assert_eq!(api(403.into(), "forbidden", ""), Auth);
        assert_eq!(api(503.into(), "unavailable", ""), Overloaded);
        assert_eq!(api(500.into(), "Overloaded", ""), Overloaded);
        assert_eq!(api(502.into(), "bad gateway", ""), ServerError);
        assert_eq!(
            api(
                400.into(),
                "bad",
                r#"{"error":{"code":"context_length_exceeded"}}"#
            ),
            ContextOverflow
        );
        assert_eq!(api(400.into(), "model_not_found", ""), UnknownModel);
        assert_eq!(
            api(400.into(), "your tool schema is invalid", ""),
            BadRequest
        );
        assert_eq!(api(Value::Null, "Too Many Requests", ""), RateLimited);
        assert_eq!(api(Value::Null, "weird", ""), Other);
        let named = |name: &str, message: &str| {
            classify_reply(&serde_json::json!({"name": name, "data": {"message": message}})).class
        };
        assert_eq!(named("ProviderAuthError", "no key"), Auth);
        assert_eq!(named("ContentFilterError", "refused"), ContentFilter);
        assert_eq!(named("MessageOutputLengthError", ""), OutputLength);
        assert_eq!(named("UnknownError", "Model not found: x/y"), UnknownModel);
        assert_eq!(named("UnknownError", "something broke"), Other);
        assert_eq!(named("StructuredOutputError", "bad"), Other);
        for c in [Aborted, OutputLength, ContentFilter, BadRequest, Other] {
            assert!(!c.falls_back(), "{c}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_milliseconds_and_refuses_nonsense() {
        let h = |v: Value| retry_after(Some(&v));
        assert_eq!(
            h(serde_json::json!({"Retry-After": "2.5"})),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            h(serde_json::json!({"retry-after-ms": "120", "retry-after": "9"})),
            Some(Duration::from_millis(120))
        );
        assert_eq!(
            h(serde_json::json!({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})),
            None
        );
        assert_eq!(h(serde_json::json!({"retry-after": "-1"})), None);
        assert_eq!(h(serde_json::json!({"retry-after": "NaN"})), None);
        assert_eq!(h(serde_json::json!("x")), None);
    }

    #[test]
    fn retries_are_classified_from_the_provider_message() {
        let c = classify_retry("Rate limit reached", Duration::from_secs(30));
        assert_eq!(
            (c.class, c.retry_after),
            (FailureClass::RateLimited, Some(Duration::from_secs(30)))
        );
        assert_eq!(
            classify_retry("Overloaded", Duration::ZERO).class,
            FailureClass::Overloaded
        );
        assert_eq!(
            classify_retry("upstream failed", Duration::ZERO).retry_after,
            None
        );
        assert_eq!(
            classify_retry("upstream failed", Duration::ZERO).class,
            FailureClass::ServerError
        );
    }

    #[test]
    fn the_rule_gives_up_after_enough_retries_or_a_long_wait() {
        let rule = RetryRule::default();
        assert!(!rule.gives_up(1, Duration::from_secs(2)));
        assert!(rule.gives_up(2, Duration::from_secs(2)));
        assert!(rule.gives_up(1, Duration::from_secs(30)));
        let eager = RetryRule {
            max_retries: 0,
            ..rule
        };
        assert!(eager.gives_up(1, Duration::ZERO));
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let long = "é".repeat(1000);
        let c =
            classify_reply(&serde_json::json!({"name": "UnknownError", "data": {"message": long}}));
        assert!(c.message.chars().count() <= MAX_ERROR_CHARS + 1);
        assert!(c.message.ends_with('…'));
    }
}
