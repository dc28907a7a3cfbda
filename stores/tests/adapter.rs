//! Stores in another language through the adapter protocol: the Python shim driving
//! SDK-style stores, adapters that break the protocol, and the SDK's own stores.
//!
//! Needs a Python with the Zoho SDK (`TOKENSTORE_PYTHON`, e.g. a venv's python); without
//! it the tests are listed as ignored with the reason, or fail when TOKENSTORE_REQUIRE
//! names `python`. The protocol-breaking adapters need only `python3`.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tokenstore_harness::internals::{Builtin, Case};
use tokenstore_harness::libtest_mimic::{Arguments, Completion, Failed, Trial, run};
use tokenstore_harness::{Field, RunReport, Settings, Suite, Token, TokenStore, runtime};
use tokenstore_stores::audit::{AuditSource, FindingKind, audit};
use tokenstore_stores::{AdapterStore, FileStore, adapter_factory};

const PYTHON_VAR: &str = "TOKENSTORE_PYTHON";
const SETTINGS: Settings = Settings {
    cases: 32,
    seed: 11,
    strict: false,
};

fn shim_dir() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../adapters/python").to_owned()
}

/// `python -m tokenstore_adapter ARGS…`, with the shim and the test stores importable.
fn shim(python: &str, args: &[&str]) -> Vec<String> {
    let mut command = vec![
        "env".to_owned(),
        format!("PYTHONPATH={}", shim_dir()),
        python.to_owned(),
        "-m".to_owned(),
        "tokenstore_adapter".to_owned(),
    ];
    command.extend(args.iter().map(|a| a.to_string()));
    command
}

fn check(command: Vec<String>) -> Result<RunReport, Failed> {
    runtime()
        .block_on(Suite::embedded().run(
            "adapter",
            "",
            &adapter_factory(command),
            SETTINGS,
            |_, _| {},
        ))
        .map_err(|e| Failed::from(e.to_string()))
}

fn expect_failures(python: &str, class: &str, expected: &[&str]) -> Result<(), Failed> {
    let report = check(shim(python, &[&format!("tests_store:{class}")]))?;
    same_clauses(class, &report, expected)
}

/// `durability.crash` alone on the durable reference store in Python, whose writers
/// the shim's crash server forks (`forked`), or, for a store that declares it must not
/// be forked, the harness starts one process each: every acknowledged save survives
/// the 20 kills either way.
fn crash_survived(python: &str, class: &str, forked: bool) -> Result<(), Failed> {
    let command = shim(python, &["--durable", class, "{dir}/tokens.db"]);
    runtime().block_on(async {
        let dir = tempfile::tempdir()?;
        let probe = shim(
            python,
            &[
                "--durable",
                class,
                &format!("{}/t.db", dir.path().display()),
            ],
        );
        let store = AdapterStore::spawn(&probe)
            .await
            .map_err(|e| e.to_string())?;
        if store.has_crash_server() != forked {
            return Err(format!(
                "{class}: crash server declared: {}",
                store.has_crash_server()
            )
            .into());
        }
        let factory = adapter_factory(command);
        match Case::Builtin(Builtin::Crash)
            .run(&factory, SETTINGS, class)
            .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(failure)) => Err(format!("{class}: {failure:?}").into()),
            Err(e) => Err(format!("{class}: {e}").into()),
        }
    })
}

fn misbehaving(mode: &'static str) -> Result<(), Failed> {
    let script = format!("{}/misbehaving.py", shim_dir());
    let command = vec!["python3".to_owned(), script, mode.to_owned()];
    let started = Instant::now();
    let outcome = runtime().block_on(async {
        let store = AdapterStore::spawn(&command).await?;
        let probe = Token::new().with(Field::UserName, "a@example.com");
        store.find_token(&probe).await?;
        Ok::<_, tokenstore_harness::StoreError>(())
    });
    let message = match outcome {
        Ok(()) => return Err(format!("{mode}: the broken adapter was not reported").into()),
        Err(e) => e.to_string(),
    };
    let expected = match mode {
        "crash" => "exited",
        "hang" => "no answer",
        "garbage" => "not JSON",
        "wrong-id" => "not waiting",
        _ => "before its handshake",
    };
    if !message.contains(expected) {
        return Err(format!("{mode}: unclear message {message:?}").into());
    }
    if started.elapsed() > Duration::from_secs(20) {
        return Err(format!("{mode}: took {:?}", started.elapsed()).into());
    }
    Ok(())
}

