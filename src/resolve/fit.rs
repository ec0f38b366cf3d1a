//! Models that fit the worker: the one rule for "does this model do text work" (from the
//! catalog's modalities and documented family markers), what a worker needs of a model
//! (image input, tool calls, a context large enough for the task), and the token
//! estimate of a task. Tags, fuzzy matches, `worker.model.set` and the per-task
//! resolution all ask here (see `docs/model-selection.md`, "Models that fit the worker").

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::catalog::{Modalities, Model};
use crate::profiles::Profile;

/// Why a model does not do text work (text in, text out, as a conversation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotText {
    /// Its input modalities do not include text (a speech-to-text model such as whisper).
    NoTextInput,
    /// Its output modalities do not include text (speech, image or video generation).
    NoTextOutput,
    /// An embedding model: it answers with vectors, whatever its catalog entry says.
    Embedding,
    /// A reranker: it answers with scores.
    Rerank,
    /// Speech to text (whisper, `*-transcribe`, `*-stt`, `*-asr`).
    SpeechToText,
    /// Text to speech (`*-tts`).
    TextToSpeech,
    /// Image generation (`gpt-image-*`, `dall-e`, `imagen`, `flux`, ...).
    ImageGeneration,
    /// Video generation (`sora`, `veo`, `*-t2v`, `*-i2v`).
    VideoGeneration,
    /// Moderation or guard models (`llama-guard`, `llama-prompt-guard`, `*-safeguard`,
    /// `*-moderation`): they classify text, they do not work on it.
    Moderation,
}

impl NotText {
    /// The kebab-case name, as JSON spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoTextInput => "no-text-input",
            Self::NoTextOutput => "no-text-output",
            Self::Embedding => "embedding",
            Self::Rerank => "rerank",
            Self::SpeechToText => "speech-to-text",
            Self::TextToSpeech => "text-to-speech",
            Self::ImageGeneration => "image-generation",
            Self::VideoGeneration => "video-generation",
            Self::Moderation => "moderation",
        }
    }

    /// What the model is, in words (`an embedding model`).
    pub fn describe(self) -> &'static str {
        match self {
            Self::NoTextInput => "a model that takes no text input",
            Self::NoTextOutput => "a model that gives no text output",
            Self::Embedding => "an embedding model",
            Self::Rerank => "a reranking model",
            Self::SpeechToText => "a speech-to-text model",
            Self::TextToSpeech => "a text-to-speech model",
            Self::ImageGeneration => "an image-generation model",
            Self::VideoGeneration => "a video-generation model",
            Self::Moderation => "a moderation (guard) model",
        }
    }
}

impl fmt::Display for NotText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Family markers, matched against a model's id, name and family (lowercase). A marker
/// is a substring unless it is in [`TOKEN_MARKERS`], which must be a whole word
/// (words split at anything but letters and digits). Checked in this order.
const MARKERS: &[(&str, NotText)] = &[
    ("embed", NotText::Embedding),
    ("rerank", NotText::Rerank),
    ("whisper", NotText::SpeechToText),
    ("transcribe", NotText::SpeechToText),
    ("text-to-speech", NotText::TextToSpeech),
    ("gpt-image", NotText::ImageGeneration),
    ("dall-e", NotText::ImageGeneration),
    ("stable-diffusion", NotText::ImageGeneration),
    ("imagine-image", NotText::ImageGeneration),
    ("imagine-video", NotText::VideoGeneration),
    ("moderation", NotText::Moderation),
    ("guard", NotText::Moderation),
    ("shieldgemma", NotText::Moderation),
];

/// Markers that must be a whole word: short ones that would otherwise hit unrelated names.
const TOKEN_MARKERS: &[(&str, NotText)] = &[
    ("stt", NotText::SpeechToText),
    ("asr", NotText::SpeechToText),
    ("tts", NotText::TextToSpeech),
    ("imagen", NotText::ImageGeneration),
    ("sdxl", NotText::ImageGeneration),
    ("flux", NotText::ImageGeneration),
    ("sora", NotText::VideoGeneration),
    ("veo", NotText::VideoGeneration),
    ("t2v", NotText::VideoGeneration),
    ("i2v", NotText::VideoGeneration),
];

fn no_modalities(m: Modalities) -> bool {
    !(m.text || m.audio || m.image || m.video || m.pdf)
}

