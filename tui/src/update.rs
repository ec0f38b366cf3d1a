//! `update(&mut Model, Msg) -> Option<Cmd>`: the only code that changes the model. It
//! never waits: whatever needs the backend comes back as a [`Cmd`] for the loop to run.

use orch::resolve::Policy;
use orch::workers::{SetModelRequest, WorkerRow};

use crate::action::{Cmd, Msg};
use crate::app::{Apply, Catalog, Item, Load, Model, Notice, Pick, Screen, TagItem, Verify};
use crate::event::{POLL_TICKS, RETRY_TICKS};
use crate::keys;

/// What the TUI asks for when it starts.
pub fn init() -> Cmd {
    Cmd::Batch(vec![Cmd::Workers, Cmd::Profiles, Cmd::Models])
}

/// Applies one message; returns the side effect to run, if any.
pub fn update(model: &mut Model, msg: Msg) -> Option<Cmd> {
    match msg {
        Msg::Key(k) => keys::map(model, k).and_then(|m| update(model, m)),
        Msg::Unknown(key) => {
            model.notice = Some(Notice::Info(format!(
                "{key} does nothing here; ? lists the keys"
            )));
            None
        }
        Msg::Resize(_, h) => {
            model.page = usize::from(h.saturating_sub(12)).max(1);
            None
        }
        Msg::Tick => {
            if model.busy.is_some() {
                model.spinner = model.spinner.wrapping_add(1);
            }
            if let Some(v) = model.verify.as_mut().filter(|v| v.probing) {
                v.probe_ticks = v.probe_ticks.saturating_add(1);
            }
            poll(model)
        }
        Msg::Quit => {
            model.quit = true;
            // A running probe goes with the TUI (its task in the backend too).
            probing(model).then_some(Cmd::CancelProbe)
        }
        Msg::CancelProbe => {
            if !probing(model) {
                return None;
            }
            model.notice = Some(Notice::Info("cancelling the probe".into()));
            Some(Cmd::CancelProbe)
        }
        Msg::ConfirmReset(yes) => {
            let worker = model.confirm_reset.take()?;
            if !yes {
                model.notice = Some(Notice::Info(format!("{worker}: reset cancelled")));
                return None;
            }
            model.notice = None;
            model.busy = Some(format!("resetting {worker}"));
            Some(Cmd::Reset(worker))
        }
        Msg::Help => {
            model.help = !model.help;
            None
        }
        Msg::Up => step(model, -1),
        Msg::Down => step(model, 1),
        Msg::PageUp => step(model, -(model.page as isize)),
        Msg::PageDown => step(model, model.page as isize),
        Msg::Top => step(model, isize::MIN / 2),
        Msg::Bottom => step(model, isize::MAX / 2),
        Msg::Enter => enter(model),
        Msg::Back => back(model),
        Msg::Refresh => {
            model.notice = Some(Notice::Info("reloading".into()));
            model.idle_ticks = 0;
            model.loading_workers = true;
            Some(init())
        }
        Msg::SearchStart | Msg::SearchChar(_) | Msg::SearchBackspace | Msg::SearchDone => {
            search(model, msg)
        }
        Msg::ToggleScope | Msg::ToggleVision => {
            let catalog = model.catalog.ready();
            if let Some(p) = model.pick.as_mut() {
                if matches!(msg, Msg::ToggleScope) {
                    p.all = !p.all;
                } else {
                    p.vision_only = !p.vision_only;
                }
                p.refilter(catalog);
            }
            None
        }
        Msg::SetPolicy(policy) => set_policy(model, |_| policy),
        Msg::TogglePolicy => set_policy(model, |p| match p {
            Policy::Dynamic => Policy::Sticky,
            Policy::Sticky => Policy::Dynamic,
        }),
        Msg::ToggleRespawn => {
            if let Some(a) = model.apply.as_mut().filter(|a| !a.running) {
                a.respawn = !a.respawn;
            }
            None
        }
        Msg::Probe => probe(model),
        Msg::Reset => reset(model),

        Msg::Workers(result) => {
            model.loading_workers = false;
            model.idle_ticks = 0;
            match result {
                Ok(view) => {
                    let was_lost = model.lost.take().is_some();
                    if let Some(v) = model.verify.as_mut()
                        && let Some(row) = view.workers.iter().find(|w| w.id == v.after.id)
                    {
                        v.after = row.clone();
                    }
                    model.selected = model.selected.min(view.workers.len().saturating_sub(1));
                    model.project = view.project;
                    model.warnings = view.warnings;
                    model.project_usage = view.usage.map(|u| u.project);
                    model.workers = Load::Ready(view.workers);
                    if model.notice == Some(Notice::Info("reloading".into())) {
                        model.notice = None;
                    }
                    // Back after a restart: what was loaded from the old backend is
                    // loaded again.
                    if was_lost {
                        model.notice = Some(Notice::Info("reconnected to the orch backend".into()));
                        if !matches!(model.catalog, Load::Ready(_)) {
                            model.catalog = Load::Loading;
                            return Some(Cmd::Models);
                        }
                    }
                }
                // Rows already shown stay (marked stale on the status line) while the TUI
                // retries; with none, the error is the table.
                Err(e) if e.kind == orch::error::ErrorKind::Unavailable => {
                    if model.workers.ready().is_none() {
                        model.workers = Load::Failed(e.clone());
                    }
                    model.lost = Some(e);
                }
                Err(e) => model.workers = Load::Failed(e),
            }
            None
        }
        Msg::Profiles(result) => {
            if let Err(e) = result {
                model.notice = Some(Notice::Error(e));
            }
            None
        }
        Msg::Models(result) => {
            match result {
                Ok(view) => model.catalog = Load::Ready(Catalog::new(view)),
                // A catalog already loaded stays (the backend may be restarting).
                Err(_) if model.catalog.ready().is_some() => {}
                Err(e) => model.catalog = Load::Failed(e),
            }
            let catalog = model.catalog.ready();
            if let Some(p) = model.pick.as_mut() {
                p.refilter(catalog);
            }
            None
        }
        Msg::Tags { worker, result } => {
            let catalog = model.catalog.ready();
            if let Some(p) = model.pick.as_mut().filter(|p| p.worker.id == worker) {
                let tags = match result {
                    Ok(view) => view
                        .tags
                        .into_iter()
                        .map(|t| TagItem::new(t.tag.clone(), t.user, t.result()))
                        .collect(),
                    Err(e) => {
                        model.notice = Some(Notice::Error(e));
                        Vec::new()
                    }
                };
                p.tags = Some(tags);
                p.refilter(catalog);
            }
            None
        }
        Msg::Preview { reference, result } => {
            if let Some(a) = model.apply.as_mut().filter(|a| a.reference == reference) {
                a.preview = Some(result.map(|v| v.resolution));
                a.suggestion = 0;
            }
            None
        }
        Msg::Applied(result) => applied(model, result),
        Msg::ResetDone(result) => {
            model.busy = None;
            match result {
                Ok(row) => {
                    let replaced = model.worker(&row.id).cloned();
                    model.notice = Some(Notice::Info(format!(
                        "{} reset to {}: {}",
                        row.id,
                        row.model_ref,
                        row.resolved_model.as_deref().unwrap_or("unresolved")
                    )));
                    replace_row(model, &row);
                    if let Some(v) = model.verify.as_mut().filter(|v| v.after.id == row.id) {
                        // "before" is the state the reset just replaced.
                        v.before = replaced.unwrap_or_else(|| v.after.clone());
                        v.after = row;
                        v.probe = None;
                    }
                    Some(Cmd::Workers)
                }
                Err(e) => {
                    model.notice = Some(Notice::Error(e));
                    None
                }
            }
        }
        Msg::Probed { worker, result } => {
            model.busy = None;
            if model.notice == Some(Notice::Info("cancelling the probe".into())) {
                model.notice = None;
            }
            if let Some(v) = model.verify.as_mut().filter(|v| v.after.id == worker) {
                v.probing = false;
                // A cancelled probe says how long it ran.
                let cancelled = crate::backend::cancelled();
                let result = result.map_err(|mut e| {
                    if e.message == cancelled.message {
                        e.message = format!("{} after {}s", e.message, v.probe_secs());
                    }
                    e
                });
                v.probe = Some(result);
            } else if let Err(e) = result {
                model.notice = Some(Notice::Error(e));
            }
            Some(Cmd::Workers)
        }
        Msg::TaskFailed(why) => {
            model.fatal = Some(why);
            model.quit = true;
            None
        }
    }
}