/// Tokens our file store wrote are read back by the SDK's FileStore, and the reverse.
fn file_interop(python: &str) -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
    let path = dir.path().join("tokens.csv");
    let path_text = path.to_string_lossy().into_owned();
    let sdk = shim(
        python,
        &[
            "zohocrmsdk.src.com.zoho.api.authenticator.store.file_store:FileStore",
            &path_text,
        ],
    );
    runtime().block_on(async {
        let fail = |e: &dyn std::fmt::Display| Failed::from(e.to_string());
        let ours = FileStore::open(&path).map_err(|e| fail(&e))?;
        let alice = Token::new()
            .with(Field::UserName, "alice@example.com")
            .with(Field::ClientId, "1000.CLIENT")
            .with(Field::ClientSecret, "cs, with \"quotes\"")
            .with(Field::RefreshToken, "1000.rt-alice")
            .with(Field::AccessToken, "1000.at-alice")
            .with(Field::ExpiryTime, "1700000000000")
            .with(Field::ApiDomain, "https://www.zohoapis.com");
        let id = ours.save_token(&alice).await.map_err(|e| fail(&e))?;
        let theirs = AdapterStore::spawn(&sdk).await.map_err(|e| fail(&e))?;
        let seen = theirs
            .find_token(&Token::new().with(Field::UserName, "alice@example.com"))
            .await
            .map_err(|e| fail(&e))?;
        if seen != Some(alice.clone().with(Field::Id, &id)) {
            return Err(format!("the SDK's FileStore read {seen:?}").into());
        }
        let bob = Token::new()
            .with(Field::UserName, "bob@example.com")
            .with(Field::RefreshToken, "1000.rt-bob");
        let bob_id = theirs.save_token(&bob).await.map_err(|e| fail(&e))?;
        let back = ours.find_token_by_id(&bob_id).await.map_err(|e| fail(&e))?;
        if back != Some(bob.with(Field::Id, &bob_id)) {
            return Err(format!("our file store read {back:?}").into());
        }
        Ok(())
    })
}

/// What the README says the SDK's FileStore fails (its findings).
const SDK_FILE_STORE_FAILS: &[&str] = &[
    "by-id.miss",
    "concurrency.distinct",
    "concurrency.multi-instance",
    "concurrency.read-during-write",
    "concurrency.same-user",
    "delete.miss",
    "durability.crash",
    "find.precedence",
    "flow.remove-twice",
    "id.no-reuse",
    "id.unique",
    "model.sequences",
    "save.guard",
    "save.keep-absent",
    "save.key-unique",
    "save.update-by-key",
    "security.file-mode",
    "security.injection",
    "value.empty",
    "value.limit",
    "value.roundtrip",
];

/// The SDK's own FileStore, each check on a new file (`{dir}`): it fails exactly the
/// clauses the README records.
fn sdk_file_store(python: &str) -> Result<(), Failed> {
    let report = check(shim(
        python,
        &[
            "--durable",
            "zohocrmsdk.src.com.zoho.api.authenticator.store.file_store:FileStore",
            "{dir}/tokens.csv",
        ],
    ))?;
    same_clauses("the SDK's FileStore", &report, SDK_FILE_STORE_FAILS)?;
    readme_records("FileStore", SDK_FILE_STORE_FAILS)
}

