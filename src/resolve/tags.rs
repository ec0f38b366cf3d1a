//! Built-in tags and how each one scores a usable model.
//!
//! Every tag needs a model that does text work (text in and text out here; the resolver
//! also applies [`super::fit::text_work`]'s family markers); `node:vision` also needs
//! image input. Points
//! (see `docs/model-selection.md` for the table): provider access (config 100 / api 30 /
//! env 20 / custom 10: a provider the user declared is preferred), tool calls 60, active
//! status 10, and per tag — `node`: provider from config 300 / api 200 / env 150 /
//! custom 100 instead, and provider default 100, so OpenCode's own fallback (a configured
//! provider's default) wins; `node:fast`: a fast-sounding name 40, low price up to 30,
//! reasoning −10; `node:vision`: attachments 10, OpenCode's `model` 40; `node:docs`: large
//! context counts double, OpenCode's `model` 60.

use crate::catalog::Model;
use crate::numbers::tokens;
use crate::sources::{Access, ProviderEntry};

/// A built-in tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// `node`: general work.
    Node,
    /// `node:fast`: quick, cheap work.
    Fast,
    /// `node:vision`: image input.
    Vision,
    /// `node:docs`: reading documentation; long context.
    Docs,
    /// `node:cheap`: the cheapest usable model that fits, by catalog price (input + output
    /// per million tokens). A model without a price never qualifies (0 in the catalog also
    /// means "unknown"), except one known to be free ([`crate::usage::known_free`]).
    Cheap,
}

/// The tags users can write, canonical spelling first.
pub const TAGS: [&str; 10] = [
    "node",
    "node:fast",
    "node:vision",
    "node:docs",
    "node:cheap",
    "auto",
    "auto:fast",
    "auto:vision",
    "auto:docs",
    "auto:cheap",
];

impl Tag {
    /// Every built-in tag, in the order they are offered.
    pub const ALL: [Tag; 5] = [
        Self::Node,
        Self::Fast,
        Self::Vision,
        Self::Docs,
        Self::Cheap,
    ];

    /// Parses `node`, `node:fast`, ... and the `auto` spellings.
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix("node").or_else(|| s.strip_prefix("auto"))?;
        match rest {
            "" => Some(Self::Node),
            ":fast" => Some(Self::Fast),
            ":vision" => Some(Self::Vision),
            ":docs" => Some(Self::Docs),
            ":cheap" => Some(Self::Cheap),
            _ => None,
        }
    }

    /// Whether `s` is written like a tag (`node:*`, `auto:*`), known or not.
    pub fn looks_like_tag(s: &str) -> bool {
        s == "node" || s == "auto" || s.starts_with("node:") || s.starts_with("auto:")
    }

    /// Canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Node => "node",
            Self::Fast => "node:fast",
            Self::Vision => "node:vision",
            Self::Docs => "node:docs",
            Self::Cheap => "node:cheap",
        }
    }

    /// What the tag is for, in words.
    pub fn purpose(self) -> &'static str {
        match self {
            Self::Node => "general work",
            Self::Fast => "fast work",
            Self::Vision => "image input",
            Self::Docs => "documentation work",
            Self::Cheap => "cheap work",
        }
    }
}

/// Words that mark a small, fast model.
const FAST_WORDS: [&str; 9] = [
    "fast", "mini", "flash", "haiku", "nano", "small", "lite", "turbo", "instant",
];

/// Points for a context window: 0 at 8k or less, 8 per doubling, at most 40 (256k).
fn context_points(context: u64) -> i64 {
    if context <= 8192 {
        return 0;
    }
    let doublings = 63 - (context / 8192).leading_zeros() as i64;
    (doublings * 8).min(40)
}

/// What a scorer knows about the model beyond the model itself.
pub struct Context<'a> {
    /// The provider.
    pub provider: &'a ProviderEntry,
    /// Whether it is OpenCode's `model`.
    pub is_config_model: bool,
    /// Whether it is its provider's default.
    pub is_default: bool,
    /// Whether the worker needs image input.
    pub need_image: bool,
}

/// Scores a usable model for a tag, with the notes that explain the score; `None` when it
/// does not qualify.
pub fn score(tag: Tag, m: &Model, cx: &Context<'_>) -> Option<(i64, String)> {
    let mut notes = Vec::new();
    let s = rate(tag, m, cx, Some(&mut notes))?;
    Some((s, notes.join(", ")))
}

/// The score of [`score`] without its notes: ranking a large catalog builds no strings.
pub fn points(tag: Tag, m: &Model, cx: &Context<'_>) -> Option<i64> {
    rate(tag, m, cx, None)
}

/// A score being added up, with the notes that explain it when they are wanted.
struct Tally<'a> {
    points: i64,
    notes: Option<&'a mut Vec<String>>,
}

impl Tally<'_> {
    /// Writes a note; the text is built only when notes are wanted.
    fn note(&mut self, text: impl FnOnce() -> String) {
        if let Some(n) = self.notes.as_deref_mut() {
            n.push(text());
        }
    }

    /// For each row whose condition holds, in order: its points and its note.
    fn bonuses(&mut self, rows: &[(bool, i64, &str)]) {
        for &(holds, points, why) in rows {
            if holds {
                self.points += points;
                self.note(|| why.to_owned());
            }
        }
    }
}

