//! Running the suite on a store: as one report (the CLI), or as one named test per
//! case in a user's own `cargo test` (libtest-mimic).

use std::collections::HashSet;
use std::path::Path;
use std::sync::LazyLock;
use std::time::Instant;

use libtest_mimic::{Completion, Failed, Trial};
use tokenstore_scenarios::Scenario;

use crate::case::{Builtin, Case, Probe, Settings};
use crate::fixture::{Factory, SetupError};
use crate::report::{Failure, RunReport, ScenarioReport, Status, StoreInfo};

/// The suite: every embedded scenario and every built-in check.
#[derive(Clone, Debug)]
pub struct Suite {
    cases: Vec<Case>,
}

impl Suite {
    /// The embedded scenario files and the built-in checks. The files are checked by
    /// this crate's tests, so a failure here means a broken build, not bad user input.
    pub fn embedded() -> Suite {
        match tokenstore_scenarios::all() {
            Ok(scenarios) => {
                let mut suite = Suite::new(scenarios);
                suite.cases.extend(Builtin::ALL.map(Case::Builtin));
                suite
            }
            Err(e) => panic!("the embedded scenario files are invalid: {e}"),
        }
    }

    /// This suite and the user's own scenario files in `dir` (rules of their store, a
    /// replay that `model.sequences` printed). Every clause they name must be a
    /// contract clause, and no name may repeat one already in the suite.
    pub fn with_scenario_dir(mut self, dir: &Path) -> Result<Suite, ScenarioDirError> {
        let mut taken: HashSet<String> = self.cases.iter().map(Case::full_name).collect();
        for scenario in tokenstore_scenarios::load_dir(dir)? {
            let steps = scenario.steps.iter().filter_map(|s| s.checks.as_ref());
            if let Some(unknown) = scenario
                .clauses
                .iter()
                .chain(steps)
                .find(|id| crate::clauses::clause(id).is_none())
            {
                return Err(ScenarioDirError::UnknownClause {
                    scenario: scenario.full_name(),
                    clause: unknown.clone(),
                });
            }
            if !taken.insert(scenario.full_name()) {
                return Err(ScenarioDirError::NameTaken {
                    scenario: scenario.full_name(),
                });
            }
            self.cases.push(Case::Scenario(scenario));
        }
        Ok(self)
    }

    /// A suite of these scenarios only (a regression file, a test's own).
    pub fn new(scenarios: Vec<Scenario>) -> Suite {
        Suite {
            cases: scenarios.into_iter().map(Case::Scenario).collect(),
        }
    }

    /// Every case, in run order.
    pub fn cases(&self) -> &[Case] {
        &self.cases
    }

    /// The scenarios among the cases.
    pub fn scenarios(&self) -> impl Iterator<Item = &Scenario> {
        self.cases.iter().filter_map(|c| match c {
            Case::Scenario(s) => Some(s),
            Case::Builtin(_) => None,
        })
    }

    /// Runs every case, each on fresh fixtures from `factory`, and groups the results
    /// by clause. `location` is shown in reports and must hold no password. Cases are
    /// independent, so they run side by side (eight at a time, after the racing
    /// checks, which run alone); the report lists them in suite order whatever order they
    /// finish in, so a seed gives the same report.
    pub async fn run(
        &self,
        name: &str,
        location: &str,
        factory: &Factory,
        settings: Settings,
        mut progress: impl FnMut(&str, Status),
    ) -> Result<RunReport, SetupError> {
        let probe = Probe::of(factory).await?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let job = Job {
            factory: factory.clone(),
            probe: probe.clone(),
            settings,
            store: name.to_owned(),
            done: tx,
        };
        let cases = self.cases.iter().cloned().enumerate().collect();
        tokio::spawn(job.run_all(cases));
        let mut reports: Vec<Option<ScenarioReport>> = vec![None; self.cases.len()];
        while let Some((at, report)) = rx.recv().await {
            progress(&report.name, report.status);
            reports[at] = Some(report);
        }
        let results: Vec<_> = self
            .cases
            .iter()
            .zip(reports)
            .map(|(case, report)| (case.clauses(), report.unwrap_or_else(|| unfinished(case))))
            .collect();
        let mut report = RunReport::from_results(
            StoreInfo::new(name, location, &probe.caps),
            settings.strict,
            &results,
        );
        report.seed = settings.seed;
        report.cases = settings.cases;
        Ok(report)
    }
}