/// The family marker a lowercase text matches, if any.
fn marker(lower: &str) -> Option<NotText> {
    if let Some(&(_, kind)) = MARKERS.iter().find(|(m, _)| lower.contains(m)) {
        return Some(kind);
    }
    lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        // `veo3` and `veo-3` are both Veo: a word may end in a version number.
        .map(|w| w.trim_end_matches(|c: char| c.is_ascii_digit()))
        .find_map(|w| {
            TOKEN_MARKERS
                .iter()
                .find(|(m, _)| *m == w)
                .map(|&(_, kind)| kind)
        })
}

/// Whether `m` does text work: text in and text out by its catalog modalities (a model
/// whose catalog lists no modalities at all counts as text, as OpenCode treats it), and no
/// family marker says it is an embedding, reranking, speech, image, video or moderation
/// model. Markers apply even when the modalities say text: catalogs list embedding and
/// guard models as text in, text out.
pub fn text_work(m: &Model) -> Result<(), NotText> {
    // One lowercase copy of the three, separated so no marker spans two of them.
    let mut lower = String::with_capacity(m.id.len() + m.name.len() + m.family.len() + 2);
    for part in [&m.id, &m.name, &m.family] {
        lower.push_str(part);
        lower.push('\n');
    }
    lower.make_ascii_lowercase();
    if let Some(kind) = marker(&lower) {
        return Err(kind);
    }
    let c = &m.capabilities;
    if !(c.output.text || no_modalities(c.output)) {
        return Err(NotText::NoTextOutput);
    }
    if !(c.input.text || no_modalities(c.input)) {
        return Err(NotText::NoTextInput);
    }
    Ok(())
}

/// Tokens orch counts for OpenCode's own system prompt and tool definitions before any
/// task text: a floor, not a measurement (OpenCode's real prompt is larger).
pub const WORKER_OVERHEAD_TOKENS: u64 = 4_096;
/// Tokens counted for one attached image.
pub const IMAGE_TOKENS: u64 = 1_600;
/// Tokens counted for one attached PDF.
pub const PDF_TOKENS: u64 = 3_000;

/// One attachment as the token estimate sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attached {
    /// An image: [`IMAGE_TOKENS`].
    Image,
    /// A PDF: [`PDF_TOKENS`].
    Pdf,
    /// A text file of this many bytes: one token per 4 bytes, rounded up.
    Text(u64),
}

/// The documented token estimate of a task: its characters / 4 rounded up, plus
/// [`IMAGE_TOKENS`] per image, [`PDF_TOKENS`] per PDF and bytes / 4 (rounded up) per other
/// file. OpenCode's own prompt is not in it; [`check`] adds [`WORKER_OVERHEAD_TOKENS`].
pub fn estimate_tokens(prompt: &str, attachments: impl IntoIterator<Item = Attached>) -> u64 {
    let chars = prompt.chars().count() as u64;
    attachments.into_iter().fold(chars.div_ceil(4), |sum, a| {
        sum.saturating_add(match a {
            Attached::Image => IMAGE_TOKENS,
            Attached::Pdf => PDF_TOKENS,
            Attached::Text(bytes) => bytes.div_ceil(4),
        })
    })
}

/// What a worker needs of its model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    /// The worker's id, for messages.
    pub worker: String,
    /// A vision worker needs image input.
    pub image_input: bool,
    /// A worker whose profile allows tools needs tool calls.
    pub tool_calls: bool,
}

impl Needs {
    /// No worker: text work is all that is needed.
    pub fn text_work() -> Self {
        Self {
            worker: String::new(),
            image_input: false,
            tool_calls: false,
        }
    }

    /// What `profile` needs: image input when it is a vision profile; tool calls unless
    /// its `tools` switch every tool off (`"*": false` and no tool switched on).
    pub fn of(profile: &Profile) -> Self {
        let all_off = profile.tools.get("*") == Some(&false) && !profile.tools.values().any(|v| *v);
        Self {
            worker: profile.id.clone(),
            image_input: profile.vision,
            tool_calls: !all_off,
        }
    }
}

/// Why a model does not fit a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "why", rename_all = "kebab-case")]
pub enum Unfit {
    /// It does not do text work.
    NotText {
        /// What it is instead.
        kind: NotText,
    },
    /// The worker needs image input and the model has none.
    NoImageInput,
    /// The worker's profile allows tools and the model cannot call them.
    NoToolCalls,
    /// Its context window cannot hold OpenCode's prompt plus the task.
    ContextTooSmall {
        /// The model's context window in tokens.
        context: u64,
        /// Tokens needed: [`WORKER_OVERHEAD_TOKENS`] plus the task's estimate.
        need: u64,
    },
}

