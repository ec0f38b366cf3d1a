//! Sending a client's [`Context`] to the backend: in the `initialize` request of the
//! socket client, and injected into the `initialize` that OpenCode sends through the
//! `orch mcp` bridge (see [`crate::context`]).

use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use serde_json::Value;

use crate::context::{CAPABILITY, Context};
use crate::paths::{Environment, Paths};

/// The `initialize` parameters of an orch client in this context.
pub fn client_config(context: &Context) -> ClientConfig {
    let mut experimental = std::collections::BTreeMap::new();
    experimental.insert(CAPABILITY.to_owned(), context.to_object());
    let mut capabilities = ClientCapabilities::default();
    capabilities.experimental = Some(experimental);
    ClientConfig::new(
        capabilities,
        Implementation::new("orch", env!("CARGO_PKG_VERSION")),
    )
}

/// Adds this process's context to `message` when it is an `initialize` request (a
/// JSON-RPC object with `"method": "initialize"`); returns whether it did. A context the
/// client already sent is replaced: the bridge's process is the one whose project and
/// environment the backend must judge.
pub fn inject_into_initialize(message: &mut Value, paths: &Paths, env: &Environment) -> bool {
    if message.get("method").and_then(Value::as_str) != Some("initialize") {
        return false;
    }
    let Some(params) = message.as_object_mut().map(|m| {
        m.entry("params")
            .or_insert_with(|| Value::Object(serde_json::Map::new()))
    }) else {
        return false;
    };
    let Some(params) = params.as_object_mut() else {
        return false;
    };
    let caps = params
        .entry("capabilities")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    let Some(caps) = caps.as_object_mut() else {
        return false;
    };
    let experimental = caps
        .entry("experimental")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    let Some(experimental) = experimental.as_object_mut() else {
        return false;
    };
    experimental.insert(
        CAPABILITY.to_owned(),
        Value::Object(Context::of(paths, env).to_object()),
    );
    true
}

/// [`inject_into_initialize`] on one line of newline-delimited JSON-RPC: the line with the
/// context when it is an `initialize` request, else `None` (forward it unchanged).
pub fn inject_into_line(line: &[u8], paths: &Paths, env: &Environment) -> Option<Vec<u8>> {
    let mut message: Value = serde_json::from_slice(line).ok()?;
    if !inject_into_initialize(&mut message, paths, env) {
        return None;
    }
    let mut bytes = message.to_string().into_bytes();
    bytes.push(b'\n');
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_initialize_gets_the_context_and_other_capabilities_stay() {
        let env = Environment::from_pairs([("HOME", "/h"), ("GROQ_API_KEY", "gsk-test-ctx")]);
        let paths = Paths::resolve(&env, "/p/a");
        let mut init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {"roots": {}, "experimental": {"other": {"x": 1}}},
            "clientInfo": {"name": "opencode", "version": "1"}}});
        assert!(inject_into_initialize(&mut init, &paths, &env));
        let sent = &init["params"]["capabilities"]["experimental"];
        assert_eq!(sent["other"]["x"], 1);
        assert_eq!(init["params"]["capabilities"]["roots"], json!({}));
        let ctx: Context = serde_json::from_value(sent[CAPABILITY].clone()).expect("a context");
        assert_eq!(ctx, Context::of(&paths, &env));
        assert!(!init.to_string().contains("gsk-test-ctx"));
        let mut call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {}});
        assert!(!inject_into_initialize(&mut call, &paths, &env));
        assert!(inject_into_line(b"not json\n", &paths, &env).is_none());
        let line = inject_into_line(
            br#"{"jsonrpc":"2.0","id":0,"method":"initialize"}"#,
            &paths,
            &env,
        )
        .expect("an initialize line");
        assert!(line.ends_with(b"\n"));
        assert!(String::from_utf8_lossy(&line).contains(CAPABILITY));
    }
}
