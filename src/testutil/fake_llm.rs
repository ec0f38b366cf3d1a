//! A fake OpenAI-compatible LLM (`POST /v1/chat/completions`, streamed or not) for tests
//! that run the real OpenCode: it answers `echo from <model>` and logs which model each
//! request asked for. Like the many proxies that do, it can echo the caller's API key
//! (the bearer token it was sent): a message holding `LEAK-401` gets a 401 whose body
//! names the key, `LEAK-500` a 500 with the key (the first time only: OpenCode retries a
//! 500, and the retry gets an answer with the key), `LEAK-STREAM` an answer with the key
//! (only the newest message counts).
//!
//! Per model it can also fail the way real providers do ([`Failure`], set with
//! [`FakeLlm::fail_model`]): `429` with `retry-after`, `500`, Anthropic's `529
//! overloaded_error`, `401 invalid_api_key`, OpenAI's `context_length_exceeded`, `404
//! model_not_found`, or an answer that never starts. Answers carry usage figures (the
//! prompt's tokens estimated as its characters / 4). The log records which model each
//! request asked for and the status it got.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::http::{Req, Resp, Server};
use super::lock;

/// One request the fake LLM received.
#[derive(Debug, Clone)]
pub struct LlmRequest {
    /// The `model` field.
    pub model: String,
    /// All message texts joined, to find a task in the log.
    pub text: String,
    /// Whether it asked for a stream.
    pub stream: bool,
    /// The names of the tools it offered the model (`tools[].function.name`).
    pub tools: Vec<String>,
    /// The status it was answered with (`0` for an answer that never started).
    pub status: u16,
    /// The size of the request body in bytes (what a call costs, roughly: 4 bytes a token).
    pub bytes: usize,
}

/// How a model fails, every time it is asked (OpenCode's own retries included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// `429` with `retry-after: <seconds>` (OpenAI's `rate_limit_exceeded`).
    RateLimited {
        /// The `retry-after` header, in seconds.
        retry_after_s: u64,
    },
    /// `500` `server_error`.
    ServerError,
    /// `529` with Anthropic's `overloaded_error` body.
    Overloaded,
    /// `401` `invalid_api_key`.
    Unauthorized,
    /// `400` `context_length_exceeded`, in OpenAI's format.
    ContextLength,
    /// `404` `model_not_found`.
    ModelNotFound,
    /// Accepts the request and never answers (until the fake is dropped).
    Hang,
}

impl Failure {
    /// The status it answers with (`0` for [`Failure::Hang`]).
    pub fn status(self) -> u16 {
        match self {
            Self::RateLimited { .. } => 429,
            Self::ServerError => 500,
            Self::Overloaded => 529,
            Self::Unauthorized => 401,
            Self::ContextLength => 400,
            Self::ModelNotFound => 404,
            Self::Hang => 0,
        }
    }

    fn response(self, model: &str) -> Resp {
        let body = match self {
            Self::RateLimited { .. } => {
                json!({"error": {"message": format!("Rate limit reached for {model}"), "type": "requests", "code": "rate_limit_exceeded"}})
            }
            Self::ServerError => {
                json!({"error": {"message": "The server had an error while processing your request", "type": "server_error"}})
            }
            Self::Overloaded => {
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
            }
            Self::Unauthorized => {
                json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}})
            }
            Self::ContextLength => {
                json!({"error": {"message": "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. Please reduce the length of the messages.", "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}})
            }
            Self::ModelNotFound => {
                json!({"error": {"message": format!("The model `{model}` does not exist or you do not have access to it."), "type": "invalid_request_error", "code": "model_not_found"}})
            }
            Self::Hang => Value::Null,
        };
        let mut resp = Resp::status_json(self.status(), &body);
        if let Self::RateLimited { retry_after_s } = self {
            resp.headers
                .push(("retry-after", retry_after_s.to_string()));
        }
        resp
    }
}

