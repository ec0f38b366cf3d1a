//! Keys → messages, per screen. The one place that knows the key bindings (the help
//! overlay lists the same ones from [`HELP`]).

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use orch::resolve::Policy;

use crate::action::Msg;
use crate::app::{Model, Screen};

/// The key bindings, for the help overlay: (keys, what they do).
pub const HELP: [(&str, &str); 20] = [
    ("j / k / ↑ / ↓", "move"),
    ("PgUp / PgDn", "move a page (also Ctrl-U / Ctrl-D)"),
    ("g / G", "first / last row"),
    ("Enter", "choose; on a suggestion, use it"),
    ("Esc", "back (in search: stop typing)"),
    ("q / Ctrl-C", "quit"),
    ("?", "this help"),
    ("r", "workers: reload"),
    ("p", "workers, verify: probe (which model answers)"),
    ("c / Esc", "verify: cancel the running probe"),
    (
        "R",
        "workers, verify: reset to the configured model (asks y/n)",
    ),
    ("/", "pick: search models and tags"),
    ("a", "pick: usable models / all models"),
    ("v", "pick: vision models only"),
    ("d / s", "apply: dynamic / sticky policy"),
    (
        "  dynamic",
        "rides on each message: the next task uses it, no restart",
    ),
    (
        "  sticky",
        "also the worker's default: its OpenCode restarts with it",
    ),
    ("Tab / ← / →", "apply: switch policy"),
    ("r", "apply: respawn the worker now (on/off)"),
    ("Backspace", "search: delete a character"),
];

