//! JUnit XML: one `testsuite` per store, one `testcase` per (clause, scenario), skips
//! with their reason (nextest's own JUnit drops them), failures with the detail.

use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, Writer};
use tokenstore_harness::report::{ClauseReport, RunReport, ScenarioReport, Status, Verdict};

/// Renders one or more store reports as one JUnit document.
pub fn render(reports: &[RunReport]) -> String {
    let mut junit = Report::new("tokenstore");
    for report in reports {
        let mut suite = TestSuite::new(report.store.name.as_str());
        suite.add_property(Property::new("seed", report.seed.to_string()));
        suite.add_property(Property::new("cases", report.cases.to_string()));
        for c in &report.clauses {
            let verdict = report.verdict(c);
            if c.scenarios.is_empty() {
                suite.add_test_case(case(report, c, verdict, None));
            }
            for s in &c.scenarios {
                suite.add_test_case(case(report, c, verdict, Some(s)));
            }
        }
        junit.add_test_suite(suite);
    }
    let xml = junit.to_string().map_err(|e| e.to_string());
    match xml.and_then(|xml| without_testsuites_skipped(&xml).map_err(|e| e.to_string())) {
        Ok(xml) => xml,
        Err(e) => format!("<!-- the JUnit report could not be written: {e} -->"),
    }
}

/// The Jenkins JUnit schema (junit-10.xsd), which GitLab and the GitHub report actions
/// follow, allows `skipped` on `<testsuite>` but not on `<testsuites>`; quick-junit
/// writes it on both. The document is read and written again as XML events, without
/// that one attribute; the per-suite counts and the `<skipped>` elements remain.
fn without_testsuites_skipped(xml: &str) -> Result<String, quick_xml::Error> {
    let mut reader = Reader::from_str(xml);
    let mut writer = Writer::new(Vec::new());
    loop {
        match reader.read_event()? {
            Event::Eof => break,
            Event::Start(tag) if tag.name().as_ref() == b"testsuites" => {
                let mut kept = BytesStart::new("testsuites");
                for attribute in tag.attributes() {
                    let attribute = attribute.map_err(quick_xml::Error::from)?;
                    if attribute.key.as_ref() != b"skipped" {
                        kept.push_attribute(attribute);
                    }
                }
                writer.write_event(Event::Start(kept))?;
            }
            event => writer.write_event(event)?,
        }
    }
    Ok(String::from_utf8_lossy(&writer.into_inner()).into_owned())
}

fn case(
    report: &RunReport,
    c: &ClauseReport,
    verdict: Verdict,
    s: Option<&ScenarioReport>,
) -> TestCase {
    let status = s.map_or(c.status, |s| s.status);
    let reason = s
        .and_then(|s| s.reason.clone())
        .or_else(|| c.reason.clone());
    let tc_status = match (status, verdict) {
        (Status::Skip, _) => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(reason.unwrap_or_default());
            st
        }
        (Status::Error, Verdict::Error) => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Error);
            st.set_message(reason.unwrap_or_default()).set_type("setup");
            st
        }
        (Status::Blocked, Verdict::Blocked) => {
            let mut st = TestCaseStatus::skipped();
            st.set_message(reason.unwrap_or_default());
            st
        }
        (Status::Fail | Status::Blocked, Verdict::Fail) => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let detail = s.and_then(|s| s.failure.as_ref()).map(|f| f.to_string());
            let message = s.and_then(|s| s.failure.as_ref()).map_or_else(
                || reason.clone().unwrap_or_default(),
                |f| format!("expected {}; actual {}", f.expected, f.actual),
            );
            st.set_message(message).set_type(c.id);
            st.set_description(detail.or(reason).unwrap_or_default());
            st
        }
        (_, Verdict::Stale) => {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message("on the allow-list but passing: remove it from the list")
                .set_type("stale-allow");
            st
        }
        _ => TestCaseStatus::success(),
    };
    let name = match s {
        Some(s) => format!("{} {}", c.id, s.name),
        None => c.id.to_owned(),
    };
    let mut tc = TestCase::new(name, tc_status);
    tc.set_classname(format!("tokenstore.{}", report.store.name));
    if let Some(s) = s {
        tc.set_time(s.duration);
    }
    match (verdict, &c.allowed) {
        (Verdict::Warn, _) => {
            tc.set_system_out(format!(
                "warning: the SHOULD clause {} failed (--strict makes it fail the run)",
                c.id
            ));
        }
        (Verdict::Allowed, Some(why)) => {
            tc.set_system_out(format!("known failure, allowed: {why}"));
        }
        _ => {}
    }
    tc
}
