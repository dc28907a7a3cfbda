//! The file format as written (`Raw*`), its checks, and the expansion of `each` loops.

use serde::Deserialize;

use crate::{
    ErrorKind, Expect, IdSpec, LoadError, Requirement, Scenario, ScenarioStep, Step, TokenSpec,
    ValueSpec,
};

/// Field names a token table may use (the SDK's columns) plus `id_ref`.
pub(crate) const FIELDS: [&str; 11] = [
    "id",
    "user_name",
    "client_id",
    "client_secret",
    "refresh_token",
    "access_token",
    "grant_token",
    "expiry_time",
    "redirect_url",
    "api_domain",
    "id_ref",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    family: String,
    #[serde(default)]
    #[allow(dead_code)] // documentation for readers of the file
    description: String,
    #[serde(default)]
    corpus: Vec<String>,
    scenario: Vec<RawScenario>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    clauses: Vec<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    requires: Vec<Requirement>,
    each: Option<RawEach>,
    #[serde(default)]
    setup: Vec<RawStep>,
    #[serde(default)]
    step: Vec<RawStep>,
}

/// Repeat the `step` list once per (field, value) pair, with `{field}`, `{value}` and
/// `{n}` (the pair's number) replaced in every key, value and name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEach {
    field: Vec<String>,
    /// A list of values, or `"corpus"` for the file's corpus.
    value: EachValues,
    /// One scenario per field (`NAME::FIELD`), so that a failure or a panic on one
    /// field does not hide the others.
    #[serde(default)]
    per_field: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum EachValues {
    List(Vec<String>),
    Named(String),
}

#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    save: Option<TokenSpec>,
    find: Option<TokenSpec>,
    find_by_id: Option<IdSpec>,
    delete: Option<IdSpec>,
    get_tokens: Option<bool>,
    delete_tokens: Option<bool>,
    roundtrip: Option<TokenSpec>,
    distinct_ids: Option<Vec<String>>,
    file_mode: Option<bool>,
    bind: Option<String>,
    same_id: Option<String>,
    expect: Option<RawExpect>,
    error: Option<ErrorKind>,
    count: Option<usize>,
    /// The clause this step's expectation checks, when not the scenario's own.
    checks: Option<String>,
    /// A comment for the reader; ignored.
    #[allow(dead_code)]
    note: Option<String>,
}

#[derive(Clone, Deserialize)]
#[serde(untagged)]
enum RawExpect {
    Word(String),
    Token(TokenSpec),
    List(Vec<TokenSpec>),
}

impl RawFile {
    pub(crate) fn expand(self, file: &str) -> Result<Vec<Scenario>, LoadError> {
        let mut out = Vec::with_capacity(self.scenario.len());
        for raw in &self.scenario {
            let invalid = |message: String| LoadError::Invalid {
                file: file.to_owned(),
                scenario: raw.name.clone(),
                message,
            };
            out.extend(raw.expand(&self.family, &self.corpus).map_err(invalid)?);
        }
        Ok(out)
    }
}

impl RawScenario {
    /// One scenario, or one per field for a `per_field` loop.
    fn expand(&self, family: &str, corpus: &[String]) -> Result<Vec<Scenario>, String> {
        if self.clauses.is_empty() {
            return Err("names no clause".into());
        }
        let Some(each) = &self.each else {
            return Ok(vec![self.scenario(family, self.name.clone(), &[])?]);
        };
        let values = match &each.value {
            EachValues::List(v) => v.as_slice(),
            EachValues::Named(n) if n == "corpus" => corpus,
            EachValues::Named(n) => return Err(format!("unknown value list {n:?}")),
        };
        if each.field.is_empty() || values.is_empty() || self.step.is_empty() {
            return Err("its `each` loop expands to no step".into());
        }
        if !each.per_field {
            return Ok(vec![self.scenario(
                family,
                self.name.clone(),
                &loop_steps(&self.step, &each.field, values),
            )?]);
        }
        each.field
            .iter()
            .map(|field| {
                let steps = loop_steps(&self.step, std::slice::from_ref(field), values);
                self.scenario(family, format!("{}::{field}", self.name), &steps)
            })
            .collect()
    }

