//! `view(&Model, &mut Frame)`: draws the model, changes nothing. Every size works, down to
//! zero: below [`MIN_WIDTH`]×[`MIN_HEIGHT`] it says the terminal is too small.

use orch::render::{WORKER_COLUMNS, price, tokens};
use orch::resolve::{Policy, Resolution};
use orch::workers::{WorkerRow, WorkerStatus};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{
    Block, Cell, Clear, HighlightSpacing, Paragraph, Row, Table, TableState, Wrap,
};

use crate::app::{Apply, Item, Load, Model, Notice, Pick, Screen, Verify};
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
    let [top, body, notice, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(2),
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
    notice_line(model, frame, notice);
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
    match model.screen {
        Screen::Workers => "j/k move · Enter pick a model · p probe · R reset · r reload · q quit",
        Screen::Pick if model.editing() => {
            "type to search · ↑/↓ move · Enter/Esc stop typing · Backspace delete"
        }
        Screen::Pick => {
            "/ search · a usable/all · v vision only · j/k move · Enter choose · Esc back"
        }
        Screen::Apply => {
            "d/s or Tab policy · r respawn · Enter apply (or use a suggestion) · Esc back"
        }
        Screen::Verify => "p probe · R reset · Enter/Esc workers · q quit",
    }
    .into()
}

