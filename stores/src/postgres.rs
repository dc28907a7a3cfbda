//! `postgres`: the SDK's `oauthtoken` table on PostgreSQL, in a schema of its own, with
//! byte-exact columns, a unique index on every lookup key, ids from a sequence and one
//! transaction per save.
//!
//! Values are `bytea`, not `text`: PostgreSQL's text cannot hold NUL, which the contract
//! requires to round-trip in every field, and bytes compare exactly (no collation folds
//! `ALICE` into `alice` or ignores a trailing space). Lengths are held to the SDK
//! schema's limits, in characters, by the store before any write.

use std::path::PathBuf;
use std::str::FromStr;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use tokenstore_harness::{
    Capabilities, Field, Limits, LookupKey, StoreError, Token, TokenStore, insertable, require_id,
};
use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Config, IsolationLevel, NoTls, Row};

use crate::sql::{self, Marks, Statements, TABLE};

/// The environment variable naming the server for checks and tests.
pub const URL_VAR: &str = "TOKENSTORE_POSTGRES_URL";

/// The server in [`URL_VAR`], or why there is none.
pub fn url_from_env() -> Result<String, String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Ok(url),
        _ => Err(format!("{URL_VAR} is not set")),
    }
}

/// Connections per pool, as for MySQL.
const POOL_SIZE: usize = 8;

/// A PostgreSQL store on one schema. Safe to share between tasks; any number of
/// instances, in any number of processes, may use the same schema.
pub struct PostgresStore {
    server: PostgresServer,
    schema: String,
    /// `<schema>.oauthtoken`.
    table: String,
    sql: Statements,
    /// `SELECT … WHERE <column> = $1 FOR UPDATE`, indexed like `Field::index`.
    lock_by: [String; 10],
    next_id: String,
}

/// A pool of connections to one PostgreSQL database, on which stores open their
/// schemas.
#[derive(Clone)]
pub struct PostgresServer {
    pool: Pool,
    /// `host:port/db`, never the user or password.
    location: String,
}

/// The URL's configuration and `host:port/database`; the error never repeats the URL.
fn parse_url(url: &str) -> Result<(Config, String), StoreError> {
    let config = Config::from_str(url).map_err(|_| {
        StoreError::InvalidInput(
            "the PostgreSQL URL is not valid (postgres://user:password@host:port/database)".into(),
        )
    })?;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let location = format!("{host}:{port}/{}", config.get_dbname().unwrap_or(""));
    Ok((config, location))
}

/// `host:port/database` of a PostgreSQL URL, or why the URL is not valid.
pub fn location_of(url: &str) -> Result<String, StoreError> {
    parse_url(url).map(|(_, location)| location)
}

/// Lowercase only: PostgreSQL folds unquoted names to lowercase.
fn check_schema_name(schema: &str) -> Result<(), StoreError> {
    let rule = "a schema name is 1 to 60 lowercase letters, digits or underscores";
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
    sql::check_name(schema, allowed, rule)
}

/// Server errors whose message names a user, database or role but never a value.
const SAFE_SERVER_STATES: [SqlState; 4] = [
    SqlState::INVALID_PASSWORD,
    SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
    SqlState::INVALID_CATALOG_NAME,
    SqlState::INSUFFICIENT_PRIVILEGE,
];

/// A failed statement. A server error is reported by its SQLSTATE (and its message
/// where that cannot hold a value): the full error carries a DETAIL line that repeats
/// the values (`Key (user_name)=(…) already exists`).
fn backend(what: &str, e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => {
            let text = match SAFE_SERVER_STATES.contains(db.code()) {
                true => format!(": {}", db.message()),
                false => String::new(),
            };
            StoreError::Backend {
                message: format!("postgres: {what}: server error {}{text}", db.code().code()),
                source: None,
            }
        }
        None => StoreError::backend(format!("postgres: {what}"), e),
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => backend("connect", e),
        other => StoreError::backend("postgres: connect", other),
    }
}

type Attempt = sql::Attempt<tokio_postgres::Error>;

fn retry_or_fail(what: &'static str) -> impl Fn(tokio_postgres::Error) -> Attempt {
    move |e| match e.code() {
        Some(
            &SqlState::UNIQUE_VIOLATION
            | &SqlState::T_R_SERIALIZATION_FAILURE
            | &SqlState::T_R_DEADLOCK_DETECTED,
        ) => Attempt::Retry(e),
        _ => Attempt::Fail(backend(what, e)),
    }
}