/// How many cases run at once after the racing checks. Each case has its own fresh
/// store, so they cannot disturb each other's verdicts; a store that waits on its
/// disk or its server (fsync, a round trip) gains beyond the core count: this 2-core
/// machine's disk flushed 10 600 times a second from four threads, 14 200 from eight,
/// and SQLite's check took 2.41 s with eight lanes against 2.71 s with four (medians
/// of eight, BENCHMARKS.md). A factory may have fewer stores to give at once (an
/// adapter's processes): the other cases then wait for one.
const LANES: usize = 8;

/// What every case of a run needs, to run on a task of its own.
#[derive(Clone)]
struct Job {
    factory: Factory,
    probe: Probe,
    settings: Settings,
    store: String,
    /// Each finished case, with its place in the suite.
    done: tokio::sync::mpsc::UnboundedSender<(usize, ScenarioReport)>,
}

impl Job {
    /// The racing checks first, one at a time and alone, each with the cores to
    /// itself (two at once would race each other, and other cases beside them would
    /// keep their threads from starting together); then the other cases side by side.
    /// Measured on 2 cores (BENCHMARKS.md): beside the other cases, the racing threads
    /// spent half the run's CPU spinning for each other, and SQLite's
    /// `concurrency.distinct` needed 440–500 rounds to race 128 of them, against
    /// 144–156 alone.
    async fn run_all(self, cases: Vec<(usize, Case)>) {
        let (racing, others): (Vec<_>, Vec<_>) = cases
            .into_iter()
            .partition(|(_, case)| case.is_concurrency());
        for (at, case) in racing {
            self.report(at, &case).await;
        }
        self.side_by_side(others).await;
    }

    /// Runs the case and sends its report, with its place in the suite.
    async fn report(&self, at: usize, case: &Case) {
        let report = run_one(&self.factory, case, &self.probe, self.settings, &self.store).await;
        let _ = self.done.send((at, report));
    }

    /// Cases [`LANES`] at a time, each on its own task; the long ones (the crash test,
    /// which mostly waits on its writer processes, the random sequences) start first so
    /// that they do not end the run alone.
    async fn side_by_side(self, mut cases: Vec<(usize, Case)>) {
        cases.sort_by_key(|(_, case)| !case.is_long());
        let mut cases = cases.into_iter();
        let mut running = tokio::task::JoinSet::new();
        loop {
            while running.len() < LANES
                && let Some((at, case)) = cases.next()
            {
                let job = self.clone();
                running.spawn(async move { job.report(at, &case).await });
            }
            if running.join_next().await.is_none() {
                break;
            }
        }
    }
}

/// The report of a case whose task ended without one (it panicked outside the
/// store's own task, which `Case::run` already catches).
fn unfinished(case: &Case) -> ScenarioReport {
    ScenarioReport {
        name: case.full_name(),
        status: Status::Error,
        reason: Some("the check ended without a result (the harness's task panicked)".into()),
        duration: Default::default(),
        failure: None,
    }
}

/// Why a directory of the user's scenario files cannot join the suite.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioDirError {
    /// The directory or a file in it could not be loaded.
    #[error(transparent)]
    Load(#[from] tokenstore_scenarios::LoadError),
    /// A scenario names a clause the contract does not have.
    #[error(
        "scenario {scenario}: `{clause}` is not a clause of the contract (see `tokenstore clauses`)"
    )]
    UnknownClause {
        /// The scenario.
        scenario: String,
        /// The clause id it names.
        clause: String,
    },
    /// A scenario has the name of one already in the suite.
    #[error("scenario {scenario}: the suite has a scenario of this name already; rename it")]
    NameTaken {
        /// The scenario's full name.
        scenario: String,
    },
}

/// The suite a user's `cargo test` runs: the embedded one, and the scenario files in
/// `TOKENSTORE_SCENARIOS` when that names a directory.
fn suite_from_env() -> Result<Suite, ScenarioDirError> {
    match std::env::var_os(SCENARIOS_VAR) {
        Some(dir) => Suite::embedded().with_scenario_dir(Path::new(&dir)),
        None => Ok(Suite::embedded()),
    }
}

/// The environment variable naming a directory of the user's own scenario files.
pub const SCENARIOS_VAR: &str = "TOKENSTORE_SCENARIOS";

