//! `tokenstore`: check a TokenStore against the contract.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use tokenstore_harness::bench::Workload;
use tokenstore_harness::clauses::CLAUSES;
use tokenstore_harness::report::Exit;
use tokenstore_harness::{AllowList, RunReport, Settings, Status, Suite, runtime};
use tokenstore_stores::{MysqlSource, StoreSpec, mutants, mysql_server, postgres, redis};

mod audit;
mod bench;
mod migrate;
mod output;
mod selftest;

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
    /// Run every scenario on a store and report each clause as PASS, FAIL, SKIP, ERROR
    /// or BLOCKED.
    Check {
        /// memory | list | sqlite | sqlite:DIR | sqlite::memory: | file | file:DIR | mysql
        /// | mysql://USER:PASSWORD@HOST:PORT/DB | mutant:NAME (see `tokenstore mutants`);
        /// or no STORE and `--adapter -- COMMAND…` for a store in another language.
        /// `sqlite` (the default) gives each scenario a new database file in the temporary
        /// directory; `sqlite:DIR` puts those files under DIR (`file` likewise, for the
        /// CSV file store). MySQL gives each scenario a new table and drops it
        /// afterwards; plain `mysql` takes the server from TOKENSTORE_MYSQL_URL (or a
        /// Docker container, in a build with `docker`). PostgreSQL gives each a new
        /// schema; plain `postgres` takes the server from TOKENSTORE_POSTGRES_URL. Redis
        /// (redis:// or redis+cluster://) gives each a new hash tag; plain `redis` takes
        /// the server from TOKENSTORE_REDIS_URL.
        store: Option<String>,
        #[command(flatten)]
        run: RunArgs,
        #[command(flatten)]
        suite: SuiteArgs,
        #[command(flatten)]
        output: OutputArgs,
        /// A backend that must not be skipped for want of a server; also read from
        /// TOKENSTORE_REQUIRE (comma-separated). `python` and `junit-xsd` are read by the
        /// project's own tests.
        #[arg(long, value_enum, value_name = "BACKEND")]
        require: Vec<Requirement>,
        /// Before checking, write the reference model's answers into the expectations of
        /// the scenario files in --scenarios DIR (for the limits the store declares): a
        /// new scenario can be written as operations only; review the files afterwards.
        #[arg(long, requires = "scenarios")]
        update: bool,
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
        #[command(flatten)]
        suite: SuiteArgs,
        /// The directory to write the matrix into.
        #[arg(long, default_value = "tokenstore-matrix")]
        out: PathBuf,
    },
    /// List the contract's clause ids with their levels and summaries.
    Clauses,
    /// List the selftest's deliberately broken stores (`mutant:NAME`), one line each:
    /// the name, the clause that must catch it, and what it does wrong.
    Mutants,
    /// Compare stores on a standard workload: ops/s, p50 and p99 per operation; writes
    /// bench.json and bench.svg.
    Bench {
        /// Stores, as for `check` (default: memory list sqlite; with --adapter, the
        /// reference stores it is compared with, default memory sqlite).
        stores: Vec<String>,
        /// A small workload that finishes in seconds.
        #[arg(long)]
        quick: bool,
        /// The directory for bench.json and bench.svg.
        #[arg(long, default_value = "tokenstore-bench")]
        out: PathBuf,
        /// Measure a store in another language (the command after `--`, as for `check`)
        /// and compare it with the reference stores, operation by operation.
        #[arg(long, requires = "command")]
        adapter: bool,
        /// The adapter command and its arguments (after `--`).
        #[arg(last = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Prove the harness: run the suite on every deliberately broken store (each must
    /// fail the clause it breaks; see `tokenstore mutants`) and on the reference stores
    /// (none may fail).
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
        /// Also check this PostgreSQL server's reference store (or set
        /// TOKENSTORE_POSTGRES_URL).
        #[arg(
            long,
            value_name = "URL",
            env = "TOKENSTORE_POSTGRES_URL",
            hide_env_values = true
        )]
        postgres: Option<String>,
        /// Also check this Redis server's (or cluster's) reference store (or set
        /// TOKENSTORE_REDIS_URL).
        #[arg(
            long,
            value_name = "URL",
            env = "TOKENSTORE_REDIS_URL",
            hide_env_values = true
        )]
        redis: Option<String>,
    },
    /// Read the data a token store left, without writing, and list every row that breaks
    /// the contract's data invariants: rows sharing an id or a key value, rows without an
    /// id or a key, `""` stored for absent, values over the limits, expiry times that are
    /// not milliseconds, a client id without its secret. Exit 0 clean, 1 findings, 2
    /// usage, 3 the source cannot be read.
    Audit {
        /// file:PATH or PATH.csv (the SDK FileStore's CSV file, or this project's file
        /// store's); sqlite:PATH or PATH.db / .sqlite / .sqlite3 (a SQLite database with
        /// the SDK's columns); mysql://USER:PASSWORD@HOST:PORT/DB (the SDK DBStore's table);
        /// postgres://USER:PASSWORD@HOST:PORT/DB (a table with the SDK's columns).
        source: String,
        /// The SQL table (default oauthtoken).
        #[arg(long)]
        table: Option<String>,
        /// Hold values to the SDK schema's lengths (id 10, expiry_time 20, others 255).
        #[arg(long)]
        sdk_limits: bool,
        /// The report on stdout.
        #[arg(long, value_enum, default_value_t = audit::AuditFormat::Human)]
        format: audit::AuditFormat,
    },
    /// Copy every token of SOURCE (as `audit` names it) into a reference store DEST,
    /// keeping ids where they are valid and unique, resolving rows that share a key by
    /// --on-duplicate, then verifying the copy. Safe to run again: a run killed at any
    /// moment and run again ends with every token present once. Exit 0 done, 1 stopped
    /// (conflicts, a destination that is not empty, a failed check), 2 usage, 3 a source
    /// or destination that cannot be opened.
    Migrate {
        /// As for `audit`: file:PATH, PATH.csv, sqlite:PATH, PATH.db, mysql://…,
        /// postgres://….
        source: String,
        /// PATH.db, PATH.csv, mysql://USER:PASSWORD@HOST:PORT/DB or postgres://…: this
        /// project's SQLite, file, MySQL or PostgreSQL store.
        dest: String,
        /// The source's SQL table (default oauthtoken).
        #[arg(long)]
        table: Option<String>,
        /// The MySQL destination's table (default oauthtoken), or the PostgreSQL
        /// destination's schema (default public); created if absent.
        #[arg(long)]
        dest_table: Option<String>,
        /// Rows sharing a user name, access, grant or refresh token: fail (copy nothing),
        /// newest (latest expiry_time, then greatest id) or keep-first (source order).
        #[arg(long, value_enum, default_value_t = migrate::Policy::Fail)]
        on_duplicate: migrate::Policy,
        /// Fill the fields a kept row lacks from the rows left out for it (never its
        /// id, nor a key value another kept row holds); each is listed.
        #[arg(long)]
        fill_from_dropped: bool,
        /// Show what would be copied, left out and renumbered; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Then run the conformance suite on fresh stores of DEST's engine (a scratch
        /// file beside it, a scratch table in its database); exit 1 if a clause fails.
        #[arg(long, conflicts_with = "dry_run")]
        verify: bool,
    },
}

