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

/// Whether a model is known to cost nothing: OpenCode Zen's `…-free` models and
/// OpenRouter's `…:free` ones. A 0 price in the catalog alone does not say so (it also
/// means "unknown").
pub fn known_free(model_id: &str) -> bool {
    let id = model_id.to_ascii_lowercase();
    id.ends_with("-free") || id.ends_with(":free") || id.contains("-free-")
}

/// Whether the catalog gives this model a price.
pub fn has_price(cost: &Cost) -> bool {
    cost.input > 0.0 || cost.output > 0.0
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
}
