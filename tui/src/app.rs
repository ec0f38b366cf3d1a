//! The model (Elm architecture): everything the screens show, and nothing else.

use orch::Error;
use orch::resolve::{Policy, Resolution};
use orch::wire::{ModelRow, ModelsView, Origin, WorkerRow};

use crate::backend::Probe;

use crate::filter::{self, Haystack, Matcher};

/// Which screen is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// The workers table.
    Workers,
    /// Pick a model for one worker.
    Pick,
    /// Choose the policy and apply.
    Apply,
    /// The worker after the change, and the probe.
    Verify,
}

/// Something loading, loaded, or failed.
#[derive(Debug, Clone)]
pub enum Load<T> {
    /// Asked for, not here yet.
    Loading,
    /// Here.
    Ready(T),
    /// Failed.
    Failed(Error),
}

impl<T> Load<T> {
    /// The value, when loaded.
    pub fn ready(&self) -> Option<&T> {
        match self {
            Self::Ready(t) => Some(t),
            _ => None,
        }
    }
}

/// A one-line message under the screen.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    /// Information.
    Info(String),
    /// An error, with its suggestions.
    Error(Error),
}

/// Every model of the catalog (`scope: all`), with its search text computed once.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// The rows, as the backend sent them.
    pub rows: Vec<ModelRow>,
    /// Their search text, same order.
    pub hays: Vec<Haystack>,
    /// How many rows are usable (by a worker: their provider is usable and they do text
    /// work), what the usable scope lists.
    pub usable: usize,
    /// `local` or `live`.
    pub source: Origin,
    /// The catalog's name.
    pub catalog: String,
}

impl Catalog {
    /// From the models view.
    pub fn new(view: ModelsView) -> Self {
        let hays = view
            .models
            .iter()
            .map(|m| Haystack::new(&m.model, &[&m.name]))
            .collect();
        Self {
            usable: view
                .models
                .iter()
                .filter(|m| m.usable && m.not_text.is_none())
                .count(),
            rows: view.models,
            hays,
            source: view.source,
            catalog: view.catalog,
        }
    }
}

/// A tag in the pick list, with what it resolves to now for the worker.
#[derive(Debug, Clone)]
pub struct TagItem {
    /// The tag.
    pub tag: String,
    /// Defined in `orchestrator.json`.
    pub user: bool,
    /// Its resolution for the worker, or why it fails.
    pub result: Result<Resolution, Error>,
    /// Search text: the tag, then the model it resolves to.
    pub hay: Haystack,
}

impl TagItem {
    /// A tag and its resolution.
    pub fn new(tag: String, user: bool, result: Result<Resolution, Error>) -> Self {
        let hay = match &result {
            Ok(r) => Haystack::new(&tag, &[&r.resolved_model, &r.metadata.name]),
            Err(_) => Haystack::new(&tag, &[]),
        };
        Self {
            tag,
            user,
            result,
            hay,
        }
    }
}

/// One row of the pick list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// A tag (index into [`Pick::tags`]).
    Tag(usize),
    /// A model (index into [`Catalog::rows`]).
    Model(usize),
}

/// The pick screen's state.
#[derive(Debug, Clone)]
pub struct Pick {
    /// The worker being changed.
    pub worker: WorkerRow,
    /// The tags and their previews; `None` while they load.
    pub tags: Option<Vec<TagItem>>,
    /// The search text.
    pub query: String,
    /// Whether keys go into the search field.
    pub editing: bool,
    /// Every model, not only usable ones.
    pub all: bool,
    /// Only models with image input.
    pub vision_only: bool,
    /// The rows shown: a model whose id is exactly the search first, then tags, then
    /// models, each group best match first.
    pub items: Vec<Item>,
    /// How many of `items` are tags.
    pub tag_count: usize,
    /// The selected row (index into `items`).
    pub selected: usize,
    scratch: Vec<usize>,
}

impl Pick {
    /// For `worker`, tags loading.
    pub fn new(worker: WorkerRow) -> Self {
        Self {
            vision_only: false,
            worker,
            tags: None,
            query: String::new(),
            editing: false,
            all: false,
            items: Vec::new(),
            tag_count: 0,
            selected: 0,
            scratch: Vec::new(),
        }
    }

