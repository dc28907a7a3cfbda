//! Every reference store against every scenario: one named test per (store, scenario).

use tokenstore_stores::{ListStore, MemoryStore, SqliteStore};

tokenstore_harness::conformance_main! {
    "memory" => || async { Ok::<_, String>(MemoryStore::new()) },
    "list" => || async { Ok::<_, String>(ListStore::new()) },
    "sqlite" => || async { SqliteStore::temporary_in(&std::env::temp_dir()) },
    "sqlite-memory" => || async { SqliteStore::in_memory() },
}
