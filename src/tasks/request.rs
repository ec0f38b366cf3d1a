//! What a caller asks a task to do, and how an `auto` task picks its worker.

use crate::error::{Error, ErrorKind};
use crate::profiles::Profiles;
use crate::wire::{OpName, TaskKind};
use crate::workers::{Attachment, AttachmentKind, RunRequest, SetModelRequest};

/// The work of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// Run a task on a worker.
    Run(RunRequest),
    /// Change a worker's model.
    SetModel(SetModelRequest),
    /// Restore a worker's configured model.
    ResetModel {
        /// Worker id.
        worker: String,
    },
    /// Clear the health record (concerns no worker).
    ResetHealth,
    /// Start a worker's OpenCode and session ahead of its first task.
    Warm {
        /// Worker id.
        worker: String,
    },
}

impl Work {
    /// The worker it concerns.
    pub fn worker(&self) -> &str {
        match self {
            Self::Run(r) => &r.worker,
            Self::SetModel(s) => &s.worker,
            Self::ResetModel { worker } => worker,
            Self::ResetHealth => "",
            Self::Warm { worker } => worker,
        }
    }

    /// The operation, for op tasks.
    pub fn op(&self) -> Option<OpName> {
        match self {
            Self::Run(_) => None,
            Self::SetModel(_) => Some(OpName::WorkerModelSet),
            Self::ResetModel { .. } => Some(OpName::WorkerModelReset),
            Self::ResetHealth => Some(OpName::HealthReset),
            Self::Warm { .. } => Some(OpName::WorkerWarm),
        }
    }
}

/// A validated request to start a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartRequest {
    /// How the caller asked for it.
    pub kind: TaskKind,
    /// What to do.
    pub work: Work,
    /// Why this worker (for `auto`).
    pub route: Option<String>,
}

/// Picks the worker of an `auto` task: the vision worker when an image is attached,
/// else `worker_id` when given, else `coder`. Returns the worker and why.
pub fn route_auto(
    worker_id: Option<&str>,
    attachments: &[Attachment],
    profiles: &Profiles,
) -> Result<(String, String), Error> {
    if attachments.iter().any(|a| a.kind == AttachmentKind::Image) {
        let vision = profiles
            .get("vision")
            .filter(|p| p.vision)
            .or_else(|| profiles.list.iter().find(|p| p.vision));
        return match vision {
            Some(p) => Ok((
                p.id.clone(),
                format!(
                    "an image is attached, so the vision worker {} takes it",
                    p.id
                ),
            )),
            None => Err(Error::new(
                ErrorKind::NotFound,
                "an image is attached but no worker profile has \"vision\": true; \
                 define one in orchestrator.json or pass kind \"worker\" with a workerId",
            )),
        };
    }
    match worker_id {
        Some(id) => Ok((id.to_owned(), format!("workerId {id} was given"))),
        None => Ok((
            "coder".to_owned(),
            "no image and no workerId, so the default worker coder takes it".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn att(kind: AttachmentKind) -> Attachment {
        Attachment {
            kind,
            path: None,
            base64: Some("AA==".into()),
            mime: None,
            name: None,
        }
    }

    #[test]
    fn auto_routes_images_to_vision_then_worker_then_coder() {
        let p = Profiles::builtin();
        let cases: &[(Option<&str>, Vec<Attachment>, &str)] = &[
            (None, vec![att(AttachmentKind::Image)], "vision"),
            (Some("docs"), vec![att(AttachmentKind::Image)], "vision"),
            (Some("docs"), vec![att(AttachmentKind::File)], "docs"),
            (None, vec![att(AttachmentKind::File)], "coder"),
            (None, vec![], "coder"),
        ];
        for (id, atts, want) in cases {
            let (got, why) = route_auto(*id, atts, &p).expect("the request routes");
            assert_eq!(got, *want, "{id:?} {atts:?}");
            assert!(!why.is_empty());
        }
    }

    #[test]
    fn auto_with_an_image_and_no_vision_profile_fails_clearly() {
        let mut p = Profiles::builtin();
        p.list.retain(|p| !p.vision);
        let e =
            route_auto(None, &[att(AttachmentKind::Image)], &p).expect_err("routing is refused");
        assert!(e.message.contains("vision"), "{e}");
    }
}