impl Unfit {
    /// The reason in words, for `worker`.
    pub fn describe(&self, worker: &str) -> String {
        match self {
            Self::NotText { kind } => {
                format!("it is {}, not a model for text work", kind.describe())
            }
            Self::NoImageInput => format!("it has no image input, which the {worker} worker needs"),
            Self::NoToolCalls => {
                format!("it cannot call tools, and the {worker} worker's profile allows tools")
            }
            Self::ContextTooSmall { context, need } => format!(
                "its context ({context} tokens) is smaller than the {need} tokens needed (OpenCode's prompt, counted as {WORKER_OVERHEAD_TOKENS}, plus the task's estimate)"
            ),
        }
    }
}

/// Every reason `m` does not fit `needs`, for a task of `tokens` estimated tokens (see
/// [`estimate_tokens`]; `None` checks against OpenCode's prompt alone). A context of 0 is
/// unknown and fits.
pub fn reasons(m: &Model, needs: &Needs, tokens: Option<u64>) -> Vec<Unfit> {
    reasons_given(m, text_work(m), needs, tokens)
}

/// [`reasons`] with `m`'s [`text_work`] already known (the resolver computes it once per
/// model when it is built, so that ranking a large catalog runs no marker search).
pub fn reasons_given(
    m: &Model,
    text: Result<(), NotText>,
    needs: &Needs,
    tokens: Option<u64>,
) -> Vec<Unfit> {
    let mut out = Vec::new();
    if let Err(kind) = text {
        out.push(Unfit::NotText { kind });
    }
    if needs.image_input && !m.has_image_input() {
        out.push(Unfit::NoImageInput);
    }
    if needs.tool_calls && !m.capabilities.tool_call {
        out.push(Unfit::NoToolCalls);
    }
    let need = WORKER_OVERHEAD_TOKENS.saturating_add(tokens.unwrap_or(0));
    let context = m.limit.context;
    if context > 0 && context < need {
        out.push(Unfit::ContextTooSmall { context, need });
    }
    out
}

