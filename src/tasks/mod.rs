//! Tasks: work handed to workers (or operations on them) that runs in the background,
//! tracked by id. The MCP tools `task_start`, `task_await`, `task_peek`, `task_list` and
//! `task_cancel` are a thin layer over [`Tasks`].

mod ledger;
mod registry;
mod request;
mod store;
mod usage_index;
mod warm;

pub use registry::{LIST_OUTPUT_BYTES, Limits, MAX_KEPT_TASK_BYTES, Tasks};
pub use request::{StartRequest, Work, route_auto};
pub use store::{Owner, StoreError, StoreLimits, TaskRecord, TaskStore, lost_message};
pub use warm::default_set as warm_set;

pub(crate) use registry::now_ms;
