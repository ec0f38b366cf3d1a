//! `view(&Model, &mut Frame)`: draws the model, changes nothing. Every size works, down to
//! zero: below [`MIN_WIDTH`]×[`MIN_HEIGHT`] it says the terminal is too small.

use orch::render::{WORKER_COLUMNS, tokens};
use orch::resolve::Policy;
use orch::workers::{WorkerRow, WorkerStatus};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{
    Block, Cell, Clear, HighlightSpacing, Paragraph, Row, Table, TableState, Wrap,
};

use crate::app::{Apply, Item, Load, Model, Notice, Pick, Screen, Verify};
use crate::fit;
use crate::keys::HELP;

/// Narrowest terminal drawn normally.
pub const MIN_WIDTH: u16 = 30;
/// Lowest terminal drawn normally.
pub const MIN_HEIGHT: u16 = 10;
/// Width from which the pick list shows model names.
const WIDE: u16 = 110;

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

fn dim() -> Style {
    Style::new().fg(Color::DarkGray).add_modifier(Modifier::DIM)
}

fn bold() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

fn red() -> Style {
    Style::new().fg(Color::Red)
}

fn green() -> Style {
    Style::new().fg(Color::Green)
}

fn selected_style() -> Style {
    Style::new().add_modifier(Modifier::REVERSED)
}

/// Draws the whole screen.
pub fn view(model: &Model, frame: &mut Frame) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        frame.render_widget(
            Paragraph::new(format!(
                "orch tui: the terminal is too small ({}x{}); make it at least {MIN_WIDTH}x{MIN_HEIGHT}, or press q to quit",
                area.width, area.height
            ))
            .wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    // The status line takes the rows its text needs (none, one or two), no more.
    let status = status_text(model);
    let status_h = match &status {
        None => 0,
        Some(t) => {
            let w = usize::from(area.width).max(1);
            let rows: usize = t.lines.iter().map(|l| l.width().max(1).div_ceil(w)).sum();
            u16::try_from(rows.clamp(1, 2)).unwrap_or(2)
        }
    };
    let [top, body, notice, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(status_h),
        Constraint::Length(1),
    ])
    .areas(area);
    header(model, frame, top);
    match model.screen {
        Screen::Workers => workers_screen(model, frame, body),
        Screen::Pick => match &model.pick {
            Some(p) => pick_screen(model, p, frame, body),
            None => workers_screen(model, frame, body),
        },
        Screen::Apply => match &model.apply {
            Some(a) => apply_screen(a, frame, body),
            None => workers_screen(model, frame, body),
        },
        Screen::Verify => match &model.verify {
            Some(v) => verify_screen(model, v, frame, body),
            None => workers_screen(model, frame, body),
        },
    }
    if let Some(t) = status {
        frame.render_widget(Paragraph::new(t).wrap(Wrap { trim: true }), notice);
    }
    frame.render_widget(
        Paragraph::new(Line::from(hints(model)).style(dim())),
        footer,
    );
    if model.help {
        help_overlay(frame, area);
    }
}

fn header(model: &Model, frame: &mut Frame, area: Rect) {
    let mut crumbs = vec![Span::styled("orch", bold())];
    if !model.project.is_empty() {
        crumbs.push(Span::styled(format!(" · {}", model.project), dim()));
    }
    crumbs.push(Span::raw(" · Workers"));
    let worker = match model.screen {
        Screen::Workers => None,
        Screen::Pick => model.pick.as_ref().map(|p| &p.worker.id),
        Screen::Apply => model.apply.as_ref().map(|a| &a.worker.id),
        Screen::Verify => model.verify.as_ref().map(|v| &v.after.id),
    };
    if let Some(w) = worker {
        crumbs.push(Span::raw(format!(" › {w}")));
    }
    let step = match model.screen {
        Screen::Workers => None,
        Screen::Pick => Some("Pick a model"),
        Screen::Apply => Some("Apply"),
        Screen::Verify => Some("Verify"),
    };
    if let Some(s) = step {
        crumbs.push(Span::styled(format!(" › {s}"), bold()));
    }
    let right = Line::from(Span::styled("? help", dim()));
    let right_w = u16::try_from(right.width())
        .unwrap_or(u16::MAX)
        .min(area.width);
    let [l, r] = Layout::horizontal([Constraint::Min(0), Constraint::Length(right_w)]).areas(area);
    frame.render_widget(Paragraph::new(Line::from(crumbs)), l);
    frame.render_widget(Paragraph::new(right.right_aligned()), r);
}

