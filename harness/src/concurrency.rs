//! `concurrency.*`: many tasks on one store (or on two instances of one database).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::fixture::SharedStore;
use crate::report::Failure;
use crate::scenario::describe;
use crate::store::TokenStore;
use crate::token::{Field, Token};

/// Tasks per check, as the contract asks.
pub const TASKS: usize = 64;
/// New users saved by `concurrency.distinct`.
pub const DISTINCT_USERS: usize = 1000;

fn failure(what: &str, expected: impl Into<String>, actual: impl Into<String>) -> Failure {
    Failure {
        step: 1,
        steps: vec![what.to_owned()],
        expected: expected.into(),
        actual: actual.into(),
        replay: None,
    }
}

/// The store a task uses: tasks alternate between the instances.
fn pick(stores: &[SharedStore], task: usize) -> SharedStore {
    stores[task % stores.len()].clone()
}

fn distinct_token(n: usize) -> Token {
    Token::new()
        .with(Field::UserName, &format!("c{n}@example.com"))
        .with(Field::RefreshToken, &format!("1000.rt-c{n}"))
        .with(Field::AccessToken, &format!("1000.at-c{n}"))
        .with(Field::ExpiryTime, &n.to_string())
}

/// 64 tasks save 1 000 new users: every save succeeds, ids are distinct, every row is there.
pub async fn distinct(stores: &[SharedStore]) -> Result<(), Failure> {
    let what = format!(
        "{TASKS} tasks save {DISTINCT_USERS} distinct new users on {} instance(s)",
        stores.len()
    );
    let mut tasks = Vec::with_capacity(TASKS);
    for t in 0..TASKS {
        let store = pick(stores, t);
        tasks.push(tokio::spawn(async move {
            let mut saved = Vec::new();
            for n in (t..DISTINCT_USERS).step_by(TASKS) {
                let id = store
                    .save_token(&distinct_token(n))
                    .await
                    .map_err(|e| (n, e.to_string()))?;
                saved.push((n, id));
            }
            Ok::<_, (usize, String)>(saved)
        }));
    }
    let mut saved = Vec::with_capacity(DISTINCT_USERS);
    for task in tasks {
        match task.await {
            Ok(Ok(s)) => saved.extend(s),
            Ok(Err((n, e))) => {
                return Err(failure(
                    &what,
                    "every save succeeds",
                    format!("saving user {n}: {e}"),
                ));
            }
            Err(e) => return Err(failure(&what, "no panic", e.to_string())),
        }
    }
    let ids: HashSet<&str> = saved.iter().map(|(_, id)| id.as_str()).collect();
    if ids.len() != DISTINCT_USERS {
        return Err(failure(
            &what,
            format!("{DISTINCT_USERS} distinct ids"),
            format!("{} distinct ids", ids.len()),
        ));
    }
    let rows = stores[0]
        .get_tokens()
        .await
        .map_err(|e| failure(&what, "get_tokens succeeds", e.to_string()))?;
    let rows: HashSet<TokenKey> = rows.iter().map(TokenKey::of).collect();
    for (n, id) in &saved {
        let want = distinct_token(*n).with(Field::Id, id);
        if !rows.contains(&TokenKey::of(&want)) {
            return Err(failure(
                &what,
                format!("row {}", describe(&want)),
                "missing or changed",
            ));
        }
    }
    if rows.len() != DISTINCT_USERS {
        return Err(failure(
            &what,
            format!("{DISTINCT_USERS} rows"),
            format!("{} rows", rows.len()),
        ));
    }
    Ok(())
}

/// Every field of a token, as a hashable key (tokens keep secrets out of `Hash`).
#[derive(PartialEq, Eq, Hash)]
struct TokenKey([Option<String>; 10]);

impl TokenKey {
    fn of(t: &Token) -> Self {
        TokenKey(t.to_row().map(|v| v.map(str::to_owned)))
    }
}

/// A full token for `user` whose every field carries `version` (and the user, so that
/// two users' versions never share a key value).
fn versioned(user: &str, version: usize) -> Token {
    let tag = format!("{}-v{version}", user.split('@').next().unwrap_or(user));
    Token::new()
        .with(Field::UserName, user)
        .with(Field::ClientId, &format!("1000.client-{tag}"))
        .with(Field::ClientSecret, &format!("cs-{tag}"))
        .with(Field::RefreshToken, &format!("1000.rt-{tag}"))
        .with(Field::AccessToken, &format!("1000.at-{tag}"))
        .with(Field::GrantToken, &format!("1000.gt-{tag}"))
        .with(Field::ExpiryTime, &version.to_string())
        .with(Field::RedirectUrl, &format!("https://example.com/{tag}"))
        .with(Field::ApiDomain, &format!("https://api-{tag}.example.com"))
}

