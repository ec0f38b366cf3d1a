//! Why a reference did not resolve, with suggestions and the fix.

use super::types::Skipped;
use crate::error::ErrorKind;

/// Longest part of a user's reference repeated in a message.
const SHOWN: usize = 80;

/// A reference as it may appear in a message: control characters escaped, long ones cut.
pub fn shown(reference: &str) -> String {
    let mut out = String::new();
    for (i, c) in reference.chars().enumerate() {
        if i == SHOWN {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

fn list(prefix: &str, items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!("; {prefix}: {}", items.join(", "))
    }
}

/// Suggestions, best first, with how many more match and the `orch models` arguments that
/// list them all (boxed: an error stays small to move).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ranked {
    /// The suggestions, best first.
    pub list: Vec<String>,
    /// How many more match than `list` holds.
    pub more: usize,
    /// The `orch models` arguments that list them all (`-q gpt`).
    pub search: String,
}

impl Ranked {
    /// Boxed, as the errors hold it.
    pub fn new(list: Vec<String>, more: usize, search: String) -> Box<Self> {
        Box::new(Self { list, more, search })
    }

    /// `; {prefix}: a, b (+35 more; see `orch models -q gpt`)`.
    fn message(&self, prefix: &str) -> String {
        ranked(prefix, &self.list, self.more, &self.search)
    }
}

impl std::ops::Deref for Ranked {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.list
    }
}

/// A list of suggestions, then how many more match and the command that lists them all:
/// `; closest: a, b (+35 more; see `orch models -q gpt`)`.
fn ranked(prefix: &str, items: &[String], more: usize, search: &str) -> String {
    let mut out = list(prefix, items);
    if more > 0 && !items.is_empty() {
        out.push_str(&format!(" (+{more} more; see `orch models {search}`)"));
    }
    out
}

/// Failures to resolve a model reference.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResolveError {
    /// Nothing was given.
    #[error(
        "empty model reference; give provider/model, a model name, or a tag such as node or node:fast"
    )]
    Empty,
    /// The reference cannot be a model reference.
    #[error("invalid model reference \"{}\": {message}", shown(reference))]
    Invalid {
        /// The reference.
        reference: String,
        /// What is wrong.
        message: String,
    },
    /// `provider/model` with a provider nobody knows.
    #[error(
        "unknown provider \"{}\" in \"{}\"{}",
        shown(provider),
        shown(reference),
        list("known providers like it", suggestions)
    )]
    UnknownProvider {
        /// The reference.
        reference: String,
        /// The provider part.
        provider: String,
        /// Provider ids that look alike.
        suggestions: Vec<String>,
    },
    /// `provider/model` where the provider has no such model.
    #[error(
        "provider {provider} has no model \"{}\"{}",
        shown(model),
        suggestions.message("did you mean")
    )]
    UnknownModel {
        /// The reference.
        reference: String,
        /// The provider.
        provider: String,
        /// The model part.
        model: String,
        /// Models of that provider that look alike, closest first, and how many more.
        suggestions: Box<Ranked>,
    },
    /// A partial name that matches no usable model.
    #[error(
        "no usable model matches \"{}\"{detail}{}",
        shown(reference),
        suggestions.message("closest")
    )]
    NoMatch {
        /// The reference.
        reference: String,
        /// Extra explanation (matches in providers without credentials, ...).
        detail: String,
        /// The closest models, and how many more.
        suggestions: Box<Ranked>,
    },
    /// A partial name that matches several models equally well.
    #[error(
        "\"{}\" is ambiguous: {count} models match equally well; name one{}",
        shown(reference),
        ranked("candidates", suggestions, count.saturating_sub(suggestions.len()), &format!("-q {}", shell_word(reference)))
    )]
    Ambiguous {
        /// The reference.
        reference: String,
        /// How many tied.
        count: usize,
        /// The tied models (at most 20), those that call tools first.
        suggestions: Vec<String>,
    },
    /// `node:<something>` that is not a tag.
    #[error(
        "unknown tag \"{}\"{}",
        shown(reference),
        list("known tags", suggestions)
    )]
    UnknownTag {
        /// The reference.
        reference: String,
        /// Known tags.
        suggestions: Vec<String>,
    },
    /// A vision worker given a model without image input.
    #[error(
        "the {worker} worker needs a model with image input, but {model} has none{}",
        list("usable models with image input", suggestions)
    )]
    NotVision {
        /// Worker id.
        worker: String,
        /// The model it was given.
        model: String,
        /// Usable models with image input.
        suggestions: Vec<String>,
    },
    /// A model that does not fit the worker (or text work): not a text model, no tool
    /// calls for a worker that uses tools, or a context too small for the task.
    #[error(transparent)]
    Unfit(Box<UnfitModel>),
    /// No usable model accepts images.
    #[error("{}: no usable model accepts image input{} ({checked} usable models checked); fix: connect a provider that has vision models (set its API key or run /connect in OpenCode), or declare one in opencode.json with \"modalities\": {{\"input\": [\"text\", \"image\"]}}, then point the worker at it with `orch worker-model-set {} <provider/model>`", shown(reference), for_worker(worker.as_deref()), worker.as_deref().unwrap_or("vision"))]
    NoVisionModel {
        /// The reference (`node:vision`).
        reference: String,
        /// The worker, when resolving for one.
        worker: Option<String>,
        /// How many usable models were checked.
        checked: usize,
    },
    /// No usable model at all fits the tag.
    #[error(
        "{}: {detail}; fix: set a provider's API key or run /connect in OpenCode, or set \"model\" in opencode.json",
        shown(reference)
    )]
    NoUsableModel {
        /// The reference.
        reference: String,
        /// What was missing.
        detail: String,
    },
    /// Every entry of a fallback chain failed.
    #[error("\"{}\": no entry of the fallback chain resolved: {}", shown(reference), skipped.iter().map(|s| format!("{} ({})", shown(&s.reference), s.why)).collect::<Vec<_>>().join("; "))]
    ChainExhausted {
        /// The tag or profile.
        reference: String,
        /// Each entry and why it failed.
        skipped: Vec<Skipped>,
    },
    /// A tag that refers to itself.
    #[error("tag \"{}\" refers to itself ({path})", shown(reference))]
    TagCycle {
        /// The tag.
        reference: String,
        /// The cycle.
        path: String,
    },
    /// Tags nested deeper than orch follows.
    #[error(
        "tag \"{}\" nests tags more than {depth} deep ({path}); point it at a model or a built-in tag sooner",
        shown(reference)
    )]
    TagTooDeep {
        /// The tag.
        reference: String,
        /// The limit.
        depth: usize,
        /// The chain of tags followed.
        path: String,
    },
}

