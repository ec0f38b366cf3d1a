//! What a task cost: tokens, money and time (issue 12).
//!
//! Tokens come from OpenCode's assistant message (`info.tokens`); the cost from its
//! `info.cost` when that is above 0. When OpenCode reports 0, the cost is computed from the
//! catalog prices of the model that ran and marked `estimated`; when the catalog has no
//! price either, the cost is unknown (`null`), never 0, unless the model is known to be
//! free ([`known_free`]). See `docs/usage.md`.

use serde::{Deserialize, Serialize};

use crate::catalog::Cost;

/// Tokens, cost and time of one task or one attempt.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Usage {
    /// Input (prompt) tokens, without cache reads.
    #[serde(default)]
    pub input: Option<u64>,
    /// Output tokens, without reasoning.
    #[serde(default)]
    pub output: Option<u64>,
    /// Reasoning tokens.
    #[serde(default)]
    pub reasoning: Option<u64>,
    /// Input tokens read from the provider's cache.
    #[serde(default)]
    pub cache_read: Option<u64>,
    /// Input tokens written to the provider's cache.
    #[serde(default)]
    pub cache_write: Option<u64>,
    /// Cost in US dollars; `null` when unknown (never a made-up 0).
    #[serde(default)]
    pub cost_usd: Option<f64>,
    /// Whether `cost_usd` was computed from the catalog prices rather than reported by OpenCode.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub estimated: bool,
    /// From the prompt reaching OpenCode to the first text or reasoning part, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_token_ms: Option<u64>,
    /// From the prompt to the answer, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_ms: Option<u64>,
}

// `cost_usd` is never NaN (`Usage::of` keeps only finite figures), so equality is total.
impl Eq for Usage {}

/// The token figures of an assistant message (`info.tokens`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Tokens {
    /// Input.
    #[serde(default)]
    pub input: u64,
    /// Output.
    #[serde(default)]
    pub output: u64,
    /// Reasoning.
    #[serde(default)]
    pub reasoning: u64,
    /// Cache.
    #[serde(default)]
    pub cache: CacheTokens,
}

/// `info.tokens.cache`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct CacheTokens {
    /// Read.
    #[serde(default)]
    pub read: u64,
    /// Write.
    #[serde(default)]
    pub write: u64,
}

/// The model a task's usage counts under: the one that answered, else the one resolved,
/// else `-`.
pub fn counted_model<'a>(answered_by: Option<&'a str>, resolved: Option<&'a str>) -> &'a str {
    answered_by.or(resolved).unwrap_or("-")
}

/// Whether a model is known to cost nothing: OpenCode Zen's `…-free` models and
/// OpenRouter's `…:free` ones. A 0 price in the catalog alone does not say so (it also
/// means "unknown").
pub fn known_free(model_id: &str) -> bool {
    let id = model_id.to_ascii_lowercase();
    id.ends_with("-free") || id.ends_with(":free") || id.contains("-free-")
}

/// Whether the catalog gives this model a price.
pub fn has_price(cost: &Cost) -> bool {
    !cost.unknown && (cost.input > 0.0 || cost.output > 0.0)
}

/// Dollars for these tokens at these prices (per million tokens). Reasoning tokens are
/// billed as output.
pub fn estimate(tokens: &Tokens, price: &Cost) -> f64 {
    let m = 1_000_000.0;
    (tokens.input as f64 * price.input
        + (tokens.output + tokens.reasoning) as f64 * price.output
        + tokens.cache.read as f64 * price.cache_read
        + tokens.cache.write as f64 * price.cache_write)
        / m
}

impl Usage {
    /// The usage of one answer: OpenCode's figures (`tokens`, `cost`), the catalog
    /// prices of the model that ran (`price`) and its id, and the times.
    pub fn of(
        tokens: Option<&Tokens>,
        reported_cost: Option<f64>,
        price: &Cost,
        model_id: &str,
        first_token_ms: Option<u64>,
        total_ms: Option<u64>,
    ) -> Self {
        let (cost_usd, estimated) = match (reported_cost, tokens) {
            (Some(c), _) if c > 0.0 && c.is_finite() => (Some(c), false),
            (_, Some(t)) if has_price(price) => (Some(estimate(t, price)), true),
            (_, Some(_)) if known_free(model_id) => (Some(0.0), false),
            _ => (None, false),
        };
        Self {
            input: tokens.map(|t| t.input),
            output: tokens.map(|t| t.output),
            reasoning: tokens.map(|t| t.reasoning),
            cache_read: tokens.map(|t| t.cache.read),
            cache_write: tokens.map(|t| t.cache.write),
            cost_usd,
            estimated,
            first_token_ms,
            total_ms,
        }
    }

