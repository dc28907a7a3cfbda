//! `tokenstore migrate SOURCE DEST`: every token of a source into a reference store.

use std::process::ExitCode;

use tokenstore_harness::{Settings, Suite, Token, runtime};
use tokenstore_stores::audit::AuditSource;
use tokenstore_stores::migrate::{self, MigrateError, OnDuplicate};
use tokenstore_stores::{
    FileStore, MysqlServer, MysqlStore, PostgresServer, PostgresStore, SqliteStore, StoreSpec,
};

/// The `--on-duplicate` policy.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Policy {
    /// Copy nothing and list the rows that share a key.
    Fail,
    /// Keep the row with the latest expiry_time (then the greatest id).
    Newest,
    /// Keep the first row in the source's order.
    KeepFirst,
}

/// The destination forms `migrate` takes.
pub const DEST_FORMS: &str = "PATH.db (this project's SQLite store), PATH.csv (its file \
     store, the SDK FileStore's format), mysql://USER:PASSWORD@HOST:PORT/DB (its MySQL \
     store, table oauthtoken) or postgres://USER:PASSWORD@HOST:PORT/DB (its PostgreSQL \
     store, table public.oauthtoken)";

/// What `migrate` was asked, besides its source and destination.
pub struct Options {
    /// `--dest-table`: the MySQL destination's table, or the PostgreSQL destination's
    /// schema.
    pub dest_table: Option<String>,
    /// The `--on-duplicate` policy.
    pub policy: Policy,
    /// `--fill-from-dropped`: a kept row's absent fields come from the rows left out.
    pub fill: bool,
    /// `--dry-run`: plan only.
    pub dry_run: bool,
    /// `--verify`: then run the conformance suite on the destination's engine.
    pub verify: bool,
}

