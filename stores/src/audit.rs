//! `tokenstore audit`: reads every row a token store left — the SDK FileStore's CSV
//! file, a table with the SDK's columns in SQLite or MySQL — without writing, and lists
//! every row that breaks the contract's data invariants. Rows are streamed, twice, and
//! memory does not grow with the data (see [`audit`]). No value is ever shown: rows
//! are named by number and id, values by length and fingerprint.

use std::collections::HashMap;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use tokenstore_harness::{Field, Limits, LookupKey, Token, fingerprint, secret_shown};

use crate::sql;

/// Where the rows are read from.
#[derive(Debug)]
pub enum AuditSource {
    /// A CSV file with the SDK FileStore's header (this project's file store writes the
    /// same format).
    Csv(PathBuf),
    /// A table with the SDK's columns in a SQLite database file, opened read-only.
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The table.
        table: String,
    },
    /// A table with the SDK's columns on a PostgreSQL server (text or bytea columns;
    /// `schema.table` names one outside the search path), read in one read-only
    /// transaction.
    Postgres {
        /// The server's URL, with its password.
        url: SecretString,
        /// The URL without its password, for reports.
        location: String,
        /// The table.
        table: String,
    },
    /// A table with the SDK's columns on a MySQL or MariaDB server, read in one
    /// read-only transaction (a consistent snapshot that takes no lock).
    Mysql {
        /// The server's URL, with its password.
        url: SecretString,
        /// The URL without its password, for reports.
        location: String,
        /// The table.
        table: String,
    },
}

/// The source forms `audit` takes, for errors and `--help`.
pub const SOURCE_FORMS: &str = "file:PATH or PATH.csv (a token CSV file), sqlite:PATH or \
     PATH.db / .sqlite / .sqlite3 (a SQLite database), mysql://USER:PASSWORD@HOST:PORT/DB, \
     postgres://USER:PASSWORD@HOST:PORT/DB; --table NAME for a table other than oauthtoken \
     (SCHEMA.NAME on PostgreSQL)";

/// Why an audit could not be made. Never holds a password or a stored value.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The source is not one `audit` can name (exit 2).
    #[error("unknown source {0:?}: expected {SOURCE_FORMS}")]
    UnknownSource(String),
    /// A table name that is not a plain SQL identifier (exit 2).
    #[error("table name {0:?}: use letters, digits and `_` only")]
    BadTable(String),
    /// The source cannot be read (exit 3).
    #[error("cannot read {location}: {why}")]
    Unreadable {
        /// The source, without a password.
        location: String,
        /// What went wrong.
        why: String,
    },
}

impl AuditError {
    /// The exit code: 2 for a usage error, 3 for a source that cannot be read.
    pub fn exit_code(&self) -> u8 {
        match self {
            AuditError::UnknownSource(_) | AuditError::BadTable(_) => 2,
            AuditError::Unreadable { .. } => 3,
        }
    }
}

