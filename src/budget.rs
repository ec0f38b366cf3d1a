//! Budgets (issue 12): per project and per worker, per UTC day or UTC calendar month, in
//! US dollars or tokens, read from `orchestrator.json`.
//!
//! ```jsonc
//! {
//!   "budget": { "day": { "usd": 5 }, "month": { "tokens": 20000000 } },      // the project
//!   "profiles": {
//!     "coder":  { "budget": { "day": { "usd": 0.5 }, "over": "downgrade" } },
//!     "vision": { "budget": { "month": { "usd": 20 } } }                   // "over": "refuse"
//!   }
//! }
//! ```
//!
//! Spending is summed from the durable task records (finished tasks' `usage`, by the time
//! they finished). At 80 % of a limit the views warn; at 100 % a new task is refused
//! ([`Decision::Refuse`]) or, with `"over": "downgrade"`, runs on the worker's cheapest
//! fitting model ([`Decision::Downgrade`]). A task already running is never cut. See
//! `docs/usage.md`, "Budgets".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::usage::Usage;

/// The share of a limit at which the views warn.
pub const WARN_AT: f64 = 0.8;

/// The largest dollar limit accepted: above it, the limit is a typo (leave it out for none).
pub const MAX_USD: f64 = 1e9;

/// A calendar period, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// A UTC date (resets at 00:00 UTC).
    Day,
    /// A UTC calendar month (resets on the 1st, 00:00 UTC).
    Month,
}

impl Period {
    /// `day` or `month`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Month => "month",
        }
    }

    /// `daily` or `monthly`.
    pub fn adjective(self) -> &'static str {
        match self {
            Self::Day => "daily",
            Self::Month => "monthly",
        }
    }

    /// `today` or `this month`.
    pub fn current(self) -> &'static str {
        match self {
            Self::Day => "today (UTC)",
            Self::Month => "this month (UTC)",
        }
    }

    /// The period holding `now_ms`: its start and its end (when the budget resets), Unix
    /// milliseconds.
    pub fn window(self, now_ms: u64) -> (u64, u64) {
        let days = now_ms / DAY_MS;
        match self {
            Self::Day => (days * DAY_MS, (days + 1) * DAY_MS),
            Self::Month => {
                let (y, m, _) = civil(days);
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                (
                    days_from_civil(y, m, 1) * DAY_MS,
                    days_from_civil(ny, nm, 1) * DAY_MS,
                )
            }
        }
    }
}

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// US dollars (reported and estimated costs; unknown costs are counted apart).
    Usd,
    /// Tokens: input + output + reasoning + cache read + cache write.
    Tokens,
}

impl Unit {
    /// `usd` or `tokens`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Usd => "usd",
            Self::Tokens => "tokens",
        }
    }

    /// `$0.05` or `2000000 tokens`.
    pub fn amount(self, v: f64) -> String {
        match self {
            Self::Usd => usd(v),
            Self::Tokens => format!("{} tokens", v.round() as u64),
        }
    }
}

fn usd(v: f64) -> String {
    if v == 0.0 || v >= 1.0 {
        format!("${v:.2}")
    } else {
        format!("${v:.4}")
    }
}

/// What happens to a new task once a limit is reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Over {
    /// Refuse it (the default).
    #[default]
    Refuse,
    /// Run it on the worker's cheapest fitting model (`node:cheap`).
    Downgrade,
}

impl Over {
    /// `refuse` or `downgrade`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refuse => "refuse",
            Self::Downgrade => "downgrade",
        }
    }
}

/// One limit: so much per period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limit {
    /// The period.
    pub period: Period,
    /// The unit.
    pub unit: Unit,
    /// The amount (dollars, or tokens).
    pub amount: f64,
}

/// A budget of the project or of one worker.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// Its limits (at most one per period and unit).
    pub limits: Vec<Limit>,
    /// What a new task does once a limit is reached; `None` when the file does not say
    /// (a worker's `over` also applies to the project's budget; refuse by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over: Option<Over>,
}

/// Longest key echoed in an error.
const SHOWN_KEY: usize = 40;

fn shown_key(k: &str) -> String {
    k.chars()
        .take(SHOWN_KEY)
        .filter(|c| !c.is_control())
        .collect()
}

