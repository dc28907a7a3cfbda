//! Reference TokenStores that pass every clause of the contract.
//!
//! Every store module has the same shape: the store struct, its constructors, and its
//! `TokenStore` impl (capabilities, files, the six operations). Each backend is a cargo
//! feature (`sqlite`, `mysql`, `file`, `adapter`; all on by default); `memory` and `list`
//! are always there. The `cli` feature adds what the `tokenstore` command needs:
//! [`StoreSpec`] (a store named on the command line), the crash writer, the mutant zoo
//! and the audit and migration of the data a store left.

// Every public item of the default API says what it is.
#![warn(missing_docs)]

#[cfg(feature = "adapter")]
pub mod adapter;
#[cfg(feature = "cli")]
pub mod audit;
#[cfg(feature = "cli")]
pub mod crash_writer;
#[cfg(feature = "file")]
pub mod file;
pub mod list;
pub mod memory;
#[cfg(feature = "cli")]
pub mod migrate;
#[cfg(feature = "cli")]
pub mod mutants;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "mysql")]
pub mod mysql_server;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "cli")]
mod spec;
#[cfg(any(feature = "sqlite", feature = "mysql", feature = "postgres"))]
mod sql;
#[cfg(feature = "sqlite")]
pub mod sqlite;

#[cfg(feature = "redis")]
pub use crate::redis::{RedisServer, RedisStore};
#[cfg(feature = "adapter")]
pub use adapter::AdapterStore;
#[cfg(feature = "file")]
pub use file::FileStore;
pub use list::ListStore;
pub use memory::MemoryStore;
#[cfg(feature = "mysql")]
pub use mysql::{MysqlServer, MysqlStore};
#[cfg(feature = "mysql")]
pub use mysql_server::MysqlSource;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresServer, PostgresStore};
#[cfg(feature = "cli")]
pub use spec::{
    STORE_FORMS, StoreSpec, UnknownStore, adapter_factory, file_factory, mysql_factory,
    postgres_factory, redis_factory, sqlite_factory,
};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// A name no other run uses, for a scratch table, schema or key space:
/// `tokenstore_<pid>_<time>_<n>`.
pub fn scratch_name() -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("tokenstore_{}_{nanos}_{n}", std::process::id())
}