/// The key column a unique violation names, by its constraint (`oauthtoken_<column>_key`),
/// or `None` for any other error.
fn duplicate(e: &tokio_postgres::Error) -> Option<Field> {
    (e.code() == Some(&SqlState::UNIQUE_VIOLATION)).then(|| {
        let constraint = e.as_db_error().and_then(|db| db.constraint()).unwrap_or("");
        sql::conflicting_field(constraint)
    })
}

fn row_to_token(row: &Row) -> Result<Token, StoreError> {
    let mut values: [Option<String>; 10] = Default::default();
    for (i, v) in values.iter_mut().enumerate() {
        let bytes: Option<Vec<u8>> = row.try_get(i).map_err(|e| backend("read a row", e))?;
        *v = bytes
            .map(String::from_utf8)
            .transpose()
            .map_err(|_| StoreError::Backend {
                message: format!("postgres: column {} is not UTF-8 text", Field::ALL[i]),
                source: None,
            })?;
    }
    Ok(Token::from_row(&values))
}

/// A token's values as statement parameters.
fn params<'a>(values: &[Option<&'a str>]) -> Vec<Option<&'a [u8]>> {
    values.iter().map(|v| v.map(str::as_bytes)).collect()
}

fn refs<'a>(values: &'a [Option<&'a [u8]>]) -> Vec<&'a (dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

impl PostgresServer {
    /// Parses and configures the connection URL; connects on first use. The error
    /// never repeats the URL, which may hold a password.
    pub fn new(url: &str) -> Result<Self, StoreError> {
        let (config, location) = parse_url(url)?;
        // Fast recycling: a connection whose backend was terminated is closed, and the
        // pool drops it; a statement on a broken one fails once and the next save
        // gets a new connection.
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| StoreError::backend("postgres: make a pool", e))?;
        Ok(PostgresServer { pool, location })
    }

    /// `host:port/database`, for reports.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// A store on `schema` (its `oauthtoken` table and sequence), created if absent.
    pub async fn store(&self, schema: &str) -> Result<PostgresStore, StoreError> {
        check_schema_name(schema)?;
        let table = format!("{schema}.{TABLE}");
        let sql = Statements::new(&table, Marks::Numbered);
        let store = PostgresStore {
            lock_by: Field::ALL.map(|f| format!("{} FOR UPDATE", sql.select_by(f))),
            next_id: format!("SELECT nextval('{table}_seq')"),
            sql,
            table,
            schema: schema.to_owned(),
            server: self.clone(),
        };
        store.create_tables().await?;
        Ok(store)
    }

    /// A connection from the pool, for statements outside a store (tests, tools).
    pub async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }
}

