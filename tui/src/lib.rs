//! The orch terminal UI: list workers → pick a model → apply → verify.
//!
//! The Elm architecture: [`app::Model`] is the state, [`action::Msg`] what happens,
//! [`update::update`] the only code that changes the state (returning an
//! [`action::Cmd`] when it needs the backend), [`view::view`] a pure drawing of the state,
//! [`keys::map`] the key bindings and [`event`] the input task. [`runtime::App`] is the loop,
//! generic over ratatui's backend. The TUI talks to orch through any
//! [`orch::api::Orchestrator`]: the socket client in `orch tui`, the in-process
//! [`orch::api::InProcess`] over a worker service in tests.
#![forbid(unsafe_code)]

pub mod action;
pub mod app;
pub mod backend;
pub mod event;
pub mod filter;
pub mod fit;
pub mod keys;
pub mod redial;
pub mod runtime;
pub mod update;
pub mod view;

use std::path::Path;
use std::sync::Arc;

use orch::api::Orchestrator;

pub use backend::Probe;
pub use runtime::App;

/// Runs the TUI in this terminal until the user quits. The terminal is restored on exit,
/// on error, and (by the panic hook `ratatui::try_init` installs) on panic; the backend is
/// closed after the terminal is back.
pub async fn run_terminal<O: Orchestrator + 'static>(backend: Arc<O>) -> std::io::Result<()> {
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            ratatui::restore();
            return Err(e);
        }
    };
    let mut app = App::new(Arc::clone(&backend));
    let input = event::spawn_input(app.sender());
    app.start();
    let result = app.run(&mut terminal).await;
    input.abort();
    ratatui::restore();
    backend.close().await;
    result?;
    match app.model.fatal {
        Some(why) => Err(std::io::Error::other(why)),
        None => Ok(()),
    }
}

/// The log file, shared by every event's writer.
#[derive(Clone)]
struct SharedFile(std::sync::Arc<std::sync::Mutex<std::fs::File>>);

impl std::io::Write for SharedFile {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut f) => f.write(bytes),
            Err(p) => p.into_inner().write(bytes),
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self.0.lock() {
            Ok(mut f) => f.write_all(bytes),
            Err(p) => p.into_inner().write_all(bytes),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.lock() {
            Ok(mut f) => f.flush(),
            Err(p) => p.into_inner().flush(),
        }
    }
}

/// Sends `tracing` output to `file` (appending; the directory is created), never to the
/// terminal the TUI draws on, through `redactor` (what the backend sends is redacted
/// already; this covers the TUI's own lines). `ORCH_LOG` sets the filter (default `info`).
pub fn log_to_file(
    file: &Path,
    filter: Option<&str>,
    redactor: orch::redact::Redactor,
) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let out = SharedFile(std::sync::Arc::new(std::sync::Mutex::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)?,
    )));
    let filter = tracing_subscriber::EnvFilter::try_new(filter.unwrap_or("info"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(move || orch::redact::RedactingWriter::new(redactor.clone(), out.clone()))
        .try_init()
        .map_err(|e| std::io::Error::other(e.to_string()))
}
