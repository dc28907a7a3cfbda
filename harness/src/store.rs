//! The `TokenStore` trait and what a store declares about itself.

use std::path::PathBuf;

use crate::error::StoreError;
use crate::token::{Field, Token};

/// The six operations of the SDK's TokenStore (contract §3).
///
/// Implement it with plain `async fn`s. Generic code takes `S: TokenStore + ?Sized`;
/// code that picks a store at run time holds a [`BoxedStore`]
/// (`DynTokenStore::new_box(store)`). The futures are `Send`, so a store can be
/// shared between tasks on a multi-threaded runtime.
///
/// A store that keeps its rows in the reference model (yours talks to its database):
///
/// ```
/// use std::path::PathBuf;
/// use tokenstore_harness::{Capabilities, Model, StoreError, Token, TokenStore};
///
/// #[derive(Default)]
/// struct MyStore {
///     rows: Model,
/// }
///
/// impl TokenStore for MyStore {
///     fn capabilities(&self) -> Capabilities {
///         Capabilities::default()
///     }
///     fn files(&self) -> Vec<PathBuf> {
///         Vec::new()
///     }
///     async fn find_token(&self, probe: &Token) -> Result<Option<Token>, StoreError> {
///         self.rows.find_token(probe).await
///     }
///     async fn save_token(&self, token: &Token) -> Result<String, StoreError> {
///         self.rows.save_token(token).await
///     }
///     async fn delete_token(&self, id: &str) -> Result<(), StoreError> {
///         self.rows.delete_token(id).await
///     }
///     async fn get_tokens(&self) -> Result<Vec<Token>, StoreError> {
///         self.rows.get_tokens().await
///     }
///     async fn delete_tokens(&self) -> Result<(), StoreError> {
///         self.rows.delete_tokens().await
///     }
///     async fn find_token_by_id(&self, id: &str) -> Result<Option<Token>, StoreError> {
///         self.rows.find_token_by_id(id).await
///     }
/// }
/// ```
#[trait_variant::make(Send)]
#[dynosaur::dynosaur(pub DynTokenStore = dyn(box) TokenStore)]
pub trait TokenStore: Sync {
    /// What the store declares about itself; the harness checks the declaration.
    fn capabilities(&self) -> Capabilities;

    /// Files the store keeps its data in (checked by `security.file-mode`).
    fn files(&self) -> Vec<PathBuf>;

    /// The stored token named by the probe's key, merged into the probe, or `None`.
    async fn find_token(&self, probe: &Token) -> Result<Option<Token>, StoreError>;

    /// Inserts or updates; gives back the row's id.
    async fn save_token(&self, token: &Token) -> Result<String, StoreError>;

    /// Removes the row with this id; a missing id is a no-op.
    async fn delete_token(&self, id: &str) -> Result<(), StoreError>;

    /// Every stored token, complete, in any order.
    async fn get_tokens(&self) -> Result<Vec<Token>, StoreError>;

    /// Removes every token.
    async fn delete_tokens(&self) -> Result<(), StoreError>;

    /// The complete stored token with this id, or `None`.
    async fn find_token_by_id(&self, id: &str) -> Result<Option<Token>, StoreError>;
}

/// A store chosen at run time.
pub type BoxedStore = Box<DynTokenStore<'static>>;

/// What a store declares about itself. `Capabilities::default()` is a store that is
/// not durable, keeps no files, declares no limits, may be shared between threads
/// and says which kind each error is; state only what differs, with the setters:
///
/// ```
/// use tokenstore_harness::{Capabilities, Limits};
///
/// let declared = Capabilities::default().durable(true).limits(Limits::sdk_schema());
/// assert!(declared.durable && !declared.files);
/// ```
///
/// New declarations may be added; the setters keep a store's code unchanged then.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Keeps every acknowledged write across a drop and reopen, and across a crash.
    pub durable: bool,
    /// Why a store that could be durable is not, here: a setting of its server (a
    /// Redis server that keeps nothing on disk). Reports say it with the skips.
    pub not_durable_because: Option<String>,
    /// Keeps its data in files on the local disk (so `security.file-mode` applies).
    pub files: bool,
    /// The longest value the store keeps, per field.
    pub limits: Limits,
    /// May be called from several threads at once (the contract asks it; a store that
    /// must not be shared says so here, and fails `concurrency.*` unless allowed).
    pub thread_safe: bool,
    /// Its errors say their kind. A store in a language whose stores raise one
    /// exception type for everything (the SDK's `SDKException`) is untyped: a refusal
    /// of any kind then counts where the contract names a kind.
    pub typed_errors: bool,
    /// Sees `""` as a value of its own, distinct from absent (a store behind an adapter).
    /// A Rust store cannot: `Token` turns `""` into absent, so for it the part of
    /// `value.empty` about keeping and matching `""` holds by the type.
    pub raw_values: bool,
}

