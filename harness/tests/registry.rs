//! The clause registry and the scenario files agree.

use std::collections::BTreeSet;

use tokenstore_harness::Suite;
use tokenstore_harness::clauses::{CLAUSES, Coverage, clause};
use tokenstore_harness::internals::{Builtin, Case};

#[test]
fn every_scenario_names_registered_clauses() {
    for s in Suite::embedded().scenarios() {
        for id in &s.clauses {
            assert!(
                clause(id).is_some(),
                "{}: unknown clause {id}",
                s.full_name()
            );
        }
    }
}

#[test]
fn every_clause_is_checked_by_a_scenario_or_a_builtin_check() {
    let suite = Suite::embedded();
    let covered: BTreeSet<&str> = suite
        .scenarios()
        .flat_map(|s| s.clauses.iter().map(String::as_str))
        .collect();
    let builtin: BTreeSet<&str> = Builtin::ALL.iter().map(|b| b.clause()).collect();
    for c in CLAUSES {
        match c.coverage {
            Coverage::Scenarios => assert!(covered.contains(c.id), "{} has no scenario", c.id),
            Coverage::Builtin => assert!(builtin.contains(c.id), "{} has no built-in check", c.id),
        }
    }
    assert!(suite.cases().iter().any(|c| matches!(c, Case::Builtin(_))));
}

#[test]
fn clause_ids_are_unique() {
    let ids: BTreeSet<&str> = CLAUSES.iter().map(|c| c.id).collect();
    assert_eq!(ids.len(), CLAUSES.len());
}

#[test]
fn every_scenario_file_in_the_folder_is_embedded() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/files");
    let on_disk: BTreeSet<String> = std::fs::read_dir(dir)
        .expect("scenarios/files exists")
        .map(|e| {
            e.expect("readable entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".toml"))
        .collect();
    let embedded: BTreeSet<String> = tokenstore_scenarios::FILES
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(on_disk, embedded);
}

#[test]
fn the_injection_corpus_has_at_least_forty_strings() {
    let text = tokenstore_scenarios::FILES
        .iter()
        .find(|(n, _)| *n == "security.toml")
        .map(|(_, t)| *t)
        .expect("security.toml is embedded");
    let corpus = text.split("corpus = [").nth(1).expect("a corpus");
    let entries = corpus
        .split("\n]")
        .next()
        .expect("closed")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    assert!(entries >= 40, "{entries}");
}