impl Budget {
    /// Reads a `"budget"` object of `orchestrator.json`; `what` names it in errors
    /// (`profile coder: budget`). Values are never echoed, only key names.
    pub fn from_value(v: &serde_json::Value, what: &str) -> Result<Self, String> {
        let obj = v.as_object().ok_or_else(|| {
            format!(
                "{what} must be an object such as {{\"day\": {{\"usd\": 5}}, \"over\": \"refuse\"}}"
            )
        })?;
        let mut budget = Self::default();
        for (key, value) in obj {
            let period = match key.as_str() {
                "day" => Period::Day,
                "month" => Period::Month,
                "over" => {
                    budget.over = Some(match value.as_str() {
                        Some("refuse") => Over::Refuse,
                        Some("downgrade") => Over::Downgrade,
                        _ => {
                            return Err(format!(
                                "{what}.over must be \"refuse\" or \"downgrade\""
                            ));
                        }
                    });
                    continue;
                }
                other => {
                    return Err(format!(
                        "{what}: unknown key \"{}\" (expected \"day\", \"month\" or \"over\")",
                        shown_key(other)
                    ));
                }
            };
            let field = format!("{what}.{}", period.as_str());
            let limits = value.as_object().ok_or_else(|| {
                format!("{field} must be an object such as {{\"usd\": 5}} or {{\"tokens\": 2000000}}")
            })?;
            if limits.is_empty() {
                return Err(format!(
                    "{field} names no limit; give \"usd\" or \"tokens\""
                ));
            }
            for (unit, amount) in limits {
                let unit = match unit.as_str() {
                    "usd" => Unit::Usd,
                    "tokens" => Unit::Tokens,
                    other => {
                        return Err(format!(
                            "{field}: unknown key \"{}\" (expected \"usd\" or \"tokens\")",
                            shown_key(other)
                        ));
                    }
                };
                let name = format!("{field}.{}", unit.as_str());
                let amount = match unit {
                    Unit::Usd => {
                        let n = amount
                            .as_f64()
                            .ok_or_else(|| format!("{name} must be a number of US dollars"))?;
                        if !n.is_finite() || n < 0.0 {
                            return Err(format!("{name} must be a finite number ≥ 0"));
                        }
                        if n > MAX_USD {
                            return Err(format!(
                                "{name} is above $1,000,000,000; leave the limit out for no limit"
                            ));
                        }
                        n
                    }
                    Unit::Tokens => amount.as_u64().ok_or_else(|| {
                        format!(
                            "{name} must be a whole number of tokens ≥ 0 (at most {})",
                            u64::MAX
                        )
                    })? as f64,
                };
                budget.limits.push(Limit {
                    period,
                    unit,
                    amount,
                });
            }
        }
        budget.limits.sort_by(|a, b| (a.period, a.unit).cmp(&(b.period, b.unit)));
        Ok(budget)
    }

    /// Whether it sets any limit.
    pub fn has_limits(&self) -> bool {
        !self.limits.is_empty()
    }
}

/// What was spent in one period.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spent {
    /// Dollars of the tasks whose cost is known (reported or estimated).
    pub usd: f64,
    /// Tokens (input + output + reasoning + cache read + cache write).
    pub tokens: u64,
    /// Tasks counted.
    pub tasks: u64,
    /// Of those, tasks whose cost is unknown (not in `usd`).
    pub unknown_cost: u64,
}

impl Spent {
    fn add(&mut self, u: &Usage) {
        self.tasks += 1;
        match u.cost_usd {
            Some(c) if c.is_finite() && c >= 0.0 => self.usd += c,
            _ => self.unknown_cost += 1,
        }
        self.tokens = [u.input, u.output, u.reasoning, u.cache_read, u.cache_write]
            .into_iter()
            .flatten()
            .fold(self.tokens, u64::saturating_add);
    }

    fn of(&self, unit: Unit) -> f64 {
        match unit {
            Unit::Usd => self.usd,
            Unit::Tokens => self.tokens as f64,
        }
    }
}

/// Spending of the current day and month, of the project and of each worker.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spending {
    /// The time it was summed at (Unix milliseconds).
    pub now_ms: u64,
    /// The project's: today, this month.
    pub project: [Spent; 2],
    /// Each worker's: today, this month.
    pub workers: BTreeMap<String, [Spent; 2]>,
}

impl Spending {
    /// Sums finished tasks' usage, `(worker, finished at, usage)`, over the day and month
    /// holding `now_ms` (UTC). Tasks outside both are skipped.
    pub fn sum<'a>(entries: impl Iterator<Item = (&'a str, u64, &'a Usage)>, now_ms: u64) -> Self {
        let windows = [Period::Day.window(now_ms), Period::Month.window(now_ms)];
        let mut out = Self {
            now_ms,
            ..Self::default()
        };
        for (worker, at, usage) in entries {
            for (i, (start, end)) in windows.iter().enumerate() {
                if (*start..*end).contains(&at) {
                    out.project[i].add(usage);
                    out.workers.entry(worker.to_owned()).or_default()[i].add(usage);
                }
            }
        }
        out
    }

    /// What a worker spent (nothing when it ran no task).
    pub fn worker(&self, id: &str) -> [Spent; 2] {
        self.workers.get(id).copied().unwrap_or_default()
    }
}

