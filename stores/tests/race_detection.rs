//! The concurrency checks catch races whatever the machine's load: each racy mutant
//! must be caught by its check in at least 99 of 100 runs. The tests take turns: each
//! measures under the machine's load, not under the load of the other tests.

use std::sync::Mutex;

use tokenstore_harness::internals::{Builtin, Case};
use tokenstore_harness::{Settings, runtime};
use tokenstore_stores::mutants::{self, Bug};

/// Held by the test that is measuring.
static MEASURING: Mutex<()> = Mutex::new(());

fn caught_of_100(bug: Bug, check: Builtin) -> usize {
    let _turn = MEASURING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let settings = Settings {
        cases: 0,
        seed: 1,
        strict: false,
    };
    let factory = mutants::factory(bug, None);
    let caught = (0..100)
        .filter(|_| {
            let outcome = runtime().block_on(Case::Builtin(check).run(&factory, settings, "race"));
            matches!(outcome, Ok(Err(_)))
        })
        .count();
    eprintln!(
        "{bug:?}: caught by {} in {caught} of 100 runs",
        check.clause()
    );
    caught
}

#[test]
fn a_race_with_an_await_between_check_and_write_is_caught_99_of_100_times() {
    let n = caught_of_100(Bug::UpdateThenInsertRace, Builtin::SameUser);
    assert!(n >= 99, "caught in {n} of 100 runs");
}

#[test]
fn a_race_without_an_await_between_check_and_write_is_caught_99_of_100_times() {
    let n = caught_of_100(Bug::UnlockedCheckThenInsert, Builtin::SameUser);
    assert!(n >= 99, "caught in {n} of 100 runs");
}

#[test]
fn torn_updates_are_caught_99_of_100_times() {
    let n = caught_of_100(Bug::TornWrites, Builtin::ReadDuringWrite);
    assert!(n >= 99, "caught in {n} of 100 runs");
}

#[test]
fn a_non_atomic_id_counter_is_caught_99_of_100_times() {
    let n = caught_of_100(Bug::RacyIdCounter, Builtin::Distinct);
    assert!(n >= 99, "caught in {n} of 100 runs");
}
