//! Running the suite on a store: as one report (the CLI), or as one named test per
//! scenario in a user's own `cargo test` (libtest-mimic).

use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::time::Instant;

use libtest_mimic::{Completion, Failed, Trial};
use tokenstore_scenarios::Scenario;

use crate::clauses::{CLAUSES, Check};
use crate::report::{RunReport, ScenarioReport, Status, StoreInfo};
use crate::scenario::{self, skip_reason};
use crate::store::{BoxedStore, Capabilities, DynTokenStore, TokenStore};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Opens a fresh, empty, isolated store each time it is called.
pub type Factory = Arc<dyn Fn() -> BoxFuture<'static, Result<Fixture, SetupError>> + Send + Sync>;

/// A fresh store, and what to do once a check is done with it (drop its table, say).
/// The teardown runs even when the check fails or the store panics.
pub struct Fixture {
    pub store: BoxedStore,
    pub teardown: Option<BoxFuture<'static, ()>>,
}

impl Fixture {
    pub fn new(store: impl TokenStore + 'static) -> Self {
        Fixture {
            store: DynTokenStore::new_box(store),
            teardown: None,
        }
    }

    pub fn with_teardown(mut self, teardown: impl Future<Output = ()> + Send + 'static) -> Self {
        self.teardown = Some(Box::pin(teardown));
        self
    }
}

/// The store could not be opened (unreachable server, unwritable directory, ...).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("could not open the store: {0}")]
pub struct SetupError(pub String);

/// Wraps a closure that opens a fresh store into a [`Factory`].
///
/// ```
/// # use tokenstore_harness::{factory, Model};
/// let f = factory(|| async { Ok::<_, String>(Model::new()) });
/// ```
pub fn factory<F, Fut, S, E>(open: F) -> Factory
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<S, E>> + Send + 'static,
    S: TokenStore + 'static,
    E: Into<Box<dyn Error + Send + Sync>>,
{
    fixtures(move || {
        let fut = open();
        async move { fut.await.map(Fixture::new) }
    })
}

/// Wraps a closure that opens a fresh [`Fixture`] (a store with a teardown) into a
/// [`Factory`].
pub fn fixtures<F, Fut, E>(open: F) -> Factory
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Fixture, E>> + Send + 'static,
    E: Into<Box<dyn Error + Send + Sync>>,
{
    Arc::new(move || {
        let fut = open();
        Box::pin(async move { fut.await.map_err(|e| SetupError(chain(&*e.into()))) })
    })
}

/// An error and its sources, joined: "open the database file: permission denied".
fn chain(e: &(dyn Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        // Many errors repeat their source in their own text already.
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// The suite: every embedded scenario.
#[derive(Clone, Debug)]
pub struct Suite {
    scenarios: Vec<Scenario>,
}

impl Suite {
    /// The embedded scenario files. They are checked by this crate's tests, so a
    /// failure here means a broken build, not bad user input.
    pub fn embedded() -> Suite {
        match tokenstore_scenarios::all() {
            Ok(scenarios) => Suite { scenarios },
            Err(e) => panic!("the embedded scenario files are invalid: {e}"),
        }
    }

    /// A suite of other scenarios (a regression file, a test's own).
    pub fn new(scenarios: Vec<Scenario>) -> Suite {
        Suite { scenarios }
    }

    pub fn scenarios(&self) -> &[Scenario] {
        &self.scenarios
    }

    /// Runs every scenario, each on a fresh store from `factory`, and groups the
    /// results by clause. `location` is shown in reports and must hold no password.
    pub async fn run(
        &self,
        name: &str,
        location: &str,
        factory: &Factory,
        strict: bool,
        mut progress: impl FnMut(&str, Status),
    ) -> Result<RunReport, SetupError> {
        let caps = capabilities(factory).await?;
        let mut results = Vec::with_capacity(self.scenarios.len());
        for s in &self.scenarios {
            let report = run_one(factory, s, &caps).await?;
            progress(&report.name, report.status);
            results.push((s.clauses.clone(), report));
        }
        Ok(RunReport::from_results(
            StoreInfo::new(name, location, &caps),
            strict,
            &results,
        ))
    }
}

/// Opens one store to read what it declares.
pub async fn capabilities(factory: &Factory) -> Result<Capabilities, SetupError> {
    let fixture = factory().await?;
    let caps = fixture.store.capabilities();
    drop(fixture.store);
    if let Some(teardown) = fixture.teardown {
        teardown.await;
    }
    Ok(caps)
}

/// Runs one scenario on its own task, so that a store that panics fails the scenario
/// instead of ending the run.
async fn run_one(
    factory: &Factory,
    scenario: &Scenario,
    caps: &Capabilities,
) -> Result<ScenarioReport, SetupError> {
    let name = scenario.full_name();
    let start = Instant::now();
    let mut report = ScenarioReport {
        name,
        status: Status::Pass,
        reason: None,
        duration: Default::default(),
        failure: None,
    };
    if let Some(why) = skip_reason(scenario, caps) {
        report.status = Status::Skip;
        report.reason = Some(why);
        return Ok(report);
    }
    let Fixture { store, teardown } = factory().await?;
    let owned = scenario.clone();
    let outcome = tokio::spawn(async move { scenario::run(&*store, &owned).await }).await;
    report.duration = start.elapsed();
    if let Some(teardown) = teardown {
        teardown.await;
    }
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(failure)) => {
            report.status = Status::Fail;
            report.failure = Some(failure);
        }
        Err(join) => {
            report.status = Status::Fail;
            report.reason = Some(format!("the store panicked: {}", panic_message(join)));
        }
    }
    Ok(report)
}