    /// Adds `other` to this: tokens and cost sum (unknown stays unknown only when both
    /// are), `estimated` when either was, times add.
    pub fn add(&mut self, other: &Usage) {
        fn sum<T: std::ops::Add<Output = T> + Copy>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            }
        }
        self.input = sum(self.input, other.input);
        self.output = sum(self.output, other.output);
        self.reasoning = sum(self.reasoning, other.reasoning);
        self.cache_read = sum(self.cache_read, other.cache_read);
        self.cache_write = sum(self.cache_write, other.cache_write);
        self.cost_usd = sum(self.cost_usd, other.cost_usd);
        self.estimated |= other.estimated;
        self.total_ms = sum(self.total_ms, other.total_ms);
        if self.first_token_ms.is_none() {
            self.first_token_ms = other.first_token_ms;
        }
    }

    /// One line: `5 in, 3 out, 0 reasoning, cache 0/0 · $0.0012 (estimate) · first token 120 ms · 2.1 s`.
    pub fn line(&self) -> String {
        let n = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
        let mut out = format!(
            "{} in, {} out, {} reasoning, cache {} read/{} write",
            n(self.input),
            n(self.output),
            n(self.reasoning),
            n(self.cache_read),
            n(self.cache_write)
        );
        out.push_str(" · ");
        out.push_str(&cost_text(self.cost_usd, self.estimated));
        if let Some(ms) = self.first_token_ms {
            out.push_str(&format!(
                " · first token {}",
                crate::render::duration_ms(ms)
            ));
        }
        if let Some(ms) = self.total_ms {
            out.push_str(&format!(" · {}", crate::render::duration_ms(ms)));
        }
        out
    }
}

impl Usage {
    /// Reads a usage kept as JSON (a task record's `usage`) field by field: what summing
    /// many records does, faster than a generic decode. `None` when it is not an object.
    pub fn from_value(v: &serde_json::Value) -> Option<Self> {
        let o = v.as_object()?;
        let n = |k: &str| o.get(k).and_then(serde_json::Value::as_u64);
        Some(Self {
            input: n("input"),
            output: n("output"),
            reasoning: n("reasoning"),
            cache_read: n("cache_read"),
            cache_write: n("cache_write"),
            cost_usd: o
                .get("cost_usd")
                .and_then(serde_json::Value::as_f64)
                .filter(|c| c.is_finite()),
            estimated: o
                .get("estimated")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false),
            first_token_ms: n("first_token_ms"),
            total_ms: n("total_ms"),
        })
    }
}

/// `$0.0012`, `$0.0012 (estimate)` or `cost unknown`.
pub fn cost_text(cost: Option<f64>, estimated: bool) -> String {
    match cost {
        None => "cost unknown".to_owned(),
        Some(c) => {
            let digits = if c == 0.0 || c >= 0.01 { 2 } else { 6 };
            let mut s = format!("${c:.digits$}");
            if estimated {
                s.push_str(" (estimate)");
            }
            s
        }
    }
}

/// What the totals are grouped by.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum By {
    /// One row per worker.
    #[default]
    Worker,
    /// One row per model that answered (`provider/model`).
    Model,
    /// One row per UTC day the task finished (`2026-11-27`).
    Day,
}

impl By {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Worker => "worker",
            Self::Model => "model",
            Self::Day => "day",
        }
    }
}

