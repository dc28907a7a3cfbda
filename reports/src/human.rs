//! The terminal report: one line per clause, grouped PASS / FAIL / SKIP, failure
//! details under the clause, and the closing line `N passed, N failed, N skipped`.

use std::fmt::Write;

use tokenstore_harness::report::{ClauseReport, RunReport, Status, Verdict};

/// Renders the whole report as plain text.
pub fn render(report: &RunReport) -> String {
    let mut out = String::new();
    let s = &report.store;
    let _ = writeln!(out, "tokenstore check: {} ({})", s.name, s.location);
    let _ = writeln!(out, "declared: {}", declared(report));
    let _ = writeln!(
        out,
        "seed: {} ({} random sequences)",
        report.seed, report.cases
    );
    let _ = writeln!(out);
    for c in &report.clauses {
        clause(&mut out, report, c);
    }
    let n = report.counts();
    let _ = writeln!(out);
    if n.allowed > 0 {
        let _ = writeln!(
            out,
            "{} known failure(s) allowed by the allow-list",
            n.allowed
        );
    }
    if n.stale > 0 {
        let _ = writeln!(
            out,
            "{} allow-list entr(ies) pass now and must be removed",
            n.stale
        );
    }
    if n.warned > 0 {
        let _ = writeln!(
            out,
            "{} SHOULD clause(s) failed (warnings; --strict makes them fail the run)",
            n.warned
        );
    }
    let _ = writeln!(
        out,
        "{} passed, {} failed, {} skipped",
        n.passed, n.failed, n.skipped
    );
    out
}

/// What the store declared, in one line.
pub fn declared(report: &RunReport) -> String {
    let s = &report.store;
    let mut parts = vec![
        if s.durable { "durable" } else { "not durable" }.to_owned(),
        if s.files {
            "keeps files"
        } else {
            "keeps no files"
        }
        .to_owned(),
    ];
    if s.limits.is_empty() {
        parts.push("no field limits".to_owned());
    } else {
        let limits: Vec<String> = s.limits.iter().map(|(f, n)| format!("{f} {n}")).collect();
        parts.push(format!("limits: {}", limits.join(", ")));
    }
    parts.join("; ")
}

/// The four-letter label of a verdict.
pub fn label(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Warn => "WARN",
        Verdict::Allowed => "ALLOW",
        Verdict::Stale => "STALE",
        Verdict::Skip => "SKIP",
    }
}

fn clause(out: &mut String, report: &RunReport, c: &ClauseReport) {
    let verdict = report.verdict(c);
    let _ = write!(
        out,
        "{:<5} {:<32} {:<6} {}",
        label(verdict),
        c.id,
        c.level,
        c.summary
    );
    if let Some(why) = &c.reason {
        let _ = write!(out, " — skipped: {why}");
    }
    match (verdict, &c.allowed) {
        (Verdict::Allowed, Some(why)) => {
            let _ = write!(out, " — allowed: {why}");
        }
        (Verdict::Stale, _) => {
            let _ = write!(out, " — passes now: remove it from the allow-list");
        }
        _ => {}
    }
    let _ = writeln!(out);
    for s in c.scenarios.iter().filter(|s| s.status == Status::Fail) {
        let _ = writeln!(out, "      scenario {}", s.name);
        if let Some(why) = &s.reason {
            let _ = writeln!(out, "        {why}");
        }
        if let Some(f) = &s.failure {
            for line in f.to_string().lines() {
                let _ = writeln!(out, "        {line}");
            }
        }
    }
}
