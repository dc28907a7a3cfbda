//! The token: ten optional text fields in the SDK's column order (contract §1).

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// One column of the SDK's `oauthtoken` table, in schema order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// `id`: the row's id.
    Id,
    /// `user_name`: the user's email.
    UserName,
    /// `client_id`.
    ClientId,
    /// `client_secret` (a secret).
    ClientSecret,
    /// `refresh_token` (a secret).
    RefreshToken,
    /// `access_token` (a secret).
    AccessToken,
    /// `grant_token` (a secret).
    GrantToken,
    /// `expiry_time`.
    ExpiryTime,
    /// `redirect_url`.
    RedirectUrl,
    /// `api_domain`.
    ApiDomain,
}

impl Field {
    /// Every field, in the SDK's column order.
    pub const ALL: [Field; 10] = [
        Field::Id,
        Field::UserName,
        Field::ClientId,
        Field::ClientSecret,
        Field::RefreshToken,
        Field::AccessToken,
        Field::GrantToken,
        Field::ExpiryTime,
        Field::RedirectUrl,
        Field::ApiDomain,
    ];

    /// The four fields that name a row for lookups; each value belongs to at most one row.
    pub const KEYS: [Field; 4] = [
        Field::UserName,
        Field::AccessToken,
        Field::GrantToken,
        Field::RefreshToken,
    ];

    /// The column name in the SDK's schema.
    pub fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::UserName => "user_name",
            Field::ClientId => "client_id",
            Field::ClientSecret => "client_secret",
            Field::RefreshToken => "refresh_token",
            Field::AccessToken => "access_token",
            Field::GrantToken => "grant_token",
            Field::ExpiryTime => "expiry_time",
            Field::RedirectUrl => "redirect_url",
            Field::ApiDomain => "api_domain",
        }
    }

    /// Position in the SDK's column order (0 for `id`).
    /// Its position in [`Field::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The field with this column name (`user_name`), if any.
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Secrets never appear in `Debug` output, errors, logs or reports.
    pub fn is_secret(self) -> bool {
        matches!(
            self,
            Field::ClientSecret | Field::RefreshToken | Field::AccessToken | Field::GrantToken
        )
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A field value: public fields are plain text, secret fields are kept in a
/// [`SecretString`] so that `Debug` redacts them by construction.
#[derive(Clone)]
enum Value {
    Plain(String),
    Secret(SecretString),
}

impl Value {
    fn as_str(&self) -> &str {
        match self {
            Value::Plain(s) => s,
            Value::Secret(s) => s.expose_secret(),
        }
    }
}

/// An OAuth token as the SDK stores it.
///
/// Every field is optional; an empty string means the same as an absent value: it is
/// never held as a value, and [`Token::get`] gives `None` for it. The token remembers
/// which fields were *given* as `""` ([`Token::raw`]), so that a store in another
/// language can be sent `""` as such; and a token decoded from such a store's answer
/// remembers which fields it *handed back* as `""` ([`Token::handed_back_empty`]).
/// Equality ignores both. `Debug` shows public fields and
/// `[REDACTED]` for secrets. There is deliberately no `Serialize`: a token can
/// only leave the process through code that reads each field by name.
#[derive(Clone, Default)]
pub struct Token {
    values: [Option<Value>; 10],
    /// One bit per field given as `""`.
    empty: u16,
    /// One bit per field a store handed back as `""`.
    handed_back: u16,
}

impl Token {
    /// A token with no field.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `field`, if present (never `Some("")`).
    pub fn get(&self, field: Field) -> Option<&str> {
        self.values[field.index()].as_ref().map(Value::as_str)
    }

    /// Sets `field`; `None` and `Some("")` both make it absent (`""` is remembered as
    /// given, see [`Token::raw`]).
    pub fn set(&mut self, field: Field, value: Option<&str>) {
        let bit = 1 << field.index();
        self.empty = match value {
            Some("") => self.empty | bit,
            _ => self.empty & !bit,
        };
        self.values[field.index()] = match value {
            None | Some("") => None,
            Some(v) if field.is_secret() => Some(Value::Secret(SecretString::from(v))),
            Some(v) => Some(Value::Plain(v.to_owned())),
        };
    }

    /// Builder form of [`Token::set`].
    pub fn with(mut self, field: Field, value: &str) -> Self {
        self.set(field, Some(value));
        self
    }

    /// The value as given: `Some("")` for a field given as `""`, otherwise as
    /// [`Token::get`]. For adapters, which pass `""` on as its own value.
    pub fn raw(&self, field: Field) -> Option<&str> {
        match self.empty & (1 << field.index()) {
            0 => self.get(field),
            _ => Some(""),
        }
    }

    /// Records that the store this token came from handed `field` back as `""` (for an
    /// adapter decoding an answer; the field stays absent).
    pub fn mark_handed_back_empty(&mut self, field: Field) {
        self.set(field, None);
        self.handed_back |= 1 << field.index();
    }

    /// The fields the store handed back as `""`, which the contract says it never does
    /// (`value.empty`).
    pub fn handed_back_empty(&self) -> impl Iterator<Item = Field> + '_ {
        Field::ALL
            .into_iter()
            .filter(|f| self.handed_back & (1 << f.index()) != 0)
    }

    /// True when the field has a value.
    pub fn has(&self, field: Field) -> bool {
        self.values[field.index()].is_some()
    }

    /// The `id` field.
    pub fn id(&self) -> Option<&str> {
        self.get(Field::Id)
    }

    /// The `user_name` field.
    pub fn user_name(&self) -> Option<&str> {
        self.get(Field::UserName)
    }

    /// The present fields, in column order.
    pub fn fields(&self) -> impl Iterator<Item = (Field, &str)> {
        Field::ALL
            .into_iter()
            .filter_map(|f| self.get(f).map(|v| (f, v)))
    }

    /// The present secret values (for leak checks).
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.fields().filter(|(f, _)| f.is_secret()).map(|(_, v)| v)
    }

    /// True when no field has a value.
    pub fn is_empty(&self) -> bool {
        self.values.iter().all(Option::is_none)
    }

    /// `find_token`'s merge: fields present here win, `stored` fills the rest (`id`
    /// included). Takes the stored row by value: only the probe's own fields are copied.
    pub fn merged_over(&self, mut stored: Token) -> Token {
        for (slot, mine) in stored.values.iter_mut().zip(&self.values) {
            if mine.is_some() {
                slot.clone_from(mine);
            }
        }
        stored
    }

    /// `save_token`'s update: every field present in `update` overwrites this row's value,
    /// absent fields keep theirs (an update never clears a column). The row keeps its id.
    pub fn apply_update(&mut self, update: &Token) {
        for f in Field::ALL {
            if f != Field::Id && update.has(f) {
                self.values[f.index()].clone_from(&update.values[f.index()]);
            }
        }
    }

    /// The positional row, in column order; absent fields are `None`.
    pub fn to_row(&self) -> [Option<&str>; 10] {
        Field::ALL.map(|f| self.get(f))
    }

    /// Builds a token from a positional row in column order.
    pub fn from_row<S: AsRef<str>>(row: &[Option<S>]) -> Token {
        let mut t = Token::new();
        for (f, v) in Field::ALL.into_iter().zip(row) {
            t.set(f, v.as_ref().map(AsRef::as_ref));
        }
        t
    }
}