fn hints(model: &Model) -> String {
    if model.help {
        return "Esc/?: close help".into();
    }
    if model.confirm_reset.is_some() {
        return "y/Enter reset · any other key keeps the model".into();
    }
    if model.screen == Screen::Verify && model.verify.as_ref().is_some_and(|v| v.probing) {
        return "Esc/c cancel the probe · Enter workers (cancels it) · q quit".into();
    }
    if model.screen == Screen::Apply
        && model
            .apply
            .as_ref()
            .is_some_and(|a| !a.suggestions().is_empty())
    {
        return "d/s policy · r respawn · j/k suggestion · Enter use it · Esc back".into();
    }
    match model.screen {
        Screen::Workers => "j/k move · Enter pick a model · p probe · R reset · r reload · q quit",
        Screen::Pick if model.editing() => {
            "type to search · ↑/↓ move · Enter/Esc stop typing · Backspace delete"
        }
        Screen::Pick => {
            "/ search · a usable/all · v vision only · j/k move · Enter choose · Esc back"
        }
        Screen::Apply => "d/s or Tab policy · r respawn · Enter apply · Esc back",
        Screen::Verify => "p probe · R reset · Enter/Esc workers · q quit",
    }
    .into()
}

/// The status line: what runs, a question, the backend lost, a notice, or a warning.
fn status_text(model: &Model) -> Option<Text<'static>> {
    if let Some(b) = &model.busy {
        let spin = SPINNER[model.spinner % SPINNER.len()];
        let elapsed = match &model.verify {
            Some(v) if v.probing => format!(" · {}s", v.probe_secs()),
            _ => String::new(),
        };
        return Some(Text::from(Line::styled(
            format!("{spin} {b}{elapsed}"),
            Style::new().fg(Color::Yellow),
        )));
    }
    if let Some(id) = &model.confirm_reset {
        let configured = model
            .worker(id)
            .map(|w| format!(" (now {})", w.model_ref))
            .unwrap_or_default();
        return Some(Text::from(Line::styled(
            format!("Reset {id} to its configured model? y/n{configured}"),
            bold().fg(Color::Yellow),
        )));
    }
    if let Some(e) = &model.lost {
        return Some(Text::from(Line::styled(
            // What the TUI does first: the message (a socket path) may not fit.
            format!(
                "✗ no backend: retrying every {}s (r: now), the rows may be stale · {}",
                crate::event::RETRY_TICKS / crate::event::TICKS_PER_SECOND,
                e.message,
            ),
            red(),
        )));
    }
    Some(match &model.notice {
        None if !model.warnings.is_empty() => {
            let more = match model.warnings.len() {
                1 => String::new(),
                n => format!(" (+{} more, see `orch status`)", n - 1),
            };
            Text::from(Line::styled(
                format!("⚠ {}{more}", model.warnings[0]),
                Style::new().fg(Color::Yellow),
            ))
        }
        None => return None,
        Some(Notice::Info(s)) => Text::from(s.clone()),
        Some(Notice::Error(e)) => {
            let mut line = vec![Span::styled(format!("✗ {}", e.message), red())];
            if !e.suggestions.is_empty() && model.screen != Screen::Apply {
                line.push(Span::raw(format!(
                    " — suggestions: {}",
                    e.suggestions.join(", ")
                )));
            }
            Text::from(Line::from(line))
        }
    })
}

/// Rows `offset..` that fit `height` with `selected` visible.
fn window(selected: usize, height: usize) -> usize {
    if height == 0 || selected < height {
        0
    } else {
        selected + 1 - height
    }
}

fn status_span(s: WorkerStatus) -> Span<'static> {
    let style = match s {
        WorkerStatus::Idle | WorkerStatus::Stopped => dim(),
        WorkerStatus::Starting | WorkerStatus::Busy => Style::new().fg(Color::Yellow),
        WorkerStatus::Ready => green(),
        WorkerStatus::Failed => red(),
    };
    Span::styled(s.as_str(), style)
}

/// The RESOLVED cell of a model reference that names the model itself.
const SAME: &str = "(same)";

