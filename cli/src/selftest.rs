//! `tokenstore selftest`: the suite must catch every mutant under the clause it breaks,
//! and fail none of the reference stores.

use tokenstore_harness::report::RunReport;

use crate::outln;
use tokenstore_harness::{Factory, Settings, Suite, runtime};
use tokenstore_stores::StoreSpec;
use tokenstore_stores::mutants::{self, Bug};

/// A mutant caught only by `model.sequences` must shrink to at most this many steps.
const MAX_SHRUNK_STEPS: usize = 4;

/// How the suite did on one mutant.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Caught by the clause it breaks.
    Caught,
    /// Not caught by the clause it breaks.
    Missed,
    /// A `model.sequences` mutant caught elsewhere too, or by a long sequence.
    MissedBySequences,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Caught => "caught",
            Verdict::Missed => "MISSED",
            Verdict::MissedBySequences => {
                "MISSED (not caught by model.sequences alone, shrunk to at most 4 steps)"
            }
        })
    }
}

fn run(name: &str, factory: &Factory, settings: Settings) -> Result<RunReport, String> {
    runtime()
        .block_on(Suite::embedded().run(name, "", factory, settings, |_, _| {}))
        .map_err(|e| e.to_string())
}

/// Runs the suite on every mutant and every reference store; prints one line each.
/// True when every mutant was caught where it should be and no reference store failed.
pub fn selftest(references: &[StoreSpec], settings: Settings) -> Result<bool, String> {
    let mut ok = 0;
    let mut bad = 0;
    outln!(
        "selftest: seed {} ({} random sequences); replay with --seed {}",
        settings.seed,
        settings.cases,
        settings.seed
    );
    outln!("{:<22} {:<32} result", "mutant", "must fail");
    for bug in Bug::ALL {
        let factory = mutants::factory(bug, std::env::current_exe().ok());
        let report = run(&bug.name(), &factory, settings)?;
        let caught = report.failing();
        let mut verdict = if caught.contains(bug.clause()) {
            Verdict::Caught
        } else {
            Verdict::Missed
        };
        if bug.clause() == "model.sequences" {
            let steps = shrunk_steps(&report);
            if caught.len() != 1 || steps.is_none_or(|n| n > MAX_SHRUNK_STEPS) {
                verdict = Verdict::MissedBySequences;
            }
            if let Some(replay) = shrunk_replay(&report) {
                eprintln!("{} shrunk to:\n{replay}", bug.name());
            }
        }
        let all: Vec<&str> = caught.into_iter().collect();
        outln!(
            "{:<22} {:<32} {verdict} (failed: {})",
            bug.name(),
            bug.clause(),
            all.join(", ")
        );
        outln!("{:<22}   {}", "", bug.description());
        if verdict == Verdict::Caught {
            ok += 1
        } else {
            bad += 1
        }
    }
    outln!("");
    for spec in references {
        let report = run(
            &spec.name(),
            &spec.factory(std::env::current_exe().ok()),
            settings,
        )?;
        let caught = report.failing();
        if caught.is_empty() {
            ok += 1;
            outln!("reference store {:<10} passes every clause", spec.name());
        } else {
            bad += 1;
            let all: Vec<&str> = caught.into_iter().collect();
            outln!(
                "reference store {:<10} FAILS {}",
                spec.name(),
                all.join(", ")
            );
        }
    }
    outln!("\n{ok} passed, {bad} failed");
    Ok(bad == 0)
}

fn model_failure(report: &RunReport) -> Option<&tokenstore_harness::report::Failure> {
    report
        .clauses
        .iter()
        .find(|c| c.id == "model.sequences")?
        .scenarios
        .iter()
        .find_map(|s| s.failure.as_ref())
}

fn shrunk_steps(report: &RunReport) -> Option<usize> {
    model_failure(report).map(|f| f.step)
}

fn shrunk_replay(report: &RunReport) -> Option<String> {
    model_failure(report).and_then(|f| f.replay.clone())
}