/// The version a token's fields carry, if they all carry the same one.
fn version_of(t: &Token) -> Option<usize> {
    let v: usize = t.get(Field::ExpiryTime)?.parse().ok()?;
    let user = t.user_name()?;
    (*t == versioned(user, v).with(Field::Id, t.id().unwrap_or_default())).then_some(v)
}

/// 64 tasks save full tokens for one user: all succeed, with one id; one row remains,
/// equal to one of the written tokens (no field-wise mix).
pub async fn same_user(stores: &[SharedStore]) -> Result<(), Failure> {
    let what = format!(
        "{TASKS} tasks save full tokens for one user on {} instance(s)",
        stores.len()
    );
    let user = "same@example.com";
    let mut tasks = Vec::with_capacity(TASKS);
    for t in 0..TASKS {
        let store = pick(stores, t);
        tasks.push(tokio::spawn(async move {
            store
                .save_token(&versioned(user, t))
                .await
                .map_err(|e| e.to_string())
        }));
    }
    let mut ids = HashSet::new();
    for (t, task) in tasks.into_iter().enumerate() {
        match task.await {
            Ok(Ok(id)) => {
                ids.insert(id);
            }
            Ok(Err(e)) => {
                return Err(failure(
                    &what,
                    "every save succeeds",
                    format!("save {t}: {e}"),
                ));
            }
            Err(e) => return Err(failure(&what, "no panic", e.to_string())),
        }
    }
    if ids.len() != 1 {
        return Err(failure(
            &what,
            "one id for every save",
            format!("{} ids", ids.len()),
        ));
    }
    let rows = stores[0]
        .get_tokens()
        .await
        .map_err(|e| failure(&what, "get_tokens succeeds", e.to_string()))?;
    let rows: Vec<Token> = rows
        .into_iter()
        .filter(|r| r.user_name() == Some(user))
        .collect();
    match rows.as_slice() {
        [row] if version_of(row).is_some() => Ok(()),
        [row] => Err(failure(
            &what,
            "one of the written tokens",
            format!("a mix: {}", describe(row)),
        )),
        _ => Err(failure(
            &what,
            "exactly one row for the user",
            format!("{} rows", rows.len()),
        )),
    }
}

/// Readers that run during saves see the old or the new token, never a mix.
pub async fn read_during_write(stores: &[SharedStore]) -> Result<(), Failure> {
    const WRITERS: usize = 8;
    const SAVES: usize = 25;
    const READERS: usize = 8;
    let what = format!(
        "{READERS} readers during {WRITERS}×{SAVES} saves of one user on {} instance(s)",
        stores.len()
    );
    let user = "rw@example.com";
    let id = stores[0]
        .save_token(&versioned(user, 0))
        .await
        .map_err(|e| failure(&what, "the first save succeeds", e.to_string()))?;
    let done = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for r in 0..READERS {
        let (store, done, id) = (pick(stores, r + 1), done.clone(), id.clone());
        readers.push(tokio::spawn(async move {
            let mut reads = 0usize;
            while !done.load(Ordering::Relaxed) || reads == 0 {
                let by_key = store
                    .find_token(&Token::new().with(Field::UserName, user))
                    .await;
                let by_id = store.find_token_by_id(&id).await;
                for got in [by_key, by_id] {
                    match got {
                        Ok(Some(t)) if version_of(&t).is_some() => {}
                        Ok(Some(t)) => return Err(format!("a mix: {}", describe(&t))),
                        Ok(None) => return Err("no token at all".to_owned()),
                        Err(e) => return Err(e.to_string()),
                    }
                }
                reads += 1;
                tokio::task::yield_now().await;
            }
            Ok(reads)
        }));
    }
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let store = pick(stores, w);
        writers.push(tokio::spawn(async move {
            for s in 0..SAVES {
                store
                    .save_token(&versioned(user, 1 + w * SAVES + s))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok::<_, String>(())
        }));
    }
    let mut outcome = Ok(());
    for w in writers {
        if let Err(e) = w.await.map_err(|e| e.to_string()).and_then(|r| r) {
            outcome = Err(failure(&what, "every save succeeds", e));
        }
    }
    done.store(true, Ordering::Relaxed);
    for r in readers {
        if let Err(e) = r.await.map_err(|e| e.to_string()).and_then(|r| r) {
            outcome = outcome.and(Err(failure(&what, "the old or the new token", e)));
        }
    }
    outcome
}
