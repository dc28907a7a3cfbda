//! `tokenstore audit SOURCE`: the data a store left, checked against the contract's data
//! invariants, read-only.

use std::process::ExitCode;

use tokenstore_harness::{Limits, runtime};
use tokenstore_stores::audit::{self, AuditSource};

/// How the audit report is printed.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum AuditFormat {
    /// A line per finding.
    Human,
    /// `tokenstore-audit/1` (REPORTS.md, reports/schema/tokenstore-audit-1.schema.json).
    Json,
    /// A Markdown table.
    Markdown,
}

/// Reads the source and prints its findings; exit 0 clean, 1 findings, 2 usage, 3 when
/// the source cannot be read.
pub fn run(source: &str, table: Option<&str>, sdk_limits: bool, format: AuditFormat) -> ExitCode {
    let source = match AuditSource::parse(source, table) {
        Ok(source) => source,
        Err(e) => return fail(&e),
    };
    let limits = if sdk_limits {
        Limits::sdk_schema()
    } else {
        Limits::NONE
    };
    match runtime().block_on(audit::audit(&source, limits)) {
        Ok(report) => {
            let text = match format {
                AuditFormat::Human => audit::human(&report),
                AuditFormat::Markdown => audit::markdown(&report),
                AuditFormat::Json => match serde_json::to_string_pretty(&report) {
                    Ok(json) => json + "\n",
                    Err(e) => {
                        eprintln!("error: cannot write the report: {e}");
                        return ExitCode::from(3);
                    }
                },
            };
            print!("{text}");
            ExitCode::from(report.exit_code())
        }
        Err(e) => fail(&e),
    }
}

fn fail(e: &audit::AuditError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(e.exit_code())
}
