//! The outcome of a run as plain data. Renderers format it; they decide nothing.

use std::time::Duration;

use serde::Serialize;

use crate::clauses::{CLAUSES, Level};
use crate::store::Capabilities;
use crate::token::Field;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
/// How one case or clause came out.
pub enum Status {
    /// Every check of it held.
    Pass,
    /// A check of it failed.
    Fail,
    /// It does not apply to the store (`reason` says why).
    Skip,
    /// The case could not be set up (the store's constructor failed, say), or could
    /// not decide (its calls could not be made to race): the clause was not checked,
    /// and that counts as a failure.
    Error,
    /// The case failed on a step that checks another clause, which is reported as
    /// failed (`blocked_by`): this clause was not checked to the end.
    Blocked,
}

/// Why a scenario failed: the step, what was expected and what the store did.
/// Secret values are shown by length only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// 1-based number of the failing step.
    pub step: usize,
    /// Every step up to and including the failing one, as run.
    pub steps: Vec<String>,
    /// What the contract asks at that step.
    pub expected: String,
    /// What the store did.
    pub actual: String,
    /// A scenario file that reproduces the failure (model.sequences).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// The clauses the observed behaviour breaks, when they are not (only) the case's
    /// own: a case's own clauses that are not listed here are then blocked, not failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub breaks: Vec<String>,
    /// The check could not decide (its calls could not be made to race): reported as
    /// an ERROR whose reason gives `expected` and `actual`, not as a failure of the store.
    #[serde(skip)]
    pub inconclusive: bool,
}

impl Failure {
    /// A failure of the case's own clauses.
    pub fn new(steps: Vec<String>, expected: impl Into<String>, actual: impl Into<String>) -> Self {
        Failure {
            step: steps.len().max(1),
            steps,
            expected: expected.into(),
            actual: actual.into(),
            replay: None,
            breaks: Vec::new(),
            inconclusive: false,
        }
    }

