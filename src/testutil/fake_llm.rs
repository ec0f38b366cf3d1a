//! A fake OpenAI-compatible LLM (`POST /v1/chat/completions`, streamed or not) for tests
//! that run the real OpenCode: it answers `echo from <model>` and logs which model each
//! request asked for. Like the many proxies that do, it can echo the caller's API key
//! (the bearer token it was sent): a message holding `LEAK-401` gets a 401 whose body
//! names the key, `LEAK-500` a 500 with the key (the first time only: OpenCode retries a
//! 500, and the retry gets an answer with the key), `LEAK-STREAM` an answer with the key
//! (only the newest message counts).

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
    /// The size of the request body in bytes (what a call costs, roughly: 4 bytes a token).
    pub bytes: usize,
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
    let (delay, bash) = {
        let mut s = lock(&state);
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
        s.log.push(LlmRequest {
            model: model.clone(),
            text,
            stream,
            tools,
            bytes: req.body.len(),
        });
        (s.delay, bash)
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if let Some((name, arguments)) = bash {
        return tool_call(&model, &name, &arguments, stream);
    }
    match leak {
        Some("LEAK-401") => {
            return Resp {
                status: 401,
                content_type: "application/json",
                body: json!({"error": {"message": format!("Incorrect API key provided: {key}. You can find your API key at https://example.invalid."), "type": "invalid_request_error", "code": "invalid_api_key"}}).to_string().into(),
            };
        }
        Some("LEAK-500") if !lock(&state).failed_500.contains(&key) => {
            lock(&state).failed_500.push(key.clone());
            return Resp {
                status: 500,
                content_type: "application/json",
                body: json!({"error": {"message": format!("upstream failed for key {key}"), "type": "server_error"}}).to_string().into(),
            };
        }
        _ => {}
    }
    let answer = if leak.is_some() {
        format!("echo from {model} with key {key}")
    } else {
        format!("echo from {model}")
    };
    let usage = json!({"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8});
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
    }
}
