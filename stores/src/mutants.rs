//! The mutant zoo: stores that each break one clause the way published stores do.
//! `tokenstore selftest` runs the suite on every one and fails unless each is caught
//! by the clause it breaks — the harness's proof that it finds real bugs.
//!
//! One small list-backed store with a switch per bug, so that each mutant differs from
//! a correct store in exactly one place (marked `Bug::…` below).

// Each variant is described by `Bug::description`, which the selftest prints.
#![allow(missing_docs)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use tokenstore_harness::{
    Capabilities, Factory, Field, Fixture, LookupKey, StoreError, Token, TokenStore, fixtures,
    insertable, require_id,
};

/// One way to break the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bug {
    UpdateThenInsertRace,
    TextMaxId,
    CaseInsensitiveMatch,
    TrailingSpaceMatch,
    FirstRowForNoKey,
    ByIdMissIsAnError,
    DeleteByPrefix,
    NoOpUpdateInserts,
    TruncatesLongValues,
    SecretInErrors,
    ClaimsDurability,
    TornWrites,
    ReusesIds,
    FindDoesNotMerge,
    RefreshBeforeGrant,
    DeleteAllDoesNothing,
    StaleUserIndex,
    UnlockedCheckThenInsert,
    RacyIdCounter,
    NormalizesKeys,
    FoldsIds,
    DeletesByUser,
    DeleteAllSparesUserless,
    CachesFinds,
    StripsControlChars,
    NumericIdsOnly,
    SplicedUpdateSql,
    PartialUpdateOnConflict,
    CachesListing,
}

impl Bug {
    pub const ALL: [Bug; 29] = [
        Bug::UpdateThenInsertRace,
        Bug::TextMaxId,
        Bug::CaseInsensitiveMatch,
        Bug::TrailingSpaceMatch,
        Bug::FirstRowForNoKey,
        Bug::ByIdMissIsAnError,
        Bug::DeleteByPrefix,
        Bug::NoOpUpdateInserts,
        Bug::TruncatesLongValues,
        Bug::SecretInErrors,
        Bug::ClaimsDurability,
        Bug::TornWrites,
        Bug::ReusesIds,
        Bug::FindDoesNotMerge,
        Bug::RefreshBeforeGrant,
        Bug::DeleteAllDoesNothing,
        Bug::StaleUserIndex,
        Bug::UnlockedCheckThenInsert,
        Bug::RacyIdCounter,
        Bug::NormalizesKeys,
        Bug::FoldsIds,
        Bug::DeletesByUser,
        Bug::DeleteAllSparesUserless,
        Bug::CachesFinds,
        Bug::StripsControlChars,
        Bug::NumericIdsOnly,
        Bug::SplicedUpdateSql,
        Bug::PartialUpdateOnConflict,
        Bug::CachesListing,
    ];

