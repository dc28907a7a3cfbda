//! `mysql`: the SDK's `oauthtoken` table on MySQL or MariaDB, with byte-exact key
//! columns, a unique index on every lookup key and one transaction per save.

use std::path::PathBuf;

use mysql_async::prelude::Queryable;
use mysql_async::{
    Conn, IsolationLevel, Opts, OptsBuilder, Params, Pool, PoolConstraints, PoolOpts, Row, TxOpts,
    Value,
};
use tokenstore_harness::{
    Capabilities, Field, Limits, LookupKey, StoreError, Token, TokenStore, insertable, require_id,
};

use crate::sql::{self, Marks, Statements, TABLE};

/// Connections per pool. The pool never holds fewer than it may open, so a store used
/// one call at a time reuses its connections instead of opening new ones (the
/// default pool opened thousands; see BENCHMARKS.md).
const POOL_SIZE: usize = 8;

/// Every connection: strict mode (an over-long value is an error, never truncated),
/// full Unicode, and READ COMMITTED so that two savers of new users do not deadlock
/// on gap locks.
const SESSION_SETUP: [&str; 3] = [
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'",
    "SET NAMES utf8mb4",
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
];

/// MySQL server error codes the store handles.
const DUPLICATE_KEY: u16 = 1062;
const LOCK_WAIT_TIMEOUT: u16 = 1205;
const DEADLOCK: u16 = 1213;

/// A MySQL or MariaDB store on one table. Safe to share between tasks; any number of
/// instances, in any number of processes, may use the same table.
pub struct MysqlStore {
    server: MysqlServer,
    table: String,
    sql: Statements,
    /// `SELECT … WHERE <column> = ? FOR UPDATE`, indexed like `Field::index`.
    lock_by: [String; 10],
    next_id: String,
}

/// A pool of connections to one MySQL database, on which stores open their tables.
#[derive(Clone)]
pub struct MysqlServer {
    pool: Pool,
    /// `host:port/db`, never the user or password.
    location: String,
}

impl MysqlServer {
    /// Parses and configures the connection URL; connects on first use. The error
    /// never repeats the URL, which may hold a password.
    pub fn new(url: &str) -> Result<Self, StoreError> {
        let (opts, location) = parse_url(url)?;
        let constraints = PoolConstraints::new(POOL_SIZE, POOL_SIZE).unwrap_or_default();
        let builder = OptsBuilder::from_opts(opts)
            // One handshake, not two: by default a TCP connection to a local server is
            // made again over the server's Unix socket.
            .prefer_socket(false)
            .setup(SESSION_SETUP.to_vec())
            .pool_opts(
                PoolOpts::default()
                    .with_constraints(constraints)
                    // A reset per checkout would clear the statement cache each time.
                    .with_reset_connection(false),
            );
        Ok(MysqlServer {
            pool: Pool::new(builder),
            location,
        })
    }

    /// `host:port/database`, for reports.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// A store on `table` (and `<table>_seq`), created if absent.
    pub async fn store(&self, table: &str) -> Result<MysqlStore, StoreError> {
        check_table_name(table)?;
        let sql = Statements::new(table, Marks::Question);
        let store = MysqlStore {
            lock_by: Field::ALL.map(|f| format!("{} FOR UPDATE", sql.select_by(f))),
            next_id: format!("UPDATE {table}_seq SET n = LAST_INSERT_ID(n + 1) WHERE one = 1"),
            sql,
            table: table.to_owned(),
            server: self.clone(),
        };
        store.create_tables().await?;
        Ok(store)
    }

    /// How many connections this pool has opened so far: those it holds or lends now
    /// and those it has discarded. Other clients of the server do not count.
    pub fn connections_opened(&self) -> usize {
        use std::sync::atomic::Ordering::Relaxed;
        let m = self.pool.metrics();
        [
            &m.connection_count,
            &m.discarded_superfluous_connection,
            &m.discarded_unestablished_connection,
            &m.discarded_expired_connection,
            &m.discarded_error_during_cleanup,
        ]
        .iter()
        .map(|n| n.load(Relaxed))
        .sum()
    }

