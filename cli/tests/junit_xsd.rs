//! The JUnit report validates against the Jenkins xunit-plugin JUnit schema
//! (`junit-10.xsd`) with xmllint. The schema files are named by TOKENSTORE_JUNIT_XSD
//! (paths separated by `:`); without them, or without xmllint, the test is listed as
//! ignored with the reason — or fails when TOKENSTORE_REQUIRE names `junit-xsd`.
//! `.ci/run` fetches the schema from a package registry and requires it.

use std::process::{Command, ExitCode};

use tokenstore_harness::libtest_mimic::{Arguments, Completion, Failed, Trial, run};

const XSD_VAR: &str = "TOKENSTORE_JUNIT_XSD";

fn junit(store: &str, extra: &[&str]) -> Result<String, Failed> {
    let out = Command::new(env!("CARGO_BIN_EXE_tokenstore"))
        .args([
            "check", store, "--format", "junit", "--cases", "16", "--seed", "5",
        ])
        .args(extra)
        .output()
        .map_err(|e| Failed::from(e.to_string()))?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn validate(xsds: &[String]) -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
    let allow = dir.path().join("allow.txt");
    std::fs::write(&allow, "id.no-reuse  ids are reused for now\n")
        .map_err(|e| Failed::from(e.to_string()))?;
    let allow = allow.to_string_lossy().into_owned();
    // Passes with skips; failures of every kind; an allowed failure; a stale entry.
    let reports = [
        ("memory", junit("memory", &[])?),
        ("failing", junit("mutant:FindDoesNotMerge", &[])?),
        ("allowed", junit("mutant:ReusesIds", &["--allow", &allow])?),
        ("stale", junit("list", &["--allow", &allow])?),
    ];
    for (name, xml) in reports {
        let path = dir.path().join(format!("{name}.xml"));
        std::fs::write(&path, &xml).map_err(|e| Failed::from(e.to_string()))?;
        for xsd in xsds {
            let out = Command::new("xmllint")
                .args(["--noout", "--schema", xsd])
                .arg(&path)
                .output()
                .map_err(|e| Failed::from(e.to_string()))?;
            if !out.status.success() {
                return Err(format!(
                    "{name} does not validate against {xsd}:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                )
                .into());
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let xsds: Vec<String> = std::env::var(XSD_VAR)
        .unwrap_or_default()
        .split(':')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let xmllint = Command::new("xmllint").arg("--version").output().is_ok();
    let required = tokenstore_stores::mysql_server::required("junit-xsd");
    let missing = match (xsds.is_empty(), xmllint) {
        (true, _) => Some(format!("{XSD_VAR} names no schema file")),
        (false, false) => Some("xmllint is not installed (Debian: libxml2-utils)".to_owned()),
        (false, true) => None,
    };
    let name = "reports::junit-validates-against-the-jenkins-xsd";
    let trial = match missing {
        Some(why) if required => Trial::test(name, move || {
            Err(Failed::from(format!("required but {why}")))
        }),
        Some(why) => {
            eprintln!("note: {name} is skipped: {why}");
            Trial::ignorable_test(name, move || Ok(Completion::ignored_with(why)))
                .with_ignored_flag(true)
        }
        None => Trial::test(name, move || validate(&xsds)),
    };
    run(&args, vec![trial]).exit_code()
}
