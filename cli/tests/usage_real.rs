//! What each worker costs, through the real `orch` binary, the real OpenCode
//! (`ORCH_OPENCODE_BIN`) and a fake OpenAI-compatible provider on loopback that reports
//! fixed usage figures per model (issue 12's first acceptance points). The project's
//! `opencode.json` gives two of the fake's models prices; OpenCode computes each answer's
//! cost from them. Three tasks on two workers give exactly the expected token sums and
//! costs in `orch usage`, `orch workers` and the MCP views (through the official Python
//! SDK, `ORCH_PYTHON`), for today, the last 7 days and all time, and the same messages,
//! cache reads and cost per model as OpenCode's own `opencode stats --models`; the
//! figures are the same after `orch stop` and a new backend. A fourth task on a model without prices has an
//! unknown cost (`null`, not 0), and the sums say so.

use std::path::Path;

use orch::testutil::Sandbox;
use orch::testutil::fake_llm::{FakeLlm, Reported};
use orch::testutil::real::{fake_llm_config, opencode_bin, python_bin};
use orch::usage::{Sum, UsageView, Windows};
use orch::wire::{TaskRow, TaskStatus, WorkersView};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_orch");

/// Stops the sandbox's backend even when the test fails.
struct Stop<'a>(&'a Sandbox);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        self.0.stop_backend();
    }
}

/// What the fake reports for `priced-a`: 1,200 prompt tokens of which 200 cached, 300
/// completion tokens of which 40 reasoning.
const A: Reported = Reported {
    prompt: 1_200,
    completion: 300,
    cached: 200,
    reasoning: 40,
};
/// For `priced-b`: 4,000 prompt tokens, 500 completion tokens.
const B: Reported = Reported {
    prompt: 4_000,
    completion: 500,
    cached: 0,
    reasoning: 0,
};

/// The expected figures of one or more tasks: input (without cache reads), output,
/// reasoning, cache read, cost.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Want {
    tasks: u64,
    input: u64,
    output: u64,
    reasoning: u64,
    cache_read: u64,
    cost: f64,
}

impl Want {
    fn times(self, n: u64) -> Self {
        Self {
            tasks: self.tasks * n,
            input: self.input * n,
            output: self.output * n,
            reasoning: self.reasoning * n,
            cache_read: self.cache_read * n,
            cost: self.cost * n as f64,
        }
    }

    fn plus(self, o: Self) -> Self {
        Self {
            tasks: self.tasks + o.tasks,
            input: self.input + o.input,
            output: self.output + o.output,
            reasoning: self.reasoning + o.reasoning,
            cache_read: self.cache_read + o.cache_read,
            cost: self.cost + o.cost,
        }
    }

    fn check(self, what: &str, tasks: u64, u: &orch::usage::Usage) {
        assert_eq!(tasks, self.tasks, "{what}: tasks");
        assert_eq!(
            (u.input, u.output, u.reasoning, u.cache_read, u.cache_write),
            (
                Some(self.input),
                Some(self.output),
                Some(self.reasoning),
                Some(self.cache_read),
                Some(0)
            ),
            "{what}: tokens"
        );
        let cost = u
            .cost_usd
            .unwrap_or_else(|| panic!("{what}: a known cost, got {u:?}"));
        assert!(
            (cost - self.cost).abs() < 1e-12,
            "{what}: cost {cost} != {}",
            self.cost
        );
        assert!(
            !u.estimated,
            "{what}: OpenCode's own figure, not an estimate"
        );
    }

    fn check_sum(self, what: &str, s: &Sum) {
        self.check(what, s.tasks, &s.usage);
        assert_eq!(s.unknown_cost, 0, "{what}: no unknown cost");
    }

    fn check_windows(self, what: &str, w: &Windows, today: bool) {
        self.check_sum(&format!("{what} all time"), &w.all_time);
        self.check_sum(&format!("{what} 7 days"), &w.last_7_days);
        if today {
            self.check_sum(&format!("{what} today"), &w.today);
        }
    }
}

