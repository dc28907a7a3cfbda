//! `concurrency.*`: many tasks on one store (or on two instances of one database).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::fixture::SharedStore;
use crate::report::Failure;
use crate::scenario::{describe, error_text};
use crate::store::TokenStore;
use crate::token::{Field, Token};

/// New users saved by `concurrency.distinct`.
pub const DISTINCT_USERS: usize = 1000;
/// The racing checks run rounds of `WORKERS` calls, in batches of up to `BATCH` rounds
/// (at least `MIN_BATCH`), until `TOGETHER_ROUNDS` rounds had calls that started
/// together (at most `MAX_ROUNDS` rounds): enough that a race with a window of a few
/// nanoseconds is caught in 99 of 100 runs on a 2-core machine with two busy loops
/// (`stores/tests/race_detection.rs`).
pub const WORKERS: usize = 8;
pub const BATCH: usize = 64;
pub const MIN_BATCH: usize = 16;
pub const TOGETHER_ROUNDS: usize = 128;
pub const MAX_ROUNDS: usize = 1024;
/// Fewer raced rounds than this make a racing check inconclusive (an ERROR); between
/// this and `TOGETHER_ROUNDS`, a pass with a note. Two busy loops beside a debug build
/// of the whole suite leave about 35.
pub const MIN_RACED: usize = 8;

fn failure(what: &str, expected: impl Into<String>, actual: impl Into<String>) -> Failure {
    Failure::new(vec![what.to_owned()], expected, actual)
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

/// Runs `rounds` rounds of `workers` calls each, every call from its own OS thread
/// (through the runtime's handle, as a synchronous caller would). In each round the
/// threads meet at a barrier, then the first `spinning` of them spin until all of
/// those have arrived, so that the ones on the CPU at that moment — on a busy 2-core
/// machine too — start their calls within nanoseconds of each other: a
/// check-then-write race in the store shows up whether or not it has an await point
/// between the two. The later threads go straight in. A failed call stops
/// the later rounds, and every thread is joined before this returns: no call of a
/// check outlives it. The answers are `(worker, round, result)`.
async fn bursts<T, F, Fut>(
    stores: &[SharedStore],
    workers: usize,
    spinning: usize,
    rounds: usize,
    call: F,
) -> Vec<Answer<T>>
where
    T: Send + 'static,
    F: Fn(SharedStore, usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, String>> + Send + 'static,
{
    let handle = tokio::runtime::Handle::current();
    let stores = stores.to_vec();
    // Started from the racing runtime, so that the threads have its priority (a new
    // thread has its parent's).
    let joined = crate::runner::racing_runtime()
        .spawn(async move {
            tokio::task::spawn_blocking(move || {
                rounds_on_threads(&stores, workers, spinning, rounds, &call, &handle)
            })
            .await
        })
        .await;
    joined.and_then(|inner| inner).unwrap_or_else(|e| {
        let now = Instant::now();
        vec![(
            0,
            0,
            Err(format!("the check's threads failed: {e}")),
            (now, now),
        )]
    })
}

/// The rounds of [`bursts`], each worker on a thread of its own.
fn rounds_on_threads<T, F, Fut>(
    stores: &[SharedStore],
    workers: usize,
    spinning: usize,
    rounds: usize,
    call: &F,
    handle: &tokio::runtime::Handle,
) -> Vec<Answer<T>>
where
    T: Send + 'static,
    F: Fn(SharedStore, usize, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, String>> + Send + 'static,
{
    let barrier = std::sync::Barrier::new(workers);
    let arrived = AtomicUsize::new(0);
    // More spinners than threads would spin for ever.
    let together = workers.min(spinning);
    let failed = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..workers)
            .map(|w| {
                let store = pick(stores, w);
                let (barrier, arrived, failed) = (&barrier, &arrived, &failed);
                scope.spawn(move || {
                    let mut answers = Vec::new();
                    for r in 0..rounds {
                        // The call is made ready before the barrier, so that after
                        // it each thread goes straight into the store.
                        let ready = call(store.clone(), w, r);
                        barrier.wait();
                        arrived.fetch_add(1, Ordering::SeqCst);
                        // Every thread arrived `r` times before this round's barrier.
                        spin_until(|| arrived.load(Ordering::SeqCst) >= r * workers + together);
                        if failed.load(Ordering::SeqCst) {
                            continue;
                        }
                        let started = Instant::now();
                        let answer = handle.block_on(ready);
                        if answer.is_err() {
                            failed.store(true, Ordering::SeqCst);
                        }
                        answers.push((w, r, answer, (started, Instant::now())));
                    }
                    answers
                })
            })
            .collect();
        let mut answers = Vec::new();
        for (w, thread) in threads.into_iter().enumerate() {
            match thread.join() {
                Ok(a) => answers.extend(a),
                Err(_) => {
                    let now = Instant::now();
                    answers.push((w, 0, Err("the call panicked".to_owned()), (now, now)));
                }
            }
        }
        answers
    })
}

