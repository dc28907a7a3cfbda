//! What the SQL stores share: the SDK's `oauthtoken` table, its column order and the
//! statements built from it. Every value is bound as a parameter; only these fixed
//! column names are ever written into SQL text.

use tokenstore_harness::{Field, Token};

/// The SDK's table name.
pub const TABLE: &str = "oauthtoken";

/// `id, user_name, …, api_domain`: the SDK's columns in order.
pub fn columns() -> String {
    Field::ALL.map(Field::name).join(", ")
}

/// How a driver marks the parameters of a statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code)] // a build with one backend uses one of them
pub enum Marks {
    /// `?` (SQLite, MySQL).
    Question,
    /// `$1`, `$2`, … (PostgreSQL).
    Numbered,
}

impl Marks {
    /// The mark of the `n`th parameter, from 1.
    pub fn mark(self, n: usize) -> String {
        match self {
            Marks::Question => "?".to_owned(),
            Marks::Numbered => format!("${n}"),
        }
    }
}

/// The statements of a SQL store on one table, built once when it opens.
#[derive(Clone, Debug)]
pub struct Statements {
    /// `SELECT <columns> FROM <table> WHERE <column> = ?`, for the id and each key column
    /// (indexed like `Field::index`; the other entries are unused).
    select_by: [String; 10],
    /// `SELECT <columns> FROM <table>`.
    pub select_all: String,
    /// `INSERT INTO <table> (<columns>) VALUES (?, …)`.
    pub insert: String,
    pub delete_one: String,
    pub delete_all: String,
}

impl Statements {
    pub fn new(table: &str, marks: Marks) -> Self {
        let cols = columns();
        let one = marks.mark(1);
        let all: Vec<String> = (1..=Field::ALL.len()).map(|n| marks.mark(n)).collect();
        Statements {
            select_by: Field::ALL
                .map(|f| format!("SELECT {cols} FROM {table} WHERE {} = {one}", f.name())),
            select_all: format!("SELECT {cols} FROM {table}"),
            insert: format!("INSERT INTO {table} ({cols}) VALUES ({})", all.join(", ")),
            delete_one: format!("DELETE FROM {table} WHERE id = {one}"),
            delete_all: format!("DELETE FROM {table}"),
        }
    }

    /// The lookup by one column.
    pub fn select_by(&self, field: Field) -> &str {
        &self.select_by[field.index()]
    }
}

/// What a server store's `import` checks before it writes anything: a batch is all or
/// nothing, so a token over `limits`, or one that names no row, stops it before the
/// first row.
#[cfg(any(feature = "mysql", feature = "postgres"))]
pub fn check_batch(
    tokens: &[Token],
    limits: &tokenstore_harness::Limits,
) -> Result<(), tokenstore_harness::StoreError> {
    for token in tokens {
        limits.check(token)?;
        if !tokenstore_harness::insertable(token) {
            return Err(tokenstore_harness::StoreError::not_insertable());
        }
    }
    Ok(())
}

/// `INSERT INTO <table> (<columns>) VALUES (…), (…)` for `rows` rows of parameters,
/// numbered across the rows.
#[cfg(any(feature = "mysql", feature = "postgres"))]
pub fn insert_rows(table: &str, rows: usize, marks: Marks) -> String {
    let width = Field::ALL.len();
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let row: Vec<String> = (1..=width).map(|c| marks.mark(r * width + c)).collect();
            format!("({})", row.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO {table} ({}) VALUES {}",
        columns(),
        values.join(", ")
    )
}

/// Each imported token's id: its own, or the next one drawn for it.
#[cfg(any(feature = "mysql", feature = "postgres"))]
pub fn own_or_drawn(tokens: &[Token], drawn: Vec<String>) -> Vec<String> {
    let mut drawn = drawn.into_iter();
    tokens
        .iter()
        .map(|token| match token.id() {
            Some(id) => id.to_owned(),
            None => drawn.next().unwrap_or_default(),
        })
        .collect()
}

/// A table or schema name, which is written into SQL text and so is checked, never
/// quoted blindly: 1 to 60 bytes that `allowed` accepts.
#[cfg(any(feature = "mysql", feature = "postgres"))]
pub fn check_name(
    name: &str,
    allowed: impl Fn(u8) -> bool,
    rule: &str,
) -> Result<(), tokenstore_harness::StoreError> {
    match !name.is_empty() && name.len() <= 60 && name.bytes().all(allowed) {
        true => Ok(()),
        false => Err(tokenstore_harness::StoreError::InvalidInput(
            rule.to_owned(),
        )),
    }
}

