//! Fixtures: a fresh store for one check, plus what the check may need besides it —
//! a second instance on the same data, a writer process to kill, a teardown.

use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::store::{DynTokenStore, TokenStore};

/// A boxed future that can move between threads.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A store shared between the tasks of a check.
pub type SharedStore = Arc<DynTokenStore<'static>>;

/// Opens a fresh, empty, isolated fixture each time it is called.
pub type Factory = Arc<dyn Fn() -> BoxFuture<'static, Result<Fixture, SetupError>> + Send + Sync>;

/// Opens another instance of the fixture's store on the same data (a second process
/// would); used by `concurrency.multi-instance` and `durability.*`.
pub type Reopen =
    Arc<dyn Fn() -> BoxFuture<'static, Result<SharedStore, SetupError>> + Send + Sync>;

/// How `durability.crash` starts the writers it kills: child processes that open the
/// fixture's data and save tokens from a given number on, printing `ack <n> <id>`
/// after each acknowledged save (see `tokenstore crash-writer`).
#[derive(Clone)]
pub enum Writer {
    /// The command of one writer, given its first token number; it waits for a line
    /// on stdin before it opens the store.
    Command(Arc<dyn Fn(u64) -> std::process::Command + Send + Sync>),
    /// The command of a crash server, a process that loads the store's code once and
    /// forks a writer on each request (ADAPTERS.md): a slow start (an interpreter
    /// importing an SDK) is then paid once, not at each kill.
    ForkServer(Arc<dyn Fn() -> std::process::Command + Send + Sync>),
}

/// A fresh store, and what a check may need besides it. The teardown runs once the
/// check is done, even when it fails or the store panics.
pub struct Fixture {
    /// The store the check runs on.
    pub store: SharedStore,
    /// How to open a second instance on the same data, if the store can.
    pub reopen: Option<Reopen>,
    /// How to start a writer process for `durability.crash`, if the store can.
    pub writer: Option<Writer>,
    /// What to run once the check is done (drop a table, say).
    pub teardown: Option<BoxFuture<'static, ()>>,
}

impl Fixture {
    /// A fixture holding only this store.
    pub fn new(store: impl TokenStore + 'static) -> Self {
        Fixture {
            store: DynTokenStore::new_arc(store),
            reopen: None,
            writer: None,
            teardown: None,
        }
    }

    /// What to run once the check is done, even when it fails.
    pub fn with_teardown(mut self, teardown: impl Future<Output = ()> + Send + 'static) -> Self {
        self.teardown = Some(Box::pin(teardown));
        self
    }

    /// How to open a second instance on the same data.
    pub fn with_reopen<F, Fut, S, E>(mut self, open: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<S, E>> + Send + 'static,
        S: TokenStore + 'static,
        E: Into<Box<dyn Error + Send + Sync>>,
    {
        self.reopen = Some(Arc::new(move || {
            let fut = open();
            Box::pin(async move {
                fut.await
                    .map(|s| DynTokenStore::new_arc(s))
                    .map_err(|e| SetupError(chain(&*e.into())))
            })
        }));
        self
    }

    /// The writer process `durability.crash` kills: given the first token number, its command.
    pub fn with_writer(
        mut self,
        writer: impl Fn(u64) -> std::process::Command + Send + Sync + 'static,
    ) -> Self {
        self.writer = Some(Writer::Command(Arc::new(writer)));
        self
    }

    /// The crash server that forks the writers `durability.crash` kills: its command.
    pub fn with_fork_server(
        mut self,
        server: impl Fn() -> std::process::Command + Send + Sync + 'static,
    ) -> Self {
        self.writer = Some(Writer::ForkServer(Arc::new(server)));
        self
    }

    /// Runs the teardown, if any.
    pub async fn finish(self) {
        drop(self.store);
        if let Some(teardown) = self.teardown {
            teardown.await;
        }
    }
}

/// The store could not be opened (unreachable server, unwritable directory, ...).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("could not open the store: {0}")]
pub struct SetupError(pub String);

/// Wraps a closure that opens a fresh store into a [`Factory`].
///
/// ```
/// # use tokenstore_harness::{factory, Model};
/// let f = factory(|| async { Ok::<_, String>(Model::new()) });
/// ```
pub fn factory<F, Fut, S, E>(open: F) -> Factory
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<S, E>> + Send + 'static,
    S: TokenStore + 'static,
    E: Into<Box<dyn Error + Send + Sync>>,
{
    fixtures(move || {
        let fut = open();
        async move { fut.await.map(Fixture::new) }
    })
}

/// Wraps a closure that opens a fresh [`Fixture`] into a [`Factory`].
pub fn fixtures<F, Fut, E>(open: F) -> Factory
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Fixture, E>> + Send + 'static,
    E: Into<Box<dyn Error + Send + Sync>>,
{
    Arc::new(move || {
        let fut = open();
        Box::pin(async move { fut.await.map_err(|e| SetupError(chain(&*e.into()))) })
    })
}

/// An error and its sources, joined: "open the database file: permission denied".
pub(crate) fn chain(e: &(dyn Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        // Many errors repeat their source in their own text already.
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}
