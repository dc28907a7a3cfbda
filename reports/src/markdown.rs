//! Markdown for `$GITHUB_STEP_SUMMARY` and pull requests: a summary table, then the
//! failing clauses with their detail. Kept under GitHub's 1 MiB summary limit.

use std::fmt::Write;

use tokenstore_harness::report::{Exit, RunReport, ScenarioReport, Status, Verdict};

use crate::human::label;

/// GitHub refuses step summaries over 1 MiB; stay well below it.
const MAX_BYTES: usize = 900 * 1024;

/// Escapes what would break a table cell.
pub fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Renders one store's report.
pub fn render(report: &RunReport) -> String {
    let n = report.counts();
    let ok = report.exit() == Exit::Pass;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### Token-store conformance: {} — {}\n",
        if ok { "✅ passed" } else { "❌ failed" },
        cell(&report.store.name)
    );
    let _ = writeln!(
        out,
        "Store: `{}` ({}); declared: {}; seed {}.\n",
        cell(&report.store.name),
        cell(&report.store.location),
        cell(&crate::human::declared(report)),
        report.seed
    );
    let _ = writeln!(out, "| clause | level | result | note |\n|---|---|---|---|");
    for c in &report.clauses {
        let verdict = report.verdict(c);
        let note = match verdict {
            Verdict::Skip => c.reason.clone().unwrap_or_default(),
            Verdict::Allowed => format!("allowed: {}", c.allowed.clone().unwrap_or_default()),
            Verdict::Stale => "passes now: remove it from the allow-list".to_owned(),
            Verdict::Warn => "SHOULD: a warning".to_owned(),
            Verdict::Blocked => format!("blocked by {}", c.blocked_by.join(", ")),
            Verdict::Error => "could not be checked".to_owned(),
            _ => c.partial.clone().unwrap_or_default(),
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            c.id,
            c.level,
            label(verdict),
            cell(&note)
        );
    }
    let failing: Vec<_> = report
        .clauses
        .iter()
        .filter(|c| {
            matches!(
                report.verdict(c),
                Verdict::Fail | Verdict::Error | Verdict::Warn | Verdict::Allowed
            )
        })
        .collect();
    if !failing.is_empty() {
        let _ = writeln!(out, "\n#### Failing clauses\n");
    }
    for c in failing {
        let shown = |s: &&ScenarioReport| matches!(s.status, Status::Fail | Status::Error);
        for s in c.scenarios.iter().filter(shown) {
            let detail = s
                .failure
                .as_ref()
                .map_or_else(|| s.reason.clone().unwrap_or_default(), |f| f.to_string());
            let block = format!(
                "<details><summary><code>{}</code> — {}</summary>\n\n```\n{}\n```\n\n</details>\n",
                c.id,
                cell(&s.name),
                detail.replace("```", "'''")
            );
            if out.len() + block.len() > MAX_BYTES {
                let _ = writeln!(out, "\n(more failures are in the JSON and JUnit reports)");
                break;
            }
            out.push_str(&block);
        }
    }
    let _ = writeln!(out, "\n{}", n.closing_line());
    out
}

/// A clauses × stores table.
pub fn matrix(reports: &[RunReport]) -> String {
    let mut out = String::from("| clause | level |");
    for r in reports {
        let _ = write!(out, " {} |", cell(&r.store.name));
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(reports.len()));
    out.push('\n');
    let Some(first) = reports.first() else {
        return out;
    };
    for (i, c) in first.clauses.iter().enumerate() {
        let _ = write!(out, "| `{}` | {} |", c.id, c.level);
        for r in reports {
            let cell_text = r.clauses.get(i).map_or("", |rc| label(r.verdict(rc)));
            let _ = write!(out, " {cell_text} |");
        }
        out.push('\n');
    }
    out
}