/// What an audit found: (kind, field, row numbers), one per finding.
type Found = Vec<(FindingKind, Option<&'static str>, Vec<u64>)>;

/// Fills a file or table through the SDK's own store, with the calls its known bugs turn
/// into damage (adapters/python/sdk_damage.py with `args`).
fn sdk_damage(python: &str, args: &[&str]) -> Result<(), Failed> {
    let made = std::process::Command::new(python)
        .arg(format!("{}/sdk_damage.py", shim_dir()))
        .args(args)
        .env("PYTHONPATH", shim_dir())
        .output()
        .map_err(|e| Failed::from(e.to_string()))?;
    match made.status.success() {
        true => Ok(()),
        false => Err(String::from_utf8_lossy(&made.stderr).into_owned().into()),
    }
}

/// The audit's row count and findings.
fn audited(source: &AuditSource) -> Result<(u64, Found), Failed> {
    let report = runtime()
        .block_on(audit(source, tokenstore_harness::Limits::NONE))
        .map_err(|e| Failed::from(e.to_string()))?;
    let found = report
        .findings
        .iter()
        .map(|f| (f.kind, f.field, f.rows.iter().map(|r| r.row).collect()))
        .collect();
    Ok((report.rows, found))
}

/// `tokenstore migrate --on-duplicate newest` of `source` into the empty `dest` with
/// its batch writer: the rows left out are `dropped`, every kept token is copied and
/// verified, and a second run changes nothing.
async fn migrated<S: TokenStore>(
    source: &AuditSource,
    dest: &S,
    mut batch: impl AsyncFnMut(&[Token]) -> Result<Vec<String>, tokenstore_harness::StoreError>,
    dropped: &[u64],
) -> Result<(), Failed> {
    use tokenstore_stores::migrate::{OnDuplicate, plan, write};
    let fail = |e: &dyn std::fmt::Display| Failed::from(e.to_string());
    let plan = plan(source, OnDuplicate::Newest, false)
        .await
        .map_err(|e| fail(&e))?;
    let mut left_out: Vec<u64> = plan.resolutions.iter().map(|r| r.dropped.row).collect();
    left_out.sort();
    if left_out != dropped {
        return Err(format!("left out rows {left_out:?}, expected {dropped:?}").into());
    }
    write(&plan, dest, &mut batch, |_| ())
        .await
        .map_err(|e| fail(&e))?;
    let first = dest.get_tokens().await.map_err(|e| fail(&e))?;
    write(&plan, dest, &mut batch, |_| ())
        .await
        .map_err(|e| fail(&e))?;
    let second = dest.get_tokens().await.map_err(|e| fail(&e))?;
    if first.len() != plan.tokens.len() || first != second {
        return Err(format!("{} tokens, then {}", first.len(), second.len()).into());
    }
    Ok(())
}

/// `tokenstore audit` on a file the SDK's own FileStore filled: it finds each damage, by
/// row and field, and leaves the file as it was; `migrate` resolves it as documented.
fn audit_sdk_file_store_data(python: &str) -> Result<(), Failed> {
    let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
    let path = dir.path().join("tokens.csv");
    sdk_damage(python, &[&path.to_string_lossy()])?;
    let before = std::fs::read(&path).map_err(|e| Failed::from(e.to_string()))?;
    let source = AuditSource::Csv(path.clone());
    let expected = vec![
        (FindingKind::SharedKey, Some("refresh_token"), vec![2, 9]),
        (FindingKind::SharedKey, Some("user_name"), vec![5, 11]),
        (FindingKind::MalformedExpiry, Some("expiry_time"), vec![10]),
    ];
    let found = audited(&source)?;
    if found != (11, expected) {
        return Err(format!("found {found:?}").into());
    }
    let dest = tokenstore_stores::SqliteStore::open(dir.path().join("tokens.db"))
        .map_err(|e| Failed::from(e.to_string()))?;
    let batch = async |tokens: &[Token]| dest.import(tokens);
    // Equal expiry times: the greater id wins (rows 9 and 11, ids 9 and 99).
    runtime().block_on(migrated(&source, &dest, batch, &[2, 5]))?;
    if std::fs::read(&path).ok() != Some(before) {
        return Err("the audit or the migration changed the file".into());
    }
    Ok(())
}

/// The same on a table the SDK's own DBStore filled (it refuses inserts after its tenth
/// row, so it leaves fewer rows), migrated into our MySQL store by its batch writer.
fn audit_sdk_db_store_data(python: &str) -> Result<(), Failed> {
    let parts = mysql_parts().ok_or("TOKENSTORE_MYSQL_URL is not set")?;
    let url = std::env::var("TOKENSTORE_MYSQL_URL").map_err(|e| Failed::from(e.to_string()))?;
    let [host, db, user, password, port] = &parts;
    // Not `tokenstore_<pid>_…`: sdk-db-store-runs drops those tables, beside this test.
    let table = format!("damage_{}", tokenstore_stores::scratch_name());
    sdk_damage(python, &["mysql", host, port, db, user, password, &table])?;
    let source = AuditSource::parse(&url, Some(&table)).map_err(|e| Failed::from(e.to_string()))?;
    let fail = |e: &dyn std::fmt::Display| Failed::from(e.to_string());
    let server = tokenstore_stores::MysqlServer::new(&url).map_err(|e| fail(&e))?;
    let outcome = (|| {
        let expected = vec![
            (FindingKind::SharedKey, Some("refresh_token"), vec![3, 10]),
            (FindingKind::MalformedExpiry, Some("expiry_time"), vec![2]),
        ];
        let found = audited(&source)?;
        if found != (10, expected) {
            return Err(Failed::from(format!("found {found:?}")));
        }
        runtime().block_on(async {
            let dest = server
                .store(&format!("{table}_to"))
                .await
                .map_err(|e| fail(&e))?;
            let batch = async |tokens: &[Token]| dest.import(tokens).await;
            let outcome = migrated(&source, &dest, batch, &[3]).await;
            dest.drop_tables().await.map_err(|e| fail(&e))?;
            outcome
        })
    })();
    execute(&server, format!("DROP TABLE IF EXISTS {table}"))?;
    outcome
}

/// The README's findings name as many clauses as the run fails, and each of them.
fn readme_records(store: &str, expected: &[&str]) -> Result<(), Failed> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .map_err(|e| Failed::from(e.to_string()))?;
    let heading = format!("**{store}** fails {} clauses", expected.len());
    let Some(at) = readme.find(&heading) else {
        return Err(format!("README.md does not say {heading:?}").into());
    };
    let section = &readme[at..];
    let section = &section[..section[2..].find("\n**").map_or(section.len(), |e| e + 2)];
    match expected
        .iter()
        .find(|c| !section.contains(&format!("`{c}`")))
    {
        Some(c) => Err(format!("README.md's {store} findings do not name `{c}`").into()),
        None => Ok(()),
    }
}