    /// Recomputes the rows from the query and filters; the selection goes to the top.
    pub fn refilter(&mut self, catalog: Option<&Catalog>) {
        let m = Matcher::new(&self.query);
        self.items.clear();
        if let Some(tags) = &self.tags {
            let hays: Vec<Haystack> = tags.iter().map(|t| t.hay.clone()).collect();
            let vision_only = self.vision_only;
            filter::filter(
                &hays,
                &m,
                |i| !vision_only || tags[i].result.as_ref().is_ok_and(has_image),
                &mut self.scratch,
            );
            self.items
                .extend(self.scratch.iter().map(|&i| Item::Tag(i)));
        }
        self.tag_count = self.items.len();
        if let Some(c) = catalog {
            let (all, vision_only) = (self.all, self.vision_only);
            filter::filter(
                &c.hays,
                &m,
                // The usable scope offers only what a worker can use: no model that does
                // not do text work (embedding, speech, image generation, guard); the
                // `all` scope shows them, marked unfit.
                |i| {
                    let r = &c.rows[i];
                    (all || (r.usable && r.not_text.is_none())) && (!vision_only || r.image)
                },
                &mut self.scratch,
            );
            // In the `all` scope a model a worker can use ranks above one it cannot,
            // each group keeping the matcher's order (as `orch models` does).
            if all {
                self.scratch
                    .sort_by_key(|&i| !(c.rows[i].usable && c.rows[i].not_text.is_none()));
            }
            // An exact model id typed comes first, above the tags (which merely resolve
            // to a model): Enter then applies the model that was typed.
            let typed = self.query.trim();
            if let Some(pos) = self
                .scratch
                .iter()
                .position(|&i| c.rows[i].model.eq_ignore_ascii_case(typed))
                .filter(|_| !typed.is_empty())
            {
                let exact = self.scratch.remove(pos);
                self.items.insert(0, Item::Model(exact));
            }
            self.items
                .extend(self.scratch.iter().map(|&i| Item::Model(i)));
        }
        self.selected = 0;
        if self.query.trim().is_empty() {
            self.select_current(catalog);
        }
    }

    /// Puts the cursor on the worker's current model: its tag row, else its model row.
    pub fn select_current(&mut self, catalog: Option<&Catalog>) {
        let now = self.worker.model_ref.clone();
        if let Some(pos) = self
            .items
            .iter()
            .position(|&item| self.reference(item, catalog).as_deref() == Some(now.as_str()))
        {
            self.selected = pos;
        }
    }

    /// The selected row.
    pub fn current(&self) -> Option<Item> {
        self.items.get(self.selected).copied()
    }

    /// The reference a row stands for.
    pub fn reference(&self, item: Item, catalog: Option<&Catalog>) -> Option<String> {
        match item {
            Item::Tag(i) => self.tags.as_ref()?.get(i).map(|t| t.tag.clone()),
            Item::Model(i) => catalog?.rows.get(i).map(|r| r.model.clone()),
        }
    }

    /// Why a row cannot be given to this worker, when it cannot.
    pub fn blocked(&self, item: Item, catalog: Option<&Catalog>) -> Option<String> {
        match item {
            Item::Tag(i) => match &self.tags.as_ref()?.get(i)?.result {
                Ok(_) => None,
                Err(e) => Some(e.message.clone()),
            },
            Item::Model(i) => orch::views::unfit(&self.worker, catalog?.rows.get(i)?),
        }
    }
}

/// Whether a resolution's model accepts images.
pub fn has_image(r: &Resolution) -> bool {
    r.metadata.capabilities.input.image
}

/// The apply screen's state.
#[derive(Debug, Clone)]
pub struct Apply {
    /// The worker as it was when picked.
    pub worker: WorkerRow,
    /// The reference to apply.
    pub reference: String,
    /// `dynamic` or `sticky`.
    pub policy: Policy,
    /// Restart the worker's OpenCode now.
    pub respawn: bool,
    /// What the reference resolves to for the worker; `None` while it loads.
    pub preview: Option<Result<Resolution, Error>>,
    /// Why the last apply failed.
    pub error: Option<Error>,
    /// The selected suggestion.
    pub suggestion: usize,
    /// Whether the change is running.
    pub running: bool,
}

impl Apply {
    /// The suggestions on offer: the apply error's, else the failed preview's.
    pub fn suggestions(&self) -> &[String] {
        match (&self.error, &self.preview) {
            (Some(e), _) if !e.suggestions.is_empty() => &e.suggestions,
            (_, Some(Err(e))) => &e.suggestions,
            _ => &[],
        }
    }

