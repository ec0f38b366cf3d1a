//! What an attached file is: an image (which sends an `auto` task to the vision worker)
//! or another file, and the MIME type it travels with to OpenCode. The MCP tools, the
//! task router and the manager all ask here, so they cannot disagree about a file.

use std::path::Path;

use super::{Attachment, AttachmentKind};
use crate::resolve::fit;

/// The file types orch knows, by lowercase extension: the MIME type and whether it is an
/// image. SVG is markup that vision models do not take as an image, so it travels as text
/// the worker can read (OpenCode inlines `text/plain` parts).
const TYPES: &[(&str, &str, AttachmentKind)] = &[
    ("png", "image/png", AttachmentKind::Image),
    ("jpg", "image/jpeg", AttachmentKind::Image),
    ("jpeg", "image/jpeg", AttachmentKind::Image),
    ("gif", "image/gif", AttachmentKind::Image),
    ("webp", "image/webp", AttachmentKind::Image),
    ("bmp", "image/bmp", AttachmentKind::Image),
    ("tiff", "image/tiff", AttachmentKind::Image),
    ("svg", "text/plain", AttachmentKind::File),
    ("pdf", "application/pdf", AttachmentKind::File),
    ("md", "text/plain", AttachmentKind::File),
    ("txt", "text/plain", AttachmentKind::File),
    ("rs", "text/plain", AttachmentKind::File),
    ("py", "text/plain", AttachmentKind::File),
    ("ts", "text/plain", AttachmentKind::File),
    ("js", "text/plain", AttachmentKind::File),
    ("json", "text/plain", AttachmentKind::File),
    ("toml", "text/plain", AttachmentKind::File),
    ("yaml", "text/plain", AttachmentKind::File),
    ("yml", "text/plain", AttachmentKind::File),
];

/// An image whose type nothing tells travels as PNG, the most common one.
const UNKNOWN_IMAGE: &str = "image/png";
/// Any other file whose type nothing tells.
const UNKNOWN_FILE: &str = "application/octet-stream";

/// The extensions orch treats as images, in table order (for messages and schemas).
pub fn image_extensions() -> impl Iterator<Item = &'static str> {
    TYPES
        .iter()
        .filter(|(_, _, kind)| *kind == AttachmentKind::Image)
        .map(|(ext, _, _)| *ext)
}

fn known(name: &str) -> Option<(&'static str, AttachmentKind)> {
    let ext = Path::new(name).extension()?.to_str()?.to_ascii_lowercase();
    TYPES
        .iter()
        .find(|(e, _, _)| *e == ext)
        .map(|(_, mime, kind)| (*mime, *kind))
}

/// Whether a MIME type names an image a vision model takes (`image/*` but SVG).
fn is_image_mime(mime: &str) -> bool {
    let mime = mime.trim().to_ascii_lowercase();
    mime.starts_with("image/") && !mime.starts_with("image/svg")
}

/// The name shown to the worker: `name` when given, else the path's file name.
pub fn file_name(name: Option<&str>, path: Option<&Path>) -> Option<String> {
    name.filter(|n| !n.trim().is_empty())
        .map(str::to_owned)
        .or_else(|| {
            path.and_then(Path::file_name)
                .map(|n| n.to_string_lossy().into_owned())
        })
}

/// Image or file, for an attachment whose caller did not say: an image when its MIME
/// type or the extension of its [`file_name`] says so.
pub fn guess_kind(mime: Option<&str>, file_name: Option<&str>) -> AttachmentKind {
    let by_name = file_name.and_then(known).map(|(_, kind)| kind);
    if mime.is_some_and(is_image_mime) || by_name == Some(AttachmentKind::Image) {
        AttachmentKind::Image
    } else {
        AttachmentKind::File
    }
}

/// The MIME type a file of this name and kind travels with when none was given: by
/// extension, else PNG for an image and `application/octet-stream` for a file.
pub fn guess_mime(file_name: Option<&str>, kind: AttachmentKind) -> &'static str {
    match (file_name.and_then(known), kind) {
        (Some((mime, _)), _) => mime,
        (None, AttachmentKind::Image) => UNKNOWN_IMAGE,
        (None, AttachmentKind::File) => UNKNOWN_FILE,
    }
}

