//! A standard workload for comparing stores: each operation timed call by call on a
//! store filled with `size` tokens. `tokenstore bench` renders it; a Rust user can
//! run it on their own store through [`run`].

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::fixture::{Factory, SetupError, SharedStore};
use crate::store::TokenStore;
use crate::token::{Field, Token};

/// How big the store is and how many calls each operation gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Tokens in the store before the calls.
    pub size: usize,
    /// Calls per operation.
    pub calls: usize,
}

impl Workload {
    /// 1 000 tokens, 2 000 calls per operation.
    pub const STANDARD: Workload = Workload {
        size: 1_000,
        calls: 2_000,
    };
    /// Small enough to finish in seconds.
    pub const QUICK: Workload = Workload {
        size: 200,
        calls: 200,
    };
}

/// One operation on one store.
#[derive(Clone, Debug, Serialize)]
pub struct Measured {
    /// The store's name.
    pub store: String,
    /// The operation.
    pub op: BenchOp,
    /// Calls made.
    pub calls: usize,
    /// Calls per second.
    pub ops_per_sec: f64,
    /// Median latency, microseconds.
    pub p50_us: f64,
    /// 99th-percentile latency, microseconds.
    pub p99_us: f64,
}

/// An operation the benchmark times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BenchOp {
    /// `find_token` by user name.
    #[serde(rename = "find by user")]
    FindByUser,
    /// `find_token` by access token.
    #[serde(rename = "find by access token")]
    FindByAccess,
    /// `find_token_by_id`.
    #[serde(rename = "find_token_by_id")]
    FindById,
    /// `save_token` of a token that updates a stored row.
    #[serde(rename = "save (update)")]
    Update,
    /// `save_token` of a new token.
    #[serde(rename = "save (insert)")]
    Insert,
    /// `delete_token` of a row an insert added.
    #[serde(rename = "delete_token")]
    Delete,
    /// `get_tokens`.
    #[serde(rename = "get_tokens")]
    GetTokens,
}

impl BenchOp {
    /// Every operation, in report order.
    pub const ALL: [BenchOp; 7] = [
        BenchOp::FindByUser,
        BenchOp::FindByAccess,
        BenchOp::FindById,
        BenchOp::Update,
        BenchOp::Insert,
        BenchOp::Delete,
        BenchOp::GetTokens,
    ];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            BenchOp::FindByUser => "find by user",
            BenchOp::FindByAccess => "find by access token",
            BenchOp::FindById => "find_token_by_id",
            BenchOp::Update => "save (update)",
            BenchOp::Insert => "save (insert)",
            BenchOp::Delete => "delete_token",
            BenchOp::GetTokens => "get_tokens",
        }
    }
}

impl std::fmt::Display for BenchOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// A realistic token (about 330 bytes in 10 fields).
pub fn bench_token(n: usize) -> Token {
    Token::new()
        .with(Field::UserName, &format!("user{n:06}@example.com"))
        .with(Field::ClientId, "1000.ABCDEFGHIJKLMNOPQRSTUVWXYZ01234")
        .with(
            Field::ClientSecret,
            "0123456789abcdef0123456789abcdef0123456789",
        )
        .with(
            Field::RefreshToken,
            &format!("1000.{n:06}.refresh.0123456789abcdef0123456789abcdef0123456789abcdef0"),
        )
        .with(
            Field::AccessToken,
            &format!("1000.{n:06}.access.0123456789abcdef0123456789abcdef0123456789abcdef01"),
        )
        .with(Field::ExpiryTime, "1700000000000")
        .with(Field::RedirectUrl, "https://example.com/oauth/callback")
        .with(Field::ApiDomain, "https://www.zohoapis.com")
}

fn failed(op: impl std::fmt::Display, e: impl std::fmt::Display) -> SetupError {
    SetupError(format!("{op} failed during the benchmark: {e}"))
}

