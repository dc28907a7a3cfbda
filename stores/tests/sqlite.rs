//! SQLite specifics the scenarios cannot see: files, modes, reopening, spec parsing.

use std::os::unix::fs::PermissionsExt;

use rstest::rstest;
use tokenstore_harness::{Field, Token, TokenStore, runtime};
use tokenstore_stores::{SqliteStore, StoreSpec};

fn token(user: &str) -> Token {
    Token::new()
        .with(Field::UserName, user)
        .with(Field::RefreshToken, &format!("rt-{user}"))
        .with(Field::ExpiryTime, "00123")
}

#[test]
fn a_reopened_file_keeps_its_tokens_and_its_id_sequence() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("t.db");
    let rt = runtime();
    let first = rt.block_on(async {
        let store = SqliteStore::open(&path).expect("opens");
        let id = store.save_token(&token("a")).await.expect("saves");
        store.delete_token(&id).await.expect("deletes");
        store.save_token(&token("b")).await.expect("saves")
    });
    let store = SqliteStore::open(&path).expect("reopens");
    let rows = rt.block_on(store.get_tokens()).expect("lists");
    assert_eq!(rows, vec![token("b").with(Field::Id, &first)]);
    let next = rt.block_on(store.save_token(&token("c"))).expect("saves");
    assert_ne!(next, "1", "a deleted id is not given again after a reopen");
}

/// A store on a new file, and another process's write transaction on that file, as
/// a raw connection holds it.
fn store_and_a_locked_file() -> (tempfile::TempDir, SqliteStore, rusqlite::Connection) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("t.db");
    let store = SqliteStore::open(&path).expect("opens");
    let other = rusqlite::Connection::open(&path).expect("opens");
    other
        .execute_batch("BEGIN IMMEDIATE")
        .expect("takes the lock");
    (dir, store, other)
}

#[test]
fn a_save_waits_for_another_writer_then_goes_through() {
    let (_dir, store, other) = store_and_a_locked_file();
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        other.execute_batch("COMMIT").expect("releases");
    });
    let id = runtime().block_on(store.save_token(&token("a")));
    release.join().expect("the other writer ends");
    assert!(id.is_ok(), "the save waits for the lock: {id:?}");
}

#[test]
fn a_save_gives_up_with_a_backend_error_when_the_lock_is_never_released() {
    let (_dir, store, _other) = store_and_a_locked_file();
    let started = std::time::Instant::now();
    let saved = runtime().block_on(store.save_token(&token("a")));
    // The driver's reason comes along: the save's batch failed as a whole.
    assert!(
        matches!(&saved, Err(tokenstore_harness::StoreError::Backend { message, .. })
            if message == "sqlite: begin a transaction: database is locked"),
        "{saved:?}"
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(10),
        "it waited the busy timeout first"
    );
}

#[test]
fn files_are_created_owner_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path().join("t.db")).expect("opens");
    runtime()
        .block_on(store.save_token(&token("a")))
        .expect("saves");
    let files = store.files();
    assert!(files.len() >= 2, "the database and its WAL: {files:?}");
    for f in files {
        let mode = std::fs::metadata(&f).expect("exists").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", f.display());
    }
}

#[test]
fn a_temporary_store_removes_its_directory() {
    let parent = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::temporary_in(parent.path()).expect("opens");
    assert_eq!(std::fs::read_dir(parent.path()).expect("lists").count(), 1);
    drop(store);
    assert_eq!(std::fs::read_dir(parent.path()).expect("lists").count(), 0);
}

#[test]
fn nul_and_four_byte_characters_round_trip() {
    let store = SqliteStore::in_memory().expect("opens");
    let t = token("nul\0🙂 ");
    let id = runtime().block_on(store.save_token(&t)).expect("saves");
    let back = runtime()
        .block_on(store.find_token_by_id(&id))
        .expect("finds");
    assert_eq!(back, Some(t.with(Field::Id, &id)));
}

#[rstest]
#[case("memory", StoreSpec::Memory)]
#[case("list", StoreSpec::List)]
#[case("sqlite", StoreSpec::SqliteFile { dir: None })]
#[case("sqlite::memory:", StoreSpec::SqliteMemory)]
#[case("sqlite:/var/tmp", StoreSpec::SqliteFile { dir: Some("/var/tmp".into()) })]
fn store_specs_parse(#[case] text: &str, #[case] spec: StoreSpec) {
    assert_eq!(text.parse::<StoreSpec>(), Ok(spec));
}

#[rstest]
#[case("")]
#[case("sqlite:")]
#[case("mysql")]
#[case("Memory")]
fn unknown_specs_are_refused(#[case] text: &str) {
    assert!(text.parse::<StoreSpec>().is_err());
}