/// Whether a probe runs.
fn probing(model: &Model) -> bool {
    model.verify.as_ref().is_some_and(|v| v.probing)
}

/// On a tick: the workers again after [`POLL_TICKS`] idle ticks (after [`RETRY_TICKS`]
/// while the backend is lost), unless a workers call already runs or a change does.
fn poll(model: &mut Model) -> Option<Cmd> {
    if model.loading_workers || model.busy.is_some() {
        return None;
    }
    model.idle_ticks = model.idle_ticks.saturating_add(1);
    let every = if model.lost.is_some() {
        RETRY_TICKS
    } else {
        POLL_TICKS
    };
    if model.idle_ticks < every {
        return None;
    }
    model.idle_ticks = 0;
    model.loading_workers = true;
    Some(Cmd::Workers)
}

fn clamp_step(len: usize, at: usize, by: isize) -> usize {
    if len == 0 {
        return 0;
    }
    at.saturating_add_signed(by).min(len - 1)
}

fn step(model: &mut Model, by: isize) -> Option<Cmd> {
    match model.screen {
        Screen::Workers => {
            let len = model.workers.ready().map_or(0, Vec::len);
            model.selected = clamp_step(len, model.selected, by);
        }
        Screen::Pick => {
            if let Some(p) = model.pick.as_mut() {
                p.selected = clamp_step(p.items.len(), p.selected, by);
            }
        }
        Screen::Apply => {
            if let Some(a) = model.apply.as_mut() {
                a.suggestion = clamp_step(a.suggestions().len(), a.suggestion, by);
            }
        }
        Screen::Verify => {}
    }
    None
}