/// What `--require` may name (the same names as TOKENSTORE_REQUIRE).
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
enum Requirement {
    Mysql,
    Postgres,
    Redis,
    Python,
    JunitXsd,
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
    fn read(self) -> Result<Output, Exit> {
        let allow = match &self.allow {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    eprintln!("error: cannot read {}: {e}", path.display());
                    Exit::Usage
                })?;
                Some(AllowList::parse(&text).map_err(|e| {
                    eprintln!("error: {}: {e}", path.display());
                    Exit::Usage
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

#[derive(clap::Args)]
struct SuiteArgs {
    /// Also run the scenario files (*.toml, FORMAT.md) in DIR: rules of your own
    /// store, or a replay that model.sequences printed.
    #[arg(long, value_name = "DIR", env = tokenstore_harness::SCENARIOS_VAR)]
    scenarios: Option<PathBuf>,
}

impl SuiteArgs {
    /// The embedded suite and the user's files; a file that cannot be loaded is a
    /// usage error, said with the file (and line, for TOML errors).
    fn suite(&self) -> Result<Suite, Exit> {
        let suite = Suite::embedded();
        match &self.scenarios {
            None => Ok(suite),
            Some(dir) => suite.with_scenario_dir(dir).map_err(|e| {
                eprintln!("error: --scenarios: {e}");
                Exit::Usage
            }),
        }
    }
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
    // durability.crash runs this program as its writer: `tokenstore crash-writer …`.
    if let Some(code) = tokenstore_stores::crash_writer::main_if_asked() {
        return code;
    }
    tokenstore_harness::notes_to_stderr();
    let cli = Cli::parse();
    if let Some(name) = mysql_server::unknown_required() {
        eprintln!(
            "error: {} names {name:?}; expected a comma-separated list of {}",
            mysql_server::REQUIRE_VAR,
            mysql_server::REQUIRABLE.join(", ")
        );
        return Exit::Usage.into();
    }
    match cli.command {
        Command::Check {
            store,
            run,
            suite,
            output,
            require,
            update,
            adapter,
            command,
        } => {
            // Files are loaded before anything runs; with --update, once updated.
            let loaded = match update {
                true => Ok(None),
                false => suite.suite().map(Some),
            };
            let (store, loaded) = match check_target(store, adapter, command)
                .and_then(|store| loaded.map(|loaded| (store, loaded)))
            {
                Ok(found) => found,
                Err(exit) => return exit.into(),
            };
            match output
                .read()
                .and_then(|o| resolve(&store, &require).map(|r| (r, o)))
            {
                Ok((Resolved::Ready(spec, _source), output)) => {
                    let ready = match (loaded, &suite.scenarios) {
                        (Some(ready), _) => Ok(ready),
                        (None, Some(dir)) => {
                            update_scenarios(dir, &spec).and_then(|()| suite.suite())
                        }
                        (None, None) => suite.suite(),
                    };
                    match ready {
                        Ok(ready) => check(&spec, &ready, run.settings(), &output),
                        Err(exit) => exit.into(),
                    }
                }
                Ok((Resolved::Unavailable(why), _)) => {
                    eprintln!("{store} skipped: {why}");
                    Exit::NothingRan.into()
                }
                Err(exit) => exit.into(),
            }
        }
        Command::Matrix {
            stores,
            run,
            suite,
            out,
        } => match suite.suite() {
            Ok(suite) => matrix(&stores, &suite, run.settings(), &out),
            Err(exit) => exit.into(),
        },
        Command::Clauses => {
            for c in CLAUSES {
                outln!("{:<32} {:<6} {}", c.id, c.level, c.summary);
            }
            ExitCode::SUCCESS
        }
        Command::Mutants => {
            for bug in mutants::Bug::ALL {
                outln!(
                    "{:<26} {:<30} {}",
                    bug.name(),
                    bug.clause(),
                    bug.description()
                );
            }
            ExitCode::SUCCESS
        }
        Command::Bench {
            stores,
            quick,
            out,
            adapter,
            command,
        } => {
            // Words after `--` without --adapter are refused as for `check`.
            let yours = match adapter || !command.is_empty() {
                true => check_target(None, adapter, command).map(Some),
                false => Ok(None),
            };
            match yours {
                Ok(yours) => run_bench(yours, &stores, quick, &out),
                Err(exit) => exit.into(),
            }
        }
        Command::Selftest {
            run,
            mysql,
            postgres,
            redis,
        } => {
            let servers = [("MySQL", mysql), ("PostgreSQL", postgres), ("Redis", redis)];
            selftest_command(run.settings(), servers)
        }
        Command::Migrate {
            source,
            dest,
            table,
            dest_table,
            on_duplicate,
            fill_from_dropped,
            dry_run,
            verify,
        } => {
            let options = migrate::Options {
                dest_table,
                policy: on_duplicate,
                fill: fill_from_dropped,
                dry_run,
                verify,
            };
            migrate::run(&source, table.as_deref(), &dest, options)
        }
        Command::Audit {
            source,
            table,
            sdk_limits,
            format,
        } => audit::run(&source, table.as_deref(), sdk_limits, format),
    }
}

/// The selftest on the mutants and every reference store, the servers' where a URL
/// names them.
fn selftest_command(settings: Settings, servers: [(&str, Option<String>); 3]) -> ExitCode {
    let mut references = vec![
        StoreSpec::Memory,
        StoreSpec::List,
        StoreSpec::SqliteFile { dir: None },
        StoreSpec::File { dir: None },
    ];
    for (name, url) in servers {
        match url
            .filter(|u| !u.is_empty())
            .map(|u| u.parse::<StoreSpec>())
        {
            Some(Ok(spec)) => references.push(spec),
            Some(Err(e)) => {
                eprintln!("error: {e}");
                return Exit::Usage.into();
            }
            None => eprintln!("note: the {name} reference store is not checked: no URL"),
        }
    }
    match selftest::selftest(&references, settings) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Setup.into()
        }
    }
}

/// The store `check` names: a STORE, or `--adapter -- COMMAND…`, never both, and never
/// a command after `--` without `--adapter` (which would check the default store and
/// pass while the user meant their own).
fn check_target(
    store: Option<String>,
    adapter: bool,
    command: Vec<String>,
) -> Result<String, Exit> {
    match (store, adapter, command.is_empty()) {
        (Some(store), true, _) => {
            eprintln!("error: give either a STORE ({store:?}) or --adapter -- COMMAND…, not both");
            Err(Exit::Usage)
        }
        (_, false, false) => {
            let words = command.join(" ");
            eprintln!(
                "error: `{words}` after `--` is an adapter command, but --adapter is missing; \
                 did you mean `tokenstore check --adapter -- {words}`?"
            );
            Err(Exit::Usage)
        }
        (_, true, _) => Ok(adapter_name(&command)),
        (store, false, true) => Ok(store.unwrap_or_else(|| "sqlite".to_owned())),
    }
}

/// An adapter command as a store name that `resolve` reads back (`adapter:` and the
/// words as JSON), so that every store, an adapter too, goes through one resolution.
fn adapter_name(command: &[String]) -> String {
    format!(
        "adapter:{}",
        serde_json::to_string(command).unwrap_or_default()
    )
}

/// A store, resolved: ready to run (with the MySQL source that keeps a container
/// alive as long as the value lives), or not reachable here, with the reason.
enum Resolved {
    Ready(StoreSpec, Option<MysqlSource>),
    Unavailable(String),
}

/// Resolves a store name. Plain `mysql`, `postgres` and `redis` look for a server. Usage
/// errors, and a required backend that is missing, are printed here; the exit code is
/// returned.
fn resolve(store: &str, require: &[Requirement]) -> Result<Resolved, Exit> {
    if let Some(json) = store.strip_prefix("adapter:") {
        let command: Vec<String> = serde_json::from_str(json).unwrap_or_default();
        return Ok(Resolved::Ready(StoreSpec::Adapter(command), None));
    }
    let (found, source, requirement) = match store {
        "mysql" => {
            let source = runtime().block_on(MysqlSource::find());
            let url = source.url().map(str::to_owned);
            let found = url.ok_or(source.reason().unwrap_or_default().to_owned());
            (found, Some(source), Some(Requirement::Mysql))
        }
        "postgres" => (postgres::url_from_env(), None, Some(Requirement::Postgres)),
        "redis" => (redis::url_from_env(), None, Some(Requirement::Redis)),
        _ => (Ok(store.to_owned()), None, None),
    };
    let required =
        |name| mysql_server::required(name) || requirement.is_some_and(|r| require.contains(&r));
    match found.map(|url| url.parse::<StoreSpec>()) {
        Ok(Ok(spec)) => Ok(Resolved::Ready(spec, source)),
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            Err(Exit::Usage)
        }
        Err(why) if required(store) => {
            eprintln!("error: {store} is required but unavailable: {why}");
            Err(Exit::Setup)
        }
        Err(why) => Ok(Resolved::Unavailable(why)),
    }
}

/// Runs the suite on one store; progress and notes go to stderr. An error is a store
/// that could not be opened at all.
fn run_suite(spec: &StoreSpec, suite: &Suite, settings: Settings) -> Result<RunReport, String> {
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
        .map_err(|e| e.to_string())
}

/// `--update`: every scenario file in `dir` gets the model's answers as its
/// expectations, for the limits the store declares.
fn update_scenarios(dir: &std::path::Path, spec: &StoreSpec) -> Result<(), Exit> {
    let factory = spec.factory(std::env::current_exe().ok());
    let limits = match runtime().block_on(tokenstore_harness::internals::Probe::of(&factory)) {
        Ok(probe) => probe.caps.limits,
        Err(e) => {
            eprintln!("error: --update: {e}");
            return Err(Exit::Setup);
        }
    };
    let files = tokenstore_scenarios::toml_files(dir).map_err(|e| {
        eprintln!("error: --update: {e}");
        Exit::Usage
    })?;
    for path in files {
        let file = path.display().to_string();
        let updated = std::fs::read_to_string(&path)
            .map_err(|e| format!("{file}: {e}"))
            .and_then(|text| {
                tokenstore_scenarios::update(&file, &text, |s| {
                    runtime().block_on(tokenstore_harness::internals::model_answers(s, limits))
                })
                .map_err(|e| e.to_string())
            })
            .and_then(|text| std::fs::write(&path, text).map_err(|e| format!("{file}: {e}")));
        if let Err(why) = updated {
            eprintln!("error: --update: {why}");
            return Err(Exit::Usage);
        }
        eprintln!("updated {file}");
    }
    Ok(())
}

fn check(spec: &StoreSpec, suite: &Suite, settings: Settings, output: &Output) -> ExitCode {
    let mut report = match run_suite(spec, suite, settings) {
        Ok(report) => report,
        Err(why) => {
            eprintln!("error: {why}");
            return Exit::Setup.into();
        }
    };
    if let Some(allow) = &output.allow {
        report.apply_allow(allow);
    }
    let reports = std::slice::from_ref(&report);
    out!("{}", output.format.render(reports));
    if let Some(dir) = &output.report_dir
        && let Err(e) = write_reports(dir, reports)
    {
        eprintln!("error: cannot write the reports to {}: {e}", dir.display());
        return Exit::Setup.into();
    }
    report.exit().into()
}

/// Writes every format into `dir`: report.txt, report.json, junit.xml, report.md.
fn write_reports(dir: &std::path::Path, reports: &[RunReport]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for format in [Format::Human, Format::Json, Format::Junit, Format::Markdown] {
        std::fs::write(dir.join(format.file_name()), format.render(reports))?;
    }
    Ok(())
}

/// `tokenstore matrix`: every store, one HTML page and one Markdown table. Every name
/// is resolved before any store runs (a misspelled one fails at once), each server is
/// kept for the whole run, and a store that cannot be reached is a column of SKIP
/// with the reason.
fn matrix(stores: &[String], suite: &Suite, settings: Settings, out: &std::path::Path) -> ExitCode {
    let mut resolved = Vec::with_capacity(stores.len());
    for store in stores {
        match resolve(store, &[]) {
            Ok(r) => resolved.push((store, r)),
            Err(exit) => return exit.into(),
        }
    }
    let reports: Vec<RunReport> = resolved
        .iter()
        .map(|(name, r)| match r {
            Resolved::Ready(spec, _source) => run_suite(spec, suite, settings)
                .unwrap_or_else(|why| not_run(&spec.name(), &spec.location(), &why, settings)),
            Resolved::Unavailable(why) => not_run(name, "not reachable", why, settings),
        })
        .collect();
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
        return Exit::Setup.into();
    }
    out!("{md}");
    eprintln!("wrote {}", out.join("matrix.html").display());
    Exit::of_all(reports.iter().map(RunReport::exit)).into()
}

