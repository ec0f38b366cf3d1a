//! Writing to stdout: a closed pipe (`orch models | head`) ends the output quietly.

use std::io::Write;

use orch::wire::Format;
use serde::Serialize;

/// Writes bytes to stdout; a broken pipe is not an error.
pub fn bytes(b: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(b).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Prints a view as JSON or through its renderer.
pub fn view<V: Serialize>(
    view: &V,
    format: Format,
    render: fn(&V, Format) -> String,
) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(view)?;
            s.push('\n');
            bytes(s.as_bytes())
        }
        _ => bytes(render(view, format).as_bytes()),
    }
}

/// Prints one line of text.
pub fn line(text: &str) -> anyhow::Result<()> {
    bytes(format!("{text}\n").as_bytes())
}

/// Says on stderr what the backend worked around, before a table (in JSON the view carries
/// them in its `warnings` field, and stdout stays one document).
pub fn warnings(warnings: &[String], format: Format) {
    if format == Format::Json {
        return;
    }
    for w in warnings {
        eprintln!("orch: warning: {w}");
    }
}