/// One group of tasks and their summed usage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UsageRow {
    /// The worker, model or day.
    pub key: String,
    /// Tasks with a usage in the group.
    pub tasks: u64,
    /// Of those, tasks whose cost is unknown (left out of `usage.cost_usd`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unknown_cost: u64,
    /// The sums; `cost_usd` is `null` when no task's cost is known.
    pub usage: Usage,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Usage totals of a project (`orch usage`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UsageView {
    /// What the rows are grouped by.
    pub by: By,
    /// Only tasks that finished at or after this time (Unix milliseconds), when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_ms: Option<u64>,
    /// One row per group, sorted by key.
    pub rows: Vec<UsageRow>,
    /// Every group together.
    pub total: UsageRow,
    /// Today, the last 7 days and all time, per worker (or model) and for the project
    /// (absent where the totals were summed without a clock, or `by` is day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<UsageWindows>,
}

/// One finished task as the totals see it.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// The worker.
    pub worker: &'a str,
    /// The model that answered (or was resolved).
    pub model: &'a str,
    /// When it finished (or was created), Unix milliseconds.
    pub at_ms: u64,
    /// Its usage.
    pub usage: &'a Usage,
}

/// `2026-11-27` for a Unix time in milliseconds (UTC).
pub fn day(ms: u64) -> String {
    // Howard Hinnant's days-to-civil algorithm.
    let z = (ms / 86_400_000) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Sums `entries` (those at or after `since_ms`) grouped `by`.
pub fn totals<'a>(
    entries: impl Iterator<Item = Entry<'a>>,
    by: By,
    since_ms: Option<u64>,
) -> UsageView {
    let mut groups: std::collections::BTreeMap<String, UsageRow> =
        std::collections::BTreeMap::new();
    let mut total = UsageRow {
        key: "total".to_owned(),
        ..UsageRow::default()
    };
    // Records come roughly in time order: the day's name is made once per run of a day.
    let mut day_key: (u64, String) = (u64::MAX, String::new());
    for e in entries {
        if since_ms.is_some_and(|s| e.at_ms < s) {
            continue;
        }
        let key = match by {
            By::Worker => e.worker,
            By::Model => e.model,
            By::Day => {
                let n = e.at_ms / 86_400_000;
                if day_key.0 != n {
                    day_key = (n, day(e.at_ms));
                }
                day_key.1.as_str()
            }
        };
        // Look up before allocating: most records fall in a group that exists.
        if !groups.contains_key(key) {
            groups.insert(
                key.to_owned(),
                UsageRow {
                    key: key.to_owned(),
                    ..UsageRow::default()
                },
            );
        }
        let Some(row) = groups.get_mut(key) else {
            continue;
        };
        for r in [row, &mut total] {
            r.tasks += 1;
            r.unknown_cost += u64::from(e.usage.cost_usd.is_none());
            r.usage.add(e.usage);
        }
    }
    // The first-token time of a sum means nothing.
    let rows: Vec<UsageRow> = groups
        .into_values()
        .map(|mut r| {
            r.usage.first_token_ms = None;
            r
        })
        .collect();
    total.usage.first_token_ms = None;
    UsageView {
        by,
        since_ms,
        rows,
        total,
        windows: None,
    }
}

/// One day in milliseconds.
const DAY_MS: u64 = 86_400_000;

/// The tasks of one window and their summed usage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Sum {
    /// Tasks with a usage in the window.
    pub tasks: u64,
    /// Of those, tasks whose cost is unknown (left out of `usage.cost_usd`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unknown_cost: u64,
    /// The sums; `cost_usd` is `null` when no task's cost is known.
    pub usage: Usage,
}

impl Sum {
    fn add(&mut self, u: &Usage) {
        self.tasks += 1;
        self.unknown_cost += u64::from(u.cost_usd.is_none());
        self.usage.add(u);
        // The first-token time of a sum means nothing.
        self.usage.first_token_ms = None;
    }

    /// Every token of the window: input, output, reasoning, cache read and cache write;
    /// `None` when no task reported any.
    pub fn tokens(&self) -> Option<u64> {
        let u = &self.usage;
        [u.input, u.output, u.reasoning, u.cache_read, u.cache_write]
            .into_iter()
            .flatten()
            .reduce(|a, b| a.saturating_add(b))
    }

    /// The cost as a cell: `$0.0123`, `$0.0123 + 1 unknown`, `cost unknown`, with
    /// `(estimate)` when part of it was computed; `$0.00` for a window without tasks.
    pub fn cost_text(&self) -> String {
        if self.tasks == 0 {
            return "$0.00".to_owned();
        }
        let mut cost = cost_text(self.usage.cost_usd, self.usage.estimated);
        if self.unknown_cost > 0 && self.usage.cost_usd.is_some() {
            cost.push_str(&format!(" + {} unknown", self.unknown_cost));
        }
        cost
    }

