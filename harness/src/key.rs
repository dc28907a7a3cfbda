//! The lookup key of a token (contract §2), the find and save rules built on it, and the
//! insert guard (§4.5).

use crate::error::StoreError;
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

/// What a save writes (contract §4), decided by [`save_plan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SavePlan {
    /// Replace the row at this position with this one (it keeps its id).
    Update {
        /// The row's position, as the store's `position` gave it.
        at: usize,
        /// The stored row with the token's present fields over it.
        row: Token,
    },
    /// Insert this token; the store gives it an id when it has none.
    Insert(Token),
}

/// `save_token`'s rule, for a store that finds rows by position: the row the token's id
/// names (rule 4.1), else the row its key names (rule 4.2), is updated with the token's
/// present fields (4.4); else the token is inserted if it can be (4.5); either way no
/// other row may hold any of the written row's key values (4.6). `position(field,
/// value)` finds the row whose `field` holds `value`, byte for byte; `row(at)` reads it.
pub fn save_plan(
    token: &Token,
    position: impl Fn(Field, &str) -> Option<usize>,
    row: impl Fn(usize) -> Token,
) -> Result<SavePlan, StoreError> {
    let target = token
        .id()
        .and_then(|id| position(Field::Id, id))
        .or_else(|| LookupKey::of(token)?.resolve(&position));
    let unique = |written: &Token, own: Option<usize>| {
        for field in Field::KEYS {
            let holder = written.get(field).and_then(|v| position(field, v));
            if holder.is_some() && holder != own {
                return Err(StoreError::Conflict { field });
            }
        }
        Ok(())
    };
    if let Some(at) = target {
        let mut updated = row(at);
        updated.apply_update(token);
        unique(&updated, Some(at))?;
        return Ok(SavePlan::Update { at, row: updated });
    }
    if !insertable(token) {
        return Err(StoreError::not_insertable());
    }
    unique(token, None)?;
    Ok(SavePlan::Insert(token.clone()))
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
