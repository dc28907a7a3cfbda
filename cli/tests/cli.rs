//! The `tokenstore` binary: reports, exit codes, usage errors.

use std::process::{Command, Output};

fn tokenstore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tokenstore"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn check_memory_passes_every_applicable_clause() {
    let out = tokenstore(&["check", "memory"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.lines()
            .last()
            .is_some_and(|l| l.contains(" passed, 0 failed, ")),
        "{text}"
    );
    assert!(text.contains("SKIP  security.file-mode"), "{text}");
    assert!(
        text.contains("the store declares that it keeps no files"),
        "{text}"
    );
}

#[test]
fn check_defaults_to_sqlite_and_lists_every_clause() {
    let out = tokenstore(&["check"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.starts_with("tokenstore check: sqlite"), "{text}");
    for c in tokenstore_harness::clauses::CLAUSES {
        assert!(
            text.contains(&format!(" {} ", c.id)),
            "{} missing:\n{text}",
            c.id
        );
    }
    assert!(text.contains("PASS  security.file-mode"), "{text}");
    assert!(text.contains("PASS  value.limit"), "{text}");
}

#[test]
fn an_unknown_store_is_a_usage_error() {
    let out = tokenstore(&["check", "postgres"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown store"));
    assert!(out.stdout.is_empty());
}

#[test]
fn an_unusable_sqlite_directory_is_a_setup_error() {
    let out = tokenstore(&["check", "sqlite:/nonexistent/dir"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("could not open the store"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn clauses_lists_ids_levels_and_summaries() {
    let out = tokenstore(&["clauses"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert_eq!(
        text.lines().count(),
        tokenstore_harness::clauses::CLAUSES.len()
    );
    assert!(text.contains("id.no-reuse"));
    assert!(text.contains("SHOULD"));
}

#[test]
fn every_command_has_help() {
    for args in [
        &["--help"][..],
        &["check", "--help"],
        &["clauses", "--help"],
    ] {
        let out = tokenstore(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(stdout(&out).contains("Usage"), "{args:?}");
    }
}

fn tokenstore_without_mysql(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tokenstore"))
        .args(args)
        .env_remove("TOKENSTORE_MYSQL_URL")
        .env_remove("TOKENSTORE_REQUIRE")
        .output()
        .expect("the binary runs")
}

fn all_output(o: &Output) -> String {
    format!("{}{}", stdout(o), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn an_unreachable_mysql_server_is_a_setup_error_that_hides_the_password() {
    let out = tokenstore(&["check", "mysql://user:pw-4f2a9c@127.0.0.1:1/db"]);
    assert_eq!(out.status.code(), Some(3));
    let text = all_output(&out);
    assert!(!text.contains("pw-4f2a9c"), "{text}");
    assert!(text.contains("could not open the store"), "{text}");
}

#[test]
fn an_invalid_mysql_url_is_a_usage_error_that_hides_the_password() {
    let out = tokenstore(&[
        "check",
        "mysql://user:pw-4f2a9c@127.0.0.1:3306/db?no_such_option=1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let text = all_output(&out);
    assert!(!text.contains("pw-4f2a9c"), "{text}");
    assert!(text.contains("not valid"), "{text}");
}

#[test]
fn plain_mysql_without_a_server_is_skipped_unless_required() {
    let skipped = tokenstore_without_mysql(&["check", "mysql"]);
    assert_eq!(skipped.status.code(), Some(4), "{}", all_output(&skipped));
    assert!(all_output(&skipped).contains("TOKENSTORE_MYSQL_URL is not set"));

    let required = tokenstore_without_mysql(&["check", "mysql", "--require", "mysql"]);
    assert_eq!(required.status.code(), Some(3), "{}", all_output(&required));
    assert!(all_output(&required).contains("required"));
}
