//! A case of the suite: a scenario from the files, or a built-in check. Each knows
//! its name, its clauses, when it does not apply, and how to run on a factory.

use tokenstore_scenarios::Scenario;

use crate::fixture::{BoxFuture, Factory, Fixture, Reopen, SetupError, SharedStore, Writer};
use crate::report::Failure;
use crate::store::{Capabilities, TokenStore};
use crate::{concurrency, durability, property, scenario};

/// The checks written in Rust: what a scenario file cannot say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    /// `concurrency.distinct`.
    Distinct,
    /// `concurrency.same-user`.
    SameUser,
    /// `concurrency.read-during-write`.
    ReadDuringWrite,
    /// `concurrency.multi-instance`.
    MultiInstance,
    /// `durability.reopen`.
    Reopen,
    /// `durability.crash`.
    Crash,
    /// `model.sequences`.
    ModelSequences,
}

impl Builtin {
    /// Every built-in check, in report order.
    pub const ALL: [Builtin; 7] = [
        Builtin::Distinct,
        Builtin::SameUser,
        Builtin::ReadDuringWrite,
        Builtin::MultiInstance,
        Builtin::Reopen,
        Builtin::Crash,
        Builtin::ModelSequences,
    ];

    /// The clause it checks; its name is the clause id.
    pub fn clause(self) -> &'static str {
        match self {
            Builtin::Distinct => "concurrency.distinct",
            Builtin::SameUser => "concurrency.same-user",
            Builtin::ReadDuringWrite => "concurrency.read-during-write",
            Builtin::MultiInstance => "concurrency.multi-instance",
            Builtin::Reopen => "durability.reopen",
            Builtin::Crash => "durability.crash",
            Builtin::ModelSequences => "model.sequences",
        }
    }
}

/// What one probe fixture showed about a store, to decide skips before running.
#[derive(Clone, Debug)]
pub struct Probe {
    /// What the store declares.
    pub caps: Capabilities,
    /// The fixture can open a second instance on the same data.
    pub reopen: bool,
    /// The fixture can start a writer process (for `durability.crash`).
    pub writer: bool,
}

impl Probe {
    /// Opens one fixture and looks at it.
    pub async fn of(factory: &Factory) -> Result<Probe, SetupError> {
        let fixture = factory().await?;
        let probe = Probe {
            caps: fixture.store.capabilities(),
            reopen: fixture.reopen.is_some(),
            writer: fixture.writer.is_some(),
        };
        fixture.finish().await;
        Ok(probe)
    }
}

/// Knobs of the random parts of the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Random sequences run by `model.sequences`.
    pub cases: u32,
    /// Seeds the sequences and the kill moments of `durability.crash`.
    pub seed: u64,
    /// Failed SHOULD clauses count as failures.
    pub strict: bool,
}

/// The environment variables that set [`Settings`].
pub const CASES_VAR: &str = "TOKENSTORE_CASES";
/// `TOKENSTORE_SEED`: the seed of the random sequences and the racing checks.
pub const SEED_VAR: &str = "TOKENSTORE_SEED";
/// How many random sequences run when nothing says.
pub const DEFAULT_CASES: u32 = 128;

impl Settings {
    /// From `TOKENSTORE_CASES` and `TOKENSTORE_SEED`; without a seed, a new one
    /// (reports name it, so any run can be replayed).
    pub fn from_env() -> Settings {
        let var = |name| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        Settings {
            cases: var(CASES_VAR).map_or(DEFAULT_CASES, |c| u32::try_from(c).unwrap_or(u32::MAX)),
            seed: var(SEED_VAR).unwrap_or_else(fresh_seed),
            strict: false,
        }
    }
}

fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64 ^ d.as_secs());
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

#[derive(Clone, Debug)]
/// One test of the suite: a scenario, or a built-in check.
pub enum Case {
    /// A scenario from a file.
    Scenario(Scenario),
    /// A check written in Rust.
    Builtin(Builtin),
}

const NO_REOPEN: &str = "declared durable but not verifiable: the fixture gives no way to open \
     a second instance on the same data (Fixture::with_reopen); allow the clause (--allow) \
     if you accept that";
const NO_WRITER: &str = "declared durable but not verifiable: the fixture gives no writer \
     process to kill (Fixture::with_writer); allow the clause (--allow) if you accept that";

impl Case {
    /// `family::name` for scenarios, the clause id for built-in checks.
    pub fn full_name(&self) -> String {
        match self {
            Case::Scenario(s) => s.full_name(),
            Case::Builtin(b) => b.clause().to_owned(),
        }
    }

    /// A racing check: run one at a time, since two at once would race each other.
    pub(crate) fn is_concurrency(&self) -> bool {
        matches!(
            self,
            Case::Builtin(
                Builtin::Distinct
                    | Builtin::SameUser
                    | Builtin::ReadDuringWrite
                    | Builtin::MultiInstance
            )
        )
    }

    /// A check that takes long (the crash test's kills, the random sequences).
    pub(crate) fn is_long(&self) -> bool {
        matches!(
            self,
            Case::Builtin(Builtin::Crash | Builtin::ModelSequences | Builtin::Reopen)
        )
    }

    /// The clauses the case checks.
    pub fn clauses(&self) -> Vec<String> {
        match self {
            Case::Scenario(s) => s.clauses.clone(),
            Case::Builtin(b) => vec![b.clause().to_owned()],
        }
    }