/// Whether `m` fits `needs` for a task of `tokens` estimated tokens: the first reason it
/// does not (see [`reasons`] for all of them).
pub fn check(m: &Model, needs: &Needs, tokens: Option<u64>) -> Result<(), Unfit> {
    match reasons(m, needs, tokens).into_iter().next() {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

/// Every reason in words, joined with `; `.
pub fn describe_all(reasons: &[Unfit], worker: &str) -> String {
    reasons
        .iter()
        .map(|r| r.describe(worker))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Capabilities, Limits};
    use crate::profiles::Profiles;

    fn model(id: &str, name: &str, family: &str) -> Model {
        Model {
            id: id.into(),
            name: name.into(),
            family: family.into(),
            capabilities: Capabilities {
                tool_call: true,
                input: Modalities::TEXT,
                output: Modalities::TEXT,
                ..Capabilities::default()
            },
            limit: Limits {
                context: 128_000,
                output: 8_000,
            },
            ..Model::default()
        }
    }

    #[test]
    fn markers_name_what_a_model_is() {
        let cases: &[(&str, &str, &str, Option<NotText>)] = &[
            ("gpt-5", "GPT-5", "gpt", None),
            (
                "text-embedding-3-small",
                "",
                "text-embedding",
                Some(NotText::Embedding),
            ),
            ("bge-reranker-v2-m3", "", "bge", Some(NotText::Rerank)),
            (
                "whisper-large-v3",
                "Whisper",
                "whisper",
                Some(NotText::SpeechToText),
            ),
            ("gpt-4o-transcribe", "", "gpt", Some(NotText::SpeechToText)),
            ("grok-stt", "Grok STT", "grok", Some(NotText::SpeechToText)),
            (
                "voxtral-mini-tts-latest",
                "",
                "",
                Some(NotText::TextToSpeech),
            ),
            (
                "gpt-image-1.5",
                "",
                "gpt-image",
                Some(NotText::ImageGeneration),
            ),
            ("openai/dall-e-3", "", "", Some(NotText::ImageGeneration)),
            ("google/imagen-4", "", "", Some(NotText::ImageGeneration)),
            ("bfl/flux-2-pro", "", "", Some(NotText::ImageGeneration)),
            ("google/veo3.1", "", "", Some(NotText::VideoGeneration)),
            ("openai/sora-2", "", "", Some(NotText::VideoGeneration)),
            (
                "meta-llama/llama-prompt-guard-2-86m",
                "",
                "llama",
                Some(NotText::Moderation),
            ),
            (
                "meta-llama/llama-guard-4-12b",
                "",
                "llama",
                Some(NotText::Moderation),
            ),
            ("omni-moderation-latest", "", "", Some(NotText::Moderation)),
            // Words that only contain a short marker are not it.
            ("mistral-small-asrx", "Fluxion", "veolia", None),
            ("voxtral-small-latest", "Voxtral Small", "voxtral", None),
            ("gpt-audio", "GPT Audio", "gpt", None),
        ];
        for &(id, name, family, want) in cases {
            assert_eq!(text_work(&model(id, name, family)).err(), want, "{id}");
        }
    }

    #[test]
    fn modalities_decide_when_no_marker_does() {
        let mut m = model("x", "X", "");
        m.capabilities.output = Modalities {
            audio: true,
            ..Modalities::default()
        };
        assert_eq!(text_work(&m), Err(NotText::NoTextOutput));
        m.capabilities.output = Modalities::TEXT;
        m.capabilities.input = Modalities {
            audio: true,
            ..Modalities::default()
        };
        assert_eq!(text_work(&m), Err(NotText::NoTextInput));
        // No modalities at all: OpenCode treats it as text, so does orch.
        m.capabilities.input = Modalities::default();
        m.capabilities.output = Modalities::default();
        assert_eq!(text_work(&m), Ok(()));
    }

    #[test]
    fn the_estimate_is_chars_over_four_plus_fixed_figures() {
        assert_eq!(estimate_tokens("", []), 0);
        assert_eq!(estimate_tokens("abcd", []), 1);
        assert_eq!(estimate_tokens("abcde", []), 2);
        // Characters, not bytes.
        assert_eq!(estimate_tokens("ééééé", []), 2);
        assert_eq!(
            estimate_tokens("abcd", [Attached::Image, Attached::Pdf, Attached::Text(9)]),
            1 + IMAGE_TOKENS + PDF_TOKENS + 3
        );
        assert_eq!(
            estimate_tokens("", [Attached::Text(u64::MAX), Attached::Image]),
            u64::MAX.div_ceil(4) + IMAGE_TOKENS
        );
    }

    #[test]
    fn needs_follow_the_profile() {
        let profiles = Profiles::builtin();
        for p in &profiles.list {
            let needs = Needs::of(p);
            assert!(needs.tool_calls, "{} allows tools", p.id);
            assert_eq!(needs.image_input, p.id == "vision", "{}", p.id);
        }
        let mut quiet = profiles.get("memory").cloned().expect("a memory profile");
        quiet.tools = [("*".to_owned(), false)].into_iter().collect();
        assert!(!Needs::of(&quiet).tool_calls);
        quiet.tools.insert("read".into(), true);
        assert!(Needs::of(&quiet).tool_calls);
    }

    #[test]
    fn the_guard_model_does_not_fit_the_memory_worker() {
        let profiles = Profiles::builtin();
        let memory = Needs::of(profiles.get("memory").expect("a memory profile"));
        let mut guard = model(
            "meta-llama/llama-prompt-guard-2-86m",
            "Prompt Guard 2 86M",
            "llama",
        );
        guard.capabilities.tool_call = false;
        guard.limit.context = 512;
        let why = reasons(&guard, &memory, None);
        assert_eq!(
            why,
            vec![
                Unfit::NotText {
                    kind: NotText::Moderation
                },
                Unfit::NoToolCalls,
                Unfit::ContextTooSmall {
                    context: 512,
                    need: WORKER_OVERHEAD_TOKENS
                },
            ]
        );
        assert_eq!(
            check(&guard, &memory, None),
            Err(Unfit::NotText {
                kind: NotText::Moderation
            })
        );
        let text = describe_all(&why, "memory");
        assert!(text.starts_with("it is a moderation (guard) model, not a model for text work; it cannot call tools, and the memory worker's profile allows tools; its context (512 tokens)"), "{text}");
    }

    #[test]
    fn a_task_too_large_for_the_context_does_not_fit() {
        let needs = Needs {
            worker: "coder".into(),
            image_input: false,
            tool_calls: true,
        };
        let mut m = model("small", "Small", "");
        m.limit.context = 8_192;
        assert_eq!(check(&m, &needs, Some(4_096)), Ok(()));
        assert_eq!(
            check(&m, &needs, Some(4_097)),
            Err(Unfit::ContextTooSmall {
                context: 8_192,
                need: 8_193
            })
        );
        // An unknown context fits.
        m.limit.context = 0;
        assert_eq!(check(&m, &needs, Some(u64::MAX)), Ok(()));
    }
}
