//! `tokenstore migrate SOURCE DEST`: every token of a source into a reference store.

use std::process::ExitCode;

use tokenstore_harness::{BoxedStore, DynTokenStore, Token, runtime};
use tokenstore_stores::audit::AuditSource;
use tokenstore_stores::migrate::{self, MigrateError, OnDuplicate};
use tokenstore_stores::{FileStore, MysqlStore, SqliteStore};

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
     store, the SDK FileStore's format) or mysql://USER:PASSWORD@HOST:PORT/DB (its MySQL \
     store, table oauthtoken)";

/// Plans, then (unless `dry_run`) writes and verifies. Exit 0 done, 1 the migration
/// stopped (conflicts, a destination that is not empty, a failed write or check), 2
/// usage, 3 a source or destination that cannot be opened.
pub fn run(
    source: &str,
    table: Option<&str>,
    dest: &str,
    policy: Policy,
    dry_run: bool,
) -> ExitCode {
    let source = match AuditSource::parse(source, table) {
        Ok(source) => source,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(e.exit_code());
        }
    };
    let policy = match policy {
        Policy::Fail => OnDuplicate::Fail,
        Policy::Newest => OnDuplicate::Newest,
        Policy::KeepFirst => OnDuplicate::KeepFirst,
    };
    runtime().block_on(async {
        let plan = match migrate::plan(&source, policy).await {
            Ok(plan) => plan,
            Err(e) => return failed(&e),
        };
        print!("{}", migrate::describe(&plan));
        if dry_run {
            println!("dry run: nothing was written");
            return ExitCode::SUCCESS;
        }
        let bar = indicatif::ProgressBar::new(plan.tokens.len() as u64);
        let progress = |n| bar.set_position(n);
        let outcome = match open(dest).await {
            Err(code) => return code,
            // SQLite takes a batch in one transaction: no flush per token.
            Ok(Destination::Sqlite(store)) => {
                let batch = async |tokens: &[Token]| store.save_all(tokens);
                migrate::write(&plan, &*store, batch, progress).await
            }
            Ok(Destination::Other(store)) => {
                let batch = async |tokens: &[Token]| migrate::one_by_one(&*store, tokens).await;
                migrate::write(&plan, &*store, batch, progress).await
            }
        };
        bar.finish_and_clear();
        match outcome {
            Ok(()) => {
                println!(
                    "copied and verified: {} tokens in {dest}",
                    plan.tokens.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => failed(&e),
        }
    })
}

fn failed(e: &MigrateError) -> ExitCode {
    eprintln!("error: {e}");
    match e {
        MigrateError::Source(source) => ExitCode::from(source.exit_code()),
        _ => ExitCode::from(1),
    }
}

/// A destination store; SQLite is kept as itself for its batch writes.
enum Destination {
    Sqlite(Box<SqliteStore>),
    Other(BoxedStore),
}

async fn open(dest: &str) -> Result<Destination, ExitCode> {
    let cannot = |e: &dyn std::fmt::Display| {
        eprintln!("error: cannot open the destination: {e}");
        ExitCode::from(3)
    };
    if dest.starts_with("mysql://") {
        let store = MysqlStore::connect(dest).await.map_err(|e| cannot(&e))?;
        return Ok(Destination::Other(DynTokenStore::new_box(store)));
    }
    if dest.ends_with(".db") {
        return SqliteStore::open(dest)
            .map(|store| Destination::Sqlite(Box::new(store)))
            .map_err(|e| cannot(&e));
    }
    if dest.ends_with(".csv") {
        return FileStore::open(dest)
            .map(|store| Destination::Other(DynTokenStore::new_box(store)))
            .map_err(|e| cannot(&e));
    }
    eprintln!("error: unknown destination: expected {DEST_FORMS}");
    Err(ExitCode::from(2))
}