/// The workers table in `width` columns (its border included). Each column takes what its
/// widest cell needs, model ids first: when that is too much the answered-by column goes,
/// then the status; only then do the model columns shrink, with a middle ellipsis (the `*`
/// "set by you" marker always shows). The reason takes what is left, cut at a word.
fn workers_table<'a>(rows: &'a [WorkerRow], title: &'a str, width: u16) -> Table<'a> {
    use crate::fit::{Column, at_word, fit, middle};
    // An explicit model resolves to itself: "(same)" instead of the id twice, so the id
    // keeps its whole width.
    let resolved = |w: &WorkerRow| match w.resolved_model.as_deref() {
        Some(m) if m == w.model_ref => SAME.to_owned(),
        Some(m) => m.to_owned(),
        None => "unresolved".to_owned(),
    };
    let answered = |w: &WorkerRow| w.answered_by.as_deref().unwrap_or("-").to_owned();
    let widest = |head: &str, f: &dyn Fn(&WorkerRow) -> usize| {
        rows.iter().map(f).max().unwrap_or(0).max(fit::width(head))
    };
    let col = |natural, min, drop| Column { natural, min, drop };
    let cols = [
        col(widest("WORKER", &|w| fit::width(&w.id)), None, None),
        col(
            widest("STATUS", &|w| w.status.as_str().len()),
            None,
            Some(2),
        ),
        col(
            widest("MODEL REF", &|w| {
                fit::width(&w.model_ref) + usize::from(w.overridden)
            }),
            Some(8),
            None,
        ),
        col(
            widest("RESOLVED", &|w| fit::width(&resolved(w))),
            Some(10),
            None,
        ),
        col(widest("POLICY", &|w| w.policy.as_str().len()), None, None),
        col(
            widest("ANSWERED BY", &|w| fit::width(&answered(w))),
            Some(10),
            Some(1),
        ),
    ];
    // Border (2), highlight symbol (2), one space between columns.
    let avail = usize::from(width).saturating_sub(4);
    let mut widths = fit(&cols, avail, 1);
    let used: usize = widths.iter().flatten().map(|w| w + 1).sum();
    let reason_w = avail.saturating_sub(used);
    let reason = reason_w >= 20;
    if reason {
        widths.push(Some(reason_w));
    }
    // The CLI's columns, then the reason.
    let heads: Vec<&str> = WORKER_COLUMNS.iter().copied().chain(["REASON"]).collect();
    let header = Row::new(
        heads
            .iter()
            .zip(&widths)
            .filter_map(|(h, w)| w.map(|_| *h))
            .collect::<Vec<_>>(),
    )
    .style(bold());
    let shown = widths.clone();
    let body = rows.iter().map(move |w| {
        let cut = |i: usize, s: &str| middle(s, shown[i].unwrap_or(0));
        let model_ref = if w.overridden {
            // The marker never goes: the reference gives way instead.
            format!(
                "{}*",
                middle(&w.model_ref, shown[2].unwrap_or(1).saturating_sub(1))
            )
        } else {
            cut(2, &w.model_ref)
        };
        let cells = [
            Some(Cell::from(w.id.clone())),
            Some(Cell::from(status_span(w.status))),
            Some(Cell::from(model_ref)),
            Some(match &w.resolved_model {
                Some(m) if *m == w.model_ref => Cell::from(Span::styled(SAME, dim())),
                Some(m) => Cell::from(cut(3, m)),
                None => Cell::from(Span::styled("unresolved", red())),
            }),
            Some(Cell::from(w.policy.as_str())),
            Some(Cell::from(cut(5, &answered(w)))),
            reason.then(|| {
                // How the last task fell back, when it did (issue 11), after the reason.
                let text = match &w.fallback {
                    Some(f) => format!("{} (last task: {f})", w.reason),
                    None => w.reason.clone(),
                };
                Cell::from(at_word(&text, reason_w))
            }),
        ];
        Row::new(
            cells
                .into_iter()
                .zip(&shown)
                .filter_map(|(c, w)| w.and(c))
                .collect::<Vec<_>>(),
        )
    });
    let constraints: Vec<Constraint> = widths
        .iter()
        .flatten()
        .map(|&w| Constraint::Length(u16::try_from(w).unwrap_or(u16::MAX)))
        .collect();
    Table::new(body, constraints)
        .header(header)
        .block(Block::bordered().title(title))
        .row_highlight_style(selected_style())
        .highlight_symbol("› ")
        .highlight_spacing(HighlightSpacing::Always)
}

fn workers_screen(model: &Model, frame: &mut Frame, area: Rect) {
    let rows = match &model.workers {
        Load::Loading => {
            frame.render_widget(
                Paragraph::new("loading workers…").block(Block::bordered().title(" Workers ")),
                area,
            );
            return;
        }
        Load::Failed(e) => {
            frame.render_widget(
                Paragraph::new(error_text(e))
                    .wrap(Wrap { trim: true })
                    .block(Block::bordered().title(" Workers ")),
                area,
            );
            return;
        }
        Load::Ready(rows) => rows,
    };
    // The box holds its rows (and the header) and no more; the detail takes the rest.
    let table_h = u16::try_from(rows.len() + 3)
        .unwrap_or(u16::MAX)
        .min(area.height.saturating_sub(4));
    let [table_area, detail] =
        Layout::vertical([Constraint::Length(table_h), Constraint::Min(0)]).areas(area);
    let height = usize::from(table_area.height.saturating_sub(3));
    let offset = window(model.selected, height);
    let end = rows.len().min(offset + height.max(1));
    let shown = &rows[offset.min(end)..end];
    let mut state =
        TableState::default().with_selected(Some(model.selected - offset.min(model.selected)));
    frame.render_stateful_widget(
        workers_table(shown, " Workers · * = set by you ", area.width),
        table_area,
        &mut state,
    );
    if let Some(w) = model.selected_worker() {
        frame.render_widget(
            Paragraph::new(worker_detail(
                w,
                model.project_usage.as_ref(),
                detail.width.saturating_sub(2),
            ))
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(format!(" {} ", w.name))),
            detail,
        );
    }
}

