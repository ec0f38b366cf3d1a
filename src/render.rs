//! Human renderings of the views: aligned tables for terminals, Markdown for the
//! OpenCode TUI and for LLMs reading MCP results. JSON is the views themselves.

use crate::wire::{Attempt, HealthView, WorkerRow, WorkersView};
use crate::wire::{
    AwaitView, CancelOutcome, CancelView, Format, ModelRow, ModelsView, ProfilesView, ResolveView,
    StatusView, TagPreviewsView, TaskRow, TasksView,
};

/// A table of text cells.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells are empty, extra cells are dropped).
    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells = cells;
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    /// Aligned columns separated by two spaces; the last column is not padded.
    pub fn to_text(&self) -> String {
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|i| {
                self.rows
                    .iter()
                    .map(|r| r[i].chars().count())
                    .chain(std::iter::once(self.headers[i].chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for cells in std::iter::once(&self.headers).chain(&self.rows) {
            let last = cells.len().saturating_sub(1);
            let mut line = String::new();
            for (i, cell) in cells.iter().enumerate() {
                line.push_str(cell);
                if i < last {
                    line.extend(std::iter::repeat_n(
                        ' ',
                        widths[i] - cell.chars().count() + 2,
                    ));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    /// A Markdown table; `|` in cells is escaped.
    pub fn to_markdown(&self) -> String {
        let esc = |s: &str| s.replace('|', "\\|").replace('\n', " ");
        let mut out = format!(
            "| {} |\n",
            self.headers
                .iter()
                .map(|h| esc(h))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        out.push_str(&format!("|{}\n", " --- |".repeat(self.headers.len())));
        for r in &self.rows {
            out.push_str(&format!(
                "| {} |\n",
                r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(" | ")
            ));
        }
        out
    }

    /// In a format (`Json` renders as text; callers serialize views themselves).
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Markdown => self.to_markdown(),
            _ => self.to_text(),
        }
    }
}

pub use crate::numbers::{price, tokens};

fn yes(b: bool) -> String {
    if b { "yes".into() } else { "-".into() }
}

/// The capability columns of a model row.
pub fn model_cells(m: &ModelRow) -> Vec<String> {
    vec![
        {
            let mut cell = if m.default {
                format!("{} (default)", m.model)
            } else {
                m.model.clone()
            };
            if let Some(h) = &m.health {
                cell.push_str(&format!(" [{h}]"));
            }
            cell
        },
        m.name.clone(),
        m.source.to_string(),
        yes(m.image),
        yes(m.tool_call),
        yes(m.reasoning),
        tokens(m.context),
        format!(
            "{}/{}",
            crate::numbers::price_or_unknown(m.cost_input),
            crate::numbers::price_or_unknown(m.cost_output)
        ),
    ]
}

/// The models view as a table.
pub fn models(view: &ModelsView, format: Format) -> String {
    let mut t = Table::new(&[
        "MODEL",
        "NAME",
        "SOURCE",
        "IMAGE",
        "TOOLS",
        "REASONING",
        "CONTEXT",
        "$/M IN/OUT",
    ]);
    for m in &view.models {
        t.row(model_cells(m));
    }
    let mut out = t.render(format);
    let shown = view.models.len();
    let scope = match view.scope {
        crate::wire::Scope::Configured => "usable",
        crate::wire::Scope::All => "known",
    };
    let more = if shown < view.total {
        format!(" ({shown} shown; a higher --limit shows more)")
    } else {
        String::new()
    };
    out.push_str(&format!(
        "\n{} {scope} models{more} · usable providers: {} · catalog: {} · (default) = the provider's default model\n",
        view.total,
        if view.usable_providers.is_empty() {
            "none".to_owned()
        } else {
            view.usable_providers.join(", ")
        },
        view.catalog
    ));
    for w in &view.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}

/// The resolve view: the answer, its reason, and the ranked candidates.
pub fn resolve(view: &ResolveView, format: Format) -> String {
    let r = &view.resolution;
    let m = &r.metadata;
    let caps = &m.capabilities;
    let mut facts = Table::new(&["FIELD", "VALUE"]);
    let mut fact = |k: &str, v: String| facts.row(vec![k.to_owned(), v]);
    fact("reference", r.model_ref.clone());
    if let Some(w) = &view.worker {
        fact("worker", w.clone());
    }
    fact("resolved", r.resolved_model.clone());
    fact("policy", r.policy.to_string());
    fact("reason", r.reason.clone());
    fact(
        "provider",
        format!(
            "{} (source {}, {})",
            m.provider,
            m.provider_source,
            if m.usable { "usable" } else { "NOT usable" }
        ),
    );
    fact(
        "model",
        format!(
            "{} · context {} · output {} · image {} · tools {} · reasoning {} · ${}/{} per M tokens · {}",
            m.name,
            tokens(m.context),
            tokens(m.output),
            yes(caps.input.image),
            yes(caps.tool_call),
            yes(caps.reasoning),
            price(m.cost.input),
            price(m.cost.output),
            m.status
        ),
    );
    for s in &m.skipped {
        fact("skipped", format!("{} ({})", s.reference, s.why));
    }
    let mut out = match format {
        Format::Markdown => facts.to_markdown(),
        _ => {
            // Key/value lines read better than a table with a header.
            let text = facts.to_text();
            text.lines().skip(1).map(|l| format!("{l}\n")).collect()
        }
    };
    let mut c = Table::new(&["#", "CANDIDATE", "SCORE", "USABLE", "WHY"]);
    for (i, cand) in m.candidates.iter().enumerate() {
        c.row(vec![
            (i + 1).to_string(),
            cand.model.clone(),
            cand.score.to_string(),
            yes(cand.usable),
            cand.notes.clone(),
        ]);
    }
    out.push_str(&format!(
        "\ncandidates ({} considered, best {} shown):\n",
        m.considered,
        m.candidates.len()
    ));
    out.push_str(&c.render(format));
    out
}

/// The tag-previews view: each tag, what it resolves to for the worker, and why.
pub fn tag_previews(view: &TagPreviewsView, format: Format) -> String {
    let mut t = Table::new(&["TAG", "KIND", "RESOLVED", "REASON"]);
    for p in &view.tags {
        let (resolved, reason) = match (&p.resolution, &p.error) {
            (Some(r), _) => (r.resolved_model.clone(), r.reason.clone()),
            (None, Some(e)) => ("(none)".to_owned(), e.message.clone()),
            (None, None) => ("(none)".to_owned(), String::new()),
        };
        t.row(vec![
            p.tag.clone(),
            if p.user { "user" } else { "built-in" }.to_owned(),
            resolved,
            reason,
        ]);
    }
    format!("tags for worker {}\n{}", view.worker, t.render(format))
}

/// The profiles view.
pub fn profiles(view: &ProfilesView, format: Format) -> String {
    let mut t = Table::new(&[
        "WORKER",
        "NAME",
        "MODEL REF",
        "RESOLVED",
        "BACKEND",
        "VISION",
        "WEB",
        "REASON",
    ]);
    for p in &view.profiles {
        t.row(vec![
            p.id.clone(),
            p.name.clone(),
            p.model_ref.clone(),
            p.resolved_model.clone().unwrap_or_else(|| "(none)".into()),
            p.backend.to_string(),
            yes(p.vision),
            yes(p.web),
            p.reason.clone(),
        ]);
    }
    let mut out = t.render(format);
    if !view.tags.is_empty() {
        let mut tags = Table::new(&["TAG", "REFERENCES (first that resolves wins)"]);
        for tag in &view.tags {
            tags.row(vec![tag.tag.clone(), tag.refs.join(" > ")]);
        }
        out.push('\n');
        out.push_str(&tags.render(format));
    }
    if !view.files.is_empty() {
        out.push_str(&format!("\nfrom: {}\n", view.files.join(", ")));
    }
    out
}

/// `850 ms`, `1.2 s`, `3 min 4 s`.
pub fn duration_ms(ms: u64) -> String {
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

fn or_dash(s: Option<&str>) -> String {
    s.filter(|s| !s.is_empty()).unwrap_or("-").to_owned()
}

/// The marker of a worker's model that the user set, in every client (the CLI's tables,
/// the TUI): `*`. A provider's default model is marked `(default)` instead.
pub const SET_BY_YOU: &str = "*";

/// The first columns of every workers table (this one and the TUI's).
pub const WORKER_COLUMNS: [&str; 6] = [
    "WORKER",
    "STATUS",
    "MODEL REF",
    "RESOLVED",
    "POLICY",
    "ANSWERED BY",
];

/// The workers view: each worker's model, why, and the model that really answered.
pub fn workers(view: &WorkersView, format: Format) -> String {
    let mut head = WORKER_COLUMNS.to_vec();
    head.extend(["VISION", "PORT"]);
    // The cost columns once a worker has a task on record (issue 12).
    let costs = view.workers.iter().any(|w| w.usage.is_some());
    if costs {
        head.extend(["TODAY", "7 DAYS"]);
    }
    head.push("REASON");
    let mut t = Table::new(&head);
    for w in &view.workers {
        let mut cells = vec![
            w.id.clone(),
            w.status.to_string(),
            if w.overridden {
                format!("{} {SET_BY_YOU}", w.model_ref)
            } else {
                w.model_ref.clone()
            },
            w.resolved_model.clone().unwrap_or_else(|| "(none)".into()),
            w.policy.to_string(),
            or_dash(w.answered_by.as_deref()),
            yes(w.vision),
            w.port.map_or_else(|| "-".to_owned(), |p| p.to_string()),
        ];
        if costs {
            let cell =
                |s: Option<&crate::usage::Sum>| s.map_or_else(|| "-".to_owned(), |s| s.cell());
            cells.push(cell(w.usage.as_ref().map(|u| &u.today)));
            cells.push(cell(w.usage.as_ref().map(|u| &u.last_7_days)));
        }
        cells.push({
            let mut reason = match (&w.error, &w.warning) {
                (Some(e), _) => format!("{} (error: {e})", w.reason),
                (None, Some(warning)) => format!("{} (warning: {warning})", w.reason),
                (None, None) => w.reason.clone(),
            };
            if let Some(f) = &w.fallback {
                reason.push_str(&format!(" (last task: {f})"));
            }
            reason
        });
        t.row(cells);
    }
    let mut out = t.render(format);
    if let Some(u) = view.usage.as_ref().filter(|u| u.project.all_time.tasks > 0) {
        out.push_str(&format!(
            "\nproject usage: today {} · 7 days {} · all time {} (UTC days; orch usage for more)\n",
            u.project.today.cell(),
            u.project.last_7_days.cell(),
            u.project.all_time.cell()
        ));
    }
    // A model that does not fit (set with --force) is said once more, under the table,
    // where a long reason cannot hide it.
    for w in view.workers.iter() {
        if let Some(warning) = &w.warning {
            out.push_str(&format!("\nwarning: {}: {warning}\n", w.id));
        }
    }
    // Budgets (issue 12), under the table: the project's, then each worker's nearest its limit.
    let budgets: Vec<&crate::budget::BudgetStatus> = view
        .budgets
        .iter()
        // A row showing the project's limit repeats `view.budgets`: said once.
        .chain(
            view.workers
                .iter()
                .filter_map(|w| w.budget.as_ref())
                .filter(|b| b.worker.is_some()),
        )
        .collect();
    if !budgets.is_empty() {
        out.push('\n');
        for b in budgets {
            out.push_str(&budget_line(b));
            out.push('\n');
        }
    }
    if view.workers.iter().any(|w| w.overridden) {
        out.push_str(&format!("\n{SET_BY_YOU} = set by you (worker-model-set); worker-model-reset restores the profile's model\n"));
    }
    if !view.project.is_empty() {
        out.push_str(&format!("\nproject: {}\n", view.project));
    }
    out
}

/// `budget over: worker coder: $0.06 of $0.05 per day (120 %), resets ... (new tasks are refused)`.
pub fn budget_line(b: &crate::budget::BudgetStatus) -> String {
    let state = match b.state {
        crate::budget::State::Ok => "budget",
        crate::budget::State::Warn => "budget warn",
        crate::budget::State::Over => "budget over",
    };
    let then = match (b.state, b.over) {
        (crate::budget::State::Over, crate::budget::Over::Refuse) => " (new tasks are refused)",
        (crate::budget::State::Over, crate::budget::Over::Downgrade) => {
            " (new tasks run on the cheapest model that fits)"
        }
        _ => "",
    };
    format!("{state}: {}{then}", b.line())
}

/// One worker after a model change: worker, reference, resolved model, policy, reason.
pub fn worker(w: &WorkerRow, format: Format) -> String {
    let mut t = Table::new(&["FIELD", "VALUE"]);
    t.row(vec!["worker".into(), w.id.clone()]);
    t.row(vec!["ref".into(), w.model_ref.clone()]);
    t.row(vec![
        "resolved".into(),
        w.resolved_model.clone().unwrap_or_else(|| "(none)".into()),
    ]);
    t.row(vec!["policy".into(), w.policy.to_string()]);
    t.row(vec!["reason".into(), w.reason.clone()]);
    if let Some(warning) = &w.warning {
        t.row(vec!["warning".into(), warning.clone()]);
    }
    key_values(&t, format)
}

/// A worker's model change: each field as `before → after` where it changed (`worker`
/// alone when the row before is unknown), and for a partial name, what it resolved to and
/// that it is stored as typed.
pub fn worker_change(
    before: Option<&WorkerRow>,
    after: &WorkerRow,
    partial: bool,
    format: Format,
) -> String {
    let change = |was: Option<String>, now: String| match was {
        Some(was) if was != now => format!("{was} → {now}"),
        _ => now,
    };
    let reference = |w: &WorkerRow| {
        if w.overridden {
            format!("{} {SET_BY_YOU}", w.model_ref)
        } else {
            w.model_ref.clone()
        }
    };
    let resolved = |w: &WorkerRow| w.resolved_model.clone().unwrap_or_else(|| "(none)".into());
    let mut t = Table::new(&["FIELD", "VALUE"]);
    t.row(vec!["worker".into(), after.id.clone()]);
    t.row(vec![
        "ref".into(),
        change(before.map(reference), reference(after)),
    ]);
    t.row(vec![
        "resolved".into(),
        change(before.map(resolved), resolved(after)),
    ]);
    t.row(vec![
        "policy".into(),
        change(
            before.map(|w| w.policy.to_string()),
            after.policy.to_string(),
        ),
    ]);
    t.row(vec!["reason".into(), after.reason.clone()]);
    if partial && let Some(model) = &after.resolved_model {
        t.row(vec![
            "note".into(),
            format!(
                "\"{}\" is a partial name: it is stored as typed and resolved again when your providers change; to keep {model} whatever comes, set {model}",
                after.model_ref
            ),
        ]);
    }
    key_values(&t, format)
}

/// Key/value lines on a terminal, a two-column table in Markdown.
fn key_values(t: &Table, format: Format) -> String {
    match format {
        Format::Markdown => t.to_markdown(),
        _ => t
            .to_text()
            .lines()
            .skip(1)
            .map(|l| format!("{l}\n"))
            .collect(),
    }
}

/// `fake/a: rate_limited 429 after 120 ms; fake/b: answered after 300 ms`.
pub fn attempts(list: &[Attempt]) -> String {
    list.iter()
        .map(|a| {
            let how = match (a.class, a.status_code) {
                (None, _) => "answered".to_owned(),
                (Some(c), Some(code)) => format!("{c} {code}"),
                (Some(c), None) => c.to_string(),
            };
            format!("{}: {how} after {}", a.model, duration_ms(a.elapsed_ms))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn model_cell(r: &TaskRow) -> String {
    match (&r.requested_ref, &r.resolved_model) {
        (Some(a), Some(b)) if a == b => a.clone(),
        (Some(a), Some(b)) => format!("{a} → {b}"),
        (Some(a), None) => a.clone(),
        (None, Some(b)) => b.clone(),
        (None, None) => "-".into(),
    }
}

fn what(r: &TaskRow) -> String {
    match (r.op, &r.task) {
        (Some(op), _) => op.as_str().to_owned(),
        (None, Some(t)) => t.replace('\n', " "),
        (None, None) => "-".into(),
    }
}

/// The tasks view, newest first.
pub fn tasks(view: &TasksView, format: Format) -> String {
    let mut t = Table::new(&[
        "ID",
        "KIND",
        "STATUS",
        "WORKER",
        "MODEL",
        "ANSWERED BY",
        "DURATION",
        "TASK",
    ]);
    for r in &view.tasks {
        t.row(vec![
            r.id.clone(),
            r.kind.as_str().to_owned(),
            r.status.as_str().to_owned(),
            or_dash(r.worker.as_deref()),
            model_cell(r),
            match r.attempts.len() {
                0 | 1 => or_dash(r.answered_by.as_deref()),
                n => format!(
                    "{} (fell back {}×)",
                    or_dash(r.answered_by.as_deref()),
                    n - 1
                ),
            },
            r.duration_ms.map_or_else(|| "-".to_owned(), duration_ms),
            what(r),
        ]);
    }
    let mut out = if view.tasks.is_empty() {
        "no tasks\n".to_owned()
    } else {
        t.render(format)
    };
    out.push_str(&format!(
        "\n{} shown of {} · {} active · the newest {} finished tasks are kept\n",
        view.tasks.len(),
        view.total,
        view.active,
        view.capacity
    ));
    out
}

/// One task in full: its facts, then its output.
pub fn task(r: &TaskRow, format: Format) -> String {
    let mut t = Table::new(&["FIELD", "VALUE"]);
    let mut fact = |k: &str, v: String| t.row(vec![k.to_owned(), v]);
    fact("task", r.id.clone());
    fact("status", r.status.as_str().to_owned());
    fact(
        "worker",
        format!(
            "{} (kind {})",
            or_dash(r.worker.as_deref()),
            r.kind.as_str()
        ),
    );
    if let Some(route) = &r.route {
        fact("route", route.clone());
    }
    if let Some(op) = r.op {
        fact("op", op.as_str().to_owned());
    }
    fact("model", model_cell(r));
    if let Some(p) = r.policy {
        fact("policy", p.to_string());
    }
    if let Some(reason) = &r.reason {
        fact("reason", reason.clone());
    }
    if r.op.is_none() {
        fact("answered by", or_dash(r.answered_by.as_deref()));
    }
    if let Some(hops) = Attempt::hops(&r.attempts) {
        fact("fallback", hops);
    }
    if !r.attempts.is_empty() {
        fact("attempts", attempts(&r.attempts));
    }
    if let Some(d) = r.duration_ms {
        fact("duration", duration_ms(d));
    }
    if let Some(u) = &r.usage {
        fact("usage", u.line());
    }
    if let Some(e) = &r.error {
        let mut msg = e.message.clone();
        if !e.suggestions.is_empty() {
            msg.push_str(&format!(" (suggestions: {})", e.suggestions.join(", ")));
        }
        fact("error", msg);
    }
    let mut out = match format {
        Format::Markdown => format!(
            "### Task {}: {}\n\n{}",
            r.id,
            r.status.as_str(),
            t.to_markdown()
        ),
        _ => key_values(&t, format),
    };
    if let Some(text) = r.output.as_deref().filter(|_| r.op.is_none()) {
        out.push_str("\noutput:\n");
        out.push_str(text);
        if !text.ends_with('\n') {
            out.push('\n');
        }
        if r.output_truncated {
            out.push_str("(output cut at the stored limit)\n");
        }
    }
    out
}

/// What `task_await` and `task_peek` show: every task in full.
pub fn awaited(view: &AwaitView, format: Format) -> String {
    let mut out = String::new();
    for (i, r) in view.tasks.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&task(r, format));
    }
    if view.timed_out {
        let running: Vec<&str> = view
            .tasks
            .iter()
            .filter(|r| !r.status.is_finished())
            .map(|r| r.id.as_str())
            .collect();
        out.push_str(&format!(
            "\nstill running: {}; await again, or cancel\n",
            running.join(", ")
        ));
    }
    if !view.unknown.is_empty() {
        out.push_str(&format!(
            "\nunknown tasks: {} (finished tasks are forgotten oldest first)\n",
            view.unknown.join(", ")
        ));
    }
    out
}

/// The health view: models and providers with failures on record, and what tags and
/// chains do with them now.
pub fn health(view: &HealthView, format: Format) -> String {
    let mut out = if view.models.is_empty() {
        "no failures on record: every model is healthy\n".to_owned()
    } else {
        let mut t = Table::new(&["MODEL", "STATE", "FAILURES", "LAST", "COOLDOWN", "ERROR"]);
        for r in &view.models {
            t.row(vec![
                r.model.clone(),
                r.state.clone(),
                r.consecutive_failures.to_string(),
                match (r.last_class, r.last_status_code) {
                    (Some(c), Some(code)) => format!("{c} {code}"),
                    (Some(c), None) => c.to_string(),
                    (None, _) => "-".into(),
                },
                match (r.state.as_str(), r.cooldown_left_s) {
                    ("unusable", _) => "until its credentials or config change".into(),
                    (_, Some(s)) => format!("{s} s"),
                    _ => "-".into(),
                },
                or_dash(r.last_error.as_deref()),
            ]);
        }
        t.render(format)
    };
    if let Some(p) = &view.path {
        out.push_str(&format!("\nkept in {}\n", p.display()));
    }
    out
}

/// A task that was just started.
pub fn started(r: &TaskRow, format: Format) -> String {
    let model = model_cell(r);
    match format {
        Format::Markdown => format!(
            "Started task **{}** (kind {}, worker {}, model {model}). Call task_await with {{\"taskId\": \"{}\"}} for the result.\n",
            r.id,
            r.kind.as_str(),
            or_dash(r.worker.as_deref()),
            r.id
        ),
        _ => format!(
            "{}  {}  worker {}  model {model}\n",
            r.id,
            r.status.as_str(),
            or_dash(r.worker.as_deref())
        ),
    }
}

/// What `task_cancel` did.
pub fn cancelled(view: &CancelView, format: Format) -> String {
    let mut t = Table::new(&["ID", "OUTCOME", "STATUS"]);
    for r in &view.results {
        t.row(vec![
            r.id.clone(),
            match r.outcome {
                CancelOutcome::Cancelled => "cancelled (session aborted)",
                CancelOutcome::AlreadyFinished => "already finished",
                CancelOutcome::NotCancellable => "not cancellable (an operation being applied)",
                CancelOutcome::NotFound => "not found",
            }
            .to_owned(),
            r.status.map_or("-", |s| s.as_str()).to_owned(),
        ]);
    }
    t.render(format)
}

/// The backend's status and paths.
pub fn status(v: &StatusView, format: Format) -> String {
    let mut t = Table::new(&["FIELD", "VALUE"]);
    let mut fact = |k: &str, v: String| t.row(vec![k.to_owned(), v]);
    fact("version", v.version.clone());
    fact("pid", v.pid.to_string());
    fact("socket", or_dash(v.socket.as_deref()));
    fact("socket candidates", v.socket_candidates.join(", "));
    for skipped in &v.skipped_sockets {
        fact("skipped socket", skipped.clone());
    }
    fact("max message", format!("{} bytes", v.max_message_bytes));
    fact("project", v.project_dir.clone());
    if !v.project_key.is_empty() {
        fact("project key", v.project_key.clone());
    }
    if !v.env_key.is_empty() {
        let from = if v.env_vars.is_empty() {
            "no variable".to_owned()
        } else {
            v.env_vars.join(", ")
        };
        fact("env key", format!("{} (from {from})", v.env_key));
    }
    fact("state dir", v.state_dir.clone());
    fact("log file", v.log_file.clone());
    fact("uptime", duration_ms(v.uptime_ms));
    fact("connections", v.connections.to_string());
    fact(
        "tasks",
        format!(
            "{} active, {} kept (finished kept at most {})",
            v.active_tasks, v.kept_tasks, v.task_capacity
        ),
    );
    fact("workers", v.workers.to_string());
    fact(
        "providers",
        format!("{} source, catalog {}", v.source, v.catalog),
    );
    fact(
        "usable providers",
        if v.usable_providers.is_empty() {
            "none".into()
        } else {
            v.usable_providers.join(", ")
        },
    );
    for w in &v.warnings {
        fact("warning", w.clone());
    }
    key_values(&t, format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_and_markdown_escapes() {
        let mut t = Table::new(&["A", "BB"]);
        t.row(vec!["long cell".into(), "x|y".into()]);
        assert_eq!(t.to_text(), "A          BB\nlong cell  x|y\n");
        assert_eq!(
            t.to_markdown(),
            "| A | BB |\n| --- | --- |\n| long cell | x\\|y |\n"
        );
    }

    #[test]
    fn workers_show_budgets_under_the_table_once_and_nothing_without_one() {
        use crate::budget::{BudgetStatus, Over, Period, State, Unit};
        let knowledge = crate::knowledge::Knowledge::new(
            crate::sources::ProviderSet::default(),
            crate::profiles::Profiles::builtin(),
        );
        let plain = crate::views::idle_workers(&knowledge);
        let before = workers(&plain, Format::Table);
        assert!(!before.contains("budget"), "{before}");
        let status = |worker: Option<&str>, spent: f64, state: State| BudgetStatus {
            worker: worker.map(str::to_owned),
            period: Period::Day,
            unit: Unit::Usd,
            limit: 0.05,
            spent,
            state,
            resets_at: "2026-11-28T00:00:00Z".to_owned(),
            unknown_cost: 0,
            over: Over::Refuse,
        };
        let mut view = plain.clone();
        view.budgets = vec![status(None, 0.01, State::Ok)];
        for w in &mut view.workers {
            w.budget = Some(status(None, 0.01, State::Ok));
        }
        if let Some(coder) = view.workers.iter_mut().find(|w| w.id == "coder") {
            coder.budget = Some(status(Some("coder"), 0.06, State::Over));
        }
        let text = workers(&view, Format::Table);
        assert!(
            text.starts_with(&before[..before.find('\n').unwrap_or(0)]),
            "{text}"
        );
        assert_eq!(text.matches("the project: ").count(), 1, "{text}");
        assert!(
            text.contains("budget over: worker coder: $0.0600 of $0.0500 per day (120 %), resets 2026-11-28 00:00 UTC (new tasks are refused)"),
            "{text}"
        );
        let json = serde_json::to_value(&plain).expect("serializes");
        assert!(json.get("budgets").is_none());
        assert!(json["workers"][0].get("budget").is_none());
    }

    #[test]
    fn numbers() {
        // The rule and its cases live in `crate::numbers`; unknown was `-`, now `?`.
        assert_eq!(tokens(0), "?");
        assert_eq!(tokens(131_072), "131k");
        assert_eq!(tokens(1_000_000), "1M");
        assert_eq!(tokens(1_048_576), "1.05M");
        assert_eq!(price(0.0), "0");
        assert_eq!(price(0.15), "0.15");
        assert_eq!(price(3.0), "3");
        assert_eq!(duration_ms(850), "850 ms");
        assert_eq!(duration_ms(1250), "1.2 s");
        assert_eq!(duration_ms(184_000), "3 min 4 s");
    }

    #[test]
    fn workers_show_cost_columns_and_the_project_line_once_a_task_is_on_record() {
        let row = |id: &str| WorkerRow {
            id: id.to_owned(),
            name: id.to_owned(),
            status: crate::wire::WorkerStatus::Idle,
            backend: crate::profiles::BackendKind::default(),
            model_ref: "node".into(),
            resolved_model: Some("fake/big-pro".into()),
            policy: crate::resolve::Policy::Dynamic,
            reason: "why".into(),
            overridden: false,
            answered_by: None,
            vision: false,
            pid: None,
            url: None,
            port: None,
            session_id: None,
            error: None,
            warning: None,
            fallback: None,
            hosting: None,
            budget: None,
            usage: None,
        };
        let mut view = WorkersView {
            workers: vec![row("coder"), row("docs")],
            ..WorkersView::default()
        };
        let plain = workers(&view, Format::Table);
        assert!(
            !plain.contains("TODAY") && !plain.contains("project usage"),
            "{plain}"
        );
        let sum = |tasks, cost, unknown| crate::usage::Sum {
            tasks,
            unknown_cost: unknown,
            usage: crate::usage::Usage {
                input: Some(100),
                output: Some(20),
                cost_usd: cost,
                ..crate::usage::Usage::default()
            },
        };
        let w = crate::usage::Windows {
            today: sum(1, Some(0.0123), 0),
            last_7_days: sum(2, Some(0.0123), 1),
            all_time: sum(3, None, 3),
        };
        view.workers[0].usage = Some(w.clone());
        view.usage = Some(crate::usage::UsageWindows {
            project: w,
            ..crate::usage::UsageWindows::default()
        });
        let text = workers(&view, Format::Table);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].contains("TODAY") && lines[0].contains("7 DAYS"),
            "{text}"
        );
        assert!(lines[1].contains("$0.01 · 120 tok"), "{text}");
        assert!(lines[1].contains("$0.01 + 1 unknown · 120 tok"), "{text}");
        // A worker without a task on record: dashes, not 0.
        assert!(lines[2].contains(" -  "), "{text}");
        assert!(
            text.contains("project usage: today $0.01 · 120 tok · 7 days $0.01 + 1 unknown · 120 tok · all time cost unknown · 120 tok"),
            "{text}"
        );
        let json = serde_json::to_value(&view).expect("serializes");
        assert_eq!(
            json["workers"][0]["usage"]["all_time"]["usage"]["cost_usd"],
            serde_json::Value::Null
        );
        assert!(json["workers"][1].get("usage").is_none());
    }

    #[test]
    fn a_task_shows_its_usage_on_one_line_and_unknown_cost_as_unknown() {
        let mut row = TaskRow::queued(crate::wire::TaskKind::Worker, "coder", None, 1);
        row.id = "t1".into();
        assert!(!task(&row, Format::Table).contains("usage"));
        row.usage = Some(crate::usage::Usage {
            input: Some(5),
            output: Some(3),
            total_ms: Some(1500),
            ..crate::usage::Usage::default()
        });
        let text = task(&row, Format::Table);
        let line = text
            .lines()
            .find(|l| l.starts_with("usage"))
            .expect("a usage line");
        assert!(line.contains("5 in, 3 out"), "{line}");
        assert!(line.contains("cost unknown"), "{line}");
        assert!(!line.contains("$0"), "{line}");
    }
}
