//! The errors a store returns. Messages name fields and sizes, never values.

use crate::token::Field;
pub use tokenstore_scenarios::ErrorKind;

/// A boxed error from a store's backend (a driver, the file system, ...).
pub type BackendSource = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a store refused or failed an operation.
///
/// Every message is built from field names, sizes and fixed text, so that an error
/// can be logged or reported without exposing a token. A backend error keeps its
/// driver error as `source`; stores must not pass on driver errors whose text holds
/// a value (MySQL's "Duplicate entry '…'" is turned into [`StoreError::Conflict`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The input can never be valid: an empty id, a token that cannot be inserted.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A value is longer than the store's declared maximum for its field.
    #[error("{field} is {actual} characters long; this store keeps at most {limit}")]
    LimitExceeded {
        /// The field.
        field: Field,
        /// The store's declared maximum, in characters.
        limit: usize,
        /// The value's length, in characters.
        actual: usize,
    },
    /// The save would give a row a key value that another row holds.
    #[error("another token already holds this {field}")]
    Conflict {
        /// The key field whose value another row holds.
        field: Field,
    },
    /// The store refused the call without saying why (a store behind an adapter whose
    /// errors are untyped); counts as a refusal only for such a store.
    #[error("refused: {0}")]
    Refused(String),
    /// The backend failed (I/O, connection, server).
    #[error("backend failure: {message}")]
    Backend {
        /// What failed, without any token value.
        message: String,
        /// The backend's own error.
        #[source]
        source: Option<BackendSource>,
    },
}

impl StoreError {
    /// A backend failure with its cause.
    pub fn backend(message: impl Into<String>, source: impl Into<BackendSource>) -> Self {
        StoreError::Backend {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// Rule 4.5: the token matched no row and cannot be inserted.
    pub fn not_insertable() -> Self {
        StoreError::InvalidInput(
            "the token matches no stored token and cannot be inserted: \
             it needs a key and an access, refresh or grant token"
                .into(),
        )
    }

    /// The kind, as scenario files and reports name it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::InvalidInput(_) => ErrorKind::InvalidInput,
            StoreError::LimitExceeded { .. } => ErrorKind::LimitExceeded,
            StoreError::Conflict { .. } => ErrorKind::Conflict,
            StoreError::Refused(_) => ErrorKind::Refused,
            StoreError::Backend { .. } => ErrorKind::Backend,
        }
    }

    /// The error's `Display`, its `Debug` and every source in its chain, for leak checks.
    pub fn all_text(&self) -> String {
        let mut text = format!("{self}\n{self:?}");
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            text.push_str(&format!("\n{s}\n{s:?}"));
            source = s.source();
        }
        text
    }
}