fn worker_detail(
    w: &WorkerRow,
    project: Option<&orch::usage::Windows>,
    width: u16,
) -> Text<'static> {
    let mut lines = vec![Line::from(vec![
        Span::styled(w.model_ref.clone(), bold()),
        Span::raw(" → "),
        Span::styled(
            w.resolved_model
                .clone()
                .unwrap_or_else(|| "unresolved".into()),
            bold(),
        ),
        Span::raw(format!(
            " · {} · {}{}",
            w.policy,
            w.backend,
            if w.vision {
                " · needs image input"
            } else {
                ""
            }
        )),
    ])];
    lines.push(Line::from(w.reason.clone()));
    if let Some(e) = &w.error {
        lines.push(Line::styled(format!("last error: {e}"), red()));
    }
    // What the worker and the project cost (issue 12), once a task is on record.
    if let Some(p) = project.filter(|p| p.all_time.tasks > 0) {
        let none = orch::usage::Windows::default();
        let mine = w.usage.as_ref().unwrap_or(&none);
        for (label, worker, all) in [
            ("today", &mine.today, &p.today),
            ("7 days", &mine.last_7_days, &p.last_7_days),
            ("all time", &mine.all_time, &p.all_time),
        ] {
            let text = format!("{} {} │ project {}", w.id, worker.cell(), all.cell());
            lines.extend(kv_wrapped(label, &text, Style::new(), width));
        }
    }
    Text::from(lines)
}

/// `5 in · 3 out · 0 reasoning · cache 0 read / 0 write` (`?` for a figure not reported).
fn token_text(u: &orch::usage::Usage) -> String {
    let n = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
    format!(
        "{} in · {} out · {} reasoning · cache {} read / {} write",
        n(u.input),
        n(u.output),
        n(u.reasoning),
        n(u.cache_read),
        n(u.cache_write)
    )
}

/// A task's cost (an estimate or unknown said so), tokens and times, for the verify
/// screen: `$0.000043 (estimate) · 5 in · 3 out · … · first token 120 ms · total 1.2 s`.
fn usage_text(u: &orch::usage::Usage) -> String {
    let cost = match u.cost_usd {
        None => "cost unknown (no price for this model)".to_owned(),
        Some(c) => orch::usage::cost_text(Some(c), u.estimated),
    };
    let ms = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), orch::render::duration_ms);
    format!(
        "{cost} · {} · first token {} · total {}",
        token_text(u),
        ms(u.first_token_ms),
        ms(u.total_ms)
    )
}

fn error_text(e: &orch::Error) -> Text<'static> {
    let mut lines = vec![Line::styled(format!("✗ {}", e.message), red())];
    if !e.suggestions.is_empty() {
        lines.push(Line::from(format!(
            "suggestions: {}",
            e.suggestions.join(", ")
        )));
    }
    Text::from(lines)
}

