//! `tokenstore`: check a TokenStore against the contract.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokenstore_harness::clauses::{CLAUSES, Check};
use tokenstore_harness::{Status, Suite, runtime};
use tokenstore_stores::StoreSpec;

/// Exit codes, documented in `--help`.
const SETUP_ERROR: u8 = 3;

#[derive(Parser)]
#[command(
    name = "tokenstore",
    version,
    about = "Conformance checks for OAuth token stores (the Zoho SDK TokenStore contract)",
    after_help = "Exit codes: 0 every clause passed or was skipped with a reason; 1 a conformance \
                  failure; 2 usage error; 3 setup error (the store could not be opened); 4 nothing ran."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every scenario on a store and report each clause as PASS, FAIL or SKIP.
    Check {
        /// memory | list | sqlite | sqlite:DIR | sqlite::memory:. `sqlite` (the default)
        /// gives each scenario a new database file in the temporary directory;
        /// `sqlite:DIR` puts those files under DIR.
        #[arg(default_value = "sqlite")]
        store: StoreSpec,
        /// Count failed SHOULD clauses as failures (they are warnings otherwise).
        #[arg(long)]
        strict: bool,
    },
    /// List the contract's clause ids with their levels and summaries.
    Clauses,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check { store, strict } => check(&store, strict),
        Command::Clauses => {
            for c in CLAUSES {
                let note = match c.check {
                    Check::Scenarios => String::new(),
                    Check::Pending(why) => format!(" ({why})"),
                };
                println!("{:<32} {:<6} {}{note}", c.id, c.level, c.summary);
            }
            ExitCode::SUCCESS
        }
    }
}

fn check(spec: &StoreSpec, strict: bool) -> ExitCode {
    let suite = Suite::embedded();
    let total = suite.scenarios().len();
    let mut done = 0;
    let progress = |name: &str, status: Status| {
        done += 1;
        if status == Status::Fail {
            eprintln!("[{done}/{total}] FAIL {name}");
        }
    };
    let factory = spec.factory();
    let run =
        runtime().block_on(suite.run(spec.name(), &spec.location(), &factory, strict, progress));
    match run {
        Ok(report) => {
            print!("{}", tokenstore_reports::human::render(&report));
            ExitCode::from(report.exit_code())
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(SETUP_ERROR)
        }
    }
}
