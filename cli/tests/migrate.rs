//! `tokenstore migrate`: a migration killed at random moments and run again ends with
//! every token present once; a second run changes nothing; conflicts stop it before it
//! writes; a dry run writes nothing.

use std::path::Path;

mod common;
use common::*;
use tokenstore_harness::{TokenStore, runtime};
use tokenstore_stores::SqliteStore;

fn rows(db: &Path) -> Vec<tokenstore_harness::Token> {
    runtime().block_on(async {
        let store = SqliteStore::open(db).expect("opens");
        let mut rows = store.get_tokens().await.expect("lists");
        rows.sort_by(|a, b| a.id().cmp(&b.id()));
        rows
    })
}

/// Enough tokens that the copy (in batches of 1 000) takes longer than the first kills.
const TOKENS: usize = 20_000;

#[test]
fn a_migration_killed_ten_times_and_run_again_has_every_token_once() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let src = source(dir.path(), TOKENS);
    let db = dir.path().join("dest.db");
    let dest = db.display().to_string();
    let count = || {
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
        let count = rusqlite::Connection::open_with_flags(&db, flags).and_then(|c| {
            c.query_row("SELECT count(*) FROM oauthtoken", [], |r| {
                r.get::<_, i64>(0)
            })
        });
        count.map_or(0, |n| n as usize)
    };
    let cut_short = kill_migrations(&["migrate", &src, &dest], TOKENS, 10, &count);
    assert!(
        cut_short > 0,
        "no kill landed while tokens were being written"
    );
    let done = tokenstore(&["migrate", &src, &dest]);
    assert_eq!(done.status.code(), Some(0), "{}", text(&done));
    let copied = format!("copied and verified: {TOKENS} tokens");
    assert!(text(&done).contains(&copied), "{}", text(&done));
    let copied = rows(&db);
    assert_eq!(copied.len(), TOKENS);
    let clean = tokenstore(&["audit", &dest]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));
    // A second run on a completed migration changes nothing.
    let again = tokenstore(&["migrate", &src, &dest]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(rows(&db), copied);
}

