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
    let out = tokenstore(&["check", "cassandra"]);
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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn words_after_dashes_without_adapter_are_a_usage_error_not_a_check_of_sqlite() {
    for args in [
        &[
            "check",
            "--",
            "python",
            "-m",
            "tokenstore_adapter",
            "mod:Store",
        ][..],
        &["check", "memory", "--", "anything"][..],
    ] {
        let out = tokenstore(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(stderr(&out).contains("--adapter"), "{}", stderr(&out));
    }
    let both = tokenstore(&["check", "memory", "--adapter", "--", "python"]);
    assert_eq!(both.status.code(), Some(2));
}

#[test]
fn unknown_require_values_are_usage_errors() {
    let out = tokenstore(&["check", "memory", "--require", "nonsense"]);
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(env!("CARGO_BIN_EXE_tokenstore"))
        .args(["check", "memory"])
        .env("TOKENSTORE_REQUIRE", "mysql,bogus")
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bogus"), "{}", stderr(&out));
    let help = stdout(&tokenstore(&["check", "--help"]));
    for value in ["mysql", "python", "junit-xsd"] {
        assert!(help.contains(value), "{help}");
    }
}

#[test]
fn errors_name_every_store_form_and_every_mutant() {
    let err = stderr(&tokenstore(&["check", "nonsense"]));
    for form in [
        "file:DIR",
        "sqlite:DIR",
        "mysql://",
        "mutant:NAME",
        "--adapter",
        " mysql ",
    ] {
        assert!(err.contains(form), "{form} missing: {err}");
    }
    let out = tokenstore(&["check", "mutant:nonsense"]);
    assert_eq!(out.status.code(), Some(2));
    let listed = stdout(&tokenstore(&["mutants"]));
    for bug in tokenstore_stores::mutants::Bug::ALL {
        assert!(stderr(&out).contains(&bug.name()), "{}", stderr(&out));
        assert!(
            listed.contains(&bug.name()) && listed.contains(bug.clause()),
            "{listed}"
        );
    }
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokenstore"))
        .arg("clauses")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut first = String::new();
    let stdout = child.stdout.take().expect("piped");
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("a line");
    // The reader is gone now; the rest of the output meets a closed pipe.
    let out = child.wait_with_output().expect("it ends");
    assert!(first.starts_with("find."), "{first}");
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn the_closing_line_counts_every_clause() {
    let dir = tempfile::tempdir().expect("temp dir");
    let allow = dir.path().join("allow.txt");
    std::fs::write(&allow, "id.unique  known\n").expect("written");
    let out = tokenstore(&[
        "check",
        "mutant:TextMaxId",
        "--seed",
        "3",
        "--cases",
        "16",
        "--allow",
        allow.to_str().expect("utf-8"),
    ]);
    let text = stdout(&out);
    let last = text.lines().last().unwrap_or_default();
    let total: usize = last
        .split(", ")
        .filter_map(|part| part.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(total, tokenstore_harness::clauses::CLAUSES.len(), "{last}");
    assert!(last.contains("1 allowed"), "{last}");
}

#[test]
fn every_format_names_the_seed() {
    for format in ["human", "json", "junit", "markdown"] {
        let text = stdout(&tokenstore(&[
            "check", "memory", "--seed", "424242", "--cases", "4", "--format", format,
        ]));
        assert!(text.contains("424242"), "{format}: {text}");
    }
}

#[test]
fn a_matrix_fails_at_once_on_a_misspelled_store_and_skips_an_unreachable_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_dir = dir.path().join("m");
    let out = tokenstore(&[
        "matrix",
        "memory",
        "memroy",
        "--out",
        out_dir.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !out_dir.exists(),
        "nothing may run before every name is valid"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_tokenstore"))
        .args(["matrix", "memory", "mysql", "--cases", "4", "--seed", "9"])
        .arg("--out")
        .arg(&out_dir)
        .env_remove("TOKENSTORE_MYSQL_URL")
        .env_remove("TOKENSTORE_REQUIRE")
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let md = std::fs::read_to_string(out_dir.join("matrix.md")).expect("written");
    let row = md
        .lines()
        .find(|l| l.starts_with("| `find.miss`"))
        .expect("a row");
    assert!(row.contains("PASS") && row.contains("SKIP"), "{row}");
    let html = std::fs::read_to_string(out_dir.join("matrix.html")).expect("written");
    assert!(html.contains("seed 9"), "the matrix names its seed");
}

/// A scenario file of a user's own, in a fresh directory; `expect` is what the find of
/// alice must give back.
fn user_scenarios(expect: &str, clause: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let text = format!(
        "family = \"mine\"\ndescription = \"A user's own rule.\"\n\n[[scenario]]\n\
         name = \"alice-is-found\"\nclauses = [\"{clause}\"]\n\
         description = \"A saved user is found by name.\"\n\
         [[scenario.step]]\nsave = {{ user_name = \"alice@example.com\", access_token = \"1000.at-a\" }}\n\
         bind = \"alice\"\n\
         [[scenario.step]]\nfind = {{ user_name = \"alice@example.com\" }}\nexpect = {expect}\n"
    );
    std::fs::write(dir.path().join("mine.toml"), text).expect("the file is written");
    dir
}

const ALICE: &str =
    "{ id_ref = \"alice\", user_name = \"alice@example.com\", access_token = \"1000.at-a\" }";

#[test]
fn a_users_scenario_files_run_with_the_suite() {
    let passing = user_scenarios(ALICE, "find.by-user");
    let dir = passing.path().to_str().expect("a UTF-8 path");
    let out = tokenstore(&["check", "memory", "--format", "json", "--scenarios", dir]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("mine::alice-is-found"), "{text}");

    let failing = user_scenarios("\"none\"", "find.by-user");
    let dir = failing.path().to_str().expect("a UTF-8 path");
    let out = tokenstore(&["check", "memory", "--scenarios", dir]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("mine::alice-is-found"), "{text}");
}

#[test]
fn scenario_files_that_cannot_run_are_a_usage_error_naming_the_file() {
    let unknown = user_scenarios(ALICE, "find.by-mood");
    let dir = unknown.path().to_str().expect("a UTF-8 path");
    let out = tokenstore(&["check", "memory", "--scenarios", dir]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("find.by-mood"), "{err}");
    assert!(out.stdout.is_empty());

    let broken = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(
        broken.path().join("bad.toml"),
        "family = \"x\"\n[[scenario]\n",
    )
    .expect("the file is written");
    let dir = broken.path().to_str().expect("a UTF-8 path");
    let out = tokenstore(&["check", "memory", "--scenarios", dir]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("bad.toml") && err.contains("line 2"), "{err}");

    let empty = tempfile::tempdir().expect("a temporary directory");
    let dir = empty.path().to_str().expect("a UTF-8 path");
    let out = tokenstore(&["check", "memory", "--scenarios", dir]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no scenario files"));
}

/// A new scenario written as operations only (and one wrong expectation), then
/// `--update`: the model's answers become its expectations, the file keeps its comment,
/// and the check runs it and passes.
#[test]
fn update_writes_the_models_answers_into_a_scenario() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("mine.toml");
    let written = "family = \"mine\"\n\
        [[scenario]]\nname = \"two-users\"\nclauses = [\"find.by-user\"]\n\
        # my own rule\n\
        [[scenario.step]]\nsave = { user_name = \"a@example.com\", refresh_token = \"rt-a\" }\nbind = \"a\"\n\
        [[scenario.step]]\nsave = { user_name = \"nobody@example.com\" }\n\
        [[scenario.step]]\nfind = { user_name = \"a@example.com\" }\n\
        [[scenario.step]]\nfind_by_id = \"no-such-id\"\nexpect = { user_name = \"wrong\" }\n\
        [[scenario.step]]\nget_tokens = true\n";
    std::fs::write(&file, written).expect("the file is written");
    let path = dir.path().to_str().expect("a UTF-8 path");

    let out = tokenstore(&["check", "memory", "--scenarios", path]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "without --update it does not load"
    );

    let out = tokenstore(&[
        "check",
        "memory",
        "--format",
        "json",
        "--scenarios",
        path,
        "--update",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let updated = std::fs::read_to_string(&file).expect("the file is read");
    assert!(updated.contains("# my own rule"), "{updated}");
    let a = "{ id_ref = \"a\", user_name = \"a@example.com\", refresh_token = \"rt-a\" }";
    assert!(updated.contains(&format!("expect = {a}")), "{updated}");
    assert!(updated.contains("error = \"InvalidInput\""), "{updated}");
    assert!(updated.contains("expect = \"none\""), "{updated}");
    assert!(updated.contains(&format!("expect = [{a}]")), "{updated}");
    assert!(stdout(&out).contains("mine::two-users"));

    let out = tokenstore(&["check", "memory", "--scenarios", path]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the updated file loads and passes"
    );
}

/// A debug build measures stores several times slower: `bench` says so, and bench.json
/// records the profile.
#[test]
fn bench_names_the_build_profile() {
    let out_dir = tempfile::tempdir().expect("a temporary directory");
    let dir = out_dir.path().to_str().expect("a UTF-8 path");
    let out = tokenstore(&["bench", "--quick", "memory", "--out", dir]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let json = std::fs::read_to_string(out_dir.path().join("bench.json")).expect("bench.json");
    assert!(
        json.contains(&format!("\"profile\": \"{profile}\"")),
        "{json}"
    );
    assert_eq!(
        stderr(&out).contains("warning: a debug build"),
        cfg!(debug_assertions)
    );
}

/// The JSON report with every measured duration taken out.
fn verdicts(args: &[&str]) -> serde_json::Value {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.remove("duration_ms");
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let out = tokenstore(args);
    let mut report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    strip(&mut report);
    report
}

/// Cases run side by side and finish in any order; the report must not show it.
#[test]
fn the_same_seed_gives_the_same_report() {
    for store in ["sqlite", "mutant:TextMaxId", "mutant:FirstRowForNoKey"] {
        let args = ["check", store, "--seed", "7", "--format", "json"];
        let first = verdicts(&args);
        assert_eq!(first, verdicts(&args), "{store}");
    }
}