fn panic_message(join: tokio::task::JoinError) -> String {
    match join.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-text panic".to_owned()),
        Err(e) => e.to_string(),
    }
}

/// One runtime per test process: a pool or connection must be used on the runtime
/// it was made on, and `block_on` cannot nest.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("cannot start the tokio runtime")
    });
    &RT
}

/// One libtest-mimic trial per scenario (`STORE::FAMILY::NAME`), plus one ignored
/// trial per clause this version does not check yet (`STORE::pending::CLAUSE`).
///
/// Skips are decided here, while the list is built, so that `cargo test` and
/// `cargo nextest` both show them as ignored; the reasons go to stderr.
pub fn trials(store: &str, factory: Factory) -> Vec<Trial> {
    let suite = Suite::embedded();
    let caps = runtime().block_on(capabilities(&factory));
    let mut trials = Vec::new();
    for s in suite.scenarios {
        let name = format!("{store}::{}", s.full_name());
        match caps.as_ref().ok().and_then(|c| skip_reason(&s, c)) {
            Some(why) => trials.push(skipped(name, why)),
            None => {
                let (factory, caps) = (factory.clone(), caps.clone());
                trials.push(Trial::test(name, move || run_trial(&factory, &s, caps)));
            }
        }
    }
    trials.extend(pending(store));
    trials
}

/// The trials of a store that is not available here (no server configured, say):
/// every scenario is listed as ignored, with the reason.
pub fn unavailable(store: &str, why: &str) -> Vec<Trial> {
    let mut trials: Vec<Trial> = Suite::embedded()
        .scenarios
        .iter()
        .map(|s| skipped(format!("{store}::{}", s.full_name()), why.to_owned()))
        .collect();
    trials.extend(pending(store));
    trials
}

fn pending(store: &str) -> Vec<Trial> {
    CLAUSES
        .iter()
        .filter_map(|c| match c.check {
            Check::Pending(why) => Some(skipped(
                format!("{store}::pending::{}", c.id),
                why.to_owned(),
            )),
            Check::Scenarios => None,
        })
        .collect()
}

/// Expands to a `fn main` for a `harness = false` test target that runs the whole
/// suite on each named store, one test per scenario.
///
/// ```ignore
/// tokenstore_harness::conformance_main! {
///     "mystore" => || async { MyStore::open().await },
/// }
/// ```
#[macro_export]
macro_rules! conformance_main {
    ($($name:expr => $open:expr),+ $(,)?) => {
        fn main() -> ::std::process::ExitCode {
            let args = $crate::libtest_mimic::Arguments::from_args();
            let mut trials = ::std::vec::Vec::new();
            $( trials.extend($crate::trials($name, $crate::factory($open))); )+
            $crate::libtest_mimic::run(&args, trials).exit_code()
        }
    };
}

/// An ignored trial; run anyway (`--include-ignored`), it reports the reason.
fn skipped(name: String, why: String) -> Trial {
    eprintln!("note: {name} is skipped: {why}");
    Trial::ignorable_test(name, move || Ok(Completion::ignored_with(why))).with_ignored_flag(true)
}

fn run_trial(
    factory: &Factory,
    scenario: &Scenario,
    caps: Result<Capabilities, SetupError>,
) -> Result<(), Failed> {
    let caps = caps.map_err(|e| Failed::from(e.to_string()))?;
    let report = runtime()
        .block_on(run_one(factory, scenario, &caps))
        .map_err(|e| Failed::from(e.to_string()))?;
    match (report.status, report.failure, report.reason) {
        (Status::Fail, Some(f), _) => Err(Failed::from(f.to_string())),
        (Status::Fail, None, why) => Err(Failed::from(why.unwrap_or_default())),
        _ => Ok(()),
    }
}