/// `text` as one shell word in a suggested command: quoted when it holds anything but
/// letters, digits and `-_./:@`.
pub fn shell_word(text: &str) -> String {
    let text = shown(text);
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '@'))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// A model that does not fit the worker it was resolved for (boxed in [`ResolveError`]
/// to keep the error small).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "{model} does not fit {}: {why}{}{hint}",
    worker.as_deref().map_or_else(|| "text work".to_owned(), |w| format!("the {w} worker")),
    list("closest models that fit", suggestions)
)]
pub struct UnfitModel {
    /// Worker id, when resolving for one.
    pub worker: Option<String>,
    /// The model, `provider/model`.
    pub model: String,
    /// Every reason, in words.
    pub why: String,
    /// What to do instead (`--force`), or empty.
    pub hint: String,
    /// The closest usable models that fit.
    pub suggestions: Vec<String>,
}

fn for_worker(worker: Option<&str>) -> String {
    worker
        .map(|w| format!(" for the {w} worker"))
        .unwrap_or_default()
}

impl ResolveError {
    /// Suggested references, best first.
    pub fn suggestions(&self) -> &[String] {
        match self {
            Self::UnknownModel { suggestions, .. } | Self::NoMatch { suggestions, .. } => {
                &suggestions.list
            }
            Self::UnknownProvider { suggestions, .. }
            | Self::Ambiguous { suggestions, .. }
            | Self::UnknownTag { suggestions, .. }
            | Self::NotVision { suggestions, .. } => suggestions,
            Self::Unfit(u) => &u.suggestions,
            Self::Empty
            | Self::Invalid { .. }
            | Self::NoVisionModel { .. }
            | Self::NoUsableModel { .. }
            | Self::ChainExhausted { .. }
            | Self::TagCycle { .. }
            | Self::TagTooDeep { .. } => &[],
        }
    }

    /// How many more models match than [`ResolveError::suggestions`] lists.
    pub fn more(&self) -> usize {
        match self {
            Self::UnknownModel { suggestions, .. } | Self::NoMatch { suggestions, .. } => {
                suggestions.more
            }
            Self::Ambiguous {
                count, suggestions, ..
            } => count.saturating_sub(suggestions.len()),
            Self::Empty
            | Self::Invalid { .. }
            | Self::UnknownProvider { .. }
            | Self::UnknownTag { .. }
            | Self::NotVision { .. }
            | Self::Unfit(_)
            | Self::NoVisionModel { .. }
            | Self::NoUsableModel { .. }
            | Self::ChainExhausted { .. }
            | Self::TagCycle { .. }
            | Self::TagTooDeep { .. } => 0,
        }
    }

    /// The kind of failure, for exit codes and the MCP error. Exhaustive on purpose: a new
    /// variant must choose its kind here.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Empty | Self::Invalid { .. } | Self::NotVision { .. } | Self::Unfit(_) => {
                ErrorKind::InvalidInput
            }
            Self::Ambiguous { .. } => ErrorKind::Ambiguous,
            Self::TagCycle { .. } | Self::TagTooDeep { .. } => ErrorKind::Config,
            Self::UnknownProvider { .. }
            | Self::UnknownModel { .. }
            | Self::NoMatch { .. }
            | Self::UnknownTag { .. }
            | Self::NoVisionModel { .. }
            | Self::NoUsableModel { .. }
            | Self::ChainExhausted { .. } => ErrorKind::NotFound,
        }
    }
}