    /// A cell of a table: `$0.0123 · 1234 tok` (`-` for a window without tasks).
    pub fn cell(&self) -> String {
        if self.tasks == 0 {
            return "-".to_owned();
        }
        let tokens = self
            .tokens()
            .map_or_else(|| "? tok".to_owned(), |t| format!("{t} tok"));
        format!("{} · {tokens}", self.cost_text())
    }
}

/// Today, the last 7 days and all time, for one worker (or model) or the project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Windows {
    /// Tasks that finished today (the current UTC date).
    pub today: Sum,
    /// Tasks that finished today or in the 6 UTC days before.
    pub last_7_days: Sum,
    /// Every task on record.
    pub all_time: Sum,
}

impl Windows {
    fn add(&mut self, at_ms: u64, u: &Usage, today_ms: u64, week_ms: u64) {
        if at_ms >= today_ms {
            self.today.add(u);
        }
        if at_ms >= week_ms {
            self.last_7_days.add(u);
        }
        self.all_time.add(u);
    }
}

/// One worker's (or model's) windows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct WindowRow {
    /// The worker or model.
    pub key: String,
    /// Its sums.
    pub windows: Windows,
}

/// Totals for today, the last 7 days and all time, per key and for the project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UsageWindows {
    /// Today's UTC date (`2026-11-27`): the `today` window.
    pub today: String,
    /// The first UTC date of the `last_7_days` window (6 days before today).
    pub week_from: String,
    /// One row per worker (or model), sorted by key.
    pub rows: Vec<WindowRow>,
    /// Every task of the project.
    pub project: Windows,
}

impl UsageWindows {
    /// The windows of `key`, when it has a task on record.
    pub fn of(&self, key: &str) -> Option<&Windows> {
        self.rows.iter().find(|r| r.key == key).map(|r| &r.windows)
    }
}

/// Sums `entries` in one pass into today (the UTC date of `now_ms`), the last 7 days
/// (today and the 6 UTC days before) and all time, per worker or model (`by`; a `by`
/// day keys rows by worker) and for the project.
pub fn windows<'a>(entries: impl Iterator<Item = Entry<'a>>, by: By, now_ms: u64) -> UsageWindows {
    let today_ms = now_ms - now_ms % DAY_MS;
    let week_ms = today_ms.saturating_sub(6 * DAY_MS);
    let mut groups: std::collections::BTreeMap<&'a str, Windows> =
        std::collections::BTreeMap::new();
    let mut project = Windows::default();
    for e in entries {
        let key = match by {
            By::Model => e.model,
            By::Worker | By::Day => e.worker,
        };
        groups
            .entry(key)
            .or_default()
            .add(e.at_ms, e.usage, today_ms, week_ms);
        project.add(e.at_ms, e.usage, today_ms, week_ms);
    }
    UsageWindows {
        today: day(today_ms),
        week_from: day(week_ms),
        rows: groups
            .into_iter()
            .map(|(key, windows)| WindowRow {
                key: key.to_owned(),
                windows,
            })
            .collect(),
        project,
    }
}

/// The windows as a table: one row per key, then the project; each cell the cost and
/// the tokens.
pub fn render_windows(w: &UsageWindows, key: &str, format: crate::wire::Format) -> String {
    let mut t = crate::render::Table::new(&[
        &key.to_uppercase(),
        &format!("TODAY ({})", w.today),
        &format!("7 DAYS (from {})", w.week_from),
        "ALL TIME",
    ]);
    let project = WindowRow {
        key: "project".to_owned(),
        windows: w.project.clone(),
    };
    for r in w.rows.iter().chain(std::iter::once(&project)) {
        t.row(vec![
            r.key.clone(),
            r.windows.today.cell(),
            r.windows.last_7_days.cell(),
            r.windows.all_time.cell(),
        ]);
    }
    t.render(format)
}

