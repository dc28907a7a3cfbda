//! `tokenstore check` against a real MySQL server: every applicable clause passes and
//! the password appears nowhere. Listed as ignored without a server, failing when
//! MySQL is required (`TOKENSTORE_REQUIRE=mysql`).

use std::process::{Command, ExitCode};

use tokenstore_harness::libtest_mimic::{Arguments, Completion, Failed, Trial, run};

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
    let names = ["mysql::cli::check-url", "mysql::cli::check-from-env"];
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
                    _ => check(&["check", "mysql", "--require", "mysql"], &password),
                }
            })
        })
        .collect();
    run(&args, trials).exit_code()
}
