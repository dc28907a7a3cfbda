//! The scenario interpreter: runs one scenario's steps on one store and checks each result.

use std::collections::HashMap;

use tokenstore_scenarios::{
    Expect, IdSpec, Length, RelativeLength, Scenario, Step, TokenSpec, ValueSpec,
};

use crate::error::StoreError;
use crate::key::LookupKey;
use crate::report::Failure;
use crate::store::{Capabilities, Limits, TokenStore};
use crate::token::{Field, Token};

/// A store that declares no limit must round-trip values of at least this many characters.
pub const NO_LIMIT_LENGTH: usize = 64 * 1024;

/// Why a scenario does not apply to a store with these capabilities, if it does not.
pub fn skip_reason(scenario: &Scenario, caps: &Capabilities) -> Option<String> {
    scenario.requires.iter().find_map(|r| match r.as_str() {
        "files" if !caps.files => Some("the store declares that it keeps no files".to_owned()),
        "durable" if !caps.durable => Some("the store declares that it is not durable".to_owned()),
        "limits" if caps.limits == Limits::NONE => {
            Some("the store declares no field limits".to_owned())
        }
        _ => None,
    })
}

/// Runs `scenario` on `store` (which must be fresh and empty).
pub async fn run<S: TokenStore + ?Sized>(store: &S, scenario: &Scenario) -> Result<(), Failure> {
    let mut run = Run {
        store,
        limits: store.capabilities().limits,
        bindings: HashMap::new(),
        log: Vec::new(),
        secrets: Vec::new(),
        leak_check: scenario
            .clauses
            .iter()
            .any(|c| c == "security.no-secret-leak"),
    };
    for step in &scenario.steps {
        run.step(step).await.map_err(|(expected, actual)| Failure {
            step: run.log.len(),
            steps: run.log.clone(),
            expected,
            actual,
            replay: None,
        })?;
    }
    Ok(())
}

/// (expected, actual) for a failed step.
type Mismatch = (String, String);

struct Run<'s, S: ?Sized> {
    store: &'s S,
    limits: Limits,
    /// Names bound to ids by earlier saves.
    bindings: HashMap<String, String>,
    /// Each step as run, for failure reports.
    log: Vec<String>,
    /// Every secret value the scenario has used, for leak checks.
    secrets: Vec<String>,
    leak_check: bool,
}

fn mismatch(expected: impl Into<String>, actual: impl Into<String>) -> Mismatch {
    (expected.into(), actual.into())
}