/// `orch usage` as a table or Markdown (JSON is the view itself).
pub fn render(view: &UsageView, format: crate::wire::Format) -> String {
    let mut t = crate::render::Table::new(&[
        &view.by.as_str().to_uppercase(),
        "TASKS",
        "INPUT",
        "OUTPUT",
        "REASONING",
        "CACHE READ",
        "CACHE WRITE",
        "COST",
    ]);
    let n = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
    for r in view.rows.iter().chain(std::iter::once(&view.total)) {
        let mut cost = cost_text(r.usage.cost_usd, r.usage.estimated);
        if r.unknown_cost > 0 && r.usage.cost_usd.is_some() {
            cost.push_str(&format!(" + {} unknown", r.unknown_cost));
        }
        t.row(vec![
            r.key.clone(),
            r.tasks.to_string(),
            n(r.usage.input),
            n(r.usage.output),
            n(r.usage.reasoning),
            n(r.usage.cache_read),
            n(r.usage.cache_write),
            cost,
        ]);
    }
    if view.rows.is_empty() {
        return "no task with usage recorded\n".to_owned();
    }
    let mut out = t.render(format);
    if let Some(w) = &view.windows {
        out.push('\n');
        let key = match view.by {
            By::Model => "model",
            By::Worker | By::Day => "worker",
        };
        out.push_str(&render_windows(w, key, format));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(input: u64, output: u64) -> Tokens {
        Tokens {
            input,
            output,
            reasoning: 0,
            cache: CacheTokens::default(),
        }
    }

    fn price(input: f64, output: f64) -> Cost {
        Cost {
            input,
            output,
            ..Cost::default()
        }
    }

    #[test]
    fn opencode_cost_wins_when_it_reports_one() {
        let u = Usage::of(
            Some(&tokens(5, 3)),
            Some(0.25),
            &price(1.0, 2.0),
            "m",
            None,
            Some(10),
        );
        assert_eq!(u.cost_usd, Some(0.25));
        assert!(!u.estimated);
        assert_eq!((u.input, u.output), (Some(5), Some(3)));
    }

    #[test]
    fn zero_reported_cost_is_estimated_from_catalog_prices() {
        let t = Tokens {
            input: 1_000_000,
            output: 500_000,
            reasoning: 500_000,
            cache: CacheTokens {
                read: 2_000_000,
                write: 0,
            },
        };
        let p = Cost {
            input: 1.0,
            output: 2.0,
            cache_read: 0.5,
            cache_write: 3.0,
            unknown: false,
        };
        let u = Usage::of(Some(&t), Some(0.0), &p, "m", None, None);
        // 1 + (0.5 + 0.5) * 2 + 2 * 0.5 = 4
        assert_eq!(u.cost_usd, Some(4.0));
        assert!(u.estimated);
    }

    #[test]
    fn no_price_and_no_reported_cost_is_unknown_not_zero() {
        let u = Usage::of(
            Some(&tokens(5, 3)),
            Some(0.0),
            &Cost::default(),
            "big-pro",
            None,
            None,
        );
        assert_eq!(u.cost_usd, None);
        let json = serde_json::to_value(&u).expect("serializes");
        assert_eq!(json["cost_usd"], serde_json::Value::Null);
        assert_eq!(json["input"], 5);
        assert!(json.get("estimated").is_none());
    }

    #[test]
    fn a_known_free_model_costs_zero() {
        let u = Usage::of(
            Some(&tokens(5, 3)),
            Some(0.0),
            &Cost::default(),
            "big-pickle-free",
            None,
            None,
        );
        assert_eq!(u.cost_usd, Some(0.0));
        assert!(known_free("deepseek/deepseek-r1:free"));
        assert!(known_free("nemotron-3-ultra-free"));
        assert!(!known_free("freedom-7b"));
        assert!(!known_free("big-pickle"));
    }

    #[test]
    fn without_tokens_everything_is_unknown() {
        let u = Usage::of(None, None, &price(1.0, 1.0), "m", None, None);
        assert_eq!(u, Usage::default());
        // a negative or NaN figure from the wire is not a cost
        let u = Usage::of(
            Some(&tokens(1, 1)),
            Some(f64::NAN),
            &Cost::default(),
            "m",
            None,
            None,
        );
        assert_eq!(u.cost_usd, None);
    }

    #[test]
    fn sums_keep_unknown_apart_from_zero() {
        let mut a = Usage::of(
            Some(&tokens(5, 3)),
            Some(0.0),
            &Cost::default(),
            "m",
            None,
            Some(100),
        );
        let b = Usage::of(
            Some(&tokens(2, 1)),
            Some(0.5),
            &Cost::default(),
            "m",
            Some(7),
            Some(50),
        );
        a.add(&b);
        assert_eq!((a.input, a.output), (Some(7), Some(4)));
        assert_eq!(a.cost_usd, Some(0.5));
        assert_eq!(a.total_ms, Some(150));
        let mut c = Usage::default();
        c.add(&Usage::default());
        assert_eq!(c.cost_usd, None);
    }

    #[test]
    fn the_line_says_unknown_and_estimate() {
        let u = Usage::of(
            Some(&tokens(5, 3)),
            Some(0.0),
            &Cost::default(),
            "m",
            None,
            Some(1500),
        );
        assert_eq!(
            u.line(),
            "5 in, 3 out, 0 reasoning, cache 0 read/0 write · cost unknown · 1.5 s"
        );
        let u = Usage::of(
            Some(&tokens(1000, 0)),
            None,
            &price(1.0, 0.0),
            "m",
            Some(120),
            None,
        );
        assert_eq!(
            u.line(),
            "1000 in, 0 out, 0 reasoning, cache 0 read/0 write · $0.001000 (estimate) · first token 120 ms"
        );
    }

    #[test]
    fn the_fast_decode_reads_what_serde_writes() {
        let u = Usage::of(
            Some(&tokens(5, 3)),
            Some(0.0),
            &Cost {
                input: 1.0,
                ..Cost::default()
            },
            "m",
            Some(4),
            Some(9),
        );
        let v = serde_json::to_value(&u).expect("serializes");
        assert_eq!(Usage::from_value(&v), Some(u));
        let unknown = Usage::of(Some(&tokens(5, 3)), None, &Cost::default(), "m", None, None);
        let v = serde_json::to_value(&unknown).expect("serializes");
        assert_eq!(Usage::from_value(&v), Some(unknown));
        assert_eq!(Usage::from_value(&serde_json::json!(3)), None);
    }

    #[test]
    fn days_are_utc_dates() {
        assert_eq!(day(0), "1970-01-01");
        assert_eq!(day(1_795_525_344_965), "2026-11-24");
        assert_eq!(day(951_782_400_000), "2000-02-29");
    }

    #[test]
    fn totals_group_and_keep_unknown_cost_apart() {
        let priced = Usage::of(
            Some(&tokens(10, 2)),
            Some(0.5),
            &Cost::default(),
            "m",
            Some(5),
            Some(100),
        );
        let unknown = Usage::of(
            Some(&tokens(1, 1)),
            Some(0.0),
            &Cost::default(),
            "m",
            None,
            Some(10),
        );
        let entries = [
            Entry {
                worker: "coder",
                model: "fake/a",
                at_ms: 1_000,
                usage: &priced,
            },
            Entry {
                worker: "coder",
                model: "fake/b",
                at_ms: 86_400_000,
                usage: &unknown,
            },
            Entry {
                worker: "docs",
                model: "fake/a",
                at_ms: 86_400_001,
                usage: &priced,
            },
        ];
        let v = totals(entries.iter().copied(), By::Worker, None);
        assert_eq!(v.rows.len(), 2);
        assert_eq!((v.rows[0].key.as_str(), v.rows[0].tasks), ("coder", 2));
        assert_eq!(v.rows[0].usage.input, Some(11));
        assert_eq!(v.rows[0].usage.cost_usd, Some(0.5));
        assert_eq!(v.rows[0].unknown_cost, 1);
        assert_eq!(v.total.tasks, 3);
        assert_eq!(v.total.usage.cost_usd, Some(1.0));
        assert_eq!(v.total.usage.total_ms, Some(210));
        let v = totals(entries.iter().copied(), By::Model, None);
        let b = v.rows.iter().find(|r| r.key == "fake/b").expect("fake/b");
        assert_eq!(b.usage.cost_usd, None, "only unknown costs: unknown, not 0");
        let json = serde_json::to_value(b).expect("serializes");
        assert_eq!(json["usage"]["cost_usd"], serde_json::Value::Null);
        let v = totals(entries.iter().copied(), By::Day, Some(86_400_000));
        let keys: Vec<&str> = v.rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["1970-01-02"]);
        assert_eq!(v.total.tasks, 2);
        let text = render(
            &totals(entries.iter().copied(), By::Worker, None),
            crate::wire::Format::Table,
        );
        assert!(text.starts_with("WORKER"), "{text}");
        assert!(text.contains("$0.50 + 1 unknown"), "{text}");
        assert_eq!(
            render(
                &totals(std::iter::empty(), By::Day, None),
                crate::wire::Format::Table
            ),
            "no task with usage recorded\n"
        );
    }

    #[test]
    fn windows_are_utc_today_the_6_days_before_and_all_time_in_one_pass() {
        // 2026-11-27 00:00:00 UTC and noon that day.
        let today = 1_795_737_600_000;
        let now = today + 12 * 3_600_000;
        assert_eq!(day(today), "2026-11-27");
        let cost = |input, cost| Usage {
            input: Some(input),
            output: Some(1),
            reasoning: Some(0),
            cache_read: Some(2),
            cache_write: Some(0),
            cost_usd: cost,
            first_token_ms: Some(9),
            total_ms: Some(10),
            ..Usage::default()
        };
        let (a, b, c, d, e) = (
            cost(10, Some(0.25)),
            cost(20, None),
            cost(30, Some(0.5)),
            cost(40, Some(1.0)),
            cost(50, Some(2.0)),
        );
        let at = |worker, at_ms, usage| Entry {
            worker,
            model: "fake/m",
            at_ms,
            usage,
        };
        let entries = [
            // the first millisecond of today: today
            at("coder", today, &a),
            // today, cost unknown
            at("docs", today + 1, &b),
            // the last millisecond of yesterday: 7 days, not today
            at("coder", today - 1, &c),
            // the first millisecond of the 7th day (6 days before today): 7 days
            at("coder", today - 6 * DAY_MS, &d),
            // the last millisecond before it: all time only
            at("coder", today - 6 * DAY_MS - 1, &e),
        ];
        let w = windows(entries.iter().copied(), By::Worker, now);
        assert_eq!(
            (w.today.as_str(), w.week_from.as_str()),
            ("2026-11-27", "2026-11-21")
        );
        let coder = w.of("coder").expect("coder");
        let got = |s: &Sum| (s.tasks, s.usage.input, s.usage.cost_usd, s.unknown_cost);
        assert_eq!(got(&coder.today), (1, Some(10), Some(0.25), 0));
        assert_eq!(got(&coder.last_7_days), (3, Some(80), Some(1.75), 0));
        assert_eq!(got(&coder.all_time), (4, Some(130), Some(3.75), 0));
        assert_eq!(
            coder.today.tokens(),
            Some(13),
            "input, output and cache together"
        );
        assert_eq!(
            coder.all_time.usage.first_token_ms, None,
            "no first token in a sum"
        );
        let docs = w.of("docs").expect("docs");
        assert_eq!(got(&docs.today), (1, Some(20), None, 1));
        assert_eq!(docs.today.cell(), "cost unknown · 23 tok");
        assert_eq!(w.project.today.cell(), "$0.25 + 1 unknown · 36 tok");
        assert_eq!(got(&w.project.all_time), (5, Some(150), Some(3.75), 1));
        assert_eq!(Sum::default().cell(), "-");
        // An unknown cost is null in JSON, not 0.
        let json = serde_json::to_value(&w).expect("serializes");
        assert_eq!(
            json["rows"][1]["windows"]["today"]["usage"]["cost_usd"],
            serde_json::Value::Null
        );
        assert_eq!(json["project"]["today"]["unknown_cost"], 1);
        // Grouped by model, one row; by day, rows are by worker.
        let by_model = windows(entries.iter().copied(), By::Model, now);
        assert_eq!(by_model.rows.len(), 1);
        assert_eq!(by_model.rows[0].windows, w.project);
        let by_day = windows(entries.iter().copied(), By::Day, now);
        assert_eq!(by_day.rows, w.rows);
        // The windows are a table under the totals.
        let mut view = totals(entries.iter().copied(), By::Worker, None);
        view.windows = Some(w);
        let text = render(&view, crate::wire::Format::Table);
        assert!(
            text.contains("TODAY (2026-11-27)") && text.contains("7 DAYS (from 2026-11-21)"),
            "{text}"
        );
        assert!(
            text.contains("project  $0.25 + 1 unknown · 36 tok"),
            "{text}"
        );
    }
}
