//! The conformance matrix as one static HTML page: no JavaScript, no external files.
//! A failing or skipped cell opens its detail in place (`<details>`).

use std::fmt::Write;

use tokenstore_harness::report::{RunReport, Status, Verdict};

use crate::human::label;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;color:#222}\
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.3rem .6rem;vertical-align:top;text-align:left}\
th{background:#f4f4f4}td.PASS{background:#e6f4ea}td.FAIL,td.STALE{background:#fce8e6}\
td.WARN,td.ALLOW{background:#fef7e0}td.SKIP{background:#f1f3f4;color:#555}\
summary{cursor:pointer;font-weight:600}pre{white-space:pre-wrap;max-width:60rem;font-size:.8rem}\
code{font-size:.9rem}";

/// Renders the matrix page for these store reports.
pub fn matrix(reports: &[RunReport]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Token-store conformance matrix</title><style>{STYLE}</style></head><body>\n\
         <h1>Token-store conformance matrix</h1>\n<p>"
    );
    for r in reports {
        let n = r.counts();
        let _ = writeln!(
            out,
            "<b>{}</b> ({}): {}; seed {}.<br>",
            escape(&r.store.name),
            escape(&r.store.location),
            n.closing_line(),
            r.seed
        );
    }
    out.push_str("</p>\n<table>\n<tr><th>clause</th><th>level</th>");
    for r in reports {
        let _ = write!(out, "<th>{}</th>", escape(&r.store.name));
    }
    out.push_str("</tr>\n");
    if let Some(first) = reports.first() {
        for (i, c) in first.clauses.iter().enumerate() {
            let _ = write!(
                out,
                "<tr><td><code>{}</code><br><small>{}</small></td><td>{}</td>",
                c.id,
                escape(c.summary),
                c.level
            );
            for r in reports {
                match r.clauses.get(i) {
                    Some(rc) => cell(&mut out, r, rc),
                    None => out.push_str("<td></td>"),
                }
            }
            out.push_str("</tr>\n");
        }
    }
    out.push_str("</table>\n</body></html>\n");
    out
}

fn cell(out: &mut String, report: &RunReport, c: &tokenstore_harness::report::ClauseReport) {
    let verdict = report.verdict(c);
    let text = label(verdict);
    let mut detail = String::new();
    if let Some(why) = &c.reason {
        detail.push_str(why);
    }
    if !c.blocked_by.is_empty() {
        let _ = write!(detail, "blocked by {}", c.blocked_by.join(", "));
    }
    if let Some(why) = &c.allowed {
        let _ = write!(detail, "allowed: {why}");
    }
    for s in c
        .scenarios
        .iter()
        .filter(|s| matches!(s.status, Status::Fail | Status::Error))
    {
        let _ = writeln!(detail, "scenario {}", s.name);
        if let Some(f) = &s.failure {
            let _ = writeln!(detail, "{f}");
        }
        if let Some(why) = &s.reason {
            let _ = writeln!(detail, "{why}");
        }
    }
    if detail.is_empty() || verdict == Verdict::Pass {
        let _ = write!(out, "<td class=\"{text}\">{text}</td>");
    } else {
        let _ = write!(
            out,
            "<td class=\"{text}\"><details><summary>{text}</summary><pre>{}</pre></details></td>",
            escape(&detail)
        );
    }
}
