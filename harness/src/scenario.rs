//! The scenario interpreter: runs one scenario's steps on one store and checks each result.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokenstore_scenarios::{
    Expect, IdSpec, Length, RelativeLength, Requirement, Scenario, Step, TokenSpec, ValueSpec,
};

use crate::error::{ErrorKind, StoreError};
use crate::key::LookupKey;
use crate::report::Failure;
use crate::store::{Capabilities, Limits, TokenStore};
use crate::token::{Field, Token};

/// A store that declares no limit must round-trip values of at least this many characters.
pub const NO_LIMIT_LENGTH: usize = 64 * 1024;

/// Why a scenario does not apply to a store with these capabilities, if it does not.
pub fn skip_reason(scenario: &Scenario, caps: &Capabilities) -> Option<String> {
    scenario.requires.iter().find_map(|r| match r {
        Requirement::Files if !caps.files => {
            Some("the store declares that it keeps no files".to_owned())
        }
        Requirement::Durable if !caps.durable => caps.not_durable_reason(),
        Requirement::Limits if caps.limits == Limits::NONE => {
            Some("the store declares no field limits".to_owned())
        }
        Requirement::Limits => scenario
            .over_limit_fields()
            .into_iter()
            .find(|f| Field::from_name(f).is_some_and(|f| caps.limits.get(f).is_none()))
            .map(|f| format!("the store declares no limit on {f}")),
        Requirement::Files | Requirement::Durable => None,
    })
}

/// What a scenario has run so far and the secrets it used, kept outside the run so
/// that a store that panics still leaves the steps that led to it (redacted).
#[derive(Clone, Default)]
pub struct Trace(Arc<Mutex<TraceData>>);

#[derive(Default)]
struct TraceData {
    steps: Vec<String>,
    secrets: Vec<String>,
}

impl Trace {
    fn data(&self) -> MutexGuard<'_, TraceData> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The steps run so far.
    pub fn steps(&self) -> Vec<String> {
        self.data().steps.clone()
    }

    /// `text` with every secret the scenario used replaced by `[REDACTED]`.
    pub fn redact(&self, text: &str) -> String {
        redact(text, &self.data().secrets)
    }
}

/// Runs `scenario` on `store` (which must be fresh and empty).
pub async fn run<S: TokenStore + ?Sized>(store: &S, scenario: &Scenario) -> Result<(), Failure> {
    run_traced(store, scenario, &Trace::default()).await
}

/// As [`run`], recording into `trace`.
pub async fn run_traced<S: TokenStore + ?Sized>(
    store: &S,
    scenario: &Scenario,
    trace: &Trace,
) -> Result<(), Failure> {
    let mut run = Run {
        store,
        limits: store.capabilities().limits,
        typed: store.capabilities().typed_errors,
        bindings: HashMap::new(),
        live: HashMap::new(),
        trace: trace.clone(),
        leak_check: scenario
            .clauses
            .iter()
            .any(|c| c == "security.no-secret-leak"),
    };
    for step in &scenario.steps {
        if let Err(m) = run.step(&step.op).await {
            let checks = step.checks.iter().map(String::as_str);
            let breaks: Vec<&str> = checks.chain(m.breaks.iter().copied()).collect();
            return Err(Failure::new(trace.steps(), m.expected, m.actual).breaking(&breaks));
        }
    }
    Ok(())
}

/// `scenario` with the reference model's answers as its expectations, run on a fresh
/// model that refuses what a store with `limits` refuses: what `tokenstore check
/// --update` writes into a scenario file. Steps that check themselves (roundtrip,
/// distinct ids, file modes) run as usual.
pub async fn model_answers(scenario: &Scenario, limits: Limits) -> Result<Scenario, String> {
    let model = crate::model::Model::with_limits(limits);
    let mut run = Run {
        store: &model,
        limits,
        typed: true,
        bindings: HashMap::new(),
        live: HashMap::new(),
        trace: Trace::default(),
        leak_check: false,
    };
    let mut answered = scenario.clone();
    for (i, step) in answered.steps.iter_mut().enumerate() {
        step.op = run
            .answer(&step.op)
            .await
            .map_err(|m| format!("step {}: {}: {}", i + 1, m.expected, m.actual))?;
    }
    Ok(answered)
}

/// A failed step: what was expected, what the store did, and the clause the failed
/// check belongs to when the kind of check tells (an update that gave another id
/// breaks the update rule, whatever scenario it happens in).
pub(crate) struct Mismatch {
    pub expected: String,
    pub actual: String,
    pub breaks: Option<&'static str>,
}