impl AuditSource {
    /// Names a source: `file:PATH`, `PATH.csv`, `sqlite:PATH`, `PATH.db`, or a MySQL
    /// URL; `table` is the SQL table (default `oauthtoken`, the SDK's).
    pub fn parse(text: &str, table: Option<&str>) -> Result<AuditSource, AuditError> {
        let table = table.unwrap_or(sql::TABLE);
        let part =
            |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let postgres = text.starts_with("postgres://") || text.starts_with("postgresql://");
        let parts: Vec<&str> = table.split('.').collect();
        let named = match postgres {
            true => parts.len() <= 2 && parts.iter().all(|p| part(p)),
            false => part(table),
        };
        if !named {
            return Err(AuditError::BadTable(table.to_owned()));
        }
        let table = table.to_owned();
        let ends = |exts: &[&str]| exts.iter().any(|e| text.ends_with(e));
        if let Some(path) = text.strip_prefix("file:") {
            return Ok(AuditSource::Csv(path.into()));
        }
        if let Some(path) = text.strip_prefix("sqlite:") {
            let path = path.into();
            return Ok(AuditSource::Sqlite { path, table });
        }
        if text.starts_with("mysql://") {
            let location = crate::mysql::location_of(text).map_err(|_| {
                AuditError::UnknownSource("(a MySQL URL that cannot be read)".into())
            })?;
            let url = SecretString::from(text.to_owned());
            return Ok(AuditSource::Mysql {
                url,
                location,
                table,
            });
        }
        if postgres {
            let location = crate::postgres::location_of(text).map_err(|_| {
                AuditError::UnknownSource("(a PostgreSQL URL that cannot be read)".into())
            })?;
            let url = SecretString::from(text.to_owned());
            return Ok(AuditSource::Postgres {
                url,
                location,
                table,
            });
        }
        if ends(&[".csv"]) {
            return Ok(AuditSource::Csv(text.into()));
        }
        if ends(&[".db", ".sqlite", ".sqlite3"]) {
            let path = text.into();
            return Ok(AuditSource::Sqlite { path, table });
        }
        let shown = if text.contains('@') { "(a URL)" } else { text };
        Err(AuditError::UnknownSource(shown.to_owned()))
    }

    /// The source as reports show it: no password.
    pub fn location(&self) -> String {
        match self {
            AuditSource::Csv(path) => format!("CSV file {}", path.display()),
            AuditSource::Sqlite { path, table } => {
                format!("table {table} in SQLite file {}", path.display())
            }
            AuditSource::Mysql {
                location, table, ..
            }
            | AuditSource::Postgres {
                location, table, ..
            } => format!("table {table} in {location}"),
        }
    }

    /// Reads every row, in the source's order, once per pass, handing each to that
    /// pass's visitor. A SQL source is read in one read-only transaction, so every pass
    /// sees the same rows.
    pub async fn scan(&self, passes: &mut [&mut dyn FnMut(RawRow)]) -> Result<(), AuditError> {
        let unreadable = |why: String| AuditError::Unreadable {
            location: self.location(),
            why,
        };
        match self {
            AuditSource::Csv(path) => passes
                .iter_mut()
                .try_for_each(|see| scan_csv(path, *see))
                .map_err(unreadable),
            AuditSource::Sqlite { path, table } => {
                scan_sqlite(path, table, passes).map_err(unreadable)
            }
            AuditSource::Mysql { url, table, .. } => {
                scan_mysql(url, table, passes).await.map_err(unreadable)
            }
            AuditSource::Postgres { url, table, .. } => {
                scan_postgres(url, table, passes).await.map_err(unreadable)
            }
        }
    }
}

/// One stored row as it is: `None` where the column is NULL (or, in a CSV file, the
/// cell is empty — the format cannot tell absent from `""`), `Some("")` where a SQL
/// column holds the empty string. A row the source could not read whole carries its
/// problem instead.
#[derive(Clone, Debug)]
pub struct RawRow {
    /// The row's place in the source, from 1.
    pub number: u64,
    /// The SDK's ten columns, in `Field` order.
    pub values: [Option<String>; 10],
    /// Why the row is malformed, if it is (a CSV line with too few or too many fields).
    pub malformed: Option<String>,
}

