//! `tokenstore audit`: every finding kind, read-only, no value in any output, clear errors
//! for hostile and broken sources, clean data from the reference stores.

use std::path::Path;
use std::process::Output;

mod common;
use common::*;
use tokenstore_harness::{Field, Token, TokenStore, runtime};
use tokenstore_stores::{FileStore, SqliteStore};

const COLUMNS: &str = "id, user_name, client_id, client_secret, refresh_token, access_token, \
     grant_token, expiry_time, redirect_url, api_domain";

/// A SQLite table with the SDK's columns and no constraint, as custom stores often have.
fn sqlite_table(path: &Path, rows: &[[Option<&str>; 10]]) {
    let conn = rusqlite::Connection::open(path).expect("opens");
    let columns = COLUMNS.replace(", ", " TEXT, ") + " TEXT";
    conn.execute(&format!("CREATE TABLE oauthtoken ({columns})"), [])
        .expect("creates");
    for row in rows {
        conn.execute(
            &format!("INSERT INTO oauthtoken ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
            rusqlite::params_from_iter(row.iter()),
        )
        .expect("inserts");
    }
}

const GOOD: Option<&str> = Some("1900000000000");

#[test]
fn every_finding_kind_is_reported_without_a_value_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("custom.db");
    let long = "SECRET-long-".repeat(30);
    #[rustfmt::skip]
    let rows = [
        // id, user name, client id, secret, refresh, access, grant, expiry, redirect, domain
        [Some("1"), Some("a@x"), None, None, Some("SECRET-rt-1"), None, None, GOOD, None, None],
        [Some("1"), Some("b@x"), Some("cid"), None, Some("SECRET-rt-1"), None, None, GOOD, None, None],
        [None, Some("c@x"), None, None, Some("SECRET-rt-3"), Some(long.as_str()), None, Some("1700000000"), None, Some("")],
        [Some("4"), None, None, None, None, None, Some("SECRET-grant"), Some("SECRET-exp"), None, None],
    ];
    sqlite_table(&db, &rows);
    let before = std::fs::read(&db).expect("reads");
    let path = db.to_string_lossy();
    let out = tokenstore(&["audit", &path, "--sdk-limits", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["schema"], "tokenstore-audit/1");
    let schema: serde_json::Value = serde_json::from_str(include_str!(
        "../../reports/schema/tokenstore-audit-1.schema.json"
    ))
    .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("a JSON Schema");
    let errors: Vec<String> = validator
        .iter_errors(&report)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}\n{report:#}");
    assert_eq!(report["rows"], 4);
    let mut kinds: Vec<String> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["kind"].as_str().unwrap_or_default().to_owned())
        .collect();
    kinds.dedup();
    let expected = [
        "duplicate-id",
        "missing-id",
        "shared-key",
        "no-key",
        "empty-string",
        "over-limit",
        "malformed-expiry",
        "half-credentials",
    ];
    assert_eq!(kinds, expected, "{report:#}");
    for format in ["human", "json", "markdown"] {
        let out = tokenstore(&["audit", &path, "--sdk-limits", "--format", format]);
        let all = text(&out);
        assert!(!all.contains("SECRET"), "{format} shows a value:\n{all}");
        if format != "json" {
            assert!(all.contains("row 2 (id \"1\")"), "{format}:\n{all}");
        }
    }
    assert_eq!(std::fs::read(&db).ok(), Some(before), "the audit wrote");
}

#[test]
fn what_the_reference_stores_leave_is_clean() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (db, csv) = (dir.path().join("tokens.db"), dir.path().join("tokens.csv"));
    runtime().block_on(async {
        let sqlite = SqliteStore::open(&db).expect("opens");
        let file = FileStore::open(&csv).expect("opens");
        for n in 0..20 {
            let t = Token::new()
                .with(Field::UserName, &format!("user{n}@example.com"))
                .with(Field::RefreshToken, &format!("1000.rt{n}"))
                .with(Field::ExpiryTime, "1900000000000");
            sqlite.save_token(&t).await.expect("saves");
            file.save_token(&t).await.expect("saves");
        }
    });
    for source in [db, csv] {
        let out = tokenstore(&["audit", &source.to_string_lossy()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert!(text(&out).contains("20 rows read"), "{}", text(&out));
        assert!(text(&out).contains("clean"), "{}", text(&out));
    }
}

fn audit_file(name: &str, content: &[u8]) -> Output {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join(name);
    std::fs::write(&path, content).expect("writes");
    let out = tokenstore(&["audit", &format!("file:{}", path.display())]);
    assert_eq!(
        std::fs::read(&path).ok().as_deref(),
        Some(content),
        "the audit wrote"
    );
    out
}

#[test]
fn broken_and_hostile_files_give_a_finding_or_a_clear_error() {
    let good = "1,u@x,,,SECRET-rt,,,1900000000000,,\n";
    // A line cut short and a line with a column too many: findings naming the row.
    let cut = format!("{HEADER}{good}2,v@x,,,SECRET-rt2\n");
    let out = audit_file("cut.csv", cut.as_bytes());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("row 2 (id \"2\")") && text(&out).contains("5 fields"),
        "{}",
        text(&out)
    );
    let extra = format!("{HEADER}{good}2,v@x,,,SECRET-rt2,,,1900000000000,,,extra\n");
    let out = audit_file("extra.csv", extra.as_bytes());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("11 fields"), "{}", text(&out));
    // Not a token file at all: exit 3 with the reason.
    for (name, content) in [
        ("binary.csv", vec![0u8, 159, 146, 150, 255, 10, 1, 2]),
        ("other.csv", b"name,email\nx,y\n".to_vec()),
        ("empty.csv", Vec::new()),
    ] {
        let out = audit_file(name, &content);
        assert_eq!(out.status.code(), Some(3), "{name}: {}", text(&out));
        assert!(
            text(&out).contains("not a token CSV file"),
            "{name}: {}",
            text(&out)
        );
    }
    // Injection strings in every field are data like any other; only the id (not a
    // secret) is ever shown, escaped.
    let evil = "SECRET'; DROP TABLE oauthtoken; --\"\"<script>";
    let mut row: Vec<String> = (0..10).map(|i| format!("\"{evil}{i}\"")).collect();
    row[0] = "\"id'; DROP TABLE oauthtoken; --\"".into();
    let out = audit_file(
        "evil.csv",
        format!("{HEADER}{}\n", row.join(",")).as_bytes(),
    );
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
    assert!(!text(&out).contains("SECRET"), "{}", text(&out));
}

#[test]
fn usage_and_unreadable_sources_have_their_exit_codes() {
    let out = tokenstore(&["audit", "tokens.txt"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = tokenstore(&["audit", "x.db", "--table", "t; DROP TABLE t"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = tokenstore(&["audit", "/nonexistent/tokens.csv"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    // A database without the table, or a table without the SDK's columns.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&db).expect("opens");
    conn.execute("CREATE TABLE oauthtoken (id TEXT, user_name TEXT)", [])
        .expect("creates");
    drop(conn);
    let out = tokenstore(&["audit", &db.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("client_id"), "{}", text(&out));
    let out = tokenstore(&["audit", &db.to_string_lossy(), "--table", "absent"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    // A server that does not answer: the password is never shown.
    let out = tokenstore(&["audit", "mysql://u:pw-5521@127.0.0.1:9/db"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(!text(&out).contains("pw-5521"), "{}", text(&out));
}
