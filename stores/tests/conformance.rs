//! Every reference store against every scenario: one named test per (store, scenario).
//! MySQL runs when a server is configured (see `MysqlSource`); otherwise its tests are
//! listed as ignored with the reason, or fail when MySQL is required.

use std::process::ExitCode;

use tokenstore_harness::libtest_mimic::{Arguments, Failed, Trial, run};
use tokenstore_harness::{factory, runtime, trials, unavailable};
use tokenstore_stores::{
    ListStore, MemoryStore, MysqlSource, SqliteStore, crash_writer, file_factory, mysql_factory,
    mysql_server, sqlite_factory,
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
    match (source.url(), source.reason()) {
        (Some(url), _) => all.extend(trials("mysql", mysql_factory(url.into(), writer))),
        (None, Some(why)) if mysql_server::required("mysql") => {
            let why = format!(
                "MySQL is required ({}) but unavailable: {why}",
                mysql_server::REQUIRE_VAR
            );
            all.push(Trial::test("mysql::setup", move || Err(Failed::from(why))));
        }
        (None, why) => all.extend(unavailable("mysql", why.unwrap_or_default())),
    }
    let conclusion = run(&args, all);
    drop(source);
    conclusion.exit_code()
}