    /// The clause that must catch it.
    pub fn clause(self) -> &'static str {
        match self {
            Bug::UpdateThenInsertRace => "concurrency.same-user",
            Bug::TextMaxId => "id.unique",
            Bug::CaseInsensitiveMatch | Bug::TrailingSpaceMatch => "find.exact",
            Bug::FirstRowForNoKey => "find.no-key",
            Bug::ByIdMissIsAnError => "by-id.miss",
            Bug::DeleteByPrefix => "delete.isolation",
            Bug::NoOpUpdateInserts => "save.idempotent",
            Bug::TruncatesLongValues => "value.limit",
            Bug::SecretInErrors => "security.no-secret-leak",
            Bug::ClaimsDurability => "durability.reopen",
            Bug::TornWrites => "concurrency.read-during-write",
            Bug::ReusesIds => "id.no-reuse",
            Bug::FindDoesNotMerge => "find.merge",
            Bug::RefreshBeforeGrant => "find.precedence",
            Bug::DeleteAllDoesNothing => "all.delete",
            Bug::StaleUserIndex | Bug::CachesListing => "model.sequences",
            Bug::UnlockedCheckThenInsert => "concurrency.same-user",
            Bug::RacyIdCounter => "concurrency.distinct",
            Bug::NormalizesKeys | Bug::FoldsIds => "find.exact",
            Bug::DeletesByUser => "delete.isolation",
            Bug::DeleteAllSparesUserless => "all.delete",
            Bug::CachesFinds => "find.by-user",
            Bug::StripsControlChars | Bug::NumericIdsOnly => "value.roundtrip",
            Bug::SplicedUpdateSql => "security.injection",
            Bug::PartialUpdateOnConflict => "save.atomic",
        }
    }

    /// What the mutant does wrong.
    pub fn description(self) -> &'static str {
        match self {
            Bug::UpdateThenInsertRace => {
                "looks for the row, lets go of the lock, then updates or inserts"
            }
            Bug::TextMaxId => "new id = max(id) + 1 over the ids as text",
            Bug::CaseInsensitiveMatch => "matches keys without case",
            Bug::TrailingSpaceMatch => "matches keys ignoring trailing spaces",
            Bug::FirstRowForNoKey => "answers a probe with no key with the first row",
            Bug::ByIdMissIsAnError => "find_token_by_id fails on an unknown id",
            Bug::DeleteByPrefix => "delete_token removes every id that starts with the given one",
            Bug::NoOpUpdateInserts => "an update that changes nothing inserts a duplicate",
            Bug::TruncatesLongValues => "cuts values to 255 characters without a declared limit",
            Bug::SecretInErrors => "puts the refresh token in its InvalidInput message",
            Bug::ClaimsDurability => "declares itself durable but keeps its data in memory",
            Bug::TornWrites => "writes an update one field at a time",
            Bug::ReusesIds => "gives the smallest free number as a new id",
            Bug::FindDoesNotMerge => {
                "find_token returns the stored row, ignoring the probe's fields"
            }
            Bug::RefreshBeforeGrant => "tries the refresh token before the grant token",
            Bug::DeleteAllDoesNothing => "delete_tokens does nothing",
            Bug::StaleUserIndex => "keeps a renamed user's old name in its user index",
            Bug::RacyIdCounter => {
                "draws a new id from a counter it reads, builds the row, then writes the counter, \
                 outside its lock"
            }
            Bug::UnlockedCheckThenInsert => {
                "looks for the row under a std lock, releases it, builds the row, then takes \
                 the lock again to write (no await in between)"
            }
            Bug::NormalizesKeys => {
                "matches keys after Unicode NFKC normalisation, ignoring zero-width characters"
            }
            Bug::FoldsIds => "find_token_by_id matches ids without case and surrounding spaces",
            Bug::DeletesByUser => {
                "delete_token removes every row with the deleted row's user name (or lack of one)"
            }
            Bug::DeleteAllSparesUserless => {
                "delete_tokens removes each user's row, leaving rows without a user name"
            }
            Bug::CachesFinds => {
                "caches find_token answers by key, forgetting them only when a save names that key"
            }
            Bug::StripsControlChars => {
                "drops control characters other than NUL, tab, newline and carriage return"
            }
            Bug::NumericIdsOnly => "new id = max(id as a number) + 1, failing on any other id",
            Bug::SplicedUpdateSql => {
                "an update whose value closes a quote and adds `or` applies to every row, as \
                 spliced SQL does"
            }
            Bug::PartialUpdateOnConflict => {
                "an update writes its non-key fields before it checks its keys for a conflict"
            }
            Bug::CachesListing => {
                "caches get_tokens' answer, dropping it on inserts and deletes but not when a \
                 save updates a row"
            }
        }
    }

    pub fn name(self) -> String {
        format!("{self:?}")
    }
}

/// Every mutant's name, comma-separated.
pub fn names() -> String {
    Bug::ALL.map(Bug::name).join(", ")
}

/// A list store with one bug.
pub struct MutantStore {
    bug: Bug,
    inner: Mutex<Inner>,
    /// `Bug::RacyIdCounter`'s counter, read and written as two steps.
    racy_counter: AtomicU64,
}

#[derive(Default)]
struct Inner {
    rows: Vec<Token>,
    counter: u64,
    /// user name → id; only `Bug::StaleUserIndex` reads it.
    users: Vec<(String, String)>,
    /// (key field, value) → the row a find gave back; only `Bug::CachesFinds` keeps it.
    finds: Vec<((Field, String), Token)>,
    /// The last listing; only `Bug::CachesListing` keeps it.
    listing: Option<Vec<Token>>,
}

/// `Bug::NormalizesKeys`: what a collation-like comparison sees of a value.
fn folded(value: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let zero_width = |c: &char| matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}');
    value.nfkc().filter(|c| !zero_width(c)).collect()
}

/// `Bug::SplicedUpdateSql`: a value that closes a quote and goes on with `or`.
fn splices(token: &Token) -> bool {
    token.fields().any(|(_, v)| {
        let v = v.to_lowercase();
        v.contains("' or ") || v.contains("\" or ")
    })
}