/// How many threads of a round spin until the others of them arrive, at first: twice
/// what the machine runs at once. Measured on 2 cores (SQLite, `tokenstore check
/// sqlite`): spinning until all 8 had arrived took 42 % of the check's CPU, and the
/// check 3.1 s (6.0–7.6 s under two busy loops); with 4 spinners, 2.75 s (5.4–5.8 s).
/// But fewer spinners hold the cores less firmly: beside the parallel tests of a CI
/// run, two SQLite instances raced 7 times in 1 024 rounds with 4. So a batch in which
/// fewer than half the rounds raced makes every thread spin from the next batch on.
fn first_spinners() -> usize {
    (2 * std::thread::available_parallelism().map_or(1, |n| n.get())).min(WORKERS)
}

/// The spinners of the batch after one of `size` rounds of which `raced` raced.
fn next_spinners(spinning: usize, size: usize, raced: usize) -> usize {
    if 2 * raced < size { WORKERS } else { spinning }
}

/// Spins (yielding the CPU now and then, so that a thread that has not arrived yet
/// gets to run on a loaded machine) until `done`.
fn spin_until(done: impl Fn() -> bool) {
    let mut spins = 0u32;
    while !done() {
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(4096) {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Two calls that start within this much of each other started together: what a
/// check-then-write race needs to show.
const TOGETHER: Duration = Duration::from_micros(2);

/// The rounds in which at least two calls started together (see [`TOGETHER`]). On a
/// loaded machine, where a spinning thread may be preempted, fewer rounds do.
fn rounds_started_together<T>(answers: &[Answer<T>]) -> usize {
    let mut by_round: HashMap<usize, Vec<Instant>> = HashMap::new();
    for (_, r, _, (start, _)) in answers {
        by_round.entry(*r).or_default().push(*start);
    }
    by_round
        .into_values()
        .filter(|starts| {
            let mut starts = starts.clone();
            starts.sort();
            starts.windows(2).any(|w| w[1] - w[0] <= TOGETHER)
        })
        .count()
}

/// A call's worker, round, result, and when it started and ended.
type Answer<T> = (usize, usize, Result<T, String>, (Instant, Instant));

/// The first failed answer, as a failure of the check.
fn first_error<T>(what: &str, answers: &[Answer<T>]) -> Result<(), Failure> {
    match answers
        .iter()
        .find_map(|(w, r, a, _)| a.as_ref().err().map(|e| (w, r, e)))
    {
        Some((w, r, e)) => Err(failure(
            what,
            "every save succeeds",
            format!("worker {w}, round {r}: {e}"),
        )),
        None => Ok(()),
    }
}

/// Runs batches of [`WORKERS`] racing calls a round until at least `min_rounds` rounds
/// ran and [`TOGETHER_ROUNDS`] of them had calls that started together (at most
/// [`MAX_ROUNDS`]): a loaded machine gets more rounds, not a weaker check. After the
/// first batch of [`BATCH`] rounds, a batch is sized to what is still missing.
/// `call` gets the worker and the round, numbered across batches. Stops at the first
/// failed call; every call has returned when this does. Returns the answers and how
/// many rounds raced.
async fn race<T, F, Fut>(
    stores: &[SharedStore],
    min_rounds: usize,
    call: F,
) -> (Vec<Answer<T>>, usize)
where
    T: Send + 'static,
    F: Fn(SharedStore, usize, usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<T, String>> + Send + 'static,
{
    let mut all = Vec::new();
    let (mut done, mut together, mut spinning) = (0, 0, first_spinners());
    loop {
        let size = next_batch(done, together, min_rounds);
        if size == 0 {
            break;
        }
        let call = call.clone();
        let answers = bursts(stores, WORKERS, spinning, size, move |store, w, r| {
            call(store, w, done + r)
        })
        .await;
        let raced = rounds_started_together(&answers);
        together += raced;
        spinning = next_spinners(spinning, size, raced);
        let failed = answers.iter().any(|(_, _, a, _)| a.is_err());
        all.extend(
            answers
                .into_iter()
                .map(|(w, r, a, span)| (w, done + r, a, span)),
        );
        done += size;
        if failed {
            break;
        }
    }
    (all, together)
}

/// How many rounds the next batch runs, 0 when enough ran or [`MAX_ROUNDS`] did: twice
/// the racing rounds still missing (most rounds race), and at least what `min_rounds`
/// still asks.
fn next_batch(done: usize, together: usize, min_rounds: usize) -> usize {
    if done == 0 {
        return BATCH;
    }
    let rounds = min_rounds.saturating_sub(done);
    let racing = TOGETHER_ROUNDS.saturating_sub(together);
    if rounds == 0 && racing == 0 {
        return 0;
    }
    rounds
        .max(2 * racing)
        .clamp(MIN_BATCH, BATCH)
        .min(MAX_ROUNDS - done)
}

/// A check whose rounds raced fewer than [`TOGETHER_ROUNDS`] times in [`MAX_ROUNDS`] (a
/// machine busy with other work) passes with a note; one whose calls raced fewer
/// than [`MIN_RACED`] times has not shown that the store handles racing calls at
/// all: inconclusive, not a pass.
fn raced_enough(what: &str, together: usize) -> Result<(), Failure> {
    if together >= TOGETHER_ROUNDS {
        return Ok(());
    }
    if together >= MIN_RACED {
        tracing::info!(
            "note: {what}: only {together} of {TOGETHER_ROUNDS} rounds raced in {MAX_ROUNDS} \
             (the machine was busy); the pass is weaker than on a quieter machine"
        );
        return Ok(());
    }
    Err(Failure::inconclusive(
        vec![what.to_owned()],
        format!("{TOGETHER_ROUNDS} rounds whose calls started within {TOGETHER:?} of each other"),
        format!(
            "{together} such rounds in {MAX_ROUNDS}: the machine was too busy to race the \
             calls; run the check again on a less loaded machine"
        ),
    ))
}

/// Workers racing in rounds save at least 1 000 distinct new users: every save
/// succeeds, ids are distinct, and every row is there exactly once. `clause` is the
/// check's own (`concurrency.distinct`, or `concurrency.multi-instance` on two
/// instances); colliding ids fail `id.unique` as well.
pub async fn distinct(stores: &[SharedStore], clause: &str) -> Result<(), Failure> {
    let what = format!(
        "rounds of {WORKERS} workers saving distinct new users, at least {DISTINCT_USERS}, \
         on {} instance(s)",
        stores.len()
    );
    let min_rounds = DISTINCT_USERS.div_ceil(WORKERS);
    let (answers, together) = race(stores, min_rounds, |store, w, r| async move {
        let n = r * WORKERS + w;
        let token = distinct_token(n);
        let id = store.save_token(&token).await;
        id.map(|id| (n, id))
            .map_err(|e| format!("saving user {n}: {}", error_text(&e, &[token])))
    })
    .await;
    first_error(&what, &answers)?;
    let saved: Vec<(usize, String)> = answers
        .into_iter()
        .filter_map(|(_, _, a, _)| a.ok())
        .collect();
    if let Some((ids, saves)) = shared_ids(&saved) {
        return Err(failure(
            &what,
            format!("{saves} distinct ids"),
            format!("{ids} distinct ids: new rows got the same id"),
        )
        .breaking(&[clause, "id.unique"]));
    }
    let rows = stores[0].get_tokens().await.map_err(|e| {
        let written: Vec<Token> = saved.iter().map(|(n, _)| distinct_token(*n)).collect();
        failure(&what, "get_tokens succeeds", error_text(&e, &written))
    })?;
    let mut count: HashMap<TokenKey, usize> = HashMap::new();
    for row in &rows {
        *count.entry(TokenKey::of(row)).or_default() += 1;
    }
    for (n, id) in &saved {
        let want = distinct_token(*n).with(Field::Id, id);
        match count.get(&TokenKey::of(&want)) {
            Some(1) => {}
            Some(k) => {
                return Err(failure(
                    &what,
                    format!("one row {}", describe(&want)),
                    format!("{k} identical rows"),
                ));
            }
            None => {
                return Err(failure(
                    &what,
                    format!("row {}", describe(&want)),
                    "missing or changed",
                ));
            }
        }
    }
    if rows.len() != saved.len() {
        return Err(failure(
            &what,
            format!("{} rows", saved.len()),
            format!("{} rows", rows.len()),
        ));
    }
    raced_enough(&what, together)
}

/// When saves got the same id: how many distinct ids, for how many saves. Counted
/// over the first [`DISTINCT_USERS`] users when they show it, so that a store whose
/// ids collide the same way every time fails with the same words, however many rounds
/// the machine's load asked for; over every save otherwise.
fn shared_ids(saved: &[(usize, String)]) -> Option<(usize, usize)> {
    let count = |saves: &[&(usize, String)]| {
        let ids: HashSet<&str> = saves.iter().map(|(_, id)| id.as_str()).collect();
        (ids.len() != saves.len()).then_some((ids.len(), saves.len()))
    };
    let first: Vec<_> = saved.iter().filter(|(n, _)| *n < DISTINCT_USERS).collect();
    count(&first).or_else(|| count(&saved.iter().collect::<Vec<_>>()))
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

/// Workers racing in rounds save full tokens for one new user each round (so that
/// every round races the insert): all saves succeed, one id per user, and one row per
/// user remains, equal to one of the written tokens (no field-wise mix).
pub async fn same_user(stores: &[SharedStore]) -> Result<(), Failure> {
    let what = format!(
        "rounds of {WORKERS} workers saving full tokens for one new user each round, \
         on {} instance(s)",
        stores.len()
    );
    let (answers, together) = race(stores, 0, |store, w, r| {
        let token = versioned(&same_user_name(r), w);
        async move {
            let saved = store.save_token(&token).await;
            saved.map_err(|e| error_text(&e, &[token]))
        }
    })
    .await;
    first_error(&what, &answers)?;
    check_one_row_each(stores, &what, &answers).await?;
    raced_enough(&what, together)
}

fn same_user_name(round: usize) -> String {
    format!("same{round}@example.com")
}

/// Every round's saves gave one id, and left one whole row for its user.
async fn check_one_row_each(
    stores: &[SharedStore],
    what: &str,
    answers: &[Answer<String>],
) -> Result<(), Failure> {
    let rows = stores[0].get_tokens().await.map_err(|e| {
        let written: Vec<Token> = answers
            .iter()
            .map(|(w, r, _, _)| versioned(&same_user_name(*r), *w))
            .collect();
        failure(what, "get_tokens succeeds", error_text(&e, &written))
    })?;
    let mut by_user: HashMap<&str, Vec<&Token>> = HashMap::new();
    for row in &rows {
        by_user
            .entry(row.user_name().unwrap_or(""))
            .or_default()
            .push(row);
    }
    let rounds = answers.iter().map(|(_, r, _, _)| r + 1).max().unwrap_or(0);
    for round in 0..rounds {
        let ids: HashSet<&String> = answers
            .iter()
            .filter(|(_, r, _, _)| *r == round)
            .filter_map(|(_, _, a, _)| a.as_ref().ok())
            .collect();
        let name = same_user_name(round);
        if ids.len() != 1 {
            return Err(failure(
                what,
                "one id for every save of a user",
                format!("{name}: {} ids", ids.len()),
            ));
        }
        match by_user.get(name.as_str()).map(Vec::as_slice) {
            Some([row]) if version_of(row).is_some() => {}
            Some([row]) => {
                return Err(failure(
                    what,
                    "one of the written tokens",
                    format!("{name}: a mix: {}", describe(row)),
                ));
            }
            other => {
                return Err(failure(
                    what,
                    "exactly one row for the user",
                    format!("{name}: {} rows", other.map_or(0, <[_]>::len)),
                ));
            }
        }
    }
    Ok(())
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
    // Every token the check writes, so that no error shows their secrets.
    let written: Arc<Vec<Token>> =
        Arc::new((0..=WRITERS * SAVES).map(|v| versioned(user, v)).collect());
    let id = stores[0]
        .save_token(&written[0])
        .await
        .map_err(|e| failure(&what, "the first save succeeds", error_text(&e, &written)))?;
    let done = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for r in 0..READERS {
        let (store, done, id) = (pick(stores, r + 1), done.clone(), id.clone());
        let written = written.clone();
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
                        Err(e) => return Err(error_text(&e, &written)),
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
        let (store, written) = (pick(stores, w), written.clone());
        writers.push(tokio::spawn(async move {
            for s in 0..SAVES {
                let token = &written[1 + w * SAVES + s];
                store
                    .save_token(token)
                    .await
                    .map_err(|e| error_text(&e, std::slice::from_ref(token)))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_run_until_enough_rounds_raced_and_no_further() {
        assert_eq!(next_batch(0, 0, 0), BATCH);
        // Most rounds raced: a small batch for the few missing, not a whole one.
        assert_eq!(next_batch(128, 127, 125), MIN_BATCH);
        assert_eq!(next_batch(128, 100, 125), 2 * 28);
        // Rounds the check itself needs come first.
        assert_eq!(next_batch(64, 120, 125), 61);
        assert_eq!(next_batch(128, 128, 125), 0);
        assert_eq!(next_batch(MAX_ROUNDS - 10, 3, 0), 10);
        assert_eq!(next_batch(MAX_ROUNDS, 3, 0), 0);
    }

    #[test]
    fn a_batch_that_raced_too_rarely_makes_every_thread_spin() {
        assert!(first_spinners() <= WORKERS);
        assert_eq!(next_spinners(4, 64, 40), 4);
        assert_eq!(next_spinners(4, 64, 31), WORKERS);
        // Once every thread spins, it stays so.
        assert_eq!(next_spinners(WORKERS, 64, 64), WORKERS);
    }

    #[test]
    fn shared_ids_are_counted_over_the_first_users_whatever_the_rounds() {
        // Ids that collide after the tenth save, over 1 000 or 1 296 saves alike.
        let saves = |n: usize| -> Vec<(usize, String)> {
            (0..n).map(|i| (i, i.min(9).to_string())).collect()
        };
        assert_eq!(shared_ids(&saves(1000)), Some((10, 1000)));
        assert_eq!(shared_ids(&saves(1296)), Some((10, 1000)));
        // A collision only among the later saves is still found.
        let mut late: Vec<(usize, String)> = (0..1100).map(|i| (i, i.to_string())).collect();
        late[1099].1 = "1050".to_owned();
        assert_eq!(shared_ids(&late), Some((1099, 1100)));
        assert_eq!(shared_ids(&saves(5)[..1]), None);
    }

    #[test]
    fn too_few_raced_rounds_make_the_check_inconclusive_not_passed() {
        assert!(raced_enough("w", TOGETHER_ROUNDS).is_ok());
        assert!(raced_enough("w", MIN_RACED).is_ok());
        let short = raced_enough("w", MIN_RACED - 1).unwrap_err();
        assert!(short.inconclusive);
        assert!(short.actual.contains("7 such rounds in 1024"));
    }
}