impl Attachment {
    /// The name shown to the worker: `name`, else the path's file name.
    pub fn file_name(&self) -> Option<String> {
        file_name(self.name.as_deref(), self.path.as_deref())
    }

    /// The MIME type it travels with: `mime` when given, else guessed from its name.
    pub fn mime_type(&self) -> String {
        self.mime
            .clone()
            .unwrap_or_else(|| guess_mime(self.file_name().as_deref(), self.kind).to_owned())
    }
}

/// The documented token estimate of a task and its attachments
/// ([`fit::estimate_tokens`]): an image counts [`fit::IMAGE_TOKENS`], a PDF
/// [`fit::PDF_TOKENS`], any other file its size / 4 (the base64 content's decoded size, or
/// the file's size on disk; 0 when it cannot be read, which the prompt reports later).
pub fn estimate_tokens(task: &str, attachments: &[Attachment]) -> u64 {
    let attached = attachments.iter().map(|a| {
        if a.kind == AttachmentKind::Image || is_image_mime(&a.mime_type()) {
            return fit::Attached::Image;
        }
        if a.mime_type().eq_ignore_ascii_case("application/pdf") {
            return fit::Attached::Pdf;
        }
        let bytes = match (&a.base64, &a.path) {
            (Some(b64), _) => (b64.chars().filter(|c| !c.is_whitespace()).count() as u64) / 4 * 3,
            (None, Some(path)) => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
            (None, None) => 0,
        };
        fit::Attached::Text(bytes)
    });
    fit::estimate_tokens(task, attached)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_counts_images_pdfs_and_file_sizes() {
        let file = |kind, name: &str, base64: Option<&str>| Attachment {
            kind,
            path: None,
            base64: base64.map(str::to_owned),
            mime: None,
            name: Some(name.to_owned()),
        };
        let task = "a".repeat(10);
        assert_eq!(estimate_tokens(&task, &[]), 3);
        let all = [
            file(AttachmentKind::Image, "shot.png", Some("AA==")),
            file(AttachmentKind::File, "spec.pdf", Some("AA==")),
            // 16 base64 characters are 12 bytes: 3 tokens.
            file(AttachmentKind::File, "notes.md", Some("AAAAAAAA AAAAAAAA")),
            file(AttachmentKind::File, "gone.txt", None),
        ];
        assert_eq!(
            estimate_tokens(&task, &all),
            3 + fit::IMAGE_TOKENS + fit::PDF_TOKENS + 3
        );
    }

    #[test]
    fn an_extension_is_an_image_exactly_when_its_mime_type_is_one() {
        for (ext, mime, kind) in TYPES {
            assert_eq!(
                is_image_mime(mime),
                *kind == AttachmentKind::Image,
                "{ext} → {mime}"
            );
            let name = format!("f.{}", ext.to_ascii_uppercase());
            assert_eq!(guess_kind(None, Some(&name)), *kind, "{name}");
            assert_eq!(guess_kind(Some(mime), Some(&name)), *kind, "{name}");
            assert_eq!(guess_mime(Some(&name), *kind), *mime, "{name}");
        }
    }

    #[test]
    fn an_image_mime_type_or_name_makes_an_image_and_the_name_shown_comes_first() {
        assert_eq!(
            guess_kind(Some("image/heic"), Some("x.txt")),
            AttachmentKind::Image
        );
        assert_eq!(
            guess_kind(Some("image/svg+xml"), None),
            AttachmentKind::File
        );
        assert_eq!(
            guess_kind(Some("text/plain"), Some("x.png")),
            AttachmentKind::Image
        );
        assert_eq!(guess_kind(None, Some("noext")), AttachmentKind::File);
        assert_eq!(guess_mime(None, AttachmentKind::Image), UNKNOWN_IMAGE);
        assert_eq!(
            guess_mime(Some("a.xyz"), AttachmentKind::File),
            UNKNOWN_FILE
        );
        assert_eq!(
            file_name(Some("shown.png"), Some(Path::new("/tmp/real.bmp"))).as_deref(),
            Some("shown.png")
        );
        assert_eq!(
            file_name(None, Some(Path::new("/tmp/real.bmp"))).as_deref(),
            Some("real.bmp")
        );
    }
}