/// How close a budget is to its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Under 80 %.
    Ok,
    /// At 80 % or more (or, in dollars, some tasks' cost is unknown).
    Warn,
    /// At 100 % or more: new tasks are refused or downgraded.
    Over,
}

/// One limit and what was spent against it (the `budget` of a worker row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BudgetStatus {
    /// The worker, or absent for the project's budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// `day` or `month` (UTC).
    pub period: Period,
    /// `usd` or `tokens`.
    pub unit: Unit,
    /// The limit.
    #[serde(serialize_with = "whole")]
    pub limit: f64,
    /// Spent in the current period.
    #[serde(serialize_with = "whole")]
    pub spent: f64,
    /// `ok`, `warn` (80 %) or `over` (100 %).
    pub state: State,
    /// When the period ends and the budget resets (`2026-11-28T00:00:00Z`).
    pub resets_at: String,
    /// Tasks of the period whose cost is unknown (a dollar budget cannot count them).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unknown_cost: u64,
    /// What a new task does once it is over: `refuse` or `downgrade`.
    pub over: Over,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Integral amounts (tokens) as JSON integers, the rest as numbers.
fn whole<S: serde::Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && *v >= 0.0 && *v < 9_007_199_254_740_992.0 {
        s.serialize_u64(*v as u64)
    } else {
        s.serialize_f64(*v)
    }
}

impl BudgetStatus {
    /// `worker coder` or `the project`.
    pub fn owner(&self) -> String {
        match &self.worker {
            Some(w) => format!("worker {w}"),
            None => "the project".to_owned(),
        }
    }

    /// Spent over limit (1.0 = reached); a zero limit is reached at once.
    pub fn ratio(&self) -> f64 {
        if self.limit <= 0.0 {
            f64::INFINITY
        } else {
            self.spent / self.limit
        }
    }

    /// `2026-11-28 00:00 UTC`.
    pub fn resets_text(&self) -> String {
        self.resets_at
            .strip_suffix(":00Z")
            .map_or_else(|| self.resets_at.clone(), |s| format!("{} UTC", s.replace('T', " ")))
    }

    /// `worker coder: $0.0600 of $0.05 per day (120 %), resets 2026-11-28 00:00 UTC`.
    pub fn line(&self) -> String {
        let pct = if self.limit > 0.0 {
            format!("{:.0} %", (self.spent / self.limit * 100.0).min(1e6))
        } else {
            "limit 0".to_owned()
        };
        let mut s = format!(
            "{}: {} of {} per {} ({pct}), resets {}",
            self.owner(),
            self.unit.amount(self.spent),
            self.unit.amount(self.limit),
            self.period.as_str(),
            self.resets_text()
        );
        if self.unknown_cost > 0 {
            s.push_str(&format!(
                "; {} task{} of unknown cost not counted",
                self.unknown_cost,
                if self.unknown_cost == 1 { "" } else { "s" }
            ));
        }
        s
    }

    /// The warning the views show at 80 % (and for unknown costs), `None` when fine.
    pub fn warning(&self) -> Option<String> {
        match self.state {
            State::Ok => None,
            State::Warn => Some(format!("budget: {}", self.line())),
            State::Over => Some(format!(
                "budget reached: {} (new tasks {})",
                self.line(),
                match self.over {
                    Over::Refuse => "are refused",
                    Over::Downgrade => "run on the cheapest model that fits",
                }
            )),
        }
    }
}

/// The statuses of `budget` against `spent` (today, this month) at `now_ms`, with the
/// policy `over` in force.
pub fn statuses(
    budget: &Budget,
    worker: Option<&str>,
    spent: &[Spent; 2],
    over: Over,
    now_ms: u64,
) -> Vec<BudgetStatus> {
    budget
        .limits
        .iter()
        .map(|l| {
            let s = match l.period {
                Period::Day => &spent[0],
                Period::Month => &spent[1],
            };
            let amount = s.of(l.unit);
            let unknown_cost = if l.unit == Unit::Usd { s.unknown_cost } else { 0 };
            let state = if amount >= l.amount {
                State::Over
            } else if amount >= l.amount * WARN_AT || unknown_cost > 0 {
                State::Warn
            } else {
                State::Ok
            };
            BudgetStatus {
                worker: worker.map(str::to_owned),
                period: l.period,
                unit: l.unit,
                limit: l.amount,
                spent: amount,
                state,
                resets_at: rfc3339(l.period.window(now_ms).1),
                unknown_cost,
                over,
            }
        })
        .collect()
}

