//! What the tests of `audit` and `migrate` share: running the binary, its output, the
//! SDK FileStore's header, a source file and the kill loop of a migration.
#![allow(dead_code)] // each test file uses its part

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tokenstore_harness::random;

/// The `tokenstore` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_tokenstore");

/// Runs the binary to its end.
pub fn tokenstore(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Everything it printed, stdout then stderr.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The SDK FileStore's header line.
pub const HEADER: &str = "id,user_name,client_id,client_secret,refresh_token,access_token,grant_token,expiry_time,redirect_uri,api_domain\n";

/// A token file of `n` users, in the SDK FileStore's format.
pub fn source(dir: &Path, n: usize) -> String {
    let mut csv = HEADER.to_owned();
    for i in 1..=n {
        csv.push_str(&format!(
            "{i},user{i}@example.com,1000.cid,secret,1000.rt{i},1000.at{i},,1900000000000,,\n"
        ));
    }
    let path = dir.join("source.csv");
    std::fs::write(&path, csv).expect("writes");
    path.display().to_string()
}

/// Returns once `count` says `target` rows or more, or the migration ended.
fn wait_for_rows(count: &dyn Fn() -> usize, target: usize, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
        if count() >= target {
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs `tokenstore migrate ARGS` (of `total` tokens) `rounds` times, killing it (kill
/// -9) each time: all but the last two once a random number of further batches of
/// 1 000 is in (`count` says how many rows the destination holds), the last two at a
/// random time while reading, writing or verifying. Returns how many kills left the
/// destination neither empty nor complete.
pub fn kill_migrations(
    args: &[&str],
    total: usize,
    rounds: usize,
    count: &dyn Fn() -> usize,
) -> usize {
    let mut rng = random::seeded(11);
    let mut cut_short = 0;
    for round in 0..rounds {
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts");
        let held = count();
        let batches_left = (total - held) / 1000;
        if round + 2 < rounds && batches_left >= 2 {
            let target = held + 1000 * (1 + random::below(&mut rng, batches_left - 1));
            wait_for_rows(count, target, &mut child);
        } else {
            let after = 20 + random::below(&mut rng, 1500);
            std::thread::sleep(Duration::from_millis(after as u64));
        }
        let _ = child.kill();
        let _ = child.wait();
        let n = count();
        cut_short += usize::from(n > 0 && n < total);
    }
    cut_short
}
