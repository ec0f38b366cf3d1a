//! Fuzzy filtering of the pick list: the core's matcher ([`orch::resolve::matcher`]), so
//! that a text finds the same model first here as in `orch resolve` and `orch models -q`.
//! Its tests live with it in the core.

pub use orch::resolve::matcher::{Haystack, Matcher, filter};
