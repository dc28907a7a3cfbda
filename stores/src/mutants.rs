//! The mutant zoo: stores that each break one clause the way published stores do.
//! `tokenstore selftest` runs the suite on every one and fails unless each is caught
//! by the clause it breaks — the harness's proof that it finds real bugs.
//!
//! Each mutant wraps the correct list store: an operation its bug does not touch is the
//! list store's own, and one it touches reuses the list store's rows and its save rule
//! ([`save_plan`], `Rows::apply`), changing only the step the bug changes (marked
//! `Bug::…` below).

// Each variant is described by `Bug::description`, which the selftest prints.
#![allow(missing_docs)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use tokenstore_harness::{
    Capabilities, Factory, Field, Fixture, LookupKey, SavePlan, StoreError, Token, TokenStore,
    fixtures, require_id, save_plan,
};

use crate::FileStore;
use crate::crash_writer::Target;
use crate::file::Flaw;
use crate::list::{ListStore, Rows};

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
    RewritesInPlace,
    LocksOnlyItsThreads,
}

impl Bug {
    pub const ALL: [Bug; 31] = [
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
        Bug::RewritesInPlace,
        Bug::LocksOnlyItsThreads,
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
            Bug::RewritesInPlace => "durability.crash",
            Bug::LocksOnlyItsThreads => "concurrency.multi-instance",
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
            Bug::RewritesInPlace => {
                "the CSV file store, but each write truncates the file and writes it again a \
                 line at a time, as the SDK's FileStore does"
            }
            Bug::LocksOnlyItsThreads => {
                "the CSV file store, but its lock keeps out its own threads only, not another \
                 instance's"
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

/// The correct list store with one bug.
pub struct MutantStore {
    bug: Bug,
    list: ListStore,
    /// What some bugs remember beside the rows; locked after the rows, never before.
    memory: Mutex<Memory>,
    /// `Bug::RacyIdCounter`'s counter, read and written as two steps.
    racy_counter: AtomicU64,
}

#[derive(Default)]
struct Memory {
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

fn backend(message: &str) -> StoreError {
    StoreError::Backend {
        message: message.into(),
        source: None,
    }
}

impl MutantStore {
    pub fn new(bug: Bug) -> Self {
        MutantStore {
            bug,
            list: ListStore::new(),
            memory: Mutex::new(Memory::default()),
            racy_counter: AtomicU64::new(0),
        }
    }

    fn memory(&self) -> MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn matches(&self, stored: Option<&str>, wanted: &str) -> bool {
        match (self.bug, stored) {
            (Bug::CaseInsensitiveMatch, Some(s)) => s.to_lowercase() == wanted.to_lowercase(),
            (Bug::TrailingSpaceMatch, Some(s)) => s.trim_end() == wanted.trim_end(),
            (Bug::NormalizesKeys, Some(s)) => folded(s) == folded(wanted),
            (_, s) => s == Some(wanted),
        }
    }

    /// The row whose `field` holds `value`, as the bug compares (the list store's scan
    /// when the bug is elsewhere).
    fn position(&self, rows: &Rows, field: Field, value: &str) -> Option<usize> {
        if self.bug == Bug::StaleUserIndex && field == Field::UserName {
            let memory = self.memory();
            let (_, id) = memory.users.iter().find(|(u, _)| u == value)?;
            return rows.scan(Field::Id, id);
        }
        rows.rows
            .iter()
            .position(|r| self.matches(r[field.index()].as_deref(), value))
    }

    /// The row the token's key names, trying the candidates in the bug's order.
    fn locate(&self, rows: &Rows, token: &Token) -> Option<usize> {
        let key = LookupKey::of(token)?;
        let mut candidates = key.candidates().to_vec();
        if self.bug == Bug::RefreshBeforeGrant {
            candidates.reverse();
        }
        candidates
            .iter()
            .find_map(|(f, v)| self.position(rows, *f, v))
    }

    /// The list store's save rule over the bug's comparison.
    fn plan(&self, rows: &Rows, token: &Token) -> Result<SavePlan, StoreError> {
        save_plan(token, |f, v| self.position(rows, f, v), |at| rows.token(at))
    }

    /// A new id as the bug draws it; `None` leaves it to the list store's counter.
    fn drawn_id(&self, rows: &Rows) -> Result<Option<String>, StoreError> {
        let ids = || {
            rows.rows
                .iter()
                .filter_map(|r| r[Field::Id.index()].clone())
        };
        Ok(Some(match self.bug {
            Bug::TextMaxId => {
                let max = ids().max().unwrap_or_else(|| "0".into());
                (max.parse::<u64>().unwrap_or(0) + 1).to_string()
            }
            Bug::NumericIdsOnly => {
                let mut max = 0u64;
                for id in ids() {
                    let n = id.parse::<u64>();
                    max =
                        max.max(n.map_err(|_| backend("invalid literal for int() with base 10"))?);
                }
                (max + 1).to_string()
            }
            Bug::ReusesIds => {
                let taken: std::collections::HashSet<String> = ids().collect();
                (1u64..)
                    .map(|n| n.to_string())
                    .find(|id| !taken.contains(id))
                    .ok_or_else(|| backend("no free id"))?
            }
            _ => return Ok(None),
        }))
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

    /// A save in one critical section, with the bug's change to what is written.
    fn save_locked(&self, rows: &mut Rows, token: &Token) -> Result<String, StoreError> {
        if self.bug == Bug::PartialUpdateOnConflict {
            self.write_unkeyed_first(rows, token);
        }
        let plan = match self.plan(rows, token) {
            Err(StoreError::InvalidInput(_)) if self.bug == Bug::SecretInErrors => {
                let refresh = token.get(Field::RefreshToken).unwrap_or_default();
                let message = format!("cannot insert the token with refresh token {refresh}");
                return Err(StoreError::InvalidInput(message));
            }
            plan => plan?,
        };
        let inserted = matches!(plan, SavePlan::Insert(_));
        let id = match plan {
            SavePlan::Insert(new) if new.id().is_none() => match self.drawn_id(rows)? {
                Some(id) => rows.apply(SavePlan::Insert(new.with(Field::Id, &id))),
                None => rows.apply(SavePlan::Insert(new)),
            },
            SavePlan::Update { at, row } => self.update(rows, token, at, row),
            insert => rows.apply(insert),
        };
        let mut memory = self.memory();
        if let Some(user) = token.user_name() {
            memory.users.push((user.to_owned(), id.clone()));
        }
        if inserted {
            memory.listing = None;
        }
        Ok(id)
    }

    /// An update, with what `Bug::NoOpUpdateInserts` and `Bug::SplicedUpdateSql` add.
    fn update(&self, rows: &mut Rows, token: &Token, at: usize, row: Token) -> String {
        if self.bug == Bug::NoOpUpdateInserts && row == rows.token(at) {
            rows.apply(SavePlan::Insert(row.clone()));
        }
        if self.bug == Bug::SplicedUpdateSql && splices(token) {
            let mut set = token.clone();
            set.set(Field::Id, None);
            for other in 0..rows.rows.len() {
                let mut changed = rows.token(other);
                changed.apply_update(&set);
                rows.apply(SavePlan::Update {
                    at: other,
                    row: changed,
                });
            }
        }
        rows.apply(SavePlan::Update { at, row })
    }

    /// `Bug::PartialUpdateOnConflict`: the row's non-key fields are written before the
    /// save rule checks the keys.
    fn write_unkeyed_first(&self, rows: &mut Rows, token: &Token) {
        let by_id = token.id().and_then(|id| rows.scan(Field::Id, id));
        let Some(at) = by_id.or_else(|| self.locate(rows, token)) else {
            return;
        };
        let mut row = rows.token(at);
        let unkeyed = token.fields().filter(|(f, _)| !Field::KEYS.contains(f));
        for (f, v) in unkeyed.filter(|(f, _)| *f != Field::Id) {
            row.set(f, Some(v));
        }
        rows.apply(SavePlan::Update { at, row });
    }

    /// `Bug::UpdateThenInsertRace` and `Bug::UnlockedCheckThenInsert`: the save rule
    /// decides under the lock, the lock is let go, and what it decided is written under
    /// the lock taken again — by then another save may have written the same row.
    async fn check_then_act(&self, token: &Token) -> Result<String, StoreError> {
        let plan = self.plan(&self.list.rows(), token)?;
        if self.bug == Bug::UpdateThenInsertRace {
            tokio::task::yield_now().await;
        }
        // The new row is built outside the lock, as a store builds its INSERT between
        // its check and its write.
        let plan = match plan {
            SavePlan::Insert(checked) => SavePlan::Insert(
                checked
                    .fields()
                    .fold(Token::new(), |row, (f, v)| row.with(f, v)),
            ),
            update => update,
        };
        let mut rows = self.list.rows();
        match plan {
            SavePlan::Update { at, row } if at >= rows.rows.len() => {
                Ok(row.id().unwrap_or_default().to_owned())
            }
            plan => Ok(rows.apply(plan)),
        }
    }

    /// `Bug::RacyIdCounter`: the id is drawn before the lock is taken, as a read, the
    /// new row built with it, then a write: the shape of `next = counter + 1; row = …;
    /// counter = next` in a real store.
    fn racy_insert(&self, token: &Token) -> Result<String, StoreError> {
        let n = self.racy_counter.load(Ordering::SeqCst) + 1;
        let drawn = token.clone().with(Field::Id, &format!("r{n}"));
        self.racy_counter.store(n, Ordering::SeqCst);
        let mut rows = self.list.rows();
        match self.plan(&rows, token)? {
            SavePlan::Insert(_) => Ok(rows.apply(SavePlan::Insert(drawn))),
            update => Ok(rows.apply(update)),
        }
    }

    /// `Bug::TornWrites`: an update applied one field at a time, yielding in between.
    async fn torn_save(&self, token: &Token) -> Result<String, StoreError> {
        let id = {
            let mut rows = self.list.rows();
            match self.plan(&rows, token)? {
                SavePlan::Update { row, .. } => row.id().unwrap_or_default().to_owned(),
                insert => return Ok(rows.apply(insert)),
            }
        };
        for (field, value) in token.fields().filter(|(f, _)| *f != Field::Id) {
            {
                let mut rows = self.list.rows();
                if let Some(at) = rows.scan(Field::Id, &id) {
                    let mut row = rows.token(at);
                    row.set(field, Some(value));
                    rows.apply(SavePlan::Update { at, row });
                }
            }
            tokio::task::yield_now().await;
        }
        Ok(id)
    }

    /// `Bug::CachesFinds`: the cached row for the first of the probe's key values that
    /// has one, else a lookup, cached under the key value that found it.
    fn cached_lookup(&self, rows: &Rows, probe: &Token) -> Option<Token> {
        let key = LookupKey::of(probe)?;
        let mut memory = self.memory();
        for (field, value) in key.candidates() {
            let entry = (*field, value.to_string());
            if let Some((_, row)) = memory.finds.iter().find(|(k, _)| *k == entry) {
                return Some(row.clone());
            }
            if let Some(at) = rows.scan(*field, value) {
                memory.finds.push((entry, rows.token(at)));
                return Some(rows.token(at));
            }
        }
        None
    }

    /// Forgets what the caches and the user index hold after rows are deleted.
    fn forget_deleted(&self, id: Option<&str>) {
        let mut memory = self.memory();
        match id {
            Some(id) => memory.users.retain(|(_, rid)| rid != id),
            None => memory.users.clear(),
        }
        memory.finds.clear();
        memory.listing = None;
    }
}

impl TokenStore for MutantStore {
    fn capabilities(&self) -> Capabilities {
        self.list
            .capabilities()
            .durable(self.bug == Bug::ClaimsDurability)
    }

    fn files(&self) -> Vec<PathBuf> {
        self.list.files()
    }

    async fn find_token(&self, probe: &Token) -> Result<Option<Token>, StoreError> {
        let rows = self.list.rows();
        let stored = match self.bug {
            Bug::CachesFinds => self.cached_lookup(&rows, probe),
            Bug::FirstRowForNoKey if LookupKey::of(probe).is_none() => {
                rows.all().into_iter().next()
            }
            _ => self.locate(&rows, probe).map(|at| rows.token(at)),
        };
        Ok(stored.map(|row| match self.bug {
            Bug::FindDoesNotMerge => row,
            _ => probe.merged_over(row),
        }))
    }

    async fn save_token(&self, token: &Token) -> Result<String, StoreError> {
        let token = &self.as_written(token);
        // `Bug::CachesFinds` forgets only the answers cached under a key value the
        // saved token itself carries.
        self.memory()
            .finds
            .retain(|((f, v), _)| token.get(*f) != Some(v.as_str()));
        match self.bug {
            Bug::UpdateThenInsertRace | Bug::UnlockedCheckThenInsert => {
                self.check_then_act(token).await
            }
            Bug::RacyIdCounter if token.id().is_none() => self.racy_insert(token),
            Bug::TornWrites => self.torn_save(token).await,
            _ => self.save_locked(&mut self.list.rows(), token),
        }
    }

    async fn delete_token(&self, id: &str) -> Result<(), StoreError> {
        require_id(id)?;
        {
            let mut rows = self.list.rows();
            let deleted = rows.scan(Field::Id, id).map(|at| rows.token(at));
            match (self.bug, deleted) {
                (Bug::DeletesByUser, Some(row)) => {
                    let user = Field::UserName.index();
                    rows.rows.retain(|r| r[user].as_deref() != row.user_name());
                }
                (Bug::DeleteByPrefix, _) => {
                    let prefixed = |rid: &String| rid.starts_with(id);
                    rows.rows
                        .retain(|r| !r[Field::Id.index()].as_ref().is_some_and(prefixed));
                }
                _ => rows.delete(id),
            }
        }
        self.forget_deleted(Some(id));
        Ok(())
    }

    async fn get_tokens(&self) -> Result<Vec<Token>, StoreError> {
        if self.bug != Bug::CachesListing {
            return self.list.get_tokens().await;
        }
        let rows = self.list.rows();
        let mut memory = self.memory();
        Ok(memory.listing.get_or_insert_with(|| rows.all()).clone())
    }

    async fn delete_tokens(&self) -> Result<(), StoreError> {
        match self.bug {
            Bug::DeleteAllDoesNothing => {}
            Bug::DeleteAllSparesUserless => {
                let mut rows = self.list.rows();
                rows.rows.retain(|r| r[Field::UserName.index()].is_none());
            }
            _ => self.list.delete_tokens().await?,
        }
        self.forget_deleted(None);
        Ok(())
    }

    async fn find_token_by_id(&self, id: &str) -> Result<Option<Token>, StoreError> {
        require_id(id)?;
        let found = match self.bug {
            Bug::FoldsIds => {
                let fold = |s: &str| s.trim().to_lowercase();
                let all = self.list.get_tokens().await?;
                all.into_iter()
                    .find(|r| r.id().is_some_and(|rid| fold(rid) == fold(id)))
            }
            _ => self.list.find_token_by_id(id).await?,
        };
        match (found, self.bug) {
            (None, Bug::ByIdMissIsAnError) => Err(backend("no token with this id")),
            (found, _) => Ok(found),
        }
    }
}

/// Fresh mutants. The one that claims durability gets a "second instance" that is
/// really a new, empty one — which is what it amounts to. The file store's mutants
/// are durable: a second instance opens the same file, and their crash writer is
/// `<writer> crash-writer` (no writer: `durability.crash` fails, saying so).
pub fn factory(bug: Bug, writer: Option<PathBuf>) -> Factory {
    let flaw = match bug {
        Bug::RewritesInPlace => Flaw::RewritesInPlace,
        Bug::LocksOnlyItsThreads => Flaw::LocksOnlyItsThreads,
        _ => return list_factory(bug),
    };
    crate::spec::file_backed(
        std::env::temp_dir(),
        writer,
        "tokens.csv",
        move |path| Target::FlawedFile(flaw, path),
        move |path| FileStore::with_flaw(path, flaw),
    )
}

fn list_factory(bug: Bug) -> Factory {
    fixtures(move || async move {
        let mut fixture = Fixture::new(MutantStore::new(bug));
        if bug == Bug::ClaimsDurability {
            fixture =
                fixture.with_reopen(move || async move { Ok::<_, String>(MutantStore::new(bug)) });
        }
        Ok::<_, String>(fixture)
    })
}
