//! [`StoreSpec`]: a store named on the command line, and the fixtures that open each
//! reference store fresh for a check. What the `tokenstore` command needs, behind the
//! `cli` feature.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use tokenstore_harness::{Factory, Fixture, StoreError, TokenStore, factory, fixtures};

use crate::{
    AdapterStore, FileStore, ListStore, MemoryStore, MysqlServer, PostgresServer, RedisServer,
    SqliteStore, crash_writer, mutants, mysql, mysql_server, postgres, redis,
};

/// A store named on the command line: `memory`, `list`, `sqlite`, `sqlite:DIR`,
/// `sqlite::memory:` or `mysql://user:password@host:port/database`.
#[derive(Clone, Debug)]
pub enum StoreSpec {
    /// The memory store.
    Memory,
    /// The list store.
    List,
    /// A database file per fresh store, in a new temporary directory under `dir`
    /// (the system's temporary directory by default).
    SqliteFile {
        /// Where the temporary directories go.
        dir: Option<PathBuf>,
    },
    /// One in-memory SQLite database per fresh store.
    SqliteMemory,
    /// A token file in the SDK FileStore's CSV format per fresh store, in a new
    /// temporary directory under `dir`.
    File {
        /// Where the temporary directories go.
        dir: Option<PathBuf>,
    },
    /// A new table per fresh store, dropped after use. The URL may hold a password:
    /// it is kept secret (redacted in `Debug`) and reports show `location` only.
    Mysql {
        /// The server's URL, with its password.
        url: SecretString,
        /// The URL without its password, for reports.
        location: String,
    },
    /// A new schema per fresh store, dropped after use; the URL is kept as for MySQL.
    Postgres {
        /// The server's URL, with its password.
        url: SecretString,
        /// The URL without its password, for reports.
        location: String,
    },
    /// A new key space (hash tag) per fresh store on a Redis server or cluster, removed
    /// after use; the URL is kept as for MySQL.
    Redis {
        /// The server's URL, with its password.
        url: SecretString,
        /// The URL without its password, for reports.
        location: String,
    },
    /// A store in another language behind an adapter process (`--adapter -- CMD…`):
    /// a pool of processes, each given a fresh store (`fresh`) for each check.
    Adapter(Vec<String>),
    /// One of the selftest's deliberately broken stores (`mutant:TextMaxId`), for trying
    /// out reports and gates on a store that fails.
    Mutant(mutants::Bug),
}

impl PartialEq for StoreSpec {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (StoreSpec::Mysql { url: a, .. }, StoreSpec::Mysql { url: b, .. })
            | (StoreSpec::Postgres { url: a, .. }, StoreSpec::Postgres { url: b, .. })
            | (StoreSpec::Redis { url: a, .. }, StoreSpec::Redis { url: b, .. }) => {
                a.expose_secret() == b.expose_secret()
            }
            (StoreSpec::SqliteFile { dir: a }, StoreSpec::SqliteFile { dir: b }) => a == b,
            (StoreSpec::File { dir: a }, StoreSpec::File { dir: b }) => a == b,
            (StoreSpec::Mutant(a), StoreSpec::Mutant(b)) => a == b,
            (StoreSpec::Adapter(a), StoreSpec::Adapter(b)) => a == b,
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }
}

/// Every form of store the command line takes, for errors and `--help`.
pub const STORE_FORMS: &str = "memory, list, sqlite, sqlite:DIR, sqlite::memory:, file, \
     file:DIR, mysql (the server in TOKENSTORE_MYSQL_URL), mysql://USER:PASSWORD@HOST:PORT/DB, \
     postgres (the server in TOKENSTORE_POSTGRES_URL), postgres://USER:PASSWORD@HOST:PORT/DB, \
     redis (the server in TOKENSTORE_REDIS_URL), redis://[:PASSWORD@]HOST:PORT, \
     redis+cluster://[:PASSWORD@]HOST:PORT,HOST:PORT,…, \
     mutant:NAME (see `tokenstore mutants`), or --adapter -- COMMAND… for a store in another \
     language";

/// A store the CLI cannot name. Never repeats a MySQL URL, which may hold a password.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnknownStore {
    /// A name that is no store.
    #[error("unknown store {0:?}: expected {STORE_FORMS}")]
    Name(String),
    /// A mutant name that is no mutant.
    #[error("unknown mutant {0:?}: expected one of {names}", names = mutants::names())]
    Mutant(String),
    /// A MySQL or PostgreSQL URL that cannot be read (the message never repeats it).
    #[error("{0}")]
    MysqlUrl(String),
}