    /// Why the case does not apply to this store, if it does not. A durable store
    /// that gives no way to verify it is not skipped: its checks fail, saying so.
    pub fn skip_reason(&self, probe: &Probe, settings: Settings) -> Option<String> {
        match self {
            Case::Scenario(s) => scenario::skip_reason(s, &probe.caps),
            Case::Builtin(Builtin::MultiInstance | Builtin::Reopen | Builtin::Crash)
                if !probe.caps.durable =>
            {
                probe.caps.not_durable_reason()
            }
            Case::Builtin(Builtin::ModelSequences) if settings.cases == 0 => {
                Some("no random sequence was asked for (--cases 0)".to_owned())
            }
            Case::Builtin(_) => None,
        }
    }

    /// Runs the case on fresh fixtures from `factory`; `store` names it in replays.
    pub async fn run(
        &self,
        factory: &Factory,
        settings: Settings,
        store: &str,
    ) -> Result<Result<(), Failure>, SetupError> {
        if let Case::Builtin(Builtin::ModelSequences) = self {
            let limits = Probe::of(factory).await?.caps.limits;
            let outcome = property::sequences(
                factory.clone(),
                limits,
                settings.cases,
                settings.seed,
                store.to_owned(),
            );
            return Ok(outcome.await);
        }
        let Fixture {
            store,
            reopen,
            writer,
            teardown,
        } = factory().await?;
        let mut teardowns: Vec<_> = teardown.into_iter().collect();
        // The crash test's other chains of kills run on fresh stores of their own.
        let mut chains = vec![(writer, reopen.clone())];
        if let Case::Builtin(Builtin::Crash) = self {
            for _ in 1..durability::CHAINS {
                match factory().await {
                    Ok(more) => {
                        teardowns.extend(more.teardown);
                        chains.push((more.writer, more.reopen));
                    }
                    Err(e) => {
                        finish(teardowns).await;
                        return Err(e);
                    }
                }
            }
        }
        // On its own task, so that a store that panics fails this case (and the
        // teardown still runs) instead of ending the run.
        if self.is_concurrency() && !store.capabilities().thread_safe {
            finish(teardowns).await;
            return Ok(Err(not_shareable()));
        }
        let case = self.clone();
        let trace = scenario::Trace::default();
        let traced = trace.clone();
        let outcome = tokio::spawn(async move {
            match (case, reopen) {
                (Case::Scenario(s), _) => scenario::run_traced(&*store, &s, &traced).await,
                (Case::Builtin(Builtin::Distinct), _) => {
                    concurrency::distinct(&[store], Builtin::Distinct.clause()).await
                }
                (Case::Builtin(Builtin::SameUser), _) => concurrency::same_user(&[store]).await,
                (Case::Builtin(Builtin::ReadDuringWrite), _) => {
                    concurrency::read_during_write(&[store]).await
                }
                (Case::Builtin(Builtin::MultiInstance), Some(reopen)) => match reopen().await {
                    Ok(second) => multi_instance([store, second]).await,
                    Err(e) => Err(open_failure(e)),
                },
                (Case::Builtin(Builtin::Reopen), Some(reopen)) => {
                    durability::reopen(store, &reopen).await
                }
                // Each chain's reopen and writer are checked with the others.
                (Case::Builtin(Builtin::Crash), _) => {
                    drop(store);
                    match crash_chains(chains) {
                        Ok(chains) => durability::crash(chains, settings.seed).await,
                        Err(why) => Err(unverifiable(why)),
                    }
                }
                _ => Err(unverifiable(NO_REOPEN)),
            }
        })
        .await
        .unwrap_or_else(|join| Err(panicked(join, &trace)));
        finish(teardowns).await;
        Ok(outcome)
    }
}

async fn finish(teardowns: Vec<BoxFuture<'static, ()>>) {
    for teardown in teardowns {
        teardown.await;
    }
}

/// Each fixture's writer and reopen, or why the crash test cannot run.
fn crash_chains(
    fixtures: Vec<(Option<Writer>, Option<Reopen>)>,
) -> Result<Vec<durability::Chain>, &'static str> {
    fixtures
        .into_iter()
        .map(|(writer, reopen)| match (writer, reopen) {
            (Some(writer), Some(reopen)) => Ok(durability::Chain { writer, reopen }),
            (None, _) => Err(NO_WRITER),
            (_, None) => Err(NO_REOPEN),
        })
        .collect()
}

async fn multi_instance(stores: [SharedStore; 2]) -> Result<(), Failure> {
    let started = std::time::Instant::now();
    concurrency::distinct(&stores, Builtin::MultiInstance.clause()).await?;
    if started.elapsed().as_secs() >= 1 {
        tracing::info!("concurrency.multi-instance: distinct users done; same user next");
    }
    concurrency::same_user(&stores).await?;
    concurrency::read_during_write(&stores).await
}

fn open_failure(e: SetupError) -> Failure {
    Failure::new(
        vec!["open a second instance on the same data".to_owned()],
        "it opens",
        e.to_string(),
    )
}

fn not_shareable() -> Failure {
    Failure::new(
        vec!["read the store's declaration".to_owned()],
        "a store that may be shared between threads, as the SDK shares it",
        "the store declares that it must not be shared between threads (thread_safe: false); \
         allow the concurrency clauses (--allow) if your application never shares it",
    )
}

fn unverifiable(why: &str) -> Failure {
    Failure::new(
        vec!["verify the store's declaration that it is durable".to_owned()],
        "a way to open a second instance and a writer to kill",
        why,
    )
}

/// A panic in the store: the steps that led to it, and its message with every secret
/// the case used redacted.
fn panicked(join: tokio::task::JoinError, trace: &scenario::Trace) -> Failure {
    let message = match join.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-text panic".to_owned()),
        Err(e) => e.to_string(),
    };
    let mut steps = trace.steps();
    if steps.is_empty() {
        steps.push("run the case".to_owned());
    }
    Failure::new(
        steps,
        "no panic",
        format!("the store panicked: {}", trace.redact(&message)),
    )
}
