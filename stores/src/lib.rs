//! Reference TokenStores that pass every clause of the contract, and [`StoreSpec`],
//! which names one of them on a command line.
//!
//! Every store module has the same shape: the store struct, its constructors, and its
//! `TokenStore` impl (capabilities, files, the six operations).

use std::path::PathBuf;
use std::str::FromStr;

use tokenstore_harness::{Factory, factory};

pub mod list;
pub mod memory;
mod sql;
pub mod sqlite;

pub use list::ListStore;
pub use memory::MemoryStore;
pub use sqlite::SqliteStore;

/// A store named on the command line: `memory`, `list`, `sqlite`, `sqlite:DIR` or
/// `sqlite::memory:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSpec {
    Memory,
    List,
    /// A database file per fresh store, in a new temporary directory under `dir`
    /// (the system's temporary directory by default).
    SqliteFile {
        dir: Option<PathBuf>,
    },
    SqliteMemory,
}

/// A store name the CLI does not know.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown store {0:?}: expected memory, list, sqlite, sqlite:DIR or sqlite::memory:")]
pub struct UnknownStore(String);

impl FromStr for StoreSpec {
    type Err = UnknownStore;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "memory" => Ok(StoreSpec::Memory),
            "list" => Ok(StoreSpec::List),
            "sqlite" => Ok(StoreSpec::SqliteFile { dir: None }),
            "sqlite::memory:" => Ok(StoreSpec::SqliteMemory),
            _ => match s.strip_prefix("sqlite:") {
                Some(dir) if !dir.is_empty() => Ok(StoreSpec::SqliteFile {
                    dir: Some(PathBuf::from(dir)),
                }),
                _ => Err(UnknownStore(s.to_owned())),
            },
        }
    }
}

impl StoreSpec {
    /// The store's name in reports.
    pub fn name(&self) -> &'static str {
        match self {
            StoreSpec::Memory => "memory",
            StoreSpec::List => "list",
            StoreSpec::SqliteFile { .. } | StoreSpec::SqliteMemory => "sqlite",
        }
    }

    /// Where the store keeps its data, for reports.
    pub fn location(&self) -> String {
        match self {
            StoreSpec::Memory | StoreSpec::List | StoreSpec::SqliteMemory => "in memory".to_owned(),
            StoreSpec::SqliteFile { dir: None } => {
                "a new file in the temporary directory".to_owned()
            }
            StoreSpec::SqliteFile { dir: Some(d) } => format!("a new file under {}", d.display()),
        }
    }

    /// Opens a fresh, empty store per call.
    pub fn factory(&self) -> Factory {
        match self.clone() {
            StoreSpec::Memory => factory(|| async { Ok::<_, String>(MemoryStore::new()) }),
            StoreSpec::List => factory(|| async { Ok::<_, String>(ListStore::new()) }),
            StoreSpec::SqliteMemory => factory(|| async { SqliteStore::in_memory() }),
            StoreSpec::SqliteFile { dir } => factory(move || {
                let parent = dir.clone().unwrap_or_else(std::env::temp_dir);
                async move { SqliteStore::temporary_in(&parent) }
            }),
        }
    }
}
