//! `tokenstore`: check a TokenStore against the contract.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokenstore_harness::clauses::{CLAUSES, Check};
use tokenstore_harness::{Status, Suite, runtime};
use tokenstore_stores::{MysqlSource, StoreSpec, mysql_server};

/// Exit codes, documented in `--help`.
const USAGE: u8 = 2;
const SETUP_ERROR: u8 = 3;
const NOTHING_RAN: u8 = 4;

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
        /// memory | list | sqlite | sqlite:DIR | sqlite::memory: | mysql://USER:PASSWORD@HOST:PORT/DB
        /// | mysql. `sqlite` (the default) gives each scenario a new database file in the
        /// temporary directory; `sqlite:DIR` puts those files under DIR. MySQL gives each
        /// scenario a new table and drops it afterwards; plain `mysql` takes the server
        /// from TOKENSTORE_MYSQL_URL (or a Docker container, in a build with `docker`).
        #[arg(default_value = "sqlite")]
        store: String,
        /// Count failed SHOULD clauses as failures (they are warnings otherwise).
        #[arg(long)]
        strict: bool,
        /// A backend that must not be skipped for want of a server (`mysql`); also
        /// read from TOKENSTORE_REQUIRE (comma-separated).
        #[arg(long, value_name = "BACKEND")]
        require: Vec<String>,
    },
    /// List the contract's clause ids with their levels and summaries.
    Clauses,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check {
            store,
            strict,
            require,
        } => match resolve(&store, &require) {
            Ok((spec, _source)) => check(&spec, strict),
            Err(code) => ExitCode::from(code),
        },
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

/// The store to check. Plain `mysql` looks for a server; the returned source keeps a
/// container alive for the run. Errors are printed here; the exit code is returned.
fn resolve(store: &str, require: &[String]) -> Result<(StoreSpec, Option<MysqlSource>), u8> {
    if store != "mysql" {
        return match store.parse() {
            Ok(spec) => Ok((spec, None)),
            Err(e) => {
                eprintln!("error: {e}");
                Err(USAGE)
            }
        };
    }
    let source = runtime().block_on(MysqlSource::find());
    let required = mysql_server::required("mysql") || require.iter().any(|r| r == "mysql");
    match (source.url().map(str::parse::<StoreSpec>), source.reason()) {
        (Some(Ok(spec)), _) => Ok((spec, Some(source))),
        (Some(Err(e)), _) => {
            eprintln!("error: {e}");
            Err(USAGE)
        }
        (None, why) => {
            let why = why.unwrap_or_default();
            if required {
                eprintln!("error: MySQL is required but unavailable: {why}");
                Err(SETUP_ERROR)
            } else {
                eprintln!("mysql skipped: {why}");
                Err(NOTHING_RAN)
            }
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