/// The figures OpenCode stores for one answer of `r` at these prices (dollars per million
/// tokens): input without the cached part, output without reasoning (billed as output).
fn want(r: Reported, input_price: f64, output_price: f64, cache_read_price: f64) -> Want {
    let input = r.prompt - r.cached;
    let output = r.completion - r.reasoning;
    Want {
        tasks: 1,
        input,
        output,
        reasoning: r.reasoning,
        cache_read: r.cached,
        cost: (input as f64 * input_price
            + (output + r.reasoning) as f64 * output_price
            + r.cached as f64 * cache_read_price)
            / 1_000_000.0,
    }
}

/// The figures of `model`'s block in `opencode stats --models` (`Messages`, `Cost`, …).
fn stats_of(stats: &str, model: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut lines = stats.lines().skip_while(|l| !l.contains(model)).skip(1);
    for line in lines.by_ref() {
        let inner = line.trim().trim_matches('│').trim();
        if line.contains('├') || line.contains('└') || inner.is_empty() {
            break;
        }
        if let Some((label, value)) = inner.rsplit_once(char::is_whitespace) {
            out.insert(label.trim().to_owned(), value.trim().to_owned());
        }
    }
    out
}

fn run(s: &Sandbox, worker: &str, model: &str, text: &str) -> TaskRow {
    let row: TaskRow = s
        .run(&[
            "run",
            worker,
            text,
            "--model",
            model,
            "--timeout",
            "120",
            "--format",
            "json",
        ])
        .json();
    assert_eq!(row.status, TaskStatus::Succeeded, "{row:?}");
    row
}

