//! `tokenstore migrate`: every token of a source (as `audit` reads it) into a reference
//! store, keeping ids where they are valid and unique and resolving rows that share a
//! key by a stated policy. Tokens are written in batches, each one transaction where
//! the store can; each token is saved as `save_token` saves it, which leaves a token
//! that is already there unchanged: a run killed at any moment and run again ends with
//! every token present once, and a second run changes nothing.

use std::collections::HashMap;

use tokenstore_harness::{Field, StoreError, Token, TokenStore, insertable};

use crate::audit::{AuditError, AuditSource, RawRow, RowRef, UNIQUE_FIELDS, row_ref};

/// What to do with rows that share a user name, access, grant or refresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnDuplicate {
    /// Copy nothing and list the conflicts.
    Fail,
    /// Keep the row with the latest `expiry_time` (then the greatest id).
    Newest,
    /// Keep the first row in the source's order.
    KeepFirst,
}

/// One resolved conflict: which row was kept, which was left out, over which field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// The row copied.
    pub kept: RowRef,
    /// The row left out.
    pub dropped: RowRef,
    /// The field whose value they share.
    pub field: &'static str,
}

/// What a migration will write, decided from the source alone.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Rows read.
    pub rows: u64,
    /// The tokens to write, each with the source row it comes from.
    pub tokens: Vec<(RowRef, Token)>,
    /// Rows no store can hold (no key, or no access, refresh or grant token).
    pub unstorable: Vec<RowRef>,
    /// Rows that share a key with a kept row, and were left out.
    pub resolutions: Vec<Resolution>,
    /// Rows whose id is empty or taken by another kept row: the store gives them one.
    pub new_ids: Vec<RowRef>,
}

/// Why a migration stopped. Never holds a password or a stored value.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The source could not be read.
    #[error(transparent)]
    Source(#[from] AuditError),
    /// Rows share a key and the policy is `fail`: nothing was written.
    #[error("{} rows share a key with an earlier row (nothing was written; choose --on-duplicate newest or keep-first):\n{}", .0.len(), list(.0))]
    Conflicts(Vec<Resolution>),
    /// The destination holds tokens that are not the source's.
    #[error(
        "the destination holds {0} token(s) that are not the source's: migrate into an empty store"
    )]
    NotEmpty(usize),
    /// The destination refused or failed a write.
    #[error("the destination failed: {0}")]
    Store(#[from] StoreError),
    /// After the copy, the destination does not hold what was copied.
    #[error("verification failed: {0}")]
    Verify(String),
}

fn list(conflicts: &[Resolution]) -> String {
    let lines: Vec<String> = conflicts
        .iter()
        .map(|c| format!("  {} shares {} with {}", c.dropped, c.field, c.kept))
        .collect();
    lines.join("\n")
}

/// Reads the source and decides what to write.
pub async fn plan(source: &AuditSource, policy: OnDuplicate) -> Result<Plan, MigrateError> {
    let mut plan = Plan::default();
    let mut candidates = Vec::new();
    let mut take = |row: RawRow| {
        plan.rows += 1;
        let (at, token) = (row_ref(&row), Token::from_row(&row.values));
        match insertable(&token) {
            true => candidates.push((at, token)),
            false => plan.unstorable.push(at),
        }
    };
    source.scan(&mut [&mut take]).await?;
    resolve(&mut plan, candidates, policy);
    if policy == OnDuplicate::Fail && !plan.resolutions.is_empty() {
        return Err(MigrateError::Conflicts(plan.resolutions));
    }
    Ok(plan)
}

/// Keeps the first of the rows sharing a key, in source order or newest first; the
/// tokens to write are then in source order.
fn resolve(plan: &mut Plan, mut candidates: Vec<(RowRef, Token)>, policy: OnDuplicate) {
    if policy == OnDuplicate::Newest {
        candidates.sort_by_key(|(_, token)| std::cmp::Reverse(newness(token)));
    }
    keep_first(plan, candidates);
    plan.tokens.sort_by_key(|(at, _)| at.row);
}

