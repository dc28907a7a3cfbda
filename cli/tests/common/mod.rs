//! What the tests of `audit` and `migrate` share: running the binary, its output, the
//! SDK FileStore's header.

use std::process::{Command, Output};

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