    /// A connection from the pool, for statements outside a store (tests, tools).
    pub async fn conn(&self) -> Result<Conn, StoreError> {
        self.pool
            .get_conn()
            .await
            .map_err(|e| backend("connect", e))
    }

    /// Closes the pool's connections.
    pub async fn disconnect(self) -> Result<(), StoreError> {
        self.pool
            .disconnect()
            .await
            .map_err(|e| backend("disconnect", e))
    }
}

/// The URL's options and `host:port/database`; the error never repeats the URL.
fn parse_url(url: &str) -> Result<(Opts, String), StoreError> {
    let opts = Opts::from_url(url).map_err(|_| {
        StoreError::InvalidInput(
            "the MySQL URL is not valid (mysql://user:password@host:port/database)".into(),
        )
    })?;
    let location = format!(
        "{}:{}/{}",
        opts.ip_or_hostname(),
        opts.tcp_port(),
        opts.db_name().unwrap_or("")
    );
    Ok((opts, location))
}

/// `host:port/database` of a MySQL URL, or why the URL is not valid.
pub fn location_of(url: &str) -> Result<String, StoreError> {
    parse_url(url).map(|(_, location)| location)
}

fn check_table_name(table: &str) -> Result<(), StoreError> {
    let rule = "a table name is 1 to 60 letters, digits or underscores";
    sql::check_name(table, |b| b.is_ascii_alphanumeric() || b == b'_', rule)
}

/// Server errors whose text names users, databases or tables but never a value.
const SAFE_SERVER_MESSAGES: [u16; 6] = [1044, 1045, 1049, 1142, 1146, 1227];

/// A failed statement. Other server errors are reported by code only: their text can
/// hold a value (`Duplicate entry '<token>' for key …`).
fn backend(what: &str, e: mysql_async::Error) -> StoreError {
    match e {
        mysql_async::Error::Server(s) => {
            let text = if SAFE_SERVER_MESSAGES.contains(&s.code) {
                format!(": {}", s.message)
            } else {
                String::new()
            };
            StoreError::Backend {
                message: format!("mysql: {what}: server error {} ({}){text}", s.code, s.state),
                source: None,
            }
        }
        other => StoreError::backend(format!("mysql: {what}"), other),
    }
}

fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

/// The key column a duplicate-key error names, or `None` for any other error.
fn duplicate(e: &mysql_async::Error) -> Option<Field> {
    match e {
        mysql_async::Error::Server(s) if s.code == DUPLICATE_KEY => {
            Some(sql::conflicting_field(&s.message))
        }
        _ => None,
    }
}

type Attempt = sql::Attempt<mysql_async::Error>;

fn retry_or_fail(what: &'static str) -> impl Fn(mysql_async::Error) -> Attempt {
    move |e| match server_code(&e) {
        Some(DUPLICATE_KEY | LOCK_WAIT_TIMEOUT | DEADLOCK) => Attempt::Retry(e),
        _ => Attempt::Fail(backend(what, e)),
    }
}

fn params(values: impl IntoIterator<Item = Option<impl Into<Value>>>) -> Params {
    Params::Positional(
        values
            .into_iter()
            .map(|v| v.map_or(Value::NULL, Into::into))
            .collect(),
    )
}

fn row_to_token(mut row: Row) -> Result<Token, StoreError> {
    let mut values: [Option<String>; 10] = Default::default();
    for (i, v) in values.iter_mut().enumerate() {
        *v = row
            .take_opt::<Option<String>, _>(i)
            .and_then(Result::ok)
            .ok_or_else(|| StoreError::Backend {
                message: format!("mysql: column {} is not text", Field::ALL[i]),
                source: None,
            })?;
    }
    Ok(Token::from_row(&values))
}

