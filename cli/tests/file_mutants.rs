//! The file store's mutants are caught by the check each one breaks, every time:
//! `durability.crash` catches the one that rewrites its token file in place (as the
//! SDK's FileStore does) at each of ten seeds, that is ten sets of kill moments, and
//! the reference file store, which replaces its file atomically, passes at the same
//! seeds; `concurrency.multi-instance` catches the one whose lock keeps out its own
//! threads only, ten times in ten.

use tokenstore_harness::internals::{Builtin, Case};
use tokenstore_harness::report::Failure;
use tokenstore_harness::{Factory, Settings, runtime};
use tokenstore_stores::file_factory;
use tokenstore_stores::mutants::{self, Bug};

const SEEDS: std::ops::RangeInclusive<u64> = 1..=10;

fn writer() -> Option<std::path::PathBuf> {
    Some(env!("CARGO_BIN_EXE_tokenstore").into())
}

/// The check's verdict at `seed` (a check's `Err` is its report, as in the harness).
#[allow(clippy::result_large_err)]
fn verdict(check: Builtin, factory: &Factory, seed: u64) -> Result<(), Failure> {
    let settings = Settings {
        cases: 0,
        seed,
        strict: false,
    };
    runtime()
        .block_on(Case::Builtin(check).run(factory, settings, "file-mutant"))
        .expect("a fresh store opens")
}

#[test]
fn a_file_rewritten_in_place_is_caught_at_every_seed() {
    let factory = mutants::factory(Bug::RewritesInPlace, writer());
    for seed in SEEDS {
        match verdict(Builtin::Crash, &factory, seed) {
            Ok(()) => panic!("seed {seed}: the mutant passed durability.crash"),
            // Caught by what it lost or tore, not because a writer failed to run.
            Err(f) => assert_ne!(f.expected, "the writer runs", "{}", f.actual),
        }
    }
}

#[test]
fn the_reference_file_store_passes_at_the_same_seeds() {
    let factory = file_factory(std::env::temp_dir(), writer());
    for seed in SEEDS {
        assert_eq!(
            verdict(Builtin::Crash, &factory, seed),
            Ok(()),
            "seed {seed}"
        );
    }
}

#[test]
fn a_lock_that_keeps_out_only_its_own_threads_is_caught_every_time() {
    let factory = mutants::factory(Bug::LocksOnlyItsThreads, writer());
    for seed in SEEDS {
        match verdict(Builtin::MultiInstance, &factory, seed) {
            Ok(()) => panic!("run {seed}: the mutant passed concurrency.multi-instance"),
            Err(f) => assert!(!f.inconclusive, "run {seed}: inconclusive: {}", f.actual),
        }
    }
}