impl FromStr for StoreSpec {
    type Err = UnknownStore;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "memory" => Ok(StoreSpec::Memory),
            "list" => Ok(StoreSpec::List),
            "sqlite" => Ok(StoreSpec::SqliteFile { dir: None }),
            "sqlite::memory:" => Ok(StoreSpec::SqliteMemory),
            "file" => Ok(StoreSpec::File { dir: None }),
            _ if s.starts_with("file:") && s.len() > 5 => Ok(StoreSpec::File {
                dir: Some(PathBuf::from(&s[5..])),
            }),
            _ if s.starts_with("mysql://") => match mysql::location_of(s) {
                Ok(location) => Ok(StoreSpec::Mysql {
                    url: SecretString::from(s),
                    location,
                }),
                Err(e) => Err(UnknownStore::MysqlUrl(e.to_string())),
            },
            _ if s.starts_with("postgres://") || s.starts_with("postgresql://") => {
                match postgres::location_of(s) {
                    Ok(location) => Ok(StoreSpec::Postgres {
                        url: SecretString::from(s),
                        location,
                    }),
                    Err(e) => Err(UnknownStore::MysqlUrl(e.to_string())),
                }
            }
            _ if s.starts_with("redis://") || s.starts_with("redis+cluster://") => {
                match redis::location_of(s) {
                    Ok(location) => Ok(StoreSpec::Redis {
                        url: SecretString::from(s),
                        location,
                    }),
                    Err(e) => Err(UnknownStore::MysqlUrl(e.to_string())),
                }
            }
            _ if s.starts_with("mutant:") => {
                let name = &s["mutant:".len()..];
                mutants::Bug::ALL
                    .into_iter()
                    .find(|b| b.name() == name)
                    .map(StoreSpec::Mutant)
                    .ok_or_else(|| UnknownStore::Mutant(name.to_owned()))
            }
            _ => match s.strip_prefix("sqlite:") {
                Some(dir) if !dir.is_empty() => Ok(StoreSpec::SqliteFile {
                    dir: Some(PathBuf::from(dir)),
                }),
                _ => Err(UnknownStore::Name(s.to_owned())),
            },
        }
    }
}

impl StoreSpec {
    /// The store's name in reports.
    pub fn name(&self) -> String {
        match self {
            StoreSpec::Memory => "memory".to_owned(),
            StoreSpec::List => "list".to_owned(),
            StoreSpec::SqliteFile { .. } | StoreSpec::SqliteMemory => "sqlite".to_owned(),
            StoreSpec::Mysql { .. } => "mysql".to_owned(),
            StoreSpec::Postgres { .. } => "postgres".to_owned(),
            StoreSpec::Redis { location, .. } if location.starts_with("cluster") => {
                "redis-cluster".to_owned()
            }
            StoreSpec::Redis { .. } => "redis".to_owned(),
            StoreSpec::File { .. } => "file".to_owned(),
            StoreSpec::Mutant(bug) => format!("mutant:{}", bug.name()),
            StoreSpec::Adapter(_) => "adapter".to_owned(),
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
            StoreSpec::Mysql { location, .. } => format!("a new table in {location}"),
            StoreSpec::Postgres { location, .. } => format!("a new schema in {location}"),
            StoreSpec::Redis { location, .. } => format!("a new hash tag in {location}"),
            StoreSpec::File { dir: None } => "a new CSV file in the temporary directory".to_owned(),
            StoreSpec::File { dir: Some(d) } => format!("a new CSV file under {}", d.display()),
            StoreSpec::Mutant(bug) => format!("in memory, with a bug: {}", bug.description()),
            // Only the program and the store class: other arguments may hold passwords.
            StoreSpec::Adapter(command) => {
                let program = command.first().map_or("", String::as_str);
                let class = command
                    .iter()
                    .skip(1)
                    .find(|a| a.contains(':') && !a.contains("://"));
                let shown = class.map_or(0, |_| 1) + 1;
                format!(
                    "the adapter process {program}{} ({} more arguments not shown)",
                    class.map(|c| format!(" … {c}")).unwrap_or_default(),
                    command.len().saturating_sub(shown)
                )
            }
        }
    }