fn scan_csv(path: &std::path::Path, see: &mut dyn FnMut(RawRow)) -> Result<(), String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(std::io::BufReader::new(file));
    let header = reader.byte_headers().map_err(|e| e.to_string())?.clone();
    // Each field's column in the file, by the SDK's header name (`redirect_uri`) or ours.
    let mut at = [None; 10];
    for (i, name) in header.iter().enumerate() {
        let name = String::from_utf8_lossy(name).trim().to_lowercase();
        let field = crate::file::HEADER.iter().position(|h| *h == name);
        if let Some(index) = field.or_else(|| Field::from_name(&name).map(Field::index)) {
            at[index] = Some(i);
        }
    }
    if let Some(missing) = Field::ALL.iter().find(|f| at[f.index()].is_none()) {
        return Err(format!(
            "not a token CSV file: its header has no `{}` column (it must have the SDK \
             FileStore's ten columns)",
            missing.name()
        ));
    }
    let mut record = csv::ByteRecord::new();
    let mut number = 0;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => return Err(format!("after row {number}: {e}")),
        }
        number += 1;
        let mut malformed = (record.len() != header.len()).then(|| {
            format!(
                "{} fields where the header has {}",
                record.len(),
                header.len()
            )
        });
        let values = Field::ALL.map(|f| {
            let cell = at[f.index()].and_then(|i| record.get(i))?;
            match std::str::from_utf8(cell) {
                Ok("") => None,
                Ok(text) => Some(text.to_owned()),
                Err(_) => {
                    malformed = Some(format!("`{}` is not UTF-8 text", f.name()));
                    None
                }
            }
        });
        see(RawRow {
            number,
            values,
            malformed,
        });
    }
}

fn scan_sqlite(
    path: &std::path::Path,
    table: &str,
    passes: &mut [&mut dyn FnMut(RawRow)],
) -> Result<(), String> {
    use rusqlite::OpenFlags;
    // Read-only, and without creating a file that is not there.
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = rusqlite::Connection::open_with_flags(path, flags).map_err(|e| e.to_string())?;
    conn.execute_batch("BEGIN").map_err(|e| e.to_string())?;
    let mut statement = conn
        .prepare(&format!("SELECT {} FROM \"{table}\"", sql::columns()))
        .map_err(|e| e.to_string())?;
    for see in passes.iter_mut() {
        let mut rows = statement.query([]).map_err(|e| e.to_string())?;
        let mut number = 0;
        while let Some(row) = rows.next().map_err(|e| e.to_string())? {
            number += 1;
            let text = |i: usize| -> Option<String> {
                use rusqlite::types::ValueRef;
                match row.get_ref(i).ok()? {
                    ValueRef::Null => None,
                    ValueRef::Integer(n) => Some(n.to_string()),
                    ValueRef::Real(x) => Some(x.to_string()),
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        Some(String::from_utf8_lossy(t).into_owned())
                    }
                }
            };
            see(RawRow {
                number,
                values: std::array::from_fn(text),
                malformed: None,
            });
        }
    }
    Ok(())
}

