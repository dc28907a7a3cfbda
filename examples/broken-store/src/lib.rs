//! A token store written the way many published samples are, with three bugs
//! that the conformance suite catches:
//!
//! 1. user names are matched case-insensitively (as MySQL's default collation does);
//! 2. a probe with no key answers with the first row (so the SDK's `revoke()` would
//!    revoke another user's token);
//! 3. `find_token_by_id` fails on an unknown id instead of answering `None`.

use std::path::PathBuf;
use std::sync::Mutex;

use tokenstore_harness::{
    Capabilities, Field, LookupKey, StoreError, Token, TokenStore, insertable, require_id,
};

#[derive(Default)]
pub struct BrokenStore {
    rows: Mutex<(Vec<Token>, u64)>,
}

impl BrokenStore {
    pub fn new() -> Self {
        Self::default()
    }
}

/// Bug 1: user names compare without case.
fn matches(row: &Token, field: Field, value: &str) -> bool {
    match (field, row.get(field)) {
        (Field::UserName, Some(v)) => v.to_lowercase() == value.to_lowercase(),
        (_, v) => v == Some(value),
    }
}

fn locate(rows: &[Token], token: &Token) -> Option<usize> {
    if let Some(id) = token.id()
        && let Some(i) = rows.iter().position(|r| r.id() == Some(id))
    {
        return Some(i);
    }
    LookupKey::of(token)?.resolve(|f, v| rows.iter().position(|r| matches(r, f, v)))
}

fn backend(what: &str) -> StoreError {
    StoreError::Backend {
        message: what.to_owned(),
        source: None,
    }
}

impl TokenStore for BrokenStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    fn files(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    async fn find_token(&self, probe: &Token) -> Result<Option<Token>, StoreError> {
        let rows = self.rows.lock().map_err(|_| backend("lock poisoned"))?;
        if LookupKey::of(probe).is_none() {
            // Bug 2: no key, so "the first row will do".
            return Ok(rows.0.first().map(|r| probe.merged_over(r.clone())));
        }
        Ok(locate(&rows.0, probe).map(|i| probe.merged_over(rows.0[i].clone())))
    }

    async fn save_token(&self, token: &Token) -> Result<String, StoreError> {
        let mut rows = self.rows.lock().map_err(|_| backend("lock poisoned"))?;
        let at = locate(&rows.0, token);
        let mut row = at.map_or_else(|| token.clone(), |i| rows.0[i].clone());
        row.apply_update(token);
        if at.is_none() && !insertable(token) {
            return Err(StoreError::not_insertable());
        }
        for field in Field::KEYS {
            let mut others = rows.0.iter().enumerate().filter(|(i, _)| Some(*i) != at);
            if let Some(v) = row.get(field)
                && others.any(|(_, r)| matches(r, field, v))
            {
                return Err(StoreError::Conflict { field });
            }
        }
        if let Some(i) = at {
            rows.0[i] = row;
            return Ok(rows.0[i].id().unwrap_or_default().to_owned());
        }
        rows.1 += 1;
        let id = token.id().map_or_else(|| rows.1.to_string(), str::to_owned);
        rows.0.push(token.clone().with(Field::Id, &id));
        Ok(id)
    }

    async fn delete_token(&self, id: &str) -> Result<(), StoreError> {
        require_id(id)?;
        let mut rows = self.rows.lock().map_err(|_| backend("lock poisoned"))?;
        rows.0.retain(|r| r.id() != Some(id));
        Ok(())
    }

    async fn get_tokens(&self) -> Result<Vec<Token>, StoreError> {
        Ok(self
            .rows
            .lock()
            .map_err(|_| backend("lock poisoned"))?
            .0
            .clone())
    }

    async fn delete_tokens(&self) -> Result<(), StoreError> {
        self.rows
            .lock()
            .map_err(|_| backend("lock poisoned"))?
            .0
            .clear();
        Ok(())
    }

    async fn find_token_by_id(&self, id: &str) -> Result<Option<Token>, StoreError> {
        require_id(id)?;
        let rows = self.rows.lock().map_err(|_| backend("lock poisoned"))?;
        match rows.0.iter().find(|r| r.id() == Some(id)) {
            Some(r) => Ok(Some(r.clone())),
            // Bug 3: a miss is an error, as in the SDK's own stores.
            None => Err(backend("no token with the given id")),
        }
    }
}