    fn scenario(&self, family: &str, name: String, looped: &[RawStep]) -> Result<Scenario, String> {
        let mut raw_steps = self.setup.clone();
        if self.each.is_none() {
            raw_steps.extend(self.step.iter().cloned());
        }
        raw_steps.extend(looped.iter().cloned());
        let steps = raw_steps
            .iter()
            .enumerate()
            .map(|(i, s)| s.to_step().map_err(|e| format!("step {}: {e}", i + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        if steps.is_empty() {
            return Err("has no steps".into());
        }
        Ok(Scenario {
            family: family.to_owned(),
            name,
            clauses: self.clauses.clone(),
            description: self.description.clone(),
            requires: self.requires.clone(),
            steps,
        })
    }
}

/// The loop's steps, once per (field, value) pair, numbered from 0.
fn loop_steps(steps: &[RawStep], fields: &[String], values: &[String]) -> Vec<RawStep> {
    let pairs = fields
        .iter()
        .flat_map(|f| values.iter().map(move |v| (f, v)));
    let mut out = Vec::new();
    for (n, (field, value)) in pairs.enumerate() {
        let vars = [
            ("field", field.as_str()),
            ("value", value),
            ("n", &n.to_string()),
        ];
        out.extend(steps.iter().map(|s| s.substituted(&vars)));
    }
    out
}

/// Replaces `{name}` placeholders in one pass, so a substituted value is never re-read.
fn substitute(text: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'scan: while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        for (name, value) in vars {
            if let Some(tail) = after.strip_prefix(name).and_then(|t| t.strip_prefix('}')) {
                out.push_str(value);
                rest = tail;
                continue 'scan;
            }
        }
        out.push('{');
        rest = after;
    }
    out.push_str(rest);
    out
}

/// A field named by a placeholder (`"{field}" = …`) replaces the same field written
/// out, so that one token can say "this row, with the looped field set to the value".
fn subst_token(t: &TokenSpec, vars: &[(&str, &str)]) -> TokenSpec {
    let (written, looped): (Vec<_>, Vec<_>) = t.iter().partition(|(k, _)| !k.contains('{'));
    written
        .into_iter()
        .chain(looped)
        .map(|(k, v)| {
            let v = match v {
                ValueSpec::Text(s) => ValueSpec::Text(substitute(s, vars)),
                fill => fill.clone(),
            };
            (substitute(k, vars), v)
        })
        .collect()
}

fn subst_id(id: &IdSpec, vars: &[(&str, &str)]) -> IdSpec {
    match id {
        IdSpec::Literal(s) => IdSpec::Literal(substitute(s, vars)),
        IdSpec::Ref { name } => IdSpec::Ref {
            name: substitute(name, vars),
        },
    }
}

impl RawStep {
    fn substituted(&self, vars: &[(&str, &str)]) -> RawStep {
        let s = |o: &Option<String>| o.as_ref().map(|x| substitute(x, vars));
        let t = |o: &Option<TokenSpec>| o.as_ref().map(|x| subst_token(x, vars));
        let i = |o: &Option<IdSpec>| o.as_ref().map(|x| subst_id(x, vars));
        RawStep {
            save: t(&self.save),
            find: t(&self.find),
            find_by_id: i(&self.find_by_id),
            delete: i(&self.delete),
            roundtrip: t(&self.roundtrip),
            distinct_ids: self
                .distinct_ids
                .as_ref()
                .map(|v| v.iter().map(|x| substitute(x, vars)).collect()),
            bind: s(&self.bind),
            same_id: s(&self.same_id),
            expect: self.expect.as_ref().map(|e| match e {
                RawExpect::Word(w) => RawExpect::Word(w.clone()),
                RawExpect::Token(x) => RawExpect::Token(subst_token(x, vars)),
                RawExpect::List(l) => {
                    RawExpect::List(l.iter().map(|x| subst_token(x, vars)).collect())
                }
            }),
            ..self.clone()
        }
    }

    /// The step, checked for modifiers that do not belong to its operation and for
    /// checks that assert nothing.
    fn to_step(&self) -> Result<ScenarioStep, String> {
        Ok(ScenarioStep {
            op: self.to_op()?,
            checks: self.checks.clone(),
        })
    }

