//! A fake OpenCode HTTP server built from the real captures: it serves `/config`,
//! `/config/providers`, `/provider` and `/global/health` as captured, runs sessions
//! (create, prompt, messages, abort, delete) and records every request.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};

use super::fixture;
use super::http::{Req, Resp, Server};
use super::lock;

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Query string.
    pub query: String,
    /// JSON body (`null` when none).
    pub body: Value,
}

impl Recorded {
    /// The OpenCode agent a prompt asked for (`body.agent`).
    pub fn agent(&self) -> Option<String> {
        self.body["agent"].as_str().map(str::to_owned)
    }

    /// The model a prompt asked for (`body.model`), as `provider/model`.
    pub fn model(&self) -> Option<String> {
        match (
            self.body["model"]["providerID"].as_str(),
            self.body["model"]["modelID"].as_str(),
        ) {
            (Some(p), Some(m)) => Some(format!("{p}/{m}")),
            _ => None,
        }
    }

    /// The session a prompt went to (`/session/{id}/message`).
    pub fn session(&self) -> Option<String> {
        self.path
            .strip_prefix("/session/")
            .and_then(|rest| rest.split('/').next())
            .map(str::to_owned)
    }
}

/// What the fake answers, changeable while it runs.
#[derive(Debug)]
pub struct State {
    /// Every request, in order.
    pub requests: Vec<Recorded>,
    /// `GET /config`.
    pub config: Value,
    /// `GET /config/providers`.
    pub config_providers: Value,
    /// `GET /provider`.
    pub provider_list: Value,
    /// Whether `/global/health` answers healthy.
    pub healthy: bool,
    /// How long a prompt takes.
    pub prompt_delay: Duration,
    /// Model ids (`provider/model`) that answer OpenCode's opaque `UnknownError`.
    pub failing_models: BTreeSet<String>,
    /// The model that answers when a prompt names none.
    pub default_model: (String, String),
    /// Models (`provider/model`) whose replies carry this `info.error`, as OpenCode
    /// records a provider's failure (`APIError`, `ContextOverflowError`, ...).
    pub error_models: BTreeMap<String, Value>,
    /// Models OpenCode keeps retrying (session status `retry` with this provider message,
    /// next try a minute away) until the prompt is aborted; the reply then has no error
    /// and no parts, as captured.
    pub retry_models: BTreeMap<String, String>,
    /// Models whose answer never starts (status `busy`) until the prompt is aborted.
    pub hang_models: BTreeSet<String>,
    /// Models (`provider/model`) whose replies say another model answered (a provider
    /// that silently substitutes one).
    pub answer_as: BTreeMap<String, (String, String)>,
    /// Models (`provider/model`) whose replies report this `info.cost` in US dollars (the
    /// capture's 0 otherwise, as OpenCode reports for a model without prices).
    pub reported_cost: BTreeMap<String, f64>,
    /// The agents its config defines (`agent` of `OPENCODE_CONFIG_CONTENT`), when the
    /// spawner knows them: a prompt naming another agent is refused, as OpenCode refuses
    /// an unknown agent. `None`: any agent is accepted.
    pub agents: Option<BTreeSet<String>>,
    /// `GET /session/status`: sessions that are not idle.
    status: BTreeMap<String, Value>,
    sessions: BTreeMap<String, Value>,
    messages: BTreeMap<String, Vec<Value>>,
    aborted: BTreeSet<String>,
    next: u64,
}

/// The fake server.
#[derive(Debug)]
pub struct FakeOpenCode {
    server: Server,
    state: Arc<Mutex<State>>,
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

impl FakeOpenCode {
    /// Starts a fake serving the captures of `tests/fixtures/opencode`.
    pub async fn start() -> std::io::Result<Self> {
        let state = State {
            requests: Vec::new(),
            config: parse(&fixture("config.json")),
            config_providers: parse(&fixture("config-providers.json")),
            provider_list: parse(&fixture("provider-list.json.gz")),
            healthy: true,
            prompt_delay: Duration::ZERO,
            failing_models: BTreeSet::new(),
            default_model: ("fake".into(), "big-pro".into()),
            error_models: BTreeMap::new(),
            retry_models: BTreeMap::new(),
            hang_models: BTreeSet::new(),
            answer_as: BTreeMap::new(),
            reported_cost: BTreeMap::new(),
            agents: None,
            status: BTreeMap::new(),
            sessions: BTreeMap::new(),
            messages: BTreeMap::new(),
            aborted: BTreeSet::new(),
            next: 0,
        };
        let state = Arc::new(Mutex::new(state));
        let shared = Arc::clone(&state);
        let server = Server::start(move |req| handle(Arc::clone(&shared), req)).await?;
        Ok(Self { server, state })
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The state, to inspect or change.
    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Stops answering (connections are refused from now on).
    pub fn shutdown(&self) {
        self.server.stop();
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state().requests.clone()
    }

    /// The prompts (`POST /session/{id}/message`) so far.
    pub fn prompts(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| {
                r.method == "POST"
                    && r.path.starts_with("/session/")
                    && r.path.ends_with("/message")
            })
            .collect()
    }