impl PostgresStore {
    /// Connects to the database in `url` and uses its `public.oauthtoken` table,
    /// creating it if absent.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        PostgresServer::new(url)?.store("public").await
    }

    /// The server the store's pool connects to.
    pub fn server(&self) -> &PostgresServer {
        &self.server
    }

    /// The store's schema.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Drops this store's schema and everything in it; for a store made for one test.
    pub fn drop_schema(
        &self,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send + 'static {
        let (server, schema) = (self.server.clone(), self.schema.clone());
        async move {
            server
                .client()
                .await?
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .await
                .map_err(|e| backend("drop the schema", e))
        }
    }

    /// Inserts many new tokens in one transaction, 500 rows a statement: how an empty
    /// store is filled from another (`tokenstore migrate`), or for a benchmark. A token
    /// keeps its id if it has one; the others get ids from the sequence, moved first
    /// past the largest numeric id the tokens keep, skipping ids a stored row holds.
    /// Every token must be insertable and hold no key value or id that a stored row (or
    /// another imported token) holds; all or nothing. Returns the ids, in order.
    pub async fn import(&self, tokens: &[Token]) -> Result<Vec<String>, StoreError> {
        sql::check_batch(tokens, &self.capabilities().limits)?;
        let mut client = self.server.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| backend("begin a transaction", e))?;
        let ids = self.draw_ids(&tx, tokens).await?;
        for (chunk, ids) in tokens.chunks(500).zip(ids.chunks(500)) {
            let statement = sql::insert_rows(&self.table, chunk.len(), Marks::Numbered);
            let full: Vec<Token> = chunk
                .iter()
                .zip(ids)
                .map(|(token, id)| token.clone().with(Field::Id, id))
                .collect();
            let values: Vec<Option<&str>> = full.iter().flat_map(Token::to_row).collect();
            let bytes = params(&values);
            tx.execute(statement.as_str(), &refs(&bytes))
                .await
                .map_err(|e| match duplicate(&e) {
                    Some(field) => StoreError::Conflict { field },
                    None => backend("import tokens", e),
                })?;
        }
        tx.commit().await.map_err(|e| backend("commit", e))?;
        Ok(ids)
    }

    /// The ids of imported tokens: a token's own, or one drawn from the sequence.
    async fn draw_ids(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        tokens: &[Token],
    ) -> Result<Vec<String>, StoreError> {
        let kept = tokens
            .iter()
            .filter_map(|token| token.id()?.parse::<i64>().ok());
        let top = kept.filter(|n| *n > 0).max().unwrap_or(0);
        let seq = format!("{}_seq", self.table);
        if top > 0 {
            let moved =
                format!("SELECT setval('{seq}', GREATEST((SELECT last_value FROM {seq}), $1))");
            tx.execute(moved.as_str(), &[&top])
                .await
                .map_err(|e| backend("draw ids", e))?;
        }
        let needed = tokens.iter().filter(|token| token.id().is_none()).count();
        let mut drawn = Vec::with_capacity(needed);
        while drawn.len() < needed {
            let count = (needed - drawn.len()) as i64;
            let block = format!(
                "SELECT n::text FROM (SELECT nextval('{seq}') AS n FROM generate_series(1, $1)) s \
                 WHERE NOT EXISTS (SELECT 1 FROM {} WHERE id = convert_to(n::text, 'UTF8'))",
                self.table
            );
            let rows = tx
                .query(block.as_str(), &[&count])
                .await
                .map_err(|e| backend("draw ids", e))?;
            drawn.extend(rows.iter().map(|r| r.get::<_, String>(0)));
        }
        Ok(sql::own_or_drawn(tokens, drawn))
    }

    /// Creates the schema, table and sequence, under a lock so that two instances
    /// opening a new schema at once do not collide in the catalog.
    async fn create_tables(&self) -> Result<(), StoreError> {
        let mut client = self.server.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| backend("begin a transaction", e))?;
        let s = &self.schema;
        let keys: Vec<String> = Field::ALL
            .iter()
            .map(|f| {
                let unique = match Field::KEYS.contains(f) {
                    true => " UNIQUE",
                    false => "",
                };
                match f {
                    Field::Id => "id bytea NOT NULL PRIMARY KEY".to_owned(),
                    _ => format!("{} bytea{unique}", f.name()),
                }
            })
            .collect();
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&s.as_str()])
            .await
            .map_err(|e| backend("lock the schema", e))?;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {s}; \
             CREATE TABLE IF NOT EXISTS {s}.{TABLE} ({}); \
             CREATE SEQUENCE IF NOT EXISTS {s}.{TABLE}_seq",
            keys.join(", ")
        ))
        .await
        .map_err(|e| backend("create the tables", e))?;
        tx.commit().await.map_err(|e| backend("commit", e))
    }

    async fn find_by<C: GenericClient>(
        &self,
        client: &C,
        stmt: &str,
        value: &str,
    ) -> Result<Option<Token>, StoreError> {
        let st = client
            .prepare_cached(stmt)
            .await
            .map_err(|e| backend("look up a token", e))?;
        let row = client
            .query_opt(&st, &[&value.as_bytes()])
            .await
            .map_err(|e| backend("look up a token", e))?;
        row.as_ref().map(row_to_token).transpose()
    }

    /// One save in one transaction: lock the target row, then update it, or insert.
    async fn try_save(&self, token: &Token) -> Result<String, Attempt> {
        let mut client = self.server.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .start()
            .await
            .map_err(retry_or_fail("begin a transaction"))?;
        let mut target = None;
        let by_id = token.id().map(|id| (Field::Id, id));
        let by_key = LookupKey::of(token)
            .map(|k| k.candidates().to_vec())
            .unwrap_or_default();
        for (field, value) in by_id.into_iter().chain(by_key) {
            let st = tx
                .prepare_cached(&self.lock_by[field.index()])
                .await
                .map_err(retry_or_fail("look up a token"))?;
            let row = tx
                .query_opt(&st, &[&value.as_bytes()])
                .await
                .map_err(retry_or_fail("look up a token"))?;
            if let Some(row) = row {
                target = Some(row_to_token(&row)?);
                break;
            }
        }
        let id = match target {
            Some(row) => {
                let id = row.id().unwrap_or_default().to_owned();
                if let Some((update, values)) =
                    sql::update_of(&self.table, token, &id, Marks::Numbered)
                {
                    let values: Vec<Option<&str>> =
                        values.iter().map(|v| Some(v.as_str())).collect();
                    let bytes = params(&values);
                    tx.execute(update.as_str(), &refs(&bytes))
                        .await
                        .map_err(retry_or_fail("update a token"))?;
                }
                id
            }
            None if !insertable(token) => return Err(Attempt::Fail(StoreError::not_insertable())),
            None => {
                let id = match token.id() {
                    Some(id) => id.to_owned(),
                    None => self.draw_id(&tx).await?,
                };
                let row = token.clone().with(Field::Id, &id);
                let values = row.to_row();
                let bytes = params(&values);
                let st = tx
                    .prepare_cached(&self.sql.insert)
                    .await
                    .map_err(retry_or_fail("insert a token"))?;
                tx.execute(&st, &refs(&bytes))
                    .await
                    .map_err(retry_or_fail("insert a token"))?;
                id
            }
        };
        tx.commit().await.map_err(retry_or_fail("commit"))?;
        Ok(id)
    }

    /// The next id from the sequence, skipping ids that callers chose themselves.
    async fn draw_id(&self, tx: &deadpool_postgres::Transaction<'_>) -> Result<String, Attempt> {
        loop {
            let row = tx
                .query_one(self.next_id.as_str(), &[])
                .await
                .map_err(retry_or_fail("draw an id"))?;
            let n: i64 = row
                .try_get(0)
                .map_err(|e| Attempt::Fail(backend("draw an id", e)))?;
            let id = n.to_string();
            if self
                .find_by(tx, self.sql.select_by(Field::Id), &id)
                .await?
                .is_none()
            {
                return Ok(id);
            }
        }
    }
}