async fn scan_mysql(
    url: &SecretString,
    table: &str,
    passes: &mut [&mut dyn FnMut(RawRow)],
) -> Result<(), String> {
    use mysql_async::prelude::Queryable;
    let server = crate::MysqlServer::new(url.expose_secret()).map_err(|e| e.to_string())?;
    let mut conn = server.conn().await.map_err(|e| e.to_string())?;
    // One snapshot for every pass, read without a lock that would block the application
    // (the store's sessions read committed rows per statement; a snapshot needs this).
    conn.query_drop("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .await
        .map_err(|e| e.to_string())?;
    conn.query_drop("START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT")
        .await
        .map_err(|e| e.to_string())?;
    for see in passes.iter_mut() {
        let mut result = conn
            .query_iter(format!("SELECT {} FROM `{table}`", sql::columns()))
            .await
            .map_err(|e| e.to_string())?;
        let mut number = 0;
        while let Some(row) = result.next().await.map_err(|e| e.to_string())? {
            number += 1;
            let text = |i: usize| -> Option<String> {
                match row.as_ref(i)? {
                    mysql_async::Value::NULL => None,
                    mysql_async::Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
                    other => Some(other.as_sql(true).trim_matches('\'').to_owned()),
                }
            };
            see(RawRow {
                number,
                values: std::array::from_fn(text),
                malformed: None,
            });
        }
    }
    let _ = conn.query_drop("ROLLBACK").await;
    drop(conn);
    let _ = server.disconnect().await;
    Ok(())
}

async fn scan_postgres(
    url: &SecretString,
    table: &str,
    passes: &mut [&mut dyn FnMut(RawRow)],
) -> Result<(), String> {
    use futures_util::{StreamExt, pin_mut};
    let server = crate::PostgresServer::new(url.expose_secret()).map_err(|e| e.to_string())?;
    let mut client = server.client().await.map_err(|e| e.to_string())?;
    // One snapshot for every pass; a read-only transaction takes no lock that blocks
    // the application's writes.
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|e| e.to_string())?;
    let quoted: Vec<String> = table.split('.').map(|p| format!("\"{p}\"")).collect();
    let select = format!("SELECT {} FROM {}", sql::columns(), quoted.join("."));
    for see in passes.iter_mut() {
        let rows = tx
            .query_raw(select.as_str(), std::iter::empty::<&str>())
            .await
            .map_err(|e| e.to_string())?;
        pin_mut!(rows);
        let mut number = 0;
        while let Some(row) = rows.next().await {
            let row = row.map_err(|e| e.to_string())?;
            number += 1;
            // Text columns (a custom store's) or bytea (this project's).
            let text = |i: usize| -> Option<String> {
                match row.try_get::<_, Option<String>>(i) {
                    Ok(value) => value,
                    Err(_) => row
                        .try_get::<_, Option<Vec<u8>>>(i)
                        .ok()
                        .flatten()
                        .map(|b| String::from_utf8_lossy(&b).into_owned()),
                }
            };
            see(RawRow {
                number,
                values: std::array::from_fn(text),
                malformed: None,
            });
        }
    }
    let _ = tx.rollback().await;
    Ok(())
}

/// What is wrong with some rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// A row the source could not read whole.
    MalformedRow,
    /// Rows with one id.
    DuplicateId,
    /// A row without an id.
    MissingId,
    /// Rows sharing a user name, access, grant or refresh token.
    SharedKey,
    /// A row that no lookup can find: no user name, no access token without client
    /// fields, no grant or refresh token with both client fields.
    NoKey,
    /// `""` stored where a value is absent.
    EmptyString,
    /// A value longer than the declared limit.
    OverLimit,
    /// An `expiry_time` that is not milliseconds since 1970 in a sensible range.
    MalformedExpiry,
    /// A client id without a secret, or a secret without an id.
    HalfCredentials,
}

impl FindingKind {
    /// What the kind means, for reports.
    pub fn describe(self) -> &'static str {
        match self {
            FindingKind::MalformedRow => "row not readable whole",
            FindingKind::DuplicateId => "rows sharing an id",
            FindingKind::MissingId => "row without an id",
            FindingKind::SharedKey => "rows sharing a key value",
            FindingKind::NoKey => "row with no key (no lookup finds it)",
            FindingKind::EmptyString => "\"\" stored for an absent value",
            FindingKind::OverLimit => "value over the declared limit",
            FindingKind::MalformedExpiry => "expiry_time not a time in milliseconds",
            FindingKind::HalfCredentials => "client id or secret without the other",
        }
    }
}

/// A row as findings name it: its place and its id (ids are not secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RowRef {
    /// The row's place in the source, from 1.
    pub row: u64,
    /// Its id, if it has one (cut to 40 characters).
    pub id: Option<String>,
}

impl std::fmt::Display for RowRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.id {
            Some(id) => write!(f, "row {} (id {id:?})", self.row),
            None => write!(f, "row {}", self.row),
        }
    }
}

/// One violation: its kind, the field, the rows, and what was seen (never a value).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What is wrong.
    pub kind: FindingKind,
    /// The field it is about, if one.
    pub field: Option<&'static str>,
    /// The rows involved.
    pub rows: Vec<RowRef>,
    /// What was seen: a length, a fingerprint, a reason.
    pub detail: String,
}