impl Mismatch {
    fn breaking(mut self, clause: &'static str) -> Self {
        self.breaks = Some(clause);
        self
    }
}

struct Run<'s, S: ?Sized> {
    store: &'s S,
    limits: Limits,
    /// Names bound to ids by earlier saves.
    bindings: HashMap<String, String>,
    /// The store's errors say their kind (see [`Capabilities::typed_errors`]).
    typed: bool,
    /// Binding names whose rows have not been deleted since, by id.
    live: HashMap<String, String>,
    /// Each step as run, and every secret value the scenario has used.
    trace: Trace,
    leak_check: bool,
}

fn mismatch(expected: impl Into<String>, actual: impl Into<String>) -> Mismatch {
    Mismatch {
        expected: expected.into(),
        actual: actual.into(),
        breaks: None,
    }
}

/// The clause a refusal of this kind by this operation is demanded by.
fn refusal_clause(op: &str, kind: ErrorKind) -> Option<&'static str> {
    Some(match (op, kind) {
        ("save", ErrorKind::InvalidInput) => "save.guard",
        ("save", ErrorKind::Conflict) => "save.key-unique",
        (_, ErrorKind::LimitExceeded) => "value.limit",
        ("find_token_by_id", ErrorKind::InvalidInput) => "by-id.empty",
        ("delete_token", ErrorKind::InvalidInput) => "delete.empty",
        _ => return None,
    })
}