impl Capabilities {
    /// Sets [`Capabilities::durable`].
    #[must_use]
    pub fn durable(mut self, durable: bool) -> Self {
        self.durable = durable;
        self.not_durable_because = None;
        self
    }

    /// Declares the store not durable, for a reason its setup decides (a server
    /// setting): the durability checks are skipped with it.
    #[must_use]
    pub fn not_durable(mut self, why: &str) -> Self {
        self.durable = false;
        self.not_durable_because = Some(why.to_owned());
        self
    }

    /// Why the durability checks do not apply, when they do not.
    pub fn not_durable_reason(&self) -> Option<String> {
        let declared = "the store declares that it is not durable";
        match (&self.durable, &self.not_durable_because) {
            (true, _) => None,
            (false, Some(why)) => Some(format!("{declared}: {why}")),
            (false, None) => Some(declared.to_owned()),
        }
    }

    /// Sets [`Capabilities::files`].
    #[must_use]
    pub fn files(mut self, files: bool) -> Self {
        self.files = files;
        self
    }

    /// Sets [`Capabilities::limits`].
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets [`Capabilities::thread_safe`].
    #[must_use]
    pub fn thread_safe(mut self, thread_safe: bool) -> Self {
        self.thread_safe = thread_safe;
        self
    }

    /// Sets [`Capabilities::typed_errors`].
    #[must_use]
    pub fn typed_errors(mut self, typed_errors: bool) -> Self {
        self.typed_errors = typed_errors;
        self
    }

    /// Sets [`Capabilities::raw_values`].
    #[must_use]
    pub fn raw_values(mut self, raw_values: bool) -> Self {
        self.raw_values = raw_values;
        self
    }
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            durable: false,
            not_durable_because: None,
            files: false,
            limits: Limits::NONE,
            thread_safe: true,
            typed_errors: true,
            raw_values: false,
        }
    }
}

/// Per-field maximum lengths in characters; `None` means no declared limit
/// (the store must then round-trip values of at least 64 KiB).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits([Option<usize>; 10]);

impl Limits {
    /// No declared limit on any field.
    pub const NONE: Limits = Limits([None; 10]);

    /// The SDK's schema: `id` 10, `expiry_time` 20, every other column 255.
    pub fn sdk_schema() -> Limits {
        Limits(Field::ALL.map(|f| match f {
            Field::Id => Some(10),
            Field::ExpiryTime => Some(20),
            _ => Some(255),
        }))
    }

    /// Limits on these fields only.
    pub fn from_pairs(pairs: &[(Field, usize)]) -> Limits {
        let mut limits = Limits::NONE;
        for (field, limit) in pairs {
            limits.0[field.index()] = Some(*limit);
        }
        limits
    }

    /// The limit on this field, if any.
    pub fn get(&self, field: Field) -> Option<usize> {
        self.0[field.index()]
    }

    /// The fields of `token` whose value is over their limit, each with the limit and
    /// the value's length (lengths in characters).
    pub fn exceeded<'t>(
        &'t self,
        token: &'t Token,
    ) -> impl Iterator<Item = (Field, usize, usize)> + 't {
        token.fields().filter_map(|(field, value)| {
            let limit = self.get(field)?;
            let actual = value.chars().count();
            (actual > limit).then_some((field, limit, actual))
        })
    }

    /// Rejects a token with a value over its field's limit.
    pub fn check(&self, token: &Token) -> Result<(), StoreError> {
        match self.exceeded(token).next() {
            Some((field, limit, actual)) => Err(StoreError::LimitExceeded {
                field,
                limit,
                actual,
            }),
            None => Ok(()),
        }
    }
}

/// The id operations refuse an empty id (contract §3).
pub fn require_id(id: &str) -> Result<(), StoreError> {
    if id.is_empty() {
        return Err(StoreError::InvalidInput("the id is empty".into()));
    }
    Ok(())
}