/// The audit of one source.
#[derive(Clone, Debug, Serialize)]
pub struct AuditReport {
    /// The report format: `tokenstore-audit/1`.
    pub schema: &'static str,
    /// The source, without a password.
    pub source: String,
    /// Rows read.
    pub rows: u64,
    /// Every finding, grouped by kind, in row order within a kind.
    pub findings: Vec<Finding>,
}

impl AuditReport {
    /// 0 when clean, 1 when something was found.
    pub fn exit_code(&self) -> u8 {
        u8::from(!self.findings.is_empty())
    }
}

/// Reads every row of `source` and checks it against the contract's data invariants,
/// with `limits` as the declared maximum lengths. Two passes: the first checks each row
/// and notes, in a fixed-size filter, which key values may repeat; the second collects
/// the rows of those values only. Memory does not grow with the source.
pub async fn audit(source: &AuditSource, limits: Limits) -> Result<AuditReport, AuditError> {
    let auditor = std::cell::RefCell::new(Auditor::new(limits));
    let mut first = |row: RawRow| auditor.borrow_mut().see(&row);
    let mut second = |row: RawRow| auditor.borrow_mut().recount(&row);
    source.scan(&mut [&mut first, &mut second]).await?;
    Ok(auditor.into_inner().report(source.location()))
}

/// A (field, value) pair's 16-byte digest: what the audit keeps instead of the value.
fn digest(field: Field, value: &str) -> [u8; 16] {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(field.name().as_bytes());
    hasher.update([0]);
    hasher.update(value.as_bytes());
    let mut out = [0; 16];
    out.copy_from_slice(&hasher.finalize()[..16]);
    out
}

/// 1 January 2000 and 2100 in milliseconds: expiry times outside are implausible.
const YEAR_2000_MS: i128 = 946_684_800_000;
const YEAR_2100_MS: i128 = 4_102_444_800_000;

/// Which digests may have been seen before: a Bloom filter of 2^29 bits (64 MiB,
/// allocated zeroed, so the pages a small source never touches are never mapped). At
/// 40 million key values, one in about 400 is a false "maybe", which costs only a
/// place among the second pass's candidates.
struct MaybeSeen {
    words: Vec<u64>,
}

const FILTER_BITS: u64 = 1 << 29;
const FILTER_HASHES: u64 = 7;

impl MaybeSeen {
    fn new() -> Self {
        MaybeSeen {
            words: vec![0; (FILTER_BITS / 64) as usize],
        }
    }

    /// Adds the digest; whether it may have been added before.
    fn insert(&mut self, digest: &[u8; 16]) -> bool {
        let half = |at: usize| {
            let mut bytes = [0; 8];
            bytes.copy_from_slice(&digest[at..at + 8]);
            u64::from_le_bytes(bytes)
        };
        let (h1, h2) = (half(0), half(8) | 1);
        let mut seen = true;
        for i in 0..FILTER_HASHES {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) % FILTER_BITS;
            let (word, mask) = ((bit / 64) as usize, 1u64 << (bit % 64));
            seen &= self.words[word] & mask != 0;
            self.words[word] |= mask;
        }
        seen
    }
}

/// The rows holding one repeated (field, value): the field, the value's fingerprint.
type Holders = (Field, String, Vec<RowRef>);

struct Auditor {
    limits: Limits,
    rows: u64,
    maybe_seen: MaybeSeen,
    /// Digests the first pass may have seen twice.
    candidates: std::collections::HashSet<[u8; 16]>,
    /// The second pass: every row holding a candidate.
    holders: HashMap<[u8; 16], Holders>,
    findings: Vec<Finding>,
}

/// The fields no two rows may share a value of: the id and the keys.
pub(crate) const UNIQUE_FIELDS: [Field; 5] = [
    Field::Id,
    Field::UserName,
    Field::AccessToken,
    Field::GrantToken,
    Field::RefreshToken,
];