fn yes(b: bool, label: &'static str) -> Cell<'static> {
    if b {
        Cell::from(label)
    } else {
        Cell::from(Span::styled("-", dim()))
    }
}

fn cost(input: Option<f64>, output: Option<f64>) -> String {
    use orch::numbers::price_or_unknown;
    format!("{}/{}", price_or_unknown(input), price_or_unknown(output))
}

fn pick_screen(model: &Model, p: &Pick, frame: &mut Frame, area: Rect) {
    let catalog = model.catalog();
    let now = format!(
        " Pick a model for {} · now {} → {} ",
        p.worker.id,
        p.worker.model_ref,
        p.worker.resolved_model.as_deref().unwrap_or("unresolved")
    );
    let block = Block::bordered().title(now);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [filters, table_area, detail] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(2),
        Constraint::Length(2),
    ])
    .areas(inner);

    let models_total = catalog.map_or(0, |c| if p.all { c.rows.len() } else { c.usable });
    let model_count = p.items.len() - p.tag_count;
    let cursor = if p.editing { "▏" } else { "" };
    let mut f = vec![
        Span::raw("search: "),
        if p.query.is_empty() && !p.editing {
            Span::styled("/ to type", dim())
        } else {
            Span::styled(format!("{}{cursor}", p.query), bold())
        },
        Span::raw("  scope: "),
        Span::styled(if p.all { "all" } else { "usable" }, bold()),
        Span::raw("  vision: "),
        Span::styled(if p.vision_only { "only" } else { "any" }, bold()),
        Span::raw(format!(
            "  tags {} · models {model_count}/{models_total}",
            p.tag_count
        )),
    ];
    if p.tags.is_none() {
        f.push(Span::styled(" · previews loading…", dim()));
    }
    match &model.catalog {
        Load::Loading => f.push(Span::styled(" · models loading…", dim())),
        Load::Failed(_) => f.push(Span::styled(" · models failed to load", red())),
        Load::Ready(_) => {}
    }
    frame.render_widget(Paragraph::new(Line::from(f)), filters);

    let wide = area.width >= WIDE;
    let height = usize::from(table_area.height.saturating_sub(1));
    let offset = window(p.selected, height);
    let end = p.items.len().min(offset + height.max(1));
    let shown: Vec<PickRow> = p.items[offset.min(end)..end]
        .iter()
        .map(|&item| pick_row(p, item, catalog))
        .collect();
    // Numbers whole (a price is never cut), then the model ids; the name takes the rest.
    let ctx_w = shown
        .iter()
        .map(|r| fit::width(&r.ctx))
        .max()
        .unwrap_or(0)
        .max(3);
    let cost_w = shown
        .iter()
        .map(|r| fit::width(&r.cost))
        .max()
        .unwrap_or(0)
        .max(10);
    let fixed = [1, 3, 4, 3, ctx_w, cost_w];
    // The highlight symbol (2), one space between columns.
    let gaps = if wide { 8 } else { 6 };
    let avail =
        usize::from(table_area.width).saturating_sub(2 + gaps + fixed.iter().sum::<usize>());
    let label_need = shown
        .iter()
        .map(|r| fit::width(&r.label) + r.target.as_ref().map_or(0, |t| 1 + fit::width(t)))
        .max()
        .unwrap_or(0)
        .max(11);
    let (label_w, name_w) = if wide {
        // Source 8; the name at least 16 when the ids leave room.
        let label_w = label_need
            .min(avail.saturating_sub(8 + 16))
            .max(avail.saturating_sub(8).min(24));
        (label_w, avail.saturating_sub(8 + label_w))
    } else {
        (avail, 0)
    };
    let rows = shown.iter().map(|r| {
        let mut cells = vec![Cell::from(if r.blocked { "✗" } else { " " })];
        let label_style = if r.tag { bold() } else { Style::new() };
        if wide {
            // The tag and what it resolves to in their own columns.
            let label = fit::middle(&r.label, label_w);
            let target = r.target.clone().unwrap_or_default();
            cells.push(Cell::from(Span::styled(label, label_style)));
            cells.push(Cell::from(fit::middle(
                if r.tag { &target } else { &r.name },
                name_w,
            )));
            cells.push(Cell::from(r.source.clone()));
        } else {
            let label = fit::middle(&r.label, label_w);
            let mut spans = vec![Span::styled(label.clone(), label_style)];
            if let Some(t) = &r.target {
                let room = label_w.saturating_sub(fit::width(&label) + 1);
                if room > 2 {
                    spans.push(Span::raw(format!(" {}", fit::middle(t, room))));
                }
            }
            cells.push(Cell::from(Line::from(spans)));
        }
        cells.extend([
            yes(r.img, "img"),
            yes(r.tool, "tool"),
            yes(r.rsn, "rsn"),
            Cell::from(r.ctx.clone()),
            Cell::from(r.cost.clone()),
        ]);
        let row = Row::new(cells);
        if r.blocked { row.style(dim()) } else { row }
    });
    let len = |w: usize| Constraint::Length(u16::try_from(w).unwrap_or(u16::MAX));
    let mut widths = vec![len(1), len(label_w)];
    let mut head = vec!["", "MODEL / TAG"];
    if wide {
        widths.extend([Constraint::Fill(1), len(8)]);
        head.extend(["NAME / RESOLVES TO", "SOURCE"]);
    }
    widths.extend([len(3), len(4), len(3), len(ctx_w), len(cost_w)]);
    head.extend(["IMG", "TOOL", "RSN", "CTX", "$/M IN/OUT"]);
    let table = Table::new(rows, widths)
        .header(Row::new(head).style(bold()))
        .row_highlight_style(selected_style())
        .highlight_symbol("› ")
        .highlight_spacing(HighlightSpacing::Always);
    let mut state = TableState::default()
        .with_selected((!p.items.is_empty()).then(|| p.selected - offset.min(p.selected)));
    frame.render_stateful_widget(table, table_area, &mut state);

    frame.render_widget(
        Paragraph::new(pick_detail(model, p)).wrap(Wrap { trim: true }),
        detail,
    );
}

/// One row of the pick list, as text, before it is fitted.
struct PickRow {
    tag: bool,
    blocked: bool,
    /// The tag (with "(your tag)") or the model id.
    label: String,
    /// What a tag resolves to (`→ …`).
    target: Option<String>,
    name: String,
    source: String,
    img: bool,
    tool: bool,
    rsn: bool,
    ctx: String,
    cost: String,
}

fn pick_row(p: &Pick, item: Item, catalog: Option<&crate::app::Catalog>) -> PickRow {
    let blocked = p.blocked(item, catalog).is_some();
    let mut row = PickRow {
        tag: false,
        blocked,
        label: String::new(),
        target: None,
        name: String::new(),
        source: String::new(),
        img: false,
        tool: false,
        rsn: false,
        ctx: String::new(),
        cost: String::new(),
    };
    match item {
        Item::Tag(i) => {
            let Some(t) = p.tags.as_ref().and_then(|t| t.get(i)) else {
                return row;
            };
            row.tag = true;
            row.label = if t.user {
                format!("{} (your tag)", t.tag)
            } else {
                t.tag.clone()
            };
            row.source = if t.user { "tag" } else { "built-in" }.into();
            match &t.result {
                Ok(r) => {
                    let m = &r.metadata;
                    row.target = Some(format!("→ {}", r.resolved_model));
                    row.img = m.capabilities.input.image;
                    row.tool = m.capabilities.tool_call;
                    row.rsn = m.capabilities.reasoning;
                    row.ctx = tokens(m.context);
                    let known = !m.cost.unknown;
                    row.cost = cost(
                        known.then_some(m.cost.input),
                        known.then_some(m.cost.output),
                    );
                }
                Err(_) => row.target = Some("→ does not resolve".into()),
            }
        }
        Item::Model(i) => {
            let Some(m) = catalog.and_then(|c| c.rows.get(i)) else {
                return row;
            };
            // Health (issue 11): a model cooling down or of a refused provider says so.
            row.label = match &m.health {
                Some(h) => format!("{} [{h}]", m.model),
                None => m.model.clone(),
            };
            row.name = m.name.clone();
            row.source = m.source.as_str().to_owned();
            row.img = m.image;
            row.tool = m.tool_call;
            row.rsn = m.reasoning;
            row.ctx = tokens(m.context);
            row.cost = cost(m.cost_input, m.cost_output);
        }
    }
    row
}

