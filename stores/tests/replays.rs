//! Every replay that `model.sequences` prints is a scenario that reproduces the
//! failure: it fails on the mutant it was found on and passes on a correct store.

use tokenstore_harness::internals::{Builtin, Case, run_scenario};
use tokenstore_harness::{Settings, runtime};
use tokenstore_stores::MemoryStore;
use tokenstore_stores::mutants::{Bug, MutantStore, factory};

#[test]
fn every_shrunk_failure_replays_as_a_failing_scenario() {
    let mut replayed = 0;
    for seed in [7, 11] {
        let settings = Settings {
            cases: 64,
            seed,
            strict: false,
        };
        for bug in Bug::ALL {
            let outcome = runtime()
                .block_on(Case::Builtin(Builtin::ModelSequences).run(
                    &factory(bug, None),
                    settings,
                    "m",
                ))
                .expect("a mutant opens");
            let Err(failure) = outcome else { continue };
            let replay = failure
                .replay
                .expect("a shrunk failure comes with its replay");
            let scenarios =
                tokenstore_scenarios::parse("replay.toml", &replay).unwrap_or_else(|e| {
                    panic!("{bug:?}, seed {seed}: the replay does not load: {e}\n{replay}")
                });
            for s in &scenarios {
                let on_mutant = runtime().block_on(run_scenario(&MutantStore::new(bug), s));
                assert!(
                    on_mutant.is_err(),
                    "{bug:?}, seed {seed}: the replay passes on the mutant:\n{replay}"
                );
                let on_correct = runtime().block_on(run_scenario(&MemoryStore::new(), s));
                assert!(
                    on_correct.is_ok(),
                    "{bug:?}, seed {seed}: the replay fails on a correct store: {on_correct:?}\n{replay}"
                );
                replayed += 1;
            }
        }
    }
    assert!(replayed >= 4, "only {replayed} replays were tried");
}