impl MutantStore {
    pub fn new(bug: Bug) -> Self {
        MutantStore {
            bug,
            inner: Mutex::new(Inner::default()),
            racy_counter: AtomicU64::new(0),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn matches(&self, stored: Option<&str>, wanted: &str) -> bool {
        match (self.bug, stored) {
            (Bug::CaseInsensitiveMatch, Some(s)) => s.to_lowercase() == wanted.to_lowercase(),
            (Bug::TrailingSpaceMatch, Some(s)) => s.trim_end() == wanted.trim_end(),
            (Bug::NormalizesKeys, Some(s)) => folded(s) == folded(wanted),
            (_, s) => s == Some(wanted),
        }
    }

    fn position(&self, inner: &Inner, field: Field, value: &str) -> Option<usize> {
        if self.bug == Bug::StaleUserIndex && field == Field::UserName {
            let id = inner
                .users
                .iter()
                .find(|(u, _)| u == value)
                .map(|(_, id)| id)?;
            return inner.rows.iter().position(|r| r.id() == Some(id));
        }
        inner
            .rows
            .iter()
            .position(|r| self.matches(r.get(field), value))
    }

    fn lookup(&self, inner: &Inner, token: &Token) -> Option<usize> {
        let key = LookupKey::of(token)?;
        let mut candidates = key.candidates().to_vec();
        if self.bug == Bug::RefreshBeforeGrant {
            candidates.reverse();
        }
        candidates
            .iter()
            .find_map(|(f, v)| self.position(inner, *f, v))
    }

    fn target(&self, inner: &Inner, token: &Token) -> Option<usize> {
        token
            .id()
            .and_then(|id| inner.rows.iter().position(|r| r.id() == Some(id)))
            .or_else(|| self.lookup(inner, token))
    }

    fn fresh_id(&self, inner: &mut Inner) -> Result<String, StoreError> {
        let taken = |inner: &Inner, id: &str| inner.rows.iter().any(|r| r.id() == Some(id));
        match self.bug {
            Bug::TextMaxId => {
                let max = inner
                    .rows
                    .iter()
                    .filter_map(|r| r.id())
                    .max()
                    .unwrap_or("0");
                Ok((max.parse::<u64>().unwrap_or(0) + 1).to_string())
            }
            Bug::NumericIdsOnly => {
                let mut max = 0u64;
                for id in inner.rows.iter().filter_map(Token::id) {
                    max = max.max(id.parse().map_err(|_| StoreError::Backend {
                        message: "invalid literal for int() with base 10".into(),
                        source: None,
                    })?);
                }
                Ok((max + 1).to_string())
            }
            Bug::ReusesIds => {
                let taken: std::collections::HashSet<&str> =
                    inner.rows.iter().filter_map(Token::id).collect();
                (1..)
                    .map(|n: u64| n.to_string())
                    .find(|id| !taken.contains(id.as_str()))
                    .ok_or_else(|| StoreError::Backend {
                        message: "no free id".into(),
                        source: None,
                    })
            }
            _ => loop {
                inner.counter += 1;
                let id = inner.counter.to_string();
                if !taken(inner, &id) {
                    break Ok(id);
                }
            },
        }
    }

    fn check_unique(
        &self,
        inner: &Inner,
        row: &Token,
        own: Option<usize>,
    ) -> Result<(), StoreError> {
        for field in Field::KEYS {
            if let Some(v) = row.get(field) {
                let holder = inner
                    .rows
                    .iter()
                    .position(|r| self.matches(r.get(field), v));
                if holder.is_some() && holder != own {
                    return Err(StoreError::Conflict { field });
                }
            }
        }
        Ok(())
    }

    fn not_insertable(&self, token: &Token) -> StoreError {
        match (self.bug, token.get(Field::RefreshToken)) {
            (Bug::SecretInErrors, Some(r)) => {
                StoreError::InvalidInput(format!("cannot insert the token with refresh token {r}"))
            }
            _ => StoreError::not_insertable(),
        }
    }

    /// The token as the bug writes it.
    fn as_written(&self, token: &Token) -> Token {
        let dropped = |c: &char| {
            (c.is_ascii_control() && !matches!(c, '\0' | '\t' | '\n' | '\r'))
                && self.bug == Bug::StripsControlChars
        };
        let mut t = token.clone();
        for (f, v) in token.fields() {
            let kept = v.chars().filter(|c| !dropped(c));
            match self.bug {
                Bug::TruncatesLongValues => t.set(f, Some(&kept.take(255).collect::<String>())),
                _ => t.set(f, Some(&kept.collect::<String>())),
            }
        }
        t
    }

    /// Inserts or updates `token` in one critical section (the correct path).
    fn save_locked(
        &self,
        inner: &mut Inner,
        token: &Token,
        target: Option<usize>,
    ) -> Result<String, StoreError> {
        if let Some(i) = target {
            let mut row = inner.rows[i].clone();
            row.apply_update(token);
            if self.bug == Bug::PartialUpdateOnConflict {
                let unkeyed = token.fields().filter(|(f, _)| !Field::KEYS.contains(f));
                for (f, v) in unkeyed.filter(|(f, _)| *f != Field::Id) {
                    inner.rows[i].set(f, Some(v));
                }
            }
            self.check_unique(inner, &row, Some(i))?;
            if self.bug == Bug::SplicedUpdateSql && splices(token) {
                let mut set = token.clone();
                set.set(Field::Id, None);
                inner.rows.iter_mut().for_each(|r| r.apply_update(&set));
            }
            if self.bug == Bug::NoOpUpdateInserts && row == inner.rows[i] {
                inner.rows.push(row.clone());
            }
            if let Some(user) = row.user_name() {
                inner
                    .users
                    .push((user.to_owned(), row.id().unwrap_or_default().to_owned()));
            }
            inner.rows[i] = row;
            return Ok(inner.rows[i].id().unwrap_or_default().to_owned());
        }
        if !insertable(token) {
            return Err(self.not_insertable(token));
        }
        self.check_unique(inner, token, None)?;
        let id = match token.id() {
            Some(id) => id.to_owned(),
            None => self.fresh_id(inner)?,
        };
        if let Some(user) = token.user_name() {
            inner.users.push((user.to_owned(), id.clone()));
        }
        inner.listing = None;
        inner.rows.push(token.clone().with(Field::Id, &id));
        Ok(id)
    }

    /// `Bug::CachesFinds`: the cached row for the first of the probe's key values that
    /// has one, else a lookup, cached under the key value that found it.
    fn cached_lookup(&self, inner: &mut Inner, probe: &Token) -> Option<Token> {
        let key = LookupKey::of(probe)?;
        for (field, value) in key.candidates() {
            let entry = (*field, value.to_string());
            if let Some((_, row)) = inner.finds.iter().find(|(k, _)| *k == entry) {
                return Some(row.clone());
            }
            if let Some(i) = self.position(inner, *field, value) {
                let row = inner.rows[i].clone();
                inner.finds.push((entry, row.clone()));
                return Some(row);
            }
        }
        None
    }

    /// `Bug::CachesFinds` forgets only the answers cached under a key value the saved
    /// token itself carries.
    fn forget_finds(&self, token: &Token) {
        self.inner()
            .finds
            .retain(|((f, v), _)| token.get(*f) != Some(v.as_str()));
    }

    /// `Bug::TornWrites`: an update applied one field at a time, yielding in between.
    async fn torn_update(&self, token: &Token, id: String) -> Result<String, StoreError> {
        for (field, value) in token.fields().filter(|(f, _)| *f != Field::Id) {
            {
                let mut inner = self.inner();
                if let Some(row) = inner.rows.iter_mut().find(|r| r.id() == Some(id.as_str())) {
                    row.set(field, Some(value));
                }
            }
            tokio::task::yield_now().await;
        }
        Ok(id)
    }
}

impl TokenStore for MutantStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities::default().durable(self.bug == Bug::ClaimsDurability)
    }

