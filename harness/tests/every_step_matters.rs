//! No scenario passes vacuously: every call a scenario makes is checked. For each
//! scenario and each call it makes, a store that is the reference model except that
//! this one call goes wrong — a read answers wrongly, a write that would change the
//! rows is acknowledged but not made — must fail the scenario.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokenstore_harness::internals::{Case, Probe, run_scenario};
use tokenstore_harness::{
    Capabilities, Field, Limits, Model, Settings, StoreError, Suite, Token, TokenStore, runtime,
};

const SETTINGS: Settings = Settings {
    cases: 0,
    seed: 1,
    strict: false,
};

/// The model, except that call number `wrong` (counting from 0) goes wrong.
struct OneWrongCall {
    model: Model,
    limits: Limits,
    calls: AtomicUsize,
    wrong: usize,
    /// How the wrong call went wrong, once it was made.
    made: Mutex<Option<&'static str>>,
    /// The writes made so far, to tell whether leaving one out changes the rows.
    writes: Mutex<Vec<Write>>,
}

#[derive(Clone)]
enum Write {
    Save(Box<Token>),
    Delete(String),
    DeleteAll,
}

impl Write {
    async fn apply(&self, model: &Model) -> Result<String, StoreError> {
        match self {
            Write::Save(token) => model.save_token(token).await,
            Write::Delete(id) => model.delete_token(id).await.map(|()| String::new()),
            Write::DeleteAll => model.delete_tokens().await.map(|()| String::new()),
        }
    }

    fn how(&self) -> &'static str {
        match self {
            Write::Save(_) => "save_token is acknowledged but not made",
            Write::Delete(_) => "delete_token is acknowledged but deletes nothing",
            Write::DeleteAll => "delete_tokens is acknowledged but deletes nothing",
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl OneWrongCall {
    fn new(wrong: usize, limits: Limits) -> Self {
        OneWrongCall {
            model: Model::with_limits(limits),
            limits,
            calls: AtomicUsize::new(0),
            wrong,
            made: Mutex::new(None),
            writes: Mutex::new(Vec::new()),
        }
    }

    /// Whether this call is the one that goes wrong.
    fn is_wrong(&self) -> bool {
        self.calls.fetch_add(1, Ordering::SeqCst) == self.wrong
    }

    /// A read's answer: the model's, or when this call goes wrong, another.
    fn read<T>(&self, right: T, wrong: impl FnOnce(T) -> T, how: &'static str) -> T {
        if !self.is_wrong() {
            return right;
        }
        *lock(&self.made) = Some(how);
        wrong(right)
    }

    /// Makes `write`; when this call goes wrong and the write would change the rows,
    /// acknowledges it without making it (a save gives back its token's id, or one
    /// no scenario has).
    async fn write(&self, write: Write) -> Result<String, StoreError> {
        if self.is_wrong() {
            let done = lock(&self.writes).clone();
            if changes_rows(self.limits, &done, &write).await {
                *lock(&self.made) = Some(write.how());
                return Ok(match &write {
                    Write::Save(token) => token.id().unwrap_or("9998").to_owned(),
                    _ => String::new(),
                });
            }
        }
        lock(&self.writes).push(write.clone());
        write.apply(&self.model).await
    }
}

/// Whether `write`, made after `done`, changes the rows.
async fn changes_rows(limits: Limits, done: &[Write], write: &Write) -> bool {
    let replay = Model::with_limits(limits);
    for w in done {
        let _ = w.apply(&replay).await;
    }
    let before = replay.get_tokens().await.ok();
    let _ = write.apply(&replay).await;
    before != replay.get_tokens().await.ok()
}

/// A token no scenario saves.
fn stranger(id: &str) -> Token {
    Token::new()
        .with(Field::Id, id)
        .with(Field::UserName, "stranger@example.com")
        .with(Field::RefreshToken, "1000.stranger")
}

/// The other answer of a find: nothing for a token, a stranger for nothing.
fn other(found: Result<Option<Token>, StoreError>, id: &str) -> Result<Option<Token>, StoreError> {
    match found {
        Ok(Some(_)) => Ok(None),
        _ => Ok(Some(stranger(id))),
    }
}

impl TokenStore for OneWrongCall {
    fn capabilities(&self) -> Capabilities {
        self.model.capabilities()
    }

    fn files(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    async fn find_token(&self, probe: &Token) -> Result<Option<Token>, StoreError> {
        let right = self.model.find_token(probe).await;
        self.read(right, |r| other(r, "9999"), "find_token answers wrongly")
    }

    async fn save_token(&self, token: &Token) -> Result<String, StoreError> {
        self.write(Write::Save(Box::new(token.clone()))).await
    }

    async fn delete_token(&self, id: &str) -> Result<(), StoreError> {
        self.write(Write::Delete(id.to_owned())).await.map(|_| ())
    }

    async fn get_tokens(&self) -> Result<Vec<Token>, StoreError> {
        let right = self.model.get_tokens().await;
        let wrong = |rows: Result<Vec<Token>, StoreError>| {
            rows.map(|mut rows| {
                if rows.pop().is_none() {
                    rows.push(stranger("9997"));
                }
                rows
            })
        };
        self.read(right, wrong, "get_tokens leaves a row out, or adds one")
    }

    async fn delete_tokens(&self) -> Result<(), StoreError> {
        self.write(Write::DeleteAll).await.map(|_| ())
    }

    async fn find_token_by_id(&self, id: &str) -> Result<Option<Token>, StoreError> {
        let right = self.model.find_token_by_id(id).await;
        self.read(right, |r| other(r, id), "find_token_by_id answers wrongly")
    }
}

/// The wrong calls that the scenarios let pass, on a model with these limits, and how
/// many wrong calls were tried.
fn unchecked_calls(limits: Limits) -> (Vec<String>, usize) {
    let model =
        tokenstore_harness::factory(
            move || async move { Ok::<_, String>(Model::with_limits(limits)) },
        );
    let probe = runtime()
        .block_on(Probe::of(&model))
        .expect("the model opens");
    let mut unchecked = Vec::new();
    let mut tried = 0;
    for scenario in Suite::embedded().scenarios() {
        // How many calls the scenario makes on a store where none goes wrong.
        let correct = OneWrongCall::new(usize::MAX, limits);
        if let Err(f) = runtime().block_on(run_scenario(&correct, scenario)) {
            // Only a scenario the suite skips for the model may fail on it.
            let case = Case::Scenario(scenario.clone());
            assert!(
                case.skip_reason(&probe, SETTINGS).is_some(),
                "{}: fails on the model: {} / {}",
                scenario.full_name(),
                f.expected,
                f.actual
            );
            continue;
        }
        for wrong in 0..correct.calls.load(Ordering::SeqCst) {
            let store = OneWrongCall::new(wrong, limits);
            let passed = runtime().block_on(run_scenario(&store, scenario)).is_ok();
            let made = *lock(&store.made);
            if let Some(how) = made {
                tried += 1;
                if passed {
                    unchecked.push(format!("{} call {wrong}: {how}", scenario.full_name()));
                }
            }
        }
    }
    (unchecked, tried)
}

#[test]
fn every_call_of_every_scenario_is_checked() {
    for limits in [Limits::default(), Limits::sdk_schema()] {
        let (unchecked, tried) = unchecked_calls(limits);
        assert!(tried > 500, "only {tried} wrong calls tried");
        assert!(
            unchecked.is_empty(),
            "{limits:?}: {} of {tried} wrong calls passed:\n{}",
            unchecked.len(),
            unchecked.join("\n")
        );
    }
}