impl<S: TokenStore + ?Sized> Run<'_, S> {
    /// Runs the step and gives it back with what the store answered as its expectation.
    async fn answer(&mut self, step: &Step) -> Result<Step, Mismatch> {
        Ok(match step.clone() {
            Step::Save {
                token,
                bind,
                same_id,
                ..
            } => {
                let t = self.token(&token, "save")?;
                let error = match self.store.save_token(&t).await {
                    Ok(id) => {
                        if let Some(name) = &bind {
                            self.bindings.insert(name.clone(), id);
                        }
                        None
                    }
                    Err(e) => Some(e.kind()),
                };
                Step::Save {
                    token,
                    bind,
                    same_id,
                    error,
                }
            }
            Step::Find { probe, .. } => {
                let p = self.token(&probe, "find_token")?;
                let (expect, error) = self.expectation(self.store.find_token(&p).await);
                Step::Find {
                    probe,
                    expect,
                    error,
                }
            }
            Step::FindById { id, .. } => {
                let i = self.id(&id, "find_token_by_id")?;
                let (expect, error) = self.expectation(self.store.find_token_by_id(&i).await);
                Step::FindById { id, expect, error }
            }
            Step::Delete { id, .. } => {
                let i = self.id(&id, "delete_token")?;
                let error = self.store.delete_token(&i).await.err().map(|e| e.kind());
                Step::Delete { id, error }
            }
            Step::GetTokens { .. } => {
                let rows = self.get_tokens().await?;
                Step::GetTokens {
                    expect: Some(rows.iter().map(|t| self.spec(t)).collect()),
                    count: None,
                }
            }
            other => {
                self.step(&other).await?;
                other
            }
        })
    }

    fn expectation(
        &self,
        got: Result<Option<Token>, StoreError>,
    ) -> (Option<Expect>, Option<ErrorKind>) {
        match got {
            Ok(None) => (Some(Expect::Nothing), None),
            Ok(Some(t)) => (Some(Expect::Token(self.spec(&t))), None),
            Err(e) => (None, Some(e.kind())),
        }
    }

    /// A token as a scenario writes it: an id bound by an earlier save as `id_ref`.
    fn spec(&self, token: &Token) -> TokenSpec {
        let mut spec = TokenSpec::new();
        for (field, v) in token.fields() {
            let binding = (field == Field::Id)
                .then(|| self.bindings.iter().filter(|(_, id)| *id == v).min())
                .flatten();
            match binding {
                Some((name, _)) => spec.insert("id_ref".into(), ValueSpec::Text(name.clone())),
                None => spec.insert(field.name().into(), ValueSpec::Text(v.to_owned())),
            };
        }
        spec
    }

    fn log(&self, step: String) {
        self.trace.data().steps.push(step);
    }

    async fn step(&mut self, step: &Step) -> Result<(), Mismatch> {
        match step {
            Step::Save {
                token,
                bind,
                same_id,
                error,
            } => {
                let token = self.token(token, "save")?;
                self.save(&token, bind.as_deref(), same_id.as_deref(), *error)
                    .await
            }
            Step::Find {
                probe,
                expect,
                error,
            } => {
                let probe = self.token(probe, "find_token")?;
                let got = self.store.find_token(&probe).await;
                let miss = match LookupKey::of(&probe) {
                    Some(_) => "find.miss",
                    None => "find.no-key",
                };
                let (expect, error) = (expect.as_ref(), *error);
                self.check_found(got, expect, error, "find_token", miss)
            }
            Step::FindById { id, expect, error } => {
                let id = self.id(id, "find_token_by_id")?;
                let got = self.store.find_token_by_id(&id).await;
                let (expect, error) = (expect.as_ref(), *error);
                self.check_found(got, expect, error, "find_token_by_id", "by-id.miss")
            }
            Step::Delete { id, error } => {
                let id = self.id(id, "delete_token")?;
                let got = self.store.delete_token(&id).await;
                self.live.retain(|_, live| *live != id);
                self.check_result(got, *error, "delete_token").map(|_| ())
            }
            Step::GetTokens { expect, count } => {
                self.log("get_tokens()".to_owned());
                let rows = self.get_tokens().await?;
                self.check_rows(&rows, expect.as_deref(), *count)
            }
            Step::DeleteTokens => {
                self.log("delete_tokens()".to_owned());
                let got = self.store.delete_tokens().await;
                self.live.clear();
                self.check_result(got, None, "delete_tokens").map(|_| ())
            }
            Step::Roundtrip { token } => {
                let token = self.token(token, "roundtrip")?;
                self.roundtrip(&token).await
            }
            Step::DistinctIds { names } => {
                self.log(format!("distinct ids {names:?}"));
                self.distinct(names)
            }
            Step::FileMode => {
                self.log("file modes".to_owned());
                check_file_modes(&self.store.files())
            }
        }
    }

    async fn save(
        &mut self,
        token: &Token,
        bind: Option<&str>,
        same_id: Option<&str>,
        error: Option<ErrorKind>,
    ) -> Result<(), Mismatch> {
        // Over a declared limit, a save is refused whatever the step expected otherwise.
        let over_limit = self.limits.check(token).is_err();
        let error = if over_limit {
            Some(ErrorKind::LimitExceeded)
        } else {
            error
        };
        // Rule 4.1 when the token's id names the row an update is due on, else rule 4.2.
        let update_rule = |want: &str| match token.id() {
            Some(given) if given == want => "save.update-by-id",
            _ => "save.update-by-key",
        };
        let got = self.store.save_token(token).await;
        // (A token given "" values tests value.empty first: its failure stays there.)
        let gives_empty = Field::ALL.iter().any(|f| token.raw(*f) == Some(""));
        let failed_update = got.is_err() && error.is_none() && !gives_empty;
        let checked = self.check_result(got, error, "save");
        let Some(id) = (match (checked, same_id) {
            // An update that fails breaks the update rule, whatever the scenario checks.
            (Err(m), Some(name)) if failed_update => {
                let want = self.bound(name)?.to_owned();
                return Err(m.breaking(update_rule(&want)));
            }
            (checked, _) => checked?,
        }) else {
            return Ok(());
        };
        if id.is_empty() {
            return Err(mismatch("a non-empty id", "an empty id").breaking("save.insert"));
        }
        if let Some(name) = same_id {
            let want = self.bound(name)?;
            if id != want {
                let rule = update_rule(want);
                let what = match self.bindings.values().any(|b| *b == id) {
                    true => "the id of another row",
                    false => "a new id",
                };
                return Err(mismatch(
                    format!("the id of {name} ({want:?}): an update"),
                    format!("id {id:?}: {what}"),
                )
                .breaking(rule));
            }
        }
        if let Some(name) = bind {
            // A new row's id: never the id of a row that is still stored.
            if let Some((other, _)) = self.live.iter().find(|(n, i)| **i == id && *n != name) {
                return Err(mismatch(
                    format!("a new id for {name}"),
                    format!("id {id:?}, the id of {other}, which is still stored"),
                )
                .breaking("id.unique"));
            }
            self.live.insert(name.to_owned(), id.clone());
            self.bindings.insert(name.to_owned(), id);
        }
        Ok(())
    }

    async fn roundtrip(&mut self, token: &Token) -> Result<(), Mismatch> {
        let before = self.get_tokens().await?;
        let over_limit = self.limits.check(token).is_err();
        let got = self.store.save_token(token).await;
        let expected_error = over_limit.then_some(ErrorKind::LimitExceeded);
        let Some(id) = self.check_result(got, expected_error, "save")? else {
            let after = self.get_tokens().await?;
            return same_rows(&after, &before, "nothing written after the refusal");
        };
        let stored = token.clone().with(Field::Id, &id);
        if id.is_empty() || token.id().is_some_and(|given| given != id) {
            return Err(mismatch(
                "the token's own id, or a new non-empty one",
                format!("id {id:?}"),
            ));
        }
        if before.iter().any(|r| r.id() == Some(id.as_str())) {
            return Err(mismatch(
                "a new row",
                format!("the id {id:?} of an existing row"),
            ));
        }
        self.compare_found(
            self.store.find_token_by_id(&id).await,
            Some(&stored),
            "find_token_by_id",
        )?;
        if LookupKey::of(token).is_some() {
            self.compare_found(
                self.store.find_token(token).await,
                Some(&stored),
                "find_token by its key",
            )?;
        }
        let mut want = before;
        want.push(stored);
        let after = self.get_tokens().await?;
        same_rows(
            &after,
            &want,
            "every earlier row unchanged, plus the new one",
        )
    }

    fn compare_found(
        &mut self,
        got: Result<Option<Token>, StoreError>,
        want: Option<&Token>,
        what: &str,
    ) -> Result<(), Mismatch> {
        let got = self.check_result(got, None, what)?.flatten();
        no_empty_values(got.iter())?;
        if got.as_ref() != want {
            return Err(mismatch(
                format!("{what}: {}", describe_opt(want)),
                format!("{what}: {}", difference(want, got.as_ref())),
            ));
        }
        Ok(())
    }

    fn check_found(
        &mut self,
        got: Result<Option<Token>, StoreError>,
        expect: Option<&Expect>,
        error: Option<ErrorKind>,
        op: &str,
        miss: &'static str,
    ) -> Result<(), Mismatch> {
        // An error where a miss is due breaks the miss clause, whatever the scenario
        // checks with that miss (the exactness of ids, say).
        let miss_error = matches!(expect, Some(Expect::Nothing)) && error.is_none() && got.is_err();
        let checked = self
            .check_result(got, error, op)
            .map_err(|m| if miss_error { m.breaking(miss) } else { m });
        let Some(mut found) = checked? else {
            return Ok(());
        };
        no_empty_values(found.iter())?;
        let mut want = match expect {
            None => return Ok(()),
            Some(Expect::Nothing) => None,
            Some(Expect::Token(spec)) => Some(self.resolve(spec)?),
        };
        // A value over a declared limit was refused when it was saved (and that was
        // checked): the row keeps what it held, which the step cannot name. Every
        // other field is still compared.
        let over: Vec<Field> = want
            .iter()
            .flat_map(|w| self.limits.exceeded(w))
            .map(|(f, ..)| f)
            .collect();
        for field in over {
            for token in want.iter_mut().chain(found.iter_mut()) {
                token.set(field, None);
            }
        }
        if found != want {
            return Err(mismatch(
                describe_opt(want.as_ref()),
                difference(want.as_ref(), found.as_ref()),
            ));
        }
        Ok(())
    }

    fn check_rows(
        &mut self,
        rows: &[Token],
        expect: Option<&[TokenSpec]>,
        count: Option<usize>,
    ) -> Result<(), Mismatch> {
        if let Some(n) = count
            && rows.len() != n
        {
            return Err(mismatch(
                format!("{n} rows"),
                format!("{} rows: {rows:?}", rows.len()),
            ));
        }
        if let Some(specs) = expect {
            let want = specs
                .iter()
                .map(|s| self.resolve(s))
                .collect::<Result<Vec<_>, _>>()?;
            same_rows(rows, &want, "exactly these rows")?;
        }
        Ok(())
    }

    async fn get_tokens(&mut self) -> Result<Vec<Token>, Mismatch> {
        let got = self.store.get_tokens().await;
        let rows = self
            .check_result(got, None, "get_tokens")?
            .unwrap_or_default();
        no_empty_values(rows.iter())?;
        Ok(rows)
    }

    /// Checks success or the expected error kind. `Ok(Some(v))` on an expected success,
    /// `Ok(None)` on an expected error.
    fn check_result<T: std::fmt::Debug>(
        &mut self,
        got: Result<T, StoreError>,
        error: Option<ErrorKind>,
        op: &str,
    ) -> Result<Option<T>, Mismatch> {
        if self.leak_check {
            let text = match &got {
                Ok(v) => format!("{v:?}"),
                Err(e) => e.all_text(),
            };
            let data = self.trace.data();
            if let Some(s) = data.secrets.iter().find(|s| text.contains(s.as_str())) {
                return Err(mismatch(
                    "no secret value in the store's errors or Debug output",
                    format!(
                        "a secret value ({}) appears in: {}",
                        secret_shown(s),
                        redact(&text, &data.secrets)
                    ),
                )
                .breaking("security.no-secret-leak"));
            }
        }
        match (got, error) {
            (Ok(v), None) => Ok(Some(v)),
            (Err(e), Some(kind)) if e.kind().answers(kind, self.typed) => Ok(None),
            (Ok(v), Some(kind)) => {
                let m = mismatch(format!("error {kind}"), format!("success: {v:?}"));
                Err(match refusal_clause(op, kind) {
                    Some(clause) => m.breaking(clause),
                    None => m,
                })
            }
            (Err(e), want) => Err(mismatch(
                want.map_or("success".to_owned(), |k| format!("error {k}")),
                format!("error {}: {}", e.kind(), self.trace.redact(&e.to_string())),
            )),
        }
    }

    fn distinct(&self, names: &[String]) -> Result<(), Mismatch> {
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for name in names {
            let id = self.bound(name)?;
            if let Some(other) = seen.insert(id, name) {
                return Err(mismatch(
                    format!("distinct ids for {names:?}"),
                    format!("{other} and {name} both got id {id:?}"),
                ));
            }
        }
        Ok(())
    }

    fn bound(&self, name: &str) -> Result<&str, Mismatch> {
        self.bindings.get(name).map(String::as_str).ok_or_else(|| {
            mismatch(
                format!("an id bound to {name} by an earlier save"),
                "no such binding (an earlier save failed or the scenario is wrong)",
            )
        })
    }

    fn id(&mut self, spec: &IdSpec, op: &str) -> Result<String, Mismatch> {
        let id = match spec {
            IdSpec::Literal(s) => s.clone(),
            IdSpec::Ref { name } => self.bound(name)?.to_owned(),
        };
        self.log(format!("{op}({})", show(Field::Id, &id)));
        Ok(id)
    }

    /// Builds the step's token, remembers its secrets, and logs the step.
    fn token(&mut self, spec: &TokenSpec, op: &str) -> Result<Token, Mismatch> {
        let token = self.resolve(spec)?;
        self.trace
            .data()
            .secrets
            .extend(token.secrets().map(str::to_owned));
        self.log(format!("{op}({})", describe(&token)));
        Ok(token)
    }

    fn resolve(&self, spec: &TokenSpec) -> Result<Token, Mismatch> {
        let mut token = Token::new();
        for (name, value) in spec {
            if name == "id_ref" {
                let ValueSpec::Text(binding) = value else {
                    return Err(mismatch("id_ref names a binding", "a generated value"));
                };
                token.set(Field::Id, Some(self.bound(binding)?));
                continue;
            }
            let field =
                Field::from_name(name).ok_or_else(|| mismatch("a field name", name.clone()))?;
            token.set(field, Some(&self.value(field, value)));
        }
        Ok(token)
    }

    fn value(&self, field: Field, value: &ValueSpec) -> String {
        match value {
            ValueSpec::Text(s) => s.clone(),
            ValueSpec::Fill { fill, len } => {
                let limit = self.limits.get(field).unwrap_or(NO_LIMIT_LENGTH);
                let n = match len {
                    Length::Exact(n) => *n,
                    Length::Relative(RelativeLength::Limit) => limit,
                    Length::Relative(RelativeLength::Over) => limit + 1,
                };
                fill.repeat(n)
            }
        }
    }
}

