//! The TokenStore conformance scenarios: declarative TOML files, one per clause family,
//! embedded in this crate, and their loader.
//!
//! The format is language-neutral and documented in `scenarios/FORMAT.md`. The loader
//! checks a file's structure and expands `each` loops into plain steps; the harness
//! interprets the steps against a store.
// Every public item says what it is: users build on this crate.
#![warn(missing_docs)]

use std::collections::BTreeMap;

use serde::Deserialize;

mod expand;
mod update;

pub use update::{UpdateError, update};

/// The embedded scenario files: (file name, text).
pub const FILES: &[(&str, &str)] = &[
    ("find.toml", include_str!("../files/find.toml")),
    ("save.toml", include_str!("../files/save.toml")),
    ("id.toml", include_str!("../files/id.toml")),
    ("by-id.toml", include_str!("../files/by-id.toml")),
    ("delete.toml", include_str!("../files/delete.toml")),
    ("all.toml", include_str!("../files/all.toml")),
    ("value.toml", include_str!("../files/value.toml")),
    ("security.toml", include_str!("../files/security.toml")),
    ("flow.toml", include_str!("../files/flow.toml")),
    ("regression.toml", include_str!("../files/regression.toml")),
];

/// A scenario ready to run: concrete steps, run in order on one fresh store.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The file's family (`find`, `save`, ...).
    pub family: String,
    /// Its name, unique within the family.
    pub name: String,
    /// The clause ids this scenario checks.
    pub clauses: Vec<String>,
    /// What it checks, in a sentence.
    pub description: String,
    /// Store capabilities the scenario needs (`files`, `durable`); without them it is skipped.
    pub requires: Vec<Requirement>,
    /// The steps, in order.
    pub steps: Vec<ScenarioStep>,
}

/// A step, and the clause its expectation checks when that is not one of the
/// scenario's own (`checks = "save.keep-absent"`): a store that fails it there is
/// reported under that clause, and the scenario's own clauses as blocked by it.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioStep {
    /// The operation and its expectation.
    pub op: Step,
    /// The clause this step's expectation checks, when not one of the scenario's.
    pub checks: Option<String>,
}

impl Scenario {
    /// `family::name`, the scenario's name in test lists and reports.
    pub fn full_name(&self) -> String {
        format!("{}::{}", self.family, self.name)
    }

    /// The fields given a value one character over their limit (`len = "over"`) by a
    /// save that must be refused with LimitExceeded: such a step applies only to a store
    /// that declares a limit on each of them.
    pub fn over_limit_fields(&self) -> Vec<&str> {
        let over = |v: &ValueSpec| {
            matches!(
                v,
                ValueSpec::Fill {
                    len: Length::Relative(RelativeLength::Over),
                    ..
                }
            )
        };
        let mut fields: Vec<&str> = Vec::new();
        for step in &self.steps {
            if let Step::Save {
                token,
                error: Some(ErrorKind::LimitExceeded),
                ..
            } = &step.op
            {
                fields.extend(
                    token
                        .iter()
                        .filter(|(_, v)| over(v))
                        .map(|(f, _)| f.as_str()),
                );
            }
        }
        fields
    }
}

/// What a scenario needs of a store (`requires = ["files"]`); a store without it gets
/// the scenario skipped, with the reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Requirement {
    /// The store keeps files.
    Files,
    /// The store is durable.
    Durable,
    /// The store declares a limit on every field the scenario fills over its limit.
    Limits,
}

/// The kinds of a store's errors (`StoreError` in the harness).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[non_exhaustive]
pub enum ErrorKind {
    /// `StoreError::InvalidInput`.
    InvalidInput,
    /// `StoreError::LimitExceeded`.
    LimitExceeded,
    /// `StoreError::Conflict`.
    Conflict,
    /// A refusal of an unknown kind (untyped stores only).
    Refused,
    /// `StoreError::Backend`.
    Backend,
}

impl ErrorKind {
    /// Whether an error of this kind answers where `expected` is due: the same kind,
    /// or, for a store whose errors are untyped, any refusal where a refusal is due.
    /// A backend failure is never a refusal: a store that crashes on an input does
    /// not pass a check by crashing.
    pub fn answers(self, expected: ErrorKind, typed: bool) -> bool {
        self == expected || (!typed && self == ErrorKind::Refused && expected != ErrorKind::Backend)
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// A token as written in a scenario: field name → value. The key `id_ref` names a
/// binding whose id fills the `id` field.
pub type TokenSpec = BTreeMap<String, ValueSpec>;

/// A field value: literal text, or a generated run of one character.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ValueSpec {
    /// The value as written.
    Text(String),
    /// `len` characters, each `fill`.
    Fill {
        /// The character repeated.
        fill: String,
        /// How many.
        len: Length,
    },
}

/// The length of a generated value.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Length {
    /// This many characters.
    Exact(usize),
    /// `"limit"`: the field's declared limit (64 KiB if none); `"over"`: one more.
    Relative(RelativeLength),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
/// A length relative to the field's declared limit.
pub enum RelativeLength {
    /// The limit itself.
    Limit,
    /// One character over it.
    Over,
}

/// An id argument: a literal, or the id bound to a name by an earlier save.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum IdSpec {
    /// An id written out.
    Literal(String),
    /// The id an earlier save bound to `ref`.
    Ref {
        #[serde(rename = "ref")]
        /// The binding's name.
        name: String,
    },
}