fn pick_detail(model: &Model, p: &Pick) -> Text<'static> {
    let catalog = model.catalog();
    let Some(item) = p.current() else {
        return Text::styled(
            if p.query.is_empty() {
                "nothing to show".to_owned()
            } else {
                // Only the keys that work now: while typing, `a` is a letter.
                let scope = match (p.all, p.editing) {
                    (true, _) => "",
                    (false, true) => ", Esc then a: all models",
                    (false, false) => ", a: all models",
                };
                let edit = if p.editing { "Backspace" } else { "/" };
                format!(
                    "nothing matches \"{}\" ({edit}: edit the search{scope})",
                    p.query
                )
            },
            dim(),
        );
    };
    if let Some(why) = p.blocked(item, catalog) {
        return Text::from(Line::styled(format!("✗ {why}"), red()));
    }
    match item {
        Item::Tag(i) => match p.tags.as_ref().and_then(|t| t.get(i)).map(|t| &t.result) {
            Some(Ok(r)) => Text::from(r.reason.clone()),
            _ => Text::default(),
        },
        Item::Model(i) => match catalog.and_then(|c| c.rows.get(i)) {
            Some(m) => Text::from(format!(
                "{} · {} · provider {} ({}) · {} · context {} · output {}{}",
                m.model,
                m.name,
                m.provider,
                m.source,
                m.status,
                tokens(m.context),
                tokens(m.output),
                if m.release_date.is_empty() {
                    String::new()
                } else {
                    format!(" · released {}", m.release_date)
                }
            )),
            None => Text::default(),
        },
    }
}

/// Width of the key column of [`kv`].
const KEY_W: usize = 10;

/// `key` then `text` wrapped at words into `width` columns, each further line indented
/// under the first.
fn kv_wrapped(key: &str, text: &str, style: Style, width: u16) -> Vec<Line<'static>> {
    let w = usize::from(width).saturating_sub(KEY_W).max(10);
    fit::wrap(text, w)
        .into_iter()
        .enumerate()
        .map(|(i, l)| {
            let k = if i == 0 { key } else { "" };
            Line::from(vec![
                Span::styled(format!("{k:<KEY_W$}"), dim()),
                Span::styled(l, style),
            ])
        })
        .collect()
}

