//! The outcome of a run as plain data. Renderers format it; they decide nothing.

use std::time::Duration;

use serde::Serialize;

use crate::clauses::{CLAUSES, Level};
use crate::store::Capabilities;
use crate::token::Field;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

/// Why a scenario failed: the step, what was expected and what the store did.
/// Secret values are shown by length only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// 1-based number of the failing step.
    pub step: usize,
    /// Every step up to and including the failing one, as run.
    pub steps: Vec<String>,
    pub expected: String,
    pub actual: String,
    /// A scenario file that reproduces the failure (model.sequences).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Long generated scenarios fail deep in; the last steps are the ones that matter.
        const SHOWN: usize = 12;
        writeln!(f, "step {} failed", self.step)?;
        let skip = self.steps.len().saturating_sub(SHOWN);
        if skip > 0 {
            writeln!(f, "  ... {skip} earlier steps")?;
        }
        for (i, s) in self.steps.iter().enumerate().skip(skip) {
            writeln!(f, "  {:>3}. {s}", i + 1)?;
        }
        writeln!(f, "  expected: {}", self.expected)?;
        write!(f, "  actual:   {}", self.actual)?;
        if let Some(replay) = &self.replay {
            write!(
                f,
                "\n  as a scenario file (save it under scenarios/files/ to keep it):\n"
            )?;
            for line in replay.lines() {
                write!(f, "\n    {line}")?;
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ScenarioReport {
    /// `family::name`.
    pub name: String,
    pub status: Status,
    /// Why it was skipped.
    pub reason: Option<String>,
    pub duration: Duration,
    pub failure: Option<Failure>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ClauseReport {
    pub id: &'static str,
    pub level: Level,
    pub summary: &'static str,
    pub status: Status,
    /// Why it was skipped.
    pub reason: Option<String>,
    /// Why a known failure of this clause is tolerated (`--allow`).
    pub allowed: Option<String>,
    pub scenarios: Vec<ScenarioReport>,
}

/// What a store declared, in a report.
#[derive(Clone, Debug, Serialize)]
pub struct StoreInfo {
    pub name: String,
    /// Where the store is, with any password removed.
    pub location: String,
    pub durable: bool,
    pub files: bool,
    /// Declared maximum length per field; absent fields have no limit.
    pub limits: Vec<(&'static str, usize)>,
}

impl StoreInfo {
    pub fn new(name: &str, location: &str, caps: &Capabilities) -> Self {
        StoreInfo {
            name: name.to_owned(),
            location: location.to_owned(),
            durable: caps.durable,
            files: caps.files,
            limits: Field::ALL
                .into_iter()
                .filter_map(|f| caps.limits.get(f).map(|l| (f.name(), l)))
                .collect(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub store: StoreInfo,
    /// SHOULD clauses count as failures.
    pub strict: bool,
    /// The seed of the random parts (model sequences, kill moments), to replay the run.
    pub seed: u64,
    /// Random sequences run by `model.sequences`.
    pub cases: u32,
    pub clauses: Vec<ClauseReport>,
}

/// Clause counts. A SHOULD failure outside `--strict` is a warning, a failure on the
/// allow-list is allowed, and a clause on the allow-list that passes is stale — which
/// fails the run, so that the list cannot go stale.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub warned: usize,
    pub allowed: usize,
    pub stale: usize,
    pub skipped: usize,
}

/// How a clause counts in the verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    /// A SHOULD clause failed outside `--strict`.
    Warn,
    /// A failure on the allow-list.
    Allowed,
    /// On the allow-list, but passing: remove it from the list.
    Stale,
    Skip,
}

/// Known failures a team tolerates while it fixes them: one clause id and a reason per
/// line; `#` starts a comment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<(String, String)>,
}

impl AllowList {
    /// Parses the file's text; an unknown clause id or a missing reason is an error.
    pub fn parse(text: &str) -> Result<AllowList, String> {
        let mut entries = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let (id, reason) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            if crate::clauses::clause(id).is_none() {
                return Err(format!("line {}: unknown clause {id:?}", n + 1));
            }
            if reason.trim().is_empty() {
                return Err(format!("line {}: {id} needs a reason", n + 1));
            }
            entries.push((id.to_owned(), reason.trim().to_owned()));
        }
        Ok(AllowList { entries })
    }

    fn reason(&self, id: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, r)| r.as_str())
    }
}

impl RunReport {
    /// Groups scenario results by the clauses they check. Every clause of the registry
    /// appears: a clause no scenario ran is skipped with the reason.
    pub fn from_results(
        store: StoreInfo,
        strict: bool,
        results: &[(Vec<String>, ScenarioReport)],
    ) -> RunReport {
        let clauses = CLAUSES
            .iter()
            .map(|c| {
                let scenarios: Vec<ScenarioReport> = results
                    .iter()
                    .filter(|(ids, _)| ids.iter().any(|id| id == c.id))
                    .map(|(_, r)| r.clone())
                    .collect();
                let (status, reason) = clause_status(&scenarios);
                ClauseReport {
                    id: c.id,
                    level: c.level,
                    summary: c.summary,
                    status,
                    reason,
                    allowed: None,
                    scenarios,
                }
            })
            .collect();
        RunReport {
            store,
            strict,
            seed: 0,
            cases: 0,
            clauses,
        }
    }

    /// The ids of the clauses whose checks failed (whatever the verdict).
    pub fn failing(&self) -> std::collections::BTreeSet<&'static str> {
        self.clauses
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| c.id)
            .collect()
    }

    /// Marks the clauses on the allow-list.
    pub fn apply_allow(&mut self, allow: &AllowList) {
        for c in &mut self.clauses {
            c.allowed = allow.reason(c.id).map(str::to_owned);
        }
    }

    /// How one clause counts.
    pub fn verdict(&self, c: &ClauseReport) -> Verdict {
        match (c.status, c.allowed.is_some(), c.level, self.strict) {
            (Status::Skip, ..) => Verdict::Skip,
            (Status::Pass, true, ..) => Verdict::Stale,
            (Status::Pass, false, ..) => Verdict::Pass,
            (Status::Fail, true, ..) => Verdict::Allowed,
            (Status::Fail, false, Level::Should, false) => Verdict::Warn,
            (Status::Fail, ..) => Verdict::Fail,
        }
    }

    pub fn counts(&self) -> Counts {
        let mut n = Counts::default();
        for c in &self.clauses {
            match self.verdict(c) {
                Verdict::Pass => n.passed += 1,
                Verdict::Fail => n.failed += 1,
                Verdict::Warn => n.warned += 1,
                Verdict::Allowed => n.allowed += 1,
                Verdict::Stale => n.stale += 1,
                Verdict::Skip => n.skipped += 1,
            }
        }
        n
    }

    /// 0 when every counted clause passed or was skipped (or warned, or is allowed),
    /// 1 on a conformance failure or a stale allow-list entry, 4 when nothing ran.
    pub fn exit_code(&self) -> u8 {
        let n = self.counts();
        if n.failed + n.stale > 0 {
            1
        } else if n.passed + n.warned + n.allowed == 0 {
            4
        } else {
            0
        }
    }
}

fn clause_status(scenarios: &[ScenarioReport]) -> (Status, Option<String>) {
    if scenarios.iter().any(|s| s.status == Status::Fail) {
        return (Status::Fail, None);
    }
    if scenarios.iter().any(|s| s.status == Status::Pass) {
        return (Status::Pass, None);
    }
    let reason = scenarios
        .iter()
        .find_map(|s| s.reason.clone())
        .unwrap_or_else(|| "no scenario checks this clause in this run".to_owned());
    (Status::Skip, Some(reason))
}