fn enter(model: &mut Model) -> Option<Cmd> {
    match model.screen {
        Screen::Workers => {
            let worker = model.selected_worker()?.clone();
            let mut pick = Pick::new(worker.clone());
            pick.refilter(model.catalog.ready());
            model.pick = Some(pick);
            model.screen = Screen::Pick;
            model.notice = None;
            let mut cmds = vec![Cmd::Tags { worker: worker.id }];
            if matches!(model.catalog, Load::Failed(_)) {
                model.catalog = Load::Loading;
                cmds.push(Cmd::Models);
            }
            Some(Cmd::Batch(cmds))
        }
        Screen::Pick => {
            let catalog = model.catalog.ready();
            let p = model.pick.as_ref()?;
            let Some(item) = p.current() else {
                // Nothing under the cursor: say why rather than do nothing.
                if matches!(model.catalog, Load::Loading) || p.tags.is_none() {
                    model.notice = Some(Notice::Info(
                        "the models are still loading; press Enter again in a moment".into(),
                    ));
                }
                return None;
            };
            let reference = p.reference(item, catalog)?;
            if let (Item::Tag(_), Some(why)) = (item, p.blocked(item, catalog)) {
                model.notice = Some(Notice::Info(format!("{reference} cannot be used: {why}")));
                return None;
            }
            let worker = p.worker.clone();
            Some(open_apply(model, worker, reference))
        }
        Screen::Apply => {
            let a = model.apply.as_mut()?;
            if a.running {
                return None;
            }
            if let Some(s) = a.suggestions().get(a.suggestion).cloned() {
                let worker = a.worker.clone();
                return Some(open_apply(model, worker, s));
            }
            if !a.can_apply() {
                let why = if a.preview.is_none() {
                    "still checking what this reference resolves to; press Enter again in a moment"
                } else {
                    "this reference does not resolve for the worker; go back (Esc) and pick another"
                };
                model.notice = Some(Notice::Info(why.into()));
                return None;
            }
            a.running = true;
            a.error = None;
            model.busy = Some(format!(
                "applying {} to {} ({}{})",
                a.reference,
                a.worker.id,
                a.policy,
                if a.respawn { ", respawn" } else { "" }
            ));
            model.notice = None;
            Some(Cmd::Apply(SetModelRequest {
                worker: a.worker.id.clone(),
                model: a.reference.clone(),
                policy: a.policy,
                respawn: a.respawn,
                // The TUI offers no force: an unfit model is refused and the
                // suggestions (models that fit) are offered instead.
                force: false,
            }))
        }
        Screen::Verify => {
            model.screen = Screen::Workers;
            // Leaving the screen stops its probe.
            probing(model).then_some(Cmd::CancelProbe)
        }
    }
}

