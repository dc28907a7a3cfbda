//! The four report formats: snapshots of one report that has every status, so that a
//! change to any format shows in review (`cargo insta review`), and the JSON document
//! validated against the published schema, for that report and for a real run.

use std::time::Duration;

use tokenstore_harness::clauses::{CLAUSES, Clause};
use tokenstore_harness::report::{
    ClauseReport, Failure, RunReport, ScenarioReport, Status, StoreInfo,
};
use tokenstore_harness::{Capabilities, Limits, Model, Settings, Suite, factory, runtime};
use tokenstore_reports::{human, json, junit, markdown};

const SCHEMA: &str = include_str!("../schema/tokenstore-report-1.schema.json");

fn clause(id: &str) -> &'static Clause {
    CLAUSES
        .iter()
        .find(|c| c.id == id)
        .expect("a clause of the contract")
}

fn scenario(name: &str, status: Status, failure: Option<Failure>) -> ScenarioReport {
    ScenarioReport {
        name: name.to_owned(),
        status,
        reason: None,
        duration: Duration::from_millis(3),
        failure,
    }
}

fn clause_report(id: &str, status: Status, scenarios: Vec<ScenarioReport>) -> ClauseReport {
    let c = clause(id);
    ClauseReport {
        id: c.id,
        level: c.level,
        summary: c.summary,
        status,
        reason: None,
        allowed: None,
        blocked_by: Vec::new(),
        partial: None,
        scenarios,
    }
}

/// One clause of each status and verdict: pass, fail (with the clause it breaks), a
/// blocked clause, an allowed failure, a skip with its reason, a setup error.
fn sample() -> RunReport {
    let failure = Failure::new(
        vec![
            "save({user_name: \"alice@example.com\"})".into(),
            "find(…)".into(),
        ],
        "{id: \"1\", user_name: \"alice@example.com\"}",
        "None",
    )
    .breaking(&["find.exact"]);
    let mut blocked = clause_report(
        "find.by-user",
        Status::Blocked,
        vec![scenario("find::by-user", Status::Blocked, None)],
    );
    blocked.blocked_by = vec!["find.exact".into()];
    let mut allowed = clause_report(
        "id.no-reuse",
        Status::Fail,
        vec![scenario(
            "id::no-reuse",
            Status::Fail,
            Some(Failure::new(vec!["delete(\"1\")".into()], "id 2", "id 1")),
        )],
    );
    allowed.allowed = Some("known: ids are reused (ticket 12)".into());
    let mut skipped = clause_report("security.file-mode", Status::Skip, Vec::new());
    skipped.reason = Some("the store declares that it keeps no files".into());
    let mut setup = scenario("durability.reopen", Status::Error, None);
    setup.reason = Some("the store could not be opened: connection refused".into());
    let error = clause_report("durability.reopen", Status::Error, vec![setup]);
    RunReport {
        store: StoreInfo::new(
            "sample",
            "in memory",
            &Capabilities::default().limits(Limits::sdk_schema()),
        ),
        strict: false,
        seed: 7,
        cases: 128,
        clauses: vec![
            clause_report(
                "find.miss",
                Status::Pass,
                vec![scenario("find::miss", Status::Pass, None)],
            ),
            clause_report(
                "find.exact",
                Status::Fail,
                vec![scenario("find::exact-match", Status::Fail, Some(failure))],
            ),
            blocked,
            allowed,
            skipped,
            error,
        ],
    }
}

#[test]
fn human() {
    insta::assert_snapshot!(human::render(&sample()));
}

#[test]
fn json() {
    insta::assert_snapshot!(json::render(&sample()));
}

#[test]
fn junit() {
    insta::assert_snapshot!(junit::render(&[sample()]));
}

#[test]
fn markdown() {
    insta::assert_snapshot!(markdown::render(&sample()));
}

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value = serde_json::from_str(SCHEMA).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema is a JSON Schema")
}

fn assert_valid(document: &str) {
    let instance: serde_json::Value = serde_json::from_str(document).expect("the report is JSON");
    let validator = validator();
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "not a tokenstore-report/1: {errors:#?}");
}

#[test]
fn the_json_report_follows_its_schema() {
    assert_valid(&json::render(&sample()));
}

#[test]
fn a_real_run_follows_the_schema() {
    let settings = Settings {
        cases: 4,
        seed: 1,
        strict: false,
    };
    let store = factory(|| async { Ok::<_, String>(Model::new()) });
    let report = runtime()
        .block_on(Suite::embedded().run("model", "in memory", &store, settings, |_, _| {}))
        .expect("the model opens");
    assert_valid(&json::render(&report));
    let all: serde_json::Value =
        serde_json::from_str(&json::render_all(&[report])).expect("an array");
    for document in all.as_array().expect("an array") {
        assert_valid(&document.to_string());
    }
}

#[test]
fn the_schema_refuses_what_is_not_a_report() {
    let mut doc: serde_json::Value = serde_json::from_str(&json::render(&sample())).expect("JSON");
    doc["clauses"][0]["status"] = "passed".into();
    assert!(!validator().is_valid(&doc));
}