/// A store never hands back `""`: the contract says it is absent. (Only a store behind
/// an adapter can: a Rust store's tokens cannot hold `""`, so for a Rust store this
/// part of `value.empty` is kept by the type.)
fn no_empty_values<'t>(tokens: impl Iterator<Item = &'t Token>) -> Result<(), Mismatch> {
    for t in tokens {
        if let Some(field) = t.handed_back_empty().next() {
            return Err(mismatch(
                format!("{field} absent (an empty value is never stored or returned)"),
                format!("{field} is \"\" in {}", describe(t)),
            )
            .breaking("value.empty"));
        }
    }
    Ok(())
}

/// The rows of `expected` missing from `actual`, and the rows of `actual` left over, as
/// multisets: order does not count, a duplicate does.
pub(crate) fn row_difference<'t>(
    actual: &'t [Token],
    expected: &'t [Token],
) -> (Vec<&'t Token>, Vec<&'t Token>) {
    let mut left: Vec<&Token> = actual.iter().collect();
    let mut missing = Vec::new();
    for want in expected {
        match left.iter().position(|t| *t == want) {
            Some(i) => {
                left.swap_remove(i);
            }
            None => missing.push(want),
        }
    }
    (missing, left)
}

/// Compares two row sets, ignoring order.
fn same_rows(actual: &[Token], expected: &[Token], what: &str) -> Result<(), Mismatch> {
    let (missing, left) = row_difference(actual, expected);
    if missing.is_empty() && left.is_empty() {
        return Ok(());
    }
    Err(mismatch(
        format!("{what} ({} rows)", expected.len()),
        format!(
            "{} rows; missing or changed: {}; unexpected: {}",
            actual.len(),
            list(&missing),
            list(&left)
        ),
    ))
}

