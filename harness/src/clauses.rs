//! The clause registry: every clause of the contract, with its level and a one-line summary.

use serde::Serialize;

/// MUST clauses fail a run; SHOULD clauses warn, and fail only under `--strict`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// Must hold: a failure fails the run.
    Must,
    /// Should hold: a failure warns.
    Should,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
        })
    }
}

/// How a clause is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// By the scenario files that name it.
    Scenarios,
    /// By a built-in check of the harness (concurrency, durability, model sequences).
    Builtin,
}

#[derive(Clone, Copy, Debug)]
/// One clause of the contract.
pub struct Clause {
    /// Its stable id (`find.exact`).
    pub id: &'static str,
    /// MUST or SHOULD.
    pub level: Level,
    /// The clause in one line.
    pub summary: &'static str,
    /// What checks it.
    pub coverage: Coverage,
}

const fn must(id: &'static str, summary: &'static str) -> Clause {
    Clause {
        id,
        level: Level::Must,
        summary,
        coverage: Coverage::Scenarios,
    }
}

const fn should(id: &'static str, summary: &'static str) -> Clause {
    Clause {
        id,
        level: Level::Should,
        summary,
        coverage: Coverage::Scenarios,
    }
}

const fn builtin(id: &'static str, summary: &'static str) -> Clause {
    Clause {
        id,
        level: Level::Must,
        summary,
        coverage: Coverage::Builtin,
    }
}

/// Every clause, in the contract's order. Ids never change meaning.
pub const CLAUSES: &[Clause] = &[
    must("find.miss", "a key that matches nothing gives None"),
    must("find.no-key", "a probe with no key gives None, never a row"),
    must(
        "find.by-user",
        "a probe with a user name finds that user's row",
    ),
    must(
        "find.by-access",
        "an access token without client id and secret finds its row",
    ),
    must(
        "find.by-grant",
        "client id, secret and grant token find the grant's row",
    ),
    must(
        "find.by-refresh",
        "client id, secret and refresh token find the refresh token's row",
    ),
    must(
        "find.precedence",
        "when several key rules apply, the first one wins",
    ),
    must(
        "find.merge",
        "probe fields win, stored fields fill the rest, id included",
    ),
    must(
        "find.exact",
        "keys and ids match byte for byte: case, spaces, Unicode forms",
    ),
    must("save.insert", "a new token is stored and gets an id"),
    must(
        "save.update-by-id",
        "a token whose id names a row updates that row",
    ),
    must(
        "save.update-by-key",
        "otherwise the row named by the token's key is updated",
    ),
    must(
        "save.keep-absent",
        "an update never clears a column the token does not carry",
    ),
    must(
        "save.guard",
        "a token with no key or no access/refresh/grant token is not inserted",
    ),
    must(
        "save.key-unique",
        "a key value belongs to at most one row; a clash is a Conflict",
    ),
    must(
        "save.idempotent",
        "saving the same token twice leaves exactly one row",
    ),
    must(
        "save.atomic",
        "after an error the store holds the old row or the new row, never a mix",
    ),
    must(
        "id.unique",
        "ids are unique, past ten tokens and under concurrency",
    ),
    must("id.stable", "an update never changes a row's id"),
    should("id.no-reuse", "an id is never given again after a delete"),
    must(
        "by-id.hit",
        "find_token_by_id gives the complete stored token",
    ),
    must("by-id.miss", "find_token_by_id of an unknown id gives None"),
    must(
        "by-id.empty",
        "find_token_by_id of an empty id is InvalidInput",
    ),
    must("delete.one", "delete_token removes the row with that id"),
    must("delete.miss", "delete_token of an unknown id is a no-op"),
    must(
        "delete.empty",
        "delete_token of an empty id is InvalidInput",
    ),
    must("delete.isolation", "delete_token removes no other row"),
    must("all.list", "get_tokens gives every stored token, complete"),
    must("all.delete", "delete_tokens empties the store"),
    must("value.roundtrip", "every value comes back byte for byte"),
    must(
        "value.empty",
        "an empty string is absent: never stored, never matched",
    ),
    must(
        "value.limit",
        "a value at the limit round-trips; over it is LimitExceeded, never truncated",
    ),
    must(
        "security.injection",
        "quoting and injection strings change no other row",
    ),
    must(
        "security.no-secret-leak",
        "no secret in errors or Debug output",
    ),
    should(
        "security.file-mode",
        "store files are readable by the owner only",
    ),
    builtin(
        "concurrency.distinct",
        "concurrent saves of distinct users all succeed with distinct ids",
    ),
    builtin(
        "concurrency.same-user",
        "concurrent saves for one user leave one row equal to one written token",
    ),
    builtin(
        "concurrency.read-during-write",
        "a find during saves gives the old or the new token, never a mix",
    ),
    builtin(
        "concurrency.multi-instance",
        "the concurrency guarantees hold across two instances on one database",
    ),
    builtin(
        "durability.reopen",
        "a durable store keeps every acknowledged write across a reopen",
    ),
    builtin(
        "durability.crash",
        "a durable store keeps every acknowledged write across a kill",
    ),
    builtin(
        "model.sequences",
        "random operation sequences agree with the reference model",
    ),
    must(
        "flow.first-login",
        "first login with a grant token inserts the token",
    ),
    must(
        "flow.api-call",
        "an API call reads by id and writes nothing",
    ),
    must(
        "flow.restart-refresh",
        "a restart finds the token by refresh token",
    ),
    must(
        "flow.access-expired",
        "a refreshed access token updates the same row",
    ),
    must(
        "flow.raw-access-token",
        "an access token alone is stored as a new row",
    ),
    must("flow.switch-user", "a second user gets a second row"),
    must(
        "flow.reconsent",
        "a new grant for the same user updates its row",
    ),
    must("flow.start-by-id", "start by id: the token, or None"),
    must(
        "flow.start-by-user",
        "start by user name: the token, or None",
    ),
    must("flow.revoke", "revoke's id-only lookup never finds a row"),
    must(
        "flow.remove-twice",
        "a second delete of the same id is a no-op",
    ),
];

/// The clause with this id.
pub fn clause(id: &str) -> Option<&'static Clause> {
    CLAUSES.iter().find(|c| c.id == id)
}
