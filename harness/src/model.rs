//! The reference model: the contract (§2–5) written for reading, not for speed.
//!
//! Scenarios are checked against it in the harness's own tests, so that the written
//! expectations and the contract can never drift apart; property tests compare any
//! store with it.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use crate::error::StoreError;
use crate::key::{SavePlan, find_merged, save_plan};
use crate::store::{Capabilities, Limits, TokenStore, require_id};
use crate::token::{Field, Token};

/// The contract's oracle: rows in a plain list behind one lock.
#[derive(Default)]
pub struct Model {
    state: Mutex<State>,
    limits: Limits,
}

#[derive(Default)]
struct State {
    rows: Vec<Token>,
    /// Every id ever stored, so a generated id is never one that was used before.
    issued: HashSet<String>,
    counter: u64,
}

impl State {
    fn position(&self, field: Field, value: &str) -> Option<usize> {
        self.rows.iter().position(|r| r.get(field) == Some(value))
    }

    fn fresh_id(&mut self) -> String {
        loop {
            self.counter += 1;
            let id = self.counter.to_string();
            if !self.issued.contains(&id) {
                return id;
            }
        }
    }

    fn save(&mut self, token: &Token) -> Result<String, StoreError> {
        let plan = save_plan(token, |f, v| self.position(f, v), |i| self.rows[i].clone())?;
        match plan {
            SavePlan::Update { at, row } => {
                self.rows[at] = row;
                Ok(self.rows[at].id().unwrap_or_default().to_owned())
            }
            SavePlan::Insert(token) => {
                let id = match token.id() {
                    Some(id) => id.to_owned(),
                    None => self.fresh_id(),
                };
                self.issued.insert(id.clone());
                self.rows.push(token.with(Field::Id, &id));
                Ok(id)
            }
        }
    }
}

impl Model {
    /// An empty model with no limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// A model that refuses what a store with these limits refuses.
    pub fn with_limits(limits: Limits) -> Self {
        Model {
            limits,
            ..Self::default()
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-written row: every
        // mutation is a single assignment, so the poisoned state is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl TokenStore for Model {
    fn capabilities(&self) -> Capabilities {
        Capabilities::default().limits(self.limits)
    }

    fn files(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    async fn find_token(&self, probe: &Token) -> Result<Option<Token>, StoreError> {
        let state = self.state();
        Ok(find_merged(probe, |f, v| {
            state.position(f, v).map(|i| state.rows[i].clone())
        }))
    }

    async fn save_token(&self, token: &Token) -> Result<String, StoreError> {
        self.limits.check(token)?;
        self.state().save(token)
    }

    async fn delete_token(&self, id: &str) -> Result<(), StoreError> {
        require_id(id)?;
        self.state().rows.retain(|r| r.id() != Some(id));
        Ok(())
    }

    async fn get_tokens(&self) -> Result<Vec<Token>, StoreError> {
        Ok(self.state().rows.clone())
    }

    async fn delete_tokens(&self) -> Result<(), StoreError> {
        self.state().rows.clear();
        Ok(())
    }

    async fn find_token_by_id(&self, id: &str) -> Result<Option<Token>, StoreError> {
        require_id(id)?;
        let state = self.state();
        Ok(state.position(Field::Id, id).map(|i| state.rows[i].clone()))
    }
}