fn list(tokens: &[&Token]) -> String {
    if tokens.is_empty() {
        return "none".to_owned();
    }
    tokens
        .iter()
        .map(|t| describe(t))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A token for a report: public values shown, secrets by length only, long values cut.
pub fn describe(token: &Token) -> String {
    let fields: Vec<String> = token
        .fields()
        .map(|(f, v)| format!("{f}: {}", show(f, v)))
        .collect();
    format!("{{{}}}", fields.join(", "))
}

fn describe_opt(token: Option<&Token>) -> String {
    token.map_or("None".to_owned(), describe)
}

fn show(field: Field, value: &str) -> String {
    let n = value.chars().count();
    if field.is_secret() {
        format!("<{}>", secret_shown(value))
    } else if n > 40 {
        format!(
            "{}… ({n} chars)",
            escaped(&value.chars().take(20).collect::<String>())
        )
    } else {
        escaped(value)
    }
}

/// A secret as a report may show it: its length and a short fingerprint (the first 8
/// hex digits of its SHA-256), so that two secrets of one length can be told apart
/// without showing either.
pub fn secret_shown(value: &str) -> String {
    let hex = fingerprint(value);
    format!("secret, {} chars, sha256 {hex}…", value.chars().count())
}

/// The first 8 hex digits of a value's SHA-256: enough to tell values apart in a
/// report, never enough to recover one.
pub fn fingerprint(value: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(value.as_bytes());
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// A value quoted with every character outside printable ASCII as its code point, so
/// that NFC and NFD, a zero-width space or a full-width letter show what differs.
fn escaped(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Which fields differ between what was expected and what came back.
fn difference(want: Option<&Token>, got: Option<&Token>) -> String {
    match (want, got) {
        (Some(w), Some(g)) => {
            let diffs: Vec<String> = Field::ALL
                .into_iter()
                .filter(|f| w.get(*f) != g.get(*f))
                .map(|f| {
                    let side = |v: Option<&str>| v.map_or("absent".to_owned(), |v| show(f, v));
                    format!("{f} is {} (expected {})", side(g.get(f)), side(w.get(f)))
                })
                .collect();
            format!("{} — {}", describe(g), diffs.join("; "))
        }
        (_, got) => describe_opt(got),
    }
}

/// A store's error as a built-in check reports it: its text with every secret of the
/// tokens the check gave the store redacted.
pub(crate) fn error_text(e: &StoreError, tokens: &[Token]) -> String {
    let secrets: Vec<String> = tokens
        .iter()
        .flat_map(|t| t.secrets().map(str::to_owned))
        .collect();
    redact(&e.to_string(), &secrets)
}

fn redact(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .fold(text.to_owned(), |t, s| t.replace(s.as_str(), "[REDACTED]"))
}

#[cfg(unix)]
fn check_file_modes(files: &[std::path::PathBuf]) -> Result<(), Mismatch> {
    use std::os::unix::fs::PermissionsExt;
    if files.is_empty() {
        return Err(mismatch("the store names the files it keeps", "no files"));
    }
    for path in files {
        let mode = std::fs::metadata(path)
            .map_err(|e| mismatch(format!("{} exists", path.display()), e.to_string()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(mismatch(
                format!("{}: mode 0600 or stricter", path.display()),
                format!("mode {:04o}", mode & 0o7777),
            ));
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_file_modes(_files: &[std::path::PathBuf]) -> Result<(), Mismatch> {
    Err(mismatch(
        "a file mode check",
        "file modes are only checked on Unix",
    ))
}