    /// The one operation of this step.
    fn to_op(&self) -> Result<Step, String> {
        let ops = [
            self.save.is_some(),
            self.find.is_some(),
            self.find_by_id.is_some(),
            self.delete.is_some(),
            self.get_tokens == Some(true),
            self.delete_tokens == Some(true),
            self.roundtrip.is_some(),
            self.distinct_ids.is_some(),
            self.file_mode == Some(true),
        ];
        if ops.iter().filter(|x| **x).count() != 1 {
            return Err("needs exactly one operation".into());
        }
        self.check_error_kind()?;
        for t in [&self.save, &self.find, &self.roundtrip]
            .into_iter()
            .flatten()
        {
            check_fields(t)?;
        }
        let step = if let Some(token) = &self.save {
            self.only(&["bind", "same_id", "error"])?;
            Step::Save {
                token: token.clone(),
                bind: self.bind.clone(),
                same_id: self.same_id.clone(),
                error: self.error,
            }
        } else if let Some(probe) = &self.find {
            self.only(&["expect", "error"])?;
            self.asserts("find", &["expect", "error"])?;
            Step::Find {
                probe: probe.clone(),
                expect: self.single_expect()?,
                error: self.error,
            }
        } else if let Some(id) = &self.find_by_id {
            self.only(&["expect", "error"])?;
            self.asserts("find_by_id", &["expect", "error"])?;
            Step::FindById {
                id: id.clone(),
                expect: self.single_expect()?,
                error: self.error,
            }
        } else if let Some(id) = &self.delete {
            self.only(&["error"])?;
            Step::Delete {
                id: id.clone(),
                error: self.error,
            }
        } else if self.get_tokens == Some(true) {
            self.only(&["expect", "count"])?;
            self.asserts("get_tokens", &["expect", "count"])?;
            let expect = match &self.expect {
                None => None,
                Some(RawExpect::List(l)) => Some(l.clone()),
                Some(_) => return Err("get_tokens expects a list of tokens".into()),
            };
            for t in expect.iter().flatten() {
                check_fields(t)?;
            }
            Step::GetTokens {
                expect,
                count: self.count,
            }
        } else if self.delete_tokens == Some(true) {
            self.only(&[])?;
            Step::DeleteTokens
        } else if let Some(token) = &self.roundtrip {
            self.only(&[])?;
            Step::Roundtrip {
                token: token.clone(),
            }
        } else if let Some(names) = &self.distinct_ids {
            self.only(&[])?;
            Step::DistinctIds {
                names: names.clone(),
            }
        } else {
            self.only(&[])?;
            Step::FileMode
        };
        Ok(step)
    }

