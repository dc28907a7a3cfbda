//! What the SQL stores share: the SDK's `oauthtoken` table, its column order and the
//! statements built from it. Every value is bound as a parameter; only these fixed
//! column names are ever written into SQL text.

use tokenstore_harness::Field;

/// The SDK's table name.
pub const TABLE: &str = "oauthtoken";

/// `id, user_name, …, api_domain`: the SDK's columns in order.
pub fn columns() -> String {
    Field::ALL.map(Field::name).join(", ")
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
    /// `UPDATE <table> SET user_name = ?, … WHERE id = ?` (see [`update_params`]).
    pub update: String,
    pub delete_one: String,
    pub delete_all: String,
}

impl Statements {
    pub fn new(table: &str) -> Self {
        let cols = columns();
        let marks = vec!["?"; Field::ALL.len()].join(", ");
        let sets: Vec<String> = Field::ALL[1..]
            .iter()
            .map(|f| format!("{} = ?", f.name()))
            .collect();
        Statements {
            select_by: Field::ALL
                .map(|f| format!("SELECT {cols} FROM {table} WHERE {} = ?", f.name())),
            select_all: format!("SELECT {cols} FROM {table}"),
            insert: format!("INSERT INTO {table} ({cols}) VALUES ({marks})"),
            update: format!("UPDATE {table} SET {} WHERE id = ?", sets.join(", ")),
            delete_one: format!("DELETE FROM {table} WHERE id = ?"),
            delete_all: format!("DELETE FROM {table}"),
        }
    }

    /// The lookup by one column.
    pub fn select_by(&self, field: Field) -> &str {
        &self.select_by[field.index()]
    }
}

/// The parameters of [`Statements::update`]: the row's columns after the id, then the id.
pub fn update_params(row: &[Option<&str>; 10]) -> Vec<Option<String>> {
    row[1..]
        .iter()
        .chain(std::iter::once(&row[0]))
        .map(|v| v.map(str::to_owned))
        .collect()
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

/// `UPDATE <table> SET <column> = ?, … WHERE id = ?` for just these columns, so that an
/// update touches only the indexes of the columns it changes.
pub fn update_some(table: &str, fields: &[Field]) -> String {
    let sets: Vec<String> = fields.iter().map(|f| format!("{} = ?", f.name())).collect();
    format!("UPDATE {table} SET {} WHERE id = ?", sets.join(", "))
}
