//! `sqlite`: one database file in WAL mode (or an in-memory database) holding the SDK's
//! `oauthtoken` table, with a unique index on every lookup key.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{
    Connection, ErrorCode, OptionalExtension, Transaction, TransactionBehavior, params_from_iter,
};
use tempfile::TempDir;
use tokenstore_harness::{
    Capabilities, Field, Limits, LookupKey, StoreError, Token, TokenStore, insertable, require_id,
};

use crate::sql::{self, Marks, Statements, TABLE};

/// The schema: the SDK's columns in order, as TEXT in a STRICT table (so `"00123"`
/// stays text), a unique index per lookup key, and a one-row id sequence that only
/// grows (so ids are never reused, even after `delete_tokens`).
///
/// One transaction: a new file costs one flush instead of one per statement, and a
/// crash while it is made leaves no half schema.
const SCHEMA: &str = "
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS oauthtoken (
    id TEXT NOT NULL PRIMARY KEY,
    user_name TEXT, client_id TEXT, client_secret TEXT, refresh_token TEXT,
    access_token TEXT, grant_token TEXT, expiry_time TEXT, redirect_url TEXT, api_domain TEXT
) STRICT;
CREATE UNIQUE INDEX IF NOT EXISTS oauthtoken_user_name ON oauthtoken (user_name);
CREATE UNIQUE INDEX IF NOT EXISTS oauthtoken_access_token ON oauthtoken (access_token);
CREATE UNIQUE INDEX IF NOT EXISTS oauthtoken_grant_token ON oauthtoken (grant_token);
CREATE UNIQUE INDEX IF NOT EXISTS oauthtoken_refresh_token ON oauthtoken (refresh_token);
CREATE TABLE IF NOT EXISTS tokenstore_sequence (last_id INTEGER NOT NULL) STRICT;
INSERT INTO tokenstore_sequence (last_id) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM tokenstore_sequence);
COMMIT;
";

/// How long a writer waits for another connection's write transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// A SQLite store. Safe to share between threads; several instances (and processes)
/// may open the same file.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// Saves waiting for the connection. Whoever takes it next writes them all in one
    /// transaction (group commit): concurrent saves share one flush, and each is still
    /// acknowledged only once it is on disk. Locked after `conn`, or alone.
    waiting: Mutex<Vec<Arc<Pending>>>,
    sql: Statements,
    /// The database file; `None` in memory.
    path: Option<PathBuf>,
    /// A temporary database's directory, removed after the connection closes
    /// (fields drop in order).
    _dir: Option<TempDir>,
}

fn backend(what: &str, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => StoreError::Conflict {
            field: sql::conflicting_field(&e.to_string()),
        },
        _ => StoreError::backend(format!("sqlite: {what}"), e),
    }
}

