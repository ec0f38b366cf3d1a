//! Tasks: work handed to workers (or operations on them) that runs in the background,
//! tracked by id. The MCP tools `task_start`, `task_await`, `task_peek`, `task_list` and
//! `task_cancel` are a thin layer over [`Tasks`].

mod registry;
mod request;

pub use registry::{Limits, MAX_KEPT_TASK_BYTES, Tasks};
pub use request::{StartRequest, Work, route_auto};

pub(crate) use registry::now_ms;