/// Fills a fresh store and times every operation; `progress` hears of each step.
pub async fn run(
    name: &str,
    factory: &Factory,
    work: Workload,
    mut progress: impl FnMut(&str),
) -> Result<Vec<Measured>, SetupError> {
    let fixture = factory().await?;
    let store = fixture.store.clone();
    progress(&format!("{name}: filling {} tokens", work.size));
    let mut ids = Vec::with_capacity(work.size);
    for n in 0..work.size {
        ids.push(
            store
                .save_token(&bench_token(n))
                .await
                .map_err(|e| failed("save", e))?,
        );
    }
    let mut out = Vec::new();
    for op in BenchOp::ALL {
        progress(&format!("{name}: {op}"));
        let calls = if op == BenchOp::GetTokens {
            (work.calls / 40).max(5)
        } else {
            work.calls
        };
        let times = time_op(&store, op, calls, work.size, &ids).await?;
        out.push(summarize(name, op, times));
    }
    drop(store);
    fixture.finish().await;
    Ok(out)
}

async fn time_op(
    store: &SharedStore,
    op: BenchOp,
    calls: usize,
    size: usize,
    ids: &[String],
) -> Result<Vec<Duration>, SetupError> {
    let mut times = Vec::with_capacity(calls);
    let mut rng = crate::random::seeded(0x9E37_79B9_7F4A_7C15);
    let mut next = || crate::random::below(&mut rng, size);
    for i in 0..calls {
        let n = next();
        let start = Instant::now();
        match op {
            BenchOp::FindByUser => {
                let p = Token::new().with(Field::UserName, &format!("user{n:06}@example.com"));
                std::hint::black_box(store.find_token(&p).await.map_err(|e| failed(op, e))?);
            }
            BenchOp::FindByAccess => {
                let p = Token::new().with(
                    Field::AccessToken,
                    bench_token(n).get(Field::AccessToken).unwrap_or_default(),
                );
                std::hint::black_box(store.find_token(&p).await.map_err(|e| failed(op, e))?);
            }
            BenchOp::FindById => {
                std::hint::black_box(
                    store
                        .find_token_by_id(&ids[n])
                        .await
                        .map_err(|e| failed(op, e))?,
                );
            }
            BenchOp::Update => {
                let t = Token::new()
                    .with(Field::UserName, &format!("user{n:06}@example.com"))
                    .with(
                        Field::AccessToken,
                        &format!("1000.{n:06}.access.update.{i}"),
                    );
                store.save_token(&t).await.map_err(|e| failed(op, e))?;
            }
            BenchOp::Insert => {
                store
                    .save_token(&bench_token(size + i))
                    .await
                    .map_err(|e| failed(op, e))?;
            }
            BenchOp::Delete => {
                // Deletes what "save (insert)" added, so the size comes back.
                let found = store
                    .find_token(
                        &Token::new()
                            .with(Field::UserName, &format!("user{:06}@example.com", size + i)),
                    )
                    .await
                    .map_err(|e| failed(op, e))?;
                let id = found
                    .and_then(|t| t.id().map(str::to_owned))
                    .unwrap_or_else(|| "missing".to_owned());
                let start = Instant::now();
                store.delete_token(&id).await.map_err(|e| failed(op, e))?;
                times.push(start.elapsed());
                continue;
            }
            BenchOp::GetTokens => {
                std::hint::black_box(store.get_tokens().await.map_err(|e| failed(op, e))?);
            }
        }
        times.push(start.elapsed());
    }
    Ok(times)
}

fn summarize(store: &str, op: BenchOp, mut times: Vec<Duration>) -> Measured {
    times.sort();
    let total: Duration = times.iter().sum();
    let at = |q: f64| {
        times
            .get(((times.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    Measured {
        store: store.to_owned(),
        op,
        calls: times.len(),
        ops_per_sec: times.len() as f64 / total.as_secs_f64().max(1e-9),
        p50_us: at(0.50).as_secs_f64() * 1e6,
        p99_us: at(0.99).as_secs_f64() * 1e6,
    }
}