/// The apply screen for `reference`, keeping the policy and respawn choices when it is
/// already open for the worker.
fn open_apply(model: &mut Model, worker: WorkerRow, reference: String) -> Cmd {
    let (policy, respawn) = match &model.apply {
        Some(a) if a.worker.id == worker.id && model.screen == Screen::Apply => {
            (a.policy, a.respawn)
        }
        _ => (worker.policy, false),
    };
    model.apply = Some(Apply {
        worker: worker.clone(),
        reference: reference.clone(),
        policy,
        respawn,
        preview: None,
        error: None,
        suggestion: 0,
        running: false,
    });
    model.screen = Screen::Apply;
    model.notice = None;
    Cmd::Preview {
        worker: worker.id,
        reference,
        policy,
    }
}

fn back(model: &mut Model) -> Option<Cmd> {
    if model.help {
        model.help = false;
        return None;
    }
    model.notice = None;
    if model.screen == Screen::Verify && probing(model) {
        model.screen = Screen::Workers;
        return Some(Cmd::CancelProbe);
    }
    model.screen = match model.screen {
        Screen::Workers | Screen::Verify => Screen::Workers,
        Screen::Pick => Screen::Workers,
        Screen::Apply if model.apply.as_ref().is_some_and(|a| a.running) => Screen::Apply,
        Screen::Apply if model.pick.is_some() => Screen::Pick,
        Screen::Apply => Screen::Workers,
    };
    None
}

fn search(model: &mut Model, msg: Msg) -> Option<Cmd> {
    let catalog = model.catalog.ready();
    let p = model
        .pick
        .as_mut()
        .filter(|_| model.screen == Screen::Pick)?;
    match msg {
        Msg::SearchStart => p.editing = true,
        Msg::SearchDone => p.editing = false,
        Msg::SearchChar(c) => {
            p.query.push(c);
            p.refilter(catalog);
        }
        Msg::SearchBackspace => {
            p.query.pop();
            p.refilter(catalog);
        }
        _ => {}
    }
    None
}

fn set_policy(model: &mut Model, f: impl Fn(Policy) -> Policy) -> Option<Cmd> {
    let a = model.apply.as_mut().filter(|a| !a.running)?;
    let next = f(a.policy);
    if next == a.policy {
        return None;
    }
    a.policy = next;
    a.error = None;
    a.preview = None;
    Some(Cmd::Preview {
        worker: a.worker.id.clone(),
        reference: a.reference.clone(),
        policy: next,
    })
}

fn applied(model: &mut Model, result: Result<WorkerRow, orch::Error>) -> Option<Cmd> {
    model.busy = None;
    let a = model.apply.as_mut()?;
    a.running = false;
    match result {
        Ok(row) => {
            model.verify = Some(Verify::new(a.worker.clone(), row.clone()));
            replace_row(model, &row);
            model.screen = Screen::Verify;
            model.notice = Some(Notice::Info(format!(
                "{} now uses {} ({})",
                row.id,
                row.resolved_model.as_deref().unwrap_or(&row.model_ref),
                row.policy
            )));
            Some(Cmd::Workers)
        }
        Err(e) => {
            // The apply screen shows the error and its suggestions.
            a.error = Some(e);
            a.suggestion = 0;
            model.notice = None;
            // Show the workers as they are now, whatever the failure left.
            Some(Cmd::Workers)
        }
    }
}