/// The status closest to (or furthest over) its limit: the one a worker row shows.
pub fn worst(statuses: &[BudgetStatus]) -> Option<&BudgetStatus> {
    statuses.iter().max_by(|a, b| {
        (a.state, a.ratio())
            .partial_cmp(&(b.state, b.ratio()))
            .unwrap_or(std::cmp::Ordering::Equal)
    })
}

/// What a new task on a worker may do.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Run as asked.
    Go,
    /// Refuse: this budget is spent.
    Refuse(BudgetStatus),
    /// Run on the cheapest fitting model: this budget is spent.
    Downgrade(BudgetStatus),
}

/// The policy of a worker over the project's budget: its own `over` when it says, else the
/// project's, else refuse.
pub fn project_policy(project: Option<&Budget>, worker: Option<&Budget>) -> Over {
    worker
        .and_then(|b| b.over)
        .or_else(|| project.and_then(|b| b.over))
        .unwrap_or_default()
}

/// Decides a new task on `worker`: refused when any spent budget's policy is `refuse`,
/// downgraded when every spent budget says `downgrade`, else run.
pub fn decide(
    project: Option<&Budget>,
    worker_budget: Option<&Budget>,
    worker: &str,
    spending: &Spending,
) -> Decision {
    let all = all_statuses(project, worker_budget, worker, spending);
    let over: Vec<&BudgetStatus> = all.iter().filter(|s| s.state == State::Over).collect();
    if let Some(refused) = over.iter().find(|s| s.over == Over::Refuse) {
        return Decision::Refuse((*refused).clone());
    }
    match over.first() {
        Some(s) => Decision::Downgrade((*s).clone()),
        None => Decision::Go,
    }
}

/// Every status that concerns a worker: the project's limits, then its own.
pub fn all_statuses(
    project: Option<&Budget>,
    worker_budget: Option<&Budget>,
    worker: &str,
    spending: &Spending,
) -> Vec<BudgetStatus> {
    let mut out = Vec::new();
    if let Some(p) = project {
        out.extend(statuses(
            p,
            None,
            &spending.project,
            project_policy(project, worker_budget),
            spending.now_ms,
        ));
    }
    if let Some(w) = worker_budget {
        out.extend(statuses(
            w,
            Some(worker),
            &spending.worker(worker),
            w.over.unwrap_or_default(),
            spending.now_ms,
        ));
    }
    out
}

/// The message of a refused task: the budget, what was spent by how many tasks, when it
/// resets, and how to change it.
pub fn refusal(status: &BudgetStatus, worker: &str, spending: &Spending) -> String {
    let spent = match &status.worker {
        Some(w) => spending.worker(w),
        None => spending.project,
    };
    let tasks = match status.period {
        Period::Day => spent[0].tasks,
        Period::Month => spent[1].tasks,
    };
    let whose = match &status.worker {
        Some(w) => format!("worker {w}'s"),
        None => "the project's".to_owned(),
    };
    let unknown = if status.unknown_cost > 0 {
        format!(
            "; {} of them of unknown cost, not counted",
            status.unknown_cost
        )
    } else {
        String::new()
    };
    format!(
        "budget reached: {whose} {} budget of {} is spent ({} {} by {tasks} task{}{unknown}); new tasks on {worker} are refused until it resets at {} (raise the limit under \"budget\" in orchestrator.json, or set \"over\": \"downgrade\" to run on the cheapest model that fits)",
        status.period.adjective(),
        status.unit.amount(status.limit),
        status.unit.amount(status.spent),
        status.period.current(),
        if tasks == 1 { "" } else { "s" },
        status.resets_text()
    )
}

/// The note a downgraded task's reason starts with.
pub fn downgrade_note(status: &BudgetStatus, model: &str, price: Option<(f64, f64)>) -> String {
    let price = match price {
        Some((i, o)) => format!(", ${i}/${o} per Mtok input/output"),
        None => String::new(),
    };
    format!(
        "budget reached ({}); downgraded to {model} (cheapest that fits{price})",
        status.line()
    )
}

const DAY_MS: u64 = 86_400_000;

/// Year, month, day of a count of days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: u64) -> (i64, u32, u32) {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 of a date (its inverse).
fn days_from_civil(y: i64, m: u32, d: u32) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    u64::try_from(era * 146_097 + doe - 719_468).unwrap_or(0)
}

/// `2026-11-28T00:00:00Z` for a Unix time in milliseconds.
pub fn rfc3339(ms: u64) -> String {
    let (y, m, d) = civil(ms / DAY_MS);
    let secs = (ms % DAY_MS) / 1000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}