impl PartialEq for Token {
    /// Exact, byte-for-byte comparison of every field (secrets included).
    fn eq(&self, other: &Self) -> bool {
        Field::ALL.into_iter().all(|f| self.get(f) == other.get(f))
    }
}

impl Eq for Token {}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Token");
        for (field, value) in self.fields() {
            if field.is_secret() {
                s.field(field.name(), &"[REDACTED]");
            } else {
                s.field(field.name(), &value);
            }
        }
        s.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_every_secret_and_shows_public_fields() {
        let t = Token::new()
            .with(Field::UserName, "alice@example.com")
            .with(Field::ClientSecret, "cs-very-secret")
            .with(Field::AccessToken, "at-very-secret")
            .with(Field::RefreshToken, "rt-very-secret")
            .with(Field::GrantToken, "gt-very-secret");
        let shown = format!("{t:?} {t:#?}");
        for secret in t.secrets() {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("alice@example.com"));
        assert_eq!(t.secrets().count(), 4);
    }

    #[test]
    fn empty_strings_are_absent() {
        let t = Token::new()
            .with(Field::UserName, "")
            .with(Field::AccessToken, "");
        assert!(t.is_empty());
        assert_eq!(t.get(Field::UserName), None);
    }

    #[test]
    fn a_field_given_as_empty_is_absent_but_remembered() {
        let t = Token::new()
            .with(Field::ApiDomain, "")
            .with(Field::UserName, "u");
        assert_eq!(t.get(Field::ApiDomain), None);
        assert_eq!(t.raw(Field::ApiDomain), Some(""));
        assert_eq!(t.raw(Field::ClientId), None);
        assert_eq!(t.handed_back_empty().count(), 0);
        assert_eq!(t, Token::new().with(Field::UserName, "u"));
        let given = t.clone().with(Field::ApiDomain, "d");
        assert_eq!(given.raw(Field::ApiDomain), Some("d"));
        let mut answer = Token::new();
        answer.mark_handed_back_empty(Field::ClientId);
        assert_eq!(
            answer.handed_back_empty().collect::<Vec<_>>(),
            [Field::ClientId]
        );
        assert_eq!(answer.get(Field::ClientId), None);
    }

    #[test]
    fn equality_is_exact() {
        let a = Token::new().with(Field::AccessToken, "Tok ");
        assert_ne!(a, Token::new().with(Field::AccessToken, "tok "));
        assert_ne!(a, Token::new().with(Field::AccessToken, "Tok"));
        assert_eq!(a, Token::new().with(Field::AccessToken, "Tok "));
    }

    #[test]
    fn merge_keeps_probe_fields_and_update_keeps_absent_ones() {
        let stored = Token::new()
            .with(Field::Id, "7")
            .with(Field::UserName, "u")
            .with(Field::AccessToken, "old");
        let probe = Token::new().with(Field::AccessToken, "mine");
        let merged = probe.merged_over(stored.clone());
        assert_eq!(merged.id(), Some("7"));
        assert_eq!(merged.get(Field::AccessToken), Some("mine"));

        let mut row = stored.clone();
        row.apply_update(
            &Token::new()
                .with(Field::Id, "9")
                .with(Field::ExpiryTime, "1"),
        );
        assert_eq!(row.id(), Some("7"));
        assert_eq!(row.get(Field::AccessToken), Some("old"));
        assert_eq!(row.get(Field::ExpiryTime), Some("1"));
    }

    #[test]
    fn rows_round_trip_in_column_order() {
        let t = Token::new()
            .with(Field::Id, "1")
            .with(Field::ApiDomain, "d");
        let row = t.to_row();
        assert_eq!(row[0], Some("1"));
        assert_eq!(row[9], Some("d"));
        assert_eq!(Token::from_row(&row), t);
    }
}