/// The row's id (when it has one) and its key values: what must not repeat.
fn unique_values(row: &RawRow) -> impl Iterator<Item = (Field, &str)> {
    UNIQUE_FIELDS
        .into_iter()
        .filter_map(|f| Some((f, row.values[f.index()].as_deref()?)))
        .filter(|(_, v)| !v.is_empty())
}

/// How findings and migrations name a row.
pub(crate) fn row_ref(row: &RawRow) -> RowRef {
    let id = row.values[Field::Id.index()]
        .as_deref()
        .filter(|id| !id.is_empty());
    RowRef {
        row: row.number,
        id: id.map(|id| id.chars().take(40).collect()),
    }
}

impl Auditor {
    fn new(limits: Limits) -> Self {
        Auditor {
            limits,
            rows: 0,
            maybe_seen: MaybeSeen::new(),
            candidates: Default::default(),
            holders: HashMap::new(),
            findings: Vec::new(),
        }
    }

    fn found(&mut self, kind: FindingKind, field: Option<Field>, at: &RowRef, detail: String) {
        self.findings.push(Finding {
            kind,
            field: field.map(Field::name),
            rows: vec![at.clone()],
            detail,
        });
    }

    /// The first pass: every check of the row on its own, and the filter.
    fn see(&mut self, row: &RawRow) {
        self.rows += 1;
        let at = row_ref(row);
        if let Some(why) = &row.malformed {
            self.found(FindingKind::MalformedRow, None, &at, why.clone());
        }
        if at.id.is_none() {
            let field = Some(Field::Id);
            self.found(FindingKind::MissingId, field, &at, String::new());
        }
        for (field, value) in unique_values(row) {
            let digest = digest(field, value);
            if self.maybe_seen.insert(&digest) {
                self.candidates.insert(digest);
            }
        }
        for field in Field::ALL {
            match row.values[field.index()].as_deref() {
                Some("") => {
                    let detail = "NULL is absent; \"\" is a value no lookup should match".into();
                    self.found(FindingKind::EmptyString, Some(field), &at, detail);
                }
                Some(v) => self.check_limit(field, v, &at),
                None => {}
            }
        }
        let token = Token::from_row(&row.values);
        if LookupKey::of(&token).is_none() {
            self.found(FindingKind::NoKey, None, &at, String::new());
        }
        if token.has(Field::ClientId) != token.has(Field::ClientSecret) {
            let has = if token.has(Field::ClientId) {
                "client_id"
            } else {
                "client_secret"
            };
            let detail = format!("only {has} is present");
            self.found(FindingKind::HalfCredentials, None, &at, detail);
        }
        if let Some(why) = token.get(Field::ExpiryTime).and_then(expiry_problem) {
            let field = Some(Field::ExpiryTime);
            self.found(FindingKind::MalformedExpiry, field, &at, why);
        }
    }

    /// The second pass: the rows of the values the first pass may have seen twice.
    fn recount(&mut self, row: &RawRow) {
        for (field, value) in unique_values(row) {
            let digest = digest(field, value);
            if self.candidates.contains(&digest) {
                let (_, _, rows) = self
                    .holders
                    .entry(digest)
                    .or_insert_with(|| (field, fingerprint(value), Vec::new()));
                rows.push(row_ref(row));
            }
        }
    }

    fn check_limit(&mut self, field: Field, value: &str, at: &RowRef) {
        let Some(limit) = self.limits.get(field) else {
            return;
        };
        let length = value.chars().count();
        if length > limit {
            let detail = format!("{length} characters, limit {limit}");
            self.found(FindingKind::OverLimit, Some(field), at, detail);
        }
    }

