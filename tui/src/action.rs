//! Messages into [`crate::update::update`] and the commands (side effects) it asks for.

use crossterm::event::KeyEvent;
use orch::Error;
use orch::resolve::Policy;
use orch::wire::{
    ModelsView, ProfilesView, ResolveView, SetModelRequest, TagPreviewsView, WorkerRow, WorkersView,
};

use crate::backend::Probe;

/// Everything that can happen: input (already mapped by [`crate::keys`]), time, and
/// backend results.
#[derive(Debug, Clone)]
pub enum Msg {
    /// A raw key press; `update` maps it with [`crate::keys::map`] for the current screen.
    Key(KeyEvent),
    /// The terminal was resized (the next frame uses the new size).
    Resize(u16, u16),
    /// Animation time (the spinner).
    Tick,

    /// Selection up.
    Up,
    /// Selection down.
    Down,
    /// A page up.
    PageUp,
    /// A page down.
    PageDown,
    /// First row.
    Top,
    /// Last row.
    Bottom,
    /// Choose / confirm.
    Enter,
    /// Back one screen (or leave the search field, or close the help).
    Back,
    /// Leave the TUI.
    Quit,
    /// Show or hide the help overlay.
    Help,
    /// Start typing a search.
    SearchStart,
    /// A character of the search.
    SearchChar(char),
    /// Delete the last character of the search.
    SearchBackspace,
    /// Stop typing, keep the search.
    SearchDone,
    /// Usable models only, or every model.
    ToggleScope,
    /// Models with image input only.
    ToggleVision,
    /// Dynamic ↔ sticky.
    TogglePolicy,
    /// A policy.
    SetPolicy(Policy),
    /// Respawn the worker when applying, or not.
    ToggleRespawn,
    /// Run the probe task on the worker.
    Probe,
    /// Restore the worker's configured model (asks to confirm first).
    Reset,
    /// The answer to "reset?": yes or no.
    ConfirmReset(bool),
    /// Stop the running probe.
    CancelProbe,
    /// A key that means nothing here (its name), for feedback.
    Unknown(String),
    /// Reload workers, profiles and models.
    Refresh,

    /// The workers view arrived.
    Workers(Result<WorkersView, Error>),
    /// The profiles view arrived.
    Profiles(Result<ProfilesView, Error>),
    /// The models view arrived.
    Models(Result<ModelsView, Error>),
    /// What each tag resolves to now, for a worker.
    Tags {
        /// The worker.
        worker: String,
        /// Each tag and its resolution (or why it fails), in one view.
        result: Result<TagPreviewsView, Error>,
    },
    /// The apply preview of a reference.
    Preview {
        /// The reference.
        reference: String,
        /// Its resolution for the worker.
        result: Result<ResolveView, Error>,
    },
    /// The model change finished.
    Applied(Result<WorkerRow, Error>),
    /// The reset finished.
    ResetDone(Result<WorkerRow, Error>),
    /// The probe finished.
    Probed {
        /// The worker.
        worker: String,
        /// What answered.
        result: Result<Probe, Error>,
    },
    /// A backend task panicked (the terminal has been restored by the panic hook).
    TaskFailed(String),
}

/// A side effect `update` asks the loop to run on a tokio task; each one ends with exactly
/// one [`Msg`].
#[derive(Debug, Clone, PartialEq)]
pub enum Cmd {
    /// Load the workers view.
    Workers,
    /// Load the profiles view.
    Profiles,
    /// Load every model (`scope: all`).
    Models,
    /// Resolve every tag for a worker (one call).
    Tags {
        /// The worker.
        worker: String,
    },
    /// Resolve a reference for a worker under a policy.
    Preview {
        /// The worker.
        worker: String,
        /// The reference.
        reference: String,
        /// The policy.
        policy: Policy,
    },
    /// Change a worker's model.
    Apply(SetModelRequest),
    /// Restore a worker's configured model.
    Reset(String),
    /// Run the probe task on a worker.
    Probe(String),
    /// Stop the running probe: its tokio task, and its task in the backend. Ends with no
    /// message of its own (the probe's `Probed` says it was cancelled).
    CancelProbe,
    /// Several at once.
    Batch(Vec<Cmd>),
}