#[derive(Debug, Default)]
struct State {
    log: Vec<LlmRequest>,
    delay: Duration,
    /// `(needle, command)`: a request whose messages contain `needle` and no tool result
    /// yet is answered with a call of OpenCode's `bash` tool running `command`.
    bash: Vec<(String, String)>,
    /// `(needle, tool, arguments)`: as `bash`, a call of any tool.
    tools: Vec<(String, String, Value)>,
    /// Keys that got their 500 (OpenCode retries a 500, so only the first fails).
    failed_500: Vec<String>,
    /// Models that fail, by the request's `model` field.
    failures: std::collections::BTreeMap<String, Failure>,
    /// Usage figures an answer of a model reports, by the request's `model` field.
    usage: std::collections::BTreeMap<String, Reported>,
}

/// The usage an answer reports (OpenAI's `usage`), set per model with
/// [`FakeLlm::report_usage`]; without it an answer reports the prompt's characters / 4
/// and 3 completion tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reported {
    /// `prompt_tokens` (cached ones included, as OpenAI counts them).
    pub prompt: u64,
    /// `completion_tokens` (reasoning included).
    pub completion: u64,
    /// `prompt_tokens_details.cached_tokens`.
    pub cached: u64,
    /// `completion_tokens_details.reasoning_tokens`.
    pub reasoning: u64,
}

impl Reported {
    fn json(self) -> Value {
        json!({"prompt_tokens": self.prompt, "completion_tokens": self.completion,
            "total_tokens": self.prompt + self.completion,
            "prompt_tokens_details": {"cached_tokens": self.cached},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning}})
    }
}

/// The fake LLM server.
#[derive(Debug)]
pub struct FakeLlm {
    server: Server,
    state: Arc<Mutex<State>>,
}

fn texts(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(a) => a.iter().for_each(|x| texts(x, out)),
        Value::Object(o) => o.values().for_each(|x| texts(x, out)),
        _ => {}
    }
}

impl FakeLlm {
    /// Starts the fake on `127.0.0.1:0`.
    pub async fn start() -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let server = Server::start(move |req| handle(Arc::clone(&shared), req)).await?;
        Ok(Self { server, state })
    }

    /// `http://127.0.0.1:PORT/v1`, the `baseURL` for `@ai-sdk/openai-compatible`.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.server.url())
    }

    /// Every request so far.
    pub fn log(&self) -> Vec<LlmRequest> {
        lock(&self.state).log.clone()
    }

    /// Models of the requests whose messages contain `needle`.
    pub fn models_for(&self, needle: &str) -> Vec<String> {
        self.requests_for(needle).map(|r| r.model).collect()
    }

    /// The tools offered with the requests whose messages contain `needle`.
    pub fn tools_for(&self, needle: &str) -> Vec<String> {
        self.requests_for(needle).flat_map(|r| r.tools).collect()
    }

    /// The requests whose messages contain `needle`.
    fn requests_for(&self, needle: &str) -> impl Iterator<Item = LlmRequest> {
        self.log()
            .into_iter()
            .filter(move |r| r.text.contains(needle))
    }

    /// Answers a request whose messages contain `needle` (and no tool result yet) with a
    /// call of OpenCode's `bash` tool that runs `command`; once the tool has answered, the
    /// usual `echo from <model>` text follows.
    pub fn answer_with_bash(&self, needle: &str, command: &str) {
        lock(&self.state)
            .bash
            .push((needle.to_owned(), command.to_owned()));
    }

    /// Answers a request whose messages contain `needle` (and no tool result yet) with a
    /// call of the tool `name` (as OpenCode offers it, e.g. `orch_task_start`) with
    /// `arguments`; once the tool has answered, the usual `echo from <model>` text follows.
    pub fn answer_with_tool(&self, needle: &str, name: &str, arguments: &Value) {
        lock(&self.state)
            .tools
            .push((needle.to_owned(), name.to_owned(), arguments.clone()));
    }

    /// Makes every answer wait this long.
    pub fn set_delay(&self, delay: Duration) {
        lock(&self.state).delay = delay;
    }

    /// Makes every request for `model` (the id the provider sees, without the provider
    /// prefix) fail with `failure`.
    pub fn fail_model(&self, model: &str, failure: Failure) {
        lock(&self.state).failures.insert(model.to_owned(), failure);
    }

    /// Makes every answer of `model` (the id the provider sees) report these usage figures.
    pub fn report_usage(&self, model: &str, usage: Reported) {
        lock(&self.state).usage.insert(model.to_owned(), usage);
    }

    /// Makes `model` answer normally again.
    pub fn heal_model(&self, model: &str) {
        lock(&self.state).failures.remove(model);
    }

    /// The models asked, in order, with the status each got.
    pub fn asked(&self) -> Vec<(String, u16)> {
        self.log()
            .into_iter()
            .map(|r| (r.model, r.status))
            .collect()
    }
}