    /// A lookup must say what it expects: a step that asserts nothing cannot fail.
    fn asserts(&self, op: &str, any_of: &[&str]) -> Result<(), String> {
        if self
            .present()
            .iter()
            .any(|(n, set)| *set && any_of.contains(n))
        {
            return Ok(());
        }
        Err(format!(
            "`{op}` asserts nothing: give it {}",
            any_of
                .iter()
                .map(|m| format!("`{m}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        ))
    }

    fn present(&self) -> [(&'static str, bool); 5] {
        [
            ("bind", self.bind.is_some()),
            ("same_id", self.same_id.is_some()),
            ("expect", self.expect.is_some()),
            ("error", self.error.is_some()),
            ("count", self.count.is_some()),
        ]
    }

    fn only(&self, allowed: &[&str]) -> Result<(), String> {
        let present = self.present();
        match present
            .iter()
            .find(|(name, set)| *set && !allowed.contains(name))
        {
            Some((name, _)) => Err(format!("`{name}` does not apply to this operation")),
            None => Ok(()),
        }
    }

    /// `Refused` is what an untyped store answers, never what a scenario expects.
    fn check_error_kind(&self) -> Result<(), String> {
        match self.error {
            Some(ErrorKind::Refused) => Err("a scenario cannot expect error Refused".into()),
            _ => Ok(()),
        }
    }

    fn single_expect(&self) -> Result<Option<Expect>, String> {
        match &self.expect {
            None => Ok(None),
            Some(RawExpect::Word(w)) if w == "none" => Ok(Some(Expect::Nothing)),
            Some(RawExpect::Token(t)) => {
                check_fields(t)?;
                Ok(Some(Expect::Token(t.clone())))
            }
            Some(_) => Err("expect is \"none\" or one token".into()),
        }
    }
}

fn check_fields(token: &TokenSpec) -> Result<(), String> {
    match token.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        Some(k) => Err(format!("unknown field {k:?}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution_is_single_pass() {
        let vars = [("value", "{n}"), ("n", "3")];
        assert_eq!(substitute("a{value}b{n}{x}", &vars), "a{n}b3{x}");
        assert_eq!(substitute("{", &vars), "{");
    }

    #[test]
    fn a_step_with_two_operations_is_refused() {
        let text = r#"
            family = "x"
            [[scenario]]
            name = "bad"
            clauses = ["find.miss"]
            [[scenario.step]]
            get_tokens = true
            delete_tokens = true
        "#;
        let err = crate::parse("x.toml", text).unwrap_err().to_string();
        assert!(err.contains("exactly one operation"), "{err}");
    }

    #[test]
    fn unknown_fields_and_kinds_are_refused() {
        let bad_field = r#"
            family = "x"
            [[scenario]]
            name = "f"
            clauses = ["find.miss"]
            [[scenario.step]]
            find = { username = "a" }
        "#;
        assert!(crate::parse("x.toml", bad_field).is_err());
        let bad_kind = bad_field.replace(
            "username = \"a\" }",
            "user_name = \"a\" }\nerror = \"Oops\"",
        );
        assert!(crate::parse("x.toml", &bad_kind).is_err());
    }

    #[test]
    fn each_expands_fields_times_values() {
        let text = r#"
            family = "x"
            corpus = ["a", "b", "c"]
            [[scenario]]
            name = "loop"
            clauses = ["security.injection"]
            each = { field = ["user_name", "api_domain"], value = "corpus" }
            [[scenario.step]]
            find = { "{field}" = "{value}" }
            expect = "none"
        "#;
        let s = &crate::parse("x.toml", text).unwrap()[0];
        assert_eq!(s.steps.len(), 6);
        match &s.steps[5].op {
            Step::Find { probe, .. } => {
                assert_eq!(probe.get("api_domain"), Some(&ValueSpec::Text("c".into())))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_looped_field_replaces_the_same_field_written_out() {
        let text = r#"
            family = "x"
            [[scenario]]
            name = "loop"
            clauses = ["security.injection"]
            each = { field = ["refresh_token"], value = ["v"] }
            [[scenario.step]]
            find = { user_name = "u", refresh_token = "rt", "{field}" = "{value}" }
            expect = "none"
        "#;
        let s = &crate::parse("x.toml", text).unwrap()[0];
        match &s.steps[0].op {
            Step::Find { probe, .. } => {
                assert_eq!(
                    probe.get("refresh_token"),
                    Some(&ValueSpec::Text("v".into()))
                );
                assert_eq!(probe.len(), 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn steps_that_assert_nothing_are_refused() {
        for step in [
            "find = { user_name = \"a\" }",
            "find_by_id = \"1\"",
            "get_tokens = true",
        ] {
            let text = format!(
                "family = \"x\"\n[[scenario]]\nname = \"s\"\nclauses = [\"find.miss\"]\n\
                 [[scenario.step]]\n{step}\n"
            );
            let err = crate::parse("x.toml", &text).unwrap_err().to_string();
            assert!(err.contains("asserts nothing"), "{step}: {err}");
        }
    }

    #[test]
    fn a_loop_over_nothing_is_refused_and_per_field_loops_split() {
        let text = |values: &str, per_field: bool| {
            format!(
                "family = \"x\"\ncorpus = []\n[[scenario]]\nname = \"loop\"\n\
                 clauses = [\"security.injection\"]\n\
                 each = {{ field = [\"user_name\", \"api_domain\"], value = {values}, per_field = {per_field} }}\n\
                 [[scenario.step]]\nfind = {{ \"{{field}}\" = \"{{value}}\" }}\nexpect = \"none\"\n"
            )
        };
        let err = crate::parse("x.toml", &text("\"corpus\"", false))
            .unwrap_err()
            .to_string();
        assert!(err.contains("expands to no step"), "{err}");
        let split = crate::parse("x.toml", &text("[\"a\", \"b\"]", true)).unwrap();
        let names: Vec<String> = split.iter().map(|s| s.full_name()).collect();
        assert_eq!(names, ["x::loop::user_name", "x::loop::api_domain"]);
        assert!(split.iter().all(|s| s.steps.len() == 2));
    }

    #[test]
    fn a_step_names_the_clause_it_checks() {
        let text = "family = \"x\"\n[[scenario]]\nname = \"s\"\nclauses = [\"security.no-secret-leak\"]\n\
                    [[scenario.step]]\nget_tokens = true\ncount = 0\nchecks = \"all.list\"\n";
        let s = &crate::parse("x.toml", text).unwrap()[0];
        assert_eq!(s.steps[0].checks.as_deref(), Some("all.list"));
    }
}
