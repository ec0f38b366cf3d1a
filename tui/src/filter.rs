//! Fuzzy filtering of the pick list, fast enough to run on every keystroke over the whole
//! bundled catalog (about 8,300 models): each row's lowercase text is computed once
//! ([`Haystack`]), a query once per keystroke ([`Matcher`]), and a row is then scored with
//! a substring search (memchr's `memmem`) and, failing that, a subsequence walk over its key.

use std::cmp::Reverse;

use memchr::memmem;

/// A row's searchable text, lowercased once: its key (the reference, like
/// `fake/fast-mini` or `node:fast`) first, then the rest (name, what a tag resolves to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Haystack {
    text: Box<[u8]>,
    key_len: usize,
}

impl Haystack {
    /// The key and the other searchable words of one row.
    pub fn new(key: &str, rest: &[&str]) -> Self {
        let mut text = key.to_lowercase();
        let key_len = text.len();
        for r in rest {
            text.push(' ');
            text.push_str(&r.to_lowercase());
        }
        Self {
            text: text.into_bytes().into_boxed_slice(),
            key_len,
        }
    }
}

/// One query, prepared: lowercase words, each with its substring finder.
#[derive(Debug, Clone)]
pub struct Matcher {
    words: Vec<memmem::Finder<'static>>,
}

/// Bytes that start a word inside a reference or a name.
fn is_separator(b: u8) -> bool {
    matches!(b, b'/' | b'-' | b'_' | b'.' | b':' | b' ' | b'(' | b'[')
}

impl Matcher {
    /// Splits `query` into lowercase words; a row must match every word.
    pub fn new(query: &str) -> Self {
        let words = query
            .to_lowercase()
            .split_whitespace()
            .map(|w| memmem::Finder::new(w.as_bytes()).into_owned())
            .collect();
        Self { words }
    }

    /// Whether there is nothing to match (every row matches).
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// A row's score, higher is better; `None` when a word matches nowhere. A word found
    /// as a substring scores by where (in the key, at a word start, early); a word that is
    /// only a subsequence of the key (`gpt4o` in `gpt-4o`) scores less, by how spread out.
    pub fn score(&self, h: &Haystack) -> Option<u32> {
        let mut total = 0u32;
        for w in &self.words {
            total += match w.find(&h.text) {
                Some(pos) => {
                    let mut s = 1000 - pos.min(500) as u32;
                    if pos == 0 || is_separator(h.text[pos - 1]) {
                        s += 200;
                    }
                    if pos < h.key_len {
                        s += 300;
                        if pos == 0 && w.needle().len() == h.key_len {
                            s += 500;
                        }
                    }
                    s
                }
                None => 100 - subsequence_gaps(w.needle(), &h.text[..h.key_len])?.min(99),
            };
        }
        Some(total)
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
        // `node:fast` has "fast" at a word start of its key; `fake/fast-mini` too, later.
        let got = run(&ROWS, "fast");
        assert_eq!(got, [1, 3]);
        let got = run(&ROWS, "FAST MINI");
        assert_eq!(got[0], 1, "both words in the key come first: {got:?}");
    }

    #[test]
    fn an_exact_key_wins() {
        assert_eq!(run(&ROWS, "node:fast")[0], 3);
    }

    #[test]
    fn subsequence_of_the_key_matches_with_a_lower_score() {
        assert_eq!(run(&ROWS, "gpt4o"), [4]);
        assert_eq!(run(&ROWS, "l318"), [2]);
        // Not a subsequence of any key, not a substring of anything.
        assert!(run(&ROWS, "zzz").is_empty());
        // A subsequence of a *name* only does not match (names are not walked).
        assert!(run(&[("x/abc", "Quite Different")], "qd").is_empty());
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
