//! `tokenstore`: check a TokenStore against the contract.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tokenstore_harness::bench::Workload;
use tokenstore_harness::clauses::CLAUSES;
use tokenstore_harness::{AllowList, RunReport, Settings, Status, Suite, runtime};
use tokenstore_stores::{
    FileStore, MysqlServer, MysqlSource, SqliteStore, StoreSpec, mysql_server,
};

mod bench;
mod selftest;

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
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        output: OutputArgs,
        /// A backend that must not be skipped for want of a server (`mysql`); also
        /// read from TOKENSTORE_REQUIRE (comma-separated).
        #[arg(long, value_name = "BACKEND")]
        require: Vec<String>,
        /// Check a store in another language: the command after `--` starts an adapter
        /// process that speaks the tokenstore-adapter/1 protocol (ADAPTERS.md), e.g.
        /// `--adapter -- python -m tokenstore_adapter my_module:MyStore`.
        #[arg(long, requires = "command")]
        adapter: bool,
        /// The adapter command and its arguments (after `--`).
        #[arg(last = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Check several stores and write a clauses × stores matrix: matrix.html (static,
    /// no JavaScript), matrix.md and matrix.json. Prints the Markdown table.
    Matrix {
        /// Stores, as for `check`.
        #[arg(required = true)]
        stores: Vec<String>,
        #[command(flatten)]
        run: RunArgs,
        /// The directory to write the matrix into.
        #[arg(long, default_value = "tokenstore-matrix")]
        out: PathBuf,
    },
    /// List the contract's clause ids with their levels and summaries.
    Clauses,
    /// Compare stores on a standard workload: ops/s, p50 and p99 per operation; writes
    /// bench.json and bench.svg.
    Bench {
        /// Stores, as for `check` (default: memory list sqlite).
        stores: Vec<String>,
        /// A small workload that finishes in seconds.
        #[arg(long)]
        quick: bool,
        /// The directory for bench.json and bench.svg.
        #[arg(long, default_value = "tokenstore-bench")]
        out: PathBuf,
    },
    /// Prove the harness: run the suite on 17 deliberately broken stores (each must
    /// fail the clause it breaks) and on the reference stores (none may fail).
    Selftest {
        #[command(flatten)]
        run: RunArgs,
        /// Also check this MySQL server's reference store (or set TOKENSTORE_MYSQL_URL).
        #[arg(
            long,
            value_name = "URL",
            env = "TOKENSTORE_MYSQL_URL",
            hide_env_values = true
        )]
        mysql: Option<String>,
    },
    /// (Used by durability.crash.) Open a store and save tokens in a loop, printing
    /// `ack <n> <id>` after each acknowledged save, until killed.
    #[command(hide = true)]
    CrashWriter {
        /// The SQLite database file.
        #[arg(long)]
        sqlite: Option<PathBuf>,
        /// The CSV token file.
        #[arg(long)]
        file: Option<PathBuf>,
        /// The MySQL table, on the server named by TOKENSTORE_MYSQL_URL.
        #[arg(long)]
        mysql_table: Option<String>,
        /// The number of the first save.
        #[arg(long, default_value_t = 0)]
        from: u64,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Human,
    Json,
    Junit,
    Markdown,
}

impl Format {
    fn render(self, reports: &[RunReport]) -> String {
        use tokenstore_reports::{human, json, junit, markdown};
        let each =
            |f: fn(&RunReport) -> String| reports.iter().map(f).collect::<Vec<_>>().join("\n");
        match self {
            Format::Human => each(human::render),
            Format::Json if reports.len() == 1 => json::render(&reports[0]),
            Format::Json => json::render_all(reports),
            Format::Junit => junit::render(reports),
            Format::Markdown => each(markdown::render),
        }
    }

    fn file_name(self) -> &'static str {
        match self {
            Format::Human => "report.txt",
            Format::Json => "report.json",
            Format::Junit => "junit.xml",
            Format::Markdown => "report.md",
        }
    }
}

#[derive(Args)]
struct OutputArgs {
    /// The report on stdout.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Also write all four formats into DIR (report.txt, report.json, junit.xml, report.md).
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
    /// Known failures to tolerate: one clause id and a reason per line. A listed clause
    /// that passes fails the run, so that the list cannot go stale.
    #[arg(long, value_name = "FILE")]
    allow: Option<PathBuf>,
}

/// The output settings, with the allow-list read and checked.
struct Output {
    format: Format,
    report_dir: Option<PathBuf>,
    allow: Option<AllowList>,
}

