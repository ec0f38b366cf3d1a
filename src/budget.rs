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
                            return Err(format!("{what}.over must be \"refuse\" or \"downgrade\""));
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
                format!(
                    "{field} must be an object such as {{\"usd\": 5}} or {{\"tokens\": 2000000}}"
                )
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
        budget.limits.sort_by_key(|l| (l.period, l.unit));
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
        self.resets_at.strip_suffix(":00Z").map_or_else(
            || self.resets_at.clone(),
            |s| format!("{} UTC", s.replace('T', " ")),
        )
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
            let unknown_cost = if l.unit == Unit::Usd {
                s.unknown_cost
            } else {
                0
            };
            // Sums of dollar figures are not exact: 0.02 + 0.03 must reach 0.05.
            let reached = |share: f64| amount >= l.amount * share * (1.0 - 1e-9);
            let state = if reached(1.0) {
                State::Over
            } else if reached(WARN_AT) || unknown_cost > 0 {
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

/// Each worker's budget statuses (the project's limits as it sees them, then its own).
pub type WorkerBudgets = BTreeMap<String, Vec<BudgetStatus>>;

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

/// Why a task is refused: the budget, what was spent by how many tasks, when it resets.
pub fn refusal_reason(status: &BudgetStatus, worker: &str, spending: &Spending) -> String {
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
        "budget reached: {whose} {} budget of {} is spent ({} {} by {tasks} task{}{unknown}); new tasks on {worker} are refused until it resets at {}",
        status.period.adjective(),
        status.unit.amount(status.limit),
        status.unit.amount(status.spent),
        status.period.current(),
        if tasks == 1 { "" } else { "s" },
        status.resets_text()
    )
}

/// The message of a refused task: [`refusal_reason`] and how to change it.
pub fn refusal(status: &BudgetStatus, worker: &str, spending: &Spending) -> String {
    format!(
        "{} (raise the limit under \"budget\" in orchestrator.json, or set \"over\": \"downgrade\" to run on the cheapest model that fits)",
        refusal_reason(status, worker, spending)
    )
}

