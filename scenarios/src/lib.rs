//! The TokenStore conformance scenarios: declarative TOML files, one per clause family,
//! embedded in this crate, and their loader.
//!
//! The format is language-neutral and documented in `scenarios/FORMAT.md`. The loader
//! checks a file's structure and expands `each` loops into plain steps; the harness
//! interprets the steps against a store.

use std::collections::BTreeMap;

use serde::Deserialize;

mod expand;

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
    pub name: String,
    /// The clause ids this scenario checks.
    pub clauses: Vec<String>,
    pub description: String,
    /// Store capabilities the scenario needs (`files`, `durable`); without them it is skipped.
    pub requires: Vec<String>,
    pub steps: Vec<ScenarioStep>,
}

/// A step, and the clause its expectation checks when that is not one of the
/// scenario's own (`checks = "save.keep-absent"`): a store that fails it there is
/// reported under that clause, and the scenario's own clauses as blocked by it.
#[derive(Clone, Debug, PartialEq)]
pub struct ScenarioStep {
    pub op: Step,
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
                error: Some(kind),
                ..
            } = &step.op
                && kind == "LimitExceeded"
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

/// A token as written in a scenario: field name → value. The key `id_ref` names a
/// binding whose id fills the `id` field.
pub type TokenSpec = BTreeMap<String, ValueSpec>;

/// A field value: literal text, or a generated run of one character.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ValueSpec {
    Text(String),
    Fill { fill: String, len: Length },
}

/// The length of a generated value.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Length {
    Exact(usize),
    /// `"limit"`: the field's declared limit (64 KiB if none); `"over"`: one more.
    Relative(RelativeLength),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelativeLength {
    Limit,
    Over,
}

/// An id argument: a literal, or the id bound to a name by an earlier save.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum IdSpec {
    Literal(String),
    Ref {
        #[serde(rename = "ref")]
        name: String,
    },
}

/// What a find or find_by_id must give back.
#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    Nothing,
    Token(TokenSpec),
}

/// One operation and what it must give back.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Save; on success `bind` names the new id (it must differ from every bound id),
    /// `same_id` requires the id of an earlier binding; `error` requires a failure.
    Save {
        token: TokenSpec,
        bind: Option<String>,
        same_id: Option<String>,
        error: Option<String>,
    },
    Find {
        probe: TokenSpec,
        expect: Option<Expect>,
        error: Option<String>,
    },
    FindById {
        id: IdSpec,
        expect: Option<Expect>,
        error: Option<String>,
    },
    Delete {
        id: IdSpec,
        error: Option<String>,
    },
    /// `expect` compares as a set; `count` compares the number of rows.
    GetTokens {
        expect: Option<Vec<TokenSpec>>,
        count: Option<usize>,
    },
    DeleteTokens,
    /// Save a token that matches no row: it must come back byte for byte (by id, by
    /// its key and in get_tokens, with every other row unchanged), or be refused with
    /// LimitExceeded when a value is over the store's declared limit, changing nothing.
    Roundtrip {
        token: TokenSpec,
    },
    /// The named bindings hold pairwise distinct ids.
    DistinctIds {
        names: Vec<String>,
    },
    /// Every file the store keeps is readable and writable by its owner only.
    FileMode,
}

/// Why a scenario file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{dir}: no scenario files (*.toml) in it")]
    Empty { dir: String },
    #[error("{file}: {source}")]
    Toml {
        file: String,
        #[source]
        source: toml::de::Error,
    },
    #[error("{file}: scenario {scenario}: {message}")]
    Invalid {
        file: String,
        scenario: String,
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
    let io = |file: &std::path::Path| {
        let file = file.display().to_string();
        move |source| LoadError::Io { file, source }
    };
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
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        out.extend(parse(&path.display().to_string(), &text)?);
    }
    Ok(out)
}

/// Parses one scenario file.
pub fn parse(file: &str, text: &str) -> Result<Vec<Scenario>, LoadError> {
    let raw: expand::RawFile = toml::from_str(text).map_err(|source| LoadError::Toml {
        file: file.to_owned(),
        source,
    })?;
    raw.expand(file)
}