impl MysqlStore {
    /// The SDK's table, which [`MysqlStore::connect`] uses.
    pub const TABLE: &'static str = TABLE;

    /// Connects to the database in `url` and uses its `oauthtoken` table, creating it
    /// if absent.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        MysqlServer::new(url)?.store(TABLE).await
    }

    /// The server the store's pool connects to.
    pub fn server(&self) -> &MysqlServer {
        &self.server
    }

    /// The store's table.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Drops this store's tables; for a store made for one test.
    pub fn drop_tables(
        &self,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send + 'static {
        let (server, t) = (self.server.clone(), self.table.clone());
        async move {
            server
                .conn()
                .await?
                .query_drop(format!("DROP TABLE IF EXISTS {t}, {t}_seq"))
                .await
                .map_err(|e| backend("drop the tables", e))
        }
    }

    async fn conn(&self) -> Result<Conn, StoreError> {
        self.server.conn().await
    }

    /// Inserts many new tokens in one transaction, 500 rows a statement: how an empty
    /// store is filled from another (`tokenstore migrate`), or for a benchmark. A token
    /// keeps its id if it has one; the others get ids drawn as one block from the
    /// sequence, past the ids the tokens keep. Every token must be insertable and hold
    /// no key value or id that a stored row (or another imported token) holds; all or
    /// nothing. Returns the ids, in the tokens' order.
    pub async fn import(&self, tokens: &[Token]) -> Result<Vec<String>, StoreError> {
        sql::check_batch(tokens, &self.capabilities().limits)?;
        let mut conn = self.conn().await?;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(|e| backend("begin a transaction", e))?;
        let ids = self.draw_ids(&mut tx, tokens).await?;
        for (chunk, ids) in tokens.chunks(500).zip(ids.chunks(500)) {
            let statement = sql::insert_rows(&self.table, chunk.len(), Marks::Question);
            let mut values = Vec::with_capacity(chunk.len() * 10);
            for (token, id) in chunk.iter().zip(ids) {
                let row = token.clone().with(Field::Id, id);
                values.extend(row.to_row().map(|v| v.map_or(Value::NULL, Value::from)));
            }
            tx.exec_drop(statement, Params::Positional(values))
                .await
                .map_err(|e| match duplicate(&e) {
                    Some(field) => StoreError::Conflict { field },
                    None => backend("import tokens", e),
                })?;
        }
        tx.commit().await.map_err(|e| backend("commit", e))?;
        Ok(ids)
    }

    /// The ids of imported tokens: a token's own, or one drawn from the sequence. The
    /// sequence is first moved past the largest numeric id the tokens keep (so that a
    /// drawn id is never one a token keeps), then drawn as blocks; ids a stored row
    /// holds are skipped.
    async fn draw_ids(
        &self,
        tx: &mut mysql_async::Transaction<'_>,
        tokens: &[Token],
    ) -> Result<Vec<String>, StoreError> {
        let t = &self.table;
        let kept = tokens
            .iter()
            .filter_map(|token| token.id()?.parse::<u64>().ok());
        tx.exec_drop(
            format!("UPDATE {t}_seq SET n = GREATEST(n, ?) WHERE one = 1"),
            (kept.max().unwrap_or(0),),
        )
        .await
        .map_err(|e| backend("draw ids", e))?;
        let needed = tokens.iter().filter(|token| token.id().is_none()).count();
        let mut drawn = Vec::with_capacity(needed);
        while drawn.len() < needed {
            let count = needed - drawn.len();
            tx.query_drop(format!(
                "UPDATE {t}_seq SET n = LAST_INSERT_ID(n + {count}) WHERE one = 1"
            ))
            .await
            .map_err(|e| backend("draw ids", e))?;
            let last: u64 = tx
                .query_first("SELECT LAST_INSERT_ID()")
                .await
                .map_err(|e| backend("draw ids", e))?
                .unwrap_or_default();
            let block: Vec<String> = (last + 1 - count as u64..=last)
                .map(|n| n.to_string())
                .collect();
            let taken = self.stored_ids(tx, &block).await?;
            drawn.extend(block.into_iter().filter(|id| !taken.contains(id)));
        }
        Ok(sql::own_or_drawn(tokens, drawn))
    }

    /// Which of `ids` a stored row holds.
    async fn stored_ids(
        &self,
        tx: &mut mysql_async::Transaction<'_>,
        ids: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut taken = std::collections::HashSet::new();
        for chunk in ids.chunks(1000) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let found: Vec<String> = tx
                .exec(
                    format!("SELECT id FROM {} WHERE id IN ({marks})", self.table),
                    chunk.to_vec(),
                )
                .await
                .map_err(|e| backend("draw ids", e))?;
            taken.extend(found);
        }
        Ok(taken)
    }

    async fn create_tables(&self) -> Result<(), StoreError> {
        let mut conn = self.conn().await?;
        let collation = no_pad_binary_collation(&mut conn).await?;
        let t = &self.table;
        let text = |n: usize| format!("VARCHAR({n})");
        let columns: Vec<String> = Field::ALL
            .iter()
            .map(|f| {
                let limit = Limits::sdk_schema().get(*f).unwrap_or(255);
                let null = if *f == Field::Id { " NOT NULL" } else { "" };
                format!("{} {}{null}", f.name(), text(limit))
            })
            .collect();
        let keys: Vec<String> = Field::KEYS
            .iter()
            .map(|f| format!("UNIQUE KEY {0} ({0})", f.name()))
            .collect();
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {t} ({}, PRIMARY KEY (id), {}) \
             ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={collation}",
            columns.join(", "),
            keys.join(", ")
        );
        for statement in [
            create,
            format!(
                "CREATE TABLE IF NOT EXISTS {t}_seq (one TINYINT NOT NULL PRIMARY KEY, n BIGINT NOT NULL) ENGINE=InnoDB"
            ),
            format!("INSERT IGNORE INTO {t}_seq (one, n) VALUES (1, 0)"),
        ] {
            conn.query_drop(statement)
                .await
                .map_err(|e| backend("create the tables", e))?;
        }
        Ok(())
    }

    async fn find_by(
        &self,
        conn: &mut Conn,
        stmt: &str,
        value: &str,
    ) -> Result<Option<Token>, StoreError> {
        let row: Option<Row> = conn
            .exec_first(stmt, (value,))
            .await
            .map_err(|e| backend("look up a token", e))?;
        row.map(row_to_token).transpose()
    }

    /// One save in one transaction: lock the target row, then update it, or insert.
    async fn try_save(&self, token: &Token) -> Result<String, Attempt> {
        let mut conn = self.conn().await?;
        let mut tx = conn
            .start_transaction({
                let mut opts = TxOpts::default();
                opts.with_isolation_level(IsolationLevel::ReadCommitted);
                opts
            })
            .await
            .map_err(retry_or_fail("begin a transaction"))?;
        let mut target = None;
        let by_id = token.id().map(|id| (Field::Id, id));
        let by_key = LookupKey::of(token)
            .map(|k| k.candidates().to_vec())
            .unwrap_or_default();
        for (field, value) in by_id.into_iter().chain(by_key) {
            let row: Option<Row> = tx
                .exec_first(&self.lock_by[field.index()], (value,))
                .await
                .map_err(retry_or_fail("look up a token"))?;
            if let Some(row) = row {
                target = Some(row_to_token(row)?);
                break;
            }
        }
        let id = match target {
            Some(row) => {
                let id = row.id().unwrap_or_default().to_owned();
                if let Some((update, values)) =
                    sql::update_of(&self.table, token, &id, Marks::Question)
                {
                    tx.exec_drop(update, params(values.into_iter().map(Some)))
                        .await
                        .map_err(retry_or_fail("update a token"))?;
                }
                id
            }
            None if !insertable(token) => return Err(Attempt::Fail(StoreError::not_insertable())),
            None => {
                let id = match token.id() {
                    Some(id) => id.to_owned(),
                    None => loop {
                        tx.query_drop(&self.next_id)
                            .await
                            .map_err(retry_or_fail("draw an id"))?;
                        let n: Option<u64> = tx
                            .query_first("SELECT LAST_INSERT_ID()")
                            .await
                            .map_err(retry_or_fail("draw an id"))?;
                        let id = n.unwrap_or_default().to_string();
                        let taken: Option<Row> = tx
                            .exec_first(self.sql.select_by(Field::Id), (&id,))
                            .await
                            .map_err(retry_or_fail("draw an id"))?;
                        if taken.is_none() {
                            break id;
                        }
                    },
                };
                let row = token.clone().with(Field::Id, &id);
                tx.exec_drop(&self.sql.insert, params(row.to_row()))
                    .await
                    .map_err(retry_or_fail("insert a token"))?;
                id
            }
        };
        tx.commit().await.map_err(retry_or_fail("commit"))?;
        Ok(id)
    }
}

