//! Reports and gates: formats, exit codes, the allow-list and its staleness, and no
//! secret in any report. Failing stores are the selftest's mutants (`mutant:NAME`).

use std::path::Path;
use std::process::{Command, Output};

fn tokenstore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tokenstore"))
        .args(args)
        .args(["--cases", "16", "--seed", "3"])
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn allow_file(dir: &Path, text: &str) -> String {
    let path = dir.join("allow.txt");
    std::fs::write(&path, text).expect("writable");
    path.display().to_string()
}

#[test]
fn a_failing_store_exits_1_and_json_says_why() {
    let out = tokenstore(&["check", "mutant:RefreshBeforeGrant", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(doc["schema"], "tokenstore-report/1");
    assert_eq!(doc["summary"]["exit_code"], 1);
    let clause = doc["clauses"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["id"] == "find.precedence"))
        .expect("the clause is reported");
    assert_eq!(clause["status"], "fail");
    assert!(clause["scenarios"][0]["failure"]["expected"].is_string());
}

#[test]
fn an_allowed_failure_passes_the_gate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let allow = allow_file(
        dir.path(),
        "# known\nfind.precedence  grant/refresh order is being fixed\n",
    );
    let out = tokenstore(&["check", "mutant:RefreshBeforeGrant", "--allow", &allow]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("ALLOW find.precedence"), "{text}");
    assert!(
        text.contains("allowed: grant/refresh order is being fixed"),
        "{text}"
    );
}

#[test]
fn an_allowed_clause_that_passes_fails_the_gate() {
    let dir = tempfile::tempdir().expect("temp dir");
    let allow = allow_file(
        dir.path(),
        "find.precedence  being fixed\nfind.miss  this one passes\n",
    );
    let out = tokenstore(&["check", "mutant:RefreshBeforeGrant", "--allow", &allow]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("STALE find.miss"), "{text}");
    assert!(text.contains("remove it from the allow-list"), "{text}");
}

#[test]
fn a_bad_allow_list_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    for text in ["find.mis  typo\n", "find.miss\n"] {
        let allow = allow_file(dir.path(), text);
        let out = tokenstore(&["check", "memory", "--allow", &allow]);
        assert_eq!(out.status.code(), Some(2), "{text}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn report_dir_writes_all_four_formats_and_stdout_has_only_the_report() {
    let dir = tempfile::tempdir().expect("temp dir");
    let reports = dir.path().join("reports");
    let out = tokenstore(&[
        "check",
        "list",
        "--format",
        "junit",
        "--report-dir",
        reports.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).starts_with("<?xml"),
        "stdout is the JUnit report only"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("seed 3"),
        "notes go to stderr"
    );
    for name in ["report.txt", "report.json", "junit.xml", "report.md"] {
        let text = std::fs::read_to_string(reports.join(name)).expect(name);
        assert!(text.contains("find.miss"), "{name}");
    }
}

#[test]
fn skips_carry_their_reason_in_junit() {
    let out = tokenstore(&["check", "memory", "--format", "junit"]);
    let xml = stdout(&out);
    assert!(
        xml.contains("<skipped message=\"the store declares that it is not durable\""),
        "{xml}"
    );
}

/// Every secret value of the scenario files long enough to be told apart from
/// ordinary text. (regression.toml holds values that model.sequences generates, which
/// its replays show on purpose.)
fn scenario_secrets() -> Vec<String> {
    let mut secrets = Vec::new();
    for (file, text) in tokenstore_scenarios::FILES
        .iter()
        .filter(|(f, _)| *f != "regression.toml")
    {
        let doc: toml::Value = toml::from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"));
        collect(&doc, &mut secrets);
    }
    secrets.sort();
    secrets.dedup();
    secrets
}

fn collect(v: &toml::Value, out: &mut Vec<String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let secret = [
                    "client_secret",
                    "refresh_token",
                    "access_token",
                    "grant_token",
                ]
                .contains(&k.as_str());
                match v {
                    toml::Value::String(s) if secret && s.chars().count() >= 8 => {
                        out.push(s.clone())
                    }
                    other => collect(other, out),
                }
            }
        }
        toml::Value::Array(a) => a.iter().for_each(|v| collect(v, out)),
        _ => {}
    }
}