/// The note a downgraded task's reason starts with.
pub fn downgrade_note(status: &BudgetStatus, model: &str, price: Option<(f64, f64)>) -> String {
    let price = match price {
        Some((i, o)) if i == 0.0 && o == 0.0 => ", known free".to_owned(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, FakeClock};
    use serde_json::json;

    /// 2026-11-27 16:00 UTC.
    const NOW: u64 = 1_795_737_600_000 + 16 * 3_600_000;

    fn parse(v: serde_json::Value) -> Result<Budget, String> {
        Budget::from_value(&v, "profile coder: budget")
    }

    fn spent_usage(input: u64, cost: Option<f64>) -> Usage {
        Usage {
            input: Some(input),
            output: Some(1),
            reasoning: Some(2),
            cache_read: Some(3),
            cache_write: Some(4),
            cost_usd: cost,
            ..Usage::default()
        }
    }

    #[test]
    fn budgets_parse_per_period_and_unit() {
        let b = parse(json!({"month": {"tokens": 2_000_000}, "day": {"usd": 0.05, "tokens": 10}, "over": "downgrade"}))
            .expect("a valid budget");
        assert_eq!(b.over, Some(Over::Downgrade));
        let limits: Vec<(Period, Unit, f64)> = b
            .limits
            .iter()
            .map(|l| (l.period, l.unit, l.amount))
            .collect();
        assert_eq!(
            limits,
            [
                (Period::Day, Unit::Usd, 0.05),
                (Period::Day, Unit::Tokens, 10.0),
                (Period::Month, Unit::Tokens, 2_000_000.0)
            ]
        );
        let only_policy = parse(json!({"over": "refuse"})).expect("a policy alone");
        assert!(!only_policy.has_limits());
        assert_eq!(
            parse(json!({"day": {"usd": 0}})).expect("zero").limits[0].amount,
            0.0
        );
    }

    #[test]
    fn garbled_budgets_are_clear_errors_naming_the_field_never_the_value() {
        let cases = [
            (json!({"dya": {"usd": 5}}), "unknown key \"dya\""),
            (
                json!({"day": {"eur": 5}}),
                "budget.day: unknown key \"eur\"",
            ),
            (
                json!({"day": {"usd": -1}}),
                "budget.day.usd must be a finite number ≥ 0",
            ),
            (
                json!({"day": {"usd": "5"}}),
                "budget.day.usd must be a number",
            ),
            (json!({"day": {"usd": 1e12}}), "budget.day.usd is above"),
            (
                json!({"month": {"tokens": -5}}),
                "budget.month.tokens must be a whole number",
            ),
            (
                json!({"month": {"tokens": 2.5}}),
                "budget.month.tokens must be a whole number",
            ),
            (
                json!({"month": {"tokens": 1e30}}),
                "budget.month.tokens must be a whole number",
            ),
            (json!({"month": {}}), "budget.month names no limit"),
            (json!({"month": 5}), "budget.month must be an object"),
            (
                json!({"over": "explode"}),
                "budget.over must be \"refuse\" or \"downgrade\"",
            ),
            (json!([1, 2]), "budget must be an object"),
            (
                json!({"day\u{1b}[31m-secret-key-name-that-is-very-long-indeed-yes": {}}),
                "unknown key",
            ),
        ];
        for (v, want) in cases {
            let err = parse(v.clone()).expect_err("refused");
            assert!(err.contains(want), "{v}: {err}");
            assert!(err.starts_with("profile coder: budget"), "{v}: {err}");
            assert!(
                !err.contains('\u{1b}'),
                "no control characters echoed: {err}"
            );
            assert!(!err.contains("indeed-yes"), "long keys are cut: {err}");
            assert!(!err.contains("\"5\""), "values are not echoed: {err}");
        }
    }

    #[test]
    fn days_and_months_are_utc_and_say_when_they_reset() {
        let clock = FakeClock::at(NOW);
        let (start, end) = Period::Day.window(clock.now_ms());
        assert_eq!(rfc3339(start), "2026-11-27T00:00:00Z");
        assert_eq!(rfc3339(end), "2026-11-28T00:00:00Z");
        let (start, end) = Period::Month.window(clock.now_ms());
        assert_eq!(rfc3339(start), "2026-11-01T00:00:00Z");
        assert_eq!(rfc3339(end), "2026-12-01T00:00:00Z");
        // December rolls over into the next year; February of a leap year has 29 days.
        let dec = days_from_civil(2026, 12, 31) * DAY_MS + 5;
        assert_eq!(rfc3339(Period::Month.window(dec).1), "2027-01-01T00:00:00Z");
        let feb = days_from_civil(2028, 2, 10) * DAY_MS;
        assert_eq!(rfc3339(Period::Month.window(feb).1), "2028-03-01T00:00:00Z");
        assert_eq!(
            rfc3339(Period::Day.window(feb + 1).0),
            "2028-02-10T00:00:00Z"
        );
        for days in [0, 59, 365, 10_957, 20_000, 20_784] {
            let (y, m, d) = civil(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(
            crate::usage::day(NOW),
            "2026-11-27",
            "the same days as orch usage"
        );
    }

    #[test]
    fn at_a_month_boundary_last_months_tasks_no_longer_count() {
        let budget = parse(json!({"month": {"usd": 1.0}, "day": {"tokens": 100}})).expect("valid");
        let end_of_november = days_from_civil(2026, 12, 1) * DAY_MS - 1;
        let big = spent_usage(1000, Some(5.0));
        let entries = [("coder", end_of_november, &big)];
        let clock = FakeClock::at(end_of_november);
        let spending = Spending::sum(entries.iter().copied(), clock.now_ms());
        assert_eq!(spending.worker("coder")[1].usd, 5.0);
        let s = statuses(
            &budget,
            Some("coder"),
            &spending.worker("coder"),
            Over::Refuse,
            clock.now_ms(),
        );
        assert!(s.iter().all(|s| s.state == State::Over), "{s:?}");
        assert_eq!(s[0].resets_text(), "2026-12-01 00:00 UTC");
        // One millisecond later: a new day and a new month, nothing spent.
        clock.advance(1);
        let spending = Spending::sum(entries.iter().copied(), clock.now_ms());
        assert_eq!(spending.worker("coder"), [Spent::default(); 2]);
        let s = statuses(
            &budget,
            Some("coder"),
            &spending.worker("coder"),
            Over::Refuse,
            clock.now_ms(),
        );
        assert!(s.iter().all(|s| s.state == State::Ok), "{s:?}");
        assert_eq!(s[1].resets_at, "2027-01-01T00:00:00Z");
    }

    #[test]
    fn tokens_count_every_kind_and_unknown_costs_warn_instead_of_passing_silently() {
        let u = spent_usage(10, None);
        let entries = [("coder", NOW, &u), ("docs", NOW - 1, &u)];
        let spending = Spending::sum(entries.iter().copied(), NOW);
        // 10 + 1 + 2 + 3 + 4 per task
        assert_eq!(spending.project[0].tokens, 40);
        assert_eq!(spending.worker("coder")[0].tokens, 20);
        let budget = parse(json!({"day": {"usd": 1.0}})).expect("valid");
        let s = statuses(&budget, None, &spending.project, Over::Refuse, NOW);
        assert_eq!(
            (s[0].state, s[0].unknown_cost, s[0].spent),
            (State::Warn, 2, 0.0)
        );
        assert!(
            s[0].line().contains("2 tasks of unknown cost not counted"),
            "{}",
            s[0].line()
        );
        let json = serde_json::to_value(&s[0]).expect("serializes");
        assert_eq!(json["unknownCost"], 2);
        assert_eq!(json["resetsAt"], "2026-11-28T00:00:00Z");
    }

    #[test]
    fn states_warn_at_80_percent_and_are_over_at_100() {
        let budget = parse(json!({"day": {"usd": 0.05}})).expect("valid");
        let at = |usd: f64| {
            let spent = [
                Spent {
                    usd,
                    tasks: 1,
                    ..Spent::default()
                },
                Spent::default(),
            ];
            statuses(&budget, Some("coder"), &spent, Over::Refuse, NOW)[0].state
        };
        assert_eq!(at(0.0), State::Ok);
        assert_eq!(at(0.039), State::Ok);
        assert_eq!(at(0.04), State::Warn);
        assert_eq!(at(0.05), State::Over);
        assert_eq!(at(0.07), State::Over);
        // A zero budget is spent at once.
        let zero = parse(json!({"day": {"usd": 0}})).expect("valid");
        let s = statuses(&zero, None, &[Spent::default(); 2], Over::Refuse, NOW);
        assert_eq!(s[0].state, State::Over);
        assert!(s[0].line().contains("limit 0"), "{}", s[0].line());
    }

    #[test]
    fn an_enormous_limit_is_never_reached_and_sums_never_overflow() {
        let budget =
            parse(json!({"month": {"tokens": u64::MAX}, "day": {"usd": 1e9}})).expect("valid");
        let huge = Usage {
            input: Some(u64::MAX),
            output: Some(u64::MAX),
            cost_usd: Some(f64::MAX),
            ..Usage::default()
        };
        let entries = [("coder", NOW, &huge), ("coder", NOW, &huge)];
        let spending = Spending::sum(entries.iter().copied(), NOW);
        assert_eq!(spending.project[1].tokens, u64::MAX, "saturates");
        let s = statuses(&budget, None, &spending.project, Over::Refuse, NOW);
        assert_eq!(s.len(), 2);
        assert!(s.iter().all(|s| s.state == State::Over), "{s:?}");
        let little = spent_usage(5, Some(0.01));
        let small = [("coder", NOW, &little)];
        let spending = Spending::sum(small.iter().copied(), NOW);
        let s = statuses(&budget, None, &spending.project, Over::Refuse, NOW);
        assert!(s.iter().all(|s| s.state == State::Ok), "{s:?}");
        let json = serde_json::to_value(&s[1]).expect("serializes");
        assert_eq!(
            json["limit"],
            serde_json::Value::from(u64::MAX as f64),
            "{json}"
        );
        assert!(s[1].line().len() < 200, "{}", s[1].line());
    }

    #[test]
    fn decisions_refuse_downgrade_or_go_and_the_worker_policy_covers_the_project() {
        let project = parse(json!({"day": {"usd": 0.10}})).expect("valid");
        let coder = parse(json!({"day": {"usd": 0.05}, "over": "downgrade"})).expect("valid");
        let docs = parse(json!({"over": "downgrade"})).expect("valid");
        let u = spent_usage(1, Some(0.06));
        let entries = [("coder", NOW, &u)];
        let spending = Spending::sum(entries.iter().copied(), NOW);
        // coder is over its own budget, which downgrades.
        match decide(Some(&project), Some(&coder), "coder", &spending) {
            Decision::Downgrade(s) => assert_eq!(s.worker.as_deref(), Some("coder")),
            other => panic!("{other:?}"),
        }
        // Without a policy, refuse; the message names the budget, the spending and the reset.
        let strict = parse(json!({"day": {"usd": 0.05}})).expect("valid");
        let Decision::Refuse(s) = decide(None, Some(&strict), "coder", &spending) else {
            panic!("refused");
        };
        let msg = refusal(&s, "coder", &spending);
        assert_eq!(
            msg,
            "budget reached: worker coder's daily budget of $0.0500 is spent ($0.0600 today (UTC) by 1 task); new tasks on coder are refused until it resets at 2026-11-28 00:00 UTC (raise the limit under \"budget\" in orchestrator.json, or set \"over\": \"downgrade\" to run on the cheapest model that fits)"
        );
        // docs spent nothing of its own, but the project is over: docs says downgrade,
        // reviewer (no budget) is refused by the project's budget.
        let u = spent_usage(1, Some(0.11));
        let entries = [("coder", NOW, &u)];
        let spending = Spending::sum(entries.iter().copied(), NOW);
        assert!(matches!(
            decide(Some(&project), Some(&docs), "docs", &spending),
            Decision::Downgrade(s) if s.worker.is_none()
        ));
        let Decision::Refuse(s) = decide(Some(&project), None, "reviewer", &spending) else {
            panic!("refused");
        };
        assert!(refusal(&s, "reviewer", &spending).contains("the project's daily budget"));
        // The project's own `over` applies to workers that say nothing.
        let lenient = parse(json!({"day": {"usd": 0.10}, "over": "downgrade"})).expect("valid");
        assert!(matches!(
            decide(Some(&lenient), None, "reviewer", &spending),
            Decision::Downgrade(s) if s.worker.is_none()
        ));
        // coder's downgrade covers the project's budget too; any refusing budget wins.
        assert!(matches!(
            decide(Some(&project), Some(&coder), "coder", &spending),
            Decision::Downgrade(_)
        ));
        let strict_coder = parse(json!({"day": {"usd": 0.05}})).expect("valid");
        assert!(matches!(
            decide(Some(&lenient), Some(&strict_coder), "coder", &spending),
            Decision::Refuse(s) if s.worker.as_deref() == Some("coder")
        ));
        // Under every limit: go.
        assert_eq!(
            decide(Some(&project), Some(&coder), "coder", &Spending::default()),
            Decision::Go
        );
        let note = downgrade_note(&s, "groq/llama-3.1-8b-instant", Some((0.05, 0.08)));
        assert!(
            note.contains(
                "downgraded to groq/llama-3.1-8b-instant (cheapest that fits, $0.05/$0.08 per Mtok"
            ),
            "{note}"
        );
    }
}