async fn handle(state: Arc<Mutex<State>>, req: Req) -> Resp {
    if req.method == "GET" && req.path.ends_with("/models") {
        return Resp::json(&json!({"object": "list", "data": []}));
    }
    if !(req.method == "POST" && req.path.ends_with("/chat/completions")) {
        return Resp::not_found();
    }
    let body = req.json();
    let model = body["model"].as_str().unwrap_or("").to_owned();
    let stream = body["stream"].as_bool().unwrap_or(false);
    let mut text = String::new();
    texts(&body["messages"], &mut text);
    let tools = body["tools"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t["function"]["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let tool_answered = body["messages"]
        .as_array()
        .is_some_and(|m| m.iter().any(|m| m["role"] == "tool"));
    let key = req
        .authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or("")
        .to_owned();
    // The newest message decides: a session's history carries earlier ones.
    let mut last = String::new();
    if let Some(m) = body["messages"].as_array().and_then(|m| m.last()) {
        texts(m, &mut last);
    }
    let leak = ["LEAK-401", "LEAK-500", "LEAK-STREAM"]
        .into_iter()
        .find(|m| last.contains(m));
    let prompt_tokens = text.chars().count() / 4;
    let (delay, bash, failure, reported) = {
        let mut s = lock(&state);
        let reported = s.usage.get(&model).copied();
        let bash = s
            .bash
            .iter()
            .find(|(needle, _)| !tool_answered && text.contains(needle.as_str()))
            .map(|(_, command)| {
                (
                    "bash".to_owned(),
                    json!({"command": command, "description": "Runs the command of the test"}),
                )
            })
            .or_else(|| {
                s.tools
                    .iter()
                    .find(|(needle, _, _)| !tool_answered && text.contains(needle.as_str()))
                    .map(|(_, name, arguments)| (name.clone(), arguments.clone()))
            });
        let failure = s.failures.get(&model).copied();
        s.log.push(LlmRequest {
            model: model.clone(),
            text,
            stream,
            tools,
            status: failure.map_or(200, Failure::status),
            bytes: req.body.len(),
        });
        (s.delay, bash, failure, reported)
    };
    match failure {
        Some(Failure::Hang) => {
            // Never answers; the connection task ends when the fake is dropped.
            tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
            return Failure::Hang.response(&model);
        }
        Some(f) => return f.response(&model),
        None => {}
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some((name, arguments)) = bash {
        return tool_call(&model, &name, &arguments, stream);
    }
    match leak {
        Some("LEAK-401") => {
            return Resp::status_json(
                401,
                &json!({"error": {"message": format!("Incorrect API key provided: {key}. You can find your API key at https://example.invalid."), "type": "invalid_request_error", "code": "invalid_api_key"}}),
            );
        }
        Some("LEAK-500") if !lock(&state).failed_500.contains(&key) => {
            lock(&state).failed_500.push(key.clone());
            return Resp::status_json(
                500,
                &json!({"error": {"message": format!("upstream failed for key {key}"), "type": "server_error"}}),
            );
        }
        _ => {}
    }
    let answer = if leak.is_some() {
        format!("echo from {model} with key {key}")
    } else {
        format!("echo from {model}")
    };
    let usage = reported.map_or_else(
        || json!({"prompt_tokens": prompt_tokens, "completion_tokens": 3, "total_tokens": prompt_tokens + 3}),
        Reported::json,
    );
    if stream {
        let chunk = |delta: Value, finish: Value, usage: Option<&Value>| {
            let mut c = json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
            if let Some(u) = usage {
                c["usage"] = u.clone();
            }
            format!("data: {c}\n\n")
        };
        let mut sse = chunk(
            json!({"role": "assistant", "content": answer}),
            Value::Null,
            None,
        );
        sse.push_str(&chunk(json!({}), json!("stop"), Some(&usage)));
        sse.push_str("data: [DONE]\n\n");
        return Resp {
            status: 200,
            content_type: "text/event-stream",
            body: sse.into(),
            headers: Vec::new(),
        };
    }
    Resp::json(
        &json!({"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        "usage": usage}),
    )
}

/// An answer that calls OpenCode's tool `name` with `arguments`.
fn tool_call(model: &str, name: &str, arguments: &Value, stream: bool) -> Resp {
    let arguments = arguments.to_string();
    let call = json!({"id": "call_orch_test", "type": "function",
        "function": {"name": name, "arguments": arguments}});
    let usage = json!({"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8});
    if !stream {
        return Resp::json(
            &json!({"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "tool_calls": [call]},
                "finish_reason": "tool_calls"}],
            "usage": usage}),
        );
    }
    let mut streamed = call;
    streamed["index"] = json!(0);
    let chunks = [
        json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [streamed]}, "finish_reason": null}]}),
        json!({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
            "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}], "usage": usage}),
    ];
    let mut sse: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    sse.push_str("data: [DONE]\n\n");
    Resp {
        status: 200,
        content_type: "text/event-stream",
        body: sse.into(),
        headers: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ask(llm: &FakeLlm, model: &str) -> Result<reqwest::Response, reqwest::Error> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(500))
            .build()?
            .post(format!("{}/chat/completions", llm.base_url()))
            .json(
                &json!({"model": model, "messages": [{"role": "user", "content": "hello there"}]}),
            )
            .send()
            .await
    }

    #[tokio::test]
    async fn each_model_fails_its_own_way_and_the_log_says_which_was_asked() {
        let llm = FakeLlm::start().await.expect("the fake starts");
        let cases = [
            ("limited", Failure::RateLimited { retry_after_s: 7 }, 429),
            ("broken", Failure::ServerError, 500),
            ("busy", Failure::Overloaded, 529),
            ("locked", Failure::Unauthorized, 401),
            ("small", Failure::ContextLength, 400),
            ("gone", Failure::ModelNotFound, 404),
        ];
        for (model, failure, status) in cases {
            llm.fail_model(model, failure);
            let resp = ask(&llm, model).await.expect("an answer");
            assert_eq!(resp.status().as_u16(), status, "{model}");
            let retry_after = resp
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap_or("").to_owned());
            let body: Value = resp.json().await.expect("a JSON body");
            assert!(body["error"]["message"].is_string(), "{model}: {body}");
            if model == "limited" {
                assert_eq!(retry_after.as_deref(), Some("7"));
            }
            if model == "small" {
                assert_eq!(body["error"]["code"], "context_length_exceeded");
            }
        }
        llm.fail_model("silent", Failure::Hang);
        assert!(
            ask(&llm, "silent").await.is_err(),
            "a hanging model never answers"
        );
        let ok: Value = ask(&llm, "fine")
            .await
            .expect("an answer")
            .json()
            .await
            .expect("JSON");
        assert_eq!(ok["choices"][0]["message"]["content"], "echo from fine");
        assert!(ok["usage"]["prompt_tokens"].as_u64().unwrap_or(0) > 0);
        llm.heal_model("broken");
        let healed = ask(&llm, "broken").await.expect("an answer");
        assert_eq!(healed.status().as_u16(), 200);
        let asked = llm.asked();
        assert_eq!(
            asked,
            [
                ("limited".to_owned(), 429),
                ("broken".to_owned(), 500),
                ("busy".to_owned(), 529),
                ("locked".to_owned(), 401),
                ("small".to_owned(), 400),
                ("gone".to_owned(), 404),
                ("silent".to_owned(), 0),
                ("fine".to_owned(), 200),
                ("broken".to_owned(), 200),
            ]
        );
    }
}
