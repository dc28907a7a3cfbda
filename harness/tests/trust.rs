//! Verdicts a user can trust: every report complete, nothing passed vacuously, no
//! check's work outliving it, failures under the clause that broke. Each test runs
//! the suite on a small store made to show one behaviour.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokenstore_harness::internals::{Builtin, Case};
use tokenstore_harness::report::{Exit, RunReport, Status, Verdict};
use tokenstore_harness::{
    Capabilities, Factory, Model, Settings, StoreError, Suite, Token, TokenStore, factory,
    fixtures, runtime,
};

const SETTINGS: Settings = Settings {
    cases: 16,
    seed: 5,
    strict: false,
};

/// The model, with a switch per behaviour under test.
#[derive(Default)]
struct Probe {
    model: Model,
    /// Saves fail from this many calls on (0: never).
    fail_saves_after: usize,
    saves: Arc<AtomicUsize>,
    durable: bool,
    /// find_token panics with this message.
    panic_on_find: Option<String>,
}

impl TokenStore for Probe {
    fn capabilities(&self) -> Capabilities {
        Capabilities::default().durable(self.durable)
    }

    fn files(&self) -> Vec<PathBuf> {
        Vec::new()
    }

    async fn find_token(&self, probe: &Token) -> Result<Option<Token>, StoreError> {
        if let Some(message) = &self.panic_on_find {
            panic!("{message}");
        }
        self.model.find_token(probe).await
    }

    async fn save_token(&self, token: &Token) -> Result<String, StoreError> {
        let n = self.saves.fetch_add(1, Ordering::SeqCst) + 1;
        if self.fail_saves_after > 0 && n > self.fail_saves_after {
            return Err(StoreError::Backend {
                message: "the disk is full".into(),
                source: None,
            });
        }
        self.model.save_token(token).await
    }

    async fn delete_token(&self, id: &str) -> Result<(), StoreError> {
        self.model.delete_token(id).await
    }

    async fn get_tokens(&self) -> Result<Vec<Token>, StoreError> {
        self.model.get_tokens().await
    }

    async fn delete_tokens(&self) -> Result<(), StoreError> {
        self.model.delete_tokens().await
    }

    async fn find_token_by_id(&self, id: &str) -> Result<Option<Token>, StoreError> {
        self.model.find_token_by_id(id).await
    }
}

fn run(f: &Factory, settings: Settings) -> RunReport {
    runtime()
        .block_on(Suite::embedded().run("probe", "", f, settings, |_, _| {}))
        .expect("the store opens")
}

fn clause<'r>(report: &'r RunReport, id: &str) -> &'r tokenstore_harness::report::ClauseReport {
    report
        .clauses
        .iter()
        .find(|c| c.id == id)
        .expect("a registered clause")
}

#[test]
fn a_failing_check_leaves_no_call_running() {
    let saves = Arc::new(AtomicUsize::new(0));
    let counted = saves.clone();
    let f = factory(move || {
        let saves = counted.clone();
        async move {
            Ok::<_, String>(Probe {
                fail_saves_after: 40,
                saves,
                ..Probe::default()
            })
        }
    });
    for check in [
        Builtin::Distinct,
        Builtin::SameUser,
        Builtin::ReadDuringWrite,
    ] {
        saves.store(0, Ordering::SeqCst);
        let outcome = runtime().block_on(Case::Builtin(check).run(&f, SETTINGS, "probe"));
        assert!(matches!(outcome, Ok(Err(_))), "{check:?} must fail");
        let at_return = saves.load(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            saves.load(Ordering::SeqCst),
            at_return,
            "{check:?}: calls went on after the check returned"
        );
    }
}

#[test]
fn a_fixture_that_cannot_be_set_up_is_an_error_of_its_own_and_the_run_goes_on() {
    let opened = Arc::new(AtomicUsize::new(0));
    let f = fixtures(move || {
        let n = opened.fetch_add(1, Ordering::SeqCst);
        async move {
            // The probe (call 0) and most checks open; every seventh does not.
            if n > 0 && n.is_multiple_of(7) {
                return Err("the constructor raised".to_owned());
            }
            Ok(tokenstore_harness::Fixture::new(Probe::default()))
        }
    });
    let report = run(&f, SETTINGS);
    let errors: Vec<_> = report
        .clauses
        .iter()
        .filter(|c| c.status == Status::Error)
        .collect();
    assert!(!errors.is_empty(), "no ERROR clause");
    assert!(errors.iter().all(|c| report.verdict(c) == Verdict::Error));
    assert!(
        report.counts().passed > 20,
        "the other checks must still run"
    );
    assert_eq!(report.exit(), Exit::Fail);
    assert_eq!(report.counts().total(), report.clauses.len());
    let line = report.counts().closing_line();
    assert!(
        line.contains(&format!("{} failed", report.counts().failed)),
        "{line}"
    );
}

