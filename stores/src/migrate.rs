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
    /// The fields absent in the kept row that were filled from the dropped one
    /// (`--fill-from-dropped`); empty otherwise.
    pub filled: Vec<&'static str>,
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
    /// Rows the source could not read whole, with why (a CSV line with too few or too
    /// many fields): left out rather than copied in part.
    pub malformed: Vec<(RowRef, String)>,
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
    /// Tokens over the destination's limits: nothing was written.
    #[error("{} rows do not fit the destination (nothing was written):\n{}", .0.len(), over(.0))]
    OverLimits(Vec<(RowRef, String)>),
    /// The destination refused or failed a write.
    #[error("the destination failed: {0}")]
    Store(#[from] StoreError),
    /// After the copy, the destination does not hold what was copied.
    #[error("verification failed: {0}")]
    Verify(String),
}

fn over(rows: &[(RowRef, String)]) -> String {
    let lines: Vec<String> = rows
        .iter()
        .map(|(at, why)| format!("  {at}: {why}"))
        .collect();
    lines.join("\n")
}

fn list(conflicts: &[Resolution]) -> String {
    let lines: Vec<String> = conflicts
        .iter()
        .map(|c| format!("  {} shares {} with {}", c.dropped, c.field, c.kept))
        .collect();
    lines.join("\n")
}

/// Reads the source and decides what to write. With `fill`, a kept row's absent
/// fields are filled from the rows left out for it (see [`Resolution::filled`]).
pub async fn plan(
    source: &AuditSource,
    policy: OnDuplicate,
    fill: bool,
) -> Result<Plan, MigrateError> {
    let mut plan = Plan::default();
    let mut candidates = Vec::new();
    let mut take = |row: RawRow| {
        plan.rows += 1;
        let (at, token) = (row_ref(&row), Token::from_row(&row.values));
        match (row.malformed, insertable(&token)) {
            (Some(why), _) => plan.malformed.push((at, why)),
            (None, true) => candidates.push((at, token)),
            (None, false) => plan.unstorable.push(at),
        }
    };
    source.scan(&mut [&mut take]).await?;
    resolve(&mut plan, candidates, policy, fill);
    if policy == OnDuplicate::Fail && !plan.resolutions.is_empty() {
        return Err(MigrateError::Conflicts(plan.resolutions));
    }
    Ok(plan)
}