    fn report(mut self, source: String) -> AuditReport {
        for (_, (field, fingerprint, rows)) in self.holders.drain() {
            if rows.len() < 2 {
                continue;
            }
            let kind = match field {
                Field::Id => FindingKind::DuplicateId,
                _ => FindingKind::SharedKey,
            };
            self.findings.push(Finding {
                kind,
                field: Some(field.name()),
                detail: format!("{} rows hold one value (sha256 {fingerprint}…)", rows.len()),
                rows,
            });
        }
        let first_row = |f: &Finding| f.rows.first().map_or(0, |r| r.row);
        self.findings
            .sort_by(|a, b| (a.kind, first_row(a), a.field).cmp(&(b.kind, first_row(b), b.field)));
        AuditReport {
            schema: "tokenstore-audit/1",
            source,
            rows: self.rows,
            findings: self.findings,
        }
    }
}

/// Why an `expiry_time` is not a plausible time in milliseconds since 1970, if it is not.
fn expiry_problem(expiry: &str) -> Option<String> {
    let Ok(n) = expiry.trim().parse::<i128>() else {
        return Some(format!("not an integer ({})", secret_shown(expiry)));
    };
    if (YEAR_2000_MS / 1000..YEAR_2100_MS / 1000).contains(&n) {
        return Some("seconds since 1970, not milliseconds".into());
    }
    if n < YEAR_2000_MS {
        return Some("before the year 2000".into());
    }
    (n >= YEAR_2100_MS).then(|| "after the year 2100".into())
}

/// The report for people: a line per finding.
pub fn human(report: &AuditReport) -> String {
    let mut out = format!(
        "tokenstore audit: {}\n{} rows read\n\n",
        report.source, report.rows
    );
    for f in &report.findings {
        let field = f.field.map(|n| format!(", {n}")).unwrap_or_default();
        let rows: Vec<String> = f.rows.iter().map(RowRef::to_string).collect();
        out.push_str(&format!(
            "{}{field}: {}",
            f.kind.describe(),
            rows.join(", ")
        ));
        if !f.detail.is_empty() {
            out.push_str(&format!(" — {}", f.detail));
        }
        out.push('\n');
    }
    out.push_str(&summary(report));
    out
}

/// The report as a Markdown table.
pub fn markdown(report: &AuditReport) -> String {
    let mut out = format!(
        "## tokenstore audit: {}\n\n{} rows read.\n\n",
        report.source.replace('|', "\\|"),
        report.rows
    );
    if !report.findings.is_empty() {
        out.push_str("| finding | field | rows | detail |\n|---|---|---|---|\n");
        for f in &report.findings {
            let rows: Vec<String> = f.rows.iter().map(RowRef::to_string).collect();
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                f.kind.describe(),
                f.field.unwrap_or(""),
                rows.join(", ").replace('|', "\\|"),
                f.detail.replace('|', "\\|")
            ));
        }
        out.push('\n');
    }
    out.push_str(&summary(report));
    out
}