impl SqliteStore {
    /// Opens (or creates, readable by its owner only) the database file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let new = create_private(&path)?;
        let conn = Connection::open(&path).map_err(|e| backend("open the database file", e))?;
        // A new file holds nothing to lose until its first save, whose commit flushes the
        // log, schema included: so it becomes a WAL database and gets its schema at
        // NORMAL, two flushes of nine fewer (BENCHMARKS.md). A file that exists may hold
        // tokens in rollback mode, so its switch to WAL keeps FULL.
        set_synchronous(&conn, if new { "NORMAL" } else { "FULL" })?;
        // WAL: readers never block the writer.
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
            .map_err(|e| backend("switch to WAL mode", e))?;
        // 32 MiB of page cache (the default is 2 MiB), used only as the file grows: keeps
        // lookups in a 100 000-token store from going to the file (BENCHMARKS.md).
        conn.pragma_update(None, "cache_size", -32768)
            .map_err(|e| backend("set the cache size", e))?;
        let store = Self::init(conn, Some(path), None)?;
        // FULL: a save is on disk when it returns.
        set_synchronous(&store.conn(), "FULL")?;
        Ok(store)
    }

    /// A private database in memory, gone when the store is dropped.
    pub fn in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(|e| backend("open in memory", e))?;
        Self::init(conn, None, None)
    }

    /// A fresh database file in a new temporary directory under `parent`; both are
    /// removed when the store is dropped.
    pub fn temporary_in(parent: &Path) -> Result<Self, StoreError> {
        let dir = tempfile::Builder::new()
            .prefix("tokenstore-")
            .tempdir_in(parent)
            .map_err(|e| StoreError::backend("create a temporary directory", e))?;
        let mut store = Self::open(dir.path().join("tokens.db"))?;
        store._dir = Some(dir);
        Ok(store)
    }

    /// Saves many tokens in one transaction, as `save_token` would one by one: how a
    /// store is filled from another (`tokenstore migrate`), or for a benchmark. All or
    /// nothing. Returns the ids, in the tokens' order.
    pub fn import(&self, tokens: &[Token]) -> Result<Vec<String>, StoreError> {
        let limits = self.capabilities().limits;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| backend("begin a transaction", e))?;
        let mut ids = Vec::with_capacity(tokens.len());
        for token in tokens {
            limits.check(token)?;
            ids.push(self.save(&tx, token)?);
        }
        tx.commit().map_err(|e| backend("commit", e))?;
        Ok(ids)
    }

    fn init(
        conn: Connection,
        path: Option<PathBuf>,
        dir: Option<TempDir>,
    ) -> Result<Self, StoreError> {
        // SQLite's own handler sleeps 1, 2, 5, … ms between tries: under a sustained race
        // one instance then saves several times in a row with a warm cache, which is
        // faster for both than handing the lock over at every save (BENCHMARKS.md).
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| backend("set the busy timeout", e))?;
        // One cached UPDATE per set of columns a save carries, besides the lookups.
        conn.set_prepared_statement_cache_capacity(128);
        conn.execute_batch(SCHEMA)
            .map_err(|e| backend("create the schema", e))?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            waiting: Mutex::new(Vec::new()),
            sql: Statements::new(TABLE, Marks::Question),
            path,
            _dir: dir,
        })
    }

    // rusqlite leaves the connection usable after a panic in our code, which never
    // panics while holding it; a poisoned lock still guards a consistent database.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn waiting(&self) -> MutexGuard<'_, Vec<Arc<Pending>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes every waiting save in one transaction, each under a savepoint of its own
    /// so that one refused save leaves the others, and hands each its outcome.
    fn write_waiting(&self, conn: &mut Connection) {
        // IMMEDIATE takes the write lock first, so the lookups and the writes cannot be
        // split by another connection's save.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate);
        // Taken once the write lock is held: the saves that arrived while another
        // instance held it go in too.
        let batch = std::mem::take(&mut *self.waiting());
        // A failed begin or commit fails the whole batch alike; the driver's text for
        // it (busy, I/O, disk full) holds no value.
        let written = tx
            .map_err(|e| format!("sqlite: begin a transaction: {e}"))
            .and_then(|mut tx| {
                let outcomes: Vec<_> = batch
                    .iter()
                    .map(|p| self.save_alone(&mut tx, &p.token))
                    .collect();
                tx.commit().map_err(|e| format!("sqlite: commit: {e}"))?;
                Ok(outcomes)
            });
        match written {
            Ok(outcomes) => {
                for (p, outcome) in batch.iter().zip(outcomes) {
                    p.finish(outcome);
                }
            }
            Err(message) => {
                for p in &batch {
                    p.finish(Err(StoreError::Backend {
                        message: message.clone(),
                        source: None,
                    }));
                }
            }
        }
    }

    /// One save of a batch: undone alone when it fails.
    fn save_alone(&self, tx: &mut Transaction<'_>, token: &Token) -> Result<String, StoreError> {
        let sp = tx
            .savepoint()
            .map_err(|e| backend("begin a savepoint", e))?;
        let id = self.save(&sp, token)?;
        sp.commit().map_err(|e| backend("release a savepoint", e))?;
        Ok(id)
    }

    fn find_by(
        &self,
        conn: &Connection,
        field: Field,
        value: &str,
    ) -> Result<Option<Token>, StoreError> {
        conn.prepare_cached(self.sql.select_by(field))
            .and_then(|mut st| st.query_row([value], row_to_token).optional())
            .map_err(|e| backend("look up a token", e))
    }

    /// The row a save names: by id (rule 4.1), else by key (rule 4.2).
    fn target(&self, conn: &Connection, token: &Token) -> Result<Option<Token>, StoreError> {
        if let Some(id) = token.id()
            && let Some(row) = self.find_by(conn, Field::Id, id)?
        {
            return Ok(Some(row));
        }
        let Some(key) = LookupKey::of(token) else {
            return Ok(None);
        };
        for (field, value) in key.candidates() {
            if let Some(row) = self.find_by(conn, *field, value)? {
                return Ok(Some(row));
            }
        }
        Ok(None)
    }

    fn save(&self, tx: &Connection, token: &Token) -> Result<String, StoreError> {
        if let Some(row) = self.target(tx, token)? {
            let id = row.id().unwrap_or_default().to_owned();
            if let Some((update, values)) = sql::update_of(TABLE, token, &id, Marks::Question) {
                tx.prepare_cached(&update)
                    .and_then(|mut st| st.execute(params_from_iter(values)))
                    .map_err(|e| backend("update a token", e))?;
            }
            return Ok(id);
        }
        if !insertable(token) {
            return Err(StoreError::not_insertable());
        }
        let id = match token.id() {
            Some(id) => id.to_owned(),
            None => self.next_id(tx)?,
        };
        let row = token.clone().with(Field::Id, &id);
        tx.prepare_cached(&self.sql.insert)
            .and_then(|mut st| st.execute(params_from_iter(row.to_row())))
            .map_err(|e| backend("insert a token", e))?;
        Ok(id)
    }

    /// The next id from the sequence, skipping ids that callers chose themselves.
    fn next_id(&self, tx: &Connection) -> Result<String, StoreError> {
        loop {
            let n: i64 = tx
                .prepare_cached(
                    "UPDATE tokenstore_sequence SET last_id = last_id + 1 RETURNING last_id",
                )
                .and_then(|mut st| st.query_row([], |r| r.get(0)))
                .map_err(|e| backend("draw an id", e))?;
            let id = n.to_string();
            if self.find_by(tx, Field::Id, &id)?.is_none() {
                return Ok(id);
            }
        }
    }
}