    /// Session ids that were aborted.
    pub fn aborted(&self) -> Vec<String> {
        self.state().aborted.iter().cloned().collect()
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

async fn handle(state: Arc<Mutex<State>>, req: Req) -> Resp {
    let body = req.json();
    lock(&state).requests.push(Recorded {
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.query.clone(),
        body: body.clone(),
    });
    let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["global", "health"]) => {
            if lock(&state).healthy {
                Resp::json(&json!({"healthy": true, "version": "1.18.34"}))
            } else {
                Resp::status_json(
                    503,
                    &json!({"name": "Unavailable", "data": {"message": "unhealthy"}}),
                )
            }
        }
        ("GET", ["config"]) => Resp::json(&lock(&state).config),
        ("GET", ["config", "providers"]) => Resp::json(&lock(&state).config_providers),
        ("GET", ["provider"]) => Resp::json(&lock(&state).provider_list),
        ("POST", ["session"]) => {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
            let mut s = lock(&state);
            s.next += 1;
            let id = format!(
                "ses_fake{:06}",
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            );
            let mut session = parse(&fixture("session-create.json"));
            session["id"] = json!(id);
            session["title"] = body.get("title").cloned().unwrap_or(json!("New session"));
            s.sessions.insert(id.clone(), session.clone());
            Resp::json(&session)
        }
        ("GET", ["session"]) => Resp::json(&Value::Array(
            lock(&state).sessions.values().cloned().collect(),
        )),
        ("GET", ["session", "status"]) => Resp::json(&json!(lock(&state).status)),
        ("GET", ["session", id]) => match lock(&state).sessions.get(*id) {
            Some(s) => Resp::json(s),
            None => Resp::not_found(),
        },
        ("DELETE", ["session", id]) => {
            let removed = lock(&state).sessions.remove(*id).is_some();
            Resp::json(&json!(removed))
        }
        ("POST", ["session", id, "abort"]) => {
            let mut s = lock(&state);
            let known = s.sessions.contains_key(*id);
            if known {
                s.aborted.insert((*id).to_owned());
            }
            Resp::json(&json!(known))
        }
        ("GET", ["session", id, "message"]) => match lock(&state).messages.get(*id) {
            // `?limit=1`: the newest message only.
            Some(m) if req.query.contains("limit=1") => {
                Resp::json(&Value::Array(m.last().cloned().into_iter().collect()))
            }
            Some(m) => Resp::json(&Value::Array(m.clone())),
            None => Resp::json(&json!([])),
        },
        ("POST", ["session", id, "message"]) => prompt(&state, id, &body).await,
        _ => Resp::not_found(),
    }
}

async fn prompt(state: &Arc<Mutex<State>>, id: &str, body: &Value) -> Resp {
    let (delay, default) = {
        let mut s = lock(state);
        if !s.sessions.contains_key(id) {
            return Resp::not_found();
        }
        if let (Some(agents), Some(agent)) = (&s.agents, body["agent"].as_str())
            && !agents.contains(agent)
        {
            return Resp::status_json(
                400,
                &json!({"name": "NotFoundError", "data": {"message": format!("Agent not found: \"{agent}\"")}}),
            );
        }
        s.aborted.remove(id);
        (s.prompt_delay, s.default_model.clone())
    };
    let provider = body["model"]["providerID"]
        .as_str()
        .map_or(default.0, str::to_owned);
    let model = body["model"]["modelID"]
        .as_str()
        .map_or(default.1, str::to_owned);
    if lock(state)
        .failing_models
        .contains(&format!("{provider}/{model}"))
    {
        return Resp {
            status: 500,
            content_type: "application/json",
            body: fixture("session-prompt-bad-model.json").into(),
            headers: Vec::new(),
        };
    }
    let key = format!("{provider}/{model}");
    let (retry, hang, error, answer_as, cost) = {
        let s = lock(state);
        (
            s.retry_models.get(&key).cloned(),
            s.hang_models.contains(&key),
            s.error_models.get(&key).cloned(),
            s.answer_as.get(&key).cloned(),
            s.reported_cost.get(&key).copied(),
        )
    };
    let (provider, model) = answer_as.unwrap_or((provider, model));
    let started = std::time::Instant::now();
    let mut aborted = false;
    let waits_for_abort = retry.is_some() || hang;
    {
        let mut s = lock(state);
        let status = match &retry {
            Some(message) => {
                json!({"type": "retry", "attempt": 1, "message": message, "next": now_ms() + 60_000})
            }
            None => json!({"type": "busy"}),
        };
        s.status.insert(id.to_owned(), status);
        // While it waits, the newest message is the assistant's, without parts.
        let messages = s.messages.entry(id.to_owned()).or_default();
        messages.push(
            json!({"info": {"role": "user", "sessionID": id}, "parts": body["parts"].clone()}),
        );
        messages.push(json!({"info": {"role": "assistant", "sessionID": id}, "parts": []}));
    }
    while waits_for_abort || started.elapsed() < delay {
        tokio::time::sleep(Duration::from_millis(5)).await;
        if lock(state).aborted.contains(id) {
            aborted = true;
            break;
        }
    }
    lock(state).status.remove(id);
    let mut reply = parse(&fixture("session-prompt-response.json"));
    reply["info"]["providerID"] = json!(provider);
    reply["info"]["modelID"] = json!(model);
    reply["info"]["sessionID"] = json!(id);
    reply["info"]["time"] = json!({"created": now_ms(), "completed": now_ms()});
    if let Some(cost) = cost {
        reply["info"]["cost"] = json!(cost);
    }
    if aborted && retry.is_some() {
        reply["parts"] = json!([]);
    } else if aborted {
        reply["info"]["error"] = json!({"name": "MessageAbortedError", "data": {"message": "The operation was aborted."}});
        reply["parts"] = json!([]);
    } else if let Some(error) = error {
        reply["info"]["error"] = error;
        reply["parts"] = json!([]);
    } else if let Some(parts) = reply["parts"].as_array_mut() {
        for p in parts.iter_mut() {
            p["sessionID"] = json!(id);
            if p["type"] == "text" {
                p["text"] = json!(format!("echo from {model}"));
            }
        }
    }
    let mut s = lock(state);
    let messages = s.messages.entry(id.to_owned()).or_default();
    messages.pop();
    messages.push(reply.clone());
    Resp::json(&reply)
}
