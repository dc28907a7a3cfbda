//! `--update`: writes the reference model's answers into a scenario file's
//! expectations, keeping everything else of the file as written (comments, notes,
//! order), as sqllogictest's override mode does. A new scenario can then be written as
//! operations only, its answers filled in and reviewed before it is committed.

use toml_edit::{Array, DocumentMut, InlineTable, Item, Table, Value, value};

use crate::expand::FIELDS;
use crate::{Expect, LoadError, Scenario, Step, TokenSpec, ValueSpec};

/// Why a file could not be updated.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The file does not load (after the missing expectations were filled in).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The file is not TOML.
    #[error("{file}: {source}")]
    Toml {
        /// The file.
        file: String,
        /// The parse error, with its line.
        #[source]
        source: toml_edit::TomlError,
    },
    /// A scenario cannot be updated: it loops (`each`), or the model could not run it.
    #[error("{file}: scenario {scenario}: {message}")]
    Scenario {
        /// The file.
        file: String,
        /// The scenario.
        scenario: String,
        /// Why.
        message: String,
    },
}

/// The file `text` with every expectation replaced by what `answer` gives for its
/// scenario: `answer` runs the scenario on the model and returns it with the model's
/// answers as its expectations (`expect`, `error`; `get_tokens` gets `expect`).
/// A `find`, `find_by_id` or `get_tokens` step may be written without an expectation.
pub fn update(
    file: &str,
    text: &str,
    mut answer: impl FnMut(&Scenario) -> Result<Scenario, String>,
) -> Result<String, UpdateError> {
    let mut doc: DocumentMut = text.parse().map_err(|source| UpdateError::Toml {
        file: file.to_owned(),
        source,
    })?;
    let failed = |scenario: &str, message: String| UpdateError::Scenario {
        file: file.to_owned(),
        scenario: scenario.to_owned(),
        message,
    };
    for table in scenario_tables(&mut doc) {
        let name = table.get("name").and_then(Item::as_str).unwrap_or("");
        if table.contains_key("each") {
            return Err(failed(
                name,
                "--update does not rewrite `each` loops".into(),
            ));
        }
        for step in step_tables(table) {
            fill_in(step);
        }
    }
    let scenarios = crate::parse(file, &doc.to_string())?;
    for (table, scenario) in scenario_tables(&mut doc).zip(&scenarios) {
        let answered = answer(scenario).map_err(|e| failed(&scenario.name, e))?;
        for (step, answered) in step_tables(table).into_iter().zip(&answered.steps) {
            write(step, &answered.op);
        }
    }
    Ok(doc.to_string())
}

fn scenario_tables(doc: &mut DocumentMut) -> impl Iterator<Item = &mut Table> {
    doc.get_mut("scenario")
        .and_then(Item::as_array_of_tables_mut)
        .into_iter()
        .flat_map(|tables| tables.iter_mut())
}

/// The setup steps, then the steps: the order a loaded scenario has them in.
fn step_tables(scenario: &mut Table) -> Vec<&mut Table> {
    let mut setup = None;
    let mut steps = None;
    for (key, item) in scenario.iter_mut() {
        match key.get() {
            "setup" => setup = item.as_array_of_tables_mut(),
            "step" => steps = item.as_array_of_tables_mut(),
            _ => {}
        }
    }
    setup
        .into_iter()
        .chain(steps)
        .flat_map(|tables| tables.iter_mut())
        .collect()
}

/// A placeholder expectation where a check would assert nothing, so that the file
/// loads; the model's answer replaces it.
fn fill_in(step: &mut Table) {
    let has = |step: &Table, k: &str| step.contains_key(k);
    let finds = has(step, "find") || has(step, "find_by_id");
    if finds && !has(step, "expect") && !has(step, "error") {
        step.insert("expect", value("none"));
    }
    if has(step, "get_tokens") && !has(step, "expect") && !has(step, "count") {
        step.insert("count", value(0));
    }
}

fn write(step: &mut Table, answered: &Step) {
    match answered {
        Step::Save { error, .. } | Step::Delete { error, .. } => match error {
            Some(kind) => set(step, "error", value(kind.to_string())),
            None => drop(step.remove("error")),
        },
        Step::Find { expect, error, .. } | Step::FindById { expect, error, .. } => {
            match (error, expect) {
                (Some(kind), _) => {
                    step.remove("expect");
                    set(step, "error", value(kind.to_string()));
                }
                (None, Some(expect)) => {
                    step.remove("error");
                    let item = match expect {
                        Expect::Nothing => value("none"),
                        Expect::Token(t) => Item::Value(Value::InlineTable(inline(t))),
                    };
                    set(step, "expect", item);
                }
                (None, None) => {}
            }
        }
        Step::GetTokens {
            expect: Some(rows), ..
        } => {
            step.remove("count");
            let rows: Array = rows.iter().map(|t| Value::InlineTable(inline(t))).collect();
            set(step, "expect", Item::Value(Value::Array(rows)));
        }
        _ => {}
    }
}

/// Replaces a key's value, keeping its place in the table.
fn set(step: &mut Table, key: &str, item: Item) {
    match step.get_mut(key) {
        Some(old) => *old = item,
        None => {
            step.insert(key, item);
        }
    }
}

/// A token as an inline table, its fields in column order.
fn inline(token: &TokenSpec) -> InlineTable {
    let mut fields: Vec<(&String, &ValueSpec)> = token.iter().collect();
    let order = |name: &str| {
        FIELDS
            .iter()
            .position(|f| *f == name)
            .unwrap_or(FIELDS.len())
    };
    fields.sort_by_key(|(name, _)| match name.as_str() {
        "id_ref" => 0,
        other => order(other),
    });
    let mut table = InlineTable::new();
    for (name, v) in fields {
        if let ValueSpec::Text(text) = v {
            table.insert(name, Value::from(text.as_str()));
        }
    }
    table
}