fn replace_row(model: &mut Model, row: &WorkerRow) {
    if let Load::Ready(rows) = &mut model.workers
        && let Some(i) = rows.iter().position(|w| w.id == row.id)
    {
        rows[i] = row.clone();
        model.selected = i;
    }
}

fn probe(model: &mut Model) -> Option<Cmd> {
    if model.busy.is_some() {
        return None;
    }
    let worker = match model.screen {
        Screen::Verify => model.verify.as_ref()?.after.clone(),
        _ => model.selected_worker()?.clone(),
    };
    if model.screen != Screen::Verify
        || model
            .verify
            .as_ref()
            .is_none_or(|v| v.after.id != worker.id)
    {
        model.verify = Some(Verify::new(worker.clone(), worker.clone()));
    }
    model.screen = Screen::Verify;
    if let Some(v) = model.verify.as_mut() {
        v.probing = true;
        v.probe = None;
        v.probe_ticks = 0;
    }
    model.busy = Some(format!("probing {} (Esc or c cancels)", worker.id));
    model.notice = None;
    Some(Cmd::Probe(worker.id))
}

fn reset(model: &mut Model) -> Option<Cmd> {
    if model.busy.is_some() {
        return None;
    }
    let worker = match model.screen {
        Screen::Verify => model.verify.as_ref()?.after.clone(),
        _ => model.selected_worker()?.clone(),
    };
    // The current row decides: a model set by the user is undone, nothing else.
    let worker = model.worker(&worker.id).cloned().unwrap_or(worker);
    if !worker.overridden {
        model.notice = Some(Notice::Info(format!(
            "{}: nothing to reset, it already uses its configured model {}",
            worker.id, worker.model_ref
        )));
        return None;
    }
    model.notice = None;
    model.confirm_reset = Some(worker.id);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_clamp() {
        assert_eq!(clamp_step(0, 0, 1), 0);
        assert_eq!(clamp_step(3, 0, -1), 0);
        assert_eq!(clamp_step(3, 2, 1), 2);
        assert_eq!(clamp_step(3, 1, isize::MAX / 2), 2);
        assert_eq!(clamp_step(3, 1, isize::MIN / 2), 0);
    }

    #[test]
    fn quit_help_and_back() {
        let mut m = Model::new();
        assert_eq!(update(&mut m, Msg::Help), None);
        assert!(m.help);
        update(&mut m, Msg::Back);
        assert!(!m.help);
        update(&mut m, Msg::Quit);
        assert!(m.quit);
    }

    fn row(id: &str, overridden: bool) -> WorkerRow {
        let profiles = orch::profiles::Profiles::builtin();
        let docs = profiles.get("docs").expect("a built-in docs profile");
        let mut w = orch::views::worker_row(
            docs,
            "node:fast".into(),
            Policy::Dynamic,
            overridden,
            (None, String::new()),
        );
        w.id = id.into();
        w.overridden = overridden;
        w
    }

    fn loaded(rows: Vec<WorkerRow>) -> Model {
        let mut m = Model::new();
        m.workers = Load::Ready(rows);
        m.loading_workers = false;
        m
    }

    #[test]
    fn idle_ticks_poll_the_workers_once_at_a_time() {
        let mut m = loaded(vec![row("docs", false)]);
        for _ in 1..POLL_TICKS {
            assert_eq!(update(&mut m, Msg::Tick), None);
        }
        assert_eq!(update(&mut m, Msg::Tick), Some(Cmd::Workers));
        // While that call runs, no other starts.
        for _ in 0..3 * POLL_TICKS {
            assert_eq!(update(&mut m, Msg::Tick), None);
        }
        // Nor while a change runs.
        m.loading_workers = false;
        m.busy = Some("applying".into());
        for _ in 0..3 * POLL_TICKS {
            assert_eq!(update(&mut m, Msg::Tick), None);
        }
    }

    #[test]
    fn a_lost_backend_keeps_the_rows_and_retries_slower() {
        let mut m = loaded(vec![row("docs", false)]);
        let lost = orch::Error::new(orch::error::ErrorKind::Unavailable, "lost the orch backend");
        update(&mut m, Msg::Workers(Err(lost)));
        assert!(m.lost.is_some());
        assert_eq!(m.workers.ready().map(Vec::len), Some(1));
        for _ in 1..RETRY_TICKS {
            assert_eq!(update(&mut m, Msg::Tick), None);
        }
        assert_eq!(update(&mut m, Msg::Tick), Some(Cmd::Workers));
        // `r` retries at once.
        assert!(update(&mut m, Msg::Refresh).is_some());
    }

    #[test]
    fn reset_with_nothing_set_says_so_and_otherwise_asks() {
        let mut m = loaded(vec![row("docs", false), row("coder", true)]);
        assert_eq!(update(&mut m, Msg::Reset), None);
        assert!(m.confirm_reset.is_none());
        assert!(matches!(&m.notice, Some(Notice::Info(s)) if s.contains("nothing to reset")));
        m.selected = 1;
        assert_eq!(update(&mut m, Msg::Reset), None);
        assert_eq!(m.confirm_reset.as_deref(), Some("coder"));
        assert_eq!(update(&mut m, Msg::ConfirmReset(false)), None);
        assert!(m.confirm_reset.is_none());
        update(&mut m, Msg::Reset);
        assert_eq!(
            update(&mut m, Msg::ConfirmReset(true)),
            Some(Cmd::Reset("coder".into()))
        );
    }

    #[test]
    fn quitting_or_leaving_while_probing_cancels_the_probe() {
        let mut m = loaded(vec![row("docs", false)]);
        assert_eq!(update(&mut m, Msg::Probe), Some(Cmd::Probe("docs".into())));
        assert_eq!(update(&mut m, Msg::Enter), Some(Cmd::CancelProbe));
        assert_eq!(m.screen, Screen::Workers);
        let mut m = loaded(vec![row("docs", false)]);
        update(&mut m, Msg::Probe);
        for _ in 0..35 {
            update(&mut m, Msg::Tick);
        }
        assert_eq!(m.verify.as_ref().map(Verify::probe_secs), Some(3));
        assert_eq!(update(&mut m, Msg::Quit), Some(Cmd::CancelProbe));
        // Without a probe, nothing to cancel.
        let mut m = loaded(vec![row("docs", false)]);
        assert_eq!(update(&mut m, Msg::Quit), None);
        assert_eq!(update(&mut m, Msg::CancelProbe), None);
    }

    #[test]
    fn an_unknown_key_says_so() {
        let mut m = Model::new();
        update(&mut m, Msg::Unknown("x".into()));
        assert!(matches!(&m.notice, Some(Notice::Info(s)) if s.contains("x does nothing here")));
    }

    #[test]
    fn enter_without_workers_does_nothing() {
        let mut m = Model::new();
        assert_eq!(update(&mut m, Msg::Enter), None);
        assert_eq!(m.screen, Screen::Workers);
    }

    #[test]
    fn ticks_move_the_spinner_only_when_busy() {
        let mut m = Model::new();
        update(&mut m, Msg::Tick);
        assert_eq!(m.spinner, 0);
        m.busy = Some("x".into());
        update(&mut m, Msg::Tick);
        assert_eq!(m.spinner, 1);
    }

    #[test]
    fn a_panicked_task_stops_the_loop_with_the_reason() {
        let mut m = Model::new();
        update(&mut m, Msg::TaskFailed("boom".into()));
        assert!(m.quit);
        assert_eq!(m.fatal.as_deref(), Some("boom"));
    }
}
