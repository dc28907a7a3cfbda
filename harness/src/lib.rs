//! The TokenStore contract, made executable.
//!
//! - [`Token`], the lookup key rules ([`LookupKey`]) and the [`TokenStore`] trait with
//!   its typed [`StoreError`]s and declared [`Capabilities`];
//! - [`Model`], the reference implementation used as the oracle;
//! - the clause registry ([`clauses`]);
//! - [`Suite`], which runs every scenario on a store and gives a [`RunReport`];
//! - [`trials`] and [`conformance_main!`], which make the suite one named test per
//!   scenario in a user's own `cargo test`;
//! - [`bench`](mod@bench), the workload `tokenstore bench` measures, and [`random`], the seeded
//!   random source.
//!
//! [`internals`] is what the `tokenstore` command and this project's tests use to run one
//! check alone; it is public for them and may change in any release.
// Every public item says what it is: users build on this crate.
#![warn(missing_docs)]
// A check's `Err` is its `Failure` report, made at most once per check and never on a
// hot path; boxing it would only add noise to every check.
#![allow(clippy::result_large_err)]

pub mod bench;
mod case;
pub mod clauses;
mod concurrency;
mod durability;
mod error;
mod fixture;
mod key;
mod model;
mod property;
pub mod random;
pub mod report;
mod runner;
mod scenario;
mod store;
mod token;

pub use case::{CASES_VAR, DEFAULT_CASES, SEED_VAR, Settings};
pub use durability::{crash_token, crash_writer};
pub use error::{BackendSource, ErrorKind, StoreError};
pub use fixture::{
    BoxFuture, Factory, Fixture, Reopen, SetupError, SharedStore, Writer, factory, fixtures,
};
pub use key::{LookupKey, SavePlan, find_merged, insertable, save_plan};
pub use model::Model;
pub use report::{AllowList, RunReport, Status, Verdict};
pub use runner::{
    SCENARIOS_VAR, ScenarioDirError, Suite, notes_to_stderr, runtime, trials, unavailable,
};
pub use scenario::{fingerprint, secret_shown};
pub use store::{BoxedStore, Capabilities, DynTokenStore, Limits, TokenStore, require_id};
pub use token::{Field, Token};

/// The runner's parts, for the `tokenstore` command and this project's own tests: one
/// case run alone, a store's probe, the scenario interpreter. Not part of the stable API.
pub mod internals {
    pub use crate::case::{Builtin, Case, Probe};
    pub use crate::scenario::{model_answers, run as run_scenario};
}

/// The test runner [`trials`] builds for; `conformance_main!` uses it through this path.
pub use libtest_mimic;