#[test]
fn no_report_format_contains_a_secret() {
    let secrets = scenario_secrets();
    assert!(
        secrets.iter().any(|s| s == "SECRET-rt-0a0a0a0a"),
        "the leak scenario's secrets are collected"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    // A store that leaks secrets into its errors, and one that fails everywhere.
    for store in [
        "mutant:SecretInErrors",
        "mutant:FindDoesNotMerge",
        "mutant:TornWrites",
    ] {
        let reports = dir.path().join(store.replace(':', "-"));
        let out = tokenstore(&[
            "check",
            store,
            "--report-dir",
            reports.to_str().expect("utf-8"),
        ]);
        assert_eq!(out.status.code(), Some(1), "{store} fails");
        for name in ["report.txt", "report.json", "junit.xml", "report.md"] {
            let text = std::fs::read_to_string(reports.join(name)).expect(name);
            for s in &secrets {
                assert!(
                    !text.contains(s.as_str()),
                    "{store}: {name} contains a secret ({} chars)",
                    s.len()
                );
            }
        }
        if store == "mutant:SecretInErrors" {
            let text = std::fs::read_to_string(reports.join("report.txt")).expect("report.txt");
            assert!(
                text.contains("[REDACTED]"),
                "the leaked secret is shown redacted:\n{text}"
            );
        }
        let all = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
        for s in &secrets {
            assert!(
                !all.contains(s.as_str()),
                "{store}: the output contains a secret"
            );
        }
    }
}

#[test]
fn markdown_stays_under_the_step_summary_limit() {
    let out = tokenstore(&["check", "mutant:FirstRowForNoKey", "--format", "markdown"]);
    let md = stdout(&out);
    assert!(md.len() < 1024 * 1024, "{} bytes", md.len());
    assert!(
        md.starts_with("### Token-store conformance: ❌ failed"),
        "{md}"
    );
    assert!(md.contains("<details>"));
}

#[test]
fn the_matrix_writes_html_and_markdown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_tokenstore"))
        .args([
            "matrix",
            "memory",
            "mutant:DeleteByPrefix",
            "--cases",
            "8",
            "--out",
        ])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "one store fails");
    let html = std::fs::read_to_string(dir.path().join("matrix.html")).expect("html");
    assert!(!html.contains("<script"), "no JavaScript");
    assert!(
        html.contains("<details><summary>FAIL</summary>"),
        "failure detail one click away"
    );
    let md = std::fs::read_to_string(dir.path().join("matrix.md")).expect("md");
    assert!(
        md.contains("| `delete.isolation` | MUST | PASS | FAIL |"),
        "{md}"
    );
}

fn check_store(dir: &Path, store: &str) -> (Option<i32>, String) {
    let summary = dir.join("summary.md");
    let out = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../ci/check-store.sh"))
        .args([store, "--cases", "8"])
        .env("TOKENSTORE", env!("CARGO_BIN_EXE_tokenstore"))
        .env("REPORT_DIR", dir.join("reports"))
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .expect("bash runs");
    (
        out.status.code(),
        std::fs::read_to_string(summary).unwrap_or_default(),
    )
}

#[test]
fn the_ci_script_gates_and_writes_the_reports_and_the_step_summary() {
    let pass = tempfile::tempdir().expect("temp dir");
    let (code, summary) = check_store(pass.path(), "list");
    assert_eq!(code, Some(0));
    assert!(summary.contains("✅ passed"), "{summary}");
    assert!(pass.path().join("reports/junit.xml").exists());

    let fail = tempfile::tempdir().expect("temp dir");
    let (code, summary) = check_store(fail.path(), "mutant:DeleteAllDoesNothing");
    assert_eq!(code, Some(1));
    assert!(summary.contains("❌ failed"), "{summary}");
    assert!(summary.contains("all.delete"), "{summary}");
}