/// A matrix column for a store that could not be run: every clause skipped, with why.
fn not_run(name: &str, location: &str, why: &str, settings: Settings) -> RunReport {
    eprintln!("{name}: not run: {why}");
    let caps = tokenstore_harness::Capabilities::default();
    let info = tokenstore_harness::report::StoreInfo::new(name, location, &caps);
    let mut report = RunReport::unavailable(info, &format!("not run: {why}"));
    report.seed = settings.seed;
    report
}

/// `tokenstore bench`: `yours` (an adapter) first when given, compared with the others.
fn run_bench(
    yours: Option<String>,
    stores: &[String],
    quick: bool,
    out: &std::path::Path,
) -> ExitCode {
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: a debug build of tokenstore measures stores 3-6x slower; \
             use a release build (cargo run --release, or the installed binary)"
        );
    }
    let defaults: &[&str] = match yours {
        Some(_) => &["memory", "sqlite"],
        None => &["memory", "list", "sqlite"],
    };
    let others: Vec<String> = match stores.is_empty() {
        true => defaults.iter().map(|s| (*s).to_owned()).collect(),
        false => stores.to_vec(),
    };
    let names: Vec<String> = yours.iter().cloned().chain(others).collect();
    let mut resolved = Vec::new();
    for name in &names {
        match resolve(name, &[]) {
            Ok(Resolved::Ready(spec, source)) => resolved.push((spec, source)),
            Ok(Resolved::Unavailable(why)) => {
                eprintln!("error: {name} is not reachable: {why}");
                return Exit::Setup.into();
            }
            Err(exit) => return exit.into(),
        }
    }
    let specs: Vec<StoreSpec> = resolved.iter().map(|(spec, _)| spec.clone()).collect();
    let work = if quick {
        Workload::QUICK
    } else {
        Workload::STANDARD
    };
    let results = match bench::measure(&specs, work) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Setup.into();
        }
    };
    out!("{}", bench::table(&results));
    if yours.is_some() {
        out!("{}", bench::ratios(&results, &specs[0].name()));
    }
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
            Exit::Setup.into()
        }
    }
}