/// A save waiting in [`SqliteStore::waiting`], and its outcome once written.
struct Pending {
    token: Token,
    outcome: Mutex<Option<Result<String, StoreError>>>,
}

impl Pending {
    fn new(token: &Token) -> Self {
        Pending {
            token: token.clone(),
            outcome: Mutex::new(None),
        }
    }

    fn finish(&self, outcome: Result<String, StoreError>) {
        *self.outcome.lock().unwrap_or_else(|p| p.into_inner()) = Some(outcome);
    }

    fn take(&self) -> Option<Result<String, StoreError>> {
        self.outcome
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

/// Creates the file with mode 0600 if it does not exist yet (true when this call made
/// it); SQLite gives its `-wal` and `-shm` files the same mode.
fn create_private(path: &Path) -> Result<bool, StoreError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(StoreError::backend("create the database file", e)),
    }
}

fn set_synchronous(conn: &Connection, mode: &str) -> Result<(), StoreError> {
    conn.pragma_update(None, "synchronous", mode)
        .map_err(|e| backend("set synchronous mode", e))
}

fn row_to_token(row: &rusqlite::Row<'_>) -> rusqlite::Result<Token> {
    let mut values: [Option<String>; 10] = Default::default();
    for (i, v) in values.iter_mut().enumerate() {
        *v = row.get(i)?;
    }
    Ok(Token::from_row(&values))
}

impl TokenStore for SqliteStore {
    fn capabilities(&self) -> Capabilities {
        // The SDK's column sizes, so a token this store accepts fits the SDK's table.
        Capabilities::default()
            .durable(self.path.is_some())
            .files(self.path.is_some())
            .limits(Limits::sdk_schema())
    }

    fn files(&self) -> Vec<PathBuf> {
        let Some(db) = &self.path else {
            return Vec::new();
        };
        let mut files = vec![db.clone()];
        for suffix in ["-wal", "-shm"] {
            let mut name = db.clone().into_os_string();
            name.push(suffix);
            let p = PathBuf::from(name);
            if p.exists() {
                files.push(p);
            }
        }
        files
    }