/// Runs one case, unless it does not apply. A case whose fixture cannot be set up is
/// an ERROR of its own: the other cases still run and the report is complete.
async fn run_one(
    factory: &Factory,
    case: &Case,
    probe: &Probe,
    settings: Settings,
    store: &str,
) -> ScenarioReport {
    let mut report = ScenarioReport {
        name: case.full_name(),
        status: Status::Pass,
        reason: None,
        duration: Default::default(),
        failure: None,
    };
    if let Some(why) = case.skip_reason(probe, settings) {
        report.status = Status::Skip;
        report.reason = Some(why);
        return report;
    }
    let start = Instant::now();
    let outcome = case.run(factory, settings, store).await;
    report.duration = start.elapsed();
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(failure)) if failure.inconclusive => {
            report.status = Status::Error;
            report.reason = Some(format!(
                "inconclusive: expected {}; got {}",
                failure.expected, failure.actual
            ));
        }
        Ok(Err(failure)) => {
            report.status = Status::Fail;
            report.failure = Some(failure);
        }
        Err(setup) => {
            report.status = Status::Error;
            report.reason = Some(setup.to_string());
        }
    }
    report
}

/// One runtime per test process: a pool or connection must be used on the runtime
/// it was made on, and `block_on` cannot nest. Its threads run at a lower priority
/// than the threads that start the racing checks' calls, so that those start together.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    &RUNTIMES.main
}

/// The runtime whose threads start the racing checks' calls, at the process's own
/// priority. The other cases run beside the racing checks on [`runtime`], whose threads
/// yield to these: a CPU-bound store's other cases would otherwise keep the cores
/// busy, and the racing threads would rarely start their calls together (measured:
/// SQLite in memory-backed scratch raced 31 rounds of 512 instead of 128 of 128).
pub(crate) fn racing_runtime() -> &'static tokio::runtime::Runtime {
    &RUNTIMES.racing
}

/// Awaits every one of a check's side-by-side tasks, in order, whatever the others
/// did, so that none outlives the check; a task that panicked is a failure of `what`.
/// The caller reports the first failure in order, so a seed gives the same report.
pub(crate) async fn join_in_order<T>(
    tasks: Vec<tokio::task::JoinHandle<T>>,
    what: &str,
) -> Vec<Result<T, Failure>> {
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(
            task.await
                .map_err(|e| Failure::new(vec![what.to_owned()], "no panic", e.to_string())),
        );
    }
    outcomes
}

struct Runtimes {
    main: tokio::runtime::Runtime,
    racing: tokio::runtime::Runtime,
}

/// Made together on first use, so that the racing runtime's threads are not children
/// of the main runtime's threads, whose lowered priority they would inherit.
static RUNTIMES: LazyLock<Runtimes> = LazyLock::new(|| {
    // At least 8 workers whatever the core count: the concurrency checks need calls
    // that really run at once on several OS threads, also on a 2-core CI runner.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let racing = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("tokenstore-racing")
        .enable_all()
        .build()
        .expect("cannot start the tokio runtime");
    let main = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores.max(8))
        .on_thread_start(lower_priority)
        .enable_all()
        .build()
        .expect("cannot start the tokio runtime");
    Runtimes { main, racing }
});

/// Lowers the calling thread's priority to nice [`OTHERS_NICE`]; on Linux a thread's
/// priority is its own. Where it cannot be lowered, the checks still run: the racing
/// checks then run more rounds to reach their bar (or say that they could not).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its arguments; `who = 0` is the calling thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, OTHERS_NICE);
    }
}

/// The other cases' priority beside the racing checks. Measured on 2 cores,
/// `tokenstore check sqlite` in memory-backed scratch: at nice 0 the racing checks fell
/// short of 128 raced rounds in 1 024 (50, 79, 122) in three idle runs of nine; from
/// nice 5 up none did. Nice 10 runs idle as fast as 19 (1.8–2.1 s); under two busy
/// loops nice 19 starved the other cases (8 s, and 31 s with the files on disk,
/// against 4.0 s and 6.4 s at nice 10).
const OTHERS_NICE: i32 = 10;

