//! Every operation × store × size, with raw-engine baselines and a naive
//! connection-per-call store measured in the same run, so overheads are ratios.
//!
//! `cargo bench -p tokenstore-stores` (MySQL joins when TOKENSTORE_MYSQL_URL is set,
//! PostgreSQL when TOKENSTORE_POSTGRES_URL is, Redis when TOKENSTORE_REDIS_URL is).
//! `TOKENSTORE_BENCH_SIZES=10,1000` limits the sizes. BENCHMARKS.md has the results.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use mysql_async::prelude::Queryable;
use rusqlite::OptionalExtension;
use tokenstore_harness::bench::bench_token;
use tokenstore_harness::random::{self, TestRng};
use tokenstore_harness::{BoxFuture, DynTokenStore, Field, StoreError, Token, TokenStore};
use tokenstore_stores::scratch_name;
use tokenstore_stores::{
    ListStore, MemoryStore, MysqlServer, PostgresServer, RedisServer, SqliteStore,
};

/// The servers configured in the environment.
struct Servers {
    mysql: Option<MysqlServer>,
    postgres: Option<PostgresServer>,
    /// The server and its URL (the baselines open their own connection).
    redis: Option<(RedisServer, String)>,
}

impl Servers {
    fn from_env(rt: &tokio::runtime::Runtime) -> Self {
        let url = |var| std::env::var(var).ok().filter(|u: &String| !u.is_empty());
        Servers {
            mysql: url("TOKENSTORE_MYSQL_URL")
                .map(|u| MysqlServer::new(&u).expect("a valid MySQL URL")),
            postgres: url("TOKENSTORE_POSTGRES_URL")
                .map(|u| PostgresServer::new(&u).expect("a valid PostgreSQL URL")),
            redis: url("TOKENSTORE_REDIS_URL").map(|u| {
                let server = rt
                    .block_on(RedisServer::connect(&u))
                    .expect("Redis connects");
                (server, u)
            }),
        }
    }
}

/// The list store scans linearly; past this many tokens a fill takes minutes.
const LIST_MAX: usize = 10_000;

type Store = Arc<DynTokenStore<'static>>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