/// The server's binary collation without trailing-space padding: MySQL 8's
/// `utf8mb4_0900_bin` or MariaDB's `utf8mb4_nopad_bin`. The default collations match
/// `ALICE@x.com` to `alice@x.com ` and the padded binary one `abc` to `abc `.
async fn no_pad_binary_collation(conn: &mut Conn) -> Result<&'static str, StoreError> {
    for name in ["utf8mb4_0900_bin", "utf8mb4_nopad_bin"] {
        let found: Option<String> = conn
            .exec_first(
                "SELECT COLLATION_NAME FROM information_schema.COLLATIONS WHERE COLLATION_NAME = ?",
                (name,),
            )
            .await
            .map_err(|e| backend("list collations", e))?;
        if found.is_some() {
            return Ok(name);
        }
    }
    Err(StoreError::Backend {
        message:
            "mysql: the server has no binary NO PAD collation (MySQL 8 or MariaDB 10.2 and later)"
                .into(),
        source: None,
    })
}

impl TokenStore for MysqlStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
            .durable(true)
            .limits(Limits::sdk_schema())
    }

    fn files(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    async fn find_token(&self, probe: &Token) -> Result<Option<Token>, StoreError> {
        let Some(key) = LookupKey::of(probe) else {
            return Ok(None);
        };
        let mut conn = self.conn().await?;
        for (field, value) in key.candidates() {
            if let Some(row) = self
                .find_by(&mut conn, self.sql.select_by(*field), value)
                .await?
            {
                return Ok(Some(probe.merged_over(row)));
            }
        }
        Ok(None)
    }

    async fn save_token(&self, token: &Token) -> Result<String, StoreError> {
        self.capabilities().limits.check(token)?;
        sql::with_retries("mysql", || self.try_save(token), duplicate).await
    }

    async fn delete_token(&self, id: &str) -> Result<(), StoreError> {
        require_id(id)?;
        self.conn()
            .await?
            .exec_drop(&self.sql.delete_one, (id,))
            .await
            .map_err(|e| backend("delete a token", e))
    }

    async fn get_tokens(&self) -> Result<Vec<Token>, StoreError> {
        let rows: Vec<Row> = self
            .conn()
            .await?
            .exec(&self.sql.select_all, ())
            .await
            .map_err(|e| backend("list tokens", e))?;
        rows.into_iter().map(row_to_token).collect()
    }

    async fn delete_tokens(&self) -> Result<(), StoreError> {
        self.conn()
            .await?
            .query_drop(&self.sql.delete_all)
            .await
            .map_err(|e| backend("delete all tokens", e))
    }

    async fn find_token_by_id(&self, id: &str) -> Result<Option<Token>, StoreError> {
        require_id(id)?;
        let mut conn = self.conn().await?;
        self.find_by(&mut conn, self.sql.select_by(Field::Id), id)
            .await
    }
}