/// The key column a unique-index violation names, from a driver's message
/// (`… oauthtoken.access_token`, `… for key 'access_token'`). The column name comes
/// last in both, after any quoted value, so the last one mentioned wins.
pub fn conflicting_field(message: &str) -> Field {
    Field::KEYS
        .into_iter()
        .filter_map(|f| message.rfind(f.name()).map(|at| (at, f)))
        .max_by_key(|(at, _)| *at)
        .map_or(Field::UserName, |(_, f)| f)
}

/// The update a save makes to the row `id`: `UPDATE <table> SET <column> = ?, … WHERE
/// id = ?` for just the columns the token carries (rule 4.4: the others keep their
/// values), so that only their indexes change; and its parameters. `None` when the
/// token carries nothing but an id.
pub fn update_of(
    table: &str,
    token: &Token,
    id: &str,
    marks: Marks,
) -> Option<(String, Vec<String>)> {
    let changed: Vec<(Field, &str)> = token.fields().filter(|(f, _)| *f != Field::Id).collect();
    if changed.is_empty() {
        return None;
    }
    let sets: Vec<String> = changed
        .iter()
        .enumerate()
        .map(|(i, (f, _))| format!("{} = {}", f.name(), marks.mark(i + 1)))
        .collect();
    let values = changed.iter().map(|(_, v)| (*v).to_owned());
    let last = marks.mark(changed.len() + 1);
    Some((
        format!("UPDATE {table} SET {} WHERE id = {last}", sets.join(", ")),
        values.chain(std::iter::once(id.to_owned())).collect(),
    ))
}

#[cfg(any(feature = "mysql", feature = "postgres"))]
/// How often a save is tried when the server asks for a retry (a deadlock, a lock wait
/// timeout, a serialization failure, or a concurrent insert of the same key).
const SAVE_ATTEMPTS: u32 = 20;

/// A save attempt that failed: retry on the driver's error `E`, or give up.
#[cfg(any(feature = "mysql", feature = "postgres"))]
pub enum Attempt<E> {
    /// The server asks for a retry.
    Retry(E),
    /// A failure a retry cannot mend.
    Fail(tokenstore_harness::StoreError),
}

#[cfg(any(feature = "mysql", feature = "postgres"))]
impl<E> From<tokenstore_harness::StoreError> for Attempt<E> {
    fn from(e: tokenstore_harness::StoreError) -> Self {
        Attempt::Fail(e)
    }
}

/// Runs `attempt` until it saves, fails, or [`SAVE_ATTEMPTS`] are spent, with a short
/// growing pause between tries. `duplicate` names the key of a unique-index violation:
/// twice in a row is a real clash with another row (`Conflict`), not a concurrent
/// insert of the same user that a retry resolves.
#[cfg(any(feature = "mysql", feature = "postgres"))]
pub async fn with_retries<E, F: Future<Output = Result<String, Attempt<E>>>>(
    engine: &str,
    mut attempt: impl FnMut() -> F,
    duplicate: impl Fn(&E) -> Option<Field>,
) -> Result<String, tokenstore_harness::StoreError> {
    use tokenstore_harness::StoreError;
    let mut duplicates = 0;
    for n in 1..=SAVE_ATTEMPTS {
        match attempt().await {
            Ok(id) => return Ok(id),
            Err(Attempt::Fail(e)) => return Err(e),
            Err(Attempt::Retry(e)) => {
                if let Some(field) = duplicate(&e) {
                    duplicates += 1;
                    if duplicates == 2 {
                        return Err(StoreError::Conflict { field });
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(u64::from(n))).await;
            }
        }
    }
    Err(StoreError::Backend {
        message: format!(
            "{engine}: save gave up after {SAVE_ATTEMPTS} deadlocks, lock timeouts or \
             serialization failures"
        ),
        source: None,
    })
}

#[cfg(all(test, any(feature = "mysql", feature = "postgres")))]
mod tests {
    use super::*;

    #[test]
    fn rows_of_a_batch_number_their_parameters_across_the_rows() {
        let statement = insert_rows("t", 2, Marks::Numbered);
        assert!(statement.starts_with(&format!("INSERT INTO t ({}) VALUES ($1, ", columns())));
        assert!(statement.ends_with("$10), ($11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"));
        let statement = insert_rows("t", 2, Marks::Question);
        assert_eq!(statement.matches('?').count(), 20);
    }

    #[test]
    fn a_token_keeps_its_own_id_and_the_others_take_the_drawn_ones_in_order() {
        let tokens = [
            Token::new().with(Field::UserName, "a"),
            Token::new().with(Field::Id, "7"),
            Token::new().with(Field::UserName, "b"),
        ];
        let ids = own_or_drawn(&tokens, vec!["8".into(), "9".into()]);
        assert_eq!(ids, ["8", "7", "9"]);
    }
}