/// Plans, then (unless `dry_run`) writes and verifies. Exit 0 done, 1 the migration
/// stopped (conflicts, a destination that is not empty, a failed write or check), 2
/// usage, 3 a source or destination that cannot be opened.
pub fn run(source: &str, table: Option<&str>, dest: &str, options: Options) -> ExitCode {
    let source = match AuditSource::parse(source, table) {
        Ok(source) => source,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    if options.dest_table.is_some() && !is_server(dest) {
        eprintln!("error: --dest-table names a MySQL table or a PostgreSQL schema");
        return ExitCode::from(2);
    }
    let policy = match options.policy {
        Policy::Fail => OnDuplicate::Fail,
        Policy::Newest => OnDuplicate::Newest,
        Policy::KeepFirst => OnDuplicate::KeepFirst,
    };
    let copied = runtime().block_on(async {
        let plan = match migrate::plan(&source, policy, options.fill).await {
            Ok(plan) => plan,
            Err(e) => return Err(failed(&e)),
        };
        print!("{}", migrate::describe(&plan));
        if options.dry_run {
            println!("dry run: nothing was written");
            return Ok(false);
        }
        let bar = indicatif::ProgressBar::new(plan.tokens.len() as u64);
        let progress = |n| bar.set_position(n);
        let outcome = match open(dest, options.dest_table.as_deref()).await {
            Err(code) => return Err(code),
            // SQLite takes a batch in one transaction: no flush per token.
            Ok(Destination::Sqlite(store)) => {
                let batch = async |tokens: &[Token]| store.import(tokens);
                migrate::write(&plan, &*store, batch, progress).await
            }
            // MySQL takes a batch as multi-row inserts in one transaction.
            Ok(Destination::Mysql(store)) => {
                let batch = async |tokens: &[Token]| store.import(tokens).await;
                migrate::write(&plan, &*store, batch, progress).await
            }
            Ok(Destination::Postgres(store)) => {
                let batch = async |tokens: &[Token]| store.import(tokens).await;
                migrate::write(&plan, &*store, batch, progress).await
            }
            // The file store takes a batch in one atomic replace of the file.
            Ok(Destination::File(store)) => {
                let batch = async |tokens: &[Token]| store.import(tokens);
                migrate::write(&plan, &*store, batch, progress).await
            }
        };
        bar.finish_and_clear();
        if let Err(e) = outcome {
            return Err(failed(&e));
        }
        println!(
            "copied and verified: {} tokens in {}",
            plan.tokens.len(),
            shown(dest)
        );
        Ok(true)
    });
    match copied {
        Ok(true) if options.verify => verify(dest),
        Ok(_) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

fn is_server(dest: &str) -> bool {
    ["mysql://", "postgres://", "postgresql://"]
        .iter()
        .any(|p| dest.starts_with(p))
}

/// The destination as output shows it: a URL without its password.
fn shown(dest: &str) -> String {
    match dest.starts_with("mysql://") {
        true => tokenstore_stores::mysql::location_of(dest).unwrap_or_default(),
        false if is_server(dest) => {
            tokenstore_stores::postgres::location_of(dest).unwrap_or_default()
        }
        false => dest.to_owned(),
    }
}

/// `--verify`: the conformance suite on fresh stores of the destination's engine, next
/// to it (a scratch file in its directory, a scratch table in its database); the
/// migrated data is not touched.
fn verify(dest: &str) -> ExitCode {
    let beside = |path: &str| {
        std::path::Path::new(path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(std::path::Path::to_path_buf)
    };
    let spec = match dest {
        d if is_server(d) => match d.parse::<StoreSpec>() {
            Ok(spec) => spec,
            Err(e) => {
                eprintln!("error: --verify: {e}");
                return ExitCode::from(2);
            }
        },
        d if d.ends_with(".db") => StoreSpec::SqliteFile { dir: beside(d) },
        d => StoreSpec::File { dir: beside(d) },
    };
    println!(
        "verifying the destination's engine: tokenstore check {}",
        spec.name()
    );
    match crate::run_suite(&spec, &Suite::embedded(), Settings::from_env()) {
        Ok(report) => {
            print!("{}", tokenstore_reports::human::render(&report));
            report.exit().into()
        }
        Err(why) => {
            eprintln!("error: --verify: {why}");
            ExitCode::from(3)
        }
    }
}

fn failed(e: &MigrateError) -> ExitCode {
    eprintln!("error: {e}");
    match e {
        MigrateError::Source(source) => ExitCode::from(source.exit_code()),
        _ => ExitCode::from(1),
    }
}

/// A destination store, as itself for its batch writes.
enum Destination {
    Sqlite(Box<SqliteStore>),
    Mysql(Box<MysqlStore>),
    Postgres(Box<PostgresStore>),
    File(Box<FileStore>),
}

async fn open(dest: &str, table: Option<&str>) -> Result<Destination, ExitCode> {
    let cannot = |e: &dyn std::fmt::Display| {
        eprintln!("error: cannot open the destination: {e}");
        ExitCode::from(3)
    };
    if dest.starts_with("mysql://") {
        let table = table.unwrap_or(MysqlStore::TABLE);
        let store = async { MysqlServer::new(dest)?.store(table).await };
        let store = store.await.map_err(|e| cannot(&e))?;
        return Ok(Destination::Mysql(Box::new(store)));
    }
    if is_server(dest) {
        let schema = table.unwrap_or("public");
        let store = async { PostgresServer::new(dest)?.store(schema).await };
        let store = store.await.map_err(|e| cannot(&e))?;
        return Ok(Destination::Postgres(Box::new(store)));
    }
    if dest.ends_with(".db") {
        return SqliteStore::open(dest)
            .map(|store| Destination::Sqlite(Box::new(store)))
            .map_err(|e| cannot(&e));
    }
    if dest.ends_with(".csv") {
        return FileStore::open(dest)
            .map(|store| Destination::File(Box::new(store)))
            .map_err(|e| cannot(&e));
    }
    eprintln!("error: unknown destination: expected {DEST_FORMS}");
    Err(ExitCode::from(2))
}