impl<S: TokenStore + ?Sized> Run<'_, S> {
    async fn step(&mut self, step: &Step) -> Result<(), Mismatch> {
        match step {
            Step::Save {
                token,
                bind,
                same_id,
                error,
            } => {
                let token = self.token(token, "save")?;
                self.save(
                    &token,
                    bind.as_deref(),
                    same_id.as_deref(),
                    error.as_deref(),
                )
                .await
            }
            Step::Find {
                probe,
                expect,
                error,
            } => {
                let probe = self.token(probe, "find_token")?;
                let got = self.store.find_token(&probe).await;
                self.check_found(got, expect.as_ref(), error.as_deref())
            }
            Step::FindById { id, expect, error } => {
                let id = self.id(id, "find_token_by_id")?;
                let got = self.store.find_token_by_id(&id).await;
                self.check_found(got, expect.as_ref(), error.as_deref())
            }
            Step::Delete { id, error } => {
                let id = self.id(id, "delete_token")?;
                let got = self.store.delete_token(&id).await;
                self.check_result(got, error.as_deref()).map(|_| ())
            }
            Step::GetTokens { expect, count } => {
                self.log.push("get_tokens()".to_owned());
                let rows = self.get_tokens().await?;
                self.check_rows(&rows, expect.as_deref(), *count)
            }
            Step::DeleteTokens => {
                self.log.push("delete_tokens()".to_owned());
                let got = self.store.delete_tokens().await;
                self.check_result(got, None).map(|_| ())
            }
            Step::Roundtrip { token } => {
                let token = self.token(token, "roundtrip")?;
                self.roundtrip(&token).await
            }
            Step::DistinctIds { names } => {
                self.log.push(format!("distinct ids {names:?}"));
                self.distinct(names)
            }
            Step::FileMode => {
                self.log.push("file modes".to_owned());
                check_file_modes(&self.store.files())
            }
        }
    }

    async fn save(
        &mut self,
        token: &Token,
        bind: Option<&str>,
        same_id: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), Mismatch> {
        // Over a declared limit, a save is refused whatever the step expected otherwise.
        let over_limit = self.limits.check(token).is_err();
        let error = if over_limit {
            Some("LimitExceeded")
        } else {
            error
        };
        let got = self.store.save_token(token).await;
        let Some(id) = self.check_result(got, error)? else {
            return Ok(());
        };
        if id.is_empty() {
            return Err(mismatch("a non-empty id", "an empty id"));
        }
        if let Some(name) = same_id {
            let want = self.bound(name)?;
            if id != want {
                return Err(mismatch(
                    format!("the id of {name} ({want:?}): an update"),
                    format!("id {id:?}: another row"),
                ));
            }
        }
        if let Some(name) = bind {
            self.bindings.insert(name.to_owned(), id);
        }
        Ok(())
    }

    async fn roundtrip(&mut self, token: &Token) -> Result<(), Mismatch> {
        let before = self.get_tokens().await?;
        let over_limit = self.limits.check(token).is_err();
        let got = self.store.save_token(token).await;
        let expected_error = over_limit.then_some("LimitExceeded");
        let Some(id) = self.check_result(got, expected_error)? else {
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
        let got = self.check_result(got, None)?.flatten();
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
        error: Option<&str>,
    ) -> Result<(), Mismatch> {
        let Some(found) = self.check_result(got, error)? else {
            return Ok(());
        };
        let want = match expect {
            None => return Ok(()),
            Some(Expect::Nothing) => None,
            Some(Expect::Token(spec)) => Some(self.resolve(spec)?),
        };
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
        Ok(self.check_result(got, None)?.unwrap_or_default())
    }

    /// Checks success or the expected error kind. `Ok(Some(v))` on an expected success,
    /// `Ok(None)` on an expected error.
    fn check_result<T: std::fmt::Debug>(
        &mut self,
        got: Result<T, StoreError>,
        error: Option<&str>,
    ) -> Result<Option<T>, Mismatch> {
        if self.leak_check {
            let text = match &got {
                Ok(v) => format!("{v:?}"),
                Err(e) => e.all_text(),
            };
            if let Some(s) = self.secrets.iter().find(|s| text.contains(s.as_str())) {
                return Err(mismatch(
                    "no secret value in the store's errors or Debug output",
                    format!(
                        "a secret value ({} characters) appears in: {}",
                        s.chars().count(),
                        redact(&text, &self.secrets)
                    ),
                ));
            }
        }
        match (got, error) {
            (Ok(v), None) => Ok(Some(v)),
            (Err(e), Some(kind)) if e.kind().to_string() == kind => Ok(None),
            (Ok(v), Some(kind)) => {
                Err(mismatch(format!("error {kind}"), format!("success: {v:?}")))
            }
            (Err(e), want) => Err(mismatch(
                want.map_or("success".to_owned(), |k| format!("error {k}")),
                format!(
                    "error {}: {}",
                    e.kind(),
                    redact(&e.to_string(), &self.secrets)
                ),
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
        self.log.push(format!("{op}({})", show(Field::Id, &id)));
        Ok(id)
    }

    /// Builds the step's token, remembers its secrets, and logs the step.
    fn token(&mut self, spec: &TokenSpec, op: &str) -> Result<Token, Mismatch> {
        let token = self.resolve(spec)?;
        self.secrets.extend(token.secrets().map(str::to_owned));
        self.log.push(format!("{op}({})", describe(&token)));
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

/// Compares two row sets, ignoring order.
fn same_rows(actual: &[Token], expected: &[Token], what: &str) -> Result<(), Mismatch> {
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
        format!("<secret, {n} chars>")
    } else if n > 40 {
        format!(
            "{:?}… ({n} chars)",
            value.chars().take(20).collect::<String>()
        )
    } else {
        format!("{value:?}")
    }
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