#[test]
fn conflicts_stop_it_before_it_writes_and_a_dry_run_writes_nothing() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("source.csv");
    let csv = format!(
        "{HEADER}1,u@x,,,1000.rt-SECRET-1,,,1000,,\n2,u@x,,,1000.rt-SECRET-2,,,2000,,\n3,,,,,,,,,\n"
    );
    std::fs::write(&path, csv).expect("writes");
    let src = path.display().to_string();
    let db = dir.path().join("dest.db");
    let dest = db.display().to_string();
    let out = tokenstore(&["migrate", &src, &dest]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("row 2 (id \"2\") shares user_name with row 1"),
        "{}",
        text(&out)
    );
    assert!(!db.exists(), "a refused migration created the destination");
    let out = tokenstore(&[
        "migrate",
        &src,
        &dest,
        "--on-duplicate",
        "newest",
        "--dry-run",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("left out: row 1 (id \"1\") (shares user_name with row 2"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("left out: row 3 (id \"3\") (no key"),
        "{}",
        text(&out)
    );
    assert!(!db.exists(), "a dry run created the destination");
    let out = tokenstore(&["migrate", &src, &dest, "--on-duplicate", "keep-first"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("SECRET"), "{}", text(&out));
    let kept = rows(&db);
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].id(), Some("1"));
    // A destination holding other tokens is refused.
    let other = dir.path().join("other.csv");
    std::fs::write(&other, format!("{HEADER}9,w@x,,,1000.rt9,,,1000,,\n")).expect("writes");
    let out = tokenstore(&["migrate", &other.display().to_string(), &dest]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not the source's"), "{}", text(&out));
}

#[test]
fn verify_checks_the_destinations_engine_and_leaves_the_copy_alone() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("source.csv");
    let csv = format!("{HEADER}1,u@x,cid,,1000.rt1,,,1000,,\n2,u@x,,,1000.rt2,,1000.gt2,,,\n");
    std::fs::write(&path, csv).expect("writes");
    let (src, db) = (path.display().to_string(), dir.path().join("dest.db"));
    let dest = db.display().to_string();
    let args = ["migrate", &src, &dest, "--on-duplicate", "keep-first"];
    let out = tokenstore(&[&args[..], &["--fill-from-dropped", "--verify"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("kept; filled its grant_token from it"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("PASS  save.key-unique"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains(", 0 failed"), "{}", text(&out));
    let kept = rows(&db);
    assert_eq!(kept.len(), 1, "the suite ran on other files: {kept:?}");
    assert_eq!(
        kept[0].get(tokenstore_harness::Field::GrantToken),
        Some("1000.gt2")
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("lists")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| !name.starts_with("dest.db") && name != "source.csv")
        .collect();
    assert!(leftovers.is_empty(), "the suite left {leftovers:?}");
}

#[test]
fn hostile_sources_give_an_error_or_a_listed_row_and_never_a_partial_copy() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("dest.db");
    let dest = db.display().to_string();
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("writes");
        path.display().to_string()
    };
    for (name, bytes) in [
        (
            "binary.csv",
            &b"\x00\xff\x13PK\x03\x04not,a\ntoken,file"[..],
        ),
        (
            "no-expiry.csv",
            &b"id,user_name,client_id,client_secret,refresh_token,access_token,grant_token\n"[..],
        ),
    ] {
        let out = tokenstore(&["migrate", &write(name, bytes), &dest]);
        assert_eq!(out.status.code(), Some(3), "{name}: {}", text(&out));
        assert!(
            text(&out).contains("not a token CSV file"),
            "{}",
            text(&out)
        );
        assert!(!db.exists(), "{name}: the destination was created");
    }
    let injection = "x'; DROP TABLE oauthtoken; --\"\\\u{0}";
    let quoted = format!("\"{}\"", injection.replace('"', "\"\""));
    let csv = format!(
        "{HEADER}1,u1@x,,,1000.rt1,,,1000,,\n2,u2@x,,,1000.rt2\n3,u3@x,,,1000.rt3,,,1000,,,extra\n\
         4,{quoted},{quoted},{quoted},{quoted},{quoted},{quoted},{quoted},{quoted},{quoted}\n"
    );
    let out = tokenstore(&["migrate", &write("damaged.csv", csv.as_bytes()), &dest]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    for line in [
        "left out: row 2 (id \"2\") (malformed: 5 fields where the header has 10)",
        "left out: row 3 (id \"3\") (malformed: 11 fields where the header has 10)",
        "1 rows do not fit the destination (nothing was written)",
        "expiry_time is 32 characters long",
    ] {
        assert!(text(&out).contains(line), "{}", text(&out));
    }
    assert!(
        !text(&out).contains("DROP"),
        "a value was shown: {}",
        text(&out)
    );
    assert!(rows(&db).is_empty(), "a refused migration wrote tokens");
    // Within the SQL stores' limits (expiry_time 20), copied byte for byte.
    let fitting = csv.replacen(
        &format!("{quoted},{quoted},{quoted}\n"),
        &format!("1000,{quoted},{quoted}\n"),
        1,
    );
    let out = tokenstore(&["migrate", &write("fitting.csv", fitting.as_bytes()), &dest]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let kept = rows(&db);
    let ids: Vec<_> = kept.iter().map(|t| t.id().unwrap_or_default()).collect();
    assert_eq!(ids, ["1", "4"]);
    for f in tokenstore_harness::Field::ALL.into_iter().skip(1) {
        let want = (f != tokenstore_harness::Field::ExpiryTime).then_some(injection);
        assert_eq!(kept[1].get(f), want.or(Some("1000")), "{f}");
    }
}

#[test]
fn into_the_file_store_in_batches_and_again_without_a_change() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let src = source(dir.path(), 1_100); // two batches
    let dest = dir.path().join("dest.csv");
    let args = ["migrate", &src, &dest.display().to_string()];
    let out = tokenstore(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let first = std::fs::read(&dest).expect("the destination file");
    let out = tokenstore(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        std::fs::read(&dest).expect("the file"),
        first,
        "a second run changed it"
    );
    let store = tokenstore_stores::FileStore::open(&dest).expect("opens");
    let rows = runtime().block_on(store.get_tokens()).expect("lists");
    assert_eq!(rows.len(), 1_100);
}