/// The message for a key on the current screen, if the key means anything there.
pub fn map(model: &Model, key: KeyEvent) -> Option<Msg> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('c')) {
        return Some(Msg::Quit);
    }
    if model.confirm_reset.is_some() && !model.help {
        return Some(Msg::ConfirmReset(matches!(
            key.code,
            KeyCode::Char('y' | 'Y') | KeyCode::Enter
        )));
    }
    if ctrl && !model.help {
        return match key.code {
            KeyCode::Char('d') => Some(Msg::PageDown),
            KeyCode::Char('u') => Some(Msg::PageUp),
            _ => None,
        };
    }
    if model.help {
        return match key.code {
            KeyCode::Char('?') | KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => {
                Some(Msg::Help)
            }
            _ => None,
        };
    }
    if model.editing() {
        return match key.code {
            KeyCode::Esc | KeyCode::Enter => Some(Msg::SearchDone),
            KeyCode::Backspace => Some(Msg::SearchBackspace),
            KeyCode::Up => Some(Msg::Up),
            KeyCode::Down => Some(Msg::Down),
            KeyCode::PageUp => Some(Msg::PageUp),
            KeyCode::PageDown => Some(Msg::PageDown),
            KeyCode::Char(c) if !ctrl => Some(Msg::SearchChar(c)),
            _ => None,
        };
    }
    let probing =
        model.screen == Screen::Verify && model.verify.as_ref().is_some_and(|v| v.probing);
    if probing && matches!(key.code, KeyCode::Esc | KeyCode::Char('c')) {
        return Some(Msg::CancelProbe);
    }
    let common = match key.code {
        KeyCode::Char('q') => Some(Msg::Quit),
        KeyCode::Char('?') => Some(Msg::Help),
        KeyCode::Esc => Some(Msg::Back),
        KeyCode::Enter => Some(Msg::Enter),
        KeyCode::Char('j') | KeyCode::Down => Some(Msg::Down),
        KeyCode::Char('k') | KeyCode::Up => Some(Msg::Up),
        KeyCode::PageDown => Some(Msg::PageDown),
        KeyCode::PageUp => Some(Msg::PageUp),
        KeyCode::Char('g') | KeyCode::Home => Some(Msg::Top),
        KeyCode::Char('G') | KeyCode::End => Some(Msg::Bottom),
        _ => None,
    };
    if common.is_some() {
        return common;
    }
    match (model.screen, key.code) {
        (Screen::Workers, KeyCode::Char('r')) => Some(Msg::Refresh),
        (Screen::Workers | Screen::Verify, KeyCode::Char('p')) => Some(Msg::Probe),
        (Screen::Workers | Screen::Verify, KeyCode::Char('R')) => Some(Msg::Reset),
        (Screen::Pick, KeyCode::Char('/')) => Some(Msg::SearchStart),
        (Screen::Pick, KeyCode::Char('a')) => Some(Msg::ToggleScope),
        (Screen::Pick, KeyCode::Char('v')) => Some(Msg::ToggleVision),
        (Screen::Apply, KeyCode::Char('d')) => Some(Msg::SetPolicy(Policy::Dynamic)),
        (Screen::Apply, KeyCode::Char('s')) => Some(Msg::SetPolicy(Policy::Sticky)),
        (
            Screen::Apply,
            KeyCode::Tab | KeyCode::BackTab | KeyCode::Left | KeyCode::Right | KeyCode::Char(' '),
        ) => Some(Msg::TogglePolicy),
        (Screen::Apply, KeyCode::Char('r')) => Some(Msg::ToggleRespawn),
        (_, KeyCode::Modifier(_) | KeyCode::Null) => None,
        (_, code) => Some(Msg::Unknown(code.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::Pick;
    use orch::resolve::Policy;
    use orch::wire::WorkerRow;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ch(c: char) -> KeyEvent {
        key(KeyCode::Char(c))
    }

    fn ctrl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    fn worker() -> WorkerRow {
        let profiles = orch::profiles::Profiles::builtin();
        let docs = profiles.get("docs").expect("a built-in docs profile");
        orch::views::worker_row(
            docs,
            "node:docs".into(),
            Policy::Dynamic,
            false,
            (None, String::new()),
        )
    }

    fn on(screen: Screen) -> Model {
        let mut m = Model::new();
        m.screen = screen;
        m.pick = Some(Pick::new(worker()));
        m
    }

    fn name(m: Option<Msg>) -> String {
        m.map_or_else(|| "-".into(), |m| format!("{m:?}"))
    }

    #[test]
    fn common_keys_on_every_screen() {
        for s in [Screen::Workers, Screen::Pick, Screen::Apply, Screen::Verify] {
            let m = on(s);
            assert_eq!(name(map(&m, ch('q'))), "Quit", "{s:?}");
            assert_eq!(name(map(&m, ch('?'))), "Help");
            assert_eq!(name(map(&m, key(KeyCode::Esc))), "Back");
            assert_eq!(name(map(&m, key(KeyCode::Enter))), "Enter");
            assert_eq!(name(map(&m, ch('j'))), "Down");
            assert_eq!(name(map(&m, key(KeyCode::Down))), "Down");
            assert_eq!(name(map(&m, ch('k'))), "Up");
            assert_eq!(name(map(&m, key(KeyCode::Up))), "Up");
            assert_eq!(name(map(&m, ch('g'))), "Top");
            assert_eq!(name(map(&m, ch('G'))), "Bottom");
            assert_eq!(name(map(&m, key(KeyCode::PageDown))), "PageDown");
            assert_eq!(name(map(&m, ctrl('c'))), "Quit");
        }
    }

    #[test]
    fn screen_keys() {
        let w = on(Screen::Workers);
        assert_eq!(name(map(&w, ch('r'))), "Refresh");
        assert_eq!(name(map(&w, ch('p'))), "Probe");
        assert_eq!(name(map(&w, ch('R'))), "Reset");
        assert_eq!(name(map(&w, ch('/'))), "Unknown(\"/\")");
        let p = on(Screen::Pick);
        assert_eq!(name(map(&p, ch('/'))), "SearchStart");
        assert_eq!(name(map(&p, ch('a'))), "ToggleScope");
        assert_eq!(name(map(&p, ch('v'))), "ToggleVision");
        assert_eq!(name(map(&p, ch('p'))), "Unknown(\"p\")");
        let a = on(Screen::Apply);
        assert_eq!(name(map(&a, ch('s'))), "SetPolicy(Sticky)");
        assert_eq!(name(map(&a, ch('d'))), "SetPolicy(Dynamic)");
        assert_eq!(name(map(&a, key(KeyCode::Tab))), "TogglePolicy");
        assert_eq!(name(map(&a, key(KeyCode::Left))), "TogglePolicy");
        assert_eq!(name(map(&a, ch('r'))), "ToggleRespawn");
        let v = on(Screen::Verify);
        assert_eq!(name(map(&v, ch('p'))), "Probe");
        assert_eq!(name(map(&v, ch('R'))), "Reset");
        assert_eq!(name(map(&v, ch('s'))), "Unknown(\"s\")");
    }

    #[test]
    fn search_field_takes_letters_including_q() {
        let mut m = on(Screen::Pick);
        if let Some(p) = m.pick.as_mut() {
            p.editing = true;
        }
        assert_eq!(name(map(&m, ch('q'))), "SearchChar('q')");
        assert_eq!(name(map(&m, ch('j'))), "SearchChar('j')");
        assert_eq!(name(map(&m, ch('/'))), "SearchChar('/')");
        assert_eq!(name(map(&m, key(KeyCode::Backspace))), "SearchBackspace");
        assert_eq!(name(map(&m, key(KeyCode::Esc))), "SearchDone");
        assert_eq!(name(map(&m, key(KeyCode::Enter))), "SearchDone");
        assert_eq!(name(map(&m, key(KeyCode::Down))), "Down");
        assert_eq!(name(map(&m, ctrl('c'))), "Quit");
    }

    #[test]
    fn help_overlay_swallows_other_keys() {
        let mut m = on(Screen::Workers);
        m.help = true;
        assert_eq!(name(map(&m, ch('j'))), "-");
        assert_eq!(name(map(&m, ch('q'))), "Help");
        assert_eq!(name(map(&m, key(KeyCode::Esc))), "Help");
        assert_eq!(name(map(&m, ch('?'))), "Help");
    }

    #[test]
    fn ctrl_d_u_page_a_question_takes_any_key_and_a_probe_cancels_with_esc_or_c() {
        let m = on(Screen::Pick);
        assert_eq!(name(map(&m, ctrl('d'))), "PageDown");
        assert_eq!(name(map(&m, ctrl('u'))), "PageUp");
        let mut m = on(Screen::Workers);
        m.confirm_reset = Some("docs".into());
        assert_eq!(name(map(&m, ch('y'))), "ConfirmReset(true)");
        assert_eq!(name(map(&m, key(KeyCode::Enter))), "ConfirmReset(true)");
        assert_eq!(name(map(&m, ch('n'))), "ConfirmReset(false)");
        assert_eq!(name(map(&m, key(KeyCode::Esc))), "ConfirmReset(false)");
        assert_eq!(name(map(&m, ctrl('c'))), "Quit");
        let mut m = on(Screen::Verify);
        let mut v = crate::app::Verify::new(worker(), worker());
        v.probing = true;
        m.verify = Some(v);
        assert_eq!(name(map(&m, ch('c'))), "CancelProbe");
        assert_eq!(name(map(&m, key(KeyCode::Esc))), "CancelProbe");
        assert_eq!(name(map(&m, ch('q'))), "Quit");
    }

    #[test]
    fn releases_are_ignored() {
        let m = on(Screen::Workers);
        let mut k = ch('q');
        k.kind = KeyEventKind::Release;
        assert!(map(&m, k).is_none());
    }
}