/// One scoring for both: notes are written only when asked for.
fn rate(tag: Tag, m: &Model, cx: &Context<'_>, notes: Option<&mut Vec<String>>) -> Option<i64> {
    let c = &m.capabilities;
    // Text in, text out; the resolver also leaves out what `fit::text_work` excludes
    // (embedding, speech, image-generation and guard families) before scoring.
    let no_modalities =
        |x: crate::catalog::Modalities| !(x.text || x.audio || x.image || x.video || x.pdf);
    let text_in = c.input.text || no_modalities(c.input);
    let text_out = c.output.text || no_modalities(c.output);
    if !text_in || !text_out {
        return None;
    }
    if (tag == Tag::Vision || cx.need_image) && !c.input.image {
        return None;
    }
    // `node:cheap` ranks by price first: only a known price (or a known-free model) counts.
    let cheap_price = if tag == Tag::Cheap {
        Some(cheap_price(m)?)
    } else {
        None
    };
    let mut t = Tally { points: 0, notes };
    let access = cx.provider.access;
    let (config, api, env, custom) = if tag == Tag::Node {
        (300, 200, 150, 100)
    } else {
        (100, 30, 20, 10)
    };
    t.points += match access {
        Access::Config => config,
        Access::Api => api,
        Access::Env => env,
        Access::Custom => custom,
        Access::NoCredentials | Access::Disabled | Access::NotEnabled => 0,
    };
    t.note(|| format!("provider source {}", access.label()));
    if c.tool_call {
        t.points += 60;
        t.note(|| "tool calls".into());
    } else {
        t.note(|| "no tool calls".into());
    }
    if m.status == crate::catalog::ModelStatus::Active {
        t.points += 10;
    }
    let ctx = context_points(m.limit.context);
    if m.limit.context > 0 {
        t.note(|| format!("{} context", tokens(m.limit.context)));
    }
    match tag {
        Tag::Node => {
            t.bonuses(&[
                (cx.is_default, 100, "provider default"),
                (c.reasoning, 10, "reasoning"),
            ]);
            t.points += ctx;
        }
        Tag::Fast => {
            let fast_name = FAST_WORDS
                .iter()
                .any(|w| contains_ignore_case(&m.id, w) || contains_ignore_case(&m.name, w));
            t.bonuses(&[(fast_name, 40, "fast-model name")]);
            let price = m.cost.input;
            let cheap = if m.cost.unknown {
                // An unknown price is not a low one.
                0
            } else if price <= 0.0 {
                30
            } else if price <= 0.5 {
                20
            } else if price <= 2.0 {
                10
            } else {
                0
            };
            if cheap > 0 {
                t.points += cheap;
                t.note(|| {
                    if price <= 0.0 {
                        "free".into()
                    } else {
                        format!("${price}/M input")
                    }
                });
            }
            t.bonuses(&[(c.reasoning, -10, "reasoning (slower)")]);
            t.points += ctx / 4;
        }
        Tag::Vision => {
            t.note(|| "image input".into());
            t.bonuses(&[
                (c.attachment, 10, "attachments"),
                (cx.is_config_model, 40, "OpenCode's model"),
                (cx.is_default, 10, "provider default"),
            ]);
            t.points += ctx / 2;
        }
        Tag::Docs => {
            t.bonuses(&[
                (cx.is_config_model, 60, "OpenCode's model"),
                (cx.is_default, 10, "provider default"),
                (c.reasoning, 5, "reasoning"),
            ]);
            t.points += ctx * 2;
        }
        Tag::Cheap => {
            let price = cheap_price.unwrap_or_default();
            // Price in thousandths of a dollar per million tokens, weighed so that a cheaper
            // model always outranks a dearer one; the points above (at most 170) only break ties.
            t.points -= (price * 1000.0).round() as i64 * 1000;
            t.note(|| {
                if price <= 0.0 {
                    "known free".into()
                } else {
                    format!("${}/M input+output", crate::numbers::price(price))
                }
            });
        }
    }
    Some(t.points)
}

/// The price `node:cheap` ranks by: input + output dollars per million tokens; `None` when
/// the catalog has no price and the model is not known to be free.
pub fn cheap_price(m: &Model) -> Option<f64> {
    if crate::usage::has_price(&m.cost) {
        Some(m.cost.input.max(0.0) + m.cost.output.max(0.0))
    } else if crate::usage::known_free(&m.id) {
        Some(0.0)
    } else {
        None
    }
}

/// Whether `haystack` contains the lowercase ASCII `needle`, ignoring ASCII case, without
/// allocating a lowercase copy.
fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_tags_and_auto_spellings() {
        assert_eq!(Tag::parse("node"), Some(Tag::Node));
        assert_eq!(Tag::parse("auto:fast"), Some(Tag::Fast));
        assert_eq!(Tag::parse("auto:vision"), Some(Tag::Vision));
        assert_eq!(Tag::parse("node:docs"), Some(Tag::Docs));
        assert_eq!(Tag::parse("node:slow"), None);
        assert_eq!(Tag::parse("node:cheap"), Some(Tag::Cheap));
        assert_eq!(Tag::parse("auto:cheap"), Some(Tag::Cheap));
        assert_eq!(Tag::parse("nodes"), None);
        assert!(Tag::looks_like_tag("node:slow") && !Tag::looks_like_tag("nodejs"));
        for t in TAGS {
            assert!(Tag::parse(t).is_some(), "{t}");
        }
    }

    #[test]
    fn fast_words_ignore_case() {
        assert!(contains_ignore_case("Claude-HAIKU-4", "haiku"));
        assert!(contains_ignore_case("x", ""));
        assert!(!contains_ignore_case("mi", "mini"));
    }

    #[test]
    fn context_points_by_doubling() {
        assert_eq!(context_points(0), 0);
        assert_eq!(context_points(8192), 0);
        assert_eq!(context_points(16384), 8);
        assert_eq!(context_points(128_000), 24);
        assert_eq!(context_points(131_072), 32);
        assert_eq!(context_points(2_000_000), 40);
    }
}