impl OutputArgs {
    fn read(self) -> Result<Output, u8> {
        let allow = match &self.allow {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    eprintln!("error: cannot read {}: {e}", path.display());
                    USAGE
                })?;
                Some(AllowList::parse(&text).map_err(|e| {
                    eprintln!("error: {}: {e}", path.display());
                    USAGE
                })?)
            }
        };
        Ok(Output {
            format: self.format,
            report_dir: self.report_dir,
            allow,
        })
    }
}

#[derive(Args)]
struct RunArgs {
    /// Count failed SHOULD clauses as failures (they are warnings otherwise).
    #[arg(long)]
    strict: bool,
    /// Random sequences run by model.sequences [env: TOKENSTORE_CASES; default: 128].
    #[arg(long)]
    cases: Option<u32>,
    /// Seed of the random parts, to replay a run [env: TOKENSTORE_SEED; default: new].
    #[arg(long)]
    seed: Option<u64>,
}

impl RunArgs {
    fn settings(&self) -> Settings {
        let env = Settings::from_env();
        Settings {
            cases: self.cases.unwrap_or(env.cases),
            seed: self.seed.unwrap_or(env.seed),
            strict: self.strict,
        }
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check {
            store,
            run,
            output,
            require,
            adapter,
            command,
        } => match output.read().and_then(|o| {
            let resolved = match adapter {
                true => Ok((StoreSpec::Adapter(command), None)),
                false => resolve(&store, &require),
            };
            resolved.map(|r| (r, o))
        }) {
            Ok(((spec, _source), output)) => check(&spec, run.settings(), &output),
            Err(code) => ExitCode::from(code),
        },
        Command::Matrix { stores, run, out } => matrix(&stores, run.settings(), &out),
        Command::Clauses => {
            for c in CLAUSES {
                println!("{:<32} {:<6} {}", c.id, c.level, c.summary);
            }
            ExitCode::SUCCESS
        }
        Command::Bench { stores, quick, out } => run_bench(&stores, quick, &out),
        Command::Selftest { run, mysql } => {
            let mut references = vec![
                StoreSpec::Memory,
                StoreSpec::List,
                StoreSpec::SqliteFile { dir: None },
                StoreSpec::File { dir: None },
            ];
            match mysql
                .as_deref()
                .filter(|u| !u.is_empty())
                .map(str::parse::<StoreSpec>)
            {
                Some(Ok(spec)) => references.push(spec),
                Some(Err(e)) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(USAGE);
                }
                None => eprintln!(
                    "note: the MySQL reference store is not checked: no TOKENSTORE_MYSQL_URL"
                ),
            }
            match selftest::selftest(&references, run.settings()) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(SETUP_ERROR)
                }
            }
        }
        Command::CrashWriter {
            sqlite,
            file,
            mysql_table,
            from,
        } => crash_writer(sqlite, file, mysql_table, from),
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

