//! The one number formatter: token counts and prices as every table shows them (the CLI's
//! renderings, Markdown, the TUI), and unknown values as `null` in JSON.
//!
//! The rule (documented in `docs/cli.md`, "Numbers"):
//! - token counts use decimal units (k = 1,000, M = 1,000,000, G = 1,000,000,000) and show
//!   three significant digits, rounded to the nearest, trailing zeros dropped: 4,000 is
//!   `4k`, 4,096 is `4.1k`, 131,072 is `131k`, 1,000,000 is `1M`, 1,048,576 is `1.05M`,
//!   1,050,000 is `1.05M`; a count under 1,000 is shown whole. The shown value is never
//!   more than 0.5 % away from the real one (1,050,000 is not `1.1M`);
//! - prices (US dollars per million tokens) are shown with every digit the catalog gives
//!   (`14.945`, `0.15`, `3`), never rounded;
//! - unknown is `?` in tables and `null` in JSON. The catalog writes 0 for an unknown
//!   context or output limit, so 0 tokens means unknown; it also writes 0 for a price it
//!   does not know, which cannot be told from a free model, so a 0 price shows `0`.

use serde::{Deserialize, Deserializer, Serializer};

/// What tables show for a value nobody knows.
pub const UNKNOWN: &str = "?";

/// Units of [`tokens`], largest first.
const UNITS: [(u64, &str); 3] = [(1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")];

/// A token count: `950`, `4k`, `4.1k`, `131k`, `1M`, `1.05M`; `?` for 0 (unknown).
pub fn tokens(n: u64) -> String {
    if n == 0 {
        return UNKNOWN.to_owned();
    }
    let Some(i) = UNITS.iter().position(|&(unit, _)| n >= unit) else {
        return n.to_string();
    };
    let (unit, suffix) = UNITS[i];
    let value = rounded(n, unit);
    // 999,999 rounds to 1,000k: that is 1M.
    match i.checked_sub(1) {
        Some(up) if value >= 1000.0 => {
            format!("{}{}", trim(rounded(n, UNITS[up].0)), UNITS[up].1)
        }
        _ => format!("{}{suffix}", trim(value)),
    }
}

/// `n / unit` rounded to three significant digits.
fn rounded(n: u64, unit: u64) -> f64 {
    let v = n as f64 / unit as f64;
    let decimals = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let scale = 10f64.powi(decimals);
    (v * scale).round() / scale
}

/// A number with at most two decimals, trailing zeros dropped: `4.1`, `1.05`, `131`.
fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A price per million tokens with every digit the catalog gives: `0`, `0.15`, `3`,
/// `14.945`; `?` when it is not a finite number.
pub fn price(p: f64) -> String {
    if !p.is_finite() || p < 0.0 {
        return UNKNOWN.to_owned();
    }
    // Every digit the catalog gives, up to six decimals: a price computed from a
    // per-token one (`0.04999999999999999`) reads as the catalog meant it (`0.05`).
    let s = format!("{p:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A price that may be unknown: `?` when it is.
pub fn price_or_unknown(p: Option<f64>) -> String {
    p.map_or_else(|| UNKNOWN.to_owned(), price)
}

/// Serializes a token count with 0 (unknown) as `null`.
pub fn serialize_tokens<S: Serializer>(n: &u64, s: S) -> Result<S::Ok, S::Error> {
    match *n {
        0 => s.serialize_none(),
        n => s.serialize_some(&n),
    }
}

/// Reads what [`serialize_tokens`] writes: `null` (or 0) is unknown, kept as 0.
pub fn deserialize_tokens<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(Option::<u64>::deserialize(d)?.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_counts_keep_three_significant_digits_and_never_round_far() {
        let cases = [
            (0, "?"),
            (1, "1"),
            (950, "950"),
            (999, "999"),
            (1000, "1k"),
            (1024, "1.02k"),
            (4000, "4k"),
            (4096, "4.1k"),
            (8192, "8.19k"),
            (32_768, "32.8k"),
            (128_000, "128k"),
            (131_072, "131k"),
            (200_000, "200k"),
            (999_499, "999k"),
            (999_500, "1M"),
            (999_999, "1M"),
            (1_000_000, "1M"),
            (1_048_576, "1.05M"),
            (1_050_000, "1.05M"),
            (2_000_000, "2M"),
            (10_000_000, "10M"),
            (999_999_999, "1G"),
            (2_500_000_000, "2.5G"),
            (u64::MAX, "18446744074G"),
        ];
        for (n, want) in cases {
            assert_eq!(tokens(n), want, "{n}");
        }
    }

    #[test]
    fn a_shown_count_is_within_half_a_percent() {
        for n in (1000u64..3_000_000).step_by(997) {
            let s = tokens(n);
            let (num, unit) = s.split_at(s.len() - 1);
            let scale = match unit {
                "k" => 1e3,
                "M" => 1e6,
                "G" => 1e9,
                other => panic!("{n}: unit {other}"),
            };
            let shown: f64 = num.parse().expect("a number before the unit");
            let error = (shown * scale - n as f64).abs() / n as f64;
            assert!(error <= 0.005, "{n} shown as {s}: {error}");
        }
    }

    #[test]
    fn prices_keep_every_digit() {
        assert_eq!(price(0.0), "0");
        assert_eq!(price(0.15), "0.15");
        assert_eq!(price(3.0), "3");
        assert_eq!(price(14.945), "14.945");
        assert_eq!(price(2.989), "2.989");
        assert_eq!(price(0.0375), "0.0375");
        assert_eq!(price(f64::NAN), "?");
        assert_eq!(price(-1.0), "?");
        // Float noise from a computed price is not a digit the catalog gave.
        assert_eq!(price(0.04999999999999999), "0.05");
        assert_eq!(price(0.18749999999999992), "0.1875");
        assert_eq!(price(0.000_25), "0.00025");
    }

    #[test]
    fn unknown_tokens_are_null_in_json() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Row {
            #[serde(
                serialize_with = "serialize_tokens",
                deserialize_with = "deserialize_tokens"
            )]
            context: u64,
        }
        let json = serde_json::to_string(&Row { context: 0 }).expect("serializes");
        assert_eq!(json, r#"{"context":null}"#);
        let json = serde_json::to_string(&Row { context: 131_072 }).expect("serializes");
        assert_eq!(json, r#"{"context":131072}"#);
        for (text, want) in [
            (r#"{"context":null}"#, 0),
            (r#"{"context":0}"#, 0),
            (r#"{"context":5}"#, 5),
        ] {
            let row: Row = serde_json::from_str(text).expect("reads back");
            assert_eq!(row.context, want, "{text}");
        }
    }
}
