//! `list`: rows as positional columns in the SDK's column order, found by linear scans.
//! The simplest correct store; it does what the SDK's CSV store does, in memory.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use tokenstore_harness::{
    Capabilities, Field, SavePlan, StoreError, Token, TokenStore, find_merged, require_id,
    save_plan,
};

/// One row: the ten columns, `id` first.
pub(crate) type Row = [Option<String>; 10];

/// A store of positional rows behind one lock.
#[derive(Default)]
pub struct ListStore {
    inner: Mutex<Rows>,
}

/// The rows and the operations on them; the file store keeps the same rows on disk.
#[derive(Default)]
pub(crate) struct Rows {
    pub(crate) rows: Vec<Row>,
    /// Last generated id; only grows, so ids are never given twice.
    pub(crate) counter: u64,
}

fn to_row(token: &Token) -> Row {
    token.to_row().map(|v| v.map(str::to_owned))
}

impl Rows {
    /// The stored token `probe` names, merged into the probe.
    pub(crate) fn find(&self, probe: &Token) -> Option<Token> {
        find_merged(probe, |f, v| self.scan(f, v).map(|at| self.token(at)))
    }

    pub(crate) fn delete(&mut self, id: &str) {
        self.rows
            .retain(|r| r[Field::Id.index()].as_deref() != Some(id));
    }

    pub(crate) fn all(&self) -> Vec<Token> {
        (0..self.rows.len()).map(|at| self.token(at)).collect()
    }

    pub(crate) fn by_id(&self, id: &str) -> Option<Token> {
        self.scan(Field::Id, id).map(|at| self.token(at))
    }

    /// The position of the first row whose column `field` holds `value`.
    pub(crate) fn scan(&self, field: Field, value: &str) -> Option<usize> {
        self.rows
            .iter()
            .position(|r| r[field.index()].as_deref() == Some(value))
    }

    pub(crate) fn token(&self, at: usize) -> Token {
        Token::from_row(&self.rows[at])
    }

    pub(crate) fn save(&mut self, token: &Token) -> Result<String, StoreError> {
        let plan = save_plan(token, |f, v| self.scan(f, v), |at| self.token(at))?;
        Ok(self.apply(plan))
    }

    /// Writes what [`save_plan`] decided; an inserted token without an id gets a new one.
    pub(crate) fn apply(&mut self, plan: SavePlan) -> String {
        match plan {
            SavePlan::Update { at, row } => {
                self.rows[at] = to_row(&row);
                row.id().unwrap_or_default().to_owned()
            }
            SavePlan::Insert(token) => {
                let id = match token.id() {
                    Some(id) => id.to_owned(),
                    None => self.fresh_id(),
                };
                self.rows.push(to_row(&token.with(Field::Id, &id)));
                id
            }
        }
    }

    /// The counter's next value that no row holds.
    fn fresh_id(&mut self) -> String {
        loop {
            self.counter += 1;
            let id = self.counter.to_string();
            if self.scan(Field::Id, &id).is_none() {
                return id;
            }
        }
    }
}

impl ListStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    // No mutation can panic halfway, so a poisoned lock still guards consistent rows.
    pub(crate) fn rows(&self) -> MutexGuard<'_, Rows> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl TokenStore for ListStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    fn files(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    async fn find_token(&self, probe: &Token) -> Result<Option<Token>, StoreError> {
        Ok(self.rows().find(probe))
    }

    async fn save_token(&self, token: &Token) -> Result<String, StoreError> {
        self.rows().save(token)
    }

    async fn delete_token(&self, id: &str) -> Result<(), StoreError> {
        require_id(id)?;
        self.rows().delete(id);
        Ok(())
    }

    async fn get_tokens(&self) -> Result<Vec<Token>, StoreError> {
        Ok(self.rows().all())
    }

    async fn delete_tokens(&self) -> Result<(), StoreError> {
        self.rows().rows.clear();
        Ok(())
    }

    async fn find_token_by_id(&self, id: &str) -> Result<Option<Token>, StoreError> {
        require_id(id)?;
        Ok(self.rows().by_id(id))
    }
}
