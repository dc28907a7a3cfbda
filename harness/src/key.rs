//! The lookup key of a token (contract §2) and the insert guard (§4.5).

use crate::token::{Field, Token};

/// Where to look for a token's row: candidate `(field, value)` pairs, tried in order;
/// the first one that matches a row wins. Only the grant rule has a second candidate
/// (the refresh token, used when no row holds the grant token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupKey<'a> {
    candidates: Vec<(Field, &'a str)>,
}

impl<'a> LookupKey<'a> {
    /// The key of `token` by the first rule of §2 that applies, or `None` when it has no key.
    pub fn of(token: &'a Token) -> Option<LookupKey<'a>> {
        let get = |f| token.get(f);
        let creds = get(Field::ClientId).is_some() && get(Field::ClientSecret).is_some();
        let no_creds = get(Field::ClientId).is_none() && get(Field::ClientSecret).is_none();
        let mut candidates = Vec::with_capacity(2);
        if let Some(user) = get(Field::UserName) {
            candidates.push((Field::UserName, user));
        } else if let (Some(access), true) = (get(Field::AccessToken), no_creds) {
            candidates.push((Field::AccessToken, access));
        } else if creds {
            if let Some(grant) = get(Field::GrantToken) {
                candidates.push((Field::GrantToken, grant));
            }
            if let Some(refresh) = get(Field::RefreshToken) {
                candidates.push((Field::RefreshToken, refresh));
            }
        }
        (!candidates.is_empty()).then_some(LookupKey { candidates })
    }

    /// The candidates in the order they must be tried.
    pub fn candidates(&self) -> &[(Field, &'a str)] {
        &self.candidates
    }

    /// Finds the row this key names among `rows` with `find_row(field, value)`,
    /// trying candidates in order.
    pub fn resolve<R>(&self, mut find_row: impl FnMut(Field, &str) -> Option<R>) -> Option<R> {
        self.candidates.iter().find_map(|(f, v)| find_row(*f, v))
    }
}

/// `find_token`'s rule: the stored row the probe's key names, found with
/// `find_row(field, value)` trying the key's candidates in order, merged into the
/// probe; `None` for a probe with no key (a store's lookups plug in as `find_row`).
pub fn find_merged(
    probe: &Token,
    find_row: impl FnMut(Field, &str) -> Option<Token>,
) -> Option<Token> {
    LookupKey::of(probe)?
        .resolve(find_row)
        .map(|row| probe.merged_over(row))
}

/// Rule 4.5: a token that matched no row may be inserted only if it has a key and
/// carries at least one of the access, refresh or grant tokens.
pub fn insertable(token: &Token) -> bool {
    LookupKey::of(token).is_some()
        && [Field::AccessToken, Field::RefreshToken, Field::GrantToken]
            .into_iter()
            .any(|f| token.has(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(t: &Token) -> Option<Vec<(Field, String)>> {
        LookupKey::of(t).map(|k| {
            k.candidates()
                .iter()
                .map(|(f, v)| (*f, v.to_string()))
                .collect()
        })
    }

    #[test]
    fn user_name_wins_over_everything() {
        let t = Token::new()
            .with(Field::UserName, "u")
            .with(Field::AccessToken, "a")
            .with(Field::ClientId, "c")
            .with(Field::ClientSecret, "s")
            .with(Field::GrantToken, "g");
        assert_eq!(key(&t), Some(vec![(Field::UserName, "u".into())]));
    }

    #[test]
    fn access_needs_both_client_fields_absent() {
        let bare = Token::new().with(Field::AccessToken, "a");
        assert_eq!(key(&bare), Some(vec![(Field::AccessToken, "a".into())]));
        let half = bare.clone().with(Field::ClientId, "c");
        assert_eq!(key(&half), None);
    }

    #[test]
    fn grant_then_refresh_with_credentials() {
        let t = Token::new()
            .with(Field::ClientId, "c")
            .with(Field::ClientSecret, "s")
            .with(Field::GrantToken, "g")
            .with(Field::RefreshToken, "r");
        assert_eq!(
            key(&t),
            Some(vec![
                (Field::GrantToken, "g".into()),
                (Field::RefreshToken, "r".into())
            ])
        );
        let no_creds = Token::new().with(Field::GrantToken, "g");
        assert_eq!(key(&no_creds), None);
    }

    #[test]
    fn id_only_has_no_key_and_is_not_insertable() {
        let t = Token::new().with(Field::Id, "1");
        assert_eq!(key(&t), None);
        assert!(!insertable(&t));
        assert!(!insertable(&Token::new().with(Field::UserName, "u")));
        assert!(insertable(
            &Token::new()
                .with(Field::UserName, "u")
                .with(Field::RefreshToken, "r")
        ));
    }
}
