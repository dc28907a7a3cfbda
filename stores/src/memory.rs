//! `memory`: rows in a map by id, plus one index per lookup key; O(1) finds.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokenstore_harness::{
    Capabilities, Field, LookupKey, StoreError, Token, TokenStore, find_merged, insertable,
    require_id,
};

/// An in-memory store: fast, shared between threads, gone when dropped.
#[derive(Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    rows: HashMap<String, Token>,
    /// For each of `Field::KEYS`, value → id of the row holding it.
    index: [HashMap<String, String>; 4],
    /// Last generated id; only grows, so ids are never given twice.
    counter: u64,
}

fn key_slot(field: Field) -> Option<usize> {
    Field::KEYS.iter().position(|f| *f == field)
}

impl Inner {
    fn id_by(&self, field: Field, value: &str) -> Option<&String> {
        match key_slot(field) {
            Some(slot) => self.index[slot].get(value),
            None if field == Field::Id => self.rows.get_key_value(value).map(|(k, _)| k),
            None => None,
        }
    }

    fn check_unique(&self, row: &Token, own_id: Option<&str>) -> Result<(), StoreError> {
        for field in Field::KEYS {
            let holder = row.get(field).and_then(|v| self.id_by(field, v));
            if holder.is_some_and(|id| Some(id.as_str()) != own_id) {
                return Err(StoreError::Conflict { field });
            }
        }
        Ok(())
    }

    fn unindex(&mut self, row: &Token) {
        for (slot, field) in Field::KEYS.into_iter().enumerate() {
            if let Some(v) = row.get(field) {
                self.index[slot].remove(v);
            }
        }
    }

    /// Stores `row` (which has an id) and indexes its key values.
    fn put(&mut self, row: Token) -> String {
        let id = row.id().unwrap_or_default().to_owned();
        for (slot, field) in Field::KEYS.into_iter().enumerate() {
            if let Some(v) = row.get(field) {
                self.index[slot].insert(v.to_owned(), id.clone());
            }
        }
        self.rows.insert(id.clone(), row);
        id
    }

    fn fresh_id(&mut self) -> String {
        loop {
            self.counter += 1;
            let id = self.counter.to_string();
            if !self.rows.contains_key(&id) {
                return id;
            }
        }
    }

    fn save(&mut self, token: &Token) -> Result<String, StoreError> {
        let target = token
            .id()
            .and_then(|id| self.id_by(Field::Id, id))
            .or_else(|| LookupKey::of(token)?.resolve(|f, v| self.id_by(f, v)))
            .cloned();
        if let Some(id) = target {
            let mut row = self.rows[&id].clone();
            row.apply_update(token);
            self.check_unique(&row, Some(&id))?;
            let old = self.rows[&id].clone();
            self.unindex(&old);
            return Ok(self.put(row));
        }
        if !insertable(token) {
            return Err(StoreError::not_insertable());
        }
        self.check_unique(token, None)?;
        let id = match token.id() {
            Some(id) => id.to_owned(),
            None => self.fresh_id(),
        };
        Ok(self.put(token.clone().with(Field::Id, &id)))
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    // Every mutation completes before the guard drops and none can panic halfway,
    // so a poisoned lock still guards consistent data.
    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl TokenStore for MemoryStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    fn files(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    async fn find_token(&self, probe: &Token) -> Result<Option<Token>, StoreError> {
        let inner = self.read();
        Ok(find_merged(probe, |f, v| {
            inner.id_by(f, v).map(|id| inner.rows[id].clone())
        }))
    }

    async fn save_token(&self, token: &Token) -> Result<String, StoreError> {
        self.write().save(token)
    }

    async fn delete_token(&self, id: &str) -> Result<(), StoreError> {
        require_id(id)?;
        let mut inner = self.write();
        if let Some(row) = inner.rows.remove(id) {
            inner.unindex(&row);
        }
        Ok(())
    }

    async fn get_tokens(&self) -> Result<Vec<Token>, StoreError> {
        Ok(self.read().rows.values().cloned().collect())
    }

    async fn delete_tokens(&self) -> Result<(), StoreError> {
        let mut inner = self.write();
        inner.rows.clear();
        inner.index.iter_mut().for_each(HashMap::clear);
        Ok(())
    }

    async fn find_token_by_id(&self, id: &str) -> Result<Option<Token>, StoreError> {
        require_id(id)?;
        Ok(self.read().rows.get(id).cloned())
    }
}
