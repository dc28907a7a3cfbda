//! MySQL store checks the scenarios cannot make: isolation of test tables, connection
//! reuse, and faults (connections killed, the server restarted).
//!
//! They need a server (`TOKENSTORE_MYSQL_URL`); without one they are listed as ignored
//! with the reason, or fail when MySQL is required (`TOKENSTORE_REQUIRE=mysql`). The
//! restart test also needs `TOKENSTORE_MYSQL_RESTART_CMD`. The trials run one at a
//! time: the fault tests kill every other connection of this user to this database.

use std::process::ExitCode;

use mysql_async::prelude::Queryable;
use tokenstore_harness::libtest_mimic::{Arguments, Failed, run};
use tokenstore_harness::{Field, StoreError, Token, TokenStore, runtime};
use tokenstore_stores::scratch_name;
use tokenstore_stores::{MysqlServer, MysqlSource, MysqlStore, mysql_factory};

mod common;
use common::*;

const RESTART_VAR: &str = "TOKENSTORE_MYSQL_RESTART_CMD";

fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let source = runtime().block_on(MysqlSource::find());
    let checks: [ServerCheck; 5] = [
        (
            "isolation::scratch-tables-dropped-even-on-failure",
            tables_dropped,
            None,
        ),
        (
            "isolation::other-tables-untouched",
            bystander_untouched,
            None,
        ),
        ("pool::connections-are-reused", connections_reused, None),
        ("fault::killed-connections", killed_connections, None),
        ("fault::server-restart", server_restart, Some(RESTART_VAR)),
    ];
    let url = source.url().map(str::to_owned);
    let trials = server_trials(
        "mysql",
        url.ok_or(source.reason().unwrap_or_default().to_owned()),
        &checks,
    );
    let conclusion = run(&args, trials);
    drop(source);
    conclusion.exit_code()
}

/// Tables of this process's scratch prefix.
async fn scratch_tables(server: &MysqlServer) -> Result<Vec<String>, Failed> {
    let mut conn = server.conn().await.map_err(fail)?;
    let pattern = format!("tokenstore\\_{}\\_%", std::process::id());
    conn.exec(
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE ?",
        (pattern,),
    )
    .await
    .map_err(fail)
}

fn tables_dropped(url: &str) -> Result<(), Failed> {
    runtime().block_on(async {
        let server = MysqlServer::new(url).map_err(fail)?;
        let factory = mysql_factory(url.into(), None);
        scratch_removed(&factory, || scratch_tables(&server)).await
    })
}

fn bystander_untouched(url: &str) -> Result<(), Failed> {
    runtime().block_on(async {
        let server = MysqlServer::new(url).map_err(fail)?;
        let name = format!("bystander_{}", std::process::id());
        let bystander = server.store(&name).await.map_err(fail)?;
        let outcome =
            common::bystander_untouched(&bystander, &mysql_factory(url.into(), None)).await;
        bystander.drop_tables().await.map_err(fail)?;
        outcome
    })
}

/// The default mysql_async pool opens a new connection for almost every call made
/// one at a time; ours must reuse its connections. Counted by the pool itself, so
/// other clients of the same server change nothing.
fn connections_reused(url: &str) -> Result<(), Failed> {
    runtime().block_on(async {
        let server = MysqlServer::new(url).map_err(fail)?;
        let store = server.store(&scratch_name()).await.map_err(fail)?;
        let before = server.connections_opened();
        for i in 0..300 {
            let t = Token::new()
                .with(Field::UserName, &format!("user{}@example.com", i % 30))
                .with(Field::AccessToken, &format!("1000.at-{i}"));
            store.save_token(&t).await.map_err(fail)?;
            store.find_token(&t).await.map_err(fail)?;
        }
        let opened = server.connections_opened() - before;
        store.drop_tables().await.map_err(fail)?;
        eprintln!("600 calls opened {opened} connections");
        // The pool opens at most its size.
        if opened > 8 {
            return Err(fail(format!("600 calls opened {opened} connections")));
        }
        Ok(())
    })
}

/// A new pool on the store's table, as a second process would open it.
async fn reopen(url: &str, store: &MysqlStore) -> Result<MysqlStore, StoreError> {
    MysqlServer::new(url)?.store(store.table()).await
}

async fn kill_others(admin: &MysqlServer) -> Result<usize, Failed> {
    let mut conn = admin.conn().await.map_err(fail)?;
    let ids: Vec<u64> = conn
        .query(
            "SELECT ID FROM information_schema.PROCESSLIST \
             WHERE USER = SUBSTRING_INDEX(CURRENT_USER(), '@', 1) AND DB = DATABASE() AND ID <> CONNECTION_ID()",
        )
        .await
        .map_err(fail)?;
    for id in &ids {
        // A connection may end on its own in between: ignore "unknown thread".
        let _ = conn.query_drop(format!("KILL {id}")).await;
    }
    Ok(ids.len())
}

fn killed_connections(url: &str) -> Result<(), Failed> {
    runtime().block_on(async {
        let admin = MysqlServer::new(url).map_err(fail)?;
        let server = MysqlServer::new(url).map_err(fail)?;
        let store = server.store(&scratch_name()).await.map_err(fail)?;
        let kill = || kill_others(&admin);
        let outcome = connections_killed(&store, reopen(url, &store), kill).await;
        store.drop_tables().await.map_err(fail)?;
        outcome
    })
}

fn server_restart(url: &str) -> Result<(), Failed> {
    let command = std::env::var(RESTART_VAR).map_err(fail)?;
    runtime().block_on(async {
        let server = MysqlServer::new(url).map_err(fail)?;
        let store = server.store(&scratch_name()).await.map_err(fail)?;
        let outcome = server_restarted(&store, reopen(url, &store), command).await;
        store.drop_tables().await.map_err(fail)?;
        outcome
    })
}
