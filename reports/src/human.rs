//! The terminal report: the root causes first, then one line per clause with failure
//! details under it, and the closing line that counts every clause once:
//! `46 passed, 1 failed, 4 skipped, 2 allowed`.

use std::fmt::Write;

use tokenstore_harness::report::{ClauseReport, RunReport, ScenarioReport, Status, Verdict};

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
    let roots = root_causes(report);
    if !roots.is_empty() {
        let _ = writeln!(out, "root causes (failing clauses): {}", roots.join(", "));
        let _ = writeln!(out);
    }
    for c in &report.clauses {
        clause(&mut out, report, c);
    }
    let n = report.counts();
    let _ = writeln!(out);
    for (count, what) in [
        (n.allowed, "known failure(s) allowed by the allow-list"),
        (n.stale, "allow-list entr(ies) pass now and must be removed"),
        (
            n.errors,
            "clause(s) could not be checked (ERROR); they count as failed",
        ),
        (
            n.blocked,
            "clause(s) were not checked to the end because a clause they depend on failed (BLOCKED)",
        ),
        (
            n.warned,
            "SHOULD clause(s) failed (warnings; --strict makes them fail the run)",
        ),
    ] {
        if count > 0 {
            let _ = writeln!(out, "{count} {what}");
        }
    }
    let _ = writeln!(out, "{}", n.closing_line());
    out
}

/// The clauses that failed on their own (not blocked), in registry order.
pub fn root_causes(report: &RunReport) -> Vec<&'static str> {
    report
        .clauses
        .iter()
        .filter(|c| matches!(report.verdict(c), Verdict::Fail | Verdict::Error))
        .filter(|c| c.status != Status::Blocked)
        .map(|c| c.id)
        .collect()
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
    if !s.thread_safe {
        parts.push("must not be shared between threads".to_owned());
    }
    if !s.typed_errors {
        parts.push(
            "errors untyped (a refusal of any kind counts where the contract names one; kinds not checked)"
                .to_owned(),
        );
    }
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
        Verdict::Error => "ERROR",
        Verdict::Blocked => "BLOCK",
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
    match (c.status, &c.reason) {
        (Status::Skip, Some(why)) => {
            let _ = write!(out, " — skipped: {why}");
        }
        (Status::Blocked, _) => {
            let _ = write!(out, " — blocked by {}", c.blocked_by.join(", "));
        }
        _ => {}
    }
    if let Some(partial) = &c.partial {
        let _ = write!(out, " — {partial}");
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
    let shown = |s: &&ScenarioReport| matches!(s.status, Status::Fail | Status::Error);
    for s in c.scenarios.iter().filter(shown) {
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