/// One libtest-mimic trial per case: `STORE::FAMILY::NAME` for scenarios,
/// `STORE::CLAUSE` for built-in checks. Settings come from the environment
/// (`TOKENSTORE_CASES`, `TOKENSTORE_SEED`).
///
/// Skips are decided here, while the list is built, so that `cargo test` and
/// `cargo nextest` both show them as ignored; the reasons go to stderr.
pub fn trials(store: &str, factory: Factory) -> Vec<Trial> {
    let suite = match suite_from_env() {
        Ok(suite) => suite,
        Err(e) => {
            // Shown as a failing test: a run must not pass without the user's files.
            let why = format!("{SCENARIOS_VAR}: {e}");
            return vec![Trial::test(format!("{store}::scenario-files"), move || {
                Err(Failed::from(why))
            })];
        }
    };
    let probe = runtime().block_on(Probe::of(&factory));
    let settings = Settings::from_env();
    suite
        .cases
        .into_iter()
        .map(|case| {
            let name = format!("{store}::{}", case.full_name());
            match probe
                .as_ref()
                .ok()
                .and_then(|p| case.skip_reason(p, settings))
            {
                Some(why) => skipped(name, why),
                None => {
                    let (factory, probe, store) =
                        (factory.clone(), probe.clone(), store.to_owned());
                    Trial::test(name, move || {
                        run_trial(&factory, &case, probe, settings, &store)
                    })
                }
            }
        })
        .collect()
}

/// The trials of a store that is not available here (no server configured, say):
/// every case is listed as ignored, with the reason.
pub fn unavailable(store: &str, why: &str) -> Vec<Trial> {
    Suite::embedded()
        .cases
        .iter()
        .map(|c| skipped(format!("{store}::{}", c.full_name()), why.to_owned()))
        .collect()
}

/// Expands to a `fn main` for a `harness = false` test target that runs the whole
/// suite on each named store, one test per scenario.
///
/// In `tests/conformance.rs`, with `harness = false` for that test in `Cargo.toml`
/// (here the reference model stands in for your store):
///
/// ```no_run
/// tokenstore_harness::conformance_main! {
///     // a name, and a closure that opens a fresh, empty store each time it is called
///     "model" => || async { Ok::<_, String>(tokenstore_harness::Model::new()) },
/// }
/// ```
#[macro_export]
macro_rules! conformance_main {
    ($($name:expr => $open:expr),+ $(,)?) => {
        fn main() -> ::std::process::ExitCode {
            $crate::notes_to_stderr();
            let args = $crate::libtest_mimic::Arguments::from_args();
            let mut trials = ::std::vec::Vec::new();
            $( trials.extend($crate::trials($name, $crate::factory($open))); )+
            $crate::libtest_mimic::run(&args, trials).exit_code()
        }
    };
}

/// Prints the harness's notes (why a test is skipped, the progress of long checks) on
/// stderr, one plain line each. The library writes nothing itself; a binary that wants
/// the notes calls this first (`conformance_main!` and the `tokenstore` command do).
/// Does nothing when the binary already has a `tracing` subscriber.
pub fn notes_to_stderr() {
    let _already = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_level(false)
        .without_time()
        .try_init();
}

/// An ignored trial; run anyway (`--include-ignored`), it reports the reason.
fn skipped(name: String, why: String) -> Trial {
    tracing::info!("note: {name} is skipped: {why}");
    Trial::ignorable_test(name, move || Ok(Completion::ignored_with(why))).with_ignored_flag(true)
}

fn run_trial(
    factory: &Factory,
    case: &Case,
    probe: Result<Probe, SetupError>,
    settings: Settings,
    store: &str,
) -> Result<(), Failed> {
    let probe = probe.map_err(|e| Failed::from(e.to_string()))?;
    // On the runtime's threads, not the test thread: a racing check of another trial
    // then has the cores first (see `racing_runtime`).
    let (factory, owned, store) = (factory.clone(), case.clone(), store.to_owned());
    let task = async move { run_one(&factory, &owned, &probe, settings, &store).await };
    let report = runtime()
        .block_on(async move { tokio::spawn(task).await })
        .unwrap_or_else(|_| unfinished(case));
    match (report.failure, report.reason) {
        (Some(f), _) => Err(Failed::from(format!("{f}\n  (seed {})", settings.seed))),
        (None, Some(why)) if report.status == Status::Error => Err(Failed::from(why)),
        _ => Ok(()),
    }
}