fn same_clauses(what: &str, report: &RunReport, expected: &[&str]) -> Result<(), Failed> {
    let got = report.failing();
    let want: BTreeSet<&str> = expected.iter().copied().collect();
    if got != want {
        return Err(format!("{what}: failed {got:?}, expected {want:?}").into());
    }
    Ok(())
}

/// The parts of TOKENSTORE_MYSQL_URL the SDK's DBStore takes as arguments.
fn mysql_parts() -> Option<[String; 5]> {
    let url = std::env::var("TOKENSTORE_MYSQL_URL").ok()?;
    let rest = url.strip_prefix("mysql://")?;
    let (auth, rest) = rest.split_once('@')?;
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let (host_port, db) = rest.split_once('/')?;
    let (host, port) = host_port.split_once(':').unwrap_or((host_port, "3306"));
    let db = db.split('?').next()?;
    Some([host, db, user, password, port].map(str::to_owned))
}

fn db_store_command(python: &str, parts: &[String; 5], table: &str) -> Vec<String> {
    let [host, db, user, password, port] = parts;
    shim(
        python,
        &[
            "--durable",
            "--sdk-limits",
            "zohocrmsdk.src.com.zoho.api.authenticator.store.db_store:DBStore",
            host,
            db,
            user,
            password,
            port,
            table,
        ],
    )
}

/// Runs one SQL statement on the server.
fn execute(server: &tokenstore_stores::MysqlServer, statement: String) -> Result<(), Failed> {
    use mysql_async::prelude::Queryable;
    runtime().block_on(async {
        let mut conn = server
            .conn()
            .await
            .map_err(|e| Failed::from(e.to_string()))?;
        conn.query_drop(statement)
            .await
            .map_err(|e| Failed::from(e.to_string()))
    })
}

/// What the README says the SDK's DBStore fails (its findings).
const SDK_DB_STORE_FAILS: &[&str] = &[
    "by-id.miss",
    "concurrency.distinct",
    "concurrency.multi-instance",
    "concurrency.read-during-write",
    "concurrency.same-user",
    "delete.empty",
    "durability.crash",
    "durability.reopen",
    "find.by-grant",
    "find.by-refresh",
    "find.exact",
    "find.no-key",
    "id.no-reuse",
    "id.unique",
    "model.sequences",
    "save.keep-absent",
    "save.key-unique",
    "save.update-by-id",
    "save.update-by-key",
    "security.injection",
    "value.empty",
    "value.roundtrip",
];

