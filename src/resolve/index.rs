//! A search index over every model of a provider set, and the one fuzzy scoring: the
//! resolver, `orch models --query` and the TUI's search (through [`super::matcher`]) all
//! score with [`Query::score`].
//!
//! Scores (higher wins; see `docs/model-selection.md`):
//! exact id 1000 · exact last segment of a `/` id 960 · exact display name 950 ·
//! same id once version suffixes are dropped 900 · same id once separators are dropped
//! (`gpt4o` is `gpt-4o`) 890, and the version suffix too 880 · id prefix 700 · name prefix
//! 650 · id prefix once separators are dropped 600 · id substring 500 · name substring 450
//! · id substring once separators are dropped 400 · every word present 300; the partial
//! ones add up to 99 for tightness (how much of the id or name the query covers).

use std::ops::Deref;

use memchr::memmem;

use crate::sources::{Access, ProviderSet};

/// One model in the index.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Index into `ProviderSet::providers`.
    pub provider: usize,
    /// Index into that provider's models.
    pub model: usize,
    /// Its id and name in the forms a query compares.
    text: Searchable,
    /// Provider access.
    pub access: Access,
}

impl Deref for Entry {
    type Target = Searchable;

    fn deref(&self) -> &Searchable {
        &self.text
    }
}

/// An id and a name in every form a [`Query`] compares, computed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Searchable {
    /// Lowercase id.
    id: Box<str>,
    /// Lowercase id without version suffixes.
    base: Box<str>,
    /// Lowercase display name.
    name: Box<str>,
    /// Lowercase last `/` segment of the id without version suffixes: the model's identity
    /// across providers.
    pub identity: Box<str>,
    /// The id lowercase with only its letters and digits (`gpt-4o` is `gpt4o`): how the
    /// id reads to someone who types it without separators.
    compact: Box<str>,
    /// The identity, letters and digits only.
    pub compact_identity: Box<str>,
}

impl Searchable {
    /// The forms of `id` (a model id, `provider/model`, or a tag) and `name`.
    pub fn new(id: &str, name: &str) -> Self {
        let id = id.to_lowercase();
        let base = strip_version(&id).to_owned();
        let tail = id.rsplit('/').next().unwrap_or(&id);
        let identity = strip_version(tail).to_owned();
        Self {
            base: base.into(),
            compact: compact(&id).into(),
            compact_identity: compact(&identity).into(),
            identity: identity.into(),
            name: name.to_lowercase().into(),
            id: id.into(),
        }
    }

    /// Its [`Key`].
    pub fn key(&self) -> Key {
        Key {
            id_grams: grams(&self.id),
            name_grams: grams(&self.name),
            compact_grams: grams(&self.compact),
        }
    }
}

/// What a scan reads of every entry before it looks further: the [`grams`] of the lowercase
/// id and name, kept apart from the entries so that a scan of the whole catalog stays in cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    id_grams: [u64; 2],
    name_grams: [u64; 2],
    compact_grams: [u64; 2],
}