impl TokenStore for PostgresStore {
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
        let client = self.server.client().await?;
        for (field, value) in key.candidates() {
            if let Some(row) = self
                .find_by(&client, self.sql.select_by(*field), value)
                .await?
            {
                return Ok(Some(probe.merged_over(row)));
            }
        }
        Ok(None)
    }

    async fn save_token(&self, token: &Token) -> Result<String, StoreError> {
        self.capabilities().limits.check(token)?;
        sql::with_retries("postgres", || self.try_save(token), duplicate).await
    }

    async fn delete_token(&self, id: &str) -> Result<(), StoreError> {
        require_id(id)?;
        let client = self.server.client().await?;
        client
            .execute(self.sql.delete_one.as_str(), &[&id.as_bytes()])
            .await
            .map(drop)
            .map_err(|e| backend("delete a token", e))
    }

    async fn get_tokens(&self) -> Result<Vec<Token>, StoreError> {
        let client = self.server.client().await?;
        let rows = client
            .query(self.sql.select_all.as_str(), &[])
            .await
            .map_err(|e| backend("list tokens", e))?;
        rows.iter().map(row_to_token).collect()
    }

    async fn delete_tokens(&self) -> Result<(), StoreError> {
        let client = self.server.client().await?;
        client
            .execute(self.sql.delete_all.as_str(), &[])
            .await
            .map(drop)
            .map_err(|e| backend("delete all tokens", e))
    }

    async fn find_token_by_id(&self, id: &str) -> Result<Option<Token>, StoreError> {
        require_id(id)?;
        let client = self.server.client().await?;
        self.find_by(&client, self.sql.select_by(Field::Id), id)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_error_and_the_location_never_show_the_password() {
        let location = location_of("postgres://u:pw-5e1d@127.0.0.1:5433/test").expect("parses");
        assert_eq!(location, "127.0.0.1:5433/test");
        let e = location_of("postgres://u:pw-5e1d@127.0.0.1:notaport/test")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!e.is_empty() && !e.contains("pw-5e1d"), "{e}");
    }

    #[test]
    fn schema_names_are_checked() {
        assert!(check_schema_name("tokenstore_1_2_3").is_ok());
        for bad in ["", "a;drop", "Upper", "a b", &"x".repeat(61)] {
            assert!(check_schema_name(bad).is_err(), "{bad:?}");
        }
    }
}