    /// The check could not decide; see [`Failure::inconclusive`](Self#structfield.inconclusive).
    pub fn inconclusive(
        steps: Vec<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Self {
        Failure {
            inconclusive: true,
            ..Failure::new(steps, expected, actual)
        }
    }

    /// The same failure, breaking these clauses as well (or instead, see `breaks`).
    pub fn breaking(mut self, clauses: &[&str]) -> Self {
        for c in clauses {
            if !self.breaks.iter().any(|b| b == c) {
                self.breaks.push((*c).to_owned());
            }
        }
        self
    }
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
        if !self.breaks.is_empty() {
            write!(f, "\n  breaks:   {}", self.breaks.join(", "))?;
        }
        if let Some(replay) = &self.replay {
            write!(f, "\n  as a scenario file:\n")?;
            for line in replay.lines() {
                write!(f, "\n    {line}")?;
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize)]
/// How one case (scenario or built-in check) came out.
pub struct ScenarioReport {
    /// `family::name`.
    pub name: String,
    /// Its status.
    pub status: Status,
    /// Why it was skipped.
    pub reason: Option<String>,
    /// How long it ran.
    pub duration: Duration,
    /// Why it failed.
    pub failure: Option<Failure>,
}

#[derive(Clone, Debug, Serialize)]
/// How one clause came out, with its cases.
pub struct ClauseReport {
    /// The clause id.
    pub id: &'static str,
    /// MUST or SHOULD.
    pub level: Level,
    /// The clause in one line.
    pub summary: &'static str,
    /// Its status, from its cases'.
    pub status: Status,
    /// Why it was skipped.
    pub reason: Option<String>,
    /// Why a known failure of this clause is tolerated (`--allow`).
    pub allowed: Option<String>,
    /// The failed clauses that kept this one from being checked (status `blocked`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocked_by: Vec<String>,
    /// A passing clause that was only partly run (some of its scenarios were skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partial: Option<String>,
    /// The cases that check it.
    pub scenarios: Vec<ScenarioReport>,
}

/// What a store declared, in a report.
#[derive(Clone, Debug, Serialize)]
pub struct StoreInfo {
    /// The store's name.
    pub name: String,
    /// Where the store is, with any password removed.
    pub location: String,
    /// Declared durable.
    pub durable: bool,
    /// Declared to keep files.
    pub files: bool,
    /// Declared maximum length per field; absent fields have no limit.
    pub limits: Vec<(&'static str, usize)>,
    /// Declared safe to share between threads.
    pub thread_safe: bool,
    /// False when error kinds could not be checked (see `Capabilities::typed_errors`).
    pub typed_errors: bool,
    /// See `Capabilities::raw_values`.
    pub raw_values: bool,
}

impl StoreInfo {
    /// What a store with these capabilities declared.
    pub fn new(name: &str, location: &str, caps: &Capabilities) -> Self {
        StoreInfo {
            name: name.to_owned(),
            location: location.to_owned(),
            durable: caps.durable,
            files: caps.files,
            thread_safe: caps.thread_safe,
            typed_errors: caps.typed_errors,
            raw_values: caps.raw_values,
            limits: Field::ALL
                .into_iter()
                .filter_map(|f| caps.limits.get(f).map(|l| (f.name(), l)))
                .collect(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
/// A whole run: the store, the settings and every clause.
pub struct RunReport {
    /// What the store declared.
    pub store: StoreInfo,
    /// SHOULD clauses count as failures.
    pub strict: bool,
    /// The seed of the random parts (model sequences, kill moments), to replay the run.
    pub seed: u64,
    /// Random sequences run by `model.sequences`.
    pub cases: u32,
    /// Every clause of the contract, in contract order.
    pub clauses: Vec<ClauseReport>,
}

/// Clause counts. A SHOULD failure outside `--strict` is a warning, a failure on the
/// allow-list is allowed, and a clause on the allow-list that passes is stale — which
/// fails the run, so that the list cannot go stale.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Clauses that passed.
    pub passed: usize,
    /// Clauses that fail the run: FAIL, ERROR and STALE together.
    pub failed: usize,
    /// Of `failed`, the clauses that could not be checked (ERROR).
    pub errors: usize,
    /// Of `failed`, allow-list entries that pass now.
    pub stale: usize,
    /// SHOULD clauses that failed outside `--strict`.
    pub warned: usize,
    /// Failures on the allow-list.
    pub allowed: usize,
    /// Clauses not checked to the end because another clause failed.
    pub blocked: usize,
    /// Clauses that do not apply to the store.
    pub skipped: usize,
}

impl Counts {
    /// Every clause.
    pub fn total(&self) -> usize {
        self.passed + self.failed + self.warned + self.allowed + self.blocked + self.skipped
    }

    /// The closing line: every clause counted once, so that it never says `0 failed`
    /// next to a failed run: `46 passed, 1 failed, 4 skipped, 2 allowed`.
    pub fn closing_line(&self) -> String {
        let mut line = format!(
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        );
        for (n, what) in [
            (self.allowed, "allowed"),
            (self.warned, "warned"),
            (self.blocked, "blocked"),
        ] {
            if n > 0 {
                line.push_str(&format!(", {n} {what}"));
            }
        }
        line
    }
}

/// How a clause counts in the verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The clause holds.
    Pass,
    /// The clause fails the run.
    Fail,
    /// A SHOULD clause failed outside `--strict`.
    Warn,
    /// A failure on the allow-list.
    Allowed,
    /// On the allow-list, but passing: remove it from the list.
    Stale,
    /// It does not apply.
    Skip,
    /// The case could not be set up or could not decide; fails the run.
    Error,
    /// Not checked to the end because another, failing clause broke first.
    Blocked,
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
    /// appears: a clause no scenario ran is skipped with the reason. A failure that
    /// breaks other clauses than its case's (see [`Failure::breaks`]) fails those
    /// clauses and blocks the case's own.
    pub fn from_results(
        store: StoreInfo,
        strict: bool,
        results: &[(Vec<String>, ScenarioReport)],
    ) -> RunReport {
        let mut by_clause: Vec<(String, ScenarioReport)> = Vec::new();
        for (ids, report) in results {
            let breaks = report
                .failure
                .as_ref()
                .filter(|_| report.status == Status::Fail)
                .map_or(&[][..], |f| f.breaks.as_slice());
            for id in ids {
                let mut r = report.clone();
                if !breaks.is_empty() && !breaks.contains(id) {
                    r.status = Status::Blocked;
                    r.reason = Some(format!("blocked by {}", breaks.join(", ")));
                }
                by_clause.push((id.clone(), r));
            }
            for id in breaks.iter().filter(|b| !ids.contains(b)) {
                by_clause.push((id.clone(), report.clone()));
            }
        }
        let clauses = CLAUSES
            .iter()
            .map(|c| {
                let scenarios: Vec<ScenarioReport> = by_clause
                    .iter()
                    .filter(|(id, _)| id == c.id)
                    .map(|(_, r)| r.clone())
                    .collect();
                let mut report = clause_report(c, scenarios);
                if c.id == "value.empty" && !store.raw_values && report.status == Status::Pass {
                    report.partial = Some(EMPTY_BY_TYPE.to_owned());
                }
                report
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

    /// A report in which no clause ran, each skipped with `why` (a store that could not
    /// be reached, in a matrix).
    pub fn unavailable(store: StoreInfo, why: &str) -> RunReport {
        let mut report = RunReport::from_results(store, false, &[]);
        for c in &mut report.clauses {
            c.reason = Some(why.to_owned());
        }
        report
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

    /// How one clause counts. A blocked clause counts as blocked only while a clause
    /// that blocks it fails the run; otherwise (its blocker allowed, or a warning) it
    /// counts as failed itself, so that an allow-list entry for one clause never hides
    /// another clause that was not checked.
    pub fn verdict(&self, c: &ClauseReport) -> Verdict {
        match (c.status, c.allowed.is_some(), c.level, self.strict) {
            (Status::Skip, ..) => Verdict::Skip,
            (Status::Pass, true, ..) => Verdict::Stale,
            (Status::Pass, false, ..) => Verdict::Pass,
            (_, true, ..) => Verdict::Allowed,
            (Status::Error, ..) => Verdict::Error,
            (Status::Blocked, ..) if self.blocker_fails(c) => Verdict::Blocked,
            (_, false, Level::Should, false) => Verdict::Warn,
            (Status::Fail | Status::Blocked, ..) => Verdict::Fail,
        }
    }

    fn blocker_fails(&self, c: &ClauseReport) -> bool {
        self.clauses
            .iter()
            .filter(|b| c.blocked_by.iter().any(|id| id == b.id) && b.status != Status::Blocked)
            .any(|b| matches!(self.verdict(b), Verdict::Fail | Verdict::Error))
    }

    /// How many clauses came out which way.
    pub fn counts(&self) -> Counts {
        let mut n = Counts::default();
        for c in &self.clauses {
            match self.verdict(c) {
                Verdict::Pass => n.passed += 1,
                Verdict::Fail => n.failed += 1,
                Verdict::Error => {
                    n.failed += 1;
                    n.errors += 1;
                }
                Verdict::Stale => {
                    n.failed += 1;
                    n.stale += 1;
                }
                Verdict::Warn => n.warned += 1,
                Verdict::Allowed => n.allowed += 1,
                Verdict::Blocked => n.blocked += 1,
                Verdict::Skip => n.skipped += 1,
            }
        }
        n
    }

    /// [`Exit::Pass`] when every counted clause passed or was skipped (or warned, or is
    /// allowed), [`Exit::Fail`] on a conformance failure or a stale allow-list entry,
    /// [`Exit::NothingRan`] when no clause ran.
    pub fn exit(&self) -> Exit {
        let n = self.counts();
        if n.failed + n.blocked > 0 {
            Exit::Fail
        } else if n.passed + n.warned + n.allowed == 0 {
            Exit::NothingRan
        } else {
            Exit::Pass
        }
    }
}

/// How a run ends, as the `tokenstore` command's exit code; every report format and the
/// CLI use this one type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: conformant (warnings and allowed failures included).
    Pass,
    /// 1: a clause failed, or an allow-list entry is stale.
    Fail,
    /// 2: the command line or an input file is wrong.
    Usage,
    /// 3: the store could not be opened, or a report could not be written.
    Setup,
    /// 4: no clause ran.
    NothingRan,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Pass => 0,
            Exit::Fail => 1,
            Exit::Usage => 2,
            Exit::Setup => 3,
            Exit::NothingRan => 4,
        }
    }

    /// The exit of several runs: a failure anywhere fails them all; nothing ran only
    /// when no run ran anything.
    pub fn of_all(exits: impl IntoIterator<Item = Exit>) -> Exit {
        let exits: Vec<Exit> = exits.into_iter().collect();
        if exits.contains(&Exit::Fail) {
            Exit::Fail
        } else if !exits.is_empty() && exits.iter().all(|e| *e == Exit::NothingRan) {
            Exit::NothingRan
        } else {
            Exit::Pass
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

/// What a PASS of `value.empty` means for a store that cannot see `""`.
const EMPTY_BY_TYPE: &str = "partly by the type: a Rust store's Token cannot hold \"\", so that \
                             it never keeps or matches \"\" is not tested; what it hands back is";

fn clause_report(c: &crate::clauses::Clause, scenarios: Vec<ScenarioReport>) -> ClauseReport {
    let has = |st: Status| scenarios.iter().any(|s| s.status == st);
    let status = [Status::Fail, Status::Error, Status::Blocked, Status::Pass]
        .into_iter()
        .find(|st| has(*st))
        .unwrap_or(Status::Skip);
    let skipped: Vec<&ScenarioReport> = scenarios
        .iter()
        .filter(|s| s.status == Status::Skip)
        .collect();
    let reason = match status {
        Status::Skip => Some(
            skipped
                .iter()
                .find_map(|s| s.reason.clone())
                .unwrap_or_else(|| "no scenario checks this clause in this run".to_owned()),
        ),
        _ => None,
    };
    let partial = (status == Status::Pass && !skipped.is_empty()).then(|| {
        format!(
            "partly run: {} of {} scenarios skipped ({})",
            skipped.len(),
            scenarios.len(),
            skipped
                .iter()
                .map(|s| format!("{}: {}", s.name, s.reason.as_deref().unwrap_or("")))
                .collect::<Vec<_>>()
                .join("; ")
        )
    });
    let mut blocked_by: Vec<String> = Vec::new();
    if status == Status::Blocked {
        for s in scenarios.iter().filter(|s| s.status == Status::Blocked) {
            for b in s.failure.iter().flat_map(|f| &f.breaks) {
                if !blocked_by.contains(b) {
                    blocked_by.push(b.clone());
                }
            }
        }
    }
    ClauseReport {
        id: c.id,
        level: c.level,
        summary: c.summary,
        status,
        reason,
        allowed: None,
        blocked_by,
        partial,
        scenarios,
    }
}
