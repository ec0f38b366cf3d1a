//! The input task: terminal events and spinner ticks become messages on the update loop's
//! channel, so the loop never waits on the terminal either.

use std::time::Duration;

use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use tokio::signal::unix::{Signal, SignalKind};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use crate::action::Msg;

/// How often the spinner moves.
pub const TICK: Duration = Duration::from_millis(100);
/// Ticks in a second.
pub const TICKS_PER_SECOND: u32 = 10;
/// Ticks between two polls of the workers while idle (1.5 s): a change made from another
/// client (the CLI, an MCP client) shows without `r`.
pub const POLL_TICKS: u32 = 15;
/// Ticks between two polls of the workers while a probe waits for its worker's OpenCode to
/// start (0.3 s): the probe says what it waits for.
pub const START_POLL_TICKS: u32 = 3;
/// Ticks between two attempts to reach a lost backend (2 s).
pub const RETRY_TICKS: u32 = 20;

/// The message for a terminal event, if it matters.
pub fn to_msg(event: Event) -> Option<Msg> {
    match event {
        Event::Key(k) if k.kind != KeyEventKind::Release => Some(Msg::Key(k)),
        Event::Resize(w, h) => Some(Msg::Resize(w, h)),
        _ => None,
    }
}

/// A stream of one Unix signal, or none when it cannot be installed.
fn signal(kind: SignalKind) -> Option<Signal> {
    match tokio::signal::unix::signal(kind) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("cannot watch a signal: {e}");
            None
        }
    }
}

async fn next(s: &mut Option<Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// Reads terminal events, ticks, and SIGTERM/SIGHUP/SIGINT (each a quit, so the terminal is
/// restored) into `tx` until the receiver is gone or the terminal closes. Abort the handle
/// to stop it.
pub fn spawn_input(tx: UnboundedSender<Msg>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut events = EventStream::new();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut term = signal(SignalKind::terminate());
        let mut hup = signal(SignalKind::hangup());
        let mut int = signal(SignalKind::interrupt());
        loop {
            let msg = tokio::select! {
                () = next(&mut term) => Some(Msg::Quit),
                () = next(&mut hup) => Some(Msg::Quit),
                () = next(&mut int) => Some(Msg::Quit),
                ev = events.next() => match ev {
                    Some(Ok(ev)) => to_msg(ev),
                    Some(Err(e)) => {
                        tracing::warn!("reading the terminal failed: {e}");
                        Some(Msg::Quit)
                    }
                    None => Some(Msg::Quit),
                },
                _ = tick.tick() => Some(Msg::Tick),
            };
            if let Some(msg) = msg {
                let stop = matches!(msg, Msg::Quit);
                if tx.send(msg).is_err() || stop {
                    break;
                }
            }
        }
    })
}