fn kv(key: &str, value: Vec<Span<'static>>) -> Line<'static> {
    let mut spans = vec![Span::styled(format!("{key:<10}"), dim())];
    spans.extend(value);
    Line::from(spans)
}

/// What the two policies do, for the apply screen (the help says the same).
pub const POLICIES: [(Policy, &str); 2] = [
    (
        Policy::Dynamic,
        "rides on each message: the next task uses it, no restart",
    ),
    (
        Policy::Sticky,
        "also the worker's default: its OpenCode restarts with it",
    ),
];

fn apply_screen(a: &Apply, frame: &mut Frame, area: Rect) {
    let block = Block::bordered().title(format!(" Apply {} to {} ", a.reference, a.worker.id));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines = vec![
        kv(
            "worker",
            vec![Span::raw(format!("{} ({})", a.worker.id, a.worker.name))],
        ),
        kv(
            "now",
            vec![Span::raw(format!(
                "{} → {} ({})",
                a.worker.model_ref,
                a.worker.resolved_model.as_deref().unwrap_or("unresolved"),
                a.worker.policy
            ))],
        ),
    ];
    match &a.preview {
        None => lines.push(kv(
            "new",
            vec![Span::styled(format!("{} → resolving…", a.reference), dim())],
        )),
        Some(Ok(r)) => {
            let mut new = vec![Span::styled(a.reference.clone(), bold())];
            if r.resolved_model != a.reference {
                new.push(Span::raw(" → "));
                new.push(Span::styled(
                    r.resolved_model.clone(),
                    bold().fg(Color::Green),
                ));
            }
            lines.push(kv("new", new));
            lines.extend(kv_wrapped("why", &r.reason, Style::new(), inner.width));
        }
        Some(Err(e)) => {
            lines.push(kv(
                "new",
                vec![
                    Span::styled(a.reference.clone(), bold()),
                    Span::styled(" → cannot be used", red()),
                ],
            ));
            lines.extend(kv_wrapped("why", &short_message(e), red(), inner.width));
        }
    }
    lines.push(Line::default());
    let radio = |p: Policy| {
        let on = a.policy == p;
        Span::styled(
            format!("({}) {}  ", if on { "•" } else { " " }, p),
            if on { bold() } else { Style::new() },
        )
    };
    lines.push(kv(
        "policy",
        vec![radio(Policy::Dynamic), radio(Policy::Sticky)],
    ));
    // What each policy does, one line each (the chosen one bright).
    for (p, what) in POLICIES {
        let style = if a.policy == p { Style::new() } else { dim() };
        let indent = KEY_W + 8;
        let w = usize::from(inner.width).saturating_sub(indent).max(10);
        for (i, l) in fit::wrap(what, w).into_iter().enumerate() {
            let name = if i == 0 { p.as_str() } else { "" };
            lines.push(Line::from(vec![
                Span::raw(" ".repeat(KEY_W)),
                Span::styled(format!("{name:<8}"), style.add_modifier(Modifier::BOLD)),
                Span::styled(l, style),
            ]));
        }
    }
    lines.push(kv(
        "respawn",
        vec![
            Span::raw(if a.respawn { "[x] " } else { "[ ] " }),
            Span::styled("restart the worker's OpenCode now", dim()),
        ],
    ));
    lines.push(Line::default());
    if a.running {
        lines.push(Line::styled("applying…", Style::new().fg(Color::Yellow)));
    } else if let Some(e) = &a.error {
        lines.push(Line::styled(format!("✗ {}", short_message(e)), red()));
    } else if a.can_apply() {
        lines.push(Line::styled("Enter: apply", bold()));
    }
    let suggestions = a.suggestions();
    let list_h = if suggestions.is_empty() {
        0
    } else {
        // The text above first (it explains the refusal), the list gets the rest, at
        // least a few rows.
        let text_h = u16::try_from(lines.len()).unwrap_or(u16::MAX);
        u16::try_from(suggestions.len() + 1)
            .unwrap_or(u16::MAX)
            .min(inner.height.saturating_sub(text_h).max(4))
    };
    let [text_area, list_area] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(list_h)]).areas(inner);
    frame.render_widget(
        Paragraph::new(Text::from(lines)).wrap(Wrap { trim: false }),
        text_area,
    );
    if !suggestions.is_empty() {
        let height = usize::from(list_area.height.saturating_sub(1));
        let offset = window(a.suggestion, height);
        let end = suggestions.len().min(offset + height.max(1));
        let rows = suggestions[offset.min(end)..end]
            .iter()
            .map(|s| Row::new([s.as_str()]));
        let table = Table::new(rows, [Constraint::Fill(1)])
            .header(Row::new(["suggestions (Enter uses one)"]).style(bold()))
            .row_highlight_style(selected_style())
            .highlight_symbol("› ")
            .highlight_spacing(HighlightSpacing::Always);
        let mut state =
            TableState::default().with_selected(Some(a.suggestion - offset.min(a.suggestion)));
        frame.render_stateful_widget(table, list_area, &mut state);
    }
}

/// An error's message without the list of suggestions it ends with (the apply screen lists
/// them, selectable).
pub fn short_message(e: &orch::Error) -> String {
    let listed = match e.suggestions.as_slice() {
        [] => None,
        [one] => e.message.rfind(one.as_str()),
        [a, b, ..] => e.message.find(&format!("{a}, {b}")),
    };
    match listed {
        Some(pos) if pos > 0 => format!(
            "{}: see the suggestions below",
            e.message[..pos].trim_end_matches([' ', ':', '"'])
        ),
        _ => e.message.clone(),
    }
}

