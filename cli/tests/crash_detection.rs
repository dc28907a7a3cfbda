//! `durability.crash` catches a store that keeps every write until its process is
//! killed: the mutant that rewrites its token file in place (as the SDK's FileStore
//! does) is caught at each of ten seeds, that is ten sets of kill moments, and the
//! reference file store, which replaces its file atomically, passes at the same seeds.

use tokenstore_harness::internals::{Builtin, Case};
use tokenstore_harness::{Factory, Settings, runtime};
use tokenstore_stores::file_factory;
use tokenstore_stores::mutants::{self, Bug};

const SEEDS: std::ops::RangeInclusive<u64> = 1..=10;

fn writer() -> Option<std::path::PathBuf> {
    Some(env!("CARGO_BIN_EXE_tokenstore").into())
}

/// The crash check's verdict at `seed`: `Ok(())`, or what it expected and saw.
fn crash(factory: &Factory, seed: u64) -> Result<(), (String, String)> {
    let settings = Settings {
        cases: 0,
        seed,
        strict: false,
    };
    let outcome = runtime()
        .block_on(Case::Builtin(Builtin::Crash).run(factory, settings, "crash"))
        .expect("a fresh store opens");
    outcome.map_err(|f| (f.expected, f.actual))
}

#[test]
fn a_file_rewritten_in_place_is_caught_at_every_seed() {
    let factory = mutants::factory(Bug::RewritesInPlace, writer());
    for seed in SEEDS {
        match crash(&factory, seed) {
            Ok(()) => panic!("seed {seed}: the mutant passed durability.crash"),
            // Caught by what it lost or tore, not because a writer failed to run.
            Err((expected, actual)) => assert_ne!(expected, "the writer runs", "{actual}"),
        }
    }
}

#[test]
fn the_reference_file_store_passes_at_the_same_seeds() {
    let factory = file_factory(std::env::temp_dir(), writer());
    for seed in SEEDS {
        assert_eq!(crash(&factory, seed), Ok(()), "seed {seed}");
    }
}
