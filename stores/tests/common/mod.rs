//! What the tests of the server stores share: trials without a server, a suite that
//! fails, and the writer and the recovery check of the fault tests.
#![allow(dead_code)] // each test file uses its part

use std::time::{Duration, Instant};

use tokenstore_harness::libtest_mimic::{Completion, Failed, Trial};
use tokenstore_harness::{ErrorKind, Field, Suite, Token, TokenStore};

/// A short model run: these tests are about tables and faults, not about the model.
pub const SETTINGS: tokenstore_harness::Settings = tokenstore_harness::Settings {
    cases: 8,
    seed: 1,
    strict: false,
};

pub fn fail(message: impl std::fmt::Display) -> Failed {
    Failed::from(message.to_string())
}

/// A check of a server store: its name, the test, and the variable it also needs.
pub type ServerCheck = (
    &'static str,
    fn(&str) -> Result<(), Failed>,
    Option<&'static str>,
);

/// The checks as trials named `<backend>::<name>`, on the server at `url`; without a
/// server (or a variable a check needs), ignored with the reason, or failing when the
/// backend is required (`TOKENSTORE_REQUIRE`).
pub fn server_trials(
    backend: &str,
    url: Result<String, String>,
    checks: &[ServerCheck],
) -> Vec<Trial> {
    let required = tokenstore_stores::mysql_server::required(backend);
    checks
        .iter()
        .map(|&(name, check, needs)| {
            let name = format!("{backend}::{name}");
            let missing_var = needs.filter(|v| std::env::var(v).map_or(true, |s| s.is_empty()));
            match (url.clone(), missing_var) {
                (Ok(_), Some(var)) => ignored(name, format!("{var} is not set")),
                (Ok(url), None) => Trial::test(name, move || check(&url)),
                (Err(why), _) if required => {
                    let why = format!("{backend} is required but unavailable: {why}");
                    Trial::test(name, move || Err(Failed::from(why)))
                }
                (Err(why), _) => ignored(name, why),
            }
        })
        .collect()
}

pub fn ignored(name: String, why: String) -> Trial {
    eprintln!("note: {name} is skipped: {why}");
    Trial::ignorable_test(name, move || Ok(Completion::ignored_with(why))).with_ignored_flag(true)
}

