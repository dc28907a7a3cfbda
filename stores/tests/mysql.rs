//! MySQL store checks the scenarios cannot make: isolation of test tables, connection
//! reuse, and faults (connections killed, the server restarted).
//!
//! They need a server (`TOKENSTORE_MYSQL_URL`); without one they are listed as ignored
//! with the reason, or fail when MySQL is required (`TOKENSTORE_REQUIRE=mysql`). The
//! restart test also needs `TOKENSTORE_MYSQL_RESTART_CMD`. The trials run one at a
//! time: the fault tests kill every other connection of this user to this database.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use tokenstore_harness::libtest_mimic::{Arguments, Completion, Failed, Trial, run};
use tokenstore_harness::{
    ErrorKind, Field, Settings, Status, StoreError, Suite, Token, TokenStore, runtime,
};
use tokenstore_stores::mysql::scratch_table;
use tokenstore_stores::{MysqlServer, MysqlSource, MysqlStore, mysql_factory, mysql_server};

/// A short model run: these tests are about tables, not about the model.
const SETTINGS: Settings = Settings {
    cases: 8,
    seed: 1,
    strict: false,
};

const RESTART_VAR: &str = "TOKENSTORE_MYSQL_RESTART_CMD";

type Check = fn(&str) -> Result<(), Failed>;