/// `expiry_time` as a number (absent or not a number: oldest), then the id as a number
/// where it is one, then as text.
fn newness(token: &Token) -> (i128, i128, String) {
    let number = |f| {
        token
            .get(f)
            .and_then(|v: &str| v.trim().parse::<i128>().ok())
    };
    let id = token.id().unwrap_or_default().to_owned();
    (
        number(Field::ExpiryTime).unwrap_or(i128::MIN),
        number(Field::Id).unwrap_or(i128::MIN),
        id,
    )
}

/// Keeps each candidate, in order, unless a kept one holds one of its key values; an id
/// that a kept token holds already is dropped (the store gives a new one).
fn keep_first(plan: &mut Plan, candidates: Vec<(RowRef, Token)>) {
    let mut holders: HashMap<(Field, String), RowRef> = HashMap::new();
    for (at, mut token) in candidates {
        let shared = Field::KEYS.into_iter().find_map(|f| {
            let value = token.get(f)?;
            holders.get(&(f, value.to_owned())).map(|kept| (f, kept))
        });
        if let Some((field, kept)) = shared {
            plan.resolutions.push(Resolution {
                kept: kept.clone(),
                dropped: at,
                field: field.name(),
            });
            continue;
        }
        let taken = token
            .id()
            .is_some_and(|id| holders.contains_key(&(Field::Id, id.to_owned())));
        if taken || token.id().is_none() {
            token.set(Field::Id, None);
            plan.new_ids.push(at.clone());
        }
        for f in UNIQUE_FIELDS {
            if let Some(value) = token.get(f) {
                holders.insert((f, value.to_owned()), at.clone());
            }
        }
        plan.tokens.push((at, token));
    }
}

/// The token as the destination must hold it, with the id it was given.
fn expected(token: &Token, id: &str) -> Token {
    token.clone().with(Field::Id, id)
}

/// How many tokens are written per call of the batch writer.
pub const BATCH: usize = 1000;

/// Writes the plan into `dest`, which must be empty or hold only tokens of this
/// migration (an earlier, interrupted run), [`BATCH`] tokens per call of `save_batch`
/// (one transaction where the store can, as `SqliteStore::save_all`; see
/// [`one_by_one`]), then verifies that every token is found by its id and by its key
/// with the same fields, and that the counts match. `progress` gets the tokens written.
pub async fn write<S: TokenStore + ?Sized>(
    plan: &Plan,
    dest: &S,
    mut save_batch: impl AsyncFnMut(&[Token]) -> Result<Vec<String>, StoreError>,
    mut progress: impl FnMut(u64),
) -> Result<(), MigrateError> {
    let before = dest.get_tokens().await?;
    let planned = Planned::of(plan);
    let foreign = before.iter().filter(|row| !planned.holds(row)).count();
    if foreign > 0 {
        return Err(MigrateError::NotEmpty(foreign));
    }
    let mut ids = Vec::with_capacity(plan.tokens.len());
    for chunk in plan.tokens.chunks(BATCH) {
        let tokens: Vec<Token> = chunk.iter().map(|(_, token)| token.clone()).collect();
        ids.extend(save_batch(&tokens).await?);
        progress(ids.len() as u64);
    }
    verify(plan, dest, &ids).await
}

/// The batch writer of a store without one: a `save_token` per token.
pub async fn one_by_one<S: TokenStore + ?Sized>(
    dest: &S,
    tokens: &[Token],
) -> Result<Vec<String>, StoreError> {
    let mut ids = Vec::with_capacity(tokens.len());
    for token in tokens {
        ids.push(dest.save_token(token).await?);
    }
    Ok(ids)
}

/// The plan's tokens by id and by key value, to tell in one lookup whether a
/// destination row is one the plan writes (left by an interrupted run).
struct Planned<'a> {
    by_value: HashMap<(Field, &'a str), &'a Token>,
}

impl<'a> Planned<'a> {
    fn of(plan: &'a Plan) -> Self {
        let mut by_value = HashMap::new();
        for (_, token) in &plan.tokens {
            for f in UNIQUE_FIELDS {
                if let Some(value) = token.get(f) {
                    by_value.insert((f, value), token);
                }
            }
        }
        Planned { by_value }
    }

