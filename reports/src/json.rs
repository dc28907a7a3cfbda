//! The JSON report: one document, schema `tokenstore-report/1` (REPORTS.md).

use std::collections::BTreeMap;

use serde::Serialize;
use tokenstore_harness::clauses::Level;
use tokenstore_harness::report::{Counts, Failure, RunReport, Status, Verdict};

/// The schema's name and version; a change that breaks readers bumps the number.
pub const SCHEMA: &str = "tokenstore-report/1";

#[derive(Serialize)]
struct Document<'a> {
    schema: &'static str,
    tool: Tool,
    seed: u64,
    cases: u32,
    strict: bool,
    store: Store<'a>,
    summary: Summary,
    clauses: Vec<Clause<'a>>,
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct Store<'a> {
    name: &'a str,
    location: &'a str,
    capabilities: Capabilities,
}

#[derive(Serialize)]
struct Capabilities {
    durable: bool,
    files: bool,
    thread_safe: bool,
    typed_errors: bool,
    limits: BTreeMap<&'static str, usize>,
}

#[derive(Serialize)]
struct Summary {
    #[serde(flatten)]
    counts: Counts,
    exit_code: u8,
}

#[derive(Serialize)]
struct Clause<'a> {
    id: &'static str,
    level: Level,
    summary: &'static str,
    status: Status,
    verdict: Verdict,
    reason: Option<&'a str>,
    allowed: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    blocked_by: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    partial: Option<&'a str>,
    scenarios: Vec<Scenario<'a>>,
}

#[derive(Serialize)]
struct Scenario<'a> {
    name: &'a str,
    status: Status,
    reason: Option<&'a str>,
    duration_ms: f64,
    failure: Option<&'a Failure>,
}

/// Renders the report as one JSON document.
pub fn render(report: &RunReport) -> String {
    let doc = document(report);
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Several reports (a matrix) as a JSON array of documents.
pub fn render_all(reports: &[RunReport]) -> String {
    let docs: Vec<Document<'_>> = reports.iter().map(document).collect();
    serde_json::to_string_pretty(&docs).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn document(report: &RunReport) -> Document<'_> {
    let s = &report.store;
    Document {
        schema: SCHEMA,
        tool: Tool {
            name: "tokenstore",
            version: env!("CARGO_PKG_VERSION"),
        },
        seed: report.seed,
        cases: report.cases,
        strict: report.strict,
        store: Store {
            name: &s.name,
            location: &s.location,
            capabilities: Capabilities {
                durable: s.durable,
                files: s.files,
                thread_safe: s.thread_safe,
                typed_errors: s.typed_errors,
                limits: s.limits.iter().copied().collect(),
            },
        },
        summary: Summary {
            counts: report.counts(),
            exit_code: report.exit().code(),
        },
        clauses: report
            .clauses
            .iter()
            .map(|c| Clause {
                id: c.id,
                level: c.level,
                summary: c.summary,
                status: c.status,
                verdict: report.verdict(c),
                reason: c.reason.as_deref(),
                allowed: c.allowed.as_deref(),
                blocked_by: &c.blocked_by,
                partial: c.partial.as_deref(),
                scenarios: c
                    .scenarios
                    .iter()
                    .map(|sc| Scenario {
                        name: &sc.name,
                        status: sc.status,
                        reason: sc.reason.as_deref(),
                        duration_ms: sc.duration.as_secs_f64() * 1000.0,
                        failure: sc.failure.as_ref(),
                    })
                    .collect(),
            })
            .collect(),
    }
}