/// The child process of durability.crash.
fn crash_writer(
    sqlite: Option<PathBuf>,
    file: Option<PathBuf>,
    mysql_table: Option<String>,
    from: u64,
) -> ExitCode {
    let outcome = runtime().block_on(async {
        match (sqlite, file, mysql_table) {
            (Some(path), _, _) => {
                let store = SqliteStore::open(&path).map_err(|e| e.to_string())?;
                tokenstore_harness::crash_writer(&store, from).await
            }
            (None, Some(path), _) => {
                let store = FileStore::open(&path).map_err(|e| e.to_string())?;
                tokenstore_harness::crash_writer(&store, from).await
            }
            (None, None, Some(table)) => {
                let url = std::env::var(mysql_server::URL_VAR)
                    .map_err(|_| format!("{} is not set", mysql_server::URL_VAR))?;
                let server = MysqlServer::new(&url).map_err(|e| e.to_string())?;
                let store = server.store(&table).await.map_err(|e| e.to_string())?;
                tokenstore_harness::crash_writer(&store, from).await
            }
            (None, None, None) => {
                Err("name a store: --sqlite PATH, --file PATH or --mysql-table TABLE".to_owned())
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(SETUP_ERROR)
        }
    }
}

/// Runs the suite on one store; progress and notes go to stderr.
fn run_suite(spec: &StoreSpec, settings: Settings) -> Result<RunReport, u8> {
    let suite = Suite::embedded();
    let total = suite.cases().len();
    let mut done = 0;
    let mut last = std::time::Instant::now();
    let progress = |name: &str, status: Status| {
        done += 1;
        // Quiet for fast cases; a line for a failure or a case that took a while.
        if status == Status::Fail || last.elapsed().as_secs() >= 1 {
            eprintln!(
                "[{done}/{total}] {status:?} {name} ({:.1} s)",
                last.elapsed().as_secs_f64()
            );
        }
        last = std::time::Instant::now();
    };
    // This program is the writer process that durability.crash kills.
    let factory = spec.factory(std::env::current_exe().ok());
    eprintln!(
        "{}: seed {} ({} random sequences); replay with --seed {}",
        spec.name(),
        settings.seed,
        settings.cases,
        settings.seed
    );
    runtime()
        .block_on(suite.run(&spec.name(), &spec.location(), &factory, settings, progress))
        .map_err(|e| {
            eprintln!("error: {e}");
            SETUP_ERROR
        })
}

fn check(spec: &StoreSpec, settings: Settings, output: &Output) -> ExitCode {
    let mut report = match run_suite(spec, settings) {
        Ok(report) => report,
        Err(code) => return ExitCode::from(code),
    };
    if let Some(allow) = &output.allow {
        report.apply_allow(allow);
    }
    let reports = std::slice::from_ref(&report);
    print!("{}", output.format.render(reports));
    if let Some(dir) = &output.report_dir
        && let Err(e) = write_reports(dir, reports)
    {
        eprintln!("error: cannot write the reports to {}: {e}", dir.display());
        return ExitCode::from(SETUP_ERROR);
    }
    ExitCode::from(report.exit_code())
}

/// Writes every format into `dir`: report.txt, report.json, junit.xml, report.md.
fn write_reports(dir: &std::path::Path, reports: &[RunReport]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for format in [Format::Human, Format::Json, Format::Junit, Format::Markdown] {
        std::fs::write(dir.join(format.file_name()), format.render(reports))?;
    }
    Ok(())
}

/// `tokenstore matrix`: every store, one HTML page and one Markdown table.
fn matrix(stores: &[String], settings: Settings, out: &std::path::Path) -> ExitCode {
    let mut reports = Vec::new();
    for store in stores {
        let spec = match resolve(store, &[]) {
            Ok((spec, _source)) => spec,
            Err(code) => return ExitCode::from(code),
        };
        match run_suite(&spec, settings) {
            Ok(report) => reports.push(report),
            Err(code) => return ExitCode::from(code),
        }
    }
    let html = tokenstore_reports::html::matrix(&reports);
    let md = tokenstore_reports::markdown::matrix(&reports);
    let written = std::fs::create_dir_all(out)
        .and_then(|()| std::fs::write(out.join("matrix.html"), &html))
        .and_then(|()| std::fs::write(out.join("matrix.md"), &md))
        .and_then(|()| {
            std::fs::write(
                out.join("matrix.json"),
                tokenstore_reports::json::render_all(&reports),
            )
        });
    if let Err(e) = written {
        eprintln!("error: cannot write the matrix to {}: {e}", out.display());
        return ExitCode::from(SETUP_ERROR);
    }
    print!("{md}");
    eprintln!("wrote {}", out.join("matrix.html").display());
    let worst = reports.iter().map(RunReport::exit_code).max().unwrap_or(4);
    ExitCode::from(worst)
}

fn run_bench(stores: &[String], quick: bool, out: &std::path::Path) -> ExitCode {
    let names: Vec<String> = if stores.is_empty() {
        ["memory", "list", "sqlite"].map(str::to_owned).to_vec()
    } else {
        stores.to_vec()
    };
    let mut specs = Vec::new();
    for name in &names {
        match resolve(name, &[]) {
            Ok((spec, _source)) => specs.push(spec),
            Err(code) => return ExitCode::from(code),
        }
    }
    let work = if quick {
        Workload::QUICK
    } else {
        Workload::STANDARD
    };
    let results = match bench::measure(&specs, work) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(SETUP_ERROR);
        }
    };
    print!("{}", bench::table(&results));
    let written = std::fs::create_dir_all(out)
        .and_then(|()| std::fs::write(out.join("bench.json"), bench::json(&results, work)))
        .map_err(|e| e.to_string())
        .and_then(|()| bench::svg(&results, &out.join("bench.svg")));
    match written {
        Ok(()) => {
            eprintln!(
                "wrote {} and {}",
                out.join("bench.json").display(),
                out.join("bench.svg").display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write the results to {}: {e}", out.display());
            ExitCode::from(SETUP_ERROR)
        }
    }
}