    fn holds(&self, row: &Token) -> bool {
        let id = row.id().unwrap_or_default();
        UNIQUE_FIELDS
            .into_iter()
            .filter_map(|f| self.by_value.get(&(f, row.get(f)?)))
            .any(|token| token.id().is_none_or(|own| own == id) && *row == expected(token, id))
    }
}

async fn verify<S: TokenStore + ?Sized>(
    plan: &Plan,
    dest: &S,
    ids: &[String],
) -> Result<(), MigrateError> {
    for ((at, token), id) in plan.tokens.iter().zip(ids) {
        let want = expected(token, id);
        let by_id = dest.find_token_by_id(id).await?;
        let mut probe = token.clone();
        probe.set(Field::Id, None);
        let by_key = dest.find_token(&probe).await?;
        if by_id.as_ref() != Some(&want) || by_key.as_ref() != Some(&want) {
            return Err(MigrateError::Verify(format!(
                "{at} is not found whole by its id and its key"
            )));
        }
    }
    let count = dest.get_tokens().await?.len();
    if count != plan.tokens.len() {
        return Err(MigrateError::Verify(format!(
            "the destination holds {count} tokens, {} were copied",
            plan.tokens.len()
        )));
    }
    Ok(())
}

/// The plan for people: what is copied, left out, renumbered.
pub fn describe(plan: &Plan) -> String {
    let mut out = format!(
        "{} rows read: {} tokens to copy, {} left out (sharing a key), {} that no store can \
         hold, {} given a new id\n",
        plan.rows,
        plan.tokens.len(),
        plan.resolutions.len(),
        plan.unstorable.len(),
        plan.new_ids.len()
    );
    for r in &plan.resolutions {
        out.push_str(&format!(
            "left out: {} (shares {} with {}, kept)\n",
            r.dropped, r.field, r.kept
        ));
    }
    for at in &plan.unstorable {
        out.push_str(&format!(
            "left out: {at} (no key, or no access, refresh or grant token)\n"
        ));
    }
    for at in &plan.new_ids {
        out.push_str(&format!("new id: {at} (its id is empty or taken)\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(row: u64, pairs: &[(Field, &str)]) -> (RowRef, Token) {
        let mut token = Token::new();
        for (f, v) in pairs {
            token.set(*f, Some(v));
        }
        let id = token.id().map(str::to_owned);
        (RowRef { row, id }, token)
    }

    fn planned(policy: OnDuplicate, rows: Vec<(RowRef, Token)>) -> Plan {
        let mut plan = Plan::default();
        resolve(&mut plan, rows, policy);
        plan
    }

    fn rows() -> Vec<(RowRef, Token)> {
        use Field::*;
        vec![
            candidate(
                1,
                &[
                    (Id, "1"),
                    (UserName, "u"),
                    (RefreshToken, "r1"),
                    (ExpiryTime, "1000"),
                ],
            ),
            candidate(
                2,
                &[
                    (Id, "2"),
                    (UserName, "u"),
                    (RefreshToken, "r2"),
                    (ExpiryTime, "2000"),
                ],
            ),
            candidate(3, &[(Id, "1"), (UserName, "v"), (RefreshToken, "r3")]),
        ]
    }

    #[test]
    fn keep_first_keeps_the_first_and_renumbers_a_taken_id() {
        let plan = planned(OnDuplicate::KeepFirst, rows());
        let kept: Vec<u64> = plan.tokens.iter().map(|(at, _)| at.row).collect();
        assert_eq!(kept, vec![1, 3]);
        assert_eq!(plan.resolutions[0].dropped.row, 2);
        assert_eq!(plan.resolutions[0].field, "user_name");
        assert_eq!(
            plan.new_ids.iter().map(|a| a.row).collect::<Vec<_>>(),
            vec![3]
        );
        assert_eq!(plan.tokens[1].1.id(), None);
    }

    #[test]
    fn newest_keeps_the_latest_expiry() {
        let plan = planned(OnDuplicate::Newest, rows());
        let kept: Vec<u64> = plan.tokens.iter().map(|(at, _)| at.row).collect();
        assert_eq!(kept, vec![2, 3]);
        assert_eq!(plan.resolutions[0].dropped.row, 1);
        assert!(plan.new_ids.is_empty(), "{:?}", plan.new_ids);
    }
}