    /// Whether Enter applies (the preview resolved and nothing runs).
    pub fn can_apply(&self) -> bool {
        !self.running && matches!(self.preview, Some(Ok(_)))
    }
}

/// The verify screen's state.
#[derive(Debug, Clone)]
pub struct Verify {
    /// The worker before the change.
    pub before: WorkerRow,
    /// The worker now (refreshed).
    pub after: WorkerRow,
    /// The probe's outcome.
    pub probe: Option<Result<Probe, Error>>,
    /// Whether the probe runs.
    pub probing: bool,
    /// Ticks ([`crate::event::TICK`]) since the probe started: its elapsed time.
    pub probe_ticks: u32,
}

impl Verify {
    /// The worker before and after (the same row when only probing).
    pub fn new(before: WorkerRow, after: WorkerRow) -> Self {
        Self {
            before,
            after,
            probe: None,
            probing: false,
            probe_ticks: 0,
        }
    }

    /// Seconds since the probe started.
    pub fn probe_secs(&self) -> u32 {
        self.probe_ticks / crate::event::TICKS_PER_SECOND
    }
}

/// The whole state of the TUI.
#[derive(Debug, Clone)]
pub struct Model {
    /// The screen shown.
    pub screen: Screen,
    /// The workers.
    pub workers: Load<Vec<WorkerRow>>,
    /// The selected worker (index into the workers).
    pub selected: usize,
    /// Every model.
    pub catalog: Load<Catalog>,
    /// The pick screen, once a worker was chosen.
    pub pick: Option<Pick>,
    /// The apply screen, once a model was chosen.
    pub apply: Option<Apply>,
    /// The verify screen, once a change was applied (or a probe asked for).
    pub verify: Option<Verify>,
    /// The help overlay is shown.
    pub help: bool,
    /// What runs, for the spinner.
    pub busy: Option<String>,
    /// The spinner's frame.
    pub spinner: usize,
    /// The message line.
    pub notice: Option<Notice>,
    /// Rows per page (from the terminal height).
    pub page: usize,
    /// The loop should stop.
    pub quit: bool,
    /// Why the TUI stopped on its own, when it did.
    pub fatal: Option<String>,
    /// The project the backend serves (its directory), shown in the header.
    pub project: String,
    /// What the backend worked around (a damaged `state.json`, ...), shown on the status
    /// line while nothing else is.
    pub warnings: Vec<String>,
    /// The worker whose reset waits for a yes (`y`/Enter) or a no (any other key).
    pub confirm_reset: Option<String>,
    /// Why the backend cannot be reached, while the TUI retries (the last rows stay shown).
    pub lost: Option<Error>,
    /// Ticks since the workers were last asked for (the idle poll).
    pub idle_ticks: u32,
    /// A workers call runs.
    pub loading_workers: bool,
    /// What the project's tasks cost today, in the last 7 days and all time, when the
    /// backend says (issue 12).
    pub project_usage: Option<orch::usage::Windows>,
}

impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}

impl Model {
    /// The state at start: everything loading.
    pub fn new() -> Self {
        Self {
            screen: Screen::Workers,
            workers: Load::Loading,
            selected: 0,
            catalog: Load::Loading,
            pick: None,
            apply: None,
            verify: None,
            help: false,
            busy: None,
            spinner: 0,
            notice: None,
            page: 10,
            quit: false,
            fatal: None,
            project: String::new(),
            warnings: Vec::new(),
            confirm_reset: None,
            lost: None,
            idle_ticks: 0,
            loading_workers: true,
            project_usage: None,
        }
    }

    /// The catalog, when loaded.
    pub fn catalog(&self) -> Option<&Catalog> {
        self.catalog.ready()
    }

    /// The row of worker `id`, when the list is loaded.
    pub fn worker(&self, id: &str) -> Option<&WorkerRow> {
        self.workers.ready()?.iter().find(|w| w.id == id)
    }

    /// The selected worker.
    pub fn selected_worker(&self) -> Option<&WorkerRow> {
        self.workers.ready()?.get(self.selected)
    }

    /// Whether the search field has the keys.
    pub fn editing(&self) -> bool {
        self.screen == Screen::Pick && self.pick.as_ref().is_some_and(|p| p.editing)
    }
}
