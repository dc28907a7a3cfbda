//! Renderers for a [`RunReport`](tokenstore_harness::RunReport). They format; the
//! pass/fail decision and the exit code come from the report itself.

pub mod human;
