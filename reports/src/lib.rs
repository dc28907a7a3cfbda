//! Renderers for a [`RunReport`](tokenstore_harness::RunReport): human text, JSON,
//! JUnit XML, Markdown, and the HTML matrix. They format; the pass/fail decision and
//! the exit code come from the report itself.

pub mod html;
pub mod human;
pub mod json;
pub mod junit;
pub mod markdown;