    async fn find_token(&self, probe: &Token) -> Result<Option<Token>, StoreError> {
        let Some(key) = LookupKey::of(probe) else {
            return Ok(None);
        };
        let conn = self.conn();
        for (field, value) in key.candidates() {
            if let Some(row) = self.find_by(&conn, *field, value)? {
                return Ok(Some(probe.merged_over(row)));
            }
        }
        Ok(None)
    }

    async fn save_token(&self, token: &Token) -> Result<String, StoreError> {
        self.capabilities().limits.check(token)?;
        let mine = Arc::new(Pending::new(token));
        self.waiting().push(mine.clone());
        let mut conn = self.conn();
        // The save that held the connection before may have written this one too.
        if let Some(outcome) = mine.take() {
            return outcome;
        }
        self.write_waiting(&mut conn);
        mine.take().unwrap_or_else(|| {
            Err(StoreError::backend(
                "sqlite: a save was not written",
                "lost from its batch",
            ))
        })
    }

    async fn delete_token(&self, id: &str) -> Result<(), StoreError> {
        require_id(id)?;
        self.conn()
            .prepare_cached(&self.sql.delete_one)
            .and_then(|mut st| st.execute([id]))
            .map_err(|e| backend("delete a token", e))?;
        Ok(())
    }

    async fn get_tokens(&self) -> Result<Vec<Token>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(&self.sql.select_all)
            .map_err(|e| backend("list tokens", e))?;
        st.query_map([], row_to_token)
            .and_then(|rows| rows.collect())
            .map_err(|e| backend("list tokens", e))
    }

    async fn delete_tokens(&self) -> Result<(), StoreError> {
        self.conn()
            .execute(&self.sql.delete_all, [])
            .map_err(|e| backend("delete all tokens", e))?;
        Ok(())
    }

    async fn find_token_by_id(&self, id: &str) -> Result<Option<Token>, StoreError> {
        require_id(id)?;
        self.find_by(&self.conn(), Field::Id, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(user: &str, refresh: &str) -> Token {
        Token::new()
            .with(Field::UserName, user)
            .with(Field::RefreshToken, refresh)
    }

    /// Saves queued together are written in one transaction: a refused one is undone
    /// alone (the id it drew too, so the next save gets it), and every save gets its
    /// own outcome.
    #[tokio::test]
    async fn a_refused_save_in_a_batch_leaves_the_others_written() {
        let store = SqliteStore::in_memory().expect("open");
        store
            .save_token(&token("alice", "rt-a"))
            .await
            .expect("alice");
        store.save_token(&token("bob", "rt-b")).await.expect("bob");
        let batch: Vec<_> = [token("dave", "rt-a"), token("carol", "rt-c")]
            .iter()
            .map(|t| Arc::new(Pending::new(t)))
            .collect();
        store.waiting().extend(batch.iter().cloned());
        store.write_waiting(&mut store.conn());
        assert!(matches!(
            batch[0].take(),
            Some(Err(StoreError::Conflict {
                field: Field::RefreshToken
            }))
        ));
        assert_eq!(batch[1].take().and_then(Result::ok).as_deref(), Some("3"));
        assert!(store.waiting().is_empty());
        let bob = store.find_token(&token("bob", "")).await.expect("find");
        assert_eq!(
            bob.and_then(|t| t.get(Field::RefreshToken).map(str::to_owned))
                .as_deref(),
            Some("rt-b")
        );
        assert_eq!(store.get_tokens().await.expect("list").len(), 3);
    }

    /// A new file is made at NORMAL; every save, on a new file or one that existed,
    /// runs at FULL (2): acknowledged only once it is on disk.
    #[test]
    fn saves_are_flushed_whether_the_file_is_new_or_not() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.db");
        let mode = |store: &SqliteStore| -> i64 {
            store
                .conn()
                .pragma_query_value(None, "synchronous", |r| r.get(0))
                .expect("synchronous")
        };
        let new = SqliteStore::open(&path).expect("creates");
        assert_eq!(mode(&new), 2);
        let existing = SqliteStore::open(&path).expect("opens again");
        assert_eq!(mode(&existing), 2);
    }
}