/// A suite whose only scenario fails on every store (it expects a row that is not there).
pub fn failing_suite() -> Result<Suite, Failed> {
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

/// Saves new users one after another until `stop`, recording what was acknowledged
/// and checking that every failure is a Backend error.
pub async fn write_until<S: TokenStore>(
    store: &S,
    stop: Instant,
) -> Result<(Vec<Token>, usize), Failed> {
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
/// token is there, intact, as `fresh` (a new instance on the same data) sees it.
pub async fn recovered<S: TokenStore, F: TokenStore>(
    store: &S,
    fresh: impl std::future::Future<Output = Result<F, tokenstore_harness::StoreError>>,
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
    let fresh = fresh.await.map_err(fail)?;
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

/// Writes for `writing` while `fault` runs beside (it says what it did, a count of
/// connections killed, say), then checks the store recovered within `patience` with
/// every acknowledged token kept (see [`recovered`]). Returns what the fault said, the
/// tokens acknowledged and the saves that failed with a Backend error.
pub async fn under_fault<S: TokenStore, F: TokenStore, N>(
    store: &S,
    fresh: impl std::future::Future<Output = Result<F, tokenstore_harness::StoreError>>,
    writing: Duration,
    fault: impl std::future::Future<Output = Result<N, Failed>>,
    patience: Duration,
) -> Result<(N, usize, usize), Failed> {
    let (written, done) = tokio::join!(write_until(store, Instant::now() + writing), fault);
    let (acked, errors) = written?;
    let done = done?;
    recovered(store, fresh, &acked, patience).await?;
    Ok((done, acked.len(), errors))
}

/// After `delay`, runs a shell command (a server restart) and fails if it fails.
pub async fn run_command(delay: Duration, command: String) -> Result<(), Failed> {
    tokio::time::sleep(delay).await;
    let status = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(&command)
            .status()
    })
    .await
    .map_err(fail)?
    .map_err(fail)?;
    match status.success() {
        true => Ok(()),
        false => Err(fail(format!("the restart command failed: {status}"))),
    }
}

/// A run of the suite on its own stores (`factory`) leaves `bystander`, a store of
/// another name on the same server, as it was.
pub async fn bystander_untouched<S: TokenStore>(
    bystander: &S,
    factory: &tokenstore_harness::Factory,
) -> Result<(), Failed> {
    let token = Token::new()
        .with(Field::UserName, "alice@example.com")
        .with(Field::RefreshToken, "1000.rt-alice");
    let id = bystander.save_token(&token).await.map_err(fail)?;
    let report = Suite::embedded()
        .run("bystander", "", factory, SETTINGS, |_, _| {})
        .await;
    let rows = bystander.get_tokens().await.map_err(fail)?;
    report.map_err(fail)?;
    match rows == vec![token.with(Field::Id, &id)] {
        true => Ok(()),
        false => Err(fail("a store the run did not create was changed")),
    }
}

/// Runs a suite that fails and the embedded suite on `factory`'s stores; afterwards
/// `left` (the names of this process's scratch tables, schemas or keys still there)
/// must find none.
pub async fn scratch_removed<L: std::future::Future<Output = Result<Vec<String>, Failed>>>(
    factory: &tokenstore_harness::Factory,
    left: impl Fn() -> L,
) -> Result<(), Failed> {
    let failing = failing_suite()?
        .run("scratch", "", factory, SETTINGS, |_, _| {})
        .await
        .map_err(fail)?;
    if failing
        .clauses
        .iter()
        .all(|c| c.status != tokenstore_harness::Status::Fail)
    {
        return Err(fail("the failing scenario did not fail"));
    }
    Suite::embedded()
        .run("scratch", "", factory, SETTINGS, |_, _| {})
        .await
        .map_err(fail)?;
    match left().await? {
        left if left.is_empty() => Ok(()),
        left => Err(fail(format!("left behind: {left:?}"))),
    }
}

/// Five rounds of `kill` (it ends every other connection of the store's user and says
/// how many) while the store writes: the store recovers with every acknowledged token
/// kept, and the fault happened (connections ended, tokens written).
pub async fn connections_killed<S: TokenStore, F: TokenStore, K>(
    store: &S,
    fresh: impl std::future::Future<Output = Result<F, tokenstore_harness::StoreError>>,
    kill: impl Fn() -> K,
) -> Result<(), Failed>
where
    K: std::future::Future<Output = Result<usize, Failed>>,
{
    let killer = async {
        let mut killed = 0;
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            killed += kill().await?;
        }
        Ok::<_, Failed>(killed)
    };
    let (writing, patience) = (Duration::from_millis(1500), Duration::from_secs(10));
    let (killed, acked, errors) = under_fault(store, fresh, writing, killer, patience).await?;
    eprintln!(
        "ended {killed} connections; {acked} saves acknowledged, {errors} failed with Backend"
    );
    match killed > 0 && acked > 0 {
        true => Ok(()),
        false => Err(fail(
            "the fault did not happen: no connection ended or nothing was written",
        )),
    }
}

/// The server restarted by `command` (after half a second) while the store writes:
/// saves fail with Backend errors meanwhile, and afterwards the store serves again with
/// every acknowledged token kept.
pub async fn server_restarted<S: TokenStore, F: TokenStore>(
    store: &S,
    fresh: impl std::future::Future<Output = Result<F, tokenstore_harness::StoreError>>,
    command: String,
) -> Result<(), Failed> {
    let restart = run_command(Duration::from_millis(500), command);
    let (writing, patience) = (Duration::from_secs(4), Duration::from_secs(60));
    let ((), acked, errors) = under_fault(store, fresh, writing, restart, patience).await?;
    eprintln!("server restarted; {acked} saves acknowledged, {errors} failed with Backend");
    match errors {
        0 => Err(fail(
            "no save failed: the restart did not happen while writing",
        )),
        _ => Ok(()),
    }
}