/// Keeps the first of the rows sharing a key, in source order or newest first; the
/// tokens to write are then in source order.
fn resolve(plan: &mut Plan, mut candidates: Vec<(RowRef, Token)>, policy: OnDuplicate, fill: bool) {
    if policy == OnDuplicate::Newest {
        candidates.sort_by_key(|(_, token)| std::cmp::Reverse(newness(token)));
    }
    keep_first(plan, candidates, fill);
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

/// Which kept token (its index in `plan.tokens`) holds each unique value.
type Holders = HashMap<(Field, String), usize>;

/// Keeps each candidate, in order, unless a kept one holds one of its key values; an id
/// that a kept token holds already is dropped (the store gives a new one).
fn keep_first(plan: &mut Plan, candidates: Vec<(RowRef, Token)>, fill: bool) {
    let mut holders = Holders::new();
    for (at, mut token) in candidates {
        let shared = Field::KEYS.into_iter().find_map(|f| {
            let value = token.get(f)?;
            holders.get(&(f, value.to_owned())).map(|&kept| (f, kept))
        });
        if let Some((field, kept)) = shared {
            let filled = match fill {
                true => fill_absent(plan, &mut holders, kept, &token),
                false => Vec::new(),
            };
            plan.resolutions.push(Resolution {
                kept: plan.tokens[kept].0.clone(),
                dropped: at,
                field: field.name(),
                filled,
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
        hold(&mut holders, &token, plan.tokens.len());
        plan.tokens.push((at, token));
    }
}

fn hold(holders: &mut Holders, token: &Token, index: usize) {
    for f in UNIQUE_FIELDS {
        if let Some(value) = token.get(f) {
            holders.insert((f, value.to_owned()), index);
        }
    }
}

/// Fills the kept token's absent fields from a row left out for it: never the id, and a
/// key value only if no kept token holds it. Returns the fields filled.
fn fill_absent(
    plan: &mut Plan,
    holders: &mut Holders,
    kept: usize,
    dropped: &Token,
) -> Vec<&'static str> {
    let mut filled = Vec::new();
    for f in Field::ALL.into_iter().filter(|&f| f != Field::Id) {
        let Some(value) = dropped.get(f) else {
            continue;
        };
        let held = UNIQUE_FIELDS.contains(&f) && holders.contains_key(&(f, value.to_owned()));
        if plan.tokens[kept].1.get(f).is_none() && !held {
            plan.tokens[kept].1.set(f, Some(value));
            filled.push(f.name());
        }
    }
    hold(holders, &plan.tokens[kept].1.clone(), kept);
    filled
}

/// The token as the destination must hold it, with the id it was given.
fn expected(token: &Token, id: &str) -> Token {
    token.clone().with(Field::Id, id)
}

/// How many tokens are written per call of the batch writer.
pub const BATCH: usize = 1000;

/// Writes the plan into `dest`, which must hold every token within its limits (else
/// nothing is written) and be empty or hold only tokens of this
/// migration (an earlier, interrupted run, whose tokens are not written again),
/// [`BATCH`] tokens per call of `save_batch` (each store's `import`: one transaction,
/// or one atomic replace of a file), then verifies that every token is
/// found by its id and by its key with the same fields, and that the counts match.
/// Tokens that keep their id are written before those the store numbers, so that a
/// drawn id never takes one a later token keeps. `progress` gets the tokens present.
pub async fn write<S: TokenStore + ?Sized>(
    plan: &Plan,
    dest: &S,
    mut save_batch: impl AsyncFnMut(&[Token]) -> Result<Vec<String>, StoreError>,
    mut progress: impl FnMut(u64),
) -> Result<(), MigrateError> {
    let limits = dest.capabilities().limits;
    let over: Vec<(RowRef, String)> = plan
        .tokens
        .iter()
        .filter_map(|(at, token)| Some((at.clone(), limits.check(token).err()?.to_string())))
        .collect();
    if !over.is_empty() {
        return Err(MigrateError::OverLimits(over));
    }
    let mut ids = present(plan, &dest.get_tokens().await?)?;
    let (numbered, unnumbered): (Vec<usize>, Vec<usize>) = (0..plan.tokens.len())
        .filter(|&i| ids[i].is_none())
        .partition(|&i| plan.tokens[i].1.id().is_some());
    let mut done = (plan.tokens.len() - numbered.len() - unnumbered.len()) as u64;
    progress(done);
    for chunk in numbered.chunks(BATCH).chain(unnumbered.chunks(BATCH)) {
        let tokens: Vec<Token> = chunk.iter().map(|&i| plan.tokens[i].1.clone()).collect();
        let saved = save_batch(&tokens).await?;
        for (&i, id) in chunk.iter().zip(saved) {
            ids[i] = Some(id);
        }
        done += chunk.len() as u64;
        progress(done);
    }
    let ids: Vec<String> = ids.into_iter().map(Option::unwrap_or_default).collect();
    verify(plan, dest, &ids).await
}

/// The id under which each planned token is in the destination already (left by an
/// interrupted run), or an error if the destination holds a row the plan does not.
fn present(plan: &Plan, rows: &[Token]) -> Result<Vec<Option<String>>, MigrateError> {
    let planned = Planned::of(plan);
    let mut ids = vec![None; plan.tokens.len()];
    let mut foreign = 0;
    for row in rows {
        match planned.index_of(row) {
            Some(i) => ids[i] = row.id().map(str::to_owned),
            None => foreign += 1,
        }
    }
    match foreign {
        0 => Ok(ids),
        n => Err(MigrateError::NotEmpty(n)),
    }
}

/// The plan's tokens by id and by key value, to tell in one lookup which planned token
/// a destination row is (left by an interrupted run).
struct Planned<'a> {
    plan: &'a Plan,
    by_value: HashMap<(Field, &'a str), usize>,
}

impl<'a> Planned<'a> {
    fn of(plan: &'a Plan) -> Self {
        let mut by_value = HashMap::new();
        for (i, (_, token)) in plan.tokens.iter().enumerate() {
            for f in UNIQUE_FIELDS {
                if let Some(value) = token.get(f) {
                    by_value.insert((f, value), i);
                }
            }
        }
        Planned { plan, by_value }
    }

    fn index_of(&self, row: &Token) -> Option<usize> {
        let id = row.id().unwrap_or_default();
        UNIQUE_FIELDS
            .into_iter()
            .filter_map(|f| self.by_value.get(&(f, row.get(f)?)).copied())
            .find(|&i| {
                let token = &self.plan.tokens[i].1;
                token.id().is_none_or(|own| own == id) && *row == expected(token, id)
            })
    }
}

/// Lookups in flight at once while verifying: a server store answers them on several
/// connections (the MySQL store's pool has eight); an embedded one takes them in turn.
const VERIFY_IN_FLIGHT: usize = 16;

async fn verify<S: TokenStore + ?Sized>(
    plan: &Plan,
    dest: &S,
    ids: &[String],
) -> Result<(), MigrateError> {
    use futures_util::{StreamExt, TryStreamExt};
    futures_util::stream::iter(plan.tokens.iter().zip(ids))
        .map(|((at, token), id)| verify_one(dest, at, token, id))
        .buffer_unordered(VERIFY_IN_FLIGHT)
        .try_collect::<()>()
        .await?;
    let count = dest.get_tokens().await?.len();
    if count != plan.tokens.len() {
        return Err(MigrateError::Verify(format!(
            "the destination holds {count} tokens, {} were copied",
            plan.tokens.len()
        )));
    }
    Ok(())
}

/// The token is found whole by its id and by its key.
async fn verify_one<S: TokenStore + ?Sized>(
    dest: &S,
    at: &RowRef,
    token: &Token,
    id: &str,
) -> Result<(), MigrateError> {
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
    Ok(())
}

/// The plan for people: what is copied, left out, renumbered.
pub fn describe(plan: &Plan) -> String {
    let mut out = format!(
        "{} rows read: {} tokens to copy, {} left out (sharing a key), {} that no store can \
         hold, {} malformed, {} given a new id\n",
        plan.rows,
        plan.tokens.len(),
        plan.resolutions.len(),
        plan.unstorable.len(),
        plan.malformed.len(),
        plan.new_ids.len()
    );
    for r in &plan.resolutions {
        let filled = match r.filled.is_empty() {
            true => String::new(),
            false => format!("; filled its {} from it", r.filled.join(", ")),
        };
        out.push_str(&format!(
            "left out: {} (shares {} with {}, kept{filled})\n",
            r.dropped, r.field, r.kept
        ));
    }
    for at in &plan.unstorable {
        out.push_str(&format!(
            "left out: {at} (no key, or no access, refresh or grant token)\n"
        ));
    }
    for (at, why) in &plan.malformed {
        out.push_str(&format!("left out: {at} (malformed: {why})\n"));
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
        resolve(&mut plan, rows, policy, false);
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
    fn fill_takes_absent_fields_from_the_dropped_row_but_never_a_held_value() {
        use Field::*;
        let rows = vec![
            candidate(1, &[(Id, "1"), (UserName, "u"), (RefreshToken, "r1")]),
            candidate(
                2,
                &[
                    (Id, "2"),
                    (UserName, "u"),
                    (RefreshToken, "r2"),
                    (AccessToken, "a3"),
                    (GrantToken, "g2"),
                    (ClientSecret, "s"),
                ],
            ),
            candidate(3, &[(Id, "3"), (UserName, "w"), (AccessToken, "a3")]),
        ];
        let mut plan = Plan::default();
        resolve(&mut plan, rows.clone(), OnDuplicate::KeepFirst, true);
        let kept = &plan.tokens[0].1;
        assert_eq!(kept.get(GrantToken), Some("g2"));
        assert_eq!(kept.get(ClientSecret), Some("s"));
        assert_eq!(
            kept.get(RefreshToken),
            Some("r1"),
            "a present field is kept"
        );
        assert_eq!(
            plan.resolutions[0].filled,
            vec!["client_secret", "access_token", "grant_token"]
        );
        // Row 3 now shares the access token filled into row 1, and is left out for it.
        assert_eq!(plan.resolutions[1].dropped.row, 3);
        assert_eq!(plan.resolutions[1].field, "access_token");
        let mut unfilled = Plan::default();
        resolve(&mut unfilled, rows, OnDuplicate::KeepFirst, false);
        assert_eq!(unfilled.tokens[0].1.get(GrantToken), None);
        assert!(unfilled.resolutions[0].filled.is_empty());
        assert_eq!(unfilled.tokens.len(), 2);
    }

    #[test]
    fn a_drawn_id_never_takes_the_id_a_later_row_keeps() {
        use Field::*;
        let plan = planned(
            OnDuplicate::Fail,
            vec![
                candidate(1, &[(UserName, "a"), (RefreshToken, "ra")]),
                candidate(2, &[(Id, "1"), (UserName, "b"), (RefreshToken, "rb")]),
                candidate(3, &[(Id, "2"), (UserName, "c"), (RefreshToken, "rc")]),
            ],
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = crate::SqliteStore::open(dir.path().join("t.db")).expect("a store");
        let batch = async |tokens: &[Token]| store.import(tokens);
        tokenstore_harness::runtime()
            .block_on(write(&plan, &store, batch, |_| ()))
            .expect("written and verified");
        let first = tokenstore_harness::runtime()
            .block_on(store.find_token(&Token::new().with(UserName, "a")))
            .expect("a lookup")
            .expect("row 1 is there");
        assert!(!["1", "2"].contains(&first.id().unwrap_or_default()));
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