fn sizes() -> Vec<usize> {
    std::env::var("TOKENSTORE_BENCH_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 1_000, 100_000])
}

/// The harness's benchmark token, with id `n + 1` and a grant token.
fn token(n: usize) -> Token {
    bench_token(n)
        .with(Field::Id, &(n + 1).to_string())
        .with(Field::GrantToken, &format!("1000.{n:06}.grant"))
}

/// Pseudo-random keys from the stored set, so a scan reads N/2 rows on average.
struct Keys(TestRng, usize);

impl Keys {
    fn new(seed: u64, n: usize) -> Self {
        Keys(random::seeded(seed), n)
    }

    fn next(&mut self) -> usize {
        random::below(&mut self.0, self.1)
    }
}

/// `iters` tokens not stored yet, with ids `{tag}{n}` numbered on from `next`.
fn numbered(next: &mut u64, iters: u64, tag: &str) -> Vec<Token> {
    (0..iters)
        .map(|_| {
            *next += 1;
            token(*next as usize).with(Field::Id, &format!("{tag}{next}"))
        })
        .collect()
}

fn probe(field: Field, n: usize) -> Token {
    let t = token(n);
    let mut p = Token::new();
    match field {
        Field::UserName | Field::AccessToken => p.set(field, t.get(field)),
        _ => {
            p.set(Field::ClientId, t.get(Field::ClientId));
            p.set(Field::ClientSecret, t.get(Field::ClientSecret));
            p.set(field, t.get(field));
        }
    }
    p
}

/// The stores under test at one size, filled with tokens 0..n.
struct Fixture {
    name: &'static str,
    n: usize,
    store: Store,
    _keep: Option<tempfile::TempDir>,
    /// Drops a server fixture's table or schema at the end.
    cleanup: Option<BoxFuture<'static, Result<(), StoreError>>>,
}

fn fill(rt: &tokio::runtime::Runtime, n: usize, servers: &Servers) -> Vec<Fixture> {
    let tokens: Vec<Token> = (0..n).map(token).collect();
    let mut out = Vec::new();
    let memory = MemoryStore::new();
    let list = ListStore::new();
    rt.block_on(async {
        for t in &tokens {
            memory.save_token(t).await.expect("memory saves");
            if n <= LIST_MAX {
                list.save_token(t).await.expect("list saves");
            }
        }
    });
    out.push(Fixture {
        name: "memory",
        n,
        store: DynTokenStore::new_arc(memory),
        _keep: None,
        cleanup: None,
    });
    if n <= LIST_MAX {
        out.push(Fixture {
            name: "list",
            n,
            store: DynTokenStore::new_arc(list),
            _keep: None,
            cleanup: None,
        });
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = SqliteStore::open(dir.path().join("tokens.db")).expect("sqlite opens");
    sqlite.import(&tokens).expect("sqlite imports");
    out.push(Fixture {
        name: "sqlite",
        n,
        store: DynTokenStore::new_arc(sqlite),
        _keep: Some(dir),
        cleanup: None,
    });
    if let Some((server, _)) = &servers.redis {
        let store = server.store(&scratch_name()).expect("redis opens");
        rt.block_on(async {
            for t in &tokens {
                store.save_token(t).await.expect("redis saves");
            }
        });
        let cleanup = Some(Box::pin(store.drop_keys()) as _);
        out.push(Fixture {
            name: "redis",
            n,
            store: DynTokenStore::new_arc(store),
            _keep: None,
            cleanup,
        });
    }
    if let Some(server) = &servers.postgres {
        let store = rt.block_on(async {
            let store = server.store(&scratch_name()).await.expect("postgres opens");
            store.import(&tokens).await.expect("postgres imports");
            store
        });
        let cleanup = Some(Box::pin(store.drop_schema()) as _);
        out.push(Fixture {
            name: "postgres",
            n,
            store: DynTokenStore::new_arc(store),
            _keep: None,
            cleanup,
        });
    }
    if let Some(server) = &servers.mysql {
        let store = rt.block_on(async {
            let store = server.store(&scratch_name()).await.expect("mysql opens");
            store.import(&tokens).await.expect("mysql imports");
            store
        });
        let cleanup = Some(Box::pin(store.drop_tables()) as _);
        out.push(Fixture {
            name: "mysql",
            n,
            store: DynTokenStore::new_arc(store),
            _keep: None,
            cleanup,
        });
    }
    out
}

/// Times `iters` calls of `op` inside one `block_on`.
fn timed<F, Fut>(rt: &tokio::runtime::Runtime, iters: u64, mut op: F) -> Duration
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    rt.block_on(async {
        let start = Instant::now();
        for i in 0..iters {
            op(i).await;
        }
        start.elapsed()
    })
}

fn bench_finds(
    g: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    f: &Fixture,
    field: Field,
) {
    g.bench_function(BenchmarkId::new(f.name, f.n), |b| {
        let mut keys = Keys::new(0x9E37_79B9_7F4A_7C15, f.n);
        b.iter_custom(|iters| {
            let probes: Vec<Token> = (0..iters).map(|_| probe(field, keys.next())).collect();
            timed(rt, iters, |i| {
                let store = f.store.clone();
                let p = &probes[i as usize];
                async move {
                    black_box(store.find_token(p).await.expect("finds"));
                }
            })
        })
    });
}

fn all_benches(c: &mut Criterion) {
    let rt = runtime();
    let servers = Servers::from_env(&rt);
    let fixtures: Vec<Fixture> = sizes()
        .into_iter()
        .flat_map(|n| fill(&rt, n, &servers))
        .collect();

    for (group, field) in [
        ("find-by-user", Field::UserName),
        ("find-by-access", Field::AccessToken),
        ("find-by-grant", Field::GrantToken),
        ("find-by-refresh", Field::RefreshToken),
    ] {
        let mut g = c.benchmark_group(group);
        for f in &fixtures {
            bench_finds(&mut g, &rt, f, field);
        }
        if field == Field::UserName {
            baselines_find(&mut g, &rt, &fixtures, &servers);
        }
        g.finish();
    }

    let mut g = c.benchmark_group("find-by-id");
    for f in &fixtures {
        g.bench_function(BenchmarkId::new(f.name, f.n), |b| {
            let mut keys = Keys::new(7, f.n);
            b.iter_custom(|iters| {
                let ids: Vec<String> = (0..iters).map(|_| (keys.next() + 1).to_string()).collect();
                timed(&rt, iters, |i| {
                    let (store, id) = (f.store.clone(), ids[i as usize].clone());
                    async move {
                        black_box(store.find_token_by_id(&id).await.expect("finds"));
                    }
                })
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("save-update");
    for f in &fixtures {
        g.bench_function(BenchmarkId::new(f.name, f.n), |b| {
            let mut keys = Keys::new(11, f.n);
            let mut round = 0u64;
            b.iter_custom(|iters| {
                round += 1;
                let updates: Vec<Token> = (0..iters)
                    .map(|i| {
                        let n = keys.next();
                        Token::new()
                            .with(Field::UserName, &format!("user{n:06}@example.com"))
                            .with(
                                Field::AccessToken,
                                &format!("1000.{n:06}.access.r{round}.{i}"),
                            )
                    })
                    .collect();
                timed(&rt, iters, |i| {
                    let (store, t) = (f.store.clone(), &updates[i as usize]);
                    async move {
                        black_box(store.save_token(t).await.expect("saves"));
                    }
                })
            })
        });
    }
    baselines_save(&mut g, &rt, &fixtures);
    g.finish();

    let mut g = c.benchmark_group("save-insert");
    for f in &fixtures {
        g.bench_function(BenchmarkId::new(f.name, f.n), |b| {
            let mut next = 10_000_000u64;
            b.iter_custom(|iters| {
                let fresh = numbered(&mut next, iters, "i");
                let d = timed(&rt, iters, |i| {
                    let (store, t) = (f.store.clone(), &fresh[i as usize]);
                    async move {
                        black_box(store.save_token(t).await.expect("inserts"));
                    }
                });
                // Keep the size: the inserted tokens go again (not timed).
                rt.block_on(async {
                    for t in &fresh {
                        let _ = f.store.delete_token(t.id().unwrap_or_default()).await;
                    }
                });
                d
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("delete-token");
    for f in &fixtures {
        g.bench_function(BenchmarkId::new(f.name, f.n), |b| {
            let mut next = 0u64;
            b.iter_custom(|iters| {
                let fresh = numbered(&mut next, iters, "d");
                rt.block_on(async {
                    for t in &fresh {
                        f.store.save_token(t).await.expect("inserts");
                    }
                });
                timed(&rt, iters, |i| {
                    let (store, t) = (f.store.clone(), &fresh[i as usize]);
                    async move {
                        store
                            .delete_token(t.id().unwrap_or_default())
                            .await
                            .expect("deletes");
                    }
                })
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("get-tokens");
    for f in &fixtures {
        g.bench_function(BenchmarkId::new(f.name, f.n), |b| {
            b.iter_custom(|iters| {
                timed(&rt, iters, |_| {
                    let store = f.store.clone();
                    async move {
                        black_box(store.get_tokens().await.expect("lists"));
                    }
                })
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("mixed-90-find-10-save");
    for f in fixtures.iter().filter(|f| f.n == 1_000) {
        for tasks in [1u64, 8, 64] {
            g.bench_function(
                BenchmarkId::new(format!("{}/{tasks}-tasks", f.name), f.n),
                |b| b.iter_custom(|iters| mixed(&rt, &f.store, f.n, tasks, iters)),
            );
        }
    }
    g.finish();
    two_instances(c, &rt);
    for f in fixtures {
        if let Some(cleanup) = f.cleanup {
            rt.block_on(cleanup).expect("drops the MySQL table");
        }
    }
}

/// Two threads inserting new tokens into one SQLite file, half each: through two
/// instances of the store (as two processes of an app would, waiting for each other's
/// write lock), through one instance (the baseline: no lock to wait for), and through
/// two raw connections (the engine's own cost of two writers).
fn two_instances(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("two.db");
    let a = SqliteStore::open(&path).expect("opens");
    let b = SqliteStore::open(&path).expect("opens again");
    let mut g = c.benchmark_group("save-two-instances");
    let mut next = 0u64;
    for (name, stores) in [
        ("sqlite-one-instance", [&a, &a]),
        ("sqlite-two-instances", [&a, &b]),
    ] {
        g.bench_function(name, |bench| {
            bench.iter_custom(|iters| {
                let fresh = numbered(&mut next, iters, "w");
                let start = Instant::now();
                std::thread::scope(|s| {
                    for (half, store) in halves(&fresh).zip(stores) {
                        s.spawn(move || {
                            rt.block_on(async {
                                for t in half {
                                    black_box(store.save_token(t).await.expect("saves"));
                                }
                            })
                        });
                    }
                });
                start.elapsed()
            })
        });
    }
    let mut conns = [raw_connection(&path), raw_connection(&path)];
    g.bench_function("baseline-rusqlite-two-connections", |bench| {
        bench.iter_custom(|iters| {
            let fresh = numbered(&mut next, iters, "r");
            let start = Instant::now();
            std::thread::scope(|s| {
                for (half, conn) in halves(&fresh).zip(conns.iter_mut()) {
                    s.spawn(move || {
                        for t in half {
                            let row = (t.id(), t.user_name(), t.get(Field::AccessToken));
                            black_box(conn.execute(INSERT, row).expect("inserts"));
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
    g.finish();
}

/// The two halves of a batch (the second may be empty).
fn halves(tokens: &[Token]) -> impl Iterator<Item = &[Token]> {
    let (first, second) = tokens.split_at(tokens.len().div_ceil(2));
    [first, second].into_iter()
}

/// `iters` operations, 90 % finds and 10 % saves, spread over `tasks` tasks.
fn mixed(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    n: usize,
    tasks: u64,
    iters: u64,
) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        let mut handles = Vec::new();
        for t in 0..tasks {
            let store = store.clone();
            let share = iters / tasks + u64::from(t < iters % tasks);
            handles.push(tokio::spawn(async move {
                let mut keys = Keys::new(t + 3, n);
                for i in 0..share {
                    let k = keys.next();
                    if i % 10 == 9 {
                        let u = Token::new()
                            .with(Field::UserName, &format!("user{k:06}@example.com"))
                            .with(Field::ExpiryTime, &i.to_string());
                        black_box(store.save_token(&u).await.expect("saves"));
                    } else {
                        black_box(
                            store
                                .find_token(&probe(Field::UserName, k))
                                .await
                                .expect("finds"),
                        );
                    }
                }
            }));
        }
        for h in handles {
            h.await.expect("no panic");
        }
        start.elapsed()
    })
}

/// The engines without a store: a HashMap get + clone, a cached rusqlite point query on
/// the same file, a naive store that opens a connection per call, `SELECT 1` on a held
/// MySQL or PostgreSQL connection, Redis `PING` and `HGETALL` of one hash (round trips).
fn baselines_find(
    g: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    fixtures: &[Fixture],
    servers: &Servers,
) {
    for f in fixtures.iter().filter(|f| f.name == "sqlite") {
        let map: HashMap<String, Token> = (0..f.n)
            .map(|n| (format!("user{n:06}@example.com"), token(n)))
            .collect();
        by_name(g, "baseline-hashmap-get-clone", f.n, |name| {
            black_box(map.get(name).cloned());
        });
        let path = db_path(f);
        let conn = raw_connection(&path);
        by_name(g, "baseline-rusqlite-point-query", f.n, |name| {
            let mut st = conn.prepare_cached(POINT_QUERY).expect("prepares");
            black_box(
                st.query_row([name], row_values)
                    .optional()
                    .expect("queries"),
            );
        });
        if f.n == 1_000 {
            by_name(g, "naive-sqlite-connection-per-call", f.n, |name| {
                let conn = rusqlite::Connection::open(&path).expect("opens");
                let mut st = conn.prepare(POINT_QUERY).expect("prepares");
                black_box(
                    st.query_row([name], row_values)
                        .optional()
                        .expect("queries"),
                );
            });
        }
    }
    if let Some((_, url)) = &servers.redis {
        let client = ::redis::Client::open(url.as_str()).expect("a Redis URL");
        let mut conn = rt
            .block_on(client.get_multiplexed_async_connection())
            .expect("connects");
        let hash = format!("{{{}}}:baseline", scratch_name());
        let fields: Vec<(&str, String)> = Field::ALL
            .iter()
            .filter_map(|f| Some((f.name(), token(0).get(*f)?.to_owned())))
            .collect();
        rt.block_on(async {
            let _: () = ::redis::cmd("HSET")
                .arg(&hash)
                .arg(&fields)
                .query_async(&mut conn)
                .await
                .expect("writes the hash");
        });
        for (name, command) in [("ping", "PING"), ("hgetall-one-hash", "HGETALL")] {
            g.bench_function(format!("baseline-redis-{name}"), |b| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let start = Instant::now();
                        for _ in 0..iters {
                            let mut cmd = ::redis::cmd(command);
                            if command == "HGETALL" {
                                cmd.arg(&hash);
                            }
                            let reply: ::redis::Value =
                                cmd.query_async(&mut conn).await.expect("answers");
                            black_box(reply);
                        }
                        start.elapsed()
                    })
                })
            });
        }
        rt.block_on(async {
            let _: i64 = ::redis::cmd("DEL")
                .arg(&hash)
                .query_async(&mut conn)
                .await
                .expect("deletes");
        });
    }
    if let Some(server) = &servers.postgres {
        g.bench_function("baseline-postgres-select-1-held-connection", |b| {
            let client = rt.block_on(server.client()).expect("connects");
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let st = client.prepare_cached("SELECT 1").await.expect("prepares");
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(client.query_one(&st, &[]).await.expect("selects"));
                    }
                    start.elapsed()
                })
            })
        });
    }
    if let Some(server) = &servers.mysql {
        g.bench_function("baseline-mysql-select-1-held-connection", |b| {
            let mut conn = rt.block_on(server.conn()).expect("connects");
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let one: Option<u8> = conn.query_first("SELECT 1").await.expect("selects");
                        black_box(one);
                    }
                    start.elapsed()
                })
            })
        });
    }
}

/// Times `query` on random user names of a store of `n` tokens (the names are drawn
/// before the clock starts).
fn by_name(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    n: usize,
    mut query: impl FnMut(&str),
) {
    g.bench_function(BenchmarkId::new(name, n), |b| {
        let mut keys = Keys::new(0x9E37_79B9_7F4A_7C15, n);
        b.iter_custom(|iters| {
            let names: Vec<String> = (0..iters)
                .map(|_| format!("user{:06}@example.com", keys.next()))
                .collect();
            let start = Instant::now();
            for name in &names {
                query(name);
            }
            start.elapsed()
        })
    });
}

/// (user name, new access token) pairs for `iters` upserts of existing users.
fn updates(keys: &mut Keys, iters: u64, tag: &str) -> Vec<(String, String)> {
    (0..iters)
        .map(|i| {
            let n = keys.next();
            (
                format!("user{n:06}@example.com"),
                format!("1000.{n:06}.access.{tag}.{i}"),
            )
        })
        .collect()
}

const POINT_QUERY: &str = "SELECT id, user_name, client_id, client_secret, refresh_token, access_token, \
     grant_token, expiry_time, redirect_url, api_domain FROM oauthtoken WHERE user_name = ?1";
const INSERT: &str = "INSERT INTO oauthtoken (id, user_name, access_token) VALUES (?1, ?2, ?3)";
const UPSERT: &str = "INSERT INTO oauthtoken (id, user_name, access_token) VALUES (?1, ?2, ?3) \
     ON CONFLICT(user_name) DO UPDATE SET access_token = excluded.access_token";

fn db_path(f: &Fixture) -> PathBuf {
    f.store
        .files()
        .into_iter()
        .next()
        .expect("the sqlite store names its file")
}

/// A connection set up as the store's: WAL, synchronous=FULL.
fn raw_connection(path: &PathBuf) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).expect("opens");
    conn.pragma_update(None, "synchronous", "FULL")
        .expect("pragma");
    conn.busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    conn
}

fn row_values(r: &rusqlite::Row<'_>) -> rusqlite::Result<Vec<Option<String>>> {
    (0..10).map(|i| r.get(i)).collect()
}

fn baselines_save(
    g: &mut BenchmarkGroup<'_, WallTime>,
    _rt: &tokio::runtime::Runtime,
    fixtures: &[Fixture],
) {
    for f in fixtures.iter().filter(|f| f.name == "sqlite") {
        let path = db_path(f);
        let conn = raw_connection(&path);
        g.bench_function(BenchmarkId::new("baseline-rusqlite-upsert", f.n), |b| {
            let mut keys = Keys::new(11, f.n);
            let mut round = 0u64;
            b.iter_custom(|iters| {
                round += 1;
                let rows = updates(&mut keys, iters, &format!("raw{round}"));
                let start = Instant::now();
                for (user, access) in &rows {
                    let mut st = conn.prepare_cached(UPSERT).expect("prepares");
                    black_box(st.execute(("x", user, access)).expect("upserts"));
                }
                start.elapsed()
            })
        });
        if f.n == 1_000 {
            g.bench_function(
                BenchmarkId::new("naive-sqlite-connection-per-call", f.n),
                |b| {
                    let mut keys = Keys::new(11, f.n);
                    let mut round = 0u64;
                    b.iter_custom(|iters| {
                        round += 1;
                        let rows = updates(&mut keys, iters, &format!("naive{round}"));
                        let start = Instant::now();
                        for (user, access) in &rows {
                            let conn = rusqlite::Connection::open(&path).expect("opens");
                            conn.execute(UPSERT, ("x", user, access)).expect("upserts");
                        }
                        start.elapsed()
                    })
                },
            );
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .without_plots();
    targets = all_benches
}
criterion_main!(benches);
