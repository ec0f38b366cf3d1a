//! The orch terminal UI: list workers → pick a model → apply → verify.
#![forbid(unsafe_code)]
