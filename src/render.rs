//! Human renderings of the views: aligned tables for terminals, Markdown for the
//! OpenCode TUI and for LLMs reading MCP results. JSON is the views themselves.

use crate::wire::{Format, ModelRow, ModelsView, ProfilesView, ResolveView};

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

/// `128k`, `1M`, or `-` when unknown.
pub fn tokens(n: u64) -> String {
    match n {
        0 => "-".into(),
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000_000 => format!("{:.1}M", n as f64 / 1_000_000.0),
        n if n >= 1000 => format!("{}k", n / 1000),
        n => n.to_string(),
    }
}

/// A price per million tokens: `0`, `0.15`, `3`, `-` never (0 is shown as 0).
pub fn price(p: f64) -> String {
    if p == 0.0 {
        "0".into()
    } else {
        let s = format!("{p:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

fn yes(b: bool) -> String {
    if b { "yes".into() } else { "-".into() }
}

/// The capability columns of a model row.
pub fn model_cells(m: &ModelRow) -> Vec<String> {
    vec![
        if m.default {
            format!("{} *", m.model)
        } else {
            m.model.clone()
        },
        m.name.clone(),
        m.source.clone(),
        yes(m.image),
        yes(m.tool_call),
        yes(m.reasoning),
        tokens(m.context),
        format!("{}/{}", price(m.cost_input), price(m.cost_output)),
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
        format!(" (first {shown} of {}; use --limit)", view.total)
    } else {
        String::new()
    };
    out.push_str(&format!(
        "\n{} {scope} models{more} · usable providers: {} · catalog: {} · * = provider default\n",
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
            p.backend.clone(),
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
    fn numbers() {
        assert_eq!(tokens(0), "-");
        assert_eq!(tokens(131_072), "131k");
        assert_eq!(tokens(1_000_000), "1M");
        assert_eq!(tokens(1_048_576), "1.0M");
        assert_eq!(price(0.0), "0");
        assert_eq!(price(0.15), "0.15");
        assert_eq!(price(3.0), "3");
    }
}