/// What a find or find_by_id must give back.
#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    /// `"none"`: no token.
    Nothing,
    /// This token, every field.
    Token(TokenSpec),
}

/// One operation and what it must give back.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Save; on success `bind` names the new id (it must differ from every bound id),
    /// `same_id` requires the id of an earlier binding; `error` requires a failure.
    Save {
        /// The token to save.
        token: TokenSpec,
        /// The name the new id is bound to.
        bind: Option<String>,
        /// The binding whose id the save must give back.
        same_id: Option<String>,
        /// The error kind the save must fail with.
        error: Option<ErrorKind>,
    },
    /// Find by the probe's key; `expect` is the answer, `error` an error kind.
    Find {
        /// The probe.
        probe: TokenSpec,
        /// The answer it must give.
        expect: Option<Expect>,
        /// The error kind it must fail with.
        error: Option<ErrorKind>,
    },
    /// Find by id; `expect` is the answer, `error` an error kind.
    FindById {
        /// The id asked for.
        id: IdSpec,
        /// The answer it must give.
        expect: Option<Expect>,
        /// The error kind it must fail with.
        error: Option<ErrorKind>,
    },
    /// Delete by id; `error` is an error kind it must fail with.
    Delete {
        /// The id to delete.
        id: IdSpec,
        /// The error kind it must fail with.
        error: Option<ErrorKind>,
    },
    /// `expect` compares as a set; `count` compares the number of rows.
    GetTokens {
        /// The rows it must give, as a set.
        expect: Option<Vec<TokenSpec>>,
        /// How many rows it must give.
        count: Option<usize>,
    },
    /// Remove every token.
    DeleteTokens,
    /// Save a token that matches no row: it must come back byte for byte (by id, by
    /// its key and in get_tokens, with every other row unchanged), or be refused with
    /// LimitExceeded when a value is over the store's declared limit, changing nothing.
    Roundtrip {
        /// The token to save and read back.
        token: TokenSpec,
    },
    /// The named bindings hold pairwise distinct ids.
    DistinctIds {
        /// The bound names.
        names: Vec<String>,
    },
    /// Every file the store keeps is readable and writable by its owner only.
    FileMode,
}

/// Why a scenario file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{file}: {source}")]
    /// A file could not be read.
    Io {
        /// The file.
        file: String,
        #[source]
        /// The reason.
        source: std::io::Error,
    },
    #[error("{dir}: no scenario files (*.toml) in it")]
    /// A directory holds no scenario file.
    Empty {
        /// The directory.
        dir: String,
    },
    #[error("{file}: {source}")]
    /// A file is not valid TOML or not a scenario file.
    Toml {
        /// The file.
        file: String,
        #[source]
        /// The parse error, with its line.
        source: toml::de::Error,
    },
    #[error("{file}: scenario {scenario}: {message}")]
    /// A scenario is valid TOML but cannot run as written.
    Invalid {
        /// The file.
        file: String,
        /// The scenario.
        scenario: String,
        /// What is wrong.
        message: String,
    },
}

/// Loads and expands every embedded scenario, in file order.
pub fn all() -> Result<Vec<Scenario>, LoadError> {
    let mut out = Vec::new();
    for (file, text) in FILES {
        out.extend(parse(file, text)?);
    }
    Ok(out)
}

/// Loads and expands every `*.toml` file in `dir` (a user's own scenarios), in name
/// order. A directory without one is an error: a run must not pass by loading nothing.
pub fn load_dir(dir: &std::path::Path) -> Result<Vec<Scenario>, LoadError> {
    let mut out = Vec::new();
    for path in toml_files(dir)? {
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        out.extend(parse(&path.display().to_string(), &text)?);
    }
    Ok(out)
}

/// The scenario files (`*.toml`) in `dir`, in name order; none is an error.
pub fn toml_files(dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>, LoadError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(LoadError::Empty {
            dir: dir.display().to_string(),
        });
    }
    files.sort();
    Ok(files)
}

fn io(file: &std::path::Path) -> impl FnOnce(std::io::Error) -> LoadError {
    let file = file.display().to_string();
    move |source| LoadError::Io { file, source }
}

/// Parses one scenario file.
pub fn parse(file: &str, text: &str) -> Result<Vec<Scenario>, LoadError> {
    let raw: expand::RawFile = toml::from_str(text).map_err(|source| LoadError::Toml {
        file: file.to_owned(),
        source,
    })?;
    raw.expand(file)
}