    fn files(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    async fn find_token(&self, probe: &Token) -> Result<Option<Token>, StoreError> {
        let mut inner = self.inner();
        if self.bug == Bug::CachesFinds {
            return Ok(self
                .cached_lookup(&mut inner, probe)
                .map(|row| probe.merged_over(row)));
        }
        if LookupKey::of(probe).is_none() {
            let first = inner
                .rows
                .first()
                .filter(|_| self.bug == Bug::FirstRowForNoKey);
            return Ok(first.map(|r| probe.merged_over(r.clone())));
        }
        Ok(self.lookup(&inner, probe).map(|i| match self.bug {
            Bug::FindDoesNotMerge => inner.rows[i].clone(),
            _ => probe.merged_over(inner.rows[i].clone()),
        }))
    }

    async fn save_token(&self, token: &Token) -> Result<String, StoreError> {
        let token = &self.as_written(token);
        self.forget_finds(token);
        match self.bug {
            Bug::UpdateThenInsertRace => {
                let target = self.target(&self.inner(), token);
                tokio::task::yield_now().await;
                let mut inner = self.inner();
                let target = target.filter(|i| *i < inner.rows.len());
                self.save_locked(&mut inner, token, target)
            }
            Bug::RacyIdCounter if token.id().is_none() => {
                // The id is drawn before the lock is taken, as a read, the new row built
                // with it, then a write: the shape of `next = counter + 1; row = …;
                // counter = next` in a real store.
                let n = self.racy_counter.load(Ordering::SeqCst) + 1;
                let drawn = token.clone().with(Field::Id, &format!("r{n}"));
                self.racy_counter.store(n, Ordering::SeqCst);
                let mut inner = self.inner();
                let target = self.target(&inner, token);
                let token = if target.is_some() { token } else { &drawn };
                self.save_locked(&mut inner, token, target)
            }
            Bug::UnlockedCheckThenInsert => {
                // The row to write is built between the check and the write, outside
                // the lock, as a real store does.
                let target = self.target(&self.inner(), token);
                let token = &token.clone();
                let mut inner = self.inner();
                let target = target.filter(|i| *i < inner.rows.len());
                self.save_locked(&mut inner, token, target)
            }
            Bug::TornWrites => {
                let target = {
                    let inner = self.inner();
                    self.target(&inner, token)
                        .map(|i| inner.rows[i].id().unwrap_or_default().to_owned())
                };
                match target {
                    Some(id) => self.torn_update(token, id).await,
                    None => {
                        let mut inner = self.inner();
                        let target = self.target(&inner, token);
                        self.save_locked(&mut inner, token, target)
                    }
                }
            }
            _ => {
                let mut inner = self.inner();
                let target = self.target(&inner, token);
                self.save_locked(&mut inner, token, target)
            }
        }
    }

    async fn delete_token(&self, id: &str) -> Result<(), StoreError> {
        require_id(id)?;
        let prefix = self.bug == Bug::DeleteByPrefix;
        let mut inner = self.inner();
        let deleted = inner.rows.iter().find(|r| r.id() == Some(id)).cloned();
        match deleted {
            Some(row) if self.bug == Bug::DeletesByUser => {
                inner.rows.retain(|r| r.user_name() != row.user_name());
            }
            _ => inner.rows.retain(|r| match r.id() {
                Some(rid) if prefix => !rid.starts_with(id),
                rid => rid != Some(id),
            }),
        }
        inner.users.retain(|(_, rid)| rid != id);
        inner.finds.clear();
        inner.listing = None;
        Ok(())
    }

    async fn get_tokens(&self) -> Result<Vec<Token>, StoreError> {
        let mut guard = self.inner();
        let inner = &mut *guard;
        if self.bug != Bug::CachesListing {
            return Ok(inner.rows.clone());
        }
        Ok(inner
            .listing
            .get_or_insert_with(|| inner.rows.clone())
            .clone())
    }

    async fn delete_tokens(&self) -> Result<(), StoreError> {
        let mut inner = self.inner();
        match self.bug {
            Bug::DeleteAllDoesNothing => {}
            Bug::DeleteAllSparesUserless => inner.rows.retain(|r| r.user_name().is_none()),
            _ => inner.rows.clear(),
        }
        inner.users.clear();
        inner.finds.clear();
        inner.listing = None;
        Ok(())
    }

    async fn find_token_by_id(&self, id: &str) -> Result<Option<Token>, StoreError> {
        require_id(id)?;
        let same = |rid: &str| match self.bug {
            Bug::FoldsIds => rid.trim().to_lowercase() == id.trim().to_lowercase(),
            _ => rid == id,
        };
        let found = self
            .inner()
            .rows
            .iter()
            .find(|r| r.id().is_some_and(same))
            .cloned();
        match (found, self.bug) {
            (None, Bug::ByIdMissIsAnError) => Err(StoreError::Backend {
                message: "no token with this id".into(),
                source: None,
            }),
            (found, _) => Ok(found),
        }
    }
}

/// Fresh mutants. The one that claims durability gets a "second instance" that is
/// really a new, empty one — which is what it amounts to.
pub fn factory(bug: Bug) -> Factory {
    fixtures(move || async move {
        let mut fixture = Fixture::new(MutantStore::new(bug));
        if bug == Bug::ClaimsDurability {
            fixture =
                fixture.with_reopen(move || async move { Ok::<_, String>(MutantStore::new(bug)) });
        }
        Ok::<_, String>(fixture)
    })
}