fn summary(report: &AuditReport) -> String {
    match report.findings.len() {
        0 => "clean: no row breaks the contract's data invariants\n".into(),
        n => format!("{n} findings\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(number: u64, pairs: &[(Field, &str)]) -> RawRow {
        let mut values: [Option<String>; 10] = Default::default();
        for (f, v) in pairs {
            values[f.index()] = Some((*v).to_owned());
        }
        RawRow {
            number,
            values,
            malformed: None,
        }
    }

    fn kinds(rows: Vec<RawRow>) -> Vec<(FindingKind, Option<&'static str>, Vec<u64>)> {
        let mut auditor = Auditor::new(Limits::sdk_schema());
        rows.iter().for_each(|r| auditor.see(r));
        rows.iter().for_each(|r| auditor.recount(r));
        let report = auditor.report("test".into());
        report
            .findings
            .into_iter()
            .map(|f| (f.kind, f.field, f.rows.iter().map(|r| r.row).collect()))
            .collect()
    }

    const GOOD: i128 = 1_900_000_000_000;

    #[test]
    fn a_clean_source_has_no_findings() {
        let expiry = GOOD.to_string();
        let rows = (1..=3)
            .map(|n| {
                let (id, user, rt) = (n.to_string(), format!("u{n}"), format!("rt{n}"));
                row(
                    n,
                    &[
                        (Field::Id, &id),
                        (Field::UserName, &user),
                        (Field::RefreshToken, &rt),
                        (Field::ExpiryTime, &expiry),
                    ],
                )
            })
            .collect();
        assert_eq!(kinds(rows), vec![]);
    }

    #[test]
    fn every_invariant_is_checked() {
        use FindingKind::*;
        let long = "x".repeat(256);
        #[rustfmt::skip]
        let rows = vec![
            row(1, &[(Field::Id, "1"), (Field::UserName, "u"), (Field::AccessToken, "a")]),
            row(2, &[(Field::Id, "1"), (Field::UserName, "u"), (Field::ClientId, "c")]),
            row(3, &[(Field::UserName, "v"), (Field::AccessToken, &long), (Field::ExpiryTime, "1700000000")]),
            row(4, &[(Field::Id, "4"), (Field::GrantToken, "g"), (Field::ApiDomain, "")]),
            row(5, &[(Field::Id, "5"), (Field::UserName, "w"), (Field::ExpiryTime, "soon")]),
        ];
        let found = kinds(rows);
        assert_eq!(
            found,
            vec![
                (DuplicateId, Some("id"), vec![1, 2]),
                (MissingId, Some("id"), vec![3]),
                (SharedKey, Some("user_name"), vec![1, 2]),
                (NoKey, None, vec![4]),
                (EmptyString, Some("api_domain"), vec![4]),
                (OverLimit, Some("access_token"), vec![3]),
                (MalformedExpiry, Some("expiry_time"), vec![3]),
                (MalformedExpiry, Some("expiry_time"), vec![5]),
                (HalfCredentials, None, vec![2]),
            ]
        );
    }

    #[test]
    fn the_filter_never_misses_a_repeat_and_rarely_cries_wolf() {
        let mut seen = MaybeSeen::new();
        let value = |n: u32| digest(Field::UserName, &n.to_string());
        let false_maybes = (0..100_000).filter(|n| seen.insert(&value(*n))).count();
        assert!(false_maybes < 10, "{false_maybes}");
        assert!((0..100_000).all(|n| seen.insert(&value(n))));
    }

    #[test]
    fn expiry_times_are_milliseconds_in_a_sensible_range() {
        assert_eq!(expiry_problem(&GOOD.to_string()), None);
        assert!(expiry_problem("1700000000").is_some_and(|w| w.contains("seconds")));
        assert!(expiry_problem("12").is_some_and(|w| w.contains("2000")));
        assert!(expiry_problem("99999999999999").is_some_and(|w| w.contains("2100")));
        let why = expiry_problem("1000.secret-looking").unwrap_or_default();
        assert!(!why.contains("secret-looking"), "{why}");
    }

    #[test]
    fn sources_are_named_as_documented() {
        assert!(matches!(
            AuditSource::parse("tokens.csv", None),
            Ok(AuditSource::Csv(_))
        ));
        assert!(matches!(
            AuditSource::parse("file:x", None),
            Ok(AuditSource::Csv(_))
        ));
        assert!(matches!(
            AuditSource::parse("t.db", Some("tok")),
            Ok(AuditSource::Sqlite { table, .. }) if table == "tok"
        ));
        assert!(matches!(
            AuditSource::parse("x.db", Some("a;b")),
            Err(AuditError::BadTable(_))
        ));
        let err = AuditSource::parse("ftp://u:pw-77@h/x", None)
            .map(|_| ())
            .unwrap_err();
        assert!(!err.to_string().contains("pw-77"), "{err}");
        let mysql = AuditSource::parse("mysql://u:pw-77@127.0.0.1:3306/db", None);
        let shown = mysql
            .map(|s| format!("{} {s:?}", s.location()))
            .unwrap_or_default();
        assert!(
            shown.contains("127.0.0.1") && !shown.contains("pw-77"),
            "{shown}"
        );
    }
}