fn main() -> ExitCode {
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let source = runtime().block_on(MysqlSource::find());
    let checks: [(&str, Check, Option<&str>); 5] = [
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
    let trials = checks
        .into_iter()
        .map(|(name, check, needs)| {
            let name = format!("mysql::{name}");
            let url = source.url().map(str::to_owned);
            let missing_var = needs.filter(|v| std::env::var(v).map_or(true, |s| s.is_empty()));
            match (url, missing_var, source.reason()) {
                (Some(_), Some(var), _) => ignored(name, format!("{var} is not set")),
                (Some(url), None, _) => Trial::test(name, move || check(&url)),
                (None, _, why) if mysql_server::required("mysql") => {
                    let why = format!(
                        "MySQL is required but unavailable: {}",
                        why.unwrap_or_default()
                    );
                    Trial::test(name, move || Err(Failed::from(why)))
                }
                (None, _, why) => ignored(name, why.unwrap_or_default().to_owned()),
            }
        })
        .collect();
    let conclusion = run(&args, trials);
    drop(source);
    conclusion.exit_code()
}

fn ignored(name: String, why: String) -> Trial {
    eprintln!("note: {name} is skipped: {why}");
    Trial::ignorable_test(name, move || Ok(Completion::ignored_with(why))).with_ignored_flag(true)
}

fn fail(message: impl std::fmt::Display) -> Failed {
    Failed::from(message.to_string())
}

/// Tables of this process's scratch prefix.
async fn scratch_tables(server: &MysqlServer) -> Result<BTreeSet<String>, Failed> {
    let mut conn = server.conn().await.map_err(fail)?;
    let pattern = format!("tokenstore\\_{}\\_%", std::process::id());
    let names: Vec<String> = conn
        .exec(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE ?",
            (pattern,),
        )
        .await
        .map_err(fail)?;
    Ok(names.into_iter().collect())
}

/// A suite whose only scenario fails on every store (it expects a row that is not there).
fn failing_suite() -> Result<Suite, Failed> {
    let text = r#"
        family = "selftest"
        [[scenario]]
        name = "always-fails"
        clauses = ["find.miss"]
        [[scenario.step]]
        save = { user_name = "alice@example.com", refresh_token = "1000.rt-alice" }
        [[scenario.step]]
        get_tokens = true
        count = 2
    "#;
    Ok(Suite::new(
        tokenstore_scenarios::parse("selftest.toml", text).map_err(fail)?,
    ))
}

fn tables_dropped(url: &str) -> Result<(), Failed> {
    runtime().block_on(async {
        let server = MysqlServer::new(url).map_err(fail)?;
        let factory = mysql_factory(url.into(), None);
        let failing = failing_suite()?
            .run("mysql", "", &factory, SETTINGS, |_, _| {})
            .await
            .map_err(fail)?;
        if failing.clauses.iter().all(|c| c.status != Status::Fail) {
            return Err(fail("the failing scenario did not fail"));
        }
        Suite::embedded()
            .run("mysql", "", &factory, SETTINGS, |_, _| {})
            .await
            .map_err(fail)?;
        let left = scratch_tables(&server).await?;
        if !left.is_empty() {
            return Err(fail(format!("tables left behind: {left:?}")));
        }
        Ok(())
    })
}

fn bystander_untouched(url: &str) -> Result<(), Failed> {
    runtime().block_on(async {
        let server = MysqlServer::new(url).map_err(fail)?;
        let bystander = server
            .store(&format!("bystander_{}", std::process::id()))
            .await
            .map_err(fail)?;
        let token = Token::new()
            .with(Field::UserName, "alice@example.com")
            .with(Field::RefreshToken, "1000.rt-alice");
        let id = bystander.save_token(&token).await.map_err(fail)?;
        let factory = mysql_factory(url.into(), None);
        let report = Suite::embedded()
            .run("mysql", "", &factory, SETTINGS, |_, _| {})
            .await;
        let rows = bystander.get_tokens().await.map_err(fail);
        bystander.drop_tables().await.map_err(fail)?;
        report.map_err(fail)?;
        if rows? != vec![token.with(Field::Id, &id)] {
            return Err(fail("a table the run did not create was changed"));
        }
        Ok(())
    })
}

/// The default mysql_async pool opens a new connection for almost every call made
/// one at a time; ours must reuse its connections. Counted by the pool itself, so
/// other clients of the same server change nothing.
fn connections_reused(url: &str) -> Result<(), Failed> {
    runtime().block_on(async {
        let server = MysqlServer::new(url).map_err(fail)?;
        let store = server.store(&scratch_table()).await.map_err(fail)?;
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

/// Saves new users one after another until `stop`, recording what was acknowledged
/// and checking that every failure is a Backend error.
async fn write_until(store: &MysqlStore, stop: Instant) -> Result<(Vec<Token>, usize), Failed> {
    let (mut acked, mut errors) = (Vec::new(), 0);
    let mut i = 0;
    while Instant::now() < stop {
        i += 1;
        let t = Token::new()
            .with(Field::UserName, &format!("writer{i}@example.com"))
            .with(Field::RefreshToken, &format!("1000.rt-writer-{i}"))
            .with(Field::AccessToken, &format!("1000.at-writer-{i}"));
        match store.save_token(&t).await {
            Ok(id) => acked.push(t.with(Field::Id, &id)),
            Err(e) if e.kind() == ErrorKind::Backend => errors += 1,
            Err(e) => return Err(fail(format!("a {} error under a fault: {e}", e.kind()))),
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok((acked, errors))
}

/// After a fault: the store serves again within `patience`, and every acknowledged
/// token is there, intact, as a fresh store on the same table sees it.
async fn recovered(
    url: &str,
    store: &MysqlStore,
    acked: &[Token],
    patience: Duration,
) -> Result<(), Failed> {
    let deadline = Instant::now() + patience;
    let probe = Token::new()
        .with(Field::UserName, "after-the-fault@example.com")
        .with(Field::RefreshToken, "1000.rt-after");
    loop {
        match store.save_token(&probe).await {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline && e.kind() == ErrorKind::Backend => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(fail(format!("the store does not serve again: {e}"))),
        }
    }
    let fresh = MysqlServer::new(url)
        .map_err(fail)?
        .store(store.table())
        .await
        .map_err(fail)?;
    let rows = fresh.get_tokens().await.map_err(fail)?;
    let lost: Vec<&Token> = acked.iter().filter(|t| !rows.contains(t)).collect();
    if !lost.is_empty() {
        return Err(fail(format!(
            "{} acknowledged tokens lost or changed: {lost:?}",
            lost.len()
        )));
    }
    Ok(())
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
        let store = server.store(&scratch_table()).await.map_err(fail)?;
        let stop = Instant::now() + Duration::from_millis(1500);
        let killer = async {
            let mut killed = 0;
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                killed += kill_others(&admin).await?;
            }
            Ok::<_, Failed>(killed)
        };
        let (written, killed) = tokio::join!(write_until(&store, stop), killer);
        let (acked, errors) = written?;
        let killed = killed?;
        let outcome = recovered(url, &store, &acked, Duration::from_secs(10)).await;
        store.drop_tables().await.map_err(fail)?;
        outcome?;
        eprintln!(
            "killed {killed} connections; {} saves acknowledged, {errors} failed with Backend",
            acked.len()
        );
        if killed == 0 || acked.is_empty() {
            return Err(fail(
                "the fault did not happen: nothing was killed or nothing was written",
            ));
        }
        Ok(())
    })
}

fn server_restart(url: &str) -> Result<(), Failed> {
    let command = std::env::var(RESTART_VAR).map_err(fail)?;
    runtime().block_on(async {
        let server = MysqlServer::new(url).map_err(fail)?;
        let store = server.store(&scratch_table()).await.map_err(fail)?;
        let stop = Instant::now() + Duration::from_secs(4);
        let restart = async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let command = command.clone();
            tokio::task::spawn_blocking(move || {
                std::process::Command::new("sh")
                    .arg("-c")
                    .arg(command)
                    .status()
            })
            .await
            .map_err(fail)?
            .map_err(fail)
        };
        let (written, status) = tokio::join!(write_until(&store, stop), restart);
        let status = status?;
        if !status.success() {
            return Err(fail(format!("{RESTART_VAR} failed: {status}")));
        }
        let (acked, errors) = written?;
        let outcome = recovered(url, &store, &acked, Duration::from_secs(60)).await;
        let dropped: Result<(), StoreError> = store.drop_tables().await;
        outcome?;
        dropped.map_err(fail)?;
        eprintln!(
            "server restarted; {} saves acknowledged, {errors} failed with Backend",
            acked.len()
        );
        if errors == 0 {
            return Err(fail(
                "no save failed: the restart did not happen while writing",
            ));
        }
        Ok(())
    })
}