/// `orch usage` (JSON and table) and `orch workers` (JSON and table) agree with `coder`,
/// `docs` and the project's expected figures.
#[expect(clippy::expect_used, reason = "test helper")]
fn check_cli(s: &Sandbox, coder: Want, docs: Want, today: bool) {
    let usage: UsageView = s.run(&["usage", "--format", "json"]).json();
    let keys: Vec<&str> = usage.rows.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["coder", "docs"]);
    coder.check(
        "orch usage coder",
        usage.rows[0].tasks,
        &usage.rows[0].usage,
    );
    docs.check("orch usage docs", usage.rows[1].tasks, &usage.rows[1].usage);
    let project = coder.plus(docs);
    project.check("orch usage total", usage.total.tasks, &usage.total.usage);
    let windows = usage.windows.as_ref().expect("orch usage has the windows");
    coder.check_windows(
        "orch usage coder",
        windows.of("coder").expect("coder"),
        today,
    );
    docs.check_windows("orch usage docs", windows.of("docs").expect("docs"), today);
    project.check_windows("orch usage project", &windows.project, today);

    let workers: WorkersView = s.run(&["workers", "--format", "json"]).json();
    let of = |id: &str| {
        workers
            .workers
            .iter()
            .find(|w| w.id == id)
            .and_then(|w| w.usage.clone())
            .unwrap_or_else(|| panic!("orch workers: {id} has usage"))
    };
    coder.check_windows("orch workers coder", &of("coder"), today);
    docs.check_windows("orch workers docs", &of("docs"), today);
    let explorer = workers.workers.iter().find(|w| w.id == "explorer");
    assert_eq!(
        explorer.map(|w| w.usage.is_none()),
        Some(true),
        "a worker without tasks has no usage"
    );
    project.check_windows(
        "orch workers project",
        &workers.usage.as_ref().expect("the project's usage").project,
        today,
    );

    // The tables say the same, with the columns and the project line.
    let table = s.run(&["workers"]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(
        table.stdout.contains("TODAY") && table.stdout.contains("7 DAYS"),
        "{}",
        table.stdout
    );
    let tokens = |w: Want| w.input + w.output + w.reasoning + w.cache_read;
    assert!(
        table.stdout.contains(&format!(
            "project usage: today {} · {} tok",
            orch::usage::cost_text(Some(project.cost), false),
            tokens(project)
        )) || !today,
        "{}",
        table.stdout
    );
    let text = s.run(&["usage"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.contains("ALL TIME"), "{}", text.stdout);
    eprintln!(
        "orch usage:\n{}\norch workers:\n{}",
        text.stdout, table.stdout
    );
    let markdown = s.run(&["usage", "--format", "markdown"]);
    assert!(
        markdown.stdout.contains("| project |"),
        "{}",
        markdown.stdout
    );
}

/// The MCP views `usage` and `workers` read by the official Python SDK over `orch mcp`.
#[expect(clippy::expect_used, reason = "test helper")]
fn check_mcp(s: &Sandbox, coder: Want, docs: Want, today: bool) {
    let Some(python) = python_bin("usage_through_the_real_opencode_mcp_views") else {
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/mcp_usage_view.py");
    let out = s
        .command(python)
        .arg(script)
        .arg(BIN)
        .output()
        .expect("the Python client runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the Python client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let both: Value = serde_json::from_str(&stdout).expect("the client prints JSON");
    let usage: UsageView =
        serde_json::from_value(both["usage"].clone()).expect("the usage view's JSON");
    coder.check("mcp usage coder", usage.rows[0].tasks, &usage.rows[0].usage);
    docs.check("mcp usage docs", usage.rows[1].tasks, &usage.rows[1].usage);
    let windows = usage.windows.expect("the MCP usage view has the windows");
    coder
        .plus(docs)
        .check_windows("mcp project", &windows.project, today);
    let workers: WorkersView =
        serde_json::from_value(both["workers"].clone()).expect("the workers view's JSON");
    let coder_row = workers
        .workers
        .iter()
        .find(|w| w.id == "coder")
        .and_then(|w| w.usage.clone())
        .expect("mcp workers: coder has usage");
    coder.check_windows("mcp workers coder", &coder_row, today);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_tasks_on_two_workers_sum_exactly_everywhere_and_survive_a_restart() {
    let Some(opencode) =
        opencode_bin("three_tasks_on_two_workers_sum_exactly_everywhere_and_survive_a_restart")
    else {
        return;
    };
    let llm = FakeLlm::start().await.expect("the fake LLM starts");
    llm.report_usage("priced-a", A);
    llm.report_usage("priced-b", B);
    llm.report_usage("unpriced", B);
    let mut s = Sandbox::offline_opencode(BIN);
    s.set("ORCH_OPENCODE_BIN", &opencode);
    let mut config = fake_llm_config(&llm.base_url());
    config["provider"]["fake"]["models"]["priced-a"] = json!({"name": "Priced A",
        "tool_call": true, "cost": {"input": 2.0, "output": 8.0, "cache_read": 0.5, "cache_write": 4.0}});
    config["provider"]["fake"]["models"]["priced-b"] =
        json!({"name": "Priced B", "tool_call": true, "cost": {"input": 1.25, "output": 10.0}});
    config["provider"]["fake"]["models"]["unpriced"] =
        json!({"name": "Unpriced", "tool_call": true});
    s.write("project/opencode.json", &config.to_string());
    let _stop = Stop(&s);
    let day = || orch::usage::day(orch::clock::Clock::now_ms(&orch::clock::SystemClock));
    let first_day = day();

    let a = want(A, 2.0, 8.0, 0.5);
    let b = want(B, 1.25, 10.0, 0.0);
    let mut rows = vec![
        run(&s, "coder", "fake/priced-a", "TASK-ONE"),
        run(&s, "coder", "fake/priced-a", "TASK-TWO"),
        run(&s, "docs", "fake/priced-b", "TASK-THREE"),
    ];
    // Each task's own figures: OpenCode's cost for the config's prices.
    for (row, w) in rows.iter().zip([a, a, b]) {
        let shown: TaskRow = s.run(&["tasks", &row.id, "--format", "json"]).json();
        w.check(
            &format!("task {}", row.id),
            1,
            shown.usage.as_ref().expect("the task's usage"),
        );
        assert!(
            shown
                .usage
                .as_ref()
                .is_some_and(|u| u.first_token_ms.is_some() && u.total_ms.is_some()),
            "{shown:?}"
        );
    }
    let today = first_day == day();
    let (coder, docs) = (a.times(2), b);
    // OpenCode's own sums (`opencode stats --models`, over the workers' sessions in the
    // sandbox's data dir) per model: orch shows the same messages, cache reads and cost.
    let stats = s
        .command(&opencode)
        .args(["stats", "--models"])
        .output()
        .expect("opencode stats runs");
    let stats = String::from_utf8_lossy(&stats.stdout).into_owned();
    let by_model: UsageView = s
        .run(&["usage", "--by", "model", "--format", "json"])
        .json();
    for (model, w) in [("fake/priced-a", a.times(2)), ("fake/priced-b", b)] {
        let theirs = stats_of(&stats, model);
        let row = by_model
            .rows
            .iter()
            .find(|r| r.key == model)
            .unwrap_or_else(|| panic!("orch usage --by model has {model}"));
        w.check(
            &format!("orch usage --by model {model}"),
            row.tasks,
            &row.usage,
        );
        let cost = row.usage.cost_usd.expect("a known cost");
        assert_eq!(
            (
                theirs.get("Messages").map(String::as_str),
                theirs.get("Cache Read").map(String::as_str),
                theirs.get("Cost").map(String::as_str),
            ),
            (
                Some(row.tasks.to_string().as_str()),
                Some(w.cache_read.to_string().as_str()),
                Some(format!("${cost:.4}").as_str())
            ),
            "{model}: OpenCode's own stats:\n{stats}"
        );
    }
    check_cli(&s, coder, docs, today);
    check_mcp(&s, coder, docs, today);

    // A new backend reads the same figures from the task records.
    let stopped = s.run(&["stop"]);
    assert_eq!(stopped.code, 0, "{}", stopped.stderr);
    check_cli(&s, coder, docs, today && first_day == day());

    // A model without prices: OpenCode reports 0, orch's catalog has no price: unknown.
    rows.push(run(&s, "coder", "fake/unpriced", "TASK-FOUR"));
    let shown: TaskRow = s.run(&["tasks", &rows[3].id, "--format", "json"]).json();
    let u = shown.usage.as_ref().expect("the task's usage");
    assert_eq!(u.cost_usd, None, "unknown, not 0: {u:?}");
    assert_eq!(u.input, Some(B.prompt));
    let raw: Value = s.run(&["tasks", &rows[3].id, "--format", "json"]).json();
    assert_eq!(raw["usage"]["cost_usd"], Value::Null);
    let text = s.run(&["tasks", &rows[3].id]);
    assert!(text.stdout.contains("cost unknown"), "{}", text.stdout);
    let usage: UsageView = s.run(&["usage", "--format", "json"]).json();
    let coder_row = &usage.rows[0];
    assert_eq!((coder_row.tasks, coder_row.unknown_cost), (3, 1));
    let cost = coder_row.usage.cost_usd.expect("the known part");
    assert!(
        (cost - coder.cost).abs() < 1e-12,
        "the unknown part adds nothing: {cost}"
    );
    let w = usage.windows.as_ref().expect("windows");
    assert_eq!(w.project.all_time.unknown_cost, 1);
    assert_eq!(w.project.all_time.tasks, 4);
    let table = s.run(&["usage"]);
    assert!(table.stdout.contains("+ 1 unknown"), "{}", table.stdout);
    let workers = s.run(&["workers"]);
    assert!(workers.stdout.contains("+ 1 unknown"), "{}", workers.stdout);
}
