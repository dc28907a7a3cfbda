//! `tokenstore selftest` at fixed seeds: every mutant caught under its clause, every
//! reference store passing, and the seed named in the output.

use std::process::Command;

#[test]
fn selftest_passes_at_fixed_seeds() {
    for seed in ["7", "1234"] {
        let out = Command::new(env!("CARGO_BIN_EXE_tokenstore"))
            .args(["selftest", "--seed", seed, "--cases", "64"])
            .output()
            .expect("the binary runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "seed {seed}:\n{text}");
        assert!(text.contains(&format!("seed {seed}")), "{text}");
        let last = text.lines().last().unwrap_or_default();
        assert!(last.ends_with("passed, 0 failed"), "{last}");
        assert!(!text.contains("MISSED"), "{text}");
    }
}
