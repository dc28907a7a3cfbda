//! `tokenstore selftest` at a fixed seed: every mutant caught under its clause, every
//! reference store passing, and the seed named in the output. (CI runs it here, with
//! MySQL when TOKENSTORE_MYSQL_URL is set.)

use std::process::Command;

#[test]
fn selftest_passes_at_a_fixed_seed() {
    let out = Command::new(env!("CARGO_BIN_EXE_tokenstore"))
        .args(["selftest", "--seed", "7", "--cases", "32"])
        .output()
        .expect("the binary runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("seed 7"), "{text}");
    let last = text.lines().last().unwrap_or_default();
    assert!(last.ends_with("passed, 0 failed"), "{last}");
    assert!(!text.contains("MISSED"), "{text}");
}