/// The SDK's own DBStore, each check on a new table of the SDK README's shape
/// (`{table}`): it fails exactly the clauses the README records.
fn sdk_db_store(python: &str) -> Result<(), Failed> {
    let parts = mysql_parts().ok_or("TOKENSTORE_MYSQL_URL is not set")?;
    let url = std::env::var("TOKENSTORE_MYSQL_URL").map_err(|e| Failed::from(e.to_string()))?;
    let server =
        tokenstore_stores::MysqlServer::new(&url).map_err(|e| Failed::from(e.to_string()))?;
    let [host, db, user, password, port] = &parts;
    let report = check(shim(
        python,
        &[
            "--durable",
            "--sdk-limits",
            "sdk_fresh_table:DBStoreOnNewTable",
            host,
            db,
            user,
            password,
            port,
            "{table}",
        ],
    ));
    drop_tables_of_this_process(&server)?;
    same_clauses("the SDK's DBStore", &report?, SDK_DB_STORE_FAILS)?;
    readme_records("DBStore", SDK_DB_STORE_FAILS)
}

/// Drops the tables the adapter checks made (`tokenstore_<pid>_<n>`).
fn drop_tables_of_this_process(server: &tokenstore_stores::MysqlServer) -> Result<(), Failed> {
    use mysql_async::prelude::Queryable;
    let pattern = format!("tokenstore\\_{}\\_%", std::process::id());
    let tables: Vec<String> = runtime().block_on(async {
        let mut conn = server.conn().await.map_err(|e| Failed::from(e.to_string()))?;
        conn.exec(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE ?",
            (pattern,),
        )
        .await
        .map_err(|e| Failed::from(e.to_string()))
    })?;
    for table in tables {
        execute(server, format!("DROP TABLE `{table}`"))?;
    }
    Ok(())
}

