//! Every reference store against every scenario: one named test per (store, scenario).
//! MySQL, PostgreSQL, Redis and a Redis Cluster run when a server is configured (see
//! `MysqlSource`, `TOKENSTORE_POSTGRES_URL`, `TOKENSTORE_REDIS_URL`,
//! `TOKENSTORE_REDIS_CLUSTER_URL`); otherwise their tests are listed as ignored with the
//! reason, or fail when the backend is required (`redis` covers the cluster too).

use std::process::ExitCode;

use tokenstore_harness::libtest_mimic::{Arguments, Failed, Trial, run};
use tokenstore_harness::{Factory, factory, runtime, trials, unavailable};
use tokenstore_stores::{
    ListStore, MemoryStore, MysqlSource, SqliteStore, crash_writer, file_factory, mysql_factory,
    mysql_server, postgres, postgres_factory, redis, redis_factory, sqlite_factory,
};

fn main() -> ExitCode {
    // This binary is also the writer process that durability.crash kills.
    if let Some(code) = crash_writer::main_if_asked() {
        return code;
    }
    let writer = std::env::current_exe().ok();
    let args = Arguments::from_args();
    let mut all = Vec::new();
    all.extend(trials(
        "memory",
        factory(|| async { Ok::<_, String>(MemoryStore::new()) }),
    ));
    all.extend(trials(
        "list",
        factory(|| async { Ok::<_, String>(ListStore::new()) }),
    ));
    all.extend(trials(
        "sqlite",
        sqlite_factory(std::env::temp_dir(), writer.clone()),
    ));
    all.extend(trials(
        "sqlite-memory",
        factory(|| async { SqliteStore::in_memory() }),
    ));
    all.extend(trials(
        "file",
        file_factory(std::env::temp_dir(), writer.clone()),
    ));
    let source = runtime().block_on(MysqlSource::find());
    let mysql = source.url().map(str::to_owned);
    let why = source.reason().unwrap_or_default().to_owned();
    let w = writer.clone();
    all.extend(on_server("mysql", mysql.ok_or(why), |url| {
        mysql_factory(url.into(), w)
    }));
    let w = writer.clone();
    all.extend(on_server("postgres", postgres::url_from_env(), |url| {
        postgres_factory(url.into(), w)
    }));
    let w = writer.clone();
    all.extend(on_server("redis", redis::url_from_env(), |url| {
        redis_factory(url.into(), w)
    }));
    let cluster = std::env::var("TOKENSTORE_REDIS_CLUSTER_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| "TOKENSTORE_REDIS_CLUSTER_URL is not set".to_owned());
    all.extend(on_server("redis-cluster", cluster, |url| {
        redis_factory(url.into(), writer)
    }));
    let conclusion = run(&args, all);
    drop(source);
    conclusion.exit_code()
}

/// A server's trials; without a server, ignored with the reason, or one failing trial
/// when the backend is required.
fn on_server(
    name: &str,
    url: Result<String, String>,
    factory: impl FnOnce(String) -> Factory,
) -> Vec<Trial> {
    match url {
        Ok(url) => trials(name, factory(url)),
        Err(why) if mysql_server::required(name.trim_end_matches("-cluster")) => {
            let why = format!(
                "{name} is required ({}) but unavailable: {why}",
                mysql_server::REQUIRE_VAR
            );
            vec![Trial::test(format!("{name}::setup"), move || {
                Err(Failed::from(why))
            })]
        }
        Err(why) => unavailable(name, &why),
    }
}
