//! The search of a list as someone types (the TUI's pick list), with the resolver's own
//! scoring ([`Query::score`]), so that a text finds the same model first in `orch resolve`,
//! `orch models --query` and the TUI: an exact id or name first, then the id without
//! version suffix or separators (`gpt4o` is `gpt-4o`), prefixes, substrings, every word.
//! One extra rule for typing only, never for resolving: a query whose letters appear in
//! order in a row's key (`l318` in `llama-3.1-8b`) still matches, below every other rule.
//!
//! Fast enough for every keystroke over the whole bundled catalog (about 8,300 models):
//! each row's forms are computed once ([`Haystack`]), a query once per keystroke
//! ([`Matcher`]), and most rows are rejected on their [`Key`] alone.

use std::cmp::Reverse;

use super::index::{Key, Query, Searchable, compact};

/// A row's searchable text, computed once: its key (the reference, like `fake/fast-mini`
/// or `node:fast`) and the rest (its name, what a tag resolves to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Haystack {
    text: Searchable,
    key: Key,
    /// The key's letters and digits, for the typing-only subsequence rule.
    letters: Box<[u8]>,
}

impl Haystack {
    /// The key and the other searchable words of one row.
    pub fn new(key: &str, rest: &[&str]) -> Self {
        let text = Searchable::new(key, &rest.join(" "));
        Self {
            key: text.key(),
            letters: compact(key).into_bytes().into_boxed_slice(),
            text,
        }
    }
}

/// One query, prepared.
pub struct Matcher {
    query: Query,
    letters: Vec<u8>,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Matcher({:?})", self.query.text())
    }
}

impl Matcher {
    /// Prepares `query` (case and surrounding blanks do not matter).
    pub fn new(query: &str) -> Self {
        Self {
            query: Query::new(query),
            letters: compact(query).into_bytes(),
        }
    }

    /// Whether there is nothing to match (every row matches).
    pub fn is_empty(&self) -> bool {
        self.query.is_empty()
    }

    /// A row's score, higher is better; `None` when it does not match. The resolver's
    /// scores (300 to 1000); a query that is only a subsequence of the key's letters scores
    /// under 100, less the more spread out it is.
    pub fn score(&self, h: &Haystack) -> Option<u32> {
        if self.query.may_match(&h.key)
            && let Some((score, _)) = self.query.score(&h.text)
        {
            return u32::try_from(score).ok();
        }
        if self.letters.is_empty() {
            return None;
        }
        subsequence_gaps(&self.letters, &h.letters).map(|gaps| 99 - gaps.min(98))
    }
}

/// How many bytes are skipped when `needle` is found as a subsequence of `hay`.
fn subsequence_gaps(needle: &[u8], hay: &[u8]) -> Option<u32> {
    let mut gaps = 0u32;
    let mut started = false;
    let mut it = hay.iter();
    for &n in needle {
        loop {
            let &b = it.next()?;
            if b == n {
                started = true;
                break;
            }
            if started {
                gaps += 1;
            }
        }
    }
    Some(gaps)
}

/// Indices of the rows that `keep` allows and `m` matches, best first (ties keep their
/// order). `out` is reused between keystrokes to avoid allocating.
pub fn filter(hays: &[Haystack], m: &Matcher, keep: impl Fn(usize) -> bool, out: &mut Vec<usize>) {
    out.clear();
    if m.is_empty() {
        out.extend((0..hays.len()).filter(|&i| keep(i)));
        return;
    }
    let mut scored: Vec<(Reverse<u32>, usize)> = hays
        .iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .filter_map(|(i, h)| m.score(h).map(|s| (Reverse(s), i)))
        .collect();
    scored.sort_unstable();
    out.extend(scored.into_iter().map(|(_, i)| i));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rows: &[(&str, &str)], q: &str) -> Vec<usize> {
        let hays: Vec<Haystack> = rows.iter().map(|(k, n)| Haystack::new(k, &[n])).collect();
        let mut out = Vec::new();
        filter(&hays, &Matcher::new(q), |_| true, &mut out);
        out
    }

    const ROWS: [(&str, &str); 5] = [
        ("fake/big-pro", "Big Pro"),
        ("fake/fast-mini", "Fast Mini"),
        ("groq/llama-3.1-8b-instant", "Llama 3.1 8B"),
        ("node:fast", "fake/fast-mini"),
        ("openai/gpt-4o-mini", "GPT-4o mini"),
    ];

    #[test]
    fn empty_query_keeps_everything_in_order() {
        assert_eq!(run(&ROWS, ""), [0, 1, 2, 3, 4]);
        assert_eq!(run(&ROWS, "   "), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn substring_in_the_key_beats_substring_in_the_name() {
        let got = run(&ROWS, "fast");
        assert_eq!(got, [1, 3]);
        let got = run(&ROWS, "FAST MINI");
        assert_eq!(got[0], 1, "the exact name comes first: {got:?}");
    }

    #[test]
    fn an_exact_key_wins() {
        assert_eq!(run(&ROWS, "node:fast")[0], 3);
        // The id typed in full beats the tag that resolves to it (issue 14).
        assert_eq!(run(&ROWS, "fake/big-pro")[0], 0);
        assert_eq!(run(&ROWS, "fake/fast-mini"), [1, 3]);
        // The id after the provider, typed in full, too.
        assert_eq!(run(&ROWS, "gpt-4o-mini")[0], 4);
    }

    #[test]
    fn separators_do_not_matter_and_subsequences_match_last() {
        assert_eq!(run(&ROWS, "gpt4o"), [4]);
        assert_eq!(run(&ROWS, "gpt4omini"), [4]);
        assert_eq!(run(&ROWS, "l318"), [2]);
        // Not a subsequence of any key, not a substring of anything.
        assert!(run(&ROWS, "zzz").is_empty());
        // A subsequence of a *name* only does not match (names are not walked).
        assert!(run(&[("x/abc", "Quite Different")], "qd").is_empty());
        // A subsequence scores below every other rule.
        let hays = [Haystack::new("ab-cd", &[]), Haystack::new("zabcd", &[])];
        let m = Matcher::new("acd");
        assert!(m.score(&hays[0]) < Some(100));
    }

    #[test]
    fn every_word_must_match() {
        assert_eq!(run(&ROWS, "mini openai"), [4]);
        assert!(run(&ROWS, "mini zzz").is_empty());
    }

    #[test]
    fn keep_filters_before_matching() {
        let hays: Vec<Haystack> = ROWS.iter().map(|(k, n)| Haystack::new(k, &[n])).collect();
        let mut out = vec![99];
        filter(&hays, &Matcher::new("mini"), |i| i != 1, &mut out);
        assert_eq!(out, [4, 3]);
    }

    #[test]
    fn gaps() {
        assert_eq!(subsequence_gaps(b"ac", b"abc"), Some(1));
        assert_eq!(subsequence_gaps(b"ac", b"xxac"), Some(0));
        assert_eq!(subsequence_gaps(b"ca", b"abc"), None);
        assert_eq!(subsequence_gaps(b"", b"abc"), Some(0));
    }
}
