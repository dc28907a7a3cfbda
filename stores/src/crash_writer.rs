//! The writer process that `durability.crash` kills: opens a reference store's data
//! and saves tokens until killed (see [`tokenstore_harness::crash_writer`]). The
//! `tokenstore` binary runs it as `tokenstore crash-writer …`; a test binary can be its
//! own writer with [`main_if_asked`], so that its durable stores are fully checked.

use std::path::PathBuf;
use std::process::ExitCode;

use tokenstore_harness::{crash_writer, runtime};

use crate::file::Flaw;
use crate::{
    FileStore, MysqlServer, PostgresServer, RedisStore, SqliteStore, mysql_server, postgres, redis,
};

/// The first word of a writer's command line.
pub const SUBCOMMAND: &str = "crash-writer";

/// The data a writer opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A token file in the SDK's CSV format.
    File(PathBuf),
    /// The same, for a mutant of the file store.
    FlawedFile(Flaw, PathBuf),
    /// A table on the server named by `TOKENSTORE_MYSQL_URL`.
    MysqlTable(String),
    /// A schema on the server named by `TOKENSTORE_POSTGRES_URL`.
    PostgresSchema(String),
    /// A store name on the server or cluster named by `TOKENSTORE_REDIS_URL`.
    RedisStore(String),
}

impl Target {
    /// The arguments that name this target and the first save, after [`SUBCOMMAND`].
    pub fn args(&self, from: u64) -> Vec<String> {
        let (flag, value) = match self {
            Target::Sqlite(p) => ("--sqlite", p.display().to_string()),
            Target::File(p) => ("--file", p.display().to_string()),
            Target::FlawedFile(Flaw::RewritesInPlace, p) => {
                ("--file-rewritten-in-place", p.display().to_string())
            }
            Target::FlawedFile(Flaw::LocksOnlyItsThreads, p) => {
                ("--file-without-lock", p.display().to_string())
            }
            Target::MysqlTable(t) => ("--mysql-table", t.clone()),
            Target::PostgresSchema(s) => ("--postgres-schema", s.clone()),
            Target::RedisStore(n) => ("--redis-store", n.clone()),
        };
        vec![
            flag.to_owned(),
            value,
            "--from".to_owned(),
            from.to_string(),
        ]
    }
}

/// Opens the target and saves crash tokens from `from` on until killed; the exit
/// code when it cannot.
pub fn run(target: &Target, from: u64) -> ExitCode {
    let outcome = runtime().block_on(async {
        match target {
            Target::Sqlite(path) => crash_writer(|| async { SqliteStore::open(path) }, from).await,
            Target::File(path) => crash_writer(|| async { FileStore::open(path) }, from).await,
            Target::FlawedFile(flaw, path) => {
                crash_writer(|| async { FileStore::with_flaw(path, *flaw) }, from).await
            }
            Target::MysqlTable(table) => {
                let url = std::env::var(mysql_server::URL_VAR)
                    .map_err(|_| format!("{} is not set", mysql_server::URL_VAR))?;
                let server = MysqlServer::new(&url).map_err(|e| e.to_string())?;
                crash_writer(|| server.store(table), from).await
            }
            Target::PostgresSchema(schema) => {
                let url = std::env::var(postgres::URL_VAR)
                    .map_err(|_| format!("{} is not set", postgres::URL_VAR))?;
                let server = PostgresServer::new(&url).map_err(|e| e.to_string())?;
                crash_writer(|| server.store(schema), from).await
            }
            Target::RedisStore(name) => {
                let url = std::env::var(redis::URL_VAR)
                    .map_err(|_| format!("{} is not set", redis::URL_VAR))?;
                crash_writer(|| RedisStore::connect(&url, name), from).await
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(3)
        }
    }
}

/// For a test binary's `main`: when this process was started as a writer
/// (`<binary> crash-writer --sqlite PATH --from N`), runs it and gives its exit code.
pub fn main_if_asked() -> Option<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some(SUBCOMMAND) {
        return None;
    }
    Some(match parse(&args[1..]) {
        Ok((target, from)) => run(&target, from),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    })
}

fn parse(args: &[String]) -> Result<(Target, u64), String> {
    let mut target = None;
    let mut from = 0;
    let mut words = args.iter();
    while let Some(flag) = words.next() {
        let value = words.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--sqlite" => target = Some(Target::Sqlite(value.into())),
            "--file" => target = Some(Target::File(value.into())),
            "--file-rewritten-in-place" => {
                target = Some(Target::FlawedFile(Flaw::RewritesInPlace, value.into()))
            }
            "--file-without-lock" => {
                target = Some(Target::FlawedFile(Flaw::LocksOnlyItsThreads, value.into()))
            }
            "--mysql-table" => target = Some(Target::MysqlTable(value.clone())),
            "--postgres-schema" => target = Some(Target::PostgresSchema(value.clone())),
            "--redis-store" => target = Some(Target::RedisStore(value.clone())),
            "--from" => from = value.parse().map_err(|_| "--from takes a number")?,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    let target = target.ok_or(
        "name a store: --sqlite PATH, --file PATH, --mysql-table TABLE, --postgres-schema \
         SCHEMA or --redis-store NAME",
    )?;
    Ok((target, from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_parses_back_from_its_arguments() {
        for target in [
            Target::Sqlite("/tmp/a b/tokens.db".into()),
            Target::File("tokens.csv".into()),
            Target::FlawedFile(Flaw::RewritesInPlace, "tokens.csv".into()),
            Target::FlawedFile(Flaw::LocksOnlyItsThreads, "tokens.csv".into()),
            Target::MysqlTable("tokenstore_1".into()),
            Target::PostgresSchema("tokenstore_2".into()),
            Target::RedisStore("tokenstore_3".into()),
        ] {
            assert_eq!(parse(&target.args(7)), Ok((target, 7)));
        }
        assert!(parse(&["--sqlite".to_owned()]).is_err());
        assert!(parse(&[]).is_err());
    }
}