#[test]
fn no_random_sequence_is_a_skip_with_its_reason_not_a_pass() {
    let f = factory(|| async { Ok::<_, String>(Probe::default()) });
    let report = run(
        &f,
        Settings {
            cases: 0,
            ..SETTINGS
        },
    );
    // The random sequences are skipped with the reason; the clause still has its
    // committed regression scenario, so it shows as only partly run.
    let c = clause(&report, "model.sequences");
    let builtin = c
        .scenarios
        .iter()
        .find(|s| s.name == "model.sequences")
        .expect("the random sequences");
    assert_eq!(builtin.status, Status::Skip);
    assert!(
        builtin
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("--cases 0"))
    );
    assert!(
        c.partial
            .as_deref()
            .is_some_and(|p| p.contains("--cases 0")),
        "{:?}",
        c.partial
    );
}

#[test]
fn a_durable_store_that_cannot_be_verified_fails_the_durability_clauses() {
    let f = factory(|| async {
        Ok::<_, String>(Probe {
            durable: true,
            ..Probe::default()
        })
    });
    let report = run(&f, SETTINGS);
    for id in [
        "durability.reopen",
        "durability.crash",
        "concurrency.multi-instance",
    ] {
        let c = clause(&report, id);
        assert_eq!(c.status, Status::Fail, "{id}");
        let actual = &c.scenarios[0].failure.as_ref().expect("a failure").actual;
        assert!(actual.contains("not verifiable"), "{id}: {actual}");
    }
}

#[test]
fn a_panic_keeps_its_steps_and_shows_no_secret() {
    // An access token that the by-access scenario saves before its first find.
    let secret = "1000.raw-access-2";
    let f = factory(move || async move {
        Ok::<_, String>(Probe {
            panic_on_find: Some(format!("cannot find {secret}")),
            ..Probe::default()
        })
    });
    let report = run(&f, SETTINGS);
    let c = clause(&report, "find.by-access");
    let failure = c.scenarios[0].failure.as_ref().expect("a failure");
    assert!(failure.actual.contains("panicked"), "{}", failure.actual);
    assert!(failure.steps.len() > 1, "{:?}", failure.steps);
    let shown = format!("{failure}");
    assert!(!shown.contains(secret), "{shown}");
}

#[test]
fn a_failure_under_another_clause_blocks_its_own_and_an_allowed_blocker_hides_nothing() {
    use tokenstore_harness::report::{Failure, ScenarioReport, StoreInfo};
    let failure = Failure::new(vec!["save(…)".to_owned()], "an update", "a new id")
        .breaking(&["save.update-by-key"]);
    let result = ScenarioReport {
        name: "save::keep-absent".to_owned(),
        status: Status::Fail,
        reason: None,
        duration: Duration::default(),
        failure: Some(failure),
    };
    let info = StoreInfo::new("probe", "", &Capabilities::default());
    let mut report = RunReport::from_results(
        info,
        false,
        &[(vec!["save.keep-absent".to_owned()], result)],
    );
    let blocked = clause(&report, "save.keep-absent");
    assert_eq!(blocked.status, Status::Blocked);
    assert_eq!(blocked.blocked_by, ["save.update-by-key"]);
    assert_eq!(clause(&report, "save.update-by-key").status, Status::Fail);
    assert_eq!(report.verdict(blocked), Verdict::Blocked);
    report.apply_allow(
        &tokenstore_harness::AllowList::parse("save.update-by-key  being fixed\n").expect("valid"),
    );
    assert_eq!(
        report.verdict(clause(&report, "save.keep-absent")),
        Verdict::Fail,
        "allowing the blocker must not hide the blocked clause"
    );
    assert_eq!(report.exit(), Exit::Fail);
}