fn notice_line(model: &Model, frame: &mut Frame, area: Rect) {
    if let Some(b) = &model.busy {
        let spin = SPINNER[model.spinner % SPINNER.len()];
        frame.render_widget(
            Paragraph::new(Line::styled(
                format!("{spin} {b}"),
                Style::new().fg(Color::Yellow),
            )),
            area,
        );
        return;
    }
    let text = match &model.notice {
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
        None => return,
        Some(Notice::Info(s)) => Text::from(s.as_str()),
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
    };
    frame.render_widget(Paragraph::new(text).wrap(Wrap { trim: true }), area);
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

/// The workers table; the reason column only when `wide` (the detail panel shows it too).
fn workers_table<'a>(rows: &'a [WorkerRow], title: &'a str, wide: bool) -> Table<'a> {
    let mut head = WORKER_COLUMNS.to_vec();
    if wide {
        head.push("REASON");
    }
    let header = Row::new(head).style(bold());
    let body = rows.iter().map(|w| {
        let model_ref = if w.overridden {
            format!("{}*", w.model_ref)
        } else {
            w.model_ref.clone()
        };
        let mut cells = vec![
            Cell::from(w.id.as_str()),
            Cell::from(status_span(w.status)),
            Cell::from(model_ref),
            match &w.resolved_model {
                Some(m) => Cell::from(m.as_str()),
                None => Cell::from(Span::styled("unresolved", red())),
            },
            Cell::from(w.policy.as_str()),
            Cell::from(w.answered_by.as_deref().unwrap_or("-")),
        ];
        if wide {
            cells.push(Cell::from(match &w.fallback {
                Some(f) => format!("{} (last task: {f})", w.reason),
                None => w.reason.clone(),
            }));
        }
        Row::new(cells)
    });
    let mut widths = vec![
        Constraint::Length(10),
        Constraint::Length(8),
        Constraint::Length(12),
        Constraint::Length(16),
        Constraint::Length(7),
        Constraint::Fill(1),
    ];
    if wide {
        widths[5] = Constraint::Length(16);
        widths.push(Constraint::Fill(1));
    }
    Table::new(body, widths)
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
    let table_h = u16::try_from(rows.len() + 3)
        .unwrap_or(u16::MAX)
        .min(area.height.saturating_sub(4))
        .max(area.height.saturating_sub(12));
    let [table_area, detail] =
        Layout::vertical([Constraint::Length(table_h), Constraint::Min(0)]).areas(area);
    let height = usize::from(table_area.height.saturating_sub(3));
    let offset = window(model.selected, height);
    let end = rows.len().min(offset + height.max(1));
    let shown = &rows[offset.min(end)..end];
    let mut state =
        TableState::default().with_selected(Some(model.selected - offset.min(model.selected)));
    frame.render_stateful_widget(
        workers_table(shown, " Workers · * = set by you ", area.width >= WIDE),
        table_area,
        &mut state,
    );
    if let Some(w) = model.selected_worker() {
        frame.render_widget(
            Paragraph::new(worker_detail(w))
                .wrap(Wrap { trim: true })
                .block(Block::bordered().title(format!(" {} ", w.name))),
            detail,
        );
    }
}

fn worker_detail(w: &WorkerRow) -> Text<'static> {
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
    Text::from(lines)
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

fn cost(input: f64, output: f64) -> String {
    format!("{}/{}", price(input), price(output))
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
    let rows = p.items[offset.min(end)..end].iter().map(|&item| {
        let blocked = p.blocked(item, catalog).is_some();
        let mark = if blocked { "✗" } else { " " };
        let row = match item {
            Item::Tag(i) => {
                let Some(t) = p.tags.as_ref().and_then(|t| t.get(i)) else {
                    return Row::new(Vec::<Cell>::new());
                };
                let label = if t.user {
                    format!("{} (your tag)", t.tag)
                } else {
                    t.tag.clone()
                };
                let target = match &t.result {
                    Ok(r) => format!("→ {}", r.resolved_model),
                    Err(_) => "→ does not resolve".into(),
                };
                let mut cells = vec![Cell::from(mark)];
                if wide {
                    cells.push(Cell::from(Span::styled(label, bold())));
                    cells.push(Cell::from(target));
                    cells.push(Cell::from(if t.user { "tag" } else { "built-in" }));
                } else {
                    cells.push(Cell::from(Line::from(vec![
                        Span::styled(label, bold()),
                        Span::raw(format!(" {target}")),
                    ])));
                }
                match &t.result {
                    Ok(r) => cells.extend(resolution_cells(r)),
                    Err(_) => cells.extend(std::iter::repeat_n(Cell::from(""), 5)),
                }
                Row::new(cells)
            }
            Item::Model(i) => {
                let Some(m) = catalog.and_then(|c| c.rows.get(i)) else {
                    return Row::new(Vec::<Cell>::new());
                };
                let model = match &m.health {
                    Some(h) => Cell::from(Line::from(vec![
                        Span::raw(m.model.as_str()),
                        Span::styled(format!(" [{h}]"), Style::new().fg(Color::Yellow)),
                    ])),
                    None => Cell::from(m.model.as_str()),
                };
                let mut cells = vec![Cell::from(mark), model];
                if wide {
                    cells.push(Cell::from(m.name.as_str()));
                    cells.push(Cell::from(m.source.as_str()));
                }
                cells.extend([
                    yes(m.image, "img"),
                    yes(m.tool_call, "tool"),
                    yes(m.reasoning, "rsn"),
                    Cell::from(tokens(m.context)),
                    Cell::from(cost(m.cost_input, m.cost_output)),
                ]);
                Row::new(cells)
            }
        };
        if blocked { row.style(dim()) } else { row }
    });
    let mut widths = vec![Constraint::Length(1), Constraint::Fill(1)];
    let mut head = vec!["", "MODEL / TAG"];
    if wide {
        widths[1] = Constraint::Length(44);
        widths.extend([Constraint::Fill(1), Constraint::Length(8)]);
        head.extend(["NAME / RESOLVES TO", "SOURCE"]);
    }
    widths.extend([
        Constraint::Length(3),
        Constraint::Length(4),
        Constraint::Length(3),
        Constraint::Length(5),
        Constraint::Length(11),
    ]);
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

fn resolution_cells(r: &Resolution) -> Vec<Cell<'static>> {
    let m = &r.metadata;
    vec![
        yes(m.capabilities.input.image, "img"),
        yes(m.capabilities.tool_call, "tool"),
        yes(m.capabilities.reasoning, "rsn"),
        Cell::from(tokens(m.context)),
        Cell::from(cost(m.cost.input, m.cost.output)),
    ]
}

fn pick_detail(model: &Model, p: &Pick) -> Text<'static> {
    let catalog = model.catalog();
    let Some(item) = p.current() else {
        return Text::styled(
            if p.query.is_empty() {
                "nothing to show".to_owned()
            } else {
                format!(
                    "nothing matches \"{}\" (a: all models, Backspace: edit)",
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

fn kv(key: &str, value: Vec<Span<'static>>) -> Line<'static> {
    let mut spans = vec![Span::styled(format!("{key:<10}"), dim())];
    spans.extend(value);
    Line::from(spans)
}

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
            lines.push(kv("why", vec![Span::raw(r.reason.clone())]));
        }
        Some(Err(e)) => {
            lines.push(kv(
                "new",
                vec![
                    Span::styled(a.reference.clone(), bold()),
                    Span::styled(" → cannot be used", red()),
                ],
            ));
            lines.push(kv("why", vec![Span::styled(short_message(e), red())]));
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
        vec![
            radio(Policy::Dynamic),
            radio(Policy::Sticky),
            Span::styled(
                match a.policy {
                    Policy::Dynamic => "rides on each message, no respawn needed",
                    Policy::Sticky => "the worker's default until reset",
                },
                dim(),
            ),
        ],
    ));
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
        u16::try_from(suggestions.len() + 1)
            .unwrap_or(u16::MAX)
            .min(inner.height / 2)
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
            area.width >= WIDE,
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
        kv("reason", vec![Span::raw(a.reason.clone())]),
        kv("status", vec![status_span(a.status)]),
    ];
    lines.push(Line::default());
    match (&v.probe, v.probing) {
        (_, true) => lines.push(kv(
            "probe",
            vec![Span::styled(
                "running a tiny task…",
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
            if let Some(f) = &out.fallback {
                lines.push(kv(
                    "fallback",
                    vec![Span::styled(f.clone(), Style::new().fg(Color::Yellow))],
                ));
            }
            let first = out.output.lines().next().unwrap_or("").to_owned();
            lines.push(kv("reply", vec![Span::raw(first)]));
        }
        (Some(Err(e)), false) => lines.push(kv(
            "probe",
            vec![Span::styled(format!("✗ {}", e.message), red())],
        )),
    }
    frame.render_widget(
        Paragraph::new(Text::from(lines))
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(format!(" {} · {} ", a.id, a.name))),
        detail,
    );
}

fn help_overlay(frame: &mut Frame, area: Rect) {
    let w = 64.min(area.width.saturating_sub(2));
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