    /// Opens a fresh, empty store per call. Durable stores come with a way to open a
    /// second instance on the same data and, when `writer` names this program (the
    /// `tokenstore` binary), a crash-writer child process for `durability.crash`.
    pub fn factory(&self, writer: Option<PathBuf>) -> Factory {
        match self.clone() {
            StoreSpec::Memory => factory(|| async { Ok::<_, String>(MemoryStore::new()) }),
            StoreSpec::List => factory(|| async { Ok::<_, String>(ListStore::new()) }),
            StoreSpec::SqliteMemory => factory(|| async { SqliteStore::in_memory() }),
            StoreSpec::SqliteFile { dir } => {
                sqlite_factory(dir.unwrap_or_else(std::env::temp_dir), writer)
            }
            StoreSpec::File { dir } => file_factory(dir.unwrap_or_else(std::env::temp_dir), writer),
            StoreSpec::Mysql { url, .. } => mysql_factory(url, writer),
            StoreSpec::Postgres { url, .. } => postgres_factory(url, writer),
            StoreSpec::Redis { url, .. } => redis_factory(url, writer),
            StoreSpec::Mutant(bug) => mutants::factory(bug, writer),
            StoreSpec::Adapter(command) => adapter_factory(command),
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Each fresh store is a new database file in a new temporary directory under
/// `parent`; the directory goes with the fixture's teardown, after every instance.
pub fn sqlite_factory(parent: PathBuf, writer: Option<PathBuf>) -> Factory {
    file_backed(
        parent,
        writer,
        "tokens.db",
        crash_writer::Target::Sqlite,
        |p| SqliteStore::open(p),
    )
}

/// As [`sqlite_factory`], for the CSV file store.
pub fn file_factory(parent: PathBuf, writer: Option<PathBuf>) -> Factory {
    file_backed(
        parent,
        writer,
        "tokens.csv",
        crash_writer::Target::File,
        |p| FileStore::open(p),
    )
}

/// Fixtures for a store kept in one file: a second instance opens the same file, and
/// the crash writer is `<writer> crash-writer` with the target's arguments.
pub(crate) fn file_backed<S: TokenStore + 'static>(
    parent: PathBuf,
    writer: Option<PathBuf>,
    file: &'static str,
    target: impl Fn(PathBuf) -> crash_writer::Target + Copy + Send + Sync + 'static,
    open: impl Fn(&std::path::Path) -> Result<S, StoreError> + Copy + Send + Sync + 'static,
) -> Factory {
    fixtures(move || {
        let (parent, writer) = (parent.clone(), writer.clone());
        async move {
            let dir = tempfile::Builder::new()
                .prefix("tokenstore-")
                .tempdir_in(&parent)
                .map_err(|e| StoreError::backend("create a temporary directory", e))?;
            let path = dir.path().join(file);
            let mut fixture = Fixture::new(open(&path)?);
            let again = path.clone();
            fixture = fixture.with_reopen(move || {
                let path = again.clone();
                async move { open(&path) }
            });
            if let Some(program) = writer {
                let target = target(path);
                fixture = fixture.with_writer(move |from| {
                    let mut command = std::process::Command::new(&program);
                    command
                        .arg(crash_writer::SUBCOMMAND)
                        .args(target.args(from));
                    command
                });
            }
            Ok::<_, BoxError>(fixture.with_teardown(async move { drop(dir) }))
        }
    })
}

/// Each fresh store is a new table on one shared pool; its teardown drops the table.
/// A second instance is a new pool on the same table, as a second process would have.
pub fn mysql_factory(url: SecretString, writer: Option<PathBuf>) -> Factory {
    let server = MysqlServer::new(url.expose_secret()).map_err(|e| e.to_string());
    fixtures(move || {
        let (server, url, writer) = (server.clone(), url.clone(), writer.clone());
        async move {
            let store = server?.store(&crate::scratch_name()).await?;
            let (table, drop_tables) = (store.table().to_owned(), store.drop_tables());
            let mut fixture = Fixture::new(store);
            let (again, again_table) = (url.clone(), table.clone());
            fixture = fixture.with_reopen(move || {
                let (url, table) = (again.clone(), again_table.clone());
                async move { MysqlServer::new(url.expose_secret())?.store(&table).await }
            });
            if let Some(program) = writer {
                let target = crash_writer::Target::MysqlTable(table);
                fixture = fixture.with_writer(move |from| {
                    let mut command = std::process::Command::new(&program);
                    command
                        .arg(crash_writer::SUBCOMMAND)
                        .args(target.args(from))
                        // The URL holds a password: the environment, not the command line.
                        .env(mysql_server::URL_VAR, url.expose_secret());
                    command
                });
            }
            Ok::<_, BoxError>(fixture.with_teardown(async move {
                if let Err(e) = drop_tables.await {
                    tracing::warn!("warning: could not drop a scratch table: {e}");
                }
            }))
        }
    })
}

/// Each fresh store is a new schema on one shared pool; its teardown drops the schema.
/// A second instance is a new pool on the same schema.
pub fn postgres_factory(url: SecretString, writer: Option<PathBuf>) -> Factory {
    let server = PostgresServer::new(url.expose_secret()).map_err(|e| e.to_string());
    fixtures(move || {
        let (server, url, writer) = (server.clone(), url.clone(), writer.clone());
        async move {
            let store = server?.store(&crate::scratch_name()).await?;
            let (schema, drop_schema) = (store.schema().to_owned(), store.drop_schema());
            let mut fixture = Fixture::new(store);
            let (again, again_schema) = (url.clone(), schema.clone());
            fixture = fixture.with_reopen(move || {
                let (url, schema) = (again.clone(), again_schema.clone());
                async move {
                    PostgresServer::new(url.expose_secret())?
                        .store(&schema)
                        .await
                }
            });
            if let Some(program) = writer {
                let target = crash_writer::Target::PostgresSchema(schema);
                fixture = fixture.with_writer(move |from| {
                    let mut command = std::process::Command::new(&program);
                    command
                        .arg(crash_writer::SUBCOMMAND)
                        .args(target.args(from))
                        // The URL holds a password: the environment, not the command line.
                        .env(postgres::URL_VAR, url.expose_secret());
                    command
                });
            }
            Ok::<_, BoxError>(fixture.with_teardown(async move {
                if let Err(e) = drop_schema.await {
                    tracing::warn!("warning: could not drop a scratch schema: {e}");
                }
            }))
        }
    })
}

/// Each fresh store is a new name (hash tag) on one connection; its teardown removes
/// its keys. A second instance is a new connection to the same name.
pub fn redis_factory(url: SecretString, writer: Option<PathBuf>) -> Factory {
    let server: Arc<tokio::sync::OnceCell<RedisServer>> = Arc::default();
    fixtures(move || {
        let (server, url, writer) = (server.clone(), url.clone(), writer.clone());
        async move {
            let connected = server
                .get_or_try_init(|| RedisServer::connect(url.expose_secret()))
                .await?;
            let store = connected.store(&crate::scratch_name())?;
            let (name, drop_keys) = (store.name().to_owned(), store.drop_keys());
            let mut fixture = Fixture::new(store);
            let (again, again_name) = (url.clone(), name.clone());
            fixture = fixture.with_reopen(move || {
                let (url, name) = (again.clone(), again_name.clone());
                async move { crate::RedisStore::connect(url.expose_secret(), &name).await }
            });
            if let Some(program) = writer {
                let target = crash_writer::Target::RedisStore(name);
                fixture = fixture.with_writer(move |from| {
                    let mut command = std::process::Command::new(&program);
                    command
                        .arg(crash_writer::SUBCOMMAND)
                        .args(target.args(from))
                        // The URL may hold a password: the environment, not the command line.
                        .env(redis::URL_VAR, url.expose_secret());
                    command
                });
            }
            Ok::<_, BoxError>(fixture.with_teardown(async move {
                if let Err(e) = drop_keys.await {
                    tracing::warn!("warning: could not remove a scratch store's keys: {e}");
                }
            }))
        }
    })
}

/// Fresh stores behind an adapter: each on fresh storage, never emptied with the
/// store's own `delete_tokens` (a store whose `delete_tokens` is broken is still
/// checked on everything else). Each fixture gets a new temporary directory and a new
/// table name, which replace `{dir}` and `{table}` in the command's words (the
/// working directory stays this process's, so relative paths and imports work). An
/// adapter that can make a fresh store on request (`fresh` in its handshake) goes back
/// to a pool after each check and serves the next one, so a run starts as many
/// processes as it runs checks at once; another is started anew for each check. A
/// second instance (multi-instance, reopen) and the crash writer are new processes on
/// the same words and directory. At most four checks (`ADAPTER_PROCESSES`) have a store at
/// once; the others wait for one.
pub fn adapter_factory(command: Vec<String>) -> Factory {
    let idle: Arc<std::sync::Mutex<Vec<AdapterStore>>> = Arc::default();
    let command = Arc::new(command);
    let made = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let processes = Arc::new(tokio::sync::Semaphore::new(ADAPTER_PROCESSES));
    fixtures(move || {
        let (idle, command, made) = (idle.clone(), command.clone(), made.clone());
        let processes = processes.clone();
        async move {
            // Held until the teardown, which runs (or is dropped) with the fixture.
            let turn = processes
                .acquire_owned()
                .await
                .map_err(|e| StoreError::backend("wait for an adapter process", e))?;
            let dir = tempfile::Builder::new()
                .prefix("tokenstore-adapter-")
                .tempdir()
                .map_err(|e| StoreError::backend("create a temporary directory", e))?;
            let n = made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let table = format!("tokenstore_{}_{n}", std::process::id());
            let words = Arc::new(with_placeholders(&command, dir.path(), &table));
            let store = fresh_adapter(&idle, &words).await?;
            let again = words.clone();
            let mut fixture = Fixture::new(store.clone()).with_reopen(move || {
                let words = again.clone();
                async move { AdapterStore::spawn(&words).await }
            });
            let command = move || {
                let mut child = std::process::Command::new(&words[0]);
                child.args(&words[1..]);
                child
            };
            if store.has_crash_server() {
                fixture = fixture.with_fork_server(move || {
                    let mut server = command();
                    server.env("TOKENSTORE_ADAPTER_CRASH_SERVER", "1");
                    server
                });
            } else if store.has_crash_writer() {
                fixture = fixture.with_writer(move |from| {
                    let mut writer = command();
                    writer.env("TOKENSTORE_ADAPTER_CRASH_FROM", from.to_string());
                    writer
                });
            }
            let reusable = store.makes_fresh_stores().then_some(store);
            Ok::<_, BoxError>(fixture.with_teardown(async move {
                if let Some(store) = reusable {
                    idle.lock().unwrap_or_else(|p| p.into_inner()).push(store);
                }
                drop((dir, turn))
            }))
        }
    })
}

/// How many adapter processes serve checks at once. Each is an interpreter (the
/// Python shim with the SDK imported costs 0.6 s of CPU to start) whose calls take
/// turns on its lock, so on 2 cores more than four made a run slower, not faster
/// (the DictStore's check: 5.0–6.0 s with eight, 3.7–4.0 s with four; BENCHMARKS.md).
const ADAPTER_PROCESSES: usize = 4;

/// A fresh adapter store for one check: from an idle process of the pool when there
/// is one, else from a new process. A fresh store that is not empty is a setup error:
/// the check would start on other data.
async fn fresh_adapter(
    idle: &std::sync::Mutex<Vec<AdapterStore>>,
    words: &[String],
) -> Result<AdapterStore, BoxError> {
    let pooled = idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
    let store = match pooled {
        Some(store) => {
            store.fresh(words).await?;
            store
        }
        None => AdapterStore::spawn(words).await?,
    };
    // A store whose get_tokens fails cannot be verified empty; the checks will say why.
    if let Ok(rows) = store.get_tokens().await
        && !rows.is_empty()
    {
        return Err(format!(
            "the fresh store already holds {} token(s): give it fresh storage with {{dir}} \
             or {{table}} in the adapter's arguments (ADAPTERS.md)",
            rows.len()
        )
        .into());
    }
    Ok(store)
}

/// The command's words with `{dir}` and `{table}` replaced.
fn with_placeholders(command: &[String], dir: &std::path::Path, table: &str) -> Vec<String> {
    let dir = dir.display().to_string();
    command
        .iter()
        .map(|w| w.replace("{dir}", &dir).replace("{table}", table))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adapter_location_shows_no_argument_that_may_hold_a_password() {
        let command = [
            "python",
            "-m",
            "tokenstore_adapter",
            "db_store:DBStore",
            "127.0.0.1",
            "db",
            "user",
            "pw-91f3",
        ];
        let spec = StoreSpec::Adapter(command.map(str::to_owned).to_vec());
        let shown = spec.location();
        assert!(!shown.contains("pw-91f3"), "{shown}");
        assert!(shown.contains("db_store:DBStore"), "{shown}");
    }

    #[test]
    fn a_mysql_spec_debug_and_location_hide_the_password() {
        let spec: StoreSpec = "mysql://u:pw-91f3@127.0.0.1:3306/db"
            .parse()
            .expect("a valid URL");
        assert!(!format!("{spec:?}").contains("pw-91f3"));
        assert_eq!(spec.location(), "a new table in 127.0.0.1:3306/db");
    }
}
