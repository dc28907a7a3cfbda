//! The whole conformance suite, one test per scenario:
//! `cargo test --test conformance` (or `cargo nextest run`).

use broken_store::BrokenStore;

tokenstore_harness::conformance_main! {
    "broken" => || async { Ok::<_, String>(BrokenStore::new()) },
}
