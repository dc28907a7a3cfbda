//! `tokenstore check` against a real MySQL server: every applicable clause passes and
//! the password appears nowhere; `tokenstore audit` of a damaged table; `tokenstore
//! migrate` into the MySQL store, killed and run again. Listed as ignored without a
//! server, failing when MySQL is required (`TOKENSTORE_REQUIRE=mysql`).

use std::process::{Command, ExitCode};

use tokenstore_harness::libtest_mimic::{Arguments, Completion, Failed, Trial, run};

mod common;

fn check(args: &[&str], password: &str) -> Result<(), Failed> {
    let out = Command::new(env!("CARGO_BIN_EXE_tokenstore"))
        .args(args)
        .output()
        .map_err(|e| Failed::from(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !password.is_empty() && (stdout.contains(password) || stderr.contains(password)) {
        return Err("the password appears in the output".into());
    }
    if out.status.code() != Some(0) || !stdout.contains(" passed, 0 failed, ") {
        return Err(format!("exit {:?}\n{stdout}\n{stderr}", out.status.code()).into());
    }
    if !stdout.contains("PASS  find.exact") || !stdout.contains("PASS  value.limit") {
        return Err(format!("clauses missing:\n{stdout}").into());
    }
    Ok(())
}

/// `tokenstore audit` on a table with the SDK's columns holding what broken stores leave:
/// rows sharing a user name, `''` for absent, a row without an id.
fn audit_table(url: &str, password: &str) -> Result<(), Failed> {
    use mysql_async::prelude::Queryable;
    let fail = |e: &dyn std::fmt::Display| Failed::from(e.to_string());
    let table = format!("audit_{}", std::process::id());
    let server = tokenstore_stores::MysqlServer::new(url).map_err(|e| fail(&e))?;
    tokenstore_harness::runtime().block_on(async {
        let mut conn = server.conn().await.map_err(|e| fail(&e))?;
        let columns = "id, user_name, client_id, client_secret, refresh_token, access_token, \
             grant_token, expiry_time, redirect_url, api_domain";
        let typed = columns.replace(", ", " VARCHAR(255), ") + " VARCHAR(255)";
        conn.query_drop(format!("CREATE TABLE {table} ({typed})"))
            .await
            .map_err(|e| fail(&e))?;
        conn.query_drop(format!(
            "INSERT INTO {table} ({columns}) VALUES \
             ('1', 'u@x', NULL, NULL, 'rt-secret-1', NULL, NULL, '1900000000000', NULL, NULL), \
             ('2', 'u@x', NULL, NULL, 'rt-secret-2', NULL, NULL, '1900000000000', NULL, ''), \
             (NULL, 'v@x', NULL, NULL, 'rt-secret-3', NULL, NULL, '1900000000000', NULL, NULL)"
        ))
        .await
        .map_err(|e| fail(&e))?;
        let out = Command::new(env!("CARGO_BIN_EXE_tokenstore"))
            .args(["audit", url, "--table", &table, "--format", "json"])
            .output()
            .map_err(|e| fail(&e))?;
        let _ = conn.query_drop(format!("DROP TABLE {table}")).await;
        let all = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        if (!password.is_empty() && all.contains(password)) || all.contains("rt-secret") {
            return Err("a password or a stored value appears in the output".into());
        }
        let kinds = ["\"shared-key\"", "\"empty-string\"", "\"missing-id\""];
        if out.status.code() != Some(1) || kinds.iter().any(|k| !all.contains(k)) {
            return Err(format!("exit {:?}\n{all}", out.status.code()).into());
        }
        Ok(())
    })
}

/// `tokenstore migrate` into the MySQL store, killed five times at random moments and
/// run again: every token once, the table clean for `audit`, a second run changes nothing.
fn migrate_killed(url: &str) -> Result<(), Failed> {
    use mysql_async::prelude::Queryable;
    const TOKENS: usize = 20_000;
    let fail = |e: &dyn std::fmt::Display| Failed::from(e.to_string());
    let dir = tempfile::tempdir().map_err(|e| fail(&e))?;
    let src = common::source(dir.path(), TOKENS);
    let table = format!("migrate_{}", std::process::id());
    let server = tokenstore_stores::MysqlServer::new(url).map_err(|e| fail(&e))?;
    let rt = tokenstore_harness::runtime();
    let count = || -> usize {
        rt.block_on(async {
            let mut conn = server.conn().await.ok()?;
            let n: Option<u64> = conn
                .query_first(format!("SELECT count(*) FROM {table}"))
                .await
                .ok()?;
            n.map(|n| n as usize)
        })
        .unwrap_or(0)
    };
    let args = ["migrate", &src, url, "--dest-table", &table];
    let cut_short = common::kill_migrations(&args, TOKENS, 5, &count);
    let done = common::tokenstore(&args);
    let again = common::tokenstore(&args);
    let (held, audit) = (
        count(),
        common::tokenstore(&["audit", url, "--table", &table]),
    );
    let _ = rt.block_on(async {
        let mut conn = server.conn().await?;
        let drop = format!("DROP TABLE IF EXISTS {table}, {table}_seq");
        conn.query_drop(drop).await.map_err(|e| fail(&e))
    });
    let outcome = format!(
        "cut short {cut_short}; run: {}; again: {}; audit: {}; rows {held}",
        common::text(&done),
        common::text(&again),
        common::text(&audit)
    );
    let copied = format!("copied and verified: {TOKENS} tokens");
    let ok = cut_short > 0
        && done.status.success()
        && again.status.success()
        && common::text(&again).contains(&copied)
        && audit.status.success()
        && held == TOKENS;
    if !ok {
        return Err(outcome.into());
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let url = std::env::var("TOKENSTORE_MYSQL_URL").unwrap_or_default();
    let required = tokenstore_stores::mysql_server::required("mysql");
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(auth, _)| auth.split_once(':'))
        .map(|(_, pw)| pw.to_owned())
        .unwrap_or_default();
    let names = [
        "mysql::cli::check-url",
        "mysql::cli::check-from-env",
        "mysql::cli::audit-table",
        "mysql::cli::migrate-killed",
    ];
    let trials = names
        .into_iter()
        .map(|name| {
            if url.is_empty() && !required {
                let why = "TOKENSTORE_MYSQL_URL is not set";
                eprintln!("note: {name} is skipped: {why}");
                return Trial::ignorable_test(name, move || Ok(Completion::ignored_with(why)))
                    .with_ignored_flag(true);
            }
            let (url, password) = (url.clone(), password.clone());
            Trial::test(name, move || {
                if url.is_empty() {
                    return Err("MySQL is required but TOKENSTORE_MYSQL_URL is not set".into());
                }
                match name {
                    "mysql::cli::check-url" => check(&["check", &url], &password),
                    "mysql::cli::audit-table" => audit_table(&url, &password),
                    "mysql::cli::migrate-killed" => migrate_killed(&url),
                    _ => check(&["check", "mysql", "--require", "mysql"], &password),
                }
            })
        })
        .collect();
    run(&args, trials).exit_code()
}