fn verify_screen(model: &Model, v: &Verify, frame: &mut Frame, area: Rect) {
    let rows = model.workers.ready().map_or(&[][..], Vec::as_slice);
    let table_h = u16::try_from(rows.len() + 3)
        .unwrap_or(u16::MAX)
        .min(area.height / 2);
    let [table_area, detail] =
        Layout::vertical([Constraint::Length(table_h), Constraint::Min(3)]).areas(area);
    let height = usize::from(table_area.height.saturating_sub(3));
    let sel = rows.iter().position(|w| w.id == v.after.id).unwrap_or(0);
    let offset = window(sel, height);
    let end = rows.len().min(offset + height.max(1));
    let mut state = TableState::default().with_selected(Some(sel - offset.min(sel)));
    frame.render_stateful_widget(
        workers_table(
            &rows[offset.min(end)..end],
            " Workers (refreshed) ",
            area.width,
        ),
        table_area,
        &mut state,
    );

    let (b, a) = (&v.before, &v.after);
    let change = |before: &str, after: &str| -> Vec<Span<'static>> {
        if before == after {
            vec![Span::raw(after.to_owned())]
        } else {
            vec![
                Span::styled(before.to_owned(), dim()),
                Span::raw(" → "),
                Span::styled(after.to_owned(), bold().fg(Color::Green)),
            ]
        }
    };
    let unresolved = "unresolved";
    let mut lines = vec![
        kv("model ref", change(&b.model_ref, &a.model_ref)),
        kv(
            "resolved",
            change(
                b.resolved_model.as_deref().unwrap_or(unresolved),
                a.resolved_model.as_deref().unwrap_or(unresolved),
            ),
        ),
        kv("policy", change(b.policy.as_str(), a.policy.as_str())),
    ];
    let width = detail.width.saturating_sub(2);
    lines.extend(kv_wrapped("reason", &a.reason, Style::new(), width));
    lines.push(kv("status", vec![status_span(a.status)]));
    lines.push(Line::default());
    match (&v.probe, v.probing) {
        (_, true) => lines.push(kv(
            "probe",
            vec![Span::styled(
                format!(
                    "running a tiny task… {}s (Esc or c cancels)",
                    v.probe_secs()
                ),
                Style::new().fg(Color::Yellow),
            )],
        )),
        (None, false) => lines.push(kv(
            "probe",
            vec![Span::styled(
                "press p to run a tiny task and see which model really answers",
                dim(),
            )],
        )),
        (Some(Ok(out)), false) => {
            let answered = out.answered_by.as_deref().unwrap_or("unknown");
            let same = out.answered_by.as_deref() == Some(out.resolved_model.as_str());
            lines.push(kv(
                "probe",
                vec![
                    Span::raw("answered by "),
                    Span::styled(answered.to_owned(), bold()),
                    if same {
                        Span::styled("  ✓ the resolved model", green())
                    } else {
                        Span::styled(format!("  ✗ not {}", out.resolved_model), red())
                    },
                ],
            ));
            // What it cost before the reply: on a small screen the reply gives way.
            if let Some(u) = &out.usage {
                lines.extend(kv_wrapped("usage", &usage_text(u), Style::new(), width));
            }
            // Per attempt when the task fell back: the failed ones have no usage.
            for (i, a) in out.attempts.iter().enumerate() {
                let text = match &a.usage {
                    Some(u) => format!(
                        "{}: {} · {}",
                        a.model,
                        token_text(u),
                        orch::usage::cost_text(u.cost_usd, u.estimated)
                    ),
                    None => format!("{}: {}, no usage", a.model, a.short()),
                };
                lines.extend(kv_wrapped(
                    &format!("attempt {}", i + 1),
                    &text,
                    Style::new(),
                    width,
                ));
            }
            let first = out.output.lines().next().unwrap_or("");
            lines.extend(kv_wrapped("reply", first, Style::new(), width));
        }
        (Some(Err(e)), false) => {
            lines.extend(kv_wrapped(
                "probe",
                &format!("✗ {}", e.message),
                red(),
                width,
            ));
        }
    }
    frame.render_widget(
        Paragraph::new(Text::from(lines))
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(format!(" {} · {} ", a.id, a.name))),
        detail,
    );
}

fn help_overlay(frame: &mut Frame, area: Rect) {
    let w = 80.min(area.width.saturating_sub(2));
    let h = u16::try_from(HELP.len() + 2)
        .unwrap_or(u16::MAX)
        .min(area.height.saturating_sub(2));
    let popup = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    let rows = HELP
        .iter()
        .map(|(k, what)| Row::new([Cell::from(Span::styled(*k, bold())), Cell::from(*what)]));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Table::new(rows, [Constraint::Length(15), Constraint::Fill(1)])
            .block(Block::bordered().title(" Keys · Esc or ? closes ")),
        popup,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use orch::error::ErrorKind;

    fn err(message: &str, suggestions: &[&str]) -> orch::Error {
        orch::Error::new(ErrorKind::InvalidInput, message)
            .with_suggestions(suggestions.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn short_message_drops_the_listed_suggestions() {
        assert_eq!(
            short_message(&err(
                "the vision worker needs a model with image input, but fake/big-pro has none; usable models with image input: fake/vision-pro, openai/x",
                &["fake/vision-pro", "openai/x"]
            )),
            "the vision worker needs a model with image input, but fake/big-pro has none; usable models with image input: see the suggestions below"
        );
        assert_eq!(
            short_message(&err(
                "provider fake has no model \"bg\"; did you mean big-pro",
                &["fake/big-pro"]
            )),
            "provider fake has no model \"bg\"; did you mean big-pro"
        );
        assert_eq!(short_message(&err("plain", &[])), "plain");
        assert_eq!(
            short_message(&err("unknown tag \"node:x\"; known tags: node", &["node"])),
            "unknown tag \"node:x\"; known tags: see the suggestions below"
        );
    }

    #[test]
    fn window_keeps_the_selection_visible() {
        assert_eq!(window(0, 10), 0);
        assert_eq!(window(9, 10), 0);
        assert_eq!(window(10, 10), 1);
        assert_eq!(window(5, 0), 0);
    }
}