/// Letters and digits of `s`, lowercase: `GPT-4o` and `gpt 4o` are both `gpt4o`.
pub fn compact(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// A 128-bit summary of the bytes (low half) and byte pairs (high half) of `s`, hashed.
/// If `a` contains `b`, every bit of `grams(b)` is set in `grams(a)`: a query whose bits an
/// entry lacks cannot be a substring of it, which rejects most of a large catalog with
/// one AND instead of a substring search.
pub fn grams(s: &str) -> [u64; 2] {
    let b = s.as_bytes();
    let mut m = [0u64; 2];
    for &c in b {
        m[0] |= 1 << (c % 64);
    }
    for pair in b.windows(2) {
        let h = (u32::from(pair[0]) << 8 | u32::from(pair[1])).wrapping_mul(0x9E37_79B1) >> 26;
        m[1] |= 1 << h;
    }
    m
}

/// Whether every bit of `query` is set in `entry`.
#[inline]
fn covers(entry: [u64; 2], query: [u64; 2]) -> bool {
    entry[0] & query[0] == query[0] && entry[1] & query[1] == query[1]
}

/// The index.
#[derive(Debug, Clone, Default)]
pub struct ModelIndex {
    /// Every model, provider by provider.
    pub entries: Vec<Entry>,
    /// The [`Key`] of each entry, same order.
    pub keys: Vec<Key>,
    /// The entries of each provider (by index into `ProviderSet::providers`).
    pub ranges: Vec<std::ops::Range<usize>>,
}

impl ModelIndex {
    /// Builds the index of a provider set.
    pub fn build(set: &ProviderSet) -> Self {
        let count = set.providers.iter().map(|p| p.provider.models.len()).sum();
        let mut entries = Vec::with_capacity(count);
        let mut keys = Vec::with_capacity(count);
        let mut ranges = Vec::with_capacity(set.providers.len());
        for (pi, p) in set.providers.iter().enumerate() {
            let start = entries.len();
            for (mi, m) in p.provider.models.iter().enumerate() {
                let text = Searchable::new(&m.id, &m.name);
                keys.push(text.key());
                entries.push(Entry {
                    provider: pi,
                    model: mi,
                    text,
                    access: p.access,
                });
            }
            ranges.push(start..entries.len());
        }
        Self {
            entries,
            keys,
            ranges,
        }
    }
}

/// A prepared query.
pub struct Query {
    q: String,
    base: String,
    /// `q` with letters and digits only; empty when shorter than two characters.
    compact: String,
    words: Vec<String>,
    finder: memmem::Finder<'static>,
    /// [`grams`] of `q`, of `base`, and of all words together.
    q_grams: [u64; 2],
    base_grams: [u64; 2],
    words_grams: [u64; 2],
    compact_grams: [u64; 2],
}

impl Query {
    /// Prepares a query (lowercased).
    pub fn new(text: &str) -> Self {
        let q = text.trim().to_lowercase();
        let base = strip_version(&q).to_owned();
        let squeezed = compact(&q);
        let compact = if squeezed.chars().count() >= 2 {
            squeezed
        } else {
            String::new()
        };
        let words: Vec<String> = q
            .split(|c: char| c.is_whitespace() || matches!(c, '-' | '_' | '.' | '/' | ':'))
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect();
        let finder = memmem::Finder::new(q.as_bytes()).into_owned();
        let words_grams = words.iter().fold([0; 2], |m, w| {
            let g = grams(w);
            [m[0] | g[0], m[1] | g[1]]
        });
        Self {
            q_grams: grams(&q),
            base_grams: grams(&base),
            words_grams,
            compact_grams: grams(&compact),
            q,
            base,
            compact,
            words,
            finder,
        }
    }

    /// Whether there is nothing to look for (an empty or blank query matches nothing).
    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    /// The lowercase query.
    pub fn text(&self) -> &str {
        &self.q
    }

    /// Whether `e` can match at all. Every way to score needs the version-less query inside
    /// the id (exact id, last segment, same base or identity, id prefix or substring), the
    /// query inside the name (exact name, name prefix or substring), every word inside
    /// the id or the name, or the query's letters and digits inside the id's; an entry
    /// missing the grams of all four is skipped unscored.
    #[inline]
    pub fn may_match(&self, k: &Key) -> bool {
        let both = [
            k.id_grams[0] | k.name_grams[0],
            k.id_grams[1] | k.name_grams[1],
        ];
        !self.q.is_empty()
            && (covers(k.id_grams, self.base_grams)
                || covers(k.name_grams, self.q_grams)
                || (self.words.len() > 1 && covers(both, self.words_grams))
                || (!self.compact.is_empty() && covers(k.compact_grams, self.compact_grams)))
    }

    /// Scores one entry; `None` when it does not match at all. Callers scanning many
    /// entries skip those [`Query::may_match`] rejects; the result is the same.
    pub fn score(&self, e: &Searchable) -> Option<(i64, &'static str)> {
        let q = self.q.as_str();
        if q.is_empty() {
            return None;
        }
        if *e.id == *q {
            return Some((1000, "exact id"));
        }
        if e.id.contains('/') && e.id.rsplit('/').next() == Some(q) {
            return Some((960, "exact id after the /"));
        }
        if *e.name == *q {
            return Some((950, "exact name"));
        }
        if !self.base.is_empty() && (*e.base == *self.base || *e.identity == *self.base) {
            return Some((900, "same id, version suffix ignored"));
        }
        let c = self.compact.as_str();
        if !c.is_empty() && *e.compact == *c {
            return Some((890, "same id, separators ignored"));
        }
        if !c.is_empty() && *e.compact_identity == *c {
            return Some((880, "same id, separators and version suffix ignored"));
        }
        let tight = |target: &str| (q.len() * 99 / target.len().max(1)).min(99) as i64;
        if e.id.starts_with(q) {
            return Some((700 + tight(&e.id), "id prefix"));
        }
        if e.name.starts_with(q) {
            return Some((650 + tight(&e.name), "name prefix"));
        }
        let tight_compact = || (c.len() * 99 / e.compact.len().max(1)).min(99) as i64;
        if !c.is_empty() && e.compact.starts_with(c) {
            return Some((600 + tight_compact(), "id prefix, separators ignored"));
        }
        if self.finder.find(e.id.as_bytes()).is_some() {
            return Some((500 + tight(&e.id), "id contains it"));
        }
        if self.finder.find(e.name.as_bytes()).is_some() {
            return Some((450 + tight(&e.name), "name contains it"));
        }
        if !c.is_empty() && e.compact.contains(c) {
            return Some((400 + tight_compact(), "id contains it, separators ignored"));
        }
        if self.words.len() > 1
            && self
                .words
                .iter()
                .all(|w| e.id.contains(w.as_str()) || e.name.contains(w.as_str()))
        {
            return Some((300 + tight(&e.id), "all words present"));
        }
        None
    }
}

/// Drops version suffixes: dates (`-20250514`, `@20250514`, `-2024-11-20`), `-latest`,
/// Bedrock's `-v1:0`, and short release numbers (`-0613`, `-001`).
pub fn strip_version(id: &str) -> &str {
    let mut s = id;
    loop {
        let before = s;
        if let Some(rest) = s.strip_suffix("-latest") {
            s = rest;
        }
        if let Some(pos) = s.rfind(['-', '@']) {
            let tail = &s[pos + 1..];
            let digits = !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit());
            let date = digits && tail.len() == 8;
            let release =
                digits && (tail.len() == 3 || tail.len() == 4) && tail.starts_with(['0', '1']);
            let bedrock = tail.len() >= 4
                && tail.starts_with('v')
                && tail[1..].split_once(':').is_some_and(|(a, b)| {
                    !a.is_empty()
                        && !b.is_empty()
                        && a.bytes().all(|c| c.is_ascii_digit())
                        && b.bytes().all(|c| c.is_ascii_digit())
                });
            if (date || release || bedrock) && pos > 0 {
                s = &s[..pos];
            }
        }
        // ISO date: -YYYY-MM-DD. The cut must fall on a character boundary: when it does not,
        // the tail holds a non-ASCII character and is no date.
        if s.len() > 11 && s.is_char_boundary(s.len() - 11) {
            let (head, tail) = s.split_at(s.len() - 11);
            let b = tail.as_bytes();
            if !head.is_empty()
                && b[0] == b'-'
                && b[5] == b'-'
                && b[8] == b'-'
                && b[1..5]
                    .iter()
                    .chain(&b[6..8])
                    .chain(&b[9..])
                    .all(u8::is_ascii_digit)
            {
                s = head;
            }
        }
        if s == before {
            return s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Model, Provider};
    use crate::sources::ProviderEntry;
    use proptest::prelude::*;

    /// The index of one model.
    fn one(id: &str, name: &str) -> ModelIndex {
        let set = ProviderSet {
            providers: vec![ProviderEntry {
                provider: Provider {
                    id: "p".into(),
                    name: "P".into(),
                    models: vec![Model {
                        id: id.into(),
                        name: name.into(),
                        ..Model::default()
                    }],
                    ..Provider::default()
                },
                access: Access::Api,
                key_present: true,
                default_model: None,
            }],
            ..ProviderSet::default()
        };
        ModelIndex::build(&set)
    }

    proptest! {
        /// The quick rejection never rejects an entry the query would score.
        #[test]
        fn may_match_never_hides_a_match(
            id in "[a-zA-Z0-9./:@_ -]{0,24}|\\PC{0,12}",
            name in "[a-zA-Z0-9./ -]{0,24}|\\PC{0,12}",
            cut in 0usize..30,
            from in 0usize..30,
            query in "[a-z0-9./: -]{0,12}|\\PC{0,6}",
        ) {
            let index = one(&id, &name);
            let (entry, key) = (&index.entries[0], &index.keys[0]);
            // Queries built from the id and the name hit every way of scoring.
            let lower = id.to_lowercase();
            let part: String = lower.chars().skip(from).take(cut).collect();
            let head: String = name.to_lowercase().chars().take(cut).collect();
            for text in [query.as_str(), &part, &head, &lower, &name, &format!("{part} {head}"), &format!("{lower}-20250101")] {
                let q = Query::new(text);
                if q.score(entry).is_some() {
                    prop_assert!(q.may_match(key), "{text:?} scores {id:?}/{name:?} but is rejected");
                }
            }
        }
    }

    #[test]
    fn version_suffixes() {
        let cases = [
            ("claude-sonnet-4-20250514", "claude-sonnet-4"),
            ("claude-3-5-sonnet@20241022", "claude-3-5-sonnet"),
            ("gpt-4o-2024-11-20", "gpt-4o"),
            ("gpt-4-0613", "gpt-4"),
            ("gemini-2.0-flash-001", "gemini-2.0-flash"),
            ("claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
            ("kimi-latest", "kimi"),
            ("deepseek-v3", "deepseek-v3"),
            ("llama-3.1-8b", "llama-3.1-8b"),
            ("qwen3-235b-a22b-2507", "qwen3-235b-a22b-2507"),
            ("20250514", "20250514"),
            ("", ""),
            ("-", "-"),
            // Non-ASCII ids never split inside a character.
            ("ééééééééééé", "ééééééééééé"),
            ("modèle-2024-11-20", "modèle"),
            ("x-2024-11-2é", "x-2024-11-2é"),
            ("日本語モデル-20250514", "日本語モデル"),
            ("é-vé:0", "é-vé:0"),
        ];
        for (id, want) in cases {
            assert_eq!(strip_version(id), want, "{id}");
        }
    }
}