/// Our MySQL store and the SDK's DBStore share a table: each reads what the other wrote.
fn mysql_interop(python: &str) -> Result<(), Failed> {
    let parts = mysql_parts().ok_or("TOKENSTORE_MYSQL_URL is not set")?;
    let url = std::env::var("TOKENSTORE_MYSQL_URL").map_err(|e| Failed::from(e.to_string()))?;
    let fail = |e: &dyn std::fmt::Display| Failed::from(e.to_string());
    runtime().block_on(async {
        let server = tokenstore_stores::MysqlServer::new(&url).map_err(|e| fail(&e))?;
        let ours = server
            // Not `tokenstore_<pid>_…`: sdk-db-store-runs drops those tables meanwhile.
            .store(&format!("interop_{}", tokenstore_stores::scratch_name()))
            .await
            .map_err(|e| fail(&e))?;
        let outcome = async {
            let alice = Token::new()
                .with(Field::UserName, "alice@example.com")
                .with(Field::ClientId, "1000.CLIENT")
                .with(Field::ClientSecret, "cs-1")
                .with(Field::RefreshToken, "1000.rt-alice")
                .with(Field::ExpiryTime, "1700000000000");
            let id = ours.save_token(&alice).await.map_err(|e| fail(&e))?;
            let theirs = AdapterStore::spawn(&db_store_command(python, &parts, ours.table()))
                .await
                .map_err(|e| fail(&e))?;
            let seen = theirs
                .find_token(&Token::new().with(Field::UserName, "alice@example.com"))
                .await
                .map_err(|e| fail(&e))?;
            if seen != Some(alice.clone().with(Field::Id, &id)) {
                return Err(Failed::from(format!("the SDK's DBStore read {seen:?}")));
            }
            let bob = Token::new()
                .with(Field::UserName, "bob@example.com")
                .with(Field::RefreshToken, "1000.rt-bob");
            let bob_id = theirs.save_token(&bob).await.map_err(|e| fail(&e))?;
            let back = ours.find_token_by_id(&bob_id).await.map_err(|e| fail(&e))?;
            if back != Some(bob.with(Field::Id, &bob_id)) {
                return Err(Failed::from(format!("our MySQL store read {back:?}")));
            }
            Ok(())
        }
        .await;
        ours.drop_tables().await.map_err(|e| fail(&e))?;
        outcome
    })
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let python = std::env::var(PYTHON_VAR).unwrap_or_default();
    let required = tokenstore_stores::mysql_server::required("python");
    let mut trials = Vec::new();
    for mode in ["crash", "hang", "garbage", "wrong-id", "no-handshake"] {
        trials.push(Trial::test(
            format!("adapter::protocol::{mode}"),
            move || misbehaving(mode),
        ));
    }
    type Check = fn(&str) -> Result<(), Failed>;
    let with_sdk: [(&str, Check); 17] = [
        (
            "adapter::python::crash-writers-forked-by-the-crash-server",
            |p| crash_survived(p, "tokenstore_adapter.reference:SqliteStore", true),
        ),
        ("adapter::python::crash-writers-started-one-by-one", |p| {
            crash_survived(p, "tests_store:SpawnedWritersStore", false)
        }),
        ("adapter::python::conforming-store-passes", |p| {
            expect_failures(p, "ConformingStore", &[])
        }),
        ("adapter::python::case-insensitive-store-fails", |p| {
            expect_failures(
                p,
                "CaseInsensitiveStore",
                &["find.exact", "model.sequences", "security.injection"],
            )
        }),
        ("adapter::python::first-row-store-fails", |p| {
            expect_failures(
                p,
                "FirstRowStore",
                &[
                    "find.no-key",
                    "flow.revoke",
                    "model.sequences",
                    "security.injection",
                    "value.empty",
                ],
            )
        }),
        ("adapter::python::by-id-raises-store-fails", |p| {
            expect_failures(
                p,
                "ByIdRaisesStore",
                // The checks that find a deleted id are blocked by by-id.miss.
                &["by-id.miss", "model.sequences"],
            )
        }),
        ("adapter::python::unlocked-store-fails-concurrency", |p| {
            expect_failures(p, "UnlockedStore", &["concurrency.same-user"])
        }),
        ("adapter::python::max-id-store-fails-concurrency", |p| {
            expect_failures(
                p,
                "MaxIdStore",
                &[
                    "concurrency.distinct",
                    "concurrency.same-user",
                    "id.no-reuse",
                    "id.unique",
                    "value.limit",
                ],
            )
        }),
        (
            "adapter::python::not-thread-safe-store-fails-concurrency",
            |p| {
                expect_failures(
                    p,
                    "NotThreadSafeStore",
                    &[
                        "concurrency.distinct",
                        "concurrency.read-during-write",
                        "concurrency.same-user",
                    ],
                )
            },
        ),
        (
            "adapter::python::a-store-that-keeps-empty-values-fails-value-empty",
            |p| expect_failures(p, "KeepsEmptyStore", &["value.empty"]),
        ),
        (
            "adapter::python::a-broken-delete-tokens-fails-only-all-delete",
            |p| {
                expect_failures(
                    p,
                    "DeleteAllRaisesStore",
                    &["all.delete", "id.no-reuse", "model.sequences"],
                )
            },
        ),
        (
            "adapter::python::file-interop-with-the-sdk-file-store",
            file_interop,
        ),
        ("adapter::python::sdk-file-store-runs", sdk_file_store),
        (
            "adapter::python::audit-and-migrate-what-the-sdk-file-store-left",
            audit_sdk_file_store_data,
        ),
        (
            "adapter::python::audit-and-migrate-what-the-sdk-db-store-left",
            audit_sdk_db_store_data,
        ),
        ("adapter::python::sdk-db-store-runs", sdk_db_store),
        (
            "adapter::python::mysql-interop-with-the-sdk-db-store",
            mysql_interop,
        ),
    ];
    for (name, check) in with_sdk {
        if python.is_empty() {
            let why = format!("{PYTHON_VAR} names no Python with the Zoho SDK (zohocrmsdk8-0)");
            if required {
                trials.push(Trial::test(name, move || {
                    Err(Failed::from(format!("required, but {why}")))
                }));
            } else {
                eprintln!("note: {name} is skipped: {why}");
                trials.push(
                    Trial::ignorable_test(name, move || Ok(Completion::ignored_with(why)))
                        .with_ignored_flag(true),
                );
            }
        } else {
            let python = python.clone();
            trials.push(Trial::test(name, move || check(&python)));
        }
    }
    run(&args, trials).exit_code()
}
