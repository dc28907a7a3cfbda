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
